//! The cluster as IronLB's controller and speaker see it: one typed [`Snapshot`] of Services,
//! EndpointSlices, Nodes, Namespaces, Secrets and the metallb.io resources.
//!
//! This crate feeds it from a **cluster directory**: ordinary Kubernetes YAML files (any names,
//! multi-document), watched with inotify. A broken file is reported with its line and the
//! file's last good content stays in force. Status written by IronLB lives under
//! `DIR/.ironlb/` ([`status`]); user files are never rewritten.

pub mod directory;
pub mod files;
pub mod metrics;
pub mod status;
pub mod time;

use std::path::PathBuf;
use std::sync::Arc;

use ironlb_api::k8s_openapi::api::core::v1::Service;
use ironlb_api::k8s_openapi::api::discovery::v1::EndpointSlice;
use ironlb_config::Resources;

pub use directory::{ClusterDirectory, watch};

/// Everything IronLB reads from the cluster, at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// metallb.io objects, plus the Secrets, Namespaces and Nodes beside them.
    pub resources: Resources,
    /// Services, with `status.loadBalancer.ingress` as the controller last wrote it. Shared
    /// with the source's cache (and the previous snapshot): a new snapshot after one change
    /// costs a pointer per object, not a copy of every object.
    pub services: Vec<Arc<Service>>,
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
    /// Files that could not be read; their last good content is in the snapshot.
    pub problems: Vec<Problem>,
    /// Unknown fields and similar notes.
    pub warnings: Vec<String>,
    /// Set when this view of the cluster is older than the reader's staleness bound (the
    /// source has not heard from the cluster for that long): why, for the logs. A speaker
    /// announces nothing from a stale view.
    pub stale: Option<String>,
}

/// A file that could not be used as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}
