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
fn bfd_echo_mode_is_accepted_and_with_ipv6_refused_as_metallb_does() {
    // It acts: IronLB's BFD runs the Echo function (bfd_interop.rs and e2e.rs show FRR's
    // forwarding plane returning the packets, and a router that stops forwarding detected).
    let yaml = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: echo}\nspec: {echoMode: true, echoInterval: 50}\n";
    assert!(errors(yaml).is_empty());
    let Ok(config) = validate(&resources(yaml), &ValidateOptions::default()) else {
        panic!("valid")
    };
    let profile = &config.bfd_profiles["echo"];
    assert!(profile.echo_mode);
    assert_eq!(profile.echo_interval_ms, 50);
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

fn peer_errors(extra: &str) -> Vec<(ErrorKind, String, String)> {
    errors(&format!(
        "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {{name: p}}\nspec: {{myASN: 42, peerASN: 142, {extra}}}\n"
    ))
}

#[test]
fn bgp_unnumbered_is_accepted_and_keeps_metallbs_verdicts() {
    // It acts: the session runs to the router found on the interface (unnumbered.rs shows FRR
    // learning both families over it and forwarding).
    assert_eq!(peer_errors("interface: eth0"), []);
    // MetalLB refuses an interface together with an address, and a peer with neither.
    assert_eq!(
        peer_errors("interface: eth0, peerAddress: 1.2.3.4"),
        [(
            ErrorKind::BothAddressAndInterface,
            "BGPPeer p".into(),
            "spec.interface".into()
        )]
    );
    // With BFD too: towards the router found on the interface (unnumbered.rs).
    let yaml = "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: fast}\nspec: {}\n---\napiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 42, peerASN: 142, interface: eth0, bfdProfile: fast}\n";
    assert_eq!(errors(yaml), []);
    assert_eq!(
        peer_errors("routerID: 10.0.0.1"),
        [(
            ErrorKind::MissingPeerAddress,
            "BGPPeer p".into(),
            "spec.peerAddress".into()
        )]
    );
}

#[test]
fn a_vrf_is_refused_until_sessions_can_run_in_it() {
    assert_eq!(
        peer_errors("peerAddress: 1.2.3.4, vrf: red"),
        [(
            ErrorKind::NotSupported,
            "BGPPeer p".into(),
            "spec.vrf".into()
        )]
    );
    // An empty VRF is the default VRF, as in MetalLB.
    assert_eq!(peer_errors("peerAddress: 1.2.3.4, vrf: ''"), []);
}

#[test]
fn dual_stack_address_family_is_accepted_on_and_off() {
    // It acts: the session carries both families, the other family's routes with the next hop
    // of that family on the interface of the session (bgp_interop.rs shows FRR forwarding).
    for value in ["true", "false"] {
        assert_eq!(
            peer_errors(&format!(
                "peerAddress: 1.2.3.4, dualStackAddressFamily: {value}"
            )),
            []
        );
    }
}

#[test]
fn every_refusal_says_it_is_not_supported_and_what_to_do() {
    let yaml = "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, vrf: red}\n";
    let Err(errors) = validate(&resources(yaml), &ValidateOptions::default()) else {
        panic!("refused");
    };
    for error in errors.iter() {
        let text = error.to_string();
        assert!(text.contains("not supported yet"), "{text}");
        assert!(
            text.contains("instead") || text.contains("remove"),
            "{text}"
        );
    }
}

/// The README's table of every field: `(kind, field) -> what IronLB does`.
fn readme_fields() -> std::collections::BTreeMap<(String, String), String> {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("### Every field, and what IronLB does with it")
        .expect("README has the field table");
    readme[start..]
        .lines()
        .skip_while(|line| !line.starts_with("| kind |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 3, "README field row {line:?}");
            (
                (cells[0].to_string(), cells[1].trim_matches('`').to_string()),
                cells[2].to_string(),
            )
        })
        .collect()
}

/// Each field the README says is refused, with a manifest that uses it.
const REFUSED: [(&str, &str, &str); 1] = [(
    "BGPPeer",
    "vrf",
    "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: p}\nspec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, vrf: red}\n",
)];

#[test]
fn the_readme_names_every_field_of_metallbs_crds_and_its_refusals_are_real() {
    let table = readme_fields();
    // Every top-level spec field of the configuration kinds' storage versions, from MetalLB's
    // CRDs (the status kinds are written, not read).
    let crds = include_str!("../../api/tests/data/metallb-crd-fields.txt");
    let kinds = [
        ("ipaddresspools", "IPAddressPool"),
        ("bgpadvertisements", "BGPAdvertisement"),
        ("l2advertisements", "L2Advertisement"),
        ("bgppeers", "BGPPeer"),
        ("bfdprofiles", "BFDProfile"),
        ("communities", "Community"),
    ];
    let mut fields = std::collections::BTreeSet::new();
    for line in crds.lines().filter(|l| l.contains("storage=True")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((_, kind)) = kinds
            .iter()
            .find(|(plural, _)| words[0] == format!("{plural}.metallb.io"))
        else {
            continue;
        };
        let Some(field) = words[4].strip_prefix("spec.") else {
            continue;
        };
        if !field.contains(['.', '[']) {
            fields.insert((kind.to_string(), field.to_string()));
        }
    }
    assert!(fields.len() > 40, "{fields:?}");
    let named: std::collections::BTreeSet<_> = table.keys().cloned().collect();
    assert_eq!(
        fields.difference(&named).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "fields of MetalLB's CRDs missing from the README's table"
    );
    assert_eq!(
        named.difference(&fields).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "README rows naming no field of MetalLB's CRDs"
    );
    for (key, verdict) in &table {
        assert!(
            verdict.starts_with("acts") || verdict.starts_with("refused"),
            "{key:?}: {verdict:?} is neither acts nor refused"
        );
    }
    let refused: std::collections::BTreeSet<(String, String)> = table
        .iter()
        .filter(|(_, verdict)| verdict.starts_with("refused"))
        .map(|(key, _)| key.clone())
        .collect();
    let tested: std::collections::BTreeSet<(String, String)> = REFUSED
        .iter()
        .map(|(kind, field, _)| (kind.to_string(), field.to_string()))
        .collect();
    assert_eq!(refused, tested);
    for (kind, field, yaml) in REFUSED {
        let Err(errors) = validate(&resources(yaml), &ValidateOptions::default()) else {
            panic!("{kind} {field}: accepted");
        };
        assert!(
            errors
                .iter()
                .any(|e| e.kind == ErrorKind::NotSupported && e.field == format!("spec.{field}")),
            "{kind} {field}: {errors:?}"
        );
    }
}
