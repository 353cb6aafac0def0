//! The typed pipeline spec. These types are the single source of truth: the JSON Schema in
//! `schemas/pipeline.schema.json` is generated from them, the loader validates YAML against
//! that schema (to report every problem at once, with positions), then deserializes into them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A whole pipeline: where documents come from, what happens to them, where they go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// The input documents.
    pub input: InputSpec,
    /// The stages, applied in order.
    #[serde(default)]
    pub stages: Vec<StageSpec>,
    /// Where and how the datasets are written.
    pub output: OutputSpec,
    /// Execution settings.
    #[serde(default)]
    pub run: RunSpec,
    /// Train a GPT on the token shards once the data stages are done (`corpusforge run`), or
    /// on an earlier run's shards (`corpusforge train`).
    #[serde(default)]
    pub train: Option<crate::train::TrainConfig>,
}

impl Pipeline {
    /// xxh3-64 of the resolved data config, as 16 hex digits: the identity checkpoints, task
    /// markers and split-run phases are tied to. The `train:` section is left out: it does not
    /// change what the data run writes.
    pub fn data_hash(&self) -> String {
        let mut data = self.clone();
        data.train = None;
        let json = serde_json::to_string(&data).unwrap_or_default();
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(json.as_bytes()))
    }

    /// The stages that run on the document stream, in order: every stage before `tokenize`
    /// (which, last when present, is a phase over the written documents).
    pub fn streaming_stages(&self) -> &[StageSpec] {
        let n = self
            .stages
            .iter()
            .position(|s| !s.is_streaming())
            .unwrap_or(self.stages.len());
        &self.stages[..n]
    }
}

/// Input file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum InputFormat {
    /// JSON Lines, one object per line.
    #[serde(rename = "jsonl")]
    Jsonl,
    /// gzip-compressed JSON Lines.
    #[serde(rename = "jsonl.gz")]
    JsonlGz,
    /// zstd-compressed JSON Lines.
    #[serde(rename = "jsonl.zst")]
    JsonlZst,
    /// Apache Parquet with a string text column.
    #[serde(rename = "parquet")]
    Parquet,
    /// Plain UTF-8 text files.
    #[serde(rename = "txt")]
    Txt,
    /// WARC web archives (`.warc`, or `.warc.gz` with gzip members): every `response` record
    /// with an HTML page becomes a document (its charset decoded), other records are counted
    /// as skipped.
    #[serde(rename = "warc")]
    Warc,
}

/// How a `.txt` file becomes documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TxtMode {
    /// The whole file is one document.
    #[default]
    File,
    /// Each block of lines separated by one or more blank lines is a document.
    Paragraphs,
}

fn default_text_field() -> String {
    "text".to_string()
}
fn default_id_field() -> Option<String> {
    Some("id".to_string())
}
fn default_max_line_bytes() -> u64 {
    16 * 1024 * 1024
}

/// Where documents come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Files, directories (read recursively) and glob patterns, relative to the pipeline file.
    #[schemars(length(min = 1))]
    pub paths: Vec<String>,
    /// The format of every input file; when absent it is inferred from each file's extension.
    #[serde(default)]
    pub format: Option<InputFormat>,
    /// The JSON field or parquet column holding the text.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// The field holding the document id. When absent from the config or from a record, the id
    /// is generated as `<file>:<line>` (or `<file>:<row>` for parquet), which is deterministic.
    #[serde(default = "default_id_field")]
    pub id_field: Option<String>,
    /// Fields of the input record kept as the document's metadata (a JSON object).
    #[serde(default)]
    pub metadata_fields: Vec<String>,
    /// How `.txt` files are split into documents.
    #[serde(default)]
    pub txt_mode: TxtMode,
    /// A line longer than this (in bytes) is rejected as `line_too_long`, without buffering it.
    #[serde(default = "default_max_line_bytes")]
    #[schemars(range(min = 1))]
    pub max_line_bytes: u64,
    /// WARC: a record whose block is longer than this (in bytes) is rejected as
    /// `record_too_large` and skipped unread (default 64 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_record_bytes: Option<u64>,
}

/// Default of [`InputSpec::max_record_bytes`].
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// Parquet compression codec of the written shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Zstandard (the default), at `zstd_level`.
    #[default]
    Zstd,
    /// Snappy.
    Snappy,
    /// No compression.
    None,
}

/// A column to partition the documents dataset by (`documents/<col>=<value>/part-*.parquet`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartitionBy {
    /// The language set by the `language` stage (`und` when unknown).
    Lang,
}

fn default_out_dir() -> String {
    "out".to_string()
}
fn default_shard_max_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_shard_max_docs() -> u64 {
    1_000_000
}
fn default_row_group_docs() -> u64 {
    8192
}
fn default_row_group_bytes() -> u64 {
    32 * 1024 * 1024
}
fn default_zstd_level() -> i32 {
    3
}
fn default_true() -> bool {
    true
}

/// Where and how the datasets are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Output directory, relative to the pipeline file unless absolute.
    #[serde(default = "default_out_dir")]
    pub dir: String,
    /// A shard is closed once its text reaches this many bytes.
    #[serde(default = "default_shard_max_bytes")]
    #[schemars(range(min = 1))]
    pub shard_max_bytes: u64,
    /// A shard is closed once it holds this many documents.
    #[serde(default = "default_shard_max_docs")]
    #[schemars(range(min = 1))]
    pub shard_max_docs: u64,
    /// Rows per parquet row group (at most).
    #[serde(default = "default_row_group_docs")]
    #[schemars(range(min = 1))]
    pub row_group_docs: u64,
    /// Text bytes per parquet row group (at most, unless one document is larger).
    #[serde(default = "default_row_group_bytes")]
    #[schemars(range(min = 1))]
    pub row_group_bytes: u64,
    /// Compression codec.
    #[serde(default)]
    pub compression: Compression,
    /// zstd level (1-22).
    #[serde(default = "default_zstd_level")]
    #[schemars(range(min = 1, max = 22))]
    pub zstd_level: i32,
    /// Write dropped documents (with stage and reason) to `dropped/`.
    #[serde(default = "default_true")]
    pub write_dropped: bool,
    /// Write filter signals (a JSON object per document) in the `signals` column.
    #[serde(default)]
    pub write_signals: bool,
    /// Partition the documents dataset by a column.
    #[serde(default)]
    pub partition_by: Option<PartitionBy>,
    /// Write the quality report (`report/report.{json,md,html}`) at the end of `corpusforge run`.
    #[serde(default = "default_true")]
    pub report: bool,
}

fn default_batch_size() -> usize {
    1024
}
fn default_seed() -> u64 {
    42
}
fn default_checkpoint_seconds() -> u64 {
    30
}

/// Execution settings. None of them changes what is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Worker threads; 0 means one per core.
    #[serde(default)]
    pub threads: usize,
    /// Documents per batch handed to the stages.
    #[serde(default = "default_batch_size")]
    #[schemars(range(min = 1))]
    pub batch_size: usize,
    /// Seed for every seeded choice (sampling, hashing, splits).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How often (seconds) the runner saves a resume checkpoint.
    #[serde(default = "default_checkpoint_seconds")]
    #[schemars(range(min = 1))]
    pub checkpoint_seconds: u64,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            threads: 0,
            batch_size: default_batch_size(),
            seed: default_seed(),
            checkpoint_seconds: default_checkpoint_seconds(),
        }
    }
}

impl InputSpec {
    /// The input of a side set of documents (evaluation sets, classifier training data): any
    /// format by extension, lines up to 1 GiB, no metadata.
    pub fn documents(paths: Vec<String>, text_field: &str, id_field: Option<String>) -> Self {
        InputSpec {
            paths,
            format: None,
            text_field: text_field.to_string(),
            id_field,
            metadata_fields: Vec::new(),
            txt_mode: Default::default(),
            max_line_bytes: 1 << 30,
            max_record_bytes: None,
        }
    }
}

/// One stage of the pipeline, selected by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StageSpec {
    /// Unicode normalization and whitespace cleanup.
    Normalize(crate::stages::clean::normalize::NormalizeConfig),
    /// Drop documents outside a character / word count range.
    Length(crate::stages::quality::length::LengthConfig),
    /// Extract the visible text of HTML documents; other documents pass unchanged.
    HtmlStrip(crate::stages::clean::html_strip::HtmlStripConfig),
    /// Main-content extraction from web pages: the article without navigation, footers, menus, comments.
    Extract(crate::stages::clean::extract::ExtractConfig),
    /// Replace e-mail and IP addresses with placeholders.
    Pii(crate::stages::clean::pii::PiiConfig),
    /// Gopher quality rules (word counts, word length, symbols, bullets, stop words).
    GopherQuality(crate::stages::quality::gopher_quality::GopherQualityConfig),
    /// Gopher repetition rules (duplicate lines, paragraphs and n-grams).
    GopherRepetition(crate::stages::quality::gopher_repetition::GopherRepetitionConfig),
    /// C4 line rules (rewrites the text) and document rules.
    C4(crate::stages::quality::c4::C4Config),
    /// FineWeb line rules (punctuation, short lines, duplicated lines, list-like text).
    Fineweb(crate::stages::quality::fineweb::FinewebConfig),
    /// Identify the language (whatlang) of every document; filter by allow-list and confidence.
    Language(crate::stages::lang::LanguageConfig),
    /// Drop documents whose normalized text (xxh3-128) was seen before; the first is kept.
    ExactDedup(crate::stages::dedup::exact::ExactDedupConfig),
    /// Drop near-duplicates (MinHash + LSH over word n-grams); the first of a group is kept.
    MinhashDedup(crate::stages::dedup::minhash::MinhashDedupConfig),
    /// Remove paragraphs (or lines) seen before in the run; drop documents left too short.
    ParagraphDedup(crate::stages::dedup::paragraph::ParagraphDedupConfig),
    /// Drop documents sharing a word n-gram with an evaluation set.
    Decontaminate(crate::stages::decontaminate::DecontaminateConfig),
    /// Score documents with a trained quality classifier; keep the high scores.
    QualityClassifier(crate::stages::quality_classifier::QualityClassifierConfig),
    /// Score documents with a language model (bits per byte); filter or bucket by it.
    Perplexity(crate::stages::perplexity::PerplexityConfig),
    /// Train or load a tokenizer and write token shards (must be the last stage).
    Tokenize(crate::stages::tokenize::TokenizeConfig),
}

impl StageSpec {
    /// False for `tokenize`, which runs after the stream over the written documents; true for
    /// every stage the runner applies to the document stream.
    pub fn is_streaming(&self) -> bool {
        !matches!(self, StageSpec::Tokenize(_))
    }

    /// The `type` key of this stage, also the prefix of its drop reasons.
    pub fn type_name(&self) -> &'static str {
        match self {
            StageSpec::Normalize(_) => "normalize",
            StageSpec::Length(_) => "length",
            StageSpec::HtmlStrip(_) => "html_strip",
            StageSpec::Extract(_) => "extract",
            StageSpec::Pii(_) => "pii",
            StageSpec::GopherQuality(_) => "gopher_quality",
            StageSpec::GopherRepetition(_) => "gopher_repetition",
            StageSpec::C4(_) => "c4",
            StageSpec::Fineweb(_) => "fineweb",
            StageSpec::Language(_) => "language",
            StageSpec::ExactDedup(_) => "exact_dedup",
            StageSpec::MinhashDedup(_) => "minhash_dedup",
            StageSpec::ParagraphDedup(_) => "paragraph_dedup",
            StageSpec::Decontaminate(_) => "decontaminate",
            StageSpec::QualityClassifier(_) => "quality_classifier",
            StageSpec::Perplexity(_) => "perplexity",
            StageSpec::Tokenize(_) => "tokenize",
        }
    }

    /// The prefix of this stage's drop reason keys (`<prefix>:<reason>`): the type name, except
    /// for families that share one — `lang` for `language`, `dedup` for the dedup stages.
    pub fn reason_prefix(&self) -> &'static str {
        match self {
            StageSpec::Language(_) => "lang",
            StageSpec::ExactDedup(_)
            | StageSpec::MinhashDedup(_)
            | StageSpec::ParagraphDedup(_) => "dedup",
            other => other.type_name(),
        }
    }
}

/// A problem found by semantic checks: the path of the offending field and a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Path from the stage (or section) root to the field, e.g. `["min_chars"]`.
    pub path: Vec<String>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `field`.
    pub fn at(field: &str, message: impl Into<String>) -> Self {
        Problem {
            path: vec![field.to_string()],
            message: message.into(),
        }
    }
}

/// Checks the schema cannot express (min <= max and the like), per section.
pub trait Check {
    /// Every problem, in field order. Empty when the value is fine.
    fn check(&self) -> Vec<Problem>;
}

/// `min <= max` for an optional pair of bounds.
pub fn check_range<T: PartialOrd + std::fmt::Display>(
    min_name: &str,
    min: Option<T>,
    max_name: &str,
    max: Option<T>,
) -> Option<Problem> {
    match (min, max) {
        (Some(lo), Some(hi)) if lo > hi => Some(Problem::at(
            min_name,
            format!("{min_name} ({lo}) is greater than {max_name} ({hi})"),
        )),
        _ => None,
    }
}
