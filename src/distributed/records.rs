//! The files tasks exchange: framed, checksummed, and (where the format says so) sorted.
//!
//! Every file has the same frame:
//!
//! ```text
//! magic      8 bytes   b"CFDEDUP1"
//! kind       u32 LE    what the body holds (see [`Kind`])
//! version    u32 LE    1
//! body       records
//! count      u64 LE    records in the body
//! checksum   u64 LE    xxh3-64 of every byte before it (header, body and count)
//! ```
//!
//! Readers check the magic, the kind, the count, the checksum and the order of the records,
//! and name the file and what is wrong with it. A consumer writes its own output under a
//! temporary name and renames it only after every input was read to the end and verified, so a
//! corrupted intermediate file stops the phase instead of being used.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

const MAGIC: &[u8; 8] = b"CFDEDUP1";
const VERSION: u32 = 1;
const HEADER: u64 = 16;
const TRAILER: u64 = 16;
/// Bytes of the largest [`KeyValue`] record (a 128-bit key).
pub const KV_BYTES: usize = 24;

/// What a file's body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// [`KeyValue`] records: (xxh3-128 of the normalized text, document seq), sorted; 24 bytes.
    Hashes = 1,
    /// [`KeyValue`] records: (document seq, bucket number), sorted; 16 bytes.
    Buckets = 2,
    /// [`IdRecord`]s sorted by seq.
    Ids = 3,
    /// [`Removal`]s sorted by seq.
    Removals = 4,
    /// [`KeyValue`] records: (MinHash band key, document seq), sorted; 16 bytes.
    BandKeys = 5,
}

impl Kind {
    /// Bytes of a key on disk: 16 for text hashes, 8 otherwise.
    fn key_bytes(self) -> usize {
        if self == Kind::Hashes {
            16
        } else {
            8
        }
    }

    /// Bytes of a [`KeyValue`] record of this kind.
    pub fn record_bytes(self) -> usize {
        self.key_bytes() + 8
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Hashes => "text hashes",
            Kind::BandKeys => "band keys",
            Kind::Buckets => "buckets",
            Kind::Ids => "ids",
            Kind::Removals => "removals",
        }
    }
}

/// Errors reading or writing exchange files; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The filesystem failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not what it should be: truncated, corrupted, unsorted or of another kind.
    #[error("{path}: {reason}; delete it and rerun the phase that wrote it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RecordError + '_ {
    move |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> RecordError {
    RecordError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// `path` with `.tmp` appended: where a file is written before it is renamed into place.
fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Writes one framed file under a temporary name; [`FramedWriter::finish`] renames it.
pub struct FramedWriter {
    path: PathBuf,
    tmp: PathBuf,
    w: BufWriter<File>,
    hasher: Xxh3,
    count: u64,
}

impl FramedWriter {
    /// Starts `path` (its directory is created).
    pub fn create(path: &Path, kind: Kind) -> Result<Self, RecordError> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let tmp = tmp_path(path);
        let f = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut w = FramedWriter {
            path: path.to_path_buf(),
            tmp,
            w: BufWriter::with_capacity(1 << 20, f),
            hasher: Xxh3::new(),
            count: 0,
        };
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&(kind as u32).to_le_bytes());
        header[12..16].copy_from_slice(&VERSION.to_le_bytes());
        w.bytes(&header)?;
        Ok(w)
    }

    fn bytes(&mut self, b: &[u8]) -> Result<(), RecordError> {
        self.hasher.update(b);
        self.w.write_all(b).map_err(io_err(&self.tmp))
    }

    /// Appends one record's bytes.
    pub fn record(&mut self, b: &[u8]) -> Result<(), RecordError> {
        self.count += 1;
        self.bytes(b)
    }

    /// Writes the trailer, syncs and renames the file into place; returns the record count.
    pub fn finish(mut self) -> Result<u64, RecordError> {
        let count = self.count;
        self.bytes(&count.to_le_bytes())?;
        let sum = self.hasher.digest();
        self.w
            .write_all(&sum.to_le_bytes())
            .map_err(io_err(&self.tmp))?;
        let f = self
            .w
            .into_inner()
            .map_err(|e| io_err(&self.tmp)(e.into_error()))?;
        f.sync_all().map_err(io_err(&self.tmp))?;
        crate::storage::commit(&self.tmp, &self.path).map_err(io_err(&self.path))?;
        Ok(count)
    }
}

/// Reads one framed file, checking the frame as it goes; [`FramedReader::finish`] checks the
/// count and the checksum.
pub struct FramedReader {
    path: PathBuf,
    r: BufReader<File>,
    hasher: Xxh3,
    /// Body bytes not read yet.
    remaining: u64,
    count: u64,
}

impl FramedReader {
    /// Opens `path`, which must hold `kind`.
    pub fn open(path: &Path, kind: Kind) -> Result<Self, RecordError> {
        let f = crate::storage::open(path).map_err(io_err(path))?;
        let size = f.metadata().map_err(io_err(path))?.len();
        if size < HEADER + TRAILER {
            return Err(corrupt(
                path,
                format!("truncated: {size} bytes, shorter than the frame"),
            ));
        }
        let mut r = FramedReader {
            path: path.to_path_buf(),
            r: BufReader::with_capacity(1 << 20, f),
            hasher: Xxh3::new(),
            remaining: HEADER,
            count: 0,
        };
        let mut header = [0u8; HEADER as usize];
        r.read(&mut header)?;
        if &header[..8] != MAGIC {
            return Err(corrupt(path, "not a corpusforge dedup file (bad magic)"));
        }
        let got = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        if got != kind as u32 {
            return Err(corrupt(
                path,
                format!(
                    "holds record kind {got}, expected {} ({})",
                    kind as u32,
                    kind.name()
                ),
            ));
        }
        let version = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        if version != VERSION {
            return Err(corrupt(
                path,
                format!("format version {version}, expected {VERSION}"),
            ));
        }
        r.remaining = size - HEADER - TRAILER;
        Ok(r)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when the body is exhausted.
    pub fn at_end(&self) -> bool {
        self.remaining == 0
    }

    /// Reads exactly `buf.len()` body bytes.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<(), RecordError> {
        if (buf.len() as u64) > self.remaining {
            return Err(corrupt(&self.path, "truncated: a record runs past the end"));
        }
        self.r.read_exact(buf).map_err(io_err(&self.path))?;
        self.hasher.update(buf);
        self.remaining -= buf.len() as u64;
        Ok(())
    }

    /// Counts one record read.
    pub fn counted(&mut self) {
        self.count += 1;
    }

    /// Checks the trailer: the record count and the checksum.
    pub fn finish(mut self) -> Result<u64, RecordError> {
        if self.remaining != 0 {
            return Err(corrupt(
                &self.path,
                format!("{} unread bytes before the trailer", self.remaining),
            ));
        }
        let mut t = [0u8; TRAILER as usize];
        self.r.read_exact(&mut t).map_err(io_err(&self.path))?;
        let count = u64::from_le_bytes(t[..8].try_into().expect("8 bytes"));
        self.hasher.update(&t[..8]);
        let sum = u64::from_le_bytes(t[8..].try_into().expect("8 bytes"));
        if sum != self.hasher.digest() {
            return Err(corrupt(
                &self.path,
                "checksum mismatch (the file was altered or damaged)",
            ));
        }
        if count != self.count {
            return Err(corrupt(
                &self.path,
                format!(
                    "the trailer says {count} records, the body has {}",
                    self.count
                ),
            ));
        }
        Ok(count)
    }
}

/// A (key, value) record: a band key or text hash with a document seq, or a document seq with a
/// bucket number. Files of them are sorted by (key, value), strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyValue {
    /// The sort key.
    pub key: u128,
    /// The value.
    pub value: u64,
}

impl KeyValue {
    /// The record as `kind` stores it: the low `key_bytes` of the key, then the value; the
    /// slice is `kind.record_bytes()` long.
    fn encode(self, kind: Kind, b: &mut [u8; KV_BYTES]) -> &[u8] {
        let k = kind.key_bytes();
        b[..k].copy_from_slice(&self.key.to_le_bytes()[..k]);
        b[k..k + 8].copy_from_slice(&self.value.to_le_bytes());
        &b[..k + 8]
    }
    fn decode(kind: Kind, b: &[u8]) -> Self {
        let k = kind.key_bytes();
        let mut key = [0u8; 16];
        key[..k].copy_from_slice(&b[..k]);
        KeyValue {
            key: u128::from_le_bytes(key),
            value: u64::from_le_bytes(b[k..k + 8].try_into().expect("8 bytes")),
        }
    }
}

/// Streams the records of a sorted [`KeyValue`] file, checking the order; a file that ends
/// (trailer checked) yields `None`.
pub struct KvReader {
    inner: Option<FramedReader>,
    prev: Option<KeyValue>,
    path: PathBuf,
    kind: Kind,
}

impl KvReader {
    /// Opens `path`, a file of `kind` (signatures or buckets).
    pub fn open(path: &Path, kind: Kind) -> Result<Self, RecordError> {
        let inner = FramedReader::open(path, kind)?;
        let n = kind.record_bytes();
        if inner.remaining % n as u64 != 0 {
            return Err(corrupt(
                path,
                format!("truncated: the body is not a whole number of {n}-byte records"),
            ));
        }
        Ok(KvReader {
            inner: Some(inner),
            prev: None,
            path: path.to_path_buf(),
            kind,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next record, or `None` after the last one (once the trailer is verified).
    pub fn next_record(&mut self) -> Result<Option<KeyValue>, RecordError> {
        let Some(r) = self.inner.as_mut() else {
            return Ok(None);
        };
        if r.at_end() {
            let r = self.inner.take().expect("checked above");
            r.finish()?;
            return Ok(None);
        }
        let mut b = [0u8; KV_BYTES];
        let b = &mut b[..self.kind.record_bytes()];
        r.read(b)?;
        r.counted();
        let kv = KeyValue::decode(self.kind, b);
        if let Some(p) = self.prev {
            if kv <= p {
                // A damaged file often looks unsorted too: say which it is.
                let at = r.count;
                let mut r = self.inner.take().expect("checked above");
                let mut rest = vec![0u8; 1 << 16];
                while !r.at_end() {
                    let n = (r.remaining as usize).min(rest.len());
                    r.read(&mut rest[..n])?;
                }
                return Err(match r.finish() {
                    Err(e) if e.to_string().contains("checksum mismatch") => e,
                    _ => corrupt(
                        &self.path,
                        format!(
                            "not sorted: record {at} ({:#x}, {}) does not come after ({:#x}, {})",
                            kv.key, kv.value, p.key, p.value
                        ),
                    ),
                });
            }
        }
        self.prev = Some(kv);
        Ok(Some(kv))
    }
}

/// Writes a sorted [`KeyValue`] file from records given in any order, with bounded memory:
/// past `max_records` in memory, a sorted run goes to disk beside the output, and
/// [`SortedWriter::finish`] merges the runs.
pub struct SortedWriter {
    path: PathBuf,
    kind: Kind,
    max_records: usize,
    buf: Vec<KeyValue>,
    runs: Vec<PathBuf>,
}

impl SortedWriter {
    /// A writer of `path` that keeps at most `max_records` in memory.
    pub fn new(path: &Path, kind: Kind, max_records: usize) -> Self {
        SortedWriter {
            path: path.to_path_buf(),
            kind,
            max_records: max_records.max(1024),
            buf: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Adds a record.
    pub fn push(&mut self, kv: KeyValue) -> Result<(), RecordError> {
        if self.kind.key_bytes() < 16 && kv.key >> 64 != 0 {
            return Err(corrupt(
                &self.path,
                format!(
                    "key {:#x} does not fit the 8-byte keys of {}",
                    kv.key,
                    self.kind.name()
                ),
            ));
        }
        self.buf.push(kv);
        if self.buf.len() >= self.max_records {
            self.spill()?;
        }
        Ok(())
    }

    /// Records added so far are this many bytes in memory.
    pub fn memory_bytes(&self) -> usize {
        self.buf.capacity() * std::mem::size_of::<KeyValue>()
    }

    /// Writes the buffer, sorted, as a run: a framed file of its own, read back with
    /// [`KvMerge`] (so a run damaged on disk is caught like any exchange file).
    fn spill(&mut self) -> Result<(), RecordError> {
        let run = {
            let mut s = self.path.as_os_str().to_owned();
            s.push(format!(".run{}", self.runs.len()));
            PathBuf::from(s)
        };
        write_sorted(&run, self.kind, &mut self.buf)?;
        self.runs.push(run);
        Ok(())
    }

    /// Sorts, merges and writes the file; returns the record count.
    pub fn finish(mut self) -> Result<u64, RecordError> {
        if self.runs.is_empty() {
            return write_sorted(&self.path, self.kind, &mut self.buf);
        }
        self.spill()?;
        let mut merge = KvMerge::open(&self.runs, self.kind)?;
        let mut out = FramedWriter::create(&self.path, self.kind)?;
        let mut b = [0u8; KV_BYTES];
        let mut prev: Option<KeyValue> = None;
        while let Some((kv, _)) = merge.next_record()? {
            // Equal records can only come from the same document twice; keep one.
            if prev != Some(kv) {
                out.record(kv.encode(self.kind, &mut b))?;
                prev = Some(kv);
            }
        }
        let n = out.finish()?;
        for run in &self.runs {
            let _ = fs::remove_file(run);
        }
        Ok(n)
    }
}

/// Sorts `buf`, drops repeated records and writes it as the framed file `path`, emptying `buf`.
fn write_sorted(path: &Path, kind: Kind, buf: &mut Vec<KeyValue>) -> Result<u64, RecordError> {
    buf.sort_unstable();
    buf.dedup();
    let mut out = FramedWriter::create(path, kind)?;
    let mut b = [0u8; KV_BYTES];
    for kv in buf.drain(..) {
        out.record(kv.encode(kind, &mut b))?;
    }
    out.finish()
}

/// Merges several sorted [`KeyValue`] files into one sorted stream (ties: lower file first).
pub struct KvMerge {
    readers: Vec<KvReader>,
    heap: BinaryHeap<Reverse<(KeyValue, usize)>>,
}

impl KvMerge {
    /// Opens every file in `paths` (all of `kind`).
    pub fn open(paths: &[PathBuf], kind: Kind) -> Result<Self, RecordError> {
        let mut readers = Vec::with_capacity(paths.len());
        let mut heap = BinaryHeap::new();
        for (i, p) in paths.iter().enumerate() {
            let mut r = KvReader::open(p, kind)?;
            if let Some(kv) = r.next_record()? {
                heap.push(Reverse((kv, i)));
            }
            readers.push(r);
        }
        Ok(KvMerge { readers, heap })
    }

    /// The next record over all files, with the index of the file it came from.
    pub fn next_record(&mut self) -> Result<Option<(KeyValue, usize)>, RecordError> {
        let Some(Reverse((kv, i))) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(next) = self.readers[i].next_record()? {
            self.heap.push(Reverse((next, i)));
        }
        Ok(Some((kv, i)))
    }
}

/// A document's id, by seq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdRecord {
    /// The document's seq.
    pub seq: u64,
    /// Its id.
    pub id: String,
}

/// Writes an ids file; records must come in increasing seq order.
pub struct IdWriter {
    inner: FramedWriter,
    prev: Option<u64>,
}

impl IdWriter {
    /// Starts `path`.
    pub fn create(path: &Path) -> Result<Self, RecordError> {
        Ok(IdWriter {
            inner: FramedWriter::create(path, Kind::Ids)?,
            prev: None,
        })
    }

    /// Appends one id.
    pub fn push(&mut self, seq: u64, id: &str) -> Result<(), RecordError> {
        if self.prev.is_some_and(|p| seq <= p) {
            return Err(corrupt(
                &self.inner.path,
                format!("ids out of order while writing (seq {seq})"),
            ));
        }
        self.prev = Some(seq);
        let mut b = Vec::with_capacity(12 + id.len());
        b.extend_from_slice(&seq.to_le_bytes());
        b.extend_from_slice(&(id.len() as u32).to_le_bytes());
        b.extend_from_slice(id.as_bytes());
        self.inner.record(&b)
    }

    /// Finishes the file.
    pub fn finish(self) -> Result<u64, RecordError> {
        self.inner.finish()
    }
}

/// Reads variable-length records (ids and removals): seq, `extra` more u64s, an id.
struct VarReader {
    inner: Option<FramedReader>,
    prev: Option<u64>,
    path: PathBuf,
    extra: usize,
}

impl VarReader {
    fn open(path: &Path, kind: Kind, extra: usize) -> Result<Self, RecordError> {
        Ok(VarReader {
            inner: Some(FramedReader::open(path, kind)?),
            prev: None,
            path: path.to_path_buf(),
            extra: extra.min(2),
        })
    }

    fn next_record(&mut self) -> Result<Option<(u64, [u64; 2], String)>, RecordError> {
        let Some(r) = self.inner.as_mut() else {
            return Ok(None);
        };
        if r.at_end() {
            self.inner.take().expect("checked above").finish()?;
            return Ok(None);
        }
        let mut b = [0u8; 8];
        r.read(&mut b)?;
        let seq = u64::from_le_bytes(b);
        let mut more = [0u64; 2];
        for m in more.iter_mut().take(self.extra) {
            r.read(&mut b)?;
            *m = u64::from_le_bytes(b);
        }
        let mut l = [0u8; 4];
        r.read(&mut l)?;
        let len = u32::from_le_bytes(l) as usize;
        if len as u64 > r.remaining {
            return Err(corrupt(&self.path, "truncated: an id runs past the end"));
        }
        let mut id = vec![0u8; len];
        r.read(&mut id)?;
        r.counted();
        let id = String::from_utf8(id)
            .map_err(|_| corrupt(&self.path, format!("id of seq {seq} is not UTF-8")))?;
        if self.prev.is_some_and(|p| seq <= p) {
            return Err(corrupt(
                &self.path,
                format!("not sorted: seq {seq} after {}", self.prev.unwrap_or(0)),
            ));
        }
        self.prev = Some(seq);
        Ok(Some((seq, more, id)))
    }
}

/// Streams an ids file in seq order, checking order, count and checksum.
pub struct IdReader(VarReader);

impl IdReader {
    /// Opens `path`.
    pub fn open(path: &Path) -> Result<Self, RecordError> {
        Ok(IdReader(VarReader::open(path, Kind::Ids, 0)?))
    }

    /// The next id, or `None` after the last (trailer verified).
    pub fn next_record(&mut self) -> Result<Option<IdRecord>, RecordError> {
        Ok(self
            .0
            .next_record()?
            .map(|(seq, _, id)| IdRecord { seq, id }))
    }
}

/// One document a dedup stage removes: it duplicates `target`, whose id is `duplicate_of`, in
/// the cluster `cluster_id` ([`crate::stages::dedup::cluster_id`] of that id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The removed document's seq.
    pub seq: u64,
    /// The kept document's seq.
    pub target: u64,
    /// The cluster: the same for the kept document and every document removed as its
    /// duplicate.
    pub cluster_id: u64,
    /// The kept document's id.
    pub duplicate_of: String,
}

/// Writes a removals file from records sorted by seq.
pub fn write_removals(path: &Path, removals: &[Removal]) -> Result<u64, RecordError> {
    let mut w = FramedWriter::create(path, Kind::Removals)?;
    let mut prev: Option<u64> = None;
    for r in removals {
        if prev.is_some_and(|p| r.seq <= p) {
            return Err(corrupt(path, "removals out of order while writing"));
        }
        prev = Some(r.seq);
        let mut b = Vec::with_capacity(20 + r.duplicate_of.len());
        b.extend_from_slice(&r.seq.to_le_bytes());
        b.extend_from_slice(&r.target.to_le_bytes());
        b.extend_from_slice(&r.cluster_id.to_le_bytes());
        b.extend_from_slice(&(r.duplicate_of.len() as u32).to_le_bytes());
        b.extend_from_slice(r.duplicate_of.as_bytes());
        w.record(&b)?;
    }
    w.finish()
}

/// Reads a whole removals file (checked: frame, order, count, checksum).
pub fn read_removals(path: &Path) -> Result<Vec<Removal>, RecordError> {
    let mut r = VarReader::open(path, Kind::Removals, 2)?;
    let mut v = Vec::new();
    while let Some((seq, [target, cluster_id], duplicate_of)) = r.next_record()? {
        v.push(Removal {
            seq,
            target,
            cluster_id,
            duplicate_of,
        });
    }
    Ok(v)
}

impl PartialOrd for Removal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Removal {
    fn cmp(&self, other: &Self) -> Ordering {
        self.seq.cmp(&other.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kvs(v: &[(u128, u64)]) -> Vec<KeyValue> {
        v.iter()
            .map(|&(key, value)| KeyValue { key, value })
            .collect()
    }

    fn read_all(path: &Path) -> Result<Vec<KeyValue>, RecordError> {
        let mut r = KvReader::open(path, Kind::Hashes)?;
        let mut v = Vec::new();
        while let Some(kv) = r.next_record()? {
            v.push(kv);
        }
        Ok(v)
    }

    #[test]
    fn sorted_writer_sorts_merges_runs_and_drops_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.sig");
        let mut w = SortedWriter::new(&p, Kind::Hashes, 1024);
        let mut expect = Vec::new();
        for i in 0..5000u64 {
            let key = ((i * 7919) % 5003) as u128;
            w.push(KeyValue { key, value: i }).unwrap();
            expect.push(KeyValue { key, value: i });
        }
        w.push(KeyValue { key: 3, value: 9 }).unwrap();
        expect.push(KeyValue { key: 3, value: 9 });
        expect.sort();
        expect.dedup();
        assert_eq!(w.finish().unwrap(), 5001);
        assert_eq!(read_all(&p).unwrap(), expect);
        // The spill runs are gone.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.sig")]);
    }

    #[test]
    fn damaged_files_are_named_with_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.sig");
        let mut w = SortedWriter::new(&p, Kind::Hashes, 1024);
        for kv in kvs(&[(1, 1), (2, 2), (3, 3)]) {
            w.push(kv).unwrap();
        }
        w.finish().unwrap();
        let good = crate::storage::read(&p).unwrap();

        // A flipped byte in the body.
        let mut bad = good.clone();
        bad[20] ^= 1;
        fs::write(&p, &bad).unwrap();
        let e = read_all(&p).unwrap_err().to_string();
        assert!(
            e.contains("b.sig") && e.contains("checksum mismatch"),
            "{e}"
        );

        // Truncated.
        fs::write(&p, &good[..good.len() - 30]).unwrap();
        let e = read_all(&p).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");

        // The wrong kind.
        fs::write(&p, &good).unwrap();
        let e = KvReader::open(&p, Kind::Buckets).err().unwrap().to_string();
        assert!(
            e.contains("holds record kind 1, expected 2 (buckets)"),
            "{e}"
        );

        // Unsorted, with a valid checksum.
        let mut w = FramedWriter::create(&p, Kind::Hashes).unwrap();
        for kv in kvs(&[(5, 1), (4, 2)]) {
            w.record(kv.encode(Kind::Hashes, &mut [0; KV_BYTES]))
                .unwrap();
        }
        w.finish().unwrap();
        let e = read_all(&p).unwrap_err().to_string();
        assert!(
            e.contains("not sorted: record 2 (0x4, 2) does not come after (0x5, 1)"),
            "{e}"
        );
    }

    #[test]
    fn merge_interleaves_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        for (i, recs) in [
            vec![(1u128, 1u64), (4, 4)],
            vec![(2, 2), (3, 3), (5, 5)],
            vec![],
        ]
        .into_iter()
        .enumerate()
        {
            let p = dir.path().join(format!("{i}.bkt"));
            let mut w = SortedWriter::new(&p, Kind::Buckets, 1024);
            for kv in kvs(&recs) {
                w.push(kv).unwrap();
            }
            w.finish().unwrap();
            paths.push(p);
        }
        let mut m = KvMerge::open(&paths, Kind::Buckets).unwrap();
        let mut got = Vec::new();
        while let Some((kv, i)) = m.next_record().unwrap() {
            got.push((kv.key, i));
        }
        assert_eq!(got, vec![(1, 0), (2, 1), (3, 1), (4, 0), (5, 1)]);
    }

    #[test]
    fn ids_and_removals_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.ids");
        let mut w = IdWriter::create(&p).unwrap();
        w.push(3, "a").unwrap();
        w.push(7, "été").unwrap();
        assert!(w.push(7, "x").is_err());
        w.finish().unwrap();
        let mut r = IdReader::open(&p).unwrap();
        assert_eq!(
            r.next_record().unwrap(),
            Some(IdRecord {
                seq: 3,
                id: "a".into()
            })
        );
        assert_eq!(
            r.next_record().unwrap(),
            Some(IdRecord {
                seq: 7,
                id: "été".into()
            })
        );
        assert_eq!(r.next_record().unwrap(), None);

        let q = dir.path().join("r.rm");
        let rm = vec![
            Removal {
                seq: 5,
                target: 1,
                cluster_id: 77,
                duplicate_of: "x".into(),
            },
            Removal {
                seq: 9,
                target: 1,
                cluster_id: 77,
                duplicate_of: "x".into(),
            },
        ];
        assert_eq!(write_removals(&q, &rm).unwrap(), 2);
        assert_eq!(read_removals(&q).unwrap(), rm);
        let mut bytes = crate::storage::read(&q).unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 0xff;
        fs::write(&q, bytes).unwrap();
        let e = read_removals(&q).unwrap_err().to_string();
        assert!(e.contains("r.rm: checksum mismatch"), "{e}");
    }
}
