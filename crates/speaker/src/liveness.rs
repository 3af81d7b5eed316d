//! Which speakers are alive, for layer 2 ownership.
//!
//! Every speaker runs BFD (IronLB's own, RFC 5880) with the speakers of the other nodes an
//! L2Advertisement selects: a speaker is alive while its session is Up. Detection takes the
//! BFD detection time (a hard failure: 3 × 200 ms), and a speaker that stops tells its peers at
//! once with AdminDown, so they take its addresses over in a round trip.
//!
//! Starting without stealing: a speaker that has just started does not know yet who is alive,
//! and its peers must not hand it addresses before it answers. So for a grace period it
//! announces nothing and keeps its BFD sessions AdminDown (its peers count it as not alive);
//! meanwhile it counts as alive every peer it hears from (a packet not saying AdminDown within
//! [`HEARD_WINDOW`]: peers whose sessions are not Up send one a second). After the grace it
//! announces what it wins and brings its sessions up; a peer whose session has been Up since
//! then is alive exactly while it is Up.
//!
//! Seeing each other again: a session that comes Up again after it was Up (a new Up period:
//! the link of one of them was down, a partition healed, the peer restarted) means each side
//! may have counted the other dead meanwhile and announced its addresses; the owner then
//! announces its addresses again ([`Liveness::observe`] names those peers).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// How long a starting speaker listens before it announces anything.
pub const GRACE: Duration = Duration::from_millis(2500);
/// A peer heard from this recently is alive until its session has come Up once.
pub const HEARD_WINDOW: Duration = Duration::from_millis(2500);

/// What the BFD session with one peer says now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The session is Up: since when (the start of this Up period).
    pub up_since: Option<Instant>,
    /// The last packet from the peer: when, and whether it said AdminDown (the peer is
    /// starting or stopping).
    pub heard: Option<(Instant, Heard)>,
}

/// What the peer's last packet said of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    Alive,
    AdminDown,
}

/// The liveness of the other speakers, as this one sees it.
#[derive(Clone, Debug)]
pub struct Liveness {
    ready_at: Instant,
    /// Peers whose session has been Up since this speaker became ready.
    seen_up: BTreeSet<String>,
    /// The start of each peer's last Up period seen since this speaker became ready.
    up_periods: BTreeMap<String, Instant>,
    observed: BTreeMap<String, Observation>,
}

impl Liveness {
    /// A speaker started at `now`.
    pub fn new(now: Instant) -> Self {
        Liveness {
            ready_at: now + GRACE,
            seen_up: BTreeSet::new(),
            up_periods: BTreeMap::new(),
            observed: BTreeMap::new(),
        }
    }

    /// The grace is over: announce, and bring the BFD sessions with the peers up.
    pub fn ready(&self, now: Instant) -> bool {
        now >= self.ready_at
    }

    /// When the grace ends.
    pub fn ready_at(&self) -> Instant {
        self.ready_at
    }

    /// The sessions as they are now, by node; nodes absent are no longer peers. Returns the
    /// peers seen again: their session is in a new Up period after one seen since this speaker
    /// became ready (whether or not an observation caught it down in between).
    pub fn observe(
        &mut self,
        observations: BTreeMap<String, Observation>,
        now: Instant,
    ) -> BTreeSet<String> {
        self.seen_up.retain(|node| observations.contains_key(node));
        self.up_periods
            .retain(|node, _| observations.contains_key(node));
        let mut again = BTreeSet::new();
        if self.ready(now) {
            for (node, observation) in &observations {
                let Some(since) = observation.up_since else {
                    continue;
                };
                if let Some(before) = self.up_periods.insert(node.clone(), since)
                    && before != since
                {
                    again.insert(node.clone());
                }
                self.seen_up.insert(node.clone());
            }
        }
        self.observed = observations;
        again
    }

    /// The peers alive now.
    pub fn live(&self, now: Instant) -> BTreeSet<String> {
        self.observed
            .iter()
            .filter(|(node, observation)| {
                observation.up_since.is_some()
                    || (!self.seen_up.contains(*node)
                        && matches!(observation.heard, Some((at, Heard::Alive))
                            if now.saturating_duration_since(at) <= HEARD_WINDOW))
            })
            .map(|(node, _)| node.clone())
            .collect()
    }

    /// When [`Liveness::live`] or [`Liveness::ready`] may change without a new observation.
    pub fn next_change(&self, now: Instant) -> Option<Instant> {
        let grace = (!self.ready(now)).then_some(self.ready_at);
        let expiries = self
            .observed
            .iter()
            .filter(|(node, observation)| {
                observation.up_since.is_none() && !self.seen_up.contains(*node)
            })
            .filter_map(|(_, observation)| match observation.heard {
                Some((at, Heard::Alive)) if at + HEARD_WINDOW > now => Some(at + HEARD_WINDOW),
                _ => None,
            });
        grace.into_iter().chain(expiries).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Up since `since`.
    fn up(since: Instant) -> Observation {
        Observation {
            up_since: Some(since),
            heard: None,
        }
    }

    fn heard(at: Instant, what: Heard) -> Observation {
        Observation {
            up_since: None,
            heard: Some((at, what)),
        }
    }

    fn nodes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_starting_speaker_waits_the_grace_then_trusts_what_it_heard() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start);
        assert!(!liveness.ready(start + Duration::from_secs(2)));
        let at = start + Duration::from_secs(1);
        liveness.observe(
            BTreeMap::from([
                ("node2".into(), heard(at, Heard::Alive)),
                ("node3".into(), heard(at, Heard::AdminDown)),
            ]),
            at,
        );
        let now = start + GRACE;
        assert!(liveness.ready(now));
        assert_eq!(
            liveness.live(now),
            nodes(&["node2"]),
            "node3 is itself starting"
        );
        assert_eq!(liveness.next_change(now), Some(at + HEARD_WINDOW));
        assert!(
            liveness
                .live(at + HEARD_WINDOW + Duration::from_millis(1))
                .is_empty()
        );
    }

    #[test]
    fn once_up_a_peer_is_alive_exactly_while_its_session_is_up() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start);
        let now = start + GRACE;
        liveness.observe(BTreeMap::from([("node2".into(), up(now))]), now);
        assert_eq!(liveness.live(now), nodes(&["node2"]));
        // The session goes down (detection time, or AdminDown: the peer is stopping): no
        // longer alive, even though a packet was heard a moment ago.
        let later = now + Duration::from_millis(700);
        liveness.observe(
            BTreeMap::from([("node2".into(), heard(later, Heard::Alive))]),
            later,
        );
        assert!(liveness.live(later).is_empty());
        assert_eq!(liveness.next_change(later), None);
        liveness.observe(BTreeMap::from([("node2".into(), up(later))]), later);
        assert_eq!(liveness.live(later), nodes(&["node2"]));
    }

    #[test]
    fn a_peer_that_goes_away_is_forgotten() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start);
        let now = start + GRACE;
        liveness.observe(BTreeMap::from([("node2".into(), up(now))]), now);
        liveness.observe(BTreeMap::new(), now);
        assert!(liveness.live(now).is_empty());
        // Back as a new peer: heard, not yet up, it counts as alive again.
        liveness.observe(
            BTreeMap::from([("node2".into(), heard(now, Heard::Alive))]),
            now,
        );
        assert_eq!(liveness.live(now), nodes(&["node2"]));
    }

    #[test]
    fn sessions_up_during_the_grace_do_not_count_as_seen() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start);
        liveness.observe(BTreeMap::from([("node2".into(), up(start))]), start);
        let now = start + GRACE;
        liveness.observe(
            BTreeMap::from([("node2".into(), heard(now, Heard::Alive))]),
            now,
        );
        assert_eq!(liveness.live(now), nodes(&["node2"]));
    }

    #[test]
    fn a_session_up_again_names_the_peer_seen_again() {
        let start = Instant::now();
        let mut liveness = Liveness::new(start);
        // Up during the grace, and its first Up once ready: nobody is seen *again*.
        assert!(
            liveness
                .observe(BTreeMap::from([("node2".into(), up(start))]), start)
                .is_empty()
        );
        let ready = start + GRACE;
        let first = BTreeMap::from([("node2".into(), up(start)), ("node3".into(), up(ready))]);
        assert!(liveness.observe(first.clone(), ready).is_empty());
        assert!(
            liveness.observe(first, ready).is_empty(),
            "the same Up period"
        );
        // node2's session goes down (a link down, a partition) and comes Up again.
        let down = ready + Duration::from_secs(10);
        let observed = BTreeMap::from([
            ("node2".into(), heard(down, Heard::Alive)),
            ("node3".into(), up(ready)),
        ]);
        assert!(liveness.observe(observed, down).is_empty());
        let healed = down + Duration::from_secs(1);
        let observed = BTreeMap::from([("node2".into(), up(healed)), ("node3".into(), up(ready))]);
        assert_eq!(
            liveness.observe(observed.clone(), healed),
            nodes(&["node2"])
        );
        assert!(liveness.observe(observed, healed).is_empty());
        // Down and Up again between two observations: a new Up period all the same.
        let later = healed + Duration::from_secs(5);
        let observed = BTreeMap::from([("node2".into(), up(later)), ("node3".into(), up(ready))]);
        assert_eq!(liveness.observe(observed, later), nodes(&["node2"]));
        // A peer that left and joins again starts afresh: its first Up is not "again".
        liveness.observe(BTreeMap::new(), later);
        assert!(
            liveness
                .observe(BTreeMap::from([("node2".into(), up(later))]), later)
                .is_empty()
        );
    }
}
