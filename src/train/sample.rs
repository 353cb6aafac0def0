//! Sampling text from a checkpoint (`corpusforge generate`).

use std::path::{Path, PathBuf};

use candle_core::Device;
use tokenizers::Tokenizer;

use super::checkpoint;
use super::model::Gpt;
use super::rng::Rng;
use super::TrainError;

/// What to generate.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Text the continuation follows (may be empty: then generation starts after an EOS).
    pub prompt: String,
    /// New tokens at most (generation also stops at EOS).
    pub max_tokens: usize,
    /// Softmax temperature; 0 picks the most likely token every time.
    pub temperature: f64,
    /// Sample only among the `top_k` most likely tokens (0 = all).
    pub top_k: usize,
    /// Seed of the sampler.
    pub seed: u64,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            prompt: String::new(),
            max_tokens: 100,
            temperature: 0.8,
            top_k: 40,
            seed: 1337,
        }
    }
}

/// A generated text.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The prompt followed by the decoded continuation.
    pub text: String,
    /// The continuation alone.
    pub continuation: String,
    /// The continuation's token ids.
    pub tokens: Vec<u32>,
    /// The checkpoint used.
    pub checkpoint: PathBuf,
}

/// The tokenizer of a checkpoint: its own copy, else the file the run recorded.
fn tokenizer_for(dir: &Path, recorded: &Path) -> Result<(Tokenizer, PathBuf), TrainError> {
    for p in [dir.join("tokenizer.json"), recorded.to_path_buf()] {
        if p.is_file() {
            let t = Tokenizer::from_file(&p).map_err(|e| TrainError::Tokenizer {
                path: p.clone(),
                message: e.to_string(),
            })?;
            return Ok((t, p));
        }
    }
    Err(TrainError::Tokenizer {
        path: recorded.to_path_buf(),
        message: "tokenizer not found".into(),
    })
}

/// Picks a token from `logits` with temperature and top-k.
pub fn pick(logits: &[f32], temperature: f64, top_k: usize, rng: &mut Rng) -> u32 {
    let argmax = || {
        let mut best = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = i;
            }
        }
        best as u32
    };
    if temperature <= 0.0 || top_k == 1 {
        return argmax();
    }
    let mut idx: Vec<usize> = (0..logits.len()).collect();
    if top_k > 0 && top_k < logits.len() {
        idx.select_nth_unstable_by(top_k - 1, |&a, &b| logits[b].total_cmp(&logits[a]));
        idx.truncate(top_k);
        idx.sort_unstable();
    }
    let mx = idx
        .iter()
        .map(|&i| logits[i] as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = idx
        .iter()
        .map(|&i| ((logits[i] as f64 - mx) / temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut u = rng.next_f64() * total;
    for (&i, &w) in idx.iter().zip(&weights) {
        if u < w {
            return i as u32;
        }
        u -= w;
    }
    idx.last().map_or_else(argmax, |&i| i as u32)
}

/// Generates a continuation of `opts.prompt` with the model in `checkpoint` (a checkpoint
/// directory or a train output directory, whose newest checkpoint is used).
pub fn generate(checkpoint_path: &Path, opts: &SampleOptions) -> Result<Sample, TrainError> {
    let dir = checkpoint::find(checkpoint_path)?;
    let device = Device::Cpu;
    let loaded = checkpoint::load(&dir, &device, false)?;
    let cfg = loaded.state.model.clone();
    let model = Gpt::from_tensors(cfg.clone(), loaded.model, &device)
        .map_err(|e| TrainError::candle(format!("loading {}", dir.display()), e))?;
    let (tok, _) = tokenizer_for(&dir, &loaded.state.tokenizer)?;
    let mut ids: Vec<u32> = if opts.prompt.is_empty() {
        Vec::new()
    } else {
        tok.encode(opts.prompt.as_str(), false)
            .map_err(|e| TrainError::Tokenizer {
                path: dir.join("tokenizer.json"),
                message: e.to_string(),
            })?
            .get_ids()
            .to_vec()
    };
    if ids.is_empty() {
        ids.push(loaded.state.eos_id.unwrap_or(0));
    }
    let start = ids.len();
    let mut rng = Rng::new(opts.seed);
    for _ in 0..opts.max_tokens {
        let ctx = &ids[ids.len().saturating_sub(cfg.seq_len)..];
        let logits = model
            .last_logits(ctx)
            .map_err(|e| TrainError::candle("sampling", e))?;
        let next = pick(&logits, opts.temperature, opts.top_k, &mut rng);
        if Some(next) == loaded.state.eos_id {
            break;
        }
        ids.push(next);
    }
    let tokens = ids[start..].to_vec();
    let continuation = tok
        .decode(&tokens, true)
        .map_err(|e| TrainError::Tokenizer {
            path: dir.join("tokenizer.json"),
            message: e.to_string(),
        })?;
    Ok(Sample {
        text: format!("{}{}", opts.prompt, continuation),
        continuation,
        tokens,
        checkpoint: dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_and_top_k() {
        let logits = [0.1f32, 3.0, 2.9, -1.0];
        let mut rng = Rng::new(1);
        assert_eq!(pick(&logits, 0.0, 0, &mut rng), 1);
        for _ in 0..50 {
            let t = pick(&logits, 1.0, 2, &mut rng);
            assert!(t == 1 || t == 2);
        }
    }
}
