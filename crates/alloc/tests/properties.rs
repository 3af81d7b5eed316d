//! Property tests: random sequences of assign / release / reconfigure on small pools.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use common::*;
use ironlb_alloc::{
    AllocError, Allocator, Assignment, FamilyPolicy, IpFamily, Port, ServiceFamily, ServiceRequest,
    is_buggy,
};
use ironlb_config::{Config, Pool};
use proptest::prelude::*;

/// Small pools, so that exhaustion and sharing happen often.
fn base_config() -> Config {
    config([
        pool("a", &["10.0.0.0/29", "fd00::/126"]),
        pool("b", &["10.0.1.254/31", "10.0.2.0/30"]).avoid_buggy(),
        pool("c", &["fd00:1::/127", "10.0.4.0/31"])
            .namespaces(&["ns1"])
            .priority(1),
        pool("d", &["10.0.3.0/31"]).manual(),
    ])
}

/// The same pools with "a" shrunk and "b" no longer avoiding buggy IPs.
fn other_config() -> Config {
    config([
        pool("a", &["10.0.0.0/30", "fd00::/126"]),
        pool("b", &["10.0.1.254/31", "10.0.2.0/30"]),
        pool("c", &["fd00:1::/127", "10.0.4.0/31"])
            .namespaces(&["ns1"])
            .priority(1),
        pool("d", &["10.0.3.0/31"]).manual(),
    ])
}

#[derive(Clone, Debug)]
struct Spec {
    family: u8,
    namespace: u8,
    key: u8,
    backend: u8,
    ports: Vec<u8>,
    pool: u8,
    requested: u8,
}

#[derive(Clone, Debug)]
enum Op {
    Assign(usize, Spec),
    Release(usize),
    Reload(bool),
}

const SERVICES: usize = 12;
const REQUESTED: [&[&str]; 6] = [
    &["10.0.0.1"],
    &["10.0.1.255"],
    &["10.0.3.1"],
    &["fd00::1"],
    &["10.9.9.9"],
    &["10.0.0.2", "fd00::2"],
];

fn spec() -> impl Strategy<Value = Spec> {
    (
        0u8..4,
        0u8..2,
        0u8..3,
        0u8..2,
        proptest::collection::vec(0u8..3, 0..3),
        0u8..6,
        0u8..12,
    )
        .prop_map(
            |(family, namespace, key, backend, ports, pool, requested)| Spec {
                family,
                namespace,
                key,
                backend,
                ports,
                pool,
                requested,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..SERVICES, spec()).prop_map(|(n, s)| Op::Assign(n, s)),
        2 => (0..SERVICES).prop_map(Op::Release),
        1 => any::<bool>().prop_map(Op::Reload),
    ]
}

fn request(spec: &Spec) -> ServiceRequest {
    let (family, policy) = match spec.family {
        0 => (ServiceFamily::V4, FamilyPolicy::SingleStack),
        1 => (ServiceFamily::V6, FamilyPolicy::SingleStack),
        2 => (ServiceFamily::Dual, FamilyPolicy::RequireDualStack),
        _ => (ServiceFamily::Dual, FamilyPolicy::PreferDualStack),
    };
    let mut r = ServiceRequest::new(format!("ns{}", spec.namespace), family).with_policy(policy);
    if spec.key > 0 {
        r = r.with_sharing_key(format!("k{}", spec.key));
    }
    if spec.backend > 0 {
        r = r.with_local_traffic(&BTreeMap::from([("app".to_string(), "x".to_string())]));
    }
    let all = [Port::tcp(80), Port::tcp(443), Port::udp(53)];
    let ports: BTreeSet<usize> = spec.ports.iter().map(|p| usize::from(*p)).collect();
    r = r.with_ports(ports.into_iter().map(|p| all[p].clone()));
    match spec.pool {
        3 => r = r.with_pool("a"),
        4 => r = r.with_pool("d"),
        5 => r = r.with_pool("c"),
        _ => {}
    }
    if let Some(texts) = REQUESTED.get(usize::from(spec.requested)) {
        r = r.with_requested_ips(ips(texts));
    }
    r
}

fn key(n: usize) -> String {
    format!("svc{n:02}")
}

/// What one operation returned, for comparing runs.
#[derive(Clone, Debug, PartialEq)]
enum Output {
    Assigned(Result<Assignment, AllocError>),
    Released(Option<Assignment>),
    Reloaded(Vec<(String, Result<Assignment, AllocError>)>),
}

/// The requests behind current assignments.
type Requests = BTreeMap<String, ServiceRequest>;

fn apply(a: &mut Allocator, requests: &mut Requests, op: &Op) -> Output {
    match op {
        Op::Assign(n, spec) => {
            let r = request(spec);
            let result = a.assign(&key(*n), &r);
            if result.is_ok() {
                requests.insert(key(*n), r);
            } else {
                requests.remove(&key(*n));
            }
            Output::Assigned(result)
        }
        Op::Release(n) => {
            requests.remove(&key(*n));
            Output::Released(a.release(&key(*n)))
        }
        Op::Reload(other) => {
            let config = if *other {
                other_config()
            } else {
                base_config()
            };
            let changes = a.set_config(&config);
            for change in &changes {
                if change.result.is_err() {
                    requests.remove(&change.key);
                }
            }
            Output::Reloaded(changes.into_iter().map(|c| (c.key, c.result)).collect())
        }
    }
}

fn current_config(ops: &[Op], upto: usize) -> Config {
    ops[..upto]
        .iter()
        .rev()
        .find_map(|op| match op {
            Op::Reload(true) => Some(other_config()),
            Op::Reload(false) => Some(base_config()),
            _ => None,
        })
        .unwrap_or_else(base_config)
}

/// Every invariant the allocator promises, checked from the outside.
fn check_invariants(
    a: &Allocator,
    requests: &Requests,
    config: &Config,
) -> Result<(), TestCaseError> {
    let mut users: BTreeMap<IpAddr, Vec<&str>> = BTreeMap::new();
    let mut in_use: BTreeMap<(&str, IpFamily), BTreeSet<IpAddr>> = BTreeMap::new();
    for (key, assignment) in a.assignments() {
        let r = requests.get(key).ok_or_else(|| {
            TestCaseError::fail(format!("{key} holds addresses without a request"))
        })?;
        let pool: &Pool = &config.pools[&assignment.pool];
        let family = ServiceFamily::of_addresses(&assignment.ips);
        prop_assert!(family.is_some(), "{key}: {:?}", assignment.ips);
        match (r.family, r.policy) {
            (ServiceFamily::Dual, FamilyPolicy::PreferDualStack) => {}
            (wanted, _) => prop_assert_eq!(family, Some(wanted)),
        }
        for &ip in &assignment.ips {
            prop_assert!(pool.contains(ip), "{key}: {ip} outside pool {}", pool.name);
            prop_assert!(!(pool.avoid_buggy_ips && is_buggy(ip)), "{key}: buggy {ip}");
            prop_assert_eq!(a.pool_of(ip), Some(assignment.pool.as_str()));
            users.entry(ip).or_default().push(key);
            in_use
                .entry((pool.name.as_str(), IpFamily::of(ip)))
                .or_default()
                .insert(ip);
        }
        if pool.name == "c" {
            prop_assert_eq!(r.namespace.as_str(), "ns1");
        }
        if let Some(wanted) = &r.pool {
            prop_assert_eq!(wanted, &assignment.pool);
        }
        if !r.requested_ips.is_empty() {
            // The same addresses; their order is the allocator's (one per family).
            let mut requested = r.requested_ips.clone();
            let mut given = assignment.ips.clone();
            requested.sort();
            given.sort();
            prop_assert_eq!(requested, given);
        }
    }
    for (ip, keys) in &users {
        let listed: Vec<&str> = a.holders(*ip).collect();
        prop_assert_eq!(&listed, keys);
        for (i, first) in keys.iter().enumerate() {
            for second in &keys[i + 1..] {
                let (x, y) = (&requests[*first], &requests[*second]);
                prop_assert!(
                    x.sharing_key.is_some(),
                    "{ip}: {first} shares without a key"
                );
                prop_assert_eq!(&x.sharing_key, &y.sharing_key);
                prop_assert_eq!(&x.backend_key, &y.backend_key);
                prop_assert!(
                    x.ports.iter().all(|p| !y.ports.contains(p)),
                    "{ip}: {first} and {second} clash on ports"
                );
            }
        }
    }
    for name in config.pools.keys() {
        let usage = a.pool_usage(name).expect("pool usage");
        let count = |family| {
            in_use
                .get(&(name.as_str(), family))
                .map_or(0, |s| s.len() as u64)
        };
        prop_assert_eq!(usage.assigned_ipv4, count(IpFamily::V4));
        prop_assert_eq!(usage.assigned_ipv6, count(IpFamily::V6));
        prop_assert_eq!(
            usage.available_ipv4 + usage.assigned_ipv4,
            usage.capacity_ipv4
        );
    }
    Ok(())
}

/// A naive model of MetalLB's automatic choice: walk every address of every CIDR.
fn model_choice(
    config: &Config,
    holders: &BTreeMap<IpAddr, Vec<(String, ServiceRequest)>>,
    r: &ServiceRequest,
) -> Option<Vec<IpAddr>> {
    let usable = |ip: IpAddr| {
        holders.get(&ip).is_none_or(|users| {
            users.iter().all(|(_, u)| {
                u.sharing_key.is_some()
                    && u.sharing_key == r.sharing_key
                    && u.backend_key == r.backend_key
                    && u.ports.iter().all(|p| !r.ports.contains(p))
            })
        })
    };
    let first = |pool: &Pool, family: IpFamily| -> Option<IpAddr> {
        for cidr in pool.cidrs() {
            for ip in cidr
                .subnets(cidr.max_prefix_len())
                .into_iter()
                .flatten()
                .map(|n| n.addr())
            {
                if IpFamily::of(ip) != family || (pool.avoid_buggy_ips && is_buggy(ip)) {
                    continue;
                }
                if usable(ip) {
                    return Some(ip);
                }
            }
        }
        None
    };
    let admits = |pool: &Pool| match &pool.service_allocation {
        None => true,
        Some(sa) => {
            (sa.namespaces.is_empty() || sa.namespaces.contains(&r.namespace))
                && (sa.service_selectors.is_empty()
                    || sa.service_selectors.iter().any(|s| s.matches(&r.labels)))
        }
    };
    let mut pinned: Vec<&Pool> = config
        .pools
        .values()
        .filter(|p| p.auto_assign && p.service_allocation.is_some() && admits(p))
        .collect();
    pinned.sort_by_key(|p| {
        let priority = p.service_allocation.as_ref().map_or(0, |s| s.priority);
        if priority > 0 { (0, priority) } else { (1, 0) }
    });
    let fallback: Vec<&Pool> = config
        .pools
        .values()
        .filter(|p| p.auto_assign && p.service_allocation.is_none())
        .collect();
    for group in [pinned, fallback] {
        let mut candidates = Vec::new();
        for pool in group {
            let v4 = first(pool, IpFamily::V4);
            let v6 = first(pool, IpFamily::V6);
            match r.family {
                ServiceFamily::V4 if v4.is_some() => return v4.map(|ip| vec![ip]),
                ServiceFamily::V6 if v6.is_some() => return v6.map(|ip| vec![ip]),
                ServiceFamily::Dual => {
                    if let (Some(a), Some(b)) = (v4, v6) {
                        return Some(vec![a, b]);
                    }
                    if r.policy == FamilyPolicy::PreferDualStack {
                        candidates.push((v4, v6));
                    }
                }
                _ => {}
            }
        }
        if let Some(ip) = candidates
            .iter()
            .find_map(|c| c.0)
            .or_else(|| candidates.iter().find_map(|c| c.1))
        {
            return Some(vec![ip]);
        }
    }
    None
}

fn holders_of(
    a: &Allocator,
    requests: &Requests,
) -> BTreeMap<IpAddr, Vec<(String, ServiceRequest)>> {
    let mut holders: BTreeMap<IpAddr, Vec<(String, ServiceRequest)>> = BTreeMap::new();
    for (key, assignment) in a.assignments() {
        for &ip in &assignment.ips {
            holders
                .entry(ip)
                .or_default()
                .push((key.to_string(), requests[key].clone()));
        }
    }
    holders
}

// 256 cases each by default; PROPTEST_CASES=N for more.
proptest! {

    /// No address is held by two Services unless they share a key, a backend key and no
    /// port; every address lies in its pool and avoids .0/.255 when asked; counts add up;
    /// a failed call leaves the Service with nothing; automatic choice matches a naive walk.
    #[test]
    fn invariants_hold_and_choice_matches_a_naive_walk(ops in proptest::collection::vec(op(), 1..80)) {
        let mut a = Allocator::new(&base_config());
        let mut requests = Requests::new();
        for (i, op) in ops.iter().enumerate() {
            let config = current_config(&ops, i);
            let expected = match op {
                Op::Assign(n, spec) if a.assignment(&key(*n)).is_none() => {
                    let r = request(spec);
                    (r.pool.is_none() && r.requested_ips.is_empty()
                        && !(r.family != ServiceFamily::Dual && r.policy == FamilyPolicy::RequireDualStack))
                        .then(|| model_choice(&config, &holders_of(&a, &requests), &r))
                }
                _ => None,
            };
            let output = apply(&mut a, &mut requests, op);
            if let (Some(expected), Output::Assigned(result)) = (expected, &output) {
                prop_assert_eq!(expected, result.as_ref().ok().map(|x| x.ips.clone()), "op {}: {:?}", i, op);
            }
            if let (Op::Assign(n, _), Output::Assigned(Err(_))) = (op, &output) {
                prop_assert_eq!(a.assignment(&key(*n)), None);
            }
            // Idempotence: reconciling again changes nothing.
            if let (Op::Assign(n, spec), Output::Assigned(Ok(_))) = (op, &output) {
                let again = a.reconcile(&key(*n), &request(spec));
                prop_assert!(!again.changed(), "op {}: {:?} then {:?}", i, output, again);
            }
            check_invariants(&a, &requests, &current_config(&ops, i + 1))?;
        }
    }

    /// Same inputs, same outputs; and an allocator rebuilt from the assignments (a restart)
    /// behaves exactly like the one that made them.
    #[test]
    fn deterministic_and_restart_safe(
        ops in proptest::collection::vec(op(), 1..60),
        later in proptest::collection::vec(op(), 1..40),
    ) {
        let mut first = Allocator::new(&base_config());
        let mut second = Allocator::new(&base_config());
        let (mut r1, mut r2) = (Requests::new(), Requests::new());
        for op in &ops {
            prop_assert_eq!(apply(&mut first, &mut r1, op), apply(&mut second, &mut r2, op));
        }
        let config = current_config(&ops, ops.len());
        let mut restarted = Allocator::new(&config);
        for (key, assignment) in first.assignments() {
            let restored = restarted.restore(key, &assignment.ips, &r1[key]);
            prop_assert_eq!(restored.as_ref(), Ok(assignment), "restore {}", key);
        }
        prop_assert_eq!(restarted.usage(), first.usage());
        let mut r3 = r1.clone();
        for op in &later {
            let expected = apply(&mut first, &mut r1, op);
            prop_assert_eq!(apply(&mut restarted, &mut r3, op), expected);
        }
    }

    /// Addresses released go back to the pool: new Services get exactly them.
    #[test]
    fn released_addresses_are_reused(
        avoid in any::<bool>(),
        released in proptest::collection::btree_set(0usize..40, 1..10),
    ) {
        let mut p = pool("p", &["10.20.0.250/31", "10.20.1.0/27", "10.20.2.0/30"]);
        p.avoid_buggy_ips = avoid;
        let mut a = Allocator::new(&config([p]));
        let mut n = 0;
        while a.assign(&format!("s{n}"), &v4()).is_ok() {
            n += 1;
        }
        let full = a.pool_usage("p").unwrap();
        prop_assert_eq!(full.available_ipv4, 0);
        prop_assert_eq!(full.assigned_ipv4, n as u64);
        let mut freed = BTreeSet::new();
        for k in released.iter().filter(|k| **k < n) {
            freed.extend(a.release(&format!("s{k}")).unwrap().ips);
        }
        let mut reused = BTreeSet::new();
        for k in 0..freed.len() {
            reused.extend(a.assign(&format!("new{k}"), &v4()).unwrap().ips);
        }
        prop_assert_eq!(reused, freed);
        prop_assert_eq!(a.pool_usage("p").unwrap(), full);
        prop_assert!(a.assign("one-too-many", &v4()).is_err());
    }
}

fn edge_cidr() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "0.0.0.0/0",
        "0.0.0.0/31",
        "255.255.255.254/31",
        "255.255.255.255/32",
        "10.0.0.0/30",
        "10.0.0.2/31",
        "10.0.0.255/32",
        "10.0.1.0/32",
        "10.0.0.0/23",
        "::/0",
        "::/127",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127",
        "fd00::/126",
        "fd00::2/127",
    ])
}

proptest! {
    /// Any pools (edges of the address spaces, overlaps a validated configuration would
    /// refuse, avoidBuggyIPs on or off, pinned or not) and any operations: no panic, and the
    /// invariants still hold.
    #[test]
    fn odd_pools_never_break_invariants(
        pools in proptest::collection::vec(
            (proptest::collection::vec(edge_cidr(), 1..3), any::<bool>(), any::<bool>(), 0i64..3),
            1..4,
        ),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let built: Vec<Pool> = pools
            .iter()
            .enumerate()
            .map(|(n, (cidrs, avoid, manual, priority))| {
                let mut p = pool(["a", "b", "c"][n % 3], cidrs);
                p.name = format!("{}{n}", ["a", "b", "c"][n % 3]);
                p.avoid_buggy_ips = *avoid;
                p.auto_assign = !*manual;
                if *priority > 0 {
                    p = p.priority(*priority);
                }
                p
            })
            .collect();
        let config = config(built);
        let mut a = Allocator::new(&config);
        let mut requests = Requests::new();
        for op in ops.iter().filter(|op| !matches!(op, Op::Reload(_))) {
            apply(&mut a, &mut requests, op);
            check_invariants(&a, &requests, &config)?;
        }
    }

    /// Reading any Service never panics.
    #[test]
    fn reading_services_never_panics(
        cluster_ips in proptest::collection::vec("[0-9a-f:.]{0,12}|10\\.0\\.0\\.1|fd00::1", 0..3),
        families in proptest::option::of(proptest::collection::vec("IPv4|IPv6|IPv5", 0..3)),
        policy in proptest::option::of("SingleStack|PreferDualStack|RequireDualStack|Other"),
        wanted in proptest::option::of("[0-9a-f:., ]{0,24}"),
        field in proptest::option::of("[0-9a-f:.]{0,16}"),
        pool_name in proptest::option::of("[a-z]{0,4}"),
    ) {
        let mut annotations = serde_json::Map::new();
        if let Some(w) = wanted {
            annotations.insert("metallb.io/loadBalancerIPs".into(), w.into());
        }
        if let Some(p) = pool_name {
            annotations.insert("metallb.universe.tf/address-pool".into(), p.into());
        }
        let service: k8s_openapi::api::core::v1::Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s", "annotations": annotations},
            "spec": {"type": "LoadBalancer", "clusterIPs": cluster_ips, "ipFamilies": families,
                     "ipFamilyPolicy": policy, "loadBalancerIP": field}
        })).unwrap();
        if let Ok(Some(r)) = ServiceRequest::from_service(&service, &Default::default()) {
            // Whatever was read, the allocator copes with it.
            let mut a = Allocator::new(&base_config());
            let _ = a.assign("x", &r);
            let _ = a.restore("y", &r.requested_ips, &r);
        }
    }
}
