//! The announcement plan of one node (MetalLB's speaker, BGP mode):
//!
//! 1. Sessions: every BGPPeer whose nodeSelectors match the node, with the session's settings
//!    decided by [`crate::session`] (router ID, AS numbers, TTL, timers, graceful restart, BFD).
//! 2. For each LoadBalancer Service with ingress IPs in a pool, the first failing check says why
//!    it is not announced: no BGPAdvertisement of its pool selects this node (`notOwner`), none
//!    selects the Service (`noMatchingAdvertisement`), two applicable ads disagree on localPref
//!    (`conflictingAdvertisements`), the node is NetworkUnavailable or carries the
//!    exclude-from-external-load-balancers label, or with `externalTrafficPolicy: Local` no
//!    endpoint on this node can serve (`noLocalEndpoints`) — with Cluster, none anywhere
//!    (`noEndpoints`). "Can serve": ready (or unset), or serving (terminating but serving).
//! 3. Each ingress IP × applicable ad gives the prefix IP/aggregationLength with the ad's
//!    communities and localPref, sent to the ad's peers (all when empty) that run on this node,
//!    IPv4 prefixes to IPv4 peers and IPv6 to IPv6 peers unless the peer is dual-stack.
//!    Prefixes shared by several Services or ads merge (communities united).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use ipnet::IpNet;
use ironlb_api::k8s_openapi::api::core::v1::Node;
use ironlb_config::selector::any_matches;
use ironlb_config::{BgpAdvertisement, Community, Config, Peer, PeerAddress};

use crate::session::{self, SessionDefaults, SessionError, SessionSettings};

/// Label that takes a node out of load-balancer announcements.
pub const EXCLUDE_LABEL: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
pub use ironlb_model::{LbService, SERVICE_NAME_LABEL, SliceEndpoints, endpoint_can_serve};

/// A Service's identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Path attributes of an announced prefix. A plan holds one shared copy of each distinct set
/// (they come from the few BGPAdvertisements), not one per route and peer: with 10,000
/// Services, two peers and a community, copies were megabytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteAttributes {
    /// Sorted as MetalLB sorts them (standard as large `AA·65536+NN:0:0`).
    pub communities: BTreeSet<Community>,
    /// LOCAL_PREF; the BGP engine sends it to iBGP peers only.
    pub local_pref: Option<u32>,
}

/// Why a Service is not announced from this node (MetalLB's reason strings in `Display`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    NoIpAllocated,
    IpNotAllowed,
    NotOwner,
    NoMatchingAdvertisement,
    ConflictingAdvertisements,
    NodeNetworkUnavailable,
    NodeLabeledExcludeBalancers,
    NoLocalEndpoints,
    NoEndpoints,
    /// Layer 2: a Service sharing its address cannot be chosen by an L2Advertisement's
    /// `serviceSelectors`.
    SharedIpWithServiceSelector,
    /// IronLB's: the speaker has not heard from the cluster for longer than its staleness
    /// bound, so it no longer trusts its last view.
    ClusterViewStale,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::NoIpAllocated => "noIPAllocated",
            Reason::IpNotAllowed => "ipNotAllowed",
            Reason::NotOwner => "notOwner",
            Reason::NoMatchingAdvertisement => "noMatchingAdvertisement",
            Reason::ConflictingAdvertisements => "conflictingAdvertisements",
            Reason::NodeNetworkUnavailable => "nodeNetworkUnavailable",
            Reason::NodeLabeledExcludeBalancers => "nodeLabeledExcludeBalancers",
            Reason::NoLocalEndpoints => "noLocalEndpoints",
            Reason::NoEndpoints => "noEndpoints",
            Reason::SharedIpWithServiceSelector => "sharedIPWithServiceSelector",
            Reason::ClusterViewStale => "clusterViewStale",
        })
    }
}

/// What the plan decided for one Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceOutcome {
    /// Announced: the prefixes, and the names of the peers they go to.
    Announced {
        /// Sorted, distinct (a Vec: a B-tree set allocates a whole node even for the one or
        /// two entries a Service has, which with 10,000 Services is megabytes).
        prefixes: Vec<IpNet>,
        /// Sorted, distinct BGPPeer names.
        peers: Vec<String>,
    },
    NotAnnounced(Reason),
}

/// Options of the speaker that change decisions.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// `--lb-class`: None = only Services without a loadBalancerClass.
    pub load_balancer_class: Option<String>,
    /// `--ignore-exclude-lb`: announce from nodes carrying the exclude label anyway.
    pub ignore_exclude_label: bool,
    /// What every session shares (`--router-id`, the UPDATE batch delay).
    pub session: SessionDefaults,
}

/// A peer this node holds a session with.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedSession {
    pub peer: Peer,
    /// What the BGP and BFD engines need, or why the peer gets no session.
    pub settings: Result<SessionSettings, SessionError>,
}

/// What one node announces.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The peers this node holds sessions with, by name.
    pub sessions: BTreeMap<String, PlannedSession>,
    /// Per peer name: prefix → attributes (routes with equal attributes share one).
    pub routes: BTreeMap<String, BTreeMap<IpNet, Arc<RouteAttributes>>>,
    /// Per Service (LoadBalancer Services of our class only): announced or why not.
    pub services: BTreeMap<ServiceKey, ServiceOutcome>,
}

/// Computes the announcement plan of `node_name`.
pub fn plan(
    config: &Config,
    node_name: &str,
    nodes: &[Node],
    services: &[Arc<LbService>],
    endpoints: &[Arc<SliceEndpoints>],
    options: &PlanOptions,
) -> Plan {
    let node = nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(node_name));
    let node_labels = node
        .and_then(|n| n.metadata.labels.clone())
        .unwrap_or_default();
    let mut result = Plan::default();
    for peer in config.peers.values() {
        if any_matches(&peer.node_selectors, &node_labels) {
            let bfd = peer
                .bfd_profile
                .as_ref()
                .and_then(|name| config.bfd_profiles.get(name));
            let settings = session::router_id(peer, &options.session, node)
                .and_then(|id| session::settings(peer, bfd, id, &options.session));
            result.sessions.insert(
                peer.name.clone(),
                PlannedSession {
                    peer: peer.clone(),
                    settings,
                },
            );
            result.routes.insert(peer.name.clone(), BTreeMap::new());
        }
    }
    let network_unavailable = node.is_some_and(node_network_unavailable);
    let serving = serving_endpoint_nodes(endpoints);
    let nobody = Vec::new();
    let excluded = !options.ignore_exclude_label && node_labels.contains_key(EXCLUDE_LABEL);
    let mut interned = Interner::default();

    for service in services {
        if !service.load_balancer || service.class != options.load_balancer_class {
            continue;
        }
        let key = ServiceKey {
            namespace: service.namespace.clone(),
            name: service.name.clone(),
        };
        let outcome = decide(
            config,
            &result.sessions,
            &node_labels,
            node_name,
            network_unavailable,
            excluded,
            service,
            serving
                .get(&(key.namespace.as_str(), key.name.as_str()))
                .unwrap_or(&nobody),
        );
        if let Ok(routes) = &outcome {
            let mut prefixes = Vec::new();
            let mut peers: Vec<String> = Vec::new();
            for (peer_name, prefix, attributes) in routes {
                if !prefixes.contains(prefix) {
                    prefixes.push(*prefix);
                }
                if !peers.contains(peer_name) {
                    peers.push(peer_name.clone());
                }
                let peer_routes = match result.routes.get_mut(peer_name) {
                    Some(peer_routes) => peer_routes,
                    None => result.routes.entry(peer_name.clone()).or_default(),
                };
                match peer_routes.get_mut(prefix) {
                    None => {
                        peer_routes.insert(*prefix, interned.share(attributes));
                    }
                    // Two advertisements for one prefix: their communities joined, the
                    // higher LOCAL_PREF.
                    Some(existing) => {
                        let mut merged = RouteAttributes::clone(existing);
                        merged
                            .communities
                            .extend(attributes.communities.iter().copied());
                        merged.local_pref = merged.local_pref.max(attributes.local_pref);
                        if merged != **existing {
                            *existing = interned.share(&Arc::new(merged));
                        }
                    }
                }
            }
            prefixes.sort();
            peers.sort();
            prefixes.shrink_to_fit();
            peers.shrink_to_fit();
            result
                .services
                .insert(key, ServiceOutcome::Announced { prefixes, peers });
        } else if let Err(reason) = outcome {
            result
                .services
                .insert(key, ServiceOutcome::NotAnnounced(reason));
        }
    }
    result
}

impl RouteAttributes {
    /// The attributes as the BGP engine sends them.
    pub fn to_wire(&self) -> ironlb_bgp::session::RouteAttributes {
        let mut wire = ironlb_bgp::session::RouteAttributes {
            local_preference: self.local_pref,
            ..ironlb_bgp::session::RouteAttributes::default()
        };
        for community in &self.communities {
            match *community {
                Community::Standard(value) => {
                    wire.communities.push(ironlb_bgp::packet::Community(value))
                }
                Community::Large(a, b, c) => wire
                    .large_communities
                    .push(ironlb_bgp::packet::LargeCommunity::new(a, b, c)),
            }
        }
        wire
    }
}

/// What each Service's status says (ServiceBGPStatus, `ironlb get services`): for an announced
/// Service, the peers that were actually sent every one of its prefixes meant for them, given
/// what each peer's Adj-RIB-Out holds (`advertised`, by peer name); for the others, why not.
/// A dual-stack Service's IPv4 prefix is meant for the IPv4 peers and its IPv6 prefix for the
/// IPv6 peers: each peer is listed once it holds its own family's.
pub fn announcements(
    plan: &Plan,
    advertised: &BTreeMap<&str, BTreeSet<IpNet>>,
) -> Vec<ironlb_model::status::ServiceAnnouncement> {
    let nothing = BTreeSet::new();
    let sent_all_meant = |peer: &str, prefixes: &[IpNet]| {
        let Some(meant) = plan.routes.get(peer) else {
            return false;
        };
        let sent = advertised.get(peer).unwrap_or(&nothing);
        let mut mine = prefixes.iter().filter(|p| meant.contains_key(p)).peekable();
        mine.peek().is_some() && mine.all(|p| sent.contains(p))
    };
    // One copy of each namespace's and peer's name, shared by the Services.
    let mut names = SharedNames::default();
    plan.services
        .iter()
        .map(|(key, outcome)| {
            let (prefixes, peers, reason) = match outcome {
                ServiceOutcome::Announced { prefixes, peers } => (
                    prefixes.clone(),
                    peers
                        .iter()
                        .filter(|peer| sent_all_meant(peer, prefixes))
                        .map(|peer| names.get(peer))
                        .collect(),
                    None,
                ),
                ServiceOutcome::NotAnnounced(reason) => {
                    (Vec::new(), Vec::new(), Some(reason.to_string()))
                }
            };
            ironlb_model::status::ServiceAnnouncement {
                namespace: names.get(&key.namespace),
                name: key.name.clone(),
                prefixes,
                peers,
                reason,
            }
        })
        .collect()
}

/// One shared copy of each name (namespaces, peers) of a status.
#[derive(Default)]
struct SharedNames<'a>(BTreeMap<&'a str, Arc<str>>);

impl<'a> SharedNames<'a> {
    fn get(&mut self, name: &'a str) -> Arc<str> {
        Arc::clone(self.0.entry(name).or_insert_with(|| Arc::from(name)))
    }
}

/// The plan when the cluster view is too old to trust: the same sessions (they stay up, so
/// routes return at once when the view is fresh again), no routes, and every Service that
/// would have been announced says why not.
pub fn withhold(plan: &mut Plan) {
    for routes in plan.routes.values_mut() {
        routes.clear();
    }
    for outcome in plan.services.values_mut() {
        if matches!(outcome, ServiceOutcome::Announced { .. }) {
            *outcome = ServiceOutcome::NotAnnounced(Reason::ClusterViewStale);
        }
    }
}

type Routes = Vec<(String, IpNet, Arc<RouteAttributes>)>;

/// One shared copy of each distinct attribute set of a plan.
#[derive(Default)]
struct Interner(BTreeMap<RouteAttributes, Arc<RouteAttributes>>);

impl Interner {
    fn share(&mut self, attributes: &Arc<RouteAttributes>) -> Arc<RouteAttributes> {
        if let Some(shared) = self.0.get(&**attributes) {
            return Arc::clone(shared);
        }
        self.0
            .insert(RouteAttributes::clone(attributes), Arc::clone(attributes));
        Arc::clone(attributes)
    }
}

#[allow(clippy::too_many_arguments)]
fn decide(
    config: &Config,
    sessions: &BTreeMap<String, PlannedSession>,
    node_labels: &BTreeMap<String, String>,
    node_name: &str,
    network_unavailable: bool,
    excluded: bool,
    service: &LbService,
    serving_nodes: &[Option<&str>],
) -> Result<Routes, Reason> {
    let ips = &service.ingress;
    if ips.is_empty() {
        return Err(Reason::NoIpAllocated);
    }
    // All ingress IPs must lie in one pool.
    let pool = config
        .pools
        .values()
        .find(|pool| ips.iter().all(|ip| pool.contains(*ip)));
    let Some(pool) = pool else {
        return Err(Reason::IpNotAllowed);
    };
    let service_labels = service.label_map();
    let for_node: Vec<&BgpAdvertisement> = config
        .bgp_advertisements
        .iter()
        .filter(|ad| ad.pools.contains(&pool.name) && any_matches(&ad.node_selectors, node_labels))
        .collect();
    if for_node.is_empty() {
        return Err(Reason::NotOwner);
    }
    let applicable: Vec<&BgpAdvertisement> = for_node
        .into_iter()
        .filter(|ad| any_matches(&ad.service_selectors, &service_labels))
        .collect();
    if applicable.is_empty() {
        return Err(Reason::NoMatchingAdvertisement);
    }
    for (index, first) in applicable.iter().enumerate() {
        for second in &applicable[index + 1..] {
            if local_prefs_conflict(first, second) {
                return Err(Reason::ConflictingAdvertisements);
            }
        }
    }
    if network_unavailable {
        return Err(Reason::NodeNetworkUnavailable);
    }
    if excluded {
        return Err(Reason::NodeLabeledExcludeBalancers);
    }
    if service.local_traffic_policy {
        if !serving_nodes.contains(&Some(node_name)) {
            return Err(Reason::NoLocalEndpoints);
        }
    } else if serving_nodes.is_empty() {
        return Err(Reason::NoEndpoints);
    }
    let mut routes = Vec::new();
    for ip in ips {
        for ad in &applicable {
            let length = if ip.is_ipv4() {
                ad.aggregation_length
            } else {
                ad.aggregation_length_v6
            };
            let Ok(prefix) = IpNet::new(*ip, length).map(|n| n.trunc()) else {
                continue;
            };
            let attributes = Arc::new(RouteAttributes {
                communities: ad.communities.clone(),
                local_pref: ad.local_pref,
            });
            for (peer_name, planned) in sessions {
                if !ad.peers.is_empty() && !ad.peers.contains(peer_name) {
                    continue;
                }
                if !peer_carries_family(&planned.peer, ip.is_ipv6()) {
                    continue;
                }
                routes.push((peer_name.clone(), prefix, Arc::clone(&attributes)));
            }
        }
    }
    Ok(routes)
}

/// MetalLB's announce-time rule: two ads for one Service conflict when their localPref differs
/// and nothing separates them (aggregation length, or disjoint peer lists).
fn local_prefs_conflict(first: &BgpAdvertisement, second: &BgpAdvertisement) -> bool {
    if first.local_pref == second.local_pref {
        return false;
    }
    if first.aggregation_length != second.aggregation_length
        || first.aggregation_length_v6 != second.aggregation_length_v6
    {
        return false;
    }
    if !first.peers.is_empty()
        && !second.peers.is_empty()
        && !first.peers.iter().any(|p| second.peers.contains(p))
    {
        return false;
    }
    true
}

/// IPv4 prefixes go to IPv4 peers, IPv6 to IPv6 peers; unnumbered and dual-stack peers take both.
fn peer_carries_family(peer: &Peer, ipv6: bool) -> bool {
    match &peer.address {
        PeerAddress::Interface(_) => true,
        PeerAddress::Address(address) => {
            peer.dual_stack_address_family || address.is_ipv6() == ipv6
        }
    }
}

pub(crate) fn node_network_unavailable(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "NetworkUnavailable" && c.status == "True")
}

/// Per Service (namespace, name): the nodes hosting an endpoint that can serve (None: an
/// endpoint without a node). One pass over the slices, however many Services there are.
/// Each list is sorted and distinct (a list, not a B-tree set: a set allocates a whole node
/// for the one to three nodes a Service has, which with 10,000 Services is megabytes).
pub(crate) fn serving_endpoint_nodes(
    endpoints: &[Arc<SliceEndpoints>],
) -> BTreeMap<(&str, &str), Vec<Option<&str>>> {
    let mut serving: BTreeMap<(&str, &str), Vec<Option<&str>>> = BTreeMap::new();
    for slice in endpoints {
        serving
            .entry((slice.namespace.as_str(), slice.service.as_str()))
            .or_default()
            .extend(slice.serving_nodes.iter().map(Option::as_deref));
    }
    for nodes in serving.values_mut() {
        nodes.sort_unstable();
        nodes.dedup();
    }
    serving
}
