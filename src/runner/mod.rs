//! The streaming executor.
//!
//! One thread reads the inputs in order and hands batches of records over a bounded channel,
//! so memory holds a few batches, not the corpus. For each batch the runner calls the stages in
//! pipeline order (map and filter stages in parallel over the batch on a rayon pool of the
//! configured size), counts what each stage saw, kept and dropped, then routes every record in
//! input order to the `documents/`, `dropped/` or `rejected/` writer. Nothing about the output
//! depends on the thread count or on timing.
//!
//! Every `run.checkpoint_seconds` (between batches) the runner saves a checkpoint under
//! `OUT/.resume/`: the input position, the counters, the writers' open-shard state and the
//! stateful stages' state. `--resume` continues from it and produces the same bytes as an
//! uninterrupted run. At the end it checks that every record is accounted for and writes
//! `stats.json` and `manifest.json`.

pub mod manifest;
pub mod stats;

use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::{Pipeline, StageSpec};
use crate::document::{Document, Record, Rejection};
use crate::io::input::{self, InputFile};
use crate::io::writer::{
    Dataset, DropInfo, Row, ShardFile, ShardWriter, WriteError, WriterOptions, WriterState,
};
use crate::stage::{registry, Counters, Stage, Verdict};
pub use stats::{RunStats, StageStats};

/// Errors that stop a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// An input could not be resolved or opened.
    #[error(transparent)]
    Input(#[from] input::InputError),
    /// A dataset could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
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
    /// The counters do not add up: a bug, reported loudly rather than hidden.
    #[error("accounting check failed:\n  {}", .0.join("\n  "))]
    Accounting(Vec<String>),
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    Threads(String),
    /// The tokenize pass failed.
    #[error(transparent)]
    Tokenize(#[from] crate::stages::tokenize::TokenizeError),
    /// A task of a split run cannot start (an earlier phase is missing, or the pipeline cannot
    /// be split).
    #[error(transparent)]
    Split(Box<crate::distributed::DistError>),
    /// A stage found its bookkeeping inconsistent at the end of the run.
    #[error("stages[{stage}] ({kind}): {message}")]
    Stage {
        /// The stage's index.
        stage: usize,
        /// Its type.
        kind: String,
        /// What it found.
        message: String,
    },
}

impl From<crate::distributed::DistError> for RunError {
    fn from(e: crate::distributed::DistError) -> Self {
        RunError::Split(Box::new(e))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One task of a run split into `count` tasks (a plain run is task 0 of 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// This task, 0-based.
    pub index: usize,
    /// Number of tasks.
    pub count: usize,
}

impl Default for TaskSpec {
    fn default() -> Self {
        TaskSpec { index: 0, count: 1 }
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

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The output directory.
    pub out_dir: PathBuf,
    /// The counters.
    pub stats: RunStats,
    /// True when the output was already complete and nothing ran.
    pub already_complete: bool,
}

/// Position in the input stream: the next record to read is record `record` of file `file`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Index into the task's input files.
    pub file: usize,
    /// Records of that file already consumed.
    pub record: u64,
}

/// What `OUT/.resume/checkpoint.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    config_hash: String,
    task: TaskSpec,
    position: Position,
    stats: RunStats,
    writers: BTreeMap<String, WriterState>,
    /// Directory under `.resume/` with the stateful stages' state at this checkpoint.
    #[serde(default)]
    state_dir: Option<String>,
}

/// Splits `files` into `count` groups balanced by size, deterministically: largest first to the
/// least-loaded task (lowest index on ties); each group is returned in path order.
pub fn partition(files: &[InputFile], count: usize) -> Vec<Vec<InputFile>> {
    let count = count.max(1);
    let mut order: Vec<&InputFile> = files.iter().collect();
    order.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.display.cmp(&b.display)));
    let mut load = vec![0u64; count];
    let mut groups: Vec<Vec<InputFile>> = vec![Vec::new(); count];
    for f in order {
        let (i, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(i, l)| (**l, *i))
            .unwrap_or((0, &0));
        load[i] += f.size.max(1);
        groups[i].push(f.clone());
    }
    for g in &mut groups {
        g.sort_by(|a, b| a.display.cmp(&b.display));
    }
    groups
}

/// A batch of records from the reader thread, and the position after it.
pub(crate) struct Batch {
    /// The records, in input order.
    pub(crate) records: Vec<input::Pending>,
    /// `Document::seq` of each record.
    pub(crate) seqs: Vec<u64>,
    /// Where reading goes on after this batch.
    pub(crate) end: Position,
}

impl Batch {
    /// Parses the records on `pool` (JSON parsing is the costly part), keeping their order,
    /// with each document's `seq` set; returns them and the position after the batch.
    pub(crate) fn resolve(self, pool: &rayon::ThreadPool) -> (Vec<Record>, Position) {
        let Batch { records, seqs, end } = self;
        let records = pool.install(|| {
            records
                .into_par_iter()
                .zip(seqs)
                .map(|(p, seq)| {
                    p.resolve().map(|mut d| {
                        d.seq = seq;
                        d
                    })
                })
                .collect()
        });
        (records, end)
    }
}

/// Bits of `Document::seq` that number the record within its file.
pub const SEQ_RECORD_BITS: u32 = 40;

/// The `Document::seq` of record `record` (1-based) of the file of rank `rank`.
pub fn seq_of(rank: u64, record: u64) -> u64 {
    (rank << SEQ_RECORD_BITS) | (record & ((1 << SEQ_RECORD_BITS) - 1))
}

/// The rank of every file in `files` among `all` (the resolved inputs of the whole run), in the
/// path order a single-task run reads them in.
pub fn file_ranks(all: &[InputFile], files: &[InputFile]) -> Vec<u64> {
    let mut order: Vec<&str> = all.iter().map(|f| &*f.display).collect();
    order.sort_unstable();
    files
        .iter()
        .map(|f| order.binary_search(&&*f.display).map_or(0, |i| i as u64))
        .collect()
}

/// Reads the inputs from `start` on, in batches of `batch_size` records; `ranks[i]` is the
/// rank of `files[i]` (see [`file_ranks`]).
pub(crate) fn spawn_reader(
    files: Vec<InputFile>,
    ranks: Vec<u64>,
    spec: crate::config::InputSpec,
    start: Position,
    batch_size: usize,
) -> (
    mpsc::Receiver<Result<Batch, RunError>>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::sync_channel::<Result<Batch, RunError>>(2);
    let handle = std::thread::spawn(move || {
        let mut records = Vec::with_capacity(batch_size);
        let mut seqs = Vec::with_capacity(batch_size);
        for (fi, file) in files.iter().enumerate().skip(start.file) {
            let rank = ranks.get(fi).copied().unwrap_or(fi as u64);
            let it = match input::open_pending(file, &spec) {
                Ok(it) => it,
                Err(e) => {
                    let _ = tx.send(Err(e.into()));
                    return;
                }
            };
            let skip = if fi == start.file { start.record } else { 0 };
            let mut n = 0u64;
            for rec in it {
                n += 1;
                if n <= skip {
                    continue;
                }
                records.push(rec);
                seqs.push(seq_of(rank, n));
                if records.len() >= batch_size {
                    let b = Batch {
                        records: std::mem::take(&mut records),
                        seqs: std::mem::take(&mut seqs),
                        end: Position {
                            file: fi,
                            record: n,
                        },
                    };
                    if tx.send(Ok(b)).is_err() {
                        return;
                    }
                    records.reserve(batch_size);
                    seqs.reserve(batch_size);
                }
            }
        }
        if !records.is_empty() {
            let _ = tx.send(Ok(Batch {
                records,
                seqs,
                end: Position {
                    file: files.len(),
                    record: 0,
                },
            }));
        }
    });
    (rx, handle)
}

/// The writers of a run.
struct Writers {
    documents: BTreeMap<String, ShardWriter>,
    dropped: Option<ShardWriter>,
    rejected: ShardWriter,
    root: PathBuf,
    opts: WriterOptions,
    partition: Option<crate::config::PartitionBy>,
}

impl Writers {
    fn new(root: &Path, pipeline: &Pipeline, prefix: &str) -> Result<Self, RunError> {
        let mut opts = WriterOptions::from_spec(&pipeline.output);
        opts.prefix = prefix.to_string();
        let dropped = if pipeline.output.write_dropped {
            Some(ShardWriter::new(
                Dataset::Dropped,
                root,
                "dropped",
                opts.clone(),
            )?)
        } else {
            None
        };
        Ok(Writers {
            documents: BTreeMap::new(),
            dropped,
            rejected: ShardWriter::new(Dataset::Rejected, root, "rejected", opts.clone())?,
            root: root.to_path_buf(),
            opts,
            partition: pipeline.output.partition_by,
        })
    }

    fn partition_dir(&self, doc: &Document) -> String {
        match self.partition {
            None => "documents".to_string(),
            Some(crate::config::PartitionBy::Lang) => {
                format!(
                    "documents/lang={}",
                    doc.lang
                        .as_deref()
                        .filter(|l| !l.is_empty())
                        .unwrap_or("und")
                )
            }
        }
    }

    fn document_writer(&mut self, dir: String) -> Result<&mut ShardWriter, RunError> {
        if !self.documents.contains_key(&dir) {
            let w = ShardWriter::new(Dataset::Documents, &self.root, &dir, self.opts.clone())?;
            self.documents.insert(dir.clone(), w);
        }
        Ok(self.documents.get_mut(&dir).expect("inserted above"))
    }

    fn push(&mut self, row: Row) -> Result<(), RunError> {
        match row {
            Row::Kept(doc) => {
                let dir = self.partition_dir(&doc);
                self.document_writer(dir)?.push(Row::Kept(doc))?;
            }
            Row::Dropped(..) => {
                if let Some(w) = &mut self.dropped {
                    w.push(row)?;
                }
            }
            Row::Rejected(_) => self.rejected.push(row)?,
        }
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<BTreeMap<String, WriterState>, RunError> {
        let mut m = BTreeMap::new();
        for (dir, w) in &mut self.documents {
            m.insert(dir.clone(), w.checkpoint()?);
        }
        if let Some(w) = &mut self.dropped {
            m.insert("dropped".into(), w.checkpoint()?);
        }
        m.insert("rejected".into(), self.rejected.checkpoint()?);
        Ok(m)
    }

    fn drop_stale(&mut self) {
        for w in self.documents.values_mut() {
            w.drop_stale();
        }
        if let Some(w) = &mut self.dropped {
            w.drop_stale();
        }
        self.rejected.drop_stale();
    }

    fn restore(&mut self, states: &BTreeMap<String, WriterState>) -> Result<(), RunError> {
        for (dir, st) in states {
            match dir.as_str() {
                "dropped" => {
                    if let Some(w) = &mut self.dropped {
                        w.restore(st.clone())?;
                    }
                }
                "rejected" => self.rejected.restore(st.clone())?,
                _ => self.document_writer(dir.clone())?.restore(st.clone())?,
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Vec<ShardFile>, RunError> {
        let mut files = Vec::new();
        for (_, w) in self.documents {
            files.extend(w.finish()?);
        }
        if let Some(w) = self.dropped {
            files.extend(w.finish()?);
        }
        files.extend(self.rejected.finish()?);
        Ok(files)
    }
}

/// The resolved output directory of `pipeline` (relative to `base_dir`), or the override.
pub fn output_dir(pipeline: &Pipeline, base_dir: &Path, opts: &RunOptions) -> PathBuf {
    opts.output
        .clone()
        .unwrap_or_else(|| input::clean(&base_dir.join(&pipeline.output.dir)))
}

/// xxh3-64 of the resolved data config, as 16 hex digits: the identity checkpoints, task
/// markers and split-run phases are tied to. The `train:` section is left out: it does not
/// change what the data run writes.
pub fn config_hash(pipeline: &Pipeline) -> String {
    let mut data = pipeline.clone();
    data.train = None;
    let json = serde_json::to_string(&data).unwrap_or_default();
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(json.as_bytes()))
}

/// Applies the stages to one batch; `docs[i]` is dropped when `fate[i]` is set.
pub(crate) fn run_stages(
    stages: &mut [Stage],
    specs: &[StageSpec],
    docs: &mut [Document],
    fate: &mut [Option<DropInfo>],
    stats: &mut RunStats,
) {
    #[derive(Default)]
    struct Delta {
        seen: u64,
        kept: u64,
        bytes_in: u64,
        bytes_out: u64,
        dropped: BTreeMap<&'static str, u64>,
        counters: Counters,
    }
    impl Delta {
        fn merge(mut self, o: Delta) -> Delta {
            self.seen += o.seen;
            self.kept += o.kept;
            self.bytes_in += o.bytes_in;
            self.bytes_out += o.bytes_out;
            for (k, v) in o.dropped {
                *self.dropped.entry(k).or_insert(0) += v;
            }
            self.counters += &o.counters;
            self
        }
    }
    for (si, stage) in stages.iter_mut().enumerate() {
        let t0 = Instant::now();
        let kind = specs[si].type_name();
        // Drop reason keys use the family prefix (`dedup:exact` from `exact_dedup`).
        let prefix = specs[si].reason_prefix();
        let verdict_of =
            |d: &mut Document, f: &mut Option<DropInfo>, v: Verdict, bytes_in: u64| -> Delta {
                let mut delta = Delta {
                    seen: 1,
                    bytes_in,
                    ..Default::default()
                };
                match v {
                    Verdict::Keep => {
                        delta.kept = 1;
                        delta.bytes_out = d.text.len() as u64;
                    }
                    Verdict::Drop(r) => {
                        delta.dropped.insert(r, 1);
                        *f = Some(DropInfo {
                            stage_index: si as u32,
                            stage: kind,
                            reason: format!("{prefix}:{r}"),
                        });
                    }
                }
                delta
            };
        let delta = match stage {
            Stage::Map(m) => docs
                .par_iter_mut()
                .zip(fate.par_iter_mut())
                .filter(|(_, f)| f.is_none())
                .map(|(d, _)| {
                    let bytes_in = d.text.len() as u64;
                    let mut counters = Counters::default();
                    m.apply(d, &mut counters);
                    let n = d.text.len() as u64;
                    Delta {
                        seen: 1,
                        kept: 1,
                        bytes_in,
                        bytes_out: n,
                        counters,
                        ..Default::default()
                    }
                })
                .reduce(Delta::default, Delta::merge),
            Stage::Filter(flt) => docs
                .par_iter_mut()
                .zip(fate.par_iter_mut())
                .filter(|(_, f)| f.is_none())
                .map(|(d, f)| {
                    let bytes_in = d.text.len() as u64;
                    let mut counters = Counters::default();
                    let v = flt.check(d, &mut counters);
                    let mut delta = verdict_of(d, f, v, bytes_in);
                    delta.counters = counters;
                    delta
                })
                .reduce(Delta::default, Delta::merge),
            Stage::Stateful(st) => {
                let mut alive: Vec<(&mut Document, &mut Option<DropInfo>)> = docs
                    .iter_mut()
                    .zip(fate.iter_mut())
                    .filter(|(_, f)| f.is_none())
                    .collect();
                let bytes_in: Vec<u64> = alive.iter().map(|(d, _)| d.text.len() as u64).collect();
                let mut verdicts = vec![Verdict::Keep; alive.len()];
                let mut counters = Counters::default();
                {
                    let mut refs: Vec<&mut Document> =
                        alive.iter_mut().map(|(d, _)| &mut **d).collect();
                    st.process(&mut refs, &mut verdicts, &mut counters);
                }
                let mut total = Delta {
                    counters,
                    ..Default::default()
                };
                for (((d, f), v), b) in alive.into_iter().zip(verdicts).zip(bytes_in) {
                    total = total.merge(verdict_of(d, f, v, b));
                }
                total
            }
        };
        let s = &mut stats.stages[si];
        s.seen += delta.seen;
        s.kept += delta.kept;
        s.bytes_in += delta.bytes_in;
        s.bytes_out += delta.bytes_out;
        for (r, n) in delta.dropped {
            let key = format!("{prefix}:{r}");
            *s.dropped.entry(key.clone()).or_insert(0) += n;
            *stats.dropped.entry(key).or_insert(0) += n;
        }
        for (k, v) in delta.counters.0 {
            *s.counters.entry(k.to_string()).or_insert(0) += v;
        }
        s.seconds += t0.elapsed().as_secs_f64();
    }
}

/// Runs `pipeline` (whose relative paths are relative to `base_dir`).
pub fn run(
    pipeline: &Pipeline,
    base_dir: &Path,
    opts: &RunOptions,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let out = output_dir(pipeline, base_dir, opts);
    let task = opts.task;
    let split = task.count > 1;
    if split {
        crate::distributed::check_task(task)?;
    }
    let all_files = input::resolve_inputs(&pipeline.input, base_dir)?;
    let files =
        partition(&all_files, task.count).swap_remove(task.index.min(task.count.max(1) - 1));
    if split {
        crate::distributed::check_file_count(all_files.len())?;
        if files.is_empty() {
            tracing::warn!(
                "task {} of {} has no input files: there are only {} to share out",
                task.index,
                task.count,
                all_files.len()
            );
        }
    }
    let hash = config_hash(pipeline);
    let split_hash = if split {
        Some(crate::distributed::phase_hash_of(pipeline, &all_files))
    } else {
        None
    };
    let resume_dir = out.join(".resume");
    let ckpt_path = resume_dir.join(if task.count > 1 {
        format!("checkpoint-{:05}.json", task.index)
    } else {
        "checkpoint.json".into()
    });
    let manifest_path = manifest::manifest_path(&out, task);

    // A finished output is left alone by --resume; a fresh run starts from nothing.
    let mut checkpoint: Option<Checkpoint> = None;
    // A task of a split run is relaunched by its scheduler: a finished task is skipped and an
    // interrupted one continues from its checkpoint.
    if opts.resume || split {
        if let Some(m) = manifest::read(&manifest_path) {
            // A split task is done only for the same config and the same inputs of the whole
            // run: its dedup decisions depend on every task's documents.
            let same_inputs = split_hash.is_none() || m.split_hash == split_hash;
            if m.complete && m.config_hash == hash && same_inputs {
                return Ok(RunSummary {
                    out_dir: out,
                    stats: m.stats,
                    already_complete: true,
                });
            }
        }
        if ckpt_path.exists() {
            let text = fs::read_to_string(&ckpt_path).map_err(io_err(&ckpt_path))?;
            let c: Checkpoint = serde_json::from_str(&text).map_err(|e| RunError::Resume {
                path: ckpt_path.clone(),
                reason: e.to_string(),
            })?;
            if c.config_hash != hash {
                return Err(RunError::Resume {
                    path: ckpt_path.clone(),
                    reason: format!("the pipeline changed since (config hash {} now, {} then); run without --resume", hash, c.config_hash),
                });
            }
            if c.task != task {
                return Err(RunError::Resume {
                    path: ckpt_path.clone(),
                    reason: "it belongs to another task split".into(),
                });
            }
            checkpoint = Some(c);
        }
    }
    if checkpoint.is_none() && !split {
        // A split run's task outputs and exchange files in the same directory are stale now.
        for d in [
            "documents",
            "dropped",
            "rejected",
            ".resume",
            "tasks",
            ".dedup",
        ] {
            let p = out.join(d);
            if p.exists() {
                fs::remove_dir_all(&p).map_err(io_err(&p))?;
            }
        }
        for f in ["stats.json", "manifest.json"] {
            let _ = fs::remove_file(out.join(f));
        }
    }
    let prefix = if split {
        format!("part-t{:05}", task.index)
    } else {
        "part".to_string()
    };
    if checkpoint.is_none() && split {
        crate::distributed::fail_on_purpose("filter", task.index)?;
        clear_task_files(&out, &prefix)?;
        let _ = fs::remove_file(&manifest_path);
    }
    fs::create_dir_all(&resume_dir).map_err(io_err(&resume_dir))?;

    // Input hashes for the manifest, computed beside the run.
    let hash_files = files.clone();
    let hasher = std::thread::spawn(move || manifest::hash_inputs(&hash_files));

    let threads = opts.threads.unwrap_or(pipeline.run.threads);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::Threads(e.to_string()))?;
    let threads_used = pool.current_num_threads();

    let mut stages: Vec<Stage> = pipeline.stages.iter().map(registry::build).collect();
    if split {
        crate::distributed::apply::replace_dedup_stages(
            pipeline,
            base_dir,
            &out,
            task,
            &mut stages,
        )?;
    }
    let types: Vec<&str> = pipeline.stages.iter().map(|s| s.type_name()).collect();
    let mut writers = Writers::new(&out, pipeline, &prefix)?;
    let (mut stats, start) = match &checkpoint {
        Some(c) => {
            writers.restore(&c.writers)?;
            if let Some(state) = &c.state_dir {
                for (i, s) in stages.iter_mut().enumerate() {
                    if let Stage::Stateful(st) = s {
                        let dir = resume_dir.join(state).join(format!("stage-{i:03}"));
                        st.load_state(&dir).map_err(io_err(&dir))?;
                    }
                }
            }
            tracing::info!(
                records = c.stats.input,
                "resuming from {}",
                ckpt_path.display()
            );
            (c.stats.clone(), c.position)
        }
        None => (RunStats::new(&types), Position::default()),
    };
    let prior_seconds = stats.seconds;

    let progress = Progress::new(opts.progress, stats.input, stats.input_bytes);
    let (rx, reader) = spawn_reader(
        files.clone(),
        file_ranks(&all_files, &files),
        pipeline.input.clone(),
        start,
        pipeline.run.batch_size,
    );
    // Writing runs on its own thread, overlapped with the stages of the next batch.
    let (wtx, wrx) = mpsc::sync_channel::<WriterMsg>(2);
    let writer_thread = {
        let ckpt = CheckpointTarget {
            path: ckpt_path.clone(),
            resume_dir: resume_dir.clone(),
            hash: hash.clone(),
            task,
        };
        let prev_state = checkpoint.as_ref().and_then(|c| c.state_dir.clone());
        std::thread::spawn(move || write_loop(writers, wrx, ckpt, prev_state))
    };
    let writer_failed =
        |handle: std::thread::JoinHandle<Result<Vec<ShardFile>, RunError>>| -> RunError {
            match handle.join() {
                Ok(Err(e)) => e,
                _ => RunError::Threads("the writer thread stopped".into()),
            }
        };
    let mut last_ckpt = Instant::now();
    let batch_delay = std::env::var("CORPUSFORGE_BATCH_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
    let ckpt_every = Duration::from_secs(pipeline.run.checkpoint_seconds);
    for msg in rx {
        let batch = msg?;
        let n = batch.records.len();
        let (records, end) = batch.resolve(&pool);
        // Split the batch into documents and rejections, remembering input order.
        let mut order: Vec<Result<usize, Rejection>> = Vec::with_capacity(n);
        let mut docs: Vec<Document> = Vec::with_capacity(n);
        for r in records {
            match r {
                Ok(d) => {
                    stats.input_bytes += d.text.len() as u64;
                    order.push(Ok(docs.len()));
                    docs.push(d);
                }
                Err(j) => order.push(Err(j)),
            }
        }
        stats.input += n as u64;
        let mut fate: Vec<Option<DropInfo>> = vec![None; docs.len()];
        pool.install(|| {
            run_stages(
                &mut stages,
                &pipeline.stages,
                &mut docs,
                &mut fate,
                &mut stats,
            )
        });
        let mut docs: Vec<Option<Document>> = docs.into_iter().map(Some).collect();
        let mut rows = Vec::with_capacity(n);
        for o in order {
            match o {
                Err(j) => {
                    *stats.rejected.entry(j.reason.clone()).or_insert(0) += 1;
                    rows.push(Row::Rejected(j));
                }
                Ok(i) => {
                    let d = docs[i].take().expect("each document is routed once");
                    match fate[i].take() {
                        None => {
                            stats.kept += 1;
                            stats.kept_bytes += d.text.len() as u64;
                            rows.push(Row::Kept(d));
                        }
                        Some(info) => rows.push(Row::Dropped(d, info)),
                    }
                }
            }
        }
        if wtx.send(WriterMsg::Rows(rows)).is_err() {
            return Err(writer_failed(writer_thread));
        }
        progress.update(stats.input, stats.input_bytes);
        if let Some(d) = batch_delay {
            // Testing aid: slows a run down so that tests can interrupt it mid-way.
            std::thread::sleep(d);
        }
        if last_ckpt.elapsed() >= ckpt_every {
            stats.seconds = prior_seconds + started.elapsed().as_secs_f64();
            // Stage state goes to a directory of its own, named by the checkpoint that commits it.
            let state_dir = save_stage_states(&resume_dir, &stages, stats.input, task)?;
            let (reply, answer) = mpsc::channel();
            let msg = WriterMsg::Checkpoint {
                position: end,
                stats: Box::new(stats.clone()),
                state_dir,
                reply,
            };
            if wtx.send(msg).is_err() {
                return Err(writer_failed(writer_thread));
            }
            match answer.recv() {
                Ok(r) => r?,
                Err(_) => return Err(writer_failed(writer_thread)),
            }
            last_ckpt = Instant::now();
        }
    }
    let _ = reader.join();
    progress.finish(stats.input, stats.input_bytes);
    drop(wtx);
    for (i, s) in stages.iter_mut().enumerate() {
        if let Stage::Stateful(st) = s {
            if let Err(message) = st.finish() {
                return Err(RunError::Stage {
                    stage: i,
                    kind: types[i].to_string(),
                    message,
                });
            }
        }
    }
    let mut outputs = match writer_thread.join() {
        Ok(r) => r?,
        Err(_) => return Err(RunError::Threads("the writer thread panicked".into())),
    };
    // The tokenize stage runs over the written documents (see `stages::tokenize`); in a split
    // run, over all tasks' documents once they are done (`corpusforge finalize`).
    let tokens = if split {
        None
    } else {
        crate::stages::tokenize::run_after(
            pipeline,
            base_dir,
            &out,
            task,
            &pool,
            &mut outputs,
            &mut stats,
            None,
        )?
    };
    stats.seconds = prior_seconds + started.elapsed().as_secs_f64();
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
    let inputs = hasher.join().unwrap_or_else(|_| Vec::new());
    manifest::write(
        &out,
        task,
        pipeline,
        &hash,
        threads_used,
        &inputs,
        &outputs,
        &stats,
        tokens.as_ref(),
        split_hash.as_deref(),
    )?;
    let _ = fs::remove_file(&ckpt_path);
    if task.count == 1 {
        let _ = fs::remove_dir_all(&resume_dir);
    } else if let Ok(rd) = fs::read_dir(&resume_dir) {
        let mine = format!("state-t{:05}-", task.index);
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&mine) {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(RunSummary {
        out_dir: out,
        stats,
        already_complete: false,
    })
}

/// Removes the files of a split run's task (named `PREFIX-*`, open shards' segments included)
/// from the documents, dropped and rejected datasets, for a fresh start of that task.
fn clear_task_files(out: &Path, prefix: &str) -> Result<(), RunError> {
    fn walk(dir: &Path, prefix: &str) -> Result<(), RunError> {
        let Ok(rd) = fs::read_dir(dir) else {
            return Ok(());
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                walk(&p, prefix)?;
            } else if name
                .trim_start_matches('.')
                .starts_with(&format!("{prefix}-"))
            {
                fs::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        Ok(())
    }
    for d in ["documents", "dropped", "rejected"] {
        walk(&out.join(d), prefix)?;
    }
    Ok(())
}

/// Messages to the writer thread.
enum WriterMsg {
    /// The rows of one batch, in input order.
    Rows(Vec<Row>),
    /// Commit a checkpoint after the rows sent so far.
    Checkpoint {
        position: Position,
        stats: Box<RunStats>,
        state_dir: Option<String>,
        reply: mpsc::Sender<Result<(), RunError>>,
    },
}

/// Where checkpoints of this run go.
struct CheckpointTarget {
    path: PathBuf,
    resume_dir: PathBuf,
    hash: String,
    task: TaskSpec,
}

/// The writer thread: pushes rows, commits checkpoints, and finally closes every shard.
fn write_loop(
    mut writers: Writers,
    rx: mpsc::Receiver<WriterMsg>,
    target: CheckpointTarget,
    mut prev_state: Option<String>,
) -> Result<Vec<ShardFile>, RunError> {
    for msg in rx {
        match msg {
            WriterMsg::Rows(rows) => {
                for r in rows {
                    writers.push(r)?;
                }
            }
            WriterMsg::Checkpoint {
                position,
                stats,
                state_dir,
                reply,
            } => {
                let r =
                    commit_checkpoint(&target, position, *stats, state_dir.clone(), &mut writers);
                if r.is_ok() {
                    // The previous stage state is no longer named by the committed checkpoint.
                    if let Some(old) = prev_state.take().filter(|o| Some(o) != state_dir.as_ref()) {
                        let _ = fs::remove_dir_all(target.resume_dir.join(old));
                    }
                    prev_state = state_dir;
                }
                let _ = reply.send(r);
            }
        }
    }
    writers.finish()
}

/// Saves the state of every stateful stage under `.resume/state-<records>/` (with the task in
/// the name in a split run); None when no stage has state.
fn save_stage_states(
    resume_dir: &Path,
    stages: &[Stage],
    records: u64,
    task: TaskSpec,
) -> Result<Option<String>, RunError> {
    if !stages.iter().any(|s| matches!(s, Stage::Stateful(_))) {
        return Ok(None);
    }
    // The tasks of a split run share `.resume/`: each names its own state directories.
    let name = if task.count > 1 {
        format!("state-t{:05}-{records:012}", task.index)
    } else {
        format!("state-{records:012}")
    };
    for (i, s) in stages.iter().enumerate() {
        if let Stage::Stateful(st) = s {
            let dir = resume_dir.join(&name).join(format!("stage-{i:03}"));
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            st.save_state(&dir).map_err(io_err(&dir))?;
        }
    }
    Ok(Some(name))
}

fn commit_checkpoint(
    target: &CheckpointTarget,
    position: Position,
    stats: RunStats,
    state_dir: Option<String>,
    writers: &mut Writers,
) -> Result<(), RunError> {
    let states = writers.checkpoint()?;
    let c = Checkpoint {
        config_hash: target.hash.clone(),
        task: target.task,
        position,
        stats,
        writers: states,
        state_dir,
    };
    let tmp = target.path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(&c).map_err(|e| RunError::Io {
        path: tmp.clone(),
        source: e.into(),
    })?;
    fs::write(&tmp, text).map_err(io_err(&tmp))?;
    fs::rename(&tmp, &target.path).map_err(io_err(&target.path))?;
    writers.drop_stale();
    tracing::debug!(records = c.stats.input, "checkpoint saved");
    Ok(())
}

/// A progress bar on a terminal, periodic log lines otherwise.
pub(crate) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_log: std::cell::Cell<Instant>,
    base_docs: u64,
    base_bytes: u64,
}

impl Progress {
    pub(crate) fn new(wanted: bool, base_docs: u64, base_bytes: u64) -> Self {
        let bar = (wanted && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            started: Instant::now(),
            last_log: std::cell::Cell::new(Instant::now()),
            base_docs,
            base_bytes,
        }
    }

    fn line(&self, docs: u64, bytes: u64) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let mb = bytes as f64 / 1e6;
        let rate_docs = (docs - self.base_docs) as f64 / secs;
        let rate_mb = (bytes - self.base_bytes) as f64 / 1e6 / secs;
        format!("{docs} docs, {mb:.1} MB read, {rate_docs:.0} docs/s, {rate_mb:.1} MB/s")
    }

    pub(crate) fn update(&self, docs: u64, bytes: u64) {
        match &self.bar {
            Some(b) => b.set_message(self.line(docs, bytes)),
            None => {
                if self.last_log.get().elapsed() >= Duration::from_secs(10) {
                    tracing::info!("{}", self.line(docs, bytes));
                    self.last_log.set(Instant::now());
                }
            }
        }
    }

    pub(crate) fn finish(&self, docs: u64, bytes: u64) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        tracing::info!("read {}", self.line(docs, bytes));
    }
}
