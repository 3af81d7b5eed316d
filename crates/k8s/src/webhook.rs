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
use ironlb_config::{Resources, ValidateOptions};
use ironlb_model::Snapshot;
use ironlb_net::http;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
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

/// Answers an AdmissionReview (admission.k8s.io/v1): allowed (with warnings, such as
/// MetalLB's for a BGPPeer's deprecated `disableMP`), or denied with IronLB's messages.
///
/// Judged as MetalLB's webhooks judge: references to objects that may not exist yet (a
/// BGPPeer's BFDProfile and password Secret, a BGPAdvertisement's Community aliases) are left
/// out ([`Resources::without_references`]), so objects can be created in any order; a
/// reference still dangling makes the configuration invalid (ConfigurationState) until the
/// object appears. Deleting a BFDProfile a BGPPeer names is refused, as MetalLB refuses it.
/// A change is refused when it brings errors the configuration did not have (so an existing
/// problem elsewhere does not block unrelated changes).
pub fn review(request: &Value, current: &Resources, options: &ValidateOptions) -> Value {
    let uid = request["request"]["uid"].clone();
    let respond = |allowed: bool, message: Option<String>, warnings: Vec<String>| {
        let mut response = json!({"uid": uid, "allowed": allowed});
        if let Some(message) = message {
            response["status"] = json!({"code": 403, "reason": "Invalid", "message": message});
        }
        if !warnings.is_empty() {
            response["warnings"] = json!(warnings);
        }
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response})
    };
    let refuse = |message: String| respond(false, Some(message), Vec::new());
    let operation = request["request"]["operation"].as_str().unwrap_or_default();
    let field = if operation == "DELETE" {
        "oldObject"
    } else {
        "object"
    };
    let value = request["request"][field].clone();
    let document = match manifest::decode_value(value, Origin::default()) {
        Ok(document) => document,
        Err(error) => return refuse(error.to_string()),
    };
    let object = match document.result {
        Ok(object) => object,
        Err(error) => {
            return refuse(format!(
                "{} {}: {}",
                error.object, error.field, error.message
            ));
        }
    };
    let Some((kind, name)) = identity(&object) else {
        return respond(true, None, Vec::new());
    };
    if operation == "DELETE" {
        if kind == "BFDProfile"
            && let Some(message) = bfd_profile_in_use(current, &name, &options.namespace)
        {
            return refuse(message);
        }
        let candidate = with(current, kind, &name, None);
        return match new_errors(current, &candidate, options) {
            None => respond(true, None, Vec::new()),
            Some(message) => refuse(message),
        };
    }
    let candidate = with(current, kind, &name, Some(&object));
    match new_errors(current, &candidate, options) {
        None => {
            let alone = with(&Resources::default(), kind, &name, Some(&object));
            let warnings = ironlb_config::warnings(&alone)
                .iter()
                .map(ToString::to_string)
                .collect();
            respond(true, None, warnings)
        }
        Some(message) => refuse(message),
    }
}

/// The errors `after` has that `before` has not, both judged without references
/// ([`Resources::without_references`]), joined into one message; `None` when there are none.
fn new_errors(before: &Resources, after: &Resources, options: &ValidateOptions) -> Option<String> {
    let before = errors(&before.without_references(), options);
    let after = errors(&after.without_references(), options);
    let new: Vec<&str> = after
        .iter()
        .filter(|e| !before.contains(e))
        .map(String::as_str)
        .collect();
    (!new.is_empty()).then(|| new.join("; "))
}

/// Why the BFDProfile `name` cannot be deleted: the BGPPeers that name it (MetalLB's
/// `validateBFDDelete`); `None` when none does.
fn bfd_profile_in_use(resources: &Resources, name: &str, namespace: &str) -> Option<String> {
    let users: Vec<&str> = resources
        .peers
        .iter()
        .filter(|peer| peer.spec.bfd_profile == name)
        .filter_map(|peer| peer.metadata.name.as_deref())
        .collect();
    (!users.is_empty()).then(|| {
        format!(
            "BFDProfile {namespace}/{name} is used by BGPPeer {}: remove spec.bfdProfile from the peer (or name another profile) before deleting it",
            users.join(", ")
        )
    })
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
    tokio::spawn(keep_certificate(
        client.clone(),
        options.clone(),
        tls.clone(),
        certs,
    ));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = tls.read().await.clone();
        tokio::spawn(serve_connection(
            stream,
            acceptor,
            snapshots.clone(),
            options.validate.clone(),
            client.clone(),
        ));
    }
}

/// Every minute: renews the certificate when due, and injects the CA again (a re-applied
/// manifest may have dropped the caBundle).
async fn keep_certificate(
    client: Client,
    options: WebhookOptions,
    tls: Arc<RwLock<tokio_rustls::TlsAcceptor>>,
    mut current: Certificates,
) {
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
}

/// What a webhook request may be: the API server sends objects of up to 3 MiB.
const REQUEST_LIMITS: http::Limits = http::Limits {
    head: 64 * 1024,
    body: 3 << 20,
};

/// How long a connection has for its TLS handshake, and then for its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection: TLS, one request, one answer. A request that cannot be read is answered
/// with its error's status (400, 413, 431, 501) when the peer is still there.
async fn serve_connection(
    stream: TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    validate: ValidateOptions,
    client: Client,
) {
    let Ok(Ok(mut stream)) = tokio::time::timeout(REQUEST_TIMEOUT, acceptor.accept(stream)).await
    else {
        return;
    };
    let read = tokio::time::timeout(
        REQUEST_TIMEOUT,
        http::read_request(&mut stream, REQUEST_LIMITS),
    )
    .await;
    let (status, content_type, body) = match read {
        Ok(Ok(request)) => {
            let response = answer(&request, &snapshots, &validate, &client).await;
            let body = serde_json::to_vec(&response).unwrap_or_default();
            (200, "application/json", body)
        }
        Ok(Err(error)) => match error.status() {
            Some(status) => (
                status,
                "text/plain; charset=utf-8",
                format!("{error}\n").into_bytes(),
            ),
            None => return,
        },
        Err(_) => return,
    };
    let _ = http::write_response(&mut stream, status, content_type, &body).await;
}

/// The answer to one webhook request: a ConversionReview on `/convert`, an AdmissionReview
/// anywhere else, judged on the live metallb.io objects.
async fn answer(
    request: &http::Request,
    snapshots: &watch::Receiver<Arc<Snapshot>>,
    validate: &ValidateOptions,
    client: &Client,
) -> Value {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    if request.path == "/convert" {
        convert(&body)
    } else {
        let known = snapshots.borrow().resources.clone();
        let resources = live(client, &validate.namespace, known).await;
        review(&body, &resources, validate)
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A TLS client that trusts `ca`, connected to `address` by IP.
    async fn connect(
        address: SocketAddr,
        ca: &str,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        for certificate in rustls_pemfile::certs(&mut ca.as_bytes()) {
            roots.add(certificate.unwrap()).unwrap();
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let name = rustls::pki_types::ServerName::IpAddress(address.ip().into());
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, stream)
            .await
            .unwrap()
    }

    /// Sends `request` over TLS to one connection served by [`serve_connection`]; the answer.
    async fn exchange(request: &[u8]) -> String {
        let localhost = IpAddr::from([127, 0, 0, 1]);
        let certs = generate("ironlb-webhook", "metallb-system", &[localhost]).unwrap();
        let listener = TcpListener::bind((localhost, 0)).await.unwrap();
        let address = listener.local_addr().unwrap();
        // Never reached: a conversion reads nothing from the API.
        let client =
            Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
        let (_, snapshots) = watch::channel(Arc::new(Snapshot::default()));
        let acceptor = acceptor(&certs).unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            serve_connection(
                stream,
                acceptor,
                snapshots,
                ValidateOptions::default(),
                client,
            )
            .await;
        });
        let mut stream = connect(address, &certs.ca).await;
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        server.await.unwrap();
        String::from_utf8(answer).unwrap()
    }

    #[tokio::test]
    async fn a_conversion_review_is_answered_over_tls() {
        let review = br#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u1","desiredAPIVersion":"metallb.io/v1beta2","objects":[]}}"#;
        let mut request = format!(
            "POST /convert?timeout=30s HTTP/1.1\r\nHost: ironlb-webhook\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            review.len()
        )
        .into_bytes();
        request.extend_from_slice(review);
        let answer = exchange(&request).await;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: application/json"), "{head}");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["kind"], "ConversionReview");
        assert_eq!(body["response"]["uid"], "u1");
        assert_eq!(body["response"]["result"]["status"], "Success");
    }

    #[tokio::test]
    async fn an_oversized_review_is_refused_with_413_before_it_is_sent() {
        let answer = exchange(b"POST /validate HTTP/1.1\r\nContent-Length: 3145729\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    }

    #[tokio::test]
    async fn garbage_is_refused_with_400() {
        let answer = exchange(b"hello\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    }
}
