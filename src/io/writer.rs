//! Sharded parquet datasets: `documents/`, `dropped/`, `rejected/`.
//!
//! A [`ShardWriter`] takes rows in order and writes `part-NNNNN.parquet` shards that roll over
//! at a byte or document limit. Row groups are cut by row and byte counts only, and each row
//! group is handed to the parquet encoder in one piece, so the bytes of a shard depend on its
//! rows alone — never on batch sizes, thread counts or when checkpoints happened.
//!
//! While a shard is open, its sealed row groups wait on disk as Arrow IPC segments beside it
//! (one per row group, under `.segments/`) and only the rows of the unsealed row group are in
//! memory. The shard is encoded from the segments when it closes, then renamed into place,
//! so a reader never sees half a shard. A checkpoint writes the unsealed rows to a pending
//! segment; [`ShardWriter::restore`] picks up from the segments named in the checkpoint, which
//! is how a killed run resumes with byte-identical output.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Float32Builder, RecordBatch, StringArray, StringBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use crate::config::{Compression, OutputSpec};
use crate::document::{Document, Rejection};

/// Errors while writing a dataset; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Encoding failed.
    #[error("{path}: {message}")]
    Encode {
        /// The file being written.
        path: PathBuf,
        /// The encoder's message.
        message: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn enc_err(path: &Path, e: impl std::fmt::Display) -> WriteError {
    WriteError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The three datasets a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// Kept documents.
    Documents,
    /// Dropped documents, with the stage and reason.
    Dropped,
    /// Input records that could not be read, with file, line and reason.
    Rejected,
}

impl Dataset {
    /// The directory name under the output directory.
    pub fn dir_name(self) -> &'static str {
        match self {
            Dataset::Documents => "documents",
            Dataset::Dropped => "dropped",
            Dataset::Rejected => "rejected",
        }
    }

    /// The Arrow schema of this dataset (also in `schemas/<name>.schema.json`).
    pub fn schema(self) -> SchemaRef {
        let doc_fields = || {
            vec![
                Field::new("id", DataType::Utf8, false),
                Field::new("text", DataType::Utf8, false),
                Field::new("source", DataType::Utf8, false),
                Field::new("lang", DataType::Utf8, true),
                Field::new("lang_score", DataType::Float32, true),
                Field::new("cluster_id", DataType::UInt64, true),
                Field::new("metadata", DataType::Utf8, true),
                Field::new("signals", DataType::Utf8, true),
            ]
        };
        let fields = match self {
            Dataset::Documents => doc_fields(),
            Dataset::Dropped => {
                let mut f = doc_fields();
                f.push(Field::new("duplicate_of", DataType::Utf8, true));
                f.push(Field::new("stage_index", DataType::UInt32, false));
                f.push(Field::new("stage", DataType::Utf8, false));
                f.push(Field::new("reason", DataType::Utf8, false));
                f
            }
            Dataset::Rejected => vec![
                Field::new("source", DataType::Utf8, false),
                Field::new("line", DataType::UInt64, true),
                Field::new("row_group", DataType::UInt64, true),
                Field::new("row", DataType::UInt64, true),
                Field::new("location", DataType::Utf8, false),
                Field::new("reason", DataType::Utf8, false),
                Field::new("detail", DataType::Utf8, false),
                Field::new("raw", DataType::Utf8, false),
            ],
        };
        Arc::new(Schema::new(fields))
    }
}

/// Why a document left the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropInfo {
    /// 0-based index of the stage in `stages:`.
    pub stage_index: u32,
    /// The stage's `type`.
    pub stage: &'static str,
    /// The full reason key, `<type>:<reason>`.
    pub reason: String,
}

/// One row for a writer.
#[derive(Debug, Clone)]
pub enum Row {
    /// A kept document.
    Kept(Document),
    /// A dropped document.
    Dropped(Document, DropInfo),
    /// A rejected input record.
    Rejected(Rejection),
}

impl Row {
    /// Bytes this row counts against the byte limits.
    fn weight(&self) -> u64 {
        match self {
            Row::Kept(d) | Row::Dropped(d, _) => d.text.len() as u64,
            Row::Rejected(r) => (r.raw.len() + r.detail.len()) as u64,
        }
    }
}

fn json_or_null(b: &mut StringBuilder, v: Option<String>) {
    match v {
        Some(s) => b.append_value(s),
        None => b.append_null(),
    }
}

/// Builds the record batch of `rows` (all of the writer's dataset) in `schema`.
fn rows_to_batch(
    dataset: Dataset,
    rows: &[Row],
    write_signals: bool,
) -> Result<RecordBatch, arrow::error::ArrowError> {
    let schema = dataset.schema();
    let n = rows.len();
    let cols: Vec<ArrayRef> = match dataset {
        Dataset::Documents | Dataset::Dropped => {
            let mut id = StringBuilder::with_capacity(n, n * 16);
            let text_bytes: usize = rows.iter().map(|r| r.weight() as usize).sum();
            let mut text = StringBuilder::with_capacity(n, text_bytes);
            let mut source = StringBuilder::with_capacity(n, n * 16);
            let mut lang = StringBuilder::new();
            let mut lang_score = Float32Builder::with_capacity(n);
            let mut cluster = UInt64Builder::with_capacity(n);
            let mut meta = StringBuilder::new();
            let mut signals = StringBuilder::new();
            let mut dup = StringBuilder::new();
            let mut stage_index = UInt32Builder::with_capacity(n);
            let mut stage = StringBuilder::new();
            let mut reason = StringBuilder::new();
            for r in rows {
                let (d, info) = match r {
                    Row::Kept(d) => (d, None),
                    Row::Dropped(d, i) => (d, Some(i)),
                    Row::Rejected(_) => unreachable!("rejections go to the rejected writer"),
                };
                id.append_value(&d.id);
                text.append_value(&d.text);
                source.append_value(&*d.source);
                lang.append_option(d.lang.as_deref());
                lang_score.append_option(d.lang_score);
                cluster.append_option(d.cluster_id);
                json_or_null(
                    &mut meta,
                    d.metadata
                        .as_ref()
                        .map(|m| serde_json::Value::Object(m.clone()).to_string()),
                );
                let sig = (write_signals && !d.signals.is_empty())
                    .then(|| serde_json::to_string(&d.signals).unwrap_or_default());
                json_or_null(&mut signals, sig);
                if let Some(i) = info {
                    dup.append_option(d.duplicate_of.as_deref());
                    stage_index.append_value(i.stage_index);
                    stage.append_value(i.stage);
                    reason.append_value(&i.reason);
                }
            }
            let mut cols: Vec<ArrayRef> = vec![
                Arc::new(id.finish()),
                Arc::new(text.finish()),
                Arc::new(source.finish()),
                Arc::new(lang.finish()),
                Arc::new(lang_score.finish()),
                Arc::new(cluster.finish()),
                Arc::new(meta.finish()),
                Arc::new(signals.finish()),
            ];
            if dataset == Dataset::Dropped {
                cols.push(Arc::new(dup.finish()));
                cols.push(Arc::new(stage_index.finish()));
                cols.push(Arc::new(stage.finish()));
                cols.push(Arc::new(reason.finish()));
            }
            cols
        }
        Dataset::Rejected => {
            let mut source = StringBuilder::new();
            let mut line = UInt64Builder::with_capacity(n);
            let mut row_group = UInt64Builder::with_capacity(n);
            let mut row = UInt64Builder::with_capacity(n);
            let mut location = StringBuilder::new();
            let mut reason = StringBuilder::new();
            let mut detail = StringBuilder::new();
            let mut raw = StringBuilder::new();
            for r in rows {
                let Row::Rejected(j) = r else {
                    unreachable!("documents go to the document writers")
                };
                use crate::document::Location;
                source.append_value(&*j.source);
                line.append_option(j.location.line());
                let (rg, rw) = match j.location {
                    Location::Row { row_group, row } => (Some(row_group), Some(row)),
                    _ => (None, None),
                };
                row_group.append_option(rg);
                row.append_option(rw);
                location.append_value(j.location.to_string());
                reason.append_value(&j.reason);
                detail.append_value(&j.detail);
                raw.append_value(&j.raw);
            }
            vec![
                Arc::new(source.finish()),
                Arc::new(line.finish()),
                Arc::new(row_group.finish()),
                Arc::new(row.finish()),
                Arc::new(location.finish()),
                Arc::new(reason.finish()),
                Arc::new(detail.finish()),
                Arc::new(raw.finish()),
            ]
        }
    };
    RecordBatch::try_new(schema, cols)
}

/// Rows in a record batch, and the text bytes they weigh (for restored pending rows).
fn batch_weight(dataset: Dataset, b: &RecordBatch) -> u64 {
    let col = |name: &str| {
        b.column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .map(|a| a.values().len() as u64)
            .unwrap_or(0)
    };
    match dataset {
        Dataset::Rejected => col("raw") + col("detail"),
        _ => col("text"),
    }
}

/// A finished shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardFile {
    /// Path relative to the output directory, `/`-separated.
    pub path: String,
    /// Rows in the shard.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// xxh3-64 of the file, as 16 hex digits.
    pub xxh3: String,
}

/// What a checkpoint needs to know to continue a writer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterState {
    /// Shards already closed.
    pub closed: Vec<ShardFile>,
    /// Sealed row-group segments of the open shard (file names under `.segments/`).
    pub segments: Vec<String>,
    /// Unsealed rows, saved at the checkpoint (file name under `.segments/`), if any.
    pub pending: Option<String>,
    /// Rows in the open shard (segments + pending).
    pub shard_rows: u64,
    /// Bytes in the open shard (segments + pending).
    pub shard_bytes: u64,
    /// Checkpoints taken so far (names pending files uniquely).
    pub checkpoints: u64,
}

/// Limits and encoding settings shared by the writers of a run.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// See [`OutputSpec::shard_max_bytes`].
    pub shard_max_bytes: u64,
    /// See [`OutputSpec::shard_max_docs`].
    pub shard_max_docs: u64,
    /// See [`OutputSpec::row_group_docs`].
    pub row_group_docs: u64,
    /// See [`OutputSpec::row_group_bytes`].
    pub row_group_bytes: u64,
    /// Codec.
    pub compression: Compression,
    /// zstd level.
    pub zstd_level: i32,
    /// See [`OutputSpec::write_signals`].
    pub write_signals: bool,
    /// Prefix of shard names (`part` normally; tasks of a multi-task run add their index).
    pub prefix: String,
}

impl WriterOptions {
    /// Options from the `output:` section.
    pub fn from_spec(o: &OutputSpec) -> Self {
        WriterOptions {
            shard_max_bytes: o.shard_max_bytes,
            shard_max_docs: o.shard_max_docs,
            row_group_docs: o.row_group_docs,
            row_group_bytes: o.row_group_bytes,
            compression: o.compression,
            zstd_level: o.zstd_level,
            write_signals: o.write_signals,
            prefix: "part".to_string(),
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
        let mut b = WriterProperties::builder().set_compression(compression);
        // Long, mostly unique strings: a dictionary only costs hashing, statistics only compares.
        for col in [
            "id",
            "text",
            "metadata",
            "signals",
            "duplicate_of",
            "detail",
            "raw",
        ] {
            b = b
                .set_column_dictionary_enabled(ColumnPath::from(col), false)
                .set_column_statistics_enabled(ColumnPath::from(col), EnabledStatistics::None);
        }
        b
            // Row groups are cut by us, one `write` + `flush` each.
            .set_max_row_group_row_count(None)
            .set_max_row_group_bytes(None)
            .set_created_by(format!("corpusforge {}", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

/// Writes one dataset (or one partition of it) as rolling parquet shards.
pub struct ShardWriter {
    dataset: Dataset,
    root: PathBuf,
    /// Directory of the shards, relative to `root`.
    rel_dir: String,
    opts: WriterOptions,
    state: WriterState,
    /// Rows restored from a pending segment, to go first into the next sealed row group.
    restored: Option<RecordBatch>,
    rows: Vec<Row>,
    rows_bytes: u64,
    /// Segment files no longer needed once the next checkpoint is committed.
    stale: Vec<String>,
}

impl ShardWriter {
    /// A writer for `dataset` under `root/rel_dir`.
    pub fn new(
        dataset: Dataset,
        root: &Path,
        rel_dir: &str,
        opts: WriterOptions,
    ) -> Result<Self, WriteError> {
        let w = ShardWriter {
            dataset,
            root: root.to_path_buf(),
            rel_dir: rel_dir.to_string(),
            opts,
            state: WriterState::default(),
            restored: None,
            rows: Vec::new(),
            rows_bytes: 0,
            stale: Vec::new(),
        };
        let seg = w.segment_dir();
        fs::create_dir_all(&seg).map_err(io_err(&seg))?;
        Ok(w)
    }

    fn dir(&self) -> PathBuf {
        self.root.join(&self.rel_dir)
    }

    /// Where the open shard's segments wait: `.segments/`, or `.segments-PREFIX/` for the
    /// tasks of a split run, which write into the same directory at the same time.
    fn segment_dir(&self) -> PathBuf {
        if self.opts.prefix == "part" {
            self.dir().join(".segments")
        } else {
            self.dir().join(format!(".segments-{}", self.opts.prefix))
        }
    }

    fn shard_name(&self) -> String {
        format!(
            "{}-{:05}.parquet",
            self.opts.prefix,
            self.state.closed.len()
        )
    }

    /// Adds one row; seals a row group and closes a shard when a limit is reached.
    pub fn push(&mut self, row: Row) -> Result<(), WriteError> {
        let w = row.weight();
        self.rows.push(row);
        self.rows_bytes += w;
        self.state.shard_rows += 1;
        self.state.shard_bytes += w;
        let unsealed =
            self.rows.len() as u64 + self.restored.as_ref().map_or(0, |b| b.num_rows() as u64);
        if unsealed >= self.opts.row_group_docs
            || self.rows_bytes + self.restored_bytes() >= self.opts.row_group_bytes
        {
            self.seal()?;
        }
        if self.state.shard_rows >= self.opts.shard_max_docs
            || self.state.shard_bytes >= self.opts.shard_max_bytes
        {
            self.close_shard()?;
        }
        Ok(())
    }

    fn restored_bytes(&self) -> u64 {
        self.restored
            .as_ref()
            .map_or(0, |b| batch_weight(self.dataset, b))
    }

    /// The unsealed rows as one batch (restored rows first).
    fn unsealed_batch(&mut self) -> Result<Option<RecordBatch>, WriteError> {
        let dir = self.dir();
        let fresh = if self.rows.is_empty() {
            None
        } else {
            Some(
                rows_to_batch(self.dataset, &self.rows, self.opts.write_signals)
                    .map_err(|e| enc_err(&dir, e))?,
            )
        };
        Ok(match (self.restored.clone(), fresh) {
            (None, f) => f,
            (Some(r), None) => Some(r),
            (Some(r), Some(f)) => Some(
                arrow::compute::concat_batches(&self.dataset.schema(), [&r, &f])
                    .map_err(|e| enc_err(&dir, e))?,
            ),
        })
    }

    fn write_segment(&self, name: &str, batch: &RecordBatch) -> Result<(), WriteError> {
        let path = self.segment_dir().join(name);
        let tmp = path.with_extension("tmp");
        let f = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut w =
            arrow::ipc::writer::FileWriter::try_new(BufWriter::new(f), &self.dataset.schema())
                .map_err(|e| enc_err(&tmp, e))?;
        w.write(batch).map_err(|e| enc_err(&tmp, e))?;
        w.finish().map_err(|e| enc_err(&tmp, e))?;
        drop(w);
        crate::storage::commit(&tmp, &path).map_err(io_err(&path))
    }

    fn read_segment(&self, name: &str) -> Result<Vec<RecordBatch>, WriteError> {
        let path = self.segment_dir().join(name);
        let f = crate::storage::open(&path).map_err(io_err(&path))?;
        let r = arrow::ipc::reader::FileReader::try_new(BufReader::new(f), None)
            .map_err(|e| enc_err(&path, e))?;
        r.collect::<Result<Vec<_>, _>>()
            .map_err(|e| enc_err(&path, e))
    }

    /// Seals the unsealed rows into a row-group segment.
    fn seal(&mut self) -> Result<(), WriteError> {
        let Some(batch) = self.unsealed_batch()? else {
            return Ok(());
        };
        let name = format!(
            "{}.seg-{:06}.arrow",
            self.shard_name(),
            self.state.segments.len()
        );
        self.write_segment(&name, &batch)?;
        self.state.segments.push(name);
        self.rows.clear();
        self.rows_bytes = 0;
        self.restored = None;
        Ok(())
    }

    /// Encodes the open shard from its segments, renames it into place.
    fn close_shard(&mut self) -> Result<(), WriteError> {
        self.seal()?;
        if self.state.segments.is_empty() {
            return Ok(());
        }
        let dir = self.dir();
        let name = self.shard_name();
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        {
            let f = File::create(&tmp).map_err(io_err(&tmp))?;
            let mut w = ArrowWriter::try_new(
                BufWriter::with_capacity(1 << 20, f),
                self.dataset.schema(),
                Some(self.opts.properties()),
            )
            .map_err(|e| enc_err(&tmp, e))?;
            for seg in &self.state.segments {
                let batches = self.read_segment(seg)?;
                for b in &batches {
                    w.write(b).map_err(|e| enc_err(&tmp, e))?;
                }
                w.flush().map_err(|e| enc_err(&tmp, e))?;
            }
            let inner = w.into_inner().map_err(|e| enc_err(&tmp, e))?;
            let f = inner.into_inner().map_err(|e| enc_err(&tmp, e.error()))?;
            f.sync_all().map_err(io_err(&tmp))?;
        }
        crate::storage::commit(&tmp, &path).map_err(io_err(&path))?;
        // The last committed checkpoint may still name these segments: keep them until the next.
        let done = std::mem::take(&mut self.state.segments);
        self.stale.extend(done);
        self.stale.extend(self.state.pending.take());
        let (bytes, xxh3) = hash_file(&path)?;
        let rel = if self.rel_dir.is_empty() {
            name
        } else {
            format!("{}/{}", self.rel_dir, name)
        };
        self.state.closed.push(ShardFile {
            path: rel,
            rows: self.state.shard_rows,
            bytes,
            xxh3,
        });
        self.state.shard_rows = 0;
        self.state.shard_bytes = 0;
        Ok(())
    }

    /// Saves the unsealed rows so that [`ShardWriter::restore`] can continue from here.
    pub fn checkpoint(&mut self) -> Result<WriterState, WriteError> {
        let previous = self.state.pending.take();
        if let Some(batch) = self.unsealed_batch()? {
            self.state.checkpoints += 1;
            let name = format!("pending-{:06}.arrow", self.state.checkpoints);
            self.write_segment(&name, &batch)?;
            self.state.pending = Some(name);
        }
        let st = self.state.clone();
        // The previous pending file is still named by the committed checkpoint until this one
        // is committed; the runner then calls `drop_stale`.
        self.stale.extend(previous);
        Ok(st)
    }

    /// Removes segment files that no committed checkpoint names any more.
    pub fn drop_stale(&mut self) {
        let dir = self.segment_dir();
        for name in self.stale.drain(..) {
            let _ = crate::storage::remove_file(&dir.join(&name));
        }
    }

    /// Continues from a checkpoint's state: segments and pending rows are taken as they were.
    pub fn restore(&mut self, state: WriterState) -> Result<(), WriteError> {
        self.rows.clear();
        self.rows_bytes = 0;
        self.restored = None;
        if let Some(p) = &state.pending {
            let batches = self.read_segment(p)?;
            let dir = self.dir();
            self.restored = Some(
                arrow::compute::concat_batches(&self.dataset.schema(), &batches)
                    .map_err(|e| enc_err(&dir, e))?,
            );
        }
        self.state = state;
        Ok(())
    }

    /// Closes the open shard and returns every shard written, in order.
    pub fn finish(mut self) -> Result<Vec<ShardFile>, WriteError> {
        self.close_shard()?;
        let seg = self.segment_dir();
        let _ = crate::storage::remove_dir_all(&seg);
        Ok(self.state.closed)
    }
}

/// Size and xxh3-64 (hex) of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(u64, String), WriteError> {
    let f = crate::storage::open(path).map_err(io_err(path))?;
    hash_reader(f).map_err(io_err(path))
}

/// Size and xxh3 (hex) of everything `r` yields.
pub fn hash_reader(mut r: impl Read) -> std::io::Result<(u64, String)> {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, format!("{:016x}", h.digest())))
}

/// The Arrow schema of `dataset` as the JSON stored in `schemas/<dataset>.schema.json`.
pub fn schema_json(dataset: Dataset) -> serde_json::Value {
    arrow_schema_json(dataset.dir_name(), &dataset.schema())
}

/// An Arrow schema as JSON: `{"dataset", "fields": [{"name", "type", "nullable"}]}`.
pub fn arrow_schema_json(name: &str, schema: &Schema) -> serde_json::Value {
    let fields: Vec<serde_json::Value> = schema
        .fields()
        .iter()
        .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()}))
        .collect();
    serde_json::json!({"dataset": name, "fields": fields})
}
