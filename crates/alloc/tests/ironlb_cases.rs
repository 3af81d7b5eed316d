//! Behaviours that MetalLB has without a dedicated test, and IronLB's deliberate differences.

mod common;

use std::collections::BTreeMap;

use common::*;
use ironlb_alloc::{
    AllocError, Allocator, ClearReason, FamilyNeed, FamilyPolicy, IpFamily, Port, RequestOptions,
    ServiceFamily, ServiceRequest,
};

// MetalLB's getIPFromCIDR takes the lowest address that is free *or* sharable: Services with
// one sharing key pack onto one address before new addresses are used.
#[test]
fn sharing_packs_onto_the_lowest_compatible_address() {
    let mut a = Allocator::new(&config([pool("p", &["10.2.2.0/29"])]));
    let keyed = |port| v4().with_sharing_key("g").with_ports([Port::tcp(port)]);
    assert_eq!(a.assign("a", &keyed(80)).unwrap().ips, ips(&["10.2.2.0"]));
    assert_eq!(a.assign("b", &v4()).unwrap().ips, ips(&["10.2.2.1"]));
    assert_eq!(a.assign("c", &keyed(443)).unwrap().ips, ips(&["10.2.2.0"]));
    // Same port as a and c on .0: next compatible is a fresh address.
    assert_eq!(a.assign("d", &keyed(80)).unwrap().ips, ips(&["10.2.2.2"]));
    assert_eq!(a.assign("e", &keyed(443)).unwrap().ips, ips(&["10.2.2.2"]));
    // Same key, but Local with a selector: a different backend key, so no sharing with a/c.
    let selector = BTreeMap::from([("app".to_string(), "web".to_string())]);
    let local = keyed(8080).with_local_traffic(&selector);
    assert_eq!(a.assign("f", &local).unwrap().ips, ips(&["10.2.2.3"]));
    let local_too = keyed(9090).with_local_traffic(&selector);
    assert_eq!(a.assign("g", &local_too).unwrap().ips, ips(&["10.2.2.3"]));
    // UDP and TCP on one port number do not clash.
    let udp = v4().with_sharing_key("g").with_ports([Port::udp(80)]);
    assert_eq!(a.assign("h", &udp).unwrap().ips, ips(&["10.2.2.0"]));
}

// MetalLB's sortPools: positive priorities ascending, then unset (0). IronLB: non-positive
// counts as unset, ties by pool name.
#[test]
fn priority_order_then_name() {
    let mut a = Allocator::new(&config([
        pool("a-unset", &["10.3.1.0/32"]).namespaces(&["ns"]),
        pool("b-negative", &["10.3.2.0/32"])
            .namespaces(&["ns"])
            .priority(-4),
        pool("c-low", &["10.3.3.0/32"])
            .namespaces(&["ns"])
            .priority(7),
        pool("d-high", &["10.3.4.0/32"])
            .namespaces(&["ns"])
            .priority(2),
        pool("e-high-too", &["10.3.5.0/32"])
            .namespaces(&["ns"])
            .priority(2),
        pool("f-fallback", &["10.3.6.0/32"]),
    ]));
    let r = ServiceRequest::new("ns", ServiceFamily::V4);
    let order: Vec<String> = (0..7)
        .map(|n| match a.assign(&format!("ns/s{n}"), &r) {
            Ok(got) => got.pool,
            Err(e) => e.reason().to_string(),
        })
        .collect();
    assert_eq!(
        order,
        [
            "d-high",
            "e-high-too",
            "c-low",
            "a-unset",
            "b-negative",
            "f-fallback",
            "NoAvailableIPs"
        ]
    );
}

// MetalLB: a serviceAllocation with only a priority admits every Service (an "everything"
// service selector) and is tried before the pools without serviceAllocation.
#[test]
fn priority_only_allocation_is_pinned_for_everyone() {
    let mut a = Allocator::new(&config([
        pool("a-plain", &["10.4.1.0/31"]),
        pool("z-priority", &["10.4.2.0/31"]).priority(0),
    ]));
    let got = a
        .assign("x", &ServiceRequest::new("anything", ServiceFamily::V4))
        .unwrap();
    assert_eq!(got.pool, "z-priority");
}

// MetalLB's quirk, reproduced: namespaceSelectors that match no Namespace leave an empty set,
// which MetalLB reads as "no namespace restriction" for explicit requests, while automatic
// choice never picks the pool (unless it has serviceSelectors).
#[test]
fn namespace_selectors_matching_nothing() {
    let mut a = Allocator::new(&config([
        pool("empty-ns", &["10.5.5.0/31"]).namespace_selector_matching_nothing()
    ]));
    let r = ServiceRequest::new("any", ServiceFamily::V4);
    assert_eq!(
        a.assign("x", &r),
        Err(AllocError::NoPoolMatches {
            namespace: "any".into()
        })
    );
    let explicit = r.clone().with_pool("empty-ns");
    assert_eq!(a.assign("x", &explicit).unwrap().ips, ips(&["10.5.5.0"]));
    let mut b = Allocator::new(&config([pool("empty-ns", &["10.5.5.0/31"])
        .namespace_selector_matching_nothing()
        .service_selector("tier", "edge")]));
    let labelled = r.with_label("tier", "edge");
    assert_eq!(b.assign("y", &labelled).unwrap().pool, "empty-ns");
}

// MetalLB tries the pinned group, then the fallback group: a PreferDualStack Service takes
// a one-family pinned pool before a dual-stack fallback pool.
#[test]
fn pinned_group_wins_over_fallback_even_for_dual_stack() {
    let mut a = Allocator::new(&config([
        pool("dual", &["10.6.1.0/31", "fd00:6:1::/127"]),
        pool("pinned-v4", &["10.6.2.0/31"]).namespaces(&["ns"]),
    ]));
    let prefer =
        ServiceRequest::new("ns", ServiceFamily::Dual).with_policy(FamilyPolicy::PreferDualStack);
    assert_eq!(a.assign("p", &prefer).unwrap().ips, ips(&["10.6.2.0"]));
    let require = ServiceRequest::new("ns", ServiceFamily::Dual);
    assert_eq!(
        a.assign("r", &require).unwrap().ips,
        ips(&["10.6.1.0", "fd00:6:1::"])
    );
}

// MetalLB's findBestPoolForService: PreferDualStack without a dual pool takes the first pool
// with the primary family (spec.ipFamilies[0]), else the other family.
#[test]
fn prefer_dual_stack_falls_back_to_primary_family() {
    let pools = config([pool("a4", &["10.7.1.0/31"]), pool("b6", &["fd00:7::/127"])]);
    let prefer = dual().with_policy(FamilyPolicy::PreferDualStack);
    let mut a = Allocator::new(&pools);
    assert_eq!(a.assign("x", &prefer).unwrap().ips, ips(&["10.7.1.0"]));
    let v6_first = prefer.clone().with_primary(IpFamily::V6);
    assert_eq!(a.assign("y", &v6_first).unwrap().ips, ips(&["fd00:7::"]));
    // Primary family exhausted: the other one.
    a.assign("z", &v6_first).unwrap();
    assert_eq!(a.assign("w", &v6_first).unwrap().ips, ips(&["10.7.1.1"]));
    assert_eq!(
        a.assign("v", &v6_first),
        Err(AllocError::NoFreeAddress {
            family: FamilyNeed::Either
        })
    );
}

// MetalLB's AllocateFromPoolForAdditionalFamily: a PreferDualStack dual-stack Service holding
// one address gets the other family from the same pool once one is free.
#[test]
fn prefer_dual_stack_adds_the_missing_family_later() {
    let mut a = Allocator::new(&config([pool("d", &["10.8.1.0/31", "fd00:8::/128"])]));
    a.assign("v6-holder", &v6()).unwrap();
    let prefer = dual().with_policy(FamilyPolicy::PreferDualStack);
    assert_eq!(a.assign("p", &prefer).unwrap().ips, ips(&["10.8.1.0"]));
    let again = a.reconcile("p", &prefer);
    assert_eq!(
        again.additional,
        Some(Err(AllocError::PoolExhausted {
            pool: "d".into(),
            family: FamilyNeed::One(IpFamily::V6)
        }))
    );
    assert!(!again.changed());
    a.release("v6-holder");
    let later = a.reconcile("p", &prefer);
    assert_eq!(later.additional, Some(Ok(ip("fd00:8::"))));
    assert!(later.changed());
    assert_eq!(later.result.unwrap().ips, ips(&["10.8.1.0", "fd00:8::"]));
    assert_eq!(a.pool_usage("d").unwrap().assigned_ipv6, 1);
}

// Restart: re-adopting status addresses gives the same state as before, and the next Service
// gets what it would have got without the restart.
#[test]
fn restore_after_restart_reproduces_the_state() {
    let pools = config([
        pool("a", &["10.9.0.0/28", "fd00:9::/124"]),
        pool("b", &["10.9.1.0/28"]).avoid_buggy(),
    ]);
    let request = |n: usize| {
        let base = match n % 4 {
            0 => v4(),
            1 => dual().with_policy(FamilyPolicy::PreferDualStack),
            2 => v4().with_sharing_key("k").with_ports([Port::tcp(n as i32)]),
            _ => v6(),
        };
        base.with_ports([Port::tcp(1000 + n as i32)])
    };
    let mut before = Allocator::new(&pools);
    for n in 0..12 {
        before.assign(&format!("s{n:02}"), &request(n)).unwrap();
    }
    before.release("s03");
    let mut after = Allocator::new(&pools);
    for (key, assignment) in before.assignments() {
        let n: usize = key[1..].parse().unwrap();
        assert_eq!(
            after.restore(key, &assignment.ips, &request(n)).as_ref(),
            Ok(assignment)
        );
    }
    assert_eq!(after.usage(), before.usage());
    for n in 0..12 {
        let key = format!("s{n:02}");
        let r = after.reconcile(&key, &request(n));
        if n != 3 {
            assert!(!r.changed(), "{key} changed after restore");
        }
        assert_eq!(before.assign(&key, &request(n)), r.result);
    }
}

// Restoring an address another restored Service holds, without a sharing key, is refused.
#[test]
fn restore_refuses_conflicting_holders() {
    let mut a = Allocator::new(&config([pool("p", &["10.10.0.0/30"])]));
    a.restore("one", &ips(&["10.10.0.1"]), &v4()).unwrap();
    assert!(matches!(
        a.restore("two", &ips(&["10.10.0.1"]), &v4()),
        Err(ClearReason::Invalid(AllocError::SharingConflict { .. }))
    ));
    assert_eq!(a.assign("two", &v4()).unwrap().ips, ips(&["10.10.0.0"]));
}

// MetalLB reads the stable annotation when present, even empty, before the deprecated one.
#[test]
fn stable_annotation_wins_over_deprecated() {
    let svc: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "s", "annotations": {
            "metallb.io/address-pool": "",
            "metallb.universe.tf/address-pool": "legacy",
            "metallb.universe.tf/allow-shared-ip": "k"}},
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.1"]}
    }))
    .unwrap();
    let r = ServiceRequest::from_service(&svc, &RequestOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(r.pool, None);
    assert_eq!(r.sharing_key.as_deref(), Some("k"));
    assert_eq!(r.namespace, "default");
    assert_eq!(r.deprecated_annotations.len(), 2);
}

#[test]
fn error_messages_say_what_to_do() {
    let exhausted = AllocError::PoolExhausted {
        pool: "default".into(),
        family: FamilyNeed::One(IpFamily::V4),
    };
    assert_eq!(
        exhausted.to_string(),
        "pool \"default\" has no free IPv4 address: add addresses to the pool or free some"
    );
    assert_eq!(exhausted.reason(), "PoolExhausted");
    let unknown = AllocError::UnknownPool { pool: "x".into() };
    assert!(
        unknown
            .to_string()
            .contains("create it, or fix the annotation")
    );
    let port = AllocError::PortInUse {
        ip: ip("10.0.0.1"),
        port: Port::tcp(80),
        other: "ns/web".into(),
    };
    assert_eq!(
        port.to_string(),
        "port TCP/80 of IP 10.0.0.1 is already used by ns/web: change the port, or request another IP"
    );
}

// Inputs a validated configuration never holds must not break the allocator.
#[test]
fn odd_configurations_do_not_panic() {
    // Overlapping CIDRs: the later one is ignored, every address keeps one owner.
    let mut a = Allocator::new(&config([
        pool("a", &["10.11.0.0/30"]),
        pool("b", &["10.11.0.2/31", "10.11.1.0/32"]),
    ]));
    let got: Vec<_> = (0..5)
        .map(|n| a.assign(&format!("s{n}"), &v4()).map(|x| x.ips[0]))
        .collect();
    assert_eq!(
        got,
        vec![
            Ok(ip("10.11.0.0")),
            Ok(ip("10.11.0.1")),
            Ok(ip("10.11.0.2")),
            Ok(ip("10.11.0.3")),
            Ok(ip("10.11.1.0"))
        ]
    );
    // Whole address spaces, at their edges.
    let mut huge = Allocator::new(&config([
        pool("all4", &["0.0.0.0/0"]).avoid_buggy(),
        pool("all6", &["::/0"]),
    ]));
    assert_eq!(huge.assign("x", &v4()).unwrap().ips, ips(&["0.0.0.1"]));
    assert_eq!(huge.assign("y", &v6()).unwrap().ips, ips(&["::"]));
    let top = v4().with_requested_ips([ip("255.255.255.254")]);
    assert!(huge.assign("z", &top).is_ok());
    let last6 = v6().with_requested_ips([ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]);
    assert!(huge.assign("w", &last6).is_ok());
    let usage = huge.pool_usage("all6").unwrap();
    assert_eq!(usage.capacity_ipv6, i64::MAX as u64);
    assert_eq!(huge.pool_usage("all4").unwrap().capacity_ipv4, 254 << 24);
    // A pool whose only address is avoided.
    let mut none = Allocator::new(&config([pool("dot0", &["10.12.0.0/32"]).avoid_buggy()]));
    assert_eq!(none.pool_usage("dot0").unwrap().capacity_ipv4, 0);
    assert!(matches!(
        none.assign("x", &v4()),
        Err(AllocError::NoFreeAddress { .. })
    ));
    // IPv4-mapped IPv6 requests count as IPv4, as in Go.
    let mapped = v4().with_requested_ips([ip("::ffff:10.11.0.1")]);
    assert_eq!(a.assign("s1", &mapped).unwrap().ips, ips(&["10.11.0.1"]));
}

// MetalLB's assign unassigns first: ports a Service stops using are free for its neighbours.
#[test]
fn changed_ports_are_released() {
    let mut a = Allocator::new(&config([pool("p", &["10.13.0.0/30"])]));
    let at = |port| {
        v4().with_requested_ips([ip("10.13.0.1")])
            .with_sharing_key("k")
            .with_ports([Port::tcp(port)])
    };
    a.assign("one", &at(80)).unwrap();
    assert!(matches!(
        a.assign("two", &at(80)),
        Err(AllocError::PortInUse { .. })
    ));
    assert!(!a.reconcile("one", &at(81)).changed());
    assert_eq!(a.assign("two", &at(80)).unwrap().ips, ips(&["10.13.0.1"]));
}
