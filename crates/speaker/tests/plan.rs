//! The announcement plan, scenario by scenario, from YAML as a user writes it.

use std::collections::BTreeSet;
use std::sync::Arc;

use ipnet::IpNet;
use ironlb_api::Object;
use ironlb_api::k8s_openapi::api::core::v1::Node;
use ironlb_config::{Community, Resources, ValidateOptions};
use ironlb_speaker::plan::{LbService, SliceEndpoints};
use ironlb_speaker::{Plan, PlanOptions, Reason, ServiceKey, ServiceOutcome, plan};

const SEED_CONFIG: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: prod-pool, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24, '2001:db8:5::/120']}
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: tor1, namespace: metallb-system}
spec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.1}
---
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: tor2, namespace: metallb-system}
spec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.2}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: prod-adv, namespace: metallb-system}
spec: {ipAddressPools: [prod-pool], aggregationLength: 32, communities: ['65000:100'], localPref: 100}
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

fn service(name: &str, policy: &str, ip: &str, extra_metadata: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default{extra_metadata}}}\n\
         spec: {{type: LoadBalancer, externalTrafficPolicy: {policy}, selector: {{app: {name}}}, ports: [{{port: 443}}]}}\n\
         status: {{loadBalancer: {{ingress: [{{ip: '{ip}'}}]}}}}\n"
    )
}

fn endpoints(service: &str, nodes: &[(&str, &str)]) -> String {
    let endpoints: Vec<String> = nodes
        .iter()
        .enumerate()
        .map(|(i, (node, condition))| {
            format!("{{addresses: [10.244.{i}.5], nodeName: {node}, conditions: {condition}}}")
        })
        .collect();
    format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {service}-abc, namespace: default, labels: {{kubernetes.io/service-name: {service}}}}}\n\
         addressType: IPv4\nendpoints: [{}]\n",
        endpoints.join(", ")
    )
}

const READY: &str = "{ready: true}";

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

impl Cluster {
    fn plan(&self, node: &str) -> Plan {
        plan(
            &self.config,
            node,
            &self.nodes,
            &self.services,
            &self.slices,
            &PlanOptions::default(),
        )
    }
}

fn key(name: &str) -> ServiceKey {
    ServiceKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn prefixes(plan: &Plan, peer: &str) -> Vec<String> {
    plan.routes
        .get(peer)
        .map(|r| r.keys().map(ToString::to_string).collect())
        .unwrap_or_default()
}

fn reason(plan: &Plan, service: &str) -> Option<Reason> {
    match plan.services.get(&key(service)) {
        Some(ServiceOutcome::NotAnnounced(reason)) => Some(*reason),
        _ => None,
    }
}

#[test]
fn local_policy_announces_only_from_nodes_with_a_ready_endpoint() {
    let web = service("web", "Local", "203.0.113.5", "");
    let eps = endpoints("web", &[("node1", READY)]);
    let cluster = cluster(&[SEED_CONFIG, NODES, &web, &eps]);
    let node1 = cluster.plan("node1");
    assert_eq!(prefixes(&node1, "tor1"), ["203.0.113.5/32"]);
    assert_eq!(prefixes(&node1, "tor2"), ["203.0.113.5/32"]);
    let route = &node1.routes["tor1"][&net("203.0.113.5/32")];
    assert_eq!(
        route.communities,
        BTreeSet::from([Community::parse("65000:100").unwrap()])
    );
    assert_eq!(route.local_pref, Some(100));
    assert_eq!(
        node1.services[&key("web")],
        ServiceOutcome::Announced {
            prefixes: vec![net("203.0.113.5/32")],
            peers: vec!["tor1".into(), "tor2".into()]
        }
    );
    assert_eq!(
        reason(&cluster.plan("node2"), "web"),
        Some(Reason::NoLocalEndpoints)
    );
    assert!(prefixes(&cluster.plan("node2"), "tor1").is_empty());
}

#[test]
fn routes_with_equal_attributes_share_one_copy_across_prefixes_and_peers() {
    let web = service("web", "Cluster", "203.0.113.5", "");
    let api = service("api", "Cluster", "203.0.113.6", "");
    let eps_web = endpoints("web", &[("node1", READY)]);
    let eps_api = endpoints("api", &[("node1", READY)]);
    let cluster = cluster(&[SEED_CONFIG, NODES, &web, &api, &eps_web, &eps_api]);
    let node1 = cluster.plan("node1");
    let shared = &node1.routes["tor1"][&net("203.0.113.5/32")];
    assert_eq!(shared.local_pref, Some(100));
    for (peer, prefix) in [
        ("tor1", "203.0.113.6/32"),
        ("tor2", "203.0.113.5/32"),
        ("tor2", "203.0.113.6/32"),
    ] {
        assert!(
            Arc::ptr_eq(shared, &node1.routes[peer][&net(prefix)]),
            "{peer} {prefix} has its own copy of the attributes"
        );
    }
}

#[test]
fn cluster_policy_announces_from_every_node_while_any_endpoint_exists() {
    let web = service("web", "Cluster", "203.0.113.5", "");
    let eps = endpoints("web", &[("node3", READY)]);
    let cluster = cluster(&[SEED_CONFIG, NODES, &web, &eps]);
    for node in ["node1", "node2", "node3"] {
        assert_eq!(
            prefixes(&cluster.plan(node), "tor1"),
            ["203.0.113.5/32"],
            "{node}"
        );
    }
    let none = endpoints("web", &[]);
    let cluster = self::cluster(&[SEED_CONFIG, NODES, &web, &none]);
    assert_eq!(
        reason(&cluster.plan("node1"), "web"),
        Some(Reason::NoEndpoints)
    );
}

#[test]
fn last_local_endpoint_leaving_withdraws_and_terminating_serving_keeps() {
    let web = service("web", "Local", "203.0.113.5", "");
    let not_ready = endpoints("web", &[("node1", "{ready: false, serving: false}")]);
    let cluster = cluster(&[SEED_CONFIG, NODES, &web, &not_ready]);
    assert_eq!(
        reason(&cluster.plan("node1"), "web"),
        Some(Reason::NoLocalEndpoints)
    );
    let terminating = endpoints(
        "web",
        &[("node1", "{ready: false, serving: true, terminating: true}")],
    );
    let cluster = self::cluster(&[SEED_CONFIG, NODES, &web, &terminating]);
    assert_eq!(prefixes(&cluster.plan("node1"), "tor1"), ["203.0.113.5/32"]);
}

#[test]
fn exclude_label_and_network_unavailable_remove_a_node() {
    let web = service("web", "Cluster", "203.0.113.5", "");
    let eps = endpoints("web", &[("node1", READY)]);
    let nodes = "apiVersion: v1\nkind: Node\nmetadata: {name: node1, labels: {node.kubernetes.io/exclude-from-external-load-balancers: ''}}\n---\n\
                 apiVersion: v1\nkind: Node\nmetadata: {name: node2}\nstatus: {conditions: [{type: NetworkUnavailable, status: 'True'}]}\n";
    let cluster = cluster(&[SEED_CONFIG, nodes, &web, &eps]);
    assert_eq!(
        reason(&cluster.plan("node1"), "web"),
        Some(Reason::NodeLabeledExcludeBalancers)
    );
    assert_eq!(
        reason(&cluster.plan("node2"), "web"),
        Some(Reason::NodeNetworkUnavailable)
    );
    let ignoring = plan(
        &cluster.config,
        "node1",
        &cluster.nodes,
        &cluster.services,
        &cluster.slices,
        &PlanOptions {
            ignore_exclude_label: true,
            ..Default::default()
        },
    );
    assert_eq!(prefixes(&ignoring, "tor1"), ["203.0.113.5/32"]);
}

#[test]
fn peer_node_selector_limits_sessions() {
    let config = SEED_CONFIG.replace(
        "peerAddress: 10.0.0.2}",
        "peerAddress: 10.0.0.2, nodeSelectors: [{matchLabels: {rack: b}}]}",
    );
    let web = service("web", "Cluster", "203.0.113.5", "");
    let eps = endpoints("web", &[("node1", READY)]);
    let cluster = cluster(&[&config, NODES, &web, &eps]);
    let node1 = cluster.plan("node1");
    assert_eq!(node1.sessions.keys().collect::<Vec<_>>(), ["tor1"]);
    assert!(!node1.routes.contains_key("tor2"));
    assert_eq!(cluster.plan("node2").sessions.len(), 2);
}

#[test]
fn advertisement_node_selector_makes_other_nodes_not_owner() {
    let config = SEED_CONFIG.replace(
        "localPref: 100}",
        "localPref: 100, nodeSelectors: [{matchLabels: {rack: a}}]}",
    );
    let web = service("web", "Cluster", "203.0.113.5", "");
    let eps = endpoints("web", &[("node2", READY)]);
    let cluster = cluster(&[&config, NODES, &web, &eps]);
    assert_eq!(prefixes(&cluster.plan("node1"), "tor1"), ["203.0.113.5/32"]);
    assert_eq!(
        reason(&cluster.plan("node2"), "web"),
        Some(Reason::NotOwner)
    );
}

#[test]
fn service_selector_that_matches_nothing_gives_no_matching_advertisement() {
    let config = SEED_CONFIG.replace(
        "localPref: 100}",
        "localPref: 100, serviceSelectors: [{matchLabels: {tier: edge}}]}",
    );
    let web = service("web", "Cluster", "203.0.113.5", "");
    let edge = service("edge", "Cluster", "203.0.113.6", ", labels: {tier: edge}");
    let eps = endpoints("web", &[("node1", READY)]);
    let edge_eps = endpoints("edge", &[("node1", READY)]);
    let cluster = cluster(&[&config, NODES, &web, &edge, &eps, &edge_eps]);
    let node1 = cluster.plan("node1");
    assert_eq!(reason(&node1, "web"), Some(Reason::NoMatchingAdvertisement));
    assert_eq!(prefixes(&node1, "tor1"), ["203.0.113.6/32"]);
}

#[test]
fn aggregation_length_announces_the_covering_prefix() {
    let config = SEED_CONFIG.replace("aggregationLength: 32", "aggregationLength: 24");
    let web = service("web", "Cluster", "203.0.113.5", "");
    let eps = endpoints("web", &[("node1", READY)]);
    let cluster = cluster(&[&config, NODES, &web, &eps]);
    assert_eq!(prefixes(&cluster.plan("node1"), "tor1"), ["203.0.113.0/24"]);
}

#[test]
fn ipv6_prefix_goes_only_to_ipv6_or_dual_stack_peers() {
    let config = format!(
        "{SEED_CONFIG}---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: tor6, namespace: metallb-system}}\n\
         spec: {{myASN: 65100, peerASN: 65000, peerAddress: 'fd00::1'}}\n"
    );
    let web = service("web6", "Cluster", "2001:db8:5::7", "");
    let eps = endpoints("web6", &[("node1", READY)]);
    let node1 = cluster(&[&config, NODES, &web, &eps]).plan("node1");
    assert_eq!(prefixes(&node1, "tor6"), ["2001:db8:5::7/128"]);
    assert!(prefixes(&node1, "tor1").is_empty());
    // dualStackAddressFamily (v1beta2 only): the IPv4 peer is planned the IPv6 route too.
    let dual = dual_stack_tor1(&config);
    let node1 = cluster(&[&dual, NODES, &web, &eps]).plan("node1");
    assert_eq!(prefixes(&node1, "tor1"), ["2001:db8:5::7/128"]);
    assert_eq!(prefixes(&node1, "tor6"), ["2001:db8:5::7/128"]);
}

/// `config` with tor1 a v1beta2 BGPPeer carrying both families (`dualStackAddressFamily`).
fn dual_stack_tor1(config: &str) -> String {
    let dual = config
        .replace(
            "v1beta1\nkind: BGPPeer\nmetadata: {name: tor1",
            "v1beta2\nkind: BGPPeer\nmetadata: {name: tor1",
        )
        .replace(
            "peerAddress: 10.0.0.1}",
            "peerAddress: 10.0.0.1, dualStackAddressFamily: true}",
        );
    assert!(dual.contains("v1beta2\nkind: BGPPeer\nmetadata: {name: tor1"));
    assert!(dual.contains("dualStackAddressFamily: true"));
    dual
}

#[test]
fn a_dual_stack_service_lists_its_ipv4_and_ipv6_peers_once_each_has_its_family() {
    let config = format!(
        "{SEED_CONFIG}---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: tor6, namespace: metallb-system}}\n\
         spec: {{myASN: 65100, peerASN: 65000, peerAddress: 'fd00::1'}}\n"
    );
    let web = service("web", "Cluster", "203.0.113.5", "").replace(
        "ingress: [{ip: '203.0.113.5'}]",
        "ingress: [{ip: '203.0.113.5'}, {ip: '2001:db8:5::7'}]",
    );
    assert!(web.contains("2001:db8:5::7"));
    let eps = endpoints("web", &[("node1", READY)]);
    let node1 = cluster(&[&config, NODES, &web, &eps]).plan("node1");
    let (v4, v6) = (net("203.0.113.5/32"), net("2001:db8:5::7/128"));
    let peers_of = |advertised: &[(&'static str, &[IpNet])]| {
        let advertised = advertised
            .iter()
            .map(|(peer, sent)| (*peer, sent.iter().copied().collect()))
            .collect();
        let statuses = ironlb_speaker::plan::announcements(&node1, &advertised);
        let web = statuses.iter().find(|s| s.name == "web").unwrap();
        assert_eq!(web.prefix_texts(), ["203.0.113.5/32", "2001:db8:5::7/128"]);
        web.peer_names()
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
    };
    // Each peer holds its own family's prefix: all three are listed (they were not: no peer
    // held both, so the status named none).
    assert_eq!(
        peers_of(&[("tor1", &[v4]), ("tor2", &[v4]), ("tor6", &[v6])]),
        ["tor1", "tor2", "tor6"]
    );
    // A peer not sent yet is not listed; one sent a prefix of the other family is not either.
    assert_eq!(
        peers_of(&[("tor1", &[v4]), ("tor2", &[]), ("tor6", &[v4])]),
        ["tor1"]
    );
    assert!(peers_of(&[]).is_empty());

    // tor1 carrying both families is meant both prefixes: listed once it holds both.
    let dual = cluster(&[&dual_stack_tor1(&config), NODES, &web, &eps]).plan("node1");
    let tor1_peers = |sent: &[IpNet]| {
        let advertised = [("tor1", sent.iter().copied().collect())].into();
        let statuses = ironlb_speaker::plan::announcements(&dual, &advertised);
        statuses
            .into_iter()
            .find(|s| s.name == "web")
            .unwrap()
            .peer_names()
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
    };
    assert!(tor1_peers(&[v4]).is_empty());
    assert_eq!(tor1_peers(&[v4, v6]), ["tor1"]);
}

#[test]
fn shared_ip_is_announced_once_with_communities_united() {
    let config = format!(
        "{SEED_CONFIG}---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: extra, namespace: metallb-system}}\n\
         spec: {{ipAddressPools: [prod-pool], communities: ['large:65000:1:2'], localPref: 100, serviceSelectors: [{{matchLabels: {{app: b}}}}]}}\n"
    );
    let a = service("a", "Cluster", "203.0.113.9", ", labels: {app: a}");
    let b = service("b", "Cluster", "203.0.113.9", ", labels: {app: b}");
    let eps_a = endpoints("a", &[("node1", READY)]);
    let eps_b = endpoints("b", &[("node1", READY)]);
    let cluster = cluster(&[&config, NODES, &a, &b, &eps_a, &eps_b]);
    let node1 = cluster.plan("node1");
    assert_eq!(prefixes(&node1, "tor1"), ["203.0.113.9/32"]);
    let route = &node1.routes["tor1"][&net("203.0.113.9/32")];
    let expected: BTreeSet<Community> = ["65000:100", "large:65000:1:2"]
        .iter()
        .map(|c| Community::parse(c).unwrap())
        .collect();
    assert_eq!(route.communities, expected);
}

#[test]
fn advertisement_peers_restrict_where_routes_go() {
    let config = SEED_CONFIG.replace("localPref: 100}", "localPref: 100, peers: [tor2]}");
    let web = service("web", "Cluster", "203.0.113.5", "");
    let eps = endpoints("web", &[("node1", READY)]);
    let cluster = cluster(&[&config, NODES, &web, &eps]);
    let node1 = cluster.plan("node1");
    assert!(prefixes(&node1, "tor1").is_empty());
    assert_eq!(prefixes(&node1, "tor2"), ["203.0.113.5/32"]);
}

#[test]
fn services_without_an_ip_or_outside_every_pool_are_not_announced() {
    let pending = "apiVersion: v1\nkind: Service\nmetadata: {name: pending, namespace: default}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n";
    let stray = service("stray", "Cluster", "198.51.100.1", "");
    let clusterip = "apiVersion: v1\nkind: Service\nmetadata: {name: internal, namespace: default}\nspec: {ports: [{port: 80}]}\n";
    let cluster = cluster(&[SEED_CONFIG, NODES, pending, &stray, clusterip]);
    let node1 = cluster.plan("node1");
    assert_eq!(reason(&node1, "pending"), Some(Reason::NoIpAllocated));
    assert_eq!(reason(&node1, "stray"), Some(Reason::IpNotAllowed));
    assert!(
        !node1.services.contains_key(&key("internal")),
        "only LoadBalancer Services are considered"
    );
}

#[test]
fn two_advertisements_with_different_local_pref_conflict_at_announce_time() {
    let config = format!(
        "{SEED_CONFIG}---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {{name: other, namespace: metallb-system}}\n\
         spec: {{ipAddressPools: [prod-pool], localPref: 200, serviceSelectors: [{{matchLabels: {{app: web}}}}]}}\n"
    );
    let web = service("web", "Cluster", "203.0.113.5", ", labels: {app: web}");
    let eps = endpoints("web", &[("node1", READY)]);
    let cluster = cluster(&[&config, NODES, &web, &eps]);
    assert_eq!(
        reason(&cluster.plan("node1"), "web"),
        Some(Reason::ConflictingAdvertisements)
    );
}

#[test]
fn load_balancer_class_filters_services() {
    let other = "apiVersion: v1\nkind: Service\nmetadata: {name: other, namespace: default}\n\
                 spec: {type: LoadBalancer, loadBalancerClass: example.com/lb, ports: [{port: 80}]}\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.7}]}}\n";
    let eps = endpoints("other", &[("node1", READY)]);
    let cluster = cluster(&[SEED_CONFIG, NODES, other, &eps]);
    assert!(cluster.plan("node1").services.is_empty());
    let ours = plan(
        &cluster.config,
        "node1",
        &cluster.nodes,
        &cluster.services,
        &cluster.slices,
        &PlanOptions {
            load_balancer_class: Some("example.com/lb".into()),
            ..Default::default()
        },
    );
    assert_eq!(prefixes(&ours, "tor1"), ["203.0.113.7/32"]);
}

#[test]
fn a_stale_view_withholds_every_route_but_keeps_the_sessions() {
    let web = service("web", "Cluster", "203.0.113.5", "");
    let eps = endpoints("web", &[("node1", READY)]);
    let cluster = cluster(&[SEED_CONFIG, NODES, &web, &eps]);
    let mut plan = cluster.plan("node1");
    let sessions = plan.sessions.clone();
    assert_eq!(prefixes(&plan, "tor1"), ["203.0.113.5/32"]);
    ironlb_speaker::plan::withhold(&mut plan);
    assert_eq!(plan.sessions, sessions);
    assert!(prefixes(&plan, "tor1").is_empty() && prefixes(&plan, "tor2").is_empty());
    assert_eq!(reason(&plan, "web"), Some(Reason::ClusterViewStale));
    assert_eq!(Reason::ClusterViewStale.to_string(), "clusterViewStale");
}
