//! The faults a fabric lives through, on the seed's network with real FRR ToRs, in both ToR
//! configurations operators run (static neighbours and `bgp listen range`). These tests assert
//! behaviour (the node comes back, nothing is left stale, no next hop leaves with graceful
//! restart); `cargo bench -p ironlb --bench faults` prints the times.

use std::path::PathBuf;
use std::time::Duration;

use ironlb_lab::fabric::Peering;
use ironlb_lab::faults::{Seed, SeedOptions, Stop};

fn ironlb() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ironlb"))
}

fn seed(test: &str, name: &str, options: SeedOptions) -> Option<Seed> {
    if !ironlb_lab::require(test, &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "bridge"]) {
        return None;
    }
    Some(Seed::build(name, ironlb(), options).unwrap_or_else(|e| panic!("{test}: {e}")))
}

const STYLES: [Peering; 2] = [Peering::Static, Peering::ListenRange];

#[test]
fn a_two_second_blip_is_over_when_the_link_is_back() {
    for peering in STYLES {
        let Some(mut seed) = seed(
            "a_two_second_blip_is_over_when_the_link_is_back",
            "blip",
            SeedOptions {
                peering,
                ..SeedOptions::default()
            },
        ) else {
            return;
        };
        for round in 0..2 {
            let outcome = seed
                .blip("node-21", Duration::from_secs(2))
                .unwrap_or_else(|e| panic!("{peering}, blip {round}: {e}"));
            // tor1 runs BFD: it removes the node within a second and takes it back; tor2 (hold
            // 9 s, no BFD) rides the blip out.
            assert_eq!(outcome.removals["tor1"], 1, "{peering}: {outcome:?}");
            assert_eq!(outcome.removals["tor2"], 0, "{peering}: {outcome:?}");
            println!("{peering}, blip {round}: {outcome:?}");
            seed.check_converged(Duration::from_secs(10)).unwrap();
        }
    }
}

#[test]
fn a_speaker_upgrade_with_graceful_restart_keeps_every_next_hop() {
    for peering in STYLES {
        let Some(mut seed) = seed(
            "a_speaker_upgrade_with_graceful_restart_keeps_every_next_hop",
            "upgrade",
            SeedOptions {
                peering,
                graceful_restart: true,
                services: 2,
                ..SeedOptions::default()
            },
        ) else {
            return;
        };
        for stop in [Stop::Term, Stop::Kill] {
            let outcome = seed
                .restart_speaker("node-21", stop, Duration::from_secs(1))
                .unwrap_or_else(|e| panic!("{peering}, {stop:?}: {e}"));
            println!(
                "{peering}, {stop:?}: {outcome:?}, stale at {:?}",
                seed.stale_seen
            );
            // Neither ToR drops the node: the connection ends without a NOTIFICATION (SIGTERM)
            // or by the kernel (SIGKILL), so both keep its routes as stale, and tor1's BFD going
            // Down afterwards is ignored by FRR once the session is already down (BFD AdminDown
            // is sent only after the BGP connection is closed).
            assert_eq!(
                outcome.removals["tor1"], 0,
                "{peering}, {stop:?}: {outcome:?}"
            );
            assert_eq!(
                outcome.removals["tor2"], 0,
                "{peering}, {stop:?}: {outcome:?}"
            );
            assert_eq!(seed.stale_seen, ["tor1", "tor2"], "{peering}, {stop:?}");
            seed.check_converged(Duration::from_secs(10)).unwrap();
        }
        // A Service deleted while the speaker is away: the other nodes withdraw it at once, the
        // ToRs keep node-21's path as stale until its End-of-RIB, then nothing of it is left.
        seed.restart_speaker_while("node-21", Stop::Term, Duration::from_secs(1), |seed| {
            seed.delete_service(1)
        })
        .unwrap_or_else(|e| panic!("{peering}, deletion: {e}"));
        for tor in ["tor1", "tor2"] {
            assert_eq!(
                seed.bgp_paths(tor, "203.0.113.11"),
                (0, 0),
                "{peering}: {tor}"
            );
            assert_eq!(
                seed.bgp_paths(tor, "203.0.113.10"),
                (3, 0),
                "{peering}: {tor}"
            );
        }
        seed.check_converged(Duration::from_secs(10)).unwrap();
    }
}

#[test]
fn without_graceful_restart_a_speaker_restart_withdraws_and_returns() {
    let Some(mut seed) = seed(
        "without_graceful_restart_a_speaker_restart_withdraws_and_returns",
        "no-gr",
        SeedOptions::default(),
    ) else {
        return;
    };
    let outcome = seed
        .restart_speaker("node-21", Stop::Term, Duration::from_secs(1))
        .unwrap();
    // Cease/Administrative Shutdown: both ToRs drop the node at once, and take it back.
    assert_eq!(outcome.removals["tor1"], 1, "{outcome:?}");
    assert_eq!(outcome.removals["tor2"], 1, "{outcome:?}");
    assert!(seed.stale_seen.is_empty());
    seed.check_converged(Duration::from_secs(10)).unwrap();
}

#[test]
fn a_tor_restart_brings_every_route_back() {
    for peering in STYLES {
        let Some(mut seed) = seed(
            "a_tor_restart_brings_every_route_back",
            "torboot",
            SeedOptions {
                peering,
                services: 20,
                ..SeedOptions::default()
            },
        ) else {
            return;
        };
        for tor in ["tor1", "tor2"] {
            let back = seed
                .restart_tor(tor)
                .unwrap_or_else(|e| panic!("{peering}, {tor}: {e}\n{}", seed.logs()));
            println!("{peering}: {tor} restarted, every route back {back:?} after bgpd accepts");
            seed.check_converged(Duration::from_secs(10)).unwrap();
        }
    }
}

#[test]
fn a_hundred_link_flaps_leave_no_stuck_session_and_no_leak() {
    let Some(mut seed) = seed(
        "a_hundred_link_flaps_leave_no_stuck_session_and_no_leak",
        "flaps",
        SeedOptions {
            peering: Peering::ListenRange,
            ..SeedOptions::default()
        },
    ) else {
        return;
    };
    let pid = seed.fabric.speaker_pid("node-21").expect("speaker runs");
    let descriptors = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    };
    let before = (descriptors(), ironlb_lab::memory_mib(pid).0);
    let outcome = seed
        .flap_link(
            "node-21",
            100,
            // Down long enough for BFD (900 ms) to see it every time.
            Duration::from_millis(1000),
            Duration::from_millis(250),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    println!("100 flaps: {outcome:?}");
    // Damped sessions may be held down up to 30 s after the last flap, and a listen-range ToR
    // starts BFD only once BGP is up again.
    seed.wait_bfd_up(Duration::from_secs(90))
        .unwrap_or_else(|e| panic!("{e}\n{}", seed.logs()));
    let after = (descriptors(), ironlb_lab::memory_mib(pid).0);
    println!("descriptors and RSS (MiB) before {before:?}, after {after:?}");
    assert!(
        after.0 <= before.0 + 2,
        "descriptors leak: {before:?} -> {after:?}"
    );
    assert!(
        after.1 < before.1 + 8.0,
        "memory grows: {before:?} -> {after:?}"
    );
    let log = seed.fabric.log("speaker-node-21");
    let established = log.matches("BGP session established").count();
    println!("sessions established in all: {established}");
    // BFD Up at tor1 says nothing of tor2's session (no BFD, hold time 9 s): a keepalive lost
    // to TCP's backed-off retransmissions can still expire it up to 9 s after the last flap,
    // and the damping of the flaps then holds it down up to 30 s (RFC 4271
    // DampPeerOscillations) before it reconnects. The fabric is given all of that.
    seed.check_converged(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}"));
}
