//! `fineweb`: FineWeb's additional line heuristics (Penedo et al. 2024), with the semantics
//! and defaults of datatrove's `FineWebQualityFilter`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::by_language::{check_language_options, ByLanguage, LanguageDefaults};
use super::gopher_quality::check_frac;
use super::gopher_repetition::find_duplicates;
use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};
use crate::text::{char_len, is_terminal_punct, py_strip};

fn d_line_punct_thr() -> Option<f64> {
    Some(0.12)
}
fn d_short_line_thr() -> Option<f64> {
    Some(0.67)
}
fn d_short_line_length() -> u64 {
    30
}
fn d_char_duplicates_ratio() -> Option<f64> {
    Some(0.01)
}
fn d_new_line_ratio() -> Option<f64> {
    Some(0.3)
}

/// Config of the `fineweb` filter. Defaults are datatrove's; `null` disables a check.
///
/// Lines are the non-blank parts of the text between `\n`s. Checks, in order; the first that
/// fails is the drop reason (keys as in datatrove): `empty`: no non-blank line;
/// `line_punct_ratio`: lines ending in a stop character / lines is below `line_punct_thr`;
/// `short_line_ratio`: lines of at most `short_line_length` characters / lines is above
/// `short_line_thr`; `char_dup_ratio`: characters of lines equal to an earlier line / the
/// characters of the text without its newlines is above `char_duplicates_ratio`;
/// `list_ratio`: newlines / words (all tokens) is above `new_line_ratio`. Words are the words
/// of the document's language ([`crate::text::Segmenter`]); options may differ by language
/// (`language`, `languages`, `language_defaults`: see [`super::by_language`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FinewebConfig {
    /// Minimum fraction of lines ending in a stop character.
    #[serde(default = "d_line_punct_thr")]
    pub line_punct_thr: Option<f64>,
    /// Do not apply `line_punct_thr` to documents where no line ends in a stop character.
    #[serde(default)]
    pub line_punct_exclude_zero: bool,
    /// Line endings that count as punctuation (absent: datatrove's terminal punctuation of
    /// all scripts, `.` `!` `?` `。` `।` ...; quotes are not included).
    #[serde(default)]
    pub stop_chars: Option<Vec<String>>,
    /// Maximum fraction of short lines.
    #[serde(default = "d_short_line_thr")]
    pub short_line_thr: Option<f64>,
    /// A line of at most this many characters is short.
    #[serde(default = "d_short_line_length")]
    pub short_line_length: u64,
    /// Maximum fraction of characters in duplicated lines.
    #[serde(default = "d_char_duplicates_ratio")]
    pub char_duplicates_ratio: Option<f64>,
    /// Maximum newlines per word.
    #[serde(default = "d_new_line_ratio")]
    pub new_line_ratio: Option<f64>,
    /// Record the computed ratios as `fineweb.*` signals on the document.
    #[serde(default)]
    pub signals: bool,
    /// The language of every document (ISO 639-3, optionally with script). Absent: each
    /// document's `lang` from the `language` stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Options by language code, over `language_defaults`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, FinewebConfig>")]
    pub languages: BTreeMap<String, Map<String, Value>>,
    /// Shipped per-language options (`fineweb2`: FineWeb-2's thresholds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_defaults: Option<LanguageDefaults>,
}

crate::language_aware!(FinewebConfig, "fineweb");

impl Default for FinewebConfig {
    fn default() -> Self {
        FinewebConfig {
            line_punct_thr: d_line_punct_thr(),
            line_punct_exclude_zero: false,
            stop_chars: None,
            short_line_thr: d_short_line_thr(),
            short_line_length: d_short_line_length(),
            char_duplicates_ratio: d_char_duplicates_ratio(),
            new_line_ratio: d_new_line_ratio(),
            signals: false,
            language: None,
            languages: BTreeMap::new(),
            language_defaults: None,
        }
    }
}

impl Check for FinewebConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        p.extend(check_frac("line_punct_thr", self.line_punct_thr, true));
        p.extend(check_frac("short_line_thr", self.short_line_thr, true));
        p.extend(check_frac(
            "char_duplicates_ratio",
            self.char_duplicates_ratio,
            true,
        ));
        p.extend(check_frac("new_line_ratio", self.new_line_ratio, false));
        if let Some(s) = &self.stop_chars {
            if s.is_empty() || s.iter().any(|x| x.is_empty()) {
                p.push(Problem::at(
                    "stop_chars",
                    "stop_chars must be non-empty strings (omit the field for the default)",
                ));
            }
        }
        p.extend(check_language_options(self));
        p
    }
}

/// The `fineweb` stage.
pub struct Fineweb {
    by: ByLanguage<Checks>,
}

impl Fineweb {
    /// A fineweb filter with `cfg` (checked: its language codes are known).
    pub fn new(cfg: FinewebConfig) -> Self {
        Self::try_new(cfg).expect("a checked fineweb config")
    }

    /// A fineweb filter with `cfg`, or why its language options cannot be used.
    pub fn try_new(cfg: FinewebConfig) -> Result<Self, String> {
        Ok(Fineweb {
            by: ByLanguage::build(&cfg, |cfg| Checks { cfg })?,
        })
    }
}

/// The checks with one language's options.
struct Checks {
    cfg: FinewebConfig,
}

impl Checks {
    fn ends_with_stop(&self, line: &str) -> bool {
        match &self.cfg.stop_chars {
            None => line.chars().next_back().is_some_and(is_terminal_punct),
            Some(list) => list.iter().any(|s| line.ends_with(s.as_str())),
        }
    }
}

impl Filter for Fineweb {
    fn check(&self, doc: &mut Document, counters: &mut Counters) -> Verdict {
        let r = self.by.resolve(doc, counters);
        let (checks, seg) = (r.filter, r.seg);
        let c = &checks.cfg;
        let text = doc.text.as_str();
        let lines: Vec<&str> = text
            .split('\n')
            .filter(|l| !py_strip(l).is_empty())
            .collect();
        if lines.is_empty() {
            return Verdict::Drop("empty");
        }
        let n = lines.len() as f64;
        let mut fail: Option<&'static str> = None;
        let mut sig: Vec<(&str, f64)> = Vec::new();
        let signals = c.signals;

        let punct = lines.iter().filter(|l| checks.ends_with_stop(l)).count() as f64 / n;
        sig.push(("fineweb.line_punct_ratio", punct));
        if c.line_punct_thr.is_some_and(|t| punct < t)
            && !(punct == 0.0 && c.line_punct_exclude_zero)
        {
            fail = Some("line_punct_ratio");
        }
        if fail.is_none() || signals {
            let short = lines
                .iter()
                .filter(|l| char_len(l) as u64 <= c.short_line_length)
                .count() as f64
                / n;
            sig.push(("fineweb.short_line_ratio", short));
            if fail.is_none() && c.short_line_thr.is_some_and(|t| short > t) {
                fail = Some("short_line_ratio");
            }
        }
        if fail.is_none() || signals {
            let newlines = text.bytes().filter(|&b| b == b'\n').count();
            let denom = char_len(text) - newlines;
            let dup_chars = find_duplicates(lines.iter().copied()).1;
            let dup = if denom == 0 {
                0.0
            } else {
                dup_chars as f64 / denom as f64
            };
            sig.push(("fineweb.char_dup_ratio", dup));
            if fail.is_none() && c.char_duplicates_ratio.is_some_and(|t| dup > t) {
                fail = Some("char_dup_ratio");
            }
            if fail.is_none() || signals {
                let mut words = Vec::with_capacity(text.len() / 5 + 1);
                seg.split_cached(text, &mut words);
                let list = if words.is_empty() {
                    0.0
                } else {
                    newlines as f64 / words.len() as f64
                };
                sig.push(("fineweb.list_ratio", list));
                if fail.is_none() && c.new_line_ratio.is_some_and(|t| list > t) {
                    fail = Some("list_ratio");
                }
            }
        }
        if signals {
            for (k, v) in sig {
                doc.signals.insert(k.to_string(), v);
            }
        }
        match fail {
            Some(r) => Verdict::Drop(r),
            None => Verdict::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn verdict(cfg: FinewebConfig, text: &str) -> Verdict {
        let mut d = Document::new("d", text, Arc::from("t"));
        Fineweb::new(cfg).check(&mut d, &mut Counters::default())
    }

    fn none() -> FinewebConfig {
        FinewebConfig {
            line_punct_thr: None,
            short_line_thr: None,
            char_duplicates_ratio: None,
            new_line_ratio: None,
            ..Default::default()
        }
    }

    /// `n` distinct long lines, the first `p` of them ending with a period.
    fn lines(n: usize, p: usize) -> String {
        (0..n)
            .map(|i| {
                format!(
                    "this is a fairly long line number {i:03} of the text{}",
                    if i < p { "." } else { "" }
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn empty_and_blank() {
        assert_eq!(verdict(none(), ""), Verdict::Drop("empty"));
        assert_eq!(verdict(none(), " \n\t\n"), Verdict::Drop("empty"));
    }

    #[test]
    fn line_punct_ratio_threshold() {
        let c = FinewebConfig {
            line_punct_thr: Some(0.12),
            ..none()
        };
        // 25 lines: 3 end with "." = 0.12 (kept, the test is "below"), 2 = 0.08 (dropped).
        assert_eq!(verdict(c.clone(), &lines(25, 3)), Verdict::Keep);
        assert_eq!(
            verdict(c.clone(), &lines(25, 2)),
            Verdict::Drop("line_punct_ratio")
        );
        assert_eq!(
            verdict(c.clone(), &lines(25, 0)),
            Verdict::Drop("line_punct_ratio")
        );
        let z = FinewebConfig {
            line_punct_exclude_zero: true,
            ..c.clone()
        };
        assert_eq!(verdict(z, &lines(25, 0)), Verdict::Keep);
        // Blank lines are not lines; quotes are not stop characters by default.
        assert_eq!(
            verdict(c.clone(), "end.\n\n\n\nno\nno\nno\nno\nno\nno\nno"),
            Verdict::Keep
        ); // 1/8
        assert_eq!(
            verdict(c.clone(), "end.\nno\nno\nno\nno\nno\nno\nno\nno"),
            Verdict::Drop("line_punct_ratio")
        ); // 1/9
        assert_eq!(
            verdict(c, "\"end.\"\nno\nno\nno\nno\nno\nno\nno\nno"),
            Verdict::Drop("line_punct_ratio")
        );
        let q = FinewebConfig {
            line_punct_thr: Some(0.12),
            stop_chars: Some(vec!["\"".into()]),
            ..none()
        };
        assert_eq!(
            verdict(q, "\"end.\"\nno\nno\nno\nno\nno\nno"),
            Verdict::Keep
        );
    }

    #[test]
    fn short_line_ratio_threshold() {
        let c = FinewebConfig {
            short_line_thr: Some(0.5),
            short_line_length: 5,
            ..none()
        };
        assert_eq!(verdict(c.clone(), "12345\n123456"), Verdict::Keep); // 0.5
        assert_eq!(
            verdict(c.clone(), "12345\n1234\n123456"),
            Verdict::Drop("short_line_ratio")
        ); // 0.67
        assert_eq!(verdict(c, "12345\n123456\n1234567"), Verdict::Keep); // 0.33
    }

    #[test]
    fn char_dup_ratio_divides_by_text_without_newlines() {
        let c = FinewebConfig {
            char_duplicates_ratio: Some(0.1),
            ..none()
        };
        // "ab" repeated once among 20 chars without newlines: 2/20 = 0.1 keeps.
        assert_eq!(
            verdict(c.clone(), "ab\nab\nabcdefghijklmnop"),
            Verdict::Keep
        );
        assert_eq!(
            verdict(c, "ab\nab\nabcdefghijklmno"),
            Verdict::Drop("char_dup_ratio")
        ); // 2/19
    }

    #[test]
    fn list_ratio_threshold() {
        let c = FinewebConfig {
            new_line_ratio: Some(0.3),
            ..none()
        };
        // 3 newlines, 10 words: 0.3 keeps; 4 newlines: 0.4 drops.
        assert_eq!(verdict(c.clone(), "a b c d\ne f\ng h\ni j"), Verdict::Keep);
        assert_eq!(
            verdict(c, "a b c d\ne f\ng h\ni\nj"),
            Verdict::Drop("list_ratio")
        );
    }

    #[test]
    fn signals_recorded_even_after_a_failure() {
        let mut d = Document::new("d", "short\nshort", Arc::from("t"));
        let cfg = FinewebConfig {
            signals: true,
            ..Default::default()
        };
        assert_eq!(
            Fineweb::new(cfg).check(&mut d, &mut Counters::default()),
            Verdict::Drop("line_punct_ratio")
        );
        assert_eq!(d.signals["fineweb.line_punct_ratio"], 0.0);
        assert_eq!(d.signals["fineweb.short_line_ratio"], 1.0);
        assert_eq!(d.signals["fineweb.char_dup_ratio"], 0.5);
        assert_eq!(d.signals["fineweb.list_ratio"], 0.5);
    }
}
