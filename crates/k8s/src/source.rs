//! The Kubernetes source of the cluster [`Snapshot`]: one reflector per kind, and a new
//! snapshot published shortly after any of them changes.
//!
//! The first snapshot is published only once every reflector has listed its kind: before
//! that, an empty Service list would look like "every Service was deleted" to the controller.
//! When the API server becomes unreachable the reflectors retry with backoff and the last
//! snapshot stays in force, so the speaker keeps announcing what it last knew (MetalLB issue
//! #131), unless `--api-staleness-bound` says for how long at most (the verdict is
//! [`StalenessTracker`]'s, a pure type; the probe and the logs are here).

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt;
use ironlb_api::k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use ironlb_api::manifest::{self, Origin};
use ironlb_config::Resources;
use ironlb_model::{ControllerService, LbService, Problem, SliceEndpoints, Snapshot};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::trim;

mod staleness;

pub use staleness::{Observation, Report, Staleness, StalenessTracker, Verdict};

/// Who reads the snapshots, which decides what is watched and what of it is kept.
#[derive(Clone, Debug, Default)]
pub enum Scope {
    /// The controller (and its webhook): every LoadBalancer Service whole, every Node and
    /// Namespace (pool and peer selectors are judged against all of them).
    #[default]
    Controller,
    /// The speaker of one node: every Node (trimmed: layer 2 elections judge every node's
    /// labels, conditions and address), of each LoadBalancer Service only what decides its
    /// announcement ([`crate::trim`]), and of each EndpointSlice only the nodes where an
    /// endpoint can serve ([`SliceEndpoints`]).
    Speaker { node: String },
}

/// What to watch.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// The namespace of IronLB's metallb.io objects and Secrets.
    pub namespace: String,
    /// The least time between two snapshots: a change after a quiet spell is published at
    /// once, the changes that follow within this time are gathered into the next one.
    pub debounce: Duration,
    pub scope: Scope,
    /// How long the view may go without news from the API before snapshots say it is stale
    /// (`--api-staleness-bound`); `None`: the last known state is trusted for ever (MetalLB).
    pub staleness_bound: Option<Duration>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            namespace: "metallb-system".into(),
            debounce: Duration::from_millis(2),
            scope: Scope::Controller,
            staleness_bound: None,
        }
    }
}

struct Stores {
    /// The metallb.io kinds, as the API gives them: decoded with IronLB's manifest reader,
    /// so an object the typed structs would refuse (MetalLB's spec-less L2Advertisement, a
    /// field of the wrong type) is one reported problem, not a kind that cannot be listed.
    metallb: Vec<Store<DynamicObject>>,
    secrets: Store<Secret>,
    namespaces: Store<Namespace>,
    nodes: Store<Node>,
    services: ServiceStore,
    endpoints: Option<Table<SliceEndpoints>>,
}

/// The Services as each scope keeps them.
enum ServiceStore {
    /// The controller's: only what it reads of each Service it has to do with.
    Controller(Table<ControllerService>),
    /// A speaker's: only what it reads of each LoadBalancer Service.
    Speaker(Table<LbService>),
}

fn owned<K>(store: &Store<K>) -> Vec<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    store
        .state()
        .iter()
        .map(|object| (**object).clone())
        .collect()
}

impl Stores {
    async fn wait_until_ready(&self) {
        // Each returns an error only if its writer is gone (the task ended): then there is
        // nothing more to wait for.
        for store in &self.metallb {
            let _ = store.wait_until_ready().await;
        }
        let _ = self.secrets.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        let _ = self.nodes.wait_until_ready().await;
        match &self.services {
            ServiceStore::Controller(table) => table.wait_until_ready().await,
            ServiceStore::Speaker(table) => table.wait_until_ready().await,
        }
        if let Some(endpoints) = &self.endpoints {
            endpoints.wait_until_ready().await;
        }
    }

    fn snapshot(&self) -> Snapshot {
        let objects: Vec<DynamicObject> = self
            .metallb
            .iter()
            .flat_map(|store| store.state())
            .map(|object| (*object).clone())
            .collect();
        let (mut resources, problems) = decode(objects);
        resources.secrets = owned(&self.secrets);
        resources.namespaces = owned(&self.namespaces);
        resources.nodes = owned(&self.nodes);
        let (controller_services, lb_services) = match &self.services {
            ServiceStore::Controller(table) => (table.state(), Vec::new()),
            ServiceStore::Speaker(table) => (Vec::new(), table.state()),
        };
        Snapshot {
            resources,
            services: Vec::new(),
            controller_services,
            lb_services,
            endpoints: self
                .endpoints
                .as_ref()
                .map(Table::state)
                .unwrap_or_default(),
            problems,
            warnings: Vec::new(),
            stale: None,
        }
    }
}

/// Where a watcher's events go: a kube reflector store, or the speaker's endpoint table.
trait Sink<K>: Send + 'static {
    fn apply(&mut self, event: &watcher::Event<K>);
}

impl<K> Sink<K> for reflector::store::Writer<K>
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    fn apply(&mut self, event: &watcher::Event<K>) {
        self.apply_watcher_event(event);
    }
}

type Key = (String, String);
type Entries<V> = std::collections::HashMap<Key, Arc<V>>;

/// Objects of one kind each kept as the few words a speaker reads of it (`V`), by namespace
/// and name, instead of the object (a trimmed Service or EndpointSlice still costs over a
/// kilobyte).
#[derive(Clone)]
struct Table<V> {
    table: Arc<std::sync::RwLock<Entries<V>>>,
    ready: watch::Receiver<bool>,
}

impl<V> Table<V> {
    fn state(&self) -> Vec<Arc<V>> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        table.values().cloned().collect()
    }

    async fn wait_until_ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|ready| *ready).await;
    }
}

/// Feeds a [`Table`]: `entry` makes what is kept of an object (`None`: nothing, as for a slice
/// of no Service); a full list replaces the table at its end, as kube's stores do.
struct TableSink<K, V> {
    table: Arc<std::sync::RwLock<Entries<V>>>,
    listing: Entries<V>,
    ready: watch::Sender<bool>,
    entry: fn(&K) -> Option<V>,
}

fn key<K: Resource>(object: &K) -> Key {
    let meta = object.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl<K, V> Sink<K> for TableSink<K, V>
where
    K: Resource + Send + 'static,
    V: Send + Sync + 'static,
{
    fn apply(&mut self, event: &watcher::Event<K>) {
        let table = || self.table.write().unwrap_or_else(|e| e.into_inner());
        match event {
            watcher::Event::Init => self.listing = Default::default(),
            watcher::Event::InitApply(object) => {
                if let Some(entry) = (self.entry)(object) {
                    self.listing.insert(key(object), Arc::new(entry));
                }
            }
            watcher::Event::InitDone => {
                *table() = std::mem::take(&mut self.listing);
                self.ready.send_replace(true);
            }
            watcher::Event::Apply(object) => {
                let entry = (self.entry)(object);
                let mut table = table();
                match entry {
                    Some(entry) => table.insert(key(object), Arc::new(entry)),
                    None => table.remove(&key(object)),
                };
            }
            watcher::Event::Delete(object) => {
                table().remove(&key(object));
            }
        }
    }
}

/// Watches `api` into a [`Table`] of what `entry` keeps of each object.
fn reflect_table<K, V>(
    kind: &'static str,
    api: Api<K>,
    config: watcher::Config,
    entry: fn(&K) -> Option<V>,
    changed: Signals,
) -> Table<V>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
    V: Send + Sync + 'static,
{
    let (ready_sender, ready) = watch::channel(false);
    let table = Arc::default();
    let sink = TableSink {
        table: Arc::clone(&table),
        listing: Default::default(),
        ready: ready_sender,
        entry,
    };
    // Nothing is kept but what `entry` reads, which it reads as the object arrives.
    spawn_reflector(kind, api, config, |_: &mut K| {}, sink, changed);
    Table { table, ready }
}

/// The metallb.io kinds IronLB reads, as (version, kind, plural). BGPPeer in its storage
/// version.
pub const METALLB_KINDS: [(&str, &str, &str); 6] = [
    ("v1beta1", "IPAddressPool", "ipaddresspools"),
    ("v1beta2", "BGPPeer", "bgppeers"),
    ("v1beta1", "BFDProfile", "bfdprofiles"),
    ("v1beta1", "BGPAdvertisement", "bgpadvertisements"),
    ("v1beta1", "L2Advertisement", "l2advertisements"),
    ("v1beta1", "Community", "communities"),
];

/// The API resource of a metallb.io kind.
pub fn api_resource(version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("metallb.io", version, kind), plural)
}

/// Decodes metallb.io objects as `ironlb validate` reads files; what does not decode is a
/// problem naming the object and field.
pub fn decode(objects: Vec<DynamicObject>) -> (Resources, Vec<Problem>) {
    let mut decoded = Vec::new();
    let mut problems = Vec::new();
    for object in objects {
        let value = match serde_json::to_value(&object) {
            Ok(value) => value,
            Err(error) => {
                problems.push(Problem {
                    file: "kubernetes".into(),
                    line: 0,
                    message: format!("{}: {error}", object.name_any()),
                });
                continue;
            }
        };
        let origin = Origin {
            file: "kubernetes".into(),
            line: 0,
        };
        match manifest::decode_value(value, origin) {
            Ok(document) => match document.result {
                Ok(object) => decoded.push(object),
                Err(error) => problems.push(Problem {
                    file: "kubernetes".into(),
                    line: 0,
                    message: format!(
                        "{} {}: {} (ignored until fixed)",
                        error.object, error.field, error.message
                    ),
                }),
            },
            Err(error) => problems.push(Problem {
                file: "kubernetes".into(),
                line: 0,
                message: error.to_string(),
            }),
        }
    }
    (Resources::from_objects(decoded.iter()), problems)
}

fn reflect_dynamic(
    kind: &'static str,
    api: Api<DynamicObject>,
    resource: ApiResource,
    changed: Signals,
) -> Store<DynamicObject> {
    let writer = reflector::store::Writer::new(resource);
    let store = writer.as_reader();
    spawn_reflector(
        kind,
        api,
        watcher::Config::default(),
        |object: &mut DynamicObject| object.managed_fields_mut().clear(),
        writer,
        changed,
    );
    store
}

/// Starts a reflector for `api` with `config`, keeping of each object what `trim` leaves;
/// every change is signalled on `changed`.
fn reflect<K>(
    kind: &'static str,
    api: Api<K>,
    config: watcher::Config,
    trim: impl Fn(&mut K) + Clone + Send + 'static,
    changed: Signals,
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    spawn_reflector(kind, api, config, trim, writer, changed);
    store
}

/// What a reflector is told and tells: it signals each change on `changed`, and learns from
/// `resume` (a counter the API probe bumps) that the API server answers again after an outage.
#[derive(Clone)]
struct Signals {
    changed: mpsc::UnboundedSender<()>,
    resume: watch::Receiver<u64>,
    /// Failed watch attempts so far (all kinds): the probe checks the API soon after one.
    failures: Arc<AtomicU64>,
}

/// Whether a watcher error means its resourceVersion is gone for good (410 Gone).
fn expired(error: &watcher::Error) -> bool {
    matches!(
        error,
        watcher::Error::WatchStartFailed(kube::Error::Api(status)) if status.code == 410
    )
}

/// Feeds `writer` from a watcher until the process ends. The watcher retries with backoff
/// and re-lists on a 410 Gone *event*; a watch request answered with HTTP 410 it would retry
/// from the same expired resourceVersion for ever, so then the watcher is started afresh,
/// which lists again (objects deleted meanwhile leave the store).
fn spawn_reflector<K>(
    kind: &'static str,
    api: Api<K>,
    config: watcher::Config,
    trim: impl Fn(&mut K) + Clone + Send + 'static,
    mut sink: impl Sink<K>,
    changed: Signals,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    tokio::spawn(async move {
        let Signals {
            changed,
            mut resume,
            failures,
        } = changed;
        let mut failing = false;
        loop {
            let stream = watcher(api.clone(), config.clone())
                .default_backoff()
                .modify(trim.clone());
            let mut stream = std::pin::pin!(stream);
            resume.mark_unchanged();
            let mut resumed = false;
            loop {
                let event = tokio::select! {
                    event = stream.next() => event,
                    // The API answers again while this watch waits out its backoff (grown
                    // during the outage, up to 30 s): start afresh now.
                    answer = resume.changed(), if failing => {
                        if answer.is_ok() {
                            info!(kind, "the API server answers again: watching afresh");
                            resumed = true;
                        }
                        break;
                    }
                };
                let Some(event) = event else { break };
                match event {
                    Ok(event) => {
                        sink.apply(&event);
                        if failing {
                            info!(kind, "watch resumed");
                            failing = false;
                        }
                        if changed.send(()).is_err() {
                            return;
                        }
                    }
                    Err(error) if expired(&error) => {
                        warn!(kind, %error, "watch expired (410 Gone): listing again");
                        failing = true;
                        break;
                    }
                    Err(error) => {
                        warn!(kind, %error, "watch failed; retrying with backoff, the last known state stays in force");
                        failures.fetch_add(1, Ordering::Relaxed);
                        failing = true;
                    }
                }
            }
            if !resumed {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
}

/// Watches the API and publishes snapshots. Must run inside a tokio runtime; returns once
/// every kind has been listed.
pub async fn watch(client: Client, options: SourceOptions) -> watch::Receiver<Arc<Snapshot>> {
    let (changed, mut changes) = mpsc::unbounded_channel();
    let (resume, resumed) = watch::channel(0u64);
    let failures = Arc::new(AtomicU64::new(0));
    let signals = Signals {
        changed,
        resume: resumed,
        failures: failures.clone(),
    };
    let stores = start_watchers(&client, &options, signals);
    stores.wait_until_ready().await;
    while changes.try_recv().is_ok() {}
    let first = stores.snapshot();
    info!(
        services = first.controller_services.len() + first.lb_services.len(),
        nodes = first.resources.nodes.len(),
        "initial list of the cluster complete"
    );
    let (sender, receiver) = watch::channel(Arc::new(first));
    let staleness = Staleness::new(options.staleness_bound);
    let tracker = Arc::new(Mutex::new(StalenessTracker::new(staleness, Instant::now())));
    tokio::spawn(probe(
        client,
        staleness.probe_interval,
        tracker.clone(),
        Resume { resume, failures },
    ));
    tokio::spawn(publish(stores, changes, sender, tracker, options.debounce));
    receiver
}

/// Starts one watcher per kind the scope reads, each signalling its changes on `changed`.
fn start_watchers(client: &Client, options: &SourceOptions, changed: Signals) -> Stores {
    let ns = options.namespace.as_str();
    Stores {
        metallb: METALLB_KINDS
            .iter()
            .map(|(version, kind, plural)| {
                let resource = api_resource(version, kind, plural);
                let api = Api::namespaced_with(client.clone(), ns, &resource);
                reflect_dynamic(kind, api, resource, changed.clone())
            })
            .collect(),
        // Only IronLB's namespace: nobody reads Secrets cluster-wide.
        secrets: reflect(
            "Secret",
            Api::namespaced(client.clone(), ns),
            watcher::Config::default(),
            |secret: &mut Secret| secret.metadata.managed_fields = None,
            changed.clone(),
        ),
        namespaces: reflect(
            "Namespace",
            Api::all(client.clone()),
            watcher::Config::default(),
            trim::namespace,
            changed.clone(),
        ),
        nodes: reflect_nodes(client, changed.clone()),
        services: reflect_services(client, &options.scope, changed.clone()),
        endpoints: match &options.scope {
            // The controller does not read endpoints: it watches none.
            Scope::Controller => None,
            Scope::Speaker { .. } => Some(reflect_table(
                "EndpointSlice",
                Api::all(client.clone()),
                watcher::Config::default(),
                SliceEndpoints::of,
                changed,
            )),
        },
    }
}

/// Every Node: the controller judges pool and peer selectors against them, a speaker layer 2
/// elections.
fn reflect_nodes(client: &Client, changed: Signals) -> Store<Node> {
    reflect(
        "Node",
        Api::all(client.clone()),
        watcher::Config::default(),
        trim::node,
        changed,
    )
}

fn reflect_services(client: &Client, scope: &Scope, changed: Signals) -> ServiceStore {
    match scope {
        // Every Service: a LoadBalancer one is allocated for, and one that leaves
        // LoadBalancer must have its pool annotation removed (it is kept while it has one).
        Scope::Controller => ServiceStore::Controller(reflect_table(
            "Service",
            Api::all(client.clone()),
            watcher::Config::default(),
            |service: &Service| {
                Some(ControllerService::of(service)).filter(ControllerService::concerns_controller)
            },
            changed,
        )),
        // Only LoadBalancer Services (a field selector since Kubernetes 1.31): one that
        // stops being one arrives as a deletion, and its routes are withdrawn.
        Scope::Speaker { .. } => ServiceStore::Speaker(reflect_table(
            "Service",
            Api::all(client.clone()),
            watcher::Config::default().fields("spec.type=LoadBalancer"),
            |service: &Service| Some(LbService::of(service)),
            changed,
        )),
    }
}

fn lock(tracker: &Mutex<StalenessTracker>) -> MutexGuard<'_, StalenessTracker> {
    tracker.lock().unwrap_or_else(|e| e.into_inner())
}

/// Publishes a snapshot shortly after each burst of changes, and whenever the view becomes
/// stale or fresh again; the tracker is asked every second (a mutex read: the verdict flips
/// soon after the probe answers), and what it reports is logged.
async fn publish(
    stores: Stores,
    mut changes: mpsc::UnboundedReceiver<()>,
    sender: watch::Sender<Arc<Snapshot>>,
    tracker: Arc<Mutex<StalenessTracker>>,
    debounce: Duration,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sent: Option<tokio::time::Instant> = None;
    loop {
        let changed = tokio::select! {
            change = changes.recv() => {
                if change.is_none() {
                    return;
                }
                lock(&tracker).heard(Instant::now());
                // A lone change goes out at once; the changes of a burst (a Deployment
                // scaling touches many objects at once) that come within `debounce` of the
                // last snapshot are gathered into the next one.
                if let Some(due) = last_sent.map(|at| at + debounce)
                    && due > tokio::time::Instant::now()
                {
                    tokio::time::sleep_until(due).await;
                }
                while changes.try_recv().is_ok() {}
                true
            }
            _ = tick.tick() => false,
        };
        let observation = lock(&tracker).observe(Instant::now());
        if let Some(report) = observation.report {
            log_report(report);
        }
        if changed || observation.stale_changed {
            let mut snapshot = stores.snapshot();
            snapshot.stale = observation.stale_reason();
            if sender.send(Arc::new(snapshot)).is_err() {
                return;
            }
            last_sent = Some(tokio::time::Instant::now());
        }
    }
}

/// Logs what the tracker reports: loud while the API is away, once when it is back.
fn log_report(report: Report) {
    match report {
        Report::Reachable { away } => {
            info!(away_s = away.as_secs(), "Kubernetes API reachable again")
        }
        Report::Stale { silent, bound } => error!(
            silent_s = silent.as_secs(),
            bound_s = bound.as_secs(),
            "Kubernetes API unreachable for longer than --api-staleness-bound: the last known state is not trusted any more, routes are withdrawn until the API answers"
        ),
        Report::Unreachable {
            silent,
            bound: Some(bound),
        } => warn!(
            silent_s = silent.as_secs(),
            bound_s = bound.as_secs(),
            "Kubernetes API unreachable: announcing the last known state until the staleness bound"
        ),
        Report::Unreachable {
            silent,
            bound: None,
        } => warn!(
            silent_s = silent.as_secs(),
            "Kubernetes API unreachable: announcing the last known state (no --api-staleness-bound: for as long as it takes)"
        ),
    }
}

/// Tells the tracker of every answer from the API server; asks only after half a probe
/// interval without a watch event (a busy cluster is never probed), so the silence seen
/// by a healthy component stays under two intervals. Once a probe goes unanswered it asks
/// every few seconds, so the API's return is noticed at once (a quiet cluster sends no
/// event to notice it by).
async fn probe(
    client: Client,
    interval: Duration,
    tracker: Arc<Mutex<StalenessTracker>>,
    watches: Resume,
) {
    let timeout = interval.min(PROBE_RETRY);
    let mut unanswered = false;
    // Watch failures up to the last answered probe.
    let mut failures_seen = 0;
    loop {
        tokio::time::sleep(if unanswered {
            PROBE_RETRY.min(interval / 2)
        } else {
            PROBE_CHECK.min(interval / 2)
        })
        .await;
        let failures = watches.failures.load(Ordering::Relaxed);
        let quiet = lock(&tracker).silent(Instant::now()) >= interval / 2;
        if !unanswered && !quiet && failures == failures_seen {
            continue;
        }
        let answer = tokio::time::timeout(timeout, client.apiserver_version()).await;
        if let Ok(Ok(_)) = answer {
            lock(&tracker).heard(Instant::now());
            failures_seen = failures;
            if std::mem::take(&mut unanswered) {
                // Watches that failed meanwhile start afresh instead of waiting out their
                // backoff (grown during the outage, up to 30 s).
                watches.resume.send_modify(|generation| *generation += 1);
            }
        } else {
            unanswered = true;
        }
    }
}

/// What the probe tells the watches: the API answers again (`resume`); what they tell it: a
/// watch failed (`failures`).
struct Resume {
    resume: watch::Sender<u64>,
    failures: Arc<AtomicU64>,
}

/// How often the probe looks whether it has something to do (no request unless it has).
const PROBE_CHECK: Duration = Duration::from_secs(1);

/// How long a probe waits for an answer, and how soon an unanswered one is tried again.
const PROBE_RETRY: Duration = Duration::from_secs(2);
