//! Cases derived from MetalLB's `controller/controller_test.go` (TestControllerMutation and
//! friends): Services read with `ServiceRequest::from_service`, then reconciled. IronLB's own
//! names and values; each test names the MetalLB case it comes from.

mod common;

use common::*;
use ironlb_alloc::{
    AllocError, Allocator, ClearReason, FamilyNeed, IpFamily, RequestError, RequestOptions,
    ServiceRequest, ingress_ips,
};
use k8s_openapi::api::core::v1::Service;
use serde_json::{Value, json};

/// Pools in the spirit of TestControllerMutation's, without overlaps (IronLB's validation,
/// like MetalLB's, refuses overlapping pools). Name order matters for automatic choice:
/// the fallback pools are tried as p-dual, p-main, p-v6.
fn controller_pools() -> Allocator {
    Allocator::new(&config([
        pool("p-main", &["10.70.0.0/31"]),
        pool("p-manual", &["10.71.0.9/32"]).manual(),
        pool("p-v6", &["fd00:70::/127"]),
        pool("p-v6-manual", &["fd00:71::1/128"]).manual(),
        pool("p-dual", &["10.72.0.0/31", "fd00:72::/127"]),
        pool("p-ns-10", &["10.73.0.0/31"])
            .namespaces(&["shop"])
            .priority(10),
        pool("p-ns-11", &["10.74.0.0/31"])
            .namespaces(&["shop"])
            .priority(11),
        pool("p-label-9", &["10.75.0.0/31"])
            .service_selector("team", "net")
            .priority(9),
        pool("p-ns-noprio", &["10.76.0.0/31"]).namespaces(&["billing"]),
        pool("p-label-8", &["10.77.0.0/31"])
            .service_selector("team", "net")
            .priority(8),
        pool("p-both-8", &["10.78.0.0/31"])
            .namespaces(&["shop"])
            .service_selector("team", "net")
            .priority(8),
        pool("p-both-5", &["10.79.0.0/31"])
            .namespaces(&["shop"])
            .service_selector("team", "net")
            .priority(5),
    ]))
}

/// Deep-merges `patch` into `base`.
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, patch) => *base = patch,
    }
}

/// A LoadBalancer Service in namespace "default" with one IPv4 clusterIP, plus `patch`.
fn service(patch: Value) -> Service {
    let mut value = json!({
        "metadata": {"name": "svc", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.10"],
                 "ports": [{"port": 80, "protocol": "TCP"}]}
    });
    merge(&mut value, patch);
    serde_json::from_value(value).expect("test Service")
}

fn read(patch: Value) -> Result<Option<ServiceRequest>, RequestError> {
    ServiceRequest::from_service(&service(patch), &RequestOptions::default())
}

fn request(patch: Value) -> ServiceRequest {
    read(patch)
        .expect("readable")
        .expect("a LoadBalancer Service")
}

fn dual_cluster() -> Value {
    json!({"spec": {"clusterIPs": ["10.96.0.10", "fd00:96::10"], "ipFamilies": ["IPv4", "IPv6"],
                    "ipFamilyPolicy": "RequireDualStack"}})
}

fn with(mut base: Value, patch: Value) -> Value {
    merge(&mut base, patch);
    base
}

// Derived from TestControllerMutation ("simple non-LoadBalancer", "former LoadBalancer, now
// NodePort").
#[test]
fn non_load_balancer_services_are_not_ours() {
    assert_eq!(read(json!({"spec": {"type": "ClusterIP"}})), Ok(None));
    assert_eq!(read(json!({"spec": {"type": "NodePort"}})), Ok(None));
    let no_spec: Service = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    assert_eq!(
        ServiceRequest::from_service(&no_spec, &RequestOptions::default()),
        Ok(None)
    );
}

// Derived from the controller's --lb-class handling (MetalLB's service reconciler filter).
#[test]
fn load_balancer_class_selects_services() {
    let classed = json!({"spec": {"loadBalancerClass": "example.com/other"}});
    assert_eq!(read(classed.clone()), Ok(None));
    let ours = RequestOptions {
        load_balancer_class: Some("example.com/other".into()),
        ..RequestOptions::default()
    };
    assert!(matches!(
        ServiceRequest::from_service(&service(classed), &ours),
        Ok(Some(_))
    ));
    assert_eq!(
        ServiceRequest::from_service(&service(json!({})), &ours),
        Ok(None)
    );
}

// Derived from TestControllerMutation ("simple LoadBalancer").
#[test]
fn simple_load_balancer_gets_first_fallback_pool_address() {
    let mut a = controller_pools();
    let got = a.assign("default/svc", &request(json!({}))).unwrap();
    assert_eq!(got.ips, ips(&["10.72.0.0"]));
    assert_eq!(got.pool, "p-dual");
}

// Derived from TestControllerMutation ("request specific IP", "request specific IP via custom
// annotation").
#[test]
fn specific_ip_by_field_or_annotation() {
    let mut a = controller_pools();
    let by_field = request(json!({"spec": {"loadBalancerIP": "10.70.0.1"}}));
    assert_eq!(a.assign("a", &by_field).unwrap().ips, ips(&["10.70.0.1"]));
    a.release("a");
    let by_annotation = request(json!({"metadata": {"annotations":
        {"metallb.io/loadBalancerIPs": " 10.70.0.1 "}}}));
    let got = a.assign("a", &by_annotation).unwrap();
    assert_eq!(
        (got.pool.as_str(), got.ips),
        ("p-main", ips(&["10.70.0.1"]))
    );
    let legacy = request(json!({"metadata": {"annotations":
        {"metallb.universe.tf/loadBalancerIPs": "10.70.0.1"}}}));
    assert_eq!(legacy.requested_ips, ips(&["10.70.0.1"]));
    assert_eq!(
        legacy.deprecated_annotations,
        vec!["metallb.universe.tf/loadBalancerIPs".to_string()]
    );
}

// Derived from TestControllerMutation ("request IP from both svc.spec.LoadBalancerIP and
// custom annotation", "request invalid IP", "request invalid IP via custom annotation",
// "request two IPs from same ip family via custom annotation").
#[test]
fn malformed_ip_requests_are_refused() {
    let both = read(
        json!({"metadata": {"annotations": {"metallb.io/loadBalancerIPs": "10.70.0.1"}},
                           "spec": {"loadBalancerIP": "10.70.0.0"}}),
    );
    assert_eq!(both, Err(RequestError::BothRequestForms));
    let field = read(json!({"spec": {"loadBalancerIP": "one address please"}}));
    assert_eq!(
        field,
        Err(RequestError::InvalidRequestedIp {
            source_name: "spec.loadBalancerIP",
            value: "one address please".into()
        })
    );
    let annotation = read(json!({"metadata": {"annotations":
        {"metallb.io/loadBalancerIPs": "10.70.0.1,,"}}}));
    assert!(matches!(
        annotation,
        Err(RequestError::InvalidRequestedIp {
            source_name: "metallb.io/loadBalancerIPs",
            ..
        })
    ));
    let same_family = read(json!({"metadata": {"annotations":
        {"metallb.io/loadBalancerIPs": "10.70.0.1,10.70.0.0"}}}));
    assert!(matches!(
        same_family,
        Err(RequestError::BadRequestedSet { .. })
    ));
    assert_eq!(same_family.unwrap_err().reason(), "LoadBalancerFailed");
}

// Derived from TestControllerMutation ("incompatible ip and address pool annotations").
#[test]
fn requested_ip_outside_annotated_pool() {
    let mut a = controller_pools();
    let r = request(json!({"metadata": {"annotations": {
        "metallb.io/loadBalancerIPs": "10.70.0.1", "metallb.io/address-pool": "p-manual"}}}));
    assert_eq!(
        a.assign("x", &r),
        Err(AllocError::PoolMismatch {
            ips: ips(&["10.70.0.1"]),
            ip_pool: "p-main".into(),
            requested_pool: "p-manual".into()
        })
    );
    assert_eq!(a.assignment("x"), None);
}

// Derived from TestControllerMutation ("request infeasible IP").
#[test]
fn infeasible_requested_ip_drops_the_current_one() {
    let mut a = controller_pools();
    a.restore("x", &ips(&["10.70.0.1"]), &request(json!({})))
        .unwrap();
    let outcome = a.reconcile(
        "x",
        &request(json!({"spec": {"loadBalancerIP": "10.99.0.1"}})),
    );
    assert_eq!(
        outcome.cleared,
        Some(ClearReason::DifferentIpsRequested {
            current: ips(&["10.70.0.1"]),
            requested: ips(&["10.99.0.1"])
        })
    );
    assert_eq!(
        outcome.result,
        Err(AllocError::NotInAnyPool {
            ip: ip("10.99.0.1")
        })
    );
    assert_eq!(a.assignment("x"), None);
    assert_eq!(a.pool_usage("p-main").unwrap().assigned_ipv4, 0);
}

// Derived from TestControllerMutation ("request IP from specific pool", "switch to a different
// specific pool", "unknown pool requested").
#[test]
fn annotated_pool_and_switching_pools() {
    let mut a = controller_pools();
    let main = request(json!({"metadata": {"annotations": {"metallb.io/address-pool": "p-main"}}}));
    assert_eq!(a.assign("x", &main).unwrap().ips, ips(&["10.70.0.0"]));
    let manual =
        request(json!({"metadata": {"annotations": {"metallb.io/address-pool": "p-manual"}}}));
    let outcome = a.reconcile("x", &manual);
    assert_eq!(
        outcome.cleared,
        Some(ClearReason::DifferentPoolRequested {
            current: "p-main".into(),
            requested: "p-manual".into()
        })
    );
    assert_eq!(outcome.result.unwrap().ips, ips(&["10.71.0.9"]));
    let unknown =
        request(json!({"metadata": {"annotations": {"metallb.io/address-pool": "nope"}}}));
    assert_eq!(
        a.assign("y", &unknown),
        Err(AllocError::UnknownPool {
            pool: "nope".into()
        })
    );
}

// Derived from TestControllerMutation ("invalid IP assigned", "invalid ingress state").
#[test]
fn held_address_outside_every_pool_is_replaced() {
    let mut a = controller_pools();
    let svc = service(json!({"status": {"loadBalancer": {"ingress": [
        {"hostname": "lb.example.com"}, {"ip": "10.99.9.9"}]}}}));
    let held = ingress_ips(&svc).unwrap();
    assert_eq!(held, ips(&["10.99.9.9"]));
    let r = request(json!({}));
    assert_eq!(
        a.restore("x", &held, &r),
        Err(ClearReason::Invalid(AllocError::NotInAnyPool {
            ip: ip("10.99.9.9")
        }))
    );
    assert_eq!(a.assign("x", &r).unwrap().ips, ips(&["10.72.0.0"]));
    let garbage = service(json!({"status": {"loadBalancer": {"ingress": [{"ip": "bogus"}]}}}));
    assert_eq!(ingress_ips(&garbage), Err("bogus".to_string()));
}

// Derived from TestControllerMutation ("request layer2 service", "Layer2 service with local
// traffic policy").
#[test]
fn local_traffic_policy_records_the_selector_as_backend_key() {
    let mut a = controller_pools();
    let r = request(
        json!({"spec": {"loadBalancerIP": "10.71.0.9", "externalTrafficPolicy": "Local",
                                    "selector": {"b": "2", "a": "1"}}}),
    );
    assert_eq!(r.backend_key, "a=1,b=2");
    assert_eq!(a.assign("x", &r).unwrap().ips, ips(&["10.71.0.9"]));
    let cluster = request(json!({"spec": {"selector": {"a": "1"}}}));
    assert_eq!(cluster.backend_key, "");
}

// Derived from TestControllerMutation ("No ClusterIP").
#[test]
fn service_without_cluster_ip() {
    let none = read(json!({"spec": {"clusterIPs": null}}));
    assert_eq!(none, Err(RequestError::NoClusterIp));
    assert!(none.unwrap_err().clears_assignment());
    // IronLB fallbacks for hand-written Services: spec.ipFamilies, then a default family.
    let families = request(json!({"spec": {"clusterIPs": null, "ipFamilies": ["IPv6"]}}));
    assert_eq!(families.family, ironlb_alloc::ServiceFamily::V6);
    let defaulted = ServiceRequest::from_service(
        &service(json!({"spec": {"clusterIPs": null}})),
        &RequestOptions {
            default_family: Some(IpFamily::V4),
            ..RequestOptions::default()
        },
    );
    assert_eq!(
        defaulted.unwrap().unwrap().family,
        ironlb_alloc::ServiceFamily::V4
    );
    let single = request(json!({"spec": {"clusterIPs": null, "clusterIP": "fd00:96::1"}}));
    assert_eq!(single.family, ironlb_alloc::ServiceFamily::V6);
}

// Derived from TestControllerMutation ("request IP from wrong ip-family (ipv4)", "... (ipv4) via
// custom annotation", "... (ipv6)", "... (ipv6) via custom annotation").
#[test]
fn requested_ip_of_the_wrong_family() {
    let mut a = controller_pools();
    let cases = [
        json!({"spec": {"clusterIPs": ["fd00:96::10"], "loadBalancerIP": "10.70.0.1"}}),
        json!({"spec": {"clusterIPs": ["fd00:96::10"]},
               "metadata": {"annotations": {"metallb.io/loadBalancerIPs": "10.70.0.1"}}}),
        json!({"spec": {"loadBalancerIP": "fd00:70::1"}}),
        json!({"metadata": {"annotations": {"metallb.io/loadBalancerIPs": "fd00:70::1"}}}),
    ];
    for case in cases {
        let r = request(case);
        assert!(matches!(
            a.assign("x", &r),
            Err(AllocError::FamilyMismatch { .. })
        ));
    }
}

// Derived from TestControllerMutation ("IP from wrong ip-family (ipv6) assigned", "IP from wrong
// ip-family (ipv4) assigned").
#[test]
fn held_address_of_the_wrong_family_is_replaced() {
    let mut a = controller_pools();
    let v4_service = request(json!({}));
    assert!(matches!(
        a.restore("x", &ips(&["fd00:70::"]), &v4_service),
        Err(ClearReason::FamilyChanged { .. })
    ));
    assert_eq!(a.assign("x", &v4_service).unwrap().ips, ips(&["10.72.0.0"]));
    let v6_service = request(json!({"spec": {"clusterIPs": ["fd00:96::10"]}}));
    let outcome = a.reconcile("x", &v6_service);
    assert!(matches!(
        outcome.cleared,
        Some(ClearReason::FamilyChanged { .. })
    ));
    assert_eq!(outcome.result.unwrap().ips, ips(&["fd00:72::"]));
}

// Derived from TestControllerMutation ("simple dual-stack LoadBalancer", "request IPs from
// specific pool") and TestControllerDualStackConfig.
#[test]
fn dual_stack_service_takes_both_families_from_one_pool() {
    let mut a = controller_pools();
    let r = request(dual_cluster());
    let got = a.assign("d", &r).unwrap();
    assert_eq!(
        (got.pool.as_str(), got.ips),
        ("p-dual", ips(&["10.72.0.0", "fd00:72::"]))
    );
    let pinned = request(with(
        dual_cluster(),
        json!({"metadata": {"annotations": {"metallb.io/address-pool": "p-dual"}}}),
    ));
    assert_eq!(
        a.assign("e", &pinned).unwrap().ips,
        ips(&["10.72.0.1", "fd00:72::1"])
    );
    assert_eq!(
        a.assign("f", &pinned),
        Err(AllocError::PoolExhausted {
            pool: "p-dual".into(),
            family: FamilyNeed::One(IpFamily::V4)
        })
    );
}

// Derived from TestControllerMutation ("simple dual-stack LoadBalancer with PreferDualStack
// policy", "single-stack LoadBalancer with PreferDualStack policy").
#[test]
fn prefer_dual_stack_automatic() {
    let mut a = controller_pools();
    let prefer = with(
        dual_cluster(),
        json!({"spec": {"ipFamilyPolicy": "PreferDualStack"}}),
    );
    assert_eq!(
        a.assign("d", &request(prefer)).unwrap().ips,
        ips(&["10.72.0.0", "fd00:72::"])
    );
    let single_in_shop = request(json!({"metadata": {"namespace": "shop"},
                                        "spec": {"ipFamilyPolicy": "PreferDualStack"}}));
    assert_eq!(
        a.assign("shop/s", &single_in_shop).unwrap().ips,
        ips(&["10.73.0.0"])
    );
}

// Derived from TestControllerMutation ("request IPs from dualstack pool with PreferDualStack
// policy", "request IP from single-stack ipv4 pool ...", "... single-stack ipv6 pool ...",
// "request IPs from dualstack pool with PreferDualStack policy but single stack clusterip").
#[test]
fn prefer_dual_stack_with_an_annotated_pool() {
    let mut a = controller_pools();
    let annotated = |pool: &str, cluster: Value| {
        request(with(
            cluster,
            json!({"metadata": {"annotations": {"metallb.io/address-pool": pool}},
                   "spec": {"ipFamilyPolicy": "PreferDualStack"}}),
        ))
    };
    assert_eq!(
        a.assign("a", &annotated("p-dual", dual_cluster()))
            .unwrap()
            .ips,
        ips(&["10.72.0.0", "fd00:72::"])
    );
    assert_eq!(
        a.assign("b", &annotated("p-main", dual_cluster()))
            .unwrap()
            .ips,
        ips(&["10.70.0.0"])
    );
    let v6_only = json!({"spec": {"clusterIPs": ["fd00:96::10"], "ipFamilies": ["IPv6"]}});
    assert_eq!(
        a.assign("c", &annotated("p-v6", v6_only)).unwrap().ips,
        ips(&["fd00:70::"])
    );
    // Single clusterIP: one address, and (IronLB) no second family on later reconciles.
    let single = annotated("p-dual", json!({}));
    assert_eq!(a.assign("e", &single).unwrap().ips, ips(&["10.72.0.1"]));
    let again = a.reconcile("e", &single);
    assert_eq!(again.additional, None);
    assert_eq!(again.result.unwrap().ips, ips(&["10.72.0.1"]));
}

// Derived from TestControllerMutation ("request IPs from dualstack pool with RequireDualStack
// policy but single stack clusterip").
#[test]
fn require_dual_stack_with_one_cluster_ip() {
    let mut a = controller_pools();
    let r = request(json!({"spec": {"ipFamilyPolicy": "RequireDualStack"}}));
    assert_eq!(a.assign("x", &r), Err(AllocError::NotEnoughClusterIps));
}

// Derived from TestControllerMutation ("request specific loadbalancer IP with dual-stack",
// "request specific loadbalancer IPv4 address via custom annotation for dual-stack config",
// "request dual-stack loadbalancer IPs via custom annotation in a single stack cluster").
#[test]
fn requested_addresses_must_cover_exactly_the_service_families() {
    let mut a = controller_pools();
    for patch in [
        json!({"spec": {"loadBalancerIP": "10.72.0.1"}}),
        json!({"metadata": {"annotations": {"metallb.io/loadBalancerIPs": "10.72.0.1"}}}),
    ] {
        let r = request(with(dual_cluster(), patch));
        assert_eq!(
            a.assign("x", &r),
            Err(AllocError::FamilyMismatch {
                ips: ips(&["10.72.0.1"]),
                family: ironlb_alloc::ServiceFamily::Dual
            })
        );
    }
    let single_stack = request(
        json!({"spec": {"clusterIPs": null, "clusterIP": "10.96.0.3"},
        "metadata": {"annotations": {"metallb.io/loadBalancerIPs": "10.72.0.0,fd00:72::"}}}),
    );
    assert!(matches!(
        a.assign("y", &single_stack),
        Err(AllocError::FamilyMismatch { .. })
    ));
}

// Derived from TestControllerMutation ("request dual-stack loadbalancer IPs via custom
// annotation").
#[test]
fn requested_dual_stack_pair_keeps_its_order() {
    let mut a = controller_pools();
    let r = |value: &str| {
        request(with(
            dual_cluster(),
            json!({"metadata": {"annotations": {"metallb.io/loadBalancerIPs": value}}}),
        ))
    };
    assert_eq!(
        a.assign("a", &r("10.72.0.1,fd00:72::1")).unwrap().ips,
        ips(&["10.72.0.1", "fd00:72::1"])
    );
    assert_eq!(
        a.assign("b", &r("fd00:72::, 10.72.0.0")).unwrap().ips,
        ips(&["fd00:72::", "10.72.0.0"])
    );
}

// Derived from TestControllerMutation ("request dual-stack loadbalancer with invalid ingress").
#[test]
fn dual_stack_service_holding_one_family_is_reallocated() {
    let mut a = controller_pools();
    let svc = service(with(
        dual_cluster(),
        json!({"spec": {"clusterIPs": ["fd00:96::10", "10.96.0.10"], "ipFamilies": ["IPv6", "IPv4"]},
               "status": {"loadBalancer": {"ingress": [{"hostname": "x"}, {"ip": "fd00:72::1"}]}}}),
    ));
    let r = ServiceRequest::from_service(&svc, &RequestOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(r.primary, IpFamily::V6);
    let held = ingress_ips(&svc).unwrap();
    assert!(matches!(
        a.restore("d", &held, &r),
        Err(ClearReason::FamilyChanged { .. })
    ));
    // Automatic dual-stack choice lists IPv4 first whatever the primary family.
    assert_eq!(
        a.assign("d", &r).unwrap().ips,
        ips(&["10.72.0.0", "fd00:72::"])
    );
}

// Derived from TestControllerMutation ("request IP for service from namespace specific ip
// pool", "... no priority namespace specific ip pool", "... service label specific ip pool",
// "... ip pool having both namespace and service label").
#[test]
fn pinned_pools_by_namespace_label_and_priority() {
    let mut a = controller_pools();
    let cases = [
        (json!({"metadata": {"namespace": "shop"}}), "10.73.0.0"),
        (json!({"metadata": {"namespace": "billing"}}), "10.76.0.0"),
        (
            json!({"metadata": {"labels": {"team": "net"}}}),
            "10.77.0.0",
        ),
        (
            json!({"metadata": {"namespace": "shop", "labels": {"team": "net"}}}),
            "10.79.0.0",
        ),
    ];
    for (n, (patch, want)) in cases.into_iter().enumerate() {
        let got = a.assign(&format!("s{n}"), &request(patch)).unwrap();
        assert_eq!(got.ips, ips(&[want]));
    }
}

// Derived from TestControllerMutation ("simple LoadBalancer, ips already assigned but can't
// determine family").
#[test]
fn three_held_addresses_are_dropped() {
    let mut a = controller_pools();
    let held = ips(&["10.70.0.0", "10.70.0.1", "10.72.0.0"]);
    assert!(matches!(
        a.restore("x", &held, &request(json!({}))),
        Err(ClearReason::Invalid(AllocError::BadAddressSet { .. }))
    ));
    assert_eq!(
        a.assign("x", &request(json!({}))).unwrap().ips,
        ips(&["10.72.0.0"])
    );
}

// Derived from TestControllerConfig.
#[test]
fn no_pools_then_pools_then_none() {
    let mut a = Allocator::new(&config([]));
    let r = request(json!({}));
    assert_eq!(a.assign("x", &r), Err(AllocError::NoPools));
    assert_eq!(
        a.set_config(&config([pool("default", &["10.99.1.0/24"])])),
        vec![]
    );
    assert_eq!(a.assign("x", &r).unwrap().ips, ips(&["10.99.1.0"]));
    let changes = a.set_config(&config([]));
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].cleared,
        Some(ClearReason::Invalid(AllocError::NoPools))
    );
    assert_eq!(changes[0].result, Err(AllocError::NoPools));
    assert_eq!(a.assignment("x"), None);
}

// Derived from TestDeleteRecyclesIP.
#[test]
fn releasing_a_service_frees_its_address_for_a_waiting_one() {
    let mut a = Allocator::new(&config([pool("default", &["10.99.2.0/32"])]));
    let r = request(json!({}));
    assert_eq!(a.assign("first", &r).unwrap().ips, ips(&["10.99.2.0"]));
    assert!(matches!(
        a.assign("second", &r),
        Err(AllocError::NoFreeAddress { .. })
    ));
    assert_eq!(a.release("first").unwrap().ips, ips(&["10.99.2.0"]));
    assert_eq!(a.release("first"), None);
    assert_eq!(a.assign("second", &r).unwrap().ips, ips(&["10.99.2.0"]));
}

// Derived from TestControllerReassign.
#[test]
fn removing_a_pool_moves_its_services_to_another() {
    let first = pool("default", &["10.99.3.0/24", "fd00:99:3::1/127"]);
    let second = pool("second", &["10.99.4.0/24"]);
    let mut a = Allocator::new(&config([first.clone()]));
    let r = request(json!({}));
    assert_eq!(a.assign("x", &r).unwrap().ips, ips(&["10.99.3.0"]));
    assert_eq!(a.set_config(&config([first, second.clone()])), vec![]);
    assert!(!a.reconcile("x", &r).changed());
    let changes = a.set_config(&config([second]));
    assert_eq!(changes.len(), 1);
    let now = changes[0].result.as_ref().unwrap();
    assert_eq!(
        (now.pool.as_str(), &now.ips),
        ("second", &ips(&["10.99.4.0"]))
    );
    // A dual-stack Service on the first configuration (TestControllerDualStackConfig).
    let mut b = Allocator::new(&config([pool(
        "default",
        &["10.99.3.0/24", "fd00:99:3::1/127"],
    )]));
    assert_eq!(
        b.assign("d", &request(dual_cluster())).unwrap().ips,
        ips(&["10.99.3.0", "fd00:99:3::"])
    );
}
