//! `exact_dedup`: drops documents whose normalized text was seen before in the run.
//!
//! The key is xxh3-128 of the text after [`TextNorm`] (by default: lowercase, whitespace
//! collapsed). The first document with a key is kept; later ones are dropped as
//! `dedup:exact` with `duplicate_of` set to its id. Hashing runs in parallel over the batch;
//! the index is asked in input order.
//!
//! Memory: the index is an open-addressing table of 20-byte slots (the 128-bit hash and the
//! kept ordinal), at most 3/4 full, so 27–53 bytes per kept document; the ids of kept
//! documents are in an [`IdStore`] (8 bytes plus the id). 10 million kept documents with
//! 20-byte ids take about 0.5–0.8 GB.

use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::store::IdStore;
use super::{cluster_id, io_failure, Normalizer, TextNorm};
use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Stateful, Verdict};

fn default_true() -> bool {
    true
}

/// Config of the `exact_dedup` stage: which normalizations to apply before hashing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExactDedupConfig {
    /// Lowercase the text.
    #[serde(default = "default_true")]
    pub lowercase: bool,
    /// Collapse runs of whitespace to one space and trim the ends.
    #[serde(default = "default_true")]
    pub collapse_whitespace: bool,
    /// Remove punctuation and symbols (every character that is not a letter, digit, mark or
    /// whitespace).
    #[serde(default)]
    pub remove_punctuation: bool,
    /// Replace every digit with 0.
    #[serde(default)]
    pub digits_to_zero: bool,
    /// Strip accents (NFD, then drop combining marks).
    #[serde(default)]
    pub strip_accents: bool,
}

impl Default for ExactDedupConfig {
    fn default() -> Self {
        ExactDedupConfig {
            lowercase: true,
            collapse_whitespace: true,
            remove_punctuation: false,
            digits_to_zero: false,
            strip_accents: false,
        }
    }
}

impl ExactDedupConfig {
    /// The normalization this config describes.
    pub fn norm(&self) -> TextNorm {
        TextNorm {
            lowercase: self.lowercase,
            collapse_whitespace: self.collapse_whitespace,
            remove_punctuation: self.remove_punctuation,
            digits_to_zero: self.digits_to_zero,
            strip_accents: self.strip_accents,
        }
    }
}

impl Check for ExactDedupConfig {
    fn check(&self) -> Vec<Problem> {
        Vec::new()
    }
}

/// Open-addressing table from a 128-bit hash to a kept ordinal (linear probing).
///
/// A slot is `[u32; 5]`: the hash's four words and `ordinal + 1` (0 marks an empty slot).
#[derive(Debug, Default)]
pub struct HashTable {
    slots: Vec<[u32; 5]>,
    len: usize,
}

fn words(h: u128) -> [u32; 4] {
    [
        h as u32,
        (h >> 32) as u32,
        (h >> 64) as u32,
        (h >> 96) as u32,
    ]
}

impl HashTable {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * 20
    }

    fn home(&self, h: u128) -> usize {
        // The hash is uniform; its top bits pick the slot (the table size is a power of two).
        ((h >> 64) as u64 >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// The ordinal stored for `h`.
    pub fn get(&self, h: u128) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let w = words(h);
        let mask = self.slots.len() - 1;
        let mut i = self.home(h);
        loop {
            let s = &self.slots[i];
            if s[4] == 0 {
                return None;
            }
            if s[..4] == w {
                return Some(s[4] - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// Stores `h → ord` unless `h` is present; returns the ordinal now stored for `h`.
    pub fn insert(&mut self, h: u128, ord: u32) -> u32 {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let w = words(h);
        let mask = self.slots.len() - 1;
        let mut i = self.home(h);
        loop {
            let s = &mut self.slots[i];
            if s[4] == 0 {
                *s = [w[0], w[1], w[2], w[3], ord.saturating_add(1)];
                self.len += 1;
                return ord;
            }
            if s[..4] == w {
                return s[4] - 1;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(1024);
        let old = std::mem::replace(&mut self.slots, vec![[0; 5]; cap]);
        self.len = 0;
        for s in old.into_iter().filter(|s| s[4] != 0) {
            let h =
                s[0] as u128 | (s[1] as u128) << 32 | (s[2] as u128) << 64 | (s[3] as u128) << 96;
            self.insert(h, s[4] - 1);
        }
    }

    /// Every `(hash, ordinal)`, in slot order.
    fn entries(&self) -> impl Iterator<Item = &[u32; 5]> {
        self.slots.iter().filter(|s| s[4] != 0)
    }
}

/// The `exact_dedup` stage.
pub struct ExactDedup {
    norm: Normalizer,
    table: HashTable,
    ids: IdStore,
    /// Disk errors of the id store (the run fails at the end when there were any).
    io_errors: u64,
}

impl ExactDedup {
    /// A stage with `cfg` and an empty index.
    pub fn new(cfg: ExactDedupConfig) -> Self {
        ExactDedup {
            norm: cfg.norm().compile(),
            table: HashTable::default(),
            ids: IdStore::default(),
            io_errors: 0,
        }
    }

    /// Bytes held in memory by the index and the id store.
    pub fn memory_bytes(&self) -> usize {
        self.table.memory_bytes() + self.ids.memory_bytes()
    }
}

impl Stateful for ExactDedup {
    fn process(
        &mut self,
        docs: &mut [&mut Document],
        verdicts: &mut [Verdict],
        counters: &mut Counters,
    ) {
        let norm = &self.norm;
        let hashes: Vec<u128> = docs.par_iter().map(|d| norm.hash128(&d.text)).collect();
        for ((d, v), h) in docs.iter_mut().zip(verdicts.iter_mut()).zip(hashes) {
            let next = self.ids.len();
            if next >= u32::MAX as u64 - 1 {
                counters.add("index_full", 1);
                d.cluster_id = Some(cluster_id(&d.id));
                continue;
            }
            let ord = self.table.insert(h, next as u32);
            if ord as u64 == next {
                if let Err(e) = self.ids.push(&d.id) {
                    counters.add("io_errors", 1);
                    self.io_errors += 1;
                    tracing::error!("exact_dedup: storing a kept id failed ({e})");
                }
                d.cluster_id = Some(cluster_id(&d.id));
                continue;
            }
            match self.ids.get(ord as u64) {
                Ok(id) => {
                    d.cluster_id = Some(cluster_id(&id));
                    d.duplicate_of = Some(id);
                    *v = Verdict::Drop("exact");
                }
                Err(e) => {
                    counters.add("io_errors", 1);
                    self.io_errors += 1;
                    tracing::error!(
                        "exact_dedup: reading a kept id failed ({e}); keeping the document"
                    );
                }
            }
        }
    }

    fn finish(&mut self) -> Result<(), String> {
        io_failure(self.io_errors)
    }

    fn save_state(&self, dir: &Path) -> io::Result<()> {
        let mut w = BufWriter::new(fs::File::create(dir.join("exact.table"))?);
        for s in self.table.entries() {
            for x in s {
                w.write_all(&x.to_le_bytes())?;
            }
        }
        w.flush()?;
        self.ids.save(dir, "ids")
    }

    fn load_state(&mut self, dir: &Path) -> io::Result<()> {
        let ids = IdStore::load(dir, "ids")?;
        let mut r = io::BufReader::new(crate::storage::open(dir.join("exact.table"))?);
        let mut table = HashTable::default();
        let mut b = [0u8; 20];
        loop {
            match r.read_exact(&mut b) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let s: Vec<u32> = b
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let h =
                s[0] as u128 | (s[1] as u128) << 32 | (s[2] as u128) << 64 | (s[3] as u128) << 96;
            if s[4] == 0 || (s[4] - 1) as u64 >= ids.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "exact_dedup state: bad table entry",
                ));
            }
            table.insert(h, s[4] - 1);
        }
        if table.len() as u64 != ids.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "exact_dedup state: table and ids disagree",
            ));
        }
        self.table = table;
        self.ids = ids;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn run(stage: &mut ExactDedup, texts: &[&str]) -> (Vec<Verdict>, Vec<Document>) {
        let mut docs: Vec<Document> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| Document::new(format!("d{i}"), *t, Arc::from("t")))
            .collect();
        let mut refs: Vec<&mut Document> = docs.iter_mut().collect();
        let mut v = vec![Verdict::Keep; refs.len()];
        stage.process(&mut refs, &mut v, &mut Counters::default());
        (v, docs)
    }

    #[test]
    fn first_occurrence_is_kept() {
        let mut s = ExactDedup::new(ExactDedupConfig::default());
        let (v, d) = run(
            &mut s,
            &[
                "Hello  world",
                "other",
                "hello world",
                "Hello world!",
                "HELLO WORLD\n",
            ],
        );
        use Verdict::*;
        assert_eq!(v, vec![Keep, Keep, Drop("exact"), Keep, Drop("exact")]);
        assert_eq!(d[2].duplicate_of.as_deref(), Some("d0"));
        assert_eq!(d[4].duplicate_of.as_deref(), Some("d0"));
        assert_eq!(d[2].cluster_id, d[0].cluster_id);
        assert_ne!(d[1].cluster_id, d[0].cluster_id);
        // Across batches too.
        let (v, d) = run(&mut s, &["other", "new"]);
        assert_eq!(v, vec![Drop("exact"), Keep]);
        assert_eq!(d[0].duplicate_of.as_deref(), Some("d1"));

        let mut p = ExactDedup::new(ExactDedupConfig {
            remove_punctuation: true,
            ..Default::default()
        });
        let (v, _) = run(&mut p, &["Hello world", "Hello, world!"]);
        assert_eq!(v, vec![Keep, Drop("exact")]);
        let mut raw = ExactDedup::new(ExactDedupConfig {
            lowercase: false,
            collapse_whitespace: false,
            ..Default::default()
        });
        let (v, _) = run(&mut raw, &["a b", "A b", "a  b", "a b"]);
        assert_eq!(v, vec![Keep, Keep, Keep, Drop("exact")]);
    }

    #[test]
    fn table_grows_and_finds_everything() {
        let mut t = HashTable::default();
        for i in 0..10_000u32 {
            let h = xxhash_rust::xxh3::xxh3_128(&i.to_le_bytes());
            assert_eq!(t.insert(h, i), i);
        }
        assert_eq!(t.len(), 10_000);
        for i in (0..10_000u32).step_by(7) {
            let h = xxhash_rust::xxh3::xxh3_128(&i.to_le_bytes());
            assert_eq!(t.get(h), Some(i));
            assert_eq!(t.insert(h, 99_999), i);
        }
        assert_eq!(t.get(1), None);
        assert!(t.memory_bytes() <= 10_000 * 54);
    }

    #[test]
    fn state_round_trip() {
        let mut s = ExactDedup::new(ExactDedupConfig::default());
        run(&mut s, &["a", "b", "a"]);
        let dir = super::super::store::SpillDir::create(None, "test").expect("dir");
        s.save_state(dir.path()).expect("save");
        let mut t = ExactDedup::new(ExactDedupConfig::default());
        t.load_state(dir.path()).expect("load");
        let (v, d) = run(&mut t, &["b", "c"]);
        assert_eq!(v, vec![Verdict::Drop("exact"), Verdict::Keep]);
        assert_eq!(d[0].duplicate_of.as_deref(), Some("d1"));
    }
}
