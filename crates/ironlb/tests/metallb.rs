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
    let test = "metallb_native_gives_the_seed_service_its_ip_and_ecmp_routes_at_both_tors";
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
    let mut fabric =
        Fabric::build("ml", FabricSpec::seed(PathBuf::from(IRONLB))).expect("the seed fabric");
    let plane = SwitchPlane::start(&fabric).unwrap_or_else(|e| panic!("{e}"));
    let metallb = MetalLb::start(&mut fabric, &plane, &bin, BgpType::Native)
        .unwrap_or_else(|e| panic!("{e}"));

    for yaml in [
        POOL.to_string(),
        native_peers(),
        ADVERTISEMENT.to_string(),
        SERVICE.replace(
            "metadata:\n  name: web\n",
            "metadata:\n  name: web\n  namespace: default\n",
        ),
        ironlb_lab::kube::WEB_DEPLOYMENT.to_string(),
    ] {
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
        assert!(
            log.contains("BGP session established"),
            "{node}'s MetalLB speaker has no established session:\n{log}"
        );
        assert!(metallb.speaker_pid(node).is_some());
    }
    eprintln!(
        "{ip}/32 via all three nodes at both ToRs {:.1} s after the fabric started",
        start.elapsed().as_secs_f64()
    );
    drop(metallb);
    drop(plane);
}
