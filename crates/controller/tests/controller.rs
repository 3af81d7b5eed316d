//! The controller's decisions over snapshots written as YAML.

use std::sync::Arc;

use ironlb_api::k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use ironlb_api::manifest::{self, Object};
use ironlb_config::Resources;
use ironlb_controller::{Controller, Options};
use ironlb_model::ControllerService;
use ironlb_model::status::ControllerStatus;

fn load(yaml: &str) -> (Resources, Vec<Arc<Service>>) {
    let documents = manifest::parse(yaml.as_bytes(), "test.yaml").expect("YAML");
    let objects: Vec<Object> = documents
        .into_iter()
        .map(|d| d.result.expect("object"))
        .collect();
    let services = objects
        .iter()
        .filter_map(|o| match o {
            Object::Service(s) => Some(Arc::new(s.clone())),
            _ => None,
        })
        .collect();
    (Resources::from_objects(objects.iter()), services)
}

const POOL: &str = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: prod-pool, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24], avoidBuggyIPs: true}
";

/// The Services as the controller reads them.
fn read(services: &[Arc<Service>]) -> Vec<Arc<ControllerService>> {
    services
        .iter()
        .map(|service| Arc::new(ControllerService::of(service)))
        .collect()
}

fn service(name: &str, extra: &str) -> String {
    format!(
        "---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: default{extra}}}
spec:
  type: LoadBalancer
  selector: {{app: {name}}}
  ports: [{{port: 443}}]
"
    )
}

fn ingress(status: &ControllerStatus, name: &str) -> Vec<String> {
    status
        .services
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.ingress.iter().map(ToString::to_string).collect())
        .unwrap_or_default()
}

fn reasons(status: &ControllerStatus) -> Vec<String> {
    status.events.iter().map(|e| e.reason.clone()).collect()
}

/// The n-th second of the test's clock.
fn at(second: u64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + second)
}

#[test]
fn a_service_gets_an_ip_and_one_event_and_updates_are_idempotent() {
    let (resources, services) = load(&format!("{POOL}{}", service("web", "")));
    let mut controller = Controller::new(Options::default());
    let status = controller.update(&resources, &read(&services), at(1));
    assert_eq!(ingress(&status, "web"), ["203.0.113.1"]);
    assert_eq!(reasons(&status), ["IPAllocated"]);
    assert_eq!(status.events[0].object.to_string(), "Service default/web");
    assert_eq!(status.pools[0].assigned_ipv4, 1);
    let again = controller.update(&resources, &read(&services), at(2));
    assert_eq!(again, status);
}

#[test]
fn a_restart_keeps_existing_assignments() {
    let (resources, mut services) = load(&format!("{POOL}{}", service("web", "")));
    // The status a previous controller wrote: .77, not the lowest free address.
    let status = Arc::make_mut(&mut services[0])
        .status
        .get_or_insert_with(Default::default);
    status
        .load_balancer
        .get_or_insert_with(Default::default)
        .ingress = Some(vec![LoadBalancerIngress {
        ip: Some("203.0.113.77".into()),
        ..Default::default()
    }]);
    let mut controller = Controller::new(Options::default());
    let status = controller.update(&resources, &read(&services), at(1));
    assert_eq!(ingress(&status, "web"), ["203.0.113.77"]);
    // Adopting what the Service holds is not news (MetalLB posts IPAllocated only for new
    // addresses): a failover over 10,000 Services posts no 10,000 events.
    assert!(
        status.events.iter().all(|e| e.reason != "IPAllocated"),
        "{:?}",
        status.events
    );
}

#[test]
fn requested_ip_and_pending_reason() {
    let yaml = format!(
        "{POOL}{}{}",
        service(
            "web",
            ", annotations: {metallb.io/loadBalancerIPs: 203.0.113.5}"
        ),
        service(
            "other",
            ", annotations: {metallb.io/loadBalancerIPs: 192.0.2.1}"
        )
    );
    let (resources, services) = load(&yaml);
    let mut controller = Controller::new(Options::default());
    let status = controller.update(&resources, &read(&services), at(1));
    assert_eq!(ingress(&status, "web"), ["203.0.113.5"]);
    let other = status.services.iter().find(|s| s.name == "other").unwrap();
    assert!(other.ingress.is_empty());
    let reason = other.pending_reason.clone().unwrap();
    assert!(reason.contains("192.0.2.1"), "{reason}");
    assert!(reasons(&status).contains(&"AllocationFailed".to_string()));
}

#[test]
fn a_deleted_service_frees_its_ip_for_a_waiting_one() {
    let tiny = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: tiny, namespace: metallb-system}
spec: {addresses: [203.0.113.9/32]}
";
    let (resources, services) = load(&format!("{tiny}{}{}", service("a", ""), service("b", "")));
    let mut controller = Controller::new(Options::default());
    let status = controller.update(&resources, &read(&services), at(1));
    assert_eq!(ingress(&status, "a"), ["203.0.113.9"]);
    assert!(ingress(&status, "b").is_empty());
    let remaining: Vec<Arc<Service>> = services
        .into_iter()
        .filter(|s| s.metadata.name.as_deref() == Some("b"))
        .collect();
    let status = controller.update(&resources, &read(&remaining), at(2));
    assert_eq!(ingress(&status, "b"), ["203.0.113.9"]);
    assert_eq!(status.services.len(), 1);
}

#[test]
fn a_pool_change_reassigns_and_invalid_config_keeps_the_last_valid_one() {
    let (resources, services) = load(&format!("{POOL}{}", service("web", "")));
    let mut controller = Controller::new(Options::default());
    controller.update(&resources, &read(&services), at(1));
    let moved = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: prod-pool, namespace: metallb-system}
spec: {addresses: [203.0.113.128/25]}
";
    let (resources, services) = load(&format!("{moved}{}", service("web", "")));
    let status = controller.update(&resources, &read(&services), at(2));
    assert_eq!(ingress(&status, "web"), ["203.0.113.128"]);
    assert!(reasons(&status).contains(&"ClearAssignment".to_string()));
    let broken = "
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: prod-pool, namespace: metallb-system}
spec: {addresses: [203.0.113.300/25]}
";
    let (resources, services) = load(&format!("{broken}{}", service("web", "")));
    let status = controller.update(&resources, &read(&services), at(3));
    assert_eq!(ingress(&status, "web"), ["203.0.113.128"]);
    assert!(!status.configuration_errors.is_empty());
    assert_eq!(reasons(&status).last().unwrap(), "ConfigurationInvalid");
}

#[test]
fn services_of_another_class_or_type_are_ignored() {
    let yaml = format!(
        "{POOL}---
apiVersion: v1
kind: Service
metadata: {{name: internal, namespace: default}}
spec: {{type: ClusterIP, ports: [{{port: 80}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: classy, namespace: default}}
spec: {{type: LoadBalancer, loadBalancerClass: other.io/lb, ports: [{{port: 80}}]}}
"
    );
    let (resources, services) = load(&yaml);
    let mut controller = Controller::new(Options::default());
    let status = controller.update(&resources, &read(&services), at(1));
    assert!(status.services.is_empty());
}

/// The events of one Service, as `reason: message`.
fn events_of(status: &ControllerStatus, name: &str) -> Vec<String> {
    status
        .events
        .iter()
        .filter(|e| e.object.to_string() == format!("Service default/{name}"))
        .map(|e| format!("{} {}: {}", e.type_, e.reason, e.message))
        .collect()
}

/// MetalLB's `convergeBalancer`: a Service holding addresses whose requested addresses become
/// invalid keeps them, with a Warning `LoadBalancerFailed`; one holding none gets
/// `AllocationFailed`.
#[test]
fn an_invalid_request_of_addresses_keeps_what_the_service_holds_with_load_balancer_failed() {
    let (resources, services) = load(&format!("{POOL}{}", service("web", "")));
    let mut controller = Controller::new(Options::default());
    let status = controller.update(&resources, &read(&services), at(1));
    assert_eq!(ingress(&status, "web"), ["203.0.113.1"]);

    // The user then sets both the annotation and spec.loadBalancerIP.
    let both = format!(
        "{POOL}{}  loadBalancerIP: 203.0.113.9\n",
        service(
            "web",
            ", annotations: {metallb.io/loadBalancerIPs: 203.0.113.9}"
        )
    );
    let (resources, services) = load(&both);
    let status = controller.update(&resources, &read(&services), at(2));
    assert_eq!(ingress(&status, "web"), ["203.0.113.1"], "kept");
    let web = status.services.iter().find(|s| s.name == "web").unwrap();
    assert_eq!(web.pool.as_deref(), Some("prod-pool"));
    assert!(
        web.pending_reason
            .as_deref()
            .is_some_and(|r| r.contains("spec.loadBalancerIP")),
        "{web:?}"
    );
    let events = events_of(&status, "web");
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[1].starts_with("Warning LoadBalancerFailed: invalid requested loadbalancer IPs: the Service sets both metallb.io/loadBalancerIPs and spec.loadBalancerIP"),
        "{events:?}"
    );
    assert!(
        events[1].ends_with("the Service keeps [\"203.0.113.1\"]"),
        "{events:?}"
    );
    // Once, not on every pass.
    let again = controller.update(&resources, &read(&services), at(3));
    assert_eq!(events_of(&again, "web").len(), 2);

    // A restarted controller adopts the addresses the Service holds, and warns the same.
    let (resources, mut services) = load(&both);
    Arc::make_mut(&mut services[0]).status = status_with("203.0.113.1");
    let mut restarted = Controller::new(Options::default());
    let status = restarted.update(&resources, &read(&services), at(4));
    assert_eq!(ingress(&status, "web"), ["203.0.113.1"]);
    assert_eq!(reasons(&status), ["LoadBalancerFailed"]);

    // Holding nothing, the same Service gets AllocationFailed.
    let (resources, services) = load(&both);
    let mut fresh = Controller::new(Options::default());
    let status = fresh.update(&resources, &read(&services), at(5));
    assert!(ingress(&status, "web").is_empty());
    assert_eq!(reasons(&status), ["AllocationFailed"]);
}

fn status_with(ip: &str) -> Option<ironlb_api::k8s_openapi::api::core::v1::ServiceStatus> {
    let mut status = ironlb_api::k8s_openapi::api::core::v1::ServiceStatus::default();
    status
        .load_balancer
        .get_or_insert_with(Default::default)
        .ingress = Some(vec![LoadBalancerIngress {
        ip: Some(ip.into()),
        ..Default::default()
    }]);
    Some(status)
}

/// MetalLB's PreferDualStack: a dual-stack Service holding one address tries to add the other
/// family from the same pool, and says so with a Normal `AdditionalAssignFailed` when it
/// cannot (posted once per reason here, where MetalLB posts it on every pass).
#[test]
fn prefer_dual_stack_without_the_other_family_posts_additional_assign_failed_once() {
    let dual = "
  clusterIPs: [10.96.0.10, 'fd00::10']
  ipFamilies: [IPv4, IPv6]
  ipFamilyPolicy: PreferDualStack
";
    let (resources, services) = load(&format!("{POOL}{}{dual}", service("web", "")));
    let mut controller = Controller::new(Options::default());
    let status = controller.update(&resources, &read(&services), at(1));
    assert_eq!(ingress(&status, "web"), ["203.0.113.1"]);
    assert_eq!(reasons(&status), ["IPAllocated"]);
    let status = controller.update(&resources, &read(&services), at(2));
    let events = events_of(&status, "web");
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[1].starts_with(
            "Normal AdditionalAssignFailed: cannot assign additional IP in PreferDualStack: "
        ),
        "{events:?}"
    );
    assert!(events[1].contains("prod-pool"), "{events:?}");
    let status = controller.update(&resources, &read(&services), at(3));
    assert_eq!(events_of(&status, "web").len(), 2);
    assert_eq!(ingress(&status, "web"), ["203.0.113.1"]);

    // The pool gains IPv6: the second address comes, announced as IPAllocated.
    let dual_pool = POOL.replace("[203.0.113.0/24]", "[203.0.113.0/24, 'fd00:1::/120']");
    let (resources, services) = load(&format!("{dual_pool}{}{dual}", service("web", "")));
    let status = controller.update(&resources, &read(&services), at(4));
    assert_eq!(ingress(&status, "web"), ["203.0.113.1", "fd00:1::"]);
    assert_eq!(
        reasons(&status),
        ["IPAllocated", "AdditionalAssignFailed", "IPAllocated"]
    );
}

/// MetalLB's controller warns about each `metallb.universe.tf/*` annotation of a Service when
/// it writes the Service, not on every pass.
#[test]
fn deprecated_annotations_are_warned_about_when_the_service_is_written() {
    let yaml = format!(
        "{POOL}{}",
        service(
            "web",
            ", annotations: {metallb.universe.tf/address-pool: prod-pool, metallb.universe.tf/allow-shared-ip: k}"
        )
    );
    let (resources, services) = load(&yaml);
    let mut controller = Controller::new(Options::default());
    let status = controller.update(&resources, &read(&services), at(1));
    assert_eq!(ingress(&status, "web"), ["203.0.113.1"]);
    assert_eq!(
        events_of(&status, "web"),
        [
            "Normal IPAllocated: Assigned IP [\"203.0.113.1\"] from pool prod-pool",
            "Warning deprecatedAnnotation: Service uses deprecated annotation metallb.universe.tf/address-pool: use metallb.io/address-pool instead",
            "Warning deprecatedAnnotation: Service uses deprecated annotation metallb.universe.tf/allow-shared-ip: use metallb.io/allow-shared-ip instead",
        ]
    );
    let again = controller.update(&resources, &read(&services), at(2));
    assert_eq!(events_of(&again, "web").len(), 3);

    // A restarted controller finding the Service as written has nothing to write: no warning.
    let written = yaml.replace(
        "metallb.universe.tf/address-pool: prod-pool",
        "metallb.universe.tf/address-pool: prod-pool, metallb.io/ip-allocated-from-pool: prod-pool",
    );
    let (resources, mut services) = load(&written);
    Arc::make_mut(&mut services[0]).status = status_with("203.0.113.1");
    let mut restarted = Controller::new(Options::default());
    let status = restarted.update(&resources, &read(&services), at(3));
    assert_eq!(ingress(&status, "web"), ["203.0.113.1"]);
    assert!(status.events.is_empty(), "{:?}", status.events);
}

/// MetalLB's controller reads only pools, Community aliases and Namespaces: a BGPPeer naming a
/// BFDProfile that does not exist yet (which the webhooks admit) is the speakers' concern and
/// does not stop addresses from being assigned.
#[test]
fn a_bgppeer_with_a_dangling_reference_does_not_stop_assignments() {
    let peer = "---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor1, namespace: metallb-system}
spec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.1, bfdProfile: not-yet}
";
    let (resources, services) = load(&format!("{POOL}{peer}{}", service("web", "")));
    let mut controller = Controller::new(Options::default());
    let status = controller.update(&resources, &read(&services), at(1));
    assert_eq!(ingress(&status, "web"), ["203.0.113.1"]);
    assert!(
        status.configuration_errors.is_empty(),
        "{:?}",
        status.configuration_errors
    );
    assert!(controller.config_loaded());
}
