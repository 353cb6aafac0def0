//! `decontaminate` in a run: training documents that share a 13-word n-gram with an evaluation
//! set are dropped with the evaluation document's id in `duplicate_of`; a missing evaluation
//! set fails the run before anything is read, naming the path.

mod common;

use std::fs;
use std::path::Path;

use corpusforge::config;
use corpusforge::pipeline::{self, RunOptions};

const EVAL: &str = "The quick brown fox jumps over the lazy dog while the farmer watches from \
                    the old wooden gate at dawn.";

#[test]
fn overlapping_documents_are_dropped_and_name_the_evaluation_document() {
    let tmp = tempfile::tempdir().unwrap();
    let eval = tmp.path().join("eval.jsonl");
    fs::write(
        &eval,
        format!(
            "{}\n",
            serde_json::json!({"id": "held-out-1", "text": EVAL})
        ),
    )
    .unwrap();
    let docs = [
        ("clean", "A completely different text about rivers, bridges and the towns along them, with nothing in common."),
        // The same 13 words, other case and punctuation, inside a longer text.
        ("leak", "Intro. THE quick, brown fox jumps over the lazy dog -- while the farmer watches from the hill."),
        // 12 shared words only: kept.
        ("near", "quick brown fox jumps over the lazy dog while the farmer watches, then left."),
    ];
    let input = tmp.path().join("in.jsonl");
    let lines: String = docs
        .iter()
        .map(|(id, t)| format!("{}\n", serde_json::json!({"id": id, "text": t})))
        .collect();
    fs::write(&input, lines).unwrap();
    let out = tmp.path().join("out");
    let yaml = format!(
        "input:\n  paths: [\"{}\"]\nstages:\n  - type: decontaminate\n    eval: [\"{}\"]\noutput:\n  dir: \"{}\"\n",
        input.display(),
        eval.display(),
        out.display()
    );
    let p = config::load_str(&yaml, "p.yaml").unwrap();
    let s = pipeline::run_data(&p, Path::new("."), &RunOptions::default()).unwrap();
    assert_eq!(s.stats.kept, 2);
    assert_eq!(s.stats.dropped.get("decontaminate:overlap"), Some(&1));
    let dropped = common::shards(&out.join("dropped"));
    assert_eq!(dropped.len(), 1);
    use polars::prelude::*;
    let path = out.join("dropped/part-00000.parquet");
    let df = ParquetReader::new(fs::File::open(path).unwrap())
        .finish()
        .unwrap();
    let id = df
        .column("id")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_string();
    let dup = df
        .column("duplicate_of")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_string();
    assert_eq!((id.as_str(), dup.as_str()), ("leak", "held-out-1"));

    // A missing evaluation set stops the run at once, naming the stage and the path.
    let yaml = yaml.replace("eval.jsonl", "nope.jsonl");
    let p = config::load_str(&yaml, "p.yaml").unwrap();
    let e = pipeline::run_data(&p, Path::new("."), &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("stages[0] (decontaminate): input path") && e.contains("nope.jsonl"),
        "{e}"
    );
}
