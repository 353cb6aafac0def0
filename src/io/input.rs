//! Input files: which files a pipeline reads ([`resolve_inputs`]) and the records in each
//! ([`open`]).
//!
//! Every reader streams: memory holds the current record (and, for parquet, one record batch),
//! never the file. A line longer than `max_line_bytes` is measured and skipped in chunks. Each
//! item a reader yields is one input record, in file order, and the same file always yields the
//! same sequence, so a resumed run can skip the first K items of a file. Records that cannot
//! become documents are yielded as [`Rejection`](crate::document::Rejection)s with a stable
//! reason key:
//!
//! | reason | when |
//! |---|---|
//! | `invalid_utf8` | the line (txt: paragraph or file) is not UTF-8 |
//! | `invalid_json` | the line is not JSON, or not a JSON object |
//! | `missing_text` | no text field, or it is null |
//! | `text_not_string` | the text field is not a string |
//! | `bad_id` | the id field is present but neither a string nor an integer |
//! | `line_too_long` | a line is over `max_line_bytes` (reading goes on at the next line) |
//! | `truncated_stream` | a gzip/zstd stream ends early or is corrupt (the last record of the file) |
//! | `read_error` | an I/O error while reading a plain file (the last record of the file) |
//! | `corrupt_parquet` | a parquet file is not readable parquet (one record for the file; reading goes on with the next file), or a row group cannot be decoded (one record for its unread rows; reading goes on at the next row group) |
//!
//! A parquet file without the text column is one `missing_text` record, one whose text column
//! does not hold strings one `text_not_string` record. WARC files have their own reasons (see
//! [`crate::io::read::warc`]) and records that are not documents (requests, metadata,
//! non-HTML responses) are *skipped*, counted by reason, neither documents nor rejections.
//!
//! A null field counts as absent: a null id gets a generated id, a null text is `missing_text`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufReader};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

use crate::config::{InputFormat, InputSpec, TxtMode};
use crate::document::Record;
pub use crate::io::read::jsonl::Pending;
use crate::io::read::jsonl::{Fields, JsonlRecords};
use crate::io::read::parquet::ParquetRecords;
use crate::io::read::txt::{whole_file, Paragraphs};
use crate::io::read::warc::WarcRecords;
use crate::io::read::Stream;

/// Read buffer size: large enough that lines are found in few `fill_buf` calls.
const READ_BUFFER_BYTES: usize = 256 * 1024;

/// File name endings and the format each one implies; longer endings first.
pub const KNOWN_EXTENSIONS: [(&str, InputFormat); 7] = [
    (".jsonl.gz", InputFormat::JsonlGz),
    (".jsonl.zst", InputFormat::JsonlZst),
    (".jsonl", InputFormat::Jsonl),
    (".parquet", InputFormat::Parquet),
    (".txt", InputFormat::Txt),
    (".warc.gz", InputFormat::Warc),
    (".warc", InputFormat::Warc),
];

/// The known endings as a list for messages: `.jsonl.gz, .jsonl.zst, ...`.
fn known_list() -> String {
    KNOWN_EXTENSIONS
        .iter()
        .map(|(ext, _)| *ext)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The format implied by a file name's ending (case-insensitive), if it is a known one.
pub fn format_from_name(name: &str) -> Option<InputFormat> {
    let name = name.to_ascii_lowercase();
    KNOWN_EXTENSIONS
        .iter()
        .find(|(ext, _)| name.ends_with(ext))
        .map(|(_, format)| *format)
}

/// One input file, resolved from the pipeline's `input.paths`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Where the file is opened from (absolute).
    pub path: PathBuf,
    /// The name used in documents and ids: relative to the pipeline's directory when the
    /// configured path was relative (or the file lies under that directory), with `/`
    /// separators, so ids do not depend on where the checkout lives.
    pub display: Arc<str>,
    /// The format the file is read as.
    pub format: InputFormat,
    /// Size in bytes when resolved.
    pub size: u64,
}

/// Why inputs could not be resolved or a file could not be opened. Every message names the
/// path or pattern.
#[derive(thiserror::Error, Debug)]
pub enum InputError {
    /// A configured path does not exist.
    #[error("input path `{path}` does not exist (looked for `{resolved}`)")]
    NotFound {
        /// The path as configured.
        path: String,
        /// Where it was looked for.
        resolved: String,
    },
    /// A glob pattern matched no file.
    #[error("input pattern `{pattern}` matches no files")]
    NoMatch {
        /// The pattern as configured.
        pattern: String,
    },
    /// A directory holds no file with a known extension.
    #[error("input directory `{path}` contains no files ending in {known}", known = known_list())]
    EmptyDir {
        /// The directory as configured.
        path: String,
    },
    /// A glob pattern is malformed.
    #[error("invalid input pattern `{pattern}`: {msg}")]
    Glob {
        /// The pattern as configured.
        pattern: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A file's format cannot be told from its name and `input.format` is not set.
    #[error("cannot tell the format of `{path}` from its name (known: {known}); set `input.format`", known = known_list())]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// A file or directory could not be inspected while resolving inputs.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file could not be opened for reading.
    #[error("cannot open input file `{path}`: {source}")]
    Open {
        /// The file.
        path: String,
        /// The operating system's error.
        source: io::Error,
    },
}

/// Resolves `spec.paths` (files, directories read recursively, glob patterns; relative to
/// `base_dir`) into input files sorted by display name, without duplicates.
///
/// Directories contribute their files with a known extension, skipping hidden entries (names
/// starting with `.`) and symlinked directories. Glob patterns follow shell rules (`*` stays in
/// one directory, `**` crosses them, hidden names need a literal `.`); a matched directory is
/// read like a configured one. A path or pattern that yields no file is an error.
pub fn resolve_inputs(spec: &InputSpec, base_dir: &Path) -> Result<Vec<InputFile>, InputError> {
    let base = clean(&std::path::absolute(base_dir).map_err(io_error(base_dir))?);
    // Keyed by the cleaned absolute path, so one file named twice is read once.
    let mut found: BTreeMap<PathBuf, InputFile> = BTreeMap::new();
    for entry in &spec.paths {
        if crate::storage::is_url(entry) {
            for file in object_inputs(entry, spec)? {
                found.entry(file.path.clone()).or_insert(file);
            }
            continue;
        }
        let full = base.join(entry);
        // A literal name that exists wins over reading it as a pattern (`data[1].jsonl`).
        let files = if is_glob(entry) && !full.exists() {
            glob_files(entry, &base)?
        } else {
            literal_files(entry, full)?
        };
        let relative = Path::new(entry).is_relative();
        for (path, format) in files {
            let key = clean(&path);
            if found.contains_key(&key) {
                continue;
            }
            let display = display_name(&key, &base, relative);
            let Some(format) = spec.format.or(format) else {
                return Err(InputError::UnknownFormat { path: display });
            };
            let size = fs::metadata(&path).map_err(io_error(&path))?.len();
            found.insert(
                key,
                InputFile {
                    path,
                    display: display.into(),
                    format,
                    size,
                },
            );
        }
    }
    let mut files: Vec<InputFile> = found.into_values().collect();
    files.sort_by(|a, b| a.display.cmp(&b.display));
    Ok(files)
}

/// The inputs an `s3://` entry names (see [`crate::storage::list_inputs`]). An object is named
/// in ids and `source` by its key, as a relative path is named relative to the pipeline, so one
/// tree of files gives the same ids on disk and in a bucket. A prefix contributes its objects
/// with a known extension (hidden names skipped, as in a directory); a literal object or a
/// pattern's matches need a format.
fn object_inputs(entry: &str, spec: &InputSpec) -> Result<Vec<InputFile>, InputError> {
    let io_error = |source| InputError::Io {
        path: entry.to_string(),
        source,
    };
    let url = crate::storage::Url::parse(entry)
        .ok_or_else(|| io_error(io::Error::other("not an s3://bucket/key address")))?;
    let listed = crate::storage::list_inputs(&url).map_err(io_error)?;
    let pattern = is_glob(entry);
    let mut out = Vec::new();
    for (object, size) in listed {
        let is_entry = object == url;
        let hidden = object.key.split('/').any(|c| c.starts_with('.'));
        let format = spec.format.or_else(|| format_from_name(&object.key));
        if !pattern && !is_entry && (hidden || format_from_name(&object.key).is_none()) {
            continue;
        }
        let Some(format) = format else {
            return Err(InputError::UnknownFormat {
                path: object.to_string(),
            });
        };
        out.push(InputFile {
            path: PathBuf::from(object.to_string()),
            display: object.key.into(),
            format,
            size,
        });
    }
    if out.is_empty() {
        return Err(if pattern {
            InputError::NoMatch {
                pattern: entry.to_string(),
            }
        } else {
            InputError::NotFound {
                path: entry.to_string(),
                resolved: "no object with a known extension under this prefix".into(),
            }
        });
    }
    Ok(out)
}

/// Splits `files` into `count` groups balanced by size, deterministically: largest first to the
/// least-loaded group (lowest index on ties); each group is returned in path order. This is how
/// the input files of a run are shared out among its tasks.
pub fn partition(files: &[InputFile], count: usize) -> Vec<Vec<InputFile>> {
    let count = count.max(1);
    let mut order: Vec<&InputFile> = files.iter().collect();
    order.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.display.cmp(&b.display)));
    let mut load = vec![0u64; count];
    let mut groups: Vec<Vec<InputFile>> = vec![Vec::new(); count];
    for f in order {
        let (i, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(i, l)| (**l, *i))
            .unwrap_or((0, &0));
        load[i] += f.size.max(1);
        groups[i].push(f.clone());
    }
    for g in &mut groups {
        g.sort_by(|a, b| a.display.cmp(&b.display));
    }
    groups
}

/// The rank of every file in `files` among `all` (every resolved input of the run), in the
/// path order a single-task run reads them in.
pub fn file_ranks(all: &[InputFile], files: &[InputFile]) -> Vec<u64> {
    let mut order: Vec<&str> = all.iter().map(|f| &*f.display).collect();
    order.sort_unstable();
    files
        .iter()
        .map(|f| order.binary_search(&&*f.display).map_or(0, |i| i as u64))
        .collect()
}

/// A closure turning an I/O error on `path` into [`InputError::Io`].
fn io_error(path: &Path) -> impl FnOnce(io::Error) -> InputError {
    let path = path.display().to_string();
    move |source| InputError::Io { path, source }
}

/// The file or the files under the directory that `entry` (resolved to `full`) names, with the
/// format their names imply.
fn literal_files(
    entry: &str,
    full: PathBuf,
) -> Result<Vec<(PathBuf, Option<InputFormat>)>, InputError> {
    let meta = match fs::metadata(&full) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let resolved = clean(&full).display().to_string();
            return Err(InputError::NotFound {
                path: entry.to_string(),
                resolved,
            });
        }
        Err(e) => return Err(io_error(&full)(e)),
    };
    if !meta.is_dir() {
        let format = name_format(&full);
        return Ok(vec![(full, format)]);
    }
    let files = walk(&full)?;
    if files.is_empty() {
        return Err(InputError::EmptyDir {
            path: entry.to_string(),
        });
    }
    Ok(files
        .into_iter()
        .map(|(path, format)| (path, Some(format)))
        .collect())
}

/// The files the glob pattern `entry` matches (relative patterns under `base`); matched
/// directories contribute the files [`walk`] finds in them.
fn glob_files(entry: &str, base: &Path) -> Result<Vec<(PathBuf, Option<InputFormat>)>, InputError> {
    let glob_error = |msg: String| InputError::Glob {
        pattern: entry.to_string(),
        msg,
    };
    let relative = Path::new(entry).is_relative();
    let pattern = if relative {
        let base_str = base.to_str().ok_or_else(|| {
            glob_error(format!(
                "the pipeline directory `{}` is not UTF-8",
                base.display()
            ))
        })?;
        format!("{}/{}", glob::Pattern::escape(base_str), entry)
    } else {
        entry.to_string()
    };
    // The glob crate's own hidden-name option drops hidden names even where the pattern spells
    // out the dot (and panics on non-UTF-8 names), so hidden names are filtered here: skipped
    // below the pattern's literal prefix unless the pattern has a component starting with '.'.
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let literal_prefix = Path::new(entry)
        .components()
        .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
        .count()
        + if relative {
            base.components().count()
        } else {
            0
        };
    let wants_hidden = entry
        .split(['/', '\\'])
        .any(|c| c.starts_with('.') && c != "." && c != "..");
    let hidden = |path: &Path| {
        path.components()
            .skip(literal_prefix)
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    };
    let matches = glob::glob_with(&pattern, options).map_err(|e| glob_error(e.to_string()))?;
    let mut out = Vec::new();
    for m in matches {
        let path = m.map_err(|e| InputError::Io {
            path: e.path().display().to_string(),
            source: io::Error::new(e.error().kind(), e.error().to_string()),
        })?;
        if !wants_hidden && hidden(&path) {
            continue;
        }
        if path.is_dir() {
            out.extend(
                walk(&path)?
                    .into_iter()
                    .map(|(path, format)| (path, Some(format))),
            );
        } else {
            let format = name_format(&path);
            out.push((path, format));
        }
    }
    if out.is_empty() {
        return Err(InputError::NoMatch {
            pattern: entry.to_string(),
        });
    }
    Ok(out)
}

/// Opens `file` and returns its records in file order (skipped records left out). Fails only
/// when the file cannot be opened at all; every problem inside it is a rejected record.
pub fn open(
    file: &InputFile,
    spec: &InputSpec,
) -> Result<Box<dyn Iterator<Item = Record> + Send>, InputError> {
    Ok(Box::new(
        open_pending(file, spec)?.filter_map(Pending::resolve),
    ))
}

/// Like [`open`], but JSON lines come unparsed ([`Pending::Json`]), for the caller to parse in
/// parallel with [`Pending::resolve`]. The sequence of records is the same.
pub fn open_pending(
    file: &InputFile,
    spec: &InputSpec,
) -> Result<Box<dyn Iterator<Item = Pending> + Send>, InputError> {
    let done =
        |it: Box<dyn Iterator<Item = Record> + Send>| -> Box<dyn Iterator<Item = Pending> + Send> {
            Box::new(it.map(Pending::Done))
        };
    let open_err = |source| InputError::Open {
        path: file.display.to_string(),
        source,
    };
    let input = crate::storage::open_input(&file.path, file.size).map_err(open_err)?;
    let source = file.display.clone();
    // Parquet reads at offsets; every other format front to back.
    if file.format == InputFormat::Parquet {
        return Ok(
            match ParquetRecords::open(
                input,
                source.clone(),
                &spec.text_field,
                spec.id_field.as_deref(),
                &spec.metadata_fields,
            ) {
                Ok(records) => done(Box::new(records)),
                // A file that cannot be read as parquet at all is one rejected record.
                Err(e) => done(Box::new(std::iter::once(Err(crate::io::read::reject(
                    &source,
                    crate::document::Location::File,
                    e.reason,
                    e.detail,
                    String::new(),
                ))))),
            },
        );
    }
    let handle = input.reader().map_err(open_err)?;
    let max = spec.max_line_bytes;
    let fields = || Fields {
        text: spec.text_field.clone(),
        id: spec.id_field.clone(),
        metadata: spec.metadata_fields.clone(),
    };
    let buffered = |handle| BufReader::with_capacity(READ_BUFFER_BYTES, handle);
    Ok(match file.format {
        InputFormat::Jsonl => Box::new(JsonlRecords::new(
            buffered(handle),
            source,
            fields(),
            Stream::Plain,
            max,
        )),
        InputFormat::JsonlGz => {
            let decoder = MultiGzDecoder::new(buffered(handle));
            let reader = BufReader::with_capacity(READ_BUFFER_BYTES, decoder);
            Box::new(JsonlRecords::new(
                reader,
                source,
                fields(),
                Stream::Compressed,
                max,
            ))
        }
        InputFormat::JsonlZst => {
            let decoder = zstd::Decoder::new(handle).map_err(open_err)?;
            let reader = BufReader::with_capacity(READ_BUFFER_BYTES, decoder);
            Box::new(JsonlRecords::new(
                reader,
                source,
                fields(),
                Stream::Compressed,
                max,
            ))
        }
        InputFormat::Parquet => unreachable!("parquet is read above"),
        InputFormat::Warc => Box::new(WarcRecords::new(
            handle,
            source,
            spec.max_record_bytes
                .unwrap_or(crate::config::DEFAULT_MAX_RECORD_BYTES),
        )),
        InputFormat::Txt => match spec.txt_mode {
            TxtMode::File => {
                let reader = buffered(handle);
                done(Box::new(std::iter::once_with(move || {
                    whole_file(reader, source, max)
                })))
            }
            TxtMode::Paragraphs => done(Box::new(Paragraphs::new(buffered(handle), source, max))),
        },
    })
}

/// True when a configured path is a glob pattern rather than a literal path.
fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// The format implied by a path's file name.
fn name_format(path: &Path) -> Option<InputFormat> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(format_from_name)
}

/// Files with a known extension under `dir`, recursively, skipping hidden entries and not
/// following symlinked directories (which could loop); symlinked files are read.
fn walk(dir: &Path) -> Result<Vec<(PathBuf, InputFormat)>, InputError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(io_error(&dir))?;
        for entry in entries {
            let entry = entry.map_err(io_error(&dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(io_error(&path))?;
            if kind.is_dir() {
                stack.push(path);
            } else if let Some(format) = format_from_name(name) {
                // A broken or directory symlink is not an input file.
                if kind.is_file() || path.is_file() {
                    out.push((path, format));
                }
            }
        }
    }
    Ok(out)
}

/// `path` without `.` components and with `..` folded into its parent, without touching the
/// file system (a leading `..` stays: `../a/../b` is `../b`).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !matches!(out.components().next_back(), Some(Component::RootDir)) {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The display name of `path` (cleaned, absolute): relative to `base` when it lies under it or
/// when it was configured relative, else absolute; always with `/` separators.
fn display_name(path: &Path, base: &Path, relative: bool) -> String {
    let join = |parts: Vec<String>| parts.join("/");
    let names = |p: &Path| -> Vec<String> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect()
    };
    if let Ok(rest) = path.strip_prefix(base) {
        return join(names(rest));
    }
    let root = |p: &Path| {
        p.components()
            .take_while(|c| matches!(c, Component::Prefix(_) | Component::RootDir))
            .collect::<PathBuf>()
    };
    if !relative || root(path) != root(base) {
        return path.to_string_lossy().replace('\\', "/");
    }
    let (p, b) = (names(path), names(base));
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts = vec!["..".to_string(); b.len() - common];
    parts.extend(p[common..].iter().cloned());
    join(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_names() {
        assert_eq!(format_from_name("a.JSONL.GZ"), Some(InputFormat::JsonlGz));
        assert_eq!(format_from_name("a.jsonl.zst"), Some(InputFormat::JsonlZst));
        assert_eq!(format_from_name("a.parquet"), Some(InputFormat::Parquet));
        assert_eq!(format_from_name("a.json"), None);
        assert_eq!(format_from_name("a.jsonl.bz2"), None);
    }

    #[test]
    fn cleans_lexically() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(clean(Path::new("/../a")), PathBuf::from("/a"));
    }

    #[test]
    fn display_names() {
        let base = Path::new("/w/pipelines");
        assert_eq!(
            display_name(Path::new("/w/pipelines/d/a.jsonl"), base, true),
            "d/a.jsonl"
        );
        assert_eq!(
            display_name(Path::new("/w/pipelines/d/a.jsonl"), base, false),
            "d/a.jsonl"
        );
        assert_eq!(
            display_name(Path::new("/w/fixtures/a.jsonl"), base, true),
            "../fixtures/a.jsonl"
        );
        assert_eq!(
            display_name(Path::new("/data/a.jsonl"), base, false),
            "/data/a.jsonl"
        );
    }
}
