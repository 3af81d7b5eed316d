//! The install artifacts stay in step with the binary and keep their promises:
//! - `deploy/crds.yaml` and `charts/ironlb/crds/crds.yaml` are exactly `ironlb crds`;
//! - every YAML document under `deploy/` parses and names its apiVersion, kind and name;
//! - no ClusterRole grants Secrets (they are read only in metallb-system, through a Role);
//! - the speaker cannot write Services;
//! - the speaker writes ServiceL2Status as it writes ServiceBGPStatus, in its namespace only;
//! - the speaker has exactly one capability, NET_RAW, and runs as root so that it takes effect,
//!   in deploy/ and in the chart alike.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const REGENERATE: &str = "regenerate with: cargo run -p ironlb -- crds > deploy/crds.yaml && cp deploy/crds.yaml charts/ironlb/crds/crds.yaml";

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crds_output() -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ironlb"))
        .arg("crds")
        .output()
        .expect("run ironlb crds");
    assert!(
        output.status.success(),
        "ironlb crds failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("ironlb crds prints UTF-8")
}

fn assert_same_as_binary(relative: &str, expected: &str) {
    let path = repository().join(relative);
    let actual = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {relative}: {e}; {REGENERATE}"));
    if actual != expected {
        let line = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "one is a prefix of the other".to_string(),
                |n| format!("first difference at line {}", n + 1),
            );
        panic!("{relative} differs from the output of `ironlb crds` ({line}); {REGENERATE}");
    }
}

#[test]
fn crds_are_the_binary_output() {
    let expected = crds_output();
    assert_same_as_binary("deploy/crds.yaml", &expected);
    assert_same_as_binary("charts/ironlb/crds/crds.yaml", &expected);
}

fn yaml_files(directory: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", directory.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, found);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            found.push(path);
        }
    }
}

/// Every document of every YAML file under `relative`, with the file it came from.
fn documents(relative: &str) -> Vec<(String, Value)> {
    let root = repository().join(relative);
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(!files.is_empty(), "no YAML file under {relative}");
    let mut all = Vec::new();
    for path in files {
        let name = path
            .strip_prefix(repository())
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        // CRD schemas nest deeply; a roomy stack keeps debug builds clear of overflow.
        let parsed = std::thread::Builder::new()
            .stack_size(32 << 20)
            .spawn(move || serde_saphyr::from_multiple::<Value>(&text).map_err(|e| e.to_string()))
            .expect("spawn parser thread")
            .join()
            .expect("parser thread");
        let parsed = parsed.unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"));
        for document in parsed {
            if !document.is_null() {
                all.push((name.clone(), document));
            }
        }
    }
    all
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn deploy_documents_are_kubernetes_objects() {
    let documents = documents("deploy");
    for (file, document) in &documents {
        for field in ["/apiVersion", "/kind", "/metadata/name"] {
            assert!(
                text(document, field).is_some_and(|s| !s.is_empty()),
                "{file}: a document without {field}: {document}"
            );
        }
    }
    let kinds: Vec<&str> = documents
        .iter()
        .filter_map(|(_, d)| text(d, "/kind"))
        .collect();
    for kind in [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "Role",
        "Deployment",
        "DaemonSet",
        "Service",
        "ValidatingWebhookConfiguration",
        "Kustomization",
    ] {
        assert!(kinds.contains(&kind), "deploy/ has no {kind}");
    }
}

fn grants(rule: &Value, group: &str, resource: &str) -> bool {
    let groups = strings(rule.get("apiGroups"));
    let resources = strings(rule.get("resources"));
    (groups.contains(&group) || groups.contains(&"*"))
        && resources.iter().any(|r| {
            *r == "*"
                || *r == resource
                || r.strip_prefix(resource)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
}

fn rules(role: &Value) -> Vec<&Value> {
    role.get("rules")
        .and_then(Value::as_array)
        .map(|rules| rules.iter().collect())
        .unwrap_or_default()
}

#[test]
fn no_cluster_role_grants_secrets() {
    for (file, document) in documents("deploy") {
        if text(&document, "/kind") != Some("ClusterRole") {
            continue;
        }
        let name = text(&document, "/metadata/name").unwrap_or("?");
        for rule in rules(&document) {
            assert!(
                !grants(rule, "", "secrets"),
                "{file}: ClusterRole {name} grants Secrets cluster-wide: {rule}"
            );
        }
    }
    // The chart's templates are not YAML before rendering; their ClusterRole documents are
    // checked as text.
    let templates = repository().join("charts/ironlb/templates");
    let mut files = Vec::new();
    yaml_files(&templates, &mut files);
    for path in files {
        let content = std::fs::read_to_string(&path).expect("read template");
        for document in content.split("\n---") {
            if document.contains("kind: ClusterRole\n") {
                assert!(
                    !document.contains("secrets") && !document.contains("\"*\""),
                    "{}: a ClusterRole mentions secrets or \"*\"",
                    path.strip_prefix(repository()).unwrap_or(&path).display()
                );
            }
        }
    }
}

#[test]
fn speaker_cannot_write_services() {
    let documents = documents("deploy");
    let speaker_roles: Vec<(String, String)> = documents
        .iter()
        .filter(|(_, d)| matches!(text(d, "/kind"), Some("RoleBinding" | "ClusterRoleBinding")))
        .filter(|(_, binding)| {
            binding
                .get("subjects")
                .and_then(Value::as_array)
                .is_some_and(|subjects| {
                    subjects.iter().any(|s| {
                        text(s, "/kind") == Some("ServiceAccount")
                            && text(s, "/name") == Some("speaker")
                    })
                })
        })
        .filter_map(|(_, binding)| {
            Some((
                text(binding, "/roleRef/kind")?.to_string(),
                text(binding, "/roleRef/name")?.to_string(),
            ))
        })
        .collect();
    assert!(
        speaker_roles.iter().any(|(kind, _)| kind == "ClusterRole"),
        "the speaker is bound to no ClusterRole: {speaker_roles:?}"
    );
    let mut checked = 0;
    for (kind, name) in &speaker_roles {
        let role = documents
            .iter()
            .find(|(_, d)| {
                text(d, "/kind") == Some(kind) && text(d, "/metadata/name") == Some(name)
            })
            .unwrap_or_else(|| {
                panic!("the speaker is bound to {kind} {name}, which deploy/ lacks")
            });
        checked += 1;
        for rule in rules(&role.1) {
            if !grants(rule, "", "services") {
                continue;
            }
            let verbs = strings(rule.get("verbs"));
            for verb in [
                "create",
                "update",
                "patch",
                "delete",
                "deletecollection",
                "*",
            ] {
                assert!(
                    !verbs.contains(&verb),
                    "{}: {kind} {name} lets the speaker {verb} Services: {rule}",
                    role.0
                );
            }
        }
    }
    assert!(checked > 0);
}

/// The verbs a Role or ClusterRole document grants on `resource` (a subresource included).
fn verbs_on<'a>(role: &'a Value, resource: &str) -> Vec<&'a str> {
    let mut verbs: Vec<&str> = rules(role)
        .into_iter()
        .filter(|rule| strings(rule.get("resources")).contains(&resource))
        .flat_map(|rule| strings(rule.get("verbs")))
        .collect();
    verbs.sort();
    verbs.dedup();
    verbs
}

#[test]
fn the_speaker_writes_servicel2statuses_as_servicebgpstatuses_in_its_namespace_only() {
    let documents = documents("deploy");
    let role = |kind: &str, name: &str| {
        documents
            .iter()
            .find(|(_, d)| {
                text(d, "/kind") == Some(kind) && text(d, "/metadata/name") == Some(name)
            })
            .map(|(_, d)| d)
            .unwrap_or_else(|| panic!("deploy/ has no {kind} {name}"))
    };
    let speaker = role("Role", "ironlb-speaker");
    for (l2, bgp) in [
        ("servicel2statuses", "servicebgpstatuses"),
        ("servicel2statuses/status", "servicebgpstatuses/status"),
    ] {
        assert!(
            !verbs_on(speaker, l2).is_empty(),
            "the speaker's Role lacks {l2}"
        );
        assert_eq!(
            verbs_on(speaker, l2),
            verbs_on(speaker, bgp),
            "{l2} vs {bgp}"
        );
    }
    assert_eq!(
        text(speaker, "/metadata/namespace"),
        Some("metallb-system"),
        "a Role in IronLB's namespace"
    );
    // Nobody else, and no ClusterRole (every namespace), grants them.
    for (file, document) in &documents {
        let kind = text(document, "/kind");
        let name = text(document, "/metadata/name").unwrap_or("?");
        if !matches!(kind, Some("Role" | "ClusterRole")) || name == "ironlb-speaker" {
            continue;
        }
        for rule in rules(document) {
            assert!(
                !grants(rule, "metallb.io", "servicel2statuses"),
                "{file}: {kind:?} {name} grants servicel2statuses: {rule}"
            );
        }
    }
    // The chart's Role says the same (its templates are checked as text).
    let chart =
        std::fs::read_to_string(repository().join("charts/ironlb/templates/rbac.yaml")).unwrap();
    let chart_role = chart
        .split("\n---")
        .find(|d| d.contains("kind: Role\n") && d.contains("name: ironlb-speaker\n"))
        .expect("the chart has the speaker's Role");
    assert!(
        chart_role.contains(
            "  resources: [servicel2statuses, servicel2statuses/status]\n  verbs: [get, list, watch, create, update, patch, delete]\n"
        ),
        "the chart's speaker Role:\n{chart_role}"
    );
    assert_eq!(chart.matches("servicel2statuses,").count(), 1, "{chart}");
}

#[test]
fn the_speaker_has_net_raw_only_and_runs_as_root_for_it() {
    let documents = documents("deploy");
    let (_, speaker) = documents
        .iter()
        .find(|(_, d)| {
            text(d, "/kind") == Some("DaemonSet")
                && text(d, "/metadata/name") == Some("ironlb-speaker")
        })
        .expect("deploy/ has the speaker's DaemonSet");
    let pod = &speaker["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], 0, "{pod}");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], false, "{pod}");
    let containers = pod["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 1);
    let context = &containers[0]["securityContext"];
    assert_eq!(strings(context.pointer("/capabilities/drop")), ["ALL"]);
    assert_eq!(strings(context.pointer("/capabilities/add")), ["NET_RAW"]);
    assert_eq!(context["allowPrivilegeEscalation"], false);
    assert_eq!(context["readOnlyRootFilesystem"], true);
    assert!(context.get("privileged").is_none_or(|p| p == false));
    // The chart: the same lines (rendered and compared by the install test in kubernetes.rs).
    let chart =
        std::fs::read_to_string(repository().join("charts/ironlb/templates/speaker.yaml")).unwrap();
    for line in [
        "        runAsNonRoot: false\n        runAsUser: 0\n",
        "            drop: [ALL]\n",
        "            add:\n            - NET_RAW\n",
        "          allowPrivilegeEscalation: false\n",
        "          readOnlyRootFilesystem: true\n",
    ] {
        assert!(chart.contains(line), "the chart's speaker lacks {line:?}");
    }
    assert!(!chart.contains("runAsNonRoot: true"), "{chart}");
}

#[test]
fn the_image_is_built_without_the_lab() {
    let dockerfile = std::fs::read_to_string(repository().join("Dockerfile")).unwrap();
    let build = dockerfile
        .lines()
        .find(|line| line.contains("cargo build"))
        .expect("the Dockerfile builds with cargo");
    assert!(
        build.contains("--no-default-features"),
        "the image must not carry `ironlb lab`: {build}"
    );
    // What that build links: no lab crate.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "ironlb",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(repository())
        .output()
        .expect("cargo tree runs");
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let tree = String::from_utf8_lossy(&tree.stdout);
    assert!(
        tree.lines().any(|l| l.starts_with("ironlb-speaker")),
        "{tree}"
    );
    assert!(
        !tree.lines().any(|l| l.starts_with("ironlb-lab")),
        "the production binary links the lab: {tree}"
    );
}

#[test]
fn the_readme_layout_names_every_crate_and_top_level_directory() {
    let readme = std::fs::read_to_string(repository().join("README.md")).unwrap();
    let layout = readme
        .split("## Layout")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README has a Layout section");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(repository().join("crates")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if !layout.contains(&format!("`crates/{name}`")) {
            missing.push(format!("crates/{name}"));
        }
    }
    for directory in [
        "examples", "scripts", ".ci", "deploy", "charts", "tools", "fuzz",
    ] {
        if !layout.contains(directory) {
            missing.push(directory.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "README's Layout does not name {missing:?}"
    );
}
