//! What one node's speaker judges: the configuration as it concerns this node.
//!
//! MetalLB's speaker keeps only the BGPPeers and BGPAdvertisements whose `nodeSelectors`
//! select its node (none select every node) before it validates anything
//! (`filterBGPPeersByNode` and `filterBGPAdvertisementsByNode` in
//! `internal/k8s/controllers/config_controller.go`). So a bad BGPPeer pinned to node A makes
//! only node A's configuration invalid (its ConfigurationState says why); the other nodes keep
//! loading changes. Everything else is judged whole: pools, BFD profiles and Community aliases
//! are shared, and layer 2 elections need every node's L2Advertisements.

use std::borrow::Cow;
use std::collections::BTreeMap;

use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use ironlb_config::{Resources, Selector};

/// `resources` without the BGPPeers and BGPAdvertisements that do not select the node
/// `node` (borrowed unchanged when all of them do). The node's labels come from its Node in
/// `resources.nodes`; a node not known there has none. An object with a selector that does
/// not parse stays, so that validation reports it.
pub fn for_node<'a>(resources: &'a Resources, node: &str) -> Cow<'a, Resources> {
    let empty = BTreeMap::new();
    let labels = resources
        .nodes
        .iter()
        .find(|n| n.metadata.name.as_deref() == Some(node))
        .and_then(|n| n.metadata.labels.as_ref())
        .unwrap_or(&empty);
    let selects = |selectors: &[LabelSelector]| {
        selectors.is_empty()
            || selectors.iter().any(|selector| {
                Selector::parse(selector).map_or(true, |parsed| parsed.matches(labels))
            })
    };
    let peers_kept = resources
        .peers
        .iter()
        .all(|peer| selects(&peer.spec.node_selectors));
    let advertisements_kept = resources
        .bgp_advertisements
        .iter()
        .all(|advertisement| selects(&advertisement.spec.node_selectors));
    if peers_kept && advertisements_kept {
        return Cow::Borrowed(resources);
    }
    let mut scoped = resources.clone();
    scoped
        .peers
        .retain(|peer| selects(&peer.spec.node_selectors));
    scoped
        .bgp_advertisements
        .retain(|advertisement| selects(&advertisement.spec.node_selectors));
    Cow::Owned(scoped)
}
