//! The `corpusforge` binary as a user runs it: validate, schema, inspect, and a run over every
//! bad input kind, where nothing is lost and every rejection names its file, line and reason.

mod common;

use std::fs;
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_corpusforge"));
    c.current_dir(common::root());
    c
}

#[test]
fn validate_reports_problems_with_exit_code_2() {
    let out = bin()
        .args(["validate", "fixtures/bad_configs/min_greater_than_max.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fixtures/bad_configs/min_greater_than_max.yaml:"),
        "{err}"
    );
    assert!(err.contains("is greater than"), "{err}");

    let ok = bin()
        .args(["validate", "pipelines/quickstart.yaml"])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("pipelines/quickstart.yaml: ok"));
}

#[test]
fn schema_prints_the_committed_schema() {
    let out = bin().arg("schema").output().unwrap();
    assert!(out.status.success());
    let committed =
        fs::read_to_string(common::root().join("schemas/pipeline.schema.json")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), committed);
}

#[test]
fn a_run_over_every_bad_input_accounts_for_every_record() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = tmp.path().join("bad.yaml");
    let bad = common::root().join("fixtures/bad");
    fs::write(
        &yaml,
        format!(
            "input:\n  paths:\n{}  max_line_bytes: 1000\n  txt_mode: paragraphs\nstages:\n  - type: normalize\noutput:\n  dir: out\n",
            [
                "invalid_json.jsonl",
                "invalid_utf8.jsonl",
                "missing_text.jsonl",
                "text_not_string.jsonl",
                "bad_id.jsonl",
                "long_line.jsonl",
                "truncated.jsonl.gz",
                "truncated.jsonl.zst",
                "not_gzip.jsonl.gz",
                "null_text.parquet",
                "corrupt.parquet",
                "paragraphs.txt",
            ]
            .iter()
            .map(|f| format!("    - {}\n", bad.join(f).display()))
            .collect::<String>()
        ),
    )
    .unwrap();
    let out = bin()
        .args(["run", yaml.to_str().unwrap(), "--threads", "2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("out/stats.json")).unwrap())
            .unwrap();
    let rejected = &stats["rejected"];
    let expect = serde_json::json!({
        "bad_id": 3,
        "corrupt_parquet": 1,
        "invalid_json": 4,
        "invalid_utf8": 4,
        "line_too_long": 3,
        "missing_text": 6,
        "text_not_string": 4,
        "truncated_stream": 3,
    });
    assert_eq!(rejected, &expect);
    let input = stats["input"].as_u64().unwrap();
    let kept = stats["kept"].as_u64().unwrap();
    let rej: u64 = expect
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(input, kept + rej);

    // Every rejection is in rejected/ with its file, line and reason.
    let shard = tmp.path().join("out/rejected/part-00000.parquet");
    let show = bin()
        .args(["inspect", shard.to_str().unwrap(), "--rows", "100"])
        .output()
        .unwrap();
    assert!(show.status.success());
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(text.contains(&format!("rows: {rej}")), "{text}");
    assert!(
        text.contains("schema:\n  source: Utf8\n  line: UInt64 (nullable)"),
        "{text}"
    );
    assert!(
        text.contains("  location: line 2\n  reason: invalid_json"),
        "{text}"
    );
    assert!(
        text.contains("  location: row group 1, row 0\n  reason: corrupt_parquet"),
        "{text}"
    );
}

#[test]
fn an_input_that_cannot_be_opened_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = tmp.path().join("p.yaml");
    fs::write(
        &yaml,
        "input:\n  paths: [missing.jsonl]\noutput:\n  dir: out\n",
    )
    .unwrap();
    let out = bin()
        .args(["run", yaml.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.jsonl"), "{err}");

    let bad = common::root().join("fixtures/bad/not_parquet.parquet");
    fs::write(
        &yaml,
        format!(
            "input:\n  paths: [{}]\noutput:\n  dir: out\n",
            bad.display()
        ),
    )
    .unwrap();
    // A file that opens but is not parquet is one rejected record; the run goes on.
    let out = bin()
        .args(["run", yaml.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 records: 0 kept, 0 dropped, 1 rejected"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
