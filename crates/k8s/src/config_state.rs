//! ConfigurationState: one object per component in IronLB's namespace saying whether the
//! configuration it runs is the one in the API (MetalLB's kind, names, labels and condition
//! types, so `kubectl get configurationstates` reads the same). `controller` and
//! `speaker-<node>`; owned by the component's Pod when it runs in one (POD_NAME, POD_UID),
//! so it goes away with it.
//!
//! Written when the verdict changes, not on every reconcile: `lastTransitionTime` is the
//! time the condition last changed (Kubernetes' meaning), where MetalLB stamps every
//! reconcile. Written again when deleted (the object is watched), as MetalLB does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use ironlb_api::v1beta1::ConfigurationState;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tracing::{debug, info, warn};

use crate::source::api_resource;

const FIELD_MANAGER: &str = "ironlb";

/// Which component reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The condition's type: MetalLB's `poolReconcilerValid` (controller) or
    /// `configReconcilerValid` (speaker).
    pub condition_type: &'static str,
}

impl Component {
    pub fn controller() -> Component {
        Component {
            name: "controller".into(),
            labels: [("metallb.io/component-type".into(), "controller".into())].into(),
            condition_type: "poolReconcilerValid",
        }
    }

    pub fn speaker(node: &str) -> Component {
        Component {
            name: format!("speaker-{node}"),
            labels: [
                ("metallb.io/component-type".into(), "speaker".into()),
                ("metallb.io/node-name".into(), node.into()),
            ]
            .into(),
            condition_type: "configReconcilerValid",
        }
    }
}

/// The Pod this process runs in, from the downward API (POD_NAME, POD_UID); `None` outside
/// a Pod.
pub fn owner_from_env() -> Option<OwnerReference> {
    let name = std::env::var("POD_NAME").ok().filter(|n| !n.is_empty())?;
    let uid = std::env::var("POD_UID").ok().filter(|u| !u.is_empty())?;
    Some(OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name,
        uid,
        ..OwnerReference::default()
    })
}

/// The status for `errors` (empty: the configuration in force is the API's): MetalLB's
/// result, errorSummary and condition.
pub fn status(condition_type: &str, errors: &[String], now: &str) -> Value {
    let (condition_status, reason, message) = if errors.is_empty() {
        ("True", "Reconciled", String::new())
    } else {
        (
            "False",
            "ConfigurationError",
            format!("configuration error: {}", errors.join("; ")),
        )
    };
    json!({
        "result": if errors.is_empty() { "Valid" } else { "Invalid" },
        "errorSummary": message,
        "conditions": [{
            "type": condition_type,
            "status": condition_status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
        }],
    })
}

/// Keeps the component's ConfigurationState in line with `errors` (`None`: nothing decided
/// yet) until the channel closes. The object is watched: deleted (by a user, a script, a
/// namespace clean-up), it is written again at once, as MetalLB's ConfigurationStateReconciler
/// recreates it on its delete event.
pub async fn run(
    client: Client,
    namespace: String,
    component: Component,
    owner: Option<OwnerReference>,
    mut errors: watch::Receiver<Option<Vec<String>>>,
) {
    let resource = api_resource("v1beta1", "ConfigurationState", "configurationstates");
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, &resource);
    let gone = Arc::new(Notify::new());
    let watch_task = tokio::spawn(watch_for_deletion(
        Api::namespaced(client, &namespace),
        component.name.clone(),
        gone.clone(),
    ));
    let mut written: Option<Vec<String>> = None;
    loop {
        let wanted = errors.borrow_and_update().clone();
        if let Some(wanted) = wanted
            && written.as_ref() != Some(&wanted)
        {
            match write(&api, &namespace, &component, owner.as_ref(), &wanted).await {
                Ok(()) => {
                    info!(name = %component.name, valid = wanted.is_empty(), "ConfigurationState written");
                    written = Some(wanted);
                }
                Err(error) => {
                    warn!(name = %component.name, %error, "cannot write the ConfigurationState; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            }
        }
        tokio::select! {
            changed = errors.changed() => if changed.is_err() { break },
            () = gone.notified() => {
                info!(name = %component.name, "ConfigurationState deleted: writing it again");
                written = None;
            }
        }
    }
    watch_task.abort();
}

/// Wakes `gone` whenever the ConfigurationState `name` is deleted, or found missing when the
/// watch lists again (a deletion that happened while the watch was down).
async fn watch_for_deletion(
    api: Api<PartialObjectMeta<ConfigurationState>>,
    name: String,
    gone: Arc<Notify>,
) {
    use futures::StreamExt;
    use kube::runtime::WatchStreamExt;
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    // Metadata only: enough to see deletions.
    let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
    let mut listed = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Delete(_)) => gone.notify_one(),
            Ok(watcher::Event::Init) => listed = false,
            Ok(watcher::Event::InitApply(_)) => listed = true,
            Ok(watcher::Event::InitDone) if !listed => gone.notify_one(),
            Ok(_) => {}
            Err(error) => debug!(%error, "ConfigurationState watch interrupted; resuming"),
        }
    }
}

async fn write(
    api: &Api<DynamicObject>,
    namespace: &str,
    component: &Component,
    owner: Option<&OwnerReference>,
    errors: &[String],
) -> Result<(), kube::Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut metadata = json!({
        "name": component.name,
        "namespace": namespace,
        "labels": component.labels,
    });
    if let Some(owner) = owner {
        metadata["ownerReferences"] = json!([owner]);
    }
    let object = json!({
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ConfigurationState",
        "metadata": metadata,
    });
    api.patch(&component.name, &params, &Patch::Apply(&object))
        .await?;
    let object = json!({
        "apiVersion": "metallb.io/v1beta1",
        "kind": "ConfigurationState",
        "metadata": {"name": component.name, "namespace": namespace},
        "status": status(component.condition_type, errors, &ironlb_model::time::now()),
    });
    api.patch_status(&component.name, &params, &Patch::Apply(&object))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_as_metallb_writes_them() {
        let valid = status("poolReconcilerValid", &[], "2026-12-02T00:00:00Z");
        assert_eq!(valid["result"], "Valid");
        assert_eq!(valid["errorSummary"], "");
        assert_eq!(valid["conditions"][0]["status"], "True");
        assert_eq!(valid["conditions"][0]["reason"], "Reconciled");

        let errors = vec![
            "BGPPeer metallb-system/tor1 spec.myASN: missing".to_string(),
            "IPAddressPool metallb-system/p spec.addresses: bad".to_string(),
        ];
        let invalid = status("configReconcilerValid", &errors, "2026-12-02T00:00:00Z");
        assert_eq!(invalid["result"], "Invalid");
        assert_eq!(invalid["conditions"][0]["type"], "configReconcilerValid");
        assert_eq!(invalid["conditions"][0]["status"], "False");
        assert_eq!(invalid["conditions"][0]["reason"], "ConfigurationError");
        assert_eq!(
            invalid["errorSummary"],
            "configuration error: BGPPeer metallb-system/tor1 spec.myASN: missing; IPAddressPool metallb-system/p spec.addresses: bad"
        );
        assert_eq!(invalid["conditions"][0]["message"], invalid["errorSummary"]);
    }

    #[test]
    fn components_are_named_as_metallb_names_them() {
        assert_eq!(Component::controller().name, "controller");
        let speaker = Component::speaker("node-1");
        assert_eq!(speaker.name, "speaker-node-1");
        assert_eq!(speaker.labels["metallb.io/node-name"], "node-1");
        assert_eq!(speaker.labels["metallb.io/component-type"], "speaker");
    }
}
