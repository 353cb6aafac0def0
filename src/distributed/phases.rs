//! The phases of a split run and which of their parts are already done: what `corpusforge
//! slurm` submits as job arrays and `corpusforge ray` as Ray tasks.

use std::path::Path;

use super::{plan, units, DistError, Layout, Marker};
use crate::config::Pipeline;
use crate::manifest::{self, TaskSpec};

/// One phase: a `corpusforge` subcommand run once per part.
#[derive(Debug, Clone)]
pub struct Phase {
    /// `signatures`, `buckets`, `cluster`, `filter`, `finalize`, or `run` (a one-task run).
    pub name: &'static str,
    /// The subcommand words (`["dedup", "signatures"]`).
    pub command: &'static [&'static str],
    /// The option naming a part (`--task`, `--unit`); `None`: a single part.
    pub part_flag: Option<&'static str>,
    /// Per part: already done for this config, these inputs and this split.
    pub done: Vec<bool>,
}

impl Phase {
    /// The command line of `part`: `binary SUBCOMMAND PIPELINE [--tasks N] --output OUT
    /// --threads T [PART_FLAG PART]`, where `part` is a string so that a scheduler may pass a
    /// variable (`"$SLURM_ARRAY_TASK_ID"`).
    pub fn argv(
        &self,
        binary: &str,
        pipeline: &str,
        output: &str,
        tasks: usize,
        threads: &str,
        part: &str,
    ) -> Vec<String> {
        let mut v: Vec<String> = std::iter::once(binary)
            .chain(self.command.iter().copied())
            .chain([pipeline])
            .map(str::to_string)
            .collect();
        if self.name != "run" {
            v.extend(["--tasks".to_string(), tasks.to_string()]);
        }
        v.extend([
            "--output".into(),
            output.into(),
            "--threads".into(),
            threads.into(),
        ]);
        match self.part_flag {
            Some(flag) => v.extend([flag.to_string(), part.to_string()]),
            None if self.name == "run" => v.push("--resume".into()),
            None => {}
        }
        v
    }
}

/// True when the step after the data (the report, else training) left its output in `out`.
fn last_output_there(pipeline: &Pipeline, out: &Path) -> bool {
    if pipeline.output.report {
        crate::storage::exists(&out.join("report").join("report.json"))
    } else if pipeline.train.is_some() {
        crate::storage::exists(&out.join("train").join("checkpoints"))
    } else {
        true
    }
}

/// The phases of `pipeline` split into `n` tasks with output in `out` (the local directory, or
/// the mirror of an object store prefix), in order: the dedup phases when it has dedup stages,
/// then filter and finalize; for one task, a single resumable `run`.
pub fn phases(
    pipeline: &Pipeline,
    base_dir: &Path,
    out: &Path,
    n: usize,
) -> Result<Vec<Phase>, DistError> {
    if n == 0 {
        return Err(DistError::Usage("--tasks must be at least 1".into()));
    }
    let data_hash = pipeline.data_hash();
    if n == 1 {
        return Ok(vec![Phase {
            name: "run",
            command: &["run"],
            part_flag: None,
            done: vec![manifest::read(&out.join("manifest.json"))
                .is_some_and(|m| m.complete && m.config_hash == data_hash)],
        }]);
    }
    let dedup = plan(pipeline)?;
    let layout = Layout::new(out);
    let hash = super::phase_hash(pipeline, base_dir)?;
    let mut v = Vec::new();
    if !dedup.is_empty() {
        let all_units = units(&dedup);
        v.push(Phase {
            name: "signatures",
            command: &["dedup", "signatures"],
            part_flag: Some("--task"),
            done: (0..n)
                .map(|t| Marker::current(&layout.sig_done(t), &hash, n).is_some())
                .collect(),
        });
        v.push(Phase {
            name: "buckets",
            command: &["dedup", "buckets"],
            part_flag: Some("--unit"),
            done: all_units
                .iter()
                .map(|u| Marker::current(&layout.bucket_done(u.stage, u.band), &hash, n).is_some())
                .collect(),
        });
        v.push(Phase {
            name: "cluster",
            command: &["dedup", "cluster"],
            part_flag: None,
            done: vec![Marker::current(&layout.cluster_done(), &hash, n).is_some()],
        });
    }
    v.push(Phase {
        name: "filter",
        command: &["run"],
        part_flag: Some("--task"),
        done: (0..n)
            .map(|t| {
                manifest::read(&manifest::manifest_path(
                    out,
                    TaskSpec { index: t, count: n },
                ))
                .is_some_and(|m| {
                    m.complete
                        && m.config_hash == data_hash
                        && m.split_hash.as_deref() == Some(hash.as_str())
                })
            })
            .collect(),
    });
    v.push(Phase {
        name: "finalize",
        command: &["finalize"],
        part_flag: None,
        // Done when the merged data is, and what comes after it (training, then the report)
        // has run too: its last output is there.
        done: vec![
            super::merge::MergedManifest::read(out).is_some_and(|m| {
                m.manifest.complete
                    && m.manifest.config_hash == data_hash
                    && m.tasks == n
                    && m.manifest.split_hash.as_deref() == Some(hash.as_str())
            }) && last_output_there(pipeline, out),
        ],
    });
    Ok(v)
}
