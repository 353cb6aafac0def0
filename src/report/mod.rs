//! The quality report: what a pipeline did to the data, and whether what is left is clean and
//! diverse.
//!
//! `corpusforge report OUT` (also run at the end of `corpusforge run` unless
//! `output.report: false`) reads a run's output directory and writes `OUT/report/`:
//!
//! - `report.json` — every figure ([`model::Report`]; JSON Schema in
//!   `schemas/report.schema.json`, generated from the types, a test fails when stale);
//! - `report.md` — the same as Markdown tables, readable on a code host ([`md`]);
//! - `report.html` — one self-contained page with inline SVG charts, no scripts and nothing
//!   fetched, printable ([`html`], [`svg`]).
//!
//! The figures ([`collect`]) come from `stats.json` (exact counts) and polars lazy scans over
//! the parquet shards: the funnel with drop and reject reasons and examples; noise metrics
//! before and after the pipeline and quality-filter signals of kept vs dropped documents (on a
//! seeded sample); diversity (languages, lengths, distinct-n, entropy, type–token growth, zstd
//! ratio); duplicate clusters; sources and domains; the tokenizer; training curves. The metric
//! definitions are in [`metrics`]. Every optional part (dropped/, token shards, training) may be
//! absent. `corpusforge report --compare A B` puts two reports side by side ([`figures`]).

pub mod ablation;
pub mod collect;
pub mod figures;
pub mod html;
pub mod md;
pub mod metrics;
pub mod model;
pub mod svg;

use std::fs;
use std::path::{Path, PathBuf};

pub use model::Report;

/// Documents per dataset in the default sample.
pub const DEFAULT_SAMPLE: usize = 2000;

/// How to compute a report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Documents sampled per dataset (kept, dropped) for the figures that need the text.
    pub sample: usize,
    /// Seed of the sample (default: the run's seed).
    pub seed: Option<u64>,
    /// Where the training metrics are (default `OUT/train`).
    pub train_dir: Option<PathBuf>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            sample: DEFAULT_SAMPLE,
            seed: None,
            train_dir: None,
        }
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The directory has no readable `stats.json`.
    #[error("{path}: cannot read it ({source}); is this the output directory of a finished corpusforge run?")]
    NotAnOutput {
        /// The missing file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file of the run is not what it should be.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A polars scan failed.
    #[error("{path}: reading the shards failed: {message}")]
    Polars {
        /// The dataset directory.
        path: PathBuf,
        /// Polars' message.
        message: String,
    },
    /// Writing the report failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The files a report (or comparison) was written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The JSON file.
    pub json: PathBuf,
    /// The Markdown file.
    pub md: PathBuf,
    /// The HTML file.
    pub html: PathBuf,
}

fn write_atomic(path: &Path, text: &str) -> Result<(), ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).map_err(io(&tmp))?;
    crate::storage::commit(&tmp, path).map_err(io(path))
}

fn to_json(value: &impl serde::Serialize, path: &Path) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(value).map_err(|e| ReportError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    s.push('\n');
    Ok(s)
}

/// Computes the report of the run in `out`.
pub fn build(out: &Path, opts: &ReportOptions) -> Result<Report, ReportError> {
    collect::build(out, opts)
}

/// Writes `report.{json,md,html}` of `report` into `dir`.
pub fn write(report: &Report, dir: &Path) -> Result<Written, ReportError> {
    let w = Written {
        json: dir.join("report.json"),
        md: dir.join("report.md"),
        html: dir.join("report.html"),
    };
    write_atomic(&w.json, &to_json(report, &w.json)?)?;
    write_atomic(&w.md, &md::render(report))?;
    write_atomic(&w.html, &html::render(report))?;
    Ok(w)
}

/// Computes the report of `out` and writes it to `out/report/`.
pub fn generate(out: &Path, opts: &ReportOptions) -> Result<(Report, Written), ReportError> {
    let report = build(out, opts)?;
    let written = write(&report, &out.join("report"))?;
    Ok((report, written))
}

/// What `compare.json` holds.
#[derive(Debug, serde::Serialize)]
pub struct Comparison<'a> {
    /// Version of the report layout of `a` and `b`.
    pub schema_version: u32,
    /// The headline figures side by side, `diff = b - a`.
    pub figures: Vec<figures::Diff>,
    /// The report of A.
    pub a: &'a Report,
    /// The report of B.
    pub b: &'a Report,
}

/// Computes the reports of `a` and `b` (with the same options) and writes
/// `compare.{json,md,html}` into `dir`.
pub fn compare(
    a: &Path,
    b: &Path,
    dir: &Path,
    opts: &ReportOptions,
) -> Result<(Vec<figures::Diff>, Written), ReportError> {
    let ra = build(a, opts)?;
    let rb = build(b, opts)?;
    let rows = figures::diff(&ra, &rb);
    let w = Written {
        json: dir.join("compare.json"),
        md: dir.join("compare.md"),
        html: dir.join("compare.html"),
    };
    let c = Comparison {
        schema_version: model::SCHEMA_VERSION,
        figures: rows.clone(),
        a: &ra,
        b: &rb,
    };
    write_atomic(&w.json, &to_json(&c, &w.json)?)?;
    write_atomic(&w.md, &md::render_compare(&ra, &rb, &rows))?;
    write_atomic(&w.html, &html::render_compare(&ra, &rb, &rows))?;
    Ok((rows, w))
}

/// The JSON Schema (draft 2020-12) of `report.json`, generated from [`Report`].
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Report);
    serde_json::to_value(&schema).unwrap_or_else(|_| schema.to_value())
}

/// [`json_schema`] pretty-printed with a trailing newline: `schemas/report.schema.json`.
pub fn json_schema_string() -> String {
    format!("{:#}\n", json_schema())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/report.schema.json");

    #[test]
    fn report_schema_file_is_up_to_date() {
        let path = std::path::Path::new(SCHEMA_FILE);
        crate::config::check_committed_file(
            path,
            &json_schema_string(),
            "cargo test --release --lib report",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn not_an_output_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let e = build(dir.path(), &ReportOptions::default()).unwrap_err();
        assert!(matches!(e, ReportError::NotAnOutput { .. }), "{e}");
        assert!(e.to_string().contains("stats.json"), "{e}");
    }
}
