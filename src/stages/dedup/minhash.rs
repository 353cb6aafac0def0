//! `minhash_dedup`: near-duplicate removal with MinHash and banded LSH.
//!
//! For each batch: signatures and band keys of every document are computed in parallel
//! ([`shingle`](super::shingle)); every band of the index is asked, in parallel, for the kept
//! documents sharing a key with each document ([`lsh`](super::lsh)); then one pass in input
//! order decides. A document whose band keys match no kept document (before it in this batch
//! or in earlier ones) is kept and its keys are inserted; otherwise it is a near duplicate of
//! the **earliest** matching kept document — with `verify_threshold` set, of the earliest whose
//! signature agrees on at least that fraction of rows, and kept if there is none.
//!
//! The rule only compares a document with the documents kept before it, so the result does not
//! depend on batch size, threads or spilling, and running the output through the stage again
//! removes nothing.
//!
//! Memory per kept document: the index `bands × 8` bytes (112 by default; see
//! [`lsh`](super::lsh)), the id store 8 bytes plus the id's length, and with verification on
//! the signature store `bands × rows × 4` bytes; plus a fixed ~0.3 MiB per band for the
//! index's insert buffers. Documents found to be duplicates cost nothing. Once the total
//! passes `memory_budget_mb`, the stores and the index move to disk and the run goes on with
//! the same result; what stays in memory then is about 1.3 bytes per band entry (Bloom
//! filters and block samples, ~18 bytes per kept document with 14 bands), so the budget is
//! the point where spilling starts, not a hard cap.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::lsh::{BandIndex, DELTA_CAP};
use super::shingle::{estimated_jaccard, MinHasher, Scratch, MAX_NGRAM, MAX_ROWS};
use super::store::{IdStore, RecordStore, SpillDir};
use super::{cluster_id, PassThroughBuild};
use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Stateful, Verdict};

fn default_ngram() -> usize {
    5
}
fn default_bands() -> usize {
    14
}
fn default_rows() -> usize {
    8
}
fn default_seed() -> u64 {
    1
}
fn default_memory_budget_mb() -> u64 {
    4096
}

/// Config of the `minhash_dedup` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MinhashDedupConfig {
    /// Tokens per shingle: words of the simplified text (lowercase, digits → 0, punctuation →
    /// space, accents stripped), or single characters of CJK text.
    #[serde(default = "default_ngram")]
    #[schemars(range(min = 1, max = 32))]
    pub ngram: usize,
    /// LSH bands. Two documents are candidates when all rows of at least one band agree.
    #[serde(default = "default_bands")]
    #[schemars(range(min = 1, max = 256))]
    pub bands: usize,
    /// Rows (hash functions) per band; a signature has `bands × rows` hashes.
    #[serde(default = "default_rows")]
    #[schemars(range(min = 1, max = 32))]
    pub rows: usize,
    /// Seed of the hash functions. Fixed per stage (not `run.seed`), so that changing the run
    /// seed does not change which documents are duplicates.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// When set, a candidate counts only if the signatures agree on at least this fraction of
    /// rows (the MinHash estimate of Jaccard similarity); costs `bands × rows × 4` bytes per
    /// kept document in the signature store.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub verify_threshold: Option<f64>,
    /// Memory (MiB) for the index and stores; past it they move to disk and the run goes on
    /// with the same result (about 18 bytes per kept document stay in memory). 0 spills from
    /// the start.
    #[serde(default = "default_memory_budget_mb")]
    pub memory_budget_mb: u64,
    /// Directory for spill files (a private subdirectory is made and removed); default: the
    /// system temp directory.
    #[serde(default)]
    pub spill_dir: Option<String>,
}

impl Default for MinhashDedupConfig {
    fn default() -> Self {
        MinhashDedupConfig {
            ngram: default_ngram(),
            bands: default_bands(),
            rows: default_rows(),
            seed: default_seed(),
            verify_threshold: None,
            memory_budget_mb: default_memory_budget_mb(),
            spill_dir: None,
        }
    }
}

impl Check for MinhashDedupConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if !(1..=MAX_NGRAM).contains(&self.ngram) {
            p.push(Problem::at(
                "ngram",
                format!("ngram must be between 1 and {MAX_NGRAM}"),
            ));
        }
        if !(1..=256).contains(&self.bands) {
            p.push(Problem::at("bands", "bands must be between 1 and 256"));
        }
        if !(1..=MAX_ROWS).contains(&self.rows) {
            p.push(Problem::at(
                "rows",
                format!("rows must be between 1 and {MAX_ROWS}"),
            ));
        }
        if let Some(t) = self.verify_threshold {
            if !(0.0..=1.0).contains(&t) {
                p.push(Problem::at(
                    "verify_threshold",
                    "verify_threshold must be between 0 and 1",
                ));
            }
        }
        p
    }
}

/// What `save_state` writes beside the index, to refuse a state saved with other settings.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Meta {
    format: u32,
    ngram: usize,
    bands: usize,
    rows: usize,
    seed: u64,
    verify: bool,
    kept: u64,
}

/// Kept documents of the current batch, by band key, before they reach the index.
#[derive(Default)]
struct Local {
    /// `band << 48 | key48` → first kept ordinal with it.
    first: std::collections::HashMap<u64, u32, PassThroughBuild>,
    more: Vec<(u64, u32)>,
}

impl Local {
    fn key(band: usize, key48: u64) -> u64 {
        ((band as u64) << 48) | key48
    }
    fn insert(&mut self, k: u64, ord: u32) {
        match self.first.entry(k) {
            std::collections::hash_map::Entry::Occupied(_) => self.more.push((k, ord)),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(ord);
            }
        }
    }
    fn get(&self, k: u64, out: &mut Vec<u32>) {
        if let Some(&o) = self.first.get(&k) {
            out.push(o);
            out.extend(self.more.iter().filter(|(m, _)| *m == k).map(|(_, o)| *o));
        }
    }
}

/// The `minhash_dedup` stage.
pub struct MinhashDedup {
    cfg: MinhashDedupConfig,
    hasher: MinHasher,
    index: BandIndex,
    ids: IdStore,
    sigs: Option<RecordStore>,
    /// Kept documents so far (the next kept ordinal).
    kept: u64,
    /// Where the stores spill (the index has its own directory).
    store_dir: Option<SpillDir>,
    /// Spilling failed once; the run goes on in memory rather than retrying every batch.
    spill_failed: bool,
    /// Disk errors of the spilled index or stores (the run fails at the end when there were
    /// any).
    io_errors: u64,
}

impl MinhashDedup {
    /// A stage with `cfg` and an empty index.
    pub fn new(cfg: MinhashDedupConfig) -> Self {
        let hasher = MinHasher::new(cfg.bands, cfg.rows, cfg.ngram, cfg.seed);
        let index = BandIndex::new(cfg.bands, cfg.spill_dir.as_ref().map(PathBuf::from));
        let sigs = cfg
            .verify_threshold
            .map(|_| RecordStore::new(hasher.num_hashes() * 4));
        MinhashDedup {
            cfg,
            hasher,
            index,
            ids: IdStore::default(),
            sigs,
            kept: 0,
            store_dir: None,
            spill_failed: false,
            io_errors: 0,
        }
    }

    fn budget(&self) -> usize {
        (self.cfg.memory_budget_mb as usize).saturating_mul(1 << 20)
    }

    /// Bytes the index and stores hold in memory.
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
            + self.ids.memory_bytes()
            + self.sigs.as_ref().map_or(0, RecordStore::memory_bytes)
    }

    /// Bytes in memory of (the index, the id store, the signature store).
    pub fn memory_breakdown(&self) -> (usize, usize, usize) {
        (
            self.index.memory_bytes(),
            self.ids.memory_bytes(),
            self.sigs.as_ref().map_or(0, RecordStore::memory_bytes),
        )
    }

    /// True once the index lives on disk.
    pub fn is_spilled(&self) -> bool {
        self.index.is_spilled()
    }

    /// Kept documents so far.
    pub fn kept(&self) -> u64 {
        self.kept
    }

    /// Delta entries per band once spilled: half the budget over the bands, at ~40 bytes each.
    fn spilled_delta_cap(&self) -> usize {
        (self.budget() / 2 / self.cfg.bands.max(1) / 40).clamp(1024, DELTA_CAP * 8)
    }

    /// Moves everything to disk when over budget.
    fn enforce_budget(&mut self, counters: &mut Counters) {
        if self.spill_failed || self.memory_bytes() <= self.budget() || self.index.is_spilled() {
            return;
        }
        let cap = self.spilled_delta_cap();
        let r = (|| -> io::Result<()> {
            if self.store_dir.is_none() {
                self.store_dir = Some(SpillDir::create(
                    self.cfg.spill_dir.as_deref().map(Path::new),
                    "minhash",
                )?);
            }
            if let Some(dir) = &self.store_dir {
                self.ids.spill(dir)?;
                if let Some(s) = &mut self.sigs {
                    s.spill(dir)?;
                }
            }
            self.index.spill(cap)
        })();
        match r {
            Ok(()) => {
                counters.add("index_spilled", 1);
                tracing::info!(
                    kept = self.kept,
                    "minhash_dedup: index over {} MiB, spilled to disk",
                    self.cfg.memory_budget_mb
                );
            }
            Err(e) => {
                self.spill_failed = true;
                counters.add("spill_failed", 1);
                tracing::error!("minhash_dedup: could not spill to disk ({e}); going on in memory");
            }
        }
    }
}

impl Stateful for MinhashDedup {
    fn process(
        &mut self,
        docs: &mut [&mut Document],
        verdicts: &mut [Verdict],
        counters: &mut Counters,
    ) {
        let n = docs.len();
        let nh = self.hasher.num_hashes();
        let nb = self.hasher.bands();
        let mut sigs = vec![0u32; n * nh];
        let mut keys = vec![0u64; n * nb];
        let mut has = vec![false; n];
        let hasher = &self.hasher;
        sigs.par_chunks_mut(nh)
            .zip(keys.par_chunks_mut(nb))
            .zip(has.par_iter_mut())
            .zip(docs.par_iter())
            .for_each_init(Scratch::default, |s, (((sig, key), h), d)| {
                *h = hasher.signature(&d.text, s, sig);
                if *h {
                    hasher.band_keys(sig, key);
                }
            });

        // Hits against the documents kept before this batch, as (document, ordinal).
        let mut pre: Vec<(u32, u32)> = match self.index.lookup_batch(&keys) {
            Ok(per_band) => per_band.into_iter().flatten().collect(),
            Err(e) => {
                counters.add("io_errors", 1);
                self.io_errors += 1;
                tracing::error!(
                    "minhash_dedup: index lookup failed ({e}); keeping this batch's documents"
                );
                Vec::new()
            }
        };
        pre.sort_unstable();
        pre.dedup();

        let batch_start = self.kept;
        let mut local = Local::default();
        // Batch index of every document kept in this batch, by ordinal - batch_start.
        let mut kept_here: Vec<usize> = Vec::new();
        let mut cands: Vec<u32> = Vec::new();
        let mut sig_buf = vec![0u8; nh * 4];
        let mut p = 0;
        for i in 0..n {
            cands.clear();
            while p < pre.len() && (pre[p].0 as usize) < i {
                p += 1;
            }
            while p < pre.len() && pre[p].0 as usize == i {
                cands.push(pre[p].1);
                p += 1;
            }
            if !has[i] {
                counters.add("no_shingles", 1);
                docs[i].cluster_id = Some(cluster_id(&docs[i].id));
                continue;
            }
            let doc_keys = &keys[i * nb..(i + 1) * nb];
            for (b, &k) in doc_keys.iter().enumerate() {
                local.get(Local::key(b, k), &mut cands);
            }
            cands.sort_unstable();
            cands.dedup();
            let sig = &sigs[i * nh..(i + 1) * nh];
            let mut target: Option<u32> = None;
            for &c in &cands {
                let Some(t) = self.cfg.verify_threshold else {
                    target = Some(c);
                    break;
                };
                let est = if (c as u64) >= batch_start {
                    let j = kept_here[(c as u64 - batch_start) as usize];
                    estimated_jaccard(sig, &sigs[j * nh..(j + 1) * nh])
                } else {
                    match self.sigs.as_ref().map(|s| s.get(c as u64, &mut sig_buf)) {
                        Some(Ok(())) => {
                            let other: Vec<u32> = sig_buf
                                .chunks_exact(4)
                                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                                .collect();
                            estimated_jaccard(sig, &other)
                        }
                        _ => {
                            counters.add("io_errors", 1);
                            self.io_errors += 1;
                            0.0
                        }
                    }
                };
                if est >= t {
                    target = Some(c);
                    break;
                }
                counters.add("candidates_rejected", 1);
            }
            if let Some(t) = target {
                let id = if (t as u64) >= batch_start {
                    Ok(docs[kept_here[(t as u64 - batch_start) as usize]]
                        .id
                        .clone())
                } else {
                    self.ids.get(t as u64)
                };
                match id {
                    Ok(id) => {
                        docs[i].cluster_id = Some(cluster_id(&id));
                        docs[i].duplicate_of = Some(id);
                        verdicts[i] = Verdict::Drop("near");
                        continue;
                    }
                    Err(e) => {
                        counters.add("io_errors", 1);
                        self.io_errors += 1;
                        tracing::error!(
                            "minhash_dedup: reading a kept id failed ({e}); keeping the document"
                        );
                    }
                }
            }
            // Kept: a new group.
            docs[i].cluster_id = Some(cluster_id(&docs[i].id));
            if self.kept >= u32::MAX as u64 {
                counters.add("index_full", 1);
                continue;
            }
            let ord = self.kept as u32;
            self.kept += 1;
            kept_here.push(i);
            for (b, &k) in doc_keys.iter().enumerate() {
                local.insert(Local::key(b, k), ord);
            }
            let mut r = self.ids.push(&docs[i].id);
            if let (Some(s), Ok(())) = (&mut self.sigs, &r) {
                let bytes: Vec<u8> = sig.iter().flat_map(|v| v.to_le_bytes()).collect();
                r = s.push(&bytes);
            }
            if let Err(e) = r {
                counters.add("io_errors", 1);
                self.io_errors += 1;
                tracing::error!("minhash_dedup: writing a kept id failed ({e})");
            }
        }

        let batch: Vec<(&[u64], u32)> = kept_here
            .iter()
            .enumerate()
            .map(|(j, &i)| (&keys[i * nb..(i + 1) * nb], (batch_start + j as u64) as u32))
            .collect();
        if let Err(e) = self.index.insert_batch(&batch) {
            counters.add("io_errors", 1);
            self.io_errors += 1;
            tracing::error!("minhash_dedup: index insert failed ({e})");
        }
        self.enforce_budget(counters);
    }

    fn finish(&mut self) -> Result<(), String> {
        super::io_failure(self.io_errors)
    }

    fn save_state(&self, dir: &Path) -> io::Result<()> {
        let meta = self.meta_now();
        self.index.save(dir)?;
        self.ids.save(dir, "ids")?;
        if let Some(s) = &self.sigs {
            s.save(dir, "sigs")?;
        }
        fs::write(dir.join("minhash.json"), serde_json::to_vec(&meta)?)
    }

    fn load_state(&mut self, dir: &Path) -> io::Result<()> {
        let bad = |m: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("minhash_dedup state: {m}"),
            )
        };
        let meta: Meta = serde_json::from_slice(&crate::storage::read(dir.join("minhash.json"))?)?;
        let expect = Meta {
            kept: meta.kept,
            ..self.meta_now()
        };
        if meta != expect {
            return Err(bad("saved with other settings"));
        }
        let ids = IdStore::load(dir, "ids")?;
        let sigs = match &self.sigs {
            Some(_) => Some(RecordStore::load(
                dir,
                "sigs",
                self.hasher.num_hashes() * 4,
            )?),
            None => None,
        };
        if ids.len() != meta.kept || sigs.as_ref().is_some_and(|s| s.len() != meta.kept) {
            return Err(bad("stores disagree with the kept count"));
        }
        // Straight to disk when the saved entries alone exceed the budget.
        let entries = meta.kept as usize * self.cfg.bands;
        let spilled = entries.saturating_mul(8) > self.budget();
        let cap = self.spilled_delta_cap();
        self.index = BandIndex::load(
            dir,
            self.cfg.bands,
            self.cfg.spill_dir.as_ref().map(PathBuf::from),
            spilled,
            cap,
        )?;
        if self.index.len() != entries {
            return Err(bad("index disagrees with the kept count"));
        }
        self.ids = ids;
        self.sigs = sigs;
        self.kept = meta.kept;
        self.enforce_budget(&mut Counters::default());
        Ok(())
    }
}

impl MinhashDedup {
    fn meta_now(&self) -> Meta {
        Meta {
            format: 1,
            ngram: self.cfg.ngram,
            bands: self.cfg.bands,
            rows: self.cfg.rows,
            seed: self.cfg.seed,
            verify: self.sigs.is_some(),
            kept: self.kept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn docs(texts: &[&str]) -> Vec<Document> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Document::new(format!("d{i}"), *t, Arc::from("t")))
            .collect()
    }

    fn run(stage: &mut MinhashDedup, docs: &mut [Document], batch: usize) -> Vec<Verdict> {
        let mut out = Vec::new();
        for chunk in docs.chunks_mut(batch) {
            let mut refs: Vec<&mut Document> = chunk.iter_mut().collect();
            let mut v = vec![Verdict::Keep; refs.len()];
            stage.process(&mut refs, &mut v, &mut Counters::default());
            out.extend(v);
        }
        out
    }

    const A: &str = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat by the fire";

    /// A long text (about 200 words) of which `b` below changes one word: J ≈ 0.95.
    fn long() -> String {
        (0..10)
            .map(|i| format!("{A} and then chapter {i} begins."))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn near_duplicates_point_at_the_first() {
        let a = long();
        // Case, punctuation and digits do not matter; one word changed does, a little.
        let b = a
            .to_uppercase()
            .replacen("WARM", "cold", 1)
            .replace("chapter 3", "chapter, 7!");
        let far = "an entirely different sentence about rust compilers and borrow checking rules in practice";
        let mut d = docs(&[&a, far, &b, "", &a]);
        for batch in [1, 2, 5] {
            let mut s = MinhashDedup::new(MinhashDedupConfig::default());
            let mut dd = d.clone();
            let v = run(&mut s, &mut dd, batch);
            assert_eq!(
                v,
                vec![
                    Verdict::Keep,
                    Verdict::Keep,
                    Verdict::Drop("near"),
                    Verdict::Keep,
                    Verdict::Drop("near")
                ]
            );
            assert_eq!(dd[2].duplicate_of.as_deref(), Some("d0"));
            assert_eq!(dd[4].duplicate_of.as_deref(), Some("d0"));
            assert_eq!(dd[2].cluster_id, Some(cluster_id("d0")));
            assert_eq!(dd[0].cluster_id, Some(cluster_id("d0")));
            assert_eq!(dd[1].cluster_id, Some(cluster_id("d1")));
            assert_eq!(s.kept(), 2, "the empty document is kept but not indexed");
        }
        // Verification with a threshold above the pair's similarity keeps the variant.
        let mut s = MinhashDedup::new(MinhashDedupConfig {
            verify_threshold: Some(1.0),
            ..Default::default()
        });
        let v = run(&mut s, &mut d, 2);
        assert_eq!(v[2], Verdict::Keep);
        assert_eq!(v[4], Verdict::Drop("near"));
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let texts: Vec<String> = (0..300)
            .map(|i| {
                format!(
                    "{} {} number {}",
                    A,
                    ["alpha", "beta", "gamma"][i % 3],
                    i / 3 % 40
                )
            })
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut whole = docs(&refs);
        let mut s = MinhashDedup::new(MinhashDedupConfig {
            verify_threshold: Some(0.5),
            ..Default::default()
        });
        let expect = run(&mut s, &mut whole, 64);

        let mut parts = docs(&refs);
        let mut first = MinhashDedup::new(MinhashDedupConfig {
            verify_threshold: Some(0.5),
            ..Default::default()
        });
        let mut got = run(&mut first, &mut parts[..128], 64);
        let dir = SpillDir::create(None, "test").expect("dir");
        first.save_state(dir.path()).expect("save");
        let mut second = MinhashDedup::new(MinhashDedupConfig {
            verify_threshold: Some(0.5),
            memory_budget_mb: 0,
            ..Default::default()
        });
        second.load_state(dir.path()).expect("load");
        assert!(second.is_spilled());
        got.extend(run(&mut second, &mut parts[128..], 64));
        assert_eq!(got, expect);
        assert_eq!(parts, whole);

        let mut other = MinhashDedup::new(MinhashDedupConfig {
            bands: 7,
            ..Default::default()
        });
        assert!(other.load_state(dir.path()).is_err());
    }

    #[test]
    fn config_checks() {
        let c = MinhashDedupConfig {
            ngram: 0,
            rows: 33,
            verify_threshold: Some(1.5),
            ..Default::default()
        };
        let p: Vec<String> = c.check().into_iter().map(|p| p.path.join(".")).collect();
        assert_eq!(p, vec!["ngram", "rows", "verify_threshold"]);
        assert!(MinhashDedupConfig::default().check().is_empty());
    }
}
