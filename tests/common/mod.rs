//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The crate root (tests run with it as the working directory).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data` beside the clone, if present; tests that need it say so and skip otherwise.
pub fn shared_data() -> Option<PathBuf> {
    let p = root().join("../shared/data");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: ../shared/data is not present beside the clone");
        None
    }
}

/// Every fixture document text of `fixtures/jsonl/*.jsonl`, in file order.
pub fn fixture_texts() -> Vec<String> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("fixtures/jsonl"))
        .expect("fixtures/jsonl")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        for line in fs::read_to_string(&f).expect("read fixture").lines() {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
                if let Some(t) = v.get("text").and_then(|t| t.as_str()) {
                    out.push(t.to_string());
                }
            }
        }
    }
    assert!(!out.is_empty(), "no fixture texts");
    out
}

/// Writes `n` JSONL documents built from the fixture texts (each made unique by its number),
/// with a few bad lines spread through, and returns the path.
pub fn write_corpus(dir: &Path, name: &str, n: usize) -> PathBuf {
    let texts = fixture_texts();
    let mut s = String::new();
    for i in 0..n {
        if i % 997 == 500 {
            s.push_str("{not json\n");
            continue;
        }
        let t = format!("{} [{}]", texts[i % texts.len()], i);
        s.push_str(&serde_json::json!({"id": format!("doc-{i}"), "text": t, "url": format!("https://example.org/{}", i % 13)}).to_string());
        s.push('\n');
    }
    let p = dir.join(name);
    fs::write(&p, s).expect("write corpus");
    p
}

/// Every file under `dir` (relative path → bytes), skipping nothing.
pub fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    fn walk(base: &Path, d: &Path, m: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = fs::read_dir(d) else { return };
        for e in rd {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(base, &p, m);
            } else {
                let rel = p
                    .strip_prefix(base)
                    .expect("under base")
                    .to_string_lossy()
                    .replace('\\', "/");
                m.insert(rel, fs::read(&p).expect("read"));
            }
        }
    }
    walk(dir, dir, &mut m);
    m
}

/// The shard files (`*.parquet`) of an output tree: path -> (size, xxh3-64), so that a
/// difference prints as a short diff of names and hashes.
pub fn shards(dir: &Path) -> BTreeMap<String, (usize, String)> {
    tree(dir)
        .into_iter()
        .filter(|(k, _)| k.ends_with(".parquet"))
        .map(|(k, v)| {
            (
                k,
                (v.len(), format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&v))),
            )
        })
        .collect()
}

/// SplitMix64: a small seeded generator, so tests need no extra dependency.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// A made-up word for `i` (letters only: digits would all simplify to 0).
pub fn word(mut i: usize) -> String {
    let mut w = String::new();
    loop {
        w.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            return w;
        }
    }
}
