//! BGPPeer conversion between v1beta1 and v1beta2, as MetalLB's conversion webhook does it,
//! made lossless.
//!
//! v1beta1 → v1beta2 copies fields one to one and turns node selectors into Kubernetes
//! LabelSelectors. v1beta2 → v1beta1 drops what v1beta1 cannot hold; IronLB keeps the original
//! v1beta2 spec in an annotation so that converting back restores it exactly.
//!
//! Timers differ from MetalLB on purpose. MetalLB's v1beta1 timers are non-pointer Go durations,
//! so an omitted one arrives in v1beta2 as `0s`: a v1beta1 peer without timers gets hold time 0
//! (no keepalives at all) and one with only `holdTime: 90s` gets keepalive 0. IronLB keeps an
//! omitted timer omitted, so defaults apply (hold 90 s, keepalive a third of the hold time),
//! except that a keepalive without a hold time still gets hold `0s`: MetalLB refuses that peer
//! (keepalive above hold) and IronLB gives the same verdict.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::duration::Duration;
use crate::{v1beta1, v1beta2};

/// Annotation on a v1beta1 BGPPeer that holds the v1beta2 spec it was converted from, when the
/// v1beta1 fields alone cannot reproduce it.
pub const PRESERVED_SPEC_ANNOTATION: &str = "metallb.io/v1beta2-spec";

/// v1beta1 → v1beta2 (the storage version).
pub fn bgppeer_to_v1beta2(peer: &v1beta1::BGPPeer) -> v1beta2::BGPPeer {
    let mut metadata = peer.metadata.clone();
    let preserved = metadata
        .annotations
        .as_mut()
        .and_then(|annotations| annotations.remove(PRESERVED_SPEC_ANNOTATION))
        .and_then(|json| serde_json::from_str::<v1beta2::BGPPeerSpec>(&json).ok());
    if metadata.annotations.as_ref().is_some_and(|a| a.is_empty()) {
        metadata.annotations = None;
    }
    let plain = spec_to_v1beta2(&peer.spec);
    let spec = match preserved {
        // Unedited since it was converted down: restore exactly.
        Some(original) if spec_to_v1beta1(&original) == peer.spec => original,
        // Edited as v1beta1: take its fields, keep what v1beta1 cannot express.
        Some(original) => v1beta2::BGPPeerSpec {
            local_asn: original.local_asn,
            dynamic_asn: original.dynamic_asn,
            interface: original.interface,
            connect_time: original.connect_time,
            password_secret: original.password_secret,
            enable_graceful_restart: original.enable_graceful_restart,
            vrf: original.vrf,
            disable_mp: original.disable_mp,
            dual_stack_address_family: original.dual_stack_address_family,
            ..plain
        },
        None => plain,
    };
    v1beta2::BGPPeer {
        metadata,
        spec,
        status: peer.status.clone(),
    }
}

/// v1beta2 → v1beta1; what v1beta1 cannot hold goes into [`PRESERVED_SPEC_ANNOTATION`].
pub fn bgppeer_to_v1beta1(peer: &v1beta2::BGPPeer) -> v1beta1::BGPPeer {
    let spec = spec_to_v1beta1(&peer.spec);
    let mut metadata = peer.metadata.clone();
    if spec_to_v1beta2(&spec) != peer.spec
        && let Ok(json) = serde_json::to_string(&peer.spec)
    {
        metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(PRESERVED_SPEC_ANNOTATION.to_string(), json);
    }
    v1beta1::BGPPeer {
        metadata,
        spec,
        status: peer.status.clone(),
    }
}

fn spec_to_v1beta2(old: &v1beta1::BGPPeerSpec) -> v1beta2::BGPPeerSpec {
    v1beta2::BGPPeerSpec {
        my_asn: old.my_asn,
        peer_asn: Some(old.peer_asn),
        peer_address: old.peer_address.clone(),
        source_address: old.source_address.clone(),
        peer_port: old.peer_port,
        hold_time: old.hold_time.or(old.keepalive_time.map(|_| Duration::ZERO)),
        keepalive_time: old.keepalive_time,
        router_id: old.router_id.clone(),
        node_selectors: old.node_selectors.iter().map(label_selector_from).collect(),
        password: old.password.clone(),
        bfd_profile: old.bfd_profile.clone(),
        ebgp_multi_hop: old.ebgp_multi_hop,
        ..Default::default()
    }
}

fn spec_to_v1beta1(new: &v1beta2::BGPPeerSpec) -> v1beta1::BGPPeerSpec {
    v1beta1::BGPPeerSpec {
        my_asn: new.my_asn,
        peer_asn: new.peer_asn.unwrap_or(0),
        peer_address: new.peer_address.clone(),
        source_address: new.source_address.clone(),
        peer_port: new.peer_port,
        hold_time: new.hold_time,
        keepalive_time: new.keepalive_time,
        router_id: new.router_id.clone(),
        node_selectors: new.node_selectors.iter().map(node_selector_from).collect(),
        password: new.password.clone(),
        bfd_profile: new.bfd_profile.clone(),
        ebgp_multi_hop: new.ebgp_multi_hop,
    }
}

fn label_selector_from(selector: &v1beta1::NodeSelector) -> LabelSelector {
    LabelSelector {
        match_labels: (!selector.match_labels.is_empty()).then(|| selector.match_labels.clone()),
        match_expressions: (!selector.match_expressions.is_empty()).then(|| {
            selector
                .match_expressions
                .iter()
                .map(|expression| LabelSelectorRequirement {
                    key: expression.key.clone(),
                    operator: expression.operator.clone(),
                    values: Some(expression.values.clone()),
                })
                .collect()
        }),
    }
}

fn node_selector_from(selector: &LabelSelector) -> v1beta1::NodeSelector {
    v1beta1::NodeSelector {
        match_labels: selector.match_labels.clone().unwrap_or_default(),
        match_expressions: selector
            .match_expressions
            .iter()
            .flatten()
            .map(|expression| v1beta1::MatchExpression {
                key: expression.key.clone(),
                operator: expression.operator.clone(),
                values: expression.values.clone().unwrap_or_default(),
            })
            .collect(),
    }
}
