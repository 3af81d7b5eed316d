//! UPDATE message (RFC 4271 §4.3), read with the revised error handling of RFC 7606.
//!
//! ```text
//! +-----------------------------------------------------+
//! |   Withdrawn Routes Length (2 octets)                |
//! +-----------------------------------------------------+
//! |   Withdrawn Routes (variable)                       |
//! +-----------------------------------------------------+
//! |   Total Path Attribute Length (2 octets)            |
//! +-----------------------------------------------------+
//! |   Path Attributes (variable)                        |
//! +-----------------------------------------------------+
//! |   Network Layer Reachability Information (variable) |
//! +-----------------------------------------------------+
//! ```
//!
//! Withdrawn Routes and NLRI are IPv4 prefixes ([`super::prefix`]); other families travel in
//! MP_REACH_NLRI and MP_UNREACH_NLRI.
//!
//! # Error handling (RFC 7606)
//!
//! [`Update::decode`] fails (session reset) only when the UPDATE cannot be taken apart
//! reliably:
//! - the Withdrawn Routes Length or Total Path Attribute Length overruns the message (3/1,
//!   RFC 4271 §6.3; RFC 7606 §4 keeps session reset);
//! - Withdrawn Routes or NLRI do not parse (3/10; RFC 7606 §5.3);
//! - MP_REACH_NLRI or MP_UNREACH_NLRI is malformed (3/9, RFC 7606 §7.11) or repeated (3/1,
//!   RFC 7606 §3 g);
//! - an unrecognized well-known attribute (3/2, RFC 4271 §6.3).
//!
//! Everything else gives an [`UpdateOutcome`]:
//! - attribute discard: the attribute is dropped, the UPDATE is processed
//!   ([`UpdateOutcome::Accepted`] lists what was dropped);
//! - treat-as-withdraw ([`UpdateOutcome::TreatAsWithdraw`]): every prefix of the UPDATE,
//!   announced or withdrawn, in the NLRI field or in MP attributes, is to be withdrawn. That
//!   covers: an attribute header or value that overruns the Total Path Attribute Length
//!   (RFC 7606 §4: the total is trusted to find the NLRI, but MP attributes after the broken
//!   one are lost, which is why senders put them first, RFC 7606 §5.1); a missing ORIGIN or
//!   AS_PATH when the UPDATE announces anything, or NEXT_HOP when its NLRI field does
//!   (RFC 7606 §3 d; 3/3 with the type code); and the per-attribute cases listed in
//!   [`super::attribute`].
//!
//! A repeated attribute other than MP_REACH_NLRI / MP_UNREACH_NLRI keeps its first copy
//! (RFC 7606 §3 g). With several errors the most severe action wins (RFC 7606 §3).

use ipnet::{IpNet, Ipv4Net};

use super::as_path::AsPath;
use super::attribute::{self, PathAttribute, type_code};
use super::community::{Community, LargeCommunity};
use super::error::{ErrorAction, UpdateError};
use super::family::Family;
use super::multiprotocol::{MpReachNlri, MpUnreachNlri};
use super::notification::UpdateMessageSubcode;
use super::wire::{Reader, finish_length_u16, start_length_u16};
use super::{CodecContext, DecodeError, Origin, prefix};

/// An UPDATE message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Update {
    pub withdrawn_routes: Vec<Ipv4Net>,
    /// In the order they are sent; RFC 4271 §5 asks for ascending type codes, RFC 7606 §5.1
    /// for MP_REACH_NLRI / MP_UNREACH_NLRI first.
    pub attributes: Vec<PathAttribute>,
    pub nlri: Vec<Ipv4Net>,
}

/// What an UPDATE amounts to under RFC 7606.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Process `update`. `discarded` lists the attributes dropped by "attribute discard"
    /// (RFC 7606 §2), to be logged.
    Accepted {
        update: Update,
        discarded: Vec<UpdateError>,
    },
    /// "Treat-as-withdraw" (RFC 7606 §2): withdraw every prefix in `withdrawn` (all that the
    /// UPDATE announced or withdrew, IPv4 and IPv6 unicast), and log `errors`.
    TreatAsWithdraw {
        withdrawn: Vec<IpNet>,
        errors: Vec<UpdateError>,
    },
}

impl UpdateOutcome {
    /// Every error found, whatever its action.
    pub fn errors(&self) -> &[UpdateError] {
        match self {
            UpdateOutcome::Accepted { discarded, .. } => discarded,
            UpdateOutcome::TreatAsWithdraw { errors, .. } => errors,
        }
    }

    /// The UPDATE if it had no error at all, else the most severe error (first of equals):
    /// RFC 4271's handling, where every error resets the session.
    pub fn into_strict(self) -> Result<Update, UpdateError> {
        match self {
            UpdateOutcome::Accepted { update, discarded } if discarded.is_empty() => Ok(update),
            UpdateOutcome::Accepted {
                discarded: errors, ..
            }
            | UpdateOutcome::TreatAsWithdraw { errors, .. } => Err(most_severe(errors)),
        }
    }
}

fn most_severe(errors: Vec<UpdateError>) -> UpdateError {
    let mut worst: Option<UpdateError> = None;
    for error in errors {
        if worst
            .as_ref()
            .is_none_or(|worst| error.action > worst.action)
        {
            worst = Some(error);
        }
    }
    worst.unwrap_or(UpdateError {
        action: ErrorAction::SessionReset,
        subcode: UpdateMessageSubcode::Unspecific,
        attribute_type: None,
        data: Vec::new(),
        reason: "no error",
    })
}

fn session_reset(subcode: UpdateMessageSubcode, reason: &'static str) -> DecodeError {
    DecodeError::Update(UpdateError {
        action: ErrorAction::SessionReset,
        subcode,
        attribute_type: None,
        data: Vec::new(),
        reason,
    })
}

impl Update {
    /// The End-of-RIB marker for `family` (RFC 4724 §2): an empty UPDATE for IPv4 unicast, an
    /// UPDATE holding only an empty MP_UNREACH_NLRI for any other family.
    pub fn end_of_rib(family: Family) -> Self {
        if family == Family::IPV4_UNICAST {
            return Update::default();
        }
        Update {
            attributes: vec![PathAttribute::MpUnreachNlri(MpUnreachNlri::empty(family))],
            ..Update::default()
        }
    }

    /// The family this UPDATE is the End-of-RIB marker of, if it is one.
    pub fn end_of_rib_family(&self) -> Option<Family> {
        if !self.withdrawn_routes.is_empty() || !self.nlri.is_empty() {
            return None;
        }
        match self.attributes.as_slice() {
            [] => Some(Family::IPV4_UNICAST),
            [PathAttribute::MpUnreachNlri(unreach)] if unreach.is_empty() => Some(unreach.family()),
            _ => None,
        }
    }

    /// The first attribute of this type.
    pub fn attribute(&self, type_code: u8) -> Option<&PathAttribute> {
        self.attributes
            .iter()
            .find(|attribute| attribute.type_code() == type_code)
    }

    pub fn origin(&self) -> Option<Origin> {
        match self.attribute(type_code::ORIGIN)? {
            PathAttribute::Origin(origin) => Some(*origin),
            _ => None,
        }
    }

    pub fn as_path(&self) -> Option<&AsPath> {
        match self.attribute(type_code::AS_PATH)? {
            PathAttribute::AsPath(path) => Some(path),
            _ => None,
        }
    }

    pub fn next_hop(&self) -> Option<std::net::Ipv4Addr> {
        match self.attribute(type_code::NEXT_HOP)? {
            PathAttribute::NextHop(address) => Some(*address),
            _ => None,
        }
    }

    pub fn communities(&self) -> &[Community] {
        match self.attribute(type_code::COMMUNITIES) {
            Some(PathAttribute::Communities(communities)) => communities,
            _ => &[],
        }
    }

    pub fn large_communities(&self) -> &[LargeCommunity] {
        match self.attribute(type_code::LARGE_COMMUNITIES) {
            Some(PathAttribute::LargeCommunities(communities)) => communities,
            _ => &[],
        }
    }

    pub fn mp_reach_nlri(&self) -> Option<&MpReachNlri> {
        match self.attribute(type_code::MP_REACH_NLRI)? {
            PathAttribute::MpReachNlri(reach) => Some(reach),
            _ => None,
        }
    }

    pub fn mp_unreach_nlri(&self) -> Option<&MpUnreachNlri> {
        match self.attribute(type_code::MP_UNREACH_NLRI)? {
            PathAttribute::MpUnreachNlri(unreach) => Some(unreach),
            _ => None,
        }
    }

    /// IPv4 and IPv6 unicast prefixes announced (NLRI field, then MP_REACH_NLRI).
    pub fn announced(&self) -> Vec<IpNet> {
        let mut prefixes: Vec<IpNet> = self.nlri.iter().copied().map(IpNet::V4).collect();
        for attribute in &self.attributes {
            if let PathAttribute::MpReachNlri(reach) = attribute {
                prefixes.extend(reach.prefixes());
            }
        }
        prefixes
    }

    /// IPv4 and IPv6 unicast prefixes withdrawn (Withdrawn Routes, then MP_UNREACH_NLRI).
    pub fn withdrawn(&self) -> Vec<IpNet> {
        let mut prefixes: Vec<IpNet> = self
            .withdrawn_routes
            .iter()
            .copied()
            .map(IpNet::V4)
            .collect();
        for attribute in &self.attributes {
            if let PathAttribute::MpUnreachNlri(unreach) = attribute {
                prefixes.extend(unreach.prefixes());
            }
        }
        prefixes
    }

    /// Writes the message body (after the header). AS numbers in AS_PATH and AGGREGATOR take
    /// the width `context` says.
    pub fn encode(&self, buf: &mut Vec<u8>, context: &CodecContext) {
        let position = start_length_u16(buf);
        prefix::encode_ipv4_list(buf, &self.withdrawn_routes);
        finish_length_u16(buf, position);
        let position = start_length_u16(buf);
        for attribute in &self.attributes {
            attribute.encode(buf, context);
        }
        finish_length_u16(buf, position);
        prefix::encode_ipv4_list(buf, &self.nlri);
    }

    /// Reads the message body (after the header); see the module documentation.
    pub fn decode(body: &[u8], context: &CodecContext) -> Result<UpdateOutcome, DecodeError> {
        let overrun = || {
            session_reset(
                UpdateMessageSubcode::MalformedAttributeList,
                "withdrawn routes or path attribute length overruns the message",
            )
        };
        let mut reader = Reader::new(body);
        let withdrawn_length = reader.u16().ok_or_else(overrun)?;
        let withdrawn_bytes = reader
            .take(usize::from(withdrawn_length))
            .ok_or_else(overrun)?;
        let attributes_length = reader.u16().ok_or_else(overrun)?;
        let attribute_bytes = reader
            .take(usize::from(attributes_length))
            .ok_or_else(overrun)?;
        let nlri_bytes = reader.rest();

        let withdrawn_routes = prefix::decode_ipv4_list(withdrawn_bytes).ok_or_else(|| {
            session_reset(
                UpdateMessageSubcode::InvalidNetworkField,
                "withdrawn routes do not parse",
            )
        })?;
        let nlri = prefix::decode_ipv4_list(nlri_bytes).ok_or_else(|| {
            session_reset(
                UpdateMessageSubcode::InvalidNetworkField,
                "NLRI do not parse",
            )
        })?;

        let mut errors = Vec::new();
        let mut attributes = Vec::new();
        let mut seen = [false; 256];
        let mut reader = Reader::new(attribute_bytes);
        while !reader.is_empty() {
            let Some(raw) = attribute::read_raw(&mut reader) else {
                errors.push(UpdateError {
                    action: ErrorAction::TreatAsWithdraw,
                    subcode: UpdateMessageSubcode::MalformedAttributeList,
                    attribute_type: None,
                    data: Vec::new(),
                    reason: "attribute overruns the total path attribute length (RFC 7606 §4)",
                });
                break;
            };
            let already_seen = seen
                .get(usize::from(raw.type_code))
                .copied()
                .unwrap_or(true);
            if already_seen {
                if matches!(
                    raw.type_code,
                    type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI
                ) {
                    return Err(session_reset(
                        UpdateMessageSubcode::MalformedAttributeList,
                        "MP_REACH_NLRI or MP_UNREACH_NLRI more than once (RFC 7606 §3 g)",
                    ));
                }
                errors.push(UpdateError {
                    action: ErrorAction::AttributeDiscard,
                    subcode: UpdateMessageSubcode::MalformedAttributeList,
                    attribute_type: Some(raw.type_code),
                    data: raw.whole.to_vec(),
                    reason: "attribute repeated, the first is kept (RFC 7606 §3 g)",
                });
                continue;
            }
            if let Some(flag) = seen.get_mut(usize::from(raw.type_code)) {
                *flag = true;
            }
            let outcome = raw.decode(context, !nlri.is_empty());
            if let Some(problem) = outcome.problem {
                if problem.action == ErrorAction::SessionReset {
                    return Err(DecodeError::Update(problem));
                }
                errors.push(problem);
            }
            attributes.extend(outcome.attribute);
        }

        let announces = !nlri.is_empty()
            || attributes
                .iter()
                .any(|attribute| matches!(attribute, PathAttribute::MpReachNlri(_)));
        if announces {
            let mut mandatory = vec![type_code::ORIGIN, type_code::AS_PATH];
            if !nlri.is_empty() {
                mandatory.push(type_code::NEXT_HOP);
            }
            for missing in mandatory {
                if !seen.get(usize::from(missing)).copied().unwrap_or(false) {
                    errors.push(UpdateError {
                        action: ErrorAction::TreatAsWithdraw,
                        subcode: UpdateMessageSubcode::MissingWellKnownAttribute,
                        attribute_type: Some(missing),
                        data: vec![missing],
                        reason: "well-known mandatory attribute missing (RFC 7606 §3 d)",
                    });
                }
            }
        }

        let update = Update {
            withdrawn_routes,
            attributes,
            nlri,
        };
        if errors
            .iter()
            .any(|error| error.action == ErrorAction::TreatAsWithdraw)
        {
            let mut withdrawn = update.withdrawn();
            withdrawn.extend(update.announced());
            return Ok(UpdateOutcome::TreatAsWithdraw { withdrawn, errors });
        }
        Ok(UpdateOutcome::Accepted {
            update,
            discarded: errors,
        })
    }
}
