//! A speaker judges only the BGPPeers and BGPAdvertisements that select its node, as MetalLB's
//! speaker filters them before validating (`config_controller.go`), so one node's bad peer
//! does not freeze the configuration of the others.

use std::borrow::Cow;

use ironlb_api::Object;
use ironlb_config::{ErrorKind, Resources, ValidateOptions};
use ironlb_speaker::scope::for_node;

const CLUSTER: &str = "
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {rack: a}}
---
apiVersion: v1
kind: Node
metadata: {name: node-b, labels: {rack: b}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: prod, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: everywhere, namespace: metallb-system}
spec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.1}
";

fn resources(extra: &str) -> Resources {
    let text = format!("{CLUSTER}\n---\n{extra}");
    let parsed = ironlb_api::manifest::parse(text.as_bytes(), "test").unwrap();
    let objects: Vec<Object> = parsed.into_iter().map(|d| d.result.unwrap()).collect();
    Resources::from_objects(&objects)
}

/// The error kinds of the configuration as `node` judges it.
fn verdict(resources: &Resources, node: &str) -> Vec<ErrorKind> {
    match ironlb_config::validate(&for_node(resources, node), &ValidateOptions::default()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.kind).collect(),
    }
}

#[test]
fn a_bad_peer_selecting_one_node_makes_only_that_nodes_configuration_invalid() {
    // MetalLB's configurationstate e2e: a BGPPeer with a nodeSelector names a Secret of the
    // wrong type; only that node's speaker reports it.
    let resources = resources(
        "apiVersion: v1
kind: Secret
metadata: {name: md5, namespace: metallb-system}
type: Opaque
stringData: {password: secret}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a-only, namespace: metallb-system}
spec:
  myASN: 65100
  peerASN: 65000
  peerAddress: 10.0.0.9
  passwordSecret: {name: md5, namespace: metallb-system}
  bfdProfile: missing
  nodeSelectors: [{matchLabels: {rack: a}}]
",
    );
    assert_eq!(
        verdict(&resources, "node-a"),
        [ErrorKind::SecretTypeMismatch, ErrorKind::MissingBfdProfile]
    );
    assert_eq!(verdict(&resources, "node-b"), []);
    let config =
        ironlb_config::validate(&for_node(&resources, "node-b"), &ValidateOptions::default())
            .unwrap();
    assert_eq!(
        config.peers.keys().collect::<Vec<_>>(),
        ["everywhere"],
        "node-b runs the peers that select it"
    );
}

#[test]
fn a_bad_advertisement_selecting_one_node_makes_only_that_nodes_configuration_invalid() {
    let resources = resources(
        "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: rack-b-only, namespace: metallb-system}
spec:
  communities: [no-such-alias]
  nodeSelectors: [{matchExpressions: [{key: rack, operator: In, values: [b]}]}]
",
    );
    assert_eq!(verdict(&resources, "node-a"), []);
    assert_eq!(verdict(&resources, "node-b"), [ErrorKind::UnknownCommunity]);
}

#[test]
fn peers_without_node_selectors_are_every_nodes_and_nothing_is_copied_when_all_select() {
    let resources = resources(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: bad-everywhere, namespace: metallb-system}
spec: {myASN: 65100, peerASN: 65000, peerAddress: not-an-address}
",
    );
    assert!(matches!(for_node(&resources, "node-a"), Cow::Borrowed(_)));
    assert_eq!(
        verdict(&resources, "node-a"),
        [ErrorKind::InvalidPeerAddress]
    );
    assert_eq!(
        verdict(&resources, "node-b"),
        [ErrorKind::InvalidPeerAddress]
    );
}

#[test]
fn a_node_unknown_to_the_cluster_has_no_labels_and_a_broken_selector_is_still_judged() {
    let resources = resources(
        "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a-only, namespace: metallb-system}
spec:
  myASN: 65100
  peerASN: 65000
  peerAddress: 10.0.0.9
  bfdProfile: missing
  nodeSelectors: [{matchLabels: {rack: a}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: broken-selector, namespace: metallb-system}
spec:
  myASN: 65100
  peerASN: 65000
  peerAddress: 10.0.0.10
  nodeSelectors: [{matchExpressions: [{key: rack, operator: Sideways, values: [a]}]}]
",
    );
    // node-c has no Node object: rack-a-only does not select it; the selector that cannot be
    // read is reported on every node rather than silently dropped.
    assert_eq!(verdict(&resources, "node-c"), [ErrorKind::InvalidSelector]);
    assert_eq!(
        verdict(&resources, "node-a"),
        [ErrorKind::InvalidSelector, ErrorKind::MissingBfdProfile]
    );
}
