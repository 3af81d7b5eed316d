//! The tokio driver of one BGP session: does the IO the sans-IO [`Session`] asks for and
//! nothing else. One task per peer.
//!
//! Outgoing connections only (IronLB dials its routers, as MetalLB's speakers do); the
//! session decides when to dial (an attempt lasts until the session asks for the next one) and
//! its timers run on tokio's clock. Commands come over a channel, events go out over
//! another (and to the log), and the latest [`PeerStatus`] is always readable from a watch.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, SocketAddrV6};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use ipnet::IpNet;
use ironlb_bgp::fsm::{DownReason, State};
use ironlb_bgp::packet::CeaseSubcode;
use ironlb_bgp::session::{RouteAttributes, Session, SessionConfig, SessionEvent, SessionOutput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::tcp::{self, TcpOptions};
use crate::unnumbered::{self, Link};

/// One peer: where it is, how to reach it, and the session's settings.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// For logs and status (the BGPPeer's name, or the address).
    pub name: String,
    /// The peer's address; for an unnumbered peer only the port counts.
    pub address: SocketAddr,
    /// BGP unnumbered (BGPPeer `interface`): the peer is the router whose Router
    /// Advertisements come in on this interface, dialled at its link-local address
    /// ([`crate::unnumbered`]).
    pub interface: Option<String>,
    pub tcp: TcpOptions,
    /// How long to wait before the first connection attempt: a session replacing one this
    /// speaker has just ended waits as FRR's start timer does (1 s), so the router has let the
    /// old session go first. A router with dynamic neighbours (`bgp listen range`) that gets
    /// the new connection while it is still deleting the old neighbour keeps the connection
    /// open without a neighbour behind it: no routes, no BFD, until our hold timer expires.
    pub start_delay: Duration,
    /// The wait between connection attempts (BGPPeer `connectTime`) is the session's
    /// `fsm.connect_retry`.
    pub session: SessionConfig,
}

/// Commands to a session's task.
#[derive(Clone, Debug)]
pub enum Command {
    /// Replaces the routes to announce.
    /// Attributes are shared: give many prefixes clones of one `Arc`.
    SetRoutes(BTreeMap<IpNet, std::sync::Arc<RouteAttributes>>),
    /// Brings the session down with a Cease of this subcode (BFD Down) and lets it connect
    /// again as after any loss.
    Reset(CeaseSubcode),
    /// The peer is reachable again (BFD Up): connect now instead of at the next retry.
    PeerReachable,
    /// Ends the task, leaving the peer as said.
    Shutdown(Farewell),
}

/// How a session leaves its peer when the task ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Farewell {
    /// Cease with this subcode: the peer withdraws our routes at once.
    Cease(CeaseSubcode),
    /// The process will be back (an upgrade, a restart): close without a NOTIFICATION when
    /// graceful restart was negotiated, so the peer keeps our routes until our End-of-RIB
    /// (RFC 4724); Cease/Administrative Shutdown otherwise.
    GracefulRestart,
}

/// Events, as the session reports them, for whoever drives the speaker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub peer: String,
    pub event: SessionEvent,
}

/// What `ironlb get peers` shows of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStatus {
    pub name: String,
    pub address: SocketAddr,
    pub local_as: u32,
    pub peer_as: Option<u32>,
    pub state: State,
    /// Wall-clock time the session reached Established.
    pub established_since: Option<SystemTime>,
    /// Prefixes the peer has actually been sent (the Adj-RIB-Out), not intent.
    pub advertised: Vec<IpNet>,
    pub prefixes_received: usize,
    pub last_error: Option<String>,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub established_transitions: u64,
    /// UPDATE messages sent.
    pub updates_sent: u64,
    /// Prefixes the speaker wants announced to this peer (sent or not).
    pub prefixes_wanted: usize,
}

/// Handle to a session's task.
pub struct Handle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub status: watch::Receiver<PeerStatus>,
    pub task: JoinHandle<()>,
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>> + Send>>;

/// Starts the session's task on the current runtime; events go to `events`.
pub fn spawn(config: PeerConfig, events: mpsc::UnboundedSender<Event>) -> Handle {
    let (command_sender, commands) = mpsc::unbounded_channel();
    let status = PeerStatus {
        name: config.name.clone(),
        address: config.address,
        local_as: config.session.fsm.local_as,
        peer_as: None,
        state: State::Idle,
        established_since: None,
        advertised: Vec::new(),
        prefixes_received: 0,
        last_error: None,
        messages_sent: 0,
        updates_sent: 0,
        prefixes_wanted: 0,
        messages_received: 0,
        established_transitions: 0,
    };
    let (status_sender, status_receiver) = watch::channel(status);
    let link = config.interface.clone().map(|interface| {
        let (link, _task) = unnumbered::spawn(interface, unnumbered::DEFAULT_INTERVAL);
        link
    });
    let driver = Driver {
        link,
        session: Session::new(config.session.clone()),
        config,
        commands,
        events,
        status: status_sender,
        reader: None,
        writer: None,
        connecting: None,
        shutting_down: false,
    };
    let task = tokio::spawn(driver.run());
    Handle {
        commands: command_sender,
        status: status_receiver,
        task,
    }
}

struct Driver {
    /// BGP unnumbered: what router discovery found on the interface.
    link: Option<watch::Receiver<Link>>,
    config: PeerConfig,
    session: Session,
    commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    status: watch::Sender<PeerStatus>,
    reader: Option<OwnedReadHalf>,
    writer: Option<OwnedWriteHalf>,
    connecting: Option<Connecting>,
    shutting_down: bool,
}

impl Driver {
    async fn run(mut self) {
        if !self.config.start_delay.is_zero() {
            tokio::time::sleep(self.config.start_delay).await;
        }
        self.session.start(now());
        let mut buffer = vec![0u8; 65536];
        loop {
            self.process_outputs().await;
            self.publish();
            if self.shutting_down {
                return;
            }
            let deadline = self.session.poll_timeout().map(Instant::from_std);
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::SetRoutes(routes)) => self.session.set_shared_routes(routes, now()),
                    Some(Command::Reset(subcode)) => self.session.reset(subcode, now()),
                    Some(Command::PeerReachable) => self.session.peer_reachable(now()),
                    Some(Command::Shutdown(Farewell::GracefulRestart)) => {
                        self.session.stop_for_restart(now());
                        self.shutting_down = true;
                    }
                    Some(Command::Shutdown(Farewell::Cease(subcode))) => {
                        self.session.stop(subcode, now());
                        self.shutting_down = true;
                    }
                    None => {
                        self.session.stop(CeaseSubcode::AdministrativeShutdown, now());
                        self.shutting_down = true;
                    }
                },
                result = async { self.connecting.as_mut().expect("guarded").await }, if self.connecting.is_some() => {
                    self.connecting = None;
                    match result {
                        Ok(stream) => self.connected(stream),
                        Err(error) => {
                            self.session.handle_connection_failed(error.to_string(), now());
                        }
                    }
                }
                read = async { self.reader.as_mut().expect("guarded").read(&mut buffer).await }, if self.reader.is_some() => {
                    match read {
                        Ok(0) => self.lost("connection closed by the peer".into()),
                        Ok(n) => self.session.handle_bytes(buffer.get(..n).unwrap_or_default(), now()),
                        Err(error) => self.lost(error.to_string()),
                    }
                }
                changed = async { self.link.as_mut().expect("guarded").changed().await }, if self.link.is_some() => {
                    match changed {
                        Ok(()) => self.link_changed(),
                        // Discovery ended (it only does when this driver goes): stop watching.
                        Err(_) => self.link = None,
                    }
                }
                () = sleep_until(deadline) => self.session.handle_timeout(now()),
            }
        }
    }

    /// Router discovery learnt something: a new router is dialled at once.
    fn link_changed(&mut self) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let link = link.borrow_and_update().clone();
        let address = self.unnumbered_address(&link);
        let known = self.status.borrow().address;
        if let Some(address) = address.filter(|address| *address != known) {
            self.status.send_modify(|status| status.address = address);
            self.session.peer_reachable(now());
        } else if let Some(error) = link
            .error
            .filter(|_| address.is_none() && self.session.state() != State::Established)
        {
            self.status
                .send_modify(|status| status.last_error = Some(error));
        }
    }

    /// The router's link-local address with the interface as scope, once known.
    fn unnumbered_address(&self, link: &Link) -> Option<SocketAddr> {
        let (Some(router), Some(index)) = (link.router, link.index) else {
            return None;
        };
        Some(SocketAddr::V6(SocketAddrV6::new(
            router,
            self.config.address.port(),
            0,
            index,
        )))
    }

    fn connected(&mut self, stream: TcpStream) {
        let local = match stream.local_addr() {
            Ok(local) => local.ip(),
            Err(error) => {
                self.session
                    .handle_connection_failed(format!("no local address: {error}"), now());
                return;
            }
        };
        // The next hop of the other family's routes (dualStackAddressFamily): the address of
        // that family on the interface the connection goes out of.
        let other_family = match crate::interfaces::list() {
            Ok(interfaces) => crate::interfaces::other_family_address(&interfaces, local),
            Err(error) => {
                warn!(peer = %self.config.name, %error, "cannot list interfaces: routes of the other family get no next hop from them");
                None
            }
        };
        let (reader, writer) = stream.into_split();
        self.reader = Some(reader);
        self.writer = Some(writer);
        match (local, &self.link) {
            (std::net::IpAddr::V6(local), Some(link)) if local.is_unicast_link_local() => {
                let global = link.borrow().global;
                let ipv4 = match other_family {
                    Some(std::net::IpAddr::V4(v4)) => Some(v4),
                    _ => None,
                };
                self.session
                    .handle_connected_unnumbered(local, global, ipv4, now());
            }
            _ => self.session.handle_connected_on(local, other_family, now()),
        }
    }

    fn lost(&mut self, why: String) {
        self.reader = None;
        self.writer = None;
        self.session.handle_connection_failed(why, now());
    }

    async fn process_outputs(&mut self) {
        while let Some(output) = self.session.poll_output() {
            match output {
                SessionOutput::Connect => {
                    // Replaces any attempt in flight: the session gives each attempt until the
                    // next one is due.
                    let address = match &self.link {
                        None => self.config.address,
                        Some(link) => {
                            let link = link.borrow().clone();
                            match self.unnumbered_address(&link) {
                                Some(address) => address,
                                None => {
                                    let why = link.error.unwrap_or_else(|| {
                                        format!("no router found on {} yet", link.interface)
                                    });
                                    self.session.handle_connection_failed(why, now());
                                    continue;
                                }
                            }
                        }
                    };
                    let options = self.config.tcp.clone();
                    self.connecting = Some(Box::pin(async move {
                        tcp::connect(address, &options, ATTEMPT_LIMIT).await
                    }));
                }
                SessionOutput::Send(bytes) => {
                    let Some(writer) = self.writer.as_mut() else {
                        continue;
                    };
                    let limit = self.session.fsm().hold_time().max(Duration::from_secs(3));
                    match tokio::time::timeout(limit, writer.write_all(&bytes)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => self.lost(format!("write failed: {error}")),
                        Err(_) => self.lost(format!("peer did not read for {limit:?}")),
                    }
                }
                SessionOutput::Disconnect => {
                    if let Some(mut writer) = self.writer.take() {
                        let _ = writer.shutdown().await;
                    }
                    self.reader = None;
                    self.connecting = None;
                }
                SessionOutput::Event(event) => {
                    self.log(&event);
                    let _ = self.events.send(Event {
                        peer: self.config.name.clone(),
                        event,
                    });
                }
            }
        }
    }

    fn log(&mut self, event: &SessionEvent) {
        let peer = self.status.borrow().address;
        let local_asn = self.config.session.fsm.local_as;
        match event {
            SessionEvent::Established {
                peer_as,
                peer_router_id,
                hold_time,
                keepalive,
                families,
                graceful_restart,
                restarting,
            } => {
                let families: Vec<String> = families.iter().map(ToString::to_string).collect();
                info!(
                    peer = %peer,
                    name = %self.config.name,
                    local_asn,
                    peer_asn = peer_as,
                    peer_router_id = %peer_router_id,
                    hold_time_s = hold_time.as_secs(),
                    keepalive_s = keepalive.as_secs(),
                    families = %families.join(","),
                    graceful_restart,
                    restarting,
                    "BGP session established"
                );
                self.status.send_modify(|status| {
                    status.peer_as = Some(*peer_as);
                    status.established_since = Some(SystemTime::now());
                    status.last_error = None;
                });
            }
            SessionEvent::Down(reason) => {
                // Failed attempts against an unreachable router are logged on the 1st, 2nd,
                // 4th, 8th, ... of a run; every end of a session is.
                let failures = self.session.fsm().failures();
                let next_attempt_ms = self
                    .session
                    .fsm()
                    .next_attempt()
                    .map(|at| at.saturating_duration_since(now()).as_millis() as u64);
                if matches!(reason, DownReason::Stopped(_) | DownReason::Detached)
                    || failures.is_power_of_two()
                {
                    warn!(peer = %peer, name = %self.config.name, local_asn, reason = %reason, failures, next_attempt_ms, "BGP session down");
                }
                let reason = reason.to_string();
                self.status.send_modify(|status| {
                    status.established_since = None;
                    status.last_error = Some(reason);
                });
            }
            SessionEvent::RoutesSent {
                announced,
                withdrawn,
                messages,
            } => info!(
                peer = %peer,
                announced,
                withdrawn,
                updates = messages,
                "BGP routes sent"
            ),
            SessionEvent::FamilyNotNegotiated { prefixes } => warn!(
                peer = %peer,
                prefixes = ?prefixes,
                "peer did not negotiate the address family of these prefixes: not announced to it; enable the family on the router"
            ),
            SessionEvent::NoNextHop { prefixes } => warn!(
                peer = %peer,
                prefixes = ?prefixes,
                "no next hop of this family on the session: not announced; peer over IPv4 and IPv6 or set a next hop"
            ),
            SessionEvent::UpdateErrors {
                treat_as_withdraw,
                errors,
            } => {
                warn!(peer = %peer, treat_as_withdraw, errors = ?errors, "malformed UPDATE from peer (RFC 7606)")
            }
            SessionEvent::EndOfRibReceived(family) => {
                info!(peer = %peer, family = %family, "End-of-RIB received");
            }
            SessionEvent::PeerRestarting { restart_time } => info!(
                peer = %peer,
                restart_time_s = restart_time.as_secs(),
                "peer restarting gracefully: its routes kept as stale"
            ),
            SessionEvent::StaleRoutesRemoved { count } => {
                info!(peer = %peer, count, "stale routes removed");
            }
        }
    }

    fn publish(&self) {
        let session = &self.session;
        let statistics = session.statistics();
        self.status.send_if_modified(|status| {
            let advertised_changed = !status.advertised.iter().eq(session.advertised().keys());
            if advertised_changed {
                status.advertised = session.advertised().keys().copied().collect();
            }
            let changed = advertised_changed
                || status.state != session.state()
                || status.prefixes_received != session.received().len()
                || status.messages_received != statistics.messages_received
                || status.messages_sent != statistics.messages_sent
                || status.prefixes_wanted != session.desired().len();
            status.state = session.state();
            status.prefixes_received = session.received().len();
            status.messages_sent = statistics.messages_sent;
            status.updates_sent = statistics.updates_sent;
            status.prefixes_wanted = session.desired().len();
            status.messages_received = statistics.messages_received;
            status.established_transitions = statistics.established_transitions;
            changed
        });
    }
}

/// Upper bound of one connection attempt; the session replaces an attempt long before.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(3600);

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
