//! Holdout evaluation.

use serde::{Deserialize, Serialize};

/// Training summary and holdout quality, stored in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Documents used for training.
    pub train_docs: u64,
    /// Documents set aside for evaluation.
    pub holdout_docs: u64,
    /// Positive documents in the holdout.
    pub positives: u64,
    /// Negative documents in the holdout.
    pub negatives: u64,
    /// Positive documents in the training split.
    pub train_positives: u64,
    /// Negative documents in the training split.
    pub train_negatives: u64,
    /// Loss weight of each positive training example (classes contribute equally).
    pub positive_weight: f64,
    /// Loss weight of each negative training example.
    pub negative_weight: f64,
    /// Score at or above which a document counts as positive.
    pub threshold: f64,
    /// Fraction of holdout documents classified correctly (0 for an empty holdout).
    pub accuracy: f64,
    /// True positives over predicted positives (0 when nothing is predicted positive).
    pub precision: f64,
    /// True positives over actual positives (0 when there are none).
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Exact ROC AUC, or `None` when the holdout lacks one of the classes.
    pub auc: Option<f64>,
}

impl Metrics {
    /// Rounds every ratio to 12 decimals, so that it survives a JSON round trip exactly
    /// (numbers with at most 15 significant digits parse without rounding error).
    pub(super) fn rounded(mut self) -> Self {
        let r = |x: f64| (x * 1e12).round() / 1e12;
        for x in [
            &mut self.positive_weight,
            &mut self.negative_weight,
            &mut self.threshold,
            &mut self.accuracy,
            &mut self.precision,
            &mut self.recall,
            &mut self.f1,
        ] {
            *x = r(*x);
        }
        self.auc = self.auc.map(r);
        self
    }
}

/// Threshold-based counts and ratios over scored, labelled documents.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Classification {
    pub(super) accuracy: f64,
    pub(super) precision: f64,
    pub(super) recall: f64,
    pub(super) f1: f64,
}

/// Accuracy, precision, recall and F1 when `score >= threshold` predicts positive.
pub(super) fn classify(scores: &[f32], labels: &[bool], threshold: f64) -> Classification {
    let (mut tp, mut fp, mut tn, mut fn_) = (0u64, 0u64, 0u64, 0u64);
    for (&s, &y) in scores.iter().zip(labels) {
        match (s as f64 >= threshold, y) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, false) => tn += 1,
            (false, true) => fn_ += 1,
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    Classification {
        accuracy: ratio(tp + tn, tp + fp + tn + fn_),
        precision,
        recall,
        f1,
    }
}

/// Exact ROC AUC (ties count half, via average ranks); `None` without both classes.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    let pos = labels.iter().filter(|&&y| y).count() as u64;
    let neg = labels.len() as u64 - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of 1-based ranks of the positives, each tie group sharing its mean rank.
    let mut rank_sum = 0.0f64;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && scores[order[end]].total_cmp(&scores[order[start]]).is_eq() {
            end += 1;
        }
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let group_pos = order[start..end].iter().filter(|&&i| labels[i]).count();
        rank_sum += mean_rank * group_pos as f64;
        start = end;
    }
    let (p, n) = (pos as f64, neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_perfect_inverse_and_random() {
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]),
            Some(0.0)
        );
        // Pairs (pos, neg): (0.8 > 0.1), (0.8 > 0.5), (0.3 > 0.1), (0.3 < 0.5) => 3/4.
        assert_eq!(
            roc_auc(&[0.8, 0.3, 0.1, 0.5], &[true, true, false, false]),
            Some(0.75)
        );
    }

    #[test]
    fn auc_ties_count_half() {
        // All scores equal: every pair is a tie.
        assert_eq!(roc_auc(&[0.5; 4], &[true, false, true, false]), Some(0.5));
        // pos {0.5, 0.9}, neg {0.5, 0.1}: pairs 0.5=0.5 (0.5), 0.5>0.1, 0.9>0.5, 0.9>0.1.
        assert_eq!(
            roc_auc(&[0.5, 0.9, 0.5, 0.1], &[true, true, false, false]),
            Some(3.5 / 4.0)
        );
        // pos {0.2}, neg {0.2, 0.2, 0.1}: 0.5 + 0.5 + 1 over 3.
        assert_eq!(
            roc_auc(&[0.2, 0.2, 0.2, 0.1], &[true, false, false, false]),
            Some(2.0 / 3.0)
        );
    }

    #[test]
    fn auc_needs_both_classes() {
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[], &[]), None);
    }

    #[test]
    fn classification_ratios() {
        let c = classify(&[0.9, 0.6, 0.4, 0.1], &[true, false, true, false], 0.5);
        assert_eq!(c.accuracy, 0.5);
        assert_eq!(c.precision, 0.5);
        assert_eq!(c.recall, 0.5);
        assert_eq!(c.f1, 0.5);
        let none = classify(&[0.1], &[true], 0.5);
        assert_eq!((none.precision, none.recall, none.f1), (0.0, 0.0, 0.0));
    }
}
