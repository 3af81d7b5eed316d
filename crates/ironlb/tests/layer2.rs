//! Layer 2 mode end to end: three nodes' speakers on one segment, a client namespace beside
//! them; the client resolves the Service address with ARP (`arping`) and Neighbor Discovery
//! (`ndisc6`, the kernel's own resolution) and reaches the owner's MAC; the owner fails and
//! the client's neighbour entry moves to the new owner by itself.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlb_lab::fabric::Stop;
use ironlb_lab::{Fabric, FabricSpec, Namespace};

fn ironlb() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ironlb"))
}

const POOL: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2-pool, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24, '2001:db8:5::/120']}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {ipAddressPools: [l2-pool]}
";

fn service(name: &str, ip: &str) -> String {
    let family = if ip.contains(':') { "IPv6" } else { "IPv4" };
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n  annotations:\n    metallb.io/loadBalancerIPs: \"{ip}\"\nspec:\n  type: LoadBalancer\n  ipFamilies: [{family}]\n  ipFamilyPolicy: SingleStack\n  selector: {{app: {name}}}\n  ports: [{{port: 80}}]\n"
    )
}

struct Segment {
    fabric: Fabric,
    client: Namespace,
}

fn segment(test: &str) -> Option<Segment> {
    if !ironlb_lab::require(test, &["/usr/lib/frr/bgpd", "arping", "ndisc6"]) {
        return None;
    }
    let mut fabric =
        Fabric::build(&test[..test.len().min(10)], FabricSpec::seed(ironlb())).unwrap();
    let client = fabric
        .add_client(
            "client",
            &["10.0.0.100/24", "2001:db8:5::1:100/64"],
            &["203.0.113.0/24", "2001:db8:5::/120"],
        )
        .unwrap();
    fabric.write("pool.yaml", POOL).unwrap();
    fabric.write("nodes.yaml", &fabric.nodes_yaml(&[])).unwrap();
    fabric
        .write("web.yaml", &service("web", "203.0.113.10"))
        .unwrap();
    fabric
        .write("web6.yaml", &service("web6", "2001:db8:5::10"))
        .unwrap();
    let endpoints = Fabric::endpoints_yaml("web", &["node-21"]);
    fabric.write("web-endpoints.yaml", &endpoints).unwrap();
    fabric
        .write(
            "web6-endpoints.yaml",
            &Fabric::endpoints_yaml("web6", &["node-21"]),
        )
        .unwrap();
    fabric.start_controller().unwrap();
    for node in ["node-21", "node-22", "node-23"] {
        fabric.start_speaker(node, &[]).unwrap();
    }
    Some(Segment { fabric, client })
}

impl Segment {
    fn mac_of(&self, node: &str) -> String {
        let namespace = self
            .fabric
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| Namespace::existing(&n.namespace))
            .unwrap();
        namespace
            .exec("cat", &["/sys/class/net/eth0/address"])
            .unwrap()
            .trim()
            .to_string()
    }

    /// The MAC the client gets for `address` with arping.
    fn arping(&self, address: &str) -> Option<String> {
        let output = self
            .client
            .exec("arping", &["-c", "1", "-w", "2", "-I", "eth0", address])
            .ok()?;
        // iputils-arping prints `[AA:BB:...]`, Habets' arping `from aa:bb:... (ADDRESS)`.
        output
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .find(|word| word.len() == 17 && word.matches(':').count() == 5)
            .map(|mac| mac.to_lowercase())
    }

    /// The client's kernel neighbour entry for `address` (MAC), if any.
    fn neighbour(&self, address: &str) -> Option<String> {
        let text = self.client.ip(&["neigh", "show", address]).ok()?;
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| w[0] == "lladdr")
            .map(|w| w[1].to_lowercase())
    }

    fn owner_by_mac(&self, mac: &str) -> Option<String> {
        ["node-21", "node-22", "node-23"]
            .into_iter()
            .find(|node| self.mac_of(node) == mac)
            .map(str::to_string)
    }
}

#[test]
fn one_node_answers_arp_and_ndp_and_another_takes_over_when_it_fails() {
    let Some(mut segment) = segment("layer2_failover") else {
        return;
    };
    let mac = ironlb_lab::wait_for(
        "an ARP answer for 203.0.113.10",
        Duration::from_secs(30),
        || segment.arping("203.0.113.10"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", segment.fabric.log("speaker-node-21")));
    let owner = segment
        .owner_by_mac(&mac)
        .expect("the answer is a node's MAC");
    println!("203.0.113.10 owned by {owner} ({mac})");
    // IPv6: the client's kernel resolves the address (Neighbor Solicitation → Advertisement).
    let _ = segment
        .client
        .exec("ping", &["-6", "-c", "1", "-W", "1", "2001:db8:5::10"]);
    let mac6 = ironlb_lab::wait_for(
        "an NDP answer for 2001:db8:5::10",
        Duration::from_secs(10),
        || segment.neighbour("2001:db8:5::10"),
    )
    .unwrap();
    let owner6 = segment.owner_by_mac(&mac6).expect("a node's MAC");
    println!("2001:db8:5::10 owned by {owner6} ({mac6})");

    // The owner's speaker dies: another node announces the address and the client's
    // neighbour entry moves to it by itself.
    let _ = segment
        .client
        .exec("ping", &["-c", "1", "-W", "1", "203.0.113.10"]);
    assert_eq!(
        segment.neighbour("203.0.113.10").as_deref(),
        Some(mac.as_str())
    );
    let start = Instant::now();
    segment.fabric.stop_speaker(&owner, Stop::Kill);
    let moved = ironlb_lab::wait_for(
        "the client's entry to move",
        Duration::from_secs(10),
        || segment.neighbour("203.0.113.10").filter(|m| *m != mac),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", segment.fabric.log("speaker-node-22")));
    let new_owner = segment.owner_by_mac(&moved).unwrap();
    println!(
        "after {owner}'s speaker was killed: {new_owner} ({moved}) in {:?}",
        start.elapsed()
    );
    assert_ne!(new_owner, owner);
}

#[test]
#[ignore]
fn debug_hold() {
    let Some(_segment) = segment("l2debug") else {
        return;
    };
    std::thread::sleep(Duration::from_secs(60));
}
