//! The seed end to end: controller + one speaker per node from a cluster directory, two FRR
//! ToRs with ECMP, in network namespaces. Each test builds its own fabric.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use ironlb_lab::fabric::Peering;
use ironlb_lab::{Fabric, FabricSpec};

const IP: &str = "203.0.113.5";

fn ironlb() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ironlb"))
}

fn hops(last: &[u8]) -> Vec<Ipv4Addr> {
    last.iter().map(|i| Ipv4Addr::new(10, 0, 0, *i)).collect()
}

const POOL: &str = include_str!("../../../examples/seed/pool.yaml");
const PEERS: &str = include_str!("../../../examples/seed/peers.yaml");
const ADVERTISEMENT: &str = include_str!("../../../examples/seed/advertisement.yaml");
const BFD: &str = include_str!("../../../examples/seed/bfd.yaml");

fn service(name: &str, policy: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n  annotations:\n    metallb.io/loadBalancerIPs: {IP}\n{annotations}spec:\n  type: LoadBalancer\n  externalTrafficPolicy: {policy}\n  selector: {{app: {name}}}\n  ports: [{{port: 443, targetPort: 8443}}]\n"
    )
}

/// The seed's objects, the nodes, and the `web` Service with endpoints on `endpoints`.
fn seed(name: &str, policy: &str, endpoints: &[&str]) -> Option<Fabric> {
    seed_with(name, policy, endpoints, Peering::Static)
}

/// [`seed`] with both ToRs knowing the nodes as `peering` says.
fn seed_with(name: &str, policy: &str, endpoints: &[&str], peering: Peering) -> Option<Fabric> {
    if !ironlb_lab::require(name, &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"]) {
        return None;
    }
    let mut spec = FabricSpec::seed(ironlb());
    for tor in &mut spec.tors {
        tor.peering = peering;
    }
    let mut fabric =
        Fabric::build(&name.replace('_', "-")[..12.min(name.len())], spec).expect("fabric");
    fabric.write("pool.yaml", POOL).unwrap();
    fabric.write("peers.yaml", PEERS).unwrap();
    fabric.write("advertisement.yaml", ADVERTISEMENT).unwrap();
    fabric.write("bfd.yaml", BFD).unwrap();
    fabric.write("nodes.yaml", &fabric.nodes_yaml(&[])).unwrap();
    fabric
        .write("web.yaml", &service("web", policy, ""))
        .unwrap();
    fabric
        .write(
            "web-endpoints.yaml",
            &Fabric::endpoints_yaml("web", endpoints),
        )
        .unwrap();
    fabric.start_controller().unwrap();
    for node in ["node-21", "node-22", "node-23"] {
        fabric.start_speaker(node, &[]).unwrap();
    }
    Some(fabric)
}

fn expect(fabric: &Fabric, tor: &str, last: &[u8]) -> Duration {
    fabric
        .wait_next_hops(tor, IP, &hops(last), Duration::from_secs(30))
        .unwrap_or_else(|e| {
            panic!(
                "{e}\ncontroller:\n{}\nspeaker-node-21:\n{}\n{tor} bgp:\n{}",
                fabric.log("controller"),
                fabric.log("speaker-node-21"),
                fabric
                    .tor(tor)
                    .frr
                    .vtysh("show bgp ipv4 unicast")
                    .unwrap_or_default()
            )
        })
}

#[test]
fn seed_cluster_policy_gives_three_next_hops_on_both_tors() {
    let Some(fabric) = seed("e2e_cluster", "Cluster", &["node-21"]) else {
        return;
    };
    expect(&fabric, "tor1", &[21, 22, 23]);
    expect(&fabric, "tor2", &[21, 22, 23]);
    let route = fabric
        .tor("tor1")
        .frr
        .json(&format!("show bgp ipv4 unicast {IP}/32 json"))
        .unwrap();
    let text = route.to_string();
    assert!(
        text.contains("65000:100"),
        "community from the BGPAdvertisement: {text}"
    );
    let log = fabric.log("speaker-node-21");
    assert!(log.contains("BGP session established"), "{log}");
    // The speaker's metrics, with MetalLB's names.
    let node = ironlb_lab::Namespace::existing(&fabric.nodes[0].namespace);
    let metrics = ironlb_lab::wait_for("speaker metrics", Duration::from_secs(10), || {
        let text = node
            .exec("curl", &["-sf", "http://127.0.0.1:7472/metrics"])
            .ok()?;
        text.contains("metallb_bgp_session_up{peer=\"10.0.0.1:179\"} 1")
            .then_some(text)
    })
    .unwrap_or_else(|e| panic!("{e}: {}", fabric.log("speaker-node-21")));
    assert!(
        metrics.contains("metallb_speaker_announced{ip=\"203.0.113.5\",node=\"node-21\",protocol=\"bgp\",service=\"default/web\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("metallb_bfd_session_up{peer=\"10.0.0.1\",vrf=\"\"}"),
        "{metrics}"
    );
    let ready = node
        .exec(
            "curl",
            &[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "http://127.0.0.1:7472/readyz",
            ],
        )
        .unwrap();
    assert_eq!(ready, "200");
    // promtool (Debian's prometheus package) parses the exposition. Its naming lint flags only
    // names that are MetalLB's own (kept so dashboards and alerts keep working): MetalLB's
    // gauges ending in _total and its FRR-mode BFD counters without it.
    if ironlb_lab::require("promtool check metrics", &["promtool"]) {
        let file = fabric.directory.join("metrics.txt");
        std::fs::write(&file, &metrics).unwrap();
        let checked = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("promtool check metrics < {}", file.display()))
            .output()
            .unwrap();
        let findings = format!(
            "{}{}",
            String::from_utf8_lossy(&checked.stdout),
            String::from_utf8_lossy(&checked.stderr)
        );
        let metallb_names = [
            "metallb_bgp_announced_prefixes_total non-counter",
            "metallb_bgp_pending_prefixes_total non-counter",
            "metallb_bfd_control_packet_input counter",
            "metallb_bfd_control_packet_output counter",
            "metallb_bfd_echo_packet_input counter",
            "metallb_bfd_echo_packet_output counter",
        ];
        for finding in findings.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                metallb_names.iter().any(|name| finding.starts_with(name)),
                "promtool: {finding}\n(all: {findings})"
            );
        }
    }
}

#[test]
fn local_policy_follows_the_endpoints_3_1_0_2() {
    let Some(fabric) = seed("e2e_local", "Local", &["node-21", "node-22", "node-23"]) else {
        return;
    };
    expect(&fabric, "tor1", &[21, 22, 23]);
    expect(&fabric, "tor2", &[21, 22, 23]);
    for (endpoints, last) in [
        (&["node-22"][..], &[22u8][..]),
        (&[][..], &[][..]),
        (&["node-21", "node-23"][..], &[21, 23][..]),
    ] {
        fabric
            .write(
                "web-endpoints.yaml",
                &Fabric::endpoints_yaml("web", endpoints),
            )
            .unwrap();
        expect(&fabric, "tor1", last);
        expect(&fabric, "tor2", last);
    }
    // The speaker says why node-22 does not announce (status is refreshed every 500 ms).
    let path = fabric.cluster_dir.join(".ironlb/speaker-node-22.yaml");
    ironlb_lab::wait_for("node-22's status", Duration::from_secs(5), || {
        let status = std::fs::read_to_string(&path).ok()?;
        status.contains("noLocalEndpoints").then_some(())
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {}",
            std::fs::read_to_string(&path).unwrap_or_default()
        )
    });
}

#[test]
fn exclude_label_and_peer_node_selector_remove_nodes() {
    let Some(fabric) = seed("e2e_exclude", "Cluster", &["node-21"]) else {
        return;
    };
    expect(&fabric, "tor1", &[21, 22, 23]);
    fabric
        .write(
            "nodes.yaml",
            &fabric.nodes_yaml(&[(
                "node-23",
                "node.kubernetes.io/exclude-from-external-load-balancers",
                "",
            )]),
        )
        .unwrap();
    expect(&fabric, "tor1", &[21, 22]);
    expect(&fabric, "tor2", &[21, 22]);
    // tor2's BGPPeer now only for nodes labelled rack=a (node-21).
    let peers = PEERS.replace(
        "  peerAddress: 10.0.0.2\n",
        "  peerAddress: 10.0.0.2\n  nodeSelectors:\n  - matchLabels:\n      rack: a\n",
    );
    assert_ne!(peers, PEERS);
    fabric.write("peers.yaml", &peers).unwrap();
    fabric
        .write(
            "nodes.yaml",
            &fabric.nodes_yaml(&[
                ("node-21", "rack", "a"),
                (
                    "node-23",
                    "node.kubernetes.io/exclude-from-external-load-balancers",
                    "",
                ),
            ]),
        )
        .unwrap();
    expect(&fabric, "tor2", &[21]);
    expect(&fabric, "tor1", &[21, 22]);
}

#[test]
fn a_pool_change_reassigns_and_the_route_moves() {
    let Some(fabric) = seed("e2e_pool", "Cluster", &["node-21"]) else {
        return;
    };
    fabric
        .write(
            "web.yaml",
            &service("web", "Cluster", "")
                .replace("    metallb.io/loadBalancerIPs: 203.0.113.5\n", "    {}\n")
                .replace("  annotations:\n    {}\n", ""),
        )
        .unwrap();
    fabric
        .wait_next_hops(
            "tor1",
            "203.0.113.0",
            &hops(&[21, 22, 23]),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", fabric.log("controller")));
    fabric
        .write(
            "pool.yaml",
            &POOL.replace("203.0.113.0/24", "203.0.113.64/26"),
        )
        .unwrap();
    fabric
        .wait_next_hops(
            "tor1",
            "203.0.113.64",
            &hops(&[21, 22, 23]),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", fabric.log("controller")));
    fabric
        .wait_next_hops("tor1", "203.0.113.0", &[], Duration::from_secs(10))
        .expect("old address withdrawn");
    let status =
        std::fs::read_to_string(fabric.cluster_dir.join(".ironlb/controller.yaml")).unwrap();
    assert!(status.contains("203.0.113.64"), "{status}");
}

#[test]
fn a_broken_file_leaves_routes_untouched() {
    let Some(fabric) = seed("e2e_broken", "Cluster", &["node-21"]) else {
        return;
    };
    expect(&fabric, "tor1", &[21, 22, 23]);
    fabric
        .write("advertisement.yaml", "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: prod-adv, namespace: metallb-system\nspec: [\n")
        .unwrap();
    fabric
        .write(
            "pool.yaml",
            &POOL.replace("203.0.113.0/24", "203.0.113.0/33"),
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(fabric.next_hops("tor1", IP), hops(&[21, 22, 23]));
    assert_eq!(fabric.next_hops("tor2", IP), hops(&[21, 22, 23]));
    let log = fabric.log("speaker-node-21");
    assert!(
        log.contains("not usable") || log.contains("invalid configuration"),
        "{log}"
    );
}

#[test]
fn two_services_sharing_an_ip_announce_it_once() {
    let Some(fabric) = seed("e2e_share", "Cluster", &["node-21"]) else {
        return;
    };
    let shared = "    metallb.io/allow-shared-ip: web-and-api\n";
    fabric
        .write("web.yaml", &service("web", "Cluster", shared))
        .unwrap();
    fabric
        .write(
            "api.yaml",
            &service("api", "Cluster", shared).replace("port: 443", "port: 8080"),
        )
        .unwrap();
    expect(&fabric, "tor1", &[21, 22, 23]);
    let status: ironlb_cluster::status::ControllerStatus =
        ironlb_cluster::status::read(&fabric.cluster_dir, "controller.yaml").unwrap();
    let holders: Vec<&str> = status
        .services
        .iter()
        .filter(|s| s.ingress.iter().any(|ip| ip.to_string() == IP))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(holders, ["api", "web"], "both Services hold it: {status:?}");
    // One path per node in the ToR's table, not two.
    let route = fabric
        .tor("tor1")
        .frr
        .json(&format!("show bgp ipv4 unicast {IP}/32 json"))
        .unwrap();
    assert_eq!(route["paths"].as_array().map(Vec::len), Some(3), "{route}");
}

#[test]
fn ibgp_carries_local_pref_to_the_router() {
    if !ironlb_lab::require(
        "ibgp_carries_local_pref_to_the_router",
        &["/usr/lib/frr/bgpd"],
    ) {
        return;
    }
    let mut spec = FabricSpec::seed(ironlb());
    spec.node_asn = 65000;
    spec.tors.truncate(1);
    spec.tors[0].bfd = false;
    let mut fabric = Fabric::build("e2e-ibgp", spec).expect("fabric");
    fabric.write("pool.yaml", POOL).unwrap();
    fabric
        .write(
            "peers.yaml",
            "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor1, namespace: metallb-system}\nspec: {myASN: 65000, peerASN: 65000, peerAddress: 10.0.0.1}\n",
        )
        .unwrap();
    fabric
        .write(
            "advertisement.yaml",
            &ADVERTISEMENT
                .replace("localPref: 100", "localPref: 250")
                .replace("65000:100", "65000:250"),
        )
        .unwrap();
    fabric.write("nodes.yaml", &fabric.nodes_yaml(&[])).unwrap();
    fabric
        .write("web.yaml", &service("web", "Cluster", ""))
        .unwrap();
    fabric
        .write(
            "web-endpoints.yaml",
            &Fabric::endpoints_yaml("web", &["node-21"]),
        )
        .unwrap();
    fabric.start_controller().unwrap();
    fabric.start_speaker("node-21", &[]).unwrap();
    expect(&fabric, "tor1", &[21]);
    let route = fabric
        .tor("tor1")
        .frr
        .json(&format!("show bgp ipv4 unicast {IP}/32 json"))
        .unwrap();
    let path = &route["paths"][0];
    assert_eq!(path["locPrf"], 250, "{route}");
    assert_eq!(path["community"]["string"], "65000:250", "{route}");
}

/// BFDProfile `echoMode` through metallb.io objects: the seed's profile turned to echo mode
/// (50 ms) while running; every node's BFD with tor1 runs the Echo function, its packets
/// returned by tor1's forwarding plane. tor1 stops forwarding (its control plane still
/// answers BFD): the nodes' echo fails, they take BFD and BGP down, tor1 removes all three
/// next hops; tor2 (no BFD) keeps them. Forwarding back, the routes come back.
#[test]
fn bfd_echo_mode_detects_a_tor_that_stops_forwarding() {
    // Both ToR configurations: with `bgp listen range`, FRR creates a node's BFD session only
    // once its BGP session is up, and echo then starts on it.
    for (name, peering) in [
        ("e2e_echo", Peering::Static),
        ("e2e_echo_lr", Peering::ListenRange),
    ] {
        echo_detects_a_tor_that_stops_forwarding(name, peering);
    }
}

fn echo_detects_a_tor_that_stops_forwarding(name: &str, peering: Peering) {
    let Some(fabric) = seed_with(name, "Cluster", &["node-21"], peering) else {
        return;
    };
    expect(&fabric, "tor1", &[21, 22, 23]);
    fabric
        .write(
            "bfd.yaml",
            &format!("{BFD}  echoMode: true\n  echoInterval: 50\n"),
        )
        .unwrap();
    ironlb_lab::wait_for(
        "every node's BFD with tor1 in echo mode",
        Duration::from_secs(20),
        || {
            let speakers = ironlb_cluster::status::read_speakers(&fabric.cluster_dir);
            let echo = speakers
                .iter()
                .flat_map(|s| s.bfd.iter())
                .filter(|b| b.echo && b.echo_packets_received > 0)
                .count();
            (echo == 3).then_some(())
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", fabric.log("speaker-node-21")));
    let tor1 = fabric.tor("tor1").frr.namespace().clone();
    let start = std::time::Instant::now();
    tor1.exec("sysctl", &["-qw", "net.ipv4.ip_forward=0"])
        .expect("tor1 stops forwarding");
    fabric
        .wait_next_hops("tor1", IP, &[], Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", fabric.log("speaker-node-21")));
    println!(
        "tor1 stopped forwarding: all next hops gone in {:?}",
        start.elapsed()
    );
    expect(&fabric, "tor2", &[21, 22, 23]);
    let log = fabric.log("speaker-node-21");
    assert!(log.contains("echo function failed"), "{log}");
    tor1.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"])
        .expect("tor1 forwards again");
    fabric
        .wait_next_hops("tor1", IP, &hops(&[21, 22, 23]), Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e}\n{}", fabric.log("speaker-node-21")));
}

/// Changing a BGPPeer or its BFD profile on a running cluster, with both ToR configurations.
/// A BFD profile change alone leaves the BGP sessions up (FRR applies `bfd profile` without a
/// reset): no next hop leaves the ToRs. A BGP change (holdTime) restarts the sessions, and the
/// new ones wait FRR's start timer (1 s) before dialling: a `bgp listen range` ToR that got the
/// new connection while still deleting the old dynamic neighbour kept it open with no
/// neighbour behind it (no routes, no BFD) until the hold timer expired.
#[test]
fn peer_and_bfd_profile_changes_keep_every_node_at_both_tor_styles() {
    for (name, peering) in [
        ("e2e_change", Peering::Static),
        ("e2e_change_lr", Peering::ListenRange),
    ] {
        let Some(fabric) = seed_with(name, "Cluster", &["node-21"], peering) else {
            return;
        };
        expect(&fabric, "tor1", &[21, 22, 23]);
        let bfd_up = |what: &str| {
            ironlb_lab::wait_for(what, Duration::from_secs(20), || {
                (fabric.tor("tor1").frr.bfd_peers_up().len() == 3).then_some(())
            })
            .unwrap_or_else(|e| panic!("{peering}: {e}\n{}", fabric.log("speaker-node-22")))
        };
        bfd_up("tor1's BFD Up with the three nodes");
        fabric
            .write(
                "bfd.yaml",
                &BFD.replace("detectMultiplier: 3", "detectMultiplier: 4"),
            )
            .unwrap();
        // Three seconds of polling: every next hop stays at tor1 throughout.
        let until = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < until {
            assert_eq!(
                fabric.next_hops("tor1", IP),
                hops(&[21, 22, 23]),
                "{peering}: a BFD profile change took a next hop away\n{}",
                fabric.log("speaker-node-22")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = fabric.log("speaker-node-22");
        assert!(
            log.contains("BFD updated, the BGP session stays up"),
            "{peering}: {log}"
        );
        bfd_up("tor1's BFD Up with the three nodes after the profile change");
        fabric
            .write(
                "peers.yaml",
                &PEERS.replace("holdTime: 90s", "holdTime: 60s"),
            )
            .unwrap();
        ironlb_lab::wait_for(
            "every speaker to restart its tor1 session",
            Duration::from_secs(20),
            || {
                ["node-21", "node-22", "node-23"]
                    .iter()
                    .all(|node| {
                        fabric
                            .log(&format!("speaker-{node}"))
                            .contains("BGP peer changed: restarting its session peer=tor1")
                    })
                    .then_some(())
            },
        )
        .unwrap();
        // Every node is a neighbour of tor1 again, with BFD, and a next hop of both ToRs.
        ironlb_lab::wait_for(
            "tor1's three sessions Established",
            Duration::from_secs(20),
            || {
                let summary = fabric.tor("tor1").frr.json("show bgp summary json").ok()?;
                (summary.to_string().matches("\"Established\"").count() == 3).then_some(())
            },
        )
        .unwrap_or_else(|e| panic!("{peering}: {e}\n{}", fabric.log("speaker-node-22")));
        bfd_up("tor1's BFD Up with the three nodes after the BGPPeer change");
        expect(&fabric, "tor1", &[21, 22, 23]);
        expect(&fabric, "tor2", &[21, 22, 23]);
    }
}
