//! The BGP finite state machine of one connection attempt to one peer (RFC 4271 §8), sans-IO.
//!
//! It knows nothing of bytes: the session layer decodes messages into [`Input`]s and encodes
//! the [`Output`]s. Time comes in as `now`; timers go out through [`Fsm::poll_timeout`].
//!
//! Deliberate choices, each from an RFC or operational experience:
//! - When to connect again is [`Reconnect`]'s: at once after losing a stable session, then one
//!   attempt every `connect_retry` (the BGPPeer's `connectTime`), backing off only after a
//!   minute of failures; sessions that flap are held down longer each time. An attempt lasts
//!   until the next is due (RFC 4271: ConnectRetryTimer expiry in Connect drops the attempt
//!   and starts a new one).
//! - [`Input::PeerReachable`] (BFD came Up) starts an attempt at once instead of waiting for
//!   the timer; it never shortens a flap's hold-down.
//! - Hold time is the smaller of ours and the peer's; 0 means no keepalives and no hold timer;
//!   1 and 2 s are refused with NOTIFICATION 2/6 (RFC 4271 §6.2).
//! - Keepalive interval: the configured one, but never more than a third of the negotiated hold.
//! - Three ways down: [`Input::Stop`] sends Cease with the caller's subcode (RFC 4486: 2
//!   Administrative Shutdown, 3 Peer De-configured, ...) and stays down; [`Input::Reset`] sends
//!   Cease (10 BFD Down, RFC 9384) and reconnects; [`Input::Detach`] closes without a
//!   NOTIFICATION, so a peer that negotiated graceful restart keeps our routes (RFC 4724 §4.2).

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

pub use crate::packet::Notification;
use crate::packet::{CeaseSubcode, FiniteStateMachineSubcode, OpenMessageSubcode};
use crate::reconnect::Reconnect;

/// RFC 4271 states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl State {
    /// A connection is up and messages flow (a NOTIFICATION can be sent).
    pub fn exchanging_messages(self) -> bool {
        matches!(
            self,
            State::OpenSent | State::OpenConfirm | State::Established
        )
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        })
    }
}

/// Which remote AS is acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteAs {
    Exactly(u32),
    /// Equal to our AS (iBGP).
    Internal,
    /// Different from our AS (eBGP).
    External,
}

/// FSM configuration (one peer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub local_as: u32,
    pub remote_as: RemoteAs,
    pub router_id: Ipv4Addr,
    /// Proposed hold time; 0 = none.
    pub hold_time: Duration,
    /// Keepalive interval (capped at a third of the negotiated hold time).
    pub keepalive_time: Duration,
    /// The wait between connection attempts (BGPPeer `connectTime`, FRR's `timers connect`).
    pub connect_retry: Duration,
    /// The longest wait once attempts have kept failing for a minute.
    pub max_connect_retry: Duration,
    /// Never dial; wait for the peer to connect.
    pub passive: bool,
    /// Seed for the retry jitter.
    pub seed: u64,
}

impl Config {
    /// Sensible defaults: hold 90 s, keepalive 30 s, an attempt every second, backing off to
    /// 30 s after a minute of failures.
    pub fn new(local_as: u32, remote_as: RemoteAs, router_id: Ipv4Addr) -> Self {
        Config {
            local_as,
            remote_as,
            router_id,
            hold_time: Duration::from_secs(90),
            keepalive_time: Duration::from_secs(30),
            connect_retry: Duration::from_secs(1),
            max_connect_retry: Duration::from_secs(30),
            passive: false,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// What the peer's OPEN said, already decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerOpen {
    pub version: u8,
    /// The AS from the 4-octet AS capability when present, else My Autonomous System.
    pub asn: u32,
    pub hold_time: u16,
    pub router_id: Ipv4Addr,
}

/// Why a session went down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// We stopped it (with this Cease).
    Stopped(Notification),
    /// We closed it without a NOTIFICATION, so a graceful restart helper keeps our routes.
    Detached,
    /// The peer sent a NOTIFICATION.
    NotificationReceived(Notification),
    /// We sent a NOTIFICATION because of an error.
    NotificationSent(Notification),
    /// The TCP connection closed or failed.
    ConnectionLost(String),
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::Stopped(n) => write!(f, "stopped, sent {n}"),
            DownReason::Detached => f.write_str(
                "closed without NOTIFICATION for a graceful restart: the peer keeps our routes",
            ),
            DownReason::NotificationReceived(n) => write!(f, "peer sent {n}"),
            DownReason::NotificationSent(n) => write!(f, "sent {n}"),
            DownReason::ConnectionLost(why) => write!(f, "connection lost: {why}"),
        }
    }
}

/// Inputs to the FSM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// ManualStart.
    Start,
    /// ManualStop, with the Cease subcode to send; the session stays down until [`Input::Start`].
    Stop(CeaseSubcode),
    /// Sends a Cease with this subcode and connects again as after any loss (BFD Down).
    Reset(CeaseSubcode),
    /// Closes without a NOTIFICATION and stays down: the process is going away and will come
    /// back (graceful restart).
    Detach,
    /// The peer is known to be reachable again (BFD came Up): try now rather than at the next
    /// retry, unless the session is held down for flapping.
    PeerReachable,
    /// The TCP connection (outgoing or accepted) is up.
    Connected,
    /// Connecting failed or the connection closed.
    ConnectionFailed(String),
    Open(PeerOpen),
    Keepalive,
    /// An UPDATE arrived (the session layer handles its content).
    Update,
    /// A ROUTE-REFRESH arrived.
    RouteRefresh,
    Notification(Notification),
    /// A message failed to decode: send this NOTIFICATION and drop the session.
    DecodeError(Notification),
}

/// Outputs of the FSM, pulled with [`Fsm::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer, dropping any attempt still in flight.
    Connect,
    /// Close the TCP connection (after sending what precedes this output).
    Disconnect,
    SendOpen {
        hold_time: u16,
    },
    SendKeepalive,
    SendNotification(Notification),
    /// The session is Established; the session layer now sends the routes, then End-of-RIB.
    Established {
        peer_as: u32,
        peer_router_id: Ipv4Addr,
        hold_time: Duration,
        keepalive: Duration,
    },
    /// The session left Established (or an attempt failed).
    Down(DownReason),
    /// The peer asked for our routes again.
    ResendRoutes,
}

/// The FSM of one peer.
#[derive(Debug)]
pub struct Fsm {
    config: Config,
    state: State,
    outputs: VecDeque<Output>,
    /// When the next connection attempt starts (the ConnectRetryTimer, or the hold-down of a
    /// flapping session while Idle).
    connect_retry_at: Option<Instant>,
    /// When the current attempt gives way to the next (kept while the OPENs are exchanged).
    attempt_until: Option<Instant>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    reconnect: Reconnect,
    /// A TCP connection attempt is in flight.
    connecting: bool,
    established_since: Option<Instant>,
    negotiated_hold: Duration,
    negotiated_keepalive: Duration,
    /// Consecutive failed attempts since the last Established (for logs and status).
    failures: u32,
    /// The peer's OPEN, between OpenConfirm and Established.
    peer: Option<PeerOpen>,
}

/// Hold time for OpenSent before the peer's OPEN arrives (RFC 4271 suggests 4 minutes).
const LARGE_HOLD: Duration = Duration::from_secs(240);

/// How long OpenSent waits for the peer's OPEN: the hold time this side proposes (a peer that
/// cannot answer an OPEN within it could not keep the session up either), at most RFC 4271's
/// 4 minutes, which also applies when no hold time (0) is proposed. In OpenSent nothing is
/// sent: a peer that closed the connection with a reset that was lost (its link flapping)
/// is noticed only by this timer, so 4 minutes would hold the session down that long.
fn open_sent_hold(proposed: Duration) -> Duration {
    if proposed.is_zero() {
        LARGE_HOLD
    } else {
        proposed.min(LARGE_HOLD)
    }
}

/// What follows a session's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Connect again, as the reconnect policy says.
    Reconnect,
    /// Stay down until [`Input::Start`].
    StayDown,
}

impl Fsm {
    pub fn new(config: Config) -> Self {
        let reconnect = Reconnect::new(config.connect_retry, config.max_connect_retry, config.seed);
        Fsm {
            config,
            state: State::Idle,
            outputs: VecDeque::new(),
            connect_retry_at: None,
            attempt_until: None,
            hold_at: None,
            keepalive_at: None,
            reconnect,
            connecting: false,
            established_since: None,
            negotiated_hold: Duration::ZERO,
            negotiated_keepalive: Duration::ZERO,
            failures: 0,
            peer: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Consecutive failed attempts since the session was last Established.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Consecutive sessions that went down before they were stable (see [`Reconnect`]).
    pub fn flaps(&self) -> u32 {
        self.reconnect.flaps()
    }

    /// When the next connection attempt starts, if one is scheduled.
    pub fn next_attempt(&self) -> Option<Instant> {
        self.connect_retry_at
    }

    /// Negotiated hold time while Established.
    pub fn hold_time(&self) -> Duration {
        self.negotiated_hold
    }

    pub fn handle(&mut self, input: Input, now: Instant) {
        match (self.state, input) {
            (State::Idle, Input::Start) if self.connect_retry_at.is_none() => {
                self.begin_attempt(now);
            }
            (_, Input::Start) => {}
            (State::Idle, Input::Stop(_) | Input::Detach) => {
                self.connect_retry_at = None;
            }
            (state, Input::Stop(subcode)) => {
                let notification = Notification::cease(subcode);
                if state.exchanging_messages() {
                    self.outputs
                        .push_back(Output::SendNotification(notification.clone()));
                }
                self.go_idle(DownReason::Stopped(notification), now, Then::StayDown);
            }
            (state, Input::Detach) => {
                let reason = if state.exchanging_messages() {
                    DownReason::Detached
                } else {
                    DownReason::Stopped(Notification::cease(CeaseSubcode::AdministrativeShutdown))
                };
                self.go_idle(reason, now, Then::StayDown);
            }
            (State::Idle, Input::Reset(_)) => {}
            (state, Input::Reset(subcode)) => {
                let notification = Notification::cease(subcode);
                if state.exchanging_messages() {
                    self.outputs
                        .push_back(Output::SendNotification(notification.clone()));
                }
                self.failures += 1;
                self.go_idle(DownReason::Stopped(notification), now, Then::Reconnect);
            }
            (State::Connect, Input::PeerReachable) => self.begin_attempt(now),
            (_, Input::PeerReachable) => {}
            (State::Connect | State::Active, Input::Connected) => {
                self.connecting = false;
                self.state = State::OpenSent;
                self.connect_retry_at = None;
                self.hold_at = Some(now + open_sent_hold(self.config.hold_time));
                self.outputs.push_back(Output::SendOpen {
                    hold_time: secs_u16(self.config.hold_time),
                });
            }
            (State::Connect | State::Active, Input::ConnectionFailed(why)) => {
                // The next attempt starts when this one's time is up (already scheduled).
                self.connecting = false;
                self.failures += 1;
                self.outputs
                    .push_back(Output::Down(DownReason::ConnectionLost(why)));
            }
            (State::Idle, Input::ConnectionFailed(_)) => {}
            (State::OpenSent, Input::Open(open)) => self.receive_open(open, now),
            (State::OpenConfirm, Input::Keepalive) => self.establish(now),
            (State::Established, Input::Keepalive | Input::Update) => self.restart_hold(now),
            (State::Established, Input::RouteRefresh) => {
                self.restart_hold(now);
                self.outputs.push_back(Output::ResendRoutes);
            }
            (State::Idle, _) => {}
            (_, Input::Notification(notification)) => {
                self.failures += 1;
                self.go_idle(
                    DownReason::NotificationReceived(notification),
                    now,
                    Then::Reconnect,
                );
            }
            (_, Input::DecodeError(notification)) => self.fail(notification, now),
            (_, Input::ConnectionFailed(why)) => {
                self.failures += 1;
                self.go_idle(DownReason::ConnectionLost(why), now, Then::Reconnect);
            }
            // Anything else is out of order for the state: FSM error (RFC 6608 subcodes).
            (state, _) => {
                let subcode = match state {
                    State::OpenSent => FiniteStateMachineSubcode::UnexpectedMessageInOpenSent,
                    State::OpenConfirm => FiniteStateMachineSubcode::UnexpectedMessageInOpenConfirm,
                    State::Established => FiniteStateMachineSubcode::UnexpectedMessageInEstablished,
                    _ => FiniteStateMachineSubcode::Unspecified,
                };
                self.fail(Notification::finite_state_machine(subcode), now);
            }
        }
    }

    /// Starts a connection attempt now (or waits for the peer, when passive); the next one is
    /// due when the reconnect policy says, unless this one succeeds first.
    fn begin_attempt(&mut self, now: Instant) {
        if self.config.passive {
            self.state = State::Active;
            self.connect_retry_at = None;
            return;
        }
        self.state = State::Connect;
        self.connecting = true;
        self.outputs.push_back(Output::Connect);
        let until = now + self.reconnect.attempt(now);
        self.attempt_until = Some(until);
        self.connect_retry_at = Some(until);
    }

    fn receive_open(&mut self, open: PeerOpen, now: Instant) {
        if open.version != 4 {
            let supported = vec![0, crate::packet::BGP_VERSION];
            return self.fail(
                Notification::open_message(OpenMessageSubcode::UnsupportedVersionNumber, supported),
                now,
            );
        }
        let acceptable = match self.config.remote_as {
            RemoteAs::Exactly(asn) => open.asn == asn,
            RemoteAs::Internal => open.asn == self.config.local_as,
            RemoteAs::External => open.asn != self.config.local_as,
        };
        if !acceptable {
            return self.fail(
                Notification::open_message(OpenMessageSubcode::BadPeerAs, Vec::new()),
                now,
            );
        }
        // RFC 6286: the identifier must be nonzero, and differ from ours on iBGP.
        if open.router_id.is_unspecified()
            || (open.asn == self.config.local_as && open.router_id == self.config.router_id)
        {
            return self.fail(
                Notification::open_message(OpenMessageSubcode::BadBgpIdentifier, Vec::new()),
                now,
            );
        }
        if open.hold_time == 1 || open.hold_time == 2 {
            return self.fail(
                Notification::open_message(OpenMessageSubcode::UnacceptableHoldTime, Vec::new()),
                now,
            );
        }
        let ours = self.config.hold_time;
        let theirs = Duration::from_secs(u64::from(open.hold_time));
        let hold = ours.min(theirs);
        self.negotiated_hold = hold;
        self.negotiated_keepalive = if hold.is_zero() {
            Duration::ZERO
        } else {
            let configured = if self.config.keepalive_time.is_zero() {
                hold / 3
            } else {
                self.config.keepalive_time
            };
            configured.min(hold / 3).max(Duration::from_secs(1))
        };
        self.state = State::OpenConfirm;
        self.outputs.push_back(Output::SendKeepalive);
        self.hold_at = (!hold.is_zero()).then(|| now + hold);
        self.keepalive_at =
            (!self.negotiated_keepalive.is_zero()).then(|| now + self.negotiated_keepalive);
        self.peer = Some(open);
    }

    fn establish(&mut self, now: Instant) {
        let Some(open) = self.peer.clone() else {
            return;
        };
        self.state = State::Established;
        self.established_since = Some(now);
        self.failures = 0;
        self.attempt_until = None;
        self.reconnect.established();
        self.restart_hold(now);
        self.outputs.push_back(Output::Established {
            peer_as: open.asn,
            peer_router_id: open.router_id,
            hold_time: self.negotiated_hold,
            keepalive: self.negotiated_keepalive,
        });
    }

    /// Sends a NOTIFICATION for an error and drops the session.
    fn fail(&mut self, notification: Notification, now: Instant) {
        self.failures += 1;
        self.outputs
            .push_back(Output::SendNotification(notification.clone()));
        self.go_idle(
            DownReason::NotificationSent(notification),
            now,
            Then::Reconnect,
        );
    }

    /// Back to Idle; then, with [`Then::Reconnect`], the next attempt is scheduled: after a
    /// session that was Established, at once or after a flap's hold-down; after an attempt that
    /// failed during the OPEN exchange, when that attempt's time is up.
    fn go_idle(&mut self, reason: DownReason, now: Instant, then: Then) {
        let lasted = self
            .established_since
            .take()
            .map(|since| now.duration_since(since));
        self.outputs.push_back(Output::Disconnect);
        self.outputs.push_back(Output::Down(reason));
        self.hold_at = None;
        self.keepalive_at = None;
        self.peer = None;
        self.negotiated_hold = Duration::ZERO;
        self.state = State::Idle;
        self.connect_retry_at = None;
        self.connecting = false;
        if then == Then::StayDown {
            self.attempt_until = None;
            return;
        }
        if self.config.passive {
            // A passive session only waits; it never refuses the peer's next connection.
            self.state = State::Active;
            return;
        }
        match lasted {
            Some(lasted) => {
                let hold = self.reconnect.session_lost(lasted);
                if hold.is_zero() {
                    self.begin_attempt(now);
                } else {
                    // Held down for flapping: Idle until then (PeerReachable does not cut it).
                    self.connect_retry_at = Some(now + hold);
                }
            }
            None => {
                self.state = State::Connect;
                self.connect_retry_at = Some(self.attempt_until.unwrap_or(now).max(now));
            }
        }
    }

    fn restart_hold(&mut self, now: Instant) {
        if !self.negotiated_hold.is_zero() {
            self.hold_at = Some(now + self.negotiated_hold);
        }
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.hold_at.is_some_and(|at| now >= at) {
            self.hold_at = None;
            self.fail(Notification::hold_timer_expired(), now);
            return;
        }
        if self.keepalive_at.is_some_and(|at| now >= at) {
            self.outputs.push_back(Output::SendKeepalive);
            self.keepalive_at = Some(now + self.negotiated_keepalive);
        }
        if self.connect_retry_at.is_some_and(|at| now >= at) {
            self.connect_retry_at = None;
            if self.state == State::Connect && self.connecting {
                // RFC 4271: ConnectRetryTimer expiry in Connect drops the attempt in flight.
                let waited = self.reconnect.interval();
                self.failures += 1;
                self.outputs
                    .push_back(Output::Down(DownReason::ConnectionLost(format!(
                        "no answer within {waited:?}"
                    ))));
            }
            if matches!(self.state, State::Idle | State::Connect) {
                self.begin_attempt(now);
            }
        }
    }

    /// Tells the FSM that a message was sent (any message resets the keepalive timer).
    pub fn message_sent(&mut self, now: Instant) {
        if matches!(self.state, State::OpenConfirm | State::Established)
            && !self.negotiated_keepalive.is_zero()
        {
            self.keepalive_at = Some(now + self.negotiated_keepalive);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.connect_retry_at, self.hold_at, self.keepalive_at]
            .into_iter()
            .flatten()
            .min()
    }
}

fn secs_u16(duration: Duration) -> u16 {
    u16::try_from(duration.as_secs()).unwrap_or(u16::MAX)
}

/// RFC 4271 §6.8 collision resolution: when two connections to one peer both reach the OPEN
/// exchange, keep the one initiated by the speaker with the higher BGP Identifier.
/// Returns true when the connection *we* initiated is the one to keep.
pub fn keep_outgoing_on_collision(local_id: Ipv4Addr, remote_id: Ipv4Addr) -> bool {
    u32::from(local_id) > u32::from(remote_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::ErrorCode;

    const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 21);
    const PEER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn config() -> Config {
        Config::new(65100, RemoteAs::Exactly(65000), ROUTER)
    }

    fn open(asn: u32, hold: u16) -> PeerOpen {
        PeerOpen {
            version: 4,
            asn,
            hold_time: hold,
            router_id: PEER_ID,
        }
    }

    fn drain(fsm: &mut Fsm) -> Vec<Output> {
        std::iter::from_fn(|| fsm.poll_output()).collect()
    }

    /// Brings an FSM to Established; returns the time.
    fn establish(fsm: &mut Fsm, hold: u16) -> Instant {
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        fsm.handle(Input::Connected, now);
        fsm.handle(Input::Open(open(65000, hold)), now);
        fsm.handle(Input::Keepalive, now);
        assert_eq!(fsm.state(), State::Established);
        drain(fsm);
        now
    }

    #[test]
    fn open_exchange_reaches_established() {
        let mut fsm = Fsm::new(config());
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        assert_eq!(drain(&mut fsm), [Output::Connect]);
        fsm.handle(Input::Connected, now);
        assert_eq!(drain(&mut fsm), [Output::SendOpen { hold_time: 90 }]);
        assert_eq!(fsm.state(), State::OpenSent);
        fsm.handle(Input::Open(open(65000, 180)), now);
        assert_eq!(drain(&mut fsm), [Output::SendKeepalive]);
        assert_eq!(fsm.state(), State::OpenConfirm);
        fsm.handle(Input::Keepalive, now);
        assert_eq!(
            drain(&mut fsm),
            [Output::Established {
                peer_as: 65000,
                peer_router_id: PEER_ID,
                hold_time: Duration::from_secs(90),
                keepalive: Duration::from_secs(30)
            }]
        );
    }

    #[test]
    fn hold_timer_expiry_sends_notification_4_0() {
        let mut fsm = Fsm::new(config());
        let start = establish(&mut fsm, 9);
        fsm.handle_timeout(start + Duration::from_secs(3));
        assert_eq!(
            drain(&mut fsm),
            [Output::SendKeepalive],
            "keepalive every hold/3"
        );
        fsm.handle_timeout(start + Duration::from_secs(9));
        let outputs = drain(&mut fsm);
        assert_eq!(
            outputs[0],
            Output::SendNotification(Notification::hold_timer_expired())
        );
        assert_eq!(outputs[1], Output::Disconnect);
        assert!(
            matches!(&outputs[2], Output::Down(DownReason::NotificationSent(n)) if n.code == ErrorCode::HoldTimerExpired)
        );
        assert_eq!(fsm.state(), State::Idle);
    }

    #[test]
    fn open_sent_waits_the_proposed_hold_time_not_four_minutes() {
        for (proposed, wait) in [(9, 9), (90, 90), (0, 240), (65535, 240)] {
            let mut fsm = Fsm::new(Config {
                hold_time: Duration::from_secs(proposed),
                ..config()
            });
            let start = Instant::now();
            fsm.handle(Input::Start, start);
            fsm.handle(Input::Connected, start);
            drain(&mut fsm);
            assert_eq!(fsm.state(), State::OpenSent);
            assert_eq!(
                fsm.poll_timeout(),
                Some(start + Duration::from_secs(wait)),
                "hold {proposed}"
            );
            fsm.handle_timeout(start + Duration::from_secs(wait));
            let outputs = drain(&mut fsm);
            assert_eq!(
                outputs[0],
                Output::SendNotification(Notification::hold_timer_expired()),
                "hold {proposed}"
            );
            // A new attempt follows at once (the session was not up: no damping).
            assert_eq!(fsm.state(), State::Connect);
        }
    }

    #[test]
    fn keepalive_received_restarts_the_hold_timer() {
        let mut fsm = Fsm::new(config());
        let start = establish(&mut fsm, 9);
        fsm.handle(Input::Keepalive, start + Duration::from_secs(8));
        fsm.handle_timeout(start + Duration::from_secs(10));
        assert_eq!(fsm.state(), State::Established);
    }

    #[test]
    fn hold_time_zero_means_no_keepalives_and_no_hold_timer() {
        let mut fsm = Fsm::new(Config {
            hold_time: Duration::ZERO,
            ..config()
        });
        let start = establish(&mut fsm, 90);
        assert_eq!(fsm.hold_time(), Duration::ZERO);
        fsm.handle_timeout(start + Duration::from_secs(3600));
        assert!(drain(&mut fsm).is_empty());
        assert_eq!(fsm.state(), State::Established);
        assert_eq!(fsm.poll_timeout(), None);
    }

    #[test]
    fn hold_time_of_one_or_two_seconds_is_refused_with_2_6() {
        let mut fsm = Fsm::new(config());
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        fsm.handle(Input::Connected, now);
        drain(&mut fsm);
        fsm.handle(Input::Open(open(65000, 2)), now);
        assert_eq!(
            drain(&mut fsm)[0],
            Output::SendNotification(Notification::open_message(
                OpenMessageSubcode::UnacceptableHoldTime,
                vec![]
            ))
        );
    }

    #[test]
    fn wrong_peer_as_is_refused_with_2_2_and_retried_every_second_then_backing_off() {
        let mut fsm = Fsm::new(config());
        let start = Instant::now();
        let mut now = start;
        fsm.handle(Input::Start, now);
        let mut delays = Vec::new();
        while now.duration_since(start) < Duration::from_secs(180) {
            assert_eq!(drain(&mut fsm), [Output::Connect]);
            fsm.handle(Input::Connected, now);
            assert_eq!(drain(&mut fsm), [Output::SendOpen { hold_time: 90 }]);
            fsm.handle(Input::Open(open(64999, 90)), now);
            let outputs = drain(&mut fsm);
            assert_eq!(
                outputs[0],
                Output::SendNotification(Notification::open_message(
                    OpenMessageSubcode::BadPeerAs,
                    vec![]
                ))
            );
            let retry_at = fsm.poll_timeout().unwrap();
            delays.push(retry_at - now);
            now = retry_at;
            fsm.handle_timeout(now);
            assert_eq!(fsm.state(), State::Connect);
        }
        // About one attempt a second for the first minute, then 2, 4, ... up to 30 s apart.
        let first_minute = delays
            .iter()
            .scan(Duration::ZERO, |total, delay| {
                *total += *delay;
                Some(*total)
            })
            .take_while(|total| *total < Duration::from_secs(59))
            .count();
        assert!((59..=80).contains(&first_minute), "{first_minute}");
        assert!(
            delays[..first_minute]
                .iter()
                .all(|d| *d <= Duration::from_secs(1))
        );
        assert!(
            delays
                .iter()
                .rev()
                .take(2)
                .all(|d| *d >= Duration::from_secs(22)),
            "{delays:?}"
        );
        assert!(
            delays.len() < 90,
            "three minutes, {} attempts",
            delays.len()
        );
    }

    #[test]
    fn a_stable_session_that_drops_is_tried_again_at_once() {
        let mut fsm = Fsm::new(config());
        let now = establish(&mut fsm, 90);
        let later = now + Duration::from_secs(60);
        fsm.handle(Input::ConnectionFailed("reset by peer".into()), later);
        let outputs = drain(&mut fsm);
        assert_eq!(outputs.last(), Some(&Output::Connect), "{outputs:?}");
        assert_eq!(fsm.state(), State::Connect);
    }

    #[test]
    fn an_attempt_without_answer_gives_way_to_the_next_after_one_interval() {
        let mut fsm = Fsm::new(config());
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        assert_eq!(drain(&mut fsm), [Output::Connect]);
        let next = fsm.poll_timeout().unwrap();
        assert!(next - now <= Duration::from_secs(1));
        fsm.handle_timeout(next);
        let outputs = drain(&mut fsm);
        assert!(matches!(
            outputs.as_slice(),
            [Output::Down(DownReason::ConnectionLost(_)), Output::Connect]
        ));
        assert_eq!(fsm.failures(), 1);
    }

    #[test]
    fn detach_closes_without_notification_and_stays_down() {
        let mut fsm = Fsm::new(config());
        let now = establish(&mut fsm, 90);
        fsm.handle(Input::Detach, now);
        assert_eq!(
            drain(&mut fsm),
            [Output::Disconnect, Output::Down(DownReason::Detached)]
        );
        assert_eq!(fsm.poll_timeout(), None);
    }

    #[test]
    fn peer_reachable_does_not_cut_a_flap_hold_down_short() {
        let mut fsm = Fsm::new(config());
        let now = establish(&mut fsm, 90);
        fsm.handle(
            Input::Reset(CeaseSubcode::BfdDown),
            now + Duration::from_secs(1),
        );
        assert_eq!(fsm.state(), State::Idle, "held down: it lasted one second");
        drain(&mut fsm);
        fsm.handle(Input::PeerReachable, now + Duration::from_secs(1));
        assert!(drain(&mut fsm).is_empty());
        assert_eq!(fsm.state(), State::Idle);
    }

    #[test]
    fn stop_sends_cease_with_the_given_subcode() {
        let mut fsm = Fsm::new(config());
        let now = establish(&mut fsm, 90);
        fsm.handle(Input::Stop(CeaseSubcode::AdministrativeShutdown), now);
        let outputs = drain(&mut fsm);
        assert_eq!(
            outputs[0],
            Output::SendNotification(Notification::cease(CeaseSubcode::AdministrativeShutdown))
        );
        assert_eq!(outputs[1], Output::Disconnect);
        assert_eq!(fsm.state(), State::Idle);
        assert_eq!(
            fsm.poll_timeout(),
            None,
            "a stopped session does not reconnect"
        );
    }

    #[test]
    fn bfd_down_stops_with_cease_10() {
        let mut fsm = Fsm::new(config());
        let now = establish(&mut fsm, 90);
        fsm.handle(Input::Reset(CeaseSubcode::BfdDown), now);
        assert_eq!(
            drain(&mut fsm)[0],
            Output::SendNotification(Notification::cease(CeaseSubcode::BfdDown))
        );
        assert_eq!(
            Notification::cease(CeaseSubcode::BfdDown).to_string(),
            "cease: BFD down (6/10)"
        );
    }

    #[test]
    fn unexpected_message_in_open_sent_is_fsm_error_5_1() {
        let mut fsm = Fsm::new(config());
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        fsm.handle(Input::Connected, now);
        drain(&mut fsm);
        fsm.handle(Input::Update, now);
        assert_eq!(
            drain(&mut fsm)[0],
            Output::SendNotification(Notification::finite_state_machine(
                FiniteStateMachineSubcode::UnexpectedMessageInOpenSent
            ))
        );
    }

    #[test]
    fn unsupported_version_is_2_1_with_version_4_as_data() {
        let mut fsm = Fsm::new(config());
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        fsm.handle(Input::Connected, now);
        drain(&mut fsm);
        fsm.handle(
            Input::Open(PeerOpen {
                version: 3,
                ..open(65000, 90)
            }),
            now,
        );
        assert_eq!(
            drain(&mut fsm)[0],
            Output::SendNotification(Notification::open_message(
                OpenMessageSubcode::UnsupportedVersionNumber,
                vec![0, 4]
            ))
        );
    }

    #[test]
    fn ibgp_peer_with_our_router_id_is_refused_2_3() {
        let mut fsm = Fsm::new(Config::new(65000, RemoteAs::Internal, PEER_ID));
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        fsm.handle(Input::Connected, now);
        drain(&mut fsm);
        fsm.handle(Input::Open(open(65000, 90)), now);
        assert_eq!(
            drain(&mut fsm)[0],
            Output::SendNotification(Notification::open_message(
                OpenMessageSubcode::BadBgpIdentifier,
                vec![]
            ))
        );
    }

    #[test]
    fn dynamic_asn_external_accepts_any_other_as() {
        let mut fsm = Fsm::new(Config::new(65100, RemoteAs::External, ROUTER));
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        fsm.handle(Input::Connected, now);
        fsm.handle(Input::Open(open(4_200_000_000, 90)), now);
        assert_eq!(fsm.state(), State::OpenConfirm);
    }

    #[test]
    fn passive_session_waits_for_the_peer() {
        let mut fsm = Fsm::new(Config {
            passive: true,
            ..config()
        });
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        assert!(drain(&mut fsm).is_empty());
        assert_eq!(fsm.state(), State::Active);
        fsm.handle(Input::Connected, now);
        assert_eq!(fsm.state(), State::OpenSent);
    }

    #[test]
    fn route_refresh_asks_for_the_routes_again() {
        let mut fsm = Fsm::new(config());
        let now = establish(&mut fsm, 90);
        fsm.handle(Input::RouteRefresh, now);
        assert_eq!(drain(&mut fsm), [Output::ResendRoutes]);
    }

    #[test]
    fn collision_keeps_the_connection_of_the_higher_identifier() {
        assert!(keep_outgoing_on_collision(
            Ipv4Addr::new(10, 0, 0, 21),
            Ipv4Addr::new(10, 0, 0, 1)
        ));
        assert!(!keep_outgoing_on_collision(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 21)
        ));
    }
}
