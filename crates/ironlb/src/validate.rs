//! `ironlb validate`: reads manifests as IronLB will, prints a line per resource or every error.

use std::path::PathBuf;
use std::process::ExitCode;

use ironlb_api::Object;
use ironlb_api::k8s_openapi::api::core::v1::Service;
use ironlb_config::{Config, ConfigError, PeerAddress, PeerAsn, Resources, ValidateOptions};

#[derive(clap::Args)]
pub struct Args {
    /// File, directory or `-` (standard input) holding YAML or JSON manifests; repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    paths: Vec<PathBuf>,
    /// Also read the subdirectories of directories.
    #[arg(short = 'R', long)]
    recursive: bool,
    /// The namespace IronLB reads metallb.io objects from.
    #[arg(long, default_value = ironlb_config::DEFAULT_NAMESPACE)]
    namespace: String,
}

pub fn run(args: &Args) -> ExitCode {
    let (documents, unreadable) = ironlb_cluster::files::read_all(&args.paths, args.recursive);
    if !unreadable.is_empty() {
        for error in &unreadable {
            eprintln!("error: {error}");
        }
        eprintln!(
            "{} file(s) could not be read as Kubernetes YAML; nothing was validated",
            unreadable.len()
        );
        return ExitCode::from(2);
    }
    for document in &documents {
        for warning in &document.warnings {
            eprintln!(
                "warning: {} ({}): {warning}",
                document.object_ref, document.origin
            );
        }
    }
    let mut errors: Vec<ConfigError> = documents
        .iter()
        .filter_map(|d| d.result.as_ref().err())
        .map(ConfigError::from_object_error)
        .collect();
    let objects: Vec<&Object> = documents
        .iter()
        .filter_map(|d| d.result.as_ref().ok())
        .collect();
    let options = ValidateOptions {
        namespace: args.namespace.clone(),
    };
    let resources = Resources::from_objects(objects.iter().copied());
    for warning in ironlb_config::warnings(&resources) {
        eprintln!("warning: {warning}");
    }
    let config = match ironlb_config::validate(&resources, &options) {
        Ok(config) => Some(config),
        Err(found) => {
            errors.extend(found);
            None
        }
    };
    match config {
        Some(config) if errors.is_empty() => {
            for object in &objects {
                if let Some(line) = summary(object, &config) {
                    println!("{line}");
                }
            }
            println!(
                "valid: {} object(s) in {} document(s)",
                objects.len(),
                documents.len()
            );
            ExitCode::SUCCESS
        }
        _ => {
            for error in &errors {
                println!("{error}");
            }
            println!("invalid: {} error(s)", errors.len());
            ExitCode::from(1)
        }
    }
}

/// One line describing what IronLB understood of an object.
fn summary(object: &Object, config: &Config) -> Option<String> {
    let name_of =
        |meta: &ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            format!(
                "{}/{}",
                meta.namespace.as_deref().unwrap_or(config_namespace()),
                meta.name.as_deref().unwrap_or_default()
            )
        };
    Some(match object {
        Object::IPAddressPool(o) => {
            let pool = config.pools.get(o.metadata.name.as_deref()?)?;
            let count: u128 = pool
                .cidrs()
                .map(|c| 1u128 << (u32::from(c.max_prefix_len() - c.prefix_len())))
                .sum();
            let entries: Vec<&str> = pool.entries.iter().map(|e| e.text.as_str()).collect();
            format!(
                "IPAddressPool {}: {count} addresses ({}){}{}",
                name_of(&o.metadata),
                entries.join(", "),
                if pool.auto_assign {
                    ", autoAssign"
                } else {
                    ", manual only"
                },
                if pool.avoid_buggy_ips {
                    ", avoiding .0/.255"
                } else {
                    ""
                }
            )
        }
        Object::BGPPeer(o) => {
            let peer = config.peers.get(o.metadata.name.as_deref()?)?;
            let remote = match &peer.address {
                PeerAddress::Address(ip) => format!("{ip}:{}", peer.port),
                PeerAddress::Interface(name) => format!("interface {name}"),
            };
            let (peer_asn, relation) = match peer.peer_asn {
                PeerAsn::Fixed(asn) if asn == peer.my_asn => (asn.to_string(), "iBGP"),
                PeerAsn::Fixed(asn) => (asn.to_string(), "eBGP"),
                PeerAsn::Internal => ("internal".to_string(), "iBGP"),
                PeerAsn::External => ("external".to_string(), "eBGP"),
            };
            let timers = match peer.timers {
                Some(t) => format!("hold {} keepalive {}", t.hold, t.keepalive),
                None => "default timers (hold 90s keepalive 30s)".to_string(),
            };
            let bfd = peer
                .bfd_profile
                .as_ref()
                .map(|p| format!(", BFD {p}"))
                .unwrap_or_default();
            let md5 = if peer.password.is_some() {
                ", TCP MD5"
            } else {
                ""
            };
            format!(
                "BGPPeer {}: {remote} AS {} -> AS {peer_asn} ({relation}), {timers}{bfd}{md5}",
                name_of(&o.metadata),
                peer.my_asn
            )
        }
        Object::BGPAdvertisement(o) => {
            let name = o.metadata.name.as_deref()?;
            let ad = config.bgp_advertisements.iter().find(|a| a.name == name)?;
            let pools: Vec<&str> = ad.pools.iter().map(String::as_str).collect();
            let communities: Vec<String> = ad.communities.iter().map(ToString::to_string).collect();
            format!(
                "BGPAdvertisement {}: pools [{}] as /{} and /{}{}{}{}",
                name_of(&o.metadata),
                pools.join(", "),
                ad.aggregation_length,
                ad.aggregation_length_v6,
                if communities.is_empty() {
                    String::new()
                } else {
                    format!(", communities {}", communities.join(" "))
                },
                ad.local_pref
                    .map(|l| format!(", localPref {l} (iBGP peers)"))
                    .unwrap_or_default(),
                if ad.peers.is_empty() {
                    ", to all peers".to_string()
                } else {
                    format!(", to peers {}", ad.peers.join(", "))
                }
            )
        }
        Object::L2Advertisement(o) => format!("L2Advertisement {}", name_of(&o.metadata)),
        Object::BFDProfile(o) => {
            let profile = config.bfd_profiles.get(o.metadata.name.as_deref()?)?;
            format!(
                "BFDProfile {}: receive {}ms transmit {}ms multiplier {} (a dead peer is detected in about {}ms){}",
                name_of(&o.metadata),
                profile.receive_interval_ms,
                profile.transmit_interval_ms,
                profile.detect_multiplier,
                u64::from(profile.receive_interval_ms) * u64::from(profile.detect_multiplier),
                if profile.passive_mode {
                    ", passive"
                } else {
                    ""
                }
            )
        }
        Object::Community(o) => format!(
            "Community {}: {} alias(es)",
            name_of(&o.metadata),
            o.spec.communities.len()
        ),
        Object::Service(service) => service_summary(service),
        Object::Other(reference) => format!("{reference}: not read by IronLB"),
        other => {
            let reference = match other {
                Object::EndpointSlice(o) => format!(
                    "EndpointSlice {}",
                    o.metadata.name.as_deref().unwrap_or_default()
                ),
                Object::Node(o) => {
                    format!("Node {}", o.metadata.name.as_deref().unwrap_or_default())
                }
                Object::Namespace(o) => format!(
                    "Namespace {}",
                    o.metadata.name.as_deref().unwrap_or_default()
                ),
                Object::Secret(o) => format!("Secret {}", name_of(&o.metadata)),
                _ => return None,
            };
            format!("{reference}: read")
        }
    })
}

fn config_namespace() -> &'static str {
    ironlb_config::DEFAULT_NAMESPACE
}

fn service_summary(service: &Service) -> String {
    let spec = service.spec.clone().unwrap_or_default();
    let ports: Vec<String> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")))
        .collect();
    format!(
        "Service {}/{}: {}, externalTrafficPolicy {}, ports {}",
        service.metadata.namespace.as_deref().unwrap_or("default"),
        service.metadata.name.as_deref().unwrap_or_default(),
        spec.type_.as_deref().unwrap_or("ClusterIP"),
        spec.external_traffic_policy.as_deref().unwrap_or("Cluster"),
        ports.join(",")
    )
}
