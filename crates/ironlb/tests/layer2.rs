//! Layer 2 mode end to end, against real kernels: three nodes' speakers on one segment (a
//! bridge in its own namespace) and a client namespace beside them, which resolves Service
//! addresses as any host on the segment would: ARP (`arping`), Neighbor Discovery (`ndisc6`),
//! and its own kernel's resolution (`ping`, then its neighbour table). Which node owns an
//! address is read where it matters, at the client: the MAC that answers.
//!
//! The scenarios are MetalLB's `e2etest/l2tests`, grouped by fabric so the file runs in a few
//! minutes (several Services per fabric, each in its own pool and L2Advertisement):
//! - `elections_follow_policy_selectors_and_node_state`: externalTrafficPolicy Cluster and
//!   Local (the endpoint moves, the owner follows), nodeSelectors (one node, a label added
//!   later, two advertisements), preferredNodeSelectors (and weights summed over
//!   advertisements), serviceSelectors (OR of selectors; a Service relabelled; no advertisement
//!   matching both Service and node), a node NetworkUnavailable, a node labelled
//!   `node.kubernetes.io/exclude-from-external-load-balancers`;
//! - `interfaces_selector_answers_only_on_the_named_interfaces`: nodes with a second interface on
//!   a second bridge; `interfaces` names one, both (two advertisements) or none that exists;
//! - `failover_link_down_kill_and_handover_move_the_clients_entry_by_itself`: for IPv4 and
//!   IPv6, the owner's link goes down, its speaker is SIGKILLed, its speaker is SIGTERMed; the
//!   client's neighbour entry moves to the new owner without the client asking (gratuitous ARP,
//!   unsolicited Neighbor Advertisement), and back when the owner returns;
//! - `arp_flood_for_other_addresses_leaves_bgp_and_bfd_up`: 10,000 ARP requests a second for
//!   addresses nobody owns, while the node peers with a ToR running FRR with BFD;
//! - `a_pool_with_both_advertisements_is_routed_by_bgp_and_answered_by_one_node`: MetalLB's
//!   mixed protocol, a pool both a BGPAdvertisement and an L2Advertisement select: routed by
//!   the ToR (FRR) via every node, answered on the segment by one, through the owner's crash;
//! - the first test: the client's kernel resolves an IPv4 and an IPv6 address, the owner dies.
//!
//! Tests assert behaviour with generous timeouts; the failover and flood tests print the times
//! and rates they measured, and run alone (the others may share the machine).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use ironlb_cluster::status::{self, BfdState, BgpState, SpeakerStatus};
use ironlb_lab::fabric::{Link, Stop};
use ironlb_lab::{Fabric, FabricSpec, Namespace};

const NODES: [&str; 3] = ["node-21", "node-22", "node-23"];
/// How long any expected change may take before the test fails.
const WAIT: Duration = Duration::from_secs(30);
/// How long an address must stay unanswered to count as not announced (MetalLB's e2e
/// `Consistently` checks last 5 s).
const SILENCE: Duration = Duration::from_secs(3);
/// How long a new owner announces an address (gratuitous ARP, unsolicited Neighbor
/// Advertisement: at once, then every 1.1 s for 4.4 s), with a margin.
const ANNOUNCEMENTS: Duration = Duration::from_millis(5500);
const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// Tests that time failovers or load the machine take it alone; the others share it.
static MACHINE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}

fn alone() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

fn ironlb() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ironlb"))
}

// --- Manifests -------------------------------------------------------------------------------

/// An IPAddressPool.
fn pool(name: &str, addresses: &[&str]) -> String {
    let quoted: Vec<String> = addresses.iter().map(|a| format!("'{a}'")).collect();
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec:\n  addresses: [{}]\n",
        quoted.join(", ")
    )
}

/// An L2Advertisement of `pools`, with more of its spec (`spec` lines, indented by two).
fn advertisement(name: &str, pools: &[&str], spec: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec:\n  ipAddressPools: [{}]\n{spec}",
        pools.join(", ")
    )
}

/// A Service's externalTrafficPolicy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Traffic {
    Cluster,
    Local,
}

/// A LoadBalancer Service in `default` asking for `address`.
fn service(name: &str, address: &str, traffic: Traffic, labels: &[(&str, &str)]) -> String {
    let family = if address.contains(':') {
        "IPv6"
    } else {
        "IPv4"
    };
    let policy = match traffic {
        Traffic::Cluster => "Cluster",
        Traffic::Local => "Local",
    };
    let labels: String = labels
        .iter()
        .map(|(key, value)| format!("    {key}: \"{value}\"\n"))
        .collect();
    let labels = if labels.is_empty() {
        String::new()
    } else {
        format!("  labels:\n{labels}")
    };
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n{labels}  annotations:\n    metallb.io/loadBalancerIPs: \"{address}\"\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: {policy}\n  ipFamilies: [{family}]\n  ipFamilyPolicy: SingleStack\n  selector: {{app: {name}}}\n  ports: [{{port: 80}}]\n"
    )
}

/// What the Node objects say: labels beyond the hostname, and which nodes are
/// NetworkUnavailable.
#[derive(Clone, Default)]
struct Nodes {
    labels: BTreeMap<String, BTreeMap<String, String>>,
    network_unavailable: BTreeSet<String>,
}

impl Nodes {
    fn label(&mut self, node: &str, key: &str, value: &str) {
        self.labels
            .entry(node.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
    }

    fn unlabel(&mut self, node: &str, key: &str) {
        if let Some(labels) = self.labels.get_mut(node) {
            labels.remove(key);
        }
    }

    fn yaml(&self, fabric: &Fabric) -> String {
        let mut yaml = String::new();
        for node in &fabric.nodes {
            let mut labels = format!("    kubernetes.io/hostname: {}\n", node.name);
            for (key, value) in self.labels.get(&node.name).into_iter().flatten() {
                labels.push_str(&format!("    {key}: \"{value}\"\n"));
            }
            let mut conditions = "  - type: Ready\n    status: \"True\"\n".to_string();
            if self.network_unavailable.contains(&node.name) {
                conditions.push_str("  - type: NetworkUnavailable\n    status: \"True\"\n");
            }
            yaml.push_str(&format!(
                "---\napiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n{labels}status:\n  addresses:\n  - type: InternalIP\n    address: {address}\n  conditions:\n{conditions}",
                name = node.name,
                address = node.address,
            ));
        }
        yaml
    }
}

// --- The segment -----------------------------------------------------------------------------

/// Routers beside the nodes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Routers {
    /// None: layer 2 needs none.
    None,
    /// tor1 (FRR, BFD 300 ms × 3), peering with every node.
    Tor1,
}

/// Layer 2 segments: the fabric's, and optionally a second one (a second bridge; every node
/// and the client get an `eth1` on it).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Segments {
    One,
    Two,
}

/// The nodes, their speakers and the client, on one segment (or two).
struct Segment {
    fabric: Fabric,
    client: Namespace,
    /// Every node interface's MAC (lowercase), with its node and interface name.
    macs: BTreeMap<String, (String, String)>,
    nodes: Nodes,
}

/// Builds the fabric (`name`: a short word, it appears in namespace names), the client, the
/// second segment if asked, writes `manifests` and the Nodes, and starts the controller and the
/// three speakers; returns once every speaker counts the other two alive. `None` (the test is
/// skipped and says so) when the machine cannot run it.
fn segment(
    test: &str,
    name: &str,
    routers: Routers,
    segments: Segments,
    manifests: &[(&str, String)],
) -> Option<Segment> {
    let mut programs = vec!["arping", "ndisc6", "ping"];
    if routers == Routers::Tor1 {
        programs.extend(["/usr/lib/frr/bgpd", "/usr/lib/frr/bfdd"]);
    }
    if !ironlb_lab::require(test, &programs) {
        return None;
    }
    let mut spec = FabricSpec::seed(ironlb());
    match routers {
        Routers::None => spec.tors.clear(),
        Routers::Tor1 => spec.tors.truncate(1),
    }
    let mut fabric = Fabric::build(name, spec).unwrap();
    let client = fabric
        .add_client(
            "client",
            &["10.0.0.100/24", "2001:db8:5::1:100/64"],
            &["203.0.113.0/24", "2001:db8:5::/120"],
        )
        .unwrap();
    if segments == Segments::Two {
        // Before the speakers start: they list the node's interfaces when they start (and
        // every 10 s).
        let switch = fabric.lab.namespace("sw2").unwrap();
        switch
            .ip(&["link", "add", "br1", "type", "bridge"])
            .unwrap();
        switch.ip(&["link", "set", "br1", "up"]).unwrap();
        let mut ends: Vec<(Namespace, String, String)> = fabric
            .nodes
            .iter()
            .map(|node| {
                let last = node.address.octets()[3];
                (
                    Namespace::existing(&node.namespace),
                    format!("q-{}", node.name),
                    format!("10.1.0.{last}/24"),
                )
            })
            .collect();
        ends.push((client.clone(), "q-client".into(), "10.1.0.100/24".into()));
        for (namespace, port, address) in ends {
            fabric
                .lab
                .link(&namespace, "eth1", &[&address], &switch, &port, &[])
                .unwrap();
            switch.ip(&["link", "set", &port, "master", "br1"]).unwrap();
        }
    }
    for (file, yaml) in manifests {
        fabric.write(file, yaml).unwrap();
    }
    let nodes = Nodes::default();
    fabric.write("nodes.yaml", &nodes.yaml(&fabric)).unwrap();
    fabric.start_controller().unwrap();
    for node in NODES {
        fabric.start_speaker(node, &[]).unwrap();
    }
    let mut macs = BTreeMap::new();
    for node in &fabric.nodes {
        let namespace = Namespace::existing(&node.namespace);
        for interface in ["eth0", "eth1"] {
            if let Ok(mac) =
                namespace.exec("cat", &[&format!("/sys/class/net/{interface}/address")])
            {
                macs.insert(
                    mac.trim().to_lowercase(),
                    (node.name.clone(), interface.to_string()),
                );
            }
        }
    }
    let segment = Segment {
        fabric,
        client,
        macs,
        nodes,
    };
    segment.wait_speakers_alive(&NODES);
    Some(segment)
}

/// Whether `word` is a MAC address (six pairs of hex digits).
fn is_mac(word: &str) -> bool {
    let parts: Vec<&str> = word.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn milliseconds(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1e3)
}

impl Segment {
    /// The last lines of every speaker's log, for failure messages.
    fn logs(&self) -> String {
        let mut text = String::new();
        for node in NODES {
            let log = self.fabric.log(&format!("speaker-{node}"));
            let lines: Vec<&str> = log.lines().collect();
            text.push_str(&format!("--- speaker-{node} (last 25 lines)\n"));
            for line in &lines[lines.len().saturating_sub(25)..] {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    fn write(&self, file: &str, yaml: &str) {
        self.fabric.write(file, yaml).unwrap();
    }

    fn write_nodes(&self) {
        self.write("nodes.yaml", &self.nodes.yaml(&self.fabric));
    }

    /// The node owning a MAC (`?MAC` when none does).
    fn node_of(&self, mac: &str) -> String {
        self.macs
            .get(mac)
            .map(|(node, _)| node.clone())
            .unwrap_or_else(|| format!("?{mac}"))
    }

    fn mac_of(&self, node: &str, interface: &str) -> String {
        self.macs
            .iter()
            .find(|(_, (n, i))| n == node && i == interface)
            .map(|(mac, _)| mac.clone())
            .unwrap_or_else(|| panic!("no MAC for {node} {interface}"))
    }

    /// The MACs that answer the client's request for `address` on its `interface`: ARP
    /// (`arping`, two requests) for IPv4, a Neighbor Solicitation (`ndisc6`, every answer)
    /// for IPv6.
    fn answering_macs(&self, address: &str, interface: &str) -> BTreeSet<String> {
        let output = if address.contains(':') {
            self.client
                .command("ndisc6")
                .args(["-m", "-n", "-r", "1", "-w", "600", address, interface])
                .output()
        } else {
            self.client
                .command("arping")
                .args(["-c", "2", "-W", "0.3", "-w", "1", "-i", interface, address])
                .output()
        };
        let Ok(output) = output else {
            return BTreeSet::new();
        };
        String::from_utf8_lossy(&output.stdout)
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .filter(|word| is_mac(word))
            .map(str::to_lowercase)
            .collect()
    }

    /// The nodes that answer for `address` on the client's `interface`.
    fn answering(&self, address: &str, interface: &str) -> BTreeSet<String> {
        self.answering_macs(address, interface)
            .iter()
            .map(|mac| self.node_of(mac))
            .collect()
    }

    /// Waits until exactly one node answers for `address` on the client's `interface`;
    /// returns it.
    fn owner(&self, address: &str, interface: &str) -> String {
        let mut last = BTreeSet::new();
        let found = ironlb_lab::wait_for(
            &format!("exactly one node answering for {address} on {interface}"),
            WAIT,
            || {
                last = self.answering(address, interface);
                (last.len() == 1).then(|| last.first().cloned()).flatten()
            },
        );
        found.unwrap_or_else(|e| panic!("{e} (last: {last:?})\n{}", self.logs()))
    }

    /// Waits until `node` alone answers for `address` on the client's `interface`, with its
    /// MAC on that interface, and every speaker's status names it the owner of `service`.
    fn expect_owner(&self, service: &str, address: &str, interface: &str, node: &str) {
        let mac = self.mac_of(node, interface);
        let mut last = BTreeSet::new();
        let found = ironlb_lab::wait_for(
            &format!("{address} ({service}) answered by {node} alone on {interface}"),
            WAIT,
            || {
                last = self.answering_macs(address, interface);
                (last.len() == 1 && last.contains(&mac)).then_some(())
            },
        );
        let answered: Vec<String> = last.iter().map(|m| self.node_of(m)).collect();
        found.unwrap_or_else(|e| panic!("{e} (last: {answered:?})\n{}", self.logs()));
        let mut seen = None;
        let agreed = ironlb_lab::wait_for(
            &format!("every speaker to name {node} the owner of {service}"),
            WAIT,
            || {
                seen = Some(self.status_owners(service));
                seen.as_ref()
                    .is_some_and(|owners| owners.values().all(|o| o.as_deref() == Some(node)))
                    .then_some(())
            },
        );
        agreed.unwrap_or_else(|e| panic!("{e} (statuses: {seen:?})"));
        println!("{service} {address}: {node} answers on {interface}");
    }

    /// Asserts that nobody answers for any of `addresses` on the client's `interface` for
    /// [`SILENCE`].
    fn expect_unanswered(&self, addresses: &[&str], interface: &str) {
        let start = Instant::now();
        while start.elapsed() < SILENCE {
            for address in addresses {
                let answering = self.answering(address, interface);
                assert!(
                    answering.is_empty(),
                    "{address} answered on {interface} by {answering:?}\n{}",
                    self.logs()
                );
            }
        }
        println!("{addresses:?}: nobody answers on {interface}");
    }

    /// Every speaker's status, by node.
    fn statuses(&self) -> BTreeMap<String, SpeakerStatus> {
        status::read_speakers(&self.fabric.cluster_dir)
            .into_iter()
            .map(|s| (s.node.clone(), s))
            .collect()
    }

    /// The owner of `default/SERVICE` per speaker status (`None`: not announced, or not
    /// reported yet).
    fn status_owners(&self, service: &str) -> BTreeMap<String, Option<String>> {
        let statuses = self.statuses();
        NODES
            .iter()
            .map(|node| {
                let owner = statuses.get(*node).and_then(|s| {
                    s.layer2
                        .iter()
                        .find(|a| a.namespace == "default" && a.name == service)
                        .and_then(|a| a.owner.clone())
                });
                (node.to_string(), owner)
            })
            .collect()
    }

    /// Why `node`'s speaker does not announce `service` (or only partly: `announceFailed`).
    fn status_reason(&self, node: &str, service: &str) -> Option<String> {
        self.statuses().get(node).and_then(|s| {
            s.layer2
                .iter()
                .find(|a| a.namespace == "default" && a.name == service)
                .and_then(|a| a.reason.clone())
        })
    }

    /// The interfaces `node` says it answers on for `service`.
    fn status_interfaces(&self, node: &str, service: &str) -> Vec<String> {
        self.statuses()
            .get(node)
            .and_then(|s| {
                s.layer2
                    .iter()
                    .find(|a| a.namespace == "default" && a.name == service)
                    .map(|a| a.interfaces.clone())
            })
            .unwrap_or_default()
    }

    /// Waits until every speaker says `service` is not announced because of `reason`.
    fn expect_reason(&self, service: &str, reason: &str) {
        let mut last = BTreeMap::new();
        let found = ironlb_lab::wait_for(
            &format!("every speaker to say {service} is not announced: {reason}"),
            WAIT,
            || {
                last = self
                    .statuses()
                    .into_iter()
                    .map(|(node, s)| {
                        let why = s
                            .layer2
                            .iter()
                            .find(|a| a.namespace == "default" && a.name == service)
                            .and_then(|a| a.reason.clone());
                        (node, why)
                    })
                    .collect();
                (last.len() == NODES.len()
                    && last.values().all(|why| why.as_deref() == Some(reason)))
                .then_some(())
            },
        );
        found.unwrap_or_else(|e| panic!("{e} (statuses: {last:?})"));
    }

    /// Waits until the speakers of `nodes` each count the others among `nodes` alive (their
    /// BFD sessions Up: every start-up grace is over).
    fn wait_speakers_alive(&self, nodes: &[&str]) {
        let mut last = BTreeMap::new();
        let found = ironlb_lab::wait_for("the speakers to see each other alive", WAIT, || {
            last = self.statuses();
            nodes
                .iter()
                .all(|node| {
                    last.get(*node).is_some_and(|s| {
                        nodes.iter().filter(|other| *other != node).all(|other| {
                            s.speakers
                                .iter()
                                .any(|p| p.node == *other && p.alive && p.state == BfdState::Up)
                        })
                    })
                })
                .then_some(())
        });
        let speakers: Vec<_> = last.values().map(|s| (&s.node, &s.speakers)).collect();
        found.unwrap_or_else(|e| panic!("{e}: {speakers:?}\n{}", self.logs()));
    }

    /// The client's kernel resolves `address` (one ping: ARP or Neighbor Solicitation).
    fn resolve(&self, address: &str) {
        let family = if address.contains(':') { "-6" } else { "-4" };
        let _ = self
            .client
            .exec("ping", &[family, "-c", "1", "-W", "1", address]);
    }

    /// The client's neighbour table: address → MAC, for entries that have one.
    fn neighbours(&self) -> BTreeMap<String, String> {
        let text = self.client.ip(&["neigh", "show"]).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                let mac = words.windows(2).find(|w| w[0] == "lladdr")?[1];
                Some((words.first()?.to_string(), mac.to_lowercase()))
            })
            .collect()
    }

    /// The node the client's neighbour entry for `address` points to.
    fn neighbour(&self, address: &str) -> Option<String> {
        self.neighbours().get(address).map(|mac| self.node_of(mac))
    }

    /// Polls the client's neighbour table (without sending anything) until each address's
    /// entry points to its node in `expected`; returns when each got there, from `start`.
    fn watch_neighbours(
        &self,
        expected: &BTreeMap<String, String>,
        start: Instant,
        what: &str,
    ) -> BTreeMap<String, Duration> {
        let mut reached = BTreeMap::new();
        while reached.len() < expected.len() {
            let last = self.neighbours();
            for (address, node) in expected {
                if !reached.contains_key(address)
                    && last.get(address).map(|mac| self.node_of(mac)).as_ref() == Some(node)
                {
                    reached.insert(address.clone(), start.elapsed());
                }
            }
            if start.elapsed() > WAIT {
                let entries: BTreeMap<&String, String> = expected
                    .keys()
                    .map(|a| (a, last.get(a).map(|m| self.node_of(m)).unwrap_or_default()))
                    .collect();
                panic!(
                    "{what}: the client's entries did not reach {expected:?} in {WAIT:?} (now {entries:?})\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        reached
    }
}

// --- The scenarios ---------------------------------------------------------------------------

#[test]
fn one_node_answers_arp_and_ndp_and_another_takes_over_when_it_fails() {
    let _shared = shared();
    let manifests = [
        (
            "pool.yaml",
            pool("l2-pool", &["203.0.113.0/24", "2001:db8:5::/120"]),
        ),
        ("l2.yaml", advertisement("l2", &["l2-pool"], "")),
        (
            "web.yaml",
            service("web", "203.0.113.10", Traffic::Cluster, &[]),
        ),
        (
            "web6.yaml",
            service("web6", "2001:db8:5::10", Traffic::Cluster, &[]),
        ),
        (
            "web-endpoints.yaml",
            Fabric::endpoints_yaml("web", &["node-21"]),
        ),
        (
            "web6-endpoints.yaml",
            Fabric::endpoints_yaml("web6", &["node-21"]),
        ),
    ];
    let Some(mut segment) = segment(
        "layer2_failover",
        "layer2_fai",
        Routers::None,
        Segments::One,
        &manifests,
    ) else {
        return;
    };
    let owner = segment.owner("203.0.113.10", "eth0");
    println!("203.0.113.10 owned by {owner}");
    // IPv6: the client's kernel resolves the address (Neighbor Solicitation → Advertisement).
    segment.resolve("2001:db8:5::10");
    let owner6 = ironlb_lab::wait_for(
        "an NDP answer for 2001:db8:5::10",
        Duration::from_secs(10),
        || segment.neighbour("2001:db8:5::10"),
    )
    .unwrap();
    assert!(NODES.contains(&owner6.as_str()), "{owner6}");
    println!("2001:db8:5::10 owned by {owner6}");

    // The owner's speaker dies: another node announces the address and the client's
    // neighbour entry moves to it by itself.
    segment.resolve("203.0.113.10");
    assert_eq!(
        segment.neighbour("203.0.113.10").as_deref(),
        Some(owner.as_str())
    );
    let start = Instant::now();
    segment.fabric.stop_speaker(&owner, Stop::Kill);
    let moved = ironlb_lab::wait_for(
        "the client's entry to move",
        Duration::from_secs(10),
        || segment.neighbour("203.0.113.10").filter(|n| *n != owner),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", segment.logs()));
    println!(
        "after {owner}'s speaker was killed: {moved} in {:?}",
        start.elapsed()
    );
    assert!(NODES.contains(&moved.as_str()), "{moved}");
}

/// The endpoints of the election test's Services: those of `local` and `local6` on
/// `local_nodes`, the others' fixed.
fn election_endpoints(local_nodes: &[&str]) -> String {
    [
        Fabric::endpoints_yaml("cluster", &["node-21"]),
        Fabric::endpoints_yaml("local", local_nodes),
        Fabric::endpoints_yaml("local6", local_nodes),
        Fabric::endpoints_yaml("multi", &["node-23"]),
    ]
    .into_iter()
    .chain(
        [
            "selected",
            "preferred",
            "weights",
            "nginx",
            "apache",
            "other",
            "ghost",
        ]
        .map(|service| Fabric::endpoints_yaml(service, &NODES)),
    )
    .collect::<Vec<_>>()
    .join("---\n")
}

/// MetalLB's `l2.go` (Cluster, Local, NetworkUnavailable, the exclusion label),
/// `node_selector.go`, `preferred_node.go` and `service_selector.go`, on one fabric.
#[test]
fn elections_follow_policy_selectors_and_node_state() {
    let _shared = shared();
    let selected = "  nodeSelectors:\n  - matchLabels: {l2.test/selected: \"true\"}\n";
    let preferred = "  preferredNodeSelectors:\n  - weight: 100\n    preference:\n      matchLabels: {l2.test/preferred: \"true\"}\n";
    let zone = "  preferredNodeSelectors:\n  - weight: 60\n    preference:\n      matchLabels: {l2.test/zone: primary}\n";
    let role = "  preferredNodeSelectors:\n  - weight: 50\n    preference:\n      matchLabels: {l2.test/role: edge}\n";
    let chosen = "  serviceSelectors:\n  - matchLabels: {l2.test/app: nginx}\n  - matchLabels: {l2.test/app: apache}\n";
    let manifests = [
        (
            "pools.yaml",
            [
                pool(
                    "everyone",
                    &["203.0.113.10-203.0.113.19", "2001:db8:5::10-2001:db8:5::1f"],
                ),
                pool("selected", &["203.0.113.20/32"]),
                pool("multi", &["203.0.113.30/32"]),
                pool("preferred", &["203.0.113.40/32"]),
                pool("weights", &["203.0.113.45/32"]),
                pool("chosen", &["203.0.113.50-203.0.113.59"]),
                pool("ghost", &["203.0.113.60/32"]),
            ]
            .join("---\n"),
        ),
        (
            "advertisements.yaml",
            [
                advertisement("everyone", &["everyone"], ""),
                advertisement("selected", &["selected"], selected),
                // node_selector.go "multiple node selectors": one advertisement for node-22,
                // one for every node; the only endpoint (Local) is on node-23.
                advertisement(
                    "multi-node-22",
                    &["multi"],
                    "  nodeSelectors:\n  - matchLabels: {kubernetes.io/hostname: node-22}\n",
                ),
                advertisement("multi-all", &["multi"], ""),
                advertisement("preferred", &["preferred"], preferred),
                advertisement("zone", &["weights"], zone),
                advertisement("role", &["weights"], role),
                advertisement("chosen", &["chosen"], chosen),
                // service_selector.go: one advertisement matches every node but another
                // Service, the other this Service but a node that does not exist.
                advertisement(
                    "ghost-other-service",
                    &["ghost"],
                    "  serviceSelectors:\n  - matchLabels: {l2.test/app: other}\n",
                ),
                advertisement(
                    "ghost-no-such-node",
                    &["ghost"],
                    "  nodeSelectors:\n  - matchLabels: {kubernetes.io/hostname: non-existing-node}\n  serviceSelectors:\n  - matchLabels: {l2.test/app: web}\n",
                ),
            ]
            .join("---\n"),
        ),
        (
            "cluster.yaml",
            service("cluster", "203.0.113.10", Traffic::Cluster, &[]),
        ),
        (
            "local.yaml",
            service("local", "203.0.113.11", Traffic::Local, &[]),
        ),
        (
            "local6.yaml",
            service("local6", "2001:db8:5::11", Traffic::Local, &[]),
        ),
        (
            "selected.yaml",
            service("selected", "203.0.113.20", Traffic::Cluster, &[]),
        ),
        (
            "multi.yaml",
            service("multi", "203.0.113.30", Traffic::Local, &[]),
        ),
        (
            "preferred.yaml",
            service("preferred", "203.0.113.40", Traffic::Cluster, &[]),
        ),
        (
            "weights.yaml",
            service("weights", "203.0.113.45", Traffic::Cluster, &[]),
        ),
        (
            "nginx.yaml",
            service(
                "nginx",
                "203.0.113.50",
                Traffic::Cluster,
                &[("l2.test/app", "nginx")],
            ),
        ),
        (
            "apache.yaml",
            service(
                "apache",
                "203.0.113.51",
                Traffic::Cluster,
                &[("l2.test/app", "apache")],
            ),
        ),
        (
            "other.yaml",
            service(
                "other",
                "203.0.113.52",
                Traffic::Cluster,
                &[("l2.test/app", "other")],
            ),
        ),
        (
            "ghost.yaml",
            service(
                "ghost",
                "203.0.113.60",
                Traffic::Cluster,
                &[("l2.test/app", "web")],
            ),
        ),
        ("endpoints.yaml", election_endpoints(&["node-22"])),
    ];
    let Some(mut segment) = segment(
        "layer2_elections",
        "l2elect",
        Routers::None,
        Segments::One,
        &manifests,
    ) else {
        return;
    };

    println!("# as first applied");
    // ETP Cluster: one node answers, whichever the election picks (every node is a candidate).
    let cluster_owner = segment.owner("203.0.113.10", "eth0");
    segment.expect_owner("cluster", "203.0.113.10", "eth0", &cluster_owner);
    // ETP Local: only the node with the endpoint.
    segment.expect_owner("local", "203.0.113.11", "eth0", "node-22");
    segment.expect_owner("local6", "2001:db8:5::11", "eth0", "node-22");
    // Two advertisements, one for node-22 and one for all: the endpoint's node-23 answers.
    segment.expect_owner("multi", "203.0.113.30", "eth0", "node-23");
    // serviceSelectors are ORed: nginx and apache are selected, other is not.
    let nginx = segment.owner("203.0.113.50", "eth0");
    segment.expect_owner("nginx", "203.0.113.50", "eth0", &nginx);
    let apache = segment.owner("203.0.113.51", "eth0");
    segment.expect_owner("apache", "203.0.113.51", "eth0", &apache);
    // nodeSelectors matching no node yet; no advertisement matching both Service and node.
    segment.expect_unanswered(&["203.0.113.20", "203.0.113.52", "203.0.113.60"], "eth0");
    segment.expect_reason("other", "noMatchingAdvertisement");
    segment.expect_reason("selected", "notOwner");
    segment.expect_reason("ghost", "notOwner");
    // The natural winners, before any preference.
    let natural = segment.owner("203.0.113.40", "eth0");
    let natural_weights = segment.owner("203.0.113.45", "eth0");
    println!("preferred: natural winner {natural}; weights: natural winner {natural_weights}");

    println!("# labels added, a Service relabelled, the endpoint moved");
    segment.nodes.label("node-22", "l2.test/selected", "true");
    let favourite = NODES.iter().find(|n| **n != natural).unwrap().to_string();
    segment.nodes.label(&favourite, "l2.test/preferred", "true");
    // Weights summed over advertisements: double scores 110, single 60.
    let double = NODES
        .iter()
        .find(|n| **n != natural_weights)
        .unwrap()
        .to_string();
    let single = NODES
        .iter()
        .find(|n| **n != natural_weights && **n != double)
        .unwrap()
        .to_string();
    segment.nodes.label(&double, "l2.test/zone", "primary");
    segment.nodes.label(&double, "l2.test/role", "edge");
    segment.nodes.label(&single, "l2.test/zone", "primary");
    segment.write_nodes();
    segment.write(
        "other.yaml",
        &service(
            "other",
            "203.0.113.52",
            Traffic::Cluster,
            &[("l2.test/app", "apache")],
        ),
    );
    segment.write("endpoints.yaml", &election_endpoints(&["node-21"]));
    segment.expect_owner("selected", "203.0.113.20", "eth0", "node-22");
    segment.expect_owner("preferred", "203.0.113.40", "eth0", &favourite);
    segment.expect_owner("weights", "203.0.113.45", "eth0", &double);
    let other = segment.owner("203.0.113.52", "eth0");
    segment.expect_owner("other", "203.0.113.52", "eth0", &other);
    segment.expect_owner("local", "203.0.113.11", "eth0", "node-21");
    segment.expect_owner("local6", "2001:db8:5::11", "eth0", "node-21");
    segment.expect_unanswered(&["203.0.113.60"], "eth0");

    println!("# labels moved and removed, the endpoint gone");
    segment.nodes.unlabel("node-22", "l2.test/selected");
    segment.nodes.label("node-23", "l2.test/selected", "true");
    segment.nodes.unlabel(&favourite, "l2.test/preferred");
    segment.nodes.unlabel(&double, "l2.test/zone");
    segment.write_nodes();
    segment.write("endpoints.yaml", &election_endpoints(&[]));
    segment.expect_owner("selected", "203.0.113.20", "eth0", "node-23");
    segment.expect_owner("preferred", "203.0.113.40", "eth0", &natural);
    segment.expect_owner("weights", "203.0.113.45", "eth0", &single);
    segment.expect_unanswered(&["203.0.113.11", "2001:db8:5::11"], "eth0");
    segment.expect_reason("local", "noEndpoints");

    println!("# the owner of cluster becomes NetworkUnavailable, then excluded");
    segment
        .nodes
        .network_unavailable
        .insert(cluster_owner.clone());
    segment.write_nodes();
    let standby = segment.owner("203.0.113.10", "eth0");
    assert_ne!(standby, cluster_owner, "a NetworkUnavailable node answers");
    segment.expect_owner("cluster", "203.0.113.10", "eth0", &standby);
    segment.nodes.network_unavailable.clear();
    segment.write_nodes();
    segment.expect_owner("cluster", "203.0.113.10", "eth0", &cluster_owner);
    segment.nodes.label(&cluster_owner, EXCLUDE_LABEL, "");
    segment.write_nodes();
    segment.expect_owner("cluster", "203.0.113.10", "eth0", &standby);
    segment.nodes.unlabel(&cluster_owner, EXCLUDE_LABEL);
    segment.write_nodes();
    segment.expect_owner("cluster", "203.0.113.10", "eth0", &cluster_owner);
}

/// MetalLB's `interface_selector.go`: every node and the client have a second interface on a
/// second bridge; an address is answered only on the interfaces its advertisements name.
#[test]
fn interfaces_selector_answers_only_on_the_named_interfaces() {
    let _shared = shared();
    let on = |interfaces: &str| format!("  interfaces: [{interfaces}]\n");
    let manifests = [
        (
            "pools.yaml",
            [
                pool("first", &["203.0.113.70/32", "2001:db8:5::70/128"]),
                pool("second", &["203.0.113.71/32", "2001:db8:5::71/128"]),
                pool("both", &["203.0.113.72/32"]),
                pool("missing", &["203.0.113.73/32"]),
            ]
            .join("---\n"),
        ),
        (
            "advertisements.yaml",
            [
                advertisement("first", &["first"], &on("eth0")),
                advertisement("second", &["second"], &on("eth1")),
                advertisement("both-eth0", &["both"], &on("eth0")),
                advertisement("both-eth1", &["both"], &on("eth1")),
                advertisement("missing", &["missing"], &on("foo")),
            ]
            .join("---\n"),
        ),
        (
            "services.yaml",
            [
                service("first4", "203.0.113.70", Traffic::Cluster, &[]),
                service("first6", "2001:db8:5::70", Traffic::Cluster, &[]),
                service("second4", "203.0.113.71", Traffic::Cluster, &[]),
                service("second6", "2001:db8:5::71", Traffic::Cluster, &[]),
                service("both", "203.0.113.72", Traffic::Cluster, &[]),
                service("missing", "203.0.113.73", Traffic::Cluster, &[]),
            ]
            .join("---\n"),
        ),
        (
            "endpoints.yaml",
            ["first4", "first6", "second4", "second6", "both", "missing"]
                .map(|s| Fabric::endpoints_yaml(s, &NODES))
                .join("---\n"),
        ),
    ];
    let Some(segment) = segment(
        "layer2_interfaces",
        "l2iface",
        Routers::None,
        Segments::Two,
        &manifests,
    ) else {
        return;
    };
    // ndisc6 takes any Neighbor Advertisement for its target as the answer, whichever of the
    // client's interfaces it arrives on: the owners' unsolicited ones, sent on the interfaces
    // they answer on when they take an address, must be over before asking the other one.
    std::thread::sleep(ANNOUNCEMENTS);
    // Answered on the named interface, with that interface's MAC, and only there; the
    // owner's status names the interface (MetalLB's ServiceL2Status interfaces).
    for (service, address, named, other) in [
        ("first4", "203.0.113.70", "eth0", "eth1"),
        ("first6", "2001:db8:5::70", "eth0", "eth1"),
        ("second4", "203.0.113.71", "eth1", "eth0"),
        ("second6", "2001:db8:5::71", "eth1", "eth0"),
    ] {
        let owner = segment.owner(address, named);
        segment.expect_owner(service, address, named, &owner);
        segment.expect_unanswered(&[address], other);
        assert_eq!(
            segment.status_interfaces(&owner, service),
            [named.to_string()]
        );
    }
    // One pool, two advertisements naming one interface each: both.
    let owner = segment.owner("203.0.113.72", "eth0");
    segment.expect_owner("both", "203.0.113.72", "eth0", &owner);
    segment.expect_owner("both", "203.0.113.72", "eth1", &owner);
    assert_eq!(
        segment.status_interfaces(&owner, "both"),
        ["eth0".to_string(), "eth1".to_string()]
    );
    // An interface no node has: answered nowhere, and the owner says announceFailed.
    segment.expect_unanswered(&["203.0.113.73"], "eth0");
    segment.expect_unanswered(&["203.0.113.73"], "eth1");
    let owners = segment.status_owners("missing");
    let owner = owners["node-21"].clone().expect("missing has an owner");
    assert_eq!(
        segment.status_reason(&owner, "missing").as_deref(),
        Some("announceFailed"),
        "{owners:?}"
    );
    // The advertisement changes its interface: the address moves there.
    segment.write(
        "advertisements.yaml",
        &[
            advertisement("first", &["first"], &on("eth1")),
            advertisement("second", &["second"], &on("eth1")),
            advertisement("both-eth0", &["both"], &on("eth0")),
            advertisement("both-eth1", &["both"], &on("eth1")),
            advertisement("missing", &["missing"], &on("foo")),
        ]
        .join("---\n"),
    );
    let owner = segment.owner("203.0.113.70", "eth1");
    segment.expect_owner("first4", "203.0.113.70", "eth1", &owner);
    segment.expect_owner("first6", "2001:db8:5::70", "eth1", &owner);
    std::thread::sleep(ANNOUNCEMENTS);
    segment.expect_unanswered(&["203.0.113.70", "2001:db8:5::70"], "eth0");
}

/// A fault on the owner of a Service's addresses.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The owner's link goes down (its switch port).
    LinkDown,
    /// Its speaker is SIGKILLed (a crash).
    Kill,
    /// Its speaker is SIGTERMed (a rollout): it hands its addresses over.
    Term,
}

/// The nodes in MetalLB's election order for `address` (every node a candidate, no
/// preference): the owner first.
fn election_order(address: &str) -> Vec<&'static str> {
    let mut nodes = NODES.to_vec();
    nodes.sort_by_key(|node| ironlb_speaker::layer2::election_hash(node, address));
    nodes
}

/// The first address of `candidates` that `node` wins.
fn won_by(node: &str, candidates: impl IntoIterator<Item = String>) -> String {
    candidates
        .into_iter()
        .find(|address| election_order(address)[0] == node)
        .expect("some address is won by each node")
}

/// MetalLB's `speaker_failover.go`, three ways and for both families, timed at the client's
/// neighbour table: nothing is sent by the client after the fault, so the entry can only move
/// by the new owner's gratuitous ARP or unsolicited Neighbor Advertisement.
#[test]
fn failover_link_down_kill_and_handover_move_the_clients_entry_by_itself() {
    let _alone = alone();
    let faults = [
        (Fault::LinkDown, "node-21"),
        (Fault::Kill, "node-22"),
        (Fault::Term, "node-23"),
    ];
    // Per fault, one IPv4 and one IPv6 Service its victim owns (MetalLB's hash decides).
    let mut services: Vec<(String, String, &str)> = Vec::new();
    for (fault, victim) in faults {
        let name = format!("{fault:?}").to_lowercase();
        let v4 = won_by(victim, (100..200).map(|i| format!("203.0.113.{i}")));
        let v6 = won_by(victim, (0x10..0xff).map(|i| format!("2001:db8:5::{i:x}")));
        services.push((format!("{name}4"), v4, victim));
        services.push((format!("{name}6"), v6, victim));
    }
    let manifests = [
        (
            "pool.yaml",
            pool("l2-pool", &["203.0.113.0/24", "2001:db8:5::/120"]),
        ),
        ("l2.yaml", advertisement("l2", &["l2-pool"], "")),
        (
            "services.yaml",
            services
                .iter()
                .map(|(name, address, _)| service(name, address, Traffic::Cluster, &[]))
                .collect::<Vec<_>>()
                .join("---\n"),
        ),
        (
            "endpoints.yaml",
            services
                .iter()
                .map(|(name, _, _)| Fabric::endpoints_yaml(name, &NODES))
                .collect::<Vec<_>>()
                .join("---\n"),
        ),
    ];
    let Some(mut segment) = segment(
        "layer2_failover_three_ways",
        "l2fail",
        Routers::None,
        Segments::One,
        &manifests,
    ) else {
        return;
    };
    let owners: BTreeMap<String, String> = services
        .iter()
        .map(|(_, address, victim)| (address.clone(), victim.to_string()))
        .collect();
    for (name, address, victim) in &services {
        segment.expect_owner(name, address, "eth0", victim);
        segment.resolve(address);
    }
    segment.watch_neighbours(
        &owners,
        Instant::now(),
        "the client resolving every address",
    );

    let mut summary = Vec::new();
    for (fault, victim) in faults {
        println!("# {fault:?} on {victim}");
        let moved: BTreeMap<String, String> = owners
            .iter()
            .map(|(address, owner)| {
                let next = if owner == victim {
                    election_order(address)[1]
                } else {
                    owner.as_str()
                };
                (address.clone(), next.to_string())
            })
            .collect();
        let pid = segment.fabric.speaker_pid(victim).unwrap().to_string();
        let start = Instant::now();
        match fault {
            Fault::LinkDown => segment.fabric.set_link(victim, Link::Down).unwrap(),
            Fault::Kill => {
                ironlb_lab::run("kill", &["-KILL", &pid]).unwrap();
            }
            Fault::Term => {
                ironlb_lab::run("kill", &["-TERM", &pid]).unwrap();
            }
        }
        let times = segment.watch_neighbours(&moved, start, &format!("{fault:?} on {victim}"));
        // Nothing else moved.
        assert_eq!(
            segment
                .neighbours()
                .iter()
                .filter(|(address, _)| moved.contains_key(*address))
                .map(|(address, mac)| (address.clone(), segment.node_of(mac)))
                .collect::<BTreeMap<_, _>>(),
            moved
        );
        for (address, owner) in &owners {
            if owner == victim {
                println!(
                    "  {address}: the client's entry moved to {} in {}",
                    moved[address],
                    milliseconds(times[address])
                );
                summary.push((fault, address.contains(':'), times[address]));
            }
        }
        // The victim comes back: it takes its addresses back once its start-up grace is over,
        // and the client's entries follow, again by themselves.
        let start = Instant::now();
        match fault {
            Fault::LinkDown => segment.fabric.set_link(victim, Link::Up).unwrap(),
            Fault::Kill | Fault::Term => {
                segment.fabric.stop_speaker(victim, Stop::Kill);
                segment.fabric.start_speaker(victim, &[]).unwrap();
            }
        }
        let back = segment.watch_neighbours(&owners, start, &format!("{victim} back"));
        for (address, owner) in &owners {
            if owner == victim {
                println!(
                    "  {victim} back: the client's entry for {address} returned in {}",
                    milliseconds(back[address])
                );
            }
        }
        segment.wait_speakers_alive(&NODES);
        // Settled: every entry still with its owner a few seconds later (no late gratuitous
        // announcement from a node that held the address meanwhile).
        std::thread::sleep(Duration::from_secs(6));
        segment.watch_neighbours(
            &owners,
            Instant::now(),
            &format!("after {victim} came back"),
        );
    }
    println!("# Summary: the client's neighbour entry moved to the new owner in");
    for (fault, ipv6, time) in summary {
        let family = if ipv6 { "IPv6" } else { "IPv4" };
        println!("  {fault:?} {family}: {}", milliseconds(time));
    }
}

/// The flood's target: an address nobody owns.
const FLOODED: &str = "203.0.113.250";

/// 10,000 ARP requests a second for an address nobody owns reach every node (broadcast) for a
/// few seconds; meanwhile every node's BGP session with tor1 (FRR, BFD 300 ms × 3) stays
/// Established with BFD Up, the speakers keep seeing each other alive, and the owner of a
/// Service address still answers.
#[test]
fn arp_flood_for_other_addresses_leaves_bgp_and_bfd_up() {
    let _alone = alone();
    let bgp = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: tor-bfd, namespace: metallb-system}\nspec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: tor1, namespace: metallb-system}\nspec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.1, bfdProfile: tor-bfd}\n";
    let manifests = [
        ("bgp.yaml", bgp.to_string()),
        ("pool.yaml", pool("l2-pool", &["203.0.113.10/32"])),
        ("l2.yaml", advertisement("l2", &["l2-pool"], "")),
        (
            "web.yaml",
            service("web", "203.0.113.10", Traffic::Cluster, &[]),
        ),
        ("web-endpoints.yaml", Fabric::endpoints_yaml("web", &NODES)),
    ];
    let Some(segment) = segment(
        "layer2_arp_flood",
        "l2flood",
        Routers::Tor1,
        Segments::One,
        &manifests,
    ) else {
        return;
    };
    // Every node Established with tor1, BFD Up (BFD starts slowly: 1 s packets until Up).
    let healthy = |statuses: &BTreeMap<String, SpeakerStatus>| -> Result<(), String> {
        for node in NODES {
            let status = statuses.get(node).ok_or(format!("{node}: no status"))?;
            let session = status.peers.iter().find(|p| p.name == "tor1");
            if session.map(|p| p.state) != Some(BgpState::Established) {
                return Err(format!("{node}: tor1 {session:?}"));
            }
            if status.bfd.len() != 1 || status.bfd.iter().any(|b| b.state != BfdState::Up) {
                return Err(format!("{node}: BFD {:?}", status.bfd));
            }
            if status.speakers.len() != 2 || status.speakers.iter().any(|s| !s.alive) {
                return Err(format!("{node}: speakers {:?}", status.speakers));
            }
        }
        Ok(())
    };
    let mut last = Ok(());
    let ready = ironlb_lab::wait_for(
        "tor1 Established and BFD Up",
        Duration::from_secs(60),
        || {
            last = healthy(&segment.statuses());
            last.is_ok().then_some(())
        },
    );
    ready.unwrap_or_else(|e| panic!("{e}: {last:?}\n{}", segment.logs()));
    let since = |statuses: &BTreeMap<String, SpeakerStatus>| -> Vec<String> {
        statuses
            .values()
            .flat_map(|s| s.peers.iter().map(|p| p.since.clone()))
            .collect()
    };
    let established_since = since(&segment.statuses());
    let tor1_counters = || {
        let bgp = segment
            .fabric
            .vtysh("tor1", "show bgp neighbors json")
            .unwrap();
        let bgp: serde_json::Value = serde_json::from_str(&bgp).unwrap();
        let bfd = segment
            .fabric
            .vtysh("tor1", "show bfd peers counters json")
            .unwrap();
        let bfd: serde_json::Value = serde_json::from_str(&bfd).unwrap();
        NODES
            .iter()
            .zip(21..)
            .map(|(node, last)| {
                let address = format!("10.0.0.{last}");
                let dropped = bgp[&address]["connectionsDropped"].as_u64();
                let bfd_down = bfd.as_array().and_then(|peers| {
                    peers
                        .iter()
                        .find(|p| p["peer"] == address.as_str())
                        .and_then(|p| p["session-down"].as_u64())
                });
                (node.to_string(), (dropped, bfd_down))
            })
            .collect::<BTreeMap<_, _>>()
    };
    let before = tor1_counters();
    let owner = segment.owner("203.0.113.10", "eth0");
    let node_21 = Namespace::existing(&segment.fabric.nodes[0].namespace);
    let received = || -> u64 {
        node_21
            .exec("cat", &["/sys/class/net/eth0/statistics/rx_packets"])
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    };

    let received_before = received();
    let start = Instant::now();
    let mut flood = segment
        .client
        .command("arping")
        .args(["-q", "-c", "40000", "-W", "0.00001", "-i", "eth0", FLOODED])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut problems = Vec::new();
    let mut answered = 0;
    while flood.try_wait().unwrap().is_none() {
        if let Err(problem) = healthy(&segment.statuses()) {
            problems.push(format!("{:?}: {problem}", start.elapsed()));
        }
        if segment.answering("203.0.113.10", "eth0") == BTreeSet::from([owner.clone()]) {
            answered += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let elapsed = start.elapsed();
    let frames = received() - received_before;
    let _ = flood.wait();
    println!(
        "ARP flood: {frames} frames reached node-21 in {} ({:.0} a second); the owner {owner} answered {answered} times meanwhile",
        milliseconds(elapsed),
        frames as f64 / elapsed.as_secs_f64()
    );
    assert!(
        frames >= 30_000,
        "the flood did not happen: {frames} frames"
    );
    assert!(problems.is_empty(), "{problems:#?}\n{}", segment.logs());
    assert!(answered > 0, "the owner did not answer during the flood");
    // Not even a flap between two looks.
    std::thread::sleep(Duration::from_secs(1));
    let statuses = segment.statuses();
    healthy(&statuses).unwrap();
    assert_eq!(since(&statuses), established_since);
    assert_eq!(tor1_counters(), before);
    println!("tor1 after the flood: {before:?} (connections dropped, BFD session downs) unchanged");
}

/// The mixed pool's Service address.
const MIXED: &str = "203.0.113.80";

/// The nodes' addresses on the segment (`node-21` is 10.0.0.21), as next hops.
fn hops(nodes: &[&str]) -> Vec<std::net::Ipv4Addr> {
    nodes
        .iter()
        .filter_map(|node| node.strip_prefix("node-")?.parse().ok())
        .map(|last| std::net::Ipv4Addr::new(10, 0, 0, last))
        .collect()
}

/// MetalLB's mixed protocol: one pool selected by a BGPAdvertisement and by an
/// L2Advertisement. The Service's address is in tor1's FIB (FRR, BFD 300 ms × 3) via all three
/// nodes and answered on the segment by exactly one, MetalLB's election winner, and every
/// speaker reports both. The owner's speaker crashes: tor1 drops that node's next hop and keeps
/// the others, the next node in the election answers; started again, both come back.
#[test]
fn a_pool_with_both_advertisements_is_routed_by_bgp_and_answered_by_one_node() {
    let _shared = shared();
    let bgp = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: tor-bfd, namespace: metallb-system}\nspec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: tor1, namespace: metallb-system}\nspec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.1, bfdProfile: tor-bfd}\n---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: mixed-bgp, namespace: metallb-system}\nspec: {ipAddressPools: [mixed]}\n";
    let manifests = [
        ("bgp.yaml", bgp.to_string()),
        ("pool.yaml", pool("mixed", &["203.0.113.80-203.0.113.89"])),
        ("l2.yaml", advertisement("mixed-l2", &["mixed"], "")),
        ("mixed.yaml", service("mixed", MIXED, Traffic::Cluster, &[])),
        (
            "mixed-endpoints.yaml",
            Fabric::endpoints_yaml("mixed", &NODES),
        ),
    ];
    let Some(mut segment) = segment(
        "layer2_mixed_protocol",
        "l2mixed",
        Routers::Tor1,
        Segments::One,
        &manifests,
    ) else {
        return;
    };
    let all = hops(&NODES);
    let order = election_order(MIXED);
    let (owner, next) = (order[0], order[1]);

    // BGP: tor1 routes the address via every node (ETP Cluster).
    segment
        .fabric
        .wait_next_hops("tor1", MIXED, &all, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", segment.logs()));
    println!("tor1 routes {MIXED} via {all:?}");
    // Layer 2: one node answers, the election's winner, and every speaker names it.
    segment.expect_owner("mixed", MIXED, "eth0", owner);
    // Each speaker reports both: the prefix sent to tor1, and the layer 2 owner.
    let mut last = BTreeMap::new();
    let reported = ironlb_lab::wait_for("every speaker to report both ways", WAIT, || {
        last = segment.statuses();
        NODES
            .iter()
            .all(|node| {
                last.get(*node).is_some_and(|s| {
                    let bgp = s.services.iter().any(|a| {
                        a.name == "mixed"
                            && a.prefix_texts() == [format!("{MIXED}/32")]
                            && a.peer_names() == ["tor1"]
                    });
                    let layer2 = s
                        .layer2
                        .iter()
                        .any(|a| a.name == "mixed" && a.owner.as_deref() == Some(owner));
                    bgp && layer2
                })
            })
            .then_some(())
    });
    reported.unwrap_or_else(|e| {
        let report: Vec<_> = last
            .values()
            .map(|s| (&s.node, &s.services, &s.layer2))
            .collect();
        panic!("{e}: {report:#?}")
    });
    let route = segment
        .fabric
        .vtysh("tor1", &format!("show ip route {MIXED}"))
        .unwrap();
    println!("tor1# show ip route {MIXED}\n{route}");
    assert!(route.contains("Known via \"bgp\""), "{route}");

    // The owner's speaker crashes: its session closes (tor1 drops its next hop, the others
    // stay) and the next node in the election answers.
    segment.fabric.stop_speaker(owner, Stop::Kill);
    let survivors: Vec<&str> = NODES.iter().copied().filter(|n| *n != owner).collect();
    let dropped = segment
        .fabric
        .wait_next_hops("tor1", MIXED, &hops(&survivors), WAIT)
        .unwrap_or_else(|e| panic!("{e}\n{}", segment.logs()));
    let answering = segment.owner(MIXED, "eth0");
    println!(
        "{owner}'s speaker killed: tor1 dropped its next hop in {}; {answering} answers ARP now",
        milliseconds(dropped)
    );
    assert_eq!(answering, next);
    assert_eq!(
        segment.fabric.next_hops("tor1", MIXED),
        hops(&survivors),
        "tor1 lost more than the dead node"
    );

    // Started again: tor1 routes via all three, and the owner answers again once its
    // start-up grace is over.
    segment.fabric.start_speaker(owner, &[]).unwrap();
    segment
        .fabric
        .wait_next_hops("tor1", MIXED, &all, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", segment.logs()));
    segment.wait_speakers_alive(&NODES);
    segment.expect_owner("mixed", MIXED, "eth0", owner);
}
