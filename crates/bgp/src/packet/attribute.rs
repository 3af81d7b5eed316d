//! Path attributes (RFC 4271 §4.3 and §5) and their RFC 7606 error handling.
//!
//! ```text
//! +---------------------------------+---------------------------------+
//! | Attribute Flags (1 octet)       | Attribute Type Code (1 octet)   |
//! +---------------------------------+---------------------------------+
//! | Attribute Length (1 octet, or 2 with the Extended Length bit)     |
//! +-------------------------------------------------------------------+
//! | Attribute Value (variable)                                        |
//! +-------------------------------------------------------------------+
//!
//! Attribute Flags:
//!  0   1   2   3   4   5   6   7
//! +---+---+---+---+---+---+---+---+
//! | O | T | P | E |    unused     |
//! +---+---+---+---+---+---+---+---+
//! O: optional (0: well-known)   T: transitive   P: partial   E: extended length
//! ```
//!
//! The IANA "BGP Path Attributes" registry is open: [`PathAttribute::Unknown`] keeps any other
//! optional attribute with its flags, so an optional transitive one can be passed on (with the
//! Partial bit set by the caller, RFC 4271 §5). Known attributes are encoded with their
//! standard flags and the Extended Length bit only when the value exceeds 255 octets, except
//! MP_REACH_NLRI and MP_UNREACH_NLRI, which always use it (they usually outgrow one octet, and
//! a fixed header keeps [`super::pack_updates`] simple). The unused bits are sent as zero and
//! ignored on receipt.
//!
//! # Error handling, attribute by attribute (RFC 7606 §7 unless said otherwise)
//!
//! | attribute | malformed when | action |
//! | --- | --- | --- |
//! | any known | O or T flag wrong (§3 c) | treat-as-withdraw; AS4_PATH, AS4_AGGREGATOR: discard (RFC 6793 §6) |
//! | any | repeated (§3 g) | later copies discarded; MP_REACH/MP_UNREACH: session reset |
//! | unknown well-known | always (RFC 4271 §6.3, 3/2) | session reset |
//! | ORIGIN (§7.1) | length ≠ 1, value > 2 | treat-as-withdraw |
//! | AS_PATH (§7.2) | bad segment (type, overrun, underrun, length 0), AS 0 (RFC 7607), confederation segments from an external peer (RFC 5065 §5.1) | treat-as-withdraw |
//! | NEXT_HOP (§7.3) | length ≠ 4; 0.0.0.0, multicast or 255.255.255.255 (RFC 4271 §6.3 semantic check) | treat-as-withdraw; discard when the UPDATE has no IPv4 NLRI (RFC 4760 §3: NEXT_HOP is then ignored) |
//! | MULTI_EXIT_DISC (§7.4) | length ≠ 4 | treat-as-withdraw |
//! | LOCAL_PREF (§7.5) | from an external peer: always; else length ≠ 4 | discard; treat-as-withdraw |
//! | ATOMIC_AGGREGATE (§7.6) | length ≠ 0 | discard |
//! | AGGREGATOR (§7.7) | length ≠ 6 (8 with 4-octet AS), AS 0 (RFC 7607) | discard |
//! | COMMUNITIES (§7.8) | length not a non-zero multiple of 4 | treat-as-withdraw |
//! | ORIGINATOR_ID (§7.9) | from an external peer: always; else length ≠ 4 | discard; treat-as-withdraw |
//! | CLUSTER_LIST (§7.10) | from an external peer: always; else length not a non-zero multiple of 4 | discard; treat-as-withdraw |
//! | MP_REACH_NLRI, MP_UNREACH_NLRI (§7.11) | too short, next hop length wrong for the family, NLRI do not parse | session reset (3/9) |
//! | EXTENDED_COMMUNITIES (§7.14) | length not a non-zero multiple of 8 | treat-as-withdraw |
//! | AS4_PATH (RFC 6793 §6) | bad segment, empty, AS 0 (RFC 7607); from a 4-octet AS peer (RFC 6793 §4.1); confederation segments are removed | discard |
//! | AS4_AGGREGATOR (RFC 6793 §6) | length ≠ 8, AS 0; from a 4-octet AS peer | discard |
//! | LARGE_COMMUNITIES (RFC 8092 §6) | length not a non-zero multiple of 12 | treat-as-withdraw |

use std::fmt;
use std::net::Ipv4Addr;

use super::as_path::{Aggregator, AsPath};
use super::community::{Community, ExtendedCommunity, LargeCommunity};
use super::error::{ErrorAction, UpdateError};
use super::multiprotocol::{MpReachNlri, MpUnreachNlri};
use super::notification::UpdateMessageSubcode;
use super::wire::{Reader, length_u8, length_u16};
use super::{CodecContext, PeerType};

/// Attribute type codes this crate decodes (IANA "BGP Path Attributes").
pub mod type_code {
    pub const ORIGIN: u8 = 1;
    pub const AS_PATH: u8 = 2;
    pub const NEXT_HOP: u8 = 3;
    pub const MULTI_EXIT_DISCRIMINATOR: u8 = 4;
    pub const LOCAL_PREFERENCE: u8 = 5;
    pub const ATOMIC_AGGREGATE: u8 = 6;
    pub const AGGREGATOR: u8 = 7;
    /// RFC 1997.
    pub const COMMUNITIES: u8 = 8;
    /// RFC 4456.
    pub const ORIGINATOR_ID: u8 = 9;
    /// RFC 4456.
    pub const CLUSTER_LIST: u8 = 10;
    /// RFC 4760.
    pub const MP_REACH_NLRI: u8 = 14;
    /// RFC 4760.
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// RFC 4360.
    pub const EXTENDED_COMMUNITIES: u8 = 16;
    /// RFC 6793.
    pub const AS4_PATH: u8 = 17;
    /// RFC 6793.
    pub const AS4_AGGREGATOR: u8 = 18;
    /// RFC 8092.
    pub const LARGE_COMMUNITIES: u8 = 32;
}

/// The Attribute Flags octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributeFlags(u8);

impl AttributeFlags {
    pub const OPTIONAL: u8 = 0x80;
    pub const TRANSITIVE: u8 = 0x40;
    pub const PARTIAL: u8 = 0x20;
    pub const EXTENDED_LENGTH: u8 = 0x10;

    /// Well-known attributes: transitive, not optional.
    pub const WELL_KNOWN: AttributeFlags = AttributeFlags(Self::TRANSITIVE);
    pub const OPTIONAL_TRANSITIVE: AttributeFlags =
        AttributeFlags(Self::OPTIONAL | Self::TRANSITIVE);
    pub const OPTIONAL_NON_TRANSITIVE: AttributeFlags = AttributeFlags(Self::OPTIONAL);

    /// The Optional, Transitive and Partial bits of `bits`; the encoder decides Extended
    /// Length, and the unused bits are dropped.
    pub fn new(bits: u8) -> Self {
        AttributeFlags(bits & (Self::OPTIONAL | Self::TRANSITIVE | Self::PARTIAL))
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn optional(self) -> bool {
        self.0 & Self::OPTIONAL != 0
    }

    pub fn transitive(self) -> bool {
        self.0 & Self::TRANSITIVE != 0
    }

    pub fn partial(self) -> bool {
        self.0 & Self::PARTIAL != 0
    }

    /// The same flags with the Partial bit set or cleared.
    pub fn with_partial(self, partial: bool) -> Self {
        if partial {
            AttributeFlags(self.0 | Self::PARTIAL)
        } else {
            AttributeFlags(self.0 & !Self::PARTIAL)
        }
    }
}

/// ORIGIN values (RFC 4271 §5.1.1). Any other value is malformed, so this is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Igp,
    Egp,
    Incomplete,
}

impl Origin {
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Origin::Igp),
            1 => Some(Origin::Egp),
            2 => Some(Origin::Incomplete),
            _ => None,
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Origin::Igp => 0,
            Origin::Egp => 1,
            Origin::Incomplete => 2,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Igp => "IGP",
            Origin::Egp => "EGP",
            Origin::Incomplete => "incomplete",
        })
    }
}

/// An attribute this crate does not know, as received.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnknownAttribute {
    /// Optional, Transitive and Partial bits as received.
    pub flags: AttributeFlags,
    /// Never one of the codes in [`type_code`].
    pub type_code: u8,
    pub value: Vec<u8>,
}

/// One path attribute.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathAttribute {
    /// ORIGIN (1), well-known mandatory.
    Origin(Origin),
    /// AS_PATH (2), well-known mandatory; AS numbers of 2 or 4 octets as negotiated.
    AsPath(AsPath),
    /// NEXT_HOP (3), well-known mandatory for IPv4 NLRI in the UPDATE's NLRI field.
    NextHop(Ipv4Addr),
    /// MULTI_EXIT_DISC (4), optional non-transitive.
    MultiExitDiscriminator(u32),
    /// LOCAL_PREF (5), well-known, sent to internal peers only.
    LocalPreference(u32),
    /// ATOMIC_AGGREGATE (6), well-known discretionary, no value.
    AtomicAggregate,
    /// AGGREGATOR (7), optional transitive.
    Aggregator(Aggregator),
    /// COMMUNITIES (8, RFC 1997), optional transitive.
    Communities(Vec<Community>),
    /// ORIGINATOR_ID (9, RFC 4456), optional non-transitive.
    OriginatorId(Ipv4Addr),
    /// CLUSTER_LIST (10, RFC 4456), optional non-transitive.
    ClusterList(Vec<Ipv4Addr>),
    /// MP_REACH_NLRI (14, RFC 4760), optional non-transitive.
    MpReachNlri(MpReachNlri),
    /// MP_UNREACH_NLRI (15, RFC 4760), optional non-transitive.
    MpUnreachNlri(MpUnreachNlri),
    /// EXTENDED COMMUNITIES (16, RFC 4360), optional transitive.
    ExtendedCommunities(Vec<ExtendedCommunity>),
    /// AS4_PATH (17, RFC 6793), optional transitive; only between a 4-octet AS speaker and
    /// an old one.
    As4Path(AsPath),
    /// AS4_AGGREGATOR (18, RFC 6793), optional transitive; like AS4_PATH.
    As4Aggregator(Aggregator),
    /// LARGE_COMMUNITIES (32, RFC 8092), optional transitive.
    LargeCommunities(Vec<LargeCommunity>),
    /// Anything else.
    Unknown(UnknownAttribute),
}

/// The standard flags of a known attribute type.
fn standard_flags(type_code: u8) -> Option<AttributeFlags> {
    use type_code::*;
    match type_code {
        ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREFERENCE | ATOMIC_AGGREGATE => {
            Some(AttributeFlags::WELL_KNOWN)
        }
        MULTI_EXIT_DISCRIMINATOR
        | ORIGINATOR_ID
        | CLUSTER_LIST
        | MP_REACH_NLRI
        | MP_UNREACH_NLRI => Some(AttributeFlags::OPTIONAL_NON_TRANSITIVE),
        AGGREGATOR | COMMUNITIES | EXTENDED_COMMUNITIES | AS4_PATH | AS4_AGGREGATOR
        | LARGE_COMMUNITIES => Some(AttributeFlags::OPTIONAL_TRANSITIVE),
        _ => None,
    }
}

/// Whether this crate decodes attributes of this type.
pub fn is_known_type(type_code: u8) -> bool {
    standard_flags(type_code).is_some()
}

impl PathAttribute {
    pub fn type_code(&self) -> u8 {
        use type_code::*;
        match self {
            PathAttribute::Origin(_) => ORIGIN,
            PathAttribute::AsPath(_) => AS_PATH,
            PathAttribute::NextHop(_) => NEXT_HOP,
            PathAttribute::MultiExitDiscriminator(_) => MULTI_EXIT_DISCRIMINATOR,
            PathAttribute::LocalPreference(_) => LOCAL_PREFERENCE,
            PathAttribute::AtomicAggregate => ATOMIC_AGGREGATE,
            PathAttribute::Aggregator(_) => AGGREGATOR,
            PathAttribute::Communities(_) => COMMUNITIES,
            PathAttribute::OriginatorId(_) => ORIGINATOR_ID,
            PathAttribute::ClusterList(_) => CLUSTER_LIST,
            PathAttribute::MpReachNlri(_) => MP_REACH_NLRI,
            PathAttribute::MpUnreachNlri(_) => MP_UNREACH_NLRI,
            PathAttribute::ExtendedCommunities(_) => EXTENDED_COMMUNITIES,
            PathAttribute::As4Path(_) => AS4_PATH,
            PathAttribute::As4Aggregator(_) => AS4_AGGREGATOR,
            PathAttribute::LargeCommunities(_) => LARGE_COMMUNITIES,
            PathAttribute::Unknown(unknown) => unknown.type_code,
        }
    }

    /// The flags this attribute is sent with (without Extended Length).
    pub fn flags(&self) -> AttributeFlags {
        match self {
            PathAttribute::Unknown(unknown) => unknown.flags,
            known => {
                standard_flags(known.type_code()).unwrap_or(AttributeFlags::OPTIONAL_TRANSITIVE)
            }
        }
    }

    fn encode_value(&self, buf: &mut Vec<u8>, context: &CodecContext) {
        match self {
            PathAttribute::Origin(origin) => buf.push(origin.code()),
            PathAttribute::AsPath(path) => path.encode(buf, context.four_octet_as),
            PathAttribute::NextHop(address) | PathAttribute::OriginatorId(address) => {
                buf.extend_from_slice(&address.octets());
            }
            PathAttribute::MultiExitDiscriminator(value)
            | PathAttribute::LocalPreference(value) => {
                buf.extend_from_slice(&value.to_be_bytes());
            }
            PathAttribute::AtomicAggregate => {}
            PathAttribute::Aggregator(aggregator) => aggregator.encode(buf, context.four_octet_as),
            PathAttribute::Communities(communities) => {
                for community in communities {
                    buf.extend_from_slice(&community.0.to_be_bytes());
                }
            }
            PathAttribute::ClusterList(identifiers) => {
                for identifier in identifiers {
                    buf.extend_from_slice(&identifier.octets());
                }
            }
            PathAttribute::MpReachNlri(reach) => reach.encode(buf),
            PathAttribute::MpUnreachNlri(unreach) => unreach.encode(buf),
            PathAttribute::ExtendedCommunities(communities) => {
                for community in communities {
                    buf.extend_from_slice(&community.0);
                }
            }
            PathAttribute::As4Path(path) => path.encode(buf, true),
            PathAttribute::As4Aggregator(aggregator) => aggregator.encode(buf, true),
            PathAttribute::LargeCommunities(communities) => {
                for community in communities {
                    buf.extend_from_slice(&community.global_administrator.to_be_bytes());
                    buf.extend_from_slice(&community.local_data_part_1.to_be_bytes());
                    buf.extend_from_slice(&community.local_data_part_2.to_be_bytes());
                }
            }
            PathAttribute::Unknown(unknown) => buf.extend_from_slice(&unknown.value),
        }
    }

    /// Writes flags, type code, length and value. AS_PATH and AGGREGATOR use the AS number
    /// width of `context`. A value longer than 65535 octets cannot be sent: the length field
    /// saturates and the peer will refuse the UPDATE, so keep UPDATEs within the message size
    /// (as [`super::pack_updates`] does).
    pub fn encode(&self, buf: &mut Vec<u8>, context: &CodecContext) {
        let mut value = Vec::new();
        self.encode_value(&mut value, context);
        let always_extended = matches!(
            self,
            PathAttribute::MpReachNlri(_) | PathAttribute::MpUnreachNlri(_)
        );
        let extended = always_extended || value.len() > usize::from(u8::MAX);
        let mut flags = self.flags().bits();
        if extended {
            flags |= AttributeFlags::EXTENDED_LENGTH;
        }
        buf.push(flags);
        buf.push(self.type_code());
        if extended {
            buf.extend_from_slice(&length_u16(value.len()).to_be_bytes());
        } else {
            buf.push(length_u8(value.len()));
        }
        buf.extend_from_slice(&value);
    }

    /// Octets [`PathAttribute::encode`] writes.
    pub fn encoded_length(&self, context: &CodecContext) -> usize {
        let mut buf = Vec::new();
        self.encode(&mut buf, context);
        buf.len()
    }
}

/// One attribute as found on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawAttribute<'a> {
    pub flags: u8,
    pub type_code: u8,
    pub value: &'a [u8],
    /// Flags, type, length and value: the NOTIFICATION data for errors in this attribute.
    pub whole: &'a [u8],
}

/// What reading one attribute gave: the attribute, a problem, or both (an MP attribute with
/// wrong flags is kept so its prefixes can be withdrawn; AS4_PATH loses its confederation
/// segments).
#[derive(Debug)]
pub(crate) struct AttributeOutcome {
    pub attribute: Option<PathAttribute>,
    pub problem: Option<UpdateError>,
}

impl AttributeOutcome {
    fn accepted(attribute: PathAttribute) -> Self {
        AttributeOutcome {
            attribute: Some(attribute),
            problem: None,
        }
    }

    fn problem(problem: UpdateError) -> Self {
        AttributeOutcome {
            attribute: None,
            problem: Some(problem),
        }
    }
}

impl RawAttribute<'_> {
    fn error(
        &self,
        action: ErrorAction,
        subcode: UpdateMessageSubcode,
        reason: &'static str,
    ) -> UpdateError {
        UpdateError {
            action,
            subcode,
            attribute_type: Some(self.type_code),
            data: self.whole.to_vec(),
            reason,
        }
    }

    fn length_error(&self, action: ErrorAction, reason: &'static str) -> AttributeOutcome {
        AttributeOutcome::problem(self.error(
            action,
            UpdateMessageSubcode::AttributeLengthError,
            reason,
        ))
    }

    /// Reads the attribute, applying the table in the module documentation. `has_ipv4_nlri`:
    /// whether the UPDATE's NLRI field holds prefixes (NEXT_HOP matters only then).
    ///
    /// Judged in this order: an unknown type, an attribute dropped whatever its content, wrong
    /// flags, then the value itself.
    pub(crate) fn decode(&self, context: &CodecContext, has_ipv4_nlri: bool) -> AttributeOutcome {
        let flags = AttributeFlags::new(self.flags);
        let Some(standard) = standard_flags(self.type_code) else {
            return self.decode_unknown(flags);
        };
        if let Some(reason) = self.ignored_because(context) {
            return AttributeOutcome::problem(self.error(
                ErrorAction::AttributeDiscard,
                UpdateMessageSubcode::Unspecific,
                reason,
            ));
        }
        let flags_problem = self.flags_problem(flags, standard);
        if let Some(problem) = flags_problem.clone()
            && !self.is_multiprotocol()
        {
            return AttributeOutcome::problem(problem);
        }
        let mut outcome = self.decode_value(context, has_ipv4_nlri);
        // An MP attribute with wrong flags: kept for its prefixes, withdrawn all the same.
        if let Some(problem) = flags_problem
            && outcome.problem.is_none()
        {
            outcome.problem = Some(problem);
        }
        outcome
    }

    /// A type this crate does not decode: kept as received when optional; an unrecognized
    /// well-known attribute resets the session (RFC 4271 §6.3, 3/2).
    fn decode_unknown(&self, flags: AttributeFlags) -> AttributeOutcome {
        if !flags.optional() {
            return AttributeOutcome::problem(self.error(
                ErrorAction::SessionReset,
                UpdateMessageSubcode::UnrecognizedWellKnownAttribute,
                "unrecognized well-known attribute",
            ));
        }
        AttributeOutcome::accepted(PathAttribute::Unknown(UnknownAttribute {
            flags,
            type_code: self.type_code,
            value: self.value.to_vec(),
        }))
    }

    /// Why the attribute is dropped whatever its content, if it is: attributes an external
    /// peer must not send, and AS4 attributes from a peer that speaks 4-octet AS itself.
    fn ignored_because(&self, context: &CodecContext) -> Option<&'static str> {
        use type_code::*;
        let external = context.peer_type == PeerType::External;
        match self.type_code {
            LOCAL_PREFERENCE if external => {
                Some("LOCAL_PREF from an external peer (RFC 7606 §7.5)")
            }
            ORIGINATOR_ID if external => {
                Some("ORIGINATOR_ID from an external peer (RFC 7606 §7.9)")
            }
            CLUSTER_LIST if external => Some("CLUSTER_LIST from an external peer (RFC 7606 §7.10)"),
            AS4_PATH | AS4_AGGREGATOR if context.four_octet_as => {
                Some("AS4_PATH or AS4_AGGREGATOR from a 4-octet AS speaker (RFC 6793 §4.1)")
            }
            _ => None,
        }
    }

    /// The error for Optional or Transitive bits that differ from the type's `standard` flags
    /// (RFC 7606 §3 c): treat-as-withdraw, but discard for AS4_PATH and AS4_AGGREGATOR
    /// (RFC 6793 §6).
    fn flags_problem(
        &self,
        flags: AttributeFlags,
        standard: AttributeFlags,
    ) -> Option<UpdateError> {
        let wrong = flags.bits() & (AttributeFlags::OPTIONAL | AttributeFlags::TRANSITIVE)
            != standard.bits();
        wrong.then(|| {
            let action = match self.type_code {
                type_code::AS4_PATH | type_code::AS4_AGGREGATOR => ErrorAction::AttributeDiscard,
                _ => ErrorAction::TreatAsWithdraw,
            };
            self.error(
                action,
                UpdateMessageSubcode::AttributeFlagsError,
                "optional or transitive flag conflicts with the type (RFC 7606 §3 c)",
            )
        })
    }

    /// MP_REACH_NLRI or MP_UNREACH_NLRI: their prefixes must be read even when the rest is
    /// wrong, so they can be withdrawn.
    fn is_multiprotocol(&self) -> bool {
        matches!(
            self.type_code,
            type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI
        )
    }

    /// Decodes the value of a known type, with the verdict of the table's row for a malformed
    /// one.
    fn decode_value(&self, context: &CodecContext, has_ipv4_nlri: bool) -> AttributeOutcome {
        use type_code::*;
        match self.type_code {
            ORIGIN => self.decode_origin(),
            AS_PATH => self.decode_as_path(context),
            NEXT_HOP => self.decode_next_hop(has_ipv4_nlri),
            MULTI_EXIT_DISCRIMINATOR => self.decode_four_octets(
                |bytes| PathAttribute::MultiExitDiscriminator(u32::from_be_bytes(bytes)),
                "MULTI_EXIT_DISC length is not 4",
            ),
            LOCAL_PREFERENCE => self.decode_four_octets(
                |bytes| PathAttribute::LocalPreference(u32::from_be_bytes(bytes)),
                "LOCAL_PREF length is not 4",
            ),
            ATOMIC_AGGREGATE => self.decode_atomic_aggregate(),
            AGGREGATOR => self.decode_aggregator(context.four_octet_as, PathAttribute::Aggregator),
            AS4_AGGREGATOR => self.decode_aggregator(true, PathAttribute::As4Aggregator),
            COMMUNITIES => self.decode_list(
                |bytes| Community(u32::from_be_bytes(bytes)),
                PathAttribute::Communities,
                "COMMUNITIES length is not a non-zero multiple of 4",
            ),
            ORIGINATOR_ID => self.decode_four_octets(
                |bytes| PathAttribute::OriginatorId(Ipv4Addr::from(bytes)),
                "ORIGINATOR_ID length is not 4",
            ),
            CLUSTER_LIST => self.decode_list(
                Ipv4Addr::from,
                PathAttribute::ClusterList,
                "CLUSTER_LIST length is not a non-zero multiple of 4",
            ),
            MP_REACH_NLRI => self.decode_multiprotocol(
                MpReachNlri::decode(self.value).map(PathAttribute::MpReachNlri),
            ),
            MP_UNREACH_NLRI => self.decode_multiprotocol(
                MpUnreachNlri::decode(self.value).map(PathAttribute::MpUnreachNlri),
            ),
            EXTENDED_COMMUNITIES => self.decode_list(
                ExtendedCommunity,
                PathAttribute::ExtendedCommunities,
                "EXTENDED COMMUNITIES length is not a non-zero multiple of 8",
            ),
            AS4_PATH => self.decode_as4_path(),
            LARGE_COMMUNITIES => self.decode_list(
                large_community,
                PathAttribute::LargeCommunities,
                "LARGE_COMMUNITIES length is not a non-zero multiple of 12",
            ),
            _ => AttributeOutcome::problem(self.error(
                ErrorAction::SessionReset,
                UpdateMessageSubcode::Unspecific,
                "known attribute type without a decoder",
            )),
        }
    }

    /// ORIGIN (RFC 7606 §7.1): one octet, 0 to 2; treat-as-withdraw otherwise.
    fn decode_origin(&self) -> AttributeOutcome {
        match self.value {
            [code] => match Origin::from_code(*code) {
                Some(origin) => AttributeOutcome::accepted(PathAttribute::Origin(origin)),
                None => AttributeOutcome::problem(self.error(
                    ErrorAction::TreatAsWithdraw,
                    UpdateMessageSubcode::InvalidOriginAttribute,
                    "undefined ORIGIN value",
                )),
            },
            _ => self.length_error(ErrorAction::TreatAsWithdraw, "ORIGIN length is not 1"),
        }
    }

    /// A value of exactly four octets (MULTI_EXIT_DISC, LOCAL_PREF, ORIGINATOR_ID: RFC 7606
    /// §7.4, §7.5, §7.9); any other length is treat-as-withdraw.
    fn decode_four_octets(
        &self,
        make: fn([u8; 4]) -> PathAttribute,
        reason: &'static str,
    ) -> AttributeOutcome {
        match <[u8; 4]>::try_from(self.value) {
            Ok(bytes) => AttributeOutcome::accepted(make(bytes)),
            Err(_) => self.length_error(ErrorAction::TreatAsWithdraw, reason),
        }
    }

    /// ATOMIC_AGGREGATE (RFC 7606 §7.6): no value; discarded otherwise.
    fn decode_atomic_aggregate(&self) -> AttributeOutcome {
        if self.value.is_empty() {
            AttributeOutcome::accepted(PathAttribute::AtomicAggregate)
        } else {
            self.length_error(
                ErrorAction::AttributeDiscard,
                "ATOMIC_AGGREGATE length is not 0",
            )
        }
    }

    /// A list of `N`-octet items (COMMUNITIES, CLUSTER_LIST, EXTENDED_COMMUNITIES,
    /// LARGE_COMMUNITIES: RFC 7606 §7.8, §7.10, §7.14, RFC 8092 §6); treat-as-withdraw when
    /// the value is empty or not a multiple of `N`.
    fn decode_list<const N: usize, T>(
        &self,
        item: fn([u8; N]) -> T,
        make: fn(Vec<T>) -> PathAttribute,
        reason: &'static str,
    ) -> AttributeOutcome {
        match words::<N>(self.value) {
            Some(words) => AttributeOutcome::accepted(make(words.map(item).collect())),
            None => self.length_error(ErrorAction::TreatAsWithdraw, reason),
        }
    }

    /// MP_REACH_NLRI or MP_UNREACH_NLRI (RFC 7606 §7.11): a value that does not parse resets
    /// the session (3/9).
    fn decode_multiprotocol(
        &self,
        decoded: Result<PathAttribute, &'static str>,
    ) -> AttributeOutcome {
        match decoded {
            Ok(attribute) => AttributeOutcome::accepted(attribute),
            Err(reason) => AttributeOutcome::problem(self.error(
                ErrorAction::SessionReset,
                UpdateMessageSubcode::OptionalAttributeError,
                reason,
            )),
        }
    }

    fn decode_as_path(&self, context: &CodecContext) -> AttributeOutcome {
        let malformed = |reason| {
            AttributeOutcome::problem(UpdateError {
                action: ErrorAction::TreatAsWithdraw,
                subcode: UpdateMessageSubcode::MalformedAsPath,
                attribute_type: Some(type_code::AS_PATH),
                data: Vec::new(),
                reason,
            })
        };
        match AsPath::decode(self.value, context.four_octet_as) {
            Err(reason) => malformed(reason),
            Ok(path) if path.contains(0) => malformed("AS 0 in AS_PATH (RFC 7607)"),
            Ok(path)
                if context.peer_type == PeerType::External && path.has_confederation_segments() =>
            {
                malformed("confederation segment from an external peer (RFC 5065 §5.1)")
            }
            Ok(path) => AttributeOutcome::accepted(PathAttribute::AsPath(path)),
        }
    }

    fn decode_as4_path(&self) -> AttributeOutcome {
        let discard = |subcode, reason| {
            AttributeOutcome::problem(self.error(ErrorAction::AttributeDiscard, subcode, reason))
        };
        if self.value.is_empty() {
            return discard(
                UpdateMessageSubcode::AttributeLengthError,
                "AS4_PATH is empty",
            );
        }
        match AsPath::decode(self.value, true) {
            Err(reason) => discard(UpdateMessageSubcode::OptionalAttributeError, reason),
            Ok(path) if path.contains(0) => discard(
                UpdateMessageSubcode::OptionalAttributeError,
                "AS 0 in AS4_PATH (RFC 7607)",
            ),
            Ok(mut path) if path.has_confederation_segments() => {
                path.segments
                    .retain(|segment| !segment.segment_type.is_confederation());
                AttributeOutcome {
                    attribute: (!path.segments.is_empty()).then_some(PathAttribute::As4Path(path)),
                    problem: Some(self.error(
                        ErrorAction::AttributeDiscard,
                        UpdateMessageSubcode::OptionalAttributeError,
                        "confederation segments removed from AS4_PATH (RFC 6793 §6)",
                    )),
                }
            }
            Ok(path) => AttributeOutcome::accepted(PathAttribute::As4Path(path)),
        }
    }

    fn decode_next_hop(&self, has_ipv4_nlri: bool) -> AttributeOutcome {
        // RFC 4760 §3: without IPv4 NLRI the NEXT_HOP is ignored, so a bad one is only dropped.
        let action = if has_ipv4_nlri {
            ErrorAction::TreatAsWithdraw
        } else {
            ErrorAction::AttributeDiscard
        };
        let Ok(bytes) = <[u8; 4]>::try_from(self.value) else {
            return self.length_error(action, "NEXT_HOP length is not 4");
        };
        let address = Ipv4Addr::from(bytes);
        if address.is_unspecified() || address.is_multicast() || address.is_broadcast() {
            return AttributeOutcome::problem(self.error(
                action,
                UpdateMessageSubcode::InvalidNextHopAttribute,
                "NEXT_HOP is 0.0.0.0, multicast or broadcast",
            ));
        }
        AttributeOutcome::accepted(PathAttribute::NextHop(address))
    }

    fn decode_aggregator(
        &self,
        four_octet: bool,
        make: fn(Aggregator) -> PathAttribute,
    ) -> AttributeOutcome {
        match Aggregator::decode(self.value, four_octet) {
            None => self.length_error(
                ErrorAction::AttributeDiscard,
                "AGGREGATOR length is not 6 (8 with 4-octet AS), or AS4_AGGREGATOR not 8",
            ),
            Some(aggregator) if aggregator.as_number == 0 => AttributeOutcome::problem(self.error(
                ErrorAction::AttributeDiscard,
                UpdateMessageSubcode::OptionalAttributeError,
                "AS 0 in AGGREGATOR or AS4_AGGREGATOR (RFC 7607)",
            )),
            Some(aggregator) => AttributeOutcome::accepted(make(aggregator)),
        }
    }
}

/// A LARGE_COMMUNITIES item: global administrator and two local data parts, each 4 octets.
fn large_community(bytes: [u8; 12]) -> LargeCommunity {
    let mut reader = Reader::new(&bytes);
    LargeCommunity::new(
        reader.u32().unwrap_or_default(),
        reader.u32().unwrap_or_default(),
        reader.u32().unwrap_or_default(),
    )
}

/// Splits a value into `N`-octet words; `None` if it is empty or not a multiple of `N`.
fn words<const N: usize>(value: &[u8]) -> Option<impl Iterator<Item = [u8; N]> + '_> {
    if value.is_empty() || !value.len().is_multiple_of(N) {
        return None;
    }
    Some(
        value
            .chunks_exact(N)
            .filter_map(|chunk| <[u8; N]>::try_from(chunk).ok()),
    )
}

/// Reads the attribute header at the start of `reader`. `None` when the attributes field ends
/// inside the header or the value (RFC 7606 §4).
pub(crate) fn read_raw<'a>(reader: &mut Reader<'a>) -> Option<RawAttribute<'a>> {
    let start = reader.remaining();
    let flags = reader.u8()?;
    let type_code = reader.u8()?;
    let length = if flags & AttributeFlags::EXTENDED_LENGTH != 0 {
        usize::from(reader.u16()?)
    } else {
        usize::from(reader.u8()?)
    };
    let header = start.len().saturating_sub(reader.len());
    let value = reader.take(length)?;
    Some(RawAttribute {
        flags,
        type_code,
        value,
        whole: start.get(..header + length)?,
    })
}
