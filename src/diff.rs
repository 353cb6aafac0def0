//! `corpusforge diff OUT_A OUT_B`: do two run outputs hold the same data?
//!
//! This is how a run split over N tasks (e.g. on Slurm) is shown to give the same result as a
//! single-process run. The two outputs name and group their shards differently
//! (`documents/part-00000.parquet` against `documents/part-t00000-00000.parquet`,
//! `part-t00001-00000.parquet`, ..., and with `output.partition_by: lang` under
//! `documents/lang=xx/`), so [`diff`] compares contents, never file names or file bytes:
//!
//! 1. the datasets `documents`, `dropped`, `rejected`, `tokens/train` and `tokens/val`: every
//!    `*.parquet` under the dataset's directory (recursively, skipping hidden entries such as
//!    `.segments/` and `.part-*.tmp`) is read into one table per side, the rows of both sides are
//!    ordered by the dataset's key ([`DATASETS`]; the whole row breaks ties), matched by key,
//!    and compared value by value (nulls equal nulls; floats equal when their bits are equal).
//!    Column names, order and types must match too. A directory without shards counts as
//!    absent: the writer makes no shard for an empty dataset.
//! 2. `tokenizer.json`, byte for byte.
//! 3. `stats.json`, field by field, except wall times (`seconds`) and the counters in
//!    [`IGNORED_COUNTERS`], which depend on memory settings rather than on the data. A count
//!    absent from a map equals 0 there, since merged per-task stats may carry zero entries a
//!    single run never made.
//!
//! Each is compared only where at least one side has it; present on one side only is a
//! difference.
//!
//! Memory: each dataset is loaded whole, both sides at once, together with a row encoding of
//! it, so about three times its decoded size. That suits the test-sized outputs this command is
//! meant for, not a full corpus.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::row::{RowConverter, Rows, SortField};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::runner::{RunStats, StageStats};

/// The datasets compared, each with the columns its rows are matched by, in order.
pub const DATASETS: [(&str, &[&str]); 5] = [
    ("documents", &["id"]),
    ("dropped", &["id"]),
    ("rejected", &["source", "line", "row_group", "row"]),
    ("tokens/train", &["doc_id"]),
    ("tokens/val", &["doc_id"]),
];

/// Stage counters left out of the comparison: they depend on memory settings, not on the data.
pub const IGNORED_COUNTERS: [&str; 2] = ["index_spilled", "spill_failed"];

/// Differing rows shown per dataset.
const MAX_EXAMPLES: usize = 5;
/// Characters of a value shown at most.
const MAX_CHARS: usize = 80;
/// Characters shown before the first difference of two long values.
const CONTEXT_CHARS: usize = 20;

/// Errors while reading the outputs; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// An output directory does not exist (or is not a directory).
    #[error("{path}: no such output directory")]
    NoOutput {
        /// The directory given.
        path: PathBuf,
    },
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A parquet shard could not be read, or does not fit its dataset's other shards.
    #[error("{path}: {message}")]
    Parquet {
        /// The shard (or the dataset's directory when combining shards failed).
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// `stats.json` could not be parsed.
    #[error("{path}: {message}")]
    Stats {
        /// The `stats.json` file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// What differs between two outputs (empty when they agree).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffReport {
    /// One line per item compared, e.g. `documents: 1234 rows`.
    pub compared: Vec<String>,
    /// One line per difference found, each starting with the item's name.
    pub differences: Vec<String>,
}

impl DiffReport {
    /// True when no difference was found.
    pub fn is_same(&self) -> bool {
        self.differences.is_empty()
    }
}

/// Compares the run outputs `a` and `b` (see the module doc for what is compared).
pub fn diff(a: &Path, b: &Path) -> Result<DiffReport, DiffError> {
    for dir in [a, b] {
        if !dir.is_dir() {
            return Err(DiffError::NoOutput {
                path: dir.to_path_buf(),
            });
        }
    }
    let mut report = DiffReport::default();
    for (name, key) in DATASETS {
        let (da, db) = (a.join(name), b.join(name));
        let (x, y) = (load_dataset(&da)?, load_dataset(&db)?);
        match (x, y) {
            (None, None) => {}
            (Some(x), None) => one_sided(&mut report, name, "A", &rows(x.num_rows())),
            (None, Some(y)) => one_sided(&mut report, name, "B", &rows(y.num_rows())),
            (Some(x), Some(y)) => {
                compare_tables(name, key, &x, &y, &mut report).map_err(|e| DiffError::Parquet {
                    path: da.clone(),
                    message: e.to_string(),
                })?;
            }
        }
    }
    compare_tokenizer(a, b, &mut report)?;
    let (x, y) = (load_stats(a)?, load_stats(b)?);
    match (x, y) {
        (None, None) => {}
        (Some(x), None) => one_sided(&mut report, "stats.json", "A", &stages(&x)),
        (None, Some(y)) => one_sided(&mut report, "stats.json", "B", &stages(&y)),
        (Some(x), Some(y)) => {
            report.compared.push(if x.stages.len() == y.stages.len() {
                format!("stats.json: {}", stages(&x))
            } else {
                format!("stats.json: {} in A, {} in B", stages(&x), stages(&y))
            });
            report.differences.extend(compare_stats(&x, &y));
        }
    }
    Ok(report)
}

/// `1 row`, `2 rows`.
fn rows(n: usize) -> String {
    if n == 1 {
        "1 row".to_string()
    } else {
        format!("{n} rows")
    }
}

fn stages(s: &RunStats) -> String {
    if s.stages.len() == 1 {
        "1 stage".to_string()
    } else {
        format!("{} stages", s.stages.len())
    }
}

/// Records an item that only `side` has; `what` describes its size.
fn one_sided(report: &mut DiffReport, name: &str, side: &str, what: &str) {
    let other = if side == "A" { "B" } else { "A" };
    report
        .compared
        .push(format!("{name}: {what} in {side}, absent in {other}"));
    report
        .differences
        .push(format!("{name}: only in {side} ({what})"));
}

// ---------------------------------------------------------------------------------------------
// Datasets

/// The shards under `dir`: `*.parquet` files, recursively, skipping hidden entries; sorted.
fn shard_files(dir: &Path) -> Result<Vec<PathBuf>, DiffError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DiffError> {
        let io = |source| DiffError::Io {
            path: dir.to_path_buf(),
            source,
        };
        for entry in fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if name.ends_with(".parquet") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if dir.is_dir() {
        walk(dir, &mut out)?;
    }
    out.sort();
    Ok(out)
}

/// All shards of the dataset in `dir` as one table, or `None` when it has no shard.
fn load_dataset(dir: &Path) -> Result<Option<RecordBatch>, DiffError> {
    let files = shard_files(dir)?;
    let Some(first) = files.first() else {
        return Ok(None);
    };
    let mut schema = None;
    let mut batches = Vec::new();
    for path in &files {
        let pq = |e: &dyn std::fmt::Display| DiffError::Parquet {
            path: path.clone(),
            message: e.to_string(),
        };
        let file = File::open(path).map_err(|source| DiffError::Io {
            path: path.clone(),
            source,
        })?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| pq(&e))?;
        let this = builder.schema().clone();
        let first_schema = schema.get_or_insert_with(|| this.clone());
        if columns(first_schema) != columns(&this) {
            return Err(pq(&format!(
                "columns {:?} differ from those of {} ({:?})",
                columns(&this),
                first.display(),
                columns(first_schema)
            )));
        }
        for batch in builder.build().map_err(|e| pq(&e))? {
            batches.push(batch.map_err(|e| pq(&e))?);
        }
    }
    let schema = schema.expect("at least one shard was read");
    arrow::compute::concat_batches(&schema, &batches)
        .map(Some)
        .map_err(|e| DiffError::Parquet {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })
}

/// Names and types of a schema's columns (nullability and metadata aside).
fn columns(schema: &arrow::datatypes::Schema) -> Vec<(String, DataType)> {
    schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect()
}

/// Row counts of a value comparison, and the first differing rows.
#[derive(Default)]
struct Tally {
    only_a: usize,
    only_b: usize,
    differing: usize,
    examples: Vec<String>,
}

/// Both sides of one dataset, reduced to the columns they share.
struct Sides<'a> {
    name: &'a str,
    x: &'a RecordBatch,
    y: &'a RecordBatch,
    /// `(column in x, column in y)` of each shared column of the same type, in `x`'s order.
    common: Vec<(usize, usize)>,
    /// Positions in `common` of the key columns.
    key: Vec<usize>,
}

impl Sides<'_> {
    /// `id="d1"`: the non-null key values of row `i` of side A (`a`) or B.
    fn key_label(&self, a: bool, i: usize) -> String {
        let batch = if a { self.x } else { self.y };
        let parts: Vec<String> = self
            .key
            .iter()
            .filter_map(|&k| {
                let c = if a {
                    self.common[k].0
                } else {
                    self.common[k].1
                };
                let name = batch.schema_ref().field(c).name().clone();
                match cell(batch.column(c).as_ref(), i) {
                    Cell::Null => None,
                    v => Some(format!("{name}={}", v.render(0))),
                }
            })
            .collect();
        if parts.is_empty() {
            "(null key)".to_string()
        } else {
            parts.join(" ")
        }
    }

    fn only(&self, t: &mut Tally, a: bool, i: usize) {
        if a {
            t.only_a += 1;
        } else {
            t.only_b += 1;
        }
        if t.examples.len() < MAX_EXAMPLES {
            let side = if a { "A" } else { "B" };
            t.examples.push(format!(
                "{}: {}: only in {side}",
                self.name,
                self.key_label(a, i)
            ));
        }
    }

    fn differing(&self, t: &mut Tally, i: usize, j: usize) -> Result<(), ArrowError> {
        t.differing += 1;
        if t.examples.len() >= MAX_EXAMPLES {
            return Ok(());
        }
        let mut cols = Vec::new();
        for &(ca, cb) in &self.common {
            let (va, vb) = (self.x.column(ca), self.y.column(cb));
            if !cell_eq(va, i, vb, j)? {
                let (p, q) = (cell(va.as_ref(), i), cell(vb.as_ref(), j));
                let start = p.first_difference(&q).saturating_sub(CONTEXT_CHARS);
                cols.push(format!(
                    "{}: {} vs {}",
                    self.x.schema_ref().field(ca).name(),
                    p.render(start),
                    q.render(start)
                ));
            }
        }
        t.examples.push(format!(
            "{}: {}: {}",
            self.name,
            self.key_label(true, i),
            cols.join("; ")
        ));
        Ok(())
    }
}

/// Compares two tables of dataset `name`, matching rows by the `key` columns.
fn compare_tables(
    name: &str,
    key: &[&str],
    x: &RecordBatch,
    y: &RecordBatch,
    report: &mut DiffReport,
) -> Result<(), ArrowError> {
    let (na, nb) = (x.num_rows(), y.num_rows());
    report.compared.push(if na == nb {
        format!("{name}: {}", rows(na))
    } else {
        format!("{name}: {} in A, {nb} in B", rows(na))
    });
    let out = &mut report.differences;

    let (sa, sb) = (x.schema(), y.schema());
    let mut common = Vec::new();
    for (ca, f) in sa.fields().iter().enumerate() {
        match sb.index_of(f.name()) {
            Err(_) => out.push(format!("{name}: column {:?} only in A", f.name())),
            Ok(cb) => {
                let g = sb.field(cb);
                if f.data_type() == g.data_type() {
                    common.push((ca, cb));
                } else {
                    out.push(format!(
                        "{name}: column {:?}: {} in A, {} in B",
                        f.name(),
                        f.data_type(),
                        g.data_type()
                    ));
                }
            }
        }
    }
    for g in sb.fields() {
        if sa.index_of(g.name()).is_err() {
            out.push(format!("{name}: column {:?} only in B", g.name()));
        }
    }
    let names = |s: &arrow::datatypes::Schema| -> Vec<String> {
        s.fields().iter().map(|f| f.name().clone()).collect()
    };
    let (la, lb) = (names(&sa), names(&sb));
    let same_set = la.iter().collect::<BTreeSet<_>>() == lb.iter().collect::<BTreeSet<_>>();
    if same_set && la != lb {
        out.push(format!(
            "{name}: column order: [{}] vs [{}]",
            la.join(", "),
            lb.join(", ")
        ));
    }
    if na != nb {
        out.push(format!("{name}: {} in A, {nb} in B", rows(na)));
    }
    if common.is_empty() {
        return Ok(());
    }

    let mut key_pos: Vec<usize> = key
        .iter()
        .filter_map(|k| common.iter().position(|&(ca, _)| sa.field(ca).name() == k))
        .collect();
    if key_pos.is_empty() {
        key_pos = (0..common.len()).collect();
    }
    let sides = Sides {
        name,
        x,
        y,
        common,
        key: key_pos,
    };
    let field = |c: usize| SortField::new(sa.field(c).data_type().clone());
    let full = RowConverter::new(sides.common.iter().map(|&(ca, _)| field(ca)).collect())?;
    let keys = RowConverter::new(
        sides
            .key
            .iter()
            .map(|&k| field(sides.common[k].0))
            .collect(),
    )?;
    // The shared columns `which` (positions in `common`) of side A, or of side B.
    let cols = |b_side: bool, which: &[usize]| -> Vec<ArrayRef> {
        which
            .iter()
            .map(|&k| {
                let (ca, cb) = sides.common[k];
                if b_side {
                    y.column(cb).clone()
                } else {
                    x.column(ca).clone()
                }
            })
            .collect()
    };
    let all: Vec<usize> = (0..sides.common.len()).collect();
    let (fa, fb) = (
        full.convert_columns(&cols(false, &all))?,
        full.convert_columns(&cols(true, &all))?,
    );
    let (ka, kb) = (
        keys.convert_columns(&cols(false, &sides.key))?,
        keys.convert_columns(&cols(true, &sides.key))?,
    );
    let (oa, ob) = (sorted(&ka, &fa), sorted(&kb, &fb));

    let mut t = Tally::default();
    let (mut i, mut j) = (0, 0);
    while i < oa.len() || j < ob.len() {
        let ord = match (oa.get(i), ob.get(j)) {
            (Some(&p), Some(&q)) => ka.row(p).cmp(&kb.row(q)),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                sides.only(&mut t, true, oa[i]);
                i += 1;
            }
            Ordering::Greater => {
                sides.only(&mut t, false, ob[j]);
                j += 1;
            }
            Ordering::Equal => {
                // Rows sharing a key: identical rows match first, the rest pair up in order.
                let i2 = group_end(&oa, &ka, i);
                let j2 = group_end(&ob, &kb, j);
                let (mut left_a, mut left_b) = (Vec::new(), Vec::new());
                let (mut p, mut q) = (i, j);
                while p < i2 || q < j2 {
                    let ord = if p < i2 && q < j2 {
                        fa.row(oa[p]).cmp(&fb.row(ob[q]))
                    } else if p < i2 {
                        Ordering::Less
                    } else {
                        Ordering::Greater
                    };
                    match ord {
                        Ordering::Equal => {
                            p += 1;
                            q += 1;
                        }
                        Ordering::Less => {
                            left_a.push(oa[p]);
                            p += 1;
                        }
                        Ordering::Greater => {
                            left_b.push(ob[q]);
                            q += 1;
                        }
                    }
                }
                for (&ra, &rb) in left_a.iter().zip(&left_b) {
                    sides.differing(&mut t, ra, rb)?;
                }
                for &ra in left_a.iter().skip(left_b.len()) {
                    sides.only(&mut t, true, ra);
                }
                for &rb in left_b.iter().skip(left_a.len()) {
                    sides.only(&mut t, false, rb);
                }
                i = i2;
                j = j2;
            }
        }
    }
    if t.only_a + t.only_b + t.differing > 0 {
        out.push(format!(
            "{name}: rows only in A: {}, only in B: {}, with differing values: {}",
            t.only_a, t.only_b, t.differing
        ));
        out.extend(t.examples);
    }
    Ok(())
}

/// Row indices ordered by key, then by the whole row.
fn sorted(keys: &Rows, full: &Rows) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.num_rows()).collect();
    order.sort_unstable_by(|&p, &q| {
        keys.row(p)
            .cmp(&keys.row(q))
            .then_with(|| full.row(p).cmp(&full.row(q)))
    });
    order
}

/// The end of the run of rows in `order` from `start` that share its key.
fn group_end(order: &[usize], keys: &Rows, start: usize) -> usize {
    let k = keys.row(order[start]);
    start
        + order[start..]
            .iter()
            .take_while(|&&r| keys.row(r) == k)
            .count()
}

/// Whether value `i` of `a` equals value `j` of `b` (same type), by the same rule as rows:
/// nulls equal, floats by bits.
fn cell_eq(a: &ArrayRef, i: usize, b: &ArrayRef, j: usize) -> Result<bool, ArrowError> {
    let conv = RowConverter::new(vec![SortField::new(a.data_type().clone())])?;
    let ra = conv.convert_columns(&[a.slice(i, 1)])?;
    let rb = conv.convert_columns(&[b.slice(j, 1)])?;
    Ok(ra.row(0) == rb.row(0))
}

/// One value, for display.
enum Cell {
    Null,
    Text(String),
    Other(String),
}

fn cell(arr: &dyn Array, i: usize) -> Cell {
    if arr.is_null(i) {
        return Cell::Null;
    }
    match arr.data_type() {
        DataType::Utf8 => Cell::Text(arr.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Cell::Text(arr.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Cell::Text(arr.as_string_view().value(i).to_string()),
        _ => Cell::Other(
            match ArrayFormatter::try_new(arr, &FormatOptions::default()) {
                Ok(f) => f.value(i).to_string(),
                Err(e) => format!("<{e}>"),
            },
        ),
    }
}

impl Cell {
    fn text(&self) -> &str {
        match self {
            Cell::Null => "",
            Cell::Text(s) | Cell::Other(s) => s,
        }
    }

    /// Character position of the first difference from `other`.
    fn first_difference(&self, other: &Cell) -> usize {
        self.text()
            .chars()
            .zip(other.text().chars())
            .take_while(|(p, q)| p == q)
            .count()
    }

    /// `null`, a quoted string or a value; cut to [`MAX_CHARS`] from character `start`, with
    /// `…` where something was cut.
    fn render(&self, start: usize) -> String {
        let (s, quote) = match self {
            Cell::Null => return "null".to_string(),
            Cell::Text(s) => (s, true),
            Cell::Other(s) => (s, false),
        };
        let n = s.chars().count();
        let start = if n <= MAX_CHARS {
            0
        } else {
            start.min(n - MAX_CHARS)
        };
        let body: String = s.chars().skip(start).take(MAX_CHARS).collect();
        format!(
            "{}{}{}",
            if start > 0 { "…" } else { "" },
            if quote { format!("{body:?}") } else { body },
            if start + MAX_CHARS < n { "…" } else { "" }
        )
    }
}

// ---------------------------------------------------------------------------------------------
// tokenizer.json and stats.json

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, DiffError> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(DiffError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn compare_tokenizer(a: &Path, b: &Path, report: &mut DiffReport) -> Result<(), DiffError> {
    const NAME: &str = "tokenizer.json";
    let bytes = |v: &[u8]| format!("{} bytes", v.len());
    match (read_optional(&a.join(NAME))?, read_optional(&b.join(NAME))?) {
        (None, None) => {}
        (Some(x), None) => one_sided(report, NAME, "A", &bytes(&x)),
        (None, Some(y)) => one_sided(report, NAME, "B", &bytes(&y)),
        (Some(x), Some(y)) => {
            report.compared.push(if x.len() == y.len() {
                format!("{NAME}: {}", bytes(&x))
            } else {
                format!("{NAME}: {} in A, {} in B", bytes(&x), y.len())
            });
            if x != y {
                let at = x.iter().zip(&y).take_while(|(p, q)| p == q).count();
                report.differences.push(format!(
                    "{NAME}: contents differ ({} vs {} bytes, first difference at byte {at})",
                    x.len(),
                    y.len()
                ));
            }
        }
    }
    Ok(())
}

fn load_stats(out: &Path) -> Result<Option<RunStats>, DiffError> {
    let path = out.join("stats.json");
    let Some(bytes) = read_optional(&path)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| DiffError::Stats {
            path,
            message: e.to_string(),
        })
}

/// The differing fields of two runs' stats, as `stats: FIELD: A vs B` lines.
fn compare_stats(a: &RunStats, b: &RunStats) -> Vec<String> {
    let mut out = Vec::new();
    let mut num = |field: &str, p: u64, q: u64| {
        if p != q {
            out.push(format!("stats: {field}: {p} vs {q}"));
        }
    };
    num("input", a.input, b.input);
    num("input_bytes", a.input_bytes, b.input_bytes);
    num("kept", a.kept, b.kept);
    num("kept_bytes", a.kept_bytes, b.kept_bytes);
    compare_counts("dropped", &a.dropped, &b.dropped, &mut out);
    compare_counts("rejected", &a.rejected, &b.rejected, &mut out);
    if a.stages.len() != b.stages.len() {
        out.push(format!(
            "stats: stage count: {} vs {}",
            a.stages.len(),
            b.stages.len()
        ));
    }
    for i in 0..a.stages.len().max(b.stages.len()) {
        match (a.stages.get(i), b.stages.get(i)) {
            (Some(s), Some(t)) => compare_stage(i, s, t, &mut out),
            (Some(s), None) => out.push(format!("stats: stages[{i}] ({}): only in A", s.kind)),
            (None, Some(t)) => out.push(format!("stats: stages[{i}] ({}): only in B", t.kind)),
            (None, None) => {}
        }
    }
    out
}

fn compare_stage(i: usize, s: &StageStats, t: &StageStats, out: &mut Vec<String>) {
    let at = format!("stages[{i}] ({})", s.kind);
    let mut field = |name: &str, p: String, q: String| {
        if p != q {
            out.push(format!("stats: {at}.{name}: {p} vs {q}"));
        }
    };
    field("index", s.index.to_string(), t.index.to_string());
    field("type", s.kind.clone(), t.kind.clone());
    field("seen", s.seen.to_string(), t.seen.to_string());
    field("kept", s.kept.to_string(), t.kept.to_string());
    compare_counts(&format!("{at}.dropped"), &s.dropped, &t.dropped, out);
    let mut field = |name: &str, p: u64, q: u64| {
        if p != q {
            out.push(format!("stats: {at}.{name}: {p} vs {q}"));
        }
    };
    field("bytes_in", s.bytes_in, t.bytes_in);
    field("bytes_out", s.bytes_out, t.bytes_out);
    let counters = |m: &BTreeMap<String, u64>| -> BTreeMap<String, u64> {
        m.iter()
            .filter(|(k, _)| !IGNORED_COUNTERS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    };
    compare_counts(
        &format!("{at}.counters"),
        &counters(&s.counters),
        &counters(&t.counters),
        out,
    );
}

/// `stats: WHAT["key"]: A vs B` for each key whose counts differ (absent counts as 0).
fn compare_counts(
    what: &str,
    a: &BTreeMap<String, u64>,
    b: &BTreeMap<String, u64>,
    out: &mut Vec<String>,
) {
    let show = |v: Option<&u64>| v.map_or_else(|| "absent".to_string(), u64::to_string);
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (p, q) = (a.get(k), b.get(k));
        if p.copied().unwrap_or(0) != q.copied().unwrap_or(0) {
            out.push(format!("stats: {what}[{k:?}]: {} vs {}", show(p), show(q)));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        Float32Array, ListBuilder, StringArray, UInt32Array, UInt32Builder, UInt64Array,
    };
    use arrow::datatypes::{Field, Schema};
    use parquet::arrow::ArrowWriter;

    use super::*;
    use crate::io::writer::Dataset;

    const TOKENIZER: &[u8] = br#"{"model":"bpe"}"#;

    /// What one output holds.
    #[derive(Clone)]
    struct Fixture {
        /// `(id, text, lang)`.
        docs: Vec<(&'static str, String, &'static str)>,
        /// `(source, line)`.
        rejected: Vec<(&'static str, u64)>,
        /// `(doc_id, tokens)`.
        train: Vec<(&'static str, Vec<u32>)>,
        val: Vec<(&'static str, Vec<u32>)>,
        tokenizer: &'static [u8],
        stats: RunStats,
    }

    fn fixture() -> Fixture {
        let mut stats = RunStats::new(&["normalize", "length"]);
        stats.input = 6;
        stats.input_bytes = 19;
        stats.kept = 4;
        stats.kept_bytes = 19;
        stats.rejected.insert("invalid_json".into(), 2);
        for s in &mut stats.stages {
            s.seen = 4;
            s.kept = 4;
            s.bytes_in = 19;
            s.bytes_out = 19;
        }
        stats.stages[0].counters.insert("replacements".into(), 5);
        stats.stages[1].counters.insert("index_spilled".into(), 0);
        stats.stages[1].seconds = 0.25;
        stats.seconds = 1.5;
        Fixture {
            docs: vec![
                ("d1", "alpha".into(), "en"),
                ("d2", "beta".into(), "de"),
                ("d3", "gamma".into(), "en"),
                ("d4", "delta".into(), "de"),
            ],
            rejected: vec![("in.jsonl", 3), ("in.jsonl", 7)],
            train: vec![("d1", vec![1, 2, 3]), ("d2", vec![4, 5]), ("d3", vec![6])],
            val: vec![("d4", vec![7, 8])],
            tokenizer: TOKENIZER,
            stats,
        }
    }

    fn docs_batch(rows: &[&(&'static str, String, &'static str)]) -> RecordBatch {
        let n = rows.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.1))),
            Arc::new(StringArray::from(vec!["in.jsonl"; n])),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| Some(r.2)))),
            Arc::new(Float32Array::from(vec![Some(0.5); n])),
            Arc::new(UInt64Array::from(vec![None; n])),
            Arc::new(StringArray::from(vec![None::<&str>; n])),
            Arc::new(StringArray::from(vec![None::<&str>; n])),
        ];
        RecordBatch::try_new(Dataset::Documents.schema(), cols).unwrap()
    }

    fn rejected_batch(rows: &[&(&'static str, u64)]) -> RecordBatch {
        let n = rows.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(UInt64Array::from_iter(rows.iter().map(|r| Some(r.1)))),
            Arc::new(UInt64Array::from(vec![None; n])),
            Arc::new(UInt64Array::from(vec![None; n])),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| format!("{}:{}", r.0, r.1)),
            )),
            Arc::new(StringArray::from(vec!["invalid_json"; n])),
            Arc::new(StringArray::from(vec!["expected value"; n])),
            Arc::new(StringArray::from(vec!["{oops"; n])),
        ];
        RecordBatch::try_new(Dataset::Rejected.schema(), cols).unwrap()
    }

    fn tokens_batch(rows: &[&(&'static str, Vec<u32>)]) -> RecordBatch {
        let mut tokens = ListBuilder::new(UInt32Builder::new());
        for r in rows {
            tokens.append_value(r.1.iter().map(|&t| Some(t)));
        }
        let tokens = tokens.finish();
        let schema = Schema::new(vec![
            Field::new("doc_id", DataType::Utf8, false),
            Field::new("tokens", tokens.data_type().clone(), false),
            Field::new("n_tokens", DataType::UInt32, false),
        ]);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(tokens),
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.1.len() as u32),
            )),
        ];
        RecordBatch::try_new(Arc::new(schema), cols).unwrap()
    }

    fn write_parquet(path: &Path, batch: &RecordBatch) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut w =
            ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
    }

    fn write_stats(out: &Path, stats: &RunStats) {
        fs::write(
            out.join("stats.json"),
            serde_json::to_string_pretty(stats).unwrap(),
        )
        .unwrap();
    }

    /// A single-process output: one shard per dataset.
    fn write_single(out: &Path, f: &Fixture) {
        write_parquet(
            &out.join("documents/part-00000.parquet"),
            &docs_batch(&f.docs.iter().collect::<Vec<_>>()),
        );
        write_parquet(
            &out.join("rejected/part-00000.parquet"),
            &rejected_batch(&f.rejected.iter().collect::<Vec<_>>()),
        );
        write_parquet(
            &out.join("tokens/train/part-00000.parquet"),
            &tokens_batch(&f.train.iter().collect::<Vec<_>>()),
        );
        if !f.val.is_empty() {
            write_parquet(
                &out.join("tokens/val/part-00000.parquet"),
                &tokens_batch(&f.val.iter().collect::<Vec<_>>()),
            );
        }
        fs::create_dir_all(out.join("dropped")).unwrap();
        fs::write(out.join("tokenizer.json"), f.tokenizer).unwrap();
        write_stats(out, &f.stats);
    }

    /// Rows reversed and cut in two: the shards of tasks 0 and 1.
    fn halves<T>(rows: &[T]) -> [Vec<&T>; 2] {
        let mut rev: Vec<&T> = rows.iter().rev().collect();
        let second = rev.split_off(rows.len() / 2);
        [rev, second]
    }

    /// A two-task output, documents partitioned by language; with what a split run may differ
    /// in without differing in data: wall times, spill counters, leftovers in hidden entries.
    fn write_split(out: &Path, f: &Fixture) {
        for lang in ["en", "de"] {
            let part: Vec<_> = f.docs.iter().filter(|d| d.2 == lang).cloned().collect();
            for (t, rows) in halves(&part).iter().enumerate() {
                if !rows.is_empty() {
                    write_parquet(
                        &out.join(format!("documents/lang={lang}/part-t{t:05}-00000.parquet")),
                        &docs_batch(rows),
                    );
                }
            }
        }
        for (t, rows) in halves(&f.rejected).iter().enumerate() {
            write_parquet(
                &out.join(format!("rejected/part-t{t:05}-00000.parquet")),
                &rejected_batch(rows),
            );
        }
        for (split, v) in [("train", &f.train), ("val", &f.val)] {
            for (t, rows) in halves(v).iter().enumerate() {
                if !rows.is_empty() {
                    write_parquet(
                        &out.join(format!("tokens/{split}/part-t{t:05}-00000.parquet")),
                        &tokens_batch(rows),
                    );
                }
            }
        }
        fs::create_dir_all(out.join("documents/.segments")).unwrap();
        fs::write(out.join("documents/.segments/part-00001.parquet"), "junk").unwrap();
        fs::write(out.join("rejected/.part-t00000-00001.parquet.tmp"), "junk").unwrap();
        fs::write(out.join("tokenizer.json"), f.tokenizer).unwrap();
        let mut stats = f.stats.clone();
        stats.seconds = 9.0;
        stats.stages[1].seconds = 4.0;
        stats.stages[1].counters.insert("index_spilled".into(), 7);
        stats.stages[1].counters.insert("spill_failed".into(), 1);
        // A merged task's zero counter that a single run never wrote.
        stats.stages[0].counters.insert("trimmed".into(), 0);
        write_stats(out, &stats);
    }

    fn run(a: &Fixture, b: &Fixture) -> DiffReport {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write_single(da.path(), a);
        write_split(db.path(), b);
        diff(da.path(), db.path()).unwrap()
    }

    #[test]
    fn a_split_run_with_the_same_data_agrees() {
        let r = run(&fixture(), &fixture());
        assert_eq!(r.differences, Vec::<String>::new());
        assert!(r.is_same());
        assert_eq!(
            r.compared,
            vec![
                "documents: 4 rows",
                "rejected: 2 rows",
                "tokens/train: 3 rows",
                "tokens/val: 1 row",
                "tokenizer.json: 15 bytes",
                "stats.json: 2 stages",
            ]
        );
    }

    #[test]
    fn a_changed_value_is_shown_with_both_values() {
        let mut b = fixture();
        b.docs[1].1 = "BETA".into();
        assert_eq!(
            run(&fixture(), &b).differences,
            vec![
                "documents: rows only in A: 0, only in B: 0, with differing values: 1",
                r#"documents: id="d2": text: "beta" vs "BETA""#,
            ]
        );
    }

    #[test]
    fn a_missing_row_is_counted() {
        let mut b = fixture();
        b.docs.pop();
        let r = run(&fixture(), &b);
        assert_eq!(r.compared[0], "documents: 4 rows in A, 3 in B");
        assert_eq!(
            r.differences,
            vec![
                "documents: 4 rows in A, 3 in B",
                "documents: rows only in A: 1, only in B: 0, with differing values: 0",
                r#"documents: id="d4": only in A"#,
            ]
        );
    }

    #[test]
    fn long_values_are_cut_around_the_first_difference() {
        let (mut a, mut b) = (fixture(), fixture());
        let long = |c: char| format!("{}{c}{}", "x".repeat(150), "y".repeat(149));
        a.docs[2].1 = long('A');
        b.docs[2].1 = long('B');
        let window = |c: char| format!("…\"{}{c}{}\"…", "x".repeat(20), "y".repeat(59));
        assert_eq!(
            run(&a, &b).differences[1],
            format!(
                "documents: id=\"d3\": text: {} vs {}",
                window('A'),
                window('B')
            )
        );
    }

    #[test]
    fn other_datasets_and_the_tokenizer_are_compared() {
        let mut b = fixture();
        b.rejected[1].1 = 8;
        b.train[0].1 = vec![1, 2, 4];
        b.val.clear();
        b.tokenizer = br#"{"model":"wpc"}"#;
        assert_eq!(
            run(&fixture(), &b).differences,
            vec![
                "rejected: rows only in A: 1, only in B: 1, with differing values: 0",
                r#"rejected: source="in.jsonl" line=7: only in A"#,
                r#"rejected: source="in.jsonl" line=8: only in B"#,
                "tokens/train: rows only in A: 0, only in B: 0, with differing values: 1",
                r#"tokens/train: doc_id="d1": tokens: [1, 2, 3] vs [1, 2, 4]"#,
                "tokens/val: only in A (1 row)",
                "tokenizer.json: contents differ (15 vs 15 bytes, first difference at byte 10)",
            ]
        );
    }

    #[test]
    fn stats_differ_by_field_but_not_by_time_or_spilling() {
        let mut b = fixture();
        b.stats.stages[0].counters.insert("replacements".into(), 6);
        b.stats.stages[1]
            .dropped
            .insert("length:too_short".into(), 1);
        b.stats.kept = 3;
        assert_eq!(
            run(&fixture(), &b).differences,
            vec![
                "stats: kept: 4 vs 3",
                r#"stats: stages[0] (normalize).counters["replacements"]: 5 vs 6"#,
                r#"stats: stages[1] (length).dropped["length:too_short"]: absent vs 1"#,
            ]
        );
        let mut c = fixture();
        c.stats.stages.pop();
        c.stats.stages[0].kind = "clean".into();
        assert_eq!(
            compare_stats(&fixture().stats, &c.stats),
            vec![
                "stats: stage count: 2 vs 1",
                "stats: stages[0] (normalize).type: normalize vs clean",
                "stats: stages[1] (length): only in A",
            ]
        );
    }

    fn table(cols: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(cols).unwrap()
    }

    fn strings(v: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(v.to_vec()))
    }

    #[test]
    fn schemas_and_repeated_keys() {
        let x = table(vec![
            ("id", strings(&["a", "b"])),
            ("n", Arc::new(UInt32Array::from(vec![1, 2]))),
        ]);
        let y = table(vec![
            ("n", Arc::new(UInt64Array::from(vec![2, 1]))),
            ("id", strings(&["b", "a"])),
            ("extra", strings(&["", ""])),
        ]);
        let mut r = DiffReport::default();
        compare_tables("t", &["id"], &x, &y, &mut r).unwrap();
        assert_eq!(
            r.differences,
            vec![
                r#"t: column "n": UInt32 in A, UInt64 in B"#,
                r#"t: column "extra" only in B"#,
            ]
        );

        let z = table(vec![
            ("n", Arc::new(UInt32Array::from(vec![2, 1]))),
            ("id", strings(&["b", "a"])),
        ]);
        let mut r = DiffReport::default();
        compare_tables("t", &["id"], &x, &z, &mut r).unwrap();
        assert_eq!(r.differences, vec!["t: column order: [id, n] vs [n, id]"]);

        // Identical rows under a repeated key match; the rest pair up.
        let x = table(vec![
            ("id", strings(&["k", "k", "k"])),
            ("v", strings(&["x", "y", "w"])),
        ]);
        let y = table(vec![
            ("id", strings(&["k", "k"])),
            ("v", strings(&["z", "y"])),
        ]);
        let mut r = DiffReport::default();
        compare_tables("t", &["id"], &x, &y, &mut r).unwrap();
        assert_eq!(
            r.differences,
            vec![
                "t: 3 rows in A, 2 in B",
                "t: rows only in A: 1, only in B: 0, with differing values: 1",
                r#"t: id="k": v: "w" vs "z""#,
                r#"t: id="k": only in A"#,
            ]
        );
    }

    #[test]
    fn errors_name_the_path() {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let missing = da.path().join("nope");
        let e = diff(&missing, db.path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: no such output directory", missing.display())
        );

        write_single(da.path(), &fixture());
        write_single(db.path(), &fixture());
        let bad = db.path().join("documents/lang=en/part-00001.parquet");
        fs::create_dir_all(bad.parent().unwrap()).unwrap();
        fs::write(&bad, "not parquet").unwrap();
        let e = diff(da.path(), db.path()).unwrap_err();
        assert!(
            matches!(&e, DiffError::Parquet { path, .. } if path == &bad),
            "{e}"
        );
        assert!(e.to_string().starts_with(&bad.display().to_string()));
        fs::remove_file(&bad).unwrap();

        let stats = db.path().join("stats.json");
        fs::write(&stats, "{").unwrap();
        let e = diff(da.path(), db.path()).unwrap_err();
        assert!(
            matches!(&e, DiffError::Stats { path, .. } if path == &stats),
            "{e}"
        );
    }
}
