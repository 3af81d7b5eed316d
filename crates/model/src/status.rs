//! What IronLB reports: the controller's assignments, events and pool counts, and each
//! speaker's sessions and announcements. The same types become Service status and events,
//! ServiceBGPStatus and metrics in Kubernetes, and the files under `DIR/.ironlb/` in directory
//! mode (`ironlb_cluster::status` writes and reads those).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use ipnet::IpNet;
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    /// RFC 3339 in files.
    #[serde(with = "crate::time::serde_rfc3339")]
    pub time: SystemTime,
    #[serde(rename = "type")]
    pub type_: EventType,
    pub reason: String,
    /// `Service default/web` in files.
    #[serde(with = "object_text")]
    pub object: EventObject,
    pub message: String,
}

/// Kubernetes' two kinds of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        })
    }
}

/// What an event is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventObject {
    Service { namespace: String, name: String },
    ConfigurationState { name: String },
}

impl fmt::Display for EventObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventObject::Service { namespace, name } => write!(f, "Service {namespace}/{name}"),
            EventObject::ConfigurationState { name } => write!(f, "ConfigurationState/{name}"),
        }
    }
}

impl std::str::FromStr for EventObject {
    type Err = String;

    /// Reads what [`fmt::Display`] writes.
    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("ConfigurationState/") {
            return Ok(EventObject::ConfigurationState { name: name.into() });
        }
        text.strip_prefix("Service ")
            .and_then(|key| key.split_once('/'))
            .map(|(namespace, name)| EventObject::Service {
                namespace: namespace.into(),
                name: name.into(),
            })
            .ok_or_else(|| {
                format!("{text:?} is neither `Service NS/NAME` nor `ConfigurationState/NAME`")
            })
    }
}

/// [`EventObject`] as its text in files.
mod object_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::EventObject;

    pub fn serialize<S: Serializer>(
        object: &EventObject,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(object)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<EventObject, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A BGP session's state (RFC 4271 §8.2.2 names).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BgpState {
    #[default]
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl fmt::Display for BgpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BgpState::Idle => "Idle",
            BgpState::Connect => "Connect",
            BgpState::Active => "Active",
            BgpState::OpenSent => "OpenSent",
            BgpState::OpenConfirm => "OpenConfirm",
            BgpState::Established => "Established",
        })
    }
}

/// A BFD session's state (RFC 5880 §4.1), written as the BFD engine and `ironlb get bfd`
/// write it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BfdState {
    AdminDown,
    #[default]
    Down,
    Init,
    Up,
}

impl fmt::Display for BfdState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BfdState::AdminDown => "admin-down",
            BfdState::Down => "down",
            BfdState::Init => "init",
            BfdState::Up => "up",
        })
    }
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
    /// Layer 2 mode: per Service in a pool an L2Advertisement covers, its owner or why none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer2: Vec<Layer2Announcement>,
    /// Layer 2 mode: MetalLB's counters, per address this node answers for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer2_counters: Vec<Layer2Counters>,
    /// Layer 2 mode: the other speakers whose liveness decides ownership.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub speakers: Vec<SpeakerPeer>,
    #[serde(default)]
    pub configuration_errors: Vec<String>,
}

/// A Service in layer 2 mode, as one speaker sees it (ServiceL2Status on Kubernetes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer2Announcement {
    pub namespace: String,
    pub name: String,
    /// The node that answers for the addresses (every speaker elects the same one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    /// The interfaces this node answers on, when it is the owner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<String>,
    /// Why nobody (or not this node) announces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// MetalLB's layer 2 counters for one address.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Layer2Counters {
    pub address: String,
    pub requests_received: u64,
    pub responses_sent: u64,
    pub gratuitous_sent: u64,
}

/// Another speaker, as layer 2 liveness sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeakerPeer {
    pub node: String,
    pub address: String,
    /// The BFD session with it.
    pub state: BfdState,
    pub alive: bool,
}

/// BGP's well-known port (RFC 4271).
fn bgp_port() -> u16 {
    179
}

/// One BGP session of a speaker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerSessionStatus {
    /// BGPPeer name.
    pub name: String,
    pub address: String,
    /// The peer's TCP port (`peerPort`, 179 when unset).
    #[serde(default = "bgp_port")]
    pub port: u16,
    #[serde(rename = "localASN")]
    pub local_asn: u32,
    /// The remote AS as configured (`65000`, `internal`, `external`).
    #[serde(rename = "peerASN")]
    pub peer_asn: String,
    pub state: BgpState,
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
    pub state: BfdState,
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
    /// The Echo function runs (BFDProfile echoMode).
    #[serde(default)]
    pub echo: bool,
    #[serde(default)]
    pub echo_packets_received: u64,
    #[serde(default)]
    pub echo_packets_sent: u64,
}

/// Per Service, what one node announces and to which peers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAnnouncement {
    /// Shared by the Services of a namespace (a speaker may list 10,000 Services).
    pub namespace: Arc<str>,
    pub name: String,
    #[serde(default)]
    pub prefixes: Vec<IpNet>,
    /// Sorted BGPPeer names actually advertised to, each name shared by every Service.
    #[serde(default)]
    pub peers: Vec<Arc<str>>,
    /// Why not announced from this node, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ServiceAnnouncement {
    /// The peers' names ("tor1"), as they read.
    pub fn peer_names(&self) -> Vec<&str> {
        self.peers.iter().map(|peer| &**peer).collect()
    }

    /// The prefixes as they read ("203.0.113.5/32").
    pub fn prefix_texts(&self) -> Vec<String> {
        self.prefixes.iter().map(ToString::to_string).collect()
    }
}
