//! The validated configuration: types that cannot hold an invalid value. Nothing downstream
//! (allocator, speaker, BGP/BFD engines) re-checks what is here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::num::NonZeroU32;

use ipnet::IpNet;
use ironlb_api::Duration;

use crate::community::Community;
use crate::selector::Selector;

/// A validated configuration: pools, peers, advertisements and BFD profiles.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// Address pools by name.
    pub pools: BTreeMap<String, Pool>,
    /// BGP peers by name.
    pub peers: BTreeMap<String, Peer>,
    /// BFD profiles by name.
    pub bfd_profiles: BTreeMap<String, BfdProfile>,
    /// BGP advertisements, sorted by name.
    pub bgp_advertisements: Vec<BgpAdvertisement>,
    /// Layer 2 advertisements, sorted by name.
    pub l2_advertisements: Vec<L2Advertisement>,
    /// Community aliases from Community objects.
    pub community_aliases: BTreeMap<String, Community>,
}

/// An address pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub name: String,
    /// Labels of the IPAddressPool (for ipAddressPoolSelectors).
    pub labels: BTreeMap<String, String>,
    /// `spec.addresses` in the order written, each with its CIDRs.
    pub entries: Vec<AddressEntry>,
    pub auto_assign: bool,
    pub avoid_buggy_ips: bool,
    /// `None`: every Service may use the pool (and it is a fallback pool for automatic choice).
    pub service_allocation: Option<ServiceAllocation>,
}

impl Pool {
    /// Every CIDR of the pool, in entry order.
    pub fn cidrs(&self) -> impl Iterator<Item = &IpNet> {
        self.entries.iter().flat_map(|entry| entry.cidrs.iter())
    }

    /// Whether the address lies in the pool (ignoring avoidBuggyIPs).
    pub fn contains(&self, address: IpAddr) -> bool {
        self.cidrs().any(|cidr| cidr.contains(&address))
    }

    /// Whether the pool holds IPv4 / IPv6 addresses.
    pub fn has_family(&self, ipv6: bool) -> bool {
        self.cidrs()
            .any(|cidr| matches!(cidr, IpNet::V6(_)) == ipv6)
    }
}

/// One `spec.addresses` entry as written, and the CIDRs it stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressEntry {
    pub text: String,
    pub cidrs: Vec<IpNet>,
}

/// Which Services a pool admits, and its priority among pools.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceAllocation {
    /// Lower positive values first; 0 (or negative) after all positive ones.
    pub priority: i64,
    /// Namespaces admitted: the `namespaces` list plus those matched by namespaceSelectors
    /// when the configuration was loaded. Empty with no selectors below = every namespace.
    pub namespaces: BTreeSet<String>,
    /// Whether namespaces or namespaceSelectors were given at all.
    pub restricts_namespaces: bool,
    /// Service label selectors; empty = every Service.
    pub service_selectors: Vec<Selector>,
}

impl ServiceAllocation {
    /// Whether a Service in `namespace` with `labels` may take addresses from the pool.
    pub fn admits(&self, namespace: &str, labels: &BTreeMap<String, String>) -> bool {
        let namespace_ok = !self.restricts_namespaces || self.namespaces.contains(namespace);
        let service_ok = self.service_selectors.is_empty()
            || self.service_selectors.iter().any(|s| s.matches(labels));
        namespace_ok && service_ok
    }
}

/// A BGP peer.
#[derive(Clone, Debug, PartialEq)]
pub struct Peer {
    pub name: String,
    pub my_asn: NonZeroU32,
    pub peer_asn: PeerAsn,
    /// AS presented to this peer instead of `my_asn`.
    pub local_asn: Option<NonZeroU32>,
    pub address: PeerAddress,
    pub source_address: Option<IpAddr>,
    pub port: u16,
    pub timers: Option<Timers>,
    /// Whole seconds, 1..=65535.
    pub connect_time: Option<Duration>,
    pub router_id: Option<IpAddr>,
    /// Nodes whose speaker runs the session; empty = all.
    pub node_selectors: Vec<Selector>,
    pub password: Option<Password>,
    pub bfd_profile: Option<String>,
    pub graceful_restart: bool,
    pub ebgp_multi_hop: bool,
    pub vrf: String,
    pub dual_stack_address_family: bool,
}

/// The remote AS, literal or checked against `my_asn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerAsn {
    Fixed(NonZeroU32),
    /// Any AS equal to myASN.
    Internal,
    /// Any AS different from myASN.
    External,
}

/// Where the peer is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddress {
    Address(IpAddr),
    /// BGP unnumbered over this interface.
    Interface(String),
}

/// Hold and keepalive times: hold is 0 (no keepalives) or at least 3 s, keepalive ≤ hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    pub hold: Duration,
    pub keepalive: Duration,
}

/// The TCP MD5 key of a session.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    Inline(String),
    /// Read from a `kubernetes.io/basic-auth` Secret.
    FromSecret {
        secret: String,
        value: String,
    },
}

impl Password {
    /// The key bytes.
    pub fn value(&self) -> &str {
        match self {
            Password::Inline(value) | Password::FromSecret { value, .. } => value,
        }
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Password::Inline(_) => f.write_str("Password::Inline(<redacted>)"),
            Password::FromSecret { secret, .. } => {
                write!(f, "Password::FromSecret({secret}, <redacted>)")
            }
        }
    }
}

/// BFD parameters with defaults applied (300/300/×3, echo 50, minimum TTL 254).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BfdProfile {
    pub name: String,
    /// Milliseconds, 10..=60000.
    pub receive_interval_ms: u32,
    /// Milliseconds, 10..=60000.
    pub transmit_interval_ms: u32,
    /// 2..=255.
    pub detect_multiplier: u8,
    /// Milliseconds, 10..=60000.
    pub echo_interval_ms: u32,
    pub echo_mode: bool,
    pub passive_mode: bool,
    /// 1..=254.
    pub minimum_ttl: u8,
}

/// How the addresses of some pools are announced over BGP.
#[derive(Clone, Debug, PartialEq)]
pub struct BgpAdvertisement {
    pub name: String,
    /// 0..=32 (MetalLB's schema says at least 1).
    pub aggregation_length: u8,
    /// 0..=128.
    pub aggregation_length_v6: u8,
    /// LOCAL_PREF for iBGP peers; `None` when 0 / unset.
    pub local_pref: Option<u32>,
    /// Resolved communities, sorted as MetalLB sorts them.
    pub communities: BTreeSet<Community>,
    /// Names of the pools this advertisement applies to (resolved from names and selectors).
    pub pools: BTreeSet<String>,
    /// Nodes allowed to announce; empty = all.
    pub node_selectors: Vec<Selector>,
    /// Peer names to announce to; empty = all.
    pub peers: Vec<String>,
    /// Services announced; empty = all.
    pub service_selectors: Vec<Selector>,
}

/// How the addresses of some pools are announced in layer 2 mode.
#[derive(Clone, Debug, PartialEq)]
pub struct L2Advertisement {
    pub name: String,
    pub pools: BTreeSet<String>,
    pub node_selectors: Vec<Selector>,
    /// Empty = all interfaces.
    pub interfaces: Vec<String>,
    pub service_selectors: Vec<Selector>,
    pub preferred_nodes: Vec<(u8, Selector)>,
}
