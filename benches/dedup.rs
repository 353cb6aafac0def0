//! Dedup and language-id benchmarks: figures, not pass/fail.
//!
//! ```text
//! cargo bench --bench dedup                      # everything (the scale runs take a few minutes)
//! cargo bench --bench dedup -- kernels           # signatures/s, exact MB/s, language docs/s
//! cargo bench --bench dedup -- scale [--docs N]  # N (default 1,000,000) documents through
//!                                                # minhash_dedup, in memory and spilled
//! ```
//!
//! Kernels run on one thread (figures are per core) over the 2-5 KB documents of
//! `../shared/data/english/prose.jsonl` (the in-repo fixtures when it is absent). The scale
//! run streams short documents generated with a seeded RNG from
//! `../shared/data/multilingual/fortunes.jsonl` (exact copies, edited copies, fresh
//! combinations) through the stage in batches of 1024, each mode in a fresh child process so
//! that its peak RSS (VmHWM from /proc/self/status) is its own.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use corpusforge::document::Document;
use corpusforge::stage::{Counters, Stateful, Verdict};
use corpusforge::stages::dedup::exact::{ExactDedup, ExactDedupConfig};
use corpusforge::stages::dedup::minhash::{MinhashDedup, MinhashDedupConfig};
use corpusforge::stages::dedup::shingle::{MinHasher, Scratch};
use corpusforge::stages::lang::{Language, LanguageConfig};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn texts(path: &std::path::Path) -> Vec<String> {
    let Ok(s) = fs::read_to_string(path) else {
        return Vec::new();
    };
    s.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        .collect()
}

/// Real 2-5 KB documents.
fn prose() -> Vec<String> {
    let mut t: Vec<String> = texts(&root().join("../shared/data/english/prose.jsonl"))
        .into_iter()
        .filter(|t| (2000..=5000).contains(&t.len()))
        .collect();
    if t.is_empty() {
        eprintln!("../shared/data/english/prose.jsonl not found: using the in-repo fixtures");
        for f in [
            "fixtures/jsonl/prose.jsonl",
            "fixtures/jsonl/multilingual.jsonl",
        ] {
            for x in texts(&root().join(f)) {
                let chars: Vec<char> = x.chars().collect();
                t.extend(
                    chars
                        .chunks(3000)
                        .map(|c| c.iter().collect::<String>())
                        .filter(|s| s.len() >= 2000),
                );
            }
        }
    }
    t
}

fn status(key: &str) -> String {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .map(|l| l[key.len()..].trim().to_string())
        })
        .unwrap_or_else(|| "n/a".into())
}

fn one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

fn kernels() {
    let docs = prose();
    let bytes: usize = docs.iter().map(String::len).sum();
    println!(
        "kernels on {} documents of 2-5 KB ({:.1} MB), one thread",
        docs.len(),
        bytes as f64 / 1e6
    );

    // MinHash signatures + band keys.
    let h = MinHasher::new(14, 8, 5, 1);
    let mut s = Scratch::default();
    let mut sig = vec![0u32; h.num_hashes()];
    let mut keys = vec![0u64; h.bands()];
    let mut sink = 0u64;
    let rounds = 3;
    let t0 = Instant::now();
    for _ in 0..rounds {
        for d in &docs {
            h.signature(d, &mut s, &mut sig);
            h.band_keys(&sig, &mut keys);
            sink ^= keys[0];
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let n = (docs.len() * rounds) as f64;
    println!(
        "minhash signatures (14x8, 5-word shingles): {:>9.0} docs/s/core  ({:.1} MB/s, {:.1} us/doc)  [target 10,000]",
        n / secs,
        (bytes * rounds) as f64 / 1e6 / secs,
        secs / n * 1e6
    );

    // Exact dedup: the stage itself (hash + index) on one thread; every document is new, then
    // every document is a duplicate.
    let t0 = Instant::now();
    let mut stage = ExactDedup::new(ExactDedupConfig::default());
    let mut kept = 0;
    for _ in 0..2 {
        let mut batch: Vec<Document> = docs
            .iter()
            .enumerate()
            .map(|(i, t)| Document::new(format!("p{i}"), t.as_str(), Arc::from("p")))
            .collect();
        let t1 = Instant::now();
        for chunk in batch.chunks_mut(1024) {
            let mut refs: Vec<&mut Document> = chunk.iter_mut().collect();
            let mut v = vec![Verdict::Keep; refs.len()];
            one_thread(|| stage.process(&mut refs, &mut v, &mut Counters::default()));
            kept += v.iter().filter(|v| **v == Verdict::Keep).count();
        }
        let secs = t1.elapsed().as_secs_f64();
        println!("exact_dedup stage (lowercase + collapse whitespace, xxh3-128): {:>7.0} MB/s/core  [target 200]", bytes as f64 / 1e6 / secs);
    }
    let _ = t0;
    let norm = ExactDedupConfig::default().norm().compile();
    let t0 = Instant::now();
    for _ in 0..rounds {
        for d in &docs {
            sink ^= norm.hash128(d) as u64;
        }
    }
    println!(
        "exact normalization + xxh3-128 alone (default settings): {:>7.0} MB/s/core",
        (bytes * rounds) as f64 / 1e6 / t0.elapsed().as_secs_f64()
    );
    let norm = ExactDedupConfig {
        remove_punctuation: true,
        digits_to_zero: true,
        strip_accents: true,
        ..Default::default()
    }
    .norm()
    .compile();
    let t0 = Instant::now();
    for d in &docs {
        sink ^= norm.hash128(d) as u64;
    }
    println!(
        "exact normalization, everything on (+ punctuation, digits, accents): {:>7.0} MB/s/core",
        bytes as f64 / 1e6 / t0.elapsed().as_secs_f64()
    );
    println!("  ({kept} kept of {} over two passes)", docs.len() * 2);

    // Language identification, for scale.
    let lang = Language::new(LanguageConfig::default());
    let t0 = Instant::now();
    for d in &docs {
        if let corpusforge::stages::lang::Detection::Lang(l, _) = lang.detect(d) {
            sink ^= l.code().len() as u64;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "language (whatlang, whole text): {:>9.0} docs/s/core ({:.1} MB/s)",
        docs.len() as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    let lang = Language::new(LanguageConfig {
        max_chars: Some(1000),
        ..Default::default()
    });
    let t0 = Instant::now();
    for d in &docs {
        if let corpusforge::stages::lang::Detection::Lang(l, _) = lang.detect(d) {
            sink ^= l.code().len() as u64;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "language (max_chars: 1000):      {:>9.0} docs/s/core",
        docs.len() as f64 / secs
    );
    std::hint::black_box(sink);
}

/// SplitMix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Document `i` of the scale corpus: 30% an unchanged fortune, 30% a fortune with one word
/// replaced, 40% two fortunes joined (almost always new).
fn scale_doc(pool: &[String], words: &[&str], rng: &mut Rng) -> String {
    let a = &pool[rng.below(pool.len())];
    match rng.below(10) {
        0..=2 => a.clone(),
        3..=5 => {
            let mut w: Vec<&str> = a.split_whitespace().collect();
            if !w.is_empty() {
                let k = rng.below(w.len());
                w[k] = words[rng.below(words.len())];
            }
            w.join(" ")
        }
        _ => format!("{a}\n{}", pool[rng.below(pool.len())]),
    }
}

fn scale_child(mode: &str, n: usize) {
    let mut pool = texts(&root().join("../shared/data/multilingual/fortunes.jsonl"));
    if pool.is_empty() {
        eprintln!("fortunes.jsonl not found: using fixture paragraphs");
        for t in prose() {
            pool.extend(t.split("\n\n").map(str::to_string));
        }
    }
    let words: Vec<String> = pool
        .iter()
        .take(2000)
        .flat_map(|t| t.split_whitespace().map(str::to_string))
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let budget = if mode == "spill" { 16 } else { 4096 };
    let cfg = MinhashDedupConfig {
        memory_budget_mb: budget,
        ..Default::default()
    };
    let mut stage = MinhashDedup::new(cfg);
    let rss0 = status("VmRSS:");
    let mut rng = Rng(42);
    let (mut kept, mut bytes) = (0usize, 0usize);
    let mut counters = Counters::default();
    let t0 = Instant::now();
    let mut done = 0;
    while done < n {
        let m = 1024.min(n - done);
        let mut batch: Vec<Document> = (0..m)
            .map(|j| {
                Document::new(
                    format!("fortune-{}", done + j),
                    scale_doc(&pool, &words, &mut rng),
                    Arc::from("g"),
                )
            })
            .collect();
        bytes += batch.iter().map(|d| d.text.len()).sum::<usize>();
        let mut refs: Vec<&mut Document> = batch.iter_mut().collect();
        let mut v = vec![Verdict::Keep; refs.len()];
        stage.process(&mut refs, &mut v, &mut counters);
        kept += v.iter().filter(|v| **v == Verdict::Keep).count();
        done += m;
    }
    let secs = t0.elapsed().as_secs_f64();
    let threads = rayon::current_num_threads();
    println!(
        "scale [{mode}, memory_budget_mb: {budget}]: {n} docs ({:.0} MB) in {secs:.1}s = {:.0} docs/s on {threads} threads; \
         kept {kept}, near duplicates {}; spilled: {}",
        bytes as f64 / 1e6,
        n as f64 / secs,
        n - kept,
        stage.is_spilled()
    );
    println!(
        "  index + stores in memory: {:.1} MB = {:.1} bytes per kept document; RSS before {rss0}, peak RSS (VmHWM) {}",
        stage.memory_bytes() as f64 / 1e6,
        stage.memory_bytes() as f64 / stage.kept().max(1) as f64,
        status("VmHWM:")
    );
    let (index, ids, _) = stage.memory_breakdown();
    println!(
        "  of which index {:.1} MB ({:.1} bytes per kept document), kept ids {:.1} MB ({:.1} bytes per kept document)",
        index as f64 / 1e6,
        index as f64 / stage.kept().max(1) as f64,
        ids as f64 / 1e6,
        ids as f64 / stage.kept().max(1) as f64
    );
    println!("  counters: {:?}", counters.0);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let docs = args
        .iter()
        .position(|a| a == "--docs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000usize);
    if let Some(i) = args.iter().position(|a| a == "--scale-child") {
        let mode = args.get(i + 1).map(String::as_str).unwrap_or("memory");
        scale_child(mode, docs);
        return;
    }
    let what = args
        .iter()
        .find(|a| !a.starts_with("--") && a.parse::<usize>().is_err())
        .map(String::as_str)
        .unwrap_or("all");
    if what == "all" || what == "kernels" {
        kernels();
    }
    if what == "all" || what == "scale" {
        let Ok(exe) = std::env::current_exe() else {
            eprintln!("cannot find the bench executable to run the scale children");
            return;
        };
        for mode in ["memory", "spill"] {
            let status = std::process::Command::new(&exe)
                .args(["--scale-child", mode, "--docs", &docs.to_string()])
                .status();
            if !status.as_ref().is_ok_and(|s| s.success()) {
                eprintln!("scale run [{mode}] failed: {status:?}");
            }
        }
    }
}
