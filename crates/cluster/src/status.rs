//! What IronLB writes back in directory mode, under `DIR/.ironlb/`: the controller's
//! assignments and events (`controller.yaml`) and each speaker's status (`speaker-NODE.yaml`) —
//! the equivalent of Service status, events and ServiceBGPStatus in Kubernetes. Files are
//! replaced atomically (write, then rename), so readers never see half. The types are
//! `ironlb_model::status`'s.

use std::path::{Path, PathBuf};

pub use ironlb_model::status::*;
use serde::{Deserialize, Serialize};

/// The subdirectory of a cluster directory that IronLB writes.
pub const STATUS_DIRECTORY: &str = ".ironlb";
/// The controller's status file name.
pub const CONTROLLER_FILE: &str = "controller.yaml";

/// `DIR/.ironlb/NAME`.
pub fn status_path(root: &Path, name: &str) -> PathBuf {
    root.join(STATUS_DIRECTORY).join(name)
}

/// Writes `value` as YAML to `DIR/.ironlb/NAME`, atomically.
pub fn write<T: Serialize>(root: &Path, name: &str, value: &T) -> std::io::Result<()> {
    let directory = root.join(STATUS_DIRECTORY);
    std::fs::create_dir_all(&directory)?;
    let text = serde_saphyr::to_string(value).map_err(std::io::Error::other)?;
    let temporary = directory.join(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, directory.join(name))
}

/// Reads `DIR/.ironlb/NAME`; `None` when absent or unreadable.
pub fn read<T: for<'de> Deserialize<'de>>(root: &Path, name: &str) -> Option<T> {
    let text = std::fs::read_to_string(status_path(root, name)).ok()?;
    serde_saphyr::from_str(&text).ok()
}

/// A speaker's status file name: `speaker-<node>.yaml`.
pub fn speaker_file(node: &str) -> String {
    format!("speaker-{node}.yaml")
}

/// Every speaker status file in the directory.
pub fn read_speakers(root: &Path) -> Vec<SpeakerStatus> {
    let Ok(entries) = std::fs::read_dir(root.join(STATUS_DIRECTORY)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("speaker-") && n.ends_with(".yaml"))
        .collect();
    names.sort();
    names.iter().filter_map(|name| read(root, name)).collect()
}
