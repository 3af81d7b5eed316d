//! ServiceL2Status objects and the layer 2 events, as MetalLB's speaker writes them
//! (`internal/k8s/controllers/layer2_status_controller.go`, `speaker/layer2_controller.go`):
//! one object per Service this node answers for, in IronLB's namespace, `generateName: l2-`,
//! labelled `metallb.io/node`, `metallb.io/service-name`, `metallb.io/service-namespace`, with
//! `status.node`, `status.serviceName`, `status.serviceNamespace` and `status.interfaces`, owned
//! by the speaker's Pod when it runs in one. The ServiceBGPStatus twin is [`crate::bgp_status`].
//!
//! Who keeps which object, as MetalLB decides it:
//! - a node keeps one object per Service it answers for, and deletes its objects of every
//!   other Service (also those left by its previous process: the first pass does it);
//! - a node that starts answering for a Service deletes the objects other nodes have for it:
//!   a dead owner cannot delete its own, and its Pod (the owner reference) may stay for long;
//! - an object of this node deleted by someone else while the node still answers is written
//!   again (its objects are watched).
//!
//! Where IronLB differs, and why:
//! - `status.interfaces` names the interfaces the owner actually answers on, also when the
//!   L2Advertisements name none (MetalLB leaves it empty then, and lists the named interfaces
//!   even when some do not exist): the field is documented as "the interfaces that receive
//!   the directed traffic", and that is what it says;
//! - an object exists only while the node answers: not during a starting speaker's grace,
//!   nor when none of the interfaces the advertisements name exist (MetalLB writes one then,
//!   and also posts `nodeAssigned`, though nothing is announced);
//! - the events are posted when the node starts answering (`nodeAssigned`) and when the
//!   failure starts or changes (`announceFailed`), not on every reconcile of the Service.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use ironlb_api::v1beta1::{ServiceL2Status, ServiceL2StatusSpec, ServiceL2StatusStatus};
use ironlb_model::Snapshot;
use ironlb_model::status::Layer2Announcement;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Event, EventType, Reporter};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tracing::{debug, warn};

use crate::source::api_resource;

const NODE_LABEL: &str = "metallb.io/node";
const NAME_LABEL: &str = "metallb.io/service-name";
const NAMESPACE_LABEL: &str = "metallb.io/service-namespace";

/// The reason of a [`Layer2Announcement`] whose owner cannot answer on the interfaces the
/// L2Advertisements name.
const ANNOUNCE_FAILED: &str = "announceFailed";

/// A Service: (namespace, name).
pub type ServiceKey = (String, String);

/// The owner cannot answer for a Service as its L2Advertisements say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub addresses: Vec<String>,
    /// The interfaces it answers on all the same (empty: it answers nowhere).
    pub answering_on: Vec<String>,
}

/// What this node does in layer 2 mode, as the API shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The Services this node answers for, with the interfaces it answers on (sorted, never
    /// empty): one ServiceL2Status each.
    pub answering: BTreeMap<ServiceKey, Vec<String>>,
    /// The Services this node owns but cannot announce as asked: `announceFailed`.
    pub failed: BTreeMap<ServiceKey, Failure>,
}

/// The report of `node` from its speaker's layer 2 announcements.
pub fn report(node: &str, announcements: &[Layer2Announcement]) -> Report {
    let mut report = Report::default();
    for announcement in announcements {
        if announcement.owner.as_deref() != Some(node) {
            continue;
        }
        let key = (announcement.namespace.clone(), announcement.name.clone());
        let mut interfaces = announcement.interfaces.clone();
        interfaces.sort();
        interfaces.dedup();
        if announcement.reason.as_deref() == Some(ANNOUNCE_FAILED) {
            report.failed.insert(
                key.clone(),
                Failure {
                    addresses: announcement.addresses.clone(),
                    answering_on: interfaces.clone(),
                },
            );
        }
        if !interfaces.is_empty() {
            report.answering.insert(key, interfaces);
        }
    }
    report
}

/// MetalLB's `nodeAssigned`, for layer 2.
pub fn node_assigned(node: &str) -> Event {
    Event {
        type_: EventType::Normal,
        reason: "nodeAssigned".into(),
        note: Some(format!(
            "announcing from node {node:?} with protocol \"layer2\""
        )),
        action: "nodeAssigned".into(),
        secondary: None,
    }
}

/// MetalLB's `announceFailed` (a Warning): one per address when the node answers nowhere
/// (MetalLB's message); when it answers on some of the interfaces named, one saying which.
pub fn announce_failed(node: &str, failure: &Failure) -> Vec<Event> {
    let event = |note: String| Event {
        type_: EventType::Warning,
        reason: ANNOUNCE_FAILED.into(),
        note: Some(note),
        action: ANNOUNCE_FAILED.into(),
        secondary: None,
    };
    if failure.answering_on.is_empty() {
        failure
            .addresses
            .iter()
            .map(|address| {
                event(format!(
                    "the interfaces specified by LB IP {address:?} doesn't exist in assigned node {node:?} with protocol \"layer2\""
                ))
            })
            .collect()
    } else {
        vec![event(format!(
            "some interfaces specified for LB IPs {:?} don't exist or cannot answer in assigned node {node:?} with protocol \"layer2\"; answering on {:?}",
            failure.addresses, failure.answering_on
        ))]
    }
}

/// The status this node writes for a Service it answers for, as a merge patch (an empty
/// interface list is written as null, so an older list does not stay).
pub fn status(node: &str, key: &ServiceKey, interfaces: &[String]) -> Value {
    let interfaces: Vec<Value> = interfaces
        .iter()
        .map(|name| json!({ "name": name }))
        .collect();
    json!({
        "node": node,
        "serviceName": key.1,
        "serviceNamespace": key.0,
        "interfaces": if interfaces.is_empty() { Value::Null } else { Value::Array(interfaces) },
    })
}

/// A new object for `key` (its status is written next, through the status subresource).
pub fn new_object(
    namespace: &str,
    node: &str,
    key: &ServiceKey,
    owner: Option<&OwnerReference>,
) -> ServiceL2Status {
    let mut object = ServiceL2Status::new("", ServiceL2StatusSpec {});
    object.metadata.name = None;
    object.metadata.generate_name = Some("l2-".into());
    object.metadata.namespace = Some(namespace.to_string());
    object.metadata.labels = Some(labels(node, key));
    object.metadata.owner_references = owner.map(|owner| vec![owner.clone()]);
    object
}

fn labels(node: &str, key: &ServiceKey) -> BTreeMap<String, String> {
    [
        (NODE_LABEL.to_string(), node.to_string()),
        (NAME_LABEL.to_string(), key.1.clone()),
        (NAMESPACE_LABEL.to_string(), key.0.clone()),
    ]
    .into()
}

/// An object as listed, read leniently: one without `spec` (the schema allows it) or with an
/// unreadable status is still seen, so it can be deleted, and does not stop the others from
/// being read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listed {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub status: Option<ServiceL2StatusStatus>,
    pub owner_references: Vec<OwnerReference>,
}

impl Listed {
    pub fn from_dynamic(object: DynamicObject) -> Listed {
        Listed {
            name: object.name_any(),
            status: object
                .data
                .get("status")
                .and_then(|status| serde_json::from_value(status.clone()).ok()),
            labels: object.metadata.labels.unwrap_or_default(),
            owner_references: object.metadata.owner_references.unwrap_or_default(),
        }
    }
}

/// What to do to the objects listed so that they match `answering`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actions {
    /// Objects to delete, by name.
    pub delete: Vec<String>,
    /// Services whose object is to be created.
    pub create: Vec<ServiceKey>,
    /// Existing objects (name, Service) whose status (or owner) is to be written.
    pub update: Vec<(String, ServiceKey)>,
}

/// Plans the writes: this node's objects follow `answering` (one per Service, duplicates and
/// others deleted; one whose immutable fields name another node or Service is replaced), and
/// another node's object for a Service this node answers for is deleted.
pub fn actions(
    objects: &[Listed],
    node: &str,
    answering: &BTreeMap<ServiceKey, Vec<String>>,
    owner: Option<&OwnerReference>,
) -> Actions {
    let mut actions = Actions::default();
    let mut kept: BTreeSet<ServiceKey> = BTreeSet::new();
    for object in objects {
        let labels = &object.labels;
        let key = (
            labels.get(NAMESPACE_LABEL).cloned().unwrap_or_default(),
            labels.get(NAME_LABEL).cloned().unwrap_or_default(),
        );
        let Some(interfaces) = answering.get(&key) else {
            if labels.get(NODE_LABEL).map(String::as_str) == Some(node) {
                actions.delete.push(object.name.clone());
            }
            continue;
        };
        let mine = labels.get(NODE_LABEL).map(String::as_str) == Some(node);
        let current = object.status.as_ref();
        let foreign = current.is_some_and(|s| {
            (!s.node.is_empty() && s.node != node)
                || (!s.service_name.is_empty() && s.service_name != key.1)
                || (!s.service_namespace.is_empty() && s.service_namespace != key.0)
        });
        if !mine || foreign || kept.contains(&key) {
            actions.delete.push(object.name.clone());
            continue;
        }
        kept.insert(key.clone());
        let written = current.is_some_and(|s| {
            s.node == node
                && s.interfaces.iter().map(|i| &i.name).eq(interfaces.iter())
                && !s.service_name.is_empty()
        });
        let owned = owner.is_none_or(|owner| object.owner_references == [owner.clone()]);
        if !written || !owned {
            actions.update.push((object.name.clone(), key));
        }
    }
    actions.create = answering
        .keys()
        .filter(|key| !kept.contains(*key))
        .cloned()
        .collect();
    actions
}

/// Keeps this node's ServiceL2Status objects in line with its speaker's layer 2
/// announcements until they close, and posts `nodeAssigned` / `announceFailed` on the
/// Services (`snapshots` give their identity).
pub async fn run(
    client: Client,
    namespace: String,
    node: String,
    owner: Option<OwnerReference>,
    mut announcements: watch::Receiver<Vec<Layer2Announcement>>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
) {
    let api: Api<ServiceL2Status> = Api::namespaced(client.clone(), &namespace);
    let resource = api_resource("v1beta1", "ServiceL2Status", "servicel2statuses");
    let listing: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
    let deleted = Arc::new(Notify::new());
    let watch_task = tokio::spawn(watch_own_objects(
        Api::namespaced(client.clone(), &namespace),
        node.clone(),
        deleted.clone(),
    ));
    let mut previous = Report::default();
    // Services this node started answering for whose other nodes' objects are still to be
    // deleted (kept until a reconcile succeeds).
    let mut taken_over: BTreeSet<ServiceKey> = BTreeSet::new();
    loop {
        let now = report(&node, &announcements.borrow_and_update());
        let started: Vec<ServiceKey> = now
            .answering
            .keys()
            .filter(|key| !previous.answering.contains_key(*key))
            .cloned()
            .collect();
        let mut events: Vec<(ServiceKey, Event)> = started
            .iter()
            .map(|key| (key.clone(), node_assigned(&node)))
            .collect();
        for (key, failure) in &now.failed {
            if previous.failed.get(key) != Some(failure) {
                for event in announce_failed(&node, failure) {
                    events.push((key.clone(), event));
                }
            }
        }
        taken_over.extend(started);
        taken_over.retain(|key| now.answering.contains_key(key));
        let snapshot = snapshots.borrow().clone();
        publish(&client, &node, &snapshot, events).await;
        previous = now;
        if let Err(error) = reconcile(
            &api,
            &listing,
            &namespace,
            &node,
            owner.as_ref(),
            &previous.answering,
            !taken_over.is_empty(),
        )
        .await
        {
            warn!(%error, "cannot update ServiceL2Status objects; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        taken_over.clear();
        tokio::select! {
            changed = announcements.changed() => if changed.is_err() { break },
            () = deleted.notified() => {}
        }
        // Announcements change in bursts: gather them.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    watch_task.abort();
}

/// Wakes `deleted` whenever an object of this node is deleted (by this node or another: the
/// next reconcile writes it again if the node still answers for its Service).
async fn watch_own_objects(
    api: Api<PartialObjectMeta<ServiceL2Status>>,
    node: String,
    deleted: Arc<Notify>,
) {
    use kube::runtime::WatchStreamExt;
    let config = watcher::Config::default().labels(&format!("{NODE_LABEL}={node}"));
    // Metadata only: enough to see deletions, and no object is unreadable.
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Delete(_)) => deleted.notify_one(),
            Ok(_) => {}
            Err(error) => debug!(%error, "ServiceL2Status watch interrupted; resuming"),
        }
    }
}

/// Lists this node's objects (every object in the namespace when this node has just started
/// answering for some Service: the other nodes' objects for it go) and applies [`actions`].
async fn reconcile(
    api: &Api<ServiceL2Status>,
    listing: &Api<DynamicObject>,
    namespace: &str,
    node: &str,
    owner: Option<&OwnerReference>,
    answering: &BTreeMap<ServiceKey, Vec<String>>,
    everyone: bool,
) -> Result<(), kube::Error> {
    let params = if everyone {
        ListParams::default()
    } else {
        ListParams::default().labels(&format!("{NODE_LABEL}={node}"))
    };
    let objects: Vec<Listed> = listing
        .list(&params)
        .await?
        .items
        .into_iter()
        .map(Listed::from_dynamic)
        .collect();
    let actions = actions(&objects, node, answering, owner);
    for name in &actions.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error),
        }
    }
    let mut writes: Vec<(String, &ServiceKey, bool)> = Vec::new();
    for key in &actions.create {
        let object = new_object(namespace, node, key, owner);
        let name = api
            .create(&PostParams::default(), &object)
            .await?
            .name_any();
        writes.push((name, key, false));
    }
    for (name, key) in &actions.update {
        writes.push((name.clone(), key, true));
    }
    for (name, key, existing) in writes {
        if existing && let Some(owner) = owner {
            api.patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "metadata": { "ownerReferences": [owner] } })),
            )
            .await?;
        }
        let interfaces = answering.get(key).map(Vec::as_slice).unwrap_or_default();
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&json!({ "status": status(node, key, interfaces) })),
        )
        .await?;
    }
    Ok(())
}

/// Posts `events` on their Services, 16 at a time.
async fn publish(
    client: &Client,
    node: &str,
    snapshot: &Snapshot,
    events: Vec<(ServiceKey, Event)>,
) {
    if events.is_empty() {
        return;
    }
    let services = crate::lb_services_by_key(snapshot);
    let targets: Vec<_> = events
        .into_iter()
        .filter_map(|((namespace, name), event)| {
            let service = services.get(&(namespace.as_str(), name.as_str()))?;
            Some((crate::service_reference(service), event))
        })
        .collect();
    let reporter = Reporter {
        controller: "ironlb-speaker".into(),
        instance: Some(node.to_string()),
    };
    crate::publish_events(client, &reporter, targets).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironlb_api::v1beta1::InterfaceInfo;

    fn announcement(
        name: &str,
        owner: Option<&str>,
        interfaces: &[&str],
        reason: Option<&str>,
    ) -> Layer2Announcement {
        Layer2Announcement {
            namespace: "default".into(),
            name: name.into(),
            owner: owner.map(str::to_string),
            addresses: vec!["203.0.113.10".into()],
            interfaces: interfaces.iter().map(|i| i.to_string()).collect(),
            reason: reason.map(str::to_string),
        }
    }

    fn key(name: &str) -> ServiceKey {
        ("default".into(), name.into())
    }

    fn pod() -> OwnerReference {
        OwnerReference {
            api_version: "v1".into(),
            kind: "Pod".into(),
            name: "speaker-abcde".into(),
            uid: "0f6c-uid".into(),
            ..OwnerReference::default()
        }
    }

    /// An object as the API server lists it: named, labelled, its status written.
    fn object(
        name: &str,
        node: &str,
        service: &str,
        interfaces: &[&str],
        owner: Option<&OwnerReference>,
    ) -> Listed {
        let created = new_object("metallb-system", node, &key(service), owner);
        let mut object = Listed {
            name: name.into(),
            labels: created.metadata.labels.unwrap_or_default(),
            status: None,
            owner_references: created.metadata.owner_references.unwrap_or_default(),
        };
        object.status = Some(ServiceL2StatusStatus {
            node: node.into(),
            service_name: service.into(),
            service_namespace: "default".into(),
            interfaces: interfaces
                .iter()
                .map(|i| InterfaceInfo {
                    name: i.to_string(),
                })
                .collect(),
        });
        object
    }

    #[test]
    fn only_services_this_node_answers_for_get_a_status() {
        let report = report(
            "node-21",
            &[
                announcement("web", Some("node-21"), &["eth1", "eth0"], None),
                announcement("other", Some("node-22"), &[], None),
                announcement("nobody", None, &[], Some("notOwner")),
                // Owned, but still in the start-up grace: not answering yet.
                announcement("later", Some("node-21"), &[], None),
            ],
        );
        assert_eq!(
            report.answering,
            [(key("web"), vec!["eth0".to_string(), "eth1".to_string()])].into()
        );
        assert!(report.failed.is_empty());
    }

    #[test]
    fn an_owner_without_the_named_interfaces_reports_announce_failed_and_no_status() {
        let report = report(
            "node-21",
            &[
                announcement("web", Some("node-21"), &[], Some("announceFailed")),
                announcement("partly", Some("node-21"), &["eth0"], Some("announceFailed")),
            ],
        );
        assert_eq!(
            report.answering,
            [(key("partly"), vec!["eth0".to_string()])].into()
        );
        let events = announce_failed("node-21", &report.failed[&key("web")]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].type_, EventType::Warning);
        assert_eq!(events[0].reason, "announceFailed");
        // MetalLB's message, word for word.
        assert_eq!(
            events[0].note.as_deref(),
            Some(
                "the interfaces specified by LB IP \"203.0.113.10\" doesn't exist in assigned node \"node-21\" with protocol \"layer2\""
            )
        );
        let partly = announce_failed("node-21", &report.failed[&key("partly")]);
        assert_eq!(partly.len(), 1);
        let note = partly[0].note.as_deref().unwrap_or_default();
        assert!(note.contains("answering on [\"eth0\"]"), "{note}");
    }

    #[test]
    fn node_assigned_says_layer2_as_metallb_does() {
        let event = node_assigned("node-21");
        assert_eq!(event.type_, EventType::Normal);
        assert_eq!(event.reason, "nodeAssigned");
        assert_eq!(
            event.note.as_deref(),
            Some("announcing from node \"node-21\" with protocol \"layer2\"")
        );
    }

    #[test]
    fn a_new_object_is_metallbs() {
        let owner = pod();
        let object = new_object("metallb-system", "node-21", &key("web"), Some(&owner));
        let value = serde_json::to_value(&object).unwrap();
        assert_eq!(value["apiVersion"], "metallb.io/v1beta1");
        assert_eq!(value["kind"], "ServiceL2Status");
        assert_eq!(value["metadata"]["generateName"], "l2-");
        assert_eq!(value["metadata"]["namespace"], "metallb-system");
        assert_eq!(
            value["metadata"]["labels"],
            json!({
                "metallb.io/node": "node-21",
                "metallb.io/service-name": "web",
                "metallb.io/service-namespace": "default",
            })
        );
        assert_eq!(
            value["metadata"]["ownerReferences"],
            json!([{"apiVersion": "v1", "kind": "Pod", "name": "speaker-abcde", "uid": "0f6c-uid"}])
        );
        assert!(value["metadata"].get("name").is_none());
        assert_eq!(
            status("node-21", &key("web"), &["eth0".into()]),
            json!({
                "node": "node-21",
                "serviceName": "web",
                "serviceNamespace": "default",
                "interfaces": [{"name": "eth0"}],
            })
        );
        assert_eq!(
            status("node-21", &key("web"), &[])["interfaces"],
            Value::Null
        );
        // Outside a Pod: no owner.
        let object = new_object("metallb-system", "node-21", &key("web"), None);
        assert!(object.metadata.owner_references.is_none());
    }

    #[test]
    fn a_node_keeps_one_object_per_service_it_answers_for_and_deletes_its_others() {
        let owner = pod();
        let answering: BTreeMap<ServiceKey, Vec<String>> = [
            (key("web"), vec!["eth0".to_string()]),
            (key("new"), vec!["eth0".to_string()]),
            (key("moved"), vec!["eth0".to_string(), "eth1".to_string()]),
        ]
        .into();
        let objects = [
            object("l2-a", "node-21", "web", &["eth0"], Some(&owner)),
            // A duplicate (a create whose answer was lost): deleted.
            object("l2-b", "node-21", "web", &["eth0"], Some(&owner)),
            // A Service this node no longer answers for (or one of its previous process).
            object("l2-c", "node-21", "gone", &["eth0"], Some(&owner)),
            // The interfaces changed.
            object("l2-d", "node-21", "moved", &["eth0"], Some(&owner)),
        ];
        let actions = actions(&objects, "node-21", &answering, Some(&owner));
        assert_eq!(actions.delete, ["l2-b", "l2-c"]);
        assert_eq!(actions.create, [key("new")]);
        assert_eq!(actions.update, [("l2-d".to_string(), key("moved"))]);
    }

    #[test]
    fn an_object_without_spec_or_with_a_broken_status_is_still_listed_and_deleted() {
        let listed = |value: Value| Listed::from_dynamic(serde_json::from_value(value).unwrap());
        let stale = listed(json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "ServiceL2Status",
            "metadata": {"name": "l2-stale", "namespace": "metallb-system", "labels": {
                "metallb.io/node": "node-22",
                "metallb.io/service-name": "ghost",
                "metallb.io/service-namespace": "default",
            }},
        }));
        assert_eq!(stale.name, "l2-stale");
        assert_eq!(stale.status, None);
        let broken = listed(json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "ServiceL2Status",
            "metadata": {"name": "l2-broken", "labels": {"metallb.io/node": "node-22"}},
            "spec": {},
            "status": {"interfaces": "eth0"},
        }));
        assert_eq!(broken.status, None);
        let actions = actions(&[stale, broken], "node-22", &BTreeMap::new(), None);
        assert_eq!(actions.delete, ["l2-stale", "l2-broken"]);
    }

    #[test]
    fn a_new_owner_deletes_the_other_nodes_objects_of_its_services_only() {
        let answering: BTreeMap<ServiceKey, Vec<String>> =
            [(key("web"), vec!["eth0".to_string()])].into();
        let objects = [
            // The dead owner's object for the Service this node took over: deleted.
            object("l2-old", "node-22", "web", &["eth0"], None),
            // Another node's object for a Service it still answers for: not this node's call.
            object("l2-other", "node-23", "api", &["eth0"], None),
        ];
        let actions = actions(&objects, "node-21", &answering, None);
        assert_eq!(actions.delete, ["l2-old"]);
        assert_eq!(actions.create, [key("web")]);
        assert!(actions.update.is_empty());
    }

    #[test]
    fn an_object_of_another_pod_is_taken_over_and_a_foreign_one_replaced() {
        let owner = pod();
        let answering: BTreeMap<ServiceKey, Vec<String>> = [
            (key("web"), vec!["eth0".to_string()]),
            (key("api"), vec!["eth0".to_string()]),
        ]
        .into();
        let mut foreign = object("l2-f", "node-21", "api", &["eth0"], Some(&owner));
        foreign.status.as_mut().unwrap().node = "node-22".into();
        let objects = [
            // Written by this node's previous Pod: owner reference updated.
            object("l2-p", "node-21", "web", &["eth0"], None),
            // Labelled as this node's, but its (immutable) status names another node.
            foreign,
        ];
        let actions = actions(&objects, "node-21", &answering, Some(&owner));
        assert_eq!(actions.update, [("l2-p".to_string(), key("web"))]);
        assert_eq!(actions.delete, ["l2-f"]);
        assert_eq!(actions.create, [key("api")]);
        // Up to date: nothing to do.
        let objects = [
            object("l2-p", "node-21", "web", &["eth0"], Some(&owner)),
            object("l2-q", "node-21", "api", &["eth0"], Some(&owner)),
        ];
        assert_eq!(
            super::actions(&objects, "node-21", &answering, Some(&owner)),
            Actions::default()
        );
    }
}
