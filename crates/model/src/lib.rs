//! The cluster as IronLB sees it and what IronLB says about it, as types with no IO: one
//! typed [`Snapshot`] of Services, EndpointSlices, Nodes, Namespaces, Secrets and the
//! metallb.io resources (fed by the cluster directory or the Kubernetes API), the [`status`]
//! the controller and the speakers report, its [`metrics`] text, and [`time`] formatting.
//! The deciding crates (controller, speaker) depend on this, not on the IO around it.

mod controller_service;
pub mod metrics;
pub mod status;
pub mod time;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ironlb_api::k8s_openapi::api::core::v1::Service;
use ironlb_api::k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use ironlb_api::manifest::ManifestError;
use ironlb_config::Resources;

pub use controller_service::{ALLOCATED_FROM_POOL, ControllerService, metallb_annotation};

/// Everything IronLB reads from the cluster, at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// metallb.io objects, plus the Secrets, Namespaces and Nodes beside them.
    pub resources: Resources,
    /// Services, with `status.loadBalancer.ingress` as the controller last wrote it, for the
    /// controller and `ironlb get`. Shared with the source's cache (and the previous
    /// snapshot): a new snapshot after one change costs a pointer per object, not a copy of
    /// every object. Empty in Kubernetes mode: a controller has `controller_services`, a
    /// speaker `lb_services`.
    pub services: Vec<Arc<Service>>,
    /// The Services as the controller reads them ([`ControllerService`]): every
    /// LoadBalancer Service, and any other that carries MetalLB's
    /// `metallb.io/ip-allocated-from-pool` (the controller removes it). All a controller's
    /// Kubernetes source keeps of a Service; empty in a speaker's.
    pub controller_services: Vec<Arc<ControllerService>>,
    /// The LoadBalancer Services as a speaker reads them ([`LbService`]): what every speaker
    /// decision (BGP plan, layer 2 election, status, events) reads, and all a speaker's
    /// Kubernetes source keeps of a Service.
    pub lb_services: Vec<Arc<LbService>>,
    /// Of each EndpointSlice, what announcing needs: whose endpoints, and where one can
    /// serve.
    pub endpoints: Vec<Arc<SliceEndpoints>>,
    /// Files that could not be read; their last good content is in the snapshot.
    pub problems: Vec<Problem>,
    /// Unknown fields and similar notes.
    pub warnings: Vec<String>,
    /// Set when this view of the cluster is older than the reader's staleness bound (the
    /// source has not heard from the cluster for that long): why, for the logs. A speaker
    /// announces nothing from a stale view.
    pub stale: Option<String>,
}

/// Label an EndpointSlice carries with its Service's name.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Whether an endpoint counts for announcing: it has an address and is ready, or serving
/// while terminating (MetalLB's rule).
pub fn endpoint_can_serve(endpoint: &Endpoint) -> bool {
    let conditions = endpoint.conditions.as_ref();
    let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
    let serving = conditions.and_then(|c| c.serving).unwrap_or(false);
    !endpoint.addresses.is_empty() && (ready || serving)
}

/// What a speaker needs of one EndpointSlice (a few dozen bytes instead of the slice): the
/// Service it belongs to and the nodes hosting an endpoint that can serve.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SliceEndpoints {
    pub namespace: String,
    pub service: String,
    /// Distinct nodes with an endpoint that can serve; `None` for such an endpoint without a
    /// node.
    pub serving_nodes: Vec<Option<String>>,
}

impl SliceEndpoints {
    /// `None` for a slice without the Service name label (it belongs to no Service).
    pub fn of(slice: &EndpointSlice) -> Option<SliceEndpoints> {
        let service = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
        let mut serving_nodes: Vec<Option<String>> = Vec::new();
        for endpoint in slice.endpoints.iter().filter(|e| endpoint_can_serve(e)) {
            if !serving_nodes.contains(&endpoint.node_name) {
                serving_nodes.push(endpoint.node_name.clone());
            }
        }
        Some(SliceEndpoints {
            namespace: slice
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            service: service.clone(),
            serving_nodes,
        })
    }
}

/// What a speaker reads of a LoadBalancer Service: about 200 bytes and its strings, where a
/// trimmed `Service` costs over a kilobyte (its spec and metadata structs are mostly empty
/// options, and each label map a B-tree node). With 10,000 Services that is the bulk of a
/// speaker's heap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LbService {
    pub namespace: String,
    pub name: String,
    /// For the events a speaker posts on the Service.
    pub uid: Option<String>,
    /// `metadata.labels`, sorted by key (for `serviceSelectors`).
    pub labels: Box<[(String, String)]>,
    /// `spec.type` is `LoadBalancer`.
    pub load_balancer: bool,
    /// `spec.loadBalancerClass`.
    pub class: Option<String>,
    /// `spec.externalTrafficPolicy` is `Local`.
    pub local_traffic_policy: bool,
    /// It carries MetalLB's `allow-shared-ip` annotation (layer 2 refuses `serviceSelectors`
    /// for a Service sharing its address).
    pub shares_address: bool,
    /// `status.loadBalancer.ingress[].ip`, those that parse as addresses, in order.
    pub ingress: Box<[IpAddr]>,
}

/// The annotations that let a Service share its address, MetalLB's current and deprecated.
pub const ALLOW_SHARED_IP: [&str; 2] = [
    "metallb.io/allow-shared-ip",
    "metallb.universe.tf/allow-shared-ip",
];

impl LbService {
    pub fn of(service: &Service) -> LbService {
        let meta = &service.metadata;
        let spec = service.spec.as_ref();
        let ingress = service
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|ingress| ingress.ip.as_deref()?.parse().ok())
            .collect();
        LbService {
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
            labels: meta
                .labels
                .iter()
                .flatten()
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
            load_balancer: spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer"),
            class: spec.and_then(|s| s.load_balancer_class.clone()),
            local_traffic_policy: spec.and_then(|s| s.external_traffic_policy.as_deref())
                == Some("Local"),
            shares_address: meta
                .annotations
                .as_ref()
                .is_some_and(|a| ALLOW_SHARED_IP.iter().any(|key| a.contains_key(*key))),
            ingress,
        }
    }

    /// The labels as selectors read them.
    pub fn label_map(&self) -> BTreeMap<String, String> {
        self.labels.iter().cloned().collect()
    }
}

/// A file that could not be used as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

/// A manifest that did not read, as a problem of its file.
impl From<ManifestError> for Problem {
    fn from(error: ManifestError) -> Self {
        match error {
            ManifestError::Syntax {
                file,
                line,
                message,
                ..
            }
            | ManifestError::NotAnObject {
                file,
                line,
                message,
            } => Problem {
                file: file.into(),
                line,
                message,
            },
            ManifestError::Unreadable { file, message } => Problem {
                file: file.into(),
                line: 0,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironlb_api::k8s_openapi::api::discovery::v1::EndpointConditions;
    use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn endpoint(node: Option<&str>, ready: Option<bool>, serving: Option<bool>) -> Endpoint {
        Endpoint {
            addresses: vec!["10.244.0.1".into()],
            conditions: Some(EndpointConditions {
                ready,
                serving,
                ..Default::default()
            }),
            node_name: node.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn a_service_is_read_as_what_a_speaker_decides_on() {
        let service: Service = serde_saphyr::from_str(
            "metadata:
  name: web
  namespace: shop
  uid: u1
  labels: {tier: front, app: web}
  annotations: {metallb.universe.tf/allow-shared-ip: k, other: x}
spec: {type: LoadBalancer, externalTrafficPolicy: Local, loadBalancerClass: c, ports: [{port: 80}]}
status: {loadBalancer: {ingress: [{ip: 203.0.113.5}, {hostname: h}, {ip: '2001:db8::5'}]}}
",
        )
        .unwrap();
        let lb = LbService::of(&service);
        assert_eq!((lb.namespace.as_str(), lb.name.as_str()), ("shop", "web"));
        assert_eq!(lb.uid.as_deref(), Some("u1"));
        assert_eq!(
            lb.labels.as_ref(),
            [
                ("app".into(), "web".into()),
                ("tier".into(), "front".into())
            ]
        );
        assert!(lb.load_balancer && lb.local_traffic_policy && lb.shares_address);
        assert_eq!(lb.class.as_deref(), Some("c"));
        assert_eq!(
            lb.ingress.as_ref(),
            [
                "203.0.113.5".parse::<IpAddr>().unwrap(),
                "2001:db8::5".parse().unwrap()
            ]
        );

        let plain: Service =
            serde_saphyr::from_str("metadata: {name: db}\nspec: {type: ClusterIP}\n").unwrap();
        let lb = LbService::of(&plain);
        assert_eq!(lb.namespace, "default");
        assert!(!lb.load_balancer && !lb.local_traffic_policy && !lb.shares_address);
        assert!(lb.ingress.is_empty() && lb.labels.is_empty());
    }

    #[test]
    fn a_slice_is_read_as_its_service_and_serving_nodes() {
        let slice = EndpointSlice {
            metadata: ObjectMeta {
                name: Some("web-abc".into()),
                namespace: Some("shop".into()),
                labels: Some([(SERVICE_NAME_LABEL.to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            endpoints: vec![
                endpoint(Some("node-2"), Some(false), None),
                endpoint(Some("node-2"), Some(true), None),
                endpoint(Some("node-3"), None, None),
                endpoint(Some("node-3"), Some(false), Some(true)),
                endpoint(None, Some(true), None),
                Endpoint {
                    addresses: vec![],
                    ..endpoint(Some("node-4"), Some(true), None)
                },
            ],
            ports: None,
        };
        let read = SliceEndpoints::of(&slice).unwrap();
        assert_eq!(
            (read.namespace.as_str(), read.service.as_str()),
            ("shop", "web")
        );
        assert_eq!(
            read.serving_nodes,
            [Some("node-2".to_string()), Some("node-3".to_string()), None],
            "not ready and not serving, and without an address, do not count"
        );
        let mut empty = slice.clone();
        empty.endpoints.clear();
        assert!(SliceEndpoints::of(&empty).unwrap().serving_nodes.is_empty());
        let mut unlabelled = slice;
        unlabelled.metadata.labels = None;
        assert!(SliceEndpoints::of(&unlabelled).is_none());
    }
}
