//! Model-based quality stages on the fixtures: a quality classifier trained here (prose against
//! HTML pages) keeps the best-scoring share of a corpus by a calibrated threshold, a perplexity
//! stage scores with a model trained here and buckets by corpus terciles; both are the same at
//! 1 and 2 threads, and bad model files are refused at `validate`, before any document is read.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use corpusforge::classifier::{files::train_files, TrainConfig};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_corpusforge"));
    c.current_dir(common::root());
    c
}

fn fx(p: &str) -> String {
    common::root()
        .join("fixtures")
        .join(p)
        .display()
        .to_string()
}

fn run(yaml: &str, dir: &Path, name: &str, threads: usize) -> PathBuf {
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    let out = dir.join(format!("{name}-t{threads}"));
    let o = bin()
        .args([
            "run",
            p.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ])
        .args(["--threads", &threads.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

fn train_classifier(dir: &Path, threads: usize) -> (PathBuf, corpusforge::classifier::Metrics) {
    let cfg = TrainConfig {
        epochs: 20,
        lr: 0.5,
        seed: 3,
        holdout_fraction: 0.2,
        buckets: 1 << 16,
        ..Default::default()
    };
    let out = dir.join(format!("q{threads}.cfqc"));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let t = pool
        .install(|| {
            train_files(
                &[fx("jsonl/prose.jsonl")],
                &[fx("jsonl_gz/html.jsonl.gz")],
                "text",
                None,
                &cfg,
                &out,
            )
        })
        .unwrap();
    assert_eq!(t.read.0, 95);
    (out, t.metrics)
}

#[test]
fn the_quality_classifier_keeps_the_calibrated_share() {
    let dir = tempfile::tempdir().unwrap();
    let (m1, metrics) = train_classifier(dir.path(), 1);
    let (m2, _) = train_classifier(dir.path(), 2);
    assert_eq!(
        std::fs::read(&m1).unwrap(),
        std::fs::read(&m2).unwrap(),
        "same model at 1 and 2 threads"
    );
    assert!(metrics.holdout_docs > 0 && metrics.auc.is_some());
    assert!(Path::new(&format!("{}.metrics.json", m1.display())).is_file());

    let yaml = format!(
        "input: {{paths: [{}, {}], text_field: text, id_field: id}}\n\
         stages:\n  - type: quality_classifier\n    model: {}\n    keep_fraction: 0.5\n\
         output: {{dir: x, write_signals: true, write_dropped: true}}\n",
        fx("jsonl"),
        fx("jsonl_gz"),
        m1.display()
    );
    let a = run(&yaml, dir.path(), "qc", 1);
    let b = run(&yaml, dir.path(), "qc", 2);
    let (ma, mb) = (manifest(&a), manifest(&b));
    let n = ma["stats"]["input"].as_u64().unwrap();
    let kept = ma["stats"]["kept"].as_u64().unwrap();
    // The sample is the whole corpus here (fewer documents than sample_docs): the threshold
    // keeps exactly half of it.
    assert_eq!(kept, (n as f64 * 0.5).round() as u64, "{n} in");
    assert_eq!(
        ma["stats"]["dropped"]["quality_classifier:low_score"]
            .as_u64()
            .unwrap(),
        n - kept
    );
    let cal = &ma["calibrations"][0];
    assert_eq!(cal["type"], "quality_classifier");
    assert_eq!(cal["scored"].as_u64().unwrap(), n);
    assert_eq!(cal["sampled"].as_u64().unwrap(), n, "drawn, not asked for");
    assert!(cal["thresholds"]["min_score"].as_f64().unwrap() > 0.0);
    assert_eq!(ma["calibrations"], mb["calibrations"]);
    assert_eq!(
        common::shards(&a.join("documents")),
        common::shards(&b.join("documents"))
    );
    assert_eq!(
        common::shards(&a.join("dropped")),
        common::shards(&b.join("dropped"))
    );
}

#[test]
fn the_perplexity_stage_buckets_by_corpus_terciles() {
    let dir = tempfile::tempdir().unwrap();
    // A tiny reference model on the prose fixtures.
    let lm = format!(
        "input: {{paths: [{}], text_field: text, id_field: id}}\n\
         stages:\n  - type: tokenize\n    tokenizer: {{train: {{vocab_size: 512, min_frequency: 2}}}}\n    eos: \"<|endoftext|>\"\n\
         output: {{dir: x, report: false}}\n\
         train: {{model: {{n_layer: 1, n_head: 2, n_embd: 32, seq_len: 32}}, batch_size: 4, max_steps: 30, eval_interval: 0}}\n",
        fx("jsonl/prose.jsonl")
    );
    let lm_out = run(&lm, dir.path(), "lm", 2);
    let yaml = format!(
        "input: {{paths: [{}, {}], text_field: text, id_field: id}}\n\
         stages:\n  - type: perplexity\n    checkpoint: {}\n    max_tokens: 64\n    buckets: true\n    keep_buckets: [head]\n\
         output: {{dir: x, write_signals: true, write_dropped: true}}\n",
        fx("jsonl"),
        fx("jsonl_gz"),
        lm_out.join("train").display()
    );
    let a = run(&yaml, dir.path(), "ppl", 1);
    let b = run(&yaml, dir.path(), "ppl", 2);
    let (ma, mb) = (manifest(&a), manifest(&b));
    let cal = &ma["calibrations"][0];
    let (lo, hi) = (
        cal["thresholds"]["head_below"].as_f64().unwrap(),
        cal["thresholds"]["tail_from"].as_f64().unwrap(),
    );
    assert!(0.0 < lo && lo < hi, "{lo} {hi}");
    let n = ma["stats"]["input"].as_u64().unwrap();
    let kept = ma["stats"]["kept"].as_u64().unwrap();
    let d = &ma["stats"]["dropped"];
    let middle = d["perplexity:bucket_middle"].as_u64().unwrap();
    let tail = d["perplexity:bucket_tail"].as_u64().unwrap();
    assert_eq!(kept + middle + tail, n);
    // Terciles of the whole corpus (the sample is all of it): a third in each, to rounding.
    for c in [kept, middle, tail] {
        assert!(
            (c as f64 - n as f64 / 3.0).abs() <= 2.0,
            "{kept} {middle} {tail} of {n}"
        );
    }
    assert!(
        ma["stats"]["stages"][0]["counters"]["tokens_scored"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert_eq!(ma["calibrations"], mb["calibrations"]);
    assert_eq!(
        common::shards(&a.join("documents")),
        common::shards(&b.join("documents"))
    );
}

#[test]
fn validate_refuses_bad_model_files_before_reading_documents() {
    let dir = tempfile::tempdir().unwrap();
    let good = train_classifier(dir.path(), 2).0;
    let bytes = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.cfqc");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let foreign = dir.path().join("foreign.cfqc");
    std::fs::write(&foreign, b"{\"not\": \"a model\"}\n").unwrap();
    // The input does not exist: validate must not read it.
    let check = |stage: &str, want: &str| {
        let p = dir.path().join("v.yaml");
        std::fs::write(
            &p,
            format!(
                "input: {{paths: [no-such-input.jsonl]}}\nstages:\n{stage}\noutput: {{dir: x}}\n"
            ),
        )
        .unwrap();
        let o = bin()
            .args(["validate", p.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(o.status.code(), Some(2), "{stage}: {err}");
        assert!(err.contains(want), "{stage}: {err}");
        assert!(err.contains("stages[0]"), "{err}");
    };
    let qc = |m: &Path| {
        format!(
            "  - type: quality_classifier\n    model: {}\n    keep_fraction: 0.5",
            m.display()
        )
    };
    check(&qc(&dir.path().join("missing.cfqc")), "missing.cfqc");
    check(&qc(&truncated), "truncated");
    check(&qc(&foreign), "not a corpusforge quality classifier");
    check(
        &format!(
            "  - type: perplexity\n    checkpoint: {}",
            dir.path().join("nothing").display()
        ),
        "no checkpoint here",
    );
    // A good model passes.
    let p = dir.path().join("ok.yaml");
    std::fs::write(
        &p,
        format!(
            "input: {{paths: [no-such-input.jsonl]}}\nstages:\n{}\noutput: {{dir: x}}\n",
            qc(&good)
        ),
    )
    .unwrap();
    let o = bin()
        .args(["validate", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
