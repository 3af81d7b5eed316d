//! What a Service asks of the allocator, read from the Service object as MetalLB's controller
//! reads it (`controller/service.go`, `internal/allocator/k8salloc`, `internal/ipfamily`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ironlb_model::ControllerService;
use k8s_openapi::api::core::v1::Service;

/// `metallb.io/address-pool`: take the addresses from this pool.
pub const ANNOTATION_ADDRESS_POOL: &str = "metallb.io/address-pool";
/// `metallb.io/loadBalancerIPs`: the requested addresses, comma separated.
pub const ANNOTATION_LOAD_BALANCER_IPS: &str = "metallb.io/loadBalancerIPs";
/// `metallb.io/allow-shared-ip`: the sharing key.
pub const ANNOTATION_ALLOW_SHARED_IP: &str = "metallb.io/allow-shared-ip";
/// `metallb.io/ip-allocated-from-pool`: written by the controller (output).
pub const ANNOTATION_ALLOCATED_FROM_POOL: &str = ironlb_model::ALLOCATED_FROM_POOL;
/// Prefix of the deprecated annotations, still read.
pub const DEPRECATED_PREFIX: &str = "metallb.universe.tf/";

const DEPRECATED_ADDRESS_POOL: &str = "metallb.universe.tf/address-pool";
const DEPRECATED_LOAD_BALANCER_IPS: &str = "metallb.universe.tf/loadBalancerIPs";
const DEPRECATED_ALLOW_SHARED_IP: &str = "metallb.universe.tf/allow-shared-ip";

/// An address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    /// The family of an address (IPv4-mapped IPv6 addresses count as IPv4, as in Go).
    pub fn of(ip: IpAddr) -> IpFamily {
        match ip.to_canonical() {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    /// The other family.
    pub fn other(self) -> IpFamily {
        match self {
            IpFamily::V4 => IpFamily::V6,
            IpFamily::V6 => IpFamily::V4,
        }
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        })
    }
}

/// The family of a Service (from its clusterIPs), or of a set of load-balancer addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceFamily {
    V4,
    V6,
    /// One address of each family.
    Dual,
}

impl ServiceFamily {
    /// The family of one address, or of two addresses of different families; `None` otherwise
    /// (MetalLB's `ipfamily.ForAddresses`).
    pub fn of_addresses(ips: &[IpAddr]) -> Option<ServiceFamily> {
        match ips {
            [one] => Some(ServiceFamily::single(IpFamily::of(*one))),
            [a, b] if IpFamily::of(*a) != IpFamily::of(*b) => Some(ServiceFamily::Dual),
            _ => None,
        }
    }

    pub fn single(family: IpFamily) -> ServiceFamily {
        match family {
            IpFamily::V4 => ServiceFamily::V4,
            IpFamily::V6 => ServiceFamily::V6,
        }
    }
}

impl fmt::Display for ServiceFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServiceFamily::V4 => "IPv4",
            ServiceFamily::V6 => "IPv6",
            ServiceFamily::Dual => "dual-stack",
        })
    }
}

/// `spec.ipFamilyPolicy` (unset = SingleStack, as MetalLB reads it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FamilyPolicy {
    #[default]
    SingleStack,
    PreferDualStack,
    RequireDualStack,
}

impl fmt::Display for FamilyPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FamilyPolicy::SingleStack => "SingleStack",
            FamilyPolicy::PreferDualStack => "PreferDualStack",
            FamilyPolicy::RequireDualStack => "RequireDualStack",
        })
    }
}

/// One `spec.ports` entry: protocol and port, as MetalLB compares them for sharing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    pub protocol: String,
    pub port: i32,
}

impl Port {
    pub fn new(protocol: impl Into<String>, port: i32) -> Port {
        Port {
            protocol: protocol.into(),
            port,
        }
    }

    pub fn tcp(port: i32) -> Port {
        Port::new("TCP", port)
    }

    pub fn udp(port: i32) -> Port {
        Port::new("UDP", port)
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.protocol, self.port)
    }
}

/// Everything the allocator needs to know about one Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRequest {
    /// `metadata.namespace` ("default" when absent).
    pub namespace: String,
    /// `metadata.labels` (matched by pools' serviceSelectors).
    pub labels: BTreeMap<String, String>,
    /// From `spec.clusterIPs` (see [`ServiceRequest::from_service`]).
    pub family: ServiceFamily,
    pub policy: FamilyPolicy,
    /// `spec.ipFamilies[0]` (IPv4 when absent): preferred when PreferDualStack gets one family.
    pub primary: IpFamily,
    /// `metallb.io/loadBalancerIPs` or `spec.loadBalancerIP`, in the order written.
    pub requested_ips: Vec<IpAddr>,
    /// `metallb.io/address-pool`.
    pub pool: Option<String>,
    /// `metallb.io/allow-shared-ip`; `None` when absent or empty (no sharing).
    pub sharing_key: Option<String>,
    /// MetalLB's "backend key": empty for externalTrafficPolicy Cluster; for Local, the pod
    /// selector rendered `k=v,...` with keys sorted. Services sharing an IP need equal keys.
    pub backend_key: String,
    /// `spec.ports` as (protocol, port); protocol defaults to TCP.
    pub ports: Vec<Port>,
    /// `metallb.universe.tf/*` annotations present (MetalLB warns with `deprecatedAnnotation`).
    pub deprecated_annotations: Vec<String>,
}

impl ServiceRequest {
    /// A single-stack request with no ports, no sharing, no requested pool or IPs.
    pub fn new(namespace: impl Into<String>, family: ServiceFamily) -> ServiceRequest {
        ServiceRequest {
            namespace: namespace.into(),
            labels: BTreeMap::new(),
            family,
            policy: if family == ServiceFamily::Dual {
                FamilyPolicy::RequireDualStack
            } else {
                FamilyPolicy::SingleStack
            },
            primary: IpFamily::V4,
            requested_ips: Vec::new(),
            pool: None,
            sharing_key: None,
            backend_key: String::new(),
            ports: Vec::new(),
            deprecated_annotations: Vec::new(),
        }
    }

    pub fn with_policy(mut self, policy: FamilyPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn with_primary(mut self, primary: IpFamily) -> Self {
        self.primary = primary;
        self
    }

    pub fn with_ports(mut self, ports: impl IntoIterator<Item = Port>) -> Self {
        self.ports = ports.into_iter().collect();
        self
    }

    pub fn with_sharing_key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        self.sharing_key = (!key.is_empty()).then_some(key);
        self
    }

    /// externalTrafficPolicy Local with this pod selector.
    pub fn with_local_traffic(mut self, selector: &BTreeMap<String, String>) -> Self {
        self.backend_key = backend_key(selector);
        self
    }

    pub fn with_pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    pub fn with_requested_ips(mut self, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.requested_ips = ips.into_iter().map(|ip| ip.to_canonical()).collect();
        self
    }

    pub fn with_label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Reads a Service as MetalLB's controller does. `Ok(None)`: not IronLB's to handle (not
    /// `type: LoadBalancer`, or a `spec.loadBalancerClass` other than `options`' class); the
    /// caller clears any state it holds for it.
    ///
    /// Family: `spec.clusterIPs` (one address → that family, two of different families → dual),
    /// else `spec.clusterIP`, as MetalLB. A Service with neither (Services written by hand
    /// for a cluster directory) falls back to `spec.ipFamilies`, then to
    /// `options.default_family`; with none of these it is refused ([`RequestError::NoClusterIp`]).
    ///
    /// Namespace selectors of pools are resolved when the configuration is validated (as in
    /// MetalLB), so no Namespace labels are needed here.
    pub fn from_service(
        service: &Service,
        options: &RequestOptions,
    ) -> Result<Option<ServiceRequest>, RequestError> {
        ServiceRequest::read(&ControllerService::of(service), options)
    }

    /// [`ServiceRequest::from_service`], from what the controller keeps of a Service.
    pub fn read(
        service: &ControllerService,
        options: &RequestOptions,
    ) -> Result<Option<ServiceRequest>, RequestError> {
        if !service.load_balancer || service.class != options.load_balancer_class {
            return Ok(None);
        }
        let family = service_family(
            service.cluster_ips.as_deref(),
            service.cluster_ip.as_deref(),
            service.ip_families.as_deref(),
            options.default_family,
        )?;
        let policy = match service.ip_family_policy.as_deref() {
            None | Some("SingleStack") => FamilyPolicy::SingleStack,
            Some("PreferDualStack") => FamilyPolicy::PreferDualStack,
            Some("RequireDualStack") => FamilyPolicy::RequireDualStack,
            Some(other) => return Err(RequestError::UnknownFamilyPolicy(other.to_string())),
        };
        let primary = match service.ip_families.as_deref() {
            Some([first, ..]) if first == "IPv6" => IpFamily::V6,
            _ => IpFamily::V4,
        };
        let annotation = |stable: &str, deprecated: &str| {
            service
                .annotation(stable)
                .or_else(|| service.annotation(deprecated))
        };
        let requested_ips = requested_ips(
            annotation(ANNOTATION_LOAD_BALANCER_IPS, DEPRECATED_LOAD_BALANCER_IPS),
            service.load_balancer_ip.as_deref().unwrap_or(""),
        )?;
        let pool = annotation(ANNOTATION_ADDRESS_POOL, DEPRECATED_ADDRESS_POOL)
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let sharing_key = annotation(ANNOTATION_ALLOW_SHARED_IP, DEPRECATED_ALLOW_SHARED_IP)
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        let backend_key = if service.local_traffic_policy {
            backend_key_of(service.selector.iter().map(|(k, v)| (k, v)))
        } else {
            String::new()
        };
        let ports = service
            .ports
            .iter()
            .map(|(protocol, port)| Port::new(protocol.as_str(), *port))
            .collect();
        let deprecated_annotations = service
            .annotations
            .iter()
            .map(|(key, _)| key)
            .filter(|k| k.starts_with(DEPRECATED_PREFIX))
            .cloned()
            .collect();
        Ok(Some(ServiceRequest {
            namespace: service.namespace.clone(),
            labels: service.labels.iter().cloned().collect(),
            family,
            policy,
            primary,
            requested_ips,
            pool,
            sharing_key,
            backend_key,
            ports,
            deprecated_annotations,
        }))
    }
}

impl ServiceRequest {
    /// Reads a Service as [`ServiceRequest::from_service`] does, as if it requested no
    /// addresses (`metallb.io/loadBalancerIPs`, its deprecated form and `spec.loadBalancerIP`
    /// ignored). While a Service's request of addresses is invalid
    /// ([`RequestError::is_bad_address_request`]) it keeps what it holds, judged as this
    /// request: MetalLB keeps the addresses then and warns with `LoadBalancerFailed`.
    pub fn ignoring_requested_ips(
        service: &ControllerService,
        options: &RequestOptions,
    ) -> Result<Option<ServiceRequest>, RequestError> {
        let mut service = service.clone();
        service.annotations = std::mem::take(&mut service.annotations)
            .into_iter()
            .filter(|(key, _)| {
                key != ANNOTATION_LOAD_BALANCER_IPS && key != DEPRECATED_LOAD_BALANCER_IPS
            })
            .collect();
        service.load_balancer_ip = None;
        ServiceRequest::read(&service, options)
    }
}

/// Options of the controller that change how Services are read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// `--lb-class`: `None` (MetalLB's default) = only Services without `spec.loadBalancerClass`.
    pub load_balancer_class: Option<String>,
    /// Family of Services with no clusterIP and no `spec.ipFamilies` (IronLB extension for
    /// Services written by hand; `None` = refuse them, as MetalLB does).
    pub default_family: Option<IpFamily>,
}

/// `status.loadBalancer.ingress[*].ip` of a Service, in order (entries without an IP are
/// skipped, as MetalLB does). `Err` holds an IP that does not parse: MetalLB then drops the
/// current assignment and allocates afresh.
pub fn ingress_ips(service: &Service) -> Result<Vec<IpAddr>, String> {
    ControllerService::of(service).ingress.map(Vec::from)
}

/// Why a Service could not be read. The Service keeps whatever it holds, except where
/// [`RequestError::clears_assignment`] says otherwise (MetalLB's behaviour).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(
        "the Service sets both metallb.io/loadBalancerIPs and spec.loadBalancerIP: keep only the annotation"
    )]
    BothRequestForms,
    #[error(
        "invalid {source_name} {value:?}: write IP addresses separated by commas, e.g. \"192.0.2.10\" or \"192.0.2.10,2001:db8::10\""
    )]
    InvalidRequestedIp {
        source_name: &'static str,
        value: String,
    },
    #[error(
        "metallb.io/loadBalancerIPs {value:?} must hold one address, or two of different families (one IPv4, one IPv6)"
    )]
    BadRequestedSet { value: String },
    #[error(
        "the Service has no spec.clusterIPs, spec.clusterIP or spec.ipFamilies, so its address family is unknown: set spec.ipFamilies (e.g. [IPv4])"
    )]
    NoClusterIp,
    #[error(
        "cannot tell the Service's address family from {0:?}: spec.clusterIPs must be one address, or two of different families"
    )]
    BadClusterIps(Vec<String>),
    #[error(
        "unknown spec.ipFamilyPolicy {0:?}: use SingleStack, PreferDualStack or RequireDualStack"
    )]
    UnknownFamilyPolicy(String),
}

impl RequestError {
    /// A short stable word for events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::BothRequestForms
            | RequestError::InvalidRequestedIp { .. }
            | RequestError::BadRequestedSet { .. } => "LoadBalancerFailed",
            RequestError::NoClusterIp => "NoClusterIPs",
            RequestError::BadClusterIps(_) => "noclusterIPsIPFamily",
            RequestError::UnknownFamilyPolicy(_) => "UnknownIPFamilyPolicy",
        }
    }

    /// Whether the error is in the addresses the Service requests (`metallb.io/loadBalancerIPs`
    /// or `spec.loadBalancerIP`): MetalLB's `LoadBalancerFailed` when the Service holds
    /// addresses (it keeps them), its `AllocationFailed` when it holds none.
    pub fn is_bad_address_request(&self) -> bool {
        matches!(
            self,
            RequestError::BothRequestForms
                | RequestError::InvalidRequestedIp { .. }
                | RequestError::BadRequestedSet { .. }
        )
    }

    /// Whether MetalLB drops the Service's current addresses on this error (it does when the
    /// family cannot be known; a bad request leaves the current addresses alone).
    pub fn clears_assignment(&self) -> bool {
        matches!(self, RequestError::NoClusterIp)
    }
}

fn service_family(
    cluster_ips: Option<&[String]>,
    cluster_ip: Option<&str>,
    ip_families: Option<&[String]>,
    default_family: Option<IpFamily>,
) -> Result<ServiceFamily, RequestError> {
    let addresses: Vec<String> = match (cluster_ips, cluster_ip) {
        (Some(ips), _) if !ips.is_empty() => ips.to_vec(),
        (_, Some(ip)) if !ip.is_empty() => vec![ip.to_string()],
        _ => Vec::new(),
    };
    if !addresses.is_empty() {
        let parsed: Option<Vec<IpAddr>> = addresses.iter().map(|a| a.parse().ok()).collect();
        return parsed
            .and_then(|ips| ServiceFamily::of_addresses(&ips))
            .ok_or(RequestError::BadClusterIps(addresses));
    }
    match ip_families {
        Some([one]) => family_name(one).map(ServiceFamily::single),
        Some([a, b]) => match (family_name(a)?, family_name(b)?) {
            (x, y) if x != y => Ok(ServiceFamily::Dual),
            _ => Err(RequestError::BadClusterIps(vec![a.clone(), b.clone()])),
        },
        Some(other) if !other.is_empty() => Err(RequestError::BadClusterIps(other.to_vec())),
        _ => default_family
            .map(ServiceFamily::single)
            .ok_or(RequestError::NoClusterIp),
    }
}

fn family_name(name: &str) -> Result<IpFamily, RequestError> {
    match name {
        "IPv4" => Ok(IpFamily::V4),
        "IPv6" => Ok(IpFamily::V6),
        other => Err(RequestError::BadClusterIps(vec![other.to_string()])),
    }
}

fn requested_ips(annotation: Option<&str>, field: &str) -> Result<Vec<IpAddr>, RequestError> {
    let annotation = annotation.unwrap_or("");
    match (annotation.is_empty(), field.is_empty()) {
        (true, true) => Ok(Vec::new()),
        (false, false) => Err(RequestError::BothRequestForms),
        (false, true) => {
            let mut ips = Vec::new();
            for part in annotation.split(',') {
                let ip: IpAddr =
                    part.trim()
                        .parse()
                        .map_err(|_| RequestError::InvalidRequestedIp {
                            source_name: ANNOTATION_LOAD_BALANCER_IPS,
                            value: annotation.to_string(),
                        })?;
                ips.push(ip.to_canonical());
            }
            if ServiceFamily::of_addresses(&ips).is_none() {
                return Err(RequestError::BadRequestedSet {
                    value: annotation.to_string(),
                });
            }
            Ok(ips)
        }
        (true, false) => {
            let ip: IpAddr = field
                .parse()
                .map_err(|_| RequestError::InvalidRequestedIp {
                    source_name: "spec.loadBalancerIP",
                    value: field.to_string(),
                })?;
            Ok(vec![ip.to_canonical()])
        }
    }
}

/// MetalLB's backend key for externalTrafficPolicy Local: `k=v` pairs, keys sorted, joined by
/// commas (`labels.Set.String()`).
pub fn backend_key(selector: &BTreeMap<String, String>) -> String {
    backend_key_of(selector.iter())
}

/// [`backend_key`] of pairs in key order.
fn backend_key_of<'a>(selector: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    selector
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
