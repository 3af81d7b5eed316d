//! Message header (RFC 4271 §4.1) and framing of a TCP byte stream into messages.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +                                                               +
//! |                           Marker                              |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Length               |      Type     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Marker: 16 octets of ones. Length: the whole message, header included, 19 to 4096 octets,
//! or to 65535 once both sides advertised the extended message capability (RFC 8654), which
//! never applies to OPEN and KEEPALIVE.

use std::fmt;

use super::wire::{Reader, length_u16};
use super::{CodecContext, DecodeError, MAXIMUM_MESSAGE_LENGTH};

/// Octets in the header.
pub const HEADER_LENGTH: usize = 19;

/// The marker: 16 octets of ones.
pub const MARKER: [u8; 16] = [0xff; 16];

/// Message type (IANA "BGP Message Types"). Unknown types are a header error (1/3), so this
/// registry is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    Open,
    Update,
    Notification,
    Keepalive,
    /// RFC 2918.
    RouteRefresh,
}

impl MessageType {
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(MessageType::Open),
            2 => Some(MessageType::Update),
            3 => Some(MessageType::Notification),
            4 => Some(MessageType::Keepalive),
            5 => Some(MessageType::RouteRefresh),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            MessageType::Open => 1,
            MessageType::Update => 2,
            MessageType::Notification => 3,
            MessageType::Keepalive => 4,
            MessageType::RouteRefresh => 5,
        }
    }

    /// Shortest valid message of this type, header included (RFC 4271 §4).
    pub fn minimum_length(self) -> usize {
        match self {
            MessageType::Open => 29,
            MessageType::Update => 23,
            MessageType::Notification => 21,
            MessageType::Keepalive => HEADER_LENGTH,
            // A wrong ROUTE-REFRESH length is its own error (7/1), checked with the body.
            MessageType::RouteRefresh => HEADER_LENGTH,
        }
    }

    /// Longest valid message of this type, header included.
    pub fn maximum_length(self, context: &CodecContext) -> usize {
        match self {
            // RFC 8654 §3: the extended length never applies to OPEN and KEEPALIVE.
            MessageType::Open => MAXIMUM_MESSAGE_LENGTH,
            MessageType::Keepalive => HEADER_LENGTH,
            _ => context.maximum_message_length(),
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageType::Open => "OPEN",
            MessageType::Update => "UPDATE",
            MessageType::Notification => "NOTIFICATION",
            MessageType::Keepalive => "KEEPALIVE",
            MessageType::RouteRefresh => "ROUTE-REFRESH",
        })
    }
}

/// A checked message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Length of the whole message, header included.
    pub length: u16,
    pub message_type: MessageType,
}

impl Header {
    /// Reads and checks the first 19 octets of `bytes`, in the order of RFC 4271 §6.1:
    /// marker (1/1), length within 19..=maximum (1/2), type (1/3), length for the type (1/2).
    pub fn decode(bytes: &[u8], context: &CodecContext) -> Result<Header, DecodeError> {
        let mut reader = Reader::new(bytes);
        let (Some(marker), Some(length), Some(type_code)) =
            (reader.array::<16>(), reader.u16(), reader.u8())
        else {
            return Err(DecodeError::BadMessageLength {
                length: length_u16(bytes.len()),
            });
        };
        if marker != MARKER {
            return Err(DecodeError::ConnectionNotSynchronized);
        }
        let total = usize::from(length);
        if !(HEADER_LENGTH..=context.maximum_message_length()).contains(&total) {
            return Err(DecodeError::BadMessageLength { length });
        }
        let message_type =
            MessageType::from_code(type_code).ok_or(DecodeError::BadMessageType {
                message_type: type_code,
            })?;
        if !(message_type.minimum_length()..=message_type.maximum_length(context)).contains(&total)
        {
            return Err(DecodeError::BadMessageLength { length });
        }
        Ok(Header {
            length,
            message_type,
        })
    }

    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&MARKER);
        buf.extend_from_slice(&self.length.to_be_bytes());
        buf.push(self.message_type.code());
    }
}

/// Splits a TCP stream into messages: the length of the first message in `buf`, once its
/// header has arrived.
///
/// `None`: fewer than 19 octets so far, read more. `Some(Ok(length))`: the first message is
/// `length` octets (maybe not all there yet). `Some(Err(_))`: the header is wrong; send the
/// error's NOTIFICATION and close, there is no resynchronising a byte stream.
pub fn frame_length(buf: &[u8], context: &CodecContext) -> Option<Result<usize, DecodeError>> {
    let header = buf.get(..HEADER_LENGTH)?;
    Some(Header::decode(header, context).map(|header| usize::from(header.length)))
}

/// The Length field for a body of `body_length` octets (saturating).
pub(crate) fn length_with_header(body_length: usize) -> u16 {
    length_u16(body_length.saturating_add(HEADER_LENGTH))
}
