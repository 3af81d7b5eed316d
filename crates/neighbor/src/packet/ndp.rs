//! IPv6 Neighbor Discovery (RFC 4861) as far as Layer 2 mode and BGP unnumbered need it: the
//! IPv6 header (RFC 8200 §3), the ICMPv6 checksum (RFC 4443 §2.3 over the pseudo-header of
//! RFC 8200 §8.1), Neighbor Solicitation (§4.3) and Neighbor Advertisement (§4.4) with their
//! link-layer address options (§4.6.1), and the validity checks of §7.1.1 and §7.1.2; Router
//! Advertisement (§4.2) with its source link-layer address option and the checks of §6.1.2
//! that need no more than the packet (the source being link-local is the caller's to check).
//!
//! Router Advertisement (type 134, RFC 4861 §4.2):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Cur Hop Limit |M|O|  Reserved |       Router Lifetime         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Reachable Time                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Retrans Timer                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Options ...
//! +-+-+-+-+-+-+-+-+-+-+-+-
//! ```
//!
//! IPv6 header (RFC 8200 §3), 40 octets:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                    Source Address (16 octets)                 +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                 Destination Address (16 octets)               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Neighbor Solicitation (type 135, RFC 4861 §4.3) and Neighbor Advertisement (type 136, §4.4):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           Reserved                            |  Solicitation
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |R|S|O|                     Reserved                            |  Advertisement
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                    Target Address (16 octets)                 +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Options ...
//! +-+-+-+-+-+-+-+-+-+-+-+-
//! ```
//!
//! Source (type 1) and Target (type 2) Link-Layer Address options (§4.6.1); Length counts units
//! of 8 octets, and is 1 for an Ethernet address (RFC 2464 §6):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |    Link-Layer Address ...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The checksum covers this pseudo-header (RFC 8200 §8.1) followed by the ICMPv6 message:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Source Address (16 octets)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Destination Address (16 octets)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Upper-Layer Packet Length                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      zero                     |  Next Header  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::Ipv6Addr;

use crate::counters::DropReason;
use crate::{Mac, solicited_node_multicast};

/// Length of the IPv6 header.
pub const HEADER_LENGTH: usize = 40;
/// Next Header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// ICMPv6 type of a Neighbor Solicitation.
pub const NEIGHBOR_SOLICITATION: u8 = 135;
/// ICMPv6 type of a Neighbor Advertisement.
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// ICMPv6 type of a Router Advertisement.
pub const ROUTER_ADVERTISEMENT: u8 = 134;
/// Length of a Router Advertisement without options.
pub const ROUTER_ADVERTISEMENT_MINIMUM_LENGTH: usize = 16;
/// Option type of a Source Link-Layer Address.
pub const OPTION_SOURCE_LINK_LAYER_ADDRESS: u8 = 1;
/// Option type of a Target Link-Layer Address.
pub const OPTION_TARGET_LINK_LAYER_ADDRESS: u8 = 2;
/// Hop limit of every Neighbor Discovery message (RFC 4861 §7.1): it proves the sender is on
/// the link, since a router would have decremented it.
pub const HOP_LIMIT: u8 = 255;
/// Length of a Solicitation or Advertisement without options.
pub const MESSAGE_MINIMUM_LENGTH: usize = 24;

/// Whether a Next Header value is an IPv6 extension header (RFC 8200 §4 and the IANA
/// "IPv6 Extension Header Types" registry): Hop-by-Hop, Routing, Fragment, ESP, AH,
/// Destination Options, Mobility, HIP, Shim6 and the two experimental values.
pub fn is_extension_header(next_header: u8) -> bool {
    matches!(
        next_header,
        0 | 43 | 44 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254
    )
}

/// The fields of an IPv6 header that a Neighbor Discovery exchange carries. Payload Length and
/// Next Header follow from what is encoded after the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Header {
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    pub hop_limit: u8,
    pub source: Ipv6Addr,
    pub destination: Ipv6Addr,
}

impl Ipv6Header {
    /// A header for a Neighbor Discovery message: traffic class 0, no flow label, hop limit 255.
    pub fn neighbor_discovery(source: Ipv6Addr, destination: Ipv6Addr) -> Ipv6Header {
        Ipv6Header {
            traffic_class: 0,
            flow_label: 0,
            hop_limit: HOP_LIMIT,
            source,
            destination,
        }
    }

    /// Decodes the header of an IPv6 packet; returns it, its Next Header and the
    /// Payload Length octets after it. Octets after those (Ethernet padding) are ignored.
    pub fn decode(packet: &[u8]) -> Result<(Ipv6Header, u8, &[u8]), DropReason> {
        let Some((header, rest)) = packet.split_first_chunk::<HEADER_LENGTH>() else {
            return Err(DropReason::Truncated);
        };
        if header[0] >> 4 != 6 {
            return Err(DropReason::Ipv6Version);
        }
        let payload_length = usize::from(u16::from_be_bytes([header[4], header[5]]));
        let Some(payload) = rest.get(..payload_length) else {
            return Err(DropReason::Truncated);
        };
        let mut source = [0; 16];
        source.copy_from_slice(&header[8..24]);
        let mut destination = [0; 16];
        destination.copy_from_slice(&header[24..40]);
        let first_word = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        Ok((
            Ipv6Header {
                traffic_class: (first_word >> 20) as u8,
                flow_label: first_word & 0x000f_ffff,
                hop_limit: header[7],
                source: Ipv6Addr::from(source),
                destination: Ipv6Addr::from(destination),
            },
            header[6],
            payload,
        ))
    }

    /// Appends the 40 octets (infallible).
    pub fn encode(&self, next_header: u8, payload_length: u16, buffer: &mut Vec<u8>) {
        let first_word =
            (6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        buffer.extend_from_slice(&first_word.to_be_bytes());
        buffer.extend_from_slice(&payload_length.to_be_bytes());
        buffer.extend_from_slice(&[next_header, self.hop_limit]);
        buffer.extend_from_slice(&self.source.octets());
        buffer.extend_from_slice(&self.destination.octets());
    }
}

/// The ICMPv6 checksum (RFC 4443 §2.3) of `message` between `source` and `destination`:
/// the one's complement of the one's complement sum of the pseudo-header and the message.
/// With the message's Checksum field zero, this is the value to write there; with the field
/// filled in, it is zero exactly when the field is right.
pub fn icmpv6_checksum(source: Ipv6Addr, destination: Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        let mut pairs = bytes.chunks_exact(2);
        for pair in &mut pairs {
            sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
        }
        if let [last] = pairs.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    };
    add(&source.octets());
    add(&destination.octets());
    add(&(message.len() as u32).to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(message);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A Neighbor Solicitation (RFC 4861 §4.3). Options other than the Source Link-Layer Address
/// (a nonce, for instance) are skipped on decoding, as §4.3 asks, and not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborSolicitation {
    /// The address whose link-layer address is asked for.
    pub target: Ipv6Addr,
    /// The sender's link-layer address (the first Source Link-Layer Address option).
    pub source_link_layer_address: Option<Mac>,
}

/// A Neighbor Advertisement (RFC 4861 §4.4). Options other than the Target Link-Layer Address
/// are skipped on decoding and not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborAdvertisement {
    /// R: the sender is a router.
    pub router: bool,
    /// S: an answer to a solicitation.
    pub solicited: bool,
    /// O: the receiver should replace a cached link-layer address.
    pub override_: bool,
    /// The address advertised.
    pub target: Ipv6Addr,
    /// The target's link-layer address (the first Target Link-Layer Address option).
    pub target_link_layer_address: Option<Mac>,
}

/// The checks common to §7.1.1 and §7.1.2: hop limit, length, code, checksum, target not
/// multicast, options of nonzero length. Returns the target and the first link-layer address
/// option of type `option_type` (with `seen`: whether any option of that type was present).
/// A Router Advertisement (RFC 4861 §4.2). Options other than the source link-layer address
/// (prefixes, MTU, ...) are skipped on receipt and not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterAdvertisement {
    /// Hop limit the router suggests to hosts (0: unspecified).
    pub current_hop_limit: u8,
    /// M: addresses from DHCPv6.
    pub managed: bool,
    /// O: other configuration from DHCPv6.
    pub other: bool,
    /// Seconds hosts may use the sender as default router; 0: not a default router.
    pub router_lifetime: u16,
    /// Milliseconds (0: unspecified).
    pub reachable_time: u32,
    /// Milliseconds (0: unspecified).
    pub retransmit_timer: u32,
    pub source_link_layer_address: Option<Mac>,
}

impl RouterAdvertisement {
    /// Decodes and checks a Router Advertisement (RFC 4861 §6.1.2: hop limit 255, code 0,
    /// checksum, at least 16 octets, options of non-zero length within the message).
    pub fn decode(header: &Ipv6Header, message: &[u8]) -> Result<RouterAdvertisement, DropReason> {
        if header.hop_limit != HOP_LIMIT {
            return Err(DropReason::NdpHopLimit);
        }
        let Some(fixed) = message.get(..ROUTER_ADVERTISEMENT_MINIMUM_LENGTH) else {
            return Err(DropReason::NdpTooShort);
        };
        if fixed[1] != 0 {
            return Err(DropReason::NdpCode);
        }
        if icmpv6_checksum(header.source, header.destination, message) != 0 {
            return Err(DropReason::NdpChecksum);
        }
        let word = |at: usize| {
            u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]])
        };
        let (source_link_layer_address, _) = walk_options(
            &message[ROUTER_ADVERTISEMENT_MINIMUM_LENGTH..],
            OPTION_SOURCE_LINK_LAYER_ADDRESS,
        )?;
        Ok(RouterAdvertisement {
            current_hop_limit: fixed[4],
            managed: fixed[5] & 0x80 != 0,
            other: fixed[5] & 0x40 != 0,
            router_lifetime: u16::from_be_bytes([fixed[6], fixed[7]]),
            reachable_time: word(8),
            retransmit_timer: word(12),
            source_link_layer_address,
        })
    }

    /// Appends the message, checksum included.
    pub fn encode(&self, header: &Ipv6Header, buffer: &mut Vec<u8>) {
        let start = buffer.len();
        let flags = (u8::from(self.managed) << 7) | (u8::from(self.other) << 6);
        buffer.extend_from_slice(&[ROUTER_ADVERTISEMENT, 0, 0, 0, self.current_hop_limit, flags]);
        buffer.extend_from_slice(&self.router_lifetime.to_be_bytes());
        buffer.extend_from_slice(&self.reachable_time.to_be_bytes());
        buffer.extend_from_slice(&self.retransmit_timer.to_be_bytes());
        if let Some(mac) = self.source_link_layer_address {
            buffer.extend_from_slice(&[OPTION_SOURCE_LINK_LAYER_ADDRESS, 1]);
            buffer.extend_from_slice(&mac.0);
        }
        let checksum = icmpv6_checksum(header.source, header.destination, &buffer[start..]);
        buffer[start + 2..start + 4].copy_from_slice(&checksum.to_be_bytes());
    }
}

/// Walks the options (RFC 4861 §4.6): the first Ethernet address of `option_type`, and
/// whether any option of that type came. An option of length 0 or past the end is an error.
fn walk_options(mut options: &[u8], option_type: u8) -> Result<(Option<Mac>, bool), DropReason> {
    let mut link_layer_address = None;
    let mut seen = false;
    while !options.is_empty() {
        let [kind, length, ..] = *options else {
            return Err(DropReason::NdpOptionLength);
        };
        let length = usize::from(length) * 8;
        if length == 0 || length > options.len() {
            return Err(DropReason::NdpOptionLength);
        }
        if kind == option_type {
            seen = true;
            // An Ethernet address fills exactly one 8-octet unit (RFC 2464 §6).
            if length == 8 && link_layer_address.is_none() {
                let mut mac = [0; 6];
                mac.copy_from_slice(&options[2..8]);
                link_layer_address = Some(Mac(mac));
            }
        }
        options = &options[length..];
    }
    Ok((link_layer_address, seen))
}

fn validate(
    header: &Ipv6Header,
    message: &[u8],
    option_type: u8,
) -> Result<(Ipv6Addr, Option<Mac>, bool), DropReason> {
    if header.hop_limit != HOP_LIMIT {
        return Err(DropReason::NdpHopLimit);
    }
    if message.len() < MESSAGE_MINIMUM_LENGTH {
        return Err(DropReason::NdpTooShort);
    }
    if message[1] != 0 {
        return Err(DropReason::NdpCode);
    }
    if icmpv6_checksum(header.source, header.destination, message) != 0 {
        return Err(DropReason::NdpChecksum);
    }
    let mut target = [0; 16];
    target.copy_from_slice(&message[8..24]);
    let target = Ipv6Addr::from(target);
    if target.is_multicast() {
        return Err(DropReason::NdpTargetMulticast);
    }
    let (link_layer_address, seen) = walk_options(&message[MESSAGE_MINIMUM_LENGTH..], option_type)?;
    Ok((target, link_layer_address, seen))
}

fn encode_message(
    header: &Ipv6Header,
    kind: u8,
    flags: u8,
    target: Ipv6Addr,
    option: Option<(u8, Mac)>,
    buffer: &mut Vec<u8>,
) {
    let start = buffer.len();
    buffer.extend_from_slice(&[kind, 0, 0, 0, flags, 0, 0, 0]);
    buffer.extend_from_slice(&target.octets());
    if let Some((option_type, mac)) = option {
        buffer.extend_from_slice(&[option_type, 1]);
        buffer.extend_from_slice(&mac.0);
    }
    let checksum = icmpv6_checksum(header.source, header.destination, &buffer[start..]);
    buffer[start + 2..start + 4].copy_from_slice(&checksum.to_be_bytes());
}

impl NeighborSolicitation {
    /// Decodes the ICMPv6 message of a solicitation carried under `header`, with the checks of
    /// RFC 4861 §7.1.1 (the message's type is the caller's to check).
    pub fn decode(header: &Ipv6Header, message: &[u8]) -> Result<NeighborSolicitation, DropReason> {
        let (target, source_link_layer_address, seen) =
            validate(header, message, OPTION_SOURCE_LINK_LAYER_ADDRESS)?;
        if header.source.is_unspecified() {
            if header.destination != solicited_node_multicast(header.destination) {
                return Err(DropReason::NdpUnspecifiedSourceToUnicast);
            }
            if seen {
                return Err(DropReason::NdpUnspecifiedSourceWithLinkLayerAddress);
            }
        }
        Ok(NeighborSolicitation {
            target,
            source_link_layer_address,
        })
    }

    /// Appends the ICMPv6 message, checksum computed for `header`'s addresses (infallible).
    pub fn encode(&self, header: &Ipv6Header, buffer: &mut Vec<u8>) {
        encode_message(
            header,
            NEIGHBOR_SOLICITATION,
            0,
            self.target,
            self.source_link_layer_address
                .map(|mac| (OPTION_SOURCE_LINK_LAYER_ADDRESS, mac)),
            buffer,
        );
    }
}

impl NeighborAdvertisement {
    /// Decodes the ICMPv6 message of an advertisement carried under `header`, with the checks
    /// of RFC 4861 §7.1.2 (the message's type is the caller's to check).
    pub fn decode(
        header: &Ipv6Header,
        message: &[u8],
    ) -> Result<NeighborAdvertisement, DropReason> {
        let (target, target_link_layer_address, _) =
            validate(header, message, OPTION_TARGET_LINK_LAYER_ADDRESS)?;
        let flags = message[4];
        let solicited = flags & 0x40 != 0;
        if solicited && header.destination.is_multicast() {
            return Err(DropReason::NdpSolicitedToMulticast);
        }
        Ok(NeighborAdvertisement {
            router: flags & 0x80 != 0,
            solicited,
            override_: flags & 0x20 != 0,
            target,
            target_link_layer_address,
        })
    }

    /// Appends the ICMPv6 message, checksum computed for `header`'s addresses (infallible).
    pub fn encode(&self, header: &Ipv6Header, buffer: &mut Vec<u8>) {
        let flags = (u8::from(self.router) << 7)
            | (u8::from(self.solicited) << 6)
            | (u8::from(self.override_) << 5);
        encode_message(
            header,
            NEIGHBOR_ADVERTISEMENT,
            flags,
            self.target,
            self.target_link_layer_address
                .map(|mac| (OPTION_TARGET_LINK_LAYER_ADDRESS, mac)),
            buffer,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> Ipv6Addr {
        text.parse().unwrap()
    }

    fn solicitation_bytes(header: &Ipv6Header, solicitation: &NeighborSolicitation) -> Vec<u8> {
        let mut bytes = Vec::new();
        solicitation.encode(header, &mut bytes);
        bytes
    }

    #[test]
    fn checksum_of_rfc1071_example_words() {
        // RFC 1071 §3's example sums 0001 f203 f4f5 f6f7 to ddf2; here the same words follow a
        // pseudo-header of zeros (length 8, next header 58), adding 8 + 58 = 0x42.
        let zero = Ipv6Addr::UNSPECIFIED;
        let words = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(icmpv6_checksum(zero, zero, &words), !(0xddf2u16 + 0x42));
    }

    #[test]
    fn solicitation_checks_of_rfc4861_7_1_1() {
        let target = address("2001:db8::10");
        let group = solicited_node_multicast(target);
        let header = Ipv6Header::neighbor_discovery(address("2001:db8::1"), group);
        let solicitation = NeighborSolicitation {
            target,
            source_link_layer_address: Some(Mac([2, 0, 0, 0, 0, 1])),
        };
        let bytes = solicitation_bytes(&header, &solicitation);
        assert_eq!(
            NeighborSolicitation::decode(&header, &bytes),
            Ok(solicitation)
        );

        let forwarded = Ipv6Header {
            hop_limit: 254,
            ..header
        };
        assert_eq!(
            NeighborSolicitation::decode(&forwarded, &bytes),
            Err(DropReason::NdpHopLimit)
        );
        assert_eq!(
            NeighborSolicitation::decode(&header, &bytes[..23]),
            Err(DropReason::NdpTooShort)
        );
        let mut coded = bytes.clone();
        coded[1] = 1;
        assert_eq!(
            NeighborSolicitation::decode(&header, &coded),
            Err(DropReason::NdpCode)
        );
        let mut corrupted = bytes.clone();
        corrupted[20] ^= 0x10;
        assert_eq!(
            NeighborSolicitation::decode(&header, &corrupted),
            Err(DropReason::NdpChecksum)
        );
        let multicast = NeighborSolicitation {
            target: group,
            ..solicitation
        };
        assert_eq!(
            NeighborSolicitation::decode(&header, &solicitation_bytes(&header, &multicast)),
            Err(DropReason::NdpTargetMulticast)
        );

        let dad = Ipv6Header::neighbor_discovery(Ipv6Addr::UNSPECIFIED, group);
        let with_address = solicitation_bytes(&dad, &solicitation);
        assert_eq!(
            NeighborSolicitation::decode(&dad, &with_address),
            Err(DropReason::NdpUnspecifiedSourceWithLinkLayerAddress)
        );
        let plain = NeighborSolicitation {
            source_link_layer_address: None,
            ..solicitation
        };
        assert_eq!(
            NeighborSolicitation::decode(&dad, &solicitation_bytes(&dad, &plain)),
            Ok(plain)
        );
        let dad_unicast = Ipv6Header::neighbor_discovery(Ipv6Addr::UNSPECIFIED, target);
        assert_eq!(
            NeighborSolicitation::decode(&dad_unicast, &solicitation_bytes(&dad_unicast, &plain)),
            Err(DropReason::NdpUnspecifiedSourceToUnicast)
        );
    }

    #[test]
    fn options_of_length_zero_or_past_the_end_are_invalid() {
        let target = address("2001:db8::10");
        let header = Ipv6Header::neighbor_discovery(address("2001:db8::1"), target);
        let plain = NeighborSolicitation {
            target,
            source_link_layer_address: None,
        };
        for option in [
            &[1u8, 0, 0, 0, 0, 0, 0, 0][..],
            &[1, 2, 0, 0, 0, 0, 0, 0],
            &[1],
        ] {
            let mut bytes = solicitation_bytes(&header, &plain);
            bytes.extend_from_slice(option);
            bytes[2..4].copy_from_slice(&[0, 0]);
            let checksum = icmpv6_checksum(header.source, header.destination, &bytes);
            bytes[2..4].copy_from_slice(&checksum.to_be_bytes());
            assert_eq!(
                NeighborSolicitation::decode(&header, &bytes),
                Err(DropReason::NdpOptionLength),
                "{option:?}"
            );
        }
    }

    #[test]
    fn unknown_options_are_skipped_and_the_first_source_address_kept() {
        let target = address("2001:db8::10");
        let header = Ipv6Header::neighbor_discovery(address("2001:db8::1"), target);
        let mut bytes = solicitation_bytes(
            &header,
            &NeighborSolicitation {
                target,
                source_link_layer_address: None,
            },
        );
        // A nonce option (RFC 3971, type 14), then two source link-layer addresses.
        bytes.extend_from_slice(&[14, 1, 1, 2, 3, 4, 5, 6]);
        bytes.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 7]);
        bytes.extend_from_slice(&[1, 1, 2, 0, 0, 0, 0, 8]);
        bytes[2..4].copy_from_slice(&[0, 0]);
        let checksum = icmpv6_checksum(header.source, header.destination, &bytes);
        bytes[2..4].copy_from_slice(&checksum.to_be_bytes());
        assert_eq!(
            NeighborSolicitation::decode(&header, &bytes),
            Ok(NeighborSolicitation {
                target,
                source_link_layer_address: Some(Mac([2, 0, 0, 0, 0, 7])),
            })
        );
    }

    #[test]
    fn advertisement_checks_of_rfc4861_7_1_2() {
        let header = Ipv6Header::neighbor_discovery(address("2001:db8::10"), crate::ALL_NODES);
        let advertisement = NeighborAdvertisement {
            router: false,
            solicited: true,
            override_: true,
            target: address("2001:db8::10"),
            target_link_layer_address: Some(Mac([2, 0, 0, 0, 0, 2])),
        };
        let mut bytes = Vec::new();
        advertisement.encode(&header, &mut bytes);
        assert_eq!(
            NeighborAdvertisement::decode(&header, &bytes),
            Err(DropReason::NdpSolicitedToMulticast)
        );
        let unicast = Ipv6Header {
            destination: address("2001:db8::1"),
            ..header
        };
        let mut bytes = Vec::new();
        advertisement.encode(&unicast, &mut bytes);
        assert_eq!(
            NeighborAdvertisement::decode(&unicast, &bytes),
            Ok(advertisement)
        );
    }

    #[test]
    fn extension_headers_are_recognised() {
        for next_header in [0, 43, 44, 60] {
            assert!(is_extension_header(next_header));
        }
        for next_header in [6, 17, NEXT_HEADER_ICMPV6] {
            assert!(!is_extension_header(next_header));
        }
    }

    /// `message` with its checksum set again after an edit.
    fn checksummed(header: &Ipv6Header, mut message: Vec<u8>) -> Vec<u8> {
        message[2..4].copy_from_slice(&[0, 0]);
        let checksum = icmpv6_checksum(header.source, header.destination, &message);
        message[2..4].copy_from_slice(&checksum.to_be_bytes());
        message
    }

    #[test]
    fn router_advertisement_round_trips_and_is_checked_as_rfc4861_6_1_2_says() {
        let header = Ipv6Header::neighbor_discovery(address("fe80::1"), address("ff02::1"));
        let advertisement = RouterAdvertisement {
            current_hop_limit: 64,
            managed: false,
            other: true,
            router_lifetime: 0,
            reachable_time: 0,
            retransmit_timer: 0,
            source_link_layer_address: Some(Mac([2, 0, 0, 0, 0, 1])),
        };
        let mut bytes = Vec::new();
        advertisement.encode(&header, &mut bytes);
        assert_eq!(bytes.len(), 24);
        assert_eq!(bytes[..8], [134, 0, bytes[2], bytes[3], 64, 0x40, 0, 0]);
        assert_eq!(bytes[16..], [1, 1, 2, 0, 0, 0, 0, 1]);
        assert_eq!(
            RouterAdvertisement::decode(&header, &bytes),
            Ok(advertisement)
        );
        // An option it does not read (a prefix, 32 octets) is skipped.
        let mut with_prefix = bytes.clone();
        with_prefix.extend_from_slice(&[3, 4]);
        with_prefix.extend_from_slice(&[0; 30]);
        let with_prefix = checksummed(&header, with_prefix);
        assert_eq!(
            RouterAdvertisement::decode(&header, &with_prefix),
            Ok(advertisement)
        );

        let forwarded = Ipv6Header {
            hop_limit: 64,
            ..header
        };
        assert_eq!(
            RouterAdvertisement::decode(&forwarded, &bytes),
            Err(DropReason::NdpHopLimit)
        );
        assert_eq!(
            RouterAdvertisement::decode(&header, &bytes[..15]),
            Err(DropReason::NdpTooShort)
        );
        let mut corrupt = bytes.clone();
        corrupt[7] ^= 1;
        assert_eq!(
            RouterAdvertisement::decode(&header, &corrupt),
            Err(DropReason::NdpChecksum)
        );
        let mut coded = bytes.clone();
        coded[1] = 1;
        assert_eq!(
            RouterAdvertisement::decode(&header, &checksummed(&header, coded)),
            Err(DropReason::NdpCode)
        );
        let mut zero_option = bytes[..16].to_vec();
        zero_option.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            RouterAdvertisement::decode(&header, &checksummed(&header, zero_option)),
            Err(DropReason::NdpOptionLength)
        );
    }
}
