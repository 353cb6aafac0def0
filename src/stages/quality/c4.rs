//! `c4`: the line-level heuristics of C4 (Raffel et al. 2020), with the semantics and
//! defaults of datatrove's `C4QualityFilter`. It rewrites the text: removed lines are gone.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::by_language::{check_language_options, ByLanguage, LanguageDefaults};
use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};
use crate::text::segment::is_wordlike;
use crate::text::{char_len, count_sentences, is_py_space, py_splitlines, py_strip};

fn yes() -> bool {
    true
}
fn d_min_num_sentences() -> Option<u64> {
    Some(5)
}
fn d_min_words_per_line() -> Option<u64> {
    Some(3)
}
fn d_max_word_length() -> Option<u64> {
    Some(1000)
}

/// Phrases that mark cookie and terms-of-use boilerplate (lowercase).
const POLICY_SUBSTRINGS: [&str; 6] = [
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
];

/// Config of the `c4` filter. Defaults are datatrove's (FineWeb turns
/// `filter_no_terminal_punct` off). `null` disables a numeric rule.
///
/// Each line (Python `splitlines`, stripped; or each sentence when `split_paragraph` is
/// false) goes through these rules in order, and the first that applies decides: a word
/// (whitespace-separated; in languages written without spaces, a word of the language that
/// holds a letter or digit) longer than `max_word_length` removes the line; citation markers
/// (`[1]`, `[edit]`, `[citation needed]`) are deleted; no terminal punctuation (one of
/// `end_punctuation`, by default `.` `?` `!` `"` `'`; or ending in `...`) removes the line;
/// fewer than `min_words_per_line` words removes
/// it; `lorem ipsum` drops the document (reason `c4:lorem_ipsum`); `javascript` removes the
/// line; `{` drops the document (`c4:curly_bracket`); a policy phrase removes the line. Rules
/// on case use the lowercased line. Then fewer than `min_num_sentences` sentences in the kept
/// lines drops the document (`c4:too_few_sentences`); otherwise the text becomes the kept
/// lines joined by `\n`. Lines removed per rule are counted in the stage's counters
/// (`lines_too_long_word`, `lines_no_terminal_punct`, `lines_too_few_words`,
/// `lines_javascript`, `lines_policy`). Sentences are counted over the words of the
/// document's language ([`crate::text::Segmenter`]); options may differ by language
/// (`language`, `languages`, `language_defaults`: see [`super::by_language`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct C4Config {
    /// Apply the rules to lines (true) or to sentences (false; kept ones joined by spaces).
    #[serde(default = "yes")]
    pub split_paragraph: bool,
    /// Delete Wikipedia-style citation markers.
    #[serde(default = "yes")]
    pub remove_citations: bool,
    /// Remove lines that do not end in terminal punctuation.
    #[serde(default = "yes")]
    pub filter_no_terminal_punct: bool,
    /// Minimum number of sentences in the kept lines.
    #[serde(default = "d_min_num_sentences")]
    pub min_num_sentences: Option<u64>,
    /// Minimum number of words for a line to be kept.
    #[serde(default = "d_min_words_per_line")]
    pub min_words_per_line: Option<u64>,
    /// Remove lines with a word longer than this many characters.
    #[serde(default = "d_max_word_length")]
    pub max_word_length: Option<u64>,
    /// Drop documents containing "lorem ipsum".
    #[serde(default = "yes")]
    pub filter_lorem_ipsum: bool,
    /// Remove lines mentioning "javascript".
    #[serde(default = "yes")]
    pub filter_javascript: bool,
    /// Drop documents containing `{`.
    #[serde(default = "yes")]
    pub filter_curly_bracket: bool,
    /// Remove lines with cookie / terms-of-use phrases.
    #[serde(default = "yes")]
    pub filter_policy: bool,
    /// Line endings that count as terminal punctuation (absent: datatrove's `.` `?` `!` `"`
    /// `'`). The `fineweb2` language defaults add the sentence-final marks of scripts that
    /// have their own (`。` `！` `？` `।` `؟` ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_punctuation: Option<Vec<String>>,
    /// Record `c4.lines`, `c4.lines_kept` and `c4.sentences` signals on the document.
    #[serde(default)]
    pub signals: bool,
    /// The language of every document (ISO 639-3, optionally with script). Absent: each
    /// document's `lang` from the `language` stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Options by language code, over `language_defaults`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, C4Config>")]
    pub languages: BTreeMap<String, Map<String, Value>>,
    /// Shipped per-language options (`fineweb2`: the terminal punctuation of each script).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_defaults: Option<LanguageDefaults>,
}

crate::language_aware!(C4Config, "c4");

impl Default for C4Config {
    fn default() -> Self {
        C4Config {
            split_paragraph: true,
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_num_sentences: d_min_num_sentences(),
            min_words_per_line: d_min_words_per_line(),
            max_word_length: d_max_word_length(),
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
            end_punctuation: None,
            signals: false,
            language: None,
            languages: BTreeMap::new(),
            language_defaults: None,
        }
    }
}

impl Check for C4Config {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if let Some(e) = &self.end_punctuation {
            if e.is_empty() || e.iter().any(|x| x.is_empty()) {
                p.push(Problem::at(
                    "end_punctuation",
                    "end_punctuation must be non-empty strings (omit the field for the default)",
                ));
            }
        }
        p.extend(check_language_options(self));
        p
    }
}

/// The `c4` stage.
pub struct C4 {
    by: ByLanguage<C4Config>,
}

/// Deletes `[digits]`, `[edit]` and `[citation needed]`.
fn remove_citations(line: &str) -> Cow<'_, str> {
    if !line.contains('[') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let digits: usize = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric()))
            .map(char::len_utf8)
            .sum();
        let skip = if after[digits..].starts_with(']') {
            Some(digits + 1)
        } else if after.starts_with("edit]") {
            Some(5)
        } else if after.starts_with("citation needed]") {
            Some(16)
        } else {
            None
        };
        match skip {
            Some(n) => rest = &after[n..],
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Which of the phrases C4 looks for occur in a line (case-insensitively).
#[derive(Default)]
struct Phrases {
    lorem: bool,
    javascript: bool,
    policy: bool,
}

/// [`Phrases`] of an already lowercased line.
fn lower_phrases(l: &str) -> Phrases {
    Phrases {
        lorem: l.contains("lorem ipsum"),
        javascript: l.contains("javascript"),
        policy: POLICY_SUBSTRINGS.iter().any(|p| l.contains(p)),
    }
}

/// [`Phrases`] of an ASCII line, in one pass without lowercasing it: every phrase starts
/// with `l`, `j`, `c`, `t`, `p` or `u`, and only there are the phrases compared.
fn ascii_phrases(line: &str) -> Phrases {
    let b = line.as_bytes();
    let mut f = Phrases::default();
    let at = |i: usize, p: &str| {
        b.len() - i >= p.len() && b[i..i + p.len()].eq_ignore_ascii_case(p.as_bytes())
    };
    for (i, &byte) in b.iter().enumerate() {
        // The second letter rules out most positions before any comparison.
        let second = b.get(i + 1).map_or(0, |x| x | 0x20);
        match byte | 0x20 {
            b'l' | b'c' if second != b'o' => {}
            b'j' if second != b'a' => {}
            b't' if second != b'e' => {}
            b'p' if second != b'r' => {}
            b'u' if second != b's' => {}
            b'l' => f.lorem |= at(i, "lorem ipsum"),
            b'j' => f.javascript |= at(i, "javascript"),
            b'c' => f.policy |= at(i, "cookie policy"),
            b't' => f.policy |= at(i, "terms of use"),
            b'p' => f.policy |= at(i, "privacy policy"),
            b'u' => {
                f.policy |= at(i, "uses cookies") || at(i, "use of cookies") || at(i, "use cookies")
            }
            _ => {}
        }
    }
    f
}

/// `line` lowercased as Python's `str.lower` does, into `buf`.
fn lower_into<'b>(line: &str, buf: &'b mut String) -> &'b str {
    buf.clear();
    if line.is_ascii() {
        buf.push_str(line);
        buf.make_ascii_lowercase();
    } else {
        buf.extend(line.chars().flat_map(char::to_lowercase));
    }
    buf.as_str()
}

impl C4 {
    /// A c4 filter with `cfg` (checked: its language codes are known).
    pub fn new(cfg: C4Config) -> Self {
        Self::try_new(cfg).expect("a checked c4 config")
    }

    /// A c4 filter with `cfg`, or why its language options cannot be used.
    pub fn try_new(cfg: C4Config) -> Result<Self, String> {
        Ok(C4 {
            by: ByLanguage::build(&cfg, |c| c)?,
        })
    }
}

/// Whether `line` ends in terminal punctuation (and not in an ellipsis).
fn ends_terminal(c: &C4Config, line: &str) -> bool {
    if line.ends_with("...") {
        return false;
    }
    match &c.end_punctuation {
        None => line.ends_with(['.', '?', '!', '"', '\'']),
        Some(list) => list.iter().any(|p| line.ends_with(p.as_str())),
    }
}

impl Filter for C4 {
    fn check(&self, doc: &mut Document, counters: &mut Counters) -> Verdict {
        let r = self.by.resolve(doc, counters);
        let (c, seg) = (r.filter, r.seg);
        let unspaced = seg.unspaced();
        let text = doc.text.as_str();
        let units: Vec<&str> = if c.split_paragraph {
            py_splitlines(text).collect()
        } else {
            seg.sentences(text)
        };
        let mut kept: Vec<Cow<'_, str>> = Vec::new();
        // Token counts of the kept lines, to hand the words of the new text to later filters.
        let mut kept_tokens: Vec<usize> = Vec::new();
        // (start, end) of each word within its kept line.
        let mut tokens: Vec<(usize, usize)> = Vec::new();
        let mut lower = String::new();
        let mut sentences: u64 = 0;
        // The words of the whole text, when sentences are counted per line.
        let mut all: Vec<&str> = Vec::new();
        let per_line_words = c.split_paragraph && (c.min_num_sentences.is_some() || unspaced);
        if per_line_words {
            seg.split_cached(text, &mut all);
        }
        let base = text.as_ptr() as usize;
        let mut wi = 0;
        for raw in &units {
            let line = py_strip(raw);
            // The text's words that lie inside this line (lines end at whitespace, so a line's
            // words are the text's words within it).
            let mut in_line: &[&str] = &[];
            if per_line_words {
                let (ls, le) = (
                    line.as_ptr() as usize - base,
                    line.as_ptr() as usize - base + line.len(),
                );
                while wi < all.len() && all[wi].as_ptr() as usize - base < ls {
                    wi += 1;
                }
                let mut j = wi;
                while j < all.len() && all[j].as_ptr() as usize - base + all[j].len() <= le {
                    j += 1;
                }
                in_line = &all[wi..j];
            }
            let mut n_words = 0u64;
            let mut too_long = false;
            if unspaced {
                let owned;
                let lang_words: &[&str] = if per_line_words {
                    in_line
                } else {
                    owned = seg.words(line);
                    &owned
                };
                for w in lang_words.iter().filter(|w| is_wordlike(w)) {
                    n_words += 1;
                    if c.max_word_length.is_some_and(|m| char_len(w) as u64 > m) {
                        too_long = true;
                    }
                }
            } else if line.is_ascii() {
                // Python's whitespace in ASCII: \t \n \v \f \r, U+001C..U+001F and space.
                let is_sp =
                    |b: &u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ');
                for w in line.as_bytes().split(is_sp).filter(|w| !w.is_empty()) {
                    n_words += 1;
                    if c.max_word_length.is_some_and(|m| w.len() as u64 > m) {
                        too_long = true;
                    }
                }
            } else {
                for w in line.split(is_py_space).filter(|w| !w.is_empty()) {
                    n_words += 1;
                    if c.max_word_length.is_some_and(|m| char_len(w) as u64 > m) {
                        too_long = true;
                    }
                }
            }
            if too_long {
                counters.add("lines_too_long_word", 1);
                continue;
            }
            let line = if c.remove_citations {
                remove_citations(line)
            } else {
                Cow::Borrowed(line)
            };
            if c.filter_no_terminal_punct && !ends_terminal(c, &line) {
                counters.add("lines_no_terminal_punct", 1);
                continue;
            }
            if c.min_words_per_line.is_some_and(|m| n_words < m) {
                counters.add("lines_too_few_words", 1);
                continue;
            }
            let phrases = if line.is_ascii() {
                ascii_phrases(&line)
            } else {
                lower_phrases(lower_into(&line, &mut lower))
            };
            if c.filter_lorem_ipsum && phrases.lorem {
                return Verdict::Drop("lorem_ipsum");
            }
            if c.filter_javascript && phrases.javascript {
                counters.add("lines_javascript", 1);
                continue;
            }
            if c.filter_curly_bracket && line.contains('{') {
                return Verdict::Drop("curly_bracket");
            }
            if c.filter_policy && phrases.policy {
                counters.add("lines_policy", 1);
                continue;
            }
            if c.min_num_sentences.is_some() {
                if c.split_paragraph {
                    let owned;
                    let line_words: &[&str] = match &line {
                        Cow::Borrowed(_) => in_line,
                        Cow::Owned(l) => {
                            owned = seg.words(l);
                            &owned
                        }
                    };
                    sentences += count_sentences(line_words) as u64;
                    kept_tokens.push(line_words.len());
                    // Kept lines are stripped and joined by '\n', so the words of the new text
                    // are the words of its lines, in order.
                    let lb = line.as_ptr() as usize;
                    tokens.extend(
                        line_words.iter().map(|t| {
                            (t.as_ptr() as usize - lb, t.as_ptr() as usize - lb + t.len())
                        }),
                    );
                } else {
                    sentences += 1;
                }
            }
            kept.push(line);
        }
        if c.signals {
            doc.signals.insert("c4.lines".into(), units.len() as f64);
            doc.signals
                .insert("c4.lines_kept".into(), kept.len() as f64);
            if c.min_num_sentences.is_some() {
                doc.signals.insert("c4.sentences".into(), sentences as f64);
            }
        }
        if c.min_num_sentences.is_some_and(|m| sentences < m) {
            return Verdict::Drop("too_few_sentences");
        }
        let joined = kept.join(if c.split_paragraph { "\n" } else { " " });
        let new_text = py_strip(&joined).to_string();
        if c.split_paragraph && c.min_num_sentences.is_some() && kept_tokens.len() == kept.len() {
            let lead = joined.len() - joined.trim_start_matches(is_py_space).len();
            let mut spans = Vec::with_capacity(tokens.len());
            let mut at = 0usize;
            let mut t = 0usize;
            for (line, &n) in kept.iter().zip(&kept_tokens) {
                for &(a, z) in &tokens[t..t + n] {
                    spans.push((at + a - lead, at + z - lead));
                }
                t += n;
                at += line.len() + 1;
            }
            let fresh: Vec<&str> = spans.iter().map(|&(a, z)| &new_text[a..z]).collect();
            seg.remember(&new_text, &fresh);
        }
        doc.text = new_text;
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn run(cfg: C4Config, text: &str) -> (Verdict, String, Counters) {
        let mut d = Document::new("d", text, Arc::from("t"));
        let mut counters = Counters::default();
        let v = C4::new(cfg).check(&mut d, &mut counters);
        (v, d.text, counters)
    }

    fn no_min() -> C4Config {
        C4Config {
            min_num_sentences: None,
            ..Default::default()
        }
    }

    #[test]
    fn line_rules_rewrite_the_text() {
        let text = "A good line here.\nno punctuation at the end\nToo short.\nEnable JavaScript to see this.\n\
                    We use cookies on this site.\nAnother fine line[1] here[edit].";
        let (v, out, counters) = run(no_min(), text);
        assert_eq!(v, Verdict::Keep);
        assert_eq!(out, "A good line here.\nAnother fine line here.");
        assert_eq!(counters.0["lines_no_terminal_punct"], 1);
        assert_eq!(counters.0["lines_too_few_words"], 1);
        assert_eq!(counters.0["lines_javascript"], 1);
        assert_eq!(counters.0["lines_policy"], 1);
    }

    #[test]
    fn terminal_punctuation_rule_is_switchable() {
        let cfg = C4Config {
            filter_no_terminal_punct: false,
            ..no_min()
        };
        let (_, out, _) = run(cfg, "a line without end\nends with dots...");
        assert_eq!(out, "a line without end\nends with dots...");
        let (_, out, _) = run(
            no_min(),
            "a line without end\nends with dots...\nends with a quote'",
        );
        assert_eq!(out, "ends with a quote'");
    }

    #[test]
    fn words_per_line_threshold() {
        let cfg = C4Config {
            min_words_per_line: Some(3),
            ..no_min()
        };
        assert_eq!(
            run(cfg.clone(), "two words.\nthree words here.").1,
            "three words here."
        );
        // Counted before citations are removed: "[1] [2] end." has 3 words.
        assert_eq!(run(cfg, "[1] [2] end.").1, "end.");
    }

    #[test]
    fn long_words_remove_lines() {
        let cfg = C4Config {
            max_word_length: Some(5),
            ..no_min()
        };
        assert_eq!(
            run(cfg, "abcde is fine.\nabcdef is not.").1,
            "abcde is fine."
        );
    }

    #[test]
    fn document_drops() {
        assert_eq!(
            run(no_min(), "Some text.\nLorem Ipsum dolor sit amet.").0,
            Verdict::Drop("lorem_ipsum")
        );
        assert_eq!(
            run(no_min(), "Some good text here.\nThe code is {x} ok.").0,
            Verdict::Drop("curly_bracket")
        );
        // A removed line does not drop the document even if it has a bracket.
        assert_eq!(
            run(no_min(), "Some good text here.\ncode {x}").0,
            Verdict::Keep
        );
        let cfg = C4Config {
            filter_curly_bracket: false,
            filter_lorem_ipsum: false,
            ..no_min()
        };
        assert_eq!(
            run(cfg, "Lorem ipsum dolor sit amet.\nThe code is {x} ok.").0,
            Verdict::Keep
        );
    }

    #[test]
    fn sentence_threshold() {
        let cfg = C4Config {
            min_num_sentences: Some(5),
            ..Default::default()
        };
        let four = "One two three. Four five six.\nSeven eight nine. Ten eleven twelve.";
        assert_eq!(run(cfg.clone(), four).0, Verdict::Drop("too_few_sentences"));
        let five = format!("{four}\nThirteen fourteen fifteen.");
        assert_eq!(run(cfg.clone(), &five).0, Verdict::Keep);
        let six = format!("{five} Sixteen seventeen eighteen!");
        assert_eq!(run(cfg, &six).0, Verdict::Keep);
    }

    #[test]
    fn sentence_mode_joins_with_spaces() {
        let cfg = C4Config {
            split_paragraph: false,
            min_num_sentences: Some(2),
            ..Default::default()
        };
        let (v, out, _) = run(cfg, "First good sentence here. Second one\nalso here. bad");
        assert_eq!(v, Verdict::Keep);
        assert_eq!(out, "First good sentence here. Second one\nalso here.");
    }

    #[test]
    fn phrase_scan_matches_lowercase_search() {
        for l in [
            "We Use Cookies.",
            "read the TERMS OF USE",
            "Enable JavaScript!",
            "lorem  ipsum",
            "LOREM IPSUM",
            "privacy Policy",
            "use of cookies",
            "cookies use",
            "javascrip",
        ] {
            let mut buf = String::new();
            let a = ascii_phrases(l);
            let b = lower_phrases(lower_into(l, &mut buf));
            assert_eq!(
                (a.lorem, a.javascript, a.policy),
                (b.lorem, b.javascript, b.policy),
                "{l}"
            );
        }
    }

    #[test]
    fn citations() {
        assert_eq!(
            remove_citations("a[1] b[23][edit] c[citation needed] d[x]"),
            "a b c d[x]"
        );
    }
}
