//! `gopher_quality`: the document-level quality rules of Gopher (Rae et al. 2021, appendix A),
//! with the semantics and defaults of datatrove's `GopherQualityFilter`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::by_language::{check_language_options, ByLanguage, LanguageDefaults};
use crate::config::{check_range, Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};
use crate::text::{
    char_len, is_py_alpha, is_symbol_word, py_lstrip, py_rstrip, py_splitlines, Segmenter,
};

fn d_min_doc_words() -> Option<u64> {
    Some(50)
}
fn d_max_doc_words() -> Option<u64> {
    Some(100_000)
}
fn d_min_avg_word_length() -> Option<f64> {
    Some(3.0)
}
fn d_max_avg_word_length() -> Option<f64> {
    Some(10.0)
}
fn d_max_symbol_word_ratio() -> Option<f64> {
    Some(0.1)
}
fn d_max_bullet_lines_ratio() -> Option<f64> {
    Some(0.9)
}
fn d_max_ellipsis_lines_ratio() -> Option<f64> {
    Some(0.3)
}
fn d_min_alpha_words_ratio() -> Option<f64> {
    Some(0.8)
}
fn d_min_stop_words() -> Option<u64> {
    Some(2)
}
fn d_stop_words() -> Vec<String> {
    ["the", "be", "to", "of", "and", "that", "have", "with"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Config of the `gopher_quality` filter. Defaults are datatrove's; a threshold set to `null`
/// is not checked. Words are the words of the document's language
/// ([`crate::text::Segmenter`]); a "symbol" is a word made only of punctuation (datatrove's
/// `PUNCTUATION_SET`); "words" below are non-symbol words unless said otherwise. Options may
/// differ by language (`language`, `languages`, `language_defaults`: see
/// [`super::by_language`]).
///
/// Checks, in order; the first that fails is the drop reason (datatrove's name in brackets):
/// `min_doc_words` / `max_doc_words` (gopher_short_doc / gopher_long_doc): number of words;
/// `min_avg_word_length` / `max_avg_word_length` (gopher_below/above_avg_threshold): mean
/// characters per word; `hash_ratio` (gopher_too_many_hashes): `#` characters per token, all
/// tokens counted; `ellipsis_ratio` (gopher_too_many_ellipsis): `...` and `…` per token;
/// `bullet_lines_ratio` (gopher_too_many_bullets): lines starting with `•` or `-`;
/// `end_ellipsis_lines_ratio` (gopher_too_many_end_ellipsis): lines ending with `...` or `…`;
/// `alpha_words_ratio` (gopher_below_alpha_threshold): tokens with a letter, over all tokens;
/// `min_stop_words` (gopher_enough_stop_words): distinct stop words present (case-sensitive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GopherQualityConfig {
    /// Minimum number of non-symbol words.
    #[serde(default = "d_min_doc_words")]
    pub min_doc_words: Option<u64>,
    /// Maximum number of non-symbol words.
    #[serde(default = "d_max_doc_words")]
    pub max_doc_words: Option<u64>,
    /// Minimum mean length (characters) of non-symbol words.
    #[serde(default = "d_min_avg_word_length")]
    pub min_avg_word_length: Option<f64>,
    /// Maximum mean length (characters) of non-symbol words.
    #[serde(default = "d_max_avg_word_length")]
    pub max_avg_word_length: Option<f64>,
    /// Maximum ratio of `#` characters, and separately of ellipses, to all tokens.
    #[serde(default = "d_max_symbol_word_ratio")]
    pub max_symbol_word_ratio: Option<f64>,
    /// Maximum fraction of lines that start with a bullet (`•` or `-`).
    #[serde(default = "d_max_bullet_lines_ratio")]
    pub max_bullet_lines_ratio: Option<f64>,
    /// Maximum fraction of lines that end with an ellipsis (`...` or `…`).
    #[serde(default = "d_max_ellipsis_lines_ratio")]
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Minimum fraction of tokens containing a letter (datatrove: `max_non_alpha_words_ratio`).
    #[serde(default = "d_min_alpha_words_ratio")]
    pub min_alpha_words_ratio: Option<f64>,
    /// Minimum number of distinct stop words present.
    #[serde(default = "d_min_stop_words")]
    pub min_stop_words: Option<u64>,
    /// The stop words (matched case-sensitively against whole tokens).
    #[serde(default = "d_stop_words")]
    pub stop_words: Vec<String>,
    /// Record the computed values as `gopher_quality.*` signals on the document.
    #[serde(default)]
    pub signals: bool,
    /// The language of every document (ISO 639-3, optionally with script: `cmn`,
    /// `cmn_Hani`). Absent: each document's `lang` from the `language` stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Options by language code, over `language_defaults` (e.g. `{cmn: {stop_words: [的, 是]}}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, GopherQualityConfig>")]
    pub languages: BTreeMap<String, Map<String, Value>>,
    /// Shipped per-language options (`fineweb2`: FineWeb-2's thresholds and stop words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_defaults: Option<LanguageDefaults>,
}

crate::language_aware!(GopherQualityConfig, "gopher_quality");

impl GopherQualityConfig {
    /// These options with every check off: the statistics are computed (and recorded as
    /// signals when `signals` is on), nothing is dropped.
    pub fn checks_off(&self) -> Self {
        GopherQualityConfig {
            min_doc_words: None,
            max_doc_words: None,
            min_avg_word_length: None,
            max_avg_word_length: None,
            max_symbol_word_ratio: None,
            max_bullet_lines_ratio: None,
            max_ellipsis_lines_ratio: None,
            min_alpha_words_ratio: None,
            min_stop_words: None,
            ..self.clone()
        }
    }
}

impl Default for GopherQualityConfig {
    fn default() -> Self {
        GopherQualityConfig {
            min_doc_words: d_min_doc_words(),
            max_doc_words: d_max_doc_words(),
            min_avg_word_length: d_min_avg_word_length(),
            max_avg_word_length: d_max_avg_word_length(),
            max_symbol_word_ratio: d_max_symbol_word_ratio(),
            max_bullet_lines_ratio: d_max_bullet_lines_ratio(),
            max_ellipsis_lines_ratio: d_max_ellipsis_lines_ratio(),
            min_alpha_words_ratio: d_min_alpha_words_ratio(),
            min_stop_words: d_min_stop_words(),
            stop_words: d_stop_words(),
            signals: false,
            language: None,
            languages: BTreeMap::new(),
            language_defaults: None,
        }
    }
}

/// A fraction threshold must be a finite number >= 0.
pub(crate) fn check_frac(name: &str, v: Option<f64>, max_one: bool) -> Option<Problem> {
    let v = v?;
    if !v.is_finite() || v < 0.0 || (max_one && v > 1.0) {
        let range = if max_one {
            "between 0 and 1"
        } else {
            "a finite number >= 0"
        };
        return Some(Problem::at(
            name,
            format!("{name} must be {range}, got {v}"),
        ));
    }
    None
}

impl Check for GopherQualityConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        p.extend(check_range(
            "min_doc_words",
            self.min_doc_words,
            "max_doc_words",
            self.max_doc_words,
        ));
        p.extend(check_frac(
            "min_avg_word_length",
            self.min_avg_word_length,
            false,
        ));
        p.extend(check_frac(
            "max_avg_word_length",
            self.max_avg_word_length,
            false,
        ));
        p.extend(check_range(
            "min_avg_word_length",
            self.min_avg_word_length,
            "max_avg_word_length",
            self.max_avg_word_length,
        ));
        p.extend(check_frac(
            "max_symbol_word_ratio",
            self.max_symbol_word_ratio,
            false,
        ));
        p.extend(check_frac(
            "max_bullet_lines_ratio",
            self.max_bullet_lines_ratio,
            true,
        ));
        p.extend(check_frac(
            "max_ellipsis_lines_ratio",
            self.max_ellipsis_lines_ratio,
            true,
        ));
        p.extend(check_frac(
            "min_alpha_words_ratio",
            self.min_alpha_words_ratio,
            true,
        ));
        if let Some(m) = self.min_stop_words {
            if m as usize > self.stop_words.len() {
                p.push(Problem::at(
                    "min_stop_words",
                    format!(
                        "min_stop_words ({m}) is greater than the number of stop_words ({})",
                        self.stop_words.len()
                    ),
                ));
            }
        }
        p.extend(check_language_options(self));
        p
    }
}

/// What `gopher_quality` computes for one document.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GopherQualityStats {
    /// Non-symbol words.
    pub n_words: usize,
    /// All tokens, symbols included.
    pub n_tokens: usize,
    /// Mean characters per non-symbol word (NaN without words, as numpy's mean of nothing).
    pub avg_word_length: f64,
    /// `#` characters per token.
    pub hash_ratio: f64,
    /// `...` and `…` occurrences per token.
    pub ellipsis_ratio: f64,
    /// Fraction of lines starting with `•` or `-`.
    pub bullet_lines_ratio: f64,
    /// Fraction of lines ending with `...` or `…`.
    pub end_ellipsis_lines_ratio: f64,
    /// Fraction of tokens containing a letter.
    pub alpha_words_ratio: f64,
    /// Distinct stop words present.
    pub stop_words: usize,
}

/// The `gopher_quality` stage.
pub struct GopherQuality {
    by: ByLanguage<Checks>,
}

/// The checks with one language's options.
struct Checks {
    cfg: GopherQualityConfig,
    max_stop_len: usize,
    /// First bytes of the stop words, to skip most words at once.
    stop_first: Vec<u8>,
}

/// `a / b`, or 0 when `b` is 0 (datatrove divides by zero there; we keep the document going).
#[inline]
pub(crate) fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl GopherQuality {
    /// A gopher_quality filter with `cfg` (checked: its language codes are known).
    pub fn new(cfg: GopherQualityConfig) -> Self {
        Self::try_new(cfg).expect("a checked gopher_quality config")
    }

    /// A gopher_quality filter with `cfg`, or why its language options cannot be used.
    pub fn try_new(cfg: GopherQualityConfig) -> Result<Self, String> {
        Ok(GopherQuality {
            by: ByLanguage::build(&cfg, Checks::new)?,
        })
    }

    /// Every statistic the checks use, with the stage's own options and words split by
    /// `seg`.
    pub fn stats(&self, text: &str, seg: Segmenter) -> GopherQualityStats {
        self.by.own().stats(text, seg)
    }

    /// The verdict for `s` with the stage's own options, checks in datatrove's order.
    pub fn decide(&self, s: &GopherQualityStats) -> Verdict {
        self.by.own().decide(s)
    }
}

impl Checks {
    fn new(mut cfg: GopherQualityConfig) -> Self {
        // A set, as in datatrove: a repeated stop word counts once.
        let mut seen = std::collections::HashSet::new();
        cfg.stop_words.retain(|w| seen.insert(w.clone()));
        let max_stop_len = cfg.stop_words.iter().map(|s| s.len()).max().unwrap_or(0);
        let stop_first = cfg
            .stop_words
            .iter()
            .filter_map(|w| w.as_bytes().first().copied())
            .collect();
        Checks {
            cfg,
            max_stop_len,
            stop_first,
        }
    }

    /// Computes every statistic the checks use.
    fn stats(&self, text: &str, seg: Segmenter) -> GopherQualityStats {
        let mut words = Vec::with_capacity(text.len() / 5 + 1);
        seg.split_cached(text, &mut words);
        let n_tokens = words.len();
        let mut n_words = 0;
        let mut word_chars = 0;
        let mut alpha = 0;
        let mut stop_seen: u64 = 0;
        let mut extra_stop: Vec<&str> = Vec::new();
        for w in &words {
            // One pass over the bytes: letters and digits make a word, letters count as alpha;
            // a non-ASCII byte sends the word to the Unicode tables.
            let (mut ascii, mut alnum, mut has_alpha) = (true, false, false);
            for &b in w.as_bytes() {
                if b >= 0x80 {
                    ascii = false;
                    break;
                }
                alnum |= b.is_ascii_alphanumeric();
                has_alpha |= b.is_ascii_alphabetic();
            }
            let sym = if ascii { !alnum } else { is_symbol_word(w) };
            if !sym {
                n_words += 1;
                word_chars += if ascii { w.len() } else { char_len(w) };
            }
            if !ascii {
                has_alpha = w.chars().any(is_py_alpha);
            }
            if has_alpha {
                alpha += 1;
            }
            if w.len() <= self.max_stop_len && self.stop_first.contains(&w.as_bytes()[0]) {
                for (k, sw) in self.cfg.stop_words.iter().enumerate() {
                    if sw.len() == w.len() && sw == w {
                        if k < 64 {
                            stop_seen |= 1 << k;
                        } else if !extra_stop.contains(w) {
                            extra_stop.push(w);
                        }
                    }
                }
            }
        }
        // `#`, and `...` (non-overlapping, as Python's `str.count`) and `…`, in one pass.
        let (mut hashes, mut ellipses, mut dots) = (0usize, 0usize, 0usize);
        let tb = text.as_bytes();
        for (i, &b) in tb.iter().enumerate() {
            match b {
                b'#' => hashes += 1,
                b'.' => {
                    dots += 1;
                    if dots == 3 {
                        ellipses += 1;
                        dots = 0;
                    }
                    continue;
                }
                0xE2 if tb.get(i + 1) == Some(&0x80) && tb.get(i + 2) == Some(&0xA6) => {
                    ellipses += 1
                }
                _ => {}
            }
            dots = 0;
        }
        let mut n_lines = 0;
        let mut bullets = 0;
        let mut end_ellipsis = 0;
        for line in py_splitlines(text) {
            n_lines += 1;
            let l = py_lstrip(line);
            if l.starts_with('•') || l.starts_with('-') {
                bullets += 1;
            }
            let r = py_rstrip(line);
            if r.ends_with("...") || r.ends_with('…') {
                end_ellipsis += 1;
            }
        }
        GopherQualityStats {
            n_words,
            n_tokens,
            avg_word_length: if n_words == 0 {
                f64::NAN
            } else {
                word_chars as f64 / n_words as f64
            },
            hash_ratio: ratio(hashes, n_tokens),
            ellipsis_ratio: ratio(ellipses, n_tokens),
            bullet_lines_ratio: ratio(bullets, n_lines),
            end_ellipsis_lines_ratio: ratio(end_ellipsis, n_lines),
            alpha_words_ratio: ratio(alpha, n_tokens),
            stop_words: stop_seen.count_ones() as usize + extra_stop.len(),
        }
    }

    /// The verdict for `s`, checks in datatrove's order.
    fn decide(&self, s: &GopherQualityStats) -> Verdict {
        let c = &self.cfg;
        let n = s.n_words as u64;
        if c.min_doc_words.is_some_and(|m| n < m) {
            return Verdict::Drop("min_doc_words");
        }
        if c.max_doc_words.is_some_and(|m| n > m) {
            return Verdict::Drop("max_doc_words");
        }
        // NaN (no words) fails neither comparison, as in numpy.
        if c.min_avg_word_length.is_some_and(|m| s.avg_word_length < m) {
            return Verdict::Drop("min_avg_word_length");
        }
        if c.max_avg_word_length.is_some_and(|m| s.avg_word_length > m) {
            return Verdict::Drop("max_avg_word_length");
        }
        if let Some(m) = c.max_symbol_word_ratio {
            if s.hash_ratio > m {
                return Verdict::Drop("hash_ratio");
            }
            if s.ellipsis_ratio > m {
                return Verdict::Drop("ellipsis_ratio");
            }
        }
        if c.max_bullet_lines_ratio
            .is_some_and(|m| s.bullet_lines_ratio > m)
        {
            return Verdict::Drop("bullet_lines_ratio");
        }
        if c.max_ellipsis_lines_ratio
            .is_some_and(|m| s.end_ellipsis_lines_ratio > m)
        {
            return Verdict::Drop("end_ellipsis_lines_ratio");
        }
        if c.min_alpha_words_ratio
            .is_some_and(|m| s.alpha_words_ratio < m)
        {
            return Verdict::Drop("alpha_words_ratio");
        }
        if c.min_stop_words.is_some_and(|m| (s.stop_words as u64) < m) {
            return Verdict::Drop("min_stop_words");
        }
        Verdict::Keep
    }
}

impl Filter for GopherQuality {
    fn check(&self, doc: &mut Document, counters: &mut Counters) -> Verdict {
        let r = self.by.resolve(doc, counters);
        let checks = r.filter;
        let s = checks.stats(&doc.text, r.seg);
        if checks.cfg.signals {
            let sig = &mut doc.signals;
            sig.insert("gopher_quality.n_words".into(), s.n_words as f64);
            if s.avg_word_length.is_finite() {
                sig.insert("gopher_quality.avg_word_length".into(), s.avg_word_length);
            }
            sig.insert("gopher_quality.hash_ratio".into(), s.hash_ratio);
            sig.insert("gopher_quality.ellipsis_ratio".into(), s.ellipsis_ratio);
            sig.insert(
                "gopher_quality.bullet_lines_ratio".into(),
                s.bullet_lines_ratio,
            );
            sig.insert(
                "gopher_quality.end_ellipsis_lines_ratio".into(),
                s.end_ellipsis_lines_ratio,
            );
            sig.insert(
                "gopher_quality.alpha_words_ratio".into(),
                s.alpha_words_ratio,
            );
            sig.insert("gopher_quality.stop_words".into(), s.stop_words as f64);
        }
        checks.decide(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn verdict(cfg: GopherQualityConfig, text: &str) -> Verdict {
        let mut d = Document::new("d", text, Arc::from("t"));
        GopherQuality::new(cfg).check(&mut d, &mut Counters::default())
    }

    /// Only the named check enabled.
    fn only() -> GopherQualityConfig {
        GopherQualityConfig::default().checks_off()
    }

    fn n_words(n: usize) -> String {
        vec!["word"; n].join(" ")
    }

    #[test]
    fn doc_word_bounds() {
        let c = GopherQualityConfig {
            min_doc_words: Some(50),
            max_doc_words: Some(52),
            ..only()
        };
        assert_eq!(
            verdict(c.clone(), &n_words(49)),
            Verdict::Drop("min_doc_words")
        );
        assert_eq!(verdict(c.clone(), &n_words(50)), Verdict::Keep);
        assert_eq!(verdict(c.clone(), &n_words(52)), Verdict::Keep);
        assert_eq!(
            verdict(c.clone(), &n_words(53)),
            Verdict::Drop("max_doc_words")
        );
        // Punctuation tokens are not words: 49 words and 10 commas are still too few.
        assert_eq!(
            verdict(c, &format!("{} , , , , , , , , , ,", n_words(49))),
            Verdict::Drop("min_doc_words")
        );
    }

    #[test]
    fn avg_word_length_bounds() {
        let c = GopherQualityConfig {
            min_avg_word_length: Some(3.0),
            max_avg_word_length: Some(10.0),
            ..only()
        };
        // "ab abcd": mean 3.0, at the bound; "ab abc": 2.5 below.
        assert_eq!(
            verdict(c.clone(), "ab abc"),
            Verdict::Drop("min_avg_word_length")
        );
        assert_eq!(verdict(c.clone(), "ab abcd"), Verdict::Keep);
        assert_eq!(verdict(c.clone(), "abcdefghij abcdefghij"), Verdict::Keep);
        assert_eq!(
            verdict(c.clone(), "abcdefghij abcdefghijk"),
            Verdict::Drop("max_avg_word_length")
        );
        // Symbols do not count towards the mean: "ab abcd ." is still 3.0.
        assert_eq!(verdict(c, "ab abcd ."), Verdict::Keep);
    }

    #[test]
    fn hash_and_ellipsis_ratio_over_all_tokens() {
        let c = GopherQualityConfig {
            max_symbol_word_ratio: Some(0.1),
            ..only()
        };
        // 10 tokens: "#" is its own token, so 9 words + 1 "#" = 0.1: at the bound.
        let at = format!("{} #", n_words(9));
        assert_eq!(verdict(c.clone(), &at), Verdict::Keep);
        // 2 hashes in 11 tokens (0.18).
        assert_eq!(
            verdict(c.clone(), &format!("{} # #", n_words(9))),
            Verdict::Drop("hash_ratio")
        );
        // 19 words + "...": 20 tokens, 1 ellipsis = 0.05; 8 words + "..." + "…" = 0.2.
        assert_eq!(
            verdict(c.clone(), &format!("{} ...", n_words(19))),
            Verdict::Keep
        );
        assert_eq!(
            verdict(c, &format!("{} ... …", n_words(8))),
            Verdict::Drop("ellipsis_ratio")
        );
    }

    #[test]
    fn bullet_and_end_ellipsis_lines() {
        let c = GopherQualityConfig {
            max_bullet_lines_ratio: Some(0.5),
            ..only()
        };
        assert_eq!(verdict(c.clone(), "- a\n• b\nc\nd"), Verdict::Keep); // 0.5
        assert_eq!(
            verdict(c.clone(), "- a\n  • b\n-c\nd"),
            Verdict::Drop("bullet_lines_ratio")
        ); // 0.75
        let c = GopherQualityConfig {
            max_ellipsis_lines_ratio: Some(0.3),
            ..only()
        };
        assert_eq!(
            verdict(c.clone(), "a...\nb\nc\nd\ne\nf\ng\nh\ni\nj"),
            Verdict::Keep
        ); // 0.1
        assert_eq!(
            verdict(c.clone(), "a...\nb…  \nc\nd\ne\nf\ng\nh\ni\nj"),
            Verdict::Keep
        ); // 0.2
        assert_eq!(
            verdict(c.clone(), "a...\nb…\nc...\nd\ne\nf\ng\nh\ni\nj"),
            Verdict::Keep
        ); // 0.3: at
        assert_eq!(
            verdict(c, "a...\nb…\nc...\nd...\ne\nf\ng\nh\ni\nj"),
            Verdict::Drop("end_ellipsis_lines_ratio")
        );
    }

    #[test]
    fn alpha_ratio_counts_punctuation_tokens() {
        let c = GopherQualityConfig {
            min_alpha_words_ratio: Some(0.8),
            ..only()
        };
        // 4 words + 1 number: 0.8, at the bound. One more number: 4/6 below.
        assert_eq!(verdict(c.clone(), "one two three four 5"), Verdict::Keep);
        assert_eq!(
            verdict(c.clone(), "one two three four 5 6"),
            Verdict::Drop("alpha_words_ratio")
        );
        // The final "." is a token without a letter: 4/5 = 0.8 keeps, "!" makes it 4/6.
        assert_eq!(verdict(c.clone(), "one two three four."), Verdict::Keep);
        assert_eq!(
            verdict(c, "one two three four!!"),
            Verdict::Drop("alpha_words_ratio")
        );
    }

    #[test]
    fn stop_words_distinct_and_case_sensitive() {
        let c = GopherQualityConfig {
            min_stop_words: Some(2),
            ..only()
        };
        assert_eq!(
            verdict(c.clone(), "the the the cat"),
            Verdict::Drop("min_stop_words")
        );
        assert_eq!(verdict(c.clone(), "The cat and the dog"), Verdict::Keep);
        assert_eq!(
            verdict(c.clone(), "The cat And dog"),
            Verdict::Drop("min_stop_words")
        );
        assert_eq!(verdict(c, "cat of dog with"), Verdict::Keep);
    }

    #[test]
    fn first_failing_check_is_the_reason() {
        // Too short and without stop words: the word count is checked first.
        assert_eq!(
            verdict(GopherQualityConfig::default(), "cat dog"),
            Verdict::Drop("min_doc_words")
        );
        let good = "The quick brown fox jumps over the lazy dog and runs to the forest with joy. "
            .repeat(5);
        assert_eq!(
            verdict(GopherQualityConfig::default(), &good),
            Verdict::Keep
        );
    }

    #[test]
    fn signals_recorded() {
        let mut d = Document::new("d", "The cat and the dog.", Arc::from("t"));
        let cfg = GopherQualityConfig {
            signals: true,
            ..Default::default()
        };
        GopherQuality::new(cfg).check(&mut d, &mut Counters::default());
        assert_eq!(d.signals["gopher_quality.n_words"], 5.0);
        assert_eq!(d.signals["gopher_quality.stop_words"], 2.0);
        assert_eq!(d.signals["gopher_quality.alpha_words_ratio"], 5.0 / 6.0);
    }

    #[test]
    fn config_problems() {
        let c = GopherQualityConfig {
            min_doc_words: Some(10),
            max_doc_words: Some(5),
            ..Default::default()
        };
        assert_eq!(
            c.check()[0].message,
            "min_doc_words (10) is greater than max_doc_words (5)"
        );
        let c = GopherQualityConfig {
            min_alpha_words_ratio: Some(1.5),
            ..Default::default()
        };
        assert_eq!(c.check()[0].path, vec!["min_alpha_words_ratio".to_string()]);
        let c = GopherQualityConfig {
            min_stop_words: Some(9),
            ..Default::default()
        };
        assert_eq!(c.check().len(), 1);
    }
}
