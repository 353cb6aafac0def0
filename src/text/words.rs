//! Word segmentation and sentence counting, as datatrove does them for English.
//!
//! datatrove 0.10 splits English text into words with spaCy's blank English tokenizer
//! (`spacy.blank("en")`) and counts sentences with spaCy's rule-based sentencizer. Every ratio
//! its quality filters compute (words per document, mean word length, duplicate n-grams, ...) is
//! defined over those tokens, so to give the same decisions we split text the same way. This
//! module is a re-implementation of that tokenizer's algorithm, reading only `&str` slices of
//! the input (no allocation per word):
//!
//! 1. The text is split at whitespace (Python's `str.isspace`); whitespace is never a token.
//! 2. Each chunk is looked up in spaCy's English special cases (contractions, abbreviations,
//!    emoticons: `don't` → `do` `n't`, `can't` → `ca` `n't`, `Mr.`, `e.g.`, `:)`).
//! 3. Otherwise prefixes (opening punctuation, quotes, currency, symbols) and suffixes (closing
//!    punctuation, `'s`, units after a number such as `10km` → `10` `km`, a final `.`) are
//!    peeled off, re-checking special cases as spaCy does.
//! 4. What remains is kept whole if it is a URL (`https://x.org/a?b=1`, `www.foo.org`,
//!    `foo.bar`), else split at infixes: `...`, symbols, hyphens between letters
//!    (`well-known` → `well` `-` `known`), `,` `:` `/` `<` `>` `=` between letters, `.` between
//!    a lowercase and an uppercase letter, arithmetic operators between digits.
//!
//! So punctuation is a separate token (`end.` → `end` `.`, `wait...` → `wait` `...`), numbers
//! keep their separators (`1,000.50`, `3.14`, `12:30`), e-mail addresses and URLs stay whole.
//!
//! Where we differ from spaCy, on purpose or by simplification:
//! - CJK: runs of Han ideographs, Hiragana and Katakana are split into one token per
//!   character (spaCy's English tokenizer keeps `日本語のテキスト` as one token). Hangul is
//!   written with spaces between words and is left to the rules above.
//! - spaCy's last pass re-applies special cases that span several affix-split tokens inside
//!   one chunk (`_apply_special_cases`, e.g. `(:-)`); we do not. It is rare in prose and
//!   changes a token count by one.
//!
//! Why not plain UAX #29 word boundaries: they keep `don't` whole, split `...` into three
//! tokens, split URLs and e-mail addresses at every `/`, `:` and `@`, and keep `10km` whole.
//! Each of these moves datatrove's word counts, mean word length and n-gram statistics, and
//! with them decisions near the thresholds; see the parity figures in
//! `scripts/datatrove_parity.sh`.
//!
//! Sentences ([`count_sentences`]) follow spaCy's sentencizer: a sentence ends after a token
//! that is one of its sentence-final characters (`.` `!` `?` `。` and the like) and the next
//! sentence starts at the next token that is not punctuation. Abbreviations that are special
//! cases (`Mr.`, `e.g.`) and numbers (`3.14`) are single tokens, so they do not end sentences.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use super::tables::{
    EN_SPECIALS, SENT_PUNCT, SHARED_SPECIALS, SP_ALPHA, SP_CURRENCY, SP_HYPHENS, SP_ICONS,
    SP_LOWER, SP_PUNCT, SP_QUOTES, SP_UNITS, SP_UPPER,
};
use super::{in_ranges, is_py_space, is_unicode_punct};

/// The words of `text` (see the module docs), as slices of it.
pub fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / 5 + 1);
    split_words(text, &mut out);
    out
}

/// Which of spaCy's rule sets splits the words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rules {
    /// spaCy's English tokenizer: the shared rules plus English special cases (contractions,
    /// abbreviations).
    English,
    /// The rules every spaCy language starts from (`spacy.blank("xx")`): no English special
    /// cases; a hyphen between letters is a word of its own.
    Base,
    /// The same, but a hyphenated word stays whole (`E-Mail`, `non-free`), as the tokenizers
    /// of spaCy's German, Spanish, Portuguese, French, Dutch, Catalan, Danish, Swedish,
    /// Norwegian, Finnish, Hungarian, Greek, Romanian and Serbian do.
    BaseHyphenated,
}

/// Appends the words of `text` to `out` (cleared first), as slices of `text`: spaCy's English
/// rules.
pub fn split_words<'a>(text: &'a str, out: &mut Vec<&'a str>) {
    split_words_with(text, out, Rules::English)
}

/// Appends the words of `text` to `out` (cleared first), as slices of `text`, with `rules`.
pub fn split_words_with<'a>(text: &'a str, out: &mut Vec<&'a str>, rules: Rules) {
    out.clear();
    let mut scratch = Scratch::default();
    let sp = specials(rules);
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut start: Option<usize> = None;
    while i < bytes.len() {
        // Eight bytes at a time: flag bytes below 0x21 (ASCII spaces, and other controls) and
        // bytes from 0x80 (non-ASCII). Flags may be false positives (the subtraction borrows
        // into the next byte); the class table decides.
        if let Some(chunk8) = bytes.get(i..i + 8) {
            let x = u64::from_le_bytes([
                chunk8[0], chunk8[1], chunk8[2], chunk8[3], chunk8[4], chunk8[5], chunk8[6],
                chunk8[7],
            ]);
            const ONES: u64 = 0x0101_0101_0101_0101;
            const HIGHS: u64 = 0x8080_8080_8080_8080;
            let flags = (x.wrapping_sub(ONES * 0x21) & !x & HIGHS) | (x & HIGHS);
            if flags == 0 {
                if start.is_none() {
                    start = Some(i);
                }
                i += 8;
                continue;
            }
            // Ordinary bytes before the first flagged one.
            let skip = (flags.trailing_zeros() / 8) as usize;
            if skip > 0 {
                if start.is_none() {
                    start = Some(i);
                }
                i += skip;
            }
        }
        let b = bytes[i];
        let (is_space, len) = match ASCII_CLASS[b as usize] {
            0 => (false, 1),
            1 => (true, 1),
            _ => {
                // `i` is on a char boundary: a non-ASCII lead byte.
                let c = text[i..].chars().next().unwrap_or('\u{fffd}');
                (is_py_space(c), c.len_utf8())
            }
        };
        if is_space {
            if let Some(s) = start.take() {
                chunk_tokens(&text[s..i], out, &mut scratch, sp);
            }
        } else if start.is_none() {
            start = Some(i);
        }
        i += len;
    }
    if let Some(s) = start {
        chunk_tokens(&text[s..], out, &mut scratch, sp);
    }
}

#[inline]
fn chunk_tokens<'a>(chunk: &'a str, out: &mut Vec<&'a str>, scratch: &mut Scratch, sp: &Specials) {
    let from = out.len();
    tokenize_chunk(chunk, out, scratch, Some(sp));
    // A run of two tokens covering the whole chunk would be the chunk itself, which was
    // looked up as a special case already: only chunks of three or more tokens can match.
    if out.len() - from >= 3 {
        apply_multi_specials(sp, chunk, out, from);
    }
}

/// Per byte: 0 an ASCII non-space character, 1 an ASCII space (Python `isspace`), 2 a byte
/// of a multi-byte character.
static ASCII_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i >= 0x80 {
            2
        } else if matches!(
            i as u8,
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' '
        ) {
            1
        } else {
            0
        };
        i += 1;
    }
    t
};

/// The number of sentences spaCy's sentencizer finds in a text made of `tokens` (as produced
/// by [`split_words`]). An empty token list counts as one sentence, as datatrove's
/// `split_into_sentences("")` returns one (empty) part.
pub fn count_sentences(tokens: &[&str]) -> usize {
    let mut n = 1;
    let mut seen_end = false;
    for t in tokens {
        let is_end = is_sentence_end(t);
        if seen_end && !is_end && !t.chars().all(is_unicode_punct) {
            n += 1;
            seen_end = false;
        } else if is_end {
            seen_end = true;
        }
    }
    n
}

/// datatrove's `split_into_sentences(text)`: `text` cut after the end of every sentence but
/// the last (sentences as [`count_sentences`] finds them); the parts cover the whole text, so
/// whitespace between sentences starts the next part.
pub fn split_sentences(text: &str) -> Vec<&str> {
    split_sentences_of(text, &words(text))
}

/// [`split_sentences`] over `toks`, the words of `text` (slices of it) as any segmenter splits
/// them.
pub fn split_sentences_of<'a>(text: &'a str, toks: &[&'a str]) -> Vec<&'a str> {
    let base = text.as_ptr() as usize;
    let mut parts = Vec::new();
    let mut start = 0;
    let mut prev_end = 0;
    let mut seen_end = false;
    for t in toks {
        let off = t.as_ptr() as usize - base;
        let is_end = is_sentence_end(t);
        if seen_end && !is_end && !t.chars().all(is_unicode_punct) {
            parts.push(&text[start..prev_end]);
            start = prev_end;
            seen_end = false;
        } else if is_end {
            seen_end = true;
        }
        prev_end = off + t.len();
    }
    parts.push(&text[start..]);
    parts
}

fn is_sentence_end(t: &str) -> bool {
    let mut it = t.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => {
            matches!(c, '.' | '!' | '?') || (!c.is_ascii() && in_ranges(SENT_PUNCT, c))
        }
        _ => false,
    }
}

/// Reused buffers for the prefixes and suffixes peeled off one chunk (byte ranges).
#[derive(Default)]
struct Scratch {
    prefixes: Vec<(usize, usize)>,
    suffixes: Vec<(usize, usize)>,
}

/// A small multiplicative hasher for the special-case table (keys are short strings).
#[derive(Default)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

struct Specials {
    map: FxMap<&'static str, &'static [&'static str]>,
    max_len: usize,
    /// Bloom bits over (length, first byte, last byte) of the keys: most words are rejected
    /// without hashing.
    bloom: Vec<u64>,
    /// Special cases that the affix rules split into several tokens, keyed by the first of
    /// those tokens: (the tokens, the special-case string). spaCy's last pass finds such token
    /// runs and re-splits them the special way.
    multi: FxMap<&'static str, Vec<(Vec<&'static str>, &'static str)>>,
    /// Which hyphens between two parts of a word are infixes (words of their own).
    hyphens: Hyphens,
}

/// When a hyphen inside a chunk is a word of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hyphens {
    /// After a letter or a digit and before a letter (spaCy's English infix).
    AfterLetterOrDigit,
    /// After a letter and before a letter (spaCy's shared infix).
    AfterLetter,
    /// Never: hyphenated words stay whole.
    Never,
}

fn specials(rules: Rules) -> &'static Specials {
    static EN: OnceLock<Specials> = OnceLock::new();
    static BASE: OnceLock<Specials> = OnceLock::new();
    static BASE_H: OnceLock<Specials> = OnceLock::new();
    match rules {
        Rules::English => {
            EN.get_or_init(|| build_specials(EN_SPECIALS, Hyphens::AfterLetterOrDigit))
        }
        Rules::Base => BASE
            .get_or_init(|| build_specials(&EN_SPECIALS[..SHARED_SPECIALS], Hyphens::AfterLetter)),
        Rules::BaseHyphenated => {
            BASE_H.get_or_init(|| build_specials(&EN_SPECIALS[..SHARED_SPECIALS], Hyphens::Never))
        }
    }
}

fn build_specials(
    table: &'static [(&'static str, &'static [&'static str])],
    hyphens: Hyphens,
) -> Specials {
    {
        let mut map = FxMap::with_capacity_and_hasher(table.len(), Default::default());
        let mut max_len = 0;
        let mut bloom = vec![0u64; BLOOM_BITS / 64];
        for &(k, v) in table {
            map.insert(k, v);
            max_len = max_len.max(k.len());
            let bit = bloom_bit(k);
            bloom[bit / 64] |= 1 << (bit % 64);
        }
        let mut multi: FxMap<&'static str, Vec<(Vec<&'static str>, &'static str)>> =
            FxMap::default();
        let mut scratch = Scratch::default();
        for &(k, _) in table {
            let mut toks = Vec::new();
            tokenize_chunk(k, &mut toks, &mut scratch, None);
            if toks.len() >= 2 {
                multi.entry(toks[0]).or_default().push((toks, k));
            }
        }
        Specials {
            map,
            max_len,
            bloom,
            multi,
            hyphens,
        }
    }
}

const BLOOM_BITS: usize = 1 << 16;

#[inline]
fn bloom_bit(s: &str) -> usize {
    let b = s.as_bytes();
    let f = b.first().copied().unwrap_or(0) as u64;
    let g = b.get(1).copied().unwrap_or(0) as u64;
    let l = b.last().copied().unwrap_or(0) as u64;
    let key = f | g << 8 | l << 16 | (b.len() as u64) << 24;
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize % BLOOM_BITS
}

#[inline(always)]
fn special(sp: Option<&Specials>, s: &str) -> Option<&'static [&'static str]> {
    let sp = sp?;
    if s.len() > sp.max_len || s.is_empty() {
        return None;
    }
    let bit = bloom_bit(s);
    if sp.bloom[bit / 64] & (1 << (bit % 64)) == 0 {
        return None;
    }
    special_slow(sp, s)
}

#[inline(never)]
fn special_slow(sp: &Specials, s: &str) -> Option<&'static [&'static str]> {
    sp.map.get(s).copied()
}

/// spaCy's `_apply_special_cases` within one chunk: token runs `out[from..]` that the affix
/// rules made out of a special-case string are re-split as that special case says. Longer
/// runs win over shorter ones, later over earlier; overlapping runs are skipped.
fn apply_multi_specials<'a>(sp: &Specials, chunk: &'a str, out: &mut Vec<&'a str>, from: usize) {
    let toks = &out[from..];
    let mut found: Vec<(usize, usize, &'static str)> = Vec::new();
    for i in 0..toks.len() {
        let Some(cands) = sp.multi.get(toks[i]) else {
            continue;
        };
        for (pat, key) in cands {
            if i + pat.len() <= toks.len()
                && toks[i..i + pat.len()].iter().zip(pat).all(|(a, b)| a == b)
            {
                found.push((i, i + pat.len(), key));
            }
        }
    }
    if found.is_empty() {
        return;
    }
    found.sort_by_key(|&(a, z, _)| (z - a, std::cmp::Reverse(a)));
    let mut seen = vec![false; toks.len()];
    let mut keep: Vec<(usize, usize, &'static str)> = Vec::new();
    for &(a, z, key) in found.iter().rev() {
        if !seen[a] && !seen[z - 1] {
            keep.push((a, z, key));
        }
        for s in &mut seen[a..z] {
            *s = true;
        }
    }
    keep.sort_by_key(|&(a, _, _)| a);
    // Byte offset of each token within the chunk (tokens are consecutive slices of it).
    let base = chunk.as_ptr() as usize;
    let old: Vec<&'a str> = out.drain(from..).collect();
    let mut i = 0;
    for (a, z, key) in keep {
        out.extend_from_slice(&old[i..a]);
        let start = old[a].as_ptr() as usize - base;
        let end = old[z - 1].as_ptr() as usize - base + old[z - 1].len();
        let region = &chunk[start..end];
        match special(Some(sp), key) {
            Some(pieces) if region == key => push_special(region, pieces, out),
            _ => out.extend_from_slice(&old[a..z]),
        }
        i = z;
    }
    out.extend_from_slice(&old[i..]);
}

/// Pushes the pieces of special case `pieces` (which concatenate to `s`) as slices of `s`.
fn push_special<'a>(s: &'a str, pieces: &[&str], out: &mut Vec<&'a str>) {
    let mut at = 0;
    for p in pieces {
        let end = (at + p.len()).min(s.len());
        if s.is_char_boundary(end) && end > at {
            out.push(&s[at..end]);
        }
        at = end;
    }
}

fn tokenize_chunk<'a>(
    chunk: &'a str,
    out: &mut Vec<&'a str>,
    scratch: &mut Scratch,
    sp: Option<&Specials>,
) {
    if let Some(p) = special(sp, chunk) {
        push_special(chunk, p, out);
        return;
    }
    // Letters only or digits only: no prefix, suffix, infix or URL rule can apply.
    let b = chunk.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    if letters == b.len() || b.iter().all(|c| c.is_ascii_digit()) {
        out.push(chunk);
        return;
    }
    // Letters and one closing punctuation mark ("word," "word."), the commonest case: the
    // mark is a suffix; what is left is a special case or one word (see `find_suffix`).
    if letters + 1 == b.len() && letters > 0 {
        let last = b[letters];
        let splits = match last {
            b',' | b';' | b':' | b'!' | b'?' | b')' | b']' | b'}' | b'"' | b'\'' | b'>' | b'*'
            | b'&' | b'#' | b'_' | b'`' => true,
            b'.' => {
                b[letters - 1].is_ascii_lowercase()
                    || (letters >= 2
                        && b[letters - 1].is_ascii_uppercase()
                        && b[letters - 2].is_ascii_uppercase())
            }
            _ => false,
        };
        if splits {
            let word = &chunk[..letters];
            match special(sp, word) {
                Some(p) => push_special(word, p, out),
                None => out.push(word),
            }
            out.push(&chunk[letters..]);
            return;
        }
    }
    scratch.prefixes.clear();
    scratch.suffixes.clear();
    let (mut lo, mut hi) = (0, chunk.len());
    let mut last = usize::MAX;
    while lo < hi && hi - lo != last {
        let s = &chunk[lo..hi];
        if special(sp, s).is_some() {
            break;
        }
        last = hi - lo;
        let pre = find_prefix(s);
        if pre != 0 {
            let minus = &s[pre..];
            if !minus.is_empty() && special(sp, minus).is_some() {
                scratch.prefixes.push((lo, lo + pre));
                lo += pre;
                break;
            }
        }
        let suf = find_suffix(&s[pre..]);
        if suf != 0 {
            let minus = &s[..s.len() - suf];
            if !minus.is_empty() && special(sp, minus).is_some() {
                scratch.suffixes.push((hi - suf, hi));
                hi -= suf;
                break;
            }
        }
        if pre != 0 && suf != 0 && pre + suf <= s.len() {
            scratch.prefixes.push((lo, lo + pre));
            scratch.suffixes.push((hi - suf, hi));
            lo += pre;
            hi -= suf;
        } else if pre != 0 {
            scratch.prefixes.push((lo, lo + pre));
            lo += pre;
        } else if suf != 0 {
            scratch.suffixes.push((hi - suf, hi));
            hi -= suf;
        }
    }
    for &(a, z) in &scratch.prefixes {
        emit(&chunk[a..z], out);
    }
    if lo < hi {
        let s = &chunk[lo..hi];
        if let Some(p) = special(sp, s) {
            push_special(s, p, out);
        } else if is_url(s) {
            out.push(s);
        } else {
            split_infixes(
                s,
                out,
                sp.map_or(Hyphens::AfterLetterOrDigit, |sp| sp.hyphens),
            );
        }
    }
    for &(a, z) in scratch.suffixes.iter().rev() {
        emit(&chunk[a..z], out);
    }
}

/// Pushes a token, splitting CJK ideographs and kana into one token per character.
#[inline]
fn emit<'a>(tok: &'a str, out: &mut Vec<&'a str>) {
    if tok.is_ascii() || !tok.chars().any(is_cjk) {
        out.push(tok);
        return;
    }
    let mut run_start: Option<usize> = None;
    for (i, c) in tok.char_indices() {
        if is_cjk(c) {
            if let Some(s) = run_start.take() {
                out.push(&tok[s..i]);
            }
            out.push(&tok[i..i + c.len_utf8()]);
        } else if run_start.is_none() {
            run_start = Some(i);
        }
    }
    if let Some(s) = run_start {
        out.push(&tok[s..]);
    }
}

/// Han ideographs (with radicals and iteration marks), Hiragana and Katakana.
#[inline]
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF | 0x3005..=0x3007 | 0x3021..=0x3029 | 0x3038..=0x303B | 0x3040..=0x30FF
        | 0x31F0..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF66..=0xFF9F
        | 0x20000..=0x3134F)
}

fn split_infixes<'a>(s: &'a str, out: &mut Vec<&'a str>, hyphens: Hyphens) {
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        if let Some(end) = infix_at(s, i, hyphens) {
            // spaCy skips a match at the very start: it stays part of the next piece.
            if i != 0 {
                if i != start {
                    emit(&s[start..i], out);
                }
                emit(&s[i..end], out);
                start = end;
            }
            i = end;
        } else {
            i += utf8_len(s.as_bytes()[i]);
        }
    }
    if start < s.len() {
        emit(&s[start..], out);
    }
}

#[inline]
fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[inline]
fn first_char(s: &str) -> Option<char> {
    s.chars().next()
}

#[inline]
fn last_char(s: &str) -> Option<char> {
    s.chars().next_back()
}

#[inline]
fn is_icon(c: char) -> bool {
    !c.is_ascii() && in_ranges(SP_ICONS, c)
}

#[inline]
fn sp_alpha(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic()
    } else {
        in_ranges(SP_ALPHA, c)
    }
}

#[inline]
fn sp_lower(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_lowercase()
    } else {
        in_ranges(SP_LOWER, c)
    }
}

#[inline]
fn sp_upper(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_uppercase()
    } else {
        in_ranges(SP_UPPER, c)
    }
}

fn one_char_list_contains(list: &[&str], c: char) -> bool {
    let mut buf = [0u8; 4];
    let s: &str = c.encode_utf8(&mut buf);
    list.contains(&s)
}

/// spaCy's `LIST_PUNCT` single characters.
#[inline]
fn is_sp_punct(c: char) -> bool {
    if c.is_ascii() {
        matches!(
            c,
            ',' | ':'
                | ';'
                | '!'
                | '?'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '_'
                | '#'
                | '*'
                | '&'
        )
    } else {
        one_char_list_contains(SP_PUNCT, c)
    }
}

/// spaCy's `LIST_QUOTES` (all single characters).
#[inline]
fn is_sp_quote(c: char) -> bool {
    if c.is_ascii() {
        matches!(c, '\'' | '"' | '`' | ',')
    } else {
        one_char_list_contains(SP_QUOTES, c)
    }
}

/// Length in bytes of the prefix spaCy's English prefix rules find at the start of `s`.
fn find_prefix(s: &str) -> usize {
    let Some(c) = first_char(s) else { return 0 };
    match c {
        '§' | '%' | '=' | '—' | '–' => return c.len_utf8(),
        '+' => {
            let next = s[1..].bytes().next();
            return if next.is_some_and(|b| b.is_ascii_digit()) {
                0
            } else {
                1
            };
        }
        '.' => {
            let run = s.bytes().take_while(|&b| b == b'.').count();
            return if run >= 2 { run } else { 0 };
        }
        _ => {}
    }
    if is_sp_punct(c) || is_sp_quote(c) || is_icon(c) {
        return c.len_utf8();
    }
    if c.is_ascii() && !matches!(c, '$' | 'U' | 'C' | 'A') {
        return 0;
    }
    for cur in SP_CURRENCY {
        if s.starts_with(cur) {
            return cur.len();
        }
    }
    0
}

/// Length in bytes of the suffix spaCy's English suffix rules find at the end of `s` (the
/// leftmost-starting match of any rule, as Python's `re.search` returns).
fn find_suffix(s: &str) -> usize {
    if s.is_empty() {
        return 0;
    }
    let bytes = s.as_bytes();
    if let Some(&last) = bytes.last() {
        // Closing punctuation: no rule of two or more characters ends with one of these, so
        // the suffix is that one character.
        if matches!(
            last,
            b',' | b':'
                | b';'
                | b'!'
                | b'?'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'<'
                | b'>'
                | b'_'
                | b'#'
                | b'*'
                | b'&'
                | b'\''
                | b'"'
                | b'`'
        ) {
            return 1;
        }
        if last == b'.' {
            let dots = bytes.iter().rev().take_while(|&&b| b == b'.').count();
            if dots >= 2 {
                return dots;
            }
            return if s.len() >= 2 && suffix_at(s, s.len() - 1) {
                1
            } else {
                0
            };
        }
        if last.is_ascii_alphanumeric() {
            // Only `'s` / `’s` and units after a number end in a letter or digit.
            if matches!(last, b's' | b'S')
                && (s[..s.len() - 1].ends_with('\'') || s[..s.len() - 1].ends_with('’'))
            {
                return if s[..s.len() - 1].ends_with('\'') {
                    2
                } else {
                    4
                };
            }
            let tail = bytes
                .iter()
                .rev()
                .take_while(|b| !b.is_ascii_digit())
                .count();
            if tail == 0 || tail == bytes.len() {
                return 0;
            }
            let rest = &s[s.len() - tail..];
            return if s.is_char_boundary(s.len() - tail) && SP_UNITS.contains(&rest) {
                tail
            } else {
                0
            };
        }
    }
    // A trailing run of two or more dots is one suffix wherever it starts.
    let dots = bytes.iter().rev().take_while(|&&b| b == b'.').count();
    let dot_start = if dots >= 2 {
        Some(s.len() - dots)
    } else {
        None
    };
    // Other rules span at most 6 characters.
    let mut starts = [0usize; 6];
    let mut n = 0;
    for (i, _) in s.char_indices().rev().take(6) {
        starts[n] = i;
        n += 1;
    }
    let earliest_short = if n > 0 { starts[n - 1] } else { s.len() };
    if let Some(d) = dot_start {
        if d < earliest_short {
            return s.len() - d;
        }
    }
    for k in (0..n).rev() {
        let p = starts[k];
        if dot_start == Some(p) || suffix_at(s, p) {
            return s.len() - p;
        }
    }
    0
}

fn suffix_at(s: &str, p: usize) -> bool {
    let rest = &s[p..];
    let head = &s[..p];
    let prev = last_char(head);
    let mut rc = rest.chars();
    let c0 = rc.next();
    let single = c0.is_some() && rc.next().is_none();
    if single {
        let c = c0.unwrap_or(' ');
        if is_sp_punct(c) || is_sp_quote(c) || is_icon(c) || c == '—' || c == '–' || c == '…'
        {
            return true;
        }
        if c == '+' && prev.is_some_and(|p| p.is_ascii_digit()) {
            return true;
        }
        if c == '.' {
            if let Some(pc) = prev {
                if dot_lookbehind(pc) {
                    return true;
                }
                let mut hc = head.chars().rev();
                let _ = hc.next();
                if let Some(pp) = hc.next() {
                    if pp == '°' && matches!(pc, 'F' | 'f' | 'C' | 'c' | 'K' | 'k') {
                        return true;
                    }
                    if sp_upper(pc) && sp_upper(pp) {
                        return true;
                    }
                }
            }
        }
    }
    if rest == "……" || matches!(rest, "'s" | "'S" | "’s" | "’S") {
        return true;
    }
    if rest.len() >= 2 && rest.bytes().all(|b| b == b'.') {
        return true;
    }
    if prev.is_some_and(|p| p.is_ascii_digit())
        && (SP_CURRENCY.contains(&rest) || SP_UNITS.contains(&rest))
    {
        return true;
    }
    false
}

/// The characters after which a final `.` is a suffix: `[0-9{al}%²\-\+{p}(?:{q})]` in spaCy.
#[inline]
fn dot_lookbehind(c: char) -> bool {
    c.is_ascii_digit()
        || sp_lower(c)
        || matches!(c, '%' | '²' | '-' | '+' | '|' | '(' | '?' | ':' | ')')
        || is_sp_punct(c)
        || c == '…'
        || is_sp_quote(c)
}

/// The end (bytes) of the infix match at byte `i` of `s`, if one of spaCy's English infix
/// rules matches there (tried in spaCy's order).
fn infix_at(s: &str, i: usize, hyphens: Hyphens) -> Option<usize> {
    let rest = &s[i..];
    let c = first_char(rest)?;
    if c.is_ascii_alphanumeric() {
        return None;
    }
    if rest.starts_with("..") {
        return Some(i + rest.bytes().take_while(|&b| b == b'.').count());
    }
    if c == '…' || is_icon(c) {
        return Some(i + c.len_utf8());
    }
    let prev = last_char(&s[..i])?;
    let after = &rest[c.len_utf8()..];
    let next = first_char(after);
    if prev.is_ascii_digit()
        && matches!(c, '+' | '-' | '*' | '^')
        && next.is_some_and(|n| n.is_ascii_digit() || n == '-')
    {
        return Some(i + 1);
    }
    if c == '.'
        && (sp_lower(prev) || is_sp_quote(prev))
        && next.is_some_and(|n| sp_upper(n) || is_sp_quote(n))
    {
        return Some(i + 1);
    }
    if c == ',' && sp_alpha(prev) && next.is_some_and(sp_alpha) {
        return Some(i + 1);
    }
    let hyphen_after = match hyphens {
        Hyphens::AfterLetterOrDigit => sp_alpha(prev) || prev.is_ascii_digit(),
        Hyphens::AfterLetter => sp_alpha(prev),
        Hyphens::Never => false,
    };
    if hyphen_after && matches!(c, '-' | '–' | '—' | '~') {
        for h in SP_HYPHENS {
            if let Some(after_h) = rest.strip_prefix(h) {
                if first_char(after_h).is_some_and(sp_alpha) {
                    return Some(i + h.len());
                }
            }
        }
    }
    if (sp_alpha(prev) || prev.is_ascii_digit())
        && matches!(c, ':' | '<' | '>' | '=' | '/')
        && next.is_some_and(sp_alpha)
    {
        return Some(i + 1);
    }
    None
}

/// spaCy's `URL_MATCH`: an optional scheme, optional user info, a host (domain with a
/// lowercase top-level label, or a public IPv4 address), optional port, optional path.
fn is_url(s: &str) -> bool {
    if !s.contains('.') {
        return false;
    }
    let mut starts = [0usize; 2];
    let mut n = 1;
    if let Some(k) = s.find("://") {
        let scheme = &s[..k];
        if scheme.chars().count() >= 2
            && scheme
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'))
        {
            starts[1] = k + 3;
            n = 2;
        }
    }
    for &st in &starts[..n] {
        let rest = &s[st..];
        if host_ok(rest) {
            return true;
        }
        for (a, _) in rest.match_indices('@') {
            if a >= 1 && host_ok(&rest[a + 1..]) {
                return true;
            }
        }
    }
    false
}

#[inline]
fn host_char(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '-' | '.')
        || ('\u{a1}'..='\u{ffff}').contains(&c)
}

#[inline]
fn label_edge_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ('\u{a1}'..='\u{ffff}').contains(&c)
}

fn host_ok(h: &str) -> bool {
    let end = h
        .char_indices()
        .find(|&(_, c)| !host_char(c))
        .map_or(h.len(), |(i, _)| i);
    let (host, tail) = h.split_at(end);
    if !tail_ok(tail) || host.is_empty() {
        return false;
    }
    public_ipv4_host(host) || domain_ok(host)
}

fn tail_ok(t: &str) -> bool {
    match t.as_bytes().first() {
        None => true,
        Some(b'/' | b'?' | b'#') => true,
        Some(b':') => {
            let digits = t[1..].bytes().take_while(|b| b.is_ascii_digit()).count();
            (2..=5).contains(&digits)
                && matches!(
                    t.as_bytes().get(1 + digits),
                    None | Some(b'/' | b'?' | b'#')
                )
        }
        _ => false,
    }
}

fn domain_ok(host: &str) -> bool {
    let Some(d) = host.rfind('.') else {
        return false;
    };
    let tld = &host[d + 1..];
    let tld_len = tld.chars().count();
    if !(2..=63).contains(&tld_len) || !tld.chars().all(sp_lower) {
        return false;
    }
    let labels = &host[..d];
    if labels.is_empty() {
        return false;
    }
    labels.split('.').all(|l| {
        let (Some(a), Some(z)) = (first_char(l), last_char(l)) else {
            return false;
        };
        label_edge_char(a) && label_edge_char(z) && l.chars().count() <= 64
    })
}

/// The IPv4 branch of spaCy's URL pattern: dotted quad, first octet 1-223, last 1-254, and not
/// in 10/8, 127/8, 169.254/16, 192.168/16 or 172.16/12.
fn public_ipv4_host(host: &str) -> bool {
    let mut parts = [0u32; 4];
    let mut n = 0;
    for (k, p) in host.split('.').enumerate() {
        if k >= 4 || p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        let v: u32 = p.parse().unwrap_or(999);
        let lead_zero = p.len() > 1 && p.starts_with('0');
        let ok = match k {
            0 => (1..=223).contains(&v) && !lead_zero,
            3 => (1..=254).contains(&v) && !lead_zero,
            _ => v <= 255 && !(p.len() == 3 && p.starts_with('0')),
        };
        if !ok {
            return false;
        }
        parts[k] = v;
        n += 1;
    }
    if n != 4 {
        return false;
    }
    !(parts[0] == 10
        || parts[0] == 127
        || (parts[0] == 169 && parts[1] == 254)
        || (parts[0] == 192 && parts[1] == 168)
        || (parts[0] == 172 && (16..=31).contains(&parts[1])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<&str> {
        words(s)
    }

    #[test]
    fn contractions_split_like_spacy() {
        assert_eq!(
            w("Don't stop. I can't! John's car isn't here."),
            [
                "Do", "n't", "stop", ".", "I", "ca", "n't", "!", "John", "'s", "car", "is", "n't",
                "here", "."
            ]
        );
        assert_eq!(w("rock'n'roll 'tis"), ["rock'n'roll", "'", "tis"]);
    }

    #[test]
    fn urls_and_emails_stay_whole() {
        assert_eq!(
            w("Visit https://example.com/path?x=1 or www.foo.org now."),
            [
                "Visit",
                "https://example.com/path?x=1",
                "or",
                "www.foo.org",
                "now",
                "."
            ]
        );
        assert_eq!(
            w("email me: foo.bar@baz.com"),
            ["email", "me", ":", "foo.bar@baz.com"]
        );
        assert_eq!(w("(http://x.y)"), ["(", "http://x.y", ")"]);
    }

    #[test]
    fn numbers_and_units() {
        assert_eq!(
            w("It costs $1,000.50 (approx.) e.g. 10km 5pm 3.14"),
            [
                "It", "costs", "$", "1,000.50", "(", "approx", ".", ")", "e.g.", "10", "km", "5",
                "pm", "3.14"
            ]
        );
        assert_eq!(
            w("x=1 100% 1.2.3.4 v1.2 12:30 3/4"),
            ["x=1", "100", "%", "1.2.3.4", "v1.2", "12:30", "3/4"]
        );
    }

    #[test]
    fn punctuation_runs() {
        assert_eq!(
            w("Wait... what?! Yes---no -- maybe... ok…"),
            [
                "Wait", "...", "what", "?", "!", "Yes", "---", "no", "--", "maybe", "...", "ok",
                "…"
            ]
        );
        assert_eq!(
            w("==== ---- ****"),
            ["=", "=", "=", "=", "----", "*", "*", "*", "*"]
        );
        assert_eq!(
            w("#hashtag ## heading"),
            ["#", "hashtag", "#", "#", "heading"]
        );
    }

    #[test]
    fn infixes() {
        assert_eq!(
            w("well-known a/b foo.bar foo.Bar end.Next U.S.A. Mr. Smith"),
            [
                "well", "-", "known", "a", "/", "b", "foo.bar", "foo", ".", "Bar", "end", ".",
                "Next", "U.S.A.", "Mr.", "Smith"
            ]
        );
        assert_eq!(
            w("Hello.World hello,world a:b"),
            ["Hello", ".", "World", "hello", ",", "world", "a", ":", "b"]
        );
    }

    #[test]
    fn emoji_are_tokens() {
        assert_eq!(w("emoji 😀👍🏽 done"), ["emoji", "😀", "👍", "🏽", "done"]);
    }

    #[test]
    fn cjk_per_character_hangul_by_space() {
        assert_eq!(
            w("中文 カナ 한국어 텍스트"),
            ["中", "文", "カ", "ナ", "한국어", "텍스트"]
        );
        assert_eq!(w("mixed日本abc"), ["mixed", "日", "本", "abc"]);
    }

    #[test]
    fn whitespace_is_never_a_token() {
        assert_eq!(w("  a\u{a0}\u{3000}b\n\n\tc \x1f"), ["a", "b", "c"]);
        assert!(w("").is_empty());
        assert!(w(" \n ").is_empty());
    }

    #[test]
    fn sentences_like_the_sentencizer() {
        let t =
            w("Hello world. This is e.g. a test! Another one? Yes. Mr. Smith went. 3.14 is pi.");
        assert_eq!(count_sentences(&t), 6);
        assert_eq!(count_sentences(&w("one two three")), 1);
        assert_eq!(count_sentences(&w("He said \"stop.\" Then left.")), 2);
        assert_eq!(count_sentences(&w("What?! Really...")), 2);
        assert_eq!(count_sentences(&[]), 1);
    }

    #[test]
    fn sentence_parts_cover_the_text() {
        assert_eq!(
            split_sentences("Hi there. How are you?  Fine."),
            ["Hi there.", " How are you?", "  Fine."]
        );
        assert_eq!(split_sentences("no end"), ["no end"]);
        assert_eq!(split_sentences(""), [""]);
    }

    #[test]
    fn ip_urls_exclude_private_ranges() {
        assert!(is_url("8.8.8.8"));
        assert!(!is_url("10.0.0.1"));
        assert!(!is_url("192.168.1.1"));
        assert!(is_url("foo.com:8080/x"));
        assert!(!is_url("e.g"));
    }
}
