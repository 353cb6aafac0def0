//! Sampling text from a checkpoint (`corpusforge generate`).

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::checkpoint;
use super::infer::{KvCache, Weights};
use super::model::{Gpt, Objective};
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
    /// Keep the keys and values of past positions (each new token costs one position's work);
    /// off, every token reruns the whole context.
    pub kv_cache: bool,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            prompt: String::new(),
            max_tokens: 100,
            temperature: 0.8,
            top_k: 40,
            seed: 1337,
            kv_cache: true,
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

/// The logits of the next token after a sequence.
type NextLogits<'a> = Box<dyn FnMut(&[u32]) -> Result<Vec<f32>, TrainError> + 'a>;

/// The logits (`ids.len() x vocab`, row-major) the model of the checkpoint at `path` gives
/// `ids`, from the training forward pass (the fused CPU kernels for a decoder).
pub fn checkpoint_logits(path: &Path, ids: &[u32]) -> Result<Vec<f32>, TrainError> {
    let dir = checkpoint::find(path)?;
    let loaded = checkpoint::load(&dir, &Device::Cpu, false)?;
    let model = Gpt::from_tensors(loaded.state.model.clone(), loaded.model, &Device::Cpu)
        .map_err(|e| TrainError::candle(format!("loading {}", dir.display()), e))?;
    model
        .logits(ids, 1, ids.len())
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_dtype(candle_core::DType::F32))
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(|e| TrainError::candle("computing logits", e))
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
    if cfg.objective == Objective::Mlm {
        return Err(TrainError::Config(format!(
            "{}: an MLM checkpoint is an encoder and cannot generate text; use `corpusforge fill-mask`",
            dir.display()
        )));
    }
    let (tok, _) = checkpoint::tokenizer_of(&dir, &loaded.state.tokenizer)?;
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
    let mut next_logits: NextLogits<'_> = if opts.kv_cache {
        let weights = Weights::from_tensors(&cfg, &loaded.model)
            .map_err(|e| TrainError::candle(format!("loading {}", dir.display()), e))?;
        let mut cache = KvCache::new(&cfg);
        let mut fed = 0usize;
        Box::new(move |ids: &[u32]| {
            // Past the context, start again from the newest half of it (amortised linear).
            if ids.len() - fed + cache.len() > cfg.seq_len || fed > ids.len() {
                cache.clear();
                fed = ids
                    .len()
                    .saturating_sub(cfg.seq_len / 2 + 1)
                    .min(ids.len() - 1);
            }
            let hidden = weights
                .forward(&ids[fed..], &mut cache, true)
                .map_err(|e| TrainError::candle("sampling", e))?;
            fed = ids.len();
            let c = cfg.n_embd;
            Ok(weights.logits(&hidden[hidden.len() - c..]))
        })
    } else {
        let model = Gpt::from_tensors(cfg.clone(), loaded.model, &device)
            .map_err(|e| TrainError::candle(format!("loading {}", dir.display()), e))?;
        Box::new(move |ids: &[u32]| {
            let ctx = &ids[ids.len().saturating_sub(cfg.seq_len)..];
            model
                .last_logits(ctx)
                .map_err(|e| TrainError::candle("sampling", e))
        })
    };
    for _ in 0..opts.max_tokens {
        let logits = next_logits(&ids)?;
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
