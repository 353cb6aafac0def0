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
        // ASCII is already in every normalization form; checking that is much cheaper than
        // the quick check over characters.
        let formed: std::borrow::Cow<str> = if text.is_ascii() {
            text.into()
        } else {
            match c.form {
                Form::Nfc => {
                    if unicode_normalization::is_nfc_quick(text.chars())
                        == unicode_normalization::IsNormalized::Yes
                    {
                        text.into()
                    } else {
                        text.nfc().collect::<String>().into()
                    }
                }
                Form::Nfkc => {
                    if unicode_normalization::is_nfkc_quick(text.chars())
                        == unicode_normalization::IsNormalized::Yes
                    {
                        text.into()
                    } else {
                        text.nfkc().collect::<String>().into()
                    }
                }
                Form::None => text.into(),
            }
        };
        let mut w = LineWriter {
            out: String::with_capacity(formed.len()),
            pending_space: false,
            blank_run: 0,
            cfg: c,
        };
        let bytes = formed.as_bytes();
        let mut i = 0;
        // Start of the current run of characters that are copied as they are.
        let mut run = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                if b >= 0x21 && b != 0x7f {
                    i += 1;
                    continue;
                }
                w.push_run(&formed[run..i]);
                let ch = b as char;
                if ch == '\r' && c.unify_line_endings && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1; // \r\n is one line ending
                }
                w.special(ch);
                i += 1;
                run = i;
                continue;
            }
            let ch = formed[i..].chars().next().unwrap_or('\u{FFFD}');
            let n = ch.len_utf8();
            if ch.is_whitespace()
                || is_removable_control(ch)
                || matches!(ch, '\u{2028}' | '\u{2029}' | '\u{85}')
            {
                w.push_run(&formed[run..i]);
                w.special(ch);
                run = i + n;
            }
            i += n;
        }
        w.push_run(&formed[run..]);
        let out = w.out;
        if c.trim {
            let t = out.trim();
            if t.len() != out.len() {
                return t.to_string();
            }
        }
        out
    }
}

/// Output of [`Normalize::normalize`]: plain runs are copied, special characters handled one
/// by one.
struct LineWriter<'a> {
    out: String,
    /// Horizontal whitespace seen, emitted only when followed by text on the same line.
    pending_space: bool,
    /// Newlines since the last non-blank line.
    blank_run: u32,
    cfg: &'a NormalizeConfig,
}

impl LineWriter<'_> {
    fn push_run(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if self.pending_space {
            // No space at the start of a line.
            if !(self.out.is_empty() || self.out.ends_with('\n')) {
                self.out.push(' ');
            }
            self.pending_space = false;
        }
        self.blank_run = 0;
        self.out.push_str(s);
    }

    fn special(&mut self, ch: char) {
        let c = self.cfg;
        let ch = if c.unify_line_endings && matches!(ch, '\r' | '\u{2028}' | '\u{2029}' | '\u{85}')
        {
            '\n'
        } else {
            ch
        };
        if ch == '\n' {
            if c.collapse_whitespace {
                self.pending_space = false;
            }
            self.blank_run += 1;
            if let Some(max) = c.max_blank_lines {
                if self.blank_run > max + 1 {
                    return;
                }
            }
            self.out.push('\n');
            return;
        }
        if c.remove_control && is_removable_control(ch) {
            return;
        }
        if c.collapse_whitespace && ch.is_whitespace() {
            self.pending_space = true;
            return;
        }
        let mut buf = [0u8; 4];
        self.push_run(ch.encode_utf8(&mut buf));
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
        assert_eq!(
            norm(d.clone(), "  a \t b\r\nc\rd  \n\n\ne\u{0007}f "),
            "a b\nc\nd\n\n\nef"
        );
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
        let nfkc = NormalizeConfig {
            form: Form::Nfkc,
            ..Default::default()
        };
        assert_eq!(norm(nfkc, lig), "fix");
    }

    #[test]
    fn blank_line_limit() {
        let c = NormalizeConfig {
            max_blank_lines: Some(1),
            ..Default::default()
        };
        assert_eq!(norm(c, "a\n\n\n\nb\n\nc"), "a\n\nb\n\nc");
        let c0 = NormalizeConfig {
            max_blank_lines: Some(0),
            ..Default::default()
        };
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
    /// The plain char-by-char definition the fast path must agree with.
    fn reference(c: &NormalizeConfig, text: &str) -> String {
        let formed: String = match c.form {
            Form::Nfc => text.nfc().collect(),
            Form::Nfkc => text.nfkc().collect(),
            Form::None => text.to_string(),
        };
        let mut out = String::new();
        let mut chars = formed.chars().peekable();
        let (mut pending, mut blank) = (false, 0u32);
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
                    o => o,
                }
            } else {
                ch
            };
            if ch == '\n' {
                if c.collapse_whitespace {
                    pending = false;
                }
                blank += 1;
                if c.max_blank_lines.is_some_and(|m| blank > m + 1) {
                    continue;
                }
                out.push('\n');
                continue;
            }
            if c.remove_control && is_removable_control(ch) {
                continue;
            }
            if c.collapse_whitespace && ch.is_whitespace() {
                pending = true;
                continue;
            }
            if pending {
                if !(out.is_empty() || out.ends_with('\n')) {
                    out.push(' ');
                }
                pending = false;
            }
            blank = 0;
            out.push(ch);
        }
        if c.trim {
            out.trim().to_string()
        } else {
            out
        }
    }

    #[test]
    fn fast_path_agrees_with_the_reference_on_random_text() {
        let palette: Vec<char> = "ab \t\n\r\u{0007}\u{00A0}\u{3000}\u{2028}\u{85}\u{200B}e\u{0301}\u{FB01}é漢😀\u{FEFF}\u{7f}".chars().collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..4000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| palette[(next() % palette.len() as u64) as usize])
                .collect();
            let cfg = NormalizeConfig {
                form: [Form::Nfc, Form::Nfkc, Form::None][case % 3],
                unify_line_endings: case % 2 == 0,
                remove_control: case % 5 != 0,
                collapse_whitespace: case % 7 != 0,
                max_blank_lines: if case % 4 == 0 {
                    Some((case % 3) as u32)
                } else {
                    None
                },
                trim: case % 11 != 0,
            };
            assert_eq!(
                Normalize::new(cfg.clone()).normalize(&text),
                reference(&cfg, &text),
                "{text:?} {cfg:?}"
            );
        }
    }
}
