//! IronLB's verdicts beyond MetalLB's: what MetalLB's FRR mode accepts but cannot act on (FRR
//! refuses it, or nothing implements it) is refused with a message saying so, never accepted
//! and ignored; what is deprecated is accepted with a warning saying what it does.

use ironlb_api::manifest;
use ironlb_config::{ErrorKind, Resources, ValidateOptions, validate, warnings};

fn resources(yaml: &str) -> Resources {
    let documents = manifest::parse(yaml.as_bytes(), "case.yaml").unwrap();
    let objects: Vec<_> = documents
        .iter()
        .map(|d| d.result.as_ref().unwrap())
        .collect();
    Resources::from_objects(objects)
}

fn errors(yaml: &str) -> Vec<(ErrorKind, String, String)> {
    match validate(&resources(yaml), &ValidateOptions::default()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .iter()
            .map(|e| (e.kind, e.object.to_string(), e.field.to_string()))
            .collect(),
    }
}

#[test]
fn peer_port_0_is_refused_as_the_crd_schema_refuses_it() {
    let found = errors(
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, peerPort: 0}\n",
    );
    assert_eq!(
        found,
        [(
            ErrorKind::OutOfRange,
            "BGPPeer p".into(),
            "spec.peerPort".into()
        )]
    );
}

#[test]
fn an_ipv6_router_id_is_refused_frr_would_refuse_it() {
    let found = errors(
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, routerID: '2001:db8::1'}\n",
    );
    assert_eq!(
        found,
        [(
            ErrorKind::InvalidRouterId,
            "BGPPeer p".into(),
            "spec.routerID".into()
        )]
    );
}

#[test]
fn bfd_echo_mode_is_refused_until_it_is_implemented() {
    let yaml = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: echo}\nspec: {echoMode: true}\n";
    assert_eq!(
        errors(yaml),
        [(
            ErrorKind::NotSupported,
            "BFDProfile echo".into(),
            "spec.echoMode".into()
        )]
    );
    let error = validate(&resources(yaml), &ValidateOptions::default()).unwrap_err();
    assert!(
        error[0].to_string().contains("not supported yet"),
        "{}",
        error[0]
    );
    assert!(errors("apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: no-echo}\nspec: {echoMode: false}\n").is_empty());
}

#[test]
fn disable_mp_is_accepted_with_a_deprecation_warning_saying_it_does_nothing() {
    let yaml = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, disableMP: true}\n";
    assert!(errors(yaml).is_empty());
    let warned = warnings(&resources(yaml));
    assert_eq!(warned.len(), 1);
    assert_eq!(warned[0].field, "spec.disableMP");
    assert!(warned[0].message.contains("deprecated") && warned[0].message.contains("no effect"));
}
