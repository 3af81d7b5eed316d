//! Lab only: a stand-in for the kubelets of the lab's nodes, where no container runs. It
//! registers the Nodes (Ready, with their InternalIP), marks the Pods the scheduler binds to
//! them Running and Ready with an address, and finishes their deletion (there is no kubelet to
//! do it), so Deployments, `kubectl drain` and the EndpointSlice controller behave as on a real
//! cluster. EndpointSlices themselves are never written here.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use futures::StreamExt;
use ironlb_api::k8s_openapi::api::core::v1::{Node, Pod};
use ironlb_api::k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

/// The nodes played: name → InternalIP.
pub type Nodes = BTreeMap<String, Ipv4Addr>;

/// Registers the Nodes as Ready.
pub async fn register(client: &Client, nodes: &Nodes) -> Result<(), kube::Error> {
    let api: Api<Node> = Api::all(client.clone());
    let params = PatchParams::apply("ironlb-lab-agent").force();
    for (name, address) in nodes {
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}},
        });
        api.patch(name, &params, &Patch::Apply(&node)).await?;
        set_ready(&api, name, *address).await?;
        // The API server taints new Nodes not-ready; the node lifecycle controller (not run in
        // the lab) would lift it once they report Ready.
        let untaint = json!({"spec": {"taints": []}});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&untaint))
            .await?;
    }
    Ok(())
}

async fn set_ready(api: &Api<Node>, name: &str, address: Ipv4Addr) -> Result<(), kube::Error> {
    let now = Timestamp::now().to_string();
    let status = json!({"status": {
        "addresses": [{"type": "InternalIP", "address": address.to_string()}, {"type": "Hostname", "address": name}],
        "capacity": {"cpu": "8", "memory": "16Gi", "pods": "110"},
        "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "ironlb lab agent", "lastHeartbeatTime": now, "lastTransitionTime": now}],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map(|_| ())
}

/// Runs forever: Pods on the played nodes become Running/Ready; deleted ones go at once.
pub async fn run(client: Client, nodes: Nodes) {
    let pods: Api<Pod> = Api::all(client.clone());
    let node_api: Api<Node> = Api::all(client.clone());
    let indices: BTreeMap<String, u8> = nodes
        .keys()
        .enumerate()
        .map(|(i, n)| (n.clone(), u8::try_from(i + 1).unwrap_or(u8::MAX)))
        .collect();
    let mut next_host: BTreeMap<String, u8> = BTreeMap::new();
    let mut heartbeat = tokio::time::interval(std::time::Duration::from_secs(20));
    let stream = watcher(pods.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects();
    let mut stream = std::pin::pin!(stream);
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                for (name, address) in &nodes {
                    if let Err(error) = set_ready(&node_api, name, *address).await {
                        warn!(node = %name, %error, "node heartbeat failed");
                    }
                }
            }
            item = stream.next() => {
                let Some(item) = item else { return };
                let pod = match item {
                    Ok(pod) => pod,
                    Err(error) => {
                        warn!(%error, "watching Pods failed; retrying");
                        continue;
                    }
                };
                let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
                    continue;
                };
                let (Some(node_index), Some(host_ip)) = (indices.get(&node), nodes.get(&node)) else {
                    continue;
                };
                let namespace = pod.namespace().unwrap_or_else(|| "default".into());
                let name = pod.name_any();
                let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
                if pod.metadata.deletion_timestamp.is_some() {
                    // No kubelet to stop containers: finish the deletion now.
                    let params = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
                    if let Err(error) = api.delete(&name, &params).await {
                        warn!(pod = %name, %error, "cannot finish deleting the pod");
                    }
                    continue;
                }
                let ready = pod.status.as_ref().is_some_and(|status| {
                    status.phase.as_deref() == Some("Running")
                        && status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True")
                });
                if ready {
                    continue;
                }
                let host = next_host.entry(node.clone()).or_insert(9);
                *host = host.wrapping_add(1).max(10);
                let pod_ip = format!("10.244.{node_index}.{host}");
                let now = Timestamp::now().to_string();
                let condition = |kind: &str| json!({"type": kind, "status": "True", "lastTransitionTime": now});
                let status = json!({"status": {
                    "phase": "Running",
                    "hostIP": host_ip.to_string(),
                    "podIP": pod_ip,
                    "podIPs": [{"ip": pod_ip}],
                    "startTime": now,
                    "conditions": [condition("PodScheduled"), condition("Initialized"), condition("ContainersReady"), condition("Ready")],
                }});
                match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await {
                    Ok(_) => info!(pod = %format!("{namespace}/{name}"), node = %node, ip = %pod_ip, "pod running"),
                    Err(error) => warn!(pod = %name, %error, "cannot mark the pod running"),
                }
            }
        }
    }
}
