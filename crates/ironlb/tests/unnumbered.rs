//! BGP unnumbered against FRR: a BGPPeer with `interface: eth0` and no `peerAddress`, the ToR
//! running FRR with `neighbor eth0 interface remote-as external`, and one veth between them
//! with no address but the kernel's link-locals.
//!
//! The speaker reads the cluster directory (the controller assigns the addresses), finds the
//! ToR's link-local from the Router Advertisements zebra sends, advertises its own so FRR
//! learns it, and peers over the link-locals: IPv4 and IPv6 unicast on one session, the IPv4
//! route with an IPv6 next hop (RFC 8950). Shown at the ToR: FRR's neighbour Established, both
//! routes in its BGP table and its kernel FIB via the node's link-local, pings to both Service
//! addresses answered by the node, and both routes gone from the FIB once the Service is.

use std::time::{Duration, Instant};

use ironlb_lab::{Fabric, Frr, FrrDaemons, Lab, Namespace, eventually};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const V4: &str = "203.0.113.7";
const V6: &str = "2001:db8::7";
/// The ToR's loopback addresses: the sources of its pings (the link has no other address).
const TOR_V4: &str = "10.255.0.1";
const TOR_V6: &str = "2001:db8:ffff::1";

const FRR_CONFIG: &str = "\
router bgp 65000
 bgp router-id 10.255.0.1
 no bgp ebgp-requires-policy
 neighbor eth0 interface remote-as external
 neighbor eth0 timers connect 1
 address-family ipv4 unicast
  neighbor eth0 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor eth0 activate
 exit-address-family
";

const OBJECTS: &str = "\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool, namespace: metallb-system}
spec:
  addresses: [203.0.113.0/24, \"2001:db8::/120\"]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv, namespace: metallb-system}
spec: {ipAddressPools: [pool]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 65100, peerASN: 65000, interface: eth0, connectTime: 1s}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: nowhere, namespace: metallb-system}
spec: {myASN: 65100, peerASN: 65000, interface: eth9}
---
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {kubernetes.io/hostname: node-1}
status:
  addresses: [{type: InternalIP, address: 10.255.0.2}]
  conditions: [{type: Ready, status: \"True\"}]
";

fn service() -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\n  annotations:\n    metallb.io/loadBalancerIPs: \"{V4},{V6}\"\nspec:\n  type: LoadBalancer\n  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]\n  externalTrafficPolicy: Cluster\n  selector: {{app: web}}\n  ports: [{{port: 443, targetPort: 8443}}]\n"
    )
}

fn route(tor: &Namespace, family: &str, prefix: &str) -> String {
    tor.ip(&[family, "route", "show", prefix])
        .unwrap_or_default()
}

/// Writes `objects`, the `web` Service and its endpoint on node-1 into a cluster directory and
/// starts IronLB's controller and speaker in the node's namespace.
fn start_ironlb(lab: &mut Lab, node: &Namespace, objects: &str) -> std::path::PathBuf {
    let cluster = lab.subdirectory("cluster", None).unwrap();
    std::fs::write(cluster.join("objects.yaml"), objects).unwrap();
    std::fs::write(cluster.join("web.yaml"), service()).unwrap();
    std::fs::write(
        cluster.join("web-endpoints.yaml"),
        Fabric::endpoints_yaml("web", &["node-1"]),
    )
    .unwrap();
    let dir = cluster.display().to_string();
    lab.spawn(
        node,
        "controller",
        IRONLB,
        &[
            "controller",
            "--cluster-dir",
            &dir,
            "--metrics-address",
            "off",
        ],
    )
    .expect("controller");
    lab.spawn(
        node,
        "speaker",
        IRONLB,
        &["speaker", "--cluster-dir", &dir, "--node", "node-1"],
    )
    .expect("speaker");
    cluster
}

/// Waits for FRR's neighbour eth0 to be Established; its `show bgp neighbors eth0 json`.
fn established(frr: &Frr, log: &dyn Fn() -> String) -> serde_json::Value {
    eventually(
        "FRR's neighbour eth0 Established",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            let json = frr
                .json("show bgp neighbors eth0 json")
                .map_err(|e| e.to_string())?;
            let state = json["eth0"]["bgpState"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if state == "Established" {
                Ok(json)
            } else {
                Err(format!("state {state:?}; speaker log:\n{}", log()))
            }
        },
    )
}

#[test]
fn frr_peers_with_an_interface_bgppeer_over_link_locals_and_forwards_both_families() {
    if !ironlb_lab::require(
        "unnumbered",
        &["/usr/lib/frr/bgpd", "/usr/lib/frr/zebra", "ping"],
    ) {
        return;
    }
    let started = Instant::now();
    let (mut lab, node, tor, node_link_local, tor_link_local) =
        ironlb_lab::unnumbered_node_and_tor("unnum").expect("lab");
    // Only link-locals on the link (the kernel's): no IPv4, no global IPv6.
    for namespace in [&node, &tor] {
        let addresses = namespace
            .ip(&["-o", "addr", "show", "dev", "eth0"])
            .unwrap();
        assert!(!addresses.contains("inet "), "{addresses}");
        assert!(!addresses.contains("scope global"), "{addresses}");
    }
    let frr =
        Frr::start(&mut lab, &tor, "tor", FRR_CONFIG, FrrDaemons { bfd: false }).expect("frr");
    let cluster = start_ironlb(&mut lab, &node, OBJECTS);
    let dir = cluster.display().to_string();
    let log = || std::fs::read_to_string(lab.directory().join("speaker.log")).unwrap_or_default();

    // FRR's neighbour eth0 comes up: it learnt the node's link-local from our RAs.
    let neighbor = established(&frr, &log);
    let peer = &neighbor["eth0"];
    // The session runs between the link-locals, and RFC 8950 was negotiated both ways.
    assert_eq!(
        peer["hostForeign"].as_str(),
        Some(node_link_local.to_string().as_str()),
        "{peer}"
    );
    assert_eq!(
        peer["hostLocal"].as_str(),
        Some(tor_link_local.to_string().as_str()),
        "{peer}"
    );
    let capabilities = peer["neighborCapabilities"].to_string();
    assert!(capabilities.contains("xtendedNexthop"), "{capabilities}");
    println!(
        "FRR neighbour eth0 Established in {:?}: {} <-> {}",
        started.elapsed(),
        peer["hostLocal"],
        peer["hostForeign"]
    );

    // Both routes in FRR's BGP table, via the node's link-local.
    for (family, prefix) in [("ipv4", format!("{V4}/32")), ("ipv6", format!("{V6}/128"))] {
        let command = format!("show bgp {family} unicast {prefix} json");
        let json = eventually(
            &command,
            Duration::from_secs(30),
            Duration::from_millis(200),
            || {
                let json = frr.json(&command).map_err(|e| e.to_string())?;
                if json["paths"]
                    .as_array()
                    .is_some_and(|paths| !paths.is_empty())
                {
                    Ok(json)
                } else {
                    Err(format!("{json}; speaker log:\n{}", log()))
                }
            },
        );
        let path = &json["paths"][0];
        assert_eq!(path["aspath"]["string"].as_str(), Some("65100"), "{json}");
        assert!(
            path["nexthops"]
                .to_string()
                .contains(&node_link_local.to_string()),
            "{json}"
        );
        println!("FRR {family}: {prefix} via {}", path["nexthops"]);
    }

    // And in the ToR's kernel FIB: IPv4 via an IPv6 next hop (RFC 5549), IPv6 via the link-local.
    let v4_route = eventually(
        "the IPv4 route in the ToR's FIB",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let text = route(&tor, "-4", V4);
            if text.contains(&format!("via inet6 {node_link_local} dev eth0")) {
                Ok(text)
            } else {
                Err(text)
            }
        },
    );
    let v6_route = eventually(
        "the IPv6 route in the ToR's FIB",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let text = route(&tor, "-6", V6);
            if text.contains(&format!("via {node_link_local} dev eth0")) {
                Ok(text)
            } else {
                Err(text)
            }
        },
    );
    println!("ToR FIB: {} | {}", v4_route.trim(), v6_route.trim());

    // `ironlb get peers` shows the router by its link-local on eth0; the peer on a missing
    // interface stays down and says why.
    let peers = eventually(
        "get peers",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let output = std::process::Command::new(IRONLB)
                .args(["get", "peers", "--cluster-dir", &dir, "-o", "wide"])
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&output.stdout).to_string();
            if text.contains(&format!("{tor_link_local}%eth0"))
                && text.contains("Established")
                && text.contains("eth9 (BGPPeer spec.interface) does not exist")
            {
                Ok(text)
            } else {
                Err(text)
            }
        },
    );
    println!("{peers}");

    // Traffic: the Service addresses on the node's loopback answer the ToR's pings.
    tor.ip(&["addr", "add", &format!("{TOR_V4}/32"), "dev", "lo"])
        .unwrap();
    tor.ip(&["-6", "addr", "add", &format!("{TOR_V6}/128"), "dev", "lo"])
        .unwrap();
    node.ip(&["addr", "add", &format!("{V4}/32"), "dev", "lo"])
        .unwrap();
    node.ip(&["-6", "addr", "add", &format!("{V6}/128"), "dev", "lo"])
        .unwrap();
    // The way back: the node learns no routes (IronLB installs none), so static ones.
    node.ip(&[
        "route",
        "add",
        &format!("{TOR_V4}/32"),
        "via",
        "inet6",
        &tor_link_local.to_string(),
        "dev",
        "eth0",
    ])
    .unwrap();
    node.ip(&[
        "-6",
        "route",
        "add",
        &format!("{TOR_V6}/128"),
        "via",
        &tor_link_local.to_string(),
        "dev",
        "eth0",
    ])
    .unwrap();
    for (address, source) in [(V4, TOR_V4), (V6, TOR_V6)] {
        let output = tor
            .command("ping")
            .args(["-c", "2", "-W", "2", "-I", source, address])
            .output()
            .expect("ping");
        assert!(
            output.status.success(),
            "ping {address} from the ToR: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // Withdraw: the Service goes, both routes leave the ToR's FIB.
    std::fs::remove_file(cluster.join("web.yaml")).unwrap();
    let withdrawn = Instant::now();
    eventually(
        "both routes gone from the ToR's FIB",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            let (v4, v6) = (route(&tor, "-4", V4), route(&tor, "-6", V6));
            if v4.trim().is_empty() && v6.trim().is_empty() {
                Ok(())
            } else {
                Err(format!("{v4}{v6}"))
            }
        },
    );
    println!(
        "withdrawn from the ToR's FIB in {:?}; whole test {:?}",
        withdrawn.elapsed(),
        started.elapsed()
    );
}

/// BFD on an unnumbered peer (BGPPeer `interface` and `bfdProfile`; FRR's `neighbor eth0
/// bfd`): once the router is found, the speaker's BFD runs to its link-local on the interface
/// and FRR reports it Up; the node then goes silent (everything it sends to the ToR dropped:
/// no FIN, no withdraw) and FRR drops its routes on BFD Down, within the detection time
/// rather than the 90 s hold time.
#[test]
fn bfd_runs_over_the_link_locals_and_a_silent_node_is_dropped_within_a_second() {
    if !ironlb_lab::require(
        "unnumbered bfd",
        &[
            "/usr/lib/frr/bgpd",
            "/usr/lib/frr/zebra",
            "/usr/lib/frr/bfdd",
        ],
    ) {
        return;
    }
    let (mut lab, node, tor, node_link_local, _) =
        ironlb_lab::unnumbered_node_and_tor("unnum-bfd").expect("lab");
    let config = FRR_CONFIG.replace(
        " neighbor eth0 timers connect 1\n",
        " neighbor eth0 timers connect 1\n neighbor eth0 bfd\n",
    );
    assert_ne!(config, FRR_CONFIG);
    let frr = Frr::start(&mut lab, &tor, "tor", &config, FrrDaemons { bfd: true }).expect("frr");
    let objects = OBJECTS.replace(
        "interface: eth0, connectTime: 1s}",
        "interface: eth0, connectTime: 1s, bfdProfile: fast}\n---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast, namespace: metallb-system}\nspec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}",
    );
    assert_ne!(objects, OBJECTS);
    start_ironlb(&mut lab, &node, &objects);
    let log = || std::fs::read_to_string(lab.directory().join("speaker.log")).unwrap_or_default();
    established(&frr, &log);
    let peer = eventually(
        "FRR's BFD peer (the node's link-local) Up",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            let peers = frr.json("show bfd peers json").map_err(|e| e.to_string())?;
            peers
                .as_array()
                .and_then(|peers| {
                    peers
                        .iter()
                        .find(|p| {
                            p["peer"] == node_link_local.to_string().as_str() && p["status"] == "up"
                        })
                        .cloned()
                })
                .ok_or_else(|| format!("{peers}; speaker log:\n{}", log()))
        },
    );
    assert_eq!(peer["remote-receive-interval"], 300, "{peer}");
    eventually(
        "the IPv4 route in the ToR's FIB",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || {
            let text = route(&tor, "-4", V4);
            if text.contains(&format!("via inet6 {node_link_local}")) {
                Ok(())
            } else {
                Err(text)
            }
        },
    );
    // The node goes silent: its link-local address removed, it can neither send to the ToR
    // nor receive from it, while the link stays up (no carrier loss for FRR to see).
    node.ip(&[
        "-6",
        "addr",
        "del",
        &format!("{node_link_local}/64"),
        "dev",
        "eth0",
    ])
    .unwrap();
    let silent = Instant::now();
    eventually(
        "both routes gone from the ToR's FIB (BFD Down)",
        Duration::from_secs(10),
        Duration::from_millis(20),
        || {
            let (v4, v6) = (route(&tor, "-4", V4), route(&tor, "-6", V6));
            if v4.trim().is_empty() && v6.trim().is_empty() {
                Ok(())
            } else {
                Err(format!("{v4}{v6}; speaker log:\n{}", log()))
            }
        },
    );
    let gone = silent.elapsed();
    println!("unnumbered node silent: FRR dropped its routes in {gone:?} (BFD 300 ms x 3)");
    assert!(gone < Duration::from_secs(5), "{gone:?}: not BFD");
}
