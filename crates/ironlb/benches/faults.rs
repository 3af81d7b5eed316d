//! Fault benchmark: the faults of `tests/faults.rs`, repeated and timed at the ToRs' kernel
//! FIBs, in both ToR configurations (static neighbours, `bgp listen range`), with FRR and BIRD
//! as the node's speaker measured in the same run for the blip. Prints one table.
//!
//! - blip: node-21 cut off both ways for 2 s; tor1 runs BFD 300 ms × 3. Times: tor1 drops the
//!   node (from the blip's start), and has it back (from the end of the blip).
//! - ToR restart: bgpd SIGKILLed and started again; time from the new bgpd accepting
//!   connections until all 20 Services are back via all three nodes.
//! - speaker upgrade (SIGTERM, started again 1 s later) and crash (SIGKILL), with and without
//!   graceful restart: times node-21 left each ToR's FIB.
//!
//! Blips are spaced so that each finds a session that has been up for IronLB's stability
//! threshold (30 s): each is an isolated blip, not a flapping link (which IronLB damps on
//! purpose; `tests/faults.rs` flaps a link 100 times). `RUNS` (default 10) blips of IronLB's
//! speaker per style, `PEER_RUNS` (default 3) of each single speaker; `cargo bench -p ironlb
//! --bench faults` (root, FRR, BIRD; about 30 minutes). Without them it says so and exits 0.

use std::time::{Duration, Instant};

use ironlb_bgp::reconnect::STABLE_AFTER;

use ironlb_lab::fabric::Peering;
use ironlb_lab::faults::{NodeSpeaker, Seed, SeedOptions, Single, Stop};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const STYLES: [Peering; 2] = [Peering::Static, Peering::ListenRange];

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Err(error) = ironlb_lab::check_prerequisites(&[
        "/usr/lib/frr/bgpd",
        "/usr/lib/frr/bfdd",
        "bird",
        "bridge",
    ]) {
        eprintln!("faults bench skipped: {error}");
        return;
    }
    let count = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(default)
    };
    let runs = count("RUNS", 10);
    let peer_runs = count("PEER_RUNS", 3);
    // The next blip once the session has been back for the stability threshold.
    let settle = |back_at: Instant| {
        let stable = back_at + STABLE_AFTER + Duration::from_secs(1);
        std::thread::sleep(stable.saturating_duration_since(Instant::now()));
    };
    let mut table: Vec<[String; 3]> = Vec::new();
    let mut row = |what: String, static_: String, listen: String| {
        println!("  {what}: static {static_} | listen range {listen}");
        table.push([what, static_, listen]);
    };

    // Blip: IronLB's speaker in the seed cluster.
    let mut cells = Vec::new();
    for peering in STYLES {
        let mut seed = Seed::build(
            "fb-blip",
            IRONLB.into(),
            SeedOptions {
                peering,
                ..SeedOptions::default()
            },
        )
        .expect("seed fabric");
        let mut gone = Vec::new();
        let mut back = Vec::new();
        let mut back_at = Instant::now();
        for _ in 0..runs {
            settle(back_at);
            let outcome = seed.blip("node-21", Duration::from_secs(2)).expect("blip");
            back_at = Instant::now();
            if let (Some(g), Some(b)) = (
                outcome.removed_after.get("tor1"),
                outcome.back_after.get("tor1"),
            ) {
                gone.push(*g);
                back.push(*b);
            }
            assert_eq!(
                outcome.removals["tor2"], 0,
                "tor2 (no BFD) rides a 2 s blip out"
            );
        }
        cells.push(format!(
            "back {} (dropped {})",
            summary(&back),
            summary(&gone)
        ));
    }
    row(
        "2 s blip, IronLB speaker: tor1 back after".into(),
        cells[0].clone(),
        cells[1].clone(),
    );

    // Blip: one node speaker, IronLB and its peers.
    for speaker in [NodeSpeaker::IronLb, NodeSpeaker::Frr, NodeSpeaker::Bird] {
        let mut cells = Vec::new();
        for peering in STYLES {
            let mut single = match Single::build("fb-single", IRONLB.into(), peering, speaker) {
                Ok(single) => single,
                Err(error) => {
                    cells.push(format!("failed: {error}"));
                    continue;
                }
            };
            let mut back = Vec::new();
            let mut failure = None;
            let mut back_at = Instant::now();
            for _ in 0..peer_runs {
                settle(back_at);
                let result = single.blip(Duration::from_secs(2));
                back_at = Instant::now();
                match result {
                    Ok((_, b)) => back.push(b),
                    Err(error) => {
                        failure = Some(error.to_string());
                        break;
                    }
                }
            }
            cells.push(match failure {
                None => summary(&back),
                Some(error) => format!("{} then {error}", summary(&back)),
            });
        }
        row(
            format!("2 s blip, {speaker} alone on node-21: tor1 back after"),
            cells[0].clone(),
            cells[1].clone(),
        );
    }

    // ToR restart.
    let mut cells = Vec::new();
    for peering in STYLES {
        let mut seed = Seed::build(
            "fb-tor",
            IRONLB.into(),
            SeedOptions {
                peering,
                services: 20,
                ..SeedOptions::default()
            },
        )
        .expect("seed fabric");
        let mut times = Vec::new();
        let mut back_at = Instant::now();
        for run in 0..runs.min(6) {
            let tor = if run % 2 == 0 { "tor1" } else { "tor2" };
            settle(back_at);
            times.push(seed.restart_tor(tor).expect("ToR restart"));
            back_at = Instant::now();
        }
        cells.push(summary(&times));
    }
    row(
        "ToR bgpd restart: 20 Services back after bgpd accepts".into(),
        cells[0].clone(),
        cells[1].clone(),
    );

    // Speaker upgrade and crash.
    for graceful_restart in [true, false] {
        for stop in [Stop::Term, Stop::Kill] {
            let mut cells = Vec::new();
            for peering in STYLES {
                let mut seed = Seed::build(
                    "fb-restart",
                    IRONLB.into(),
                    SeedOptions {
                        peering,
                        graceful_restart,
                        ..SeedOptions::default()
                    },
                )
                .expect("seed fabric");
                let mut removals = [0usize; 2];
                let count = runs.min(5);
                for _ in 0..count {
                    let outcome = seed
                        .restart_speaker("node-21", stop, Duration::from_secs(1))
                        .expect("speaker restart");
                    removals[0] += outcome.removals["tor1"];
                    removals[1] += outcome.removals["tor2"];
                }
                cells.push(format!(
                    "{} at tor1 (BFD), {} at tor2, in {count}",
                    removals[0], removals[1]
                ));
            }
            let what = match stop {
                Stop::Term => "speaker upgrade (SIGTERM, back 1 s later)",
                Stop::Kill => "speaker crash (SIGKILL, back 1 s later)",
            };
            let gr = if graceful_restart { "with" } else { "without" };
            row(
                format!("{what}, {gr} graceful restart: next-hop removals"),
                cells[0].clone(),
                cells[1].clone(),
            );
        }
    }

    println!(
        "\n| fault (ToRs: FRR 8.4; tor1 BFD 300 ms × 3, tor2 hold 9 s) | static neighbours | bgp listen range |"
    );
    println!("| --- | --- | --- |");
    for [what, static_, listen] in &table {
        println!("| {what} | {static_} | {listen} |");
    }
}

/// "median (min–max)" in milliseconds.
fn summary(times: &[Duration]) -> String {
    if times.is_empty() {
        return "none".into();
    }
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let median = if ms.len() % 2 == 1 {
        ms[ms.len() / 2]
    } else {
        (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
    };
    format!(
        "{median:.0} ms ({:.0}–{:.0}, n={})",
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    )
}
