//! What IronLB reports: the controller's assignments, events and pool counts, and each
//! speaker's sessions and announcements. The same types become Service status and events,
//! ServiceBGPStatus and metrics in Kubernetes, and the files under `DIR/.ironlb/` in directory
//! mode (`ironlb_cluster::status` writes and reads those).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// The controller's view: assignments, events, pool counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControllerStatus {
    /// One entry per LoadBalancer Service the controller handles.
    #[serde(default)]
    pub services: Vec<ServiceStatus>,
    /// Newest last, bounded.
    #[serde(default)]
    pub events: Vec<EventRecord>,
    #[serde(default)]
    pub pools: Vec<PoolStatus>,
    /// Configuration problems, when the configuration did not load.
    #[serde(default)]
    pub configuration_errors: Vec<String>,
}

/// A Service's assignment, or why it has none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub namespace: String,
    pub name: String,
    /// `status.loadBalancer.ingress[].ip`.
    #[serde(default)]
    pub ingress: Vec<IpAddr>,
    /// `metallb.io/ip-allocated-from-pool`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    /// Why the Service is pending, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_reason: Option<String>,
}

/// An event, as `kubectl describe` would list it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// RFC 3339 time.
    pub time: String,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    /// `Service default/web`.
    pub object: String,
    pub message: String,
}

/// A pool's counts (IPAddressPool status).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatus {
    pub name: String,
    #[serde(rename = "assignedIPv4")]
    pub assigned_ipv4: i64,
    #[serde(rename = "assignedIPv6")]
    pub assigned_ipv6: i64,
    #[serde(rename = "availableIPv4")]
    pub available_ipv4: i64,
    #[serde(rename = "availableIPv6")]
    pub available_ipv6: i64,
}

/// Everything wrong with the configuration as the cluster holds it, for ConfigurationState:
/// objects that could not be read (ignored until fixed), then validation errors (the last
/// valid configuration stays in force meanwhile).
pub fn configuration_problems(unreadable: &[String], invalid: &[String]) -> Vec<String> {
    unreadable.iter().chain(invalid).cloned().collect()
}

/// A speaker's view: its BGP and BFD sessions and what it announces.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeakerStatus {
    pub node: String,
    /// RFC 3339 time of the last update.
    #[serde(default)]
    pub updated: String,
    #[serde(default)]
    pub peers: Vec<PeerSessionStatus>,
    #[serde(default)]
    pub bfd: Vec<BfdSessionStatus>,
    /// ServiceBGPStatus equivalents: per Service, the peers its prefixes were actually sent to.
    #[serde(default)]
    pub services: Vec<ServiceAnnouncement>,
    #[serde(default)]
    pub configuration_errors: Vec<String>,
}

/// One BGP session of a speaker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerSessionStatus {
    /// BGPPeer name.
    pub name: String,
    pub address: String,
    #[serde(rename = "localASN")]
    pub local_asn: u32,
    /// The remote AS as configured (`65000`, `internal`, `external`).
    #[serde(rename = "peerASN")]
    pub peer_asn: String,
    /// RFC 4271 state name.
    pub state: String,
    /// RFC 3339 time the session entered its state.
    #[serde(default)]
    pub since: String,
    pub prefixes_sent: u64,
    pub prefixes_received: u64,
    /// Prefixes wanted for this peer (sent or not yet).
    #[serde(default)]
    pub prefixes_wanted: u64,
    #[serde(default)]
    pub updates_sent: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One BFD session of a speaker (like FRR's `show bfd peers brief`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BfdSessionStatus {
    pub peer: String,
    pub local: String,
    pub state: String,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    pub transmit_interval_ms: u64,
    pub detection_time_ms: u64,
    #[serde(default)]
    pub diagnostic: String,
    #[serde(default)]
    pub packets_received: u64,
    #[serde(default)]
    pub packets_sent: u64,
}

/// Per Service, what one node announces and to which peers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAnnouncement {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub prefixes: Vec<String>,
    /// Sorted BGPPeer names actually advertised to.
    #[serde(default)]
    pub peers: Vec<String>,
    /// Why not announced from this node, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
