//! End-to-end runs through the library and the binary: accounting, read-back with polars,
//! schemas, byte-identical reruns, and resume after SIGKILL.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use corpusforge::config::{self, Pipeline};
use corpusforge::io::writer::{arrow_schema_json, schema_json, Dataset};
use corpusforge::manifest;
use corpusforge::pipeline::{self, RunOptions};

fn pipeline(input: &Path, out: &Path, extra_run: &str) -> Pipeline {
    let yaml = format!(
        r#"
input:
  paths: ["{input}"]
  metadata_fields: [url]
stages:
  - type: normalize
  - type: length
    min_words: 30
    max_chars: 4000
output:
  dir: "{out}"
  shard_max_docs: 1500
  row_group_docs: 400
run:
  batch_size: 256
{extra_run}
"#,
        input = input.display(),
        out = out.display()
    );
    config::load_str(&yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn run(p: &Pipeline, threads: usize) -> pipeline::RunSummary {
    let opts = RunOptions {
        threads: Some(threads),
        ..Default::default()
    };
    pipeline::run_data(p, Path::new("."), &opts).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn counts_add_up_and_polars_reads_the_shards_back() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let input = common::write_corpus(tmp.path(), "in.jsonl", 5000);
    let out = tmp.path().join("out");
    let s = run(&pipeline(&input, &out, ""), 2);
    let st = &s.stats;
    assert_eq!(st.input, 5000);
    assert_eq!(st.rejected.get("invalid_json"), Some(&5));
    assert_eq!(st.verify(), Ok(()));
    assert!(
        st.kept > 0 && st.dropped_total() > 0,
        "the length filter should keep some and drop some: {st:?}"
    );

    let scan = |pattern: &str| {
        let path = out.join(pattern);
        LazyFrame::scan_parquet(
            PlRefPath::new(path.to_string_lossy().as_ref()),
            ScanArgsParquet::default(),
        )
        .unwrap()
        .collect()
        .unwrap()
    };
    let docs = scan("documents/*.parquet");
    assert_eq!(docs.height() as u64, st.kept);
    assert_eq!(
        docs.column("id").unwrap().n_unique().unwrap(),
        docs.height()
    );
    let dropped = scan("dropped/*.parquet");
    assert_eq!(dropped.height() as u64, st.dropped_total());
    let reasons = dropped.column("reason").unwrap().str().unwrap();
    assert!(reasons
        .iter()
        .all(|r| r.is_some_and(|r| r.starts_with("length:"))));
    let rejected = scan("rejected/*.parquet");
    assert_eq!(rejected.height(), 5);
    let lines: Vec<Option<u64>> = rejected
        .column("line")
        .unwrap()
        .u64()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        lines,
        vec![Some(501), Some(1498), Some(2495), Some(3492), Some(4489)]
    );

    // The manifest lists every shard with its row count and hash, and the input with its hash.
    let m = manifest::read(&out.join("manifest.json")).expect("manifest");
    assert!(m.complete);
    assert_eq!(m.inputs.len(), 1);
    assert_eq!(m.inputs[0].bytes, fs::metadata(&input).unwrap().len());
    let rows: u64 = m.outputs.iter().map(|f| f.rows).sum();
    assert_eq!(rows, st.kept + st.dropped_total() + st.rejected_total());
    for f in &m.outputs {
        let (bytes, hash) = corpusforge::io::writer::hash_file(&out.join(&f.path)).unwrap();
        assert_eq!((bytes, hash), (f.bytes, f.xxh3.clone()), "{}", f.path);
    }
    // Shards roll over at shard_max_docs.
    assert!(m
        .outputs
        .iter()
        .filter(|f| f.path.starts_with("documents/"))
        .all(|f| f.rows <= 1500));
    assert!(out.join("stats.json").exists());
    assert!(!out.join(".resume").exists());
}

#[test]
fn written_shards_match_the_schemas_in_the_repo() {
    let tmp = tempfile::tempdir().unwrap();
    let input = common::write_corpus(tmp.path(), "in.jsonl", 1200);
    let out = tmp.path().join("out");
    run(&pipeline(&input, &out, ""), 2);
    for ds in [Dataset::Documents, Dataset::Dropped, Dataset::Rejected] {
        let file = common::root().join(format!("schemas/{}.schema.json", ds.dir_name()));
        let expected = format!(
            "{}\n",
            serde_json::to_string_pretty(&schema_json(ds)).unwrap()
        );
        corpusforge::config::check_committed_file(&file, &expected, "cargo test --release")
            .unwrap_or_else(|e| panic!("{e}"));
        let shard = fs::read_dir(out.join(ds.dir_name()))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "parquet"))
            .expect("a shard");
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            fs::File::open(&shard).unwrap(),
        )
        .unwrap();
        let got = arrow_schema_json(ds.dir_name(), reader.schema());
        assert_eq!(got, schema_json(ds), "{}", shard.display());
    }
}

#[test]
fn reruns_and_thread_counts_give_byte_identical_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let input = common::write_corpus(tmp.path(), "in.jsonl", 4000);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let c = tmp.path().join("c");
    run(&pipeline(&input, &a, ""), 1);
    run(&pipeline(&input, &b, ""), 2);
    // A different batch size changes the config, not the output.
    run(
        &pipeline(&input, &c, "  checkpoint_seconds: 1").clone_with_batch(97),
        2,
    );
    let sa = common::shards(&a);
    assert!(
        sa.len() >= 4,
        "expected several shards, got {:?}",
        sa.keys().collect::<Vec<_>>()
    );
    assert_eq!(sa, common::shards(&b));
    assert_eq!(sa, common::shards(&c));
    // And the same run again into the same directory replaces it with the same bytes.
    run(&pipeline(&input, &a, ""), 2);
    assert_eq!(sa, common::shards(&a));
}

trait WithBatch {
    fn clone_with_batch(&self, n: usize) -> Pipeline;
}
impl WithBatch for Pipeline {
    fn clone_with_batch(&self, n: usize) -> Pipeline {
        let mut p = self.clone();
        p.run.batch_size = n;
        p
    }
}

#[test]
fn resume_after_sigkill_gives_the_uninterrupted_output() {
    let tmp = tempfile::tempdir().unwrap();
    let input = common::write_corpus(tmp.path(), "in.jsonl", 12000);
    let full = tmp.path().join("full");
    let p = pipeline(&input, &full, "  checkpoint_seconds: 1");
    // The binary resolves paths against the pipeline file's directory: do the same here.
    let want = pipeline::run_data(
        &p,
        tmp.path(),
        &RunOptions {
            threads: Some(2),
            ..Default::default()
        },
    )
    .unwrap();

    let killed = tmp.path().join("killed");
    let yaml = tmp.path().join("p.yaml");
    let text = serde_json::to_string(&p).unwrap(); // JSON is YAML
    fs::write(&yaml, text).unwrap();
    let bin = env!("CARGO_BIN_EXE_corpusforge");
    let mut child = Command::new(bin)
        .args([
            "run",
            yaml.to_str().unwrap(),
            "--output",
            killed.to_str().unwrap(),
            "--threads",
            "2",
        ])
        .env("CORPUSFORGE_BATCH_DELAY_MS", "60")
        .spawn()
        .unwrap();
    // Wait for a checkpoint and at least one finished documents shard, then kill -9.
    let t0 = Instant::now();
    loop {
        let ck = killed.join(".resume/checkpoint.json").exists();
        let shard = killed.join("documents/part-00001.parquet").exists();
        if ck && shard {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    assert!(
        !killed.join("manifest.json").exists(),
        "killed before completion"
    );

    let out = Command::new(bin)
        .args([
            "run",
            yaml.to_str().unwrap(),
            "--output",
            killed.to_str().unwrap(),
            "--threads",
            "1",
            "--resume",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resuming from"),
        "did not resume: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::shards(&full), common::shards(&killed));
    let m = manifest::read(&killed.join("manifest.json")).unwrap();
    let mut got = m.stats.clone();
    let mut exp = want.stats.clone();
    got.seconds = 0.0;
    exp.seconds = 0.0;
    for s in got.stages.iter_mut().chain(exp.stages.iter_mut()) {
        s.seconds = 0.0;
    }
    assert_eq!(got, exp);
    // Nothing left behind but the datasets, stats, manifest and report.
    let files: Vec<String> = common::tree(&killed).into_keys().collect();
    assert!(
        files.iter().all(|f| f.ends_with(".parquet")
            || f == "stats.json"
            || f == "manifest.json"
            || f.starts_with("report/")),
        "{files:?}"
    );

    // A second --resume on a complete output does nothing.
    let again = Command::new(bin)
        .args([
            "run",
            yaml.to_str().unwrap(),
            "--output",
            killed.to_str().unwrap(),
            "--resume",
        ])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("already complete"));
}
