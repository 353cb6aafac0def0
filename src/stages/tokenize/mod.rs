//! `tokenize`: from kept documents to token shards a trainer reads directly.
//!
//! The stage needs to see the data before it can apply (a BPE is trained on the documents the
//! run keeps), so it is not a streaming stage but a phase after the stream: it keeps its place
//! in `stages:` (last), and the orchestrator ([`crate::pipeline`]) runs it once the kept
//! documents are written. The runner counts the documents that reach it like for any stage (it
//! drops none). [`run`]:
//!
//! 1. reads the kept documents back from the `documents/` shards of this run, in order, one
//!    record batch at a time ([`docs`]);
//! 2. gets the tokenizer ([`tokenizer`]): loads `tokenizer: {path}`, or trains a byte-level
//!    BPE on the documents (or on `max_docs` of them, spread evenly) fed as an iterator, and
//!    writes it to `OUT/tokenizer.json`;
//! 3. encodes the documents in parallel batches on the run's rayon pool, puts `bos` before and
//!    `eos` after each, assigns each document to `train` or `val` by a seeded hash of its id,
//!    and writes `OUT/tokens/{train,val}/part-NNNNN.parquet` ([`shards`]) in document order;
//! 4. returns the token shards, the per-split counts (the stage's counters in `stats.json`),
//!    and a [`TokenSummary`] for the manifest.
//!
//! The bytes written depend on the documents and the config only, never on thread count or
//! batch size. A document whose text contains the eos string literally gets the eos id there
//! too when the tokenizer has eos as an added token (as Python `tokenizers` does; trained
//! tokenizers do), or its plain-text pieces otherwise; `docs_with_eos_in_text` counts them.

pub mod config;
pub mod docs;
pub mod encoder;
pub mod fast;
pub mod shards;
pub mod tokenizer;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

pub use config::{TokenizeConfig, TokenizerSource, TrainSpec};
use docs::Doc;
pub use docs::DocSource;
use encoder::Encoded;
use shards::{TokenShardOptions, TokenShardWriter, TOKENS_DIR};

use crate::config::{Pipeline, StageSpec};
use crate::io::writer::{hash_file, ShardFile};

/// The two splits, in the order they are listed.
pub const SPLITS: [&str; 2] = ["train", "val"];

/// Errors of the tokenize pass; each names the file or the token concerned.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A parquet file could not be read or written.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The tokenizer file could not be loaded.
    #[error("{path}: cannot load the tokenizer: {message}")]
    Load {
        /// The tokenizer file.
        path: PathBuf,
        /// The library's message.
        message: String,
    },
    /// Training failed.
    #[error("training the BPE tokenizer: {0}")]
    Train(String),
    /// The eos or bos token is not in the vocabulary.
    #[error(
        "{tokenizer}: the {role} token {token:?} is not in the vocabulary ({vocab} tokens); \
         set `{role}:` in the tokenize stage to a token it has{hint}"
    )]
    MissingToken {
        /// `eos` or `bos`.
        role: &'static str,
        /// The configured token.
        token: String,
        /// The tokenizer (file, or `trained`).
        tokenizer: String,
        /// Vocabulary size.
        vocab: usize,
        /// Its special tokens, as a hint.
        hint: String,
    },
    /// A document could not be encoded.
    #[error("encoding document {doc_id:?}: {message}")]
    Encode {
        /// The document id.
        doc_id: String,
        /// The library's message.
        message: String,
    },
    /// The configuration cannot be run this way.
    #[error("tokenize: {0}")]
    Unsupported(String),
    /// The counts do not add up: a bug, reported loudly.
    #[error("tokenize accounting check failed: {0}")]
    Accounting(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TokenizeError + '_ {
    move |source| TokenizeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A special token and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecialToken {
    /// The token string.
    pub token: String,
    /// Its id.
    pub id: u32,
}

/// What one split holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSummary {
    /// Documents.
    pub docs: u64,
    /// Tokens, bos and eos included.
    pub tokens: u64,
    /// Text bytes of the documents.
    pub bytes: u64,
    /// Shards written.
    pub shards: u64,
}

/// How the tokenizer was trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Documents fed to the trainer.
    pub docs: u64,
    /// Wall time of training (reading the documents included).
    pub seconds: f64,
}

/// Encoding speed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodeSummary {
    /// The encoder: `fast` (the byte-level BPE encoder) or `tokenizers` (the library).
    #[serde(default)]
    pub encoder: String,
    /// The encoder in words, with the reason when the library is used.
    #[serde(default)]
    pub encoder_detail: String,
    /// Threads used.
    pub threads: usize,
    /// Wall time spent encoding (reading and writing excluded).
    pub seconds: f64,
    /// Tokens per second of encoding.
    pub tokens_per_second: f64,
    /// Text megabytes (10^6 bytes) per second of encoding.
    pub mb_per_second: f64,
}

/// The tokenize section of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSummary {
    /// Index of the tokenize stage in `stages:`.
    pub stage_index: usize,
    /// The tokenizer used, relative to the output directory (`tokenizer.json`).
    pub tokenizer: String,
    /// xxh3-64 of that file, 16 hex digits.
    pub tokenizer_xxh3: String,
    /// `trained`, or the tokenizer file that was loaded (as resolved).
    pub source: String,
    /// xxh3-64 of the loaded file (absent when trained).
    pub source_xxh3: Option<String>,
    /// Vocabulary size, added tokens included.
    pub vocab_size: u64,
    /// The largest token id of the vocabulary.
    pub max_token_id: u32,
    /// The token appended to every document.
    pub eos: SpecialToken,
    /// The token prepended to every document, if any.
    pub bos: Option<SpecialToken>,
    /// Fraction of documents sent to `val`.
    pub val_fraction: f64,
    /// Seed of the split hash (`run.seed`).
    pub split_seed: u64,
    /// Per split (`train`, `val`): documents, tokens, bytes, shards.
    pub splits: BTreeMap<String, SplitSummary>,
    /// Present when the tokenizer was trained by this run.
    pub training: Option<TrainingSummary>,
    /// Encoding speed.
    pub encode: EncodeSummary,
}

/// The split of a document: `val` when a uniform draw from its id (xxh3-64 seeded with
/// `seed`) falls below `val_fraction`. It depends on the id alone, so adding or removing
/// other documents never moves a document to the other split.
pub fn split_of(doc_id: &str, seed: u64, val_fraction: f64) -> &'static str {
    let h = xxhash_rust::xxh3::xxh3_64_with_seed(doc_id.as_bytes(), seed);
    let u = (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    if u < val_fraction {
        "val"
    } else {
        "train"
    }
}

/// The token shard writers of both splits and what went into each.
struct SplitSink {
    writers: Vec<TokenShardWriter>,
    per_split: Vec<SplitSummary>,
    eos_in_text: u64,
    /// Time spent writing.
    seconds: f64,
    seed: u64,
    val_fraction: f64,
    eos: String,
}

impl SplitSink {
    /// Writes a batch of documents, `encoded` holding their ids in order, each to its split.
    fn write(&mut self, batch: &[Doc], encoded: &[Encoded]) -> Result<(), TokenizeError> {
        let t0 = Instant::now();
        let runs = encoded.iter().flat_map(|e| {
            let starts = std::iter::once(0).chain(e.ends.iter().copied());
            starts.zip(&e.ends).map(|(a, &b)| &e.ids[a..b])
        });
        for (d, t) in batch.iter().zip(runs) {
            let s = usize::from(split_of(&d.id, self.seed, self.val_fraction) == "val");
            self.writers[s].push(&d.id, t)?;
            let sum = &mut self.per_split[s];
            sum.docs += 1;
            sum.tokens += t.len() as u64;
            sum.bytes += d.text.len() as u64;
            self.eos_in_text += u64::from(d.text.contains(self.eos.as_str()));
        }
        self.seconds += t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// Closes every shard; returns the files, and counts each split's shards.
    fn finish(&mut self) -> Result<Vec<ShardFile>, TokenizeError> {
        let t0 = Instant::now();
        let mut files = Vec::new();
        for (w, sum) in std::mem::take(&mut self.writers)
            .into_iter()
            .zip(self.per_split.iter_mut())
        {
            let written = w.finish()?;
            sum.shards = written.len() as u64;
            files.extend(written);
        }
        self.seconds += t0.elapsed().as_secs_f64();
        Ok(files)
    }
}

/// Whether document `i` of `n` is in an even sample of `m` (exactly `min(m, n)` are).
fn in_sample(i: u64, n: u64, m: u64) -> bool {
    if m >= n {
        return true;
    }
    let (i, n, m) = (i as u128, n as u128, m as u128);
    (i + 1) * m / n > i * m / n
}

/// The tokenize stage of `pipeline`, if any, with its index.
pub fn find(pipeline: &Pipeline) -> Option<(usize, &TokenizeConfig)> {
    pipeline
        .stages
        .iter()
        .enumerate()
        .find_map(|(i, s)| match s {
            StageSpec::Tokenize(c) => Some((i, c)),
            _ => None,
        })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TokenizeError> {
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    crate::storage::commit(&tmp, path).map_err(io_err(path))
}

/// Removes the token outputs (`tokens/`, and `tokenizer.json` when `tokenizer` is set) that an
/// earlier run into `out` left behind.
pub fn clear_outputs(out: &Path, tokenizer: bool) -> Result<(), TokenizeError> {
    let dir = out.join(TOKENS_DIR);
    if crate::storage::exists(&dir) {
        crate::storage::remove_dir_all(&dir).map_err(io_err(&dir))?;
    }
    let t = out.join("tokenizer.json");
    if tokenizer && crate::storage::exists(&t) {
        crate::storage::remove_file(&t).map_err(io_err(&t))?;
    }
    Ok(())
}

fn special(
    tok: &Tokenizer,
    role: &'static str,
    token: &str,
    tokenizer: &str,
) -> Result<SpecialToken, TokenizeError> {
    match tok.token_to_id(token) {
        Some(id) => Ok(SpecialToken {
            token: token.to_string(),
            id,
        }),
        None => {
            let specials = tokenizer::special_tokens(tok, 8);
            let hint = if specials.is_empty() {
                String::new()
            } else {
                format!(" (its special tokens: {})", specials.join(", "))
            };
            Err(TokenizeError::MissingToken {
                role,
                token: token.to_string(),
                tokenizer: tokenizer.to_string(),
                vocab: tok.get_vocab_size(true),
                hint,
            })
        }
    }
}

/// What the tokenize phase is given.
pub struct TokenizeJob<'a> {
    /// The pipeline (its tokenize stage, output and run settings).
    pub pipeline: &'a Pipeline,
    /// The directory relative paths of the pipeline are resolved against.
    pub base_dir: &'a Path,
    /// The output directory.
    pub out: &'a Path,
    /// The worker pool.
    pub pool: &'a rayon::ThreadPool,
    /// The kept documents, in the run's order.
    pub docs: DocSource,
    /// How many documents reached the tokenize stage (its `kept` count in the run's stats):
    /// every one of them must come out tokenized.
    pub expected_docs: u64,
}

/// What the tokenize phase wrote.
#[derive(Debug, Clone)]
pub struct Tokenized {
    /// The manifest section.
    pub summary: TokenSummary,
    /// The token shards written.
    pub files: Vec<ShardFile>,
    /// The stage's counters for `stats.json` (`docs_train`, `tokens_val`, ...).
    pub counters: BTreeMap<String, u64>,
    /// Wall time of the phase.
    pub seconds: f64,
}

/// Runs the tokenize stage of `job.pipeline` over its kept documents (see the module docs);
/// `None` when the pipeline has no tokenize stage.
pub fn run(job: TokenizeJob<'_>) -> Result<Option<Tokenized>, TokenizeError> {
    let TokenizeJob {
        pipeline,
        base_dir,
        out,
        pool,
        docs,
        expected_docs,
    } = job;
    let Some((index, cfg)) = find(pipeline) else {
        return Ok(None);
    };
    let prefix = "part";
    let started = Instant::now();
    clear_outputs(out, false)?;
    let n_docs = expected_docs;
    let seed = pipeline.run.seed;

    // 1. The tokenizer.
    let (tok, json, source, source_xxh3, training) =
        match (&cfg.tokenizer.path, &cfg.tokenizer.train) {
            (Some(p), _) => {
                let path = if Path::new(p).is_absolute() {
                    PathBuf::from(p)
                } else {
                    base_dir.join(p)
                };
                let tok = tokenizer::load(&path).map_err(|message| TokenizeError::Load {
                    path: path.clone(),
                    message,
                })?;
                let (_, h) = hash_file(&path).map_err(|e| TokenizeError::Load {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                let json = tokenizer::to_json(&tok).map_err(|message| TokenizeError::Load {
                    path: path.clone(),
                    message,
                })?;
                (tok, json, path.display().to_string(), Some(h), None)
            }
            (None, Some(spec)) => {
                let t0 = Instant::now();
                let mut specials = spec.all_special_tokens(&cfg.eos, cfg.bos.as_deref());
                // A tokenizer trained for a masked-LM run gets the tokens the objective and
                // the exported encoder need.
                let mlm = pipeline
                    .train
                    .as_ref()
                    .is_some_and(|t| t.objective == crate::train::Objective::Mlm);
                if mlm {
                    for t in [crate::train::mlm::MASK_TOKEN, crate::train::mlm::PAD_TOKEN] {
                        if !specials.iter().any(|s| s == t) {
                            specials.push(t.to_string());
                        }
                    }
                }
                let m = spec.max_docs.unwrap_or(u64::MAX);
                let failure: Arc<Mutex<Option<TokenizeError>>> = Arc::default();
                let sink = failure.clone();
                let texts = docs
                    .open()
                    .enumerate()
                    .filter(move |(i, _)| in_sample(*i as u64, n_docs, m))
                    .map_while(move |(_, d)| match d {
                        Ok(d) => Some(d.text),
                        Err(e) => {
                            if let Ok(mut slot) = sink.lock() {
                                slot.get_or_insert(e);
                            }
                            None
                        }
                    });
                let trained = pool.install(|| tokenizer::train_bpe(spec, &specials, texts));
                if let Some(e) = failure.lock().ok().and_then(|mut s| s.take()) {
                    return Err(e);
                }
                let (tok, json) = trained.map_err(TokenizeError::Train)?;
                let training = TrainingSummary {
                    docs: m.min(n_docs),
                    seconds: t0.elapsed().as_secs_f64(),
                };
                tracing::info!(
                    vocab = tok.get_vocab_size(true),
                    docs = training.docs,
                    "trained a byte-level BPE in {:.1}s",
                    training.seconds
                );
                (tok, json, "trained".to_string(), None, Some(training))
            }
            (None, None) => {
                return Err(TokenizeError::Unsupported(
                    "the tokenizer needs `path` or `train`".into(),
                ))
            }
        };
    let tok_path = out.join("tokenizer.json");
    fs::create_dir_all(out).map_err(io_err(out))?;
    write_atomic(&tok_path, json.as_bytes())?;
    let (_, tokenizer_xxh3) = hash_file(&tok_path).map_err(|e| TokenizeError::Load {
        path: tok_path.clone(),
        message: e.to_string(),
    })?;
    let eos = special(&tok, "eos", &cfg.eos, &source)?;
    // So that `transformers`' AutoTokenizer opens OUT/ with its special tokens named.
    crate::train::export::write_tokenizer_config(&tok_path, Some(eos.id), None).map_err(|e| {
        TokenizeError::Load {
            path: tok_path.clone(),
            message: e.to_string(),
        }
    })?;
    let bos = cfg
        .bos
        .as_deref()
        .map(|b| special(&tok, "bos", b, &source))
        .transpose()?;
    let max_token_id = tok.get_vocab(true).into_values().max().unwrap_or(0);
    let encoder = encoder::Encoder::new(&tok, &json);
    tracing::info!("encoder: {}", encoder.describe());

    // 2. Encode, split, write.
    let opts = TokenShardOptions::new(
        &pipeline.output,
        cfg.shard_max_tokens,
        cfg.row_group_tokens,
        prefix,
    );
    let mut sink = SplitSink {
        writers: SPLITS
            .iter()
            .map(|s| TokenShardWriter::new(out, &format!("{TOKENS_DIR}/{s}"), opts.clone()))
            .collect(),
        per_split: vec![SplitSummary::default(); SPLITS.len()],
        eos_in_text: 0,
        seconds: 0.0,
        seed,
        val_fraction: cfg.val_fraction,
        eos: cfg.eos.clone(),
    };
    let mut encode_seconds = 0.0f64;
    let mut read_seconds = 0.0f64;
    let chunk = pipeline.run.batch_size.max(1);
    let setup_seconds = started.elapsed().as_secs_f64();
    // Writing runs behind encoding on a thread of its own: batch N is written while batch N+1
    // is encoded. Rows go out in document order either way.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<Doc>, Vec<Encoded>)>(1);
    let mut sink = std::thread::scope(|scope| -> Result<SplitSink, TokenizeError> {
        let writer = scope.spawn(move || -> Result<SplitSink, TokenizeError> {
            for (batch, encoded) in rx {
                sink.write(&batch, &encoded)?;
            }
            Ok(sink)
        });
        let mut reader = docs.open();
        let fed = (|| -> Result<(), TokenizeError> {
            loop {
                let t_read = Instant::now();
                let mut batch: Vec<Doc> = Vec::with_capacity(chunk);
                for d in reader.by_ref().take(chunk) {
                    batch.push(d?);
                }
                read_seconds += t_read.elapsed().as_secs_f64();
                if batch.is_empty() {
                    return Ok(());
                }
                let t0 = Instant::now();
                let encoded = pool
                    .install(|| encoder.encode_docs(&batch, bos.as_ref().map(|b| b.id), eos.id))
                    .map_err(|(doc_id, message)| TokenizeError::Encode { doc_id, message })?;
                encode_seconds += t0.elapsed().as_secs_f64();
                if tx.send((batch, encoded)).is_err() {
                    // The writer stopped; its error is reported below.
                    return Ok(());
                }
            }
        })();
        drop(tx);
        let sink = writer
            .join()
            .map_err(|_| TokenizeError::Unsupported("the token writer thread panicked".into()))?;
        fed?;
        sink
    })?;
    let files = sink.finish()?;
    let SplitSink {
        per_split,
        eos_in_text,
        seconds: write_seconds,
        ..
    } = sink;
    tracing::debug!(
        "tokenize phase: {setup_seconds:.2}s getting the tokenizer, {read_seconds:.2}s reading \
         documents, {encode_seconds:.2}s encoding, {write_seconds:.2}s writing token shards \
         (beside the encoding)"
    );

    // 3. Accounting, counters, summary.
    let done: u64 = per_split.iter().map(|s| s.docs).sum();
    if done != n_docs {
        return Err(TokenizeError::Accounting(format!(
            "{done} documents tokenized, {n_docs} kept by the stage"
        )));
    }
    let mut counters = BTreeMap::new();
    for (name, sum) in SPLITS.iter().zip(&per_split) {
        counters.insert(format!("docs_{name}"), sum.docs);
        counters.insert(format!("tokens_{name}"), sum.tokens);
    }
    counters.insert("docs_with_eos_in_text".into(), eos_in_text);
    let seconds = started.elapsed().as_secs_f64();
    let tokens: u64 = per_split.iter().map(|s| s.tokens).sum();
    let bytes: u64 = per_split.iter().map(|s| s.bytes).sum();
    let rate = |x: f64| {
        if encode_seconds > 0.0 {
            x / encode_seconds
        } else {
            0.0
        }
    };
    let encode = EncodeSummary {
        encoder: encoder.name().to_string(),
        encoder_detail: encoder.describe(),
        threads: pool.current_num_threads(),
        seconds: encode_seconds,
        tokens_per_second: rate(tokens as f64),
        mb_per_second: rate(bytes as f64 / 1e6),
    };
    tracing::info!(
        "tokenized {done} documents into {tokens} tokens (train {}, val {}) in {seconds:.1}s; \
         encoding with the {} encoder: {:.0} tokens/s, {:.2} MB/s on {} threads",
        per_split[0].tokens,
        per_split[1].tokens,
        encoder.name(),
        encode.tokens_per_second,
        encode.mb_per_second,
        encode.threads
    );
    let summary = TokenSummary {
        stage_index: index,
        tokenizer: "tokenizer.json".into(),
        tokenizer_xxh3,
        source,
        source_xxh3,
        vocab_size: tok.get_vocab_size(true) as u64,
        max_token_id,
        eos,
        bos,
        val_fraction: cfg.val_fraction,
        split_seed: seed,
        splits: SPLITS
            .iter()
            .map(|s| s.to_string())
            .zip(per_split)
            .collect(),
        training,
        encode,
    };
    Ok(Some(Tokenized {
        summary,
        files,
        counters,
        seconds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_sample_takes_exactly_m_spread_out() {
        let picked: Vec<u64> = (0..10).filter(|&i| in_sample(i, 10, 3)).collect();
        assert_eq!(picked, vec![3, 6, 9]);
        assert_eq!((0..1000).filter(|&i| in_sample(i, 1000, 7)).count(), 7);
        assert_eq!((0..5).filter(|&i| in_sample(i, 5, 9)).count(), 5);
    }

    #[test]
    fn split_depends_on_the_id_and_seed_only() {
        let n = 20_000;
        let val = (0..n)
            .filter(|i| split_of(&format!("doc-{i}"), 42, 0.1) == "val")
            .count();
        assert!((1800..2200).contains(&val), "{val}");
        assert_eq!(split_of("a", 1, 0.0), "train");
        assert_eq!(split_of("a", 1, 1.0), "val");
        let same = (0..1000).all(|i| {
            let id = format!("doc-{i}");
            split_of(&id, 7, 0.3) == split_of(&id, 7, 0.3)
        });
        assert!(same);
    }
}
