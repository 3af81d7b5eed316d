//! `ironlb lab`: the seed scenario on this machine. Two ToRs running real FRR (ECMP on, BFD
//! on tor1), three nodes, all on 10.0.0.0/24; the seed's manifests in a cluster directory;
//! IronLB's controller and one speaker per node. Prints the seed's verification, then runs the
//! failover drill and prints each convergence time as measured at the ToRs' kernel FIBs.
//! `--scenario layer2` runs layer 2 mode's instead (`lab_layer2`).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use ironlb_cluster::status::{BfdState, BgpState};
use ironlb_lab::fabric::FabricView;
use ironlb_lab::{Fabric, FabricSpec};

const IP: &str = "203.0.113.5";
const POOL: &str = include_str!("../../../examples/seed/pool.yaml");
const PEERS: &str = include_str!("../../../examples/seed/peers.yaml");
const ADVERTISEMENT: &str = include_str!("../../../examples/seed/advertisement.yaml");
const BFD: &str = include_str!("../../../examples/seed/bfd.yaml");
const SERVICE: &str = include_str!("../../../examples/seed/service.yaml");
/// Where `ironlb lab up` records the running fabric.
const STATE: &str = "/run/ironlb-lab.json";

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: Option<LabCommand>,
    /// With a real Kubernetes control plane (built from Go modules, cached) instead of a
    /// cluster directory; the scenario then uses the seed's kubectl commands.
    #[arg(long, global = true)]
    kubernetes: bool,
    /// Which scenario: the seed's (BGP) or layer 2 mode's (ARP and NDP answered at a client on
    /// the nodes' segment). `status` and `drill` use the running lab's.
    #[arg(long, global = true, value_enum, default_value_t = Scenario::Seed)]
    scenario: Scenario,
}

/// The lab's scenarios.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Two FRR ToRs, three nodes: BGP, BFD, the seed's verification and drill.
    #[default]
    Seed,
    /// Three nodes and a client on one segment: layer 2 mode, timed at the client.
    Layer2,
}

impl Scenario {
    /// What it needs besides root and `ip`, and how to install it.
    fn programs(self) -> (&'static [&'static str], &'static str) {
        match self {
            Scenario::Seed => (
                &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"],
                "FRR: apt-get install -y frr",
            ),
            Scenario::Layer2 => (
                &["arping", "ndisc6", "ping"],
                "arping and ndisc6: apt-get install -y arping ndisc6",
            ),
        }
    }
}

#[derive(Subcommand)]
enum LabCommand {
    /// Build the lab, run the verification, and leave it running.
    Up,
    /// Show the verification of a running lab.
    Status,
    /// Run the failover drill on a running lab.
    Drill,
    /// Remove the running lab: every process it started and every namespace.
    Down,
    /// (internal) Register the lab's nodes with the lab's API server, for kwok to play
    /// their kubelets.
    #[command(hide = true)]
    RegisterNodes {
        /// NAME=IPV4, once per node.
        #[arg(long = "node", value_name = "NAME=IP")]
        nodes: Vec<String>,
    },
}

pub fn run(args: Args) -> ExitCode {
    // A running lab's own scenario for the commands that act on it.
    let scenario = match args.command {
        Some(LabCommand::Status | LabCommand::Drill) => running_scenario().unwrap_or(args.scenario),
        _ => args.scenario,
    };
    let (programs, install) = match args.command {
        Some(LabCommand::Down) => (&[][..], ""),
        _ => scenario.programs(),
    };
    if let Err(error) = ironlb_lab::check_prerequisites(programs) {
        eprintln!(
            "error: the lab cannot run here: {error}\nThe lab needs root (network namespaces) and {install}"
        );
        return ExitCode::from(2);
    }
    if args.kubernetes && scenario == Scenario::Layer2 {
        eprintln!(
            "error: the layer2 scenario runs on a cluster directory only (no --kubernetes yet)"
        );
        return ExitCode::from(2);
    }
    let result = match (args.command, scenario) {
        (Some(LabCommand::RegisterNodes { nodes }), _) => register_nodes(&nodes),
        (None, _) if args.kubernetes => full_run_kubernetes(),
        (Some(LabCommand::Up), _) if args.kubernetes => up_kubernetes_and_detach(),
        (None, Scenario::Seed) => full_run(),
        (None, Scenario::Layer2) => full_run_layer2(),
        (Some(LabCommand::Up), Scenario::Seed) => up_and_detach(),
        (Some(LabCommand::Up), Scenario::Layer2) => up_layer2_and_detach(),
        (Some(LabCommand::Status), Scenario::Seed) => attached(verify),
        (Some(LabCommand::Status), Scenario::Layer2) => attached(crate::lab_layer2::verify),
        (Some(LabCommand::Drill), Scenario::Seed) => attached(drill),
        (Some(LabCommand::Drill), Scenario::Layer2) => drill_layer2_attached(),
        (Some(LabCommand::Down), _) => down(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

pub type Result<T> = std::result::Result<T, String>;

/// One lab at a time: its namespaces and state file are the machine's.
fn refuse_if_up() -> Result<()> {
    if Path::new(STATE).exists() {
        return Err(format!(
            "a lab is already up ({STATE}): `ironlb lab down` first"
        ));
    }
    Ok(())
}

/// Leaves the fabric running and records where it is for `status`, `drill` and `down`.
fn detach(fabric: Fabric) -> Result<FabricView> {
    detach_as(fabric, Scenario::Seed)
}

/// [`detach`], recording the scenario beside the fabric (a key `FabricView` readers ignore).
fn detach_as(fabric: Fabric, scenario: Scenario) -> Result<FabricView> {
    let view = fabric.detach();
    record(&view, scenario)?;
    Ok(view)
}

fn record(view: &FabricView, scenario: Scenario) -> Result<()> {
    let mut state = serde_json::to_value(view).map_err(|e| e.to_string())?;
    if scenario == Scenario::Layer2
        && let Some(object) = state.as_object_mut()
    {
        object.insert("scenario".into(), "layer2".into());
    }
    let json = serde_json::to_string_pretty(&state).map_err(|e| e.to_string())?;
    std::fs::write(STATE, json).map_err(|e| format!("cannot write {STATE}: {e}"))
}

/// The scenario of the running lab, if one is up.
fn running_scenario() -> Option<Scenario> {
    let text = std::fs::read_to_string(STATE).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(match state["scenario"].as_str() {
        Some("layer2") => Scenario::Layer2,
        _ => Scenario::Seed,
    })
}

fn full_run() -> Result<()> {
    refuse_if_up()?;
    let fabric = up()?;
    verify(&fabric)?;
    let result = drill(&fabric);
    println!("\n# tearing the lab down");
    drop(fabric);
    result
}

/// The seed's objects as the lab applies them: tor2 with holdTime 9s (the drill's no-BFD case
/// ends in seconds), and the Service asking for the address the seed's commands look at.
fn lab_manifests() -> Vec<(&'static str, String)> {
    let peers = PEERS.replace(
        "  peerAddress: 10.0.0.2\n",
        "  peerAddress: 10.0.0.2\n  holdTime: 9s\n",
    );
    let service = SERVICE.replace(
        "metadata:\n  name: web\n",
        "metadata:\n  name: web\n  namespace: default\n  annotations:\n    metallb.io/loadBalancerIPs: 203.0.113.5\n",
    );
    vec![
        ("pool.yaml", POOL.to_string()),
        ("peers.yaml", peers),
        ("advertisement.yaml", ADVERTISEMENT.to_string()),
        ("bfd.yaml", BFD.to_string()),
        ("service.yaml", service),
    ]
}

fn full_run_layer2() -> Result<()> {
    refuse_if_up()?;
    let ironlb = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut fabric = crate::lab_layer2::up(ironlb)?;
    let result =
        crate::lab_layer2::verify(&fabric).and_then(|()| crate::lab_layer2::drill(&mut fabric));
    println!("\n# tearing the lab down");
    drop(fabric);
    result
}

fn up_layer2_and_detach() -> Result<()> {
    refuse_if_up()?;
    let ironlb = std::env::current_exe().map_err(|e| e.to_string())?;
    let fabric = crate::lab_layer2::up(ironlb)?;
    crate::lab_layer2::verify(&fabric)?;
    let view = detach_as(fabric, Scenario::Layer2)?;
    println!(
        "\nThe lab is up. Cluster directory: {}\n  ironlb get services --cluster-dir {0}\n  ip netns exec {} arping -i eth0 203.0.113.10\n  ironlb lab status | ironlb lab drill | ironlb lab down",
        view.cluster_dir.display(),
        view.namespaces
            .iter()
            .find(|n| n.ends_with("-client"))
            .map_or("CLIENT", String::as_str)
    );
    Ok(())
}

/// The layer 2 drill on a running lab; the speakers it starts again are recorded for `down`.
fn drill_layer2_attached() -> Result<()> {
    attached(|view| {
        let mut lab = crate::lab_layer2::Attached {
            view: view.clone(),
            ironlb: std::env::current_exe().map_err(|e| e.to_string())?,
            started: Vec::new(),
            killed: Vec::new(),
        };
        let result = crate::lab_layer2::drill(&mut lab);
        if !lab.started.is_empty() || !lab.killed.is_empty() {
            let mut view = view.clone();
            view.pids.retain(|pid| !lab.killed.contains(pid));
            view.pids.extend(&lab.started);
            record(&view, Scenario::Layer2)?;
        }
        result
    })
}

fn full_run_kubernetes() -> Result<()> {
    refuse_if_up()?;
    let ironlb = std::env::current_exe().map_err(|e| e.to_string())?;
    let (fabric, kube) = crate::lab_kube::up(ironlb)?;
    let result = crate::lab_kube::scenario(&fabric, &kube, &lab_manifests());
    println!("\n# tearing the lab down");
    drop(fabric);
    result
}

fn up_kubernetes_and_detach() -> Result<()> {
    refuse_if_up()?;
    let ironlb = std::env::current_exe().map_err(|e| e.to_string())?;
    let (fabric, kube) = crate::lab_kube::up(ironlb)?;
    detach(fabric)?;
    println!(
        "The lab is up, with no seed objects yet: apply them with kubectl.\n{}\n  ironlb lab down   removes everything",
        crate::lab_kube::exports(&kube)
    );
    Ok(())
}

fn register_nodes(nodes: &[String]) -> Result<()> {
    let mut played = crate::lab_nodes::Nodes::new();
    for node in nodes {
        let (name, address) = node
            .split_once('=')
            .ok_or_else(|| format!("--node {node}: write NAME=IPV4"))?;
        let address = address
            .parse()
            .map_err(|_| format!("--node {node}: {address} is not an IPv4 address"))?;
        played.insert(name.to_string(), address);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| format!("cannot reach the API server: {e}"))?;
        crate::lab_nodes::register(&client, &played)
            .await
            .map_err(|e| format!("cannot register the Nodes: {e}"))
    })
}

fn up_and_detach() -> Result<()> {
    refuse_if_up()?;
    let fabric = up()?;
    verify(&fabric)?;
    let view = detach(fabric)?;
    println!(
        "\nThe lab is up. Cluster directory: {}\n  ironlb get services --cluster-dir {0}\n  ironlb lab status | ironlb lab drill | ironlb lab down",
        view.cluster_dir.display()
    );
    Ok(())
}

fn attached(action: impl FnOnce(&FabricView) -> Result<()>) -> Result<()> {
    let text = std::fs::read_to_string(STATE)
        .map_err(|_| "no lab is up: `ironlb lab up` first".to_string())?;
    let view: FabricView =
        serde_json::from_str(&text).map_err(|e| format!("{STATE} is not readable: {e}"))?;
    action(&view)
}

fn down() -> Result<()> {
    match std::fs::read_to_string(STATE) {
        Ok(text) => {
            if let Ok(view) = serde_json::from_str::<FabricView>(&text) {
                view.tear_down();
            }
            let _ = std::fs::remove_file(STATE);
        }
        Err(_) => println!("no lab state in {STATE}; removing leftovers"),
    }
    // Leftovers of crashed labs: namespaces whose creating process is gone.
    ironlb_lab::sweep_stale_namespaces();
    println!("lab removed");
    Ok(())
}

/// Builds the fabric, writes the seed's manifests and starts IronLB.
fn up() -> Result<Fabric> {
    let ironlb = std::env::current_exe().map_err(|e| e.to_string())?;
    println!(
        "# building the fabric: tor1 10.0.0.1 (FRR, BFD), tor2 10.0.0.2 (FRR), node-21..23 10.0.0.21-23"
    );
    let mut fabric = Fabric::build("lab", FabricSpec::seed(ironlb)).map_err(|e| e.to_string())?;
    let write = |fabric: &Fabric, file: &str, text: &str| {
        fabric.write(file, text).map_err(|e| e.to_string())
    };
    for (file, yaml) in lab_manifests() {
        write(&fabric, file, &yaml)?;
    }
    write(&fabric, "nodes.yaml", &fabric.nodes_yaml(&[]))?;
    // The `web` Deployment stand-in: one ready endpoint on each node.
    write(
        &fabric,
        "web-endpoints.yaml",
        &Fabric::endpoints_yaml("web", &["node-21", "node-22", "node-23"]),
    )?;
    println!("# cluster directory: {}", fabric.cluster_dir.display());
    fabric.start_controller().map_err(|e| e.to_string())?;
    for node in ["node-21", "node-22", "node-23"] {
        fabric.start_speaker(node, &[]).map_err(|e| e.to_string())?;
    }
    let all = hops(&[21, 22, 23]);
    let start = Instant::now();
    for tor in ["tor1", "tor2"] {
        fabric
            .wait_next_hops(tor, IP, &all, Duration::from_secs(60))
            .map_err(|e| format!("{e}\ncontroller log:\n{}", fabric.log("controller")))?;
    }
    println!(
        "# the Service's route is in both ToRs' FIB via all three nodes {:.0} ms after the speakers started",
        start.elapsed().as_secs_f64() * 1e3
    );
    // BFD starts slowly (1 s packets until Up, RFC 5880 §6.8.3); wait for every session, and
    // for every speaker to report its peers Established.
    ironlb_lab::wait_for(
        "BFD up between tor1 and every node",
        Duration::from_secs(30),
        || {
            let peers = fabric.vtysh("tor1", "show bfd peers json").ok()?;
            let peers: serde_json::Value = serde_json::from_str(&peers).ok()?;
            let up = peers
                .as_array()?
                .iter()
                .filter(|p| p["status"] == "up")
                .count();
            (up == fabric.nodes.len()).then_some(())
        },
    )
    .map_err(|e| e.to_string())?;
    ironlb_lab::wait_for(
        "speakers to report their sessions",
        Duration::from_secs(30),
        || {
            let speakers = ironlb_cluster::status::read_speakers(&fabric.cluster_dir);
            let established = speakers
                .iter()
                .flat_map(|s| s.peers.iter())
                .filter(|p| p.state == BgpState::Established)
                .count();
            let bfd_up = speakers
                .iter()
                .flat_map(|s| s.bfd.iter())
                .filter(|b| b.state == BfdState::Up)
                .count();
            (established == fabric.nodes.len() * fabric.tors.len() && bfd_up == fabric.nodes.len())
                .then_some(())
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(fabric)
}

fn hops(last: &[u8]) -> Vec<Ipv4Addr> {
    last.iter().map(|i| Ipv4Addr::new(10, 0, 0, *i)).collect()
}

pub fn ironlb_get(view: &FabricView, what: &str) -> String {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ironlb"));
    std::process::Command::new(exe)
        .args(["get", what, "--cluster-dir"])
        .arg(&view.cluster_dir)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The seed's verification, IronLB's way.
fn verify(view: &FabricView) -> Result<()> {
    println!(
        "\n$ kubectl get svc web            # ironlb get services --cluster-dir {}",
        view.cluster_dir.display()
    );
    print!("{}", ironlb_get(view, "services"));
    println!("# EXTERNAL-IP should be from 203.0.113.0/24, not <pending>");
    println!("\n$ kubectl logs -n metallb-system -l component=speaker | grep -i \"BGP session\"");
    for node in &view.nodes {
        let log = view.log(&format!("speaker-{}", node.name));
        for line in log
            .lines()
            .filter(|l| l.to_lowercase().contains("bgp session"))
        {
            println!("{}: {line}", node.name);
        }
    }
    println!("\n$ ironlb get peers");
    print!("{}", ironlb_get(view, "peers"));
    println!("\n$ ironlb get bfd");
    print!("{}", ironlb_get(view, "bfd"));
    for tor in &view.tors {
        println!("\n{}# show ip route {IP}", tor.name);
        let text = view
            .vtysh(&tor.name, &format!("show ip route {IP}"))
            .map_err(|e| e.to_string())?;
        print!("{text}");
        println!("{}# (kernel FIB) ip route show {IP}", tor.name);
        let next_hops = view.next_hops(&tor.name, IP);
        let shown: Vec<String> = next_hops.iter().map(|h| format!("via {h}")).collect();
        println!("{IP}/32 {}", shown.join(", "));
    }
    Ok(())
}

/// Polls both ToRs until each has `expected` next hops; returns each one's time.
fn converge(
    view: &FabricView,
    expected: &[Ipv4Addr],
    start: Instant,
    timeout: Duration,
) -> Result<Vec<(String, Duration)>> {
    let mut done: Vec<(String, Duration)> = Vec::new();
    while done.len() < view.tors.len() {
        for tor in &view.tors {
            if done.iter().any(|(name, _)| *name == tor.name) {
                continue;
            }
            if view.next_hops(&tor.name, IP) == expected {
                done.push((tor.name.clone(), start.elapsed()));
            }
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "timed out after {timeout:?} waiting for {IP} via {expected:?} (have: {})",
                view.tors
                    .iter()
                    .map(|t| format!("{} {:?}", t.name, view.next_hops(&t.name, IP)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    done.sort();
    Ok(done)
}

fn show_times(what: &str, times: &[(String, Duration)]) {
    for (tor, time) in times {
        println!(
            "  {what}: {tor} FIB converged in {:.0} ms",
            time.as_secs_f64() * 1e3
        );
    }
}

/// The seed's failover drill.
fn drill(view: &FabricView) -> Result<()> {
    let all = hops(&[21, 22, 23]);
    println!("\n# Failover drill (times measured at each ToR's kernel FIB)");
    println!(
        "\n## 1. kubectl drain node-21: its web endpoint goes away (externalTrafficPolicy: Local)"
    );
    let start = Instant::now();
    view.write(
        "web-endpoints.yaml",
        &Fabric::endpoints_yaml("web", &["node-22", "node-23"]),
    )
    .map_err(|e| e.to_string())?;
    let drained = converge(view, &hops(&[22, 23]), start, Duration::from_secs(30))?;
    show_times("endpoint removed", &drained);
    println!("tor1# show ip route {IP}");
    print!(
        "{}",
        view.vtysh("tor1", &format!("show ip route {IP}"))
            .unwrap_or_default()
    );
    view.write(
        "web-endpoints.yaml",
        &Fabric::endpoints_yaml("web", &["node-21", "node-22", "node-23"]),
    )
    .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let back = converge(view, &all, start, Duration::from_secs(30))?;
    show_times("endpoint back", &back);

    println!("\n## 2. node-22 fails hard (all its packets dropped: no FIN, no withdraw)");
    println!("   tor1 peers with BFD 300 ms x 3; tor2 without BFD, hold time 9 s");
    std::thread::sleep(Duration::from_secs(1));
    let start = Instant::now();
    view.cut("node-22").map_err(|e| e.to_string())?;
    let failed = converge(view, &hops(&[21, 23]), start, Duration::from_secs(30))?;
    for (tor, time) in &failed {
        let how = if tor == "tor1" { "BFD" } else { "hold timer" };
        println!(
            "  node-22 down: {tor} ({how}) removed it in {:.0} ms",
            time.as_secs_f64() * 1e3
        );
    }
    println!("tor1# show ip route {IP}");
    print!(
        "{}",
        view.vtysh("tor1", &format!("show ip route {IP}"))
            .unwrap_or_default()
    );
    view.restore("node-22").map_err(|e| e.to_string())?;
    let start = Instant::now();
    let recovered = converge(view, &all, start, Duration::from_secs(90))?;
    show_times("node-22 back", &recovered);

    println!("\n# Summary");
    let find = |times: &[(String, Duration)], tor: &str| {
        times
            .iter()
            .find(|(t, _)| t == tor)
            .map(|(_, d)| format!("{:.0} ms", d.as_secs_f64() * 1e3))
            .unwrap_or_default()
    };
    println!(
        "  endpoint drained (Local)        tor1 {:>8}   tor2 {:>8}",
        find(&drained, "tor1"),
        find(&drained, "tor2")
    );
    println!(
        "  node hard failure               tor1 {:>8} (BFD 300x3)   tor2 {:>8} (no BFD, hold 9 s)",
        find(&failed, "tor1"),
        find(&failed, "tor2")
    );
    Ok(())
}
