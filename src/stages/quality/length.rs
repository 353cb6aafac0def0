//! `length`: keep documents whose character and word counts fall in a range.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use crate::config::{check_range, Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};

/// Config of the `length` stage. Absent bounds are not checked.
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
}

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
        p
    }
}

/// The `length` stage.
pub struct Length {
    cfg: LengthConfig,
}

impl Length {
    /// A length filter with `cfg`.
    pub fn new(cfg: LengthConfig) -> Self {
        Length { cfg }
    }
}

impl Filter for Length {
    fn check(&self, doc: &mut Document, _counters: &mut Counters) -> Verdict {
        let c = &self.cfg;
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
            let n = doc.text.unicode_words().count() as u64;
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
        };
        let p = c.check();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, vec!["min_chars".to_string()]);
        assert_eq!(p[0].message, "min_chars (10) is greater than max_chars (5)");
    }
}
