//! Deterministic SGD training with a class-stratified holdout.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::error::ClassifierError;
use super::features::{self, FeatureConfig, Scratch, DEFAULT_BUCKETS, DEFAULT_MAX_WORDS};
use super::metrics::{classify, roc_auc, Metrics};
use super::model::{average_rows, dot, sigmoid, Labels, Model, ModelConfig};
use super::rng::SplitMix64;

/// Training settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// Embedding width.
    pub dim: u32,
    /// Number of hash buckets.
    pub buckets: u32,
    /// Passes over the training split.
    pub epochs: u32,
    /// Initial learning rate; it decays linearly to 0 over all epochs.
    pub lr: f32,
    /// Seed for the holdout split, initial weights and example order.
    pub seed: u64,
    /// Fraction of each class set aside for evaluation, in `[0, 1)`.
    pub holdout_fraction: f64,
    /// Character n-gram orders `[min, max]` for every word, or `None`.
    pub char_ngrams: Option<[u8; 2]>,
    /// Only the first this many words of a document are used.
    pub max_words: u32,
    /// Worker threads for extraction and evaluation; 0 uses the current rayon pool.
    pub threads: usize,
    /// Class names stored with the model.
    pub labels: Option<Labels>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            dim: 16,
            buckets: DEFAULT_BUCKETS,
            epochs: 5,
            lr: 0.1,
            seed: 0,
            holdout_fraction: 0.1,
            char_ngrams: None,
            max_words: DEFAULT_MAX_WORDS,
            threads: 0,
            labels: None,
        }
    }
}

impl TrainConfig {
    /// The model shape these settings produce.
    pub fn model_config(&self) -> ModelConfig {
        ModelConfig::new(self.dim, self.buckets, self.char_ngrams, self.max_words)
    }

    /// Checks the values, describing the first problem found.
    pub fn validate(&self) -> Result<(), ClassifierError> {
        let bad = |m: String| Err(ClassifierError::InvalidConfig(m));
        self.model_config()
            .validate()
            .map_err(ClassifierError::InvalidConfig)?;
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr must be positive and finite, not {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.holdout_fraction) {
            return bad(format!(
                "holdout_fraction must be in [0, 1), not {}",
                self.holdout_fraction
            ));
        }
        Ok(())
    }
}

/// Trains a classifier on positive and negative documents; the result (weights and
/// metrics) depends only on the documents, `cfg` and its seed, not on thread count.
pub fn train<P, N>(
    pos: &[P],
    neg: &[N],
    cfg: &TrainConfig,
) -> Result<(Model, Metrics), ClassifierError>
where
    P: AsRef<str> + Sync,
    N: AsRef<str> + Sync,
{
    cfg.validate()?;
    // The split always keeps one training document per non-empty class.
    if pos.is_empty() {
        return Err(ClassifierError::EmptyClass { class: "positive" });
    }
    if neg.is_empty() {
        return Err(ClassifierError::EmptyClass { class: "negative" });
    }
    if cfg.threads == 0 {
        return Ok(train_in_pool(pos, neg, cfg));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cfg.threads)
        .build()
        .map_err(|e| {
            ClassifierError::InvalidConfig(format!("cannot start {} threads: {e}", cfg.threads))
        })?;
    Ok(pool.install(|| train_in_pool(pos, neg, cfg)))
}

fn extract_all<S: AsRef<str> + Sync>(docs: &[S], fc: &FeatureConfig) -> Vec<Vec<u32>> {
    docs.par_iter()
        .map_init(Scratch::default, |scratch, d| {
            let mut out = Vec::new();
            features::extract_into(d.as_ref(), fc, scratch, &mut out);
            out
        })
        .collect()
}

/// Indices of `n` documents of one class, split into (train, holdout).
fn split(n: usize, class: u64, cfg: &TrainConfig) -> (Vec<usize>, Vec<usize>) {
    let mut keyed: Vec<(u64, usize)> = (0..n)
        .map(|i| {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&class.to_le_bytes());
            key[8..].copy_from_slice(&(i as u64).to_le_bytes());
            (xxh3_64_with_seed(&key, cfg.seed), i)
        })
        .collect();
    keyed.sort_unstable();
    let mut k = (cfg.holdout_fraction * n as f64).round() as usize;
    // Keep at least one training document, and hold out at least one when asked to.
    if cfg.holdout_fraction > 0.0 && n >= 2 {
        k = k.max(1);
    }
    k = k.min(n.saturating_sub(1));
    let mut holdout: Vec<usize> = keyed[..k].iter().map(|&(_, i)| i).collect();
    let mut train: Vec<usize> = keyed[k..].iter().map(|&(_, i)| i).collect();
    holdout.sort_unstable();
    train.sort_unstable();
    (train, holdout)
}

fn train_in_pool<P, N>(pos: &[P], neg: &[N], cfg: &TrainConfig) -> (Model, Metrics)
where
    P: AsRef<str> + Sync,
    N: AsRef<str> + Sync,
{
    let mc = cfg.model_config();
    let pos_feats = extract_all(pos, &mc.features);
    let neg_feats = extract_all(neg, &mc.features);
    let (pos_train, pos_hold) = split(pos.len(), 1, cfg);
    let (neg_train, neg_hold) = split(neg.len(), 0, cfg);

    let mut examples: Vec<(&[u32], bool)> = Vec::with_capacity(pos_train.len() + neg_train.len());
    examples.extend(pos_train.iter().map(|&i| (pos_feats[i].as_slice(), true)));
    examples.extend(neg_train.iter().map(|&i| (neg_feats[i].as_slice(), false)));
    let n_train = examples.len() as f64;
    // Each class carries half the total loss, however unbalanced the counts.
    let weight = |count: usize| {
        if count == 0 {
            0.0
        } else {
            n_train / (2.0 * count as f64)
        }
    };
    let (wp, wn) = (weight(pos_train.len()), weight(neg_train.len()));

    let mut model = init_model(mc, cfg.seed, cfg.labels.clone());
    sgd(&mut model, &examples, [wn as f32, wp as f32], cfg);

    let holdout: Vec<(&[u32], bool)> = pos_hold
        .iter()
        .map(|&i| (pos_feats[i].as_slice(), true))
        .chain(neg_hold.iter().map(|&i| (neg_feats[i].as_slice(), false)))
        .collect();
    let scores: Vec<f32> = holdout
        .par_iter()
        .map(|(f, _)| model.score_features(f))
        .collect();
    let labels: Vec<bool> = holdout.iter().map(|&(_, y)| y).collect();
    let threshold = 0.5;
    let c = classify(&scores, &labels, threshold);
    let metrics = Metrics {
        train_docs: examples.len() as u64,
        holdout_docs: holdout.len() as u64,
        positives: pos_hold.len() as u64,
        negatives: neg_hold.len() as u64,
        train_positives: pos_train.len() as u64,
        train_negatives: neg_train.len() as u64,
        positive_weight: wp,
        negative_weight: wn,
        threshold,
        accuracy: c.accuracy,
        precision: c.precision,
        recall: c.recall,
        f1: c.f1,
        auc: roc_auc(&scores, &labels),
    }
    .rounded();
    model.metrics = Some(metrics.clone());
    (model, metrics)
}

fn init_model(config: ModelConfig, seed: u64, labels: Option<Labels>) -> Model {
    let dim = config.dim as usize;
    let len = config.input_len().expect("validated");
    // fastText's initialisation: uniform in [-1/dim, 1/dim], output layer zero.
    let mut rng = SplitMix64::new(seed ^ 0x5EED_F00D_E3BE_DD17);
    let scale = 1.0 / dim as f32;
    let input = (0..len)
        .map(|_| (rng.next_f32() * 2.0 - 1.0) * scale)
        .collect();
    Model {
        config,
        input,
        output: vec![0.0; dim],
        bias: 0.0,
        metrics: None,
        labels,
    }
}

/// Sequential SGD on logistic loss; `weights[label as usize]` scales each example.
fn sgd(model: &mut Model, examples: &[(&[u32], bool)], weights: [f32; 2], cfg: &TrainConfig) {
    let dim = model.config.dim as usize;
    let tokens: u64 = examples.iter().map(|(f, _)| f.len() as u64).sum();
    let total = (tokens * cfg.epochs as u64).max(1) as f64;
    let mut processed = 0u64;
    let mut order: Vec<u32> = (0..examples.len() as u32).collect();
    let mut rng = SplitMix64::new(cfg.seed ^ 0x0DDE_C0DE_5A17_F00D);
    let mut hidden = vec![0.0f32; dim];
    let mut grad = vec![0.0f32; dim];
    let Model {
        input,
        output,
        bias,
        ..
    } = model;
    for _ in 0..cfg.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let (feats, label) = examples[i as usize];
            if feats.is_empty() {
                continue;
            }
            // Linear decay by tokens seen, as in fastText.
            let lr = (cfg.lr as f64 * (1.0 - processed as f64 / total)).max(0.0) as f32;
            processed += feats.len() as u64;

            average_rows(input, dim, feats, &mut hidden);
            let p = sigmoid(dot(output, &hidden) + *bias);
            let g = lr * weights[label as usize] * (label as u8 as f32 - p);
            let inv = 1.0 / feats.len() as f32;
            for ((gr, o), h) in grad.iter_mut().zip(output.iter_mut()).zip(&hidden) {
                *gr = g * *o * inv;
                *o += g * h;
            }
            *bias += g;
            for &f in feats {
                let row = &mut input[f as usize * dim..][..dim];
                for (r, gr) in row.iter_mut().zip(&grad) {
                    *r += gr;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(seed: u64, n: usize, vocab: &[&str]) -> Vec<String> {
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|_| {
                let len = 5 + rng.below(20) as usize;
                (0..len)
                    .map(|_| vocab[rng.below(vocab.len() as u64) as usize])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    const GOOD: &[&str] = &[
        "the", "river", "quietly", "flows", "through", "ancient", "valleys", "and", "poets",
        "write", "about", "its", "beauty", "history", "science", "explains",
    ];
    const BAD: &[&str] = &[
        "click",
        "here",
        "buy",
        "now",
        "cheap",
        "deals",
        "login",
        "subscribe",
        "cookie",
        "banner",
        "menu",
        "share",
        "div",
        "span",
        "href",
        "nav",
    ];

    fn small_cfg() -> TrainConfig {
        TrainConfig {
            dim: 8,
            buckets: 1 << 12,
            // Tiny data sets need more passes and a larger step than real corpora.
            epochs: 20,
            lr: 0.5,
            seed: 42,
            holdout_fraction: 0.2,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn learns_separable_task() {
        let pos = toy(1, 300, GOOD);
        let neg = toy(2, 100, BAD);
        let (model, m) = train(&pos, &neg, &small_cfg()).unwrap();
        assert_eq!(m.accuracy, 1.0, "{m:?}");
        assert_eq!(m.auc, Some(1.0));
        assert_eq!((m.positives, m.negatives), (60, 20));
        assert_eq!((m.train_positives, m.train_negatives), (240, 80));
        assert_eq!(m.train_docs + m.holdout_docs, 400);
        // Each class carries half the loss: 240 * wp == 80 * wn == 160.
        assert!((m.positive_weight * 240.0 - 160.0).abs() < 1e-6);
        assert!((m.negative_weight * 80.0 - 160.0).abs() < 1e-6);
        assert!(model.score("the river flows through ancient valleys") > 0.9);
        assert!(model.score("click here buy now cheap deals") < 0.1);
        assert_eq!(model.metrics(), Some(&m));
    }

    #[test]
    fn deterministic_across_thread_counts() {
        let pos = toy(3, 200, GOOD);
        let neg = toy(4, 200, BAD);
        let one = TrainConfig {
            threads: 1,
            ..small_cfg()
        };
        let two = TrainConfig {
            threads: 2,
            ..small_cfg()
        };
        let (a, ma) = train(&pos, &neg, &one).unwrap();
        let (b, mb) = train(&pos, &neg, &two).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let (c, _) = pool.install(|| train(&pos, &neg, &small_cfg())).unwrap();
        assert_eq!(ma, mb);
        assert_eq!(a, b);
        assert_eq!(a, c);
        let other_seed = TrainConfig {
            seed: 43,
            ..small_cfg()
        };
        assert_ne!(train(&pos, &neg, &other_seed).unwrap().0, a);
    }

    #[test]
    fn split_is_stratified_and_stable() {
        let cfg = small_cfg();
        let (t, h) = split(100, 1, &cfg);
        assert_eq!((t.len(), h.len()), (80, 20));
        assert_eq!(split(100, 1, &cfg), (t.clone(), h.clone()));
        let mut all: Vec<usize> = t.iter().chain(&h).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        assert_eq!(split(1, 1, &cfg).1.len(), 0);
        assert_eq!(split(2, 1, &cfg).1.len(), 1);
        let none = TrainConfig {
            holdout_fraction: 0.0,
            ..cfg
        };
        assert_eq!(split(10, 1, &none).1.len(), 0);
    }

    #[test]
    fn rejects_bad_input() {
        let docs = ["a b c"];
        let empty: [&str; 0] = [];
        assert!(matches!(
            train(&empty, &docs, &small_cfg()),
            Err(ClassifierError::EmptyClass { class: "positive" })
        ));
        assert!(matches!(
            train(&docs, &empty, &small_cfg()),
            Err(ClassifierError::EmptyClass { class: "negative" })
        ));
        let bad = TrainConfig {
            dim: 0,
            ..small_cfg()
        };
        assert!(matches!(
            train(&docs, &docs, &bad),
            Err(ClassifierError::InvalidConfig(_))
        ));
        let bad = TrainConfig {
            holdout_fraction: 1.0,
            ..small_cfg()
        };
        assert!(matches!(
            train(&docs, &docs, &bad),
            Err(ClassifierError::InvalidConfig(_))
        ));
    }

    #[test]
    fn cjk_documents_train() {
        let pos = ["中华人民共和国成立于一九四九年"; 10];
        let neg = ["インストールガイドドキュメンテーション"; 10];
        let (model, m) = train(&pos, &neg, &small_cfg()).unwrap();
        assert_eq!(m.accuracy, 1.0);
        assert!(model.score(pos[0]) > 0.5);
    }
}
