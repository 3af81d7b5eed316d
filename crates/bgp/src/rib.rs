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

use ipnet::IpNet;

/// The prefixes to send: announcements grouped by their attributes, and withdrawals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes<A> {
    pub announce: Vec<(A, Vec<IpNet>)>,
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

/// Adj-RIB-Out with attribute type `A` (any comparable set of path attributes).
#[derive(Clone, Debug)]
pub struct AdjRibOut<A> {
    desired: BTreeMap<IpNet, A>,
    sent: BTreeMap<IpNet, A>,
}

impl<A> Default for AdjRibOut<A> {
    fn default() -> Self {
        AdjRibOut {
            desired: BTreeMap::new(),
            sent: BTreeMap::new(),
        }
    }
}

impl<A: Clone + Ord> AdjRibOut<A> {
    /// Replaces the desired routes.
    pub fn set_desired(&mut self, routes: BTreeMap<IpNet, A>) {
        self.desired = routes;
    }

    /// The desired routes.
    pub fn desired(&self) -> &BTreeMap<IpNet, A> {
        &self.desired
    }

    /// What the peer has been sent (and not withdrawn): the truth for status reporting.
    pub fn sent(&self) -> &BTreeMap<IpNet, A> {
        &self.sent
    }

    /// Whether desired and sent differ.
    pub fn has_changes(&self) -> bool {
        self.desired != self.sent
    }

    /// The difference between desired and sent; from now on it counts as sent.
    pub fn take_changes(&mut self) -> Changes<A> {
        let mut by_attributes: BTreeMap<A, Vec<IpNet>> = BTreeMap::new();
        for (prefix, attributes) in &self.desired {
            if self.sent.get(prefix) != Some(attributes) {
                by_attributes
                    .entry(attributes.clone())
                    .or_default()
                    .push(*prefix);
            }
        }
        let withdraw: Vec<IpNet> = self
            .sent
            .keys()
            .filter(|p| !self.desired.contains_key(p))
            .copied()
            .collect();
        self.sent = self.desired.clone();
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

    #[test]
    fn only_the_difference_is_sent() {
        let mut rib = AdjRibOut::default();
        rib.set_desired(routes(&[
            ("203.0.113.5/32", 1),
            ("203.0.113.6/32", 1),
            ("203.0.113.7/32", 2),
        ]));
        let first = rib.take_changes();
        assert_eq!(first.announce.len(), 2, "grouped by attributes");
        assert_eq!(first.announced_count(), 3);
        rib.set_desired(routes(&[("203.0.113.5/32", 1), ("203.0.113.7/32", 3)]));
        let second = rib.take_changes();
        assert_eq!(
            second.announce,
            vec![(3, vec!["203.0.113.7/32".parse().unwrap()])]
        );
        assert_eq!(
            second.withdraw,
            vec!["203.0.113.6/32".parse::<IpNet>().unwrap()]
        );
        assert!(rib.take_changes().is_empty());
    }

    #[test]
    fn a_flapping_route_between_flushes_costs_nothing() {
        let mut rib = AdjRibOut::default();
        rib.set_desired(routes(&[("203.0.113.5/32", 1)]));
        rib.take_changes();
        for _ in 0..1000 {
            rib.set_desired(routes(&[]));
            rib.set_desired(routes(&[("203.0.113.5/32", 1)]));
        }
        assert!(!rib.has_changes());
        assert!(rib.take_changes().is_empty());
    }

    #[test]
    fn everything_is_resent_after_a_reconnect() {
        let mut rib = AdjRibOut::default();
        rib.set_desired(routes(&[("203.0.113.5/32", 1), ("2001:db8::5/128", 1)]));
        rib.take_changes();
        rib.reset();
        assert_eq!(rib.take_changes().announced_count(), 2);
    }
}
