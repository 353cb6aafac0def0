//! The one place that sequences a run.
//!
//! A run of a pipeline is a sequence of phases, each done by a module that knows only its own
//! job; this module decides what runs, in which order, on what:
//!
//! 1. **inputs**: resolve `input.paths`, and for a task of a split run take its share
//!    ([`crate::io::input::partition`]);
//! 2. **stream** ([`data`], [`crate::runner`]): build the streaming stages (for a split task,
//!    with the cross-task dedup stages swapped in), decide whether to start afresh, continue from
//!    a checkpoint or skip a finished output, and stream the documents through the stages into
//!    `documents/`, `dropped/` and `rejected/`;
//! 3. **tokenize** ([`crate::stages::tokenize`]): the `tokenize` stage, a phase over the
//!    written documents (in a split run, over every task's documents, at finalize);
//! 4. **accounting and manifest** ([`crate::manifest`]): every record accounted for, then
//!    `stats.json` and `manifest.json`;
//! 5. **train** ([`crate::train`]) on the token shards when the pipeline has `train:`;
//! 6. **report** ([`crate::report`]).
//!
//! An experiment (`corpusforge ablate`: several variants of a pipeline, each trained and
//! evaluated over seeds) is sequenced in [`ablate`]. A split run's phases (signatures,
//! buckets, cluster, filter, finalize) are sequenced in [`split`]; the work of each is in [`crate::distributed`]. The command line ([`crate`]'s
//! binary) only parses arguments, calls the functions here and prints what they report through
//! [`Event`]s.

pub mod ablate;
pub mod data;
pub mod split;

use std::path::{Path, PathBuf};

pub use crate::manifest::TaskSpec;
pub use data::run_data;

use crate::config::Pipeline;
use crate::distributed::DistError;
use crate::io::input::{self, InputError};
use crate::report::{self, ReportError, ReportOptions};
use crate::runner::{RunStats, StreamError};
use crate::stages::tokenize::TokenizeError;
use crate::train::{self, TrainError, TrainOptions, TrainSummary};

/// Errors that stop a run, each naming the file, stage or phase concerned.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Reading, streaming or writing failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The tokenize phase failed.
    #[error(transparent)]
    Tokenize(#[from] TokenizeError),
    /// A task of a split run cannot start (an earlier phase is missing, or the pipeline cannot
    /// be split), or a split-run phase failed.
    #[error(transparent)]
    Split(Box<DistError>),
    /// A stage could not be built.
    #[error(transparent)]
    Build(#[from] crate::stage::registry::BuildError),
    /// The counters do not add up: a bug, reported loudly rather than hidden.
    #[error("accounting check failed:\n  {}", .0.join("\n  "))]
    Accounting(Vec<String>),
    /// The output directory cannot be used.
    #[error(transparent)]
    Output(#[from] crate::storage::OutputError),
    /// A filesystem operation on the output directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The checkpoint cannot be used to resume.
    #[error("cannot resume from {path}: {reason}")]
    Resume {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The `train:` section cannot be used on this output.
    #[error("train: {0}")]
    TrainSetup(String),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The report failed (the data and training are complete).
    #[error("the run is complete, but its report failed: {0}")]
    Report(#[from] ReportError),
}

impl From<DistError> for RunError {
    fn from(e: DistError) -> Self {
        RunError::Split(Box::new(e))
    }
}

impl From<InputError> for RunError {
    fn from(e: InputError) -> Self {
        RunError::Stream(StreamError::Input(e))
    }
}

impl From<crate::io::json::FileError> for RunError {
    fn from(e: crate::io::json::FileError) -> Self {
        RunError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

/// How to run a pipeline (command-line overrides; none of them changes what is written).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Output directory instead of `output.dir`.
    pub output: Option<PathBuf>,
    /// Threads instead of `run.threads`.
    pub threads: Option<usize>,
    /// Continue from the checkpoint in the output directory.
    pub resume: bool,
    /// Which task of a split run this is.
    pub task: TaskSpec,
    /// Show a progress bar (when stderr is a terminal).
    pub progress: bool,
}

impl RunOptions {
    /// Worker threads for `pipeline` (0: one per core).
    pub fn threads_for(&self, pipeline: &Pipeline) -> usize {
        self.threads.unwrap_or(pipeline.run.threads)
    }
}

/// What a finished data run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The output directory.
    pub out_dir: PathBuf,
    /// The counters.
    pub stats: RunStats,
    /// True when the output was already complete and nothing ran.
    pub already_complete: bool,
}

/// A report written at the end of a run.
#[derive(Debug, Clone)]
pub struct ReportDone {
    /// Kept documents in the funnel.
    pub kept: u64,
    /// Kept documents sampled for the figures that need the text.
    pub sampled: u64,
    /// Seconds it took.
    pub seconds: f64,
    /// The files written.
    pub written: report::Written,
}

/// What a run tells its caller as it goes (the command line prints these).
pub enum Event<'a> {
    /// The data phases are done (or were already complete).
    Data(&'a RunSummary),
    /// Training is done (or was already complete).
    Trained(&'a TrainSummary),
    /// The report is written.
    Report(&'a ReportDone),
}

/// The resolved output directory of `pipeline` (relative to `base_dir`), or the override.
///
/// An `s3://` output is a mirror ([`crate::storage::local_dir`]); making one checks the bucket
/// and the credentials, so a wrong address fails here, before anything is read.
pub fn output_dir(
    pipeline: &Pipeline,
    base_dir: &Path,
    opts: &RunOptions,
) -> Result<PathBuf, crate::storage::OutputError> {
    let configured = match &opts.output {
        Some(o) => o.clone(),
        None if crate::storage::is_url(&pipeline.output.dir) => PathBuf::from(&pipeline.output.dir),
        None => return Ok(input::clean(&base_dir.join(&pipeline.output.dir))),
    };
    crate::storage::local_dir(&configured).map_err(|source| crate::storage::OutputError {
        path: configured,
        source,
    })
}

/// A rayon pool of `threads` threads (0: one per core).
pub(crate) fn thread_pool(threads: usize) -> Result<rayon::ThreadPool, RunError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::Stream(StreamError::Threads(e.to_string())))
}

/// Runs `pipeline` as `corpusforge run` does: the data phases ([`run_data`]), then, for a whole
/// run (not one task of a split run, whose training and report wait for finalize), training
/// and the report ([`train_and_report`]).
pub fn run(
    pipeline: &Pipeline,
    base_dir: &Path,
    opts: &RunOptions,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<RunSummary, RunError> {
    let s = run_data(pipeline, base_dir, opts)?;
    on(Event::Data(&s));
    if !opts.task.is_split() {
        train_and_report(pipeline, base_dir, &s, opts.resume, on)?;
    }
    Ok(s)
}

/// Training (when the pipeline has `train:`) and the report (unless `output.report: false`),
/// once the data of a run is complete.
pub fn train_and_report(
    pipeline: &Pipeline,
    base_dir: &Path,
    data: &RunSummary,
    resume: bool,
    on: &mut dyn FnMut(Event<'_>),
) -> Result<(), RunError> {
    let mut train_dir = None;
    if let Some(cfg) = &pipeline.train {
        // A finished data run re-run continues (or confirms) its training rather than failing
        // on the existing checkpoints.
        let opts = TrainOptions {
            resume: resume || data.already_complete,
            progress: true,
            stop_after: None,
        };
        let paths = train::TrainPaths::resolve(cfg, base_dir, Some(&data.out_dir))
            .map_err(RunError::TrainSetup)?;
        let s = match train::train(cfg, &paths, &opts) {
            // Checkpoints inside this output from a run on its earlier data: that training
            // belongs to data that is gone, so it starts again on the new shards.
            Err(TrainError::OtherData(dir)) if dir.starts_with(&data.out_dir) => {
                tracing::info!(
                    "{}: trained on earlier data of this output; training again",
                    crate::storage::shown(&dir)
                );
                crate::storage::remove_dir_all(&dir).map_err(|e| RunError::Io {
                    path: dir.clone(),
                    source: e,
                })?;
                train::train(
                    cfg,
                    &paths,
                    &TrainOptions {
                        resume: false,
                        ..opts
                    },
                )?
            }
            r => r?,
        };
        on(Event::Trained(&s));
        train_dir = Some(paths.out);
    }
    if pipeline.output.report {
        let ropts = ReportOptions {
            seed: Some(pipeline.run.seed),
            train_dir,
            ..Default::default()
        };
        let done = write_report(&data.out_dir, None, &ropts)?;
        on(Event::Report(&done));
    }
    Ok(())
}

/// Trains with `pipeline`'s `train:` section on its output directory (`output` overrides
/// `output.dir`), as `corpusforge train PIPELINE.yaml` does.
pub fn train_pipeline(
    pipeline: &Pipeline,
    base_dir: &Path,
    output: Option<PathBuf>,
    opts: &TrainOptions,
) -> Result<TrainSummary, RunError> {
    let Some(cfg) = &pipeline.train else {
        return Err(RunError::TrainSetup(
            "the pipeline has no train: section".into(),
        ));
    };
    let ropts = RunOptions {
        output,
        ..Default::default()
    };
    let out = output_dir(pipeline, base_dir, &ropts)?;
    let paths =
        train::TrainPaths::resolve(cfg, base_dir, Some(&out)).map_err(RunError::TrainSetup)?;
    Ok(train::train(cfg, &paths, opts)?)
}

/// Builds the quality report of the run in `out` and writes it to `dir` (default
/// `OUT/report`).
pub fn write_report(
    out: &Path,
    dir: Option<PathBuf>,
    opts: &ReportOptions,
) -> Result<ReportDone, ReportError> {
    let t0 = std::time::Instant::now();
    let r = report::build(out, opts)?;
    let written = report::write(&r, &dir.unwrap_or_else(|| out.join("report")))?;
    Ok(ReportDone {
        kept: r.funnel.kept,
        sampled: r.sample.kept,
        seconds: t0.elapsed().as_secs_f64(),
        written,
    })
}
