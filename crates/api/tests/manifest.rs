//! Reading manifests: every example deserialises, conversion is lossless, and bad input gets an
//! error naming the place, never a panic.

use ironlb_api::conversion::{bgppeer_to_v1beta1, bgppeer_to_v1beta2};
use ironlb_api::manifest::{self, ManifestError};
use ironlb_api::{Duration, Object, v1beta1, v1beta2};

fn parse(text: &str) -> Result<Vec<ironlb_api::Document>, ManifestError> {
    manifest::parse(text.as_bytes(), "test.yaml")
}

#[test]
fn every_example_manifest_deserialises_into_the_types() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut count = 0;
    for directory in std::fs::read_dir(root).unwrap() {
        for file in std::fs::read_dir(directory.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let documents = manifest::parse(&bytes, &path.display().to_string()).unwrap();
            for document in documents {
                let object = document
                    .result
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(
                    !matches!(object, Object::Other(_)),
                    "{}: unexpected kind",
                    path.display()
                );
                assert!(
                    document.warnings.is_empty(),
                    "{}: {:?}",
                    path.display(),
                    document.warnings
                );
                count += 1;
            }
        }
    }
    assert!(count >= 6, "expected the seed's objects, found {count}");
}

#[test]
fn v1beta1_bgppeer_is_converted_to_v1beta2() {
    let documents = parse(
        "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: tor1, namespace: metallb-system}\n\
         spec: {myASN: 65100, peerASN: 65000, peerAddress: 10.0.0.1, holdTime: 90s,\n\
         nodeSelectors: [{matchLabels: {rack: a}, matchExpressions: [{key: zone, operator: In, values: [z1]}]}]}\n",
    )
    .unwrap();
    let Ok(Object::BGPPeer(peer)) = &documents[0].result else {
        panic!("{:?}", documents[0].result)
    };
    assert_eq!(peer.spec.peer_asn, Some(65000));
    assert_eq!(peer.spec.hold_time, Some(Duration::from_secs(90)));
    assert_eq!(
        peer.spec.keepalive_time, None,
        "an omitted v1beta1 timer stays unset (IronLB)"
    );
    let selector = &peer.spec.node_selectors[0];
    assert_eq!(selector.match_labels.as_ref().unwrap()["rack"], "a");
    assert_eq!(
        selector.match_expressions.as_ref().unwrap()[0]
            .values
            .as_ref()
            .unwrap(),
        &["z1".to_string()]
    );
}

#[test]
fn v1beta1_keepalive_without_hold_keeps_metallbs_refusal() {
    let old = v1beta1::BGPPeer::new(
        "p",
        v1beta1::BGPPeerSpec {
            keepalive_time: Some(Duration::from_secs(30)),
            ..Default::default()
        },
    );
    let new = bgppeer_to_v1beta2(&old);
    assert_eq!(
        new.spec.hold_time,
        Some(Duration::ZERO),
        "MetalLB: hold 0s, keepalive 30s, refused"
    );
}

#[test]
fn v1beta1_round_trip_through_storage_version_is_unchanged() {
    let old = v1beta1::BGPPeer::new(
        "tor1",
        v1beta1::BGPPeerSpec {
            my_asn: 65100,
            peer_asn: 65000,
            peer_address: "10.0.0.1".into(),
            hold_time: Some(Duration::from_secs(90)),
            keepalive_time: Some(Duration::from_secs(30)),
            bfd_profile: "tor-bfd".into(),
            ebgp_multi_hop: Some(false),
            node_selectors: vec![v1beta1::NodeSelector {
                match_labels: [("rack".to_string(), "a".to_string())].into(),
                match_expressions: vec![],
            }],
            ..Default::default()
        },
    );
    assert_eq!(bgppeer_to_v1beta1(&bgppeer_to_v1beta2(&old)), old);
}

#[test]
fn v1beta2_round_trip_through_v1beta1_is_unchanged() {
    let new = v1beta2::BGPPeer::new(
        "tor1",
        v1beta2::BGPPeerSpec {
            my_asn: 65100,
            dynamic_asn: Some(v1beta2::DynamicAsnMode::External),
            interface: "eth1".into(),
            connect_time: Some(Duration::from_secs(5)),
            enable_graceful_restart: Some(true),
            vrf: "red".into(),
            dual_stack_address_family: Some(true),
            local_asn: Some(64999),
            ..Default::default()
        },
    );
    let old = bgppeer_to_v1beta1(&new);
    assert!(
        old.metadata.annotations.is_some(),
        "v1beta2-only fields are preserved in an annotation"
    );
    assert_eq!(bgppeer_to_v1beta2(&old), new);
}

#[test]
fn v1beta1_edit_keeps_v1beta2_only_fields() {
    let new = v1beta2::BGPPeer::new(
        "tor1",
        v1beta2::BGPPeerSpec {
            my_asn: 65100,
            peer_asn: Some(65000),
            peer_address: "10.0.0.1".into(),
            vrf: "red".into(),
            ..Default::default()
        },
    );
    let mut old = bgppeer_to_v1beta1(&new);
    old.spec.peer_address = "10.0.0.9".into();
    let back = bgppeer_to_v1beta2(&old);
    assert_eq!(back.spec.peer_address, "10.0.0.9");
    assert_eq!(back.spec.vrf, "red");
}

#[test]
fn wrong_field_type_names_object_and_field() {
    let documents = parse(
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: tor1, namespace: metallb-system}\n\
         spec: {myASN: sixty, peerAddress: 10.0.0.1}\n",
    )
    .unwrap();
    let error = documents[0].result.as_ref().unwrap_err();
    assert_eq!(error.field, "spec.myASN");
    assert_eq!(error.object.to_string(), "BGPPeer metallb-system/tor1");
    assert_eq!(error.origin.line, 1);
}

#[test]
fn bare_number_duration_is_refused_as_metallb_does() {
    let documents = parse(
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 1, holdTime: 90}\n",
    )
    .unwrap();
    assert_eq!(
        documents[0].result.as_ref().unwrap_err().field,
        "spec.holdTime"
    );
}

#[test]
fn unknown_fields_warn_and_are_ignored() {
    let documents = parse(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [10.0.0.0/24], colour: blue}\n",
    )
    .unwrap();
    assert!(documents[0].result.is_ok());
    assert_eq!(
        documents[0].warnings,
        ["spec.colour: unknown field, ignored"]
    );
}

#[test]
fn document_lines_are_reported() {
    let text = "# comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: b}\nspec: {receiveInterval: x}\n";
    let documents = parse(text).unwrap();
    assert_eq!(documents.len(), 2);
    assert_eq!(documents[0].origin.line, 3);
    assert_eq!(documents[1].origin.line, 7);
}

#[test]
fn lists_are_expanded() {
    let documents = parse(
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n",
    )
    .unwrap();
    assert_eq!(documents.len(), 2);
}

#[test]
fn unknown_metallb_version_is_an_object_error() {
    let documents =
        parse("apiVersion: metallb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: p}\n")
            .unwrap();
    assert_eq!(
        documents[0].result.as_ref().unwrap_err().field,
        "apiVersion"
    );
}

#[test]
fn garbage_bytes_are_an_error_not_a_panic() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..200 {
        let bytes: Vec<u8> = (0..512)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let _ = manifest::parse(&bytes, "garbage");
    }
}

#[test]
fn syntax_error_names_line() {
    match parse("apiVersion: v1\nkind: Namespace\nmetadata: {name: [a\n") {
        Err(ManifestError::Syntax { line, .. }) => assert!(line >= 3, "line {line}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn scalar_document_is_not_an_object() {
    assert!(matches!(
        parse("just text\n"),
        Err(ManifestError::NotAnObject { .. })
    ));
}

#[test]
fn huge_numbers_are_field_errors() {
    let documents = parse(
        "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: b}\nspec: {receiveInterval: 99999999999999999999999999}\n",
    )
    .unwrap();
    assert_eq!(
        documents[0].result.as_ref().unwrap_err().field,
        "spec.receiveInterval"
    );
    let documents = parse(
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 4294967296}\n",
    )
    .unwrap();
    assert_eq!(
        documents[0].result.as_ref().unwrap_err().field,
        "spec.myASN"
    );
}

#[test]
fn deeply_nested_yaml_is_refused() {
    let depth = 100_000;
    let text = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: a}}\nx: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(parse(&text).is_err());
    let block: String = (0..5_000)
        .map(|i| format!("{}- \n", "  ".repeat(i)))
        .collect();
    assert!(parse(&block).is_err());
}

#[test]
fn alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..30 {
        let previous = format!("*a{}", i - 1);
        text.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![previous; 10].join(", ")
        ));
    }
    assert!(parse(&text).is_err());
}

#[test]
fn fifty_megabyte_file_is_read_or_refused_without_panic() {
    // 50 MB in 500 objects with large annotations: below the limits, so it is read.
    let big_value = "x".repeat(100 * 1024);
    let one = format!(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, annotations: {{a: {big_value}}}}}\n"
    );
    let text = one.repeat(50 * 1024 * 1024 / one.len());
    let documents = parse(&text).expect("a 50 MB manifest of ordinary objects is read");
    assert_eq!(documents.len(), 50 * 1024 * 1024 / one.len());
    // 5 MB of empty documents: a separator storm, refused with the line where it stopped.
    let storm = "---\n".repeat(5 * 1024 * 1024 / 4);
    match parse(&storm) {
        Err(ManifestError::Syntax { line, message, .. }) => {
            assert!(
                line > 200_000 && message.contains("budget"),
                "{line} {message}"
            )
        }
        other => panic!(
            "a separator storm must be refused, got {:?}",
            other.map(|d| d.len())
        ),
    }
    // Beyond the size limit: refused before parsing.
    let too_big = vec![b' '; manifest::MAX_MANIFEST_BYTES + 1];
    assert!(matches!(
        manifest::parse(&too_big, "big"),
        Err(ManifestError::Unreadable { .. })
    ));
}
