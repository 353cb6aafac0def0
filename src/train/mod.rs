//! The trainer: a small GPT pretrained with candle straight from the token shards.
//!
//! One run goes: [`config`] (the `train:` section) -> [`loader`] (shuffled `seq_len + 1`
//! windows from `DATA/tokens/train/*.parquet`) -> [`model`] (the GPT; on the CPU its layers are
//! the fused candle custom ops of [`ops`] over the kernels of [`kernels`], and the training
//! step's forward and backward run as one hand-written pass, [`fused`]) -> backward ->
//! [`optim`] (AdamW, global-norm clipping, gradient accumulation) at the rate of [`schedule`]
//! -> [`metrics`] (`metrics.jsonl`, MFU) and [`checkpoint`]s every so often; [`sample`]
//! generates text from a checkpoint with a key/value cache ([`infer`], the graph-free forward
//! pass); [`eval`] scores any documents in loss, perplexity and bits per byte; [`mlm`] is the
//! masked-LM objective (`objective: mlm`, an encoder) and `fill-mask`; [`export`] writes a
//! checkpoint as a Hugging Face `transformers` model. [`trainer`] holds the loop, which can
//! start from another run's checkpoint (`init_from`).
//!
//! Output layout (`OUT` = the train section's `out:`, by default `DATA/train`):
//!
//! ```text
//! OUT/run.json                      model shape, parameter count, FLOPs per token, measured
//!                                   peak FLOP/s, threads, device, the train config
//! OUT/metrics.jsonl                 one record per step and per evaluation (see metrics)
//! OUT/checkpoints/step-NNNNNN/      the newest `keep_checkpoints` (see checkpoint)
//! ```
//!
//! Reproducibility: initialisation, data order and dropout masks derive from `seed` and the
//! step, the kernels are deterministic for a given thread count, and a checkpoint holds the
//! weights, the optimizer moments and the loader position; so a run stopped and resumed
//! (`--resume`) logs the same losses, step for step, as one that never stopped.

pub mod checkpoint;
pub mod config;
pub mod eval;
pub mod export;
pub mod fused;
pub mod infer;
pub mod kernels;
pub mod loader;
pub mod metrics;
pub mod mixture;
pub mod mlm;
pub mod model;
pub mod ops;
pub mod optim;
pub mod rng;
pub mod sample;
pub mod schedule;
pub mod tasks;
pub mod trainer;

use std::path::PathBuf;

pub use config::{
    load_train_file, MixSource, Mixture, ModelConfig, Objective, OptimizerConfig, SourcePaths,
    TrainConfig, TrainData, TrainDevice, TrainPaths,
};
pub use eval::{evaluate, EvalOptions, EvalReport};
pub use mlm::{fill_mask, MaskFill};
pub use sample::{checkpoint_logits, generate, Sample, SampleOptions};
pub use trainer::{data_identity, optimizer_step, train, StepStats, TrainOptions, TrainSummary};

/// A training failure, naming the file or the step.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The train section is invalid.
    #[error("invalid train config:\n{0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The tokenizer could not be loaded or used.
    #[error("{path}: tokenizer: {message}")]
    Tokenizer {
        /// The tokenizer file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Reading the token shards failed.
    #[error(transparent)]
    Loader(#[from] loader::LoaderError),
    /// Reading or writing a checkpoint failed.
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// A tensor operation failed.
    #[error("{context}: {source}")]
    Candle {
        /// What was being done.
        context: String,
        /// The cause.
        source: candle_core::Error,
    },
    /// A task file or task evaluation could not be used (the message names the file and line).
    #[error("{0}")]
    Tasks(String),
    /// The output directory holds an unfinished or different run and `--resume` was not
    /// given.
    #[error(
        "{0}: holds checkpoints of an earlier run (unfinished, or with other settings); pass --resume to \
         continue it, or remove the directory"
    )]
    Exists(PathBuf),
    /// The output directory holds a run on other token data.
    #[error(
        "{0}: holds checkpoints of a run on other token data (the shards changed since); remove the \
         directory to train on the new data"
    )]
    OtherData(PathBuf),
}

impl TrainError {
    /// A candle error with what was being done.
    pub fn candle(context: impl Into<String>, source: candle_core::Error) -> Self {
        TrainError::Candle {
            context: context.into(),
            source,
        }
    }

    fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.into(),
            source,
        }
    }
}
