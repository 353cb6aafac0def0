//! The LSH band index of `minhash_dedup`: per band, band key → kept ordinals, in bounded
//! memory, spilling to disk past a budget.
//!
//! # What it answers
//!
//! A band key is the top 48 bits of the xxh3-64 hash of one band of a signature. For a band and
//! a key, [`BandIndex::lookup`] returns every kept ordinal inserted with that key. The answer is
//! exact — it does not depend on how the entries are laid out, merged or spilled — which is why
//! a run that spills gives the same verdicts as one that does not.
//!
//! # Layout (an LSM per band)
//!
//! - **delta**: a hash map of the newest entries (at most `delta_cap`), for cheap inserts.
//! - **runs**: immutable sorted arrays. A full delta is frozen into a run; two runs of the same
//!   level are merged into one of the next level (a binary counter), so a band has at most
//!   log2(entries / delta_cap) + 1 runs.
//!
//! An entry is 10 bytes: a `u64` holding `key48 << 16 | ord & 0xffff` (sorted, searched by
//! interpolation since keys are uniform hashes) and a `u16` holding `ord >> 16`. So a kept
//! document costs `bands × 10` bytes (140 with 14 bands) in memory, plus the delta maps
//! (a fixed ~0.3 MiB per band).
//!
//! # Spilling
//!
//! Once spilled, every run lives in two files (keys, high ordinal bits) and memory holds only a
//! Bloom filter (10 bits per entry) and every 256th key (to find the disk block), about 1.3
//! bytes per entry; merges stream from files to files. A lookup first asks the Bloom filter, so
//! only probable hits read from disk (one positioned read of a 2 KiB block).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::store::{read_exact_at, SpillDir};
use super::PassThroughBuild;

/// Entries per band kept in the delta map before it is frozen into a run (in memory).
pub const DELTA_CAP: usize = 8192;
/// Keys per disk block (every block's first key is kept in memory).
const BLOCK: usize = 256;
/// Bloom filter bits per entry of a spilled run.
const BLOOM_BITS_PER_KEY: usize = 10;
/// Entries read per positioned read while merging spilled runs.
const READ_CHUNK: usize = 1 << 14;

/// One entry: the packed key word and the high 16 bits of the ordinal.
type Entry = (u64, u16);

fn pack(key48: u64, ord: u32) -> Entry {
    ((key48 << 16) | (ord as u64 & 0xffff), (ord >> 16) as u16)
}

fn ord_of(e: Entry) -> u32 {
    ((e.1 as u32) << 16) | (e.0 & 0xffff) as u32
}

/// First index whose key is `>= target`, in keys that are uniform over `u64`.
fn lower_bound(keys: &[u64], target: u64) -> usize {
    let n = keys.len();
    if n < 64 {
        return keys.partition_point(|&k| k < target);
    }
    // Interpolate, then gallop from the guess: a few probes near one spot.
    let guess = (((target as u128) * (n as u128)) >> 64) as usize;
    let guess = guess.min(n - 1);
    if keys[guess] < target {
        let mut lo = guess + 1;
        let mut step = 1;
        loop {
            let hi = (lo + step).min(n);
            if hi == n || keys[hi - 1] >= target {
                return lo + keys[lo..hi].partition_point(|&k| k < target);
            }
            lo = hi;
            step *= 2;
        }
    } else {
        let mut hi = guess;
        let mut step = 1;
        loop {
            let lo = hi.saturating_sub(step);
            if lo == 0 || keys[lo] < target {
                return lo + keys[lo..hi].partition_point(|&k| k < target);
            }
            hi = lo;
            step *= 2;
        }
    }
}

/// A Bloom filter with all probes of a key in one 64-bit word (one cache miss per lookup).
#[derive(Debug, Default)]
struct Bloom {
    words: Vec<u64>,
}

impl Bloom {
    fn with_keys(n: usize) -> Self {
        Bloom {
            words: vec![0; (n * BLOOM_BITS_PER_KEY).div_ceil(64).max(1)],
        }
    }

    #[inline]
    fn probe(&self, key48: u64) -> (usize, u64) {
        // splitmix64's finalizer: the key is already a hash, this decorrelates word and bits.
        let mut h = key48.wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
        let w = (((h >> 32) * self.words.len() as u64) >> 32) as usize;
        let bits = (1u64 << (h & 63))
            | (1u64 << ((h >> 6) & 63))
            | (1u64 << ((h >> 12) & 63))
            | (1u64 << ((h >> 18) & 63));
        (w.min(self.words.len() - 1), bits)
    }

    fn insert(&mut self, key48: u64) {
        let (w, bits) = self.probe(key48);
        self.words[w] |= bits;
    }

    fn may_contain(&self, key48: u64) -> bool {
        let (w, bits) = self.probe(key48);
        self.words[w] & bits == bits
    }
}

/// A run held in memory.
#[derive(Debug, Default)]
struct MemRun {
    keys: Vec<u64>,
    hi: Vec<u16>,
}

/// A run held in two files.
#[derive(Debug)]
struct DiskRun {
    keys: File,
    hi: File,
    paths: [PathBuf; 2],
    len: usize,
    bloom: Bloom,
    /// `keys[i * BLOCK]` for every block.
    samples: Vec<u64>,
}

impl Drop for DiskRun {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = fs::remove_file(p);
        }
    }
}

#[derive(Debug)]
enum Run {
    Mem(MemRun),
    Disk(DiskRun),
}

impl Run {
    fn len(&self) -> usize {
        match self {
            Run::Mem(m) => m.keys.len(),
            Run::Disk(d) => d.len,
        }
    }

    fn memory_bytes(&self) -> usize {
        match self {
            Run::Mem(m) => m.keys.capacity() * 8 + m.hi.capacity() * 2,
            Run::Disk(d) => d.bloom.words.capacity() * 8 + d.samples.capacity() * 8,
        }
    }

    fn lookup(&self, key48: u64, out: &mut Vec<u32>) -> io::Result<()> {
        let target = key48 << 16;
        match self {
            Run::Mem(m) => {
                let mut i = lower_bound(&m.keys, target);
                while i < m.keys.len() && m.keys[i] >> 16 == key48 {
                    out.push(ord_of((m.keys[i], m.hi[i])));
                    i += 1;
                }
            }
            Run::Disk(d) => {
                if !d.bloom.may_contain(key48) {
                    return Ok(());
                }
                let mut block = d.samples.partition_point(|&s| s < target).saturating_sub(1);
                let mut buf = [0u8; BLOCK * 8];
                'blocks: while block * BLOCK < d.len {
                    let start = block * BLOCK;
                    let n = (d.len - start).min(BLOCK);
                    read_exact_at(&d.keys, &mut buf[..n * 8], start as u64 * 8)?;
                    for j in 0..n {
                        let k = u64::from_le_bytes(read8(&buf, j * 8));
                        match (k >> 16).cmp(&key48) {
                            Ordering::Less => {}
                            Ordering::Equal => {
                                let mut h = [0u8; 2];
                                read_exact_at(&d.hi, &mut h, (start + j) as u64 * 2)?;
                                out.push(ord_of((k, u16::from_le_bytes(h))));
                            }
                            Ordering::Greater => break 'blocks,
                        }
                    }
                    block += 1;
                }
            }
        }
        Ok(())
    }

    fn reader(&self) -> RunReader<'_> {
        RunReader {
            run: self,
            pos: 0,
            buf_start: 0,
            keys: Vec::new(),
            hi: Vec::new(),
        }
    }
}

fn read8(buf: &[u8], at: usize) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    b
}

/// Reads a run's entries in order (from memory, or from its files in chunks).
struct RunReader<'a> {
    run: &'a Run,
    pos: usize,
    buf_start: usize,
    keys: Vec<u64>,
    hi: Vec<u16>,
}

impl RunReader<'_> {
    fn next(&mut self) -> io::Result<Option<Entry>> {
        let i = self.pos;
        match self.run {
            Run::Mem(m) => {
                if i >= m.keys.len() {
                    return Ok(None);
                }
                self.pos += 1;
                Ok(Some((m.keys[i], m.hi[i])))
            }
            Run::Disk(d) => {
                if i >= d.len {
                    return Ok(None);
                }
                if i >= self.buf_start + self.keys.len() {
                    let n = (d.len - i).min(READ_CHUNK);
                    let mut kb = vec![0u8; n * 8];
                    read_exact_at(&d.keys, &mut kb, i as u64 * 8)?;
                    let mut hb = vec![0u8; n * 2];
                    read_exact_at(&d.hi, &mut hb, i as u64 * 2)?;
                    self.keys = kb
                        .chunks_exact(8)
                        .map(|c| u64::from_le_bytes(read8(c, 0)))
                        .collect();
                    self.hi = hb
                        .chunks_exact(2)
                        .map(|c| u16::from_le_bytes([c[0], c[1]]))
                        .collect();
                    self.buf_start = i;
                }
                self.pos += 1;
                let j = i - self.buf_start;
                Ok(Some((self.keys[j], self.hi[j])))
            }
        }
    }
}

/// Builds a run from entries given in order, in memory or in files.
enum RunWriter {
    Mem(MemRun),
    Disk {
        keys: BufWriter<File>,
        hi: BufWriter<File>,
        paths: [PathBuf; 2],
        len: usize,
        bloom: Bloom,
        samples: Vec<u64>,
    },
}

impl RunWriter {
    fn new(n: usize, spill: Option<&SpillDir>) -> io::Result<Self> {
        match spill {
            None => Ok(RunWriter::Mem(MemRun {
                keys: Vec::with_capacity(n),
                hi: Vec::with_capacity(n),
            })),
            Some(dir) => {
                let paths = [dir.file("run-keys"), dir.file("run-hi")];
                let keys = BufWriter::with_capacity(1 << 16, File::create(&paths[0])?);
                let hi = BufWriter::with_capacity(1 << 14, File::create(&paths[1])?);
                Ok(RunWriter::Disk {
                    keys,
                    hi,
                    paths,
                    len: 0,
                    bloom: Bloom::with_keys(n),
                    samples: Vec::with_capacity(n.div_ceil(BLOCK)),
                })
            }
        }
    }

    fn push(&mut self, e: Entry) -> io::Result<()> {
        match self {
            RunWriter::Mem(m) => {
                m.keys.push(e.0);
                m.hi.push(e.1);
            }
            RunWriter::Disk {
                keys,
                hi,
                len,
                bloom,
                samples,
                ..
            } => {
                if *len % BLOCK == 0 {
                    samples.push(e.0);
                }
                bloom.insert(e.0 >> 16);
                keys.write_all(&e.0.to_le_bytes())?;
                hi.write_all(&e.1.to_le_bytes())?;
                *len += 1;
            }
        }
        Ok(())
    }

    fn finish(self) -> io::Result<Run> {
        match self {
            RunWriter::Mem(m) => Ok(Run::Mem(m)),
            RunWriter::Disk {
                keys,
                hi,
                paths,
                len,
                bloom,
                samples,
            } => {
                let keys = keys.into_inner().map_err(|e| e.into_error())?;
                let hi = hi.into_inner().map_err(|e| e.into_error())?;
                // Reopen read-only handles; the write handles are closed here.
                drop((keys, hi));
                let keys = File::open(&paths[0])?;
                let hi = File::open(&paths[1])?;
                Ok(Run::Disk(DiskRun {
                    keys,
                    hi,
                    paths,
                    len,
                    bloom,
                    samples,
                }))
            }
        }
    }
}

/// Feeds the entries of `runs` to `push` in order (k-way merge).
fn merge_into(runs: &[&Run], mut push: impl FnMut(Entry) -> io::Result<()>) -> io::Result<()> {
    let mut readers: Vec<RunReader<'_>> = runs.iter().map(|r| r.reader()).collect();
    if let [ra, rb] = &mut readers[..] {
        // The common case: a plain two-way merge.
        let (mut x, mut y) = (ra.next()?, rb.next()?);
        loop {
            match (x, y) {
                (Some(ex), Some(ey)) if ex <= ey => {
                    push(ex)?;
                    x = ra.next()?;
                }
                (_, Some(ey)) => {
                    push(ey)?;
                    y = rb.next()?;
                }
                (Some(ex), None) => {
                    push(ex)?;
                    x = ra.next()?;
                }
                (None, None) => return Ok(()),
            }
        }
    }
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(e) = r.next()? {
            heap.push(std::cmp::Reverse((e, i)));
        }
    }
    while let Some(std::cmp::Reverse((e, i))) = heap.pop() {
        push(e)?;
        if let Some(e) = readers[i].next()? {
            heap.push(std::cmp::Reverse((e, i)));
        }
    }
    Ok(())
}

/// Merges runs into one, in memory or (with `spill`) in files.
fn merge_runs(runs: &[&Run], spill: Option<&SpillDir>) -> io::Result<Run> {
    let n = runs.iter().map(|r| r.len()).sum();
    let mut w = RunWriter::new(n, spill)?;
    merge_into(runs, |e| w.push(e))?;
    w.finish()
}

/// One band: the delta map and the runs.
#[derive(Debug, Default)]
struct Band {
    /// key48 → the first ordinal inserted with it (since the last freeze).
    delta: HashMap<u64, u32, PassThroughBuild>,
    /// Further ordinals for keys already in `delta` (only with verification on).
    more: Vec<(u64, u32)>,
    /// Oldest first, with their level.
    runs: Vec<(u32, Run)>,
}

impl Band {
    fn lookup(&self, key48: u64, out: &mut Vec<u32>) -> io::Result<()> {
        if let Some(&o) = self.delta.get(&key48) {
            out.push(o);
            for &(k, o) in &self.more {
                if k == key48 {
                    out.push(o);
                }
            }
        }
        for (_, r) in &self.runs {
            r.lookup(key48, out)?;
        }
        Ok(())
    }

    fn delta_len(&self) -> usize {
        self.delta.len() + self.more.len()
    }

    fn insert(&mut self, key48: u64, ord: u32) {
        match self.delta.entry(key48) {
            std::collections::hash_map::Entry::Occupied(_) => self.more.push((key48, ord)),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(ord);
            }
        }
    }

    /// Freezes the delta into a run and merges equal levels.
    fn freeze(&mut self, spill: Option<&SpillDir>) -> io::Result<()> {
        if self.delta_len() == 0 {
            return Ok(());
        }
        let mut entries: Vec<Entry> = self.delta.iter().map(|(&k, &o)| pack(k, o)).collect();
        entries.extend(self.more.iter().map(|&(k, o)| pack(k, o)));
        entries.sort_unstable();
        let mut w = RunWriter::new(entries.len(), spill)?;
        for e in entries {
            w.push(e)?;
        }
        self.runs.push((0, w.finish()?));
        self.delta.clear();
        self.more = Vec::new();
        while self.runs.len() >= 2
            && self.runs[self.runs.len() - 1].0 == self.runs[self.runs.len() - 2].0
        {
            let (lb, b) = self.runs.pop().expect("two runs");
            let (_, a) = self.runs.pop().expect("two runs");
            let merged = merge_runs(&[&a, &b], spill)?;
            self.runs.push((lb + 1, merged));
        }
        Ok(())
    }

    fn memory_bytes(&self) -> usize {
        // hashbrown: buckets of (u64, u32) = 16 bytes plus one control byte, load <= 7/8.
        let delta = self.delta.capacity() * 8 / 7 * 17;
        delta
            + self.more.capacity() * 16
            + self
                .runs
                .iter()
                .map(|(_, r)| r.memory_bytes())
                .sum::<usize>()
    }

    fn len(&self) -> usize {
        self.delta_len() + self.runs.iter().map(|(_, r)| r.len()).sum::<usize>()
    }
}

/// The banded index. See the module docs.
#[derive(Debug)]
pub struct BandIndex {
    bands: Vec<Band>,
    delta_cap: usize,
    spill_base: Option<PathBuf>,
    spill: Option<SpillDir>,
}

impl BandIndex {
    /// An empty index of `bands` bands; spill files go under `spill_base` (default: temp dir).
    pub fn new(bands: usize, spill_base: Option<PathBuf>) -> Self {
        let bands = (0..bands)
            .map(|_| Band {
                delta: HashMap::with_capacity_and_hasher(DELTA_CAP, Default::default()),
                ..Default::default()
            })
            .collect();
        BandIndex {
            bands,
            delta_cap: DELTA_CAP,
            spill_base,
            spill: None,
        }
    }

    /// Number of bands.
    pub fn bands(&self) -> usize {
        self.bands.len()
    }

    /// Total entries (kept documents × bands).
    pub fn len(&self) -> usize {
        self.bands.iter().map(Band::len).sum()
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the runs live on disk.
    pub fn is_spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Bytes held in memory (approximately: the arrays and maps, not allocator slack).
    pub fn memory_bytes(&self) -> usize {
        self.bands.iter().map(Band::memory_bytes).sum()
    }

    /// Number of runs over all bands (for tests and reports).
    pub fn runs(&self) -> usize {
        self.bands.iter().map(|b| b.runs.len()).sum()
    }

    /// Every ordinal inserted into `band` with `key48`, appended to `out` (in no set order).
    pub fn lookup(&self, band: usize, key48: u64, out: &mut Vec<u32>) -> io::Result<()> {
        self.bands[band].lookup(key48, out)
    }

    /// For each band `b`, looks up `keys[d * bands + b]` for every document `d`, bands in
    /// parallel. Returns, per band, the `(document, ordinal)` hits in document order.
    pub fn lookup_batch(&self, keys: &[u64]) -> io::Result<Vec<Vec<(u32, u32)>>> {
        let nb = self.bands.len();
        self.bands
            .par_iter()
            .enumerate()
            .map(|(b, band)| {
                let mut hits = Vec::new();
                let mut tmp = Vec::new();
                for (d, doc_keys) in keys.chunks_exact(nb).enumerate() {
                    tmp.clear();
                    band.lookup(doc_keys[b], &mut tmp)?;
                    hits.extend(tmp.iter().map(|&o| (d as u32, o)));
                }
                Ok(hits)
            })
            .collect()
    }

    /// Inserts, for each kept document `(keys, ord)`, its key of every band. Bands are
    /// processed in parallel; full deltas are frozen and merged (to disk once spilled).
    pub fn insert_batch(&mut self, docs: &[(&[u64], u32)]) -> io::Result<()> {
        let cap = self.delta_cap;
        let spill = self.spill.as_ref();
        self.bands
            .par_iter_mut()
            .enumerate()
            .try_for_each(|(b, band)| {
                for &(keys, ord) in docs {
                    band.insert(keys[b], ord);
                    if band.delta_len() >= cap {
                        band.freeze(spill)?;
                    }
                }
                Ok(())
            })
    }

    /// Moves every in-memory run to disk; later runs are built on disk. `delta_cap` is the
    /// per-band delta size from now on.
    pub fn spill(&mut self, delta_cap: usize) -> io::Result<()> {
        if self.spill.is_none() {
            self.spill = Some(SpillDir::create(self.spill_base.as_deref(), "lsh")?);
        }
        self.delta_cap = delta_cap.max(1);
        let spill = self.spill.as_ref();
        let cap = self.delta_cap;
        self.bands.par_iter_mut().try_for_each(|band| {
            if band.delta.capacity() > cap && band.delta.len() <= cap {
                band.delta.shrink_to(cap);
            }
            for (_, run) in band.runs.iter_mut() {
                if let Run::Mem(_) = run {
                    let disk = merge_runs(&[&*run], spill)?;
                    *run = disk;
                }
            }
            Ok(())
        })
    }

    /// Writes every band's entries, sorted, to `<dir>/band-NNN.{keys,hi}`.
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        self.bands.par_iter().enumerate().try_for_each(|(b, band)| {
            let mut delta: Vec<Entry> = band.delta.iter().map(|(&k, &o)| pack(k, o)).collect();
            delta.extend(band.more.iter().map(|&(k, o)| pack(k, o)));
            delta.sort_unstable();
            let delta_run = Run::Mem(MemRun {
                keys: delta.iter().map(|e| e.0).collect(),
                hi: delta.iter().map(|e| e.1).collect(),
            });
            let mut runs: Vec<&Run> = band.runs.iter().map(|(_, r)| r).collect();
            runs.push(&delta_run);
            let mut keys = BufWriter::new(File::create(dir.join(format!("band-{b:03}.keys")))?);
            let mut hi = BufWriter::new(File::create(dir.join(format!("band-{b:03}.hi")))?);
            merge_into(&runs, |(k, h)| {
                keys.write_all(&k.to_le_bytes())?;
                hi.write_all(&h.to_le_bytes())
            })?;
            keys.flush()?;
            hi.flush()
        })
    }

    /// Loads what [`BandIndex::save`] wrote: into memory, or straight to disk when `spilled`.
    pub fn load(
        dir: &Path,
        bands: usize,
        spill_base: Option<PathBuf>,
        spilled: bool,
        delta_cap: usize,
    ) -> io::Result<Self> {
        let mut idx = BandIndex::new(bands, spill_base);
        if spilled {
            idx.spill(delta_cap)?;
        }
        let spill = idx.spill.as_ref();
        idx.bands
            .par_iter_mut()
            .enumerate()
            .try_for_each(|(b, band)| {
                let kp = dir.join(format!("band-{b:03}.keys"));
                let hp = dir.join(format!("band-{b:03}.hi"));
                let bad = |what: &str| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("band {b}: saved index {what}"),
                    )
                };
                let n = (fs::metadata(&kp)?.len() / 8) as usize;
                if !fs::metadata(&kp)?.len().is_multiple_of(8)
                    || fs::metadata(&hp)?.len() != n as u64 * 2
                {
                    return Err(bad("files disagree"));
                }
                if n == 0 {
                    return Ok(());
                }
                let mut kr = io::BufReader::new(File::open(&kp)?);
                let mut hr = io::BufReader::new(File::open(&hp)?);
                let mut w = RunWriter::new(n, spill)?;
                let mut prev: Option<Entry> = None;
                let (mut k, mut h) = ([0u8; 8], [0u8; 2]);
                for _ in 0..n {
                    kr.read_exact(&mut k)?;
                    hr.read_exact(&mut h)?;
                    let e = (u64::from_le_bytes(k), u16::from_le_bytes(h));
                    if prev.is_some_and(|p| p > e) {
                        return Err(bad("is not sorted"));
                    }
                    prev = Some(e);
                    w.push(e)?;
                }
                // One run, at the level the binary counter would have given it.
                band.runs
                    .push((usize::BITS - (n / DELTA_CAP).leading_zeros(), w.finish()?));
                Ok(())
            })?;
        Ok(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream of pseudo-random 48-bit keys.
    fn keys(n: usize, seed: u64) -> Vec<u64> {
        (0..n as u64)
            .map(|i| xxhash_rust::xxh3::xxh3_64_with_seed(&i.to_le_bytes(), seed) >> 16)
            .collect()
    }

    #[test]
    fn lower_bound_matches_partition_point() {
        let mut v: Vec<u64> = keys(10_000, 1).into_iter().map(|k| k << 16).collect();
        v.sort_unstable();
        for t in keys(2_000, 2)
            .into_iter()
            .map(|k| k << 16)
            .chain(v.iter().copied().step_by(7))
            .chain([0, u64::MAX])
        {
            assert_eq!(lower_bound(&v, t), v.partition_point(|&k| k < t));
        }
        // Skewed (non-uniform) keys still give right answers, only slower.
        let skew: Vec<u64> = (0..5000u64).map(|i| i * 3).collect();
        for t in [0, 1, 2, 3, 14_999, 15_000, u64::MAX] {
            assert_eq!(lower_bound(&skew, t), skew.partition_point(|&k| k < t));
        }
    }

    #[test]
    fn pack_round_trip() {
        for ord in [0u32, 1, 0xffff, 0x10000, 0xdead_beef, u32::MAX] {
            assert_eq!(ord_of(pack(0xabc_def0_1234, ord)), ord);
        }
    }

    /// Inserts `n` documents (3 bands), every 10th reusing the keys of document i/2 in band 1.
    fn fill(idx: &mut BandIndex, n: usize) -> Vec<[u64; 3]> {
        let k = keys(n * 3, 7);
        let mut docs = Vec::new();
        for i in 0..n {
            let mut d = [k[i * 3], k[i * 3 + 1], k[i * 3 + 2]];
            if i % 10 == 9 {
                d[1] = docs.get(i / 2).map(|x: &[u64; 3]| x[1]).unwrap_or(d[1]);
            }
            docs.push(d);
        }
        for (chunk_i, chunk) in docs.chunks(1000).enumerate() {
            let batch: Vec<(&[u64], u32)> = chunk
                .iter()
                .enumerate()
                .map(|(j, d)| (&d[..], (chunk_i * 1000 + j) as u32))
                .collect();
            idx.insert_batch(&batch).expect("insert");
        }
        docs
    }

    fn answers(idx: &BandIndex, docs: &[[u64; 3]]) -> Vec<Vec<u32>> {
        let mut all = Vec::new();
        for d in docs.iter().step_by(13) {
            for (b, &k) in d.iter().enumerate() {
                let mut out = Vec::new();
                idx.lookup(b, k, &mut out).expect("lookup");
                out.sort_unstable();
                all.push(out);
            }
        }
        all
    }

    #[test]
    fn memory_spilled_and_reloaded_indexes_answer_alike() {
        let n = 60_000;
        let mut mem = BandIndex::new(3, None);
        let docs = fill(&mut mem, n);
        // 7 frozen deltas per band make runs of levels 2, 1 and 0.
        assert_eq!(mem.runs(), 9);
        let expect = answers(&mem, &docs);
        // Every key finds its own document; shared band-1 keys find both.
        assert_eq!(expect[0], vec![0]);
        let mut shared = Vec::new();
        mem.lookup(1, docs[19][1], &mut shared).expect("lookup");
        shared.sort_unstable();
        // Document 19 took the band-1 key of 9, which took that of 4: a chain 4, 9, 19, 39, ...
        let chain: Vec<u32> = std::iter::successors(Some(4u32), |&x| Some(2 * x + 1))
            .take_while(|&x| (x as usize) < n)
            .collect();
        assert_eq!(shared, chain);

        let mut spilled = BandIndex::new(3, None);
        spilled.spill(500).expect("spill");
        fill(&mut spilled, n);
        assert!(spilled.is_spilled());
        assert!(
            spilled.memory_bytes() * 4 < mem.memory_bytes(),
            "{} vs {}",
            spilled.memory_bytes(),
            mem.memory_bytes()
        );
        assert_eq!(answers(&spilled, &docs), expect);

        // Spilling half way gives the same answers too.
        let mut half = BandIndex::new(3, None);
        fill(&mut half, n / 2);
        half.spill(2000).expect("spill");
        let rest: Vec<[u64; 3]> = docs[n / 2..].to_vec();
        let batch: Vec<(&[u64], u32)> = rest
            .iter()
            .enumerate()
            .map(|(j, d)| (&d[..], (n / 2 + j) as u32))
            .collect();
        half.insert_batch(&batch).expect("insert");
        assert_eq!(answers(&half, &docs), expect);

        let dir = SpillDir::create(None, "test").expect("dir");
        mem.save(dir.path()).expect("save");
        let loaded = BandIndex::load(dir.path(), 3, None, false, DELTA_CAP).expect("load");
        assert_eq!(loaded.len(), mem.len());
        assert_eq!(answers(&loaded, &docs), expect);
        let loaded = BandIndex::load(dir.path(), 3, None, true, 100).expect("load spilled");
        assert!(loaded.is_spilled());
        assert_eq!(answers(&loaded, &docs), expect);

        let batch_keys: Vec<u64> = docs[..50].iter().flat_map(|d| d.iter().copied()).collect();
        let hits = spilled.lookup_batch(&batch_keys).expect("batch");
        assert_eq!(hits[0].len(), 50);
        assert_eq!(hits[0][7], (7, 7));
    }

    #[test]
    fn bloom_has_no_false_negatives_and_few_false_positives() {
        let ks = keys(20_000, 3);
        let mut b = Bloom::with_keys(ks.len());
        for &k in &ks {
            b.insert(k);
        }
        assert!(ks.iter().all(|&k| b.may_contain(k)));
        let fp = keys(20_000, 4)
            .into_iter()
            .filter(|&k| b.may_contain(k))
            .count();
        assert!(
            fp < 20_000 / 25,
            "false positive rate {}",
            fp as f64 / 20_000.0
        );
    }
}
