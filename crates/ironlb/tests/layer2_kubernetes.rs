//! Layer 2 mode on Kubernetes: a real API server (etcd and kube-apiserver built by
//! `tools/kube`) in the lab's switch namespace, IronLB's controller, and three speakers in node
//! namespaces on one segment with a client beside them. The speakers write what MetalLB's
//! write: one ServiceL2Status per Service, by the node that answers for it, and the
//! `nodeAssigned` / `announceFailed` events.
//!
//! The scenario: the client resolves the Service address by ARP to the owner; exactly one
//! ServiceL2Status exists, naming the owner and its interface, owned by its speaker's Pod; a
//! `nodeAssigned` event with protocol layer2 is on the Service, from the owner only; a Service
//! whose L2Advertisement names an interface no node has gets MetalLB's `announceFailed` and
//! no ServiceL2Status; a stale object of a node for a Service it does not answer for is gone
//! once its speaker starts. The owner's speaker is SIGKILLed: the client's ARP answer and the
//! ServiceL2Status move to the new owner, which deletes the dead node's object (MetalLB's
//! rule: a node that starts answering for a Service deletes the other nodes' objects for it;
//! the dead node's Pod, its owner, may stay for long). The killed speaker starts again and,
//! first in the election again, takes the Service back: still exactly one object.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlb_lab::fabric::{Fabric, FabricSpec, SWITCH_ADDRESS};
use ironlb_lab::kube_faults::{Component, Plane};
use ironlb_lab::{Namespace, Process};
use serde_json::Value;

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const NODES: [&str; 3] = ["node-21", "node-22", "node-23"];
const ADDRESS: &str = "203.0.113.10";
/// The address of the Service whose advertisement names an interface no node has.
const NOWHERE_ADDRESS: &str = "203.0.114.10";

use ironlb_lab::eventually;

fn crds() -> String {
    let output = std::process::Command::new(IRONLB)
        .arg("crds")
        .output()
        .unwrap();
    assert!(output.status.success(), "ironlb crds failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Two pools: `l2-pool`, advertised on every interface (no `interfaces`), and `nowhere-pool`,
/// whose advertisement names `eth9`, which no node has.
const CONFIGURATION: &str = "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: l2-pool, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec: {ipAddressPools: [l2-pool]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: nowhere-pool, namespace: metallb-system}
spec: {addresses: [203.0.114.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: nowhere, namespace: metallb-system}
spec: {ipAddressPools: [nowhere-pool], interfaces: [eth9]}
";

/// A LoadBalancer Service asking for `address`, and its EndpointSlice (one ready endpoint on
/// node-21; externalTrafficPolicy Cluster, so every node is a candidate).
fn service(name: &str, address: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default, annotations: {{metallb.io/loadBalancerIPs: \"{address}\"}}}}\nspec: {{type: LoadBalancer, externalTrafficPolicy: Cluster, allocateLoadBalancerNodePorts: false, selector: {{app: {name}}}, ports: [{{port: 80}}]}}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{name: {name}-lab, namespace: default, labels: {{kubernetes.io/service-name: {name}}}}}\naddressType: IPv4\nports: [{{port: 80, protocol: TCP}}]\nendpoints: [{{addresses: [10.244.0.10], conditions: {{ready: true}}, nodeName: node-21}}]\n"
    )
}

/// The Nodes, as their kubelets would register them (Ready, with their InternalIP: the
/// address the speakers watch each other's liveness at).
fn nodes_yaml(fabric: &Fabric) -> String {
    fabric
        .nodes
        .iter()
        .map(|node| {
            format!(
                "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}, labels: {{kubernetes.io/hostname: {name}}}}}\nstatus:\n  addresses: [{{type: InternalIP, address: \"{address}\"}}, {{type: Hostname, address: {name}}}]\n  conditions: [{{type: Ready, status: \"True\", reason: KubeletReady, message: lab}}]\n",
                name = node.name,
                address = node.address
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A speaker's Pod (bound to its node; no kubelet runs it): what its ServiceL2Status objects
/// are owned by.
fn pod_yaml(node: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: speaker-{node}, namespace: metallb-system, labels: {{component: speaker}}}}\nspec: {{nodeName: {node}, serviceAccountName: speaker, automountServiceAccountToken: false, containers: [{{name: speaker, image: registry.invalid/ironlb:lab}}]}}\n"
    )
}

/// A ServiceL2Status as a test reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct L2Status {
    name: String,
    node_label: String,
    node: String,
    service: String,
    interfaces: Vec<String>,
    owner: Option<String>,
}

/// A Kubernetes event as a test reads it.
#[derive(Clone, Debug)]
struct EventSeen {
    kind: String,
    reason: String,
    message: String,
    instance: String,
}

/// The one ServiceL2Status of `statuses`, if there is one and it is as its node writes it:
/// for default/web, labelled with the node its status names, on eth0, owned by that node's
/// speaker Pod.
fn the_only_status(statuses: &[L2Status]) -> Option<L2Status> {
    match statuses {
        [one]
            if !one.node.is_empty()
                && one.node_label == one.node
                && one.service == "default/web"
                && one.interfaces == ["eth0"]
                && one.owner == Some(format!("speaker-{}", one.node)) =>
        {
            Some(one.clone())
        }
        _ => None,
    }
}

struct Layer2Lab {
    // Dropped first: the control plane, then the fabric (IronLB's processes, namespaces).
    plane: Plane,
    fabric: Fabric,
    client: Namespace,
    speakers: BTreeMap<String, Process>,
    pod_uids: BTreeMap<String, String>,
    /// Speakers started so far, per node (each run logs to its own file).
    runs: BTreeMap<String, usize>,
}

impl Layer2Lab {
    fn build(name: &str) -> Layer2Lab {
        let mut spec = FabricSpec::seed(PathBuf::from(IRONLB));
        spec.tors.clear();
        let mut fabric = Fabric::build(name, spec).unwrap_or_else(|e| panic!("{e}"));
        let client = fabric
            .add_client("client", &["10.0.0.100/24"], &["203.0.113.0/24"])
            .unwrap_or_else(|e| panic!("{e}"));
        let plane = Plane::start(name, Some(&fabric.switch), &SWITCH_ADDRESS.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut lab = Layer2Lab {
            plane,
            fabric,
            client,
            speakers: BTreeMap::new(),
            pod_uids: BTreeMap::new(),
            runs: BTreeMap::new(),
        };
        lab.kubectl(&["create", "namespace", "metallb-system"], None);
        lab.kubectl(&["apply", "-f", "-"], Some(&crds()));
        lab.kubectl(
            &[
                "wait",
                "--for",
                "condition=established",
                "--timeout=60s",
                "crd",
                "--all",
            ],
            None,
        );
        let nodes = nodes_yaml(&lab.fabric);
        lab.kubectl(&["create", "-f", "-"], Some(&nodes));
        lab.kubectl(
            &[
                "create",
                "serviceaccount",
                "speaker",
                "-n",
                "metallb-system",
            ],
            None,
        );
        for node in NODES {
            lab.kubectl(&["create", "-f", "-"], Some(&pod_yaml(node)));
            let uid = lab.kubectl(
                &[
                    "get",
                    "pod",
                    &format!("speaker-{node}"),
                    "-n",
                    "metallb-system",
                    "-o",
                    "jsonpath={.metadata.uid}",
                ],
                None,
            );
            lab.pod_uids.insert(node.to_string(), uid);
        }
        lab.kubectl(&["apply", "-f", "-"], Some(CONFIGURATION));
        lab
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        self.plane
            .kubectl(args, stdin)
            .unwrap_or_else(|e| panic!("kubectl {}: {e}", args.join(" ")))
    }

    fn kubeconfig(&self) -> String {
        self.plane.kubeconfig().display().to_string()
    }

    fn start_controller(&mut self) {
        let kubeconfig = self.kubeconfig();
        let switch = self.fabric.switch_namespace().to_string();
        self.fabric
            .spawn_ironlb(
                &switch,
                "controller",
                &[("KUBECONFIG", kubeconfig.as_str())],
                &[
                    "controller",
                    "--kubernetes",
                    "--identity",
                    "controller-0",
                    "--metrics-address",
                    "off",
                    "--webhook-address",
                    "off",
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts (again) the speaker of `node` in its namespace, as its Pod.
    fn start_speaker(&mut self, node: &str) {
        let kubeconfig = self.kubeconfig();
        let pod = format!("speaker-{node}");
        let uid = self.pod_uids[node].clone();
        let namespace = self
            .fabric
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| n.namespace.clone())
            .unwrap();
        let env = [
            ("KUBECONFIG", kubeconfig.as_str()),
            ("POD_NAME", pod.as_str()),
            ("POD_UID", uid.as_str()),
        ];
        let run = self.runs.entry(node.to_string()).or_default();
        let log = format!("speaker-{node}-{run}");
        *run += 1;
        let process = self
            .fabric
            .spawn_ironlb(
                &namespace,
                &log,
                &env,
                &[
                    "speaker",
                    "--kubernetes",
                    "--node",
                    node,
                    "--metrics-address",
                    "off",
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        self.speakers.insert(node.to_string(), process);
    }

    /// SIGKILL: a crash (no handover; the others detect it by BFD).
    fn kill_speaker(&mut self, node: &str) {
        let process = self.speakers.remove(node).expect("a running speaker");
        process.signal("KILL");
        self.fabric.lab.stop(&process);
    }

    fn mac_of(&self, node: &str) -> String {
        let namespace = self
            .fabric
            .nodes
            .iter()
            .find(|n| n.name == node)
            .map(|n| Namespace::existing(&n.namespace))
            .unwrap();
        namespace
            .exec("cat", &["/sys/class/net/eth0/address"])
            .unwrap()
            .trim()
            .to_string()
    }

    /// The node whose MAC the client gets for `address` with arping (Thomas Habets' arping
    /// prints `from MAC (ADDRESS)`, iputils' `[MAC]`).
    fn arping(&self, address: &str) -> Result<String, String> {
        let output = self
            .client
            .exec("arping", &["-c", "1", "-w", "2", "-I", "eth0", address])
            .map_err(|e| e.to_string())?;
        let mac = output
            .split(|c: char| c.is_whitespace() || c == '[' || c == ']')
            .find(|word| word.len() == 17 && word.matches(':').count() == 5)
            .map(str::to_lowercase)
            .ok_or_else(|| format!("no MAC in {output:?}"))?;
        NODES
            .into_iter()
            .find(|node| self.mac_of(node) == mac)
            .map(str::to_string)
            .ok_or_else(|| format!("{mac} is no node's"))
    }

    fn l2_statuses(&self) -> Result<Vec<L2Status>, String> {
        let text = self.plane.kubectl(
            &[
                "get",
                "servicel2statuses",
                "-n",
                "metallb-system",
                "-o",
                "json",
            ],
            None,
        )?;
        let list: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let field = |value: &Value| value.as_str().unwrap_or_default().to_string();
        Ok(items
            .iter()
            .map(|item| L2Status {
                name: field(&item["metadata"]["name"]),
                node_label: field(&item["metadata"]["labels"]["metallb.io/node"]),
                node: field(&item["status"]["node"]),
                service: format!(
                    "{}/{}",
                    field(&item["status"]["serviceNamespace"]),
                    field(&item["status"]["serviceName"])
                ),
                interfaces: item["status"]["interfaces"]
                    .as_array()
                    .map(|list| list.iter().map(|i| field(&i["name"])).collect())
                    .unwrap_or_default(),
                owner: item["metadata"]["ownerReferences"][0]["name"]
                    .as_str()
                    .map(str::to_string),
            })
            .collect())
    }

    /// The client's kernel neighbour entry for `address` (a MAC), if any.
    fn neighbour(&self, address: &str) -> Option<String> {
        let text = self.client.ip(&["neigh", "show", address]).ok()?;
        let words: Vec<&str> = text.split_whitespace().collect();
        words
            .windows(2)
            .find(|w| w[0] == "lladdr")
            .map(|w| w[1].to_lowercase())
    }

    /// Waits until the only ServiceL2Status is `node`'s for default/web, on eth0, owned by
    /// the node's speaker Pod; returns it.
    fn wait_one_status(&self, node: &str, timeout: Duration) -> L2Status {
        eventually(
            &format!("exactly one ServiceL2Status, node {node}'s for default/web"),
            timeout,
            Duration::from_millis(100),
            || {
                let statuses = self.l2_statuses()?;
                the_only_status(&statuses)
                    .filter(|one| one.node == node)
                    .ok_or(format!("{statuses:?}"))
            },
        )
    }

    fn events(&self, service: &str) -> Vec<EventSeen> {
        let text = self.kubectl(
            &[
                "get",
                "events",
                "-n",
                "default",
                "--field-selector",
                &format!("involvedObject.name={service}"),
                "-o",
                "json",
            ],
            None,
        );
        let list: Value = serde_json::from_str(&text).unwrap();
        let field = |value: &Value| value.as_str().unwrap_or_default().to_string();
        list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|event| EventSeen {
                kind: field(&event["type"]),
                reason: field(&event["reason"]),
                message: field(&event["message"]),
                instance: field(&event["reportingInstance"]),
            })
            .collect()
    }

    /// Waits for a `nodeAssigned` event with protocol layer2 from `node` on `service`; returns
    /// every layer 2 `nodeAssigned` on it.
    fn wait_node_assigned(&self, service: &str, node: &str) -> Vec<EventSeen> {
        let expected = format!("announcing from node \"{node}\" with protocol \"layer2\"");
        eventually(
            &format!("nodeAssigned (layer2) from {node} on {service}"),
            Duration::from_secs(20),
            Duration::from_millis(200),
            || {
                let assigned: Vec<EventSeen> = self
                    .events(service)
                    .into_iter()
                    .filter(|e| e.reason == "nodeAssigned" && e.message.contains("\"layer2\""))
                    .collect();
                assigned
                    .iter()
                    .any(|e| e.message == expected && e.instance == node && e.kind == "Normal")
                    .then_some(assigned.clone())
                    .ok_or(format!("{assigned:?}"))
            },
        )
    }

    fn logs(&self) -> String {
        let tail = |name: &str| {
            let log = self.fabric.log(name);
            let lines: Vec<&str> = log.lines().rev().take(15).collect();
            lines.into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        let mut text = format!("--- controller\n{}\n", tail("controller"));
        for node in NODES {
            for run in 0..3 {
                let name = format!("speaker-{node}-{run}");
                let log = tail(&name);
                if !log.is_empty() {
                    text.push_str(&format!("--- {name}\n{log}\n"));
                }
            }
        }
        text.push_str(&format!(
            "--- kube-apiserver\n{}",
            self.plane.log_tail(Component::ApiServer, 5)
        ));
        text
    }
}

#[test]
fn servicel2status_and_events_follow_the_owner_when_it_fails() {
    let test = "servicel2status_and_events_follow_the_owner_when_it_fails";
    if !ironlb_lab::require(test, &["go", "arping"]) {
        return;
    }
    let mut lab = Layer2Lab::build("l2kube");
    // A stale object: node-22's, for a Service that does not exist (left by a previous
    // speaker). node-22's speaker deletes it when it starts.
    lab.kubectl(
        &["create", "-f", "-"],
        Some(
            "apiVersion: metallb.io/v1beta1\nkind: ServiceL2Status\nmetadata: {name: l2-stale, namespace: metallb-system, labels: {metallb.io/node: node-22, metallb.io/service-name: ghost, metallb.io/service-namespace: default}}\n",
        ),
    );
    lab.start_controller();
    for node in NODES {
        lab.start_speaker(node);
    }
    lab.kubectl(&["apply", "-f", "-"], Some(&service("web", ADDRESS)));
    lab.kubectl(
        &["apply", "-f", "-"],
        Some(&service("nowhere", NOWHERE_ADDRESS)),
    );
    let applied = Instant::now();

    // The client resolves the address to one node: the owner.
    let owner = eventually(
        "an ARP answer for the Service address",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || lab.arping(ADDRESS),
    );
    println!(
        "{ADDRESS} answered by {owner} ({}) {:?} after the Service was applied",
        lab.mac_of(&owner),
        applied.elapsed()
    );
    let status = lab.wait_one_status(&owner, Duration::from_secs(20));
    assert!(status.name.starts_with("l2-"), "{status:?}");
    println!("ServiceL2Status {status:?}");
    let table = lab.kubectl(&["get", "servicel2statuses", "-n", "metallb-system"], None);
    println!("$ kubectl get servicel2statuses -n metallb-system\n{table}");
    // nodeAssigned with protocol layer2, from the owner and nobody else.
    let assigned = lab.wait_node_assigned("web", &owner);
    assert!(
        assigned.iter().all(|e| e.instance == owner),
        "nodeAssigned (layer2) from a node that does not own web: {assigned:?}\n{}",
        lab.logs()
    );
    // The other Service: its owner has no eth9. MetalLB's Warning, and no ServiceL2Status.
    let failed = eventually(
        "announceFailed on nowhere",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            let events = lab.events("nowhere");
            events
                .iter()
                .find(|e| e.reason == "announceFailed")
                .cloned()
                .ok_or(format!("{events:?}"))
        },
    );
    assert_eq!(failed.kind, "Warning");
    assert_eq!(
        failed.message,
        format!(
            "the interfaces specified by LB IP \"{NOWHERE_ADDRESS}\" doesn't exist in assigned node \"{}\" with protocol \"layer2\"",
            failed.instance
        )
    );
    assert!(NODES.contains(&failed.instance.as_str()), "{failed:?}");
    println!("nowhere: {} {}", failed.kind, failed.message);
    assert!(
        !lab.events("nowhere")
            .iter()
            .any(|e| e.reason == "nodeAssigned"),
        "nodeAssigned on a Service nobody answers for"
    );
    // The stale object went when node-22's speaker started; nowhere has none.
    let statuses = lab.l2_statuses().unwrap();
    assert_eq!(statuses, std::slice::from_ref(&status), "{}", lab.logs());

    // The owner's speaker crashes. The client's kernel has the owner's MAC for the address
    // (a ping resolves it); the new owner's gratuitous ARP moves the entry by itself, and the
    // new owner replaces the dead one's ServiceL2Status with its own.
    let _ = lab.client.exec("ping", &["-c", "1", "-W", "1", ADDRESS]);
    let old_mac = lab.mac_of(&owner);
    assert_eq!(lab.neighbour(ADDRESS).as_deref(), Some(old_mac.as_str()));
    let killed = Instant::now();
    lab.kill_speaker(&owner);
    let mut entry_moved: Option<(Duration, String)> = None;
    let mut status_moved: Option<(Duration, L2Status)> = None;
    let ((answered, mac), (replaced, moved)) = eventually(
        "the client's entry and the ServiceL2Status to move to another node",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || {
            if entry_moved.is_none()
                && let Some(mac) = lab.neighbour(ADDRESS).filter(|mac| *mac != old_mac)
            {
                entry_moved = Some((killed.elapsed(), mac));
            }
            if status_moved.is_none() {
                let statuses = lab.l2_statuses()?;
                if let Some(one) = the_only_status(&statuses)
                    .filter(|one| one.node != owner && one.name != status.name)
                {
                    status_moved = Some((killed.elapsed(), one));
                }
            }
            match (&entry_moved, &status_moved) {
                (Some(entry), Some(status)) => Ok((entry.clone(), status.clone())),
                _ => Err(format!("entry {entry_moved:?}, status {status_moved:?}")),
            }
        },
    );
    let new_owner = moved.node.clone();
    assert_eq!(
        mac,
        lab.mac_of(&new_owner),
        "the client's entry is the new owner's"
    );
    assert_eq!(lab.arping(ADDRESS).as_deref(), Ok(new_owner.as_str()));
    println!(
        "{owner}'s speaker SIGKILLed: the client's entry moved to {new_owner} after {answered:?}; the only ServiceL2Status is {new_owner}'s after {replaced:?} ({owner}'s deleted by {new_owner})"
    );
    lab.wait_node_assigned("web", &new_owner);

    // The speaker starts again: first in the election, it takes the Service back, and the
    // object follows (the node that stops answering deletes its own; the one that starts
    // deletes the others').
    let restarted = Instant::now();
    lab.start_speaker(&owner);
    let back = eventually(
        "the restarted owner answering again",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            lab.arping(ADDRESS).and_then(|node| {
                if node == owner {
                    Ok(node)
                } else {
                    Err(format!("{node} answers"))
                }
            })
        },
    );
    lab.wait_one_status(&back, Duration::from_secs(20));
    println!(
        "{owner}'s speaker started again: answering and the only ServiceL2Status after {:?}",
        restarted.elapsed()
    );
}
