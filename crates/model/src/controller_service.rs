//! What the controller reads of a Service ([`ControllerService`]).

use std::net::IpAddr;

use ironlb_api::k8s_openapi::api::core::v1::Service;

/// What the controller reads of a Service: what allocation reads
/// (`ironlb_alloc::ServiceRequest::read`), the ingress it compares with its decision and the
/// identity its writes and events name. Fields keep the object's own text where a decision
/// quotes it back in an error (cluster IPs, families, policy), so reading this is reading the
/// Service. About a third of a trimmed `Service` in a kube cache (whose spec and metadata
/// are mostly empty options, each map a B-tree node): with 10,000 Services, tens of megabytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerService {
    /// `metadata.namespace` ("default" when absent).
    pub namespace: String,
    pub name: String,
    /// For the events posted on the Service.
    pub uid: Option<String>,
    /// MetalLB's annotations (`metallb.io/*`, `metallb.universe.tf/*`), sorted by key: no
    /// other annotation is read.
    pub annotations: Box<[(String, String)]>,
    /// `spec.type` is `LoadBalancer`. The fields below are read only then (and kept only
    /// then: empty for any other Service).
    pub load_balancer: bool,
    /// `metadata.labels`, sorted by key (pools' `serviceSelectors` match them).
    pub labels: Box<[(String, String)]>,
    /// `spec.loadBalancerClass`.
    pub class: Option<String>,
    /// `spec.clusterIPs`.
    pub cluster_ips: Option<Box<[String]>>,
    /// `spec.clusterIP`.
    pub cluster_ip: Option<String>,
    /// `spec.ipFamilies`.
    pub ip_families: Option<Box<[String]>>,
    /// `spec.ipFamilyPolicy`.
    pub ip_family_policy: Option<String>,
    /// `spec.loadBalancerIP`.
    pub load_balancer_ip: Option<String>,
    /// `spec.externalTrafficPolicy` is `Local`.
    pub local_traffic_policy: bool,
    /// `spec.selector`, sorted by key; kept only with the Local policy, the only time
    /// allocation reads it (Services sharing an address must select the same pods).
    pub selector: Box<[(String, String)]>,
    /// `spec.ports` as (protocol, port); the protocol is `TCP` when absent.
    pub ports: Box<[(String, i32)]>,
    /// `status.loadBalancer.ingress[].ip` in order, entries without one skipped (as MetalLB);
    /// `Err` holds the first that is not an address: MetalLB then drops the assignment and
    /// allocates afresh.
    pub ingress: Result<Box<[IpAddr]>, String>,
}

/// The annotation the controller writes with the pool an address came from.
pub const ALLOCATED_FROM_POOL: &str = "metallb.io/ip-allocated-from-pool";

/// Whether IronLB reads an annotation: MetalLB's, current and deprecated.
pub fn metallb_annotation(key: &str) -> bool {
    key.starts_with("metallb.io/") || key.starts_with("metallb.universe.tf/")
}

impl ControllerService {
    pub fn of(service: &Service) -> ControllerService {
        let meta = &service.metadata;
        let sorted = |map: Option<&std::collections::BTreeMap<String, String>>,
                      keep: &dyn Fn(&str) -> bool| {
            map.into_iter()
                .flatten()
                .filter(|(key, _)| keep(key))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<Box<[_]>>()
        };
        let spec = service
            .spec
            .as_ref()
            .filter(|spec| spec.type_.as_deref() == Some("LoadBalancer"));
        let local_traffic_policy =
            spec.and_then(|s| s.external_traffic_policy.as_deref()) == Some("Local");
        let mut ingress = Ok(Vec::new());
        if spec.is_some() {
            let entries = service
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref());
            for entry in entries.into_iter().flatten() {
                let Ok(ips) = &mut ingress else { break };
                match entry.ip.as_deref() {
                    None | Some("") => {}
                    Some(text) => match text.parse::<IpAddr>() {
                        Ok(ip) => ips.push(ip.to_canonical()),
                        Err(_) => ingress = Err(text.to_string()),
                    },
                }
            }
        }
        let strings = |list: &Option<Vec<String>>| list.as_deref().map(Box::<[String]>::from);
        ControllerService {
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
            annotations: sorted(meta.annotations.as_ref(), &metallb_annotation),
            load_balancer: spec.is_some(),
            labels: sorted(meta.labels.as_ref().filter(|_| spec.is_some()), &|_| true),
            class: spec.and_then(|s| s.load_balancer_class.clone()),
            cluster_ips: spec.and_then(|s| strings(&s.cluster_ips)),
            cluster_ip: spec.and_then(|s| s.cluster_ip.clone()),
            ip_families: spec.and_then(|s| strings(&s.ip_families)),
            ip_family_policy: spec.and_then(|s| s.ip_family_policy.clone()),
            load_balancer_ip: spec.and_then(|s| s.load_balancer_ip.clone()),
            local_traffic_policy,
            selector: if local_traffic_policy {
                sorted(spec.and_then(|s| s.selector.as_ref()), &|_| true)
            } else {
                Box::default()
            },
            ports: spec
                .and_then(|s| s.ports.as_ref())
                .into_iter()
                .flatten()
                .map(|port| {
                    (
                        port.protocol.clone().unwrap_or_else(|| "TCP".into()),
                        port.port,
                    )
                })
                .collect(),
            ingress: ingress.map(Vec::into_boxed_slice),
        }
    }

    /// Whether the controller has anything to do with the Service: a LoadBalancer Service,
    /// or another that still carries `metallb.io/ip-allocated-from-pool` (the controller
    /// removes it, as MetalLB). Nothing else is kept of the others.
    pub fn concerns_controller(&self) -> bool {
        self.load_balancer || self.annotation(ALLOCATED_FROM_POOL).is_some()
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The value of annotation `key`, if the Service has it (MetalLB's annotations only).
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|index| self.annotations[index].1.as_str())
    }

    /// The addresses the Service holds (none when one of them is not an address).
    pub fn ingress_ips(&self) -> &[IpAddr] {
        self.ingress.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_read_as_what_the_controller_decides_on() {
        let service: Service = serde_saphyr::from_str(
            "metadata:
  name: web
  namespace: shop
  uid: u1
  labels: {tier: front, app: web}
  annotations: {metallb.io/address-pool: gold, metallb.universe.tf/allow-shared-ip: k, other: x}
spec:
  type: LoadBalancer
  loadBalancerClass: c
  clusterIP: 10.96.0.5
  clusterIPs: [10.96.0.5, 'fd00::5']
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
  loadBalancerIP: 203.0.113.9
  externalTrafficPolicy: Local
  selector: {app: web, tier: front}
  ports: [{port: 80}, {port: 53, protocol: UDP}]
status: {loadBalancer: {ingress: [{ip: 203.0.113.5}, {hostname: h}, {ip: '2001:db8::5'}]}}
",
        )
        .unwrap();
        let read = ControllerService::of(&service);
        assert_eq!(read.key(), "shop/web");
        assert_eq!(read.uid.as_deref(), Some("u1"));
        let pairs = |list: &[(&str, &str)]| -> Box<[(String, String)]> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(read.labels, pairs(&[("app", "web"), ("tier", "front")]));
        assert_eq!(
            read.annotations,
            pairs(&[
                ("metallb.io/address-pool", "gold"),
                ("metallb.universe.tf/allow-shared-ip", "k")
            ])
        );
        assert_eq!(read.annotation("metallb.io/address-pool"), Some("gold"));
        assert_eq!(read.annotation("other"), None);
        assert!(read.load_balancer && read.local_traffic_policy);
        assert_eq!(read.class.as_deref(), Some("c"));
        assert_eq!(read.cluster_ip.as_deref(), Some("10.96.0.5"));
        assert_eq!(read.cluster_ips.as_deref().map(<[String]>::len), Some(2));
        assert_eq!(read.ip_families.as_deref().map(<[String]>::len), Some(2));
        assert_eq!(read.ip_family_policy.as_deref(), Some("PreferDualStack"));
        assert_eq!(read.load_balancer_ip.as_deref(), Some("203.0.113.9"));
        assert_eq!(read.selector, pairs(&[("app", "web"), ("tier", "front")]));
        assert_eq!(
            read.ports.as_ref(),
            [("TCP".into(), 80), ("UDP".into(), 53)]
        );
        assert_eq!(
            read.ingress_ips(),
            [
                "203.0.113.5".parse::<IpAddr>().unwrap(),
                "2001:db8::5".parse().unwrap()
            ]
        );

        // An address that does not parse is kept as the error MetalLB acts on.
        let garbage: Service = serde_saphyr::from_str(
            "metadata: {name: g}\nspec: {type: LoadBalancer}\nstatus: {loadBalancer: {ingress: [{ip: 203.0.113.5}, {ip: bogus}, {ip: nope}]}}\n",
        )
        .unwrap();
        assert_eq!(ControllerService::of(&garbage).ingress, Err("bogus".into()));

        // Any other Service: its identity and MetalLB's annotations, nothing of its spec.
        let plain: Service = serde_saphyr::from_str(
            "metadata: {name: db, labels: {app: db}, annotations: {metallb.io/ip-allocated-from-pool: gold}}\nspec: {type: ClusterIP, clusterIP: 10.96.0.7, selector: {app: db}, externalTrafficPolicy: Local, ports: [{port: 5432}]}\n",
        )
        .unwrap();
        let read = ControllerService::of(&plain);
        assert_eq!(read.key(), "default/db");
        assert_eq!(
            read.annotation("metallb.io/ip-allocated-from-pool"),
            Some("gold")
        );
        assert!(!read.load_balancer && !read.local_traffic_policy);
        assert!(read.cluster_ip.is_none() && read.selector.is_empty() && read.ports.is_empty());
        assert!(read.labels.is_empty());
        assert!(read.concerns_controller());
        let other: Service =
            serde_saphyr::from_str("metadata: {name: api}\nspec: {type: ClusterIP}\n").unwrap();
        assert!(!ControllerService::of(&other).concerns_controller());
    }
}
