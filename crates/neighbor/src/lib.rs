//! Layer 2 mode, sans-IO: answers ARP (IPv4, RFC 826) and IPv6 Neighbor Solicitations
//! (RFC 4861) for the Service addresses this node owns, and announces an address when the node
//! becomes its owner (gratuitous ARP, unsolicited Neighbor Advertisements).
//!
//! - [`packet`]: the wire codecs (Ethernet II with an optional 802.1Q tag, ARP, the IPv6 header,
//!   ICMPv6 Neighbor Solicitation and Advertisement), with the RFC layouts drawn beside them.
//! - [`responder`]: the [`Responder`]: what is owned where, which frames get which answer, the
//!   announcement schedule and the transmit queue.
//! - [`router`]: router discovery for BGP unnumbered ([`router::RouterDiscovery`]): the
//!   router's link-local address from its Router Advertisements, and ours advertised to it.
//! - [`counters`]: per-address counters (MetalLB's `metallb_layer2_*` metrics) and the typed
//!   reasons a frame was dropped.
//!
//! No sockets, no clock: whole Ethernet frames and `now` go in, whole Ethernet frames and
//! deadlines come out. The driver (AF_PACKET sockets) lives elsewhere; it must receive the
//! Ethernet multicast groups of [`Responder::multicast_macs`] (the solicited-node groups of the
//! owned IPv6 addresses), as MetalLB joins them, or Neighbor Solicitations never reach it.
//!
//! # Behaviour, and where it differs from MetalLB
//!
//! The behaviour is MetalLB's (`internal/layer2`: `arp.go`, `ndp.go`, `announcer.go`), except:
//!
//! - **Override = 1 on solicited Neighbor Advertisements.** MetalLB sets Override only on
//!   unsolicited ones. After a failover a client may still hold an entry for the address
//!   pointing at the old owner's MAC; with Override = 0 it keeps that entry (RFC 4861 §7.2.5:
//!   a REACHABLE entry is not updated), so the client keeps talking to the old node until its
//!   entry ages out. With Override = 1 it replaces the entry at once. (Checked on Linux 6.18
//!   in two network namespaces: an entry REACHABLE at the old MAC stays at the old MAC, STALE,
//!   after a solicited advertisement with Override = 0, and moves to the new MAC, REACHABLE,
//!   with Override = 1.)
//! - **Duplicate Address Detection is answered** (RFC 4861 §7.2.4: Solicited = 0, to all-nodes
//!   `ff02::1`). MetalLB drops every solicitation without a Source Link-Layer Address option,
//!   and a DAD solicitation never has one, so it never defends an address it owns.
//! - **A unicast solicitation without a Source Link-Layer Address option** (allowed for
//!   Neighbor Unreachability Detection) is answered to the frame's source MAC; MetalLB drops it.
//! - **Advertisements come from the target address**, not from the interface's link-local
//!   address as MetalLB's ICMPv6 socket sends them: this core does not know the link-local
//!   address, and RFC 4861 only asks for an address assigned to the interface, which the
//!   Service address is while this node owns it.
//! - **Each (interface, address) pair has its own announcement schedule**: at once, then every
//!   1.1 s until 5 s have passed (0, 1.1, 2.2, 3.3, 4.4 s). MetalLB runs one 1.1 s ticker for all
//!   addresses, so an address taken while the ticker runs is re-announced at the shared ticks.
//!   An address already owned is not announced again when the ownership set is replaced
//!   (MetalLB extends its 5 s instead); a pair whose interface changed MAC is announced again,
//!   since every neighbour's entry for it is now wrong.
//! - **Answers keep the request's 802.1Q tag**, so a request seen tagged on a parent interface
//!   is answered on its VLAN, not on the native one.
//! - **Checks the kernel made for MetalLB are made here**: frames from our own MAC are ignored
//!   (an AF_PACKET socket may see what we send); a solicitation must be addressed to its target
//!   or the target's solicited-node group, in a frame sent to our MAC or to that group's MAC.
//! - **A requester whose link-layer address is multicast, broadcast or zero is not answered**,
//!   so a forged request cannot make us broadcast.
//! - **Counters of an address are removed when it is owned nowhere any more**, so the metrics
//!   do not grow for ever; owned again, it starts from zero (a counter reset, which Prometheus'
//!   `rate` handles). MetalLB keeps every label it ever created.
//! - **The transmit queue is bounded** ([`responder::TRANSMIT_QUEUE_LIMIT`]): a driver that stops
//!   polling cannot make memory grow; answers past the limit are dropped and counted.

pub mod counters;
pub mod packet;
pub mod responder;
pub mod router;

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

pub use counters::{AddressCounters, Counters, DropReason};
pub use responder::Responder;

/// An interface, by its kernel index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InterfaceId(pub u32);

/// A MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Mac = Mac([0xff; 6]);
    /// `00:00:00:00:00:00`.
    pub const ZERO: Mac = Mac([0; 6]);
    /// `33:33:00:00:00:01`: the MAC of the all-nodes group `ff02::1`.
    pub const ALL_NODES: Mac = Mac([0x33, 0x33, 0, 0, 0, 1]);

    /// Whether the group bit is set (multicast, broadcast included).
    pub fn is_multicast(self) -> bool {
        self.0[0] & 1 != 0
    }

    /// Whether it can be the address of one station: not multicast, not all zeros.
    pub fn is_unicast(self) -> bool {
        !self.is_multicast() && self != Mac::ZERO
    }

    /// The Ethernet group address an IPv6 multicast address is sent to (RFC 2464 §7):
    /// `33:33` followed by the address's last four bytes.
    pub fn ipv6_multicast(group: Ipv6Addr) -> Mac {
        let octets = group.octets();
        Mac([0x33, 0x33, octets[12], octets[13], octets[14], octets[15]])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// What the node answers for on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The interface's MAC: the source of everything sent on it, and the answer to every request.
    pub mac: Mac,
    /// The Service addresses owned on this interface.
    pub addresses: BTreeSet<IpAddr>,
}

/// The solicited-node multicast address of `address` (RFC 4291 §2.7.1): `ff02::1:ff00:0/104`
/// followed by the address's last three bytes. Neighbor Solicitations for `address` that are
/// not unicast are sent there.
pub fn solicited_node_multicast(address: Ipv6Addr) -> Ipv6Addr {
    let octets = address.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, octets[13], octets[14], octets[15],
    ])
}

/// `ff02::1`, the all-nodes multicast address.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicited_node_address_and_its_mac_rfc4291_rfc2464() {
        let address: Ipv6Addr = "2001:db8::4:1234:5678".parse().unwrap();
        let group = solicited_node_multicast(address);
        assert_eq!(group, "ff02::1:ff34:5678".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            Mac::ipv6_multicast(group),
            Mac([0x33, 0x33, 0xff, 0x34, 0x56, 0x78])
        );
        assert_eq!(Mac::ipv6_multicast(ALL_NODES), Mac::ALL_NODES);
    }

    #[test]
    fn mac_kinds_and_display() {
        assert!(Mac::BROADCAST.is_multicast());
        assert!(!Mac::ZERO.is_unicast());
        assert!(Mac([0x02, 0, 0, 0, 0, 1]).is_unicast());
        assert_eq!(
            Mac([0x02, 0xab, 0, 0, 0, 1]).to_string(),
            "02:ab:00:00:00:01"
        );
    }
}
