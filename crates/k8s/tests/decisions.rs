//! The Kubernetes layer's pure parts: decoding what the API returns, and the webhooks'
//! answers.

use ironlb_config::{Resources, ValidateOptions};
use ironlb_k8s::source::decode;
use ironlb_k8s::webhook::{convert, review};
use kube::api::DynamicObject;
use serde_json::json;

fn dynamic(value: serde_json::Value) -> DynamicObject {
    serde_json::from_value(value).unwrap()
}

#[test]
fn spec_less_objects_decode_and_bad_ones_are_problems_not_failures() {
    let (resources, problems) = decode(vec![
        dynamic(
            json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
                       "metadata": {"name": "all", "namespace": "metallb-system"}}),
        ),
        dynamic(
            json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                       "metadata": {"name": "prod", "namespace": "metallb-system"},
                       "spec": {"addresses": ["203.0.113.0/24"]}}),
        ),
        dynamic(
            json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                       "metadata": {"name": "bad", "namespace": "metallb-system"},
                       "spec": {"myASN": "not a number", "peerASN": 65000, "peerAddress": "10.0.0.1"}}),
        ),
    ]);
    assert_eq!(resources.bgp_advertisements.len(), 1);
    assert_eq!(resources.pools.len(), 1);
    assert!(resources.peers.is_empty());
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].message.contains("BGPPeer metallb-system/bad"),
        "{:?}",
        problems
    );
    assert!(problems[0].message.contains("spec.myASN"), "{:?}", problems);
}

fn resources() -> Resources {
    let (resources, problems) = decode(vec![
        dynamic(
            json!({"apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile",
                       "metadata": {"name": "fast", "namespace": "metallb-system"}}),
        ),
        dynamic(
            json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                       "metadata": {"name": "tor1", "namespace": "metallb-system"},
                       "spec": {"myASN": 65100, "peerASN": 65000, "peerAddress": "10.0.0.1", "bfdProfile": "fast"}}),
        ),
    ]);
    assert!(problems.is_empty());
    resources
}

fn admission(operation: &str, object: serde_json::Value) -> serde_json::Value {
    let (field, other) = if operation == "DELETE" {
        ("oldObject", "object")
    } else {
        ("object", "oldObject")
    };
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
           "request": {"uid": "u-1", "operation": operation, field: object, other: null}})
}

#[test]
fn the_validating_webhook_refuses_what_validate_refuses() {
    let options = ValidateOptions::default();
    let good = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                      "metadata": {"name": "p", "namespace": "metallb-system"},
                      "spec": {"addresses": ["203.0.113.0/24"]}});
    let answer = review(&admission("CREATE", good), &resources(), &options);
    assert_eq!(answer["response"]["uid"], "u-1");
    assert_eq!(answer["response"]["allowed"], true);

    let reversed = json!({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
                          "metadata": {"name": "p", "namespace": "metallb-system"},
                          "spec": {"addresses": ["203.0.113.9-203.0.113.1"]}});
    let answer = review(&admission("CREATE", reversed), &resources(), &options);
    assert_eq!(answer["response"]["allowed"], false);
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("IPAddressPool metallb-system/p spec.addresses"),
        "{message}"
    );

    // Deleting the BFDProfile a peer uses is refused; deleting the peer first is fine.
    let profile = json!({"apiVersion": "metallb.io/v1beta1", "kind": "BFDProfile",
                         "metadata": {"name": "fast", "namespace": "metallb-system"}});
    let answer = review(&admission("DELETE", profile), &resources(), &options);
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("BFDProfile metallb-system/fast is used by BGPPeer tor1"),
        "{message}"
    );
    let peer = json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                      "metadata": {"name": "tor1", "namespace": "metallb-system"},
                      "spec": {"myASN": 65100, "peerASN": 65000, "peerAddress": "10.0.0.1", "bfdProfile": "fast"}});
    let answer = review(&admission("DELETE", peer), &resources(), &options);
    assert_eq!(answer["response"]["allowed"], true, "{answer}");

    // Garbage is refused with a reason, never a panic.
    let answer = review(
        &json!({"request": {"uid": "x", "operation": "CREATE", "object": 7}}),
        &resources(),
        &options,
    );
    assert_eq!(answer["response"]["allowed"], false);
}

/// MetalLB's webhooks leave out references to objects that may come later (its
/// `resetTransientErrorsFields`), so `kubectl apply -f dir/` does not depend on file order.
#[test]
fn the_webhook_admits_references_to_objects_that_do_not_exist_yet() {
    let options = ValidateOptions::default();
    let allowed = |object: serde_json::Value| {
        let answer = review(
            &admission("CREATE", object),
            &Resources::default(),
            &options,
        );
        assert_eq!(answer["response"]["allowed"], true, "{answer}");
        assert!(answer["response"]["warnings"].is_null(), "{answer}");
    };
    allowed(
        json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                   "metadata": {"name": "tor1", "namespace": "metallb-system"},
                   "spec": {"myASN": 65100, "peerASN": 65000, "peerAddress": "10.0.0.1",
                            "bfdProfile": "not-yet", "passwordSecret": {"name": "not-yet"}}}),
    );
    allowed(
        json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
                   "metadata": {"name": "ad", "namespace": "metallb-system"},
                   "spec": {"communities": ["not-yet-an-alias", "65000:100"]}}),
    );

    // What is wrong in the object itself is still refused, literal communities included.
    let answer = review(
        &admission(
            "CREATE",
            json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
                   "metadata": {"name": "ad", "namespace": "metallb-system"},
                   "spec": {"communities": ["not-yet-an-alias", "65000:70000"]}}),
        ),
        &Resources::default(),
        &options,
    );
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(message.contains("65000:70000"), "{message}");
    assert!(!message.contains("not-yet-an-alias"), "{message}");
    let answer = review(
        &admission(
            "CREATE",
            json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                   "metadata": {"name": "tor1", "namespace": "metallb-system"},
                   "spec": {"myASN": 65100, "peerASN": 65000, "peerAddress": "10.0.0.1",
                            "bfdProfile": "not-yet", "holdTime": "1s"}}),
        ),
        &Resources::default(),
        &options,
    );
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(message.contains("spec.holdTime"), "{message}");
    assert!(!message.contains("not-yet"), "{message}");

    // Deleting a Community alias an advertisement uses is admitted (MetalLB's too); the
    // configuration is invalid until it comes back.
    let (with_alias, problems) = decode(vec![
        dynamic(
            json!({"apiVersion": "metallb.io/v1beta1", "kind": "Community",
                   "metadata": {"name": "aliases", "namespace": "metallb-system"},
                   "spec": {"communities": [{"name": "gold", "value": "65000:1"}]}}),
        ),
        dynamic(
            json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPAdvertisement",
                   "metadata": {"name": "ad", "namespace": "metallb-system"},
                   "spec": {"communities": ["gold"]}}),
        ),
    ]);
    assert!(problems.is_empty());
    let community = json!({"apiVersion": "metallb.io/v1beta1", "kind": "Community",
                           "metadata": {"name": "aliases", "namespace": "metallb-system"}});
    let answer = review(&admission("DELETE", community), &with_alias, &options);
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
}

#[test]
fn a_bgppeer_with_disable_mp_is_admitted_with_metallbs_deprecation_warning() {
    let options = ValidateOptions::default();
    let peer = json!({"apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
                      "metadata": {"name": "tor1", "namespace": "metallb-system"},
                      "spec": {"myASN": 65100, "peerASN": 65000, "peerAddress": "10.0.0.1",
                               "disableMP": true}});
    for operation in ["CREATE", "UPDATE"] {
        let answer = review(
            &admission(operation, peer.clone()),
            &Resources::default(),
            &options,
        );
        assert_eq!(answer["response"]["allowed"], true, "{answer}");
        let warnings = answer["response"]["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1, "{answer}");
        let warning = warnings[0].as_str().unwrap();
        assert!(
            warning.starts_with(
                "BGPPeer tor1 spec.disableMP: disableMP is deprecated and has no effect"
            ),
            "{warning}"
        );
        // The API server truncates longer warnings.
        assert!(warning.len() <= 256, "{warning}");
    }
    let answer = review(&admission("DELETE", peer), &Resources::default(), &options);
    assert!(answer["response"]["warnings"].is_null(), "{answer}");
}

#[test]
fn conversion_round_trips_bgppeers() {
    let v1beta1 = json!({"apiVersion": "metallb.io/v1beta1", "kind": "BGPPeer",
                         "metadata": {"name": "tor1", "namespace": "metallb-system"},
                         "spec": {"myASN": 65100, "peerASN": 65000, "peerAddress": "10.0.0.1", "holdTime": "90s"}});
    let request = |object: serde_json::Value, to: &str| {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
               "request": {"uid": "c-1", "desiredAPIVersion": to, "objects": [object]}})
    };
    let up = convert(&request(v1beta1.clone(), "metallb.io/v1beta2"));
    assert_eq!(up["response"]["result"]["status"], "Success", "{up}");
    let v1beta2 = up["response"]["convertedObjects"][0].clone();
    assert_eq!(v1beta2["apiVersion"], "metallb.io/v1beta2");
    let down = convert(&request(v1beta2, "metallb.io/v1beta1"));
    let back = &down["response"]["convertedObjects"][0];
    // Same values; durations in Go's canonical form, as the API (and MetalLB) store them.
    let mut expected = v1beta1["spec"].clone();
    expected["holdTime"] = json!("1m30s");
    assert_eq!(back["spec"], expected, "{down}");
    let bad = convert(&request(
        json!({"apiVersion": "metallb.io/v9", "kind": "BGPPeer"}),
        "metallb.io/v1beta1",
    ));
    assert_eq!(bad["response"]["result"]["status"], "Failure");
}
