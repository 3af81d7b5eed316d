//! The dual-stack scenario: the seed's fabric with IPv6 on the segment as well
//! ([`FabricSpec::dual_stack`]), and the MetalLB objects of `examples/dual-stack` (read here,
//! so the lab, the tests and the user's manifests are one source): each node peers with each
//! ToR over IPv4 (`tor1`, `tor2`) and over IPv6 (`tor1-v6`, `tor2-v6`), tor1's peers of both
//! families carry a BFD profile (300 ms × 3), and one pool has an IPv4 and an IPv6 range.
//! Used by `ironlb lab --scenario dual-stack`, `tests/dual_stack.rs` and
//! `benches/dual_stack.rs`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::fabric::{FabricView, Peering};
use crate::{Fabric, FabricSpec, LabError, Result};

/// The pool: an IPv4 and an IPv6 range.
pub const POOL: &str = include_str!("../../../examples/dual-stack/pool.yaml");

/// The pool's advertisement (every peer, each family to its own).
pub const ADVERTISEMENT: &str = include_str!("../../../examples/dual-stack/advertisement.yaml");

/// tor1's BFD profile.
pub const BFD: &str = include_str!("../../../examples/dual-stack/bfd.yaml");

/// The BGPPeers: per ToR one for its IPv4 address (named after it) and one for its IPv6
/// address (`-v6`), the BFD profile on tor1's (the ToR of [`FabricSpec::seed`] running BFD).
pub const PEERS: &str = include_str!("../../../examples/dual-stack/peers.yaml");

/// The user's Service: `default/web`, RequireDualStack, Local policy, asking for 203.0.113.5
/// and 2001:db8:5::5 (`metallb.io/loadBalancerIPs`).
pub const SERVICE: &str = include_str!("../../../examples/dual-stack/service.yaml");

/// A dual-stack LoadBalancer Service `default/NAME` (`RequireDualStack`, IPv4 first) with
/// `externalTrafficPolicy: POLICY`; `annotations` are extra metadata lines (indented by four).
pub fn service_yaml(name: &str, policy: &str, annotations: &str) -> String {
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("  annotations:\n{annotations}")
    };
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n{annotations}spec:\n  type: LoadBalancer\n  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]\n  externalTrafficPolicy: {policy}\n  selector: {{app: {name}}}\n  ports: [{{port: 443, targetPort: 8443}}]\n"
    )
}

/// The dual-stack fabric's spec: the seed's (tor1 with BFD, tor2 without), dual-stack, each
/// ToR with its peering style.
pub fn spec(ironlb: PathBuf, tor1: Peering, tor2: Peering) -> FabricSpec {
    let mut spec = FabricSpec::seed(ironlb).dual_stack();
    for (tor, peering) in spec.tors.iter_mut().zip([tor1, tor2]) {
        tor.peering = peering;
    }
    spec
}

/// Builds the dual-stack fabric named `name` (tor1 with BFD, tor2 without, each with its
/// peering style), writes the pool, the peers, the BFD profile, the advertisement and the
/// nodes, and starts the controller and the three speakers. Services are the caller's.
pub fn start(name: &str, ironlb: PathBuf, tor1: Peering, tor2: Peering) -> Result<Fabric> {
    start_with(name, spec(ironlb, tor1, tor2), PEERS)
}

/// [`start`] with another fabric spec and other BGPPeers (`peers`, YAML).
pub fn start_with(name: &str, spec: FabricSpec, peers: &str) -> Result<Fabric> {
    let mut fabric = Fabric::build(name, spec)?;
    fabric.write("pool.yaml", POOL)?;
    fabric.write("peers.yaml", peers)?;
    fabric.write("bfd.yaml", BFD)?;
    fabric.write("advertisement.yaml", ADVERTISEMENT)?;
    fabric.write("nodes.yaml", &fabric.nodes_yaml(&[]))?;
    fabric.start_controller()?;
    for node in fabric
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect::<Vec<_>>()
    {
        fabric.start_speaker(&node, &[])?;
    }
    Ok(fabric)
}

/// The peers whose BFD session a ToR reports Up (`show bfd peers json`), sorted.
pub fn bfd_peers_up(view: &FabricView, tor: &str) -> Result<Vec<IpAddr>> {
    let text = view.vtysh(tor, "show bfd peers json")?;
    let peers: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| LabError(format!("{tor}: show bfd peers json: {e}: {text}")))?;
    let mut up: Vec<IpAddr> = peers
        .as_array()
        .into_iter()
        .flatten()
        .filter(|peer| peer["status"] == "up")
        .filter_map(|peer| peer["peer"].as_str()?.parse().ok())
        .collect();
    up.sort();
    Ok(up)
}

/// What to print when a wait fails: the controller's and each speaker's last log lines, and
/// each ToR's BGP sessions of both families, BFD peers and BGP routes.
pub fn logs(view: &FabricView) -> String {
    let mut text = String::new();
    let names = std::iter::once("controller".to_string())
        .chain(view.nodes.iter().map(|n| format!("speaker-{}", n.name)));
    for name in names {
        let log = view.log(&name);
        let lines: Vec<&str> = log.lines().collect();
        let _ = writeln!(text, "--- {name} (last lines)");
        for line in &lines[lines.len().saturating_sub(25)..] {
            let _ = writeln!(text, "{line}");
        }
    }
    for tor in &view.tors {
        for command in [
            "show bgp ipv4 unicast summary",
            "show bgp ipv6 unicast summary",
            "show bfd peers brief",
            "show bgp ipv4 unicast",
            "show bgp ipv6 unicast",
        ] {
            let output = view
                .vtysh(&tor.name, command)
                .unwrap_or_else(|e| e.to_string());
            let _ = writeln!(text, "--- {}# {command}\n{output}", tor.name);
        }
    }
    text
}
