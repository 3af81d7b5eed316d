//! OPEN message (RFC 4271 §4.2), with the extended optional parameters length of RFC 9072.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+
//! |    Version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     My Autonomous System      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Hold Time           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         BGP Identifier                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Opt Parm Len  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Optional Parameters (variable)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Each optional parameter:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Parm. Type   | Parm. Length  |  Parameter Value (variable)
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 9072: when Opt Parm Len is 255 and the next octet (where the first parameter type would
//! be) is also 255, a two-octet Extended Optional Parameters Length follows, and every
//! parameter then has a two-octet length:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Non-Ext OP Len.|Non-Ext OP Type|  Extended Opt. Parm. Length   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Parm. Type | Parameter Length              | Value ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The decoder reads both forms; the encoder uses the extended form only when the parameters
//! do not fit the classic one.
//!
//! Checks done while decoding (RFC 4271 §6.2 order): version 4 (else 2/1), My Autonomous System
//! not 0 (else 2/2, RFC 7607), hold time not 1 or 2 (else 2/6), BGP Identifier not 0.0.0.0
//! (else 2/3, RFC 6286), parameters of type Capabilities only (else 2/4), well-formed known
//! capabilities (else 2/0) and a 4-octet AS capability not 0 (else 2/2, RFC 7607). Whether the
//! AS is the configured peer AS, whether the identifier collides with ours and which
//! capabilities are required are the session's decisions.

use std::net::Ipv4Addr;

use super::capability::{Capability, GracefulRestart};
use super::family::Family;
use super::wire::{Reader, finish_length_u16, length_u8, length_u16, start_length_u16};
use super::{BGP_VERSION, DecodeError, two_octet_as};

/// Optional parameter types (IANA "BGP OPEN Optional Parameter Types").
pub mod parameter_type {
    /// RFC 5492.
    pub const CAPABILITIES: u8 = 2;
    /// RFC 9072: marks the extended optional parameters length.
    pub const EXTENDED_LENGTH: u8 = 255;
}

/// An optional parameter. Only Capabilities are defined today (type 1, Authentication, is
/// deprecated); any other type is refused with 2/4 as RFC 4271 §6.2 says.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OptionalParameter {
    /// One Capabilities parameter; speakers differ in sending one parameter holding every
    /// capability or one parameter per capability, and both are kept as sent.
    Capabilities(Vec<Capability>),
}

/// An OPEN message. The version is always 4: anything else is refused when decoding.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Open {
    /// The sender's AS, or [`AS_TRANS`](super::AS_TRANS) when its AS needs four octets (RFC 6793).
    pub my_autonomous_system: u16,
    /// Proposed hold time in seconds: 0 or at least 3.
    pub hold_time: u16,
    pub bgp_identifier: Ipv4Addr,
    pub optional_parameters: Vec<OptionalParameter>,
}

impl Open {
    /// An OPEN for `as_number` (written as [`AS_TRANS`](super::AS_TRANS) in My Autonomous System when it needs
    /// four octets) with every capability in one Capabilities parameter. The 4-octet AS
    /// capability is not added: list it in `capabilities`.
    pub fn new(
        as_number: u32,
        hold_time: u16,
        bgp_identifier: Ipv4Addr,
        capabilities: Vec<Capability>,
    ) -> Self {
        Open {
            my_autonomous_system: two_octet_as(as_number),
            hold_time,
            bgp_identifier,
            optional_parameters: vec![OptionalParameter::Capabilities(capabilities)],
        }
    }

    /// Every capability, across all Capabilities parameters, in order.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.optional_parameters
            .iter()
            .flat_map(|parameter| match parameter {
                OptionalParameter::Capabilities(capabilities) => capabilities.iter(),
            })
    }

    /// Whether a capability with this code was advertised.
    pub fn has_capability(&self, code: u8) -> bool {
        self.capabilities()
            .any(|capability| capability.code() == code)
    }

    /// The AS from the 4-octet AS capability, if advertised.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities().find_map(|capability| match capability {
            Capability::FourOctetAs(as_number) => Some(*as_number),
            _ => None,
        })
    }

    /// The sender's AS: from the 4-octet AS capability when present (RFC 6793 §4.1), else My
    /// Autonomous System.
    pub fn as_number(&self) -> u32 {
        self.four_octet_as()
            .unwrap_or(u32::from(self.my_autonomous_system))
    }

    /// The AFI/SAFIs of the multiprotocol capabilities. RFC 4760 §8: a speaker that advertises
    /// none supports IPv4 unicast only.
    pub fn multiprotocol_families(&self) -> Vec<Family> {
        self.capabilities()
            .filter_map(|capability| match capability {
                Capability::Multiprotocol(family) => Some(*family),
                _ => None,
            })
            .collect()
    }

    /// The families the peer accepts with a next hop of another address family (RFC 8950).
    pub fn extended_next_hops(&self) -> Vec<super::ExtendedNextHop> {
        self.capabilities()
            .filter_map(|capability| match capability {
                Capability::ExtendedNextHop(tuples) => Some(tuples.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn graceful_restart(&self) -> Option<&GracefulRestart> {
        self.capabilities().find_map(|capability| match capability {
            Capability::GracefulRestart(graceful_restart) => Some(graceful_restart),
            _ => None,
        })
    }

    /// Writes the message body (after the header).
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.push(BGP_VERSION);
        buf.extend_from_slice(&self.my_autonomous_system.to_be_bytes());
        buf.extend_from_slice(&self.hold_time.to_be_bytes());
        buf.extend_from_slice(&self.bgp_identifier.octets());

        let values: Vec<(u8, Vec<u8>)> = self
            .optional_parameters
            .iter()
            .map(|parameter| match parameter {
                OptionalParameter::Capabilities(capabilities) => {
                    let mut value = Vec::new();
                    for capability in capabilities {
                        capability.encode(&mut value);
                    }
                    (parameter_type::CAPABILITIES, value)
                }
            })
            .collect();
        let classic_length: usize = values.iter().map(|(_, value)| 2 + value.len()).sum();
        let fits_classic = classic_length <= usize::from(u8::MAX)
            && values
                .iter()
                .all(|(_, value)| value.len() <= usize::from(u8::MAX));
        if fits_classic {
            buf.push(length_u8(classic_length));
            for (kind, value) in &values {
                buf.push(*kind);
                buf.push(length_u8(value.len()));
                buf.extend_from_slice(value);
            }
        } else {
            buf.push(u8::MAX);
            buf.push(parameter_type::EXTENDED_LENGTH);
            let position = start_length_u16(buf);
            for (kind, value) in &values {
                buf.push(*kind);
                buf.extend_from_slice(&length_u16(value.len()).to_be_bytes());
                buf.extend_from_slice(value);
            }
            finish_length_u16(buf, position);
        }
    }

    /// Reads the message body (after the header); see the module documentation for the checks.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let too_short = DecodeError::BadMessageLength {
            length: super::header::length_with_header(body.len()),
        };
        let mut reader = Reader::new(body);
        let (
            Some(version),
            Some(my_autonomous_system),
            Some(hold_time),
            Some(identifier),
            Some(parameters_length),
        ) = (
            reader.u8(),
            reader.u16(),
            reader.u16(),
            reader.array::<4>(),
            reader.u8(),
        )
        else {
            return Err(too_short);
        };
        if version != BGP_VERSION {
            return Err(DecodeError::UnsupportedVersionNumber { version });
        }
        if my_autonomous_system == 0 {
            return Err(DecodeError::BadPeerAs { as_number: 0 });
        }
        if hold_time == 1 || hold_time == 2 {
            return Err(DecodeError::UnacceptableHoldTime { hold_time });
        }
        let bgp_identifier = Ipv4Addr::from(identifier);
        if bgp_identifier.is_unspecified() {
            return Err(DecodeError::BadBgpIdentifier {
                identifier: bgp_identifier,
            });
        }

        let extended = parameters_length == u8::MAX
            && reader.remaining().first() == Some(&parameter_type::EXTENDED_LENGTH);
        let parameters = if extended {
            reader.u8();
            let length = reader.u16().ok_or(DecodeError::MalformedOpen {
                reason: "extended optional parameters length is cut",
            })?;
            reader.take(usize::from(length))
        } else {
            reader.take(usize::from(parameters_length))
        }
        .ok_or(DecodeError::MalformedOpen {
            reason: "optional parameters overrun the message",
        })?;
        if !reader.is_empty() {
            return Err(DecodeError::MalformedOpen {
                reason: "bytes after the optional parameters",
            });
        }

        let mut reader = Reader::new(parameters);
        let mut optional_parameters = Vec::new();
        while !reader.is_empty() {
            let kind = reader.u8();
            let length = if extended {
                reader.u16()
            } else {
                reader.u8().map(u16::from)
            };
            let (Some(kind), Some(length)) = (kind, length) else {
                return Err(DecodeError::MalformedOpen {
                    reason: "optional parameter header cut by the parameters length",
                });
            };
            let value = reader
                .take(usize::from(length))
                .ok_or(DecodeError::MalformedOpen {
                    reason: "optional parameter overruns the parameters length",
                })?;
            if kind != parameter_type::CAPABILITIES {
                return Err(DecodeError::UnsupportedOptionalParameter {
                    parameter_type: kind,
                });
            }
            optional_parameters.push(OptionalParameter::Capabilities(Capability::decode_list(
                value,
            )?));
        }
        let open = Open {
            my_autonomous_system,
            hold_time,
            bgp_identifier,
            optional_parameters,
        };
        if open.four_octet_as() == Some(0) {
            return Err(DecodeError::BadPeerAs { as_number: 0 });
        }
        Ok(open)
    }
}

impl From<&Open> for crate::fsm::PeerOpen {
    fn from(open: &Open) -> Self {
        crate::fsm::PeerOpen {
            version: BGP_VERSION,
            asn: open.as_number(),
            hold_time: open.hold_time,
            router_id: open.bgp_identifier,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::AS_TRANS;

    #[test]
    fn a_four_octet_as_is_sent_as_as_trans() {
        let open = Open::new(
            4_200_000_000,
            90,
            Ipv4Addr::new(192, 0, 2, 1),
            vec![Capability::FourOctetAs(4_200_000_000)],
        );
        assert_eq!(open.my_autonomous_system, AS_TRANS);
        assert_eq!(open.as_number(), 4_200_000_000);
        let peer: crate::fsm::PeerOpen = (&open).into();
        assert_eq!(peer.asn, 4_200_000_000);
    }

    #[test]
    fn many_capabilities_use_the_extended_parameters_length() {
        let capabilities: Vec<Capability> = (0..60)
            .map(|index| Capability::Unknown {
                code: 200,
                value: vec![index; 4],
            })
            .collect();
        let open = Open::new(65000, 90, Ipv4Addr::new(192, 0, 2, 1), capabilities);
        let mut body = Vec::new();
        open.encode(&mut body);
        assert_eq!(
            &body[9..13],
            &[255, 255, 0x01, 0x6b],
            "60 * 6 + 3 = 363 octets"
        );
        assert_eq!(Open::decode(&body).unwrap(), open);
    }
}
