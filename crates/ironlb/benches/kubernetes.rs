//! Kubernetes benchmark on the real control plane (`tools/kube`): prints
//! - the warm build (cache hit) and API-server start times;
//! - IP assigned after a Service is created: the controller's time from the watch event to
//!   the status patch being done (its log), median of RUNS (default 10) Services;
//! - controller and speaker RSS with 10,000 Services in the API (COUNT to change it), then
//!   again once each has an EndpointSlice with a ready endpoint on the speaker's node (so
//!   the speaker plans a route for every one). The slices are made by the bench: no
//!   kube-controller-manager runs here. The seed's two peers are a BIRD each on loopback
//!   (127.N.M.2 and 127.N.M.3 from the bench's PID, port 1790, so two runs do not meet),
//!   which take every route: the last figure is with
//!   every route sent and a ServiceBGPStatus per Service written, as in a cluster.
//!
//! `IRONLB=PATH` runs another build of the binary (a static one, say) instead of this one's.
//! Needs Go (for the first build) and root-free loopback only. `cargo bench -p ironlb --bench kubernetes`.

use std::path::Path;
use std::process::Command;

use ironlb_lab::kube::ControlPlane;
use std::time::{Duration, Instant};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");

/// The binary measured: `IRONLB` if set (another build, a static one say), else the one
/// cargo built with this bench.
fn ironlb() -> String {
    std::env::var("IRONLB").unwrap_or_else(|_| IRONLB.to_string())
}

/// kubectl against the bench's plane; panics with its stderr.
fn kubectl(plane: &ControlPlane, args: &[&str], stdin: Option<&str>) -> String {
    plane.kubectl(args, stdin).unwrap_or_else(|e| panic!("{e}"))
}

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec: {{type: LoadBalancer, allocateLoadBalancerNodePorts: false, selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n"
    )
}

fn main() {
    if Command::new("go").arg("version").output().is_err() {
        println!("kubernetes: SKIPPED: Go is not installed (needed to build kube-apiserver)");
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let count: usize = std::env::var("COUNT")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10_000);
    let start = Instant::now();
    ironlb_lab::kube::build(false).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "kubernetes: build.sh (warm cache) {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let mut plane = ControlPlane::start("bench").unwrap_or_else(|e| panic!("{e}"));
    println!(
        "kubernetes: up.sh to /readyz {:.2} s",
        start.elapsed().as_secs_f64()
    );
    kubectl(&plane, &["create", "namespace", "metallb-system"], None);
    let ironlb = ironlb();
    let crds = Command::new(&ironlb).arg("crds").output().unwrap();
    kubectl(
        &plane,
        &["apply", "-f", "-"],
        Some(&String::from_utf8_lossy(&crds.stdout)),
    );
    kubectl(
        &plane,
        &[
            "wait",
            "--for",
            "condition=established",
            "--timeout=60s",
            "crd",
            "--all",
        ],
        None,
    );
    // A pool big enough for every Service (addresses only configured, never used on a wire),
    // the seed's two peers (a BIRD each, see `Peers`), and the seed's advertisement (a
    // community and a LOCAL_PREF on every route).
    let [tor1, tor2] = Peers::addresses();
    kubectl(
        &plane,
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: bench, namespace: metallb-system}}\nspec: {{addresses: [10.200.0.0/16]}}\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: tor1, namespace: metallb-system}}\nspec: {{myASN: 65100, peerASN: 65000, peerAddress: {tor1}, peerPort: 1790}}\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: tor2, namespace: metallb-system}}\nspec: {{myASN: 65100, peerASN: 65000, peerAddress: {tor2}, peerPort: 1790}}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: all, namespace: metallb-system}}\nspec: {{aggregationLength: 32, communities: ['65000:100'], localPref: 100}}\n---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-1, labels: {{kubernetes.io/hostname: node-1}}}}\n",
        )),
    );
    let peers = Peers::start(&mut plane);
    // HEAPTRACK=DIR: the controller and the speaker run under heaptrack, their heap profiles
    // go to DIR (the RSS figures are then the profiler's, not IronLB's). CALLGRIND=DIR: they
    // run under valgrind's callgrind, their profiles go to DIR/NAME.callgrind
    // (`scripts/symbol-order` lists the functions they ran from these).
    let heaptrack = std::env::var("HEAPTRACK").ok();
    let callgrind = std::env::var("CALLGRIND").ok();
    let mut spawn = |name: &str, args: &[&str]| {
        let (profiler, mut wrapped) = match (&heaptrack, &callgrind) {
            (Some(dir), _) => ("heaptrack", vec!["-o".to_string(), format!("{dir}/{name}")]),
            (None, Some(dir)) => (
                "valgrind",
                vec![
                    "--tool=callgrind".to_string(),
                    "--demangle=no".to_string(),
                    format!("--callgrind-out-file={dir}/{name}.callgrind"),
                ],
            ),
            (None, None) => return plane.spawn(Path::new(&ironlb), name, args),
        };
        wrapped.push(ironlb.clone());
        wrapped.extend(args.iter().map(|a| a.to_string()));
        let wrapped: Vec<&str> = wrapped.iter().map(String::as_str).collect();
        plane.spawn(Path::new(profiler), name, &wrapped)
    };
    let controller = spawn(
        "controller",
        &[
            "controller",
            "--kubernetes",
            "--metrics-address",
            "off",
            "--webhook-address",
            "off",
            "--identity",
            "bench",
        ],
    );
    let speaker = spawn(
        "speaker",
        &[
            "speaker",
            "--kubernetes",
            "--node",
            "node-1",
            "--metrics-address",
            "off",
            "--router-id",
            "10.0.0.21",
        ],
    );
    // Dropped before the plane (declared after it): stops the daemons heaptrack runs.
    let _profiled = heaptrack.as_ref().map(|_| Profiled {
        wrappers: vec![plane.pid(controller), plane.pid(speaker)],
        program: ironlb.clone(),
    });
    std::thread::sleep(Duration::from_secs(3));

    // IP assignment latency, from the controller's own log.
    let mut latencies = Vec::new();
    for run in 0..runs {
        let before = plane
            .log("controller")
            .matches("Service status updated")
            .count();
        kubectl(
            &plane,
            &["apply", "-f", "-"],
            Some(&service(&format!("latency-{run}"))),
        );
        let waited = Instant::now();
        loop {
            let log = plane.log("controller");
            if log.matches("Service status updated").count() > before {
                let line = log
                    .lines()
                    .filter(|l| l.contains("Service status updated"))
                    .nth(before)
                    .unwrap_or_default();
                let total_us: f64 = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("total_us=")?.parse().ok())
                    .unwrap_or(f64::NAN);
                latencies.push(total_us / 1000.0);
                break;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "no assignment: {}",
                plane.log("controller")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "kubernetes: IP assigned after a Service is created: {:.2} ms median from the watch event to the status patch done (min {:.2}, max {:.2}; plus the source's 2 ms batching) — goal ≤ 50 ms",
        latencies[latencies.len() / 2],
        latencies[0],
        latencies[latencies.len() - 1]
    );

    // 10,000 Services, created 16 at a time with the API client (kubectl creates one by one).
    let start = Instant::now();
    let kubeconfig = plane.kubeconfig();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    create_all::<ironlb_api::k8s_openapi::api::core::v1::Service>(
        &runtime,
        &kubeconfig,
        count,
        |i| service(&format!("svc-{i}")),
    );
    println!(
        "kubernetes: {count} Services created in {:.1} s (API client, 16 at a time)",
        start.elapsed().as_secs_f64()
    );
    let waited = Instant::now();
    loop {
        let assigned = kubectl(
            &plane,
            &[
                "get",
                "svc",
                "-o",
                "jsonpath={range .items[*]}{.status.loadBalancer.ingress[0].ip}{\"\\n\"}{end}",
            ],
            None,
        )
        .lines()
        .filter(|l| !l.is_empty())
        .count();
        if assigned >= count {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(900),
            "only {assigned} assigned"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    println!(
        "kubernetes: all {count} assigned {:.1} s after creation began",
        start.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(3));
    let (controller_rss, controller_peak) = ironlb_lab::memory_mib(plane.pid(controller));
    let (speaker_rss, speaker_peak) = ironlb_lab::memory_mib(plane.pid(speaker));
    let (controller_anon, controller_file) = ironlb_lab::resident_parts_mib(plane.pid(controller));
    let (speaker_anon, speaker_file) = ironlb_lab::resident_parts_mib(plane.pid(speaker));
    println!(
        "kubernetes: with {count} Services: controller RSS {controller_rss:.1} MiB (peak {controller_peak:.1}; heap and stacks {controller_anon:.1}, file pages {controller_file:.1}), speaker RSS {speaker_rss:.1} MiB (peak {speaker_peak:.1}; heap and stacks {speaker_anon:.1}, file pages {speaker_file:.1}) — goal speaker ≤ 32 MiB, controller ≤ 48 MiB"
    );

    // An EndpointSlice per Service, a ready endpoint on node-1 and one elsewhere.
    let start = Instant::now();
    create_all::<ironlb_api::k8s_openapi::api::discovery::v1::EndpointSlice>(
        &runtime,
        &kubeconfig,
        count,
        endpoint_slice,
    );
    println!(
        "kubernetes: {count} EndpointSlices created in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let waited = Instant::now();
    // A route per Service for each of the two peers.
    let planned = format!("routes={}", 2 * count);
    while !plane
        .log("speaker")
        .lines()
        .rev()
        .take(5)
        .any(|l| l.contains(&planned))
    {
        assert!(
            waited.elapsed() < Duration::from_secs(300),
            "the speaker never planned a route per Service and peer"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let planned_after = waited.elapsed();
    // Every route in both peers' tables, and a ServiceBGPStatus per Service (naming both
    // peers) written by the speaker, as in a cluster whose ToRs took the routes.
    let sent = peers.as_ref().map(|peers| {
        let waited = Instant::now();
        while !peers.all_have(count) {
            assert!(
                waited.elapsed() < Duration::from_secs(300),
                "the peers never had every route: {:?}",
                peers.counts()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let routes = waited.elapsed();
        let waited = Instant::now();
        loop {
            let written = kubectl(
                &plane,
                &[
                    "get",
                    "servicebgpstatuses",
                    "-n",
                    "metallb-system",
                    "--no-headers",
                ],
                None,
            )
            .lines()
            .filter(|line| !line.trim().is_empty())
            .count();
            if written >= count {
                break;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(900),
                "only {written} ServiceBGPStatus objects written"
            );
            std::thread::sleep(Duration::from_secs(2));
        }
        (routes, waited.elapsed())
    });
    match sent {
        Some((routes, statuses)) => println!(
            "kubernetes: a route per Service and peer planned {:.1} s after the EndpointSlices were created, all {count} in both peers' tables {:.1} s later, {count} ServiceBGPStatus objects written {:.1} s after that",
            planned_after.as_secs_f64(),
            routes.as_secs_f64(),
            statuses.as_secs_f64()
        ),
        None => println!(
            "kubernetes: a route per Service and peer planned {:.1} s after the EndpointSlices were created (NOT sent: BIRD is not installed, so the peers do not answer and no ServiceBGPStatus is written)",
            planned_after.as_secs_f64()
        ),
    }
    std::thread::sleep(Duration::from_secs(12));
    let (speaker_rss, speaker_peak) = ironlb_lab::memory_mib(plane.pid(speaker));
    let (speaker_anon, speaker_file) = ironlb_lab::resident_parts_mib(plane.pid(speaker));
    let what = if peers.is_some() {
        "every route sent to both peers, a ServiceBGPStatus each"
    } else {
        "a route planned for each, none sent"
    };
    println!(
        "kubernetes: with {count} Services and their EndpointSlices ({what}): speaker RSS {speaker_rss:.1} MiB (peak {speaker_peak:.1}; heap and stacks {speaker_anon:.1}, file pages {speaker_file:.1}) — goal ≤ 32 MiB"
    );
    drop(peers);
}

/// The seed's two peers, tor1 and tor2 at [`Peers::addresses`] (port 1790): a BIRD each,
/// passive, taking every route the speaker sends (from 127.0.0.1), so the speaker's memory is
/// measured with its sessions Established, every route in its Adj-RIB-Out and a
/// ServiceBGPStatus per Service, as in a cluster. None when BIRD is not installed: the peers
/// then never answer and the routes are only planned.
struct Peers {
    sockets: Vec<String>,
}

impl Peers {
    /// tor1's and tor2's addresses: 127.N.M.2 and 127.N.M.3, N.M from this process's PID, so
    /// the peers of two runs at once (each with its own API server) do not meet.
    fn addresses() -> [String; 2] {
        let pid = std::process::id();
        let (n, m) = (10 + pid % 200, (pid / 200) % 256);
        [format!("127.{n}.{m}.2"), format!("127.{n}.{m}.3")]
    }

    fn start(plane: &mut ControlPlane) -> Option<Peers> {
        if !Path::new("/usr/sbin/bird").exists() {
            println!(
                "kubernetes: NOTE: BIRD (/usr/sbin/bird) is not installed: the peers will not answer, no route is sent"
            );
            return None;
        }
        let mut sockets = Vec::new();
        let [tor1, tor2] = Peers::addresses();
        for (name, address) in [("tor1", tor1), ("tor2", tor2)] {
            let config = plane.dir.join(format!("{name}-bird.conf"));
            std::fs::write(
                &config,
                format!(
                    "router id {address};\nprotocol device {{}}\nprotocol bgp speaker {{\n  local {address} port 1790 as 65000;\n  neighbor 127.0.0.1 as 65100;\n  passive on;\n  strict bind on;\n  multihop;\n  ipv4 {{ import all; export none; }};\n}}\n"
                ),
            )
            .unwrap();
            let socket = plane
                .dir
                .join(format!("{name}-bird.ctl"))
                .display()
                .to_string();
            let pid = plane
                .dir
                .join(format!("{name}-bird.pid"))
                .display()
                .to_string();
            let config = config.display().to_string();
            plane.spawn(
                Path::new("/usr/sbin/bird"),
                &format!("{name}-bird"),
                &["-f", "-c", &config, "-s", &socket, "-P", &pid],
            );
            sockets.push(socket);
        }
        Some(Peers { sockets })
    }

    /// Routes in each peer's table (`birdc show route count`).
    fn counts(&self) -> Vec<usize> {
        self.sockets
            .iter()
            .map(|socket| {
                let output = Command::new("birdc")
                    .args(["-s", socket, "show", "route", "count"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                // "Total: 10000 of 10000 routes for 10000 networks in 2 tables"
                output
                    .lines()
                    .find_map(|line| line.strip_prefix("Total: "))
                    .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
                    .unwrap_or(0)
            })
            .collect()
    }

    fn all_have(&self, count: usize) -> bool {
        self.counts().iter().all(|&n| n >= count)
    }
}

/// The daemons started under heaptrack. Its script runs the program as a child and does not
/// pass the SIGTERM it gets on, so stopping the script (as the plane does) would leave the
/// daemon running: this stops the daemon itself, and heaptrack then writes its profile.
struct Profiled {
    /// The scripts' PIDs.
    wrappers: Vec<u32>,
    /// The daemons' executable.
    program: String,
}

impl Drop for Profiled {
    fn drop(&mut self) {
        let program = std::fs::canonicalize(&self.program).unwrap_or_default();
        for wrapper in &self.wrappers {
            let children =
                std::fs::read_to_string(format!("/proc/{wrapper}/task/{wrapper}/children"))
                    .unwrap_or_default();
            for child in children.split_whitespace() {
                if std::fs::read_link(format!("/proc/{child}/exe")).is_ok_and(|exe| exe == program)
                {
                    let _ = Command::new("kill").args(["-TERM", child]).status();
                }
            }
        }
        // heaptrack's script exits once its daemon has and the profile is written.
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Creates `count` objects in `default`, the i-th from the YAML `make(i)`, 16 at a time
/// with the API client (kubectl creates one by one).
fn create_all<K>(
    runtime: &tokio::runtime::Runtime,
    kubeconfig: &std::path::Path,
    count: usize,
    make: impl Fn(usize) -> String,
) where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + ironlb_api::k8s_openapi::serde::Serialize
        + ironlb_api::k8s_openapi::serde::de::DeserializeOwned,
{
    runtime.block_on(async {
        use futures::StreamExt;
        let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
        let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let api: kube::Api<K> = kube::Api::namespaced(client, "default");
        futures::stream::iter(0..count)
            .map(|i| {
                let api = api.clone();
                let object: K = serde_saphyr::from_str(&make(i)).unwrap();
                async move { api.create(&Default::default(), &object).await.map(|_| ()) }
            })
            .buffer_unordered(16)
            .for_each(|result| async move {
                if let Err(error) = result {
                    panic!("create: {error}");
                }
            })
            .await;
    });
}

fn endpoint_slice(i: usize) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: svc-{i}-bench, namespace: default, labels: {{kubernetes.io/service-name: svc-{i}}}}}\naddressType: IPv4\nports: [{{port: 80, protocol: TCP}}]\nendpoints: [{{addresses: [10.244.{}.{}], conditions: {{ready: true}}, nodeName: node-1}}, {{addresses: [10.244.200.1], conditions: {{ready: true}}, nodeName: node-2}}]\n",
        i / 250,
        i % 250 + 1
    )
}
