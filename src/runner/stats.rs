//! Per-stage and per-run counters. They merge by addition, so per-task counters combine.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// What one stage saw and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageStats {
    /// 0-based position in `stages:`.
    pub index: usize,
    /// The stage's `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Documents that entered the stage.
    pub seen: u64,
    /// Documents that left it alive.
    pub kept: u64,
    /// Documents dropped, by reason key.
    pub dropped: BTreeMap<String, u64>,
    /// Text bytes of the documents that entered.
    pub bytes_in: u64,
    /// Text bytes of the documents that left alive.
    pub bytes_out: u64,
    /// The stage's own counters (e.g. replacements made).
    pub counters: BTreeMap<String, u64>,
    /// Wall time spent in the stage.
    pub seconds: f64,
}

impl StageStats {
    /// Total dropped, over all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

impl AddAssign<&StageStats> for StageStats {
    fn add_assign(&mut self, o: &StageStats) {
        self.seen += o.seen;
        self.kept += o.kept;
        for (k, v) in &o.dropped {
            *self.dropped.entry(k.clone()).or_insert(0) += v;
        }
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        for (k, v) in &o.counters {
            *self.counters.entry(k.clone()).or_insert(0) += v;
        }
        self.seconds += o.seconds;
    }
}

/// The counters of a whole run: what `stats.json` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunStats {
    /// Input records read (documents + rejected).
    pub input: u64,
    /// Input bytes of the records read as documents (their text).
    pub input_bytes: u64,
    /// Documents that came out of the last stage.
    pub kept: u64,
    /// Text bytes of the kept documents.
    pub kept_bytes: u64,
    /// Dropped documents, by reason key, over all stages.
    pub dropped: BTreeMap<String, u64>,
    /// Rejected records, by reason.
    pub rejected: BTreeMap<String, u64>,
    /// Input records that are not documents and not errors (WARC requests, metadata records,
    /// non-HTML responses), by reason. They are not part of `input`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, u64>,
    /// Per-stage counters, in pipeline order.
    pub stages: Vec<StageStats>,
    /// Wall time of the run (reading, stages, writing).
    pub seconds: f64,
}

impl RunStats {
    /// Empty counters for `types`, the stage types in pipeline order.
    pub fn new(types: &[&str]) -> Self {
        RunStats {
            stages: types
                .iter()
                .enumerate()
                .map(|(index, t)| StageStats {
                    index,
                    kind: t.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    /// Total dropped over all stages.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Total rejected.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Checks that every record is accounted for, in total and per stage. Returns every
    /// mismatch found.
    pub fn verify(&self) -> Result<(), Vec<String>> {
        let mut bad = Vec::new();
        let total = self.kept + self.dropped_total() + self.rejected_total();
        if self.input != total {
            bad.push(format!(
                "input {} != kept {} + dropped {} + rejected {}",
                self.input,
                self.kept,
                self.dropped_total(),
                self.rejected_total()
            ));
        }
        let mut alive = self.input - self.rejected_total().min(self.input);
        for s in &self.stages {
            if s.seen != alive {
                bad.push(format!(
                    "stage {} ({}): saw {} documents, {} entered it",
                    s.index, s.kind, s.seen, alive
                ));
            }
            if s.seen != s.kept + s.dropped_total() {
                bad.push(format!(
                    "stage {} ({}): seen {} != kept {} + dropped {}",
                    s.index,
                    s.kind,
                    s.seen,
                    s.kept,
                    s.dropped_total()
                ));
            }
            alive = s.kept;
        }
        if alive != self.kept {
            bad.push(format!(
                "{} documents left the last stage but {} were counted as kept",
                alive, self.kept
            ));
        }
        let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
        for s in &self.stages {
            for (k, v) in &s.dropped {
                *by_reason.entry(k.clone()).or_insert(0) += v;
            }
        }
        if by_reason != self.dropped {
            bad.push("per-stage drop reasons do not sum to the run's".to_string());
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad)
        }
    }
}

impl AddAssign<&RunStats> for RunStats {
    fn add_assign(&mut self, o: &RunStats) {
        self.input += o.input;
        self.input_bytes += o.input_bytes;
        self.kept += o.kept;
        self.kept_bytes += o.kept_bytes;
        for (k, v) in &o.dropped {
            *self.dropped.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &o.rejected {
            *self.rejected.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &o.skipped {
            *self.skipped.entry(k.clone()).or_insert(0) += v;
        }
        if self.stages.is_empty() {
            self.stages = o.stages.clone();
        } else {
            for (a, b) in self.stages.iter_mut().zip(&o.stages) {
                *a += b;
            }
        }
        self.seconds = self.seconds.max(o.seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunStats {
        let mut s = RunStats::new(&["normalize", "length"]);
        s.input = 10;
        s.rejected.insert("invalid_json".into(), 2);
        s.stages[0].seen = 8;
        s.stages[0].kept = 8;
        s.stages[1].seen = 8;
        s.stages[1].kept = 5;
        s.stages[1].dropped.insert("length:too_short".into(), 3);
        s.dropped.insert("length:too_short".into(), 3);
        s.kept = 5;
        s
    }

    #[test]
    fn balanced_stats_verify() {
        assert_eq!(sample().verify(), Ok(()));
    }

    #[test]
    fn a_lost_document_is_caught() {
        let mut s = sample();
        s.kept = 4;
        let errs = s.verify().unwrap_err();
        assert_eq!(
            errs,
            vec![
                "input 10 != kept 4 + dropped 3 + rejected 2".to_string(),
                "5 documents left the last stage but 4 were counted as kept".to_string()
            ]
        );
    }

    #[test]
    fn merge_adds() {
        let mut a = sample();
        a += &sample();
        assert_eq!(a.input, 20);
        assert_eq!(a.stages[1].dropped["length:too_short"], 6);
        assert_eq!(a.verify(), Ok(()));
    }
}
