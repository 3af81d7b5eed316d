//! One BFD session in asynchronous mode (RFC 5880 §6), sans-IO.
//!
//! Inputs: received packets ([`Session::handle_packet`]), the passing of time
//! ([`Session::handle_timeout`]) and commands ([`Session::set_admin_down`],
//! [`Session::update_parameters`]). Outputs are pulled: [`Session::poll_transmit`] for packets
//! to send, [`Session::poll_timeout`] for when to call back, [`Session::poll_event`] for state
//! changes. No sockets, no clock: tests drive it over a virtual clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::echo::EchoPacket;
use crate::packet::{ControlPacket, Diagnostic, DiscardReason, State};

/// While a session is not Up, packets go out at most once a second (RFC 5880 §6.8.3).
pub const SLOW_TRANSMIT_INTERVAL: Duration = Duration::from_secs(1);

/// Session parameters, as a BFDProfile gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parameters {
    /// Desired minimum transmit interval once Up.
    pub desired_min_tx: Duration,
    /// Required minimum receive interval.
    pub required_min_rx: Duration,
    /// Detection multiplier (≥ 1).
    pub detect_multiplier: u8,
    /// Wait for the peer to speak first (RFC 5880 §6.1 passive role).
    pub passive: bool,
    /// The Echo function (RFC 5880 §6.4; BFDProfile `echoMode`): the interval we want to send
    /// echo packets at (`echoInterval`), or None for no echo. Echo runs while the session is
    /// Up, the peer advertises a nonzero Required Min Echo RX Interval and the driver has a
    /// path for it ([`Session::set_echo_path`]).
    pub echo_transmit: Option<Duration>,
    /// The Required Min Echo RX Interval we advertise: how often the peer may send us its echo
    /// packets (which our forwarding plane returns); zero when we cannot return them.
    pub echo_receive: Duration,
}

impl Default for Parameters {
    /// MetalLB's and FRR's defaults: 300 ms / 300 ms / × 3, active.
    fn default() -> Self {
        Parameters {
            desired_min_tx: Duration::from_millis(300),
            required_min_rx: Duration::from_millis(300),
            detect_multiplier: 3,
            passive: false,
            echo_transmit: None,
            echo_receive: Duration::ZERO,
        }
    }
}

/// What a session reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The session changed state. `diagnostic` says why it went down, when it did.
    StateChanged {
        from: State,
        to: State,
        diagnostic: Diagnostic,
    },
    /// A Poll sequence completed: both sides now use the new parameters.
    ParametersNegotiated {
        transmit_interval: Duration,
        detection_time: Duration,
    },
    /// The Echo function started (echo packets go out every `interval`, and the session goes
    /// Down when none comes back for `detection_time`) or stopped.
    Echo {
        active: bool,
        interval: Duration,
        detection_time: Duration,
    },
}

/// Counters for observability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets_received: u64,
    pub packets_sent: u64,
    pub packets_discarded: u64,
    pub up_transitions: u64,
    pub down_transitions: u64,
    pub echo_sent: u64,
    pub echo_received: u64,
}

/// One BFD session.
#[derive(Debug)]
pub struct Session {
    parameters: Parameters,
    state: State,
    remote_state: State,
    local_discriminator: u32,
    remote_discriminator: u32,
    diagnostic: Diagnostic,
    remote_min_rx: Duration,
    remote_desired_min_tx: Duration,
    remote_detect_multiplier: u8,
    /// The intervals advertised in our packets.
    advertised_tx: Duration,
    advertised_rx: Duration,
    /// The intervals our own timing uses (lag the advertised ones during a Poll sequence).
    timing_tx: Duration,
    timing_rx: Duration,
    poll_active: bool,
    send_final: bool,
    send_now: bool,
    next_transmit: Option<Instant>,
    detection_deadline: Option<Instant>,
    random: u64,
    events: VecDeque<Event>,
    counters: Counters,
    /// The peer's Required Min Echo RX Interval (zero: it does not want echo packets).
    remote_min_echo_rx: Duration,
    /// The driver can send echo packets (it knows the peer's link-layer address).
    echo_path: bool,
    echo_active: bool,
    echo_next: Option<Instant>,
    echo_deadline: Option<Instant>,
    echo_sequence: u64,
}

impl Session {
    /// A new session in state Down. `local_discriminator` must be nonzero and unique on this
    /// system; `seed` feeds the transmit jitter (any value; tests fix it).
    pub fn new(parameters: Parameters, local_discriminator: u32, seed: u64, now: Instant) -> Self {
        let mut session = Session {
            parameters,
            state: State::Down,
            remote_state: State::Down,
            local_discriminator: local_discriminator.max(1),
            remote_discriminator: 0,
            diagnostic: Diagnostic::None,
            // RFC 5880 §6.8.1: initial RemoteMinRxInterval is 1 µs.
            remote_min_rx: Duration::from_micros(1),
            remote_desired_min_tx: Duration::ZERO,
            remote_detect_multiplier: 0,
            advertised_tx: SLOW_TRANSMIT_INTERVAL.max(parameters.desired_min_tx),
            advertised_rx: parameters.required_min_rx,
            timing_tx: SLOW_TRANSMIT_INTERVAL.max(parameters.desired_min_tx),
            timing_rx: parameters.required_min_rx,
            poll_active: false,
            send_final: false,
            send_now: false,
            next_transmit: None,
            detection_deadline: None,
            random: seed | 1,
            events: VecDeque::new(),
            counters: Counters::default(),
            remote_min_echo_rx: Duration::ZERO,
            echo_path: false,
            echo_active: false,
            echo_next: None,
            echo_deadline: None,
            echo_sequence: 0,
        };
        if !parameters.passive {
            session.next_transmit = Some(now);
        }
        session
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The state the peer last reported.
    pub fn remote_state(&self) -> State {
        self.remote_state
    }

    /// The diagnostic: why the session last went down.
    pub fn diagnostic(&self) -> Diagnostic {
        self.diagnostic
    }

    /// Our discriminator.
    pub fn local_discriminator(&self) -> u32 {
        self.local_discriminator
    }

    /// The peer's discriminator (0 until heard from, or after a detection time of silence).
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discriminator
    }

    /// Counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The configured parameters.
    pub fn parameters(&self) -> Parameters {
        self.parameters
    }

    /// Negotiated transmit interval: max(our desired tx, the peer's required rx).
    pub fn transmit_interval(&self) -> Duration {
        self.timing_tx.max(self.remote_min_rx)
    }

    /// Negotiated receive interval: max(our required rx, the peer's desired tx).
    pub fn receive_interval(&self) -> Duration {
        self.timing_rx.max(self.remote_desired_min_tx)
    }

    /// Detection time (asynchronous mode): the peer's multiplier × the negotiated receive
    /// interval (RFC 5880 §6.8.4).
    pub fn detection_time(&self) -> Duration {
        self.receive_interval() * u32::from(self.remote_detect_multiplier)
    }

    /// Handles a received packet that already passed [`ControlPacket::decode`]'s checks and
    /// was matched to this session. Returns why it was discarded, if it was.
    pub fn handle_packet(
        &mut self,
        packet: &ControlPacket,
        now: Instant,
    ) -> Result<(), DiscardReason> {
        // Authentication is not configured on IronLB sessions: authenticated packets are refused.
        if packet.authentication.is_some() {
            self.counters.packets_discarded += 1;
            return Err(DiscardReason::UnexpectedAuthentication);
        }
        if packet.your_discriminator != 0 && packet.your_discriminator != self.local_discriminator {
            self.counters.packets_discarded += 1;
            return Err(DiscardReason::UnknownDiscriminator);
        }
        self.counters.packets_received += 1;
        let was_silent = self.remote_discriminator == 0;
        self.remote_discriminator = packet.my_discriminator;
        self.remote_state = packet.state;
        self.remote_desired_min_tx =
            Duration::from_micros(u64::from(packet.desired_min_tx_interval));
        self.remote_detect_multiplier = packet.detect_multiplier;
        let previous_remote_min_rx = self.remote_min_rx;
        self.remote_min_rx = Duration::from_micros(u64::from(packet.required_min_rx_interval));
        self.remote_min_echo_rx =
            Duration::from_micros(u64::from(packet.required_min_echo_rx_interval));

        if packet.final_ && self.poll_active {
            self.poll_active = false;
            self.timing_tx = self.advertised_tx;
            self.timing_rx = self.advertised_rx;
            self.events.push_back(Event::ParametersNegotiated {
                transmit_interval: self.transmit_interval(),
                detection_time: self.detection_time(),
            });
        }
        if packet.poll {
            self.send_final = true;
        }
        // A passive session starts sending once it has heard from its peer.
        if was_silent && self.next_transmit.is_none() {
            self.next_transmit = Some(now);
        }
        // The peer changed its required receive rate. Slower: our next packet must respect
        // it. Faster: send at the new rate now, or the peer (whose detection time already
        // shrank) would declare us dead before our next packet under the old rate.
        if self.remote_min_rx != previous_remote_min_rx && !self.remote_min_rx.is_zero() {
            let scheduled = self.next_transmit;
            self.reschedule_transmit(now);
            if self.remote_min_rx < previous_remote_min_rx
                && let (Some(old), Some(new)) = (scheduled, self.next_transmit)
                && old < new
            {
                self.next_transmit = Some(old);
            }
        }

        if self.state == State::AdminDown {
            return Ok(());
        }
        match (self.state, packet.state) {
            (State::Down | State::Init | State::Up, State::AdminDown)
                if self.state != State::Down =>
            {
                self.transition(State::Down, Diagnostic::NeighborSignaledSessionDown, now);
            }
            (State::Down, State::Down) => self.transition(State::Init, Diagnostic::None, now),
            (State::Down, State::Init) => self.transition(State::Up, Diagnostic::None, now),
            (State::Init, State::Init | State::Up) => {
                self.transition(State::Up, Diagnostic::None, now)
            }
            (State::Up, State::Down) => {
                self.transition(State::Down, Diagnostic::NeighborSignaledSessionDown, now);
            }
            _ => {}
        }
        if packet.state != State::AdminDown || self.state != State::Down {
            self.detection_deadline = Some(now + self.detection_time());
        }
        self.update_echo(now);
        Ok(())
    }

    /// Whether the driver can send echo packets now (it knows the peer's link-layer address
    /// and has a socket for them). Echo stops without it.
    pub fn set_echo_path(&mut self, available: bool, now: Instant) {
        self.echo_path = available;
        self.update_echo(now);
    }

    /// The Echo function runs (see [`Parameters::echo_transmit`]).
    pub fn echo_active(&self) -> bool {
        self.echo_active
    }

    /// The interval of echo packets: ours, or the peer's minimum if it is slower.
    pub fn echo_interval(&self) -> Duration {
        self.parameters
            .echo_transmit
            .unwrap_or_default()
            .max(self.remote_min_echo_rx)
    }

    /// How long without a returned echo packet before the session goes Down: our detect
    /// multiplier × the echo interval.
    pub fn echo_detection_time(&self) -> Duration {
        self.echo_interval() * u32::from(self.parameters.detect_multiplier)
    }

    /// The next echo packet to send, if one is due at `now`.
    pub fn poll_echo(&mut self, now: Instant) -> Option<EchoPacket> {
        self.echo_next.filter(|at| now >= *at)?;
        self.echo_sequence += 1;
        self.counters.echo_sent += 1;
        self.echo_next = Some(now + self.echo_interval());
        Some(EchoPacket {
            discriminator: self.local_discriminator,
            sequence: self.echo_sequence,
        })
    }

    /// An echo packet came back. Packets of another session, or arriving while echo does not
    /// run, are ignored.
    pub fn handle_echo(&mut self, packet: &EchoPacket, now: Instant) {
        if !self.echo_active || packet.discriminator != self.local_discriminator {
            return;
        }
        self.counters.echo_received += 1;
        self.echo_deadline = Some(now + self.echo_detection_time());
    }

    /// Starts or stops the Echo function as the session's state, the peer's willingness and
    /// the driver's path allow.
    fn update_echo(&mut self, now: Instant) {
        let active = self.state == State::Up
            && self.parameters.echo_transmit.is_some()
            && !self.remote_min_echo_rx.is_zero()
            && self.echo_path;
        if active == self.echo_active {
            return;
        }
        self.echo_active = active;
        if active {
            self.echo_next = Some(now);
            self.echo_deadline = Some(now + self.echo_detection_time());
        } else {
            self.echo_next = None;
            self.echo_deadline = None;
        }
        self.events.push_back(Event::Echo {
            active,
            interval: self.echo_interval(),
            detection_time: self.echo_detection_time(),
        });
    }

    /// Fires the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.echo_deadline.is_some_and(|deadline| now >= deadline) {
            // The peer's forwarding plane stopped returning our echo packets.
            self.transition(State::Down, Diagnostic::EchoFunctionFailed, now);
        }
        if let Some(deadline) = self.detection_deadline
            && now >= deadline
        {
            self.detection_deadline = None;
            match self.state {
                State::Init | State::Up => {
                    self.transition(State::Down, Diagnostic::ControlDetectionTimeExpired, now);
                }
                _ => {}
            }
            // RFC 5880 §6.8.1: after a detection time of silence, forget the peer.
            self.remote_discriminator = 0;
            self.remote_min_rx = Duration::from_micros(1);
            self.remote_state = State::Down;
            if self.parameters.passive && self.state != State::Up {
                self.next_transmit = None;
            }
        }
    }

    /// The next packet to send, if one is due at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<ControlPacket> {
        // The peer asked for no packets at all (RequiredMinRx 0).
        if self.remote_min_rx.is_zero() && !self.send_final {
            return None;
        }
        let periodic_due = self.next_transmit.is_some_and(|at| now >= at);
        if !(periodic_due || self.send_final || self.send_now) {
            return None;
        }
        if self.next_transmit.is_none() && !self.send_final {
            return None;
        }
        let final_ = self.send_final;
        self.send_final = false;
        self.send_now = false;
        if periodic_due || self.next_transmit.is_none() {
            self.reschedule_transmit(now);
        }
        self.counters.packets_sent += 1;
        Some(ControlPacket {
            diagnostic: self.diagnostic,
            state: self.state,
            // A packet never carries both Poll and Final (RFC 5880 §6.5).
            poll: self.poll_active && !final_,
            final_,
            control_plane_independent: false,
            demand: false,
            multipoint: false,
            detect_multiplier: self.parameters.detect_multiplier,
            my_discriminator: self.local_discriminator,
            your_discriminator: self.remote_discriminator,
            desired_min_tx_interval: micros(self.advertised_tx),
            required_min_rx_interval: micros(self.advertised_rx),
            required_min_echo_rx_interval: micros(self.parameters.echo_receive),
            authentication: None,
        })
    }

    /// When to call [`Session::handle_timeout`] / [`Session::poll_transmit`] next. Packets
    /// due at once (a Final, a state change) are returned by the `poll_transmit` call the
    /// driver makes after every input, so they need no timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Transmission is suspended while the peer requires no packets (RequiredMinRx 0).
        let next_transmit = self.next_transmit.filter(|_| !self.remote_min_rx.is_zero());
        [
            next_transmit,
            self.detection_deadline,
            self.echo_next,
            self.echo_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Takes the session administratively down (diagnostic 7); the peer is told.
    pub fn set_admin_down(&mut self, now: Instant) {
        if self.state != State::AdminDown {
            self.transition(State::AdminDown, Diagnostic::AdministrativelyDown, now);
            self.detection_deadline = None;
        }
    }

    /// Brings an administratively down session back to Down, to come up again.
    pub fn enable(&mut self, now: Instant) {
        if self.state == State::AdminDown {
            self.transition(State::Down, Diagnostic::None, now);
        }
    }

    /// Changes the parameters. While Up this runs a Poll sequence (RFC 5880 §6.8.3): a slower
    /// transmit rate or a faster receive requirement takes effect in our timing only once the
    /// peer has answered with Final, so the session does not flap.
    pub fn update_parameters(&mut self, parameters: Parameters, now: Instant) {
        self.parameters = parameters;
        let (tx, rx) = if self.state == State::Up {
            (parameters.desired_min_tx, parameters.required_min_rx)
        } else {
            (
                SLOW_TRANSMIT_INTERVAL.max(parameters.desired_min_tx),
                parameters.required_min_rx,
            )
        };
        self.set_advertised(tx, rx, now);
        if parameters.passive && self.remote_discriminator == 0 && self.state != State::Up {
            self.next_transmit = None;
        } else if self.next_transmit.is_none() {
            self.next_transmit = Some(now);
        }
        // Echo turned on or off; a running one keeps its timers, at the new interval from
        // the next packet on.
        self.update_echo(now);
    }

    fn set_advertised(&mut self, tx: Duration, rx: Duration, now: Instant) {
        if tx == self.advertised_tx && rx == self.advertised_rx {
            return;
        }
        self.advertised_tx = tx;
        self.advertised_rx = rx;
        if self.state == State::Up {
            self.poll_active = true;
            // Safe changes apply at once: sending faster, or tolerating more silence.
            if tx < self.timing_tx {
                self.timing_tx = tx;
                self.reschedule_transmit(now);
            }
            if rx > self.timing_rx {
                self.timing_rx = rx;
            }
            self.send_now = true;
        } else {
            self.timing_tx = tx;
            self.timing_rx = rx;
        }
    }

    fn transition(&mut self, to: State, diagnostic: Diagnostic, now: Instant) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        if to == State::Down || to == State::AdminDown {
            self.diagnostic = diagnostic;
        }
        if to == State::Up {
            self.counters.up_transitions += 1;
            // Up: move from the 1 s pace to the configured rate, through a Poll sequence.
            let parameters = self.parameters;
            self.set_advertised(parameters.desired_min_tx, parameters.required_min_rx, now);
        } else if from == State::Up {
            self.counters.down_transitions += 1;
            self.poll_active = false;
            let parameters = self.parameters;
            self.set_advertised(
                SLOW_TRANSMIT_INTERVAL.max(parameters.desired_min_tx),
                parameters.required_min_rx,
                now,
            );
        }
        self.events.push_back(Event::StateChanged {
            from,
            to,
            diagnostic,
        });
        // Tell the peer at once rather than at the next periodic packet.
        self.send_now = true;
        self.update_echo(now);
    }

    /// Schedules the next periodic packet with jitter: 75–100 % of the interval, 75–90 % when
    /// the detect multiplier is 1 (RFC 5880 §6.8.7).
    fn reschedule_transmit(&mut self, now: Instant) {
        let interval = if self.state == State::Up {
            self.transmit_interval()
        } else {
            self.transmit_interval().max(SLOW_TRANSMIT_INTERVAL)
        };
        let ceiling = if self.parameters.detect_multiplier == 1 {
            90
        } else {
            100
        };
        let percent = 75 + self.next_random() % (ceiling - 75 + 1);
        let jittered = interval * u32::try_from(percent).unwrap_or(100) / 100;
        self.next_transmit = Some(now + jittered);
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: deterministic for a given seed, good enough for jitter.
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
    }
}

fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}
