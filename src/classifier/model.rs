//! The fastText-style model and scoring.

use std::cell::RefCell;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::features::{self, FeatureConfig, Scratch};
use super::metrics::Metrics;

/// Shape of a model: embedding width and the features it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Embedding (hidden) width, at least 1.
    pub dim: u32,
    /// Feature extraction settings; `buckets` is the embedding table's row count.
    pub features: FeatureConfig,
}

impl ModelConfig {
    /// The shape of `dim`-wide embeddings over these features.
    pub fn new(dim: u32, buckets: u32, char_ngrams: Option<[u8; 2]>, max_words: u32) -> Self {
        ModelConfig {
            dim,
            features: FeatureConfig {
                buckets,
                char_ngrams,
                max_words,
            },
        }
    }

    /// Checks the values, describing the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        if self.dim == 0 {
            return Err("dim must be at least 1".into());
        }
        self.features.validate()?;
        if self.input_len().is_none() {
            return Err("buckets * dim overflows".into());
        }
        Ok(())
    }

    /// Length of the embedding table, `buckets * dim`, if it fits in memory indices.
    pub(super) fn input_len(&self) -> Option<usize> {
        (self.features.buckets as usize).checked_mul(self.dim as usize)
    }

    /// Number of f32 parameters: embeddings, output weights and the bias.
    pub fn n_params(&self) -> Option<u64> {
        (self.features.buckets as u64)
            .checked_mul(self.dim as u64)?
            .checked_add(self.dim as u64 + 1)
    }
}

/// Names of the two classes, for people reading the model file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels {
    /// What a high score means, e.g. "wikipedia-like".
    pub positive: String,
    /// What a low score means, e.g. "random web".
    pub negative: String,
}

/// A trained classifier; scoring takes `&self` and is safe from many threads at once.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub(super) config: ModelConfig,
    /// Row-major `buckets x dim` embedding table.
    pub(super) input: Vec<f32>,
    /// Output weights, `dim` long.
    pub(super) output: Vec<f32>,
    pub(super) bias: f32,
    pub(super) metrics: Option<Metrics>,
    pub(super) labels: Option<Labels>,
}

#[derive(Default)]
struct ScoreBuffers {
    scratch: Scratch,
    feats: Vec<u32>,
    hidden: Vec<f32>,
}

thread_local! {
    static BUFFERS: RefCell<ScoreBuffers> = RefCell::new(ScoreBuffers::default());
}

impl Model {
    /// The model's shape and feature settings.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Holdout metrics from training, if known.
    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// Class names, if set.
    pub fn labels(&self) -> Option<&Labels> {
        self.labels.as_ref()
    }

    /// Sets or clears the class names stored with the model.
    pub fn set_labels(&mut self, labels: Option<Labels>) {
        self.labels = labels;
    }

    /// Number of f32 parameters.
    pub fn n_params(&self) -> u64 {
        (self.input.len() + self.output.len() + 1) as u64
    }

    /// The feature buckets this model reads from `text`.
    pub fn features(&self, text: &str) -> Vec<u32> {
        features::extract(text, &self.config.features)
    }

    /// Probability in `[0, 1]` that `text` belongs to the positive class.
    pub fn score(&self, text: &str) -> f32 {
        BUFFERS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut b) => self.score_with(text, &mut b),
            // Only reachable if scoring re-enters itself on this thread.
            Err(_) => self.score_with(text, &mut ScoreBuffers::default()),
        })
    }

    /// Scores of `texts`, computed in parallel, in input order.
    pub fn score_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Vec<f32> {
        texts.par_iter().map(|t| self.score(t.as_ref())).collect()
    }

    /// Probability of the positive class for already extracted features.
    pub fn score_features(&self, feats: &[u32]) -> f32 {
        let dim = self.config.dim as usize;
        BUFFERS.with(|cell| match cell.try_borrow_mut() {
            Ok(mut b) => {
                b.hidden.resize(dim, 0.0);
                sigmoid(self.logit(feats, &mut b.hidden))
            }
            Err(_) => sigmoid(self.logit(feats, &mut vec![0.0; dim])),
        })
    }

    fn score_with(&self, text: &str, b: &mut ScoreBuffers) -> f32 {
        features::extract_into(text, &self.config.features, &mut b.scratch, &mut b.feats);
        b.hidden.resize(self.config.dim as usize, 0.0);
        sigmoid(self.logit(&b.feats, &mut b.hidden))
    }

    /// The logit for `feats`, leaving the averaged embedding in `hidden`.
    pub(super) fn logit(&self, feats: &[u32], hidden: &mut [f32]) -> f32 {
        average_rows(&self.input, self.config.dim as usize, feats, hidden);
        dot(&self.output, hidden) + self.bias
    }
}

/// Writes the mean of the embedding rows `feats` into `hidden` (zeros when empty).
#[inline]
pub(super) fn average_rows(input: &[f32], dim: usize, feats: &[u32], hidden: &mut [f32]) {
    hidden.fill(0.0);
    for &f in feats {
        let row = &input[f as usize * dim..][..dim];
        for (h, r) in hidden.iter_mut().zip(row) {
            *h += r;
        }
    }
    if !feats.is_empty() {
        let inv = 1.0 / feats.len() as f32;
        for h in hidden.iter_mut() {
            *h *= inv;
        }
    }
}

#[inline]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[inline]
pub(super) fn sigmoid(z: f32) -> f32 {
    // exp overflows to inf for very negative z, which still gives exactly 0.
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Model {
        let config = ModelConfig {
            dim: 2,
            features: FeatureConfig {
                buckets: 8,
                ..FeatureConfig::default()
            },
        };
        Model {
            config,
            input: (0..16).map(|i| i as f32 * 10.0 - 80.0).collect(),
            output: vec![1.0, -1.0],
            bias: 0.25,
            metrics: None,
            labels: None,
        }
    }

    #[test]
    fn scores_are_probabilities() {
        let m = tiny();
        for t in ["", "a", "hello world", "中文", &"spam ".repeat(10_000)] {
            let s = m.score(t);
            assert!((0.0..=1.0).contains(&s), "{t:?} -> {s}");
        }
        assert_eq!(m.score(""), sigmoid(0.25));
        assert_eq!(sigmoid(1e6), 1.0);
        assert_eq!(sigmoid(-1e6), 0.0);
    }

    #[test]
    fn batch_matches_single() {
        let m = tiny();
        let texts = ["one", "two words", "", "three more words"];
        let batch = m.score_batch(&texts);
        let single: Vec<f32> = texts.iter().map(|t| m.score(t)).collect();
        assert_eq!(batch, single);
        assert_eq!(m.score_features(&m.features("two words")), single[1]);
    }

    #[test]
    fn averaging() {
        let mut h = [0.0; 2];
        average_rows(&[1.0, 2.0, 3.0, 6.0], 2, &[0, 1], &mut h);
        assert_eq!(h, [2.0, 4.0]);
        average_rows(&[1.0, 2.0], 2, &[], &mut h);
        assert_eq!(h, [0.0, 0.0]);
    }
}
