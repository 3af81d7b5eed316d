//! The BGP-4 wire codec, sans-IO: bytes in, typed messages out, and back.
//!
//! - [`frame_length`] splits a TCP stream into messages; [`Received::decode`] reads one
//!   message as a speaker must (UPDATEs with the revised error handling of RFC 7606);
//!   [`Message::encode`] writes one.
//! - Every refusal is a [`DecodeError`] whose [`DecodeError::notification`] is the
//!   NOTIFICATION the RFCs require, data included.
//! - [`pack_updates`] packs many prefixes into as few UPDATEs as the message size allows.
//!
//! Encoding never fails; decoding never panics and refuses trailing bytes. What differs
//! between sessions (AS number width, maximum message size, internal or external peer) is in
//! a [`CodecContext`], built from both OPENs with [`CodecContext::negotiate`].
//!
//! RFCs: 4271 (BGP-4), 2918 and 7313 (route refresh), 4456 (route reflection attributes), 4486
//! and 9384 (Cease subcodes), 4724 (graceful restart), 4760 (multiprotocol), 1997, 4360 and
//! 8092 (communities), 5492 (capabilities), 6286 (BGP identifier), 6793 (4-octet AS), 7606
//! (revised UPDATE error handling), 7607 (AS 0), 8203 and 9003 (shutdown communication), 8654
//! (extended messages), 8950 (IPv4 routes with an IPv6 next hop), 9072 (extended optional
//! parameters length).

pub mod as_path;
pub mod attribute;
pub mod capability;
pub mod community;
pub mod error;
pub mod family;
pub mod header;
pub mod multiprotocol;
pub mod notification;
pub mod open;
pub mod pack;
pub mod prefix;
pub mod route_refresh;
pub mod update;
mod wire;

pub use as_path::{Aggregator, AsPath, AsPathSegment, SegmentType};
pub use attribute::{AttributeFlags, Origin, PathAttribute, UnknownAttribute};
pub use capability::{Capability, ExtendedNextHop, GracefulRestart, GracefulRestartFamily};
pub use community::{Community, ExtendedCommunity, LargeCommunity};
pub use error::{DecodeError, ErrorAction, UpdateError};
pub use family::{AddressFamily, Family, SubsequentAddressFamily};
pub use header::{HEADER_LENGTH, Header, MessageType, frame_length};
pub use multiprotocol::{Ipv6NextHop, MpReachNlri, MpUnreachNlri, NextHop};
pub use notification::{
    CeaseSubcode, ErrorCode, FiniteStateMachineSubcode, MessageHeaderSubcode, Notification,
    OpenMessageSubcode, RouteRefreshMessageSubcode, UpdateMessageSubcode,
};
pub use open::{Open, OptionalParameter};
pub use pack::{
    pack_announcements, pack_announcements_each, pack_ipv4_announcements_over_ipv6,
    pack_ipv4_announcements_over_ipv6_each, pack_ipv4_withdrawals_multiprotocol, pack_updates,
    pack_withdrawals, pack_withdrawals_each,
};
pub use route_refresh::{RouteRefresh, RouteRefreshSubtype};
pub use update::{Update, UpdateOutcome};

/// The BGP version spoken.
pub const BGP_VERSION: u8 = 4;

/// Longest message without the extended message capability (RFC 4271 §4.1).
pub const MAXIMUM_MESSAGE_LENGTH: usize = 4096;

/// Longest message once both sides advertised the extended message capability (RFC 8654).
pub const EXTENDED_MAXIMUM_MESSAGE_LENGTH: usize = 65535;

/// AS_TRANS (RFC 6793 §9): stands in two-octet fields for an AS number that needs four.
pub const AS_TRANS: u16 = 23456;

/// `as_number` for a two-octet field: itself if it fits, else [`AS_TRANS`].
pub fn two_octet_as(as_number: u32) -> u16 {
    u16::try_from(as_number).unwrap_or(AS_TRANS)
}

/// Whether the peer is in our AS (RFC 7606 treats a few attributes differently).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PeerType {
    Internal,
    #[default]
    External,
}

/// What the codec needs to know about a session.
///
/// The default is the state before the OPENs are exchanged: two-octet AS numbers, messages up
/// to 4096 octets, an external peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CodecContext {
    /// Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR
    /// carry four-octet AS numbers, and AS4_PATH / AS4_AGGREGATOR are not expected.
    pub four_octet_as: bool,
    /// Both sides advertised the extended message capability (RFC 8654): UPDATE, NOTIFICATION
    /// and ROUTE-REFRESH may be up to 65535 octets.
    pub extended_messages: bool,
    pub peer_type: PeerType,
}

impl CodecContext {
    /// The context once `local` and `remote` OPENs are exchanged: each capability counts when
    /// both sides advertised it.
    pub fn negotiate(local: &Open, remote: &Open, peer_type: PeerType) -> Self {
        let both = |code| local.has_capability(code) && remote.has_capability(code);
        CodecContext {
            four_octet_as: both(capability::code::FOUR_OCTET_AS),
            extended_messages: both(capability::code::EXTENDED_MESSAGE),
            peer_type,
        }
    }

    /// The longest UPDATE, NOTIFICATION or ROUTE-REFRESH accepted and sent.
    pub fn maximum_message_length(&self) -> usize {
        if self.extended_messages {
            EXTENDED_MAXIMUM_MESSAGE_LENGTH
        } else {
            MAXIMUM_MESSAGE_LENGTH
        }
    }
}

/// A message to send, or one read with RFC 4271's strict handling ([`Message::decode`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    Open(Open),
    Update(Update),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

/// A message as a speaker reads it ([`Received::decode`]): UPDATEs come with the verdict of
/// RFC 7606.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Open(Open),
    Update(UpdateOutcome),
    Notification(Notification),
    Keepalive,
    RouteRefresh(RouteRefresh),
}

impl Message {
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Appends the whole message, header included, to `buf`. The caller keeps messages within
    /// `context`'s maximum size ([`pack_updates`] does for UPDATEs); a longer one is written
    /// with a saturated Length field, and the peer will refuse it.
    pub fn encode_into(&self, buf: &mut Vec<u8>, context: &CodecContext) {
        let start = buf.len();
        Header {
            length: 0,
            message_type: self.message_type(),
        }
        .encode(buf);
        match self {
            Message::Open(open) => open.encode(buf),
            Message::Update(update) => update.encode(buf, context),
            Message::Notification(notification) => notification.encode(buf),
            Message::Keepalive => {}
            Message::RouteRefresh(route_refresh) => route_refresh.encode(buf),
        }
        let length = wire::length_u16(buf.len().saturating_sub(start));
        if let Some(field) = buf.get_mut(start + 16..start + 18) {
            field.copy_from_slice(&length.to_be_bytes());
        }
    }

    /// The whole message, header included.
    pub fn encode(&self, context: &CodecContext) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode_into(&mut buf, context);
        buf
    }

    /// Reads one complete message (`bytes` is exactly one message, header included) with
    /// RFC 4271's strict handling: any UPDATE error, even one RFC 7606 would only log, is a
    /// [`DecodeError::Update`]. Meant for tests and tools; a speaker reads with
    /// [`Received::decode`].
    pub fn decode(bytes: &[u8], context: &CodecContext) -> Result<Message, DecodeError> {
        Ok(match Received::decode(bytes, context)? {
            Received::Open(open) => Message::Open(open),
            Received::Update(outcome) => {
                Message::Update(outcome.into_strict().map_err(DecodeError::Update)?)
            }
            Received::Notification(notification) => Message::Notification(notification),
            Received::Keepalive => Message::Keepalive,
            Received::RouteRefresh(route_refresh) => Message::RouteRefresh(route_refresh),
        })
    }
}

impl Received {
    /// Reads one complete message (`bytes` is exactly one message, header included, as
    /// [`frame_length`] delimits it). An `Err` ends the session: send its
    /// [`DecodeError::notification`] (unless the message was itself a NOTIFICATION, RFC 4271
    /// §6.4) and close.
    pub fn decode(bytes: &[u8], context: &CodecContext) -> Result<Received, DecodeError> {
        let header = Header::decode(bytes, context)?;
        if usize::from(header.length) != bytes.len() {
            return Err(DecodeError::BadMessageLength {
                length: header.length,
            });
        }
        let body = bytes.get(HEADER_LENGTH..).unwrap_or_default();
        Ok(match header.message_type {
            MessageType::Open => Received::Open(Open::decode(body)?),
            MessageType::Update => Received::Update(Update::decode(body, context)?),
            MessageType::Notification => Received::Notification(Notification::decode(body)?),
            MessageType::Keepalive => Received::Keepalive,
            MessageType::RouteRefresh => {
                Received::RouteRefresh(RouteRefresh::decode(body).map_err(|_| {
                    DecodeError::InvalidRouteRefreshLength {
                        message: bytes.to_vec(),
                    }
                })?)
            }
        })
    }
}
