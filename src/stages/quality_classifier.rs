//! `quality_classifier`: scores every document with a trained quality classifier
//! ([`crate::classifier`], `corpusforge classifier train`) and keeps the ones that score high.
//!
//! Every document gets the signal `quality_score`, the probability of the positive class. With
//! `min_score` a document below it is dropped (`quality_classifier:low_score`). With
//! `keep_fraction` the threshold is the corpus quantile, the DCLM way: before the stream, a
//! seeded sample of the input (the `sample_docs` documents with the smallest hash of their id)
//! goes through the map and filter stages before this one and is scored; the threshold is the
//! score that keeps `keep_fraction` of it. The sample and the threshold do not depend on the
//! thread count or the order of the files, and are recorded in the manifest
//! (`calibrations`).

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::classifier::Model;
use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};

fn default_sample_docs() -> usize {
    2000
}

/// Config of the `quality_classifier` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QualityClassifierConfig {
    /// The classifier file (`corpusforge classifier train --out MODEL`), relative to the
    /// pipeline file.
    pub model: String,
    /// Drop documents scoring below this probability.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: Option<f64>,
    /// Keep only this share of the corpus, the best-scoring (threshold from a sample).
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub keep_fraction: Option<f64>,
    /// Documents in the calibration sample of `keep_fraction`.
    #[serde(default = "default_sample_docs")]
    #[schemars(range(min = 1))]
    pub sample_docs: usize,
}

impl Check for QualityClassifierConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.min_score.is_some() && self.keep_fraction.is_some() {
            p.push(Problem::at(
                "keep_fraction",
                "give min_score or keep_fraction, not both",
            ));
        }
        if let Some(f) = self.keep_fraction {
            if !(f > 0.0 && f <= 1.0) {
                p.push(Problem::at(
                    "keep_fraction",
                    "keep_fraction must be in (0, 1]",
                ));
            }
        }
        if let Some(s) = self.min_score {
            if !(0.0..=1.0).contains(&s) {
                p.push(Problem::at("min_score", "min_score must be in [0, 1]"));
            }
        }
        if self.sample_docs == 0 {
            p.push(Problem::at("sample_docs", "sample_docs must be at least 1"));
        }
        p
    }
}

/// The `quality_classifier` stage.
pub struct QualityClassifier {
    model: Model,
    threshold: Option<f64>,
}

impl QualityClassifier {
    /// Loads the model of `cfg` (relative to `base_dir`); a missing, truncated or foreign file
    /// is refused with the reason. The threshold is `min_score` until [`Self::set_threshold`].
    pub fn new(cfg: &QualityClassifierConfig, base_dir: &Path) -> Result<Self, String> {
        let path = crate::io::input::clean(&base_dir.join(&cfg.model));
        let model = Model::load(&path).map_err(|e| format!("model: {e}"))?;
        Ok(QualityClassifier {
            model,
            threshold: cfg.min_score,
        })
    }

    /// The probability of the positive class for `text`.
    pub fn score(&self, text: &str) -> f64 {
        self.model.score(text) as f64
    }

    /// Sets the score below which documents are dropped.
    pub fn set_threshold(&mut self, t: f64) {
        self.threshold = Some(t);
    }
}

impl Filter for QualityClassifier {
    fn check(&self, doc: &mut Document, _counters: &mut Counters) -> Verdict {
        let s = self.score(&doc.text);
        doc.signals.insert("quality_score".into(), s);
        match self.threshold {
            Some(t) if s < t => Verdict::Drop("low_score"),
            _ => Verdict::Keep,
        }
    }
}

/// The value below which `1 - keep` of `scores` lie (the threshold that keeps `keep` of them;
/// ties at the threshold are kept).
pub fn keep_threshold(scores: &mut [f64], keep: f64) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    scores.sort_by(|a, b| a.total_cmp(b));
    let n = scores.len();
    let kept = ((n as f64 * keep).round() as usize).clamp(1, n);
    scores[n - kept]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_keeps_the_asked_share() {
        let mut s: Vec<f64> = (0..100).map(|i| i as f64 / 100.0).collect();
        assert_eq!(keep_threshold(&mut s, 0.5), 0.5);
        assert_eq!(keep_threshold(&mut s, 1.0), 0.0);
        assert_eq!(keep_threshold(&mut s, 0.01), 0.99);
        let mut one = vec![0.3];
        assert_eq!(keep_threshold(&mut one, 0.5), 0.3);
    }
}
