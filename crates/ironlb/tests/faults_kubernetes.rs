//! Kubernetes and controller faults (issue 12, item 3) on a real control plane (etcd and
//! kube-apiserver built by `tools/kube`) and, where routes matter, a real FRR ToR:
//!
//! - the controller SIGKILLed in the middle of a burst of 1,000 Service creations, in
//!   Kubernetes mode and in directory mode: after a new controller starts, every Service has
//!   exactly one address from the pool, no address is held twice, the addresses written before
//!   the kill did not move, and the pool's counts agree;
//! - kube-apiserver, then etcd, SIGKILLed and started again under a running controller and
//!   speaker: the ToR keeps every route meanwhile, and afterwards a Service created is
//!   announced and one deleted is withdrawn (the watches resumed);
//! - 3,000 Services (an EndpointSlice each; 10,000 with `IRONLB_KFAULTS_SERVICES=10000`, see
//!   [`DEFAULT_CHURN_SERVICES`]), a tenth of them deleted and replaced while
//!   the ToR's bgpd is killed and started again: the ToR ends with exactly the live Services'
//!   routes, and the speaker's metrics and ServiceBGPStatus objects agree.
//!
//! The tests assert behaviour; the times they print are for the reader. They run one at a
//! time (each keeps an API server busy with thousands of writes; two at once on a two-core
//! machine would only slow both). The lab's API server listens in the switch namespace, which
//! the host cannot reach: bulk creations there run in this test binary started again inside
//! that namespace ([`bulk_specs_are_operations`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ironlb_api::k8s_openapi::api::core::v1::Service;
use ironlb_api::k8s_openapi::api::discovery::v1::EndpointSlice;
use ironlb_cluster::status::{self, ControllerStatus};
use ironlb_lab::fabric::{Fabric, FabricSpec, SWITCH_ADDRESS};
use ironlb_lab::kube_faults::{Component, Plane};
use ironlb_lab::{Namespace, Process};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");

/// One test at a time (see the module documentation).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A process this test started, its output in a log file; SIGKILLed (if still running) and
/// reaped when dropped, also when the test fails.
struct Reaped(Child);

impl Reaped {
    fn spawn(command: &mut Command, log: &Path) -> Reaped {
        let log = std::fs::File::create(log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Reaped(child)
    }

    /// SIGKILL (a crash, the OOM killer), and reaped.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        self.kill();
    }
}

use ironlb_lab::eventually;

// --- Objects --------------------------------------------------------------------------------

/// A LoadBalancer Service; ETP Cluster (every node announces it once an endpoint anywhere can
/// serve); no node ports (10,000 Services would exhaust the 2,768 of the default range).
fn service(name: &str, pool: Option<&str>) -> String {
    let annotations = pool
        .map(|pool| format!(", annotations: {{metallb.io/address-pool: {pool}}}"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default{annotations}}}\nspec: {{type: LoadBalancer, externalTrafficPolicy: Cluster, allocateLoadBalancerNodePorts: false, selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n"
    )
}

/// The Service's EndpointSlice: one ready endpoint on node-21.
fn endpoint_slice(name: &str) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-lab, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{port: 80, protocol: TCP}}]\nendpoints: [{{addresses: [10.244.0.10], conditions: {{ready: true}}, nodeName: node-21}}]\n"
    )
}

fn name(index: usize) -> String {
    format!("svc-{index}")
}

/// The pool that Services asking for none get addresses from.
const POOL: &str = "faults";
/// A pool only Services asking for it (`metallb.io/address-pool`) get addresses from: those
/// the churn creates, so the addresses of those it deletes are not given again and must
/// leave the ToR.
const CHURN_POOL: &str = "churned";
const CHURN_ADDRESSES: &str = "198.18.128.0/20";

/// The pools, the ToR as BGPPeer, an advertisement of both pools, and node-21.
fn configuration(addresses: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {POOL}, namespace: metallb-system}}\nspec: {{addresses: [{addresses}]}}\n---\napiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {CHURN_POOL}, namespace: metallb-system}}\nspec: {{addresses: [{CHURN_ADDRESSES}], autoAssign: false}}\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: tor1, namespace: metallb-system}}\nspec: {{myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.1}}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: faults, namespace: metallb-system}}\nspec: {{ipAddressPools: [{POOL}, {CHURN_POOL}]}}\n---\napiVersion: v1\nkind: Node\nmetadata: {{name: node-21, labels: {{kubernetes.io/hostname: node-21}}}}\n"
    )
}

fn crds() -> String {
    let output = Command::new(IRONLB).arg("crds").output().unwrap();
    assert!(output.status.success(), "ironlb crds failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether `ip` is in `network` (`a.b.c.d/len`).
fn in_network(ip: Ipv4Addr, network: &str) -> bool {
    let (base, length) = network.split_once('/').unwrap();
    let base: Ipv4Addr = base.parse().unwrap();
    let length: u32 = length.parse().unwrap();
    let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
    u32::from(ip) & mask == u32::from(base) & mask
}

/// The addresses of a network (`a.b.c.d/len`).
fn network_size(network: &str) -> i64 {
    let length: u32 = network.split_once('/').unwrap().1.parse().unwrap();
    1i64 << (32 - length)
}

// --- Bulk creation and deletion through the API client, 16 at a time -------------------------

#[derive(Clone, Debug)]
enum Operation {
    /// A Service (asking for a pool, or not).
    Create(String, Option<&'static str>),
    Delete(String),
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

async fn client(kubeconfig: &Path) -> kube::Client {
    let config = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Runs `operations` 16 at a time; with `slices`, each Service comes and goes with its
/// EndpointSlice (made first, deleted last).
async fn run_operations(
    client: kube::Client,
    operations: Vec<Operation>,
    slices: bool,
) -> Result<(), String> {
    use futures::StreamExt;
    use kube::api::{Api, DeleteParams, PostParams};
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let endpoint_slices: Api<EndpointSlice> = Api::namespaced(client, "default");
    let results: Vec<Result<(), String>> = futures::stream::iter(operations)
        .map(|operation| {
            let (services, endpoint_slices) = (services.clone(), endpoint_slices.clone());
            async move {
                match operation {
                    Operation::Create(name, pool) => {
                        if slices {
                            let slice: EndpointSlice =
                                serde_saphyr::from_str(&endpoint_slice(&name)).unwrap();
                            endpoint_slices
                                .create(&PostParams::default(), &slice)
                                .await
                                .map_err(|e| format!("create EndpointSlice {name}-lab: {e}"))?;
                        }
                        let object: Service =
                            serde_saphyr::from_str(&service(&name, pool)).unwrap();
                        services
                            .create(&PostParams::default(), &object)
                            .await
                            .map_err(|e| format!("create Service {name}: {e}"))?;
                    }
                    Operation::Delete(name) => {
                        services
                            .delete(&name, &DeleteParams::default())
                            .await
                            .map_err(|e| format!("delete Service {name}: {e}"))?;
                        if slices {
                            endpoint_slices
                                .delete(&format!("{name}-lab"), &DeleteParams::default())
                                .await
                                .map_err(|e| format!("delete EndpointSlice {name}-lab: {e}"))?;
                        }
                    }
                }
                Ok(())
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().collect()
}

/// What [`run_bulk`] is to do, from its environment variable: `create FROM TO` (Services
/// FROM..TO) or `churn FROM TO NEW` (delete FROM..TO and create as many from NEW on,
/// interleaved).
const BULK_VARIABLE: &str = "IRONLB_KFAULTS_BULK";

fn bulk_operations(spec: &str) -> Vec<Operation> {
    let words: Vec<&str> = spec.split_whitespace().collect();
    let number = |i: usize| -> usize { words[i].parse().unwrap() };
    match words[0] {
        "create" => (number(1)..number(2))
            .map(|i| Operation::Create(name(i), None))
            .collect(),
        "churn" => (number(1)..number(2))
            .flat_map(|i| {
                let new = number(3) + i - number(1);
                [
                    Operation::Delete(name(i)),
                    Operation::Create(name(new), Some(CHURN_POOL)),
                ]
            })
            .collect(),
        _ => panic!("{BULK_VARIABLE}: unknown {spec:?}"),
    }
}

/// The bulk creations and deletions of the tests below are run inside the lab's switch
/// namespace (where the API server listens and the host cannot reach) by this test binary
/// started again there, as `ip netns exec SWITCH <this binary> bulk_specs_are_operations
/// --exact`, with `IRONLB_KFAULTS_BULK` saying what to do and `KUBECONFIG` where. Started by
/// `cargo test` (no such variable), the test checks how the specifications read.
#[test]
fn bulk_specs_are_operations() {
    if let Ok(spec) = std::env::var(BULK_VARIABLE) {
        run_bulk(&spec);
        return;
    }
    let created = bulk_operations("create 3 5");
    assert!(
        matches!(&created[..], [Operation::Create(a, None), Operation::Create(b, None)]
            if a == "svc-3" && b == "svc-4"),
        "{created:?}"
    );
    let churned = bulk_operations("churn 0 2 100");
    assert!(
        matches!(&churned[..], [
            Operation::Delete(a), Operation::Create(b, Some(CHURN_POOL)),
            Operation::Delete(c), Operation::Create(d, Some(CHURN_POOL)),
        ] if a == "svc-0" && b == "svc-100" && c == "svc-1" && d == "svc-101"),
        "{churned:?}"
    );
}

fn run_bulk(spec: &str) {
    let kubeconfig = PathBuf::from(std::env::var("KUBECONFIG").unwrap());
    let operations = bulk_operations(spec);
    let count = operations.len();
    let start = Instant::now();
    runtime()
        .block_on(async { run_operations(client(&kubeconfig).await, operations, true).await })
        .unwrap_or_else(|e| panic!("{spec}: {e}"));
    println!(
        "bulk {spec}: {count} operations (each with its EndpointSlice) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

// --- 1. The controller killed during a burst -------------------------------------------------

/// Of each Service: its ingress IPs and its pool annotation.
type Assignments = BTreeMap<String, (Vec<Ipv4Addr>, Option<String>)>;

/// `kubectl get svc -o json` as [`Assignments`].
fn services_with_pools(json: &str) -> Result<Assignments, String> {
    let list: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut services = BTreeMap::new();
    for item in list["items"].as_array().ok_or("no items")? {
        let name = item["metadata"]["name"].as_str().unwrap_or_default();
        if name == "kubernetes" {
            continue;
        }
        let ips = item["status"]["loadBalancer"]["ingress"]
            .as_array()
            .map(|ingress| {
                ingress
                    .iter()
                    .filter_map(|i| i["ip"].as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let pool = item["metadata"]["annotations"]["metallb.io/ip-allocated-from-pool"]
            .as_str()
            .map(str::to_string);
        services.insert(name.to_string(), (ips, pool));
    }
    Ok(services)
}

/// No address is held by two Services, at any moment (checked at every look, not only at
/// the end).
fn assert_no_address_twice(what: &str, services: &BTreeMap<String, Vec<Ipv4Addr>>) {
    let mut holders: BTreeMap<Ipv4Addr, Vec<&str>> = BTreeMap::new();
    for (name, ips) in services {
        for ip in ips {
            holders.entry(*ip).or_default().push(name);
        }
    }
    let shared: Vec<_> = holders
        .iter()
        .filter(|(_, names)| names.len() > 1)
        .collect();
    assert!(
        shared.is_empty(),
        "{what}: addresses given twice: {shared:?}"
    );
}

/// Every Service has exactly one address, from `pool`; no address is held twice; those of
/// `before` did not move.
fn assert_unique_assignments(
    what: &str,
    services: &BTreeMap<String, Vec<Ipv4Addr>>,
    pool: &str,
    before: &BTreeMap<String, Vec<Ipv4Addr>>,
) {
    for (name, ips) in services {
        assert_eq!(ips.len(), 1, "{what}: {name} has {ips:?}, not one address");
        assert!(
            in_network(ips[0], pool),
            "{what}: {name}: {ips:?} not in {pool}"
        );
    }
    assert_no_address_twice(what, services);
    for (name, ips) in before {
        if !ips.is_empty() {
            assert_eq!(
                services.get(name),
                Some(ips),
                "{what}: {name} moved after the restart"
            );
        }
    }
}

const BURST: usize = 1_000;
const BURST_POOL: &str = "198.18.0.0/20";
/// The controller is killed once this many Services have an address.
const KILL_AT: usize = 300;

#[test]
fn a_controller_killed_during_a_burst_of_services_leaves_each_one_address() {
    let test = "a_controller_killed_during_a_burst_of_services_leaves_each_one_address";
    if !ironlb_lab::require(test, &["go"]) {
        return;
    }
    let _one = one_at_a_time();
    let plane = Plane::start("kf-burst", None, "127.0.0.1").unwrap_or_else(|e| panic!("{e}"));
    let kubectl = |args: &[&str], stdin: Option<&str>| {
        plane.kubectl(args, stdin).unwrap_or_else(|e| panic!("{e}"))
    };
    kubectl(&["create", "namespace", "metallb-system"], None);
    kubectl(&["apply", "-f", "-"], Some(&crds()));
    kubectl(
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
    kubectl(
        &["apply", "-f", "-"],
        Some(&format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: burst, namespace: metallb-system}}\nspec: {{addresses: [{BURST_POOL}]}}\n"
        )),
    );
    let controller_args = [
        "controller",
        "--kubernetes",
        "--identity",
        "controller-0",
        "--metrics-address",
        "off",
        "--webhook-address",
        "off",
    ];
    let controller = |log: &str| {
        Reaped::spawn(
            Command::new(IRONLB)
                .args(controller_args)
                .env("KUBECONFIG", plane.kubeconfig()),
            &plane.dir.join(log),
        )
    };
    let mut first = controller("controller-first.log");

    // The burst, from another thread, as fast as the API takes it (16 at a time).
    let kubeconfig = plane.kubeconfig();
    let start = Instant::now();
    let creator = std::thread::spawn(move || {
        let operations = (0..BURST)
            .map(|i| Operation::Create(name(i), None))
            .collect();
        runtime().block_on(async {
            run_operations(client(&kubeconfig).await, operations, false).await
        })?;
        Ok::<Duration, String>(start.elapsed())
    });
    let assigned = |plane: &Plane| -> Result<BTreeMap<String, Vec<Ipv4Addr>>, String> {
        let json = plane.kubectl(&["get", "svc", "-n", "default", "-o", "json"], None)?;
        let services = services_with_pools(&json)?
            .into_iter()
            .map(|(name, (ips, _))| (name, ips))
            .collect();
        assert_no_address_twice("Kubernetes", &services);
        Ok(services)
    };
    let assigned_then = eventually(
        &format!("{KILL_AT} Services with an address"),
        Duration::from_secs(180),
        Duration::from_millis(100),
        || {
            let services = assigned(&plane)?;
            let with_ip = services.values().filter(|ips| !ips.is_empty()).count();
            (with_ip >= KILL_AT)
                .then_some(with_ip)
                .ok_or(format!("{with_ip} so far"))
        },
    );
    first.kill();
    let killed_at = start.elapsed();
    // Patches the controller sent before dying are done within moments.
    std::thread::sleep(Duration::from_secs(1));
    let before = assigned(&plane).unwrap_or_else(|e| panic!("{e}"));
    let held_at_kill = before.values().filter(|ips| !ips.is_empty()).count();
    println!(
        "controller SIGKILLed {:.1} s into the burst, {assigned_then} Services with an address when seen, {held_at_kill} a second later, {} created",
        killed_at.as_secs_f64(),
        before.len()
    );
    assert!(
        held_at_kill < BURST,
        "the controller was not killed midway: all {BURST} had an address"
    );
    // A new controller process (the container restarted: same Pod, same identity).
    let second = controller("controller-second.log");
    let created_in = creator
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("the burst failed: {e}"));
    let services = eventually(
        &format!("all {BURST} Services with an address"),
        Duration::from_secs(300),
        Duration::from_millis(500),
        || {
            let services = assigned(&plane)?;
            let with_ip = services.values().filter(|ips| !ips.is_empty()).count();
            (services.len() == BURST && with_ip == BURST)
                .then_some(services)
                .ok_or(format!("{with_ip} of {BURST}"))
        },
    );
    println!(
        "{BURST} Services created in {:.1} s; all with an address {:.1} s after the burst began",
        created_in.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    assert_unique_assignments("Kubernetes", &services, BURST_POOL, &before);
    // Every Service names its pool, and the pool's status counts what is held.
    let json = plane
        .kubectl(&["get", "svc", "-n", "default", "-o", "json"], None)
        .unwrap();
    for (name, (_, pool)) in services_with_pools(&json).unwrap() {
        assert_eq!(pool.as_deref(), Some("burst"), "{name}'s pool annotation");
    }
    let wanted = format!("{BURST} {} 0 0", network_size(BURST_POOL) - BURST as i64);
    eventually(
        "the IPAddressPool's status counts",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || {
            let counts = plane.kubectl(
                &[
                    "get",
                    "ipaddresspool",
                    "burst",
                    "-n",
                    "metallb-system",
                    "-o",
                    "jsonpath={.status.assignedIPv4} {.status.availableIPv4} {.status.assignedIPv6} {.status.availableIPv6}",
                ],
                None,
            )?;
            (counts == wanted)
                .then_some(())
                .ok_or(format!("{counts:?}, not {wanted:?}"))
        },
    );
    let log = std::fs::read_to_string(plane.dir.join("controller-second.log")).unwrap();
    assert!(log.contains("became the leader"), "{log}");
    drop(second);
}

#[test]
fn a_directory_mode_controller_killed_during_a_burst_leaves_each_one_address() {
    let test = "a_directory_mode_controller_killed_during_a_burst_leaves_each_one_address";
    if !ironlb_lab::require(test, &[]) {
        return;
    }
    let _one = one_at_a_time();
    let dir = std::env::temp_dir().join(format!("ironlb-kfaults-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("pool.yaml"),
        format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: burst, namespace: metallb-system}}\nspec: {{addresses: [{BURST_POOL}]}}\n"
        ),
    )
    .unwrap();
    let controller = |log: &str| {
        Reaped::spawn(
            Command::new(IRONLB)
                .args(["controller", "--metrics-address", "off", "--cluster-dir"])
                .arg(&dir),
            &dir.join(log),
        )
    };
    let mut first = controller(".first.log");
    let status = || status::read::<ControllerStatus>(&dir, status::CONTROLLER_FILE);
    // Counted from the text (quick enough to watch every 10 ms): one `- "198.18.x.y"` line
    // per address held.
    let held = || {
        std::fs::read_to_string(status::status_path(&dir, status::CONTROLLER_FILE))
            .map(|text| {
                text.lines()
                    .filter(|l| l.trim_start().starts_with("- \"198.18."))
                    .count()
            })
            .unwrap_or(0)
    };
    eventually(
        "the controller's first status",
        Duration::from_secs(30),
        Duration::from_millis(10),
        || status().map(|_| ()).ok_or("none yet".to_string()),
    );
    let assigned = |status: &ControllerStatus| -> BTreeMap<String, Vec<Ipv4Addr>> {
        status
            .services
            .iter()
            .map(|s| {
                let ips = s
                    .ingress
                    .iter()
                    .filter_map(|ip| match ip {
                        std::net::IpAddr::V4(ip) => Some(*ip),
                        std::net::IpAddr::V6(_) => None,
                    })
                    .collect();
                (s.name.clone(), ips)
            })
            .collect()
    };
    // The burst: a file per Service, each written whole (a hidden name, then renamed), ten
    // every 100 ms. Much faster, and the controller writes nothing until the burst is over:
    // its directory watch, on the same thread, builds a snapshot per inotify read without
    // yielding, so while files keep coming faster than a snapshot takes (about 200 Services
    // with ten every 20 ms, debug build) the controller does not run, and there is no midway
    // to kill it at.
    let writer_dir = dir.clone();
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        for i in 0..BURST {
            let file = format!("{}.yaml", name(i));
            let temporary = writer_dir.join(format!(".{file}.tmp"));
            std::fs::write(&temporary, service(&name(i), None)).unwrap();
            std::fs::rename(&temporary, writer_dir.join(file)).unwrap();
            if i % 10 == 9 {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        start.elapsed()
    });
    let assigned_then = eventually(
        &format!("{KILL_AT} Services with an address"),
        Duration::from_secs(120),
        Duration::from_millis(10),
        || {
            let with_ip = held();
            (with_ip >= KILL_AT)
                .then_some(with_ip)
                .ok_or(format!("{with_ip} so far"))
        },
    );
    first.kill();
    let killed_at = start.elapsed();
    let before = status().map(|s| assigned(&s)).unwrap_or_default();
    let held_at_kill = before.values().filter(|ips| !ips.is_empty()).count();
    println!(
        "directory mode: controller SIGKILLed {:.2} s into the burst with {held_at_kill} Services assigned in its status file ({assigned_then} when seen)",
        killed_at.as_secs_f64()
    );
    assert!(
        held_at_kill < BURST,
        "the controller was not killed midway: all {BURST} had an address"
    );
    let second = controller(".second.log");
    let written_in = writer.join().unwrap();
    let last = eventually(
        &format!("all {BURST} Services with an address in the status file"),
        Duration::from_secs(120),
        Duration::from_millis(100),
        || {
            let status = status().ok_or("no status file")?;
            let services = assigned(&status);
            assert_no_address_twice("directory mode", &services);
            let with_ip = services.values().filter(|ips| !ips.is_empty()).count();
            (services.len() == BURST && with_ip == BURST)
                .then_some(status)
                .ok_or(format!("{with_ip} of {BURST}"))
        },
    );
    println!(
        "directory mode: {BURST} Service files written in {:.2} s; all assigned {:.2} s after the burst began",
        written_in.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    assert_unique_assignments("directory mode", &assigned(&last), BURST_POOL, &before);
    let pool = last
        .pools
        .iter()
        .find(|p| p.name == "burst")
        .expect("the pool's counts");
    assert_eq!(
        (pool.assigned_ipv4, pool.available_ipv4),
        (BURST as i64, network_size(BURST_POOL) - BURST as i64),
        "{pool:?}"
    );
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

// --- 2 and 3: IronLB on Kubernetes with a real FRR ToR ---------------------------------------

/// One FRR ToR (tor1, 10.0.0.1, no BFD) and one node (node-21, 10.0.0.21) on the lab's
/// segment, the control plane in the switch namespace (10.0.0.250), IronLB's controller there
/// and node-21's speaker (metrics on its loopback) in Kubernetes mode.
struct KubeLab {
    // Dropped first: the control plane, then the fabric (IronLB, FRR, namespaces).
    plane: Plane,
    fabric: Fabric,
    node: Namespace,
    controller: Process,
    speaker: Process,
    pool: String,
}

const PROGRAMS: [&str; 4] = ["go", "/usr/lib/frr/bgpd", "bridge", "curl"];

impl KubeLab {
    fn build(name: &str, pool: &str) -> KubeLab {
        let mut spec = FabricSpec::seed(PathBuf::from(IRONLB));
        spec.tors.truncate(1);
        spec.tors[0].bfd = false;
        spec.nodes.truncate(1);
        let mut fabric = Fabric::build(name, spec).unwrap_or_else(|e| panic!("{e}"));
        let plane = Plane::start(name, Some(&fabric.switch), &SWITCH_ADDRESS.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let kubectl = |args: &[&str], stdin: Option<&str>| {
            plane.kubectl(args, stdin).unwrap_or_else(|e| panic!("{e}"))
        };
        kubectl(&["create", "namespace", "metallb-system"], None);
        kubectl(&["apply", "-f", "-"], Some(&crds()));
        kubectl(
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
        kubectl(&["apply", "-f", "-"], Some(&configuration(pool)));
        let kubeconfig = plane.kubeconfig().display().to_string();
        let env = [("KUBECONFIG", kubeconfig.as_str())];
        let switch = fabric.switch_namespace().to_string();
        let controller = fabric
            .spawn_ironlb(
                &switch,
                "controller",
                &env,
                &[
                    "controller",
                    "--kubernetes",
                    "--identity",
                    "controller-0",
                    "--metrics-address",
                    "off",
                    "--webhook-address",
                    "off",
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let node = Namespace::existing(&fabric.nodes[0].namespace);
        let speaker = fabric
            .spawn_ironlb(
                node.name(),
                "speaker-node-21",
                &env,
                &[
                    "speaker",
                    "--kubernetes",
                    "--node",
                    "node-21",
                    "--router-id",
                    "10.0.0.21",
                    "--metrics-address",
                    "127.0.0.1:7472",
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        KubeLab {
            plane,
            fabric,
            node,
            controller,
            speaker,
            pool: pool.to_string(),
        }
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        self.plane
            .kubectl(args, stdin)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates Services (each with its EndpointSlice) with kubectl.
    fn create(&self, names: &[String]) {
        let yaml: Vec<String> = names
            .iter()
            .map(|n| format!("{}---\n{}", service(n, None), endpoint_slice(n)))
            .collect();
        self.kubectl(&["create", "-f", "-"], Some(&yaml.join("---\n")));
    }

    fn delete(&self, name: &str) {
        self.kubectl(&["delete", "svc", name, "-n", "default"], None);
        self.kubectl(
            &[
                "delete",
                "endpointslice",
                &format!("{name}-lab"),
                "-n",
                "default",
            ],
            None,
        );
    }

    /// Runs [`run_bulk`] inside the switch namespace; returns the running process.
    fn bulk(&self, spec: &str) -> Child {
        let exe = std::env::current_exe().unwrap().display().to_string();
        self.plane
            .command(&exe)
            .args(["bulk_specs_are_operations", "--exact", "--nocapture"])
            .env(BULK_VARIABLE, spec)
            .env("KUBECONFIG", self.plane.kubeconfig())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Waits for a [`KubeLab::bulk`] to end; panics unless it succeeded.
    fn finish_bulk(child: Child) {
        let output = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "bulk helper failed:\n{text}");
        for line in text.lines().filter(|l| l.starts_with("bulk ")) {
            println!("{line}");
        }
    }

    /// Every Service in `default`: name → ingress IPs (the table the API server prints: cheap
    /// with thousands of Services).
    fn services(&self) -> Result<BTreeMap<String, Vec<Ipv4Addr>>, String> {
        let table = self
            .plane
            .kubectl(&["get", "svc", "-n", "default", "--no-headers"], None)?;
        let mut services = BTreeMap::new();
        for line in table.lines() {
            let columns: Vec<&str> = line.split_whitespace().collect();
            // NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE
            if columns.len() < 4 || columns[1] != "LoadBalancer" {
                continue;
            }
            let ips = columns[3]
                .split(',')
                .filter_map(|ip| ip.parse().ok())
                .collect();
            services.insert(columns[0].to_string(), ips);
        }
        Ok(services)
    }

    /// The /32s in the ToR's BGP table, once as many as `count` are received (the full table
    /// is only read then: it is megabytes with thousands of routes).
    fn tor_routes(&self, count: usize) -> Result<BTreeSet<Ipv4Addr>, String> {
        let frr = &self.fabric.tor("tor1").frr;
        let summary = frr
            .json("show bgp ipv4 unicast summary json")
            .map_err(|e| e.to_string())?;
        let received = summary["peers"]["10.0.0.21"]["pfxRcd"].as_u64();
        if received != Some(count as u64) {
            return Err(format!(
                "the ToR has {received:?} routes from node-21, not {count} (session {})",
                summary["peers"]["10.0.0.21"]["state"]
            ));
        }
        self.tor_table()
    }

    /// Every /32 in the ToR's BGP table.
    fn tor_table(&self) -> Result<BTreeSet<Ipv4Addr>, String> {
        let frr = &self.fabric.tor("tor1").frr;
        let table = frr
            .json("show bgp ipv4 unicast json")
            .map_err(|e| e.to_string())?;
        Ok(table["routes"]
            .as_object()
            .map(|routes| {
                routes
                    .keys()
                    .filter_map(|prefix| prefix.strip_suffix("/32")?.parse().ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until `count` Services each hold one address of the pool, all different, and
    /// the ToR's BGP table is exactly those addresses; returns name → address.
    fn wait_plan(&self, count: usize, timeout: Duration) -> BTreeMap<String, Ipv4Addr> {
        let every = if count > 1_000 {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(250)
        };
        eventually(
            &format!("the ToR announcing exactly the {count} Services' addresses"),
            timeout,
            every,
            || {
                let services = self.services()?;
                let with_one: BTreeMap<String, Ipv4Addr> = services
                    .iter()
                    .filter(|(_, ips)| ips.len() == 1)
                    .map(|(name, ips)| (name.clone(), ips[0]))
                    .collect();
                if services.len() != count || with_one.len() != count {
                    return Err(format!(
                        "{} Services, {} with one address",
                        services.len(),
                        with_one.len()
                    ));
                }
                let plan: BTreeSet<Ipv4Addr> = with_one.values().copied().collect();
                let in_pools =
                    |ip: &Ipv4Addr| in_network(*ip, &self.pool) || in_network(*ip, CHURN_ADDRESSES);
                if plan.len() != count || !plan.iter().all(in_pools) {
                    return Err("addresses not unique or not in the pools".to_string());
                }
                let routes = self.tor_routes(count)?;
                if routes != plan {
                    let missing = plan.difference(&routes).take(5).collect::<Vec<_>>();
                    let stale = routes.difference(&plan).take(5).collect::<Vec<_>>();
                    return Err(format!("ToR missing {missing:?}..., stale {stale:?}..."));
                }
                Ok(with_one)
            },
        )
    }

    /// What the speaker's metrics say: prefixes announced to the ToR, and the (Service,
    /// address) pairs announced.
    fn speaker_metrics(&self) -> Result<(u64, BTreeSet<(String, Ipv4Addr)>), String> {
        let text = self
            .node
            .exec(
                "curl",
                &["-s", "--max-time", "20", "http://127.0.0.1:7472/metrics"],
            )
            .map_err(|e| e.to_string())?;
        let mut announced = None;
        let mut services = BTreeSet::new();
        for line in text.lines() {
            if let Some(value) =
                line.strip_prefix("metallb_bgp_announced_prefixes_total{peer=\"10.0.0.1:179\"} ")
            {
                announced = value.trim().parse().ok();
            }
            if line.starts_with("metallb_speaker_announced{") && line.ends_with(" 1") {
                let label = |key: &str| {
                    let start = line.find(&format!("{key}=\""))? + key.len() + 2;
                    let end = start + line[start..].find('"')?;
                    Some(line[start..end].to_string())
                };
                if let (Some(ip), Some(service)) = (label("ip"), label("service")) {
                    let service = service.trim_start_matches("default/").to_string();
                    services.insert((service, ip.parse().map_err(|_| ip.clone())?));
                }
            }
        }
        Ok((
            announced.ok_or("no announced prefixes metric for tor1")?,
            services,
        ))
    }

    /// Waits until the speaker's metrics show exactly `plan`.
    fn wait_metrics(&self, plan: &BTreeMap<String, Ipv4Addr>) {
        let wanted: BTreeSet<(String, Ipv4Addr)> =
            plan.iter().map(|(name, ip)| (name.clone(), *ip)).collect();
        eventually(
            "the speaker's metrics showing the plan",
            Duration::from_secs(60),
            Duration::from_secs(1),
            || {
                let (announced, services) = self.speaker_metrics()?;
                if announced != plan.len() as u64 || services != wanted {
                    return Err(format!(
                        "{announced} prefixes announced, {} (Service, address) pairs",
                        services.len()
                    ));
                }
                Ok(())
            },
        );
    }

    /// The ServiceBGPStatus objects of node-21: Service names whose status lists tor1.
    fn service_bgp_statuses(&self) -> Result<BTreeSet<String>, String> {
        let text = self.plane.kubectl(
            &[
                "get",
                "servicebgpstatuses",
                "-n",
                "metallb-system",
                "-l",
                "metallb.io/node=node-21",
                "-o",
                "jsonpath={range .items[*]}{.metadata.labels.metallb\\.io/service-name} {.status.peers[*]}{\"\\n\"}{end}",
            ],
            None,
        )?;
        Ok(text
            .lines()
            .filter_map(|line| {
                let (name, peers) = line.split_once(' ')?;
                peers
                    .split_whitespace()
                    .any(|p| p == "tor1")
                    .then(|| name.to_string())
            })
            .collect())
    }

    /// Waits until node-21's ServiceBGPStatus objects name exactly the Services of `plan`,
    /// each with tor1; returns how many.
    fn wait_service_bgp_statuses(
        &self,
        plan: &BTreeMap<String, Ipv4Addr>,
        timeout: Duration,
    ) -> usize {
        let wanted: BTreeSet<String> = plan.keys().cloned().collect();
        eventually(
            "ServiceBGPStatus of node-21 for every live Service and none other",
            timeout,
            Duration::from_secs(2),
            || {
                let statuses = self.service_bgp_statuses()?;
                (statuses == wanted)
                    .then_some(statuses.len())
                    .ok_or(format!(
                        "{} ServiceBGPStatus, {} missing, {} extra",
                        statuses.len(),
                        wanted.difference(&statuses).count(),
                        statuses.difference(&wanted).count()
                    ))
            },
        )
    }

    fn logs(&self) -> String {
        let tail = |name: &str| {
            let log = self.fabric.log(name);
            let lines: Vec<&str> = log.lines().rev().take(25).collect();
            lines.into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        format!(
            "--- controller\n{}\n--- speaker\n{}\n--- kube-apiserver\n{}",
            tail("controller"),
            tail("speaker-node-21"),
            self.plane.log_tail(Component::ApiServer, 10)
        )
    }
}

#[test]
fn api_server_and_etcd_restarts_keep_the_routes_and_the_watches_resume() {
    let test = "api_server_and_etcd_restarts_keep_the_routes_and_the_watches_resume";
    if !ironlb_lab::require(test, &PROGRAMS) {
        return;
    }
    let _one = one_at_a_time();
    let mut lab = KubeLab::build("kf-api", "198.18.0.0/24");
    let initial: Vec<String> = (0..20).map(name).collect();
    lab.create(&initial);
    let mut plan = lab.wait_plan(initial.len(), Duration::from_secs(120));
    let mut victims = initial.iter();
    for component in [Component::ApiServer, Component::Etcd] {
        let program = component.program();
        let routes: BTreeSet<Ipv4Addr> = plan.values().copied().collect();
        let stopped = lab.plane.kill(component).unwrap_or_else(|e| panic!("{e}"));
        let down = Instant::now();
        // Away for a few seconds: the API answers nothing (or errors), the ToR keeps every
        // route (the speaker announces the last known state).
        let mut checks = 0;
        while down.elapsed() < Duration::from_secs(6) {
            assert_eq!(
                lab.tor_table().unwrap(),
                routes,
                "{program} down {:?}: the ToR's routes changed\n{}",
                down.elapsed(),
                lab.logs()
            );
            checks += 1;
            std::thread::sleep(Duration::from_millis(500));
        }
        // Without etcd the API server still answers, with errors; without itself, nothing.
        let answer = lab.plane.readyz();
        assert!(
            answer.as_ref().is_err_and(|e| match component {
                Component::Etcd => e.contains("etcd"),
                Component::ApiServer => e.contains("refused"),
            }),
            "{program} down, the API server answers {answer:?}"
        );
        let failed: Vec<&str> = answer
            .as_ref()
            .unwrap_err()
            .split("\\n")
            .filter(|check| check.starts_with("[-]") || check.contains("refused"))
            .collect();
        println!("{program} down: /readyz: {}", failed.join(", "));
        lab.plane
            .start_again(&stopped)
            .unwrap_or_else(|e| panic!("{e}"));
        let ready = lab
            .plane
            .wait_ready(Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            lab.tor_table().unwrap(),
            routes,
            "{program} back: the ToR's routes changed"
        );
        println!(
            "{program} SIGKILLed: the ToR kept all {} routes through {checks} checks over {:.1} s; the API ready {:.1} s after the start again",
            routes.len(),
            down.elapsed().as_secs_f64() - ready.as_secs_f64(),
            ready.as_secs_f64()
        );
        // The watches resumed: a new Service is assigned and announced, a deleted one is
        // withdrawn.
        let resumed = Instant::now();
        let new = format!("after-{program}");
        lab.create(std::slice::from_ref(&new));
        plan = lab.wait_plan(plan.len() + 1, Duration::from_secs(180));
        let announced_after = resumed.elapsed();
        let victim = victims.next().unwrap();
        let victim_ip = plan[victim];
        lab.delete(victim);
        plan = lab.wait_plan(plan.len() - 1, Duration::from_secs(180));
        assert!(!lab.tor_table().unwrap().contains(&victim_ip));
        println!(
            "after {program}'s restart: {new} announced {:.1} s after its creation, {victim} ({victim_ip}) withdrawn {:.1} s after its deletion",
            announced_after.as_secs_f64(),
            (resumed.elapsed() - announced_after).as_secs_f64()
        );
        assert!(lab.controller.is_running(), "{}", lab.logs());
        assert!(lab.speaker.is_running(), "{}", lab.logs());
    }
    // At the end the ToR holds exactly the plan, and the speaker says so too: in its metrics
    // and in its ServiceBGPStatus objects.
    lab.wait_metrics(&plan);
    lab.wait_service_bgp_statuses(&plan, Duration::from_secs(120));
    let speaker_log = lab.fabric.log("speaker-node-21");
    println!(
        "speaker: {} 'watch failed', {} 'watch resumed' lines",
        speaker_log.matches("watch failed").count(),
        speaker_log.matches("watch resumed").count()
    );
}

/// Services in the churn test: `IRONLB_KFAULTS_SERVICES`, default 3,000. The issue asks for
/// 10,000, and 10,000 pass (`IRONLB_KFAULTS_SERVICES=10000`), but not within this file's
/// budget of about six minutes on two cores: each Service costs eight writes to the API
/// (Service and EndpointSlice, the controller's status and annotation patches and event, the
/// speaker's ServiceBGPStatus create and status patch and event), and the debug build of
/// IronLB that tests run recomputes its whole view on every change. Measured here, whole
/// test: 3,000 in 2.0-3.5 min (quiet machine, or other builds running), 5,000 in 4.0 min
/// quiet, 10,000 in 14.5 min with other builds running.
const DEFAULT_CHURN_SERVICES: usize = 3_000;

fn churn_count() -> usize {
    std::env::var("IRONLB_KFAULTS_SERVICES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CHURN_SERVICES)
}

#[test]
fn services_churning_while_the_tor_restarts_leave_exactly_the_live_routes() {
    let test = "services_churning_while_the_tor_restarts_leave_exactly_the_live_routes";
    if !ironlb_lab::require(test, &PROGRAMS) {
        return;
    }
    let _one = one_at_a_time();
    let count = churn_count();
    let churn = count / 10;
    let mut lab = KubeLab::build("kf-churn", "198.18.0.0/18");
    assert!(network_size(&lab.pool) as usize >= count + churn);
    let start = Instant::now();
    KubeLab::finish_bulk(lab.bulk(&format!("create 0 {count}")));
    let created = start.elapsed();
    let before = lab.wait_plan(count, Duration::from_secs(600));
    println!(
        "{count} Services and EndpointSlices created in {:.1} s; all assigned and at the ToR after {:.1} s",
        created.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );

    // Churn: delete svc-0..churn and create as many new ones, interleaved, while the ToR's
    // bgpd is killed and started again.
    let churning = Instant::now();
    let churner = lab.bulk(&format!("churn 0 {churn} {count}"));
    std::thread::sleep(Duration::from_millis(1500));
    let mut churner = churner;
    let still_churning = churner.try_wait().unwrap().is_none();
    lab.fabric
        .restart_tor_bgpd("tor1")
        .unwrap_or_else(|e| panic!("{e}"));
    let restarted = churning.elapsed();
    KubeLab::finish_bulk(churner);
    let churned = churning.elapsed();
    println!(
        "churn of {churn} deletions and {churn} creations: {:.1} s; tor1's bgpd killed and started again {:.1} s in (churn still running: {still_churning})",
        churned.as_secs_f64(),
        restarted.as_secs_f64()
    );
    assert!(
        still_churning,
        "the churn was over before the ToR restarted: nothing was tested"
    );
    let plan = lab.wait_plan(count, Duration::from_secs(600));
    println!(
        "the ToR has exactly the {count} live Services' routes {:.1} s after the churn began",
        churning.elapsed().as_secs_f64()
    );
    // Nothing of a deleted Service is left (the new ones have addresses of their own pool),
    // the new ones are all there, the others did not move.
    let deleted: Vec<String> = (0..churn).map(name).collect();
    let routes = lab.tor_table().unwrap();
    for name in &deleted {
        assert!(!plan.contains_key(name), "{name} was deleted");
        assert!(
            !routes.contains(&before[name]),
            "deleted {name}'s {} is still announced",
            before[name]
        );
    }
    for new in (count..count + churn).map(name) {
        assert!(
            in_network(plan[&new], CHURN_ADDRESSES),
            "{new}: {} not from {CHURN_POOL}",
            plan[&new]
        );
    }
    for (name, ip) in &before {
        if !deleted.contains(name) {
            assert_eq!(plan[name], *ip, "{name} moved");
        }
    }
    lab.wait_metrics(&plan);
    let statuses = lab.wait_service_bgp_statuses(&plan, Duration::from_secs(300));
    println!(
        "speaker metrics and {statuses} ServiceBGPStatus agree with the ToR; whole test {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(lab.speaker.is_running(), "{}", lab.logs());
}
