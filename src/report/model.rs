//! What `report.json` holds. `schemas/report.schema.json` is the JSON Schema of [`Report`],
//! generated from these types (a test fails when it is stale).
//!
//! Stability: fields are only added, never renamed or removed, within a `schema_version`;
//! optional parts (`tokenizer`, `training`, a distribution without data) are `null` when the run
//! has nothing for them. Ratios are in [0, 1]; counts are exact unless the field says it is
//! estimated or computed on the sample.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of this layout; bumped only when a field changes meaning or goes away.
pub const SCHEMA_VERSION: u32 = 1;

/// The quality report of one run's output directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// Version of this layout (1; bumped only when a field changes meaning or goes away).
    pub schema_version: u32,
    /// Always `corpusforge`.
    pub tool: String,
    /// The version of the tool that wrote the report.
    pub version: String,
    /// The run the report describes.
    pub run: RunInfo,
    /// How the sample behind the sampled figures was drawn.
    pub sample: SampleInfo,
    /// Documents, bytes and tokens through the stages; drop and reject reasons with examples.
    pub funnel: Funnel,
    /// Noise metrics before and after the pipeline (on the sample).
    pub noise: Vec<NoiseMetric>,
    /// Quality-filter signals of kept and dropped documents (on the sample; empty unless the
    /// run wrote signals, `output.write_signals: true`).
    pub signals: Vec<SignalDist>,
    /// The model-based scores (`quality_score`, `bpb`): the documents at both extremes and the
    /// rank correlation with every other signal (on the sample; empty without them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_scores: Vec<ModelScore>,
    /// Language mix, lengths, lexical diversity and compression.
    pub diversity: Diversity,
    /// Duplicate clusters (documents sharing a `cluster_id`).
    pub duplicates: Duplicates,
    /// Where documents came from: input files and URL domains.
    pub sources: Sources,
    /// The tokenizer and the token shards, when the run has them.
    pub tokenizer: Option<TokenizerReport>,
    /// The training run, when `train/metrics.jsonl` exists.
    pub training: Option<TrainingReport>,
    /// Things the reader should know: missing datasets, caveats of the figures.
    pub notes: Vec<String>,
}

/// The run the report describes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunInfo {
    /// The output directory, as given to the report.
    pub out_dir: String,
    /// xxh3-64 of the resolved config (from the manifest).
    pub config_hash: Option<String>,
    /// Whether the manifest marks the run complete.
    pub complete: bool,
    /// The run's seed.
    pub seed: Option<u64>,
    /// The stage types, in pipeline order.
    pub stages: Vec<String>,
    /// Input files read.
    pub input_files: u64,
    /// Their size on disk, in bytes.
    pub input_file_bytes: u64,
    /// Wall time of the run, in seconds (from `stats.json`).
    pub seconds: f64,
}

/// The seeded sample used by the figures that need the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SampleInfo {
    /// Documents asked for, per dataset.
    pub size: u64,
    /// Seed of the hash that orders documents.
    pub seed: u64,
    /// How the sample is drawn.
    pub method: String,
    /// Kept documents in the sample ("after").
    pub kept: u64,
    /// Dropped documents in the sample.
    pub dropped: u64,
    /// Documents in the "before" sample (kept and dropped together).
    pub before: u64,
    /// Kept documents the sample was drawn from.
    pub kept_population: u64,
    /// Dropped documents the sample was drawn from.
    pub dropped_population: u64,
    /// Texts longer than this (bytes) are cut to it for the sampled figures.
    pub max_text_bytes: u64,
}

/// The path of documents through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Funnel {
    /// Input records read (documents and rejected records).
    pub input_records: u64,
    /// Records that became documents and entered the stages.
    pub documents_in: u64,
    /// Text bytes of those documents.
    pub bytes_in: u64,
    /// Documents kept.
    pub kept: u64,
    /// Text bytes kept.
    pub kept_bytes: u64,
    /// Documents dropped by a stage.
    pub dropped: u64,
    /// Records rejected by the readers.
    pub rejected: u64,
    /// `kept / documents_in`.
    pub kept_share: Option<f64>,
    /// `kept_bytes / bytes_in`.
    pub kept_bytes_share: Option<f64>,
    /// Tokens written to the token shards (special tokens included), when tokenized.
    pub tokens: Option<u64>,
    /// Whether the run wrote `dropped/` (examples and dropped-side figures need it).
    pub dropped_written: bool,
    /// Per stage, in pipeline order.
    pub stages: Vec<FunnelStage>,
    /// Drop reasons over all stages, most frequent first.
    pub drop_reasons: Vec<DropReason>,
    /// Reject reasons, most frequent first.
    pub rejected_reasons: Vec<RejectedReason>,
    /// Per language (the `lang` column; documents dropped before the language stage count as
    /// `und`): documents in, kept and dropped by reason. Null when no stage set languages or
    /// `dropped/` was not written.
    #[serde(default)]
    pub languages: Option<Vec<LanguageFunnel>>,
}

/// One language's path through the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LanguageFunnel {
    /// The language code (`und`: none identified).
    pub lang: String,
    /// Documents of the language that entered the stages (kept + dropped).
    pub documents: u64,
    /// Documents kept.
    pub kept: u64,
    /// `kept / documents`.
    pub kept_share: f64,
    /// Dropped documents by reason key, most frequent first.
    pub dropped: Vec<ReasonCount>,
}

/// A reason key and a count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReasonCount {
    /// The reason key, `<family>:<reason>`.
    pub reason: String,
    /// Documents.
    pub count: u64,
}

/// One stage in the funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FunnelStage {
    /// 0-based position in `stages:`.
    pub index: u64,
    /// The stage's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Documents in.
    pub seen: u64,
    /// Documents out.
    pub kept: u64,
    /// Documents dropped.
    pub dropped: u64,
    /// Text bytes in.
    pub bytes_in: u64,
    /// Text bytes out.
    pub bytes_out: u64,
    /// Tokens in, estimated as `bytes_in / bytes_per_token` of the kept corpus (when tokenized).
    pub tokens_in_est: Option<u64>,
    /// Tokens out, estimated the same way.
    pub tokens_out_est: Option<u64>,
    /// Drop reasons of this stage with counts.
    pub drop_reasons: BTreeMap<String, u64>,
    /// The stage's own counters.
    pub counters: BTreeMap<String, u64>,
    /// Wall time in the stage, seconds.
    pub seconds: f64,
}

/// A drop reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DropReason {
    /// The reason key, `<family>:<reason>`.
    pub reason: String,
    /// The stage that drops for it (the first, if several do).
    pub stage_index: Option<u64>,
    /// That stage's type.
    pub stage: Option<String>,
    /// Documents dropped for it.
    pub count: u64,
    /// Share of the documents that entered the stages.
    pub share_of_input: f64,
    /// Share of all dropped documents.
    pub share_of_dropped: f64,
    /// A few dropped documents (the ones with the smallest seeded hash of their id), truncated.
    pub examples: Vec<DocExample>,
}

/// A document shown as an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DocExample {
    /// Document id.
    pub id: String,
    /// Input file.
    pub source: String,
    /// Length of the full text, characters.
    pub chars: u64,
    /// The start of the text.
    pub snippet: String,
    /// Whether `snippet` is cut.
    pub truncated: bool,
    /// The kept document it duplicates (dedup drops).
    pub duplicate_of: Option<String>,
}

/// A reject reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RejectedReason {
    /// The reason key (`invalid_json`, `invalid_utf8`, ...).
    pub reason: String,
    /// Records rejected for it.
    pub count: u64,
    /// Share of the input records.
    pub share_of_input: f64,
    /// The first few such records.
    pub examples: Vec<RejectedExample>,
}

/// A rejected record shown as an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RejectedExample {
    /// Input file.
    pub source: String,
    /// Where in it.
    pub location: String,
    /// The reader's message.
    pub detail: String,
    /// The start of the raw record.
    pub raw: String,
}

/// Counts of values in bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Histogram {
    /// Bin edges (one more than `counts`); bin i is `[edges[i], edges[i+1])`, and the last
    /// bin also counts values at or above its upper edge.
    pub edges: Vec<f64>,
    /// Values per bin.
    pub counts: Vec<u64>,
}

/// A distribution: moments, quantiles and a histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Dist {
    /// Values.
    pub n: u64,
    /// Mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// 5th percentile.
    pub p05: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Largest value.
    pub max: f64,
    /// Share of the values that are not zero.
    pub nonzero_share: f64,
    /// The histogram.
    pub histogram: Histogram,
}

/// A noise metric before and after the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NoiseMetric {
    /// Stable key.
    pub key: String,
    /// Short label.
    pub label: String,
    /// `ratio`, `per_1k_chars` or `count`.
    pub unit: String,
    /// How it is computed.
    pub description: String,
    /// Over the "before" sample: kept and dropped documents as they left the pipeline.
    pub before: Option<Dist>,
    /// Over the kept sample.
    pub after: Option<Dist>,
    /// Over the dropped sample.
    pub dropped: Option<Dist>,
}

/// A quality-filter signal for kept and dropped documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignalDist {
    /// The signal key (`<stage>.<name>`, e.g. `gopher_quality.stop_words`).
    pub key: String,
    /// Over the kept sample.
    pub kept: Option<Dist>,
    /// Over the dropped sample (documents dropped by a stage that computed it, or later).
    pub dropped: Option<Dist>,
}

/// A model-based score over the sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelScore {
    /// The signal (`quality_score` of `quality_classifier`, `bpb` of `perplexity`).
    pub key: String,
    /// The sampled documents with the highest values, highest first.
    pub highest: Vec<ScoredExample>,
    /// The sampled documents with the lowest values, lowest first.
    pub lowest: Vec<ScoredExample>,
    /// Spearman rank correlation with each other signal, over the documents that have both.
    pub correlations: Vec<Correlation>,
}

/// A document at an extreme of a score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ScoredExample {
    /// Its id.
    pub id: String,
    /// Whether the run kept it.
    pub kept: bool,
    /// Its score.
    pub score: f64,
    /// The beginning of its text.
    pub text: String,
}

/// The rank correlation of two signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Correlation {
    /// The other signal.
    pub signal: String,
    /// Documents with both.
    pub n: u64,
    /// Spearman's rho (Pearson correlation of the ranks, ties at their mean rank).
    pub spearman: f64,
}

/// A point of a curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CurvePoint {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
}

/// Share of one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Share {
    /// The category (language, source file, domain).
    pub name: String,
    /// Kept documents.
    pub kept: u64,
    /// Dropped documents.
    pub dropped: u64,
    /// Share of the kept documents.
    pub kept_share: f64,
    /// Share of the kept text bytes (when known).
    pub kept_bytes_share: Option<f64>,
    /// Mean confidence over kept and dropped documents (languages only).
    pub mean_score: Option<f64>,
}

/// A categorical breakdown (languages, sources, domains).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Breakdown {
    /// Distinct categories among kept documents.
    pub distinct_kept: u64,
    /// Distinct categories among kept and dropped documents.
    pub distinct_all: u64,
    /// Entropy of the kept documents over the categories, bits.
    pub entropy_bits: f64,
    /// `entropy_bits / log2(distinct_kept)` (1 = even spread).
    pub evenness: Option<f64>,
    /// The largest categories by kept documents (then dropped).
    pub top: Vec<Share>,
    /// Kept documents in the categories not listed.
    pub other_kept: u64,
    /// Dropped documents in the categories not listed.
    pub other_dropped: u64,
}

/// Lengths of kept and dropped documents (every document, not a sample).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LengthDists {
    /// Kept documents. Quantiles come from log-spaced bins (10 per decade).
    pub kept: Option<Dist>,
    /// Dropped documents.
    pub dropped: Option<Dist>,
}

/// Lexical diversity of a sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Lexical {
    /// Documents in the sample.
    pub docs: u64,
    /// Words in the sample.
    pub words: u64,
    /// Distinct words.
    pub types: u64,
    /// Distinct unigrams over unigrams.
    pub distinct_1: Option<f64>,
    /// Distinct bigrams over bigrams (within documents).
    pub distinct_2: Option<f64>,
    /// Distinct trigrams over trigrams (within documents).
    pub distinct_3: Option<f64>,
    /// Entropy of the word distribution, bits.
    pub unigram_entropy_bits: f64,
    /// Distinct words against words read, in sample order.
    pub type_token_curve: Vec<CurvePoint>,
    /// Heaps' law fit `types = K * words^beta`: K.
    pub heaps_k: Option<f64>,
    /// Heaps' law exponent beta.
    pub heaps_beta: Option<f64>,
    /// Text bytes of the sample (joined by newlines).
    pub raw_bytes: u64,
    /// Their zstd size.
    pub zstd_bytes: u64,
    /// `raw_bytes / zstd_bytes` (higher = more redundant).
    pub compression_ratio: Option<f64>,
    /// The zstd level.
    pub zstd_level: i32,
}

/// Diversity figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Diversity {
    /// The `lang` column (null when no stage set languages).
    pub languages: Option<Breakdown>,
    /// Characters per document.
    pub chars: LengthDists,
    /// Unicode words per document.
    pub words: LengthDists,
    /// Tokens per document (special tokens included), when tokenized.
    pub tokens: Option<Dist>,
    /// Lexical figures of the kept sample ("after").
    pub after: Option<Lexical>,
    /// The same figures on the "before" sample (kept and dropped).
    pub before: Option<Lexical>,
}

/// A bin of cluster sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SizeBin {
    /// Label (`2`, `5-9`, `100+`).
    pub label: String,
    /// Smallest size in the bin.
    pub min: u64,
    /// Largest size (null: unbounded).
    pub max: Option<u64>,
    /// Clusters.
    pub clusters: u64,
    /// Documents in them.
    pub documents: u64,
}

/// A member of a duplicate cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterMember {
    /// Document id.
    pub id: String,
    /// `kept`, or the drop reason.
    pub status: String,
    /// The start of its text.
    pub snippet: String,
}

/// One duplicate cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Cluster {
    /// The cluster id, 16 hex digits.
    pub cluster_id: String,
    /// Documents in it (kept and dropped).
    pub size: u64,
    /// A few members, the kept one first.
    pub members: Vec<ClusterMember>,
}

/// Duplicate clusters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Duplicates {
    /// Whether any document has a `cluster_id` (a dedup stage ran).
    pub available: bool,
    /// Clusters with two or more documents.
    pub clusters: u64,
    /// Documents in those clusters.
    pub documents: u64,
    /// Documents dropped by dedup stages (`dedup:*` reasons).
    pub dropped_as_duplicates: u64,
    /// Size of the largest cluster.
    pub largest: u64,
    /// Clusters by size.
    pub size_histogram: Vec<SizeBin>,
    /// The largest clusters, with examples.
    pub top: Vec<Cluster>,
}

/// Sources and domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sources {
    /// Input files (`source` column).
    pub files: Option<Breakdown>,
    /// Domains of the `url` metadata field, when documents have one.
    pub domains: Option<Breakdown>,
    /// Kept documents with a parseable `url`.
    pub kept_with_url: u64,
}

/// A vocabulary entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenEntry {
    /// Token id.
    pub id: u32,
    /// The token decoded to text.
    pub text: String,
    /// Its length in UTF-8 bytes.
    pub bytes: u64,
    /// Occurrences in the token shards.
    pub count: u64,
}

/// The tokenizer and the token shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TokenizerReport {
    /// The tokenizer file, relative to the output directory.
    pub file: Option<String>,
    /// Vocabulary size (added tokens included).
    pub vocab_size: u64,
    /// Distinct token ids that occur in the shards.
    pub used: u64,
    /// `used / vocab_size`.
    pub used_share: Option<f64>,
    /// Documents in the token shards.
    pub docs: u64,
    /// Tokens in the shards (special tokens included).
    pub tokens: u64,
    /// Tokens per split (`train`, `val`).
    pub splits: BTreeMap<String, u64>,
    /// Text bytes per token, special tokens excluded (from the manifest's per-split bytes).
    pub bytes_per_token: Option<f64>,
    /// Tokens per Unicode word of the kept documents, special tokens excluded.
    pub tokens_per_word: Option<f64>,
    /// The longest tokens of the vocabulary (decoded, by bytes).
    pub longest: Vec<TokenEntry>,
    /// The most frequent tokens in the shards.
    pub most_frequent: Vec<TokenEntry>,
    /// Token frequency by rank (log-spaced ranks), for a Zipf plot.
    pub rank_frequency: Vec<CurvePoint>,
    /// How the documents were encoded, from the manifest (absent in older outputs).
    pub encoding: Option<EncodingReport>,
}

/// The encoder the tokenize stage used and its speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EncodingReport {
    /// `fast` (the byte-level BPE encoder) or `tokenizers` (the library).
    pub encoder: String,
    /// The encoder in words, with the reason when the library was used.
    pub detail: String,
    /// Threads that encoded.
    pub threads: u64,
    /// Tokens encoded per second (reading and writing excluded).
    pub tokens_per_second: f64,
    /// Text megabytes (10^6 bytes) encoded per second.
    pub mb_per_second: f64,
}

/// The training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TrainingReport {
    /// The metrics file, relative to the output directory when inside it.
    pub metrics_file: String,
    /// Last step logged.
    pub steps: u64,
    /// Training tokens consumed.
    pub tokens: u64,
    /// Training loss of the last step.
    pub final_loss: Option<f64>,
    /// Validation loss of the first evaluation.
    pub initial_val_loss: Option<f64>,
    /// Validation loss of the last evaluation.
    pub final_val_loss: Option<f64>,
    /// The lowest validation loss.
    pub best_val_loss: Option<f64>,
    /// Perplexity at the last evaluation.
    pub final_perplexity: Option<f64>,
    /// Median training throughput.
    pub tokens_per_s_median: Option<f64>,
    /// Median model FLOPs utilisation.
    pub mfu_median: Option<f64>,
    /// Training loss by step (averaged into at most 500 points).
    pub loss: Vec<CurvePoint>,
    /// Validation loss by step.
    pub val_loss: Vec<CurvePoint>,
    /// Perplexity by step.
    pub perplexity: Vec<CurvePoint>,
    /// Tokens per second by step (averaged into at most 500 points).
    pub tokens_per_s: Vec<CurvePoint>,
    /// A mixture's sources at the last evaluation (empty without a mixture).
    #[serde(default)]
    pub mixture: Vec<MixtureSource>,
}

/// One source of a training mixture, at the last evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MixtureSource {
    /// Its name.
    pub name: String,
    /// Its weight (normalised).
    pub weight: f64,
    /// Its realized share of the training windows.
    pub share: f64,
    /// Training windows drawn from it.
    pub windows: u64,
    /// Passes over its training tokens.
    pub epochs: f64,
    /// Its val loss.
    pub val_loss: Option<f64>,
    /// Its val loss in bits per byte.
    pub bits_per_byte: Option<f64>,
    /// Its val loss by step.
    pub val_curve: Vec<CurvePoint>,
}
