//! Benchmark: `ironlb bgp announce` sends /32s to a real FRR in network namespaces.
//! Prints, per run, the time from the session reaching Established until FRR has every prefix
//! in its table, by FRR's own log (Established → the End-of-RIB after the last prefix
//! processed) and, as an upper bound, by polling `show bgp summary` from IronLB's
//! "BGP session established" on, and the speaker's peak RSS (VmHWM)
//! with where its pages are at that point (/proc/PID/smaps: the ironlb binary's own pages,
//! the shared libraries', heap and other anonymous memory, the stack).
//!
//! Three cases, each `RUNS` times (5 by default):
//! - 10,000 /32s from `--prefix-file`: targets ≤ 50 ms, ≤ 4 MiB;
//! - the same 10,000 given as `--prefix` arguments: should cost about what the file does;
//! - 100,000 /32s from `--prefix-file`: targets ≤ 300 ms, ≤ 16 MiB.
//!
//! `CASES=file,arguments,100k` picks some; `IRONLB=PATH` measures another build of the binary
//! (a static one, say) instead of this one's. A poll of vtysh waits behind the UPDATEs bgpd
//! is busy with (up to 600 ms at 100,000), so the summary's times are FRR's log's. Needs root and
//! FRR; without them it says so and exits 0. `cargo bench -p ironlb --bench bgp_frr`.

use std::time::{Duration, SystemTime};

use ironlb_lab::{Frr, FrrDaemons, Lab, Namespace, wait_for};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");

/// The binary measured: `IRONLB` if set, else the one cargo built with this bench.
fn ironlb() -> String {
    std::env::var("IRONLB").unwrap_or_else(|_| IRONLB.to_string())
}

/// How the prefixes reach `ironlb bgp announce`.
#[derive(Clone, Copy, PartialEq)]
enum Given {
    File,
    Arguments,
}

struct Case {
    name: &'static str,
    prefixes: u32,
    given: Given,
    target_ms: f64,
    target_mib: f64,
}

const CASES: [Case; 3] = [
    Case {
        name: "file",
        prefixes: 10_000,
        given: Given::File,
        target_ms: 50.0,
        target_mib: 4.0,
    },
    Case {
        name: "arguments",
        prefixes: 10_000,
        given: Given::Arguments,
        target_ms: 50.0,
        target_mib: 4.0,
    },
    Case {
        name: "100k",
        prefixes: 100_000,
        given: Given::File,
        target_ms: 300.0,
        target_mib: 16.0,
    },
];

fn main() {
    if let Err(error) = ironlb_lab::check_prerequisites(&["/usr/lib/frr/bgpd"]) {
        println!("bgp_frr: SKIPPED: {error}");
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let chosen = std::env::var("CASES").unwrap_or_else(|_| "file,arguments,100k".into());
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
    let mut summaries = Vec::new();
    for case in CASES
        .iter()
        .filter(|case| chosen.split(',').any(|name| name == case.name))
    {
        summaries.push(run_case(&mut lab, &node, &frr, case, runs));
    }
    for summary in summaries {
        println!("{summary}");
    }
}

/// Runs one case `runs` times; returns its summary line.
fn run_case(lab: &mut Lab, node: &Namespace, frr: &Frr, case: &Case, runs: usize) -> String {
    // The /32s from 10.200.0.0 on (inside 10.0.0.0/8, addresses of the lab's own namespaces).
    let prefixes: Vec<String> = (0..case.prefixes)
        .map(|i| format!("{}/32", std::net::Ipv4Addr::from(0x0ac8_0000 + i)))
        .collect();
    let file = lab
        .directory()
        .join(format!("prefixes-{}.txt", case.prefixes));
    std::fs::write(
        &file,
        prefixes
            .iter()
            .map(|p| format!("{p}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let file_text = file.display().to_string();
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
    ];
    match case.given {
        Given::File => args.extend(["--prefix-file", file_text.as_str()]),
        Given::Arguments => {
            for prefix in &prefixes {
                args.extend(["--prefix", prefix.as_str()]);
            }
        }
    }
    let count = u64::from(case.prefixes);
    let label = format!(
        "{} /32s {}",
        thousands(case.prefixes),
        match case.given {
            Given::File => "from --prefix-file",
            Given::Arguments => "as --prefix arguments",
        }
    );
    let mut times = Vec::new();
    let mut peaks = Vec::new();
    for run in 0..runs {
        let log = format!("ironlb-{}-{run}", case.name);
        let frr_log = frr.directory().join("bgpd.log");
        let frr_log_before = std::fs::metadata(&frr_log).map(|m| m.len()).unwrap_or(0);
        let speaker = lab.spawn(node, &log, &ironlb(), &args).expect("ironlb");
        let mut poll_max = Duration::ZERO;
        let seen = wait_for("FRR to count every prefix", Duration::from_secs(60), || {
            let start = SystemTime::now();
            let summary = frr.json("show bgp ipv4 unicast summary json").ok()?;
            poll_max = poll_max.max(start.elapsed().unwrap_or_default());
            let received = summary["peers"]["10.0.0.2"]["pfxRcd"].as_u64()?;
            (received == count).then(SystemTime::now)
        })
        .expect("all prefixes");
        let log_path = lab.directory().join(format!("{log}.log"));
        let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let established = log_text
            .lines()
            .find(|line| line.contains("BGP session established"))
            .and_then(|line| ironlb_cluster::time::parse(line.split_whitespace().next()?))
            .expect("an established line with a timestamp");
        let (_, peak) = ironlb_lab::memory_mib(speaker.pid());
        let pages = Pages::of(speaker.pid());
        let polled = seen.duration_since(established).unwrap_or_default();
        // FRR's own clock: its log from this run on.
        let frr_text = std::fs::read(&frr_log).unwrap_or_default();
        let frr_text =
            String::from_utf8_lossy(&frr_text[(frr_log_before as usize).min(frr_text.len())..]);
        let elapsed = frr_took(&frr_text, "10.0.0.2").unwrap_or_else(|| {
            panic!("no Established and End-of-RIB lines for 10.0.0.2 in FRR's log:\n{frr_text}")
        });
        println!(
            "{} run {run}: {label} in FRR's table {:.1} ms after Established by FRR's log (by polling vtysh: ≤ {:.1} ms, a poll took up to {:.1} ms); speaker peak RSS {peak:.2} MiB; now: binary {:.2}, libraries {:.2}, heap and anonymous {:.2}, stack {:.2} MiB",
            case.name,
            elapsed.as_secs_f64() * 1e3,
            polled.as_secs_f64() * 1e3,
            poll_max.as_secs_f64() * 1e3,
            pages.binary,
            pages.libraries,
            pages.anonymous,
            pages.stack,
        );
        times.push(elapsed);
        peaks.push(peak);
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
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "bgp_frr: {label}: median {:.1} ms (min {:.1}, max {:.1}) over {runs} runs; peak RSS median {:.2} MiB (min {:.2}, max {:.2}) (target ≤ {} ms, ≤ {} MiB)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        peaks[peaks.len() / 2],
        peaks[0],
        peaks[peaks.len() - 1],
        case.target_ms,
        case.target_mib,
    )
}

/// How long FRR took, by its own log (`log timestamp precision 3`, `debug bgp neighbor-events`),
/// from the session with `peer` reaching Established to its processing the End-of-RIB that
/// follows the last prefix. bgpd handles a peer's UPDATEs in the order they came, so every
/// prefix is in its table (and counted in `pfxRcd`) by then. Unlike polling vtysh, which
/// waits its turn behind the UPDATEs bgpd is busy with, this has no poll delay in it.
fn frr_took(log: &str, peer: &str) -> Option<Duration> {
    // "2026/12/06 03:40:12.123 BGP: ..." → seconds since midnight.
    let seconds = |line: &str| -> Option<f64> {
        let time = line.split_whitespace().nth(1)?;
        let mut parts = time.split(':');
        let hours: f64 = parts.next()?.parse().ok()?;
        let minutes: f64 = parts.next()?.parse().ok()?;
        let seconds: f64 = parts.next()?.parse().ok()?;
        Some(hours * 3600.0 + minutes * 60.0 + seconds)
    };
    let established = log.lines().find(|line| {
        line.contains(peer) && line.contains("went from OpenConfirm to Established")
    })?;
    let end_of_rib = log.lines().find(|line| {
        line.contains("rcvd End-of-RIB for IPv4 Unicast from") && line.contains(peer)
    })?;
    let mut took = seconds(end_of_rib)? - seconds(established)?;
    if took < 0.0 {
        took += 86_400.0; // across midnight
    }
    Some(Duration::from_secs_f64(took))
}

fn thousands(n: u32) -> String {
    let text = n.to_string();
    let mut out = String::new();
    for (i, digit) in text.chars().enumerate() {
        if i > 0 && (text.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Resident pages of a process by where they are mapped from, in MiB.
struct Pages {
    /// The ironlb executable's own mappings (code, read-only data, relocated data).
    binary: f64,
    /// Other files: libc, libm, ld.so, libgcc_s.
    libraries: f64,
    /// The heap and anonymous mappings (malloc's, thread stacks).
    anonymous: f64,
    /// The main thread's stack (the arguments live there too).
    stack: f64,
}

impl Pages {
    fn of(pid: u32) -> Pages {
        let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
        let executable = std::fs::read_link(format!("/proc/{pid}/exe"))
            .map(|path| path.display().to_string())
            .unwrap_or_default();
        let mut pages = Pages {
            binary: 0.0,
            libraries: 0.0,
            anonymous: 0.0,
            stack: 0.0,
        };
        let mut current: Option<&mut f64> = None;
        for line in smaps.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields
                .first()
                .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
            {
                let name = fields.get(5).copied().unwrap_or("");
                current = Some(match name {
                    "[stack]" => &mut pages.stack,
                    "" | "[heap]" => &mut pages.anonymous,
                    name if name == executable => &mut pages.binary,
                    name if name.starts_with('/') => &mut pages.libraries,
                    _ => &mut pages.anonymous,
                });
            } else if fields.first() == Some(&"Rss:")
                && let (Some(slot), Some(kib)) = (
                    current.as_deref_mut(),
                    fields.get(1).and_then(|v| v.parse::<f64>().ok()),
                )
            {
                *slot += kib / 1024.0;
            }
        }
        pages
    }
}
