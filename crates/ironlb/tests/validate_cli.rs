//! `ironlb validate` as a user runs it: exit 0 valid, 1 invalid, 2 unreadable or not YAML.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn ironlb(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ironlb"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        input.write_all(bytes).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed");

#[test]
fn seed_manifests_are_valid() {
    let output = ironlb(&["validate", "-f", SEED], None);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    for expected in [
        "IPAddressPool metallb-system/prod-pool: 256 addresses (203.0.113.0/24)",
        "BGPPeer metallb-system/tor1: 10.0.0.1:179 AS 65100 -> AS 65000 (eBGP), hold 1m30s keepalive 30s, BFD tor-bfd",
        "BGPPeer metallb-system/tor2: 10.0.0.2:179",
        "communities 65000:100, localPref 100",
        "BFDProfile metallb-system/tor-bfd: receive 300ms transmit 300ms multiplier 3",
        "Service default/web: LoadBalancer, externalTrafficPolicy Local, ports 443/TCP",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }
}

#[test]
fn invalid_manifest_exits_1_and_names_kind_name_field() {
    let yaml = b"apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: tor1, namespace: metallb-system}\n\
spec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.1, holdTime: 2s}\n---\n\
apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [10.0.0.9-10.0.0.1]}\n";
    let output = ironlb(&["validate", "-f", "-"], Some(yaml));
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "BGPPeer metallb-system/tor1 spec.holdTime: invalid hold time 2s: must be 0 or >=3s"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("IPAddressPool metallb-system/p spec.addresses[0]: invalid IP range"),
        "{stdout}"
    );
    assert!(stdout.contains("invalid: 2 error(s)"), "{stdout}");
}

#[test]
fn non_yaml_exits_2_with_file_and_line() {
    let output = ironlb(
        &["validate", "-f", "-"],
        Some(b"apiVersion: v1\nkind: Namespace\nmetadata: {name: [\n"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("<stdin>:"),
        "{}",
        text(&output.stderr)
    );
    let output = ironlb(&["validate", "-f", "/nonexistent/path"], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("/nonexistent/path"));
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let output = ironlb(&["validate", "-f", "-"], Some(&garbage));
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}

#[test]
fn unknown_field_is_a_warning_not_a_failure() {
    let yaml = b"apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [203.0.113.0/24], autoAsign: false}\n";
    let output = ironlb(&["validate", "-f", "-"], Some(yaml));
    assert_eq!(output.status.code(), Some(0));
    assert!(text(&output.stderr).contains("spec.autoAsign: unknown field, ignored"));
}

#[test]
fn crds_command_prints_nine_crds() {
    let output = ironlb(&["crds"], None);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        text(&output.stdout)
            .matches("kind: CustomResourceDefinition")
            .count(),
        9
    );
}
