//! Address arithmetic. Each CIDR of a pool becomes a contiguous range of *slot indices* so that
//! "lowest free address" is one ordered-map lookup:
//!
//! - IPv6, and IPv4 without avoidBuggyIPs: the slot index is the address itself;
//! - IPv4 with avoidBuggyIPs: addresses ending in `.0` or `.255` have no slot, and the others are
//!   numbered densely, 254 per /24 (`.1` → 0, `.254` → 253, next /24's `.1` → 254, ...). The
//!   mapping is monotonic, so the lowest free slot is the lowest free usable address.
//!
//! Used slots are kept as merged runs, so neither a long run of used addresses nor the holes
//! left by skipped `.0`/`.255` addresses make a lookup walk address by address.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::request::IpFamily;

/// Usable IPv4 addresses per /24 with avoidBuggyIPs.
const PER_BLOCK: u128 = 254;

/// The family and numeric value of an address.
pub(crate) fn bits(ip: IpAddr) -> (IpFamily, u128) {
    match ip {
        IpAddr::V4(v4) => (IpFamily::V4, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (IpFamily::V6, u128::from(v6)),
    }
}

/// The address with this family and value, if the value fits the family.
pub(crate) fn address(family: IpFamily, value: u128) -> Option<IpAddr> {
    match family {
        IpFamily::V4 => u32::try_from(value)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        IpFamily::V6 => Some(IpAddr::V6(Ipv6Addr::from(value))),
    }
}

/// Whether an address is one MetalLB's avoidBuggyIPs skips: an IPv4 address ending in `.0` or
/// `.255`, whatever the prefix length of the CIDR it comes from. IPv6 addresses never are.
pub fn is_buggy(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => matches!(v4.octets()[3], 0 | 255),
        IpAddr::V6(_) => false,
    }
}

/// First and last address (inclusive) of a CIDR, host bits ignored.
pub(crate) fn cidr_bounds(cidr: &IpNet) -> (IpFamily, u128, u128) {
    match cidr {
        IpNet::V4(net) => (
            IpFamily::V4,
            u128::from(u32::from(net.network())),
            u128::from(u32::from(net.broadcast())),
        ),
        IpNet::V6(net) => (
            IpFamily::V6,
            u128::from(net.network()),
            u128::from(net.broadcast()),
        ),
    }
}

/// How the addresses of one CIDR map to slot indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slots {
    /// Skip `.0` / `.255` (only ever true for IPv4).
    dense: bool,
    /// First and last slot, inclusive; `None` when the CIDR has no usable address.
    bounds: Option<(u128, u128)>,
}

impl Slots {
    pub(crate) fn new(family: IpFamily, first: u128, last: u128, avoid_buggy: bool) -> Self {
        let dense = avoid_buggy && family == IpFamily::V4;
        if !dense {
            return Slots {
                dense,
                bounds: Some((first, last)),
            };
        }
        let low = rank_at_or_after(first);
        let high = rank_at_or_before(last);
        let bounds = match (low, high) {
            (Some(low), Some(high)) if low <= high => Some((low, high)),
            _ => None,
        };
        Slots { dense, bounds }
    }

    /// The slot of an address inside the CIDR, `None` for a skipped `.0` / `.255`.
    pub(crate) fn index_of(&self, value: u128) -> Option<u128> {
        if !self.dense {
            return Some(value);
        }
        let octet = value & 0xff;
        if octet == 0 || octet == 255 {
            return None;
        }
        (value >> 8)
            .checked_mul(PER_BLOCK)
            .and_then(|base| base.checked_add(octet - 1))
    }

    /// The address value of a slot.
    pub(crate) fn value_of(&self, index: u128) -> u128 {
        if !self.dense {
            return index;
        }
        let block = index / PER_BLOCK;
        let octet = index % PER_BLOCK + 1;
        (block << 8) | octet
    }

    pub(crate) fn bounds(&self) -> Option<(u128, u128)> {
        self.bounds
    }

    /// Number of usable addresses.
    pub(crate) fn capacity(&self) -> u128 {
        match self.bounds {
            // A whole IPv6 space (::/0) has 2^128 addresses: saturate, nothing counts that far.
            Some((low, high)) => (high - low).saturating_add(1),
            None => 0,
        }
    }
}

/// Slot of the first usable address at or after `value` (dense IPv4 numbering).
fn rank_at_or_after(value: u128) -> Option<u128> {
    let block = value >> 8;
    let octet = value & 0xff;
    match octet {
        0 => block.checked_mul(PER_BLOCK),
        255 => block.checked_add(1)?.checked_mul(PER_BLOCK),
        _ => block.checked_mul(PER_BLOCK)?.checked_add(octet - 1),
    }
}

/// Slot of the last usable address at or before `value` (dense IPv4 numbering).
fn rank_at_or_before(value: u128) -> Option<u128> {
    let block = value >> 8;
    let octet = value & 0xff;
    match octet {
        0 => block.checked_mul(PER_BLOCK)?.checked_sub(1),
        255 => block.checked_mul(PER_BLOCK)?.checked_add(PER_BLOCK - 1),
        _ => block.checked_mul(PER_BLOCK)?.checked_add(octet - 1),
    }
}

/// A set of integers stored as merged, disjoint runs `start → end` (inclusive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunSet {
    runs: BTreeMap<u128, u128>,
}

impl RunSet {
    /// The run containing `value`, if any.
    fn run_of(&self, value: u128) -> Option<(u128, u128)> {
        self.runs
            .range(..=value)
            .next_back()
            .filter(|&(_, &end)| end >= value)
            .map(|(&start, &end)| (start, end))
    }

    pub(crate) fn contains(&self, value: u128) -> bool {
        self.run_of(value).is_some()
    }

    /// Adds `value`; returns false if it was already present.
    pub(crate) fn insert(&mut self, value: u128) -> bool {
        if self.contains(value) {
            return false;
        }
        let mut start = value;
        let mut end = value;
        if let Some(before) = value.checked_sub(1)
            && let Some((left_start, _)) = self.run_of(before)
        {
            self.runs.remove(&left_start);
            start = left_start;
        }
        if let Some(after) = value.checked_add(1)
            && let Some(right_end) = self.runs.remove(&after)
        {
            end = right_end;
        }
        self.runs.insert(start, end);
        true
    }

    /// Removes `value`; returns false if it was absent.
    pub(crate) fn remove(&mut self, value: u128) -> bool {
        let Some((start, end)) = self.run_of(value) else {
            return false;
        };
        self.runs.remove(&start);
        if start < value {
            self.runs.insert(start, value - 1);
        }
        if value < end {
            self.runs.insert(value + 1, end);
        }
        true
    }

    /// The lowest value in `low..=high` that is not in the set.
    pub(crate) fn first_absent(&self, low: u128, high: u128) -> Option<u128> {
        if low > high {
            return None;
        }
        let candidate = match self.run_of(low) {
            // Runs are merged, so the value right after a run is absent.
            Some((_, end)) => end.checked_add(1)?,
            None => low,
        };
        (candidate <= high).then_some(candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> u128 {
        u128::from(u32::from(text.parse::<Ipv4Addr>().unwrap()))
    }

    #[test]
    fn dense_numbering_skips_zero_and_broadcast_octets() {
        let slots = Slots::new(IpFamily::V4, v4("10.0.0.0"), v4("10.0.1.255"), true);
        let (low, high) = slots.bounds().unwrap();
        assert_eq!(slots.value_of(low), v4("10.0.0.1"));
        assert_eq!(slots.value_of(high), v4("10.0.1.254"));
        assert_eq!(slots.capacity(), 508);
        assert_eq!(slots.index_of(v4("10.0.0.255")), None);
        assert_eq!(slots.index_of(v4("10.0.1.0")), None);
        assert_eq!(
            slots.index_of(v4("10.0.1.1")),
            slots.index_of(v4("10.0.0.254")).map(|i| i + 1)
        );
    }

    #[test]
    fn dense_numbering_of_tiny_cidrs() {
        // 1.2.4.0/31: only .1 is usable; 1.2.4.255/32: nothing.
        let slots = Slots::new(IpFamily::V4, v4("1.2.4.0"), v4("1.2.4.1"), true);
        assert_eq!(slots.capacity(), 1);
        assert_eq!(slots.value_of(slots.bounds().unwrap().0), v4("1.2.4.1"));
        let none = Slots::new(IpFamily::V4, v4("1.2.4.255"), v4("1.2.4.255"), true);
        assert_eq!(none.capacity(), 0);
        let zero = Slots::new(IpFamily::V4, 0, 0, true);
        assert_eq!(zero.bounds(), None);
        let top = Slots::new(
            IpFamily::V4,
            v4("255.255.255.255"),
            v4("255.255.255.255"),
            true,
        );
        assert_eq!(top.bounds(), None);
        let whole = Slots::new(IpFamily::V4, 0, u128::from(u32::MAX), true);
        assert_eq!(whole.capacity(), 254 * (1 << 24));
    }

    #[test]
    fn run_set_merges_and_splits() {
        let mut set = RunSet::default();
        for v in [5, 7, 6, 1] {
            assert!(set.insert(v));
        }
        assert!(!set.insert(6));
        assert_eq!(set.runs.len(), 2);
        assert_eq!(set.first_absent(5, 10), Some(8));
        assert_eq!(set.first_absent(1, 1), None);
        assert_eq!(set.first_absent(0, 10), Some(0));
        assert!(set.remove(6));
        assert!(!set.remove(6));
        assert_eq!(set.first_absent(5, 10), Some(6));
        assert_eq!(set.runs.len(), 3);
        assert!(set.insert(u128::MAX));
        assert_eq!(set.first_absent(u128::MAX, u128::MAX), None);
    }
}
