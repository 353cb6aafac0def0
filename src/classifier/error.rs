//! Errors of training, saving and loading.

use std::path::PathBuf;

/// Everything that can go wrong; file variants name the file.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    /// The file could not be opened or read (missing, permissions, ...).
    #[error("cannot read quality classifier {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file (or its temporary sibling) could not be written or renamed.
    #[error("cannot write quality classifier {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file ends before the data its prefix or header describes.
    #[error(
        "{}: truncated quality classifier: {len} bytes, at least {expected} expected",
        .path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The smallest length that could be valid.
        expected: u64,
    },
    /// The file does not start with [`super::MAGIC`].
    #[error(
        "{}: not a corpusforge quality classifier (it starts with {found})",
        .path.display()
    )]
    WrongMagic {
        /// The file.
        path: PathBuf,
        /// Its first bytes, escaped.
        found: String,
    },
    /// The format version is not one this code reads.
    #[error(
        "{}: unsupported quality classifier format version {found} (this build reads version {supported})",
        .path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this code reads.
        supported: u32,
    },
    /// The JSON header does not parse or describes an unusable model.
    #[error("{}: invalid quality classifier header: {message}", .path.display())]
    InvalidHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file is longer than its header describes.
    #[error(
        "{}: quality classifier size mismatch: {actual} bytes, the header describes {expected}",
        .path.display()
    )]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// The length the header implies.
        expected: u64,
        /// The actual length.
        actual: u64,
    },
    /// The trailer checksum does not match the contents: the file is corrupted.
    #[error(
        "{}: quality classifier checksum mismatch (stored {stored:016x}, computed {computed:016x}): the file is corrupted",
        .path.display()
    )]
    ChecksumMismatch {
        /// The file.
        path: PathBuf,
        /// The checksum in the trailer.
        stored: u64,
        /// The checksum of the contents.
        computed: u64,
    },
    /// A training or model configuration value is out of range.
    #[error("invalid quality classifier configuration: {0}")]
    InvalidConfig(String),
    /// One class has no training documents.
    #[error("no {class} training documents")]
    EmptyClass {
        /// "positive" or "negative".
        class: &'static str,
    },
}
