//! `metallb.io/v1beta2`: the storage version of BGPPeer.

use k8s_openapi::api::core::v1::SecretReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::v1beta1::EmptyStatus;

/// A BGP router the speakers of the selected nodes peer with.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "metallb.io",
    version = "v1beta2",
    kind = "BGPPeer",
    plural = "bgppeers",
    namespaced,
    derive = "PartialEq",
    status = "EmptyStatus",
    printcolumn = r#"{"name":"Address","type":"string","jsonPath":".spec.peerAddress"}"#,
    printcolumn = r#"{"name":"ASN","type":"string","jsonPath":".spec.peerASN"}"#,
    printcolumn = r#"{"name":"BFD Profile","type":"string","jsonPath":".spec.bfdProfile"}"#,
    printcolumn = r#"{"name":"Multi Hops","type":"string","jsonPath":".spec.ebgpMultiHop"}"#
)]
pub struct BGPPeerSpec {
    /// Local AS number.
    #[serde(rename = "myASN")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub my_asn: u32,
    /// Remote AS number; exactly one of peerASN and dynamicASN.
    #[serde(rename = "peerASN", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4294967295u32))]
    pub peer_asn: Option<u32>,
    /// AS presented to this peer instead of myASN.
    #[serde(rename = "localASN", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4294967295u32))]
    pub local_asn: Option<u32>,
    /// `internal` or `external`: accept any peer AS equal to / different from myASN.
    #[serde(
        rename = "dynamicASN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dynamic_asn: Option<DynamicAsnMode>,
    /// Address to dial; exactly one of peerAddress and interface.
    #[serde(
        rename = "peerAddress",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub peer_address: String,
    /// Interface for a BGP-unnumbered session.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface: String,
    /// Local address to bind the session to.
    #[serde(
        rename = "sourceAddress",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub source_address: String,
    /// TCP port to dial (default 179).
    #[serde(rename = "peerPort", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16384), extend("default" = 179))]
    pub peer_port: Option<u16>,
    /// RFC 4271 hold time.
    #[serde(rename = "holdTime", default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<Duration>,
    /// Keepalive interval (holdTime/3 when only holdTime is set).
    #[serde(
        rename = "keepaliveTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub keepalive_time: Option<Duration>,
    /// Wait between connection attempts (whole seconds, 1s..65535s).
    #[serde(
        rename = "connectTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-kubernetes-validations" = [
        {"message": "connect time should be between 1 seconds to 65535", "rule": "duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535"},
        {"message": "connect time should contain a whole number of seconds", "rule": "duration(self).getMilliseconds() % 1000 == 0"}
    ]))]
    pub connect_time: Option<Duration>,
    /// BGP identifier.
    #[serde(rename = "routerID", default, skip_serializing_if = "String::is_empty")]
    pub router_id: String,
    /// Nodes whose speaker runs this session; empty = all.
    #[serde(
        rename = "nodeSelectors",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub node_selectors: Vec<LabelSelector>,
    /// TCP MD5 key (not together with passwordSecret).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    /// `kubernetes.io/basic-auth` Secret holding the TCP MD5 key under `password`.
    #[serde(
        rename = "passwordSecret",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub password_secret: Option<SecretReference>,
    /// BFDProfile name; no BFD when empty.
    #[serde(
        rename = "bfdProfile",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub bfd_profile: String,
    /// RFC 4724 graceful restart (immutable after creation).
    #[serde(
        rename = "enableGracefulRestart",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("x-kubernetes-validations" = [
        {"message": "EnableGracefulRestart cannot be changed after creation", "rule": "self == oldSelf"}
    ]))]
    pub enable_graceful_restart: Option<bool>,
    /// The peer is several hops away (TTL 255).
    #[serde(
        rename = "ebgpMultiHop",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ebgp_multi_hop: Option<bool>,
    /// Host VRF to run the session in.
    #[serde(rename = "vrf", default, skip_serializing_if = "String::is_empty")]
    pub vrf: String,
    /// Deprecated, without effect.
    #[serde(rename = "disableMP", default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub disable_mp: Option<bool>,
    /// Also exchange the other address family on this session.
    #[serde(
        rename = "dualStackAddressFamily",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(extend("default" = false))]
    pub dual_stack_address_family: Option<bool>,
}

/// How a peer AS is accepted when it is not given literally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DynamicAsnMode {
    /// The peer's AS equals myASN (iBGP).
    Internal,
    /// The peer's AS differs from myASN (eBGP).
    External,
}
