//! Lab benchmark on the seed fabric (`ironlb lab up`): medians over RUNS (default 10) of
//! - endpoint removed in the cluster directory (the new EndpointSlice renamed into place; the
//!   clock starts at the rename) → withdrawing UPDATE on the wire at tor1 (tshark packet
//!   timestamp) and → next hop gone from tor1's kernel FIB;
//! - hard failure of a node (packets dropped) with BFD 300 ms × 3 → tor1's FIB;
//! - Service created → route in both ToRs' FIBs;
//!
//! and where the time goes for the endpoint removal, from the speaker's log: file written →
//! plan applied (inotify, parse, snapshot, decide) → UPDATE handed to the socket (batching,
//! encode) → on the wire → in the FIB (FRR).
//!
//! FIB times come from polling `ip route show` (~1-3 ms per poll). Needs root, FRR and tshark;
//! without them it says so and exits 0. `cargo bench -p ironlb --bench lab`.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ironlb_lab::capture::WithdrawalCapture;
use ironlb_lab::fabric::FabricView;

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const IP: &str = "203.0.113.5";

fn hops(last: &[u8]) -> Vec<Ipv4Addr> {
    last.iter().map(|i| Ipv4Addr::new(10, 0, 0, *i)).collect()
}

fn epoch(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn endpoints(nodes: &[&str]) -> String {
    ironlb_lab::Fabric::endpoints_yaml("web", nodes)
}

/// The timestamp of the first line of `log` after `after` containing `needle`.
fn log_time(log: &str, needle: &str, after: SystemTime) -> Option<SystemTime> {
    log.lines()
        .filter(|line| line.contains(needle))
        .filter_map(|line| ironlb_cluster::time::parse(line.split_whitespace().next()?))
        .find(|time| *time >= after)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

fn wait_fib(
    view: &FabricView,
    tor: &str,
    prefix: &str,
    expected: &[Ipv4Addr],
    start: Instant,
) -> f64 {
    view.wait_next_hops(tor, prefix, expected, Duration::from_secs(60))
        .expect("FIB converges");
    start.elapsed().as_secs_f64() * 1e3
}

fn main() {
    if let Err(error) =
        ironlb_lab::check_prerequisites(&["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "tshark"])
    {
        println!("lab: SKIPPED: {error}");
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let up = Command::new(IRONLB)
        .args(["lab", "up"])
        .output()
        .expect("ironlb lab up");
    if !up.status.success() {
        println!(
            "lab: `ironlb lab up` failed:\n{}{}",
            String::from_utf8_lossy(&up.stdout),
            String::from_utf8_lossy(&up.stderr)
        );
        return;
    }
    let view: FabricView =
        serde_json::from_str(&std::fs::read_to_string("/run/ironlb-lab.json").expect("state"))
            .expect("state");
    let result = std::panic::catch_unwind(|| measure(&view, runs));
    let _ = Command::new(IRONLB).args(["lab", "down"]).output();
    if result.is_err() {
        println!("lab: a measurement failed (lab removed)");
    }
}

fn measure(view: &FabricView, runs: usize) {
    let capture = WithdrawalCapture::start(&view.tors[0].namespace).expect("tshark");
    let all = hops(&[21, 22, 23]);
    let mut wire = Vec::new();
    let mut fib = Vec::new();
    let mut applied = Vec::new();
    let mut handed = Vec::new();
    let mut writes = Vec::new();
    for run in 0..runs {
        view.wait_next_hops("tor1", IP, &all, Duration::from_secs(30))
            .expect("all hops");
        // The new content is written beside the file first and made durable (write, fsync,
        // rename: the atomic-replace idiom of careful writers); the endpoint is removed when
        // the rename puts it in place, and the clock starts there. Without the fsync, ext4
        // flushes the staged data inside the rename (auto_da_alloc), ~0.8 ms of the writer's
        // own time before the new file is even visible.
        let staged = view.cluster_dir.join(".web-endpoints.yaml.tmp");
        std::fs::write(&staged, endpoints(&["node-22", "node-23"])).unwrap();
        std::fs::File::open(&staged).unwrap().sync_all().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let written = SystemTime::now();
        let start = Instant::now();
        std::fs::rename(&staged, view.cluster_dir.join("web-endpoints.yaml")).unwrap();
        let fib_ms = wait_fib(view, "tor1", IP, &hops(&[22, 23]), start);
        let log = view.log("speaker-node-21");
        let applied_at = log_time(&log, "cluster state applied", written);
        let sent_at = log_time(&log, "BGP routes sent", written);
        let ms = |t: Option<SystemTime>| {
            t.and_then(|t| t.duration_since(written).ok())
                .map(|d| d.as_secs_f64() * 1e3)
        };
        println!(
            "run {run}: endpoint removed → plan applied {:.2} ms → UPDATE sent {:.2} ms → tor1 FIB {fib_ms:.1} ms",
            ms(applied_at).unwrap_or(f64::NAN),
            ms(sent_at).unwrap_or(f64::NAN),
        );
        applied.extend(ms(applied_at));
        handed.extend(ms(sent_at));
        writes.push(written);
        fib.push(fib_ms);
        view.write(
            "web-endpoints.yaml",
            &endpoints(&["node-21", "node-22", "node-23"]),
        )
        .unwrap();
    }
    // tshark prints as it dissects: collect the packet times once it has caught up.
    std::thread::sleep(Duration::from_secs(2));
    for (run, written) in writes.iter().enumerate() {
        match capture.first_withdrawal_after(epoch(*written), "10.0.0.21", IP) {
            Some(time) => {
                let ms = (time - epoch(*written)) * 1e3;
                println!(
                    "run {run}: endpoint removed → withdrawing UPDATE on the wire at tor1 {ms:.2} ms"
                );
                wire.push(ms);
            }
            None => println!("run {run}: no withdrawal captured"),
        }
    }
    drop(capture);

    let mut failover = Vec::new();
    for run in 0..runs {
        view.wait_next_hops("tor1", IP, &all, Duration::from_secs(60))
            .expect("all hops");
        wait_bfd_up(view);
        std::thread::sleep(Duration::from_secs(1));
        let start = Instant::now();
        view.cut("node-22").unwrap();
        let ms = wait_fib(view, "tor1", IP, &hops(&[21, 23]), start);
        println!("run {run}: node-22 hard failure → tor1 FIB {ms:.0} ms (BFD 300 ms x 3)");
        failover.push(ms);
        view.restore("node-22").unwrap();
    }

    // The last cut's node may be held down by damping (it flapped on purpose): creation is
    // timed with every node back.
    view.wait_next_hops("tor1", IP, &all, Duration::from_secs(60))
        .expect("all hops");
    wait_bfd_up(view);
    let mut created = Vec::new();
    for run in 0..runs {
        let ip = format!("203.0.113.{}", 100 + run);
        let file = format!("bench-{run}.yaml");
        let service = format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: bench-{run}\n  namespace: default\n  annotations:\n    metallb.io/loadBalancerIPs: {ip}\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Cluster\n  ports: [{{port: 80}}]\n---\n{}",
            ironlb_lab::Fabric::endpoints_yaml(&format!("bench-{run}"), &["node-21"])
        );
        let start = Instant::now();
        view.write(&file, &service).unwrap();
        let first = wait_fib(view, "tor1", &ip, &all, start);
        let both = wait_fib(view, "tor2", &ip, &all, start).max(first);
        println!("run {run}: Service created → route in both ToRs' FIBs {both:.1} ms");
        created.push(both);
        view.remove(&file).unwrap();
    }

    println!("\nlab: medians over {runs} runs");
    println!(
        "  endpoint removed → withdrawing UPDATE on the wire at tor1: {:.2} ms (goal ≤ 1 ms)",
        median(&mut wire)
    );
    println!(
        "      of which: file written → plan applied (inotify, parse, snapshot, decide) {:.2} ms; → UPDATE written to the socket (1 ms batch, encode) {:.2} ms",
        median(&mut applied),
        median(&mut handed)
    );
    println!(
        "  endpoint removed → next hop gone from tor1's kernel FIB: {:.1} ms (goal ≤ 70 ms; FRR's own processing dominates)",
        median(&mut fib)
    );
    println!(
        "  hard failure, BFD 300 ms x 3 → tor1's FIB: {:.0} ms (goal ≤ 900 ms)",
        median(&mut failover)
    );
    println!(
        "  Service created → route in both ToRs' FIBs: {:.1} ms (goal ≤ 100 ms)",
        median(&mut created)
    );
}

fn wait_bfd_up(view: &FabricView) {
    let _ = ironlb_lab::wait_for("BFD up", Duration::from_secs(30), || {
        let text = view.vtysh("tor1", "show bfd peers json").ok()?;
        let peers: serde_json::Value = serde_json::from_str(&text).ok()?;
        let up = peers
            .as_array()?
            .iter()
            .filter(|p| p["status"] == "up")
            .count();
        (up == view.nodes.len()).then_some(())
    });
}
