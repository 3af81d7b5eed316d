//! Adj-RIB-Out of one session: what the caller wants announced, what was sent, and the
//! difference to send next.
//!
//! The caller replaces the desired set whenever it likes; nothing is computed until the session
//! takes the changes ([`AdjRibOut::take_changes`]), so a route that flaps many times between
//! two flushes costs at most one UPDATE, or none if it ends where it started. Changes come out
//! grouped by attribute set, so the encoder packs all prefixes sharing attributes into as few
//! UPDATEs as the message size allows. After a reconnect ([`AdjRibOut::reset`]) everything
//! desired is sent again.

use std::collections::BTreeMap;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Prefixes of one attribute set, by family (what the encoder packs: 5 octets a /32 here,
/// not the 18 of an [`IpNet`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Prefixes {
    pub ipv4: Vec<Ipv4Net>,
    pub ipv6: Vec<Ipv6Net>,
}

impl Prefixes {
    pub fn len(&self) -> usize {
        self.ipv4.len() + self.ipv6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ipv4.is_empty() && self.ipv6.is_empty()
    }

    fn push(&mut self, prefix: IpNet) {
        match prefix {
            IpNet::V4(prefix) => self.ipv4.push(prefix),
            IpNet::V6(prefix) => self.ipv6.push(prefix),
        }
    }
}

/// The prefixes to send: announcements grouped by their attributes, and withdrawals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes<A> {
    pub announce: Vec<(A, Prefixes)>,
    pub withdraw: Vec<IpNet>,
}

impl<A> Changes<A> {
    pub fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty()
    }

    /// Number of prefixes announced.
    pub fn announced_count(&self) -> usize {
        self.announce
            .iter()
            .map(|(_, prefixes)| prefixes.len())
            .sum()
    }
}

/// Adj-RIB-Out with attribute type `A` (any comparable set of path attributes): what was
/// sent. The desired routes stay with the caller (the session's, filtered by what the peer
/// can take), so 100,000 routes are held twice (desired, sent), not three times.
#[derive(Clone, Debug)]
pub struct AdjRibOut<A> {
    sent: BTreeMap<IpNet, A>,
}

impl<A> Default for AdjRibOut<A> {
    fn default() -> Self {
        AdjRibOut {
            sent: BTreeMap::new(),
        }
    }
}

impl<A: Clone + Ord> AdjRibOut<A> {
    /// What the peer has been sent (and not withdrawn): the truth for status reporting.
    pub fn sent(&self) -> &BTreeMap<IpNet, A> {
        &self.sent
    }

    /// Whether the routes of `desired` that pass `sendable` differ from those sent.
    pub fn has_changes(
        &self,
        desired: &BTreeMap<IpNet, A>,
        sendable: impl Fn(&IpNet) -> bool,
    ) -> bool {
        !desired
            .iter()
            .filter(|(prefix, _)| sendable(prefix))
            .eq(self.sent.iter())
    }

    /// The difference between the routes of `desired` that pass `sendable` and those sent;
    /// from now on they count as sent.
    pub fn take_changes(
        &mut self,
        desired: &BTreeMap<IpNet, A>,
        sendable: impl Fn(&IpNet) -> bool,
    ) -> Changes<A> {
        let mut by_attributes: BTreeMap<A, Prefixes> = BTreeMap::new();
        let mut all_sendable = true;
        for (prefix, attributes) in desired {
            if !sendable(prefix) {
                all_sendable = false;
            } else if self.sent.get(prefix) != Some(attributes) {
                by_attributes
                    .entry(attributes.clone())
                    .or_default()
                    .push(*prefix);
            }
        }
        let withdraw: Vec<IpNet> = self
            .sent
            .keys()
            .filter(|prefix| !(desired.contains_key(prefix) && sendable(prefix)))
            .copied()
            .collect();
        // The old copy goes before the new one is made. A clone keeps the desired map's full
        // nodes; collecting would gather and sort all entries in a Vec first.
        self.sent = BTreeMap::new();
        self.sent = if all_sendable {
            desired.clone()
        } else {
            desired
                .iter()
                .filter(|(prefix, _)| sendable(prefix))
                .map(|(prefix, attributes)| (*prefix, attributes.clone()))
                .collect()
        };
        Changes {
            announce: by_attributes.into_iter().collect(),
            withdraw,
        }
    }

    /// The session went down: nothing counts as sent any more.
    pub fn reset(&mut self) {
        self.sent.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(entries: &[(&str, u32)]) -> BTreeMap<IpNet, u32> {
        entries
            .iter()
            .map(|(p, a)| (p.parse().unwrap(), *a))
            .collect()
    }

    fn all(_: &IpNet) -> bool {
        true
    }

    #[test]
    fn only_the_difference_is_sent() {
        let mut rib = AdjRibOut::default();
        let desired = routes(&[
            ("203.0.113.5/32", 1),
            ("203.0.113.6/32", 1),
            ("203.0.113.7/32", 2),
        ]);
        let first = rib.take_changes(&desired, all);
        assert_eq!(first.announce.len(), 2, "grouped by attributes");
        assert_eq!(first.announced_count(), 3);
        let desired = routes(&[("203.0.113.5/32", 1), ("203.0.113.7/32", 3)]);
        let second = rib.take_changes(&desired, all);
        let expected = Prefixes {
            ipv4: vec!["203.0.113.7/32".parse().unwrap()],
            ipv6: Vec::new(),
        };
        assert_eq!(second.announce, vec![(3, expected)]);
        assert_eq!(
            second.withdraw,
            vec!["203.0.113.6/32".parse::<IpNet>().unwrap()]
        );
        assert!(rib.take_changes(&desired, all).is_empty());
    }

    #[test]
    fn a_flapping_route_between_flushes_costs_nothing() {
        let mut rib = AdjRibOut::default();
        let desired = routes(&[("203.0.113.5/32", 1)]);
        rib.take_changes(&desired, all);
        assert!(rib.has_changes(&routes(&[]), all));
        assert!(!rib.has_changes(&desired, all));
        assert!(rib.take_changes(&desired, all).is_empty());
    }

    #[test]
    fn everything_is_resent_after_a_reconnect() {
        let mut rib = AdjRibOut::default();
        let desired = routes(&[("203.0.113.5/32", 1), ("2001:db8::5/128", 1)]);
        rib.take_changes(&desired, all);
        rib.reset();
        assert_eq!(rib.take_changes(&desired, all).announced_count(), 2);
    }

    #[test]
    fn routes_the_peer_cannot_take_are_neither_sent_nor_kept_as_sent() {
        let mut rib = AdjRibOut::default();
        let desired = routes(&[("203.0.113.5/32", 1), ("2001:db8::5/128", 1)]);
        let ipv4_only = |prefix: &IpNet| prefix.addr().is_ipv4();
        let changes = rib.take_changes(&desired, ipv4_only);
        assert_eq!(changes.announced_count(), 1);
        assert_eq!(rib.sent().len(), 1);
        assert!(!rib.has_changes(&desired, ipv4_only));
        // The family comes (a new session negotiated it): the IPv6 route goes too.
        assert_eq!(rib.take_changes(&desired, all).announced_count(), 1);
        // It goes away again: the IPv6 route is withdrawn.
        let changes = rib.take_changes(&desired, ipv4_only);
        assert_eq!(
            changes.withdraw,
            vec!["2001:db8::5/128".parse::<IpNet>().unwrap()]
        );
    }
}
