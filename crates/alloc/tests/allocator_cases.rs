//! Cases derived from MetalLB's `internal/allocator/allocator_test.go`, with IronLB's own
//! names and values. Each test names the MetalLB test it comes from. Pool names are chosen so
//! that name order (IronLB's tie-break) is the order the case needs.

mod common;

use common::*;
use ironlb_alloc::{
    AllocError, Allocator, ClearReason, FamilyNeed, FamilyPolicy, IpFamily, PoolUsage, Port,
    ServiceFamily, SharingConflict,
};

// Derived from TestAssignment ("assign s1", "s1 idempotent reassign", "s2 can't grab s1's IP",
// "s2 can get the other IP", "s1 frees its IP", "s2 can grab s1's former IP").
#[test]
fn requested_ip_is_exclusive_until_released() {
    let mut a = Allocator::new(&config([pool(
        "edge",
        &["192.0.2.10/31", "2001:db8::a/127"],
    )]));
    let want = v4().with_requested_ips([ip("192.0.2.10")]);
    assert_eq!(a.assign("web", &want).unwrap().ips, ips(&["192.0.2.10"]));
    let again = a.reconcile("web", &want);
    assert!(!again.changed());
    assert_eq!(again.result.unwrap().ips, ips(&["192.0.2.10"]));

    assert_eq!(
        a.assign("api", &want),
        Err(AllocError::SharingConflict {
            ip: ip("192.0.2.10"),
            others: vec!["web".into()],
            conflict: SharingConflict::ExistingNoKey,
        })
    );
    assert_eq!(a.assignment("api"), None);
    let other = v4().with_requested_ips([ip("192.0.2.11")]);
    assert_eq!(a.assign("api", &other).unwrap().ips, ips(&["192.0.2.11"]));
    assert!(matches!(
        a.assign("web", &other),
        Err(AllocError::SharingConflict { .. })
    ));

    a.release("web");
    let moved = a.reconcile("api", &want);
    assert!(matches!(
        moved.cleared,
        Some(ClearReason::DifferentIpsRequested { .. })
    ));
    assert_eq!(moved.result.unwrap().ips, ips(&["192.0.2.10"]));
    assert_eq!(a.assign("web", &other).unwrap().ips, ips(&["192.0.2.11"]));
}

// Derived from TestAssignment ("s3 cannot grab a 0 buggy IP", "... 255 buggy IP", "s3 can grab
// another IP in that pool").
#[test]
fn avoid_buggy_ips_refuses_dot_zero_and_dot_255_requests() {
    let mut a = Allocator::new(&config([pool("lab", &["198.51.100.0/24"]).avoid_buggy()]));
    for text in ["198.51.100.0", "198.51.100.255"] {
        assert_eq!(
            a.assign("svc", &v4().with_requested_ips([ip(text)])),
            Err(AllocError::BuggyIpExcluded {
                ip: ip(text),
                pool: "lab".into()
            })
        );
    }
    let ok = a.assign("svc", &v4().with_requested_ips([ip("198.51.100.254")]));
    assert_eq!(ok.unwrap().ips, ips(&["198.51.100.254"]));
}

// Derived from TestAssignment ("s4 takes an IP, with sharing", "s4 changes its sharing key in
// place", "s3 can't share with s4 (port conflict)", "(wrong sharing key)", "(wrong backend
// key)", "s3 takes the same IP as s4", "s3 can change its ports while keeping the same IP",
// "s3 can't change its sharing key while keeping the same IP").
#[test]
fn sharing_rules_on_a_requested_ip() {
    let mut a = Allocator::new(&config(
        [pool("shared", &["198.51.100.0/24"]).avoid_buggy()],
    ));
    let at =
        |request: ironlb_alloc::ServiceRequest| request.with_requested_ips([ip("198.51.100.7")]);
    let first = at(v4().with_sharing_key("k1").with_ports([Port::tcp(443)]));
    assert!(a.assign("a", &first).is_ok());
    // Alone on its address, a Service may change its key.
    let rekeyed = at(v4().with_sharing_key("k2").with_ports([Port::tcp(443)]));
    assert!(!a.reconcile("a", &rekeyed).changed());

    let clash = at(v4().with_sharing_key("k2").with_ports([Port::tcp(443)]));
    assert_eq!(
        a.assign("b", &clash),
        Err(AllocError::PortInUse {
            ip: ip("198.51.100.7"),
            port: Port::tcp(443),
            other: "a".into()
        })
    );
    let wrong_key = at(v4().with_sharing_key("k3").with_ports([Port::tcp(80)]));
    assert_eq!(
        a.assign("b", &wrong_key),
        Err(AllocError::SharingConflict {
            ip: ip("198.51.100.7"),
            others: vec!["a".into()],
            conflict: SharingConflict::KeyMismatch {
                existing: "k2".into(),
                new: "k3".into()
            },
        })
    );
    let selector = std::collections::BTreeMap::from([("app".to_string(), "x".to_string())]);
    let local = at(v4()
        .with_sharing_key("k2")
        .with_ports([Port::tcp(80)])
        .with_local_traffic(&selector));
    assert_eq!(
        a.assign("b", &local),
        Err(AllocError::SharingConflict {
            ip: ip("198.51.100.7"),
            others: vec!["a".into()],
            conflict: SharingConflict::BackendMismatch {
                existing: String::new(),
                new: "app=x".into()
            },
        })
    );

    let fits = at(v4().with_sharing_key("k2").with_ports([Port::tcp(80)]));
    assert_eq!(a.assign("b", &fits).unwrap().ips, ips(&["198.51.100.7"]));
    assert_eq!(
        a.holders(ip("198.51.100.7")).collect::<Vec<_>>(),
        vec!["a", "b"]
    );
    let new_ports = at(v4().with_sharing_key("k2").with_ports([Port::udp(53)]));
    assert!(!a.reconcile("b", &new_ports).changed());

    // With a neighbour on the address the key can no longer change.
    let rekey = at(v4().with_sharing_key("k9").with_ports([Port::udp(53)]));
    let outcome = a.reconcile("b", &rekey);
    assert!(matches!(
        outcome.cleared,
        Some(ClearReason::Invalid(AllocError::SharingConflict { .. }))
    ));
    assert!(matches!(
        outcome.result,
        Err(AllocError::SharingConflict {
            conflict: SharingConflict::KeyMismatch { .. },
            ..
        })
    ));
    assert_eq!(a.assignment("b"), None);
    assert_eq!(a.holders(ip("198.51.100.7")).collect::<Vec<_>>(), vec!["a"]);
}

// Derived from TestAssignment (the IPv6 half: same rules on IPv6 addresses, no buggy IPs).
#[test]
fn ipv6_requested_addresses_follow_the_same_rules() {
    let mut a = Allocator::new(&config([pool("v6", &["2001:db8:1::/120"]).avoid_buggy()]));
    // avoidBuggyIPs has no effect on IPv6: ...:0 and ...:ff are fine.
    for (key, text) in [("x", "2001:db8:1::"), ("y", "2001:db8:1::ff")] {
        let request = v6().with_requested_ips([ip(text)]);
        assert_eq!(a.assign(key, &request).unwrap().ips, ips(&[text]));
    }
    let taken = v6().with_requested_ips([ip("2001:db8:1::")]);
    assert!(matches!(
        a.assign("z", &taken),
        Err(AllocError::SharingConflict { .. })
    ));
    let k = |port| {
        v6().with_requested_ips([ip("2001:db8:1::42")])
            .with_sharing_key("mesh")
            .with_ports([Port::tcp(port)])
    };
    assert!(a.assign("m1", &k(80)).is_ok());
    assert!(matches!(
        a.assign("m2", &k(80)),
        Err(AllocError::PortInUse { .. })
    ));
    assert_eq!(
        a.assign("m2", &k(81)).unwrap().ips,
        ips(&["2001:db8:1::42"])
    );
}

// Derived from TestAssignment ("ip dual-stack assign s1", "ip dual-stack assign s1 from
// different pools").
#[test]
fn requested_dual_stack_pair_must_come_from_one_pool() {
    let mut a = Allocator::new(&config([
        pool("one", &["192.0.2.10/31", "2001:db8::a/127"]),
        pool("two", &["203.0.113.0/24"]),
    ]));
    let same = dual().with_requested_ips(ips(&["192.0.2.10", "2001:db8::a"]));
    assert_eq!(
        a.assign("d", &same).unwrap().ips,
        ips(&["192.0.2.10", "2001:db8::a"])
    );
    let split = dual().with_requested_ips(ips(&["203.0.113.5", "2001:db8::b"]));
    assert_eq!(
        a.assign("e", &split),
        Err(AllocError::SplitAcrossPools {
            ips: ips(&["203.0.113.5", "2001:db8::b"]),
            first_pool: "two".into(),
            second_pool: "one".into()
        })
    );
}

fn admission_pools() -> Allocator {
    Allocator::new(&config([
        pool("ns-only", &["10.5.0.0/24"]).namespaces(&["team-a"]),
        pool("label-only", &["10.6.0.0/24"]).service_selector("tier", "front"),
        pool("both", &["10.7.0.0/24"])
            .priority(3)
            .namespaces(&["team-a"])
            .service_selector("tier", "front"),
        pool("both-other", &["10.8.0.0/24"])
            .namespaces(&["team-b"])
            .service_selector("app", "db"),
    ]))
}

fn in_namespace(namespace: &str) -> ironlb_alloc::ServiceRequest {
    ironlb_alloc::ServiceRequest::new(namespace, ServiceFamily::V4)
}

// Derived from TestAssignment ("attempt to assign ip from pool pinned on same namespace",
// "... on different namespace").
#[test]
fn namespace_restricted_pool_admits_only_its_namespaces() {
    let mut a = admission_pools();
    let request = |ns| in_namespace(ns).with_requested_ips([ip("10.5.0.9")]);
    assert!(a.assign("team-a/x", &request("team-a")).is_ok());
    a.release("team-a/x");
    assert_eq!(
        a.assign("other/x", &request("other")),
        Err(AllocError::PoolDoesNotAdmit {
            pool: "ns-only".into(),
            namespace: "other".into()
        })
    );
}

// Derived from TestAssignment ("attempt to assign ip from pool pinned with same service
// label", "... with different service label").
#[test]
fn service_selector_pool_admits_only_matching_labels() {
    let mut a = admission_pools();
    let front = in_namespace("anywhere")
        .with_label("tier", "front")
        .with_requested_ips([ip("10.6.0.9")]);
    assert!(a.assign("anywhere/f", &front).is_ok());
    let back = in_namespace("anywhere")
        .with_label("tier", "back")
        .with_requested_ips([ip("10.6.0.10")]);
    assert!(matches!(
        a.assign("anywhere/b", &back),
        Err(AllocError::PoolDoesNotAdmit { .. })
    ));
}

// Derived from TestAssignment ("... pinned with namespace and service label", "... namespace
// and incompatible service label", "... service label and incompatible namespace").
#[test]
fn pool_with_namespace_and_selector_needs_both() {
    let mut a = admission_pools();
    let good = in_namespace("team-a")
        .with_label("tier", "front")
        .with_requested_ips([ip("10.7.0.9")]);
    assert!(a.assign("team-a/g", &good).is_ok());
    let wrong_label = in_namespace("team-b")
        .with_label("tier", "front")
        .with_requested_ips([ip("10.8.0.9")]);
    assert!(matches!(
        a.assign("team-b/w", &wrong_label),
        Err(AllocError::PoolDoesNotAdmit { .. })
    ));
    let wrong_namespace = in_namespace("team-c")
        .with_label("app", "db")
        .with_requested_ips([ip("10.8.0.9")]);
    assert!(matches!(
        a.assign("team-c/w", &wrong_namespace),
        Err(AllocError::PoolDoesNotAdmit { .. })
    ));
}

fn annotated_pools() -> Allocator {
    Allocator::new(&config([
        pool("big", &["172.16.0.0/16", "fd00:1::/112"]),
        pool(
            "small",
            &[
                "10.9.0.4/31",
                "10.9.0.20/31",
                "fd00:9::/127",
                "fd00:a::/127",
            ],
        ),
        pool("only4", &["10.20.0.0/30"]),
        pool("only6", &["fd00:20::/126"]),
    ]))
}

// Derived from TestPoolAllocation ("s1 gets an IPv4" ... "s6 can get an IPv4 now, with
// sharing").
#[test]
fn annotated_pool_fills_in_order_then_recycles_and_shares() {
    let mut a = annotated_pools();
    let small = || v4().with_pool("small");
    for (key, want) in [
        ("s1", "10.9.0.4"),
        ("s2", "10.9.0.5"),
        ("s3", "10.9.0.20"),
        ("s4", "10.9.0.21"),
    ] {
        assert_eq!(a.assign(key, &small()).unwrap().ips, ips(&[want]));
    }
    let full = Err(AllocError::PoolExhausted {
        pool: "small".into(),
        family: FamilyNeed::One(IpFamily::V4),
    });
    assert_eq!(a.assign("s5", &small()), full);
    a.release("s1");
    assert_eq!(a.assign("s5", &small()).unwrap().ips, ips(&["10.9.0.4"]));
    assert_eq!(a.assign("s6", &small()), full);

    a.release("s5");
    let shared = |port| {
        small()
            .with_sharing_key("grp")
            .with_ports([Port::tcp(port)])
    };
    assert_eq!(a.assign("s5", &shared(80)).unwrap().ips, ips(&["10.9.0.4"]));
    assert_eq!(
        a.assign("s6", &shared(8080)).unwrap().ips,
        ips(&["10.9.0.4"])
    );
}

// Derived from TestPoolAllocation ("s1 gets an IP6" ... "s5 can now grab s1's former IP6").
#[test]
fn annotated_pool_ipv6_fills_ranges_in_written_order() {
    let mut a = annotated_pools();
    let small = || v6().with_pool("small");
    for (key, want) in [
        ("s1", "fd00:9::"),
        ("s2", "fd00:9::1"),
        ("s3", "fd00:a::"),
        ("s4", "fd00:a::1"),
    ] {
        assert_eq!(a.assign(key, &small()).unwrap().ips, ips(&[want]));
    }
    assert_eq!(
        a.assign("s5", &small()),
        Err(AllocError::PoolExhausted {
            pool: "small".into(),
            family: FamilyNeed::One(IpFamily::V6)
        })
    );
    a.release("s2");
    assert_eq!(a.assign("s5", &small()).unwrap().ips, ips(&["fd00:9::1"]));
}

// Derived from TestPoolAllocation ("s1 gets dual-stack IPs" ... "s6 can get an dual-stack IPs
// now, with sharing").
#[test]
fn annotated_pool_dual_stack_pairs() {
    let mut a = annotated_pools();
    let small = || dual().with_pool("small");
    let pairs = [
        ["10.9.0.4", "fd00:9::"],
        ["10.9.0.5", "fd00:9::1"],
        ["10.9.0.20", "fd00:a::"],
        ["10.9.0.21", "fd00:a::1"],
    ];
    for (n, want) in pairs.iter().enumerate() {
        let got = a.assign(&format!("d{n}"), &small()).unwrap();
        assert_eq!(got.ips, ips(want));
    }
    assert!(matches!(
        a.assign("d9", &small()),
        Err(AllocError::PoolExhausted { .. })
    ));
    a.release("d0");
    let shared = |port| small().with_sharing_key("s").with_ports([Port::tcp(port)]);
    assert_eq!(a.assign("d0", &shared(1)).unwrap().ips, ips(&pairs[0]));
    assert_eq!(a.assign("d9", &shared(2)).unwrap().ips, ips(&pairs[0]));
}

// Derived from TestPoolAllocation (PreferDualStack: "s2 gets ipv4 IP" from a v4 pool, "s3 gets
// ipv6 IP" from a v6 pool, "s3 gets dualstack").
#[test]
fn prefer_dual_stack_takes_what_the_annotated_pool_has() {
    let mut a = annotated_pools();
    let prefer = |p: &str| {
        dual()
            .with_policy(FamilyPolicy::PreferDualStack)
            .with_pool(p)
    };
    assert_eq!(
        a.assign("p4", &prefer("only4")).unwrap().ips,
        ips(&["10.20.0.0"])
    );
    assert_eq!(
        a.assign("p6", &prefer("only6")).unwrap().ips,
        ips(&["fd00:20::"])
    );
    assert_eq!(
        a.assign("pd", &prefer("small")).unwrap().ips,
        ips(&["10.9.0.4", "fd00:9::"])
    );
    // RequireDualStack from a one-family pool fails, naming the missing family.
    assert_eq!(
        a.assign("rd", &dual().with_pool("only4")),
        Err(AllocError::PoolLacksFamily {
            pool: "only4".into(),
            family: IpFamily::V6
        })
    );
}

// Derived from TestPoolAllocation ("Allocating from non-existent pool succeeded").
#[test]
fn unknown_annotated_pool() {
    let mut a = annotated_pools();
    assert_eq!(
        a.assign("x", &v4().with_pool("nowhere")),
        Err(AllocError::UnknownPool {
            pool: "nowhere".into()
        })
    );
    assert_eq!(
        a.assign("y", &v6().with_pool("only4")),
        Err(AllocError::PoolLacksFamily {
            pool: "only4".into(),
            family: IpFamily::V6
        })
    );
}

fn two_pools() -> Allocator {
    Allocator::new(&config([
        pool("alpha", &["10.30.0.6/31", "fd00:30::6/127"]),
        pool("beta", &["10.30.0.16/31", "fd00:30::16/127"]),
    ]))
}

// Derived from TestAllocation (IPv4 half: "s1 gets an IPv4" ... "s6 can get an IPv4 with
// sharing").
#[test]
fn automatic_choice_fills_pools_in_name_order_and_shares() {
    let mut a = two_pools();
    for (key, want) in [
        ("s1", "10.30.0.6"),
        ("s2", "10.30.0.7"),
        ("s3", "10.30.0.16"),
        ("s4", "10.30.0.17"),
    ] {
        assert_eq!(a.assign(key, &v4()).unwrap().ips, ips(&[want]));
    }
    let none = Err(AllocError::NoFreeAddress {
        family: FamilyNeed::One(IpFamily::V4),
    });
    assert_eq!(a.assign("s5", &v4()), none);
    a.release("s1");
    let shared = |port| v4().with_sharing_key("grp").with_ports([Port::tcp(port)]);
    assert_eq!(
        a.assign("s5", &shared(80)).unwrap().ips,
        ips(&["10.30.0.6"])
    );
    assert_eq!(a.assign("s6", &v4()), none);
    assert_eq!(
        a.assign("s6", &shared(443)).unwrap().ips,
        ips(&["10.30.0.6"])
    );
}

// Derived from TestAllocation (IPv6 half).
#[test]
fn automatic_choice_ipv6() {
    let mut a = two_pools();
    for (key, want) in [
        ("s1", "fd00:30::6"),
        ("s2", "fd00:30::7"),
        ("s3", "fd00:30::16"),
        ("s4", "fd00:30::17"),
    ] {
        assert_eq!(a.assign(key, &v6()).unwrap().ips, ips(&[want]));
    }
    assert_eq!(
        a.assign("s5", &v6()),
        Err(AllocError::NoFreeAddress {
            family: FamilyNeed::One(IpFamily::V6)
        })
    );
}

// Derived from TestAllocation (dual-stack half).
#[test]
fn automatic_choice_dual_stack() {
    let mut a = two_pools();
    let want = [
        ["10.30.0.6", "fd00:30::6"],
        ["10.30.0.7", "fd00:30::7"],
        ["10.30.0.16", "fd00:30::16"],
        ["10.30.0.17", "fd00:30::17"],
    ];
    for (n, pair) in want.iter().enumerate() {
        assert_eq!(a.assign(&format!("d{n}"), &dual()).unwrap().ips, ips(pair));
    }
    assert_eq!(
        a.assign("d5", &dual()),
        Err(AllocError::NoFreeAddress {
            family: FamilyNeed::Both
        })
    );
}

// Derived from TestBuggyIPs.
#[test]
fn automatic_choice_skips_buggy_ips_only_where_asked() {
    let mut a = Allocator::new(&config([
        pool("b1", &["10.40.1.0/31"]),
        pool("b2", &["10.40.1.254/31"]),
        pool("b3", &["10.40.2.0/31"]).avoid_buggy(),
        pool("b4", &["10.40.2.254/31"]).avoid_buggy(),
    ]));
    let want = [
        "10.40.1.0",
        "10.40.1.1",
        "10.40.1.254",
        "10.40.1.255",
        "10.40.2.1",
        "10.40.2.254",
    ];
    for (n, text) in want.iter().enumerate() {
        assert_eq!(a.assign(&format!("s{n}"), &v4()).unwrap().ips, ips(&[text]));
    }
    assert!(matches!(
        a.assign("s9", &v4()),
        Err(AllocError::NoFreeAddress { .. })
    ));
}

fn reload_start() -> Allocator {
    let mut a = Allocator::new(&config([
        pool("main", &["10.50.0.0/30", "fd00:50::/126"]),
        pool("spare", &["10.51.0.0/30", "fd00:51::/126"]),
    ]));
    assert_eq!(a.assign("s1", &v4()).unwrap().ips, ips(&["10.50.0.0"]));
    assert_eq!(a.assign("s2", &v6()).unwrap().ips, ips(&["fd00:50::"]));
    a
}

fn pools_of(a: &Allocator) -> (String, String) {
    (
        a.assignment("s1")
            .map(|x| x.pool.clone())
            .unwrap_or_default(),
        a.assignment("s2")
            .map(|x| x.pool.clone())
            .unwrap_or_default(),
    )
}

// Derived from TestConfigReload ("set same config is no-op", "expand pool", "shrink pool").
#[test]
fn reload_keeps_assignments_that_still_fit() {
    let mut a = reload_start();
    let same = config([
        pool("main", &["10.50.0.0/30", "fd00:50::/126"]),
        pool("spare", &["10.51.0.0/30", "fd00:51::/126"]),
    ]);
    assert_eq!(a.set_config(&same), vec![]);
    let grown = config([pool("main", &["10.50.0.0/24", "fd00:50::/120"])]);
    assert_eq!(a.set_config(&grown), vec![]);
    assert_eq!(a.set_config(&same), vec![]);
    assert_eq!(pools_of(&a), ("main".into(), "main".into()));
}

// Derived from TestConfigReload ("can't shrink further, removing the service allocation",
// "can't shrink further ipv6").
#[test]
fn reload_reallocates_what_fell_out_of_a_shrunk_pool() {
    let mut a = reload_start();
    let changes = a.set_config(&config([pool("main", &["10.50.0.2/31", "fd00:50::/126"])]));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].key, "s1");
    assert_eq!(
        changes[0].cleared,
        Some(ClearReason::Invalid(AllocError::NotInAnyPool {
            ip: ip("10.50.0.0")
        }))
    );
    assert_eq!(changes[0].result.as_ref().unwrap().ips, ips(&["10.50.0.2"]));

    let changes = a.set_config(&config([pool("main", &["10.50.0.2/31", "fd00:50::2/127"])]));
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].key, "s2");
    assert_eq!(
        changes[0].result.as_ref().unwrap().ips,
        ips(&["fd00:50::2"])
    );
}

// Derived from TestConfigReload ("rename the pool", "split pool").
#[test]
fn reload_follows_renamed_and_split_pools() {
    let mut a = reload_start();
    let changes = a.set_config(&config([pool(
        "primary",
        &["10.50.0.0/30", "fd00:50::/126"],
    )]));
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().all(|c| c.cleared.is_none()));
    assert_eq!(pools_of(&a), ("primary".into(), "primary".into()));
    assert_eq!(a.assignment("s1").unwrap().ips, ips(&["10.50.0.0"]));

    let mut a = reload_start();
    a.set_config(&config([
        pool("main", &["10.50.0.0/31", "fd00:50::2/127"]),
        pool("other", &["10.50.0.2/31", "fd00:50::/127"]),
    ]));
    assert_eq!(pools_of(&a), ("main".into(), "other".into()));
    assert_eq!(a.assignment("s2").unwrap().ips, ips(&["fd00:50::"]));
}

// Derived from TestConfigReload ("enable buggy IPs not allowed").
#[test]
fn reload_with_avoid_buggy_ips_moves_dot_zero() {
    let mut a = reload_start();
    let changes = a.set_config(&config([
        pool("main", &["10.50.0.0/31", "fd00:50::/127"]).avoid_buggy()
    ]));
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].cleared,
        Some(ClearReason::Invalid(AllocError::BuggyIpExcluded {
            ip: ip("10.50.0.0"),
            pool: "main".into()
        }))
    );
    assert_eq!(a.assignment("s1").unwrap().ips, ips(&["10.50.0.1"]));
    assert_eq!(a.assignment("s2").unwrap().ips, ips(&["fd00:50::"]));
}

// Derived from TestAutoAssign.
#[test]
fn pools_without_auto_assign_serve_only_explicit_requests() {
    let mut a = Allocator::new(&config([
        pool("manual", &["10.60.0.4/31", "fd00:60::4/127"]).manual(),
        pool("zauto", &["10.60.0.10/31", "fd00:60::10/127"]),
    ]));
    assert_eq!(a.assign("s1", &v4()).unwrap().ips, ips(&["10.60.0.10"]));
    assert_eq!(a.assign("s2", &v4()).unwrap().ips, ips(&["10.60.0.11"]));
    assert!(matches!(
        a.assign("s3", &v4()),
        Err(AllocError::NoFreeAddress { .. })
    ));
    // The manual pool has free addresses of both families, but is never chosen automatically.
    assert_eq!(
        a.assign("d1", &dual()),
        Err(AllocError::NoFreeAddress {
            family: FamilyNeed::Both
        })
    );
    let annotated = v4().with_pool("manual");
    assert_eq!(a.assign("s3", &annotated).unwrap().ips, ips(&["10.60.0.4"]));
    let requested = v6().with_requested_ips([ip("fd00:60::5")]);
    assert_eq!(
        a.assign("s4", &requested).unwrap().ips,
        ips(&["fd00:60::5"])
    );
}

// Derived from TestPoolCount.
#[test]
fn pool_capacity_counts() {
    let capacity = |p| {
        let a = Allocator::new(&config([p]));
        let usage = a.pool_usage("p").unwrap();
        (usage.capacity_ipv4, usage.capacity_ipv6)
    };
    assert_eq!(capacity(pool("p", &["10.80.1.0/24"])), (256, 0));
    assert_eq!(
        capacity(pool("p", &["10.80.1.0/24", "10.80.9.128/25"])),
        (384, 0)
    );
    assert_eq!(
        capacity(pool("p", &["10.80.1.0/24", "10.80.9.128/25"]).avoid_buggy()),
        (381, 0)
    );
    assert_eq!(
        capacity(pool("p", &["10.80.1.0/24", "10.80.9.128/25", "fd00:80::/64"]).avoid_buggy()),
        (381, i64::MAX as u64)
    );
    assert_eq!(
        capacity(pool("p", &["10.80.1.0/31", "fd00:80::/127"]).avoid_buggy()),
        (1, 2)
    );
}

// Derived from TestPoolMetrics.
#[test]
fn usage_counts_a_shared_address_once() {
    let mut a = Allocator::new(&config([pool("p", &["10.90.0.4/30", "fd00:90::4/126"])]));
    let usage = |a: &Allocator| a.pool_usage("p").unwrap();
    assert_eq!(
        usage(&a),
        PoolUsage {
            capacity_ipv4: 4,
            capacity_ipv6: 4,
            assigned_ipv4: 0,
            assigned_ipv6: 0,
            available_ipv4: 4,
            available_ipv6: 4
        }
    );
    a.assign("s1", &v4()).unwrap();
    a.assign("s2", &v4()).unwrap();
    assert_eq!(usage(&a).assigned_ipv4, 2);
    a.release("s1");
    a.release("s2");
    assert_eq!(usage(&a).assigned_ipv4, 0);
    for (key, port) in [("t1", 80), ("t2", 443), ("t3", 23)] {
        let request = v4()
            .with_requested_ips([ip("10.90.0.4")])
            .with_sharing_key("key")
            .with_ports([Port::tcp(port)]);
        a.assign(key, &request).unwrap();
        assert_eq!(usage(&a).assigned_ipv4, 1);
        assert_eq!(usage(&a).available_ipv4, 3);
    }
    a.release("t1");
    a.release("t2");
    assert_eq!(usage(&a).assigned_ipv4, 1);
    a.release("t3");
    assert_eq!(usage(&a).assigned_ipv4, 0);
    a.set_config(&config([]));
    assert_eq!(a.pool_usage("p"), None);
}
