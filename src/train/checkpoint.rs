//! Checkpoints: everything a resumed run needs to continue exactly, and `generate` needs to
//! sample.
//!
//! ```text
//! OUT/train/checkpoints/step-000500/
//!   model.safetensors      the parameters (GPT-2 names, f32)
//!   optimizer.safetensors  AdamW moments: m.NAME, v.NAME
//!   state.json             step, tokens, optimizer t, loader position, metrics offset,
//!                          the resolved train config, the model shape, eos id
//!   tokenizer.json         a copy of the run's tokenizer
//! ```
//!
//! A checkpoint is written into `checkpoints/.tmp-step-NNNNNN/` and renamed into place, so a
//! directory named `step-*` is always complete; only the newest `keep` are kept.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::config::TrainConfig;
use super::loader::LoaderState;
use super::model::GptConfig;

/// The JSON part of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Format version of this file.
    pub format: u32,
    /// Optimizer steps done.
    pub step: u64,
    /// Training tokens consumed.
    pub tokens: u64,
    /// AdamW's update count.
    pub adam_t: u64,
    /// Where the training loader stands (a mixture: its first source's loader).
    pub loader: LoaderState,
    /// Where a mixture's loaders stand, and the windows drawn from each source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mixture: Option<super::mixture::MixState>,
    /// Length of `metrics.jsonl` when this checkpoint was taken (a resumed run truncates the
    /// file here, so its records continue without duplicates).
    pub metrics_bytes: u64,
    /// The model's shape.
    pub model: GptConfig,
    /// The train section as run.
    pub config: TrainConfig,
    /// The tokenizer file the run used (absolute); a copy sits beside this file.
    pub tokenizer: PathBuf,
    /// What identifies the token data trained on (shard names and sizes, and the data runs'
    /// output hashes): a finished run counts as done, and a run resumes, only on the same data.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data: String,
    /// The end-of-sequence token id, if known.
    pub eos_id: Option<u32>,
    /// Seconds of training before this checkpoint.
    pub elapsed_s: f64,
    /// corpusforge version that wrote it.
    pub version: String,
}

/// The current format version.
pub const FORMAT: u32 = 1;

/// A checkpoint failure, naming the path.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct CheckpointError {
    /// The file or directory.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The directory name of the checkpoint at `step`.
pub fn dir_name(step: u64) -> String {
    format!("step-{step:06}")
}

/// The checkpoints under `root` (`OUT/train/checkpoints`), oldest first, as (step, dir).
pub fn list(root: &Path) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
    let names = match crate::storage::read_dir(root) {
        Ok(names) => names,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(err(root, e)),
    };
    let mut out = Vec::new();
    for (name, _) in names {
        if let Some(step) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<u64>().ok())
        {
            let dir = root.join(&name);
            if crate::storage::exists(&dir.join("state.json")) {
                out.push((step, dir));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The newest checkpoint under `root`, if any.
pub fn latest(root: &Path) -> Result<Option<PathBuf>, CheckpointError> {
    Ok(list(root)?.pop().map(|(_, p)| p))
}

/// Finds a checkpoint from what a user passes: a checkpoint directory (holding `state.json`),
/// a `checkpoints/` directory or a train output directory (the newest checkpoint in it).
pub fn find(path: &Path) -> Result<PathBuf, CheckpointError> {
    if crate::storage::exists(&path.join("state.json")) {
        return Ok(path.to_path_buf());
    }
    for root in [
        path.join("checkpoints"),
        path.to_path_buf(),
        path.join("train").join("checkpoints"),
    ] {
        if let Some(p) = latest(&root)? {
            return Ok(p);
        }
    }
    Err(err(
        path,
        "no checkpoint here (expected state.json, or checkpoints/step-*/)",
    ))
}

/// Everything saved in a checkpoint.
pub struct Saved<'a> {
    /// The JSON state.
    pub state: &'a CheckpointState,
    /// Model parameters by name.
    pub model: &'a HashMap<String, Tensor>,
    /// Optimizer moments by name.
    pub optimizer: &'a HashMap<String, Tensor>,
}

/// Writes a checkpoint atomically under `root` and prunes all but the newest `keep`.
pub fn save(root: &Path, saved: &Saved<'_>, keep: usize) -> Result<PathBuf, CheckpointError> {
    std::fs::create_dir_all(root).map_err(|e| err(root, e))?;
    let name = dir_name(saved.state.step);
    let tmp = root.join(format!(".tmp-{name}-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| err(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| err(&tmp, e))?;
    let model = tmp.join("model.safetensors");
    candle_core::safetensors::save(saved.model, &model).map_err(|e| err(&model, e))?;
    let opt = tmp.join("optimizer.safetensors");
    candle_core::safetensors::save(saved.optimizer, &opt).map_err(|e| err(&opt, e))?;
    if saved.state.tokenizer.is_file() {
        let tok = tmp.join("tokenizer.json");
        std::fs::copy(&saved.state.tokenizer, &tok).map_err(|e| err(&tok, e))?;
    }
    let state = tmp.join("state.json");
    let json = serde_json::to_string_pretty(saved.state).map_err(|e| err(&state, e))?;
    std::fs::write(&state, json + "\n").map_err(|e| err(&state, e))?;
    let dest = root.join(&name);
    if crate::storage::exists(&dest) {
        crate::storage::remove_dir_all(&dest).map_err(|e| err(&dest, e))?;
    }
    crate::storage::commit(&tmp, &dest).map_err(|e| err(&dest, e))?;
    let all = list(root)?;
    if all.len() > keep {
        for (_, old) in &all[..all.len() - keep] {
            crate::storage::remove_dir_all(old).map_err(|e| err(old, e))?;
        }
    }
    Ok(dest)
}

/// A loaded checkpoint.
pub struct Loaded {
    /// The JSON state.
    pub state: CheckpointState,
    /// Model parameters by name.
    pub model: HashMap<String, Tensor>,
    /// Optimizer moments (empty when `with_optimizer` was false).
    pub optimizer: HashMap<String, Tensor>,
    /// The checkpoint directory.
    pub dir: PathBuf,
}

/// Reads the checkpoint in `dir`.
pub fn load(dir: &Path, device: &Device, with_optimizer: bool) -> Result<Loaded, CheckpointError> {
    crate::storage::fetch_dir(dir).map_err(|e| err(dir, e))?;
    let state_path = dir.join("state.json");
    let text = crate::storage::read_to_string(&state_path).map_err(|e| err(&state_path, e))?;
    let state: CheckpointState = serde_json::from_str(&text).map_err(|e| err(&state_path, e))?;
    if state.format != FORMAT {
        return Err(err(
            &state_path,
            format!(
                "checkpoint format {} is not supported (expected {FORMAT})",
                state.format
            ),
        ));
    }
    let model_path = dir.join("model.safetensors");
    let model =
        candle_core::safetensors::load(&model_path, device).map_err(|e| err(&model_path, e))?;
    let optimizer = if with_optimizer {
        let p = dir.join("optimizer.safetensors");
        candle_core::safetensors::load(&p, device).map_err(|e| err(&p, e))?
    } else {
        HashMap::new()
    };
    Ok(Loaded {
        state,
        model,
        optimizer,
        dir: dir.to_path_buf(),
    })
}

/// The tokenizer of a checkpoint: its own copy, else the file the run recorded.
pub fn tokenizer_of(
    dir: &Path,
    recorded: &Path,
) -> Result<(tokenizers::Tokenizer, PathBuf), super::TrainError> {
    for p in [dir.join("tokenizer.json"), recorded.to_path_buf()] {
        if p.is_file() {
            let t =
                tokenizers::Tokenizer::from_file(&p).map_err(|e| super::TrainError::Tokenizer {
                    path: p.clone(),
                    message: e.to_string(),
                })?;
            return Ok((t, p));
        }
    }
    Err(super::TrainError::Tokenizer {
        path: recorded.to_path_buf(),
        message: "tokenizer not found".into(),
    })
}
