//! Failover benchmark: FRR as the router, `ironlb bgp announce` with BFD as the node's speaker.
//! The node is cut off (everything it sends to the router is dropped: no FIN, no withdraw) and
//! the time until FRR has removed the node's route from its kernel FIB is measured, RUNS times
//! (default 10) for BFD 300 ms × 3 and for 50 ms × 3. Prints each run and the medians.
//!
//! Polls the ToR's kernel routes (`ip route show`), so figures include up to one poll
//! interval (a few ms). Needs root and FRR (bgpd, bfdd); without them it says so and exits 0.
//! `cargo bench -p ironlb --bench failover`.

use std::time::{Duration, Instant};

use ironlb_lab::{Frr, FrrDaemons, Namespace, wait_for};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");

fn kernel_has_route(tor: &Namespace) -> bool {
    tor.ip(&["route", "show", "203.0.113.5"])
        .is_ok_and(|routes| routes.contains("via 10.0.0.2"))
}

fn bfd_up(frr: &Frr) -> bool {
    frr.json("show bfd peers json").is_ok_and(|peers| {
        peers.as_array().is_some_and(|peers| {
            peers
                .iter()
                .any(|p| p["peer"] == "10.0.0.2" && p["status"] == "up")
        })
    })
}

fn scenario(interval_ms: u32, runs: usize) -> Option<Vec<Duration>> {
    let (mut lab, node, tor) = ironlb_lab::node_and_tor(
        &format!("bench-failover-{interval_ms}"),
        &["10.0.0.2/24"],
        &["10.0.0.1/24"],
    )
    .expect("lab");
    let frr = Frr::start(
        &mut lab,
        &tor,
        "tor",
        "
router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor 10.0.0.2 remote-as 65100
",
        FrrDaemons { bfd: true },
    )
    .expect("FRR");
    let interval = interval_ms.to_string();
    frr.configure(&[
        "bfd",
        "profile node",
        &format!("receive-interval {interval}"),
        &format!("transmit-interval {interval}"),
        "detect-multiplier 3",
        "exit",
        "exit",
        "router bgp 65000",
        "neighbor 10.0.0.2 bfd profile node",
    ])
    .expect("FRR BFD profile");
    let speaker = lab
        .spawn(
            &node,
            "ironlb",
            IRONLB,
            &[
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
                "--bfd-rx",
                &interval,
                "--bfd-tx",
                &interval,
                "--bfd-multiplier",
                "3",
            ],
        )
        .expect("ironlb");
    let mut times = Vec::new();
    for run in 0..runs {
        let ready = wait_for("route and BFD up", Duration::from_secs(60), || {
            (kernel_has_route(&tor) && bfd_up(&frr)).then_some(())
        });
        if let Err(error) = ready {
            println!("failover {interval_ms} ms: run {run}: {error}");
            return None;
        }
        // Let BFD settle at its Up intervals.
        std::thread::sleep(Duration::from_secs(2));
        let start = Instant::now();
        node.ip(&["route", "add", "blackhole", "10.0.0.1/32"])
            .expect("cut");
        let removed = wait_for("route removed", Duration::from_secs(120), || {
            (!kernel_has_route(&tor)).then(|| start.elapsed())
        })
        .expect("removed");
        println!(
            "failover BFD {interval_ms} ms x 3: run {run}: FRR removed the route after {:.0} ms",
            removed.as_secs_f64() * 1e3
        );
        times.push(removed);
        node.ip(&["route", "del", "blackhole", "10.0.0.1/32"])
            .expect("uncut");
    }
    lab.stop(&speaker);
    Some(times)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    if let Err(error) = ironlb_lab::check_prerequisites(&["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"])
    {
        println!("failover: SKIPPED: {error}");
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let mut summary = Vec::new();
    for interval in [300, 50] {
        if let Some(mut times) = scenario(interval, runs) {
            let (min, max) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
            let median = median(&mut times);
            summary.push(format!(
                "failover: BFD {interval} ms x 3: median {:.0} ms (min {:.0}, max {:.0}) over {runs} runs",
                median.as_secs_f64() * 1e3,
                min.as_secs_f64() * 1e3,
                max.as_secs_f64() * 1e3
            ));
        }
    }
    for line in summary {
        println!("{line}");
    }
    println!("failover: target for 300 ms x 3: median <= 900 ms");
}
