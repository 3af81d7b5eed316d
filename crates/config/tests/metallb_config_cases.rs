//! MetalLB's configuration test tables, ported as metallb.io YAML with MetalLB's verdicts.
//!
//! Each case is a manifest (what a user would `kubectl apply`) and the verdict MetalLB gives it
//! in its FRR modes: valid, or the exact errors as (kind, `Kind/name`, field). The comment
//! above a case names the MetalLB test it comes from (`config_test.go` `TestParse` unless
//! another file or test is named); cases derived from MetalLB's code rather than a test name the
//! function. The cases are re-expressed, not copied: names, addresses and ASNs may differ, and
//! MetalLB's many unnamed objects get names (IronLB refuses unnamed objects, as the API server
//! would).
//!
//! Where IronLB deliberately differs from MetalLB, the case says so:
//! - MetalLB's `TestParse` runs without the FRR-mode peer checks; IronLB always applies them
//!   (it judges like MetalLB's FRR modes), so peers in ported valid cases agree on routerID and
//!   myASN.
//! - Features MetalLB's native Go speaker refuses (`validation.go` `DiscardFRROnly`: BFD, keepalive,
//!   vrf, connectTime, graceful restart, dualStackAddressFamily, dynamicASN, interface, localASN,
//!   IPv6 pools in BGP advertisements, large communities) are accepted, as in FRR mode.
//! - BGPPeer fields IronLB cannot act on yet (`vrf`) are refused as not supported; MetalLB's
//!   verdicts on cases using them are compared without those refusals
//!   ([`UNSUPPORTED_PEER_FIELDS`]). `interface` (BGP unnumbered) acts, as in FRR mode.
//! - Bounds that MetalLB leaves to the CRD schema or its CEL rules are checked by IronLB too.
//! - v1beta1 BGPPeer timers that are omitted stay unset (see `ironlb_api::conversion`).
//! - Every error is collected; MetalLB stops at the first. So a case lists every error.

use std::net::IpAddr;

use ironlb_api::Duration;
use ironlb_api::manifest;
use ironlb_config::{
    Config, ConfigError, ErrorKind, Password, PeerAddress, PeerAsn, Resources, ValidateOptions,
    validate,
};

/// BGPPeer fields IronLB refuses as not supported, leaving MetalLB's verdict otherwise alone.
const UNSUPPORTED_PEER_FIELDS: [&str; 1] = ["spec.vrf"];

/// One expected error: kind, `Kind/name` of the object at fault, field.
type Want = (ErrorKind, &'static str, &'static str);

enum Verdict {
    Valid,
    /// Valid, and the resulting configuration passes this check.
    ValidAnd(fn(&Config)),
    /// Exactly these errors, in any order. Compared as sets: IronLB may report one triple more
    /// than once (once per overlapping CIDR of a range, once per conflicting peer), which is
    /// presentation, not verdict.
    Invalid(&'static [Want]),
}

struct Case {
    name: &'static str,
    yaml: &'static str,
    verdict: Verdict,
}

fn valid(name: &'static str, yaml: &'static str) -> Case {
    Case {
        name,
        yaml,
        verdict: Verdict::Valid,
    }
}

fn valid_and(name: &'static str, yaml: &'static str, check: fn(&Config)) -> Case {
    Case {
        name,
        yaml,
        verdict: Verdict::ValidAnd(check),
    }
}

fn invalid(name: &'static str, yaml: &'static str, errors: &'static [Want]) -> Case {
    Case {
        name,
        yaml,
        verdict: Verdict::Invalid(errors),
    }
}

/// Decodes a manifest and validates it as IronLB does: decode failures become
/// [`ErrorKind::Decode`] errors next to the validation errors of the objects that decoded.
fn load(yaml: &str) -> Result<Config, Vec<ConfigError>> {
    let documents = manifest::parse(yaml.as_bytes(), "case.yaml")
        .unwrap_or_else(|error| panic!("the fixture is not a manifest: {error}"));
    let mut objects = Vec::new();
    let mut errors = Vec::new();
    for document in &documents {
        match &document.result {
            Ok(object) => objects.push(object),
            Err(error) => errors.push(ConfigError::from_object_error(error)),
        }
    }
    let resources = Resources::from_objects(objects);
    match validate(&resources, &ValidateOptions::default()) {
        Ok(config) if errors.is_empty() => Ok(config),
        Ok(_) => Err(errors),
        Err(more) => {
            errors.extend(more);
            Err(errors)
        }
    }
}

fn described(errors: &[ConfigError]) -> Vec<(ErrorKind, String, String)> {
    let mut list: Vec<_> = errors
        .iter()
        .map(|e| {
            (
                e.kind,
                format!("{}/{}", e.object.kind, e.object.name),
                e.field.clone(),
            )
        })
        .collect();
    list.sort();
    list.dedup();
    list
}

fn check(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        // MetalLB's verdicts are compared without IronLB's refusals of fields it cannot act
        // on yet (checked on their own in not_supported.rs): a case MetalLB finds valid and
        // IronLB refuses only for those is MetalLB's verdict plus IronLB's honesty.
        let result = load(case.yaml).map_err(|errors| {
            let verdicts: Vec<ConfigError> = errors
                .into_iter()
                .filter(|e| {
                    !(e.kind == ErrorKind::NotSupported
                        && UNSUPPORTED_PEER_FIELDS.contains(&e.field.as_str()))
                })
                .collect();
            (!verdicts.is_empty()).then_some(verdicts)
        });
        let result = match result {
            Err(None) => {
                if matches!(case.verdict, Verdict::Invalid(_)) {
                    failures.push(format!(
                        "{}: expected errors, got only IronLB's not-supported refusals",
                        case.name
                    ));
                }
                continue;
            }
            Err(Some(errors)) => Err(errors),
            Ok(config) => Ok(config),
        };
        match (&case.verdict, result) {
            (Verdict::Valid, Ok(_)) => {}
            (Verdict::ValidAnd(inspect), Ok(config)) => {
                if let Err(panic) = std::panic::catch_unwind(|| inspect(&config)) {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!(
                        "{}: configuration check failed: {message}",
                        case.name
                    ));
                }
            }
            (Verdict::Valid | Verdict::ValidAnd(_), Err(errors)) => {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                failures.push(format!(
                    "{}: expected valid, got {:#?}\n{}",
                    case.name,
                    described(&errors),
                    messages.join("\n")
                ));
            }
            (Verdict::Invalid(_), Ok(_)) => {
                failures.push(format!(
                    "{}: expected errors, got a valid config",
                    case.name
                ));
            }
            (Verdict::Invalid(wanted), Err(errors)) => {
                let mut expected: Vec<(ErrorKind, String, String)> = wanted
                    .iter()
                    .map(|(kind, object, field)| (*kind, object.to_string(), field.to_string()))
                    .collect();
                expected.sort();
                expected.dedup();
                let got = described(&errors);
                if got != expected {
                    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    failures.push(format!(
                        "{}: expected {expected:#?}\ngot {got:#?}\n{}",
                        case.name,
                        messages.join("\n")
                    ));
                }
                for error in &errors {
                    let transient = matches!(
                        error.kind,
                        ErrorKind::MissingBfdProfile
                            | ErrorKind::MissingSecret
                            | ErrorKind::UnknownCommunity
                    );
                    if error.is_transient() != transient {
                        failures.push(format!("{}: wrong transience for {error}", case.name));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

fn secs(seconds: i64) -> Duration {
    Duration::from_secs(seconds)
}

fn millis(milliseconds: i64) -> Duration {
    Duration::from_millis(milliseconds)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn cidrs(config: &Config, pool: &str) -> Vec<String> {
    config.pools[pool]
        .cidrs()
        .map(ToString::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// IPAddressPool
// ---------------------------------------------------------------------------------------------

fn pool_cases() -> Vec<Case> {
    vec![
        // "config using all features" (pool3): CIDR, range, range with spaces, one-address range.
        valid_and(
            "pool_cidr_ranges_spaced_range_and_single_address_range",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool3}
spec:
  addresses:
  - 40.0.0.0/25
  - 40.0.0.150-40.0.0.200
  - 40.0.0.210 - 40.0.0.240
  - 40.0.0.250 - 40.0.0.250
"#,
            |config| {
                assert_eq!(
                    cidrs(config, "pool3"),
                    [
                        "40.0.0.0/25",
                        "40.0.0.150/31",
                        "40.0.0.152/29",
                        "40.0.0.160/27",
                        "40.0.0.192/29",
                        "40.0.0.200/32",
                        "40.0.0.210/31",
                        "40.0.0.212/30",
                        "40.0.0.216/29",
                        "40.0.0.224/28",
                        "40.0.0.240/32",
                        "40.0.0.250/32",
                    ]
                );
            },
        ),
        // "config using all features" (pool1): autoAssign false, avoidBuggyIPs; host bits masked
        // as in "different local pref - same peers and nodes" (10.20.30.40/24).
        valid_and(
            "pool_flags_and_host_bits_masked",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [10.20.0.0/16, 10.50.0.0/24, 10.60.30.40/24]
  avoidBuggyIPs: true
  autoAssign: false
"#,
            |config| {
                let pool = &config.pools["pool1"];
                assert!(!pool.auto_assign && pool.avoid_buggy_ips);
                assert_eq!(
                    cidrs(config, "pool1"),
                    ["10.20.0.0/16", "10.50.0.0/24", "10.60.30.0/24"]
                );
            },
        ),
        // e2e webhooks "Should recognize overlapping addresses in two AddressPools": the second,
        // adjacent range is accepted.
        valid(
            "pools_adjacent_ranges_do_not_overlap",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: webhooks-test1}
spec: {addresses: [1.1.1.1-1.1.1.100]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: webhooks-test2}
spec: {addresses: [1.1.1.101-1.1.1.200]}
"#,
        ),
        // "config using all features" (pool4) and TestServiceSelectors "... both default
        // aggregationLength and aggregationLengthV6 is allowed": IPv6 and dual-stack pools.
        valid(
            "pools_ipv6_and_dual_stack",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool4}
spec: {addresses: ["2001:db8::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dual}
spec: {addresses: [1.2.3.0/24, "1000::/64", "1001::1-1001::ff"]}
"#,
        ),
        // "ip address pool with namespace selection"
        valid_and(
            "pool_namespace_selection",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [10.20.0.0/16, 10.50.0.0/24]
  avoidBuggyIPs: true
  autoAssign: false
  serviceAllocation: {priority: 1, namespaces: [test-ns1]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2}
spec:
  addresses: [30.0.0.0/8]
  serviceAllocation:
    priority: 2
    namespaceSelectors: [{matchLabels: {team: metallb}}]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool3}
spec:
  addresses: [40.0.0.0/8]
  serviceAllocation:
    priority: 3
    namespaceSelectors: [{matchLabels: {team: red}}]
---
apiVersion: v1
kind: Namespace
metadata: {name: test-ns1}
---
apiVersion: v1
kind: Namespace
metadata:
  name: test-ns2
  labels: {team: metallb}
"#,
            |config| {
                let namespaces = |pool: &str| {
                    let allocation = config.pools[pool].service_allocation.as_ref().unwrap();
                    (allocation.priority, allocation.namespaces.clone())
                };
                assert_eq!(namespaces("pool1"), (1, ["test-ns1".to_string()].into()));
                assert_eq!(namespaces("pool2"), (2, ["test-ns2".to_string()].into()));
                assert_eq!(namespaces("pool3"), (3, Default::default()));
            },
        ),
        // "ip address pool with service selection"
        valid(
            "pool_service_selection",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [30.0.0.0/8]
  serviceAllocation:
    priority: 2
    serviceSelectors: [{matchLabels: {team: metallb}}]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2}
spec:
  addresses: [40.0.0.0/8]
  serviceAllocation:
    priority: 3
    serviceSelectors: [{matchLabels: {team: red}}]
"#,
        ),
        // "ip address pool with namespace and service selection"
        valid(
            "pool_namespace_and_service_selection",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [30.0.0.0/8]
  serviceAllocation:
    priority: 2
    namespaces: [test-ns1]
    serviceSelectors: [{matchLabels: {testsvc-1: "1"}}]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2}
spec:
  addresses: [40.0.0.0/8]
  serviceAllocation:
    priority: 3
    namespaceSelectors: [{matchLabels: {team: metallb}}]
    serviceSelectors: [{matchLabels: {testsvc-2: "2"}}]
---
apiVersion: v1
kind: Namespace
metadata: {name: test-ns1}
---
apiVersion: v1
kind: Namespace
metadata: {name: test-ns2, labels: {team: metallb}}
"#,
        ),
        // "ip address pool with only priority"
        valid(
            "pool_service_allocation_with_only_priority",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [10.20.0.0/16, 10.50.0.0/24]
  serviceAllocation: {priority: 1}
"#,
        ),
        // "no pool name"
        invalid(
            "pool_missing_name",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {}
spec: {addresses: [10.0.0.0/24]}
"#,
            &[(ErrorKind::MissingName, "IPAddressPool/", "metadata.name")],
        ),
        // "address pool with no address"
        invalid(
            "pool_empty_address_list",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: []}
"#,
            &[(
                ErrorKind::NoAddresses,
                "IPAddressPool/pool1",
                "spec.addresses",
            )],
        ),
        // "address pool with no protocol": no spec at all. MetalLB's schema requires
        // spec.addresses, so the object does not decode.
        invalid(
            "pool_without_addresses_field",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {autoAssign: true}
"#,
            &[(ErrorKind::Decode, "IPAddressPool/pool1", "spec")],
        ),
        // "invalid pool CIDR"
        invalid(
            "pool_cidr_octets_out_of_range",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [100.200.300.400/24]}
"#,
            &[(
                ErrorKind::InvalidCidr,
                "IPAddressPool/pool1",
                "spec.addresses[0]",
            )],
        ),
        // "invalid pool CIDR prefix length"
        invalid(
            "pool_cidr_prefix_33",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/33]}
"#,
            &[(
                ErrorKind::InvalidCidr,
                "IPAddressPool/pool1",
                "spec.addresses[0]",
            )],
        ),
        // Derived from config.go ParseCIDR (net.ParseCIDR): an IPv6 prefix beyond 128.
        invalid(
            "pool_ipv6_prefix_129",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: ["2001:db8::/129"]}
"#,
            &[(
                ErrorKind::InvalidCidr,
                "IPAddressPool/pool1",
                "spec.addresses[0]",
            )],
        ),
        // Derived from config.go ParseCIDR: an address without a prefix length is no CIDR.
        invalid(
            "pool_address_without_prefix_length",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.1]}
"#,
            &[(
                ErrorKind::InvalidCidr,
                "IPAddressPool/pool1",
                "spec.addresses[0]",
            )],
        ),
        // "duplicate CIDRs" / "overlapping CIDRs": MetalLB's fixtures write " 10.0.0.0/8" with a
        // leading space, which is what actually fails there (net.ParseCIDR refuses spaces).
        invalid(
            "pool_cidr_with_leading_space",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [" 10.0.0.0/8"]}
"#,
            &[(
                ErrorKind::InvalidCidr,
                "IPAddressPool/pool1",
                "spec.addresses[0]",
            )],
        ),
        // "invalid pool CIDR, first address of the range is after the second"
        invalid(
            "pool_range_reversed",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.10-1.2.3.1]}
"#,
            &[(
                ErrorKind::InvalidRange,
                "IPAddressPool/pool1",
                "spec.addresses[0]",
            )],
        ),
        // Derived from config.go ParseCIDR. IronLB refuses a range whose ends are of different
        // families. MetalLB refuses "2001:db8::1-10.0.0.1" (start after end) but silently
        // accepts "10.0.0.1-2001:db8::1" as an entry with no addresses (ipaddr.Summarize returns
        // nothing); IronLB does not copy that.
        invalid(
            "pool_range_mixed_families",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.1-2001:db8::1, 2001:db8::1-10.0.0.1]}
"#,
            &[
                (
                    ErrorKind::InvalidRange,
                    "IPAddressPool/pool1",
                    "spec.addresses[0]",
                ),
                (
                    ErrorKind::InvalidRange,
                    "IPAddressPool/pool1",
                    "spec.addresses[1]",
                ),
            ],
        ),
        // Derived from config.go ParseCIDR: "invalid start IP".
        invalid(
            "pool_range_bad_start",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.300-10.0.0.5]}
"#,
            &[(
                ErrorKind::InvalidRange,
                "IPAddressPool/pool1",
                "spec.addresses[0]",
            )],
        ),
        // Derived from config.go ParseCIDR: "invalid end IP", also for a second dash.
        invalid(
            "pool_range_bad_end",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.1-10.0.0, 10.1.0.1-10.1.0.5-10.1.0.9]}
"#,
            &[
                (
                    ErrorKind::InvalidRange,
                    "IPAddressPool/pool1",
                    "spec.addresses[0]",
                ),
                (
                    ErrorKind::InvalidRange,
                    "IPAddressPool/pool1",
                    "spec.addresses[1]",
                ),
            ],
        ),
        // "overlapping CIDRs" (without the leading space): reported on the later pool.
        invalid(
            "pools_overlap_across_pools",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.0/8]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2}
spec: {addresses: [10.0.0.0/16]}
"#,
            &[(
                ErrorKind::OverlappingCidr,
                "IPAddressPool/pool2",
                "spec.addresses[0]",
            )],
        ),
        // "duplicate CIDRs" (without the leading space): an equal CIDR overlaps.
        invalid(
            "pools_same_cidr_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.0/8]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2}
spec: {addresses: [10.0.0.0/8]}
"#,
            &[(
                ErrorKind::OverlappingCidr,
                "IPAddressPool/pool2",
                "spec.addresses[0]",
            )],
        ),
        // Derived from config.go poolsFor: overlap is checked within a pool as well.
        invalid(
            "pool_overlaps_itself",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.0/24, 10.0.1.0/24, 10.0.0.128/25]}
"#,
            &[(
                ErrorKind::OverlappingCidr,
                "IPAddressPool/pool1",
                "spec.addresses[2]",
            )],
        ),
        // e2e webhooks "Should recognize overlapping addresses in two AddressPools": a range
        // inside another pool's range, then a CIDR covering it.
        invalid(
            "pools_range_inside_other_range",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: webhooks-test1}
spec: {addresses: [1.1.1.1-1.1.1.100]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: webhooks-test2}
spec: {addresses: [1.1.1.15-1.1.1.20]}
"#,
            &[(
                ErrorKind::OverlappingCidr,
                "IPAddressPool/webhooks-test2",
                "spec.addresses[0]",
            )],
        ),
        invalid(
            "pools_cidr_covering_other_range",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: webhooks-test1}
spec: {addresses: [1.1.1.1-1.1.1.100]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: webhooks-test2}
spec: {addresses: [1.1.1.0/24]}
"#,
            &[(
                ErrorKind::OverlappingCidr,
                "IPAddressPool/webhooks-test2",
                "spec.addresses[0]",
            )],
        ),
        // "duplicate pool definition" (with addresses, so only the name is wrong).
        invalid(
            "pool_name_defined_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.1.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2}
spec: {addresses: [10.2.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.3.0.0/16]}
"#,
            &[(
                ErrorKind::DuplicateName,
                "IPAddressPool/pool1",
                "metadata.name",
            )],
        ),
        // "ip address pool with duplicate namespace selection"
        invalid(
            "pool_service_allocation_namespace_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [10.20.0.0/16, 10.50.0.0/24]
  serviceAllocation: {priority: 1, namespaces: [test-ns1, test-ns1]}
---
apiVersion: v1
kind: Namespace
metadata: {name: test-ns1}
"#,
            &[(
                ErrorKind::DuplicateValue,
                "IPAddressPool/pool1",
                "spec.serviceAllocation.namespaces",
            )],
        ),
        // "ip address pool with duplicate namespace selectors"
        invalid(
            "pool_service_allocation_namespace_selector_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [10.20.0.0/16]
  serviceAllocation:
    priority: 1
    namespaceSelectors:
    - matchLabels: {foo: bar}
    - matchLabels: {foo: bar}
"#,
            &[(
                ErrorKind::DuplicateSelector,
                "IPAddressPool/pool1",
                "spec.serviceAllocation.namespaceSelectors[1]",
            )],
        ),
        // "ip address pool with duplicate service selection": a value twice in one expression.
        invalid(
            "pool_service_selector_value_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [30.0.0.0/8]
  serviceAllocation:
    priority: 2
    serviceSelectors:
    - matchExpressions: [{key: foo, operator: In, values: [bar, bar]}]
"#,
            &[(
                ErrorKind::DuplicateValue,
                "IPAddressPool/pool1",
                "spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].values",
            )],
        ),
        // TestServiceSelectors "duplicate service selectors", in a pool's serviceAllocation.
        invalid(
            "pool_service_selector_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [30.0.0.0/8]
  serviceAllocation:
    serviceSelectors:
    - matchLabels: {app: nginx}
    - matchLabels: {app: nginx}
"#,
            &[(
                ErrorKind::DuplicateSelector,
                "IPAddressPool/pool1",
                "spec.serviceAllocation.serviceSelectors[1]",
            )],
        ),
        // Derived from config.go addressPoolServiceAllocationsFromCR ("invalid namespace label
        // selector"): the operator must be one Kubernetes knows.
        invalid(
            "pool_namespace_selector_bad_operator",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec:
  addresses: [30.0.0.0/8]
  serviceAllocation:
    namespaceSelectors:
    - matchExpressions: [{key: team, operator: Like, values: [red]}]
"#,
            &[(
                ErrorKind::InvalidSelector,
                "IPAddressPool/pool1",
                "spec.serviceAllocation.namespaceSelectors[0]",
            )],
        ),
    ]
}

#[test]
fn metallb_pool_cases() {
    check(&pool_cases());
}

// ---------------------------------------------------------------------------------------------
// BGPPeer (single peers; the FRR-mode rules between peers are in the next table)
// ---------------------------------------------------------------------------------------------

fn peer_cases() -> Vec<Case> {
    vec![
        // "peer-only"
        valid_and(
            "peer_ibgp_minimal",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4}
"#,
            |config| {
                let peer = &config.peers["peer1"];
                assert_eq!(peer.my_asn.get(), 42);
                assert!(matches!(peer.peer_asn, PeerAsn::Fixed(asn) if asn.get() == 42));
                assert_eq!(peer.address, PeerAddress::Address(ip("1.2.3.4")));
                assert_eq!(peer.port, 179);
                assert!(!peer.ebgp_multi_hop);
            },
        ),
        // "peer with holdtime only": keepalive is a third of it.
        valid_and(
            "peer_hold_time_only",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, holdTime: 180s}
"#,
            |config| {
                let timers = config.peers["peer1"].timers.unwrap();
                assert_eq!((timers.hold, timers.keepalive), (secs(180), secs(60)));
            },
        ),
        // "peer with keepalive only": hold is three times it. MetalLB native refuses
        // keepaliveTime (validation_test.go TestValidate "keepalive time"); IronLB accepts it.
        valid_and(
            "peer_keepalive_time_only",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, keepaliveTime: 60s}
"#,
            |config| {
                let timers = config.peers["peer1"].timers.unwrap();
                assert_eq!((timers.hold, timers.keepalive), (secs(180), secs(60)));
            },
        ),
        // "peer with zero hold/keepalive timers"
        valid_and(
            "peer_zero_timers",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, holdTime: 0s, keepaliveTime: 0s}
"#,
            |config| {
                let timers = config.peers["peer1"].timers.unwrap();
                assert_eq!((timers.hold, timers.keepalive), (secs(0), secs(0)));
            },
        ),
        // "peer without hold/keepalive timers"
        valid_and(
            "peer_without_timers",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4}
"#,
            |config| assert_eq!(config.peers["peer1"].timers, None),
        ),
        // Derived from config.go parseTimers: the hold time is truncated to whole seconds before
        // the ">= 3s" check, so 500ms passes as 0.
        valid_and(
            "peer_hold_time_500ms_truncates_to_zero",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, holdTime: 500ms}
"#,
            |config| assert_eq!(config.peers["peer1"].timers.unwrap().hold, millis(500)),
        ),
        // Derived from config.go parseTimers: keepalive equal to hold, and exactly 3s, pass.
        valid(
            "peer_keepalive_equal_to_hold_of_3s",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, holdTime: 3s, keepaliveTime: 3s}
"#,
        ),
        // "empty node selector (select everything)"
        valid_and(
            "peer_empty_node_selector",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  nodeSelectors: [{}]
"#,
            |config| assert!(config.peers["peer1"].node_selectors[0].is_everything()),
        ),
        // "config using all features" (peer2): a selector with matchLabels and matchExpressions.
        valid(
            "peer_node_selector_labels_and_expressions",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec:
  myASN: 100
  peerASN: 200
  peerAddress: 2.3.4.5
  connectTime: 1s
  nodeSelectors:
  - matchLabels: {foo: bar}
    matchExpressions: [{key: bar, operator: In, values: [quux]}]
"#,
        ),
        // "peer with dynamic asn". MetalLB native refuses dynamicASN (TestValidate "dynamic ASN").
        valid_and(
            "peer_dynamic_asn",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, dynamicASN: internal, peerAddress: 1.2.3.4}
"#,
            |config| assert_eq!(config.peers["peer1"].peer_asn, PeerAsn::Internal),
        ),
        // "unnumbered peer without address with interface ok". MetalLB native refuses interface
        // (TestValidate "interface").
        valid_and(
            "peer_unnumbered_interface",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, dynamicASN: external, interface: net0}
"#,
            |config| {
                let peer = &config.peers["peer1"];
                assert_eq!(peer.address, PeerAddress::Interface("net0".into()));
                assert_eq!(peer.peer_asn, PeerAsn::External);
            },
        ),
        // "peer with DisableMP field". MetalLB native refuses it (TestValidate "disable BGP MP").
        valid(
            "peer_disable_mp",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, disableMP: true}
"#,
        ),
        // "peer with localASN field". MetalLB native refuses it (TestValidate "localASN").
        valid_and(
            "peer_local_asn",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 100, peerASN: 200, peerAddress: 1.2.3.4, localASN: 65410}
"#,
            |config| assert_eq!(config.peers["peer1"].local_asn.unwrap().get(), 65410),
        ),
        // "config using all features" (peer1): port, hold, connect time, routerID, source,
        // graceful restart, multihop, vrf. MetalLB native refuses connectTime, graceful restart
        // and vrf (TestValidate "connect time", "enable BGP GracefulRestart"; DiscardFRROnly).
        valid_and(
            "peer_all_session_options",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 142
  peerAddress: 1.2.3.4
  peerPort: 1179
  holdTime: 180s
  connectTime: 1s
  routerID: 10.20.30.40
  sourceAddress: 10.20.30.40
  enableGracefulRestart: true
  ebgpMultiHop: true
  vrf: foo
"#,
            |config| {
                let peer = &config.peers["peer1"];
                assert_eq!(peer.port, 1179);
                assert_eq!(peer.timers.unwrap().keepalive, secs(60));
                assert_eq!(peer.connect_time, Some(secs(1)));
                assert_eq!(peer.router_id, Some(ip("10.20.30.40")));
                assert_eq!(peer.source_address, Some(ip("10.20.30.40")));
                assert!(peer.graceful_restart && peer.ebgp_multi_hop);
                assert_eq!(peer.vrf, "foo");
            },
        ),
        // validation.go DiscardFRROnly: MetalLB native refuses keepaliveTime and
        // dualStackAddressFamily; FRR mode (and IronLB) accept them. IPv6 routerID is not
        // checked to be IPv4 (config.go peerFromCR).
        valid(
            "peer_keepalive_and_dual_stack_address_family",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 64512
  peerASN: 64513
  peerAddress: "2001:db8::1"
  holdTime: 90s
  keepaliveTime: 10s
  dualStackAddressFamily: true
"#,
        ),
        // Derived from the connectTime CEL rules (bgppeer_types.go): 1s and 65535s are the bounds.
        valid(
            "peer_connect_time_bounds",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, connectTime: 1s}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.5, connectTime: 65535s}
"#,
        ),
        // "BGP Peer with a valid secret"
        valid_and(
            "peer_password_from_secret",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerPort: 179
  peerAddress: 1.2.3.4
  passwordSecret: {name: bgpsecret, namespace: metallb-system}
---
apiVersion: v1
kind: Secret
metadata: {name: bgpsecret, namespace: metallb-system}
type: kubernetes.io/basic-auth
data: {password: bm9wYXNz}
"#,
            |config| {
                let password = config.peers["peer1"].password.as_ref().unwrap();
                assert!(
                    matches!(password, Password::FromSecret { secret, .. } if secret == "bgpsecret")
                );
                assert_eq!(password.value(), "nopass");
            },
        ),
        // Derived from config.go passwordFromSecretForPeer: the Secret is looked up by name in
        // MetalLB's namespace; the namespace in the reference is ignored.
        valid(
            "peer_secret_reference_namespace_is_ignored",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  passwordSecret: {name: bgpsecret, namespace: elsewhere}
---
apiVersion: v1
kind: Secret
metadata: {name: bgpsecret, namespace: metallb-system}
type: kubernetes.io/basic-auth
data: {password: bm9wYXNz}
"#,
        ),
        // Derived from config.go peerFromCR: the multihop check compares the literal peerASN,
        // so eBGP and dynamicASN peers may set it.
        valid(
            "peer_ebgp_multihop_on_ebgp_and_dynamic_peers",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, ebgpMultiHop: true}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec: {myASN: 42, dynamicASN: internal, peerAddress: 1.2.3.5, ebgpMultiHop: true}
"#,
        ),
        // "invalid peer-address"
        invalid(
            "peer_address_octet_out_of_range",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.400}
"#,
            &[(
                ErrorKind::InvalidPeerAddress,
                "BGPPeer/peer1",
                "spec.peerAddress",
            )],
        ),
        // e2e webhooks "Should reject invalid BGPPeer IP address"
        invalid(
            "peer_address_three_octets",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: webhooks-test}
spec: {myASN: 1000, peerASN: 64500, peerAddress: 1.1.1}
"#,
            &[(
                ErrorKind::InvalidPeerAddress,
                "BGPPeer/webhooks-test",
                "spec.peerAddress",
            )],
        ),
        // "invalid my-asn": myASN 0.
        invalid(
            "peer_my_asn_zero",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 0, peerASN: 42, peerAddress: 1.2.3.4}
"#,
            &[(ErrorKind::MissingLocalAsn, "BGPPeer/peer1", "spec.myASN")],
        ),
        // "invalid my-asn" as written (myASN omitted): the schema requires myASN, so the object
        // does not decode.
        invalid(
            "peer_my_asn_omitted",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {peerASN: 42, peerAddress: 1.2.3.4}
"#,
            &[(ErrorKind::Decode, "BGPPeer/peer1", "spec")],
        ),
        // "invalid peer-asn" / "peer without asn or dynamic asn"
        invalid(
            "peer_without_peer_asn_or_dynamic_asn",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerAddress: 1.2.3.4}
"#,
            &[(ErrorKind::MissingPeerAsn, "BGPPeer/peer1", "spec.peerASN")],
        ),
        // "peer with both asn and dynamic asn"
        invalid(
            "peer_with_peer_asn_and_dynamic_asn",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, dynamicASN: internal, peerAddress: 1.2.3.4}
"#,
            &[(
                ErrorKind::BothPeerAsnAndDynamicAsn,
                "BGPPeer/peer1",
                "spec.dynamicASN",
            )],
        ),
        // Derived from config.go peerFromCR ("invalid dynamicASN") and the schema enum.
        invalid(
            "peer_dynamic_asn_unknown_mode",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, dynamicASN: sideways, peerAddress: 1.2.3.4}
"#,
            &[(ErrorKind::Decode, "BGPPeer/peer1", "spec.dynamicASN")],
        ),
        // "invalid ebgp-multihop"
        invalid(
            "peer_ebgp_multihop_on_ibgp",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, ebgpMultiHop: true}
"#,
            &[(
                ErrorKind::EbgpMultiHopOnIbgp,
                "BGPPeer/peer1",
                "spec.ebgpMultiHop",
            )],
        ),
        // "invalid keepalivetime larger than holdtime"
        invalid(
            "peer_keepalive_longer_than_hold",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, holdTime: 30s, keepaliveTime: 90s}
"#,
            &[(
                ErrorKind::InvalidKeepaliveTime,
                "BGPPeer/peer1",
                "spec.keepaliveTime",
            )],
        ),
        // Derived from config.go parseTimers: a keepalive with hold 0 is above the hold time.
        invalid(
            "peer_keepalive_with_zero_hold",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, holdTime: 0s, keepaliveTime: 10s}
"#,
            &[(
                ErrorKind::InvalidKeepaliveTime,
                "BGPPeer/peer1",
                "spec.keepaliveTime",
            )],
        ),
        // "invalid hold time (too short)"
        invalid(
            "peer_hold_time_1s",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, holdTime: 1s}
"#,
            &[(ErrorKind::InvalidHoldTime, "BGPPeer/peer1", "spec.holdTime")],
        ),
        // Derived from config.go parseTimers: 2500ms truncates to 2s, which is below 3s.
        invalid(
            "peer_hold_time_2500ms",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, holdTime: 2500ms}
"#,
            &[(ErrorKind::InvalidHoldTime, "BGPPeer/peer1", "spec.holdTime")],
        ),
        // Derived from config.go parseTimers: keepalive 500ms alone implies hold 1.5s (1s once
        // truncated), which is refused.
        invalid(
            "peer_keepalive_500ms_alone_implies_too_short_hold",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, keepaliveTime: 500ms}
"#,
            &[(ErrorKind::InvalidHoldTime, "BGPPeer/peer1", "spec.holdTime")],
        ),
        // "invalid RouterID"
        invalid(
            "peer_invalid_router_id",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, routerID: oh god how do I BGP}
"#,
            &[(ErrorKind::InvalidRouterId, "BGPPeer/peer1", "spec.routerID")],
        ),
        // Derived from config.go peerFromCR ("invalid source IP").
        invalid(
            "peer_invalid_source_address",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, sourceAddress: 10.20.30}
"#,
            &[(
                ErrorKind::InvalidSourceAddress,
                "BGPPeer/peer1",
                "spec.sourceAddress",
            )],
        ),
        // "unnumbered peer without address without interface nok"
        invalid(
            "peer_without_address_or_interface",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: invalid}
spec: {myASN: 42, dynamicASN: internal}
"#,
            &[(
                ErrorKind::MissingPeerAddress,
                "BGPPeer/invalid",
                "spec.peerAddress",
            )],
        ),
        // "unnumbered peer with address with interface nok"
        invalid(
            "peer_with_address_and_interface",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: invalid}
spec: {myASN: 42, dynamicASN: internal, peerAddress: 1.2.3.4, interface: net0}
"#,
            &[(
                ErrorKind::BothAddressAndInterface,
                "BGPPeer/invalid",
                "spec.interface",
            )],
        ),
        // "invalid expression node selector (missing key)": an absent key reads as "", which
        // the selector conversion refuses (as metav1.LabelSelectorAsSelector does).
        invalid(
            "peer_node_selector_expression_without_key",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {foo: bar}
    matchExpressions: [{operator: In, values: [quux]}]
"#,
            &[(
                ErrorKind::InvalidSelector,
                "BGPPeer/peer1",
                "spec.nodeSelectors[0]",
            )],
        ),
        // "invalid expression node selector (missing key)" with an empty key: refused by the
        // selector conversion.
        invalid(
            "peer_node_selector_expression_with_empty_key",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {foo: bar}
    matchExpressions: [{key: "", operator: In, values: [quux]}]
"#,
            &[(
                ErrorKind::InvalidSelector,
                "BGPPeer/peer1",
                "spec.nodeSelectors[0]",
            )],
        ),
        // "invalid expression node selector (missing operator)": an absent operator reads as "".
        invalid(
            "peer_node_selector_expression_without_operator",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {foo: bar}
    matchExpressions: [{key: bar, values: [quux]}]
"#,
            &[(
                ErrorKind::InvalidSelector,
                "BGPPeer/peer1",
                "spec.nodeSelectors[0]",
            )],
        ),
        // "invalid expression node selector (invalid operator)"
        invalid(
            "peer_node_selector_invalid_operator",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {foo: bar}
    matchExpressions: [{key: bar, operator: surrounds, values: [quux]}]
"#,
            &[(
                ErrorKind::InvalidSelector,
                "BGPPeer/peer1",
                "spec.nodeSelectors[0]",
            )],
        ),
        // Derived from metav1.LabelSelectorAsSelector (used by config.go peerFromCR): In needs
        // values.
        invalid(
            "peer_node_selector_in_without_values",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchExpressions: [{key: bar, operator: In, values: []}]
"#,
            &[(
                ErrorKind::InvalidSelector,
                "BGPPeer/peer1",
                "spec.nodeSelectors[0]",
            )],
        ),
        // "duplicate values node selector match expression"
        invalid(
            "peer_node_selector_value_twice",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer}
spec:
  myASN: 100
  peerASN: 200
  peerAddress: 2.3.4.5
  ebgpMultiHop: false
  nodeSelectors:
  - matchLabels: {foo: bar}
    matchExpressions: [{key: bar, operator: In, values: [quux, quux]}]
"#,
            &[(
                ErrorKind::DuplicateValue,
                "BGPPeer/peer",
                "spec.nodeSelectors[0].matchExpressions[0].values",
            )],
        ),
        // Derived from config.go validateLabelSelectorDuplicate (called by peerFromCR).
        invalid(
            "peer_node_selector_twice",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {rack: a}
  - matchLabels: {rack: a}
"#,
            &[(
                ErrorKind::DuplicateSelector,
                "BGPPeer/peer1",
                "spec.nodeSelectors[1]",
            )],
        ),
        // Derived from config.go validateLabelSelectorDuplicate: values are sorted before
        // selectors are compared, so In [a, b] and In [b, a] are the same selector.
        invalid(
            "peer_node_selectors_equal_once_values_sorted",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchExpressions: [{key: rack, operator: In, values: [a, b]}]
  - matchExpressions: [{key: rack, operator: In, values: [b, a]}]
"#,
            &[(
                ErrorKind::DuplicateSelector,
                "BGPPeer/peer1",
                "spec.nodeSelectors[1]",
            )],
        ),
        // Derived from config.go validateLabelSelectorDuplicate: selectors are compared as
        // written (LabelSelector.String()), so matchLabels {rack: a} and the expression
        // rack In [a] are different selectors, as are the same expressions in another order.
        valid(
            "peer_node_selectors_differently_written_are_not_duplicates",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {rack: a}
  - matchExpressions: [{key: rack, operator: In, values: [a]}]
  - matchExpressions: [{key: rack, operator: In, values: [b]}, {key: zone, operator: Exists}]
  - matchExpressions: [{key: zone, operator: Exists}, {key: rack, operator: In, values: [b]}]
"#,
        ),
        // "BGP Peer with both password and secret ref set"
        invalid(
            "peer_password_and_password_secret",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  password: nopass
  passwordSecret: {name: nosecret, namespace: metallb-system}
"#,
            &[(
                ErrorKind::BothPasswordAndSecret,
                "BGPPeer/peer1",
                "spec.passwordSecret",
            )],
        ),
        // "BGP Peer with unavailable secret ref" (transient: the Secret may come later).
        invalid(
            "peer_password_secret_missing",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  passwordSecret: {name: nosecret, namespace: metallb-system}
"#,
            &[(
                ErrorKind::MissingSecret,
                "BGPPeer/peer1",
                "spec.passwordSecret",
            )],
        ),
        // Derived from config.go passwordFromSecretForPeer: only Secrets of MetalLB's namespace
        // are known, so one elsewhere is missing.
        invalid(
            "peer_password_secret_in_other_namespace",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  passwordSecret: {name: bgpsecret, namespace: default}
---
apiVersion: v1
kind: Secret
metadata: {name: bgpsecret, namespace: default}
type: kubernetes.io/basic-auth
data: {password: bm9wYXNz}
"#,
            &[(
                ErrorKind::MissingSecret,
                "BGPPeer/peer1",
                "spec.passwordSecret",
            )],
        ),
        // "BGP Peer with invalid secret type"
        invalid(
            "peer_password_secret_wrong_type",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  passwordSecret: {name: bgpsecret, namespace: metallb-system}
---
apiVersion: v1
kind: Secret
metadata: {name: bgpsecret, namespace: metallb-system}
type: Opaque
data: {password: bm9wYXNz}
"#,
            &[(
                ErrorKind::SecretTypeMismatch,
                "BGPPeer/peer1",
                "spec.passwordSecret",
            )],
        ),
        // "BGP Peer without password set in the secret"
        invalid(
            "peer_password_secret_without_password",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 42
  peerAddress: 1.2.3.4
  passwordSecret: {name: bgpsecret, namespace: metallb-system}
---
apiVersion: v1
kind: Secret
metadata: {name: bgpsecret, namespace: metallb-system}
type: kubernetes.io/basic-auth
data: {username: bm9wYXNz}
"#,
            &[(
                ErrorKind::SecretWithoutPassword,
                "BGPPeer/peer1",
                "spec.passwordSecret",
            )],
        ),
        // "Peer with non existing BFD Profile" (transient: the profile may come later).
        invalid(
            "peer_bfd_profile_missing",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, bfdProfile: default}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv3}
spec: {}
"#,
            &[(
                ErrorKind::MissingBfdProfile,
                "BGPPeer/peer1",
                "spec.bfdProfile",
            )],
        ),
        // connectTime CEL rule (bgppeer_types.go): at least one second.
        invalid(
            "peer_connect_time_zero",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, connectTime: 0s}
"#,
            &[(
                ErrorKind::InvalidConnectTime,
                "BGPPeer/peer1",
                "spec.connectTime",
            )],
        ),
        // connectTime CEL rule: at most 65535 seconds.
        invalid(
            "peer_connect_time_above_65535s",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, connectTime: 65536s}
"#,
            &[(
                ErrorKind::InvalidConnectTime,
                "BGPPeer/peer1",
                "spec.connectTime",
            )],
        ),
        // connectTime CEL rule: a whole number of seconds.
        invalid(
            "peer_connect_time_fraction_of_second",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, connectTime: 1500ms}
"#,
            &[(
                ErrorKind::InvalidConnectTime,
                "BGPPeer/peer1",
                "spec.connectTime",
            )],
        ),
        // peerPort schema bounds (bgppeer_types.go: 1..16384).
        invalid(
            "peer_port_above_16384",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, peerPort: 16385}
"#,
            &[(ErrorKind::OutOfRange, "BGPPeer/peer1", "spec.peerPort")],
        ),
        // localASN schema bounds (bgppeer_types.go: minimum 1).
        invalid(
            "peer_local_asn_zero",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 100, peerASN: 200, peerAddress: 1.2.3.4, localASN: 0}
"#,
            &[(ErrorKind::OutOfRange, "BGPPeer/peer1", "spec.localASN")],
        ),
        // Two objects with one name cannot exist in a cluster; in a directory they are refused.
        invalid(
            "peer_name_defined_twice",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.5}
"#,
            &[(ErrorKind::DuplicateName, "BGPPeer/tor", "metadata.name")],
        ),
    ]
}

#[test]
fn metallb_peer_cases() {
    check(&peer_cases());
}

// ---------------------------------------------------------------------------------------------
// FRR-mode peer compatibility (validation_test.go TestValidateFRR unless noted). MetalLB's
// fixtures there leave ASNs and names out; here every peer is otherwise valid.
// ---------------------------------------------------------------------------------------------

fn frr_cases() -> Vec<Case> {
    vec![
        // "peer with routerid"
        valid(
            "frr_single_peer_with_router_id",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4, routerID: 1.2.3.4}
"#,
        ),
        // "routerid set, one different": the third peer conflicts with both others.
        invalid(
            "frr_router_id_one_different",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4, routerID: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.5, routerID: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-c}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.6, routerID: 1.2.3.5}
"#,
            &[(
                ErrorKind::RouterIdMismatch,
                "BGPPeer/peer-c",
                "spec.routerID",
            )],
        ),
        // "routerid set, one not set"
        invalid(
            "frr_router_id_one_unset",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4, routerID: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.5, routerID: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-c}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.6}
"#,
            &[(
                ErrorKind::RouterIdMismatch,
                "BGPPeer/peer-c",
                "spec.routerID",
            )],
        ),
        // "bfd profile set": a BFDProfile object is fine in FRR mode. MetalLB native refuses any
        // BFDProfile (TestValidate "bfd profile set").
        valid(
            "frr_bfd_profile_object",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4, routerID: 1.2.3.4}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: foo}
spec: {}
"#,
        ),
        // "myAsn set, all equals"
        valid(
            "frr_my_asn_all_equal",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 123, peerASN: 64513, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 123, peerASN: 64513, peerAddress: 1.2.3.5}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-c}
spec: {myASN: 123, peerASN: 64513, peerAddress: 1.2.3.6}
"#,
        ),
        // "myAsn set, one different"
        invalid(
            "frr_my_asn_one_different",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 123, peerASN: 64513, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 123, peerASN: 64513, peerAddress: 1.2.3.5}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-c}
spec: {myASN: 124, peerASN: 64513, peerAddress: 1.2.3.6}
"#,
            &[(ErrorKind::MyAsnMismatch, "BGPPeer/peer-c", "spec.myASN")],
        ),
        // "myAsn set, one different but with different vrf"
        valid(
            "frr_my_asn_differs_in_other_vrf",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 123, peerASN: 64513, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 123, peerASN: 64513, peerAddress: 1.2.3.5}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-c}
spec: {myASN: 124, peerASN: 64513, peerAddress: 1.2.3.6, vrf: red}
"#,
        ),
        // "myAsn set, two different but with different vrf"
        valid(
            "frr_my_asn_per_vrf",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 123, peerASN: 64513, peerAddress: 1.2.3.4, vrf: red}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 123, peerASN: 64513, peerAddress: 1.2.3.5, vrf: red}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-c}
spec: {myASN: 124, peerASN: 64513, peerAddress: 1.2.3.6}
"#,
        ),
        // "duplicate bgp address"; also config_test.go "duplicate peers".
        invalid(
            "frr_same_address_twice",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4}
"#,
            &[(
                ErrorKind::DuplicatePeer,
                "BGPPeer/peer2",
                "spec.peerAddress",
            )],
        ),
        // Derived from validation.go PeerIdentifier: the port is not part of a peer's identity.
        invalid(
            "frr_same_address_on_another_port",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, peerPort: 1179}
"#,
            &[(
                ErrorKind::DuplicatePeer,
                "BGPPeer/peer2",
                "spec.peerAddress",
            )],
        ),
        // "duplicate bgp address, different vrfs"
        valid(
            "frr_same_address_in_different_vrfs",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4, vrf: red}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-c}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4, vrf: green}
"#,
        ),
        // "duplicate bgp address, same vrf"
        invalid(
            "frr_same_address_twice_in_one_vrf",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4, vrf: red}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-c}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 1.2.3.4, vrf: red}
"#,
            &[(
                ErrorKind::DuplicatePeer,
                "BGPPeer/peer-c",
                "spec.peerAddress",
            )],
        ),
        // "two peers with interface set different"
        valid(
            "frr_unnumbered_peers_on_different_interfaces",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 123, dynamicASN: external, interface: eth0}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 123, dynamicASN: external, interface: eth1}
"#,
        ),
        // "two peers with interface set same"
        invalid(
            "frr_unnumbered_peers_on_one_interface",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-a}
spec: {myASN: 123, dynamicASN: external, interface: eth0}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer-b}
spec: {myASN: 123, dynamicASN: external, interface: eth0}
"#,
            &[(
                ErrorKind::DuplicatePeer,
                "BGPPeer/peer-b",
                "spec.peerAddress",
            )],
        ),
        // "duplicate address, disjoint hostname selectors"; e2e webhooks "FRR - Should allow two
        // BGPPeers with the same address when nodeSelectors are disjoint".
        valid(
            "frr_same_address_on_disjoint_nodes",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node2}}]
---
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {kubernetes.io/hostname: node1}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {kubernetes.io/hostname: node2}}
"#,
        ),
        // "duplicate address, overlapping hostname selectors"; e2e webhooks "FRR - Should reject
        // two BGPPeers with the same address and overlapping nodeSelectors".
        invalid(
            "frr_same_address_on_shared_node",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {kubernetes.io/hostname: node1}}
"#,
            &[(
                ErrorKind::DuplicatePeer,
                "BGPPeer/peer2",
                "spec.peerAddress",
            )],
        ),
        // "duplicate address, one peer without nodeSelector matches all nodes"
        invalid(
            "frr_same_address_one_peer_on_all_nodes",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 64500, peerASN: 64500, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {kubernetes.io/hostname: node1}}
"#,
            &[(
                ErrorKind::DuplicatePeer,
                "BGPPeer/peer2",
                "spec.peerAddress",
            )],
        ),
        // "duplicate address, disjoint selectors but no nodes known (conservative)"
        invalid(
            "frr_same_address_disjoint_selectors_without_nodes",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node2}}]
"#,
            &[(
                ErrorKind::DuplicatePeer,
                "BGPPeer/peer2",
                "spec.peerAddress",
            )],
        ),
        // "three peers same address, all on distinct nodes"
        valid(
            "frr_same_address_three_distinct_nodes",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node2}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer3}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node3}}]
---
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {kubernetes.io/hostname: node1}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {kubernetes.io/hostname: node2}}
---
apiVersion: v1
kind: Node
metadata: {name: node3, labels: {kubernetes.io/hostname: node3}}
"#,
        ),
        // "three peers same address, third overlaps with first"
        invalid(
            "frr_same_address_third_peer_overlaps_first",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node2}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer3}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}]
---
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {kubernetes.io/hostname: node1}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {kubernetes.io/hostname: node2}}
"#,
            &[(
                ErrorKind::DuplicatePeer,
                "BGPPeer/peer3",
                "spec.peerAddress",
            )],
        ),
        // "duplicate address, multiple nodeSelectors (OR), disjoint"
        valid(
            "frr_same_address_or_selectors_disjoint",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {kubernetes.io/hostname: node1}
  - matchLabels: {kubernetes.io/hostname: node2}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {kubernetes.io/hostname: node3}
  - matchLabels: {kubernetes.io/hostname: node4}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Node, metadata: {name: node1, labels: {kubernetes.io/hostname: node1}}}
- {apiVersion: v1, kind: Node, metadata: {name: node2, labels: {kubernetes.io/hostname: node2}}}
- {apiVersion: v1, kind: Node, metadata: {name: node3, labels: {kubernetes.io/hostname: node3}}}
- {apiVersion: v1, kind: Node, metadata: {name: node4, labels: {kubernetes.io/hostname: node4}}}
"#,
        ),
        // "duplicate address, multiple nodeSelectors (OR), overlap via second selector"
        invalid(
            "frr_same_address_or_selectors_overlap",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {kubernetes.io/hostname: node1}
  - matchLabels: {kubernetes.io/hostname: node2}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec:
  myASN: 64500
  peerASN: 64500
  peerAddress: 1.2.3.4
  nodeSelectors:
  - matchLabels: {kubernetes.io/hostname: node3}
  - matchLabels: {kubernetes.io/hostname: node2}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Node, metadata: {name: node1, labels: {kubernetes.io/hostname: node1}}}
- {apiVersion: v1, kind: Node, metadata: {name: node2, labels: {kubernetes.io/hostname: node2}}}
- {apiVersion: v1, kind: Node, metadata: {name: node3, labels: {kubernetes.io/hostname: node3}}}
"#,
            &[(
                ErrorKind::DuplicatePeer,
                "BGPPeer/peer2",
                "spec.peerAddress",
            )],
        ),
        // Derived from validation.go checkFRRPeersCompatible/peersShareNode: peers that cannot
        // meet on a node may differ in routerID and myASN.
        valid(
            "frr_router_id_and_my_asn_differ_on_disjoint_nodes",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-a}
spec:
  myASN: 64501
  peerASN: 64500
  peerAddress: 10.0.1.1
  routerID: 10.0.1.10
  nodeSelectors: [{matchLabels: {rack: a}}]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: rack-b}
spec:
  myASN: 64502
  peerASN: 64500
  peerAddress: 10.0.2.1
  routerID: 10.0.2.10
  nodeSelectors: [{matchLabels: {rack: b}}]
---
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {rack: a}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {rack: b}}
"#,
        ),
        // config_test.go "config using all features", as written: MetalLB's TestParse skips the
        // FRR checks, but in FRR mode peer2 (no routerID) conflicts with peer1's routerID. Its
        // myASN differs too, but in another VRF, which is allowed.
        invalid(
            "frr_all_features_peers_without_common_router_id",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 142
  peerAddress: 1.2.3.4
  routerID: 10.20.30.40
  vrf: foo
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2}
spec: {myASN: 100, peerASN: 200, peerAddress: 2.3.4.5}
"#,
            &[(
                ErrorKind::RouterIdMismatch,
                "BGPPeer/peer2",
                "spec.routerID",
            )],
        ),
    ]
}

#[test]
fn metallb_frr_peer_cases() {
    check(&frr_cases());
}

// ---------------------------------------------------------------------------------------------
// BFDProfile. MetalLB native refuses every BFD profile and bfdProfile reference
// (validation_test.go TestValidate "peer with bfd profile", "bfd profile set"); FRR mode and
// IronLB accept them.
// ---------------------------------------------------------------------------------------------

fn bfd_cases() -> Vec<Case> {
    vec![
        // "Session with default BFD Profile"
        valid_and(
            "bfd_default_profile_on_peer",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4, bfdProfile: default}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv3}
spec: {}
"#,
            |config| {
                assert_eq!(
                    config.peers["peer1"].bfd_profile.as_deref(),
                    Some("default")
                );
                let profile = &config.bfd_profiles["default"];
                assert_eq!(
                    (
                        profile.receive_interval_ms,
                        profile.transmit_interval_ms,
                        profile.detect_multiplier,
                        profile.echo_interval_ms,
                        profile.minimum_ttl
                    ),
                    (300, 300, 3, 50, 254)
                );
            },
        ),
        // "Session with nondefault BFD Profile"
        valid(
            "bfd_nondefault_profile",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: nondefault}
spec:
  receiveInterval: 50
  transmitInterval: 51
  detectMultiplier: 52
  echoInterval: 54
  echoMode: true
  passiveMode: true
  minimumTtl: 55
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv3}
spec: {}
"#,
        ),
        // Derived from config.go bfdProfileFromCR: the bounds are inclusive.
        valid(
            "bfd_bounds_are_inclusive",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: low}
spec: {receiveInterval: 10, transmitInterval: 10, detectMultiplier: 2, echoInterval: 10, minimumTtl: 1}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: high}
spec:
  receiveInterval: 60000
  transmitInterval: 60000
  detectMultiplier: 255
  echoInterval: 60000
  minimumTtl: 254
"#,
        ),
        // "Session with ipv4 and bfd echo mode"
        valid(
            "bfd_echo_with_ipv4_pool",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: with-echo}
spec: {echoMode: true}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv}
spec: {}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, peerPort: 1179, bfdProfile: with-echo}
"#,
        ),
        // Derived from validation.go validateConfig: an IPv6 pool advertised only to another peer
        // does not reach the echo peer.
        valid(
            "bfd_echo_peer_not_sent_the_ipv6_pool",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: v6}
spec: {addresses: ["fc00:f853:ccd:e793::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: with-echo}
spec: {echoMode: true}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv}
spec: {ipAddressPools: [v6], peers: [plain]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: echo}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, bfdProfile: with-echo}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: plain}
spec: {myASN: 42, peerASN: 142, peerAddress: "fc00::1"}
"#,
        ),
        // "BFD Profile with too low receive interval"
        invalid(
            "bfd_receive_interval_below_10",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {receiveInterval: 2}
"#,
            &[(
                ErrorKind::OutOfRange,
                "BFDProfile/default",
                "spec.receiveInterval",
            )],
        ),
        // "BFD Profile with too high receive interval"
        invalid(
            "bfd_receive_interval_above_60000",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {receiveInterval: 90000}
"#,
            &[(
                ErrorKind::OutOfRange,
                "BFDProfile/default",
                "spec.receiveInterval",
            )],
        ),
        // Derived from config.go bfdProfileFromCR ("invalid transmit interval value").
        invalid(
            "bfd_transmit_interval_below_10",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {transmitInterval: 9}
"#,
            &[(
                ErrorKind::OutOfRange,
                "BFDProfile/default",
                "spec.transmitInterval",
            )],
        ),
        // Derived from config.go bfdProfileFromCR ("invalid echo interval value").
        invalid(
            "bfd_echo_interval_above_60000",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {echoInterval: 60001}
"#,
            &[(
                ErrorKind::OutOfRange,
                "BFDProfile/default",
                "spec.echoInterval",
            )],
        ),
        // Derived from config.go bfdProfileFromCR ("invalid detect multiplier value").
        invalid(
            "bfd_detect_multiplier_1",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {detectMultiplier: 1}
"#,
            &[(
                ErrorKind::OutOfRange,
                "BFDProfile/default",
                "spec.detectMultiplier",
            )],
        ),
        invalid(
            "bfd_detect_multiplier_256",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {detectMultiplier: 256}
"#,
            &[(
                ErrorKind::OutOfRange,
                "BFDProfile/default",
                "spec.detectMultiplier",
            )],
        ),
        // Derived from config.go bfdProfileFromCR ("invalid minimum ttl value").
        invalid(
            "bfd_minimum_ttl_0",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {minimumTtl: 0}
"#,
            &[(
                ErrorKind::OutOfRange,
                "BFDProfile/default",
                "spec.minimumTtl",
            )],
        ),
        invalid(
            "bfd_minimum_ttl_255",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {minimumTtl: 255}
"#,
            &[(
                ErrorKind::OutOfRange,
                "BFDProfile/default",
                "spec.minimumTtl",
            )],
        ),
        // "Multiple BFD Profiles with the same name"
        invalid(
            "bfd_profile_name_defined_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: foo}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: foo}
spec: {}
"#,
            &[(ErrorKind::DuplicateName, "BFDProfile/foo", "metadata.name")],
        ),
        // "Session with ipv6 and bfd echo mode": an ad without peers sends the IPv6 pool to
        // every peer, including the one with echo mode.
        invalid(
            "bfd_echo_peer_sent_an_ipv6_pool",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: ["fc00:f853:0ccd:e793::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: nondefault}
spec:
  receiveInterval: 50
  transmitInterval: 51
  detectMultiplier: 52
  echoInterval: 54
  echoMode: true
  passiveMode: true
  minimumTtl: 55
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv3}
spec: {}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 42
  peerASN: 142
  peerAddress: 1.2.3.4
  peerPort: 1179
  holdTime: 180s
  routerID: 10.20.30.40
  sourceAddress: 10.20.30.40
  ebgpMultiHop: true
  bfdProfile: nondefault
"#,
            &[(
                ErrorKind::BfdEchoWithIpv6,
                "BGPAdvertisement/adv3",
                "spec.peers",
            )],
        ),
        // Derived from validation.go validateConfig: the same through the ad's peer list, for a
        // dual-stack pool selected by labels.
        invalid(
            "bfd_echo_peer_listed_in_ad_of_dual_stack_pool",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dual, labels: {family: dual}}
spec: {addresses: [10.0.0.0/24, "2001:db8::/120"]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: with-echo}
spec: {echoMode: true}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: to-echo}
spec:
  ipAddressPoolSelectors: [{matchLabels: {family: dual}}]
  peers: [echo]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: echo}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4, bfdProfile: with-echo}
"#,
            &[(
                ErrorKind::BfdEchoWithIpv6,
                "BGPAdvertisement/to-echo",
                "spec.peers",
            )],
        ),
    ]
}

#[test]
fn metallb_bfd_cases() {
    check(&bfd_cases());
}

// ---------------------------------------------------------------------------------------------
// Communities: Community objects and the communities of BGPAdvertisements
// ---------------------------------------------------------------------------------------------

fn community_cases() -> Vec<Case> {
    vec![
        // "config using all features" (adv1 uses the alias "bar" of a Community object).
        valid_and(
            "community_alias_used_by_ad",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community}
spec:
  communities: [{name: bar, value: "64512:1234"}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {communities: [bar], ipAddressPools: [pool1]}
"#,
            |config| {
                let communities: Vec<String> = config.bgp_advertisements[0]
                    .communities
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                assert_eq!(communities, ["64512:1234"]);
            },
        ),
        // "config IPAddressPool with large communities CR". MetalLB native refuses large
        // communities (TestValidate "large BGP community inside Community CR").
        valid(
            "community_large_alias",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community}
spec:
  communities: [{name: bar, value: "large:123:64512:1234"}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {communities: [bar], ipAddressPools: [pool1], localPref: 100}
"#,
        ),
        // Derived from internal/bgp/community New: AA:NN and large:A:B:C written in the ad.
        // MetalLB native refuses the large one (TestValidate "large BGP community inside BGP
        // Advertisement").
        valid_and(
            "community_literals_standard_and_large",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec:
  ipAddressPools: [testPool]
  communities: ["65000:100", "large:1:2:3", "0:0", "65535:65535", "large:4294967295:0:0"]
"#,
            |config| assert_eq!(config.bgp_advertisements[0].communities.len(), 5),
        ),
        // "bad community literal (wrong format) - in the community CR"
        invalid(
            "community_object_value_without_colon",
            r#"
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community}
spec:
  communities: [{name: bar, value: "1234"}]
"#,
            &[(
                ErrorKind::InvalidCommunity,
                "Community/community",
                "spec.communities[0].value",
            )],
        ),
        // "bad community literal (asn part doesn't fit) - in the community CR"; e2e webhooks
        // "reject a new invalid Community" (legacy format).
        invalid(
            "community_object_first_half_too_large",
            r#"
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community}
spec:
  communities: [{name: bar, value: "99999999:1"}]
"#,
            &[(
                ErrorKind::InvalidCommunity,
                "Community/community",
                "spec.communities[0].value",
            )],
        ),
        // "bad community literal (community# part doesn't fit) - in the community CR"
        invalid(
            "community_object_second_half_too_large",
            r#"
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community}
spec:
  communities: [{name: bar, value: "1:99999999"}]
"#,
            &[(
                ErrorKind::InvalidCommunity,
                "Community/community",
                "spec.communities[0].value",
            )],
        ),
        // e2e webhooks "reject a new invalid Community" (large format with a wrong marker).
        invalid(
            "community_object_bad_large_marker",
            r#"
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community-webhooks-test}
spec:
  communities: [{name: INVALID_COMMUNITY, value: "lar:123:9999:123"}]
"#,
            &[(
                ErrorKind::InvalidCommunity,
                "Community/community-webhooks-test",
                "spec.communities[0].value",
            )],
        ),
        // Derived from config.go communitiesFromCrs: an alias value must itself be a community,
        // not another alias.
        invalid(
            "community_object_alias_of_alias",
            r#"
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community}
spec:
  communities:
  - {name: bar, value: "64512:1234"}
  - {name: baz, value: bar}
"#,
            &[(
                ErrorKind::InvalidCommunity,
                "Community/community",
                "spec.communities[1].value",
            )],
        ),
        // "duplicate communities definition (in 2 different crs)"; e2e webhooks "reject
        // Community duplications".
        invalid(
            "community_alias_defined_in_two_objects",
            r#"
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community1}
spec:
  communities: [{name: bar, value: "1234:5678"}]
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community2}
spec:
  communities: [{name: bar, value: "1234:5678"}]
"#,
            &[(
                ErrorKind::DuplicateCommunityAlias,
                "Community/community2",
                "spec.communities[0].name",
            )],
        ),
        // "duplicate communities definition (in the same cr)"; e2e webhooks "reject Community
        // duplications" (large format, FRR).
        invalid(
            "community_alias_defined_twice_in_one_object",
            r#"
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community}
spec:
  communities:
  - {name: DUP_COMMUNITY, value: "large:123:9999:123"}
  - {name: DUP_COMMUNITY, value: "large:123:9999:123"}
"#,
            &[(
                ErrorKind::DuplicateCommunityAlias,
                "Community/community",
                "spec.communities[1].name",
            )],
        ),
        // "bad community literal (wrong format) - in BGP adv": not of community shape, so maybe
        // an alias not created yet (transient).
        invalid(
            "ad_community_without_colon_is_unknown_alias",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {communities: ["1234"], ipAddressPools: [testPool]}
"#,
            &[(
                ErrorKind::UnknownCommunity,
                "BGPAdvertisement/testAdv",
                "spec.communities[0]",
            )],
        ),
        // "bad community literal (asn part doesn't fit) - in BGP adv"
        invalid(
            "ad_community_first_half_too_large",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {communities: ["99999999:1"], ipAddressPools: [testPool]}
"#,
            &[(
                ErrorKind::InvalidCommunity,
                "BGPAdvertisement/testAdv",
                "spec.communities[0]",
            )],
        ),
        // "bad community literal (community# part doesn't fit) - in BGP adv"
        invalid(
            "ad_community_second_half_too_large",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {communities: ["1:99999999"], ipAddressPools: [testPool]}
"#,
            &[(
                ErrorKind::InvalidCommunity,
                "BGPAdvertisement/testAdv",
                "spec.communities[0]",
            )],
        ),
        // Derived from internal/bgp/community New: each half is a uint16.
        invalid(
            "ad_community_65536",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {communities: ["65536:1"], ipAddressPools: [testPool]}
"#,
            &[(
                ErrorKind::InvalidCommunity,
                "BGPAdvertisement/testAdv",
                "spec.communities[0]",
            )],
        ),
        // Derived from config.go getCommunityValue: three parts is a format error, so an
        // unknown alias (transient).
        invalid(
            "ad_community_three_parts_is_unknown_alias",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {communities: ["1:2:3"], ipAddressPools: [testPool]}
"#,
            &[(
                ErrorKind::UnknownCommunity,
                "BGPAdvertisement/testAdv",
                "spec.communities[0]",
            )],
        ),
        // "bad community ref (unknown ref) - in BGP adv"
        invalid(
            "ad_community_unknown_alias",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {communities: [community], ipAddressPools: [testPool]}
"#,
            &[(
                ErrorKind::UnknownCommunity,
                "BGPAdvertisement/testAdv",
                "spec.communities[0]",
            )],
        ),
        // validator_test.go TestResetTransientErrorsFields keeps "larg:12345:12345:12345" as a
        // possible value: four parts with a wrong marker is a value error, not an alias.
        invalid(
            "ad_community_bad_large_marker",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {communities: ["larg:12345:12345:12345", "11111:11aaaa"], ipAddressPools: [testPool]}
"#,
            &[
                (
                    ErrorKind::InvalidCommunity,
                    "BGPAdvertisement/testAdv",
                    "spec.communities[0]",
                ),
                (
                    ErrorKind::InvalidCommunity,
                    "BGPAdvertisement/testAdv",
                    "spec.communities[1]",
                ),
            ],
        ),
        // "duplicate community literal - in BGP adv"
        invalid(
            "ad_community_listed_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {communities: ["1234:5678", "1234:5678"], ipAddressPools: [testPool]}
"#,
            &[(
                ErrorKind::DuplicateValue,
                "BGPAdvertisement/testAdv",
                "spec.communities",
            )],
        ),
    ]
}

#[test]
fn metallb_community_cases() {
    check(&community_cases());
}

// ---------------------------------------------------------------------------------------------
// BGPAdvertisement and L2Advertisement
// ---------------------------------------------------------------------------------------------

fn ad_pools(config: &Config, name: &str) -> Vec<String> {
    let ad = config
        .bgp_advertisements
        .iter()
        .find(|ad| ad.name == name)
        .unwrap_or_else(|| panic!("no BGPAdvertisement {name}"));
    ad.pools.iter().cloned().collect()
}

fn advertisement_cases() -> Vec<Case> {
    vec![
        // "simple advertisement" / "advertisement with default BGP settings"
        valid_and(
            "ad_defaults",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv3}
spec: {}
"#,
            |config| {
                let ad = &config.bgp_advertisements[0];
                assert_eq!((ad.aggregation_length, ad.aggregation_length_v6), (32, 128));
                assert_eq!(ad.local_pref, None);
                assert_eq!(ad_pools(config, "adv3"), ["pool1"]);
            },
        ),
        // "aggregation length by range": 3.3.3.2-3.3.3.254 splits down to /26 blocks.
        valid(
            "ad_aggregation_26_on_range",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [3.3.3.2-3.3.3.254]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLength: 26}
"#,
        ),
        // "config using all features" (adv2): aggregation equal to the shortest prefix, per entry;
        // aggregationLengthV6 does not apply to an IPv4 pool.
        valid(
            "ad_aggregation_equal_to_pool_prefix",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.0.0/16, 10.50.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv2}
spec: {aggregationLength: 24, aggregationLengthV6: 64, ipAddressPools: [pool1]}
"#,
        ),
        // "different local pref - different ipv4 aggregation length"
        valid(
            "ad_local_pref_differs_with_ipv4_aggregation",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: v1
kind: Node
metadata: {name: node2}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec: {localPref: 100, aggregationLength: 24}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200}
"#,
        ),
        // "different local pref - different aggregation lengths"
        valid(
            "ad_local_pref_differs_with_both_aggregations",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec: {localPref: 100, aggregationLength: 24, aggregationLengthV6: 120}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200}
"#,
        ),
        // "different local pref - same peers & different nodes"
        valid(
            "ad_local_pref_differs_on_disjoint_nodes",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {node: node1}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {node: node2}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec:
  localPref: 100
  nodeSelectors: [{matchLabels: {node: node1}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec:
  localPref: 200
  nodeSelectors: [{matchLabels: {node: node2}}]
"#,
        ),
        // "different local pref - different peers & same nodes"
        valid(
            "ad_local_pref_differs_for_disjoint_peers",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: v1
kind: Node
metadata: {name: node2}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec: {localPref: 100, peers: [peer1]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200, peers: [peer2]}
"#,
        ),
        // Derived from config.go BGPAdvertisementsHaveCompatibleLocalPref: with no Node known the
        // node sets are empty, so no conflict is found.
        valid(
            "ad_local_pref_differs_without_known_nodes",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec: {localPref: 100}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200}
"#,
        ),
        // Derived from config.go validateBGPAdvPerPool: ads with serviceSelectors are left out of
        // the localPref rule.
        valid(
            "ad_local_pref_differs_with_service_selectors",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec:
  localPref: 100
  serviceSelectors: [{matchLabels: {app: web}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200}
"#,
        ),
        // Derived from config.go isAggrLengthDifferent: for a dual-stack pool both lengths must
        // differ.
        valid(
            "ad_local_pref_differs_dual_stack_both_aggregations",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dual}
spec: {addresses: [10.0.0.0/24, "2001:db8::/120"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec: {localPref: 100, aggregationLength: 24, aggregationLengthV6: 120}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200}
"#,
        ),
        // "use ip pool selectors"
        valid_and(
            "ads_select_pools_by_labels",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1, labels: {test: pool1}}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2, labels: {test: pool2}}
spec: {addresses: [30.0.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv1}
spec:
  ipAddressPoolSelectors: [{matchLabels: {test: pool1}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  aggregationLength: 32
  localPref: 100
  ipAddressPoolSelectors: [{matchLabels: {test: pool1}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv2}
spec:
  aggregationLength: 32
  localPref: 200
  ipAddressPoolSelectors: [{matchLabels: {test: pool2}}]
"#,
            |config| {
                assert_eq!(ad_pools(config, "adv1"), ["pool1"]);
                assert_eq!(ad_pools(config, "adv2"), ["pool2"]);
                let l2: Vec<_> = config.l2_advertisements[0].pools.iter().collect();
                assert_eq!(l2, ["pool1"]);
            },
        ),
        // "specify interfaces"
        valid_and(
            "l2_ad_with_interfaces",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1, labels: {test: pool1}}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv1}
spec:
  ipAddressPoolSelectors: [{matchLabels: {test: pool1}}]
  interfaces: [eth0]
"#,
            |config| assert_eq!(config.l2_advertisements[0].interfaces, ["eth0"]),
        ),
        // "use non existent label for ip pool selectors": selecting nothing is fine, and the two
        // localPrefs never meet.
        valid_and(
            "ads_selecting_no_pool",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1, labels: {test: pool1}}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2, labels: {test: pool2}}
spec: {addresses: [30.0.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv1}
spec:
  ipAddressPoolSelectors: [{matchLabels: {test: do-not-select-pool}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  localPref: 100
  ipAddressPoolSelectors: [{matchLabels: {test: do-not-select-pool}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv2}
spec:
  localPref: 200
  ipAddressPoolSelectors: [{matchLabels: {test: do-not-select-pool}}]
  ipAddressPools: [no-such-pool]
"#,
            |config| {
                assert!(ad_pools(config, "adv1").is_empty());
                assert!(ad_pools(config, "adv2").is_empty());
            },
        ),
        // "use node selectors"
        valid(
            "ads_with_node_selectors",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2}
spec: {addresses: [30.0.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  ipAddressPools: [pool1]
  nodeSelectors: [{matchLabels: {second: "true"}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv2}
spec:
  ipAddressPools: [pool2]
  nodeSelectors: [{matchLabels: {first: "true"}}]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv1}
spec:
  ipAddressPools: [pool1]
  nodeSelectors: [{matchLabels: {first: "true"}}]
---
apiVersion: v1
kind: Node
metadata: {name: first, labels: {first: "true"}}
---
apiVersion: v1
kind: Node
metadata: {name: second, labels: {second: "true"}}
"#,
        ),
        // "no nodes means all nodes"
        valid(
            "ads_without_node_selectors",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv1}
spec: {}
---
apiVersion: v1
kind: Node
metadata: {name: first, labels: {first: "true"}}
---
apiVersion: v1
kind: Node
metadata: {name: second, labels: {second: "true"}}
"#,
        ),
        // "advertisement with peer selector"
        valid_and(
            "ad_with_peers",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLength: 32, localPref: 100, ipAddressPools: [pool1], peers: [peer1]}
"#,
            |config| {
                let ad = &config.bgp_advertisements[0];
                assert_eq!(ad.peers, ["peer1"]);
                assert_eq!(ad.local_pref, Some(100));
            },
        ),
        // TestServiceSelectors "BGP advertisement with service selectors" and "... with multiple
        // service selectors (OR logic)"
        valid(
            "ads_with_service_selectors",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  serviceSelectors: [{matchLabels: {app: nginx}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv2}
spec:
  serviceSelectors: [{matchLabels: {app: nginx}}, {matchLabels: {app: apache}}]
"#,
        ),
        // TestServiceSelectors "L2 advertisement with service selectors"
        valid(
            "l2_ad_with_service_selectors",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: adv1}
spec:
  serviceSelectors: [{matchLabels: {app: web}}]
"#,
        ),
        // TestServiceSelectors "... serviceSelectors with default aggregationLengthV4 is allowed",
        // "... default aggregationLengthV6 ..." and "... both default ...". The IPv6 pool in a
        // BGP ad is refused by MetalLB native (TestValidate "v6 address").
        valid(
            "ads_with_service_selectors_and_default_aggregation",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24, "1000::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: v4}
spec:
  aggregationLength: 32
  serviceSelectors: [{matchLabels: {app: nginx}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: v6}
spec:
  aggregationLengthV6: 128
  serviceSelectors: [{matchLabels: {app: nginx}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: both}
spec:
  aggregationLength: 32
  aggregationLengthV6: 128
  serviceSelectors: [{matchLabels: {app: nginx}}]
"#,
        ),
        // validation_test.go TestValidate "v6 address and selected" / "v6 address and selected
        // by labels": refused by MetalLB native only; FRR mode and IronLB announce IPv6.
        valid(
            "ads_announcing_ipv6_pools",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: foo, labels: {key: value}}
spec: {addresses: ["2001:db8::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bar}
spec:
  ipAddressPoolSelectors: [{matchLabels: {key: value}}]
  aggregationLengthV6: 64
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: baz}
spec: {ipAddressPools: [foo]}
"#,
        ),
        // "bad aggregation length (too long)" (MetalLB's fixture also has a bad pool; here the
        // pool is valid so only the length is wrong).
        invalid(
            "ad_aggregation_length_34",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLength: 34}
"#,
            &[(
                ErrorKind::InvalidAggregationLength,
                "BGPAdvertisement/adv1",
                "spec.aggregationLength",
            )],
        ),
        // bgpadvertisement_types.go: aggregationLength has schema minimum 1.
        invalid(
            "ad_aggregation_length_0",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLength: 0}
"#,
            &[(
                ErrorKind::InvalidAggregationLength,
                "BGPAdvertisement/adv1",
                "spec.aggregationLength",
            )],
        ),
        // Derived from config.go bgpAdvertisementFromCR ("invalid aggregation length ... for
        // IPv6").
        invalid(
            "ad_aggregation_length_v6_129",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: ["2001:db8::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLengthV6: 129}
"#,
            &[(
                ErrorKind::InvalidAggregationLength,
                "BGPAdvertisement/adv1",
                "spec.aggregationLengthV6",
            )],
        ),
        // "bad aggregation length (incompatible with CIDR)": 26 fits the /24 entry but not the /28.
        invalid(
            "ad_aggregation_shorter_than_one_entry",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24, 1.2.3.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLength: 26}
"#,
            &[(
                ErrorKind::AggregationLengthTooShort,
                "BGPAdvertisement/adv1",
                "spec.aggregationLength",
            )],
        ),
        // "aggregation length by range, too wide"
        invalid(
            "ad_aggregation_24_on_range",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [3.3.3.2-3.3.3.254]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLength: 24}
"#,
            &[(
                ErrorKind::AggregationLengthTooShort,
                "BGPAdvertisement/adv1",
                "spec.aggregationLength",
            )],
        ),
        // Derived from config.go validateBGPAdvPerPool/lowestMask: 25 is one short of the
        // range's widest block (/26).
        invalid(
            "ad_aggregation_25_on_range",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [3.3.3.2-3.3.3.254]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLength: 25}
"#,
            &[(
                ErrorKind::AggregationLengthTooShort,
                "BGPAdvertisement/adv1",
                "spec.aggregationLength",
            )],
        ),
        // e2e webhooks "Should recognize invalid AggregationLength"
        invalid(
            "ad_aggregation_26_on_slash_28",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool-webhooks-test}
spec: {addresses: [1.1.1.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-webhooks-test}
spec: {aggregationLength: 26, ipAddressPools: [pool-webhooks-test]}
"#,
            &[(
                ErrorKind::AggregationLengthTooShort,
                "BGPAdvertisement/adv-webhooks-test",
                "spec.aggregationLength",
            )],
        ),
        // Derived from config.go validateBGPAdvPerPool: a /32 entry forbids any shorter length,
        // even next to a /24.
        invalid(
            "ad_aggregation_24_with_single_address_entry",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.0/24, 10.1.0.5/32]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLength: 24}
"#,
            &[(
                ErrorKind::AggregationLengthTooShort,
                "BGPAdvertisement/adv1",
                "spec.aggregationLength",
            )],
        ),
        // Derived from config.go validateBGPAdvPerPool: the IPv6 length is checked against IPv6
        // entries.
        invalid(
            "ad_aggregation_v6_shorter_than_prefix",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.0/24, "2001:db8::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {aggregationLength: 24, aggregationLengthV6: 48}
"#,
            &[(
                ErrorKind::AggregationLengthTooShort,
                "BGPAdvertisement/adv1",
                "spec.aggregationLengthV6",
            )],
        ),
        // TestServiceSelectors "BGP advertisement - serviceSelectors with non-default
        // aggregationLength is mutually exclusive"; e2e webhooks "Should reject serviceSelectors
        // with non-default aggregationLength".
        invalid(
            "ad_service_selectors_with_aggregation_length",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  aggregationLength: 24
  serviceSelectors: [{matchLabels: {app: nginx}}]
"#,
            &[(
                ErrorKind::ServiceSelectorsWithAggregation,
                "BGPAdvertisement/adv1",
                "spec.aggregationLength",
            )],
        ),
        // TestServiceSelectors "... serviceSelectors with non-default aggregationLengthV6 is
        // mutually exclusive"
        invalid(
            "ad_service_selectors_with_aggregation_length_v6",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: ["2001:db8::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  aggregationLengthV6: 64
  serviceSelectors: [{matchLabels: {app: nginx}}]
"#,
            &[(
                ErrorKind::ServiceSelectorsWithAggregation,
                "BGPAdvertisement/adv1",
                "spec.aggregationLengthV6",
            )],
        ),
        // "different local pref - same peers and nodes"
        invalid(
            "ad_local_pref_conflict",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: v1
kind: Node
metadata: {name: node2}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec: {localPref: 100}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200}
"#,
            &[(
                ErrorKind::LocalPrefConflict,
                "BGPAdvertisement/adv-b",
                "spec.localPref",
            )],
        ),
        // Derived from config.go BGPAdvertisementsHaveCompatibleLocalPref: peer lists that share
        // a peer conflict.
        invalid(
            "ad_local_pref_conflict_on_shared_peer",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec: {localPref: 100, peers: [peer1, peer2]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200, peers: [peer2]}
"#,
            &[(
                ErrorKind::LocalPrefConflict,
                "BGPAdvertisement/adv-b",
                "spec.localPref",
            )],
        ),
        // Derived from config.go BGPAdvertisementsHaveCompatibleLocalPref: node sets that share
        // a node conflict.
        invalid(
            "ad_local_pref_conflict_on_shared_node",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1, labels: {rack: a}}
---
apiVersion: v1
kind: Node
metadata: {name: node2, labels: {rack: b}}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.30.40/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec:
  localPref: 100
  nodeSelectors: [{matchLabels: {rack: a}}]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200}
"#,
            &[(
                ErrorKind::LocalPrefConflict,
                "BGPAdvertisement/adv-b",
                "spec.localPref",
            )],
        ),
        // Derived from config.go isAggrLengthDifferent: for a dual-stack pool, a different IPv4
        // length alone does not separate the ads.
        invalid(
            "ad_local_pref_conflict_dual_stack_only_ipv4_differs",
            r#"
apiVersion: v1
kind: Node
metadata: {name: node1}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: dual}
spec: {addresses: [10.0.0.0/24, "2001:db8::/120"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-a}
spec: {localPref: 100, aggregationLength: 24}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv-b}
spec: {localPref: 200}
"#,
            &[(
                ErrorKind::LocalPrefConflict,
                "BGPAdvertisement/adv-b",
                "spec.localPref",
            )],
        ),
        // "duplicate ip address pools - in BGP adv"
        invalid(
            "ad_pool_listed_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {ipAddressPools: [testPool, testPool]}
"#,
            &[(
                ErrorKind::DuplicateValue,
                "BGPAdvertisement/testAdv",
                "spec.ipAddressPools",
            )],
        ),
        // "duplicate ip address pools - in L2 adv"
        invalid(
            "l2_ad_pool_listed_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: testAdv}
spec: {ipAddressPools: [testPool, testPool]}
"#,
            &[(
                ErrorKind::DuplicateValue,
                "L2Advertisement/testAdv",
                "spec.ipAddressPools",
            )],
        ),
        // "duplicate peers - in BGP adv"
        invalid(
            "ad_peer_listed_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: testPool}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 42, peerASN: 42, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: testAdv}
spec: {ipAddressPools: [testPool], peers: [peer1, peer1]}
"#,
            &[(
                ErrorKind::DuplicateValue,
                "BGPAdvertisement/testAdv",
                "spec.peers",
            )],
        ),
        // "use duplicate match labels in ip pool selectors - in BGP adv"
        invalid(
            "ad_pool_selector_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1, labels: {test: pool1}}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  aggregationLength: 32
  localPref: 100
  ipAddressPoolSelectors:
  - matchLabels: {test: pool1}
  - matchLabels: {test: pool1}
"#,
            &[(
                ErrorKind::DuplicateSelector,
                "BGPAdvertisement/adv1",
                "spec.ipAddressPoolSelectors[1]",
            )],
        ),
        // "use duplicate match expression in ip pool selector - in BGP adv"
        invalid(
            "ad_pool_selector_value_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1, labels: {test: pool1}}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  ipAddressPoolSelectors:
  - matchExpressions: [{key: test, operator: In, values: [pool1, pool1]}]
"#,
            &[(
                ErrorKind::DuplicateValue,
                "BGPAdvertisement/adv1",
                "spec.ipAddressPoolSelectors[0].matchExpressions[0].values",
            )],
        ),
        // "use duplicate ip pool selectors - in L2 adv"
        invalid(
            "l2_ad_pool_selector_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1, labels: {test: pool1}}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: adv1}
spec:
  ipAddressPoolSelectors:
  - matchLabels: {test: pool1}
  - matchLabels: {test: pool1}
"#,
            &[(
                ErrorKind::DuplicateSelector,
                "L2Advertisement/adv1",
                "spec.ipAddressPoolSelectors[1]",
            )],
        ),
        // "use duplicate match labels in node selectors": both ads are refused (MetalLB stops at
        // the L2 one).
        invalid(
            "ads_node_selector_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  ipAddressPools: [pool1]
  nodeSelectors:
  - matchLabels: {second: "true"}
  - matchLabels: {second: "true"}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv1}
spec:
  ipAddressPools: [pool1]
  nodeSelectors:
  - matchLabels: {first: "true"}
  - matchLabels: {first: "true"}
---
apiVersion: v1
kind: Node
metadata: {name: first, labels: {first: "true"}}
---
apiVersion: v1
kind: Node
metadata: {name: second, labels: {second: "true"}}
"#,
            &[
                (
                    ErrorKind::DuplicateSelector,
                    "BGPAdvertisement/adv1",
                    "spec.nodeSelectors[1]",
                ),
                (
                    ErrorKind::DuplicateSelector,
                    "L2Advertisement/l2adv1",
                    "spec.nodeSelectors[1]",
                ),
            ],
        ),
        // "use duplicate match expression values in node selector": two expressions that are
        // equal once their values are sorted.
        invalid(
            "ad_node_selector_expression_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.20.0.0/16]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  ipAddressPools: [pool1]
  nodeSelectors:
  - matchExpressions:
    - {key: kubernetes.io/hostname, operator: In, values: [first, second]}
    - {key: kubernetes.io/hostname, operator: In, values: [second, first]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv1}
spec:
  ipAddressPools: [pool1]
  nodeSelectors:
  - matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [first]}]
---
apiVersion: v1
kind: Node
metadata: {name: first, labels: {first: "true"}}
---
apiVersion: v1
kind: Node
metadata: {name: second, labels: {second: "true"}}
"#,
            &[(
                ErrorKind::DuplicateSelector,
                "BGPAdvertisement/adv1",
                "spec.nodeSelectors[0].matchExpressions",
            )],
        ),
        // TestServiceSelectors "duplicate service selectors"
        invalid(
            "ad_service_selector_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  serviceSelectors:
  - matchLabels: {app: nginx}
  - matchLabels: {app: nginx}
"#,
            &[(
                ErrorKind::DuplicateSelector,
                "BGPAdvertisement/adv1",
                "spec.serviceSelectors[1]",
            )],
        ),
        // Derived from config.go bgpAdvertisementFromCR / l2AdvertisementFromCR ("failed to parse
        // node selector", "failed to parse service selector").
        invalid(
            "ads_with_unparsable_selectors",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec:
  nodeSelectors: [{matchExpressions: [{key: zone, operator: Exists, values: [a]}]}]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv1}
spec:
  serviceSelectors: [{matchLabels: {"bad key!": x}}]
"#,
            &[
                (
                    ErrorKind::InvalidSelector,
                    "BGPAdvertisement/adv1",
                    "spec.nodeSelectors[0]",
                ),
                (
                    ErrorKind::InvalidSelector,
                    "L2Advertisement/l2adv1",
                    "spec.serviceSelectors[0]",
                ),
            ],
        ),
        // Two objects with one name cannot exist in a cluster (MetalLB's deep-equality check
        // validateDuplicateBGPAdvertisements covers the identical case); in a directory they are
        // refused.
        invalid(
            "ad_name_defined_twice",
            r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [1.2.3.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {}
"#,
            &[(
                ErrorKind::DuplicateName,
                "BGPAdvertisement/adv1",
                "metadata.name",
            )],
        ),
    ]
}

#[test]
fn metallb_advertisement_cases() {
    check(&advertisement_cases());
}

// ---------------------------------------------------------------------------------------------
// Whole configurations, namespaces, decoding and v1beta1 BGPPeers
// ---------------------------------------------------------------------------------------------

fn object_cases() -> Vec<Case> {
    vec![
        // "empty config"
        valid_and("empty_configuration", "", |config| {
            assert_eq!(config, &Config::default());
        }),
        // "config using all features", with peer2 given peer1's routerID: MetalLB's TestParse
        // skips the FRR-mode checks, which refuse the original (see
        // frr_all_features_peers_without_common_router_id). MetalLB native would also refuse the
        // connectTime, graceful restart, vrf and IPv6 pool.
        valid_and(
            "all_features",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1, namespace: metallb-system}
spec:
  myASN: 42
  peerASN: 142
  peerAddress: 1.2.3.4
  peerPort: 1179
  holdTime: 180s
  connectTime: 1s
  routerID: 10.20.30.40
  sourceAddress: 10.20.30.40
  enableGracefulRestart: true
  ebgpMultiHop: true
  vrf: foo
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer2, namespace: metallb-system}
spec:
  myASN: 100
  peerASN: 200
  peerAddress: 2.3.4.5
  routerID: 10.20.30.40
  enableGracefulRestart: false
  ebgpMultiHop: false
  connectTime: 1s
  nodeSelectors:
  - matchLabels: {foo: bar}
    matchExpressions: [{key: bar, operator: In, values: [quux]}]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool1, namespace: metallb-system}
spec:
  addresses: [10.20.0.0/16, 10.50.0.0/24]
  avoidBuggyIPs: true
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2, namespace: metallb-system}
spec: {addresses: [30.0.0.0/8]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool3, namespace: metallb-system}
spec:
  addresses: [40.0.0.0/25, 40.0.0.150-40.0.0.200, 40.0.0.210 - 40.0.0.240, 40.0.0.250 - 40.0.0.250]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool4, namespace: metallb-system}
spec: {addresses: ["2001:db8::/64"]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1, namespace: metallb-system}
spec:
  aggregationLength: 32
  localPref: 100
  communities: [bar]
  ipAddressPools: [pool1]
  peers: [peer1]
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv2, namespace: metallb-system}
spec: {aggregationLength: 24, aggregationLengthV6: 64, ipAddressPools: [pool1]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv3, namespace: metallb-system}
spec: {ipAddressPools: [pool2]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv1, namespace: metallb-system}
spec: {ipAddressPools: [pool3]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2adv2, namespace: metallb-system}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community, namespace: metallb-system}
spec:
  communities: [{name: bar, value: "64512:1234"}]
"#,
            |config| {
                assert_eq!(config.peers.len(), 2);
                assert_eq!(config.pools.len(), 4);
                assert_eq!(ad_pools(config, "adv1"), ["pool1"]);
                assert_eq!(ad_pools(config, "adv2"), ["pool1"]);
                assert_eq!(ad_pools(config, "adv3"), ["pool2"]);
                assert_eq!(config.l2_advertisements[1].pools.len(), 4);
                assert_eq!(config.community_aliases.len(), 1);
            },
        ),
        // e2e webhooks "Webhooks namespace validation": every kind created outside MetalLB's
        // namespace is refused ("resource must be created in ... namespace").
        invalid(
            "objects_outside_metallb_namespace",
            r#"
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: bfd, namespace: other}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool, namespace: other}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer, namespace: other}
spec: {myASN: 42, peerASN: 142, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: other}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: other}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: community, namespace: other}
spec:
  communities: [{name: bar, value: "64512:1234"}]
"#,
            &[
                (
                    ErrorKind::WrongNamespace,
                    "BFDProfile/bfd",
                    "metadata.namespace",
                ),
                (
                    ErrorKind::WrongNamespace,
                    "IPAddressPool/pool",
                    "metadata.namespace",
                ),
                (
                    ErrorKind::WrongNamespace,
                    "BGPPeer/peer",
                    "metadata.namespace",
                ),
                (
                    ErrorKind::WrongNamespace,
                    "BGPAdvertisement/bgp",
                    "metadata.namespace",
                ),
                (
                    ErrorKind::WrongNamespace,
                    "L2Advertisement/l2",
                    "metadata.namespace",
                ),
                (
                    ErrorKind::WrongNamespace,
                    "Community/community",
                    "metadata.namespace",
                ),
            ],
        ),
        // Derived from the myASN schema type (uint32): a string does not decode.
        invalid(
            "decode_asn_written_as_string",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: "65000", peerASN: 65001, peerAddress: 1.2.3.4}
"#,
            &[(ErrorKind::Decode, "BGPPeer/peer1", "spec.myASN")],
        ),
        // Derived from the myASN schema bounds (maximum 4294967295).
        invalid(
            "decode_asn_above_32_bits",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 4294967296, peerASN: 65001, peerAddress: 1.2.3.4}
"#,
            &[(ErrorKind::Decode, "BGPPeer/peer1", "spec.myASN")],
        ),
        // Durations are Go duration strings: a bare number, quoted or not, is refused.
        invalid(
            "decode_hold_time_bare_number_string",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 65000, peerASN: 65001, peerAddress: 1.2.3.4, holdTime: "90"}
"#,
            &[(ErrorKind::Decode, "BGPPeer/peer1", "spec.holdTime")],
        ),
        invalid(
            "decode_hold_time_number",
            r#"
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 65000, peerASN: 65001, peerAddress: 1.2.3.4, holdTime: 90}
"#,
            &[(ErrorKind::Decode, "BGPPeer/peer1", "spec.holdTime")],
        ),
        // localPref is a uint32; aggregationLength an int32.
        invalid(
            "decode_ad_numbers_of_wrong_type",
            r#"
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv1}
spec: {localPref: -1}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv2}
spec: {aggregationLength: "24"}
"#,
            &[
                (ErrorKind::Decode, "BGPAdvertisement/adv1", "spec.localPref"),
                (
                    ErrorKind::Decode,
                    "BGPAdvertisement/adv2",
                    "spec.aggregationLength",
                ),
            ],
        ),
        // Unknown metallb.io versions are refused (the API server serves v1beta1, and v1beta2 for
        // BGPPeer, only); the valid objects beside them add no errors.
        invalid(
            "decode_unknown_metallb_versions",
            r#"
apiVersion: metallb.io/v1
kind: IPAddressPool
metadata: {name: pool1}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: metallb.io/v1beta3
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 65000, peerASN: 65001, peerAddress: 1.2.3.4}
---
apiVersion: metallb.io/v1beta2
kind: L2Advertisement
metadata: {name: l2}
spec: {}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: pool2}
spec: {addresses: [10.1.0.0/24]}
"#,
            &[
                (ErrorKind::Decode, "IPAddressPool/pool1", "apiVersion"),
                (ErrorKind::Decode, "BGPPeer/peer1", "apiVersion"),
                (ErrorKind::Decode, "L2Advertisement/l2", "apiVersion"),
            ],
        ),
        // api/v1beta1/bgppeer_conversion_test.go TestValidateBGPPeerConvertTo: every v1beta1
        // field arrives in v1beta2 (the fixture's selector there has no key; here it has one).
        valid_and(
            "v1beta1_peer_converted",
            r#"
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: peer1, namespace: metallb-system}
spec:
  myASN: 42
  peerASN: 142
  peerAddress: 1.2.3.4
  peerPort: 1179
  holdTime: 180s
  keepaliveTime: 1s
  routerID: 10.20.30.40
  sourceAddress: 10.20.30.40
  ebgpMultiHop: true
  bfdProfile: default
  password: nopass
  nodeSelectors:
  - matchLabels: {foo: bar}
    matchExpressions: [{key: baz, operator: In, values: [quux]}]
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: default, namespace: metallb-system}
spec: {}
"#,
            |config| {
                let peer = &config.peers["peer1"];
                assert!(matches!(peer.peer_asn, PeerAsn::Fixed(asn) if asn.get() == 142));
                assert_eq!(peer.port, 1179);
                let timers = peer.timers.unwrap();
                assert_eq!((timers.hold, timers.keepalive), (secs(180), secs(1)));
                assert_eq!(peer.router_id, Some(ip("10.20.30.40")));
                assert_eq!(peer.source_address, Some(ip("10.20.30.40")));
                assert!(peer.ebgp_multi_hop);
                assert_eq!(peer.bfd_profile.as_deref(), Some("default"));
                assert_eq!(peer.password.as_ref().unwrap().value(), "nopass");
                assert_eq!(peer.node_selectors[0].to_string(), "baz=quux,foo=bar");
            },
        ),
        // IronLB difference (ironlb_api::conversion): MetalLB converts omitted v1beta1 timers to
        // 0s (hold 0 = no keepalives); IronLB keeps them unset, so the defaults apply.
        valid_and(
            "v1beta1_peer_without_timers_keeps_them_unset",
            r#"
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 10.0.0.1}
"#,
            |config| assert_eq!(config.peers["peer1"].timers, None),
        ),
        // IronLB difference: MetalLB gives a v1beta1 peer with only holdTime keepalive 0s; IronLB
        // keeps the keepalive unset, so it is a third of the hold time.
        valid_and(
            "v1beta1_peer_with_hold_time_only",
            r#"
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 10.0.0.1, holdTime: 90s}
"#,
            |config| {
                let timers = config.peers["peer1"].timers.unwrap();
                assert_eq!((timers.hold, timers.keepalive), (secs(90), secs(30)));
            },
        ),
        // api/v1beta1/bgppeer_conversion.go ConvertTo: a v1beta1 keepalive without hold time
        // arrives with hold 0s, and a keepalive above the hold time is refused (MetalLB and
        // IronLB agree here).
        invalid(
            "v1beta1_peer_with_keepalive_only",
            r#"
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 10.0.0.1, keepaliveTime: 30s}
"#,
            &[(
                ErrorKind::InvalidKeepaliveTime,
                "BGPPeer/peer1",
                "spec.keepaliveTime",
            )],
        ),
        // api/v1beta1/bgppeer_types.go: peerASN is required in v1beta1.
        invalid(
            "v1beta1_peer_without_peer_asn",
            r#"
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: peer1}
spec: {myASN: 64512, peerAddress: 10.0.0.1}
"#,
            &[(ErrorKind::Decode, "BGPPeer/peer1", "spec")],
        ),
        // webhookv1beta2 is registered for v1beta2 only, so a v1beta1 peer is judged after
        // conversion, with the same rules (here: a missing BFD profile and iBGP multihop).
        invalid(
            "v1beta1_peer_judged_after_conversion",
            r#"
apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: peer1}
spec:
  myASN: 64512
  peerASN: 64512
  peerAddress: 10.0.0.1
  ebgpMultiHop: true
  bfdProfile: missing
"#,
            &[
                (
                    ErrorKind::EbgpMultiHopOnIbgp,
                    "BGPPeer/peer1",
                    "spec.ebgpMultiHop",
                ),
                (
                    ErrorKind::MissingBfdProfile,
                    "BGPPeer/peer1",
                    "spec.bfdProfile",
                ),
            ],
        ),
    ]
}

#[test]
fn metallb_object_cases() {
    check(&object_cases());
}

/// MetalLB's types give every kind but IPAddressPool `spec,omitempty` (api/v1beta1/*_types.go),
/// and its documentation's minimal L2 configuration is an L2Advertisement with no spec. That
/// object means "every pool, every node"; MetalLB accepts it.
#[test]
fn metallb_objects_without_spec_are_valid() {
    check(&[valid(
        "advertisements_without_spec",
        r#"
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first-pool, namespace: metallb-system}
spec: {addresses: [192.168.10.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: example, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: example, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: example, namespace: metallb-system}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: example, namespace: metallb-system}
"#,
    )]);
}

// ---------------------------------------------------------------------------------------------
// The seed manifests, and the size of the tables
// ---------------------------------------------------------------------------------------------

#[test]
fn seed_manifests_validate_without_errors() {
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/seed");
    let mut text = String::new();
    let mut entries: Vec<_> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    entries.sort();
    assert!(!entries.is_empty(), "no seed manifests in {directory}");
    for path in &entries {
        text.push_str("---\n");
        text.push_str(&std::fs::read_to_string(path).unwrap());
        text.push('\n');
    }
    let config = load(&text).unwrap_or_else(|errors| {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!(
            "the seed manifests do not validate:\n{}",
            messages.join("\n")
        )
    });
    assert_eq!(config.pools.len(), 1);
    assert_eq!(config.peers.len(), 2);
    assert_eq!(config.bgp_advertisements.len(), 1);
    assert_eq!(config.bfd_profiles.len(), 1);
}

#[test]
fn case_tables_are_large_and_named_uniquely() {
    let tables = [
        pool_cases(),
        peer_cases(),
        frr_cases(),
        bfd_cases(),
        community_cases(),
        advertisement_cases(),
        object_cases(),
    ];
    let cases: Vec<&Case> = tables.iter().flatten().collect();
    let invalid = cases
        .iter()
        .filter(|case| matches!(case.verdict, Verdict::Invalid(_)))
        .count();
    let valid = cases.len() - invalid;
    let mut names: Vec<&str> = cases.iter().map(|case| case.name).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(names.len(), before, "two cases share a name");
    assert!(
        invalid >= 40 && valid >= 20,
        "{valid} valid and {invalid} invalid cases"
    );
    println!("{valid} valid and {invalid} invalid MetalLB cases");
}
