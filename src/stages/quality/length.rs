//! `length`: keep documents whose character and word counts fall in a range.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use unicode_segmentation::UnicodeSegmentation;

use super::by_language::{check_language_options, ByLanguage, LanguageDefaults};
use crate::config::{check_range, Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};
use crate::text::Segmenter;

/// Config of the `length` stage. Absent bounds are not checked. Words are Unicode words (UAX
/// #29, punctuation is not a word), except in languages written without spaces (Chinese,
/// Japanese, Thai, ...), where they are the words of the language that hold a letter or digit
/// ([`crate::text::Segmenter`]). Bounds may differ by language (`language`, `languages`,
/// `language_defaults`: see [`super::by_language`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LengthConfig {
    /// Minimum number of characters (Unicode scalar values).
    #[serde(default)]
    pub min_chars: Option<u64>,
    /// Maximum number of characters.
    #[serde(default)]
    pub max_chars: Option<u64>,
    /// Minimum number of words (Unicode word boundaries, UAX #29; punctuation is not a word).
    #[serde(default)]
    pub min_words: Option<u64>,
    /// Maximum number of words.
    #[serde(default)]
    pub max_words: Option<u64>,
    /// The language of every document (ISO 639-3, optionally with script). Absent: each
    /// document's `lang` from the `language` stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Bounds by language code, over `language_defaults`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, LengthConfig>")]
    pub languages: BTreeMap<String, Map<String, Value>>,
    /// Shipped per-language options. The `fineweb2` table gives `length` no bounds (they are
    /// the pipeline's own): set them per language with `languages:` (words are counted the
    /// language's way either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_defaults: Option<LanguageDefaults>,
}

crate::language_aware!(LengthConfig, "length");

impl Check for LengthConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        p.extend(check_range(
            "min_chars",
            self.min_chars,
            "max_chars",
            self.max_chars,
        ));
        p.extend(check_range(
            "min_words",
            self.min_words,
            "max_words",
            self.max_words,
        ));
        p.extend(check_language_options(self));
        p
    }
}

/// The words `length` counts in `text`: Unicode words (UAX #29), or for a language written
/// without spaces its words that hold a letter or digit.
pub fn count_words(text: &str, seg: Segmenter) -> usize {
    if seg.unspaced() {
        seg.count_words(text)
    } else {
        text.unicode_words().count()
    }
}

/// The `length` stage.
pub struct Length {
    by: ByLanguage<LengthConfig>,
}

impl Length {
    /// A length filter with `cfg` (checked: its language codes are known).
    pub fn new(cfg: LengthConfig) -> Self {
        Self::try_new(cfg).expect("a checked length config")
    }

    /// A length filter with `cfg`, or why its language options cannot be used.
    pub fn try_new(cfg: LengthConfig) -> Result<Self, String> {
        Ok(Length {
            by: ByLanguage::build(&cfg, |c| c)?,
        })
    }
}

impl Filter for Length {
    fn check(&self, doc: &mut Document, counters: &mut Counters) -> Verdict {
        let r = self.by.resolve(doc, counters);
        let c = r.filter;
        if c.min_chars.is_some() || c.max_chars.is_some() {
            let n = doc.text.chars().count() as u64;
            if c.min_chars.is_some_and(|m| n < m) {
                return Verdict::Drop("too_short");
            }
            if c.max_chars.is_some_and(|m| n > m) {
                return Verdict::Drop("too_long");
            }
        }
        if c.min_words.is_some() || c.max_words.is_some() {
            let n = count_words(&doc.text, r.seg) as u64;
            if c.min_words.is_some_and(|m| n < m) {
                return Verdict::Drop("too_short");
            }
            if c.max_words.is_some_and(|m| n > m) {
                return Verdict::Drop("too_long");
            }
        }
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn verdict(cfg: LengthConfig, text: &str) -> Verdict {
        let mut d = Document::new("d", text, Arc::from("t"));
        Length::new(cfg).check(&mut d, &mut Counters::default())
    }

    #[test]
    fn chars_bounds_inclusive() {
        let c = LengthConfig {
            min_chars: Some(3),
            max_chars: Some(5),
            ..Default::default()
        };
        assert_eq!(verdict(c.clone(), "ab"), Verdict::Drop("too_short"));
        assert_eq!(verdict(c.clone(), "abc"), Verdict::Keep);
        assert_eq!(verdict(c.clone(), "abcde"), Verdict::Keep);
        assert_eq!(verdict(c.clone(), "abcdef"), Verdict::Drop("too_long"));
        // Characters, not bytes: five 2-byte letters are five characters.
        assert_eq!(verdict(c, "ééééé"), Verdict::Keep);
    }

    #[test]
    fn words_bounds() {
        let c = LengthConfig {
            min_words: Some(3),
            max_words: Some(4),
            ..Default::default()
        };
        assert_eq!(verdict(c.clone(), "one, two!"), Verdict::Drop("too_short"));
        assert_eq!(verdict(c.clone(), "one, two! three."), Verdict::Keep);
        assert_eq!(verdict(c.clone(), "can't stop won't stop"), Verdict::Keep);
        assert_eq!(verdict(c, "a b c d e"), Verdict::Drop("too_long"));
    }

    #[test]
    fn min_greater_than_max_is_a_problem() {
        let c = LengthConfig {
            min_chars: Some(10),
            max_chars: Some(5),
            min_words: Some(1),
            max_words: Some(2),
            ..Default::default()
        };
        let p = c.check();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, vec!["min_chars".to_string()]);
        assert_eq!(p[0].message, "min_chars (10) is greater than max_chars (5)");
    }
}
