//! Phase 5: the tasks' results as one run.
//!
//! [`merge_stats`] reads every task's manifest (`OUT/tasks/task-IIIII/manifest.json`), checks
//! that all tasks of the split finished with the same config, adds their counters up and checks
//! that every input record is accounted for (kept + dropped + rejected = read, per stage too).
//! The finalize phase (sequenced by [`crate::pipeline::split::finalize`]) then tokenizes the
//! documents of all tasks, read in the order a single-task run keeps them
//! ([`Merged::documents`]), and writes `OUT/stats.json` and `OUT/manifest.json`
//! ([`MergedManifest`]), so training and the report see one run.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{io_err, DistError};
use crate::config::Pipeline;
use crate::io::input::InputFile;
use crate::io::json::write_json_atomic;
use crate::io::writer::ShardFile;
use crate::manifest::{self, InputEntry, Manifest};
use crate::runner::RunStats;
use crate::stages::tokenize::DocSource;

/// The merged result of a split run's tasks.
#[derive(Debug, Clone)]
pub struct Merged {
    /// Tasks of the split.
    pub tasks: usize,
    /// The config hash they share.
    pub config_hash: String,
    /// The config (from task 0's manifest).
    pub config: Pipeline,
    /// Counters, added up.
    pub stats: RunStats,
    /// Every input, in path order.
    pub inputs: Vec<InputEntry>,
    /// Every file written, task after task.
    pub outputs: Vec<ShardFile>,
    /// Per task, its document shards (paths relative to OUT) in order.
    pub task_documents: Vec<Vec<String>>,
}

/// Reads and adds up the task manifests under `out`. `tasks`, when given, is the expected
/// split; otherwise it is read from the manifests.
pub fn merge_stats(out: &Path, tasks: Option<usize>) -> Result<Merged, DistError> {
    let dir = out.join("tasks");
    let mut found: BTreeMap<usize, Manifest> = BTreeMap::new();
    let mut count = tasks;
    if let Ok(names) = crate::storage::read_dir(&dir) {
        for (name, _) in names {
            let p = dir.join(name).join("manifest.json");
            if let Some(m) = manifest::read(&p) {
                if !m.complete {
                    continue;
                }
                match count {
                    None => count = Some(m.task.count),
                    Some(c) if c != m.task.count => {
                        return Err(DistError::Stale {
                            path: p,
                            what: format!("{} tasks, not {c}", m.task.count),
                        })
                    }
                    _ => {}
                }
                found.insert(m.task.index, m);
            }
        }
    }
    let Some(count) = count else {
        return Err(DistError::NotReady {
            phase: "filter",
            missing: vec![format!(
                "every task: no finished task manifest under {}",
                dir.display()
            )],
        });
    };
    let missing: Vec<String> = (0..count)
        .filter(|i| !found.contains_key(i))
        .map(|i| format!("task {i}"))
        .collect();
    if !missing.is_empty() {
        return Err(DistError::NotReady {
            phase: "filter",
            missing,
        });
    }
    let first = found.values().next().expect("count >= 1 tasks found");
    let hash = first.config_hash.clone();
    let config = first.config.clone();
    let mut stats: Option<RunStats> = None;
    let mut inputs = Vec::new();
    let mut outputs = Vec::new();
    let mut task_documents = Vec::new();
    for (i, m) in &found {
        if m.config_hash != hash {
            return Err(DistError::Stale {
                path: manifest::manifest_path(out, m.task),
                what: format!(
                    "config {} while task 0 ran config {hash}; rerun task {i}",
                    m.config_hash
                ),
            });
        }
        match &mut stats {
            None => stats = Some(m.stats.clone()),
            Some(s) => *s += &m.stats,
        }
        inputs.extend(m.inputs.iter().cloned());
        task_documents.push(
            m.outputs
                .iter()
                .filter(|f| f.path.starts_with("documents/"))
                .map(|f| f.path.clone())
                .collect(),
        );
        outputs.extend(m.outputs.iter().cloned());
    }
    let stats = stats.expect("count >= 1");
    stats.verify().map_err(DistError::Accounting)?;
    inputs.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Merged {
        tasks: count,
        config_hash: hash,
        config,
        stats,
        inputs,
        outputs,
        task_documents,
    })
}

/// What `OUT/manifest.json` of a finalized split run holds: the task manifest's fields, with
/// `task` 0 of 1 and `tasks` the split.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergedManifest {
    /// The merged manifest.
    #[serde(flatten)]
    pub manifest: Manifest,
    /// Tasks the run was split into.
    pub tasks: usize,
}

impl MergedManifest {
    /// `OUT/manifest.json` of a finalized split run, if there is a readable one.
    pub fn read(out: &Path) -> Option<Self> {
        serde_json::from_str(&crate::storage::read_to_string(out.join("manifest.json")).ok()?).ok()
    }
}

/// Writes `OUT/stats.json` from the merged task counters (unless the run is already
/// finalized, whose stats.json also has the tokenize counters). Returns the merge.
pub fn write_merged_stats(out: &Path) -> Result<(Merged, bool), DistError> {
    let merged = merge_stats(out, None)?;
    let finalized = MergedManifest::read(out)
        .is_some_and(|m| m.manifest.complete && m.manifest.config_hash == merged.config_hash);
    if !finalized {
        write_json_atomic(&out.join("stats.json"), &merged.stats)?;
    }
    Ok((merged, finalized))
}

impl Merged {
    /// The kept documents of every task under `out`, in the order a single-task run over `all`
    /// (every resolved input of the run) keeps them.
    pub fn documents(&self, out: &Path, all: &[InputFile]) -> DocSource {
        let mut names: Vec<String> = all.iter().map(|f| f.display.to_string()).collect();
        names.sort();
        let ranks: HashMap<String, u64> = names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i as u64))
            .collect();
        DocSource::Tasks {
            shards: self
                .task_documents
                .iter()
                .map(|t| t.iter().map(|p| out.join(p)).collect())
                .collect(),
            ranks,
        }
    }
}

/// Removes parquet files under the datasets of `out` that no task wrote (left by an earlier
/// run into the same directory), so that readers globbing a dataset see this run only.
pub fn remove_unlisted(out: &Path, outputs: &[ShardFile]) -> Result<(), DistError> {
    let listed: std::collections::HashSet<&str> = outputs.iter().map(|f| f.path.as_str()).collect();
    let mut removed = 0;
    for d in ["documents", "dropped", "rejected"] {
        for p in crate::report::collect::parquet_files(&out.join(d)) {
            let rel = p
                .strip_prefix(out)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if !listed.contains(rel.as_str()) {
                crate::storage::remove_file(&p).map_err(io_err(&p))?;
                removed += 1;
            }
        }
    }
    if removed > 0 {
        tracing::warn!(
            "removed {removed} shards no task of this run wrote (left by an earlier run)"
        );
    }
    Ok(())
}
