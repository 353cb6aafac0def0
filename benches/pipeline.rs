//! End-to-end throughput: read jsonl -> normalize -> length -> write parquet, on the real
//! text in ../shared/data. Prints MB/s, docs/s (overall and per core) and peak RSS.
//!
//! `cargo bench --bench pipeline` (set BENCH_THREADS=1 for a single-core figure,
//! BENCH_REPEAT=N to read the inputs N times over for a larger corpus).

use std::path::Path;
use std::time::Instant;

use corpusforge::config;
use corpusforge::pipeline::{self, RunOptions};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if !data.is_dir() {
        eprintln!("skipping: ../shared/data is not present");
        return;
    }
    let threads: usize = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let repeat: usize = std::env::var("BENCH_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let files = [
        "english/prose.jsonl",
        "html/pages.jsonl",
        "multilingual/fortunes.jsonl",
        "multilingual/installation-guide.jsonl",
    ];
    let mut paths = Vec::new();
    for r in 0..repeat {
        for f in files {
            let src = data.join(f);
            if r == 0 {
                paths.push(src.display().to_string());
            } else {
                // Copies under other names, so the corpus is `repeat` times larger.
                let dst = tmp.path().join(format!("r{r}-{}", f.replace('/', "-")));
                std::fs::copy(&src, &dst).expect("copy");
                paths.push(dst.display().to_string());
            }
        }
    }
    let yaml = format!(
        "input:\n  paths: {paths:?}\nstages:\n  - type: normalize\n  - type: length\n    min_chars: 50\n    max_chars: 1000000\noutput:\n  dir: {out:?}\n  write_dropped: true\n",
        out = tmp.path().join("out").display().to_string()
    );
    let p = config::load_str(&yaml, "bench.yaml").unwrap_or_else(|e| panic!("{e}"));
    let t0 = Instant::now();
    let s = pipeline::run_data(
        &p,
        Path::new("."),
        &RunOptions {
            threads: Some(threads),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let secs = t0.elapsed().as_secs_f64();
    let cores = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let mb = s.stats.input_bytes as f64 / 1e6;
    println!("pipeline: read jsonl -> normalize -> length -> write parquet (zstd)");
    println!(
        "  input: {} records, {:.1} MB of text, threads {}",
        s.stats.input, mb, cores
    );
    println!("  wall: {secs:.2} s");
    println!(
        "  throughput: {:.1} MB/s, {:.0} docs/s",
        mb / secs,
        s.stats.input as f64 / secs
    );
    println!(
        "  per core: {:.1} MB/s, {:.0} docs/s",
        mb / secs / cores as f64,
        s.stats.input as f64 / secs / cores as f64
    );
    for st in &s.stats.stages {
        println!(
            "  stage {} ({}): {:.2} s wall in the stage",
            st.index, st.kind, st.seconds
        );
    }
    println!("  peak RSS: {:.0} MB", peak_rss_mb());
}
