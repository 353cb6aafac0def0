//! The reader thread: input records in order, in batches, each numbered with its `seq`.

use std::collections::BTreeMap;
use std::sync::mpsc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::InputSpec;
use crate::document::Record;
use crate::io::input::{self, InputError, InputFile};

/// Position in the input stream: the next record to read is record `record` of file `file`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Index into the files being read.
    pub file: usize,
    /// Records of that file already consumed.
    pub record: u64,
}

/// A batch of records from the reader thread, and the position after it.
pub struct Batch {
    /// The records, in input order.
    pub records: Vec<input::Pending>,
    /// `Document::seq` of each record.
    pub seqs: Vec<u64>,
    /// Where reading goes on after this batch.
    pub end: Position,
}

/// A batch's records, parsed.
pub struct Resolved {
    /// Documents and rejections, in input order, each document with its `seq` set.
    pub records: Vec<Record>,
    /// Records that are neither (see [`input::Pending::Skipped`]), counted by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Where reading goes on after the batch.
    pub end: Position,
}

impl Batch {
    /// Parses the records on `pool` (JSON parsing is the costly part), keeping their order.
    pub fn resolve(self, pool: &rayon::ThreadPool) -> Resolved {
        let Batch { records, seqs, end } = self;
        let mut skipped = BTreeMap::new();
        let (records, seqs): (Vec<_>, Vec<_>) = records
            .into_iter()
            .zip(seqs)
            .filter(|(p, _)| match p {
                input::Pending::Skipped(reason) => {
                    *skipped.entry(*reason).or_insert(0) += 1;
                    false
                }
                _ => true,
            })
            .unzip();
        let records = pool.install(|| {
            records
                .into_par_iter()
                .zip(seqs)
                .filter_map(|(p, seq)| {
                    p.resolve().map(|r| {
                        r.map(|mut d| {
                            d.seq = seq;
                            d
                        })
                    })
                })
                .collect()
        });
        Resolved {
            records,
            skipped,
            end,
        }
    }
}

/// Bits of `Document::seq` that number the record within its file.
pub const SEQ_RECORD_BITS: u32 = 40;

/// The `Document::seq` of record `record` (1-based) of the file of rank `rank`.
pub fn seq_of(rank: u64, record: u64) -> u64 {
    (rank << SEQ_RECORD_BITS) | (record & ((1 << SEQ_RECORD_BITS) - 1))
}

/// Reads `files` from `start` on, in batches of `batch_size` records, on a thread of its own;
/// `ranks[i]` is the rank of `files[i]` in the whole run's input order (see
/// [`input::file_ranks`]), which numbers the documents' `seq`. The channel holds two batches, so
/// memory holds a few batches, not the corpus.
pub fn spawn_reader(
    files: Vec<InputFile>,
    ranks: Vec<u64>,
    spec: InputSpec,
    start: Position,
    batch_size: usize,
) -> (
    mpsc::Receiver<Result<Batch, InputError>>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::sync_channel::<Result<Batch, InputError>>(2);
    let handle = std::thread::spawn(move || {
        let mut records = Vec::with_capacity(batch_size);
        let mut seqs = Vec::with_capacity(batch_size);
        for (fi, file) in files.iter().enumerate().skip(start.file) {
            let rank = ranks.get(fi).copied().unwrap_or(fi as u64);
            let it = match input::open_pending(file, &spec) {
                Ok(it) => it,
                Err(e) => {
                    let _ = tx.send(Err(e));
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
