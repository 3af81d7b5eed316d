//! Byte-exact golden tests: each message is written out by hand from the RFC layouts, then
//! `encode(value) == bytes` and `decode(bytes) == value`.

mod common;

use std::net::Ipv4Addr;

use common::{message, to_hex};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use ironlb_bgp::packet::*;

fn v4(text: &str) -> Ipv4Net {
    text.parse().unwrap()
}

fn v6(text: &str) -> Ipv6Net {
    text.parse().unwrap()
}

/// Both directions, and the speaker's reading accepts the message without any error.
fn golden(value: Message, bytes: &[u8], context: &CodecContext) {
    assert_eq!(to_hex(&value.encode(context)), to_hex(bytes), "encode");
    assert_eq!(Message::decode(bytes, context).unwrap(), value, "decode");
    assert_eq!(
        frame_length(bytes, context).unwrap().unwrap(),
        bytes.len(),
        "frame length"
    );
    match (Received::decode(bytes, context).unwrap(), value) {
        (Received::Update(outcome), Message::Update(update)) => assert_eq!(
            outcome,
            UpdateOutcome::Accepted {
                update,
                discarded: vec![]
            }
        ),
        (Received::Open(received), Message::Open(open)) => assert_eq!(received, open),
        (Received::Notification(received), Message::Notification(sent)) => {
            assert_eq!(received, sent)
        }
        (Received::RouteRefresh(received), Message::RouteRefresh(sent)) => {
            assert_eq!(received, sent)
        }
        (Received::Keepalive, Message::Keepalive) => {}
        (received, sent) => panic!("{received:?} is not {sent:?}"),
    }
}

fn four_octet(peer_type: PeerType) -> CodecContext {
    CodecContext {
        four_octet_as: true,
        extended_messages: false,
        peer_type,
    }
}

#[test]
fn keepalive() {
    golden(
        Message::Keepalive,
        &message("0013 04 # length 19, KEEPALIVE"),
        &CodecContext::default(),
    );
}

#[test]
fn open_with_every_known_capability_in_one_parameter() {
    let bytes = message(
        "003f 01                       # length 63, OPEN
         04                            # version 4
         fde9                          # My Autonomous System 65001
         005a                          # hold time 90
         c0000201                      # BGP identifier 192.0.2.1
         22                            # optional parameters length 34
         02 20                         # Capabilities parameter, 32 octets
           01 04 0001 00 01            #   multiprotocol IPv4 unicast
           01 04 0002 00 01            #   multiprotocol IPv6 unicast
           02 00                       #   route refresh
           41 04 0000fde9              #   4-octet AS 65001
           40 06 0078 0001 01 80       #   graceful restart 120 s, IPv4 unicast F bit
           06 00                       #   extended message
           46 00                       #   enhanced route refresh",
    );
    let open = Open::new(
        65001,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![
            Capability::Multiprotocol(Family::IPV4_UNICAST),
            Capability::Multiprotocol(Family::IPV6_UNICAST),
            Capability::RouteRefresh,
            Capability::FourOctetAs(65001),
            Capability::GracefulRestart(GracefulRestart {
                restart_state: false,
                notification: false,
                restart_time: 120,
                families: vec![GracefulRestartFamily {
                    family: Family::IPV4_UNICAST,
                    forwarding_state: true,
                }],
            }),
            Capability::ExtendedMessage,
            Capability::EnhancedRouteRefresh,
        ],
    );
    golden(
        Message::Open(open.clone()),
        &bytes,
        &CodecContext::default(),
    );
    assert_eq!(open.as_number(), 65001);
    assert_eq!(
        open.multiprotocol_families(),
        [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
    );
    assert_eq!(open.graceful_restart().unwrap().restart_time, 120);
}

#[test]
fn open_with_one_parameter_per_capability_and_as_trans() {
    let bytes = message(
        "0031 01                  # length 49, OPEN
         04 5ba0 00b4 0a000001    # version 4, AS_TRANS, hold 180, identifier 10.0.0.1
         14                       # optional parameters length 20
         02 06 01 04 0001 00 01   # Capabilities: multiprotocol IPv4 unicast
         02 06 41 04 fa56ea00     # Capabilities: 4-octet AS 4200000000
         02 02 02 00              # Capabilities: route refresh",
    );
    let open = Open {
        my_autonomous_system: AS_TRANS,
        hold_time: 180,
        bgp_identifier: Ipv4Addr::new(10, 0, 0, 1),
        optional_parameters: vec![
            OptionalParameter::Capabilities(vec![Capability::Multiprotocol(Family::IPV4_UNICAST)]),
            OptionalParameter::Capabilities(vec![Capability::FourOctetAs(4_200_000_000)]),
            OptionalParameter::Capabilities(vec![Capability::RouteRefresh]),
        ],
    };
    golden(
        Message::Open(open.clone()),
        &bytes,
        &CodecContext::default(),
    );
    assert_eq!(open.as_number(), 4_200_000_000);
}

#[test]
fn open_with_unknown_capability_keeps_it() {
    let bytes = message(
        "0025 01 04 fde9 0000 c0000201   # length 37, hold time 0
         08 02 06 49 04 02 61 62 00      # Capabilities: code 73, value 02 'ab' 00",
    );
    let open = Open::new(
        65001,
        0,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![Capability::Unknown {
            code: 73,
            value: vec![2, b'a', b'b', 0],
        }],
    );
    golden(Message::Open(open), &bytes, &CodecContext::default());
}

#[test]
fn rfc9072_extended_parameters_length_reads_like_the_classic_one() {
    let extended = message(
        "0027 01 04 fde9 005a c0000201   # length 39
         ff ff 0007                      # Non-Ext OP Len 255, Non-Ext OP Type 255, length 7
         02 0004 02 00 46 00             # Capabilities, 2-octet length 4: RR, enhanced RR",
    );
    let open = Open::new(
        65001,
        90,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![Capability::RouteRefresh, Capability::EnhancedRouteRefresh],
    );
    assert_eq!(
        Message::decode(&extended, &CodecContext::default()).unwrap(),
        Message::Open(open.clone())
    );
    // Sent in the classic form, since it fits.
    assert_eq!(
        Message::Open(open).encode(&CodecContext::default()),
        message("0023 01 04 fde9 005a c0000201 06 02 04 0200 4600")
    );
}

#[test]
fn update_ipv4_with_withdrawal_attributes_and_nlri() {
    let bytes = message(
        "005b 02                                # length 91, UPDATE
         0002 08 0a                             # withdrawn routes: 10.0.0.0/8
         0039                                   # path attributes, 57 octets
         40 01 01 00                            # ORIGIN IGP
         40 02 0a 02 02 0000fde9 0000fdea       # AS_PATH AS_SEQUENCE 65001 65002
         40 03 04 c0000201                      # NEXT_HOP 192.0.2.1
         80 04 04 00000064                      # MULTI_EXIT_DISC 100
         c0 08 08 fde80064 ffffff01             # COMMUNITIES 65000:100 NO_EXPORT
         c0 20 0c 0000fde8 00000001 00000002    # LARGE_COMMUNITIES 65000:1:2
         20 cb007105                            # NLRI 203.0.113.5/32
         18 c63364                              # NLRI 198.51.100.0/24",
    );
    let update = Update {
        withdrawn_routes: vec![v4("10.0.0.0/8")],
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::sequence([65001, 65002])),
            PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
            PathAttribute::MultiExitDiscriminator(100),
            PathAttribute::Communities(vec![Community::new(65000, 100), Community::NO_EXPORT]),
            PathAttribute::LargeCommunities(vec![LargeCommunity::new(65000, 1, 2)]),
        ],
        nlri: vec![v4("203.0.113.5/32"), v4("198.51.100.0/24")],
    };
    golden(
        Message::Update(update.clone()),
        &bytes,
        &four_octet(PeerType::External),
    );
    assert_eq!(update.origin(), Some(Origin::Igp));
    assert_eq!(update.as_path().unwrap().first_as(), Some(65001));
    assert_eq!(update.next_hop(), Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(update.communities().len(), 2);
    assert_eq!(update.large_communities()[0].to_string(), "65000:1:2");
    assert_eq!(update.end_of_rib_family(), None);
}

#[test]
fn update_ipv6_mp_reach_with_global_and_link_local_next_hop() {
    let bytes = message(
        "0066 02                                # length 102, UPDATE
         0000                                   # no withdrawn routes
         004f                                   # path attributes, 79 octets
         90 0e 003d                             # MP_REACH_NLRI, extended length 61
           0002 01                              #   IPv6 unicast
           20                                   #   next hop length 32
           20010db8 00000000 00000000 00000001  #   global 2001:db8::1
           fe800000 00000000 00000000 00000001  #   link-local fe80::1
           00                                   #   reserved
           80 20010db8 00000000 00000000 00000005  # 2001:db8::5/128
           30 20010db8 0001                     #   2001:db8:1::/48
         40 01 01 00                            # ORIGIN IGP
         40 02 00                               # AS_PATH empty (internal peer)
         40 05 04 00000064                      # LOCAL_PREF 100",
    );
    let update = Update {
        attributes: vec![
            PathAttribute::MpReachNlri(MpReachNlri::Ipv6Unicast {
                next_hop: Ipv6NextHop {
                    global: "2001:db8::1".parse().unwrap(),
                    link_local: Some("fe80::1".parse().unwrap()),
                },
                prefixes: vec![v6("2001:db8::5/128"), v6("2001:db8:1::/48")],
            }),
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::empty()),
            PathAttribute::LocalPreference(100),
        ],
        ..Update::default()
    };
    golden(
        Message::Update(update.clone()),
        &bytes,
        &four_octet(PeerType::Internal),
    );
    assert_eq!(
        update.announced(),
        [
            "2001:db8::5/128".parse::<IpNet>().unwrap(),
            "2001:db8:1::/48".parse().unwrap()
        ]
    );
}

#[test]
fn update_ipv4_in_mp_reach_with_ipv4_next_hop() {
    let bytes = message(
        "0036 02 0000 001f            # length 54, attributes 31 octets
         90 0e 000e 0001 01 04 c0000201 00 20 cb007105   # MP_REACH_NLRI IPv4 unicast
         40 01 01 00 40 02 06 02 01 0000fde9             # ORIGIN IGP, AS_PATH 65001",
    );
    let update = Update {
        attributes: vec![
            PathAttribute::MpReachNlri(MpReachNlri::Ipv4Unicast {
                next_hop: NextHop::Ipv4(Ipv4Addr::new(192, 0, 2, 1)),
                prefixes: vec![v4("203.0.113.5/32")],
            }),
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::sequence([65001])),
        ],
        ..Update::default()
    };
    golden(
        Message::Update(update),
        &bytes,
        &four_octet(PeerType::External),
    );
}

#[test]
fn update_to_an_old_speaker_with_as4_path_and_aggregators() {
    let bytes = message(
        "0052 02                              # length 82, UPDATE
         0000 0038                            # no withdrawn routes, attributes 56 octets
         40 01 01 02                          # ORIGIN INCOMPLETE
         40 02 06 02 02 fde9 5ba0             # AS_PATH 65001 AS_TRANS (2-octet)
         40 03 04 c0000201                    # NEXT_HOP 192.0.2.1
         40 06 00                             # ATOMIC_AGGREGATE
         c0 07 06 5ba0 0a000001               # AGGREGATOR AS_TRANS 10.0.0.1
         c0 11 0a 02 02 0000fde9 fa56ea00     # AS4_PATH 65001 4200000000
         c0 12 08 fa56ea00 0a000001           # AS4_AGGREGATOR 4200000000 10.0.0.1
         10 0a01                              # NLRI 10.1.0.0/16",
    );
    let aggregator_address = Ipv4Addr::new(10, 0, 0, 1);
    let update = Update {
        attributes: vec![
            PathAttribute::Origin(Origin::Incomplete),
            PathAttribute::AsPath(AsPath::sequence([65001, u32::from(AS_TRANS)])),
            PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
            PathAttribute::AtomicAggregate,
            PathAttribute::Aggregator(Aggregator {
                as_number: u32::from(AS_TRANS),
                address: aggregator_address,
            }),
            PathAttribute::As4Path(AsPath::sequence([65001, 4_200_000_000])),
            PathAttribute::As4Aggregator(Aggregator {
                as_number: 4_200_000_000,
                address: aggregator_address,
            }),
        ],
        nlri: vec![v4("10.1.0.0/16")],
        ..Update::default()
    };
    golden(Message::Update(update), &bytes, &CodecContext::default());
}

#[test]
fn update_ipv6_withdrawal_in_mp_unreach() {
    let bytes = message(
        "002f 02 0000 0018                      # length 47, attributes 24 octets
         90 0f 0014 0002 01                     # MP_UNREACH_NLRI, 20 octets, IPv6 unicast
         80 20010db8 00000000 00000000 00000005 # 2001:db8::5/128",
    );
    let update = Update {
        attributes: vec![PathAttribute::MpUnreachNlri(MpUnreachNlri::Ipv6Unicast(
            vec![v6("2001:db8::5/128")],
        ))],
        ..Update::default()
    };
    golden(
        Message::Update(update.clone()),
        &bytes,
        &CodecContext::default(),
    );
    assert_eq!(
        update.withdrawn(),
        ["2001:db8::5/128".parse::<IpNet>().unwrap()]
    );
}

#[test]
fn end_of_rib_markers() {
    let ipv4 = message("0017 02 0000 0000 # an empty UPDATE");
    golden(
        Message::Update(Update::end_of_rib(Family::IPV4_UNICAST)),
        &ipv4,
        &CodecContext::default(),
    );
    let ipv6 = message("001e 02 0000 0007 90 0f 0003 0002 01 # only an empty MP_UNREACH_NLRI");
    golden(
        Message::Update(Update::end_of_rib(Family::IPV6_UNICAST)),
        &ipv6,
        &CodecContext::default(),
    );
    let vpn = Family::from_codes(1, 128);
    assert_eq!(Update::end_of_rib(vpn).end_of_rib_family(), Some(vpn));
    assert_eq!(
        Update::end_of_rib(Family::IPV6_UNICAST).end_of_rib_family(),
        Some(Family::IPV6_UNICAST)
    );
    assert_eq!(
        Update::default().end_of_rib_family(),
        Some(Family::IPV4_UNICAST)
    );
}

#[test]
fn unknown_optional_transitive_attribute_is_kept_with_its_partial_bit() {
    let bytes = message(
        "0030 02 0000 0015             # length 48, attributes 21 octets
         40 01 01 00                   # ORIGIN IGP
         40 02 00                      # AS_PATH empty
         40 03 04 c0000201             # NEXT_HOP 192.0.2.1
         e0 23 04 0000fde9             # type 35, optional transitive partial
         18 cb0071                     # NLRI 203.0.113.0/24",
    );
    let unknown = UnknownAttribute {
        flags: AttributeFlags::OPTIONAL_TRANSITIVE.with_partial(true),
        type_code: 35,
        value: vec![0, 0, 0xfd, 0xe9],
    };
    let update = Update {
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::empty()),
            PathAttribute::NextHop(Ipv4Addr::new(192, 0, 2, 1)),
            PathAttribute::Unknown(unknown),
        ],
        nlri: vec![v4("203.0.113.0/24")],
        ..Update::default()
    };
    golden(
        Message::Update(update),
        &bytes,
        &four_octet(PeerType::Internal),
    );
}

#[test]
fn extended_communities_originator_and_cluster_list() {
    let bytes = message(
        "003b 02 0000 0024                     # length 59, attributes 36 octets
         40 01 01 00 40 02 00                  # ORIGIN IGP, AS_PATH empty
         c0 10 08 0002fde8 00000064            # EXTENDED COMMUNITIES route target 65000:100
         80 09 04 0a000009                     # ORIGINATOR_ID 10.0.0.9
         80 0a 08 0a000001 0a000002            # CLUSTER_LIST 10.0.0.1 10.0.0.2",
    );
    let update = Update {
        attributes: vec![
            PathAttribute::Origin(Origin::Igp),
            PathAttribute::AsPath(AsPath::empty()),
            PathAttribute::ExtendedCommunities(vec![ExtendedCommunity([
                0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 0x64,
            ])]),
            PathAttribute::OriginatorId(Ipv4Addr::new(10, 0, 0, 9)),
            PathAttribute::ClusterList(vec![
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2),
            ]),
        ],
        ..Update::default()
    };
    golden(
        Message::Update(update),
        &bytes,
        &four_octet(PeerType::Internal),
    );
}

#[test]
fn notification_cease_with_shutdown_communication() {
    let bytes = message(
        "0021 03                       # length 33, NOTIFICATION
         06 02                         # Cease, Administrative Shutdown
         0b 6d61696e74656e616e6365     # 11 octets: \"maintenance\"",
    );
    let notification =
        Notification::cease_with_communication(CeaseSubcode::AdministrativeShutdown, "maintenance");
    golden(
        Message::Notification(notification.clone()),
        &bytes,
        &CodecContext::default(),
    );
    assert_eq!(notification.shutdown_communication(), Some("maintenance"));
    assert_eq!(
        notification.to_string(),
        "cease: administrative shutdown (6/2) \"maintenance\""
    );
}

#[test]
fn notification_hold_timer_expired_and_header_error() {
    golden(
        Message::Notification(Notification::hold_timer_expired()),
        &message("0015 03 04 00"),
        &CodecContext::default(),
    );
    golden(
        Message::Notification(DecodeError::BadMessageLength { length: 18 }.notification()),
        &message("0017 03 01 02 0012 # bad message length, data: the length 18"),
        &CodecContext::default(),
    );
}

#[test]
fn route_refresh_plain_and_enhanced() {
    golden(
        Message::RouteRefresh(RouteRefresh::new(Family::IPV4_UNICAST)),
        &message("0017 05 0001 00 01 # AFI 1, subtype 0, SAFI 1"),
        &CodecContext::default(),
    );
    golden(
        Message::RouteRefresh(RouteRefresh {
            family: Family::IPV6_UNICAST,
            subtype: RouteRefreshSubtype::BeginningOfRouteRefresh,
        }),
        &message("0017 05 0002 01 01 # AFI 2, BoRR, SAFI 1"),
        &CodecContext::default(),
    );
}

#[test]
fn the_negotiated_context_needs_both_sides() {
    let identifier = Ipv4Addr::new(192, 0, 2, 1);
    let ours = Open::new(
        65001,
        90,
        identifier,
        vec![Capability::FourOctetAs(65001), Capability::ExtendedMessage],
    );
    let theirs = Open::new(65002, 90, identifier, vec![Capability::FourOctetAs(65002)]);
    let context = CodecContext::negotiate(&ours, &theirs, PeerType::External);
    assert!(context.four_octet_as);
    assert!(!context.extended_messages);
    assert_eq!(context.maximum_message_length(), 4096);
}

#[test]
fn decoded_prefixes_drop_trailing_bits() {
    // 10.1.47.0/20 on the wire (trailing bits 1111 set) reads as 10.1.32.0/20.
    let bytes =
        message("002e 02 0000 000e 40 01 01 00 40 02 00 40 03 04 c0000201 14 0a012f 20 0a010203");
    let Message::Update(update) = Message::decode(&bytes, &four_octet(PeerType::Internal)).unwrap()
    else {
        panic!("not an UPDATE");
    };
    assert_eq!(update.nlri, [v4("10.1.32.0/20"), v4("10.1.2.3/32")]);
}
