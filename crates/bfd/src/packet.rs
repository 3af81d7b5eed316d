//! BFD Control packets (RFC 5880 §4.1) and the reception checks of §6.8.6 that do not need a
//! session.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       My Discriminator                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Your Discriminator                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Desired Min TX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Required Min RX Interval                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Required Min Echo RX Interval                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Auth Len    |    Authentication Data...     |   (optional, A bit)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::fmt;

/// Length of a Control packet without authentication.
pub const MANDATORY_LENGTH: usize = 24;

/// BFD version this implementation speaks.
pub const VERSION: u8 = 1;

/// Session state as carried on the wire (RFC 5880 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    AdminDown = 0,
    Down = 1,
    Init = 2,
    Up = 3,
}

impl State {
    fn from_bits(bits: u8) -> State {
        match bits & 0b11 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AdminDown => "admin-down",
            State::Down => "down",
            State::Init => "init",
            State::Up => "up",
        })
    }
}

/// Diagnostic code (RFC 5880 §4.1): why the session last left Up. Unknown values are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Diagnostic {
    None,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    Unknown(u8),
}

impl Diagnostic {
    /// The 5-bit wire value.
    pub fn code(self) -> u8 {
        match self {
            Diagnostic::None => 0,
            Diagnostic::ControlDetectionTimeExpired => 1,
            Diagnostic::EchoFunctionFailed => 2,
            Diagnostic::NeighborSignaledSessionDown => 3,
            Diagnostic::ForwardingPlaneReset => 4,
            Diagnostic::PathDown => 5,
            Diagnostic::ConcatenatedPathDown => 6,
            Diagnostic::AdministrativelyDown => 7,
            Diagnostic::ReverseConcatenatedPathDown => 8,
            Diagnostic::Unknown(code) => code & 0x1f,
        }
    }

    /// From the 5-bit wire value.
    pub fn from_code(code: u8) -> Self {
        match code & 0x1f {
            0 => Diagnostic::None,
            1 => Diagnostic::ControlDetectionTimeExpired,
            2 => Diagnostic::EchoFunctionFailed,
            3 => Diagnostic::NeighborSignaledSessionDown,
            4 => Diagnostic::ForwardingPlaneReset,
            5 => Diagnostic::PathDown,
            6 => Diagnostic::ConcatenatedPathDown,
            7 => Diagnostic::AdministrativelyDown,
            8 => Diagnostic::ReverseConcatenatedPathDown,
            other => Diagnostic::Unknown(other),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diagnostic::None => f.write_str("no diagnostic"),
            Diagnostic::ControlDetectionTimeExpired => {
                f.write_str("control detection time expired")
            }
            Diagnostic::EchoFunctionFailed => f.write_str("echo function failed"),
            Diagnostic::NeighborSignaledSessionDown => {
                f.write_str("neighbor signaled session down")
            }
            Diagnostic::ForwardingPlaneReset => f.write_str("forwarding plane reset"),
            Diagnostic::PathDown => f.write_str("path down"),
            Diagnostic::ConcatenatedPathDown => f.write_str("concatenated path down"),
            Diagnostic::AdministrativelyDown => f.write_str("administratively down"),
            Diagnostic::ReverseConcatenatedPathDown => {
                f.write_str("reverse concatenated path down")
            }
            Diagnostic::Unknown(code) => write!(f, "diagnostic {code}"),
        }
    }
}

/// The authentication section (RFC 5880 §4.2–4.4). IronLB does not authenticate sessions;
/// the section is decoded so that authenticated packets are recognised and refused cleanly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authentication {
    /// Type 1: key ID and a 1–16 byte password.
    SimplePassword { key_id: u8, password: Vec<u8> },
    /// Types 2 and 3: key ID, sequence number, 16-byte digest.
    KeyedMd5 {
        meticulous: bool,
        key_id: u8,
        sequence: u32,
        digest: [u8; 16],
    },
    /// Types 4 and 5: key ID, sequence number, 20-byte hash.
    KeyedSha1 {
        meticulous: bool,
        key_id: u8,
        sequence: u32,
        hash: [u8; 20],
    },
    /// Any other type, kept as received.
    Unknown { auth_type: u8, data: Vec<u8> },
}

/// A BFD Control packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlPacket {
    pub diagnostic: Diagnostic,
    pub state: State,
    /// P: the sender asks for a packet with Final.
    pub poll: bool,
    /// F: answers a Poll.
    pub final_: bool,
    /// C: control plane independent.
    pub control_plane_independent: bool,
    /// D: demand mode.
    pub demand: bool,
    /// M: multipoint (must be zero).
    pub multipoint: bool,
    pub detect_multiplier: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    /// Microseconds.
    pub desired_min_tx_interval: u32,
    /// Microseconds.
    pub required_min_rx_interval: u32,
    /// Microseconds; 0 = the sender does not support echo.
    pub required_min_echo_rx_interval: u32,
    pub authentication: Option<Authentication>,
}

/// Why a received packet is discarded (RFC 5880 §6.8.6). Each is counted, never fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum DiscardReason {
    #[error("shorter than the 24-byte mandatory section")]
    TooShort,
    #[error("version is not 1")]
    BadVersion,
    #[error("length field is below the minimum for the packet")]
    LengthTooSmall,
    #[error("length field exceeds the received payload")]
    LengthExceedsPayload,
    #[error("detect multiplier is zero")]
    ZeroDetectMultiplier,
    #[error("multipoint bit set")]
    Multipoint,
    #[error("my discriminator is zero")]
    ZeroMyDiscriminator,
    #[error("your discriminator is zero in a packet whose state is not Down or AdminDown")]
    ZeroYourDiscriminatorWhileUp,
    #[error("malformed authentication section")]
    BadAuthentication,
    #[error("authentication present but not configured")]
    UnexpectedAuthentication,
    #[error("your discriminator matches no session")]
    UnknownDiscriminator,
    #[error("no session for the packet's source")]
    UnknownPeer,
    #[error("TTL/hop limit below the required minimum (GTSM)")]
    TtlTooLow,
}

impl ControlPacket {
    /// Encodes the packet (infallible).
    pub fn encode(&self, buffer: &mut Vec<u8>) {
        let auth = self.authentication.as_ref().map(encode_authentication);
        let length = MANDATORY_LENGTH + auth.as_ref().map_or(0, Vec::len);
        buffer.push((VERSION << 5) | self.diagnostic.code());
        let flags = ((self.state as u8) << 6)
            | (u8::from(self.poll) << 5)
            | (u8::from(self.final_) << 4)
            | (u8::from(self.control_plane_independent) << 3)
            | (u8::from(auth.is_some()) << 2)
            | (u8::from(self.demand) << 1)
            | u8::from(self.multipoint);
        buffer.push(flags);
        buffer.push(self.detect_multiplier);
        buffer.push(u8::try_from(length).unwrap_or(u8::MAX));
        for word in [
            self.my_discriminator,
            self.your_discriminator,
            self.desired_min_tx_interval,
            self.required_min_rx_interval,
            self.required_min_echo_rx_interval,
        ] {
            buffer.extend_from_slice(&word.to_be_bytes());
        }
        if let Some(auth) = auth {
            buffer.extend_from_slice(&auth);
        }
    }

    /// The encoded bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buffer = Vec::with_capacity(MANDATORY_LENGTH);
        self.encode(&mut buffer);
        buffer
    }

    /// Decodes a packet and applies the session-independent checks of RFC 5880 §6.8.6.
    /// Bytes after `Length` (padding in the UDP payload) are ignored, as the RFC allows.
    pub fn decode(payload: &[u8]) -> Result<ControlPacket, DiscardReason> {
        if payload.len() < MANDATORY_LENGTH {
            return Err(DiscardReason::TooShort);
        }
        if payload[0] >> 5 != VERSION {
            return Err(DiscardReason::BadVersion);
        }
        let flags = payload[1];
        let has_auth = flags & 0b100 != 0;
        let length = usize::from(payload[3]);
        let minimum = if has_auth {
            MANDATORY_LENGTH + 2
        } else {
            MANDATORY_LENGTH
        };
        if length < minimum {
            return Err(DiscardReason::LengthTooSmall);
        }
        if length > payload.len() {
            return Err(DiscardReason::LengthExceedsPayload);
        }
        let detect_multiplier = payload[2];
        if detect_multiplier == 0 {
            return Err(DiscardReason::ZeroDetectMultiplier);
        }
        let multipoint = flags & 1 != 0;
        if multipoint {
            return Err(DiscardReason::Multipoint);
        }
        let word = |offset: usize| {
            u32::from_be_bytes([
                payload[offset],
                payload[offset + 1],
                payload[offset + 2],
                payload[offset + 3],
            ])
        };
        let my_discriminator = word(4);
        if my_discriminator == 0 {
            return Err(DiscardReason::ZeroMyDiscriminator);
        }
        let your_discriminator = word(8);
        let state = State::from_bits(flags >> 6);
        if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(DiscardReason::ZeroYourDiscriminatorWhileUp);
        }
        let authentication = if has_auth {
            Some(decode_authentication(&payload[MANDATORY_LENGTH..length])?)
        } else {
            None
        };
        Ok(ControlPacket {
            diagnostic: Diagnostic::from_code(payload[0]),
            state,
            poll: flags & 0b10_0000 != 0,
            final_: flags & 0b1_0000 != 0,
            control_plane_independent: flags & 0b1000 != 0,
            demand: flags & 0b10 != 0,
            multipoint,
            detect_multiplier,
            my_discriminator,
            your_discriminator,
            desired_min_tx_interval: word(12),
            required_min_rx_interval: word(16),
            required_min_echo_rx_interval: word(20),
            authentication,
        })
    }
}

fn encode_authentication(auth: &Authentication) -> Vec<u8> {
    let mut out = Vec::new();
    match auth {
        Authentication::SimplePassword { key_id, password } => {
            out.extend_from_slice(&[
                1,
                u8::try_from(3 + password.len()).unwrap_or(u8::MAX),
                *key_id,
            ]);
            out.extend_from_slice(password);
        }
        Authentication::KeyedMd5 {
            meticulous,
            key_id,
            sequence,
            digest,
        } => {
            out.extend_from_slice(&[if *meticulous { 3 } else { 2 }, 24, *key_id, 0]);
            out.extend_from_slice(&sequence.to_be_bytes());
            out.extend_from_slice(digest);
        }
        Authentication::KeyedSha1 {
            meticulous,
            key_id,
            sequence,
            hash,
        } => {
            out.extend_from_slice(&[if *meticulous { 5 } else { 4 }, 28, *key_id, 0]);
            out.extend_from_slice(&sequence.to_be_bytes());
            out.extend_from_slice(hash);
        }
        Authentication::Unknown { auth_type, data } => {
            out.extend_from_slice(&[*auth_type, u8::try_from(2 + data.len()).unwrap_or(u8::MAX)]);
            out.extend_from_slice(data);
        }
    }
    out
}

/// Decodes the authentication section; `section` runs from Auth Type to the packet's end.
fn decode_authentication(section: &[u8]) -> Result<Authentication, DiscardReason> {
    let [auth_type, auth_length, rest @ ..] = section else {
        return Err(DiscardReason::BadAuthentication);
    };
    let auth_length = usize::from(*auth_length);
    if auth_length != section.len() || auth_length < 2 {
        return Err(DiscardReason::BadAuthentication);
    }
    let sequenced = |digest_length: usize| -> Result<(u8, u32, &[u8]), DiscardReason> {
        if auth_length != 8 + digest_length {
            return Err(DiscardReason::BadAuthentication);
        }
        let key_id = rest[0];
        let sequence = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]);
        Ok((key_id, sequence, &rest[6..]))
    };
    match auth_type {
        1 => {
            // Key ID and a password of 1 to 16 bytes.
            if !(4..=19).contains(&auth_length) {
                return Err(DiscardReason::BadAuthentication);
            }
            Ok(Authentication::SimplePassword {
                key_id: rest[0],
                password: rest[1..].to_vec(),
            })
        }
        2 | 3 => {
            let (key_id, sequence, digest) = sequenced(16)?;
            Ok(Authentication::KeyedMd5 {
                meticulous: *auth_type == 3,
                key_id,
                sequence,
                digest: digest
                    .try_into()
                    .map_err(|_| DiscardReason::BadAuthentication)?,
            })
        }
        4 | 5 => {
            let (key_id, sequence, hash) = sequenced(20)?;
            Ok(Authentication::KeyedSha1 {
                meticulous: *auth_type == 5,
                key_id,
                sequence,
                hash: hash
                    .try_into()
                    .map_err(|_| DiscardReason::BadAuthentication)?,
            })
        }
        other => Ok(Authentication::Unknown {
            auth_type: *other,
            data: rest.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up_packet() -> ControlPacket {
        ControlPacket {
            diagnostic: Diagnostic::None,
            state: State::Up,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            multipoint: false,
            detect_multiplier: 3,
            my_discriminator: 0x0102_0304,
            your_discriminator: 0x0a0b_0c0d,
            desired_min_tx_interval: 300_000,
            required_min_rx_interval: 300_000,
            required_min_echo_rx_interval: 50_000,
            authentication: None,
        }
    }

    /// Golden bytes, written from the RFC 5880 §4.1 layout.
    const UP_BYTES: [u8; 24] = [
        0x20, 0xc0, 0x03, 0x18, // version 1, diag 0; state Up; mult 3; length 24
        0x01, 0x02, 0x03, 0x04, // my discriminator
        0x0a, 0x0b, 0x0c, 0x0d, // your discriminator
        0x00, 0x04, 0x93, 0xe0, // desired min tx 300000 µs
        0x00, 0x04, 0x93, 0xe0, // required min rx 300000 µs
        0x00, 0x00, 0xc3, 0x50, // required min echo rx 50000 µs
    ];

    #[test]
    fn control_packet_golden_bytes_both_ways() {
        assert_eq!(up_packet().to_bytes(), UP_BYTES);
        assert_eq!(ControlPacket::decode(&UP_BYTES), Ok(up_packet()));
    }

    #[test]
    fn flags_and_diagnostic_golden() {
        let packet = ControlPacket {
            diagnostic: Diagnostic::ControlDetectionTimeExpired,
            state: State::Down,
            poll: true,
            final_: true,
            control_plane_independent: true,
            demand: true,
            your_discriminator: 0,
            ..up_packet()
        };
        let bytes = packet.to_bytes();
        assert_eq!(bytes[0], 0x21);
        assert_eq!(bytes[1], 0b0111_1010);
        assert_eq!(ControlPacket::decode(&bytes), Ok(packet));
    }

    #[test]
    fn keyed_sha1_section_is_decoded_not_misread() {
        let packet = ControlPacket {
            authentication: Some(Authentication::KeyedSha1 {
                meticulous: true,
                key_id: 7,
                sequence: 42,
                hash: [0xaa; 20],
            }),
            ..up_packet()
        };
        let bytes = packet.to_bytes();
        assert_eq!(bytes.len(), 24 + 28);
        assert_eq!(bytes[3], 52);
        assert_eq!(bytes[1] & 0b100, 0b100, "A bit");
        assert_eq!(ControlPacket::decode(&bytes), Ok(packet));
    }

    #[test]
    fn keyed_md5_and_simple_password_round_trip() {
        for authentication in [
            Authentication::KeyedMd5 {
                meticulous: false,
                key_id: 1,
                sequence: 9,
                digest: [1; 16],
            },
            Authentication::SimplePassword {
                key_id: 2,
                password: b"secret".to_vec(),
            },
        ] {
            let packet = ControlPacket {
                authentication: Some(authentication),
                ..up_packet()
            };
            assert_eq!(ControlPacket::decode(&packet.to_bytes()), Ok(packet));
        }
    }

    #[test]
    fn reception_checks_of_rfc5880_6_8_6() {
        let mut bytes = UP_BYTES.to_vec();
        assert_eq!(
            ControlPacket::decode(&bytes[..23]),
            Err(DiscardReason::TooShort)
        );
        bytes[0] = 0x40;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DiscardReason::BadVersion)
        );
        let mut bytes = UP_BYTES.to_vec();
        bytes[3] = 23;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DiscardReason::LengthTooSmall)
        );
        bytes[3] = 25;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DiscardReason::LengthExceedsPayload)
        );
        let mut bytes = UP_BYTES.to_vec();
        bytes[2] = 0;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DiscardReason::ZeroDetectMultiplier)
        );
        let mut bytes = UP_BYTES.to_vec();
        bytes[1] |= 1;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DiscardReason::Multipoint)
        );
        let mut bytes = UP_BYTES.to_vec();
        bytes[4..8].copy_from_slice(&[0; 4]);
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DiscardReason::ZeroMyDiscriminator)
        );
        let mut bytes = UP_BYTES.to_vec();
        bytes[8..12].copy_from_slice(&[0; 4]);
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DiscardReason::ZeroYourDiscriminatorWhileUp)
        );
        let mut bytes = UP_BYTES.to_vec();
        bytes[1] |= 0b100;
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DiscardReason::LengthTooSmall)
        );
        bytes[3] = 26;
        bytes.extend_from_slice(&[2, 5]);
        assert_eq!(
            ControlPacket::decode(&bytes),
            Err(DiscardReason::BadAuthentication)
        );
    }

    #[test]
    fn padding_after_length_is_ignored() {
        let mut bytes = UP_BYTES.to_vec();
        bytes.extend_from_slice(&[0; 8]);
        assert_eq!(ControlPacket::decode(&bytes), Ok(up_packet()));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let _ = ControlPacket::decode(&bytes);
        }

        #[test]
        fn encode_decode_round_trip(
            diag in 0u8..32, state in 0u8..4, poll: bool, final_: bool, mult in 1u8..=255,
            my in 1u32.., your: u32, tx: u32, rx: u32, echo: u32,
        ) {
            let state = State::from_bits(state);
            let your = if matches!(state, State::Down | State::AdminDown) { your } else { your.max(1) };
            let packet = ControlPacket {
                diagnostic: Diagnostic::from_code(diag), state, poll, final_,
                control_plane_independent: false, demand: false, multipoint: false,
                detect_multiplier: mult, my_discriminator: my, your_discriminator: your,
                desired_min_tx_interval: tx, required_min_rx_interval: rx,
                required_min_echo_rx_interval: echo, authentication: None,
            };
            proptest::prop_assert_eq!(ControlPacket::decode(&packet.to_bytes()), Ok(packet));
        }
    }
}
