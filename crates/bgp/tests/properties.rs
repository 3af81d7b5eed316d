//! Property tests: OPEN and UPDATE round-trip, and no input makes a decoder panic.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use ironlb_bgp::packet::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![
        Just(Family::IPV4_UNICAST),
        Just(Family::IPV6_UNICAST),
        (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Family::from_codes(afi, safi)),
    ]
}

/// A family that MP attributes keep as raw bytes.
fn other_family() -> impl Strategy<Value = Family> {
    family().prop_filter("not decoded as unicast", |family| {
        *family != Family::IPV4_UNICAST && *family != Family::IPV6_UNICAST
    })
}

fn capability() -> impl Strategy<Value = Capability> {
    let known = [1u8, 2, 5, 6, 64, 65, 70];
    prop_oneof![
        family().prop_map(Capability::Multiprotocol),
        vec((family(), any::<u16>()), 0..5).prop_map(|tuples| {
            Capability::ExtendedNextHop(
                tuples
                    .into_iter()
                    .map(|(family, next_hop)| ExtendedNextHop {
                        family,
                        next_hop: AddressFamily::from_code(next_hop),
                    })
                    .collect(),
            )
        }),
        Just(Capability::RouteRefresh),
        Just(Capability::ExtendedMessage),
        Just(Capability::EnhancedRouteRefresh),
        (1..=u32::MAX).prop_map(Capability::FourOctetAs),
        (
            any::<bool>(),
            any::<bool>(),
            0..=GracefulRestart::MAXIMUM_RESTART_TIME,
            vec((family(), any::<bool>()), 0..5)
        )
            .prop_map(|(restart_state, notification, restart_time, families)| {
                Capability::GracefulRestart(GracefulRestart {
                    restart_state,
                    notification,
                    restart_time,
                    families: families
                        .into_iter()
                        .map(|(family, forwarding_state)| GracefulRestartFamily {
                            family,
                            forwarding_state,
                        })
                        .collect(),
                })
            }),
        (
            any::<u8>().prop_filter("unknown code", move |code| !known.contains(code)),
            vec(any::<u8>(), 0..60)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn open() -> impl Strategy<Value = Open> {
    (
        1..=u16::MAX,
        prop_oneof![Just(0u16), 3..=u16::MAX],
        (1..=u32::MAX).prop_map(Ipv4Addr::from),
        vec(vec(capability(), 0..8), 0..6),
    )
        .prop_map(
            |(my_autonomous_system, hold_time, bgp_identifier, parameters)| Open {
                my_autonomous_system,
                hold_time,
                bgp_identifier,
                optional_parameters: parameters
                    .into_iter()
                    .map(OptionalParameter::Capabilities)
                    .collect(),
            },
        )
}

fn ipv4_prefix() -> impl Strategy<Value = Ipv4Net> {
    (any::<u32>(), 0..=32u8).prop_map(|(address, length)| {
        Ipv4Net::new(Ipv4Addr::from(address), length)
            .unwrap()
            .trunc()
    })
}

fn ipv6_prefix() -> impl Strategy<Value = Ipv6Net> {
    (any::<u128>(), 0..=128u8).prop_map(|(address, length)| {
        Ipv6Net::new(Ipv6Addr::from(address), length)
            .unwrap()
            .trunc()
    })
}

fn unicast_next_hop() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("a usable next hop", |address| {
            !address.is_unspecified() && !address.is_multicast() && !address.is_broadcast()
        })
}

fn ipv6_next_hop() -> impl Strategy<Value = Ipv6NextHop> {
    (any::<u128>(), option::of(any::<u128>())).prop_map(|(global, link_local)| Ipv6NextHop {
        global: Ipv6Addr::from(global),
        link_local: link_local.map(Ipv6Addr::from),
    })
}

fn as_number(four_octet: bool) -> BoxedStrategy<u32> {
    if four_octet {
        (1..=u32::MAX).boxed()
    } else {
        (1..=u32::from(u16::MAX)).boxed()
    }
}

fn as_path(
    four_octet: bool,
    confederations: bool,
    minimum_segments: usize,
) -> impl Strategy<Value = AsPath> {
    let segment_type = if confederations {
        prop_oneof![
            Just(SegmentType::Sequence),
            Just(SegmentType::Set),
            Just(SegmentType::ConfederationSequence),
            Just(SegmentType::ConfederationSet),
        ]
        .boxed()
    } else {
        prop_oneof![Just(SegmentType::Sequence), Just(SegmentType::Set)].boxed()
    };
    vec(
        (segment_type, vec(as_number(four_octet), 1..12)),
        minimum_segments..4,
    )
    .prop_map(|segments| AsPath {
        segments: segments
            .into_iter()
            .map(|(segment_type, as_numbers)| AsPathSegment {
                segment_type,
                as_numbers,
            })
            .collect(),
    })
}

fn aggregator(four_octet: bool) -> impl Strategy<Value = Aggregator> {
    (as_number(four_octet), any::<u32>()).prop_map(|(as_number, address)| Aggregator {
        as_number,
        address: Ipv4Addr::from(address),
    })
}

fn mp_reach() -> impl Strategy<Value = MpReachNlri> {
    prop_oneof![
        (
            prop_oneof![
                unicast_next_hop().prop_map(NextHop::Ipv4),
                ipv6_next_hop().prop_map(NextHop::Ipv6)
            ],
            vec(ipv4_prefix(), 0..6)
        )
            .prop_map(|(next_hop, prefixes)| MpReachNlri::Ipv4Unicast { next_hop, prefixes }),
        (ipv6_next_hop(), vec(ipv6_prefix(), 0..6))
            .prop_map(|(next_hop, prefixes)| MpReachNlri::Ipv6Unicast { next_hop, prefixes }),
        (
            other_family(),
            vec(any::<u8>(), 0..40),
            vec(any::<u8>(), 0..40)
        )
            .prop_map(|(family, next_hop, nlri)| MpReachNlri::Unknown {
                family,
                next_hop,
                nlri
            }),
    ]
}

fn mp_unreach() -> impl Strategy<Value = MpUnreachNlri> {
    prop_oneof![
        vec(ipv4_prefix(), 0..6).prop_map(MpUnreachNlri::Ipv4Unicast),
        vec(ipv6_prefix(), 0..6).prop_map(MpUnreachNlri::Ipv6Unicast),
        (other_family(), vec(any::<u8>(), 0..40))
            .prop_map(|(family, nlri)| MpUnreachNlri::Unknown { family, nlri }),
    ]
}

fn unknown_attributes() -> impl Strategy<Value = Vec<PathAttribute>> {
    let flags = prop_oneof![
        Just(AttributeFlags::OPTIONAL_NON_TRANSITIVE),
        Just(AttributeFlags::OPTIONAL_TRANSITIVE),
        Just(AttributeFlags::OPTIONAL_TRANSITIVE.with_partial(true)),
    ];
    proptest::collection::btree_map(
        any::<u8>().prop_filter("unknown type", |code| !attribute::is_known_type(*code)),
        (flags, vec(any::<u8>(), 0..300)),
        0..3,
    )
    .prop_map(|map: BTreeMap<u8, (AttributeFlags, Vec<u8>)>| {
        map.into_iter()
            .map(|(type_code, (flags, value))| {
                PathAttribute::Unknown(UnknownAttribute {
                    flags,
                    type_code,
                    value,
                })
            })
            .collect()
    })
}

fn context() -> impl Strategy<Value = CodecContext> {
    (any::<bool>(), any::<bool>()).prop_map(|(four_octet_as, internal)| CodecContext {
        four_octet_as,
        // Room for everything the strategies make.
        extended_messages: true,
        peer_type: if internal {
            PeerType::Internal
        } else {
            PeerType::External
        },
    })
}

/// An UPDATE that a receiver accepts without any error under `context`.
fn update(context: CodecContext) -> impl Strategy<Value = Update> {
    let four_octet = context.four_octet_as;
    let internal = context.peer_type == PeerType::Internal;
    let mandatory = (
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ],
        as_path(four_octet, internal, 0),
        unicast_next_hop(),
    );
    let common = (
        option::of(any::<u32>()),
        any::<bool>(),
        option::of(aggregator(four_octet)),
        option::of(vec(any::<u32>().prop_map(Community), 1..6)),
        option::of(vec(any::<[u8; 8]>().prop_map(ExtendedCommunity), 1..4)),
        option::of(vec(
            any::<(u32, u32, u32)>().prop_map(|(a, b, c)| LargeCommunity::new(a, b, c)),
            1..4,
        )),
        option::of(mp_reach()),
        option::of(mp_unreach()),
    );
    let internal_only = (
        option::of(any::<u32>()),
        option::of(any::<u32>().prop_map(Ipv4Addr::from)),
        option::of(vec(any::<u32>().prop_map(Ipv4Addr::from), 1..4)),
    );
    let old_speaker_only = (
        option::of(as_path(true, false, 1)),
        option::of(aggregator(true)),
    );
    (
        vec(ipv4_prefix(), 0..6),
        vec(ipv4_prefix(), 0..6),
        mandatory,
        common,
        internal_only,
        old_speaker_only,
        unknown_attributes(),
    )
        .prop_flat_map(
            move |(withdrawn_routes, nlri, mandatory, common, internal_only, old, unknown)| {
                let (origin, path, next_hop) = mandatory;
                let (med, atomic, aggregator, communities, extended, large, reach, unreach) =
                    common;
                let mut attributes = vec![
                    PathAttribute::Origin(origin),
                    PathAttribute::AsPath(path),
                    PathAttribute::NextHop(next_hop),
                ];
                attributes.extend(med.map(PathAttribute::MultiExitDiscriminator));
                if atomic {
                    attributes.push(PathAttribute::AtomicAggregate);
                }
                attributes.extend(aggregator.map(PathAttribute::Aggregator));
                attributes.extend(communities.map(PathAttribute::Communities));
                attributes.extend(extended.map(PathAttribute::ExtendedCommunities));
                attributes.extend(large.map(PathAttribute::LargeCommunities));
                attributes.extend(reach.map(PathAttribute::MpReachNlri));
                attributes.extend(unreach.map(PathAttribute::MpUnreachNlri));
                if internal {
                    let (local_preference, originator, cluster) = internal_only;
                    attributes.extend(local_preference.map(PathAttribute::LocalPreference));
                    attributes.extend(originator.map(PathAttribute::OriginatorId));
                    attributes.extend(cluster.map(PathAttribute::ClusterList));
                }
                if !four_octet {
                    let (as4_path, as4_aggregator) = old;
                    attributes.extend(as4_path.map(PathAttribute::As4Path));
                    attributes.extend(as4_aggregator.map(PathAttribute::As4Aggregator));
                }
                attributes.extend(unknown);
                (
                    Just(withdrawn_routes),
                    Just(attributes).prop_shuffle(),
                    Just(nlri),
                )
            },
        )
        .prop_map(|(withdrawn_routes, attributes, nlri)| Update {
            withdrawn_routes,
            attributes,
            nlri,
        })
}

fn context_and_update() -> impl Strategy<Value = (CodecContext, Update)> {
    context().prop_flat_map(|context| (Just(context), update(context)))
}

/// Decoding a message never panics, and whatever decodes re-encodes to a message that decodes
/// to the same value.
fn check_decode(bytes: &[u8], context: &CodecContext) {
    let _ = frame_length(bytes, context);
    let _ = Received::decode(bytes, context);
    if let Ok(message) = Message::decode(bytes, context) {
        let again = Message::decode(&message.encode(context), context);
        assert_eq!(again.as_ref(), Ok(&message));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn open_round_trips(open in open()) {
        let context = CodecContext::default();
        let message = Message::Open(open);
        let bytes = message.encode(&context);
        prop_assert_eq!(Message::decode(&bytes, &context), Ok(message));
    }

    #[test]
    fn update_round_trips((context, update) in context_and_update()) {
        let message = Message::Update(update.clone());
        let bytes = message.encode(&context);
        prop_assert_eq!(frame_length(&bytes, &context), Some(Ok(bytes.len())));
        prop_assert_eq!(Message::decode(&bytes, &context), Ok(message));
        prop_assert_eq!(
            Received::decode(&bytes, &context),
            Ok(Received::Update(UpdateOutcome::Accepted { update, discarded: vec![] }))
        );
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..600),
        context in context(),
    ) {
        check_decode(&bytes, &context);
        let _ = Update::decode(&bytes, &context);
        let _ = Open::decode(&bytes);
        let _ = Notification::decode(&bytes);
        let _ = RouteRefresh::decode(&bytes);
        let _ = Capability::decode_list(&bytes);
    }

    #[test]
    fn random_bodies_behind_a_valid_header_never_panic(
        message_type in 1..=5u8,
        body in vec(any::<u8>(), 0..600),
        context in context(),
    ) {
        let mut bytes = vec![0xff; 16];
        bytes.extend_from_slice(&((body.len() + 19) as u16).to_be_bytes());
        bytes.push(message_type);
        bytes.extend_from_slice(&body);
        check_decode(&bytes, &context);
    }

    #[test]
    fn mutated_updates_never_panic(
        (context, update) in context_and_update(),
        mutations in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = Message::Update(update).encode(&context);
        // Leave the header alone so the body gets exercised.
        for (index, value) in mutations {
            let position = 19 + index.index(bytes.len() - 19);
            bytes[position] = value;
        }
        check_decode(&bytes, &context);
    }

    #[test]
    fn mutated_opens_never_panic(
        open in open(),
        mutations in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let context = CodecContext::default();
        let mut bytes = Message::Open(open).encode(&context);
        for (index, value) in mutations {
            let position = 19 + index.index(bytes.len() - 19);
            bytes[position] = value;
        }
        check_decode(&bytes, &context);
    }
}
