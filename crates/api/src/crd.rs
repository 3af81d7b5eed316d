//! The CustomResourceDefinitions IronLB installs: MetalLB's group, kinds, names, scope,
//! versions and schemas, generated from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

use crate::{v1beta1, v1beta2};

/// Every CRD, in the order MetalLB's kustomization lists them.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        v1beta1::BFDProfile::crd(),
        v1beta1::BGPAdvertisement::crd(),
        bgppeers(),
        v1beta1::Community::crd(),
        configuration_states(),
        v1beta1::IPAddressPool::crd(),
        v1beta1::L2Advertisement::crd(),
        v1beta1::ServiceBGPStatus::crd(),
        v1beta1::ServiceL2Status::crd(),
    ];
    for crd in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                kubernetes_formats(schema);
                object_meta_fields(schema);
                // MetalLB requires a spec only on IPAddressPool.
                if crd.spec.names.kind != "IPAddressPool"
                    && let Some(required) = schema.required.as_mut()
                {
                    required.retain(|name| name != "spec");
                }
            }
        }
        crd.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert("app.kubernetes.io/part-of".into(), "ironlb".into());
    }
    crds
}

/// BGPPeer served as v1beta1 (deprecated) and v1beta2 (storage).
fn bgppeers() -> CustomResourceDefinition {
    let mut old = v1beta1::BGPPeer::crd();
    let new = v1beta2::BGPPeer::crd();
    for version in &mut old.spec.versions {
        version.storage = false;
        version.deprecated = Some(true);
        version.deprecation_warning =
            Some("metallb.io v1beta1 BGPPeer is deprecated, consider using v1beta2".to_string());
    }
    let mut merged = new;
    let mut versions = old.spec.versions;
    versions.extend(merged.spec.versions);
    merged.spec.versions = versions;
    merged
}

/// ConfigurationState has no spec in MetalLB; the derive's empty spec is removed. Its
/// conditions carry the bounds of `metav1.Condition` as controller-gen writes them.
fn configuration_states() -> CustomResourceDefinition {
    let mut crd = v1beta1::ConfigurationState::crd();
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            if let Some(properties) = schema.properties.as_mut() {
                properties.remove("spec");
            }
            if let Some(required) = schema.required.as_mut() {
                required.retain(|name| name != "spec");
            }
            let condition = schema
                .properties
                .as_mut()
                .and_then(|p| p.get_mut("status"))
                .and_then(|status| status.properties.as_mut())
                .and_then(|p| p.get_mut("conditions"))
                .and_then(|conditions| match conditions.items.as_mut() {
                    Some(JSONSchemaPropsOrArray::Schema(item)) => item.properties.as_mut(),
                    _ => None,
                });
            if let Some(condition) = condition {
                if let Some(status) = condition.get_mut("status") {
                    status.enum_ = Some(
                        ["True", "False", "Unknown"]
                            .into_iter()
                            .map(|v| JSON(serde_json::Value::String(v.into())))
                            .collect(),
                    );
                }
                if let Some(generation) = condition.get_mut("observedGeneration") {
                    generation.minimum = Some(0.0);
                }
            }
        }
    }
    crd
}

/// All CRDs as one multi-document YAML stream, as `ironlb crds` prints it.
pub fn to_yaml() -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(&crd)?);
    }
    Ok(out)
}

/// schemars writes Rust integer formats (`uint32`, `uint16`); Kubernetes knows `int32` and
/// `int64`. Unsigned 32-bit values (ASNs) need `int64`, as MetalLB's CRDs declare them.
fn kubernetes_formats(schema: &mut JSONSchemaProps) {
    // An optional enum is nullable already; `null` is not one of its values.
    if let Some(values) = schema.enum_.as_mut() {
        values.retain(|value| !value.0.is_null());
    }
    if let Some(format) = schema.format.as_mut() {
        match format.as_str() {
            "uint32" | "uint64" | "int64" => *format = "int64".to_string(),
            "uint8" | "uint16" | "int8" | "int16" | "int32" => *format = "int32".to_string(),
            _ => {}
        }
    }
    for child in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        kubernetes_formats(child);
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        kubernetes_formats(items);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(additional)) = schema.additional_properties.as_mut() {
        kubernetes_formats(additional);
    }
}

/// The fields every Kubernetes object has, declared at the top as controller-gen does.
fn object_meta_fields(schema: &mut JSONSchemaProps) {
    let properties = schema.properties.get_or_insert_with(Default::default);
    let typed = |type_: &str, description: &str| JSONSchemaProps {
        type_: Some(type_.to_string()),
        description: Some(description.to_string()),
        ..Default::default()
    };
    properties.insert(
        "apiVersion".into(),
        typed(
            "string",
            "APIVersion defines the versioned schema of this representation of an object.",
        ),
    );
    properties.insert(
        "kind".into(),
        typed(
            "string",
            "Kind is a string value representing the REST resource this object represents.",
        ),
    );
    properties.insert(
        "metadata".into(),
        JSONSchemaProps {
            type_: Some("object".into()),
            ..Default::default()
        },
    );
}
