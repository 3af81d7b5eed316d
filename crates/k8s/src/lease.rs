//! Leader election on a `coordination.k8s.io` Lease, so two controller replicas are safe: only
//! the holder assigns addresses.
//!
//! The rule is client-go's (`k8s.io/client-go/tools/leaderelection`), and the decision is the
//! pure [`Elector`]; [`run`] only reads and writes the Lease and feeds it.
//!
//! - **No wall clock is compared across machines.** A replica notes, on its own monotonic
//!   clock, when it last saw the Lease record *change* (holder, renewTime, acquireTime,
//!   leaseDurationSeconds, leaseTransitions or resourceVersion). Another holder's Lease has
//!   expired only once it has not changed for a lease duration since we saw it change; a
//!   record seen for the first time gets a full lease duration from first sight. The lease
//!   duration is the holder's own `leaseDurationSeconds` (client-go uses its local setting; the
//!   holder's promise stays right while replicas with different settings roll), else ours.
//!   renewTime and acquireTime are still written, for people and other implementations, never
//!   read.
//! - **A released Lease** (no holderIdentity) is taken at once.
//! - **A leader that cannot renew steps down first.** It stops leading once `renew_deadline`
//!   has passed since it sent its last successful write; a standby saw that write after it was
//!   sent, so it waits at least a lease duration from then, and `renew_deadline` is shorter.
//! - **Writes carry the resourceVersion just read**, so of two replicas racing for the Lease
//!   one gets 409 Conflict; a leader that gets 409, or reads another holder, stops at once.
//!
//! The three durations are client-go's defaults (15 s, 10 s, 2 s) scaled to
//! [`LeaseOptions::duration`]; see [`LeaseTiming`].

use std::time::{Duration, Instant};

use ironlb_api::k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use ironlb_api::k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

/// Who competes for which Lease.
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    pub namespace: String,
    pub name: String,
    /// This replica (the pod name).
    pub identity: String,
    /// The lease duration: how long the Lease stays ours without a renewal. The renew deadline
    /// and retry period follow from it ([`LeaseTiming::from_duration`]).
    pub duration: Duration,
}

impl LeaseOptions {
    /// The lease duration, renew deadline and retry period for [`duration`](Self::duration).
    pub fn timing(&self) -> LeaseTiming {
        LeaseTiming::from_duration(self.duration)
    }
}

/// client-go's three leader-election durations, always ordered
/// `0 < retry_period < renew_deadline < duration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
}

impl LeaseTiming {
    /// client-go's defaults (lease 15 s, renewDeadline 10 s, retryPeriod 2 s) scaled to
    /// `duration`: the renew deadline is 2/3 of it and the retry period 2/15, so a leader tries
    /// five times before it steps down, and steps down a third of a lease duration before a
    /// standby may take over (room for API latency and clock-rate differences). `duration` is
    /// at least one second, the Lease's own unit.
    pub fn from_duration(duration: Duration) -> Self {
        let duration = duration.max(Duration::from_secs(1));
        Self {
            duration,
            renew_deadline: duration * 2 / 3,
            retry_period: duration * 2 / 15,
        }
    }

    /// How long the Lease stays ours without a renewal; written as `leaseDurationSeconds`.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// How long after its last successful write a leader keeps leading without another one.
    pub fn renew_deadline(&self) -> Duration {
        self.renew_deadline
    }

    /// How often every replica reads the Lease (and the leader renews it).
    pub fn retry_period(&self) -> Duration {
        self.retry_period
    }

    /// `leaseDurationSeconds`, rounded up: another replica must never wait less than we hold.
    fn duration_seconds(&self) -> i32 {
        let seconds = self.duration.as_secs() + u64::from(self.duration.subsec_nanos() > 0);
        i32::try_from(seconds).unwrap_or(i32::MAX)
    }
}

/// The fields of a Lease that leader election compares: any change among them means the
/// holder (or someone) is alive and writing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `spec.holderIdentity`; `None` when absent or empty (a released Lease).
    pub holder: Option<String>,
    pub acquire_time: Option<Timestamp>,
    pub renew_time: Option<Timestamp>,
    pub lease_duration_seconds: Option<i32>,
    pub lease_transitions: Option<i32>,
    pub resource_version: Option<String>,
}

impl LeaseRecord {
    /// How long the holder promised to hold the Lease without writing it: its
    /// `leaseDurationSeconds`, when positive.
    pub fn lease_duration(&self) -> Option<Duration> {
        let seconds = u64::try_from(self.lease_duration_seconds?).ok()?;
        (seconds > 0).then(|| Duration::from_secs(seconds))
    }
}

impl From<&Lease> for LeaseRecord {
    fn from(lease: &Lease) -> Self {
        let spec = lease.spec.as_ref();
        Self {
            holder: spec
                .and_then(|spec| spec.holder_identity.clone())
                .filter(|holder| !holder.is_empty()),
            acquire_time: spec.and_then(|spec| spec.acquire_time.as_ref().map(|t| t.0)),
            renew_time: spec.and_then(|spec| spec.renew_time.as_ref().map(|t| t.0)),
            lease_duration_seconds: spec.and_then(|spec| spec.lease_duration_seconds),
            lease_transitions: spec.and_then(|spec| spec.lease_transitions),
            resource_version: lease.metadata.resource_version.clone(),
        }
    }
}

/// What the elector wants done now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nobody holds the Lease (absent, released, or its holder's record has not changed for a
    /// lease duration): write ourselves in as the holder.
    Acquire,
    /// We hold the Lease: write a new renewTime.
    Renew,
    /// Another replica holds the Lease and may be alive: read it again after a retry period.
    Wait,
    /// We have been leading but can no longer be sure nobody else is: stop now
    /// ([`Elector::step_down`]), then decide again.
    StepDown,
}

/// What we last read of the Lease.
#[derive(Clone, Debug)]
enum Seen {
    /// Not read yet.
    Nothing,
    /// The Lease does not exist.
    Absent,
    /// The record, and when (our monotonic clock) we first saw it as it is now.
    Record {
        record: LeaseRecord,
        changed_at: Instant,
    },
}

/// Leader election for one replica, without IO or clocks: the caller passes what it read,
/// what its writes returned, and `now` from a monotonic clock, and asks what to do
/// ([`decide`](Self::decide)) and whether it leads ([`is_leader`](Self::is_leader)).
#[derive(Clone, Debug)]
pub struct Elector {
    identity: String,
    timing: LeaseTiming,
    seen: Seen,
    /// When the write that last made or kept us the holder was sent; `None` while we do not
    /// lead.
    renewed_at: Option<Instant>,
}

impl Elector {
    /// A replica named `identity` that has read nothing and does not lead.
    pub fn new(identity: impl Into<String>, timing: LeaseTiming) -> Self {
        Self {
            identity: identity.into(),
            timing,
            seen: Seen::Nothing,
            renewed_at: None,
        }
    }

    /// This replica's name, as written in `holderIdentity`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The durations this elector works with.
    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// A read of the Lease at `now`: `None` if it does not exist. A record that differs from
    /// the last one read (or is the first) restarts its holder's lease duration at `now`.
    pub fn observe(&mut self, record: Option<LeaseRecord>, now: Instant) {
        match (record, &self.seen) {
            (None, _) => self.seen = Seen::Absent,
            (Some(record), Seen::Record { record: last, .. }) if *last == record => {}
            (Some(record), _) => {
                self.seen = Seen::Record {
                    record,
                    changed_at: now,
                }
            }
        }
    }

    /// Our create or update of the Lease, sent at `sent_at`, succeeded and the API server
    /// answered `record`: we lead until `sent_at + renew_deadline` unless renewed again.
    pub fn written(&mut self, record: LeaseRecord, sent_at: Instant) {
        self.seen = Seen::Record {
            record,
            changed_at: sent_at,
        };
        self.renewed_at = Some(sent_at);
    }

    /// Our write was refused with 409 Conflict: someone else changed the Lease since we read
    /// it, perhaps to take it. We stop leading at once and read it again.
    pub fn lost_race(&mut self) {
        self.renewed_at = None;
    }

    /// Stops leading (on [`Action::StepDown`], or when giving the Lease up).
    pub fn step_down(&mut self) {
        self.renewed_at = None;
    }

    /// Whether we lead at `now`: our last write made us the holder, nothing read since says
    /// otherwise, and the renew deadline after it has not passed.
    pub fn is_leader(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|deadline| now < deadline) && self.holds()
    }

    /// When our leadership ends unless renewed before; `None` while we do not lead. The IO
    /// loop wakes up then, so it steps down on time even while the API server is silent.
    pub fn deadline(&self) -> Option<Instant> {
        self.renewed_at
            .map(|at| at.checked_add(self.timing.renew_deadline).unwrap_or(at))
    }

    /// The holder in the record last read, if any.
    pub fn holder(&self) -> Option<&str> {
        match &self.seen {
            Seen::Record { record, .. } => record.holder.as_deref(),
            Seen::Nothing | Seen::Absent => None,
        }
    }

    /// What to do at `now`, given what was last read.
    pub fn decide(&self, now: Instant) -> Action {
        if self.renewed_at.is_some() && !self.is_leader(now) {
            return Action::StepDown;
        }
        let (record, changed_at) = match &self.seen {
            Seen::Nothing => return Action::Wait,
            Seen::Absent => return Action::Acquire,
            Seen::Record { record, changed_at } => (record, *changed_at),
        };
        match record.holder.as_deref() {
            None => Action::Acquire,
            Some(holder) if holder == self.identity => Action::Renew,
            Some(_) => {
                // The holder's own promise, else ours (the record is written by a replica like us).
                let duration = record.lease_duration().unwrap_or(self.timing.duration);
                match changed_at.checked_add(duration) {
                    Some(expiry) if expiry <= now => Action::Acquire,
                    _ => Action::Wait,
                }
            }
        }
    }

    fn holds(&self) -> bool {
        self.holder() == Some(self.identity.as_str())
    }
}

/// The Lease to write to hold it: `current` (as read, with its resourceVersion) or a new one,
/// with us as holder, renewTime `wall_now` and our lease duration. Taking it from someone else
/// (or from nobody) also sets acquireTime and counts a transition.
pub fn claim(
    current: Option<Lease>,
    options: &LeaseOptions,
    timing: LeaseTiming,
    wall_now: Timestamp,
) -> Lease {
    let mut lease = current.unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(options.name.clone()),
            namespace: Some(options.namespace.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            lease_transitions: Some(0),
            ..LeaseSpec::default()
        }),
    });
    let existed = lease.metadata.resource_version.is_some();
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(options.identity.as_str()) {
        spec.holder_identity = Some(options.identity.clone());
        spec.acquire_time = Some(MicroTime(wall_now));
        if existed {
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
    }
    spec.renew_time = Some(MicroTime(wall_now));
    spec.lease_duration_seconds = Some(timing.duration_seconds());
    lease
}

/// Competes for the Lease forever; `leader` says whether this replica holds it.
pub async fn run(client: Client, options: LeaseOptions, leader: watch::Sender<bool>) {
    let api: Api<Lease> = Api::namespaced(client, &options.namespace);
    let timing = options.timing();
    let mut elector = Elector::new(options.identity.clone(), timing);
    loop {
        let started = Instant::now();
        // Woken at the renew deadline: stand down before trying again.
        settle(&mut elector, &leader, &options.name, started);
        // A hung API call must not keep us leading past the renew deadline.
        let limit = elector
            .deadline()
            .unwrap_or(started + timing.renew_deadline());
        let round = attempt(&api, &options, &mut elector, &leader);
        match tokio::time::timeout_at(limit.into(), round).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(lease = %options.name, %error, "cannot reach the Lease"),
            Err(_) => warn!(lease = %options.name, "the API server did not answer in time"),
        }
        settle(&mut elector, &leader, &options.name, Instant::now());
        let next = started + timing.retry_period();
        let wake = elector
            .deadline()
            .map_or(next, |deadline| deadline.min(next));
        tokio::time::sleep_until(wake.into()).await;
    }
}

/// One round: read the Lease, then create, renew or take it over if the elector says so.
async fn attempt(
    api: &Api<Lease>,
    options: &LeaseOptions,
    elector: &mut Elector,
    leader: &watch::Sender<bool>,
) -> Result<(), kube::Error> {
    let current = api.get_opt(&options.name).await?;
    let now = Instant::now();
    elector.observe(current.as_ref().map(LeaseRecord::from), now);
    // Another holder read: stop leading before anything else.
    settle(elector, leader, &options.name, now);
    if !matches!(elector.decide(now), Action::Acquire | Action::Renew) {
        return Ok(());
    }
    let exists = current.is_some();
    let lease = claim(current, options, elector.timing(), Timestamp::now());
    let sent = Instant::now();
    // replace() sends the resourceVersion we read: a concurrent change makes it fail with 409,
    // as does a concurrent create.
    let written = if exists {
        api.replace(&options.name, &PostParams::default(), &lease)
            .await
    } else {
        api.create(&PostParams::default(), &lease).await
    };
    match written {
        Ok(lease) => elector.written(LeaseRecord::from(&lease), sent),
        Err(kube::Error::Api(status)) if status.code == 409 => elector.lost_race(),
        Err(error) => return Err(error),
    }
    Ok(())
}

/// Steps down if the elector says so, and publishes whether we lead.
fn settle(elector: &mut Elector, leader: &watch::Sender<bool>, lease: &str, now: Instant) {
    // Leadership ends either here, or by a 409 in `attempt` (`Elector::lost_race`).
    let mut reason = "our write of the Lease was refused (409 Conflict)";
    if elector.decide(now) == Action::StepDown {
        reason = match elector.holder() {
            Some(holder) if holder == elector.identity() => "not renewed within the renew deadline",
            Some(_) => "another replica holds the Lease",
            None => "the Lease was released or deleted",
        };
        elector.step_down();
    }
    let leading = elector.is_leader(now);
    leader.send_if_modified(|published| {
        if *published == leading {
            return false;
        }
        if leading {
            info!(lease, identity = %elector.identity(), "became the leader");
        } else {
            warn!(
                lease,
                identity = %elector.identity(),
                holder = elector.holder().unwrap_or(""),
                reason,
                "lost the leadership"
            );
        }
        *published = leading;
        true
    });
}

/// Gives the Lease up (on shutdown), so a standby replica takes over at once instead of
/// waiting for it to expire.
pub async fn release(client: Client, options: &LeaseOptions) {
    let api: Api<Lease> = Api::namespaced(client, &options.namespace);
    let Ok(Some(mut lease)) = api.get_opt(&options.name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(options.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    match api
        .replace(&options.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => info!(lease = %options.name, "leadership released"),
        Err(error) => {
            warn!(lease = %options.name, %error, "cannot release the Lease; it expires by itself")
        }
    }
}

#[cfg(test)]
mod tests {
    //! The election rule on a virtual clock: `Instant`s are a base plus offsets, nothing sleeps.

    use super::*;

    const LEASE: Duration = Duration::from_secs(15);
    const RENEW_DEADLINE: Duration = Duration::from_secs(10);
    const RETRY: Duration = Duration::from_secs(2);
    const NANO: Duration = Duration::from_nanos(1);

    fn timing() -> LeaseTiming {
        LeaseTiming::from_duration(LEASE)
    }

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    fn millis(milliseconds: u64) -> Duration {
        Duration::from_millis(milliseconds)
    }

    /// A wall-clock time `seconds` from the Unix epoch (negative: before it).
    fn wall(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    /// What a replica like us writes: `holder` ("" for released) at `version`.
    fn record(holder: &str, version: u64, renew_time: Timestamp) -> LeaseRecord {
        LeaseRecord {
            holder: (!holder.is_empty()).then(|| holder.to_owned()),
            acquire_time: Some(wall(1_700_000_000)),
            renew_time: Some(renew_time),
            lease_duration_seconds: Some(15),
            lease_transitions: Some(3),
            resource_version: Some(version.to_string()),
        }
    }

    /// A replica that has just written itself in as holder at `sent_at`.
    fn leader_since(sent_at: Instant) -> (Elector, LeaseRecord) {
        let mut leader = Elector::new("replica-a", timing());
        leader.observe(None, sent_at);
        assert_eq!(leader.decide(sent_at), Action::Acquire);
        let written = record("replica-a", 1, wall(1_700_000_000));
        leader.written(written.clone(), sent_at);
        assert!(leader.is_leader(sent_at));
        (leader, written)
    }

    #[test]
    fn timing_is_client_go_defaults_scaled_to_the_lease_duration() {
        let timing = timing();
        assert_eq!(timing.duration(), LEASE);
        assert_eq!(timing.renew_deadline(), RENEW_DEADLINE);
        assert_eq!(timing.retry_period(), RETRY);
        assert_eq!(timing.duration_seconds(), 15);
        for duration in [0, 1, 999, 1_000, 1_500, 7_000, 60_000, 3_600_000] {
            let timing = LeaseTiming::from_duration(millis(duration));
            assert!(Duration::ZERO < timing.retry_period(), "{timing:?}");
            assert!(
                timing.retry_period() < timing.renew_deadline(),
                "{timing:?}"
            );
            assert!(timing.renew_deadline() < timing.duration(), "{timing:?}");
            // Never written shorter than held.
            let written = secs(u64::try_from(timing.duration_seconds()).unwrap());
            assert!(written >= timing.duration(), "{timing:?}");
        }
        assert_eq!(
            LeaseTiming::from_duration(millis(1_500)).duration_seconds(),
            2
        );
    }

    #[test]
    fn holder_whose_record_keeps_changing_is_never_taken_over_whatever_its_renew_time_says() {
        // The holder's wall clock is decades behind ours, then centuries ahead: irrelevant.
        for skewed in [wall(0), wall(7_000_000_000)] {
            let base = Instant::now();
            let mut standby = Elector::new("replica-b", timing());
            for step in 0..100u32 {
                let now = base + RETRY * step;
                let renew_time = skewed + Duration::from_secs(2 * u64::from(step));
                let holder = record("replica-a", u64::from(step), renew_time);
                standby.observe(Some(holder), now);
                assert_eq!(standby.decide(now), Action::Wait, "{skewed} step {step}");
                assert_eq!(standby.decide(now + RETRY - NANO), Action::Wait);
                assert!(!standby.is_leader(now));
            }
        }
    }

    #[test]
    fn holder_whose_record_stops_changing_is_taken_over_exactly_one_lease_duration_after_it_last_changed()
     {
        let base = Instant::now();
        let mut standby = Elector::new("replica-b", timing());
        for step in 0..3u32 {
            let renew_time = wall(1_700_000_000 + i64::from(step) * 2);
            standby.observe(
                Some(record("replica-a", step.into(), renew_time)),
                base + RETRY * step,
            );
        }
        // The last change was seen at 4 s; reading the same record again restarts nothing.
        let last_change = base + secs(4);
        let frozen = record("replica-a", 2, wall(1_700_000_004));
        for step in 3..10u32 {
            let now = base + RETRY * step;
            standby.observe(Some(frozen.clone()), now);
            assert_eq!(standby.decide(now), Action::Wait);
        }
        assert_eq!(standby.decide(last_change + LEASE - NANO), Action::Wait);
        assert_eq!(standby.decide(last_change + LEASE), Action::Acquire);
    }

    #[test]
    fn record_first_seen_gets_a_full_lease_duration_from_first_sight() {
        let base = Instant::now();
        let mut standby = Elector::new("replica-b", timing());
        assert_eq!(standby.decide(base), Action::Wait, "nothing read yet");
        // Renewed, by its wall clock, 50 years ago: still given a full lease duration.
        standby.observe(Some(record("replica-a", 7, wall(0))), base);
        assert_eq!(standby.decide(base), Action::Wait);
        assert_eq!(standby.decide(base + LEASE - NANO), Action::Wait);
        assert_eq!(standby.decide(base + LEASE), Action::Acquire);
    }

    #[test]
    fn a_change_to_any_compared_field_restarts_the_holders_lease_duration() {
        let changes: [fn(&mut LeaseRecord); 6] = [
            |r| r.holder = Some("replica-c".into()),
            |r| r.renew_time = Some(wall(1_700_000_001)),
            |r| r.acquire_time = None,
            |r| r.lease_duration_seconds = Some(16),
            |r| r.lease_transitions = Some(4),
            |r| r.resource_version = Some("8".into()),
        ];
        for (index, change) in changes.iter().enumerate() {
            let base = Instant::now();
            let mut standby = Elector::new("replica-b", timing());
            let before = record("replica-a", 7, wall(1_700_000_000));
            standby.observe(Some(before.clone()), base);
            let mut after = before;
            change(&mut after);
            let changed_at = base + secs(10);
            standby.observe(Some(after.clone()), changed_at);
            let duration = after.lease_duration().unwrap();
            assert_eq!(standby.decide(base + LEASE), Action::Wait, "change {index}");
            assert_eq!(standby.decide(changed_at + duration - NANO), Action::Wait);
            assert_eq!(standby.decide(changed_at + duration), Action::Acquire);
        }
    }

    #[test]
    fn holders_own_lease_duration_is_honoured() {
        let base = Instant::now();
        let mut standby = Elector::new("replica-b", timing());
        let mut longer = record("replica-a", 7, wall(1_700_000_000));
        longer.lease_duration_seconds = Some(40);
        standby.observe(Some(longer), base);
        assert_eq!(standby.decide(base + secs(40) - NANO), Action::Wait);
        assert_eq!(standby.decide(base + secs(40)), Action::Acquire);
        // Missing or nonsensical: ours.
        for seconds in [None, Some(0), Some(-5)] {
            let mut standby = Elector::new("replica-b", timing());
            let mut odd = record("replica-a", 7, wall(1_700_000_000));
            odd.lease_duration_seconds = seconds;
            standby.observe(Some(odd), base);
            assert_eq!(
                standby.decide(base + LEASE - NANO),
                Action::Wait,
                "{seconds:?}"
            );
            assert_eq!(standby.decide(base + LEASE), Action::Acquire, "{seconds:?}");
        }
    }

    #[test]
    fn released_or_absent_lease_is_acquired_at_once() {
        let base = Instant::now();
        let mut standby = Elector::new("replica-b", timing());
        standby.observe(Some(record("replica-a", 7, wall(1_700_000_000))), base);
        // client-go releases with an empty holderIdentity, IronLB by removing it.
        for holder in [Some(String::new()), None] {
            let lease = Lease {
                metadata: ObjectMeta {
                    resource_version: Some("8".into()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: holder,
                    renew_time: Some(MicroTime(wall(1_700_000_002))),
                    ..LeaseSpec::default()
                }),
            };
            let released = LeaseRecord::from(&lease);
            assert_eq!(released.holder, None);
            let mut standby = standby.clone();
            standby.observe(Some(released), base + millis(1));
            assert_eq!(standby.decide(base + millis(1)), Action::Acquire);
        }
        let mut first = Elector::new("replica-b", timing());
        first.observe(None, base);
        assert_eq!(
            first.decide(base),
            Action::Acquire,
            "no Lease yet: create it"
        );
    }

    #[test]
    fn leadership_is_kept_while_renewals_succeed() {
        let base = Instant::now();
        let (mut leader, mut last) = leader_since(base);
        for step in 1..100u32 {
            let now = base + RETRY * step;
            leader.observe(Some(last.clone()), now);
            assert!(leader.is_leader(now), "step {step}");
            assert_eq!(leader.decide(now), Action::Renew);
            last = record("replica-a", u64::from(step) + 1, wall(1_700_000_000));
            leader.written(last.clone(), now);
            assert_eq!(leader.deadline(), Some(now + RENEW_DEADLINE));
            assert!(leader.is_leader(now + RETRY));
        }
    }

    #[test]
    fn leader_that_cannot_renew_steps_down_at_renew_deadline_before_any_standby_could_take_over() {
        let base = Instant::now();
        let (mut leader, written) = leader_since(base);
        // The earliest a standby can see that write is just after it was sent.
        let mut standby = Elector::new("replica-b", timing());
        let seen_at = base + NANO;
        standby.observe(Some(written.clone()), seen_at);
        // Every renewal from now on fails: the leader reads nothing and writes nothing.
        let step_down = base + RENEW_DEADLINE;
        assert_eq!(leader.deadline(), Some(step_down));
        assert!(leader.is_leader(step_down - NANO));
        assert_eq!(leader.decide(step_down - NANO), Action::Renew);
        assert!(!leader.is_leader(step_down));
        assert_eq!(leader.decide(step_down), Action::StepDown);
        leader.step_down();
        assert!(!leader.is_leader(step_down));
        // Once the API answers again, it may renew with the resourceVersion it reads.
        leader.observe(Some(written), step_down + secs(1));
        assert_eq!(leader.decide(step_down + secs(1)), Action::Renew);
        assert!(
            !leader.is_leader(step_down + secs(1)),
            "not before the write succeeds"
        );

        let takeover = seen_at + LEASE;
        assert_eq!(standby.decide(takeover - NANO), Action::Wait);
        assert_eq!(standby.decide(takeover), Action::Acquire);
        assert!(takeover - step_down >= LEASE - RENEW_DEADLINE);
    }

    #[test]
    fn leader_that_loses_a_409_race_stops_leading_at_once() {
        let base = Instant::now();
        let (mut leader, written) = leader_since(base);
        let now = base + RETRY;
        leader.observe(Some(written), now);
        assert_eq!(leader.decide(now), Action::Renew);
        leader.lost_race();
        assert!(!leader.is_leader(now));
        assert_eq!(leader.deadline(), None);
        assert_ne!(leader.decide(now), Action::StepDown, "already stood down");
    }

    #[test]
    fn leader_that_reads_another_holder_stops_leading_at_once() {
        let base = Instant::now();
        let (mut leader, _) = leader_since(base);
        let now = base + RETRY;
        leader.observe(Some(record("replica-b", 2, wall(1_700_000_002))), now);
        assert!(!leader.is_leader(now));
        assert_eq!(leader.decide(now), Action::StepDown);
        leader.step_down();
        assert_eq!(leader.decide(now), Action::Wait);
        assert_eq!(leader.holder(), Some("replica-b"));
    }

    #[test]
    fn leader_that_finds_the_lease_deleted_stops_leading_and_creates_it_again() {
        let base = Instant::now();
        let (mut leader, _) = leader_since(base);
        let now = base + RETRY;
        leader.observe(None, now);
        assert_eq!(leader.decide(now), Action::StepDown);
        leader.step_down();
        assert_eq!(leader.decide(now), Action::Acquire);
    }

    fn options() -> LeaseOptions {
        LeaseOptions {
            namespace: "metallb-system".into(),
            name: "ironlb-controller".into(),
            identity: "replica-b".into(),
            duration: LEASE,
        }
    }

    fn held_by(holder: &str) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("ironlb-controller".into()),
                namespace: Some("metallb-system".into()),
                resource_version: Some("41".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                acquire_time: Some(MicroTime(wall(1_700_000_000))),
                renew_time: Some(MicroTime(wall(1_700_000_010))),
                lease_duration_seconds: Some(30),
                lease_transitions: Some(3),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn claiming_from_another_holder_sets_acquire_time_and_counts_a_transition() {
        let now = wall(1_800_000_000);
        let lease = claim(Some(held_by("replica-a")), &options(), timing(), now);
        assert_eq!(lease.metadata.resource_version.as_deref(), Some("41"));
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
        assert_eq!(spec.acquire_time, Some(MicroTime(now)));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_duration_seconds, Some(15));
        assert_eq!(spec.lease_transitions, Some(4));
    }

    #[test]
    fn renewing_keeps_acquire_time_and_transitions() {
        let now = wall(1_800_000_000);
        let lease = claim(Some(held_by("replica-b")), &options(), timing(), now);
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
        assert_eq!(spec.acquire_time, Some(MicroTime(wall(1_700_000_000))));
        assert_eq!(spec.renew_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_transitions, Some(3));
    }

    #[test]
    fn claiming_no_lease_creates_one_without_a_transition() {
        let now = wall(1_800_000_000);
        let lease = claim(None, &options(), timing(), now);
        assert_eq!(lease.metadata.name.as_deref(), Some("ironlb-controller"));
        assert_eq!(lease.metadata.namespace.as_deref(), Some("metallb-system"));
        assert_eq!(lease.metadata.resource_version, None);
        let spec = lease.spec.unwrap();
        assert_eq!(spec.holder_identity.as_deref(), Some("replica-b"));
        assert_eq!(spec.acquire_time, Some(MicroTime(now)));
        assert_eq!(spec.lease_transitions, Some(0));
    }

    /// How a replica's link to the API server behaves at some moment.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Link {
        Up,
        /// Nothing reaches the API server.
        Down,
        /// Reads work and writes are applied, but their answers never come back.
        AnswersLost,
    }

    /// One replica in the simulation: its elector, its link schedule, its wall-clock skew.
    struct Replica {
        elector: Elector,
        next_round: Instant,
        link: fn(Duration) -> Link,
        skew: i64,
    }

    /// The Lease as the API server keeps it: compare-and-swap on resourceVersion.
    #[derive(Default)]
    struct Server {
        lease: Option<LeaseRecord>,
        version: u64,
    }

    /// One round of [`attempt`], against `server`, instantly.
    fn round(replica: &mut Replica, server: &mut Server, now: Instant, elapsed: Duration) {
        let link = (replica.link)(elapsed);
        if link == Link::Down {
            return;
        }
        let read = server.lease.clone();
        replica.elector.observe(read.clone(), now);
        if replica.elector.decide(now) == Action::StepDown {
            replica.elector.step_down();
        }
        if !matches!(replica.elector.decide(now), Action::Acquire | Action::Renew) {
            return;
        }
        let current = server
            .lease
            .as_ref()
            .and_then(|r| r.resource_version.clone());
        if current != read.and_then(|r| r.resource_version) {
            replica.elector.lost_race();
            return;
        }
        server.version += 1;
        let seconds = i64::try_from(elapsed.as_secs()).unwrap();
        let written = LeaseRecord {
            holder: Some(replica.elector.identity().to_owned()),
            renew_time: Some(wall(1_700_000_000 + replica.skew + seconds)),
            lease_duration_seconds: Some(15),
            resource_version: Some(server.version.to_string()),
            ..LeaseRecord::default()
        };
        server.lease = Some(written.clone());
        if link == Link::Up {
            replica.elector.written(written, now);
        }
    }

    #[test]
    fn two_replicas_never_lead_at_once_through_partitions_and_lost_answers() {
        let base = Instant::now();
        let mut replicas = [
            Replica {
                elector: Elector::new("replica-a", timing()),
                next_round: base,
                // Cut off from 20 s to 60 s.
                link: |t| match t.as_secs() {
                    20..60 => Link::Down,
                    _ => Link::Up,
                },
                skew: 3 * 3600,
            },
            Replica {
                elector: Elector::new("replica-b", timing()),
                next_round: base + millis(700),
                // Its writes land but it never hears so, from 100 s to 130 s.
                link: |t| match t.as_secs() {
                    100..130 => Link::AnswersLost,
                    _ => Link::Up,
                },
                skew: -3 * 86_400,
            },
        ];
        let mut server = Server::default();
        let mut leaders_at = Vec::new();
        for tick in 0..1_600u32 {
            let elapsed = millis(100) * tick;
            let now = base + elapsed;
            for replica in &mut replicas {
                if now >= replica.next_round {
                    round(replica, &mut server, now, elapsed);
                    replica.next_round += RETRY;
                }
                // The IO loop also wakes at the deadline, whatever the API does.
                if replica.elector.decide(now) == Action::StepDown {
                    replica.elector.step_down();
                }
            }
            let leading = replicas.each_ref().map(|r| r.elector.is_leader(now));
            assert!(!(leading[0] && leading[1]), "both lead at {elapsed:?}");
            leaders_at.push(leading);
        }
        let at = |seconds: usize| leaders_at[seconds * 10];
        assert_eq!(at(10), [true, false], "the first to read creates the Lease");
        assert_eq!(at(21), [true, false], "within the renew deadline");
        assert_eq!(at(31), [false, false], "stepped down, not taken over yet");
        assert_eq!(at(40), [false, true], "taken over after the lease duration");
        assert_eq!(at(90), [false, true], "back, A finds B holding");
        assert_eq!(
            at(125),
            [false, false],
            "B renews unknowingly: nobody may lead"
        );
        assert_eq!(at(135), [false, true], "B hears again");
    }
}
