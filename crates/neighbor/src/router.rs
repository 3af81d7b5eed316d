//! Router discovery for BGP unnumbered, sans-IO: on one interface, find the router's IPv6
//! link-local address from its Router Advertisements, and advertise ours so the router finds
//! us.
//!
//! A router running FRR with `neighbor eth0 interface` learns its neighbour's address only
//! from the Router Advertisements it receives on the interface (zebra's `rtadv.c` hands bgpd
//! the link-local source of any RA that comes with hop limit 255 and a link-local source), and
//! sends its own. So [`RouterDiscovery`]:
//!
//! - sends a Router Solicitation and a Router Advertisement at once, then an advertisement
//!   every [`RouterDiscovery::interval`] (10 s by default, FRR's interval towards unnumbered
//!   neighbours), from the interface's link-local address to all-nodes (`ff02::1`), hop limit
//!   255, with **router lifetime 0**: the router must not take the node as its default router,
//!   and no other field asks anything of it (hop limit, reachable time and retransmit timer
//!   unspecified, no prefixes);
//! - takes as the router's address the link-local source of the last valid Router
//!   Advertisement received (RFC 4861 §6.1.2: hop limit 255, code 0, checksum, sound options;
//!   and the source link-local) that is not our own.
//!
//! Frames in, frames and deadlines out: the driver owns the packet socket.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::packet::ethernet::{self, EthernetHeader};
use crate::packet::ndp::{self, Ipv6Header, icmpv6_checksum};
use crate::packet::{Frame, NdpMessage, Payload, RouterAdvertisement};
use crate::{ALL_NODES, DropReason, Mac};

/// `ff02::2`, the all-routers multicast address.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// ICMPv6 type of a Router Solicitation (RFC 4861 §4.1).
pub const ROUTER_SOLICITATION: u8 = 133;
/// Default time between our Router Advertisements.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// What a received frame changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// A router advertised from this link-local address, which differs from the one known
    /// before (or none was).
    NewRouter(Ipv6Addr),
    /// An advertisement from the router already known.
    SameRouter,
    /// Not a Router Advertisement we take: our own, from a source that is not link-local, or
    /// not an RA at all.
    Ignored(Option<DropReason>),
}

/// Router discovery on one interface.
#[derive(Clone, Debug)]
pub struct RouterDiscovery {
    mac: Mac,
    link_local: Ipv6Addr,
    interval: Duration,
    /// When the next advertisement is due; `None`: at once (with a solicitation).
    next_advertisement: Option<Instant>,
    solicited: bool,
    router: Option<Ipv6Addr>,
    last_heard: Option<Instant>,
}

impl RouterDiscovery {
    /// Discovery from `link_local` (the interface's link-local address) and `mac`, advertising
    /// every `interval`.
    pub fn new(mac: Mac, link_local: Ipv6Addr, interval: Duration) -> Self {
        RouterDiscovery {
            mac,
            link_local,
            interval: interval.max(Duration::from_millis(100)),
            next_advertisement: None,
            solicited: false,
            router: None,
            last_heard: None,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Our link-local address.
    pub fn link_local(&self) -> Ipv6Addr {
        self.link_local
    }

    /// The router's link-local address, once one advertised.
    pub fn router(&self) -> Option<Ipv6Addr> {
        self.router
    }

    /// When the router last advertised.
    pub fn last_heard(&self) -> Option<Instant> {
        self.last_heard
    }

    /// A frame received on the interface.
    pub fn handle_frame(&mut self, frame: &[u8], now: Instant) -> Received {
        let frame = match Frame::decode(frame) {
            Ok(frame) => frame,
            Err(reason) => return Received::Ignored(Some(reason)),
        };
        let Payload::Ndp {
            ip,
            message: NdpMessage::RouterAdvertisement(_),
        } = frame.payload
        else {
            return Received::Ignored(None);
        };
        if frame.source == self.mac
            || ip.source == self.link_local
            || !ip.source.is_unicast_link_local()
        {
            return Received::Ignored(None);
        }
        self.last_heard = Some(now);
        if self.router == Some(ip.source) {
            Received::SameRouter
        } else {
            self.router = Some(ip.source);
            Received::NewRouter(ip.source)
        }
    }

    /// The next frame to send, if one is due at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if !self.solicited {
            self.solicited = true;
            return Some(self.solicitation());
        }
        match self.next_advertisement {
            Some(due) if due > now => None,
            _ => {
                self.next_advertisement = Some(now + self.interval);
                Some(self.advertisement())
            }
        }
    }

    /// When [`RouterDiscovery::poll_transmit`] next has something.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_advertisement
    }

    /// Our Router Advertisement: router lifetime 0, nothing else asked of the router.
    pub fn advertisement(&self) -> Vec<u8> {
        Frame {
            destination: Mac::ipv6_multicast(ALL_NODES),
            source: self.mac,
            vlan: None,
            payload: Payload::Ndp {
                ip: Ipv6Header::neighbor_discovery(self.link_local, ALL_NODES),
                message: NdpMessage::RouterAdvertisement(RouterAdvertisement {
                    current_hop_limit: 0,
                    managed: false,
                    other: false,
                    router_lifetime: 0,
                    reachable_time: 0,
                    retransmit_timer: 0,
                    source_link_layer_address: Some(self.mac),
                }),
            },
        }
        .to_bytes()
    }

    /// A Router Solicitation (RFC 4861 §4.1) to all-routers, so the router advertises now
    /// rather than at its next interval.
    ///
    /// ```text
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |     Type      |     Code      |          Checksum             |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |                            Reserved                           |
    /// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    /// |   Options ...
    /// ```
    pub fn solicitation(&self) -> Vec<u8> {
        let mut message = vec![ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
        message.extend_from_slice(&[ndp::OPTION_SOURCE_LINK_LAYER_ADDRESS, 1]);
        message.extend_from_slice(&self.mac.0);
        let checksum = icmpv6_checksum(self.link_local, ALL_ROUTERS, &message);
        message[2..4].copy_from_slice(&checksum.to_be_bytes());
        let mut frame = Vec::with_capacity(ethernet::HEADER_LENGTH + ndp::HEADER_LENGTH + 16);
        EthernetHeader {
            destination: Mac::ipv6_multicast(ALL_ROUTERS),
            source: self.mac,
            vlan: None,
            ethertype: ethernet::ETHERTYPE_IPV6,
        }
        .encode(&mut frame);
        // 16 octets: always fits.
        let length = u16::try_from(message.len()).unwrap_or(u16::MAX);
        Ipv6Header::neighbor_discovery(self.link_local, ALL_ROUTERS).encode(
            ndp::NEXT_HEADER_ICMPV6,
            length,
            &mut frame,
        );
        frame.extend_from_slice(&message);
        frame
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: Mac = Mac([2, 0, 0, 0, 0, 2]);
    const ROUTER: Mac = Mac([2, 0, 0, 0, 0, 1]);

    fn address(text: &str) -> Ipv6Addr {
        text.parse().unwrap()
    }

    fn advertisement_from(mac: Mac, source: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
        let mut ip = Ipv6Header::neighbor_discovery(source, ALL_NODES);
        ip.hop_limit = hop_limit;
        Frame {
            destination: Mac::ipv6_multicast(ALL_NODES),
            source: mac,
            vlan: None,
            payload: Payload::Ndp {
                ip,
                message: NdpMessage::RouterAdvertisement(RouterAdvertisement {
                    current_hop_limit: 64,
                    managed: false,
                    other: false,
                    router_lifetime: 1800,
                    reachable_time: 0,
                    retransmit_timer: 0,
                    source_link_layer_address: Some(mac),
                }),
            },
        }
        .to_bytes()
    }

    #[test]
    fn solicits_and_advertises_at_once_then_every_interval_with_router_lifetime_zero() {
        let start = Instant::now();
        let mut discovery = RouterDiscovery::new(OURS, address("fe80::2"), DEFAULT_INTERVAL);
        let solicitation = discovery.poll_transmit(start).unwrap();
        // Ethernet to 33:33:00:00:00:02, IPv6 hop limit 255 to ff02::2, ICMPv6 type 133.
        assert_eq!(solicitation[..6], [0x33, 0x33, 0, 0, 0, 2]);
        assert_eq!(solicitation[21], 255);
        assert_eq!(solicitation[38..54], ALL_ROUTERS.octets());
        assert_eq!(solicitation[54], ROUTER_SOLICITATION);
        let header = Ipv6Header::neighbor_discovery(address("fe80::2"), ALL_ROUTERS);
        assert_eq!(
            icmpv6_checksum(header.source, header.destination, &solicitation[54..]),
            0
        );

        let advertisement = discovery.poll_transmit(start).unwrap();
        let frame = Frame::decode(&advertisement).unwrap();
        let Payload::Ndp {
            ip,
            message: NdpMessage::RouterAdvertisement(ra),
        } = frame.payload
        else {
            panic!("{frame:?}");
        };
        assert_eq!(frame.destination, Mac::ALL_NODES);
        assert_eq!(frame.source, OURS);
        assert_eq!(
            (ip.source, ip.destination, ip.hop_limit),
            (address("fe80::2"), ALL_NODES, 255)
        );
        assert_eq!(ra.router_lifetime, 0);
        assert_eq!(ra.source_link_layer_address, Some(OURS));

        assert_eq!(discovery.poll_transmit(start), None);
        assert_eq!(discovery.poll_timeout(), Some(start + DEFAULT_INTERVAL));
        assert_eq!(
            discovery.poll_transmit(start + Duration::from_secs(9)),
            None
        );
        assert!(discovery.poll_transmit(start + DEFAULT_INTERVAL).is_some());
        assert_eq!(discovery.poll_timeout(), Some(start + 2 * DEFAULT_INTERVAL));
    }

    #[test]
    fn learns_the_routers_link_local_from_valid_advertisements_only() {
        let now = Instant::now();
        let mut discovery = RouterDiscovery::new(OURS, address("fe80::2"), DEFAULT_INTERVAL);
        // Forwarded (hop limit 254), from a global address, our own, garbage: ignored.
        for frame in [
            advertisement_from(ROUTER, address("fe80::1"), 254),
            advertisement_from(ROUTER, address("2001:db8:ffff::1"), 255),
            advertisement_from(OURS, address("fe80::2"), 255),
            discovery.advertisement(),
            vec![0xff; 7],
            Vec::new(),
        ] {
            assert!(matches!(
                discovery.handle_frame(&frame, now),
                Received::Ignored(_)
            ));
        }
        assert_eq!(discovery.router(), None);

        let from_router = advertisement_from(ROUTER, address("fe80::1"), 255);
        assert_eq!(
            discovery.handle_frame(&from_router, now),
            Received::NewRouter(address("fe80::1"))
        );
        assert_eq!(
            discovery.handle_frame(&from_router, now),
            Received::SameRouter
        );
        assert_eq!(discovery.router(), Some(address("fe80::1")));
        assert_eq!(discovery.last_heard(), Some(now));
        // The router was replaced (another link-local): the new one is taken.
        let replaced = advertisement_from(Mac([2, 0, 0, 0, 0, 9]), address("fe80::9"), 255);
        assert_eq!(
            discovery.handle_frame(&replaced, now),
            Received::NewRouter(address("fe80::9"))
        );
    }
}
