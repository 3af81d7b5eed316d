//! The webhooks: validation of metallb.io objects (the same rules and messages as `ironlb
//! validate`, on create, update and delete) and BGPPeer v1beta1 ↔ v1beta2 conversion.
//!
//! IronLB makes its own certificates: a CA and a serving certificate for the webhook Service,
//! kept in one Secret so every controller replica serves the same one, renewed when less than
//! 30 days are left, and the CA written into the ValidatingWebhookConfiguration and the BGPPeer
//! CRD's conversion webhook.
//!
//! The decisions are pure functions ([`review`], [`convert`]); the rest is IO.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ironlb_api::k8s_openapi::ByteString;
use ironlb_api::k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use ironlb_api::k8s_openapi::api::core::v1::Secret;
use ironlb_api::k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use ironlb_api::manifest::{self, Object, Origin};
use ironlb_api::{v1beta1, v1beta2};
use ironlb_cluster::Snapshot;
use ironlb_config::{Resources, ValidateOptions};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{RwLock, watch};
use tracing::{info, warn};

/// Where and as what the webhooks run.
#[derive(Clone, Debug)]
pub struct WebhookOptions {
    pub address: SocketAddr,
    pub namespace: String,
    /// The webhook Service's name (the certificate's DNS names).
    pub service: String,
    /// Extra IP addresses for the certificate (the webhook reached by URL).
    pub ips: Vec<IpAddr>,
    /// ValidatingWebhookConfiguration whose caBundle IronLB keeps.
    pub configuration: String,
    /// Secret holding the CA and serving certificate.
    pub secret: String,
    pub validate: ValidateOptions,
}

// ---------------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------------

/// The identity of an object in a configuration, to replace or remove it.
fn identity(object: &Object) -> Option<(&'static str, String)> {
    let name = |meta: &ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.name.clone().unwrap_or_default()
    };
    Some(match object {
        Object::IPAddressPool(o) => ("IPAddressPool", name(&o.metadata)),
        Object::BGPPeer(o) => ("BGPPeer", name(&o.metadata)),
        Object::BFDProfile(o) => ("BFDProfile", name(&o.metadata)),
        Object::BGPAdvertisement(o) => ("BGPAdvertisement", name(&o.metadata)),
        Object::L2Advertisement(o) => ("L2Advertisement", name(&o.metadata)),
        Object::Community(o) => ("Community", name(&o.metadata)),
        _ => return None,
    })
}

/// `resources` without the object `kind/name`, and with `object` added when given.
fn with(resources: &Resources, kind: &str, name: &str, object: Option<&Object>) -> Resources {
    let keep = |n: &Option<String>| n.as_deref() != Some(name);
    let mut out = resources.clone();
    match kind {
        "IPAddressPool" => out.pools.retain(|o| keep(&o.metadata.name)),
        "BGPPeer" => out.peers.retain(|o| keep(&o.metadata.name)),
        "BFDProfile" => out.bfd_profiles.retain(|o| keep(&o.metadata.name)),
        "BGPAdvertisement" => out.bgp_advertisements.retain(|o| keep(&o.metadata.name)),
        "L2Advertisement" => out.l2_advertisements.retain(|o| keep(&o.metadata.name)),
        "Community" => out.communities.retain(|o| keep(&o.metadata.name)),
        _ => {}
    }
    if let Some(object) = object {
        match object {
            Object::IPAddressPool(o) => out.pools.push(o.clone()),
            Object::BGPPeer(o) => out.peers.push(o.clone()),
            Object::BFDProfile(o) => out.bfd_profiles.push(o.clone()),
            Object::BGPAdvertisement(o) => out.bgp_advertisements.push(o.clone()),
            Object::L2Advertisement(o) => out.l2_advertisements.push(o.clone()),
            Object::Community(o) => out.communities.push(o.clone()),
            _ => {}
        }
    }
    out
}

fn errors(resources: &Resources, options: &ValidateOptions) -> Vec<String> {
    match ironlb_config::validate(resources, options) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// Answers an AdmissionReview (admission.k8s.io/v1): allowed, or denied with IronLB's
/// messages. A change is refused when it brings errors the configuration did not have
/// (so an existing problem elsewhere does not block unrelated changes).
pub fn review(request: &Value, current: &Resources, options: &ValidateOptions) -> Value {
    let uid = request["request"]["uid"].clone();
    let respond = |allowed: bool, message: Option<String>| {
        let mut response = json!({"uid": uid, "allowed": allowed});
        if let Some(message) = message {
            response["status"] = json!({"code": 403, "reason": "Invalid", "message": message});
        }
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
    };
    let operation = request["request"]["operation"].as_str().unwrap_or_default();
    let field = if operation == "DELETE" {
        "oldObject"
    } else {
        "object"
    };
    let value = request["request"][field].clone();
    let document = match manifest::decode_value(value, Origin::default()) {
        Ok(document) => document,
        Err(error) => return respond(false, Some(error.to_string())),
    };
    let object = match document.result {
        Ok(object) => object,
        Err(error) => {
            return respond(
                false,
                Some(format!(
                    "{} {}: {}",
                    error.object, error.field, error.message
                )),
            );
        }
    };
    let Some((kind, name)) = identity(&object) else {
        return respond(true, None);
    };
    let candidate = with(
        current,
        kind,
        &name,
        (operation != "DELETE").then_some(&object),
    );
    let before = errors(current, options);
    let after = errors(&candidate, options);
    let new: Vec<&String> = after.iter().filter(|e| !before.contains(e)).collect();
    if new.is_empty() {
        respond(true, None)
    } else {
        let message = new
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        respond(false, Some(message))
    }
}

/// Answers a ConversionReview (apiextensions.k8s.io/v1) for BGPPeer, losslessly both ways.
pub fn convert(request: &Value) -> Value {
    let uid = request["request"]["uid"].clone();
    let desired = request["request"]["desiredAPIVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut converted = Vec::new();
    let mut failure = None;
    for object in request["request"]["objects"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let from = object["apiVersion"].as_str().unwrap_or_default();
        let result = match (from, desired.as_str()) {
            (a, b) if a == b => Ok(object.clone()),
            ("metallb.io/v1beta1", "metallb.io/v1beta2") => {
                serde_json::from_value::<v1beta1::BGPPeer>(object.clone())
                    .map_err(|e| e.to_string())
                    .and_then(|peer| {
                        serde_json::to_value(ironlb_api::conversion::bgppeer_to_v1beta2(&peer))
                            .map_err(|e| e.to_string())
                    })
            }
            ("metallb.io/v1beta2", "metallb.io/v1beta1") => {
                serde_json::from_value::<v1beta2::BGPPeer>(object.clone())
                    .map_err(|e| e.to_string())
                    .and_then(|peer| {
                        serde_json::to_value(ironlb_api::conversion::bgppeer_to_v1beta1(&peer))
                            .map_err(|e| e.to_string())
                    })
            }
            (a, b) => Err(format!("cannot convert {a} to {b}")),
        };
        match result {
            Ok(value) => converted.push(value),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let result = match &failure {
        None => json!({"status": "Success"}),
        Some(message) => json!({"status": "Failure", "message": message}),
    };
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "ConversionReview",
        "response": {"uid": uid, "result": result, "convertedObjects": if failure.is_none() { json!(converted) } else { json!([]) }},
    })
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// CA and serving certificate, PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificates {
    pub ca: String,
    pub cert: String,
    pub key: String,
    /// Unix seconds after which the serving certificate is invalid.
    pub not_after: i64,
}

const VALIDITY_DAYS: i64 = 365;
const RENEW_DAYS: i64 = 30;

/// Makes a CA and a serving certificate for the webhook Service's names and `ips`.
pub fn generate(service: &str, namespace: &str, ips: &[IpAddr]) -> Result<Certificates, String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose, SanType,
    };
    let error = |e: rcgen::Error| format!("cannot make the webhook certificate: {e}");
    let now = time_now();
    let not_after = now + VALIDITY_DAYS * 86_400;
    let to_time =
        |seconds: i64| rcgen::date_time_ymd(1970, 1, 1) + ::time::Duration::seconds(seconds);
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ironlb-webhook-ca");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = to_time(now - 3600);
    ca_params.not_after = to_time(not_after + 86_400);
    let ca_key = KeyPair::generate().map_err(error)?;
    let ca = ca_params.self_signed(&ca_key).map_err(error)?;
    let names = vec![
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ];
    let mut params = CertificateParams::new(names).map_err(error)?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{service}.{namespace}.svc"));
    params
        .subject_alt_names
        .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = to_time(now - 3600);
    params.not_after = to_time(not_after);
    let key = KeyPair::generate().map_err(error)?;
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(error)?;
    Ok(Certificates {
        ca: ca.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
        not_after,
    })
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

const NOT_AFTER_ANNOTATION: &str = "ironlb.io/not-after";

fn from_secret(secret: &Secret) -> Option<Certificates> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| String::from_utf8(data.get(key)?.0.clone()).ok();
    Some(Certificates {
        ca: text("ca.crt")?,
        cert: text("tls.crt")?,
        key: text("tls.key")?,
        not_after: secret
            .metadata
            .annotations
            .as_ref()?
            .get(NOT_AFTER_ANNOTATION)?
            .parse()
            .ok()?,
    })
}

/// The certificates in the Secret, made (or renewed) first when missing or near expiry.
pub async fn ensure(client: &Client, options: &WebhookOptions) -> Result<Certificates, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &options.namespace);
    let existing = api
        .get_opt(&options.secret)
        .await
        .map_err(|e| format!("cannot read Secret {}: {e}", options.secret))?;
    if let Some(certs) = existing.as_ref().and_then(from_secret)
        && certs.not_after - time_now() > RENEW_DAYS * 86_400
    {
        return Ok(certs);
    }
    let certs = generate(&options.service, &options.namespace, &options.ips)?;
    let data: BTreeMap<String, ByteString> = [
        ("ca.crt", &certs.ca),
        ("tls.crt", &certs.cert),
        ("tls.key", &certs.key),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
    .collect();
    let mut secret = existing.unwrap_or_default();
    secret.metadata.name = Some(options.secret.clone());
    secret.metadata.namespace = Some(options.namespace.clone());
    secret
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(NOT_AFTER_ANNOTATION.into(), certs.not_after.to_string());
    secret.type_ = Some("kubernetes.io/tls".into());
    secret.data = Some(data);
    let result = if secret.metadata.resource_version.is_some() {
        api.replace(&options.secret, &PostParams::default(), &secret)
            .await
    } else {
        api.create(&PostParams::default(), &secret).await
    };
    match result {
        Ok(_) => {
            info!(secret = %options.secret, "webhook certificate made");
            Ok(certs)
        }
        // Another replica made one at the same moment: use it.
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let secret = api.get(&options.secret).await.map_err(|e| e.to_string())?;
            from_secret(&secret).ok_or_else(|| "the webhook Secret is incomplete".into())
        }
        Err(error) => Err(format!("cannot write Secret {}: {error}", options.secret)),
    }
}

/// Writes the CA into the webhook configuration and the BGPPeer conversion webhook.
pub async fn inject_ca(client: &Client, options: &WebhookOptions, ca: &str) {
    let bundle = ByteString(ca.as_bytes().to_vec());
    let encoded = serde_json::to_value(&bundle).unwrap_or_default();
    let configurations: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    match configurations.get_opt(&options.configuration).await {
        Ok(Some(configuration)) => {
            let webhooks: Vec<Value> = configuration
                .webhooks
                .iter()
                .flatten()
                .map(|w| json!({"name": w.name, "clientConfig": {"caBundle": encoded}}))
                .collect();
            let patch = json!({"webhooks": webhooks});
            if let Err(error) = configurations
                .patch(
                    &options.configuration,
                    &PatchParams::default(),
                    &Patch::Strategic(&patch),
                )
                .await
            {
                warn!(%error, "cannot write the webhook CA into the ValidatingWebhookConfiguration");
            }
        }
        Ok(None) => {
            info!(configuration = %options.configuration, "no ValidatingWebhookConfiguration yet")
        }
        Err(error) => warn!(%error, "cannot read the ValidatingWebhookConfiguration"),
    }
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    if let Ok(Some(crd)) = crds.get_opt("bgppeers.metallb.io").await
        && crd
            .spec
            .conversion
            .as_ref()
            .is_some_and(|c| c.strategy == "Webhook")
    {
        let patch =
            json!({"spec": {"conversion": {"webhook": {"clientConfig": {"caBundle": encoded}}}}});
        if let Err(error) = crds
            .patch(
                "bgppeers.metallb.io",
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            warn!(%error, "cannot write the CA into the BGPPeer conversion webhook");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------------------------

fn acceptor(certs: &Certificates) -> Result<tokio_rustls::TlsAcceptor, String> {
    let chain = rustls_pemfile::certs(&mut certs.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let key = rustls_pemfile::private_key(&mut certs.key.as_bytes())
        .map_err(|e| e.to_string())?
        .ok_or("no private key")?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| e.to_string())?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Serves the webhooks until the runtime stops; renews the certificate when due.
pub async fn run(
    client: Client,
    options: WebhookOptions,
    snapshots: watch::Receiver<Arc<Snapshot>>,
) -> Result<(), String> {
    let certs = ensure(&client, &options).await?;
    let tls = Arc::new(RwLock::new(acceptor(&certs)?));
    inject_ca(&client, &options, &certs.ca).await;
    let listener = TcpListener::bind(options.address)
        .await
        .map_err(|e| format!("cannot serve the webhooks on {}: {e}", options.address))?;
    info!(address = %options.address, "webhooks serving");
    {
        // Renewal, and re-injection (a re-applied manifest may have dropped the caBundle).
        let (client, options, tls) = (client.clone(), options.clone(), tls.clone());
        tokio::spawn(async move {
            let mut current = certs;
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                match ensure(&client, &options).await {
                    Ok(certs) if certs != current => match acceptor(&certs) {
                        Ok(acceptor) => {
                            *tls.write().await = acceptor;
                            info!("webhook certificate renewed");
                            current = certs;
                        }
                        Err(error) => warn!(%error, "renewed certificate unusable"),
                    },
                    Ok(_) => {}
                    Err(error) => warn!(%error, "cannot check the webhook certificate"),
                }
                inject_ca(&client, &options, &current.ca).await;
            }
        });
    }
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = tls.read().await.clone();
        let snapshots = snapshots.clone();
        let validate = options.validate.clone();
        let client = client.clone();
        tokio::spawn(async move {
            let Ok(Ok(mut stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await
            else {
                return;
            };
            let Some((path, body)) = read_request(&mut stream).await else {
                return;
            };
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let response = if path == "/convert" {
                convert(&request)
            } else {
                let known = snapshots.borrow().resources.clone();
                let resources = live(&client, &validate.namespace, known).await;
                review(&request, &resources, &validate)
            };
            let body = serde_json::to_vec(&response).unwrap_or_default();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        });
    }
}

/// The metallb.io objects as the API has them now (a watch may lag, e.g. re-listing after a
/// CRD change); Secrets, Namespaces and Nodes from the snapshot.
async fn live(client: &Client, namespace: &str, mut resources: Resources) -> Resources {
    let mut objects = Vec::new();
    for (version, kind, plural) in crate::source::METALLB_KINDS {
        let resource = crate::source::api_resource(version, kind, plural);
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &resource);
        match api.list(&kube::api::ListParams::default()).await {
            Ok(list) => objects.extend(list.items),
            Err(error) => {
                warn!(%error, kind, "webhook: listing failed; judging on the watched state");
                return resources;
            }
        }
    }
    let (listed, _problems) = crate::source::decode(objects);
    resources.pools = listed.pools;
    resources.peers = listed.peers;
    resources.bfd_profiles = listed.bfd_profiles;
    resources.bgp_advertisements = listed.bgp_advertisements;
    resources.l2_advertisements = listed.l2_advertisements;
    resources.communities = listed.communities;
    resources
}

/// Reads one HTTP request: path and body (at most 3 MiB).
async fn read_request<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
) -> Option<(String, Vec<u8>)> {
    const MAX: usize = 3 << 20;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buffer.len() > 64 * 1024 {
            return None;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(chunk.get(..n)?);
    };
    let head = String::from_utf8_lossy(buffer.get(..head_end)?).into_owned();
    let path = head
        .split_whitespace()
        .nth(1)?
        .split('?')
        .next()?
        .to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    if length > MAX {
        return None;
    }
    let mut body = buffer.get(head_end..)?.to_vec();
    while body.len() < length {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(chunk.get(..n)?);
    }
    body.truncate(length);
    Some((path, body))
}
