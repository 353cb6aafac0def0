//! Reading the kept documents back from the documents shards, in order, a record batch at a
//! time (only the `id` and `text` columns), so memory holds one batch, not the corpus.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use arrow::array::{Array, LargeStringArray, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use super::TokenizeError;

/// Rows per record batch read.
const READ_BATCH: usize = 1024;

/// A kept document as the tokenize pass sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    /// The document id.
    pub id: String,
    /// The text.
    pub text: String,
    /// The input file (read only by [`DocReader::with_source`]; empty otherwise).
    pub source: String,
}

/// Streams `(id, text)` from document shards, in the order given.
pub struct DocReader {
    shards: VecDeque<PathBuf>,
    current: Option<(PathBuf, ParquetRecordBatchReader)>,
    buffered: VecDeque<Doc>,
    failed: bool,
    with_source: bool,
}

impl DocReader {
    /// A reader over `shards` (full paths), read in this order.
    pub fn new(shards: Vec<PathBuf>) -> Self {
        DocReader {
            shards: shards.into(),
            current: None,
            buffered: VecDeque::new(),
            failed: false,
            with_source: false,
        }
    }

    /// Reads the `source` column too.
    pub fn with_source(mut self) -> Self {
        self.with_source = true;
        self
    }

    fn open(path: &Path, with_source: bool) -> Result<ParquetRecordBatchReader, TokenizeError> {
        let err = |e: &dyn std::fmt::Display| TokenizeError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let f = crate::storage::open(path).map_err(|source| TokenizeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| err(&e))?;
        let cols: &[&str] = if with_source {
            &["id", "text", "source"]
        } else {
            &["id", "text"]
        };
        let mask = ProjectionMask::columns(builder.parquet_schema(), cols.iter().copied());
        builder
            .with_projection(mask)
            .with_batch_size(READ_BATCH)
            .build()
            .map_err(|e| err(&e))
    }

    fn batch_docs(
        path: &Path,
        b: &RecordBatch,
        with_source: bool,
    ) -> Result<Vec<Doc>, TokenizeError> {
        let col = |name: &str| -> Result<Vec<String>, TokenizeError> {
            let c = b
                .column_by_name(name)
                .ok_or_else(|| TokenizeError::Parquet {
                    path: path.to_path_buf(),
                    message: format!("no `{name}` column: not a documents shard"),
                })?;
            if let Some(a) = c.as_any().downcast_ref::<StringArray>() {
                Ok((0..a.len()).map(|i| a.value(i).to_string()).collect())
            } else if let Some(a) = c.as_any().downcast_ref::<LargeStringArray>() {
                Ok((0..a.len()).map(|i| a.value(i).to_string()).collect())
            } else {
                Err(TokenizeError::Parquet {
                    path: path.to_path_buf(),
                    message: format!("column `{name}` is {}, expected a string", c.data_type()),
                })
            }
        };
        let ids = col("id")?;
        let texts = col("text")?;
        let sources = if with_source {
            col("source")?
        } else {
            vec![String::new(); ids.len()]
        };
        Ok(ids
            .into_iter()
            .zip(texts)
            .zip(sources)
            .map(|((id, text), source)| Doc { id, text, source })
            .collect())
    }

    fn next_doc(&mut self) -> Result<Option<Doc>, TokenizeError> {
        loop {
            if let Some(d) = self.buffered.pop_front() {
                return Ok(Some(d));
            }
            if self.current.is_none() {
                let Some(path) = self.shards.pop_front() else {
                    return Ok(None);
                };
                let r = Self::open(&path, self.with_source)?;
                self.current = Some((path, r));
            }
            let (path, reader) = self.current.as_mut().expect("opened above");
            match reader.next() {
                Some(Ok(b)) => {
                    let docs = Self::batch_docs(path, &b, self.with_source)?;
                    self.buffered.extend(docs);
                }
                Some(Err(e)) => {
                    return Err(TokenizeError::Parquet {
                        path: path.clone(),
                        message: e.to_string(),
                    });
                }
                None => self.current = None,
            }
        }
    }
}

impl Iterator for DocReader {
    type Item = Result<Doc, TokenizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.next_doc() {
            Ok(d) => d.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Where the tokenize pass reads the kept documents from, in the order a single-task run keeps
/// them.
#[derive(Debug, Clone)]
pub enum DocSource {
    /// Document shards, read in this order.
    Shards(Vec<PathBuf>),
    /// The document shards of each task of a split run. Each task holds whole input files and
    /// keeps their documents in order, so merging the tasks' streams by the rank of each
    /// document's input file (`ranks`, by `source`) gives the single-task order.
    Tasks {
        /// Per task, its shards in order.
        shards: Vec<Vec<PathBuf>>,
        /// Rank of each input file, by its `source` name.
        ranks: std::collections::HashMap<String, u64>,
    },
}

impl DocSource {
    /// A fresh pass over the documents.
    pub fn open(&self) -> Box<dyn Iterator<Item = Result<Doc, TokenizeError>> + Send> {
        match self {
            DocSource::Shards(s) => Box::new(DocReader::new(s.clone())),
            DocSource::Tasks { shards, ranks } => Box::new(MergedDocs {
                readers: shards
                    .iter()
                    .map(|s| DocReader::new(s.clone()).with_source().peekable())
                    .collect(),
                ranks: ranks.clone(),
                failed: false,
            }),
        }
    }
}

/// The k-way merge of [`DocSource::Tasks`].
struct MergedDocs {
    readers: Vec<std::iter::Peekable<DocReader>>,
    ranks: std::collections::HashMap<String, u64>,
    failed: bool,
}

impl Iterator for MergedDocs {
    type Item = Result<Doc, TokenizeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let mut best: Option<(u64, usize)> = None;
        for (i, r) in self.readers.iter_mut().enumerate() {
            match r.peek() {
                None => {}
                Some(Err(_)) => {
                    self.failed = true;
                    return r.next();
                }
                Some(Ok(d)) => {
                    let rank = self.ranks.get(&d.source).copied().unwrap_or(u64::MAX);
                    if best.is_none_or(|(b, _)| rank < b) {
                        best = Some((rank, i));
                    }
                }
            }
        }
        let (_, i) = best?;
        self.readers[i].next()
    }
}
