//! The Layer 2 responder, sans-IO: which Service addresses this node owns on which interface,
//! the answers to ARP requests and Neighbor Solicitations for them, and the announcements
//! (gratuitous ARP, unsolicited Neighbor Advertisements) when it becomes their owner.
//!
//! Inputs: the ownership set ([`Responder::set_interfaces`]) and received frames
//! ([`Responder::handle_frame`]). Outputs are pulled: [`Responder::poll_transmit`] for frames to
//! send, [`Responder::poll_timeout`] for when to call back. No sockets, no clock.
//!
//! A frame that gets no answer costs a few comparisons and one counter increment: nothing is
//! allocated and no state grows, so a flood of requests for other addresses is cheap.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::counters::{Counters, DropReason};
use crate::packet::ethernet::{self, EthernetHeader};
use crate::packet::{
    ArpPacket, Frame, Ipv6Header, NdpMessage, NeighborAdvertisement, NeighborSolicitation,
    Operation, Payload, decode_icmpv6, ndp,
};
use crate::{ALL_NODES, Interface, InterfaceId, Mac, solicited_node_multicast};

/// Time between two announcements of an address (MetalLB's 1100 ms, chosen in its issue 172
/// to stay clear of ARP rate limits of one a second).
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_millis(1100);
/// How long an address is announced after it becomes owned: at 0, 1.1, 2.2, 3.3 and 4.4 s.
pub const ANNOUNCE_DURATION: Duration = Duration::from_secs(5);
/// Answers waiting for the driver beyond this many are dropped
/// ([`DropReason::TransmitQueueFull`]). Announcements are not limited: there are at most two
/// per owned (interface, address) pair at a time.
pub const TRANSMIT_QUEUE_LIMIT: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Response,
    Gratuitous,
}

/// A frame waiting for [`Responder::poll_transmit`].
#[derive(Debug)]
struct Pending {
    interface: InterfaceId,
    /// The owned address the frame is about: it is purged when that ownership ends.
    address: IpAddr,
    /// The MAC it was built with: it is purged if the interface's MAC changes.
    mac: Mac,
    kind: Kind,
    queued_at: Instant,
    frame: Vec<u8>,
}

/// The announcement schedule of one (interface, address) pair.
#[derive(Clone, Copy, Debug)]
struct Announcement {
    next: Instant,
    until: Instant,
}

/// Answers ARP and Neighbor Solicitations for the owned addresses, and announces them.
#[derive(Debug, Default)]
pub struct Responder {
    interfaces: BTreeMap<InterfaceId, Interface>,
    announcements: BTreeMap<(InterfaceId, IpAddr), Announcement>,
    /// The earliest `next` of `announcements`.
    next_announcement: Option<Instant>,
    queue: VecDeque<Pending>,
    counters: Counters,
}

impl Responder {
    /// A responder that owns nothing.
    pub fn new() -> Self {
        Responder::default()
    }

    /// Replaces what is owned. Every (interface, address) pair not owned before is announced:
    /// gratuitous ARP (IPv4) or unsolicited NA (IPv6) at once, then every 1.1 s until 5 s have
    /// passed (MetalLB's schedule); pairs no longer owned stop being answered and announced at
    /// once (frames queued for them are discarded). A pair whose interface changed MAC counts
    /// as new. Counters of addresses owned nowhere any more are removed.
    pub fn set_interfaces(&mut self, interfaces: BTreeMap<InterfaceId, Interface>, now: Instant) {
        let mut announcements = BTreeMap::new();
        for (id, interface) in &interfaces {
            let before = self
                .interfaces
                .get(id)
                .filter(|before| before.mac == interface.mac);
            for address in &interface.addresses {
                let key = (*id, *address);
                let owned_before = before.is_some_and(|before| before.addresses.contains(address));
                let announcement = match self.announcements.get(&key) {
                    Some(running) if owned_before => *running,
                    _ if owned_before => continue,
                    _ => Announcement {
                        next: now,
                        until: now + ANNOUNCE_DURATION,
                    },
                };
                announcements.insert(key, announcement);
            }
        }
        self.announcements = announcements;
        self.next_announcement = self.announcements.values().map(|a| a.next).min();
        self.queue.retain(|pending| {
            interfaces.get(&pending.interface).is_some_and(|interface| {
                interface.mac == pending.mac && interface.addresses.contains(&pending.address)
            })
        });
        let owned: BTreeSet<IpAddr> = interfaces
            .values()
            .flat_map(|interface| interface.addresses.iter().copied())
            .collect();
        self.counters.retain_addresses(&owned);
        self.interfaces = interfaces;
    }

    /// Announces every owned (interface, address) pair again from `now`, on a new owner's
    /// schedule (at once, then every 1.1 s until 5 s have passed). For when other nodes may
    /// have announced these addresses meanwhile: a speaker cut off from the others (its link
    /// down, a partition) keeps its addresses, the others take them over and clients follow
    /// them; once they see each other again the others let go, and only this announcement
    /// brings the clients back (nothing about ownership changed here to announce otherwise).
    pub fn announce_again(&mut self, now: Instant) {
        self.announcements = self
            .interfaces
            .iter()
            .flat_map(|(id, interface)| {
                interface.addresses.iter().map(move |address| {
                    let announcement = Announcement {
                        next: now,
                        until: now + ANNOUNCE_DURATION,
                    };
                    ((*id, *address), announcement)
                })
            })
            .collect();
        self.next_announcement = self.announcements.values().map(|a| a.next).min();
    }

    /// A frame received on `interface` (a whole Ethernet frame as AF_PACKET SOCK_RAW gives it).
    /// Queues the reply, if any; malformed or irrelevant frames are counted, never a panic.
    pub fn handle_frame(&mut self, interface: InterfaceId, frame: &[u8], now: Instant) {
        if let Err(reason) = self.answer(interface, frame, now) {
            self.counters.drop(reason);
        }
    }

    /// The next frame to send (a whole Ethernet frame), and on which interface.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(InterfaceId, Vec<u8>)> {
        self.queue_due_announcements(now);
        let pending = self.queue.pop_front()?;
        if let Some(counters) = self.counters.address_mut(pending.address) {
            match pending.kind {
                Kind::Response => counters.responses_sent += 1,
                Kind::Gratuitous => counters.gratuitous_sent += 1,
            }
        }
        Some((pending.interface, pending.frame))
    }

    /// When `poll_transmit` will next have something without a new input: the next
    /// announcement, or the time the oldest waiting answer was queued (in the past: at once).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let queued = self.queue.front().map(|pending| pending.queued_at);
        queued.into_iter().chain(self.next_announcement).min()
    }

    /// Counters: per address, requests received (for an owned address), responses sent,
    /// gratuitous sent (MetalLB's metallb_layer2_requests_received / responses_sent /
    /// gratuitous_sent, label ip); frames dropped, by a typed reason.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// What is owned, as last given to [`Responder::set_interfaces`].
    pub fn interfaces(&self) -> &BTreeMap<InterfaceId, Interface> {
        &self.interfaces
    }

    /// The Ethernet multicast groups the driver must receive on `interface`: the
    /// solicited-node groups of its owned IPv6 addresses (RFC 4861 §7.2.1), where Neighbor
    /// Solicitations for them are sent. MetalLB joins the same groups.
    pub fn multicast_macs(&self, interface: InterfaceId) -> BTreeSet<Mac> {
        let Some(interface) = self.interfaces.get(&interface) else {
            return BTreeSet::new();
        };
        interface
            .addresses
            .iter()
            .filter_map(|address| match address {
                IpAddr::V6(address) => {
                    Some(Mac::ipv6_multicast(solicited_node_multicast(*address)))
                }
                IpAddr::V4(_) => None,
            })
            .collect()
    }

    /// How many frames wait for [`Responder::poll_transmit`].
    pub fn transmit_queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Decides the answer to a frame and queues it; the error says why there is none.
    fn answer(&mut self, id: InterfaceId, frame: &[u8], now: Instant) -> Result<(), DropReason> {
        let interface = self
            .interfaces
            .get(&id)
            .ok_or(DropReason::UnknownInterface)?;
        let (ethernet, payload) = EthernetHeader::decode(frame)?;
        if ethernet.source == interface.mac {
            return Err(DropReason::FromSelf);
        }
        let (address, reply) = match ethernet.ethertype {
            ethernet::ETHERTYPE_ARP => answer_arp(interface, &self.counters, &ethernet, payload)?,
            ethernet::ETHERTYPE_IPV6 => {
                answer_solicitation(interface, &self.counters, &ethernet, payload)?
            }
            _ => return Err(DropReason::UnsupportedEthertype),
        };
        let mac = interface.mac;
        if let Some(counters) = self.counters.address_mut(address) {
            counters.requests_received += 1;
        }
        if self.queue.len() >= TRANSMIT_QUEUE_LIMIT {
            return Err(DropReason::TransmitQueueFull);
        }
        self.queue.push_back(Pending {
            interface: id,
            address,
            mac,
            kind: Kind::Response,
            queued_at: now,
            frame: reply.to_bytes(),
        });
        Ok(())
    }

    /// Queues the announcements that are due, and moves each schedule on.
    fn queue_due_announcements(&mut self, now: Instant) {
        if self.next_announcement.is_none_or(|next| next > now) {
            return;
        }
        for (&(id, address), announcement) in &mut self.announcements {
            if announcement.next > now {
                continue;
            }
            // Every pair has its interface (set_interfaces builds both from the same map).
            if let Some(interface) = self.interfaces.get(&id) {
                for frame in gratuitous(interface.mac, address) {
                    self.queue.push_back(Pending {
                        interface: id,
                        address,
                        mac: interface.mac,
                        kind: Kind::Gratuitous,
                        queued_at: now,
                        frame: frame.to_bytes(),
                    });
                }
            }
            // The next slot of the schedule after `now`: a late driver skips the slots it
            // missed rather than sending them back to back.
            let missed = (now - announcement.next).as_nanos() / ANNOUNCE_INTERVAL.as_nanos();
            let missed = u32::try_from(missed).unwrap_or(u32::MAX);
            announcement.next = announcement
                .next
                .checked_add(ANNOUNCE_INTERVAL.saturating_mul(missed.saturating_add(1)))
                .unwrap_or(announcement.until + ANNOUNCE_INTERVAL);
        }
        self.announcements
            .retain(|_, announcement| announcement.next <= announcement.until);
        self.next_announcement = self.announcements.values().map(|a| a.next).min();
    }
}

/// Whether `address` is owned on `interface`; if not, whether it is owned elsewhere.
fn check_owned(
    interface: &Interface,
    counters: &Counters,
    address: IpAddr,
) -> Result<(), DropReason> {
    if interface.addresses.contains(&address) {
        Ok(())
    } else if counters.is_owned(address) {
        Err(DropReason::OwnedOnOtherInterface)
    } else {
        Err(DropReason::NotOwned)
    }
}

/// The answer to an ARP request (MetalLB's `arp.go` `processRequest`, mdlayher/arp's `Reply`):
/// a reply from our MAC for the target, to the requester's hardware address.
fn answer_arp(
    interface: &Interface,
    counters: &Counters,
    ethernet: &EthernetHeader,
    payload: &[u8],
) -> Result<(IpAddr, Frame), DropReason> {
    let request = ArpPacket::decode(payload)?;
    if request.operation != Operation::Request {
        return Err(DropReason::ArpNotRequest);
    }
    if ethernet.destination != Mac::BROADCAST && ethernet.destination != interface.mac {
        return Err(DropReason::EthernetDestination);
    }
    let target = IpAddr::V4(request.target_protocol_address);
    check_owned(interface, counters, target)?;
    let requester = request.sender_hardware_address;
    if !requester.is_unicast() {
        return Err(DropReason::InvalidRequesterAddress);
    }
    let reply = Frame {
        destination: requester,
        source: interface.mac,
        vlan: ethernet.vlan,
        payload: Payload::Arp(ArpPacket {
            operation: Operation::Reply,
            sender_hardware_address: interface.mac,
            sender_protocol_address: request.target_protocol_address,
            target_hardware_address: requester,
            target_protocol_address: request.sender_protocol_address,
        }),
    };
    Ok((target, reply))
}

/// The answer to a Neighbor Solicitation (RFC 4861 §7.2.3, §7.2.4): an advertisement from the
/// target with our MAC, to the solicitation's source (Solicited = 1), or to all-nodes when the
/// source is unspecified (Duplicate Address Detection, Solicited = 0). Override = 1 on both.
fn answer_solicitation(
    interface: &Interface,
    counters: &Counters,
    ethernet: &EthernetHeader,
    payload: &[u8],
) -> Result<(IpAddr, Frame), DropReason> {
    let (ip, message) = decode_icmpv6(payload)?;
    match message.first() {
        Some(&ndp::NEIGHBOR_SOLICITATION) => {}
        Some(_) => return Err(DropReason::NotNeighborSolicitation),
        None => return Err(DropReason::Truncated),
    }
    let solicitation = NeighborSolicitation::decode(&ip, message)?;
    let target = solicitation.target;
    if ip.destination != target && ip.destination != solicited_node_multicast(target) {
        return Err(DropReason::NdpDestination);
    }
    let expected = if ip.destination.is_multicast() {
        Mac::ipv6_multicast(ip.destination)
    } else {
        interface.mac
    };
    if ethernet.destination != expected {
        return Err(DropReason::EthernetDestination);
    }
    check_owned(interface, counters, IpAddr::V6(target))?;
    let (destination_mac, destination, solicited) = if ip.source.is_unspecified() {
        (Mac::ALL_NODES, ALL_NODES, false)
    } else {
        let requester = solicitation
            .source_link_layer_address
            .unwrap_or(ethernet.source);
        if !requester.is_unicast() || ip.source.is_multicast() {
            return Err(DropReason::InvalidRequesterAddress);
        }
        (requester, ip.source, true)
    };
    let reply = advertisement(
        interface.mac,
        ethernet.vlan,
        destination_mac,
        destination,
        target,
        solicited,
    );
    Ok((IpAddr::V6(target), reply))
}

/// A Neighbor Advertisement from `target` for it, with our MAC as Target Link-Layer Address,
/// Router = 0 and Override = 1.
fn advertisement(
    mac: Mac,
    vlan: Option<ethernet::VlanTag>,
    destination_mac: Mac,
    destination: Ipv6Addr,
    target: Ipv6Addr,
    solicited: bool,
) -> Frame {
    Frame {
        destination: destination_mac,
        source: mac,
        vlan,
        payload: Payload::Ndp {
            ip: Ipv6Header::neighbor_discovery(target, destination),
            message: NdpMessage::Advertisement(NeighborAdvertisement {
                router: false,
                solicited,
                override_: true,
                target,
                target_link_layer_address: Some(mac),
            }),
        },
    }
}

/// The frames of one announcement of `address` (MetalLB's `Gratuitous`): for IPv4 a request
/// and then a reply, broadcast, both with SPA = TPA = the address, SHA = our MAC and
/// THA = broadcast; for IPv6 an unsolicited advertisement to all-nodes.
fn gratuitous(mac: Mac, address: IpAddr) -> Vec<Frame> {
    match address {
        IpAddr::V4(address) => [Operation::Request, Operation::Reply]
            .into_iter()
            .map(|operation| gratuitous_arp(mac, address, operation))
            .collect(),
        IpAddr::V6(address) => vec![advertisement(
            mac,
            None,
            Mac::ALL_NODES,
            ALL_NODES,
            address,
            false,
        )],
    }
}

fn gratuitous_arp(mac: Mac, address: Ipv4Addr, operation: Operation) -> Frame {
    Frame {
        destination: Mac::BROADCAST,
        source: mac,
        vlan: None,
        payload: Payload::Arp(ArpPacket {
            operation,
            sender_hardware_address: mac,
            sender_protocol_address: address,
            target_hardware_address: Mac::BROADCAST,
            target_protocol_address: address,
        }),
    }
}
