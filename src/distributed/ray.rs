//! `corpusforge ray`: the phases of a split run as Ray tasks on an existing Ray cluster.
//!
//! Ray schedules; corpusforge writes a plan (the phases in order, and for each the command
//! line of every part not yet done, see [`super::phases`]) and runs a small Python driver
//! (`ray_driver.py`, shipped in the binary) that submits each part as a Ray task with its CPUs,
//! waits for the phase, and retries a failed task (`--retries`). Every task is a `corpusforge`
//! process; with the output in an object store (`s3://`), the store is the only thing the
//! tasks share, so the nodes need no common filesystem. Finished parts are left out of the
//! plan and a finished phase command exits at once, so running the same command again after
//! a failure runs exactly what is left.
//!
//! Progress comes on standard output (a line per finished task and per failed attempt); each
//! task's log, every attempt in order, is written to `OUT/ray/logs/PHASE-PART.log` (in the
//! store for an `s3://` output), with the plan beside it in `OUT/ray/plan.json`.
//!
//! The tasks get the environment of the Ray worker that runs them plus the `AWS_*` and
//! `CORPUSFORGE_*` variables of this command. The corpusforge binary must be at the same path
//! on every node (`--binary`), and Python with the `ray` package where this command runs
//! (`--python`, default `$CORPUSFORGE_PYTHON` or `python3`).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use super::{io_err, DistError};
use crate::config::Pipeline;

/// The driver, written next to the plan and run with Python.
const DRIVER: &str = include_str!("ray_driver.py");

/// Settings of `corpusforge ray`.
#[derive(Debug, Clone, Default)]
pub struct RayOptions {
    /// Tasks of the split (`--tasks`).
    pub tasks: usize,
    /// The cluster (`--address`, e.g. `auto` or `HOST:PORT`); default `RAY_ADDRESS`.
    pub address: Option<String>,
    /// CPUs each task reserves (and worker threads it uses).
    pub cpus_per_task: usize,
    /// Times a failed task is tried again.
    pub retries: usize,
    /// The Python that has the `ray` package.
    pub python: Option<PathBuf>,
    /// The corpusforge binary the tasks run (default: this one).
    pub binary: Option<PathBuf>,
}

#[derive(Serialize)]
struct PlanTask {
    part: usize,
    argv: Vec<String>,
}

#[derive(Serialize)]
struct PlanPhase {
    phase: &'static str,
    tasks: Vec<PlanTask>,
}

#[derive(Serialize)]
struct Plan {
    address: Option<String>,
    retries: usize,
    cpus_per_task: usize,
    log_dir: PathBuf,
    env: std::collections::BTreeMap<String, String>,
    phases: Vec<PlanPhase>,
}

/// What a `corpusforge ray` command did.
#[derive(Debug, Clone)]
pub struct RayDone {
    /// Per phase: (name, parts run, parts already done).
    pub phases: Vec<(&'static str, usize, usize)>,
    /// Where the logs are (an `s3://` address for an object store output).
    pub logs: String,
}

/// Runs every unfinished phase of `pipeline` (read from `pipeline_path`) split into
/// `opts.tasks` on the Ray cluster, with output in `out` (a local directory, or the mirror of
/// an object store prefix).
pub fn run(
    pipeline: &Pipeline,
    pipeline_path: &Path,
    base_dir: &Path,
    out: &Path,
    opts: &RayOptions,
) -> Result<RayDone, DistError> {
    let out = std::path::absolute(out).map_err(io_err(base_dir))?;
    let pipeline_path = std::path::absolute(pipeline_path).map_err(io_err(pipeline_path))?;
    let binary = match &opts.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().map_err(io_err(Path::new("corpusforge")))?,
    };
    let output = crate::storage::shown(&out);
    if crate::storage::remote_of(&out).is_none() {
        tracing::warn!(
            "the output {output} is a local path: every Ray node must see it at that path (a \
             shared filesystem); an s3:// output needs none"
        );
    }
    if pipeline
        .input
        .paths
        .iter()
        .any(|p| !crate::storage::is_url(p))
    {
        tracing::warn!(
            "some inputs are local paths: every Ray node must see them at the same path"
        );
    }
    let n = opts.tasks;
    let cpus = opts.cpus_per_task.max(1);
    let threads = cpus.to_string();
    let all = super::phases::phases(pipeline, base_dir, &out, n)?;
    let ray_dir = out.join("ray");
    let log_dir = ray_dir.join("logs");
    std::fs::create_dir_all(&log_dir).map_err(io_err(&log_dir))?;

    let mut summary = Vec::new();
    let mut phases = Vec::new();
    for p in &all {
        let todo: Vec<usize> = (0..p.done.len()).filter(|&i| !p.done[i]).collect();
        summary.push((p.name, todo.len(), p.done.len() - todo.len()));
        if todo.is_empty() {
            continue;
        }
        let tasks = todo
            .into_iter()
            .map(|part| PlanTask {
                part,
                argv: p.argv(
                    &binary.to_string_lossy(),
                    &pipeline_path.to_string_lossy(),
                    &output,
                    n,
                    &threads,
                    &part.to_string(),
                ),
            })
            .collect();
        phases.push(PlanPhase {
            phase: p.name,
            tasks,
        });
    }
    let logs = crate::storage::shown(&log_dir);
    if phases.is_empty() {
        return Ok(RayDone {
            phases: summary,
            logs,
        });
    }
    let env = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("CORPUSFORGE_"))
        .filter(|(k, _)| k != crate::storage::SCRATCH_ENV)
        .collect();
    let plan = Plan {
        address: opts.address.clone(),
        retries: opts.retries,
        cpus_per_task: cpus,
        log_dir: log_dir.clone(),
        env,
        phases,
    };
    let plan_path = ray_dir.join("plan.json");
    crate::io::json::write_json_atomic(&plan_path, &plan)?;
    let driver = ray_dir.join("ray_driver.py");
    std::fs::write(&driver, DRIVER).map_err(io_err(&driver))?;

    let python = opts
        .python
        .clone()
        .or_else(|| std::env::var_os("CORPUSFORGE_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let status = Command::new(&python)
        .arg(&driver)
        .arg(&plan_path)
        .status()
        .map_err(|e| {
            DistError::Usage(format!(
                "cannot run {} ({e}); --python names a Python with the ray package",
                python.display()
            ))
        });
    // The logs of what ran go to the store even when a task failed.
    let published = crate::storage::publish(&ray_dir).map_err(io_err(&ray_dir));
    let status = status?;
    published?;
    match status.code() {
        Some(0) => Ok(RayDone {
            phases: summary,
            logs,
        }),
        Some(3) => Err(DistError::Usage(format!(
            "no Ray cluster could be reached{} (or {} lacks the ray package); start one with \
             `ray start --head` or pass --address",
            opts.address
                .as_deref()
                .map(|a| format!(" at {a}"))
                .unwrap_or_default(),
            python.display()
        ))),
        _ => Err(DistError::Usage(format!(
            "a Ray task failed after {} retries ({status}); its log is under {logs}; run the \
             same command again to run what is left",
            opts.retries
        ))),
    }
}
