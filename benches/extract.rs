//! Main-content extraction on trafilatura's evaluation pages
//! (`../shared/data/html-extraction/trafilatura-eval.jsonl.gz`, 949 real pages): the `extract`
//! stage on one thread, scored with trafilatura's snippet metric (the one of
//! `../shared/bench/extraction_score.py`), with pages/s and MB/s (wall and per CPU-second) and
//! peak RSS. `bash scripts/extraction_score.sh` scores the same pages with the Python scorer and
//! trafilatura side by side.
//!
//!     cargo bench --bench extract
//!
//! Figures, not pass/fail.

mod common;

use common::{cpu_seconds, peak_rss_mb};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use corpusforge::document::Document;
use corpusforge::stage::{Counters, Filter};
use corpusforge::stages::clean::extract::{Extract, ExtractConfig, FavorSpec};
use corpusforge::stages::clean::extract_score::{read_eval, SnippetCounts};

fn main() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/html-extraction/trafilatura-eval.jsonl.gz");
    if !path.exists() {
        println!("skipping: {} is not present", path.display());
        return;
    }
    let pages = match read_eval(&path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mb = pages.iter().map(|p| p.html.len()).sum::<usize>() as f64 / 1e6;
    println!("{} pages, {mb:.1} MB of HTML", pages.len());
    let source: Arc<str> = Arc::from("bench");
    for (name, favor) in [
        ("balanced", FavorSpec::Balanced),
        ("precision", FavorSpec::Precision),
        ("recall", FavorSpec::Recall),
    ] {
        let stage = Extract::new(ExtractConfig {
            favor,
            min_text_chars: 0,
            ..ExtractConfig::default()
        });
        let mut docs: Vec<Document> = pages
            .iter()
            .map(|p| Document::new(p.id.clone(), p.html.clone(), source.clone()))
            .collect();
        let (w, c) = (Instant::now(), cpu_seconds());
        let mut counters = Counters::default();
        for d in &mut docs {
            stage.check(d, &mut counters);
        }
        let (wall, cpu) = (w.elapsed().as_secs_f64(), cpu_seconds() - c);
        let mut score = SnippetCounts::default();
        for (p, d) in pages.iter().zip(&docs) {
            score += SnippetCounts::of_page(&d.text, &p.with, &p.without);
        }
        let (pr, rc, f1) = score.scores();
        let n = pages.len() as f64;
        println!(
            "extract favor={name}: precision {pr:.3}, recall {rc:.3}, F1 {f1:.3}; one thread: \
             {:.0} pages/s wall, {:.0} pages per CPU-second, {:.1} MB/s wall ({wall:.2} s wall, {cpu:.2} s CPU)",
            n / wall,
            n / cpu.max(1e-9),
            mb / wall
        );
    }
    println!(
        "peak RSS {:.0} MB (all pages held in memory)",
        peak_rss_mb()
    );
}
