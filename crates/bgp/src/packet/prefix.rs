//! IPv4 and IPv6 prefixes as BGP encodes them in the Withdrawn Routes and NLRI fields of an
//! UPDATE and in MP_REACH_NLRI / MP_UNREACH_NLRI (RFC 4271 §4.3, RFC 4760 §5):
//!
//! ```text
//! +---------------------------+
//! |   Length (1 octet)        |
//! +---------------------------+
//! |   Prefix (variable)       |
//! +---------------------------+
//! ```
//!
//! Length is the prefix length in bits; Prefix holds just enough octets for those bits
//! (`ceil(length / 8)`), padded with trailing bits that "are irrelevant". Decoding therefore
//! clears the bits past the prefix length (so `10.1.2.3/24` on the wire reads as `10.1.2.0/24`);
//! encoding writes the network address, so the padding is always zero.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::wire::Reader;

/// Octets one IPv4 or IPv6 prefix of `prefix_length` bits takes on the wire.
pub fn encoded_length(prefix_length: u8) -> usize {
    1 + usize::from(prefix_length).div_ceil(8)
}

/// Writes one IPv4 prefix.
pub fn encode_ipv4(buf: &mut Vec<u8>, prefix: &Ipv4Net) {
    encode_bits(buf, prefix.prefix_len(), &prefix.network().octets());
}

/// Writes one IPv6 prefix.
pub fn encode_ipv6(buf: &mut Vec<u8>, prefix: &Ipv6Net) {
    encode_bits(buf, prefix.prefix_len(), &prefix.network().octets());
}

fn encode_bits(buf: &mut Vec<u8>, prefix_length: u8, octets: &[u8]) {
    let count = usize::from(prefix_length).div_ceil(8);
    buf.push(prefix_length);
    buf.extend_from_slice(octets.get(..count).unwrap_or(octets));
}

/// Writes a list of IPv4 prefixes.
pub fn encode_ipv4_list(buf: &mut Vec<u8>, prefixes: &[Ipv4Net]) {
    for prefix in prefixes {
        encode_ipv4(buf, prefix);
    }
}

/// Writes a list of IPv6 prefixes.
pub fn encode_ipv6_list(buf: &mut Vec<u8>, prefixes: &[Ipv6Net]) {
    for prefix in prefixes {
        encode_ipv6(buf, prefix);
    }
}

/// Reads one prefix of at most `N * 8` bits: its address octets (zero-padded) and length.
fn decode_bits<const N: usize>(reader: &mut Reader<'_>) -> Option<([u8; N], u8)> {
    let prefix_length = reader.u8()?;
    if usize::from(prefix_length) > N * 8 {
        return None;
    }
    let count = usize::from(prefix_length).div_ceil(8);
    let bytes = reader.take(count)?;
    let mut octets = [0u8; N];
    octets.get_mut(..count)?.copy_from_slice(bytes);
    Some((octets, prefix_length))
}

/// Reads a whole field of IPv4 prefixes; `None` if a length exceeds 32 or the field ends
/// inside a prefix.
pub fn decode_ipv4_list(bytes: &[u8]) -> Option<Vec<Ipv4Net>> {
    let mut reader = Reader::new(bytes);
    let mut prefixes = Vec::new();
    while !reader.is_empty() {
        let (octets, prefix_length) = decode_bits::<4>(&mut reader)?;
        let prefix = Ipv4Net::new(Ipv4Addr::from(octets), prefix_length).ok()?;
        prefixes.push(prefix.trunc());
    }
    Some(prefixes)
}

/// Reads a whole field of IPv6 prefixes; `None` if a length exceeds 128 or the field ends
/// inside a prefix.
pub fn decode_ipv6_list(bytes: &[u8]) -> Option<Vec<Ipv6Net>> {
    let mut reader = Reader::new(bytes);
    let mut prefixes = Vec::new();
    while !reader.is_empty() {
        let (octets, prefix_length) = decode_bits::<16>(&mut reader)?;
        let prefix = Ipv6Net::new(Ipv6Addr::from(octets), prefix_length).ok()?;
        prefixes.push(prefix.trunc());
    }
    Some(prefixes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> Ipv4Net {
        text.parse().unwrap()
    }

    #[test]
    fn ipv4_prefixes_use_just_enough_octets() {
        let mut buf = Vec::new();
        encode_ipv4_list(
            &mut buf,
            &[
                v4("0.0.0.0/0"),
                v4("10.0.0.0/8"),
                v4("203.0.113.5/32"),
                v4("192.168.128.0/17"),
            ],
        );
        assert_eq!(buf, [0, 8, 10, 32, 203, 0, 113, 5, 17, 192, 168, 128]);
        assert_eq!(
            decode_ipv4_list(&buf).unwrap(),
            [
                v4("0.0.0.0/0"),
                v4("10.0.0.0/8"),
                v4("203.0.113.5/32"),
                v4("192.168.128.0/17")
            ]
        );
    }

    #[test]
    fn trailing_bits_are_cleared_on_decode_and_never_sent() {
        assert_eq!(
            decode_ipv4_list(&[20, 10, 1, 0xff]).unwrap(),
            [v4("10.1.240.0/20")]
        );
        let mut buf = Vec::new();
        encode_ipv4(&mut buf, &v4("10.1.255.255/20"));
        assert_eq!(buf, [20, 10, 1, 0xf0]);
    }

    #[test]
    fn too_long_or_cut_prefixes_are_refused() {
        assert_eq!(decode_ipv4_list(&[33, 1, 2, 3, 4, 5]), None);
        assert_eq!(decode_ipv4_list(&[24, 10, 0]), None);
        assert_eq!(decode_ipv6_list(&[129; 18]), None);
        assert_eq!(decode_ipv6_list(&[64, 0x20, 0x01]), None);
    }

    #[test]
    fn ipv6_prefixes_round_trip() {
        let prefixes: Vec<Ipv6Net> = vec![
            "2001:db8::/32".parse().unwrap(),
            "2001:db8::5/128".parse().unwrap(),
        ];
        let mut buf = Vec::new();
        encode_ipv6_list(&mut buf, &prefixes);
        assert_eq!(buf.len(), 5 + 17);
        assert_eq!(decode_ipv6_list(&buf).unwrap(), prefixes);
        assert_eq!(encoded_length(128), 17);
        assert_eq!(encoded_length(0), 1);
    }
}
