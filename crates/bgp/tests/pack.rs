//! Packing many prefixes into few UPDATEs.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use ironlb_bgp::packet::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn attributes() -> Vec<PathAttribute> {
    vec![
        PathAttribute::AsPath(AsPath::sequence([65001])),
        PathAttribute::Origin(Origin::Igp),
    ]
}

fn hosts_v4(count: u32) -> Vec<Ipv4Net> {
    (0..count)
        .map(|index| Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 + index), 32).unwrap())
        .collect()
}

fn hosts_v6(count: u128) -> Vec<Ipv6Net> {
    (0..count)
        .map(|index| Ipv6Net::new(Ipv6Addr::from(0x2001_0db8_u128 << 96 | index), 128).unwrap())
        .collect()
}

fn context(extended_messages: bool) -> CodecContext {
    CodecContext {
        four_octet_as: true,
        extended_messages,
        peer_type: PeerType::External,
    }
}

/// Each UPDATE fits, is accepted without errors, and together they carry exactly the input.
fn check(updates: &[Update], context: &CodecContext) -> (Vec<IpNet>, Vec<IpNet>) {
    let mut announced = Vec::new();
    let mut withdrawn = Vec::new();
    for update in updates {
        let bytes = Message::Update(update.clone()).encode(context);
        assert!(
            bytes.len() <= context.maximum_message_length(),
            "{} octets",
            bytes.len()
        );
        match Received::decode(&bytes, context).unwrap() {
            Received::Update(UpdateOutcome::Accepted {
                update: decoded,
                discarded,
            }) => {
                assert!(discarded.is_empty(), "{discarded:?}");
                assert_eq!(&decoded, update);
            }
            other => panic!("{other:?}"),
        }
        announced.extend(update.announced());
        withdrawn.extend(update.withdrawn());
    }
    (announced, withdrawn)
}

#[test]
fn ten_thousand_ipv4_hosts_fit_in_thirteen_updates() {
    // ORIGIN (4) + AS_PATH (9) + NEXT_HOP (7) leave 4096 - 23 - 20 = 4053 octets: 810 /32s.
    let prefixes = hosts_v4(10_000);
    let context = context(false);
    let updates = pack_updates(
        &attributes(),
        Some((Ipv4Addr::new(192, 0, 2, 1), &prefixes)),
        None,
        &[],
        &context,
    );
    assert_eq!(updates.len(), 13);
    assert_eq!(updates[0].nlri.len(), 810);
    let (announced, _) = check(&updates, &context);
    assert_eq!(
        announced,
        prefixes.iter().copied().map(IpNet::V4).collect::<Vec<_>>()
    );
    // Attributes in ascending type order (RFC 4271 §5).
    let codes: Vec<u8> = updates[0]
        .attributes
        .iter()
        .map(PathAttribute::type_code)
        .collect();
    assert_eq!(codes, [1, 2, 3]);
    // A full UPDATE leaves less room than one more /32.
    let full = Message::Update(updates[0].clone()).encode(&context);
    assert!(full.len() > 4096 - 5);
}

#[test]
fn with_extended_messages_one_update_is_enough() {
    let prefixes = hosts_v4(10_000);
    let context = context(true);
    let updates = pack_updates(
        &attributes(),
        Some((Ipv4Addr::new(192, 0, 2, 1), &prefixes)),
        None,
        &[],
        &context,
    );
    assert_eq!(updates.len(), 1);
    check(&updates, &context);
}

#[test]
fn ten_thousand_ipv6_hosts_go_in_mp_reach_placed_first() {
    // 4096 - 23 - 13 (ORIGIN, AS_PATH) - 4 - 21 (MP_REACH with a 16-octet next hop) = 4035:
    // 237 /128s of 17 octets.
    let prefixes = hosts_v6(10_000);
    let context = context(false);
    let next_hop = Ipv6NextHop::global("2001:db8::1".parse().unwrap());
    let updates = pack_updates(
        &attributes(),
        None,
        Some((next_hop, &prefixes)),
        &[],
        &context,
    );
    assert_eq!(updates.len(), 10_000_usize.div_ceil(237));
    assert!(matches!(
        updates[0].attributes[0],
        PathAttribute::MpReachNlri(_)
    ));
    assert!(updates[0].next_hop().is_none());
    let (announced, _) = check(&updates, &context);
    assert_eq!(announced.len(), 10_000);
}

#[test]
fn withdrawals_come_first_and_the_callers_next_hops_are_replaced() {
    let withdrawals: Vec<IpNet> = vec![
        "10.9.0.0/16".parse().unwrap(),
        "2001:db8:9::/48".parse().unwrap(),
    ];
    let mut shared = attributes();
    shared.push(PathAttribute::NextHop(Ipv4Addr::new(198, 51, 100, 1)));
    let ipv4 = hosts_v4(2);
    let updates = pack_updates(
        &shared,
        Some((Ipv4Addr::new(192, 0, 2, 1), &ipv4)),
        None,
        &withdrawals,
        &context(false),
    );
    assert_eq!(updates.len(), 3);
    assert_eq!(updates[0].withdrawn(), withdrawals[..1]);
    assert_eq!(updates[1].withdrawn(), withdrawals[1..]);
    assert_eq!(updates[2].next_hop(), Some(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(updates[2].attributes.len(), 3);
}

#[test]
fn nothing_to_send_is_no_update() {
    assert!(pack_updates(&attributes(), None, None, &[], &context(false)).is_empty());
}

proptest! {
    #[test]
    fn packed_updates_carry_every_prefix_once(
        ipv4 in vec((any::<u32>(), 0..=32u8), 0..2000),
        ipv6 in vec((any::<u128>(), 0..=128u8), 0..600),
        withdrawn_v4 in vec((any::<u32>(), 0..=32u8), 0..1500),
        withdrawn_v6 in vec((any::<u128>(), 0..=128u8), 0..400),
        extended in any::<bool>(),
        link_local in any::<bool>(),
    ) {
        let context = context(extended);
        let ipv4: Vec<Ipv4Net> = ipv4.into_iter().map(|(a, l)| Ipv4Net::new(a.into(), l).unwrap().trunc()).collect();
        let ipv6: Vec<Ipv6Net> = ipv6.into_iter().map(|(a, l)| Ipv6Net::new(a.into(), l).unwrap().trunc()).collect();
        let mut withdrawals: Vec<IpNet> = withdrawn_v4
            .into_iter()
            .map(|(a, l)| IpNet::V4(Ipv4Net::new(a.into(), l).unwrap().trunc()))
            .collect();
        withdrawals.extend(
            withdrawn_v6.into_iter().map(|(a, l)| IpNet::V6(Ipv6Net::new(a.into(), l).unwrap().trunc())),
        );
        let next_hop = Ipv6NextHop {
            global: "2001:db8::1".parse().unwrap(),
            link_local: link_local.then(|| "fe80::1".parse().unwrap()),
        };
        let mut shared = attributes();
        shared.push(PathAttribute::Communities(vec![Community::new(65000, 100)]));
        let updates = pack_updates(
            &shared,
            Some((Ipv4Addr::new(192, 0, 2, 1), &ipv4)),
            Some((next_hop, &ipv6)),
            &withdrawals,
            &context,
        );
        let (announced, withdrawn) = check(&updates, &context);
        let mut expected: Vec<IpNet> = ipv4.iter().copied().map(IpNet::V4).collect();
        expected.extend(ipv6.iter().copied().map(IpNet::V6));
        prop_assert_eq!(announced, expected);
        let mut expected_withdrawn: Vec<IpNet> = withdrawals.iter().copied().filter(|p| matches!(p, IpNet::V4(_))).collect();
        expected_withdrawn.extend(withdrawals.iter().copied().filter(|p| matches!(p, IpNet::V6(_))));
        prop_assert_eq!(withdrawn, expected_withdrawn);
    }
}
