//! ServiceBGPStatus objects, as MetalLB's speaker writes them: one per (Service, node), in
//! IronLB's namespace, labelled `metallb.io/node`, `metallb.io/service-name`,
//! `metallb.io/service-namespace`, with `status.peers` the sorted BGPPeer names the Service's
//! prefixes were handed to from this node. IronLB lists the peers that were actually sent
//! the prefixes (the Adj-RIB-Out), not intent. Deleted when the list becomes empty. And the
//! speaker's `nodeAssigned` event when a Service starts being announced from the node.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironlb_model::Snapshot;
use kube::runtime::events::{Event, EventType, Reporter};

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

/// `nodeAssigned` on each Service in `started`.
async fn publish_node_assigned(
    client: &Client,
    node: &str,
    snapshot: &Snapshot,
    started: Vec<Key>,
) {
    if started.is_empty() {
        return;
    }
    let services = crate::lb_services_by_key(snapshot);
    let note = format!("announcing from node {node:?} with protocol \"bgp\"");
    let reporter = Reporter {
        controller: "ironlb-speaker".into(),
        instance: Some(node.to_string()),
    };
    for some in started.chunks(crate::EVENTS_PER_RECORDER) {
        let events: Vec<_> = some
            .iter()
            .filter_map(|(namespace, name)| services.get(&(&**namespace, name.as_str())))
            .map(|service| {
                let event = Event {
                    type_: EventType::Normal,
                    reason: "nodeAssigned".into(),
                    note: Some(note.clone()),
                    action: "nodeAssigned".into(),
                    secondary: None,
                };
                (crate::service_reference(service), event)
            })
            .collect();
        crate::publish_events(client, &reporter, events).await;
    }
}

/// (Service namespace, Service name); the namespace shared with the speaker's status.
type Key = (Arc<str>, String);

/// Key → the sorted names of the peers the Service's prefixes were sent to (shared with the
/// speaker's status).
type Wanted = BTreeMap<Key, Vec<Arc<str>>>;

fn wanted(status: &SpeakerStatus) -> Wanted {
    status
        .services
        .iter()
        .filter(|s| !s.peers.is_empty())
        .map(|s| {
            let mut peers = s.peers.clone();
            peers.sort();
            ((Arc::clone(&s.namespace), s.name.clone()), peers)
        })
        .collect()
}

/// This node's ServiceBGPStatus objects as last listed or written: (Service namespace,
/// Service name) → the object's name and its `status.peers` (None when its status is not
/// the one IronLB writes for that Service and node, so the next write replaces it).
type Written = BTreeMap<Key, (String, Option<Vec<Arc<str>>>)>;

/// How long what was listed and written is trusted before the objects are listed again, so
/// one deleted or edited behind the speaker's back is put right within this time. A failed
/// write lists them again at once.
const RESYNC: Duration = Duration::from_secs(300);

/// Objects per page when listing (a node may have one for each of 10,000 Services: a page at
/// a time keeps only a page of whole objects in memory).
const PAGE: u32 = 500;

/// Keeps this node's ServiceBGPStatus objects in line with `statuses` until it closes, and
/// posts MetalLB's `nodeAssigned` event on a Service when this node starts announcing it
/// (`snapshots` give the Service's identity). The objects are listed when it starts, after a
/// failed write and every [`RESYNC`]; in between it writes only what changed, from what it
/// knows it wrote (it is their only writer), so a change of one Service costs one request,
/// not a list of every object of the node.
pub async fn run(
    client: Client,
    namespace: String,
    node: String,
    mut statuses: watch::Receiver<SpeakerStatus>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
) {
    let api: Api<ServiceBGPStatus> = Api::namespaced(client.clone(), &namespace);
    let mut announced = Wanted::new();
    let mut written: Option<(Written, Instant)> = None;
    loop {
        let want = wanted(&statuses.borrow_and_update());
        let started: Vec<Key> = want
            .keys()
            .filter(|key| !announced.contains_key(*key))
            .cloned()
            .collect();
        let snapshot = snapshots.borrow().clone();
        publish_node_assigned(&client, &node, &snapshot, started).await;
        drop(snapshot);
        let result = async {
            let (mut objects, listed) = match written.take() {
                Some((objects, listed)) if listed.elapsed() < RESYNC => (objects, listed),
                _ => (list(&api, &node, &want).await?, Instant::now()),
            };
            let result = reconcile(&api, &namespace, &node, &want, &mut objects).await;
            // After a failed write what is in the API is not known: list again next time.
            result.map(|()| (objects, listed))
        }
        .await;
        announced = want;
        match result {
            Ok(done) => written = Some(done),
            Err(error) => {
                warn!(%error, "cannot update ServiceBGPStatus objects; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        }
        // Wake for a change, or to list again when the objects are due a check.
        let due = written.as_ref().map_or(RESYNC, |(_, listed)| {
            RESYNC.saturating_sub(listed.elapsed())
        });
        match tokio::time::timeout(due, statuses.changed()).await {
            Ok(Err(_)) => return,
            Ok(Ok(())) => {}
            Err(_) => continue,
        }
        // Announcements change in bursts: gather them.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// This node's ServiceBGPStatus objects, a page at a time. Of two for the same Service, or one
/// for a Service not in `want`, the extra is deleted.
async fn list(
    api: &Api<ServiceBGPStatus>,
    node: &str,
    want: &Wanted,
) -> Result<Written, kube::Error> {
    let mut written = Written::new();
    let mut params = ListParams::default()
        .labels(&format!("{NODE_LABEL}={node}"))
        .limit(PAGE);
    loop {
        let page = api.list(&params).await?;
        let next = page
            .metadata
            .continue_
            .clone()
            .filter(|token| !token.is_empty());
        for object in page.items {
            let labels = object.labels();
            let key: Key = (
                Arc::from(labels.get(NAMESPACE_LABEL).map_or("", String::as_str)),
                labels.get(NAME_LABEL).cloned().unwrap_or_default(),
            );
            let (key, wanted) = match want.get_key_value(&key) {
                Some((key, peers)) if !written.contains_key(key) => (key.clone(), peers),
                _ => {
                    delete(api, &object.name_any()).await?;
                    continue;
                }
            };
            let peers = object.status.and_then(|status| {
                (status.node == node
                    && status.service_namespace == *key.0
                    && status.service_name == key.1
                    && status
                        .peers
                        .iter()
                        .map(String::as_str)
                        .eq(wanted.iter().map(|p| &**p)))
                .then(|| wanted.clone())
            });
            let name = object.metadata.name.unwrap_or_default();
            written.insert(key, (name, peers));
        }
        match next {
            Some(token) => params.continue_token = Some(token),
            None => return Ok(written),
        }
    }
}

/// Deletes one object; one already gone is fine.
async fn delete(api: &Api<ServiceBGPStatus>, name: &str) -> Result<(), kube::Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// What [`reconcile`] writes to make the objects say `want` when they say `written`.
#[derive(Debug, Default, PartialEq)]
struct Writes {
    /// Services no longer announced: their objects go.
    gone: Vec<Key>,
    /// Services whose object is missing or says other peers (or was not written by IronLB
    /// for this node): created if missing, then their status written.
    stale: Vec<Key>,
}

fn writes(want: &Wanted, written: &Written) -> Writes {
    Writes {
        gone: written
            .keys()
            .filter(|key| !want.contains_key(*key))
            .cloned()
            .collect(),
        stale: want
            .iter()
            .filter(|(key, peers)| {
                !matches!(written.get(*key), Some((_, Some(have))) if have == *peers)
            })
            .map(|(key, _)| key.clone())
            .collect(),
    }
}

/// Makes the objects say `want`, given that they say `written` (updated as it goes).
async fn reconcile(
    api: &Api<ServiceBGPStatus>,
    namespace: &str,
    node: &str,
    want: &Wanted,
    written: &mut Written,
) -> Result<(), kube::Error> {
    let Writes { gone, stale } = writes(want, written);
    for key in gone {
        if let Some((name, _)) = written.remove(&key) {
            delete(api, &name).await?;
        }
    }
    for key in stale {
        let Some(peers) = want.get(&key) else {
            continue;
        };
        let (service_namespace, service_name) = &key;
        let name = match written.get(&key) {
            Some((name, _)) => name.clone(),
            None => {
                let mut object = ServiceBGPStatus::new("", ServiceBGPStatusSpec {});
                object.metadata.name = None;
                object.metadata.generate_name = Some("bgp-".into());
                object.metadata.namespace = Some(namespace.to_string());
                object.metadata.labels = Some(
                    [
                        (NODE_LABEL.to_string(), node.to_string()),
                        (NAME_LABEL.to_string(), service_name.clone()),
                        (NAMESPACE_LABEL.to_string(), service_namespace.to_string()),
                    ]
                    .into(),
                );
                let name = api
                    .create(&PostParams::default(), &object)
                    .await?
                    .name_any();
                // Created with an empty status: a failed patch below leaves it to be written.
                written.insert(key.clone(), (name.clone(), None));
                name
            }
        };
        let status = ServiceBGPStatusStatus {
            node: node.to_string(),
            service_name: service_name.clone(),
            service_namespace: service_namespace.to_string(),
            peers: peers.iter().map(|peer| peer.to_string()).collect(),
        };
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status })),
        )
        .await?;
        written.insert(key, (name, Some(peers.clone())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        (Arc::from("default"), name.to_string())
    }

    fn peers(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|name| Arc::from(*name)).collect()
    }

    #[test]
    fn only_what_changed_is_written() {
        let want: Wanted = [
            (key("same"), peers(&["tor1", "tor2"])),
            (key("more-peers"), peers(&["tor1", "tor2"])),
            (key("new"), peers(&["tor1"])),
            (key("foreign"), peers(&["tor1"])),
        ]
        .into();
        let written: Written = [
            (
                key("same"),
                ("bgp-a".into(), Some(peers(&["tor1", "tor2"]))),
            ),
            (key("more-peers"), ("bgp-b".into(), Some(peers(&["tor1"])))),
            // Listed with a status IronLB did not write for this node.
            (key("foreign"), ("bgp-c".into(), None)),
            (key("withdrawn"), ("bgp-d".into(), Some(peers(&["tor2"])))),
        ]
        .into();
        assert_eq!(
            writes(&want, &written),
            Writes {
                gone: vec![key("withdrawn")],
                stale: vec![key("foreign"), key("more-peers"), key("new")],
            }
        );
    }

    #[test]
    fn nothing_to_write_when_in_line() {
        let want: Wanted = [(key("web"), peers(&["tor1"]))].into();
        let written: Written = [(key("web"), ("bgp-a".into(), Some(peers(&["tor1"]))))].into();
        assert_eq!(writes(&want, &written), Writes::default());
        assert_eq!(
            writes(&Wanted::new(), &written),
            Writes {
                gone: vec![key("web")],
                stale: vec![],
            }
        );
    }
}
