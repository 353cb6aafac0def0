//! The `train:` section: model, optimizer, budget, evaluation and checkpoint settings.
//!
//! The same type is the `train:` section of a pipeline and the whole of a standalone
//! `TRAIN.yaml` (for `corpusforge train --config TRAIN.yaml`), where `data:` is required:
//!
//! ```yaml
//! data: ../out/quickstart        # a pipeline output: tokens/{train,val}/, tokenizer.json
//! out: ../out/quickstart/train   # optional; default DATA/train
//! model: {n_layer: 4, n_head: 4, n_embd: 128, seq_len: 64}
//! optimizer: {lr: 1.0e-3, min_lr: 1.0e-4, warmup_steps: 20}
//! batch_size: 12
//! max_steps: 300
//! eval_interval: 50
//! ```
//!
//! Relative paths are relative to the file they are written in.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Check, Problem};

fn d_n_layer() -> usize {
    4
}
fn d_n_head() -> usize {
    4
}
fn d_n_embd() -> usize {
    128
}
fn d_seq_len() -> usize {
    64
}
fn d_ln_eps() -> f64 {
    1e-5
}
fn d_lr() -> f64 {
    1e-3
}
fn d_min_lr() -> f64 {
    1e-4
}
fn d_betas() -> [f64; 2] {
    [0.9, 0.95]
}
fn d_eps() -> f64 {
    1e-8
}
fn d_weight_decay() -> f64 {
    0.1
}
fn d_warmup() -> u64 {
    100
}
fn d_clip() -> f64 {
    1.0
}
fn d_batch() -> usize {
    12
}
fn d_one() -> usize {
    1
}
fn d_eval_interval() -> u64 {
    100
}
fn d_eval_tokens() -> u64 {
    16_384
}
fn d_ckpt_interval() -> u64 {
    500
}
fn d_keep() -> usize {
    3
}
fn d_seed() -> u64 {
    1337
}
fn d_shuffle_buffer() -> usize {
    8
}

/// The GPT: token and learned position embeddings, `n_layer` pre-norm blocks of causal
/// multi-head attention and a 4x GELU MLP, a final LayerNorm, the head tied to the token
/// embedding. The vocabulary size comes from the tokenizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Transformer blocks.
    #[serde(default = "d_n_layer")]
    #[schemars(range(min = 1))]
    pub n_layer: usize,
    /// Attention heads per block; must divide `n_embd`.
    #[serde(default = "d_n_head")]
    #[schemars(range(min = 1))]
    pub n_head: usize,
    /// Embedding width.
    #[serde(default = "d_n_embd")]
    #[schemars(range(min = 1))]
    pub n_embd: usize,
    /// Context length in tokens (training windows are `seq_len + 1` tokens).
    #[serde(default = "d_seq_len")]
    #[schemars(range(min = 1))]
    pub seq_len: usize,
    /// Dropout probability after the embeddings and on each residual branch (0 = off).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 0.9))]
    pub dropout: f64,
    /// LayerNorm epsilon.
    #[serde(default = "d_ln_eps")]
    pub layer_norm_eps: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            n_layer: d_n_layer(),
            n_head: d_n_head(),
            n_embd: d_n_embd(),
            seq_len: d_seq_len(),
            dropout: 0.0,
            layer_norm_eps: d_ln_eps(),
        }
    }
}

/// AdamW with linear warmup then cosine decay to `min_lr`, and global-norm clipping.
/// Weight decay applies to the weight matrices only (not biases, norms or embeddings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Peak learning rate, reached at the end of the warmup.
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    #[serde(default = "d_min_lr")]
    pub min_lr: f64,
    /// Adam's (beta1, beta2).
    #[serde(default = "d_betas")]
    pub betas: [f64; 2],
    /// Adam's denominator epsilon.
    #[serde(default = "d_eps")]
    pub eps: f64,
    /// Decoupled weight decay of the weight matrices.
    #[serde(default = "d_weight_decay")]
    pub weight_decay: f64,
    /// Steps of linear warmup from 0 to `lr`.
    #[serde(default = "d_warmup")]
    pub warmup_steps: u64,
    /// Step at which the cosine reaches `min_lr` (default: the last step of the budget).
    #[serde(default)]
    pub decay_steps: Option<u64>,
    /// Clip the global gradient norm to this (0 = no clipping).
    #[serde(default = "d_clip")]
    pub grad_clip: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            lr: d_lr(),
            min_lr: d_min_lr(),
            betas: d_betas(),
            eps: d_eps(),
            weight_decay: d_weight_decay(),
            warmup_steps: d_warmup(),
            decay_steps: None,
            grad_clip: d_clip(),
        }
    }
}

/// Where the model trains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrainDevice {
    /// The CPU (fused kernels); the default.
    #[default]
    Cpu,
    /// The first CUDA GPU (needs a build with the `cuda` feature; plain candle ops).
    Cuda,
}

/// What the model learns to predict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Causal language modelling: the next token, with causal attention (a GPT decoder).
    #[default]
    Clm,
    /// Masked language modelling: 15% of the tokens (special tokens excepted) are chosen, 80%
    /// of those replaced by `[MASK]`, 10% by a random token, 10% left; the loss is on the
    /// chosen positions only, and attention is bidirectional (an encoder, BERT style).
    Mlm,
}

impl Objective {
    /// Whether this is the default (so it is left out of written configs).
    pub fn is_clm(&self) -> bool {
        *self == Objective::Clm
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What the model trains on: one token dataset (a pipeline output directory), or a weighted
/// mixture of several.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TrainData {
    /// A directory holding `tokens/{train,val}/` and `tokenizer.json`.
    Dir(String),
    /// Several token datasets drawn in proportion to their weights.
    Mixture(Mixture),
}

impl<'de> Deserialize<'de> for TrainData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // By hand rather than `untagged`, so that a mistake inside a mixture is reported as
        // itself (an unknown key, a bad weight) and not as "matches no variant".
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Ok(TrainData::Dir(s)),
            serde_json::Value::Object(_) => serde_json::from_value(v)
                .map(TrainData::Mixture)
                .map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(format!(
                "data: expected a directory or a mixture {{sources: [...]}}, got {other}"
            ))),
        }
    }
}

/// A mixture: windows are drawn from the sources in proportion to their weights, or with
/// `temperature`, to `tokens^(1/temperature)` (1 = in proportion to size, larger = flatter).
///
/// ```yaml
/// data:
///   sources:
///     - {name: web, path: ../out/web, weight: 0.8}
///     - {name: books, path: ../out/books, weight: 0.2}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mixture {
    /// The sources, at least one.
    #[schemars(length(min = 1))]
    pub sources: Vec<MixSource>,
    /// Sample by size with this temperature instead of by weight (no source then sets a
    /// weight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
}

/// One source of a mixture: a token dataset, or the part of one whose documents have a language
/// or come from matching input files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MixSource {
    /// The name in metrics and reports (default: the language, else the directory's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The pipeline output holding `tokens/` (default: the pipeline's own output, or in an
    /// experiment the arm's). Every source's tokenizer must be the run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Relative share of the training windows (normalised over the sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Only the documents of this language (the `lang` the `language` stage set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Only the documents read from input files matching this glob (the documents' `source`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl MixSource {
    /// The source's name: `name`, else its language, else its directory's last component.
    pub fn display_name(&self, index: usize) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        if let Some(l) = &self.lang {
            return l.clone();
        }
        self.path
            .as_deref()
            .and_then(|p| Path::new(p.trim_end_matches('/')).file_name())
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| format!("source-{index}"))
    }
}

impl Mixture {
    fn problems(&self, p: &mut Vec<Problem>) {
        if self.sources.is_empty() {
            p.push(at(
                &["data", "sources"],
                "a mixture needs at least one source",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            let idx = i.to_string();
            let name = s.display_name(i);
            if !seen.insert(name.clone()) {
                p.push(at(
                    &["data", "sources", &idx, "name"],
                    format!("two sources are named `{name}`; give each a distinct name"),
                ));
            }
            match (s.weight, self.temperature) {
                (Some(w), None) if !w.is_finite() || w <= 0.0 => p.push(at(
                    &["data", "sources", &idx, "weight"],
                    format!("weight must be positive, got {w}"),
                )),
                (None, None) => p.push(at(
                    &["data", "sources", &idx, "weight"],
                    "every source needs a weight (or set data.temperature to sample by size)",
                )),
                (Some(_), Some(_)) => p.push(at(
                    &["data", "sources", &idx, "weight"],
                    "weights and data.temperature exclude each other",
                )),
                _ => {}
            }
            if let Some(g) = &s.source {
                if let Err(e) = glob::Pattern::new(g) {
                    p.push(at(
                        &["data", "sources", &idx, "source"],
                        format!("not a glob: {e}"),
                    ));
                }
            }
        }
        if let Some(t) = self.temperature {
            if !t.is_finite() || t <= 0.0 {
                p.push(at(
                    &["data", "temperature"],
                    format!("temperature must be positive, got {t}"),
                ));
            }
        }
    }
}

/// The `train:` section: train a GPT on the token shards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Directory holding `tokens/train/`, `tokens/val/` and `tokenizer.json`, or a mixture of
    /// several (`{sources: [{path, weight, lang, source}], temperature}`). In a pipeline the
    /// default is the pipeline's output directory; in a standalone train file it is required.
    #[serde(default)]
    pub data: Option<TrainData>,
    /// Where checkpoints and metrics go (default: `DATA/train`).
    #[serde(default)]
    pub out: Option<String>,
    /// The tokenizer (default: `DATA/tokenizer.json`); its vocabulary size sizes the model.
    #[serde(default)]
    pub tokenizer: Option<String>,
    /// `clm` (default: next-token prediction, a decoder) or `mlm` (masked tokens, an encoder).
    #[serde(default, skip_serializing_if = "Objective::is_clm")]
    pub objective: Objective,
    /// Start from this corpusforge checkpoint (a `step-*` directory or a train output
    /// directory, whose newest checkpoint is used): its weights, with a fresh schedule from step
    /// 0. The model shape and the tokenizer must match. `--resume` instead continues a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
    /// With `init_from`: also take the checkpoint's AdamW moments.
    #[serde(default, skip_serializing_if = "is_false")]
    pub init_optimizer: bool,
    /// Model shape.
    #[serde(default)]
    pub model: ModelConfig,
    /// Optimizer and learning-rate schedule.
    #[serde(default)]
    pub optimizer: OptimizerConfig,
    /// Sequences per micro-batch.
    #[serde(default = "d_batch")]
    #[schemars(range(min = 1))]
    pub batch_size: usize,
    /// Micro-batches per optimizer step (gradient accumulation).
    #[serde(default = "d_one")]
    #[schemars(range(min = 1))]
    pub grad_accum: usize,
    /// Stop after this many optimizer steps.
    #[serde(default)]
    pub max_steps: Option<u64>,
    /// Stop once this many training tokens have been consumed (rounded up to whole steps).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// Evaluate on the val split every this many steps (0 = only at the start and end).
    #[serde(default = "d_eval_interval")]
    pub eval_interval: u64,
    /// Tokens of the val split used per evaluation (the same windows every time).
    #[serde(default = "d_eval_tokens")]
    #[schemars(range(min = 1))]
    pub eval_tokens: u64,
    /// Write a checkpoint every this many steps (0 = only at the end).
    #[serde(default = "d_ckpt_interval")]
    pub checkpoint_interval: u64,
    /// How many of the latest checkpoints to keep.
    #[serde(default = "d_keep")]
    #[schemars(range(min = 1))]
    pub keep_checkpoints: usize,
    /// Seed of the initialisation, the data order and dropout.
    #[serde(default = "d_seed")]
    pub seed: u64,
    /// `cpu` (default) or `cuda`.
    #[serde(default)]
    pub device: TrainDevice,
    /// Threads for the CPU kernels; 0 = one per core.
    #[serde(default)]
    pub threads: usize,
    /// Row groups of token shards read and shuffled together (bounds the loader's memory).
    #[serde(default = "d_shuffle_buffer")]
    #[schemars(range(min = 1))]
    pub shuffle_buffer: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data: None,
            out: None,
            tokenizer: None,
            objective: Objective::Clm,
            init_from: None,
            init_optimizer: false,
            model: ModelConfig::default(),
            optimizer: OptimizerConfig::default(),
            batch_size: d_batch(),
            grad_accum: 1,
            max_steps: None,
            max_tokens: None,
            eval_interval: d_eval_interval(),
            eval_tokens: d_eval_tokens(),
            checkpoint_interval: d_ckpt_interval(),
            keep_checkpoints: d_keep(),
            seed: d_seed(),
            device: TrainDevice::Cpu,
            threads: 0,
            shuffle_buffer: d_shuffle_buffer(),
        }
    }
}

fn at(path: &[&str], message: impl Into<String>) -> Problem {
    Problem {
        path: path.iter().map(|s| s.to_string()).collect(),
        message: message.into(),
    }
}

impl Check for TrainConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let m = &self.model;
        for (name, v) in [
            ("n_layer", m.n_layer),
            ("n_head", m.n_head),
            ("n_embd", m.n_embd),
            ("seq_len", m.seq_len),
        ] {
            if v == 0 {
                p.push(at(&["model", name], format!("{name} must be at least 1")));
            }
        }
        if m.n_head > 0 && !m.n_embd.is_multiple_of(m.n_head) {
            p.push(at(
                &["model", "n_head"],
                format!(
                    "n_embd ({}) must be a multiple of n_head ({})",
                    m.n_embd, m.n_head
                ),
            ));
        }
        if !(0.0..1.0).contains(&m.dropout) {
            p.push(at(
                &["model", "dropout"],
                format!("dropout must be in [0, 1), got {}", m.dropout),
            ));
        }
        if m.layer_norm_eps.is_nan() || m.layer_norm_eps <= 0.0 {
            p.push(at(
                &["model", "layer_norm_eps"],
                "layer_norm_eps must be positive",
            ));
        }
        let o = &self.optimizer;
        if !o.lr.is_finite() || o.lr <= 0.0 {
            p.push(at(
                &["optimizer", "lr"],
                format!("lr must be positive, got {}", o.lr),
            ));
        }
        if o.min_lr.is_nan() || o.min_lr < 0.0 || o.min_lr > o.lr {
            p.push(at(
                &["optimizer", "min_lr"],
                format!("min_lr ({}) must be in [0, lr ({})]", o.min_lr, o.lr),
            ));
        }
        for (i, b) in o.betas.iter().enumerate() {
            if !(0.0..1.0).contains(b) {
                p.push(at(
                    &["optimizer", "betas", &i.to_string()],
                    format!("betas must be in [0, 1), got {b}"),
                ));
            }
        }
        if o.eps.is_nan() || o.eps <= 0.0 {
            p.push(at(&["optimizer", "eps"], "eps must be positive"));
        }
        if o.weight_decay < 0.0 {
            p.push(at(
                &["optimizer", "weight_decay"],
                "weight_decay must not be negative",
            ));
        }
        if o.grad_clip < 0.0 {
            p.push(at(
                &["optimizer", "grad_clip"],
                "grad_clip must not be negative (0 = off)",
            ));
        }
        if self.batch_size == 0 {
            p.push(at(&["batch_size"], "batch_size must be at least 1"));
        }
        if self.grad_accum == 0 {
            p.push(at(&["grad_accum"], "grad_accum must be at least 1"));
        }
        if self.keep_checkpoints == 0 {
            p.push(at(
                &["keep_checkpoints"],
                "keep_checkpoints must be at least 1",
            ));
        }
        if self.shuffle_buffer == 0 {
            p.push(at(&["shuffle_buffer"], "shuffle_buffer must be at least 1"));
        }
        if self.eval_tokens == 0 {
            p.push(at(&["eval_tokens"], "eval_tokens must be at least 1"));
        }
        match (self.max_steps, self.max_tokens) {
            (None, None) => p.push(at(
                &["max_steps"],
                "a budget is needed: set max_steps or max_tokens",
            )),
            (Some(0), _) => p.push(at(&["max_steps"], "max_steps must be at least 1")),
            (_, Some(0)) => p.push(at(&["max_tokens"], "max_tokens must be at least 1")),
            _ => {}
        }
        if let Some(TrainData::Mixture(m)) = &self.data {
            m.problems(&mut p);
        }
        if self.init_optimizer && self.init_from.is_none() {
            p.push(at(
                &["init_optimizer"],
                "init_optimizer needs init_from (the checkpoint whose optimizer state to take)",
            ));
        }
        p
    }
}

impl TrainConfig {
    /// Tokens consumed by one optimizer step.
    pub fn tokens_per_step(&self) -> u64 {
        (self.batch_size * self.grad_accum * self.model.seq_len) as u64
    }

    /// The number of optimizer steps of the budget (the smaller of the two limits).
    pub fn total_steps(&self) -> u64 {
        let by_tokens = self
            .max_tokens
            .map(|t| t.div_ceil(self.tokens_per_step().max(1)));
        match (self.max_steps, by_tokens) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => 0,
        }
    }

    /// The problems of [`Check::check`] as one message per line (`train.PATH: MESSAGE`).
    pub fn problems_text(&self, prefix: &str) -> Option<String> {
        let problems = self.check();
        if problems.is_empty() {
            return None;
        }
        let lines: Vec<String> = problems
            .iter()
            .map(|pr| format!("{prefix}{}: {}", pr.path.join("."), pr.message))
            .collect();
        Some(lines.join("\n"))
    }
}

/// The directories a training run reads and writes, resolved to real paths.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainPaths {
    /// Token data: `tokens/train`, `tokens/val`.
    pub data: PathBuf,
    /// Checkpoints and metrics.
    pub out: PathBuf,
    /// The tokenizer file.
    pub tokenizer: PathBuf,
    /// The checkpoint to start from (`init_from`), resolved.
    pub init_from: Option<PathBuf>,
    /// The sources of a mixture, resolved (empty: `data` alone, all of it).
    pub sources: Vec<SourcePaths>,
}

/// A mixture source with its directory resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcePaths {
    /// Its name in metrics and reports.
    pub name: String,
    /// The pipeline output holding `tokens/`.
    pub dir: PathBuf,
    /// Its weight (absent: sampled by size with the mixture's temperature).
    pub weight: Option<f64>,
    /// Only documents of this language.
    pub lang: Option<String>,
    /// Only documents from input files matching this glob.
    pub source: Option<String>,
}

impl TrainPaths {
    /// Paths for one dataset directory (no mixture).
    pub fn single(data: PathBuf, out: PathBuf, tokenizer: PathBuf) -> Self {
        TrainPaths {
            data,
            out,
            tokenizer,
            init_from: None,
            sources: Vec::new(),
        }
    }
}

impl TrainPaths {
    /// Resolves `cfg`'s paths: relative ones against `base` (the directory of the file they are
    /// written in); `default_data` stands in for an absent `data:` (a pipeline's output).
    pub fn resolve(
        cfg: &TrainConfig,
        base: &Path,
        default_data: Option<&Path>,
    ) -> Result<Self, String> {
        // An `s3://` directory or file is used through its mirror (crate::storage).
        let join = |p: &str| -> Result<PathBuf, String> {
            if crate::storage::is_url(p) {
                return crate::storage::local_dir(Path::new(p)).map_err(|e| format!("{p}: {e}"));
            }
            let p = Path::new(p);
            Ok(if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            })
        };
        let join_file = |p: &str| -> Result<PathBuf, String> {
            if crate::storage::is_url(p) {
                return crate::storage::local_file(Path::new(p)).map_err(|e| format!("{p}: {e}"));
            }
            join(p)
        };
        let required =
            || "data: is required (the directory holding tokens/ and tokenizer.json)".to_string();
        let mut sources = Vec::new();
        let data = match (&cfg.data, default_data) {
            (Some(TrainData::Dir(d)), _) => join(d)?,
            (Some(TrainData::Mixture(m)), _) => {
                for (i, s) in m.sources.iter().enumerate() {
                    let dir = match (&s.path, default_data) {
                        (Some(p), _) => join(p)?,
                        (None, Some(d)) => d.to_path_buf(),
                        (None, None) => {
                            return Err(format!(
                                "data.sources.{i}.path: is required (a pipeline output holding \
                                 tokens/)"
                            ))
                        }
                    };
                    sources.push(SourcePaths {
                        name: s.display_name(i),
                        dir,
                        weight: s.weight,
                        lang: s.lang.clone(),
                        source: s.source.clone(),
                    });
                }
                match default_data {
                    Some(d) => d.to_path_buf(),
                    None => sources
                        .first()
                        .map(|s| s.dir.clone())
                        .ok_or_else(required)?,
                }
            }
            (None, Some(d)) => d.to_path_buf(),
            (None, None) => return Err(required()),
        };
        let out = match cfg.out.as_deref() {
            Some(o) => join(o)?,
            None => data.join("train"),
        };
        let tokenizer = match cfg.tokenizer.as_deref() {
            Some(t) => join_file(t)?,
            None => data.join("tokenizer.json"),
        };
        let init_from = cfg.init_from.as_deref().map(join).transpose()?;
        Ok(TrainPaths {
            data,
            out,
            tokenizer,
            init_from,
            sources,
        })
    }
}

/// Reads a standalone train file (`corpusforge train --config TRAIN.yaml`): the `train:`
/// section's keys at the top level, with `data:` required.
pub fn load_train_file(path: &Path) -> Result<(TrainConfig, TrainPaths), String> {
    let name = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read the file: {e}"))?;
    let cfg = parse_train_yaml(&text).map_err(|e| format!("{name}: {e}"))?;
    if let Some(problems) = cfg.problems_text("") {
        return Err(problems
            .lines()
            .map(|l| format!("{name}: {l}"))
            .collect::<Vec<_>>()
            .join("\n"));
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let paths = TrainPaths::resolve(&cfg, &base, None).map_err(|e| format!("{name}: {e}"))?;
    Ok((cfg, paths))
}

/// Parses the YAML text of a train section.
pub fn parse_train_yaml(text: &str) -> Result<TrainConfig, String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| {
        let m = e.marker();
        format!("{}:{}: {}", m.line(), m.col() + 1, e.info())
    })?;
    let Some(doc) = docs.into_iter().next() else {
        return Err("the file holds no YAML document".into());
    };
    let value = yaml_to_json(&doc)?;
    if !value.is_object() {
        return Err("expected a mapping of train settings".into());
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn yaml_to_json(y: &yaml_rust2::Yaml) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    use yaml_rust2::Yaml;
    Ok(match y {
        Yaml::Real(s) => {
            let f: f64 = s.parse().map_err(|_| format!("not a number: {s}"))?;
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .ok_or_else(|| format!("not a finite number: {s}"))?
        }
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_to_json).collect::<Result<_, _>>()?),
        Yaml::Hash(h) => {
            let mut map = serde_json::Map::new();
            for (k, v) in h {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    other => return Err(format!("unsupported key {other:?}")),
                };
                map.insert(key, yaml_to_json(v)?);
            }
            Value::Object(map)
        }
        Yaml::Null => Value::Null,
        Yaml::Alias(_) | Yaml::BadValue => return Err("unsupported YAML value".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_a_budget() {
        let cfg = TrainConfig::default();
        let problems = cfg.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, vec!["max_steps"]);
    }

    #[test]
    fn parses_a_train_file() {
        let cfg = parse_train_yaml(
            "data: out\nmodel: {n_layer: 2, n_head: 2, n_embd: 32, seq_len: 16}\n\
             optimizer: {lr: 3.0e-4, betas: [0.9, 0.99]}\nmax_tokens: 10000\nbatch_size: 4\n",
        )
        .unwrap();
        assert_eq!(cfg.model.n_layer, 2);
        assert_eq!(cfg.optimizer.betas, [0.9, 0.99]);
        assert_eq!(cfg.optimizer.lr, 3e-4);
        assert_eq!(cfg.total_steps(), 157); // ceil(10000 / (4 * 16))
        assert!(cfg.check().is_empty());
    }

    #[test]
    fn reports_unknown_keys_and_bad_shapes() {
        let err = parse_train_yaml("data: x\nmax_step: 3\n").unwrap_err();
        assert!(err.contains("max_step"), "{err}");
        let mut cfg = TrainConfig {
            max_steps: Some(1),
            ..Default::default()
        };
        cfg.model.n_embd = 130;
        let text = cfg.problems_text("train.").unwrap();
        assert!(
            text.contains("train.model.n_head: n_embd (130) must be a multiple of n_head (4)"),
            "{text}"
        );
    }

    #[test]
    fn resolves_paths() {
        let cfg = TrainConfig {
            data: Some(TrainData::Dir("d".into())),
            ..Default::default()
        };
        let p = TrainPaths::resolve(&cfg, Path::new("/base"), None).unwrap();
        assert_eq!(p.out, Path::new("/base/d/train"));
        assert_eq!(p.tokenizer, Path::new("/base/d/tokenizer.json"));
        let none = TrainConfig::default();
        assert!(TrainPaths::resolve(&none, Path::new("/b"), None).is_err());
        let p = TrainPaths::resolve(&none, Path::new("/b"), Some(Path::new("/o"))).unwrap();
        assert_eq!(p.data, Path::new("/o"));
    }
}
