//! Layer 2 ownership, scenario by scenario (MetalLB's `e2etest/l2tests` cases as pure
//! decisions): who owns a Service's addresses, and why nobody does.

use std::collections::BTreeSet;
use std::sync::Arc;

use ironlb_api::Object;
use ironlb_api::k8s_openapi::api::core::v1::Node;
use ironlb_config::{Resources, ValidateOptions};
use ironlb_speaker::layer2::{Interfaces, Layer2Outcome, Layer2Plan, election_hash, layer2_plan};
use ironlb_speaker::plan::{LbService, SliceEndpoints};
use ironlb_speaker::{PlanOptions, Reason, ServiceKey, plan};

const POOL: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2-pool, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24, '2001:db8:5::/120']}
";

const NODES: &str = "
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {rack: a}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {rack: b}}
---
apiVersion: v1
kind: Node
metadata: {name: node3, labels: {rack: b}}
";

fn advertisement(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: {name}, namespace: metallb-system}}\nspec: {{ipAddressPools: [l2-pool]{spec}}}\n"
    )
}

fn service(name: &str, policy: &str, ip: &str, extra_metadata: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default{extra_metadata}}}\n\
         spec: {{type: LoadBalancer, externalTrafficPolicy: {policy}, selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n\
         status: {{loadBalancer: {{ingress: [{{ip: '{ip}'}}]}}}}\n"
    )
}

fn endpoints(service: &str, nodes: &[&str]) -> String {
    let endpoints: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            format!("{{addresses: [10.244.{i}.5], nodeName: {node}, conditions: {{ready: true}}}}")
        })
        .collect();
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {service}-abc, namespace: default, labels: {{kubernetes.io/service-name: {service}}}}}\n\
         addressType: IPv4\nendpoints: [{}]\n",
        endpoints.join(", ")
    )
}

struct Cluster {
    config: ironlb_config::Config,
    nodes: Vec<Node>,
    services: Vec<Arc<LbService>>,
    slices: Vec<Arc<SliceEndpoints>>,
}

fn cluster(documents: &[&str]) -> Cluster {
    let text = documents.join("\n---\n");
    let parsed = ironlb_api::manifest::parse(text.as_bytes(), "test").unwrap();
    let objects: Vec<Object> = parsed.into_iter().map(|d| d.result.unwrap()).collect();
    let config = ironlb_config::validate(
        &Resources::from_objects(&objects),
        &ValidateOptions::default(),
    )
    .unwrap();
    let mut cluster = Cluster {
        config,
        nodes: vec![],
        services: vec![],
        slices: vec![],
    };
    for object in objects {
        match object {
            Object::Node(n) => cluster.nodes.push(n),
            Object::Service(s) => cluster.services.push(Arc::new(LbService::of(&s))),
            Object::EndpointSlice(e) => cluster.slices.extend(SliceEndpoints::of(&e).map(Arc::new)),
            _ => {}
        }
    }
    cluster
}

const ALL: [&str; 3] = ["node1", "node2", "node3"];

impl Cluster {
    /// The plan of `node`, with `live` the other speakers known to be alive.
    fn plan(&self, node: &str, live: &[&str]) -> Layer2Plan {
        let live: BTreeSet<String> = live.iter().map(|n| n.to_string()).collect();
        layer2_plan(
            &self.config,
            node,
            &self.nodes,
            &self.services,
            &self.slices,
            &live,
            &PlanOptions::default(),
        )
    }

    /// The owner of `service` as every node sees it with all speakers alive; asserts they
    /// agree and that only the owner announces.
    fn owner(&self, service: &str) -> Option<String> {
        let mut owners = BTreeSet::new();
        let mut announcers = Vec::new();
        for node in ALL {
            let plan = self.plan(node, &ALL);
            match plan.services.get(&key(service)) {
                Some(Layer2Outcome::Owned {
                    owner, addresses, ..
                }) => {
                    owners.insert(owner.clone());
                    if addresses.iter().all(|a| plan.announce.contains_key(a)) {
                        announcers.push(node);
                    }
                }
                _ => {
                    owners.insert(String::new());
                }
            }
        }
        assert_eq!(
            owners.len(),
            1,
            "every speaker elects the same owner: {owners:?}"
        );
        let owner = owners.into_iter().next().filter(|o| !o.is_empty());
        match &owner {
            Some(owner) => assert_eq!(announcers, [owner.as_str()], "only the owner announces"),
            None => assert!(announcers.is_empty()),
        }
        owner
    }

    fn reason(&self, node: &str, service: &str) -> Reason {
        match self.plan(node, &ALL).services.get(&key(service)) {
            Some(Layer2Outcome::NotAnnounced(reason)) => *reason,
            other => panic!("{service} should not be announced: {other:?}"),
        }
    }
}

fn key(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

#[test]
fn the_owner_is_metallbs_sha256_choice_and_services_spread_over_nodes() {
    let a = advertisement("l2", "");
    let c = cluster(&[
        POOL,
        NODES,
        &a,
        &service("s10", "Cluster", "203.0.113.10", ""),
        &endpoints("s10", &["node1"]),
        &service("s11", "Cluster", "203.0.113.11", ""),
        &endpoints("s11", &["node1"]),
    ]);
    // sha256("node#ip") ascending, as Python's hashlib computes it:
    // 203.0.113.10: node2, node1, node3; 203.0.113.11: node3, node2, node1.
    assert_eq!(c.owner("s10").as_deref(), Some("node2"));
    assert_eq!(c.owner("s11").as_deref(), Some("node3"));
    assert!(election_hash("node2", "203.0.113.10") < election_hash("node1", "203.0.113.10"));
}

#[test]
fn a_dead_owner_is_replaced_by_the_next_in_line() {
    let a = advertisement("l2", "");
    let c = cluster(&[
        POOL,
        NODES,
        &a,
        &service("s10", "Cluster", "203.0.113.10", ""),
        &endpoints("s10", &["node1"]),
    ]);
    // node2 is gone: node1 (next for .10) takes over, node3 agrees.
    let node1 = c.plan("node1", &["node3"]);
    assert!(
        node1
            .announce
            .contains_key(&"203.0.113.10".parse().unwrap())
    );
    let node3 = c.plan("node3", &["node1"]);
    assert!(node3.announce.is_empty());
    assert_eq!(
        node1.candidates,
        BTreeSet::from(["node2".into(), "node3".into()])
    );
    // A speaker alone knows no better than to answer itself.
    assert!(!c.plan("node3", &[]).announce.is_empty());
}

#[test]
fn local_policy_elects_only_among_nodes_with_a_ready_endpoint() {
    let a = advertisement("l2", "");
    let c = cluster(&[
        POOL,
        NODES,
        &a,
        &service("s10", "Local", "203.0.113.10", ""),
        &endpoints("s10", &["node3"]),
    ]);
    assert_eq!(c.owner("s10").as_deref(), Some("node3"));
    let c = cluster(&[
        POOL,
        NODES,
        &a,
        &service("s10", "Local", "203.0.113.10", ""),
        &endpoints("s10", &[]),
    ]);
    assert_eq!(c.owner("s10"), None);
    assert_eq!(c.reason("node1", "s10"), Reason::NoEndpoints);
}

#[test]
fn node_selectors_network_unavailable_and_the_exclude_label_narrow_the_candidates() {
    let selected = advertisement("l2", ", nodeSelectors: [{matchLabels: {rack: b}}]");
    let c = cluster(&[
        POOL,
        NODES,
        &selected,
        &service("s10", "Cluster", "203.0.113.10", ""),
        &endpoints("s10", &["node1"]),
        &service("s13", "Cluster", "203.0.113.13", ""),
        &endpoints("s13", &["node1"]),
    ]);
    assert_eq!(c.owner("s10").as_deref(), Some("node2"));
    // .13 orders node2, node3, node1: node1 never, whatever the hash.
    assert_eq!(c.owner("s13").as_deref(), Some("node2"));
    let unavailable = "
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {rack: a}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {rack: b}}
status: {conditions: [{type: NetworkUnavailable, status: 'True'}]}
---
apiVersion: v1
kind: Node
metadata: {name: node3, labels: {rack: b, node.kubernetes.io/exclude-from-external-load-balancers: ''}}
";
    let all = advertisement("l2", "");
    let c = cluster(&[
        POOL,
        unavailable,
        &all,
        &service("s10", "Cluster", "203.0.113.10", ""),
        &endpoints("s10", &["node1"]),
    ]);
    assert_eq!(c.owner("s10").as_deref(), Some("node1"));
}

#[test]
fn preferred_node_weights_win_over_the_hash() {
    let preferring = advertisement(
        "l2",
        ", preferredNodeSelectors: [{weight: 10, preference: {matchLabels: {rack: a}}}]",
    );
    let c = cluster(&[
        POOL,
        NODES,
        &preferring,
        &service("s10", "Cluster", "203.0.113.10", ""),
        &endpoints("s10", &["node1"]),
    ]);
    assert_eq!(c.owner("s10").as_deref(), Some("node1"));
    // The preferred node down: the hash decides among the rest.
    assert!(!c.plan("node2", &["node3"]).announce.is_empty());
}

#[test]
fn interfaces_are_those_of_the_advertisements_selecting_the_owner() {
    let eth1 = advertisement("a", ", interfaces: [eth1]");
    let eth2 = advertisement("b", ", interfaces: [eth2]");
    let c = cluster(&[
        POOL,
        NODES,
        &eth1,
        &eth2,
        &service("s10", "Cluster", "203.0.113.10", ""),
        &endpoints("s10", &["node1"]),
    ]);
    let plan = c.plan("node2", &ALL);
    assert_eq!(
        plan.announce[&"203.0.113.10".parse().unwrap()],
        Interfaces::Named(BTreeSet::from(["eth1".into(), "eth2".into()]))
    );
    let all = advertisement("c", "");
    let c = cluster(&[
        POOL,
        NODES,
        &eth1,
        &all,
        &service("s10", "Cluster", "203.0.113.10", ""),
        &endpoints("s10", &["node1"]),
    ]);
    assert_eq!(
        c.plan("node2", &ALL).announce[&"203.0.113.10".parse().unwrap()],
        Interfaces::All
    );
}

#[test]
fn service_selectors_and_shared_addresses() {
    let selecting = advertisement("l2", ", serviceSelectors: [{matchLabels: {tier: web}}]");
    let c = cluster(&[
        POOL,
        NODES,
        &selecting,
        &service("web", "Cluster", "203.0.113.10", ", labels: {tier: web}"),
        &endpoints("web", &["node1"]),
        &service("db", "Cluster", "203.0.113.11", ""),
        &endpoints("db", &["node1"]),
        &service(
            "shared",
            "Cluster",
            "203.0.113.12",
            ", labels: {tier: web}, annotations: {metallb.io/allow-shared-ip: k}",
        ),
        &endpoints("shared", &["node1"]),
    ]);
    assert!(c.owner("web").is_some());
    assert_eq!(c.reason("node1", "db"), Reason::NoMatchingAdvertisement);
    assert_eq!(
        c.reason("node1", "shared"),
        Reason::SharedIpWithServiceSelector
    );
    assert_eq!(
        Reason::SharedIpWithServiceSelector.to_string(),
        "sharedIPWithServiceSelector"
    );
}

#[test]
fn a_pool_with_both_kinds_of_advertisement_is_announced_both_ways() {
    let bgp = "
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: tor1, namespace: metallb-system}
spec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.1}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {ipAddressPools: [l2-pool]}
";
    let l2 = advertisement("l2", "");
    let c = cluster(&[
        POOL,
        NODES,
        bgp,
        &l2,
        &service("s10", "Cluster", "203.0.113.10", ""),
        &endpoints("s10", &["node1"]),
    ]);
    assert_eq!(c.owner("s10").as_deref(), Some("node2"));
    // BGP: every node announces (ETP Cluster) besides the layer 2 owner.
    for node in ALL {
        let bgp_plan = plan(
            &c.config,
            node,
            &c.nodes,
            &c.services,
            &c.slices,
            &PlanOptions::default(),
        );
        assert_eq!(bgp_plan.routes["tor1"].len(), 1, "{node}");
    }
}

#[test]
fn a_pool_without_l2_advertisements_is_not_layer_2() {
    let bgp_only = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: other, namespace: metallb-system}
spec: {addresses: [198.51.100.0/24]}
";
    let l2 = advertisement("l2", "");
    let c = cluster(&[
        POOL,
        bgp_only,
        NODES,
        &l2,
        &service("s", "Cluster", "198.51.100.1", ""),
        &endpoints("s", &["node1"]),
    ]);
    assert!(c.plan("node1", &ALL).services.is_empty());
}

#[test]
fn an_ipv6_address_is_owned_like_an_ipv4_one() {
    let a = advertisement("l2", "");
    let c = cluster(&[
        POOL,
        NODES,
        &a,
        &service("v6", "Cluster", "2001:db8:5::10", ""),
        &endpoints("v6", &["node1"]),
    ]);
    let owner = c.owner("v6").unwrap();
    let plan = c.plan(&owner, &ALL);
    assert!(
        plan.announce
            .contains_key(&"2001:db8:5::10".parse().unwrap())
    );
}
