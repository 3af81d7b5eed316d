//! MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760 §3 and §4), for IPv4 and IPv6 unicast; other
//! AFI/SAFIs are kept as raw bytes.
//!
//! ```text
//! MP_REACH_NLRI (type 14):
//! +---------------------------------------------------------+
//! | Address Family Identifier (2 octets)                    |
//! +---------------------------------------------------------+
//! | Subsequent Address Family Identifier (1 octet)          |
//! +---------------------------------------------------------+
//! | Length of Next Hop Network Address (1 octet)            |
//! +---------------------------------------------------------+
//! | Network Address of Next Hop (variable)                  |
//! +---------------------------------------------------------+
//! | Reserved (1 octet)                                      |
//! +---------------------------------------------------------+
//! | Network Layer Reachability Information (variable)       |
//! +---------------------------------------------------------+
//!
//! MP_UNREACH_NLRI (type 15):
//! +---------------------------------------------------------+
//! | Address Family Identifier (2 octets)                    |
//! +---------------------------------------------------------+
//! | Subsequent Address Family Identifier (1 octet)          |
//! +---------------------------------------------------------+
//! | Withdrawn Routes (variable)                             |
//! +---------------------------------------------------------+
//! ```
//!
//! Next hops: IPv6 unicast carries a global address (16 octets) or a global and a link-local
//! address (32 octets, RFC 2545 §3). IPv4 unicast carries an IPv4 address (4 octets) or, with
//! the extended next hop encoding of RFC 8950, an IPv6 next hop (16 or 32 octets). The Reserved
//! octet is sent as 0 and ignored on receipt.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::family::Family;
use super::prefix;
use super::wire::{Reader, length_u8};

/// An IPv6 next hop: global, optionally with the link-local address of the same interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6NextHop {
    pub global: Ipv6Addr,
    pub link_local: Option<Ipv6Addr>,
}

impl Ipv6NextHop {
    pub fn global(global: Ipv6Addr) -> Self {
        Ipv6NextHop {
            global,
            link_local: None,
        }
    }

    fn encoded_length(&self) -> usize {
        if self.link_local.is_some() { 32 } else { 16 }
    }

    fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.global.octets());
        if let Some(link_local) = self.link_local {
            buf.extend_from_slice(&link_local.octets());
        }
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut reader = Reader::new(bytes);
        let global = Ipv6Addr::from(reader.array::<16>()?);
        let link_local = match reader.len() {
            0 => None,
            16 => Some(Ipv6Addr::from(reader.array::<16>()?)),
            _ => return None,
        };
        Some(Ipv6NextHop { global, link_local })
    }
}

/// The next hop of IPv4 unicast routes in MP_REACH_NLRI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHop {
    Ipv4(Ipv4Addr),
    /// RFC 8950.
    Ipv6(Ipv6NextHop),
}

/// MP_REACH_NLRI.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MpReachNlri {
    Ipv4Unicast {
        next_hop: NextHop,
        prefixes: Vec<Ipv4Net>,
    },
    Ipv6Unicast {
        next_hop: Ipv6NextHop,
        prefixes: Vec<Ipv6Net>,
    },
    /// Any other AFI/SAFI, as received (never IPv4 or IPv6 unicast).
    Unknown {
        family: Family,
        next_hop: Vec<u8>,
        nlri: Vec<u8>,
    },
}

/// MP_UNREACH_NLRI.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MpUnreachNlri {
    Ipv4Unicast(Vec<Ipv4Net>),
    Ipv6Unicast(Vec<Ipv6Net>),
    /// Any other AFI/SAFI, as received (never IPv4 or IPv6 unicast).
    Unknown {
        family: Family,
        nlri: Vec<u8>,
    },
}

/// The fixed octets of an MP_REACH_NLRI value before its NLRI, for a next hop of this length.
pub(crate) fn reach_overhead(next_hop_length: usize) -> usize {
    2 + 1 + 1 + next_hop_length + 1
}

/// The fixed octets of an MP_UNREACH_NLRI value before its withdrawn routes.
pub(crate) const UNREACH_OVERHEAD: usize = 3;

fn encode_family(buf: &mut Vec<u8>, family: Family) {
    buf.extend_from_slice(&family.address_family.code().to_be_bytes());
    buf.push(family.subsequent_address_family.code());
}

impl MpReachNlri {
    pub fn family(&self) -> Family {
        match self {
            MpReachNlri::Ipv4Unicast { .. } => Family::IPV4_UNICAST,
            MpReachNlri::Ipv6Unicast { .. } => Family::IPV6_UNICAST,
            MpReachNlri::Unknown { family, .. } => *family,
        }
    }

    /// The IPv4 and IPv6 unicast prefixes announced.
    pub fn prefixes(&self) -> Vec<IpNet> {
        match self {
            MpReachNlri::Ipv4Unicast { prefixes, .. } => {
                prefixes.iter().copied().map(IpNet::V4).collect()
            }
            MpReachNlri::Ipv6Unicast { prefixes, .. } => {
                prefixes.iter().copied().map(IpNet::V6).collect()
            }
            MpReachNlri::Unknown { .. } => Vec::new(),
        }
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        encode_family(buf, self.family());
        match self {
            MpReachNlri::Ipv4Unicast { next_hop, prefixes } => {
                match next_hop {
                    NextHop::Ipv4(address) => {
                        buf.push(4);
                        buf.extend_from_slice(&address.octets());
                    }
                    NextHop::Ipv6(next_hop) => {
                        buf.push(length_u8(next_hop.encoded_length()));
                        next_hop.encode(buf);
                    }
                }
                buf.push(0);
                prefix::encode_ipv4_list(buf, prefixes);
            }
            MpReachNlri::Ipv6Unicast { next_hop, prefixes } => {
                buf.push(length_u8(next_hop.encoded_length()));
                next_hop.encode(buf);
                buf.push(0);
                prefix::encode_ipv6_list(buf, prefixes);
            }
            MpReachNlri::Unknown { next_hop, nlri, .. } => {
                buf.push(length_u8(next_hop.len()));
                buf.extend_from_slice(next_hop.get(..usize::from(u8::MAX)).unwrap_or(next_hop));
                buf.push(0);
                buf.extend_from_slice(nlri);
            }
        }
    }

    /// Reads a value. Errors are all fatal to the session (RFC 7606 §7.11): a next hop length
    /// that does not fit the family means the NLRI cannot be found, and NLRI that do not parse
    /// cannot be withdrawn.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        let mut reader = Reader::new(bytes);
        let (Some(afi), Some(safi), Some(next_hop_length)) =
            (reader.u16(), reader.u8(), reader.u8())
        else {
            return Err("MP_REACH_NLRI shorter than its fixed fields");
        };
        let next_hop = reader
            .take(usize::from(next_hop_length))
            .ok_or("MP_REACH_NLRI next hop overruns the attribute")?;
        reader.u8().ok_or("MP_REACH_NLRI reserved octet missing")?;
        let nlri = reader.rest();
        let family = Family::from_codes(afi, safi);
        match family {
            Family::IPV4_UNICAST => {
                let next_hop = match <[u8; 4]>::try_from(next_hop) {
                    Ok(octets) => NextHop::Ipv4(Ipv4Addr::from(octets)),
                    Err(_) => NextHop::Ipv6(
                        Ipv6NextHop::decode(next_hop)
                            .ok_or("next hop length not 4, 16 or 32 for IPv4 unicast")?,
                    ),
                };
                let prefixes = prefix::decode_ipv4_list(nlri).ok_or("IPv4 NLRI do not parse")?;
                Ok(MpReachNlri::Ipv4Unicast { next_hop, prefixes })
            }
            Family::IPV6_UNICAST => {
                let next_hop = Ipv6NextHop::decode(next_hop)
                    .ok_or("next hop length not 16 or 32 for IPv6 unicast")?;
                let prefixes = prefix::decode_ipv6_list(nlri).ok_or("IPv6 NLRI do not parse")?;
                Ok(MpReachNlri::Ipv6Unicast { next_hop, prefixes })
            }
            _ => Ok(MpReachNlri::Unknown {
                family,
                next_hop: next_hop.to_vec(),
                nlri: nlri.to_vec(),
            }),
        }
    }
}

impl MpUnreachNlri {
    pub fn family(&self) -> Family {
        match self {
            MpUnreachNlri::Ipv4Unicast(_) => Family::IPV4_UNICAST,
            MpUnreachNlri::Ipv6Unicast(_) => Family::IPV6_UNICAST,
            MpUnreachNlri::Unknown { family, .. } => *family,
        }
    }

    /// The IPv4 and IPv6 unicast prefixes withdrawn.
    pub fn prefixes(&self) -> Vec<IpNet> {
        match self {
            MpUnreachNlri::Ipv4Unicast(prefixes) => {
                prefixes.iter().copied().map(IpNet::V4).collect()
            }
            MpUnreachNlri::Ipv6Unicast(prefixes) => {
                prefixes.iter().copied().map(IpNet::V6).collect()
            }
            MpUnreachNlri::Unknown { .. } => Vec::new(),
        }
    }

    /// Whether nothing is withdrawn (the End-of-RIB marker of RFC 4724 §2).
    pub fn is_empty(&self) -> bool {
        match self {
            MpUnreachNlri::Ipv4Unicast(prefixes) => prefixes.is_empty(),
            MpUnreachNlri::Ipv6Unicast(prefixes) => prefixes.is_empty(),
            MpUnreachNlri::Unknown { nlri, .. } => nlri.is_empty(),
        }
    }

    /// An empty MP_UNREACH_NLRI for `family`.
    pub fn empty(family: Family) -> Self {
        match family {
            Family::IPV4_UNICAST => MpUnreachNlri::Ipv4Unicast(Vec::new()),
            Family::IPV6_UNICAST => MpUnreachNlri::Ipv6Unicast(Vec::new()),
            _ => MpUnreachNlri::Unknown {
                family,
                nlri: Vec::new(),
            },
        }
    }

    pub(crate) fn encode(&self, buf: &mut Vec<u8>) {
        encode_family(buf, self.family());
        match self {
            MpUnreachNlri::Ipv4Unicast(prefixes) => prefix::encode_ipv4_list(buf, prefixes),
            MpUnreachNlri::Ipv6Unicast(prefixes) => prefix::encode_ipv6_list(buf, prefixes),
            MpUnreachNlri::Unknown { nlri, .. } => buf.extend_from_slice(nlri),
        }
    }

    /// Reads a value; errors are fatal to the session like those of MP_REACH_NLRI.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        let mut reader = Reader::new(bytes);
        let (Some(afi), Some(safi)) = (reader.u16(), reader.u8()) else {
            return Err("MP_UNREACH_NLRI shorter than its fixed fields");
        };
        let withdrawn = reader.rest();
        let family = Family::from_codes(afi, safi);
        match family {
            Family::IPV4_UNICAST => prefix::decode_ipv4_list(withdrawn)
                .map(MpUnreachNlri::Ipv4Unicast)
                .ok_or("IPv4 withdrawn routes do not parse"),
            Family::IPV6_UNICAST => prefix::decode_ipv6_list(withdrawn)
                .map(MpUnreachNlri::Ipv6Unicast)
                .ok_or("IPv6 withdrawn routes do not parse"),
            _ => Ok(MpUnreachNlri::Unknown {
                family,
                nlri: withdrawn.to_vec(),
            }),
        }
    }
}
