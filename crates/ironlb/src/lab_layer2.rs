//! `ironlb lab --scenario layer2`: layer 2 mode on this machine. Three nodes and a client on one
//! segment (a bridge; no router, layer 2 needs none); `examples/layer2` in a cluster directory
//! (an IPAddressPool with an IPv4 and an IPv6 range, an L2Advertisement, a dual-stack Service)
//! and an EndpointSlice; IronLB's controller and one speaker per node. Prints what an operator
//! checks: the Service's addresses and owner, who answers ARP and Neighbor Solicitations at the
//! client; then the failover drill, timed where a client feels it: its own neighbour table,
//! polled without sending anything, so only the new owner's gratuitous ARP and unsolicited
//! Neighbor Advertisement can move it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ironlb_cluster::status::{self, BfdState};
use ironlb_lab::fabric::{FabricView, Link, Stop};
use ironlb_lab::{Fabric, FabricSpec, Namespace};

use crate::lab::Result;

const POOL: &str = include_str!("../../../examples/layer2/pool.yaml");
const ADVERTISEMENT: &str = include_str!("../../../examples/layer2/advertisement.yaml");
const SERVICE: &str = include_str!("../../../examples/layer2/service.yaml");
const NODES: [&str; 3] = ["node-21", "node-22", "node-23"];
/// The client's addresses: on the nodes' subnet, and in the IPv6 Service range's /64 (so it
/// resolves those addresses on the link); the IPv4 Service range is routed on the link.
const CLIENT_ADDRESSES: [&str; 2] = ["10.0.0.100/24", "2001:db8:5::1:100/64"];
const CLIENT_ROUTES: [&str; 1] = ["203.0.113.0/24"];
/// How long any expected change may take.
const WAIT: Duration = Duration::from_secs(30);
/// How often the client's neighbour table is read during the drill (besides the time `ip`
/// itself takes, a few milliseconds).
const POLL: Duration = Duration::from_millis(2);
/// How long a node announces an address it takes (gratuitous ARP, unsolicited NA: at once,
/// then every 1.1 s for 4.4 s), with a margin: the drill waits this long before each fault so
/// that only what the fault causes moves the client's entries.
const ANNOUNCEMENTS: Duration = Duration::from_millis(5500);

/// Builds the fabric and the client, writes the manifests, starts IronLB and returns once the
/// speakers agree on the Service's owner.
pub fn up(ironlb: PathBuf) -> Result<Fabric> {
    println!(
        "# building the fabric: node-21..23 10.0.0.21-23 on one segment (a bridge, no router: layer 2 needs none),\n#   a client beside them: 10.0.0.100, 2001:db8:5::1:100"
    );
    let mut spec = FabricSpec::seed(ironlb);
    spec.tors.clear();
    let mut fabric = Fabric::build("l2lab", spec).map_err(|e| e.to_string())?;
    fabric
        .add_client("client", &CLIENT_ADDRESSES, &CLIENT_ROUTES)
        .map_err(|e| e.to_string())?;
    let endpoints = Fabric::endpoints_yaml("web", &NODES);
    let nodes = fabric.nodes_yaml(&[]);
    for (file, yaml) in [
        ("pool.yaml", POOL),
        ("advertisement.yaml", ADVERTISEMENT),
        ("service.yaml", SERVICE),
        ("web-endpoints.yaml", &endpoints),
        ("nodes.yaml", &nodes),
    ] {
        fabric.write(file, yaml).map_err(|e| e.to_string())?;
    }
    println!(
        "# cluster directory: {}\n#   examples/layer2 (IPAddressPool l2-pool, L2Advertisement l2-adv, Service web: dual-stack),\n#   an EndpointSlice (web ready on every node), the Nodes",
        fabric.cluster_dir.display()
    );
    fabric.start_controller().map_err(|e| e.to_string())?;
    let start = Instant::now();
    for node in NODES {
        fabric.start_speaker(node, &[]).map_err(|e| e.to_string())?;
    }
    let (owner, addresses) = agreed_owner(&fabric)?;
    println!(
        "# every speaker names {owner} the owner of {} {:.0} ms after they started (a speaker listens 2.5 s before it takes part)",
        addresses.join(" and "),
        start.elapsed().as_secs_f64() * 1e3
    );
    wait_alive(&fabric)?;
    Ok(fabric)
}

/// Waits until every speaker names the same owner of `default/web` and its two addresses.
fn agreed_owner(view: &FabricView) -> Result<(String, Vec<String>)> {
    let mut last = Vec::new();
    ironlb_lab::wait_for("every speaker to name web's owner", WAIT, || {
        last = status::read_speakers(&view.cluster_dir)
            .into_iter()
            .map(|speaker| {
                let web = speaker
                    .layer2
                    .into_iter()
                    .find(|a| a.namespace == "default" && a.name == "web");
                (speaker.node, web)
            })
            .collect();
        let first = last.first()?.1.as_ref()?;
        let owner = first.owner.clone()?;
        let agreed = last.len() == NODES.len()
            && last
                .iter()
                .all(|(_, web)| web.as_ref().and_then(|w| w.owner.as_ref()) == Some(&owner))
            && first.addresses.len() == 2;
        agreed.then(|| (owner, first.addresses.clone()))
    })
    .map_err(|e| format!("{e} (speakers say: {last:?})\n{}", logs(view)))
}

/// Waits until every speaker counts the other two alive (their BFD sessions Up).
fn wait_alive(view: &FabricView) -> Result<()> {
    ironlb_lab::wait_for("the speakers to see each other alive", WAIT, || {
        let speakers = status::read_speakers(&view.cluster_dir);
        (speakers.len() == NODES.len()
            && speakers.iter().all(|s| {
                s.speakers.len() == NODES.len() - 1
                    && s.speakers
                        .iter()
                        .all(|p| p.alive && p.state == BfdState::Up)
            }))
        .then_some(())
    })
    .map_err(|e| format!("{e}\n{}", logs(view)))
}

/// The last lines of every speaker's log, for error messages.
fn logs(view: &FabricView) -> String {
    let mut text = String::new();
    for node in NODES {
        let log = view.log(&format!("speaker-{node}"));
        let lines: Vec<&str> = log.lines().collect();
        text.push_str(&format!("--- speaker-{node} (last 15 lines)\n"));
        for line in &lines[lines.len().saturating_sub(15)..] {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

/// The client's namespace.
fn client(view: &FabricView) -> Result<Namespace> {
    view.namespaces
        .iter()
        .find(|n| n.ends_with("-client"))
        .map(|n| Namespace::existing(n))
        .ok_or_else(|| "the lab has no client namespace".to_string())
}

/// Each node's `eth0` MAC (lowercase) → node.
fn node_macs(view: &FabricView) -> BTreeMap<String, String> {
    view.nodes
        .iter()
        .filter_map(|node| {
            let mac = Namespace::existing(&node.namespace)
                .exec("cat", &["/sys/class/net/eth0/address"])
                .ok()?;
            Some((mac.trim().to_lowercase(), node.name.clone()))
        })
        .collect()
}

/// Whether `word` is a MAC address (six pairs of hex digits).
fn is_mac(word: &str) -> bool {
    let parts: Vec<&str> = word.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Runs a tool in the client's namespace and prints it as typed and what it printed; returns
/// the MACs it printed.
fn at_client(client: &Namespace, program: &str, args: &[&str]) -> Vec<String> {
    println!("\nclient$ {program} {}", args.join(" "));
    let output = client
        .command(program)
        .args(args)
        .stdin(Stdio::null())
        .output();
    let text = match output {
        Ok(output) => format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => format!("cannot run {program}: {error}\n"),
    };
    print!("{text}");
    let mut macs: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
        .filter(|word| is_mac(word))
        .map(str::to_lowercase)
        .collect();
    macs.sort();
    macs.dedup();
    macs
}

/// Names the nodes behind `macs`, and checks that exactly one node answered: `owner`.
fn one_answer(
    what: &str,
    macs: &[String],
    nodes: &BTreeMap<String, String>,
    owner: &str,
) -> Result<()> {
    let answering: Vec<String> = macs
        .iter()
        .map(|mac| {
            nodes
                .get(mac)
                .map_or_else(|| format!("{mac} (no node's)"), |n| format!("{mac}: {n}"))
        })
        .collect();
    match answering.as_slice() {
        [one] if nodes.get(&macs[0]).map(String::as_str) == Some(owner) => {
            println!("# {what}: {one}'s eth0, the owner; no other node answered");
            Ok(())
        }
        _ => Err(format!(
            "{what}: expected {owner} alone to answer, got {answering:?}"
        )),
    }
}

/// The operator's checks: the Service, the speakers' logs, who answers at the client.
pub fn verify(view: &FabricView) -> Result<()> {
    let client = client(view)?;
    let nodes = node_macs(view);
    let (owner, addresses) = agreed_owner(view)?;
    let (ipv4, ipv6) = families(&addresses)?;
    println!(
        "\n$ kubectl get svc web            # ironlb get services --cluster-dir {}",
        view.cluster_dir.display()
    );
    print!("{}", crate::lab::ironlb_get(view, "services"));
    println!(
        "# EXTERNAL-IP: an IPv4 and an IPv6 address from l2-pool; L2-OWNER: the node answering for both"
    );
    println!(
        "\n$ kubectl logs -n metallb-system -l component=speaker | grep \"layer 2: answering\""
    );
    for node in NODES {
        for line in view
            .log(&format!("speaker-{node}"))
            .lines()
            .filter(|l| l.contains("layer 2: answering"))
        {
            println!("{node}: {line}");
        }
    }
    println!("\n# The client asks, as any host on the segment does. The nodes' MACs:");
    for node in &view.nodes {
        if let Some((mac, _)) = nodes.iter().find(|(_, name)| **name == node.name) {
            println!("#   {} eth0 {mac}", node.name);
        }
    }
    let macs = at_client(
        &client,
        "arping",
        &["-c", "3", "-W", "0.2", "-w", "2", "-i", "eth0", &ipv4],
    );
    one_answer(&format!("ARP for {ipv4}"), &macs, &nodes, &owner)?;
    let macs = at_client(
        &client,
        "ndisc6",
        &["-n", "-m", "-r", "1", "-w", "1000", &ipv6, "eth0"],
    );
    one_answer(
        &format!("Neighbor Solicitation for {ipv6}"),
        &macs,
        &nodes,
        &owner,
    )?;
    resolve(&client, &[&ipv4, &ipv6], &nodes, &owner)?;
    println!(
        "\nclient$ ip neigh show dev eth0   # after one ping to each (its kernel resolved them)"
    );
    print!("{}", neighbour_lines(&client, &[&ipv4, &ipv6]));
    Ok(())
}

/// The Service's IPv4 and IPv6 address.
fn families(addresses: &[String]) -> Result<(String, String)> {
    let ipv4 = addresses.iter().find(|a| !a.contains(':'));
    let ipv6 = addresses.iter().find(|a| a.contains(':'));
    match (ipv4, ipv6) {
        (Some(ipv4), Some(ipv6)) => Ok((ipv4.clone(), ipv6.clone())),
        _ => Err(format!(
            "web should have an IPv4 and an IPv6 address: {addresses:?}"
        )),
    }
}

/// The client's neighbour entries with a MAC: address → MAC (lowercase), from `ip -j neigh`.
fn neighbours(client: &Namespace) -> BTreeMap<String, String> {
    let text = client
        .ip(&["-j", "neigh", "show", "dev", "eth0"])
        .unwrap_or_default();
    let entries: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
    entries
        .iter()
        .filter_map(|entry| {
            Some((
                entry["dst"].as_str()?.to_string(),
                entry["lladdr"].as_str()?.to_lowercase(),
            ))
        })
        .collect()
}

/// The client's `ip neigh` lines for `addresses`.
fn neighbour_lines(client: &Namespace, addresses: &[&str]) -> String {
    client
        .ip(&["neigh", "show", "dev", "eth0"])
        .unwrap_or_default()
        .lines()
        .filter(|line| addresses.iter().any(|a| line.starts_with(&format!("{a} "))))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The client's kernel resolves `addresses` (one ping each: ARP, Neighbor Solicitation) until
/// its entries point at `owner`.
fn resolve(
    client: &Namespace,
    addresses: &[&str],
    nodes: &BTreeMap<String, String>,
    owner: &str,
) -> Result<()> {
    ironlb_lab::wait_for(
        &format!("the client's entries for {addresses:?} at {owner}"),
        WAIT,
        || {
            let table = neighbours(client);
            let mut all = true;
            for address in addresses {
                if table
                    .get(*address)
                    .and_then(|mac| nodes.get(mac))
                    .map(String::as_str)
                    != Some(owner)
                {
                    all = false;
                    let family = if address.contains(':') { "-6" } else { "-4" };
                    let _ = client.exec("ping", &[family, "-c", "1", "-W", "1", address]);
                }
            }
            all.then_some(())
        },
    )
    .map_err(|e| e.to_string())
}

/// Polls the client's neighbour table every [`POLL`] until each of `addresses` points at a
/// node `accept` takes; returns, per address, the time from `start` and the node.
fn watch(
    client: &Namespace,
    addresses: &[&str],
    nodes: &BTreeMap<String, String>,
    start: Instant,
    accept: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, (Duration, String)>> {
    let mut reached = BTreeMap::new();
    while reached.len() < addresses.len() {
        let table = neighbours(client);
        for address in addresses {
            if reached.contains_key(*address) {
                continue;
            }
            if let Some(node) = table.get(*address).and_then(|mac| nodes.get(mac))
                && accept(node)
            {
                reached.insert(address.to_string(), (start.elapsed(), node.clone()));
            }
        }
        if start.elapsed() > WAIT {
            return Err(format!(
                "the client's entries did not move in {WAIT:?}: {table:?}"
            ));
        }
        std::thread::sleep(POLL);
    }
    Ok(reached)
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1e3)
}

/// Stopping and starting a node's speaker: the fabric's own processes in a full run, found by
/// PID in the node's namespace in a lab left running (`ironlb lab up`).
pub trait Speakers {
    fn fabric(&self) -> &FabricView;
    /// SIGKILL, and the process reaped or gone.
    fn kill(&mut self, node: &str) -> Result<()>;
    fn start(&mut self, node: &str) -> Result<()>;
}

impl Speakers for Fabric {
    fn fabric(&self) -> &FabricView {
        self
    }

    fn kill(&mut self, node: &str) -> Result<()> {
        self.stop_speaker(node, Stop::Kill);
        Ok(())
    }

    fn start(&mut self, node: &str) -> Result<()> {
        self.start_speaker(node, &[]).map_err(|e| e.to_string())
    }
}

/// A lab left running: its speakers are no children of this process.
pub struct Attached {
    pub view: FabricView,
    /// The `ironlb` binary.
    pub ironlb: PathBuf,
    /// Speakers started by the drill (the lab's state lists them for `ironlb lab down`).
    pub started: Vec<u32>,
    /// Speakers killed by the drill (their PIDs leave the lab's state: they may be reused).
    pub killed: Vec<u32>,
}

impl Attached {
    fn namespace(&self, node: &str) -> Result<String> {
        self.view
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| n.namespace.clone())
            .ok_or_else(|| format!("no node {node}"))
    }
}

impl Speakers for Attached {
    fn fabric(&self) -> &FabricView {
        &self.view
    }

    fn kill(&mut self, node: &str) -> Result<()> {
        // The processes in the node's namespace that are its speaker, by their command line.
        let namespace = self.namespace(node)?;
        let pids = ironlb_lab::run("ip", &["netns", "pids", &namespace]).unwrap_or_default();
        let speakers: Vec<&str> = pids
            .split_whitespace()
            .filter(|pid| {
                let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let words: Vec<&[u8]> = command.split(|b| *b == 0).collect();
                words.contains(&b"speaker".as_slice()) && words.contains(&node.as_bytes())
            })
            .collect();
        if speakers.is_empty() {
            return Err(format!("{node}'s speaker is not running"));
        }
        for pid in &speakers {
            ironlb_lab::run("kill", &["-KILL", pid]).map_err(|e| e.to_string())?;
            self.killed.extend(pid.parse::<u32>());
        }
        ironlb_lab::wait_for(&format!("{node}'s speaker gone"), WAIT, || {
            speakers
                .iter()
                .all(|pid| {
                    // Gone, or a zombie its parent has not reaped yet.
                    std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .map_or(true, |stat| stat.contains(") Z "))
                })
                .then_some(())
        })
        .map_err(|e| e.to_string())
    }

    fn start(&mut self, node: &str) -> Result<()> {
        let namespace = self.namespace(node)?;
        let log_path = self.view.directory.join(format!("speaker-{node}.log"));
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&log_path)
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let errors = log.try_clone().map_err(|e| e.to_string())?;
        // `ip netns exec` execs the program: the PID is the speaker's. It outlives this
        // command, as the lab's other processes do; `ironlb lab down` stops it by PID.
        let child = Command::new("ip")
            .args(["netns", "exec", &namespace])
            .arg(&self.ironlb)
            .args(["speaker", "--cluster-dir"])
            .arg(&self.view.cluster_dir)
            .args(["--node", node])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(errors)
            .spawn()
            .map_err(|e| format!("cannot start {node}'s speaker: {e}"))?;
        self.started.push(child.id());
        Ok(())
    }
}

/// One fault on the owner.
#[derive(Clone, Copy)]
enum Fault {
    LinkDown,
    Kill,
}

/// The failover drill: the owner's link goes down, then its speaker is SIGKILLed; each time
/// the client's neighbour entries move to the new owner by themselves, and back to the old
/// owner once it returns.
pub fn drill(lab: &mut dyn Speakers) -> Result<()> {
    let view = lab.fabric().clone();
    let client = client(&view)?;
    let nodes = node_macs(&view);
    wait_alive(&view)?;
    let (owner, addresses) = agreed_owner(&view)?;
    let (ipv4, ipv6) = families(&addresses)?;
    let addresses = [ipv4.as_str(), ipv6.as_str()];
    println!(
        "\n# Failover drill: {owner} owns {ipv4} and {ipv6}. Times from the fault to the client's\n# neighbour entry (ip -j neigh, read every {} ms) naming another node's MAC; the client\n# sends nothing meanwhile: the new owner's gratuitous ARP and unsolicited NA move it.\n# Each fault comes 5.5 s after the last announcement (they last 4.4 s).",
        POLL.as_millis()
    );
    let mut summary = Vec::new();
    for (number, fault) in [(1, Fault::LinkDown), (2, Fault::Kill)] {
        let what = match fault {
            Fault::LinkDown => format!("{owner}'s link goes down (its switch port)"),
            Fault::Kill => format!("{owner}'s speaker is SIGKILLed (a crash)"),
        };
        println!("\n## {number}. {what}");
        resolve(&client, &addresses, &nodes, &owner)?;
        // Earlier announcements over: they would move the entries back by themselves.
        std::thread::sleep(ANNOUNCEMENTS);
        println!("client$ ip neigh show dev eth0   # before");
        print!("{}", neighbour_lines(&client, &addresses));
        let start = Instant::now();
        match fault {
            Fault::LinkDown => view
                .set_link(&owner, Link::Down)
                .map_err(|e| e.to_string())?,
            Fault::Kill => lab.kill(&owner)?,
        }
        let moved = watch(&client, &addresses, &nodes, start, |node| node != owner)
            .map_err(|e| format!("{e}\n{}", logs(&view)))?;
        for address in addresses {
            let (time, node) = &moved[address];
            println!(
                "  {address}: the client's entry moved to {node} in {}",
                milliseconds(*time)
            );
        }
        println!("client$ ip neigh show dev eth0   # after, nothing sent by the client");
        print!("{}", neighbour_lines(&client, &addresses));
        let start = Instant::now();
        match fault {
            Fault::LinkDown => view.set_link(&owner, Link::Up).map_err(|e| e.to_string())?,
            Fault::Kill => lab.start(&owner)?,
        }
        let back = watch(&client, &addresses, &nodes, start, |node| node == owner)
            .map_err(|e| format!("{e}\n{}", logs(&view)))?;
        let how = match fault {
            Fault::LinkDown => "its link up again",
            Fault::Kill => "its speaker started again, 2.5 s start-up grace included",
        };
        for address in addresses {
            println!(
                "  {owner} back ({how}): the client's entry for {address} returned in {}",
                milliseconds(back[address].0)
            );
        }
        summary.push((fault, moved, back));
        wait_alive(&view)?;
    }
    println!("\n# Summary (at the client's neighbour table)");
    for (fault, moved, back) in &summary {
        let label = match fault {
            Fault::LinkDown => "owner's link down      ",
            Fault::Kill => "owner's speaker killed ",
        };
        let time = |times: &BTreeMap<String, (Duration, String)>, address: &str| {
            times
                .get(address)
                .map(|(time, _)| milliseconds(*time))
                .unwrap_or_default()
        };
        let to = moved
            .get(&ipv4)
            .map(|(_, node)| node.clone())
            .unwrap_or_default();
        println!(
            "  {label} IPv4 {:>7}   IPv6 {:>7}   (to {to}; back {} / {})",
            time(moved, &ipv4),
            time(moved, &ipv6),
            time(back, &ipv4),
            time(back, &ipv6),
        );
    }
    Ok(())
}
