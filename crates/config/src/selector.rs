//! Kubernetes label selectors, checked once and then matched without re-checking.

use std::collections::BTreeMap;
use std::fmt;

use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A validated label selector. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// One requirement: `key in (a,b)`, `key notin (a)`, `key`, `!key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// Why a selector was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

impl Selector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Checks a Kubernetes LabelSelector as `metav1.LabelSelectorAsSelector` does.
    pub fn parse(selector: &LabelSelector) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            check_key(key)?;
            check_value(key, value)?;
            requirements.push(Requirement::In(key.clone(), vec![value.clone()]));
        }
        for expression in selector.match_expressions.iter().flatten() {
            check_key(&expression.key)?;
            let values = expression.values.clone().unwrap_or_default();
            for value in &values {
                check_value(&expression.key, value)?;
            }
            let key = expression.key.clone();
            let requirement = match expression.operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(SelectorError(format!(
                        "matchExpressions key {key:?}: operator {} needs at least one value",
                        expression.operator
                    )));
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(SelectorError(format!(
                        "matchExpressions key {key:?}: operator {} takes no values",
                        expression.operator
                    )));
                }
                "In" => Requirement::In(key, values),
                "NotIn" => Requirement::NotIn(key, values),
                "Exists" => Requirement::Exists(key),
                "DoesNotExist" => Requirement::DoesNotExist(key),
                other => {
                    return Err(SelectorError(format!(
                        "matchExpressions key {key:?}: operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"
                    )));
                }
            };
            requirements.push(requirement);
        }
        requirements.sort();
        Ok(Selector { requirements })
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements
            .iter()
            .all(|requirement| match requirement {
                Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
                Requirement::NotIn(key, values) => {
                    labels.get(key).is_none_or(|v| !values.contains(v))
                }
                Requirement::Exists(key) => labels.contains_key(key),
                Requirement::DoesNotExist(key) => !labels.contains_key(key),
            })
    }

    /// Whether this selector matches everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// Whether any of the selectors matches; an empty list matches everything (MetalLB's rule).
pub fn any_matches(selectors: &[Selector], labels: &BTreeMap<String, String>) -> bool {
    selectors.is_empty() || selectors.iter().any(|s| s.matches(labels))
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|requirement| match requirement {
                Requirement::In(key, values) if values.len() == 1 => format!("{key}={}", values[0]),
                Requirement::In(key, values) => format!("{key} in ({})", values.join(",")),
                Requirement::NotIn(key, values) => format!("{key} notin ({})", values.join(",")),
                Requirement::Exists(key) => key.clone(),
                Requirement::DoesNotExist(key) => format!("!{key}"),
            })
            .collect();
        if parts.is_empty() {
            f.write_str("<everything>")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// A label key: optional DNS-subdomain prefix and `/`, then a name of at most 63 characters.
fn check_key(key: &str) -> Result<(), SelectorError> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let valid_prefix = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        if !valid_prefix {
            return Err(SelectorError(format!(
                "label key {key:?}: the prefix must be a lowercase DNS subdomain such as example.com"
            )));
        }
    }
    if name.is_empty() || !is_label_text(name) {
        return Err(SelectorError(format!(
            "label key {key:?}: a key is at most 63 characters of A-Z a-z 0-9 - _ . starting and ending with a letter or digit"
        )));
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> Result<(), SelectorError> {
    if value.is_empty() || is_label_text(value) {
        return Ok(());
    }
    Err(SelectorError(format!(
        "label {key:?} value {value:?}: a value is at most 63 characters of A-Z a-z 0-9 - _ . starting and ending with a letter or digit"
    )))
}

fn is_label_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    text.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_' || *b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironlb_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expression(key: &str, operator: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: operator.into(),
                values: (!values.is_empty())
                    .then(|| values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..Default::default()
        }
    }

    #[test]
    fn match_labels_and_expressions() {
        let selector = Selector::parse(&LabelSelector {
            match_labels: Some(labels(&[("rack", "a")])),
            ..Default::default()
        })
        .unwrap();
        assert!(selector.matches(&labels(&[("rack", "a"), ("x", "y")])));
        assert!(!selector.matches(&labels(&[("rack", "b")])));
        let not_in = Selector::parse(&expression("zone", "NotIn", &["z1"])).unwrap();
        assert!(not_in.matches(&labels(&[])));
        assert!(!not_in.matches(&labels(&[("zone", "z1")])));
        let exists = Selector::parse(&expression("zone", "Exists", &[])).unwrap();
        assert!(exists.matches(&labels(&[("zone", "")])));
        assert!(Selector::everything().matches(&labels(&[])));
    }

    #[test]
    fn refuses_what_kubernetes_refuses() {
        assert!(Selector::parse(&expression("zone", "In", &[])).is_err());
        assert!(Selector::parse(&expression("zone", "Exists", &["a"])).is_err());
        assert!(Selector::parse(&expression("zone", "Like", &["a"])).is_err());
        assert!(Selector::parse(&expression("-bad", "Exists", &[])).is_err());
        assert!(Selector::parse(&expression("Example.com/x", "Exists", &[])).is_err());
        assert!(Selector::parse(&expression("example.com/x", "Exists", &[])).is_ok());
        assert!(Selector::parse(&expression("k", "In", &["bad value"])).is_err());
    }
}
