//! Golden bytes both ways: each frame below is written by hand from the RFC layouts
//! (RFC 826 for ARP, RFC 8200 §3 and RFC 4861 §4.3, §4.4, §4.6.1 for Neighbor Discovery);
//! `encode(value) == bytes` and `decode(bytes) == value`. The ICMPv6 checksums were computed by
//! a separate program, confirmed by tshark 4.0.17 ("[Checksum Status: Good]"), are checked
//! again here by an independent 32-bit sum, and the NS and both NAs turn out byte for byte the
//! ones the Linux kernel sent for the same addresses and MACs (tests/data/linux-*.hex).
//!
//! Cast: the requester 02:00:00:00:00:01 (192.0.2.1, 2001:db8::1); the node
//! 02:00:00:00:00:0a owning 192.0.2.10 and 2001:db8::10 on interface 1.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use ironlb_neighbor::packet::{
    ArpPacket, Frame, Ipv6Header, NdpMessage, NeighborAdvertisement, NeighborSolicitation,
    Operation, Payload,
};
use ironlb_neighbor::{Interface, InterfaceId, Mac, Responder};

const REQUESTER: Mac = Mac([0x02, 0, 0, 0, 0, 0x01]);
const NODE: Mac = Mac([0x02, 0, 0, 0, 0, 0x0a]);
const REQUESTER_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SERVICE_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const REQUESTER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const SERVICE_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);

#[rustfmt::skip]
const ARP_REQUEST: [u8; 60] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // Ethernet destination: broadcast
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // Ethernet source: the requester
    0x08, 0x06,                         // EtherType ARP
    0x00, 0x01,                         // hardware type 1, Ethernet
    0x08, 0x00,                         // protocol type IPv4
    0x06, 0x04,                         // HLEN 6, PLEN 4
    0x00, 0x01,                         // operation 1, request
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // SHA: the requester
    192, 0, 2, 1,                       // SPA
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // THA: unknown
    192, 0, 2, 10,                      // TPA: the Service address
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding to 60 octets
];

#[rustfmt::skip]
const ARP_REPLY: [u8; 60] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // Ethernet destination: the requester
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // Ethernet source: the node
    0x08, 0x06,                         // EtherType ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, // Ethernet, IPv4, 6, 4
    0x00, 0x02,                         // operation 2, reply
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // SHA: the node
    192, 0, 2, 10,                      // SPA: the Service address
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // THA: the requester
    192, 0, 2, 1,                       // TPA: the requester
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // padding to 60 octets
];

/// MetalLB's gratuitous ARP: a request and a reply, each broadcast with SPA = TPA = the
/// address, SHA = the node, THA = broadcast. Only the operation differs.
#[rustfmt::skip]
const GRATUITOUS_ARP_REQUEST: [u8; 60] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // Ethernet destination: broadcast
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // Ethernet source: the node
    0x08, 0x06,
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
    0x00, 0x01,                         // operation 1 (2 in the reply)
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // SHA: the node
    192, 0, 2, 10,                      // SPA: the Service address
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // THA: broadcast
    192, 0, 2, 10,                      // TPA: the Service address
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[rustfmt::skip]
const NEIGHBOR_SOLICITATION: [u8; 86] = [
    0x33, 0x33, 0xff, 0x00, 0x00, 0x10, // Ethernet destination: 33:33 + ff00:0010
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // Ethernet source: the requester
    0x86, 0xdd,                         // EtherType IPv6
    0x60, 0x00, 0x00, 0x00,             // version 6, traffic class 0, flow label 0
    0x00, 0x20, 0x3a, 0xff,             // payload length 32, next header 58, hop limit 255
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // source 2001:db8::1
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x00, 0x10, // ff02::1:ff00:10
    0x87, 0x00, 0x1c, 0x0b,             // type 135, code 0, checksum
    0x00, 0x00, 0x00, 0x00,             // reserved
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, // target 2001:db8::10
    0x01, 0x01,                         // option 1, source link-layer address, 8 octets
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // the requester
];

#[rustfmt::skip]
const NEIGHBOR_ADVERTISEMENT: [u8; 86] = [
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // Ethernet destination: the requester
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // Ethernet source: the node
    0x86, 0xdd,
    0x60, 0x00, 0x00, 0x00,
    0x00, 0x20, 0x3a, 0xff,             // payload length 32, next header 58, hop limit 255
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, // source: the target
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // destination: 2001:db8::1
    0x88, 0x00, 0x8a, 0x4d,             // type 136, code 0, checksum
    0x60, 0x00, 0x00, 0x00,             // R 0, S 1, O 1
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, // target 2001:db8::10
    0x02, 0x01,                         // option 2, target link-layer address, 8 octets
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // the node
];

/// The unsolicited advertisement: announcements, and answers to Duplicate Address Detection.
#[rustfmt::skip]
const UNSOLICITED_ADVERTISEMENT: [u8; 86] = [
    0x33, 0x33, 0x00, 0x00, 0x00, 0x01, // Ethernet destination: all-nodes
    0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, // Ethernet source: the node
    0x86, 0xdd,
    0x60, 0x00, 0x00, 0x00,
    0x00, 0x20, 0x3a, 0xff,
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, // source: the target
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, // destination: ff02::1
    0x88, 0x00, 0xf9, 0x03,             // type 136, code 0, checksum
    0x20, 0x00, 0x00, 0x00,             // R 0, S 0, O 1
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a,
];

fn arp_request() -> Frame {
    Frame {
        destination: Mac::BROADCAST,
        source: REQUESTER,
        vlan: None,
        payload: Payload::Arp(ArpPacket {
            operation: Operation::Request,
            sender_hardware_address: REQUESTER,
            sender_protocol_address: REQUESTER_V4,
            target_hardware_address: Mac::ZERO,
            target_protocol_address: SERVICE_V4,
        }),
    }
}

fn arp_reply() -> Frame {
    Frame {
        destination: REQUESTER,
        source: NODE,
        vlan: None,
        payload: Payload::Arp(ArpPacket {
            operation: Operation::Reply,
            sender_hardware_address: NODE,
            sender_protocol_address: SERVICE_V4,
            target_hardware_address: REQUESTER,
            target_protocol_address: REQUESTER_V4,
        }),
    }
}

fn neighbor_solicitation() -> Frame {
    Frame {
        destination: Mac([0x33, 0x33, 0xff, 0, 0, 0x10]),
        source: REQUESTER,
        vlan: None,
        payload: Payload::Ndp {
            ip: Ipv6Header::neighbor_discovery(REQUESTER_V6, "ff02::1:ff00:10".parse().unwrap()),
            message: NdpMessage::Solicitation(NeighborSolicitation {
                target: SERVICE_V6,
                source_link_layer_address: Some(REQUESTER),
            }),
        },
    }
}

fn neighbor_advertisement(solicited: bool) -> Frame {
    let (destination_mac, destination) = if solicited {
        (REQUESTER, REQUESTER_V6)
    } else {
        (Mac::ALL_NODES, ironlb_neighbor::ALL_NODES)
    };
    Frame {
        destination: destination_mac,
        source: NODE,
        vlan: None,
        payload: Payload::Ndp {
            ip: Ipv6Header::neighbor_discovery(SERVICE_V6, destination),
            message: NdpMessage::Advertisement(NeighborAdvertisement {
                router: false,
                solicited,
                override_: true,
                target: SERVICE_V6,
                target_link_layer_address: Some(NODE),
            }),
        },
    }
}

/// Sums the pseudo-header and the ICMPv6 message as 32-bit words of big-endian 16-bit halves
/// and folds at the end: a different route from the crate's to the same RFC 4443 check.
fn independent_checksum_holds(frame: &[u8]) -> bool {
    let ip = &frame[14..54];
    let message = &frame[54..54 + usize::from(u16::from_be_bytes([ip[4], ip[5]]))];
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&ip[8..40]);
    pseudo.extend_from_slice(&(message.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    pseudo.extend_from_slice(message);
    let mut sum: u32 = 0;
    for pair in pseudo.chunks(2) {
        sum += (u32::from(pair[0]) << 8) | u32::from(*pair.get(1).unwrap_or(&0));
    }
    let folded = (sum & 0xffff) + (sum >> 16);
    (folded & 0xffff) + (folded >> 16) == 0xffff
}

#[test]
fn arp_request_golden_bytes_both_ways() {
    assert_eq!(arp_request().to_bytes(), ARP_REQUEST);
    assert_eq!(Frame::decode(&ARP_REQUEST), Ok(arp_request()));
}

#[test]
fn arp_reply_golden_bytes_both_ways() {
    assert_eq!(arp_reply().to_bytes(), ARP_REPLY);
    assert_eq!(Frame::decode(&ARP_REPLY), Ok(arp_reply()));
}

#[test]
fn arp_decoding_ignores_the_ethernet_padding() {
    assert_eq!(Frame::decode(&ARP_REQUEST[..42]), Ok(arp_request()));
}

#[test]
fn neighbor_solicitation_golden_bytes_both_ways() {
    assert!(independent_checksum_holds(&NEIGHBOR_SOLICITATION));
    assert_eq!(neighbor_solicitation().to_bytes(), NEIGHBOR_SOLICITATION);
    assert_eq!(
        Frame::decode(&NEIGHBOR_SOLICITATION),
        Ok(neighbor_solicitation())
    );
}

#[test]
fn solicited_neighbor_advertisement_golden_bytes_both_ways() {
    assert!(independent_checksum_holds(&NEIGHBOR_ADVERTISEMENT));
    assert_eq!(
        neighbor_advertisement(true).to_bytes(),
        NEIGHBOR_ADVERTISEMENT
    );
    assert_eq!(
        Frame::decode(&NEIGHBOR_ADVERTISEMENT),
        Ok(neighbor_advertisement(true))
    );
}

#[test]
fn unsolicited_neighbor_advertisement_golden_bytes_both_ways() {
    assert!(independent_checksum_holds(&UNSOLICITED_ADVERTISEMENT));
    assert_eq!(
        neighbor_advertisement(false).to_bytes(),
        UNSOLICITED_ADVERTISEMENT
    );
    assert_eq!(
        Frame::decode(&UNSOLICITED_ADVERTISEMENT),
        Ok(neighbor_advertisement(false))
    );
}

fn responder_owning_the_service_addresses(now: Instant) -> Responder {
    let mut responder = Responder::new();
    responder.set_interfaces(
        BTreeMap::from([(
            InterfaceId(1),
            Interface {
                mac: NODE,
                addresses: BTreeSet::from([IpAddr::V4(SERVICE_V4), IpAddr::V6(SERVICE_V6)]),
            },
        )]),
        now,
    );
    responder
}

fn drain(responder: &mut Responder, now: Instant) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| responder.poll_transmit(now))
        .map(|(interface, frame)| {
            assert_eq!(interface, InterfaceId(1));
            frame
        })
        .collect()
}

#[test]
fn first_announcements_are_the_golden_gratuitous_arp_pair_and_unsolicited_advertisement() {
    let now = Instant::now();
    let mut responder = responder_owning_the_service_addresses(now);
    let mut gratuitous_reply = GRATUITOUS_ARP_REQUEST;
    gratuitous_reply[21] = 2;
    assert_eq!(
        drain(&mut responder, now),
        [
            GRATUITOUS_ARP_REQUEST.to_vec(),
            gratuitous_reply.to_vec(),
            UNSOLICITED_ADVERTISEMENT.to_vec()
        ]
    );
}

#[test]
fn golden_arp_request_gets_the_golden_reply() {
    let now = Instant::now();
    let mut responder = responder_owning_the_service_addresses(now);
    drain(&mut responder, now);
    responder.handle_frame(InterfaceId(1), &ARP_REQUEST, now);
    assert_eq!(drain(&mut responder, now), [ARP_REPLY.to_vec()]);
}

#[test]
fn golden_solicitation_gets_the_golden_advertisement() {
    let now = Instant::now();
    let mut responder = responder_owning_the_service_addresses(now);
    drain(&mut responder, now);
    responder.handle_frame(InterfaceId(1), &NEIGHBOR_SOLICITATION, now);
    assert_eq!(
        drain(&mut responder, now),
        [NEIGHBOR_ADVERTISEMENT.to_vec()]
    );
}

#[test]
fn a_corrupted_checksum_is_refused() {
    let mut corrupted = NEIGHBOR_SOLICITATION;
    corrupted[57] ^= 1;
    assert!(!independent_checksum_holds(&corrupted));
    assert_eq!(
        Frame::decode(&corrupted),
        Err(ironlb_neighbor::DropReason::NdpChecksum)
    );
}
