//! `gopher_repetition`: the repetition rules of Gopher (Rae et al. 2021, table A1), with the
//! semantics and defaults of datatrove's `GopherRepetitionFilter`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::hash::BuildHasherDefault;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::by_language::{check_language_options, ByLanguage, LanguageDefaults};
use super::gopher_quality::check_frac;
use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};
use crate::text::langs::intern;
use crate::text::{char_len, py_strip, Segmenter};

/// An n-gram size and the largest fraction of the text its statistic may reach.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NGramThreshold {
    /// Number of words in the n-gram (at least 1).
    pub n: usize,
    /// Maximum fraction of the text's characters (the document is dropped above it).
    pub max_frac: f64,
}

fn d_03() -> Option<f64> {
    Some(0.3)
}
fn d_02() -> Option<f64> {
    Some(0.2)
}
fn d_top() -> Vec<NGramThreshold> {
    [(2, 0.2), (3, 0.18), (4, 0.16)]
        .iter()
        .map(|&(n, max_frac)| NGramThreshold { n, max_frac })
        .collect()
}
fn d_dup() -> Vec<NGramThreshold> {
    [
        (5, 0.15),
        (6, 0.14),
        (7, 0.13),
        (8, 0.12),
        (9, 0.11),
        (10, 0.10),
    ]
    .iter()
    .map(|&(n, max_frac)| NGramThreshold { n, max_frac })
    .collect()
}

/// Config of the `gopher_repetition` filter. Defaults are datatrove's; `null` disables a check.
///
/// Paragraphs are the parts of the stripped text between runs of two or more `\n`; lines
/// the parts of the text between runs of `\n`. An element is a duplicate when an equal one
/// came before it; character fractions divide by the characters of the whole text.
///
/// Checks, in order; the first that fails is the drop reason (the keys are datatrove's):
/// `empty` (no text); `dup_para_frac`: duplicate paragraphs / paragraphs;
/// `dup_para_char_frac`: characters in duplicate paragraphs / text; `dup_line_frac`,
/// `dup_line_char_frac`: the same for lines; `top_<n>_gram` for each of `top_n_grams`: the
/// most frequent word n-gram (earliest on ties), its characters (words joined by spaces) times
/// its count / text; `duplicated_<n>_n_grams` for each of `dup_n_grams`: characters of word
/// n-grams (words concatenated) seen before, scanning left to right and jumping over an n-gram
/// once it is found repeated / text. Words are the words of the document's language
/// ([`crate::text::Segmenter`]); options may differ by language (`language`, `languages`,
/// `language_defaults`: see [`super::by_language`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GopherRepetitionConfig {
    /// Maximum fraction of duplicate lines.
    #[serde(default = "d_03")]
    pub dup_line_frac: Option<f64>,
    /// Maximum fraction of duplicate paragraphs.
    #[serde(default = "d_03")]
    pub dup_para_frac: Option<f64>,
    /// Maximum fraction of the text's characters in duplicate lines.
    #[serde(default = "d_02")]
    pub dup_line_char_frac: Option<f64>,
    /// Maximum fraction of the text's characters in duplicate paragraphs.
    #[serde(default = "d_02")]
    pub dup_para_char_frac: Option<f64>,
    /// Top n-gram checks, in order.
    #[serde(default = "d_top")]
    pub top_n_grams: Vec<NGramThreshold>,
    /// Duplicated n-gram checks, in order.
    #[serde(default = "d_dup")]
    pub dup_n_grams: Vec<NGramThreshold>,
    /// Record the computed fractions as `gopher_repetition.*` signals on the document.
    #[serde(default)]
    pub signals: bool,
    /// The language of every document (ISO 639-3, optionally with script). Absent: each
    /// document's `lang` from the `language` stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Options by language code, over `language_defaults`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, GopherRepetitionConfig>")]
    pub languages: BTreeMap<String, Map<String, Value>>,
    /// Shipped per-language options (`fineweb2`: FineWeb-2's thresholds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_defaults: Option<LanguageDefaults>,
}

crate::language_aware!(GopherRepetitionConfig, "gopher_repetition");

impl Default for GopherRepetitionConfig {
    fn default() -> Self {
        GopherRepetitionConfig {
            dup_line_frac: d_03(),
            dup_para_frac: d_03(),
            dup_line_char_frac: d_02(),
            dup_para_char_frac: d_02(),
            top_n_grams: d_top(),
            dup_n_grams: d_dup(),
            signals: false,
            language: None,
            languages: BTreeMap::new(),
            language_defaults: None,
        }
    }
}

impl Check for GopherRepetitionConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        p.extend(check_frac("dup_line_frac", self.dup_line_frac, true));
        p.extend(check_frac("dup_para_frac", self.dup_para_frac, true));
        p.extend(check_frac(
            "dup_line_char_frac",
            self.dup_line_char_frac,
            true,
        ));
        p.extend(check_frac(
            "dup_para_char_frac",
            self.dup_para_char_frac,
            true,
        ));
        for (field, list) in [
            ("top_n_grams", &self.top_n_grams),
            ("dup_n_grams", &self.dup_n_grams),
        ] {
            for (i, t) in list.iter().enumerate() {
                if t.n == 0 || t.n > 1000 {
                    p.push(Problem {
                        path: vec![field.into(), i.to_string(), "n".into()],
                        message: format!("n must be between 1 and 1000, got {}", t.n),
                    });
                }
                if !t.max_frac.is_finite() || t.max_frac < 0.0 {
                    p.push(Problem {
                        path: vec![field.into(), i.to_string(), "max_frac".into()],
                        message: format!(
                            "max_frac must be a finite number >= 0, got {}",
                            t.max_frac
                        ),
                    });
                }
            }
        }
        p.extend(check_language_options(self));
        p
    }
}

type FxSet<'a> = HashSet<&'a str, BuildHasherDefault<StrHasher>>;

/// xxh3 over the bytes written; fast for the short strings hashed here.
#[derive(Default)]
pub(crate) struct StrHasher(u64);

impl std::hash::Hasher for StrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }
}

/// datatrove's `find_duplicates`: (elements equal to an earlier one, their characters).
pub fn find_duplicates<'a>(items: impl IntoIterator<Item = &'a str>) -> (usize, usize) {
    let mut seen: FxSet<'a> = FxSet::with_capacity_and_hasher(64, Default::default());
    let (mut n, mut chars) = (0, 0);
    for x in items {
        if !seen.insert(x) {
            n += 1;
            chars += char_len(x);
        }
    }
    (n, chars)
}

/// Splits `s` at every run of `min_run` or more `\n` (`re.split(r"\n{min_run,}", s)`).
fn split_newline_runs(s: &str, min_run: usize) -> impl Iterator<Item = &str> {
    let b = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < b.len() {
            if b[i] == b'\n' {
                let run = b[i..].iter().take_while(|&&c| c == b'\n').count();
                if run >= min_run {
                    let part = &s[start..i];
                    i += run;
                    start = i;
                    return Some(part);
                }
                i += run;
            } else {
                i += 1;
            }
        }
        done = true;
        Some(&s[start..])
    })
}

#[derive(Clone, Copy, Default)]
struct Slot {
    hash: u64,
    /// First position of the n-gram.
    pos: u32,
    /// The table generation that wrote this slot; older slots are empty.
    gen: u32,
}

/// Per-thread buffers reused across documents.
#[derive(Default)]
struct Scratch {
    table: Vec<Slot>,
    /// Table of `dup_ngram_chars` and `mark_shared_windows`.
    dup_table: Vec<u64>,
    /// Words whose 8-byte window starts another word too (see `mark_shared_windows`).
    shared: Vec<bool>,
    /// Counts of the top n-gram table, by slot.
    counts: Vec<u32>,
    gen: u32,
    /// The bytes of all words, concatenated, and where each word starts (plus the end).
    buf: Vec<u8>,
    off: Vec<u32>,
    /// Prefix polynomial hash over word hashes (identity of a word sequence).
    seq_prefix: Vec<u64>,
    /// Prefix polynomial hash over the bytes in `buf` at each word start, and the powers of
    /// the base by byte length (identity of a concatenation).
    cat_prefix: Vec<u64>,
    cat_pow: Vec<u64>,
    /// Prefix sums of characters per word.
    chars: Vec<u64>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

const SEQ_BASE: u64 = 0x9E37_79B9_7F4A_7C15; // odd
const CAT_BASE: u64 = 0x0000_0100_0000_01B3; // FNV prime, odd

fn wpow(mut b: u64, mut e: u64) -> u64 {
    let mut r = 1u64;
    while e > 0 {
        if e & 1 == 1 {
            r = r.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
    }
    r
}

#[inline]
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

impl Scratch {
    /// Builds the per-document arrays for n-grams of up to `max_n` words.
    fn prepare(&mut self, words: &[&str], max_n: usize) {
        let w = words.len();
        self.buf.clear();
        self.off.clear();
        self.chars.clear();
        let mut ch = 0u64;
        self.chars.push(ch);
        let mut max_word = 0;
        for word in words {
            self.off.push(self.buf.len() as u32);
            self.buf.extend_from_slice(word.as_bytes());
            max_word = max_word.max(word.len());
            ch += if word.is_ascii() {
                word.len() as u64
            } else {
                char_len(word) as u64
            };
            self.chars.push(ch);
        }
        self.off.push(self.buf.len() as u32);
        // Powers of the base for every byte length an n-gram (or a word) can have.
        let n = max_n.clamp(1, w.max(1));
        let mut max_len = max_word;
        for i in 0..w.saturating_sub(n - 1) {
            max_len = max_len.max((self.off[i + n] - self.off[i]) as usize);
        }
        self.cat_pow.clear();
        let mut pw = 1u64;
        for _ in 0..=max_len {
            self.cat_pow.push(pw);
            pw = pw.wrapping_mul(CAT_BASE);
        }
        // Each word's own polynomial hash (independent chains, so they overlap), chained into
        // prefix hashes of the concatenation and of the word sequence.
        self.seq_prefix.clear();
        self.cat_prefix.clear();
        let (mut cp, mut sp) = (0u64, 0u64);
        self.cat_prefix.push(cp);
        self.seq_prefix.push(sp);
        for k in 0..w {
            let bytes = &self.buf[self.off[k] as usize..self.off[k + 1] as usize];
            let own = bytes.iter().fold(0u64, |h, &b| {
                h.wrapping_mul(CAT_BASE).wrapping_add(b as u64 + 1)
            });
            cp = cp.wrapping_mul(self.cat_pow[bytes.len()]).wrapping_add(own);
            self.cat_prefix.push(cp);
            sp = sp
                .wrapping_mul(SEQ_BASE)
                .wrapping_add(mix(own ^ (bytes.len() as u64).rotate_left(48)));
            self.seq_prefix.push(sp);
        }
        let cap = (2 * w.max(4)).next_power_of_two();
        if self.table.len() != cap {
            self.table.clear();
            self.table.resize(cap, Slot::default());
            self.counts.clear();
            self.counts.resize(cap, 0);
            self.gen = 0;
        }
    }

    /// Polynomial hash of the bytes of words `i..i+n` (their concatenation).
    #[inline]
    fn cat_hash_raw(&self, i: usize, n: usize) -> u64 {
        let j = i + n;
        let len = (self.off[j] - self.off[i]) as usize;
        self.cat_prefix[j].wrapping_sub(self.cat_prefix[i].wrapping_mul(self.cat_pow[len]))
    }

    /// The largest characters-plus-spaces of any n-gram: a bound on the top n-gram's length.
    fn max_ngram_chars(&self, n: usize) -> u64 {
        let m = self.off.len() - n;
        (0..m).map(|i| self.span_chars(i, n)).max().unwrap_or(0) + n as u64 - 1
    }

    /// Empties the table (by moving to a new generation).
    fn reset_table(&mut self) {
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            self.table.iter_mut().for_each(|s| *s = Slot::default());
            self.gen = 1;
        }
    }

    #[inline]
    fn seq_hash(&self, i: usize, n: usize, base_pow_n: u64) -> u64 {
        self.seq_prefix[i + n].wrapping_sub(self.seq_prefix[i].wrapping_mul(base_pow_n))
    }

    #[inline]
    fn span_chars(&self, i: usize, n: usize) -> u64 {
        self.chars[i + n] - self.chars[i]
    }

    #[inline]
    fn cat(&self, i: usize, n: usize) -> &[u8] {
        &self.buf[self.off[i] as usize..self.off[i + n] as usize]
    }

    /// Word sequences `i..i+n` and `j..j+n` are equal: same concatenation, same boundaries.
    #[inline]
    fn seq_eq(&self, i: usize, j: usize, n: usize) -> bool {
        (1..n).all(|k| self.off[i + k] - self.off[i] == self.off[j + k] - self.off[j])
            && self.cat(i, n) == self.cat(j, n)
    }

    /// datatrove's `find_top_duplicate` over the word n-grams: characters of the most frequent
    /// n-gram joined by spaces, times its count. Ties go to the n-gram seen first.
    fn top_ngram_chars(&mut self, n: usize) -> (u64, u32) {
        let m = self.off.len() - n; // words + 1 - n
        self.reset_table();
        let gen = self.gen;
        let mask = self.table.len() - 1;
        let bpn = wpow(SEQ_BASE, n as u64);
        let (mut best_count, mut best_pos) = (0u32, 0usize);
        for i in 0..m {
            let h = self.seq_hash(i, n, bpn);
            let mut k = (mix(h) as usize) & mask;
            loop {
                let slot = self.table[k];
                if slot.gen != gen {
                    self.table[k] = Slot {
                        hash: h,
                        pos: i as u32,
                        gen,
                    };
                    self.counts[k] = 1;
                    if best_count == 0 {
                        best_count = 1;
                        best_pos = i;
                    }
                    break;
                }
                let p = slot.pos as usize;
                if slot.hash == h && self.seq_eq(p, i, n) {
                    let c = self.counts[k] + 1;
                    self.counts[k] = c;
                    if c > best_count || (c == best_count && p < best_pos) {
                        best_count = c;
                        best_pos = p;
                    }
                    break;
                }
                k = (k + 1) & mask;
            }
        }
        (
            (self.span_chars(best_pos, n) + n as u64 - 1) * best_count as u64,
            best_count,
        )
    }

    /// Marks the words whose next 8 bytes of the concatenation (a window starting at the
    /// word) also start another word. Two equal concatenations of 8 bytes or more start with
    /// equal windows, so an n-gram starting at an unmarked word is unique; in prose few words
    /// are marked, which spares most hash-table work of the duplicated n-gram checks.
    fn mark_shared_windows(&mut self) {
        let words = self.off.len() - 1;
        self.shared.clear();
        self.shared.resize(words, false);
        let cap = self.table.len();
        let mut table = std::mem::take(&mut self.dup_table);
        table.clear();
        table.resize(cap, 0u64);
        // Slots hold position + 1 of the first word with a window (0: empty).
        let mask = cap - 1;
        let buf = &self.buf;
        let window = |i: usize| -> Option<u64> {
            let a = self.off[i] as usize;
            buf.get(a..a + 8)
                .map(|w| u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]))
        };
        for i in 0..words {
            let Some(w) = window(i) else {
                // Too close to the end for a full window: treat as shared.
                self.shared[i] = true;
                continue;
            };
            let mut k = (mix(w) as usize) & mask;
            loop {
                let slot = table[k] as usize;
                if slot == 0 {
                    table[k] = i as u64 + 1;
                    break;
                }
                if window(slot - 1) == Some(w) {
                    self.shared[slot - 1] = true;
                    self.shared[i] = true;
                    break;
                }
                k = (k + 1) & mask;
            }
        }
        self.dup_table = table;
    }

    /// datatrove's `find_all_duplicate`: characters of n-grams (words concatenated) equal to
    /// one seen before; after a repeat the scan jumps `n` words, and jumped-over n-grams are
    /// not remembered.
    fn dup_ngram_chars(&mut self, n: usize) -> u64 {
        let words = self.off.len() - 1;
        if words < n {
            return 0;
        }
        let m = words + 1 - n;
        // Slots pack (tag << 32 | position); 0 is empty. The tag is the hash's high half
        // (made non-zero), the index its low bits; equal tags are confirmed byte by byte.
        let mut table = std::mem::take(&mut self.dup_table);
        table.clear();
        table.resize(self.table.len(), 0u64);
        let mask = table.len() - 1;
        let shift = 64 - table.len().trailing_zeros();
        let mut repeated = 0u64;
        let mut i = 0;
        while i < m {
            // An n-gram whose first 8 bytes start no other word can equal no other n-gram:
            // it is neither a repeat nor worth remembering (see `mark_shared_windows`).
            if !self.shared[i] && self.off[i + n] - self.off[i] >= 8 {
                i += 1;
                continue;
            }
            // The high bits of a polynomial hash mix every byte: they pick the slot.
            let h = self.cat_hash_raw(i, n);
            let tag = (h & 0xffff_ffff) | 1;
            let mut k = (h >> shift) as usize;
            let mut found = false;
            loop {
                let slot = table[k];
                if slot == 0 {
                    table[k] = tag << 32 | i as u64;
                    break;
                }
                if slot >> 32 == tag && self.cat((slot & 0xffff_ffff) as usize, n) == self.cat(i, n)
                {
                    found = true;
                    break;
                }
                k = (k + 1) & mask;
            }
            if found {
                repeated += self.span_chars(i, n);
                i += n;
            } else {
                i += 1;
            }
        }
        self.dup_table = table;
        repeated
    }
}

/// The `gopher_repetition` stage.
pub struct GopherRepetition {
    by: ByLanguage<Checks>,
}

/// The checks with one language's options.
struct Checks {
    cfg: GopherRepetitionConfig,
    top_keys: Vec<(&'static str, String)>,
    dup_keys: Vec<(&'static str, String)>,
}

/// Collects signals and the first failing check.
struct Eval<'a> {
    signals: Option<&'a mut BTreeMap<String, f64>>,
    fail: Option<&'static str>,
}

impl Eval<'_> {
    /// Records `v`; returns true when evaluation can stop (a check failed, no signals wanted).
    fn test(&mut self, signal: &str, v: f64, max: Option<f64>, reason: &'static str) -> bool {
        if let Some(s) = self.signals.as_deref_mut() {
            s.insert(format!("gopher_repetition.{signal}"), v);
        }
        if self.fail.is_none() && max.is_some_and(|m| v > m) {
            self.fail = Some(reason);
        }
        self.fail.is_some() && self.signals.is_none()
    }
}

impl GopherRepetition {
    /// A gopher_repetition filter with `cfg` (checked: its language codes are known).
    pub fn new(cfg: GopherRepetitionConfig) -> Self {
        Self::try_new(cfg).expect("a checked gopher_repetition config")
    }

    /// A gopher_repetition filter with `cfg`, or why its language options cannot be used.
    pub fn try_new(cfg: GopherRepetitionConfig) -> Result<Self, String> {
        Ok(GopherRepetition {
            by: ByLanguage::build(&cfg, Checks::new)?,
        })
    }
}

impl Checks {
    fn new(cfg: GopherRepetitionConfig) -> Self {
        let top_keys = cfg
            .top_n_grams
            .iter()
            .map(|t| {
                (
                    intern(&format!("top_{}_gram", t.n)),
                    format!("top_{}_gram", t.n),
                )
            })
            .collect();
        let dup_keys = cfg
            .dup_n_grams
            .iter()
            .map(|t| {
                (
                    intern(&format!("duplicated_{}_n_grams", t.n)),
                    format!("duplicated_{}_n_grams", t.n),
                )
            })
            .collect();
        Checks {
            cfg,
            top_keys,
            dup_keys,
        }
    }

    fn evaluate(
        &self,
        text: &str,
        seg: Segmenter,
        signals: Option<&mut BTreeMap<String, f64>>,
    ) -> Verdict {
        if text.is_empty() {
            return Verdict::Drop("empty");
        }
        let c = &self.cfg;
        let mut ev = Eval {
            signals,
            fail: None,
        };
        let text_chars = char_len(text);
        let frac = |x: usize| x as f64 / text_chars as f64;

        let mut n_paras = 0;
        let (dup_paras, dup_para_chars) =
            find_duplicates(split_newline_runs(py_strip(text), 2).inspect(|_| n_paras += 1));
        if ev.test(
            "dup_para_frac",
            dup_paras as f64 / n_paras as f64,
            c.dup_para_frac,
            "dup_para_frac",
        ) || ev.test(
            "dup_para_char_frac",
            frac(dup_para_chars),
            c.dup_para_char_frac,
            "dup_para_char_frac",
        ) {
            return Verdict::Drop(ev.fail.unwrap_or("dup_para_frac"));
        }
        let mut n_lines = 0;
        let (dup_lines, dup_line_chars) =
            find_duplicates(split_newline_runs(text, 1).inspect(|_| n_lines += 1));
        if ev.test(
            "dup_line_frac",
            dup_lines as f64 / n_lines as f64,
            c.dup_line_frac,
            "dup_line_frac",
        ) || ev.test(
            "dup_line_char_frac",
            frac(dup_line_chars),
            c.dup_line_char_frac,
            "dup_line_char_frac",
        ) {
            return Verdict::Drop(ev.fail.unwrap_or("dup_line_frac"));
        }

        let mut words = Vec::with_capacity(text.len() / 5 + 1);
        seg.split_cached(text, &mut words);
        let max_n = c
            .top_n_grams
            .iter()
            .chain(&c.dup_n_grams)
            .map(|t| t.n)
            .max()
            .unwrap_or(1);
        let exact = ev.signals.is_some();
        let stop = SCRATCH.with(|s| {
            let mut s = s.borrow_mut();
            s.prepare(&words, max_n);
            // (n, count of the most frequent n-gram), for bounds on longer n-grams.
            let mut max_counts: Vec<(usize, u32)> = Vec::new();
            for (t, (reason, signal)) in c.top_n_grams.iter().zip(&self.top_keys) {
                if t.n == 0 || words.len() < t.n {
                    continue;
                }
                // An n-gram occurs at most as often as its k-word prefix (k < n), so its count
                // times the longest n-gram bounds the statistic: skip the count when the bound
                // passes (unless the exact value is wanted as a signal).
                let prefix_count = max_counts
                    .iter()
                    .filter(|&&(k, _)| k < t.n)
                    .max_by_key(|&&(k, _)| k);
                if let (false, Some(&(_, mc))) = (exact, prefix_count) {
                    let bound = s.max_ngram_chars(t.n) * mc as u64;
                    if bound as f64 / text_chars as f64 <= t.max_frac {
                        continue;
                    }
                }
                let (v, mc) = s.top_ngram_chars(t.n);
                max_counts.push((t.n, mc));
                if ev.test(
                    signal,
                    v as f64 / text_chars as f64,
                    Some(t.max_frac),
                    reason,
                ) {
                    return true;
                }
            }
            let mut marked = false;
            for (t, (reason, signal)) in c.dup_n_grams.iter().zip(&self.dup_keys) {
                if t.n == 0 {
                    continue;
                }
                if !marked {
                    s.mark_shared_windows();
                    marked = true;
                }
                let v = s.dup_ngram_chars(t.n);
                if ev.test(
                    signal,
                    v as f64 / text_chars as f64,
                    Some(t.max_frac),
                    reason,
                ) {
                    return true;
                }
            }
            false
        });
        let _ = stop;
        match ev.fail {
            Some(r) => Verdict::Drop(r),
            None => Verdict::Keep,
        }
    }
}

impl Filter for GopherRepetition {
    fn check(&self, doc: &mut Document, counters: &mut Counters) -> Verdict {
        let r = self.by.resolve(doc, counters);
        let sig = if r.filter.cfg.signals {
            Some(&mut doc.signals)
        } else {
            None
        };
        r.filter.evaluate(&doc.text, r.seg, sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn verdict(cfg: GopherRepetitionConfig, text: &str) -> Verdict {
        let mut d = Document::new("d", text, Arc::from("t"));
        GopherRepetition::new(cfg).check(&mut d, &mut Counters::default())
    }

    fn none() -> GopherRepetitionConfig {
        GopherRepetitionConfig {
            dup_line_frac: None,
            dup_para_frac: None,
            dup_line_char_frac: None,
            dup_para_char_frac: None,
            top_n_grams: vec![],
            dup_n_grams: vec![],
            ..Default::default()
        }
    }

    fn signals(cfg: GopherRepetitionConfig, text: &str) -> BTreeMap<String, f64> {
        let mut d = Document::new("d", text, Arc::from("t"));
        GopherRepetition::new(GopherRepetitionConfig {
            signals: true,
            ..cfg
        })
        .check(&mut d, &mut Counters::default());
        d.signals
    }

    #[test]
    fn empty_text() {
        assert_eq!(
            verdict(GopherRepetitionConfig::default(), ""),
            Verdict::Drop("empty")
        );
    }

    #[test]
    fn datatrove_helpers() {
        assert_eq!(find_duplicates(["a", "bb", "a", "bb", "bb", "c"]), (3, 5));
        let v: Vec<&str> = split_newline_runs("a\nb\n\n\nc\n\nd", 2).collect();
        assert_eq!(v, ["a\nb", "c", "d"]);
        let v: Vec<&str> = split_newline_runs("\na\n\nb\n", 1).collect();
        assert_eq!(v, ["", "a", "b", ""]);
    }

    #[test]
    fn dup_line_frac_threshold() {
        let c = GopherRepetitionConfig {
            dup_line_frac: Some(0.3),
            ..none()
        };
        // 10 lines, 3 duplicates: 0.3 at the bound keeps; 4 duplicates drop.
        let at = "a\na\na\na\nb\nc\nd\ne\nf\ng";
        assert_eq!(verdict(c.clone(), at), Verdict::Keep);
        let above = "a\na\na\na\na\nc\nd\ne\nf\ng";
        assert_eq!(verdict(c.clone(), above), Verdict::Drop("dup_line_frac"));
        // Runs of newlines are one separator: blank lines do not count.
        assert_eq!(
            verdict(c, "a\n\n\na\nb\nc\nd\ne\nf\ng\nh\ni"),
            Verdict::Keep
        );
    }

    #[test]
    fn dup_line_char_frac_divides_by_whole_text() {
        let c = GopherRepetitionConfig {
            dup_line_char_frac: Some(0.2),
            ..none()
        };
        // "xxxxx\nxxxxx\n" + 14 chars: text 26 chars... choose exact: dup chars 5 / 25 = 0.2.
        let at = "xxxxx\nxxxxx\nabcdefghijklmn";
        assert_eq!(char_len(at), 26);
        assert_eq!(verdict(c.clone(), at), Verdict::Keep); // 5/26
        let at = "xxxxx\nxxxxx\nabcdefghijklm"; // 5/25 = 0.2
        assert_eq!(verdict(c.clone(), at), Verdict::Keep);
        let above = "xxxxx\nxxxxx\nabcdefghijkl"; // 5/24
        assert_eq!(verdict(c, above), Verdict::Drop("dup_line_char_frac"));
    }

    #[test]
    fn paragraphs_checked_before_lines() {
        let text = "p one\n\np one\n\np two\n\np three";
        let c = GopherRepetitionConfig {
            dup_para_frac: Some(0.2),
            dup_line_frac: Some(0.1),
            ..none()
        };
        assert_eq!(verdict(c, text), Verdict::Drop("dup_para_frac"));
        let c = GopherRepetitionConfig {
            dup_para_frac: Some(0.25),
            dup_line_frac: Some(0.1),
            ..none()
        };
        // 1 of 4 paragraphs: at 0.25 it passes, then lines (1 of 4) fail.
        assert_eq!(verdict(c, text), Verdict::Drop("dup_line_frac"));
        let c = GopherRepetitionConfig {
            dup_para_char_frac: Some(0.2),
            ..none()
        };
        assert_eq!(verdict(c, text), Verdict::Keep); // 5 / 28
        let c = GopherRepetitionConfig {
            dup_para_char_frac: Some(0.17),
            ..none()
        };
        assert_eq!(verdict(c, text), Verdict::Drop("dup_para_char_frac"));
    }

    #[test]
    fn top_ngram_fraction() {
        // Words "ab cd ab cd ab": 2-grams ab·cd x2, cd·ab x2; top = "ab cd" (first seen), 5 chars x 2 = 10.
        let text = "ab cd ab cd ab";
        assert_eq!(char_len(text), 14);
        let s = signals(
            GopherRepetitionConfig {
                top_n_grams: vec![NGramThreshold {
                    n: 2,
                    max_frac: 1.0,
                }],
                ..none()
            },
            text,
        );
        assert_eq!(s["gopher_repetition.top_2_gram"], 10.0 / 14.0);
        let at = GopherRepetitionConfig {
            top_n_grams: vec![NGramThreshold {
                n: 2,
                max_frac: 10.0 / 14.0,
            }],
            ..none()
        };
        assert_eq!(verdict(at, text), Verdict::Keep);
        let below = GopherRepetitionConfig {
            top_n_grams: vec![NGramThreshold {
                n: 2,
                max_frac: 0.7,
            }],
            ..none()
        };
        assert_eq!(verdict(below, text), Verdict::Drop("top_2_gram"));
        // Ties by count go to the first seen: "xyz q" (5 chars) before "a b".
        let s = signals(
            GopherRepetitionConfig {
                top_n_grams: vec![NGramThreshold {
                    n: 2,
                    max_frac: 1.0,
                }],
                ..none()
            },
            "xyz q a b",
        );
        assert_eq!(s["gopher_repetition.top_2_gram"], 5.0 / 9.0);
    }

    #[test]
    fn duplicated_ngrams_skip_after_repeat() {
        // 1-grams: a b a a a: idx0 a new, 1 b new, 2 a dup (+1, jump 1), 3 a dup, 4 a dup = 3 chars.
        let cfg = GopherRepetitionConfig {
            dup_n_grams: vec![NGramThreshold {
                n: 1,
                max_frac: 1.0,
            }],
            ..none()
        };
        let s = signals(cfg, "a b a a a");
        assert_eq!(s["gopher_repetition.duplicated_1_n_grams"], 3.0 / 9.0);
        // 2-grams over "a b a b a b": ab new, ba new, ab dup (+2, jump to 4), ab at 4 dup (+2) = 4.
        let cfg = GopherRepetitionConfig {
            dup_n_grams: vec![NGramThreshold {
                n: 2,
                max_frac: 1.0,
            }],
            ..none()
        };
        let s = signals(cfg.clone(), "a b a b a b");
        assert_eq!(s["gopher_repetition.duplicated_2_n_grams"], 4.0 / 11.0);
        // Words are concatenated without separator: "ab c" equals "a bc".
        let s = signals(cfg, "ab c a bc");
        assert_eq!(s["gopher_repetition.duplicated_2_n_grams"], 3.0 / 9.0);
        let at = GopherRepetitionConfig {
            dup_n_grams: vec![NGramThreshold {
                n: 2,
                max_frac: 4.0 / 11.0,
            }],
            ..none()
        };
        assert_eq!(verdict(at, "a b a b a b"), Verdict::Keep);
        let below = GopherRepetitionConfig {
            dup_n_grams: vec![NGramThreshold {
                n: 2,
                max_frac: 0.36,
            }],
            ..none()
        };
        assert_eq!(
            verdict(below, "a b a b a b"),
            Verdict::Drop("duplicated_2_n_grams")
        );
    }

    #[test]
    fn signals_cover_all_checks() {
        let s = signals(
            GopherRepetitionConfig::default(),
            "one line\nanother line\n\nand a paragraph here",
        );
        assert_eq!(s.len(), 4 + 3 + 6);
        assert!(s.values().all(|v| (0.0..=1.0).contains(v)));
    }
}
