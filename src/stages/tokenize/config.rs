//! The `tokenize` stage's config.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Check, Problem};

/// Size of the byte-level alphabet every trained tokenizer starts from.
pub const BYTE_ALPHABET: u64 = 256;

fn default_val_fraction() -> f64 {
    0.01
}
fn default_shard_max_tokens() -> u64 {
    100_000_000
}
fn default_row_group_tokens() -> u64 {
    1 << 20
}
fn default_min_frequency() -> u64 {
    2
}

/// Config of the `tokenize` stage: which tokenizer, how documents are delimited, how the
/// token shards are split and cut. It must be the last stage: it runs after the kept
/// documents are written, over those documents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizeConfig {
    /// The tokenizer: `{path: tokenizer.json}` loads one, `{train: {...}}` trains a byte-level
    /// BPE on the documents this run keeps.
    pub tokenizer: TokenizerSource,
    /// The token appended to every document, e.g. `<|endoftext|>`. It must be in the
    /// vocabulary; a trained tokenizer gets it as a special token.
    pub eos: String,
    /// A token prepended to every document (none when absent).
    #[serde(default)]
    pub bos: Option<String>,
    /// Fraction of documents in the `val` split, chosen by a hash of the document id seeded
    /// with `run.seed`: a document keeps its split when others are added or removed.
    #[serde(default = "default_val_fraction")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub val_fraction: f64,
    /// A token shard closes once it holds this many tokens (or `output.shard_max_docs`
    /// documents).
    #[serde(default = "default_shard_max_tokens")]
    #[schemars(range(min = 1))]
    pub shard_max_tokens: u64,
    /// Tokens per parquet row group, at most (unless one document is longer); rows per row
    /// group are also capped by `output.row_group_docs`.
    #[serde(default = "default_row_group_tokens")]
    #[schemars(range(min = 1))]
    pub row_group_tokens: u64,
}

/// Where the tokenizer comes from: exactly one of `path` and `train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenizerSource {
    /// A `tokenizer.json` (any tokenizer the `tokenizers` library loads), relative to the
    /// pipeline file unless absolute. Padding and truncation are turned off.
    #[serde(default)]
    pub path: Option<String>,
    /// Train a byte-level BPE on the kept documents; it is saved as `OUT/tokenizer.json`.
    #[serde(default)]
    pub train: Option<TrainSpec>,
}

/// How to train a byte-level BPE (GPT-2 style: byte-level pre-tokenizer and decoder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Vocabulary size, special tokens and the 256 byte symbols included.
    #[schemars(range(min = 1))]
    pub vocab_size: u64,
    /// A pair is merged only if it occurs at least this often.
    #[serde(default = "default_min_frequency")]
    pub min_frequency: u64,
    /// Special tokens, given the first ids in this order; `eos` and `bos` are added after them
    /// when not listed.
    #[serde(default)]
    pub special_tokens: Vec<String>,
    /// Train on at most this many documents, spread evenly over the kept documents in order
    /// (a deterministic sample); all when absent.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_docs: Option<u64>,
}

impl TrainSpec {
    /// The special tokens of the trained vocabulary, in id order: `special_tokens`, then `eos`
    /// and `bos` unless already listed.
    pub fn all_special_tokens(&self, eos: &str, bos: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self
            .special_tokens
            .iter()
            .map(String::as_str)
            .chain([eos])
            .chain(bos)
        {
            if !out.iter().any(|o| o == t) {
                out.push(t.to_string());
            }
        }
        out
    }
}

impl Check for TokenizeConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let src = &self.tokenizer;
        match (&src.path, &src.train) {
            (Some(_), Some(_)) => p.push(Problem::at(
                "tokenizer",
                "give either `path` (load a tokenizer) or `train` (train one), not both",
            )),
            (None, None) => p.push(Problem::at(
                "tokenizer",
                "give `path: tokenizer.json` to load a tokenizer or `train: {vocab_size: N}` to train one",
            )),
            _ => {}
        }
        if src.path.as_deref().is_some_and(|s| s.trim().is_empty()) {
            p.push(Problem {
                path: vec!["tokenizer".into(), "path".into()],
                message: "the path is empty".into(),
            });
        }
        if self.eos.is_empty() {
            p.push(Problem::at("eos", "the eos token is empty"));
        }
        if self.bos.as_deref() == Some("") {
            p.push(Problem::at(
                "bos",
                "the bos token is empty (leave `bos` out for none)",
            ));
        }
        if !(0.0..=1.0).contains(&self.val_fraction) {
            p.push(Problem::at(
                "val_fraction",
                format!(
                    "val_fraction ({}) must be between 0 and 1",
                    self.val_fraction
                ),
            ));
        }
        if let Some(t) = &src.train {
            let specials = t.all_special_tokens(&self.eos, self.bos.as_deref());
            let least = BYTE_ALPHABET + specials.len() as u64;
            if t.vocab_size < least {
                p.push(Problem {
                    path: vec!["tokenizer".into(), "train".into(), "vocab_size".into()],
                    message: format!(
                        "vocab_size ({}) must be at least {least}: 256 byte symbols + {} special tokens",
                        t.vocab_size,
                        specials.len()
                    ),
                });
            }
            if t.vocab_size > u32::MAX as u64 {
                p.push(Problem {
                    path: vec!["tokenizer".into(), "train".into(), "vocab_size".into()],
                    message: format!(
                        "vocab_size ({}) does not fit token ids in 32 bits",
                        t.vocab_size
                    ),
                });
            }
            if t.special_tokens.iter().any(String::is_empty) {
                p.push(Problem {
                    path: vec!["tokenizer".into(), "train".into(), "special_tokens".into()],
                    message: "a special token is empty".into(),
                });
            }
        }
        p
    }
}
