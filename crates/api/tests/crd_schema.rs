//! `ironlb crds` must describe exactly MetalLB's CRDs: group, kinds, names, scope, versions,
//! served/storage flags, and every field with its type, required-ness, default, enum and bounds.

use std::collections::BTreeSet;

use serde_json::Value;

/// One line per field, in the format of `tests/data/metallb-crd-fields.txt`.
fn field_lines() -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for crd in ironlb_api::crd::all() {
        let crd = serde_json::to_value(&crd).unwrap();
        let name = crd["metadata"]["name"].as_str().unwrap().to_string();
        let spec = &crd["spec"];
        let names = &spec["names"];
        lines.insert(format!(
            "{name} group={} kind={} plural={} singular={} scope={}",
            text(&spec["group"]),
            text(&names["kind"]),
            text(&names["plural"]),
            text(&names["singular"]),
            text(&spec["scope"])
        ));
        for version in spec["versions"].as_array().unwrap() {
            let prefix = format!(
                "{name} {} served={} storage={}",
                text(&version["name"]),
                python_bool(&version["served"]),
                python_bool(&version["storage"])
            );
            walk(
                &version["schema"]["openAPIV3Schema"],
                "",
                false,
                &prefix,
                &mut lines,
            );
        }
    }
    lines
}

fn walk(schema: &Value, path: &str, required: bool, prefix: &str, lines: &mut BTreeSet<String>) {
    if !path.is_empty() {
        let mut attributes = vec![schema["type"].as_str().unwrap_or_default().to_string()];
        if required {
            attributes.push("required".into());
        }
        for key in ["default", "enum", "minimum", "maximum", "minItems"] {
            if let Some(value) = schema.get(key) {
                attributes.push(format!("{key}={}", compact(value)));
            }
        }
        lines.insert(format!("{prefix} {path} {}", attributes.join(" ")));
    }
    let required_names: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(properties) = schema["properties"].as_object() {
        for (key, child) in properties {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            walk(
                child,
                &child_path,
                required_names.contains(&key.as_str()),
                prefix,
                lines,
            );
        }
    }
    if schema.get("items").is_some() {
        walk(&schema["items"], &format!("{path}[]"), false, prefix, lines);
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        walk(additional, &format!("{path}{{}}"), false, prefix, lines);
    }
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| "None".into())
}

fn python_bool(value: &Value) -> &'static str {
    if value.as_bool() == Some(true) {
        "True"
    } else {
        "False"
    }
}

/// JSON with whole floats written as integers (YAML's `255` and the API's `255.0` are one value).
fn compact(value: &Value) -> String {
    match value {
        Value::Number(number) => match number.as_f64() {
            Some(float) if float.fract() == 0.0 && number.is_f64() => format!("{}", float as i64),
            _ => number.to_string(),
        },
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(compact).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

#[test]
fn generated_crds_match_metallb_field_for_field() {
    let expected: BTreeSet<String> = include_str!("data/metallb-crd-fields.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(str::to_string)
        .collect();
    let ours = field_lines();
    let missing: Vec<_> = expected.difference(&ours).collect();
    let extra: Vec<_> = ours.difference(&expected).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "CRDs differ from MetalLB's\nmissing:\n{missing:#?}\nextra:\n{extra:#?}"
    );
}

#[test]
fn crds_yaml_round_trips_through_the_manifest_reader() {
    let yaml = ironlb_api::crd::to_yaml().unwrap();
    let documents = ironlb_api::manifest::parse(yaml.as_bytes(), "crds.yaml").unwrap();
    assert_eq!(documents.len(), 9);
    let again: Vec<Value> = serde_saphyr::from_multiple(&yaml).unwrap();
    let original: Vec<Value> = ironlb_api::crd::all()
        .iter()
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    assert_eq!(
        again, original,
        "YAML output must read back as the same CRDs"
    );
}

#[test]
fn bgppeer_serves_both_versions_and_stores_v1beta2() {
    let crd = ironlb_api::crd::all()
        .into_iter()
        .find(|c| c.spec.names.kind == "BGPPeer")
        .unwrap();
    let versions: Vec<(String, bool, bool)> = crd
        .spec
        .versions
        .iter()
        .map(|v| (v.name.clone(), v.served, v.storage))
        .collect();
    assert_eq!(
        versions,
        [
            ("v1beta1".to_string(), true, false),
            ("v1beta2".to_string(), true, true)
        ]
    );
}
