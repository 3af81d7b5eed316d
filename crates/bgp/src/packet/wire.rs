//! A bounds-checked reader over untrusted bytes and the few writing helpers the encoders share.
//!
//! Every read returns `None` instead of panicking when the input is too short, so decoders turn
//! a short read into the NOTIFICATION the RFC asks for with `ok_or`.

/// A cursor over a byte slice that never reads past its end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    /// The bytes not read yet.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }

    /// The next `count` bytes.
    pub(crate) fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(count)?;
        self.bytes = rest;
        Some(head)
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }
}

/// A length for a one-octet length field; longer values saturate (encoders document that
/// callers keep values within what the field can say).
pub(crate) fn length_u8(length: usize) -> u8 {
    u8::try_from(length).unwrap_or(u8::MAX)
}

/// A length for a two-octet length field, saturating like [`length_u8`].
pub(crate) fn length_u16(length: usize) -> u16 {
    u16::try_from(length).unwrap_or(u16::MAX)
}

/// Writes a two-octet length placeholder and returns its position for [`finish_length_u16`].
pub(crate) fn start_length_u16(buf: &mut Vec<u8>) -> usize {
    let position = buf.len();
    buf.extend_from_slice(&[0, 0]);
    position
}

/// Fills the placeholder written by [`start_length_u16`] with the number of bytes after it.
pub(crate) fn finish_length_u16(buf: &mut [u8], position: usize) {
    let length = buf.len().saturating_sub(position + 2);
    if let Some(field) = buf.get_mut(position..position + 2) {
        field.copy_from_slice(&length_u16(length).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_are_none_and_consume_nothing() {
        let mut reader = Reader::new(&[1, 2, 3]);
        assert_eq!(reader.u32(), None);
        assert_eq!(reader.u16(), Some(0x0102));
        assert_eq!(reader.take(2), None);
        assert_eq!(reader.u8(), Some(3));
        assert_eq!(reader.u8(), None);
        assert!(reader.is_empty());
    }

    #[test]
    fn length_placeholder_is_filled() {
        let mut buf = vec![9];
        let position = start_length_u16(&mut buf);
        buf.extend_from_slice(&[1, 2, 3]);
        finish_length_u16(&mut buf, position);
        assert_eq!(buf, [9, 0, 3, 1, 2, 3]);
    }
}
