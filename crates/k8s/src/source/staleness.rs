//! When the view of the cluster counts as stale (`--api-staleness-bound`): a tracker of the
//! last word from the API server, judged on a clock the caller passes in. No tokio, no IO.
//!
//! The driver ([`super::watch`]) tells the tracker of every watch event and every answer to
//! its liveness probe ([`StalenessTracker::heard`]), asks for a verdict about once a second
//! ([`StalenessTracker::observe`]), marks the snapshots it publishes stale while the verdict
//! is [`Verdict::Stale`], and logs what the [`Observation`] reports.

use std::time::{Duration, Instant};

/// How often a component warns while the API is unreachable.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// A probe gets this much longer than its interval before it counts as missed.
const PROBE_TIMEOUT_MARGIN: Duration = Duration::from_secs(1);

/// How long the cluster view may go without news from the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Staleness {
    /// `--api-staleness-bound`: past it the view is not trusted; `None`: always trusted.
    pub bound: Option<Duration>,
    /// Probe the API (GET /version, which costs it no storage read) after this long without
    /// a watch event.
    pub probe_interval: Duration,
}

/// What a silence of the API means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Fresh,
    /// No answer for a few probes: the last known state stays in force.
    Unreachable,
    /// No answer for longer than the bound.
    Stale,
}

impl Staleness {
    /// Probes often enough to notice the bound passing within a sixth of it (between 1 s
    /// and 30 s); with no bound, every 30 s, for the logs only.
    pub fn new(bound: Option<Duration>) -> Staleness {
        let probe_interval = bound.map_or(Duration::from_secs(30), |bound| {
            (bound / 6).clamp(Duration::from_secs(1), Duration::from_secs(30))
        });
        Staleness {
            bound,
            probe_interval,
        }
    }

    /// The verdict after `silent` without any answer or event from the API.
    pub fn judge(&self, silent: Duration) -> Verdict {
        match self.bound {
            Some(bound) if silent > bound => Verdict::Stale,
            _ if silent > self.probe_interval * 2 + PROBE_TIMEOUT_MARGIN => Verdict::Unreachable,
            _ => Verdict::Fresh,
        }
    }
}

/// What to log about the API, when there is something to say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// The API answers again, `away` after its last word before it went quiet.
    Reachable { away: Duration },
    /// Nothing heard for `silent`: the last known state stays in force (until `bound`, if
    /// there is one).
    Unreachable {
        silent: Duration,
        bound: Option<Duration>,
    },
    /// Nothing heard for `silent`, longer than `bound`: the last known state is not trusted.
    Stale { silent: Duration, bound: Duration },
}

/// One look at the tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub verdict: Verdict,
    /// Since the last word from the API.
    pub silent: Duration,
    /// Whether the verdict entered or left [`Verdict::Stale`] since the previous look: the
    /// snapshot must be published again either way.
    pub stale_changed: bool,
    /// What to log now: on every change of verdict, and every [`WARN_EVERY`] while the API
    /// is unreachable.
    pub report: Option<Report>,
}

impl Observation {
    /// Why a snapshot published now is stale ([`ironlb_model::Snapshot::stale`]), if it is.
    pub fn stale_reason(&self) -> Option<String> {
        (self.verdict == Verdict::Stale).then(|| {
            format!(
                "nothing heard from the Kubernetes API for {} s",
                self.silent.as_secs()
            )
        })
    }
}

/// The last word from the API server, and what its silence means now.
#[derive(Clone, Debug)]
pub struct StalenessTracker {
    staleness: Staleness,
    last_heard: Instant,
    verdict: Verdict,
    /// When unreachability was last reported.
    warned: Option<Instant>,
    /// The last word before the API went quiet, while it is.
    away_since: Option<Instant>,
}

impl StalenessTracker {
    /// A tracker that has just heard from the API (the initial list is complete).
    pub fn new(staleness: Staleness, now: Instant) -> StalenessTracker {
        StalenessTracker {
            staleness,
            last_heard: now,
            verdict: Verdict::Fresh,
            warned: None,
            away_since: None,
        }
    }

    /// A watch event or an answer to the probe came at `now`. An earlier `now` than one
    /// already heard (two callers racing for the tracker) changes nothing.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = self.last_heard.max(now);
    }

    /// How long the API has been silent at `now`.
    pub fn silent(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_heard)
    }

    /// The verdict at `now`, whether the snapshot must be published again, and what to log.
    pub fn observe(&mut self, now: Instant) -> Observation {
        let silent = self.silent(now);
        let verdict = self.staleness.judge(silent);
        let report = self.report(verdict, silent, now);
        if verdict == Verdict::Fresh {
            self.warned = None;
            self.away_since = None;
        } else {
            self.away_since = self.away_since.or(Some(self.last_heard));
        }
        let was_stale = self.verdict == Verdict::Stale;
        self.verdict = verdict;
        Observation {
            verdict,
            silent,
            stale_changed: was_stale != (verdict == Verdict::Stale),
            report,
        }
    }

    /// What to log for `verdict`: the API's return once, its absence on every change and
    /// then every [`WARN_EVERY`].
    fn report(&mut self, verdict: Verdict, silent: Duration, now: Instant) -> Option<Report> {
        let changed = verdict != self.verdict;
        match verdict {
            Verdict::Fresh if changed => Some(Report::Reachable {
                away: self
                    .away_since
                    .map_or(Duration::ZERO, |at| now.saturating_duration_since(at)),
            }),
            Verdict::Fresh => None,
            Verdict::Unreachable | Verdict::Stale => {
                let due = self
                    .warned
                    .is_none_or(|at| now.saturating_duration_since(at) >= WARN_EVERY);
                if !due && !changed {
                    return None;
                }
                self.warned = Some(now);
                Some(match (verdict, self.staleness.bound) {
                    (Verdict::Stale, Some(bound)) => Report::Stale { silent, bound },
                    (_, bound) => Report::Unreachable { silent, bound },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn seconds(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// A minute's bound: probes every 10 s, unreachable past 21 s of silence.
    fn one_minute_bound() -> Staleness {
        Staleness::new(Some(seconds(60)))
    }

    #[test]
    fn staleness_judges_silences() {
        let unbounded = Staleness::new(None);
        assert_eq!(unbounded.probe_interval, Duration::from_secs(30));
        assert_eq!(unbounded.judge(Duration::from_secs(5)), Verdict::Fresh);
        assert_eq!(
            unbounded.judge(Duration::from_secs(62)),
            Verdict::Unreachable
        );
        assert_eq!(
            unbounded.judge(Duration::from_secs(86_400)),
            Verdict::Unreachable
        );

        let bounded = Staleness::new(Some(Duration::from_secs(60)));
        assert_eq!(bounded.probe_interval, Duration::from_secs(10));
        assert_eq!(bounded.judge(Duration::from_secs(15)), Verdict::Fresh);
        assert_eq!(bounded.judge(Duration::from_secs(22)), Verdict::Unreachable);
        assert_eq!(bounded.judge(Duration::from_secs(60)), Verdict::Unreachable);
        assert_eq!(bounded.judge(Duration::from_secs(61)), Verdict::Stale);

        let short = Staleness::new(Some(Duration::from_secs(3)));
        assert_eq!(short.probe_interval, Duration::from_secs(1));
        assert_eq!(short.judge(Duration::from_millis(3500)), Verdict::Stale);
    }

    #[test]
    fn fresh_while_watch_events_keep_arriving() {
        let base = Instant::now();
        let mut tracker = StalenessTracker::new(one_minute_bound(), base);
        for second in 1..=600 {
            let now = base + seconds(second);
            if second % 15 == 0 {
                tracker.heard(now);
            }
            let observation = tracker.observe(now);
            assert_eq!(observation.verdict, Verdict::Fresh, "at {second} s");
            assert_eq!(observation.report, None, "at {second} s");
            assert!(!observation.stale_changed, "at {second} s");
            assert_eq!(observation.stale_reason(), None);
        }
    }

    #[test]
    fn fresh_while_probe_answers_arrive_in_a_quiet_cluster() {
        // No watch event at all; the probe asks after half an interval of silence and is
        // answered (within its 2 s timeout) every interval and a bit.
        let staleness = one_minute_bound();
        let base = Instant::now();
        let mut tracker = StalenessTracker::new(staleness, base);
        let mut now = base;
        let mut answered = base;
        while now < base + seconds(3600) {
            now += SECOND / 2;
            if now - answered >= staleness.probe_interval + 2 * SECOND {
                tracker.heard(now);
                answered = now;
            }
            assert_eq!(tracker.observe(now).verdict, Verdict::Fresh);
        }
    }

    #[test]
    fn stale_exactly_past_the_bound_after_the_last_word() {
        let base = Instant::now();
        let mut tracker = StalenessTracker::new(one_minute_bound(), base);
        // A probe answer at 30 s: the bound counts from it, not from the start.
        tracker.heard(base + seconds(30));
        let at_bound = tracker.observe(base + seconds(90));
        assert_eq!(at_bound.verdict, Verdict::Unreachable);
        assert!(!at_bound.stale_changed);
        assert_eq!(at_bound.stale_reason(), None);

        let past = tracker.observe(base + seconds(90) + Duration::from_millis(1));
        assert_eq!(past.verdict, Verdict::Stale);
        assert!(past.stale_changed, "the stale snapshot must be published");
        assert_eq!(
            past.report,
            Some(Report::Stale {
                silent: seconds(60) + Duration::from_millis(1),
                bound: seconds(60),
            })
        );

        let later = tracker.observe(base + seconds(95));
        assert_eq!(later.verdict, Verdict::Stale);
        assert!(!later.stale_changed, "published once, not every second");
        assert_eq!(
            later.stale_reason().as_deref(),
            Some("nothing heard from the Kubernetes API for 65 s")
        );
    }

    #[test]
    fn fresh_again_at_the_first_answer() {
        let base = Instant::now();
        let mut tracker = StalenessTracker::new(one_minute_bound(), base);
        tracker.heard(base + seconds(5));
        assert_eq!(tracker.observe(base + seconds(100)).verdict, Verdict::Stale);

        tracker.heard(base + seconds(101));
        let back = tracker.observe(base + seconds(101));
        assert_eq!(back.verdict, Verdict::Fresh);
        assert!(back.stale_changed, "routes come back at once");
        assert_eq!(back.stale_reason(), None);
        assert_eq!(
            back.report,
            Some(Report::Reachable { away: seconds(96) }),
            "away since the last word before the silence"
        );

        let after = tracker.observe(base + seconds(102));
        assert_eq!(after.report, None, "the return is reported once");
        assert!(!after.stale_changed);
    }

    #[test]
    fn fresh_again_from_unreachable_without_republishing() {
        let base = Instant::now();
        let mut tracker = StalenessTracker::new(one_minute_bound(), base);
        assert_eq!(
            tracker.observe(base + seconds(30)).verdict,
            Verdict::Unreachable
        );
        tracker.heard(base + seconds(31));
        let back = tracker.observe(base + seconds(31));
        assert_eq!(back.verdict, Verdict::Fresh);
        assert!(!back.stale_changed, "the view was never stale");
        assert_eq!(back.report, Some(Report::Reachable { away: seconds(31) }));
    }

    #[test]
    fn without_a_bound_never_stale_but_unreachable_for_as_long_as_it_lasts() {
        let base = Instant::now();
        let mut tracker = StalenessTracker::new(Staleness::new(None), base);
        let mut reported = Vec::new();
        for second in 1..=86_400 {
            let observation = tracker.observe(base + seconds(second));
            assert_ne!(observation.verdict, Verdict::Stale);
            assert!(!observation.stale_changed);
            assert_eq!(observation.stale_reason(), None);
            reported.extend(observation.report.map(|report| (second, report)));
        }
        let unreachable = |silent| Report::Unreachable {
            silent: seconds(silent),
            bound: None,
        };
        // Past two 30 s probe intervals and the margin.
        assert_eq!(reported.first(), Some(&(62, unreachable(62))));
        assert_eq!(
            reported.last(),
            Some(&(86_392, unreachable(86_392))),
            "a day later the log still says for how long"
        );
        assert_eq!(reported.len(), 8634, "every 10 s, no more");
    }

    #[test]
    fn unreachable_is_logged_on_each_change_and_every_ten_seconds() {
        let base = Instant::now();
        let mut tracker = StalenessTracker::new(one_minute_bound(), base);
        let mut reports = Vec::new();
        for second in 1..=100 {
            if let Some(report) = tracker.observe(base + seconds(second)).report {
                reports.push((second, report));
            }
        }
        let unreachable = |silent| Report::Unreachable {
            silent: seconds(silent),
            bound: Some(seconds(60)),
        };
        let stale = |silent| Report::Stale {
            silent: seconds(silent),
            bound: seconds(60),
        };
        assert_eq!(
            reports,
            vec![
                (22, unreachable(22)),
                (32, unreachable(32)),
                (42, unreachable(42)),
                (52, unreachable(52)),
                // Stale at once, not 10 s after the last warning.
                (61, stale(61)),
                (71, stale(71)),
                (81, stale(81)),
                (91, stale(91)),
            ]
        );

        // Back, then away again: the new silence is reported as soon as it counts.
        tracker.heard(base + seconds(100));
        assert_eq!(
            tracker.observe(base + seconds(100)).report,
            Some(Report::Reachable { away: seconds(100) })
        );
        let again: Vec<u64> = (101..=130)
            .filter(|second| tracker.observe(base + seconds(*second)).report.is_some())
            .collect();
        assert_eq!(again, vec![122]);
    }

    #[test]
    fn an_answer_recorded_late_does_not_rewind_the_last_word() {
        let base = Instant::now();
        let mut tracker = StalenessTracker::new(one_minute_bound(), base);
        tracker.heard(base + seconds(50));
        tracker.heard(base + seconds(40));
        assert_eq!(tracker.silent(base + seconds(60)), seconds(10));
        assert_eq!(tracker.silent(base + seconds(45)), Duration::ZERO);
    }
}
