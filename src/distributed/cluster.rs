//! Phase 3: from buckets to removal lists, with the single-process rule.
//!
//! For each dedup stage in pipeline order, the bucket members of all its bands are merged into
//! one stream in seq order (the input order of the whole run), grouped by document. A union-find
//! whose roots are kept documents joins them: a document sharing a bucket with a kept document
//! is attached to the earliest such root (it is a duplicate of it); a document sharing no bucket
//! with a kept one becomes a root. Because a root is only ever an earlier kept document, this is
//! exactly what the streaming stage decides, and the clusters are those of its `cluster_id`s.
//! A document removed by an earlier dedup stage never reaches a later one, so it takes no part.
//!
//! Memory: the bucket → root map holds one entry per bucket with a kept member, and the removed
//! set one seq per removed document; documents without a shared key cost nothing.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::records::{write_removals, IdReader, Kind, KvMerge, Removal};
use super::{plan, require, units, DistError, Inputs, Layout, Marker};
use crate::config::Pipeline;

/// What the cluster phase removed per dedup stage: (stage index, removed documents).
pub type ClusterCounts = Vec<(usize, u64)>;

/// Bits of a global bucket id that number the bucket within its band.
const BUCKET_BITS: u32 = 40;

/// Runs the cluster phase for a split into `tasks`. Returns `None` when it had already run.
pub fn run(
    pipeline: &Pipeline,
    base_dir: &Path,
    out: &Path,
    tasks: usize,
) -> Result<Option<ClusterCounts>, DistError> {
    let layout = Layout::new(out);
    let all = crate::io::input::resolve_inputs(&pipeline.input, base_dir)?;
    let hash = super::phase_hash_of(pipeline, &all);
    let dedup = plan(pipeline)?;
    let done = layout.cluster_done();
    if Marker::current(&done, &hash, tasks).is_some() {
        tracing::info!("cluster phase already complete");
        return Ok(None);
    }
    super::fail_on_purpose("cluster", 0)?;
    let all_units = units(&dedup);
    let markers: Vec<_> = all_units
        .iter()
        .enumerate()
        .map(|(i, u)| {
            (
                layout.bucket_done(u.stage, u.band),
                format!("bucket unit {i} (stage {} band {})", u.stage, u.band),
            )
        })
        .collect();
    require("buckets", &markers, &hash, tasks)?;
    let inputs = Inputs::of(&all, tasks);

    // Decide, stage after stage.
    let mut removed_before: HashSet<u64> = HashSet::new();
    let mut per_stage: Vec<Vec<(u64, u64)>> = Vec::with_capacity(dedup.len());
    for d in &dedup {
        let files: Vec<_> = (0..d.bands())
            .map(|b| layout.bucket_file(d.index, b))
            .collect();
        let removals = decide(&files, &removed_before)?;
        removed_before.extend(removals.iter().map(|&(s, _)| s));
        per_stage.push(removals);
    }

    // The kept documents' ids, from the tasks' id files.
    let wanted: HashSet<u64> = per_stage
        .iter()
        .flat_map(|r| r.iter().map(|&(_, t)| t))
        .collect();
    let mut ids: HashMap<u64, String> = HashMap::with_capacity(wanted.len());
    for t in 0..tasks {
        let mut r = IdReader::open(&layout.ids_file(t))?;
        while let Some(rec) = r.next_record()? {
            if wanted.contains(&rec.seq) {
                ids.insert(rec.seq, rec.id);
            }
        }
    }

    // Removal lists per task and stage.
    let mut counts = serde_json::Map::new();
    let mut summary = Vec::new();
    for (d, removals) in dedup.iter().zip(&per_stage) {
        let mut by_task: Vec<Vec<Removal>> = vec![Vec::new(); tasks];
        for &(seq, target) in removals {
            let Some(id) = ids.get(&target) else {
                return Err(DistError::Unsupported(format!(
                    "stage {}: the kept document with seq {target} is in no task's ids file \
                     (the signature files do not belong together)",
                    d.index
                )));
            };
            by_task[inputs.task_of(seq)].push(Removal {
                seq,
                target,
                cluster_id: crate::stages::dedup::cluster_id(id),
                duplicate_of: id.clone(),
            });
        }
        for (t, list) in by_task.iter().enumerate() {
            write_removals(&layout.removals_file(t, d.index), list)?;
        }
        counts.insert(
            format!("stage_{:03}_removed", d.index),
            (removals.len() as u64).into(),
        );
        summary.push((d.index, removals.len() as u64));
        tracing::info!(
            stage = d.index,
            removed = removals.len(),
            "removal lists written"
        );
    }
    Marker {
        phase: "cluster".into(),
        config_hash: hash,
        tasks,
        part: 0,
        counts,
    }
    .write(&done)?;
    Ok(Some(summary))
}

/// Walks the bucket members of one stage (one file per band) in seq order and returns the
/// removed documents as (seq, kept seq), in seq order.
pub fn decide(
    band_files: &[std::path::PathBuf],
    removed_before: &HashSet<u64>,
) -> Result<Vec<(u64, u64)>, DistError> {
    let mut merge = KvMerge::open(band_files, Kind::Buckets)?;
    // Global bucket id → its root: the earliest kept document in it.
    let mut root: HashMap<u64, u64> = HashMap::new();
    let mut removals = Vec::new();
    let mut current: Option<u64> = None;
    let mut buckets: Vec<u64> = Vec::new();
    let mut settle = |seq: u64, buckets: &mut Vec<u64>| {
        if !removed_before.contains(&seq) {
            match buckets.iter().filter_map(|b| root.get(b)).min() {
                Some(&target) => removals.push((seq, target)),
                None => {
                    for &b in buckets.iter() {
                        root.insert(b, seq);
                    }
                }
            }
        }
        buckets.clear();
    };
    while let Some((kv, band)) = merge.next_record()? {
        let seq = kv.key as u64;
        if current != Some(seq) {
            if let Some(prev) = current {
                settle(prev, &mut buckets);
            }
            current = Some(seq);
        }
        buckets.push(((band as u64) << BUCKET_BITS) | kv.value);
    }
    if let Some(prev) = current {
        settle(prev, &mut buckets);
    }
    Ok(removals)
}
