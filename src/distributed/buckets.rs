//! Phase 2: per dedup stage and band, the keys shared by two or more documents.
//!
//! A unit merges the sorted key files of every task for its band (a k-way merge, so memory
//! holds one record per task), and numbers each key held by two or more documents: a bucket,
//! whose members are all candidate pairs. It writes (seq, bucket number) for the members,
//! sorted by seq, which is the order the cluster phase walks them in.

use std::path::Path;

use rayon::prelude::*;

use super::records::{KeyValue, Kind, KvMerge, SortedWriter};
use super::{plan, require, units, DistError, Layout, Marker, Unit};
use crate::config::Pipeline;

/// Records per unit kept in memory while sorting the members by seq.
const SORT_RECORDS: usize = 4 << 20;

/// What one unit found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketCounts {
    /// Keys read (one per document and band).
    pub keys: u64,
    /// Keys shared by two or more documents.
    pub buckets: u64,
    /// Documents in those buckets (with repeats over buckets).
    pub members: u64,
}

/// Runs unit `unit` of the bucket phase (every unit when `None`) for a split into `tasks`.
/// Returns the number of units that ran (finished units are skipped).
pub fn run(
    pipeline: &Pipeline,
    base_dir: &Path,
    out: &Path,
    threads: usize,
    tasks: usize,
    unit: Option<usize>,
) -> Result<usize, DistError> {
    let layout = Layout::new(out);
    let hash = super::phase_hash(pipeline, base_dir)?;
    let dedup = plan(pipeline)?;
    let all = units(&dedup);
    let chosen: Vec<(usize, Unit)> = match unit {
        Some(u) if u >= all.len() => {
            return Err(DistError::Usage(format!(
                "--unit {u}: this pipeline has {} bucket units (0..{})",
                all.len(),
                all.len().saturating_sub(1)
            )))
        }
        Some(u) => vec![(u, all[u])],
        None => all.iter().copied().enumerate().collect(),
    };
    if chosen.is_empty() {
        return Ok(0);
    }
    let sig_markers: Vec<_> = (0..tasks)
        .map(|t| (layout.sig_done(t), format!("signatures task {t}")))
        .collect();
    require("signatures", &sig_markers, &hash, tasks)?;
    // Units are independent: with several threads, several run at once.
    let pool = super::pool(threads)?;
    let results: Vec<Result<bool, DistError>> = pool.install(|| {
        chosen
            .par_iter()
            .map(|&(i, u)| run_unit(&layout, &hash, tasks, i, u, dedup[u.dedup].key_kind()))
            .collect()
    });
    let mut ran = 0;
    for r in results {
        ran += usize::from(r?);
    }
    Ok(ran)
}

/// Runs unit `i` unless it is done; true when it ran.
fn run_unit(
    layout: &Layout,
    hash: &str,
    tasks: usize,
    i: usize,
    u: Unit,
    kind: Kind,
) -> Result<bool, DistError> {
    let done = layout.bucket_done(u.stage, u.band);
    if Marker::current(&done, hash, tasks).is_some() {
        tracing::info!("bucket unit {i} already complete");
        return Ok(false);
    }
    super::fail_on_purpose("buckets", i)?;
    let inputs: Vec<_> = (0..tasks)
        .map(|t| layout.sig_file(t, u.stage, u.band))
        .collect();
    let c = bucket_unit(&inputs, kind, &layout.bucket_file(u.stage, u.band))?;
    let mut counts = serde_json::Map::new();
    counts.insert("stage".into(), u.stage.into());
    counts.insert("band".into(), u.band.into());
    counts.insert("keys".into(), c.keys.into());
    counts.insert("buckets".into(), c.buckets.into());
    counts.insert("members".into(), c.members.into());
    Marker {
        phase: "buckets".into(),
        config_hash: hash.to_string(),
        tasks,
        part: i,
        counts,
    }
    .write(&done)?;
    tracing::info!(
        unit = i,
        stage = u.stage,
        band = u.band,
        buckets = c.buckets,
        members = c.members,
        "buckets written"
    );
    Ok(true)
}

/// Merges the sorted key files `inputs` (of `kind`) and writes the bucket members to `output`.
pub fn bucket_unit(
    inputs: &[std::path::PathBuf],
    kind: Kind,
    output: &Path,
) -> Result<BucketCounts, DistError> {
    let mut merge = KvMerge::open(inputs, kind)?;
    let mut w = SortedWriter::new(output, Kind::Buckets, SORT_RECORDS);
    let mut c = BucketCounts::default();
    // Members of the current key, in seq order.
    let mut group: Vec<u64> = Vec::new();
    let mut key: Option<u128> = None;
    let mut flush = |group: &mut Vec<u64>, c: &mut BucketCounts| -> Result<(), DistError> {
        if group.len() >= 2 {
            let b = c.buckets;
            c.buckets += 1;
            c.members += group.len() as u64;
            for &seq in group.iter() {
                w.push(KeyValue {
                    key: seq as u128,
                    value: b,
                })?;
            }
        }
        group.clear();
        Ok(())
    };
    while let Some((kv, _)) = merge.next_record()? {
        c.keys += 1;
        if key != Some(kv.key) {
            flush(&mut group, &mut c)?;
            key = Some(kv.key);
        }
        group.push(kv.value);
    }
    flush(&mut group, &mut c)?;
    w.finish()?;
    Ok(c)
}
