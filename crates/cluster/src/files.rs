//! Reading manifests from files, directories and standard input into documents.

use std::io::Read;
use std::path::{Path, PathBuf};

use ironlb_api::manifest::{self, Document, ManifestError};

/// Reads every manifest named by `paths`: files, directories (their `*.yaml`, `*.yml` and
/// `*.json` files, recursively when asked) or `-` for standard input.
pub fn read_all(paths: &[PathBuf], recursive: bool) -> (Vec<Document>, Vec<ManifestError>) {
    let mut documents = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            let limit = manifest::MAX_MANIFEST_BYTES as u64 + 1;
            match std::io::stdin().take(limit).read_to_end(&mut bytes) {
                Ok(_) => collect(
                    manifest::parse(&bytes, "<stdin>"),
                    &mut documents,
                    &mut errors,
                ),
                Err(error) => errors.push(unreadable(path, &error.to_string())),
            }
            continue;
        }
        let mut files = Vec::new();
        if let Err(error) = list_manifests(path, recursive, &mut files) {
            errors.push(unreadable(path, &error));
            continue;
        }
        for file in files {
            collect(read_file(&file), &mut documents, &mut errors);
        }
    }
    (documents, errors)
}

/// Reads and parses one manifest file.
pub fn read_file(path: &Path) -> Result<Vec<Document>, ManifestError> {
    let bytes = read_limited(path).map_err(|error| unreadable(path, &error))?;
    manifest::parse(&bytes, &path.display().to_string())
}

fn collect(
    result: Result<Vec<Document>, ManifestError>,
    documents: &mut Vec<Document>,
    errors: &mut Vec<ManifestError>,
) {
    match result {
        Ok(parsed) => documents.extend(parsed),
        Err(error) => errors.push(error),
    }
}

fn unreadable(path: &Path, message: &str) -> ManifestError {
    ManifestError::Unreadable {
        file: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Reads a file, refusing one larger than a manifest may be without reading it whole.
fn read_limited(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut bytes = Vec::new();
    file.take(manifest::MAX_MANIFEST_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    Ok(bytes)
}

/// Whether a file name is a manifest: `*.yaml`, `*.yml` or `*.json`, not hidden.
pub fn is_manifest_name(name: &str) -> bool {
    !name.starts_with('.')
        && (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
}

/// The manifest files of `path` (itself when it is a file), sorted.
pub fn list_manifests(
    path: &Path,
    recursive: bool,
    files: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !metadata.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| format!("cannot list the directory: {e}"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let name = entry
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        if entry.is_dir() {
            if recursive {
                list_manifests(&entry, recursive, files)?;
            }
        } else if is_manifest_name(name) {
            files.push(entry);
        }
    }
    Ok(())
}
