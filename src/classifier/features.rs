//! Hashed n-gram features.
//!
//! A document becomes a list of bucket indices: one per word unigram, one per word
//! bigram, and optionally one per character n-gram. Hashing (instead of a vocabulary)
//! keeps the model a fixed size and makes extraction a single pass with no allocation
//! per word.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Default number of hash buckets (rows of the embedding table).
pub const DEFAULT_BUCKETS: u32 = 1 << 20;
/// Default number of leading words of a document that are used.
pub const DEFAULT_MAX_WORDS: u32 = 4096;
/// xxh3 seed for word unigrams (the lowercased word's UTF-8 bytes).
pub const SEED_UNIGRAM: u64 = 0x9E37_79B9_7F4A_7C15;
/// xxh3 seed for word bigrams (the two unigram hashes, little-endian, 16 bytes).
pub const SEED_BIGRAM: u64 = 0xC2B2_AE3D_27D4_EB4F;
/// Base xxh3 seed for character n-grams; an n-gram of `n` chars uses `SEED_CHAR + n`.
pub const SEED_CHAR: u64 = 0x1656_67B1_9E37_79F9;
/// Words longer than this many chars, in scripts written without spaces, get
/// character n-grams even when `char_ngrams` is off.
pub const LONG_WORD_CHARS: usize = 16;
/// Character n-gram orders used for long words in scripts written without spaces.
pub const LONG_WORD_NGRAMS: [u8; 2] = [2, 3];
/// At most this many leading chars of one word produce character n-grams.
pub const MAX_NGRAM_WORD_CHARS: usize = 256;
/// How text is normalised before hashing; stored in model files.
pub const NORMALIZATION: &str = "unicode-segmentation unicode_words() (UAX #29), \
     each word lowercased with char::to_lowercase; unigram = xxh3(word, seed_unigram), \
     bigram = xxh3(le(h1)||le(h2), seed_bigram), char n-gram = xxh3(chars, seed_char+n) \
     with '<' '>' word boundaries when char_ngrams is set, without them for long \
     no-space-script words; bucket = (hash * buckets) >> 64";

/// What features a document yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Number of hash buckets; every feature is an index below this.
    pub buckets: u32,
    /// Character n-gram orders `[min, max]` for every word, or `None` for words only.
    pub char_ngrams: Option<[u8; 2]>,
    /// Only the first this many words of a document are used.
    pub max_words: u32,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            buckets: DEFAULT_BUCKETS,
            char_ngrams: None,
            max_words: DEFAULT_MAX_WORDS,
        }
    }
}

impl FeatureConfig {
    /// Checks the values, describing the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        if self.buckets == 0 {
            return Err("buckets must be at least 1".into());
        }
        if self.max_words == 0 {
            return Err("max_words must be at least 1".into());
        }
        if let Some([lo, hi]) = self.char_ngrams {
            if lo == 0 || lo > hi {
                return Err(format!(
                    "char_ngrams [{lo}, {hi}] must satisfy 1 <= min <= max"
                ));
            }
        }
        Ok(())
    }
}

/// Reusable buffers for [`extract_into`], so extraction allocates nothing per word.
#[derive(Debug, Default)]
pub struct Scratch {
    word: Vec<u8>,
    gram: Vec<u8>,
    bounds: Vec<usize>,
}

/// The features of `text`, in a fresh vector.
pub fn extract(text: &str, cfg: &FeatureConfig) -> Vec<u32> {
    let mut out = Vec::new();
    extract_into(text, cfg, &mut Scratch::default(), &mut out);
    out
}

/// Replaces the contents of `out` with the features of `text`.
pub fn extract_into(text: &str, cfg: &FeatureConfig, scratch: &mut Scratch, out: &mut Vec<u32>) {
    out.clear();
    let buckets = cfg.buckets;
    let mut budget = cfg.max_words as usize;
    let mut prev: Option<u64> = None;
    let Scratch { word, gram, bounds } = scratch;
    for_each_word(text, |w| {
        lowercase_into(w, word);
        let h = xxh3_64_with_seed(word, SEED_UNIGRAM);
        out.push(bucket(h, buckets));
        if let Some(p) = prev {
            let mut pair = [0u8; 16];
            pair[..8].copy_from_slice(&p.to_le_bytes());
            pair[8..].copy_from_slice(&h.to_le_bytes());
            out.push(bucket(xxh3_64_with_seed(&pair, SEED_BIGRAM), buckets));
        }
        prev = Some(h);

        // A long no-space-script "word" stands for many words, so it pays for them.
        let long_chars = long_nonspace_chars(w);
        budget = budget.saturating_sub(long_chars.unwrap_or(1));
        if let Some([lo, hi]) = cfg.char_ngrams {
            gram.clear();
            gram.push(b'<');
            gram.extend_from_slice(word);
            gram.push(b'>');
            char_ngrams(gram, lo, hi, true, bounds, buckets, out);
        } else if long_chars.is_some() {
            let [lo, hi] = LONG_WORD_NGRAMS;
            char_ngrams(word, lo, hi, false, bounds, buckets, out);
        }
        budget > 0
    });
}

/// Calls `f` on each item of `text.unicode_words()`, in order, while it returns true.
///
/// UAX #29 segmentation is the main cost of extraction, so pure-ASCII stretches use an
/// exact ASCII transcription of its rules and only stretches around non-ASCII text go
/// through unicode-segmentation. A stretch may end between an ASCII whitespace char and
/// an ASCII non-whitespace char: UAX #29 always breaks there and no rule looks across a
/// whitespace char, so each stretch segments exactly as it does inside the whole text.
/// (Cutting inside a whitespace run would be wrong: WB3d keeps spaces together and WB4
/// attaches a following combining mark, which may be alphabetic.)
pub fn for_each_word<'t>(text: &'t str, mut f: impl FnMut(&'t str) -> bool) {
    let b = text.as_bytes();
    let mut start = 0;
    while start < b.len() {
        let Some(j) = b[start..]
            .iter()
            .position(|&c| c >= 0x80)
            .map(|j| start + j)
        else {
            ascii_words(&text[start..], &mut f);
            return;
        };
        // Last cut before the non-ASCII byte, and first cut after it.
        let cut = |k: usize| {
            is_ascii_space(b[k])
                && b.get(k + 1)
                    .is_some_and(|&c| c < 0x80 && !is_ascii_space(c))
        };
        let s = (start..j.saturating_sub(1))
            .rev()
            .find(|&k| cut(k))
            .map_or(start, |k| k + 1);
        let e = (j + 1..b.len())
            .find(|&k| cut(k))
            .map_or(b.len(), |k| k + 1);
        if !ascii_words(&text[start..s], &mut f) || !text[s..e].unicode_words().all(&mut f) {
            return;
        }
        start = e;
    }
}

#[inline]
fn is_ascii_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C)
}

#[inline]
fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// `unicode_words()` for ASCII text: letters, digits and `_` join (WB5, WB8-WB10,
/// WB13a-b); `:` `.` `'` join two letters (WB6-7); `,` `;` `.` `'` join two digits
/// (WB11-12); everything else breaks, and only segments with a letter or digit count.
fn ascii_words<'t>(text: &'t str, f: &mut impl FnMut(&'t str) -> bool) -> bool {
    let b = text.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        if !is_word_byte(b[i]) {
            i += 1;
            continue;
        }
        let s = i;
        let mut alnum = b[i] != b'_';
        i += 1;
        while i < n {
            if is_word_byte(b[i]) {
                alnum |= b[i] != b'_';
                i += 1;
                continue;
            }
            let Some(&next) = b.get(i + 1) else { break };
            let prev = b[i - 1];
            let letters = prev.is_ascii_alphabetic()
                && next.is_ascii_alphabetic()
                && matches!(b[i], b':' | b'.' | b'\'');
            let digits = prev.is_ascii_digit()
                && next.is_ascii_digit()
                && matches!(b[i], b',' | b';' | b'.' | b'\'');
            if !(letters || digits) {
                break;
            }
            alnum = true;
            i += 2;
        }
        if alnum && !f(&text[s..i]) {
            return false;
        }
    }
    true
}

/// Maps a 64-bit hash onto `[0, buckets)` without a division.
#[inline]
fn bucket(h: u64, buckets: u32) -> u32 {
    ((h as u128 * buckets as u128) >> 64) as u32
}

#[inline]
fn lowercase_into(w: &str, buf: &mut Vec<u8>) {
    buf.clear();
    if w.is_ascii() {
        buf.extend(w.bytes().map(|b| b.to_ascii_lowercase()));
    } else {
        let mut tmp = [0u8; 4];
        for c in w.chars() {
            for l in c.to_lowercase() {
                buf.extend_from_slice(l.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
}

/// The char count of `w` when it is longer than [`LONG_WORD_CHARS`] and starts in a
/// script written without spaces, else `None`.
#[inline]
fn long_nonspace_chars(w: &str) -> Option<usize> {
    // Byte length bounds char count from above, so short words skip the char scan.
    if w.len() <= LONG_WORD_CHARS || w.is_ascii() {
        return None;
    }
    let first = w.chars().next()?;
    if !is_nonspace_script(first) {
        return None;
    }
    let n = w.chars().count();
    (n > LONG_WORD_CHARS).then_some(n)
}

/// Scripts whose text has no spaces between words.
fn is_nonspace_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0EFF      // Thai, Lao
        | 0x1000..=0x109F    // Myanmar
        | 0x1780..=0x17FF    // Khmer
        | 0x19E0..=0x19FF    // Khmer symbols
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x31F0..=0x31FF    // Katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // halfwidth Katakana
        | 0x20000..=0x3FFFF // CJK extensions B and later
    )
}

/// Pushes the buckets of the char `lo..=hi`-grams of the UTF-8 bytes `s`.
fn char_ngrams(
    s: &[u8],
    lo: u8,
    hi: u8,
    marked: bool,
    bounds: &mut Vec<usize>,
    buckets: u32,
    out: &mut Vec<u32>,
) {
    bounds.clear();
    let cap = MAX_NGRAM_WORD_CHARS + 2 * marked as usize;
    // Continuation bytes are 0b10xx_xxxx; every other byte starts a char.
    bounds.extend(
        s.iter()
            .enumerate()
            .filter(|&(_, &b)| (b as i8) >= -0x40)
            .map(|(i, _)| i)
            .take(cap + 1),
    );
    // Past the cap, the first dropped char's start already ends the last kept one.
    if bounds.len() <= cap {
        bounds.push(s.len());
    }
    let nchars = bounds.len() - 1;
    for n in lo as usize..=hi as usize {
        if n > nchars {
            break;
        }
        let seed = SEED_CHAR.wrapping_add(n as u64);
        for i in 0..=nchars - n {
            // A lone boundary marker says nothing about the word.
            if marked && n == 1 && (i == 0 || i == nchars - 1) {
                continue;
            }
            let g = &s[bounds[i]..bounds[i + n]];
            out.push(bucket(xxh3_64_with_seed(g, seed), buckets));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> FeatureConfig {
        FeatureConfig {
            buckets: 1 << 16,
            ..FeatureConfig::default()
        }
    }

    #[test]
    fn unigrams_and_bigrams_lowercased() {
        let cfg = small();
        let a = extract("Hello World", &cfg);
        let b = extract("hello, WORLD!", &cfg);
        assert_eq!(a.len(), 3);
        assert_eq!(a, b);
        assert!(a.iter().all(|&f| f < cfg.buckets));
        assert_ne!(extract("world hello", &cfg)[2], a[2]);
        assert!(extract("", &cfg).is_empty());
        assert!(extract(" ,.;", &cfg).is_empty());
    }

    fn words(text: &str) -> Vec<&str> {
        let mut v = Vec::new();
        for_each_word(text, |w| {
            v.push(w);
            true
        });
        v
    }

    #[test]
    fn word_split_matches_unicode_words() {
        let pieces = [
            "a", "Z", "q", "0", "7", "_", ".", ":", ",", ";", "'", "\"", " ", "  ", "\t", "\n",
            "\r\n", "\u{b}", "-", "/", "<", ">", "=", "&", "#", "é", "¶", "中", "文", "\u{301}",
            "\u{200d}", "\u{93f}", "\u{2019}", "\u{a0}", "🇩", "🇪", "ー", "カ", "ﬁ", "٣", "ß",
        ];
        let mut rng = super::super::rng::SplitMix64::new(9);
        for round in 0..20_000 {
            // Half the cases are pure ASCII, which exercises the fast path alone.
            let alphabet = if round % 2 == 0 {
                &pieces[..25]
            } else {
                &pieces[..]
            };
            let len = rng.below(24) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            let expected: Vec<&str> = text.unicode_words().collect();
            assert_eq!(words(&text), expected, "{text:?}");
        }
        let sample = "Visit os.path at 3,141.59 e.g. x:y can't _a_ __ ¶ naïve\u{301} 中文 end.";
        assert_eq!(words(sample), sample.unicode_words().collect::<Vec<_>>());
        let mut first = Vec::new();
        for_each_word("one two three", |w| {
            first.push(w);
            false
        });
        assert_eq!(first, ["one"]);
    }

    #[test]
    fn non_ascii_lowercase() {
        let cfg = small();
        assert_eq!(extract("ÉCOLE Straße", &cfg), extract("école straße", &cfg));
    }

    #[test]
    fn max_words_bounds_features() {
        let cfg = FeatureConfig {
            max_words: 10,
            ..small()
        };
        let text = "word ".repeat(1000);
        assert_eq!(extract(&text, &cfg).len(), 10 + 9);
    }

    #[test]
    fn cjk_and_thai_text_has_features() {
        let cfg = small();
        assert!(!extract("中华人民共和国成立于一九四九年", &cfg).is_empty());
        assert!(!extract("ภาษาไทยเป็นภาษาที่ไม่มีการเว้นวรรค", &cfg).is_empty());
        assert!(!extract("インストーラを起動する", &cfg).is_empty());
    }

    #[test]
    fn long_nonspace_words_get_char_ngrams() {
        let cfg = small();
        // A Katakana run segments as a single word.
        let word = "インストールガイドドキュメンテーション";
        assert!(word.chars().count() > LONG_WORD_CHARS);
        let n = word.chars().count();
        let feats = extract(word, &cfg);
        assert_eq!(feats.len(), 1 + (n - 1) + (n - 2));
        // A long Latin word does not.
        assert_eq!(extract("internationalizationalism", &cfg).len(), 1);
    }

    #[test]
    fn configured_char_ngrams() {
        let cfg = FeatureConfig {
            char_ngrams: Some([2, 3]),
            ..small()
        };
        // "<ab>" has 3 bigrams and 2 trigrams, plus the unigram.
        assert_eq!(extract("ab", &cfg).len(), 1 + 3 + 2);
        let cfg1 = FeatureConfig {
            char_ngrams: Some([1, 1]),
            ..small()
        };
        // Markers alone are skipped: 'a', 'b'.
        assert_eq!(extract("ab", &cfg1).len(), 1 + 2);
        let long = "x".repeat(10 * MAX_NGRAM_WORD_CHARS);
        assert!(extract(&long, &cfg1).len() <= 1 + MAX_NGRAM_WORD_CHARS + 2);
    }

    #[test]
    fn validate_rejects_bad_values() {
        assert!(FeatureConfig::default().validate().is_ok());
        let bad = FeatureConfig {
            char_ngrams: Some([3, 2]),
            ..FeatureConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = FeatureConfig {
            buckets: 0,
            ..FeatureConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}
