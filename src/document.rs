//! The unit that flows through a pipeline.

use std::collections::BTreeMap;
use std::sync::Arc;

/// One document: its identity, its text, where it came from, and what stages learned about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Stable identifier: the input's id field, or `<source>:<record>` when generated.
    pub id: String,
    /// The text every stage works on.
    pub text: String,
    /// The input file the document was read from (as listed in the resolved config).
    pub source: Arc<str>,
    /// Metadata fields kept from the input record, as a JSON object.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Language (ISO 639-3), set by the `language` stage.
    pub lang: Option<String>,
    /// Confidence of `lang` in [0, 1].
    pub lang_score: Option<f32>,
    /// Duplicate cluster id, set by dedup stages.
    pub cluster_id: Option<u64>,
    /// Id of the kept document this one duplicates, set by dedup stages on dropped documents.
    pub duplicate_of: Option<String>,
    /// Numeric values computed by filters (e.g. `stop_word_count`), written when signals are on.
    pub signals: BTreeMap<String, f64>,
    /// Position in the run's input order, the same in every task split: the input file's rank
    /// among all resolved inputs (in path order) times 2^40, plus the record's 1-based number
    /// within its file. Set by the runner; not written.
    pub seq: u64,
}

impl Document {
    /// A document with only identity, text and source set.
    pub fn new(id: impl Into<String>, text: impl Into<String>, source: Arc<str>) -> Self {
        Document {
            id: id.into(),
            text: text.into(),
            source,
            metadata: None,
            lang: None,
            lang_score: None,
            cluster_id: None,
            duplicate_of: None,
            signals: BTreeMap::new(),
            seq: 0,
        }
    }
}

/// Where in an input file a record sits: a line for text formats, a row for parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line number (jsonl, txt blocks: the block's first line).
    Line(u64),
    /// Parquet row group and row within it (both 0-based).
    Row { row_group: u64, row: u64 },
    /// The whole file (txt read as one document, or a failure to open/decompress at the start).
    File,
    /// Byte offset in the file (WARC: of the record, or of its gzip member).
    Offset(u64),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Line(l) => write!(f, "line {l}"),
            Location::Row { row_group, row } => write!(f, "row group {row_group}, row {row}"),
            Location::File => write!(f, "whole file"),
            Location::Offset(o) => write!(f, "byte offset {o}"),
        }
    }
}

impl Location {
    /// The line number, or for parquet the row within its row group, as stored in `rejected/`.
    pub fn line(&self) -> Option<u64> {
        match self {
            Location::Line(l) => Some(*l),
            _ => None,
        }
    }
}

/// An input record that could not become a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// The input file.
    pub source: Arc<str>,
    /// Where in the file.
    pub location: Location,
    /// Stable reason key, e.g. `invalid_json`, `invalid_utf8`, `missing_text`.
    pub reason: String,
    /// Human-readable detail (the parser's message).
    pub detail: String,
    /// The start of the raw record (lossy UTF-8, truncated), to let a user find it.
    pub raw: String,
}

/// What a reader yields per record.
pub type Record = Result<Document, Rejection>;
