//! The masked-language-model objective (BERT's recipe): of every window, 15% of the positions
//! that are not special tokens are chosen; a chosen position is replaced by `[MASK]` (80%), by
//! a token drawn uniformly from the vocabulary (10%) or left as it is (10%), and only chosen
//! positions carry a loss (their original token). Every draw derives from a seed and the
//! position, so a batch is the same whatever the thread count or the order of the work.
//! [`fill_mask`] shows what a trained encoder predicts at the `[MASK]`s of a text.

use std::path::Path;
use std::sync::Arc;

use candle_core::Device;
use tokenizers::Tokenizer;

use super::checkpoint;
use super::infer::{KvCache, Weights};
use super::model::{Batch, Objective, IGNORE};
use super::rng::hash2;
use super::TrainError;

/// Share of the (non-special) positions chosen for the loss.
pub const MASK_PROB: f64 = 0.15;
/// Share of the chosen positions replaced by `[MASK]`.
pub const MASK_TOKEN_PROB: f64 = 0.8;
/// Share of the chosen positions replaced by a random token (the rest stay).
pub const RANDOM_TOKEN_PROB: f64 = 0.1;

/// The mask token of an MLM tokenizer.
pub const MASK_TOKEN: &str = "[MASK]";
/// The padding token of an MLM tokenizer (the exported encoder's padding index).
pub const PAD_TOKEN: &str = "[PAD]";

/// Chooses and corrupts positions.
#[derive(Debug, Clone)]
pub struct Masker {
    /// The `[MASK]` token's id.
    pub mask_id: u32,
    /// Vocabulary size (random replacements are drawn below it).
    pub vocab: u32,
    /// Ids never chosen (special tokens), sorted.
    pub special: Vec<u32>,
}

fn unit(seed: u64, i: u64, draw: u64) -> f64 {
    (hash2(hash2(seed, i), draw) >> 11) as f64 / (1u64 << 53) as f64
}

impl Masker {
    /// The masker of `tok`: its `[MASK]` token and its special tokens.
    pub fn for_tokenizer(tok: &Tokenizer, path: &Path) -> Result<Self, TrainError> {
        let mask_id = tok.token_to_id(MASK_TOKEN).ok_or_else(|| TrainError::Tokenizer {
            path: path.to_path_buf(),
            message: format!(
                "objective: mlm needs a {MASK_TOKEN} token; a tokenizer trained by a pipeline whose train \
                 objective is mlm has one"
            ),
        })?;
        let mut special: Vec<u32> = tok
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(&id, _)| id)
            .collect();
        special.push(mask_id);
        special.sort_unstable();
        special.dedup();
        Ok(Masker {
            mask_id,
            vocab: tok.get_vocab_size(true) as u32,
            special,
        })
    }

    /// `window` corrupted with the draws of `seed`: (inputs, targets), targets [`IGNORE`]
    /// where no loss is taken. At least one position is chosen when any is not special.
    pub fn mask(&self, window: &[u32], seed: u64) -> (Vec<u32>, Vec<u32>) {
        let mut ids = window.to_vec();
        let mut targets = vec![IGNORE; window.len()];
        let mut any = false;
        for (i, &tok) in window.iter().enumerate() {
            if self.special.binary_search(&tok).is_ok() {
                continue;
            }
            let i64 = i as u64;
            if unit(seed, i64, 0) >= MASK_PROB {
                continue;
            }
            any = true;
            targets[i] = tok;
            let r = unit(seed, i64, 1);
            if r < MASK_TOKEN_PROB {
                ids[i] = self.mask_id;
            } else if r < MASK_TOKEN_PROB + RANDOM_TOKEN_PROB {
                ids[i] = (hash2(hash2(seed, i64), 2) % self.vocab as u64) as u32;
            }
        }
        if !any {
            if let Some(i) = window
                .iter()
                .position(|t| self.special.binary_search(t).is_err())
            {
                targets[i] = window[i];
                ids[i] = self.mask_id;
            }
        }
        (ids, targets)
    }

    /// A batch of the first `t` tokens of each window, masked with seeds derived from `seed`
    /// and the row.
    pub fn batch(&self, windows: &[Vec<u32>], t: usize, seed: u64) -> Batch {
        let mut ids = Vec::with_capacity(windows.len() * t);
        let mut targets = Vec::with_capacity(windows.len() * t);
        for (row, w) in windows.iter().enumerate() {
            let (i, tg) = self.mask(&w[..t.min(w.len())], hash2(seed, row as u64));
            ids.extend(i);
            targets.extend(tg);
        }
        Batch {
            ids: Arc::new(ids),
            targets: Arc::new(targets),
            b: windows.len(),
            t,
        }
    }
}

/// The masked-token loss and accuracy of `weights` over `batch` rows: (summed loss, masked
/// positions, correct top-1 predictions). Rows run in parallel, sums in row order.
pub fn score_masked(weights: &Weights, batch: &Batch) -> Result<(f64, u64, u64), TrainError> {
    use rayon::prelude::*;
    let t = batch.t;
    let rows: Vec<Result<(f64, u64, u64), TrainError>> = (0..batch.b)
        .into_par_iter()
        .map(|r| {
            let ids = &batch.ids[r * t..(r + 1) * t];
            let targets = &batch.targets[r * t..(r + 1) * t];
            let mut cache = KvCache::new(&weights.cfg);
            let hidden = weights
                .forward(ids, &mut cache, false)
                .map_err(|e| TrainError::candle("evaluating the encoder", e))?;
            let c = weights.cfg.n_embd;
            let mut out = (0.0, 0, 0);
            let picked: Vec<usize> = (0..t).filter(|&i| targets[i] != IGNORE).collect();
            let rows: Vec<f32> = picked
                .iter()
                .flat_map(|&i| hidden[i * c..(i + 1) * c].iter().copied())
                .collect();
            let logits = weights.logits(&rows);
            let v = weights.cfg.vocab_size;
            for (k, &i) in picked.iter().enumerate() {
                let l = &logits[k * v..(k + 1) * v];
                out.0 += super::infer::nll(l, targets[i]);
                out.1 += 1;
                out.2 += u64::from(super::infer::argmax(l) == targets[i]);
            }
            Ok(out)
        })
        .collect();
    let mut total = (0.0, 0, 0);
    for r in rows {
        let (l, n, c) = r?;
        total.0 += l;
        total.1 += n;
        total.2 += c;
    }
    Ok(total)
}

/// One `[MASK]` of a text and what the encoder puts there.
#[derive(Debug, Clone)]
pub struct MaskFill {
    /// Token position of the mask in the encoded text.
    pub position: usize,
    /// The `top_k` candidates: (token, decoded text, probability), most likely first.
    pub candidates: Vec<(u32, String, f64)>,
}

/// The top-`top_k` predictions of the MLM checkpoint at `path` for every `[MASK]` in `text`.
pub fn fill_mask(path: &Path, text: &str, top_k: usize) -> Result<Vec<MaskFill>, TrainError> {
    let dir = checkpoint::find(path)?;
    let loaded = checkpoint::load(&dir, &Device::Cpu, false)?;
    let cfg = loaded.state.model.clone();
    if cfg.objective != Objective::Mlm {
        return Err(TrainError::Config(format!(
            "{}: a causal (clm) checkpoint has no masked-token head; use `corpusforge generate`",
            dir.display()
        )));
    }
    let (tok, tok_path) = checkpoint::tokenizer_of(&dir, &loaded.state.tokenizer)?;
    let enc = tok.encode(text, false).map_err(|e| TrainError::Tokenizer {
        path: tok_path.clone(),
        message: e.to_string(),
    })?;
    let ids = enc.get_ids();
    let mask_id = tok
        .token_to_id(MASK_TOKEN)
        .ok_or_else(|| TrainError::Tokenizer {
            path: tok_path.clone(),
            message: format!("no {MASK_TOKEN} token"),
        })?;
    if !ids.contains(&mask_id) {
        return Err(TrainError::Config(format!(
            "the text holds no {MASK_TOKEN}: write it where a word should be predicted"
        )));
    }
    if ids.len() > cfg.seq_len {
        return Err(TrainError::Config(format!(
            "the text is {} tokens; the model's context is {}",
            ids.len(),
            cfg.seq_len
        )));
    }
    let weights = Weights::from_tensors(&cfg, &loaded.model)
        .map_err(|e| TrainError::candle(format!("loading {}", dir.display()), e))?;
    let mut cache = KvCache::new(&cfg);
    let hidden = weights
        .forward(ids, &mut cache, false)
        .map_err(|e| TrainError::candle("running the encoder", e))?;
    let c = cfg.n_embd;
    let mut out = Vec::new();
    for (pos, _) in ids.iter().enumerate().filter(|(_, &id)| id == mask_id) {
        let logits = weights.logits(&hidden[pos * c..(pos + 1) * c]);
        let mx = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let z: f64 = logits.iter().map(|&l| (l as f64 - mx).exp()).sum();
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
        let candidates = order
            .into_iter()
            .take(top_k.max(1))
            .map(|i| {
                let text = tok.decode(&[i as u32], false).unwrap_or_default();
                (i as u32, text, (logits[i] as f64 - mx).exp() / z)
            })
            .collect();
        out.push(MaskFill {
            position: pos,
            candidates,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_follows_15_80_10_10() {
        let m = Masker {
            mask_id: 3,
            vocab: 1000,
            special: vec![0, 3],
        };
        let window: Vec<u32> = (0..200_000).map(|i| 10 + (i % 900) as u32).collect();
        let (ids, targets) = m.mask(&window, 42);
        let chosen: Vec<usize> = (0..window.len())
            .filter(|&i| targets[i] != IGNORE)
            .collect();
        let n = window.len() as f64;
        let k = chosen.len() as f64;
        // Binomial bounds at 5 standard deviations.
        let sd = (n * MASK_PROB * (1.0 - MASK_PROB)).sqrt();
        assert!((k - n * MASK_PROB).abs() < 5.0 * sd, "chosen {k} of {n}");
        let masked = chosen.iter().filter(|&&i| ids[i] == 3).count() as f64;
        let kept = chosen.iter().filter(|&&i| ids[i] == window[i]).count() as f64;
        let random = k - masked - kept;
        for (got, p) in [(masked, 0.8), (kept, 0.1), (random, 0.1)] {
            let sd = (k * p * (1.0 - p)).sqrt();
            // A random replacement can draw the original token (1 in 1000): within bounds.
            assert!(
                (got - k * p).abs() < 5.0 * sd + k * 0.002,
                "{got} vs {}",
                k * p
            );
        }
        // Unchosen positions are untouched and carry no loss.
        assert!((0..window.len())
            .filter(|&i| targets[i] == IGNORE)
            .all(|i| ids[i] == window[i]));
        for &i in &chosen {
            assert_eq!(targets[i], window[i]);
        }
        // The same seed, the same draws; special tokens never chosen.
        assert_eq!(m.mask(&window, 42), (ids, targets));
        let (_, t) = m.mask(&[0, 0, 3, 0], 1);
        assert!(t.iter().all(|&x| x == IGNORE));
    }

    #[test]
    fn a_short_window_gets_one_masked_position() {
        let m = Masker {
            mask_id: 1,
            vocab: 50,
            special: vec![0, 1],
        };
        for seed in 0..50 {
            let (ids, t) = m.mask(&[0, 7], seed);
            assert_eq!(t, vec![IGNORE, 7], "seed {seed}");
            assert_eq!(ids[0], 0);
        }
    }
}
