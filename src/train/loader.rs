//! The data loader: training windows straight from the parquet token shards.
//!
//! A split is the sorted `part-*.parquet` files of `DATA/tokens/{train,val}/`; each row is a
//! document's tokens (`tokens: list<uint32>`, EOS already at its end), so concatenating rows
//! gives the token stream with EOS between documents.
//!
//! **Order.** The unit of reading is a parquet row group. Epoch `e` shuffles the list of all
//! row groups (of all shards) with a generator derived from `(seed, e)`, then walks it in
//! blocks of `shuffle_buffer` row groups. A block's tokens, after the tail carried over from
//! the previous block, are cut into windows of `seq_len + 1` tokens that start every `seq_len`
//! tokens (consecutive windows share one token, so every token after the first is a target
//! exactly once); the tokens after the last whole window carry over to the next block. The
//! block's windows are then emitted in an order shuffled with `(seed, e, block)`. So each
//! window of the epoch's stream comes exactly once per epoch, memory holds one block of row
//! groups, and the order depends only on the seed and the shards.
//!
//! **Position.** [`LoaderState`] (epoch, block, next window, the carried-in tail) is saved in
//! checkpoints; a loader rebuilt from it re-reads the current block and continues with the
//! same windows a run that never stopped would have produced.

use std::path::{Path, PathBuf};

use arrow::array::{Array, LargeListArray, ListArray, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use serde::{Deserialize, Serialize};

use super::rng::Rng;

/// A loader failure, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum LoaderError {
    /// The split's directory is missing or has no shards.
    #[error("{dir}: no token shards (part-*.parquet); run the tokenize stage first")]
    NoShards {
        /// The split directory.
        dir: PathBuf,
    },
    /// A file could not be read.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The split is too small for one window.
    #[error(
        "{dir}: the split holds {tokens} tokens, fewer than one window of seq_len + 1 = {need}"
    )]
    TooSmall {
        /// The split directory.
        dir: PathBuf,
        /// Tokens in the split.
        tokens: u64,
        /// Tokens a window needs.
        need: usize,
    },
}

pub(super) fn read_err(path: &Path, e: impl std::fmt::Display) -> LoaderError {
    LoaderError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One row group of one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// Index into the shard list.
    pub file: usize,
    /// Row group within the shard.
    pub row_group: usize,
    /// Rows (documents) in it.
    pub rows: u64,
    /// Which rows are read (a mixture source of some of the documents); all when absent.
    pub keep: Option<Vec<bool>>,
}

/// The shards of one split and their row groups.
#[derive(Debug, Clone)]
pub struct Shards {
    /// The split directory.
    pub dir: PathBuf,
    /// The shard files, sorted.
    pub files: Vec<PathBuf>,
    /// Every row group of every shard, in file order.
    pub units: Vec<Unit>,
}

impl Shards {
    /// Lists the `*.parquet` files of `dir` (sorted) and their row groups.
    pub fn open(dir: &Path) -> Result<Self, LoaderError> {
        let mut files: Vec<PathBuf> = match crate::storage::read_dir(dir) {
            Ok(names) => names
                .into_iter()
                .filter(|(_, is_dir)| !is_dir)
                .map(|(n, _)| dir.join(n))
                .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(read_err(dir, e)),
        };
        files.sort();
        if files.is_empty() {
            return Err(LoaderError::NoShards {
                dir: dir.to_path_buf(),
            });
        }
        let mut units = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let file = crate::storage::open(f).map_err(|e| read_err(f, e))?;
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(f, e))?;
            let meta = builder.metadata();
            for rg in 0..meta.num_row_groups() {
                let rows = meta.row_group(rg).num_rows().max(0) as u64;
                if rows > 0 {
                    units.push(Unit {
                        file: i,
                        row_group: rg,
                        rows,
                        keep: None,
                    });
                }
            }
        }
        Ok(Shards {
            dir: dir.to_path_buf(),
            files,
            units,
        })
    }

    /// The tokens of one row group, documents concatenated in row order.
    pub fn read_unit(&self, unit: &Unit, out: &mut Vec<u32>) -> Result<(), LoaderError> {
        let path = &self.files[unit.file];
        let file = crate::storage::open(path).map_err(|e| read_err(path, e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(path, e))?;
        if !builder
            .schema()
            .fields()
            .iter()
            .any(|f| f.name() == "tokens")
        {
            return Err(read_err(path, "no `tokens` column (expected list<uint32>)"));
        }
        let mask = ProjectionMask::columns(builder.parquet_schema(), ["tokens"]);
        let reader = builder
            .with_projection(mask)
            .with_row_groups(vec![unit.row_group])
            .with_batch_size(4096)
            .build()
            .map_err(|e| read_err(path, e))?;
        let mut row = 0usize;
        for batch in reader {
            let batch = batch.map_err(|e| read_err(path, e))?;
            let Some(col) = batch.column_by_name("tokens") else {
                return Err(read_err(path, "no `tokens` column"));
            };
            // The values and the row offsets into them.
            let (values, off): (_, Vec<usize>) =
                if let Some(list) = col.as_any().downcast_ref::<ListArray>() {
                    let off = list.value_offsets().iter().map(|&o| o as usize);
                    (list.values().clone(), off.collect())
                } else if let Some(list) = col.as_any().downcast_ref::<LargeListArray>() {
                    let off = list.value_offsets().iter().map(|&o| o as usize);
                    (list.values().clone(), off.collect())
                } else {
                    return Err(read_err(
                        path,
                        format!("`tokens` is {}, expected list<uint32>", col.data_type()),
                    ));
                };
            let Some(ids) = values.as_any().downcast_ref::<UInt32Array>() else {
                return Err(read_err(
                    path,
                    format!("`tokens` items are {}, expected uint32", values.data_type()),
                ));
            };
            match &unit.keep {
                // Null lists have empty offsets ranges, so slicing by offsets skips them.
                None => out.extend_from_slice(&ids.values()[off[0]..off[off.len() - 1]]),
                Some(keep) => {
                    for (i, w) in off.windows(2).enumerate() {
                        if keep.get(row + i).copied().unwrap_or(false) {
                            out.extend_from_slice(&ids.values()[w[0]..w[1]]);
                        }
                    }
                }
            }
            row += batch.num_rows();
        }
        Ok(())
    }
}

/// Where a loader stands: enough to continue exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderState {
    /// Current epoch (0-based).
    pub epoch: u64,
    /// Block of the epoch being emitted.
    pub block: usize,
    /// Next window of that block (in its shuffled order).
    pub window: usize,
    /// Tokens carried into that block from the previous one.
    pub carry: Vec<u32>,
    /// Windows emitted since the start of training.
    pub windows_emitted: u64,
}

/// Shuffled `seq_len + 1` windows over a split, in batches.
pub struct Loader {
    shards: Shards,
    seq_len: usize,
    seed: u64,
    buffer: usize,
    state: LoaderState,
    /// The current block: its token stream, the window starts in emit order, and the tail it
    /// passes on.
    current: Option<Block>,
}

struct Block {
    stream: Vec<u32>,
    order: Vec<usize>,
    carry_out: Vec<u32>,
}

impl Loader {
    /// A loader at the start of epoch 0.
    pub fn new(shards: Shards, seq_len: usize, seed: u64, shuffle_buffer: usize) -> Self {
        Self::resume(
            shards,
            seq_len,
            seed,
            shuffle_buffer,
            LoaderState::default(),
        )
    }

    /// A loader continuing from `state`.
    pub fn resume(
        shards: Shards,
        seq_len: usize,
        seed: u64,
        shuffle_buffer: usize,
        state: LoaderState,
    ) -> Self {
        Loader {
            shards,
            seq_len,
            seed,
            buffer: shuffle_buffer.max(1),
            state,
            current: None,
        }
    }

    /// The position to save.
    pub fn state(&self) -> &LoaderState {
        &self.state
    }

    /// The shards read.
    pub fn shards(&self) -> &Shards {
        &self.shards
    }

    fn epoch_units(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.shards.units.len()).collect();
        Rng::derive(self.seed, &[epoch]).shuffle(&mut order);
        order
    }

    fn n_blocks(&self) -> usize {
        self.shards.units.len().div_ceil(self.buffer)
    }

    fn load_block(&mut self) -> Result<(), LoaderError> {
        let units = self.epoch_units(self.state.epoch);
        let block_units = units
            .chunks(self.buffer)
            .nth(self.state.block)
            .unwrap_or(&[]);
        let mut stream = self.state.carry.clone();
        for &u in block_units {
            self.shards.read_unit(&self.shards.units[u], &mut stream)?;
        }
        let t = self.seq_len;
        let n = if stream.len() > t {
            (stream.len() - 1) / t
        } else {
            0
        };
        let carry_out = stream[n * t..].to_vec();
        let mut order: Vec<usize> = (0..n).map(|k| k * t).collect();
        Rng::derive(self.seed, &[self.state.epoch, self.state.block as u64]).shuffle(&mut order);
        self.current = Some(Block {
            stream,
            order,
            carry_out,
        });
        Ok(())
    }

    /// The next window of `seq_len + 1` tokens.
    pub fn next_window(&mut self) -> Result<Vec<u32>, LoaderError> {
        let mut empty_blocks = 0usize;
        loop {
            if self.current.is_none() {
                self.load_block()?;
            }
            let block = self.current.as_ref().expect("loaded above");
            if let Some(&start) = block.order.get(self.state.window) {
                let w = block.stream[start..start + self.seq_len + 1].to_vec();
                self.state.window += 1;
                self.state.windows_emitted += 1;
                return Ok(w);
            }
            // Block exhausted: move on, carrying its tail within the epoch.
            if block.order.is_empty() {
                empty_blocks += 1;
            } else {
                empty_blocks = 0;
            }
            let carry = std::mem::take(&mut self.current.as_mut().expect("loaded").carry_out);
            self.current = None;
            self.state.window = 0;
            self.state.block += 1;
            if self.state.block >= self.n_blocks() {
                self.state.epoch += 1;
                self.state.block = 0;
                self.state.carry.clear();
            } else {
                self.state.carry = carry;
            }
            // A whole epoch of blocks without a window: the split is too small.
            if empty_blocks > self.n_blocks() {
                let mut tokens = 0u64;
                for u in &self.shards.units {
                    let mut v = Vec::new();
                    self.shards.read_unit(u, &mut v)?;
                    tokens += v.len() as u64;
                }
                return Err(LoaderError::TooSmall {
                    dir: self.shards.dir.clone(),
                    tokens,
                    need: self.seq_len + 1,
                });
            }
        }
    }

    /// The next `n` windows.
    pub fn next_windows(&mut self, n: usize) -> Result<Vec<Vec<u32>>, LoaderError> {
        (0..n).map(|_| self.next_window()).collect()
    }
}

/// The first windows of a split in file order (no shuffle), for evaluation: the same set
/// every time, at most `max_windows` of them.
pub fn eval_windows(
    shards: &Shards,
    seq_len: usize,
    max_windows: usize,
) -> Result<Vec<Vec<u32>>, LoaderError> {
    let mut stream = Vec::new();
    let mut out = Vec::new();
    for unit in &shards.units {
        shards.read_unit(unit, &mut stream)?;
        let mut start = 0;
        while start + seq_len < stream.len() && out.len() < max_windows {
            out.push(stream[start..start + seq_len + 1].to_vec());
            start += seq_len;
        }
        stream.drain(..start);
        if out.len() >= max_windows {
            break;
        }
    }
    Ok(out)
}
