//! IronLB on Kubernetes (kube-rs), kept thin: the API is watched into the same
//! [`ironlb_model::Snapshot`] the cluster directory gives ([`source`]), decisions stay in the
//! pure cores, and this crate writes their results back: Service status, annotations and
//! events ([`controller`]), under a Lease ([`lease`]); the speakers' ServiceBGPStatus
//! ([`bgp_status`]) and ServiceL2Status ([`l2_status`]) objects.

pub mod bgp_status;
pub mod config_state;
pub mod controller;
pub mod l2_status;
pub mod lease;
pub mod source;
pub mod trim;
pub mod webhook;

pub use source::{Scope, SourceOptions, watch};

use ironlb_api::k8s_openapi::api::core::v1::ObjectReference;
use ironlb_model::LbService;

/// The reference an event on `service` names (what kube's `Resource::object_ref` gives for
/// the whole object, from what a speaker keeps of it).
pub fn service_reference(service: &LbService) -> ObjectReference {
    object_reference(&service.namespace, &service.name, service.uid.as_deref())
}

/// The reference to the Service `namespace/name` (`uid`) that its events name.
pub(crate) fn object_reference(namespace: &str, name: &str, uid: Option<&str>) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Service".into()),
        namespace: Some(namespace.into()),
        name: Some(name.into()),
        uid: uid.map(Into::into),
        ..ObjectReference::default()
    }
}

/// The speaker's Services by (namespace, name).
pub(crate) fn lb_services_by_key(
    snapshot: &ironlb_model::Snapshot,
) -> std::collections::BTreeMap<(&str, &str), &LbService> {
    snapshot
        .lb_services
        .iter()
        .map(|s| ((s.namespace.as_str(), s.name.as_str()), &**s))
        .collect()
}

/// Events posted with one `kube` recorder, at most.
pub(crate) const EVENTS_PER_RECORDER: usize = 100;

/// Posts each event on the object it names, 16 at a time; a failure is logged. kube's
/// `Recorder` keeps every event it posted (to count repeats into a series) in a map that never
/// shrinks and is scanned on each post, so a fresh one serves each [`EVENTS_PER_RECORDER`]
/// events: with one for the whole batch, 10,000 Services announced at once held 34 MB of
/// events in the speaker at the peak, and the heap kept most of it resident afterwards.
/// Callers with many events build and pass them [`EVENTS_PER_RECORDER`] at a time, so only
/// those are in memory at once (10,000 built up front were 7 MB more at the peak).
pub(crate) async fn publish_events(
    client: &kube::Client,
    reporter: &kube::runtime::events::Reporter,
    events: Vec<(ObjectReference, kube::runtime::events::Event)>,
) {
    use futures::StreamExt;
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        let recorder = kube::runtime::events::Recorder::new(client.clone(), reporter.clone());
        futures::stream::iter(events.by_ref().take(EVENTS_PER_RECORDER))
            .map(|(reference, event)| {
                let recorder = recorder.clone();
                async move {
                    if let Err(error) = recorder.publish(&event, &reference).await {
                        tracing::warn!(%error, reason = %event.reason, "cannot publish an event");
                    }
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
    }
}
