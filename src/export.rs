//! `corpusforge export tokens --format llmc|megatron|datatrove|npy OUT DIR`: token shards to
//! other trainers' formats (the last three in [`formats`]).
//!
//! llm.c / nanoGPT `.bin`: a header of 256 little-endian int32 (`20240520`, version `1`, the
//! number of tokens, zeros), then the tokens as little-endian uint16. One file per split
//! (`train_000000.bin`, `val_000000.bin`), cut into more at `shard_tokens` tokens (a document
//! may then continue in the next file, as llm.c's own `fineweb.py` does). The tokens are the
//! token shards' lists concatenated in shard and row order, so each document keeps the bos
//! and eos the tokenize stage gave it. A vocabulary with ids above 65535 does not fit and is
//! refused.

use std::fs::{self, File};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub mod formats;

use crate::stages::tokenize::shards::{read_token_shard, split_shards};
use crate::stages::tokenize::{TokenizeError, SPLITS};

/// Magic number of an llm.c token file.
pub const LLMC_MAGIC: i32 = 20240520;
/// Version of the llm.c token file format written (uint16 tokens).
pub const LLMC_VERSION: i32 = 1;
/// Bytes of the llm.c header.
pub const LLMC_HEADER_BYTES: usize = 256 * 4;
/// The most tokens one llm.c file can count in its int32 header.
pub const LLMC_MAX_TOKENS: u64 = i32::MAX as u64;

/// Errors of an export; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the token shards failed.
    #[error(transparent)]
    Read(#[from] TokenizeError),
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The tokens do not fit the format.
    #[error("{path}: {message}")]
    DoesNotFit {
        /// The manifest or shard that shows it.
        path: PathBuf,
        /// What does not fit.
        message: String,
    },
    /// There is nothing to export.
    #[error("{0}: no token shards under tokens/train or tokens/val (run a pipeline with a tokenize stage first)")]
    Empty(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One file written by an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFile {
    /// The split it holds.
    pub split: String,
    /// Its path.
    pub path: PathBuf,
    /// Tokens in it.
    pub tokens: u64,
}

/// A file being written under a temporary name beside its path (`.NAME.tmp`), moved into place
/// when finished, so that a reader never sees a partial file.
struct Out {
    tmp: PathBuf,
    path: PathBuf,
    w: BufWriter<File>,
}

impl Out {
    fn create(path: PathBuf) -> Result<Self, ExportError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        let f = File::create(&tmp).map_err(io_err(&tmp))?;
        Ok(Out {
            tmp,
            path,
            w: BufWriter::with_capacity(1 << 20, f),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.w.write_all(bytes).map_err(io_err(&self.tmp))
    }

    /// Back to the start, to write a header whose figures are known only at the end.
    fn rewind(&mut self) -> Result<(), ExportError> {
        self.w.seek(SeekFrom::Start(0)).map_err(io_err(&self.tmp))?;
        Ok(())
    }

    fn finish(self) -> Result<PathBuf, ExportError> {
        let f = self.w.into_inner().map_err(|e| ExportError::Io {
            path: self.tmp.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(io_err(&self.tmp))?;
        drop(f);
        crate::storage::commit(&self.tmp, &self.path).map_err(io_err(&self.path))?;
        Ok(self.path)
    }

    fn abandon(self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// An llm.c file being written: header placeholder first, the token count filled in at the end.
struct LlmcFile {
    file: Out,
    tokens: u64,
}

impl LlmcFile {
    fn create(path: PathBuf) -> Result<Self, ExportError> {
        let mut file = Out::create(path)?;
        file.write(&[0u8; LLMC_HEADER_BYTES])?;
        Ok(LlmcFile { file, tokens: 0 })
    }

    fn finish(mut self) -> Result<u64, ExportError> {
        let mut header = [0i32; 256];
        header[0] = LLMC_MAGIC;
        header[1] = LLMC_VERSION;
        header[2] = self.tokens as i32;
        let bytes: Vec<u8> = header.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.file.rewind()?;
        self.file.write(&bytes)?;
        self.file.finish()?;
        Ok(self.tokens)
    }
}

/// Writes the token shards of the run in `out` as llm.c `.bin` files in `dir`, at most
/// `shard_tokens` tokens per file. Returns the files written, train first.
pub fn export_llmc(
    out: &Path,
    dir: &Path,
    shard_tokens: u64,
) -> Result<Vec<ExportedFile>, ExportError> {
    let shard_tokens = shard_tokens.clamp(1, LLMC_MAX_TOKENS);
    // Refuse before writing anything when the manifest says the vocabulary is too large.
    let mpath = out.join("manifest.json");
    if let Some(t) = crate::manifest::read(&mpath).and_then(|m| m.tokens) {
        if t.max_token_id > u16::MAX as u32 {
            return Err(ExportError::DoesNotFit {
                path: mpath,
                message: format!(
                    "the tokenizer's largest token id is {} (vocabulary of {}), but llm.c .bin files store tokens as \
                     uint16 (ids up to 65535); use a tokenizer with at most 65536 tokens",
                    t.max_token_id, t.vocab_size
                ),
            });
        }
    }
    let plan = token_splits(out)?;
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    remove_previous(dir)?;
    let mut written = Vec::new();
    let mut result = Ok(());
    for (split, shards) in plan {
        if let Err(e) = export_split(split, &shards, dir, shard_tokens, &mut written) {
            result = Err(e);
            break;
        }
    }
    if let Err(e) = result {
        // Leave no partial export behind.
        for f in &written {
            let _ = fs::remove_file(&f.path);
        }
        return Err(e);
    }
    Ok(written)
}

/// The splits of the run in `out` that have token shards, train first, each with its shards;
/// an error when there are none.
fn token_splits(out: &Path) -> Result<Vec<(&'static str, Vec<PathBuf>)>, ExportError> {
    let mut plan = Vec::new();
    for split in SPLITS {
        let files = split_shards(out, split)?;
        if !files.is_empty() {
            plan.push((split, files));
        }
    }
    if plan.is_empty() {
        return Err(ExportError::Empty(out.to_path_buf()));
    }
    Ok(plan)
}

/// Removes `train_NNNNNN.bin` / `val_NNNNNN.bin` files an earlier export left in `dir`, so that
/// the directory holds exactly this export (other files are left alone).
fn remove_previous(dir: &Path) -> Result<(), ExportError> {
    for e in fs::read_dir(dir).map_err(io_err(dir))?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let ours = SPLITS.iter().any(|s| {
            name.strip_prefix(s)
                .and_then(|r| r.strip_prefix('_'))
                .and_then(|r| r.strip_suffix(".bin"))
                .is_some_and(|n| n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if ours {
            let p = e.path();
            fs::remove_file(&p).map_err(io_err(&p))?;
        }
    }
    Ok(())
}

fn export_split(
    split: &str,
    shards: &[PathBuf],
    dir: &Path,
    shard_tokens: u64,
    written: &mut Vec<ExportedFile>,
) -> Result<(), ExportError> {
    let name = |i: usize| dir.join(format!("{split}_{i:06}.bin"));
    let mut file = LlmcFile::create(name(0))?;
    let mut buf: Vec<u8> = Vec::new();
    let fail = |file: LlmcFile, e: ExportError| {
        file.file.abandon();
        Err(e)
    };
    for shard in shards {
        let batches = match read_token_shard(shard, 4096) {
            Ok(b) => b,
            Err(e) => return fail(file, e.into()),
        };
        for batch in batches {
            let rows = match batch {
                Ok(r) => r,
                Err(e) => return fail(file, e.into()),
            };
            for row in rows {
                let mut rest: &[u32] = &row.tokens;
                while !rest.is_empty() {
                    if file.tokens == shard_tokens {
                        let path = file.file.path.clone();
                        let n = file.finish()?;
                        written.push(ExportedFile {
                            split: split.to_string(),
                            path,
                            tokens: n,
                        });
                        file = LlmcFile::create(name(
                            written.iter().filter(|f| f.split == split).count(),
                        ))?;
                    }
                    let room = (shard_tokens - file.tokens) as usize;
                    let (now, later) = rest.split_at(rest.len().min(room));
                    buf.clear();
                    for &t in now {
                        let Ok(t) = u16::try_from(t) else {
                            let e = ExportError::DoesNotFit {
                                path: shard.clone(),
                                message: format!(
                                    "document {:?} has token id {t}, but llm.c .bin files store tokens as uint16 \
                                     (ids up to 65535)",
                                    row.doc_id
                                ),
                            };
                            return fail(file, e);
                        };
                        buf.extend_from_slice(&t.to_le_bytes());
                    }
                    if let Err(e) = file.file.write(&buf) {
                        return fail(file, e);
                    }
                    file.tokens += now.len() as u64;
                    rest = later;
                }
            }
        }
    }
    let path = file.file.path.clone();
    let n = file.finish()?;
    written.push(ExportedFile {
        split: split.to_string(),
        path,
        tokens: n,
    });
    Ok(())
}

/// Reads an llm.c `.bin` file back: its tokens, after checking the header.
pub fn read_llmc(path: &Path) -> Result<Vec<u16>, ExportError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let bad = |message: String| ExportError::DoesNotFit {
        path: path.to_path_buf(),
        message,
    };
    if bytes.len() < LLMC_HEADER_BYTES {
        return Err(bad(format!(
            "{} bytes: shorter than the 1024-byte header",
            bytes.len()
        )));
    }
    let word = |i: usize| {
        i32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    };
    if word(0) != LLMC_MAGIC || word(1) != LLMC_VERSION {
        return Err(bad(format!(
            "header starts {} {}, expected {LLMC_MAGIC} {LLMC_VERSION}",
            word(0),
            word(1)
        )));
    }
    let n = word(2).max(0) as usize;
    let body = &bytes[LLMC_HEADER_BYTES..];
    if body.len() != 2 * n {
        return Err(bad(format!(
            "the header counts {n} tokens but {} bytes follow it",
            body.len()
        )));
    }
    Ok(body
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect())
}
