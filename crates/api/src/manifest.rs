//! Reading Kubernetes manifests: multi-document YAML into typed objects.
//!
//! Two outcomes are kept apart, because users fix them differently:
//! - [`ManifestError`]: the text is not YAML, or a document is not a Kubernetes object at all.
//!   Nothing of the file is used; the error names the file and line.
//! - [`ObjectError`] inside a [`Document`]: a well-formed object whose fields do not fit the
//!   kind (a string where a number belongs, an unknown metallb.io version). It names the kind,
//!   namespace/name and field, and only that object is refused.
//!
//! Unknown fields never fail a document: they are reported as warnings and ignored.

// Errors carry the object, origin and field so users can act on them; they are rare, so their
// size does not matter.
#![allow(clippy::result_large_err)]

use std::fmt;

use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::de::DeserializeOwned;

use crate::conversion::bgppeer_to_v1beta2;
use crate::{v1beta1, v1beta2};

/// The metallb.io API group.
pub const GROUP: &str = "metallb.io";

/// Largest manifest text accepted, in bytes (a cluster's whole configuration is far smaller).
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024 * 1024;

/// Deepest nesting of mappings and lists accepted in a document.
pub const MAX_DEPTH: usize = 48;

/// A typed object from a manifest.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Object {
    IPAddressPool(v1beta1::IPAddressPool),
    /// Always the storage version; v1beta1 input is converted as MetalLB's webhook does.
    BGPPeer(v1beta2::BGPPeer),
    BGPAdvertisement(v1beta1::BGPAdvertisement),
    L2Advertisement(v1beta1::L2Advertisement),
    BFDProfile(v1beta1::BFDProfile),
    Community(v1beta1::Community),
    ServiceBGPStatus(v1beta1::ServiceBGPStatus),
    ServiceL2Status(v1beta1::ServiceL2Status),
    ConfigurationState(v1beta1::ConfigurationState),
    Service(Service),
    EndpointSlice(EndpointSlice),
    Node(Node),
    Namespace(Namespace),
    Secret(Secret),
    /// A kind IronLB does not read (a Deployment, a ConfigMap, ...): kept only to be listed.
    Other(ObjectRef),
}

/// Kind, namespace and name of an object, for messages: `BGPPeer metallb-system/tor1`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.name.is_empty() {
            "<unnamed>"
        } else {
            &self.name
        };
        match &self.namespace {
            Some(namespace) => write!(f, "{} {}/{}", self.kind, namespace, name),
            None => write!(f, "{} {}", self.kind, name),
        }
    }
}

/// Where a document starts: file and 1-based line.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub file: String,
    pub line: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// One document of a manifest, decoded or refused.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub origin: Origin,
    pub object_ref: ObjectRef,
    pub result: Result<Object, ObjectError>,
    /// Unknown fields, ignored: `spec.foo: unknown field, ignored`.
    pub warnings: Vec<String>,
}

/// An object whose fields do not fit its kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{object} ({origin}): {field}: {message}")]
pub struct ObjectError {
    pub object: ObjectRef,
    pub origin: Origin,
    /// Path of the offending field, `spec.myASN`; `.` for the object as a whole.
    pub field: String,
    pub message: String,
}

/// The text cannot be read as Kubernetes YAML at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}:{line}:{column}: not valid YAML: {message}")]
    Syntax {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{file}:{line}: not a Kubernetes object: {message}")]
    NotAnObject {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    Unreadable { file: String, message: String },
}

/// Parses every document of a manifest. `file` only names the source in messages.
pub fn parse(bytes: &[u8], file: &str) -> Result<Vec<Document>, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::Unreadable {
            file: file.to_string(),
            message: format!(
                "{} bytes is larger than the {} MiB a manifest may have; split it into several files",
                bytes.len(),
                MAX_MANIFEST_BYTES / (1024 * 1024)
            ),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|error| {
        let offset = error.valid_up_to();
        let line = 1 + bytes[..offset].iter().filter(|&&b| b == b'\n').count() as u64;
        ManifestError::Syntax {
            file: file.to_string(),
            line,
            column: 1 + bytes[..offset]
                .iter()
                .rev()
                .take_while(|&&b| b != b'\n')
                .count() as u64,
            message: "the file is not UTF-8 text".to_string(),
        }
    })?;
    let raw: Vec<serde_saphyr::Spanned<serde_json::Value>> =
        serde_saphyr::from_multiple_with_options(text, yaml_options()).map_err(|error| {
            let location = error.location();
            ManifestError::Syntax {
                file: file.to_string(),
                line: location.as_ref().map_or(0, |l| l.line()),
                column: location.as_ref().map_or(0, |l| l.column()),
                message: first_line(&error.to_string()),
            }
        })?;
    let mut documents = Vec::new();
    for spanned in raw {
        let line = spanned.referenced.line();
        let origin = Origin {
            file: file.to_string(),
            line,
        };
        match spanned.value {
            serde_json::Value::Null => continue,
            serde_json::Value::Object(map) => {
                let value = serde_json::Value::Object(map);
                expand_lists(value, &origin, &mut documents)?;
            }
            other => {
                return Err(ManifestError::NotAnObject {
                    file: file.to_string(),
                    line,
                    message: format!(
                        "a document is a {}, but a Kubernetes object is a mapping with apiVersion and kind",
                        json_type_name(&other)
                    ),
                });
            }
        }
    }
    Ok(documents)
}

/// Decodes one object given as JSON (as the Kubernetes API or a webhook hands it over).
pub fn decode_value(value: serde_json::Value, origin: Origin) -> Result<Document, ManifestError> {
    let api_version = value
        .get("apiVersion")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let kind = value
        .get("kind")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let (Some(api_version), Some(kind)) = (api_version, kind) else {
        return Err(ManifestError::NotAnObject {
            file: origin.file,
            line: origin.line,
            message: "apiVersion and kind are both required".to_string(),
        });
    };
    let metadata = value.get("metadata");
    let object_ref = ObjectRef {
        kind: kind.clone(),
        namespace: metadata
            .and_then(|m| m.get("namespace"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        name: metadata
            .and_then(|m| m.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string(),
    };
    let mut warnings = Vec::new();
    let (group, version) = match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version.as_str()),
    };
    // MetalLB's types mark `spec` omitempty on every kind but IPAddressPool: an object without
    // one (its documented minimal `L2Advertisement`) is an empty spec, not an error.
    let mut value = value;
    if group == GROUP
        && kind != "IPAddressPool"
        && let Some(object) = value.as_object_mut()
        && object.get("spec").is_none_or(serde_json::Value::is_null)
    {
        object.insert("spec".into(), serde_json::Value::Object(Default::default()));
    }
    let fail = |field: &str, message: String| ObjectError {
        object: object_ref.clone(),
        origin: origin.clone(),
        field: field.to_string(),
        message,
    };
    let result = match (group, version, kind.as_str()) {
        (GROUP, "v1beta1", "IPAddressPool") => {
            typed(value, &mut warnings, &fail).map(Object::IPAddressPool)
        }
        (GROUP, "v1beta2", "BGPPeer") => typed(value, &mut warnings, &fail).map(Object::BGPPeer),
        (GROUP, "v1beta1", "BGPPeer") => typed::<v1beta1::BGPPeer>(value, &mut warnings, &fail)
            .map(|old| Object::BGPPeer(bgppeer_to_v1beta2(&old))),
        (GROUP, "v1beta1", "BGPAdvertisement") => {
            typed(value, &mut warnings, &fail).map(Object::BGPAdvertisement)
        }
        (GROUP, "v1beta1", "L2Advertisement") => {
            typed(value, &mut warnings, &fail).map(Object::L2Advertisement)
        }
        (GROUP, "v1beta1", "BFDProfile") => {
            typed(value, &mut warnings, &fail).map(Object::BFDProfile)
        }
        (GROUP, "v1beta1", "Community") => {
            typed(value, &mut warnings, &fail).map(Object::Community)
        }
        (GROUP, "v1beta1", "ServiceBGPStatus") => {
            typed(value, &mut warnings, &fail).map(Object::ServiceBGPStatus)
        }
        (GROUP, "v1beta1", "ServiceL2Status") => {
            typed(value, &mut warnings, &fail).map(Object::ServiceL2Status)
        }
        (GROUP, "v1beta1", "ConfigurationState") => {
            typed(value, &mut warnings, &fail).map(Object::ConfigurationState)
        }
        (GROUP, _, _) => Err(fail(
            "apiVersion",
            format!(
                "{api_version} {kind} is not a MetalLB kind IronLB knows; use metallb.io/v1beta1 (or metallb.io/v1beta2 for BGPPeer)"
            ),
        )),
        ("", "v1", "Service") => typed(value, &mut warnings, &fail).map(Object::Service),
        ("", "v1", "Node") => typed(value, &mut warnings, &fail).map(Object::Node),
        ("", "v1", "Namespace") => typed(value, &mut warnings, &fail).map(Object::Namespace),
        ("", "v1", "Secret") => typed(value, &mut warnings, &fail).map(Object::Secret),
        ("discovery.k8s.io", "v1", "EndpointSlice") => {
            typed(value, &mut warnings, &fail).map(Object::EndpointSlice)
        }
        _ => Ok(Object::Other(object_ref.clone())),
    };
    Ok(Document {
        origin,
        object_ref,
        result,
        warnings,
    })
}

/// `kind: List` (what `kubectl get -o yaml` prints) holds its objects under `items`.
fn expand_lists(
    value: serde_json::Value,
    origin: &Origin,
    documents: &mut Vec<Document>,
) -> Result<(), ManifestError> {
    let is_list = value
        .get("kind")
        .and_then(|k| k.as_str())
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && value.get("items").is_some_and(|items| items.is_array());
    if is_list {
        if let Some(serde_json::Value::Array(items)) = value.get("items").cloned() {
            for item in items {
                expand_lists(item, origin, documents)?;
            }
        }
        return Ok(());
    }
    documents.push(decode_value(value, origin.clone())?);
    Ok(())
}

/// Deserialises `T`, naming the exact field on error and collecting ignored (unknown) fields.
fn typed<T: DeserializeOwned>(
    value: serde_json::Value,
    warnings: &mut Vec<String>,
    fail: &dyn Fn(&str, String) -> ObjectError,
) -> Result<T, ObjectError> {
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(value, &mut track);
    let mut unknown = Vec::new();
    let result = serde_ignored::deserialize(tracked, |path| unknown.push(path.to_string()));
    match result {
        Ok(object) => {
            for path in unknown {
                if path != "apiVersion" && path != "kind" {
                    warnings.push(format!("{path}: unknown field, ignored"));
                }
            }
            Ok(object)
        }
        Err(error) => {
            let path = track.path().to_string();
            let field = if path.is_empty() {
                ".".to_string()
            } else {
                path
            };
            Err(fail(&field, error.to_string()))
        }
    }
}

fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    // Deeply nested or alias-bomb documents fail with an error instead of exhausting memory or
    // the stack. Kubernetes objects nest about 25 levels at most (a CRD schema); decoding one
    // level takes tens of KiB of stack in debug builds, so 48 levels stay well inside a 2 MiB
    // thread stack.
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    // A cluster directory may hold thousands of objects in one file; the byte limit above
    // already bounds memory, so the counts only stop pathological shapes.
    budget.max_documents = 200_000;
    budget.max_nodes = 10_000_000;
    budget.max_events = 40_000_000;
    options.budget = Some(budget);
    options
}

fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "mapping",
    }
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_string()
}
