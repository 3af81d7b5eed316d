//! IronLB beside MetalLB: the same work on the same seed fabric (real FRR ToRs, tor1 with
//! BFD), the same real kube-apiserver (10.0.0.250, kube-controller-manager, kwok), one phase
//! after the other in one run: first IronLB in Kubernetes mode (controller and speakers as
//! processes, as `ironlb lab --kubernetes` runs them), then MetalLB v0.15.2 with its native
//! speakers (`tools/metallb/build.sh`). Never both at once: each phase installs its own CRDs,
//! starts its own processes and stops them by PID before the next.
//!
//! Rows (medians with ranges over RUNS, default 10):
//! - Service created → IP in its status: from the watch's ADDED event to the watch's event
//!   with the IP (kubectl --watch in the switch namespace; both implementations seen the same
//!   way), and from `kubectl apply` returning to that event;
//! - endpoint gone (the last local endpoint of an externalTrafficPolicy: Local Service leaves
//!   node-21, as seen by a watch of its EndpointSlice) → withdrawal on the wire at tor1
//!   (tshark) and → next hop gone from tor1's FIB;
//! - Service created (watch ADDED) → route in both ToRs' FIBs;
//! - node hard failure (its packets dropped) → gone from tor1's FIB (BFD for IronLB; MetalLB's
//!   native speaker has none, tor1's hold time is 90 s: a bounded wait) and from tor2's (no
//!   BFD, hold 9 s, both);
//! - speaker SIGTERM and start again → next-hop removals at each ToR;
//! - COUNT (default 10,000) Services with an EndpointSlice each: controller and speaker RSS,
//!   CPU seconds each spends creating them and churning 1,000 (deleted and created again).
//!
//! One table at the end. `SIDES=ironlb,metallb,metallb-frr` adds MetalLB in FRR mode (the
//! Debian FRR in each node's namespace, tor1's BFD profile) as a third column. RUNS sets the
//! count of each timed row but the failure and restart rows (at most FAILURE_RUNS and
//! RESTART_RUNS, default 5), COUNT the Services of the last rows. Times at the API server come
//! from its audit log (microseconds, the end of the write), so both implementations are timed
//! from the same instant whatever their own logs say.
//! Needs root, FRR, tshark and Go; without them it says so and exits 0.
//! `cargo bench -p ironlb --bench vs_metallb`.

use std::io::BufRead;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ironlb_lab::capture::WithdrawalCapture;
use ironlb_lab::fabric::{FabricSpec, Stop};
use ironlb_lab::fib::FibWatch;
use ironlb_lab::kube::SwitchPlane;
use ironlb_lab::metallb::{self, BgpType, MetalLb};
use ironlb_lab::{Fabric, Process};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const POOL: &str = include_str!("../../../examples/seed/pool.yaml");
const PEERS: &str = include_str!("../../../examples/seed/peers.yaml");
const ADVERTISEMENT: &str = include_str!("../../../examples/seed/advertisement.yaml");
const BFD: &str = include_str!("../../../examples/seed/bfd.yaml");
/// The Local Service of the endpoint row.
const LOCAL_IP: &str = "203.0.113.5";
/// How long a hard failure is given to leave a FIB.
const FAILURE_BOUND: Duration = Duration::from_secs(20);
const NODES: [&str; 3] = ["node-21", "node-22", "node-23"];

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn hops(last: &[u8]) -> Vec<Ipv4Addr> {
    last.iter().map(|i| Ipv4Addr::new(10, 0, 0, *i)).collect()
}

fn epoch(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn ms_between(from: SystemTime, to: SystemTime) -> f64 {
    match to.duration_since(from) {
        Ok(d) => d.as_secs_f64() * 1e3,
        Err(e) => -e.duration().as_secs_f64() * 1e3,
    }
}

/// "median (min–max, n=N) unit", or what is known when nothing was measured.
fn summary(values: &[f64], unit: &str, digits: usize) -> String {
    if values.is_empty() {
        return "not measured".into();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    format!(
        "{:.d$} {unit} ({:.d$}–{:.d$}, n={})",
        sorted[sorted.len() / 2],
        sorted[0],
        sorted[sorted.len() - 1],
        sorted.len(),
        d = digits
    )
}

/// Lines a `kubectl ... --watch` prints, each stamped when read.
struct Watch {
    child: Child,
    lines: Arc<Mutex<Vec<(SystemTime, String)>>>,
}

impl Watch {
    fn start(plane: &SwitchPlane, args: &[&str]) -> Watch {
        let mut child = plane
            .kubectl_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .stdin(Stdio::null())
            .spawn()
            .expect("kubectl watch");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                sink.lock().unwrap().push((SystemTime::now(), line));
            }
        });
        std::thread::sleep(Duration::from_secs(1));
        Watch { child, lines }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The API server's audit log: when it finished each write (microseconds), whoever the client.
struct Audit(PathBuf);

/// What the bench asks the API server to record: writes of Services (and their status) and
/// EndpointSlices, once the response is complete.
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\nrules:\n- level: Metadata\n  verbs: [create, update, patch]\n  resources:\n  - {group: \"\", resources: [services, services/status]}\n  - {group: discovery.k8s.io, resources: [endpointslices]}\n- level: None\n";

impl Audit {
    /// When the API server completed the first successful `verbs` write of
    /// `resource`/`subresource` (empty: the object itself) named `name` at or after `after`;
    /// waits up to 10 s for it to be logged.
    fn wait(
        &self,
        after: SystemTime,
        verbs: &[&str],
        resource: &str,
        subresource: &str,
        name: &str,
    ) -> Option<SystemTime> {
        self.wait_stamp("stageTimestamp", after, verbs, resource, subresource, name)
    }

    /// As [`Audit::wait`], but when the API server received that request. Watchers may hear
    /// of a write before its response is complete (the event goes out at the commit): times
    /// on the wire are taken from here, the earliest instant of the write.
    fn received(
        &self,
        after: SystemTime,
        verbs: &[&str],
        resource: &str,
        subresource: &str,
        name: &str,
    ) -> Option<SystemTime> {
        self.wait_stamp(
            "requestReceivedTimestamp",
            after,
            verbs,
            resource,
            subresource,
            name,
        )
    }

    fn wait_stamp(
        &self,
        stamp: &str,
        after: SystemTime,
        verbs: &[&str],
        resource: &str,
        subresource: &str,
        name: &str,
    ) -> Option<SystemTime> {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.0).unwrap_or_default();
            let found = text.lines().find_map(|line| {
                let event: serde_json::Value = serde_json::from_str(line).ok()?;
                let object = &event["objectRef"];
                let code = event["responseStatus"]["code"].as_u64().unwrap_or(0);
                let time = ironlb_cluster::time::parse(event[stamp].as_str()?)?;
                (time >= after
                    && (200..300).contains(&code)
                    && verbs.contains(&event["verb"].as_str()?)
                    && object["resource"] == resource
                    && object["subresource"].as_str().unwrap_or("") == subresource
                    && object["name"] == name)
                    .then_some(time)
            });
            if found.is_some() || start.elapsed() > Duration::from_secs(10) {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// CPU seconds (user + system) a process has used.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime is field 14, stime 15: indexes 11 and 12 after the state (field 3).
    (ticks(11) + ticks(12)) / 100.0
}

/// Which implementation runs, with its processes.
enum Running {
    IronLb {
        controller: Process,
        speakers: Vec<(String, Process)>,
    },
    MetalLb(MetalLb, BgpType),
}

impl Running {
    fn name(&self) -> &'static str {
        match self {
            Running::IronLb { .. } => "IronLB",
            Running::MetalLb(_, BgpType::Native) => "MetalLB native",
            Running::MetalLb(_, BgpType::Frr) => "MetalLB FRR mode",
        }
    }

    fn controller_pid(&self) -> u32 {
        match self {
            Running::IronLb { controller, .. } => controller.pid(),
            Running::MetalLb(metallb, _) => metallb.controller_pid(),
        }
    }

    fn speaker_pid(&self, node: &str) -> u32 {
        match self {
            Running::IronLb { speakers, .. } => speakers
                .iter()
                .find(|(n, _)| n == node)
                .map(|(_, p)| p.pid())
                .unwrap_or(0),
            Running::MetalLb(metallb, _) => metallb.speaker_pid(node).unwrap_or(0),
        }
    }

    fn restart_speaker(&mut self, fabric: &mut Fabric, plane: &SwitchPlane, node: &str) {
        match self {
            Running::IronLb { speakers, .. } => {
                let index = speakers.iter().position(|(n, _)| n == node).unwrap();
                let (_, process) = speakers.remove(index);
                fabric.stop(&process);
                speakers.push((node.to_string(), spawn_ironlb_speaker(fabric, plane, node)));
            }
            Running::MetalLb(metallb, _) => {
                metallb.stop_speaker(fabric, node, Stop::Term);
                metallb.start_speaker(fabric, plane, node).unwrap();
            }
        }
    }

    fn stop(self, fabric: &mut Fabric) {
        match self {
            Running::IronLb {
                controller,
                speakers,
            } => {
                for (_, process) in speakers {
                    fabric.stop(&process);
                }
                fabric.stop(&controller);
            }
            Running::MetalLb(metallb, _) => drop(metallb),
        }
    }
}

fn spawn_ironlb_speaker(fabric: &mut Fabric, plane: &SwitchPlane, node: &str) -> Process {
    let namespace = fabric
        .nodes
        .iter()
        .find(|n| n.name == node)
        .unwrap()
        .namespace
        .clone();
    let kubeconfig = plane.kubeconfig().display().to_string();
    fabric
        .spawn_ironlb(
            &namespace,
            &format!("speaker-{node}"),
            &[("KUBECONFIG", &kubeconfig)],
            &[
                "speaker",
                "--kubernetes",
                "--node",
                node,
                "--api-staleness-bound",
                "75s",
            ],
        )
        .unwrap()
}

/// IronLB as `ironlb lab --kubernetes` runs it: its CRDs, the seed's objects with tor1's BFD
/// profile, the controller in the switch namespace and a speaker per node.
fn start_ironlb(fabric: &mut Fabric, plane: &SwitchPlane) -> Running {
    let crds = std::process::Command::new(IRONLB)
        .arg("crds")
        .output()
        .unwrap();
    apply(plane, &String::from_utf8_lossy(&crds.stdout));
    wait_crds(plane);
    for yaml in [
        POOL.to_string(),
        short_hold_time(PEERS),
        ADVERTISEMENT.to_string(),
        BFD.to_string(),
        BULK_POOL.to_string(),
    ] {
        apply(plane, &yaml);
    }
    let kubeconfig = plane.kubeconfig().display().to_string();
    let switch = fabric.switch_namespace().to_string();
    let controller = fabric
        .spawn_ironlb(
            &switch,
            "controller",
            &[("KUBECONFIG", &kubeconfig)],
            &["controller", "--kubernetes", "--identity", "controller-0"],
        )
        .unwrap();
    let speakers = NODES
        .iter()
        .map(|node| (node.to_string(), spawn_ironlb_speaker(fabric, plane, node)))
        .collect();
    Running::IronLb {
        controller,
        speakers,
    }
}

/// MetalLB: its CRDs over IronLB's, the seed's objects; with native speakers without BFD
/// (the native speaker refuses a BFD profile), in FRR mode with tor1's BFD profile as IronLB.
fn start_metallb(
    fabric: &mut Fabric,
    plane: &SwitchPlane,
    bin: &std::path::Path,
    bgp: BgpType,
) -> Running {
    // The previous phase's objects go first (the CRDs change under them).
    for kind in [
        "bgppeers",
        "bgpadvertisements",
        "ipaddresspools",
        "bfdprofiles",
        "servicebgpstatuses",
    ] {
        let _ = plane.kubectl(&["delete", kind, "--all", "-A", "--wait=false"], None);
    }
    let metallb = MetalLb::start(fabric, plane, bin, bgp).unwrap();
    let peers = match bgp {
        BgpType::Native => short_hold_time(PEERS)
            .lines()
            .filter(|l| !l.trim_start().starts_with("bfdProfile:"))
            .map(|l| format!("{l}\n"))
            .collect(),
        BgpType::Frr => format!("{BFD}---\n{}", short_hold_time(PEERS)),
    };
    for yaml in [
        POOL.to_string(),
        peers,
        ADVERTISEMENT.to_string(),
        BULK_POOL.to_string(),
    ] {
        apply(plane, &yaml);
    }
    Running::MetalLb(metallb, bgp)
}

/// The pool and advertisement of the COUNT row's Services (never assigned automatically):
/// addresses inside the lab's namespaces only.
const BULK_POOL: &str = "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bulk, namespace: metallb-system}\nspec: {addresses: [10.200.0.0/16], autoAssign: false}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: bulk, namespace: metallb-system}\nspec: {ipAddressPools: [bulk]}\n";

/// The lab's peers: tor2's with `holdTime: 9s` (as `ironlb lab` has them).
fn short_hold_time(peers: &str) -> String {
    let mut out = String::new();
    for line in peers.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim() == "peerAddress: 10.0.0.2" {
            out.push_str("  holdTime: 9s\n");
        }
    }
    out
}

fn apply(plane: &SwitchPlane, yaml: &str) {
    plane.apply(yaml).unwrap_or_else(|e| panic!("{e}"));
}

fn wait_crds(plane: &SwitchPlane) {
    plane
        .kubectl(
            &[
                "wait",
                "--for",
                "condition=established",
                "--timeout=60s",
                "crd",
                "--all",
            ],
            None,
        )
        .unwrap();
}

/// A selector-less Service (its EndpointSlice is the bench's own).
fn service(name: &str, ip: Option<&str>, policy: &str, labels: &str) -> String {
    let annotation = ip
        .map(|ip| format!("\n  annotations: {{metallb.io/loadBalancerIPs: \"{ip}\"}}"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n  labels: {{bench: \"{labels}\"}}{annotation}\nspec:\n  type: LoadBalancer\n  allocateLoadBalancerNodePorts: false\n  externalTrafficPolicy: {policy}\n  ports: [{{port: 80}}]\n"
    )
}

fn endpoint_slice(service: &str, nodes: &[&str], labels: &str) -> String {
    let mut yaml = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {service}-bench\n  namespace: default\n  labels: {{kubernetes.io/service-name: {service}, bench: \"{labels}\"}}\naddressType: IPv4\nports: [{{port: 80, protocol: TCP}}]\nendpoints:"
    );
    if nodes.is_empty() {
        yaml.push_str(" []\n");
    }
    yaml.push('\n');
    for (index, node) in nodes.iter().enumerate() {
        yaml.push_str(&format!(
            "- {{addresses: [10.244.{}.10], nodeName: {node}, conditions: {{ready: true, serving: true, terminating: false}}}}\n",
            index + 1
        ));
    }
    yaml
}

/// One implementation's figures, row by row (labels shared by both columns).
type Figures = Vec<(String, String)>;

fn main() {
    if let Err(error) =
        ironlb_lab::check_prerequisites(&["go", "/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd", "tshark"])
    {
        println!("vs_metallb: SKIPPED: {error}");
        return;
    }
    let runs = env_count("RUNS", 10);
    let count = env_count("COUNT", 10_000);
    let start = Instant::now();
    let bin = metallb::build(true).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "vs_metallb: MetalLB built/cached in {:.1} s: {}",
        start.elapsed().as_secs_f64(),
        bin.display()
    );
    let mut fabric = Fabric::build("vs", FabricSpec::seed(PathBuf::from(IRONLB))).unwrap();
    let plane = SwitchPlane::start_with(&fabric, AUDIT_POLICY).unwrap_or_else(|e| panic!("{e}"));
    let _ = plane.kubectl(&["create", "namespace", "metallb-system"], None);
    let mut columns: Vec<(&'static str, Figures)> = Vec::new();
    // SIDES=ironlb,metallb,metallb-frr adds MetalLB in FRR mode as a third column.
    let sides = std::env::var("SIDES").unwrap_or_else(|_| "ironlb,metallb".into());
    for side in sides.split(',') {
        let running = match side {
            "ironlb" => start_ironlb(&mut fabric, &plane),
            "metallb" => start_metallb(&mut fabric, &plane, &bin, BgpType::Native),
            "metallb-frr" => start_metallb(&mut fabric, &plane, &bin, BgpType::Frr),
            other => panic!("SIDES: unknown {other:?} (ironlb, metallb, metallb-frr)"),
        };
        let name = running.name();
        println!("\n=== {name} ===");
        let mut running = running;
        let figures = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            measure(&mut fabric, &plane, &mut running, runs, count)
        }));
        running.stop(&mut fabric);
        clean(&plane);
        match figures {
            Ok(figures) => columns.push((name, figures)),
            Err(_) => {
                println!("vs_metallb: {name}: a measurement failed; its column is incomplete");
                columns.push((name, Vec::new()));
            }
        }
    }
    print_table(&columns, runs, count);
    drop(plane);
    drop(fabric);
}

/// Deletes the bench's Services and EndpointSlices matching `selector`: Services one by one
/// without waiting (kubectl's wait per object makes it ~5 a second; Services have no
/// deletecollection), slices in one deletecollection request.
fn delete_objects(plane: &SwitchPlane, selector: &str) {
    std::thread::scope(|scope| {
        for shard in 0..SHARDS {
            scope.spawn(move || {
                // Services without a shard label (the small rows') go with shard 0.
                let selector = match shard {
                    0 => format!("{selector},shard notin (1,2,3)"),
                    _ => format!("{selector},shard={shard}"),
                };
                plane
                    .kubectl(
                        &[
                            "delete",
                            "services",
                            "-n",
                            "default",
                            "-l",
                            &selector,
                            "--wait=false",
                        ],
                        None,
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
            });
        }
    });
    let encoded = selector.replace('=', "%3D");
    plane
        .kubectl(
            &[
                "delete",
                "--raw",
                &format!(
                    "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector={encoded}"
                ),
            ],
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Removes every bench object between phases, and waits until they are gone.
fn clean(plane: &SwitchPlane) {
    delete_objects(plane, "bench");
    let _ = ironlb_lab::wait_for("bench Services gone", Duration::from_secs(300), || {
        let text = plane
            .kubectl(
                &[
                    "get", "services", "-n", "default", "-l", "bench", "-o", "name",
                ],
                None,
            )
            .ok()?;
        text.trim().is_empty().then_some(())
    });
}

fn print_table(columns: &[(&str, Figures)], runs: usize, count: usize) {
    println!("\nvs_metallb: one run, RUNS={runs}, COUNT={count}; medians (min–max, n)\n");
    let labels: Vec<String> = columns
        .iter()
        .flat_map(|(_, f)| f.iter().map(|(l, _)| l.clone()))
        .fold(Vec::new(), |mut all, label| {
            if !all.contains(&label) {
                all.push(label);
            }
            all
        });
    print!("| measure |");
    for (name, _) in columns {
        print!(" {name} |");
    }
    print!("\n| --- |");
    for _ in columns {
        print!(" --- |");
    }
    println!();
    for label in labels {
        print!("| {label} |");
        for (_, figures) in columns {
            let value = figures
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, v)| v.as_str())
                .unwrap_or("missing");
            print!(" {value} |");
        }
        println!();
    }
}

fn measure(
    fabric: &mut Fabric,
    plane: &SwitchPlane,
    running: &mut Running,
    runs: usize,
    count: usize,
) -> Figures {
    let name = running.name();
    let mut figures = Figures::new();
    let all = hops(&[21, 22, 23]);
    // The Local Service and its slice: an endpoint on every node.
    apply(
        plane,
        &format!(
            "{}---\n{}",
            service("local", Some(LOCAL_IP), "Local", "local"),
            endpoint_slice("local", &NODES, "local")
        ),
    );
    for tor in ["tor1", "tor2"] {
        fabric
            .wait_next_hops(tor, LOCAL_IP, &all, Duration::from_secs(90))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    println!("{name}: the Local Service is at both ToRs via all three nodes");

    // 1. Service created → IP in its status.
    let audit = Audit(plane.audit_log());
    let services = Watch::start(
        plane,
        &[
            "get",
            "svc",
            "-n",
            "default",
            "--watch",
            "--output-watch-events",
            "-o",
            "custom-columns=EVENT:.type,NAME:.object.metadata.name,IP:.object.status.loadBalancer.ingress[0].ip",
            "--no-headers",
        ],
    );
    let (mut from_event, mut from_apply, mut own) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let svc = format!("ip-{run}");
        let logged = fabric
            .log("controller")
            .matches("Service status updated")
            .count();
        let before = SystemTime::now();
        apply(plane, &service(&svc, None, "Cluster", "ip"));
        let applied = SystemTime::now();
        let assigned = wait_ip(&services, before, &svc, Duration::from_secs(30));
        let created = audit.wait(before, &["create"], "services", "", &svc);
        let patched =
            created.and_then(|c| audit.wait(c, &["update", "patch"], "services", "status", &svc));
        match (created, patched, assigned) {
            (Some(created), Some(patched), Some(assigned)) => {
                let event = ms_between(created, patched);
                let apply = ms_between(applied, assigned);
                println!(
                    "{name} run {run}: Service → IP: created → status written {event:.1} ms (API server's audit log); kubectl apply returned → IP seen by a watch {apply:.1} ms"
                );
                from_event.push(event);
                from_apply.push(apply);
                if let Running::IronLb { .. } = running {
                    // The controller's own view: watch event → status patch done (its log).
                    std::thread::sleep(Duration::from_millis(100));
                    own.extend(
                        fabric
                            .log("controller")
                            .lines()
                            .filter(|l| l.contains("Service status updated"))
                            .nth(logged)
                            .and_then(|l| {
                                l.split_whitespace()
                                    .find_map(|w| w.strip_prefix("total_us=")?.parse::<f64>().ok())
                            })
                            .map(|us| us / 1000.0),
                    );
                }
            }
            _ => println!("{name} run {run}: no IP seen within 30 s"),
        }
    }
    figures.push((
        "Service created → IP in status (API server: create done → status write done)".into(),
        summary(&from_event, "ms", 1),
    ));
    figures.push((
        "Service created → IP in status (kubectl apply returned → IP seen by a kubectl watch)"
            .into(),
        summary(&from_apply, "ms", 1),
    ));
    if let Running::IronLb { .. } = running {
        figures.push((
            "Service created → IP in status (controller's log: watch event → status patched)"
                .into(),
            summary(&own, "ms", 1),
        ));
    }

    // 2. Endpoint gone from node-21 → withdrawal on the wire at tor1, and → tor1's FIB.
    let capture =
        WithdrawalCapture::start(fabric.tor("tor1").frr.namespace().name()).expect("tshark");
    let (mut wire, mut fib) = (Vec::new(), Vec::new());
    let mut changes = Vec::new();
    for run in 0..runs {
        fabric
            .wait_next_hops("tor1", LOCAL_IP, &all, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        std::thread::sleep(Duration::from_millis(500));
        let before = SystemTime::now();
        apply(
            plane,
            &endpoint_slice("local", &["node-22", "node-23"], "local"),
        );
        let fib_seen = {
            fabric
                .wait_next_hops("tor1", LOCAL_IP, &hops(&[22, 23]), Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            SystemTime::now()
        };
        let changed = audit.received(
            before,
            &["patch", "update"],
            "endpointslices",
            "",
            "local-bench",
        );
        if let Some(changed) = changed {
            let ms = ms_between(changed, fib_seen);
            println!(
                "{name} run {run}: endpoint gone (slice write received) → tor1 FIB {ms:.1} ms"
            );
            fib.push(ms);
        }
        changes.push(changed);
        apply(plane, &endpoint_slice("local", &NODES, "local"));
    }
    std::thread::sleep(Duration::from_secs(2));
    for (run, changed) in changes.iter().enumerate() {
        let Some(changed) = changed else { continue };
        match capture.first_withdrawal_after(epoch(*changed), "10.0.0.21", LOCAL_IP) {
            Some(time) => {
                let ms = (time - epoch(*changed)) * 1e3;
                println!(
                    "{name} run {run}: endpoint gone (slice write received) → withdrawal on the wire at tor1 {ms:.2} ms"
                );
                wire.push(ms);
            }
            None => println!("{name} run {run}: no withdrawal captured"),
        }
    }
    drop(capture);
    figures.push((
        "endpoint gone (API server receives the EndpointSlice write) → withdrawal on the wire at tor1".into(),
        summary(&wire, "ms", 2),
    ));
    figures.push((
        "endpoint gone (EndpointSlice write received) → next hop gone from tor1's FIB".into(),
        summary(&fib, "ms", 1),
    ));

    // 3. Service created → route in both ToRs' FIBs.
    let mut created = Vec::new();
    for run in 0..runs {
        let svc = format!("route-{run}");
        let ip = format!("203.0.113.{}", 100 + run);
        let before = SystemTime::now();
        apply(
            plane,
            &format!(
                "{}---\n{}",
                service(&svc, Some(&ip), "Cluster", "route"),
                endpoint_slice(&svc, &["node-21"], "route")
            ),
        );
        for tor in ["tor1", "tor2"] {
            fabric
                .wait_next_hops(tor, &ip, &all, Duration::from_secs(60))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let both = SystemTime::now();
        if let Some(added) = audit.wait(before, &["create"], "services", "", &svc) {
            let ms = ms_between(added, both);
            println!("{name} run {run}: Service created → both ToRs' FIBs {ms:.1} ms");
            created.push(ms);
        }
    }
    drop(services);
    figures.push((
        "Service created (API server) → route in both ToRs' FIBs".into(),
        summary(&created, "ms", 1),
    ));

    // 4. Hard failure of node-22 → tor1's and tor2's FIBs, bounded.
    let failure_runs = runs.min(env_count("FAILURE_RUNS", 5));
    let (mut tor1, mut tor2) = (Vec::new(), Vec::new());
    let (mut tor1_missed, mut tor2_missed) = (0, 0);
    for run in 0..failure_runs {
        for tor in ["tor1", "tor2"] {
            fabric
                .wait_next_hops(tor, LOCAL_IP, &all, Duration::from_secs(150))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        std::thread::sleep(Duration::from_secs(2));
        fabric.cut("node-22").unwrap();
        let times = first_times(fabric, LOCAL_IP, &hops(&[21, 23]), FAILURE_BOUND);
        let text: Vec<String> = ["tor1", "tor2"]
            .iter()
            .zip(&times)
            .map(|(tor, time)| match time {
                Some(ms) => format!("{tor} FIB {ms:.0} ms"),
                None => format!(
                    "{tor} still via node-22 after {} s",
                    FAILURE_BOUND.as_secs()
                ),
            })
            .collect();
        println!("{name} run {run}: node-22 cut → {}", text.join(", "));
        for ((list, missed), time) in [(&mut tor1, &mut tor1_missed), (&mut tor2, &mut tor2_missed)]
            .into_iter()
            .zip(times)
        {
            match time {
                Some(ms) => list.push(ms),
                None => *missed += 1,
            }
        }
        fabric.restore("node-22").unwrap();
    }
    let bounded = |values: &[f64], missed: usize| {
        if missed == failure_runs {
            format!(
                "not within {} s ({missed} of {failure_runs})",
                FAILURE_BOUND.as_secs()
            )
        } else if missed > 0 {
            format!(
                "{}; not within {} s in {missed} of {failure_runs}",
                summary(values, "ms", 0),
                FAILURE_BOUND.as_secs()
            )
        } else {
            summary(values, "ms", 0)
        }
    };
    let tor1_note = match running {
        Running::IronLb { .. } => "BFD 300 ms × 3",
        Running::MetalLb(_, BgpType::Native) => {
            "native: no BFD, no receive hold timer; tor1 hold 90 s"
        }
        Running::MetalLb(_, BgpType::Frr) => "FRR's BFD 300 ms × 3",
    };
    figures.push((
        "node hard failure → gone from tor1's FIB".into(),
        format!("{} ({tor1_note})", bounded(&tor1, tor1_missed)),
    ));
    figures.push((
        "node hard failure → gone from tor2's FIB (no BFD, hold 9 s)".into(),
        bounded(&tor2, tor2_missed),
    ));

    // 5. Speaker restart (SIGTERM, start again) → next-hop removals at the ToRs.
    for tor in ["tor1", "tor2"] {
        fabric
            .wait_next_hops(tor, LOCAL_IP, &all, Duration::from_secs(150))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let restarts = runs.min(env_count("RESTART_RUNS", 5));
    let watches: Vec<FibWatch> = ["tor1", "tor2"]
        .iter()
        .map(|tor| FibWatch::start(fabric.tor(tor).frr.namespace(), LOCAL_IP).unwrap())
        .collect();
    let since = Instant::now();
    let node = Ipv4Addr::new(10, 0, 0, 21);
    let mut outages = Vec::new();
    for run in 0..restarts {
        let start = Instant::now();
        running.restart_speaker(fabric, plane, "node-21");
        // Up to 20 s for the next hop to leave (a graceful speaker may keep it), then until
        // it is back at both ToRs.
        std::thread::sleep(Duration::from_secs(3));
        for tor in ["tor1", "tor2"] {
            fabric
                .wait_next_hops(tor, LOCAL_IP, &all, Duration::from_secs(120))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for watch in &watches {
            if let Some(left) = watch.first(start, |h| !h.contains(&node))
                && let Some(back) = watch.first(left, |h| h.contains(&node))
            {
                outages.push((back - left).as_secs_f64() * 1e3);
            }
        }
        println!(
            "{name} run {run}: node-21's speaker restarted; removals so far at tor1 / tor2: {} / {}",
            watches[0].removals(node, since),
            watches[1].removals(node, since)
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let removals: Vec<usize> = watches.iter().map(|w| w.removals(node, since)).collect();
    drop(watches);
    figures.push((
        "speaker restart (SIGTERM, start) → node's next-hop removals at tor1 / tor2".into(),
        format!(
            "{} / {} in {restarts} restarts; next hop absent {}",
            removals[0],
            removals[1],
            if outages.is_empty() {
                "never".to_string()
            } else {
                summary(&outages, "ms", 0)
            }
        ),
    ));

    // 6. COUNT Services with an EndpointSlice each: memory and CPU.
    figures.extend(scale(fabric, plane, running, count));
    figures
}

/// Waits for a MODIFIED event of `svc` whose IP column holds an address.
fn wait_ip(watch: &Watch, after: SystemTime, svc: &str, timeout: Duration) -> Option<SystemTime> {
    let start = Instant::now();
    loop {
        let found = watch.lines.lock().unwrap().iter().find_map(|(time, line)| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (*time >= after
                && fields.len() == 3
                && fields[1] == svc
                && fields[2].parse::<Ipv4Addr>().is_ok())
            .then_some(*time)
        });
        if found.is_some() || start.elapsed() > timeout {
            return found;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// For tor1 and tor2: when (ms after the call) `prefix` first had exactly `expected` next
/// hops in its FIB, or `None` if not within `bound`.
fn first_times(
    fabric: &Fabric,
    prefix: &str,
    expected: &[Ipv4Addr],
    bound: Duration,
) -> Vec<Option<f64>> {
    let start = Instant::now();
    let mut times = vec![None; 2];
    while start.elapsed() < bound && times.iter().any(Option::is_none) {
        for (index, tor) in ["tor1", "tor2"].iter().enumerate() {
            if times[index].is_none() && fabric.next_hops(tor, prefix) == expected {
                times[index] = Some(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    times
}

/// Routes learnt by BGP in a ToR's FIB.
fn bgp_routes(fabric: &Fabric, tor: &str) -> usize {
    fabric
        .tor(tor)
        .frr
        .namespace()
        .ip(&["route", "show", "proto", "bgp"])
        .map(|text| {
            text.lines()
                .filter(|l| !l.starts_with(char::is_whitespace))
                .count()
        })
        .unwrap_or(0)
}

/// Creates objects with `kubectl create -f -`, 500 per call.
fn create_many(plane: &SwitchPlane, count: usize, make: impl Fn(usize) -> String + Sync) {
    // Four kubectl at a time (each is paced by its client-side rate limit), 250 objects each.
    let chunks: Vec<(usize, usize)> = (0..count)
        .step_by(250)
        .map(|start| (start, (start + 250).min(count)))
        .collect();
    for group in chunks.chunks(SHARDS) {
        std::thread::scope(|scope| {
            for &(start, end) in group {
                let make = &make;
                scope.spawn(move || {
                    let yaml: String = (start..end).map(|i| format!("---\n{}", make(i))).collect();
                    plane
                        .kubectl(&["create", "-f", "-", "-o", "name"], Some(&yaml))
                        .unwrap_or_else(|e| panic!("{e}"));
                });
            }
        });
    }
}

/// Parallel kubectl processes for bulk creation and deletion.
const SHARDS: usize = 4;

fn bulk_service(i: usize) -> String {
    service(&format!("bulk-{i}"), None, "Cluster", "bulk").replace(
        "  labels: {bench: \"bulk\"}\n",
        &format!(
            "  labels: {{bench: \"bulk\", churn: \"{}\", shard: \"{}\"}}\n  annotations: {{metallb.io/address-pool: bulk}}\n",
            i < 1000,
            i % SHARDS
        ),
    )
}

fn bulk_slice(i: usize) -> String {
    endpoint_slice(&format!("bulk-{i}"), &["node-21", "node-22"], "bulk").replace(
        "bench: \"bulk\"}",
        &format!("bench: \"bulk\", churn: \"{}\"}}", i < 1000),
    )
}

fn scale(fabric: &Fabric, plane: &SwitchPlane, running: &Running, count: usize) -> Figures {
    let name = running.name();
    let controller = running.controller_pid();
    let speaker = running.speaker_pid("node-21");
    let speakers: Vec<u32> = NODES.iter().map(|n| running.speaker_pid(n)).collect();
    let cpu = || {
        (
            cpu_seconds(controller),
            speakers
                .iter()
                .map(|p| cpu_seconds(*p))
                .collect::<Vec<f64>>(),
        )
    };
    let base_routes = bgp_routes(fabric, "tor1");
    let wait_routes = |expected: usize, what: &str| {
        let start = Instant::now();
        let grow = expected >= bgp_routes(fabric, "tor1");
        loop {
            let now = bgp_routes(fabric, "tor1");
            if (grow && now >= expected) || (!grow && now <= expected) {
                break;
            }
            if start.elapsed() > Duration::from_secs(900) {
                println!(
                    "{name}: {what}: tor1 has {} BGP routes, expected {expected}",
                    bgp_routes(fabric, "tor1")
                );
                return false;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        true
    };
    let (controller_before, speakers_before) = cpu();
    let start = Instant::now();
    create_many(plane, count, bulk_service);
    create_many(plane, count, bulk_slice);
    println!(
        "{name}: {count} Services and {count} EndpointSlices created in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let complete = wait_routes(base_routes + count, "after creation");
    println!(
        "{name}: all {count} routes in tor1's FIB {:.1} s after creation began",
        start.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));
    let (controller_created, speakers_created) = cpu();
    let (controller_rss, controller_peak) = ironlb_lab::memory_mib(controller);
    let (speaker_rss, speaker_peak) = ironlb_lab::memory_mib(speaker);
    let mut figures = Figures::new();
    figures.push((
        format!("{count} Services + EndpointSlices: controller RSS (peak)"),
        format!("{controller_rss:.1} MiB ({controller_peak:.1})"),
    ));
    figures.push((
        format!("{count} Services + EndpointSlices: speaker RSS (peak), node-21"),
        format!("{speaker_rss:.1} MiB ({speaker_peak:.1})"),
    ));
    let speaker_delta = |after: &[f64], before: &[f64]| {
        let each: Vec<String> = after
            .iter()
            .zip(before)
            .map(|(a, b)| format!("{:.1}", a - b))
            .collect();
        each.join(" / ")
    };
    figures.push((
        format!("CPU creating {count} (controller; speakers node-21 / 22 / 23)"),
        format!(
            "{:.1} s; {} s{}",
            controller_created - controller_before,
            speaker_delta(&speakers_created, &speakers_before),
            if complete { "" } else { " (routes incomplete)" }
        ),
    ));

    // Churn: 1,000 deleted, then created again.
    let churn = count.min(1000);
    let start = Instant::now();
    delete_objects(plane, "churn=true");
    wait_routes(base_routes + count - churn, "after deleting");
    create_many(plane, churn, bulk_service);
    create_many(plane, churn, bulk_slice);
    let complete = wait_routes(base_routes + count, "after churn");
    println!(
        "{name}: {churn} churned (deleted, created again, all routes back) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));
    let (controller_churned, speakers_churned) = cpu();
    figures.push((
        format!("CPU churning {churn} (deleted and created again)"),
        format!(
            "{:.1} s; {} s{}",
            controller_churned - controller_created,
            speaker_delta(&speakers_churned, &speakers_created),
            if complete { "" } else { " (routes incomplete)" }
        ),
    ));
    let (speaker_rss, speaker_peak) = ironlb_lab::memory_mib(speaker);
    let (controller_rss, controller_peak) = ironlb_lab::memory_mib(controller);
    println!(
        "{name}: after churn: controller RSS {controller_rss:.1} MiB (peak {controller_peak:.1}), speaker {speaker_rss:.1} MiB (peak {speaker_peak:.1})"
    );
    figures
}
