//! Shingles and MinHash signatures.
//!
//! # Shingles
//!
//! The text is simplified on the fly, without building a simplified copy: accents are
//! stripped (canonical decomposition, then combining marks dropped), letters lowercased,
//! numeric characters turned into `0`, and every other character (whitespace, punctuation,
//! symbols) ends a token. Han ideographs, hiragana and katakana are tokens of their own (CJK
//! text has no spaces between words), so CJK text gets character n-grams, and mixed text a
//! mix. Hangul, which is written with spaces, is split into words like Latin text. This is a
//! deliberately simple word split owned by dedup (not UAX #29): it only has to be stable.
//!
//! Each token is hashed (xxh3-64); a shingle is `n` consecutive tokens, hashed with seeded
//! xxh3-64 over its token hashes. A text with fewer than `n` tokens has one shingle (all of
//! them); a text with no token has none.
//!
//! # Signatures
//!
//! `bands × rows` hash functions `h_i(x) = (a_i · x + b_i) >> 32` (64-bit wrapping arithmetic,
//! `a_i` odd), with `a_i`, `b_i` drawn from seeded xxh3: each is a bijection of the 64-bit
//! shingle hash, and shingle hashes are uniform, so every `h_i` is a uniform random ordering of
//! the shingles. The signature is the minimum of each `h_i` over the shingles (`u32`). Band `j`
//! is rows `j·r .. (j+1)·r`; its key is the top 48 bits of seeded xxh3-64 of those rows.

use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Longest shingle (in tokens) the config accepts.
pub const MAX_NGRAM: usize = 32;
/// Most rows per band the config accepts.
pub const MAX_ROWS: usize = 32;

/// True for characters that are tokens of their own: Han ideographs, hiragana, katakana.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x31F0..=0x31FF    // katakana phonetic extensions
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF66..=0xFF9F    // halfwidth katakana
        | 0x20000..=0x323AF  // CJK extensions B..H
    )
}

/// Reusable buffers, one per worker thread.
#[derive(Debug, Default)]
pub struct Scratch {
    token: Vec<u8>,
    tokens: Vec<u64>,
    shingles: Vec<u64>,
}

/// `sig[i] = min(sig[i], (a[i]·x + b[i]) >> 32)` over every shingle hash `x`: the hot loop.
#[inline(always)]
fn min_hashes(xs: &[u64], a: &[u64], b: &[u64], sig: &mut [u32]) {
    for &x in xs {
        for ((m, &ai), &bi) in sig.iter_mut().zip(a).zip(b) {
            let h = (ai.wrapping_mul(x).wrapping_add(bi) >> 32) as u32;
            *m = (*m).min(h);
        }
    }
}

/// [`min_hashes`] compiled for AVX2 (about 3x faster on 64-bit lanes); same arithmetic, so the
/// same signatures on every machine.
///
/// # Safety
///
/// The CPU must support AVX2 (checked once in [`MinHasher::new`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn min_hashes_avx2(xs: &[u64], a: &[u64], b: &[u64], sig: &mut [u32]) {
    min_hashes(xs, a, b, sig)
}

/// Computes shingles, signatures and band keys for one configuration.
#[derive(Debug, Clone)]
pub struct MinHasher {
    ngram: usize,
    bands: usize,
    rows: usize,
    seed: u64,
    a: Vec<u64>,
    b: Vec<u64>,
    /// The CPU has AVX2 (runtime check).
    avx2: bool,
}

impl MinHasher {
    /// A hasher with `bands × rows` hash functions over `ngram`-token shingles.
    pub fn new(bands: usize, rows: usize, ngram: usize, seed: u64) -> Self {
        let bands = bands.max(1);
        let rows = rows.clamp(1, MAX_ROWS);
        let n = bands * rows;
        let a = (0..n as u64)
            .map(|i| xxh3_64_with_seed(&(2 * i).to_le_bytes(), seed) | 1)
            .collect();
        let b = (0..n as u64)
            .map(|i| xxh3_64_with_seed(&(2 * i + 1).to_le_bytes(), seed))
            .collect();
        #[cfg(target_arch = "x86_64")]
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2 = false;
        MinHasher {
            ngram: ngram.clamp(1, MAX_NGRAM),
            bands,
            rows,
            seed,
            a,
            b,
            avx2,
        }
    }

    /// Hash functions per signature (`bands × rows`).
    pub fn num_hashes(&self) -> usize {
        self.a.len()
    }

    /// Number of bands.
    pub fn bands(&self) -> usize {
        self.bands
    }

    /// The token hashes of `text`, into `scratch.tokens`.
    fn tokenize(&self, text: &str, s: &mut Scratch) {
        s.tokens.clear();
        s.token.clear();
        let Scratch { token, tokens, .. } = s;
        let end = |token: &mut Vec<u8>, tokens: &mut Vec<u64>| {
            if !token.is_empty() {
                tokens.push(xxh3_64(token));
                token.clear();
            }
        };
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if c < 0x80 {
                i += 1;
                if c.is_ascii_alphabetic() {
                    token.push(c.to_ascii_lowercase());
                } else if c.is_ascii_digit() {
                    token.push(b'0');
                } else {
                    end(token, tokens);
                }
                continue;
            }
            let Some(ch) = text[i..].chars().next() else {
                break;
            };
            i += ch.len_utf8();
            decompose_canonical(ch, |d| {
                if is_combining_mark(d) {
                    return;
                }
                if d.is_ascii() {
                    let c = d as u8;
                    if c.is_ascii_alphabetic() {
                        token.push(c.to_ascii_lowercase());
                    } else if c.is_ascii_digit() {
                        token.push(b'0');
                    } else {
                        end(token, tokens);
                    }
                } else if is_cjk(d) {
                    end(token, tokens);
                    let mut buf = [0u8; 4];
                    tokens.push(xxh3_64(d.encode_utf8(&mut buf).as_bytes()));
                } else if d.is_numeric() {
                    token.push(b'0');
                } else if d.is_alphabetic() {
                    let mut buf = [0u8; 4];
                    for l in d.to_lowercase() {
                        token.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                    }
                } else {
                    end(token, tokens);
                }
            });
        }
        end(token, tokens);
    }

    /// Calls `f` with the hash of every shingle of `text` (repeats included), in text order.
    pub fn for_each_shingle(&self, text: &str, s: &mut Scratch, mut f: impl FnMut(u64)) {
        self.tokenize(text, s);
        let t = &s.tokens;
        if t.is_empty() {
            return;
        }
        let n = self.ngram.min(t.len());
        let mut buf = [0u8; 8 * MAX_NGRAM];
        for w in t.windows(n) {
            for (j, h) in w.iter().enumerate() {
                buf[j * 8..j * 8 + 8].copy_from_slice(&h.to_le_bytes());
            }
            f(xxh3_64_with_seed(&buf[..n * 8], self.seed));
        }
    }

    /// True when `text` has at least one shingle (then [`MinHasher::signature`] returns true).
    pub fn has_shingles(&self, text: &str, s: &mut Scratch) -> bool {
        self.tokenize(text, s);
        !s.tokens.is_empty()
    }

    /// The distinct shingle hashes of `text`, sorted (the oracle's view of a document).
    pub fn shingle_set(&self, text: &str) -> Vec<u64> {
        let mut s = Scratch::default();
        let mut v = Vec::new();
        self.for_each_shingle(text, &mut s, |x| v.push(x));
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Writes the signature of `text` into `sig` (`num_hashes` long). Returns false, leaving
    /// `sig` all `u32::MAX`, when the text has no shingle.
    pub fn signature(&self, text: &str, s: &mut Scratch, sig: &mut [u32]) -> bool {
        sig.fill(u32::MAX);
        let mut xs = std::mem::take(&mut s.shingles);
        xs.clear();
        self.for_each_shingle(text, s, |x| xs.push(x));
        let n = sig.len().min(self.a.len());
        let (a, b, sig_n) = (&self.a[..n], &self.b[..n], &mut sig[..n]);
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only when the CPU reported AVX2 support.
            unsafe { min_hashes_avx2(&xs, a, b, sig_n) };
        } else {
            min_hashes(&xs, a, b, sig_n);
        }
        #[cfg(not(target_arch = "x86_64"))]
        min_hashes(&xs, a, b, sig_n);
        let any = !xs.is_empty();
        s.shingles = xs;
        any
    }

    /// The band keys (top 48 bits of seeded xxh3-64 of each band's rows) of a signature.
    pub fn band_keys(&self, sig: &[u32], keys: &mut [u64]) {
        let mut buf = [0u8; 4 * MAX_ROWS];
        for (j, k) in keys.iter_mut().enumerate().take(self.bands) {
            let rows = &sig[j * self.rows..(j + 1) * self.rows];
            for (r, v) in rows.iter().enumerate() {
                buf[r * 4..r * 4 + 4].copy_from_slice(&v.to_le_bytes());
            }
            let seed = self.seed ^ (j as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            *k = xxh3_64_with_seed(&buf[..self.rows * 4], seed) >> 16;
        }
    }
}

/// Exact Jaccard similarity of two sorted, deduplicated sets.
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut inter) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                inter += 1;
                i += 1;
                j += 1;
            }
        }
    }
    inter as f64 / (a.len() + b.len() - inter) as f64
}

/// Fraction of equal rows of two signatures: the MinHash estimate of their Jaccard similarity.
pub fn estimated_jaccard(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> usize {
        let h = MinHasher::new(14, 8, 5, 0);
        let mut s = Scratch::default();
        h.tokenize(text, &mut s);
        s.tokens.len()
    }

    #[test]
    fn simplification_makes_variants_equal() {
        let h = MinHasher::new(14, 8, 3, 42);
        let a = h.shingle_set("The Café opened in 1984, didn't it?");
        let b = h.shingle_set("the  cafe OPENED in 2023 -- didn t it");
        assert_eq!(a, b);
        assert_eq!(a.len(), 6, "8 tokens give 6 trigrams");
        assert_ne!(a, h.shingle_set("the cafe closed in 2023 didn t it"));
    }

    #[test]
    fn cjk_gets_character_tokens() {
        assert_eq!(tokens("日本語のテキスト"), 8);
        assert_eq!(tokens("Debian 安装指南 v12"), 6);
        assert_eq!(
            tokens("한국어 텍스트입니다"),
            2,
            "hangul is split at spaces"
        );
        assert_eq!(tokens("Привет, мир!"), 2);
        assert_eq!(tokens(" ... --- "), 0);
    }

    #[test]
    fn short_texts_have_one_shingle_and_empty_ones_none() {
        let h = MinHasher::new(14, 8, 5, 0);
        assert_eq!(h.shingle_set("just three words").len(), 1);
        assert!(h.shingle_set("!!! ???").is_empty());
        let mut s = Scratch::default();
        let mut sig = vec![0u32; h.num_hashes()];
        assert!(!h.signature("  ", &mut s, &mut sig));
        assert!(sig.iter().all(|&v| v == u32::MAX));
        assert!(h.signature("one", &mut s, &mut sig));
    }

    #[test]
    fn signatures_estimate_jaccard() {
        let h = MinHasher::new(32, 8, 2, 7);
        let words: Vec<String> = (0..400).map(|i| format!("w{}", i * 7919 % 1000)).collect();
        let a = words.join(" ");
        let b = words[..300].join(" ")
            + " "
            + &(0..100)
                .map(|i| format!("x{i}"))
                .collect::<Vec<_>>()
                .join(" ");
        let (sa, sb) = (h.shingle_set(&a), h.shingle_set(&b));
        let j = jaccard(&sa, &sb);
        let mut s = Scratch::default();
        let mut ga = vec![0; h.num_hashes()];
        let mut gb = vec![0; h.num_hashes()];
        h.signature(&a, &mut s, &mut ga);
        h.signature(&b, &mut s, &mut gb);
        let e = estimated_jaccard(&ga, &gb);
        // 256 hashes: the standard error is about sqrt(j(1-j)/256) < 0.032.
        assert!((e - j).abs() < 0.1, "estimate {e} vs exact {j}");
        let mut ka = vec![0; 32];
        let mut kb = vec![0; 32];
        h.band_keys(&ga, &mut ka);
        h.band_keys(&gb, &mut kb);
        assert!(ka.iter().all(|&k| k < 1 << 48));
        // A band key is equal exactly when the band's rows are.
        for j in 0..32 {
            assert_eq!(ka[j] == kb[j], ga[j * 8..j * 8 + 8] == gb[j * 8..j * 8 + 8]);
        }
    }

    #[test]
    fn vector_and_scalar_paths_agree() {
        let mut h = MinHasher::new(14, 8, 5, 3);
        let text = "one two three four five six seven eight nine ten eleven twelve ".repeat(20);
        let mut s = Scratch::default();
        let mut fast = vec![0u32; h.num_hashes()];
        h.signature(&text, &mut s, &mut fast);
        h.avx2 = false;
        let mut slow = vec![0u32; h.num_hashes()];
        h.signature(&text, &mut s, &mut slow);
        assert_eq!(fast, slow);
    }

    #[test]
    fn jaccard_of_sets() {
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard(&[], &[]), 1.0);
        assert_eq!(jaccard(&[1], &[]), 0.0);
    }
}
