//! Computing a [`Report`] from a run's output directory.
//!
//! Counts come from `stats.json` (the run's own accounting, exact). Everything else is read
//! from the parquet shards with polars lazy scans: group-bys over the light columns (languages,
//! sources, cluster sizes), and one streaming pass over `documents/` and `dropped/` (polars'
//! streaming engine hands record batches to [`stream`]; memory holds the row groups in flight
//! and the sample, not the corpus: about 0.5 GB on 2 cores with the default 32 MB row groups,
//! the same for 0.65 and 2 GB of text) that measures every document's length, draws the seeded
//! sample and picks the examples. Figures that need whole texts (noise, lexical diversity, signals) are computed on
//! the sample: per dataset, the `sample` documents with the smallest xxh3-64 of their id seeded
//! with the seed — a uniform sample that does not depend on shard layout or order.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use polars::prelude::*;
use rayon::prelude::*;
use serde_json::Value;

use super::metrics::{self, LogHist, NOISE};
use super::model::*;
use super::{ReportError, ReportOptions};
use crate::runner::RunStats;

/// Examples kept per drop reason and per reject reason.
const EXAMPLES_PER_REASON: usize = 3;
/// Characters of an example's snippet.
const SNIPPET_CHARS: usize = 300;
/// Categories listed per breakdown.
const TOP_CATEGORIES: usize = 20;
/// Duplicate clusters listed.
const TOP_CLUSTERS: usize = 10;
/// Members shown per listed cluster.
const MEMBERS_PER_CLUSTER: usize = 4;
/// Histogram bins of the sampled distributions.
const BINS: usize = 20;
/// Points of a curve in the report at most.
const CURVE_POINTS: usize = 500;
/// The language shown for documents without one.
const NO_LANG: &str = "(none)";
/// Sampled texts are cut to this many bytes.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

fn perr(what: &Path) -> impl Fn(PolarsError) -> ReportError + '_ {
    move |e| ReportError::Polars {
        path: what.to_path_buf(),
        message: e.to_string(),
    }
}

pub use crate::storage::parquet_files;

fn scan(files: &[PathBuf]) -> PolarsResult<LazyFrame> {
    let paths: Vec<PlRefPath> = files
        .iter()
        .map(|p| PlRefPath::new(crate::storage::ensure_local(p).to_string_lossy().as_ref()))
        .collect();
    let mut args = ScanArgsParquet::default();
    // `documents/lang=xx/` directories must not add a second `lang` column.
    args.hive_options.enabled = Some(false);
    args.allow_missing_columns = true;
    LazyFrame::scan_parquet_files(paths.into(), args)
}

/// Streams `columns` of `files` through `f`, one record batch at a time, in file order.
pub fn stream(
    files: &[PathBuf],
    columns: &[&str],
    mut f: impl FnMut(&DataFrame) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let Some(first) = files.first() else {
        return Ok(());
    };
    let what = first.parent().unwrap_or(first).to_path_buf();
    let cols: Vec<Expr> = columns.iter().map(|c| col(*c)).collect();
    let (tx, rx) = mpsc::sync_channel::<DataFrame>(2);
    let plan = scan(files)
        .and_then(|lf| {
            lf.select(cols).sink_batches(
                // Returning true stops the query: the receiver is gone (an error downstream).
                PlanCallback::new(move |df: DataFrame| Ok(tx.send(df).is_err())),
                true,
                NonZeroUsize::new(2048),
            )
        })
        .map_err(perr(&what))?;
    let handle =
        std::thread::spawn(move || plan.collect_with_engine(Engine::Streaming).map(|_| ()));
    let mut result = Ok(());
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(df) => {
                result = f(&df);
                if result.is_err() {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if handle.is_finished() {
                    while let Ok(df) = rx.try_recv() {
                        if result.is_ok() {
                            result = f(&df);
                        }
                    }
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(rx);
    let ran = handle.join().map_err(|_| ReportError::Polars {
        path: what.clone(),
        message: "the scan thread panicked".into(),
    })?;
    result?;
    ran.map_err(perr(&what))
}

fn str_col<'a>(df: &'a DataFrame, name: &str) -> Option<&'a StringChunked> {
    df.column(name).ok().and_then(|c| c.str().ok())
}

fn u64_values(df: &DataFrame, name: &str) -> Vec<Option<u64>> {
    match df
        .column(name)
        .ok()
        .and_then(|c| c.cast(&DataType::UInt64).ok())
    {
        Some(c) => c.u64().map(|ca| ca.iter().collect()).unwrap_or_default(),
        None => vec![None; df.height()],
    }
}

fn f64_values(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    match df
        .column(name)
        .ok()
        .and_then(|c| c.cast(&DataType::Float64).ok())
    {
        Some(c) => c.f64().map(|ca| ca.iter().collect()).unwrap_or_default(),
        None => vec![None; df.height()],
    }
}

fn str_values(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    match str_col(df, name) {
        Some(ca) => ca.iter().map(|s| s.map(str::to_string)).collect(),
        None => vec![None; df.height()],
    }
}

/// Per key: the key (null as `None`), the row count and the mean score.
type KeyCounts = Vec<(Option<String>, u64, Option<f64>)>;

/// `group_by(key).agg(len, mean(score))` over the files (key cast to string).
fn count_by(files: &[PathBuf], key: &str, score: Option<&str>) -> Result<KeyCounts, ReportError> {
    let Some(first) = files.first() else {
        return Ok(Vec::new());
    };
    let mut aggs = vec![len().cast(DataType::UInt64).alias("n")];
    if let Some(s) = score {
        aggs.push(col(s).cast(DataType::Float64).mean().alias("score"));
    }
    let df = scan(files)
        .and_then(|lf| {
            lf.group_by([col(key).cast(DataType::String).alias("key")])
                .agg(aggs)
                .collect()
        })
        .map_err(perr(first))?;
    let keys = str_values(&df, "key");
    let n = u64_values(&df, "n");
    let s = if score.is_some() {
        f64_values(&df, "score")
    } else {
        vec![None; df.height()]
    };
    Ok(keys
        .into_iter()
        .zip(n)
        .zip(s)
        .map(|((k, n), s)| (k, n.unwrap_or(0), s))
        .collect())
}

/// Documents by (`lang`, `reason`) of `files` (`reason` absent: by `lang` alone).
fn count_by_lang(
    files: &[PathBuf],
    reason: bool,
) -> Result<Vec<(String, String, u64)>, ReportError> {
    let Some(first) = files.first() else {
        return Ok(Vec::new());
    };
    let mut keys = vec![col("lang").cast(DataType::String).alias("lang")];
    if reason {
        keys.push(col("reason").cast(DataType::String).alias("reason"));
    }
    let df = scan(files)
        .and_then(|lf| {
            lf.group_by(keys)
                .agg([len().cast(DataType::UInt64).alias("n")])
                .collect()
        })
        .map_err(perr(first))?;
    let langs = str_values(&df, "lang");
    let reasons = if reason {
        str_values(&df, "reason")
    } else {
        vec![None; df.height()]
    };
    let n = u64_values(&df, "n");
    Ok(langs
        .into_iter()
        .zip(reasons)
        .zip(n)
        .map(|((l, r), n)| {
            (
                l.unwrap_or_else(|| NO_LANG.to_string()),
                r.unwrap_or_default(),
                n.unwrap_or(0),
            )
        })
        .collect())
}

/// The per-language funnel: documents in, kept and dropped by reason for every language,
/// the languages with the most documents first.
fn language_funnel(
    doc_files: &[PathBuf],
    dropped_files: &[PathBuf],
) -> Result<Vec<LanguageFunnel>, ReportError> {
    let mut by: BTreeMap<String, (u64, BTreeMap<String, u64>)> = BTreeMap::new();
    for (lang, _, n) in count_by_lang(doc_files, false)? {
        by.entry(lang).or_default().0 += n;
    }
    for (lang, reason, n) in count_by_lang(dropped_files, true)? {
        *by.entry(lang).or_default().1.entry(reason).or_default() += n;
    }
    let mut rows: Vec<LanguageFunnel> = by
        .into_iter()
        .map(|(lang, (kept, reasons))| {
            let dropped_n: u64 = reasons.values().sum();
            let mut dropped: Vec<ReasonCount> = reasons
                .into_iter()
                .map(|(reason, count)| ReasonCount { reason, count })
                .collect();
            dropped.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
            let documents = kept + dropped_n;
            LanguageFunnel {
                lang,
                documents,
                kept,
                kept_share: share(kept, documents).unwrap_or(0.0),
                dropped,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.documents.cmp(&a.documents).then(a.lang.cmp(&b.lang)));
    Ok(rows)
}

/// `column` of the datasets in `groups` (each a list of shards of one schema), concatenated.
fn column_of(groups: &[&[PathBuf]], column: &str) -> PolarsResult<Option<LazyFrame>> {
    let mut frames = Vec::new();
    for files in groups.iter().filter(|f| !f.is_empty()) {
        frames.push(scan(files)?.select([col(column)]));
    }
    if frames.is_empty() {
        return Ok(None);
    }
    concat(frames, UnionArgs::default()).map(Some)
}

/// Sizes of the clusters with two or more documents, over documents and dropped; and whether
/// any document has a cluster id at all.
fn cluster_sizes(groups: &[&[PathBuf]]) -> Result<(Vec<(u64, u64)>, bool), ReportError> {
    let Some(first) = groups.iter().find_map(|g| g.first()) else {
        return Ok((Vec::new(), false));
    };
    let df = column_of(groups, "cluster_id")
        .and_then(|lf| match lf {
            Some(lf) => lf
                .filter(col("cluster_id").is_not_null())
                .group_by([col("cluster_id")])
                .agg([len().cast(DataType::UInt64).alias("n")])
                .collect(),
            None => Ok(DataFrame::empty()),
        })
        .map_err(perr(first))?;
    let any = df.height() > 0;
    let ids = u64_values(&df, "cluster_id");
    let n = u64_values(&df, "n");
    let sizes = ids
        .into_iter()
        .zip(n)
        .filter_map(|(i, n)| Some((i?, n?)))
        .filter(|(_, n)| *n > 1)
        .collect();
    Ok((sizes, any))
}

/// A sampled document.
#[derive(Debug, Clone)]
struct Sampled {
    key: u64,
    id: String,
    text: String,
    signals: Option<String>,
}

impl PartialEq for Sampled {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Sampled {}
impl PartialOrd for Sampled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Sampled {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.key, &self.id).cmp(&(o.key, &o.id))
    }
}

/// The `cap` smallest items seen (a max-heap that evicts its largest).
struct BottomK<T: Ord> {
    cap: usize,
    heap: BinaryHeap<T>,
}

impl<T: Ord> BottomK<T> {
    fn new(cap: usize) -> Self {
        BottomK {
            cap,
            heap: BinaryHeap::new(),
        }
    }

    /// Whether an item ordered like `probe` would enter.
    fn wants(&self, probe: impl FnOnce(&T) -> bool) -> bool {
        self.heap.len() < self.cap || self.heap.peek().is_some_and(probe)
    }

    fn push(&mut self, item: T) {
        if self.cap == 0 {
            return;
        }
        if self.heap.len() < self.cap {
            self.heap.push(item);
        } else if self.heap.peek().is_some_and(|top| item < *top) {
            self.heap.pop();
            self.heap.push(item);
        }
    }

    fn into_sorted(self) -> Vec<T> {
        self.heap.into_sorted_vec()
    }
}

/// An example candidate ordered by its seeded hash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keyed<T: Eq>(u64, String, T);

impl<T: Eq> PartialOrd for Keyed<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T: Eq> Ord for Keyed<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.0, &self.1).cmp(&(o.0, &o.1))
    }
}

#[derive(Default, Clone, Copy)]
struct CatCount {
    kept: u64,
    dropped: u64,
    kept_bytes: u64,
}

/// What the streaming pass over one dataset accumulates.
struct Pass {
    seed: u64,
    chars: LogHist,
    words: LogHist,
    sample: BottomK<Sampled>,
    examples: HashMap<String, BottomK<Keyed<DocExampleOrd>>>,
    domains: HashMap<String, CatCount>,
    source_bytes: HashMap<String, u64>,
    lang_bytes: HashMap<String, u64>,
    with_url: u64,
    total_bytes: u64,
    clusters: HashMap<u64, Vec<ClusterMember>>,
}

/// [`DocExample`] with an order (by id) so it can sit in a heap.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DocExampleOrd(String, String, u64, String, bool, Option<String>);

impl PartialOrd for DocExampleOrd {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for DocExampleOrd {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.cmp(&o.0)
    }
}

fn cut(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl Pass {
    fn new(seed: u64, sample: usize, top_clusters: &[u64]) -> Self {
        Pass {
            seed,
            chars: LogHist::default(),
            words: LogHist::default(),
            sample: BottomK::new(sample),
            examples: HashMap::new(),
            domains: HashMap::new(),
            source_bytes: HashMap::new(),
            lang_bytes: HashMap::new(),
            with_url: 0,
            total_bytes: 0,
            clusters: top_clusters.iter().map(|&c| (c, Vec::new())).collect(),
        }
    }

    /// One record batch of `documents/` (`dropped` false) or `dropped/`.
    fn batch(&mut self, df: &DataFrame, dropped: bool) -> Result<(), ReportError> {
        let ids = str_values(df, "id");
        let Some(texts) = str_col(df, "text") else {
            return Ok(());
        };
        let texts: Vec<&str> = texts.iter().map(|t| t.unwrap_or("")).collect();
        let sources = str_values(df, "source");
        let langs = str_values(df, "lang");
        let metas = str_values(df, "metadata");
        let signals = str_values(df, "signals");
        let clusters = u64_values(df, "cluster_id");
        let (reasons, dups) = if dropped {
            (str_values(df, "reason"), str_values(df, "duplicate_of"))
        } else {
            (vec![None; df.height()], vec![None; df.height()])
        };
        let lengths: Vec<(u64, u64)> = texts
            .par_iter()
            .map(|t| (crate::text::char_len(t) as u64, metrics::word_count(t)))
            .collect();
        for (i, text) in texts.iter().enumerate() {
            let id = ids[i].clone().unwrap_or_default();
            let (nchars, nwords) = lengths[i];
            self.chars.add(nchars);
            self.words.add(nwords);
            let bytes = text.len() as u64;
            self.total_bytes += bytes;
            if let Some(s) = &sources[i] {
                *self.source_bytes.entry(s.clone()).or_insert(0) += bytes;
            }
            let lang = langs[i].clone().unwrap_or_else(|| NO_LANG.to_string());
            *self.lang_bytes.entry(lang).or_insert(0) += bytes;
            let key = xxhash_rust::xxh3::xxh3_64_with_seed(id.as_bytes(), self.seed);
            if self.sample.wants(|top| (key, &id) < (top.key, &top.id)) {
                self.sample.push(Sampled {
                    key,
                    id: id.clone(),
                    text: cut(text, MAX_TEXT_BYTES),
                    signals: signals[i].clone(),
                });
            }
            if let Some(m) = metas[i].as_deref().filter(|m| m.contains("\"url\"")) {
                let url = serde_json::from_str::<serde_json::Map<String, Value>>(m)
                    .ok()
                    .and_then(|o| {
                        o.get("url")
                            .and_then(Value::as_str)
                            .and_then(metrics::url_domain)
                    });
                if let Some(d) = url {
                    let c = self.domains.entry(d).or_default();
                    if dropped {
                        c.dropped += 1;
                    } else {
                        c.kept += 1;
                        c.kept_bytes += bytes;
                        self.with_url += 1;
                    }
                }
            }
            if let Some(reason) = &reasons[i] {
                let ex = self
                    .examples
                    .entry(reason.clone())
                    .or_insert_with(|| BottomK::new(EXAMPLES_PER_REASON));
                if ex.wants(|top| (key, &id) < (top.0, &top.1)) {
                    let (snip, truncated) = metrics::snippet(text, SNIPPET_CHARS);
                    let src = sources[i].clone().unwrap_or_default();
                    ex.push(Keyed(
                        key,
                        id.clone(),
                        DocExampleOrd(id.clone(), src, nchars, snip, truncated, dups[i].clone()),
                    ));
                }
            }
            if let Some(members) = clusters[i].and_then(|c| self.clusters.get_mut(&c)) {
                if members.len() < MEMBERS_PER_CLUSTER || !dropped {
                    let status = reasons[i].clone().unwrap_or_else(|| "kept".to_string());
                    let member = ClusterMember {
                        id,
                        status,
                        snippet: metrics::snippet(text, 160).0,
                    };
                    if dropped {
                        members.push(member);
                    } else {
                        members.insert(0, member);
                        members.truncate(MEMBERS_PER_CLUSTER);
                    }
                }
            }
        }
        Ok(())
    }
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&crate::storage::read_to_string(path).ok()?).ok()
}

fn share(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn breakdown(
    counts: HashMap<String, CatCount>,
    kept_total_bytes: u64,
    scores: &HashMap<String, f64>,
) -> Breakdown {
    let mut rows: Vec<(String, CatCount)> = counts.into_iter().collect();
    rows.sort_by(|a, b| {
        b.1.kept
            .cmp(&a.1.kept)
            .then(b.1.dropped.cmp(&a.1.dropped))
            .then(a.0.cmp(&b.0))
    });
    let kept_total: u64 = rows.iter().map(|r| r.1.kept).sum();
    let distinct_kept = rows.iter().filter(|r| r.1.kept > 0).count() as u64;
    let entropy = metrics::entropy_bits(rows.iter().map(|r| r.1.kept));
    let evenness = (distinct_kept > 1).then(|| entropy / (distinct_kept as f64).log2());
    let mut top = Vec::new();
    let (mut other_kept, mut other_dropped) = (0, 0);
    for (i, (name, c)) in rows.iter().enumerate() {
        if i < TOP_CATEGORIES {
            top.push(Share {
                name: name.clone(),
                kept: c.kept,
                dropped: c.dropped,
                kept_share: share(c.kept, kept_total).unwrap_or(0.0),
                kept_bytes_share: share(c.kept_bytes, kept_total_bytes),
                mean_score: scores.get(name).copied(),
            });
        } else {
            other_kept += c.kept;
            other_dropped += c.dropped;
        }
    }
    Breakdown {
        distinct_kept,
        distinct_all: rows.len() as u64,
        entropy_bits: entropy,
        evenness,
        top,
        other_kept,
        other_dropped,
    }
}

fn noise_metrics(before: &[&str], after: &[&str], dropped: &[&str]) -> Vec<NoiseMetric> {
    let compute = |texts: &[&str]| -> Vec<[f64; 10]> {
        texts.par_iter().map(|t| metrics::noise(t)).collect()
    };
    let (b, a, d) = (compute(before), compute(after), compute(dropped));
    NOISE
        .iter()
        .enumerate()
        .map(|(k, def)| {
            let col = |rows: &[[f64; 10]]| -> Vec<f64> { rows.iter().map(|r| r[k]).collect() };
            let (bv, av, dv) = (col(&b), col(&a), col(&d));
            let edges = if def.unit == "ratio" {
                metrics::unit_edges(BINS)
            } else if def.unit == "count" {
                // Counts: integer-wide bins from 0 up to the 99th percentile (at least 10).
                let mut pooled: Vec<f64> = bv.iter().chain(&av).chain(&dv).copied().collect();
                pooled.sort_by(f64::total_cmp);
                let top = metrics::quantile(&pooled, 0.99).ceil().max(10.0) as u64;
                let step = top.div_ceil(BINS as u64).max(1);
                (0..=top.div_ceil(step))
                    .map(|i| (i * step) as f64)
                    .collect()
            } else {
                let mut pooled: Vec<f64> = bv.iter().chain(&av).chain(&dv).copied().collect();
                pooled.sort_by(f64::total_cmp);
                let top = metrics::quantile(&pooled, 0.99).max(if def.unit == "count" {
                    BINS as f64 / 2.0
                } else {
                    1.0
                });
                metrics::zero_to_max_edges(top, BINS)
            };
            NoiseMetric {
                key: def.key.into(),
                label: def.label.into(),
                unit: def.unit.into(),
                description: def.description.into(),
                before: metrics::dist(&bv, &edges),
                after: metrics::dist(&av, &edges),
                dropped: metrics::dist(&dv, &edges),
            }
        })
        .collect()
}

/// About `n` equal bins over [min, max] with a nice width; integer-wide bins when `integers`.
fn range_edges(min: f64, max: f64, n: usize, integers: bool) -> Vec<f64> {
    if max <= min || !max.is_finite() || !min.is_finite() {
        let lo = if min.is_finite() { min.floor() } else { 0.0 };
        return vec![lo, lo + 1.0];
    }
    let mut step = metrics::nice_ceil((max - min) / n as f64);
    if integers {
        step = step.max(1.0).ceil();
    }
    let lo = (min / step).floor() * step;
    let bins = (((max - lo) / step).floor() as usize + 1).min(n + 1);
    (0..=bins)
        .map(|i| ((lo + step * i as f64) * 1e9).round() / 1e9)
        .collect()
}

fn signal_dists(kept: &[Sampled], dropped: &[Sampled]) -> Vec<SignalDist> {
    let parse = |docs: &[Sampled]| -> BTreeMap<String, Vec<f64>> {
        let mut m: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for d in docs {
            let Some(s) = &d.signals else { continue };
            let Ok(obj) = serde_json::from_str::<serde_json::Map<String, Value>>(s) else {
                continue;
            };
            for (k, v) in obj {
                if let Some(x) = v.as_f64().filter(|x| x.is_finite()) {
                    m.entry(k).or_default().push(x);
                }
            }
        }
        m
    };
    let (k, d) = (parse(kept), parse(dropped));
    let keys: std::collections::BTreeSet<&String> = k.keys().chain(d.keys()).collect();
    keys.into_iter()
        .map(|key| {
            let kv = k.get(key).map(Vec::as_slice).unwrap_or(&[]);
            let dv = d.get(key).map(Vec::as_slice).unwrap_or(&[]);
            let all = kv.iter().chain(dv);
            let min = all.clone().copied().fold(f64::INFINITY, f64::min);
            let max = all.copied().fold(f64::NEG_INFINITY, f64::max);
            let integers = kv.iter().chain(dv).all(|x| x.fract() == 0.0);
            let edges = range_edges(min, max, BINS, integers);
            SignalDist {
                key: key.clone(),
                kept: metrics::dist(kv, &edges),
                dropped: metrics::dist(dv, &edges),
            }
        })
        .collect()
}

/// The signals that come from a model, in report order.
const MODEL_SCORES: [&str; 2] = ["quality_score", "bpb"];

/// Ranks of `v` (1-based, ties at their mean rank).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rho of paired values (`None` under 3 pairs or with a constant side).
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() < 3 || a.len() != b.len() {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

fn model_scores(kept: &[Sampled], dropped: &[Sampled]) -> Vec<ModelScore> {
    let parse = |d: &Sampled| -> BTreeMap<String, f64> {
        d.signals
            .as_deref()
            .and_then(|s| serde_json::from_str::<serde_json::Map<String, Value>>(s).ok())
            .map(|m| {
                m.into_iter()
                    .filter_map(|(k, v)| Some((k, v.as_f64().filter(|x| x.is_finite())?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let docs: Vec<(&Sampled, bool, BTreeMap<String, f64>)> = kept
        .iter()
        .map(|d| (d, true, parse(d)))
        .chain(dropped.iter().map(|d| (d, false, parse(d))))
        .collect();
    let mut out = Vec::new();
    for key in MODEL_SCORES {
        let mut scored: Vec<(f64, &Sampled, bool)> = docs
            .iter()
            .filter_map(|(d, k, s)| Some((*s.get(key)?, *d, *k)))
            .collect();
        if scored.is_empty() {
            continue;
        }
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        let example = |&(score, d, kept): &(f64, &Sampled, bool)| ScoredExample {
            id: d.id.clone(),
            kept,
            score,
            text: d.text.chars().take(240).collect(),
        };
        let lowest = scored.iter().take(3).map(example).collect();
        let highest = scored.iter().rev().take(3).map(example).collect();
        let others: std::collections::BTreeSet<&String> = docs
            .iter()
            .flat_map(|(_, _, s)| s.keys())
            .filter(|k| k.as_str() != key)
            .collect();
        let correlations = others
            .into_iter()
            .filter_map(|other| {
                let (a, b): (Vec<f64>, Vec<f64>) = docs
                    .iter()
                    .filter_map(|(_, _, s)| Some((*s.get(key)?, *s.get(other)?)))
                    .unzip();
                Some(Correlation {
                    signal: other.clone(),
                    n: a.len() as u64,
                    spearman: spearman(&a, &b)?,
                })
            })
            .collect();
        out.push(ModelScore {
            key: key.to_string(),
            highest,
            lowest,
            correlations,
        });
    }
    out
}

fn lexical(texts: &[&str]) -> Option<Lexical> {
    if texts.is_empty() {
        return None;
    }
    let docs: Vec<Vec<String>> = texts.par_iter().map(|t| metrics::lower_words(t)).collect();
    let words: u64 = docs.iter().map(|d| d.len() as u64).sum();
    let curve = metrics::type_token_curve(&docs, 40);
    let types = curve.last().map_or(0, |p| p.y as u64);
    let fit = metrics::heaps_fit(&curve);
    let (raw, packed) = metrics::zstd_sizes(texts);
    Some(Lexical {
        docs: texts.len() as u64,
        words,
        types,
        distinct_1: metrics::distinct_n(&docs, 1),
        distinct_2: metrics::distinct_n(&docs, 2),
        distinct_3: metrics::distinct_n(&docs, 3),
        unigram_entropy_bits: metrics::unigram_entropy(&docs),
        type_token_curve: curve,
        heaps_k: fit.map(|f| f.0),
        heaps_beta: fit.map(|f| f.1),
        raw_bytes: raw,
        zstd_bytes: packed,
        compression_ratio: share(raw, packed),
        zstd_level: metrics::ZSTD_LEVEL,
    })
}

fn size_bins(sizes: &[(u64, u64)]) -> Vec<SizeBin> {
    let bounds: [(u64, Option<u64>); 8] = [
        (2, Some(2)),
        (3, Some(3)),
        (4, Some(4)),
        (5, Some(9)),
        (10, Some(19)),
        (20, Some(49)),
        (50, Some(99)),
        (100, None),
    ];
    bounds
        .iter()
        .map(|&(lo, hi)| {
            let inside = sizes
                .iter()
                .filter(|(_, n)| *n >= lo && hi.is_none_or(|h| *n <= h));
            let (clusters, documents) = inside.fold((0, 0), |(c, d), (_, n)| (c + 1, d + n));
            let label = match hi {
                Some(h) if h == lo => lo.to_string(),
                Some(h) => format!("{lo}-{h}"),
                None => format!("{lo}+"),
            };
            SizeBin {
                label,
                min: lo,
                max: hi,
                clusters,
                documents,
            }
        })
        .collect()
}

/// Averages consecutive points so at most `max` remain.
fn downsample(points: Vec<CurvePoint>, max: usize) -> Vec<CurvePoint> {
    if points.len() <= max || max == 0 {
        return points;
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .map(|c| {
            let n = c.len() as f64;
            CurvePoint {
                x: c.iter().map(|p| p.x).sum::<f64>() / n,
                y: c.iter().map(|p| p.y).sum::<f64>() / n,
            }
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(metrics::quantile(&v, 0.5))
}

/// Reads a training metrics file (`metrics.jsonl`); unreadable lines are skipped.
pub fn training(path: &Path, out: &Path) -> Option<TrainingReport> {
    let text = crate::storage::read_to_string(path).ok()?;
    let (mut loss, mut val, mut ppl, mut tps, mut mfu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut steps, mut tokens) = (0u64, 0u64);
    let mut mixture: Vec<MixtureSource> = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let num = |k: &str| v.get(k).and_then(Value::as_f64).filter(|x| x.is_finite());
        let Some(step) = v.get("step").and_then(Value::as_u64) else {
            continue;
        };
        steps = steps.max(step);
        if let Some(t) = v.get("tokens").and_then(Value::as_u64) {
            tokens = tokens.max(t);
        }
        let x = step as f64;
        if let Some(l) = num("val_loss") {
            if let Some(sources) = v.get("sources").and_then(Value::as_array) {
                let curves: Vec<Vec<CurvePoint>> = mixture.drain(..).map(|m| m.val_curve).collect();
                mixture = sources
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let f = |k: &str| s.get(k).and_then(Value::as_f64);
                        let mut val_curve = curves.get(i).cloned().unwrap_or_default();
                        if let Some(y) = f("val_loss") {
                            val_curve.push(CurvePoint { x, y });
                        }
                        MixtureSource {
                            name: s.get("name").and_then(Value::as_str).unwrap_or("").into(),
                            weight: f("weight").unwrap_or(f64::NAN),
                            share: f("share").unwrap_or(f64::NAN),
                            windows: s.get("windows").and_then(Value::as_u64).unwrap_or(0),
                            epochs: f("epochs").unwrap_or(f64::NAN),
                            val_loss: f("val_loss"),
                            bits_per_byte: f("bits_per_byte"),
                            val_curve,
                        }
                    })
                    .collect();
            }
            val.push(CurvePoint { x, y: l });
            ppl.push(CurvePoint {
                x,
                y: num("perplexity").unwrap_or(l.exp()),
            });
        } else if let Some(l) = num("loss") {
            loss.push(CurvePoint { x, y: l });
            if let Some(t) = num("tokens_per_s") {
                tps.push(CurvePoint { x, y: t });
            }
            if let Some(m) = num("mfu") {
                mfu.push(m);
            }
        }
    }
    if loss.is_empty() && val.is_empty() {
        return None;
    }
    let metrics_file = path.strip_prefix(out).unwrap_or(path).display().to_string();
    Some(TrainingReport {
        metrics_file,
        steps,
        tokens,
        final_loss: loss.last().map(|p| p.y),
        initial_val_loss: val.first().map(|p| p.y),
        final_val_loss: val.last().map(|p| p.y),
        best_val_loss: val.iter().map(|p| p.y).min_by(f64::total_cmp),
        final_perplexity: ppl.last().map(|p| p.y),
        tokens_per_s_median: median(tps.iter().map(|p| p.y).collect()),
        mfu_median: median(mfu),
        loss: downsample(loss, CURVE_POINTS),
        val_loss: val,
        perplexity: ppl,
        tokens_per_s: downsample(tps, CURVE_POINTS),
        mixture,
    })
}

/// Token counts per id and tokens per document, from the token shards.
fn token_counts(files: &[PathBuf]) -> Result<(Vec<u64>, LogHist), ReportError> {
    let mut counts: Vec<u64> = Vec::new();
    let mut per_doc = LogHist::default();
    stream(files, &["tokens", "n_tokens"], |df| {
        for n in u64_values(df, "n_tokens").into_iter().flatten() {
            per_doc.add(n);
        }
        let Ok(lists) = df.column("tokens").and_then(|c| c.list()) else {
            return Ok(());
        };
        for row in lists.amortized_iter().flatten() {
            let Ok(ca) = row.as_ref().u32() else { continue };
            for arr in ca.downcast_iter() {
                for &t in arr.values().iter() {
                    let t = t as usize;
                    if t >= counts.len() {
                        counts.resize(t + 1, 0);
                    }
                    counts[t] += 1;
                }
            }
        }
        Ok(())
    })?;
    Ok((counts, per_doc))
}

/// The tokenizer section and the tokens-per-document distribution (`None` without token shards).
fn tokenizer_report(
    out: &Path,
    manifest: Option<&Value>,
    kept_words: u64,
    notes: &mut Vec<String>,
) -> Result<Option<(TokenizerReport, Option<Dist>)>, ReportError> {
    let mut files = Vec::new();
    let mut split_files = BTreeMap::new();
    for split in ["train", "val"] {
        let f = parquet_files(&out.join("tokens").join(split));
        split_files.insert(split.to_string(), f.clone());
        files.extend(f);
    }
    if files.is_empty() {
        return Ok(None);
    }
    let mut splits = BTreeMap::new();
    let mut counts: Vec<u64> = Vec::new();
    let mut per_doc = LogHist::default();
    for (split, f) in &split_files {
        let (c, d) = token_counts(f)?;
        splits.insert(split.clone(), d.sum as u64);
        if counts.len() < c.len() {
            counts.resize(c.len(), 0);
        }
        for (a, b) in counts.iter_mut().zip(&c) {
            *a += b;
        }
        per_doc.merge(&d);
    }
    let tokens: u64 = counts.iter().sum();
    let tok_path = out.join("tokenizer.json");
    let tok = match tokenizers::Tokenizer::from_file(crate::storage::ensure_local(&tok_path)) {
        Ok(t) => Some(t),
        Err(e) => {
            notes.push(format!(
                "tokenizer.json could not be loaded ({e}): longest tokens are not shown"
            ));
            None
        }
    };
    let vocab_size = tok
        .as_ref()
        .map_or(counts.len() as u64, |t| t.get_vocab_size(true) as u64);
    let used = counts.iter().filter(|&&c| c > 0).count() as u64;
    let decode = |id: u32| -> String {
        tok.as_ref()
            .and_then(|t| {
                t.decode(&[id], false)
                    .ok()
                    .filter(|s| !s.is_empty())
                    .or_else(|| t.id_to_token(id))
            })
            .unwrap_or_default()
    };
    let count_of = |id: u32| counts.get(id as usize).copied().unwrap_or(0);
    let entry = |id: u32, text: String| TokenEntry {
        id,
        bytes: text.len() as u64,
        text,
        count: count_of(id),
    };
    let mut longest: Vec<TokenEntry> = Vec::new();
    if let Some(t) = &tok {
        // Special tokens (`<|endoftext|>`) are not text the model learned to merge.
        let added = t.get_added_tokens_decoder();
        let mut all: Vec<(usize, u32, String)> = (0..vocab_size as u32)
            .filter(|id| !added.contains_key(id))
            .map(|id| {
                let s = decode(id);
                (s.len(), id, s)
            })
            .collect();
        all.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        longest = all
            .into_iter()
            .take(15)
            .map(|(_, id, s)| entry(id, s))
            .collect();
    }
    let mut ranked: Vec<(u64, u32)> = counts
        .iter()
        .enumerate()
        .filter(|(_, &c)| c > 0)
        .map(|(i, &c)| (c, i as u32))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let most_frequent = ranked
        .iter()
        .take(15)
        .map(|&(_, id)| entry(id, decode(id)))
        .collect();
    let mut rank_frequency = Vec::new();
    let mut r = 1usize;
    while r <= ranked.len() {
        rank_frequency.push(CurvePoint {
            x: r as f64,
            y: ranked[r - 1].0 as f64,
        });
        let next = ((r as f64) * 1.25).ceil() as usize;
        r = next.max(r + 1);
    }
    if ranked.len() > 1
        && rank_frequency
            .last()
            .is_some_and(|p| p.x as usize != ranked.len())
    {
        rank_frequency.push(CurvePoint {
            x: ranked.len() as f64,
            y: ranked[ranked.len() - 1].0 as f64,
        });
    }
    // Text bytes and special tokens per document come from the manifest's tokenize section.
    let tsec = manifest.and_then(|m| m.get("tokens"));
    let docs = per_doc.n;
    let (mut bytes, mut specials_per_doc) = (None, 1u64);
    if let Some(t) = tsec {
        let b: u64 = t.get("splits").and_then(Value::as_object).map_or(0, |s| {
            s.values()
                .filter_map(|v| v.get("bytes").and_then(Value::as_u64))
                .sum()
        });
        bytes = (b > 0).then_some(b);
        if t.get("bos").is_some_and(|b| !b.is_null()) {
            specials_per_doc = 2;
        }
    }
    let text_tokens = tokens.saturating_sub(docs * specials_per_doc);
    if bytes.is_none() {
        notes.push("the manifest has no tokenize section: bytes per token is not shown".into());
    }
    let report = TokenizerReport {
        file: tok.as_ref().map(|_| "tokenizer.json".to_string()),
        vocab_size,
        used,
        used_share: share(used, vocab_size),
        docs,
        tokens,
        splits,
        bytes_per_token: bytes.and_then(|b| share(b, text_tokens)),
        tokens_per_word: share(text_tokens, kept_words),
        longest,
        most_frequent,
        rank_frequency,
        encoding: tsec.and_then(|t| t.get("encode")).and_then(encoding_report),
    };
    Ok(Some((report, per_doc.dist())))
}

/// The manifest's `tokens.encode` section, when it names its encoder.
fn encoding_report(e: &Value) -> Option<EncodingReport> {
    let s = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
    let f = |k: &str| e.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    Some(EncodingReport {
        encoder: s("encoder").filter(|v| !v.is_empty())?,
        detail: s("encoder_detail").unwrap_or_default(),
        threads: e.get("threads").and_then(Value::as_u64).unwrap_or(0),
        tokens_per_second: f("tokens_per_second"),
        mb_per_second: f("mb_per_second"),
    })
}

/// Computes the report of the output directory `out`.
pub fn build(out: &Path, opts: &ReportOptions) -> Result<Report, ReportError> {
    let stats_path = out.join("stats.json");
    let stats_text =
        crate::storage::read_to_string(&stats_path).map_err(|source| ReportError::NotAnOutput {
            path: stats_path.clone(),
            source,
        })?;
    let stats: RunStats = serde_json::from_str(&stats_text).map_err(|e| ReportError::Invalid {
        path: stats_path.clone(),
        message: e.to_string(),
    })?;
    let manifest = read_json(&out.join("manifest.json"));
    let seed = opts
        .seed
        .or_else(|| {
            manifest
                .as_ref()
                .and_then(|m| m.get("seed"))
                .and_then(Value::as_u64)
        })
        .unwrap_or(42);
    let mut notes = Vec::new();
    if manifest.is_none() {
        notes.push("no readable manifest.json: the run may not have finished".into());
    }

    let doc_files = parquet_files(&out.join("documents"));
    let dropped_files = parquet_files(&out.join("dropped"));
    let rejected_files = parquet_files(&out.join("rejected"));
    let dropped_written = out.join("dropped").is_dir();
    if !dropped_written && stats.dropped_total() > 0 {
        notes.push("dropped/ was not written (output.write_dropped: false): the \"before\" figures, drop examples and dropped-side distributions are missing".into());
    }

    // Light group-bys first: the streaming pass needs the largest clusters' ids.
    let (mut sizes, any_cluster) = cluster_sizes(&[&doc_files, &dropped_files])?;
    sizes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top_ids: Vec<u64> = sizes.iter().take(TOP_CLUSTERS).map(|s| s.0).collect();
    let mut langs: HashMap<String, CatCount> = HashMap::new();
    let mut lang_scores: HashMap<String, (f64, u64)> = HashMap::new();
    let mut any_lang = false;
    for (files, dropped) in [(&doc_files, false), (&dropped_files, true)] {
        for (k, n, s) in count_by(files, "lang", Some("lang_score"))? {
            any_lang |= k.is_some();
            let k = k.unwrap_or_else(|| NO_LANG.to_string());
            let c = langs.entry(k.clone()).or_default();
            if dropped {
                c.dropped += n;
            } else {
                c.kept += n;
            }
            if let Some(s) = s {
                let e = lang_scores.entry(k).or_insert((0.0, 0));
                e.0 += s * n as f64;
                e.1 += n;
            }
        }
    }
    let mut sources: HashMap<String, CatCount> = HashMap::new();
    for (files, dropped) in [(&doc_files, false), (&dropped_files, true)] {
        for (k, n, _) in count_by(files, "source", None)? {
            let c = sources.entry(k.unwrap_or_default()).or_default();
            if dropped {
                c.dropped += n
            } else {
                c.kept += n
            }
        }
    }

    // The streaming pass.
    let cols = [
        "id",
        "text",
        "source",
        "lang",
        "cluster_id",
        "metadata",
        "signals",
    ];
    let mut kept = Pass::new(seed, opts.sample, &top_ids);
    stream(&doc_files, &cols, |df| kept.batch(df, false))?;
    let mut dcols = cols.to_vec();
    dcols.extend(["reason", "duplicate_of"]);
    let mut drop = Pass::new(seed, opts.sample, &top_ids);
    stream(&dropped_files, &dcols, |df| drop.batch(df, true))?;

    let mut rejected_examples: HashMap<String, Vec<RejectedExample>> = HashMap::new();
    stream(
        &rejected_files,
        &["source", "location", "reason", "detail", "raw"],
        |df| {
            let (s, l, r, d, raw) = (
                str_values(df, "source"),
                str_values(df, "location"),
                str_values(df, "reason"),
                str_values(df, "detail"),
                str_values(df, "raw"),
            );
            for i in 0..df.height() {
                let v = rejected_examples
                    .entry(r[i].clone().unwrap_or_default())
                    .or_default();
                if v.len() < EXAMPLES_PER_REASON {
                    v.push(RejectedExample {
                        source: s[i].clone().unwrap_or_default(),
                        location: l[i].clone().unwrap_or_default(),
                        detail: metrics::snippet(d[i].as_deref().unwrap_or(""), SNIPPET_CHARS).0,
                        raw: metrics::snippet(raw[i].as_deref().unwrap_or(""), SNIPPET_CHARS).0,
                    });
                }
            }
            Ok(())
        },
    )?;

    // Samples: "after" = kept; "before" = the smallest keys over kept and dropped together,
    // which lie within the union of the two per-dataset samples.
    let kept_sample = std::mem::replace(&mut kept.sample, BottomK::new(0)).into_sorted();
    let dropped_sample = std::mem::replace(&mut drop.sample, BottomK::new(0)).into_sorted();
    let mut before: Vec<&Sampled> = kept_sample.iter().chain(&dropped_sample).collect();
    before.sort();
    before.truncate(opts.sample);
    fn texts(v: &[Sampled]) -> Vec<&str> {
        v.iter().map(|s| s.text.as_str()).collect()
    }
    // Without dropped/ (but with drops) the "before" population cannot be sampled.
    if dropped_sample.is_empty() && stats.dropped_total() > 0 {
        before.clear();
    }
    let before_texts: Vec<&str> = before.iter().map(|s| s.text.as_str()).collect();
    let (after_texts, dropped_texts) = (texts(&kept_sample), texts(&dropped_sample));

    // Funnel.
    let documents_in = stats.input.saturating_sub(stats.rejected_total());
    let (tokenizer, tokens_per_doc) =
        match tokenizer_report(out, manifest.as_ref(), kept.words.sum as u64, &mut notes)? {
            Some((t, d)) => (Some(t), d),
            None => (None, None),
        };
    let bpt = tokenizer.as_ref().and_then(|t| t.bytes_per_token);
    let est = |b: u64| bpt.map(|r| (b as f64 / r).round() as u64);
    let stages: Vec<FunnelStage> = stats
        .stages
        .iter()
        .map(|s| FunnelStage {
            index: s.index as u64,
            kind: s.kind.clone(),
            seen: s.seen,
            kept: s.kept,
            dropped: s.dropped_total(),
            bytes_in: s.bytes_in,
            bytes_out: s.bytes_out,
            tokens_in_est: est(s.bytes_in),
            tokens_out_est: est(s.bytes_out),
            drop_reasons: s.dropped.clone(),
            counters: s.counters.clone(),
            seconds: s.seconds,
        })
        .collect();
    let dropped_total = stats.dropped_total();
    let mut drop_reasons: Vec<DropReason> = stats
        .dropped
        .iter()
        .map(|(reason, &count)| {
            let stage = stats.stages.iter().find(|s| s.dropped.contains_key(reason));
            let examples = drop
                .examples
                .remove(reason)
                .map(|h| h.into_sorted())
                .unwrap_or_default()
                .into_iter()
                .map(|Keyed(_, _, e)| DocExample {
                    id: e.0,
                    source: e.1,
                    chars: e.2,
                    snippet: e.3,
                    truncated: e.4,
                    duplicate_of: e.5,
                })
                .collect();
            DropReason {
                reason: reason.clone(),
                stage_index: stage.map(|s| s.index as u64),
                stage: stage.map(|s| s.kind.clone()),
                count,
                share_of_input: share(count, documents_in).unwrap_or(0.0),
                share_of_dropped: share(count, dropped_total).unwrap_or(0.0),
                examples,
            }
        })
        .collect();
    drop_reasons.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    let mut rejected_reasons: Vec<RejectedReason> = stats
        .rejected
        .iter()
        .map(|(reason, &count)| RejectedReason {
            reason: reason.clone(),
            count,
            share_of_input: share(count, stats.input).unwrap_or(0.0),
            examples: rejected_examples.remove(reason).unwrap_or_default(),
        })
        .collect();
    rejected_reasons.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
    let language_rows = if any_lang && dropped_written {
        Some(language_funnel(&doc_files, &dropped_files)?)
    } else {
        None
    };
    let funnel = Funnel {
        languages: language_rows,
        input_records: stats.input,
        documents_in,
        bytes_in: stats.input_bytes,
        kept: stats.kept,
        kept_bytes: stats.kept_bytes,
        dropped: dropped_total,
        rejected: stats.rejected_total(),
        kept_share: share(stats.kept, documents_in),
        kept_bytes_share: share(stats.kept_bytes, stats.input_bytes),
        tokens: tokenizer.as_ref().map(|t| t.tokens),
        dropped_written,
        stages,
        drop_reasons,
        rejected_reasons,
    };

    // Diversity, duplicates, sources.
    for (k, c) in langs.iter_mut() {
        c.kept_bytes = kept.lang_bytes.get(k).copied().unwrap_or(0);
    }
    let scores: HashMap<String, f64> = lang_scores
        .into_iter()
        .map(|(k, (s, n))| (k, s / n.max(1) as f64))
        .collect();
    let languages = any_lang.then(|| breakdown(langs, kept.total_bytes, &scores));
    for (k, c) in sources.iter_mut() {
        c.kept_bytes = kept.source_bytes.get(k).copied().unwrap_or(0);
    }
    let files =
        (!sources.is_empty()).then(|| breakdown(sources, kept.total_bytes, &HashMap::new()));
    let mut domains = kept.domains;
    for (k, c) in drop.domains {
        domains.entry(k).or_default().dropped += c.dropped;
    }
    let domains =
        (!domains.is_empty()).then(|| breakdown(domains, kept.total_bytes, &HashMap::new()));

    let mut clusters_members = kept.clusters;
    for (c, m) in drop.clusters {
        let v = clusters_members.entry(c).or_default();
        for x in m {
            if v.len() < MEMBERS_PER_CLUSTER {
                v.push(x);
            }
        }
    }
    let top = sizes
        .iter()
        .take(TOP_CLUSTERS)
        .map(|&(id, size)| Cluster {
            cluster_id: format!("{id:016x}"),
            size,
            members: clusters_members.remove(&id).unwrap_or_default(),
        })
        .collect();
    let duplicates = Duplicates {
        available: any_cluster,
        clusters: sizes.len() as u64,
        documents: sizes.iter().map(|s| s.1).sum(),
        dropped_as_duplicates: stats
            .dropped
            .iter()
            .filter(|(k, _)| k.starts_with("dedup:"))
            .map(|(_, v)| v)
            .sum(),
        largest: sizes.first().map_or(0, |s| s.1),
        size_histogram: size_bins(&sizes),
        top,
    };

    let diversity = Diversity {
        languages,
        chars: LengthDists {
            kept: kept.chars.dist(),
            dropped: drop.chars.dist(),
        },
        words: LengthDists {
            kept: kept.words.dist(),
            dropped: drop.words.dist(),
        },
        tokens: tokens_per_doc,
        after: lexical(&after_texts),
        before: if dropped_texts.is_empty() {
            None
        } else {
            lexical(&before_texts)
        },
    };

    let train_file = opts
        .train_dir
        .clone()
        .unwrap_or_else(|| out.join("train"))
        .join("metrics.jsonl");
    let training = training(&train_file, out);

    let run = RunInfo {
        out_dir: out.display().to_string(),
        config_hash: manifest
            .as_ref()
            .and_then(|m| m.get("config_hash"))
            .and_then(Value::as_str)
            .map(str::to_string),
        complete: manifest
            .as_ref()
            .and_then(|m| m.get("complete"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        seed: manifest
            .as_ref()
            .and_then(|m| m.get("seed"))
            .and_then(Value::as_u64),
        stages: stats.stages.iter().map(|s| s.kind.clone()).collect(),
        input_files: manifest
            .as_ref()
            .and_then(|m| m.get("inputs"))
            .and_then(Value::as_array)
            .map_or(0, |a| a.len() as u64),
        input_file_bytes: manifest
            .as_ref()
            .and_then(|m| m.get("inputs"))
            .and_then(Value::as_array)
            .map_or(0, |a| {
                a.iter()
                    .filter_map(|i| i.get("bytes").and_then(Value::as_u64))
                    .sum()
            }),
        seconds: stats.seconds,
    };
    let sample = SampleInfo {
        size: opts.sample as u64,
        seed,
        method: "per dataset, the documents with the smallest xxh3-64(id, seed); \"before\" takes the smallest over kept and dropped together".into(),
        kept: kept_sample.len() as u64,
        dropped: dropped_sample.len() as u64,
        before: before.len() as u64,
        kept_population: kept.chars.n,
        dropped_population: drop.chars.n,
        max_text_bytes: MAX_TEXT_BYTES as u64,
    };
    if (kept.chars.n as usize) > opts.sample {
        notes.push(format!(
            "noise, lexical and signal figures are computed on a seeded sample of {} of {} kept documents; distinct-n and compression depend on the sample size, so compare them at equal --sample",
            kept_sample.len(),
            kept.chars.n
        ));
    }
    let signals = signal_dists(&kept_sample, &dropped_sample);
    let model_scores = model_scores(&kept_sample, &dropped_sample);
    let noise = noise_metrics(&before_texts, &after_texts, &dropped_texts);
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        tool: "corpusforge".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        run,
        sample,
        funnel,
        noise,
        signals,
        model_scores,
        diversity,
        duplicates,
        sources: Sources {
            files,
            domains,
            kept_with_url: kept.with_url,
        },
        tokenizer,
        training,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn bottom_k_keeps_the_smallest() {
        let mut b = BottomK::new(3);
        for x in [5, 1, 9, 3, 7, 2] {
            b.push(x);
        }
        assert_eq!(b.into_sorted(), vec![1, 2, 3]);
    }

    #[test]
    fn cluster_size_bins() {
        let bins = size_bins(&[(1, 2), (2, 2), (3, 7), (4, 150)]);
        assert_eq!(bins[0].clusters, 2);
        assert_eq!(bins[0].documents, 4);
        assert_eq!(bins[3].label, "5-9");
        assert_eq!(bins[3].clusters, 1);
        assert_eq!(bins[7].label, "100+");
        assert_eq!(bins[7].documents, 150);
    }

    #[test]
    fn downsampling_averages() {
        let pts: Vec<CurvePoint> = (0..10)
            .map(|i| CurvePoint {
                x: i as f64,
                y: 2.0 * i as f64,
            })
            .collect();
        let d = downsample(pts, 5);
        assert_eq!(d.len(), 5);
        assert_eq!(d[0], CurvePoint { x: 0.5, y: 1.0 });
    }

    #[test]
    fn signal_range_edges() {
        assert_eq!(
            range_edges(0.0, 10.0, 5, false),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
        );
        assert_eq!(range_edges(3.0, 3.0, 5, false), vec![3.0, 4.0]);
        assert_eq!(
            range_edges(0.0, 8.0, 20, true),
            (0..=9).map(f64::from).collect::<Vec<_>>()
        );
    }

    #[test]
    fn training_metrics_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        fs::write(
            &p,
            "{\"kind\":\"eval\",\"step\":0,\"tokens\":0,\"val_loss\":4.0,\"perplexity\":54.6}\n\
             {\"kind\":\"train\",\"step\":1,\"tokens\":10,\"loss\":3.5,\"lr\":0.1,\"grad_norm\":1,\"tokens_per_s\":100,\"mfu\":0.1,\"elapsed_s\":1}\n\
             not json\n\
             {\"step\":2,\"tokens\":20,\"loss\":3.0,\"tokens_per_s\":300}\n\
             {\"step\":2,\"tokens\":20,\"val_loss\":3.2}\n",
        )
        .unwrap();
        let t = training(&p, dir.path()).unwrap();
        assert_eq!((t.steps, t.tokens), (2, 20));
        assert_eq!(t.final_loss, Some(3.0));
        assert_eq!(
            (t.initial_val_loss, t.final_val_loss, t.best_val_loss),
            (Some(4.0), Some(3.2), Some(3.2))
        );
        assert_eq!(t.final_perplexity, Some(3.2f64.exp()));
        assert_eq!(t.tokens_per_s_median, Some(200.0));
        assert_eq!(t.metrics_file, "metrics.jsonl");
        assert!(training(&dir.path().join("missing"), dir.path()).is_none());
    }
}

#[cfg(test)]
mod model_score_tests {
    use super::spearman;

    #[test]
    fn spearman_of_known_pairs() {
        assert_eq!(
            spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 40.0]),
            Some(1.0)
        );
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        // Ties at their mean rank: ranks (1.5, 1.5, 3) and (1, 2, 3) give rho = sqrt(3)/2.
        let r = spearman(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]).unwrap();
        assert!((r - 3f64.sqrt() / 2.0).abs() < 1e-12, "{r}");
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }
}
