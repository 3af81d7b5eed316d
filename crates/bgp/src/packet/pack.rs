//! Packing prefixes into as few UPDATEs as the message size allows.
//!
//! A speaker announcing 10,000 service addresses as /32s sends them in about a dozen UPDATEs
//! of 4096 octets, not 10,000: every prefix sharing one attribute set goes into the same
//! UPDATEs, as many per message as fit.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use super::header::HEADER_LENGTH;
use super::multiprotocol::{
    self, Ipv6NextHop, MpReachNlri, MpUnreachNlri, NextHop, UNREACH_OVERHEAD,
};
use super::{CodecContext, PathAttribute, Update, prefix};

/// Octets of an UPDATE with empty fields: header and the two length fields.
const EMPTY_UPDATE: usize = HEADER_LENGTH + 2 + 2;
/// Octets of an attribute header with a two-octet length.
const EXTENDED_ATTRIBUTE_HEADER: usize = 4;

/// Splits `items` into runs whose sizes add up to at most `budget`, each run holding at least
/// one item (so an item larger than the budget still goes out, alone).
fn runs<T>(items: &[T], budget: usize, size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (index, item) in items.iter().enumerate() {
        let item_size = size(item);
        if index > start && used + item_size > budget {
            runs.extend(items.get(start..index));
            start = index;
            used = 0;
        }
        used += item_size;
    }
    if start < items.len() {
        runs.extend(items.get(start..));
    }
    runs
}

/// The caller's attributes without those the packer writes itself, in ascending type order
/// (RFC 4271 §5).
fn shared_attributes(attributes: &[PathAttribute]) -> Vec<PathAttribute> {
    let mut shared: Vec<PathAttribute> = attributes
        .iter()
        .filter(|attribute| {
            !matches!(
                attribute,
                PathAttribute::NextHop(_)
                    | PathAttribute::MpReachNlri(_)
                    | PathAttribute::MpUnreachNlri(_)
            )
        })
        .cloned()
        .collect();
    shared.sort_by_key(PathAttribute::type_code);
    shared
}

fn encoded_length(attributes: &[PathAttribute], context: &CodecContext) -> usize {
    attributes
        .iter()
        .map(|attribute| attribute.encoded_length(context))
        .sum()
}

/// UPDATEs withdrawing `withdrawals`: IPv4 prefixes in Withdrawn Routes, IPv6 prefixes in
/// MP_UNREACH_NLRI, each message within `context`'s maximum size.
pub fn pack_withdrawals(withdrawals: &[IpNet], context: &CodecContext) -> Vec<Update> {
    let mut updates = Vec::new();
    pack_withdrawals_each(withdrawals, context, &mut |update| updates.push(update));
    updates
}

/// [`pack_withdrawals`], handing each UPDATE to `emit` as soon as it is made (to encode it
/// and let it go: only one message's prefixes are copied at a time).
pub fn pack_withdrawals_each(
    withdrawals: &[IpNet],
    context: &CodecContext,
    emit: &mut impl FnMut(Update),
) {
    let maximum = context.maximum_message_length();
    let ipv4: Vec<Ipv4Net> = withdrawals
        .iter()
        .filter_map(|prefix| match prefix {
            IpNet::V4(prefix) => Some(*prefix),
            IpNet::V6(_) => None,
        })
        .collect();
    let ipv6: Vec<Ipv6Net> = withdrawals
        .iter()
        .filter_map(|prefix| match prefix {
            IpNet::V6(prefix) => Some(*prefix),
            IpNet::V4(_) => None,
        })
        .collect();
    let budget = maximum.saturating_sub(EMPTY_UPDATE);
    for run in runs(&ipv4, budget, |prefix| {
        prefix::encoded_length(prefix.prefix_len())
    }) {
        emit(Update {
            withdrawn_routes: run.to_vec(),
            ..Update::default()
        });
    }
    let budget =
        maximum.saturating_sub(EMPTY_UPDATE + EXTENDED_ATTRIBUTE_HEADER + UNREACH_OVERHEAD);
    for run in runs(&ipv6, budget, |prefix| {
        prefix::encoded_length(prefix.prefix_len())
    }) {
        emit(Update {
            attributes: vec![PathAttribute::MpUnreachNlri(MpUnreachNlri::Ipv6Unicast(
                run.to_vec(),
            ))],
            ..Update::default()
        });
    }
}

/// UPDATEs announcing prefixes that share `attributes`: IPv4 prefixes in the NLRI field with a
/// NEXT_HOP, IPv6 prefixes in MP_REACH_NLRI (placed first, RFC 7606 §5.1) with their next hop.
/// NEXT_HOP, MP_REACH_NLRI and MP_UNREACH_NLRI in `attributes` are ignored (the packer writes
/// them); the others are sorted by type code and repeated in every UPDATE. Each UPDATE stays
/// within `context`'s maximum size, unless the attributes alone leave no room for a prefix,
/// in which case each prefix goes alone.
pub fn pack_announcements(
    attributes: &[PathAttribute],
    ipv4: Option<(Ipv4Addr, &[Ipv4Net])>,
    ipv6: Option<(Ipv6NextHop, &[Ipv6Net])>,
    context: &CodecContext,
) -> Vec<Update> {
    let mut updates = Vec::new();
    pack_announcements_each(attributes, ipv4, ipv6, context, &mut |update| {
        updates.push(update);
    });
    updates
}

/// [`pack_announcements`], handing each UPDATE to `emit` as soon as it is made.
pub fn pack_announcements_each(
    attributes: &[PathAttribute],
    ipv4: Option<(Ipv4Addr, &[Ipv4Net])>,
    ipv6: Option<(Ipv6NextHop, &[Ipv6Net])>,
    context: &CodecContext,
    emit: &mut impl FnMut(Update),
) {
    let maximum = context.maximum_message_length();
    let shared = shared_attributes(attributes);

    if let Some((next_hop, prefixes)) = ipv4 {
        let mut ipv4_attributes = shared.clone();
        ipv4_attributes.push(PathAttribute::NextHop(next_hop));
        ipv4_attributes.sort_by_key(PathAttribute::type_code);
        let budget =
            maximum.saturating_sub(EMPTY_UPDATE + encoded_length(&ipv4_attributes, context));
        for run in runs(prefixes, budget, |prefix| {
            prefix::encoded_length(prefix.prefix_len())
        }) {
            emit(Update {
                attributes: ipv4_attributes.clone(),
                nlri: run.to_vec(),
                ..Update::default()
            });
        }
    }

    if let Some((next_hop, prefixes)) = ipv6 {
        pack_mp_reach(
            &shared,
            next_hop,
            prefixes,
            context,
            |next_hop, run| MpReachNlri::Ipv6Unicast {
                next_hop,
                prefixes: run.to_vec(),
            },
            emit,
        );
    }
}

/// UPDATEs announcing IPv4 unicast prefixes that share `attributes` with an IPv6 next hop, in
/// MP_REACH_NLRI (AFI 1, SAFI 1; RFC 8950 §4), for a peer that negotiated the Extended Next
/// Hop capability for IPv4 unicast over IPv6. Otherwise as [`pack_announcements`].
pub fn pack_ipv4_announcements_over_ipv6(
    attributes: &[PathAttribute],
    next_hop: Ipv6NextHop,
    prefixes: &[Ipv4Net],
    context: &CodecContext,
) -> Vec<Update> {
    let mut updates = Vec::new();
    pack_ipv4_announcements_over_ipv6_each(attributes, next_hop, prefixes, context, &mut |u| {
        updates.push(u);
    });
    updates
}

/// [`pack_ipv4_announcements_over_ipv6`], handing each UPDATE to `emit` as soon as it is made.
pub fn pack_ipv4_announcements_over_ipv6_each(
    attributes: &[PathAttribute],
    next_hop: Ipv6NextHop,
    prefixes: &[Ipv4Net],
    context: &CodecContext,
    emit: &mut impl FnMut(Update),
) {
    let shared = shared_attributes(attributes);
    pack_mp_reach(
        &shared,
        next_hop,
        prefixes,
        context,
        |next_hop, run| MpReachNlri::Ipv4Unicast {
            next_hop: NextHop::Ipv6(next_hop),
            prefixes: run.to_vec(),
        },
        emit,
    );
}

/// UPDATEs withdrawing IPv4 unicast prefixes in MP_UNREACH_NLRI (AFI 1, SAFI 1), as a
/// speaker that announced them in MP_REACH_NLRI with an IPv6 next hop (RFC 8950) does.
pub fn pack_ipv4_withdrawals_multiprotocol(
    prefixes: &[Ipv4Net],
    context: &CodecContext,
) -> Vec<Update> {
    let budget = context
        .maximum_message_length()
        .saturating_sub(EMPTY_UPDATE + EXTENDED_ATTRIBUTE_HEADER + UNREACH_OVERHEAD);
    runs(prefixes, budget, |prefix| {
        prefix::encoded_length(prefix.prefix_len())
    })
    .into_iter()
    .map(|run| Update {
        attributes: vec![PathAttribute::MpUnreachNlri(MpUnreachNlri::Ipv4Unicast(
            run.to_vec(),
        ))],
        ..Update::default()
    })
    .collect()
}

/// UPDATEs carrying `prefixes` in MP_REACH_NLRI (placed first, RFC 7606 §5.1) with
/// `next_hop`, then the `shared` attributes, each within the maximum size.
fn pack_mp_reach<P: PrefixLength>(
    shared: &[PathAttribute],
    next_hop: Ipv6NextHop,
    prefixes: &[P],
    context: &CodecContext,
    reach: impl Fn(Ipv6NextHop, &[P]) -> MpReachNlri,
    emit: &mut impl FnMut(Update),
) {
    let next_hop_length = if next_hop.link_local.is_some() {
        32
    } else {
        16
    };
    let overhead = EMPTY_UPDATE
        + encoded_length(shared, context)
        + EXTENDED_ATTRIBUTE_HEADER
        + multiprotocol::reach_overhead(next_hop_length);
    let budget = context.maximum_message_length().saturating_sub(overhead);
    for run in runs(prefixes, budget, |prefix| {
        prefix::encoded_length(prefix.length())
    }) {
        let mut attributes = Vec::with_capacity(shared.len() + 1);
        attributes.push(PathAttribute::MpReachNlri(reach(next_hop, run)));
        attributes.extend(shared.iter().cloned());
        emit(Update {
            attributes,
            ..Update::default()
        });
    }
}

/// The prefix length of an IPv4 or IPv6 prefix.
trait PrefixLength {
    fn length(&self) -> u8;
}

impl PrefixLength for Ipv4Net {
    fn length(&self) -> u8 {
        self.prefix_len()
    }
}

impl PrefixLength for Ipv6Net {
    fn length(&self) -> u8 {
        self.prefix_len()
    }
}

/// Withdrawals first ([`pack_withdrawals`]), then announcements ([`pack_announcements`]).
pub fn pack_updates(
    attributes: &[PathAttribute],
    ipv4: Option<(Ipv4Addr, &[Ipv4Net])>,
    ipv6: Option<(Ipv6NextHop, &[Ipv6Net])>,
    withdrawals: &[IpNet],
    context: &CodecContext,
) -> Vec<Update> {
    let mut updates = pack_withdrawals(withdrawals, context);
    updates.extend(pack_announcements(attributes, ipv4, ipv6, context));
    updates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_respect_the_budget_and_never_come_out_empty() {
        let items = [3, 3, 3, 5, 9, 1];
        let sizes: Vec<usize> = runs(&items, 6, |&size| size)
            .iter()
            .map(|run| run.len())
            .collect();
        assert_eq!(sizes, [2, 1, 1, 1, 1]);
        assert!(runs(&[] as &[usize], 6, |&size| size).is_empty());
        assert_eq!(runs(&[1, 1], 0, |&size| size).len(), 2);
    }
}
