//! Layer 2 benchmark: three nodes' speakers and a client on one segment (network namespaces),
//! times taken at the client, as a client of the Service sees them:
//! - ARP answer time (`arping` round trips);
//! - failover: the owner's link goes down, its speaker is SIGKILLed, its speaker is SIGTERMed
//!   (handover) → the client's kernel neighbour entry points at the new owner, by itself;
//! - memory: the speakers' RSS with 1,000 layer 2 Services beside their RSS with none.
//!
//! `RUNS` (default 10) failovers of each kind; `cargo bench -p ironlb --bench layer2` (root,
//! arping). Without them it says so and exits 0. The peers' figures are their documented
//! defaults (Cilium: a 15 s lease; kube-vip: 5 s), not measured here.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlb_lab::fabric::{Link, Stop};
use ironlb_lab::{Fabric, FabricSpec, Namespace, wait_for};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const ADDRESS: &str = "203.0.113.10";
const NODES: [&str; 3] = ["node-21", "node-22", "node-23"];

const POOL: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2-pool, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2-many, namespace: metallb-system}
spec: {addresses: ['2001:db8:6::/112'], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {ipAddressPools: [l2-pool]}
";

/// The one watched Service, at ADDRESS.
fn web() -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\n  annotations:\n    metallb.io/loadBalancerIPs: \"{ADDRESS}\"\nspec:\n  type: LoadBalancer\n  selector: {{app: web}}\n  ports: [{{port: 80}}]\n---\n{}",
        Fabric::endpoints_yaml("web", &["node-21"])
    )
}

/// `count` IPv6 layer 2 Services from the second pool, each with an endpoint.
fn many(count: usize) -> String {
    let mut yaml = String::new();
    for index in 0..count {
        let name = format!("svc-{index}");
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n  annotations:\n    metallb.io/address-pool: l2-many\nspec:\n  type: LoadBalancer\n  ipFamilies: [IPv6]\n  ipFamilyPolicy: SingleStack\n  selector: {{app: {name}}}\n  ports: [{{port: 80}}]\n---\n{}",
            Fabric::endpoints_yaml(&name, &["node-21"])
        ));
    }
    yaml
}

struct Segment {
    fabric: Fabric,
    client: Namespace,
}

impl Segment {
    fn build() -> Segment {
        let mut fabric =
            Fabric::build("bench-l2", FabricSpec::seed(PathBuf::from(IRONLB))).unwrap();
        let client = fabric
            .add_client("client", &["10.0.0.100/24"], &["203.0.113.0/24"])
            .unwrap();
        fabric.write("pool.yaml", POOL).unwrap();
        fabric.write("nodes.yaml", &fabric.nodes_yaml(&[])).unwrap();
        fabric.write("web.yaml", &web()).unwrap();
        fabric.start_controller().unwrap();
        for node in NODES {
            fabric.start_speaker(node, &[]).unwrap();
        }
        let segment = Segment { fabric, client };
        wait_for("an answer", Duration::from_secs(30), || {
            segment.arping_mac()
        })
        .unwrap();
        segment
    }

    fn mac_of(&self, node: &str) -> String {
        let view = self.fabric.nodes.iter().find(|n| n.name == node).unwrap();
        Namespace::existing(&view.namespace)
            .exec("cat", &["/sys/class/net/eth0/address"])
            .unwrap()
            .trim()
            .to_string()
    }

    /// Thomas Habets' arping (Debian's `arping`): `-W` is the wait between requests.
    fn arping(&self, count: &str, interval: &str) -> String {
        self.client
            .exec(
                "arping",
                &[
                    "-c", count, "-W", interval, "-w", "5", "-I", "eth0", ADDRESS,
                ],
            )
            .unwrap_or_default()
    }

    fn arping_mac(&self) -> Option<String> {
        self.arping("1", "1")
            .split_whitespace()
            .find(|w| w.len() == 17 && w.matches(':').count() == 5)
            .map(str::to_lowercase)
    }

    fn neighbour(&self) -> Option<String> {
        let text = self.client.ip(&["neigh", "show", ADDRESS]).ok()?;
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| w[0] == "lladdr")
            .map(|w| w[1].to_lowercase())
    }

    fn owner(&self) -> String {
        let mac = wait_for("the owner", Duration::from_secs(30), || self.arping_mac()).unwrap();
        NODES
            .into_iter()
            .find(|node| self.mac_of(node) == mac)
            .expect("a node's MAC")
            .to_string()
    }

    /// Makes the client's kernel hold an entry for the address (as a client talking to the
    /// Service does), pointing at the owner.
    fn prime(&self, owner: &str) {
        let mac = self.mac_of(owner);
        wait_for(
            "the client's entry for the owner",
            Duration::from_secs(20),
            || {
                let _ = self.client.exec("ping", &["-c", "1", "-W", "1", ADDRESS]);
                (self.neighbour().as_deref() == Some(mac.as_str())).then_some(())
            },
        )
        .unwrap();
    }

    /// From `fault` to the client's entry naming another node's MAC.
    fn failover(&mut self, fault: impl FnOnce(&mut Fabric, &str)) -> (String, Duration) {
        let owner = self.owner();
        self.prime(&owner);
        let old = self.mac_of(&owner);
        let start = Instant::now();
        fault(&mut self.fabric, &owner);
        wait_for(
            "the client's entry to move",
            Duration::from_secs(30),
            || self.neighbour().filter(|mac| *mac != old),
        )
        .unwrap();
        (owner, start.elapsed())
    }

    fn rss_mib(&self) -> Vec<f64> {
        NODES
            .iter()
            .filter_map(|node| self.fabric.speaker_pid(node))
            .map(|pid| ironlb_lab::memory_mib(pid).0)
            .collect()
    }
}

fn summary(times: &[Duration]) -> String {
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    if ms.is_empty() {
        return "none".into();
    }
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    format!(
        "{median:.0} ms median ({:.0}–{:.0}, n={})",
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Err(error) = ironlb_lab::check_prerequisites(&["arping", "bridge"]) {
        eprintln!("layer2 bench skipped: {error}");
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let mut segment = Segment::build();

    // ARP answer time at the client.
    let output = segment.arping("100", "0.02");
    let mut answers: Vec<f64> = output
        .lines()
        .filter_map(|line| {
            let time = line.split("time=").nth(1)?;
            let (value, unit) = time.split_once(' ')?;
            let value: f64 = value.parse().ok()?;
            Some(if unit.starts_with("usec") {
                value / 1000.0
            } else {
                value
            })
        })
        .collect();
    answers.sort_by(f64::total_cmp);
    let answer = answers
        .get(answers.len() / 2)
        .map_or("none".to_string(), |m| {
            format!("{m:.3} ms median (n={})", answers.len())
        });
    println!("ARP answer at the client: {answer}");

    let mut rows = Vec::new();
    for (what, fault) in [
        ("owner's link down", 0),
        ("owner's speaker SIGKILLed", 1),
        ("owner's speaker SIGTERMed (handover)", 2),
    ] {
        let mut times = Vec::new();
        for _ in 0..runs {
            let (owner, took) = segment.failover(|fabric, owner| match fault {
                0 => fabric.set_link(owner, Link::Down).unwrap(),
                1 => fabric.stop_speaker(owner, Stop::Kill),
                _ => fabric.stop_speaker(owner, Stop::Term),
            });
            times.push(took);
            // Back as it was: the old owner returns and, ranked first, takes the address back.
            match fault {
                0 => segment.fabric.set_link(&owner, Link::Up).unwrap(),
                _ => segment.fabric.start_speaker(&owner, &[]).unwrap(),
            }
            let mac = segment.mac_of(&owner);
            wait_for("the old owner back", Duration::from_secs(30), || {
                (segment.arping_mac().as_deref() == Some(mac.as_str())).then_some(())
            })
            .unwrap();
            std::thread::sleep(Duration::from_secs(2));
        }
        println!("  {what}: {}", summary(&times));
        rows.push((what, summary(&times)));
    }

    // Memory: 1,000 Services in a pool no advertisement covers, then the same Services in
    // layer 2 mode (the advertisement extended to their pool): the difference is what layer 2
    // costs (ownership, the responder's state, the status).
    segment.fabric.write("many.yaml", &many(1000)).unwrap();
    let controller = segment.fabric.cluster_dir.join(".ironlb/controller.yaml");
    wait_for(
        "1,000 more Services assigned",
        Duration::from_secs(180),
        || {
            let text = std::fs::read_to_string(&controller).ok()?;
            (text.matches("pool: l2-many").count() >= 1000).then_some(())
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let before = segment.rss_mib();
    segment
        .fabric
        .write(
            "pool.yaml",
            &POOL.replace("[l2-pool]}", "[l2-pool, l2-many]}"),
        )
        .unwrap();
    let status = segment
        .fabric
        .cluster_dir
        .join(".ironlb/speaker-node-21.yaml");
    wait_for(
        "1,000 more Services owned",
        Duration::from_secs(180),
        || {
            let text = std::fs::read_to_string(&status).ok()?;
            (text.matches("owner: ").count() >= 1001).then_some(())
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let after = segment.rss_mib();

    println!("\n| layer 2 (3 nodes, a client on the segment; times at the client) | IronLB |");
    println!("| --- | --- |");
    println!("| ARP answer time | {answer} |");
    for (what, figure) in &rows {
        println!("| {what} → client's neighbour entry on the new owner | {figure} |");
    }
    println!(
        "| speaker RSS with 1,000 more Services, not in layer 2 → in layer 2 (MiB, per speaker) | {} → {} |",
        before
            .iter()
            .map(|m| format!("{m:.1}"))
            .collect::<Vec<_>>()
            .join(" / "),
        after
            .iter()
            .map(|m| format!("{m:.1}"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
}
