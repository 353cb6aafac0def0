//! Web input end to end: WARC files read record by record (documents, skipped records and
//! rejections with byte offsets), charsets decoded, main-content extraction as a stage, bad
//! parquet files rejected without stopping the run, and the extraction score on the shared
//! evaluation pages.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use corpusforge::config::{self, Pipeline};
use corpusforge::pipeline::{self, RunOptions};
use polars::prelude::*;

fn load(yaml: &str) -> Pipeline {
    config::load_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn run(p: &Pipeline, threads: usize) -> pipeline::RunSummary {
    let opts = RunOptions {
        threads: Some(threads),
        ..Default::default()
    };
    pipeline::run_data(p, Path::new("."), &opts).unwrap_or_else(|e| panic!("{e}"))
}

fn counts(m: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    m.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

fn owned(v: &[(&str, u64)]) -> Vec<(String, u64)> {
    v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

/// Rows of a dataset: every parquet file under `dir`, the given string columns.
fn rows(dir: &Path, cols: &[&str]) -> Vec<Vec<Option<String>>> {
    let mut files: Vec<_> = walk(dir);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let df = ParquetReader::new(fs::File::open(&f).unwrap())
            .finish()
            .unwrap();
        let columns: Vec<_> = cols
            .iter()
            .map(|c| df.column(c).unwrap().cast(&DataType::String).unwrap())
            .collect();
        for i in 0..df.height() {
            out.push(
                columns
                    .iter()
                    .map(|c| c.str().unwrap().get(i).map(str::to_string))
                    .collect(),
            );
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(walk(&p));
            } else if p.extension().is_some_and(|x| x == "parquet") {
                v.push(p);
            }
        }
    }
    v
}

fn warc_pipeline(input: &str, out: &Path, stages: &str) -> Pipeline {
    let stages = if stages.is_empty() {
        " []\n".to_string()
    } else {
        format!("\n{stages}")
    };
    load(&format!(
        "input:\n  paths: [\"{}\"]\nstages:{stages}output:\n  dir: \"{}\"\n",
        common::root().join(input).display(),
        out.display()
    ))
}

#[test]
fn a_warc_gz_gives_its_html_responses_as_documents_and_counts_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let s = run(
        &warc_pipeline("fixtures/warc/pages.warc.gz", &out, "  - type: normalize\n"),
        2,
    );
    let st = &s.stats;
    assert_eq!(st.verify(), Ok(()));
    // 17 responses: one is cut (its gzip member is damaged), two are not HTML.
    assert_eq!(st.input, 15);
    assert_eq!(st.kept, 14);
    assert_eq!(counts(&st.rejected), owned(&[("corrupt_gzip", 1)]));
    assert_eq!(
        counts(&st.skipped),
        owned(&[
            ("not_html", 2),
            ("warc_metadata", 1),
            ("warc_request", 17),
            ("warc_warcinfo", 1)
        ])
    );
    let docs = rows(&out.join("documents"), &["id", "metadata"]);
    let ids: Vec<&str> = docs.iter().map(|r| r[0].as_deref().unwrap()).collect();
    assert_eq!(ids.len(), 14);
    assert_eq!(ids[0], "<urn:uuid:be8c3d73-a338-5390-947c-076ea9c1de4a>");
    // The records on both sides of the damaged member are read.
    let before = ids
        .iter()
        .position(|i| *i == "<urn:uuid:5dd36928-a1a0-5d61-bfbd-87285179d4a3>")
        .unwrap();
    assert_eq!(
        ids[before + 1],
        "<urn:uuid:29bf1be6-3fd3-51bb-8d06-96b3f6f8f21a>"
    );
    assert!(!ids.contains(&"<urn:uuid:3922de4e-b17d-5ef9-8283-0b4c1fb46ce8>"));
    let meta = |id: &str| -> serde_json::Value {
        let r = docs.iter().find(|r| r[0].as_deref() == Some(id)).unwrap();
        serde_json::from_str(r[1].as_deref().unwrap()).unwrap()
    };
    let m = meta("<urn:uuid:be8c3d73-a338-5390-947c-076ea9c1de4a>");
    assert_eq!(m["url"], "https://docs.python.org/3.11/search.html");
    assert_eq!(m["http_status"], 200);
    assert_eq!(m["content_type"], "text/html");
    assert!(m["date"].as_str().unwrap().starts_with("20"), "{m}");
    let m = meta("<urn:uuid:90ac72d0-d5f4-52b3-9440-335a83ee592e>");
    assert_eq!(m["http_status"], 404);
    // Charsets: from the HTTP header, and from a meta tag only.
    let m = meta("<urn:uuid:2d253ffe-d01b-5417-9cb5-dcbc7f2dc45f>");
    assert_eq!(
        (
            &m["charset"],
            &m["charset_source"],
            &m["charset_replacements"]
        ),
        (&"windows-1252".into(), &"http".into(), &0.into())
    );
    let m = meta("<urn:uuid:f5d2bb3c-6614-5535-a058-bbf4ef5da650>");
    assert_eq!(
        (&m["charset"], &m["charset_source"]),
        (&"windows-1251".into(), &"meta".into())
    );
    let rej = rows(&out.join("rejected"), &["location", "reason", "source"]);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0][0].as_deref(), Some("byte offset 20238"));
    assert_eq!(rej[0][1].as_deref(), Some("corrupt_gzip"));
    assert!(rej[0][2].as_deref().unwrap().ends_with("pages.warc.gz"));
    // The same bytes at another thread count.
    let out1 = tmp.path().join("out1");
    run(
        &warc_pipeline(
            "fixtures/warc/pages.warc.gz",
            &out1,
            "  - type: normalize\n",
        ),
        1,
    );
    assert_eq!(
        common::shards(&out.join("documents")),
        common::shards(&out1.join("documents"))
    );
}

#[test]
fn a_plain_warc_with_corrupt_records_goes_on_after_each() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let s = run(&warc_pipeline("fixtures/warc/small.warc", &out, ""), 1);
    let st = &s.stats;
    assert_eq!(st.verify(), Ok(()));
    assert_eq!(st.kept, 2);
    assert_eq!(
        counts(&st.rejected),
        owned(&[
            ("bad_content_length", 1),
            ("bad_warc_header", 1),
            ("garbage_between_records", 1),
            ("truncated_record", 1)
        ])
    );
    assert_eq!(
        counts(&st.skipped),
        owned(&[
            ("warc_metadata", 1),
            ("warc_request", 1),
            ("warc_resource", 1),
            ("warc_warcinfo", 1)
        ])
    );
    let rej = rows(&out.join("rejected"), &["location", "reason"]);
    let got: Vec<(String, String)> = rej
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("byte offset 9890", "truncated_record"),
            ("byte offset 10562", "garbage_between_records"),
            ("byte offset 10624", "bad_content_length"),
            ("byte offset 10866", "bad_warc_header"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let stats: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(stats["skipped"]["warc_request"], 1);
}

#[test]
fn unreadable_parquet_files_are_rejected_and_the_run_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let bad = common::root().join("fixtures/bad");
    let p = load(&format!(
        "input:\n  paths:\n    - \"{}\"\n    - \"{}\"\n    - \"{}\"\noutput:\n  dir: \"{}\"\n",
        bad.join("not_parquet.parquet").display(),
        bad.join("no_text_column.parquet").display(),
        common::root()
            .join("fixtures/parquet/docs.parquet")
            .display(),
        out.display()
    ));
    let s = run(&p, 2);
    assert_eq!(s.stats.verify(), Ok(()));
    assert_eq!(s.stats.kept, 62);
    assert_eq!(
        counts(&s.stats.rejected),
        owned(&[("corrupt_parquet", 1), ("missing_text", 1)])
    );
    let rej = rows(
        &out.join("rejected"),
        &["source", "location", "reason", "detail"],
    );
    assert_eq!(rej.len(), 2);
    for r in &rej {
        assert_eq!(r[1].as_deref(), Some("whole file"));
    }
    let detail = |reason: &str| {
        rej.iter()
            .find(|r| r[2].as_deref() == Some(reason))
            .and_then(|r| r[3].clone())
            .unwrap()
    };
    assert!(detail("missing_text")
        .ends_with("has no column `text` (its columns: id, content); set `input.text_field`"));
    assert!(detail("corrupt_parquet").contains("is not a readable parquet file: "));
}
