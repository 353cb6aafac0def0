//! The data phases of a run (or of one task of a split run): inputs → stream → tokenize →
//! accounting → manifest.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{thread_pool, RunError, RunOptions, RunSummary};
use crate::config::Pipeline;
use crate::distributed;
use crate::io::input::{self, InputFile};
use crate::io::writer::ShardFile;
use crate::manifest::{self, TaskSpec};
use crate::runner::{self, Checkpoint, CheckpointTarget, RunStats, StageStats};
use crate::stage::{registry, Stage};
use crate::stages::tokenize::{self, DocSource, TokenSummary, TokenizeJob};

/// Runs the data phases of `pipeline` (whose relative paths are relative to `base_dir`): the
/// stream, the tokenize phase (not in a task of a split run: finalize tokenizes every task's
/// documents), the accounting check and the manifest. A finished output is left alone by
/// `--resume` and by a relaunched split task; an interrupted one continues from its checkpoint.
pub fn run_data(
    pipeline: &Pipeline,
    base_dir: &Path,
    opts: &RunOptions,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let plan = DataPlan::new(pipeline, base_dir, opts)?;
    if let Some(done) = plan.finished(opts) {
        return Ok(done);
    }
    let resume_from = plan.checkpoint(opts)?;
    plan.prepare_output(resume_from.is_some())?;
    let prior_seconds = resume_from.as_ref().map_or(0.0, |c| c.stats.seconds);

    // Input hashes for the manifest, computed beside the run.
    let hash_files = plan.files.clone();
    let hasher = std::thread::spawn(move || manifest::hash_inputs(&hash_files));
    let pool = thread_pool(opts.threads_for(pipeline))?;
    let (stages, calibrations) = plan.build_stages()?;
    let streamed = runner::stream(runner::Job {
        files: plan.files.clone(),
        ranks: input::file_ranks(&plan.all_files, &plan.files),
        input: &pipeline.input,
        specs: pipeline.streaming_stages(),
        stages,
        output: &pipeline.output,
        out: &plan.out,
        shard_prefix: plan.task.shard_prefix(),
        batch_size: pipeline.run.batch_size,
        checkpoint: plan.checkpoint.clone(),
        checkpoint_every: Duration::from_secs(pipeline.run.checkpoint_seconds),
        resume_from,
        pool: &pool,
        progress: opts.progress,
    })?;
    let (mut stats, mut outputs) = (streamed.stats, streamed.outputs);
    let tokens = plan.tokenize(&pool, &mut stats, &mut outputs)?;
    stats.seconds = prior_seconds + started.elapsed().as_secs_f64();
    check_accounting(&stats, &outputs)?;
    warn_languages_without_settings(&stats);
    let inputs = hasher.join().unwrap_or_else(|_| Vec::new());
    manifest::write(
        &plan.out,
        plan.task,
        pipeline,
        &plan.config_hash,
        pool.current_num_threads(),
        &inputs,
        &outputs,
        &stats,
        tokens.as_ref(),
        plan.split_hash.as_deref(),
        &calibrations,
    )?;
    plan.clean_up();
    Ok(RunSummary {
        out_dir: plan.out,
        stats,
        already_complete: false,
    })
}

/// What one data run works on, decided before anything is read.
struct DataPlan<'a> {
    pipeline: &'a Pipeline,
    base_dir: &'a Path,
    out: PathBuf,
    task: TaskSpec,
    /// Every resolved input of the run.
    all_files: Vec<InputFile>,
    /// This task's share of them.
    files: Vec<InputFile>,
    config_hash: String,
    /// For a split task: the config and every input of the run, which its dedup decisions
    /// depend on.
    split_hash: Option<String>,
    checkpoint: CheckpointTarget,
    manifest_path: PathBuf,
}

impl<'a> DataPlan<'a> {
    fn new(
        pipeline: &'a Pipeline,
        base_dir: &'a Path,
        opts: &RunOptions,
    ) -> Result<Self, RunError> {
        let out = super::output_dir(pipeline, base_dir, opts)?;
        let task = opts.task;
        let split = task.is_split();
        if split {
            distributed::check_task(task)?;
        }
        let all_files = input::resolve_inputs(&pipeline.input, base_dir)?;
        let files = input::partition(&all_files, task.count)
            .swap_remove(task.index.min(task.count.max(1) - 1));
        if split {
            distributed::check_file_count(all_files.len())?;
            if files.is_empty() {
                tracing::warn!(
                    "task {} of {} has no input files: there are only {} to share out",
                    task.index,
                    task.count,
                    all_files.len()
                );
            }
        }
        let config_hash = pipeline.data_hash();
        let split_hash = split.then(|| distributed::phase_hash_of(pipeline, &all_files));
        let resume_dir = out.join(".resume");
        let (path, state_prefix) = if split {
            (
                resume_dir.join(format!("checkpoint-{:05}.json", task.index)),
                format!("state-t{:05}-", task.index),
            )
        } else {
            (resume_dir.join("checkpoint.json"), "state-".to_string())
        };
        let checkpoint = CheckpointTarget {
            path,
            resume_dir,
            config_hash: config_hash.clone(),
            owner: task.to_string(),
            state_prefix,
        };
        Ok(DataPlan {
            pipeline,
            base_dir,
            manifest_path: manifest::manifest_path(&out, task),
            out,
            task,
            all_files,
            files,
            config_hash,
            split_hash,
            checkpoint,
        })
    }

    /// True when the output may already hold this run: `--resume`, or a split task (which its
    /// scheduler relaunches).
    fn may_continue(&self, opts: &RunOptions) -> bool {
        opts.resume || self.task.is_split()
    }

    /// The summary of a finished output of this very run (same config and, for a split task,
    /// the same inputs of the whole run), which is then left alone.
    fn finished(&self, opts: &RunOptions) -> Option<RunSummary> {
        if !self.may_continue(opts) {
            return None;
        }
        let m = manifest::read(&self.manifest_path)?;
        let same_inputs = self.split_hash.is_none() || m.split_hash == self.split_hash;
        (m.complete && m.config_hash == self.config_hash && same_inputs).then(|| RunSummary {
            out_dir: self.out.clone(),
            stats: m.stats,
            already_complete: true,
        })
    }

    /// The checkpoint to continue from, if this run may continue and one is there.
    fn checkpoint(&self, opts: &RunOptions) -> Result<Option<Checkpoint>, RunError> {
        if !self.may_continue(opts) {
            return Ok(None);
        }
        let path = &self.checkpoint.path;
        let Some(c) = Checkpoint::read(path)? else {
            return Ok(None);
        };
        if c.config_hash != self.config_hash {
            return Err(RunError::Resume {
                path: path.clone(),
                reason: format!(
                    "the pipeline changed since (config hash {} now, {} then); run without --resume",
                    self.config_hash, c.config_hash
                ),
            });
        }
        if c.owner != self.checkpoint.owner {
            return Err(RunError::Resume {
                path: path.clone(),
                reason: "it belongs to another task split".into(),
            });
        }
        Ok(Some(c))
    }

    /// Clears what a fresh start must not find: a whole run's earlier outputs (and a split
    /// run's task outputs and exchange files, stale now), or a split task's own files.
    fn prepare_output(&self, resuming: bool) -> Result<(), RunError> {
        let out = &self.out;
        if !resuming && !self.task.is_split() {
            for d in [
                "documents",
                "dropped",
                "rejected",
                ".resume",
                "tasks",
                ".dedup",
            ] {
                let p = out.join(d);
                if crate::storage::exists(&p) {
                    crate::storage::remove_dir_all(&p).map_err(io_err(&p))?;
                }
            }
            for f in ["stats.json", "manifest.json"] {
                let _ = crate::storage::remove_file(&out.join(f));
            }
        }
        if !resuming && self.task.is_split() {
            distributed::fail_on_purpose("filter", self.task.index)?;
            clear_task_files(out, &self.task.shard_prefix())?;
            let _ = crate::storage::remove_file(&self.manifest_path);
        }
        let dir = &self.checkpoint.resume_dir;
        fs::create_dir_all(dir).map_err(io_err(dir))
    }

    /// The streaming stages; in a split task, each dedup stage is replaced by one that applies
    /// the removal lists of the cluster phase.
    fn build_stages(&self) -> Result<(Vec<Stage>, Vec<registry::Calibration>), RunError> {
        let ctx = registry::BuildContext {
            base_dir: self.base_dir,
        };
        let sampling = registry::Sampling::From {
            input: &self.pipeline.input,
            files: &self.all_files,
            seed: self.pipeline.run.seed,
        };
        let (mut stages, calibrations) =
            registry::build_calibrated(self.pipeline.streaming_stages(), &ctx, sampling)?;
        if self.task.is_split() {
            distributed::apply::replace_dedup_stages(
                self.pipeline,
                self.base_dir,
                &self.out,
                self.task,
                &mut stages,
            )?;
        }
        Ok((stages, calibrations))
    }

    /// The tokenize stage's counters after the stream (it keeps every document that reaches
    /// it), then, in a whole run, the tokenize phase over the written documents; without a
    /// tokenize stage, the token outputs of an earlier run are removed.
    fn tokenize(
        &self,
        pool: &rayon::ThreadPool,
        stats: &mut RunStats,
        outputs: &mut Vec<ShardFile>,
    ) -> Result<Option<TokenSummary>, RunError> {
        let Some(index) = tokenize_stage_stats(self.pipeline, stats) else {
            if !self.task.is_split() {
                tokenize::clear_outputs(&self.out, true)?;
            }
            return Ok(None);
        };
        if self.task.is_split() {
            return Ok(None);
        }
        let docs = DocSource::Shards(
            outputs
                .iter()
                .filter(|f| f.path.starts_with("documents/"))
                .map(|f| self.out.join(&f.path))
                .collect(),
        );
        let Some(t) = tokenize::run(TokenizeJob {
            pipeline: self.pipeline,
            base_dir: self.base_dir,
            out: &self.out,
            pool,
            docs,
            expected_docs: stats.stages[index].kept,
        })?
        else {
            return Ok(None);
        };
        add_tokenize_counters(&mut stats.stages[index], &t);
        outputs.extend(t.files);
        Ok(Some(t.summary))
    }

    /// Removes the checkpoint and stage state of a finished run.
    fn clean_up(&self) {
        self.checkpoint.remove();
        if !self.task.is_split() {
            let _ = crate::storage::remove_dir_all(&self.checkpoint.resume_dir);
        }
    }
}

/// Says, per stage with language options, which documents were in a language neither
/// `language_defaults` nor `languages` gives settings for (counted as `settings:<lang>=none`):
/// they were checked with the stage's own options, which may not suit them.
fn warn_languages_without_settings(stats: &RunStats) {
    for st in &stats.stages {
        let none: Vec<String> = st
            .counters
            .iter()
            .filter_map(|(k, n)| {
                let lang = k.strip_prefix("settings:")?.strip_suffix("=none")?;
                Some(format!("{lang} {n}"))
            })
            .collect();
        if !none.is_empty() {
            tracing::warn!(
                "stages[{}] ({}): documents in languages without settings were checked with the stage's own options: {} (give them settings with `languages:` or `language_defaults`)",
                st.index,
                st.kind,
                none.join(", ")
            );
        }
    }
}

/// Appends the tokenize stage's entry to `stats` (which hold the streaming stages): it saw and
/// kept every document that left the stream. Returns its index in `stats.stages`, or `None`
/// when the pipeline has no tokenize stage.
pub(crate) fn tokenize_stage_stats(pipeline: &Pipeline, stats: &mut RunStats) -> Option<usize> {
    let (index, _) = tokenize::find(pipeline)?;
    stats.stages.push(StageStats {
        index,
        kind: "tokenize".to_string(),
        seen: stats.kept,
        kept: stats.kept,
        bytes_in: stats.kept_bytes,
        bytes_out: stats.kept_bytes,
        ..Default::default()
    });
    Some(stats.stages.len() - 1)
}

/// Adds what the tokenize phase counted to its stage's entry.
pub(crate) fn add_tokenize_counters(stage: &mut StageStats, t: &tokenize::Tokenized) {
    for (k, v) in &t.counters {
        stage.counters.insert(k.clone(), *v);
    }
    stage.seconds += t.seconds;
}

/// Every record accounted for, and every kept document written.
fn check_accounting(stats: &RunStats, outputs: &[ShardFile]) -> Result<(), RunError> {
    stats.verify().map_err(RunError::Accounting)?;
    let written_kept: u64 = outputs
        .iter()
        .filter(|f| f.path.starts_with("documents/"))
        .map(|f| f.rows)
        .sum();
    if written_kept != stats.kept {
        return Err(RunError::Accounting(vec![format!(
            "{} documents kept but {} written",
            stats.kept, written_kept
        )]));
    }
    Ok(())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Removes the files of a split run's task (named `PREFIX-*`, open shards' segments included)
/// from the documents, dropped and rejected datasets, for a fresh start of that task.
fn clear_task_files(out: &Path, prefix: &str) -> Result<(), RunError> {
    fn walk(dir: &Path, prefix: &str) -> Result<(), RunError> {
        let Ok(names) = crate::storage::read_dir(dir) else {
            return Ok(());
        };
        for (name, is_dir) in names {
            let p = dir.join(&name);
            if is_dir {
                walk(&p, prefix)?;
            } else if name
                .trim_start_matches('.')
                .starts_with(&format!("{prefix}-"))
            {
                crate::storage::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        Ok(())
    }
    for d in ["documents", "dropped", "rejected"] {
        walk(&out.join(d), prefix)?;
    }
    Ok(())
}
