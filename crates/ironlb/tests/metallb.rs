//! MetalLB itself in the lab: its controller and native speakers (v0.15.2, built from its Go
//! module by `tools/metallb/build.sh`) run as processes on the seed fabric against the same
//! real kube-apiserver as `ironlb lab --kubernetes`, with the same real FRR ToRs. This is
//! what the side-by-side bench (`benches/vs_metallb.rs`) stands on.
//!
//! Needs root, FRR and Go (first builds: the control plane and MetalLB); outside CI a missing
//! one skips loudly, in CI (`CI=true`) it fails.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlb_lab::fabric::FabricSpec;
use ironlb_lab::kube::SwitchPlane;
use ironlb_lab::metallb::{self, BgpType, MetalLb};
use ironlb_lab::{Fabric, eventually};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const POOL: &str = include_str!("../../../examples/seed/pool.yaml");
const PEERS: &str = include_str!("../../../examples/seed/peers.yaml");
const ADVERTISEMENT: &str = include_str!("../../../examples/seed/advertisement.yaml");
const SERVICE: &str = include_str!("../../../examples/seed/service.yaml");
const BFD: &str = include_str!("../../../examples/seed/bfd.yaml");

/// The seed's peers as MetalLB's native speaker takes them: its BGP has no BFD, and it
/// refuses a configuration naming a BFD profile (the seed's FRR-backend section).
fn native_peers() -> String {
    PEERS
        .lines()
        .filter(|line| !line.trim_start().starts_with("bfdProfile:"))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn metallb_native_gives_the_seed_service_its_ip_and_ecmp_routes_at_both_tors() {
    seed_scenario(
        "metallb_native_gives_the_seed_service_its_ip_and_ecmp_routes_at_both_tors",
        BgpType::Native,
    );
}

/// MetalLB's FRR mode with the Debian FRR in each node's namespace: the seed with its BFD
/// profile on tor1, which FRR mode supports.
#[test]
fn metallb_frr_mode_gives_the_seed_service_ecmp_routes_and_bfd_at_tor1() {
    let test = "metallb_frr_mode_gives_the_seed_service_ecmp_routes_and_bfd_at_tor1";
    if !ironlb_lab::require(test, &["/usr/lib/frr/frr-reload.py"]) {
        return;
    }
    seed_scenario(test, BgpType::Frr);
}

/// The seed's objects for MetalLB in `bgp` mode.
fn seed_objects(bgp: BgpType) -> Vec<String> {
    let mut objects = vec![POOL.to_string()];
    match bgp {
        BgpType::Native => objects.push(native_peers()),
        BgpType::Frr => objects.extend([BFD.to_string(), PEERS.to_string()]),
    }
    objects.extend([
        ADVERTISEMENT.to_string(),
        SERVICE.replace(
            "metadata:\n  name: web\n",
            "metadata:\n  name: web\n  namespace: default\n",
        ),
        ironlb_lab::kube::WEB_DEPLOYMENT.to_string(),
    ]);
    objects
}

fn seed_scenario(test: &str, bgp: BgpType) {
    if !ironlb_lab::require(test, &["go", "/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"]) {
        return;
    }
    let start = Instant::now();
    let bin = metallb::build(true).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "MetalLB binaries in {} ({:.1} s)",
        bin.display(),
        start.elapsed().as_secs_f64()
    );
    let name = match bgp {
        BgpType::Native => "ml",
        BgpType::Frr => "mf",
    };
    let mut fabric =
        Fabric::build(name, FabricSpec::seed(PathBuf::from(IRONLB))).expect("the seed fabric");
    let plane = SwitchPlane::start(&fabric).unwrap_or_else(|e| panic!("{e}"));
    let metallb = MetalLb::start(&mut fabric, &plane, &bin, bgp).unwrap_or_else(|e| panic!("{e}"));

    for yaml in seed_objects(bgp) {
        plane.apply(&yaml).unwrap_or_else(|e| panic!("{e}"));
    }

    // MetalLB's controller gives the Service an address of the pool.
    let ip: Ipv4Addr = eventually(
        "web has an IP from MetalLB's controller",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let text = plane.kubectl(
                &[
                    "get",
                    "svc",
                    "web",
                    "-o",
                    "jsonpath={.status.loadBalancer.ingress[0].ip}",
                ],
                None,
            )?;
            text.trim().parse::<Ipv4Addr>().map_err(|_| {
                format!(
                    "status {text:?}; controller log:\n{}",
                    fabric.log("metallb-controller")
                )
            })
        },
    );
    assert_eq!(
        ip.octets()[..3],
        [203, 0, 113],
        "{ip} is not from 203.0.113.0/24"
    );

    // MetalLB's speakers announce the /32 from every node with a local endpoint (all three),
    // and both ToRs install it with ECMP next hops.
    let all: Vec<Ipv4Addr> = fabric.nodes.iter().map(|n| n.address).collect();
    let prefix = ip.to_string();
    for tor in ["tor1", "tor2"] {
        if let Err(error) = fabric.wait_next_hops(tor, &prefix, &all, Duration::from_secs(90)) {
            panic!(
                "{error}\n{tor}: {}\nspeaker log (node-21):\n{}",
                fabric
                    .vtysh(tor, "show bgp ipv4 unicast summary")
                    .unwrap_or_default(),
                fabric.log("metallb-speaker-node-21")
            );
        }
    }
    // It is MetalLB that announced it: its speakers logged their sessions, and no IronLB
    // process runs in this fabric.
    for node in ["node-21", "node-22", "node-23"] {
        let log = fabric.log(&format!("metallb-speaker-{node}"));
        // In FRR mode the sessions are FRR's (checked below), the speaker only configures.
        assert!(
            bgp == BgpType::Frr || log.contains("BGP session established"),
            "{node}'s MetalLB speaker has no established session:\n{log}"
        );
        assert!(metallb.speaker_pid(node).is_some());
    }
    if bgp == BgpType::Frr {
        // FRR mode carries the seed's BFD profile: tor1 has BFD Up with every node, and each
        // node's FRR runs the session the speaker configured.
        let tor1 = &fabric.tor("tor1").frr;
        eventually(
            "BFD Up at tor1 with all three nodes",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let up = tor1.bfd_peers_up().len();
                (up == 3).then_some(()).ok_or(format!("{up} BFD peers up"))
            },
        );
        for node in ["node-21", "node-22", "node-23"] {
            let frr = metallb.frr(node).expect("the node's FRR");
            let summary = frr
                .vtysh("show bgp ipv4 unicast summary")
                .unwrap_or_default();
            assert!(
                summary.contains("10.0.0.1") && summary.contains("10.0.0.2"),
                "{node}: {summary}"
            );
        }
    }
    eprintln!(
        "{ip}/32 via all three nodes at both ToRs {:.1} s after the fabric started",
        start.elapsed().as_secs_f64()
    );
    drop(metallb);
    drop(plane);
}
