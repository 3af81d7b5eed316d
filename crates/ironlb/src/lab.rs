//! `ironlb lab`: the seed scenario on this machine. Two ToRs running real FRR (ECMP on, BFD
//! on tor1), three nodes, all on 10.0.0.0/24; the seed's manifests in a cluster directory;
//! IronLB's controller and one speaker per node. Prints the seed's verification, then runs the
//! failover drill and prints each convergence time as measured at the ToRs' kernel FIBs.
//! `--scenario dual-stack` runs the same on a dual-stack fabric (`examples/dual-stack`: every
//! node peers with each ToR over IPv4 and IPv6, the Service has an address of each family);
//! `--scenario layer2` runs layer 2 mode's instead (`lab_layer2`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use ironlb_cluster::status::{BfdState, BgpState};
use ironlb_lab::fabric::{FabricView, Family};
use ironlb_lab::{Fabric, FabricSpec, dual_stack};

/// The address the seed's commands look at (`web`'s, both scenarios with routers).
const IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
/// `web`'s IPv6 address in the dual-stack scenario (`examples/dual-stack/service.yaml`).
const IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 5);
const NODES: [&str; 3] = ["node-21", "node-22", "node-23"];
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
    /// Which scenario: the seed's (BGP), the seed's dual-stack (BGP over IPv4 and IPv6), or
    /// layer 2 mode's (ARP and NDP answered at a client on the nodes' segment). `status` and
    /// `drill` use the running lab's.
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
    /// The seed's fabric with IPv6 too: sessions of both families, BFD over both, a
    /// RequireDualStack Service; the seed's verification and drill for both addresses.
    DualStack,
}

impl Scenario {
    /// What it needs besides root and `ip`, and how to install it.
    fn programs(self) -> (&'static [&'static str], &'static str) {
        match self {
            Scenario::Seed | Scenario::DualStack => (
                &["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"],
                "FRR: apt-get install -y frr",
            ),
            Scenario::Layer2 => (
                &["arping", "ndisc6", "ping"],
                "arping and ndisc6: apt-get install -y arping ndisc6",
            ),
        }
    }

    /// Its name on the command line (`dual-stack`).
    fn name(self) -> String {
        self.to_possible_value()
            .map(|value| value.get_name().to_string())
            .unwrap_or_default()
    }

    /// `web`'s addresses, which a BGP scenario's verification and drill look at.
    fn addresses(self) -> Vec<IpAddr> {
        match self {
            Scenario::Seed => vec![IpAddr::V4(IP)],
            Scenario::DualStack => vec![IpAddr::V4(IP), IpAddr::V6(IP6)],
            Scenario::Layer2 => Vec::new(),
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
    // The lab prints and exits (`ironlb lab status | head` ends quietly); its one socket
    // user, the hidden node registration, is a process of its own.
    if !matches!(args.command, Some(LabCommand::RegisterNodes { .. })) {
        ironlb_net::socket::exit_on_broken_pipe();
    }
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
    if args.kubernetes && scenario != Scenario::Seed {
        eprintln!(
            "error: the {} scenario runs on a cluster directory only (no --kubernetes yet)",
            scenario.name()
        );
        return ExitCode::from(2);
    }
    let result = match (args.command, scenario) {
        (Some(LabCommand::RegisterNodes { nodes }), _) => register_nodes(&nodes),
        (None, _) if args.kubernetes => full_run_kubernetes(),
        (Some(LabCommand::Up), _) if args.kubernetes => up_kubernetes_and_detach(),
        (None, Scenario::Layer2) => full_run_layer2(),
        (None, _) => full_run(scenario),
        (Some(LabCommand::Up), Scenario::Layer2) => up_layer2_and_detach(),
        (Some(LabCommand::Up), _) => up_and_detach(scenario),
        (Some(LabCommand::Status), Scenario::Layer2) => attached(crate::lab_layer2::verify),
        (Some(LabCommand::Status), _) => attached(|view| verify(view, scenario)),
        (Some(LabCommand::Drill), Scenario::Layer2) => drill_layer2_attached(),
        (Some(LabCommand::Drill), _) => attached(|view| drill(view, scenario)),
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
    if scenario != Scenario::Seed
        && let Some(object) = state.as_object_mut()
    {
        object.insert("scenario".into(), scenario.name().into());
    }
    let json = serde_json::to_string_pretty(&state).map_err(|e| e.to_string())?;
    std::fs::write(STATE, json).map_err(|e| format!("cannot write {STATE}: {e}"))
}

/// The scenario of the running lab, if one is up.
fn running_scenario() -> Option<Scenario> {
    let text = std::fs::read_to_string(STATE).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(
        state["scenario"]
            .as_str()
            .and_then(|name| Scenario::from_str(name, false).ok())
            .unwrap_or(Scenario::Seed),
    )
}

fn full_run(scenario: Scenario) -> Result<()> {
    refuse_if_up()?;
    let fabric = up(scenario)?;
    verify(&fabric, scenario)?;
    let result = drill(&fabric, scenario);
    println!("\n# tearing the lab down");
    drop(fabric);
    result
}

/// A scenario's objects as the lab applies them: tor2's peers with holdTime 9s (the drill's
/// no-BFD case ends in seconds); the seed's Service asking for the address the seed's commands
/// look at (the dual-stack one asks for its two itself).
fn lab_manifests(scenario: Scenario) -> Vec<(&'static str, String)> {
    if scenario == Scenario::DualStack {
        return vec![
            ("pool.yaml", dual_stack::POOL.to_string()),
            ("peers.yaml", short_hold_time(dual_stack::PEERS)),
            ("advertisement.yaml", dual_stack::ADVERTISEMENT.to_string()),
            ("bfd.yaml", dual_stack::BFD.to_string()),
            ("service.yaml", dual_stack::SERVICE.to_string()),
        ];
    }
    let service = SERVICE.replace(
        "metadata:\n  name: web\n",
        "metadata:\n  name: web\n  namespace: default\n  annotations:\n    metallb.io/loadBalancerIPs: 203.0.113.5\n",
    );
    vec![
        ("pool.yaml", POOL.to_string()),
        ("peers.yaml", short_hold_time(PEERS)),
        ("advertisement.yaml", ADVERTISEMENT.to_string()),
        ("bfd.yaml", BFD.to_string()),
        ("service.yaml", service),
    ]
}

/// BGPPeers with `holdTime: 9s` added to those of tor2 (10.0.0.2, 2001:db8:ffff::2).
fn short_hold_time(peers: &str) -> String {
    let mut out = String::new();
    for line in peers.lines() {
        out.push_str(line);
        out.push('\n');
        let address = line
            .strip_prefix("  peerAddress:")
            .map(|value| value.trim().trim_matches('"'));
        if matches!(address, Some("10.0.0.2" | "2001:db8:ffff::2")) {
            out.push_str("  holdTime: 9s\n");
        }
    }
    out
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
    let result = crate::lab_kube::scenario(&fabric, &kube, &lab_manifests(Scenario::Seed));
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

fn up_and_detach(scenario: Scenario) -> Result<()> {
    refuse_if_up()?;
    let fabric = up(scenario)?;
    verify(&fabric, scenario)?;
    let view = detach_as(fabric, scenario)?;
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

/// Builds the fabric, writes the scenario's manifests (and web's EndpointSlices: one ready
/// endpoint on each node) and starts IronLB; returns once both ToRs route web's addresses via
/// every node and every session (BGP of each family, tor1's BFD) is up.
fn up(scenario: Scenario) -> Result<Fabric> {
    let ironlb = std::env::current_exe().map_err(|e| e.to_string())?;
    let addresses = scenario.addresses();
    let mut spec = FabricSpec::seed(ironlb);
    if scenario == Scenario::DualStack {
        spec = spec.dual_stack();
        println!(
            "# building the fabric: tor1 10.0.0.1 2001:db8:ffff::1 (FRR, BFD), tor2 10.0.0.2 2001:db8:ffff::2 (FRR),\n#   node-21..23 10.0.0.21-23 2001:db8:ffff::21-23"
        );
    } else {
        println!(
            "# building the fabric: tor1 10.0.0.1 (FRR, BFD), tor2 10.0.0.2 (FRR), node-21..23 10.0.0.21-23"
        );
    }
    let mut fabric = Fabric::build("lab", spec).map_err(|e| e.to_string())?;
    let write = |fabric: &Fabric, file: &str, text: &str| {
        fabric.write(file, text).map_err(|e| e.to_string())
    };
    for (file, yaml) in lab_manifests(scenario) {
        write(&fabric, file, &yaml)?;
    }
    write(&fabric, "nodes.yaml", &fabric.nodes_yaml(&[]))?;
    // The `web` Deployment stand-in: one ready endpoint on each node.
    write_endpoints(&fabric, &addresses, &NODES)?;
    println!("# cluster directory: {}", fabric.cluster_dir.display());
    fabric.start_controller().map_err(|e| e.to_string())?;
    for node in NODES {
        fabric.start_speaker(node, &[]).map_err(|e| e.to_string())?;
    }
    let start = Instant::now();
    converge(&fabric, &addresses, &NODES, start, Duration::from_secs(60))
        .map_err(|e| format!("{e}\ncontroller log:\n{}", fabric.log("controller")))?;
    let what = if addresses.len() > 1 {
        "routes (IPv4 and IPv6) are"
    } else {
        "route is"
    };
    println!(
        "# the Service's {what} in both ToRs' FIB via all three nodes {:.0} ms after the speakers started",
        start.elapsed().as_secs_f64() * 1e3
    );
    // BFD starts slowly (1 s packets until Up, RFC 5880 §6.8.3); wait for every session (one
    // per node and family), and for every speaker to report its peers Established.
    let sessions = fabric.nodes.len() * addresses.len();
    ironlb_lab::wait_for(
        "BFD up between tor1 and every node",
        Duration::from_secs(30),
        || {
            let up = dual_stack::bfd_peers_up(&fabric, "tor1").ok()?;
            (up.len() == sessions).then_some(())
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
            (established == sessions * fabric.tors.len() && bfd_up == sessions).then_some(())
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(fabric)
}

/// The address family of `address`.
fn family(address: &IpAddr) -> Family {
    if address.is_ipv4() {
        Family::V4
    } else {
        Family::V6
    }
}

/// Writes web's EndpointSlices, one per family of `addresses` (`addressType: IPv4`, `IPv6`, as
/// Kubernetes keeps them for a dual-stack Service), with a ready endpoint on each of `nodes`:
/// in one file, so they change at once.
fn write_endpoints(view: &FabricView, addresses: &[IpAddr], nodes: &[&str]) -> Result<()> {
    let slices: Vec<String> = addresses
        .iter()
        .map(|address| Fabric::family_endpoints_yaml("web", family(address), nodes))
        .collect();
    view.write("web-endpoints.yaml", &slices.join("---\n"))
        .map_err(|e| e.to_string())
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

/// A ToR's `show ip route ADDRESS` (`show ipv6 route` for an IPv6 one), as typed and printed.
fn show_route(view: &FabricView, tor: &str, address: &IpAddr) -> Result<()> {
    let ip = if address.is_ipv4() { "ip" } else { "ipv6" };
    let command = format!("show {ip} route {address}");
    println!("{tor}# {command}");
    let text = view.vtysh(tor, &command).map_err(|e| e.to_string())?;
    print!("{text}");
    Ok(())
}

/// The seed's verification, IronLB's way, for each of the scenario's addresses.
fn verify(view: &FabricView, scenario: Scenario) -> Result<()> {
    let addresses = scenario.addresses();
    println!(
        "\n$ kubectl get svc web            # ironlb get services --cluster-dir {}",
        view.cluster_dir.display()
    );
    print!("{}", ironlb_get(view, "services"));
    if scenario == Scenario::DualStack {
        println!(
            "# EXTERNAL-IP: {IP} and {IP6}, from dual-pool's two ranges (metallb.io/loadBalancerIPs)"
        );
    } else {
        println!("# EXTERNAL-IP should be from 203.0.113.0/24, not <pending>");
    }
    // The seed's command; the dual-stack scenario's four sessions per node, once established
    // (its log has the attempts before, `ironlb lab status` the sessions' state).
    let grep = match scenario {
        Scenario::DualStack => "BGP session established",
        _ => "BGP session",
    };
    println!("\n$ kubectl logs -n metallb-system -l component=speaker | grep -i \"{grep}\"");
    for node in &view.nodes {
        let log = view.log(&format!("speaker-{}", node.name));
        for line in log
            .lines()
            .filter(|l| l.to_lowercase().contains(&grep.to_lowercase()))
        {
            println!("{}: {line}", node.name);
        }
    }
    println!("\n$ ironlb get peers");
    print!("{}", ironlb_get(view, "peers"));
    println!("\n$ ironlb get bfd");
    print!("{}", ironlb_get(view, "bfd"));
    for tor in &view.tors {
        for address in &addresses {
            println!();
            show_route(view, &tor.name, address)?;
            let (flag, length) = if address.is_ipv4() {
                ("", 32)
            } else {
                ("-6 ", 128)
            };
            println!("{}# (kernel FIB) ip {flag}route show {address}", tor.name);
            let next_hops = view.route_next_hops(&tor.name, &address.to_string());
            let shown: Vec<String> = next_hops.iter().map(|h| format!("via {h}")).collect();
            println!("{address}/{length} {}", shown.join(", "));
        }
    }
    Ok(())
}

/// When one ToR's FIB reached what was expected for one address.
struct Converged {
    tor: String,
    address: IpAddr,
    time: Duration,
}

impl Converged {
    /// `tor1` (one address), or `tor1 IPv4` (several).
    fn at(&self, several: bool) -> String {
        match (several, self.address.is_ipv4()) {
            (false, _) => self.tor.clone(),
            (true, true) => format!("{} IPv4", self.tor),
            (true, false) => format!("{} IPv6", self.tor),
        }
    }
}

fn milliseconds(time: Duration) -> String {
    format!("{:.0} ms", time.as_secs_f64() * 1e3)
}

/// Polls both ToRs' FIBs every millisecond until each routes each of `addresses` via exactly
/// the `nodes`' addresses of its family; returns each one's time from `start`, by ToR, then
/// in `addresses`' order.
fn converge(
    view: &FabricView,
    addresses: &[IpAddr],
    nodes: &[&str],
    start: Instant,
    timeout: Duration,
) -> Result<Vec<Converged>> {
    let mut pending: Vec<(String, IpAddr, Vec<IpAddr>)> = view
        .tors
        .iter()
        .flat_map(|tor| {
            addresses.iter().map(|address| {
                let expected = view.node_addresses(nodes, family(address));
                (tor.name.clone(), *address, expected)
            })
        })
        .collect();
    let mut done = Vec::new();
    while !pending.is_empty() {
        pending.retain(|(tor, address, expected)| {
            if view.route_next_hops(tor, &address.to_string()) != *expected {
                return true;
            }
            done.push(Converged {
                tor: tor.clone(),
                address: *address,
                time: start.elapsed(),
            });
            false
        });
        if start.elapsed() > timeout {
            let have: Vec<String> = pending
                .iter()
                .map(|(tor, address, expected)| {
                    format!(
                        "{tor} {address}: {:?}, not {expected:?}",
                        view.route_next_hops(tor, &address.to_string())
                    )
                })
                .collect();
            return Err(format!(
                "timed out after {timeout:?} waiting for web's routes via {nodes:?} ({})",
                have.join("; ")
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let order = |c: &Converged| {
        let index = addresses.iter().position(|a| *a == c.address);
        (c.tor.clone(), index)
    };
    done.sort_by_key(order);
    Ok(done)
}

fn show_times(what: &str, times: &[Converged], several: bool) {
    for time in times {
        println!(
            "  {what}: {} FIB converged in {}",
            time.at(several),
            milliseconds(time.time)
        );
    }
}

/// One ToR's times in the summary: `   70 ms`, or `IPv4   70 ms  IPv6   71 ms`.
fn summary_cell(times: &[Converged], tor: &str, several: bool) -> String {
    let cells: Vec<String> = times
        .iter()
        .filter(|time| time.tor == tor)
        .map(|time| {
            let ms = milliseconds(time.time);
            match (several, time.address.is_ipv4()) {
                (false, _) => format!("{ms:>8}"),
                (true, true) => format!("IPv4 {ms:>8}"),
                (true, false) => format!("IPv6 {ms:>8}"),
            }
        })
        .collect();
    cells.join("  ")
}

/// The seed's failover drill, for each of the scenario's addresses.
fn drill(view: &FabricView, scenario: Scenario) -> Result<()> {
    let addresses = scenario.addresses();
    let several = addresses.len() > 1;
    println!("\n# Failover drill (times measured at each ToR's kernel FIB)");
    println!(
        "\n## 1. kubectl drain node-21: its web endpoint goes away (externalTrafficPolicy: Local)"
    );
    let remaining = ["node-22", "node-23"];
    let start = Instant::now();
    write_endpoints(view, &addresses, &remaining)?;
    let drained = converge(view, &addresses, &remaining, start, Duration::from_secs(30))?;
    show_times("endpoint removed", &drained, several);
    for address in &addresses {
        show_route(view, "tor1", address)?;
    }
    write_endpoints(view, &addresses, &NODES)?;
    let start = Instant::now();
    let back = converge(view, &addresses, &NODES, start, Duration::from_secs(30))?;
    show_times("endpoint back", &back, several);

    println!("\n## 2. node-22 fails hard (all its packets dropped: no FIN, no withdraw)");
    println!("   tor1 peers with BFD 300 ms x 3; tor2 without BFD, hold time 9 s");
    std::thread::sleep(Duration::from_secs(1));
    let remaining = ["node-21", "node-23"];
    let start = Instant::now();
    view.cut("node-22").map_err(|e| e.to_string())?;
    let failed = converge(view, &addresses, &remaining, start, Duration::from_secs(30))?;
    for time in &failed {
        let how = if time.tor == "tor1" {
            "BFD"
        } else {
            "hold timer"
        };
        let from = if several {
            format!(" for {}", time.address)
        } else {
            String::new()
        };
        println!(
            "  node-22 down: {} ({how}) removed it{from} in {}",
            time.tor,
            milliseconds(time.time)
        );
    }
    for address in &addresses {
        show_route(view, "tor1", address)?;
    }
    view.restore("node-22").map_err(|e| e.to_string())?;
    let start = Instant::now();
    let recovered = converge(view, &addresses, &NODES, start, Duration::from_secs(90))?;
    show_times("node-22 back", &recovered, several);

    println!("\n# Summary");
    println!(
        "  endpoint drained (Local)        tor1 {}   tor2 {}",
        summary_cell(&drained, "tor1", several),
        summary_cell(&drained, "tor2", several)
    );
    println!(
        "  node hard failure               tor1 {} (BFD 300x3)   tor2 {} (no BFD, hold 9 s)",
        summary_cell(&failed, "tor1", several),
        summary_cell(&failed, "tor2", several)
    );
    Ok(())
}
