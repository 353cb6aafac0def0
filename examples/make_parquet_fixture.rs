//! Writes the parquet fixtures: `fixtures/parquet/docs.parquet` from a JSON Lines file, and the
//! malformed parquet files under `fixtures/bad/`. Run by `fixtures/make_fixtures.py`:
//!
//! ```text
//! cargo run --release --example make_parquet_fixture -- DOCS.jsonl FIXTURES_DIR
//! ```

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, src, out] = &args[..] else {
        return Err("usage: make_parquet_fixture DOCS.jsonl FIXTURES_DIR".into());
    };
    let out = Path::new(out);
    let docs = read_docs(Path::new(src))?;
    fs::create_dir_all(out.join("parquet"))?;
    fs::create_dir_all(out.join("bad"))?;
    write_docs(&out.join("parquet/docs.parquet"), &docs, 20, true)?;
    write_null_text(&out.join("bad/null_text.parquet"))?;
    write_no_text_column(&out.join("bad/no_text_column.parquet"))?;
    write_corrupt(&out.join("bad/corrupt.parquet"), &docs[..30])?;
    Ok(())
}

/// One input document: id, text and optional string fields.
struct Doc {
    id: String,
    text: String,
    source: Option<String>,
    lang: Option<String>,
    url: Option<String>,
}

fn read_docs(path: &Path) -> Result<Vec<Doc>> {
    let mut docs = Vec::new();
    for line in BufReader::new(File::open(path)?).lines() {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        docs.push(Doc {
            id: s("id").ok_or("record without id")?,
            text: s("text").ok_or("record without text")?,
            source: s("source"),
            lang: s("lang"),
            url: s("url"),
        });
    }
    Ok(docs)
}

fn props(row_group_rows: usize, dictionary: bool) -> Result<WriterProperties> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_dictionary_enabled(dictionary)
        // A fixed writer name keeps the file identical across parquet crate versions.
        .set_created_by("corpusforge fixtures".to_string())
        .build())
}

fn write(path: &Path, batch: RecordBatch, props: WriterProperties) -> Result<()> {
    let mut writer = ArrowWriter::try_new(File::create(path)?, batch.schema(), Some(props))?;
    writer.write(&batch)?;
    writer.close()?;
    Ok(())
}

fn write_docs(path: &Path, docs: &[Doc], row_group_rows: usize, dictionary: bool) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, true),
        Field::new("lang", DataType::Utf8, true),
        Field::new("url", DataType::Utf8, true),
        Field::new("n_chars", DataType::Int64, false),
    ]));
    let strings = |f: &dyn Fn(&Doc) -> Option<&str>| -> ArrayRef {
        Arc::new(docs.iter().map(f).collect::<StringArray>())
    };
    let columns = vec![
        strings(&|d| Some(&d.id)),
        strings(&|d| Some(&d.text)),
        strings(&|d| d.source.as_deref()),
        strings(&|d| d.lang.as_deref()),
        strings(&|d| d.url.as_deref()),
        Arc::new(
            docs.iter()
                .map(|d| d.text.chars().count() as i64)
                .collect::<Int64Array>(),
        ) as ArrayRef,
    ];
    write(
        path,
        RecordBatch::try_new(schema, columns)?,
        props(row_group_rows, dictionary)?,
    )
}

/// Null texts (rejected as `missing_text`), integer ids (one null: generated id), a float and a
/// boolean metadata column; row groups of 3.
fn write_null_text(path: &Path) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("flag", DataType::Boolean, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![
            Some(10),
            Some(11),
            Some(12),
            Some(13),
            None,
            Some(15),
        ])),
        Arc::new(StringArray::from(vec![
            Some("First row."),
            None,
            Some("Third row."),
            None,
            Some("Fifth row, whose id is null."),
            Some("Sixth row."),
        ])),
        Arc::new(Float64Array::from(vec![
            Some(0.5),
            None,
            Some(1.25),
            Some(2.0),
            None,
            Some(-3.0),
        ])),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(true),
            Some(false),
            Some(true),
        ])),
    ];
    write(
        path,
        RecordBatch::try_new(schema, columns)?,
        props(3, true)?,
    )
}

/// A file whose text lives in a column named `content`.
fn write_no_text_column(path: &Path) -> Result<()> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("content", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["nc-1", "nc-2"])),
        Arc::new(StringArray::from(vec![
            "The text is in `content`.",
            "So `text` is missing.",
        ])),
    ];
    write(
        path,
        RecordBatch::try_new(schema, columns)?,
        props(10, true)?,
    )
}

/// Row groups of 10 rows; the compressed text page of row group 1 is overwritten in its middle,
/// so rows 0-9 read and the file fails at row group 1, row 0.
fn write_corrupt(path: &Path, docs: &[Doc]) -> Result<()> {
    write_docs(path, docs, 10, false)?;
    let meta = SerializedFileReader::new(File::open(path)?)?
        .metadata()
        .clone();
    let chunk = meta.row_group(1).column(1);
    let start = chunk.data_page_offset() as usize;
    let len = chunk.compressed_size() as usize;
    let mut bytes = fs::read(path)?;
    for b in &mut bytes[start + len / 2..start + len / 2 + 64] {
        *b = 0xAA;
    }
    fs::write(path, bytes)?;
    Ok(())
}
