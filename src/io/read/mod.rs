//! Record readers behind [`crate::io::input::open`], one file per format family.

pub(crate) mod jsonl;
pub(crate) mod lines;
pub(crate) mod parquet;
pub(crate) mod txt;
pub(crate) mod warc;

use std::sync::Arc;

use crate::document::{Location, Rejection};

/// A rejection with the given fields.
pub(crate) fn reject(
    source: &Arc<str>,
    location: Location,
    reason: &str,
    detail: impl Into<String>,
    raw: String,
) -> Rejection {
    Rejection {
        source: source.clone(),
        location,
        reason: reason.to_string(),
        detail: detail.into(),
        raw,
    }
}

/// Why a whole input file cannot be read: one rejected record for the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreadable {
    /// The rejection reason key, e.g. `corrupt_parquet`.
    pub(crate) reason: &'static str,
    /// What is wrong, naming the file.
    pub(crate) detail: String,
}

/// What the reader names a read failure: compressed streams fail because they are truncated or
/// corrupt; plain files only on I/O errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// An uncompressed file.
    Plain,
    /// A gzip or zstd stream.
    Compressed,
}

impl Stream {
    /// The rejection reason for a read that failed part-way.
    pub(crate) fn failure_reason(self) -> &'static str {
        match self {
            Stream::Plain => "read_error",
            Stream::Compressed => "truncated_stream",
        }
    }
}
