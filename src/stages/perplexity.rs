//! `perplexity`: scores every document with a corpusforge language model (a checkpoint of
//! `corpusforge train`, e.g. a small model trained on clean text) and filters by how
//! surprising the text is to it (CCNet, Data-Juicer).
//!
//! A document's first `max_tokens` tokens (its checkpoint's tokenizer) are scored after the
//! end-of-sequence token, in rolling windows of the model's context, forward only; the signals
//! are `bpb` (bits per UTF-8 byte of the scored text) and `ppl` (perplexity per token). Each
//! document runs on one thread (documents in parallel), so a score never depends on the thread
//! count. `max_bpb` drops documents above it (`perplexity:high_bpb`). `buckets: true` writes
//! CCNet's `ppl_bucket` (`head`, `middle`, `tail`: the lowest, middle and highest third by bpb)
//! into the metadata, with the two cut points the corpus quantiles of a seeded sample (as for
//! `quality_classifier`, recorded in the manifest); `keep_buckets` drops the others
//! (`perplexity:bucket_<name>`).

use std::cell::RefCell;
use std::path::Path;

use candle_core::Device;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};
use crate::stages::tokenize::fast::{FastBpe, WordCache};
use crate::train::checkpoint;
use crate::train::eval::score_tokens;
use crate::train::infer::Weights;
use crate::train::model::Objective;

fn default_max_tokens() -> usize {
    1024
}
fn default_sample_docs() -> usize {
    2000
}

thread_local! {
    static CACHE: RefCell<WordCache> = RefCell::new(WordCache::new());
}

/// Config of the `perplexity` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerplexityConfig {
    /// A corpusforge checkpoint (a `step-*` directory or a train output directory), relative
    /// to the pipeline file; a causal (clm) model.
    pub checkpoint: String,
    /// Tokens scored per document, at most (its beginning).
    #[serde(default = "default_max_tokens")]
    #[schemars(range(min = 1))]
    pub max_tokens: usize,
    /// Drop documents above this many bits per byte.
    #[serde(default)]
    pub max_bpb: Option<f64>,
    /// Write `ppl_bucket` (head / middle / tail by corpus terciles of bpb) into the metadata.
    #[serde(default)]
    pub buckets: bool,
    /// With `buckets`: keep only these buckets.
    #[serde(default)]
    pub keep_buckets: Vec<String>,
    /// Documents in the calibration sample of the buckets.
    #[serde(default = "default_sample_docs")]
    #[schemars(range(min = 1))]
    pub sample_docs: usize,
}

impl Check for PerplexityConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.max_tokens == 0 {
            p.push(Problem::at("max_tokens", "max_tokens must be at least 1"));
        }
        if self.max_bpb.is_some_and(|b| b.is_nan() || b <= 0.0) {
            p.push(Problem::at("max_bpb", "max_bpb must be positive"));
        }
        if !self.keep_buckets.is_empty() && !self.buckets {
            p.push(Problem::at(
                "keep_buckets",
                "keep_buckets needs buckets: true",
            ));
        }
        for (i, b) in self.keep_buckets.iter().enumerate() {
            if !BUCKETS.contains(&b.as_str()) {
                p.push(Problem {
                    path: vec!["keep_buckets".into(), i.to_string()],
                    message: format!("unknown bucket {b:?} (head, middle or tail)"),
                });
            }
        }
        if self.sample_docs == 0 {
            p.push(Problem::at("sample_docs", "sample_docs must be at least 1"));
        }
        p
    }
}

/// The bucket names, lowest bpb first.
pub const BUCKETS: [&str; 3] = ["head", "middle", "tail"];

/// The `perplexity` stage.
pub struct Perplexity {
    weights: Weights,
    tokenizer: Tokenizer,
    fast: Option<FastBpe>,
    eos: u32,
    max_tokens: usize,
    max_bpb: Option<f64>,
    buckets: bool,
    keep: Vec<usize>,
    /// The two bpb cut points between the buckets, once calibrated.
    cuts: Option<[f64; 2]>,
}

impl Perplexity {
    /// Loads the checkpoint of `cfg` (relative to `base_dir`) and its tokenizer; refuses a
    /// missing or damaged checkpoint, an MLM encoder, and a tokenizer whose vocabulary is not
    /// the model's.
    pub fn new(cfg: &PerplexityConfig, base_dir: &Path) -> Result<Self, String> {
        let path = crate::io::input::clean(&base_dir.join(&cfg.checkpoint));
        let dir = checkpoint::find(&path).map_err(|e| format!("checkpoint: {e}"))?;
        let loaded =
            checkpoint::load(&dir, &Device::Cpu, false).map_err(|e| format!("checkpoint: {e}"))?;
        let model = &loaded.state.model;
        if model.objective == Objective::Mlm {
            return Err(format!(
                "checkpoint: {} is an MLM encoder; perplexity needs a causal (clm) model",
                dir.display()
            ));
        }
        let (tokenizer, tok_path) = checkpoint::tokenizer_of(&dir, &loaded.state.tokenizer)
            .map_err(|e| format!("checkpoint: {e}"))?;
        let vocab = tokenizer.get_vocab_size(true);
        if vocab != model.vocab_size {
            return Err(format!(
                "checkpoint: its tokenizer {} has {vocab} tokens but the model {}: not the tokenizer it was trained with",
                tok_path.display(),
                model.vocab_size
            ));
        }
        let json = std::fs::read_to_string(&tok_path)
            .map_err(|e| format!("checkpoint: {}: {e}", tok_path.display()))?;
        let weights = Weights::from_tensors(model, &loaded.model)
            .map_err(|e| format!("checkpoint: {}: {e}", dir.display()))?;
        let keep = cfg
            .keep_buckets
            .iter()
            .filter_map(|b| BUCKETS.iter().position(|x| x == b))
            .collect();
        tracing::info!(
            "perplexity: {} ({} parameters, context {}, vocab {})",
            dir.display(),
            weights.cfg.n_params_no_pos(),
            model.seq_len,
            vocab
        );
        Ok(Perplexity {
            weights,
            fast: FastBpe::from_json(&json).ok(),
            tokenizer,
            eos: loaded.state.eos_id.unwrap_or(0),
            max_tokens: cfg.max_tokens,
            max_bpb: cfg.max_bpb,
            buckets: cfg.buckets,
            keep,
            cuts: None,
        })
    }

    /// Whether the buckets need corpus quantiles before the stream.
    pub fn needs_calibration(&self) -> bool {
        self.buckets
    }

    /// Sets the bpb cut points between head/middle and middle/tail.
    pub fn set_cuts(&mut self, cuts: [f64; 2]) {
        self.cuts = Some(cuts);
    }

    /// (bits per byte, perplexity per token, tokens scored) of `text`; `None` when it has no
    /// tokens.
    pub fn score(&self, text: &str) -> Option<(f64, f64, usize)> {
        // Enough text for max_tokens (tokens rarely exceed 8 bytes), cut at a char boundary.
        let mut end = text.len().min(self.max_tokens.saturating_mul(8));
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let head = &text[..end];
        let mut ids = Vec::new();
        match &self.fast {
            Some(f) => CACHE.with(|c| f.encode_into(head, &mut c.borrow_mut(), &mut ids)),
            None => ids.extend_from_slice(self.tokenizer.encode_fast(head, false).ok()?.get_ids()),
        }
        if ids.is_empty() {
            return None;
        }
        let bytes = if ids.len() > self.max_tokens {
            ids.truncate(self.max_tokens);
            self.tokenizer.decode(&ids, false).ok()?.len()
        } else {
            head.len()
        };
        let (nats, n, _) = score_tokens(&self.weights, self.eos, &ids).ok()?;
        let bpb = nats / std::f64::consts::LN_2 / bytes.max(1) as f64;
        Some((bpb, (nats / n as f64).exp(), n as usize))
    }

    fn bucket(&self, bpb: f64) -> Option<usize> {
        let [a, b] = self.cuts?;
        Some(if bpb < a {
            0
        } else if bpb < b {
            1
        } else {
            2
        })
    }
}

impl Filter for Perplexity {
    fn check(&self, doc: &mut Document, counters: &mut Counters) -> Verdict {
        let Some((bpb, ppl, n)) = self.score(&doc.text) else {
            counters.add("no_tokens", 1);
            return Verdict::Keep;
        };
        counters.add("tokens_scored", n as u64);
        doc.signals.insert("bpb".into(), bpb);
        doc.signals.insert("ppl".into(), ppl);
        if self.max_bpb.is_some_and(|m| bpb > m) {
            return Verdict::Drop("high_bpb");
        }
        if let Some(b) = self.bucket(bpb) {
            doc.metadata
                .get_or_insert_with(Default::default)
                .insert("ppl_bucket".into(), BUCKETS[b].into());
            if !self.keep.is_empty() && !self.keep.contains(&b) {
                return Verdict::Drop(["bucket_head", "bucket_middle", "bucket_tail"][b]);
            }
        }
        Verdict::Keep
    }
}
