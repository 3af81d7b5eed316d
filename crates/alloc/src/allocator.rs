//! The allocator: MetalLB's `internal/allocator` plus the decisions of its controller's
//! `convergeBalancer` / `allocateIPs`, without IO.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ironlb_config::{Config, ServiceAllocation};

use crate::error::{AllocError, ClearReason, FamilyNeed, SharingConflict};
use crate::few::FewMap;
use crate::request::{FamilyPolicy, IpFamily, Port, ServiceFamily, ServiceRequest};
use crate::space::{RunSet, Slots, address, bits, cidr_bounds};

/// The addresses a Service holds, and the pool they come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// Written to the `metallb.io/ip-allocated-from-pool` annotation.
    pub pool: String,
    /// `status.loadBalancer.ingress`, in this order: IPv4 before IPv6 for an automatic
    /// dual-stack choice, the requested order for requested IPs, the existing address first
    /// when PreferDualStack adds the second family.
    pub ips: Vec<IpAddr>,
}

/// What [`Allocator::reconcile`] did, with what the controller needs for its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconciled {
    /// The Service's addresses now (`IPAllocated`), or why it has none (`AllocationFailed`;
    /// the Service then holds nothing and its status must be cleared).
    pub result: Result<Assignment, AllocError>,
    /// What the Service held before the call.
    pub previous: Option<Assignment>,
    /// Set when the previous addresses were dropped (`ClearAssignment`).
    pub cleared: Option<ClearReason>,
    /// PreferDualStack with one address: the attempt to add the other family from the same
    /// pool (`IPAllocated` "additional", or `AdditionalAssignFailed`).
    pub additional: Option<Result<IpAddr, AllocError>>,
}

impl Reconciled {
    /// Whether the Service's addresses or pool differ from before the call.
    pub fn changed(&self) -> bool {
        self.previous.as_ref() != self.result.as_ref().ok()
    }
}

/// An assignment that a configuration change moved or dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigChange {
    pub key: String,
    pub previous: Assignment,
    /// `None`: same addresses, their pool was renamed (or they moved to another pool).
    pub cleared: Option<ClearReason>,
    /// The Service's addresses now, or why it has none.
    pub result: Result<Assignment, AllocError>,
}

/// Address counts of one pool (IPAddressPool status, `metallb_allocator_*` metrics).
///
/// As in MetalLB: a CIDR of 2^62 addresses or more counts as `i64::MAX` (so do sums that
/// reach it); with avoidBuggyIPs the `.0`/`.255` IPv4 addresses are not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUsage {
    pub capacity_ipv4: u64,
    pub capacity_ipv6: u64,
    /// Distinct addresses in use (a shared address counts once).
    pub assigned_ipv4: u64,
    pub assigned_ipv6: u64,
    pub available_ipv4: u64,
    pub available_ipv6: u64,
}

/// MetalLB's cap for address counts (Go `math.MaxInt64`).
const COUNT_CAP: u64 = i64::MAX as u64;

struct PoolState {
    name: String,
    auto_assign: bool,
    allocation: Option<ServiceAllocation>,
    /// Indices into `Allocator::ranges`, in the order the pool lists its addresses.
    ranges: Vec<usize>,
    has: [bool; 2],
    capacity: [u64; 2],
    assigned: [u64; 2],
}

struct Range {
    pool: usize,
    family: IpFamily,
    first: u128,
    last: u128,
    slots: Slots,
    used: RunSet,
}

/// Who uses one address.
struct IpUse {
    sharing: Option<String>,
    backend: String,
    /// The keys of the Services holding it.
    holders: FewMap<String, ()>,
    /// Each used port's Service.
    ports: FewMap<Port, String>,
}

/// The addresses held under one (sharing key, backend key) pair, indexed so that "the lowest
/// address where none of these ports is taken" needs no walk over port-clashing addresses
/// (many Services with one key and one port would otherwise make allocation quadratic).
#[derive(Default)]
struct Group {
    ips: BTreeSet<IpAddr>,
    /// For each port used on at least one address of the group: the addresses where it is
    /// free. A port absent here is free on every address of the group.
    free_for: BTreeMap<Port, BTreeSet<IpAddr>>,
}

impl Group {
    fn add_ip(&mut self, ip: IpAddr) {
        if self.ips.insert(ip) {
            for set in self.free_for.values_mut() {
                set.insert(ip);
            }
        }
    }

    fn remove_ip(&mut self, ip: IpAddr) {
        if self.ips.remove(&ip) {
            let count = self.ips.len();
            for set in self.free_for.values_mut() {
                set.remove(&ip);
            }
            // Ports that were used only on `ip` are now free everywhere.
            self.free_for.retain(|_, set| set.len() < count);
        }
    }

    fn port_used(&mut self, ip: IpAddr, port: &Port) {
        match self.free_for.get_mut(port) {
            Some(set) => {
                set.remove(&ip);
            }
            None => {
                let mut set = self.ips.clone();
                set.remove(&ip);
                self.free_for.insert(port.clone(), set);
            }
        }
    }

    fn port_freed(&mut self, ip: IpAddr, port: &Port) {
        if let Some(set) = self.free_for.get_mut(port) {
            set.insert(ip);
            if set.len() >= self.ips.len() {
                self.free_for.remove(port);
            }
        }
    }
}

struct Held {
    assignment: Assignment,
    request: ServiceRequest,
}

enum Located {
    /// In this range, at this slot.
    Slot(usize, u128),
    /// In this range, but a `.0`/`.255` address its pool avoids.
    Excluded(usize),
    Outside,
}

/// Assigns LoadBalancer addresses as MetalLB's controller does, deterministically.
///
/// Services are identified by a caller-chosen key (conventionally `namespace/name`). Every
/// method is pure computation on in-memory state: no IO, no clock, no randomness; the same
/// calls in the same order give the same results.
///
/// Pool choice, deliberately different from MetalLB: where MetalLB takes pools of equal
/// priority (and the fallback pools without serviceAllocation) in Go map order, i.e. at
/// random, IronLB takes them in pool-name order, so that allocation is reproducible.
/// Non-positive priorities count as unset (MetalLB's comparator is inconsistent for them).
pub struct Allocator {
    pools: Vec<PoolState>,
    by_name: BTreeMap<String, usize>,
    ranges: Vec<Range>,
    /// (family, first address) → range.
    lookup: BTreeMap<(IpFamily, u128), usize>,
    in_use: BTreeMap<IpAddr, IpUse>,
    /// sharing key → backend key → addresses held under that pair.
    groups: Groups,
    held: BTreeMap<String, Held>,
}

fn fi(family: IpFamily) -> usize {
    match family {
        IpFamily::V4 => 0,
        IpFamily::V6 => 1,
    }
}

impl Allocator {
    /// An allocator owning the pools of `config`, with nothing assigned.
    pub fn new(config: &Config) -> Allocator {
        let mut allocator = Allocator {
            pools: Vec::new(),
            by_name: BTreeMap::new(),
            ranges: Vec::new(),
            lookup: BTreeMap::new(),
            in_use: BTreeMap::new(),
            groups: BTreeMap::new(),
            held: BTreeMap::new(),
        };
        allocator.build(config);
        allocator
    }

    /// Replaces the pools. Assignments still valid (addresses in one pool — possibly renamed —
    /// that admits the Service, sharing still fine, family and annotations still matching)
    /// are kept, in key order; the others are dropped and their Services allocated afresh, in
    /// key order, after every kept one. Returns what moved or was dropped, by key.
    ///
    /// MetalLB then reprocesses every Service: callers should run [`Allocator::reconcile`] for
    /// Services still without addresses (they may fit now) and for PreferDualStack Services
    /// holding one address.
    pub fn set_config(&mut self, config: &Config) -> Vec<ConfigChange> {
        let old = std::mem::take(&mut self.held);
        self.build(config);
        let mut changes = Vec::new();
        let mut dropped = Vec::new();
        for (key, held) in old {
            let check = match self.preflight(&held.request) {
                Err(error) => Err(ClearReason::Invalid(error)),
                Ok(()) => self.keep_check(&key, &held.assignment.ips, &held.request),
            };
            match check {
                Ok(pool) => {
                    self.insert(&key, pool, held.assignment.ips.clone(), &held.request);
                    if self.pools[pool].name != held.assignment.pool
                        && let Some(now) = self.assignment(&key).cloned()
                    {
                        changes.push(ConfigChange {
                            key,
                            previous: held.assignment,
                            cleared: None,
                            result: Ok(now),
                        });
                    }
                }
                Err(reason) => dropped.push((key, held, reason)),
            }
        }
        for (key, held, reason) in dropped {
            let result = self
                .preflight(&held.request)
                .and_then(|()| self.allocate_fresh(&key, &held.request));
            changes.push(ConfigChange {
                key,
                previous: held.assignment,
                cleared: Some(reason),
                result,
            });
        }
        changes.sort_by(|a, b| a.key.cmp(&b.key));
        changes
    }

    /// Brings a Service to a valid assignment, as one MetalLB reconcile does; idempotent.
    /// Shorthand for [`Allocator::reconcile`] when the events are not needed.
    pub fn assign(
        &mut self,
        key: &str,
        request: &ServiceRequest,
    ) -> Result<Assignment, AllocError> {
        self.reconcile(key, request).result
    }

    /// Brings a Service to a valid assignment, as one MetalLB reconcile does:
    ///
    /// 1. What it holds is kept if still valid: family unchanged (PreferDualStack may hold
    ///    one family of a dual-stack Service), addresses in one pool that admits the Service,
    ///    sharing still fine with the Service's current key and ports, and neither
    ///    `metallb.io/address-pool` nor the requested IPs asking for something else.
    ///    Otherwise it is dropped (`cleared`).
    /// 2. Kept, PreferDualStack, dual-stack, one address, no requested IPs: the other family
    ///    is added from the same pool when one is free (`additional`).
    /// 3. Nothing kept: the requested IPs (same family as the Service; in the annotated pool if
    ///    one is annotated), else the annotated pool (autoAssign ignored), else automatic
    ///    choice: pools with autoAssign and a serviceAllocation admitting the Service by
    ///    priority, then autoAssign pools without serviceAllocation; the first with a free
    ///    address of the needed family wins. Inside a pool: the address ranges in the order
    ///    written, and in each the lowest address that is free or sharable.
    pub fn reconcile(&mut self, key: &str, request: &ServiceRequest) -> Reconciled {
        let previous = self.assignment(key).cloned();
        if let Err(error) = self.preflight(request) {
            self.remove_holdings(key);
            return Reconciled {
                cleared: previous
                    .as_ref()
                    .map(|_| ClearReason::Invalid(error.clone())),
                result: Err(error),
                previous,
                additional: None,
            };
        }
        let mut cleared = None;
        if let Some(current) = previous.clone() {
            match self.keep_check(key, &current.ips, request) {
                Ok(pool) => {
                    self.insert(key, pool, current.ips.clone(), request);
                    // IronLB: not for a Service that requested its addresses (MetalLB adds
                    // one, then drops both on the next reconcile as they differ from the
                    // request).
                    let additional = (current.ips.len() == 1
                        && request.policy == FamilyPolicy::PreferDualStack
                        && request.family == ServiceFamily::Dual
                        && request.requested_ips.is_empty())
                    .then(|| self.add_family(key, pool, current.ips[0], request));
                    let result = self.assignment(key).cloned().ok_or(AllocError::NoPools);
                    return Reconciled {
                        result,
                        previous,
                        cleared: None,
                        additional,
                    };
                }
                Err(reason) => {
                    self.remove_holdings(key);
                    cleared = Some(reason);
                }
            }
        }
        let result = self.allocate_fresh(key, request);
        Reconciled {
            result,
            previous,
            cleared,
            additional: None,
        }
    }

    /// Re-adopts addresses a Service already holds (its `status.loadBalancer.ingress`), e.g.
    /// at startup, so that a restart never reshuffles addresses. Adopted only if valid as in
    /// step 1 of [`Allocator::reconcile`]; otherwise nothing is held and the error says why
    /// (the caller then reconciles the Service like a new one). Restore every Service that
    /// has addresses before reconciling any Service that has none.
    pub fn restore(
        &mut self,
        key: &str,
        ips: &[IpAddr],
        request: &ServiceRequest,
    ) -> Result<Assignment, ClearReason> {
        self.remove_holdings(key);
        self.preflight(request).map_err(ClearReason::Invalid)?;
        let ips: Vec<IpAddr> = ips.iter().map(|ip| ip.to_canonical()).collect();
        let pool = self.keep_check(key, &ips, request)?;
        self.insert(key, pool, ips, request);
        self.assignment(key)
            .cloned()
            .ok_or(ClearReason::Invalid(AllocError::NoPools))
    }

    /// Frees what a Service holds (deleted, or no longer a LoadBalancer of our class).
    /// MetalLB then reprocesses every Service: Services waiting for an address may fit now.
    pub fn release(&mut self, key: &str) -> Option<Assignment> {
        self.remove_holdings(key).map(|held| held.assignment)
    }

    /// What a Service holds.
    pub fn assignment(&self, key: &str) -> Option<&Assignment> {
        self.held.get(key).map(|held| &held.assignment)
    }

    /// Every assignment, by key.
    pub fn assignments(&self) -> impl Iterator<Item = (&str, &Assignment)> {
        self.held
            .iter()
            .map(|(key, held)| (key.as_str(), &held.assignment))
    }

    /// Number of Services holding addresses.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// The pool an address belongs to (`None` outside every pool, or a `.0`/`.255` address of
    /// a pool with avoidBuggyIPs).
    pub fn pool_of(&self, ip: IpAddr) -> Option<&str> {
        match self.locate(ip.to_canonical()) {
            Located::Slot(range, _) => Some(self.pools[self.ranges[range].pool].name.as_str()),
            Located::Excluded(_) | Located::Outside => None,
        }
    }

    /// The Services holding an address, by key.
    pub fn holders(&self, ip: IpAddr) -> impl Iterator<Item = &str> {
        self.in_use
            .get(&ip.to_canonical())
            .into_iter()
            .flat_map(|usage| usage.holders.keys().map(String::as_str))
    }

    /// Counts of one pool.
    pub fn pool_usage(&self, pool: &str) -> Option<PoolUsage> {
        let state = &self.pools[*self.by_name.get(pool)?];
        Some(PoolUsage {
            capacity_ipv4: state.capacity[0],
            capacity_ipv6: state.capacity[1],
            assigned_ipv4: state.assigned[0],
            assigned_ipv6: state.assigned[1],
            available_ipv4: state.capacity[0].saturating_sub(state.assigned[0]),
            available_ipv6: state.capacity[1].saturating_sub(state.assigned[1]),
        })
    }

    /// Counts of every pool, by name.
    pub fn usage(&self) -> BTreeMap<String, PoolUsage> {
        self.by_name
            .keys()
            .filter_map(|name| Some((name.clone(), self.pool_usage(name)?)))
            .collect()
    }

    // ---- configuration ----

    fn build(&mut self, config: &Config) {
        self.pools.clear();
        self.by_name.clear();
        self.ranges.clear();
        self.lookup.clear();
        self.in_use.clear();
        self.groups.clear();
        for (name, pool) in &config.pools {
            let index = self.pools.len();
            let mut state = PoolState {
                name: name.clone(),
                auto_assign: pool.auto_assign,
                allocation: pool.service_allocation.clone(),
                ranges: Vec::new(),
                has: [false; 2],
                capacity: [0; 2],
                assigned: [0; 2],
            };
            for cidr in pool.cidrs() {
                let (family, first, last) = cidr_bounds(cidr);
                // A validated configuration has no overlapping CIDRs; should one come anyway,
                // the later CIDR is ignored so that every address has one owner.
                if self.overlaps(family, first, last) {
                    continue;
                }
                let slots = Slots::new(family, first, last, pool.avoid_buggy_ips);
                let host_bits = cidr.max_prefix_len().saturating_sub(cidr.prefix_len());
                let count = if host_bits >= 62 {
                    COUNT_CAP
                } else {
                    u64::try_from(slots.capacity())
                        .unwrap_or(COUNT_CAP)
                        .min(COUNT_CAP)
                };
                let f = fi(family);
                state.has[f] = true;
                state.capacity[f] = state.capacity[f].saturating_add(count).min(COUNT_CAP);
                let range = self.ranges.len();
                self.ranges.push(Range {
                    pool: index,
                    family,
                    first,
                    last,
                    slots,
                    used: RunSet::default(),
                });
                self.lookup.insert((family, first), range);
                state.ranges.push(range);
            }
            self.by_name.insert(name.clone(), index);
            self.pools.push(state);
        }
    }

    fn overlaps(&self, family: IpFamily, first: u128, last: u128) -> bool {
        let before = self
            .lookup
            .range(..=(family, first))
            .next_back()
            .is_some_and(|(&(f, _), &r)| f == family && self.ranges[r].last >= first);
        let after = self
            .lookup
            .range((family, first)..)
            .next()
            .is_some_and(|(&(f, start), _)| f == family && start <= last);
        before || after
    }

    fn locate(&self, ip: IpAddr) -> Located {
        let (family, value) = bits(ip);
        let Some((&(f, _), &range)) = self.lookup.range(..=(family, value)).next_back() else {
            return Located::Outside;
        };
        let r = &self.ranges[range];
        if f != family || r.last < value {
            return Located::Outside;
        }
        match r.slots.index_of(value) {
            Some(slot) => Located::Slot(range, slot),
            None => Located::Excluded(range),
        }
    }

    // ---- admission ----

    /// MetalLB's `isPoolCompatibleWithService`. Note MetalLB's reading of an empty namespace
    /// set: a pool whose namespaceSelectors match no Namespace is not namespace-restricted
    /// here (explicit requests for it are admitted from any namespace).
    fn admits(&self, pool: usize, request: &ServiceRequest) -> bool {
        let Some(allocation) = &self.pools[pool].allocation else {
            return true;
        };
        (allocation.namespaces.is_empty() || allocation.namespaces.contains(&request.namespace))
            && (allocation.service_selectors.is_empty()
                || allocation
                    .service_selectors
                    .iter()
                    .any(|s| s.matches(&request.labels)))
    }

    /// Whether a pool with a serviceAllocation is a candidate for automatic choice (MetalLB's
    /// `pinnedPoolsForService`: listed for the Service's namespace, or having service
    /// selectors — a serviceAllocation with only a priority selects every Service).
    fn pinned_candidate(&self, pool: usize, request: &ServiceRequest) -> bool {
        let state = &self.pools[pool];
        let Some(allocation) = &state.allocation else {
            return false;
        };
        state.auto_assign
            && self.admits(pool, request)
            && (allocation.namespaces.contains(&request.namespace)
                || !allocation.service_selectors.is_empty()
                || !allocation.restricts_namespaces)
    }

    // ---- checks ----

    fn preflight(&self, request: &ServiceRequest) -> Result<(), AllocError> {
        if self.pools.is_empty() {
            return Err(AllocError::NoPools);
        }
        match (request.family, request.policy) {
            (ServiceFamily::V4 | ServiceFamily::V6, FamilyPolicy::RequireDualStack) => {
                Err(AllocError::NotEnoughClusterIps)
            }
            (ServiceFamily::Dual, FamilyPolicy::SingleStack) => {
                Err(AllocError::FamilyPolicyMismatch)
            }
            _ => Ok(()),
        }
    }

    /// MetalLB's `Assign` checks for `ips`: returns their pool.
    fn check_assign(
        &self,
        key: &str,
        ips: &[IpAddr],
        request: &ServiceRequest,
    ) -> Result<usize, AllocError> {
        if ServiceFamily::of_addresses(ips).is_none() {
            return Err(AllocError::BadAddressSet { ips: ips.to_vec() });
        }
        let mut pool: Option<usize> = None;
        for &ip in ips {
            let this = match self.locate(ip) {
                Located::Slot(range, _) => self.ranges[range].pool,
                Located::Excluded(range) => {
                    return Err(AllocError::BuggyIpExcluded {
                        ip,
                        pool: self.pools[self.ranges[range].pool].name.clone(),
                    });
                }
                Located::Outside => return Err(AllocError::NotInAnyPool { ip }),
            };
            match pool {
                Some(other) if other != this => {
                    return Err(AllocError::SplitAcrossPools {
                        ips: ips.to_vec(),
                        first_pool: self.pools[other].name.clone(),
                        second_pool: self.pools[this].name.clone(),
                    });
                }
                _ => pool = Some(this),
            }
        }
        let pool = pool.ok_or_else(|| AllocError::BadAddressSet { ips: ips.to_vec() })?;
        if !self.admits(pool, request) {
            return Err(AllocError::PoolDoesNotAdmit {
                pool: self.pools[pool].name.clone(),
                namespace: request.namespace.clone(),
            });
        }
        for &ip in ips {
            self.check_sharing(key, ip, request)?;
        }
        Ok(pool)
    }

    /// MetalLB's `checkSharing`: may `key` use `ip` alongside its current users?
    fn check_sharing(
        &self,
        key: &str,
        ip: IpAddr,
        request: &ServiceRequest,
    ) -> Result<(), AllocError> {
        let Some(usage) = self.in_use.get(&ip) else {
            return Ok(());
        };
        if let Err(conflict) = sharing_ok(usage, request) {
            // A Service alone on its address may change its key in place.
            let others: Vec<String> = usage
                .holders
                .keys()
                .filter(|holder| holder.as_str() != key)
                .cloned()
                .collect();
            if !others.is_empty() {
                return Err(AllocError::SharingConflict {
                    ip,
                    others,
                    conflict,
                });
            }
        }
        for port in &request.ports {
            if let Some(other) = usage.ports.get(port)
                && other != key
            {
                return Err(AllocError::PortInUse {
                    ip,
                    port: port.clone(),
                    other: other.clone(),
                });
            }
        }
        Ok(())
    }

    /// Step 1 of `reconcile`: may the Service keep `ips`? Returns their pool.
    fn keep_check(
        &self,
        key: &str,
        ips: &[IpAddr],
        request: &ServiceRequest,
    ) -> Result<usize, ClearReason> {
        let Some(family) = ServiceFamily::of_addresses(ips) else {
            return Err(ClearReason::Invalid(AllocError::BadAddressSet {
                ips: ips.to_vec(),
            }));
        };
        let family_kept = family == request.family
            || (request.family == ServiceFamily::Dual
                && request.policy == FamilyPolicy::PreferDualStack);
        if !family_kept {
            return Err(ClearReason::FamilyChanged {
                ips: ips.to_vec(),
                family: request.family,
            });
        }
        let pool = self
            .check_assign(key, ips, request)
            .map_err(ClearReason::Invalid)?;
        if let Some(requested) = &request.pool
            && *requested != self.pools[pool].name
        {
            return Err(ClearReason::DifferentPoolRequested {
                current: self.pools[pool].name.clone(),
                requested: requested.clone(),
            });
        }
        if !request.requested_ips.is_empty() && !same_set(ips, &request.requested_ips) {
            return Err(ClearReason::DifferentIpsRequested {
                current: ips.to_vec(),
                requested: request.requested_ips.clone(),
            });
        }
        Ok(pool)
    }

    // ---- choosing addresses ----

    fn allocate_fresh(
        &mut self,
        key: &str,
        request: &ServiceRequest,
    ) -> Result<Assignment, AllocError> {
        let (pool, ips) = self.choose(key, request)?;
        self.insert(key, pool, ips, request);
        self.assignment(key).cloned().ok_or(AllocError::NoPools)
    }

    fn choose(
        &self,
        key: &str,
        request: &ServiceRequest,
    ) -> Result<(usize, Vec<IpAddr>), AllocError> {
        if !request.requested_ips.is_empty() {
            let ips = &request.requested_ips;
            let family = ServiceFamily::of_addresses(ips)
                .ok_or_else(|| AllocError::BadAddressSet { ips: ips.clone() })?;
            if family != request.family {
                return Err(AllocError::FamilyMismatch {
                    ips: ips.clone(),
                    family: request.family,
                });
            }
            let pool = self.check_assign(key, ips, request)?;
            if let Some(requested) = &request.pool
                && *requested != self.pools[pool].name
            {
                return Err(AllocError::PoolMismatch {
                    ips: ips.clone(),
                    ip_pool: self.pools[pool].name.clone(),
                    requested_pool: requested.clone(),
                });
            }
            return Ok((pool, ips.clone()));
        }
        if let Some(name) = &request.pool {
            let pool = *self
                .by_name
                .get(name)
                .ok_or_else(|| AllocError::UnknownPool { pool: name.clone() })?;
            // MetalLB looks for free addresses before checking admission; checking admission
            // first only changes which error a refused, full pool reports.
            if !self.admits(pool, request) {
                return Err(AllocError::PoolDoesNotAdmit {
                    pool: name.clone(),
                    namespace: request.namespace.clone(),
                });
            }
            return self
                .select_in_pool(pool, key, request)
                .map(|ips| (pool, ips));
        }
        self.choose_automatically(key, request)
    }

    /// MetalLB's `AllocateFromPool`: addresses of the Service's family from one pool.
    fn select_in_pool(
        &self,
        pool: usize,
        key: &str,
        request: &ServiceRequest,
    ) -> Result<Vec<IpAddr>, AllocError> {
        match request.family {
            ServiceFamily::V4 | ServiceFamily::V6 => {
                let family = single(request.family);
                self.pool_candidate(pool, family, key, request)
                    .map(|ip| vec![ip])
                    .ok_or_else(|| self.missing(pool, family))
            }
            ServiceFamily::Dual => {
                let v4 = self.pool_candidate(pool, IpFamily::V4, key, request);
                let v6 = self.pool_candidate(pool, IpFamily::V6, key, request);
                match (v4, v6, request.policy) {
                    (Some(a), Some(b), _) => Ok(vec![a, b]),
                    (None, _, FamilyPolicy::RequireDualStack) => {
                        Err(self.missing(pool, IpFamily::V4))
                    }
                    (_, None, FamilyPolicy::RequireDualStack) => {
                        Err(self.missing(pool, IpFamily::V6))
                    }
                    // PreferDualStack with one family available: IPv4 first (MetalLB's
                    // `selectIPsForFamilyAndPolicy`; the primary family plays no part here).
                    (Some(a), None, _) | (None, Some(a), _) => Ok(vec![a]),
                    (None, None, _) => Err(AllocError::PoolExhausted {
                        pool: self.pools[pool].name.clone(),
                        family: FamilyNeed::Either,
                    }),
                }
            }
        }
    }

    fn missing(&self, pool: usize, family: IpFamily) -> AllocError {
        let state = &self.pools[pool];
        if state.has[fi(family)] {
            AllocError::PoolExhausted {
                pool: state.name.clone(),
                family: FamilyNeed::One(family),
            }
        } else {
            AllocError::PoolLacksFamily {
                pool: state.name.clone(),
                family,
            }
        }
    }

    /// MetalLB's `Allocate`: pinned pools by priority, then the fallback pools.
    fn choose_automatically(
        &self,
        key: &str,
        request: &ServiceRequest,
    ) -> Result<(usize, Vec<IpAddr>), AllocError> {
        let mut pinned: Vec<usize> = (0..self.pools.len())
            .filter(|&pool| self.pinned_candidate(pool, request))
            .collect();
        // Positive priorities ascending, then unset/0; equal ones by name (pool order).
        pinned.sort_by_key(|&pool| {
            let priority = self.pools[pool]
                .allocation
                .as_ref()
                .map_or(0, |a| a.priority);
            if priority > 0 { (0, priority) } else { (1, 0) }
        });
        let fallback: Vec<usize> = (0..self.pools.len())
            .filter(|&pool| self.pools[pool].auto_assign && self.pools[pool].allocation.is_none())
            .collect();
        if pinned.is_empty() && fallback.is_empty() {
            return Err(AllocError::NoPoolMatches {
                namespace: request.namespace.clone(),
            });
        }
        for group in [&pinned, &fallback] {
            if let Some(found) = self.best_in(group, key, request) {
                return Ok(found);
            }
        }
        let need = match request.family {
            ServiceFamily::V4 => FamilyNeed::One(IpFamily::V4),
            ServiceFamily::V6 => FamilyNeed::One(IpFamily::V6),
            ServiceFamily::Dual if request.policy == FamilyPolicy::PreferDualStack => {
                FamilyNeed::Either
            }
            ServiceFamily::Dual => FamilyNeed::Both,
        };
        let has = |pool: &usize| {
            let has = self.pools[*pool].has;
            match need {
                FamilyNeed::One(family) => has[fi(family)],
                FamilyNeed::Both => has[0] && has[1],
                FamilyNeed::Either => true,
            }
        };
        if pinned.iter().chain(&fallback).any(has) {
            Err(AllocError::NoFreeAddress { family: need })
        } else {
            Err(AllocError::NoPoolWithFamily { family: need })
        }
    }

    /// MetalLB's `findBestPoolForService` over one group of pools.
    fn best_in(
        &self,
        group: &[usize],
        key: &str,
        request: &ServiceRequest,
    ) -> Option<(usize, Vec<IpAddr>)> {
        if request.family != ServiceFamily::Dual {
            let family = single(request.family);
            return group.iter().find_map(|&pool| {
                self.pool_candidate(pool, family, key, request)
                    .map(|ip| (pool, vec![ip]))
            });
        }
        let mut with_primary = None;
        let mut with_secondary = None;
        for &pool in group {
            let v4 = self.pool_candidate(pool, IpFamily::V4, key, request);
            let v6 = self.pool_candidate(pool, IpFamily::V6, key, request);
            if let (Some(a), Some(b)) = (v4, v6) {
                return Some((pool, vec![a, b]));
            }
            if request.policy != FamilyPolicy::PreferDualStack {
                continue;
            }
            let (primary, secondary) = match request.primary {
                IpFamily::V4 => (v4, v6),
                IpFamily::V6 => (v6, v4),
            };
            if let Some(ip) = primary
                && with_primary.is_none()
            {
                with_primary = Some((pool, vec![ip]));
            }
            if let Some(ip) = secondary
                && with_secondary.is_none()
            {
                with_secondary = Some((pool, vec![ip]));
            }
        }
        with_primary.or(with_secondary)
    }

    /// PreferDualStack holding one address: the other family from the same pool.
    fn add_family(
        &mut self,
        key: &str,
        pool: usize,
        existing: IpAddr,
        request: &ServiceRequest,
    ) -> Result<IpAddr, AllocError> {
        let family = IpFamily::of(existing).other();
        let ip = self
            .pool_candidate(pool, family, key, request)
            .ok_or_else(|| self.missing(pool, family))?;
        let ips = vec![existing, ip];
        let pool = self.check_assign(key, &ips, request)?;
        self.insert(key, pool, ips, request);
        Ok(ip)
    }

    /// MetalLB's `getFreeIPsFromPool` for one family: the first range (in pool order) with a
    /// usable address gives its lowest one.
    fn pool_candidate(
        &self,
        pool: usize,
        family: IpFamily,
        key: &str,
        request: &ServiceRequest,
    ) -> Option<IpAddr> {
        self.pools[pool]
            .ranges
            .iter()
            .filter(|&&range| self.ranges[range].family == family)
            .find_map(|&range| self.range_candidate(range, key, request))
    }

    /// MetalLB's `getIPFromCIDR`: the lowest address of the range that is free, or used under
    /// the Service's sharing key (and backend key) without a port clash.
    fn range_candidate(&self, range: usize, key: &str, request: &ServiceRequest) -> Option<IpAddr> {
        let r = &self.ranges[range];
        let free = r.slots.bounds().and_then(|(low, high)| {
            let slot = r.used.first_absent(low, high)?;
            address(r.family, r.slots.value_of(slot))
        });
        let shared = request.sharing_key.as_ref().and_then(|sharing| {
            let group = self.groups.get(sharing)?.get(&request.backend_key)?;
            let low = address(r.family, r.first)?;
            let high = address(r.family, r.last)?;
            // Addresses must be free for every requested port used in the group: walk the
            // smallest of those sets (or every address, when no requested port is used).
            let constraints: Vec<&BTreeSet<IpAddr>> = request
                .ports
                .iter()
                .filter_map(|port| group.free_for.get(port))
                .collect();
            let walk = constraints
                .iter()
                .min_by_key(|set| set.len())
                .copied()
                .unwrap_or(&group.ips);
            walk.range(low..=high)
                .take_while(|&&ip| free.is_none_or(|f| ip < f))
                .copied()
                .find(|&ip| {
                    constraints.iter().all(|set| set.contains(&ip))
                        && r.slots.index_of(bits(ip).1).is_some()
                        && self.ports_free(ip, key, &request.ports)
                })
        });
        match (free, shared) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn ports_free(&self, ip: IpAddr, key: &str, ports: &[Port]) -> bool {
        self.in_use.get(&ip).is_none_or(|usage| {
            ports
                .iter()
                .all(|port| usage.ports.get(port).is_none_or(|owner| owner == key))
        })
    }

    // ---- state ----

    /// Records `ips` for `key` (replacing what it held). The caller has checked them.
    fn insert(&mut self, key: &str, pool: usize, ips: Vec<IpAddr>, request: &ServiceRequest) {
        self.remove_holdings(key);
        for &ip in &ips {
            let Located::Slot(range, slot) = self.locate(ip) else {
                continue;
            };
            if !self.in_use.contains_key(&ip) {
                self.ranges[range].used.insert(slot);
                let owner = self.ranges[range].pool;
                let f = fi(self.ranges[range].family);
                self.pools[owner].assigned[f] = self.pools[owner].assigned[f].saturating_add(1);
                self.in_use.insert(
                    ip,
                    IpUse {
                        sharing: request.sharing_key.clone(),
                        backend: request.backend_key.clone(),
                        holders: FewMap::default(),
                        ports: FewMap::default(),
                    },
                );
                self.group_add(request.sharing_key.as_deref(), &request.backend_key, ip);
            }
            let Some(usage) = self.in_use.get_mut(&ip) else {
                continue;
            };
            if usage.sharing != request.sharing_key || usage.backend != request.backend_key {
                // Only a Service alone on its address gets here (checked by the caller).
                let sharing = std::mem::replace(&mut usage.sharing, request.sharing_key.clone());
                let backend = std::mem::replace(&mut usage.backend, request.backend_key.clone());
                if let Some(old) = group_of(&mut self.groups, sharing.as_deref(), &backend) {
                    old.remove_ip(ip);
                }
                if let Some(new) =
                    group_of(&mut self.groups, usage.sharing.as_deref(), &usage.backend)
                {
                    new.add_ip(ip);
                    for port in usage.ports.keys() {
                        new.port_used(ip, port);
                    }
                }
                prune(&mut self.groups, sharing.as_deref(), &backend);
            }
            usage.holders.insert(key.to_string(), ());
            let mut group = group_of(&mut self.groups, usage.sharing.as_deref(), &usage.backend);
            for port in &request.ports {
                if usage.ports.insert(port.clone(), key.to_string()).is_none()
                    && let Some(group) = group.as_deref_mut()
                {
                    group.port_used(ip, port);
                }
            }
        }
        self.held.insert(
            key.to_string(),
            Held {
                assignment: Assignment {
                    pool: self.pools[pool].name.clone(),
                    ips,
                },
                request: request.clone(),
            },
        );
    }

    fn remove_holdings(&mut self, key: &str) -> Option<Held> {
        let held = self.held.remove(key)?;
        for &ip in &held.assignment.ips {
            let Some(usage) = self.in_use.get_mut(&ip) else {
                continue;
            };
            usage.holders.remove(key);
            let mut group = group_of(&mut self.groups, usage.sharing.as_deref(), &usage.backend);
            usage.ports.retain(|port, owner| {
                if owner != key {
                    return true;
                }
                if let Some(group) = group.as_deref_mut() {
                    group.port_freed(ip, port);
                }
                false
            });
            if !usage.holders.is_empty() {
                continue;
            }
            if let Some(usage) = self.in_use.remove(&ip) {
                self.group_remove(usage.sharing.as_deref(), &usage.backend, ip);
            }
            if let Located::Slot(range, slot) = self.locate(ip) {
                self.ranges[range].used.remove(slot);
                let owner = self.ranges[range].pool;
                let f = fi(self.ranges[range].family);
                self.pools[owner].assigned[f] = self.pools[owner].assigned[f].saturating_sub(1);
            }
        }
        Some(held)
    }

    fn group_add(&mut self, sharing: Option<&str>, backend: &str, ip: IpAddr) {
        if let Some(group) = group_of(&mut self.groups, sharing, backend) {
            group.add_ip(ip);
        }
    }

    fn group_remove(&mut self, sharing: Option<&str>, backend: &str, ip: IpAddr) {
        if let Some(group) = group_of(&mut self.groups, sharing, backend) {
            group.remove_ip(ip);
        }
        prune(&mut self.groups, sharing, backend);
    }
}

type Groups = BTreeMap<String, BTreeMap<String, Group>>;

/// The group of a (sharing key, backend key) pair, created if needed; `None` without a key.
fn group_of<'g>(
    groups: &'g mut Groups,
    sharing: Option<&str>,
    backend: &str,
) -> Option<&'g mut Group> {
    let sharing = sharing?;
    if !groups.get(sharing).is_some_and(|b| b.contains_key(backend)) {
        groups
            .entry(sharing.to_string())
            .or_default()
            .insert(backend.to_string(), Group::default());
    }
    groups.get_mut(sharing)?.get_mut(backend)
}

/// Drops the group of a pair if it holds no address.
fn prune(groups: &mut Groups, sharing: Option<&str>, backend: &str) {
    let Some(sharing) = sharing else { return };
    let Some(by_backend) = groups.get_mut(sharing) else {
        return;
    };
    if by_backend.get(backend).is_some_and(|g| g.ips.is_empty()) {
        by_backend.remove(backend);
    }
    if by_backend.is_empty() {
        groups.remove(sharing);
    }
}

/// MetalLB's `sharingOK` between the users of an address and a request.
fn sharing_ok(usage: &IpUse, request: &ServiceRequest) -> Result<(), SharingConflict> {
    let Some(existing) = &usage.sharing else {
        return Err(SharingConflict::ExistingNoKey);
    };
    let Some(new) = &request.sharing_key else {
        return Err(SharingConflict::NewNoKey);
    };
    if existing != new {
        return Err(SharingConflict::KeyMismatch {
            existing: existing.clone(),
            new: new.clone(),
        });
    }
    if usage.backend != request.backend_key {
        return Err(SharingConflict::BackendMismatch {
            existing: usage.backend.clone(),
            new: request.backend_key.clone(),
        });
    }
    Ok(())
}

fn single(family: ServiceFamily) -> IpFamily {
    match family {
        ServiceFamily::V6 => IpFamily::V6,
        ServiceFamily::V4 | ServiceFamily::Dual => IpFamily::V4,
    }
}

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    let a: BTreeSet<&IpAddr> = a.iter().collect();
    let b: BTreeSet<&IpAddr> = b.iter().collect();
    a == b
}
