//! Words by language and the multilingual recipe, on the real text of ../shared/data.
//!
//! 1. Word segmentation on one core, per segmenter: MB/s and words/s of Chinese (jieba) over
//!    every Chinese document of the shared data, Japanese (ICU dictionary), and the rule-based
//!    segmenters on Russian and German, with English for comparison.
//! 2. The four datatrove filters chained with `language_defaults: fineweb2` on the labelled
//!    multilingual documents, one core: MB/s per language family.
//! 3. `pipelines/multilingual-web.yaml` end to end (extract, language, per-language filters,
//!    near-dedup; tokenize and report off) in a child process at 1 and 2 threads: wall time,
//!    CPU time, MB/s per core and peak RSS.
//!
//! `cargo bench --bench languages` (BENCH_ROUNDS=N repeats the segmentation N times, default 3).

mod common;

use common::{cpu_seconds, peak_rss_mb};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use corpusforge::document::Document;
use corpusforge::stage::{Counters, Filter};
use corpusforge::stages::quality::by_language::LanguageDefaults;
use corpusforge::stages::quality::{c4, fineweb, gopher_quality, gopher_repetition};
use corpusforge::text::Segmenter;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// (lang label, text) of every labelled document of the multilingual files.
fn labelled() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in [
        "multilingual/debian-handbook.jsonl",
        "multilingual/installation-guide.jsonl",
        "multilingual/fortunes.jsonl",
    ] {
        let Ok(raw) = std::fs::read_to_string(data().join(f)) else {
            continue;
        };
        for l in raw.lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(l) {
                if let (Some(lang), Some(t)) = (v["lang"].as_str(), v["text"].as_str()) {
                    out.push((lang.to_string(), t.to_string()));
                }
            }
        }
    }
    out
}

fn segmentation(docs: &[(String, String)], rounds: usize) {
    println!("\n== word segmentation, 1 thread, {rounds} rounds");
    println!(
        "{:<10} {:<20} {:>8} {:>10} {:>10} {:>12}",
        "language", "segmenter", "docs", "MB", "MB/s", "words/s"
    );
    for (lang, seg) in [
        ("cmn", Segmenter::Jieba),
        ("jpn", Segmenter::Dictionary),
        ("rus", Segmenter::Spaced),
        ("deu", Segmenter::SpacedHyphenated),
        ("eng", Segmenter::English),
    ] {
        let texts: Vec<&str> = docs
            .iter()
            .filter(|(l, _)| l == lang)
            .map(|(_, t)| t.as_str())
            .collect();
        if texts.is_empty() {
            continue;
        }
        let bytes: usize = texts.iter().map(|t| t.len()).sum();
        corpusforge::text::segment::preload(seg);
        let mut words = 0usize;
        let mut out = Vec::new();
        let c0 = cpu_seconds();
        for _ in 0..rounds {
            for t in &texts {
                seg.split(t, &mut out);
                words += out.len();
            }
        }
        let cpu = (cpu_seconds() - c0).max(1e-9);
        println!(
            "{:<10} {:<20} {:>8} {:>10.2} {:>10.1} {:>12.0}",
            lang,
            seg.name(),
            texts.len(),
            bytes as f64 / 1e6,
            (bytes * rounds) as f64 / 1e6 / cpu,
            words as f64 / cpu
        );
    }
}

fn filters(docs: &[(String, String)]) {
    println!("\n== gopher_repetition -> gopher_quality -> c4 -> fineweb with language_defaults: fineweb2, 1 thread");
    let d = Some(LanguageDefaults::Fineweb2);
    let chain: Vec<Box<dyn Filter>> = vec![
        Box::new(gopher_repetition::GopherRepetition::new(
            gopher_repetition::GopherRepetitionConfig {
                language_defaults: d,
                ..Default::default()
            },
        )),
        Box::new(gopher_quality::GopherQuality::new(
            gopher_quality::GopherQualityConfig {
                language_defaults: d,
                ..Default::default()
            },
        )),
        Box::new(c4::C4::new(c4::C4Config {
            filter_no_terminal_punct: false,
            language_defaults: d,
            ..Default::default()
        })),
        Box::new(fineweb::Fineweb::new(fineweb::FinewebConfig {
            language_defaults: d,
            ..Default::default()
        })),
    ];
    let mut by: BTreeMap<&str, Vec<&(String, String)>> = BTreeMap::new();
    for d in docs {
        let fam = match Segmenter::for_language(&d.0) {
            Segmenter::Jieba => "Chinese",
            Segmenter::Dictionary => "Japanese",
            Segmenter::English => "English",
            _ => "other spaced",
        };
        by.entry(fam).or_default().push(d);
    }
    println!(
        "{:<14} {:>8} {:>10} {:>10} {:>10}",
        "languages", "docs", "MB", "MB/s", "kept"
    );
    let src: Arc<str> = Arc::from("bench");
    for (fam, docs) in by {
        let bytes: usize = docs.iter().map(|d| d.1.len()).sum();
        let c0 = cpu_seconds();
        let mut kept = 0;
        for (lang, text) in docs.iter().map(|d| (&d.0, &d.1)) {
            let mut doc = Document::new("d", text.as_str(), src.clone());
            doc.lang = Some(lang.clone());
            let mut c = Counters::default();
            if chain
                .iter()
                .all(|f| f.check(&mut doc, &mut c) == corpusforge::stage::Verdict::Keep)
            {
                kept += 1;
            }
        }
        let cpu = (cpu_seconds() - c0).max(1e-9);
        println!(
            "{:<14} {:>8} {:>10.2} {:>10.1} {:>10}",
            fam,
            docs.len(),
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / cpu,
            kept
        );
    }
}

/// In the child process: runs the recipe at `threads` and prints one line of figures.
fn recipe_child(threads: usize) {
    let recipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/multilingual-web.yaml");
    let mut p = corpusforge::config::load_file(&recipe).unwrap_or_else(|e| panic!("{e}"));
    p.stages
        .retain(|s| !matches!(s, corpusforge::config::StageSpec::Tokenize(_)));
    p.output.report = false;
    let tmp = std::env::temp_dir().join(format!("corpusforge-bench-languages-{threads}"));
    let _ = std::fs::remove_dir_all(&tmp);
    p.output.dir = tmp.display().to_string();
    let base = recipe.parent().expect("pipelines/").to_path_buf();
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let done = corpusforge::pipeline::run_data(
        &p,
        &base,
        &corpusforge::pipeline::RunOptions {
            threads: Some(threads),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let mb = done.stats.input_bytes as f64 / 1e6;
    println!(
        "{threads:>7} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>12.1} {:>10.0}",
        done.stats.input,
        mb,
        wall,
        cpu,
        mb / wall,
        mb / cpu,
        peak_rss_mb()
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

fn main() {
    if let Ok(t) = std::env::var("BENCH_LANGUAGES_CHILD") {
        recipe_child(t.parse().unwrap_or(1));
        return;
    }
    if !data().join("multilingual").is_dir() {
        eprintln!("skipping: ../shared/data/multilingual is not present");
        return;
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let docs = labelled();
    segmentation(&docs, rounds);
    filters(&docs);
    println!(
        "\n== pipelines/multilingual-web.yaml without tokenize and report (child process per run)"
    );
    println!(
        "{:>7} {:>8} {:>9} {:>9} {:>9} {:>10} {:>12} {:>10}",
        "threads", "docs", "MB in", "wall s", "CPU s", "MB/s", "MB/s per core", "peak MB"
    );
    let me = std::env::current_exe().expect("bench binary");
    for threads in [1, 2] {
        let st = Command::new(&me)
            .env("BENCH_LANGUAGES_CHILD", threads.to_string())
            .status()
            .expect("child");
        assert!(st.success());
    }
}
