//! The object store client: `s3://bucket/key` addresses, one S3 client per bucket (endpoint,
//! region and credentials from the usual `AWS_*` variables or an `~/.aws` profile), retries with
//! backoff, whole-object and ranged reads, and atomic writes (one put, or a multipart upload that
//! becomes visible only when its last part is in).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};

/// The scheme of object store addresses.
pub const SCHEME: &str = "s3://";

/// Objects up to this size are written with one request; larger ones in parts of this size.
const PART_BYTES: usize = 8 << 20;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 4;
/// Bytes fetched per ranged read when streaming an object.
const CHUNK_BYTES: u64 = 8 << 20;
/// How long a request is retried (with backoff) before the operation fails; the environment
/// variable [`RETRY_ENV`] overrides it.
const RETRY_SECONDS: u64 = 120;
/// Seconds a failing request is retried for before the operation fails.
pub const RETRY_ENV: &str = "CORPUSFORGE_STORE_RETRY_SECONDS";

/// An object (or a prefix) in a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url {
    /// The bucket.
    pub bucket: String,
    /// The key, without leading or trailing `/` (empty: the whole bucket).
    pub key: String,
}

impl Url {
    /// `s3://bucket/key` parsed; `None` for anything else (a local path).
    pub fn parse(s: &str) -> Option<Url> {
        let rest = s.strip_prefix(SCHEME)?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(Url {
            bucket: bucket.to_string(),
            key: key.trim_matches('/').to_string(),
        })
    }

    /// The object `rel` (a `/`-separated relative name) under this prefix.
    pub fn join(&self, rel: &str) -> Url {
        let rel = rel.trim_matches('/');
        let key = match (self.key.is_empty(), rel.is_empty()) {
            (_, true) => self.key.clone(),
            (true, false) => rel.to_string(),
            (false, false) => format!("{}/{rel}", self.key),
        };
        Url {
            bucket: self.bucket.clone(),
            key,
        }
    }

    fn path(&self) -> Key {
        Key::from(self.key.as_str())
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.bucket, self.key)
    }
}

/// True when `s` is an object store address rather than a local path.
pub fn is_url(s: &str) -> bool {
    s.starts_with(SCHEME)
}

/// The runtime the client's requests run on (the rest of the program is synchronous).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("corpusforge-store")
            .enable_all()
            .build()
            .expect("starting the object store runtime")
    })
}

/// Runs `f` to completion on the store's runtime, from a thread outside it.
fn block_on<F: Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// An error of an operation on `url` as an I/O error whose message names the object.
fn err(url: &Url, e: object_store::Error) -> io::Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{url}: {e}"))
}

fn retry_config() -> RetryConfig {
    let seconds = std::env::var(RETRY_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(RETRY_SECONDS);
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: Duration::from_secs(seconds),
    }
}

/// `(key, value)` settings of the `[section]` of an ini-style AWS file, lower-cased keys.
fn ini_section(path: &Path, section: &str) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim();
            inside =
                name == section || name.strip_prefix("profile ").map(str::trim) == Some(section);
            continue;
        }
        if inside {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
    }
    out
}

/// The S3 client for `bucket`: the `AWS_*` environment variables (`AWS_ENDPOINT_URL`,
/// `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_ALLOW_HTTP`, ...) and, for what they leave unset, the profile `AWS_PROFILE` (default
/// `default`) of `~/.aws/credentials` and `~/.aws/config`.
fn client(bucket: &str) -> io::Result<Arc<dyn ObjectStore>> {
    static CLIENTS: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let clients = CLIENTS.get_or_init(Default::default);
    let mut map = clients.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(c) = map.get(bucket) {
        return Ok(c.clone());
    }
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry_config());
    if let Some(home) = std::env::var_os("HOME") {
        let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
        let aws = Path::new(&home).join(".aws");
        let mut settings = ini_section(&aws.join("config"), &profile);
        settings.extend(ini_section(&aws.join("credentials"), &profile));
        for (k, v) in settings {
            let env = format!("AWS_{}", k.to_ascii_uppercase());
            if std::env::var_os(&env).is_some() {
                continue;
            }
            let key = match k.as_str() {
                "region" => "aws_region",
                "endpoint_url" => "aws_endpoint",
                "aws_access_key_id" | "aws_secret_access_key" | "aws_session_token" => k.as_str(),
                _ => continue,
            };
            if let Ok(config_key) = key.parse() {
                builder = builder.with_config(config_key, v);
            }
        }
    }
    let c: Arc<dyn ObjectStore> = Arc::new(builder.build().map_err(|e| {
        io::Error::other(format!(
            "{SCHEME}{bucket}: cannot configure the S3 client: {e}"
        ))
    })?);
    map.insert(bucket.to_string(), c.clone());
    Ok(c)
}

/// Checks that the bucket of `url` exists and the credentials may list it, with one request.
pub fn check_access(url: &Url) -> io::Result<()> {
    any_under(url).map(|_| ()).map_err(|e| access_err(url, e))
}

/// Whether something lies under the prefix `url` (one listing request for one name).
fn any_under(url: &Url) -> Result<bool, object_store::Error> {
    let c = client(&url.bucket).map_err(|e| object_store::Error::Generic {
        store: "S3",
        source: Box::new(e),
    })?;
    let prefix = url.path();
    block_on(async {
        let mut s = c.list((!url.key.is_empty()).then_some(&prefix));
        s.try_next().await.map(|m| m.is_some())
    })
}

/// A failed listing of `url` as an error that says the likely cause: no such bucket, refused
/// credentials, or no store at the endpoint.
fn access_err(url: &Url, e: object_store::Error) -> io::Error {
    let text = e.to_string();
    let hint = if text.contains("NoSuchBucket") {
        "the bucket does not exist"
    } else if text.contains("InvalidAccessKeyId")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("403")
        || text.contains("AccessDenied")
    {
        "the credentials were refused (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_PROFILE)"
    } else {
        "the store could not be reached (AWS_ENDPOINT_URL, network)"
    };
    io::Error::other(format!("{url}: {hint}: {text}"))
}

/// Size of the object.
pub fn head(url: &Url) -> io::Result<u64> {
    let c = client(&url.bucket)?;
    block_on(c.head(&url.path()))
        .map(|m| m.size)
        .map_err(|e| err(url, e))
}

/// Bytes `range` of the object.
pub fn get_range(url: &Url, range: Range<u64>) -> io::Result<Bytes> {
    let c = client(&url.bucket)?;
    block_on(c.get_range(&url.path(), range)).map_err(|e| err(url, e))
}

/// Every object under the prefix `url` (a directory-like prefix: `a/b` lists `a/b/...`, and the
/// object `a/b` itself if there is one), as `(key, size)` sorted by key.
pub fn list(url: &Url) -> io::Result<Vec<(String, u64)>> {
    let c = client(&url.bucket)?;
    let prefix = url.path();
    let mut out: Vec<(String, u64)> = block_on(async {
        c.list((!url.key.is_empty()).then_some(&prefix))
            .map_ok(|m| (m.location.to_string(), m.size))
            .try_collect::<Vec<_>>()
            .await
    })
    .map_err(|e| access_err(url, e))?;
    if !url.key.is_empty() {
        if let Ok(size) = head(url) {
            out.push((url.key.clone(), size));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The names directly under the prefix `url`, as `(name, is_prefix)`: objects, and the
/// "directories" that hold more (one request per 1,000 names, not a walk of everything below).
pub fn list_children(url: &Url) -> io::Result<Vec<(String, bool)>> {
    let c = client(&url.bucket)?;
    let prefix = url.path();
    let r = block_on(c.list_with_delimiter((!url.key.is_empty()).then_some(&prefix)))
        .map_err(|e| err(url, e))?;
    let name = |p: &Key| p.filename().unwrap_or_default().to_string();
    let mut out: Vec<(String, bool)> = r.common_prefixes.iter().map(|p| (name(p), true)).collect();
    out.extend(r.objects.iter().map(|m| (name(&m.location), false)));
    Ok(out)
}

/// True when the object `url` exists or something lies under it as a prefix.
pub fn exists(url: &Url) -> io::Result<bool> {
    if head(url).is_ok() {
        return Ok(true);
    }
    any_under(url).map_err(|e| err(url, e))
}

/// Writes the object from the local file `local`: one request up to [`PART_BYTES`], a
/// multipart upload otherwise (aborted on failure). Either way the object appears whole or not
/// at all.
pub fn put_file(local: &Path, url: &Url) -> io::Result<()> {
    let c = client(&url.bucket)?;
    let mut f = std::fs::File::open(local)?;
    let size = f.metadata()?.len();
    if size as usize <= PART_BYTES {
        let mut buf = Vec::with_capacity(size as usize);
        f.read_to_end(&mut buf)?;
        return block_on(c.put(&url.path(), PutPayload::from(buf)))
            .map(|_| ())
            .map_err(|e| err(url, e));
    }
    block_on(async {
        let upload = c.put_multipart(&url.path()).await?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; PART_BYTES];
        loop {
            let n = match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(object_store::Error::Generic {
                        store: "local",
                        source: Box::new(e),
                    });
                }
            };
            if let Err(e) = w.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = w.abort().await;
                return Err(e);
            }
            w.write(&buf[..n]);
        }
        w.finish().await.map(|_| ())
    })
    .map_err(|e| err(url, e))
}

/// Streams the object into the local file `local` (through a temporary name beside it).
pub fn get_file(url: &Url, local: &Path) -> io::Result<()> {
    let c = client(&url.bucket)?;
    if let Some(dir) = local.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut name = local.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".fetch-{}", std::process::id()));
    let tmp = local.with_file_name(name);
    let result = (|| -> io::Result<()> {
        let mut out = io::BufWriter::new(std::fs::File::create(&tmp)?);
        block_on(async {
            let mut stream = c.get(&url.path()).await?.into_stream();
            while let Some(chunk) = stream.try_next().await? {
                out.write_all(&chunk)
                    .map_err(|e| object_store::Error::Generic {
                        store: "local",
                        source: Box::new(e),
                    })?;
            }
            Ok::<_, object_store::Error>(())
        })
        .map_err(|e| err(url, e))?;
        out.flush()?;
        drop(out);
        std::fs::rename(&tmp, local)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Deletes the object (absent is fine).
pub fn delete(url: &Url) -> io::Result<()> {
    let c = client(&url.bucket)?;
    match block_on(c.delete(&url.path())) {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(err(url, e)),
    }
}

/// Deletes every object under the prefix `url`.
pub fn delete_prefix(url: &Url) -> io::Result<()> {
    for (key, _) in list(url)? {
        delete(&Url {
            bucket: url.bucket.clone(),
            key,
        })?;
    }
    Ok(())
}

/// An object read front to back with ranged requests of [`CHUNK_BYTES`], the next chunk
/// fetched while the current one is consumed: at most two chunks in memory.
pub struct ObjectReader {
    url: Url,
    client: Arc<dyn ObjectStore>,
    size: u64,
    /// Offset of the next chunk to request.
    next_start: u64,
    chunk: Bytes,
    used: usize,
    prefetch: Option<tokio::task::JoinHandle<object_store::Result<Bytes>>>,
}

impl ObjectReader {
    /// Reads the object of `size` bytes from `start`.
    pub fn open(url: &Url, size: u64, start: u64) -> io::Result<ObjectReader> {
        Ok(ObjectReader {
            client: client(&url.bucket)?,
            url: url.clone(),
            size,
            next_start: start.min(size),
            chunk: Bytes::new(),
            used: 0,
            prefetch: None,
        })
    }

    fn request(&mut self) -> Option<tokio::task::JoinHandle<object_store::Result<Bytes>>> {
        if self.next_start >= self.size {
            return None;
        }
        let end = (self.next_start + CHUNK_BYTES).min(self.size);
        let (c, key) = (self.client.clone(), self.url.path());
        let range = self.next_start..end;
        self.next_start = end;
        Some(runtime().spawn(async move { c.get_range(&key, range).await }))
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.used == self.chunk.len() {
            let Some(pending) = self.prefetch.take().or_else(|| self.request()) else {
                return Ok(0);
            };
            let got = block_on(pending)
                .map_err(|e| io::Error::other(format!("{}: {e}", self.url)))?
                .map_err(|e| err(&self.url, e))?;
            self.chunk = got;
            self.used = 0;
            self.prefetch = self.request();
            if self.chunk.is_empty() {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.chunk.len() - self.used);
        buf[..n].copy_from_slice(&self.chunk[self.used..self.used + n]);
        self.used += n;
        Ok(n)
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        if let Some(p) = self.prefetch.take() {
            p.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_read_from_ini_files() {
        let dir = std::env::temp_dir().join(format!("cf-ini-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("config");
        std::fs::write(
            &p,
            "[default]\nregion = eu-west-1\n\n# a comment\n[profile lab]\nRegion=us-east-2\nendpoint_url = http://h:9000\n",
        )
        .unwrap();
        assert_eq!(
            ini_section(&p, "default"),
            [("region".to_string(), "eu-west-1".to_string())]
        );
        assert_eq!(
            ini_section(&p, "lab"),
            [
                ("region".to_string(), "us-east-2".to_string()),
                ("endpoint_url".to_string(), "http://h:9000".to_string())
            ]
        );
        assert!(ini_section(&p, "none").is_empty());
        assert!(ini_section(&dir.join("absent"), "default").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
