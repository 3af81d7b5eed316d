//! NOTIFICATION message (RFC 4271 §4.5) and the registry of error codes and subcodes (RFC 4271
//! §4.5 and §6, RFC 4486 and RFC 9384 Cease subcodes, RFC 5492, RFC 6608, RFC 7313, RFC 9234,
//! RFC 9687), with the shutdown communication of Cease 2 and 4 (RFC 8203, updated by RFC 9003).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code    | Error subcode |   Data (variable)             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Shutdown communication (RFC 9003 §2), the Data of Cease / Administrative Shutdown and
//! Cease / Administrative Reset:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Error code 6  |    Subcode    |    Length     |     ...       \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! \                                                               \
//! /                 ... Shutdown Communication (UTF-8) ...        /
//! \                                                               \
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

use super::DecodeError;
use super::wire::{Reader, length_u8};

/// Defines an open enum over one octet with names and human-readable descriptions.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$variant_meta:meta])* $variant:ident = $code:literal => $text:literal,)* }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)*
            /// A value this crate does not name; kept as received.
            Unknown(u8),
        }

        impl $name {
            pub fn from_code(code: u8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    other => $name::Unknown(other),
                }
            }

            pub fn code(self) -> u8 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Unknown(code) => code,
                }
            }

            /// The registry's description, or `None` for values it does not name.
            pub fn description(self) -> Option<&'static str> {
                match self {
                    $($name::$variant => Some($text),)*
                    $name::Unknown(_) => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.description() {
                    Some(text) => f.write_str(text),
                    None => write!(f, "{}", self.code()),
                }
            }
        }
    };
}

open_enum! {
    /// NOTIFICATION error code (IANA "BGP Error (Notification) Codes").
    ErrorCode {
        MessageHeader = 1 => "message header error",
        OpenMessage = 2 => "OPEN message error",
        UpdateMessage = 3 => "UPDATE message error",
        HoldTimerExpired = 4 => "hold timer expired",
        FiniteStateMachine = 5 => "finite state machine error",
        Cease = 6 => "cease",
        /// RFC 7313.
        RouteRefreshMessage = 7 => "ROUTE-REFRESH message error",
        /// RFC 9687.
        SendHoldTimerExpired = 8 => "send hold timer expired",
    }
}

open_enum! {
    /// Subcodes of [`ErrorCode::MessageHeader`] (RFC 4271 §6.1).
    MessageHeaderSubcode {
        Unspecific = 0 => "unspecific",
        ConnectionNotSynchronized = 1 => "connection not synchronized",
        BadMessageLength = 2 => "bad message length",
        BadMessageType = 3 => "bad message type",
    }
}

open_enum! {
    /// Subcodes of [`ErrorCode::OpenMessage`] (RFC 4271 §6.2, RFC 5492, RFC 9234).
    OpenMessageSubcode {
        Unspecific = 0 => "unspecific",
        UnsupportedVersionNumber = 1 => "unsupported version number",
        BadPeerAs = 2 => "bad peer AS",
        BadBgpIdentifier = 3 => "bad BGP identifier",
        UnsupportedOptionalParameter = 4 => "unsupported optional parameter",
        /// Deprecated (was Authentication Failure).
        AuthenticationFailure = 5 => "authentication failure (deprecated)",
        UnacceptableHoldTime = 6 => "unacceptable hold time",
        /// RFC 5492.
        UnsupportedCapability = 7 => "unsupported capability",
        /// RFC 9234.
        RoleMismatch = 11 => "role mismatch",
    }
}

open_enum! {
    /// Subcodes of [`ErrorCode::UpdateMessage`] (RFC 4271 §6.3).
    UpdateMessageSubcode {
        Unspecific = 0 => "unspecific",
        MalformedAttributeList = 1 => "malformed attribute list",
        UnrecognizedWellKnownAttribute = 2 => "unrecognized well-known attribute",
        MissingWellKnownAttribute = 3 => "missing well-known attribute",
        AttributeFlagsError = 4 => "attribute flags error",
        AttributeLengthError = 5 => "attribute length error",
        InvalidOriginAttribute = 6 => "invalid ORIGIN attribute",
        /// Deprecated (was AS Routing Loop).
        AsRoutingLoop = 7 => "AS routing loop (deprecated)",
        InvalidNextHopAttribute = 8 => "invalid NEXT_HOP attribute",
        OptionalAttributeError = 9 => "optional attribute error",
        InvalidNetworkField = 10 => "invalid network field",
        MalformedAsPath = 11 => "malformed AS_PATH",
    }
}

open_enum! {
    /// Subcodes of [`ErrorCode::FiniteStateMachine`] (RFC 6608).
    FiniteStateMachineSubcode {
        Unspecified = 0 => "unspecified",
        UnexpectedMessageInOpenSent = 1 => "unexpected message in OpenSent",
        UnexpectedMessageInOpenConfirm = 2 => "unexpected message in OpenConfirm",
        UnexpectedMessageInEstablished = 3 => "unexpected message in Established",
    }
}

open_enum! {
    /// Subcodes of [`ErrorCode::Cease`] (RFC 4486, RFC 8538, RFC 9384).
    CeaseSubcode {
        Unspecific = 0 => "unspecific",
        MaximumNumberOfPrefixesReached = 1 => "maximum number of prefixes reached",
        AdministrativeShutdown = 2 => "administrative shutdown",
        PeerDeconfigured = 3 => "peer de-configured",
        AdministrativeReset = 4 => "administrative reset",
        ConnectionRejected = 5 => "connection rejected",
        OtherConfigurationChange = 6 => "other configuration change",
        ConnectionCollisionResolution = 7 => "connection collision resolution",
        OutOfResources = 8 => "out of resources",
        /// RFC 8538.
        HardReset = 9 => "hard reset",
        /// RFC 9384.
        BfdDown = 10 => "BFD down",
    }
}

open_enum! {
    /// Subcodes of [`ErrorCode::RouteRefreshMessage`] (RFC 7313).
    RouteRefreshMessageSubcode {
        InvalidMessageLength = 1 => "invalid message length",
    }
}

/// Longest shutdown communication, in octets (RFC 9003 §2; RFC 8203 allowed 128).
pub const SHUTDOWN_COMMUNICATION_MAXIMUM_LENGTH: usize = 255;

/// A NOTIFICATION message. The subcode stays a number: its meaning depends on the code, and
/// [`Notification::subcode_description`] names it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    pub code: ErrorCode,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notification {
    pub fn new(code: ErrorCode, subcode: u8, data: Vec<u8>) -> Self {
        Notification {
            code,
            subcode,
            data,
        }
    }

    pub fn message_header(subcode: MessageHeaderSubcode, data: Vec<u8>) -> Self {
        Notification::new(ErrorCode::MessageHeader, subcode.code(), data)
    }

    pub fn open_message(subcode: OpenMessageSubcode, data: Vec<u8>) -> Self {
        Notification::new(ErrorCode::OpenMessage, subcode.code(), data)
    }

    pub fn update_message(subcode: UpdateMessageSubcode, data: Vec<u8>) -> Self {
        Notification::new(ErrorCode::UpdateMessage, subcode.code(), data)
    }

    pub fn hold_timer_expired() -> Self {
        Notification::new(ErrorCode::HoldTimerExpired, 0, Vec::new())
    }

    pub fn finite_state_machine(subcode: FiniteStateMachineSubcode) -> Self {
        Notification::new(ErrorCode::FiniteStateMachine, subcode.code(), Vec::new())
    }

    pub fn cease(subcode: CeaseSubcode) -> Self {
        Notification::new(ErrorCode::Cease, subcode.code(), Vec::new())
    }

    /// Cease with a shutdown communication (RFC 9003): meant for Administrative Shutdown and
    /// Administrative Reset. The text is cut, on a character boundary, to 255 octets.
    pub fn cease_with_communication(subcode: CeaseSubcode, communication: &str) -> Self {
        let mut end = communication
            .len()
            .min(SHUTDOWN_COMMUNICATION_MAXIMUM_LENGTH);
        while !communication.is_char_boundary(end) {
            end -= 1;
        }
        let text = communication.get(..end).unwrap_or_default();
        let mut data = Vec::with_capacity(1 + text.len());
        data.push(length_u8(text.len()));
        data.extend_from_slice(text.as_bytes());
        Notification::new(ErrorCode::Cease, subcode.code(), data)
    }

    /// The shutdown communication of a Cease / Administrative Shutdown or Administrative Reset,
    /// if the data holds a well-formed one. RFC 9003 §4: a malformed one is ignored (the
    /// NOTIFICATION itself still counts), so this returns `None` rather than an error.
    pub fn shutdown_communication(&self) -> Option<&str> {
        let subcode = CeaseSubcode::from_code(self.subcode);
        if self.code != ErrorCode::Cease
            || !matches!(
                subcode,
                CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset
            )
        {
            return None;
        }
        let mut reader = Reader::new(&self.data);
        let length = reader.u8()?;
        let text = reader.take(usize::from(length))?;
        std::str::from_utf8(text).ok()
    }

    /// The name of the subcode under this code, if the registry has one.
    pub fn subcode_description(&self) -> Option<&'static str> {
        match self.code {
            ErrorCode::MessageHeader => MessageHeaderSubcode::from_code(self.subcode).description(),
            ErrorCode::OpenMessage => OpenMessageSubcode::from_code(self.subcode).description(),
            ErrorCode::UpdateMessage => UpdateMessageSubcode::from_code(self.subcode).description(),
            ErrorCode::FiniteStateMachine => {
                FiniteStateMachineSubcode::from_code(self.subcode).description()
            }
            ErrorCode::Cease => CeaseSubcode::from_code(self.subcode).description(),
            ErrorCode::RouteRefreshMessage => {
                RouteRefreshMessageSubcode::from_code(self.subcode).description()
            }
            ErrorCode::HoldTimerExpired
            | ErrorCode::SendHoldTimerExpired
            | ErrorCode::Unknown(_) => None,
        }
    }

    /// Writes the message body (after the header).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(self.code.code());
        buf.push(self.subcode);
        buf.extend_from_slice(&self.data);
    }

    /// Reads the message body (after the header). Any data is accepted: RFC 4271 lets the data
    /// be as long as the message.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(body);
        let (Some(code), Some(subcode)) = (reader.u8(), reader.u8()) else {
            return Err(DecodeError::BadMessageLength {
                length: super::header::length_with_header(body.len()),
            });
        };
        Ok(Notification::new(
            ErrorCode::from_code(code),
            subcode,
            reader.rest().to_vec(),
        ))
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(subcode) = self.subcode_description() {
            write!(f, ": {subcode}")?;
        }
        write!(f, " ({}/{})", self.code.code(), self.subcode)?;
        if let Some(communication) = self.shutdown_communication() {
            write!(f, " \"{}\"", communication.escape_debug())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registry_value_round_trips() {
        for code in 0..=u8::MAX {
            assert_eq!(ErrorCode::from_code(code).code(), code);
            assert_eq!(CeaseSubcode::from_code(code).code(), code);
            assert_eq!(UpdateMessageSubcode::from_code(code).code(), code);
            assert_eq!(OpenMessageSubcode::from_code(code).code(), code);
            assert_eq!(MessageHeaderSubcode::from_code(code).code(), code);
            assert_eq!(FiniteStateMachineSubcode::from_code(code).code(), code);
            assert_eq!(RouteRefreshMessageSubcode::from_code(code).code(), code);
        }
    }

    #[test]
    fn bfd_down_is_cease_10() {
        let notification = Notification::cease(CeaseSubcode::BfdDown);
        assert_eq!((notification.code.code(), notification.subcode), (6, 10));
        assert_eq!(notification.to_string(), "cease: BFD down (6/10)");
    }

    #[test]
    fn shutdown_communication_is_cut_on_a_character_boundary() {
        let long = "é".repeat(200);
        let notification =
            Notification::cease_with_communication(CeaseSubcode::AdministrativeShutdown, &long);
        assert_eq!(notification.data[0], 254);
        assert_eq!(notification.shutdown_communication().unwrap().len(), 254);
    }

    #[test]
    fn a_malformed_shutdown_communication_is_ignored() {
        let mut notification = Notification::cease(CeaseSubcode::AdministrativeReset);
        notification.data = vec![10, b'a'];
        assert_eq!(notification.shutdown_communication(), None);
        notification.data = vec![2, 0xff, 0xfe];
        assert_eq!(notification.shutdown_communication(), None);
        notification.data = vec![2, b'h', b'i'];
        assert_eq!(notification.shutdown_communication(), Some("hi"));
    }
}
