//! Phase 1: each task writes the dedup keys of its documents, sorted, per stage and band.
//!
//! The task reads its inputs and runs the stages up to the last dedup stage. At each dedup
//! stage a recorder takes the place of the stage: it drops nothing (a document removed by an
//! earlier dedup stage is taken out later, in the cluster phase) and writes, for every document
//! that reaches it, the key of each band with the document's seq: xxh3-128 of the normalized
//! text for `exact_dedup`, the band keys of the MinHash signature for `minhash_dedup` (none for
//! a document without shingles, as in the single-process stage). The first recorder also writes
//! the ids of the documents by seq, for the cluster phase to name kept documents.
//!
//! Keys are sorted with bounded memory ([`SortedWriter`] spills sorted runs and merges them).

use std::sync::{Arc, Mutex};

use rayon::prelude::*;

use super::records::{IdWriter, KeyValue, RecordError, SortedWriter};
use super::{check_task, fail_on_purpose, plan, DedupKind, DistError, Layout, Marker};
use crate::config::Pipeline;
use crate::document::Document;
use crate::io::input;
use crate::manifest::TaskSpec;
use crate::runner::{self, RunStats};
use crate::stage::{registry, Counters, Stage, Stateful, Verdict};
use crate::stages::dedup::shingle::{MinHasher, Scratch};

/// Memory for the sort buffers of one task, over all bands.
const SORT_BUDGET_BYTES: usize = 256 << 20;

/// What a signatures task did.
#[derive(Debug, Clone)]
pub struct SignatureSummary {
    /// The task had already finished; nothing ran.
    pub skipped: bool,
    /// Documents that reached the first dedup stage.
    pub documents: u64,
    /// Keys written.
    pub keys: u64,
}

struct Shared {
    writers: Vec<SortedWriter>,
    ids: Option<IdWriter>,
    error: Option<RecordError>,
    documents: u64,
}

enum Keys {
    Exact(crate::stages::dedup::Normalizer),
    Minhash(MinHasher),
}

/// Stands in for a dedup stage: records keys, keeps every document.
struct Recorder {
    keys: Keys,
    /// This stage's writers in `Shared::writers` start here.
    first_writer: usize,
    write_ids: bool,
    shared: Arc<Mutex<Shared>>,
}

impl Stateful for Recorder {
    fn process(
        &mut self,
        docs: &mut [&mut Document],
        _verdicts: &mut [Verdict],
        counters: &mut Counters,
    ) {
        let per_doc: Vec<Vec<u128>> = match &self.keys {
            Keys::Exact(norm) => docs
                .par_iter()
                .map(|d| vec![norm.hash128(&d.text)])
                .collect(),
            Keys::Minhash(h) => docs
                .par_iter()
                .map_init(Scratch::default, |s, d| {
                    let mut sig = vec![0u32; h.num_hashes()];
                    if !h.signature(&d.text, s, &mut sig) {
                        return Vec::new();
                    }
                    let mut k = vec![0u64; h.bands()];
                    h.band_keys(&sig, &mut k);
                    k.into_iter().map(u128::from).collect()
                })
                .collect(),
        };
        let Ok(mut shared) = self.shared.lock() else {
            return;
        };
        if shared.error.is_some() {
            return;
        }
        let r = (|| -> Result<(), RecordError> {
            for (d, keys) in docs.iter().zip(&per_doc) {
                if self.write_ids {
                    shared.documents += 1;
                    if let Some(ids) = &mut shared.ids {
                        ids.push(d.seq, &d.id)?;
                    }
                }
                if keys.is_empty() {
                    counters.add("no_shingles", 1);
                }
                for (b, &key) in keys.iter().enumerate() {
                    shared.writers[self.first_writer + b].push(KeyValue { key, value: d.seq })?;
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            shared.error = Some(e);
        }
    }
}

/// Runs the signatures phase of `task`, writing under `out` with `threads` workers (0: one per
/// core).
pub fn run(
    pipeline: &Pipeline,
    base_dir: &std::path::Path,
    out: &std::path::Path,
    task: TaskSpec,
    threads: usize,
    progress: bool,
) -> Result<SignatureSummary, DistError> {
    check_task(task)?;
    let layout = Layout::new(out);
    let all = input::resolve_inputs(&pipeline.input, base_dir)?;
    let hash = super::phase_hash_of(pipeline, &all);
    let dedup = plan(pipeline)?;
    let done = layout.sig_done(task.index);
    if let Some(m) = Marker::current(&done, &hash, task.count) {
        tracing::info!("signatures task {} already complete", task.index);
        let get = |k: &str| m.counts.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        return Ok(SignatureSummary {
            skipped: true,
            documents: get("documents"),
            keys: get("keys"),
        });
    }
    fail_on_purpose("signatures", task.index)?;
    let dir = layout.sig_dir(task.index);
    if crate::storage::exists(&dir) {
        crate::storage::remove_dir_all(&dir).map_err(super::io_err(&dir))?;
    }
    std::fs::create_dir_all(&dir).map_err(super::io_err(&dir))?;

    super::check_file_count(all.len())?;
    let files = input::partition(&all, task.count).swap_remove(task.index);
    let ranks = input::file_ranks(&all, &files);

    // The stages up to the last dedup stage, with recorders at the dedup stages.
    let last = dedup.last().map_or(0, |d| d.index + 1);
    let n_writers: usize = dedup.iter().map(|d| d.bands()).sum();
    let max_records = SORT_BUDGET_BYTES / std::mem::size_of::<KeyValue>() / n_writers.max(1);
    let mut writers = Vec::with_capacity(n_writers);
    for d in &dedup {
        for b in 0..d.bands() {
            writers.push(SortedWriter::new(
                &layout.sig_file(task.index, d.index, b),
                d.key_kind(),
                max_records,
            ));
        }
    }
    let shared = Arc::new(Mutex::new(Shared {
        writers,
        ids: Some(IdWriter::create(&layout.ids_file(task.index))?),
        error: None,
        documents: 0,
    }));
    let mut stages: Vec<Stage> = Vec::with_capacity(last);
    let mut first_writer = 0;
    for (i, spec) in pipeline.stages[..last].iter().enumerate() {
        match dedup.iter().find(|d| d.index == i) {
            Some(d) => {
                let keys = match &d.kind {
                    DedupKind::Exact(c) => Keys::Exact(c.norm().compile()),
                    DedupKind::Minhash(c) => {
                        Keys::Minhash(MinHasher::new(c.bands, c.rows, c.ngram, c.seed))
                    }
                };
                stages.push(Stage::Stateful(Box::new(Recorder {
                    keys,
                    first_writer,
                    write_ids: first_writer == 0,
                    shared: shared.clone(),
                })));
                first_writer += d.bands();
            }
            None => {
                let err = |message: String| registry::BuildError {
                    index: i,
                    kind: spec.type_name(),
                    message,
                };
                let ctx = registry::BuildContext { base_dir };
                let stage = registry::build(spec, &ctx)
                    .map_err(err)?
                    .ok_or_else(|| err("cannot come before a dedup stage".into()))?;
                stages.push(stage);
            }
        }
    }

    let pool = super::pool(threads)?;
    let types: Vec<&str> = pipeline.stages[..last]
        .iter()
        .map(|s| s.type_name())
        .collect();
    let mut stats = RunStats::new(&types);
    let (rx, reader) = runner::spawn_reader(
        files,
        ranks,
        pipeline.input.clone(),
        runner::Position::default(),
        pipeline.run.batch_size,
    );
    let mut read = 0u64;
    let mut bytes = 0u64;
    let progress = runner::Progress::new(progress, 0, 0);
    for msg in rx {
        let batch = msg?;
        read += batch.records.len() as u64;
        let resolved = batch.resolve(&pool);
        let mut docs: Vec<Document> = resolved
            .records
            .into_iter()
            .filter_map(Result::ok)
            .collect();
        bytes += docs.iter().map(|d| d.text.len() as u64).sum::<u64>();
        progress.update(read, bytes);
        let mut fate = vec![None; docs.len()];
        pool.install(|| {
            runner::run_stages(
                &mut stages,
                &pipeline.stages[..last],
                &mut docs,
                &mut fate,
                &mut stats,
            )
        });
        if shared.lock().map(|s| s.error.is_some()).unwrap_or(true) {
            break;
        }
    }
    let _ = reader.join();
    progress.finish(read, bytes);
    drop(stages);
    let shared = Arc::try_unwrap(shared)
        .map_err(|_| DistError::Usage("recorders still in use".into()))?
        .into_inner()
        .map_err(|_| DistError::Usage("a recorder panicked".into()))?;
    if let Some(e) = shared.error {
        return Err(e.into());
    }
    let mut keys = 0;
    for w in shared.writers {
        keys += w.finish()?;
    }
    if let Some(ids) = shared.ids {
        ids.finish()?;
    }
    let mut counts = serde_json::Map::new();
    counts.insert("documents".into(), shared.documents.into());
    counts.insert("keys".into(), keys.into());
    counts.insert("input_records".into(), read.into());
    Marker {
        phase: "signatures".into(),
        config_hash: hash,
        tasks: task.count,
        part: task.index,
        counts,
    }
    .write(&done)?;
    tracing::info!(
        task = task.index,
        documents = shared.documents,
        keys,
        "signatures written"
    );
    Ok(SignatureSummary {
        skipped: false,
        documents: shared.documents,
        keys,
    })
}
