//! Leader election on a `coordination.k8s.io` Lease, so two controller replicas are safe: only
//! the holder assigns addresses.
//!
//! The holder renews every `duration / 3`; another replica takes the Lease over once it has
//! not been renewed for `duration`. Updates carry the Lease's resourceVersion, so two replicas
//! racing for an expired Lease cannot both win. A leader that cannot renew for `duration`
//! steps down by itself.

use std::time::{Duration, Instant};

use ironlb_api::k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use ironlb_api::k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

/// Who competes for which Lease.
#[derive(Clone, Debug)]
pub struct LeaseOptions {
    pub namespace: String,
    pub name: String,
    /// This replica (the pod name).
    pub identity: String,
    pub duration: Duration,
}

/// Competes for the Lease forever; `leader` says whether this replica holds it.
pub async fn run(client: Client, options: LeaseOptions, leader: watch::Sender<bool>) {
    let api: Api<Lease> = Api::namespaced(client, &options.namespace);
    let mut last_renewed: Option<Instant> = None;
    loop {
        let held = match attempt(&api, &options).await {
            Ok(held) => {
                if held {
                    last_renewed = Some(Instant::now());
                }
                held
            }
            Err(error) => {
                warn!(lease = %options.name, %error, "cannot reach the Lease");
                // Keep leading until the Lease could have been taken over by another replica.
                last_renewed.is_some_and(|at| at.elapsed() < options.duration)
            }
        };
        if *leader.borrow() != held {
            if held {
                info!(lease = %options.name, identity = %options.identity, "became the leader");
            } else {
                warn!(lease = %options.name, identity = %options.identity, "lost the leadership");
                last_renewed = None;
            }
            let _ = leader.send(held);
        }
        tokio::time::sleep(options.duration / 3).await;
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// One round: create, renew or take over the Lease. `Ok(true)`: we hold it.
async fn attempt(api: &Api<Lease>, options: &LeaseOptions) -> Result<bool, kube::Error> {
    let seconds = i32::try_from(options.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(mut lease) = api.get_opt(&options.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(options.name.clone()),
                namespace: Some(options.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(options.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(error) => Err(error),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let ours = spec.holder_identity.as_deref() == Some(options.identity.as_str());
    let released = spec.holder_identity.as_deref().is_none_or(str::is_empty);
    let expired = released
        || match &spec.renew_time {
            Some(MicroTime(renewed)) => {
                let held_for = spec.lease_duration_seconds.map_or(options.duration, |s| {
                    Duration::from_secs(u64::try_from(s).unwrap_or(0))
                });
                let age = Timestamp::now().duration_since(*renewed);
                age.as_secs() < 0 || age.unsigned_abs() > held_for
            }
            None => true,
        };
    if !ours && !expired {
        return Ok(false);
    }
    if !ours {
        spec.holder_identity = Some(options.identity.clone());
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(now());
    spec.lease_duration_seconds = Some(seconds);
    // replace() sends the resourceVersion we read: a concurrent change makes it fail with 409.
    match api
        .replace(&options.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error),
    }
}

/// Gives the Lease up (on shutdown), so a standby replica takes over at once instead of
/// waiting for it to expire.
pub async fn release(client: Client, options: &LeaseOptions) {
    let api: Api<Lease> = Api::namespaced(client, &options.namespace);
    let Ok(Some(mut lease)) = api.get_opt(&options.name).await else {
        return;
    };
    let Some(spec) = lease.spec.as_mut() else {
        return;
    };
    if spec.holder_identity.as_deref() != Some(options.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    match api
        .replace(&options.name, &PostParams::default(), &lease)
        .await
    {
        Ok(_) => info!(lease = %options.name, "leadership released"),
        Err(error) => {
            warn!(lease = %options.name, %error, "cannot release the Lease; it expires by itself")
        }
    }
}
