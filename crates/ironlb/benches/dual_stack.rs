//! Dual-stack benchmark on the dual-stack fabric (`ironlb_lab::dual_stack`: the seed's two FRR
//! ToRs, static neighbours, each node peering with each over IPv4 and IPv6, tor1 with BFD):
//! over RUNS (default 10), a RequireDualStack Service written to the cluster directory → its
//! /32 and its /128 in both ToRs' kernel FIBs via all three nodes; and, alternating with it
//! on the same fabric, an IPv4-only Service → its /32 in both (the seed's figure, as a
//! control). Median, minimum and maximum.
//!
//! FIB times come from polling `ip route show` every 20 ms, as `--bench lab` does. Needs root
//! and FRR; without them it says so and exits 0. `cargo bench -p ironlb --bench dual_stack`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlb_lab::dual_stack;
use ironlb_lab::fabric::{FabricView, Family, Peering, RouteExpectation};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const NODES: [&str; 3] = ["node-21", "node-22", "node-23"];

/// Writes a Service with these addresses (and an endpoint on node-21) and returns how long
/// until every ToR routes each address via all three nodes; then removes it again.
fn created(view: &FabricView, name: &str, addresses: &[IpAddr]) -> Duration {
    let requested: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    let mut service = dual_stack::service_yaml(
        name,
        "Cluster",
        &format!(
            "    metallb.io/loadBalancerIPs: \"{}\"\n",
            requested.join(",")
        ),
    );
    if addresses.len() == 1 {
        service = service.replace(
            "ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]",
            "ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv4]",
        );
    }
    let yaml = format!(
        "{service}---\n{}",
        ironlb_lab::Fabric::endpoints_yaml(name, &["node-21"])
    );
    let mut expected = Vec::new();
    for tor in ["tor1", "tor2"] {
        for address in addresses {
            let family = match address {
                IpAddr::V4(_) => Family::V4,
                IpAddr::V6(_) => Family::V6,
            };
            expected.push(RouteExpectation::new(
                tor,
                &address.to_string(),
                &view.node_addresses(&NODES, family),
            ));
        }
    }
    let file = format!("{name}.yaml");
    let start = Instant::now();
    view.write(&file, &yaml).expect("write the Service");
    // wait_routes counts from its own start: add the write.
    let written = start.elapsed();
    let times = view
        .wait_routes(&expected, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", dual_stack::logs(view)));
    view.remove(&file).expect("remove the Service");
    written + times.into_iter().max().unwrap_or_default()
}

fn summary(values: &mut [f64]) -> String {
    values.sort_by(f64::total_cmp);
    let median = values.get(values.len() / 2).copied().unwrap_or(f64::NAN);
    let min = values.first().copied().unwrap_or(f64::NAN);
    let max = values.last().copied().unwrap_or(f64::NAN);
    format!(
        "{median:.1} ms median ({min:.1}–{max:.1}, n={})",
        values.len()
    )
}

fn main() {
    if let Err(error) =
        ironlb_lab::check_prerequisites(&["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "bridge"])
    {
        println!("dual_stack: SKIPPED: {error}");
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let fabric = dual_stack::start(
        "ds-bench",
        PathBuf::from(IRONLB),
        Peering::Static,
        Peering::Static,
    )
    .expect("the dual-stack fabric");
    // Every session of both families up: a first Service routed everywhere (not counted).
    let warm: [IpAddr; 2] = [
        "203.0.113.99".parse().expect("address"),
        "2001:db8:5::99".parse().expect("address"),
    ];
    let warm_up = created(&fabric, "warm-up", &warm);
    println!("warm-up (sessions coming up): {warm_up:?}");
    std::thread::sleep(Duration::from_secs(1));
    let mut dual = Vec::new();
    let mut ipv4 = Vec::new();
    for run in 0..runs {
        let addresses: [IpAddr; 2] = [
            format!("203.0.113.{}", 100 + run).parse().expect("address"),
            format!("2001:db8:5::{}", 100 + run)
                .parse()
                .expect("address"),
        ];
        let both = created(&fabric, &format!("dual-{run}"), &addresses);
        std::thread::sleep(Duration::from_millis(300));
        let single: IpAddr = format!("203.0.113.{}", 150 + run).parse().expect("address");
        let one = created(&fabric, &format!("ipv4-{run}"), &[single]);
        std::thread::sleep(Duration::from_millis(300));
        println!(
            "run {run}: RequireDualStack Service created → /32 and /128 in both ToRs' FIBs {:.1} ms; IPv4-only Service → /32 in both {:.1} ms",
            both.as_secs_f64() * 1e3,
            one.as_secs_f64() * 1e3
        );
        dual.push(both.as_secs_f64() * 1e3);
        ipv4.push(one.as_secs_f64() * 1e3);
    }
    println!("\ndual_stack: {runs} runs");
    println!(
        "  Service created (RequireDualStack) → /32 and /128 in both ToRs' FIBs: {} (goal ≤ 100 ms)",
        summary(&mut dual)
    );
    println!(
        "  same fabric, IPv4-only Service → /32 in both ToRs' FIBs: {}",
        summary(&mut ipv4)
    );
}
