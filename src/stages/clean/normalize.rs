//! `normalize`: Unicode normalization, control characters, whitespace and line endings.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Map};

/// Unicode normalization form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// Canonical composition (the default).
    #[default]
    Nfc,
    /// Compatibility composition (folds ligatures, full-width forms, ...).
    Nfkc,
    /// Leave the code points as they are.
    None,
}

fn yes() -> bool {
    true
}

/// Config of the `normalize` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NormalizeConfig {
    /// Unicode normalization form.
    #[serde(default)]
    pub form: Form,
    /// Turn `\r\n` and lone `\r` (and U+2028/U+2029, U+0085) into `\n`.
    #[serde(default = "yes")]
    pub unify_line_endings: bool,
    /// Remove control and format characters (Cc, plus zero-width and BOM), keeping `\n` and `\t`.
    #[serde(default = "yes")]
    pub remove_control: bool,
    /// Collapse runs of horizontal whitespace into one space and strip it at line ends.
    #[serde(default = "yes")]
    pub collapse_whitespace: bool,
    /// Keep at most this many consecutive blank lines (absent: keep all).
    #[serde(default)]
    pub max_blank_lines: Option<u32>,
    /// Trim whitespace at the start and end of the text.
    #[serde(default = "yes")]
    pub trim: bool,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            form: Form::Nfc,
            unify_line_endings: true,
            remove_control: true,
            collapse_whitespace: true,
            max_blank_lines: None,
            trim: true,
        }
    }
}

impl Check for NormalizeConfig {
    fn check(&self) -> Vec<Problem> {
        Vec::new()
    }
}

/// The `normalize` stage.
pub struct Normalize {
    cfg: NormalizeConfig,
}

impl Normalize {
    /// A normalizer with `cfg`.
    pub fn new(cfg: NormalizeConfig) -> Self {
        Normalize { cfg }
    }

    /// Normalizes `text` as configured.
    pub fn normalize(&self, text: &str) -> String {
        let c = &self.cfg;
        let formed: String = match c.form {
            Form::Nfc => {
                if unicode_normalization::is_nfc_quick(text.chars())
                    == unicode_normalization::IsNormalized::Yes
                {
                    text.to_string()
                } else {
                    text.nfc().collect()
                }
            }
            Form::Nfkc => text.nfkc().collect(),
            Form::None => text.to_string(),
        };
        let mut out = String::with_capacity(formed.len());
        let mut chars = formed.chars().peekable();
        // Pending horizontal whitespace, emitted only when followed by a non-newline character.
        let mut pending_space = false;
        let mut blank_run = 0u32; // newlines seen since the last non-blank line
        while let Some(ch) = chars.next() {
            let ch = if c.unify_line_endings {
                match ch {
                    '\r' => {
                        if chars.peek() == Some(&'\n') {
                            chars.next();
                        }
                        '\n'
                    }
                    '\u{2028}' | '\u{2029}' | '\u{85}' => '\n',
                    other => other,
                }
            } else {
                ch
            };
            if ch == '\n' {
                if c.collapse_whitespace {
                    pending_space = false;
                }
                blank_run += 1;
                if let Some(max) = c.max_blank_lines {
                    if blank_run > max + 1 {
                        continue;
                    }
                }
                out.push('\n');
                continue;
            }
            if c.remove_control && is_removable_control(ch) {
                continue;
            }
            if c.collapse_whitespace && ch.is_whitespace() {
                pending_space = true;
                continue;
            }
            if pending_space {
                // No space at the start of a line.
                if !(out.is_empty() || out.ends_with('\n')) {
                    out.push(' ');
                }
                pending_space = false;
            }
            blank_run = 0;
            out.push(ch);
        }
        if c.trim {
            let t = out.trim();
            if t.len() != out.len() {
                return t.to_string();
            }
        }
        out
    }
}

/// Control and invisible format characters that carry no text.
fn is_removable_control(ch: char) -> bool {
    match ch {
        '\n' | '\t' => false,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' => true,
        c => c.is_control(),
    }
}

impl Map for Normalize {
    fn apply(&self, doc: &mut Document, _counters: &mut Counters) {
        doc.text = self.normalize(&doc.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(cfg: NormalizeConfig, s: &str) -> String {
        Normalize::new(cfg).normalize(s)
    }

    #[test]
    fn defaults_collapse_and_unify() {
        let d = NormalizeConfig::default();
        assert_eq!(norm(d.clone(), "  a \t b\r\nc\rd  \n\n\ne\u{0007}f "), "a b\nc\nd\n\n\nef");
        // Trailing spaces before newlines go, leading spaces on a line go.
        assert_eq!(norm(d.clone(), "x   \n   y"), "x\ny");
        // Zero-width space and BOM are removed, tab is whitespace and collapses.
        assert_eq!(norm(d, "\u{FEFF}a\u{200B}b\tc"), "ab c");
    }

    #[test]
    fn nfc_vs_nfkc() {
        let decomposed = "e\u{0301}"; // e + combining acute
        assert_eq!(norm(NormalizeConfig::default(), decomposed), "\u{e9}");
        let lig = "\u{FB01}x"; // fi ligature
        assert_eq!(norm(NormalizeConfig::default(), lig), "\u{FB01}x");
        let nfkc = NormalizeConfig { form: Form::Nfkc, ..Default::default() };
        assert_eq!(norm(nfkc, lig), "fix");
    }

    #[test]
    fn blank_line_limit() {
        let c = NormalizeConfig { max_blank_lines: Some(1), ..Default::default() };
        assert_eq!(norm(c, "a\n\n\n\nb\n\nc"), "a\n\nb\n\nc");
        let c0 = NormalizeConfig { max_blank_lines: Some(0), ..Default::default() };
        assert_eq!(norm(c0, "a\n\n\nb"), "a\nb");
    }

    #[test]
    fn everything_off_is_identity() {
        let c = NormalizeConfig {
            form: Form::None,
            unify_line_endings: false,
            remove_control: false,
            collapse_whitespace: false,
            max_blank_lines: None,
            trim: false,
        };
        let s = " a\r\n\u{0007}  b ";
        assert_eq!(norm(c, s), s);
    }
}
