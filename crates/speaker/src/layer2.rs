//! Layer 2 mode (MetalLB's `speaker/layer2_controller.go`): for each LoadBalancer Service whose
//! pool an L2Advertisement covers, exactly one node, the owner, answers ARP (IPv4) and Neighbor
//! Solicitations (IPv6) for its addresses. Every speaker computes the same owner from the same
//! inputs, so no coordination is needed beyond knowing which speakers are alive.
//!
//! For one Service, in MetalLB's order (the first failing check says why it is not announced):
//! 1. an address in status, all of them in one pool ([`Reason::NoIpAllocated`],
//!    [`Reason::IpNotAllowed`]); a pool no L2Advertisement covers is not layer 2 at all;
//! 2. some endpoint anywhere can serve ([`Reason::NoEndpoints`]);
//! 3. the L2Advertisements of the pool whose `serviceSelectors` match the Service (none:
//!    [`Reason::NoMatchingAdvertisement`]); a Service sharing its address
//!    (`metallb.io/allow-shared-ip`) cannot be selected by Service selectors
//!    ([`Reason::SharedIpWithServiceSelector`]);
//! 4. the candidates: live speakers on nodes one of those advertisements selects
//!    (`nodeSelectors`), neither `NetworkUnavailable` nor labelled
//!    `node.kubernetes.io/exclude-from-external-load-balancers`; with
//!    `externalTrafficPolicy: Local`, only those hosting an endpoint that can serve;
//! 5. the owner: the candidate with the highest summed `preferredNodeSelectors` weight, ties
//!    broken by SHA-256 of `node#first-address`, lowest first. The hash is MetalLB's, so
//!    IronLB picks the very node MetalLB would: Services spread over nodes, and swapping
//!    MetalLB for IronLB moves no address;
//! 6. the owner announces on the interfaces of the advertisements that select it (all but
//!    excluded ones when one of them names none).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use ironlb_api::k8s_openapi::api::core::v1::Node;
use ironlb_config::selector::any_matches;
use ironlb_config::{Config, L2Advertisement};
use ironlb_model::{LbService, SliceEndpoints};
use sha2::{Digest, Sha256};

use crate::plan::{
    EXCLUDE_LABEL, PlanOptions, Reason, ServiceKey,
    node_network_unavailable as network_unavailable, serving_endpoint_nodes as serving_nodes,
};

/// Where an owner answers for its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interfaces {
    /// Every interface (but those excluded, as MetalLB's `metallb-excludel2` list does).
    All,
    /// Only these, by name.
    Named(BTreeSet<String>),
}

impl Interfaces {
    /// Both selections together.
    fn union(self, other: Interfaces) -> Interfaces {
        match (self, other) {
            (Interfaces::Named(mut a), Interfaces::Named(b)) => {
                a.extend(b);
                Interfaces::Named(a)
            }
            _ => Interfaces::All,
        }
    }
}

/// What layer 2 mode decided for one Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layer2Outcome {
    /// `owner` answers for `addresses`; when the owner is this node, on `interfaces`.
    Owned {
        owner: String,
        addresses: Vec<IpAddr>,
        interfaces: Interfaces,
    },
    NotAnnounced(Reason),
}

/// Layer 2 mode as one node sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Layer2Plan {
    /// Per Service in a pool an L2Advertisement covers: its owner, or why nobody owns it.
    pub services: BTreeMap<ServiceKey, Layer2Outcome>,
    /// What this node answers for, and where.
    pub announce: BTreeMap<IpAddr, Interfaces>,
    /// Every node an L2Advertisement selects, this one excluded: the speakers whose liveness
    /// decides ownership.
    pub candidates: BTreeSet<String>,
}

impl Layer2Plan {
    /// Whether this node owns anything.
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty()
    }
}

/// Decides layer 2 mode for `node_name`, given the speakers known to be alive (`live`; this
/// node is always counted as alive).
pub fn layer2_plan(
    config: &Config,
    node_name: &str,
    nodes: &[Node],
    services: &[Arc<LbService>],
    endpoints: &[Arc<SliceEndpoints>],
    live: &BTreeSet<String>,
    options: &PlanOptions,
) -> Layer2Plan {
    let mut plan = Layer2Plan::default();
    if config.l2_advertisements.is_empty() {
        return plan;
    }
    let nodes: BTreeMap<&str, &Node> = nodes
        .iter()
        .filter_map(|node| Some((node.metadata.name.as_deref()?, node)))
        .collect();
    for ad in &config.l2_advertisements {
        for (name, node) in &nodes {
            if *name != node_name && any_matches(&ad.node_selectors, &labels(node)) {
                plan.candidates.insert((*name).to_string());
            }
        }
    }
    let serving = serving_nodes(endpoints);
    let nobody = Vec::new();
    for service in services {
        if !service.load_balancer || service.class != options.load_balancer_class {
            continue;
        }
        let key = ServiceKey {
            namespace: service.namespace.clone(),
            name: service.name.clone(),
        };
        let serving = serving
            .get(&(key.namespace.as_str(), key.name.as_str()))
            .unwrap_or(&nobody);
        let election = Election {
            config,
            node_name,
            nodes: &nodes,
            live,
            options,
        };
        let Some(outcome) = election.decide(service, serving) else {
            continue;
        };
        if let Layer2Outcome::Owned {
            owner,
            addresses,
            interfaces,
        } = &outcome
            && owner == node_name
        {
            for address in addresses {
                let merged = match plan.announce.remove(address) {
                    Some(existing) => existing.union(interfaces.clone()),
                    None => interfaces.clone(),
                };
                plan.announce.insert(*address, merged);
            }
        }
        plan.services.insert(key, outcome);
    }
    plan
}

/// The inputs every Service's election shares.
struct Election<'a> {
    config: &'a Config,
    node_name: &'a str,
    nodes: &'a BTreeMap<&'a str, &'a Node>,
    live: &'a BTreeSet<String>,
    options: &'a PlanOptions,
}

impl Election<'_> {
    /// `None` when the Service's pool is not announced in layer 2 mode.
    fn decide(&self, service: &LbService, serving: &[Option<&str>]) -> Option<Layer2Outcome> {
        let addresses = &service.ingress;
        let Some(first) = addresses.first() else {
            return self.if_any_layer2(Reason::NoIpAllocated);
        };
        let Some(pool) = self
            .config
            .pools
            .values()
            .find(|pool| addresses.iter().all(|ip| pool.contains(*ip)))
        else {
            return self.if_any_layer2(Reason::IpNotAllowed);
        };
        let pool_ads: Vec<&L2Advertisement> = self
            .config
            .l2_advertisements
            .iter()
            .filter(|ad| ad.pools.contains(&pool.name))
            .collect();
        if pool_ads.is_empty() {
            return None;
        }
        let not = |reason| Some(Layer2Outcome::NotAnnounced(reason));
        if serving.is_empty() {
            return not(Reason::NoEndpoints);
        }
        let service_labels = service.label_map();
        let ads: Vec<&L2Advertisement> = pool_ads
            .into_iter()
            .filter(|ad| any_matches(&ad.service_selectors, &service_labels))
            .collect();
        if ads.is_empty() {
            return not(Reason::NoMatchingAdvertisement);
        }
        if service.shares_address && ads.iter().any(|ad| !ad.service_selectors.is_empty()) {
            return not(Reason::SharedIpWithServiceSelector);
        }
        let local_policy = service.local_traffic_policy;
        let mut candidates: Vec<(&str, i64)> = self
            .nodes
            .iter()
            .filter(|(name, _)| **name == self.node_name || self.live.contains(**name))
            .filter(|(_, node)| !network_unavailable(node))
            .filter(|(_, node)| {
                self.options.ignore_exclude_label || !labels(node).contains_key(EXCLUDE_LABEL)
            })
            .filter(|(name, _)| !local_policy || serving.contains(&Some(**name)))
            .filter_map(|(name, node)| {
                let node_labels = labels(node);
                let selecting: Vec<&&L2Advertisement> = ads
                    .iter()
                    .filter(|ad| any_matches(&ad.node_selectors, &node_labels))
                    .collect();
                if selecting.is_empty() {
                    return None;
                }
                let score = selecting
                    .iter()
                    .flat_map(|ad| &ad.preferred_nodes)
                    .filter(|(_, selector)| selector.matches(&node_labels))
                    .map(|(weight, _)| i64::from(*weight))
                    .sum();
                Some((*name, score))
            })
            .collect();
        if candidates.is_empty() {
            return not(Reason::NotOwner);
        }
        let ip = first.to_string();
        candidates.sort_by(|(a, score_a), (b, score_b)| {
            score_b
                .cmp(score_a)
                .then_with(|| election_hash(a, &ip).cmp(&election_hash(b, &ip)))
        });
        let owner = candidates[0].0;
        let interfaces = self
            .nodes
            .get(owner)
            .map(|node| {
                let node_labels = labels(node);
                ads.iter()
                    .filter(|ad| any_matches(&ad.node_selectors, &node_labels))
                    .map(|ad| interfaces_of(ad))
                    .reduce(Interfaces::union)
                    .unwrap_or(Interfaces::All)
            })
            .unwrap_or(Interfaces::All);
        Some(Layer2Outcome::Owned {
            owner: owner.to_string(),
            addresses: addresses.to_vec(),
            interfaces,
        })
    }

    /// A Service without a usable address is reported only when layer 2 mode is configured
    /// at all.
    fn if_any_layer2(&self, reason: Reason) -> Option<Layer2Outcome> {
        (!self.config.l2_advertisements.is_empty()).then_some(Layer2Outcome::NotAnnounced(reason))
    }
}

fn interfaces_of(ad: &L2Advertisement) -> Interfaces {
    if ad.interfaces.is_empty() {
        Interfaces::All
    } else {
        Interfaces::Named(ad.interfaces.iter().cloned().collect())
    }
}

/// MetalLB's tie-break: SHA-256 of `node#ip`, compared as bytes.
pub fn election_hash(node: &str, ip: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(node.as_bytes());
    hasher.update(b"#");
    hasher.update(ip.as_bytes());
    hasher.finalize().into()
}

fn labels(node: &Node) -> BTreeMap<String, String> {
    node.metadata.labels.clone().unwrap_or_default()
}

/// A network interface of the node, as layer 2 mode needs to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInterface {
    pub name: String,
    /// The kernel's interface index.
    pub index: u32,
    pub mac: Option<[u8; 6]>,
    pub up: bool,
    /// It has an IPv6 link-local address (MetalLB answers Neighbor Solicitations only there).
    pub ipv6_link_local: bool,
}

/// Interface names never answered on, MetalLB's default `metallb-excludel2` list: container,
/// CNI and virtual interfaces (`^docker.*`, `^veth.*`, `^lo$`, ...).
pub const EXCLUDED_INTERFACES: [&str; 14] = [
    "docker*",
    "cbr*",
    "dummy*",
    "virbr*",
    "lxcbr*",
    "veth*",
    "lo",
    "cali*",
    "tunl*",
    "flannel*",
    "kube-ipvs*",
    "cni*",
    "nodelocaldns*",
    "lxc*",
];

/// Whether `name` is excluded (a pattern is a name, or a prefix followed by `*`).
pub fn excluded(name: &str) -> bool {
    EXCLUDED_INTERFACES
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *pattern,
        })
}

/// Where this node answers: per interface index, its MAC and the addresses it owns there;
/// and, per address, the interfaces its advertisements name that this node does not have
/// (MetalLB's `announceFailed`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    pub interfaces: BTreeMap<u32, ([u8; 6], BTreeSet<IpAddr>)>,
    pub missing: BTreeMap<IpAddr, BTreeSet<String>>,
    /// Interface names per address, for the status.
    pub names: BTreeMap<IpAddr, BTreeSet<String>>,
}

/// Places the addresses of `announce` on the node's interfaces: IPv4 on every usable one
/// selected, IPv6 on those that also have a link-local address; usable means up, with a MAC,
/// and not excluded.
pub fn place(announce: &BTreeMap<IpAddr, Interfaces>, interfaces: &[NodeInterface]) -> Placement {
    let mut placement = Placement::default();
    for (address, selection) in announce {
        let usable = interfaces
            .iter()
            .filter(|i| i.up && i.mac.is_some() && !excluded(&i.name))
            .filter(|i| address.is_ipv4() || i.ipv6_link_local);
        match selection {
            Interfaces::All => {
                for interface in usable {
                    placement.add(interface, *address);
                }
            }
            Interfaces::Named(names) => {
                let usable: Vec<&NodeInterface> = usable.collect();
                for name in names {
                    match usable.iter().find(|i| &i.name == name) {
                        Some(interface) => placement.add(interface, *address),
                        None => {
                            placement
                                .missing
                                .entry(*address)
                                .or_default()
                                .insert(name.clone());
                        }
                    }
                }
            }
        }
    }
    placement
}

impl Placement {
    fn add(&mut self, interface: &NodeInterface, address: IpAddr) {
        let Some(mac) = interface.mac else { return };
        self.interfaces
            .entry(interface.index)
            .or_insert_with(|| (mac, BTreeSet::new()))
            .1
            .insert(address);
        self.names
            .entry(address)
            .or_default()
            .insert(interface.name.clone());
    }
}

/// The address a node's speaker is reached at for liveness: its first IPv4 InternalIP, else
/// its first IPv6 one.
pub fn node_address(node: &Node) -> Option<IpAddr> {
    let addresses: Vec<IpAddr> = node
        .status
        .as_ref()?
        .addresses
        .as_ref()?
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .filter_map(|a| a.address.parse().ok())
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addresses.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(name: &str, index: u32, up: bool, link_local: bool) -> NodeInterface {
        NodeInterface {
            name: name.into(),
            index,
            mac: Some([2, 0, 0, 0, 0, index as u8]),
            up,
            ipv6_link_local: link_local,
        }
    }

    #[test]
    fn addresses_go_on_usable_selected_interfaces_and_missing_ones_are_reported() {
        let interfaces = [
            interface("eth0", 2, true, true),
            interface("eth1", 3, true, false),
            interface("eth2", 4, false, true),
            interface("veth1234", 5, true, true),
            interface("lo", 1, true, false),
        ];
        let v4: IpAddr = "203.0.113.10".parse().unwrap();
        let v6: IpAddr = "2001:db8::10".parse().unwrap();
        let named: IpAddr = "203.0.113.11".parse().unwrap();
        let announce = BTreeMap::from([
            (v4, Interfaces::All),
            (v6, Interfaces::All),
            (
                named,
                Interfaces::Named(BTreeSet::from(["eth1".into(), "bond0".into()])),
            ),
        ]);
        let placement = place(&announce, &interfaces);
        let on = |index: u32| placement.interfaces.get(&index).map(|(_, a)| a.clone());
        assert_eq!(on(2), Some(BTreeSet::from([v4, v6])));
        assert_eq!(
            on(3),
            Some(BTreeSet::from([v4, named])),
            "no link-local: no IPv6"
        );
        assert_eq!(on(4), None, "down");
        assert_eq!(on(5), None, "excluded like MetalLB's ^veth.*");
        assert_eq!(on(1), None, "excluded like MetalLB's ^lo$");
        assert_eq!(
            placement.missing[&named],
            BTreeSet::from(["bond0".to_string()])
        );
        assert_eq!(
            placement.names[&v4],
            BTreeSet::from(["eth0".to_string(), "eth1".to_string()])
        );
    }
}
