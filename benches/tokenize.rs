//! Tokenizer figures on real English text (`../shared/data/english/prose.jsonl`): BPE training
//! time for a 32k byte-level BPE on 100 MB (the file repeated to reach it), then encode
//! throughput (tokens/s and MB/s) on one thread (per core) and on all threads.
//!
//!     cargo bench --bench tokenize
//!     BENCH_THREADS=2 BENCH_TRAIN_MB=100 BENCH_VOCAB=32000 cargo bench --bench tokenize
//!
//! Figures, not pass/fail.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use rayon::prelude::*;

use corpusforge::stages::tokenize::tokenizer::train_bpe;
use corpusforge::stages::tokenize::TrainSpec;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/english/prose.jsonl");
    let Ok(f) = std::fs::File::open(&path) else {
        println!("skipping: {} is not present", path.display());
        return;
    };
    let texts: Vec<String> = std::io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter_map(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let threads = env_or("BENCH_THREADS", 0usize);
    let vocab = env_or("BENCH_VOCAB", 32_000u64);
    let train_mb = env_or("BENCH_TRAIN_MB", 100usize);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let n_threads = pool.current_num_threads();
    println!(
        "corpus: {} documents, {:.1} MB of English (prose.jsonl); {cores} cores, {n_threads} threads",
        texts.len(),
        bytes as f64 / 1e6
    );

    // Training on train_mb MB: the documents, repeated as many times as needed.
    let target = train_mb * 1_000_000;
    let mut fed = 0usize;
    let sample = texts.iter().cycle().take_while(|t| {
        let go = fed < target;
        fed += t.len();
        go
    });
    let spec = TrainSpec {
        vocab_size: vocab,
        min_frequency: 2,
        special_tokens: vec![],
        max_docs: None,
    };
    let specials = vec!["<|endoftext|>".to_string()];
    let t0 = Instant::now();
    let (tok, json) = pool
        .install(|| train_bpe(&spec, &specials, sample.cloned()))
        .expect("training");
    let train_s = t0.elapsed().as_secs_f64();
    println!(
        "train: byte-level BPE, vocab {} on {:.1} MB in {train_s:.2}s ({:.2} MB/s, {n_threads} threads); tokenizer.json {} KB",
        tok.get_vocab_size(true),
        fed as f64 / 1e6,
        fed as f64 / 1e6 / train_s,
        json.len() / 1024
    );

    // Encoding the corpus once per thread setting.
    let mut settings = vec![1usize];
    if n_threads > 1 {
        settings.push(n_threads);
    }
    for t in settings {
        let p = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .expect("thread pool");
        let t0 = Instant::now();
        let tokens: usize = p.install(|| {
            texts
                .par_iter()
                .map(|s| {
                    tok.encode_fast(s.as_str(), false)
                        .map(|e| e.get_ids().len())
                        .unwrap_or(0)
                })
                .sum()
        });
        let s = t0.elapsed().as_secs_f64();
        let tps = tokens as f64 / s;
        let mbps = bytes as f64 / 1e6 / s;
        println!(
            "encode: {t} thread(s): {tokens} tokens in {s:.2}s: {tps:.0} tokens/s, {mbps:.2} MB/s \
             ({:.0} tokens/s, {:.2} MB/s per core); {:.2} bytes/token",
            tps / t as f64,
            mbps / t as f64,
            bytes as f64 / tokens.max(1) as f64
        );
    }
}
