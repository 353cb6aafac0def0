//! Phase 4: in a task of a split run, a dedup stage drops what the cluster phase decided.
//!
//! The stage reads its task's removal list (checked whole before the run starts) and walks it
//! alongside the documents, which reach it in seq order. A listed document is dropped with the
//! reason of the single-process stage (`dedup:exact` or `dedup:near`), `duplicate_of` the kept
//! document's id and `cluster_id` [`cluster_id`] of that id; every other document gets its own
//! `cluster_id`. `minhash_dedup` still counts `no_shingles`. At the end every entry of the list
//! must have been met; one that was not means the inputs changed between phases, and the run
//! fails rather than keep a document it should have dropped.

use std::fs;
use std::io;
use std::path::Path;

use rayon::prelude::*;

use super::records::{read_removals, Removal};
use super::{DedupKind, DedupStage, DistError, Layout};
use crate::document::Document;
use crate::stage::{Counters, Stateful, Verdict};
use crate::stages::dedup::cluster_id;
use crate::stages::dedup::shingle::{MinHasher, Scratch};

/// A dedup stage of a task in a split run.
pub struct ApplyRemovals {
    stage: usize,
    reason: &'static str,
    removals: Vec<Removal>,
    next: usize,
    /// Removal entries passed without meeting their document.
    unmatched: Vec<u64>,
    shingles: Option<MinHasher>,
}

impl ApplyRemovals {
    /// The stage for `d` in task `task`, with its removal list loaded and checked.
    pub fn load(layout: &Layout, task: usize, d: &DedupStage) -> Result<Self, DistError> {
        let removals = read_removals(&layout.removals_file(task, d.index))?;
        Ok(ApplyRemovals {
            stage: d.index,
            reason: d.reason(),
            removals,
            next: 0,
            unmatched: Vec::new(),
            shingles: match &d.kind {
                DedupKind::Minhash(c) => Some(MinHasher::new(c.bands, c.rows, c.ngram, c.seed)),
                DedupKind::Exact(_) => None,
            },
        })
    }
}

impl Stateful for ApplyRemovals {
    fn process(
        &mut self,
        docs: &mut [&mut Document],
        verdicts: &mut [Verdict],
        counters: &mut Counters,
    ) {
        if let Some(h) = &self.shingles {
            let none = docs
                .par_iter()
                .map_init(Scratch::default, |s, d| {
                    u64::from(!h.has_shingles(&d.text, s))
                })
                .sum();
            counters.add("no_shingles", none);
        }
        for (d, v) in docs.iter_mut().zip(verdicts.iter_mut()) {
            while let Some(r) = self.removals.get(self.next).filter(|r| r.seq < d.seq) {
                self.unmatched.push(r.seq);
                self.next += 1;
            }
            match self.removals.get(self.next).filter(|r| r.seq == d.seq) {
                Some(r) => {
                    d.cluster_id = Some(r.cluster_id);
                    d.duplicate_of = Some(r.duplicate_of.clone());
                    *v = Verdict::Drop(self.reason);
                    self.next += 1;
                }
                None => d.cluster_id = Some(cluster_id(&d.id)),
            }
        }
    }

    fn save_state(&self, dir: &Path) -> io::Result<()> {
        fs::write(dir.join("next"), self.next.to_string())
    }

    fn load_state(&mut self, dir: &Path) -> io::Result<()> {
        let text = crate::storage::read_to_string(dir.join("next"))?;
        let next: usize = text
            .trim()
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad removal-list position"))?;
        if next > self.removals.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the removal-list position is past its end",
            ));
        }
        self.next = next;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), String> {
        self.unmatched.extend(
            self.removals[self.next.min(self.removals.len())..]
                .iter()
                .map(|r| r.seq),
        );
        self.next = self.removals.len();
        if self.unmatched.is_empty() {
            return Ok(());
        }
        let first: Vec<String> = self
            .unmatched
            .iter()
            .take(5)
            .map(|s| {
                format!(
                    "file rank {} record {}",
                    s >> crate::runner::SEQ_RECORD_BITS,
                    s & ((1 << crate::runner::SEQ_RECORD_BITS) - 1)
                )
            })
            .collect();
        Err(format!(
            "stage {}: {} documents on the removal list never reached the stage ({}); the \
             inputs or the stages before it changed since the signatures phase",
            self.stage,
            self.unmatched.len(),
            first.join(", ")
        ))
    }
}

/// In a task of a split run, puts an [`ApplyRemovals`] in place of every dedup stage of
/// `stages` (built from `pipeline`), once the cluster phase is complete.
pub fn replace_dedup_stages(
    pipeline: &crate::config::Pipeline,
    base_dir: &Path,
    out: &Path,
    task: crate::manifest::TaskSpec,
    stages: &mut [crate::stage::Stage],
) -> Result<(), DistError> {
    let dedup = super::plan(pipeline)?;
    if dedup.is_empty() {
        return Ok(());
    }
    let hash = super::phase_hash(pipeline, base_dir)?;
    let layout = Layout::new(out);
    let marker = layout.cluster_done();
    if super::Marker::read(&marker).is_none() {
        return Err(DistError::NotReady {
            phase: "cluster",
            missing: vec![format!(
                "{} (this pipeline deduplicates across tasks: run `corpusforge dedup signatures`, \
                 `dedup buckets` and `dedup cluster` first, or let `corpusforge slurm` do it)",
                marker.display()
            )],
        });
    }
    super::require(
        "cluster",
        &[(marker, "the cluster phase".to_string())],
        &hash,
        task.count,
    )?;
    for d in &dedup {
        stages[d.index] =
            crate::stage::Stage::Stateful(Box::new(ApplyRemovals::load(&layout, task.index, d)?));
    }
    Ok(())
}
