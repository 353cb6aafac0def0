//! Token shards: `tokens/{train,val}/part-NNNNN.parquet` with `doc_id`, `tokens`, `n_tokens`.
//!
//! Like the documents writer, a shard rolls over at a token or document limit, row groups are
//! cut by row and token counts only (so the bytes depend on the rows alone, never on encode
//! batch sizes or thread counts), and a shard is written under a temporary name and renamed
//! when complete. Unlike it, there is no checkpointing: the tokenize pass is rerun whole.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ListArray, RecordBatch, StringArray, StringBuilder, UInt32Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::TokenizeError;
use crate::config::{Compression, OutputSpec};
use crate::io::writer::{arrow_schema_json, hash_file, ShardFile};

/// Name of the token dataset (its directory under the output directory).
pub const TOKENS_DIR: &str = "tokens";

/// The Arrow schema of the token shards (also in `schemas/tokens.schema.json`).
pub fn token_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("tokens", DataType::List(Arc::new(item_field())), false),
        Field::new("n_tokens", DataType::UInt32, false),
    ]))
}

fn item_field() -> Field {
    Field::new("item", DataType::UInt32, false)
}

/// [`token_schema`] as the JSON stored in `schemas/tokens.schema.json`.
pub fn token_schema_json() -> serde_json::Value {
    arrow_schema_json(TOKENS_DIR, &token_schema())
}

fn pq_err(path: &Path, e: impl std::fmt::Display) -> TokenizeError {
    TokenizeError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TokenizeError + '_ {
    move |source| TokenizeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Limits and encoding of token shards.
#[derive(Debug, Clone)]
pub struct TokenShardOptions {
    /// A shard closes at this many tokens...
    pub shard_max_tokens: u64,
    /// ...or this many documents.
    pub shard_max_docs: u64,
    /// A row group is cut at this many tokens...
    pub row_group_tokens: u64,
    /// ...or this many rows.
    pub row_group_docs: u64,
    /// Codec.
    pub compression: Compression,
    /// zstd level.
    pub zstd_level: i32,
    /// Shard name prefix (`part`, or `part-tNNNNN` for a task of a split run).
    pub prefix: String,
}

impl TokenShardOptions {
    /// Options from the `output:` section and the stage's token limits.
    pub fn new(o: &OutputSpec, shard_max_tokens: u64, row_group_tokens: u64, prefix: &str) -> Self {
        TokenShardOptions {
            shard_max_tokens: shard_max_tokens.max(1),
            shard_max_docs: o.shard_max_docs.max(1),
            row_group_tokens: row_group_tokens.max(1),
            row_group_docs: o.row_group_docs.max(1),
            compression: o.compression,
            zstd_level: o.zstd_level,
            prefix: prefix.to_string(),
        }
    }

    fn properties(&self) -> WriterProperties {
        let compression = match self.compression {
            Compression::Zstd => {
                PqCompression::ZSTD(ZstdLevel::try_new(self.zstd_level).unwrap_or_default())
            }
            Compression::Snappy => PqCompression::SNAPPY,
            Compression::None => PqCompression::UNCOMPRESSED,
        };
        WriterProperties::builder()
            .set_compression(compression)
            // Row groups are cut by us, one `write` + `flush` each.
            .set_max_row_group_row_count(None)
            .set_max_row_group_bytes(None)
            .set_created_by(format!("corpusforge {}", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

/// The shard being written: its encoder, over a temporary file.
struct OpenShard {
    tmp: PathBuf,
    path: PathBuf,
    name: String,
    writer: ArrowWriter<BufWriter<File>>,
}

/// Writes one split as rolling token shards.
pub struct TokenShardWriter {
    root: PathBuf,
    /// Directory of the shards relative to `root`, `/`-separated.
    rel_dir: String,
    opts: TokenShardOptions,
    open: Option<OpenShard>,
    closed: Vec<ShardFile>,
    // The unsealed row group.
    ids: StringBuilder,
    values: Vec<u32>,
    offsets: Vec<i32>,
    shard_rows: u64,
    shard_tokens: u64,
}

impl TokenShardWriter {
    /// A writer for `root/rel_dir`; the directory is created with the first shard.
    pub fn new(root: &Path, rel_dir: &str, opts: TokenShardOptions) -> Self {
        TokenShardWriter {
            root: root.to_path_buf(),
            rel_dir: rel_dir.to_string(),
            opts,
            open: None,
            closed: Vec::new(),
            ids: StringBuilder::new(),
            values: Vec::new(),
            offsets: vec![0],
            shard_rows: 0,
            shard_tokens: 0,
        }
    }

    fn rows(&self) -> u64 {
        (self.offsets.len() - 1) as u64
    }

    /// Adds one document's tokens; cuts a row group and closes a shard when a limit is reached.
    pub fn push(&mut self, doc_id: &str, tokens: &[u32]) -> Result<(), TokenizeError> {
        let dir = self.root.join(&self.rel_dir);
        if self.values.len() + tokens.len() > i32::MAX as usize {
            // A list's offsets are 32-bit; seal what we have (a single document this long
            // cannot be stored at all).
            self.seal()?;
            if tokens.len() > i32::MAX as usize {
                return Err(pq_err(
                    &dir,
                    format!(
                        "document {doc_id} has {} tokens, more than a shard row holds",
                        tokens.len()
                    ),
                ));
            }
        }
        self.ids.append_value(doc_id);
        self.values.extend_from_slice(tokens);
        self.offsets.push(self.values.len() as i32);
        self.shard_rows += 1;
        self.shard_tokens += tokens.len() as u64;
        if self.rows() >= self.opts.row_group_docs
            || self.values.len() as u64 >= self.opts.row_group_tokens
        {
            self.seal()?;
        }
        if self.shard_rows >= self.opts.shard_max_docs
            || self.shard_tokens >= self.opts.shard_max_tokens
        {
            self.close_shard()?;
        }
        Ok(())
    }

    fn shard_name(&self) -> String {
        format!("{}-{:05}.parquet", self.opts.prefix, self.closed.len())
    }

    /// Writes the unsealed rows as one row group of the open shard (opening it if needed).
    fn seal(&mut self) -> Result<(), TokenizeError> {
        if self.rows() == 0 {
            return Ok(());
        }
        if self.open.is_none() {
            let dir = self.root.join(&self.rel_dir);
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            let name = self.shard_name();
            let path = dir.join(&name);
            let tmp = dir.join(format!(".{name}.tmp"));
            let f = File::create(&tmp).map_err(io_err(&tmp))?;
            let writer = ArrowWriter::try_new(
                BufWriter::with_capacity(1 << 20, f),
                token_schema(),
                Some(self.opts.properties()),
            )
            .map_err(|e| pq_err(&tmp, e))?;
            self.open = Some(OpenShard {
                tmp,
                path,
                name,
                writer,
            });
        }
        let values = std::mem::take(&mut self.values);
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        let n_tokens: UInt32Array = offsets.windows(2).map(|w| (w[1] - w[0]) as u32).collect();
        let ids = self.ids.finish();
        let open = self.open.as_mut().expect("opened above");
        let list = ListArray::try_new(
            Arc::new(item_field()),
            OffsetBuffer::new(offsets.into()),
            Arc::new(UInt32Array::from(values)),
            None,
        )
        .map_err(|e| pq_err(&open.tmp, e))?;
        let cols: Vec<ArrayRef> = vec![Arc::new(ids), Arc::new(list), Arc::new(n_tokens)];
        let batch = RecordBatch::try_new(token_schema(), cols).map_err(|e| pq_err(&open.tmp, e))?;
        open.writer
            .write(&batch)
            .map_err(|e| pq_err(&open.tmp, e))?;
        open.writer.flush().map_err(|e| pq_err(&open.tmp, e))?;
        Ok(())
    }

    /// Finishes the open shard and renames it into place.
    fn close_shard(&mut self) -> Result<(), TokenizeError> {
        self.seal()?;
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let OpenShard {
            tmp,
            path,
            name,
            writer,
        } = open;
        let inner = writer.into_inner().map_err(|e| pq_err(&tmp, e))?;
        let f = inner.into_inner().map_err(|e| pq_err(&tmp, e.error()))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        crate::storage::commit(&tmp, &path).map_err(io_err(&path))?;
        let (bytes, xxh3) = hash_file(&path).map_err(|e| pq_err(&path, e))?;
        let rel = format!("{}/{}", self.rel_dir, name);
        self.closed.push(ShardFile {
            path: rel,
            rows: self.shard_rows,
            bytes,
            xxh3,
        });
        self.shard_rows = 0;
        self.shard_tokens = 0;
        Ok(())
    }

    /// Closes the open shard and returns every shard written, in order.
    pub fn finish(mut self) -> Result<Vec<ShardFile>, TokenizeError> {
        self.close_shard()?;
        Ok(self.closed)
    }
}

/// One document of a token shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The document id.
    pub doc_id: String,
    /// Its tokens (bos, text, eos).
    pub tokens: Vec<u32>,
}

/// Reads a token shard, one record batch at a time (`batch_rows` rows each).
pub fn read_token_shard(
    path: &Path,
    batch_rows: usize,
) -> Result<impl Iterator<Item = Result<Vec<TokenRow>, TokenizeError>>, TokenizeError> {
    let f = crate::storage::open(path).map_err(io_err(path))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .map_err(|e| pq_err(path, e))?
        .with_batch_size(batch_rows.max(1))
        .build()
        .map_err(|e| pq_err(path, e))?;
    let path = path.to_path_buf();
    Ok(reader.map(move |b| {
        let b = b.map_err(|e| pq_err(&path, e))?;
        token_rows(&b).ok_or_else(|| {
            pq_err(
                &path,
                "not a token shard: expected columns doc_id (utf8) and tokens (list<uint32>)",
            )
        })
    }))
}

/// The rows of a token record batch, if it has the token columns.
pub fn token_rows(b: &RecordBatch) -> Option<Vec<TokenRow>> {
    let ids = b
        .column_by_name("doc_id")?
        .as_any()
        .downcast_ref::<StringArray>()?;
    let lists = b
        .column_by_name("tokens")?
        .as_any()
        .downcast_ref::<ListArray>()?;
    let values = lists.values().as_any().downcast_ref::<UInt32Array>()?;
    let offsets = lists.value_offsets();
    Some(
        (0..b.num_rows())
            .map(|i| TokenRow {
                doc_id: ids.value(i).to_string(),
                tokens: values.values()[offsets[i] as usize..offsets[i + 1] as usize].to_vec(),
            })
            .collect(),
    )
}

/// The token shards of `split` under `out/tokens/`, sorted by name.
pub fn split_shards(out: &Path, split: &str) -> Result<Vec<PathBuf>, TokenizeError> {
    let dir = out.join(TOKENS_DIR).join(split);
    let names = match crate::storage::read_dir(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        r => r.map_err(io_err(&dir))?,
    };
    let mut files: Vec<PathBuf> = names
        .into_iter()
        .filter(|(_, is_dir)| !is_dir)
        .map(|(n, _)| dir.join(n))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "parquet")
                && !p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    files.sort();
    Ok(files)
}
