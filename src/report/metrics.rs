//! The report's metrics as plain functions over texts and numbers, each with a known answer on
//! small inputs (see the tests below).
//!
//! Words are Unicode words (UAX #29, punctuation is not a word), the same words the `length`
//! stage counts, lowercased for the lexical figures (distinct-n, entropy, type–token growth).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;
use unicode_segmentation::UnicodeSegmentation;

use super::model::{CurvePoint, Dist, Histogram};

/// A line at most this many characters long (trimmed) is "short" (FineWeb's threshold).
pub const SHORT_LINE_CHARS: usize = 30;

/// What a noise metric measures, for the report's tables and charts.
#[derive(Debug, Clone, Copy)]
pub struct NoiseDef {
    /// Stable key in `report.json`.
    pub key: &'static str,
    /// Short label.
    pub label: &'static str,
    /// `ratio` (in [0, 1]), `per_1k_chars` or `count`.
    pub unit: &'static str,
    /// One sentence: how it is computed.
    pub description: &'static str,
}

/// The per-document noise metrics, in the order [`noise`] returns them.
pub const NOISE: [NoiseDef; 10] = [
    NoiseDef {
        key: "non_alpha_ratio",
        label: "non-alphabetic characters",
        unit: "ratio",
        description: "Share of the non-whitespace characters that are not letters.",
    },
    NoiseDef {
        key: "symbol_ratio",
        label: "symbols and punctuation",
        unit: "ratio",
        description: "Share of the non-whitespace characters that are neither letters nor digits.",
    },
    NoiseDef {
        key: "digit_ratio",
        label: "digits",
        unit: "ratio",
        description: "Share of the non-whitespace characters that are numeric.",
    },
    NoiseDef {
        key: "uppercase_ratio",
        label: "uppercase letters",
        unit: "ratio",
        description: "Share of the letters that are uppercase.",
    },
    NoiseDef {
        key: "short_line_ratio",
        label: "short lines",
        unit: "ratio",
        description: "Share of the non-empty lines with at most 30 characters (trimmed).",
    },
    NoiseDef {
        key: "dup_line_ratio",
        label: "duplicated lines",
        unit: "ratio",
        description: "Share of the non-empty lines (trimmed) that repeat an earlier line of the document.",
    },
    NoiseDef {
        key: "invalid_chars_per_1k",
        label: "invalid characters",
        unit: "per_1k_chars",
        description: "Replacement characters (U+FFFD), control characters other than tab and newlines, and \
                      noncharacters, per 1,000 characters.",
    },
    NoiseDef {
        key: "html_per_1k",
        label: "HTML remnants",
        unit: "per_1k_chars",
        description: "HTML tags of known elements and character entities (&amp;, &#39;), per 1,000 characters.",
    },
    NoiseDef {
        key: "pii_placeholders",
        label: "PII placeholders",
        unit: "count",
        description: "Redaction placeholders in the text (<EMAIL>, [IP], the pii stage's default replacement \
                      addresses), per document.",
    },
    NoiseDef {
        key: "pii_left",
        label: "PII left",
        unit: "count",
        description: "E-mail and IPv4 addresses that are not placeholders, per document.",
    },
];

/// HTML element names counted as remnants (the common ones; `<EMAIL>` is not a tag).
const HTML_TAGS: &str = "a|abbr|article|aside|b|blockquote|body|br|button|caption|code|dd|div|dl|dt|em|\
    footer|form|h1|h2|h3|h4|h5|h6|head|header|hr|html|i|iframe|img|input|label|li|link|main|meta|nav|\
    noscript|ol|option|p|pre|script|section|select|small|span|strong|style|sub|sup|table|tbody|td|\
    textarea|tfoot|th|thead|title|tr|tt|u|ul";

fn html_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let pattern = format!(
            r"(?i)</?(?:{HTML_TAGS})(?:\s[^<>]{{0,400}})?/?>|&(?:[a-z]{{2,8}}|#[0-9]{{1,7}}|#x[0-9a-f]{{1,6}});"
        );
        Regex::new(&pattern).unwrap_or_else(|e| panic!("html pattern: {e}"))
    })
}

/// The pii stage's default replacements (datatrove's) and bracketed placeholders.
fn placeholder_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let pattern = r"[<\[](?:EMAIL|EMAIL_ADDRESS|IP|IP_ADDRESS|IPV4|IPV6|PHONE|PHONE_NUMBER|URL|NAME|PERSON|ADDRESS|CREDIT_CARD|SSN|PII|REDACTED)[>\]]|email@example\.com|firstname\.lastname@example\.org|\b(?:22\.214\.171\.124|126\.96\.36\.199|188\.8\.131\.52|184\.108\.40\.206|220\.127\.116\.11|18\.104\.22\.168)\b";
        Regex::new(pattern).unwrap_or_else(|e| panic!("placeholder pattern: {e}"))
    })
}

fn pii_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let pattern = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}|\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b";
        Regex::new(pattern).unwrap_or_else(|e| panic!("pii pattern: {e}"))
    })
}

fn is_invalid_char(c: char) -> bool {
    let u = c as u32;
    c == '\u{fffd}'
        || (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0b' | '\x0c'))
        || (0xfdd0..=0xfdef).contains(&u)
        || (u & 0xfffe) == 0xfffe
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The noise metrics of one text, in the order of [`NOISE`].
pub fn noise(text: &str) -> [f64; 10] {
    let (mut chars, mut non_ws, mut alpha, mut alnum, mut digit, mut upper, mut invalid) =
        (0, 0, 0, 0, 0, 0, 0);
    for c in text.chars() {
        chars += 1;
        if is_invalid_char(c) {
            invalid += 1;
        }
        if c.is_whitespace() {
            continue;
        }
        non_ws += 1;
        if c.is_alphabetic() {
            alpha += 1;
            alnum += 1;
            if c.is_uppercase() {
                upper += 1;
            }
        } else if c.is_numeric() {
            digit += 1;
            alnum += 1;
        }
    }
    let (short, dup, lines) = line_stats(text);
    let per_1k = |n: usize| {
        if chars == 0 {
            0.0
        } else {
            n as f64 * 1000.0 / chars as f64
        }
    };
    let placeholders = placeholder_regex().find_iter(text).count();
    let pii_left = if text.contains('@') || text.contains('.') {
        pii_regex()
            .find_iter(text)
            .filter(|m| !placeholder_regex().is_match(m.as_str()))
            .count()
    } else {
        0
    };
    [
        ratio(non_ws - alpha, non_ws),
        ratio(non_ws - alnum, non_ws),
        ratio(digit, non_ws),
        ratio(upper, alpha),
        ratio(short, lines),
        ratio(dup, lines),
        per_1k(invalid),
        per_1k(html_regex().find_iter(text).count()),
        placeholders as f64,
        pii_left as f64,
    ]
}

/// Short and duplicated non-empty lines, and the number of non-empty lines.
pub fn line_stats(text: &str) -> (usize, usize, usize) {
    let mut seen: HashSet<&str> = HashSet::new();
    let (mut short, mut dup, mut lines) = (0, 0, 0);
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        lines += 1;
        if l.chars().count() <= SHORT_LINE_CHARS {
            short += 1;
        }
        if !seen.insert(l) {
            dup += 1;
        }
    }
    (short, dup, lines)
}

/// Share of the non-empty lines that repeat an earlier line.
pub fn dup_line_ratio(text: &str) -> f64 {
    let (_, dup, lines) = line_stats(text);
    ratio(dup, lines)
}

/// The lowercased Unicode words of `text`.
pub fn lower_words(text: &str) -> Vec<String> {
    text.unicode_words().map(|w| w.to_lowercase()).collect()
}

/// Number of Unicode words (as the `length` stage counts them).
pub fn word_count(text: &str) -> u64 {
    text.unicode_words().count() as u64
}

/// distinct-n: distinct n-grams over all n-grams, n-grams taken within each document. `None`
/// when there is no n-gram.
pub fn distinct_n(docs: &[Vec<String>], n: usize) -> Option<f64> {
    let mut distinct: HashSet<u64> = HashSet::new();
    let mut total = 0u64;
    for words in docs {
        if n == 0 || words.len() < n {
            continue;
        }
        for gram in words.windows(n) {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            for w in gram {
                h.update(w.as_bytes());
                h.update(&[0x1f]);
            }
            distinct.insert(h.digest());
            total += 1;
        }
    }
    (total > 0).then(|| distinct.len() as f64 / total as f64)
}

/// Shannon entropy in bits of the distribution given by `counts`.
pub fn entropy_bits(counts: impl IntoIterator<Item = u64>) -> f64 {
    let mut counts: Vec<u64> = counts.into_iter().filter(|&c| c > 0).collect();
    // A fixed summation order: the same counts give the same bits whatever order they came in
    // (hash-map iteration order differs between processes).
    counts.sort_unstable();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let t = total as f64;
    let h: f64 = counts
        .iter()
        .map(|&c| {
            let p = c as f64 / t;
            -p * p.log2()
        })
        .sum();
    h.max(0.0)
}

/// Entropy of the unigram (word) distribution of `docs`, in bits.
pub fn unigram_entropy(docs: &[Vec<String>]) -> f64 {
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for w in docs.iter().flatten() {
        *counts.entry(w.as_str()).or_insert(0) += 1;
    }
    entropy_bits(counts.into_values())
}

/// Types (distinct words) against tokens (words read) as `docs` are read in order, at about
/// `points` log-spaced token counts and at the end.
pub fn type_token_curve(docs: &[Vec<String>], points: usize) -> Vec<CurvePoint> {
    let total: usize = docs.iter().map(Vec::len).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut marks: Vec<usize> = (0..points.max(2))
        .map(|i| {
            let f = i as f64 / (points.max(2) - 1) as f64;
            (10f64.powf(f * (total as f64).log10())).round() as usize
        })
        .filter(|&m| m >= 1)
        .collect();
    marks.push(total);
    marks.sort_unstable();
    marks.dedup();
    let mut out = Vec::with_capacity(marks.len());
    let mut seen: HashSet<&str> = HashSet::new();
    let mut next = marks.iter().peekable();
    let mut n = 0usize;
    for w in docs.iter().flatten() {
        seen.insert(w.as_str());
        n += 1;
        while next.peek().is_some_and(|&&m| m == n) {
            next.next();
            out.push(CurvePoint {
                x: n as f64,
                y: seen.len() as f64,
            });
        }
    }
    out
}

/// Heaps' law `types = K * tokens^beta`, fitted by least squares on the log–log curve (points
/// with at least 100 tokens). `None` with fewer than three such points.
pub fn heaps_fit(curve: &[CurvePoint]) -> Option<(f64, f64)> {
    let pts: Vec<(f64, f64)> = curve
        .iter()
        .filter(|p| p.x >= 100.0 && p.y > 0.0)
        .map(|p| (p.x.ln(), p.y.ln()))
        .collect();
    if pts.len() < 3 {
        return None;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let beta = sxy / sxx;
    Some(((my - beta * mx).exp(), beta))
}

/// zstd level used for the compression ratio.
pub const ZSTD_LEVEL: i32 = 3;

/// Bytes of `texts` joined by newlines, and their zstd size at [`ZSTD_LEVEL`].
pub fn zstd_sizes<S: AsRef<str>>(texts: &[S]) -> (u64, u64) {
    let mut joined = Vec::new();
    for t in texts {
        joined.extend_from_slice(t.as_ref().as_bytes());
        joined.push(b'\n');
    }
    let raw = joined.len() as u64;
    let packed = zstd::bulk::compress(&joined, ZSTD_LEVEL)
        .map(|v| v.len() as u64)
        .unwrap_or(raw);
    (raw, packed)
}

/// The `q` quantile (0..=1) of sorted `v`, linearly interpolated (numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    sorted[lo] + (sorted[hi] - sorted[lo]) * frac
}

/// Counts `values` in the bins of `edges` (`[e_i, e_{i+1})`); values below the first edge go
/// to the first bin, values at or above the last edge to the last bin.
pub fn histogram(values: &[f64], edges: &[f64]) -> Histogram {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0u64; bins];
    if bins > 0 {
        for &v in values {
            let i = edges
                .partition_point(|&e| e <= v)
                .saturating_sub(1)
                .min(bins - 1);
            counts[i] += 1;
        }
    }
    Histogram {
        edges: edges.to_vec(),
        counts,
    }
}

/// `n` equal bins from 0 to 1.
pub fn unit_edges(n: usize) -> Vec<f64> {
    (0..=n).map(|i| round6(i as f64 / n as f64)).collect()
}

fn round6(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// A "nice" number at or above `v`: 1, 2, 2.5 or 5 times a power of ten.
pub fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v * (1.0 - 1e-12) {
            return m * p;
        }
    }
    10.0 * p
}

/// `n` equal bins from 0 to a nice number at or above `max` (the last bin also takes larger
/// values).
pub fn zero_to_max_edges(max: f64, n: usize) -> Vec<f64> {
    let top = nice_ceil(max.max(1e-9));
    (0..=n).map(|i| round6(top * i as f64 / n as f64)).collect()
}

/// The distribution of `values` with the histogram over `edges`. `None` when empty.
pub fn dist(values: &[f64], edges: &[f64]) -> Option<Dist> {
    if values.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    Some(Dist {
        n: n as u64,
        mean,
        min: v[0],
        p05: quantile(&v, 0.05),
        p25: quantile(&v, 0.25),
        p50: quantile(&v, 0.5),
        p75: quantile(&v, 0.75),
        p95: quantile(&v, 0.95),
        max: v[n - 1],
        nonzero_share: v.iter().filter(|&&x| x != 0.0).count() as f64 / n as f64,
        histogram: histogram(&v, edges),
    })
}

/// Bins per decade of [`LogHist`].
pub const LOG_BINS_PER_DECADE: usize = 10;
const LOG_DECADES: usize = 12;

/// A streaming histogram of non-negative integers with log-spaced bins (a zero bin, then
/// [`LOG_BINS_PER_DECADE`] bins per decade from 1), with the exact count, sum, min and max.
/// Quantiles read from it are exact to within one bin (about 26% at 10 bins per decade).
#[derive(Debug, Clone, PartialEq)]
pub struct LogHist {
    counts: Vec<u64>,
    /// Values added.
    pub n: u64,
    /// Their sum.
    pub sum: u128,
    /// The smallest (0 when empty).
    pub min: u64,
    /// The largest.
    pub max: u64,
}

impl Default for LogHist {
    fn default() -> Self {
        LogHist {
            counts: vec![0; 1 + LOG_BINS_PER_DECADE * LOG_DECADES],
            n: 0,
            sum: 0,
            min: 0,
            max: 0,
        }
    }
}

/// Lower edge of log bin `i` (bin 0 is the zero bin, `[0, 1)`).
fn log_edge(i: usize) -> f64 {
    if i == 0 {
        0.0
    } else {
        let e = 10f64.powf((i - 1) as f64 / LOG_BINS_PER_DECADE as f64);
        // Integers are what is binned: round the edge to 3 significant digits for labels.
        let p = 10f64.powf(e.log10().floor() - 2.0);
        (e / p).round() * p
    }
}

impl LogHist {
    fn bin(v: u64) -> usize {
        if v == 0 {
            return 0;
        }
        let mut i = ((v as f64).log10() * LOG_BINS_PER_DECADE as f64).floor() as usize + 1;
        // Float rounding at the edges: move to the bin whose range holds v.
        while i > 1 && (v as f64) < log_edge(i) {
            i -= 1;
        }
        while i + 1 < 1 + LOG_BINS_PER_DECADE * LOG_DECADES && (v as f64) >= log_edge(i + 1) {
            i += 1;
        }
        i.min(LOG_BINS_PER_DECADE * LOG_DECADES)
    }

    /// Adds one value.
    pub fn add(&mut self, v: u64) {
        if self.n == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.n += 1;
        self.sum += v as u128;
        self.counts[Self::bin(v)] += 1;
    }

    /// Adds every value of `o`.
    pub fn merge(&mut self, o: &LogHist) {
        if o.n == 0 {
            return;
        }
        if self.n == 0 || o.min < self.min {
            self.min = o.min;
        }
        self.max = self.max.max(o.max);
        self.n += o.n;
        self.sum += o.sum;
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
    }

    /// The `q` quantile, interpolated geometrically within its bin and clamped to [min, max].
    pub fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let target = q.clamp(0.0, 1.0) * self.n as f64;
        let mut cum = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if (cum + c) as f64 >= target {
                let frac = ((target - cum as f64) / c as f64).clamp(0.0, 1.0);
                let (lo, hi) = (log_edge(i), log_edge(i + 1));
                let v = if i == 0 {
                    0.0
                } else {
                    lo * (hi / lo).powf(frac)
                };
                return v.clamp(self.min as f64, self.max as f64);
            }
            cum += c;
        }
        self.max as f64
    }

    /// The counts over the bins from the first to the last non-empty one.
    pub fn histogram(&self) -> Histogram {
        let first = self.counts.iter().position(|&c| c > 0);
        let last = self.counts.iter().rposition(|&c| c > 0);
        match (first, last) {
            (Some(a), Some(b)) => Histogram {
                edges: (a..=b + 1).map(log_edge).collect(),
                counts: self.counts[a..=b].to_vec(),
            },
            _ => Histogram {
                edges: Vec::new(),
                counts: Vec::new(),
            },
        }
    }

    /// As a [`Dist`] (quantiles from the bins; `None` when empty).
    pub fn dist(&self) -> Option<Dist> {
        if self.n == 0 {
            return None;
        }
        let nonzero = self.n - self.counts[0];
        Some(Dist {
            n: self.n,
            mean: self.sum as f64 / self.n as f64,
            min: self.min as f64,
            p05: self.quantile(0.05),
            p25: self.quantile(0.25),
            p50: self.quantile(0.5),
            p75: self.quantile(0.75),
            p95: self.quantile(0.95),
            max: self.max as f64,
            nonzero_share: nonzero as f64 / self.n as f64,
            histogram: self.histogram(),
        })
    }
}

/// The host of a URL, lowercased, without `www.` and port; `None` when there is none.
pub fn url_domain(url: &str) -> Option<String> {
    let rest = url.trim();
    let rest = rest.split_once("://").map_or(rest, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next()?.trim_end_matches('.').to_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
    (!host.is_empty() && host.contains('.')).then_some(host)
}

/// The first `max_chars` characters of `text` and whether it was cut.
pub fn snippet(text: &str, max_chars: usize) -> (String, bool) {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => (text[..i].to_string(), true),
        None => (text.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(texts: &[&str]) -> Vec<Vec<String>> {
        texts.iter().map(|t| lower_words(t)).collect()
    }

    #[test]
    fn distinct_n_of_a_known_text() {
        // "the cat sat on the mat": 5 bigrams, all distinct; 6 unigrams, 5 distinct; 4 trigrams.
        let d = docs(&["The cat sat on the mat"]);
        assert_eq!(distinct_n(&d, 1), Some(5.0 / 6.0));
        assert_eq!(distinct_n(&d, 2), Some(1.0));
        // "a b a b a b": bigrams ab ba ab ba ab -> 2 distinct of 5.
        let d = docs(&["a b a b a b"]);
        assert_eq!(distinct_n(&d, 2), Some(2.0 / 5.0));
        assert_eq!(distinct_n(&d, 3), Some(2.0 / 4.0));
        // n-grams do not cross documents: "x y" + "y x" has bigrams "x y", "y x" only.
        let d = docs(&["x y", "y x"]);
        assert_eq!(distinct_n(&d, 2), Some(1.0));
        assert_eq!(distinct_n(&docs(&["one"]), 2), None);
    }

    #[test]
    fn entropy_of_known_distributions() {
        assert_eq!(entropy_bits([1, 1, 1, 1]), 2.0);
        assert_eq!(entropy_bits([5]), 0.0);
        assert_eq!(entropy_bits([0, 3, 3]), 1.0);
        assert_eq!(entropy_bits(Vec::<u64>::new()), 0.0);
        // p = (1/2, 1/4, 1/4): 1.5 bits.
        assert_eq!(entropy_bits([2, 1, 1]), 1.5);
        assert_eq!(unigram_entropy(&docs(&["a b", "c d"])), 2.0);
    }

    #[test]
    fn histogram_bins() {
        let h = histogram(
            &[0.0, 0.1, 0.25, 0.5, 0.99, 1.0, 7.0, -1.0],
            &[0.0, 0.25, 0.5, 0.75, 1.0],
        );
        assert_eq!(h.counts, vec![3, 1, 1, 3]);
        assert_eq!(unit_edges(4), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(
            zero_to_max_edges(3.2, 5),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        assert_eq!(nice_ceil(0.0031), 0.005);
        assert_eq!(nice_ceil(20.0), 20.0);
        assert_eq!(nice_ceil(21.0), 25.0);
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert_eq!(quantile(&v, 0.1), 1.4);
        let d = dist(&[0.0, 0.0, 1.0, 3.0], &unit_edges(2)).unwrap();
        assert_eq!(
            (d.n, d.mean, d.min, d.max, d.p50, d.nonzero_share),
            (4, 1.0, 0.0, 3.0, 0.5, 0.5)
        );
        assert_eq!(d.histogram.counts, vec![2, 2]);
        assert_eq!(dist(&[], &unit_edges(2)), None);
    }

    #[test]
    fn line_ratios() {
        let text =
            "alpha\n\nbeta\nalpha\n  alpha  \nthis line is certainly longer than thirty characters";
        // 5 non-empty lines; "alpha" repeats twice; 4 lines are short.
        assert_eq!(line_stats(text), (4, 2, 5));
        assert_eq!(dup_line_ratio(text), 0.4);
        assert_eq!(dup_line_ratio(""), 0.0);
    }

    #[test]
    fn character_ratios() {
        let m = noise("AB cd 12 !?");
        // non-ws: A B c d 1 2 ! ? = 8; letters 4, digits 2, symbols 2; uppercase 2 of 4.
        assert_eq!(m[0], 4.0 / 8.0);
        assert_eq!(m[1], 2.0 / 8.0);
        assert_eq!(m[2], 2.0 / 8.0);
        assert_eq!(m[3], 0.5);
        assert_eq!(noise("")[0], 0.0);
    }

    #[test]
    fn invalid_html_and_pii() {
        let t = "bad \u{fffd} char\u{7} here.";
        // 2 invalid characters.
        assert_eq!(noise(t)[6], 2.0 * 1000.0 / t.chars().count() as f64);
        let t = "<p>Hi &amp; bye</p> <EMAIL> 3 < 4 > 2";
        let m = noise(t);
        // <p>, &amp;, </p> are remnants; <EMAIL> and "< 4 >" are not tags.
        assert_eq!(m[7], 3.0 * 1000.0 / t.chars().count() as f64);
        assert_eq!(m[8], 1.0);
        let m = noise("mail john@mail.org or email@example.com, host 10.0.0.1 or 22.214.171.124");
        assert_eq!(m[8], 2.0);
        assert_eq!(m[9], 2.0);
    }

    #[test]
    fn type_token_growth_and_heaps() {
        let d = docs(&["a b a c", "b d"]);
        let c = type_token_curve(&d, 4);
        assert_eq!(c.last(), Some(&CurvePoint { x: 6.0, y: 4.0 }));
        assert_eq!(c.first(), Some(&CurvePoint { x: 1.0, y: 1.0 }));
        // An exact power law is recovered.
        let curve: Vec<CurvePoint> = [100.0, 1000.0, 10000.0]
            .iter()
            .map(|&x: &f64| CurvePoint {
                x,
                y: 3.0 * x.powf(0.5),
            })
            .collect();
        let (k, beta) = heaps_fit(&curve).unwrap();
        assert!(
            (k - 3.0).abs() < 1e-9 && (beta - 0.5).abs() < 1e-12,
            "{k} {beta}"
        );
    }

    #[test]
    fn compression_of_repetitive_text_is_high() {
        let rep = vec!["the same line again ".repeat(200)];
        let (raw, packed) = zstd_sizes(&rep);
        assert_eq!(raw, 4001);
        assert!(raw / packed > 20, "{raw} / {packed}");
    }

    #[test]
    fn log_histogram() {
        let mut h = LogHist::default();
        for v in [0, 1, 9, 10, 100, 1000] {
            h.add(v);
        }
        assert_eq!((h.n, h.sum, h.min, h.max), (6, 1120, 0, 1000));
        let hist = h.histogram();
        assert_eq!(hist.counts.iter().sum::<u64>(), 6);
        assert_eq!(hist.edges[0], 0.0);
        assert_eq!(hist.edges[1], 1.0);
        // 10 falls in the bin starting at 10, 9 in the bin below it.
        assert_eq!(LogHist::bin(10), 11);
        assert_eq!(LogHist::bin(9), 10);
        assert_eq!(LogHist::bin(1), 1);
        assert_eq!(h.quantile(0.0), 0.0);
        assert_eq!(h.quantile(1.0), 1000.0);
        let mut m = LogHist::default();
        m.merge(&h);
        m.merge(&h);
        assert_eq!((m.n, m.min, m.max), (12, 0, 1000));
        let d = m.dist().unwrap();
        assert_eq!(d.nonzero_share, 10.0 / 12.0);
    }

    #[test]
    fn domains_and_snippets() {
        assert_eq!(
            url_domain("https://www.Example.com:8080/a?b").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            url_domain("docs.python.org/3/"),
            Some("docs.python.org".into())
        );
        assert_eq!(url_domain("not a url"), None);
        assert_eq!(snippet("héllo", 2), ("hé".to_string(), true));
        assert_eq!(snippet("hé", 2), ("hé".to_string(), false));
    }
}
