//! The speaker at run time: applies each cluster snapshot's plan to the BGP and BFD engines,
//! and reports what was actually sent.
//!
//! IO only. Every decision is made elsewhere, in pure code: which sessions with which settings
//! and which routes to which peer in `ironlb_speaker` (`plan`, `session`), what a Service's
//! status says in `ironlb_speaker::plan::announcements`, what BFD does to BGP in
//! `ironlb_net::bfd::couple`. This module starts, restarts and stops sessions, hands them their
//! routes, and writes the status.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use ironlb_bgp::packet::CeaseSubcode;
use ironlb_bgp::session::RouteAttributes;
use ironlb_cluster::Snapshot;
use ironlb_cluster::status::{
    self, BfdSessionStatus, BfdState, BgpState, PeerSessionStatus, SpeakerStatus,
};
use ironlb_config::{Config, PeerAsn, Resources, ValidateOptions};
use ironlb_net::bfd;
use ironlb_net::bgp::{self, Command, Farewell};
use ironlb_speaker::session::{BfdSettings, SessionSettings};
use ironlb_speaker::{Plan, PlanOptions, plan};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::engines;
use crate::layer2::Layer2;

/// How the speaker runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// This node's name (the Node object).
    pub node: String,
    pub plan: PlanOptions,
    pub validate: ValidateOptions,
    /// Where to write `.ironlb/speaker-<node>.yaml` (the cluster directory).
    pub status_root: Option<PathBuf>,
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
        status::configuration_problems(&self.problems, &self.status.configuration_errors)
    }
}

/// A session's task and what it was started with.
/// How long a session replacing one the speaker has just ended waits before dialling: FRR's
/// start timer (`BGP_INIT_START_TIMER`), so the router has deleted the old neighbour first (see
/// `bgp::PeerConfig::start_delay`).
const RESTART_DELAY: Duration = Duration::from_secs(1);

struct Running {
    settings: SessionSettings,
    /// The remote AS as configured, for the status.
    peer_asn: PeerAsn,
    handle: bgp::Handle,
    /// The address the session's BFD runs with: the peer's, or for an unnumbered peer the
    /// router's link-local once learnt.
    bfd_peer: Option<IpAddr>,
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
        layer2: Layer2::new(&options.node, std::time::Instant::now()),
        snapshot: None,
        options,
        config: None,
        validated: None,
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
            Some(_event) = speaker.events.1.recv() => {
                speaker.sync_unnumbered_bfd();
                status_due = status_due.or_else(soon);
            }
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
                speaker.publish();
                status_due = None;
            }
            () = async {
                match speaker.layer2.next_wakeup(std::time::Instant::now()) {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => {
                speaker.update_layer2();
                status_due = status_due.or_else(soon);
            }
            _ = refresh.tick() => {
                speaker.sync_unnumbered_bfd();
                status_due = status_due.or_else(soon);
            }
            () = &mut shutdown => break,
        }
    }
    speaker.stop_all().await;
}

struct Speaker {
    options: Options,
    layer2: Layer2,
    /// The snapshot last applied (layer 2 decides again when a speaker's liveness changes).
    snapshot: Option<Arc<Snapshot>>,
    config: Option<Config>,
    /// The resources last validated: an unchanged configuration (most snapshots only change
    /// Services or endpoints) is not validated again.
    validated: Option<Resources>,
    configuration_errors: Vec<String>,
    /// The last snapshot's unreadable objects.
    problems: Vec<String>,
    sessions: BTreeMap<String, Running>,
    bfd: Option<bfd::Handle>,
    plan: Plan,
    /// Where the status goes for metrics (and the API).
    published: Option<watch::Sender<Published>>,
    /// Snapshots applied (metallb_k8s_client_updates_total).
    updates: u64,
    events: (
        mpsc::UnboundedSender<bgp::Event>,
        mpsc::UnboundedReceiver<bgp::Event>,
    ),
}

impl Speaker {
    /// A new snapshot: validate, plan, then bring the sessions and their routes in line.
    fn apply(&mut self, snapshot: &Arc<Snapshot>) {
        self.updates += 1;
        self.snapshot = Some(snapshot.clone());
        self.validate(snapshot);
        let Some(config) = &self.config else {
            return;
        };
        let started = std::time::Instant::now();
        // The old plan goes first: two plans of 10,000 Services side by side are megabytes of
        // peak memory, and nothing below reads the old one.
        self.plan = Plan::default();
        self.plan = plan(
            config,
            &self.options.node,
            &snapshot.resources.nodes,
            &snapshot.lb_services,
            &snapshot.endpoints,
            &self.options.plan,
        );
        if let Some(why) = &snapshot.stale {
            error!(node = %self.options.node, %why, "cluster view stale: every route withdrawn, BGP sessions kept");
            ironlb_speaker::plan::withhold(&mut self.plan);
        }
        let decided = started.elapsed();
        self.reconcile_sessions();
        self.send_routes();
        self.update_layer2();
        info!(
            node = %self.options.node,
            sessions = self.sessions.len(),
            services = self.plan.services.len(),
            routes = self.plan.routes.values().map(BTreeMap::len).sum::<usize>(),
            decide_us = decided.as_micros() as u64,
            "cluster state applied"
        );
    }

    /// Layer 2 mode decides again (a new snapshot, a speaker's liveness, a timer).
    fn update_layer2(&mut self) {
        if self
            .config
            .as_ref()
            .is_some_and(|c| !c.l2_advertisements.is_empty())
        {
            self.ensure_bfd();
        }
        let (Some(config), Some(snapshot)) = (&self.config, &self.snapshot) else {
            return;
        };
        self.layer2.update(
            config,
            snapshot,
            &self.options.plan,
            self.bfd.as_ref(),
            std::time::Instant::now(),
        );
    }

    /// Keeps the snapshot's problems and, when the configuration as it concerns this node
    /// validates (`ironlb_speaker::scope`: the BGPPeers and BGPAdvertisements of other nodes
    /// are not this node's to judge), that configuration (else the last valid one stays in
    /// force).
    fn validate(&mut self, snapshot: &Snapshot) {
        for problem in &snapshot.problems {
            warn!(%problem, "cluster file not usable; its last good content stays in force");
        }
        self.problems = snapshot.problems.iter().map(ToString::to_string).collect();
        let resources = ironlb_speaker::scope::for_node(&snapshot.resources, &self.options.node);
        if self.validated.as_ref() == Some(&*resources) {
            return;
        }
        let verdict = ironlb_config::validate(&resources, &self.options.validate);
        self.validated = Some(resources.into_owned());
        match verdict {
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
    }

    /// Stops sessions no longer planned or planned differently, starts the new ones.
    fn reconcile_sessions(&mut self) {
        // A change of the BFD profile alone leaves the BGP session up, as FRR applies `neighbor
        // ... bfd profile` without a reset: only the BFD session takes the new parameters.
        let bfd_only: Vec<(String, Option<BfdSettings>)> = self
            .sessions
            .iter()
            .filter_map(|(name, running)| {
                let new = self.plan.sessions.get(name)?.settings.as_ref().ok()?;
                let without_bfd = |s: &SessionSettings| SessionSettings {
                    bfd: None,
                    ..s.clone()
                };
                (*new != running.settings && without_bfd(new) == without_bfd(&running.settings))
                    .then(|| (name.clone(), new.bfd))
            })
            .collect();
        for (name, bfd) in bfd_only {
            info!(peer = %name, bfd = bfd.is_some(), "BFD profile of the peer changed: BFD updated, the BGP session stays up");
            self.change_bfd(&name, bfd);
        }
        let mut wanted: BTreeMap<&str, &ironlb_speaker::PlannedSession> = BTreeMap::new();
        for (name, planned) in &self.plan.sessions {
            match &planned.settings {
                Ok(_) => {
                    wanted.insert(name, planned);
                }
                Err(why) => {
                    error!(peer = %name, node = %self.options.node, error = %why, "no BGP session with this peer")
                }
            }
        }
        let changed: Vec<String> = self
            .sessions
            .iter()
            .filter(|(name, running)| {
                wanted
                    .get(name.as_str())
                    .and_then(|planned| planned.settings.as_ref().ok())
                    != Some(&running.settings)
            })
            .map(|(name, _)| name.clone())
            .collect();
        let mut replaced = BTreeSet::new();
        for name in changed {
            let Some(running) = self.sessions.remove(&name) else {
                continue;
            };
            replaced.insert(name.clone());
            let subcode = if wanted.contains_key(name.as_str()) {
                info!(peer = %name, "BGP peer changed: restarting its session");
                CeaseSubcode::OtherConfigurationChange
            } else {
                info!(peer = %name, "BGP peer removed: stopping its session");
                CeaseSubcode::PeerDeconfigured
            };
            if let Some(peer) = running.bfd_peer {
                self.remove_bfd(peer);
            }
            let _ = running
                .handle
                .commands
                .send(Command::Shutdown(Farewell::Cease(subcode)));
        }
        let new: Vec<(SessionSettings, PeerAsn)> = wanted
            .iter()
            .filter(|(name, _)| !self.sessions.contains_key(**name))
            .filter_map(|(_, planned)| {
                let settings = planned.settings.as_ref().ok()?;
                Some((settings.clone(), planned.peer.peer_asn))
            })
            .collect();
        for (settings, peer_asn) in new {
            // A session replacing the one just ended waits as FRR's start timer does.
            let delay = if replaced.contains(&settings.name) {
                RESTART_DELAY
            } else {
                Duration::ZERO
            };
            self.start(settings, peer_asn, delay);
        }
    }

    /// Gives a running session new BFD settings (or none) without touching its BGP session.
    fn change_bfd(&mut self, name: &str, bfd: Option<BfdSettings>) {
        let Some(running) = self.sessions.get_mut(name) else {
            return;
        };
        running.settings.bfd = bfd;
        let old = running.bfd_peer;
        let unnumbered = running.settings.interface.is_some();
        match (bfd, unnumbered) {
            // The driver updates a session of the same peer in place (a Poll sequence).
            (Some(bfd), false) => {
                running.bfd_peer = Some(bfd.peer);
                self.add_bfd(engines::bfd_peer(&bfd));
            }
            // Started again towards the router by sync_unnumbered_bfd, with the new profile.
            (_, true) | (None, false) => {
                running.bfd_peer = None;
                if let Some(old) = old {
                    self.remove_bfd(old);
                }
                self.sync_unnumbered_bfd();
            }
        }
    }

    fn start(&mut self, settings: SessionSettings, peer_asn: PeerAsn, delay: Duration) {
        info!(
            peer = %settings.name,
            address = %settings.address.ip(),
            interface = settings.interface.as_deref().unwrap_or(""),
            local_asn = settings.session.fsm.local_as,
            bfd = settings.bfd.is_some(),
            "starting BGP session"
        );
        // An unnumbered peer's BFD waits for the router's address (sync_unnumbered_bfd).
        let bfd_peer = match &settings.bfd {
            Some(bfd) if settings.interface.is_none() => {
                self.add_bfd(engines::bfd_peer(bfd));
                Some(bfd.peer)
            }
            _ => None,
        };
        let mut config = engines::bgp_peer(&settings);
        config.start_delay = delay;
        let handle = bgp::spawn(config, self.events.0.clone());
        self.sessions.insert(
            settings.name.clone(),
            Running {
                settings,
                peer_asn,
                handle,
                bfd_peer,
            },
        );
    }

    /// Starts (or moves) the BFD session of each unnumbered peer with a BFD profile towards
    /// the router its BGP session found on the interface: its link-local address, scoped to
    /// the interface.
    fn sync_unnumbered_bfd(&mut self) {
        let mut changes = Vec::new();
        for (name, running) in &self.sessions {
            let (Some(bfd), Some(_)) = (&running.settings.bfd, &running.settings.interface) else {
                continue;
            };
            let std::net::SocketAddr::V6(router) = running.handle.status.borrow().address else {
                continue;
            };
            if router.ip().is_unspecified() || running.bfd_peer == Some(IpAddr::V6(*router.ip())) {
                continue;
            }
            let mut config = engines::bfd_peer(bfd);
            config.peer = IpAddr::V6(*router.ip());
            config.scope_id = router.scope_id();
            changes.push((name.clone(), running.bfd_peer, config));
        }
        for (name, old, config) in changes {
            if let Some(old) = old {
                self.remove_bfd(old);
            }
            info!(peer = %name, router = %config.peer, "BFD towards the router found on the interface");
            let peer = config.peer;
            self.add_bfd(config);
            if let Some(running) = self.sessions.get_mut(&name) {
                running.bfd_peer = Some(peer);
            }
        }
    }

    /// Hands every session the routes the plan has for its peer.
    /// Routes with the same attributes share one wire copy of them, as they share one in the
    /// plan.
    fn send_routes(&self) {
        let mut wire: BTreeMap<*const ironlb_speaker::RouteAttributes, Arc<RouteAttributes>> =
            BTreeMap::new();
        for (name, running) in &self.sessions {
            let routes = self
                .plan
                .routes
                .get(name)
                .map(|routes| {
                    routes
                        .iter()
                        .map(|(prefix, attributes)| {
                            let shared = wire
                                .entry(Arc::as_ptr(attributes))
                                .or_insert_with(|| Arc::new(attributes.to_wire()));
                            (*prefix, Arc::clone(shared))
                        })
                        .collect::<BTreeMap<IpNet, Arc<RouteAttributes>>>()
                })
                .unwrap_or_default();
            let _ = running.handle.commands.send(Command::SetRoutes(routes));
        }
    }

    fn add_bfd(&mut self, peer: bfd::PeerConfig) {
        if let Some(handle) = self.ensure_bfd() {
            let _ = handle.commands.send(bfd::Command::Add(peer));
        }
    }

    /// The BFD driver, started on first need.
    fn ensure_bfd(&mut self) -> Option<&bfd::Handle> {
        if self.bfd.is_none() {
            match bfd::spawn() {
                Ok(handle) => self.bfd = Some(handle),
                Err(error) => {
                    error!(%error, "cannot start BFD; BGP sessions run without it, layer 2 counts no other speaker alive");
                    return None;
                }
            }
        }
        self.bfd.as_ref()
    }

    fn remove_bfd(&self, address: IpAddr) {
        if let Some(handle) = &self.bfd {
            let _ = handle.commands.send(bfd::Command::Remove(address));
        }
    }

    fn bfd_notice(&mut self, notice: &bfd::Notice) {
        if self.layer2.is_peer(notice.peer) {
            self.update_layer2();
            return;
        }
        if let Some((name, running)) = self
            .sessions
            .iter()
            .find(|(_, running)| running.bfd_peer == Some(notice.peer))
        {
            bfd::couple(notice, name, &running.handle.commands);
        }
    }

    /// The speaker's status now: sessions as their tasks report them, BFD sessions, and what
    /// each Service's prefixes were actually sent to.
    fn status(&self) -> SpeakerStatus {
        let mut peers = Vec::new();
        let mut advertised: BTreeMap<&str, BTreeSet<IpNet>> = BTreeMap::new();
        for (name, running) in &self.sessions {
            let session = running.handle.status.borrow();
            advertised.insert(name, session.advertised.iter().copied().collect());
            peers.push(peer_status(name, running, &session));
        }
        let (layer2, layer2_counters, speakers) = self
            .layer2
            .status(self.bfd.as_ref(), std::time::Instant::now());
        SpeakerStatus {
            node: self.options.node.clone(),
            updated: ironlb_cluster::time::now(),
            peers,
            bfd: self.bfd_status(),
            services: ironlb_speaker::plan::announcements(&self.plan, &advertised),
            layer2,
            layer2_counters,
            speakers,
            configuration_errors: self.configuration_errors.clone(),
        }
    }

    fn bfd_status(&self) -> Vec<BfdSessionStatus> {
        let Some(handle) = &self.bfd else {
            return Vec::new();
        };
        let Ok(table) = handle.status.lock() else {
            return Vec::new();
        };
        table
            .values()
            .filter(|s| !self.layer2.is_peer(s.peer))
            .map(|s| BfdSessionStatus {
                peer: s.peer.to_string(),
                local: s.local.map(|l| l.ip().to_string()).unwrap_or_default(),
                state: bfd_state(s.state),
                local_discriminator: s.local_discriminator,
                remote_discriminator: s.remote_discriminator,
                transmit_interval_ms: s.transmit_interval.as_millis() as u64,
                detection_time_ms: s.detection_time.as_millis() as u64,
                diagnostic: s.diagnostic.to_string(),
                packets_received: s.packets_received,
                packets_sent: s.packets_sent,
                echo: s.echo_active,
                echo_packets_received: s.echo_received,
                echo_packets_sent: s.echo_sent,
            })
            .collect()
    }

    /// Writes the status file (directory mode) and publishes it (metrics, the API).
    fn publish(&self) {
        let status = self.status();
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
        // Layer 2 first: the other speakers take the addresses over while BGP says goodbye.
        self.layer2.hand_over(self.bfd.as_ref()).await;
        let sessions = std::mem::take(&mut self.sessions);
        let mut tasks = Vec::new();
        for (name, running) in sessions {
            let farewell = if running.settings.session.graceful_restart.is_some() {
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

/// A session's line in the status.
fn peer_status(name: &str, running: &Running, session: &bgp::PeerStatus) -> PeerSessionStatus {
    PeerSessionStatus {
        name: name.to_string(),
        // Unnumbered: the router's link-local address learnt on the interface, scoped by its
        // name (`fe80::1%eth0`), or the interface alone until a router advertised.
        address: match &running.settings.interface {
            None => running.settings.address.ip().to_string(),
            Some(interface) if session.address.ip().is_unspecified() => interface.clone(),
            Some(interface) => format!("{}%{interface}", session.address.ip()),
        },
        port: running.settings.address.port(),
        local_asn: session.local_as,
        peer_asn: match running.peer_asn {
            PeerAsn::Fixed(asn) => asn.to_string(),
            PeerAsn::Internal => "internal".into(),
            PeerAsn::External => "external".into(),
        },
        state: bgp_state(session.state),
        since: session
            .established_since
            .map(ironlb_cluster::time::rfc3339)
            .unwrap_or_default(),
        prefixes_sent: session.advertised.len() as u64,
        prefixes_received: session.prefixes_received as u64,
        prefixes_wanted: session.prefixes_wanted as u64,
        updates_sent: session.updates_sent,
        last_error: session.last_error.clone(),
    }
}

/// The engine's BGP state as the status reports it.
fn bgp_state(state: ironlb_bgp::fsm::State) -> BgpState {
    use ironlb_bgp::fsm::State;
    match state {
        State::Idle => BgpState::Idle,
        State::Connect => BgpState::Connect,
        State::Active => BgpState::Active,
        State::OpenSent => BgpState::OpenSent,
        State::OpenConfirm => BgpState::OpenConfirm,
        State::Established => BgpState::Established,
    }
}

/// The engine's BFD state as the status reports it.
pub(crate) fn bfd_state(state: ironlb_bfd::State) -> BfdState {
    use ironlb_bfd::State;
    match state {
        State::AdminDown => BfdState::AdminDown,
        State::Down => BfdState::Down,
        State::Init => BfdState::Init,
        State::Up => BfdState::Up,
    }
}
