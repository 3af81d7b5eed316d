//! IPv6 and dual stack end to end: the seed's fabric with 2001:db8:ffff::/64 on the segment as
//! well, real FRR ToRs peering with every node over IPv4 and over IPv6, and IronLB driven only
//! by metallb.io objects in a cluster directory (`ironlb_lab::dual_stack`). Each test builds
//! its own fabric; tor1 runs BFD on both families, tor2 none, and the tests use both ToR
//! peering styles (static neighbours, `bgp listen range`).

use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlb_cluster::status::{ControllerStatus, SpeakerStatus};
use ironlb_lab::dual_stack;
use ironlb_lab::fabric::{FabricView, Family, Peering, RouteExpectation};
use ironlb_lab::{Fabric, Namespace};

const NODES: [&str; 3] = ["node-21", "node-22", "node-23"];

fn ironlb() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ironlb"))
}

fn start(test: &str, name: &str, tor1: Peering, tor2: Peering) -> Option<Fabric> {
    if !ironlb_lab::require(
        test,
        &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "bridge", "ping"],
    ) {
        return None;
    }
    Some(
        dual_stack::start(name, ironlb(), tor1, tor2)
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

/// The fabric with Service `web` (dual-stack, `policy`) and its EndpointSlices (`slices`: a
/// family and the nodes with an endpoint), and web's addresses once assigned.
fn start_web(
    test: &str,
    name: &str,
    (tor1, tor2): (Peering, Peering),
    policy: &str,
    slices: &[(Family, &[&str])],
) -> Option<(Fabric, IpAddr, IpAddr)> {
    let fabric = start(test, name, tor1, tor2)?;
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

#[test]
fn a_dual_stack_service_is_routed_by_both_tors_in_both_families() {
    let test = "a_dual_stack_service_is_routed_by_both_tors_in_both_families";
    let created = Instant::now();
    // tor1 static neighbours, tor2 bgp listen range.
    let Some((fabric, v4, v6)) = start_web(
        test,
        "ds-routes",
        (Peering::Static, Peering::ListenRange),
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
        let mut last = None;
        ironlb_lab::wait_for(
            &format!("{node}: web sent to all four peers"),
            Duration::from_secs(10),
            || {
                let status: SpeakerStatus = ironlb_cluster::status::read(
                    &fabric.cluster_dir,
                    &format!("speaker-{node}.yaml"),
                )?;
                let web = status.services.into_iter().find(|s| s.name == "web")?;
                let done = web.prefixes == expected_prefixes
                    && web.peers == ["tor1", "tor1-v6", "tor2", "tor2-v6"];
                last = Some(web);
                done.then_some(())
            },
        )
        .unwrap_or_else(|e| fail(&fabric, format!("{e}: {last:?}")));
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
        (Peering::ListenRange, Peering::Static),
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

    // Traffic: tor1 forwards to the one next hop, node-22. Nothing answers before the address
    // is on node-22 (kube-proxy's part, played by its loopback), and it answers once it is.
    let tor1 = fabric.tor("tor1").frr.namespace().clone();
    let node22 = Namespace::existing(&fabric.nodes[1].namespace);
    assert_eq!(fabric.nodes[1].name, "node-22");
    for address in [v6, v4] {
        if let Ok(answer) = ping(&tor1, address) {
            fail(
                &fabric,
                format!("{address} answered before any node had it: {answer}"),
            );
        }
        let host = if address.is_ipv4() {
            format!("{address}/32")
        } else {
            format!("{address}/128")
        };
        node22.ip(&["addr", "add", &host, "dev", "lo"]).unwrap();
        let answer = ironlb_lab::wait_for(
            &format!("{address} answers tor1's ping"),
            Duration::from_secs(10),
            || ping(&tor1, address).ok(),
        )
        .unwrap_or_else(|e| fail(&fabric, e));
        assert!(answer.contains("1 received"), "{answer}");
        println!(
            "tor1 → {address} via node-22: {}",
            answer.lines().nth(1).unwrap_or_default()
        );
    }

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
        (Peering::Static, Peering::ListenRange),
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
