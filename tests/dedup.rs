//! Deduplication end to end: reason keys and annotations through the runner, determinism over
//! threads / batch sizes / spilling, idempotence, resume, the LSH index against a brute-force
//! oracle, and near-duplicate quality against exact Jaccard similarity (printed by bucket;
//! run with `-- --nocapture` to see the tables).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{word, Rng};
use corpusforge::config::{self, Pipeline};
use corpusforge::document::Document;
use corpusforge::pipeline::{self, RunOptions};
use corpusforge::stage::{Counters, Stateful, Verdict};
use corpusforge::stages::dedup::minhash::{MinhashDedup, MinhashDedupConfig};
use corpusforge::stages::dedup::shingle::{estimated_jaccard, jaccard, MinHasher, Scratch};

// ---------------------------------------------------------------------------------------------
// Helpers

const BOILERPLATE: &str =
    "Subscribe to our newsletter to receive the latest updates, offers and news from our team.";

/// Documents built from the in-repo fixtures with exact duplicates (re-cased, re-spaced),
/// near duplicates (a few words changed), shared boilerplate paragraphs, documents made only
/// of boilerplate, and very short documents mixed in. Deterministic.
fn dedup_corpus(n: usize) -> Vec<(String, String)> {
    let mut pool = Vec::new();
    for t in common::fixture_texts() {
        let paras: Vec<&str> = t.split("\n\n").filter(|p| !p.trim().is_empty()).collect();
        for w in paras.chunks(4) {
            let doc = w.join("\n\n");
            if doc.split_whitespace().count() >= 20 {
                pool.push(doc);
            }
        }
    }
    assert!(pool.len() > 200, "fixture pool too small: {}", pool.len());
    let mut rng = Rng(7);
    let mut docs: Vec<String> = Vec::with_capacity(n);
    let mut next = 0;
    for i in 0..n {
        let roll = rng.below(100);
        let text = if docs.is_empty() || roll < 55 {
            next += 1;
            pool[(next - 1) % pool.len()].clone()
        } else if roll < 65 {
            let d = &docs[rng.below(docs.len())];
            if i % 2 == 0 {
                d.to_uppercase()
            } else {
                format!("  {}  ", d.replace(' ', "   "))
            }
        } else if roll < 80 {
            let d = &docs[rng.below(docs.len())];
            let words: Vec<&str> = d.split(' ').collect();
            let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            for w in out.iter_mut() {
                if rng.chance(0.02) {
                    *w = "changed".into();
                }
            }
            out.join(" ")
        } else if roll < 90 {
            format!("{}\n\n{BOILERPLATE}", pool[rng.below(pool.len())])
        } else if roll < 95 {
            format!("{BOILERPLATE}\n\n{}", BOILERPLATE.to_uppercase())
        } else {
            format!("short note {}", rng.below(20))
        };
        docs.push(text);
    }
    docs.into_iter()
        .enumerate()
        .map(|(i, t)| (format!("doc-{i:05}"), t))
        .collect()
}

fn write_jsonl(path: &Path, docs: &[(String, String)]) {
    let mut s = String::new();
    for (id, text) in docs {
        s.push_str(&serde_json::json!({"id": id, "text": text}).to_string());
        s.push('\n');
    }
    fs::write(path, s).expect("write jsonl");
}

fn pipeline(input: &Path, out: &Path, stages: &str, run: &str) -> Pipeline {
    let yaml = format!(
        "input:\n  paths: [\"{}\"]\nstages:\n{stages}\noutput:\n  dir: \"{}\"\n  shard_max_docs: 700\nrun:\n{run}\n",
        input.display(),
        out.display()
    );
    config::load_str(&yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

const ALL_DEDUP: &str = "  - type: exact_dedup
  - type: paragraph_dedup
    min_chars: 40
  - type: minhash_dedup
";

fn run(p: &Pipeline, threads: usize) -> pipeline::RunSummary {
    let opts = RunOptions {
        threads: Some(threads),
        ..Default::default()
    };
    pipeline::run_data(p, Path::new("."), &opts).unwrap_or_else(|e| panic!("{e}"))
}

/// (id, text, duplicate_of, cluster_id, reason) of one written row.
type Row = (String, String, Option<String>, Option<u64>, Option<String>);

/// Every row of a dataset, read with polars.
fn rows(dir: &Path, dataset: &str) -> Vec<Row> {
    use polars::prelude::*;
    let pattern = dir.join(format!("{dataset}/**/*.parquet"));
    if !dir.join(dataset).exists() {
        return Vec::new();
    }
    let df = LazyFrame::scan_parquet(
        PlRefPath::new(pattern.to_string_lossy().as_ref()),
        ScanArgsParquet::default(),
    )
    .and_then(|f| f.collect())
    .unwrap_or_else(|e| panic!("{}: {e}", pattern.display()));
    let col = |name: &str| df.column(name).ok().cloned();
    let ids = col("id").expect("id");
    let texts = col("text").expect("text");
    let dups = col("duplicate_of");
    let clusters = col("cluster_id");
    let reasons = col("reason");
    let s = |c: &Option<Column>, i: usize| -> Option<String> {
        c.as_ref()
            .and_then(|c| c.str().ok().and_then(|s| s.get(i).map(str::to_string)))
    };
    (0..df.height())
        .map(|i| {
            (
                ids.str()
                    .expect("str")
                    .get(i)
                    .unwrap_or_default()
                    .to_string(),
                texts
                    .str()
                    .expect("str")
                    .get(i)
                    .unwrap_or_default()
                    .to_string(),
                s(&dups, i),
                clusters
                    .as_ref()
                    .and_then(|c| c.u64().ok().and_then(|c| c.get(i))),
                s(&reasons, i),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Through the runner

#[test]
fn reason_keys_and_annotations_through_the_runner() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in.jsonl");
    let docs = dedup_corpus(2000);
    write_jsonl(&input, &docs);
    let out = tmp.path().join("out");
    let s = run(&pipeline(&input, &out, ALL_DEDUP, "  batch_size: 128"), 2);
    let st = &s.stats;
    assert_eq!(st.verify(), Ok(()));
    for key in ["dedup:exact", "dedup:near", "dedup:paragraph_empty"] {
        assert!(
            st.dropped.get(key).is_some_and(|n| *n > 0),
            "no {key} in {:?}",
            st.dropped
        );
    }
    assert!(
        st.dropped.keys().all(|k| k.starts_with("dedup:")),
        "{:?}",
        st.dropped
    );
    // The stage names stay the type names; only the reason keys share the family prefix.
    let names: Vec<&str> = st.stages.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(
        names,
        vec!["exact_dedup", "paragraph_dedup", "minhash_dedup"]
    );
    assert!(st.stages[1]
        .counters
        .get("paragraphs_removed")
        .is_some_and(|n| *n > 0));

    let kept = rows(&out, "documents");
    let dropped = rows(&out, "dropped");
    assert_eq!(kept.len() as u64, st.kept);
    assert_eq!(dropped.len() as u64, st.dropped_total());
    let kept_cluster: HashMap<&str, Option<u64>> =
        kept.iter().map(|r| (r.0.as_str(), r.3)).collect();
    let all_ids: HashMap<&str, &str> = docs.iter().map(|(i, t)| (i.as_str(), t.as_str())).collect();
    for (id, _, dup, cluster, reason) in &dropped {
        let reason = reason.as_deref().unwrap_or_default();
        if reason == "dedup:paragraph_empty" {
            continue;
        }
        let dup = dup
            .as_deref()
            .unwrap_or_else(|| panic!("{id} ({reason}) has no duplicate_of"));
        assert!(dup < id.as_str(), "{id} points forward at {dup}");
        assert!(all_ids.contains_key(dup));
        if reason == "dedup:near" {
            // The kept document of a near-duplicate group is in the output, with the cluster id.
            assert_eq!(
                kept_cluster.get(dup).copied().flatten(),
                *cluster,
                "{id} -> {dup}"
            );
        }
    }
    // Every kept document carries its cluster id, and no two kept documents share one.
    let mut seen = std::collections::HashSet::new();
    assert!(kept.iter().all(|r| r.3.is_some_and(|c| seen.insert(c))));
    // Boilerplate was removed from documents after its first appearance.
    let with_boilerplate = kept.iter().filter(|r| r.1.contains(BOILERPLATE)).count();
    assert_eq!(
        with_boilerplate, 1,
        "the boilerplate paragraph survives once"
    );
}

#[test]
fn identical_shards_over_threads_batch_sizes_and_spilling() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in.jsonl");
    write_jsonl(&input, &dedup_corpus(3000));
    let spilling = ALL_DEDUP.replace(
        "minhash_dedup\n",
        "minhash_dedup\n    memory_budget_mb: 0\n",
    );
    let runs = [
        ("a", ALL_DEDUP.to_string(), "  batch_size: 1000", 1),
        ("b", ALL_DEDUP.to_string(), "  batch_size: 7", 2),
        ("c", spilling.clone(), "  batch_size: 256", 2),
        ("d", spilling, "  batch_size: 33", 1),
    ];
    let mut first: Option<BTreeMap<String, (usize, String)>> = None;
    for (name, stages, run_cfg, threads) in runs {
        let out = tmp.path().join(name);
        let s = run(&pipeline(&input, &out, &stages, run_cfg), threads);
        if name == "c" || name == "d" {
            let spilled = s.stats.stages[2].counters.get("index_spilled").copied();
            assert_eq!(
                spilled,
                Some(1),
                "run {name} spilled its index: {:?}",
                s.stats.stages[2].counters
            );
        }
        let shards = common::shards(&out);
        assert!(shards.keys().any(|k| k.starts_with("dropped/")));
        match &first {
            None => first = Some(shards),
            Some(f) => assert_eq!(&shards, f, "run {name} differs"),
        }
    }
}

#[test]
fn deduplicated_output_is_a_fixed_point() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in.jsonl");
    write_jsonl(&input, &dedup_corpus(2000));
    let out = tmp.path().join("out");
    let s = run(&pipeline(&input, &out, ALL_DEDUP, "  batch_size: 100"), 2);
    assert!(s.stats.dropped_total() > 0);
    // The kept documents, in output order, become the input of a second run.
    let kept = rows(&out, "documents");
    let again_in = tmp.path().join("again.jsonl");
    write_jsonl(
        &again_in,
        &kept
            .iter()
            .map(|r| (r.0.clone(), r.1.clone()))
            .collect::<Vec<_>>(),
    );
    let again = tmp.path().join("again");
    let s2 = run(
        &pipeline(&again_in, &again, ALL_DEDUP, "  batch_size: 64"),
        2,
    );
    assert_eq!(s2.stats.dropped_total(), 0, "{:?}", s2.stats.dropped);
    assert_eq!(s2.stats.stages[1].counters.get("paragraphs_removed"), None);
    let kept2: Vec<(String, String)> = rows(&again, "documents")
        .into_iter()
        .map(|r| (r.0, r.1))
        .collect();
    let kept1: Vec<(String, String)> = kept.into_iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(kept1, kept2);
}

#[test]
fn resume_after_sigkill_with_a_spilled_index() {
    let tmp = tempfile::tempdir().expect("tmp");
    let input = tmp.path().join("in.jsonl");
    write_jsonl(&input, &dedup_corpus(8000));
    // Spill files under the test's directory: the killed run cannot remove its own.
    let spill = tmp.path().join("spill");
    fs::create_dir_all(&spill).expect("spill dir");
    let stages = ALL_DEDUP.replace(
        "minhash_dedup\n",
        &format!(
            "minhash_dedup\n    memory_budget_mb: 0\n    spill_dir: \"{}\"\n",
            spill.display()
        ),
    );
    let full = tmp.path().join("full");
    let p = pipeline(
        &input,
        &full,
        &stages,
        "  batch_size: 64\n  checkpoint_seconds: 1",
    );
    // The binary resolves paths against the pipeline file's directory: do the same here.
    pipeline::run_data(
        &p,
        tmp.path(),
        &RunOptions {
            threads: Some(2),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let killed = tmp.path().join("killed");
    let yaml = tmp.path().join("p.yaml");
    fs::write(&yaml, serde_json::to_string(&p).expect("json")).expect("write yaml");
    let bin = env!("CARGO_BIN_EXE_corpusforge");
    let mut child = Command::new(bin)
        .args([
            "run",
            yaml.to_str().unwrap_or_default(),
            "--output",
            killed.to_str().unwrap_or_default(),
            "--threads",
            "2",
        ])
        .env("CORPUSFORGE_BATCH_DELAY_MS", "60")
        .spawn()
        .expect("spawn");
    let t0 = Instant::now();
    loop {
        // A checkpoint that holds the minhash stage's (spilled) index, wherever the runner
        // keeps stage states.
        let ck = killed.join(".resume/checkpoint.json").exists();
        let state = ck
            && common::tree(&killed.join(".resume"))
                .keys()
                .any(|k| k.ends_with("minhash.json"));
        if state && t0.elapsed() > Duration::from_millis(2000) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no checkpoint appeared"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the run finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let out = Command::new(bin)
        .args([
            "run",
            yaml.to_str().unwrap_or_default(),
            "--output",
            killed.to_str().unwrap_or_default(),
            "--threads",
            "1",
            "--resume",
        ])
        .output()
        .expect("resume");
    assert!(
        out.status.success(),
        "resume failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("resuming from"));
    assert_eq!(common::shards(&full), common::shards(&killed));
    // The completed runs removed their spill directories; only the killed one's is left.
    let left = fs::read_dir(&spill).expect("spill").count();
    assert_eq!(left, 2, "the killed run's index and store directories");
}

// ---------------------------------------------------------------------------------------------
// The stage against a brute-force oracle

/// A generated corpus: families of near duplicates at random edit rates, exact copies, tiny
/// and empty documents, CJK text.
fn generated(seed: u64, n: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    let vocab: Vec<String> = (0..600).map(word).collect();
    let cjk: Vec<char> = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年"
        .chars()
        .collect();
    let mut docs: Vec<String> = Vec::new();
    for _ in 0..n {
        let roll = rng.below(100);
        let text = if docs.is_empty() || roll < 40 {
            let len = 5 + rng.below(300);
            (0..len)
                .map(|_| vocab[rng.below(vocab.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        } else if roll < 80 {
            let base = docs[rng.below(docs.len())].clone();
            let rate = rng.unit() * 0.5;
            base.split(' ')
                .map(|w| {
                    if rng.chance(rate) {
                        vocab[rng.below(vocab.len())].clone()
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        } else if roll < 88 {
            docs[rng.below(docs.len())].clone()
        } else if roll < 94 {
            (0..1 + rng.below(4))
                .map(|_| vocab[rng.below(40)].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        } else if roll < 96 {
            "  ... !!! ".to_string()
        } else {
            (0..10 + rng.below(200))
                .map(|_| cjk[rng.below(cjk.len())])
                .collect()
        };
        docs.push(text);
    }
    docs
}

/// What the stage must answer: for each document, the index of the earliest kept document
/// sharing a band key (and, with `verify`, agreeing on at least that fraction of rows).
fn oracle(h: &MinHasher, texts: &[String], verify: Option<f64>) -> Vec<Option<usize>> {
    let mut kept: Vec<(usize, Vec<u64>, Vec<u32>)> = Vec::new();
    let mut s = Scratch::default();
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let mut sig = vec![0u32; h.num_hashes()];
        if !h.signature(t, &mut s, &mut sig) {
            out.push(None);
            continue;
        }
        let mut keys = vec![0u64; h.bands()];
        h.band_keys(&sig, &mut keys);
        let hit = kept.iter().find(|(_, k, g)| {
            k.iter().zip(&keys).any(|(a, b)| a == b)
                && verify.is_none_or(|t| estimated_jaccard(g, &sig) >= t)
        });
        match hit {
            Some((j, _, _)) => out.push(Some(*j)),
            None => {
                kept.push((i, keys, sig));
                out.push(None);
            }
        }
    }
    out
}

/// Runs the stage over `texts` in batches of varying size; returns the kept-document index
/// each document duplicates (from `duplicate_of`).
fn stage_answers(
    cfg: MinhashDedupConfig,
    texts: &[String],
    seed: u64,
) -> (Vec<Option<usize>>, bool) {
    let mut stage = MinhashDedup::new(cfg);
    let mut docs: Vec<Document> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Document::new(format!("{i}"), t.as_str(), Arc::from("g")))
        .collect();
    let mut rng = Rng(seed);
    let mut verdicts = Vec::new();
    let mut start = 0;
    while start < docs.len() {
        let end = (start + 1 + rng.below(400)).min(docs.len());
        let mut refs: Vec<&mut Document> = docs[start..end].iter_mut().collect();
        let mut v = vec![Verdict::Keep; refs.len()];
        stage.process(&mut refs, &mut v, &mut Counters::default());
        verdicts.extend(v);
        start = end;
    }
    let answers = docs
        .iter()
        .zip(&verdicts)
        .map(|(d, v)| match v {
            Verdict::Keep => None,
            Verdict::Drop(r) => {
                assert_eq!(*r, "near");
                d.duplicate_of.as_deref().and_then(|s| s.parse().ok())
            }
        })
        .collect();
    (answers, stage.is_spilled())
}

#[test]
fn stage_matches_the_brute_force_oracle_in_memory_and_spilled() {
    let cases = [
        (1u64, MinhashDedupConfig::default()),
        (
            2,
            MinhashDedupConfig {
                bands: 9,
                rows: 4,
                ngram: 3,
                seed: 5,
                ..Default::default()
            },
        ),
        (
            3,
            MinhashDedupConfig {
                verify_threshold: Some(0.7),
                ..Default::default()
            },
        ),
        (
            4,
            MinhashDedupConfig {
                bands: 20,
                rows: 2,
                ngram: 1,
                verify_threshold: Some(0.5),
                ..Default::default()
            },
        ),
    ];
    for (seed, cfg) in cases {
        let texts = generated(seed, 3000);
        let h = MinHasher::new(cfg.bands, cfg.rows, cfg.ngram, cfg.seed);
        let expect = oracle(&h, &texts, cfg.verify_threshold);
        let drops = expect.iter().filter(|e| e.is_some()).count();
        assert!(
            drops > 300,
            "case {seed}: the corpus has near duplicates ({drops})"
        );
        let (mem, spilled) = stage_answers(cfg.clone(), &texts, seed);
        assert!(!spilled);
        assert_eq!(mem, expect, "case {seed} in memory");
        let (disk, spilled) = stage_answers(
            MinhashDedupConfig {
                memory_budget_mb: 0,
                ..cfg
            },
            &texts,
            seed + 100,
        );
        assert!(spilled);
        assert_eq!(disk, expect, "case {seed} spilled");
    }
}

#[test]
fn spilled_index_with_many_runs_gives_the_same_verdicts() {
    // Enough kept documents for dozens of frozen runs and merges on disk (1024-entry deltas).
    let texts = generated(9, 30_000);
    let (mem, _) = stage_answers(MinhashDedupConfig::default(), &texts, 1);
    let (disk, spilled) = stage_answers(
        MinhashDedupConfig {
            memory_budget_mb: 0,
            ..Default::default()
        },
        &texts,
        2,
    );
    assert!(spilled);
    assert_eq!(mem, disk);
}

// ---------------------------------------------------------------------------------------------
// Near-duplicate quality against exact Jaccard

/// Pairs of (true Jaccard, detected) by the stage's rule: a pair is a duplicate when any band
/// key agrees (and, with `verify`, the signatures agree on at least that fraction).
struct Quality {
    pairs: Vec<(f64, bool, &'static str)>,
}

impl Quality {
    fn new() -> Self {
        Quality { pairs: Vec::new() }
    }

    fn add(&mut self, h: &MinHasher, a: &str, b: &str, verify: Option<f64>, kind: &'static str) {
        let j = jaccard(&h.shingle_set(a), &h.shingle_set(b));
        let mut s = Scratch::default();
        let (mut ga, mut gb) = (vec![0u32; h.num_hashes()], vec![0u32; h.num_hashes()]);
        h.signature(a, &mut s, &mut ga);
        h.signature(b, &mut s, &mut gb);
        let (mut ka, mut kb) = (vec![0u64; h.bands()], vec![0u64; h.bands()]);
        h.band_keys(&ga, &mut ka);
        h.band_keys(&gb, &mut kb);
        let hit = ka.iter().zip(&kb).any(|(x, y)| x == y)
            && verify.is_none_or(|t| estimated_jaccard(&ga, &gb) >= t);
        self.pairs.push((j, hit, kind));
    }

    /// Keeps at most `per_bucket` pairs per 0.1-wide Jaccard bucket (the first ones), so
    /// that rates over a range average evenly over it.
    fn balanced(mut self, per_bucket: usize) -> Self {
        let mut count = [0usize; 10];
        self.pairs.retain(|p| {
            let b = ((p.0 * 10.0) as usize).min(9);
            count[b] += 1;
            count[b] <= per_bucket
        });
        self
    }

    fn rate(&self, f: impl Fn(f64) -> bool) -> (usize, usize) {
        let sel: Vec<_> = self.pairs.iter().filter(|p| f(p.0)).collect();
        (sel.iter().filter(|p| p.1).count(), sel.len())
    }

    /// Prints the detection rate per Jaccard bucket next to the theoretical S-curve
    /// 1 - (1 - J^r)^b at the bucket's midpoint, and returns (recall J>=0.8, FP rate J<=0.5).
    fn report(&self, title: &str, bands: usize, rows: usize) -> (f64, f64) {
        println!("\n{title}");
        println!(
            "{:<12} {:>7} {:>9} {:>9} {:>10}",
            "Jaccard", "pairs", "detected", "rate", "S(mid)"
        );
        for b in 0..10 {
            let (lo, hi) = (b as f64 / 10.0, (b + 1) as f64 / 10.0);
            let (d, n) = self.rate(|j| j >= lo && (j < hi || (b == 9 && j <= 1.0)));
            let mid = (lo + hi) / 2.0;
            let s = 1.0 - (1.0 - mid.powi(rows as i32)).powi(bands as i32);
            let rate = if n > 0 {
                format!("{:.3}", d as f64 / n as f64)
            } else {
                "-".into()
            };
            println!(
                "[{lo:.1}, {hi:.1}{} {n:>7} {d:>9} {rate:>9} {s:>10.3}",
                if b == 9 { "]" } else { ")" }
            );
        }
        let (tp, pos) = self.rate(|j| j >= 0.8);
        let (fp, neg) = self.rate(|j| j <= 0.5);
        let (det, _) = self.rate(|_| true);
        let recall = tp as f64 / pos.max(1) as f64;
        let fpr = fp as f64 / neg.max(1) as f64;
        println!("recall (J >= 0.8): {recall:.4} ({tp}/{pos})   false-positive rate (J <= 0.5): {fpr:.4} ({fp}/{neg})");
        println!(
            "precision (detected pairs with J >= 0.8): {:.4} ({tp}/{det})",
            tp as f64 / det.max(1) as f64
        );
        let mut kinds: Vec<&str> = self.pairs.iter().map(|p| p.2).collect();
        kinds.sort_unstable();
        kinds.dedup();
        for k in kinds {
            let sel: Vec<_> = self.pairs.iter().filter(|p| p.2 == k).collect();
            let pos: Vec<_> = sel.iter().filter(|p| p.0 >= 0.8).collect();
            let neg: Vec<_> = sel.iter().filter(|p| p.0 <= 0.5).collect();
            println!(
                "  {k:<12} pairs {:>5}  recall(J>=0.8) {:>6}  FP(J<=0.5) {:>6}",
                sel.len(),
                frac(pos.iter().filter(|p| p.1).count(), pos.len()),
                frac(neg.iter().filter(|p| p.1).count(), neg.len())
            );
        }
        (recall, fpr)
    }
}

fn frac(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.3}", a as f64 / b as f64)
    }
}

/// One perturbation of `text` at `rate`.
fn perturb(text: &str, kind: &str, rate: f64, vocab: &[&str], rng: &mut Rng) -> String {
    let paras: Vec<&str> = text.split("\n\n").collect();
    let words = |p: &str, rng: &mut Rng| -> String {
        let mut out: Vec<String> = Vec::new();
        for w in p.split_whitespace() {
            let r = rng.unit();
            match kind {
                "substitute" if r < rate => out.push(vocab[rng.below(vocab.len())].to_string()),
                "delete" if r < rate => {}
                "insert" if r < rate => {
                    out.push(w.to_string());
                    out.push(vocab[rng.below(vocab.len())].to_string());
                }
                "mixed" if r < rate / 3.0 => out.push(vocab[rng.below(vocab.len())].to_string()),
                "mixed" if r < rate * 2.0 / 3.0 => {}
                "mixed" if r < rate => {
                    out.push(w.to_string());
                    out.push(vocab[rng.below(vocab.len())].to_string());
                }
                _ => out.push(w.to_string()),
            }
        }
        out.join(" ")
    };
    match kind {
        "reorder" => {
            let mut p: Vec<&str> = paras.clone();
            // Fisher-Yates over the paragraphs.
            for i in (1..p.len()).rev() {
                let j = rng.below(i + 1);
                p.swap(i, j);
            }
            p.join("\n\n")
        }
        "boilerplate" => {
            let n = (text.split_whitespace().count() as f64 * rate * 2.0) as usize;
            let extra: Vec<&str> = (0..n).map(|_| vocab[rng.below(vocab.len())]).collect();
            format!("{text}\n\n{}", extra.join(" "))
        }
        _ => paras
            .iter()
            .map(|p| words(p, rng))
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

const KINDS: [&str; 6] = [
    "substitute",
    "delete",
    "insert",
    "mixed",
    "reorder",
    "boilerplate",
];

/// A perturbation rate expected to give Jaccard `j` with 5-word shingles: a shingle survives
/// an edit rate `r` with probability `p = (1 - r)^5`, and `J = p / (2 - p)`; appended text of
/// relative length `f` gives `J = 1 / (1 + f)`. Only a target: the pairs are measured exactly.
fn rate_for(kind: &str, j: f64) -> f64 {
    let j = j.clamp(0.001, 0.999);
    match kind {
        "boilerplate" => (1.0 / j - 1.0) / 2.0,
        _ => 1.0 - (2.0 * j / (1.0 + j)).powf(0.2),
    }
}

#[test]
fn generated_near_duplicates_meet_the_targets() {
    let h = MinHasher::new(14, 8, 5, 1);
    let mut rng = Rng(11);
    let vocab: Vec<String> = (0..5000).map(word).collect();
    let vref: Vec<&str> = vocab.iter().map(String::as_str).collect();
    let mut q = Quality::new();
    for i in 0..8000 {
        let len = 200 + rng.below(600);
        let base: String = (0..len)
            .map(|k| {
                if k % 60 == 59 {
                    "\n\n"
                } else {
                    vref[rng.below(vref.len())]
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        let kind = KINDS[i % KINDS.len()];
        let rate = rate_for(kind, rng.unit());
        let b = perturb(&base, kind, rate, &vref, &mut rng);
        q.add(&h, &base, &b, None, kind);
    }
    let q = q.balanced(400);
    let (recall, fpr) = q.report(
        "generated near duplicates, 14 x 8, 5-word shingles, 400 pairs per bucket",
        14,
        8,
    );
    assert!(recall >= 0.90, "recall {recall}");
    assert!(fpr <= 0.01, "false-positive rate {fpr}");
}

#[test]
fn real_text_near_duplicates_meet_the_targets() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let path = data.join("english/prose.jsonl");
    let Ok(text) = fs::read_to_string(&path) else {
        eprintln!("skipping: {} is not readable", path.display());
        return;
    };
    let docs: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        .filter(|t| (2000..=5000).contains(&t.len()))
        .collect();
    assert!(docs.len() > 1000, "{} documents of 2-5 KB", docs.len());
    // Substitutions and insertions draw from the corpus's own words.
    let mut vocab: Vec<&str> = docs
        .iter()
        .take(300)
        .flat_map(|d| d.split_whitespace())
        .collect();
    vocab.sort_unstable();
    vocab.dedup();
    let h = MinHasher::new(14, 8, 5, 1);
    let mut rng = Rng(5);
    let mut q = Quality::new();
    let mut qv = Quality::new();
    for (i, d) in docs
        .iter()
        .enumerate()
        .flat_map(|(i, d)| [(2 * i, d), (2 * i + 1, d)])
    {
        let kind = KINDS[i % KINDS.len()];
        let rate = rate_for(kind, rng.unit());
        let b = perturb(d, kind, rate, &vocab, &mut rng);
        q.add(&h, d, &b, None, kind);
        qv.add(&h, d, &b, Some(0.7), kind);
    }
    let (q, qv) = (q.balanced(300), qv.balanced(300));
    // Unrelated documents: neighbours in the corpus (same play or manual, different text).
    let mut unrelated = Quality::new();
    for w in docs.windows(2).take(3000) {
        unrelated.add(&h, &w[0], &w[1], None, "neighbours");
    }
    let (recall, fpr) =
        q.report("real prose (shared/data/english/prose.jsonl, 2-5 KB), 14 x 8, perturbed, 300 pairs per bucket", 14, 8);
    qv.report("same pairs with verify_threshold: 0.7", 14, 8);
    let (_, unrelated_fpr) = unrelated.report("unrelated neighbouring documents", 14, 8);
    assert!(recall >= 0.90, "recall {recall}");
    assert!(fpr <= 0.01, "false-positive rate {fpr}");
    assert!(
        unrelated_fpr <= 0.01,
        "unrelated documents flagged: {unrelated_fpr}"
    );
}

#[test]
fn the_stage_drops_real_perturbed_copies() {
    // Through the stage itself: each original followed by a light and a heavy variant.
    let Some(data) = common::shared_data() else {
        return;
    };
    let Ok(text) = fs::read_to_string(data.join("english/prose.jsonl")) else {
        eprintln!(
            "skipping: english/prose.jsonl is not readable under {}",
            data.display()
        );
        return;
    };
    let docs: Vec<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        .filter(|t| (2000..=5000).contains(&t.len()))
        .take(400)
        .collect();
    let vocab = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let mut rng = Rng(3);
    let mut stream = Vec::new();
    for d in &docs {
        stream.push(d.clone());
        stream.push(perturb(d, "substitute", 0.01, &vocab, &mut rng));
        stream.push(perturb(d, "substitute", 0.6, &vocab, &mut rng));
    }
    let (answers, _) = stage_answers(MinhashDedupConfig::default(), &stream, 1);
    let n = docs.len();
    let light = (0..n).filter(|i| answers[3 * i + 1].is_some()).count();
    let light_to_own = (0..n).filter(|i| answers[3 * i + 1] == Some(3 * i)).count();
    let heavy = (0..n).filter(|i| answers[3 * i + 2].is_some()).count();
    // The corpus has near duplicates of its own (the same plays from two editions); an original
    // dropped must be truly similar to the document it points at.
    let h = MinHasher::new(14, 8, 5, 1);
    let natural: Vec<f64> = (0..n)
        .filter_map(|i| {
            answers[3 * i]
                .map(|t| jaccard(&h.shingle_set(&stream[3 * i]), &h.shingle_set(&stream[t])))
        })
        .collect();
    let mean = natural.iter().sum::<f64>() / natural.len().max(1) as f64;
    println!(
        "stage: {light}/{n} light copies dropped ({light_to_own} pointing at their own original), \
         {heavy} heavy variants dropped; {} originals are near duplicates of earlier documents \
         (mean Jaccard {mean:.2}, min {:.2})",
        natural.len(),
        natural.iter().copied().fold(1.0, f64::min)
    );
    assert!(light as f64 >= 0.98 * n as f64);
    assert!(heavy as f64 <= 0.01 * n as f64);
    let low = natural.iter().filter(|j| **j < 0.5).count();
    assert!(
        low as f64 <= 0.05 * natural.len() as f64,
        "{low} originals dropped with J < 0.5"
    );
}
