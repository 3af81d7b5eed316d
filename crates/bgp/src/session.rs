//! One BGP session, sans-IO: the codec, the [`Fsm`] and the [`AdjRibOut`] put together.
//!
//! Inputs are bytes received, time, and commands (start, stop, the routes to announce); outputs
//! are bytes to send, connect/disconnect requests and events, pulled with
//! [`Session::poll_output`], plus the next instant [`Session::handle_timeout`] wants to run
//! ([`Session::poll_timeout`]). A driver does the IO and nothing else.
//!
//! What the session decides:
//! - the OPEN: 4-octet AS, multiprotocol IPv4/IPv6 unicast, route refresh, graceful restart,
//!   extended messages and extended next hop (RFC 8950) as configured;
//! - the attributes of each route: ORIGIN IGP, AS_PATH with our AS prepended to external peers
//!   (empty to internal ones), NEXT_HOP self (the local address of the connection; from an IPv6
//!   link-local address, IPv4 routes carry the IPv6 next hop when RFC 8950 is negotiated), LOCAL_PREF
//!   to internal peers only (default 100), COMMUNITIES and LARGE_COMMUNITIES as given;
//! - batching: a route change is sent at once when nothing was sent in the last `batch_delay`;
//!   changes that follow within it are sent together at its end, so a route that flaps many
//!   times costs at most one UPDATE per `batch_delay`, and a lone change waits for nothing;
//! - after every (re)connection, everything desired, then End-of-RIB for each family;
//! - routes received are kept per prefix, counted and exposed, never installed; RFC 7606
//!   outcomes are applied (treat-as-withdraw, attribute discard), errors that reset the session
//!   get the NOTIFICATION the RFCs ask for;
//! - graceful restart: the R bit on the first session of a process and the forwarding-state
//!   bits always (see [`GracefulRestartConfig`]); [`Session::stop_for_restart`] closes without
//!   a NOTIFICATION so the peer keeps our routes; as a helper, a peer's routes are kept (stale) for its restart time
//!   when its session drops without a NOTIFICATION, and swept at its End-of-RIB.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};

use crate::fsm::{self, DownReason, Fsm, Input, Output, PeerOpen, State};
use crate::packet::{
    AsPath, Capability, CeaseSubcode, CodecContext, Community, ExtendedNextHop, Family,
    GracefulRestart, GracefulRestartFamily, Ipv6NextHop, LargeCommunity, Message, MessageType,
    NextHop, Open, Origin, PathAttribute, PeerType, Received, Update, UpdateError, UpdateOutcome,
    frame_length, pack_announcements_each, pack_ipv4_announcements_over_ipv6_each,
    pack_ipv4_withdrawals_multiprotocol, pack_withdrawals_each,
};
use crate::rib::AdjRibOut;

/// Whether a flush of route changes ends with End-of-RIB (after the initial exchange).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EndOfRib {
    Send,
    NotYet,
}

/// The attributes a caller chooses per route; the session adds the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RouteAttributes {
    /// RFC 1997 communities, sent sorted and without duplicates.
    pub communities: Vec<Community>,
    /// RFC 8092 large communities, sent sorted and without duplicates.
    pub large_communities: Vec<LargeCommunity>,
    /// LOCAL_PREF, sent to internal peers only (100 when unset).
    pub local_preference: Option<u32>,
}

/// Graceful restart settings (RFC 4724).
///
/// A session offering graceful restart sets the Restart State bit on its first OPEN (every
/// process start may be a restart, and the bit only tells the peer not to wait for our
/// End-of-RIB before sending its own), and always sets the Forwarding State bits: a node keeps
/// forwarding to its Services while the speaker restarts, so a helper keeps our routes until
/// our End-of-RIB instead of flushing them when the new session comes up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GracefulRestartConfig {
    /// Seconds the peer should keep our routes while we restart (at most 4095).
    pub restart_time: u16,
}

/// Everything a session needs besides the FSM's own settings.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionConfig {
    pub fsm: fsm::Config,
    /// Families offered in the OPEN (multiprotocol capabilities).
    pub families: Vec<Family>,
    pub graceful_restart: Option<GracefulRestartConfig>,
    /// Offer extended messages (RFC 8654).
    pub extended_messages: bool,
    /// Next hop for IPv4 routes when the connection is over IPv6 (else the local address).
    pub next_hop_v4: Option<Ipv4Addr>,
    /// Next hop for IPv6 routes when the connection is over IPv4 (else the IPv4-mapped local
    /// address, as FRR and BIRD send it) or from an IPv6 link-local address (else that
    /// link-local address, as global and link-local: what FRR sends without a global address).
    pub next_hop_v6: Option<Ipv6NextHop>,
    /// Offer the Extended Next Hop capability for IPv4 unicast over IPv6 (RFC 8950). When the
    /// peer offers it too and the connection is over IPv6 with no IPv4 next hop at hand (BGP
    /// unnumbered), IPv4 routes go in MP_REACH_NLRI with the IPv6 next hop of IPv6 routes and
    /// are withdrawn in MP_UNREACH_NLRI.
    pub extended_next_hop: bool,
    /// How long after the first route change the changes are sent.
    pub batch_delay: Duration,
    /// Most routes received kept per session (they are counted beyond that).
    pub max_received_routes: usize,
}

impl SessionConfig {
    pub fn new(fsm: fsm::Config) -> Self {
        SessionConfig {
            fsm,
            families: vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST],
            graceful_restart: None,
            extended_messages: true,
            next_hop_v4: None,
            next_hop_v6: None,
            extended_next_hop: false,
            batch_delay: Duration::from_millis(2),
            max_received_routes: 100_000,
        }
    }
}

/// What the driver must do, or what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionOutput {
    /// Open a TCP connection to the peer, then call [`Session::handle_connected`].
    Connect,
    /// Send these bytes (one or more whole messages).
    Send(Vec<u8>),
    /// Close the connection, after sending what came before.
    Disconnect,
    Event(SessionEvent),
}

/// Something worth logging, counting or reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    Established {
        peer_as: u32,
        peer_router_id: Ipv4Addr,
        hold_time: Duration,
        keepalive: Duration,
        /// Families both sides support.
        families: Vec<Family>,
        /// The peer supports graceful restart.
        graceful_restart: bool,
        /// We set the Restart bit in our OPEN.
        restarting: bool,
    },
    Down(DownReason),
    /// Route changes sent.
    RoutesSent {
        announced: usize,
        withdrawn: usize,
        messages: usize,
    },
    /// Routes we want to announce that the peer did not negotiate the family for.
    FamilyNotNegotiated {
        prefixes: Vec<IpNet>,
    },
    /// A route to announce has no usable next hop on this connection.
    NoNextHop {
        prefixes: Vec<IpNet>,
    },
    /// An UPDATE was received with errors RFC 7606 handles without a reset.
    UpdateErrors {
        treat_as_withdraw: bool,
        errors: Vec<UpdateError>,
    },
    EndOfRibReceived(Family),
    /// The peer's routes are kept as stale (graceful restart helper) until this long.
    PeerRestarting {
        restart_time: Duration,
    },
    /// Stale routes of a restarting peer were removed.
    StaleRoutesRemoved {
        count: usize,
    },
}

/// A route received from the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedRoute {
    /// The attributes, MP_REACH/MP_UNREACH left out.
    pub attributes: Vec<PathAttribute>,
    /// Kept from before the peer restarted, not yet refreshed.
    pub stale: bool,
}

/// Counters of one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statistics {
    pub messages_sent: u64,
    pub messages_received: u64,
    pub updates_sent: u64,
    pub updates_received: u64,
    pub notifications_sent: u64,
    pub notifications_received: u64,
    /// Times the session reached Established.
    pub established_transitions: u64,
    /// Prefixes received beyond `max_received_routes` (not stored).
    pub received_routes_dropped: u64,
    /// Prefixes received with our own AS in the AS_PATH (loops, not stored).
    pub received_routes_looped: u64,
}

/// One BGP session.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    fsm: Fsm,
    /// Everything the caller wants announced; the RIB gets the part the peer can take.
    /// Attributes are shared: thousands of prefixes with the same communities hold one copy.
    desired: BTreeMap<IpNet, Arc<RouteAttributes>>,
    rib: AdjRibOut<Arc<RouteAttributes>>,
    context: CodecContext,
    local_address: Option<IpAddr>,
    /// The local interface's address of the other family, for the connection's lifetime.
    other_family_address: Option<IpAddr>,
    /// The global IPv6 address of the interface of a link-local connection (BGP unnumbered).
    link_global: Option<Ipv6Addr>,
    local_open: Option<Open>,
    peer_open: Option<Open>,
    families: Vec<Family>,
    /// Both sides offered IPv4 unicast over an IPv6 next hop (RFC 8950).
    extended_next_hop: bool,
    inbuf: Vec<u8>,
    outputs: VecDeque<SessionOutput>,
    flush_at: Option<Instant>,
    /// When changes were last sent: changes within a batch delay of it wait for its end.
    last_flush: Option<Instant>,
    established_at: Option<Instant>,
    received: BTreeMap<IpNet, ReceivedRoute>,
    stale_until: Option<Instant>,
    /// The R bit is still to be sent (cleared once a session is established).
    restarting: bool,
    stats: Statistics,
}

impl Session {
    pub fn new(config: SessionConfig) -> Self {
        let restarting = config.graceful_restart.is_some();
        Session {
            fsm: Fsm::new(config.fsm.clone()),
            config,
            desired: BTreeMap::new(),
            rib: AdjRibOut::default(),
            context: CodecContext::default(),
            local_address: None,
            other_family_address: None,
            link_global: None,
            local_open: None,
            peer_open: None,
            families: Vec::new(),
            extended_next_hop: false,
            inbuf: Vec::new(),
            outputs: VecDeque::new(),
            flush_at: None,
            last_flush: None,
            established_at: None,
            received: BTreeMap::new(),
            stale_until: None,
            restarting,
            stats: Statistics::default(),
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn state(&self) -> State {
        self.fsm.state()
    }

    pub fn fsm(&self) -> &Fsm {
        &self.fsm
    }

    /// When the session reached Established, if it is.
    pub fn established_at(&self) -> Option<Instant> {
        self.established_at
    }

    /// What the peer has actually been sent: the truth for status reporting.
    pub fn advertised(&self) -> &BTreeMap<IpNet, Arc<RouteAttributes>> {
        self.rib.sent()
    }

    /// The routes the caller wants announced.
    pub fn desired(&self) -> &BTreeMap<IpNet, Arc<RouteAttributes>> {
        &self.desired
    }

    pub fn received(&self) -> &BTreeMap<IpNet, ReceivedRoute> {
        &self.received
    }

    pub fn statistics(&self) -> Statistics {
        self.stats
    }

    /// The codec settings negotiated with the peer.
    pub fn context(&self) -> CodecContext {
        self.context
    }

    /// The peer's OPEN, while a connection is up.
    pub fn peer_open(&self) -> Option<&Open> {
        self.peer_open.as_ref()
    }

    /// ManualStart.
    pub fn start(&mut self, now: Instant) {
        self.fsm.handle(Input::Start, now);
        self.pump(now);
    }

    /// ManualStop: sends a Cease with this subcode (2 administrative shutdown, 3 peer
    /// de-configured) and closes; the session stays down until [`Session::start`].
    pub fn stop(&mut self, subcode: CeaseSubcode, now: Instant) {
        self.fsm.handle(Input::Stop(subcode), now);
        self.pump(now);
    }

    /// Sends a Cease with this subcode (10: BFD down), closes, and connects again as after
    /// any loss of the session.
    pub fn reset(&mut self, subcode: CeaseSubcode, now: Instant) {
        self.fsm.handle(Input::Reset(subcode), now);
        self.pump(now);
    }

    /// The process is stopping and will come back (an upgrade): when the peer negotiated
    /// graceful restart, closes without a NOTIFICATION so it keeps our routes for our restart
    /// time (RFC 4724 §4.2); otherwise stops with Cease/Administrative Shutdown, as the peer
    /// would flush our routes anyway. Stays down.
    pub fn stop_for_restart(&mut self, now: Instant) {
        if self.graceful_restart_negotiated() {
            self.fsm.handle(Input::Detach, now);
        } else {
            self.fsm
                .handle(Input::Stop(CeaseSubcode::AdministrativeShutdown), now);
        }
        self.pump(now);
    }

    /// Both sides offered graceful restart on the current session.
    pub fn graceful_restart_negotiated(&self) -> bool {
        self.config.graceful_restart.is_some()
            && self.fsm.state() == State::Established
            && self
                .peer_open
                .as_ref()
                .is_some_and(|open| open.graceful_restart().is_some())
    }

    /// The peer is reachable again (BFD came Up): connect now rather than at the next retry.
    pub fn peer_reachable(&mut self, now: Instant) {
        self.fsm.handle(Input::PeerReachable, now);
        self.pump(now);
    }

    /// The connection is up; `local` is our end of it (the next hop of our routes).
    pub fn handle_connected(&mut self, local: IpAddr, now: Instant) {
        self.handle_connected_on(local, None, now);
    }

    /// The connection is up, from `local`, on an interface whose address of the other family
    /// is `other_family` (the next hop of the other family's routes unless the config names
    /// one: [`SessionConfig::next_hop_v4`], [`SessionConfig::next_hop_v6`]).
    pub fn handle_connected_on(
        &mut self,
        local: IpAddr,
        other_family: Option<IpAddr>,
        now: Instant,
    ) {
        self.local_address = Some(local);
        self.other_family_address = other_family.filter(|other| other.is_ipv4() != local.is_ipv4());
        self.link_global = None;
        self.inbuf.clear();
        self.fsm.handle(Input::Connected, now);
        self.pump(now);
    }

    /// The connection is up from the IPv6 link-local address `local` (BGP unnumbered), on an
    /// interface whose global IPv6 address is `global` and IPv4 address `ipv4`, if it has them.
    /// The IPv6 next hop is `global` and `local` (32 octets), else `local` as both, unless
    /// [`SessionConfig::next_hop_v6`] names one; IPv4 routes take that IPv6 next hop when
    /// RFC 8950 is negotiated (as FRR towards an interface neighbour), else `ipv4`.
    pub fn handle_connected_unnumbered(
        &mut self,
        local: Ipv6Addr,
        global: Option<Ipv6Addr>,
        ipv4: Option<Ipv4Addr>,
        now: Instant,
    ) {
        self.handle_connected_on(IpAddr::V6(local), ipv4.map(IpAddr::V4), now);
        self.link_global = global.filter(|global| !global.is_unicast_link_local());
    }

    /// Connecting failed, or the connection was closed or broke.
    pub fn handle_connection_failed(&mut self, why: impl Into<String>, now: Instant) {
        self.fsm.handle(Input::ConnectionFailed(why.into()), now);
        self.pump(now);
    }

    /// Replaces the routes to announce. They are sent after the batch delay once Established.
    pub fn set_routes<A: Into<Arc<RouteAttributes>>>(
        &mut self,
        routes: BTreeMap<IpNet, A>,
        now: Instant,
    ) {
        let routes = routes
            .into_iter()
            .map(|(prefix, attributes)| (prefix, attributes.into()))
            .collect();
        self.set_shared_routes(routes, now);
    }

    /// [`Session::set_routes`] with attributes already shared: the map itself becomes the
    /// desired routes (no copy of 100,000 entries), once its prefixes are truncated and each
    /// attribute set is held once.
    pub fn set_shared_routes(
        &mut self,
        mut routes: BTreeMap<IpNet, Arc<RouteAttributes>>,
        now: Instant,
    ) {
        if !routes.keys().all(|prefix| *prefix == prefix.trunc()) {
            routes = routes
                .into_iter()
                .map(|(prefix, attributes)| (prefix.trunc(), attributes))
                .collect();
        }
        // One copy of each attribute set, however many prefixes carry it.
        let mut shared: BTreeMap<Arc<RouteAttributes>, Arc<RouteAttributes>> = BTreeMap::new();
        for attributes in routes.values_mut() {
            if !is_normalized(attributes) {
                *attributes = Arc::new(normalized((**attributes).clone()));
            }
            let one = shared
                .entry(attributes.clone())
                .or_insert_with(|| attributes.clone());
            if !Arc::ptr_eq(one, attributes) {
                *attributes = one.clone();
            }
        }
        self.desired = routes;
        // Nothing pending: send at once, unless the last send was less than a batch delay
        // ago; then the changes wait for the rest of it, with any that follow.
        if self.fsm.state() == State::Established
            && self.flush_at.is_none()
            && self.rib_has_changes()
        {
            match self.last_flush {
                Some(last) if now < last + self.config.batch_delay => {
                    self.flush_at = Some(last + self.config.batch_delay);
                }
                _ => self.flush(now, EndOfRib::NotYet),
            }
        }
    }

    /// Bytes read from the connection (any amount; messages may span calls).
    pub fn handle_bytes(&mut self, bytes: &[u8], now: Instant) {
        self.inbuf.extend_from_slice(bytes);
        let mut consumed = 0;
        loop {
            if self.fsm.state() == State::Idle || self.local_address.is_none() {
                consumed = self.inbuf.len();
                break;
            }
            let rest = self.inbuf.get(consumed..).unwrap_or_default();
            let length = match frame_length(rest, &self.context) {
                None => break,
                Some(Ok(length)) => length,
                Some(Err(error)) => {
                    self.fsm
                        .handle(Input::DecodeError(error.notification()), now);
                    consumed = self.inbuf.len();
                    break;
                }
            };
            let frame = rest.get(..length).unwrap_or_default().to_vec();
            consumed += length;
            self.receive(&frame, now);
            self.pump(now);
        }
        self.inbuf.drain(..consumed.min(self.inbuf.len()));
        self.pump(now);
    }

    /// Runs due timers. Call at (or after) [`Session::poll_timeout`].
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fsm.handle_timeout(now);
        self.pump(now);
        if self.flush_at.is_some_and(|at| now >= at) {
            self.flush(now, EndOfRib::NotYet);
        }
        if self.stale_until.is_some_and(|at| now >= at) {
            self.stale_until = None;
            self.sweep_stale(None);
        }
    }

    pub fn poll_output(&mut self) -> Option<SessionOutput> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.fsm.poll_timeout(), self.flush_at, self.stale_until]
            .into_iter()
            .flatten()
            .min()
    }

    fn receive(&mut self, frame: &[u8], now: Instant) {
        self.stats.messages_received += 1;
        let message_type = frame.get(18).copied().and_then(MessageType::from_code);
        let received = match Received::decode(frame, &self.context) {
            Ok(received) => received,
            Err(error) => {
                if message_type == Some(MessageType::Notification) {
                    // RFC 4271 §6.4: never answer a NOTIFICATION with one.
                    self.fsm.handle(
                        Input::ConnectionFailed(format!("malformed NOTIFICATION: {error}")),
                        now,
                    );
                } else {
                    self.fsm
                        .handle(Input::DecodeError(error.notification()), now);
                }
                return;
            }
        };
        match received {
            Received::Open(open) => {
                let peer = PeerOpen {
                    version: crate::packet::BGP_VERSION,
                    asn: open.as_number(),
                    hold_time: open.hold_time,
                    router_id: open.bgp_identifier,
                };
                self.peer_open = Some(open);
                self.fsm.handle(Input::Open(peer), now);
            }
            Received::Keepalive => self.fsm.handle(Input::Keepalive, now),
            Received::Notification(notification) => {
                self.stats.notifications_received += 1;
                self.fsm.handle(Input::Notification(notification), now);
            }
            Received::RouteRefresh(_) => self.fsm.handle(Input::RouteRefresh, now),
            Received::Update(outcome) => {
                self.stats.updates_received += 1;
                let established = self.fsm.state() == State::Established;
                self.fsm.handle(Input::Update, now);
                if established {
                    self.apply_update(outcome);
                }
            }
        }
    }

    fn apply_update(&mut self, outcome: UpdateOutcome) {
        match outcome {
            UpdateOutcome::TreatAsWithdraw { withdrawn, errors } => {
                for prefix in &withdrawn {
                    self.received.remove(prefix);
                }
                self.emit(SessionEvent::UpdateErrors {
                    treat_as_withdraw: true,
                    errors,
                });
            }
            UpdateOutcome::Accepted { update, discarded } => {
                if !discarded.is_empty() {
                    self.emit(SessionEvent::UpdateErrors {
                        treat_as_withdraw: false,
                        errors: discarded,
                    });
                }
                if let Some(family) = update.end_of_rib_family() {
                    self.sweep_stale(Some(family));
                    self.emit(SessionEvent::EndOfRibReceived(family));
                    return;
                }
                for prefix in update.withdrawn() {
                    self.received.remove(&prefix);
                }
                let announced = update.announced();
                if announced.is_empty() {
                    return;
                }
                // RFC 4271 §9.1.2: a route whose AS_PATH holds our AS is a loop (routers often
                // send a node's own prefix back); it is not kept.
                let local_as = self.config.fsm.local_as;
                if self.context.peer_type == PeerType::External
                    && update.as_path().is_some_and(|path| path.contains(local_as))
                {
                    self.stats.received_routes_looped += announced.len() as u64;
                    for prefix in &announced {
                        self.received.remove(prefix);
                    }
                    return;
                }
                let attributes: Vec<PathAttribute> = update
                    .attributes
                    .into_iter()
                    .filter(|attribute| {
                        !matches!(
                            attribute,
                            PathAttribute::MpReachNlri(_) | PathAttribute::MpUnreachNlri(_)
                        )
                    })
                    .collect();
                for prefix in announced {
                    if self.received.len() >= self.config.max_received_routes
                        && !self.received.contains_key(&prefix)
                    {
                        self.stats.received_routes_dropped += 1;
                        continue;
                    }
                    self.received.insert(
                        prefix,
                        ReceivedRoute {
                            attributes: attributes.clone(),
                            stale: false,
                        },
                    );
                }
            }
        }
    }

    /// Removes stale routes (of one family, or all).
    fn sweep_stale(&mut self, family: Option<Family>) {
        let before = self.received.len();
        self.received.retain(|prefix, route| {
            !(route.stale && family.is_none_or(|family| family_of(prefix) == family))
        });
        let count = before - self.received.len();
        if count > 0 {
            self.emit(SessionEvent::StaleRoutesRemoved { count });
        }
        if !self.received.values().any(|route| route.stale) {
            self.stale_until = None;
        }
    }

    /// Turns the FSM's outputs into the session's.
    fn pump(&mut self, now: Instant) {
        while let Some(output) = self.fsm.poll_output() {
            match output {
                Output::Connect => {
                    self.local_address = None;
                    self.other_family_address = None;
                    self.link_global = None;
                    self.outputs.push_back(SessionOutput::Connect);
                }
                Output::Disconnect => {
                    self.inbuf.clear();
                    self.local_address = None;
                    self.other_family_address = None;
                    self.link_global = None;
                    self.outputs.push_back(SessionOutput::Disconnect);
                }
                Output::SendOpen { hold_time } => {
                    let open = self.local_open(hold_time);
                    self.send(&[Message::Open(open.clone())], now);
                    self.local_open = Some(open);
                }
                Output::SendKeepalive => self.send(&[Message::Keepalive], now),
                Output::SendNotification(notification) => {
                    self.stats.notifications_sent += 1;
                    self.send(&[Message::Notification(notification.clone())], now);
                }
                Output::Established {
                    peer_as,
                    peer_router_id,
                    hold_time,
                    keepalive,
                } => self.established(peer_as, peer_router_id, hold_time, keepalive, now),
                Output::Down(reason) => self.down(reason, now),
                Output::ResendRoutes => {
                    self.rib.reset();
                    self.flush(now, EndOfRib::NotYet);
                }
            }
        }
    }

    fn local_open(&self, hold_time: u16) -> Open {
        let local_as = self.config.fsm.local_as;
        let mut capabilities: Vec<Capability> = self
            .config
            .families
            .iter()
            .map(|family| Capability::Multiprotocol(*family))
            .collect();
        if self.config.extended_next_hop {
            capabilities.push(Capability::ExtendedNextHop(vec![
                ExtendedNextHop::IPV4_UNICAST_OVER_IPV6,
            ]));
        }
        capabilities.push(Capability::RouteRefresh);
        if self.config.extended_messages {
            capabilities.push(Capability::ExtendedMessage);
        }
        if let Some(gr) = self.config.graceful_restart {
            capabilities.push(Capability::GracefulRestart(GracefulRestart {
                restart_state: self.restarting,
                notification: false,
                restart_time: gr.restart_time.min(GracefulRestart::MAXIMUM_RESTART_TIME),
                families: self
                    .config
                    .families
                    .iter()
                    .map(|family| GracefulRestartFamily {
                        family: *family,
                        // The node keeps forwarding while the speaker restarts: the data plane
                        // (kube-proxy, the CNI) does not depend on it.
                        forwarding_state: true,
                    })
                    .collect(),
            }));
        }
        capabilities.push(Capability::FourOctetAs(local_as));
        Open::new(local_as, hold_time, self.config.fsm.router_id, capabilities)
    }

    fn established(
        &mut self,
        peer_as: u32,
        peer_router_id: Ipv4Addr,
        hold_time: Duration,
        keepalive: Duration,
        now: Instant,
    ) {
        let peer_type = if peer_as == self.config.fsm.local_as {
            PeerType::Internal
        } else {
            PeerType::External
        };
        let (Some(local), Some(peer)) = (&self.local_open, &self.peer_open) else {
            return;
        };
        self.context = CodecContext::negotiate(local, peer, peer_type);
        let mut peer_families = peer.multiprotocol_families();
        if peer_families.is_empty() {
            // RFC 4760 §8: no multiprotocol capability means IPv4 unicast only.
            peer_families.push(Family::IPV4_UNICAST);
        }
        self.families = self
            .config
            .families
            .iter()
            .filter(|family| peer_families.contains(family))
            .copied()
            .collect();
        self.extended_next_hop = self.config.extended_next_hop
            && peer
                .extended_next_hops()
                .contains(&ExtendedNextHop::IPV4_UNICAST_OVER_IPV6);
        let graceful_restart = peer.graceful_restart().is_some();
        let restarting = self.restarting;
        self.restarting = false;
        self.established_at = Some(now);
        self.stats.established_transitions += 1;
        // Routes kept from before the peer restarted stay until its End-of-RIB.
        self.emit(SessionEvent::Established {
            peer_as,
            peer_router_id,
            hold_time,
            keepalive,
            families: self.families.clone(),
            graceful_restart,
            restarting,
        });
        self.rib.reset();
        let (no_family, no_next_hop): (Vec<IpNet>, Vec<IpNet>) = self
            .desired
            .keys()
            .filter(|prefix| !self.sendable(prefix))
            .partition(|prefix| !self.families.contains(&family_of(prefix)));
        if !no_family.is_empty() {
            self.emit(SessionEvent::FamilyNotNegotiated {
                prefixes: no_family,
            });
        }
        if !no_next_hop.is_empty() {
            self.emit(SessionEvent::NoNextHop {
                prefixes: no_next_hop,
            });
        }
        self.flush(now, EndOfRib::Send);
    }

    fn down(&mut self, reason: DownReason, now: Instant) {
        let was_established = self.established_at.take().is_some();
        self.rib.reset();
        self.flush_at = None;
        self.context = CodecContext::default();
        self.extended_next_hop = false;
        let peer_restart = self
            .peer_open
            .take()
            .and_then(|open| open.graceful_restart().cloned());
        if was_established {
            // RFC 4724 §4.2: a session that ends without a NOTIFICATION keeps the restarting
            // peer's routes, as stale, for its restart time.
            let keep = matches!(reason, DownReason::ConnectionLost(_))
                .then_some(peer_restart)
                .flatten()
                .filter(|gr| gr.restart_time > 0);
            match keep {
                Some(gr) => {
                    for route in self.received.values_mut() {
                        route.stale = true;
                    }
                    let restart_time = Duration::from_secs(u64::from(gr.restart_time));
                    self.stale_until = Some(now + restart_time);
                    self.emit(SessionEvent::PeerRestarting { restart_time });
                }
                None => {
                    self.received.clear();
                    self.stale_until = None;
                }
            }
        }
        self.local_open = None;
        self.emit(SessionEvent::Down(reason));
    }

    /// Which desired routes the RIB can send: of a negotiated family, with a next hop.
    fn sendable_filter(&self) -> impl Fn(&IpNet) -> bool + use<> {
        let (v4, v6) = self.next_hops();
        let ipv4 = v4.is_some() && self.families.contains(&Family::IPV4_UNICAST);
        let ipv6 = v6.is_some() && self.families.contains(&Family::IPV6_UNICAST);
        move |prefix| match prefix {
            IpNet::V4(_) => ipv4,
            IpNet::V6(_) => ipv6,
        }
    }

    fn sendable(&self, prefix: &IpNet) -> bool {
        self.sendable_filter()(prefix)
    }

    /// Whether the routes the peer can take differ from those it was sent.
    fn rib_has_changes(&self) -> bool {
        self.rib.has_changes(&self.desired, self.sendable_filter())
    }

    /// The next hops of IPv4 and IPv6 routes on the current connection.
    fn next_hops(&self) -> (Option<NextHop>, Option<Ipv6NextHop>) {
        match self.local_address {
            // The interface's global IPv6 address, else the IPv4-mapped one (FRR's choices).
            Some(IpAddr::V4(v4)) => (
                Some(NextHop::Ipv4(v4)),
                Some(self.config.next_hop_v6.unwrap_or_else(|| {
                    let v6 = match self.other_family_address {
                        Some(IpAddr::V6(v6)) => v6,
                        _ => v4.to_ipv6_mapped(),
                    };
                    Ipv6NextHop::global(v6)
                })),
            ),
            // The interface's IPv4 address; without one, the IPv6 next hop when the peer takes
            // it for IPv4 routes (RFC 8950), else IPv4 routes have no next hop here.
            Some(IpAddr::V6(v6)) => {
                let v6_next_hop = if v6.is_unicast_link_local() {
                    // FRR without a global address: the link-local as both (bgp_zebra.c).
                    self.config.next_hop_v6.unwrap_or(Ipv6NextHop {
                        global: self.link_global.unwrap_or(v6),
                        link_local: Some(v6),
                    })
                } else {
                    Ipv6NextHop::global(v6)
                };
                let ipv4 = self
                    .config
                    .next_hop_v4
                    .or(match self.other_family_address {
                        Some(IpAddr::V4(v4)) => Some(v4),
                        _ => v6.to_ipv4_mapped(),
                    })
                    .map(NextHop::Ipv4);
                let ipv6 = self.extended_next_hop.then_some(NextHop::Ipv6(v6_next_hop));
                // Unnumbered (a link-local session): the IPv6 next hop, as FRR sends it to an
                // interface neighbour; otherwise IPv6 only when there is no IPv4 one.
                let v4_next_hop = if v6.is_unicast_link_local() && self.config.next_hop_v4.is_none()
                {
                    ipv6.or(ipv4)
                } else {
                    ipv4.or(ipv6)
                };
                (v4_next_hop, Some(v6_next_hop))
            }
            None => (None, None),
        }
    }

    /// Sends the RIB's changes; after (re)connection also End-of-RIB. Each UPDATE is encoded
    /// as soon as it is packed, into one buffer handed to the driver: at no time are all the
    /// prefixes held as UPDATE values as well as on the wire.
    fn flush(&mut self, now: Instant, end_of_rib: EndOfRib) {
        self.flush_at = None;
        if self.fsm.state() != State::Established {
            return;
        }
        self.last_flush = Some(now);
        let sendable = self.sendable_filter();
        let changes = self.rib.take_changes(&self.desired, sendable);
        let (v4_next_hop, v6_next_hop) = self.next_hops();
        let context = self.context;
        let mut bytes = Vec::new();
        let mut messages = 0;
        let mut emit = |update: Update| {
            Message::Update(update).encode_into(&mut bytes, &context);
            messages += 1;
        };
        if matches!(v4_next_hop, Some(NextHop::Ipv6(_))) {
            // IPv4 routes went in MP_REACH_NLRI: withdrawn in MP_UNREACH_NLRI (RFC 8950 §4).
            let (v4, other): (Vec<IpNet>, Vec<IpNet>) = changes
                .withdraw
                .iter()
                .partition(|prefix| prefix.addr().is_ipv4());
            let v4: Vec<Ipv4Net> = v4
                .into_iter()
                .filter_map(|prefix| match prefix {
                    IpNet::V4(v4) => Some(v4),
                    IpNet::V6(_) => None,
                })
                .collect();
            pack_ipv4_withdrawals_multiprotocol(&v4, &context)
                .into_iter()
                .for_each(&mut emit);
            pack_withdrawals_each(&other, &context, &mut emit);
        } else {
            pack_withdrawals_each(&changes.withdraw, &context, &mut emit);
        }
        let mut announced = 0;
        for (attributes, prefixes) in &changes.announce {
            let path = self.path_attributes(attributes);
            let (v4, v6) = (prefixes.ipv4.as_slice(), prefixes.ipv6.as_slice());
            // The RIB only lets through prefixes that have a next hop.
            let ipv4 = match v4_next_hop {
                Some(NextHop::Ipv4(next_hop)) if !v4.is_empty() => Some((next_hop, v4)),
                Some(NextHop::Ipv6(next_hop)) if !v4.is_empty() => {
                    pack_ipv4_announcements_over_ipv6_each(
                        &path, next_hop, v4, &context, &mut emit,
                    );
                    None
                }
                _ => None,
            };
            let ipv6 = v6_next_hop
                .filter(|_| !v6.is_empty())
                .map(|next_hop| (next_hop, v6));
            announced += v4.len() + v6.len();
            pack_announcements_each(&path, ipv4, ipv6, &context, &mut emit);
        }
        let withdrawn = changes.withdraw.len();
        drop(changes);
        if end_of_rib == EndOfRib::Send {
            for family in &self.families {
                emit(Update::end_of_rib(*family));
            }
        }
        let route_messages = match end_of_rib {
            EndOfRib::Send => messages - self.families.len(),
            EndOfRib::NotYet => messages,
        };
        if route_messages > 0 {
            self.emit(SessionEvent::RoutesSent {
                announced,
                withdrawn,
                messages: route_messages,
            });
        }
        self.stats.updates_sent += messages as u64;
        self.send_encoded(bytes, messages, now);
    }

    fn path_attributes(&self, attributes: &RouteAttributes) -> Vec<PathAttribute> {
        let local_as = self.config.fsm.local_as;
        let internal = self.context.peer_type == PeerType::Internal;
        let mut path = vec![PathAttribute::Origin(Origin::Igp)];
        if internal {
            path.push(PathAttribute::AsPath(AsPath::empty()));
            path.push(PathAttribute::LocalPreference(
                attributes.local_preference.unwrap_or(100),
            ));
        } else {
            path.push(PathAttribute::AsPath(AsPath::sequence(vec![local_as])));
            if !self.context.four_octet_as && local_as > u32::from(u16::MAX) {
                // RFC 6793 §4.2.2: AS_TRANS in AS_PATH, the real AS in AS4_PATH.
                path.push(PathAttribute::As4Path(AsPath::sequence(vec![local_as])));
            }
        }
        if !attributes.communities.is_empty() {
            path.push(PathAttribute::Communities(attributes.communities.clone()));
        }
        if !attributes.large_communities.is_empty() {
            path.push(PathAttribute::LargeCommunities(
                attributes.large_communities.clone(),
            ));
        }
        path
    }

    fn send(&mut self, messages: &[Message], now: Instant) {
        let mut bytes = Vec::new();
        for message in messages {
            message.encode_into(&mut bytes, &self.context);
        }
        self.send_encoded(bytes, messages.len(), now);
    }

    /// Hands `count` encoded messages to the driver.
    fn send_encoded(&mut self, bytes: Vec<u8>, count: usize, now: Instant) {
        if count == 0 {
            return;
        }
        self.stats.messages_sent += count as u64;
        self.outputs.push_back(SessionOutput::Send(bytes));
        self.fsm.message_sent(now);
    }

    fn emit(&mut self, event: SessionEvent) {
        self.outputs.push_back(SessionOutput::Event(event));
    }
}

fn is_normalized(attributes: &RouteAttributes) -> bool {
    attributes.communities.windows(2).all(|w| w[0] < w[1])
        && attributes.large_communities.windows(2).all(|w| w[0] < w[1])
}

fn normalized(mut attributes: RouteAttributes) -> RouteAttributes {
    let communities: BTreeSet<Community> = attributes.communities.drain(..).collect();
    attributes.communities = communities.into_iter().collect();
    let large: BTreeSet<LargeCommunity> = attributes.large_communities.drain(..).collect();
    attributes.large_communities = large.into_iter().collect();
    attributes
}

fn family_of(prefix: &IpNet) -> Family {
    match prefix {
        IpNet::V4(_) => Family::IPV4_UNICAST,
        IpNet::V6(_) => Family::IPV6_UNICAST,
    }
}
