//! IronLB on Kubernetes (kube-rs), kept thin: the API is watched into the same
//! [`ironlb_model::Snapshot`] the cluster directory gives ([`source`]), decisions stay in the
//! pure cores, and this crate writes their results back: Service status, annotations and
//! events ([`controller`]), under a Lease ([`lease`]); the speakers' ServiceBGPStatus
//! ([`bgp_status`]) and ServiceL2Status ([`l2_status`]) objects.

pub mod bgp_status;
pub mod config_state;
pub mod controller;
pub mod l2_status;
pub mod lease;
pub mod source;
pub mod trim;
pub mod webhook;

pub use source::{Scope, SourceOptions, watch};
