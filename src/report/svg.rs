//! Inline SVG charts drawn by hand: horizontal (stacked or grouped) bars, histograms and line
//! charts with axes, ticks, labels and a legend. No scripts, no fonts: text uses the page's
//! font. Every chart is an `<svg id=... class="chart">` with a `<title>` for screen readers
//! (and the browser check in `scripts/check_report_html.sh`).

use std::fmt::Write;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newline do not belong in HTML text.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Width of every chart's coordinate system (it scales to the page with `viewBox`).
pub const WIDTH: f64 = 640.0;
const CHAR_W: f64 = 6.1;

/// Colours of the series, in order (colour-blind safe: blue, orange, grey, purple, green).
pub const PALETTE: [&str; 5] = ["#1f6fb4", "#e07b1a", "#7a7a7a", "#7b4fb0", "#2a9d5c"];
/// Colour of dropped documents.
pub const DROP_COLOR: &str = "#c8463d";

/// One series of a chart.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// Legend name.
    pub name: &'a str,
    /// Fill or stroke colour.
    pub color: &'a str,
}

/// A row of a bar chart: a label and one value per series.
#[derive(Debug, Clone)]
pub struct BarRow {
    /// Row label (cut with an ellipsis when long).
    pub label: String,
    /// One value per series (stacked or grouped).
    pub values: Vec<f64>,
    /// Text after the bar (defaults to the values).
    pub note: Option<String>,
}

/// A series of a line chart.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// Legend name.
    pub name: &'a str,
    /// Colour.
    pub color: &'a str,
    /// Points (x, y), in x order.
    pub points: Vec<(f64, f64)>,
    /// Dashed stroke.
    pub dashed: bool,
}

/// A compact number: 1234 -> "1.2k", 0.1234 -> "0.123".
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    let a = v.abs();
    let (x, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let ax = x.abs();
    let s = if ax == 0.0 {
        "0".to_string()
    } else if ax >= 100.0 || (x.fract() == 0.0 && ax < 1e4) {
        format!("{x:.0}")
    } else if ax >= 10.0 {
        format!("{x:.1}")
    } else if ax >= 1.0 {
        format!("{x:.2}")
    } else if ax >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.1e}")
    };
    let s = if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    format!("{s}{suffix}")
}

/// A percentage with one decimal.
pub fn fmt_pct(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v > 0.0 && v < 0.001 {
        return "<0.1%".into();
    }
    format!("{:.1}%", v * 100.0)
}

/// Nice linear ticks covering [lo, hi].
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
    let raw = (hi - lo) / target.max(1) as f64;
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * p);
    let start = (lo / step).floor() * step;
    let mut ticks = Vec::new();
    let mut t = start;
    while t <= hi + step * 0.5 && ticks.len() < 50 {
        ticks.push((t / step).round() * step);
        if t >= hi {
            break;
        }
        t += step;
    }
    ticks
}

/// Cuts a long label with an ellipsis: paths keep their end (the file name), other labels
/// their start.
fn truncate_label(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else if s.contains('/') {
        let keep: String = s.chars().skip(n - max.saturating_sub(1)).collect();
        format!("…{keep}")
    } else {
        let keep: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{keep}…")
    }
}

fn open(out: &mut String, id: &str, title: &str, h: f64) {
    let _ = write!(
        out,
        r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {h:.0}" width="{WIDTH}" height="{h:.0}" role="img" aria-labelledby="{id}-t"><title id="{id}-t">{}</title>"#,
        esc(title)
    );
}

fn legend(out: &mut String, series: &[Series<'_>], right: f64, y: f64) {
    if series.len() < 2 {
        return;
    }
    let mut x = right;
    for s in series.iter().rev() {
        let w = s.name.chars().count() as f64 * CHAR_W + 22.0;
        x -= w;
        let _ = write!(
            out,
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}" class="lg">{}</text>"#,
            x,
            y - 9.0,
            s.color,
            x + 14.0,
            y,
            esc(s.name)
        );
    }
}

/// Horizontal bars, one row per item. `stacked`: the values of a row add up along one bar
/// (e.g. kept + dropped); otherwise each series gets its own thinner bar.
pub fn bars(
    id: &str,
    title: &str,
    rows: &[BarRow],
    series: &[Series<'_>],
    stacked: bool,
    fmt: fn(f64) -> String,
) -> String {
    let mut out = String::new();
    if rows.is_empty() {
        return empty(id, title, "no data");
    }
    let label_chars = rows
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 34);
    let left = 8.0 + label_chars as f64 * CHAR_W + 8.0;
    let note_w = 150.0;
    let plot_w = (WIDTH - left - note_w).max(120.0);
    let per_series = if stacked { 1 } else { series.len().max(1) };
    let bar_h = if per_series == 1 { 16.0 } else { 11.0 };
    let row_h = bar_h * per_series as f64 + 8.0;
    let top = if series.len() > 1 { 30.0 } else { 14.0 };
    let h = top + row_h * rows.len() as f64 + 28.0;
    let max = rows
        .iter()
        .map(|r| {
            if stacked {
                r.values.iter().sum::<f64>()
            } else {
                r.values.iter().copied().fold(0.0, f64::max)
            }
        })
        .fold(0.0, f64::max)
        .max(1e-12);
    let ticks = nice_ticks(0.0, max, 4);
    let vmax = ticks.last().copied().unwrap_or(max).max(max);
    let sx = |v: f64| left + v / vmax * plot_w;
    open(&mut out, id, title, h);
    legend(&mut out, series, WIDTH - 8.0, 16.0);
    let axis_y = top + row_h * rows.len() as f64;
    for t in &ticks {
        let x = sx(*t);
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{axis_y:.1}" class="grid"/><text x="{x:.1}" y="{:.1}" class="tk" text-anchor="middle">{}</text>"#,
            top - 4.0,
            axis_y + 14.0,
            esc(&fmt(*t))
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y0 = top + row_h * i as f64 + 4.0;
        let label = truncate_label(&r.label, 34);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="lb" text-anchor="end">{}<title>{}</title></text>"#,
            left - 6.0,
            y0 + (row_h - 8.0) / 2.0 + 4.0,
            esc(&label),
            esc(&r.label)
        );
        let mut end = left;
        if stacked {
            let mut x = left;
            for (v, s) in r.values.iter().zip(series) {
                let w = (v / vmax * plot_w).max(0.0);
                if w > 0.0 {
                    let _ = write!(
                        out,
                        r#"<rect x="{x:.1}" y="{y0:.1}" width="{:.1}" height="{bar_h:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                        w.max(0.5),
                        s.color,
                        esc(s.name),
                        esc(&fmt(*v))
                    );
                }
                x += w;
            }
            end = x;
        } else {
            for (k, (v, s)) in r.values.iter().zip(series).enumerate() {
                let w = (v / vmax * plot_w).max(0.0);
                let y = y0 + bar_h * k as f64;
                let _ = write!(
                    out,
                    r#"<rect x="{left:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                    w.max(if *v > 0.0 { 0.5 } else { 0.0 }),
                    bar_h - 1.0,
                    s.color,
                    esc(s.name),
                    esc(&fmt(*v))
                );
                end = end.max(left + w);
            }
        }
        let note = r.note.clone().unwrap_or_else(|| {
            r.values
                .iter()
                .map(|v| fmt(*v))
                .collect::<Vec<_>>()
                .join(" / ")
        });
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="vl">{}</text>"#,
            end + 4.0,
            y0 + (row_h - 8.0) / 2.0 + 4.0,
            esc(&note)
        );
    }
    let _ = write!(
        out,
        r#"<line x1="{left:.1}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" class="ax"/>"#,
        left + plot_w
    );
    out.push_str("</svg>");
    out
}

/// The x axis of a histogram.
#[derive(Debug, Clone, Copy)]
pub struct XAxis<'a> {
    /// Axis title.
    pub label: &'a str,
    /// Edge label format.
    pub fmt: fn(f64) -> String,
    /// Edges are log-spaced ([`super::metrics::LogHist`]): label only 0 and powers of ten.
    pub log: bool,
    /// The last bin also holds larger values: its upper edge is labelled `N+`.
    pub overflow: bool,
}

impl<'a> XAxis<'a> {
    /// A linear axis of values in a closed range.
    pub fn linear(label: &'a str, fmt: fn(f64) -> String) -> Self {
        XAxis {
            label,
            fmt,
            log: false,
            overflow: false,
        }
    }
}

/// A histogram: bins as equal-width slots (log-spaced edges give a log x axis), one bar per
/// series in each slot; heights are each series' share of its own total, so samples of
/// different sizes compare.
pub fn histogram(
    id: &str,
    title: &str,
    edges: &[f64],
    series: &[(Series<'_>, &[u64])],
    axis: XAxis<'_>,
) -> String {
    let bins = edges.len().saturating_sub(1);
    if bins == 0 || series.iter().all(|(_, c)| c.iter().sum::<u64>() == 0) {
        return empty(id, title, "no data");
    }
    let (left, right, top, bottom) = (48.0, 12.0, 26.0, 44.0);
    let h = 230.0;
    let plot_w = WIDTH - left - right;
    let plot_h = h - top - bottom;
    let shares: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, c)| {
            let t = c.iter().sum::<u64>().max(1) as f64;
            c.iter().map(|&x| x as f64 / t).collect()
        })
        .collect();
    let max = shares
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9);
    let ticks = nice_ticks(0.0, max, 4);
    let ymax = ticks.last().copied().unwrap_or(max).max(max);
    let sy = |v: f64| top + plot_h - v / ymax * plot_h;
    let slot = plot_w / bins as f64;
    let mut out = String::new();
    open(&mut out, id, title, h);
    let names: Vec<Series<'_>> = series.iter().map(|(s, _)| s.clone()).collect();
    legend(&mut out, &names, WIDTH - right, 14.0);
    for t in &ticks {
        let y = sy(*t);
        let _ = write!(
            out,
            r#"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tk" text-anchor="end">{}</text>"#,
            left + plot_w,
            left - 4.0,
            y + 3.5,
            esc(&fmt_pct(*t).replace(".0%", "%"))
        );
    }
    let n = series.len().max(1) as f64;
    let bar_w = (slot - 2.0).max(1.0) / n;
    for (k, ((s, _), sh)) in series.iter().zip(&shares).enumerate() {
        for (i, v) in sh.iter().enumerate() {
            if *v <= 0.0 {
                continue;
            }
            let x = left + slot * i as f64 + 1.0 + bar_w * k as f64;
            let y = sy(*v);
            let _ = write!(
                out,
                r#"<rect x="{x:.2}" y="{y:.2}" width="{:.2}" height="{:.2}" fill="{}" fill-opacity="0.85"><title>{} [{}, {}): {}</title></rect>"#,
                bar_w.max(0.6),
                (top + plot_h - y).max(0.5),
                s.color,
                esc(s.name),
                esc(&(axis.fmt)(edges[i])),
                esc(&(axis.fmt)(edges[i + 1])),
                fmt_pct(*v)
            );
        }
    }
    // Label about eight edges, evenly spread (on a log axis: 0 and the powers of ten), and
    // the last one.
    let fmt = axis.fmt;
    let step = bins.div_ceil(8).max(1);
    let is_decade = |v: f64| v == 0.0 || (v > 0.0 && (v.log10() - v.log10().round()).abs() < 1e-9);
    let labelled: Vec<usize> = if axis.log {
        (0..=bins).filter(|&i| is_decade(edges[i])).collect()
    } else {
        (0..=bins).filter(|i| i % step == 0).collect()
    };
    let mut last_x = f64::NEG_INFINITY;
    for i in labelled {
        let x = left + slot * i as f64;
        // The last edge gets its own right-aligned label below; keep labels apart.
        if i == bins || (i > 0 && slot * ((bins - i) as f64) < 30.0) || x - last_x < 26.0 {
            continue;
        }
        last_x = x;
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" class="ax"/><text x="{x:.1}" y="{:.1}" class="tk" text-anchor="middle">{}</text>"#,
            top + plot_h,
            top + plot_h + 4.0,
            top + plot_h + 15.0,
            esc(&fmt(edges[i]))
        );
    }
    let last = if axis.overflow {
        format!("{}+", fmt(edges[bins]))
    } else {
        fmt(edges[bins])
    };
    let _ = write!(
        out,
        r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" class="ax"/><text x="{x:.1}" y="{:.1}" class="tk" text-anchor="end">{}</text>"#,
        top + plot_h,
        top + plot_h + 4.0,
        top + plot_h + 15.0,
        esc(&last),
        x = left + plot_w
    );
    axes(&mut out, left, top, plot_w, plot_h);
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" class="al" text-anchor="middle">{}</text><text x="12" y="{:.1}" class="al" text-anchor="middle" transform="rotate(-90 12 {:.1})">share of documents</text>"#,
        left + plot_w / 2.0,
        h - 6.0,
        esc(axis.label),
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );
    out.push_str("</svg>");
    out
}

fn axes(out: &mut String, left: f64, top: f64, w: f64, h: f64) {
    let _ = write!(
        out,
        r#"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" class="ax"/><line x1="{left}" y1="{top}" x2="{left}" y2="{:.1}" class="ax"/>"#,
        top + h,
        left + w,
        top + h,
        top + h
    );
}

/// Ticks of a log axis: the powers of ten in [lo, hi] (with 2 and 5 when there are few).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mut t: Vec<f64> = (a..=b).map(|e| 10f64.powi(e)).collect();
    if b - a <= 2 {
        t = (a..=b)
            .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
            .collect();
    }
    t.into_iter()
        .filter(|v| *v >= lo * 0.999 && *v <= hi * 1.001)
        .collect()
}

/// A line chart; `log_x` / `log_y` use log scales (non-positive values are skipped).
pub fn lines(
    id: &str,
    title: &str,
    series: &[Line<'_>],
    x_label: &str,
    y_label: &str,
    log_x: bool,
    log_y: bool,
) -> String {
    let pts: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| {
            x.is_finite() && y.is_finite() && (!log_x || *x > 0.0) && (!log_y || *y > 0.0)
        })
        .collect();
    if pts.is_empty() {
        return empty(id, title, "no data");
    }
    let (left, right, top, bottom) = (56.0, 14.0, 26.0, 44.0);
    let h = 250.0;
    let plot_w = WIDTH - left - right;
    let plot_h = h - top - bottom;
    let fx = |v: f64| if log_x { v.log10() } else { v };
    let fy = |v: f64| if log_y { v.log10() } else { v };
    let (mut x0, mut x1) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.0), b.max(p.0))
        });
    let (mut y0, mut y1) = pts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    let xt = if log_x {
        x0 = 10f64.powf(x0.log10().floor());
        x1 = (x1 * 1.05).max(x0 * 10.0);
        log_ticks(x0, x1)
    } else {
        let t = nice_ticks(x0.min(0.0f64.max(x0)), x1, 6);
        x0 = t[0];
        x1 = *t.last().unwrap_or(&x1);
        t
    };
    let yt = if log_y {
        y0 = 10f64.powf(y0.log10().floor());
        y1 = (y1 * 1.1).max(y0 * 10.0);
        log_ticks(y0, y1)
    } else {
        let lo = if y0 > 0.0 && y0 < (y1 - y0) * 0.5 {
            0.0
        } else {
            y0
        };
        let t = nice_ticks(lo, y1, 5);
        y0 = t[0];
        y1 = *t.last().unwrap_or(&y1);
        t
    };
    let (fx0, fx1, fy0, fy1) = (fx(x0), fx(x1), fy(y0), fy(y1));
    let sx = move |v: f64| left + (fx(v) - fx0) / (fx1 - fx0).max(1e-12) * plot_w;
    let sy = move |v: f64| top + plot_h - (fy(v) - fy0) / (fy1 - fy0).max(1e-12) * plot_h;
    let mut out = String::new();
    open(&mut out, id, title, h);
    let names: Vec<Series<'_>> = series
        .iter()
        .map(|s| Series {
            name: s.name,
            color: s.color,
        })
        .collect();
    legend(&mut out, &names, WIDTH - right, 14.0);
    for t in &yt {
        let y = sy(*t);
        let _ = write!(
            out,
            r#"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="tk" text-anchor="end">{}</text>"#,
            left + plot_w,
            left - 4.0,
            y + 3.5,
            esc(&fmt_num(*t))
        );
    }
    for t in &xt {
        let x = sx(*t);
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" class="ax"/><text x="{x:.1}" y="{:.1}" class="tk" text-anchor="middle">{}</text>"#,
            top + plot_h,
            top + plot_h + 4.0,
            top + plot_h + 15.0,
            esc(&fmt_num(*t))
        );
    }
    axes(&mut out, left, top, plot_w, plot_h);
    for s in series {
        let p: Vec<(f64, f64)> = s
            .points
            .iter()
            .copied()
            .filter(|(x, y)| {
                x.is_finite() && y.is_finite() && (!log_x || *x > 0.0) && (!log_y || *y > 0.0)
            })
            .collect();
        if p.is_empty() {
            continue;
        }
        let d: Vec<String> = p
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.8"{dash}><title>{}</title></polyline>"#,
            d.join(" "),
            s.color,
            esc(s.name)
        );
        if p.len() <= 25 {
            for (x, y) in &p {
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="2.4" fill="{}"><title>{}: {}, {}</title></circle>"#,
                    sx(*x),
                    sy(*y),
                    s.color,
                    esc(s.name),
                    fmt_num(*x),
                    fmt_num(*y)
                );
            }
        }
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" class="al" text-anchor="middle">{}</text><text x="12" y="{:.1}" class="al" text-anchor="middle" transform="rotate(-90 12 {:.1})">{}</text>"#,
        left + plot_w / 2.0,
        h - 6.0,
        esc(x_label),
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        esc(y_label)
    );
    out.push_str("</svg>");
    out
}

/// A placeholder chart that says why there is nothing to draw.
pub fn empty(id: &str, title: &str, why: &str) -> String {
    let mut out = String::new();
    open(&mut out, id, title, 60.0);
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="34" class="lb" text-anchor="middle">{}</text></svg>"#,
        WIDTH / 2.0,
        esc(why)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(1234.0), "1234");
        assert_eq!(fmt_num(12345.0), "12.3k");
        assert_eq!(fmt_num(2_500_000.0), "2.5M");
        assert_eq!(fmt_num(0.125), "0.125");
        assert_eq!(fmt_num(3.5), "3.5");
        assert_eq!(fmt_pct(0.5), "50.0%");
        assert_eq!(fmt_pct(0.0004), "<0.1%");
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(nice_ticks(0.0, 1.0, 4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(nice_ticks(0.0, 93.0, 4), vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        assert_eq!(log_ticks(1.0, 1000.0), vec![1.0, 10.0, 100.0, 1000.0]);
    }

    #[test]
    fn charts_escape_text_and_have_ids() {
        let rows = vec![BarRow {
            label: "<script>&".into(),
            values: vec![3.0, 1.0],
            note: None,
        }];
        let s = bars(
            "c1",
            "t<",
            &rows,
            &[
                Series {
                    name: "a",
                    color: "#000",
                },
                Series {
                    name: "b",
                    color: "#111",
                },
            ],
            true,
            fmt_num,
        );
        assert!(s.starts_with(r#"<svg id="c1""#));
        assert!(s.contains("&lt;script&gt;&amp;"));
        assert!(!s.contains("<script"));
        let h = histogram(
            "h",
            "h",
            &[0.0, 0.5, 1.0],
            &[(
                Series {
                    name: "x",
                    color: "#000",
                },
                &[1, 3],
            )],
            XAxis::linear("v", fmt_num),
        );
        assert_eq!(h.matches("<rect").count(), 2);
        let l = lines(
            "l",
            "l",
            &[Line {
                name: "a",
                color: "#000",
                points: vec![(1.0, 2.0), (10.0, 3.0)],
                dashed: false,
            }],
            "x",
            "y",
            true,
            false,
        );
        assert!(l.contains("<polyline"));
        assert!(empty("e", "e", "why").contains("why"));
        assert_eq!(truncate_label("/a/b/c/file.txt", 9), "…file.txt");
        assert_eq!(truncate_label("abcdefgh", 5), "abcd…");
    }
}
