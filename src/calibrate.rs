//! `corpusforge calibrate`: fits a language's filter settings from clean reference text.
//!
//! The quality filters' defaults were tuned on English. For another language the same numbers
//! remove a different share of equally clean text (Chinese words are shorter, Russian ones
//! longer, German lines end in a period less often), so the filters are unfair to it.
//! Calibration takes a reference corpus of clean text in the language and one in English
//! (ideally the same content, as translations are) and sets, for every threshold of every
//! filter stage of a pipeline, the value that removes the same share of the language's
//! reference as the English setting removes of the English reference:
//!
//! - for a check that drops above a threshold, the English share p that fails is measured; the
//!   language's threshold is placed between its k-th and (k+1)-th largest values, k = round(p ×
//!   documents), so that k of its documents fail (below a threshold: the k smallest);
//! - when p × documents rounds to 0 (English removes nothing, or less than half a document's
//!   share of the language's reference), no quantile can say where the threshold goes. For a
//!   statistic whose scale differs by language (words per document, mean word length,
//!   sentences) it is the English threshold times the ratio of the two medians (a statistic
//!   twice as large in the language gets a threshold twice as large); for the others (shares
//!   of lines, of repeated text) the language keeps the setting it had;
//! - stop words: the language's list is kept when the check already removes no larger a
//!   share of its reference than of the English one; otherwise the language's most frequent
//!   words (by the number of reference documents they occur in) under its own segmentation
//!   are added to its list (a language without a list of its own starts from none and gets at
//!   least as many as the English list holds), one at a time while the check still removes a
//!   larger share of the language's reference than of the English one (at most four times
//!   the English list's length are added). Words with a capital letter are not candidates
//!   (stop words are function words, not the names a reference happens to repeat).
//!
//! Every check is measured on its own (the share a check removes does not depend on the checks
//! before it). Calibrating English against English reproduces the defaults: the shares are
//! equal by construction and each threshold lands next to the default.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rayon::prelude::*;
use serde_json::{json, Map, Value};

use crate::config::{InputSpec, Pipeline, StageSpec};
use crate::document::Document;
use crate::io::input;
use crate::stage::{Counters, Filter};
use crate::stages::quality::by_language::{resolved, LanguageAware};
use crate::stages::quality::c4::{C4Config, C4};
use crate::stages::quality::fineweb::{Fineweb, FinewebConfig};
use crate::stages::quality::gopher_quality::{GopherQuality, GopherQualityConfig};
use crate::stages::quality::gopher_repetition::{
    GopherRepetition, GopherRepetitionConfig, NGramThreshold,
};
use crate::stages::quality::length::LengthConfig;
use crate::text::langs::canonical;
use crate::text::{is_symbol_word, Segmenter};

/// The fewest reference documents (of the language, and of English) calibration accepts: with
/// fewer, one document moves a share by more than 2 percentage points.
pub const MIN_REFERENCE_DOCS: usize = 50;

/// Where the reference texts come from.
#[derive(Debug, Clone)]
pub struct References {
    /// The language's reference: files, directories or globs of documents.
    pub language: Vec<String>,
    /// The English reference.
    pub english: Vec<String>,
    /// The field holding the text.
    pub text_field: String,
    /// A field naming each record's language: only records in the language (or in English,
    /// for the English reference) are read. For files that hold several languages.
    pub lang_field: Option<String>,
}

/// How a check fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Dropped when the statistic is below the threshold.
    Below,
    /// Dropped when the statistic is above the threshold.
    Above,
}

/// How a threshold was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// At the language's quantile of the English share.
    Quantile,
    /// The English threshold scaled by the ratio of the medians.
    MedianRatio,
    /// The language's most frequent words.
    StopWords,
    /// Not set: the statistic has no values in a reference.
    Unchanged,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Quantile => "quantile",
            Method::MedianRatio => "median ratio",
            Method::StopWords => "frequent words",
            Method::Unchanged => "unchanged",
        }
    }
}

/// One calibrated check.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// The stage's index in the pipeline.
    pub stage_index: usize,
    /// The stage type.
    pub stage: &'static str,
    /// The option set (`min_doc_words`, `top_n_grams[0]`, `stop_words`).
    pub option: String,
    /// The English setting.
    pub english_threshold: f64,
    /// The share of the English reference it removes.
    pub english_share: f64,
    /// The language's setting before (what the pipeline gives the language today).
    pub before_threshold: f64,
    /// The share of the language's reference removed before.
    pub before_share: f64,
    /// The calibrated setting.
    pub threshold: f64,
    /// The share of the language's reference removed with it.
    pub after_share: f64,
    /// How it was set.
    pub method: Method,
}

/// What `calibrate` found.
#[derive(Debug, Clone)]
pub struct Calibrated {
    /// The language (canonical code).
    pub language: String,
    /// Reference documents read (language, English).
    pub documents: (usize, usize),
    /// Every check.
    pub checks: Vec<CheckResult>,
    /// The calibrated options by stage index: (stage type, options).
    pub settings: BTreeMap<usize, (&'static str, Map<String, Value>)>,
    /// The stop words chosen (for the gopher_quality stages).
    pub stop_words: Vec<String>,
}

/// Reads the documents of `paths` whose `lang_field` (if any) canonicalizes to `lang`.
fn read_reference(
    paths: &[String],
    text_field: &str,
    lang_field: Option<&str>,
    lang: &str,
) -> Result<Vec<String>, String> {
    let mut spec = InputSpec::documents(paths.to_vec(), text_field, None);
    if let Some(f) = lang_field {
        spec.metadata_fields = vec![f.to_string()];
    }
    let mut out = Vec::new();
    for f in input::resolve_inputs(&spec, Path::new(".")).map_err(|e| e.to_string())? {
        for r in input::open(&f, &spec).map_err(|e| e.to_string())? {
            let d = r.map_err(|j| {
                format!(
                    "reference {}, {}: {} ({})",
                    j.source, j.location, j.reason, j.detail
                )
            })?;
            if let Some(field) = lang_field {
                let v = d
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get(field))
                    .and_then(Value::as_str);
                if v.and_then(|v| canonical(v).ok()).as_deref() != Some(lang) {
                    continue;
                }
            }
            out.push(d.text);
        }
    }
    Ok(out)
}

/// One statistic per document (None: the document has no value, e.g. no words).
type Column = Vec<Option<f64>>;

/// The signals a filter recorded, per document.
type Signals = Vec<BTreeMap<String, f64>>;

/// Runs `f` on every text as a document in `lang` and returns the signals it records.
fn signals(f: &dyn Filter, texts: &[String], lang: &str) -> Vec<BTreeMap<String, f64>> {
    texts
        .par_iter()
        .map(|t| {
            let mut d = Document::new("ref", t.as_str(), std::sync::Arc::from("reference"));
            d.lang = Some(lang.to_string());
            f.check(&mut d, &mut Counters::default());
            d.signals
        })
        .collect()
}

/// The column of `keys` (their maximum, where a check tests several).
fn column(sigs: &[BTreeMap<String, f64>], keys: &[String]) -> Column {
    sigs.iter()
        .map(|s| {
            keys.iter()
                .filter_map(|k| s.get(k).copied())
                .filter(|v| v.is_finite())
                .reduce(f64::max)
        })
        .collect()
}

fn fails(v: f64, t: f64, dir: Direction) -> bool {
    match dir {
        Direction::Below => v < t,
        Direction::Above => v > t,
    }
}

/// The share of the documents of `col` failing at `t` (documents without a value pass).
fn share(col: &Column, t: f64, dir: Direction) -> f64 {
    if col.is_empty() {
        return 0.0;
    }
    col.iter().flatten().filter(|&&v| fails(v, t, dir)).count() as f64 / col.len() as f64
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A threshold for `lang` removing the share `p` of its documents (see the module docs).
/// `before` is the language's setting, kept when no quantile applies and the statistic is not
/// a `scale` one.
fn fit(
    lang: &Column,
    english: &Column,
    p: f64,
    dir: Direction,
    scale: bool,
    (english_t, before): (f64, f64),
) -> (f64, Method) {
    let mut xs: Vec<f64> = lang.iter().flatten().copied().collect();
    let n = lang.len();
    let k = (p * n as f64).round() as usize;
    if xs.is_empty() {
        return (before, Method::Unchanged);
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len();
    if k == 0 || k > m {
        if !scale {
            return (before, Method::Unchanged);
        }
        let mut es: Vec<f64> = english.iter().flatten().copied().collect();
        let (ml, me) = (median(&mut xs), median(&mut es));
        return match (ml, me) {
            (Some(ml), Some(me)) if me > 0.0 && ml > 0.0 => {
                (english_t * ml / me, Method::MedianRatio)
            }
            _ => (before, Method::Unchanged),
        };
    }
    // A setting that already removes the share is kept (calibrating English on English gives
    // the defaults back).
    let failing = |t: f64| xs.iter().filter(|&&v| fails(v, t, dir)).count();
    let target = match dir {
        Direction::Above => failing(midpoint(xs[m - k], (m > k).then(|| xs[m - k - 1]))),
        Direction::Below => failing(midpoint(xs[k - 1], (k < m).then(|| xs[k]))),
    };
    if failing(before) == target {
        return (before, Method::Quantile);
    }
    let t = match dir {
        // The k largest fail: between xs[m-k-1] and xs[m-k].
        Direction::Above => midpoint(xs[m - k], (m > k).then(|| xs[m - k - 1])),
        // The k smallest fail: between xs[k-1] and xs[k].
        Direction::Below => midpoint(xs[k - 1], (k < m).then(|| xs[k])),
    };
    (t, Method::Quantile)
}

/// The middle of the gap between `edge` (a value on the failing side) and `other` (its
/// neighbour on the kept side); `edge` itself when they are equal or there is no neighbour.
fn midpoint(edge: f64, other: Option<f64>) -> f64 {
    match other {
        Some(o) if o != edge => (o + edge) / 2.0,
        _ => edge,
    }
}

/// A threshold as the option holds it: counts are whole (a count below `t` fails, so the
/// threshold rounds up; above, down), fractions are rounded to 3 decimals (as FineWeb-2's).
fn shape(t: f64, integer: bool, dir: Direction, max_one: bool) -> f64 {
    let t = if integer {
        match dir {
            Direction::Below => t.ceil(),
            Direction::Above => t.floor(),
        }
    } else {
        (t * 1000.0).round() / 1000.0
    };
    if max_one {
        t.clamp(0.0, 1.0)
    } else {
        t.max(0.0)
    }
}

/// A check of a stage: the signals it tests, the option that holds its threshold.
struct Spec {
    option: String,
    keys: Vec<String>,
    dir: Direction,
    english: Option<f64>,
    language: Option<f64>,
    integer: bool,
    max_one: bool,
    /// Whether the statistic's scale differs by language (see [`fit`]).
    scale: bool,
}

fn spec(
    option: &str,
    keys: &[&str],
    dir: Direction,
    english: Option<f64>,
    language: Option<f64>,
) -> Spec {
    Spec {
        option: option.into(),
        keys: keys.iter().map(|k| k.to_string()).collect(),
        dir,
        english,
        language,
        integer: false,
        max_one: true,
        scale: false,
    }
}

/// Calibrates every check of `stage` (the English settings are its own options; the language's
/// "before" its options for `lang`).
struct StageRun<'a> {
    index: usize,
    lang: &'a str,
    lang_texts: &'a [String],
    en_texts: &'a [String],
    out: &'a mut Calibrated,
}

impl StageRun<'_> {
    fn checks(
        &mut self,
        stage: &'static str,
        specs: Vec<Spec>,
        lang_sigs: &[BTreeMap<String, f64>],
        en_sigs: &[BTreeMap<String, f64>],
    ) -> Map<String, Value> {
        let mut set = Map::new();
        for s in specs {
            let Some(et) = s.english else { continue };
            let lcol = column(lang_sigs, &s.keys);
            let ecol = column(en_sigs, &s.keys);
            let p = share(&ecol, et, s.dir);
            let before_t = s.language.unwrap_or(et);
            let (t, method) = fit(&lcol, &ecol, p, s.dir, s.scale, (et, before_t));
            let t = if method == Method::Unchanged {
                t
            } else {
                shape(t, s.integer, s.dir, s.max_one)
            };
            self.out.checks.push(CheckResult {
                stage_index: self.index,
                stage,
                option: s.option.clone(),
                english_threshold: et,
                english_share: p,
                before_threshold: before_t,
                before_share: share(&lcol, before_t, s.dir),
                threshold: t,
                after_share: share(&lcol, t, s.dir),
                method,
            });
            // An n-gram list is written whole, so its unchanged entries are written too.
            if method != Method::Unchanged || s.option.contains("n_grams.") {
                let v = if s.integer { json!(t as u64) } else { json!(t) };
                set.insert(s.option, v);
            }
        }
        set
    }
}

/// Fits the settings of `lang` for every quality-filter stage of `pipeline`.
pub fn calibrate(pipeline: &Pipeline, lang: &str, refs: &References) -> Result<Calibrated, String> {
    let lang = canonical(lang)?;
    if lang == "und" {
        return Err("und is not a language to calibrate".into());
    }
    let lang_texts = read_reference(
        &refs.language,
        &refs.text_field,
        refs.lang_field.as_deref(),
        &lang,
    )?;
    let en_texts = read_reference(
        &refs.english,
        &refs.text_field,
        refs.lang_field.as_deref(),
        "eng",
    )?;
    for (what, n) in [
        (lang.as_str(), lang_texts.len()),
        ("English", en_texts.len()),
    ] {
        if n < MIN_REFERENCE_DOCS {
            return Err(format!(
                "the {what} reference has {n} documents: calibration needs at least \
                 {MIN_REFERENCE_DOCS} (each share is estimated from the documents; with fewer, \
                 one document moves it by more than 2 points)"
            ));
        }
    }
    let seg = Segmenter::for_language(&lang);
    let mut out = Calibrated {
        language: lang.clone(),
        documents: (lang_texts.len(), en_texts.len()),
        checks: Vec::new(),
        settings: BTreeMap::new(),
        stop_words: Vec::new(),
    };
    for (index, spec_) in pipeline.streaming_stages().iter().enumerate() {
        let mut run = StageRun {
            index,
            lang: &lang,
            lang_texts: &lang_texts,
            en_texts: &en_texts,
            out: &mut out,
        };
        let set = match spec_ {
            StageSpec::GopherQuality(c) => run.gopher_quality(c, seg)?,
            StageSpec::GopherRepetition(c) => run.gopher_repetition(c)?,
            StageSpec::Fineweb(c) => run.fineweb(c)?,
            StageSpec::C4(c) => run.c4(c)?,
            StageSpec::Length(c) => run.length(c, seg)?,
            _ => continue,
        };
        out.settings.insert(index, (spec_.type_name(), set));
    }
    if out.settings.is_empty() {
        return Err(
            "the pipeline has no stage to calibrate (gopher_quality, gopher_repetition, \
             fineweb, c4, length)"
                .into(),
        );
    }
    Ok(out)
}

/// The language's options for a stage config, and the English (own) options.
fn both<C: LanguageAware>(c: &C, lang: &str) -> Result<(C, C), String> {
    Ok((c.without_language_options(), resolved(c, lang)?.0))
}

impl StageRun<'_> {
    fn measure<F: Filter>(&self, en: F, la: F) -> (Signals, Signals) {
        (
            signals(&la, self.lang_texts, self.lang),
            signals(&en, self.en_texts, "eng"),
        )
    }

    fn gopher_quality(
        &mut self,
        c: &GopherQualityConfig,
        seg: Segmenter,
    ) -> Result<Map<String, Value>, String> {
        let (en, la) = both(c, self.lang)?;
        let open = |c: &GopherQualityConfig| GopherQualityConfig {
            signals: true,
            ..c.checks_off()
        };
        let (ls, es) = self.measure(GopherQuality::new(open(&en)), GopherQuality::new(open(&la)));
        let k = |s: &str| format!("gopher_quality.{s}");
        let count = |o: &str, key: &str, dir, e: Option<u64>, l: Option<u64>| Spec {
            integer: true,
            max_one: false,
            scale: true,
            ..spec(o, &[&k(key)], dir, e.map(|v| v as f64), l.map(|v| v as f64))
        };
        use Direction::{Above, Below};
        let specs = vec![
            count(
                "min_doc_words",
                "n_words",
                Below,
                en.min_doc_words,
                la.min_doc_words,
            ),
            count(
                "max_doc_words",
                "n_words",
                Above,
                en.max_doc_words,
                la.max_doc_words,
            ),
            Spec {
                max_one: false,
                scale: true,
                ..spec(
                    "min_avg_word_length",
                    &[&k("avg_word_length")],
                    Below,
                    en.min_avg_word_length,
                    la.min_avg_word_length,
                )
            },
            Spec {
                max_one: false,
                scale: true,
                ..spec(
                    "max_avg_word_length",
                    &[&k("avg_word_length")],
                    Above,
                    en.max_avg_word_length,
                    la.max_avg_word_length,
                )
            },
            Spec {
                max_one: false,
                ..spec(
                    "max_symbol_word_ratio",
                    &[&k("hash_ratio"), &k("ellipsis_ratio")],
                    Above,
                    en.max_symbol_word_ratio,
                    la.max_symbol_word_ratio,
                )
            },
            spec(
                "max_bullet_lines_ratio",
                &[&k("bullet_lines_ratio")],
                Above,
                en.max_bullet_lines_ratio,
                la.max_bullet_lines_ratio,
            ),
            spec(
                "max_ellipsis_lines_ratio",
                &[&k("end_ellipsis_lines_ratio")],
                Above,
                en.max_ellipsis_lines_ratio,
                la.max_ellipsis_lines_ratio,
            ),
            spec(
                "min_alpha_words_ratio",
                &[&k("alpha_words_ratio")],
                Below,
                en.min_alpha_words_ratio,
                la.min_alpha_words_ratio,
            ),
        ];
        let mut set = self.checks("gopher_quality", specs, &ls, &es);
        if let Some(min) = en.min_stop_words {
            let (words, result) = self.stop_words(&en, &la, min, seg);
            if result.method != Method::Unchanged {
                set.insert("stop_words".into(), json!(words));
            }
            self.out.checks.push(result);
            self.out.stop_words = words;
        }
        Ok(set)
    }

    /// Chooses the language's stop words (see the module docs).
    fn stop_words(
        &self,
        en: &GopherQualityConfig,
        la: &GopherQualityConfig,
        min: u64,
        seg: Segmenter,
    ) -> (Vec<String>, CheckResult) {
        let distinct = |texts: &[String], s: Segmenter| -> Vec<Vec<String>> {
            texts
                .par_iter()
                .map(|t| {
                    let mut w: Vec<String> = s.words(t).into_iter().map(String::from).collect();
                    w.sort_unstable();
                    w.dedup();
                    w
                })
                .collect()
        };
        let lang_docs = distinct(self.lang_texts, seg);
        let en_docs = distinct(self.en_texts, Segmenter::English);
        let failing = |docs: &[Vec<String>], list: &[String]| -> f64 {
            let n = docs
                .iter()
                .filter(|d| {
                    (list.iter().filter(|w| d.binary_search(w).is_ok()).count() as u64) < min
                })
                .count();
            n as f64 / docs.len().max(1) as f64
        };
        let p = failing(&en_docs, &en.stop_words);
        let before = failing(&lang_docs, &la.stop_words);
        let result = |words: &[String], after: f64, method: Method| CheckResult {
            stage_index: self.index,
            stage: "gopher_quality",
            option: "stop_words".into(),
            english_threshold: en.stop_words.len() as f64,
            english_share: p,
            before_threshold: la.stop_words.len() as f64,
            before_share: before,
            threshold: words.len() as f64,
            after_share: after,
            method,
        };
        if before <= p && la.stop_words.len() as u64 >= min {
            return (
                la.stop_words.clone(),
                result(&la.stop_words, before, Method::Unchanged),
            );
        }
        // Document frequency of every word that holds a letter.
        let mut df: HashMap<&str, usize> = HashMap::new();
        for d in &lang_docs {
            for w in d {
                if !is_symbol_word(w)
                    && w.chars().any(crate::text::is_py_alpha)
                    && !w.chars().any(char::is_uppercase)
                {
                    *df.entry(w.as_str()).or_default() += 1;
                }
            }
        }
        let mut ranked: Vec<(&str, usize)> = df.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        // The language's own list (not the English one it gets without settings) is kept and
        // extended.
        let start: Vec<String> = if la.stop_words != en.stop_words {
            la.stop_words.clone()
        } else {
            Vec::new()
        };
        let extra: Vec<&str> = ranked
            .iter()
            .map(|(w, _)| *w)
            .filter(|w| !start.iter().any(|s| s == w))
            .collect();
        let base = en.stop_words.len().max(min as usize);
        let need = base.saturating_sub(start.len());
        let mut k = need.min(extra.len());
        let take = |k: usize| -> Vec<String> {
            let mut v = start.clone();
            v.extend(extra[..k].iter().map(|w| w.to_string()));
            v
        };
        while k < extra.len() && k < need + 4 * base && failing(&lang_docs, &take(k)) > p {
            k += 1;
        }
        let words = take(k);
        let after = failing(&lang_docs, &words);
        let r = result(&words, after, Method::StopWords);
        (words, r)
    }

    fn gopher_repetition(
        &mut self,
        c: &GopherRepetitionConfig,
    ) -> Result<Map<String, Value>, String> {
        let (en, la) = both(c, self.lang)?;
        let open_list = |l: &[NGramThreshold]| -> Vec<NGramThreshold> {
            l.iter()
                .map(|t| NGramThreshold {
                    n: t.n,
                    max_frac: f64::MAX,
                })
                .collect()
        };
        let open = |c: &GopherRepetitionConfig| GopherRepetitionConfig {
            dup_line_frac: None,
            dup_para_frac: None,
            dup_line_char_frac: None,
            dup_para_char_frac: None,
            top_n_grams: open_list(&c.top_n_grams),
            dup_n_grams: open_list(&c.dup_n_grams),
            signals: true,
            ..c.clone()
        };
        let (ls, es) = self.measure(
            GopherRepetition::new(open(&en)),
            GopherRepetition::new(open(&la)),
        );
        let k = |s: &str| format!("gopher_repetition.{s}");
        use Direction::Above;
        let mut specs = vec![
            spec(
                "dup_para_frac",
                &[&k("dup_para_frac")],
                Above,
                en.dup_para_frac,
                la.dup_para_frac,
            ),
            spec(
                "dup_para_char_frac",
                &[&k("dup_para_char_frac")],
                Above,
                en.dup_para_char_frac,
                la.dup_para_char_frac,
            ),
            spec(
                "dup_line_frac",
                &[&k("dup_line_frac")],
                Above,
                en.dup_line_frac,
                la.dup_line_frac,
            ),
            spec(
                "dup_line_char_frac",
                &[&k("dup_line_char_frac")],
                Above,
                en.dup_line_char_frac,
                la.dup_line_char_frac,
            ),
        ];
        // n-gram checks: matched by n between the English and the language's lists.
        let frac_of =
            |l: &[NGramThreshold], n: usize| l.iter().find(|t| t.n == n).map(|t| t.max_frac);
        for t in &en.top_n_grams {
            specs.push(Spec {
                max_one: false,
                ..spec(
                    &format!("top_n_grams.{}", t.n),
                    &[&k(&format!("top_{}_gram", t.n))],
                    Above,
                    Some(t.max_frac),
                    frac_of(&la.top_n_grams, t.n),
                )
            });
        }
        for t in &en.dup_n_grams {
            specs.push(Spec {
                max_one: false,
                ..spec(
                    &format!("dup_n_grams.{}", t.n),
                    &[&k(&format!("duplicated_{}_n_grams", t.n))],
                    Above,
                    Some(t.max_frac),
                    frac_of(&la.dup_n_grams, t.n),
                )
            });
        }
        let flat = self.checks("gopher_repetition", specs, &ls, &es);
        // The n-gram lists are written whole.
        let mut set = Map::new();
        let mut top: Vec<Value> = Vec::new();
        let mut dup: Vec<Value> = Vec::new();
        for (key, v) in flat {
            if let Some(n) = key.strip_prefix("top_n_grams.") {
                top.push(json!({"n": n.parse::<usize>().unwrap_or(0), "max_frac": v}));
            } else if let Some(n) = key.strip_prefix("dup_n_grams.") {
                dup.push(json!({"n": n.parse::<usize>().unwrap_or(0), "max_frac": v}));
            } else {
                set.insert(key, v);
            }
        }
        let by_n = |v: &Value| v["n"].as_u64().unwrap_or(0);
        top.sort_by_key(by_n);
        dup.sort_by_key(by_n);
        if !top.is_empty() {
            set.insert("top_n_grams".into(), Value::Array(top));
        }
        if !dup.is_empty() {
            set.insert("dup_n_grams".into(), Value::Array(dup));
        }
        Ok(set)
    }

    fn fineweb(&mut self, c: &FinewebConfig) -> Result<Map<String, Value>, String> {
        let (en, la) = both(c, self.lang)?;
        let open = |c: &FinewebConfig| FinewebConfig {
            line_punct_thr: None,
            short_line_thr: None,
            char_duplicates_ratio: None,
            new_line_ratio: None,
            signals: true,
            ..c.clone()
        };
        let (ls, es) = self.measure(Fineweb::new(open(&en)), Fineweb::new(open(&la)));
        use Direction::{Above, Below};
        let specs = vec![
            spec(
                "line_punct_thr",
                &["fineweb.line_punct_ratio"],
                Below,
                en.line_punct_thr,
                la.line_punct_thr,
            ),
            spec(
                "short_line_thr",
                &["fineweb.short_line_ratio"],
                Above,
                en.short_line_thr,
                la.short_line_thr,
            ),
            spec(
                "char_duplicates_ratio",
                &["fineweb.char_dup_ratio"],
                Above,
                en.char_duplicates_ratio,
                la.char_duplicates_ratio,
            ),
            Spec {
                max_one: false,
                ..spec(
                    "new_line_ratio",
                    &["fineweb.list_ratio"],
                    Above,
                    en.new_line_ratio,
                    la.new_line_ratio,
                )
            },
        ];
        Ok(self.checks("fineweb", specs, &ls, &es))
    }

    fn c4(&mut self, c: &C4Config) -> Result<Map<String, Value>, String> {
        let (en, la) = both(c, self.lang)?;
        let open = |c: &C4Config| C4Config {
            min_num_sentences: Some(0),
            signals: true,
            ..c.clone()
        };
        let (ls, es) = self.measure(C4::new(open(&en)), C4::new(open(&la)));
        let specs = vec![Spec {
            integer: true,
            max_one: false,
            scale: true,
            ..spec(
                "min_num_sentences",
                &["c4.sentences"],
                Direction::Below,
                en.min_num_sentences.map(|v| v as f64),
                la.min_num_sentences.map(|v| v as f64),
            )
        }];
        Ok(self.checks("c4", specs, &ls, &es))
    }

    fn length(&mut self, c: &LengthConfig, seg: Segmenter) -> Result<Map<String, Value>, String> {
        let (en, la) = both(c, self.lang)?;
        let stats = |texts: &[String], seg: Segmenter| -> Vec<BTreeMap<String, f64>> {
            texts
                .par_iter()
                .map(|t| {
                    let words = crate::stages::quality::length::count_words(t, seg);
                    BTreeMap::from([
                        ("chars".to_string(), t.chars().count() as f64),
                        ("words".to_string(), words as f64),
                    ])
                })
                .collect()
        };
        let ls = stats(self.lang_texts, seg);
        let es = stats(self.en_texts, Segmenter::English);
        let f = |v: Option<u64>| v.map(|v| v as f64);
        let count = |o: &str, key: &str, dir, e, l| Spec {
            integer: true,
            max_one: false,
            scale: true,
            ..spec(o, &[key], dir, e, l)
        };
        use Direction::{Above, Below};
        let specs = vec![
            count(
                "min_chars",
                "chars",
                Below,
                f(en.min_chars),
                f(la.min_chars),
            ),
            count(
                "max_chars",
                "chars",
                Above,
                f(en.max_chars),
                f(la.max_chars),
            ),
            count(
                "min_words",
                "words",
                Below,
                f(en.min_words),
                f(la.min_words),
            ),
            count(
                "max_words",
                "words",
                Above,
                f(en.max_words),
                f(la.max_words),
            ),
        ];
        Ok(self.checks("length", specs, &ls, &es))
    }
}

impl Calibrated {
    /// The table printed by the command: one line per check.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<44} {:>10} {:>8}  {:>10} {:>8}  {:>10} {:>8}  {}\n",
            "check", "English", "removes", "before", "removes", "after", "removes", "method"
        );
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        let num = |x: f64| {
            if x == x.trunc() && x.abs() < 1e9 {
                format!("{x:.0}")
            } else {
                format!("{x:.3}")
            }
        };
        for c in &self.checks {
            s.push_str(&format!(
                "{:<44} {:>10} {:>8}  {:>10} {:>8}  {:>10} {:>8}  {}\n",
                format!("stages[{}] {}.{}", c.stage_index, c.stage, c.option),
                num(c.english_threshold),
                pct(c.english_share),
                num(c.before_threshold),
                pct(c.before_share),
                num(c.threshold),
                pct(c.after_share),
                c.method.name()
            ));
        }
        s
    }

    /// The `languages:` blocks to paste, as YAML: one per calibrated stage.
    pub fn yaml(&self) -> String {
        let mut s = format!(
            "# corpusforge calibrate: {} from {} reference documents against {} English ones.\n\
             # Paste each block into the stage it names (under `languages:`).\n",
            self.language, self.documents.0, self.documents.1
        );
        for (index, (stage, set)) in &self.settings {
            s.push_str(&format!(
                "# stages[{index}]: {stage}\nlanguages:\n  {}:\n",
                self.language
            ));
            for (k, v) in set {
                s.push_str(&format!(
                    "    {k}: {}\n",
                    serde_json::to_string(v).unwrap_or_default()
                ));
            }
        }
        s
    }

    /// The settings by stage type, as JSON (the per-language table's form; the first stage of
    /// each type wins).
    pub fn json(&self) -> Value {
        let mut stages = Map::new();
        for (stage, set) in self.settings.values() {
            stages
                .entry(stage.to_string())
                .or_insert_with(|| Value::Object(set.clone()));
        }
        Value::Object(stages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(v: &[f64]) -> Column {
        v.iter().map(|&x| Some(x)).collect()
    }

    #[test]
    fn quantile_thresholds_remove_the_english_share() {
        let lang = col(&(1..=100).map(f64::from).collect::<Vec<_>>());
        let en = col(&[1.0, 2.0]);
        // 5% must fail above: the 5 largest (96..100) fail, threshold between 95 and 96.
        let (t, m) = fit(&lang, &en, 0.05, Direction::Above, false, (10.0, 10.0));
        assert_eq!((t, m), (95.5, Method::Quantile));
        // A setting that already removes 5% stays.
        assert_eq!(
            fit(&lang, &en, 0.05, Direction::Above, false, (10.0, 95.2)),
            (95.2, Method::Quantile)
        );
        assert_eq!(share(&lang, t, Direction::Above), 0.05);
        // 10% must fail below: 1..10 fail, threshold between 10 and 11.
        let (t, _) = fit(&lang, &en, 0.10, Direction::Below, false, (10.0, 10.0));
        assert_eq!(t, 10.5);
        assert_eq!(share(&lang, t, Direction::Below), 0.10);
    }

    #[test]
    fn no_share_scales_by_the_medians_or_keeps_the_setting() {
        let lang = col(&[2.0, 4.0, 6.0]);
        let en = col(&[1.0, 2.0, 3.0]);
        let (t, m) = fit(&lang, &en, 0.0, Direction::Above, true, (0.3, 0.25));
        assert_eq!(m, Method::MedianRatio);
        assert!((t - 0.6).abs() < 1e-12);
        assert_eq!(
            fit(&lang, &en, 0.0, Direction::Above, false, (0.3, 0.25)),
            (0.25, Method::Unchanged)
        );
    }

    #[test]
    fn shapes() {
        assert_eq!(shape(49.5, true, Direction::Below, false), 50.0);
        assert_eq!(shape(95.5, true, Direction::Above, false), 95.0);
        assert_eq!(shape(0.12345, false, Direction::Below, true), 0.123);
        assert_eq!(shape(1.4, false, Direction::Above, true), 1.0);
    }
}
