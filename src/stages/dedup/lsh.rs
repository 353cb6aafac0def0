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
//!   level are merged into one of the next level (a binary counter) unless the result would
//!   pass [`MAX_RUN`] entries, so a band has about log2(entries / delta_cap) + 1 runs, plus
//!   one per 16.7 million entries.
//!
//! A run covers a contiguous range of kept ordinals (every kept document inserts one entry per
//! band, in order, and only neighbouring runs merge). An entry is **one `u64`**: the low 40 bits
//! of the key and the ordinal relative to the run's first (24 bits). The key's top 8 bits pick
//! one of 256 buckets whose bounds the run keeps (1 KiB), so a lookup searches one bucket by
//! interpolation (keys are uniform hashes). A kept document therefore costs `bands × 8` bytes
//! (112 with 14 bands) in memory, plus the delta maps (a fixed ~0.3 MiB per band).
//!
//! # Spilling
//!
//! Once spilled, every run lives in a file and memory holds only its bucket bounds, a Bloom
//! filter (10 bits per entry) and every 256th entry (to find the disk block): about 1.3 bytes
//! per entry. Merges stream from files to files. A lookup first asks the Bloom filter, so only
//! probable hits read from disk (one positioned read of at most 2 KiB).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::store::{read_exact_at, SpillDir};
use super::PassThroughBuild;

/// Entries per band kept in the delta map before it is frozen into a run (in memory).
pub const DELTA_CAP: usize = 8192;
/// Bits of the relative ordinal in an entry.
const ORD_BITS: u32 = 24;
/// Most entries (ordinals) in one run.
pub const MAX_RUN: usize = 1 << ORD_BITS;
/// Bits of the key kept in an entry (the top 8 of the 48 are the bucket).
const REM_BITS: u32 = 40;
/// Buckets per run.
const BUCKETS: usize = 256;
/// Entries per disk block (every block's first entry is kept in memory).
const BLOCK: usize = 256;
/// Bloom filter bits per entry of a spilled run.
const BLOOM_BITS_PER_KEY: usize = 10;
/// Entries read per positioned read while merging spilled runs.
const READ_CHUNK: usize = 1 << 14;

fn bucket_of(key48: u64) -> usize {
    ((key48 >> REM_BITS) as usize) & (BUCKETS - 1)
}

/// The entry of `key48` at ordinal `rel` (relative to the run's first).
fn entry(key48: u64, rel: u32) -> u64 {
    ((key48 & ((1 << REM_BITS) - 1)) << ORD_BITS) | rel as u64
}

fn rel_of(e: u64) -> u32 {
    (e & ((1 << ORD_BITS) - 1)) as u32
}

fn key_of(bucket: usize, e: u64) -> u64 {
    ((bucket as u64) << REM_BITS) | (e >> ORD_BITS)
}

fn bad_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
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

/// Where a run's entries are.
#[derive(Debug)]
enum Data {
    /// In memory.
    Mem(Vec<u64>),
    /// In a file, with what finds a block without reading it.
    Disk {
        file: File,
        path: PathBuf,
        bloom: Bloom,
        /// `entries[i * BLOCK]` for every block.
        samples: Vec<u64>,
    },
}

/// An immutable sorted run: entries ordered by (bucket, entry), i.e. by key then ordinal.
#[derive(Debug)]
struct Run {
    /// Ordinal of the run's first entry; the run holds `base .. base + len`.
    base: u32,
    len: usize,
    /// Merges that built it (a binary counter).
    level: u32,
    /// `fence[b] .. fence[b + 1]` are bucket `b`'s entries.
    fence: Vec<u32>,
    data: Data,
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Data::Disk { path, .. } = &self.data {
            let _ = fs::remove_file(path);
        }
    }
}

impl Run {
    fn memory_bytes(&self) -> usize {
        self.fence.capacity() * 4
            + match &self.data {
                Data::Mem(v) => v.capacity() * 8,
                Data::Disk { bloom, samples, .. } => {
                    bloom.words.capacity() * 8 + samples.capacity() * 8
                }
            }
    }

    fn lookup(&self, key48: u64, out: &mut Vec<u32>) -> io::Result<()> {
        let b = bucket_of(key48);
        let (lo, hi) = (self.fence[b] as usize, self.fence[b + 1] as usize);
        if lo == hi {
            return Ok(());
        }
        let rem = key48 & ((1 << REM_BITS) - 1);
        let target = rem << ORD_BITS;
        match &self.data {
            Data::Mem(v) => {
                let slice = &v[lo..hi];
                // Within a bucket the entries are uniform over u64 again (the 40 key bits lead).
                let mut i = lower_bound(slice, target);
                while i < slice.len() && slice[i] >> ORD_BITS == rem {
                    out.push(self.base + rel_of(slice[i]));
                    i += 1;
                }
            }
            Data::Disk {
                file,
                bloom,
                samples,
                ..
            } => {
                if !bloom.may_contain(key48) {
                    return Ok(());
                }
                // The last block start in the bucket whose first entry is below the target.
                let (k_lo, k_hi) = (lo.div_ceil(BLOCK), (hi - 1) / BLOCK + 1);
                let below = if k_lo < k_hi {
                    samples[k_lo..k_hi].partition_point(|&s| s < target)
                } else {
                    0
                };
                let mut start = if below == 0 {
                    lo
                } else {
                    (k_lo + below - 1) * BLOCK
                };
                let mut buf = [0u8; BLOCK * 8];
                while start < hi {
                    let n = (hi - start).min(BLOCK);
                    read_exact_at(file, &mut buf[..n * 8], start as u64 * 8)?;
                    for c in buf[..n * 8].chunks_exact(8) {
                        let e = u64::from_le_bytes(read8(c));
                        match (e >> ORD_BITS).cmp(&rem) {
                            Ordering::Less => {}
                            Ordering::Equal => out.push(self.base + rel_of(e)),
                            Ordering::Greater => return Ok(()),
                        }
                    }
                    start += n;
                }
            }
        }
        Ok(())
    }

    /// The entries in order, as (bucket, entry), with `shift` added to every relative ordinal.
    fn reader(&self, shift: u32) -> RunReader<'_> {
        RunReader {
            run: self,
            shift,
            pos: 0,
            bucket: 0,
            buf_start: 0,
            buf: Vec::new(),
        }
    }
}

fn read8(c: &[u8]) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&c[..8]);
    b
}

/// Reads a run's entries in order (from memory, or from its file in chunks).
struct RunReader<'a> {
    run: &'a Run,
    shift: u32,
    pos: usize,
    bucket: usize,
    buf_start: usize,
    buf: Vec<u64>,
}

impl RunReader<'_> {
    fn next(&mut self) -> io::Result<Option<(usize, u64)>> {
        let i = self.pos;
        if i >= self.run.len {
            return Ok(None);
        }
        while self.run.fence[self.bucket + 1] as usize <= i {
            self.bucket += 1;
        }
        let e = match &self.run.data {
            Data::Mem(v) => v[i],
            Data::Disk { file, .. } => {
                if i >= self.buf_start + self.buf.len() {
                    let n = (self.run.len - i).min(READ_CHUNK);
                    let mut raw = vec![0u8; n * 8];
                    read_exact_at(file, &mut raw, i as u64 * 8)?;
                    self.buf = raw
                        .chunks_exact(8)
                        .map(|c| u64::from_le_bytes(read8(c)))
                        .collect();
                    self.buf_start = i;
                }
                self.buf[i - self.buf_start]
            }
        };
        self.pos += 1;
        Ok(Some((self.bucket, e + self.shift as u64)))
    }
}

/// Builds a run from entries given in (bucket, entry) order, in memory or in a file.
struct RunWriter {
    base: u32,
    level: u32,
    counts: Vec<u32>,
    len: usize,
    sink: Sink,
}

enum Sink {
    Mem(Vec<u64>),
    Disk {
        w: BufWriter<File>,
        path: PathBuf,
        bloom: Bloom,
        samples: Vec<u64>,
    },
}

impl RunWriter {
    fn new(base: u32, level: u32, n: usize, spill: Option<&SpillDir>) -> io::Result<Self> {
        let sink = match spill {
            None => Sink::Mem(Vec::with_capacity(n)),
            Some(dir) => {
                let path = dir.file("run");
                let w = BufWriter::with_capacity(1 << 16, File::create(&path)?);
                Sink::Disk {
                    w,
                    path,
                    bloom: Bloom::with_keys(n),
                    samples: Vec::with_capacity(n.div_ceil(BLOCK)),
                }
            }
        };
        Ok(RunWriter {
            base,
            level,
            counts: vec![0; BUCKETS],
            len: 0,
            sink,
        })
    }

    fn push(&mut self, bucket: usize, e: u64) -> io::Result<()> {
        self.counts[bucket] += 1;
        match &mut self.sink {
            Sink::Mem(v) => v.push(e),
            Sink::Disk {
                w, bloom, samples, ..
            } => {
                if self.len.is_multiple_of(BLOCK) {
                    samples.push(e);
                }
                bloom.insert(key_of(bucket, e));
                w.write_all(&e.to_le_bytes())?;
            }
        }
        self.len += 1;
        Ok(())
    }

    fn finish(self) -> io::Result<Run> {
        let mut fence = Vec::with_capacity(BUCKETS + 1);
        let mut acc = 0u32;
        fence.push(0);
        for c in &self.counts {
            acc += c;
            fence.push(acc);
        }
        let data = match self.sink {
            Sink::Mem(v) => Data::Mem(v),
            Sink::Disk {
                w,
                path,
                bloom,
                samples,
            } => {
                drop(w.into_inner().map_err(|e| e.into_error())?);
                Data::Disk {
                    file: crate::storage::open(&path)?,
                    path,
                    bloom,
                    samples,
                }
            }
        };
        Ok(Run {
            base: self.base,
            len: self.len,
            level: self.level,
            fence,
            data,
        })
    }
}

/// Merges two neighbouring runs (`a` holds the ordinals just before `b`'s) into one.
fn merge(a: &Run, b: &Run, spill: Option<&SpillDir>) -> io::Result<Run> {
    let mut w = RunWriter::new(a.base, a.level.max(b.level) + 1, a.len + b.len, spill)?;
    let mut ra = a.reader(0);
    let mut rb = b.reader(b.base - a.base);
    let (mut x, mut y) = (ra.next()?, rb.next()?);
    loop {
        match (x, y) {
            (Some(ex), Some(ey)) if ex <= ey => {
                w.push(ex.0, ex.1)?;
                x = ra.next()?;
            }
            (_, Some(ey)) => {
                w.push(ey.0, ey.1)?;
                y = rb.next()?;
            }
            (Some(ex), None) => {
                w.push(ex.0, ex.1)?;
                x = ra.next()?;
            }
            (None, None) => return w.finish(),
        }
    }
}

/// Rewrites a run in memory or on disk (to spill it, or to load it).
fn copy(r: &Run, spill: Option<&SpillDir>) -> io::Result<Run> {
    let mut w = RunWriter::new(r.base, r.level, r.len, spill)?;
    let mut rd = r.reader(0);
    while let Some((b, e)) = rd.next()? {
        w.push(b, e)?;
    }
    w.finish()
}

/// One band: the delta map and the runs.
#[derive(Debug, Default)]
struct Band {
    /// key48 → the first ordinal inserted with it (since the last freeze).
    delta: HashMap<u64, u32, PassThroughBuild>,
    /// Further ordinals for keys already in `delta` (only with verification on).
    more: Vec<(u64, u32)>,
    /// Oldest first; together they hold the ordinals `0 .. frozen`.
    runs: Vec<Run>,
    /// Ordinals in runs (the delta holds `frozen ..`).
    frozen: u32,
}

impl Band {
    fn lookup(&self, key48: u64, out: &mut Vec<u32>) -> io::Result<()> {
        if let Some(&o) = self.delta.get(&key48) {
            out.push(o);
            out.extend(
                self.more
                    .iter()
                    .filter(|(k, _)| *k == key48)
                    .map(|(_, o)| *o),
            );
        }
        for r in &self.runs {
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

    /// Freezes the delta into a run and merges equal levels, up to `max_run` entries.
    fn freeze(&mut self, spill: Option<&SpillDir>, max_run: usize) -> io::Result<()> {
        if self.delta_len() == 0 {
            return Ok(());
        }
        let base = self.frozen;
        let mut entries: Vec<(usize, u64)> = Vec::with_capacity(self.delta_len());
        for (&k, &o) in self
            .delta
            .iter()
            .chain(self.more.iter().map(|(k, o)| (k, o)))
        {
            let rel = o.wrapping_sub(base);
            if o < base || rel as usize >= MAX_RUN {
                return Err(bad_data(format!(
                    "band index: ordinal {o} outside the delta's range from {base}"
                )));
            }
            entries.push((bucket_of(k), entry(k, rel)));
        }
        if entries.len() > MAX_RUN {
            return Err(bad_data("band index: delta larger than a run".into()));
        }
        entries.sort_unstable();
        let mut w = RunWriter::new(base, 0, entries.len(), spill)?;
        for (b, e) in entries {
            w.push(b, e)?;
        }
        let run = w.finish()?;
        self.frozen = base + run.len as u32;
        self.runs.push(run);
        self.delta.clear();
        self.more = Vec::new();
        while let [.., a, b] = &self.runs[..] {
            if a.level != b.level || a.len + b.len > max_run {
                break;
            }
            let merged = merge(a, b, spill)?;
            self.runs.truncate(self.runs.len() - 2);
            self.runs.push(merged);
        }
        Ok(())
    }

    fn memory_bytes(&self) -> usize {
        // hashbrown: buckets of (u64, u32) = 16 bytes plus one control byte, load <= 7/8.
        let delta = self.delta.capacity() * 8 / 7 * 17;
        delta + self.more.capacity() * 16 + self.runs.iter().map(Run::memory_bytes).sum::<usize>()
    }

    fn len(&self) -> usize {
        self.delta_len() + self.runs.iter().map(|r| r.len).sum::<usize>()
    }
}

/// How a saved band is laid out (`band-NNN.json`).
#[derive(Debug, Serialize, Deserialize)]
struct SavedBand {
    /// (base, len, level) of each run, oldest first; run `i` is in `band-NNN-run-III.{entries,fence}`.
    runs: Vec<(u32, usize, u32)>,
    frozen: u32,
}

/// The banded index. See the module docs.
#[derive(Debug)]
pub struct BandIndex {
    bands: Vec<Band>,
    delta_cap: usize,
    /// Largest run merges build ([`MAX_RUN`]; smaller in tests).
    max_run: usize,
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
            max_run: MAX_RUN,
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

    /// Inserts, for each kept document `(keys, ord)`, its key of every band. Documents must
    /// come in ordinal order, with no ordinal skipped. Bands are processed in parallel; full
    /// deltas are frozen and merged (to disk once spilled).
    pub fn insert_batch(&mut self, docs: &[(&[u64], u32)]) -> io::Result<()> {
        let (cap, max_run) = (self.delta_cap, self.max_run);
        let spill = self.spill.as_ref();
        self.bands
            .par_iter_mut()
            .enumerate()
            .try_for_each(|(b, band)| {
                // Every key goes in even if a freeze fails: the entries then stay in the delta
                // (a failed freeze changes nothing), so answers stay exact, only memory grows.
                let mut first_err = None;
                for &(keys, ord) in docs {
                    band.insert(keys[b], ord);
                    if band.delta_len() >= cap && first_err.is_none() {
                        first_err = band.freeze(spill, max_run).err();
                    }
                }
                first_err.map_or(Ok(()), Err)
            })
    }

    /// Moves every in-memory run to disk; later runs are built on disk. `delta_cap` is the
    /// per-band delta size from now on.
    pub fn spill(&mut self, delta_cap: usize) -> io::Result<()> {
        if self.spill.is_none() {
            self.spill = Some(SpillDir::create(self.spill_base.as_deref(), "lsh")?);
        }
        self.delta_cap = delta_cap.max(1);
        let cap = self.delta_cap;
        let spill = self.spill.as_ref();
        self.bands.par_iter_mut().try_for_each(|band| {
            if band.delta.capacity() > cap && band.delta.len() <= cap {
                band.delta.shrink_to(cap);
            }
            for run in band.runs.iter_mut() {
                if let Data::Mem(_) = run.data {
                    *run = copy(run, spill)?;
                }
            }
            Ok(())
        })
    }

    /// Writes every band to `dir`: its runs as they are (`band-NNN-run-III.{entries,fence}`),
    /// its delta (`band-NNN.delta`) and their layout (`band-NNN.json`).
    pub fn save(&self, dir: &Path) -> io::Result<()> {
        self.bands.par_iter().enumerate().try_for_each(|(b, band)| {
            for (i, r) in band.runs.iter().enumerate() {
                let mut w = BufWriter::new(File::create(
                    dir.join(format!("band-{b:03}-run-{i:03}.entries")),
                )?);
                let mut rd = r.reader(0);
                while let Some((_, e)) = rd.next()? {
                    w.write_all(&e.to_le_bytes())?;
                }
                w.flush()?;
                let fence: Vec<u8> = r.fence.iter().flat_map(|f| f.to_le_bytes()).collect();
                fs::write(dir.join(format!("band-{b:03}-run-{i:03}.fence")), fence)?;
            }
            let mut w = BufWriter::new(File::create(dir.join(format!("band-{b:03}.delta")))?);
            let mut delta: Vec<(u64, u32)> = band.delta.iter().map(|(&k, &o)| (k, o)).collect();
            delta.extend(band.more.iter().copied());
            delta.sort_unstable_by_key(|&(k, o)| (o, k));
            for (k, o) in delta {
                w.write_all(&k.to_le_bytes())?;
                w.write_all(&o.to_le_bytes())?;
            }
            w.flush()?;
            let layout = SavedBand {
                runs: band.runs.iter().map(|r| (r.base, r.len, r.level)).collect(),
                frozen: band.frozen,
            };
            fs::write(
                dir.join(format!("band-{b:03}.json")),
                serde_json::to_vec(&layout)?,
            )
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
                let layout: SavedBand = serde_json::from_slice(&crate::storage::read(
                    dir.join(format!("band-{b:03}.json")),
                )?)?;
                let mut next = 0u32;
                for (i, &(base, len, level)) in layout.runs.iter().enumerate() {
                    let fence: Vec<u32> =
                        crate::storage::read(dir.join(format!("band-{b:03}-run-{i:03}.fence")))?
                            .chunks_exact(4)
                            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect();
                    if base != next
                        || len > MAX_RUN
                        || fence.len() != BUCKETS + 1
                        || fence[BUCKETS] as usize != len
                    {
                        return Err(bad_data(format!("band {b}: saved run {i} is inconsistent")));
                    }
                    let path = dir.join(format!("band-{b:03}-run-{i:03}.entries"));
                    if fs::metadata(&path)?.len() != len as u64 * 8 {
                        return Err(bad_data(format!(
                            "band {b}: saved run {i} has the wrong size"
                        )));
                    }
                    let mut r = BufReader::new(crate::storage::open(&path)?);
                    let mut w = RunWriter::new(base, level, len, spill)?;
                    let mut raw = [0u8; 8];
                    let mut bucket = 0;
                    for j in 0..len {
                        while fence[bucket + 1] as usize <= j {
                            bucket += 1;
                        }
                        r.read_exact(&mut raw)?;
                        w.push(bucket, u64::from_le_bytes(raw))?;
                    }
                    band.runs.push(w.finish()?);
                    next = base + len as u32;
                }
                if next != layout.frozen {
                    return Err(bad_data(format!(
                        "band {b}: saved runs do not reach the delta"
                    )));
                }
                band.frozen = next;
                let raw = crate::storage::read(dir.join(format!("band-{b:03}.delta")))?;
                if !raw.len().is_multiple_of(12) {
                    return Err(bad_data(format!("band {b}: saved delta is truncated")));
                }
                for c in raw.chunks_exact(12) {
                    let k = u64::from_le_bytes(read8(c));
                    let o = u32::from_le_bytes([c[8], c[9], c[10], c[11]]);
                    band.insert(k, o);
                }
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
    fn entry_round_trip() {
        for (key, rel) in [
            (0xabc_def0_1234u64, 0u32),
            (0xffff_ffff_ffff, (1 << 24) - 1),
            (1 << 40, 7),
        ] {
            let e = entry(key, rel);
            assert_eq!(rel_of(e), rel);
            assert_eq!(key_of(bucket_of(key), e), key);
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
    fn runs_stop_merging_at_the_size_limit() {
        let n = 60_000;
        let mut mem = BandIndex::new(3, None);
        let docs = fill(&mut mem, n);
        let expect = answers(&mem, &docs);
        let mut sealed = BandIndex::new(3, None);
        sealed.max_run = 20_000;
        fill(&mut sealed, n);
        // Per band: runs of 16384 (two deltas, sealed), 16384, 16384 and 8192 entries.
        assert_eq!(sealed.runs(), 12);
        assert!(sealed
            .bands
            .iter()
            .all(|b| b.runs.iter().all(|r| r.len <= 20_000)));
        assert_eq!(answers(&sealed, &docs), expect);
        sealed.spill(1000).expect("spill");
        assert_eq!(answers(&sealed, &docs), expect);
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
