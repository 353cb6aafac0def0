//! Parquet: record batches streamed from a file, only the needed columns, one record per row.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use serde_json::{Map, Value};

use super::{reject, Unreadable};
use crate::document::{Document, Location, Record, Rejection};

/// Rows per record batch: big enough to amortize decoding, small enough to keep memory flat.
const BATCH_ROWS: usize = 1024;

/// The columns of the current batch and the next row to yield from it.
struct Batch {
    text: ArrayRef,
    id: Option<ArrayRef>,
    metadata: Vec<(String, ArrayRef)>,
    pos: usize,
}

/// Records of a parquet file, in row order.
///
/// Row groups are read one at a time, so a batch never spans two of them: a corrupt page costs
/// the rest of its row group (one `corrupt_parquet` record), and reading resumes at the next.
pub(crate) struct ParquetRecords {
    file: crate::storage::InputSource,
    metadata: ArrowReaderMetadata,
    mask: ProjectionMask,
    source: Arc<str>,
    text_field: String,
    id_field: Option<String>,
    metadata_fields: Vec<String>,
    /// First global row of each row group, then the total row count.
    row_group_starts: Vec<u64>,
    /// The row group being read; `None` between row groups.
    reader: Option<ParquetRecordBatchReader>,
    /// Index of the next row group to open.
    next_row_group: usize,
    batch: Option<Batch>,
    /// Global (file-wide) index of the next row.
    next_row: u64,
}

/// The parquet crate can panic on malformed files; a bad input must not take the run down.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let msg = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown error".to_string());
        format!("the parquet decoder failed: {msg}")
    })
}

/// True for the string types the text column may have.
fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, value) => matches!(**value, DataType::Utf8 | DataType::LargeUtf8),
        _ => false,
    }
}

impl ParquetRecords {
    /// Opens `file`, checks its text column and selects the columns to read.
    pub(crate) fn open(
        file: crate::storage::InputSource,
        source: Arc<str>,
        text_field: &str,
        id_field: Option<&str>,
        metadata_fields: &[String],
    ) -> Result<Self, Unreadable> {
        let unreadable = |msg: String| Unreadable {
            reason: "corrupt_parquet",
            detail: format!("`{source}` is not a readable parquet file: {msg}"),
        };
        let metadata = guarded(|| ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()))
            .map_err(unreadable)?
            .map_err(|e| unreadable(e.to_string()))?;
        let schema = metadata.schema().clone();
        let text_type = match schema.field_with_name(text_field) {
            Ok(field) => field.data_type().clone(),
            Err(_) => {
                let available: Vec<&str> =
                    schema.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(Unreadable {
                    reason: "missing_text",
                    detail: format!(
                        "`{source}` has no column `{text_field}` (its columns: {}); set `input.text_field`",
                        available.join(", ")
                    ),
                });
            }
        };
        if !is_string(&text_type) {
            return Err(Unreadable {
                reason: "text_not_string",
                detail: format!(
                    "column `{text_field}` of `{source}` has type {text_type}; the text column must hold strings"
                ),
            });
        }
        let has = |name: &str| schema.field_with_name(name).is_ok();
        let id_field = id_field.filter(|f| has(f)).map(str::to_string);
        let metadata_fields: Vec<String> =
            metadata_fields.iter().filter(|f| has(f)).cloned().collect();

        let parquet_schema = metadata.metadata().file_metadata().schema_descr();
        let wanted = |name: &str| {
            name == text_field
                || id_field.as_deref() == Some(name)
                || metadata_fields.iter().any(|m| m == name)
        };
        let roots = parquet_schema.root_schema().get_fields();
        let indices = roots
            .iter()
            .enumerate()
            .filter(|(_, f)| wanted(f.name()))
            .map(|(i, _)| i);
        let mask = ProjectionMask::roots(parquet_schema, indices);

        let mut row_group_starts = vec![0u64];
        for rg in metadata.metadata().row_groups() {
            let last = *row_group_starts.last().unwrap_or(&0);
            row_group_starts.push(last + rg.num_rows().max(0) as u64);
        }
        Ok(ParquetRecords {
            file,
            metadata,
            mask,
            source,
            text_field: text_field.to_string(),
            id_field,
            metadata_fields,
            row_group_starts,
            reader: None,
            next_row_group: 0,
            batch: None,
            next_row: 0,
        })
    }

    fn row_groups(&self) -> usize {
        self.row_group_starts.len() - 1
    }

    /// Row group and row within it of a global row index.
    fn location(&self, global: u64) -> Location {
        // `row_group_starts[0]` is 0, so the partition point is at least 1.
        let rg = self
            .row_group_starts
            .partition_point(|&start| start <= global)
            - 1;
        if rg >= self.row_groups() {
            return Location::File;
        }
        Location::Row {
            row_group: rg as u64,
            row: global - self.row_group_starts[rg],
        }
    }

    /// Gives up on the current row group: one `corrupt_parquet` record at its first unread row;
    /// reading resumes at the next row group.
    fn fail(&mut self, error: String) -> Rejection {
        let rg = self.next_row_group - 1;
        let end = self.row_group_starts[rg + 1];
        let location = self.location(self.next_row);
        let lost = end.saturating_sub(self.next_row);
        let detail = format!("{error} ({lost} rows of row group {rg} skipped)");
        self.reader = None;
        self.batch = None;
        self.next_row = end;
        reject(
            &self.source,
            location,
            "corrupt_parquet",
            detail,
            String::new(),
        )
    }

    /// Opens the next row group; `false` when there is none.
    fn open_row_group(&mut self) -> Result<bool, Rejection> {
        if self.next_row_group >= self.row_groups() {
            return Ok(false);
        }
        let rg = self.next_row_group;
        self.next_row_group += 1;
        self.next_row = self.row_group_starts[rg];
        let file = match self.file.try_clone() {
            Ok(file) => file,
            Err(e) => return Err(self.fail(e.to_string())),
        };
        let builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![rg])
                .with_projection(self.mask.clone())
                .with_batch_size(BATCH_ROWS);
        match guarded(|| builder.build()) {
            Ok(Ok(reader)) => {
                self.reader = Some(reader);
                Ok(true)
            }
            Ok(Err(e)) => Err(self.fail(e.to_string())),
            Err(msg) => Err(self.fail(msg)),
        }
    }

    /// Loads the next batch; `None` at the end of the file.
    fn load(&mut self) -> Option<Result<(), Rejection>> {
        loop {
            let Some(reader) = self.reader.as_mut() else {
                match self.open_row_group() {
                    Ok(true) => continue,
                    Ok(false) => return None,
                    Err(rejection) => return Some(Err(rejection)),
                }
            };
            match guarded(|| reader.next()) {
                Ok(Some(Ok(batch))) if batch.num_rows() > 0 => {
                    return Some(self.take_batch(&batch))
                }
                Ok(Some(Ok(_))) => continue,
                Ok(None) => {
                    self.reader = None;
                    let end = self.row_group_starts[self.next_row_group];
                    if self.next_row < end {
                        let msg = format!("the row group ended {} rows early", end - self.next_row);
                        return Some(Err(self.fail(msg)));
                    }
                }
                Ok(Some(Err(e))) => return Some(Err(self.fail(e.to_string()))),
                Err(msg) => return Some(Err(self.fail(msg))),
            }
        }
    }

    /// Makes `batch` the current one.
    fn take_batch(&mut self, batch: &RecordBatch) -> Result<(), Rejection> {
        let column = |name: &str| batch.column_by_name(name).cloned();
        let Some(text) = column(&self.text_field) else {
            return Err(self.fail(format!("no column `{}` in a record batch", self.text_field)));
        };
        // Dictionary-encoded strings are decoded once per batch so rows can be read uniformly.
        let text = match text.data_type() {
            DataType::Dictionary(..) => match arrow::compute::cast(&text, &DataType::LargeUtf8) {
                Ok(text) => text,
                Err(e) => return Err(self.fail(e.to_string())),
            },
            _ => text,
        };
        let id = self.id_field.as_deref().and_then(column);
        let metadata = self
            .metadata_fields
            .iter()
            .filter_map(|f| Some((f.clone(), column(f)?)))
            .collect();
        self.batch = Some(Batch {
            text,
            id,
            metadata,
            pos: 0,
        });
        Ok(())
    }

    /// The record of row `i` of the current batch.
    fn record(&self, batch: &Batch, i: usize) -> Record {
        let global = self.next_row;
        let location = self.location(global);
        let Some(text) = string_at(&batch.text, i) else {
            let detail = format!("text column `{}` is null", self.text_field);
            return Err(reject(
                &self.source,
                location,
                "missing_text",
                detail,
                String::new(),
            ));
        };
        let id = match &batch.id {
            Some(ids) if !ids.is_null(i) => match id_at(ids, i) {
                Some(id) => id,
                None => {
                    let detail = format!(
                        "id column `{}` has type {}, not a string or integer",
                        self.id_field.as_deref().unwrap_or_default(),
                        ids.data_type()
                    );
                    return Err(reject(
                        &self.source,
                        location,
                        "bad_id",
                        detail,
                        text.chars().take(200).collect(),
                    ));
                }
            },
            _ => format!("{}:{global}", self.source),
        };
        let mut doc = Document::new(id, text, self.source.clone());
        if !batch.metadata.is_empty() {
            let map: Map<String, Value> = batch
                .metadata
                .iter()
                .map(|(name, col)| (name.clone(), json_at(col, i)))
                .collect();
            doc.metadata = Some(map);
        }
        Ok(doc)
    }
}

impl Iterator for ParquetRecords {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(batch) = self.batch.take() {
                if batch.pos < batch.text.len() {
                    let record = self.record(&batch, batch.pos);
                    self.next_row += 1;
                    self.batch = Some(Batch {
                        pos: batch.pos + 1,
                        ..batch
                    });
                    return Some(record);
                }
            }
            if let Err(rejection) = self.load()? {
                return Some(Err(rejection));
            }
        }
    }
}

/// The string at row `i` of a string column; `None` when null.
fn string_at(array: &ArrayRef, i: usize) -> Option<String> {
    if array.is_null(i) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(i).to_string(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(i).to_string(),
        DataType::Utf8View => array.as_string_view().value(i).to_string(),
        _ => return None,
    })
}

/// A non-null id cell as a string: strings as they are, integers in decimal.
fn id_at(array: &ArrayRef, i: usize) -> Option<String> {
    Some(match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => return string_at(array, i),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i).to_string(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).to_string(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).to_string(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).to_string(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(i).to_string(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(i).to_string(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(i).to_string(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(i).to_string(),
        _ => return None,
    })
}

/// A cell as JSON: strings, integers, floats and booleans as themselves (non-finite floats as
/// null), other types as their display string.
fn json_at(array: &ArrayRef, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    let float = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float16 => float(array.as_primitive::<Float16Type>().value(i).to_f64()),
        // Through the shortest decimal form, so 0.1f32 reads 0.1 rather than 0.10000000149011612.
        DataType::Float32 => {
            let x = array.as_primitive::<Float32Type>().value(i);
            float(x.to_string().parse().unwrap_or(f64::NAN))
        }
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            string_at(array, i).map_or(Value::Null, Value::String)
        }
        _ => match ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()) {
            Ok(formatter) => Value::String(formatter.value(i).to_string()),
            Err(_) => Value::Null,
        },
    }
}
