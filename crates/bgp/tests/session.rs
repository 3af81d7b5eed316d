//! Two sessions talking to each other in memory, over a virtual clock.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use ironlb_bgp::fsm::{Config, DownReason, RemoteAs, State};
use ironlb_bgp::packet::{
    CeaseSubcode, CodecContext, Community, ExtendedNextHop, Family, Ipv6NextHop, LargeCommunity,
    Message, MpReachNlri, MpUnreachNlri, NextHop, PathAttribute, Received, UpdateOutcome,
    frame_length,
};
use ironlb_bgp::session::{
    GracefulRestartConfig, RouteAttributes, Session, SessionConfig, SessionEvent, SessionOutput,
};

const A_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
const B_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

/// Side A (the IronLB speaker) connects; side B (the router) is passive.
struct Pair {
    a: Session,
    b: Session,
    now: Instant,
    connected: bool,
    a_events: Vec<SessionEvent>,
    b_events: Vec<SessionEvent>,
    /// Every message A sent, decoded with the context of the moment.
    a_sent: Vec<Message>,
    /// While false, bytes are dropped (a cut link).
    link_up: bool,
    /// A's local address and its interface's address of the other family.
    a_address: IpAddr,
    a_other_family: Option<IpAddr>,
    /// A's interface's global IPv6 address when A connects from a link-local one.
    a_link_global: Option<Ipv6Addr>,
}

fn config(local_as: u32, remote_as: u32, id: [u8; 4]) -> SessionConfig {
    let mut fsm = Config::new(local_as, RemoteAs::Exactly(remote_as), Ipv4Addr::from(id));
    fsm.hold_time = Duration::from_secs(9);
    let mut config = SessionConfig::new(fsm);
    config.batch_delay = Duration::from_millis(5);
    config
}

impl Pair {
    fn new(a: SessionConfig, mut b: SessionConfig) -> Pair {
        b.fsm.passive = true;
        let now = Instant::now();
        let mut pair = Pair {
            a: Session::new(a),
            b: Session::new(b),
            now,
            connected: false,
            a_events: Vec::new(),
            b_events: Vec::new(),
            a_sent: Vec::new(),
            link_up: true,
            a_address: A_ADDRESS,
            a_other_family: None,
            a_link_global: None,
        };
        pair.b.start(now);
        pair.a.start(now);
        pair.run();
        pair
    }

    fn ebgp() -> Pair {
        Pair::new(
            config(65100, 65000, [10, 0, 0, 2]),
            config(65000, 65100, [10, 0, 0, 1]),
        )
    }

    /// Moves messages until both sides are quiet.
    fn run(&mut self) {
        loop {
            let mut moved = false;
            while let Some(output) = self.a.poll_output() {
                moved = true;
                match output {
                    SessionOutput::Connect => {
                        if self.link_up {
                            self.connected = true;
                            self.b.handle_connected(B_ADDRESS, self.now);
                            match self.a_address {
                                IpAddr::V6(local) if local.is_unicast_link_local() => {
                                    self.a.handle_connected_unnumbered(
                                        local,
                                        self.a_link_global,
                                        None,
                                        self.now,
                                    )
                                }
                                _ => self.a.handle_connected_on(
                                    self.a_address,
                                    self.a_other_family,
                                    self.now,
                                ),
                            }
                        } else {
                            self.a
                                .handle_connection_failed("no route to host", self.now);
                        }
                    }
                    SessionOutput::Send(bytes) => {
                        self.record_a(&bytes);
                        if self.connected && self.link_up {
                            self.b.handle_bytes(&bytes, self.now);
                        }
                    }
                    SessionOutput::Disconnect => {
                        if self.connected {
                            self.connected = false;
                            if self.link_up {
                                self.b.handle_connection_failed("closed by peer", self.now);
                            }
                        }
                    }
                    SessionOutput::Event(event) => self.a_events.push(event),
                }
            }
            while let Some(output) = self.b.poll_output() {
                moved = true;
                match output {
                    SessionOutput::Connect => {}
                    SessionOutput::Send(bytes) => {
                        if self.connected && self.link_up {
                            self.a.handle_bytes(&bytes, self.now);
                        }
                    }
                    SessionOutput::Disconnect => {
                        if self.connected {
                            self.connected = false;
                            if self.link_up {
                                self.a.handle_connection_failed("closed by peer", self.now);
                            }
                        }
                    }
                    SessionOutput::Event(event) => self.b_events.push(event),
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn record_a(&mut self, bytes: &[u8]) {
        let context = self.a.context();
        let mut rest = bytes;
        while let Some(Ok(length)) = frame_length(rest, &context) {
            let (frame, tail) = rest.split_at(length);
            match Received::decode(frame, &context).expect("A sends valid messages") {
                Received::Update(UpdateOutcome::Accepted { update, .. }) => {
                    self.a_sent.push(Message::Update(update));
                }
                Received::Open(open) => self.a_sent.push(Message::Open(open)),
                Received::Keepalive => self.a_sent.push(Message::Keepalive),
                Received::Notification(n) => self.a_sent.push(Message::Notification(n)),
                Received::RouteRefresh(r) => self.a_sent.push(Message::RouteRefresh(r)),
                other => panic!("unexpected {other:?}"),
            }
            rest = tail;
        }
    }

    /// Advances the virtual clock by `duration`, firing timers on the way.
    fn advance(&mut self, duration: Duration) {
        let end = self.now + duration;
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .filter(|at| *at <= end)
                .min();
            let Some(at) = next else { break };
            self.now = at.max(self.now);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            self.run();
        }
        self.now = end;
        self.run();
    }

    fn updates_sent_by_a(&self) -> usize {
        self.a_sent
            .iter()
            .filter(|m| matches!(m, Message::Update(_)))
            .count()
    }
}

fn routes(prefixes: &[&str], attributes: &RouteAttributes) -> BTreeMap<IpNet, RouteAttributes> {
    prefixes
        .iter()
        .map(|p| (p.parse().unwrap(), attributes.clone()))
        .collect()
}

fn prefix(text: &str) -> IpNet {
    text.parse().unwrap()
}

#[test]
fn open_exchange_reaches_established_on_both_sides() {
    let pair = Pair::ebgp();
    assert_eq!(pair.a.state(), State::Established);
    assert_eq!(pair.b.state(), State::Established);
    let established = pair
        .a_events
        .iter()
        .find_map(|e| match e {
            SessionEvent::Established {
                peer_as, families, ..
            } => Some((*peer_as, families.clone())),
            _ => None,
        })
        .expect("A reports Established");
    assert_eq!(
        established,
        (65000, vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST])
    );
    assert!(pair.a.context().four_octet_as);
    assert!(pair.a.context().extended_messages);
}

#[test]
fn external_routes_carry_our_as_next_hop_self_and_communities_but_no_local_pref() {
    let mut pair = Pair::ebgp();
    let attributes = RouteAttributes {
        communities: vec![Community::new(65000, 100)],
        large_communities: vec![LargeCommunity::new(1, 2, 3)],
        local_preference: Some(300),
    };
    pair.a.set_routes(
        routes(&["203.0.113.5/32", "2001:db8::5/128"], &attributes),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    let received = pair.b.received();
    assert_eq!(received.len(), 2);
    let v4 = &received[&prefix("203.0.113.5/32")].attributes;
    assert!(v4.contains(&PathAttribute::NextHop(Ipv4Addr::new(10, 0, 0, 2))));
    assert!(v4.iter().any(
        |a| matches!(a, PathAttribute::AsPath(p) if p.first_as() == Some(65100) && p.length() == 1)
    ));
    assert!(v4.contains(&PathAttribute::Communities(vec![Community::new(
        65000, 100
    )])));
    assert!(
        v4.contains(&PathAttribute::LargeCommunities(vec![LargeCommunity::new(
            1, 2, 3
        )]))
    );
    assert!(
        !v4.iter()
            .any(|a| matches!(a, PathAttribute::LocalPreference(_)))
    );
    assert_eq!(pair.a.advertised().len(), 2);
}

#[test]
fn internal_routes_carry_local_pref_and_an_empty_as_path() {
    let mut pair = Pair::new(
        config(65000, 65000, [10, 0, 0, 2]),
        config(65000, 65000, [10, 0, 0, 1]),
    );
    let with = RouteAttributes {
        local_preference: Some(250),
        ..RouteAttributes::default()
    };
    let mut desired = routes(&["203.0.113.5/32"], &with);
    desired.extend(routes(&["203.0.113.6/32"], &RouteAttributes::default()));
    pair.a.set_routes(desired, pair.now);
    pair.advance(Duration::from_millis(10));
    let five = &pair.b.received()[&prefix("203.0.113.5/32")].attributes;
    assert!(five.contains(&PathAttribute::LocalPreference(250)));
    assert!(
        five.iter()
            .any(|a| matches!(a, PathAttribute::AsPath(p) if p.length() == 0))
    );
    let six = &pair.b.received()[&prefix("203.0.113.6/32")].attributes;
    assert!(six.contains(&PathAttribute::LocalPreference(100)));
}

#[test]
fn a_lone_change_goes_at_once_and_a_flapping_route_costs_one_update_per_batch_window() {
    let mut pair = Pair::ebgp();
    pair.advance(Duration::from_millis(10));
    let before = pair.updates_sent_by_a();
    // Nothing sent in the last batch delay: the change goes out without waiting.
    pair.a.set_routes(
        routes(&["203.0.113.5/32"], &RouteAttributes::default()),
        pair.now,
    );
    pair.run();
    assert_eq!(pair.updates_sent_by_a() - before, 1);
    assert_eq!(pair.b.received().len(), 1);
    // A change right after waits for the rest of the window (5 ms here).
    pair.a
        .set_routes(BTreeMap::<IpNet, RouteAttributes>::new(), pair.now);
    pair.run();
    assert_eq!(pair.b.received().len(), 1);
    pair.advance(Duration::from_millis(6));
    assert!(pair.b.received().is_empty());
}

#[test]
fn a_route_flapping_within_the_batch_window_costs_at_most_two_updates() {
    let mut pair = Pair::ebgp();
    let before = pair.updates_sent_by_a();
    let attributes = RouteAttributes::default();
    for i in 0..1000 {
        let desired = if i % 2 == 0 {
            routes(&["203.0.113.5/32"], &attributes)
        } else {
            BTreeMap::new()
        };
        pair.a.set_routes(desired, pair.now);
        pair.advance(Duration::from_micros(3));
    }
    pair.advance(Duration::from_millis(10));
    // The first change at once, the 999 others together at the end of the window.
    assert!(pair.updates_sent_by_a() - before <= 2);
    // It ended withdrawn (i = 999 is odd): the router has nothing.
    assert!(pair.b.received().is_empty());
}

#[test]
fn many_prefixes_with_the_same_attributes_share_updates() {
    let mut pair = Pair::ebgp();
    let before = pair.updates_sent_by_a();
    let desired: BTreeMap<IpNet, RouteAttributes> = (0..10_000u32)
        .map(|i| {
            let address = Ipv4Addr::from(0xcb00_0000 + i);
            (
                IpNet::new(address.into(), 32).unwrap(),
                RouteAttributes::default(),
            )
        })
        .collect();
    pair.a.set_routes(desired, pair.now);
    pair.advance(Duration::from_millis(10));
    assert_eq!(pair.b.received().len(), 10_000);
    let updates = pair.updates_sent_by_a() - before;
    // Extended messages: 65535 octets hold ~13,000 /32s; never one UPDATE per prefix.
    assert!(updates <= 2, "{updates} UPDATEs for 10,000 prefixes");
    // Withdrawing them all is as compact.
    let before = pair.updates_sent_by_a();
    pair.a
        .set_routes(BTreeMap::<IpNet, RouteAttributes>::new(), pair.now);
    pair.advance(Duration::from_millis(10));
    assert!(pair.b.received().is_empty());
    assert!(pair.updates_sent_by_a() - before <= 2);
}

#[test]
fn after_a_reconnect_everything_is_sent_again_then_end_of_rib() {
    let mut pair = Pair::ebgp();
    pair.a.set_routes(
        routes(
            &["203.0.113.5/32", "203.0.113.6/32"],
            &RouteAttributes::default(),
        ),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    // B restarts its side administratively; A reconnects after its backoff.
    pair.b.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
    pair.run();
    assert!(pair.a_events.iter().any(|e| matches!(e, SessionEvent::Down(DownReason::NotificationReceived(n)) if n.code.code() == 6 && n.subcode == 2)));
    assert!(pair.a.advertised().is_empty());
    pair.b.start(pair.now);
    pair.a_sent.clear();
    pair.advance(Duration::from_secs(5));
    assert_eq!(pair.a.state(), State::Established);
    assert_eq!(pair.b.received().len(), 2);
    let updates: Vec<_> = pair
        .a_sent
        .iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u),
            _ => None,
        })
        .collect();
    let eors: Vec<Family> = updates
        .iter()
        .filter_map(|u| u.end_of_rib_family())
        .collect();
    assert_eq!(eors, [Family::IPV4_UNICAST, Family::IPV6_UNICAST]);
    // The routes come before the End-of-RIB markers.
    assert!(updates.first().unwrap().end_of_rib_family().is_none());
    assert!(
        pair.b_events
            .contains(&SessionEvent::EndOfRibReceived(Family::IPV4_UNICAST))
    );
}

#[test]
fn hold_timer_expiry_sends_notification_4_0_when_the_link_is_cut() {
    let mut pair = Pair::ebgp();
    pair.link_up = false;
    pair.advance(Duration::from_secs(10));
    assert!(
        pair.a_sent
            .iter()
            .any(|m| matches!(m, Message::Notification(n) if n.code.code() == 4 && n.subcode == 0))
    );
    assert!(pair.a_events.iter().any(
        |e| matches!(e, SessionEvent::Down(DownReason::NotificationSent(n)) if n.code.code() == 4)
    ));
}

#[test]
fn keepalives_keep_an_idle_session_up() {
    let mut pair = Pair::ebgp();
    pair.advance(Duration::from_secs(120));
    assert_eq!(pair.a.state(), State::Established);
    assert_eq!(pair.a.statistics().established_transitions, 1);
    let keepalives = pair
        .a_sent
        .iter()
        .filter(|m| matches!(m, Message::Keepalive))
        .count();
    // Hold 9 s, keepalive every 3 s: about 40 in two minutes.
    assert!((35..=45).contains(&keepalives), "{keepalives} keepalives");
}

#[test]
fn a_new_process_sets_the_restart_bit_on_its_first_session_and_the_forwarding_bits_always() {
    let mut a = config(65100, 65000, [10, 0, 0, 2]);
    a.graceful_restart = Some(GracefulRestartConfig { restart_time: 120 });
    let mut b = config(65000, 65100, [10, 0, 0, 1]);
    b.graceful_restart = Some(GracefulRestartConfig { restart_time: 120 });
    let mut pair = Pair::new(a, b);
    let opens: Vec<_> = pair
        .a_sent
        .iter()
        .filter_map(|m| match m {
            Message::Open(open) => open.graceful_restart().cloned(),
            _ => None,
        })
        .collect();
    assert_eq!(opens.len(), 1);
    assert!(opens[0].restart_state);
    assert_eq!(opens[0].restart_time, 120);
    assert!(opens[0].families.iter().all(|f| f.forwarding_state));
    assert!(pair.a_events.iter().any(|e| matches!(
        e,
        SessionEvent::Established {
            restarting: true,
            graceful_restart: true,
            ..
        }
    )));
    // The next session after this one is not a restart.
    pair.b.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
    pair.run();
    pair.b.start(pair.now);
    pair.a_sent.clear();
    pair.advance(Duration::from_secs(5));
    let open = pair
        .a_sent
        .iter()
        .find_map(|m| match m {
            Message::Open(open) => open.graceful_restart().cloned(),
            _ => None,
        })
        .unwrap();
    assert!(!open.restart_state);
    assert!(
        open.families.iter().all(|f| f.forwarding_state),
        "the node forwards whatever the speaker does"
    );
}

#[test]
fn a_helper_keeps_a_restarting_peers_routes_as_stale_until_its_end_of_rib() {
    let mut a = config(65100, 65000, [10, 0, 0, 2]);
    a.graceful_restart = Some(GracefulRestartConfig { restart_time: 120 });
    let mut pair = Pair::new(a, config(65000, 65100, [10, 0, 0, 1]));
    pair.a.set_routes(
        routes(
            &["203.0.113.5/32", "203.0.113.6/32"],
            &RouteAttributes::default(),
        ),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    assert_eq!(pair.b.received().len(), 2);
    // A's process dies: the connection breaks without a NOTIFICATION.
    pair.connected = false;
    pair.b
        .handle_connection_failed("connection reset by peer", pair.now);
    pair.run();
    assert!(pair.b_events.iter().any(|e| matches!(e, SessionEvent::PeerRestarting { restart_time } if *restart_time == Duration::from_secs(120))));
    assert_eq!(pair.b.received().len(), 2);
    assert!(pair.b.received().values().all(|r| r.stale));
    // A comes back announcing only one of the two routes.
    let mut restarted = config(65100, 65000, [10, 0, 0, 2]);
    restarted.graceful_restart = Some(GracefulRestartConfig { restart_time: 120 });
    pair.a = Session::new(restarted);
    pair.a.set_routes(
        routes(&["203.0.113.5/32"], &RouteAttributes::default()),
        pair.now,
    );
    pair.a.start(pair.now);
    pair.advance(Duration::from_millis(10));
    assert_eq!(pair.b.received().len(), 1);
    let route = &pair.b.received()[&prefix("203.0.113.5/32")];
    assert!(!route.stale);
    assert!(
        pair.b_events
            .contains(&SessionEvent::StaleRoutesRemoved { count: 1 })
    );
}

#[test]
fn stale_routes_go_when_the_restart_time_runs_out() {
    let mut a = config(65100, 65000, [10, 0, 0, 2]);
    a.graceful_restart = Some(GracefulRestartConfig { restart_time: 30 });
    let mut pair = Pair::new(a, config(65000, 65100, [10, 0, 0, 1]));
    pair.a.set_routes(
        routes(&["203.0.113.5/32"], &RouteAttributes::default()),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    pair.link_up = false;
    pair.connected = false;
    pair.b
        .handle_connection_failed("connection reset by peer", pair.now);
    pair.run();
    pair.advance(Duration::from_secs(29));
    assert_eq!(pair.b.received().len(), 1);
    pair.advance(Duration::from_secs(2));
    assert!(pair.b.received().is_empty());
}

#[test]
fn a_notification_drop_does_not_keep_routes() {
    let mut a = config(65100, 65000, [10, 0, 0, 2]);
    a.graceful_restart = Some(GracefulRestartConfig { restart_time: 120 });
    let mut pair = Pair::new(a, config(65000, 65100, [10, 0, 0, 1]));
    pair.a.set_routes(
        routes(&["203.0.113.5/32"], &RouteAttributes::default()),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    pair.a.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
    pair.run();
    assert!(pair.b.received().is_empty());
}

#[test]
fn garbage_from_the_peer_gets_notification_1_1_and_no_panic() {
    let mut pair = Pair::ebgp();
    pair.b.handle_bytes(&[0u8; 40], pair.now);
    pair.run();
    let notification = pair.b.statistics().notifications_sent;
    assert_eq!(notification, 1);
    assert!(pair.a_events.iter().any(|e| matches!(e, SessionEvent::Down(DownReason::NotificationReceived(n)) if n.code.code() == 1 && n.subcode == 1)));
}

#[test]
fn messages_split_across_reads_are_reassembled() {
    let mut pair = Pair::ebgp();
    let context = CodecContext {
        four_octet_as: true,
        extended_messages: true,
        ..CodecContext::default()
    };
    let keepalive = Message::Keepalive.encode(&context);
    let before = pair.a.statistics().messages_received;
    for byte in keepalive.iter().chain(keepalive.iter()) {
        pair.a.handle_bytes(std::slice::from_ref(byte), pair.now);
    }
    assert_eq!(pair.a.statistics().messages_received, before + 2);
    assert_eq!(pair.a.state(), State::Established);
}

#[test]
fn ipv6_routes_over_an_ipv4_session_use_the_mapped_next_hop() {
    let mut pair = Pair::ebgp();
    pair.a.set_routes(
        routes(&["2001:db8::5/128"], &RouteAttributes::default()),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    let update = pair
        .a_sent
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::Update(u) if u.mp_reach_nlri().is_some() => Some(u.clone()),
            _ => None,
        })
        .unwrap();
    let reach = update.mp_reach_nlri().unwrap();
    assert_eq!(reach.prefixes(), [prefix("2001:db8::5/128")]);
    assert!(
        format!("{reach:?}").contains("::ffff:10.0.0.2")
            || format!("{reach:?}").contains("::ffff:a00:2")
    );
}

/// The IPv6 next hop A announces `prefix` with, after connecting from `local` on an interface
/// whose other-family address is `other`.
fn mp_next_hop(local: IpAddr, other: Option<IpAddr>, prefix_text: &str) -> String {
    let mut pair = Pair::ebgp();
    pair.a_address = local;
    pair.a_other_family = other;
    // Connect again with the addresses set.
    pair.b.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
    pair.run();
    pair.b.start(pair.now);
    pair.advance(Duration::from_secs(5));
    pair.a.set_routes(
        routes(&[prefix_text], &RouteAttributes::default()),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    pair.a_sent
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::Update(u) if u.announced().contains(&prefix(prefix_text)) => {
                Some(format!("{u:?}"))
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no UPDATE for {prefix_text}: {:?}", pair.a_sent))
}

#[test]
fn ipv6_routes_over_an_ipv4_session_take_the_interface_ipv6_address() {
    let global: IpAddr = "2001:db8:ffff::2".parse().unwrap();
    let update = mp_next_hop(A_ADDRESS, Some(global), "2001:db8::5/128");
    assert!(update.contains("2001:db8:ffff::2"), "{update}");
    assert!(!update.contains("ffff:10.0.0.2"), "{update}");
}

#[test]
fn ipv4_routes_over_an_ipv6_session_take_the_interface_ipv4_address() {
    let local: IpAddr = "2001:db8:ffff::2".parse().unwrap();
    let update = mp_next_hop(local, Some(A_ADDRESS), "203.0.113.5/32");
    assert!(update.contains("NextHop(10.0.0.2)"), "{update}");
}

#[test]
fn ipv4_routes_over_an_ipv6_session_without_an_ipv4_address_are_reported_not_sent() {
    let local: IpAddr = "2001:db8:ffff::2".parse().unwrap();
    let mut pair = Pair::ebgp();
    pair.a_address = local;
    pair.b.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
    pair.run();
    pair.a.set_routes(
        routes(&["203.0.113.5/32"], &RouteAttributes::default()),
        pair.now,
    );
    pair.b.start(pair.now);
    pair.advance(Duration::from_secs(5));
    assert!(pair.a.advertised().is_empty());
    assert!(pair.a_events.iter().any(|e| matches!(e, SessionEvent::NoNextHop { prefixes } if prefixes == &[prefix("203.0.113.5/32")])), "{:?}", pair.a_events);
}

#[test]
fn a_peer_without_ipv6_gets_only_ipv4_and_status_says_so() {
    let a = config(65100, 65000, [10, 0, 0, 2]);
    let mut b = config(65000, 65100, [10, 0, 0, 1]);
    b.families = vec![Family::IPV4_UNICAST];
    let mut pair = Pair::new(a, b);
    pair.a.set_routes(
        routes(
            &["203.0.113.5/32", "2001:db8::5/128"],
            &RouteAttributes::default(),
        ),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    assert_eq!(pair.a.advertised().len(), 1);
    assert_eq!(pair.b.received().len(), 1);
    // Reported at the next establishment; dropped silently nowhere.
    pair.b.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
    pair.run();
    pair.b.start(pair.now);
    pair.advance(Duration::from_secs(5));
    assert!(pair.a_events.iter().any(|e| matches!(e, SessionEvent::FamilyNotNegotiated { prefixes } if prefixes == &[prefix("2001:db8::5/128")])));
}

#[test]
fn wrong_peer_as_backs_off_instead_of_storming() {
    let mut pair = Pair::new(
        config(65100, 65001, [10, 0, 0, 2]),
        config(65000, 65100, [10, 0, 0, 1]),
    );
    let opens = |pair: &Pair| {
        pair.a_sent
            .iter()
            .filter(|m| matches!(m, Message::Open(_)))
            .count()
    };
    pair.advance(Duration::from_secs(120));
    // One attempt a second (75-100 % jitter) for a minute, then 1, 2, 4, ... 30 s apart.
    assert!(
        (60..=90).contains(&opens(&pair)),
        "{} attempts",
        opens(&pair)
    );
    let errors_so_far = pair.a_sent.clone();
    pair.a_sent.clear();
    pair.advance(Duration::from_secs(180));
    assert!(
        (5..=10).contains(&opens(&pair)),
        "{} attempts in the next three minutes",
        opens(&pair)
    );
    pair.a_sent.extend(errors_so_far);
    assert!(
        pair.a_sent
            .iter()
            .any(|m| matches!(m, Message::Notification(n) if n.code.code() == 2 && n.subcode == 2))
    );
}

#[test]
fn routes_with_our_own_as_in_the_path_are_not_kept() {
    // B re-advertises to A a prefix it learned from A: AS_PATH 65000 65100 arrives at A.
    let mut pair = Pair::ebgp();
    pair.b.set_routes(
        routes(
            &["203.0.113.5/32", "203.0.113.99/32"],
            &RouteAttributes::default(),
        ),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    assert_eq!(pair.a.received().len(), 2);
    assert_eq!(pair.a.statistics().received_routes_looped, 0);
    // A three-AS chain through A itself: a speaker in AS 65000 whose path holds 65100.
    let mut looped = Pair::new(
        config(65100, 65000, [10, 0, 0, 2]),
        config(65000, 65100, [10, 0, 0, 1]),
    );
    let update = ironlb_bgp::packet::Update {
        attributes: vec![
            PathAttribute::Origin(ironlb_bgp::packet::Origin::Igp),
            PathAttribute::AsPath(ironlb_bgp::packet::AsPath::sequence(vec![65000, 65100])),
            PathAttribute::NextHop(Ipv4Addr::new(10, 0, 0, 1)),
        ],
        nlri: vec!["203.0.113.5/32".parse().unwrap()],
        ..Default::default()
    };
    let bytes = Message::Update(update).encode(&looped.a.context());
    looped.a.handle_bytes(&bytes, looped.now);
    assert!(looped.a.received().is_empty());
    assert_eq!(looped.a.statistics().received_routes_looped, 1);
    assert_eq!(looped.a.state(), State::Established);
}

fn graceful(local_as: u32, remote_as: u32, id: [u8; 4]) -> SessionConfig {
    let mut config = config(local_as, remote_as, id);
    config.graceful_restart = Some(GracefulRestartConfig { restart_time: 120 });
    config
}

#[test]
fn an_upgrade_closes_without_notification_and_the_helper_sweeps_only_what_is_gone() {
    let mut pair = Pair::new(
        graceful(65100, 65000, [10, 0, 0, 2]),
        graceful(65000, 65100, [10, 0, 0, 1]),
    );
    pair.a.set_routes(
        routes(
            &["203.0.113.5/32", "203.0.113.6/32"],
            &RouteAttributes::default(),
        ),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    assert!(pair.a.graceful_restart_negotiated());
    pair.a_sent.clear();
    pair.a.stop_for_restart(pair.now);
    pair.run();
    assert!(
        !pair
            .a_sent
            .iter()
            .any(|m| matches!(m, Message::Notification(_))),
        "no NOTIFICATION: {:?}",
        pair.a_sent
    );
    assert!(
        pair.a_events
            .contains(&SessionEvent::Down(DownReason::Detached))
    );
    assert_eq!(pair.a.state(), State::Idle);
    assert_eq!(pair.a.poll_timeout(), None, "stays down: the process exits");
    assert!(pair.b.received().values().all(|r| r.stale));
    assert_eq!(pair.b.received().len(), 2);
    // The new process announces one of the two, then End-of-RIB: only the other goes.
    pair.a = Session::new(graceful(65100, 65000, [10, 0, 0, 2]));
    pair.a.set_routes(
        routes(&["203.0.113.6/32"], &RouteAttributes::default()),
        pair.now,
    );
    pair.a.start(pair.now);
    pair.advance(Duration::from_millis(10));
    assert_eq!(
        pair.b.received().keys().copied().collect::<Vec<_>>(),
        [prefix("203.0.113.6/32")]
    );
    assert!(pair.b.received().values().all(|r| !r.stale));
}

#[test]
fn an_upgrade_towards_a_peer_without_graceful_restart_sends_cease_2() {
    let mut pair = Pair::new(
        graceful(65100, 65000, [10, 0, 0, 2]),
        config(65000, 65100, [10, 0, 0, 1]),
    );
    assert!(!pair.a.graceful_restart_negotiated());
    pair.a.stop_for_restart(pair.now);
    pair.run();
    assert!(pair.a_sent.iter().any(|m| matches!(
        m,
        Message::Notification(n) if n.code.code() == 6 && n.subcode == 2
    )));
}

#[test]
fn bfd_down_resets_with_cease_10_and_reconnects_at_once() {
    let mut pair = Pair::ebgp();
    pair.advance(Duration::from_secs(60));
    pair.a_sent.clear();
    pair.a.reset(CeaseSubcode::BfdDown, pair.now);
    assert_eq!(pair.a.state(), State::Connect, "a new attempt at once");
    pair.run();
    // (The in-memory pair has one connection: the old one's close can break the new one,
    // which is then retried within a second.)
    pair.advance(Duration::from_secs(2));
    assert!(pair.a_sent.iter().any(|m| matches!(
        m,
        Message::Notification(n) if n.code.code() == 6 && n.subcode == 10
    )));
    assert_eq!(
        pair.a.state(),
        State::Established,
        "a stable session is tried again at once"
    );
    assert_eq!(pair.a.statistics().established_transitions, 2);
}

#[test]
fn a_session_that_flaps_is_held_down_longer_each_time() {
    let mut pair = Pair::ebgp();
    let mut holds = Vec::new();
    for _ in 0..5 {
        pair.advance(Duration::from_secs(5));
        let down = pair.now;
        pair.a.reset(CeaseSubcode::BfdDown, pair.now);
        pair.run();
        assert_eq!(pair.a.state(), State::Idle, "held down");
        let back = pair.a.poll_timeout().expect("comes back by itself");
        holds.push(back - down);
        pair.advance(back - down);
        assert_eq!(pair.a.state(), State::Established);
    }
    for (hold, seconds) in holds.iter().zip([1u64, 2, 4, 8, 16]) {
        let nominal = Duration::from_secs(seconds);
        assert!(*hold >= nominal * 3 / 4 && *hold <= nominal, "{holds:?}");
    }
}

#[test]
fn a_lost_router_is_tried_every_connect_time_and_found_within_one() {
    let mut a = config(65100, 65000, [10, 0, 0, 2]);
    a.fsm.connect_retry = Duration::from_secs(2);
    let mut pair = Pair::new(a, config(65000, 65100, [10, 0, 0, 1]));
    pair.advance(Duration::from_secs(60));
    pair.link_up = false;
    pair.a
        .handle_connection_failed("connection reset", pair.now);
    pair.b
        .handle_connection_failed("connection reset", pair.now);
    pair.connected = false;
    pair.run();
    pair.advance(Duration::from_secs(7));
    assert_ne!(pair.a.state(), State::Established);
    let attempts_while_down = pair.a.fsm().failures();
    assert!(
        (4..=6).contains(&attempts_while_down),
        "an attempt every 1.5-2 s: {attempts_while_down}"
    );
    let back = pair.now;
    pair.link_up = true;
    pair.advance(Duration::from_secs(2));
    assert_eq!(pair.a.state(), State::Established);
    assert!(pair.now - back <= Duration::from_secs(2));
}

#[test]
fn bfd_up_connects_at_once_instead_of_waiting_for_the_timer() {
    let mut a = config(65100, 65000, [10, 0, 0, 2]);
    a.fsm.connect_retry = Duration::from_secs(30);
    let mut pair = Pair::new(a, config(65000, 65100, [10, 0, 0, 1]));
    pair.advance(Duration::from_secs(60));
    pair.link_up = false;
    pair.a.reset(CeaseSubcode::BfdDown, pair.now);
    pair.b.handle_connection_failed("BFD down", pair.now);
    pair.connected = false;
    pair.run();
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.a.state(), State::Connect);
    pair.link_up = true;
    pair.a.peer_reachable(pair.now);
    pair.run();
    assert_eq!(pair.a.state(), State::Established);
}

/// A and B over IPv6 link-locals (BGP unnumbered): A offers the Extended Next Hop capability
/// when `a_offers`, B when `b_offers`.
fn unnumbered(a_offers: bool, b_offers: bool) -> Pair {
    let mut a = config(65100, 65000, [10, 0, 0, 2]);
    a.extended_next_hop = a_offers;
    let mut b = config(65000, 65100, [10, 0, 0, 1]);
    b.extended_next_hop = b_offers;
    let mut pair = Pair::new(a, b);
    pair.a_address = "fe80::2".parse().unwrap();
    pair.b.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
    pair.run();
    pair.b.start(pair.now);
    pair.advance(Duration::from_secs(5));
    assert_eq!(pair.a.state(), State::Established);
    pair
}

fn last_update_for(pair: &Pair, prefix_text: &str) -> ironlb_bgp::packet::Update {
    pair.a_sent
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::Update(u) if u.announced().contains(&prefix(prefix_text)) => Some(u.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no UPDATE for {prefix_text}: {:?}", pair.a_sent))
}

#[test]
fn the_open_offers_ipv4_unicast_over_ipv6_next_hops_when_configured() {
    let pair = unnumbered(true, true);
    let open = pair
        .a_sent
        .iter()
        .find_map(|m| match m {
            Message::Open(open) => Some(open.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        open.extended_next_hops(),
        [ExtendedNextHop::IPV4_UNICAST_OVER_IPV6]
    );
    let plain = Pair::ebgp();
    let open = plain
        .a_sent
        .iter()
        .find_map(|m| match m {
            Message::Open(open) => Some(open.clone()),
            _ => None,
        })
        .unwrap();
    assert!(open.extended_next_hops().is_empty());
}

#[test]
fn unnumbered_ipv4_routes_go_in_mp_reach_with_the_link_local_next_hop_and_leave_in_mp_unreach() {
    let mut pair = unnumbered(true, true);
    let link_local: Ipv6Addr = "fe80::2".parse().unwrap();
    pair.a.set_routes(
        routes(
            &["203.0.113.5/32", "2001:db8::5/128"],
            &RouteAttributes::default(),
        ),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    assert_eq!(pair.a.advertised().len(), 2);
    assert_eq!(pair.b.received().len(), 2);

    // FRR's choice without a global address: the link-local as global and link-local.
    let both = Ipv6NextHop {
        global: link_local,
        link_local: Some(link_local),
    };
    let update = last_update_for(&pair, "203.0.113.5/32");
    assert!(update.nlri.is_empty(), "{update:?}");
    assert!(
        !update
            .attributes
            .iter()
            .any(|a| matches!(a, PathAttribute::NextHop(_))),
        "{update:?}"
    );
    assert_eq!(
        update.mp_reach_nlri(),
        Some(&MpReachNlri::Ipv4Unicast {
            next_hop: NextHop::Ipv6(both),
            prefixes: vec!["203.0.113.5/32".parse().unwrap()],
        })
    );
    let update = last_update_for(&pair, "2001:db8::5/128");
    assert_eq!(
        update.mp_reach_nlri(),
        Some(&MpReachNlri::Ipv6Unicast {
            next_hop: both,
            prefixes: vec!["2001:db8::5/128".parse().unwrap()],
        })
    );

    pair.a
        .set_routes(BTreeMap::<IpNet, RouteAttributes>::new(), pair.now);
    pair.advance(Duration::from_millis(10));
    assert!(pair.b.received().is_empty());
    let withdrawal = pair
        .a_sent
        .iter()
        .rev()
        .find_map(|m| match m {
            Message::Update(u) if u.withdrawn().contains(&prefix("203.0.113.5/32")) => {
                Some(u.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(withdrawal.withdrawn_routes.is_empty(), "{withdrawal:?}");
    assert!(
        withdrawal.attributes.iter().any(|a| matches!(
            a,
            PathAttribute::MpUnreachNlri(MpUnreachNlri::Ipv4Unicast(prefixes))
                if prefixes == &["203.0.113.5/32".parse::<Ipv4Net>().unwrap()]
        )),
        "{withdrawal:?}"
    );
}

#[test]
fn a_configured_ipv6_next_hop_names_the_global_address_beside_the_link_local() {
    let mut a = config(65100, 65000, [10, 0, 0, 2]);
    a.extended_next_hop = true;
    let next_hop = Ipv6NextHop {
        global: "2001:db8:ffff::2".parse().unwrap(),
        link_local: Some("fe80::2".parse().unwrap()),
    };
    a.next_hop_v6 = Some(next_hop);
    let mut b = config(65000, 65100, [10, 0, 0, 1]);
    b.extended_next_hop = true;
    let mut pair = Pair::new(a, b);
    pair.a_address = "fe80::2".parse().unwrap();
    pair.b.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
    pair.run();
    pair.b.start(pair.now);
    pair.advance(Duration::from_secs(5));
    pair.a.set_routes(
        routes(&["203.0.113.5/32"], &RouteAttributes::default()),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    let update = last_update_for(&pair, "203.0.113.5/32");
    assert!(matches!(
        update.mp_reach_nlri(),
        Some(MpReachNlri::Ipv4Unicast { next_hop: NextHop::Ipv6(sent), .. }) if *sent == next_hop
    ));
}

#[test]
fn without_the_peers_extended_next_hop_unnumbered_ipv4_routes_are_reported_not_sent() {
    for (a_offers, b_offers) in [(true, false), (false, true)] {
        let mut pair = unnumbered(a_offers, b_offers);
        pair.a.set_routes(
            routes(
                &["203.0.113.5/32", "2001:db8::5/128"],
                &RouteAttributes::default(),
            ),
            pair.now,
        );
        pair.advance(Duration::from_millis(10));
        assert_eq!(
            pair.a.advertised().keys().copied().collect::<Vec<_>>(),
            [prefix("2001:db8::5/128")]
        );
        // Reported at the next establishment.
        pair.b.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
        pair.run();
        pair.b.start(pair.now);
        pair.advance(Duration::from_secs(5));
        assert!(pair.a_events.iter().any(|e| matches!(e, SessionEvent::NoNextHop { prefixes } if prefixes == &[prefix("203.0.113.5/32")])), "{:?}", pair.a_events);
    }
}

#[test]
fn an_unnumbered_interface_with_a_global_address_gives_it_beside_the_link_local() {
    let mut a = config(65100, 65000, [10, 0, 0, 2]);
    a.extended_next_hop = true;
    let mut b = config(65000, 65100, [10, 0, 0, 1]);
    b.extended_next_hop = true;
    let mut pair = Pair::new(a, b);
    pair.a_address = "fe80::2".parse().unwrap();
    pair.a_link_global = Some("2001:db8:ffff::2".parse().unwrap());
    pair.b.stop(CeaseSubcode::AdministrativeShutdown, pair.now);
    pair.run();
    pair.b.start(pair.now);
    pair.advance(Duration::from_secs(5));
    pair.a.set_routes(
        routes(
            &["203.0.113.5/32", "2001:db8::5/128"],
            &RouteAttributes::default(),
        ),
        pair.now,
    );
    pair.advance(Duration::from_millis(10));
    let expected = Ipv6NextHop {
        global: "2001:db8:ffff::2".parse().unwrap(),
        link_local: Some("fe80::2".parse().unwrap()),
    };
    for prefix_text in ["203.0.113.5/32", "2001:db8::5/128"] {
        let update = last_update_for(&pair, prefix_text);
        let sent = match update.mp_reach_nlri() {
            Some(MpReachNlri::Ipv4Unicast {
                next_hop: NextHop::Ipv6(next_hop),
                ..
            })
            | Some(MpReachNlri::Ipv6Unicast { next_hop, .. }) => *next_hop,
            other => panic!("{other:?}"),
        };
        assert_eq!(sent, expected, "{prefix_text}");
    }
}
