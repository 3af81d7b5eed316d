//! Decoding errors and the NOTIFICATION each one requires.
//!
//! [`DecodeError`] is an error that ends the session: [`DecodeError::notification`] is the
//! NOTIFICATION to send before closing (RFC 4271 §6, with the data each subcode asks for).
//!
//! UPDATE errors follow RFC 7606: most are not fatal. Each [`UpdateError`] carries the
//! [`ErrorAction`] RFC 7606 chose for it, and the RFC 4271 subcode and data a session reset
//! would have sent, so it can be logged in the terms operators know.

use std::fmt;
use std::net::Ipv4Addr;

use super::capability::Capability;
use super::notification::{
    MessageHeaderSubcode, Notification, OpenMessageSubcode, RouteRefreshMessageSubcode,
    UpdateMessageSubcode,
};
use super::{BGP_VERSION, ErrorCode};

/// A message that cannot be accepted: the session must be reset with
/// [`DecodeError::notification`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The marker is not 16 octets of ones (1/1).
    #[error("message header error: the marker is not all ones (connection not synchronized)")]
    ConnectionNotSynchronized,
    /// The Length field is out of range for the message type, or does not match the bytes
    /// given to the decoder (1/2, data: the Length field).
    #[error("message header error: bad message length {length}")]
    BadMessageLength { length: u16 },
    /// Unknown message type (1/3, data: the Type field).
    #[error("message header error: bad message type {message_type}")]
    BadMessageType { message_type: u8 },
    /// OPEN version other than 4 (2/1, data: 2 octets, the version we support).
    #[error("OPEN message error: unsupported version number {version}")]
    UnsupportedVersionNumber { version: u8 },
    /// Unacceptable AS (2/2): AS 0 in My Autonomous System or in the 4-octet AS capability
    /// (RFC 7607), or, raised by the caller, not the AS configured for the peer.
    #[error("OPEN message error: bad peer AS {as_number}")]
    BadPeerAs { as_number: u32 },
    /// BGP Identifier 0.0.0.0 (2/3, RFC 6286), or an identifier the caller refuses.
    #[error("OPEN message error: bad BGP identifier {identifier}")]
    BadBgpIdentifier { identifier: Ipv4Addr },
    /// An optional parameter other than Capabilities (2/4).
    #[error("OPEN message error: unsupported optional parameter type {parameter_type}")]
    UnsupportedOptionalParameter { parameter_type: u8 },
    /// Hold time 1 or 2 seconds (2/6, RFC 4271 §6.2), or one the caller refuses.
    #[error("OPEN message error: unacceptable hold time {hold_time}")]
    UnacceptableHoldTime { hold_time: u16 },
    /// Capabilities the caller requires but the peer lacks, or cannot accept (2/7, RFC 5492
    /// §5, data: the capabilities). The decoder never raises it; the session layer does.
    #[error("OPEN message error: unsupported capability")]
    UnsupportedCapability { capabilities: Vec<Capability> },
    /// An OPEN whose parameters or capabilities are malformed (2/0, RFC 4271 §6.2: "recognized,
    /// but is malformed").
    #[error("OPEN message error: {reason}")]
    MalformedOpen { reason: &'static str },
    /// An UPDATE error whose RFC 7606 action is session reset.
    #[error("UPDATE message error: {0}")]
    Update(UpdateError),
    /// ROUTE-REFRESH whose length is not 23 (7/1, RFC 7313 §5, data: the whole message).
    #[error("ROUTE-REFRESH message error: invalid message length {}", message.len())]
    InvalidRouteRefreshLength { message: Vec<u8> },
}

impl DecodeError {
    /// The NOTIFICATION to send for this error, with the data the RFC asks for.
    pub fn notification(&self) -> Notification {
        match self {
            DecodeError::ConnectionNotSynchronized => Notification::message_header(
                MessageHeaderSubcode::ConnectionNotSynchronized,
                Vec::new(),
            ),
            DecodeError::BadMessageLength { length } => Notification::message_header(
                MessageHeaderSubcode::BadMessageLength,
                length.to_be_bytes().to_vec(),
            ),
            DecodeError::BadMessageType { message_type } => Notification::message_header(
                MessageHeaderSubcode::BadMessageType,
                vec![*message_type],
            ),
            // RFC 4271 §6.2: the largest supported version below the one bid, or else the
            // smallest supported version; either way 4.
            DecodeError::UnsupportedVersionNumber { .. } => Notification::open_message(
                OpenMessageSubcode::UnsupportedVersionNumber,
                u16::from(BGP_VERSION).to_be_bytes().to_vec(),
            ),
            DecodeError::BadPeerAs { .. } => {
                Notification::open_message(OpenMessageSubcode::BadPeerAs, Vec::new())
            }
            DecodeError::BadBgpIdentifier { .. } => {
                Notification::open_message(OpenMessageSubcode::BadBgpIdentifier, Vec::new())
            }
            DecodeError::UnsupportedOptionalParameter { .. } => Notification::open_message(
                OpenMessageSubcode::UnsupportedOptionalParameter,
                Vec::new(),
            ),
            DecodeError::UnacceptableHoldTime { .. } => {
                Notification::open_message(OpenMessageSubcode::UnacceptableHoldTime, Vec::new())
            }
            DecodeError::UnsupportedCapability { capabilities } => {
                let mut data = Vec::new();
                for capability in capabilities {
                    capability.encode(&mut data);
                }
                Notification::open_message(OpenMessageSubcode::UnsupportedCapability, data)
            }
            DecodeError::MalformedOpen { .. } => {
                Notification::open_message(OpenMessageSubcode::Unspecific, Vec::new())
            }
            DecodeError::Update(error) => error.notification(),
            DecodeError::InvalidRouteRefreshLength { message } => Notification::new(
                ErrorCode::RouteRefreshMessage,
                RouteRefreshMessageSubcode::InvalidMessageLength.code(),
                message.clone(),
            ),
        }
    }
}

/// What RFC 7606 §2 says to do about an UPDATE error, from least to most severe (the order
/// `Ord` follows; with several errors the most severe wins, RFC 7606 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorAction {
    /// Drop the malformed attribute and process the UPDATE without it.
    AttributeDiscard,
    /// Process the UPDATE as if every prefix it announces were withdrawn.
    TreatAsWithdraw,
    /// Send the NOTIFICATION and close the session.
    SessionReset,
}

impl fmt::Display for ErrorAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorAction::AttributeDiscard => "attribute discard",
            ErrorAction::TreatAsWithdraw => "treat-as-withdraw",
            ErrorAction::SessionReset => "session reset",
        })
    }
}

/// One error found in an UPDATE.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{subcode}, {action}: {reason}")]
pub struct UpdateError {
    /// What RFC 7606 says to do.
    pub action: ErrorAction,
    /// The UPDATE Message Error subcode RFC 4271 §6.3 assigns to this error.
    pub subcode: UpdateMessageSubcode,
    /// Type code of the attribute at fault, if the error is in one attribute.
    pub attribute_type: Option<u8>,
    /// The NOTIFICATION data RFC 4271 §6.3 asks for: usually the whole attribute as received
    /// (flags, type, length and value), the missing type code for Missing Well-known
    /// Attribute, nothing for Malformed Attribute List, Invalid Network Field and Malformed
    /// AS_PATH.
    pub data: Vec<u8>,
    /// What was wrong, for logs.
    pub reason: &'static str,
}

impl UpdateError {
    /// The NOTIFICATION RFC 4271 §6.3 would send for this error (what a session reset sends).
    pub fn notification(&self) -> Notification {
        Notification::update_message(self.subcode, self.data.clone())
    }
}
