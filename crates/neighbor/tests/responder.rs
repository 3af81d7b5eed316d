//! Responder behaviour on a virtual clock: what is answered where, the announcement schedule,
//! the counters, and what a flood or garbage costs. Frames are built with the crate's codec,
//! whose bytes tests/golden.rs pins down.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ironlb_neighbor::packet::{
    ArpPacket, Frame, Ipv6Header, NdpMessage, NeighborAdvertisement, NeighborSolicitation,
    Operation, Payload, VlanTag,
};
use ironlb_neighbor::{
    DropReason, Interface, InterfaceId, Mac, Responder, solicited_node_multicast,
};

const NODE_A: Mac = Mac([0x02, 0, 0, 0, 0, 0x0a]);
const NODE_B: Mac = Mac([0x02, 0, 0, 0, 0, 0x0b]);
const CLIENT: Mac = Mac([0x02, 0, 0, 0, 0, 0x01]);
const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const ETH0: InterfaceId = InterfaceId(2);
const ETH1: InterfaceId = InterfaceId(3);

fn v4(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, last)
}

fn v6(last: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last)
}

fn seconds(value: f64) -> Duration {
    Duration::from_secs_f64(value)
}

/// Interfaces owning the given addresses.
fn owning(entries: &[(InterfaceId, Mac, &[IpAddr])]) -> BTreeMap<InterfaceId, Interface> {
    entries
        .iter()
        .map(|(id, mac, addresses)| {
            (
                *id,
                Interface {
                    mac: *mac,
                    addresses: addresses.iter().copied().collect(),
                },
            )
        })
        .collect()
}

fn arp_request_frame(target: Ipv4Addr) -> Frame {
    Frame {
        destination: Mac::BROADCAST,
        source: CLIENT,
        vlan: None,
        payload: Payload::Arp(ArpPacket {
            operation: Operation::Request,
            sender_hardware_address: CLIENT,
            sender_protocol_address: CLIENT_V4,
            target_hardware_address: Mac::ZERO,
            target_protocol_address: target,
        }),
    }
}

fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    arp_request_frame(target).to_bytes()
}

fn solicitation_frame(target: Ipv6Addr) -> Frame {
    let group = solicited_node_multicast(target);
    Frame {
        destination: Mac::ipv6_multicast(group),
        source: CLIENT,
        vlan: None,
        payload: Payload::Ndp {
            ip: Ipv6Header::neighbor_discovery(CLIENT_V6, group),
            message: NdpMessage::Solicitation(NeighborSolicitation {
                target,
                source_link_layer_address: Some(CLIENT),
            }),
        },
    }
}

fn solicitation(target: Ipv6Addr) -> Vec<u8> {
    solicitation_frame(target).to_bytes()
}

/// Everything sent at `now`, decoded.
fn drain(responder: &mut Responder, now: Instant) -> Vec<(InterfaceId, Frame)> {
    std::iter::from_fn(|| responder.poll_transmit(now))
        .map(|(interface, bytes)| (interface, Frame::decode(&bytes).expect("valid frame")))
        .collect()
}

/// Runs the virtual clock from `start` to `end`, waking at each `poll_timeout`; returns the
/// offsets from `start` at which frames were sent, with how many.
fn run(responder: &mut Responder, start: Instant, end: Duration) -> Vec<(Duration, usize)> {
    let mut sent = Vec::new();
    let mut now = start;
    loop {
        let frames = drain(responder, now);
        if !frames.is_empty() {
            sent.push((now - start, frames.len()));
        }
        match responder.poll_timeout() {
            Some(next) if next <= start + end => now = now.max(next),
            _ => return sent,
        }
    }
}

fn schedule(times: &[f64], frames: usize) -> Vec<(Duration, usize)> {
    times.iter().map(|t| (seconds(*t), frames)).collect()
}

#[test]
fn a_new_ipv4_address_is_announced_at_0_1_1_2_2_3_3_4_4_seconds_then_never_again() {
    let start = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v4(10).into()])]), start);
    assert_eq!(responder.poll_timeout(), Some(start));
    // Each announcement is MetalLB's pair: a gratuitous request, then a gratuitous reply.
    assert_eq!(
        run(&mut responder, start, seconds(60.0)),
        schedule(&[0.0, 1.1, 2.2, 3.3, 4.4], 2)
    );
    assert_eq!(responder.poll_timeout(), None);
    let counters = responder.counters().address(v4(10).into()).unwrap();
    assert_eq!(counters.gratuitous_sent, 10);
    assert_eq!(counters.requests_received, 0);
}

#[test]
fn a_new_ipv6_address_is_announced_by_one_unsolicited_advertisement_each_time() {
    let start = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v6(10).into()])]), start);
    let first = drain(&mut responder, start);
    let [(ETH0, frame)] = first.as_slice() else {
        panic!("{first:?}")
    };
    assert_eq!(frame.destination, Mac::ALL_NODES);
    let Payload::Ndp {
        ip,
        message: NdpMessage::Advertisement(advertisement),
    } = frame.payload
    else {
        panic!("{frame:?}")
    };
    assert_eq!(ip.destination, ironlb_neighbor::ALL_NODES);
    assert_eq!(ip.source, v6(10));
    assert!(!advertisement.solicited && advertisement.override_ && !advertisement.router);
    assert_eq!(advertisement.target_link_layer_address, Some(NODE_A));
    assert_eq!(
        run(&mut responder, start, seconds(60.0)),
        schedule(&[1.1, 2.2, 3.3, 4.4], 1)
    );
    let counters = responder.counters().address(v6(10).into()).unwrap();
    assert_eq!(counters.gratuitous_sent, 5);
}

#[test]
fn announcements_restart_when_an_address_is_owned_again() {
    let start = Instant::now();
    let mut responder = Responder::new();
    let owned = owning(&[(ETH0, NODE_A, &[v4(10).into()])]);
    responder.set_interfaces(owned.clone(), start);
    assert_eq!(
        run(&mut responder, start, seconds(2.0)),
        schedule(&[0.0, 1.1], 2)
    );
    responder.set_interfaces(BTreeMap::new(), start + seconds(2.0));
    responder.set_interfaces(owned, start + seconds(10.0));
    assert_eq!(
        run(&mut responder, start + seconds(10.0), seconds(60.0)),
        schedule(&[0.0, 1.1, 2.2, 3.3, 4.4], 2)
    );
}

#[test]
fn announcing_again_restarts_the_schedule_of_every_owned_address() {
    let start = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        owning(&[
            (ETH0, NODE_A, &[v4(10).into(), v6(10).into()]),
            (ETH1, NODE_B, &[v4(11).into()]),
        ]),
        start,
    );
    run(&mut responder, start, seconds(10.0));
    assert_eq!(responder.poll_timeout(), None);
    // Long after the first schedule ended (a partition healed): every pair once more, on a
    // new owner's schedule; two ARP frames each for 10 and 11, one advertisement for 10's v6.
    let healed = start + seconds(30.0);
    responder.announce_again(healed);
    assert_eq!(responder.poll_timeout(), Some(healed));
    assert_eq!(
        run(&mut responder, healed, seconds(60.0)),
        schedule(&[0.0, 1.1, 2.2, 3.3, 4.4], 5)
    );
    let counters = responder.counters().address(v4(11).into()).unwrap();
    assert_eq!(counters.gratuitous_sent, 20);
    // Nothing owned: nothing to announce.
    let mut idle = Responder::new();
    idle.announce_again(healed);
    assert_eq!(idle.poll_timeout(), None);
}

#[test]
fn releasing_an_address_stops_its_announcements_and_answers_at_once() {
    let start = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        owning(&[(ETH0, NODE_A, &[v4(10).into(), v6(10).into()])]),
        start,
    );
    drain(&mut responder, start);
    // Requests arrive, then the addresses are released before the driver polls.
    let now = start + seconds(1.5);
    responder.handle_frame(ETH0, &arp_request(v4(10)), now);
    responder.handle_frame(ETH0, &solicitation(v6(10)), now);
    assert_eq!(responder.transmit_queue_len(), 2);
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[])]), now);
    assert_eq!(responder.transmit_queue_len(), 0);
    assert_eq!(responder.poll_timeout(), None);
    assert_eq!(run(&mut responder, now, seconds(60.0)), []);
    responder.handle_frame(ETH0, &arp_request(v4(10)), now);
    responder.handle_frame(ETH0, &solicitation(v6(10)), now);
    assert_eq!(drain(&mut responder, now), []);
    assert_eq!(responder.counters().dropped(DropReason::NotOwned), 2);
    assert_eq!(responder.counters().address(v4(10).into()), None);
    assert_eq!(responder.counters().addresses().count(), 0);
}

#[test]
fn an_address_still_owned_keeps_its_schedule_when_the_set_is_replaced() {
    let start = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v4(10).into()])]), start);
    assert_eq!(
        run(&mut responder, start, seconds(2.0)),
        schedule(&[0.0, 1.1], 2)
    );
    // At 2 s another address joins: it starts its own schedule; the first goes on with its own.
    let joined = start + seconds(2.0);
    responder.set_interfaces(
        owning(&[(ETH0, NODE_A, &[v4(10).into(), v4(11).into()])]),
        joined,
    );
    let mut times: BTreeMap<IpAddr, Vec<Duration>> = BTreeMap::new();
    let mut now = joined;
    while now <= start + seconds(20.0) {
        for (_, frame) in drain(&mut responder, now) {
            if let Payload::Arp(packet) = frame.payload
                && packet.operation == Operation::Request
            {
                times
                    .entry(packet.sender_protocol_address.into())
                    .or_default()
                    .push(now - start);
            }
        }
        let Some(next) = responder.poll_timeout() else {
            break;
        };
        now = next;
    }
    assert_eq!(
        times[&IpAddr::from(v4(10))],
        [seconds(2.2), seconds(3.3), seconds(4.4)]
    );
    assert_eq!(
        times[&IpAddr::from(v4(11))],
        [2.0, 3.1, 4.2, 5.3, 6.4].map(seconds)
    );
}

#[test]
fn an_interface_that_changes_mac_announces_its_addresses_again() {
    let start = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v4(10).into()])]), start);
    run(&mut responder, start, seconds(10.0));
    let later = start + seconds(10.0);
    responder.set_interfaces(owning(&[(ETH0, NODE_B, &[v4(10).into()])]), later);
    let sent = drain(&mut responder, later);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|(_, frame)| frame.source == NODE_B));
}

#[test]
fn a_late_driver_skips_the_announcements_it_missed() {
    let start = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v4(10).into()])]), start);
    drain(&mut responder, start);
    // Asleep until 2.5 s: one announcement then, not the two of 1.1 and 2.2 back to back.
    assert_eq!(drain(&mut responder, start + seconds(2.5)).len(), 2);
    assert_eq!(responder.poll_timeout(), Some(start + seconds(3.3)));
}

#[test]
fn an_arp_request_for_an_owned_address_gets_a_reply_from_our_mac() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v4(10).into()])]), now);
    drain(&mut responder, now);
    responder.handle_frame(ETH0, &arp_request(v4(10)), now);
    assert_eq!(
        responder.poll_timeout(),
        Some(now),
        "an answer waits: at once"
    );
    let sent = drain(&mut responder, now);
    let [(ETH0, reply)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        *reply,
        Frame {
            destination: CLIENT,
            source: NODE_A,
            vlan: None,
            payload: Payload::Arp(ArpPacket {
                operation: Operation::Reply,
                sender_hardware_address: NODE_A,
                sender_protocol_address: v4(10),
                target_hardware_address: CLIENT,
                target_protocol_address: CLIENT_V4,
            }),
        }
    );
    let counters = responder.counters().address(v4(10).into()).unwrap();
    assert_eq!(
        (counters.requests_received, counters.responses_sent),
        (1, 1)
    );
}

#[test]
fn an_arp_request_sent_to_our_mac_is_answered_and_one_sent_to_another_mac_is_not() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v4(10).into()])]), now);
    drain(&mut responder, now);
    let mut unicast = arp_request_frame(v4(10));
    unicast.destination = NODE_A;
    responder.handle_frame(ETH0, &unicast.to_bytes(), now);
    assert_eq!(drain(&mut responder, now).len(), 1);
    unicast.destination = NODE_B;
    responder.handle_frame(ETH0, &unicast.to_bytes(), now);
    assert_eq!(drain(&mut responder, now), []);
    assert_eq!(
        responder
            .counters()
            .dropped(DropReason::EthernetDestination),
        1
    );
}

#[test]
fn arp_replies_and_other_operations_are_ignored() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v4(10).into()])]), now);
    drain(&mut responder, now);
    for operation in [Operation::Reply, Operation::Other(3), Operation::Other(8)] {
        let mut frame = arp_request_frame(v4(10));
        let Payload::Arp(packet) = &mut frame.payload else {
            unreachable!()
        };
        packet.operation = operation;
        responder.handle_frame(ETH0, &frame.to_bytes(), now);
    }
    assert_eq!(drain(&mut responder, now), []);
    assert_eq!(responder.counters().dropped(DropReason::ArpNotRequest), 3);
    let counters = responder.counters().address(v4(10).into()).unwrap();
    assert_eq!(counters.requests_received, 0);
}

#[test]
fn a_solicitation_for_an_owned_address_gets_a_solicited_advertisement_with_override() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v6(10).into()])]), now);
    drain(&mut responder, now);
    responder.handle_frame(ETH0, &solicitation(v6(10)), now);
    let sent = drain(&mut responder, now);
    let [(ETH0, reply)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(
        *reply,
        Frame {
            destination: CLIENT,
            source: NODE_A,
            vlan: None,
            payload: Payload::Ndp {
                ip: Ipv6Header::neighbor_discovery(v6(10), CLIENT_V6),
                message: NdpMessage::Advertisement(NeighborAdvertisement {
                    router: false,
                    solicited: true,
                    override_: true,
                    target: v6(10),
                    target_link_layer_address: Some(NODE_A),
                }),
            },
        }
    );
}

#[test]
fn a_unicast_solicitation_without_source_link_layer_address_is_answered_to_the_frame_source() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v6(10).into()])]), now);
    drain(&mut responder, now);
    // Neighbor Unreachability Detection: unicast to the target, at our MAC, no option.
    let probe = Frame {
        destination: NODE_A,
        source: CLIENT,
        vlan: None,
        payload: Payload::Ndp {
            ip: Ipv6Header::neighbor_discovery(CLIENT_V6, v6(10)),
            message: NdpMessage::Solicitation(NeighborSolicitation {
                target: v6(10),
                source_link_layer_address: None,
            }),
        },
    };
    responder.handle_frame(ETH0, &probe.to_bytes(), now);
    let sent = drain(&mut responder, now);
    let [(ETH0, reply)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(reply.destination, CLIENT);
    // The same probe sent to another node's MAC is not for us.
    let mut elsewhere = probe;
    elsewhere.destination = NODE_B;
    responder.handle_frame(ETH0, &elsewhere.to_bytes(), now);
    assert_eq!(drain(&mut responder, now), []);
    assert_eq!(
        responder
            .counters()
            .dropped(DropReason::EthernetDestination),
        1
    );
}

#[test]
fn duplicate_address_detection_is_answered_to_all_nodes_with_solicited_0() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v6(10).into()])]), now);
    drain(&mut responder, now);
    let mut dad = solicitation_frame(v6(10));
    let Payload::Ndp { ip, message } = &mut dad.payload else {
        unreachable!()
    };
    ip.source = Ipv6Addr::UNSPECIFIED;
    *message = NdpMessage::Solicitation(NeighborSolicitation {
        target: v6(10),
        source_link_layer_address: None,
    });
    responder.handle_frame(ETH0, &dad.to_bytes(), now);
    let sent = drain(&mut responder, now);
    let [(ETH0, reply)] = sent.as_slice() else {
        panic!("{sent:?}")
    };
    assert_eq!(reply.destination, Mac::ALL_NODES);
    let Payload::Ndp {
        ip,
        message: NdpMessage::Advertisement(advertisement),
    } = reply.payload
    else {
        panic!("{reply:?}")
    };
    assert_eq!(ip.destination, ironlb_neighbor::ALL_NODES);
    assert!(!advertisement.solicited && advertisement.override_);
}

#[test]
fn a_tagged_request_is_answered_on_its_vlan() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        owning(&[(ETH0, NODE_A, &[v4(10).into(), v6(10).into()])]),
        now,
    );
    drain(&mut responder, now);
    let tag = Some(VlanTag(0x2064)); // PCP 1, VLAN 100
    for mut request in [arp_request_frame(v4(10)), solicitation_frame(v6(10))] {
        request.vlan = tag;
        responder.handle_frame(ETH0, &request.to_bytes(), now);
    }
    let sent = drain(&mut responder, now);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|(_, frame)| frame.vlan == tag), "{sent:?}");
}

#[test]
fn an_address_owned_on_one_interface_is_not_answered_on_another() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        owning(&[
            (ETH0, NODE_A, &[v4(10).into(), v6(10).into()]),
            (ETH1, NODE_B, &[v4(11).into()]),
        ]),
        now,
    );
    drain(&mut responder, now);
    responder.handle_frame(ETH1, &arp_request(v4(10)), now);
    responder.handle_frame(ETH1, &solicitation(v6(10)), now);
    assert_eq!(drain(&mut responder, now), []);
    assert_eq!(
        responder
            .counters()
            .dropped(DropReason::OwnedOnOtherInterface),
        2
    );
    for address in [IpAddr::from(v4(10)), v6(10).into()] {
        assert_eq!(
            responder
                .counters()
                .address(address)
                .unwrap()
                .requests_received,
            0
        );
    }
    // Each interface answers for its own, from its own MAC.
    responder.handle_frame(ETH0, &arp_request(v4(10)), now);
    responder.handle_frame(ETH1, &arp_request(v4(11)), now);
    let sent = drain(&mut responder, now);
    assert_eq!(
        sent.iter()
            .map(|(id, frame)| (*id, frame.source))
            .collect::<Vec<_>>(),
        [(ETH0, NODE_A), (ETH1, NODE_B)]
    );
}

#[test]
fn ten_thousand_requests_for_other_addresses_produce_no_output_and_no_state() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        owning(&[(ETH0, NODE_A, &[v4(10).into(), v6(10).into()])]),
        now,
    );
    drain(&mut responder, now);
    let before = responder.counters().clone();
    let next_announcement = responder.poll_timeout();
    let requests: Vec<Vec<u8>> = (0..10_000u32)
        .map(|i| {
            if i % 2 == 0 {
                arp_request(Ipv4Addr::from(0x0a00_0000 + i))
            } else {
                solicitation(Ipv6Addr::from(0x2001_0db8_0001_u128 << 80 | u128::from(i)))
            }
        })
        .collect();
    let started = std::time::Instant::now();
    for request in &requests {
        responder.handle_frame(ETH0, request, now);
    }
    let elapsed = started.elapsed();
    assert_eq!(responder.transmit_queue_len(), 0);
    assert_eq!(responder.poll_timeout(), next_announcement);
    assert_eq!(drain(&mut responder, now), []);
    assert_eq!(responder.counters().dropped(DropReason::NotOwned), 10_000);
    assert_eq!(responder.counters().dropped_total(), 10_000);
    assert!(
        responder.counters().addresses().eq(before.addresses()),
        "no per-address state grows"
    );
    // A loose bound (an unoptimised build on a busy 2-core machine does this in a few ms):
    // each such frame is a parse and a set lookup, with nothing allocated.
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
}

#[test]
fn the_transmit_queue_is_bounded_when_the_driver_does_not_poll() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v4(10).into()])]), now);
    drain(&mut responder, now);
    let request = arp_request(v4(10));
    for _ in 0..2_000 {
        responder.handle_frame(ETH0, &request, now);
    }
    let limit = ironlb_neighbor::responder::TRANSMIT_QUEUE_LIMIT;
    assert_eq!(responder.transmit_queue_len(), limit);
    assert_eq!(
        responder.counters().dropped(DropReason::TransmitQueueFull),
        2_000 - limit as u64
    );
    assert_eq!(drain(&mut responder, now).len(), limit);
    let counters = responder.counters().address(v4(10).into()).unwrap();
    assert_eq!(counters.requests_received, 2_000);
    assert_eq!(counters.responses_sent, limit as u64);
}

#[test]
fn our_own_frames_seen_again_are_not_answered() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        owning(&[(ETH0, NODE_A, &[v4(10).into(), v6(10).into()])]),
        now,
    );
    // An AF_PACKET socket may see what was sent: the gratuitous request asks for our address.
    let sent: Vec<_> = std::iter::from_fn(|| responder.poll_transmit(now)).collect();
    assert_eq!(sent.len(), 3);
    for (interface, frame) in &sent {
        responder.handle_frame(*interface, frame, now);
    }
    assert_eq!(drain(&mut responder, now), []);
    assert_eq!(responder.counters().dropped(DropReason::FromSelf), 3);
}

#[test]
fn a_requester_with_a_group_or_zero_address_gets_no_answer() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        owning(&[(ETH0, NODE_A, &[v4(10).into(), v6(10).into()])]),
        now,
    );
    drain(&mut responder, now);
    for requester in [Mac::BROADCAST, Mac::ZERO, Mac([0x01, 0, 0x5e, 0, 0, 1])] {
        let mut arp = arp_request_frame(v4(10));
        let Payload::Arp(packet) = &mut arp.payload else {
            unreachable!()
        };
        packet.sender_hardware_address = requester;
        responder.handle_frame(ETH0, &arp.to_bytes(), now);
        let mut ndp = solicitation_frame(v6(10));
        let Payload::Ndp {
            message: NdpMessage::Solicitation(solicitation),
            ..
        } = &mut ndp.payload
        else {
            unreachable!()
        };
        solicitation.source_link_layer_address = Some(requester);
        responder.handle_frame(ETH0, &ndp.to_bytes(), now);
    }
    assert_eq!(drain(&mut responder, now), []);
    assert_eq!(
        responder
            .counters()
            .dropped(DropReason::InvalidRequesterAddress),
        6
    );
}

#[test]
fn solicitations_that_rfc_4861_or_the_kernel_would_refuse_are_dropped_by_reason() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(owning(&[(ETH0, NODE_A, &[v6(10).into()])]), now);
    drain(&mut responder, now);
    let valid = solicitation(v6(10));

    // A hop-by-hop header (Next Header 0) in front of the ICMPv6 message.
    let mut hop_by_hop = valid.clone();
    hop_by_hop[20] = 0;
    responder.handle_frame(ETH0, &hop_by_hop, now);
    // UDP instead of ICMPv6.
    let mut udp = valid.clone();
    udp[20] = 17;
    responder.handle_frame(ETH0, &udp, now);
    // Forwarded by a router: hop limit 254.
    let mut forwarded = valid.clone();
    forwarded[21] = 254;
    responder.handle_frame(ETH0, &forwarded, now);
    // A Router Solicitation (type 133).
    let mut router_solicitation = valid.clone();
    router_solicitation[54] = 133;
    responder.handle_frame(ETH0, &router_solicitation, now);
    // Sent to the solicited-node group of another address.
    let mut other_group = solicitation_frame(v6(10));
    let Payload::Ndp { ip, .. } = &mut other_group.payload else {
        unreachable!()
    };
    ip.destination = solicited_node_multicast(v6(11));
    other_group.destination = Mac::ipv6_multicast(ip.destination);
    responder.handle_frame(ETH0, &other_group.to_bytes(), now);
    // The right group, but at the Ethernet group of another one.
    let mut wrong_mac = solicitation_frame(v6(10));
    wrong_mac.destination = Mac([0x33, 0x33, 0xff, 0, 0, 0x11]);
    responder.handle_frame(ETH0, &wrong_mac.to_bytes(), now);
    // IPv4 and anything else.
    let mut ipv4 = valid.clone();
    ipv4[12..14].copy_from_slice(&[0x08, 0x00]);
    responder.handle_frame(ETH0, &ipv4, now);

    assert_eq!(drain(&mut responder, now), []);
    let counters = responder.counters();
    for reason in [
        DropReason::Ipv6ExtensionHeader,
        DropReason::NotIcmpv6,
        DropReason::NdpHopLimit,
        DropReason::NotNeighborSolicitation,
        DropReason::NdpDestination,
        DropReason::EthernetDestination,
        DropReason::UnsupportedEthertype,
    ] {
        assert_eq!(counters.dropped(reason), 1, "{reason:?}");
    }
    assert_eq!(counters.dropped_total(), 7);
}

#[test]
fn every_truncation_of_a_request_is_dropped_and_counted() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        owning(&[(ETH0, NODE_A, &[v4(10).into(), v6(10).into()])]),
        now,
    );
    drain(&mut responder, now);
    let arp = arp_request(v4(10));
    let ndp = solicitation(v6(10));
    for length in 0..42 {
        responder.handle_frame(ETH0, &arp[..length], now);
    }
    for length in 0..ndp.len() {
        responder.handle_frame(ETH0, &ndp[..length], now);
    }
    assert_eq!(drain(&mut responder, now), []);
    let counters = responder.counters();
    assert_eq!(counters.dropped_total(), 42 + ndp.len() as u64);
    // A cut solicitation is shorter than its IPv6 Payload Length says.
    assert_eq!(
        counters.dropped(DropReason::Truncated),
        42 + ndp.len() as u64
    );
}

#[test]
fn frames_on_an_interface_the_responder_does_not_know_are_counted() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.handle_frame(ETH0, &arp_request(v4(10)), now);
    assert_eq!(responder.poll_transmit(now), None);
    assert_eq!(
        responder.counters().dropped(DropReason::UnknownInterface),
        1
    );
}

#[test]
fn the_driver_learns_which_solicited_node_groups_to_receive() {
    let now = Instant::now();
    let mut responder = Responder::new();
    responder.set_interfaces(
        owning(&[(
            ETH0,
            NODE_A,
            &[
                v4(10).into(),
                v6(0x10).into(),
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, 0x10).into(),
            ],
        )]),
        now,
    );
    // 2001:db8::10 and 2001:db8::1:10: ff02::1:ff00:10 and ff02::1:ff01:10.
    assert_eq!(
        responder.multicast_macs(ETH0),
        BTreeSet::from([
            Mac([0x33, 0x33, 0xff, 0, 0, 0x10]),
            Mac([0x33, 0x33, 0xff, 1, 0, 0x10]),
        ])
    );
    assert_eq!(responder.multicast_macs(ETH1), BTreeSet::new());
}

proptest::proptest! {
    #[test]
    fn random_bytes_never_panic_handle_frame(
        frames in proptest::collection::vec(
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120), 1..8),
    ) {
        let now = Instant::now();
        let mut responder = Responder::new();
        responder.set_interfaces(
            owning(&[(ETH0, NODE_A, &[v4(10).into(), v6(10).into()])]),
            now,
        );
        for frame in &frames {
            responder.handle_frame(ETH0, frame, now);
        }
        while let Some((_, frame)) = responder.poll_transmit(now) {
            proptest::prop_assert!(Frame::decode(&frame).is_ok());
        }
    }

    #[test]
    fn damaged_requests_never_panic_and_any_answer_is_valid(
        which in 0usize..2,
        damage in proptest::collection::vec((0usize..86, proptest::prelude::any::<u8>()), 1..4),
        cut in 0usize..100,
    ) {
        let now = Instant::now();
        let mut responder = Responder::new();
        responder.set_interfaces(
            owning(&[(ETH0, NODE_A, &[v4(10).into(), v6(10).into()])]),
            now,
        );
        while responder.poll_transmit(now).is_some() {}
        let mut frame = if which == 0 { arp_request(v4(10)) } else { solicitation(v6(10)) };
        for (offset, value) in damage {
            if let Some(byte) = frame.get_mut(offset) {
                *byte = value;
            }
        }
        frame.truncate(cut);
        responder.handle_frame(ETH0, &frame, now);
        let answered = std::iter::from_fn(|| responder.poll_transmit(now)).count();
        let counters = responder.counters();
        proptest::prop_assert_eq!(answered as u64 + counters.dropped_total(), 1);
        proptest::prop_assert!(counters.addresses().count() == 2);
    }

    #[test]
    fn what_decodes_reencodes_to_the_same_frame(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
        which in 0usize..2,
        damage in proptest::collection::vec((0usize..86, proptest::prelude::any::<u8>()), 0..3),
    ) {
        let mut candidates = vec![bytes];
        let mut frame = if which == 0 { arp_request(v4(10)) } else { solicitation(v6(10)) };
        for (offset, value) in damage {
            if let Some(byte) = frame.get_mut(offset) {
                *byte = value;
            }
        }
        candidates.push(frame);
        for candidate in candidates {
            if let Ok(decoded) = Frame::decode(&candidate) {
                proptest::prop_assert_eq!(Frame::decode(&decoded.to_bytes()), Ok(decoded));
            }
        }
    }
}
