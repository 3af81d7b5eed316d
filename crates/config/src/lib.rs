//! Validation of `metallb.io` resources into a [`Config`] that cannot be invalid.
//!
//! One pure function, [`validate`], takes every resource (plus the Secrets, Namespaces and
//! Nodes they refer to) and returns a [`Config`] or every [`ConfigError`] found. It judges
//! configurations as MetalLB does in its FRR modes: features MetalLB refuses only because its
//! native Go speaker lacks them (BFD, IPv6, large communities, graceful restart, ...) are
//! accepted, since IronLB's speaker has them.

pub mod address;
pub mod community;
pub mod error;
pub mod model;
pub mod selector;
mod validate;

pub use community::Community;
pub use error::{ConfigError, ErrorKind};
pub use model::*;
pub use selector::Selector;
pub use validate::{ConfigWarning, Resources, ValidateOptions, validate, warnings};

/// The namespace MetalLB (and IronLB) reads its objects from by default.
pub const DEFAULT_NAMESPACE: &str = "metallb-system";
