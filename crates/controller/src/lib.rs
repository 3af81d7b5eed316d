//! The controller's decisions, pure: given the cluster (metallb.io resources and Services, as
//! a [`Snapshot`] holds them) it keeps an [`Allocator`] up to date and says what every
//! LoadBalancer Service's status is, which events to emit and how full each pool is.
//!
//! No IO and no clock: the caller passes the time for events and writes the result where it
//! belongs (the cluster directory's `.ironlb/controller.yaml`, or the Kubernetes API).
//!
//! Each [`Controller::update`] is idempotent: the same input gives the same status and no new
//! event. On the first update, addresses Services already hold (their
//! `status.loadBalancer.ingress`) are re-adopted before anything is allocated, so a restart
//! never reshuffles assignments.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use ironlb_alloc::{
    ANNOTATION_ALLOCATED_FROM_POOL, AllocError, Allocator, DEPRECATED_PREFIX, IpFamily,
    RequestOptions, ServiceRequest,
};
use ironlb_config::{Config, Resources, ValidateOptions};
use ironlb_model::ControllerService;
use ironlb_model::status::{
    ControllerStatus, EventObject, EventRecord, EventType, PoolStatus, ServiceStatus,
};

/// Events kept in the status (newest last).
pub const MAX_EVENTS: usize = 200;

/// How the controller reads Services and the configuration.
#[derive(Clone, Debug)]
pub struct Options {
    pub request: RequestOptions,
    pub validate: ValidateOptions,
}

impl Default for Options {
    /// MetalLB's defaults; Services without clusterIPs (written by hand for a cluster
    /// directory) are taken as IPv4 unless `spec.ipFamilies` says otherwise.
    fn default() -> Self {
        Options {
            request: RequestOptions {
                load_balancer_class: None,
                default_family: Some(IpFamily::V4),
            },
            validate: ValidateOptions::default(),
        }
    }
}

/// What a Service got, as last reported (to emit events only on change).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Assigned {
        ips: Vec<IpAddr>,
        pool: String,
    },
    /// The Service's request of addresses is invalid (`problem`); it keeps what it holds
    /// (MetalLB's `LoadBalancerFailed`).
    Kept {
        ips: Vec<IpAddr>,
        pool: String,
        problem: String,
    },
    Pending(String),
}

/// A Service that could not be read.
struct Refused {
    message: String,
    /// Set when only its request of addresses is wrong: the Service read without it, under
    /// which it keeps the addresses it holds.
    keeping: Option<ServiceRequest>,
}

/// The controller's state between updates.
pub struct Controller {
    options: Options,
    config: Option<Config>,
    allocator: Option<Allocator>,
    outcomes: BTreeMap<String, Outcome>,
    /// Per Service, why PreferDualStack could not add the other family (posted once as
    /// `AdditionalAssignFailed`, again when the reason changes).
    additional_failures: BTreeMap<String, String>,
    events: VecDeque<EventRecord>,
    /// Every event since the last [`Controller::take_events`] (unbounded, unlike `events`).
    new_events: Vec<EventRecord>,
    configuration_errors: Vec<String>,
    /// What the configuration was last judged from: a change of Services only (nearly all
    /// of them) does not validate it again.
    judged: Option<Resources>,
}

impl Controller {
    pub fn new(options: Options) -> Self {
        Controller {
            options,
            config: None,
            allocator: None,
            outcomes: BTreeMap::new(),
            additional_failures: BTreeMap::new(),
            events: VecDeque::new(),
            new_events: Vec::new(),
            configuration_errors: Vec::new(),
            judged: None,
        }
    }

    /// Brings assignments in line with `resources` and `services`; `now` stamps the events
    /// this update emits.
    pub fn update(
        &mut self,
        resources: &Resources,
        services: &[Arc<ControllerService>],
        now: SystemTime,
    ) -> ControllerStatus {
        self.load_config(resources, now);
        let mut requests: BTreeMap<String, (&ControllerService, Result<ServiceRequest, Refused>)> =
            BTreeMap::new();
        for service in services {
            let key = service.key();
            match ServiceRequest::read(service, &self.options.request) {
                Ok(Some(request)) => {
                    requests.insert(key, (service, Ok(request)));
                }
                Ok(None) => {}
                Err(error) => {
                    if error.clears_assignment()
                        && let Some(allocator) = self.allocator.as_mut()
                    {
                        allocator.release(&key);
                    }
                    let keeping = if error.is_bad_address_request() {
                        ServiceRequest::ignoring_requested_ips(service, &self.options.request)
                            .ok()
                            .flatten()
                    } else {
                        None
                    };
                    let refused = Refused {
                        message: error.to_string(),
                        keeping,
                    };
                    requests.insert(key, (service, Err(refused)));
                }
            }
        }
        if let Some(allocator) = self.allocator.as_mut() {
            // Services gone (or no longer LoadBalancers of our class) free their addresses
            // first, so waiting Services may fit.
            let held: Vec<String> = allocator
                .assignments()
                .map(|(k, _)| k.to_string())
                .collect();
            for key in held {
                if !requests.contains_key(&key) {
                    allocator.release(&key);
                }
            }
            // First sight of a Service that already has addresses: adopt them (also while
            // its request of addresses is invalid: MetalLB keeps them then).
            for (key, (service, request)) in &requests {
                let request = match request {
                    Ok(request) => Some(request),
                    Err(refused) => refused.keeping.as_ref(),
                };
                if let Some(request) = request
                    && allocator.assignment(key).is_none()
                    && !self.outcomes.contains_key(key)
                    && let Ok(ips) = &service.ingress
                    && !ips.is_empty()
                {
                    let _ = allocator.restore(key, ips, request);
                }
            }
        }
        self.outcomes.retain(|key, _| requests.contains_key(key));
        self.additional_failures
            .retain(|key, _| requests.contains_key(key));
        // Services holding addresses first, then the others, each in name order.
        let mut order: Vec<&String> = requests.keys().collect();
        if let Some(allocator) = &self.allocator {
            order.sort_by_key(|key| (allocator.assignment(key).is_none(), (*key).clone()));
        }
        for key in order {
            let (service, request) = &requests[key];
            let mut additional_failure = None;
            let outcome = match (request, self.allocator.as_mut()) {
                (Err(refused), Some(allocator)) if refused.keeping.is_some() => {
                    match allocator.assignment(key) {
                        Some(held) => Outcome::Kept {
                            ips: held.ips.clone(),
                            pool: held.pool.clone(),
                            problem: refused.message.clone(),
                        },
                        None => Outcome::Pending(refused.message.clone()),
                    }
                }
                (Err(refused), _) => Outcome::Pending(refused.message.clone()),
                (Ok(_), None) => Outcome::Pending(
                    "no valid configuration: fix the errors `ironlb validate` reports".into(),
                ),
                (Ok(request), Some(allocator)) => {
                    let reconciled = allocator.reconcile(key, request);
                    if let Some(Err(error)) = &reconciled.additional {
                        additional_failure = Some(describe(error));
                    }
                    match reconciled.result {
                        Ok(assignment) => Outcome::Assigned {
                            ips: assignment.ips,
                            pool: assignment.pool,
                        },
                        Err(error) => Outcome::Pending(describe(&error)),
                    }
                }
            };
            self.record(key, outcome, service, now);
            self.record_additional(key, additional_failure, now);
        }
        self.status()
    }

    fn load_config(&mut self, resources: &Resources, now: SystemTime) {
        let resources = judged(resources);
        if self.judged.as_ref() == Some(&resources) {
            return;
        }
        let verdict = ironlb_config::validate(&resources, &self.options.validate);
        self.judged = Some(resources);
        match verdict {
            Ok(config) => {
                self.configuration_errors.clear();
                if self.config.as_ref() == Some(&config) {
                    return;
                }
                match self.allocator.as_mut() {
                    Some(allocator) => {
                        for change in allocator.set_config(&config) {
                            if let Some(reason) = change.cleared {
                                self.event(
                                    now,
                                    EventType::Warning,
                                    "ClearAssignment",
                                    service_object(&change.key),
                                    format!("current IP not allowed by config, clearing: {reason}"),
                                );
                            }
                        }
                    }
                    None => self.allocator = Some(Allocator::new(&config)),
                }
                self.config = Some(config);
            }
            Err(errors) => {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                if messages != self.configuration_errors {
                    self.event(
                        now,
                        EventType::Warning,
                        "ConfigurationInvalid",
                        EventObject::ConfigurationState {
                            name: "controller".into(),
                        },
                        format!(
                            "{} error(s), the last valid configuration stays in force: {}",
                            messages.len(),
                            messages.join("; ")
                        ),
                    );
                }
                self.configuration_errors = messages;
            }
        }
    }

    /// Keeps `outcome` for the Service `key`; a change makes an event. An assignment the
    /// Service already holds (a restart or failover adopting it) is not news: MetalLB
    /// announces IPAllocated only for addresses the Service did not have. A change that
    /// rewrites the Service also warns about each `metallb.universe.tf/*` annotation it has
    /// (MetalLB's `deprecatedAnnotation`, posted only when there is something to write, not
    /// on every pass).
    fn record(
        &mut self,
        key: &str,
        outcome: Outcome,
        service: &ControllerService,
        now: SystemTime,
    ) {
        if self.outcomes.get(key) == Some(&outcome) {
            return;
        }
        let current = service.ingress_ips();
        match &outcome {
            Outcome::Assigned { ips, .. } if *ips == current => {}
            Outcome::Kept { ips, problem, .. } => {
                let shown: Vec<String> = ips.iter().map(|ip| format!("\"{ip}\"")).collect();
                self.event(
                    now,
                    EventType::Warning,
                    "LoadBalancerFailed",
                    service_object(key),
                    format!(
                        "invalid requested loadbalancer IPs: {problem}; the Service keeps [{}]",
                        shown.join(",")
                    ),
                );
            }
            Outcome::Assigned { ips, pool } => {
                let shown: Vec<String> = ips.iter().map(|ip| format!("\"{ip}\"")).collect();
                self.event(
                    now,
                    EventType::Normal,
                    "IPAllocated",
                    service_object(key),
                    format!("Assigned IP [{}] from pool {pool}", shown.join(",")),
                );
            }
            Outcome::Pending(message) => self.event(
                now,
                EventType::Warning,
                "AllocationFailed",
                service_object(key),
                format!("Failed to allocate IP for \"{key}\": {message}"),
            ),
        }
        if rewrites(&outcome, service) {
            for annotation in service
                .annotations
                .iter()
                .map(|(name, _)| name)
                .filter(|name| name.starts_with(DEPRECATED_PREFIX))
            {
                let stable = format!("metallb.io/{}", &annotation[DEPRECATED_PREFIX.len()..]);
                self.event(
                    now,
                    EventType::Warning,
                    "deprecatedAnnotation",
                    service_object(key),
                    format!(
                        "Service uses deprecated annotation {annotation}: use {stable} instead"
                    ),
                );
            }
        }
        self.outcomes.insert(key.to_string(), outcome);
    }

    /// Keeps why PreferDualStack could not add the other family to the Service `key`
    /// (`None`: it did not fail); a new reason is posted as MetalLB's `AdditionalAssignFailed`.
    fn record_additional(&mut self, key: &str, failure: Option<String>, now: SystemTime) {
        match failure {
            None => {
                self.additional_failures.remove(key);
            }
            Some(reason) if self.additional_failures.get(key) == Some(&reason) => {}
            Some(reason) => {
                self.event(
                    now,
                    EventType::Normal,
                    "AdditionalAssignFailed",
                    service_object(key),
                    format!("cannot assign additional IP in PreferDualStack: {reason}"),
                );
                self.additional_failures.insert(key.to_string(), reason);
            }
        }
    }

    fn event(
        &mut self,
        now: SystemTime,
        type_: EventType,
        reason: &str,
        object: EventObject,
        message: String,
    ) {
        let record = EventRecord {
            time: now,
            type_,
            reason: reason.to_string(),
            object,
            message,
        };
        self.new_events.push(record.clone());
        self.events.push_back(record);
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
    }

    /// The status as of the last update.
    pub fn status(&self) -> ControllerStatus {
        let services = self
            .outcomes
            .iter()
            .map(|(key, outcome)| {
                let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
                let mut status = ServiceStatus {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                    ..ServiceStatus::default()
                };
                match outcome {
                    Outcome::Assigned { ips, pool } => {
                        status.ingress = ips.clone();
                        status.pool = Some(pool.clone());
                    }
                    Outcome::Kept { ips, pool, problem } => {
                        status.ingress = ips.clone();
                        status.pool = Some(pool.clone());
                        status.pending_reason = Some(problem.clone());
                    }
                    Outcome::Pending(reason) => status.pending_reason = Some(reason.clone()),
                }
                status
            })
            .collect();
        let pools = self
            .allocator
            .as_ref()
            .map(|allocator| {
                allocator
                    .usage()
                    .into_iter()
                    .map(|(name, usage)| PoolStatus {
                        name,
                        assigned_ipv4: saturating(usage.assigned_ipv4),
                        assigned_ipv6: saturating(usage.assigned_ipv6),
                        available_ipv4: saturating(usage.available_ipv4),
                        available_ipv6: saturating(usage.available_ipv6),
                    })
                    .collect()
            })
            .unwrap_or_default();
        ControllerStatus {
            services,
            events: self.events.iter().cloned().collect(),
            pools,
            configuration_errors: self.configuration_errors.clone(),
        }
    }

    /// The events emitted since the last call, all of them (the status keeps only the last
    /// [`MAX_EVENTS`]).
    pub fn take_events(&mut self) -> Vec<EventRecord> {
        std::mem::take(&mut self.new_events)
    }

    /// Whether a valid configuration is in force.
    pub fn config_loaded(&self) -> bool {
        self.config.is_some()
    }

    /// Names of the pools in the current configuration.
    pub fn pools(&self) -> BTreeSet<String> {
        self.config
            .as_ref()
            .map(|c| c.pools.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// The part of the configuration the controller judges: IPAddressPools, Community aliases
/// and Namespaces, as MetalLB's PoolReconciler (`internal/k8s/controllers/pool_controller.go`).
/// BGPPeers, advertisements and BFD profiles are the speakers' to judge (each its own node's),
/// so a BGPPeer naming a BFDProfile or Secret that does not exist yet, which the webhooks
/// admit, never stops addresses from being assigned.
pub fn judged(resources: &Resources) -> Resources {
    Resources {
        pools: resources.pools.clone(),
        communities: resources.communities.clone(),
        namespaces: resources.namespaces.clone(),
        ..Resources::default()
    }
}

/// Whether the decision changes the Service as written (its ingress, or the
/// `metallb.io/ip-allocated-from-pool` annotation), i.e. whether the Service gets written.
fn rewrites(outcome: &Outcome, service: &ControllerService) -> bool {
    let annotated = service.annotation(ANNOTATION_ALLOCATED_FROM_POOL);
    let current = service.ingress_ips();
    match outcome {
        Outcome::Assigned { ips, pool } | Outcome::Kept { ips, pool, .. } => {
            ips.as_slice() != current || annotated != Some(pool.as_str())
        }
        Outcome::Pending(_) => !current.is_empty() || annotated.is_some(),
    }
}

fn saturating(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn describe(error: &AllocError) -> String {
    error.to_string()
}

/// The object of a Service's events, from its key (`namespace/name`).
fn service_object(key: &str) -> EventObject {
    let (namespace, name) = key.split_once('/').unwrap_or(("default", key));
    EventObject::Service {
        namespace: namespace.into(),
        name: name.into(),
    }
}
