//! The streaming executor.
//!
//! [`stream`] is given everything as data ([`Job`]): the files to read and their ranks in the
//! run's input order, the built streaming stages, the output directory and shard prefix, where
//! to checkpoint and the checkpoint to continue from. It knows nothing about how those were
//! chosen (split runs, tokenization and training are the orchestrator's,
//! [`crate::pipeline`]).
//!
//! One thread reads the inputs in order and hands batches of records over a bounded channel
//! ([`reader`]), so memory holds a few batches, not the corpus. For each batch the runner calls
//! the stages in pipeline order ([`stages`]: map and filter stages in parallel over the batch
//! on a rayon pool), counts what each stage saw, kept and dropped, then routes every record in
//! input order to the `documents/`, `dropped/` or `rejected/` writer on the writer thread
//! ([`writers`]). Nothing about the output depends on the thread count or on timing.
//!
//! Every `every` seconds (between batches) the runner commits a [`Checkpoint`]: the input
//! position, the counters, the writers' open-shard state and the stateful stages' state.
//! Continuing from it produces the same bytes as an uninterrupted run.

pub mod checkpoint;
pub mod progress;
pub mod reader;
pub mod stages;
pub mod stats;
mod writers;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use checkpoint::{Checkpoint, CheckpointTarget};
pub use progress::Progress;
pub use reader::{seq_of, spawn_reader, Batch, Position, Resolved, SEQ_RECORD_BITS};
pub use stages::run_stages;
pub use stats::{RunStats, StageStats};

use crate::config::{InputSpec, OutputSpec, StageSpec};
use crate::document::{Document, Record, Rejection};
use crate::io::input::{InputError, InputFile};
use crate::io::writer::{DropInfo, Row, ShardFile, WriteError};
use crate::stage::{Stage, Stateful};
use writers::{write_loop, WriterMsg, Writers};

/// Errors that stop a stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// An input could not be opened.
    #[error(transparent)]
    Input(#[from] InputError),
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
    /// The thread pool could not be built, or a thread stopped.
    #[error("thread pool: {0}")]
    Threads(String),
    /// A stage found its bookkeeping inconsistent at the end of the stream.
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

impl From<crate::io::json::FileError> for StreamError {
    fn from(e: crate::io::json::FileError) -> Self {
        StreamError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StreamError + '_ {
    move |source| StreamError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Everything a stream needs, chosen by the caller.
pub struct Job<'a> {
    /// The files to read, in order.
    pub files: Vec<InputFile>,
    /// The rank of each file in the whole run's input order (numbers documents' `seq`).
    pub ranks: Vec<u64>,
    /// How records are read.
    pub input: &'a InputSpec,
    /// The specs of `stages` (their names and drop-reason prefixes), in order.
    pub specs: &'a [StageSpec],
    /// The built streaming stages, one per spec.
    pub stages: Vec<Stage>,
    /// Shard sizes, compression, partitioning.
    pub output: &'a OutputSpec,
    /// The output directory.
    pub out: &'a Path,
    /// Shard file names start with this (`part`, or `part-tIIIII` for a task).
    pub shard_prefix: String,
    /// Records per batch.
    pub batch_size: usize,
    /// Where checkpoints go.
    pub checkpoint: CheckpointTarget,
    /// Seconds between checkpoints.
    pub checkpoint_every: Duration,
    /// The checkpoint to continue from (`None`: from the start, into an empty output).
    pub resume_from: Option<Checkpoint>,
    /// The worker pool.
    pub pool: &'a rayon::ThreadPool,
    /// Show a progress bar (when stderr is a terminal).
    pub progress: bool,
}

/// What a finished stream produced.
#[derive(Debug, Clone)]
pub struct Streamed {
    /// The counters of the streaming stages (with those of the checkpoint it continued from).
    pub stats: RunStats,
    /// Every shard written.
    pub outputs: Vec<ShardFile>,
}

/// Streams the job's inputs through its stages into its output directory.
pub fn stream(job: Job<'_>) -> Result<Streamed, StreamError> {
    let Job {
        files,
        ranks,
        input,
        specs,
        mut stages,
        output,
        out,
        shard_prefix,
        batch_size,
        checkpoint,
        checkpoint_every,
        resume_from,
        pool,
        progress,
    } = job;
    let started = Instant::now();
    let mut writers = Writers::new(out, output, &shard_prefix)?;
    let (mut stats, start) = match &resume_from {
        Some(c) => {
            writers.restore(&c.writers)?;
            checkpoint::load_stage_states(&checkpoint, c, &mut stages)?;
            tracing::info!(
                records = c.stats.input,
                "resuming from {}",
                crate::storage::shown(&checkpoint.path)
            );
            (c.stats.clone(), c.position)
        }
        None => {
            let types: Vec<&str> = specs.iter().map(|s| s.type_name()).collect();
            (RunStats::new(&types), Position::default())
        }
    };
    let prior_seconds = stats.seconds;
    let progress = Progress::new(progress, stats.input, stats.input_bytes);
    let (rx, reader) = spawn_reader(files, ranks, input.clone(), start, batch_size);
    let prev_state = resume_from.as_ref().and_then(|c| c.state_dir.clone());
    let mut writer = WriterThread::spawn(writers, checkpoint.clone(), prev_state);
    let mut last_checkpoint = Instant::now();
    let batch_delay = std::env::var("CORPUSFORGE_BATCH_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis);
    for msg in rx {
        let batch = msg?.resolve(pool);
        for (reason, n) in batch.skipped {
            *stats.skipped.entry(reason.to_string()).or_insert(0) += n;
        }
        let end = batch.end;
        let rows = process_batch(batch.records, &mut stages, specs, &mut stats, pool);
        writer.send(WriterMsg::Rows(rows))?;
        progress.update(stats.input, stats.input_bytes);
        if let Some(d) = batch_delay {
            // Testing aid: slows a run down so that tests can interrupt it mid-way.
            std::thread::sleep(d);
        }
        if last_checkpoint.elapsed() >= checkpoint_every {
            stats.seconds = prior_seconds + started.elapsed().as_secs_f64();
            let state_dir = checkpoint::save_stage_states(&checkpoint, &stages, stats.input)?;
            writer.checkpoint(end, &stats, state_dir)?;
            last_checkpoint = Instant::now();
        }
    }
    let _ = reader.join();
    progress.finish(stats.input, stats.input_bytes);
    finish_stages(&mut stages, specs)?;
    let outputs = writer.finish()?;
    stats.seconds = prior_seconds + started.elapsed().as_secs_f64();
    Ok(Streamed { stats, outputs })
}

/// One batch: the stages applied to its documents, the counters updated, and every record
/// turned into a row (kept, dropped or rejected) in input order.
fn process_batch(
    records: Vec<Record>,
    stages: &mut [Stage],
    specs: &[StageSpec],
    stats: &mut RunStats,
    pool: &rayon::ThreadPool,
) -> Vec<Row> {
    let n = records.len();
    // Documents go through the stages; rejections keep their place in input order.
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
    pool.install(|| run_stages(stages, specs, &mut docs, &mut fate, stats));
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
    rows
}

/// Calls [`Stateful::finish`] on every stateful stage; the first that fails stops the run.
fn finish_stages(stages: &mut [Stage], specs: &[StageSpec]) -> Result<(), StreamError> {
    for (i, s) in stages.iter_mut().enumerate() {
        if let Stage::Stateful(st) = s {
            Stateful::finish(st.as_mut()).map_err(|message| StreamError::Stage {
                stage: i,
                kind: specs[i].type_name().to_string(),
                message,
            })?;
        }
    }
    Ok(())
}

/// The writer thread, overlapped with the stages of the next batch.
struct WriterThread {
    tx: Option<mpsc::SyncSender<WriterMsg>>,
    handle: Option<JoinHandle<Result<Vec<ShardFile>, StreamError>>>,
}

impl WriterThread {
    fn spawn(writers: Writers, target: CheckpointTarget, prev_state: Option<String>) -> Self {
        let (tx, rx) = mpsc::sync_channel::<WriterMsg>(2);
        let handle = std::thread::spawn(move || write_loop(writers, rx, target, prev_state));
        WriterThread {
            tx: Some(tx),
            handle: Some(handle),
        }
    }

    /// Hands a message over; when the thread has stopped, returns the error it stopped with.
    fn send(&mut self, msg: WriterMsg) -> Result<(), StreamError> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok());
        if sent {
            Ok(())
        } else {
            Err(self.failure())
        }
    }

    /// Commits a checkpoint after the rows sent so far and waits until it is on disk.
    fn checkpoint(
        &mut self,
        position: Position,
        stats: &RunStats,
        state_dir: Option<String>,
    ) -> Result<(), StreamError> {
        let (reply, answer) = mpsc::channel();
        self.send(WriterMsg::Checkpoint {
            position,
            stats: Box::new(stats.clone()),
            state_dir,
            reply,
        })?;
        match answer.recv() {
            Ok(r) => r,
            Err(_) => Err(self.failure()),
        }
    }

    /// The error of a writer thread that stopped early.
    fn failure(&mut self) -> StreamError {
        self.tx = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            _ => StreamError::Threads("the writer thread stopped".into()),
        }
    }

    /// Closes every shard and returns the files written.
    fn finish(mut self) -> Result<Vec<ShardFile>, StreamError> {
        self.tx = None;
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(StreamError::Threads("the writer thread panicked".into())),
            None => Err(StreamError::Threads("the writer thread stopped".into())),
        }
    }
}
