//! IPv6 and dual stack end to end: the seed's fabric with 2001:db8:ffff::/64 on the segment as
//! well, real FRR ToRs peering with every node over IPv4 and over IPv6, and IronLB driven only
//! by metallb.io objects in a cluster directory (`ironlb_lab::dual_stack`). Each test builds
//! its own fabric; tor1 runs BFD on both families, tor2 none, and the tests use both ToR
//! peering styles (static neighbours, `bgp listen range`). The last one has multiprotocol
//! sessions instead: one per node and ToR carrying both families (`dualStackAddressFamily`).

use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlb_cluster::status::{ControllerStatus, ServiceAnnouncement, SpeakerStatus};
use ironlb_lab::dual_stack;
use ironlb_lab::fabric::{FabricView, Family, Peering, RouteExpectation};
use ironlb_lab::{Fabric, FabricSpec, Namespace};

const NODES: [&str; 3] = ["node-21", "node-22", "node-23"];

fn ironlb() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ironlb"))
}

/// The fabric to build and the BGPPeers to write.
type Setup = (FabricSpec, &'static str);

/// The dual-stack fabric with these peering styles (tor1, tor2) and examples/dual-stack's
/// BGPPeers.
fn setup(tor1: Peering, tor2: Peering) -> Setup {
    (dual_stack::spec(ironlb(), tor1, tor2), dual_stack::PEERS)
}

fn start(test: &str, name: &str, (spec, peers): Setup) -> Option<Fabric> {
    if !ironlb_lab::require(
        test,
        &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "bridge", "ping"],
    ) {
        return None;
    }
    Some(
        dual_stack::start_with(name, spec, peers)
            .unwrap_or_else(|e| panic!("{test}: cannot build the fabric: {e}")),
    )
}

/// Panics with `what` and everything that explains it.
fn fail(view: &FabricView, what: impl std::fmt::Display) -> ! {
    panic!("{what}\n{}", dual_stack::logs(view))
}

/// The Service's addresses once the controller has given both families: (IPv4, IPv6).
fn assigned(view: &FabricView, service: &str) -> (IpAddr, IpAddr) {
    let ingress = ironlb_lab::wait_for(
        &format!("{service}: an IPv4 and an IPv6 address"),
        Duration::from_secs(20),
        || {
            let status: ControllerStatus =
                ironlb_cluster::status::read(&view.cluster_dir, "controller.yaml")?;
            let ingress = status
                .services
                .into_iter()
                .find(|s| s.name == service)?
                .ingress;
            let v4 = ingress.iter().copied().find(IpAddr::is_ipv4)?;
            let v6 = ingress.iter().copied().find(IpAddr::is_ipv6)?;
            (ingress.len() == 2).then_some((v4, v6))
        },
    );
    ingress.unwrap_or_else(|e| fail(view, e))
}

/// The fabric (`setup`) with Service `web` (dual-stack, `policy`) and its EndpointSlices (`slices`: a
/// family and the nodes with an endpoint), and web's addresses once assigned.
fn start_web(
    test: &str,
    name: &str,
    setup: Setup,
    policy: &str,
    slices: &[(Family, &[&str])],
) -> Option<(Fabric, IpAddr, IpAddr)> {
    let fabric = start(test, name, setup)?;
    fabric
        .write("web.yaml", &dual_stack::service_yaml("web", policy, ""))
        .unwrap();
    for (family, nodes) in slices {
        write_endpoints(&fabric, *family, nodes);
    }
    let (v4, v6) = assigned(&fabric, "web");
    Some((fabric, v4, v6))
}

/// web's EndpointSlice of `family`.
fn write_endpoints(fabric: &Fabric, family: Family, nodes: &[&str]) {
    let file = match family {
        Family::V4 => "web-endpoints.yaml",
        Family::V6 => "web-endpoints-v6.yaml",
    };
    fabric
        .write(file, &Fabric::family_endpoints_yaml("web", family, nodes))
        .unwrap();
}

/// The expectations: each ToR in `tors` routes each address via the `nodes`' addresses of
/// its family.
fn routes(
    view: &FabricView,
    tors: &[&str],
    addresses: &[IpAddr],
    nodes: &[&str],
) -> Vec<RouteExpectation> {
    let mut expectations = Vec::new();
    for tor in tors {
        for address in addresses {
            let family = if address.is_ipv4() {
                Family::V4
            } else {
                Family::V6
            };
            expectations.push(RouteExpectation::new(
                tor,
                &address.to_string(),
                &view.node_addresses(nodes, family),
            ));
        }
    }
    expectations
}

fn wait_routes(
    view: &FabricView,
    expectations: &[RouteExpectation],
    timeout: Duration,
) -> Vec<Duration> {
    view.wait_routes(expectations, timeout)
        .unwrap_or_else(|e| fail(view, e))
}

/// Waits until tor1's BFD sessions with every node, over both families, are Up.
fn wait_bfd_up(view: &FabricView) {
    let mut expected = view.node_addresses(&NODES, Family::V4);
    expected.extend(view.node_addresses(&NODES, Family::V6));
    expected.sort();
    let mut last = Vec::new();
    ironlb_lab::wait_for(
        "tor1: BFD Up with every node over IPv4 and IPv6",
        Duration::from_secs(30),
        || {
            last = dual_stack::bfd_peers_up(view, "tor1").unwrap_or_default();
            (last == expected).then_some(())
        },
    )
    .unwrap_or_else(|e| fail(view, format!("{e} (Up: {last:?})")));
}

fn ping(from: &Namespace, address: IpAddr) -> Result<String, String> {
    let family = if address.is_ipv4() { "-4" } else { "-6" };
    from.exec("ping", &[family, "-c1", "-W2", &address.to_string()])
        .map_err(|e| e.to_string())
}

/// Waits until `node`'s speaker reports web (its ServiceBGPStatus in directory mode: the
/// speaker's status file; `None` when it lists no web) as `done` wants it; fails with the last
/// report.
fn wait_web_status(
    fabric: &Fabric,
    node: &str,
    what: &str,
    done: impl Fn(Option<&ServiceAnnouncement>) -> bool,
) {
    let mut last = None;
    ironlb_lab::wait_for(&format!("{node}: {what}"), Duration::from_secs(10), || {
        let status: SpeakerStatus =
            ironlb_cluster::status::read(&fabric.cluster_dir, &format!("speaker-{node}.yaml"))?;
        let web = status.services.into_iter().find(|s| s.name == "web");
        let met = done(web.as_ref());
        last = Some(web);
        met.then_some(())
    })
    .unwrap_or_else(|e| fail(fabric, format!("{e}: {last:?}")));
}

/// Traffic through the routes to `node`: nothing answers the first ToR's ping to each address
/// before it is on the node (kube-proxy's part, played by its loopback), and every ToR's is
/// answered once it is.
fn answered_through_node(fabric: &Fabric, tors: &[&str], node: &str, addresses: &[IpAddr]) {
    let namespaces: Vec<(&str, Namespace)> = tors
        .iter()
        .map(|tor| (*tor, fabric.tor(tor).frr.namespace().clone()))
        .collect();
    let view = fabric
        .nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap_or_else(|| panic!("no node {node}"));
    let on_node = Namespace::existing(&view.namespace);
    for address in addresses {
        if let Ok(answer) = ping(&namespaces[0].1, *address) {
            fail(
                fabric,
                format!("{address} answered before any node had it: {answer}"),
            );
        }
        let length = if address.is_ipv4() { 32 } else { 128 };
        on_node
            .ip(&["addr", "add", &format!("{address}/{length}"), "dev", "lo"])
            .unwrap();
        for (tor, namespace) in &namespaces {
            let answer = ironlb_lab::wait_for(
                &format!("{address} answers {tor}'s ping"),
                Duration::from_secs(10),
                || ping(namespace, *address).ok(),
            )
            .unwrap_or_else(|e| fail(fabric, e));
            assert!(answer.contains("1 received"), "{answer}");
            println!(
                "{tor} → {address} via {node}: {}",
                answer.lines().nth(1).unwrap_or_default()
            );
        }
    }
}

#[test]
fn a_dual_stack_service_is_routed_by_both_tors_in_both_families() {
    let test = "a_dual_stack_service_is_routed_by_both_tors_in_both_families";
    let created = Instant::now();
    // tor1 static neighbours, tor2 bgp listen range.
    let Some((fabric, v4, v6)) = start_web(
        test,
        "ds-routes",
        setup(Peering::Static, Peering::ListenRange),
        "Cluster",
        &[(Family::V4, &["node-21"])],
    ) else {
        return;
    };
    assert!(
        v4.to_string().starts_with("203.0.113.") && v6.to_string().starts_with("2001:db8:5::"),
        "from the pool's two ranges: {v4} {v6}"
    );
    // The /32 via the nodes' IPv4 addresses, the /128 via their IPv6 ones, on both ToRs: each
    // family went to its own peers only (an IPv6 route over an IPv4 session would carry no
    // IPv6 next hop, and the other way round).
    let times = wait_routes(
        &fabric,
        &routes(&fabric, &["tor1", "tor2"], &[v4, v6], &NODES),
        Duration::from_secs(60),
    );
    println!(
        "web {v4} {v6}: in both ToRs' FIBs {times:?} after the fabric started ({:?})",
        created.elapsed()
    );
    // BFD over IPv6 as over IPv4, on tor1 (static neighbours).
    wait_bfd_up(&fabric);

    // ServiceBGPStatus (directory mode: each speaker's status file) names the peers of both
    // families, each sent its own family's prefix.
    let expected_prefixes = vec![format!("{v4}/32"), format!("{v6}/128")];
    for node in NODES {
        wait_web_status(&fabric, node, "web sent to all four peers", |web| {
            web.is_some_and(|web| {
                web.prefix_texts() == expected_prefixes
                    && web.peer_names() == ["tor1", "tor1-v6", "tor2", "tor2-v6"]
            })
        });
    }

    // aggregationLengthV6: the ToRs hold the covering /124, not the /128.
    fabric
        .write(
            "aggregated.yaml",
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: agg-pool\n  namespace: metallb-system\nspec:\n  addresses:\n  - 2001:db8:6::/120\n  autoAssign: false\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: agg-adv\n  namespace: metallb-system\nspec:\n  ipAddressPools:\n  - agg-pool\n  aggregationLengthV6: 124\n",
        )
        .unwrap();
    fabric
        .write(
            "agg.yaml",
            &dual_stack::service_yaml(
                "agg",
                "Cluster",
                "    metallb.io/loadBalancerIPs: \"2001:db8:6::27\"\n",
            )
            .replace(
                "ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv4, IPv6]",
                "ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv6]",
            ),
        )
        .unwrap();
    fabric
        .write(
            "agg-endpoints.yaml",
            &Fabric::endpoints_yaml("agg", &["node-23"]),
        )
        .unwrap();
    let address: Ipv6Addr = "2001:db8:6::27".parse().unwrap();
    let covering = Ipv6Addr::from(u128::from(address) & !0xf);
    assert_eq!(covering.to_string(), "2001:db8:6::20");
    let aggregate = format!("{covering}/124");
    let all6 = fabric.node_addresses(&NODES, Family::V6);
    wait_routes(
        &fabric,
        &[
            RouteExpectation::new("tor1", &aggregate, &all6),
            RouteExpectation::new("tor2", &aggregate, &all6),
        ],
        Duration::from_secs(30),
    );
    for tor in ["tor1", "tor2"] {
        let host = fabric.route_next_hops(tor, &address.to_string());
        assert!(host.is_empty(), "{tor} has the /128 too: {host:?}");
        let bgp = fabric
            .vtysh(tor, "show bgp ipv6 unicast 2001:db8:6::27/128 json")
            .unwrap_or_default();
        assert!(
            !bgp.contains("\"prefix\":\"2001:db8:6::27/128\""),
            "{tor} was sent the /128: {bgp}"
        );
    }
}

#[test]
fn an_ipv6_local_service_follows_its_endpoints_and_its_next_hop_forwards() {
    let test = "an_ipv6_local_service_follows_its_endpoints_and_its_next_hop_forwards";
    // tor1 bgp listen range (BFD on dynamic neighbours of both families), tor2 static. Only
    // an IPv6 EndpointSlice, its one endpoint on node-22: node-22 alone announces, both
    // families (endpoints are the Service's, whatever the slice's family).
    let Some((fabric, v4, v6)) = start_web(
        test,
        "ds-local",
        setup(Peering::ListenRange, Peering::Static),
        "Local",
        &[(Family::V6, &["node-22"])],
    ) else {
        return;
    };
    let both = ["tor1", "tor2"];
    wait_routes(
        &fabric,
        &routes(&fabric, &both, &[v4, v6], &["node-22"]),
        Duration::from_secs(60),
    );
    wait_bfd_up(&fabric);

    // Traffic: tor1 forwards to the one next hop, node-22.
    answered_through_node(&fabric, &["tor1"], "node-22", &[v6, v4]);

    // Endpoints move (both slices, as Kubernetes keeps them): the next hops follow, in both
    // families, on both ToRs; none left: withdrawn.
    for nodes in [&["node-21", "node-23"][..], &[][..], &["node-23"][..]] {
        write_endpoints(&fabric, Family::V4, nodes);
        write_endpoints(&fabric, Family::V6, nodes);
        let times = wait_routes(
            &fabric,
            &routes(&fabric, &both, &[v4, v6], nodes),
            Duration::from_secs(30),
        );
        println!("endpoints on {nodes:?}: next hops followed in {times:?}");
    }
    // The speakers say why node-22 no longer announces.
    let path = fabric.cluster_dir.join(".ironlb/speaker-node-22.yaml");
    ironlb_lab::wait_for("node-22's status", Duration::from_secs(5), || {
        std::fs::read_to_string(&path)
            .ok()?
            .contains("noLocalEndpoints")
            .then_some(())
    })
    .unwrap_or_else(|e| fail(&fabric, e));
}

#[test]
fn bfd_over_ipv6_drops_a_lost_node_within_a_second_and_takes_it_back() {
    let test = "bfd_over_ipv6_drops_a_lost_node_within_a_second_and_takes_it_back";
    let Some((fabric, v4, v6)) = start_web(
        test,
        "ds-bfd",
        setup(Peering::Static, Peering::ListenRange),
        "Cluster",
        &[(Family::V4, &["node-21"])],
    ) else {
        return;
    };
    let addresses = [v4, v6];
    wait_routes(
        &fabric,
        &routes(&fabric, &["tor1", "tor2"], &addresses, &NODES),
        Duration::from_secs(60),
    );
    type Fault = fn(&FabricView, &str) -> ironlb_lab::Result<()>;
    let faults: [(&str, Fault, Fault); 2] = [
        (
            "isolated at the switch",
            FabricView::isolate,
            FabricView::rejoin,
        ),
        (
            "cut off (its packets to the ToRs dropped)",
            FabricView::cut,
            FabricView::restore,
        ),
    ];
    for (what, fault, repair) in faults {
        wait_bfd_up(&fabric);
        // Let BFD settle at its 300 ms rate after coming Up (FRR starts at 1 s).
        std::thread::sleep(Duration::from_secs(2));
        let start = Instant::now();
        fault(&fabric, "node-22").unwrap();
        let times = wait_routes(
            &fabric,
            &routes(&fabric, &["tor1"], &addresses, &["node-21", "node-23"]),
            Duration::from_secs(10),
        );
        println!(
            "node-22 {what}: tor1 dropped its IPv4 next hop in {:?}, its IPv6 one in {:?}",
            times[0], times[1]
        );
        // BFD 300 ms × 3: detected in at most 0.9 s, plus FRR's own processing.
        for (address, time) in addresses.iter().zip(&times) {
            if *time > Duration::from_millis(2000) {
                fail(
                    &fabric,
                    format!("{what}: tor1 took {time:?} to drop node-22 for {address}"),
                );
            }
        }
        // tor2 has no BFD: it still holds node-22 (hold time 90 s).
        for address in addresses {
            let family = if address.is_ipv4() {
                Family::V4
            } else {
                Family::V6
            };
            assert_eq!(
                fabric.route_next_hops("tor2", &address.to_string()),
                fabric.node_addresses(&NODES, family),
                "tor2 without BFD keeps node-22 for {address} ({:?} after the fault)",
                start.elapsed()
            );
        }
        repair(&fabric, "node-22").unwrap();
        let back = Instant::now();
        let times = wait_routes(
            &fabric,
            &routes(&fabric, &["tor1"], &addresses, &NODES),
            Duration::from_secs(30),
        );
        println!(
            "node-22 back: tor1 routes via it again in {times:?} ({:?})",
            back.elapsed()
        );
    }
    wait_bfd_up(&fabric);
}

/// BGPPeers with `dualStackAddressFamily` (v1beta2): one session per node and ToR, carrying
/// both families, over IPv4 to tor1 and over IPv6 to tor2.
const MULTIPROTOCOL_PEERS: &str = "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: tor1
  namespace: metallb-system
spec:
  myASN: 65100
  peerASN: 65000
  peerAddress: 10.0.0.1
  dualStackAddressFamily: true
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: tor2-v6
  namespace: metallb-system
spec:
  myASN: 65100
  peerASN: 65000
  peerAddress: \"2001:db8:ffff::2\"
  dualStackAddressFamily: true
";

/// The route a ToR's bgpd holds for `prefix` (`show bgp ipv4|ipv6 unicast PREFIX json`): the
/// peer it came from and its next hop.
fn learned_from(view: &FabricView, tor: &str, prefix: &str) -> (String, String) {
    let family = if prefix.contains(':') { "ipv6" } else { "ipv4" };
    let text = view
        .vtysh(tor, &format!("show bgp {family} unicast {prefix} json"))
        .unwrap_or_else(|e| fail(view, e));
    let route: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| fail(view, format!("{e}: {text}")));
    let path = &route["paths"][0];
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
    (
        text(&path["peer"]["peerId"]),
        text(&path["nexthops"][0]["ip"]),
    )
}

#[test]
fn dual_stack_address_family_carries_both_families_over_one_session() {
    let test = "dual_stack_address_family_carries_both_families_over_one_session";
    // MetalLB's e2e "should advertise both ipv4 and ipv6 addresses with DUALSTACK via ipv4 /
    // via ipv6". Each ToR's peer groups active in both families (multiprotocol), no BFD;
    // tor1 static neighbours, tor2 bgp listen range. Local policy, one endpoint on node-22:
    // node-22 alone announces, so the next hops are its addresses.
    let (mut spec, _) = setup(Peering::Static, Peering::ListenRange);
    for tor in &mut spec.tors {
        tor.multiprotocol = true;
        tor.bfd = false;
    }
    let Some((fabric, v4, v6)) = start_web(
        test,
        "ds-mp",
        (spec, MULTIPROTOCOL_PEERS),
        "Local",
        &[(Family::V4, &["node-22"]), (Family::V6, &["node-22"])],
    ) else {
        return;
    };
    let both = ["tor1", "tor2"];
    let times = wait_routes(
        &fabric,
        &routes(&fabric, &both, &[v4, v6], &["node-22"]),
        Duration::from_secs(60),
    );
    println!("web {v4} {v6}: in both ToRs' FIBs via node-22 in {times:?}");
    // Each route came over the one session of the other family where that is the only one:
    // tor1's /128 from node-22's IPv4 session with its IPv6 next hop, tor2's /32 from its
    // IPv6 session with its IPv4 next hop.
    for (tor, prefix, session, next_hop) in [
        (
            "tor1",
            format!("{v6}/128"),
            "10.0.0.22",
            "2001:db8:ffff::22",
        ),
        ("tor1", format!("{v4}/32"), "10.0.0.22", "10.0.0.22"),
        ("tor2", format!("{v4}/32"), "2001:db8:ffff::22", "10.0.0.22"),
        (
            "tor2",
            format!("{v6}/128"),
            "2001:db8:ffff::22",
            "2001:db8:ffff::22",
        ),
    ] {
        assert_eq!(
            learned_from(&fabric, tor, &prefix),
            (session.to_string(), next_hop.to_string()),
            "{tor}: {prefix}"
        );
    }
    // Traffic through those routes, from both ToRs, in both families.
    answered_through_node(&fabric, &both, "node-22", &[v6, v4]);

    // ServiceBGPStatus: node-22 sent both prefixes to each of its two peers; the other nodes,
    // without an endpoint, to none.
    let expected_prefixes = vec![format!("{v4}/32"), format!("{v6}/128")];
    for node in NODES {
        wait_web_status(&fabric, node, "web's ServiceBGPStatus", |web| match node {
            "node-22" => web.is_some_and(|web| {
                web.prefix_texts() == expected_prefixes && web.peer_names() == ["tor1", "tor2-v6"]
            }),
            _ => web.is_none_or(|web| web.peers.is_empty()),
        });
    }
}
