//! ServiceBGPStatus objects, as MetalLB's speaker writes them: one per (Service, node), in
//! IronLB's namespace, labelled `metallb.io/node`, `metallb.io/service-name`,
//! `metallb.io/service-namespace`, with `status.peers` the sorted BGPPeer names the Service's
//! prefixes were handed to from this node. IronLB lists the peers that were actually sent
//! the prefixes (the Adj-RIB-Out), not intent. Deleted when the list becomes empty.

use std::collections::BTreeMap;
use std::time::Duration;

use ironlb_api::v1beta1::{ServiceBGPStatus, ServiceBGPStatusSpec, ServiceBGPStatusStatus};
use ironlb_cluster::status::SpeakerStatus;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::watch;
use tracing::warn;

const NODE_LABEL: &str = "metallb.io/node";
const NAME_LABEL: &str = "metallb.io/service-name";
const NAMESPACE_LABEL: &str = "metallb.io/service-namespace";

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

/// Keeps this node's ServiceBGPStatus objects in line with `statuses` until it closes.
pub async fn run(
    client: Client,
    namespace: String,
    node: String,
    mut statuses: watch::Receiver<SpeakerStatus>,
) {
    let api: Api<ServiceBGPStatus> = Api::namespaced(client, &namespace);
    loop {
        let want = wanted(&statuses.borrow_and_update());
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
