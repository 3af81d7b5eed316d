//! What the responder counts: per owned address, MetalLB's `metallb_layer2_requests_received`,
//! `responses_sent` and `gratuitous_sent` (label `ip`); per [`DropReason`], the frames it did
//! not answer. Counting a dropped frame is one array increment: no allocation, no lookup.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Why a received frame got no answer (or an answer was not sent). Each is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum DropReason {
    #[error("received on an interface the responder does not answer on")]
    UnknownInterface,
    #[error("shorter than its headers need")]
    Truncated,
    #[error("neither ARP nor IPv6 (after at most one 802.1Q tag)")]
    UnsupportedEthertype,
    #[error("sent from our own MAC")]
    FromSelf,
    #[error("Ethernet destination is not for us (broadcast, our MAC or the solicited group)")]
    EthernetDestination,
    #[error("ARP for another hardware or protocol type than Ethernet and IPv4")]
    ArpUnsupportedFormat,
    #[error("ARP operation is not a request")]
    ArpNotRequest,
    #[error("the requester's link-layer address is multicast, broadcast or zero")]
    InvalidRequesterAddress,
    #[error("IP version is not 6")]
    Ipv6Version,
    #[error("IPv6 extension header before ICMPv6")]
    Ipv6ExtensionHeader,
    #[error("IPv6 payload is not ICMPv6")]
    NotIcmpv6,
    #[error("ICMPv6 message is not a Neighbor Solicitation")]
    NotNeighborSolicitation,
    #[error("NDP message with a hop limit other than 255")]
    NdpHopLimit,
    #[error("NDP message with an ICMP code other than 0")]
    NdpCode,
    #[error("NDP message with a wrong ICMPv6 checksum")]
    NdpChecksum,
    #[error("NDP message shorter than 24 bytes")]
    NdpTooShort,
    #[error("NDP target address is multicast")]
    NdpTargetMulticast,
    #[error("NDP option of length zero or running past the message")]
    NdpOptionLength,
    #[error("solicitation from the unspecified address not sent to a solicited-node group")]
    NdpUnspecifiedSourceToUnicast,
    #[error("solicitation from the unspecified address with a source link-layer address option")]
    NdpUnspecifiedSourceWithLinkLayerAddress,
    #[error("solicited advertisement sent to a multicast address")]
    NdpSolicitedToMulticast,
    #[error("solicitation addressed neither to its target nor to its solicited-node group")]
    NdpDestination,
    #[error("target address owned on no interface")]
    NotOwned,
    #[error("target address owned, but on another interface")]
    OwnedOnOtherInterface,
    #[error("transmit queue full: the answer was not queued")]
    TransmitQueueFull,
}

impl DropReason {
    /// Every reason, in declaration order.
    pub const ALL: [DropReason; 25] = [
        DropReason::UnknownInterface,
        DropReason::Truncated,
        DropReason::UnsupportedEthertype,
        DropReason::FromSelf,
        DropReason::EthernetDestination,
        DropReason::ArpUnsupportedFormat,
        DropReason::ArpNotRequest,
        DropReason::InvalidRequesterAddress,
        DropReason::Ipv6Version,
        DropReason::Ipv6ExtensionHeader,
        DropReason::NotIcmpv6,
        DropReason::NotNeighborSolicitation,
        DropReason::NdpHopLimit,
        DropReason::NdpCode,
        DropReason::NdpChecksum,
        DropReason::NdpTooShort,
        DropReason::NdpTargetMulticast,
        DropReason::NdpOptionLength,
        DropReason::NdpUnspecifiedSourceToUnicast,
        DropReason::NdpUnspecifiedSourceWithLinkLayerAddress,
        DropReason::NdpSolicitedToMulticast,
        DropReason::NdpDestination,
        DropReason::NotOwned,
        DropReason::OwnedOnOtherInterface,
        DropReason::TransmitQueueFull,
    ];

    /// A short snake_case name, for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownInterface => "unknown_interface",
            DropReason::Truncated => "truncated",
            DropReason::UnsupportedEthertype => "unsupported_ethertype",
            DropReason::FromSelf => "from_self",
            DropReason::EthernetDestination => "ethernet_destination",
            DropReason::ArpUnsupportedFormat => "arp_unsupported_format",
            DropReason::ArpNotRequest => "arp_not_request",
            DropReason::InvalidRequesterAddress => "invalid_requester_address",
            DropReason::Ipv6Version => "ipv6_version",
            DropReason::Ipv6ExtensionHeader => "ipv6_extension_header",
            DropReason::NotIcmpv6 => "not_icmpv6",
            DropReason::NotNeighborSolicitation => "not_neighbor_solicitation",
            DropReason::NdpHopLimit => "ndp_hop_limit",
            DropReason::NdpCode => "ndp_code",
            DropReason::NdpChecksum => "ndp_checksum",
            DropReason::NdpTooShort => "ndp_too_short",
            DropReason::NdpTargetMulticast => "ndp_target_multicast",
            DropReason::NdpOptionLength => "ndp_option_length",
            DropReason::NdpUnspecifiedSourceToUnicast => "ndp_unspecified_source_to_unicast",
            DropReason::NdpUnspecifiedSourceWithLinkLayerAddress => {
                "ndp_unspecified_source_with_link_layer_address"
            }
            DropReason::NdpSolicitedToMulticast => "ndp_solicited_to_multicast",
            DropReason::NdpDestination => "ndp_destination",
            DropReason::NotOwned => "not_owned",
            DropReason::OwnedOnOtherInterface => "owned_on_other_interface",
            DropReason::TransmitQueueFull => "transmit_queue_full",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters for one owned address (MetalLB's `metallb_layer2_*{ip="…"}`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressCounters {
    /// Requests (ARP requests, Neighbor Solicitations) for the address, received on an
    /// interface that owns it.
    pub requests_received: u64,
    /// Answers to those requests handed to the driver.
    pub responses_sent: u64,
    /// Gratuitous frames handed to the driver: two per announcement for IPv4 (a request and a
    /// reply, as MetalLB sends), one for IPv6, on each owning interface.
    pub gratuitous_sent: u64,
}

/// Everything the responder counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    addresses: BTreeMap<IpAddr, AddressCounters>,
    dropped: [u64; DropReason::ALL.len()],
}

impl Counters {
    /// The counters of an owned address; `None` once it is owned on no interface.
    pub fn address(&self, address: IpAddr) -> Option<&AddressCounters> {
        self.addresses.get(&address)
    }

    /// The counters of every owned address, in address order.
    pub fn addresses(&self) -> impl Iterator<Item = (IpAddr, &AddressCounters)> {
        self.addresses
            .iter()
            .map(|(address, counters)| (*address, counters))
    }

    /// Frames dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Frames dropped, for every reason (zeros included), in [`DropReason::ALL`]'s order.
    pub fn dropped_by_reason(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|reason| (*reason, self.dropped[reason.index()]))
    }

    /// Frames dropped, all reasons together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    pub(crate) fn drop(&mut self, reason: DropReason) {
        self.dropped[reason.index()] += 1;
    }

    pub(crate) fn address_mut(&mut self, address: IpAddr) -> Option<&mut AddressCounters> {
        self.addresses.get_mut(&address)
    }

    /// Whether the address is owned on some interface (it has counters exactly then).
    pub(crate) fn is_owned(&self, address: IpAddr) -> bool {
        self.addresses.contains_key(&address)
    }

    /// Keeps the entries of `owned`, adds missing ones at zero, removes the others.
    pub(crate) fn retain_addresses(&mut self, owned: &std::collections::BTreeSet<IpAddr>) {
        self.addresses.retain(|address, _| owned.contains(address));
        for address in owned {
            self.addresses.entry(*address).or_default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_listed_once_at_its_index() {
        for (index, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), index, "{reason:?}");
        }
        let names: std::collections::BTreeSet<_> =
            DropReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), DropReason::ALL.len());
    }
}
