//! Every language, not only English: words by language, per-language filter settings
//! (`language`, `languages`, `language_defaults: fineweb2`), what a run records about them,
//! `corpusforge calibrate`, and the problems a bad language option gets.
//!
//! `fixtures/languages/prose.jsonl` holds clean prose in Chinese (5 articles about
//! language-model pretraining), Japanese (3), German and English (1 each), and five pages of
//! navigation and promotion noise in Chinese, Japanese and German.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use corpusforge::calibrate::{calibrate, Method, References};
use corpusforge::config;
use corpusforge::pipeline::{self, RunOptions};

const PROSE: [&str; 10] = [
    "cmn-1", "cmn-2", "cmn-3", "cmn-4", "cmn-5", "jpn-1", "jpn-2", "jpn-3", "deu-1", "eng-1",
];

/// The four datatrove filters of `pipelines/fineweb-like.yaml` after a language stage, each
/// with `extra` options.
fn pipeline_yaml(input: &Path, out: &Path, extra: &str) -> String {
    let ind = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    format!(
        "input:\n  paths: [{}]\n  metadata_fields: [lang]\nstages:\n  - type: language\n  - type: gopher_repetition\n{e}  - type: gopher_quality\n{e}  - type: c4\n    filter_no_terminal_punct: false\n{e}  - type: fineweb\n{e}output:\n  dir: {}\n  report: false\nrun:\n  batch_size: 4\n",
        input.display(),
        out.display(),
        e = ind(extra)
    )
}

/// `yaml` with `extra` options on its gopher_quality stage only.
fn on_gopher_quality(yaml: &str, extra: &str) -> String {
    yaml.replace(
        "  - type: gopher_quality\n",
        &format!(
            "  - type: gopher_quality\n{}",
            extra
                .lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        ),
    )
}

/// Runs a pipeline; returns (kept ids, dropped id -> reason, stats.json).
fn run(yaml: &str, threads: usize) -> (Vec<String>, BTreeMap<String, String>, serde_json::Value) {
    let p = config::load_str(yaml, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    let s = pipeline::run_data(
        &p,
        Path::new("."),
        &RunOptions {
            threads: Some(threads),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.stats.verify(), Ok(()));
    let out = Path::new(&p.output.dir);
    let mut kept = Vec::new();
    for (_, rows) in read_rows(&out.join("documents")) {
        kept.extend(rows.into_iter().map(|r| r.0));
    }
    kept.sort();
    let mut dropped = BTreeMap::new();
    for (_, rows) in read_rows(&out.join("dropped")) {
        for (id, reason) in rows {
            dropped.insert(id, reason.unwrap_or_default());
        }
    }
    let stats: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("stats.json")).expect("stats.json"))
            .expect("stats json");
    (kept, dropped, stats)
}

/// (id, reason) of every row of a shard.
type Rows = Vec<(String, Option<String>)>;

/// (shard, its rows) of every shard under `dir`.
fn read_rows(dir: &Path) -> Vec<(String, Rows)> {
    use polars::prelude::*;
    let mut out = Vec::new();
    for f in corpusforge::report::collect::parquet_files(dir) {
        let df = LazyFrame::scan_parquet(
            PlRefPath::new(f.to_string_lossy().as_ref()),
            ScanArgsParquet::default(),
        )
        .and_then(|lf| lf.collect())
        .expect("read shard");
        let col = |name: &str| -> Option<Vec<Option<String>>> {
            let c = df.column(name).ok()?;
            let s = c.str().expect("a string column");
            Some((0..s.len()).map(|i| s.get(i).map(str::to_string)).collect())
        };
        let ids: Vec<String> = col("id")
            .expect("id")
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        let reasons = col("reason").unwrap_or_else(|| vec![None; ids.len()]);
        out.push((
            f.display().to_string(),
            ids.into_iter().zip(reasons).collect(),
        ));
    }
    out
}

fn fixture() -> std::path::PathBuf {
    common::root().join("fixtures/languages/prose.jsonl")
}

fn counters(stats: &serde_json::Value, stage: usize) -> BTreeMap<String, u64> {
    stats["stages"][stage]["counters"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn clean_prose_in_every_language_is_kept_with_the_shipped_defaults_and_noise_goes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("fw2");
    let (kept, dropped, stats) = run(
        &pipeline_yaml(&fixture(), &out, "language_defaults: fineweb2\n"),
        2,
    );
    let mut prose = PROSE.map(String::from).to_vec();
    prose.sort();
    assert_eq!(kept, prose);
    let expected: BTreeMap<String, String> = [
        ("cmn-noise-1", "gopher_repetition:dup_line_frac"),
        ("cmn-noise-2", "gopher_repetition:dup_line_frac"),
        ("cmn-noise-3", "gopher_quality:min_stop_words"),
        ("deu-noise-1", "gopher_repetition:dup_line_frac"),
        ("jpn-noise-1", "gopher_repetition:dup_line_frac"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(dropped, expected);
    // The settings each document was checked with are counted: gopher_quality (stage 2) saw
    // the 10 prose documents and the one noise page that passed the repetition rules.
    let c = counters(&stats, 2);
    assert_eq!(c.get("settings:cmn=fineweb2"), Some(&6), "{c:?}");
    assert_eq!(c.get("settings:jpn=fineweb2"), Some(&3), "{c:?}");
    assert_eq!(c.get("settings:deu=fineweb2"), Some(&1), "{c:?}");
    // English has no row of its own: the stage's options are datatrove's English ones.
    assert_eq!(c.get("settings:eng=own"), Some(&1), "{c:?}");

    // With the English settings for everyone, the Chinese and Japanese words are too short
    // and the German text has none of the English stop words.
    let out = tmp.path().join("english");
    let (kept, dropped, stats) = run(&pipeline_yaml(&fixture(), &out, ""), 1);
    assert_eq!(kept, vec!["eng-1".to_string()]);
    for id in &PROSE[..8] {
        assert_eq!(dropped[*id], "gopher_quality:min_avg_word_length", "{id}");
    }
    assert_eq!(dropped["deu-1"], "gopher_quality:min_stop_words");
    // Without language options nothing is counted by settings.
    assert!(counters(&stats, 2).is_empty());

    // The manifest names the table the stages used.
    let m: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(tmp.path().join("fw2/manifest.json")).expect("manifest"),
    )
    .expect("json");
    let used = &m["language_settings"][0];
    assert_eq!(used["name"], "fineweb2");
    assert_eq!(used["commit"], "d0defb24f193bb9a5a11b8b14524a03c4858e1b6");
    assert_eq!(used["stages"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(
        used["xxh3"],
        format!("{:016x}", corpusforge::text::langs::fineweb2_hash())
    );
}

#[test]
fn outputs_are_identical_at_any_thread_count() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut trees = Vec::new();
    for threads in [1, 2] {
        let out = tmp.path().join(format!("t{threads}"));
        run(
            &pipeline_yaml(&fixture(), &out, "language_defaults: fineweb2\n"),
            threads,
        );
        let mut t = common::tree(&out);
        t.remove("manifest.json");
        t.remove("stats.json");
        trees.push(t);
    }
    assert_eq!(trees[0], trees[1]);
}

#[test]
fn languages_override_the_defaults_and_a_language_without_settings_is_counted() {
    let tmp = tempfile::tempdir().expect("tmp");
    // Chinese documents need 1000 words here: the five articles are shorter.
    let out = tmp.path().join("o");
    let p = on_gopher_quality(
        &pipeline_yaml(&fixture(), &out, ""),
        "language_defaults: fineweb2\nlanguages:\n  cmn: {min_doc_words: 1000}\n",
    );
    let (kept, dropped, stats) = run(&p, 2);
    for id in ["cmn-1", "cmn-2", "cmn-3", "cmn-4", "cmn-5"] {
        assert_eq!(dropped[id], "gopher_quality:min_doc_words", "{id}");
    }
    assert!(kept.contains(&"jpn-1".to_string()));
    let c = counters(&stats, 2);
    assert_eq!(c.get("settings:cmn=fineweb2+languages"), Some(&6), "{c:?}");

    // Settings only for Japanese: every other language is counted as having none.
    let out = tmp.path().join("p");
    let p = on_gopher_quality(
        &pipeline_yaml(&fixture(), &out, ""),
        "languages:\n  jpn: {min_avg_word_length: 1}\n",
    );
    let (_, _, stats) = run(&p, 2);
    let c = counters(&stats, 2);
    assert_eq!(c.get("settings:jpn=languages"), Some(&3), "{c:?}");
    assert!(c.get("settings:cmn=none").is_some_and(|n| *n > 0), "{c:?}");
    assert!(c.get("settings:deu=none").is_some_and(|n| *n > 0), "{c:?}");
    // und and English are the stage's own on purpose.
    assert_eq!(c.get("settings:eng=own"), Some(&1), "{c:?}");
}

#[test]
fn a_fixed_language_splits_words_for_every_document() {
    // `language: cmn` on a stage: the Chinese articles are judged as Chinese without a
    // language stage.
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("o");
    let yaml = format!(
        "input:\n  paths: [{}]\nstages:\n  - type: gopher_quality\n    language: cmn_Hani\n    language_defaults: fineweb2\noutput:\n  dir: {}\n  report: false\n",
        fixture().display(),
        out.display()
    );
    let (kept, _, stats) = run(&yaml, 1);
    for id in ["cmn-1", "cmn-2", "cmn-3", "cmn-4", "cmn-5"] {
        assert!(kept.contains(&id.to_string()), "{id}: {kept:?}");
    }
    assert_eq!(counters(&stats, 0).get("settings:cmn=fineweb2"), Some(&15));
}

#[test]
fn bad_language_options_are_all_reported_with_positions() {
    let path = Path::new("fixtures/bad_configs/bad_languages.yaml");
    let err = config::load_file(path).unwrap_err().to_string();
    let f = "fixtures/bad_configs/bad_languages.yaml";
    let hint = "use an ISO 639-3 code the language stage writes (eng, deu, cmn, ...), optionally with its ISO 15924 script (cmn_Hani), or FineWeb-2's code_Script (arb_Arab)";
    let expected = [
        format!("{f}:6:28: stages[0] (language): min_scores.xyz: unknown language code \"xyz\": {hint}"),
        format!("{f}:8:5: stages[1] (gopher_quality): language: \"zz\" is not a language code: {hint}"),
        format!("{f}:11:7: stages[1] (gopher_quality): languages.klingon: \"klingon\" is not a language code: {hint}"),
        format!("{f}:12:13: stages[1] (gopher_quality): languages.jpn.language: language cannot be set per language"),
        format!("{f}:13:13: stages[1] (gopher_quality): languages.deu.min_doc_words: min_doc_words (500) is greater than max_doc_words (100)"),
        format!("{f}:16:13: stages[2] (gopher_repetition): languages.cmn: unknown key \"dup_line_fracc\" (did you mean \"dup_line_frac\"?); known keys: dup_line_frac, dup_para_frac, dup_line_char_frac, dup_para_char_frac, top_n_grams, dup_n_grams, signals, language, languages, language_defaults"),
        format!("{f}:18:24: stages[3] (fineweb): language_defaults: unknown value \"fineweb3\" (did you mean \"fineweb2\"?); expected one of: fineweb2"),
        format!("{f}:22:7: stages[4] (c4): languages.cmn_Hani: \"cmn_Hani\" and \"cmn\" are the same language (cmn)"),
        format!("8 problems in {f}"),
    ];
    assert_eq!(err, expected.join("\n"));
}

#[test]
fn calibrate_refuses_a_reference_too_small_and_an_unknown_language() {
    let p = config::load_file(Path::new("pipelines/fineweb-like.yaml")).expect("pipeline");
    let refs = References {
        language: vec![fixture().display().to_string()],
        english: vec![fixture().display().to_string()],
        text_field: "text".into(),
        lang_field: Some("lang".into()),
    };
    let err = calibrate(&p, "cmn", &refs).unwrap_err();
    assert_eq!(
        err,
        "the cmn reference has 8 documents: calibration needs at least 50 (each share is estimated from the documents; with fewer, one document moves it by more than 2 points)"
    );
    let err = calibrate(&p, "qqq", &refs).unwrap_err();
    assert!(err.starts_with("unknown language code \"qqq\""), "{err}");
}

/// English against English: every threshold lands where the share it removes is the
/// default's, next to the default; the stop words stay.
fn english_on_english(refs: &References) {
    let p = config::load_file(Path::new("pipelines/fineweb-like.yaml")).expect("pipeline");
    let c = calibrate(&p, "eng", refs).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.documents.0 >= 50);
    for r in &c.checks {
        match r.method {
            Method::Quantile => {
                assert!(
                    (r.after_share - r.english_share).abs() < 1e-9,
                    "{}.{}: {} vs {}",
                    r.stage,
                    r.option,
                    r.after_share,
                    r.english_share
                );
                let tol = 0.15 * r.english_threshold.abs().max(0.1);
                assert!(
                    (r.threshold - r.english_threshold).abs() <= tol,
                    "{}.{}: {} vs default {}",
                    r.stage,
                    r.option,
                    r.threshold,
                    r.english_threshold
                );
            }
            Method::MedianRatio => assert!(
                (r.threshold - r.english_threshold).abs() <= 1e-6 * r.english_threshold.max(1.0),
                "{}.{}: {}",
                r.stage,
                r.option,
                r.threshold
            ),
            Method::Unchanged => assert_eq!(r.threshold, r.english_threshold),
            Method::StopWords => panic!("stop words were replaced: {:?}", c.stop_words),
        }
    }
    assert_eq!(
        c.stop_words,
        ["the", "be", "to", "of", "and", "that", "have", "with"]
    );
}

#[test]
fn calibrating_english_on_english_reproduces_the_defaults() {
    let tmp = tempfile::tempdir().expect("tmp");
    let corpus = common::write_corpus(tmp.path(), "en.jsonl", 300);
    let refs = References {
        language: vec![corpus.display().to_string()],
        english: vec![corpus.display().to_string()],
        text_field: "text".into(),
        lang_field: None,
    };
    english_on_english(&refs);
}

#[test]
fn calibrating_english_on_english_prose_reproduces_the_defaults() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let prose = data.join("english/prose.jsonl").display().to_string();
    english_on_english(&References {
        language: vec![prose.clone()],
        english: vec![prose],
        text_field: "text".into(),
        lang_field: None,
    });
}

#[test]
fn calibrate_fits_japanese_on_the_installation_guide() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let guide = data
        .join("multilingual/installation-guide.jsonl")
        .display()
        .to_string();
    let p = config::load_file(Path::new("pipelines/fineweb-like.yaml")).expect("pipeline");
    let c = calibrate(
        &p,
        "jpn",
        &References {
            language: vec![guide.clone()],
            english: vec![guide],
            text_field: "text".into(),
            lang_field: Some("lang".into()),
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.documents, (84, 84));
    // With the English setting (3 characters) every Japanese document is too short in words;
    // calibrated, the check removes what it removes of English (nothing).
    let avg = c
        .checks
        .iter()
        .find(|r| r.option == "min_avg_word_length")
        .expect("min_avg_word_length");
    assert!(avg.before_share > 0.5, "{}", avg.before_share);
    assert_eq!(avg.after_share, avg.english_share);
    assert!(
        avg.threshold > 1.0 && avg.threshold < 2.5,
        "{}",
        avg.threshold
    );
    // The English stop words are not Japanese: the most frequent Japanese words replace them.
    assert!(
        c.stop_words.contains(&"の".to_string()),
        "{:?}",
        c.stop_words
    );
    let yaml = c.yaml();
    assert!(yaml.contains("languages:\n  jpn:\n"), "{yaml}");
}

#[test]
fn the_command_line_calibrates_and_lists_the_shipped_settings() {
    let bin = env!("CARGO_BIN_EXE_corpusforge");
    let out = Command::new(bin).args(["languages"]).output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("fineweb2 (https://github.com/huggingface/fineweb-2 at "),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("cmn  Hani  jieba")
            && l.ends_with("fineweb2 configs/cmn_Hani.yml@d0defb24")),
        "{text}"
    );
    assert!(text
        .lines()
        .any(|l| l.starts_with("jpn ") && l.ends_with("fineweb2 derived")));
    let out = Command::new(bin)
        .args(["languages", "arb_Arab"])
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["code"], "ara");
    let out = Command::new(bin)
        .args(["languages", "xx"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));

    let tmp = tempfile::tempdir().expect("tmp");
    let corpus = common::write_corpus(tmp.path(), "en.jsonl", 120);
    let block = tmp.path().join("block.yaml");
    let out = Command::new(bin)
        .args([
            "calibrate",
            "pipelines/fineweb-like.yaml",
            "--language",
            "eng",
        ])
        .arg("--reference")
        .arg(&corpus)
        .arg("--english")
        .arg(&corpus)
        .arg("--out")
        .arg(&block)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("stages[4] gopher_quality.min_doc_words"),
        "{stdout}"
    );
    assert!(fs::read_to_string(&block)
        .expect("block")
        .contains("languages:\n  eng:\n"));
    let out = Command::new(bin)
        .args([
            "calibrate",
            "pipelines/fineweb-like.yaml",
            "--language",
            "kor",
        ])
        .arg("--reference")
        .arg(fixture())
        .arg("--english")
        .arg(&corpus)
        .args(["--lang-field", "lang"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("the kor reference has 0 documents"));
}

#[test]
fn the_report_has_a_funnel_per_language() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("o");
    run(
        &pipeline_yaml(&fixture(), &out, "language_defaults: fineweb2\n"),
        2,
    );
    corpusforge::report::generate(&out, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(out.join("report/report.json")).expect("report.json"),
    )
    .expect("json");
    let langs = report["funnel"]["languages"].as_array().expect("languages");
    let cmn = langs.iter().find(|l| l["lang"] == "cmn").expect("cmn");
    assert_eq!(cmn["documents"], 8);
    assert_eq!(cmn["kept"], 5);
    assert_eq!(
        cmn["dropped"][0]["reason"],
        "gopher_repetition:dup_line_frac"
    );
    assert_eq!(cmn["dropped"][0]["count"], 2);
    let md = fs::read_to_string(out.join("report/report.md")).expect("md");
    assert!(md.contains("### By language"), "{md}");
}

#[test]
fn a_stage_option_that_some_languages_cannot_take_is_one_problem() {
    let cfg = corpusforge::stages::quality::gopher_quality::GopherQualityConfig {
        min_stop_words: Some(14),
        language_defaults: Some(
            corpusforge::stages::quality::by_language::LanguageDefaults::Fineweb2,
        ),
        ..Default::default()
    };
    let p = corpusforge::config::Check::check(&cfg);
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!(p[1].path, ["language_defaults"]);
    assert_eq!(
        p[1].message,
        "with the fineweb2 settings for 18 languages (afr, aka, bul, hin, hrv, ind, lav, mkd, nep, pes, slv, srp, swe, tel, tgl, ukr, urd, yid): min_stop_words (14) is greater than the number of stop_words (12) (for afr; the others alike)"
    );
}
