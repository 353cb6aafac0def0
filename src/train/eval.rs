//! `corpusforge eval`: how well a checkpoint predicts any documents.
//!
//! Each document is tokenized with the checkpoint's tokenizer and scored on its own: the
//! first token is predicted after the end-of-sequence token (as a document follows the
//! previous one in training), every later token after as much of the document before it as the
//! context holds (rolling windows that predict disjoint spans, as lm-evaluation-harness's
//! `loglikelihood_rolling`). The results are the mean loss per token, its perplexity and
//! **bits per byte**, `sum(-log2 p) / UTF-8 bytes`, which does not depend on the tokenizer, so
//! models with different vocabularies compare. An MLM checkpoint is scored on masked tokens
//! instead (seeded masks; loss, perplexity and accuracy of the masked positions).
//!
//! Documents run in parallel, each on one thread, and the sums are taken in document order,
//! so the figures are the same at any thread count.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use rayon::prelude::*;
use serde::Serialize;
use tokenizers::Tokenizer;

use super::checkpoint;
use super::infer::{nll_and_top, Weights};
use super::mlm::{score_masked, Masker};
use super::model::{GptConfig, Objective};
use super::rng::hash2;
use super::TrainError;
use crate::config::InputSpec;
use crate::io::input;

/// What to evaluate on.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Document files, directories or globs (jsonl, parquet, txt, as pipeline inputs).
    pub data: Vec<String>,
    /// The JSON field or parquet column holding the text.
    pub text_field: String,
    /// Score only the first this many documents.
    pub max_docs: Option<usize>,
    /// Threads (0 = one per core).
    pub threads: usize,
    /// Seed of the masks (MLM checkpoints).
    pub seed: u64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            data: Vec::new(),
            text_field: "text".into(),
            max_docs: None,
            threads: 0,
            seed: 1337,
        }
    }
}

/// The scores of one checkpoint on one set of documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// The checkpoint directory.
    pub checkpoint: PathBuf,
    /// Its training step.
    pub step: u64,
    /// `clm` or `mlm`.
    pub objective: String,
    /// Documents scored (those with at least one token).
    pub documents: u64,
    /// Records that could not be read as documents (file, line and reason in the log).
    pub rejected: u64,
    /// UTF-8 bytes of the scored documents.
    pub bytes: u64,
    /// Tokens predicted (clm: every token; mlm: the masked ones).
    pub tokens: u64,
    /// Mean cross-entropy per predicted token, in nats.
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Bits per UTF-8 byte (clm).
    pub bits_per_byte: Option<f64>,
    /// Share of predicted tokens that were the most likely token.
    pub accuracy: f64,
    /// Seconds spent.
    pub seconds: f64,
    /// Scored tokens per second.
    pub tokens_per_s: f64,
}

/// One document's sums: (summed nats, predicted tokens, correct top-1).
pub type DocScore = (f64, u64, u64);

/// The windows that predict `seq[from..]` with a model of context `l`: (inputs start, inputs
/// end, first target, end of targets). Inputs `seq[s..e]` predict `seq[s + 1..e + 1]`; every
/// target is predicted once, after as much of the sequence before it as the context holds.
pub(crate) fn windows(n: usize, from: usize, l: usize) -> Vec<(usize, usize, usize, usize)> {
    let mut out = Vec::new();
    let mut k0 = from.max(1);
    while k0 < n {
        let k1 = (k0 + l).min(n);
        let e = k1 - 1;
        let s = e.saturating_sub(l);
        out.push((s, e, k0, k1));
        k0 = k1;
    }
    out
}

/// Scores one document's token ids with a causal model: the first after `eos`, the rest in
/// rolling windows of the context length.
pub fn score_tokens(weights: &Weights, eos: u32, ids: &[u32]) -> Result<DocScore, TrainError> {
    let cfg = &weights.cfg;
    let l = cfg.seq_len;
    let (v, c) = (cfg.vocab_size, cfg.n_embd);
    let mut seq = Vec::with_capacity(ids.len() + 1);
    seq.push(eos);
    seq.extend_from_slice(ids);
    // Every window is `min(l, ids.len())` long (only the first can be shorter than `l`, when
    // the whole document is), so they run as one batch (in groups).
    let windows = windows(seq.len(), 1, l);
    let t = l.min(ids.len());
    let mut out = (0.0, 0, 0);
    const GROUP: usize = 16;
    for group in windows.chunks(GROUP) {
        let batch: Vec<u32> = group
            .iter()
            .flat_map(|&(s, e, _, _)| seq[s..e].iter().copied())
            .collect();
        let hidden = weights
            .forward_batch(&batch, group.len())
            .map_err(|e| TrainError::candle("scoring", e))?;
        let mut rows = Vec::with_capacity(group.len() * t * c);
        let mut targets = Vec::new();
        for (w, &(s, _, k0, k1)) in group.iter().enumerate() {
            // Input position `k - 1 - s` predicts sequence index `k`.
            rows.extend_from_slice(&hidden[(w * t + k0 - 1 - s) * c..(w * t + k1 - 1 - s) * c]);
            targets.extend_from_slice(&seq[k0..k1]);
        }
        // The logits at most 512 rows at a time: a whole group's would be up to 16 x context
        // rows of vocabulary-wide floats per thread (412 MB at a context of 128 with GPT-2's
        // 50,257 tokens).
        const ROWS: usize = 512;
        for (hidden_rows, row_targets) in rows.chunks(ROWS * c).zip(targets.chunks(ROWS)) {
            let logits = weights.logits(hidden_rows);
            for (row, &target) in logits.chunks_exact(v).zip(row_targets) {
                let (loss, top) = nll_and_top(row, target);
                out.0 += loss;
                out.1 += 1;
                out.2 += u64::from(top);
            }
        }
    }
    Ok(out)
}

/// The texts of `opts.data`, in input order, and the number of rejected records.
fn read_texts(opts: &EvalOptions) -> Result<(Vec<String>, u64), TrainError> {
    let spec = InputSpec::documents(opts.data.clone(), &opts.text_field, None);
    let files = input::resolve_inputs(&spec, Path::new("."))
        .map_err(|e| TrainError::Config(format!("eval data: {e}")))?;
    let (mut texts, mut rejected) = (Vec::new(), 0);
    'files: for f in &files {
        let records =
            input::open(f, &spec).map_err(|e| TrainError::Config(format!("eval data: {e}")))?;
        for r in records {
            if opts.max_docs.is_some_and(|m| texts.len() >= m) {
                break 'files;
            }
            match r {
                Ok(doc) => texts.push(doc.text),
                Err(j) => {
                    rejected += 1;
                    tracing::warn!(
                        "eval: {}, {}: rejected: {} ({})",
                        j.source,
                        j.location,
                        j.reason,
                        j.detail
                    );
                }
            }
        }
    }
    Ok((texts, rejected))
}

/// Scores `texts` with a loaded model: per-document sums in document order, and the bytes of
/// the documents that had tokens.
pub fn score_texts(
    weights: &Weights,
    tok: &Tokenizer,
    tok_path: &Path,
    eos: u32,
    texts: &[String],
    masker: Option<(&Masker, u64)>,
) -> Result<Vec<(DocScore, u64)>, TrainError> {
    texts
        .par_iter()
        .enumerate()
        .map(|(i, text)| {
            let enc = tok
                .encode(text.as_str(), false)
                .map_err(|e| TrainError::Tokenizer {
                    path: tok_path.to_path_buf(),
                    message: e.to_string(),
                })?;
            let ids = enc.get_ids();
            if ids.is_empty() {
                return Ok(((0.0, 0, 0), 0));
            }
            let score = match masker {
                None => score_tokens(weights, eos, ids)?,
                Some((m, seed)) => {
                    let windows: Vec<Vec<u32>> = ids
                        .chunks(weights.cfg.seq_len)
                        .map(<[u32]>::to_vec)
                        .collect();
                    let t = weights.cfg.seq_len;
                    let mut total = (0.0, 0, 0);
                    for (w, window) in windows.iter().enumerate() {
                        let batch = m.batch(
                            std::slice::from_ref(window),
                            t.min(window.len()),
                            hash2(hash2(seed, i as u64), w as u64),
                        );
                        let (l, n, c) = score_masked(weights, &batch)?;
                        total.0 += l;
                        total.1 += n;
                        total.2 += c;
                    }
                    total
                }
            };
            Ok((score, text.len() as u64))
        })
        .collect()
}

/// Evaluates the checkpoint at `path` (a checkpoint or train output directory) on
/// `opts.data`.
pub fn evaluate(path: &Path, opts: &EvalOptions) -> Result<EvalReport, TrainError> {
    if opts.threads > 0 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(opts.threads)
            .build()
            .map_err(|e| TrainError::Config(format!("threads: {e}")))?;
        return pool.install(|| evaluate_in_pool(path, opts));
    }
    evaluate_in_pool(path, opts)
}

fn evaluate_in_pool(path: &Path, opts: &EvalOptions) -> Result<EvalReport, TrainError> {
    let t0 = Instant::now();
    let dir = checkpoint::find(path)?;
    let loaded = checkpoint::load(&dir, &Device::Cpu, false)?;
    let cfg: GptConfig = loaded.state.model.clone();
    let (tok, tok_path) = checkpoint::tokenizer_of(&dir, &loaded.state.tokenizer)?;
    let weights = Weights::from_tensors(&cfg, &loaded.model)
        .map_err(|e| TrainError::candle(format!("loading {}", dir.display()), e))?;
    let (texts, rejected) = read_texts(opts)?;
    let masker = match cfg.objective {
        Objective::Mlm => Some(Masker::for_tokenizer(&tok, &tok_path)?),
        Objective::Clm => None,
    };
    let eos = loaded.state.eos_id.unwrap_or(0);
    let scores = score_texts(
        &weights,
        &tok,
        &tok_path,
        eos,
        &texts,
        masker.as_ref().map(|m| (m, opts.seed)),
    )?;
    let (mut nats, mut tokens, mut correct, mut bytes, mut documents) = (0.0, 0, 0, 0, 0);
    for ((l, n, c), b) in scores {
        if n == 0 {
            continue;
        }
        nats += l;
        tokens += n;
        correct += c;
        bytes += b;
        documents += 1;
    }
    if tokens == 0 {
        return Err(TrainError::Config(format!(
            "eval: no tokens to score in {} ({} documents read)",
            opts.data.join(", "),
            texts.len()
        )));
    }
    let loss = nats / tokens as f64;
    let seconds = t0.elapsed().as_secs_f64();
    Ok(EvalReport {
        checkpoint: dir,
        step: loaded.state.step,
        objective: format!("{:?}", cfg.objective).to_lowercase(),
        documents,
        rejected,
        bytes,
        tokens,
        loss,
        perplexity: loss.exp(),
        bits_per_byte: (masker.is_none() && bytes > 0)
            .then(|| nats / std::f64::consts::LN_2 / bytes as f64),
        accuracy: correct as f64 / tokens as f64,
        seconds,
        tokens_per_s: tokens as f64 / seconds.max(1e-9),
    })
}
