//! IronLB's controller against a real Kubernetes control plane (etcd + kube-apiserver built
//! from Go modules by `tools/kube/build.sh`, started by `tools/kube/up.sh`): the seed's
//! manifests applied with kubectl, the Service's EXTERNAL-IP, `IPAllocated` in `kubectl
//! describe`, two controllers with one leader and a failover, and a restart that keeps every
//! assignment.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const IRONLB: &str = env!("CARGO_BIN_EXE_ironlb");
const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed");

/// A running control plane (`ironlb_lab::kube`), stopped with everything started against it
/// when dropped.
struct ControlPlane {
    plane: ironlb_lab::kube::ControlPlane,
}

impl ControlPlane {
    /// Builds (cached) and starts the control plane; `None` (with a loud message) when Go is
    /// missing outside CI.
    fn start(name: &str) -> Option<ControlPlane> {
        if !ironlb_lab::require(name, &["go"]) {
            return None;
        }
        let plane = ironlb_lab::kube::ControlPlane::start(name).unwrap_or_else(|e| panic!("{e}"));
        Some(ControlPlane { plane })
    }

    /// Runs kubectl; returns stdout, or panics with stderr.
    fn kubectl(&self, args: &[&str]) -> String {
        self.try_kubectl(args, None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_kubectl(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        self.plane.kubectl(args, stdin)
    }

    /// Waits until `kubectl get ARGS` prints `expected` (with `-o jsonpath=...` in ARGS).
    fn wait_output(&self, args: &[&str], expected: &str, log_of: &str) {
        let waited = Instant::now();
        loop {
            let now = self.try_kubectl(args, None).unwrap_or_else(|e| e);
            if now == expected {
                return;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "kubectl {}: {now:?}, waited for {expected:?}; {log_of}'s log:\n{}",
                args.join(" "),
                self.log(log_of)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn apply(&self, yaml: &str) {
        self.try_kubectl(&["apply", "-f", "-"], Some(yaml))
            .unwrap_or_else(|e| panic!("kubectl apply: {e}\n{yaml}"));
    }

    /// Starts `ironlb controller --kubernetes` as replica `identity`; returns its index.
    fn controller(&mut self, identity: &str) -> usize {
        self.controller_with(identity, &["--webhook-address", "off"])
    }

    fn controller_with(&mut self, identity: &str, extra: &[&str]) -> usize {
        let mut args = vec!["controller", "--kubernetes", "--metrics-address", "off"];
        args.extend(["--identity", identity]);
        args.extend(extra);
        self.plane.spawn(Path::new(IRONLB), identity, &args)
    }

    fn stop(&mut self, index: usize) {
        self.plane.stop(index);
    }

    fn log(&self, identity: &str) -> String {
        self.plane.log(identity)
    }

    fn external_ip(&self, service: &str) -> String {
        self.try_kubectl(
            &[
                "get",
                "svc",
                service,
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].ip}",
            ],
            None,
        )
        .unwrap_or_default()
    }

    fn wait_external_ip(&self, service: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let ip = self.external_ip(service);
            if !ip.is_empty() {
                return ip;
            }
            assert!(
                start.elapsed() < timeout,
                "{service} got no EXTERNAL-IP within {timeout:?}; describe:\n{}",
                self.try_kubectl(&["describe", "svc", service], None)
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn lease_holder(&self) -> String {
        self.try_kubectl(
            &[
                "-n",
                "metallb-system",
                "get",
                "lease",
                "ironlb-controller",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ],
            None,
        )
        .unwrap_or_default()
    }
}

fn seed_file(name: &str) -> String {
    std::fs::read_to_string(Path::new(SEED).join(name)).unwrap()
}

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  type: LoadBalancer\n  selector: {{app: {name}}}\n  ports: [{{port: 80}}]\n"
    )
}

#[test]
fn controller_on_a_real_api_server_assigns_leads_fails_over_and_keeps_assignments() {
    let Some(mut plane) = ControlPlane::start("controller") else {
        return;
    };
    plane.kubectl(&["create", "namespace", "metallb-system"]);
    let crds = Command::new(IRONLB).arg("crds").output().unwrap();
    plane.apply(&String::from_utf8_lossy(&crds.stdout));
    plane.kubectl(&[
        "wait",
        "--for",
        "condition=established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
    // The seed's manifests, unchanged, with kubectl.
    for file in [
        "pool.yaml",
        "peers.yaml",
        "advertisement.yaml",
        "bfd.yaml",
        "service.yaml",
    ] {
        plane.apply(&seed_file(file));
    }
    plane.controller("replica-a");
    plane.controller("replica-b");
    let ip = plane.wait_external_ip("web", Duration::from_secs(60));
    assert!(ip.starts_with("203.0.113."), "{ip}");
    let table = plane.kubectl(&["get", "svc", "web"]);
    assert!(table.contains(&ip), "{table}");
    println!("$ kubectl get svc web\n{table}");
    let describe = plane.kubectl(&["describe", "svc", "web"]);
    assert!(describe.contains("IPAllocated"), "{describe}");
    let pool = plane.kubectl(&[
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.metadata.annotations.metallb\\.io/ip-allocated-from-pool}",
    ]);
    assert_eq!(pool, "prod-pool");

    // One leader; the other stands by. Stopping the leader hands over within the Lease time.
    let leader = plane.lease_holder();
    assert!(leader == "replica-a" || leader == "replica-b", "{leader:?}");
    let (leader_index, other) = if leader == "replica-a" {
        (0, "replica-b")
    } else {
        (1, "replica-a")
    };
    plane.stop(leader_index);
    plane.apply(&service("web2"));
    let start = Instant::now();
    let ip2 = plane.wait_external_ip("web2", Duration::from_secs(60));
    println!(
        "the standby took over and assigned web2 after {:?}",
        start.elapsed()
    );
    assert_ne!(ip2, ip);
    assert_eq!(plane.lease_holder(), other, "{}", plane.log(other));

    // Every controller stops; a new one starts from the Services' own status: nothing moves.
    let remaining = 1 - leader_index;
    plane.stop(remaining);
    plane.controller("replica-c");
    plane.apply(&service("web3"));
    let ip3 = plane.wait_external_ip("web3", Duration::from_secs(60));
    assert_eq!(plane.external_ip("web"), ip);
    assert_eq!(plane.external_ip("web2"), ip2);
    assert!(ip3 != ip && ip3 != ip2, "{ip3}");

    // Deleting a Service frees its address for the next one.
    plane.kubectl(&["delete", "svc", "web"]);
    plane.apply(&service("web4"));
    let ip4 = plane.wait_external_ip("web4", Duration::from_secs(60));
    assert_eq!(ip4, ip, "the lowest free address again");

    // A Service that stops being a LoadBalancer: the API server clears its status, the
    // controller removes its pool annotation, and its address is free for the next one.
    plane.kubectl(&[
        "patch",
        "svc",
        "web2",
        "-p",
        r#"{"spec": {"type": "ClusterIP"}}"#,
    ]);
    let waited = Instant::now();
    let annotation = || {
        plane.kubectl(&[
            "get",
            "svc",
            "web2",
            "-o",
            "jsonpath={.metadata.annotations.metallb\\.io/ip-allocated-from-pool}",
        ])
    };
    while !annotation().is_empty() {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "the pool annotation stayed on a ClusterIP Service: {}",
            plane.log("replica-c")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(plane.external_ip("web2"), "");
    plane.apply(&service("web5"));
    let ip5 = plane.wait_external_ip("web5", Duration::from_secs(60));
    assert_eq!(ip5, ip2, "web2's address was freed");

    // The pool's status counts what is in use (web3, web4, web5) and what is left of the /24.
    plane.wait_output(
        &[
            "get",
            "ipaddresspool",
            "prod-pool",
            "-n",
            "metallb-system",
            "-o",
            "jsonpath={.status.assignedIPv4} {.status.availableIPv4} {.status.assignedIPv6} {.status.availableIPv6}",
        ],
        "3 253 0 0",
        "replica-c",
    );
    let state = [
        "get",
        "configurationstate",
        "controller",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.status.result}|{.status.errorSummary}|{.status.conditions[0].type}={.status.conditions[0].status}|{.metadata.labels.metallb\\.io/component-type}",
    ];
    plane.wait_output(
        &state,
        "Valid||poolReconcilerValid=True|controller",
        "replica-c",
    );
    // Invalid configuration gets in (no webhook here): a second pool overlapping the first.
    // The controller keeps the last valid configuration, assigns from it, and says so.
    plane.apply(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: overlap, namespace: metallb-system}\nspec: {addresses: [203.0.113.128/25]}\n",
    );
    let summary = [
        "get",
        "configurationstate",
        "controller",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.status.result}|{.status.conditions[0].reason}",
    ];
    plane.wait_output(&summary, "Invalid|ConfigurationError", "replica-c");
    let error = plane.kubectl(&[
        "get",
        "configurationstate",
        "controller",
        "-n",
        "metallb-system",
        "-o",
        "jsonpath={.status.errorSummary}",
    ]);
    assert!(
        error.starts_with("configuration error: ") && error.contains("overlap"),
        "{error}"
    );
    println!("ConfigurationState controller: Invalid: {error}");
    let table = plane.kubectl(&["get", "configurationstates", "-n", "metallb-system"]);
    println!("$ kubectl get configurationstates -n metallb-system\n{table}");
    plane.apply(&service("web6"));
    let ip6 = plane.wait_external_ip("web6", Duration::from_secs(60));
    assert!(ip6.starts_with("203.0.113."), "{ip6}");
    plane.kubectl(&["delete", "ipaddresspool", "overlap", "-n", "metallb-system"]);
    plane.wait_output(&summary, "Valid|Reconciled", "replica-c");
}

#[test]
fn the_install_manifests_are_accepted_by_a_real_api_server() {
    let Some(plane) = ControlPlane::start("deploy") else {
        return;
    };
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy");
    let rendered = plane.kubectl(&["kustomize", deploy]);
    // Namespace and CRDs for real (the rest refers to them), then everything server-side dry-run.
    plane.apply(&std::fs::read_to_string(format!("{deploy}/namespace.yaml")).unwrap());
    plane.apply(&std::fs::read_to_string(format!("{deploy}/crds.yaml")).unwrap());
    plane.kubectl(&[
        "wait",
        "--for",
        "condition=established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
    server_accepts(&plane, &rendered, "deploy/");

    // Least privilege, asked of the real API server's authorizer with deploy/'s RBAC in force.
    plane.apply(&std::fs::read_to_string(format!("{deploy}/rbac.yaml")).unwrap());
    // RESOURCE[/NAME], or RESOURCE/status for the status subresource.
    let can = |account: &str, verb: &str, resource: &str, namespace: &str| {
        let account = format!("--as=system:serviceaccount:metallb-system:{account}");
        let mut args = vec!["auth", "can-i", verb, "-n", namespace, &account];
        match resource.strip_suffix("/status") {
            Some(resource) => args.extend([resource, "--subresource=status"]),
            None => args.push(resource),
        }
        let answer = plane.try_kubectl(&args, None).unwrap_or_else(|e| e);
        answer.trim() == "yes"
    };
    for (account, verb, resource, namespace, allowed) in [
        ("speaker", "update", "services", "default", false),
        ("speaker", "patch", "services/status", "default", false),
        ("speaker", "list", "secrets", "default", false),
        ("speaker", "list", "secrets", "metallb-system", true),
        (
            "speaker",
            "list",
            "endpointslices.discovery.k8s.io",
            "default",
            true,
        ),
        (
            "speaker",
            "create",
            "servicebgpstatuses.metallb.io",
            "metallb-system",
            true,
        ),
        (
            "speaker",
            "patch",
            "configurationstates.metallb.io/speaker-node-1",
            "metallb-system",
            true,
        ),
        // Watched, so that a deleted one is written again.
        (
            "speaker",
            "watch",
            "configurationstates.metallb.io",
            "metallb-system",
            true,
        ),
        // ServiceL2Status: written by the speakers, in metallb-system only.
        (
            "speaker",
            "create",
            "servicel2statuses.metallb.io",
            "metallb-system",
            true,
        ),
        (
            "speaker",
            "patch",
            "servicel2statuses.metallb.io/status",
            "metallb-system",
            true,
        ),
        (
            "speaker",
            "delete",
            "servicel2statuses.metallb.io",
            "metallb-system",
            true,
        ),
        (
            "speaker",
            "watch",
            "servicel2statuses.metallb.io",
            "metallb-system",
            true,
        ),
        (
            "speaker",
            "create",
            "servicel2statuses.metallb.io",
            "default",
            false,
        ),
        (
            "speaker",
            "delete",
            "servicel2statuses.metallb.io",
            "kube-system",
            false,
        ),
        (
            "controller",
            "create",
            "servicel2statuses.metallb.io",
            "metallb-system",
            false,
        ),
        (
            "speaker",
            "patch",
            "ipaddresspools.metallb.io",
            "metallb-system",
            false,
        ),
        ("controller", "list", "secrets", "default", false),
        ("controller", "patch", "services/status", "default", true),
        (
            "controller",
            "patch",
            "ipaddresspools.metallb.io/status",
            "metallb-system",
            true,
        ),
        (
            "controller",
            "patch",
            "ipaddresspools.metallb.io",
            "metallb-system",
            false,
        ),
        (
            "controller",
            "patch",
            "configurationstates.metallb.io/controller",
            "metallb-system",
            true,
        ),
        (
            "controller",
            "patch",
            "configurationstates.metallb.io/speaker-node-1",
            "metallb-system",
            false,
        ),
        (
            "controller",
            "update",
            "secrets/ironlb-webhook-cert",
            "metallb-system",
            true,
        ),
        (
            "controller",
            "update",
            "secrets/other",
            "metallb-system",
            false,
        ),
        (
            "controller",
            "update",
            "customresourcedefinitions.apiextensions.k8s.io/bgppeers.metallb.io",
            "default",
            true,
        ),
        (
            "controller",
            "update",
            "customresourcedefinitions.apiextensions.k8s.io/ipaddresspools.metallb.io",
            "default",
            false,
        ),
    ] {
        assert_eq!(
            can(account, verb, resource, namespace),
            allowed,
            "{account} {verb} {resource} in {namespace:?}"
        );
    }

    // The Helm chart: helm (built from Go modules: Debian and PyPI have none) lints and
    // renders it, CRDs included, and the API server accepts the result.
    let helm = Command::new(ironlb_lab::kube::tools().join("helm.sh"))
        .output()
        .unwrap();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !helm.status.success() {
        let why = String::from_utf8_lossy(&helm.stderr);
        assert!(!ci, "tools/kube/helm.sh failed in CI: {why}");
        ironlb_lab::record_skip(
            "the Helm chart (in the install test)",
            &format!("tools/kube/helm.sh failed: {why}"),
        );
        return;
    }
    let helm = String::from_utf8_lossy(&helm.stdout).trim().to_string();
    let chart = concat!(env!("CARGO_MANIFEST_DIR"), "/../../charts/ironlb");
    let run = |args: &[&str]| {
        let output = Command::new(&helm).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "helm {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    run(&["lint", "--strict", chart]);
    let server = plane.kubectl(&["version", "-o", "json"]);
    let version: serde_json::Value = serde_json::from_str(&server).unwrap();
    let server = version["serverVersion"]["gitVersion"].as_str().unwrap();
    let rendered = run(&[
        "template",
        "ironlb",
        chart,
        "--namespace",
        "metallb-system",
        "--include-crds",
        "--kube-version",
        server,
    ]);
    server_accepts(&plane, &rendered, "the Helm chart");
    println!("helm template charts/ironlb: accepted by the API server ({server})");
    // The speaker's privileges, rendered: the same as deploy/'s (NET_RAW only, as root).
    let security = |yaml: &str| {
        let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(yaml).unwrap();
        let speaker = documents
            .into_iter()
            .find(|d| d["kind"] == "DaemonSet" && d["metadata"]["name"] == "ironlb-speaker")
            .expect("the speaker's DaemonSet");
        let pod = &speaker["spec"]["template"]["spec"];
        (
            pod["securityContext"].clone(),
            pod["containers"][0]["securityContext"].clone(),
        )
    };
    let chart_speaker = security(&rendered);
    assert_eq!(
        chart_speaker,
        security(&std::fs::read_to_string(format!("{deploy}/speaker.yaml")).unwrap())
    );
    assert_eq!(
        chart_speaker.1["capabilities"],
        serde_json::json!({"drop": ["ALL"], "add": ["NET_RAW"]})
    );
}

/// `kubectl apply --dry-run=server` of `rendered` succeeds and names IronLB's workloads,
/// webhook configuration and CRDs.
fn server_accepts(plane: &ControlPlane, rendered: &str, what: &str) {
    let output = plane
        .try_kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(rendered))
        .unwrap_or_else(|e| panic!("kubectl apply --dry-run=server refused {what}: {e}"));
    for kind in [
        "deployment.apps/ironlb-controller",
        "daemonset.apps/ironlb-speaker",
        "validatingwebhookconfiguration.admissionregistration.k8s.io/ironlb-webhook-configuration",
        "customresourcedefinition.apiextensions.k8s.io/bgppeers.metallb.io",
    ] {
        assert!(
            output.contains(kind),
            "{kind} missing from {what}:\n{output}"
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// CRDs in metallb-system, the webhook configuration as deploy/ has it (reached by URL: no
/// Service here) and the BGPPeer conversion webhook, served by a controller `identity` that
/// fills in the caBundle; returns once the webhooks answer.
fn with_webhooks(plane: &mut ControlPlane, identity: &str) {
    plane.kubectl(&["create", "namespace", "metallb-system"]);
    let crds = Command::new(IRONLB).arg("crds").output().unwrap();
    plane.apply(&String::from_utf8_lossy(&crds.stdout));
    plane.kubectl(&[
        "wait",
        "--for",
        "condition=established",
        "--timeout=60s",
        "crd",
        "--all",
    ]);
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let mut webhooks = String::new();
    for (version, plural) in [
        ("v1beta1", "ipaddresspools"),
        ("v1beta1", "bgppeers"),
        ("v1beta2", "bgppeers"),
        ("v1beta1", "bgpadvertisements"),
        ("v1beta1", "bfdprofiles"),
        ("v1beta1", "communities"),
    ] {
        let kind = plural.trim_end_matches('s');
        webhooks.push_str(&format!(
            "- name: {plural}-{version}.metallb.io\n  admissionReviewVersions: [v1]\n  sideEffects: None\n  failurePolicy: Fail\n  clientConfig: {{url: \"{url}/validate-metallb-io-{version}-{kind}\"}}\n  rules:\n  - apiGroups: [metallb.io]\n    apiVersions: [{version}]\n    operations: [CREATE, UPDATE, DELETE]\n    resources: [{plural}]\n"
        ));
    }
    plane.apply(&format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {{name: ironlb-webhook-configuration}}\nwebhooks:\n{webhooks}"
    ));
    plane.kubectl(&[
        "patch",
        "crd",
        "bgppeers.metallb.io",
        "--type=merge",
        "-p",
        &format!(
            "{{\"spec\":{{\"conversion\":{{\"strategy\":\"Webhook\",\"webhook\":{{\"conversionReviewVersions\":[\"v1\"],\"clientConfig\":{{\"url\":\"{url}/convert\"}}}}}}}}}}"
        ),
    ]);
    let address = format!("127.0.0.1:{port}");
    plane.controller_with(
        identity,
        &["--webhook-address", &address, "--webhook-ip", "127.0.0.1"],
    );
    // Wait until the CA is in place and the webhook answers (a dry run is judged too).
    let probe = "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: probe, namespace: metallb-system}\n";
    let start = Instant::now();
    while plane
        .try_kubectl(&["apply", "--dry-run=server", "-f", "-"], Some(probe))
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "webhook never answered: {}",
            plane.log(identity)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn webhooks_refuse_invalid_objects_with_ironlbs_message_and_convert_bgppeers() {
    let Some(mut plane) = ControlPlane::start("webhook") else {
        return;
    };
    with_webhooks(&mut plane, "webhooks");
    plane.apply(&seed_file("bfd.yaml"));
    plane.apply(&seed_file("pool.yaml"));
    plane.apply(&seed_file("peers.yaml"));
    plane.apply(&seed_file("advertisement.yaml"));

    // An invalid BGPPeer is refused with IronLB's message.
    let invalid = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: broken, namespace: metallb-system}\nspec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.9, holdTime: 1s}\n";
    let refused = plane
        .try_kubectl(&["apply", "-f", "-"], Some(invalid))
        .expect_err("an invalid BGPPeer must be refused");
    assert!(refused.contains("denied the request"), "{refused}");
    assert!(
        refused.contains("BGPPeer metallb-system/broken"),
        "{refused}"
    );
    assert!(refused.contains("spec.holdTime"), "{refused}");
    let expected = Command::new(IRONLB)
        .args(["validate", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let all = format!(
                "{}\n---\n{}\n---\n{invalid}",
                seed_file("bfd.yaml"),
                seed_file("peers.yaml")
            );
            child.stdin.take().unwrap().write_all(all.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    let validate_says = String::from_utf8_lossy(&expected.stdout);
    let line = validate_says
        .lines()
        .find(|l| l.contains("broken"))
        .unwrap_or_default();
    assert!(
        !line.is_empty() && refused.contains(line.trim()),
        "webhook: {refused}\nvalidate: {validate_says}"
    );

    // Deleting the BFDProfile tor1 uses is refused.
    let refused = plane
        .try_kubectl(
            &["-n", "metallb-system", "delete", "bfdprofile", "tor-bfd"],
            None,
        )
        .expect_err("deleting a BFDProfile in use must be refused");
    assert!(
        refused.contains("BFDProfile metallb-system/tor-bfd is used by BGPPeer tor1"),
        "{refused}"
    );

    // A v1beta1 BGPPeer reads back as v1beta2, and back as v1beta1 unchanged.
    let as_v1beta2 = plane.kubectl(&[
        "-n",
        "metallb-system",
        "get",
        "bgppeers.v1beta2.metallb.io",
        "tor1",
        "-o",
        "jsonpath={.apiVersion} {.spec.holdTime} {.spec.bfdProfile}",
    ]);
    assert_eq!(as_v1beta2, "metallb.io/v1beta2 1m30s tor-bfd");
    let as_v1beta1 = plane.kubectl(&[
        "-n",
        "metallb-system",
        "get",
        "bgppeers.v1beta1.metallb.io",
        "tor2",
        "-o",
        "json",
    ]);
    let peer: serde_json::Value = serde_json::from_str(&as_v1beta1).unwrap();
    assert_eq!(peer["apiVersion"], "metallb.io/v1beta1");
    // As written, plus peerPort 179: the CRD schema's default (MetalLB's too), applied by the
    // API server on storage, not by the conversion.
    assert_eq!(
        peer["spec"],
        serde_json::json!({"myASN": 65100, "peerASN": 65000, "peerAddress": "10.0.0.2", "peerPort": 179}),
        "{as_v1beta1}"
    );
}

impl ControlPlane {
    /// Waits (30 s at most) until `kubectl ARGS` prints something `check` accepts; returns it.
    fn wait_for(&self, args: &[&str], check: impl Fn(&str) -> bool, log_of: &str) -> String {
        let waited = Instant::now();
        loop {
            let now = self.try_kubectl(args, None).unwrap_or_else(|e| e);
            if check(&now) {
                return now;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(30),
                "kubectl {}: {now:?}; {log_of}'s log:\n{}",
                args.join(" "),
                self.log(log_of)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `result|errorSummary` of the ConfigurationState `name`.
    fn configuration_state(&self, name: &str) -> String {
        self.try_kubectl(
            &[
                "get",
                "configurationstate",
                name,
                "-n",
                "metallb-system",
                "-o",
                "jsonpath={.status.result}|{.status.errorSummary}",
            ],
            None,
        )
        .unwrap_or_else(|e| e)
    }

    /// Waits until the ConfigurationState `name` says `result` with a summary containing
    /// `summary`; returns the summary.
    fn wait_state(&self, name: &str, result: &str, summary: &str, log_of: &str) -> String {
        let args = [
            "get",
            "configurationstate",
            name,
            "-n",
            "metallb-system",
            "-o",
            "jsonpath={.status.result}|{.status.errorSummary}",
        ];
        let prefix = format!("{result}|");
        self.wait_for(
            &args,
            |now| now.starts_with(&prefix) && now.contains(summary),
            log_of,
        )
    }

    /// Messages of the events with `reason` in the namespace default.
    fn events(&self, reason: &str) -> String {
        let selector = format!("reason={reason}");
        self.try_kubectl(
            &[
                "get",
                "events",
                "-n",
                "default",
                "--field-selector",
                &selector,
                "-o",
                "jsonpath={.items[*].message}",
            ],
            None,
        )
        .unwrap_or_else(|e| e)
    }
}

/// MetalLB's behaviour across its webhooks, speakers and ConfigurationStates (its
/// configurationstate e2e tests): `kubectl apply -f dir/` works in any file order (a BGPPeer
/// may name a BFDProfile and a Secret created after it); a dangling or wrong reference makes
/// only the ConfigurationState of the nodes the BGPPeer selects Invalid, not the controller's
/// nor the other nodes'; a deleted ConfigurationState comes back with the current verdict;
/// `disableMP` is admitted with MetalLB's deprecation warning; and the controller's
/// `deprecatedAnnotation` and `LoadBalancerFailed` events reach the Service.
#[test]
fn references_are_admitted_in_any_order_and_judged_per_node_in_configuration_states() {
    let Some(mut plane) = ControlPlane::start("states") else {
        return;
    };
    with_webhooks(&mut plane, "controller");
    plane.apply(
        "apiVersion: v1\nkind: Node\nmetadata: {name: node-1, labels: {rack: a}}\n---\napiVersion: v1\nkind: Node\nmetadata: {name: node-2, labels: {rack: b}}\n",
    );
    // Files in the order kubectl applies them: each refers to objects of later files.
    let dir = std::env::temp_dir().join(format!("ironlb-states-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in [
        (
            "1-peers.yaml",
            "apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: everywhere, namespace: metallb-system}
spec: {myASN: 65100, peerASN: 65000, peerAddress: 192.0.2.1}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a, namespace: metallb-system}
spec:
  myASN: 65100
  peerASN: 65000
  peerAddress: 192.0.2.2
  bfdProfile: fast
  passwordSecret: {name: rack-a-md5, namespace: metallb-system}
  nodeSelectors: [{matchLabels: {rack: a}}]
",
        ),
        (
            "2-advertisement.yaml",
            "apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: prod, namespace: metallb-system}
spec: {ipAddressPools: [prod], communities: [gold]}
",
        ),
        (
            "3-bfd.yaml",
            "apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 300, transmitInterval: 300}
",
        ),
        (
            "4-community.yaml",
            "apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: aliases, namespace: metallb-system}
spec: {communities: [{name: gold, value: '65000:100'}]}
",
        ),
        (
            "5-pool.yaml",
            "apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: prod, namespace: metallb-system}
spec: {addresses: [203.0.113.0/24]}
",
        ),
    ] {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let applied = plane.try_kubectl(&["apply", "-f", dir.to_str().unwrap()], None);
    std::fs::remove_dir_all(&dir).unwrap();
    let applied = applied.unwrap_or_else(|e| panic!("kubectl apply -f dir/ refused: {e}"));
    assert!(
        applied.contains("bgppeer.metallb.io/rack-a created"),
        "{applied}"
    );

    let speakers: Vec<usize> = ["node-1", "node-2"]
        .iter()
        .map(|node| {
            plane.plane.spawn(
                Path::new(IRONLB),
                &format!("speaker-{node}"),
                &[
                    "speaker",
                    "--kubernetes",
                    "--node",
                    node,
                    "--metrics-address",
                    "off",
                ],
            )
        })
        .collect();

    // The Secret rack-a names is missing: node-1's configuration is invalid, and says why;
    // node-2 (not selected by rack-a) and the controller (pools only) are valid.
    plane.wait_state(
        "speaker-node-1",
        "Invalid",
        "secret ref not found for peer config BGPPeer metallb-system/rack-a",
        "speaker-node-1",
    );
    plane.wait_state("speaker-node-2", "Valid", "", "speaker-node-2");
    plane.wait_state("controller", "Valid", "", "controller");
    // MetalLB's e2e: a Secret of the wrong type.
    plane.apply(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: rack-a-md5, namespace: metallb-system}\ntype: Opaque\nstringData: {password: s3cret}\n",
    );
    let invalid = plane.wait_state(
        "speaker-node-1",
        "Invalid",
        "secret type mismatch",
        "speaker-node-1",
    );
    assert_eq!(plane.configuration_state("speaker-node-2"), "Valid|");

    // Deleted, a ConfigurationState comes back with the verdict in force, Invalid included.
    plane.kubectl(&[
        "delete",
        "configurationstate",
        "speaker-node-1",
        "-n",
        "metallb-system",
    ]);
    let started = Instant::now();
    let again = plane.wait_for(
        &[
            "get",
            "configurationstate",
            "speaker-node-1",
            "-n",
            "metallb-system",
            "-o",
            "jsonpath={.status.result}|{.status.errorSummary}",
        ],
        |now| now.starts_with("Invalid|"),
        "speaker-node-1",
    );
    println!(
        "speaker-node-1's ConfigurationState written again {:?} after its deletion",
        started.elapsed()
    );
    assert_eq!(again, invalid);

    // The right Secret: node-1 is valid again.
    plane.kubectl(&["delete", "secret", "rack-a-md5", "-n", "metallb-system"]);
    plane.apply(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: rack-a-md5, namespace: metallb-system}\ntype: kubernetes.io/basic-auth\nstringData: {password: s3cret}\n",
    );
    plane.wait_state("speaker-node-1", "Valid", "", "speaker-node-1");
    for name in ["speaker-node-2", "controller"] {
        plane.kubectl(&["delete", "configurationstate", name, "-n", "metallb-system"]);
        plane.wait_state(name, "Valid", "", name);
    }

    // disableMP: admitted, with MetalLB's deprecation warning.
    let warned = plane
        .try_kubectl(
            &["apply", "--warnings-as-errors", "-f", "-"],
            Some(
                "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: legacy-mp, namespace: metallb-system}\nspec: {myASN: 65100, peerASN: 65000, peerAddress: 192.0.2.3, disableMP: true}\n",
            ),
        )
        .expect_err("kubectl --warnings-as-errors fails on the warning");
    assert!(
        warned.contains(
            "Warning: BGPPeer legacy-mp spec.disableMP: disableMP is deprecated and has no effect"
        ),
        "{warned}"
    );
    plane.kubectl(&["get", "bgppeer", "legacy-mp", "-n", "metallb-system"]);

    // The controller's events: a legacy annotation is warned about when the Service is
    // written; an invalid request of addresses keeps the address, with LoadBalancerFailed.
    plane.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: legacy\n  namespace: default\n  annotations: {metallb.universe.tf/address-pool: prod}\nspec:\n  type: LoadBalancer\n  selector: {app: legacy}\n  ports: [{port: 80}]\n",
    );
    let ip = plane.wait_external_ip("legacy", Duration::from_secs(30));
    plane.wait_for(
        &[
            "get",
            "events",
            "-n",
            "default",
            "--field-selector",
            "reason=deprecatedAnnotation",
            "-o",
            "jsonpath={.items[*].type} {.items[*].message}",
        ],
        |now| {
            now == "Warning Service uses deprecated annotation metallb.universe.tf/address-pool: use metallb.io/address-pool instead"
        },
        "controller",
    );
    plane.kubectl(&[
        "patch",
        "svc",
        "legacy",
        "--type=merge",
        "-p",
        r#"{"metadata": {"annotations": {"metallb.io/loadBalancerIPs": "203.0.113.50"}}, "spec": {"loadBalancerIP": "203.0.113.50"}}"#,
    ]);
    let message = plane.wait_for(
        &[
            "get",
            "events",
            "-n",
            "default",
            "--field-selector",
            "reason=LoadBalancerFailed",
            "-o",
            "jsonpath={.items[*].message}",
        ],
        |now| !now.is_empty(),
        "controller",
    );
    assert!(
        message.starts_with("invalid requested loadbalancer IPs: the Service sets both metallb.io/loadBalancerIPs and spec.loadBalancerIP"),
        "{message}"
    );
    assert_eq!(plane.external_ip("legacy"), ip, "the address is kept");
    assert_eq!(plane.events("LoadBalancerFailed"), message, "posted once");

    for speaker in speakers {
        plane.stop(speaker);
    }
}
