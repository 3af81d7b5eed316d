//! When a session tries to connect again: the ConnectRetryTimer and the damping of peer
//! oscillations (RFC 4271 §8.1.1, IdleHoldTimer), as one small pure policy.
//!
//! What operators expect of a BGP speaker on a Kubernetes node, and why:
//! - **A lost session comes back at once.** A session that had been stable is retried
//!   immediately after it goes down (a blip, a ToR restart, BFD Down), then every `interval`
//!   (the BGPPeer's `connectTime`: FRR's `timers connect`, the wait between attempts) while the
//!   router does not answer. An attempt lasts until the next one is due: a SYN lost in a blip is
//!   replaced by a fresh one a second later instead of waiting for TCP's 1-3-7 s retransmissions,
//!   so the session is back within about one interval of the router being reachable again.
//! - **Persistent failure backs off.** After [`BACKOFF_AFTER`] of uninterrupted failure (a wrong
//!   address, a router that refuses us), the wait doubles at every attempt up to `max_interval`.
//! - **Flapping is damped, not amplified.** A session that goes down less than
//!   [`STABLE_AFTER`] after it was established counts as a flap; consecutive flaps hold the
//!   session down before the next attempt for 1 s, 2 s, 4 s, ... up to [`MAXIMUM_DAMPING`]
//!   (RFC 4271's DampPeerOscillations). A session that stays up for [`STABLE_AFTER`] is
//!   forgiven.
//! - Every wait but the immediate one is jittered to 75-100 % of its nominal value, so a
//!   rack of speakers does not reconnect in lockstep.

use std::time::{Duration, Instant};

/// Uninterrupted failure for this long starts the exponential backoff.
pub const BACKOFF_AFTER: Duration = Duration::from_secs(60);
/// A session that stayed Established this long was not flapping.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);
/// First hold-down after a flap; doubles with each consecutive flap.
pub const FIRST_DAMPING: Duration = Duration::from_secs(1);
/// Longest hold-down after repeated flaps.
pub const MAXIMUM_DAMPING: Duration = Duration::from_secs(30);

/// The reconnect policy of one peer.
#[derive(Clone, Debug)]
pub struct Reconnect {
    interval: Duration,
    max_interval: Duration,
    /// The first attempt of the current run of failures (none while Established or idle).
    failing_since: Option<Instant>,
    /// The wait after the next failed attempt once backing off.
    backoff: Duration,
    /// Consecutive sessions that did not last [`STABLE_AFTER`].
    flaps: u32,
    random: u64,
}

impl Reconnect {
    /// `interval`: the wait between attempts; `max_interval`: the longest wait once backing off
    /// (at least `interval`); `seed` for the jitter.
    pub fn new(interval: Duration, max_interval: Duration, seed: u64) -> Self {
        let interval = interval.max(Duration::from_millis(1));
        Reconnect {
            interval,
            max_interval: max_interval.max(interval),
            failing_since: None,
            backoff: interval,
            flaps: 0,
            random: seed | 1,
        }
    }

    /// An attempt starts now: how long it may take before the next one starts. Attempts of one
    /// run of failures are `interval` apart, then back off exponentially.
    pub fn attempt(&mut self, now: Instant) -> Duration {
        let since = *self.failing_since.get_or_insert(now);
        let nominal = if now.duration_since(since) < BACKOFF_AFTER {
            self.backoff = self.interval;
            self.interval
        } else {
            let wait = self.backoff;
            self.backoff = (self.backoff * 2).min(self.max_interval);
            wait
        };
        self.jitter(nominal)
    }

    /// The session reached Established: the run of failures is over.
    pub fn established(&mut self) {
        self.failing_since = None;
        self.backoff = self.interval;
    }

    /// An Established session went down after lasting `lasted`: how long to hold before the
    /// next attempt (zero: at once).
    pub fn session_lost(&mut self, lasted: Duration) -> Duration {
        if lasted >= STABLE_AFTER {
            self.flaps = 0;
            return Duration::ZERO;
        }
        self.flaps = self.flaps.saturating_add(1);
        let doublings = self.flaps.saturating_sub(1).min(16);
        self.jitter((FIRST_DAMPING * (1u32 << doublings)).min(MAXIMUM_DAMPING))
    }

    /// Consecutive flaps counted so far.
    pub fn flaps(&self) -> u32 {
        self.flaps
    }

    /// The configured wait between attempts.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    fn jitter(&mut self, nominal: Duration) -> Duration {
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        let percent = 75 + u32::try_from(self.random % 26).unwrap_or(25);
        nominal * percent / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn within(value: Duration, nominal: Duration) -> bool {
        value >= nominal * 3 / 4 && value <= nominal
    }

    #[test]
    fn attempts_are_one_interval_apart_for_the_first_minute() {
        let mut policy = Reconnect::new(SECOND, Duration::from_secs(30), 7);
        let start = Instant::now();
        let mut now = start;
        while now.duration_since(start) < BACKOFF_AFTER {
            let wait = policy.attempt(now);
            assert!(within(wait, SECOND), "{wait:?}");
            now += wait;
        }
    }

    #[test]
    fn persistent_failure_backs_off_to_the_maximum() {
        let mut policy = Reconnect::new(SECOND, Duration::from_secs(30), 7);
        let start = Instant::now();
        policy.attempt(start);
        let mut now = start + BACKOFF_AFTER;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let wait = policy.attempt(now);
            waits.push(wait);
            now += wait;
        }
        let nominal = [1, 2, 4, 8, 16, 30, 30, 30];
        for (wait, seconds) in waits.iter().zip(nominal) {
            assert!(within(*wait, SECOND * seconds), "{waits:?}");
        }
    }

    #[test]
    fn connect_time_sets_the_wait_between_attempts() {
        let mut policy = Reconnect::new(Duration::from_secs(5), Duration::from_secs(30), 7);
        assert!(within(
            policy.attempt(Instant::now()),
            Duration::from_secs(5)
        ));
        let mut long = Reconnect::new(Duration::from_secs(120), Duration::from_secs(30), 7);
        let start = Instant::now();
        long.attempt(start);
        assert!(
            within(
                long.attempt(start + BACKOFF_AFTER * 2),
                Duration::from_secs(120)
            ),
            "never shorter than the configured interval"
        );
    }

    #[test]
    fn a_stable_session_is_retried_at_once_after_it_drops() {
        let mut policy = Reconnect::new(SECOND, Duration::from_secs(30), 7);
        assert_eq!(policy.session_lost(STABLE_AFTER), Duration::ZERO);
        assert_eq!(
            policy.session_lost(Duration::from_secs(3600)),
            Duration::ZERO
        );
        assert_eq!(policy.flaps(), 0);
    }

    #[test]
    fn flapping_sessions_are_held_down_longer_each_time() {
        let mut policy = Reconnect::new(SECOND, Duration::from_secs(30), 7);
        let holds: Vec<Duration> = (0..8).map(|_| policy.session_lost(SECOND)).collect();
        for (hold, seconds) in holds.iter().zip([1, 2, 4, 8, 16, 30, 30, 30]) {
            assert!(within(*hold, SECOND * seconds), "{holds:?}");
        }
        assert_eq!(
            policy.session_lost(STABLE_AFTER),
            Duration::ZERO,
            "a session that stays up is forgiven"
        );
    }

    #[test]
    fn establishing_ends_the_backoff() {
        let mut policy = Reconnect::new(SECOND, Duration::from_secs(30), 7);
        let start = Instant::now();
        policy.attempt(start);
        policy.attempt(start + BACKOFF_AFTER);
        policy.attempt(start + BACKOFF_AFTER * 2);
        policy.established();
        let later = start + BACKOFF_AFTER * 3;
        assert!(within(policy.attempt(later), SECOND));
    }
}
