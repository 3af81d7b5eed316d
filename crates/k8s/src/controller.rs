//! The controller on Kubernetes: applies [`ironlb_controller::Controller`]'s decisions to the
//! API. `status.loadBalancer.ingress` through the status subresource, the
//! `metallb.io/ip-allocated-from-pool` annotation, MetalLB's events, and each
//! IPAddressPool's usage counts in its status. Only the Lease holder
//! acts; a new leader starts from the addresses Services already hold, so a restart or a
//! failover never reshuffles assignments.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ironlb_api::k8s_openapi::api::core::v1::Service;
use ironlb_api::v1beta1::IPAddressPoolStatus;
use ironlb_controller::{Controller, Options};
use ironlb_model::status::{ControllerStatus, EventObject, EventRecord, PoolStatus, ServiceStatus};
use ironlb_model::{ControllerService, Snapshot};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Reporter};
use serde_json::json;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::source::api_resource;

/// The annotation naming the pool a Service's addresses come from.
pub use ironlb_model::ALLOCATED_FROM_POOL;

/// What the controller publishes after every update (for metrics and probes).
#[derive(Clone, Debug, Default)]
pub struct Published {
    /// Shared with the controller's loop (10,000 Services' status is megabytes).
    pub status: Arc<ControllerStatus>,
    pub config_loaded: bool,
    pub updates: u64,
    /// metallb.io objects that could not be read (they are ignored until fixed).
    pub problems: Vec<String>,
}

impl Published {
    /// Everything wrong with the configuration as the API holds it: unreadable objects and
    /// validation errors (the last valid configuration stays in force meanwhile).
    pub fn errors(&self) -> Vec<String> {
        ironlb_model::status::configuration_problems(
            &self.problems,
            &self.status.configuration_errors,
        )
    }
}

const RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(500);
const RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs until `shutdown` resolves.
pub async fn run(
    client: Client,
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    mut leader: watch::Receiver<bool>,
    options: Options,
    reporter: Reporter,
    published: watch::Sender<Published>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut updates = 0u64;
    let mut pools_written = BTreeMap::new();
    let mut controller: Option<Controller> = None;
    // A write that failed is tried again after this long (doubling to 30 s), even if nothing
    // else changes.
    let mut backoff = RETRY_FIRST;
    tokio::pin!(shutdown);
    loop {
        let mut retry: Option<tokio::time::Instant> = None;
        if *leader.borrow_and_update() {
            let controller = controller.get_or_insert_with(|| {
                info!("leading: assigning addresses");
                Controller::new(options.clone())
            });
            let snapshot = snapshots.borrow_and_update().clone();
            let started = std::time::Instant::now();
            let status = Arc::new(controller.update(
                &snapshot.resources,
                &snapshot.controller_services,
                std::time::SystemTime::now(),
            ));
            let decided = started.elapsed();
            updates += 1;
            let _ = published.send(Published {
                status: Arc::clone(&status),
                config_loaded: controller.config_loaded(),
                updates,
                problems: snapshot.problems.iter().map(ToString::to_string).collect(),
            });
            let (patched, mut failed) = apply(&client, &snapshot, &status).await;
            failed += write_pool_statuses(
                &client,
                &options.validate.namespace,
                &snapshot,
                &status,
                &mut pools_written,
            )
            .await;
            if failed > 0 {
                warn!(
                    failed,
                    retry_ms = backoff.as_millis() as u64,
                    "some writes to the API failed; trying again"
                );
                retry = Some(tokio::time::Instant::now() + backoff);
                backoff = (backoff * 2).min(RETRY_MAX);
            } else {
                backoff = RETRY_FIRST;
            }
            publish_events(&client, &reporter, &snapshot, controller.take_events()).await;
            if patched > 0 {
                info!(
                    patched,
                    decide_us = decided.as_micros() as u64,
                    total_us = started.elapsed().as_micros() as u64,
                    "Service status updated"
                );
            }
        } else if controller.take().is_some() {
            warn!("not the leader any more: standing by");
            pools_written.clear();
        }
        tokio::select! {
            changed = snapshots.changed() => if changed.is_err() { return },
            changed = leader.changed() => if changed.is_err() { return },
            () = async {
                match retry {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
            () = &mut shutdown => return,
        }
    }
}

/// A Service to patch: the ingress to write, and the pool annotation to write (None: remove).
type Change<'a> = (
    &'a ControllerService,
    Option<&'a [IpAddr]>,
    Option<Option<&'a String>>,
);

/// Patches every Service whose status or annotation differs from the decision. Returns how
/// many were patched and how many patches failed.
async fn apply(client: &Client, snapshot: &Snapshot, status: &ControllerStatus) -> (usize, usize) {
    use futures::StreamExt;
    let decided: BTreeMap<String, &ServiceStatus> = status
        .services
        .iter()
        .map(|s| (format!("{}/{}", s.namespace, s.name), s))
        .collect();
    let mut changes: Vec<Change> = Vec::new();
    for service in &snapshot.controller_services {
        let current_pool = service.annotation(ALLOCATED_FROM_POOL);
        let Some(wanted) = decided.get(&service.key()) else {
            // A Service that left LoadBalancer: the API server cleared its status, the
            // annotation is ours to remove (MetalLB does the same).
            if !service.load_balancer && current_pool.is_some() {
                changes.push((service, None, Some(None)));
            }
            continue;
        };
        let ingress =
            (service.ingress_ips() != wanted.ingress).then_some(wanted.ingress.as_slice());
        let pool = (current_pool != wanted.pool.as_deref()).then_some(wanted.pool.as_ref());
        if ingress.is_some() || pool.is_some() {
            changes.push((service, ingress, pool));
        }
    }
    // Patched 16 at a time: 10,000 Services do not wait for each other's round trips.
    futures::stream::iter(changes)
        .map(|(service, ingress, pool)| async move {
            let (namespace, name) = (service.namespace.as_str(), service.name.as_str());
            let api: Api<Service> = Api::namespaced(client.clone(), namespace);
            let (mut patched, mut failed) = (false, false);
            if let Some(ingress) = ingress {
                let ingress: Vec<_> = ingress
                    .iter()
                    .map(|ip| json!({"ip": ip.to_string(), "ipMode": "VIP"}))
                    .collect();
                let patch = json!({"status": {"loadBalancer": {"ingress": ingress}}});
                match api
                    .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => patched = true,
                    Err(error) => {
                        failed = true;
                        warn!(service = %service.key(), %error, "cannot patch the Service's status")
                    }
                }
            }
            if let Some(pool) = pool {
                // A merge patch: null removes the annotation.
                let patch = json!({"metadata": {"annotations": {ALLOCATED_FROM_POOL: pool}}});
                match api
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => patched = true,
                    Err(error) => {
                        failed = true;
                        warn!(service = %service.key(), %error, "cannot annotate the Service")
                    }
                }
            }
            (patched, failed)
        })
        .buffer_unordered(16)
        .fold((0, 0), |(patched, failed), (ok, bad)| async move {
            (patched + usize::from(ok), failed + usize::from(bad))
        })
        .await
}

/// Pool counts written, by (pool name, uid): a pool deleted and made again is written anew.
type PoolsWritten = BTreeMap<(String, String), PoolStatus>;

/// Writes each IPAddressPool's assigned/available counts to its status where the API's
/// differ (MetalLB's PoolStatusReconciler), skipping what was just written and has not come
/// back through the watch yet.
async fn write_pool_statuses(
    client: &Client,
    namespace: &str,
    snapshot: &Snapshot,
    status: &ControllerStatus,
    written: &mut PoolsWritten,
) -> usize {
    let mut failed = 0;
    let resource = api_resource("v1beta1", "IPAddressPool", "ipaddresspools");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    for counts in &status.pools {
        let Some(pool) = snapshot
            .resources
            .pools
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(counts.name.as_str()))
        else {
            continue;
        };
        let wanted = IPAddressPoolStatus {
            assigned_ipv4: counts.assigned_ipv4,
            assigned_ipv6: counts.assigned_ipv6,
            available_ipv4: counts.available_ipv4,
            available_ipv6: counts.available_ipv6,
        };
        let key = (
            counts.name.clone(),
            pool.metadata.uid.clone().unwrap_or_default(),
        );
        if pool.status.as_ref() == Some(&wanted) || written.get(&key) == Some(counts) {
            continue;
        }
        let patch = json!({"status": wanted});
        match api
            .patch_status(&counts.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                written.insert(key, counts.clone());
            }
            Err(error) => {
                failed += 1;
                warn!(pool = %counts.name, %error, "cannot write the IPAddressPool's status")
            }
        }
    }
    failed
}

/// Publishes events, attached to their Services, 16 at a time.
async fn publish_events(
    client: &Client,
    reporter: &Reporter,
    snapshot: &Snapshot,
    events: Vec<EventRecord>,
) {
    if events.is_empty() {
        return;
    }
    let services: BTreeMap<(&str, &str), &ControllerService> = snapshot
        .controller_services
        .iter()
        .map(|service| {
            (
                (service.namespace.as_str(), service.name.as_str()),
                &**service,
            )
        })
        .collect();
    // Built a recorder's worth at a time (see `crate::publish_events`).
    let mut records = events.into_iter().peekable();
    while records.peek().is_some() {
        let events: Vec<_> = records
            .by_ref()
            .take(crate::EVENTS_PER_RECORDER)
            .filter_map(|record| kube_event(record, &services))
            .collect();
        crate::publish_events(client, reporter, events).await;
    }
}

/// Logs `record` and makes it an event on its Service; None for a Service the snapshot does
/// not have, or an event on no Service.
fn kube_event(
    record: EventRecord,
    services: &BTreeMap<(&str, &str), &ControllerService>,
) -> Option<(
    ironlb_api::k8s_openapi::api::core::v1::ObjectReference,
    Event,
)> {
    info!(reason = %record.reason, object = %record.object, message = %record.message, "event");
    let service = match &record.object {
        EventObject::Service { namespace, name } => {
            services.get(&(namespace.as_str(), name.as_str())).copied()
        }
        EventObject::ConfigurationState { .. } => None,
    }?;
    let event = Event {
        type_: match record.type_ {
            ironlb_model::status::EventType::Warning => EventType::Warning,
            ironlb_model::status::EventType::Normal => EventType::Normal,
        },
        reason: record.reason.clone(),
        note: Some(record.message),
        action: record.reason,
        secondary: None,
    };
    let reference =
        crate::object_reference(&service.namespace, &service.name, service.uid.as_deref());
    Some((reference, event))
}
