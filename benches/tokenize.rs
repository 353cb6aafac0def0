//! Tokenizer figures on real text (`../shared/data`):
//!
//! 1. encoding with GPT-2's tokenizer, and with its vocabulary under the split patterns of
//!    GPT-4's (cl100k) and Llama 3's tokenizer.json, the `tokenizers` library against the fast
//!    byte-level BPE encoder the tokenize stage uses, on the first 19 MB of `english/prose.jsonl` and on the
//!    multilingual files, at 1 and 2 threads: MB/s and tokens/s, wall and per CPU-second (the
//!    machine may be shared; CPU time is the fairer per-core figure);
//! 2. the tokenize stage end to end (read the kept documents' shards, encode, write token
//!    shards) on the prose sample with GPT-2's tokenizer, one thread, and peak RSS;
//! 3. BPE training time for a 32k byte-level BPE on 100 MB (the prose repeated).
//!
//! Commands:
//!
//!     cargo bench --bench tokenize
//!     BENCH_TRAIN_MB=0 cargo bench --bench tokenize   # skip training
//!     bash scripts/bench_tokenizers.sh                # Python tokenizers and tiktoken, same texts
//!
//! Figures, not pass/fail.

mod common;

use common::{cpu_seconds, peak_rss_mb};

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use corpusforge::config;
use corpusforge::pipeline::{self, RunOptions};
use corpusforge::stages::tokenize::encoder::Encoder;
use corpusforge::stages::tokenize::fast::pretokenize::{CL100K_PATTERN, LLAMA3_PATTERN};
use corpusforge::stages::tokenize::tokenizer::train_bpe;
use corpusforge::stages::tokenize::TrainSpec;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The texts of a JSON-lines file, up to `limit` bytes.
fn texts(path: &Path, limit: usize) -> Vec<String> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut bytes = 0;
    for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
        let Some(t) = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        else {
            continue;
        };
        bytes += t.len();
        out.push(t);
        if bytes >= limit {
            break;
        }
    }
    out
}

fn line(name: &str, mb: f64, tokens: usize, wall: f64, cpu: f64, threads: usize) {
    println!(
        "  {name:<34} {:>7.1} MB/s wall {:>7.1} MB/s per CPU-second {:>7.2} M tokens/s wall  ({threads} thread{}, {wall:.2} s wall, {cpu:.2} s CPU)",
        mb / wall,
        mb / cpu.max(1e-9),
        tokens as f64 / wall / 1e6,
        if threads == 1 { "" } else { "s" }
    );
}

fn encode_all(enc: &Encoder<'_>, docs: &[String], threads: usize) -> (usize, f64, f64) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let (w, c) = (Instant::now(), cpu_seconds());
    let tokens = pool.install(|| {
        docs.par_iter()
            .map(|d| {
                let mut ids = Vec::new();
                enc.encode_into(d, &mut ids).expect("encodes");
                ids.len()
            })
            .sum()
    });
    (tokens, w.elapsed().as_secs_f64(), cpu_seconds() - c)
}

/// `json` with a `[Split(pattern), ByteLevel]` pre-tokenizer: the form of GPT-4's tokenizer.json
/// (matches kept: `Removed` with `invert`) or of Llama 3's (`Isolated`, `ignore_merges`).
fn with_split(json: &str, pattern: &str, llama3: bool) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).expect("tokenizer.json parses");
    let (behavior, invert) = if llama3 {
        ("Isolated", false)
    } else {
        ("Removed", true)
    };
    v["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": behavior, "invert": invert},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]});
    if llama3 {
        v["model"]["ignore_merges"] = serde_json::json!(true);
    }
    v.to_string()
}

fn main() {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let gpt2 = data.join("tokenizers/gpt2/tokenizer.json");
    if !gpt2.exists() {
        println!("skipping: {} is not present", gpt2.display());
        return;
    }
    let json = std::fs::read_to_string(&gpt2).expect("GPT-2 reads");
    let prose = texts(&data.join("english/prose.jsonl"), 19_000_000);
    let mut multi = texts(&data.join("multilingual/fortunes.jsonl"), usize::MAX);
    multi.extend(texts(
        &data.join("multilingual/installation-guide.jsonl"),
        usize::MAX,
    ));

    // 1. Encoders side by side: GPT-2's tokenizer, and its vocabulary under the split patterns of
    //    GPT-4's tokenizer.json (cl100k, as converted from tiktoken) and Llama 3's.
    let shapes = [
        ("GPT-2", json.clone()),
        ("cl100k shape", with_split(&json, CL100K_PATTERN, false)),
        ("Llama-3 shape", with_split(&json, LLAMA3_PATTERN, true)),
    ];
    for (shape, json) in &shapes {
        let tok =
            <tokenizers::Tokenizer as std::str::FromStr>::from_str(json).expect("tokenizer loads");
        let fast = Encoder::new(&tok, json);
        let library = Encoder::Library(&tok, "measured for comparison".into());
        println!("{shape}: encoder: {}", fast.describe());
        for (name, docs) in [
            ("prose (first 19 MB)", &prose),
            ("multilingual (all)", &multi),
        ] {
            let mb = docs.iter().map(String::len).sum::<usize>() as f64 / 1e6;
            println!("{shape}, {name}: {} documents, {mb:.1} MB", docs.len());
            let (n, w, c) = encode_all(&library, docs, 1);
            line("tokenizers library", mb, n, w, c, 1);
            for threads in [1, 2] {
                let (n, w, c) = encode_all(&fast, docs, threads);
                line("fast encoder, first pass", mb, n, w, c, threads);
                let (n, w, c) = encode_all(&fast, docs, threads);
                line("fast encoder, warm cache", mb, n, w, c, threads);
            }
        }
    }

    // 2. The stage end to end, one thread: a pipeline with only the tokenize stage.
    let tmp =
        std::env::temp_dir().join(format!("corpusforge-bench-tokenize-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let input = tmp.join("prose.jsonl");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input).expect("input"));
        for (i, t) in prose.iter().enumerate() {
            let line = serde_json::json!({"id": format!("p{i}"), "text": t});
            writeln!(f, "{line}").expect("write");
        }
    }
    let yaml = format!(
        "input:\n  paths: [\"{}\"]\nstages:\n  - type: tokenize\n    tokenizer: {{path: \"{}\"}}\n    eos: \"<|endoftext|>\"\noutput:\n  dir: \"{}\"\n  report: false\n",
        input.display(),
        gpt2.display(),
        tmp.join("out").display()
    );
    let p = config::load_str(&yaml, "bench.yaml").expect("pipeline");
    let opts = RunOptions {
        threads: Some(1),
        ..Default::default()
    };
    let c0 = cpu_seconds();
    let s = pipeline::run_data(&p, Path::new("."), &opts).expect("run");
    let cpu = cpu_seconds() - c0;
    let stage = s.stats.stages.last().expect("tokenize stage");
    let mb = s.stats.kept_bytes as f64 / 1e6;
    println!(
        "tokenize stage end to end (read documents shards, encode, write token shards), 1 thread: \
         {mb:.1} MB in {:.2} s: {:.1} MB/s; whole run {:.2} s wall, {cpu:.2} s CPU; peak RSS {:.0} MB",
        stage.seconds,
        mb / stage.seconds,
        s.stats.seconds,
        peak_rss_mb()
    );
    let _ = std::fs::remove_dir_all(&tmp);

    // 3. Training.
    let train_mb = env_or("BENCH_TRAIN_MB", 100usize);
    if train_mb == 0 {
        return;
    }
    let vocab = env_or("BENCH_VOCAB", 32_000u64);
    let target = train_mb * 1_000_000;
    let mut fed = 0usize;
    let sample = prose.iter().cycle().take_while(|t| {
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
    let pool = rayon::ThreadPoolBuilder::new()
        .build()
        .expect("thread pool");
    let t0 = Instant::now();
    let (trained, json) = pool
        .install(|| train_bpe(&spec, &specials, sample.cloned()))
        .expect("training");
    let train_s = t0.elapsed().as_secs_f64();
    println!(
        "train: byte-level BPE, vocab {} on {:.1} MB in {train_s:.2}s ({:.2} MB/s, {} threads); tokenizer.json {} KB",
        trained.get_vocab_size(true),
        fed as f64 / 1e6,
        fed as f64 / 1e6 / train_s,
        pool.current_num_threads(),
        json.len() / 1024
    );
}
