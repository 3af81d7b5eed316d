//! What IronLB keeps of each object it caches. A watch cache holds every object of its kind
//! for as long as the process runs, so fields nobody reads are dropped as objects arrive:
//! `managedFields` and `kubectl.kubernetes.io/last-applied-configuration` are often most of
//! an object, a Node's image list is kilobytes (of Services and EndpointSlices not even the
//! objects are kept: only [`ironlb_model::ControllerService`], [`ironlb_model::LbService`] and
//! [`ironlb_model::SliceEndpoints`]). These functions are pure and say exactly which fields stay;
//! the decisions that read the objects (allocation, the speaker's plan) read nothing else.

use std::collections::BTreeMap;

use ironlb_api::k8s_openapi::api::core::v1::{Namespace, Node, NodeCondition, NodeStatus};
use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use ironlb_model::metallb_annotation;

/// Identity, labels and MetalLB's annotations; nothing else of the metadata.
fn metadata(meta: &mut ObjectMeta) -> ObjectMeta {
    let annotations = meta.annotations.take().and_then(|annotations| {
        let kept: BTreeMap<String, String> = annotations
            .into_iter()
            .filter(|(key, _)| metallb_annotation(key))
            .collect();
        (!kept.is_empty()).then_some(kept)
    });
    ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        uid: meta.uid.take(),
        resource_version: meta.resource_version.take(),
        deletion_timestamp: meta.deletion_timestamp.take(),
        labels: meta.labels.take(),
        annotations,
        ..ObjectMeta::default()
    }
}

/// A Node: its labels (selectors), conditions (NetworkUnavailable) and addresses (the
/// router ID); not its images, capacity or system info.
pub fn node(node: &mut Node) {
    node.metadata = metadata(&mut node.metadata);
    node.spec = None;
    node.status = node.status.take().map(|status| NodeStatus {
        addresses: status.addresses,
        conditions: status.conditions.map(|conditions| {
            conditions
                .into_iter()
                .map(|c| NodeCondition {
                    type_: c.type_,
                    status: c.status,
                    ..NodeCondition::default()
                })
                .collect()
        }),
        ..NodeStatus::default()
    });
}

/// A Namespace: its name and labels (pool namespaceSelectors).
pub fn namespace(namespace: &mut Namespace) {
    namespace.metadata = metadata(&mut namespace.metadata);
    namespace.spec = None;
    namespace.status = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_keeps_labels_conditions_addresses() {
        let mut node: Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "node-1", "labels": {"zone": "a"}},
            "spec": {"podCIDR": "10.244.1.0/24"},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.21"}],
                "conditions": [{"type": "NetworkUnavailable", "status": "True", "message": "m",
                                "lastHeartbeatTime": "2026-01-01T00:00:00Z"}],
                "images": [{"names": ["a", "b"], "sizeBytes": 1}],
                "nodeInfo": {"architecture": "amd64", "bootID": "", "containerRuntimeVersion": "",
                             "kernelVersion": "", "kubeProxyVersion": "", "kubeletVersion": "",
                             "machineID": "", "operatingSystem": "", "osImage": "", "systemUUID": ""}
            }
        }))
        .unwrap();
        super::node(&mut node);
        let status = node.status.as_ref().unwrap();
        assert!(status.images.is_none() && status.node_info.is_none() && node.spec.is_none());
        assert_eq!(status.addresses.as_ref().unwrap()[0].address, "10.0.0.21");
        let condition = &status.conditions.as_ref().unwrap()[0];
        assert_eq!(
            (condition.type_.as_str(), condition.status.as_str()),
            ("NetworkUnavailable", "True")
        );
        assert!(condition.message.is_none());
        assert_eq!(node.metadata.labels.as_ref().unwrap()["zone"], "a");
    }
}
