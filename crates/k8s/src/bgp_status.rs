//! ServiceBGPStatus objects, as MetalLB's speaker writes them: one per (Service, node), in
//! IronLB's namespace, labelled `metallb.io/node`, `metallb.io/service-name`,
//! `metallb.io/service-namespace`, with `status.peers` the sorted BGPPeer names the Service's
//! prefixes were handed to from this node. IronLB lists the peers that were actually sent
//! the prefixes (the Adj-RIB-Out), not intent. Deleted when the list becomes empty. And the
//! speaker's `nodeAssigned` event when a Service starts being announced from the node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ironlb_model::Snapshot;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use ironlb_api::v1beta1::{ServiceBGPStatus, ServiceBGPStatusSpec, ServiceBGPStatusStatus};
use ironlb_model::status::SpeakerStatus;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::watch;
use tracing::warn;

const NODE_LABEL: &str = "metallb.io/node";
const NAME_LABEL: &str = "metallb.io/service-name";
const NAMESPACE_LABEL: &str = "metallb.io/service-namespace";

/// `nodeAssigned` on each Service in `started`, 16 at a time.
async fn publish_node_assigned(
    recorder: &Recorder,
    node: &str,
    snapshot: &Snapshot,
    started: Vec<(String, String)>,
) {
    use futures::StreamExt;
    if started.is_empty() {
        return;
    }
    let services = crate::lb_services_by_key(snapshot);
    let note = format!("announcing from node {node:?} with protocol \"bgp\"");
    // Owned references and clones: a future that borrows across the stream is not Send.
    let targets: Vec<_> = started
        .iter()
        .filter_map(|(namespace, name)| services.get(&(namespace.as_str(), name.as_str())))
        .map(|service| crate::service_reference(service))
        .collect();
    futures::stream::iter(targets)
        .map(|reference| {
            let recorder = recorder.clone();
            let event = Event {
                type_: EventType::Normal,
                reason: "nodeAssigned".into(),
                note: Some(note.clone()),
                action: "nodeAssigned".into(),
                secondary: None,
            };
            async move {
                if let Err(error) = recorder.publish(&event, &reference).await {
                    warn!(%error, "cannot publish the nodeAssigned event");
                }
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

/// (service namespace, service name) → peers.
type Wanted = BTreeMap<(String, String), Vec<String>>;

fn wanted(status: &SpeakerStatus) -> Wanted {
    status
        .services
        .iter()
        .filter(|s| !s.peers.is_empty())
        .map(|s| {
            let mut peers = s.peers.clone();
            peers.sort();
            ((s.namespace.clone(), s.name.clone()), peers)
        })
        .collect()
}

/// Keeps this node's ServiceBGPStatus objects in line with `statuses` until it closes, and
/// posts MetalLB's `nodeAssigned` event on a Service when this node starts announcing it
/// (`snapshots` give the Service's identity).
pub async fn run(
    client: Client,
    namespace: String,
    node: String,
    mut statuses: watch::Receiver<SpeakerStatus>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
) {
    let api: Api<ServiceBGPStatus> = Api::namespaced(client.clone(), &namespace);
    let mut announced: BTreeSet<(String, String)> = BTreeSet::new();
    loop {
        let want = wanted(&statuses.borrow_and_update());
        let started: Vec<(String, String)> = want
            .keys()
            .filter(|key| !announced.contains(*key))
            .cloned()
            .collect();
        announced = want.keys().cloned().collect();
        let snapshot = snapshots.borrow().clone();
        // A recorder per batch: kube's keeps every event it posted in a map that never shrinks.
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "ironlb-speaker".into(),
                instance: Some(node.clone()),
            },
        );
        publish_node_assigned(&recorder, &node, &snapshot, started).await;
        if let Err(error) = reconcile(&api, &namespace, &node, &want).await {
            warn!(%error, "cannot update ServiceBGPStatus objects; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        if statuses.changed().await.is_err() {
            return;
        }
        // Announcements change in bursts: gather them.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn reconcile(
    api: &Api<ServiceBGPStatus>,
    namespace: &str,
    node: &str,
    want: &Wanted,
) -> Result<(), kube::Error> {
    let existing = api
        .list(&ListParams::default().labels(&format!("{NODE_LABEL}={node}")))
        .await?;
    let mut have: BTreeMap<(String, String), ServiceBGPStatus> = BTreeMap::new();
    for object in existing {
        let labels = object.labels();
        let key = (
            labels.get(NAMESPACE_LABEL).cloned().unwrap_or_default(),
            labels.get(NAME_LABEL).cloned().unwrap_or_default(),
        );
        if have.contains_key(&key) || !want.contains_key(&key) {
            api.delete(&object.name_any(), &DeleteParams::default())
                .await?;
            continue;
        }
        have.insert(key, object);
    }
    for ((service_namespace, service_name), peers) in want {
        let status = ServiceBGPStatusStatus {
            node: node.to_string(),
            service_name: service_name.clone(),
            service_namespace: service_namespace.clone(),
            peers: peers.clone(),
        };
        let name = match have.get(&(service_namespace.clone(), service_name.clone())) {
            Some(object) if object.status.as_ref() == Some(&status) => continue,
            Some(object) => object.name_any(),
            None => {
                let mut object = ServiceBGPStatus::new("", ServiceBGPStatusSpec {});
                object.metadata.name = None;
                object.metadata.generate_name = Some("bgp-".into());
                object.metadata.namespace = Some(namespace.to_string());
                object.metadata.labels = Some(
                    [
                        (NODE_LABEL.to_string(), node.to_string()),
                        (NAME_LABEL.to_string(), service_name.clone()),
                        (NAMESPACE_LABEL.to_string(), service_namespace.clone()),
                    ]
                    .into(),
                );
                api.create(&PostParams::default(), &object)
                    .await?
                    .name_any()
            }
        };
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await?;
    }
    Ok(())
}
