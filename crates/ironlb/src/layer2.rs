//! Layer 2 mode at run time: IO only. Who owns which address is `ironlb_speaker::layer2`'s
//! decision, which speakers are alive `ironlb_speaker::liveness`'s; this module keeps a BFD
//! session with every other candidate speaker, feeds their states to those decisions, and
//! hands the owned addresses, placed on the node's interfaces, to the ARP/NDP driver.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ironlb_cluster::Snapshot;
use ironlb_cluster::status::{BfdState, Layer2Announcement, Layer2Counters, SpeakerPeer};
use ironlb_config::Config;
use ironlb_net::bfd::{self, Admin};
use ironlb_net::l2;
use ironlb_speaker::PlanOptions;
use ironlb_speaker::layer2::{
    Layer2Outcome, Layer2Plan, NodeInterface, Placement, layer2_plan, node_address, place,
};
use ironlb_speaker::liveness::{Heard, Liveness, Observation};
use tracing::{info, warn};

/// BFD between speakers: detection in 3 × 200 ms.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(200);
const LIVENESS_MULTIPLIER: u8 = 3;
/// Multihop BFD (RFC 5883) between speakers, so nodes in routed networks see each other;
/// packets that crossed more than five routers are refused.
const LIVENESS_MINIMUM_TTL: u8 = 250;
/// How often the node's interfaces are listed again (MetalLB: 10 s).
const INTERFACE_SCAN: Duration = Duration::from_secs(10);

/// Layer 2 mode of one speaker.
pub struct Layer2 {
    node: String,
    liveness: Liveness,
    plan: Layer2Plan,
    /// The other candidate speakers, and the address of their BFD session.
    peers: BTreeMap<String, IpAddr>,
    /// The sessions with the peers are out of AdminDown (the grace is over).
    enabled: bool,
    driver: Option<l2::Handle>,
    interfaces: Vec<NodeInterface>,
    scanned: Option<Instant>,
    placement: Placement,
}

impl Layer2 {
    pub fn new(node: &str, now: Instant) -> Self {
        Layer2 {
            node: node.to_string(),
            liveness: Liveness::new(now),
            plan: Layer2Plan::default(),
            peers: BTreeMap::new(),
            enabled: false,
            driver: None,
            interfaces: Vec::new(),
            scanned: None,
            placement: Placement::default(),
        }
    }

    /// Whether `address` is another speaker's (its BFD changes concern layer 2, not BGP).
    pub fn is_peer(&self, address: IpAddr) -> bool {
        self.peers.values().any(|a| *a == address)
    }

    /// Decides and applies: the sessions with the candidates, who is alive, who owns what,
    /// and what this node answers for. `bfd` is the speaker's BFD driver, when it runs.
    pub fn update(
        &mut self,
        config: &Config,
        snapshot: &Snapshot,
        options: &PlanOptions,
        bfd: Option<&bfd::Handle>,
        now: Instant,
    ) {
        let node = self.node.clone();
        let decide = |live: &BTreeSet<String>| {
            layer2_plan(
                config,
                &node,
                &snapshot.resources.nodes,
                &snapshot.lb_services,
                &snapshot.endpoints,
                live,
                options,
            )
        };
        let live = self.liveness.live(now);
        let mut plan = decide(&live);
        let mut seen_again = BTreeSet::new();
        if let Some(bfd) = bfd {
            self.reconcile_sessions(&plan.candidates, snapshot, bfd, now);
            seen_again = self.liveness.observe(self.observations(bfd), now);
            let live_now = self.liveness.live(now);
            if live_now != live {
                plan = decide(&live_now);
            }
        } else {
            self.liveness.observe(BTreeMap::new(), now);
        }
        if !self.liveness.ready(now) {
            // Listening still: answer for nothing.
            plan.announce.clear();
        }
        self.plan = plan;
        self.apply(now);
        // Speakers back after their sessions were down may have announced this node's
        // addresses meanwhile, and clients followed them: announce them again.
        if !seen_again.is_empty()
            && !self.plan.announce.is_empty()
            && let Some(driver) = &self.driver
        {
            info!(
                peers = ?seen_again,
                addresses = self.placement.names.len(),
                "layer 2: speakers seen again after their sessions were down; announcing this node's addresses again"
            );
            let _ = driver.commands.send(l2::Command::Announce);
        }
    }

    /// Starts or stops the BFD sessions with the other candidate speakers; takes them out of
    /// AdminDown once the grace is over.
    fn reconcile_sessions(
        &mut self,
        candidates: &BTreeSet<String>,
        snapshot: &Snapshot,
        bfd: &bfd::Handle,
        now: Instant,
    ) {
        let wanted: BTreeMap<String, IpAddr> = snapshot
            .resources
            .nodes
            .iter()
            .filter_map(|node| {
                let name = node.metadata.name.as_deref()?;
                candidates
                    .contains(name)
                    .then(|| Some((name.to_string(), node_address(node)?)))
                    .flatten()
            })
            .collect();
        for (node, address) in &self.peers {
            if wanted.get(node) != Some(address) {
                let _ = bfd.commands.send(bfd::Command::Remove(*address));
            }
        }
        let ready = self.liveness.ready(now);
        for (node, address) in &wanted {
            if self.peers.get(node) == Some(address) {
                continue;
            }
            info!(peer = %node, %address, "layer 2: watching the speaker of this node (BFD)");
            let _ = bfd.commands.send(bfd::Command::Add(bfd::PeerConfig {
                peer: *address,
                local: None,
                scope_id: 0,
                parameters: ironlb_bfd::Parameters {
                    desired_min_tx: LIVENESS_INTERVAL,
                    required_min_rx: LIVENESS_INTERVAL,
                    detect_multiplier: LIVENESS_MULTIPLIER,
                    passive: false,
                    echo_transmit: None,
                    echo_receive: Duration::ZERO,
                },
                multihop: true,
                minimum_ttl: LIVENESS_MINIMUM_TTL,
            }));
            if !ready {
                let _ = bfd
                    .commands
                    .send(bfd::Command::Admin(*address, Admin::Down));
            }
        }
        if ready && !self.enabled {
            info!(
                peers = wanted.len(),
                "layer 2: ready, taking part in elections"
            );
            for address in wanted.values() {
                let _ = bfd.commands.send(bfd::Command::Admin(*address, Admin::Up));
            }
            self.enabled = true;
        }
        self.peers = wanted;
    }

    /// What the BFD sessions with the peers say now.
    fn observations(&self, bfd: &bfd::Handle) -> BTreeMap<String, Observation> {
        let table = bfd.status.lock().unwrap_or_else(|e| e.into_inner());
        self.peers
            .iter()
            .map(|(node, address)| {
                let status = table.get(address);
                let observation = Observation {
                    up_since: status
                        .filter(|s| s.state == ironlb_bfd::State::Up)
                        .map(|s| s.since),
                    heard: status.and_then(|s| s.heard).map(|(at, state)| {
                        let heard = if state == ironlb_bfd::State::AdminDown {
                            Heard::AdminDown
                        } else {
                            Heard::Alive
                        };
                        (at, heard)
                    }),
                };
                (node.clone(), observation)
            })
            .collect()
    }

    /// Places the owned addresses on the interfaces and hands them to the driver.
    fn apply(&mut self, now: Instant) {
        // Nothing to place needs no interfaces (a node without layer 2 work never asks the
        // kernel for them).
        if !self.plan.announce.is_empty()
            && self
                .scanned
                .is_none_or(|at| now.duration_since(at) >= INTERFACE_SCAN)
        {
            self.scan_interfaces();
            self.scanned = Some(now);
        }
        let placement = place(&self.plan.announce, &self.interfaces);
        for (address, names) in &placement.missing {
            if self.placement.missing.get(address) != Some(names) {
                warn!(%address, interfaces = ?names, "layer 2: the interfaces the L2Advertisement names do not exist on this node");
            }
        }
        if placement.interfaces == self.placement.interfaces && self.driver.is_some() {
            self.placement = placement;
            return;
        }
        if placement.interfaces.is_empty() && self.driver.is_none() {
            self.placement = placement;
            return;
        }
        let driver = self.driver.get_or_insert_with(l2::spawn);
        let interfaces = placement
            .interfaces
            .iter()
            .map(|(index, (mac, addresses))| {
                (
                    ironlb_neighbor::InterfaceId(*index),
                    ironlb_neighbor::Interface {
                        mac: ironlb_neighbor::Mac(*mac),
                        addresses: addresses.clone(),
                    },
                )
            })
            .collect();
        let _ = driver.commands.send(l2::Command::Set(interfaces));
        info!(
            addresses = placement.names.len(),
            interfaces = placement.interfaces.len(),
            "layer 2: answering for the addresses this node owns"
        );
        self.placement = placement;
    }

    fn scan_interfaces(&mut self) {
        match ironlb_net::interfaces::list() {
            Ok(list) => {
                self.interfaces = list
                    .into_iter()
                    .map(|i| NodeInterface {
                        ipv6_link_local: i.addresses.iter().any(|a| match a.addr() {
                            IpAddr::V6(v6) => v6.is_unicast_link_local(),
                            IpAddr::V4(_) => false,
                        }),
                        name: i.name,
                        index: i.index,
                        mac: i.mac,
                        up: i.up,
                    })
                    .collect();
            }
            Err(error) => warn!(%error, "layer 2: cannot list the node's interfaces"),
        }
    }

    /// When layer 2 needs to decide again without news (the grace ends, a peer heard last
    /// stops counting, interfaces are due a scan).
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        let scan = (!self.plan.services.is_empty())
            .then(|| self.scanned.map(|at| at + INTERFACE_SCAN))
            .flatten();
        [self.liveness.next_change(now), scan]
            .into_iter()
            .flatten()
            .min()
    }

    /// What the status says of layer 2 mode.
    pub fn status(
        &self,
        bfd: Option<&bfd::Handle>,
        now: Instant,
    ) -> (
        Vec<Layer2Announcement>,
        Vec<Layer2Counters>,
        Vec<SpeakerPeer>,
    ) {
        let announcements = self
            .plan
            .services
            .iter()
            .map(|(key, outcome)| match outcome {
                Layer2Outcome::Owned {
                    owner, addresses, ..
                } => {
                    let mine = owner == &self.node;
                    let interfaces: BTreeSet<String> = addresses
                        .iter()
                        .filter(|_| mine)
                        .filter_map(|a| self.placement.names.get(a))
                        .flatten()
                        .cloned()
                        .collect();
                    let missing = mine
                        && addresses
                            .iter()
                            .any(|a| self.placement.missing.contains_key(a));
                    Layer2Announcement {
                        namespace: key.namespace.clone(),
                        name: key.name.clone(),
                        owner: Some(owner.clone()),
                        addresses: addresses.iter().map(ToString::to_string).collect(),
                        interfaces: interfaces.into_iter().collect(),
                        reason: missing.then(|| "announceFailed".to_string()),
                    }
                }
                Layer2Outcome::NotAnnounced(reason) => Layer2Announcement {
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    owner: None,
                    addresses: Vec::new(),
                    interfaces: Vec::new(),
                    reason: Some(reason.to_string()),
                },
            })
            .collect();
        let counters = self
            .driver
            .as_ref()
            .map(|driver| {
                let counters = driver.counters.lock().unwrap_or_else(|e| e.into_inner());
                counters
                    .addresses()
                    .map(|(address, c)| Layer2Counters {
                        address: address.to_string(),
                        requests_received: c.requests_received,
                        responses_sent: c.responses_sent,
                        gratuitous_sent: c.gratuitous_sent,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let live = self.liveness.live(now);
        let table = bfd.map(|bfd| bfd.status.lock().unwrap_or_else(|e| e.into_inner()).clone());
        let speakers = self
            .peers
            .iter()
            .map(|(node, address)| SpeakerPeer {
                node: node.clone(),
                address: address.to_string(),
                state: table
                    .as_ref()
                    .and_then(|t| t.get(address))
                    .map(|s| crate::speaker::bfd_state(s.state))
                    .unwrap_or(BfdState::Down),
                alive: live.contains(node),
            })
            .collect();
        (announcements, counters, speakers)
    }

    /// A stopping speaker hands its addresses over: it stops answering at once and tells the
    /// other speakers AdminDown, so they take over in a round trip instead of a detection time.
    pub async fn hand_over(&mut self, bfd: Option<&bfd::Handle>) {
        if let Some(driver) = &self.driver {
            l2::shutdown(&driver.commands).await;
        }
        if let Some(bfd) = bfd {
            for address in self.peers.values() {
                let _ = bfd
                    .commands
                    .send(bfd::Command::Admin(*address, Admin::Down));
            }
            if !self.peers.is_empty() {
                info!(
                    peers = self.peers.len(),
                    "layer 2: handing the addresses over (BFD AdminDown to the other speakers)"
                );
                // Let the AdminDown packets leave before the process does.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
