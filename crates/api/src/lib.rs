//! The `metallb.io` resources as MetalLB defines them, and the Kubernetes objects IronLB reads
//! beside them, decoded from manifests or the API.
//!
//! Data path: **resources (this crate)** → validated config (`ironlb-config`) → allocation
//! (controller) and announcement plan (speaker) → BGP/BFD sessions → the wire.

pub mod conversion;
pub mod crd;
pub mod duration;
pub mod manifest;
pub mod v1beta1;
pub mod v1beta2;

pub use duration::Duration;
pub use k8s_openapi;
pub use manifest::{Document, ManifestError, Object, ObjectError, ObjectRef, Origin};
