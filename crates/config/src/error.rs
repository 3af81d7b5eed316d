//! Configuration errors: which object, which field, what is wrong, and what to do.

use std::fmt;

use ironlb_api::ObjectRef;

/// One problem in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The object at fault: `BGPPeer metallb-system/tor1`.
    pub object: ObjectRef,
    /// The field at fault, as a path: `spec.holdTime`, `spec.addresses[1]`.
    pub field: String,
    pub kind: ErrorKind,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl ConfigError {
    /// Transient errors name an object that may simply not exist yet (a BFDProfile, a Secret,
    /// a Community alias). MetalLB's webhooks let such objects in; the configuration still
    /// does not load until the missing object appears.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::MissingBfdProfile | ErrorKind::MissingSecret | ErrorKind::UnknownCommunity
        )
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.object, self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// What kind of problem; tests assert on these, users read the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    // Any kind.
    /// The object did not decode (a string where a number belongs, ...).
    Decode,
    MissingName,
    DuplicateName,
    /// Outside the namespace IronLB reads.
    WrongNamespace,
    /// A list holds the same value twice.
    DuplicateValue,
    /// A label selector appears twice in one list.
    DuplicateSelector,
    InvalidSelector,
    /// A number outside the bounds MetalLB's schema sets.
    OutOfRange,
    // IPAddressPool.
    NoAddresses,
    InvalidCidr,
    InvalidRange,
    OverlappingCidr,
    // BGPPeer.
    MissingLocalAsn,
    MissingPeerAsn,
    BothPeerAsnAndDynamicAsn,
    InvalidDynamicAsn,
    EbgpMultiHopOnIbgp,
    MissingPeerAddress,
    BothAddressAndInterface,
    InvalidPeerAddress,
    InvalidRouterId,
    InvalidSourceAddress,
    InvalidHoldTime,
    InvalidKeepaliveTime,
    InvalidConnectTime,
    BothPasswordAndSecret,
    MissingSecret,
    SecretTypeMismatch,
    SecretWithoutPassword,
    MissingBfdProfile,
    /// FRR-mode compatibility: two peers on one node with different routerIDs.
    RouterIdMismatch,
    /// FRR-mode compatibility: two peers on one node with the same address (and VRF).
    DuplicatePeer,
    /// FRR-mode compatibility: two peers on one node, same VRF, different myASN.
    MyAsnMismatch,
    // Community and BGPAdvertisement.
    InvalidCommunity,
    /// Not of community shape and not a known alias (transient: the alias may come later).
    UnknownCommunity,
    DuplicateCommunityAlias,
    ServiceSelectorsWithAggregation,
    InvalidAggregationLength,
    /// The aggregation length is shorter than a prefix of the pool.
    AggregationLengthTooShort,
    LocalPrefConflict,
    DuplicateAdvertisement,
    /// BFD echo mode on a peer that IPv6 addresses are advertised to.
    BfdEchoWithIpv6,
    /// IronLB's: a field MetalLB accepts that IronLB cannot act on yet (refused rather than
    /// accepted and ignored).
    NotSupported,
}
