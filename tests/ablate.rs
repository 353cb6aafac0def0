//! `corpusforge ablate` on the fixtures experiment (fixtures/ablation/): the report, reuse on
//! rerun, determinism at 1 and 2 threads, decontamination of the held-out slice, and every
//! problem of a bad experiment file at once with its line and column.

mod common;

use std::path::{Path, PathBuf};

use corpusforge::config::experiment::{load_experiment, load_experiment_str};
use corpusforge::pipeline::ablate::{ablate, AblateOptions};

/// The fixtures experiment, written to `dir` with its paths made absolute and its output in
/// `dir/out`.
fn experiment_in(dir: &Path) -> PathBuf {
    let fx = common::root().join("fixtures/ablation");
    let text = std::fs::read_to_string(fx.join("experiment.yaml"))
        .unwrap()
        .replace(
            "base: base.yaml",
            &format!("base: {}", fx.join("base.yaml").display()),
        )
        .replace(
            "out: ../../out/ablation-fixtures",
            &format!("out: {}", dir.join("out").display()),
        )
        .replace(
            "from: ../jsonl/prose.jsonl",
            &format!(
                "from: {}",
                common::root().join("fixtures/jsonl/prose.jsonl").display()
            ),
        )
        .replace(
            "path: ../tasks/mini.jsonl",
            &format!(
                "path: {}",
                common::root().join("fixtures/tasks/mini.jsonl").display()
            ),
        );
    let p = dir.join("experiment.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Everything an arm wrote that must not depend on timing: data shards and manifests' token
/// shards, checkpoints' weights, and the cached evaluations' figures.
fn arm_outputs(out: &Path) -> Vec<(String, Vec<u8>)> {
    common::tree(&out.join("arms"))
        .into_iter()
        .filter(|(k, _)| {
            k.ends_with(".parquet")
                || k.ends_with("model.safetensors")
                || k.ends_with("tokenizer.json")
        })
        .collect()
}

fn scores(r: &corpusforge::report::ablation::AblationReport) -> Vec<(String, String, Vec<f64>)> {
    r.arms
        .iter()
        .flat_map(|a| {
            a.scores
                .iter()
                .map(|s| {
                    (
                        a.name.clone(),
                        s.eval.clone(),
                        s.bits_per_byte.values.clone(),
                    )
                })
                .chain(a.tasks.iter().flat_map(|t| {
                    [
                        (
                            a.name.clone(),
                            format!("{} accuracy", t.task),
                            t.accuracy.values.clone(),
                        ),
                        (
                            a.name.clone(),
                            format!("{} correct bits/byte", t.task),
                            t.correct_bits_per_byte.values.clone(),
                        ),
                    ]
                }))
        })
        .collect()
}

#[test]
fn the_fixtures_experiment_reports_reuses_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let file = experiment_in(dir.path());
    let lx = load_experiment(&file).unwrap();
    let one = ablate(
        &lx,
        &file,
        &AblateOptions {
            threads: Some(1),
            progress: false,
        },
    )
    .unwrap();
    let r = &one.report;
    assert_eq!(r.arms.len(), 2);
    assert_eq!(r.seeds, vec![11, 12]);
    assert_eq!(r.eval_sets.len(), 1);
    let held = r.eval_sets[0].documents;
    assert!(
        held > 0 && held < 95,
        "held out {held} of 95 prose documents"
    );
    for a in &r.arms {
        // Every held-out document is in the arm's input, and decontamination removed it (the
        // raw arm has no dedup, so at least each of them; prose repeats in the fixtures).
        assert!(
            a.decontaminated >= held,
            "{}: {} decontaminated",
            a.name,
            a.decontaminated
        );
        assert!(a
            .stages
            .ends_with(&["decontaminate".to_string(), "tokenize".to_string()]));
        assert!(a.train_tokens > 0 && a.epochs > 0.0);
        let s = &a.scores[0];
        assert_eq!(s.bits_per_byte.values.len(), 2);
        assert!(s.bits_per_byte.mean.is_finite() && s.bits_per_byte.mean > 0.0);
        // 16384 tokens in steps of 4 x 32 = 128 steps, checkpoints every 43: 43, 86, 128.
        let steps: Vec<u64> = a.curves[0].iter().map(|p| p.step).collect();
        assert_eq!(steps, vec![43, 86, 128], "{}", a.name);
    }
    assert_eq!(r.arms[0].stages[0], "normalize");
    // Held-out prose and the task set's correct-choice bits per byte.
    assert_eq!(r.comparisons.len(), 2);
    assert!(
        r.comparisons[0].sentence.contains("prose"),
        "{}",
        r.comparisons[0].sentence
    );
    assert!(
        r.comparisons[1].sentence.contains("on mini by")
            || r.comparisons[1].sentence.contains("apart on mini"),
        "{}",
        r.comparisons[1].sentence
    );
    assert!(r.comparisons[1]
        .sentence
        .contains("correct-choice bits/byte"));
    for a in &r.arms {
        let t = &a.tasks[0];
        assert_eq!((t.task.as_str(), t.items), ("mini", 12));
        assert_eq!(t.accuracy.values.len(), 2);
        assert!(t.accuracy.values.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(t.correct_bits_per_byte.mean.is_finite() && t.correct_bits_per_byte.mean > 0.0);
        assert!((t.chance - 0.3125).abs() < 1e-9, "{}", t.chance);
        // The base's input quotes a task item with its answer: every arm drops it.
        let dropped = corpusforge::report::collect::parquet_files(
            &dir.path()
                .join("out/arms")
                .join(&a.name)
                .join("data/dropped"),
        );
        let mut leak = None;
        for f in dropped {
            use polars::prelude::SerReader;
            let df = polars::prelude::ParquetReader::new(std::fs::File::open(&f).unwrap())
                .finish()
                .unwrap();
            let ids = df.column("id").unwrap().str().unwrap().clone();
            let dup = df.column("duplicate_of").unwrap().str().unwrap().clone();
            let reason = df.column("reason").unwrap().str().unwrap().clone();
            for i in 0..df.height() {
                if ids.get(i) == Some("leak-task") {
                    leak = Some((
                        reason.get(i).map(String::from),
                        dup.get(i).map(String::from),
                    ));
                }
            }
        }
        assert_eq!(
            leak,
            Some((
                Some("decontaminate:overlap".to_string()),
                Some("mini-0".to_string())
            )),
            "{}",
            a.name
        );
    }
    // The yardsticks: prose bits/byte, and the task's correct-choice bits/byte and accuracy.
    let metrics: Vec<&str> = r.yardsticks.iter().map(|y| y.metric.as_str()).collect();
    assert_eq!(
        metrics,
        [
            "prose bits per byte",
            "mini correct-choice bits per byte",
            "mini accuracy"
        ]
    );
    assert!(r
        .yardsticks
        .iter()
        .all(|y| y.arm_pairs == 1 && y.seed_agreement.is_some_and(|a| (0.0..=1.0).contains(&a))));
    let md = std::fs::read_to_string(&one.written.md).unwrap();
    assert!(
        md.contains("## Tasks (final models)") && md.contains("## Yardsticks"),
        "{md}"
    );
    for f in [&one.written.json, &one.written.md, &one.written.html] {
        assert!(f.is_file(), "{}", f.display());
    }
    let html = std::fs::read_to_string(&one.written.html).unwrap();
    assert!(html.contains("<svg") && html.contains("filtered") && html.contains("raw"));

    // A rerun reuses everything: the same figures, nothing trained again.
    let outputs = arm_outputs(&dir.path().join("out"));
    let t0 = std::time::Instant::now();
    let again = ablate(&lx, &file, &AblateOptions::default()).unwrap();
    assert_eq!(scores(&again.report), scores(r));
    assert_eq!(arm_outputs(&dir.path().join("out")), outputs);
    assert!(t0.elapsed().as_secs_f64() < 30.0);

    // Two threads from scratch: byte-identical arm outputs and the same metrics.
    let dir2 = tempfile::tempdir().unwrap();
    let file2 = experiment_in(dir2.path());
    let lx2 = load_experiment(&file2).unwrap();
    let two = ablate(
        &lx2,
        &file2,
        &AblateOptions {
            threads: Some(2),
            progress: false,
        },
    )
    .unwrap();
    assert_eq!(scores(&two.report), scores(r));
    assert_eq!(arm_outputs(&dir2.path().join("out")), outputs);
}

#[test]
fn a_bad_experiment_lists_every_problem_with_line_and_column() {
    let fx = common::root().join("fixtures/ablation");
    let text = format!(
        "base: {base}\n\
         tokenizer:\n  train: {{vocab_size: 512}}\n  eos: \"<|endoftext|>\"\n\
         budget: {{tokens: 1000}}\n\
         eval:\n  prose:\n    paths: [no/such/file.jsonl]\n\
         arms:\n  a:\n    remove: [gopher_quality]\n  b:\n    colour: red\n  c:\n    set: {{length: {{min_words: 3}}}}\n\
         train:\n  model: {{n_layer: 1}}\n",
        base = fx.join("base.yaml").display()
    );
    let err = load_experiment_str(&text, "exp.yaml", &fx)
        .unwrap_err()
        .to_string();
    // The unknown arm key, the stage the base does not have, the missing eval path: all at once.
    assert!(
        err.contains("exp.yaml:13:5: arms.b: unknown key \"colour\""),
        "{err}"
    );
    assert!(
        err.contains("exp.yaml:11:14: arms.a.remove[0]: the arm's stages have no `gopher_quality`"),
        "{err}"
    );
    assert!(
        err.contains("exp.yaml:8:13: eval.prose.paths[0]:")
            && err.contains("no/such/file.jsonl does not exist"),
        "{err}"
    );
    assert!(err.contains("3 problems in exp.yaml"), "{err}");
    // A valid arm `set` on an existing stage is no problem.
    assert!(!err.contains("arms.c"), "{err}");
}

/// Arms that vary only the weights of a mixture over the parts of their own output (prose
/// against the rest, by input file): each trains on the realized mixture its weights ask for.
/// An arm weighing a source the mixture does not have is a problem of the file.
#[test]
fn arms_vary_the_weights_of_a_mixture() {
    let dir = tempfile::tempdir().unwrap();
    let file = experiment_in(dir.path());
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace(
            "arms:\n  raw:\n    stages:\n      - type: normalize\n  filtered: {}\n",
            "arms:\n  prose-heavy:\n    weights: {prose: 0.9}\n  balanced:\n    weights: {prose: 0.5, books: 0.5}\n",
        )
        .replace(
            "train:\n",
            "train:\n  data:\n    sources:\n      - {name: prose, source: \"*prose*\", weight: 0.1}\n      - {name: books, source: \"*.txt\", weight: 0.1}\n",
        )
        .replace("seeds: 2", "seeds: 1");
    assert!(
        text.contains("prose-heavy") && text.contains("name: books"),
        "{text}"
    );
    std::fs::write(&file, &text).unwrap();
    let lx = load_experiment(&file).unwrap();
    let done = ablate(
        &lx,
        &file,
        &AblateOptions {
            threads: Some(2),
            progress: false,
        },
    )
    .unwrap();
    assert_eq!(done.report.arms.len(), 2);
    // 128 steps of 4 windows: within one window of the weights (prose-heavy: 0.9 against 0.1).
    for (arm, want) in [("prose-heavy", 0.9), ("balanced", 0.5)] {
        let metrics = dir
            .path()
            .join(format!("out/arms/{arm}/seed-0/metrics.jsonl"));
        let last = std::fs::read_to_string(&metrics)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .rfind(|v| v["kind"] == "eval");
        let shares: Vec<u64> = match last {
            Some(v) => v["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["windows"].as_u64().unwrap())
                .collect(),
            None => {
                // No val split: the checkpoint's loader state has the counts.
                let ck = corpusforge::train::checkpoint::latest(
                    &dir.path()
                        .join(format!("out/arms/{arm}/seed-0/checkpoints")),
                )
                .unwrap()
                .unwrap();
                let st: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(ck.join("state.json")).unwrap())
                        .unwrap();
                st["mixture"]["drawn"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect()
            }
        };
        let total: u64 = shares.iter().sum();
        assert_eq!(total, 512, "{arm}: {shares:?}");
        assert!(
            (shares[0] as f64 - want * 512.0).abs() <= 1.0,
            "{arm}: {shares:?}"
        );
    }

    // Weights for a source the mixture does not have, or without a mixture at all.
    let bad = text.replace("weights: {prose: 0.9}", "weights: {poetry: 0.9}");
    let err = load_experiment_str(&bad, "exp.yaml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("arms.prose-heavy.weights.poetry: train.data has no source `poetry` (its sources: prose, books)"),
        "{err}"
    );
}
