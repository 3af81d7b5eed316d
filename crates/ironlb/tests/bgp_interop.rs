//! `ironlb bgp announce` against real routers in network namespaces: FRR, BIRD 2, GoBGP and
//! ExaBGP each see the session established and the prefixes with the attributes asked for.
//!
//! Topology of every test: namespace `node` (10.0.0.2, 2001:db8:ffff::2) runs IronLB, namespace
//! `tor` (10.0.0.1, 2001:db8:ffff::1) runs the router; one veth between them.

use std::time::Duration;

use ironlb_lab::{Frr, FrrDaemons, Lab, Namespace, Process, wait_for};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");

struct Topology {
    lab: Lab,
    node: Namespace,
    tor: Namespace,
}

fn topology(name: &str) -> Topology {
    let (lab, node, tor) = ironlb_lab::node_and_tor(
        name,
        &["10.0.0.2/24", "2001:db8:ffff::2/64"],
        &["10.0.0.1/24", "2001:db8:ffff::1/64"],
    )
    .expect("lab");
    Topology { lab, node, tor }
}

/// `ironlb bgp announce` arguments for the usual session: AS 65100 at 10.0.0.2 to the ToR,
/// AS 65000 at 10.0.0.1; then `extra`.
fn tor1<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--local-asn",
        "65100",
        "--peer",
        "10.0.0.1",
        "--peer-asn",
        "65000",
        "--source",
        "10.0.0.2",
    ];
    args.extend_from_slice(extra);
    args
}

fn announce(topology: &mut Topology, log: &str, args: &[&str]) -> Process {
    let mut full = vec!["bgp", "announce"];
    full.extend_from_slice(args);
    topology
        .lab
        .spawn(&topology.node, log, IRONLB, &full)
        .expect("start ironlb")
}

fn log_text(lab: &Lab, log: &str) -> String {
    std::fs::read_to_string(lab.directory().join(format!("{log}.log"))).unwrap_or_default()
}

fn frr(topology: &mut Topology, config: &str) -> Frr {
    Frr::start(
        &mut topology.lab,
        &topology.tor.clone(),
        "tor",
        config,
        FrrDaemons { bfd: false },
    )
    .expect("FRR starts")
}

const FRR_CONFIG: &str = "
router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor 10.0.0.2 remote-as 65100
 neighbor 10.0.0.2 timers 3 9
 neighbor 2001:db8:ffff::2 remote-as 65100
 address-family ipv6 unicast
  neighbor 10.0.0.2 activate
  neighbor 2001:db8:ffff::2 activate
 exit-address-family
";

fn frr_route(frr: &Frr, family: &str, prefix: &str) -> Option<serde_json::Value> {
    let route = frr
        .json(&format!("show bgp {family} unicast {prefix} json"))
        .ok()?;
    route["paths"].as_array().filter(|p| !p.is_empty())?;
    Some(route)
}

#[test]
fn frr_receives_ipv4_and_ipv6_prefixes_with_communities_and_installs_them() {
    if !ironlb_lab::require(
        "frr_receives_ipv4_and_ipv6_prefixes_with_communities_and_installs_them",
        &["/usr/lib/frr/bgpd"],
    ) {
        return;
    }
    let mut topology = topology("bgp-frr");
    let frr = frr(&mut topology, FRR_CONFIG);
    let _speaker = announce(
        &mut topology,
        "ironlb",
        &[
            "--local-asn",
            "65100",
            "--peer",
            "10.0.0.1",
            "--peer-asn",
            "65000",
            "--router-id",
            "10.0.0.2",
            "--hold-time",
            "9",
            "--prefix",
            "203.0.113.5/32",
            "--prefix",
            "203.0.113.6/32",
            "--prefix",
            "2001:db8::5/128",
            "--community",
            "65000:100",
            "--large-community",
            "65000:1:2",
            "--local-pref",
            "300",
        ],
    );
    let route = wait_for(
        "FRR to learn 203.0.113.5/32",
        Duration::from_secs(20),
        || frr_route(&frr, "ipv4", "203.0.113.5/32"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb")));
    let path = &route["paths"][0];
    assert_eq!(path["aspath"]["string"], "65100", "{route}");
    assert_eq!(path["nexthops"][0]["ip"], "10.0.0.2", "{route}");
    assert_eq!(path["community"]["string"], "65000:100", "{route}");
    assert_eq!(path["largeCommunity"]["string"], "65000:1:2", "{route}");
    // LOCAL_PREF is not sent to an external peer: FRR shows its default.
    assert!(path.get("locPrf").is_none_or(|l| l == 100), "{route}");
    assert!(frr_route(&frr, "ipv4", "203.0.113.6/32").is_some());
    // IPv6 over the IPv4 session (multiprotocol, BGPPeer dualStackAddressFamily), next hop
    // the node's global IPv6 address on the session's interface, as FRR itself sends it.
    let v6 = wait_for(
        "FRR to learn 2001:db8::5/128",
        Duration::from_secs(10),
        || frr_route(&frr, "ipv6", "2001:db8::5/128"),
    )
    .expect("IPv6 route");
    assert_eq!(v6["paths"][0]["aspath"]["string"], "65100", "{v6}");
    assert_eq!(
        v6["paths"][0]["nexthops"][0]["ip"], "2001:db8:ffff::2",
        "{v6}"
    );
    // zebra installs both routes in the ToR's kernel, and they forward: the node holds the
    // addresses (as kube-proxy would) and answers the ToR's pings through them.
    for (family, address, via) in [
        ("-4", "203.0.113.5", "via 10.0.0.2"),
        ("-6", "2001:db8::5", "via 2001:db8:ffff::2"),
    ] {
        wait_for(
            &format!("kernel route {address}"),
            Duration::from_secs(10),
            || {
                let routes = topology.tor.ip(&[family, "route", "show", address]).ok()?;
                routes.contains(via).then_some(())
            },
        )
        .expect("FRR installs the route");
        topology
            .node
            .ip(&["addr", "add", address, "dev", "lo"])
            .expect("address on the node");
        topology
            .tor
            .exec("ping", &[family, "-c", "1", "-W", "2", address])
            .unwrap_or_else(|e| panic!("{address} does not answer through its route: {e}"));
    }
    let log = log_text(&topology.lab, "ironlb");
    assert!(log.contains("BGP session established"), "{log}");
    assert!(log.contains("peer_asn=65000"), "{log}");
}

#[test]
fn ctrl_c_sends_cease_and_frr_withdraws_at_once() {
    if !ironlb_lab::require(
        "ctrl_c_sends_cease_and_frr_withdraws_at_once",
        &["/usr/lib/frr/bgpd"],
    ) {
        return;
    }
    let mut topology = topology("bgp-cease");
    let frr = frr(&mut topology, FRR_CONFIG);
    let speaker = announce(
        &mut topology,
        "ironlb",
        &tor1(&["--prefix", "203.0.113.5/32"]),
    );
    wait_for("FRR to learn the route", Duration::from_secs(20), || {
        frr_route(&frr, "ipv4", "203.0.113.5/32")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb")));
    speaker.signal("INT");
    wait_for("ironlb to exit", Duration::from_secs(5), || {
        (!speaker.is_running()).then_some(())
    })
    .expect("ironlb exits on Ctrl-C");
    wait_for("FRR to drop the route", Duration::from_secs(2), || {
        frr_route(&frr, "ipv4", "203.0.113.5/32")
            .is_none()
            .then_some(())
    })
    .expect("route withdrawn within 2 s, not at hold time");
    let neighbor = frr
        .json("show bgp neighbors 10.0.0.2 json")
        .expect("neighbor");
    let text = neighbor.to_string();
    assert!(
        text.contains("Administrative Shutdown") || text.contains("Admin. shutdown"),
        "FRR saw no Cease/Administrative Shutdown: {text}"
    );
}

#[test]
fn tcp_md5_session_comes_up_only_with_the_right_password() {
    if !ironlb_lab::require(
        "tcp_md5_session_comes_up_only_with_the_right_password",
        &["/usr/lib/frr/bgpd"],
    ) {
        return;
    }
    let mut topology = topology("bgp-md5");
    let frr = frr(
        &mut topology,
        "
router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor 10.0.0.2 remote-as 65100
 neighbor 10.0.0.2 password s3cret
",
    );
    let args = |password: &'static str| {
        vec![
            "--local-asn",
            "65100",
            "--peer",
            "10.0.0.1",
            "--peer-asn",
            "65000",
            "--source",
            "10.0.0.2",
            "--connect-time",
            "2",
            "--md5",
            password,
            "--prefix",
            "203.0.113.7/32",
        ]
    };
    let wrong = announce(&mut topology, "ironlb-wrong", &args("wrong"));
    std::thread::sleep(Duration::from_secs(4));
    assert!(frr_route(&frr, "ipv4", "203.0.113.7/32").is_none());
    topology.lab.stop(&wrong);
    let log = log_text(&topology.lab, "ironlb-wrong");
    assert!(!log.contains("BGP session established"), "{log}");
    let _right = announce(&mut topology, "ironlb-right", &args("s3cret"));
    wait_for("FRR to learn the route", Duration::from_secs(20), || {
        frr_route(&frr, "ipv4", "203.0.113.7/32")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb-right")));
}

#[test]
fn ibgp_to_frr_carries_local_pref_and_ipv6_session_carries_both_families() {
    if !ironlb_lab::require(
        "ibgp_to_frr_carries_local_pref_and_ipv6_session_carries_both_families",
        &["/usr/lib/frr/bgpd"],
    ) {
        return;
    }
    let mut topology = topology("bgp-ibgp");
    let frr = frr(
        &mut topology,
        "
router bgp 65000
 bgp router-id 10.0.0.1
 neighbor 2001:db8:ffff::2 remote-as 65000
 address-family ipv4 unicast
  neighbor 2001:db8:ffff::2 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor 2001:db8:ffff::2 activate
 exit-address-family
",
    );
    let _speaker = announce(
        &mut topology,
        "ironlb",
        &[
            "--local-asn",
            "65000",
            "--peer",
            "2001:db8:ffff::1",
            "--peer-asn",
            "65000",
            // No --router-id and no --source: the router ID is the node's IPv4 address (an
            // IPv6 peer gives none), the session comes from the address the kernel picks.
            "--prefix",
            "2001:db8::5/128",
            // IPv4 over the IPv6 session (dualStackAddressFamily): next hop the node's IPv4
            // address on the session's interface.
            "--prefix",
            "203.0.113.7/32",
            "--local-pref",
            "250",
        ],
    );
    let route = wait_for(
        "FRR to learn 2001:db8::5/128",
        Duration::from_secs(20),
        || frr_route(&frr, "ipv6", "2001:db8::5/128"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb")));
    let path = &route["paths"][0];
    assert_eq!(path["locPrf"], 250, "{route}");
    assert_eq!(path["aspath"]["string"], "Local", "{route}");
    assert_eq!(path["nexthops"][0]["ip"], "2001:db8:ffff::2", "{route}");
    let neighbor = frr
        .json("show bgp neighbors 2001:db8:ffff::2 json")
        .expect("FRR shows the neighbour");
    assert_eq!(
        neighbor["2001:db8:ffff::2"]["remoteRouterId"], "10.0.0.2",
        "{neighbor}"
    );
    wait_for("kernel route 2001:db8::5", Duration::from_secs(10), || {
        let routes = topology
            .tor
            .ip(&["-6", "route", "show", "2001:db8::5"])
            .ok()?;
        routes.contains("via 2001:db8:ffff::2").then_some(())
    })
    .expect("FRR installs the IPv6 route");
    let v4 = wait_for(
        "FRR to learn 203.0.113.7/32",
        Duration::from_secs(10),
        || frr_route(&frr, "ipv4", "203.0.113.7/32"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb")));
    assert_eq!(v4["paths"][0]["nexthops"][0]["ip"], "10.0.0.2", "{v4}");
    wait_for("kernel route 203.0.113.7", Duration::from_secs(10), || {
        let routes = topology.tor.ip(&["route", "show", "203.0.113.7"]).ok()?;
        routes.contains("via 10.0.0.2").then_some(())
    })
    .expect("FRR installs the IPv4 route");
    topology
        .node
        .ip(&["addr", "add", "203.0.113.7/32", "dev", "lo"])
        .expect("address on the node");
    topology
        .tor
        .exec("ping", &["-4", "-c", "1", "-W", "2", "203.0.113.7"])
        .expect("203.0.113.7 answers through its route");
}

#[test]
fn bird_receives_ipv4_and_ipv6_prefixes_with_communities() {
    if !ironlb_lab::require(
        "bird_receives_ipv4_and_ipv6_prefixes_with_communities",
        &["bird", "birdc"],
    ) {
        return;
    }
    let mut topology = topology("bgp-bird");
    let tor = topology.tor.clone();
    // One session per family, as dual-stack peers are configured (a BGPPeer per address).
    let bird = ironlb_lab::Bird::start(
        &mut topology.lab,
        &tor,
        "tor",
        "
router id 10.0.0.1;
protocol device {}
protocol bgp node4 {
  local 10.0.0.1 as 65000;
  neighbor 10.0.0.2 as 65100;
  passive on;
  hold time 9;
  ipv4 { import all; export none; };
}
protocol bgp node6 {
  local 2001:db8:ffff::1 as 65000;
  neighbor 2001:db8:ffff::2 as 65100;
  passive on;
  hold time 9;
  ipv6 { import all; export none; };
}
",
    )
    .expect("BIRD starts");
    for (log, peer, source, prefix) in [
        ("ironlb4", "10.0.0.1", "10.0.0.2", "203.0.113.5/32"),
        (
            "ironlb6",
            "2001:db8:ffff::1",
            "2001:db8:ffff::2",
            "2001:db8::5/128",
        ),
    ] {
        announce(
            &mut topology,
            log,
            &[
                "--local-asn",
                "65100",
                "--peer",
                peer,
                "--peer-asn",
                "65000",
                "--router-id",
                "10.0.0.2",
                "--source",
                source,
                "--prefix",
                prefix,
                "--community",
                "65000:100",
                "--large-community",
                "65000:1:2",
            ],
        );
    }
    let routes = wait_for(
        "BIRD to learn both prefixes",
        Duration::from_secs(20),
        || {
            let text = bird.birdc("show route all").ok()?;
            (text.contains("203.0.113.5/32") && text.contains("2001:db8::5/128")).then_some(text)
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\n{}\n{}\n{}\n{}",
            log_text(&topology.lab, "ironlb4"),
            log_text(&topology.lab, "ironlb6"),
            bird.birdc("show route all").unwrap_or_default(),
            bird.birdc("show protocols all").unwrap_or_default()
        )
    });
    assert!(routes.contains("BGP.as_path: 65100"), "{routes}");
    assert!(routes.contains("BGP.next_hop: 10.0.0.2"), "{routes}");
    assert!(
        routes.contains("BGP.next_hop: 2001:db8:ffff::2"),
        "{routes}"
    );
    assert!(routes.contains("(65000,100)"), "{routes}");
    assert!(routes.contains("(65000, 1, 2)"), "{routes}");
    let protocols = bird.birdc("show protocols").expect("birdc");
    assert_eq!(protocols.matches("Established").count(), 2, "{protocols}");
}

#[test]
fn gobgp_receives_prefixes_with_communities() {
    if !ironlb_lab::require(
        "gobgp_receives_prefixes_with_communities",
        &["gobgpd", "gobgp"],
    ) {
        return;
    }
    let mut topology = topology("bgp-gobgp");
    let tor = topology.tor.clone();
    let gobgp = ironlb_lab::Gobgp::start(
        &mut topology.lab,
        &tor,
        "tor",
        r#"
[global.config]
  as = 65000
  router-id = "10.0.0.1"
  port = 179
[[neighbors]]
  [neighbors.config]
    neighbor-address = "10.0.0.2"
    peer-as = 4200000001
  [neighbors.timers.config]
    hold-time = 9
    keepalive-interval = 3
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"#,
    )
    .expect("gobgpd starts");
    let _speaker = announce(
        &mut topology,
        "ironlb",
        &[
            "--local-asn",
            "4200000001",
            "--peer",
            "10.0.0.1",
            "--peer-asn",
            "65000",
            "--source",
            "10.0.0.2",
            "--prefix",
            "203.0.113.5/32",
            "--prefix",
            "2001:db8::5/128",
            "--community",
            "65000:100",
            "--large-community",
            "65000:1:2",
        ],
    );
    let _ = gobgp;
    let rib = wait_for(
        "GoBGP to learn 203.0.113.5/32",
        Duration::from_secs(20),
        || {
            let text = gobgp
                .cli(&["global", "rib", "-a", "ipv4", "203.0.113.5/32", "-j"])
                .ok()?;
            text.contains("203.0.113.5/32").then_some(text)
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb")));
    // A four-octet AS number arrives whole.
    assert!(rib.contains("4200000001"), "{rib}");
    assert!(
        rib.contains("4259840100"),
        "community 65000:100 as a number: {rib}"
    );
    assert!(
        rib.contains("\"ASN\":65000,\"LocalData1\":1,\"LocalData2\":2"),
        "{rib}"
    );
    let v6 = wait_for(
        "GoBGP to learn 2001:db8::5/128",
        Duration::from_secs(10),
        || {
            let text = gobgp.cli(&["global", "rib", "-a", "ipv6"]).ok()?;
            text.contains("2001:db8::5/128").then_some(text)
        },
    )
    .expect("IPv6 route");
    assert!(v6.contains("4200000001"), "{v6}");
}

#[test]
fn exabgp_receives_prefixes_and_end_of_rib() {
    if !ironlb_lab::require("exabgp_receives_prefixes_and_end_of_rib", &["exabgp"]) {
        return;
    }
    let mut topology = topology("bgp-exabgp");
    let tor = topology.tor.clone();
    let exabgp = ironlb_lab::Exabgp::start(
        &mut topology.lab,
        &tor,
        "tor",
        "
neighbor 10.0.0.2 {
  router-id 10.0.0.1;
  local-address 10.0.0.1;
  local-as 65000;
  peer-as 65100;
  hold-time 9;
  passive;
  family { ipv4 unicast; ipv6 unicast; }
  capability { route-refresh; graceful-restart 120; }
  api { processes [ log ]; receive { parsed; update; } }
}
",
    )
    .expect("exabgp starts");
    let _speaker = announce(
        &mut topology,
        "ironlb",
        &tor1(&[
            "--graceful-restart",
            "120",
            "--prefix",
            "203.0.113.5/32",
            "--prefix",
            "2001:db8::5/128",
            "--community",
            "65000:100",
        ]),
    );
    let messages = wait_for(
        "ExaBGP to receive both End-of-RIBs",
        Duration::from_secs(30),
        || {
            let received = exabgp.received();
            let text: Vec<String> = received.iter().map(ToString::to_string).collect();
            let eors = text.iter().filter(|m| m.contains("\"eor\"")).count();
            (eors >= 2).then_some(text)
        },
    )
    .unwrap_or_else(|e| {
        panic!(
            "{e}\nironlb:\n{}\nexabgp:\n{}",
            log_text(&topology.lab, "ironlb"),
            log_text(&topology.lab, "tor-exabgp")
        )
    });
    let all = messages.join("\n");
    assert!(all.contains("203.0.113.5/32"), "{all}");
    assert!(all.contains("2001:db8::5/128"), "{all}");
    assert!(all.contains("\"community\":[[65000,100]]"), "{all}");
    assert!(all.contains("\"as-path\":[65100]"), "{all}");
}

fn frr_has(frr: &Frr, prefix: &str) -> bool {
    frr_route(frr, "ipv4", prefix).is_some()
}

#[test]
fn withdraws_remove_routes_from_frr_without_dropping_the_session() {
    if !ironlb_lab::require(
        "withdraws_remove_routes_from_frr_without_dropping_the_session",
        &["/usr/lib/frr/bgpd"],
    ) {
        return;
    }
    let mut topology = topology("bgp-withdraw");
    let frr = frr(&mut topology, FRR_CONFIG);
    let file = topology.lab.directory().join("prefixes.txt");
    std::fs::write(&file, "203.0.113.5/32\n203.0.113.6/32\n2001:db8::5/128\n").unwrap();
    let file_text = file.display().to_string();
    let speaker = announce(
        &mut topology,
        "ironlb",
        &tor1(&["--prefix-file", &file_text]),
    );
    wait_for("FRR to learn both routes", Duration::from_secs(20), || {
        (frr_has(&frr, "203.0.113.5/32") && frr_has(&frr, "203.0.113.6/32")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb")));
    std::fs::write(&file, "# .5 and the IPv6 route are gone\n203.0.113.6/32\n").unwrap();
    speaker.signal("HUP");
    wait_for("FRR to drop 203.0.113.5/32", Duration::from_secs(5), || {
        (!frr_has(&frr, "203.0.113.5/32")).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb")));
    wait_for(
        "FRR to drop 2001:db8::5/128",
        Duration::from_secs(5),
        || {
            frr_route(&frr, "ipv6", "2001:db8::5/128")
                .is_none()
                .then_some(())
        },
    )
    .expect("IPv6 withdraw");
    assert!(frr_has(&frr, "203.0.113.6/32"));
    // The same session all along.
    let neighbor = frr.json("show bgp neighbors 10.0.0.2 json").unwrap();
    assert_eq!(
        neighbor["10.0.0.2"]["connectionsEstablished"], 1,
        "{neighbor}"
    );
    // A broken file keeps the last good prefixes.
    std::fs::write(&file, "not-a-prefix\n").unwrap();
    speaker.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert!(frr_has(&frr, "203.0.113.6/32"));
    let log = log_text(&topology.lab, "ironlb");
    assert!(log.contains("keeping the current prefixes"), "{log}");
}

#[test]
fn a_router_restart_is_survived() {
    if !ironlb_lab::require("a_router_restart_is_survived", &["/usr/lib/frr/bgpd"]) {
        return;
    }
    let mut topology = topology("bgp-restart");
    let mut frr = frr(&mut topology, FRR_CONFIG);
    let _speaker = announce(
        &mut topology,
        "ironlb",
        &tor1(&["--prefix", "203.0.113.5/32"]),
    );
    wait_for("FRR to learn the route", Duration::from_secs(20), || {
        frr_has(&frr, "203.0.113.5/32").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb")));
    frr.stop_bgpd(&mut topology.lab);
    std::thread::sleep(Duration::from_secs(1));
    frr.start_bgpd(&mut topology.lab)
        .expect("bgpd starts again");
    // IronLB tries about once a second (jitter 75-100 %).
    wait_for(
        "FRR to learn the route again",
        Duration::from_secs(20),
        || frr_has(&frr, "203.0.113.5/32").then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb")));
    let log = log_text(&topology.lab, "ironlb");
    assert_eq!(log.matches("BGP session established").count(), 2, "{log}");
}

#[test]
fn graceful_restart_keeps_routes_in_frr_while_ironlb_restarts() {
    if !ironlb_lab::require(
        "graceful_restart_keeps_routes_in_frr_while_ironlb_restarts",
        &["/usr/lib/frr/bgpd"],
    ) {
        return;
    }
    let mut topology = topology("bgp-gr");
    let frr = frr(
        &mut topology,
        "
router bgp 65000
 bgp router-id 10.0.0.1
 bgp graceful-restart
 no bgp ebgp-requires-policy
 neighbor 10.0.0.2 remote-as 65100
",
    );
    let args = [
        "--local-asn",
        "65100",
        "--peer",
        "10.0.0.1",
        "--peer-asn",
        "65000",
        "--source",
        "10.0.0.2",
        "--graceful-restart",
        "120",
        "--prefix",
        "203.0.113.5/32",
    ];
    let kernel_route = |topology: &Topology| {
        let routes = topology.tor.ip(&["route", "show", "203.0.113.5"]).ok()?;
        routes.contains("via 10.0.0.2").then_some(())
    };
    let fresh = |frr: &Frr| {
        let route = frr_route(frr, "ipv4", "203.0.113.5/32")?;
        route["paths"][0].get("stale").is_none().then_some(())
    };
    let first = announce(&mut topology, "ironlb-first", &args);
    wait_for("FRR to learn the route", Duration::from_secs(20), || {
        frr_has(&frr, "203.0.113.5/32").then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb-first")));
    wait_for("the route in the kernel", Duration::from_secs(10), || {
        kernel_route(&topology)
    })
    .expect("kernel route");
    // An upgrade: SIGTERM, no NOTIFICATION, FRR keeps the route as stale.
    first.signal("TERM");
    wait_for("ironlb to stop", Duration::from_secs(5), || {
        (!first.is_running()).then_some(())
    })
    .unwrap();
    topology.lab.stop(&first);
    std::thread::sleep(Duration::from_secs(2));
    let route = frr_route(&frr, "ipv4", "203.0.113.5/32")
        .expect("FRR keeps the route while IronLB is upgraded");
    assert_eq!(route["paths"][0]["stale"], true, "{route}");
    assert!(kernel_route(&topology).is_some(), "forwarding kept");
    let log = log_text(&topology.lab, "ironlb-first");
    assert!(log.contains("closed without NOTIFICATION"), "{log}");
    // The next run sets the Restart State bit by itself and refreshes the route.
    let second = announce(&mut topology, "ironlb-second", &args);
    wait_for(
        "the route to be fresh again",
        Duration::from_secs(20),
        || fresh(&frr),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb-second")));
    let log = log_text(&topology.lab, "ironlb-second");
    assert!(log.contains("restarting=true"), "{log}");
    // A crash: the kernel closes the connection, FRR keeps the route as stale.
    second.signal("KILL");
    wait_for("ironlb to die", Duration::from_secs(5), || {
        (!second.is_running()).then_some(())
    })
    .unwrap();
    topology.lab.stop(&second);
    std::thread::sleep(Duration::from_secs(2));
    let route = frr_route(&frr, "ipv4", "203.0.113.5/32")
        .expect("FRR keeps the route while IronLB restarts");
    assert_eq!(route["paths"][0]["stale"], true, "{route}");
    assert!(kernel_route(&topology).is_some(), "forwarding kept");
    let _third = announce(&mut topology, "ironlb-third", &args);
    wait_for(
        "the route to be fresh again",
        Duration::from_secs(20),
        || fresh(&frr),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&topology.lab, "ironlb-third")));
}
