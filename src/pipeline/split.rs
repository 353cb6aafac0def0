//! The phases of a run split into tasks, in the order a scheduler runs them:
//!
//! 1. [`signatures`] (one per task), 2. [`buckets`] (one per dedup band), 3. [`cluster`] (one
//!    job) — only when the pipeline deduplicates;
//! 4. filter: [`super::run_data`] with `--task I --tasks N` (one per task);
//! 5. [`finalize`] (one job): merged stats, the tokenize phase over every task's documents,
//!    `stats.json` and `manifest.json`; then [`finalize_run`] adds training and the report.
//!
//! [`slurm`] writes and submits all of them as dependent job arrays. Each phase's work is in
//! [`crate::distributed`]; what is decided here is where it reads and writes and with how many
//! threads.

use std::path::{Path, PathBuf};

use super::{thread_pool, Event, RunError, RunOptions, RunSummary};
use crate::config::Pipeline;
use crate::distributed::merge::{self, Merged, MergedManifest};
use crate::distributed::signatures::SignatureSummary;
use crate::distributed::slurm::{SlurmOptions, Submission};
use crate::distributed::{self, cluster::ClusterCounts, DistError};
use crate::io::input;
use crate::io::json::write_json_atomic;
use crate::manifest::{Manifest, TaskSpec};
use crate::runner::RunStats;
use crate::stages::tokenize::{self, TokenizeJob};

/// Phase 1 for `opts.task`: the task's dedup keys, sorted and checksummed.
pub fn signatures(
    pipeline: &Pipeline,
    base_dir: &Path,
    opts: &RunOptions,
) -> Result<SignatureSummary, DistError> {
    let out = super::output_dir(pipeline, base_dir, opts)?;
    distributed::signatures::run(
        pipeline,
        base_dir,
        &out,
        opts.task,
        opts.threads_for(pipeline),
        opts.progress,
    )
}

/// Phase 2: bucket unit `unit` (every unit when `None`, as many at once as there are threads)
/// of a split into `tasks`. Returns the number of units that ran (finished ones are skipped).
pub fn buckets(
    pipeline: &Pipeline,
    base_dir: &Path,
    opts: &RunOptions,
    tasks: usize,
    unit: Option<usize>,
) -> Result<usize, DistError> {
    let out = super::output_dir(pipeline, base_dir, opts)?;
    distributed::buckets::run(
        pipeline,
        base_dir,
        &out,
        opts.threads_for(pipeline),
        tasks,
        unit,
    )
}

/// Phase 3: the clusters and removal lists of a split into `tasks`; `None` when it had already
/// run.
pub fn cluster(
    pipeline: &Pipeline,
    base_dir: &Path,
    opts: &RunOptions,
    tasks: usize,
) -> Result<Option<ClusterCounts>, DistError> {
    let out = super::output_dir(pipeline, base_dir, opts)?;
    distributed::cluster::run(pipeline, base_dir, &out, tasks)
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

/// Phase 5: merges the tasks of a split run of `pipeline` into one run under `out`: stats, the
/// tokenize phase over all kept documents, `stats.json` and `manifest.json`.
pub fn finalize(
    pipeline: &Pipeline,
    base_dir: &Path,
    out: &Path,
    tasks: usize,
    threads: Option<usize>,
) -> Result<Finalized, RunError> {
    let hash = pipeline.data_hash();
    let all = input::resolve_inputs(&pipeline.input, base_dir)?;
    let split_hash = distributed::phase_hash_of(pipeline, &all);
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
    distributed::fail_on_purpose("finalize", 0)?;
    let mut merged = merge::merge_stats(out, Some(tasks))?;
    if merged.config_hash != hash {
        return Err(DistError::Stale {
            path: out.join("tasks"),
            what: format!(
                "config {} (the pipeline is now {hash}); rerun the tasks",
                merged.config_hash
            ),
        }
        .into());
    }
    let mpath = out.join("manifest.json");
    let _ = crate::storage::remove_file(&mpath);
    merge::remove_unlisted(out, &merged.outputs)?;
    let pool = thread_pool(threads.unwrap_or(pipeline.run.threads))?;
    let started = std::time::Instant::now();
    let tokens = tokenize_merged(pipeline, base_dir, out, &all, &pool, &mut merged)?;
    merged.stats.seconds += started.elapsed().as_secs_f64();
    merged.stats.verify().map_err(RunError::Accounting)?;
    write_json_atomic(&out.join("stats.json"), &merged.stats)?;
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
            calibrations: Vec::new(),
            language_settings: crate::manifest::language_settings_used(pipeline),
        },
        tasks,
    };
    write_json_atomic(&mpath, &m)?;
    Ok(Finalized {
        out: out.to_path_buf(),
        stats: merged.stats,
        tasks,
        already: false,
    })
}

/// The tokenize phase over every task's kept documents, in single-process order; the tasks'
/// stats already hold the tokenize stage's entry. Without a tokenize stage, stale token outputs
/// are removed.
fn tokenize_merged(
    pipeline: &Pipeline,
    base_dir: &Path,
    out: &Path,
    all: &[input::InputFile],
    pool: &rayon::ThreadPool,
    merged: &mut Merged,
) -> Result<Option<tokenize::TokenSummary>, RunError> {
    let Some((index, _)) = tokenize::find(pipeline) else {
        tokenize::clear_outputs(out, true)?;
        return Ok(None);
    };
    let expected_docs = merged
        .stats
        .stages
        .get(index)
        .map(|s| s.kept)
        .ok_or_else(|| {
            RunError::Accounting(vec![format!("no counters for stage {index} (tokenize)")])
        })?;
    let Some(t) = tokenize::run(TokenizeJob {
        pipeline,
        base_dir,
        out,
        pool,
        docs: merged.documents(out, all),
        expected_docs,
    })?
    else {
        return Ok(None);
    };
    super::data::add_tokenize_counters(&mut merged.stats.stages[index], &t);
    merged.outputs.extend(t.files);
    Ok(Some(t.summary))
}

/// `corpusforge finalize`: [`finalize`], then training and the report of the merged run.
pub fn finalize_run(
    pipeline: &Pipeline,
    base_dir: &Path,
    opts: &RunOptions,
    tasks: usize,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<Finalized, RunError> {
    let out = super::output_dir(pipeline, base_dir, opts)?;
    let f = finalize(pipeline, base_dir, &out, tasks, opts.threads)?;
    let s = RunSummary {
        out_dir: f.out.clone(),
        stats: f.stats.clone(),
        already_complete: f.already,
    };
    on(Event::Data(&s));
    super::train_and_report(pipeline, base_dir, &s, false, on)?;
    Ok(f)
}

/// `corpusforge merge-stats`: the tasks' counters added up and checked; writes
/// `OUT/stats.json` unless the run is finalized. Returns the merge and whether it was.
pub fn merge_stats(out: &Path) -> Result<(Merged, bool), DistError> {
    merge::write_merged_stats(out)
}

/// `corpusforge ray`: runs every unfinished phase of a split of `pipeline` (read from
/// `pipeline_path`) as Ray tasks.
pub fn ray(
    pipeline: &Pipeline,
    pipeline_path: &Path,
    base_dir: &Path,
    output: Option<PathBuf>,
    opts: &distributed::ray::RayOptions,
) -> Result<distributed::ray::RayDone, DistError> {
    let ropts = RunOptions {
        output,
        ..Default::default()
    };
    let out = super::output_dir(pipeline, base_dir, &ropts)?;
    distributed::ray::run(pipeline, pipeline_path, base_dir, &out, opts)
}

/// `corpusforge slurm`: writes the job scripts of every unfinished phase of a split of
/// `pipeline` (read from `pipeline_path`) and submits them unless `opts.dry_run`.
pub fn slurm(
    pipeline: &Pipeline,
    pipeline_path: &Path,
    base_dir: &Path,
    output: Option<PathBuf>,
    opts: &SlurmOptions,
) -> Result<Submission, DistError> {
    let ropts = RunOptions {
        output,
        ..Default::default()
    };
    let out = super::output_dir(pipeline, base_dir, &ropts)?;
    distributed::slurm::submit(pipeline, pipeline_path, base_dir, &out, opts)
}
