//! Phase 5: the tasks' results as one run.
//!
//! [`merge_stats`] reads every task's manifest (`OUT/tasks/task-IIIII/manifest.json`), checks
//! that all tasks of the split finished with the same config, adds their counters up and checks
//! that every input record is accounted for (kept + dropped + rejected = read, per stage too).
//! [`finalize`] then runs the tokenize pass over the documents of all tasks, read in the order a
//! single-task run keeps them, and writes `OUT/stats.json` and `OUT/manifest.json`, so training
//! and the report see one run.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io_err, DistError};
use crate::config::Pipeline;
use crate::io::writer::ShardFile;
use crate::runner::manifest::{self, InputEntry, Manifest};
use crate::runner::{RunError, RunStats, TaskSpec};
use crate::stages::tokenize::{self, DocSource, TokenSummary};

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
    if let Ok(rd) = fs::read_dir(&dir) {
        for e in rd.flatten() {
            let p = e.path().join("manifest.json");
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
    stats
        .verify()
        .map_err(|e| DistError::Run(RunError::Accounting(e)))?;
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
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).ok()?).ok()
    }
}

/// Writes `OUT/stats.json` from the merged task counters (unless the run is already
/// finalized, whose stats.json also has the tokenize counters). Returns the merge.
pub fn write_merged_stats(out: &Path) -> Result<(Merged, bool), DistError> {
    let merged = merge_stats(out, None)?;
    let finalized = MergedManifest::read(out)
        .is_some_and(|m| m.manifest.complete && m.manifest.config_hash == merged.config_hash);
    if !finalized {
        manifest::write_json_atomic(&out.join("stats.json"), &merged.stats)?;
    }
    Ok((merged, finalized))
}

/// Removes parquet files under the datasets of `out` that no task wrote (left by an earlier
/// run into the same directory), so that readers globbing a dataset see this run only.
fn remove_unlisted(out: &Path, outputs: &[ShardFile]) -> Result<(), DistError> {
    let listed: std::collections::HashSet<&str> = outputs.iter().map(|f| f.path.as_str()).collect();
    let mut removed = 0;
    for d in ["documents", "dropped", "rejected"] {
        for p in crate::report::collect::parquet_files(&out.join(d)) {
            let rel = p
                .strip_prefix(out)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            if !listed.contains(rel.as_str()) {
                fs::remove_file(&p).map_err(io_err(&p))?;
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

/// What [`finalize`] did.
#[derive(Debug, Clone)]
pub struct Finalized {
    /// The output directory.
    pub out: PathBuf,
    /// The merged counters (with the tokenize counters).
    pub stats: RunStats,
    /// Tasks merged.
    pub tasks: usize,
    /// It had been finalized before; nothing ran.
    pub already: bool,
}

/// Merges the tasks of a split run of `pipeline` into one run under `out`: stats, the
/// tokenize pass over all kept documents, `stats.json` and `manifest.json`.
pub fn finalize(
    pipeline: &Pipeline,
    base_dir: &Path,
    out: &Path,
    tasks: usize,
    threads: Option<usize>,
) -> Result<Finalized, DistError> {
    let hash = crate::runner::config_hash(pipeline);
    let all =
        crate::io::input::resolve_inputs(&pipeline.input, base_dir).map_err(RunError::from)?;
    let split_hash = super::phase_hash_of(pipeline, &all);
    let mpath = out.join("manifest.json");
    if let Some(m) = MergedManifest::read(out) {
        if m.manifest.complete
            && m.manifest.config_hash == hash
            && m.tasks == tasks
            && m.manifest.split_hash == Some(split_hash.clone())
        {
            return Ok(Finalized {
                out: out.to_path_buf(),
                stats: m.manifest.stats,
                tasks,
                already: true,
            });
        }
    }
    super::fail_on_purpose("finalize", 0)?;
    let mut merged = merge_stats(out, Some(tasks))?;
    if merged.config_hash != hash {
        return Err(DistError::Stale {
            path: out.join("tasks"),
            what: format!(
                "config {} (the pipeline is now {hash}); rerun the tasks",
                merged.config_hash
            ),
        });
    }
    let _ = fs::remove_file(&mpath);
    remove_unlisted(out, &merged.outputs)?;
    let threads = threads.unwrap_or(pipeline.run.threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::Threads(e.to_string()))?;
    let started = std::time::Instant::now();
    let ranks: HashMap<String, u64> = {
        let mut names: Vec<String> = all.iter().map(|f| f.display.to_string()).collect();
        names.sort();
        names
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, i as u64))
            .collect()
    };
    let docs = DocSource::Tasks {
        shards: merged
            .task_documents
            .iter()
            .map(|t| t.iter().map(|p| out.join(p)).collect())
            .collect(),
        ranks,
    };
    let tokens: Option<TokenSummary> = tokenize::run_after(
        pipeline,
        base_dir,
        out,
        TaskSpec::default(),
        &pool,
        &mut merged.outputs,
        &mut merged.stats,
        Some(docs),
    )
    .map_err(RunError::from)?;
    merged.stats.seconds += started.elapsed().as_secs_f64();
    merged
        .stats
        .verify()
        .map_err(|e| DistError::Run(RunError::Accounting(e)))?;
    manifest::write_json_atomic(&out.join("stats.json"), &merged.stats)?;
    let m = MergedManifest {
        manifest: Manifest {
            tool: "corpusforge".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            complete: true,
            config_hash: hash,
            config: pipeline.clone(),
            task: TaskSpec::default(),
            seed: pipeline.run.seed,
            threads: pool.current_num_threads(),
            inputs: merged.inputs.clone(),
            outputs: merged.outputs.clone(),
            stats: merged.stats.clone(),
            tokens,
            split_hash: Some(split_hash),
        },
        tasks,
    };
    manifest::write_json_atomic(&mpath, &m)?;
    Ok(Finalized {
        out: out.to_path_buf(),
        stats: merged.stats,
        tasks,
        already: false,
    })
}
