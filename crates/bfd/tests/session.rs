//! BFD session behaviour over a virtual clock: two sessions exchange packets through an
//! in-memory link with 1 ms latency; no sockets, no real time.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use ironlb_bfd::{ControlPacket, Diagnostic, EchoPacket, Event, Parameters, Session, State};

struct Pair {
    now: Instant,
    a: Session,
    b: Session,
    /// Packets in flight: (arrival time, to_b, bytes).
    in_flight: VecDeque<(Instant, bool, Vec<u8>)>,
    a_to_b_cut: bool,
    b_to_a_cut: bool,
    sent_by_a: Vec<(Instant, ControlPacket)>,
    sent_by_b: Vec<(Instant, ControlPacket)>,
    events_a: Vec<(Instant, Event)>,
    events_b: Vec<(Instant, Event)>,
    /// A's echo packets on their way through B's forwarding plane and back.
    echoes: VecDeque<(Instant, EchoPacket)>,
    /// B's forwarding plane returns A's echo packets.
    b_forwards: bool,
}

const LATENCY: Duration = Duration::from_millis(1);

impl Pair {
    fn new(a: Parameters, b: Parameters) -> Pair {
        let now = Instant::now();
        Pair {
            now,
            a: Session::new(a, 0x1111, 7, now),
            b: Session::new(b, 0x2222, 11, now),
            in_flight: VecDeque::new(),
            a_to_b_cut: false,
            b_to_a_cut: false,
            sent_by_a: Vec::new(),
            sent_by_b: Vec::new(),
            events_a: Vec::new(),
            events_b: Vec::new(),
            echoes: VecDeque::new(),
            b_forwards: true,
        }
    }

    /// Runs the pair until `until` (virtual time).
    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        loop {
            self.flush_outputs();
            let next = [
                self.a.poll_timeout(),
                self.b.poll_timeout(),
                self.in_flight.iter().map(|p| p.0).min(),
                self.echoes.iter().map(|e| e.0).min(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|n| *n <= end) else {
                self.now = end;
                return;
            };
            self.now = self.now.max(next);
            // Deliver what arrives now.
            let now = self.now;
            let (due, rest): (Vec<_>, Vec<_>) = self.in_flight.drain(..).partition(|p| p.0 <= now);
            self.in_flight = rest.into();
            for (_, to_b, bytes) in due {
                let packet = ControlPacket::decode(&bytes).expect("valid packet on the wire");
                let target = if to_b { &mut self.b } else { &mut self.a };
                let _ = target.handle_packet(&packet, now);
            }
            let (due, rest): (Vec<_>, Vec<_>) = self.echoes.drain(..).partition(|e| e.0 <= now);
            self.echoes = rest.into();
            for (_, echo) in due {
                self.a.handle_echo(&echo, now);
            }
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
        }
    }

    fn flush_outputs(&mut self) {
        let now = self.now;
        while let Some(echo) = self.a.poll_echo(now) {
            if !self.a_to_b_cut && !self.b_to_a_cut && self.b_forwards {
                self.echoes.push_back((now + 2 * LATENCY, echo));
            }
        }
        while let Some(packet) = self.a.poll_transmit(now) {
            self.sent_by_a.push((now, packet.clone()));
            if !self.a_to_b_cut {
                self.in_flight
                    .push_back((now + LATENCY, true, packet.to_bytes()));
            }
        }
        while let Some(packet) = self.b.poll_transmit(now) {
            self.sent_by_b.push((now, packet.clone()));
            if !self.b_to_a_cut {
                self.in_flight
                    .push_back((now + LATENCY, false, packet.to_bytes()));
            }
        }
        while let Some(event) = self.a.poll_event() {
            self.events_a.push((now, event));
        }
        while let Some(event) = self.b.poll_event() {
            self.events_b.push((now, event));
        }
    }
}

fn profile(tx_ms: u64, rx_ms: u64, multiplier: u8) -> Parameters {
    Parameters {
        desired_min_tx: Duration::from_millis(tx_ms),
        required_min_rx: Duration::from_millis(rx_ms),
        detect_multiplier: multiplier,
        passive: false,
        echo_transmit: None,
        echo_receive: Duration::ZERO,
    }
}

/// A with echo every `echo_ms`, B accepting echo packets every `b_accepts_ms` (0: none).
fn echo_pair(echo_ms: u64, b_accepts_ms: u64) -> Pair {
    let mut a = profile(300, 300, 3);
    a.echo_transmit = Some(Duration::from_millis(echo_ms));
    a.echo_receive = Duration::from_millis(echo_ms);
    let mut b = profile(300, 300, 3);
    b.echo_receive = Duration::from_millis(b_accepts_ms);
    let mut pair = Pair::new(a, b);
    let now = pair.now;
    pair.a.set_echo_path(true, now);
    pair
}

fn echo_started(events: &[(Instant, Event)]) -> Option<(Duration, Duration)> {
    events.iter().find_map(|(_, event)| match event {
        Event::Echo {
            active: true,
            interval,
            detection_time,
        } => Some((*interval, *detection_time)),
        _ => None,
    })
}

#[test]
fn echo_runs_once_up_when_the_peer_accepts_it() {
    let mut pair = echo_pair(50, 50);
    pair.run_for(Duration::from_millis(1000));
    assert_eq!(pair.a.state(), State::Up);
    assert!(pair.a.echo_active());
    assert_eq!(
        echo_started(&pair.events_a),
        Some((Duration::from_millis(50), Duration::from_millis(150)))
    );
    let counters = pair.a.counters();
    assert!(counters.echo_sent >= 15, "{counters:?}");
    // Every echo but the ones still in flight came back.
    assert!(
        counters.echo_received + 1 >= counters.echo_sent,
        "{counters:?}"
    );
    // Our packets invite the peer's echo at our interval.
    let (_, last) = pair.sent_by_a.last().unwrap();
    assert_eq!(last.required_min_echo_rx_interval, 50_000);
}

#[test]
fn echo_goes_no_faster_than_the_peer_accepts_and_not_at_all_if_it_refuses() {
    let mut slower = echo_pair(50, 200);
    slower.run_for(Duration::from_millis(1000));
    assert_eq!(
        echo_started(&slower.events_a),
        Some((Duration::from_millis(200), Duration::from_millis(600)))
    );
    let mut refused = echo_pair(50, 0);
    refused.run_for(Duration::from_millis(1000));
    assert_eq!(refused.a.state(), State::Up);
    assert!(!refused.a.echo_active());
    assert_eq!(refused.a.counters().echo_sent, 0);
}

#[test]
fn without_a_path_or_echo_mode_no_echo_is_sent() {
    let mut a = profile(300, 300, 3);
    a.echo_transmit = Some(Duration::from_millis(50));
    let mut b = profile(300, 300, 3);
    b.echo_receive = Duration::from_millis(50);
    let mut no_path = Pair::new(a, b);
    no_path.run_for(Duration::from_millis(1000));
    assert_eq!(no_path.a.state(), State::Up);
    assert_eq!(no_path.a.counters().echo_sent, 0);
    let mut off = Pair::new(profile(300, 300, 3), b);
    let now = off.now;
    off.a.set_echo_path(true, now);
    off.run_for(Duration::from_millis(1000));
    assert_eq!(off.a.counters().echo_sent, 0);
    // Not asked for echo mode: we do not invite the peer's echo packets either.
    assert!(
        off.sent_by_a
            .iter()
            .all(|(_, p)| p.required_min_echo_rx_interval == 0)
    );
}

#[test]
fn a_peer_that_stops_forwarding_is_detected_by_echo_while_its_control_packets_flow() {
    let mut pair = echo_pair(50, 50);
    pair.run_for(Duration::from_millis(1000));
    assert!(pair.a.echo_active());
    let broken = pair.now;
    pair.b_forwards = false;
    pair.run_for(Duration::from_millis(400));
    let (at, diagnostic) = went_down(&pair.events_a).expect("A went down");
    assert_eq!(diagnostic, Diagnostic::EchoFunctionFailed);
    // Detection: 3 × 50 ms after the last echo came back.
    assert!(
        at - broken <= Duration::from_millis(160),
        "{:?}",
        at - broken
    );
    // The control packets alone would not have noticed: B never timed out.
    assert!(
        went_down(&pair.events_b).is_none_or(|(_, d)| d == Diagnostic::NeighborSignaledSessionDown)
    );
    // While it does not forward, every new Up ends the same way.
    let failures = pair
        .events_a
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::StateChanged {
                    to: State::Down,
                    diagnostic: Diagnostic::EchoFunctionFailed,
                    ..
                }
            )
        })
        .count();
    assert!(failures >= 2, "{:?}", pair.events_a);
    // Forwarding back: the session comes up again and echo runs again.
    pair.b_forwards = true;
    pair.run_for(Duration::from_secs(5));
    assert_eq!(pair.a.state(), State::Up);
    assert!(pair.a.echo_active());
}

fn went_down(events: &[(Instant, Event)]) -> Option<(Instant, Diagnostic)> {
    events.iter().find_map(|(at, event)| match event {
        Event::StateChanged {
            from: State::Up,
            to: State::Down,
            diagnostic,
        } => Some((*at, *diagnostic)),
        _ => None,
    })
}

#[test]
fn three_way_handshake_brings_both_sessions_up() {
    let mut pair = Pair::new(Parameters::default(), Parameters::default());
    pair.run_for(Duration::from_millis(50));
    assert_eq!(pair.a.state(), State::Up);
    assert_eq!(pair.b.state(), State::Up);
    assert_eq!(pair.a.remote_discriminator(), 0x2222);
    let states: Vec<State> = pair.sent_by_a.iter().map(|(_, p)| p.state).collect();
    assert_eq!(
        &states[..2],
        &[State::Down, State::Init],
        "Down, then Init, then Up"
    );
}

#[test]
fn transmits_at_most_once_a_second_while_not_up() {
    // The peer never answers: A stays Down and paces itself at the slow rate.
    let mut pair = Pair::new(Parameters::default(), Parameters::default());
    pair.a_to_b_cut = true;
    pair.b_to_a_cut = true;
    pair.run_for(Duration::from_secs(10));
    assert_eq!(pair.a.state(), State::Down);
    let times: Vec<Instant> = pair.sent_by_a.iter().map(|(t, _)| *t).collect();
    for gap in times.windows(2).map(|w| w[1] - w[0]) {
        assert!(
            gap >= Duration::from_millis(750) && gap <= Duration::from_secs(1),
            "{gap:?}"
        );
    }
    assert!(
        pair.sent_by_a
            .iter()
            .all(|(_, p)| p.desired_min_tx_interval == 1_000_000)
    );
}

#[test]
fn poll_final_moves_to_configured_rate_once_up() {
    let mut pair = Pair::new(profile(300, 300, 3), profile(300, 300, 3));
    pair.run_for(Duration::from_secs(3));
    assert!(
        pair.events_a
            .iter()
            .any(|(_, e)| matches!(e, Event::ParametersNegotiated { .. }))
    );
    assert_eq!(pair.a.transmit_interval(), Duration::from_millis(300));
    assert_eq!(pair.a.detection_time(), Duration::from_millis(900));
    let late: Vec<Instant> = pair
        .sent_by_a
        .iter()
        .filter(|(t, _)| *t > pair.now - Duration::from_secs(1))
        .map(|(t, _)| *t)
        .collect();
    for gap in late.windows(2).map(|w| w[1] - w[0]) {
        assert!(
            gap >= Duration::from_millis(225) && gap <= Duration::from_millis(300),
            "jitter 75-100%: {gap:?}"
        );
    }
    assert!(
        pair.sent_by_a.iter().all(|(_, p)| !(p.poll && p.final_)),
        "never Poll and Final together"
    );
}

#[test]
fn negotiated_intervals_are_the_slower_of_both_sides() {
    let mut pair = Pair::new(profile(50, 50, 3), profile(300, 200, 5));
    pair.run_for(Duration::from_secs(3));
    // A sends at max(its tx 50, B's rx 200) and detects at B's mult × max(A's rx 50, B's tx 300).
    assert_eq!(pair.a.transmit_interval(), Duration::from_millis(200));
    assert_eq!(pair.a.detection_time(), Duration::from_millis(1500));
    assert_eq!(pair.b.transmit_interval(), Duration::from_millis(300));
    assert_eq!(pair.b.detection_time(), Duration::from_millis(200 * 3));
}

#[test]
fn detection_time_expiry_brings_session_down_with_diagnostic_1() {
    let mut pair = Pair::new(profile(300, 300, 3), profile(300, 300, 3));
    pair.run_for(Duration::from_secs(3));
    assert_eq!(pair.a.state(), State::Up);
    let cut_at = pair.now;
    pair.b_to_a_cut = true;
    pair.run_for(Duration::from_secs(2));
    let (down_at, diagnostic) = went_down(&pair.events_a).expect("A goes down");
    assert_eq!(diagnostic, Diagnostic::ControlDetectionTimeExpired);
    let detected_after = down_at - cut_at;
    // The last packet arrived at most one interval before the cut; detection is 900 ms after it.
    assert!(
        detected_after <= Duration::from_millis(900),
        "{detected_after:?}"
    );
    assert!(
        detected_after >= Duration::from_millis(900 - 300),
        "{detected_after:?}"
    );
    assert_eq!(
        pair.a.remote_discriminator(),
        0,
        "the peer is forgotten after a detection time"
    );
    // B, still hearing A say Down, goes down too: neighbor signaled session down.
    let (_, b_diagnostic) = went_down(&pair.events_b).expect("B goes down");
    assert_eq!(b_diagnostic, Diagnostic::NeighborSignaledSessionDown);
}

#[test]
fn session_comes_back_up_after_the_link_heals() {
    let mut pair = Pair::new(Parameters::default(), Parameters::default());
    pair.run_for(Duration::from_secs(2));
    pair.b_to_a_cut = true;
    pair.run_for(Duration::from_secs(3));
    assert_eq!(pair.a.state(), State::Down);
    pair.b_to_a_cut = false;
    pair.run_for(Duration::from_secs(5));
    assert_eq!(pair.a.state(), State::Up);
    assert_eq!(pair.b.state(), State::Up);
}

#[test]
fn admin_down_tells_the_peer_which_goes_down_with_diagnostic_3() {
    let mut pair = Pair::new(Parameters::default(), Parameters::default());
    pair.run_for(Duration::from_secs(2));
    let now = pair.now;
    pair.a.set_admin_down(now);
    pair.run_for(Duration::from_millis(10));
    assert_eq!(pair.a.state(), State::AdminDown);
    assert_eq!(pair.a.diagnostic(), Diagnostic::AdministrativelyDown);
    let (_, diagnostic) = went_down(&pair.events_b).expect("B goes down at once");
    assert_eq!(diagnostic, Diagnostic::NeighborSignaledSessionDown);
}

#[test]
fn parameter_change_while_up_goes_through_poll_final_without_flapping() {
    let mut pair = Pair::new(profile(300, 300, 3), profile(300, 300, 3));
    pair.run_for(Duration::from_secs(3));
    let now = pair.now;
    pair.a.update_parameters(profile(1000, 1000, 3), now);
    pair.b.update_parameters(profile(1000, 1000, 3), now);
    pair.run_for(Duration::from_secs(10));
    assert_eq!(pair.a.state(), State::Up);
    assert!(
        went_down(&pair.events_a).is_none() && went_down(&pair.events_b).is_none(),
        "no flap"
    );
    assert_eq!(pair.a.transmit_interval(), Duration::from_millis(1000));
    assert_eq!(pair.a.detection_time(), Duration::from_millis(3000));
    // And back to fast.
    let now = pair.now;
    pair.a.update_parameters(profile(50, 50, 3), now);
    pair.b.update_parameters(profile(50, 50, 3), now);
    pair.run_for(Duration::from_secs(5));
    assert!(went_down(&pair.events_a).is_none());
    assert_eq!(pair.a.detection_time(), Duration::from_millis(150));
}

#[test]
fn passive_session_waits_for_the_peer_to_speak_first() {
    let passive = Parameters {
        passive: true,
        ..Parameters::default()
    };
    let mut pair = Pair::new(passive, passive);
    pair.run_for(Duration::from_secs(5));
    assert!(pair.sent_by_a.is_empty() && pair.sent_by_b.is_empty());
    let mut pair = Pair::new(passive, Parameters::default());
    pair.run_for(Duration::from_secs(3));
    assert_eq!(pair.a.state(), State::Up);
}

#[test]
fn jitter_is_75_to_90_percent_when_detect_multiplier_is_1() {
    let mut pair = Pair::new(profile(100, 100, 1), profile(100, 100, 3));
    pair.run_for(Duration::from_secs(5));
    let late: Vec<Instant> = pair
        .sent_by_a
        .iter()
        .filter(|(t, _)| *t > pair.now - Duration::from_secs(2))
        .map(|(t, _)| *t)
        .collect();
    assert!(late.len() > 10);
    for gap in late.windows(2).map(|w| w[1] - w[0]) {
        assert!(
            gap >= Duration::from_millis(75) && gap <= Duration::from_millis(90),
            "{gap:?}"
        );
    }
}

#[test]
fn peer_requiring_zero_receive_interval_gets_no_packets() {
    let mut pair = Pair::new(Parameters::default(), Parameters::default());
    pair.run_for(Duration::from_secs(2));
    let now = pair.now;
    let mut silence = pair.sent_by_b.last().unwrap().1.clone();
    silence.required_min_rx_interval = 0;
    silence.your_discriminator = pair.a.local_discriminator();
    pair.a.handle_packet(&silence, now).unwrap();
    let sent_before = pair.sent_by_a.len();
    pair.b_to_a_cut = true;
    pair.a_to_b_cut = true;
    // A must not transmit while the peer asks for nothing (it will time out instead).
    pair.run_for(Duration::from_millis(500));
    assert_eq!(pair.sent_by_a.len(), sent_before);
}

#[test]
fn flood_of_foreign_and_replayed_packets_does_not_bring_a_healthy_session_down() {
    let mut pair = Pair::new(profile(300, 300, 3), profile(300, 300, 3));
    pair.run_for(Duration::from_secs(3));
    let now = pair.now;
    let genuine = pair.sent_by_b.last().unwrap().1.clone();
    let mut seed = 99u64;
    let mut discarded = 0;
    for i in 0..10_000u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Random garbage, then packets for other discriminators claiming Down.
        let bytes: Vec<u8> = (0..24).map(|k| (seed >> (k % 8 * 8)) as u8).collect();
        if let Ok(packet) = ControlPacket::decode(&bytes)
            && pair.a.handle_packet(&packet, now).is_err()
        {
            discarded += 1;
        }
        let foreign = ControlPacket {
            state: State::Down,
            your_discriminator: 0x9999 + i,
            ..genuine.clone()
        };
        assert!(pair.a.handle_packet(&foreign, now).is_err());
    }
    // Replays of the genuine Up packet are valid and harmless.
    for _ in 0..100 {
        pair.a.handle_packet(&genuine, now).unwrap();
    }
    assert!(discarded > 0);
    pair.run_for(Duration::from_secs(3));
    assert_eq!(pair.a.state(), State::Up);
    assert!(went_down(&pair.events_a).is_none());
}

#[test]
fn fifty_ms_profile_detects_in_150_ms() {
    let mut pair = Pair::new(profile(50, 50, 3), profile(50, 50, 3));
    pair.run_for(Duration::from_secs(3));
    let cut_at = pair.now;
    pair.b_to_a_cut = true;
    pair.run_for(Duration::from_secs(1));
    let (down_at, _) = went_down(&pair.events_a).unwrap();
    assert!(
        down_at - cut_at <= Duration::from_millis(150),
        "{:?}",
        down_at - cut_at
    );
}
