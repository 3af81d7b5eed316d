//! The speaker at run time: applies each cluster snapshot's [`plan`](crate::plan) to the BGP
//! and BFD engines, and reports what was actually sent.
//!
//! Thin on purpose: every decision is in [`crate::plan`] (what to announce where) and in
//! `ironlb_net::bfd::bgp_action` (what BFD does to BGP); this module starts, reconfigures
//! and stops sessions and writes the status.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use ironlb_api::k8s_openapi::api::core::v1::Node;
use ironlb_bgp::fsm::{Config as FsmConfig, RemoteAs};
use ironlb_bgp::packet::{CeaseSubcode, Community as WireCommunity, LargeCommunity};
use ironlb_bgp::session::{GracefulRestartConfig, RouteAttributes, SessionConfig};
use ironlb_cluster::Snapshot;
use ironlb_cluster::status::{
    self, BfdSessionStatus, PeerSessionStatus, ServiceAnnouncement, SpeakerStatus,
};
use ironlb_config::{BfdProfile, Community, Config, Peer, PeerAddress, PeerAsn, ValidateOptions};
use ironlb_net::bfd;
use ironlb_net::bgp::{self, Command, Farewell};
use ironlb_net::tcp::TcpOptions;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::plan::{Plan, PlanOptions, ServiceOutcome, plan};

/// How the speaker runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// This node's name (the Node object).
    pub node: String,
    pub plan: PlanOptions,
    pub validate: ValidateOptions,
    /// BGP identifier when a BGPPeer gives none; else the Node's first IPv4 InternalIP.
    pub router_id: Option<Ipv4Addr>,
    /// Where to write `.ironlb/speaker-<node>.yaml` (the cluster directory).
    pub status_root: Option<PathBuf>,
    /// How long after the first route change UPDATEs go out.
    pub batch_delay: Duration,
}

/// What the speaker publishes after every change (for metrics and status).
#[derive(Clone, Debug, Default)]
pub struct Published {
    pub status: SpeakerStatus,
    /// A valid configuration is in force.
    pub config_loaded: bool,
    /// Cluster snapshots applied.
    pub updates: u64,
    /// Objects that could not be read (ignored until fixed).
    pub problems: Vec<String>,
}

impl Published {
    /// Everything wrong with the configuration as the cluster holds it: unreadable objects
    /// and validation errors (the last valid configuration stays in force meanwhile).
    pub fn errors(&self) -> Vec<String> {
        ironlb_cluster::status::configuration_problems(
            &self.problems,
            &self.status.configuration_errors,
        )
    }
}

/// Everything that, when changed, needs a new session.
#[derive(Clone, Debug, PartialEq)]
struct SessionKey {
    peer: Peer,
    bfd: Option<BfdProfile>,
    router_id: Ipv4Addr,
}

struct Running {
    key: SessionKey,
    address: IpAddr,
    handle: bgp::Handle,
}

/// Runs until `shutdown` resolves, then leaves every peer: where graceful restart was
/// negotiated, the BGP connection closes without a NOTIFICATION so the router keeps our routes
/// until the next process sends its End-of-RIB (a Cease otherwise); then BFD AdminDown.
pub async fn run(
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    options: Options,
    published: Option<watch::Sender<Published>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut speaker = Speaker {
        options,
        config: None,
        configuration_errors: Vec::new(),
        problems: Vec::new(),
        sessions: BTreeMap::new(),
        bfd: None,
        plan: Plan::default(),
        published,
        updates: 0,
        events: mpsc::unbounded_channel(),
    };
    tokio::pin!(shutdown);
    let snapshot = snapshots.borrow_and_update().clone();
    speaker.apply(&snapshot);
    // Status goes out 50 ms after a change (events come in bursts), and every second anyway
    // (session uptimes, BFD counters).
    let mut status_due = Some(tokio::time::Instant::now());
    let mut refresh = tokio::time::interval(Duration::from_secs(1));
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let soon = || Some(tokio::time::Instant::now() + Duration::from_millis(50));
    loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = snapshots.borrow_and_update().clone();
                speaker.apply(&snapshot);
                status_due = status_due.or_else(soon);
            }
            Some(_event) = speaker.events.1.recv() => status_due = status_due.or_else(soon),
            notice = async {
                match speaker.bfd.as_mut() {
                    Some(handle) => handle.notices.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(notice) = notice {
                    speaker.bfd_notice(&notice);
                    status_due = status_due.or_else(soon);
                }
            }
            () = async {
                match status_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                speaker.write_status();
                status_due = None;
            }
            _ = refresh.tick() => status_due = status_due.or_else(soon),
            () = &mut shutdown => break,
        }
    }
    speaker.stop_all().await;
}

struct Speaker {
    options: Options,
    config: Option<Config>,
    configuration_errors: Vec<String>,
    /// The last snapshot's unreadable objects.
    problems: Vec<String>,
    sessions: BTreeMap<String, Running>,
    bfd: Option<bfd::Handle>,
    plan: Plan,
    /// Where the status goes for metrics (and later the API).
    published: Option<watch::Sender<Published>>,
    /// Snapshots applied (metallb_k8s_client_updates_total).
    updates: u64,
    events: (
        mpsc::UnboundedSender<bgp::Event>,
        mpsc::UnboundedReceiver<bgp::Event>,
    ),
}

impl Speaker {
    fn apply(&mut self, snapshot: &Snapshot) {
        self.updates += 1;
        for problem in &snapshot.problems {
            warn!(%problem, "cluster file not usable; its last good content stays in force");
        }
        self.problems = snapshot.problems.iter().map(ToString::to_string).collect();
        match ironlb_config::validate(&snapshot.resources, &self.options.validate) {
            Ok(config) => {
                self.config = Some(config);
                self.configuration_errors.clear();
            }
            Err(errors) => {
                self.configuration_errors = errors.iter().map(ToString::to_string).collect();
                for message in &self.configuration_errors {
                    error!(error = %message, "invalid configuration; the last valid one stays in force");
                }
            }
        }
        let Some(config) = self.config.clone() else {
            return;
        };
        let nodes: Vec<Node> = snapshot.resources.nodes.clone();
        let started = std::time::Instant::now();
        self.plan = plan(
            &config,
            &self.options.node,
            &nodes,
            &snapshot.services,
            &snapshot.endpoints,
            &self.options.plan,
        );
        if let Some(why) = &snapshot.stale {
            error!(node = %self.options.node, %why, "cluster view stale: every route withdrawn, BGP sessions kept");
            crate::plan::withhold(&mut self.plan);
        }
        let decided = started.elapsed();
        let router_id = self
            .options
            .router_id
            .or_else(|| node_ipv4(&nodes, &self.options.node));
        // Sessions no longer wanted, or wanted differently.
        let wanted: BTreeMap<String, SessionKey> = self
            .plan
            .sessions
            .values()
            .filter_map(|peer| {
                let router_id = match peer.router_id {
                    Some(IpAddr::V4(id)) => id,
                    _ => match router_id {
                        Some(id) => id,
                        None => {
                            error!(peer = %peer.name, node = %self.options.node, "no BGP router ID: give the BGPPeer a routerID, the Node an IPv4 InternalIP, or --router-id");
                            return None;
                        }
                    },
                };
                let bfd = peer
                    .bfd_profile
                    .as_ref()
                    .and_then(|name| config.bfd_profiles.get(name).cloned());
                Some((
                    peer.name.clone(),
                    SessionKey {
                        peer: peer.clone(),
                        bfd,
                        router_id,
                    },
                ))
            })
            .collect();
        let stale: Vec<String> = self
            .sessions
            .iter()
            .filter(|(name, running)| wanted.get(*name) != Some(&running.key))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            if let Some(running) = self.sessions.remove(&name) {
                let subcode = if wanted.contains_key(&name) {
                    info!(peer = %name, "BGP peer changed: restarting its session");
                    CeaseSubcode::OtherConfigurationChange
                } else {
                    info!(peer = %name, "BGP peer removed: stopping its session");
                    CeaseSubcode::PeerDeconfigured
                };
                self.remove_bfd(running.address);
                let _ = running
                    .handle
                    .commands
                    .send(Command::Shutdown(Farewell::Cease(subcode)));
            }
        }
        for (name, key) in wanted {
            if !self.sessions.contains_key(&name) {
                self.start(name, key);
            }
        }
        for (name, running) in &self.sessions {
            let routes = self
                .plan
                .routes
                .get(name)
                .map(|routes| {
                    routes
                        .iter()
                        .map(|(prefix, attributes)| {
                            (*prefix, Arc::new(wire_attributes(attributes)))
                        })
                        .collect::<BTreeMap<IpNet, Arc<RouteAttributes>>>()
                })
                .unwrap_or_default();
            let _ = running.handle.commands.send(Command::SetRoutes(routes));
        }
        info!(
            node = %self.options.node,
            sessions = self.sessions.len(),
            services = self.plan.services.len(),
            routes = self.plan.routes.values().map(BTreeMap::len).sum::<usize>(),
            decide_us = decided.as_micros() as u64,
            "cluster state applied"
        );
    }

    fn start(&mut self, name: String, key: SessionKey) {
        let peer = &key.peer;
        let address = match &peer.address {
            PeerAddress::Address(address) => *address,
            PeerAddress::Interface(interface) => {
                error!(peer = %name, %interface, "BGP unnumbered (interface) peers are not supported yet: give peerAddress");
                return;
            }
        };
        let local_as = peer.local_asn.unwrap_or(peer.my_asn).get();
        let remote_as = match peer.peer_asn {
            PeerAsn::Fixed(asn) => RemoteAs::Exactly(asn.get()),
            PeerAsn::Internal => RemoteAs::Internal,
            PeerAsn::External => RemoteAs::External,
        };
        let mut fsm = FsmConfig::new(local_as, remote_as, key.router_id);
        if let Some(timers) = &peer.timers {
            // Validated: non-negative, within bounds.
            fsm.hold_time = timers.hold.to_std().unwrap_or(fsm.hold_time);
            fsm.keepalive_time = timers.keepalive.to_std().unwrap_or(fsm.keepalive_time);
        }
        // connectTime: FRR's `timers connect`, the wait between connection attempts.
        if let Some(interval) = peer.connect_time.and_then(|t| t.to_std()) {
            fsm.connect_retry = interval;
        }
        fsm.seed = u64::from(u32::from(key.router_id)) ^ u64::from(std::process::id());
        let mut session = SessionConfig::new(fsm);
        session.batch_delay = self.options.batch_delay;
        if peer.graceful_restart {
            // FRR's default restart time, as MetalLB's FRR mode leaves it.
            session.graceful_restart = Some(GracefulRestartConfig { restart_time: 120 });
        }
        let external = match peer.peer_asn {
            PeerAsn::Fixed(asn) => asn.get() != local_as,
            PeerAsn::Internal => false,
            PeerAsn::External => true,
        };
        let tcp = TcpOptions {
            source: peer.source_address,
            md5_key: peer
                .password
                .as_ref()
                .map(|p| p.value().as_bytes().to_vec()),
            ttl: Some(if peer.ebgp_multi_hop || !external {
                255
            } else {
                1
            }),
            minimum_ttl: None,
        };
        let config = bgp::PeerConfig {
            name: name.clone(),
            address: SocketAddr::new(address, peer.port),
            tcp,
            session,
        };
        info!(peer = %name, address = %address, local_asn = local_as, bfd = key.bfd.is_some(), "starting BGP session");
        if let Some(profile) = &key.bfd {
            self.add_bfd(address, peer, profile);
        }
        let handle = bgp::spawn(config, self.events.0.clone());
        self.sessions.insert(
            name,
            Running {
                key,
                address,
                handle,
            },
        );
    }

    fn add_bfd(&mut self, address: IpAddr, peer: &Peer, profile: &BfdProfile) {
        if self.bfd.is_none() {
            match bfd::spawn() {
                Ok(handle) => self.bfd = Some(handle),
                Err(error) => {
                    error!(%error, "cannot start BFD; BGP sessions run without it");
                    return;
                }
            }
        }
        if let Some(handle) = &self.bfd {
            let parameters = ironlb_bfd::Parameters {
                desired_min_tx: Duration::from_millis(u64::from(profile.transmit_interval_ms)),
                required_min_rx: Duration::from_millis(u64::from(profile.receive_interval_ms)),
                detect_multiplier: profile.detect_multiplier,
                passive: profile.passive_mode,
            };
            let _ = handle.commands.send(bfd::Command::Add(bfd::PeerConfig {
                peer: address,
                local: peer.source_address,
                parameters,
                multihop: peer.ebgp_multi_hop,
                minimum_ttl: profile.minimum_ttl,
            }));
        }
    }

    fn remove_bfd(&mut self, address: IpAddr) {
        if let Some(handle) = &self.bfd {
            let _ = handle.commands.send(bfd::Command::Remove(address));
        }
    }

    fn bfd_notice(&mut self, notice: &bfd::Notice) {
        if let Some((name, running)) = self
            .sessions
            .iter()
            .find(|(_, running)| running.address == notice.peer)
        {
            bfd::couple(notice, name, &running.handle.commands);
        }
    }

    fn write_status(&self) {
        let mut peers = Vec::new();
        let mut advertised: BTreeMap<&str, BTreeSet<IpNet>> = BTreeMap::new();
        for (name, running) in &self.sessions {
            let status = running.handle.status.borrow().clone();
            advertised.insert(name, status.advertised.iter().copied().collect());
            peers.push(PeerSessionStatus {
                name: name.clone(),
                address: running.address.to_string(),
                local_asn: status.local_as,
                peer_asn: match running.key.peer.peer_asn {
                    PeerAsn::Fixed(asn) => asn.to_string(),
                    PeerAsn::Internal => "internal".into(),
                    PeerAsn::External => "external".into(),
                },
                state: status.state.to_string(),
                since: status
                    .established_since
                    .map(ironlb_cluster::time::rfc3339)
                    .unwrap_or_default(),
                prefixes_sent: status.advertised.len() as u64,
                prefixes_received: status.prefixes_received as u64,
                prefixes_wanted: status.prefixes_wanted as u64,
                updates_sent: status.updates_sent,
                last_error: status.last_error.clone(),
            });
        }
        let bfd = self
            .bfd
            .as_ref()
            .map(|handle| {
                handle
                    .status
                    .lock()
                    .map(|table| {
                        table
                            .values()
                            .map(|s| BfdSessionStatus {
                                peer: s.peer.to_string(),
                                local: s.local.map(|l| l.ip().to_string()).unwrap_or_default(),
                                state: format!("{:?}", s.state).to_lowercase(),
                                local_discriminator: s.local_discriminator,
                                remote_discriminator: s.remote_discriminator,
                                transmit_interval_ms: s.transmit_interval.as_millis() as u64,
                                detection_time_ms: s.detection_time.as_millis() as u64,
                                diagnostic: s.diagnostic.to_string(),
                                packets_received: s.packets_received,
                                packets_sent: s.packets_sent,
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        let services = self
            .plan
            .services
            .iter()
            .map(|(key, outcome)| match outcome {
                ServiceOutcome::Announced { prefixes, .. } => ServiceAnnouncement {
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    prefixes: prefixes.iter().map(ToString::to_string).collect(),
                    // The peers that were actually sent every prefix (Adj-RIB-Out).
                    peers: advertised
                        .iter()
                        .filter(|(_, sent)| prefixes.iter().all(|p| sent.contains(p)))
                        .map(|(name, _)| (*name).to_string())
                        .collect(),
                    reason: None,
                },
                ServiceOutcome::NotAnnounced(reason) => ServiceAnnouncement {
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    prefixes: Vec::new(),
                    peers: Vec::new(),
                    reason: Some(reason.to_string()),
                },
            })
            .collect();
        let status = SpeakerStatus {
            node: self.options.node.clone(),
            updated: ironlb_cluster::time::now(),
            peers,
            bfd,
            services,
            configuration_errors: self.configuration_errors.clone(),
        };
        if let Some(root) = &self.options.status_root
            && let Err(error) =
                status::write(root, &status::speaker_file(&self.options.node), &status)
        {
            warn!(%error, "cannot write the speaker status");
        }
        if let Some(published) = &self.published {
            let _ = published.send(Published {
                status,
                config_loaded: self.config.is_some(),
                updates: self.updates,
                problems: self.problems.clone(),
            });
        }
    }

    async fn stop_all(&mut self) {
        let sessions = std::mem::take(&mut self.sessions);
        let mut tasks = Vec::new();
        for (name, running) in sessions {
            let farewell = if running.key.peer.graceful_restart {
                info!(peer = %name, "shutting down: closing without NOTIFICATION where graceful restart was negotiated, so the router keeps this node's routes until the next speaker's End-of-RIB");
                Farewell::GracefulRestart
            } else {
                info!(peer = %name, "shutting down: Cease (administrative shutdown)");
                Farewell::Cease(CeaseSubcode::AdministrativeShutdown)
            };
            let _ = running.handle.commands.send(Command::Shutdown(farewell));
            tasks.push(running.handle.task);
        }
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
        // BFD AdminDown last: only once the BGP connections are closed (see bfd::shutdown).
        if let Some(handle) = &self.bfd {
            bfd::shutdown(&handle.commands).await;
        }
    }
}

/// The Node's first IPv4 InternalIP (MetalLB's default router ID is the node's address).
fn node_ipv4(nodes: &[Node], name: &str) -> Option<Ipv4Addr> {
    let node = nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(name))?;
    let addresses = node.status.as_ref()?.addresses.as_ref()?;
    addresses
        .iter()
        .filter(|a| a.type_ == "InternalIP")
        .find_map(|a| a.address.parse::<Ipv4Addr>().ok())
}

fn wire_attributes(attributes: &crate::plan::RouteAttributes) -> RouteAttributes {
    let mut wire = RouteAttributes {
        local_preference: attributes.local_pref,
        ..RouteAttributes::default()
    };
    for community in &attributes.communities {
        match *community {
            Community::Standard(value) => wire.communities.push(WireCommunity(value)),
            Community::Large(a, b, c) => wire.large_communities.push(LargeCommunity::new(a, b, c)),
        }
    }
    wire
}
