//! Why an allocation failed, or why a Service lost the addresses it held.

use std::fmt;
use std::net::IpAddr;

use crate::request::{IpFamily, Port, ServiceFamily};

/// Why the allocator refused a Service. `Display` says what to do; [`AllocError::reason`] is a
/// stable short word (for the message of MetalLB's `AllocationFailed` event, logs, metrics).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    #[error("no IPAddressPool is configured: create one")]
    NoPools,
    #[error(
        "ipFamilyPolicy RequireDualStack needs two clusterIPs (one per family) but the Service has one: the cluster must be dual-stack, or use PreferDualStack"
    )]
    NotEnoughClusterIps,
    #[error(
        "the Service has two clusterIPs (dual-stack) but ipFamilyPolicy SingleStack: set PreferDualStack or RequireDualStack"
    )]
    FamilyPolicyMismatch,
    #[error(
        "addresses {} are not one address or one address per family",
        list(.ips)
    )]
    BadAddressSet { ips: Vec<IpAddr> },
    #[error(
        "requested IP(s) {} do not match the Service's family ({family}, from spec.clusterIPs): request {}",
        list(.ips),
        family_hint(*.family)
    )]
    FamilyMismatch {
        ips: Vec<IpAddr>,
        family: ServiceFamily,
    },
    #[error(
        "IP {ip} is not in any IPAddressPool: request an address from a pool, or add it to one"
    )]
    NotInAnyPool { ip: IpAddr },
    #[error(
        "IP {ip} ends in .0 or .255 and pool {pool:?} has avoidBuggyIPs: request another address, or set avoidBuggyIPs: false"
    )]
    BuggyIpExcluded { ip: IpAddr, pool: String },
    #[error(
        "IPs {} belong to different pools ({first_pool:?} and {second_pool:?}): both addresses of a dual-stack Service must come from one pool",
        list(.ips)
    )]
    SplitAcrossPools {
        ips: Vec<IpAddr>,
        first_pool: String,
        second_pool: String,
    },
    #[error(
        "pool {pool:?} does not admit Services of namespace {namespace:?} with these labels (spec.serviceAllocation): use another pool, or widen its serviceAllocation"
    )]
    PoolDoesNotAdmit { pool: String, namespace: String },
    #[error("IP {ip} is in use by {}: {conflict}", others.join(", "))]
    SharingConflict {
        ip: IpAddr,
        others: Vec<String>,
        conflict: SharingConflict,
    },
    #[error(
        "port {port} of IP {ip} is already used by {other}: change the port, or request another IP"
    )]
    PortInUse {
        ip: IpAddr,
        port: Port,
        other: String,
    },
    #[error(
        "requested IP(s) {} are in pool {ip_pool:?} but metallb.io/address-pool asks for {requested_pool:?}: make them agree",
        list(.ips)
    )]
    PoolMismatch {
        ips: Vec<IpAddr>,
        ip_pool: String,
        requested_pool: String,
    },
    #[error(
        "pool {pool:?} (metallb.io/address-pool) does not exist: create it, or fix the annotation"
    )]
    UnknownPool { pool: String },
    #[error(
        "pool {pool:?} has no {family} addresses: add an {family} range to it, or use another pool"
    )]
    PoolLacksFamily { pool: String, family: IpFamily },
    #[error("pool {pool:?} has no free {family} address: add addresses to the pool or free some")]
    PoolExhausted { pool: String, family: FamilyNeed },
    #[error(
        "no IPAddressPool with autoAssign admits Services of namespace {namespace:?} with these labels: set metallb.io/address-pool, or add an autoAssign pool whose serviceAllocation admits the Service"
    )]
    NoPoolMatches { namespace: String },
    #[error(
        "no autoAssign pool admitting the Service has {family} addresses: add such addresses to a pool"
    )]
    NoPoolWithFamily { family: FamilyNeed },
    #[error(
        "no free {family} address in the autoAssign pools admitting the Service: add addresses to a pool or free some"
    )]
    NoFreeAddress { family: FamilyNeed },
}

impl AllocError {
    /// A short stable word for events, logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            AllocError::NoPools => "NoPools",
            AllocError::NotEnoughClusterIps => "NotEnoughClusterIPs",
            AllocError::FamilyPolicyMismatch => "FamilyPolicyMismatch",
            AllocError::BadAddressSet { .. } => "BadAddressSet",
            AllocError::FamilyMismatch { .. } => "FamilyMismatch",
            AllocError::NotInAnyPool { .. } => "IPNotInPool",
            AllocError::BuggyIpExcluded { .. } => "BuggyIPExcluded",
            AllocError::SplitAcrossPools { .. } => "IPsInDifferentPools",
            AllocError::PoolDoesNotAdmit { .. } => "PoolNotAllowed",
            AllocError::SharingConflict { .. } => "IPInUse",
            AllocError::PortInUse { .. } => "PortInUse",
            AllocError::PoolMismatch { .. } => "PoolMismatch",
            AllocError::UnknownPool { .. } => "UnknownPool",
            AllocError::PoolLacksFamily { .. } => "PoolLacksFamily",
            AllocError::PoolExhausted { .. } => "PoolExhausted",
            AllocError::NoPoolMatches { .. } => "NoPoolMatches",
            AllocError::NoPoolWithFamily { .. } => "NoPoolWithFamily",
            AllocError::NoFreeAddress { .. } => "NoAvailableIPs",
        }
    }
}

/// Which addresses a failed search needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyNeed {
    /// One address of this family.
    One(IpFamily),
    /// One of each family, from one pool (RequireDualStack, or PreferDualStack's first wish).
    Both,
    /// Either family (PreferDualStack with neither available).
    Either,
}

impl fmt::Display for FamilyNeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FamilyNeed::One(family) => family.fmt(f),
            FamilyNeed::Both => f.write_str("IPv4 + IPv6 (dual-stack)"),
            FamilyNeed::Either => f.write_str("IPv4 or IPv6"),
        }
    }
}

/// Why two Services cannot share an IP (MetalLB's `sharingOK`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SharingConflict {
    /// The Services on the IP have no `metallb.io/allow-shared-ip`.
    ExistingNoKey,
    /// This Service has no `metallb.io/allow-shared-ip`.
    NewNoKey,
    /// The sharing keys differ.
    KeyMismatch { existing: String, new: String },
    /// Both keys are equal but externalTrafficPolicy / pod selectors differ.
    BackendMismatch { existing: String, new: String },
}

impl fmt::Display for SharingConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SharingConflict::ExistingNoKey => f.write_str(
                "that Service does not allow sharing: give both Services the same metallb.io/allow-shared-ip, or request another IP",
            ),
            SharingConflict::NewNoKey => f.write_str(
                "this Service does not allow sharing: give both Services the same metallb.io/allow-shared-ip, or request another IP",
            ),
            SharingConflict::KeyMismatch { existing, new } => write!(
                f,
                "sharing key {new:?} differs from {existing:?} there: use the same metallb.io/allow-shared-ip, or request another IP"
            ),
            SharingConflict::BackendMismatch { existing, new } => write!(
                f,
                "Services sharing an IP must both use externalTrafficPolicy Cluster, or both Local with the same pod selector ({} here, {} there)",
                describe_backend(new),
                describe_backend(existing)
            ),
        }
    }
}

fn describe_backend(key: &str) -> String {
    if key.is_empty() {
        "Cluster".to_string()
    } else {
        format!("Local, selector {key:?}")
    }
}

/// Why a Service's current addresses were dropped (MetalLB's Normal event `ClearAssignment`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClearReason {
    /// The addresses are no longer allowed by the configuration or by the Service.
    #[error("current IP(s) not allowed any more: {0}")]
    Invalid(AllocError),
    /// The addresses' family no longer matches the Service's.
    #[error(
        "current IP(s) {} are not of the Service's family ({family})",
        list(.ips)
    )]
    FamilyChanged {
        ips: Vec<IpAddr>,
        family: ServiceFamily,
    },
    /// `metallb.io/address-pool` names another pool than the current one.
    #[error(
        "metallb.io/address-pool asks for pool {requested:?}, the current IP(s) are from {current:?}"
    )]
    DifferentPoolRequested { current: String, requested: String },
    /// The requested IPs differ from the current ones.
    #[error(
        "requested IP(s) {} differ from the current {}",
        list(.requested),
        list(.current)
    )]
    DifferentIpsRequested {
        current: Vec<IpAddr>,
        requested: Vec<IpAddr>,
    },
}

impl ClearReason {
    /// A short stable word.
    pub fn reason(&self) -> &'static str {
        match self {
            ClearReason::Invalid(error) => error.reason(),
            ClearReason::FamilyChanged { .. } => "FamilyChanged",
            ClearReason::DifferentPoolRequested { .. } => "DifferentPoolRequested",
            ClearReason::DifferentIpsRequested { .. } => "DifferentIPsRequested",
        }
    }
}

fn list(ips: &[IpAddr]) -> String {
    let parts: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
    parts.join(",")
}

fn family_hint(family: ServiceFamily) -> &'static str {
    match family {
        ServiceFamily::V4 => "one IPv4 address",
        ServiceFamily::V6 => "one IPv6 address",
        ServiceFamily::Dual => "one IPv4 and one IPv6 address",
    }
}
