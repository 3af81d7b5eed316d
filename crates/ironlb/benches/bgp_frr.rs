//! Benchmark: `ironlb bgp announce` sends 10,000 /32s to a real FRR in network namespaces.
//! Prints, per run, the time from "BGP session established" (IronLB's log) until FRR's
//! `show bgp summary` counts all 10,000 prefixes received, and the speaker's peak RSS
//! (VmHWM). Targets: ≤ 50 ms and ≤ 8 MiB.
//!
//! The time is measured by polling vtysh, so each figure is an upper bound that includes up
//! to one poll interval (printed). Needs root and FRR; without them it says so and exits 0.
//! `cargo bench -p ironlb --bench bgp_frr` (RUNS=5 by default).

use std::time::{Duration, SystemTime};

use ironlb_lab::{Frr, FrrDaemons, wait_for};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const PREFIXES: u32 = 10_000;

fn main() {
    if let Err(error) = ironlb_lab::check_prerequisites(&["/usr/lib/frr/bgpd"]) {
        println!("bgp_frr: SKIPPED: {error}");
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let (mut lab, node, tor) =
        ironlb_lab::node_and_tor("bench-bgp", &["10.0.0.2/24"], &["10.0.0.1/24"]).expect("lab");
    let frr = Frr::start(
        &mut lab,
        &tor,
        "tor",
        "
router bgp 65000
 bgp router-id 10.0.0.1
 no bgp ebgp-requires-policy
 neighbor 10.0.0.2 remote-as 65100
 address-family ipv4 unicast
  no neighbor 10.0.0.2 send-community
 exit-address-family
",
        FrrDaemons { bfd: false },
    )
    .expect("FRR");
    // 10,000 /32s inside 10.200.0.0/16 (addresses of the lab's own namespaces).
    let file = lab.directory().join("prefixes.txt");
    let text: String = (0..PREFIXES)
        .map(|i| {
            let address = std::net::Ipv4Addr::from(0x0ac8_0000 + i);
            format!("{address}/32\n")
        })
        .collect();
    std::fs::write(&file, text).unwrap();
    let file_text = file.display().to_string();
    let mut times = Vec::new();
    let mut peaks = Vec::new();
    let mut polls = Vec::new();
    for run in 0..runs {
        let log = format!("ironlb-{run}");
        let speaker = lab
            .spawn(
                &node,
                &log,
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
                    "--prefix-file",
                    &file_text,
                ],
            )
            .expect("ironlb");
        let mut poll_max = Duration::ZERO;
        let seen = wait_for(
            "FRR to count 10,000 prefixes",
            Duration::from_secs(60),
            || {
                let start = SystemTime::now();
                let summary = frr.json("show bgp ipv4 unicast summary json").ok()?;
                poll_max = poll_max.max(start.elapsed().unwrap_or_default());
                let received = summary["peers"]["10.0.0.2"]["pfxRcd"].as_u64()?;
                (received == u64::from(PREFIXES)).then(SystemTime::now)
            },
        )
        .expect("all prefixes");
        let log_path = lab.directory().join(format!("{log}.log"));
        let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let established = log_text
            .lines()
            .find(|line| line.contains("BGP session established"))
            .and_then(|line| ironlb_cluster::time::parse(line.split_whitespace().next()?))
            .expect("an established line with a timestamp");
        let (_, peak) = ironlb_lab::memory_mib(speaker.pid());
        let elapsed = seen.duration_since(established).unwrap_or_default();
        println!(
            "run {run}: 10,000 /32s in FRR's table {:.1} ms after Established (poll ≤ {:.1} ms); speaker peak RSS {:.2} MiB",
            elapsed.as_secs_f64() * 1e3,
            poll_max.as_secs_f64() * 1e3,
            peak
        );
        times.push(elapsed);
        peaks.push(peak);
        polls.push(poll_max);
        lab.stop(&speaker);
        wait_for("FRR to drop the prefixes", Duration::from_secs(30), || {
            let summary = frr.json("show bgp ipv4 unicast summary json").ok()?;
            let received = summary["peers"]["10.0.0.2"]["pfxRcd"].as_u64().unwrap_or(0);
            (received == 0).then_some(())
        })
        .expect("withdrawn on Cease");
    }
    times.sort();
    peaks.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "bgp_frr: 10,000 /32s to FRR: median {:.1} ms (min {:.1}, max {:.1}) over {runs} runs; peak RSS max {:.2} MiB (target ≤ 50 ms, ≤ 8 MiB)",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        peaks.last().copied().unwrap_or(0.0)
    );
}
