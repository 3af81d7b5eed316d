//! `ironlb bgp announce --bfd-*` against FRR's bfdd and BIRD 2's BFD in network namespaces:
//! BFD comes up with the negotiated intervals, and when the node is cut off (its packets to the
//! router dropped: no FIN, no withdraw) the router removes its route within BFD's detection
//! time, long before the BGP hold time (90 s).

use std::time::{Duration, Instant};

use ironlb_lab::{Bird, Frr, FrrDaemons, Lab, Namespace, Process, wait_for};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");

fn topology(name: &str) -> (Lab, Namespace, Namespace) {
    ironlb_lab::node_and_tor(name, &["10.0.0.2/24"], &["10.0.0.1/24"]).expect("lab")
}

fn announce(lab: &mut Lab, node: &Namespace, log: &str, bfd: &[&str]) -> Process {
    let mut args = vec![
        "bgp",
        "announce",
        "--local-asn",
        "65100",
        "--peer",
        "10.0.0.1",
        "--peer-asn",
        "65000",
        "--source",
        "10.0.0.2",
        "--prefix",
        "203.0.113.5/32",
    ];
    args.extend_from_slice(bfd);
    lab.spawn(node, log, IRONLB, &args).expect("ironlb")
}

/// FRR on the ToR peering with the node with BFD (bgpd's `bfd` defaults: 300 ms / 300 ms / x3).
fn frr_with_bfd(lab: &mut Lab, tor: &Namespace) -> Frr {
    Frr::start(
        lab,
        tor,
        "tor",
        "
router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor 10.0.0.2 remote-as 65100
 neighbor 10.0.0.2 bfd
",
        FrrDaemons { bfd: true },
    )
    .expect("FRR")
}

fn log_text(lab: &Lab, log: &str) -> String {
    std::fs::read_to_string(lab.directory().join(format!("{log}.log"))).unwrap_or_default()
}

fn kernel_has_route(tor: &Namespace) -> bool {
    tor.ip(&["route", "show", "203.0.113.5"])
        .is_ok_and(|routes| routes.contains("via 10.0.0.2"))
}

/// Cuts the node off: everything it sends to the router is dropped (no FIN, no withdraw).
fn cut(node: &Namespace) {
    node.ip(&["route", "add", "blackhole", "10.0.0.1/32"])
        .expect("blackhole route");
}

#[test]
fn bfd_with_frr_comes_up_and_a_cut_node_is_removed_within_the_detection_time() {
    if !ironlb_lab::require(
        "bfd_with_frr_comes_up_and_a_cut_node_is_removed_within_the_detection_time",
        &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"],
    ) {
        return;
    }
    let (mut lab, node, tor) = topology("bfd-frr-bgp");
    let frr = frr_with_bfd(&mut lab, &tor);
    let _speaker = announce(
        &mut lab,
        &node,
        "ironlb",
        &[
            "--bfd-rx",
            "300",
            "--bfd-tx",
            "300",
            "--bfd-multiplier",
            "3",
        ],
    );
    wait_for(
        "the route in FRR's kernel FIB",
        Duration::from_secs(20),
        || kernel_has_route(&tor).then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
    let peer = wait_for("FRR's BFD peer up", Duration::from_secs(20), || {
        frr.bfd_peer_up("10.0.0.2")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
    assert_eq!(peer["remote-receive-interval"], 300, "{peer}");
    assert_eq!(peer["remote-transmit-interval"], 300, "{peer}");
    assert_eq!(peer["remote-detect-multiplier"], 3, "{peer}");
    let brief = frr.vtysh("show bfd peers brief").unwrap();
    assert!(
        brief.contains("10.0.0.2") && brief.contains("up"),
        "{brief}"
    );
    let start = Instant::now();
    cut(&node);
    wait_for("FRR to remove the route", Duration::from_secs(5), || {
        (!kernel_has_route(&tor)).then_some(())
    })
    .expect("removed by BFD, not after the 90 s hold time");
    let elapsed = start.elapsed();
    println!("FRR removed the cut node's route after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    // IronLB saw BFD go down too and took BGP down with Cease/BFD Down.
    wait_for("IronLB to notice", Duration::from_secs(5), || {
        log_text(&lab, "ironlb")
            .contains("BFD down: bringing the BGP session down")
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
    // Reconnected: BFD and BGP come back and the route returns.
    node.ip(&["route", "del", "blackhole", "10.0.0.1/32"])
        .unwrap();
    wait_for("the route back", Duration::from_secs(30), || {
        kernel_has_route(&tor).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
}

#[test]
fn bfd_with_bird_comes_up_and_a_cut_node_is_removed_quickly() {
    if !ironlb_lab::require(
        "bfd_with_bird_comes_up_and_a_cut_node_is_removed_quickly",
        &["bird", "birdc"],
    ) {
        return;
    }
    let (mut lab, node, tor) = topology("bfd-bird");
    let bird = Bird::start(
        &mut lab,
        &tor,
        "tor",
        "
router id 10.0.0.1;
protocol device {}
protocol bfd {
  interface \"*\" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };
}
protocol bgp node {
  local 10.0.0.1 as 65000;
  neighbor 10.0.0.2 as 65100;
  passive on;
  bfd on;
  ipv4 { import all; export none; };
}
",
    )
    .expect("BIRD");
    let _speaker = announce(
        &mut lab,
        &node,
        "ironlb",
        &[
            "--bfd-rx",
            "300",
            "--bfd-tx",
            "300",
            "--bfd-multiplier",
            "3",
        ],
    );
    // Up with the 300 ms intervals negotiated: BIRD shows the session Up with interval 0.000
    // for a moment before the Poll sequence settles them (seen once in a full run).
    let sessions = wait_for(
        "BIRD's BFD session up at 300 ms",
        Duration::from_secs(20),
        || {
            let text = bird.birdc("show bfd sessions").ok()?;
            text.lines()
                .any(|l| l.contains("10.0.0.2") && l.contains("Up") && l.contains("0.300"))
                .then_some(text)
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
    assert!(sessions.contains("0.300"), "intervals 300 ms: {sessions}");
    wait_for("BIRD to learn the route", Duration::from_secs(20), || {
        let text = bird.birdc("show route").ok()?;
        text.contains("203.0.113.5/32").then_some(())
    })
    .unwrap();
    let start = Instant::now();
    cut(&node);
    wait_for("BIRD to drop the route", Duration::from_secs(5), || {
        let text = bird.birdc("show route").ok()?;
        (!text.contains("203.0.113.5/32")).then_some(())
    })
    .expect("removed by BFD");
    let elapsed = start.elapsed();
    println!("BIRD removed the cut node's route after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

/// BFD echo mode against FRR 8.4 (RFC 5880 §6.4): FRR advertises a Required Min Echo RX
/// Interval (50 ms by default), so IronLB's echo runs, its packets returned by the router's
/// forwarding plane. When the router stops forwarding while its control plane still runs
/// (`net.ipv4.ip_forward=0` in its namespace: BFD control packets still flow both ways),
/// echo detects it and the node withdraws: the router's FIB loses the route. Without echo the
/// same fault goes unnoticed.
#[test]
fn bfd_echo_detects_a_router_that_stops_forwarding_and_control_packets_alone_do_not() {
    if !ironlb_lab::require(
        "bfd_echo_detects_a_router_that_stops_forwarding_and_control_packets_alone_do_not",
        &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"],
    ) {
        return;
    }
    for echo in [true, false] {
        let (mut lab, node, tor) = topology(if echo { "bfd-echo" } else { "bfd-noecho" });
        let frr = frr_with_bfd(&mut lab, &tor);
        let mut bfd = vec![
            "--bfd-rx",
            "300",
            "--bfd-tx",
            "300",
            "--bfd-multiplier",
            "3",
        ];
        if echo {
            bfd.extend_from_slice(&["--bfd-echo", "50"]);
        }
        let _speaker = announce(&mut lab, &node, "ironlb", &bfd);
        wait_for(
            "the route in FRR's kernel FIB",
            Duration::from_secs(20),
            || kernel_has_route(&tor).then_some(()),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
        wait_for("FRR's BFD peer up", Duration::from_secs(20), || {
            frr.bfd_peer_up("10.0.0.2")
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
        if echo {
            wait_for("IronLB's echo to run", Duration::from_secs(10), || {
                log_text(&lab, "ironlb")
                    .contains("BFD echo started")
                    .then_some(())
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
            // Echo keeps the session up while the router forwards.
            std::thread::sleep(Duration::from_secs(2));
            assert!(kernel_has_route(&tor), "{}", log_text(&lab, "ironlb"));
        }
        let start = Instant::now();
        tor.exec("sysctl", &["-qw", "net.ipv4.ip_forward=0"])
            .expect("the router stops forwarding");
        if echo {
            wait_for("FRR to remove the route", Duration::from_secs(5), || {
                (!kernel_has_route(&tor)).then_some(())
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
            let elapsed = start.elapsed();
            println!("echo: the router stopped forwarding, its route removed after {elapsed:?}");
            let log = log_text(&lab, "ironlb");
            assert!(log.contains("echo function failed"), "{log}");
            // Forwarding back: the session and the route come back.
            tor.exec("sysctl", &["-qw", "net.ipv4.ip_forward=1"])
                .expect("forwarding again");
            wait_for("the route back", Duration::from_secs(60), || {
                kernel_has_route(&tor).then_some(())
            })
            .unwrap_or_else(|e| panic!("{e}\n{}", log_text(&lab, "ironlb")));
        } else {
            std::thread::sleep(Duration::from_secs(3));
            assert!(
                kernel_has_route(&tor),
                "without echo, control packets alone keep the session up: {}",
                log_text(&lab, "ironlb")
            );
        }
    }
}
