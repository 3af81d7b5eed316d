//! The BGP finite state machine of one connection attempt to one peer (RFC 4271 §8), sans-IO.
//!
//! It knows nothing of bytes: the session layer decodes messages into [`Input`]s and encodes
//! the [`Output`]s. Time comes in as `now`; timers go out through [`Fsm::poll_timeout`].
//!
//! Deliberate choices, each from an RFC or operational experience:
//! - Connect retry uses exponential backoff with jitter (1 s doubling to 120 s, or the peer's
//!   `connectTime` as the base), so a wrong ASN or a refusing router is not hammered;
//!   the backoff resets only after a session has stayed Established for a while.
//! - Hold time is the smaller of ours and the peer's; 0 means no keepalives and no hold timer;
//!   1 and 2 s are refused with NOTIFICATION 2/6 (RFC 4271 §6.2).
//! - Keepalive interval: the configured one, but never more than a third of the negotiated hold.
//! - Stopping sends Cease with the subcode the caller gives (RFC 4486): 2 Administrative
//!   Shutdown, 3 Peer De-configured, 6 Other Configuration Change, 10 BFD Down (RFC 9384).

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

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
    /// First connect-retry delay; doubles after each failure up to `max_connect_retry`.
    pub connect_retry: Duration,
    pub max_connect_retry: Duration,
    /// Never dial; wait for the peer to connect.
    pub passive: bool,
    /// Seed for the retry jitter.
    pub seed: u64,
}

impl Config {
    /// Sensible defaults: hold 90 s, keepalive 30 s, retry from 1 s to 120 s.
    pub fn new(local_as: u32, remote_as: RemoteAs, router_id: Ipv4Addr) -> Self {
        Config {
            local_as,
            remote_as,
            router_id,
            hold_time: Duration::from_secs(90),
            keepalive_time: Duration::from_secs(30),
            connect_retry: Duration::from_secs(1),
            max_connect_retry: Duration::from_secs(120),
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

/// NOTIFICATION code, subcode and data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub code: u8,
    pub subcode: u8,
    pub data: Vec<u8>,
}

impl Notification {
    pub fn new(code: u8, subcode: u8, data: Vec<u8>) -> Self {
        Notification {
            code,
            subcode,
            data,
        }
    }

    /// Cease (6) with a subcode.
    pub fn cease(subcode: u8) -> Self {
        Notification::new(6, subcode, Vec::new())
    }
}

impl std::fmt::Display for Notification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match (self.code, self.subcode) {
            (1, _) => "message header error",
            (2, 2) => "OPEN error: bad peer AS",
            (2, 3) => "OPEN error: bad BGP identifier",
            (2, 6) => "OPEN error: unacceptable hold time",
            (2, _) => "OPEN error",
            (3, _) => "UPDATE error",
            (4, _) => "hold timer expired",
            (5, _) => "finite state machine error",
            (6, 2) => "cease: administrative shutdown",
            (6, 3) => "cease: peer de-configured",
            (6, 4) => "cease: administrative reset",
            (6, 5) => "cease: connection rejected",
            (6, 6) => "cease: other configuration change",
            (6, 7) => "cease: connection collision resolution",
            (6, 10) => "cease: BFD down",
            (6, _) => "cease",
            _ => "notification",
        };
        write!(f, "{name} ({}/{})", self.code, self.subcode)
    }
}

/// Why a session went down.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownReason {
    /// We stopped it (with this Cease).
    Stopped(Notification),
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
    /// ManualStop, with the Cease subcode to send.
    Stop {
        cease_subcode: u8,
    },
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
    /// Open a TCP connection to the peer.
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
    connect_retry_at: Option<Instant>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    /// Current retry delay (grows with failures).
    retry_delay: Duration,
    established_since: Option<Instant>,
    negotiated_hold: Duration,
    negotiated_keepalive: Duration,
    random: u64,
    /// Consecutive failed attempts (for logs and backoff).
    failures: u32,
    /// The peer's OPEN, between OpenConfirm and Established.
    peer: Option<PeerOpen>,
}

/// Hold time for OpenSent before the peer's OPEN arrives (RFC 4271 suggests 4 minutes).
const LARGE_HOLD: Duration = Duration::from_secs(240);
/// A session must stay up this long before the retry backoff resets.
const STABLE_AFTER: Duration = Duration::from_secs(30);

impl Fsm {
    pub fn new(config: Config) -> Self {
        let retry = config.connect_retry;
        let seed = config.seed | 1;
        Fsm {
            config,
            state: State::Idle,
            outputs: VecDeque::new(),
            connect_retry_at: None,
            hold_at: None,
            keepalive_at: None,
            retry_delay: retry,
            established_since: None,
            negotiated_hold: Duration::ZERO,
            negotiated_keepalive: Duration::ZERO,
            random: seed,
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

    /// Consecutive failed attempts since the last stable session.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The delay before the next connection attempt (for tests and status).
    pub fn retry_delay(&self) -> Duration {
        self.retry_delay
    }

    /// Negotiated hold time while Established.
    pub fn hold_time(&self) -> Duration {
        self.negotiated_hold
    }

    pub fn handle(&mut self, input: Input, now: Instant) {
        match (self.state, input) {
            (State::Idle, Input::Start) => {
                if self.config.passive {
                    self.state = State::Active;
                } else {
                    self.state = State::Connect;
                    self.outputs.push_back(Output::Connect);
                }
            }
            (_, Input::Start) => {}
            (State::Idle, Input::Stop { .. }) => {
                self.connect_retry_at = None;
            }
            (state, Input::Stop { cease_subcode }) => {
                let notification = Notification::cease(cease_subcode);
                if matches!(
                    state,
                    State::OpenSent | State::OpenConfirm | State::Established
                ) {
                    self.outputs
                        .push_back(Output::SendNotification(notification.clone()));
                }
                self.go_idle(DownReason::Stopped(notification), now, false);
            }
            (State::Connect | State::Active, Input::Connected) => {
                self.state = State::OpenSent;
                self.connect_retry_at = None;
                self.hold_at = Some(now + LARGE_HOLD);
                self.outputs.push_back(Output::SendOpen {
                    hold_time: secs_u16(self.config.hold_time),
                });
            }
            (State::Connect | State::Active, Input::ConnectionFailed(why)) => {
                self.failures += 1;
                self.outputs
                    .push_back(Output::Down(DownReason::ConnectionLost(why)));
                self.state = if self.config.passive {
                    State::Active
                } else {
                    State::Connect
                };
                self.schedule_retry(now);
            }
            (State::Idle, Input::ConnectionFailed(_)) => {}
            (State::OpenSent, Input::Open(open)) => self.receive_open(open, now),
            (State::OpenConfirm, Input::Keepalive) => self.establish(now),
            (State::Established, Input::Keepalive | Input::Update) => self.restart_hold(now),
            (State::Established, Input::RouteRefresh) => {
                self.restart_hold(now);
                self.outputs.push_back(Output::ResendRoutes);
            }
            (_, Input::Notification(notification)) => {
                self.failures += 1;
                self.go_idle(DownReason::NotificationReceived(notification), now, true);
            }
            (State::Idle, _) => {}
            (_, Input::DecodeError(notification)) => self.fail(notification, now),
            (_, Input::ConnectionFailed(why)) => {
                self.failures += 1;
                self.go_idle(DownReason::ConnectionLost(why), now, true);
            }
            // Anything else is out of order for the state: FSM error (RFC 6608 subcodes).
            (state, _) => {
                let subcode = match state {
                    State::OpenSent => 1,
                    State::OpenConfirm => 2,
                    State::Established => 3,
                    _ => 0,
                };
                self.fail(Notification::new(5, subcode, Vec::new()), now);
            }
        }
    }

    fn receive_open(&mut self, open: PeerOpen, now: Instant) {
        if open.version != 4 {
            return self.fail(Notification::new(2, 1, vec![0, 4]), now);
        }
        let acceptable = match self.config.remote_as {
            RemoteAs::Exactly(asn) => open.asn == asn,
            RemoteAs::Internal => open.asn == self.config.local_as,
            RemoteAs::External => open.asn != self.config.local_as,
        };
        if !acceptable {
            return self.fail(Notification::new(2, 2, Vec::new()), now);
        }
        // RFC 6286: the identifier must be nonzero, and differ from ours on iBGP.
        if open.router_id.is_unspecified()
            || (open.asn == self.config.local_as && open.router_id == self.config.router_id)
        {
            return self.fail(Notification::new(2, 3, Vec::new()), now);
        }
        if open.hold_time == 1 || open.hold_time == 2 {
            return self.fail(Notification::new(2, 6, Vec::new()), now);
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
        self.go_idle(DownReason::NotificationSent(notification), now, true);
    }

    /// Back to Idle; with `retry`, a new attempt is scheduled after the backoff delay.
    fn go_idle(&mut self, reason: DownReason, now: Instant, retry: bool) {
        if let Some(since) = self.established_since.take()
            && now.duration_since(since) >= STABLE_AFTER
        {
            self.retry_delay = self.config.connect_retry;
            self.failures = 0;
        }
        self.outputs.push_back(Output::Disconnect);
        self.outputs.push_back(Output::Down(reason));
        self.hold_at = None;
        self.keepalive_at = None;
        self.peer = None;
        self.negotiated_hold = Duration::ZERO;
        if retry {
            self.state = if self.config.passive {
                State::Active
            } else {
                State::Idle
            };
            self.schedule_retry(now);
        } else {
            self.state = State::Idle;
            self.connect_retry_at = None;
        }
    }

    fn schedule_retry(&mut self, now: Instant) {
        // Jitter: 75–100 % of the delay, so many speakers do not reconnect in lockstep.
        let percent = 75 + self.next_random() % 26;
        let delay = self.retry_delay * u32::try_from(percent).unwrap_or(100) / 100;
        self.connect_retry_at = Some(now + delay);
        self.retry_delay = (self.retry_delay * 2).min(self.config.max_connect_retry);
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
            self.fail(Notification::new(4, 0, Vec::new()), now);
            return;
        }
        if self.keepalive_at.is_some_and(|at| now >= at) {
            self.outputs.push_back(Output::SendKeepalive);
            self.keepalive_at = Some(now + self.negotiated_keepalive);
        }
        if self.connect_retry_at.is_some_and(|at| now >= at) {
            self.connect_retry_at = None;
            match self.state {
                State::Idle | State::Connect => {
                    self.state = State::Connect;
                    self.outputs.push_back(Output::Connect);
                }
                _ => {}
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

    fn next_random(&mut self) -> u64 {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
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
            Output::SendNotification(Notification::new(4, 0, vec![]))
        );
        assert_eq!(outputs[1], Output::Disconnect);
        assert!(
            matches!(&outputs[2], Output::Down(DownReason::NotificationSent(n)) if n.code == 4)
        );
        assert_eq!(fsm.state(), State::Idle);
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
            Output::SendNotification(Notification::new(2, 6, vec![]))
        );
    }

    #[test]
    fn wrong_peer_as_is_refused_with_2_2_and_retried_with_growing_backoff() {
        let mut fsm = Fsm::new(config());
        let mut now = Instant::now();
        fsm.handle(Input::Start, now);
        let mut delays = Vec::new();
        for _ in 0..10 {
            drain(&mut fsm);
            fsm.handle(Input::Connected, now);
            assert_eq!(drain(&mut fsm), [Output::SendOpen { hold_time: 90 }]);
            fsm.handle(Input::Open(open(64999, 90)), now);
            let outputs = drain(&mut fsm);
            assert_eq!(
                outputs[0],
                Output::SendNotification(Notification::new(2, 2, vec![]))
            );
            let retry_at = fsm.poll_timeout().unwrap();
            delays.push(retry_at - now);
            now = retry_at;
            fsm.handle_timeout(now);
            assert_eq!(fsm.state(), State::Connect);
        }
        // 1 s, 2 s, 4 s, ... up to 120 s, each with 75-100 % jitter: no reconnect storm.
        for (attempt, delay) in delays.iter().enumerate() {
            let nominal = Duration::from_secs(1u64 << attempt.min(7)).min(Duration::from_secs(120));
            assert!(
                *delay >= nominal * 3 / 4 && *delay <= nominal,
                "attempt {attempt}: {delay:?} vs {nominal:?}"
            );
        }
        let total: Duration = delays.iter().sum();
        assert!(
            total > Duration::from_secs(300),
            "ten attempts take minutes, not seconds: {total:?}"
        );
    }

    #[test]
    fn backoff_resets_after_a_stable_session() {
        let mut fsm = Fsm::new(config());
        let now = Instant::now();
        fsm.handle(Input::Start, now);
        for _ in 0..4 {
            fsm.handle(Input::ConnectionFailed("refused".into()), now);
        }
        assert!(fsm.retry_delay() > Duration::from_secs(8));
        fsm.handle_timeout(fsm.poll_timeout().unwrap());
        fsm.handle(Input::Connected, now);
        fsm.handle(Input::Open(open(65000, 90)), now);
        fsm.handle(Input::Keepalive, now);
        fsm.handle(
            Input::Notification(Notification::cease(2)),
            now + Duration::from_secs(60),
        );
        assert_eq!(
            fsm.retry_delay(),
            Duration::from_secs(2),
            "reset to 1 s, then doubled once"
        );
    }

    #[test]
    fn stop_sends_cease_with_the_given_subcode() {
        let mut fsm = Fsm::new(config());
        let now = establish(&mut fsm, 90);
        fsm.handle(Input::Stop { cease_subcode: 2 }, now);
        let outputs = drain(&mut fsm);
        assert_eq!(outputs[0], Output::SendNotification(Notification::cease(2)));
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
        fsm.handle(Input::Stop { cease_subcode: 10 }, now);
        assert_eq!(
            drain(&mut fsm)[0],
            Output::SendNotification(Notification::cease(10))
        );
        assert_eq!(
            Notification::cease(10).to_string(),
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
            Output::SendNotification(Notification::new(5, 1, vec![]))
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
            Output::SendNotification(Notification::new(2, 1, vec![0, 4]))
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
            Output::SendNotification(Notification::new(2, 3, vec![]))
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
