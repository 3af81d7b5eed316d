//! The faults a fabric lives through, played on the seed's network: blips, link flaps, ToR
//! restarts, speaker upgrades and crashes. Each returns what the ToRs' FIBs saw, so the fault
//! tests assert the behaviour and the fault bench prints the times.
//!
//! The fabric is the seed's (three nodes; tor1 with BFD 300 ms × 3, tor2 without BFD and a 9 s
//! hold time, so a hard failure ends in seconds) in either ToR configuration operators run:
//! static neighbours or `bgp listen range`. Services use ETP Cluster, so every node announces
//! every Service and both ToRs see three next hops for each.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use crate::fabric::Stop;
use crate::fabric::{Fabric, FabricSpec, Link, Peering};
use crate::fib::FibWatch;
use crate::{LabError, Result, wait_for};

/// The nodes' addresses.
pub const NODES: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 0, 0, 21),
    Ipv4Addr::new(10, 0, 0, 22),
    Ipv4Addr::new(10, 0, 0, 23),
];
/// The ToRs.
pub const TORS: [&str; 2] = ["tor1", "tor2"];
/// The address of the first Service (the one whose FIB entry is watched).
pub const FIRST_IP: &str = "203.0.113.10";

/// What to build.
#[derive(Clone, Debug)]
pub struct SeedOptions {
    pub peering: Peering,
    /// `enableGracefulRestart: true` on both BGPPeers.
    pub graceful_restart: bool,
    /// LoadBalancer Services (203.0.113.10 and up).
    pub services: usize,
    /// Extra lines for the ToRs' `nodes` peer group.
    pub tor_extra: Vec<String>,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            peering: Peering::Static,
            graceful_restart: false,
            services: 1,
            tor_extra: Vec::new(),
        }
    }
}

/// A running seed fabric with a FIB watch on each ToR.
pub struct Seed {
    pub fabric: Fabric,
    pub options: SeedOptions,
    watches: BTreeMap<&'static str, FibWatch>,
    /// The ToRs that held the node's routes as stale during the last speaker restart.
    pub stale_seen: Vec<&'static str>,
    /// Services deleted so far.
    deleted: Vec<usize>,
}

/// What the ToRs saw during a fault, per ToR.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Times the affected node's next hop left the ToR's FIB for the watched Service.
    pub removals: BTreeMap<&'static str, usize>,
    /// When the node's next hop left, counted from the fault's start.
    pub removed_after: BTreeMap<&'static str, Duration>,
    /// When it was back, counted from the end of the fault (connectivity back, speaker started
    /// again, bgpd accepting connections).
    pub back_after: BTreeMap<&'static str, Duration>,
}

impl Seed {
    /// Builds the fabric, writes the seed's objects with `options.services` Services, starts
    /// the controller and a speaker per node, and waits until both ToRs have every Service via
    /// all three nodes.
    pub fn build(name: &str, ironlb: PathBuf, options: SeedOptions) -> Result<Seed> {
        let mut spec = FabricSpec::seed(ironlb);
        for tor in &mut spec.tors {
            tor.peering = options.peering;
            tor.extra = options.tor_extra.clone();
        }
        let mut fabric = Fabric::build(name, spec)?;
        for (file, yaml) in manifests(&options, &[]) {
            fabric.write(file, &yaml)?;
        }
        fabric.write("nodes.yaml", &fabric.nodes_yaml(&[]))?;
        fabric.start_controller()?;
        for node in ["node-21", "node-22", "node-23"] {
            fabric.start_speaker(node, &[])?;
        }
        let mut watches = BTreeMap::new();
        for tor in TORS {
            let namespace = fabric.tor(tor).frr.namespace().clone();
            watches.insert(tor, FibWatch::start(&namespace, FIRST_IP)?);
        }
        let seed = Seed {
            fabric,
            options,
            watches,
            stale_seen: Vec::new(),
            deleted: Vec::new(),
        };
        seed.wait_all_routes(Duration::from_secs(60))
            .and_then(|_| seed.wait_bfd_up(Duration::from_secs(30)))
            .map_err(|e| LabError(format!("{e}\n{}", seed.logs())))?;
        Ok(seed)
    }

    /// The FIB watch of a ToR.
    pub fn watch(&self, tor: &str) -> &FibWatch {
        &self.watches[tor]
    }

    /// Waits until every Service is in both ToRs' FIBs via all three nodes; returns when.
    pub fn wait_all_routes(&self, timeout: Duration) -> Result<Instant> {
        let want = self.options.services - self.deleted.len();
        for tor in TORS {
            wait_for(
                &format!("{tor}: {want} Services via all three nodes"),
                timeout,
                || (self.complete_routes(tor) == want).then_some(()),
            )?;
        }
        Ok(Instant::now())
    }

    /// Waits until tor1's BFD sessions with the three nodes are Up (a fault before that would
    /// not be detected by BFD).
    pub fn wait_bfd_up(&self, timeout: Duration) -> Result<()> {
        let frr = &self.fabric.tor("tor1").frr;
        wait_for("tor1: BFD Up with the three nodes", timeout, || {
            (frr.bfd_peers_up().len() == NODES.len()).then_some(())
        })
    }

    /// Waits until the fabric says what the plan says, everywhere: each ToR's FIB has every
    /// live Service via all three nodes and no other Service address, its BGP table no stale
    /// path; each speaker's metrics show both sessions up with every prefix announced, and its
    /// status lists both peers for every Service.
    pub fn check_converged(&self, timeout: Duration) -> Result<()> {
        let want = self.options.services - self.deleted.len();
        let mut last = String::new();
        wait_for("the fabric to equal the plan", timeout, || {
            match self.disagreement(want) {
                None => Some(()),
                Some(why) => {
                    last = why;
                    None
                }
            }
        })
        .map_err(|e| LabError(format!("{e}: {last}\n{}", self.logs())))
    }

    /// What differs from the plan, if anything.
    fn disagreement(&self, want: usize) -> Option<String> {
        for tor in TORS {
            let namespace = self.fabric.tor(tor).frr.namespace().clone();
            let text = namespace
                .ip(&["route", "show", "proto", "bgp"])
                .unwrap_or_default();
            let addresses = text.lines().filter(|l| l.starts_with("203.0.113.")).count();
            let complete = self.complete_routes(tor);
            if complete != want || addresses != want {
                return Some(format!(
                    "{tor}: {complete} of {want} Services via all nodes, {addresses} Service routes"
                ));
            }
            let table = self
                .fabric
                .tor(tor)
                .frr
                .vtysh("show bgp ipv4 unicast json")
                .unwrap_or_default();
            if table.contains("\"stale\":true") {
                return Some(format!("{tor}: stale paths left"));
            }
        }
        for node in &self.fabric.nodes {
            let namespace = crate::Namespace::existing(&node.namespace);
            let metrics = namespace
                .exec("curl", &["-sf", "http://127.0.0.1:7472/metrics"])
                .unwrap_or_default();
            for peer in ["10.0.0.1:179", "10.0.0.2:179"] {
                for expected in [
                    format!("metallb_bgp_session_up{{peer=\"{peer}\"}} 1"),
                    format!("metallb_bgp_announced_prefixes_total{{peer=\"{peer}\"}} {want}"),
                ] {
                    if !metrics.lines().any(|line| line == expected) {
                        return Some(format!("{}: metrics lack {expected}", node.name));
                    }
                }
            }
            let status = std::fs::read_to_string(
                self.fabric
                    .cluster_dir
                    .join(format!(".ironlb/speaker-{}.yaml", node.name)),
            )
            .unwrap_or_default();
            let announced = status.matches("  peers:\n  - tor1\n  - tor2\n").count();
            if announced != want {
                return Some(format!(
                    "{}: status lists both peers for {announced} of {want} Services",
                    node.name
                ));
            }
        }
        None
    }

    /// How many Service addresses a ToR's FIB has via all three nodes.
    pub fn complete_routes(&self, tor: &str) -> usize {
        let namespace = self.fabric.tor(tor).frr.namespace().clone();
        let Ok(text) = namespace.ip(&["route", "show", "proto", "bgp"]) else {
            return 0;
        };
        // One route per line; multipath next hops follow on indented lines.
        let mut routes: Vec<(String, Vec<Ipv4Addr>)> = Vec::new();
        for line in text.lines() {
            if line.starts_with(char::is_whitespace) {
                if let Some((_, hops)) = routes.last_mut() {
                    hops.extend(crate::fabric::parse_next_hops::<Ipv4Addr>(line));
                }
            } else {
                let prefix = line
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                routes.push((prefix, crate::fabric::parse_next_hops(line)));
            }
        }
        routes
            .iter()
            .filter(|(prefix, hops)| {
                prefix.starts_with("203.0.113.") && NODES.iter().all(|n| hops.contains(n))
            })
            .count()
    }

    /// A blip: `node` cut off (both ways, link up) for `duration`.
    pub fn blip(&mut self, node: &str, duration: Duration) -> Result<Outcome> {
        let hop = node_address(node)?;
        let start = Instant::now();
        self.fabric.isolate(node)?;
        std::thread::sleep(duration);
        self.fabric.rejoin(node)?;
        let end = Instant::now();
        let outcome = self.outcome(hop, start, end, Duration::from_secs(60))?;
        self.wait_bfd_up(Duration::from_secs(30))?;
        Ok(outcome)
    }

    /// Takes `node`'s link down and up `times` times (`down` then `up` each).
    pub fn flap_link(
        &mut self,
        node: &str,
        times: usize,
        down: Duration,
        up: Duration,
    ) -> Result<Outcome> {
        let hop = node_address(node)?;
        let start = Instant::now();
        for _ in 0..times {
            self.fabric.set_link(node, Link::Down)?;
            std::thread::sleep(down);
            self.fabric.set_link(node, Link::Up)?;
            std::thread::sleep(up);
        }
        let end = Instant::now();
        // Damped sessions are held down up to 30 s after the last flap.
        self.outcome(hop, start, end, Duration::from_secs(90))
    }

    /// Stops `node`'s speaker (SIGTERM or SIGKILL), waits `pause`, starts it again.
    pub fn restart_speaker(&mut self, node: &str, stop: Stop, pause: Duration) -> Result<Outcome> {
        self.restart_speaker_while(node, stop, pause, |_| Ok(()))
    }

    /// [`Seed::restart_speaker`], doing `meanwhile` while the speaker is stopped.
    pub fn restart_speaker_while(
        &mut self,
        node: &str,
        stop: Stop,
        pause: Duration,
        meanwhile: impl FnOnce(&mut Seed) -> Result<()>,
    ) -> Result<Outcome> {
        let hop = node_address(node)?;
        let start = Instant::now();
        self.fabric.stop_speaker(node, stop);
        meanwhile(self)?;
        std::thread::sleep(pause);
        self.stale_seen = TORS
            .iter()
            .filter(|tor| self.stale(tor, node))
            .copied()
            .collect();
        self.fabric.start_speaker(node, &[])?;
        let end = Instant::now();
        // Graceful restart ends at the new speaker's End-of-RIB: wait for it at both ToRs, so
        // removals it causes are counted and the next fault starts from fresh routes.
        for tor in TORS {
            wait_for(
                &format!("{tor}: {node}'s routes no longer stale"),
                Duration::from_secs(30),
                || (!self.stale(tor, node)).then_some(()),
            )?;
        }
        self.outcome(hop, start, end, Duration::from_secs(60))
    }

    /// Deletes Service `web-INDEX` (and its EndpointSlice) from the cluster.
    pub fn delete_service(&mut self, index: usize) -> Result<()> {
        self.deleted.push(index);
        for (file, yaml) in manifests(&self.options, &self.deleted) {
            if file.starts_with("services") || file.starts_with("endpoints") {
                self.fabric.write(file, &yaml)?;
            }
        }
        Ok(())
    }

    /// The paths a ToR's BGP table holds for a Service address, and how many are stale.
    pub fn bgp_paths(&self, tor: &str, address: &str) -> (usize, usize) {
        let Ok(json) = self
            .fabric
            .tor(tor)
            .frr
            .json(&format!("show bgp ipv4 unicast {address}/32 json"))
        else {
            return (0, 0);
        };
        let paths = json["paths"].as_array().cloned().unwrap_or_default();
        let stale = paths
            .iter()
            .filter(|path| path["stale"].as_bool() == Some(true))
            .count();
        (paths.len(), stale)
    }

    /// Restarts a ToR's bgpd (SIGKILL, start again); returns how long after the new bgpd
    /// accepts connections every Service is back in its FIB via all three nodes.
    pub fn restart_tor(&mut self, tor: &str) -> Result<Duration> {
        let accepting = self.fabric.restart_tor_bgpd(tor)?;
        let want = self.options.services - self.deleted.len();
        wait_for(
            &format!("{tor}: every route back"),
            Duration::from_secs(60),
            || (self.complete_routes(tor) == want).then_some(()),
        )?;
        Ok(accepting.elapsed())
    }

    /// Whether a ToR still holds `node`'s routes as stale (graceful restart helper).
    pub fn stale(&self, tor: &str, node: &str) -> bool {
        let Ok(json) = self
            .fabric
            .tor(tor)
            .frr
            .json(&format!("show bgp ipv4 unicast {FIRST_IP}/32 json"))
        else {
            return false;
        };
        let Ok(address) = node_address(node) else {
            return false;
        };
        json["paths"].as_array().is_some_and(|paths| {
            paths.iter().any(|path| {
                path["nexthops"][0]["ip"].as_str() == Some(&address.to_string())
                    && path["stale"].as_bool() == Some(true)
            })
        })
    }

    /// What the ToRs' FIBs saw of `hop` from `start`; waits up to `timeout` after `end` for it
    /// to be back everywhere.
    fn outcome(
        &self,
        hop: Ipv4Addr,
        start: Instant,
        end: Instant,
        timeout: Duration,
    ) -> Result<Outcome> {
        let mut outcome = Outcome::default();
        for tor in TORS {
            let watch = self.watch(tor);
            let back = watch
                .wait(&format!("{tor}: {hop} back"), end, timeout, |hops| {
                    NODES.iter().all(|n| hops.contains(n))
                })
                .map_err(|e| LabError(format!("{e}\n{}", self.logs())))?;
            // Anything the fault still causes shows within a second of the node being back.
            std::thread::sleep(Duration::from_millis(500));
            let removals = watch.removals(hop, start);
            outcome.removals.insert(tor, removals);
            if removals > 0 {
                if let Some(gone) = watch.first(start, |hops| !hops.contains(&hop)) {
                    outcome
                        .removed_after
                        .insert(tor, gone.duration_since(start));
                }
                outcome
                    .back_after
                    .insert(tor, back.saturating_duration_since(end));
            }
        }
        Ok(outcome)
    }

    /// The speakers' and ToRs' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for node in ["node-21", "node-22", "node-23"] {
            let log = self.fabric.log(&format!("speaker-{node}"));
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let _ = writeln!(text, "--- speaker-{node} (last lines)");
            for line in tail.iter().rev() {
                let _ = writeln!(text, "{line}");
            }
            // A session that stopped changing is not in the last lines: each ToR's own.
            for (index, tor) in TORS.iter().enumerate() {
                let peer = format!("peer=10.0.0.{}", index + 1);
                let name = format!("name={tor}");
                let mine: Vec<&str> = log
                    .lines()
                    .filter(|line| line.contains(&peer) || line.contains(&name))
                    .collect();
                let _ = writeln!(text, "--- speaker-{node}, {tor} (last lines)");
                for line in &mine[mine.len().saturating_sub(8)..] {
                    let _ = writeln!(text, "{line}");
                }
            }
        }
        for tor in TORS {
            let frr = &self.fabric.tor(tor).frr;
            let _ = writeln!(
                text,
                "--- {tor}\n{}",
                frr.vtysh("show bgp summary").unwrap_or_default()
            );
            let log = std::fs::read_to_string(frr.directory().join("bgpd.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            for line in tail.iter().rev() {
                let _ = writeln!(text, "{line}");
            }
        }
        text
    }
}

fn node_address(node: &str) -> Result<Ipv4Addr> {
    node.strip_prefix("node-")
        .and_then(|n| n.parse::<u8>().ok())
        .map(|n| Ipv4Addr::new(10, 0, 0, n))
        .ok_or_else(|| LabError(format!("no node {node}")))
}

/// The seed's metallb.io objects for faults, and the Services.
fn manifests(options: &SeedOptions, deleted: &[usize]) -> Vec<(&'static str, String)> {
    let graceful = if options.graceful_restart {
        "  enableGracefulRestart: true\n"
    } else {
        ""
    };
    let peers = format!(
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: tor1\n  namespace: metallb-system\nspec:\n  myASN: 65100\n  peerASN: 65000\n  peerAddress: 10.0.0.1\n  holdTime: 90s\n  bfdProfile: tor-bfd\n{graceful}---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: tor2\n  namespace: metallb-system\nspec:\n  myASN: 65100\n  peerASN: 65000\n  peerAddress: 10.0.0.2\n  holdTime: 9s\n{graceful}"
    );
    let mut services = String::new();
    let mut endpoints = String::new();
    for index in (0..options.services).filter(|i| !deleted.contains(i)) {
        let name = format!("web-{index}");
        let _ = write!(
            services,
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n  annotations:\n    metallb.io/loadBalancerIPs: 203.0.113.{}\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Cluster\n  selector: {{app: {name}}}\n  ports: [{{port: 443, targetPort: 8443}}]\n",
            10 + index
        );
        let _ = write!(
            endpoints,
            "---\n{}",
            Fabric::endpoints_yaml(&name, &["node-21", "node-22", "node-23"])
        );
    }
    vec![
        (
            "pool.yaml",
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: prod-pool\n  namespace: metallb-system\nspec:\n  addresses:\n  - 203.0.113.0/24\n".to_string(),
        ),
        ("peers.yaml", peers),
        (
            "bfd.yaml",
            "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata:\n  name: tor-bfd\n  namespace: metallb-system\nspec:\n  receiveInterval: 300\n  transmitInterval: 300\n  detectMultiplier: 3\n".to_string(),
        ),
        (
            "advertisement.yaml",
            "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: prod-adv\n  namespace: metallb-system\nspec:\n  ipAddressPools: [prod-pool]\n  aggregationLength: 32\n".to_string(),
        ),
        ("services.yaml", services),
        ("endpoints.yaml", endpoints),
    ]
}

/// Who speaks BGP for the node in a [`Single`] fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeSpeaker {
    /// `ironlb bgp announce` with BFD 300 ms × 3.
    IronLb,
    /// FRR 8 (bgpd, bfdd, zebra) with `neighbor ... bfd` (300 ms × 3).
    Frr,
    /// BIRD 2 with `bfd on` (300 ms × 3).
    Bird,
}

impl std::fmt::Display for NodeSpeaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeSpeaker::IronLb => "IronLB (bgp announce)",
            NodeSpeaker::Frr => "FRR",
            NodeSpeaker::Bird => "BIRD",
        })
    }
}

/// The seed's fabric with one node (node-21) announcing 203.0.113.10/32 through a speaker of
/// choice: the same fault, played against IronLB and its peers.
pub struct Single {
    pub fabric: Fabric,
    pub speaker: NodeSpeaker,
    watch: FibWatch,
}

impl Single {
    /// Builds the fabric, starts the speaker on node-21, waits for the route at tor1 and BFD
    /// Up.
    pub fn build(
        name: &str,
        ironlb: PathBuf,
        peering: Peering,
        speaker: NodeSpeaker,
    ) -> Result<Single> {
        let mut spec = FabricSpec::seed(ironlb.clone());
        for tor in &mut spec.tors {
            tor.peering = peering;
        }
        let mut fabric = Fabric::build(name, spec)?;
        let node = crate::Namespace::existing(&fabric.nodes[0].namespace);
        match speaker {
            NodeSpeaker::IronLb => {
                let ironlb = ironlb.display().to_string();
                fabric.lab.spawn(
                    &node,
                    "node-speaker",
                    &ironlb,
                    &[
                        "bgp",
                        "announce",
                        "--local-asn",
                        "65100",
                        "--peer",
                        "10.0.0.1",
                        "--peer-asn",
                        "65000",
                        "--source",
                        "10.0.0.21",
                        "--prefix",
                        "203.0.113.10/32",
                        "--bfd-rx",
                        "300",
                        "--bfd-tx",
                        "300",
                        "--bfd-multiplier",
                        "3",
                    ],
                )?;
            }
            NodeSpeaker::Frr => {
                crate::Frr::start(
                    &mut fabric.lab,
                    &node,
                    "node-frr",
                    "router bgp 65100\n bgp router-id 10.0.0.21\n no bgp ebgp-requires-policy\n no bgp network import-check\n neighbor 10.0.0.1 remote-as 65000\n neighbor 10.0.0.1 bfd\n address-family ipv4 unicast\n  network 203.0.113.10/32\n exit-address-family\n",
                    crate::FrrDaemons { bfd: true },
                )?;
            }
            NodeSpeaker::Bird => {
                crate::Bird::start(
                    &mut fabric.lab,
                    &node,
                    "node-bird",
                    "router id 10.0.0.21;\nprotocol device { }\nprotocol static { ipv4; route 203.0.113.10/32 blackhole; }\nprotocol bfd { interface \"*\" { interval 300 ms; multiplier 3; }; }\nprotocol bgp tor1 {\n  local 10.0.0.21 as 65100;\n  neighbor 10.0.0.1 as 65000;\n  bfd on;\n  ipv4 { import none; export all; };\n}\n",
                )?;
            }
        }
        let namespace = fabric.tor("tor1").frr.namespace().clone();
        let watch = FibWatch::start(&namespace, FIRST_IP)?;
        let single = Single {
            fabric,
            speaker,
            watch,
        };
        let hop = NODES[0];
        // BIRD waits 60 s after an error (its `error wait time`), connection collisions included.
        single.watch.wait(
            "tor1: the route via node-21",
            Instant::now(),
            Duration::from_secs(180),
            |hops| hops.contains(&hop),
        )?;
        let frr = &single.fabric.tor("tor1").frr;
        wait_for("tor1: BFD Up with node-21", Duration::from_secs(30), || {
            frr.bfd_peer_up("10.0.0.21")
        })?;
        Ok(single)
    }

    /// A blip of node-21 for `duration`: when tor1 dropped it (from the start) and when it
    /// was back (from the end).
    pub fn blip(&mut self, duration: Duration) -> Result<(Duration, Duration)> {
        let hop = NODES[0];
        let start = Instant::now();
        self.fabric.isolate("node-21")?;
        std::thread::sleep(duration);
        self.fabric.rejoin("node-21")?;
        let end = Instant::now();
        let back = self.watch.wait(
            &format!("tor1: node-21 back ({})", self.speaker),
            end,
            Duration::from_secs(300),
            |hops| hops.contains(&hop),
        )?;
        let gone = self
            .watch
            .first(start, |hops| !hops.contains(&hop))
            .ok_or_else(|| LabError(format!("tor1 never dropped node-21 ({})", self.speaker)))?;
        let frr = &self.fabric.tor("tor1").frr;
        wait_for(
            "tor1: BFD Up with node-21 again",
            Duration::from_secs(60),
            || frr.bfd_peer_up("10.0.0.21"),
        )?;
        Ok((
            gone.duration_since(start),
            back.saturating_duration_since(end),
        ))
    }
}
