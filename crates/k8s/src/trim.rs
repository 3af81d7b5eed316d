//! What IronLB keeps of each object it caches. A watch cache holds every object of its kind
//! for as long as the process runs, so fields nobody reads are dropped as objects arrive:
//! `managedFields` and `kubectl.kubernetes.io/last-applied-configuration` are often most of
//! an object, a Node's image list is kilobytes (a speaker keeps not even the objects of
//! Services and EndpointSlices: only [`ironlb_model::LbService`] and
//! [`ironlb_model::SliceEndpoints`]). These functions are pure and say exactly which fields stay;
//! the decisions that read the objects (allocation, the speaker's plan) read nothing else.

use std::collections::BTreeMap;

use ironlb_api::k8s_openapi::api::core::v1::{
    LoadBalancerIngress, LoadBalancerStatus, Namespace, Node, NodeCondition, NodeStatus, Service,
    ServicePort, ServiceSpec, ServiceStatus,
};
use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Whether IronLB reads an annotation: MetalLB's, current and deprecated.
fn read_annotation(key: &str) -> bool {
    key.starts_with("metallb.io/") || key.starts_with("metallb.universe.tf/")
}

/// Identity, labels and MetalLB's annotations; nothing else of the metadata.
fn metadata(meta: &mut ObjectMeta) -> ObjectMeta {
    let annotations = meta.annotations.take().and_then(|annotations| {
        let kept: BTreeMap<String, String> = annotations
            .into_iter()
            .filter(|(key, _)| read_annotation(key))
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

/// A Service as the controller keeps it: a LoadBalancer Service with what allocation reads
/// (`ironlb_alloc::ServiceRequest::from_service`: class, cluster IPs and families, the
/// requested address, the traffic policy and selector and the ports' protocol and number,
/// which decide IP sharing) and its ingress addresses; any other only its identity, type and
/// MetalLB's annotations (one that left LoadBalancer has its
/// `metallb.io/ip-allocated-from-pool` removed). The controller writes with merge patches,
/// never whole objects, so nothing dropped here is ever written back.
pub fn service_for_controller(service: &mut Service) {
    service.metadata = metadata(&mut service.metadata);
    let load_balancer = service
        .spec
        .as_ref()
        .is_some_and(|spec| spec.type_.as_deref() == Some("LoadBalancer"));
    if !load_balancer {
        service.spec = service.spec.take().map(|spec| ServiceSpec {
            type_: spec.type_,
            ..ServiceSpec::default()
        });
        service.status = None;
        return;
    }
    service.spec = service.spec.take().map(|spec| ServiceSpec {
        type_: spec.type_,
        load_balancer_class: spec.load_balancer_class,
        cluster_ip: spec.cluster_ip,
        cluster_ips: spec.cluster_ips,
        ip_families: spec.ip_families,
        ip_family_policy: spec.ip_family_policy,
        load_balancer_ip: spec.load_balancer_ip,
        external_traffic_policy: spec.external_traffic_policy,
        selector: spec.selector,
        ports: spec.ports.map(|ports| {
            ports
                .into_iter()
                .map(|port| ServicePort {
                    port: port.port,
                    protocol: port.protocol,
                    ..ServicePort::default()
                })
                .collect()
        }),
        ..ServiceSpec::default()
    });
    service.status = service.status.take().map(ingress_only);
}

/// The status's ingress addresses, nothing else (what decisions compare and keep).
fn ingress_only(status: ServiceStatus) -> ServiceStatus {
    ServiceStatus {
        load_balancer: status.load_balancer.map(|lb| LoadBalancerStatus {
            ingress: lb.ingress.map(|ingress| {
                ingress
                    .into_iter()
                    .map(|i| LoadBalancerIngress {
                        ip: i.ip,
                        ..LoadBalancerIngress::default()
                    })
                    .collect()
            }),
        }),
        conditions: None,
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
    fn service_keeps_what_decisions_read() {
        let service: Service = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                "labels": {"app": "web"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                    "metallb.io/loadBalancerIPs": "203.0.113.5",
                    "metallb.universe.tf/allow-shared-ip": "k"
                },
                "managedFields": [{"manager": "kubectl"}],
                "finalizers": ["x"]
            },
            "spec": {
                "type": "LoadBalancer", "externalTrafficPolicy": "Local",
                "loadBalancerClass": "c", "ipFamilies": ["IPv4"],
                "ports": [{"port": 80}], "selector": {"app": "web"}, "clusterIP": "10.96.0.9"
            },
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.5"}]}}
        }))
        .unwrap();
        let mut controller = service.clone();
        service_for_controller(&mut controller);
        assert_eq!(
            controller.metadata.annotations.as_ref().unwrap().len(),
            2,
            "MetalLB's annotations stay, kubectl's goes"
        );
        assert!(controller.metadata.managed_fields.is_none());
        assert!(controller.metadata.finalizers.is_none());
        assert_eq!(
            controller
                .spec
                .as_ref()
                .unwrap()
                .ports
                .as_ref()
                .unwrap()
                .len(),
            1
        );
        let kept = controller.spec.as_ref().unwrap();
        assert_eq!(kept.cluster_ip.as_deref(), Some("10.96.0.9"));
        assert_eq!(kept.ip_families.as_ref().unwrap()[0], "IPv4");
        assert_eq!(kept.selector.as_ref().unwrap()["app"], "web");
        assert_eq!(kept.ports.as_ref().unwrap()[0].port, 80);
        assert_eq!(kept.load_balancer_class.as_deref(), Some("c"));
        assert_eq!(kept.external_traffic_policy.as_deref(), Some("Local"));
        let status = controller.status.as_ref().unwrap();
        assert_eq!(
            status
                .load_balancer
                .as_ref()
                .unwrap()
                .ingress
                .as_ref()
                .unwrap()[0]
                .ip
                .as_deref(),
            Some("203.0.113.5")
        );
    }

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
