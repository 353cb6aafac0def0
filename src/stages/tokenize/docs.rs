//! Reading the kept documents back from the documents shards, in order, a record batch at a
//! time (only the `id` and `text` columns), so memory holds one batch, not the corpus.

use std::collections::VecDeque;
use std::fs::File;
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
}

/// Streams `(id, text)` from document shards, in the order given.
pub struct DocReader {
    shards: VecDeque<PathBuf>,
    current: Option<(PathBuf, ParquetRecordBatchReader)>,
    buffered: VecDeque<Doc>,
    failed: bool,
}

impl DocReader {
    /// A reader over `shards` (full paths), read in this order.
    pub fn new(shards: Vec<PathBuf>) -> Self {
        DocReader {
            shards: shards.into(),
            current: None,
            buffered: VecDeque::new(),
            failed: false,
        }
    }

    fn open(path: &Path) -> Result<ParquetRecordBatchReader, TokenizeError> {
        let err = |e: &dyn std::fmt::Display| TokenizeError::Parquet {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let f = File::open(path).map_err(|source| TokenizeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| err(&e))?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), ["id", "text"]);
        builder
            .with_projection(mask)
            .with_batch_size(READ_BATCH)
            .build()
            .map_err(|e| err(&e))
    }

    fn batch_docs(path: &Path, b: &RecordBatch) -> Result<Vec<Doc>, TokenizeError> {
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
        Ok(ids
            .into_iter()
            .zip(texts)
            .map(|(id, text)| Doc { id, text })
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
                let r = Self::open(&path)?;
                self.current = Some((path, r));
            }
            let (path, reader) = self.current.as_mut().expect("opened above");
            match reader.next() {
                Some(Ok(b)) => {
                    let docs = Self::batch_docs(path, &b)?;
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
