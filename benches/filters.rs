//! Quality-filter throughput on one core: gopher_repetition -> gopher_quality -> c4 (terminal
//! punctuation rule off, as FineWeb runs it) -> fineweb, chained as in
//! `pipelines/fineweb-like.yaml`, on English documents of 2-5 KB from
//! ../shared/data/english/prose.jsonl. Prints docs/s and MB/s (input text) for the chain and
//! for each filter alone. Single-threaded: the figures are per core.
//!
//! `cargo bench --bench filters` (BENCH_ROUNDS=N repeats the corpus N times, default 3).

mod common;

use common::cpu_seconds;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use corpusforge::document::Document;
use corpusforge::stage::{Counters, Filter, Verdict};
use corpusforge::stages::quality::{c4, fineweb, gopher_quality, gopher_repetition};

/// Times `f`: (wall seconds, CPU seconds).
fn timed(f: impl FnOnce()) -> (f64, f64) {
    let (t, c) = (Instant::now(), cpu_seconds());
    f();
    (t.elapsed().as_secs_f64(), cpu_seconds() - c)
}

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/english/prose.jsonl");
    let Ok(raw) = std::fs::read_to_string(&path) else {
        eprintln!("skipping: {} is not present", path.display());
        return;
    };
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let docs: Vec<String> = raw
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_string))
        .filter(|t| (2000..=5000).contains(&t.len()))
        .collect();
    let bytes: usize = docs.iter().map(|d| d.len()).sum();
    println!(
        "{} documents of 2-5 KB, {:.1} MB, {rounds} rounds, 1 thread",
        docs.len(),
        bytes as f64 / 1e6
    );

    let stages: Vec<(&str, Box<dyn Filter>)> = vec![
        (
            "gopher_repetition",
            Box::new(gopher_repetition::GopherRepetition::new(Default::default())),
        ),
        (
            "gopher_quality",
            Box::new(gopher_quality::GopherQuality::new(Default::default())),
        ),
        (
            "c4",
            Box::new(c4::C4::new(c4::C4Config {
                filter_no_terminal_punct: false,
                ..Default::default()
            })),
        ),
        (
            "fineweb",
            Box::new(fineweb::Fineweb::new(Default::default())),
        ),
    ];
    let source: Arc<str> = Arc::from("bench");
    let report = |name: &str, (wall, cpu): (f64, f64), n: usize, b: usize| {
        println!(
            "{name:26} {:>8.0} docs/s {:>6.1} MB/s per CPU-second | wall: {:>8.0} docs/s {:>6.1} MB/s",
            n as f64 / cpu,
            b as f64 / 1e6 / cpu,
            n as f64 / wall,
            b as f64 / 1e6 / wall
        );
    };

    // The chain, as the runner applies it: a dropped document leaves.
    let mut kept = 0;
    let t = timed(|| {
        for _ in 0..rounds {
            for text in &docs {
                let mut d = Document::new("d", text.clone(), source.clone());
                let mut c = Counters::default();
                if stages
                    .iter()
                    .all(|(_, s)| s.check(&mut d, &mut c) == Verdict::Keep)
                {
                    kept += 1;
                }
            }
        }
    });
    report("chain (4 filters)", t, docs.len() * rounds, bytes * rounds);
    println!(
        "{:28} {} of {} documents kept",
        "",
        kept / rounds,
        docs.len()
    );

    if std::env::var("BENCH_CHAIN_ONLY").is_ok() {
        return;
    }
    // Each filter alone on every document (worst case: no earlier drop).
    for (name, s) in &stages {
        let t = timed(|| {
            for _ in 0..rounds {
                for text in &docs {
                    let mut d = Document::new("d", text.clone(), source.clone());
                    std::hint::black_box(s.check(&mut d, &mut Counters::default()));
                }
            }
        });
        report(name, t, docs.len() * rounds, bytes * rounds);
    }
    let t = timed(|| {
        for _ in 0..rounds {
            for text in &docs {
                std::hint::black_box(corpusforge::text::words(text).len());
            }
        }
    });
    report(
        "words (segmentation only)",
        t,
        docs.len() * rounds,
        bytes * rounds,
    );
}
