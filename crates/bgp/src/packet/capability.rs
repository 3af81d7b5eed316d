//! Capabilities, carried in the Capabilities optional parameter of OPEN (RFC 5492 §4):
//!
//! ```text
//! +------------------------------+
//! | Capability Code (1 octet)    |
//! +------------------------------+
//! | Capability Length (1 octet)  |
//! +------------------------------+
//! | Capability Value (variable)  |
//! ~                              ~
//! +------------------------------+
//! ```
//!
//! The IANA "Capability Codes" registry is open: capabilities this crate does not know come
//! back as [`Capability::Unknown`] and are re-encoded as received (RFC 5492 §3: an unknown
//! capability is ignored, not refused).

use super::DecodeError;
use super::family::{AddressFamily, Family};
use super::wire::{Reader, length_u8};

/// Capability codes this crate decodes.
pub mod code {
    /// RFC 4760.
    pub const MULTIPROTOCOL: u8 = 1;
    /// RFC 2918.
    pub const ROUTE_REFRESH: u8 = 2;
    /// RFC 8950.
    pub const EXTENDED_NEXT_HOP: u8 = 5;
    /// RFC 8654.
    pub const EXTENDED_MESSAGE: u8 = 6;
    /// RFC 4724.
    pub const GRACEFUL_RESTART: u8 = 64;
    /// RFC 6793.
    pub const FOUR_OCTET_AS: u8 = 65;
    /// RFC 7313.
    pub const ENHANCED_ROUTE_REFRESH: u8 = 70;
}

/// One capability.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol Extensions (RFC 4760 §8), one per AFI/SAFI:
    ///
    /// ```text
    ///  0       7      15      23      31
    /// +-------+-------+-------+-------+
    /// |      AFI      | Res.  | SAFI  |
    /// +-------+-------+-------+-------+
    /// ```
    Multiprotocol(Family),
    /// Route Refresh (RFC 2918), no value.
    RouteRefresh,
    /// Extended Next Hop Encoding (RFC 8950 §3): the NLRI families the sender accepts with a
    /// next hop of another address family, one tuple each:
    ///
    /// ```text
    /// +-----------------------------------------------------+
    /// | NLRI AFI - 1 (2 octets)                             |
    /// +-----------------------------------------------------+
    /// | NLRI SAFI - 1 (2 octets)                            |
    /// +-----------------------------------------------------+
    /// | Nexthop AFI - 1 (2 octets)                          |
    /// +-----------------------------------------------------+
    /// | ....                                                |
    /// +-----------------------------------------------------+
    /// ```
    ///
    /// SAFIs are one octet everywhere else (RFC 4760): a tuple whose SAFI does not fit one is
    /// skipped on receipt (no such SAFI can be negotiated).
    ExtendedNextHop(Vec<ExtendedNextHop>),
    /// Extended Message (RFC 8654), no value: messages up to 65535 octets once both sides
    /// advertise it.
    ExtendedMessage,
    /// Graceful Restart (RFC 4724 §3).
    GracefulRestart(GracefulRestart),
    /// Support for 4-octet AS numbers (RFC 6793 §3), with the speaker's AS number.
    FourOctetAs(u32),
    /// Enhanced Route Refresh (RFC 7313), no value.
    EnhancedRouteRefresh,
    /// Any other capability, as received. `code` is never one of the codes above.
    Unknown { code: u8, value: Vec<u8> },
}

/// One tuple of the Extended Next Hop capability: routes of `family` may carry a next hop of
/// `next_hop` address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedNextHop {
    pub family: Family,
    pub next_hop: AddressFamily,
}

impl ExtendedNextHop {
    /// IPv4 unicast routes with an IPv6 next hop: BGP unnumbered, IPv4 over IPv6 sessions.
    pub const IPV4_UNICAST_OVER_IPV6: ExtendedNextHop = ExtendedNextHop {
        family: Family::IPV4_UNICAST,
        next_hop: AddressFamily::Ipv6,
    };

    /// Most tuples one capability holds (its value is at most 255 octets).
    pub const MAXIMUM_TUPLES: usize = 255 / 6;

    fn decode_list(value: &[u8]) -> Option<Vec<ExtendedNextHop>> {
        if !value.len().is_multiple_of(6) {
            return None;
        }
        let mut reader = Reader::new(value);
        let mut tuples = Vec::with_capacity(value.len() / 6);
        while !reader.is_empty() {
            let afi = reader.u16()?;
            let safi = reader.u16()?;
            let next_hop = reader.u16()?;
            if let Ok(safi) = u8::try_from(safi) {
                tuples.push(ExtendedNextHop {
                    family: Family::from_codes(afi, safi),
                    next_hop: AddressFamily::from_code(next_hop),
                });
            }
        }
        Some(tuples)
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.family.address_family.code().to_be_bytes());
        buf.extend_from_slice(
            &u16::from(self.family.subsequent_address_family.code()).to_be_bytes(),
        );
        buf.extend_from_slice(&self.next_hop.code().to_be_bytes());
    }
}

/// The Graceful Restart capability value (RFC 4724 §3; N bit from RFC 8538):
///
/// ```text
/// +--------------------------------------------------+
/// | Restart Flags (4 bits)                           |
/// +--------------------------------------------------+
/// | Restart Time in seconds (12 bits)                |
/// +--------------------------------------------------+
/// | Address Family Identifier (16 bits)              |
/// +--------------------------------------------------+
/// | Subsequent Address Family Identifier (8 bits)    |
/// +--------------------------------------------------+
/// | Flags for Address Family (8 bits)                |
/// +--------------------------------------------------+
/// | ...                                              |
/// +--------------------------------------------------+
///
/// Restart Flags:            Flags for Address Family:
///  0 1 2 3                   0 1 2 3 4 5 6 7
/// +-+-+-+-+                 +-+-+-+-+-+-+-+-+
/// |R|N|   |                 |F|   Reserved  |
/// +-+-+-+-+                 +-+-+-+-+-+-+-+-+
/// ```
///
/// Reserved bits are ignored on receipt and sent as zero.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestart {
    /// R: the sender has restarted (its routes may be stale until End-of-RIB).
    pub restart_state: bool,
    /// N: the sender supports graceful restart for NOTIFICATION messages (RFC 8538).
    pub notification: bool,
    /// Seconds the peer should keep our routes while we restart; 12 bits (0..=4095), higher
    /// values are sent modulo 4096.
    pub restart_time: u16,
    /// The families whose forwarding state the sender preserves or can preserve.
    pub families: Vec<GracefulRestartFamily>,
}

/// One AFI/SAFI of the Graceful Restart capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GracefulRestartFamily {
    pub family: Family,
    /// F: forwarding state for this family was preserved across the restart.
    pub forwarding_state: bool,
}

impl GracefulRestart {
    /// Largest restart time the 12-bit field holds.
    pub const MAXIMUM_RESTART_TIME: u16 = 0x0fff;

    fn encode_value(&self, buf: &mut Vec<u8>) {
        let mut first = ((self.restart_time >> 8) & 0x0f) as u8;
        if self.restart_state {
            first |= 0x80;
        }
        if self.notification {
            first |= 0x40;
        }
        buf.push(first);
        buf.push((self.restart_time & 0xff) as u8);
        for family in &self.families {
            buf.extend_from_slice(&family.family.address_family.code().to_be_bytes());
            buf.push(family.family.subsequent_address_family.code());
            buf.push(if family.forwarding_state { 0x80 } else { 0 });
        }
    }

    fn decode_value(value: &[u8]) -> Option<Self> {
        let mut reader = Reader::new(value);
        let flags_and_time = reader.u16()?;
        if !reader.len().is_multiple_of(4) {
            return None;
        }
        let mut families = Vec::with_capacity(reader.len() / 4);
        while !reader.is_empty() {
            let afi = reader.u16()?;
            let safi = reader.u8()?;
            let flags = reader.u8()?;
            families.push(GracefulRestartFamily {
                family: Family::from_codes(afi, safi),
                forwarding_state: flags & 0x80 != 0,
            });
        }
        Some(GracefulRestart {
            restart_state: flags_and_time & 0x8000 != 0,
            notification: flags_and_time & 0x4000 != 0,
            restart_time: flags_and_time & Self::MAXIMUM_RESTART_TIME,
            families,
        })
    }
}

impl Capability {
    /// The capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol(_) => code::MULTIPROTOCOL,
            Capability::RouteRefresh => code::ROUTE_REFRESH,
            Capability::ExtendedNextHop(_) => code::EXTENDED_NEXT_HOP,
            Capability::ExtendedMessage => code::EXTENDED_MESSAGE,
            Capability::GracefulRestart(_) => code::GRACEFUL_RESTART,
            Capability::FourOctetAs(_) => code::FOUR_OCTET_AS,
            Capability::EnhancedRouteRefresh => code::ENHANCED_ROUTE_REFRESH,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Writes code, length and value. A value longer than 255 octets (only possible for a
    /// Graceful Restart with more than 63 families or an unknown capability) is cut to 255.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let mut value = Vec::new();
        match self {
            Capability::Multiprotocol(family) => {
                value.extend_from_slice(&family.address_family.code().to_be_bytes());
                value.push(0);
                value.push(family.subsequent_address_family.code());
            }
            Capability::ExtendedNextHop(tuples) => {
                for tuple in tuples.iter().take(ExtendedNextHop::MAXIMUM_TUPLES) {
                    tuple.encode(&mut value);
                }
            }
            Capability::RouteRefresh
            | Capability::ExtendedMessage
            | Capability::EnhancedRouteRefresh => {}
            Capability::GracefulRestart(graceful_restart) => {
                graceful_restart.encode_value(&mut value)
            }
            Capability::FourOctetAs(as_number) => value.extend_from_slice(&as_number.to_be_bytes()),
            Capability::Unknown { value: raw, .. } => value.extend_from_slice(raw),
        }
        value.truncate(usize::from(u8::MAX));
        buf.push(self.code());
        buf.push(length_u8(value.len()));
        buf.extend_from_slice(&value);
    }

    /// Reads one capability's value. A known capability with a malformed value is an OPEN
    /// error with subcode 0 (RFC 4271 §6.2: "recognized, but is malformed").
    fn decode_value(code: u8, value: &[u8]) -> Result<Self, DecodeError> {
        let malformed = |reason| DecodeError::MalformedOpen { reason };
        match code {
            code::MULTIPROTOCOL => {
                let mut reader = Reader::new(value);
                match (reader.u16(), reader.u8(), reader.u8(), reader.is_empty()) {
                    (Some(afi), Some(_reserved), Some(safi), true) => {
                        Ok(Capability::Multiprotocol(Family::from_codes(afi, safi)))
                    }
                    _ => Err(malformed("multiprotocol capability length is not 4")),
                }
            }
            code::ROUTE_REFRESH | code::EXTENDED_MESSAGE | code::ENHANCED_ROUTE_REFRESH => {
                if !value.is_empty() {
                    return Err(malformed(
                        "route refresh or extended message capability has a value",
                    ));
                }
                Ok(match code {
                    code::ROUTE_REFRESH => Capability::RouteRefresh,
                    code::EXTENDED_MESSAGE => Capability::ExtendedMessage,
                    _ => Capability::EnhancedRouteRefresh,
                })
            }
            code::EXTENDED_NEXT_HOP => ExtendedNextHop::decode_list(value)
                .map(Capability::ExtendedNextHop)
                .ok_or(malformed(
                    "extended next hop capability length is not a multiple of 6",
                )),
            code::GRACEFUL_RESTART => GracefulRestart::decode_value(value)
                .map(Capability::GracefulRestart)
                .ok_or(malformed(
                    "graceful restart capability length is not 2 + 4n",
                )),
            code::FOUR_OCTET_AS => match <[u8; 4]>::try_from(value) {
                Ok(bytes) => Ok(Capability::FourOctetAs(u32::from_be_bytes(bytes))),
                Err(_) => Err(malformed("4-octet AS capability length is not 4")),
            },
            _ => Ok(Capability::Unknown {
                code,
                value: value.to_vec(),
            }),
        }
    }

    /// Reads the value of one Capabilities optional parameter: a list of capabilities
    /// (RFC 5492 allows one or more per parameter).
    pub fn decode_list(bytes: &[u8]) -> Result<Vec<Capability>, DecodeError> {
        let mut reader = Reader::new(bytes);
        let mut capabilities = Vec::new();
        while !reader.is_empty() {
            let (Some(code), Some(length)) = (reader.u8(), reader.u8()) else {
                return Err(DecodeError::MalformedOpen {
                    reason: "capability header cut by the parameter length",
                });
            };
            let value = reader
                .take(usize::from(length))
                .ok_or(DecodeError::MalformedOpen {
                    reason: "capability value overruns the parameter",
                })?;
            capabilities.push(Capability::decode_value(code, value)?);
        }
        Ok(capabilities)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(capability: Capability, bytes: &[u8]) {
        let mut buf = Vec::new();
        capability.encode(&mut buf);
        assert_eq!(buf, bytes, "{capability:?}");
        assert_eq!(Capability::decode_list(bytes).unwrap(), [capability]);
    }

    #[test]
    fn known_capabilities_have_their_rfc_layout() {
        round_trip(
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            &[1, 4, 0, 2, 0, 1],
        );
        round_trip(Capability::RouteRefresh, &[2, 0]);
        round_trip(
            Capability::ExtendedNextHop(vec![
                ExtendedNextHop::IPV4_UNICAST_OVER_IPV6,
                ExtendedNextHop {
                    family: Family::from_codes(1, 128),
                    next_hop: AddressFamily::Ipv6,
                },
            ]),
            &[5, 12, 0, 1, 0, 1, 0, 2, 0, 1, 0, 128, 0, 2],
        );
        round_trip(Capability::ExtendedMessage, &[6, 0]);
        round_trip(Capability::EnhancedRouteRefresh, &[70, 0]);
        round_trip(
            Capability::FourOctetAs(4_200_000_000),
            &[65, 4, 0xfa, 0x56, 0xea, 0x00],
        );
        round_trip(
            Capability::GracefulRestart(GracefulRestart {
                restart_state: true,
                notification: false,
                restart_time: 120,
                families: vec![
                    GracefulRestartFamily {
                        family: Family::IPV4_UNICAST,
                        forwarding_state: true,
                    },
                    GracefulRestartFamily {
                        family: Family::IPV6_UNICAST,
                        forwarding_state: false,
                    },
                ],
            }),
            &[64, 10, 0x80, 120, 0, 1, 1, 0x80, 0, 2, 1, 0],
        );
        round_trip(
            Capability::Unknown {
                code: 73,
                value: vec![1, 2, 3],
            },
            &[73, 3, 1, 2, 3],
        );
    }

    #[test]
    fn extended_next_hop_skips_safis_wider_than_an_octet() {
        // FRR's OPEN to an unnumbered neighbour: IPv4 unicast over IPv6, then a 2-octet SAFI.
        let decoded = Capability::decode_list(&[5, 12, 0, 1, 0, 1, 0, 2, 0, 1, 1, 0, 0, 2]);
        assert_eq!(
            decoded.unwrap(),
            [Capability::ExtendedNextHop(vec![
                ExtendedNextHop::IPV4_UNICAST_OVER_IPV6
            ])]
        );
        assert_eq!(
            Capability::decode_list(&[5, 0]).unwrap(),
            [Capability::ExtendedNextHop(vec![])]
        );
    }

    #[test]
    fn graceful_restart_time_is_twelve_bits() {
        let decoded = Capability::decode_list(&[64, 2, 0x4f, 0xff]).unwrap();
        assert_eq!(
            decoded,
            [Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: true,
                restart_time: 4095,
                families: vec![],
            })]
        );
    }

    #[test]
    fn malformed_known_capabilities_are_open_errors() {
        for bytes in [
            &[1u8, 3, 0, 1, 0][..],
            &[65, 2, 0, 1],
            &[2, 1, 0],
            &[64, 3, 0, 0, 0],
            &[65, 4, 0],
            &[5, 5, 0, 1, 0, 1, 0],
            &[5, 7, 0, 1, 0, 1, 0, 2, 0],
        ] {
            let error = Capability::decode_list(bytes).unwrap_err();
            assert!(
                matches!(error, DecodeError::MalformedOpen { .. }),
                "{bytes:?}"
            );
            assert_eq!(error.notification().code.code(), 2);
            assert_eq!(error.notification().subcode, 0);
        }
    }
}
