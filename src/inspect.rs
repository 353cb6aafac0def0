//! `corpusforge inspect`: a quick look at a parquet shard.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Longest value shown per cell, in characters.
const MAX_CELL: usize = 160;

/// Writes the schema, row count, row groups and the first `rows` rows of `path` to `out`.
pub fn inspect(path: &Path, rows: usize, out: &mut impl Write) -> anyhow::Result<()> {
    inspect_with(path, rows, None, out)
}

/// [`inspect`], and for a token shard with a `tokenizer` (a `tokenizer.json`), the decoded text
/// of each row shown.
pub fn inspect_with(
    path: &Path,
    rows: usize,
    tokenizer: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    use crate::stages::tokenize::{shards::token_rows, tokenizer as tk};
    let tok = match tokenizer {
        Some(t) => Some(
            tk::load(t)
                .map_err(|e| anyhow::anyhow!("{}: cannot load the tokenizer: {e}", t.display()))?,
        ),
        None => None,
    };
    let file = File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let meta = builder.metadata().clone();
    let total: i64 = meta.file_metadata().num_rows();
    writeln!(out, "file: {}", path.display())?;
    writeln!(out, "rows: {total}")?;
    writeln!(out, "row groups: {}", meta.num_row_groups())?;
    writeln!(out, "schema:")?;
    for f in builder.schema().fields() {
        writeln!(
            out,
            "  {}: {}{}",
            f.name(),
            f.data_type(),
            if f.is_nullable() { " (nullable)" } else { "" }
        )?;
    }
    let reader = builder.with_batch_size(rows.max(1)).build()?;
    let mut shown = 0usize;
    for batch in reader {
        let batch: RecordBatch = batch?;
        let opts = FormatOptions::default().with_null("null");
        let fmts: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<_, _>>()?;
        let token_rows = match &tok {
            Some(_) => Some(token_rows(&batch).ok_or_else(|| {
                anyhow::anyhow!("{}: not a token shard (no doc_id and tokens list<uint32> columns), so --tokenizer does not apply", path.display())
            })?),
            None => None,
        };
        for r in 0..batch.num_rows() {
            if shown >= rows {
                return Ok(());
            }
            writeln!(out, "--- row {shown}")?;
            for (f, fmt) in batch.schema().fields().iter().zip(&fmts) {
                let v = fmt.value(r).to_string();
                writeln!(out, "  {}: {}", f.name(), truncate(&v))?;
            }
            if let (Some(tok), Some(trs)) = (&tok, &token_rows) {
                let text = tk::decode(tok, &trs[r].tokens).map_err(|e| {
                    anyhow::anyhow!("{}: decoding row {shown}: {e}", path.display())
                })?;
                writeln!(out, "  decoded: {}", truncate(&text))?;
            }
            shown += 1;
        }
        if shown >= rows {
            break;
        }
    }
    Ok(())
}

/// One line, at most [`MAX_CELL`] characters, with escapes for newlines.
fn truncate(s: &str) -> String {
    let flat: String = s
        .chars()
        .flat_map(|c| if c == '\n' { vec!['\\', 'n'] } else { vec![c] })
        .collect();
    let n = flat.chars().count();
    if n <= MAX_CELL {
        flat
    } else {
        let head: String = flat.chars().take(MAX_CELL).collect();
        format!("{head}… ({n} chars)")
    }
}
