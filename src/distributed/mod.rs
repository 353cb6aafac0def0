//! A run split into tasks, with deduplication across tasks.
//!
//! `corpusforge run P --task I --tasks N` processes task I's share of the inputs
//! ([`input::partition`]: whole files, balanced by size, deterministic) and writes its own
//! shards (`part-tIIIII-NNNNN.parquet`), stats and manifest (`OUT/tasks/task-IIIII/`, the
//! completion marker). A task that completed is skipped when launched again; one that was
//! interrupted continues from its checkpoint. `corpusforge merge-stats OUT` adds the tasks'
//! counters up and checks that every input record is accounted for.
//!
//! Dedup stages decide against documents seen before in input order, which a task cannot see
//! on its own. So a pipeline with `exact_dedup` or `minhash_dedup` runs in phases that exchange
//! files under `OUT/.dedup/` (the [`records`] format: framed, checksummed, sorted):
//!
//! 1. **signatures** (N tasks, [`signatures`]): each task runs the stages up to the last dedup
//!    stage, dropping nothing at dedup stages, and writes for every dedup stage and band the
//!    (key, seq) pairs of the documents that reach it, sorted, plus the ids of its documents.
//!    A document's `seq` is its position in the input order of the whole run.
//! 2. **buckets** (one unit per dedup stage and band, [`buckets`]): merges the tasks' sorted
//!    files of one band and numbers every key shared by two or more documents (a bucket: every
//!    pair in it is a candidate pair), writing the members sorted by seq.
//! 3. **cluster** (one job, [`cluster`]): for each dedup stage in pipeline order, walks the
//!    bucket members of all bands in seq order and applies the single-process rule: a document
//!    is a duplicate of the earliest kept document it shares a bucket with, and is kept (the
//!    root of its cluster) when there is none; documents removed by an earlier dedup stage take
//!    no part. The union is found with each kept document as the root of its cluster. The
//!    removal lists (seq, kept seq, cluster id, kept id) are written per task and stage.
//! 4. **filter** (N tasks: `run --task I --tasks N`, [`apply`]): the normal run, with each
//!    dedup stage replaced by one that drops the documents on its removal list with the same
//!    reason, `duplicate_of` and `cluster_id` as the single-process stage.
//! 5. **finalize** (one job, [`merge`]): merges the stats, then tokenizes the kept documents of
//!    all tasks in the single-process order, trains and writes the report.
//!
//! The result equals the single-process run's. What is not supported across tasks is refused
//! with a message: `paragraph_dedup` (it rewrites text from a global state) and
//! `minhash_dedup.verify_threshold` (the cluster phase would need every candidate's signature).
//! Each phase writes a marker when it is done, so relaunching a phase skips finished work.

pub mod apply;
pub mod buckets;
pub mod cluster;
pub mod merge;
pub mod phases;
pub mod ray;
pub mod records;
pub mod signatures;
pub mod slurm;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Pipeline, StageSpec};
use crate::io::input;
use crate::io::json::FileError;
use crate::manifest::TaskSpec;
use crate::runner::{StreamError, SEQ_RECORD_BITS};
pub use records::RecordError;

/// Errors of the split-run phases; each names the file, task or stage concerned.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// An exchange file is unreadable, damaged or unsorted.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The inputs could not be resolved or read.
    #[error(transparent)]
    Input(#[from] input::InputError),
    /// Streaming the documents failed.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// A stage could not be built.
    #[error(transparent)]
    Build(#[from] crate::stage::registry::BuildError),
    /// The counters do not add up.
    #[error("accounting check failed:\n  {}", .0.join("\n  "))]
    Accounting(Vec<String>),
    /// A filesystem operation failed.
    /// The output directory cannot be used.
    #[error(transparent)]
    Output(#[from] crate::storage::OutputError),
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An earlier phase has not finished for some tasks or units.
    #[error("the {phase} phase is not complete: missing {}", .missing.join(", "))]
    NotReady {
        /// The phase whose output is missing.
        phase: &'static str,
        /// What is missing.
        missing: Vec<String>,
    },
    /// The earlier phase's output belongs to another config or task count.
    #[error(
        "{path}: written for {what}; rerun the phases from `signatures` (or delete OUT/.dedup)"
    )]
    Stale {
        /// The marker.
        path: PathBuf,
        /// What it was written for.
        what: String,
    },
    /// The pipeline cannot run split across tasks.
    #[error("{0}")]
    Unsupported(String),
    /// Arguments that do not fit together.
    #[error("{0}")]
    Usage(String),
}

impl From<FileError> for DistError {
    fn from(e: FileError) -> Self {
        DistError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

/// A rayon pool of `threads` threads (0: one per core).
pub(crate) fn pool(threads: usize) -> Result<rayon::ThreadPool, DistError> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| DistError::Stream(StreamError::Threads(e.to_string())))
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DistError + '_ {
    move |source| DistError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a dedup stage compares.
#[derive(Debug, Clone)]
pub enum DedupKind {
    /// `exact_dedup`: one key per document (xxh3-128 of the normalized text).
    Exact(crate::stages::dedup::exact::ExactDedupConfig),
    /// `minhash_dedup`: one key per band.
    Minhash(crate::stages::dedup::minhash::MinhashDedupConfig),
}

/// A dedup stage of the pipeline.
#[derive(Debug, Clone)]
pub struct DedupStage {
    /// Its index in `stages:`.
    pub index: usize,
    /// What it compares.
    pub kind: DedupKind,
}

impl DedupStage {
    /// Keys per document (bands; 1 for exact).
    pub fn bands(&self) -> usize {
        match &self.kind {
            DedupKind::Exact(_) => 1,
            DedupKind::Minhash(c) => c.bands.max(1),
        }
    }

    /// What its signature files hold.
    pub fn key_kind(&self) -> records::Kind {
        match &self.kind {
            DedupKind::Exact(_) => records::Kind::Hashes,
            DedupKind::Minhash(_) => records::Kind::BandKeys,
        }
    }

    /// The drop reason (the part after `dedup:`).
    pub fn reason(&self) -> &'static str {
        match &self.kind {
            DedupKind::Exact(_) => "exact",
            DedupKind::Minhash(_) => "near",
        }
    }
}

/// The dedup stages of `pipeline`, in order; refuses stages that cannot run split.
pub fn plan(pipeline: &Pipeline) -> Result<Vec<DedupStage>, DistError> {
    let mut v = Vec::new();
    for (index, s) in pipeline.stages.iter().enumerate() {
        match s {
            StageSpec::ExactDedup(c) => v.push(DedupStage {
                index,
                kind: DedupKind::Exact(c.clone()),
            }),
            StageSpec::MinhashDedup(c) => {
                if c.verify_threshold.is_some() {
                    return Err(DistError::Unsupported(format!(
                        "stages[{index}] (minhash_dedup): verify_threshold is not supported in a \
                         run split into tasks; remove it or run as one task"
                    )));
                }
                v.push(DedupStage {
                    index,
                    kind: DedupKind::Minhash(c.clone()),
                })
            }
            StageSpec::ParagraphDedup(_) => {
                return Err(DistError::Unsupported(format!(
                    "stages[{index}] (paragraph_dedup): removing paragraphs seen before needs \
                     every earlier document's text, which a task split cannot give; run it as \
                     one task"
                )))
            }
            _ => {}
        }
    }
    Ok(v)
}

/// One bucket unit: a band of a dedup stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    /// Position in [`plan`]'s list.
    pub dedup: usize,
    /// The stage's index in `stages:`.
    pub stage: usize,
    /// The band.
    pub band: usize,
}

/// Every (stage, band) unit of the bucket phase, in order.
pub fn units(plan: &[DedupStage]) -> Vec<Unit> {
    plan.iter()
        .enumerate()
        .flat_map(|(dedup, s)| {
            (0..s.bands()).map(move |band| Unit {
                dedup,
                stage: s.index,
                band,
            })
        })
        .collect()
}

/// Where the phases keep their files under `OUT/.dedup/`.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `OUT/.dedup`.
    pub root: PathBuf,
}

impl Layout {
    /// The layout under `out`.
    pub fn new(out: &Path) -> Self {
        Layout {
            root: out.join(".dedup"),
        }
    }
    /// A task's signature directory.
    pub fn sig_dir(&self, task: usize) -> PathBuf {
        self.root.join("signatures").join(format!("task-{task:05}"))
    }
    /// The sorted keys of a task for one stage and band.
    pub fn sig_file(&self, task: usize, stage: usize, band: usize) -> PathBuf {
        self.sig_dir(task)
            .join(format!("s{stage:03}-b{band:03}.sig"))
    }
    /// The ids of a task's documents.
    pub fn ids_file(&self, task: usize) -> PathBuf {
        self.sig_dir(task).join("ids.ids")
    }
    /// The marker of a finished signatures task.
    pub fn sig_done(&self, task: usize) -> PathBuf {
        self.sig_dir(task).join("done.json")
    }
    /// The bucket members of one stage and band.
    pub fn bucket_file(&self, stage: usize, band: usize) -> PathBuf {
        self.root
            .join("buckets")
            .join(format!("s{stage:03}-b{band:03}.bkt"))
    }
    /// The marker of a finished bucket unit.
    pub fn bucket_done(&self, stage: usize, band: usize) -> PathBuf {
        self.root
            .join("buckets")
            .join(format!("s{stage:03}-b{band:03}.done.json"))
    }
    /// The removal list of a task for one stage.
    pub fn removals_file(&self, task: usize, stage: usize) -> PathBuf {
        self.root
            .join("removals")
            .join(format!("task-{task:05}"))
            .join(format!("s{stage:03}.rm"))
    }
    /// The marker of the finished cluster phase.
    pub fn cluster_done(&self) -> PathBuf {
        self.root.join("removals").join("done.json")
    }
}

/// What a phase writes when one of its tasks or units is done.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Marker {
    /// The phase.
    pub phase: String,
    /// What the phase's output depends on ([`phase_hash`]): the data config and the inputs.
    pub config_hash: String,
    /// Tasks of the split.
    pub tasks: usize,
    /// Which task or unit.
    pub part: usize,
    /// Counts the phase reports.
    pub counts: serde_json::Map<String, serde_json::Value>,
}

impl Marker {
    /// Writes the marker atomically.
    pub fn write(&self, path: &Path) -> Result<(), DistError> {
        Ok(crate::io::json::write_json_atomic(path, self)?)
    }

    /// The marker at `path`, if there is a readable one.
    pub fn read(path: &Path) -> Option<Marker> {
        serde_json::from_str(&crate::storage::read_to_string(path).ok()?).ok()
    }

    /// The marker at `path` if it was written for this config and task count.
    pub fn current(path: &Path, hash: &str, tasks: usize) -> Option<Marker> {
        Marker::read(path).filter(|m| m.config_hash == hash && m.tasks == tasks)
    }
}

/// Checks that every marker in `paths` (named by `labels`) is present and current.
pub(crate) fn require(
    phase: &'static str,
    paths: &[(PathBuf, String)],
    hash: &str,
    tasks: usize,
) -> Result<Vec<Marker>, DistError> {
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for (p, label) in paths {
        match Marker::read(p) {
            None => missing.push(label.clone()),
            Some(m) if m.config_hash != hash || m.tasks != tasks => {
                return Err(DistError::Stale {
                    path: p.clone(),
                    what: format!(
                        "config and inputs {} and {} tasks (now {hash} and {tasks})",
                        m.config_hash, m.tasks
                    ),
                })
            }
            Some(m) => found.push(m),
        }
    }
    if !missing.is_empty() {
        return Err(DistError::NotReady { phase, missing });
    }
    Ok(found)
}

/// The inputs of the whole run and, for each file rank, the task that reads it.
pub(crate) struct Inputs {
    /// `task_of_rank[r]`: the task reading the file of rank `r`.
    pub task_of_rank: Vec<usize>,
}

impl Inputs {
    /// The split of `all` (every resolved input of the run) into `tasks`.
    pub(crate) fn of(all: &[input::InputFile], tasks: usize) -> Self {
        let groups = input::partition(all, tasks);
        let mut task_of_rank = vec![0; all.len()];
        for (t, g) in groups.iter().enumerate() {
            for r in input::file_ranks(all, g) {
                task_of_rank[r as usize] = t;
            }
        }
        Inputs { task_of_rank }
    }

    /// The task that read the document with `seq`.
    pub(crate) fn task_of(&self, seq: u64) -> usize {
        self.task_of_rank
            .get((seq >> SEQ_RECORD_BITS) as usize)
            .copied()
            .unwrap_or(0)
    }
}

/// Checks that every document of `files` input files gets a distinct seq.
pub fn check_file_count(files: usize) -> Result<(), DistError> {
    let max = 1usize << (64 - SEQ_RECORD_BITS);
    if files >= max {
        return Err(DistError::Unsupported(format!(
            "{files} input files: a run split into tasks takes at most {} (concatenate some)",
            max - 1
        )));
    }
    Ok(())
}

/// The identity every phase's marker carries: the data config's hash ([`Pipeline::data_hash`])
/// and a hash of the input files' names and sizes, so that a phase refuses the output of an
/// earlier one when the pipeline or the inputs changed in between. (A file rewritten in place
/// with the same size is not noticed.)
pub fn phase_hash(pipeline: &Pipeline, base_dir: &Path) -> Result<String, DistError> {
    let all = input::resolve_inputs(&pipeline.input, base_dir)?;
    Ok(phase_hash_of(pipeline, &all))
}

/// [`phase_hash`] of already resolved inputs.
pub fn phase_hash_of(pipeline: &Pipeline, all: &[input::InputFile]) -> String {
    let mut names: Vec<(&str, u64)> = all.iter().map(|f| (&*f.display, f.size)).collect();
    names.sort_unstable();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (n, size) in names {
        h.update(n.as_bytes());
        h.update(&[0]);
        h.update(&size.to_le_bytes());
    }
    format!("{}-{:016x}", pipeline.data_hash(), h.digest())
}

/// Checks a task spec.
pub fn check_task(task: TaskSpec) -> Result<(), DistError> {
    if task.count == 0 || task.index >= task.count {
        return Err(DistError::Usage(format!(
            "--task {} --tasks {}: the task must be between 0 and {}",
            task.index,
            task.count,
            task.count.saturating_sub(1)
        )));
    }
    Ok(())
}

/// The environment variable that makes one task fail on purpose: `PHASE:TASK`, e.g.
/// `filter:2`, or `PHASE:TASK:first` to fail only its first attempt (the attempt number is
/// [`ATTEMPT_ENV`], which `corpusforge ray` sets), for checking how a scheduler retries a
/// failed task.
pub const FAIL_TASK_ENV: &str = "CORPUSFORGE_FAIL_TASK";

/// The attempt number of a task (1 for the first), set by the Ray driver.
pub const ATTEMPT_ENV: &str = "CORPUSFORGE_ATTEMPT";

/// Fails when [`FAIL_TASK_ENV`] names this phase and task (and attempt).
pub fn fail_on_purpose(phase: &str, task: usize) -> Result<(), DistError> {
    if let Ok(v) = std::env::var(FAIL_TASK_ENV) {
        let v = v.trim();
        let (target, first_only) = match v.strip_suffix(":first") {
            Some(t) => (t, true),
            None => (v, false),
        };
        let attempt = std::env::var(ATTEMPT_ENV)
            .ok()
            .and_then(|a| a.trim().parse::<u32>().ok())
            .unwrap_or(1);
        if target == format!("{phase}:{task}") && (!first_only || attempt <= 1) {
            return Err(DistError::Usage(format!(
                "{phase} task {task} failing on purpose ({FAIL_TASK_ENV}={v})"
            )));
        }
    }
    Ok(())
}
