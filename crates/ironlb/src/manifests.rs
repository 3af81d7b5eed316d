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
        match list_files(path, recursive, &mut files) {
            Ok(()) => {}
            Err(error) => {
                errors.push(unreadable(path, &error));
                continue;
            }
        }
        for file in files {
            let name = file.display().to_string();
            match read_limited(&file) {
                Ok(bytes) => collect(manifest::parse(&bytes, &name), &mut documents, &mut errors),
                Err(error) => errors.push(unreadable(&file, &error)),
            }
        }
    }
    (documents, errors)
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

fn list_files(path: &Path, recursive: bool, files: &mut Vec<PathBuf>) -> Result<(), String> {
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
                list_files(&entry, recursive, files)?;
            }
        } else if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json") {
            files.push(entry);
        }
    }
    Ok(())
}
