//! Words by language: the one place that splits a text into words for a language.
//!
//! Every ratio of the quality filters (words per document, mean word length, stop words,
//! repeated n-grams, newlines per word), `length`'s word bounds, C4's words per line and
//! decontamination's n-grams are defined over words. What a word is depends on the language,
//! and datatrove, the reference for those filters, splits each language with its own
//! tokenizer. corpusforge does the same, with three segmenters:
//!
//! - [`Segmenter::English`], [`Segmenter::Spaced`], [`Segmenter::SpacedHyphenated`]: the
//!   text is split at whitespace, then punctuation, affixes and infixes are cut off by spaCy's
//!   rules ([`crate::text::words`]): English with spaCy's English special cases (what
//!   datatrove uses for English, and for text of unknown language here); every other language
//!   written with spaces between words (Latin, Cyrillic, Greek, Arabic, Devanagari, Hangul,
//!   ...) with the rules all spaCy languages share, a hyphenated word kept whole in the
//!   languages whose spaCy tokenizer keeps it (German, Spanish, French, Dutch, ...). Han,
//!   Hiragana and Katakana runs in such text are one word per character.
//! - [`Segmenter::Jieba`]: Chinese, with jieba's algorithm (what datatrove uses through
//!   spaCy's Chinese tokenizer): the text is cut into runs of Han characters, ASCII letters
//!   and digits and `+#&._%-` (jieba's `re_han_default`: Han is U+4E00..U+9FD5, as in
//!   jieba 0.42); every other character is a word of its own (whitespace is dropped); each run
//!   is segmented by the most probable path through jieba's dictionary, with its HMM for
//!   the characters the dictionary leaves single. The dictionary, the HMM and the path search
//!   are the `jieba-rs` crate's; the run splitting and the splitting of ASCII tokens inside
//!   HMM spans (`[a-zA-Z0-9]+(?:\.\d+)?%?`, so `apt-get` is `apt` `-` `get` as in Python
//!   jieba, where jieba-rs keeps it whole) are done here to match Python jieba.
//! - [`Segmenter::Dictionary`]: Japanese, Thai, Lao, Khmer and Burmese, written without
//!   spaces: Unicode word boundaries (UAX #29) with ICU's dictionaries for those scripts
//!   (ICU4X `icu_segmenter`). datatrove uses SudachiPy for Japanese and pythainlp for Thai;
//!   the words differ, which is why the shipped Japanese settings are derived with
//!   `corpusforge calibrate` on our own words rather than copied from FineWeb-2.
//!
//! Words never contain whitespace; punctuation marks are words of their own (a filter decides
//! whether a word made only of punctuation counts).

use std::cell::RefCell;
use std::sync::OnceLock;

use super::words::Rules;
use super::{is_py_alpha, is_py_space, words};

/// How the words of a language are found (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Segmenter {
    /// Whitespace and spaCy's English rules: English, and text of unknown language.
    #[default]
    English,
    /// Whitespace and the rules every spaCy language shares: languages written with spaces.
    Spaced,
    /// The same with hyphenated words kept whole (German, Spanish, French, Dutch, ...).
    SpacedHyphenated,
    /// jieba: Chinese.
    Jieba,
    /// Unicode word boundaries with ICU's dictionaries: Japanese, Thai, Lao, Khmer, Burmese.
    Dictionary,
}

impl Segmenter {
    /// The segmenter for a language code: an ISO 639-3 code as the `language` stage writes it
    /// (`cmn`), optionally with an ISO 15924 script (`cmn_Hani`, `srp_Latn`). A script that is
    /// written without spaces decides by itself; English, `und` and codes not known here get
    /// [`Segmenter::English`].
    pub fn for_language(code: &str) -> Segmenter {
        let (lang, script) = match code.split_once('_') {
            Some((l, s)) => (l, Some(s)),
            None => (code, None),
        };
        match script {
            Some("Hani" | "Hans" | "Hant") => return Segmenter::Jieba,
            Some("Jpan" | "Hira" | "Kana" | "Thai" | "Laoo" | "Khmr" | "Mymr") => {
                return Segmenter::Dictionary
            }
            _ => {}
        }
        match lang {
            // Chinese: Mandarin (what whatlang calls every Chinese text), the macrolanguage
            // and the Chinese languages written in Han characters.
            "cmn" | "zho" | "chi" | "yue" | "wuu" | "nan" | "hak" | "gan" | "hsn" | "lzh" => {
                Segmenter::Jieba
            }
            "jpn" | "tha" | "lao" | "khm" | "mya" => Segmenter::Dictionary,
            "eng" | "und" => Segmenter::English,
            // spaCy's tokenizers that keep `E-Mail` and `non-free` whole.
            "cat" | "dan" | "deu" | "ell" | "fin" | "fra" | "hun" | "nld" | "nob" | "nno"
            | "por" | "ron" | "spa" | "srp" | "swe" => Segmenter::SpacedHyphenated,
            _ if crate::text::langs::fineweb2().row(lang).is_some()
                || crate::text::langs::fineweb2().knows_other(lang, None) =>
            {
                Segmenter::Spaced
            }
            _ => Segmenter::English,
        }
    }

    /// The segmenter for a writing system as the `language` stage names it in
    /// `metadata.script` (whatlang's names: `Mandarin` for Han, `Hiragana`, `Thai`, ...), for
    /// texts too short for a language guess.
    pub fn for_script(name: &str) -> Segmenter {
        match name {
            "Mandarin" => Segmenter::Jieba,
            "Hiragana" | "Katakana" | "Thai" | "Khmer" | "Myanmar" => Segmenter::Dictionary,
            "Latin" => Segmenter::English,
            _ => Segmenter::Spaced,
        }
    }

    /// The segmenter's name, as logs and the manifest show it.
    pub fn name(self) -> &'static str {
        match self {
            Segmenter::English => "spacy-en",
            Segmenter::Spaced => "spacy-xx",
            Segmenter::SpacedHyphenated => "spacy-xx-hyphenated",
            Segmenter::Jieba => "jieba",
            Segmenter::Dictionary => "icu-dictionary",
        }
    }

    /// Whether the language is written without spaces between words, so that counting
    /// whitespace-separated chunks says nothing about its words.
    pub fn unspaced(self) -> bool {
        matches!(self, Segmenter::Jieba | Segmenter::Dictionary)
    }

    /// The words of `text`, as slices of it.
    pub fn words(self, text: &str) -> Vec<&str> {
        let mut out = Vec::with_capacity(text.len() / 5 + 1);
        self.split(text, &mut out);
        out
    }

    /// Appends the words of `text` to `out` (cleared first), as slices of `text`.
    pub fn split<'a>(self, text: &'a str, out: &mut Vec<&'a str>) {
        match self {
            Segmenter::English => words::split_words_with(text, out, Rules::English),
            Segmenter::Spaced => words::split_words_with(text, out, Rules::Base),
            Segmenter::SpacedHyphenated => {
                words::split_words_with(text, out, Rules::BaseHyphenated)
            }
            Segmenter::Jieba => split_jieba(text, out),
            Segmenter::Dictionary => split_dictionary(text, out),
        }
    }

    /// Like [`Segmenter::split`], but reuses the words of the last text split (or remembered
    /// with [`Segmenter::remember`]) on this thread when the text and the segmenter are the
    /// same. Filters that run one after the other on an unchanged document split it once. The
    /// text is compared in full, so a reuse is never wrong.
    pub fn split_cached<'a>(self, text: &'a str, out: &mut Vec<&'a str>) {
        let hit = WORD_CACHE.with(|c| {
            let c = c.borrow();
            if c.valid && c.seg == self && c.text == text {
                out.clear();
                out.extend(c.spans.iter().map(|&(a, z)| &text[a as usize..z as usize]));
                true
            } else {
                false
            }
        });
        if !hit {
            self.split(text, out);
            self.remember(text, out);
        }
    }

    /// Records `tokens` (slices of `text`, as [`Segmenter::split`] would return them) as the
    /// words of `text` for [`Segmenter::split_cached`] on this thread.
    pub fn remember(self, text: &str, tokens: &[&str]) {
        let base = text.as_ptr() as usize;
        let inside = |t: &&str| {
            let a = (t.as_ptr() as usize).wrapping_sub(base);
            a <= text.len() && a + t.len() <= text.len()
        };
        WORD_CACHE.with(|c| {
            let mut c = c.borrow_mut();
            c.valid = false;
            if text.len() > u32::MAX as usize || !tokens.iter().all(inside) {
                return;
            }
            c.seg = self;
            c.text.clear();
            c.text.push_str(text);
            c.spans.clear();
            c.spans.extend(tokens.iter().map(|t| {
                let a = t.as_ptr() as usize - base;
                (a as u32, (a + t.len()) as u32)
            }));
            c.valid = true;
        });
    }

    /// `text` cut into sentences (spaCy's sentencizer over this segmenter's words; see
    /// [`words::split_sentences`]).
    pub fn sentences(self, text: &str) -> Vec<&str> {
        let toks = self.words(text);
        words::split_sentences_of(text, &toks)
    }

    /// The number of words of `text` that hold a letter or a digit (punctuation and symbols
    /// are not counted): `length`'s word count for languages without spaces.
    pub fn count_words(self, text: &str) -> usize {
        let mut out = Vec::new();
        self.split_cached(text, &mut out);
        out.iter().filter(|w| is_wordlike(w)).count()
    }
}

/// Whether a word holds a letter or a digit (a word of a language without spaces that counts,
/// as punctuation and symbols do not).
pub fn is_wordlike(w: &str) -> bool {
    w.chars().any(|c| is_py_alpha(c) || c.is_numeric())
}

/// [`Segmenter::split_cached`] for [`Segmenter::English`]: the words of `text` as
/// [`words::split_words`] splits them, reused when the same text was split last on this thread.
pub fn split_words_cached<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    Segmenter::English.split_cached(text, out)
}

/// [`Segmenter::remember`] for [`Segmenter::English`].
pub fn remember_words(text: &str, tokens: &[&str]) {
    Segmenter::English.remember(text, tokens)
}

#[derive(Default)]
struct WordCache {
    valid: bool,
    seg: Segmenter,
    text: String,
    spans: Vec<(u32, u32)>,
}

thread_local! {
    static WORD_CACHE: RefCell<WordCache> = RefCell::new(WordCache::default());
}

/// jieba with its default dictionary, loaded once on first use (about half a second).
fn jieba() -> &'static jieba_rs::Jieba {
    static J: OnceLock<jieba_rs::Jieba> = OnceLock::new();
    J.get_or_init(jieba_rs::Jieba::new)
}

/// Loads jieba's dictionary now (so that the first Chinese document does not pay for it).
pub fn preload(seg: Segmenter) {
    match seg {
        Segmenter::Jieba => {
            jieba();
        }
        Segmenter::Dictionary => {
            icu();
        }
        _ => {}
    }
}

/// Python jieba's `re_han_default`: `[\u4E00-\u9FD5a-zA-Z0-9+#&\._%\-]`.
#[inline]
fn is_jieba_run_char(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FD5}' | 'a'..='z' | 'A'..='Z' | '0'..='9' | '+' | '#' | '&' | '.' | '_' | '%' | '-')
}

fn split_jieba<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    let j = jieba();
    let mut run: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if is_jieba_run_char(c) {
            run.get_or_insert(i);
            continue;
        }
        if let Some(s) = run.take() {
            cut_run(j, &text[s..i], out);
        }
        // Outside runs every character is a word; whitespace is dropped (datatrove strips
        // every token and drops the empty ones).
        if !is_py_space(c) {
            out.push(&text[i..i + c.len_utf8()]);
        }
    }
    if let Some(s) = run {
        cut_run(j, &text[s..], out);
    }
}

/// Segments one run of jieba's run characters.
fn cut_run<'a>(j: &jieba_rs::Jieba, run: &'a str, out: &mut Vec<&'a str>) {
    for t in j.cut(run, true) {
        let w = t.word;
        if needs_skip_split(w) && !j.has_word(w) {
            skip_split(w, out);
        } else {
            out.push(w);
        }
    }
}

/// An ASCII token with `.`, `_` or `-`: jieba-rs joins alphanumeric runs across those inside
/// HMM spans, where Python jieba's `finalseg` splits with `[a-zA-Z0-9]+(?:\.\d+)?%?`.
#[inline]
fn needs_skip_split(w: &str) -> bool {
    w.len() > 2 && w.is_ascii() && w.bytes().any(|b| matches!(b, b'.' | b'_' | b'-'))
}

/// `re.split(r"([a-zA-Z0-9]+(?:\.\d+)?%?)", w)` without the empty parts: the matches and the
/// gaps between them, in order.
fn skip_split<'a>(w: &'a str, out: &mut Vec<&'a str>) {
    let b = w.as_bytes();
    let mut gap = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
        if i < b.len() && b[i] == b'%' {
            i += 1;
        }
        if gap < start {
            out.push(&w[gap..start]);
        }
        out.push(&w[start..i]);
        gap = i;
    }
    if gap < b.len() {
        out.push(&w[gap..]);
    }
}

fn icu() -> &'static icu_segmenter::WordSegmenterBorrowed<'static> {
    static S: OnceLock<icu_segmenter::WordSegmenterBorrowed<'static>> = OnceLock::new();
    S.get_or_init(|| icu_segmenter::WordSegmenter::new_dictionary(Default::default()))
}

fn split_dictionary<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    let mut prev = 0;
    for b in icu().segment_str(text) {
        if b <= prev {
            continue;
        }
        let seg = super::py_strip(&text[prev..b]);
        prev = b;
        if !seg.is_empty() {
            // A segment never holds inner whitespace except where UAX #29 keeps spaces
            // inside a number or word run (it does not), so one strip is enough.
            out.push(seg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segmenter_by_language_and_script() {
        assert_eq!(Segmenter::for_language("cmn"), Segmenter::Jieba);
        assert_eq!(Segmenter::for_language("cmn_Hani"), Segmenter::Jieba);
        assert_eq!(Segmenter::for_language("yue_Hant"), Segmenter::Jieba);
        assert_eq!(Segmenter::for_language("jpn"), Segmenter::Dictionary);
        assert_eq!(Segmenter::for_language("tha_Thai"), Segmenter::Dictionary);
        assert_eq!(Segmenter::for_language("mya"), Segmenter::Dictionary);
        assert_eq!(Segmenter::for_language("kor"), Segmenter::Spaced);
        assert_eq!(Segmenter::for_language("rus"), Segmenter::Spaced);
        assert_eq!(Segmenter::for_language("deu"), Segmenter::SpacedHyphenated);
        assert_eq!(Segmenter::for_language("hin_Latn"), Segmenter::Spaced);
        assert_eq!(Segmenter::for_language("eng"), Segmenter::English);
        assert_eq!(Segmenter::for_language("und"), Segmenter::English);
        assert_eq!(Segmenter::for_language("xyz"), Segmenter::English);
        assert_eq!(Segmenter::for_language("swh"), Segmenter::Spaced);
        assert_eq!(Segmenter::for_script("Mandarin"), Segmenter::Jieba);
        assert_eq!(Segmenter::for_script("Hiragana"), Segmenter::Dictionary);
        assert_eq!(Segmenter::for_script("Latin"), Segmenter::English);
    }

    #[test]
    fn jieba_words_as_python_jieba() {
        // Expected words from Python jieba 0.42.1 (`jieba.lcut(text)`, whitespace dropped).
        let j = Segmenter::Jieba;
        assert_eq!(
            j.words("我来到北京清华大学"),
            ["我", "来到", "北京", "清华大学"]
        );
        assert_eq!(
            j.words("他来到了网易杭研大厦"),
            ["他", "来到", "了", "网易", "杭研", "大厦"]
        );
        // Punctuation and whitespace outside runs: one word per character, spaces dropped.
        assert_eq!(
            j.words("你好，世界！ ok"),
            ["你好", "，", "世界", "！", "ok"]
        );
        // ASCII inside an HMM span is split the way Python's finalseg splits it.
        assert_eq!(j.words("apt-get"), ["apt", "-", "get"]);
        assert_eq!(j.words("版本2.6.32"), ["版本", "2.6", ".", "32"]);
        assert_eq!(j.words("sources.list"), ["sources", ".", "list"]);
    }

    #[test]
    fn skip_split_is_pythons_regex() {
        let split = |w: &'static str| {
            let mut v = Vec::new();
            skip_split(w, &mut v);
            v
        };
        assert_eq!(split("apt-get"), ["apt", "-", "get"]);
        assert_eq!(split("3.14%"), ["3.14%"]);
        assert_eq!(split("v1.2.3"), ["v1.2", ".", "3"]);
        assert_eq!(split("--a_b."), ["--", "a", "_", "b", "."]);
        assert_eq!(split("1.5.6%"), ["1.5", ".", "6%"]);
    }

    #[test]
    fn dictionary_words_for_japanese_and_thai() {
        let d = Segmenter::Dictionary;
        // ICU4X's own documented boundaries: こんにちは|世界, ทุก|สอง|สัปดาห์.
        assert_eq!(d.words("こんにちは世界"), ["こんにちは", "世界"]);
        assert_eq!(d.words("ทุกสองสัปดาห์"), ["ทุก", "สอง", "สัปดาห์"]);
        // Punctuation is a word; spaces are not.
        assert_eq!(d.words("世界。 abc"), ["世界", "。", "abc"]);
    }

    #[test]
    fn cached_words_equal_fresh_words() {
        let a = "Don't stop... now, (really)!";
        let b = String::from(a);
        let mut out = Vec::new();
        split_words_cached(a, &mut out);
        assert_eq!(out, words::words(a));
        split_words_cached(&b, &mut out);
        assert_eq!(out, words::words(a));
        assert_eq!(out[0].as_ptr(), b.as_ptr());
        split_words_cached("other text", &mut out);
        assert_eq!(out, ["other", "text"]);
    }

    #[test]
    fn cache_is_per_segmenter() {
        let text = "中文分词";
        let mut a = Vec::new();
        Segmenter::English.split_cached(text, &mut a);
        assert_eq!(a, ["中", "文", "分", "词"]);
        let mut b = Vec::new();
        Segmenter::Jieba.split_cached(text, &mut b);
        assert_eq!(b, ["中文", "分词"]);
        Segmenter::English.split_cached(text, &mut a);
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn spaced_languages_use_spacys_shared_rules() {
        // spaCy's English special cases ("Im" is "I'm" without its apostrophe) are English.
        assert_eq!(Segmenter::English.words("im Haus"), ["i", "m", "Haus"]);
        assert_eq!(Segmenter::Spaced.words("im Haus"), ["im", "Haus"]);
        // A hyphen between letters: a word of its own, or kept (German, Spanish, ...).
        assert_eq!(Segmenter::Spaced.words("non-free"), ["non", "-", "free"]);
        assert_eq!(
            Segmenter::SpacedHyphenated.words("E-Mail non-free."),
            ["E-Mail", "non-free", "."]
        );
        // After a digit only English splits it (spaCy's shared infix needs a letter before).
        assert_eq!(Segmenter::English.words("2-fach"), ["2", "-", "fach"]);
        assert_eq!(Segmenter::Spaced.words("2-fach"), ["2-fach"]);
    }

    #[test]
    fn sentences_by_language() {
        assert_eq!(
            Segmenter::Jieba.sentences("我来到北京。你好！再见"),
            ["我来到北京。", "你好！", "再见"]
        );
        assert_eq!(Segmenter::English.sentences("One. Two."), ["One.", " Two."]);
    }

    #[test]
    fn counts_words_with_letters_or_digits() {
        assert_eq!(Segmenter::Jieba.count_words("我来到北京。2024年"), 5);
    }
}
