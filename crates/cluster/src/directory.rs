//! A watched cluster directory.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ironlb_api::k8s_openapi::api::core::v1::LoadBalancerIngress;
use ironlb_api::manifest::ManifestError;
use ironlb_api::{Document, Object};
use ironlb_config::Resources;
use ironlb_net::socket::DirectoryWatch;
use tracing::{info, warn};

use crate::status::{self, ControllerStatus, STATUS_DIRECTORY};
use crate::{Problem, Snapshot, files};

/// The manifests of one directory, each file's last good content kept.
pub struct ClusterDirectory {
    root: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
}

struct FileState {
    /// The last content that read without error.
    objects: Vec<Object>,
    warnings: Vec<String>,
    /// Set while the file as it is now cannot be read.
    problem: Option<Problem>,
}

impl ClusterDirectory {
    /// Reads every manifest of `root` (not subdirectories; `.ironlb/` is IronLB's own).
    pub fn open(root: &Path) -> std::io::Result<Self> {
        if !root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "{} is not a directory: create it and put the cluster's YAML files in it",
                    root.display()
                ),
            ));
        }
        let mut directory = ClusterDirectory {
            root: root.to_path_buf(),
            files: BTreeMap::new(),
        };
        directory.reload_all();
        Ok(directory)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Re-reads every file, dropping those that are gone.
    pub fn reload_all(&mut self) {
        let mut paths = Vec::new();
        let _ = files::list_manifests(&self.root, false, &mut paths);
        self.files.retain(|path, _| paths.contains(path));
        for path in paths {
            self.reload_file(&path);
        }
    }

    /// Re-reads the named files (names relative to the directory).
    pub fn reload_names(&mut self, names: &[OsString]) {
        for name in names {
            let Some(text) = name.to_str() else { continue };
            if !files::is_manifest_name(text) {
                continue;
            }
            let path = self.root.join(name);
            if path.is_file() {
                self.reload_file(&path);
            } else if self.files.remove(&path).is_some() {
                info!(file = %path.display(), "manifest removed");
            }
        }
    }

    fn reload_file(&mut self, path: &Path) {
        let result = files::read_file(path)
            .and_then(|documents| whole_file(path, documents))
            .map_err(Problem::from);
        match result {
            Ok((objects, warnings)) => {
                let state = self
                    .files
                    .entry(path.to_path_buf())
                    .or_insert_with(|| FileState {
                        objects: Vec::new(),
                        warnings: Vec::new(),
                        problem: None,
                    });
                if state.problem.take().is_some() {
                    info!(file = %path.display(), "manifest readable again");
                }
                state.objects = objects;
                state.warnings = warnings;
            }
            Err(problem) => {
                warn!(file = %problem.file.display(), line = problem.line, reason = %problem.message,
                      "manifest cannot be read; its last good content stays in force");
                let state = self
                    .files
                    .entry(path.to_path_buf())
                    .or_insert_with(|| FileState {
                        objects: Vec::new(),
                        warnings: Vec::new(),
                        problem: None,
                    });
                state.problem = Some(problem);
            }
        }
    }

    /// The snapshot: every file's good objects, with the controller's status applied.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot::default();
        let objects: Vec<&Object> = self.files.values().flat_map(|f| f.objects.iter()).collect();
        snapshot.resources = Resources::from_objects(objects.iter().copied());
        for object in &objects {
            match object {
                Object::Service(service) => snapshot.services.push(Arc::new(service.clone())),
                Object::EndpointSlice(slice) => snapshot
                    .endpoints
                    .extend(crate::SliceEndpoints::of(slice).map(Arc::new)),
                _ => {}
            }
        }
        for state in self.files.values() {
            snapshot.problems.extend(state.problem.clone());
            snapshot.warnings.extend(state.warnings.iter().cloned());
        }
        if let Some(controller) =
            status::read::<ControllerStatus>(&self.root, status::CONTROLLER_FILE)
        {
            apply_controller_status(&mut snapshot, &controller);
        }
        snapshot
    }
}

/// A file is used whole or not at all: one object that does not decode makes it broken.
fn whole_file(
    path: &Path,
    documents: Vec<Document>,
) -> Result<(Vec<Object>, Vec<String>), ManifestError> {
    let mut objects = Vec::new();
    let mut warnings = Vec::new();
    for document in documents {
        for warning in &document.warnings {
            warnings.push(format!(
                "{} ({}): {warning}",
                document.object_ref, document.origin
            ));
        }
        match document.result {
            Ok(object) => objects.push(object),
            Err(error) => {
                return Err(ManifestError::NotAnObject {
                    file: path.display().to_string(),
                    line: error.origin.line,
                    message: format!("{} {}: {}", error.object, error.field, error.message),
                });
            }
        }
    }
    Ok((objects, warnings))
}

impl From<ManifestError> for Problem {
    fn from(error: ManifestError) -> Self {
        match error {
            ManifestError::Syntax {
                file,
                line,
                message,
                ..
            }
            | ManifestError::NotAnObject {
                file,
                line,
                message,
            } => Problem {
                file: file.into(),
                line,
                message,
            },
            ManifestError::Unreadable { file, message } => Problem {
                file: file.into(),
                line: 0,
                message,
            },
        }
    }
}

/// The controller's assignments become the Services' `status.loadBalancer.ingress`.
fn apply_controller_status(snapshot: &mut Snapshot, controller: &ControllerStatus) {
    let by_key: BTreeMap<(&str, &str), _> = controller
        .services
        .iter()
        .map(|s| ((s.namespace.as_str(), s.name.as_str()), s))
        .collect();
    for service in &mut snapshot.services {
        let namespace = service.metadata.namespace.as_deref().unwrap_or("default");
        let name = service.metadata.name.as_deref().unwrap_or_default();
        let Some(&assigned) = by_key.get(&(namespace, name)) else {
            continue;
        };
        // Made by snapshot() just before: not shared yet, so this does not copy.
        let service = Arc::make_mut(service);
        let status = service.status.get_or_insert_with(Default::default);
        let load_balancer = status.load_balancer.get_or_insert_with(Default::default);
        load_balancer.ingress = (!assigned.ingress.is_empty()).then(|| {
            assigned
                .ingress
                .iter()
                .map(|ip| LoadBalancerIngress {
                    ip: Some(ip.to_string()),
                    ..Default::default()
                })
                .collect()
        });
        if let Some(pool) = &assigned.pool {
            service
                .metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert("metallb.io/ip-allocated-from-pool".into(), pool.clone());
        }
    }
}

/// Watches `root` (and its `.ironlb/` status files) and publishes a new snapshot after every
/// change. Must run inside a tokio runtime.
pub fn watch(root: &Path) -> std::io::Result<tokio::sync::watch::Receiver<Arc<Snapshot>>> {
    let mut directory = ClusterDirectory::open(root)?;
    std::fs::create_dir_all(root.join(STATUS_DIRECTORY))?;
    let manifests = DirectoryWatch::new(root)?.into_async()?;
    let statuses = DirectoryWatch::new(&root.join(STATUS_DIRECTORY))?.into_async()?;
    let (sender, receiver) = tokio::sync::watch::channel(Arc::new(directory.snapshot()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                guard = manifests.readable() => {
                    let Ok(mut guard) = guard else { return };
                    match guard.get_inner().read_names() {
                        Ok(names) => directory.reload_names(&names),
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => { guard.clear_ready(); continue; }
                        Err(error) => { warn!(%error, "watching the cluster directory failed; re-reading everything"); directory.reload_all(); }
                    }
                }
                guard = statuses.readable() => {
                    let Ok(mut guard) = guard else { return };
                    match guard.get_inner().read_names() {
                        // Only the controller's assignments are part of the snapshot; speakers'
                        // status files change every few hundred milliseconds and are not.
                        Ok(names) if names.iter().any(|n| n == status::CONTROLLER_FILE) => {}
                        Ok(_) => continue,
                        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => { guard.clear_ready(); continue; }
                        Err(_) => {}
                    }
                }
            }
            if sender.send(Arc::new(directory.snapshot())).is_err() {
                return;
            }
        }
    });
    Ok(receiver)
}
