//! Append-only stores that start in memory and can move to disk.
//!
//! The dedup indexes keep small fixed-size entries in memory and refer to kept documents by
//! their *kept ordinal* (0 for the first document a stage kept, 1 for the next, ...). What is
//! looked up only on a hit — the kept document's id (for `duplicate_of`) and, with
//! verification on, its signature — lives here: an [`IdStore`] and a [`RecordStore`], both
//! built on [`AppendFile`], which holds its bytes in memory until [`AppendFile::spill`] moves
//! them to a file; after that, appends are buffered (1 MiB) and reads use positioned reads
//! (`pread`), so a spilled store costs almost no memory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes buffered in memory by a spilled [`AppendFile`] before they are written out.
const WRITE_BUFFER: usize = 1 << 20;

/// A private directory for spill files, removed (with its content) when dropped.
#[derive(Debug)]
pub struct SpillDir {
    path: PathBuf,
    next: AtomicU64,
}

impl SpillDir {
    /// Creates `base/corpusforge-<what>-<pid>-<n>`; `base` defaults to the system temp dir.
    pub fn create(base: Option<&Path>, what: &str) -> io::Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = base
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!(
            "corpusforge-{what}-{}-{n}-{nanos:08x}",
            std::process::id()
        ));
        fs::create_dir_all(&path)?;
        Ok(SpillDir {
            path,
            next: AtomicU64::new(0),
        })
    }

    /// A fresh file name inside the directory.
    pub fn file(&self, stem: &str) -> PathBuf {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.path.join(format!("{stem}-{n:06}"))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            let n = file.seek_read(&mut buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

/// A byte log: appended to at the end, read anywhere. In memory until spilled.
#[derive(Debug, Default)]
pub struct AppendFile {
    /// Bytes from `on_disk` on (all bytes while in memory).
    mem: Vec<u8>,
    /// The file and the number of bytes already written to it.
    file: Option<(File, PathBuf)>,
    on_disk: u64,
}

impl AppendFile {
    /// Total bytes appended.
    pub fn len(&self) -> u64 {
        self.on_disk + self.mem.len() as u64
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.mem.capacity()
    }

    /// True once the bytes live in a file.
    pub fn is_spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Appends `bytes`.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.mem.extend_from_slice(bytes);
        if self.file.is_some() && self.mem.len() >= WRITE_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some((f, _)) = &mut self.file {
            f.write_all(&self.mem)?;
            self.on_disk += self.mem.len() as u64;
            self.mem.clear();
            if self.mem.capacity() > WRITE_BUFFER * 2 {
                self.mem.shrink_to(WRITE_BUFFER);
            }
        }
        Ok(())
    }

    /// Moves the content to a new file at `path`; later appends go there too.
    pub fn spill(&mut self, path: PathBuf) -> io::Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        self.file = Some((f, path));
        self.flush()?;
        self.mem = Vec::new();
        Ok(())
    }

    /// Reads `buf.len()` bytes at `offset`.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = offset + buf.len() as u64;
        if end > self.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of a dedup store",
            ));
        }
        let mut done = 0usize;
        if offset < self.on_disk {
            let n = (self.on_disk.min(end) - offset) as usize;
            if let Some((f, _)) = &self.file {
                read_exact_at(f, &mut buf[..n], offset)?;
            }
            done = n;
        }
        if done < buf.len() {
            let start = (offset + done as u64 - self.on_disk) as usize;
            let n = buf.len() - done;
            buf[done..].copy_from_slice(&self.mem[start..start + n]);
        }
        Ok(())
    }

    /// Writes the whole content to `w`.
    pub fn copy_to(&self, w: &mut impl Write) -> io::Result<()> {
        let mut off = 0u64;
        let mut buf = vec![0u8; WRITE_BUFFER];
        while off < self.on_disk {
            let n = (self.on_disk - off).min(buf.len() as u64) as usize;
            self.read_at(off, &mut buf[..n])?;
            w.write_all(&buf[..n])?;
            off += n as u64;
        }
        w.write_all(&self.mem)
    }
}

impl Drop for AppendFile {
    fn drop(&mut self) {
        if let Some((_, path)) = self.file.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// Kept ordinal → document id: the id bytes back to back, and their end offsets.
#[derive(Debug, Default)]
pub struct IdStore {
    data: AppendFile,
    ends: AppendFile,
}

impl IdStore {
    /// Number of ids stored.
    pub fn len(&self) -> u64 {
        self.ends.len() / 8
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends the id of the next kept document.
    pub fn push(&mut self, id: &str) -> io::Result<()> {
        self.data.append(id.as_bytes())?;
        self.ends.append(&self.data.len().to_le_bytes())
    }

    fn end(&self, ord: u64) -> io::Result<u64> {
        let mut b = [0u8; 8];
        self.ends.read_at(ord * 8, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// The id of kept document `ord`.
    pub fn get(&self, ord: u64) -> io::Result<String> {
        let start = if ord == 0 { 0 } else { self.end(ord - 1)? };
        let end = self.end(ord)?;
        let mut buf = vec![0u8; end.saturating_sub(start) as usize];
        self.data.read_at(start, &mut buf)?;
        String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.data.memory_bytes() + self.ends.memory_bytes()
    }

    /// Moves the store to files in `dir`.
    pub fn spill(&mut self, dir: &SpillDir) -> io::Result<()> {
        self.data.spill(dir.file("ids-data"))?;
        self.ends.spill(dir.file("ids-ends"))
    }

    /// True once on disk.
    pub fn is_spilled(&self) -> bool {
        self.data.is_spilled()
    }

    /// Saves the store as `<dir>/<stem>.data` and `<dir>/<stem>.ends`.
    pub fn save(&self, dir: &Path, stem: &str) -> io::Result<()> {
        let mut w = io::BufWriter::new(File::create(dir.join(format!("{stem}.data")))?);
        self.data.copy_to(&mut w)?;
        w.flush()?;
        let mut w = io::BufWriter::new(File::create(dir.join(format!("{stem}.ends")))?);
        self.ends.copy_to(&mut w)?;
        w.flush()
    }

    /// Loads what [`IdStore::save`] wrote, in memory.
    pub fn load(dir: &Path, stem: &str) -> io::Result<Self> {
        let mut s = IdStore::default();
        s.data
            .append(&crate::storage::read(dir.join(format!("{stem}.data")))?)?;
        s.ends
            .append(&crate::storage::read(dir.join(format!("{stem}.ends")))?)?;
        if !s.ends.len().is_multiple_of(8) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "id store offsets are truncated",
            ));
        }
        Ok(s)
    }
}

/// Fixed-size records (MinHash signatures), addressed by kept ordinal.
#[derive(Debug)]
pub struct RecordStore {
    data: AppendFile,
    size: usize,
}

impl RecordStore {
    /// A store of records of `size` bytes.
    pub fn new(size: usize) -> Self {
        RecordStore {
            data: AppendFile::default(),
            size: size.max(1),
        }
    }

    /// Number of records.
    pub fn len(&self) -> u64 {
        self.data.len() / self.size as u64
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a record (must be `size` bytes).
    pub fn push(&mut self, record: &[u8]) -> io::Result<()> {
        debug_assert_eq!(record.len(), self.size);
        self.data.append(record)
    }

    /// Reads record `ord` into `buf` (`size` bytes).
    pub fn get(&self, ord: u64, buf: &mut [u8]) -> io::Result<()> {
        self.data.read_at(ord * self.size as u64, buf)
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.data.memory_bytes()
    }

    /// Moves the store to a file in `dir`.
    pub fn spill(&mut self, dir: &SpillDir) -> io::Result<()> {
        self.data.spill(dir.file("records"))
    }

    /// Saves the store as `<dir>/<stem>.data`.
    pub fn save(&self, dir: &Path, stem: &str) -> io::Result<()> {
        let mut w = io::BufWriter::new(File::create(dir.join(format!("{stem}.data")))?);
        self.data.copy_to(&mut w)?;
        w.flush()
    }

    /// Loads what [`RecordStore::save`] wrote, in memory.
    pub fn load(dir: &Path, stem: &str, size: usize) -> io::Result<Self> {
        let mut s = RecordStore::new(size);
        s.data
            .append(&crate::storage::read(dir.join(format!("{stem}.data")))?)?;
        if !s.data.len().is_multiple_of(s.size as u64) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "record store is truncated",
            ));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_survive_spilling_and_saving() {
        let dir = SpillDir::create(None, "test").expect("spill dir");
        let mut s = IdStore::default();
        for i in 0..1000 {
            s.push(&format!("doc-{i}")).expect("push");
        }
        assert!(!s.is_spilled());
        s.spill(&dir).expect("spill");
        assert!(s.is_spilled());
        for i in 1000..3000 {
            s.push(&format!("doc-{i}-é")).expect("push");
        }
        assert_eq!(s.len(), 3000);
        assert_eq!(s.get(0).expect("get"), "doc-0");
        assert_eq!(s.get(999).expect("get"), "doc-999");
        assert_eq!(s.get(2999).expect("get"), "doc-2999-é");
        assert!(s.get(3000).is_err());
        let save = dir.path().join("save");
        fs::create_dir_all(&save).expect("mkdir");
        s.save(&save, "ids").expect("save");
        let t = IdStore::load(&save, "ids").expect("load");
        assert_eq!(t.len(), 3000);
        assert_eq!(t.get(1500).expect("get"), "doc-1500-é");
        let p = dir.path().to_path_buf();
        drop(s);
        drop(dir);
        assert!(!p.exists(), "the spill directory is removed");
    }

    #[test]
    fn records_read_back_across_the_disk_boundary() {
        let dir = SpillDir::create(None, "test").expect("spill dir");
        let mut s = RecordStore::new(3);
        s.push(&[1, 2, 3]).expect("push");
        s.spill(&dir).expect("spill");
        s.push(&[4, 5, 6]).expect("push");
        let mut b = [0u8; 3];
        s.get(1, &mut b).expect("get");
        assert_eq!(b, [4, 5, 6]);
        s.get(0, &mut b).expect("get");
        assert_eq!(b, [1, 2, 3]);
        let mut wide = [0u8; 6];
        s.data.read_at(0, &mut wide).expect("straddling read");
        assert_eq!(wide, [1, 2, 3, 4, 5, 6]);
    }
}
