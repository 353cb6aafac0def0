//! `report.html`: one self-contained file — inline CSS, inline SVG charts, no scripts, no
//! fonts or anything else fetched — readable on a laptop screen and printable (`@media print`).
//!
//! Every chart is listed in the `data-charts` attribute of `<body>`, so a check (see
//! `scripts/check_report_html.sh`) can verify that each one made it into the rendered page.

use std::fmt::Write;

use super::figures::{self, Fmt};
use super::model::*;
use super::svg::{self, fmt_num, fmt_pct, BarRow, Line, Series, XAxis, DROP_COLOR, PALETTE};

pub use super::svg::esc;

/// An integer with thousands separators.
pub fn fmt_int(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in B / kB / MB / GB (powers of 1000).
pub fn fmt_bytes(v: u64) -> String {
    let f = v as f64;
    if f >= 1e9 {
        format!("{:.2} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.2} MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1} kB", f / 1e3)
    } else {
        format!("{v} B")
    }
}

/// A value with up to three decimals (`–` when absent).
pub fn fmt_f(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => {
            if x.abs() >= 1000.0 {
                fmt_int(x.round() as u64)
            } else if x.abs() >= 100.0 {
                let s = format!("{x:.1}");
                s.trim_end_matches(".0").to_string()
            } else {
                let s = format!("{x:.3}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        }
        _ => "–".into(),
    }
}

/// A figure formatted by its kind.
pub fn fmt_fig(v: Option<f64>, f: Fmt) -> String {
    match (v, f) {
        (None, _) => "–".into(),
        (Some(x), Fmt::Int) => fmt_int(x.max(0.0).round() as u64),
        (Some(x), Fmt::Bytes) => fmt_bytes(x.max(0.0).round() as u64),
        (Some(x), Fmt::Pct) => fmt_pct(x),
        (Some(x), Fmt::Float) => fmt_f(Some(x)),
    }
}

/// A decoded token with its whitespace made visible.
pub fn visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' ' => '␣'.to_string(),
            '\n' => "⏎".to_string(),
            '\t' => "⇥".to_string(),
            '\r' => "␍".to_string(),
            c if c.is_control() => format!("\\u{{{:04x}}}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

const CSS: &str = r#"
:root { --fg:#1d2330; --muted:#5b6474; --line:#d9dde4; --bg:#ffffff; --soft:#f4f6f9; --accent:#1f6fb4; --bad:#c8463d; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:var(--bg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 60px; }
header h1 { font-size: 26px; margin: 6px 0 2px; }
.sub { color: var(--muted); margin: 0 0 12px; overflow-wrap: anywhere; }
h2 { font-size: 20px; border-bottom: 2px solid var(--line); padding-bottom: 4px; margin: 34px 0 12px; }
h3 { font-size: 15px; margin: 22px 0 8px; }
nav.toc { display:flex; flex-wrap:wrap; gap:6px 14px; padding:8px 12px; background:var(--soft); border-radius:6px; }
nav.toc a { color: var(--accent); text-decoration: none; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(165px, 1fr)); gap: 10px; margin: 14px 0; }
.card { background: var(--soft); border-radius: 6px; padding: 8px 12px; }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
.grid { display:grid; grid-template-columns: repeat(auto-fit, minmax(500px, 1fr)); gap: 14px 22px; }
figure { margin: 0; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-weight: 600; margin: 4px 0; }
figcaption .d { font-weight: 400; color: var(--muted); font-size: 12px; display:block; }
svg.chart { width: 100%; max-width: 760px; height: auto; display: block; font-family: inherit; }
svg .grid { stroke: #e6e9ee; stroke-width: 1; }
svg .ax { stroke: #8a93a3; stroke-width: 1; }
svg text { fill: var(--fg); font-size: 11px; }
svg .tk { fill: var(--muted); font-size: 10.5px; }
svg .al { fill: var(--muted); font-size: 11px; }
svg .vl { fill: var(--fg); font-size: 10.5px; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px 4px 0; text-align: left; vertical-align: top; overflow-wrap: break-word; }
td.b { overflow-wrap: anywhere; }
th { color: var(--muted); font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.wide { overflow-x: auto; } .wide table { max-width: 100%; }
pre.snip { white-space: pre-wrap; word-break: break-word; background: var(--soft); border-left: 3px solid var(--line); margin: 4px 0 10px; padding: 6px 10px; font-size: 12px; max-height: 12em; overflow: hidden; }
.ex { margin: 6px 0 14px; }
.ex .meta { color: var(--muted); font-size: 12px; word-break: break-all; }
code { background: var(--soft); padding: 0 3px; border-radius: 3px; }
.note { color: var(--muted); }
.na { color: var(--muted); font-style: italic; }
.notes li { margin: 4px 0; }
.pos { color: #2a7a3f; } .neg { color: var(--bad); }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; }
@media print {
  body { font-size: 11px; }
  main { max-width: none; padding: 0; }
  nav.toc { display: none; }
  .grid { grid-template-columns: 1fr 1fr; }
  h2 { break-after: avoid; page-break-after: avoid; }
  pre.snip { max-height: none; }
  .wide { overflow: visible; }
  table { font-size: 9.5px; }
  th, td { padding-right: 6px; }
  svg.chart { max-width: 100%; }
  a { color: inherit; text-decoration: none; }
}
"#;

/// Builds the page: sections append to `body` and register their charts.
pub struct Page {
    body: String,
    charts: Vec<String>,
    toc: Vec<(String, String)>,
}

impl Page {
    /// An empty page.
    pub fn new() -> Self {
        Page {
            body: String::new(),
            charts: Vec::new(),
            toc: Vec::new(),
        }
    }

    /// Starts a section with a heading and a table-of-contents entry.
    pub fn section(&mut self, id: &str, title: &str) {
        self.toc.push((id.to_string(), title.to_string()));
        let _ = write!(
            self.body,
            r#"<section id="{}"><h2>{}</h2>"#,
            esc(id),
            esc(title)
        );
    }

    /// Ends the current section.
    pub fn end(&mut self) {
        self.body.push_str("</section>");
    }

    /// Raw HTML (already escaped).
    pub fn raw(&mut self, html: &str) {
        self.body.push_str(html);
    }

    /// A paragraph of text (escaped).
    pub fn p(&mut self, class: &str, text: &str) {
        let _ = write!(self.body, r#"<p class="{class}">{}</p>"#, esc(text));
    }

    /// A chart in a figure with a caption; `svg` must start with `<svg id="ID"`.
    pub fn chart(&mut self, id: &str, caption: &str, detail: &str, svg: String) {
        self.charts.push(id.to_string());
        let d = if detail.is_empty() {
            String::new()
        } else {
            format!(r#"<span class="d">{}</span>"#, esc(detail))
        };
        let _ = write!(
            self.body,
            "<figure><figcaption>{}{d}</figcaption>{svg}</figure>",
            esc(caption)
        );
    }

    /// Opens a grid of charts.
    pub fn grid(&mut self) {
        self.body.push_str(r#"<div class="grid">"#);
    }

    /// Closes a grid.
    pub fn end_grid(&mut self) {
        self.body.push_str("</div>");
    }

    /// A table: header cells (a leading `#` marks a numeric column and is removed) and rows of
    /// already escaped cells (made numeric, right-aligned, by [`num`]).
    pub fn table(&mut self, head: &[&str], rows: &[Vec<String>]) {
        let cell = |tag: &str, c: &str, marker: char| -> String {
            if let Some(n) = c.strip_prefix(marker) {
                format!(r#"<{tag} class="n">{n}</{tag}>"#)
            } else if let Some(b) = c.strip_prefix(BREAK) {
                format!(r#"<{tag} class="b">{b}</{tag}>"#)
            } else {
                format!("<{tag}>{c}</{tag}>")
            }
        };
        self.body
            .push_str(r#"<div class="wide"><table><thead><tr>"#);
        for h in head {
            self.body.push_str(&cell("th", &esc(h), '#'));
        }
        self.body.push_str("</tr></thead><tbody>");
        for r in rows {
            self.body.push_str("<tr>");
            for c in r {
                self.body.push_str(&cell("td", c, NUM));
            }
            self.body.push_str("</tr>");
        }
        self.body.push_str("</tbody></table></div>");
    }

    /// The chart ids registered so far.
    pub fn charts(&self) -> &[String] {
        &self.charts
    }

    /// The whole document.
    pub fn finish(self, title: &str, header: &str, footer: &str) -> String {
        let mut toc = String::new();
        for (id, t) in &self.toc {
            let _ = write!(toc, r##"<a href="#{}">{}</a>"##, esc(id), esc(t));
        }
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"generator\" content=\"corpusforge {}\"><title>{}</title><style>{}</style></head>\n<body data-charts=\"{}\"><main>{header}<nav class=\"toc\">{toc}</nav>{}<footer>{footer}</footer></main></body></html>\n",
            env!("CARGO_PKG_VERSION"),
            esc(title),
            CSS,
            esc(&self.charts.join(" ")),
            self.body
        )
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new()
    }
}

/// Marks a table cell as a number. Escaped text never starts with it ([`esc`] replaces
/// control characters).
const NUM: char = '\u{1}';

/// Marks a table cell of long ids, paths or text that may break anywhere.
const BREAK: char = '\u{2}';

/// A table cell that may break anywhere (long ids, paths, snippets).
pub fn brk(s: String) -> String {
    format!("{BREAK}{s}")
}

/// A numeric (right-aligned) table cell.
pub fn num(s: String) -> String {
    format!("{NUM}{s}")
}

fn n(s: String) -> String {
    num(s)
}

fn cards(figs: &[(&str, String)]) -> String {
    let mut out = String::from(r#"<div class="cards">"#);
    for (k, v) in figs {
        let _ = write!(
            out,
            r#"<div class="card"><div class="v">{}</div><div class="k">{}</div></div>"#,
            esc(v),
            esc(k)
        );
    }
    out.push_str("</div>");
    out
}

fn hist_series<'a>(
    named: &'a [(&'a str, &'a str, Option<&'a Dist>)],
) -> Vec<(Series<'a>, &'a [u64])> {
    named
        .iter()
        .filter_map(|(name, color, d)| {
            d.map(|d| (Series { name, color }, d.histogram.counts.as_slice()))
        })
        .collect()
}

fn first_edges<'a>(ds: &[Option<&'a Dist>]) -> Option<&'a [f64]> {
    ds.iter()
        .flatten()
        .map(|d| d.histogram.edges.as_slice())
        .next()
}

/// Puts two histograms over log-spaced bins of the same grid onto common edges.
pub fn align(
    a: Option<&Histogram>,
    b: Option<&Histogram>,
) -> Option<(Vec<f64>, Vec<u64>, Vec<u64>)> {
    let edges_of = |h: Option<&Histogram>| h.map(|h| h.edges.clone()).unwrap_or_default();
    let mut edges: Vec<f64> = edges_of(a).into_iter().chain(edges_of(b)).collect();
    if edges.is_empty() {
        return None;
    }
    edges.sort_by(f64::total_cmp);
    edges.dedup_by(|x, y| (*x - *y).abs() <= 1e-9 * x.abs().max(1.0));
    let place = |h: Option<&Histogram>| -> Vec<u64> {
        let mut out = vec![0u64; edges.len().saturating_sub(1)];
        if let Some(h) = h {
            for (i, c) in h.counts.iter().enumerate() {
                let lo = h.edges[i];
                if let Some(j) = edges
                    .iter()
                    .position(|e| (e - lo).abs() <= 1e-9 * lo.abs().max(1.0))
                {
                    if j < out.len() {
                        out[j] += c;
                    }
                }
            }
        }
        out
    };
    Some((edges.clone(), place(a), place(b)))
}

/// Merges the log-spaced bins of histograms over the same edges ([`super::metrics::LogHist`]:
/// a zero bin, then 10 per decade) into at most `max_bins`, keeping decades whole.
pub fn coarsen(edges: &[f64], counts: &[&[u64]], max_bins: usize) -> (Vec<f64>, Vec<Vec<u64>>) {
    let bins = edges.len().saturating_sub(1);
    let group_of = |e: f64, k: i64| -> i64 {
        if e <= 0.0 {
            i64::MIN
        } else {
            ((e.log10() * super::metrics::LOG_BINS_PER_DECADE as f64).round() as i64).div_euclid(k)
        }
    };
    let groups = |k: i64| -> usize {
        let mut g: Vec<i64> = edges[..bins].iter().map(|&e| group_of(e, k)).collect();
        g.dedup();
        g.len()
    };
    let k = [1i64, 2, 5, 10]
        .into_iter()
        .find(|&k| groups(k) <= max_bins)
        .unwrap_or(10);
    if k == 1 || bins == 0 {
        return (edges.to_vec(), counts.iter().map(|c| c.to_vec()).collect());
    }
    let mut new_edges = Vec::new();
    let mut new_counts: Vec<Vec<u64>> = vec![Vec::new(); counts.len()];
    let mut last = None;
    for (i, &e) in edges[..bins].iter().enumerate() {
        let g = group_of(e, k);
        if last != Some(g) {
            new_edges.push(e);
            for c in new_counts.iter_mut() {
                c.push(0);
            }
            last = Some(g);
        }
        for (c, src) in new_counts.iter_mut().zip(counts) {
            if let (Some(x), Some(v)) = (c.last_mut(), src.get(i)) {
                *x += v;
            }
        }
    }
    new_edges.push(edges[bins]);
    (new_edges, new_counts)
}

/// Most bins of a log-spaced histogram on the page.
const MAX_LOG_BINS: usize = 24;

fn noise_fmt(unit: &str) -> fn(f64) -> String {
    if unit == "ratio" {
        |v| {
            format!("{v:.2}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        }
    } else {
        fmt_num
    }
}

fn unit_label(unit: &str) -> &'static str {
    match unit {
        "ratio" => "ratio",
        "per_1k_chars" => "per 1,000 characters",
        _ => "per document",
    }
}

fn dist_cells(d: Option<&Dist>) -> Vec<String> {
    match d {
        Some(d) => vec![
            n(fmt_f(Some(d.p50))),
            n(fmt_f(Some(d.mean))),
            n(fmt_f(Some(d.p95))),
            n(fmt_pct(d.nonzero_share)),
        ],
        None => vec!["–".into(), "–".into(), "–".into(), "–".into()],
    }
}

fn doc_example(e: &DocExample) -> String {
    let mut meta = format!(
        "{} · {} · {} chars",
        esc(&e.id),
        esc(&e.source),
        fmt_int(e.chars)
    );
    if let Some(d) = &e.duplicate_of {
        let _ = write!(meta, " · duplicate of {}", esc(d));
    }
    format!(
        r#"<div class="ex"><div class="meta">{meta}</div><pre class="snip">{}{}</pre></div>"#,
        esc(&e.snippet),
        if e.truncated { "…" } else { "" }
    )
}

/// The summary cards of a report.
pub fn summary_cards(r: &Report) -> String {
    let mut figs: Vec<(&str, String)> = vec![
        ("documents in", fmt_int(r.funnel.documents_in)),
        (
            "kept",
            format!(
                "{} ({})",
                fmt_int(r.funnel.kept),
                r.funnel.kept_share.map_or("–".into(), fmt_pct)
            ),
        ),
        ("dropped", fmt_int(r.funnel.dropped)),
        ("rejected records", fmt_int(r.funnel.rejected)),
        (
            "text bytes kept",
            format!(
                "{} ({})",
                fmt_bytes(r.funnel.kept_bytes),
                r.funnel.kept_bytes_share.map_or("–".into(), fmt_pct)
            ),
        ),
    ];
    if let Some(t) = r.funnel.tokens {
        figs.push(("tokens written", fmt_int(t)));
    }
    if let Some(l) = &r.diversity.languages {
        figs.push(("languages kept", fmt_int(l.distinct_kept)));
    }
    if r.duplicates.available {
        figs.push(("duplicate clusters", fmt_int(r.duplicates.clusters)));
    }
    if let Some(x) = &r.diversity.after {
        figs.push(("distinct-2 (sample)", fmt_f(x.distinct_2)));
        figs.push(("zstd ratio (sample)", fmt_f(x.compression_ratio)));
    }
    if let Some(t) = &r.training {
        figs.push(("final val loss", fmt_f(t.final_val_loss)));
    }
    cards(&figs)
}

fn funnel_section(p: &mut Page, r: &Report) {
    let f = &r.funnel;
    p.section("funnel", "Funnel");
    p.raw(&summary_cards(r));
    if !f.stages.is_empty() {
        let rows: Vec<BarRow> = f
            .stages
            .iter()
            .map(|s| BarRow {
                label: format!("{} {}", s.index, s.kind),
                values: vec![s.kept as f64, s.dropped as f64],
                note: Some(format!(
                    "{} kept{}",
                    fmt_num(s.kept as f64),
                    if s.dropped > 0 {
                        format!(", {} dropped", fmt_num(s.dropped as f64))
                    } else {
                        String::new()
                    }
                )),
            })
            .collect();
        let series = [
            Series {
                name: "kept",
                color: PALETTE[0],
            },
            Series {
                name: "dropped",
                color: DROP_COLOR,
            },
        ];
        p.chart(
            "chart-funnel",
            "Documents through the stages",
            "Each bar is what entered the stage: kept (blue) and dropped (red).",
            svg::bars(
                "chart-funnel",
                "Documents through the stages",
                &rows,
                &series,
                true,
                fmt_num,
            ),
        );
    }
    let mut rows = Vec::new();
    for s in &f.stages {
        rows.push(vec![
            n(s.index.to_string()),
            esc(&s.kind),
            n(fmt_int(s.seen)),
            n(fmt_int(s.kept)),
            n(fmt_int(s.dropped)),
            n(fmt_bytes(s.bytes_in)),
            n(fmt_bytes(s.bytes_out)),
            n(s.tokens_in_est.map_or("–".into(), |t| fmt_num(t as f64))),
            n(s.tokens_out_est.map_or("–".into(), |t| fmt_num(t as f64))),
            n(format!("{:.2}s", s.seconds)),
        ]);
    }
    p.table(
        &[
            "##",
            "stage",
            "#docs in",
            "#docs out",
            "#dropped",
            "#bytes in",
            "#bytes out",
            "#tokens in (est.)",
            "#tokens out (est.)",
            "#time",
        ],
        &rows,
    );
    if let Some(t) = f.tokens {
        p.p("note", &format!("{} tokens written to the token shards; per-stage tokens are estimated from bytes at the kept corpus' bytes per token.", fmt_int(t)));
    }
    if let Some(langs) = &f.languages {
        p.raw("<h3>By language</h3>");
        p.p("note", "Each language's documents (as the language stage identified them; documents dropped before it count as und): how many were kept, and why the others were dropped.");
        let rows = language_funnel_rows(langs, esc);
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|mut r| {
                for c in &mut r[1..4] {
                    *c = n(std::mem::take(c));
                }
                r
            })
            .collect();
        p.table(&LANGUAGE_FUNNEL_HEAD, &rows);
    }
    p.raw("<h3>Drop reasons</h3>");
    if f.drop_reasons.is_empty() {
        p.p("na", "No document was dropped.");
    } else {
        let rows: Vec<BarRow> = f
            .drop_reasons
            .iter()
            .map(|d| BarRow {
                label: d.reason.clone(),
                values: vec![d.count as f64],
                note: Some(format!(
                    "{} ({} of input)",
                    fmt_int(d.count),
                    fmt_pct(d.share_of_input)
                )),
            })
            .collect();
        p.chart(
            "chart-drop-reasons",
            "Dropped documents by reason",
            "",
            svg::bars(
                "chart-drop-reasons",
                "Dropped documents by reason",
                &rows,
                &[Series {
                    name: "dropped",
                    color: DROP_COLOR,
                }],
                false,
                fmt_num,
            ),
        );
        let rows: Vec<Vec<String>> = f
            .drop_reasons
            .iter()
            .map(|d| {
                vec![
                    format!("<code>{}</code>", esc(&d.reason)),
                    d.stage.as_ref().map_or("–".into(), |s| {
                        format!("{} {}", d.stage_index.unwrap_or(0), esc(s))
                    }),
                    n(fmt_int(d.count)),
                    n(fmt_pct(d.share_of_input)),
                    n(fmt_pct(d.share_of_dropped)),
                ]
            })
            .collect();
        p.table(
            &["reason", "stage", "#documents", "#of input", "#of dropped"],
            &rows,
        );
        if f.dropped_written {
            p.raw("<h3>Examples of dropped documents</h3>");
            p.p("note", "Up to three per reason (the documents with the smallest seeded hash of their id), cut to 300 characters, as they were when dropped.");
            for d in &f.drop_reasons {
                let _ = write!(p.body, "<h4><code>{}</code></h4>", esc(&d.reason));
                if d.examples.is_empty() {
                    p.p("na", "No example in dropped/.");
                }
                for e in &d.examples {
                    p.raw(&doc_example(e));
                }
            }
        }
    }
    p.raw("<h3>Rejected records</h3>");
    if f.rejected_reasons.is_empty() {
        p.p("na", "No input record was rejected.");
    } else {
        let mut rows = Vec::new();
        for rj in &f.rejected_reasons {
            let examples: Vec<String> = rj
                .examples
                .iter()
                .map(|e| {
                    format!(
                        "{} ({}): {}<br><code>{}</code>",
                        esc(&e.source),
                        esc(&e.location),
                        esc(&e.detail),
                        esc(&e.raw)
                    )
                })
                .collect();
            for i in 0..examples.len().max(1) {
                let first = i == 0;
                rows.push(vec![
                    if first {
                        format!("<code>{}</code>", esc(&rj.reason))
                    } else {
                        String::new()
                    },
                    if first {
                        n(fmt_int(rj.count))
                    } else {
                        String::new()
                    },
                    if first {
                        n(fmt_pct(rj.share_of_input))
                    } else {
                        String::new()
                    },
                    brk(examples.get(i).cloned().unwrap_or_default()),
                ]);
            }
        }
        p.table(
            &["reason", "#records", "#of input", "examples (first three)"],
            &rows,
        );
    }
    p.end();
}

fn noise_section(p: &mut Page, r: &Report) {
    p.section("noise", "Noise");
    let s = &r.sample;
    p.p(
        "note",
        &format!(
            "On the seeded sample (seed {}): {} documents before (kept and dropped, as they left the pipeline), {} after (kept), {} dropped. Bars are each sample's share of documents per bin.",
            s.seed,
            fmt_int(s.before),
            fmt_int(s.kept),
            fmt_int(s.dropped)
        ),
    );
    let mut rows = Vec::new();
    for m in &r.noise {
        let mut row = vec![esc(&m.label), esc(unit_label(&m.unit))];
        row.extend(dist_cells(m.before.as_ref()));
        row.extend(dist_cells(m.after.as_ref()));
        rows.push(row);
    }
    p.table(
        &[
            "metric",
            "unit",
            "#before: p50",
            "#mean",
            "#p95",
            "#non-zero",
            "#after: p50",
            "#mean",
            "#p95",
            "#non-zero",
        ],
        &rows,
    );
    p.grid();
    for m in &r.noise {
        let named = [
            ("before", PALETTE[1], m.before.as_ref()),
            ("after", PALETTE[0], m.after.as_ref()),
        ];
        let series = hist_series(&named);
        let Some(edges) = first_edges(&[m.before.as_ref(), m.after.as_ref()]) else {
            continue;
        };
        let id = format!("chart-noise-{}", m.key.replace('_', "-"));
        let axis = XAxis {
            label: unit_label(&m.unit),
            fmt: noise_fmt(&m.unit),
            log: false,
            overflow: m.unit != "ratio",
        };
        let svg = svg::histogram(&id, &m.label, edges, &series, axis);
        p.chart(&id, &m.label, &m.description, svg);
    }
    p.end_grid();
    if !r.signals.is_empty() {
        p.raw("<h3>Quality-filter signals: kept vs dropped</h3>");
        let rows: Vec<Vec<String>> = r
            .signals
            .iter()
            .map(|sg| {
                let mut row = vec![format!("<code>{}</code>", esc(&sg.key))];
                let part = |d: Option<&Dist>| match d {
                    Some(d) => vec![
                        n(fmt_int(d.n)),
                        n(fmt_f(Some(d.p50))),
                        n(fmt_f(Some(d.mean))),
                    ],
                    None => vec![n("0".into()), "–".into(), "–".into()],
                };
                row.extend(part(sg.kept.as_ref()));
                row.extend(part(sg.dropped.as_ref()));
                row
            })
            .collect();
        p.table(
            &[
                "signal",
                "#kept n",
                "#p50",
                "#mean",
                "#dropped n",
                "#p50",
                "#mean",
            ],
            &rows,
        );
        p.grid();
        for (i, sg) in r.signals.iter().enumerate() {
            let named = [
                ("kept", PALETTE[0], sg.kept.as_ref()),
                ("dropped", DROP_COLOR, sg.dropped.as_ref()),
            ];
            let series = hist_series(&named);
            let Some(edges) = first_edges(&[sg.kept.as_ref(), sg.dropped.as_ref()]) else {
                continue;
            };
            let id = format!("chart-signal-{i}");
            p.chart(
                &id,
                &sg.key,
                "",
                svg::histogram(
                    &id,
                    &sg.key,
                    edges,
                    &series,
                    XAxis::linear("value", fmt_num),
                ),
            );
        }
        p.end_grid();
    } else {
        p.p("na", "No quality-filter signals in this run (set output.write_signals: true and signals: true on the quality stages to see them).");
    }
    for ms in &r.model_scores {
        p.raw(&format!(
            "<h3>Model score <code>{}</code>: extremes and correlations</h3>",
            esc(&ms.key)
        ));
        let rows: Vec<Vec<String>> = ms
            .highest
            .iter()
            .chain(&ms.lowest)
            .map(|e| {
                vec![
                    n(format!("{:.4}", e.score)),
                    if e.kept { "kept" } else { "dropped" }.to_string(),
                    format!("<code>{}</code>", esc(&e.id)),
                    esc(&e.text),
                ]
            })
            .collect();
        p.table(&["#score", "fate", "id", "text"], &rows);
        let rows: Vec<Vec<String>> = ms
            .correlations
            .iter()
            .map(|c| {
                vec![
                    format!("<code>{}</code>", esc(&c.signal)),
                    n(fmt_int(c.n)),
                    n(format!("{:+.3}", c.spearman)),
                ]
            })
            .collect();
        if !rows.is_empty() {
            p.table(&["signal", "#documents", "#Spearman rho"], &rows);
        }
    }
    p.end();
}

fn breakdown_rows(b: &Breakdown, score: bool) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = b
        .top
        .iter()
        .map(|s| {
            let mut r = vec![
                brk(esc(&s.name)),
                n(fmt_int(s.kept)),
                n(fmt_pct(s.kept_share)),
                n(s.kept_bytes_share.map_or("–".into(), fmt_pct)),
                n(fmt_int(s.dropped)),
            ];
            if score {
                r.push(n(fmt_f(s.mean_score)));
            }
            r
        })
        .collect();
    if b.other_kept + b.other_dropped > 0 {
        let mut r = vec![
            "(others)".into(),
            n(fmt_int(b.other_kept)),
            "".into(),
            "".into(),
            n(fmt_int(b.other_dropped)),
        ];
        if score {
            r.push(String::new());
        }
        rows.push(r);
    }
    rows
}

fn breakdown_chart(p: &mut Page, id: &str, caption: &str, b: &Breakdown) {
    let rows: Vec<BarRow> = b
        .top
        .iter()
        .take(15)
        .map(|s| BarRow {
            label: s.name.clone(),
            values: vec![s.kept as f64, s.dropped as f64],
            note: Some(if s.dropped > 0 {
                format!(
                    "{} kept ({}), {} dropped",
                    fmt_int(s.kept),
                    fmt_pct(s.kept_share),
                    fmt_int(s.dropped)
                )
            } else {
                format!("{} kept ({})", fmt_int(s.kept), fmt_pct(s.kept_share))
            }),
        })
        .collect();
    let series = [
        Series {
            name: "kept",
            color: PALETTE[0],
        },
        Series {
            name: "dropped",
            color: DROP_COLOR,
        },
    ];
    let detail = format!(
        "{} distinct among kept documents; entropy {} bits{}.",
        fmt_int(b.distinct_kept),
        fmt_f(Some(b.entropy_bits)),
        b.evenness
            .map_or(String::new(), |e| format!(", evenness {}", fmt_f(Some(e))))
    );
    p.chart(
        id,
        caption,
        &detail,
        svg::bars(id, caption, &rows, &series, true, fmt_num),
    );
}

fn length_chart(p: &mut Page, id: &str, caption: &str, d: &LengthDists, what: &str) {
    let Some((edges, k, dr)) = align(
        d.kept.as_ref().map(|x| &x.histogram),
        d.dropped.as_ref().map(|x| &x.histogram),
    ) else {
        return;
    };
    let (edges, c) = coarsen(&edges, &[&k, &dr], MAX_LOG_BINS);
    let (k, dr) = (c[0].clone(), c[1].clone());
    let mut series = vec![(
        Series {
            name: "kept",
            color: PALETTE[0],
        },
        k.as_slice(),
    )];
    if d.dropped.is_some() {
        series.push((
            Series {
                name: "dropped",
                color: DROP_COLOR,
            },
            dr.as_slice(),
        ));
    }
    let detail = match &d.kept {
        Some(k) => format!(
            "Kept: median {}, mean {}, p95 {} {what} (every document; log-spaced bins).",
            fmt_num(k.p50),
            fmt_num(k.mean),
            fmt_num(k.p95)
        ),
        None => String::new(),
    };
    let axis = XAxis {
        label: what,
        fmt: fmt_num,
        log: true,
        overflow: false,
    };
    p.chart(
        id,
        caption,
        &detail,
        svg::histogram(id, caption, &edges, &series, axis),
    );
}

/// A row of the lexical-diversity table: its label and how to show the figure.
pub type LexicalRow = (&'static str, fn(&Lexical) -> String);

/// The rows of the lexical-diversity table (HTML and Markdown).
pub const LEXICAL_ROWS: [LexicalRow; 9] = [
    ("documents", |l| fmt_int(l.docs)),
    ("words", |l| fmt_int(l.words)),
    ("distinct words (types)", |l| fmt_int(l.types)),
    ("distinct-1", |l| fmt_f(l.distinct_1)),
    ("distinct-2", |l| fmt_f(l.distinct_2)),
    ("distinct-3", |l| fmt_f(l.distinct_3)),
    ("unigram entropy (bits)", |l| {
        fmt_f(Some(l.unigram_entropy_bits))
    }),
    ("Heaps' law beta", |l| fmt_f(l.heaps_beta)),
    ("zstd compression ratio", |l| fmt_f(l.compression_ratio)),
];

fn lexical_rows(after: Option<&Lexical>, before: Option<&Lexical>) -> Vec<Vec<String>> {
    let get = |l: Option<&Lexical>, f: fn(&Lexical) -> String| l.map_or("–".to_string(), f);
    LEXICAL_ROWS
        .iter()
        .map(|(k, f)| vec![esc(k), n(get(after, *f)), n(get(before, *f))])
        .collect()
}

fn diversity_section(p: &mut Page, r: &Report) {
    let d = &r.diversity;
    p.section("diversity", "Diversity");
    p.grid();
    if let Some(l) = &d.languages {
        breakdown_chart(p, "chart-languages", "Language mix", l);
    }
    length_chart(
        p,
        "chart-len-chars",
        "Characters per document",
        &d.chars,
        "characters",
    );
    length_chart(
        p,
        "chart-len-words",
        "Words per document",
        &d.words,
        "words",
    );
    if let Some(t) = &d.tokens {
        let caption = "Tokens per document";
        let detail = format!(
            "Median {}, mean {}, p95 {} (special tokens included).",
            fmt_num(t.p50),
            fmt_num(t.mean),
            fmt_num(t.p95)
        );
        let (edges, c) = coarsen(&t.histogram.edges, &[&t.histogram.counts], MAX_LOG_BINS);
        let series = [(
            Series {
                name: "kept",
                color: PALETTE[0],
            },
            c[0].as_slice(),
        )];
        let axis = XAxis {
            label: "tokens",
            fmt: fmt_num,
            log: true,
            overflow: false,
        };
        p.chart(
            "chart-len-tokens",
            caption,
            &detail,
            svg::histogram("chart-len-tokens", caption, &edges, &series, axis),
        );
    }
    let mut lines = Vec::new();
    if let Some(a) = &d.after {
        lines.push(Line {
            name: "after (kept)",
            color: PALETTE[0],
            points: a.type_token_curve.iter().map(|p| (p.x, p.y)).collect(),
            dashed: false,
        });
    }
    if let Some(b) = &d.before {
        lines.push(Line {
            name: "before",
            color: PALETTE[1],
            points: b.type_token_curve.iter().map(|p| (p.x, p.y)).collect(),
            dashed: true,
        });
    }
    if !lines.is_empty() {
        let cap = "Type–token growth";
        p.chart(
            "chart-type-token",
            cap,
            "Distinct words as the sample is read (log–log); a flatter curve means a more repetitive corpus.",
            svg::lines("chart-type-token", cap, &lines, "words read", "distinct words", true, true),
        );
    }
    p.end_grid();
    if let Some(l) = &d.languages {
        p.raw("<h3>Languages</h3>");
        p.table(
            &[
                "language",
                "#kept",
                "#share",
                "#bytes share",
                "#dropped",
                "#mean score (all)",
            ],
            &breakdown_rows(l, true),
        );
    } else {
        p.p(
            "na",
            "No language was identified (no language stage in this run).",
        );
    }
    p.raw("<h3>Lexical diversity and compression (sample)</h3>");
    p.table(
        &["figure", "#after (kept)", "#before"],
        &lexical_rows(d.after.as_ref(), d.before.as_ref()),
    );
    p.end();
}

fn duplicates_section(p: &mut Page, r: &Report) {
    let d = &r.duplicates;
    p.section("duplicates", "Duplicates");
    if !d.available {
        p.p("na", "No dedup stage set cluster ids in this run.");
        p.end();
        return;
    }
    p.raw(&cards(&[
        ("clusters (2+ documents)", fmt_int(d.clusters)),
        ("documents in clusters", fmt_int(d.documents)),
        ("dropped as duplicates", fmt_int(d.dropped_as_duplicates)),
        ("largest cluster", fmt_int(d.largest)),
    ]));
    if d.clusters > 0 {
        // Bins up to the largest cluster's.
        let shown = d
            .size_histogram
            .iter()
            .rposition(|b| b.clusters > 0)
            .map_or(0, |i| i + 1);
        let rows: Vec<BarRow> = d.size_histogram[..shown]
            .iter()
            .map(|b| BarRow {
                label: format!("size {}", b.label),
                values: vec![b.clusters as f64],
                note: Some(format!(
                    "{} clusters, {} documents",
                    fmt_int(b.clusters),
                    fmt_int(b.documents)
                )),
            })
            .collect();
        p.chart(
            "chart-clusters",
            "Duplicate clusters by size",
            "",
            svg::bars(
                "chart-clusters",
                "Duplicate clusters by size",
                &rows,
                &[Series {
                    name: "clusters",
                    color: PALETTE[3],
                }],
                false,
                fmt_num,
            ),
        );
        p.raw("<h3>Largest clusters</h3>");
        let mut rows = Vec::new();
        for c in &d.top {
            for (i, m) in c.members.iter().enumerate() {
                let one_line: String = m.snippet.split_whitespace().collect::<Vec<_>>().join(" ");
                let (text, cut) = super::metrics::snippet(&one_line, 110);
                rows.push(vec![
                    if i == 0 {
                        format!("<code>{}</code>", esc(&c.cluster_id))
                    } else {
                        String::new()
                    },
                    if i == 0 {
                        n(fmt_int(c.size))
                    } else {
                        String::new()
                    },
                    brk(esc(&m.id)),
                    brk(esc(&m.status)),
                    brk(format!("{}{}", esc(&text), if cut { "…" } else { "" })),
                ]);
            }
        }
        p.table(&["cluster", "#size", "document", "status", "text"], &rows);
    } else {
        p.p("na", "No cluster has more than one document.");
    }
    p.end();
}

fn sources_section(p: &mut Page, r: &Report) {
    let s = &r.sources;
    p.section("sources", "Sources");
    p.grid();
    if let Some(f) = &s.files {
        breakdown_chart(p, "chart-sources", "Documents by input file", f);
    }
    if let Some(d) = &s.domains {
        breakdown_chart(p, "chart-domains", "Documents by URL domain", d);
    }
    p.end_grid();
    if let Some(f) = &s.files {
        p.raw("<h3>Input files</h3>");
        p.table(
            &["source", "#kept", "#share", "#bytes share", "#dropped"],
            &breakdown_rows(f, false),
        );
    }
    if let Some(d) = &s.domains {
        p.raw("<h3>Domains</h3>");
        p.p(
            "note",
            &format!("{} kept documents have a url.", fmt_int(s.kept_with_url)),
        );
        p.table(
            &["domain", "#kept", "#share", "#bytes share", "#dropped"],
            &breakdown_rows(d, false),
        );
    } else {
        p.p("na", "No document has a url in its metadata.");
    }
    p.end();
}

fn token_rows(v: &[TokenEntry]) -> Vec<Vec<String>> {
    v.iter()
        .map(|t| {
            vec![
                n(t.id.to_string()),
                format!("<code>{}</code>", esc(&visible(&t.text))),
                n(t.bytes.to_string()),
                n(fmt_int(t.count)),
            ]
        })
        .collect()
}

fn tokenizer_section(p: &mut Page, r: &Report) {
    p.section("tokenizer", "Tokenizer");
    let Some(t) = &r.tokenizer else {
        p.p("na", "No token shards in this run (no tokenize stage).");
        p.end();
        return;
    };
    p.raw(&cards(&[
        ("vocabulary", fmt_int(t.vocab_size)),
        (
            "vocabulary used",
            format!(
                "{} ({})",
                fmt_int(t.used),
                t.used_share.map_or("–".into(), fmt_pct)
            ),
        ),
        ("tokens", fmt_int(t.tokens)),
        ("bytes per token", fmt_f(t.bytes_per_token)),
        ("tokens per word", fmt_f(t.tokens_per_word)),
    ]));
    if let Some(e) = &t.encoding {
        p.raw(&cards(&[
            ("encoder", e.detail.clone()),
            (
                "encoding speed",
                format!(
                    "{} tokens/s, {:.2} MB/s on {} threads",
                    fmt_int(e.tokens_per_second.round() as u64),
                    e.mb_per_second,
                    e.threads
                ),
            ),
        ]));
    }
    let splits: Vec<Vec<String>> = t
        .splits
        .iter()
        .map(|(k, v)| vec![esc(k), n(fmt_int(*v))])
        .collect();
    p.table(&["split", "#tokens"], &splits);
    if !t.rank_frequency.is_empty() {
        let line = Line {
            name: "tokens",
            color: PALETTE[3],
            points: t.rank_frequency.iter().map(|p| (p.x, p.y)).collect(),
            dashed: false,
        };
        let cap = "Token frequency by rank";
        p.chart(
            "chart-token-zipf",
            cap,
            "Log–log (Zipf) plot over the token shards.",
            svg::lines(
                "chart-token-zipf",
                cap,
                &[line],
                "rank",
                "occurrences",
                true,
                true,
            ),
        );
    }
    if !t.longest.is_empty() {
        p.raw("<h3>Longest tokens</h3>");
        p.table(
            &[
                "#id",
                "token (␣ = space, ⏎ = newline)",
                "#bytes",
                "#occurrences",
            ],
            &token_rows(&t.longest),
        );
    }
    p.raw("<h3>Most frequent tokens</h3>");
    p.table(
        &["#id", "token", "#bytes", "#occurrences"],
        &token_rows(&t.most_frequent),
    );
    p.end();
}

/// The columns of the data mixture table.
pub const MIXTURE_HEAD: [&str; 7] = [
    "source",
    "#weight",
    "#realized",
    "#windows",
    "#epochs",
    "#val loss",
    "#bits/byte",
];

/// The rows of the data mixture table: one per source.
pub fn mixture_rows(mixture: &[MixtureSource]) -> Vec<Vec<String>> {
    mixture
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                fmt_pct(m.weight),
                fmt_pct(m.share),
                fmt_int(m.windows),
                format!("{:.2}", m.epochs),
                fmt_f(m.val_loss),
                fmt_f(m.bits_per_byte),
            ]
        })
        .collect()
}

fn training_section(p: &mut Page, r: &Report) {
    p.section("training", "Training");
    let Some(t) = &r.training else {
        p.p("na", "No training run (no train/metrics.jsonl).");
        p.end();
        return;
    };
    p.raw(&cards(&[
        ("steps", fmt_int(t.steps)),
        ("tokens trained", fmt_int(t.tokens)),
        ("final loss", fmt_f(t.final_loss)),
        (
            "val loss",
            format!(
                "{} → {}",
                fmt_f(t.initial_val_loss),
                fmt_f(t.final_val_loss)
            ),
        ),
        ("final perplexity", fmt_f(t.final_perplexity)),
        (
            "tokens/s (median)",
            t.tokens_per_s_median.map_or("–".into(), fmt_num),
        ),
        ("MFU (median)", t.mfu_median.map_or("–".into(), fmt_pct)),
    ]));
    p.grid();
    let mut lines = vec![
        Line {
            name: "train loss",
            color: PALETTE[0],
            points: t.loss.iter().map(|p| (p.x, p.y)).collect(),
            dashed: false,
        },
        Line {
            name: "val loss",
            color: PALETTE[1],
            points: t.val_loss.iter().map(|p| (p.x, p.y)).collect(),
            dashed: false,
        },
    ];
    let names: Vec<String> = t
        .mixture
        .iter()
        .map(|m| format!("val loss: {}", m.name))
        .collect();
    for (i, (m, name)) in t.mixture.iter().zip(&names).enumerate() {
        lines.push(Line {
            name,
            color: PALETTE[(2 + i) % PALETTE.len()],
            points: m.val_curve.iter().map(|p| (p.x, p.y)).collect(),
            dashed: true,
        });
    }
    if !t.mixture.is_empty() {
        p.p(
            "note",
            "The data mixture: each source's weight, its realized share of the training windows, \
             the passes over its tokens, and its val loss at the last evaluation.",
        );
        p.table(&MIXTURE_HEAD, &mixture_rows(&t.mixture));
    }
    p.chart(
        "chart-loss",
        "Loss",
        &format!("From {}.", t.metrics_file),
        svg::lines(
            "chart-loss",
            "Loss",
            &lines,
            "step",
            "cross-entropy",
            false,
            false,
        ),
    );
    if !t.tokens_per_s.is_empty() {
        let l = [Line {
            name: "tokens/s",
            color: PALETTE[4],
            points: t.tokens_per_s.iter().map(|p| (p.x, p.y)).collect(),
            dashed: false,
        }];
        p.chart(
            "chart-throughput",
            "Training throughput",
            "",
            svg::lines(
                "chart-throughput",
                "Training throughput",
                &l,
                "step",
                "tokens per second",
                false,
                false,
            ),
        );
    }
    p.end_grid();
    p.end();
}

fn notes_section(p: &mut Page, r: &Report) {
    p.section("notes", "Notes");
    let mut html = String::from(r#"<ul class="notes">"#);
    let mut notes = r.notes.clone();
    notes.push(format!("Sample: {}.", r.sample.method));
    for n in &notes {
        let _ = write!(html, "<li>{}</li>", esc(n));
    }
    html.push_str("</ul>");
    p.raw(&html);
    p.end();
}

fn header(r: &Report) -> String {
    format!(
        r#"<header><h1>Corpus quality report</h1><p class="sub">{} · {} stages: {} · config {} · corpusforge {}</p></header>"#,
        esc(&r.run.out_dir),
        r.run.stages.len(),
        esc(&r.run.stages.join(" → ")),
        esc(r.run.config_hash.as_deref().unwrap_or("–")),
        esc(&r.version)
    )
}

/// The whole `report.html`.
pub fn render(r: &Report) -> String {
    let mut p = Page::new();
    funnel_section(&mut p, r);
    noise_section(&mut p, r);
    diversity_section(&mut p, r);
    duplicates_section(&mut p, r);
    sources_section(&mut p, r);
    tokenizer_section(&mut p, r);
    training_section(&mut p, r);
    notes_section(&mut p, r);
    let footer = format!(
        "Figures are in report.json (schema: schemas/report.schema.json, version {}). Run time {:.1}s.",
        r.schema_version, r.run.seconds
    );
    p.finish(
        &format!("corpusforge report — {}", r.run.out_dir),
        &header(r),
        &esc(&footer),
    )
}

/// The comparison page of two reports.
pub fn render_compare(a: &Report, b: &Report, rows: &[figures::Diff]) -> String {
    let mut p = Page::new();
    let (na, nb) = ("A", "B");
    let sa = Series {
        name: na,
        color: PALETTE[0],
    };
    let sb = Series {
        name: nb,
        color: PALETTE[1],
    };
    p.section("figures", "Figures side by side");
    let _ = write!(
        p.body,
        r#"<p class="note">A = <code>{}</code> ({}), B = <code>{}</code> ({}). Δ = B − A.</p>"#,
        esc(&a.run.out_dir),
        esc(&a.run.stages.join(" → ")),
        esc(&b.run.out_dir),
        esc(&b.run.stages.join(" → "))
    );
    let mut section = "";
    let mut table: Vec<Vec<String>> = Vec::new();
    let flush = |p: &mut Page, section: &str, table: &mut Vec<Vec<String>>| {
        if !table.is_empty() {
            let _ = write!(p.body, "<h3>{}</h3>", esc(section));
            p.table(&["figure", "#A", "#B", "#Δ", "#Δ %"], table);
            table.clear();
        }
    };
    for d in rows {
        if d.section != section {
            flush(&mut p, section, &mut table);
            section = d.section;
        }
        let delta = match (d.diff, d.fmt) {
            (Some(x), Fmt::Pct) => format!("{:+.1} pp", x * 100.0),
            (Some(x), Fmt::Int) => format!("{:+}", x.round() as i64),
            (Some(x), Fmt::Bytes) => format!(
                "{}{}",
                if x < 0.0 { "−" } else { "+" },
                fmt_bytes(x.abs().round() as u64)
            ),
            (Some(x), Fmt::Float) => format!(
                "{}{}",
                if x < 0.0 { "−" } else { "+" },
                fmt_f(Some(x.abs()))
            ),
            (None, _) => "–".into(),
        };
        table.push(vec![
            esc(&d.label),
            n(fmt_fig(d.a, d.fmt)),
            n(fmt_fig(d.b, d.fmt)),
            n(esc(&delta)),
            n(d.rel_diff
                .map_or("–".into(), |x| format!("{:+.1}%", x * 100.0))),
        ]);
    }
    flush(&mut p, section, &mut table);
    p.end();

    p.section("charts", "Charts");
    p.grid();
    // Documents through the run.
    let fa = &a.funnel;
    let fb = &b.funnel;
    let rows = vec![
        BarRow {
            label: "documents in".into(),
            values: vec![fa.documents_in as f64, fb.documents_in as f64],
            note: None,
        },
        BarRow {
            label: "kept".into(),
            values: vec![fa.kept as f64, fb.kept as f64],
            note: None,
        },
        BarRow {
            label: "dropped".into(),
            values: vec![fa.dropped as f64, fb.dropped as f64],
            note: None,
        },
        BarRow {
            label: "rejected".into(),
            values: vec![fa.rejected as f64, fb.rejected as f64],
            note: None,
        },
    ];
    let series = [sa.clone(), sb.clone()];
    p.chart(
        "chart-cmp-funnel",
        "Documents",
        "",
        svg::bars(
            "chart-cmp-funnel",
            "Documents",
            &rows,
            &series,
            false,
            fmt_num,
        ),
    );
    // Drop reasons, union.
    let mut reasons: Vec<String> = fa
        .drop_reasons
        .iter()
        .chain(&fb.drop_reasons)
        .map(|d| d.reason.clone())
        .collect();
    reasons.sort();
    reasons.dedup();
    if !reasons.is_empty() {
        let count = |f: &Funnel, r: &str| {
            f.drop_reasons
                .iter()
                .find(|d| d.reason == r)
                .map_or(0.0, |d| d.count as f64)
        };
        let rows: Vec<BarRow> = reasons
            .iter()
            .map(|r| BarRow {
                label: r.clone(),
                values: vec![count(fa, r), count(fb, r)],
                note: None,
            })
            .collect();
        p.chart(
            "chart-cmp-drop-reasons",
            "Dropped by reason",
            "",
            svg::bars(
                "chart-cmp-drop-reasons",
                "Dropped by reason",
                &rows,
                &series,
                false,
                fmt_num,
            ),
        );
    }
    // Noise: mean per metric, after.
    let rows: Vec<BarRow> = a
        .noise
        .iter()
        .filter(|m| m.unit == "ratio")
        .map(|m| {
            let mean = |r: &Report| {
                r.noise
                    .iter()
                    .find(|x| x.key == m.key)
                    .and_then(|x| x.after.as_ref())
                    .map_or(0.0, |d| d.mean)
            };
            BarRow {
                label: m.label.clone(),
                values: vec![mean(a), mean(b)],
                note: None,
            }
        })
        .collect();
    if !rows.is_empty() {
        p.chart(
            "chart-cmp-noise",
            "Noise ratios after the pipeline (mean over the sample)",
            "",
            svg::bars(
                "chart-cmp-noise",
                "Noise ratios (mean)",
                &rows,
                &series,
                false,
                fmt_num,
            ),
        );
    }
    for m in a.noise.iter().filter(|m| m.unit == "ratio") {
        let other = b.noise.iter().find(|x| x.key == m.key);
        let (ha, hb) = (m.after.as_ref(), other.and_then(|x| x.after.as_ref()));
        let Some(edges) = first_edges(&[ha, hb]) else {
            continue;
        };
        let named = [(na, PALETTE[0], ha), (nb, PALETTE[1], hb)];
        let s = hist_series(&named);
        let id = format!("chart-cmp-noise-{}", m.key.replace('_', "-"));
        p.chart(
            &id,
            &format!("{} (after)", m.label),
            &m.description,
            svg::histogram(
                &id,
                &m.label,
                edges,
                &s,
                XAxis::linear("ratio", noise_fmt("ratio")),
            ),
        );
    }
    for (id, cap, da, db, what) in [
        (
            "chart-cmp-len-chars",
            "Characters per kept document",
            a.diversity.chars.kept.as_ref(),
            b.diversity.chars.kept.as_ref(),
            "characters",
        ),
        (
            "chart-cmp-len-words",
            "Words per kept document",
            a.diversity.words.kept.as_ref(),
            b.diversity.words.kept.as_ref(),
            "words",
        ),
        (
            "chart-cmp-len-tokens",
            "Tokens per document",
            a.diversity.tokens.as_ref(),
            b.diversity.tokens.as_ref(),
            "tokens",
        ),
    ] {
        if let Some((edges, ca, cb)) = align(da.map(|d| &d.histogram), db.map(|d| &d.histogram)) {
            let (edges, c) = coarsen(&edges, &[&ca, &cb], MAX_LOG_BINS);
            let s = [(sa.clone(), c[0].as_slice()), (sb.clone(), c[1].as_slice())];
            let axis = XAxis {
                label: what,
                fmt: fmt_num,
                log: true,
                overflow: false,
            };
            p.chart(id, cap, "", svg::histogram(id, cap, &edges, &s, axis));
        }
    }
    if let (Some(la), Some(lb)) = (&a.diversity.languages, &b.diversity.languages) {
        let mut names: Vec<String> = la
            .top
            .iter()
            .chain(&lb.top)
            .map(|s| s.name.clone())
            .collect();
        names.sort();
        names.dedup();
        let share = |l: &Breakdown, n: &str| {
            l.top
                .iter()
                .find(|s| s.name == n)
                .map_or(0.0, |s| s.kept_share)
        };
        let mut rows: Vec<BarRow> = names
            .iter()
            .map(|n| BarRow {
                label: n.clone(),
                values: vec![share(la, n), share(lb, n)],
                note: None,
            })
            .collect();
        rows.sort_by(|x, y| (y.values[0] + y.values[1]).total_cmp(&(x.values[0] + x.values[1])));
        rows.truncate(15);
        p.chart(
            "chart-cmp-languages",
            "Language share of kept documents",
            "",
            svg::bars(
                "chart-cmp-languages",
                "Language share",
                &rows,
                &series,
                false,
                fmt_pct,
            ),
        );
    }
    let tt = |r: &Report| {
        r.diversity
            .after
            .as_ref()
            .map(|l| {
                l.type_token_curve
                    .iter()
                    .map(|p| (p.x, p.y))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let lines = [
        Line {
            name: na,
            color: PALETTE[0],
            points: tt(a),
            dashed: false,
        },
        Line {
            name: nb,
            color: PALETTE[1],
            points: tt(b),
            dashed: false,
        },
    ];
    p.chart(
        "chart-cmp-type-token",
        "Type–token growth (kept sample)",
        "",
        svg::lines(
            "chart-cmp-type-token",
            "Type–token growth",
            &lines,
            "words read",
            "distinct words",
            true,
            true,
        ),
    );
    if a.duplicates.available || b.duplicates.available {
        let rows: Vec<BarRow> = a
            .duplicates
            .size_histogram
            .iter()
            .zip(&b.duplicates.size_histogram)
            .map(|(x, y)| BarRow {
                label: format!("size {}", x.label),
                values: vec![x.clusters as f64, y.clusters as f64],
                note: None,
            })
            .collect();
        p.chart(
            "chart-cmp-clusters",
            "Duplicate clusters by size",
            "",
            svg::bars(
                "chart-cmp-clusters",
                "Duplicate clusters",
                &rows,
                &series,
                false,
                fmt_num,
            ),
        );
    }
    if a.tokenizer.is_some() || b.tokenizer.is_some() {
        let z = |r: &Report| {
            r.tokenizer
                .as_ref()
                .map(|t| {
                    t.rank_frequency
                        .iter()
                        .map(|p| (p.x, p.y))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let lines = [
            Line {
                name: na,
                color: PALETTE[0],
                points: z(a),
                dashed: false,
            },
            Line {
                name: nb,
                color: PALETTE[1],
                points: z(b),
                dashed: false,
            },
        ];
        p.chart(
            "chart-cmp-token-zipf",
            "Token frequency by rank",
            "",
            svg::lines(
                "chart-cmp-token-zipf",
                "Token frequency",
                &lines,
                "rank",
                "occurrences",
                true,
                true,
            ),
        );
    }
    if a.training.is_some() || b.training.is_some() {
        let pts = |r: &Report, val: bool| {
            r.training
                .as_ref()
                .map(|t| {
                    (if val { &t.val_loss } else { &t.loss })
                        .iter()
                        .map(|p| (p.x, p.y))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let lines = [
            Line {
                name: "A train",
                color: PALETTE[0],
                points: pts(a, false),
                dashed: false,
            },
            Line {
                name: "A val",
                color: PALETTE[0],
                points: pts(a, true),
                dashed: true,
            },
            Line {
                name: "B train",
                color: PALETTE[1],
                points: pts(b, false),
                dashed: false,
            },
            Line {
                name: "B val",
                color: PALETTE[1],
                points: pts(b, true),
                dashed: true,
            },
        ];
        p.chart(
            "chart-cmp-loss",
            "Loss",
            "",
            svg::lines(
                "chart-cmp-loss",
                "Loss",
                &lines,
                "step",
                "cross-entropy",
                false,
                false,
            ),
        );
    }
    p.end_grid();
    p.end();
    let header = format!(
        r#"<header><h1>Corpus comparison</h1><p class="sub">A: {} · B: {}</p></header>"#,
        esc(&a.run.out_dir),
        esc(&b.run.out_dir)
    );
    p.finish(
        "corpusforge comparison",
        &header,
        "Figures are in compare.json.",
    )
}

/// Drop reasons shown per language (the rest are summed; report.json has them all).
const LANGUAGE_FUNNEL_REASONS: usize = 5;

/// The columns of the per-language funnel table.
pub(crate) const LANGUAGE_FUNNEL_HEAD: [&str; 5] = [
    "language",
    "#documents",
    "#kept",
    "#kept share",
    "dropped by reason",
];

/// The per-language funnel as table rows; `text` escapes a cell.
pub(crate) fn language_funnel_rows(
    langs: &[LanguageFunnel],
    text: impl Fn(&str) -> String,
) -> Vec<Vec<String>> {
    langs
        .iter()
        .map(|l| {
            let mut reasons: Vec<String> = l
                .dropped
                .iter()
                .take(LANGUAGE_FUNNEL_REASONS)
                .map(|r| format!("{} {}", r.reason, fmt_int(r.count)))
                .collect();
            let rest: u64 = l
                .dropped
                .iter()
                .skip(LANGUAGE_FUNNEL_REASONS)
                .map(|r| r.count)
                .sum();
            if rest > 0 {
                reasons.push(format!("{} more for other reasons", fmt_int(rest)));
            }
            vec![
                text(&l.lang),
                fmt_int(l.documents),
                fmt_int(l.kept),
                fmt_pct(l.kept_share),
                text(&reasons.join(", ")),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(esc("a\u{0}b\nc"), "a\u{fffd}b\nc");
        assert_eq!(visible(" a\n"), "␣a⏎");
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_int(1234567), "1,234,567");
        assert_eq!(fmt_int(12), "12");
        assert_eq!(fmt_bytes(1500), "1.5 kB");
        assert_eq!(fmt_f(Some(0.5)), "0.5");
        assert_eq!(fmt_f(Some(2.0)), "2");
        assert_eq!(fmt_f(None), "–");
    }

    #[test]
    fn histograms_align_on_a_common_grid() {
        let a = Histogram {
            edges: vec![1.0, 2.0, 3.0],
            counts: vec![1, 2],
        };
        let b = Histogram {
            edges: vec![2.0, 3.0, 4.0],
            counts: vec![5, 6],
        };
        let (e, ca, cb) = align(Some(&a), Some(&b)).unwrap();
        assert_eq!(e, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ca, vec![1, 2, 0]);
        assert_eq!(cb, vec![0, 5, 6]);
    }

    #[test]
    fn log_bins_merge_within_decades() {
        // Zero bin, then 1, 1.26, 1.58, ... (10 per decade) over two decades.
        let mut h = crate::report::metrics::LogHist::default();
        for v in [0, 1, 1, 2, 5, 9, 10, 50, 99] {
            h.add(v);
        }
        let hist = h.histogram();
        let (edges, c) = coarsen(&hist.edges, &[&hist.counts], 3);
        assert_eq!(edges, vec![0.0, 1.0, 10.0, 100.0]);
        assert_eq!(c[0], vec![1, 5, 3]);
        let (e2, c2) = coarsen(&hist.edges, &[&hist.counts], 100);
        assert_eq!(
            (e2, c2[0].clone()),
            (hist.edges.clone(), hist.counts.clone())
        );
    }
}
