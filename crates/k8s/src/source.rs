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
use ironlb_api::k8s_openapi::api::discovery::v1::EndpointSlice;
use ironlb_api::{v1beta1, v1beta2};
use ironlb_cluster::Snapshot;
use ironlb_config::Resources;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

/// What to watch.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// The namespace of IronLB's metallb.io objects and Secrets.
    pub namespace: String,
    /// How long to gather changes before publishing a snapshot.
    pub debounce: Duration,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            namespace: "metallb-system".into(),
            debounce: Duration::from_millis(2),
        }
    }
}

struct Stores {
    pools: Store<v1beta1::IPAddressPool>,
    peers: Store<v1beta2::BGPPeer>,
    bfd_profiles: Store<v1beta1::BFDProfile>,
    bgp_advertisements: Store<v1beta1::BGPAdvertisement>,
    l2_advertisements: Store<v1beta1::L2Advertisement>,
    communities: Store<v1beta1::Community>,
    secrets: Store<Secret>,
    namespaces: Store<Namespace>,
    nodes: Store<Node>,
    services: Store<Service>,
    endpoint_slices: Store<EndpointSlice>,
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
        let _ = self.pools.wait_until_ready().await;
        let _ = self.peers.wait_until_ready().await;
        let _ = self.bfd_profiles.wait_until_ready().await;
        let _ = self.bgp_advertisements.wait_until_ready().await;
        let _ = self.l2_advertisements.wait_until_ready().await;
        let _ = self.communities.wait_until_ready().await;
        let _ = self.secrets.wait_until_ready().await;
        let _ = self.namespaces.wait_until_ready().await;
        let _ = self.nodes.wait_until_ready().await;
        let _ = self.services.wait_until_ready().await;
        let _ = self.endpoint_slices.wait_until_ready().await;
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            resources: Resources {
                pools: owned(&self.pools),
                peers: owned(&self.peers),
                bfd_profiles: owned(&self.bfd_profiles),
                bgp_advertisements: owned(&self.bgp_advertisements),
                l2_advertisements: owned(&self.l2_advertisements),
                communities: owned(&self.communities),
                secrets: owned(&self.secrets),
                namespaces: owned(&self.namespaces),
                nodes: owned(&self.nodes),
            },
            services: owned(&self.services),
            endpoint_slices: owned(&self.endpoint_slices),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Starts a reflector for `api`; every change is signalled on `changed`.
fn reflect<K>(kind: &'static str, api: Api<K>, changed: mpsc::UnboundedSender<()>) -> Store<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        // managedFields are a large share of every object and IronLB never reads them.
        .modify(|object: &mut K| object.managed_fields_mut().clear())
        .reflect(writer);
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
    store
}

/// Watches the API and publishes snapshots. Must run inside a tokio runtime; returns once
/// every kind has been listed.
pub async fn watch(client: Client, options: SourceOptions) -> watch::Receiver<Arc<Snapshot>> {
    let (changed, mut changes) = mpsc::unbounded_channel();
    let ns = options.namespace.as_str();
    let stores = Stores {
        pools: reflect(
            "IPAddressPool",
            Api::namespaced(client.clone(), ns),
            changed.clone(),
        ),
        peers: reflect(
            "BGPPeer",
            Api::namespaced(client.clone(), ns),
            changed.clone(),
        ),
        bfd_profiles: reflect(
            "BFDProfile",
            Api::namespaced(client.clone(), ns),
            changed.clone(),
        ),
        bgp_advertisements: reflect(
            "BGPAdvertisement",
            Api::namespaced(client.clone(), ns),
            changed.clone(),
        ),
        l2_advertisements: reflect(
            "L2Advertisement",
            Api::namespaced(client.clone(), ns),
            changed.clone(),
        ),
        communities: reflect(
            "Community",
            Api::namespaced(client.clone(), ns),
            changed.clone(),
        ),
        // Only IronLB's namespace: nobody reads Secrets cluster-wide.
        secrets: reflect(
            "Secret",
            Api::namespaced(client.clone(), ns),
            changed.clone(),
        ),
        namespaces: reflect("Namespace", Api::all(client.clone()), changed.clone()),
        nodes: reflect("Node", Api::all(client.clone()), changed.clone()),
        services: reflect("Service", Api::all(client.clone()), changed.clone()),
        endpoint_slices: reflect("EndpointSlice", Api::all(client), changed),
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
