//! The Kubernetes source of the cluster [`Snapshot`]: one reflector per kind, and a new
//! snapshot published shortly after any of them changes.
//!
//! The first snapshot is published only once every reflector has listed its kind: before
//! that, an empty Service list would look like "every Service was deleted" to the controller.
//! When the API server becomes unreachable the reflectors retry with backoff and the last
//! snapshot stays in force, so the speaker keeps announcing what it last knew (MetalLB issue
//! #131).

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ironlb_api::k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use ironlb_api::k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use ironlb_api::manifest::{self, Origin};
use ironlb_cluster::{Problem, Snapshot};
use ironlb_config::Resources;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::trim;

/// Who reads the snapshots, which decides what is watched and what of it is kept.
#[derive(Clone, Debug, Default)]
pub enum Scope {
    /// The controller (and its webhook): every LoadBalancer Service whole, every Node and
    /// Namespace (pool and peer selectors are judged against all of them).
    #[default]
    Controller,
    /// The speaker of one node: its own Node only, and of each LoadBalancer Service and
    /// EndpointSlice only what decides its announcement ([`crate::trim`]). `can_serve` is
    /// the speaker's rule for an endpoint that counts.
    Speaker {
        node: String,
        can_serve: fn(&Endpoint) -> bool,
    },
}

/// What to watch.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// The namespace of IronLB's metallb.io objects and Secrets.
    pub namespace: String,
    /// How long to gather changes before publishing a snapshot.
    pub debounce: Duration,
    pub scope: Scope,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            namespace: "metallb-system".into(),
            debounce: Duration::from_millis(2),
            scope: Scope::Controller,
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
    services: Store<Service>,
    endpoint_slices: Option<Store<EndpointSlice>>,
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

/// Services and EndpointSlices are shared with the cache, not copied: with thousands of
/// them, a snapshot per change must not cost a copy of each.
fn shared<K>(store: &Store<K>) -> Vec<Arc<K>>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    store.state()
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
        let _ = self.services.wait_until_ready().await;
        if let Some(slices) = &self.endpoint_slices {
            let _ = slices.wait_until_ready().await;
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
        Snapshot {
            resources,
            services: shared(&self.services),
            endpoint_slices: self
                .endpoint_slices
                .as_ref()
                .map(shared)
                .unwrap_or_default(),
            problems,
            warnings: Vec::new(),
        }
    }
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
    changed: mpsc::UnboundedSender<()>,
) -> Store<DynamicObject> {
    let writer = reflector::store::Writer::new(resource);
    let store = writer.as_reader();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|object: &mut DynamicObject| object.managed_fields_mut().clear())
        .reflect(writer);
    spawn_watch(kind, stream, changed);
    store
}

/// Starts a reflector for `api` with `config`, keeping of each object what `trim` leaves;
/// every change is signalled on `changed`.
fn reflect<K>(
    kind: &'static str,
    api: Api<K>,
    config: watcher::Config,
    trim: impl FnMut(&mut K) + Send + 'static,
    changed: mpsc::UnboundedSender<()>,
) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(trim)
        .reflect(writer);
    spawn_watch(kind, stream, changed);
    store
}

fn spawn_watch<S, T>(kind: &'static str, stream: S, changed: mpsc::UnboundedSender<()>)
where
    S: futures::Stream<Item = Result<T, watcher::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut failing = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => {
                    if failing {
                        info!(kind, "watch resumed");
                        failing = false;
                    }
                    if changed.send(()).is_err() {
                        return;
                    }
                }
                Err(error) => {
                    warn!(kind, %error, "watch failed; retrying with backoff, the last known state stays in force");
                    failing = true;
                }
            }
        }
    });
}

/// Watches the API and publishes snapshots. Must run inside a tokio runtime; returns once
/// every kind has been listed.
pub async fn watch(client: Client, options: SourceOptions) -> watch::Receiver<Arc<Snapshot>> {
    let (changed, mut changes) = mpsc::unbounded_channel();
    let ns = options.namespace.as_str();
    let stores = Stores {
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
        nodes: match &options.scope {
            Scope::Controller => reflect(
                "Node",
                Api::all(client.clone()),
                watcher::Config::default(),
                trim::node,
                changed.clone(),
            ),
            Scope::Speaker { node, .. } => reflect(
                "Node",
                Api::all(client.clone()),
                watcher::Config::default().fields(&format!("metadata.name={node}")),
                trim::node,
                changed.clone(),
            ),
        },
        services: match &options.scope {
            // Every Service, the others than LoadBalancer cut to their identity: one that
            // leaves LoadBalancer must have its pool annotation removed.
            Scope::Controller => reflect(
                "Service",
                Api::all(client.clone()),
                watcher::Config::default(),
                trim::service_for_controller,
                changed.clone(),
            ),
            // Only LoadBalancer Services (a field selector since Kubernetes 1.31): one that
            // stops being one arrives as a deletion, and its routes are withdrawn.
            Scope::Speaker { .. } => reflect(
                "Service",
                Api::all(client.clone()),
                watcher::Config::default().fields("spec.type=LoadBalancer"),
                trim::service_for_speaker,
                changed.clone(),
            ),
        },
        endpoint_slices: match &options.scope {
            // The controller does not read endpoints: it watches none.
            Scope::Controller => None,
            Scope::Speaker { node, can_serve } => {
                let (node, can_serve) = (node.clone(), *can_serve);
                Some(reflect(
                    "EndpointSlice",
                    Api::all(client),
                    watcher::Config::default(),
                    move |slice: &mut EndpointSlice| {
                        trim::endpoint_slice_for_speaker(slice, &node, can_serve)
                    },
                    changed,
                ))
            }
        },
    };
    stores.wait_until_ready().await;
    while changes.try_recv().is_ok() {}
    let first = stores.snapshot();
    info!(
        services = first.services.len(),
        nodes = first.resources.nodes.len(),
        "initial list of the cluster complete"
    );
    let (sender, receiver) = watch::channel(Arc::new(first));
    tokio::spawn(async move {
        while changes.recv().await.is_some() {
            // Gather the burst (a Deployment scaling touches many objects at once).
            tokio::time::sleep(options.debounce).await;
            while changes.try_recv().is_ok() {}
            if sender.send(Arc::new(stores.snapshot())).is_err() {
                return;
            }
        }
    });
    receiver
}
