//! The validation function: resources in, [`Config`] or every error out.
//!
//! Rules and their order follow MetalLB's parser (`internal/config/config.go`) and its FRR-mode
//! peer checks (`validation.go`), plus the bounds MetalLB's CRD schema enforces (there is no
//! API server in front of a cluster directory). Unlike MetalLB, which stops at the first error,
//! every error is collected; objects are visited sorted by name so the order is deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::num::NonZeroU32;

use ipnet::IpNet;
use ironlb_api::k8s_openapi::api::core::v1::{Namespace, Node, Secret};
use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use ironlb_api::{Duration, ObjectRef, v1beta1, v1beta2};

use crate::address::{self, AddressError};
use crate::community::{Community, CommunityError};
use crate::error::{ConfigError, ErrorKind};
use crate::model::*;
use crate::selector::Selector;

/// Every resource validation looks at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resources {
    pub pools: Vec<v1beta1::IPAddressPool>,
    pub peers: Vec<v1beta2::BGPPeer>,
    pub bfd_profiles: Vec<v1beta1::BFDProfile>,
    pub bgp_advertisements: Vec<v1beta1::BGPAdvertisement>,
    pub l2_advertisements: Vec<v1beta1::L2Advertisement>,
    pub communities: Vec<v1beta1::Community>,
    /// Secrets in IronLB's namespace (for passwordSecret).
    pub secrets: Vec<Secret>,
    /// Namespaces (for namespaceSelectors).
    pub namespaces: Vec<Namespace>,
    /// Nodes (for the node-set rules: localPref conflicts, peer compatibility).
    pub nodes: Vec<Node>,
}

/// How to validate.
#[derive(Clone, Debug)]
pub struct ValidateOptions {
    /// The namespace IronLB reads its objects from.
    pub namespace: String,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        ValidateOptions {
            namespace: crate::DEFAULT_NAMESPACE.to_string(),
        }
    }
}

/// Validates every resource into a [`Config`], or returns every error found, grouped by object.
pub fn validate(
    resources: &Resources,
    options: &ValidateOptions,
) -> Result<Config, Vec<ConfigError>> {
    let mut validator = Validator {
        options,
        nodes: &resources.nodes,
        errors: Vec::new(),
    };
    let bfd_objects = validator.in_namespace("BFDProfile", &resources.bfd_profiles);
    let community_objects = validator.in_namespace("Community", &resources.communities);
    let peer_objects = validator.in_namespace("BGPPeer", &resources.peers);
    let pool_objects = validator.in_namespace("IPAddressPool", &resources.pools);
    let bgp_objects = validator.in_namespace("BGPAdvertisement", &resources.bgp_advertisements);
    let l2_objects = validator.in_namespace("L2Advertisement", &resources.l2_advertisements);

    let bfd_profiles = validator.bfd_profiles(&bfd_objects);
    let community_aliases = validator.communities(&community_objects);
    let peers = validator.peers(&peer_objects, &bfd_profiles, &resources.secrets);
    validator.peer_compatibility(&peer_objects);
    let pools = validator.pools(&pool_objects, &resources.namespaces);
    let bgp_advertisements = validator.bgp_advertisements(&bgp_objects, &pools, &community_aliases);
    let l2_advertisements = validator.l2_advertisements(&l2_objects, &pools);
    validator.bfd_echo_with_ipv6(&pools, &bgp_advertisements, &peers, &bfd_profiles);

    let mut errors = validator.errors;
    if !errors.is_empty() {
        errors.sort_by(|a, b| a.object.cmp(&b.object));
        return Err(errors);
    }
    Ok(Config {
        pools,
        peers,
        bfd_profiles,
        bgp_advertisements,
        l2_advertisements,
        community_aliases,
    })
}

/// Something accepted that the user should know: a deprecated field, what it (does not) do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigWarning {
    /// `Kind name`, as errors name objects.
    pub object: String,
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.object, self.field, self.message)
    }
}

/// The warnings MetalLB's webhook gives, for objects that are valid.
pub fn warnings(resources: &Resources) -> Vec<ConfigWarning> {
    resources
        .peers
        .iter()
        .filter(|peer| peer.spec.disable_mp == Some(true))
        .map(|peer| ConfigWarning {
            object: format!("BGPPeer {}", peer.metadata.name.as_deref().unwrap_or_default()),
            field: "spec.disableMP",
            message: "disableMP is deprecated and has no effect: each session carries the address family of its peer address (MetalLB's FRR mode ignores it too)".to_string(),
        })
        .collect()
}

struct Validator<'a> {
    options: &'a ValidateOptions,
    nodes: &'a [Node],
    errors: Vec<ConfigError>,
}

/// `kind namespace/name` of a metallb.io object.
fn object_ref(kind: &str, metadata: &ObjectMeta) -> ObjectRef {
    ObjectRef {
        kind: kind.to_string(),
        namespace: metadata.namespace.clone(),
        name: metadata.name.clone().unwrap_or_default(),
    }
}

fn labels_of(metadata: &ObjectMeta) -> BTreeMap<String, String> {
    metadata.labels.clone().unwrap_or_default()
}

impl Validator<'_> {
    fn error(
        &mut self,
        object: &ObjectRef,
        field: impl Into<String>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            object: object.clone(),
            field: field.into(),
            kind,
            message: message.into(),
        });
    }

    /// Objects of one kind in IronLB's namespace, sorted by name; others are reported.
    /// Objects without a namespace are taken to be in IronLB's (as `kubectl apply -n` would).
    fn in_namespace<'r, K: kube::Resource>(&mut self, kind: &str, objects: &'r [K]) -> Vec<&'r K> {
        let mut kept: Vec<&K> = Vec::new();
        for object in objects {
            let metadata = object.meta();
            match &metadata.namespace {
                Some(namespace) if namespace != &self.options.namespace => {
                    let message = format!(
                        "IronLB reads metallb.io objects only from namespace {:?}; create it there, or run IronLB with --namespace {namespace}",
                        self.options.namespace
                    );
                    self.error(
                        &object_ref(kind, metadata),
                        "metadata.namespace",
                        ErrorKind::WrongNamespace,
                        message,
                    );
                }
                _ => kept.push(object),
            }
        }
        kept.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
        kept
    }

    /// The object's name; reports it missing or defined twice. `None` = skip the object.
    fn name(&mut self, object: &ObjectRef, seen: &mut BTreeSet<String>) -> Option<String> {
        if object.name.is_empty() {
            self.error(
                object,
                "metadata.name",
                ErrorKind::MissingName,
                "metadata.name is missing: every object needs a name",
            );
            return None;
        }
        if !seen.insert(object.name.clone()) {
            let message = format!(
                "duplicate definition of {} {:?}: give each object its own name",
                object.kind, object.name
            );
            self.error(object, "metadata.name", ErrorKind::DuplicateName, message);
            return None;
        }
        Some(object.name.clone())
    }

    fn bfd_profiles(&mut self, objects: &[&v1beta1::BFDProfile]) -> BTreeMap<String, BfdProfile> {
        let mut seen = BTreeSet::new();
        let mut profiles = BTreeMap::new();
        for profile in objects {
            let object = object_ref("BFDProfile", &profile.metadata);
            let Some(name) = self.name(&object, &mut seen) else {
                continue;
            };
            let spec = &profile.spec;
            let before = self.errors.len();
            let receive = self.bounded(
                &object,
                "spec.receiveInterval",
                "receive interval",
                spec.receive_interval,
                10,
                60000,
                300,
            );
            let transmit = self.bounded(
                &object,
                "spec.transmitInterval",
                "transmit interval",
                spec.transmit_interval,
                10,
                60000,
                300,
            );
            let multiplier = self.bounded(
                &object,
                "spec.detectMultiplier",
                "detect multiplier",
                spec.detect_multiplier,
                2,
                255,
                3,
            );
            let echo = self.bounded(
                &object,
                "spec.echoInterval",
                "echo interval",
                spec.echo_interval,
                10,
                60000,
                50,
            );
            let ttl = self.bounded(
                &object,
                "spec.minimumTtl",
                "minimum ttl",
                spec.minimum_ttl,
                1,
                254,
                254,
            );
            if self.errors.len() > before {
                continue;
            }
            profiles.insert(
                name.clone(),
                BfdProfile {
                    name,
                    receive_interval_ms: receive,
                    transmit_interval_ms: transmit,
                    detect_multiplier: u8::try_from(multiplier).unwrap_or(u8::MAX),
                    echo_interval_ms: echo,
                    echo_mode: spec.echo_mode.unwrap_or(false),
                    passive_mode: spec.passive_mode.unwrap_or(false),
                    minimum_ttl: u8::try_from(ttl).unwrap_or(u8::MAX),
                },
            );
        }
        profiles
    }

    #[allow(clippy::too_many_arguments)]
    fn bounded(
        &mut self,
        object: &ObjectRef,
        field: &str,
        what: &str,
        value: Option<u32>,
        min: u32,
        max: u32,
        default: u32,
    ) -> u32 {
        match value {
            None => default,
            Some(value) if (min..=max).contains(&value) => value,
            Some(value) => {
                let message = format!("invalid {what} value {value}, must be in {min}-{max} range");
                self.error(object, field, ErrorKind::OutOfRange, message);
                default
            }
        }
    }

    fn communities(&mut self, objects: &[&v1beta1::Community]) -> BTreeMap<String, Community> {
        let mut seen = BTreeSet::new();
        let mut aliases = BTreeMap::new();
        for community in objects {
            let object = object_ref("Community", &community.metadata);
            if self.name(&object, &mut seen).is_none() {
                continue;
            }
            for (index, alias) in community.spec.communities.iter().enumerate() {
                let field = format!("spec.communities[{index}]");
                match Community::parse(&alias.value) {
                    Err(error) => {
                        let message = format!("parsing community {:?}: {error}", alias.name);
                        self.error(
                            &object,
                            format!("{field}.value"),
                            ErrorKind::InvalidCommunity,
                            message,
                        );
                    }
                    Ok(value) => {
                        if aliases.insert(alias.name.clone(), value).is_some() {
                            let message = format!(
                                "duplicate definition of community {:?}: an alias name may be defined once, across all Community objects",
                                alias.name
                            );
                            self.error(
                                &object,
                                format!("{field}.name"),
                                ErrorKind::DuplicateCommunityAlias,
                                message,
                            );
                        }
                    }
                }
            }
        }
        aliases
    }

    fn peers(
        &mut self,
        objects: &[&v1beta2::BGPPeer],
        bfd_profiles: &BTreeMap<String, BfdProfile>,
        secrets: &[Secret],
    ) -> BTreeMap<String, Peer> {
        let mut seen = BTreeSet::new();
        let mut peers = BTreeMap::new();
        for peer in objects {
            let object = object_ref("BGPPeer", &peer.metadata);
            let Some(name) = self.name(&object, &mut seen) else {
                continue;
            };
            if let Some(parsed) =
                self.peer(&object, name.clone(), &peer.spec, bfd_profiles, secrets)
            {
                peers.insert(name, parsed);
            }
        }
        peers
    }

    fn peer(
        &mut self,
        object: &ObjectRef,
        name: String,
        spec: &v1beta2::BGPPeerSpec,
        bfd_profiles: &BTreeMap<String, BfdProfile>,
        secrets: &[Secret],
    ) -> Option<Peer> {
        let before = self.errors.len();
        let my_asn = NonZeroU32::new(spec.my_asn);
        if my_asn.is_none() {
            self.error(
                object,
                "spec.myASN",
                ErrorKind::MissingLocalAsn,
                "missing local ASN: set spec.myASN to the cluster's AS number (1-4294967295)",
            );
        }
        let literal_peer_asn = spec.peer_asn.unwrap_or(0);
        let peer_asn = match (NonZeroU32::new(literal_peer_asn), spec.dynamic_asn) {
            (None, None) => {
                self.error(object, "spec.peerASN", ErrorKind::MissingPeerAsn, "missing peer ASN and dynamicASN: set spec.peerASN to the router's AS number, or spec.dynamicASN to internal or external");
                None
            }
            (Some(_), Some(_)) => {
                self.error(object, "spec.dynamicASN", ErrorKind::BothPeerAsnAndDynamicAsn, "both peer ASN and dynamicASN specified: keep only one of spec.peerASN and spec.dynamicASN");
                None
            }
            (Some(asn), None) => Some(PeerAsn::Fixed(asn)),
            (None, Some(v1beta2::DynamicAsnMode::Internal)) => Some(PeerAsn::Internal),
            (None, Some(v1beta2::DynamicAsnMode::External)) => Some(PeerAsn::External),
        };
        let ebgp_multi_hop = spec.ebgp_multi_hop.unwrap_or(false);
        // MetalLB compares the literal peerASN, so dynamicASN peers are never caught here.
        if literal_peer_asn == spec.my_asn && ebgp_multi_hop {
            self.error(object, "spec.ebgpMultiHop", ErrorKind::EbgpMultiHopOnIbgp, "invalid ebgp-multihop parameter set for an ibgp peer: remove spec.ebgpMultiHop, iBGP peers need no TTL change");
        }
        let address = match (spec.peer_address.is_empty(), spec.interface.is_empty()) {
            (true, true) => {
                self.error(object, "spec.peerAddress", ErrorKind::MissingPeerAddress, "peer has no Address or Interface specified: set spec.peerAddress (or spec.interface for BGP unnumbered)");
                None
            }
            (false, false) => {
                self.error(object, "spec.interface", ErrorKind::BothAddressAndInterface, "peer has both Address and Interface specified: keep only one of spec.peerAddress and spec.interface");
                None
            }
            (false, true) => match spec.peer_address.parse::<IpAddr>() {
                Ok(ip) => Some(PeerAddress::Address(ip)),
                Err(_) => {
                    let message = format!(
                        "invalid BGPPeer address {:?}: write an IPv4 or IPv6 address such as 10.0.0.1",
                        spec.peer_address
                    );
                    self.error(
                        object,
                        "spec.peerAddress",
                        ErrorKind::InvalidPeerAddress,
                        message,
                    );
                    None
                }
            },
            // BGP unnumbered: the router found on the interface from its Router Advertisements.
            (true, false) => Some(PeerAddress::Interface(spec.interface.clone())),
        };
        if !spec.vrf.is_empty() {
            let message = format!(
                "spec.vrf {:?} is not supported yet: IronLB's sessions would run in the default VRF, not in {:?}; remove spec.vrf and peer in the default VRF",
                spec.vrf, spec.vrf
            );
            self.error(object, "spec.vrf", ErrorKind::NotSupported, message);
        }
        let timers = self.timers(object, spec.hold_time, spec.keepalive_time);
        let router_id = self.optional_ip(
            object,
            "spec.routerID",
            &spec.router_id,
            ErrorKind::InvalidRouterId,
            "invalid router ID",
        );
        if let Some(Some(IpAddr::V6(id))) = router_id {
            // MetalLB accepts it and hands FRR `bgp router-id <IPv6>`, which FRR refuses.
            let message = format!(
                "router ID {id} is an IPv6 address; a BGP identifier is 32 bits (RFC 6286): give an IPv4 address"
            );
            self.error(object, "spec.routerID", ErrorKind::InvalidRouterId, message);
        }
        let source_address = self.optional_ip(
            object,
            "spec.sourceAddress",
            &spec.source_address,
            ErrorKind::InvalidSourceAddress,
            "invalid source IP",
        );
        let node_selectors = self.selectors(
            object,
            "spec.nodeSelectors",
            "nodeSelectors",
            &spec.node_selectors,
        );
        let port = match spec.peer_port {
            None => 179,
            Some(0) => {
                let message =
                    "invalid peerPort 0, must be in 1-16384 range (omit it for 179): the CRD schema refuses 0".to_string();
                self.error(object, "spec.peerPort", ErrorKind::OutOfRange, message);
                179
            }
            Some(port) if port <= 16384 => port,
            Some(port) => {
                let message = format!("invalid peerPort {port}, must be in 1-16384 range");
                self.error(object, "spec.peerPort", ErrorKind::OutOfRange, message);
                179
            }
        };
        let local_asn = match spec.local_asn {
            None => None,
            Some(0) => {
                self.error(
                    object,
                    "spec.localASN",
                    ErrorKind::OutOfRange,
                    "invalid localASN 0, must be in 1-4294967295 range (or remove it)",
                );
                None
            }
            Some(asn) => NonZeroU32::new(asn),
        };
        if let Some(connect) = spec.connect_time {
            let seconds = connect.whole_seconds();
            if !(1..=65535).contains(&seconds) {
                self.error(
                    object,
                    "spec.connectTime",
                    ErrorKind::InvalidConnectTime,
                    format!("connect time {connect} should be between 1 seconds to 65535"),
                );
            } else if connect.as_nanos() % 1_000_000_000 != 0 {
                self.error(
                    object,
                    "spec.connectTime",
                    ErrorKind::InvalidConnectTime,
                    format!("connect time {connect} should contain a whole number of seconds"),
                );
            }
        }
        let secret_name = spec
            .password_secret
            .as_ref()
            .and_then(|s| s.name.clone())
            .filter(|n| !n.is_empty());
        let password = match (spec.password.is_empty(), secret_name) {
            (false, Some(_)) => {
                let message = format!(
                    "can not have both password and secret ref set in peer config {}: keep only one of spec.password and spec.passwordSecret",
                    object
                );
                self.error(
                    object,
                    "spec.passwordSecret",
                    ErrorKind::BothPasswordAndSecret,
                    message,
                );
                None
            }
            (false, None) => Some(Password::Inline(spec.password.clone())),
            (true, Some(secret)) => self.password_from_secret(object, &secret, secrets),
            (true, None) => None,
        };
        let bfd_profile = (!spec.bfd_profile.is_empty()).then(|| spec.bfd_profile.clone());
        if let Some(profile) = &bfd_profile
            && !bfd_profiles.contains_key(profile)
        {
            let message = format!(
                "peer {} referencing non existing bfd profile {profile}: create BFDProfile {profile:?} in namespace {} or fix spec.bfdProfile",
                object.name, self.options.namespace
            );
            self.error(
                object,
                "spec.bfdProfile",
                ErrorKind::MissingBfdProfile,
                message,
            );
        }
        if self.errors.len() > before {
            return None;
        }
        Some(Peer {
            name,
            my_asn: my_asn?,
            peer_asn: peer_asn?,
            local_asn,
            address: address?,
            source_address: source_address.flatten(),
            port,
            timers: timers?,
            connect_time: spec.connect_time,
            router_id: router_id.flatten(),
            node_selectors,
            password,
            bfd_profile,
            graceful_restart: spec.enable_graceful_restart.unwrap_or(false),
            ebgp_multi_hop,
            vrf: spec.vrf.clone(),
            dual_stack_address_family: spec.dual_stack_address_family.unwrap_or(false),
        })
    }

    /// MetalLB's timer rules. `Some(None)` = valid and unset; `None` = invalid.
    fn timers(
        &mut self,
        object: &ObjectRef,
        hold: Option<Duration>,
        keepalive: Option<Duration>,
    ) -> Option<Option<Timers>> {
        let (hold_time, keepalive_time) = match (hold, keepalive) {
            (None, None) => return Some(None),
            (Some(hold), Some(keepalive)) => (hold, keepalive),
            (Some(hold), None) => (hold, Duration::from_nanos(hold.as_nanos() / 3)),
            (None, Some(keepalive)) => (
                Duration::from_nanos(keepalive.as_nanos().saturating_mul(3)),
                keepalive,
            ),
        };
        // Truncated to whole seconds, as MetalLB does: 2500ms fails, 500ms passes as 0.
        let whole_seconds = hold_time.whole_seconds();
        if whole_seconds != 0 && whole_seconds < 3 {
            let message = format!(
                "invalid hold time {hold_time}: must be 0 or >=3s (90s is the usual value)"
            );
            self.error(object, "spec.holdTime", ErrorKind::InvalidHoldTime, message);
            return None;
        }
        if keepalive_time > hold_time {
            let message = format!(
                "invalid keepaliveTime {keepalive_time}, must be lower than holdTime {hold_time}: a third of the hold time is the usual value"
            );
            self.error(
                object,
                "spec.keepaliveTime",
                ErrorKind::InvalidKeepaliveTime,
                message,
            );
            return None;
        }
        Some(Some(Timers {
            hold: hold_time,
            keepalive: keepalive_time,
        }))
    }

    /// An optional IP field. `Some(None)` = unset; `None` = invalid.
    fn optional_ip(
        &mut self,
        object: &ObjectRef,
        field: &str,
        text: &str,
        kind: ErrorKind,
        what: &str,
    ) -> Option<Option<IpAddr>> {
        if text.is_empty() {
            return Some(None);
        }
        match text.parse() {
            Ok(ip) => Some(Some(ip)),
            Err(_) => {
                let message = format!("{what} {text:?}: write an IP address such as 10.0.0.21");
                self.error(object, field, kind, message);
                None
            }
        }
    }

    fn password_from_secret(
        &mut self,
        object: &ObjectRef,
        name: &str,
        secrets: &[Secret],
    ) -> Option<Password> {
        let namespace = &self.options.namespace;
        let secret = secrets.iter().find(|secret| {
            secret.metadata.name.as_deref() == Some(name)
                && secret
                    .metadata
                    .namespace
                    .as_deref()
                    .is_none_or(|ns| ns == namespace)
        });
        let Some(secret) = secret else {
            let message = format!(
                "secret ref not found for peer config {object}: create Secret {name:?} of type kubernetes.io/basic-auth in namespace {namespace}"
            );
            self.error(
                object,
                "spec.passwordSecret",
                ErrorKind::MissingSecret,
                message,
            );
            return None;
        };
        if secret.type_.as_deref() != Some("kubernetes.io/basic-auth") {
            let message = format!(
                "secret type mismatch on {namespace:?}/{name:?}, type \"kubernetes.io/basic-auth\" is expected (it has {:?})",
                secret.type_.as_deref().unwrap_or("Opaque")
            );
            self.error(
                object,
                "spec.passwordSecret",
                ErrorKind::SecretTypeMismatch,
                message,
            );
            return None;
        }
        let from_data = secret
            .data
            .as_ref()
            .and_then(|data| data.get("password"))
            .map(|bytes| String::from_utf8_lossy(&bytes.0).into_owned());
        let from_string_data = secret
            .string_data
            .as_ref()
            .and_then(|data| data.get("password"))
            .cloned();
        match from_data.or(from_string_data) {
            Some(value) => Some(Password::FromSecret {
                secret: name.to_string(),
                value,
            }),
            None => {
                let message = format!(
                    "password not specified in the secret {namespace:?}/{name:?}: add the key \"password\""
                );
                self.error(
                    object,
                    "spec.passwordSecret",
                    ErrorKind::SecretWithoutPassword,
                    message,
                );
                None
            }
        }
    }

    /// Parses a selector list, refusing duplicates and bad selectors. Selectors are compared as
    /// written with expression values sorted, as MetalLB compares them: `matchLabels {a: x}` and
    /// the expression `a In [x]` are not duplicates, `a In [x, y]` and `a In [y, x]` are.
    fn selectors(
        &mut self,
        object: &ObjectRef,
        field: &str,
        what: &str,
        selectors: &[LabelSelector],
    ) -> Vec<Selector> {
        let mut parsed: Vec<Selector> = Vec::new();
        let mut written = Vec::new();
        for (index, selector) in selectors.iter().enumerate() {
            let item_field = format!("{field}[{index}]");
            let mut failed = false;
            for (expression_index, expression) in
                selector.match_expressions.iter().flatten().enumerate()
            {
                let values = expression.values.clone().unwrap_or_default();
                if let Some(value) = first_duplicate(&values) {
                    let message = format!(
                        "duplicate definition of match expression value in label selector {value:?}"
                    );
                    self.error(
                        object,
                        format!("{item_field}.matchExpressions[{expression_index}].values"),
                        ErrorKind::DuplicateValue,
                        message,
                    );
                    failed = true;
                }
            }
            let normalized: Vec<_> = selector
                .match_expressions
                .iter()
                .flatten()
                .map(|e| {
                    let mut values = e.values.clone().unwrap_or_default();
                    values.sort();
                    (e.key.clone(), e.operator.clone(), values)
                })
                .collect();
            if let Some(duplicate) = first_duplicate(&normalized) {
                let message = format!(
                    "duplicate definition of match expressions {:?}",
                    duplicate.0
                );
                self.error(
                    object,
                    format!("{item_field}.matchExpressions"),
                    ErrorKind::DuplicateSelector,
                    message,
                );
                failed = true;
            }
            let as_written = (
                selector.match_labels.clone().unwrap_or_default(),
                normalized,
            );
            if written.contains(&as_written) {
                let shown =
                    Selector::parse(selector).map_or_else(|_| "…".into(), |s| s.to_string());
                let message =
                    format!("duplicate definition of {what} \"{shown}\": remove one of the two");
                self.error(object, item_field, ErrorKind::DuplicateSelector, message);
                continue;
            }
            written.push(as_written);
            match Selector::parse(selector) {
                Ok(selector) => {
                    if !failed {
                        parsed.push(selector);
                    }
                }
                Err(error) => {
                    let message = format!("failed to parse {what} selector: {error}");
                    self.error(object, item_field, ErrorKind::InvalidSelector, message);
                }
            }
        }
        parsed
    }

    fn duplicates(&mut self, object: &ObjectRef, field: &str, what: &str, values: &[String]) {
        if let Some(value) = first_duplicate(values) {
            let message = format!("duplicate definition of {what} {value:?}: list it once");
            self.error(object, field, ErrorKind::DuplicateValue, message);
        }
    }

    /// FRR-mode compatibility of peers that can run on one node (MetalLB `validation.go`).
    fn peer_compatibility(&mut self, objects: &[&v1beta2::BGPPeer]) {
        for (i, later) in objects.iter().enumerate() {
            for earlier in &objects[..i] {
                if !self.peers_share_node(&later.spec.node_selectors, &earlier.spec.node_selectors)
                {
                    continue;
                }
                let object = object_ref("BGPPeer", &later.metadata);
                let other = earlier.metadata.name.clone().unwrap_or_default();
                let (p, q) = (&later.spec, &earlier.spec);
                if p.router_id != q.router_id {
                    let message = format!(
                        "routerID {:?} differs from {:?} of BGPPeer {other:?}: peers selecting the same node must all have the same routerID",
                        p.router_id, q.router_id
                    );
                    self.error(
                        &object,
                        "spec.routerID",
                        ErrorKind::RouterIdMismatch,
                        message,
                    );
                } else if peer_identity(p) == peer_identity(q) {
                    let message = format!(
                        "peer {} already exists as BGPPeer {other:?}: two BGPPeers selecting the same node may not have the same address (the port does not count); give them disjoint nodeSelectors or remove one",
                        peer_identity(p)
                    );
                    self.error(
                        &object,
                        "spec.peerAddress",
                        ErrorKind::DuplicatePeer,
                        message,
                    );
                } else if p.my_asn != q.my_asn && p.vrf == q.vrf {
                    let message = format!(
                        "myASN {} differs from {} of BGPPeer {other:?}: peers selecting the same node must have the same myASN within the same VRF",
                        p.my_asn, q.my_asn
                    );
                    self.error(&object, "spec.myASN", ErrorKind::MyAsnMismatch, message);
                }
            }
        }
    }

    /// Whether some known Node matches both selector lists; with no Nodes known, always.
    fn peers_share_node(&self, first: &[LabelSelector], second: &[LabelSelector]) -> bool {
        if self.nodes.is_empty() {
            return true;
        }
        let first = self.node_set(first);
        let second = self.node_set(second);
        !first.is_disjoint(&second)
    }

    /// Names of the known Nodes matched by a selector list (empty list = all; bad selectors
    /// match nothing, they are reported where they are parsed).
    fn node_set(&self, selectors: &[LabelSelector]) -> BTreeSet<String> {
        let parsed: Vec<Selector> = selectors
            .iter()
            .filter_map(|s| Selector::parse(s).ok())
            .collect();
        self.nodes
            .iter()
            .filter(|node| {
                let labels = labels_of(&node.metadata);
                selectors.is_empty() || parsed.iter().any(|s| s.matches(&labels))
            })
            .filter_map(|node| node.metadata.name.clone())
            .collect()
    }

    fn pools(
        &mut self,
        objects: &[&v1beta1::IPAddressPool],
        namespaces: &[Namespace],
    ) -> BTreeMap<String, Pool> {
        let mut seen = BTreeSet::new();
        let mut pools = BTreeMap::new();
        let mut all_cidrs: Vec<(IpNet, String)> = Vec::new();
        for pool in objects {
            let object = object_ref("IPAddressPool", &pool.metadata);
            let Some(name) = self.name(&object, &mut seen) else {
                continue;
            };
            let before = self.errors.len();
            let spec = &pool.spec;
            if spec.addresses.is_empty() {
                self.error(&object, "spec.addresses", ErrorKind::NoAddresses, "pool has no prefixes defined: list at least one CIDR or range in spec.addresses");
            }
            let mut entries = Vec::new();
            for (index, text) in spec.addresses.iter().enumerate() {
                let field = format!("spec.addresses[{index}]");
                match address::parse_entry(text) {
                    Ok(cidrs) => {
                        for cidr in &cidrs {
                            if let Some((other, other_pool)) = all_cidrs
                                .iter()
                                .find(|(other, _)| address::overlaps(cidr, other))
                            {
                                let message = format!(
                                    "CIDR {cidr} in pool {name:?} overlaps with already defined CIDR {other} of pool {other_pool:?}: pools may not share addresses"
                                );
                                self.error(
                                    &object,
                                    field.clone(),
                                    ErrorKind::OverlappingCidr,
                                    message,
                                );
                            } else {
                                all_cidrs.push((*cidr, name.clone()));
                            }
                        }
                        entries.push(AddressEntry {
                            text: text.clone(),
                            cidrs,
                        });
                    }
                    Err(error) => {
                        let kind = match error {
                            AddressError::Cidr(_) => ErrorKind::InvalidCidr,
                            _ => ErrorKind::InvalidRange,
                        };
                        self.error(&object, field, kind, format!("{error} in pool {name:?}"));
                    }
                }
            }
            let service_allocation = spec
                .service_allocation
                .as_ref()
                .map(|allocation| self.service_allocation(&object, allocation, namespaces));
            if self.errors.len() > before {
                continue;
            }
            pools.insert(
                name.clone(),
                Pool {
                    name,
                    labels: labels_of(&pool.metadata),
                    entries,
                    auto_assign: spec.auto_assign.unwrap_or(true),
                    avoid_buggy_ips: spec.avoid_buggy_ips.unwrap_or(false),
                    service_allocation,
                },
            );
        }
        pools
    }

    fn service_allocation(
        &mut self,
        object: &ObjectRef,
        allocation: &v1beta1::ServiceAllocation,
        namespaces: &[Namespace],
    ) -> ServiceAllocation {
        if let Some(value) = first_duplicate(&allocation.namespaces) {
            let message =
                format!("duplicate definition in namespaces field: {value:?} is listed twice");
            self.error(
                object,
                "spec.serviceAllocation.namespaces",
                ErrorKind::DuplicateValue,
                message,
            );
        }
        let namespace_selectors = self.selectors(
            object,
            "spec.serviceAllocation.namespaceSelectors",
            "namespaceSelectors",
            &allocation.namespace_selectors,
        );
        let service_selectors = self.selectors(
            object,
            "spec.serviceAllocation.serviceSelectors",
            "serviceSelectors",
            &allocation.service_selectors,
        );
        let mut admitted: BTreeSet<String> = allocation.namespaces.iter().cloned().collect();
        for namespace in namespaces {
            let labels = labels_of(&namespace.metadata);
            if namespace_selectors.iter().any(|s| s.matches(&labels)) {
                admitted.extend(namespace.metadata.name.clone());
            }
        }
        ServiceAllocation {
            priority: allocation.priority.unwrap_or(0),
            namespaces: admitted,
            restricts_namespaces: !allocation.namespaces.is_empty()
                || !allocation.namespace_selectors.is_empty(),
            service_selectors,
        }
    }

    fn bgp_advertisements(
        &mut self,
        objects: &[&v1beta1::BGPAdvertisement],
        pools: &BTreeMap<String, Pool>,
        aliases: &BTreeMap<String, Community>,
    ) -> Vec<BgpAdvertisement> {
        let mut seen = BTreeSet::new();
        let mut advertisements: Vec<BgpAdvertisement> = Vec::new();
        // Per pool, the advertisements already attached (for the localPref rule).
        let mut attached: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for advertisement in objects {
            let object = object_ref("BGPAdvertisement", &advertisement.metadata);
            let Some(name) = self.name(&object, &mut seen) else {
                continue;
            };
            let before = self.errors.len();
            let spec = &advertisement.spec;
            self.duplicates(
                &object,
                "spec.ipAddressPools",
                "ipAddressPools",
                &spec.ip_address_pools,
            );
            self.duplicates(&object, "spec.communities", "community", &spec.communities);
            self.duplicates(&object, "spec.peers", "peers", &spec.peers);
            let pool_selectors = self.selectors(
                &object,
                "spec.ipAddressPoolSelectors",
                "ipAddressPoolSelectors",
                &spec.ip_address_pool_selectors,
            );
            let node_selectors = self.selectors(
                &object,
                "spec.nodeSelectors",
                "nodeSelectors",
                &spec.node_selectors,
            );
            let service_selectors = self.selectors(
                &object,
                "spec.serviceSelectors",
                "serviceSelectors",
                &spec.service_selectors,
            );
            if !spec.service_selectors.is_empty() {
                if spec.aggregation_length.is_some_and(|l| l != 32) {
                    self.error(&object, "spec.aggregationLength", ErrorKind::ServiceSelectorsWithAggregation, "serviceSelectors and aggregationLength are mutually exclusive: remove spec.aggregationLength or spec.serviceSelectors");
                }
                if spec.aggregation_length_v6.is_some_and(|l| l != 128) {
                    self.error(&object, "spec.aggregationLengthV6", ErrorKind::ServiceSelectorsWithAggregation, "serviceSelectors and aggregationLengthV6 are mutually exclusive: remove spec.aggregationLengthV6 or spec.serviceSelectors");
                }
            }
            let aggregation_length = match spec.aggregation_length.unwrap_or(32) {
                length @ 1..=32 => length as u8,
                length => {
                    let message = format!(
                        "invalid aggregation length {length} for IPv4: must be in 1-32 (32 announces each service IP alone)"
                    );
                    self.error(
                        &object,
                        "spec.aggregationLength",
                        ErrorKind::InvalidAggregationLength,
                        message,
                    );
                    32
                }
            };
            let aggregation_length_v6 = match spec.aggregation_length_v6.unwrap_or(128) {
                length @ 0..=128 => length as u8,
                length => {
                    let message = format!(
                        "invalid aggregation length {length} for IPv6: must be in 0-128 (128 announces each service IP alone)"
                    );
                    self.error(
                        &object,
                        "spec.aggregationLengthV6",
                        ErrorKind::InvalidAggregationLength,
                        message,
                    );
                    128
                }
            };
            let mut communities = BTreeSet::new();
            for (index, text) in spec.communities.iter().enumerate() {
                let field = format!("spec.communities[{index}]");
                if let Some(value) = aliases.get(text) {
                    communities.insert(*value);
                    continue;
                }
                match Community::parse(text) {
                    Ok(value) => {
                        communities.insert(value);
                    }
                    Err(CommunityError::Value(_)) => {
                        let message = format!(
                            "invalid community {text:?} in BGP advertisement: write AA:NN with two numbers 0-65535, or large:A:B:C with three numbers 0-4294967295"
                        );
                        self.error(&object, field, ErrorKind::InvalidCommunity, message);
                    }
                    Err(CommunityError::Format(_)) => {
                        let message = format!(
                            "community {text:?} is neither AA:NN, large:A:B:C nor the name of a Community alias: fix it or create the alias in a Community object"
                        );
                        self.error(&object, field, ErrorKind::UnknownCommunity, message);
                    }
                }
            }
            // Pools: by name (unknown names match nothing) and by labels; neither = all pools.
            let selected: BTreeSet<String> =
                if spec.ip_address_pools.is_empty() && spec.ip_address_pool_selectors.is_empty() {
                    pools.keys().cloned().collect()
                } else {
                    pools
                        .values()
                        .filter(|pool| {
                            spec.ip_address_pools.contains(&pool.name)
                                || pool_selectors.iter().any(|s| s.matches(&pool.labels))
                        })
                        .map(|pool| pool.name.clone())
                        .collect()
                };
            let candidate = BgpAdvertisement {
                name,
                aggregation_length,
                aggregation_length_v6,
                local_pref: (spec.local_pref.unwrap_or(0) != 0)
                    .then(|| spec.local_pref.unwrap_or(0)),
                communities,
                pools: selected,
                node_selectors,
                peers: spec.peers.clone(),
                service_selectors,
            };
            for pool_name in &candidate.pools {
                let Some(pool) = pools.get(pool_name) else {
                    continue;
                };
                self.aggregation_fits_pool(&object, &candidate, pool);
                if candidate.service_selectors.is_empty() {
                    for &index in attached.get(pool_name).into_iter().flatten() {
                        let existing = &advertisements[index];
                        if existing.service_selectors.is_empty()
                            && !self.local_prefs_compatible(&candidate, existing, pool)
                        {
                            let message = format!(
                                "invalid local preference {}: local preference {} was already set by BGPAdvertisement {:?} for the same pool {:?}, aggregation, peers and nodes; make them equal, or separate the advertisements by peers, nodeSelectors or aggregation length",
                                candidate.local_pref.unwrap_or(0),
                                existing.local_pref.unwrap_or(0),
                                existing.name,
                                pool_name
                            );
                            self.error(
                                &object,
                                "spec.localPref",
                                ErrorKind::LocalPrefConflict,
                                message,
                            );
                        }
                    }
                }
            }
            if self.errors.len() > before {
                continue;
            }
            for pool_name in &candidate.pools {
                attached
                    .entry(pool_name.clone())
                    .or_default()
                    .push(advertisements.len());
            }
            advertisements.push(candidate);
        }
        advertisements
    }

    /// Each address entry's aggregation length must be at least the entry's shortest prefix.
    fn aggregation_fits_pool(
        &mut self,
        object: &ObjectRef,
        advertisement: &BgpAdvertisement,
        pool: &Pool,
    ) {
        for entry in &pool.entries {
            let Some(first) = entry.cidrs.first() else {
                continue;
            };
            let (length, field) = match first {
                IpNet::V4(_) => (advertisement.aggregation_length, "spec.aggregationLength"),
                IpNet::V6(_) => (
                    advertisement.aggregation_length_v6,
                    "spec.aggregationLengthV6",
                ),
            };
            let lowest = entry.cidrs.iter().map(IpNet::prefix_len).min().unwrap_or(0);
            if length < lowest {
                let message = format!(
                    "invalid aggregation length {length}: prefix {lowest} in pool {:?} is more specific than the aggregation length for addresses {}; use {lowest} or more",
                    pool.name, entry.text
                );
                self.error(object, field, ErrorKind::AggregationLengthTooShort, message);
            }
        }
    }

    /// MetalLB's `BGPAdvertisementsHaveCompatibleLocalPref`.
    fn local_prefs_compatible(
        &self,
        candidate: &BgpAdvertisement,
        existing: &BgpAdvertisement,
        pool: &Pool,
    ) -> bool {
        if candidate.local_pref == existing.local_pref {
            return true;
        }
        let (has_v4, has_v6) = (pool.has_family(false), pool.has_family(true));
        let v4_differs = candidate.aggregation_length != existing.aggregation_length;
        let v6_differs = candidate.aggregation_length_v6 != existing.aggregation_length_v6;
        let aggregation_differs = match (has_v4, has_v6) {
            (false, false) => true,
            (true, false) => v4_differs,
            (false, true) => v6_differs,
            (true, true) => v4_differs && v6_differs,
        };
        if aggregation_differs {
            return true;
        }
        if !candidate.peers.is_empty()
            && !existing.peers.is_empty()
            && !candidate.peers.iter().any(|p| existing.peers.contains(p))
        {
            return true;
        }
        let candidate_nodes = self.node_set_from(&candidate.node_selectors);
        let existing_nodes = self.node_set_from(&existing.node_selectors);
        candidate_nodes.is_disjoint(&existing_nodes)
    }

    fn node_set_from(&self, selectors: &[Selector]) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter(|node| crate::selector::any_matches(selectors, &labels_of(&node.metadata)))
            .filter_map(|node| node.metadata.name.clone())
            .collect()
    }

    fn l2_advertisements(
        &mut self,
        objects: &[&v1beta1::L2Advertisement],
        pools: &BTreeMap<String, Pool>,
    ) -> Vec<L2Advertisement> {
        let mut seen = BTreeSet::new();
        let mut advertisements = Vec::new();
        for advertisement in objects {
            let object = object_ref("L2Advertisement", &advertisement.metadata);
            let Some(name) = self.name(&object, &mut seen) else {
                continue;
            };
            let before = self.errors.len();
            let spec = &advertisement.spec;
            self.duplicates(
                &object,
                "spec.ipAddressPools",
                "ipAddressPools",
                &spec.ip_address_pools,
            );
            let pool_selectors = self.selectors(
                &object,
                "spec.ipAddressPoolSelectors",
                "ipAddressPoolSelectors",
                &spec.ip_address_pool_selectors,
            );
            let node_selectors = self.selectors(
                &object,
                "spec.nodeSelectors",
                "nodeSelectors",
                &spec.node_selectors,
            );
            let service_selectors = self.selectors(
                &object,
                "spec.serviceSelectors",
                "serviceSelectors",
                &spec.service_selectors,
            );
            let mut preferred_nodes = Vec::new();
            for (index, preferred) in spec.preferred_node_selectors.iter().enumerate() {
                let field = format!("spec.preferredNodeSelectors[{index}]");
                if !(1..=100).contains(&preferred.weight) {
                    let message = format!(
                        "invalid weight {}, must be in 1-100 range",
                        preferred.weight
                    );
                    self.error(
                        &object,
                        format!("{field}.weight"),
                        ErrorKind::OutOfRange,
                        message,
                    );
                    continue;
                }
                match Selector::parse(&preferred.preference) {
                    Ok(selector) => preferred_nodes.push((preferred.weight as u8, selector)),
                    Err(error) => {
                        let message = format!("invalid preferred node selector: {error}");
                        self.error(
                            &object,
                            format!("{field}.preference"),
                            ErrorKind::InvalidSelector,
                            message,
                        );
                    }
                }
            }
            if self.errors.len() > before {
                continue;
            }
            let selected =
                if spec.ip_address_pools.is_empty() && spec.ip_address_pool_selectors.is_empty() {
                    pools.keys().cloned().collect()
                } else {
                    pools
                        .values()
                        .filter(|pool| {
                            spec.ip_address_pools.contains(&pool.name)
                                || pool_selectors.iter().any(|s| s.matches(&pool.labels))
                        })
                        .map(|pool| pool.name.clone())
                        .collect()
                };
            advertisements.push(L2Advertisement {
                name,
                pools: selected,
                node_selectors,
                interfaces: spec.interfaces.clone(),
                service_selectors,
                preferred_nodes,
            });
        }
        advertisements
    }

    /// BFD echo is IPv4 only: no IPv6 pool may be advertised to a peer with echo mode on.
    fn bfd_echo_with_ipv6(
        &mut self,
        pools: &BTreeMap<String, Pool>,
        advertisements: &[BgpAdvertisement],
        peers: &BTreeMap<String, Peer>,
        bfd_profiles: &BTreeMap<String, BfdProfile>,
    ) {
        let echo = |peer: &Peer| {
            peer.bfd_profile
                .as_ref()
                .and_then(|name| bfd_profiles.get(name))
                .is_some_and(|profile| profile.echo_mode)
        };
        for advertisement in advertisements {
            for pool_name in &advertisement.pools {
                let Some(pool) = pools.get(pool_name) else {
                    continue;
                };
                if !pool.has_family(true) {
                    continue;
                }
                let targets: Vec<&Peer> = if advertisement.peers.is_empty() {
                    peers.values().collect()
                } else {
                    advertisement
                        .peers
                        .iter()
                        .filter_map(|name| peers.get(name))
                        .collect()
                };
                for peer in targets.into_iter().filter(|peer| echo(peer)) {
                    let object = ObjectRef {
                        kind: "BGPAdvertisement".into(),
                        namespace: Some(self.options.namespace.clone()),
                        name: advertisement.name.clone(),
                    };
                    let message = format!(
                        "pool {pool_name} has IPv6 addresses advertised to peer {} whose BFD profile has echo mode on, which is not possible (BFD echo is IPv4 only): turn echoMode off or restrict spec.peers",
                        peer.name
                    );
                    self.error(&object, "spec.peers", ErrorKind::BfdEchoWithIpv6, message);
                }
            }
        }
    }
}

/// MetalLB's peer identity: address (or interface), plus `-vrf` when a VRF is set.
fn peer_identity(spec: &v1beta2::BGPPeerSpec) -> String {
    let id = if spec.peer_address.is_empty() {
        &spec.interface
    } else {
        &spec.peer_address
    };
    if spec.vrf.is_empty() {
        id.clone()
    } else {
        format!("{id}-{}", spec.vrf)
    }
}

fn first_duplicate<T: PartialEq>(values: &[T]) -> Option<&T> {
    values
        .iter()
        .enumerate()
        .find(|(index, value)| values[..*index].contains(value))
        .map(|(_, value)| value)
}

impl Resources {
    /// Sorts decoded objects into the resources validation reads; other kinds are skipped.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a ironlb_api::Object>) -> Self {
        use ironlb_api::Object;
        let mut resources = Resources::default();
        for object in objects {
            match object {
                Object::IPAddressPool(o) => resources.pools.push(o.clone()),
                Object::BGPPeer(o) => resources.peers.push(o.clone()),
                Object::BFDProfile(o) => resources.bfd_profiles.push(o.clone()),
                Object::BGPAdvertisement(o) => resources.bgp_advertisements.push(o.clone()),
                Object::L2Advertisement(o) => resources.l2_advertisements.push(o.clone()),
                Object::Community(o) => resources.communities.push(o.clone()),
                Object::Secret(o) => resources.secrets.push(o.clone()),
                Object::Namespace(o) => resources.namespaces.push(o.clone()),
                Object::Node(o) => resources.nodes.push(o.clone()),
                _ => {}
            }
        }
        resources
    }
}

impl Resources {
    /// The resources as MetalLB's validating webhooks judge them: without the references to
    /// objects that may simply not exist yet (a BGPPeer's `bfdProfile` and `passwordSecret`,
    /// a BGPAdvertisement's communities that are not literal values, i.e. Community aliases).
    /// So `kubectl apply -f dir/` does not depend on file order; a reference still dangling
    /// is a configuration error ([`ConfigError::is_transient`]) that keeps the configuration
    /// from loading (ConfigurationState says so) until the object appears. MetalLB:
    /// `resetTransientErrorsFields` in `internal/config/validator.go`.
    pub fn without_references(&self) -> Resources {
        let mut out = self.clone();
        for peer in &mut out.peers {
            peer.spec.bfd_profile.clear();
            peer.spec.password_secret = None;
        }
        for advertisement in &mut out.bgp_advertisements {
            advertisement
                .spec
                .communities
                .retain(|community| community.contains(':'));
        }
        out
    }
}

impl ConfigError {
    /// An object that did not decode, as a configuration error.
    pub fn from_object_error(error: &ironlb_api::ObjectError) -> Self {
        ConfigError {
            object: error.object.clone(),
            field: error.field.clone(),
            kind: ErrorKind::Decode,
            message: format!("{} (at {})", error.message, error.origin),
        }
    }
}
