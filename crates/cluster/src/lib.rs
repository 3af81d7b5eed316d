//! Directory mode: the cluster [`Snapshot`] (an `ironlb_model` type, re-exported here with its
//! companions) fed from a **cluster directory**: ordinary Kubernetes YAML files (any names,
//! multi-document), watched with inotify. A broken file is reported with its line and the
//! file's last good content stays in force. Status written by IronLB lives under
//! `DIR/.ironlb/` ([`status`]); user files are never rewritten.

pub mod directory;
pub mod files;
pub mod status;

pub use directory::{ClusterDirectory, watch};
pub use ironlb_model::{
    ControllerService, LbService, Problem, SERVICE_NAME_LABEL, SliceEndpoints, Snapshot,
    endpoint_can_serve, metrics, time,
};
