//! `ironlb lab register-nodes` (lab only, not in the image): registers the lab's nodes, where no kubelet runs, for kwok (sigs.k8s.io/kwok,
//! started by `tools/kube/up.sh`) to play their kubelets: kwok keeps the Nodes Ready, makes
//! the Pods the scheduler binds to them Running and Ready with an address, and finishes their
//! deletion, so Deployments, `kubectl drain` and the EndpointSlice controller behave as on a
//! real cluster. EndpointSlices themselves are never written here.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ironlb_api::k8s_openapi::api::core::v1::Node;
use ironlb_api::k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// The nodes played: name → InternalIP.
pub type Nodes = BTreeMap<String, Ipv4Addr>;

/// kwok plays the kubelet of Nodes carrying this annotation.
const KWOK_NODE: &str = "kwok.x-k8s.io/node";

/// Registers the Nodes, Ready with their InternalIP, for kwok. A Node is created with its
/// status, as a kubelet registers one: kwok keeps addresses it finds on a Node, and gives its
/// own `--node-ip` to one that has none yet.
pub async fn register(client: &Client, nodes: &Nodes) -> Result<(), kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    let params = PatchParams::apply("ironlb-lab").force();
    for (name, address) in nodes {
        let metadata = json!({
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"},
            "annotations": {KWOK_NODE: "fake"},
        });
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": metadata,
            "status": status(name, *address),
        }))
        .map_err(kube::Error::SerdeError)?;
        match api.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            // Registered before (a lab brought up again on the same API server).
            Err(kube::Error::Api(response)) if response.code == 409 => {
                let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": metadata});
                api.patch(name, &params, &Patch::Apply(&node)).await?;
                let status = json!({"status": status(name, *address)});
                api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
                    .await?;
            }
            Err(error) => return Err(error),
        }
        // The API server taints new Nodes not-ready; the node lifecycle controller (not run in
        // the lab: it would evict Pods after the API freeze the lab test makes) would lift it
        // once they report Ready.
        let untaint = json!({"spec": {"taints": []}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&untaint))
            .await?;
    }
    Ok(())
}

/// A Ready Node's status with its InternalIP.
fn status(name: &str, address: Ipv4Addr) -> serde_json::Value {
    let now = Timestamp::now().to_string();
    json!({
        "addresses": [{"type": "InternalIP", "address": address.to_string()}, {"type": "Hostname", "address": name}],
        "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
        "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "ironlb lab (kwok keeps it)", "lastHeartbeatTime": now, "lastTransitionTime": now}],
    })
}
