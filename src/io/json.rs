//! Small JSON files (markers, stats, manifests) written so that a reader never sees half of one.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// A filesystem operation on one file failed.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

/// Writes `bytes` to `path` through a temporary file and a rename, creating the parent
/// directory.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FileError { path, source }
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(at(path))?;
    }
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    fs::write(&tmp, bytes).map_err(at(&tmp))?;
    crate::storage::commit(&tmp, path).map_err(at(path))
}

/// Writes `value` as pretty JSON (with a final newline) to `path` through a temporary file and
/// a rename, creating the parent directory.
pub fn write_json_atomic(path: &Path, value: &impl Serialize) -> Result<(), FileError> {
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FileError { path, source }
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(at(path))?;
    }
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| FileError {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    text.push(b'\n');
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, text).map_err(at(&tmp))?;
    crate::storage::commit(&tmp, path).map_err(at(path))
}
