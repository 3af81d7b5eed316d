//! Allocates 10,000 Services across three pools and prints how long it takes.
//! Run with `cargo bench -p ironlb-alloc`. Target: all 10,000 in at most 100 ms.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use ironlb_alloc::{Allocator, FamilyPolicy, IpFamily, Port, ServiceFamily, ServiceRequest};
use ironlb_config::address::parse_entry;
use ironlb_config::{AddressEntry, Config, Pool, ServiceAllocation};

const SERVICES: usize = 10_000;

fn pool(name: &str, addresses: &[&str], avoid_buggy_ips: bool) -> Pool {
    Pool {
        name: name.to_string(),
        labels: BTreeMap::new(),
        entries: addresses
            .iter()
            .map(|text| AddressEntry {
                text: text.to_string(),
                cidrs: parse_entry(text).expect("bench address"),
            })
            .collect(),
        auto_assign: true,
        avoid_buggy_ips,
        service_allocation: None,
    }
}

fn config() -> Config {
    let mut restricted = pool("pool-c", &["10.2.0.0/16"], false);
    restricted.service_allocation = Some(ServiceAllocation {
        priority: 5,
        namespaces: ["team-c".to_string()].into(),
        restricts_namespaces: true,
        service_selectors: Vec::new(),
    });
    let pools = [
        pool("pool-a", &["10.0.0.0/16", "fd00:a::/112"], false),
        pool("pool-b", &["10.1.0.0/16"], true),
        restricted,
    ];
    Config {
        pools: pools.into_iter().map(|p| (p.name.clone(), p)).collect(),
        ..Config::default()
    }
}

/// A mix: single-stack IPv4 and IPv6, Require/PreferDualStack, sharing keys, a namespace
/// pinned pool, annotated pools.
fn request(i: usize) -> ServiceRequest {
    let port = Port::tcp(80 + (i % 7) as i32);
    let mut r = match i % 10 {
        0..=4 => ServiceRequest::new("default", ServiceFamily::V4),
        5 => ServiceRequest::new("default", ServiceFamily::V6),
        6 => ServiceRequest::new("default", ServiceFamily::Dual),
        7 => ServiceRequest::new("default", ServiceFamily::Dual)
            .with_policy(FamilyPolicy::PreferDualStack)
            .with_primary(IpFamily::V6),
        8 => ServiceRequest::new("default", ServiceFamily::V4)
            .with_sharing_key(format!("shared-{}", i / 80)),
        _ => ServiceRequest::new("team-c", ServiceFamily::V4),
    };
    r = r.with_ports([if i % 10 == 8 {
        Port::tcp(1000 + (i / 10 % 8) as i32)
    } else {
        port
    }]);
    if i.is_multiple_of(13) && r.family == ServiceFamily::V4 && r.namespace == "default" {
        r = r.with_pool("pool-b");
    }
    r
}

fn keys() -> Vec<String> {
    (0..SERVICES)
        .map(|i| format!("ns-{}/svc-{i:05}", i % 50))
        .collect()
}

fn report(what: &str, elapsed: Duration, count: usize) {
    println!(
        "{what:<44} {:>9.2} ms total  {:>7.2} µs per Service",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / count as f64
    );
}

fn main() {
    let config = config();
    let keys = keys();
    let requests: Vec<ServiceRequest> = (0..SERVICES).map(request).collect();

    // Best of a few runs of the headline figure.
    let mut best = Duration::MAX;
    let mut allocator = Allocator::new(&config);
    for _ in 0..5 {
        allocator = Allocator::new(&config);
        let start = Instant::now();
        for (key, r) in keys.iter().zip(&requests) {
            black_box(
                allocator
                    .assign(key, r)
                    .expect("bench pools are big enough"),
            );
        }
        best = best.min(start.elapsed());
    }
    report("allocate 10,000 Services (best of 5)", best, SERVICES);

    let start = Instant::now();
    for (key, r) in keys.iter().zip(&requests) {
        black_box(allocator.assign(key, r).expect("kept"));
    }
    report("reconcile all again (all kept)", start.elapsed(), SERVICES);

    let start = Instant::now();
    for key in keys.iter().step_by(10) {
        black_box(allocator.release(key));
    }
    for (key, r) in keys.iter().zip(&requests).step_by(10) {
        black_box(allocator.assign(key, r).expect("freed addresses come back"));
    }
    report("release + reallocate 1,000", start.elapsed(), SERVICES / 10);

    let start = Instant::now();
    black_box(allocator.set_config(&config));
    report(
        "set_config, same pools (re-checks all)",
        start.elapsed(),
        SERVICES,
    );

    let held: Vec<_> = allocator
        .assignments()
        .map(|(key, a)| (key.to_string(), a.ips.clone()))
        .collect();
    let by_key: BTreeMap<&str, &ServiceRequest> =
        keys.iter().map(String::as_str).zip(&requests).collect();
    let mut restarted = Allocator::new(&config);
    let start = Instant::now();
    for (key, ips) in &held {
        black_box(
            restarted
                .restore(key, ips, by_key[key.as_str()])
                .expect("restorable"),
        );
    }
    report("restore 10,000 after a restart", start.elapsed(), SERVICES);

    // Sharing worst case: one key, one port, so every Service needs its own address and
    // every address of the key clashes.
    let mut crowded = Allocator::new(&config);
    let same = ServiceRequest::new("default", ServiceFamily::V4)
        .with_sharing_key("everyone")
        .with_ports([Port::tcp(443)]);
    let start = Instant::now();
    for key in &keys {
        black_box(crowded.assign(key, &same).expect("room"));
    }
    report(
        "10,000 with one sharing key, one port",
        start.elapsed(),
        SERVICES,
    );

    for (name, usage) in allocator.usage() {
        println!(
            "  {name}: IPv4 {} assigned / {} available, IPv6 {} assigned / {} available",
            usage.assigned_ipv4, usage.available_ipv4, usage.assigned_ipv6, usage.available_ipv6
        );
    }
    let verdict = if best <= Duration::from_millis(100) {
        "within"
    } else {
        "OVER"
    };
    println!("target: 10,000 Services in ≤ 100 ms: {verdict}");
}
