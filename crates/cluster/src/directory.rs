//! A watched cluster directory: its manifests read into a [`Snapshot`], each file's last good
//! content kept, and the inotify loop ([`watch`]) that keeps it current.
//!
//! # When a file is read
//!
//! Only once its writer has finished, never in the middle of a write. Editors, `cp`,
//! `cat > f` and `kubectl`-like tools write a file in several `write()` calls, in place or
//! under a hidden temporary name; each call is an `IN_MODIFY`, and the file is whole only at
//! the close or the rename.
//!
//! - `IN_CLOSE_WRITE` (a descriptor open for writing was closed) and `IN_MOVED_TO` (a whole
//!   file renamed in) read the file. A file that does not read is reported with its line, and
//!   its last good content stays in force.
//! - `IN_MODIFY` only marks the file *being written*. A file being written is not read at all,
//!   not even when the whole directory is read again: its last good content stays in force,
//!   no problem is reported for it, and its close reads it.
//! - `IN_CREATE` marks a new name being written too (it is usually a writer's `open(O_CREAT)`),
//!   but with a deadline, [`UNCERTAIN_WRITE_SETTLE`]: a hard or symbolic link is created whole
//!   and has no close, so a created name with neither a write nor a close for that long is read
//!   as it stands. (A writer that created the file and has not written for that long leaves it
//!   empty: no objects.)
//! - `IN_DELETE` and `IN_MOVED_FROM` drop the file's objects (also when they are the files of
//!   a directory deleted whole, `rm -r`). Hidden names (a leading `.`, such as
//!   `.pool.yaml.tmp`) and names without `.yaml`, `.yml` or `.json` are not manifests.
//!
//! # When everything is read again
//!
//! - At the start.
//! - When the kernel's event queue overflowed (`IN_Q_OVERFLOW`): events were lost, so every
//!   file is read again ([`ClusterDirectory::reload_all`]). A file being written may have had
//!   its close among the lost ones, so its mark gets the deadline of a created name: another
//!   `IN_MODIFY` (the writer is still at work and its close is still to come) makes it wait for
//!   the close again; otherwise it is read as it stands at the deadline.
//! - When the directory itself is deleted, moved away or unmounted (`IN_DELETE_SELF`,
//!   `IN_MOVE_SELF`, `IN_UNMOUNT`, `IN_IGNORED`), or replaced or mounted over (which inotify
//!   does not report: the loop compares the watched directory with the path every
//!   [`WATCH_CHECK_INTERVAL`]). The loss is logged as an error, and the watch is set up again
//!   every [`WATCH_CHECK_INTERVAL`] until a directory is there (logged again every minute);
//!   then the directory is read again whole. Meanwhile the last good content stays in force,
//!   with a problem naming the directory: a directory that cannot be listed is not an empty
//!   cluster (an existing, empty one is).
//!
//! # Limits
//!
//! IronLB cannot know of a write that began before it watched: at the start, while the watch
//! is being set up again, or among the events an overflow lost. Such a file is read as it
//! stands, so it may show a problem or its first documents only, until its close (seen: the
//! watch is in place by then) reads it whole. `truncate(2)` by path is an `IN_MODIFY` that no close follows:
//! the file keeps its last good content until its next close or rename.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironlb_api::k8s_openapi::api::core::v1::LoadBalancerIngress;
use ironlb_api::manifest::ManifestError;
use ironlb_api::{Document, Object};
use ironlb_config::Resources;
use ironlb_net::socket::DirectoryWatch;
pub use ironlb_net::socket::{NameEvent, WatchEvents};
use tokio::io::unix::AsyncFd;
use tracing::{error, info, warn};

use crate::status::{self, ControllerStatus, STATUS_DIRECTORY};
use crate::{Problem, Snapshot, files};

/// How long a file whose write may have ended unseen (a created name, or a file being written
/// when events were lost) waits for a write or a close before it is read as it stands.
pub const UNCERTAIN_WRITE_SETTLE: Duration = Duration::from_secs(2);

/// How often the loop makes sure it watches the directories the paths name, and tries again
/// to watch one that is gone.
pub const WATCH_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The manifests of one directory, each file's last good content kept.
pub struct ClusterDirectory {
    root: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
    /// Files a writer is at work on, not to be read until it has finished: `None` waits for
    /// the close; a time is when the file is read anyway, its close possibly never to be seen.
    being_written: BTreeMap<PathBuf, Option<Instant>>,
    /// Set while the directory itself cannot be listed.
    unlisted: Option<Problem>,
    /// The controller's assignments as last read from its status file (read when that file
    /// changes, not for every snapshot).
    controller: Option<ControllerStatus>,
}

struct FileState {
    /// The last content that read without error.
    objects: Vec<Object>,
    warnings: Vec<String>,
    /// Set while the file as it is now cannot be read.
    problem: Option<Problem>,
}

fn not_a_directory(root: &Path) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!(
            "{} is not a directory: create it and put the cluster's YAML files in it",
            root.display()
        ),
    )
}

impl ClusterDirectory {
    /// Reads every manifest of `root` (not subdirectories; `.ironlb/` is IronLB's own).
    pub fn open(root: &Path) -> std::io::Result<Self> {
        if !root.is_dir() {
            return Err(not_a_directory(root));
        }
        let mut directory = ClusterDirectory {
            root: root.to_path_buf(),
            files: BTreeMap::new(),
            being_written: BTreeMap::new(),
            unlisted: None,
            controller: None,
        };
        directory.reload_all();
        directory.reload_controller_status();
        Ok(directory)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Re-reads every file but those being written, dropping those that are gone. While the
    /// directory cannot be listed, everything stays as it was, with a problem saying so.
    pub fn reload_all(&mut self) {
        let mut paths = Vec::new();
        let listed = if self.root.is_dir() {
            files::list_manifests(&self.root, false, &mut paths)
        } else {
            Err("it is not there, or not a directory".to_string())
        };
        if let Err(reason) = listed {
            if self.unlisted.is_none() {
                error!(directory = %self.root.display(), %reason,
                       "the cluster directory cannot be read; the last good content of its files stays in force");
            }
            self.unlisted = Some(Problem {
                file: self.root.clone(),
                line: 0,
                message: format!(
                    "the cluster directory cannot be read ({reason}): the last good content of its files stays in force until it is back"
                ),
            });
            return;
        }
        if self.unlisted.take().is_some() {
            info!(directory = %self.root.display(), "the cluster directory is readable again");
        }
        let paths: BTreeSet<PathBuf> = paths.into_iter().collect();
        self.files.retain(|path, _| paths.contains(path));
        self.being_written.retain(|path, _| paths.contains(path));
        for path in &paths {
            if !self.being_written.contains_key(path) {
                self.reload_path(path);
            }
        }
    }

    /// Reads the controller's status file again (it changed).
    pub fn reload_controller_status(&mut self) {
        self.controller = status::read::<ControllerStatus>(&self.root, status::CONTROLLER_FILE);
    }

    /// Re-reads the named files (names relative to the directory) as they are now, their
    /// writers taken to have finished.
    pub fn reload_names(&mut self, names: &[OsString]) {
        for name in names {
            if let Some(path) = self.manifest_path(name) {
                self.being_written.remove(&path);
                self.reload_path(&path);
            }
        }
    }

    /// Takes in what the watch saw at `now` (see the module documentation); returns whether
    /// anything was read, so the snapshot may have changed.
    pub fn apply(&mut self, events: &WatchEvents, now: Instant) -> bool {
        let deadline = now + UNCERTAIN_WRITE_SETTLE;
        let mut finished = BTreeSet::new();
        for (name, event) in &events.names {
            let Some(path) = self.manifest_path(name) else {
                continue;
            };
            match event {
                NameEvent::Writing => {
                    finished.remove(&path);
                    self.being_written.insert(path, None);
                }
                NameEvent::Created => {
                    finished.remove(&path);
                    self.being_written.entry(path).or_insert(Some(deadline));
                }
                NameEvent::Complete | NameEvent::Removed => {
                    self.being_written.remove(&path);
                    finished.insert(path);
                }
            }
        }
        for path in &finished {
            self.reload_path(path);
        }
        if events.overflow || events.watch_lost {
            if events.overflow {
                warn!(directory = %self.root.display(),
                      "inotify's queue overflowed and events were lost; reading every file again");
            }
            for mark in self.being_written.values_mut() {
                mark.get_or_insert(deadline);
            }
            self.reload_all();
            return true;
        }
        !finished.is_empty()
    }

    /// Reads the files being written whose deadline has come; returns whether there were any.
    pub fn settle(&mut self, now: Instant) -> bool {
        let due: Vec<PathBuf> = self
            .being_written
            .iter()
            .filter(|(_, deadline)| deadline.is_some_and(|at| at <= now))
            .map(|(path, _)| path.clone())
            .collect();
        for path in &due {
            self.being_written.remove(path);
            self.reload_path(path);
        }
        !due.is_empty()
    }

    /// When [`ClusterDirectory::settle`] has something to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.being_written.values().flatten().min().copied()
    }

    /// The files a writer is at work on, which are not read until it has finished.
    pub fn being_written(&self) -> impl Iterator<Item = &Path> {
        self.being_written.keys().map(PathBuf::as_path)
    }

    fn manifest_path(&self, name: &OsString) -> Option<PathBuf> {
        let text = name.to_str()?;
        files::is_manifest_name(text).then(|| self.root.join(name))
    }

    /// Reads a file that is there (anything but a regular file, or a link to one, counts as
    /// gone: reading a FIFO would block), or drops one that is not.
    fn reload_path(&mut self, path: &Path) {
        if path.is_file() {
            self.reload_file(path);
        } else if self.files.remove(path).is_some() {
            info!(file = %path.display(), "manifest removed");
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
        snapshot.problems.extend(self.unlisted.clone());
        for state in self.files.values() {
            snapshot.problems.extend(state.problem.clone());
            snapshot.warnings.extend(state.warnings.iter().cloned());
        }
        if let Some(controller) = &self.controller {
            apply_controller_status(&mut snapshot, controller);
        }
        snapshot.lb_services = snapshot
            .services
            .iter()
            .map(|service| Arc::new(crate::LbService::of(service)))
            .collect();
        snapshot.controller_services = snapshot
            .services
            .iter()
            .map(|service| crate::ControllerService::of(service))
            .filter(crate::ControllerService::concerns_controller)
            .map(Arc::new)
            .collect();
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
/// change (see the module documentation for when files are read). Must run inside a tokio
/// runtime.
pub fn watch(root: &Path) -> std::io::Result<tokio::sync::watch::Receiver<Arc<Snapshot>>> {
    if !root.is_dir() {
        return Err(not_a_directory(root));
    }
    let status_directory = root.join(STATUS_DIRECTORY);
    std::fs::create_dir_all(&status_directory)?;
    // Watched before they are read, so no change falls between.
    let manifests = DirectoryWatch::new(root)?.into_async()?;
    let statuses = DirectoryWatch::new(&status_directory)?.into_async()?;
    let directory = ClusterDirectory::open(root)?;
    let (sender, receiver) = tokio::sync::watch::channel(Arc::new(directory.snapshot()));
    tokio::spawn(watch_loop(directory, manifests, statuses, sender));
    Ok(receiver)
}

/// What woke the loop.
enum Wake {
    Manifests(std::io::Result<WatchEvents>),
    Statuses(std::io::Result<WatchEvents>),
    Deadline,
    Check,
}

async fn watch_loop(
    mut directory: ClusterDirectory,
    mut manifests: AsyncFd<DirectoryWatch>,
    mut statuses: AsyncFd<DirectoryWatch>,
    sender: tokio::sync::watch::Sender<Arc<Snapshot>>,
) {
    let root = directory.root().to_path_buf();
    let status_directory = root.join(STATUS_DIRECTORY);
    let mut manifests_lost = Lost::default();
    let mut statuses_lost = Lost::default();
    let mut check = tokio::time::interval(WATCH_CHECK_INTERVAL);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let deadline = directory.next_deadline();
        let wake = tokio::select! {
            guard = manifests.readable() => {
                let Ok(mut guard) = guard else { return };
                let events = guard.get_inner().read_events();
                if events.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock) {
                    guard.clear_ready();
                }
                Wake::Manifests(events)
            }
            guard = statuses.readable() => {
                let Ok(mut guard) = guard else { return };
                let events = guard.get_inner().read_events();
                if events.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock) {
                    guard.clear_ready();
                }
                Wake::Statuses(events)
            }
            () = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => Wake::Deadline,
            _ = check.tick() => Wake::Check,
        };
        let changed = match wake {
            Wake::Manifests(Ok(events)) => {
                if events.watch_lost {
                    manifests_lost.rewatch(manifests.get_mut(), &root, None);
                }
                directory.apply(&events, Instant::now())
            }
            Wake::Statuses(Ok(events)) => {
                if events.watch_lost {
                    statuses_lost.rewatch(statuses.get_mut(), &status_directory, Some(&root));
                }
                // Only the controller's assignments are part of the snapshot; speakers'
                // status files change every few hundred milliseconds and are not.
                let changed = events.overflow
                    || events.watch_lost
                    || events.names.iter().any(|(name, event)| {
                        name == status::CONTROLLER_FILE
                            && matches!(event, NameEvent::Complete | NameEvent::Removed)
                    });
                if changed {
                    directory.reload_controller_status();
                }
                changed
            }
            Wake::Manifests(Err(error)) | Wake::Statuses(Err(error))
                if error.kind() == std::io::ErrorKind::WouldBlock =>
            {
                false
            }
            Wake::Manifests(Err(error)) | Wake::Statuses(Err(error)) => {
                warn!(%error, "watching the cluster directory failed; re-reading everything");
                directory.reload_all();
                directory.reload_controller_status();
                true
            }
            Wake::Deadline => directory.settle(Instant::now()),
            Wake::Check => {
                let mut changed = false;
                if (manifests_lost.is_lost() || !manifests.get_ref().is_current())
                    && manifests_lost.rewatch(manifests.get_mut(), &root, None)
                {
                    directory.reload_all();
                    changed = true;
                }
                if (statuses_lost.is_lost() || !statuses.get_ref().is_current())
                    && statuses_lost.rewatch(statuses.get_mut(), &status_directory, Some(&root))
                {
                    directory.reload_controller_status();
                    changed = true;
                }
                changed
            }
        };
        if changed {
            if sender.send(Arc::new(directory.snapshot())).is_err() {
                return;
            }
            // Let the snapshot's reader run (the controller shares this thread): while files
            // keep arriving, the watch is always ready and would otherwise starve it.
            tokio::task::yield_now().await;
        }
    }
}

/// A watch whose directory went away, and how many times it was tried again since.
#[derive(Default)]
struct Lost {
    attempts: Option<u32>,
}

impl Lost {
    fn is_lost(&self) -> bool {
        self.attempts.is_some()
    }

    /// Watches the directory at `path` again (creating it first when it is IronLB's own,
    /// inside `parent`, and `parent` is there); logs the loss loudly, and again every minute
    /// while it lasts. Returns whether the state changed (lost just now, or watched again), so
    /// the directory is to be read again.
    fn rewatch(&mut self, watch: &mut DirectoryWatch, path: &Path, parent: Option<&Path>) -> bool {
        let first = self.attempts.is_none();
        if first {
            error!(directory = %path.display(),
                   "the watched directory was deleted, moved, replaced or unmounted; watching for it to be back");
        }
        if parent.is_some_and(Path::is_dir) {
            let _ = std::fs::create_dir(path);
        }
        match watch.rewatch() {
            Ok(()) => {
                info!(directory = %path.display(), "watching the directory again; reading it again whole");
                self.attempts = None;
                true
            }
            Err(reason) => {
                let attempts = self.attempts.get_or_insert(0);
                *attempts += 1;
                let every_minute = (60 / WATCH_CHECK_INTERVAL.as_secs().max(1)) as u32;
                if attempts.is_multiple_of(every_minute.max(1)) {
                    error!(directory = %path.display(), %reason, attempts = *attempts,
                           "the watched directory is still missing; its last good content stays in force");
                }
                first
            }
        }
    }
}
