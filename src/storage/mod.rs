//! Where durable files live: local disk, or an S3-compatible object store (`s3://bucket/key`).
//!
//! The code that writes and reads a run's files works on local paths. An output directory in an
//! object store is *mirrored*: it gets a private local directory (scratch, removed when the
//! process ends) whose files go to the store when they are committed ([`commit`], the step that
//! on disk is the rename of a finished file) and come from it when first opened ([`open`] and
//! the other readers here). So every durable file of the store appears whole (one put, or a
//! multipart upload completed after its last part), a run resumes from what the store holds
//! wherever it runs, and the processes of a split run share nothing but the store. A local
//! path is not touched by any of this: every function here is then the plain filesystem call.
//!
//! Inputs in a store are streamed with ranged requests ([`open_input`], [`InputSource`]).
//!
//! Scratch lives under `$CORPUSFORGE_SCRATCH` (default: the system temporary directory).

mod object;

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};

use bytes::Bytes;

use object::{check_access, list};
pub use object::{is_url, Url, RETRY_ENV, SCHEME};

/// The environment variable naming the directory for mirrors (default: the temporary directory).
pub const SCRATCH_ENV: &str = "CORPUSFORGE_SCRATCH";

/// A local directory standing for a prefix of a store.
#[derive(Debug, Clone)]
struct Mirror {
    local: PathBuf,
    remote: Url,
}

fn mirrors() -> &'static RwLock<Vec<Mirror>> {
    static M: OnceLock<RwLock<Vec<Mirror>>> = OnceLock::new();
    M.get_or_init(Default::default)
}

/// The mirrors made so far.
fn mirror_list() -> std::sync::RwLockReadGuard<'static, Vec<Mirror>> {
    mirrors().read().unwrap_or_else(|p| p.into_inner())
}

/// This process's scratch directory for mirrors.
fn scratch() -> io::Result<&'static PathBuf> {
    static S: OnceLock<PathBuf> = OnceLock::new();
    if let Some(s) = S.get() {
        return Ok(s);
    }
    let base = std::env::var_os(SCRATCH_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = base.join(format!("corpusforge-{}-{nanos:08x}", std::process::id()));
    fs::create_dir_all(&dir)?;
    Ok(S.get_or_init(|| dir))
}

/// An output directory that cannot be used.
#[derive(thiserror::Error, Debug)]
#[error("output `{}`: {source}", path.display())]
pub struct OutputError {
    /// The output as given.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

/// The local directory that stands for `location`: the path itself for a local path; for an
/// `s3://` prefix, a mirror in scratch, after checking (with one request) that the bucket
/// exists and the credentials may list it, so that a wrong address fails before any work.
pub fn local_dir(location: &Path) -> io::Result<PathBuf> {
    let Some(url) = location.to_str().and_then(Url::parse) else {
        return Ok(location.to_path_buf());
    };
    let known = |all: &[Mirror]| {
        all.iter()
            .find(|m| m.remote == url)
            .map(|m| m.local.clone())
    };
    if let Some(local) = known(&mirror_list()) {
        return Ok(local);
    }
    check_access(&url)?;
    let mut all = mirrors().write().unwrap_or_else(|p| p.into_inner());
    // Another thread may have made it meanwhile.
    if let Some(local) = known(&all) {
        return Ok(local);
    }
    let local = scratch()?.join(format!("mirror-{}", all.len()));
    fs::create_dir_all(&local)?;
    all.push(Mirror {
        local: local.clone(),
        remote: url,
    });
    Ok(local)
}

/// The local path that stands for the file `location`: the path itself, or for an `s3://`
/// object its place in the mirror of its parent prefix (see [`local_dir`]).
pub fn local_file(location: &Path) -> io::Result<PathBuf> {
    let Some(url) = location.to_str().and_then(Url::parse) else {
        return Ok(location.to_path_buf());
    };
    let (parent, name) = url.key.rsplit_once('/').unwrap_or(("", url.key.as_str()));
    let parent = format!("{SCHEME}{}/{parent}", url.bucket);
    Ok(local_dir(Path::new(&parent))?.join(name))
}

/// The object `path` stands for, when it lies in a mirror.
pub fn remote_of(path: &Path) -> Option<Url> {
    mirror_list().iter().find_map(|m| {
        let rel = path.strip_prefix(&m.local).ok()?;
        let rel: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Some(m.remote.join(&rel.join("/")))
    })
}

/// How `path` is shown to a user: its object address when it lies in a mirror.
pub fn shown(path: &Path) -> String {
    remote_of(path).map_or_else(|| path.display().to_string(), |u| u.to_string())
}

/// Size and modification time of the files of mirrors as last published or fetched.
fn synced(
) -> &'static std::sync::Mutex<std::collections::HashMap<PathBuf, (u64, std::time::SystemTime)>> {
    static S: OnceLock<
        std::sync::Mutex<std::collections::HashMap<PathBuf, (u64, std::time::SystemTime)>>,
    > = OnceLock::new();
    S.get_or_init(Default::default)
}

fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

fn mark_synced(path: &Path) {
    if let Some(s) = stamp(path) {
        synced()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_path_buf(), s);
    }
}

/// Uploads every file of every mirror that changed since it was last published or fetched
/// (files written in place rather than committed, such as logs and metrics), skipping
/// temporary names. Called when a command has finished its work.
pub fn sync_up() -> io::Result<()> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        for e in fs::read_dir(dir)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                walk(&p, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    let roots: Vec<PathBuf> = mirror_list().iter().map(|m| m.local.clone()).collect();
    for root in roots {
        let mut files = Vec::new();
        walk(&root, &mut files)?;
        files.sort();
        for f in files {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            if name.ends_with(".tmp") || name.contains(".fetch-") || name.starts_with(".tmp-") {
                continue;
            }
            let known = synced()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&f)
                .copied();
            if known.is_none() || known != stamp(&f) {
                publish(&f)?;
            }
        }
    }
    Ok(())
}

/// Removes this process's scratch directory (at exit).
pub fn clean_up() {
    if !mirror_list().is_empty() {
        if let Ok(dir) = scratch() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Puts the finished file `tmp` in place at `dest`: a rename, then, for a mirrored `dest`, the
/// upload that makes it visible in the store.
pub fn commit(tmp: &Path, dest: &Path) -> io::Result<()> {
    fs::rename(tmp, dest)?;
    publish(dest)
}

/// Uploads the local file or directory tree `path` when it lies in a mirror (nothing otherwise).
pub fn publish(path: &Path) -> io::Result<()> {
    let Some(url) = remote_of(path) else {
        return Ok(());
    };
    if path.is_dir() {
        let mut names: Vec<PathBuf> = fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for p in names {
            publish(&p)?;
        }
        return Ok(());
    }
    object::put_file(path, &url)?;
    mark_synced(path);
    Ok(())
}

/// Brings the object a mirrored `path` stands for into the mirror, if there is one; true when
/// the file is there now.
fn fetch(path: &Path) -> io::Result<bool> {
    let Some(url) = remote_of(path) else {
        return Ok(false);
    };
    match download(&url, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Streams the object `url` to the local file `path` of a mirror and records it as in sync.
fn download(url: &Url, path: &Path) -> io::Result<()> {
    object::get_file(url, path)?;
    mark_synced(path);
    Ok(())
}

/// Opens `path` for reading, fetching it first from the store when it lies in a mirror.
pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
    let path = path.as_ref();
    match File::open(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && fetch(path)? => File::open(path),
        r => r,
    }
}

/// Makes sure a file of a mirror is here (fetching it from the store if not), for readers that
/// open a path themselves; returns `path`. Nothing happens to a local path.
pub fn ensure_local(path: &Path) -> &Path {
    if !path.exists() {
        if let Err(e) = fetch(path) {
            tracing::warn!("{}: {e}", shown(path));
        }
    }
    path
}

/// [`fs::read_to_string`] through [`open`].
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let mut s = String::new();
    open(path)?.read_to_string(&mut s)?;
    Ok(s)
}

/// [`fs::read`] through [`open`].
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let mut v = Vec::new();
    open(path)?.read_to_end(&mut v)?;
    Ok(v)
}

/// True when `path` exists here or, in a mirror, in the store (a file, or a directory holding
/// at least one object).
pub fn exists(path: &Path) -> bool {
    if path.exists() {
        return true;
    }
    remote_of(path).is_some_and(|u| object::exists(&u).unwrap_or(false))
}

/// Removes the file here and its object in the store.
pub fn remove_file(path: &Path) -> io::Result<()> {
    remove(path, |p| fs::remove_file(p), object::delete)
}

/// Removes the directory tree here and every object under its prefix in the store.
pub fn remove_dir_all(path: &Path) -> io::Result<()> {
    remove(path, |p| fs::remove_dir_all(p), object::delete_prefix)
}

/// Removes `path` here with `local` and, in a mirror, in the store with `remote`; absent here
/// is then fine (it may never have been fetched).
fn remove(
    path: &Path,
    local: fn(&Path) -> io::Result<()>,
    remote: fn(&Url) -> io::Result<()>,
) -> io::Result<()> {
    let here = local(path);
    let Some(url) = remote_of(path) else {
        return here;
    };
    remote(&url)?;
    match here {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// The entries of directory `dir` as `(name, is_dir)`, sorted: for a mirror, those here and
/// those in the store together.
pub fn read_dir(dir: &Path) -> io::Result<Vec<(String, bool)>> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let local = fs::read_dir(dir);
    let remote = remote_of(dir);
    match local {
        Ok(rd) => {
            for e in rd {
                let e = e?;
                let is_dir = e.file_type()?.is_dir();
                out.push((e.file_name().to_string_lossy().into_owned(), is_dir));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && remote.is_some() => {}
        Err(e) => return Err(e),
    }
    if let Some(url) = remote {
        out.extend(object::list_children(&url)?);
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

/// Fetches every object under the mirrored directory `dir` that is not here yet (nothing for a
/// local path).
pub fn fetch_dir(dir: &Path) -> io::Result<()> {
    let Some(url) = remote_of(dir) else {
        return Ok(());
    };
    let skip = if url.key.is_empty() {
        0
    } else {
        url.key.len() + 1
    };
    for (key, _) in list(&url)? {
        let Some(rel) = key.get(skip..).filter(|r| !r.is_empty()) else {
            continue;
        };
        let local = rel.split('/').fold(dir.to_path_buf(), |p, c| p.join(c));
        if !local.exists() {
            let object = Url {
                bucket: url.bucket.clone(),
                key,
            };
            download(&object, &local)?;
        }
    }
    Ok(())
}

/// A local copy of the directory `location` (a local path is itself; an `s3://` prefix is
/// fetched whole into a mirror): for commands that read a whole output, such as `diff`.
pub fn fetched_dir(location: &Path) -> io::Result<PathBuf> {
    let local = local_dir(location)?;
    fetch_dir(&local)?;
    Ok(local)
}

/// An input file: on disk, or an object read with ranged requests. Readable front to back
/// ([`InputSource::reader`]) and, for parquet, at any offset (the parquet crate's
/// `ChunkReader`).
#[derive(Debug)]
pub enum InputSource {
    /// A local file.
    File(File),
    /// An object and its size.
    Object(Url, u64),
}

impl InputSource {
    /// A second handle on the same data.
    pub fn try_clone(&self) -> io::Result<InputSource> {
        Ok(match self {
            InputSource::File(f) => InputSource::File(f.try_clone()?),
            InputSource::Object(u, s) => InputSource::Object(u.clone(), *s),
        })
    }

    /// The data front to back.
    pub fn reader(self) -> io::Result<Box<dyn Read + Send>> {
        Ok(match self {
            InputSource::File(f) => Box::new(f),
            InputSource::Object(u, size) => Box::new(object::ObjectReader::open(&u, size, 0)?),
        })
    }
}

/// Opens the input at `path`: an `s3://` address (whose size is known from the listing) or a
/// local file.
pub fn open_input(path: &Path, size: u64) -> io::Result<InputSource> {
    match path.to_str().and_then(Url::parse) {
        Some(url) => Ok(InputSource::Object(url, size)),
        None => File::open(path).map(InputSource::File),
    }
}

impl parquet::file::reader::Length for InputSource {
    fn len(&self) -> u64 {
        match self {
            InputSource::File(f) => f.metadata().map_or(0, |m| m.len()),
            InputSource::Object(_, size) => *size,
        }
    }
}

impl parquet::file::reader::ChunkReader for InputSource {
    type T = Box<dyn Read + Send>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        match self {
            InputSource::File(f) => Ok(Box::new(f.get_read(start)?)),
            InputSource::Object(u, size) => Ok(Box::new(
                object::ObjectReader::open(u, *size, start)
                    .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?,
            )),
        }
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        match self {
            InputSource::File(f) => f.get_bytes(start, length),
            InputSource::Object(u, _) => object::get_range(u, start..start + length as u64)
                .map_err(|e| parquet::errors::ParquetError::External(Box::new(e))),
        }
    }
}

/// The objects an input entry names, as `(object, size)` sorted by key: the object itself,
/// everything under it as a prefix, or, for a glob pattern (`*`, `?`, `[`; `**` crossing `/`),
/// the keys under its literal head that match it. A listing that fails says why (no such
/// bucket, refused credentials, no store).
pub fn list_inputs(url: &Url) -> io::Result<Vec<(Url, u64)>> {
    let (root, listed) = match url.key.find(['*', '?', '[']) {
        None => (url.clone(), list(url)?),
        Some(at) => {
            let head = url.key[..at].rsplit_once('/').map_or("", |(h, _)| h);
            let root = Url {
                bucket: url.bucket.clone(),
                key: head.to_string(),
            };
            let listed = matching(&url.key, list(&root)?)
                .map_err(|e| io::Error::other(format!("{url}: bad pattern: {e}")))?;
            (root, listed)
        }
    };
    Ok(listed
        .into_iter()
        .map(|(key, size)| {
            let object = Url {
                bucket: root.bucket.clone(),
                key,
            };
            (object, size)
        })
        .collect())
}

/// The listed `(key, size)` whose key matches the glob `pattern` (`*` and `?` within one
/// `/`-separated name, `**` across names; hidden names need a literal `.`, as on disk).
fn matching(
    pattern: &str,
    listed: Vec<(String, u64)>,
) -> Result<Vec<(String, u64)>, glob::PatternError> {
    let pattern = glob::Pattern::new(pattern)?;
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    Ok(listed
        .into_iter()
        .filter(|(k, _)| pattern.matches_with(k, options))
        .collect())
}

/// The parquet files under `dir` (recursively, skipping hidden and temporary files), sorted.
pub fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(names) = read_dir(dir) else {
            return;
        };
        for (name, is_dir) in names {
            let p = dir.join(&name);
            if name.starts_with('.') {
                continue;
            }
            if is_dir {
                walk(&p, out);
            } else if name.ends_with(".parquet") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_join() {
        let u = Url::parse("s3://bucket/a/b/").unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("bucket", "a/b"));
        assert_eq!(
            u.join("c/d.parquet").to_string(),
            "s3://bucket/a/b/c/d.parquet"
        );
        let root = Url::parse("s3://bucket").unwrap();
        assert_eq!(root.key, "");
        assert_eq!(root.join("x").to_string(), "s3://bucket/x");
        assert!(Url::parse("s3:///key").is_none());
        assert!(Url::parse("/data/x.jsonl").is_none());
        assert!(is_url("s3://b/k") && !is_url("data/s3://b"));
    }

    #[test]
    fn patterns_match_keys_like_paths() {
        let keys = |v: &[&str]| v.iter().map(|k| (k.to_string(), 1)).collect::<Vec<_>>();
        let listed = keys(&[
            "d/a.jsonl",
            "d/b.jsonl.gz",
            "d/sub/c.jsonl",
            "d/.h.jsonl",
            "e.jsonl",
        ]);
        let names = |r: Vec<(String, u64)>| r.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            names(matching("d/*.jsonl", listed.clone()).unwrap()),
            ["d/a.jsonl"]
        );
        assert_eq!(
            names(matching("d/.*", listed.clone()).unwrap()),
            ["d/.h.jsonl"]
        );
        assert_eq!(
            names(matching("d/**/*.jsonl", listed.clone()).unwrap()),
            ["d/a.jsonl", "d/sub/c.jsonl"]
        );
        assert_eq!(
            names(matching("d/?.jsonl*", listed.clone()).unwrap()),
            ["d/a.jsonl", "d/b.jsonl.gz"]
        );
        assert!(matching("d/[", listed).is_err());
    }

    #[test]
    fn local_paths_are_untouched() {
        let dir = std::env::temp_dir().join(format!("cf-storage-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(local_dir(&dir).unwrap(), dir);
        assert!(remote_of(&dir.join("x")).is_none());
        let p = dir.join("a.json");
        fs::write(dir.join("a.tmp"), b"{}").unwrap();
        commit(&dir.join("a.tmp"), &p).unwrap();
        assert_eq!(read_to_string(&p).unwrap(), "{}");
        assert!(exists(&p));
        assert_eq!(read_dir(&dir).unwrap(), vec![("a.json".to_string(), false)]);
        remove_file(&p).unwrap();
        assert!(!exists(&p));
        assert_eq!(open(&p).unwrap_err().kind(), io::ErrorKind::NotFound);
        fs::remove_dir_all(&dir).unwrap();
    }
}
