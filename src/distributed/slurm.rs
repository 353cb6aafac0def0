//! `corpusforge slurm`: the phases of a split run as Slurm job arrays.
//!
//! Slurm schedules; corpusforge only writes one batch script per phase under `OUT/slurm/` and
//! submits it with `sbatch`, each phase depending on the one before with
//! `--dependency=afterok:JOB` and `--kill-on-invalid-dep=yes`, so a failed task stops the chain
//! instead of letting later phases read partial results:
//!
//! | phase      | array          | command                                      |
//! |------------|----------------|----------------------------------------------|
//! | signatures | one per task   | `corpusforge dedup signatures P --task I`    |
//! | buckets    | one per unit   | `corpusforge dedup buckets P --unit U`       |
//! | cluster    | single job     | `corpusforge dedup cluster P`                |
//! | filter     | one per task   | `corpusforge run P --task I`                 |
//! | finalize   | single job     | `corpusforge finalize P` (merge, tokenize, train, report) |
//!
//! (The first three only when the pipeline has dedup stages.) Each array task logs to
//! `OUT/slurm/logs/PHASE-I.log`, appending, so a retry's log follows the failed attempt's.
//! Phases and tasks that already finished are left out of the submission, so running the same
//! `corpusforge slurm` command again after a failure resubmits exactly what is left.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::{io_err, DistError};
use crate::config::Pipeline;

/// Resources and submission settings.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// Tasks of the split (`--tasks`).
    pub tasks: usize,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--cpus-per-task` (also the threads each task uses).
    pub cpus_per_task: usize,
    /// `--mem`, e.g. `4G`.
    pub mem: Option<String>,
    /// `--time`, e.g. `02:00:00`.
    pub time: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// Further `#SBATCH` options, given as `--sbatch-arg=--qos=high`.
    pub extra: Vec<String>,
    /// Write the scripts, print the commands, submit nothing.
    pub dry_run: bool,
    /// The corpusforge binary the jobs run (default: this one).
    pub binary: Option<PathBuf>,
}

/// One phase as submitted (or to submit).
#[derive(Debug, Clone, Serialize)]
pub struct PhaseJob {
    /// The phase.
    pub phase: String,
    /// The batch script.
    pub script: PathBuf,
    /// Array indices (`0-3`, `2,5`), or none for a single job.
    pub array: Option<String>,
    /// The `sbatch` command line.
    pub command: Vec<String>,
    /// The job id, once submitted.
    pub job_id: Option<String>,
    /// Array indices already complete and left out.
    pub skipped: Vec<usize>,
}

/// What `jobs.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct Submission {
    /// The phases, in order (finished phases are absent).
    pub jobs: Vec<PhaseJob>,
    /// True when nothing was submitted (`--dry-run`).
    pub dry_run: bool,
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `[0, 1, 2, 5]` as `0-2,5`.
fn ranges(v: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if j > i {
            let _ = write!(out, "{}-{}", v[i], v[j]);
        } else {
            let _ = write!(out, "{}", v[i]);
        }
        i = j + 1;
    }
    out
}

/// Writes the scripts of every unfinished phase and submits them (unless `dry_run`).
pub fn submit(
    pipeline: &Pipeline,
    pipeline_path: &Path,
    base_dir: &Path,
    out: &Path,
    opts: &SlurmOptions,
) -> Result<Submission, DistError> {
    if opts.tasks == 0 {
        return Err(DistError::Usage("--tasks must be at least 1".into()));
    }
    let out = std::path::absolute(out).map_err(io_err(base_dir))?;
    let pipeline_path = std::path::absolute(pipeline_path).map_err(io_err(pipeline_path))?;
    let binary = match &opts.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().map_err(io_err(Path::new("corpusforge")))?,
    };
    if crate::storage::remote_of(&out).is_some() {
        return Err(DistError::Usage(format!(
            "corpusforge slurm writes its job scripts and logs on a filesystem every node sees; \
             for an object store output ({}) use corpusforge ray",
            crate::storage::shown(&out)
        )));
    }
    let n = opts.tasks;
    let slurm_dir = out.join("slurm");
    let logs = slurm_dir.join("logs");
    fs::create_dir_all(&logs).map_err(io_err(&logs))?;

    let cpus = opts.cpus_per_task.max(1);
    let threads = format!("${{SLURM_CPUS_PER_TASK:-{cpus}}}");
    struct Spec {
        phase: &'static str,
        size: Option<usize>,
        command: String,
        done: Vec<bool>,
    }
    let specs: Vec<Spec> = super::phases::phases(pipeline, base_dir, &out, n)?
        .into_iter()
        .map(|p| {
            let argv = p.argv(
                &binary.to_string_lossy(),
                &pipeline_path.to_string_lossy(),
                &out.to_string_lossy(),
                n,
                &threads,
                "$SLURM_ARRAY_TASK_ID",
            );
            // Quoted for the shell, the variables left to expand.
            let command = argv
                .iter()
                .map(|a| {
                    if a.starts_with('$') {
                        format!("\"{a}\"")
                    } else {
                        quote(a)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ");
            Spec {
                phase: p.name,
                size: p.part_flag.map(|_| p.done.len()),
                command,
                done: p.done,
            }
        })
        .collect();

    let mut jobs: Vec<PhaseJob> = Vec::new();
    let mut last_job: Option<String> = None;
    for (k, s) in specs.iter().enumerate() {
        let todo: Vec<usize> = s
            .done
            .iter()
            .enumerate()
            .filter(|(_, d)| !**d)
            .map(|(i, _)| i)
            .collect();
        let skipped: Vec<usize> = (0..s.done.len()).filter(|i| !todo.contains(i)).collect();
        if todo.is_empty() {
            tracing::info!("{}: already complete, not submitted", s.phase);
            continue;
        }
        let script = slurm_dir.join(format!("{}-{}.sh", k + 1, s.phase));
        let log = match s.size {
            Some(_) => logs.join(format!("{}-%a.log", s.phase)),
            None => logs.join(format!("{}.log", s.phase)),
        };
        let mut text = String::from("#!/bin/bash\n");
        let _ = writeln!(text, "#SBATCH --job-name=corpusforge-{}", s.phase);
        let _ = writeln!(text, "#SBATCH --output={}", log.display());
        let _ = writeln!(text, "#SBATCH --open-mode=append");
        let _ = writeln!(text, "#SBATCH --cpus-per-task={cpus}");
        if let Some(p) = &opts.partition {
            let _ = writeln!(text, "#SBATCH --partition={p}");
        }
        if let Some(m) = &opts.mem {
            let _ = writeln!(text, "#SBATCH --mem={m}");
        }
        if let Some(t) = &opts.time {
            let _ = writeln!(text, "#SBATCH --time={t}");
        }
        if let Some(a) = &opts.account {
            let _ = writeln!(text, "#SBATCH --account={a}");
        }
        for e in &opts.extra {
            let _ = writeln!(text, "#SBATCH {e}");
        }
        let _ = writeln!(
            text,
            "# Phase {} of a corpusforge run split into {n} tasks; a finished task exits at once.",
            s.phase
        );
        text.push_str("set -euo pipefail\n");
        let _ = writeln!(
            text,
            "echo \"[$(date -u +%FT%TZ)] $(hostname) job ${{SLURM_JOB_ID:-?}} task ${{SLURM_ARRAY_TASK_ID:-0}}: {}\"",
            s.phase
        );
        let _ = writeln!(text, "exec {}", s.command);
        fs::write(&script, text).map_err(io_err(&script))?;
        let mut cmd = vec!["sbatch".to_string(), "--parsable".to_string()];
        let array = s.size.map(|_| ranges(&todo));
        if let Some(a) = &array {
            cmd.push(format!("--array={a}"));
        }
        if let Some(j) = &last_job {
            cmd.push(format!("--dependency=afterok:{j}"));
            cmd.push("--kill-on-invalid-dep=yes".into());
        }
        cmd.push(script.to_string_lossy().to_string());
        let job_id = if opts.dry_run {
            None
        } else {
            let o = Command::new(&cmd[0])
                .args(&cmd[1..])
                .current_dir(&out)
                .output()
                .map_err(|e| {
                    DistError::Usage(format!(
                        "cannot run sbatch ({e}); is this a Slurm submit host? --dry-run writes \
                         the scripts without submitting"
                    ))
                })?;
            if !o.status.success() {
                return Err(DistError::Usage(format!(
                    "sbatch failed for phase {} ({}): {}",
                    s.phase,
                    o.status,
                    String::from_utf8_lossy(&o.stderr).trim()
                )));
            }
            let text = String::from_utf8_lossy(&o.stdout);
            let id = text.trim().split(';').next().unwrap_or("").to_string();
            if id.is_empty() {
                return Err(DistError::Usage(format!(
                    "sbatch printed no job id for phase {}",
                    s.phase
                )));
            }
            last_job = Some(id.clone());
            Some(id)
        };
        if opts.dry_run {
            last_job = Some(format!("<{}>", s.phase));
        }
        jobs.push(PhaseJob {
            phase: s.phase.to_string(),
            script,
            array,
            command: cmd,
            job_id,
            skipped,
        });
    }
    let sub = Submission {
        jobs,
        dry_run: opts.dry_run,
    };
    let path = slurm_dir.join("jobs.json");
    let mut text = serde_json::to_vec_pretty(&sub).map_err(|e| DistError::Io {
        path: path.clone(),
        source: e.into(),
    })?;
    text.push(b'\n');
    fs::write(&path, text).map_err(io_err(&path))?;
    Ok(sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(&[0, 1, 2, 3]), "0-3");
        assert_eq!(ranges(&[2]), "2");
        assert_eq!(ranges(&[0, 1, 3, 5, 6]), "0-1,3,5-6");
    }

    #[test]
    fn quoting_survives_spaces_and_quotes() {
        assert_eq!(quote("/a/b.yaml"), "/a/b.yaml");
        assert_eq!(quote("/my dir/it's.yaml"), r"'/my dir/it'\''s.yaml'");
    }
}
