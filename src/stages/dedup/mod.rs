//! Deduplication: `exact_dedup`, `minhash_dedup` and `paragraph_dedup`.
//!
//! All three are [`Stateful`](crate::stage::Stateful) stages with one rule in common: **the
//! first document of a duplicate group in input order is kept**, and a verdict depends only on
//! the documents before it, never on batch boundaries, thread counts or where the index happens
//! to live (memory or disk). They work in the streaming way the runner drives them: for each
//! batch, the expensive per-document work (normalizing and hashing, MinHash signatures) runs in
//! parallel, then one thread walks the batch in input order, asks the index and inserts what is
//! kept.
//!
//! - [`exact`]: xxh3-128 of the normalized text; the index maps hash → kept ordinal.
//! - [`minhash`]: MinHash signatures over word (or CJK character) n-gram shingles, banded
//!   LSH ([`lsh`]) whose index spills to disk past a memory budget.
//! - [`paragraph`]: removes paragraphs (or lines) seen before in the run, ccnet-style.
//!
//! Dropped documents carry `duplicate_of` (the kept document's id) and `cluster_id`, which is
//! [`cluster_id`] of the kept document's id; every document a document-level dedup stage keeps
//! gets its own `cluster_id` too, so `dropped.cluster_id = documents.cluster_id` joins a group.
//!
//! Shared pieces: [`TextNorm`] (the configurable normalization hashed by `exact_dedup` and
//! `paragraph_dedup`) and [`store`] (append-only stores of kept ids and signatures that can
//! move to disk).

pub mod exact;
pub mod lsh;
pub mod minhash;
pub mod paragraph;
pub mod shingle;
pub mod store;

use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use xxhash_rust::xxh3::Xxh3;

/// The end-of-run verdict of a dedup stage that met `n` disk errors: documents whose index
/// lookup failed were kept without a decision, so the run must not pass as complete.
pub(crate) fn io_failure(n: u64) -> Result<(), String> {
    if n == 0 {
        Ok(())
    } else {
        Err(format!(
            "{n} disk errors in the dedup index or id store (see the log); documents met then \
             were kept undecided, so the output is not trusted"
        ))
    }
}

/// The `cluster_id` of a duplicate group: xxh3-64 of the kept document's id. It is the same
/// in every stage, run, task split and batch size, so groups found by `exact_dedup` and
/// `minhash_dedup` can be followed from one to the other.
pub fn cluster_id(kept_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(kept_id.as_bytes())
}

/// Which normalizations to apply before hashing a text (or a paragraph).
///
/// Punctuation means every character that is neither a letter, a digit, whitespace nor a
/// combining mark (so symbols such as `$` and emoji count as punctuation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextNorm {
    /// Lowercase (Unicode `to_lowercase`).
    pub lowercase: bool,
    /// Collapse every run of whitespace to one space and trim both ends.
    pub collapse_whitespace: bool,
    /// Remove punctuation (see above).
    pub remove_punctuation: bool,
    /// Replace every numeric character with `0`.
    pub digits_to_zero: bool,
    /// Strip accents: canonical decomposition (NFD), then drop combining marks.
    pub strip_accents: bool,
}

/// Where normalized bytes go: a hasher, or a string in tests.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Xxh3 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Collects output bytes in a stack buffer and hands them to the sink in chunks, so that
/// hashing a normalized text allocates nothing.
struct Out<'a, S: Sink> {
    buf: [u8; 512],
    len: usize,
    sink: &'a mut S,
    /// A space is owed before the next non-space character (collapsing mode).
    pending_space: bool,
    /// Something has been written (leading whitespace is trimmed when collapsing).
    started: bool,
}

impl<'a, S: Sink> Out<'a, S> {
    fn new(sink: &'a mut S) -> Self {
        Out {
            buf: [0; 512],
            len: 0,
            sink,
            pending_space: false,
            started: false,
        }
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        if self.len == self.buf.len() {
            self.sink.put(&self.buf);
            self.len = 0;
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    #[inline]
    fn visible(&mut self, c: char) {
        if self.pending_space {
            self.byte(b' ');
            self.pending_space = false;
        }
        self.started = true;
        if c.is_ascii() {
            self.byte(c as u8);
        } else {
            let mut tmp = [0u8; 4];
            for &b in c.encode_utf8(&mut tmp).as_bytes() {
                self.byte(b);
            }
        }
    }

    fn finish(self) {
        if self.len > 0 {
            self.sink.put(&self.buf[..self.len]);
        }
    }
}

/// Table entry of an ASCII byte that is whitespace.
const SPACE: u8 = 0x80;
/// Table entry of an ASCII byte that is removed.
const SKIP: u8 = 0x81;

/// A [`TextNorm`] ready to run: what to do with every ASCII byte is looked up in a table, so
/// the common case (ASCII text) costs a load and a store per byte.
#[derive(Debug, Clone)]
pub struct Normalizer {
    norm: TextNorm,
    /// For each ASCII byte: the byte to write (< 0x80), [`SPACE`] or [`SKIP`].
    ascii: [u8; 128],
}

impl TextNorm {
    /// The normalizer for these settings (build it once, use it for every text).
    pub fn compile(self) -> Normalizer {
        let mut ascii = [0u8; 128];
        for (b, slot) in ascii.iter_mut().enumerate() {
            let b = b as u8;
            *slot = if b.is_ascii_whitespace() || b == 0x0b {
                SPACE
            } else if b.is_ascii_digit() && self.digits_to_zero {
                b'0'
            } else if b.is_ascii_alphabetic() && self.lowercase {
                b.to_ascii_lowercase()
            } else if b.is_ascii_alphanumeric() || !self.remove_punctuation {
                b
            } else {
                SKIP
            };
        }
        Normalizer { norm: self, ascii }
    }

    /// xxh3-128 of the normalized text (compiles the settings on every call).
    pub fn hash128(&self, text: &str) -> u128 {
        self.compile().hash128(text)
    }

    /// xxh3-64 of the normalized text (compiles the settings on every call).
    pub fn hash64(&self, text: &str) -> u64 {
        self.compile().hash64(text)
    }

    /// The normalized text itself (for tests and for showing users what is compared).
    pub fn apply(&self, text: &str) -> String {
        self.compile().apply(text)
    }

    /// True when the normalized form of `text` is empty.
    pub fn is_empty_after(&self, text: &str) -> bool {
        self.compile().is_empty_after(text)
    }
}

impl Normalizer {
    /// xxh3-128 of the normalized text.
    pub fn hash128(&self, text: &str) -> u128 {
        let mut h = Xxh3::new();
        self.feed(text, &mut h);
        h.digest128()
    }

    /// xxh3-64 of the normalized text.
    pub fn hash64(&self, text: &str) -> u64 {
        let mut h = Xxh3::new();
        self.feed(text, &mut h);
        h.digest()
    }

    /// xxh3-64 of the normalized text, or `None` when it normalizes to nothing (one pass).
    pub fn hash64_nonempty(&self, text: &str) -> Option<u64> {
        struct Counted(Xxh3, bool);
        impl Sink for Counted {
            fn put(&mut self, bytes: &[u8]) {
                self.1 |= !bytes.is_empty();
                self.0.update(bytes);
            }
        }
        let mut c = Counted(Xxh3::new(), false);
        self.feed(text, &mut c);
        c.1.then(|| c.0.digest())
    }

    /// The normalized text itself.
    pub fn apply(&self, text: &str) -> String {
        let mut v = Vec::with_capacity(text.len());
        self.feed(text, &mut v);
        // Every byte written comes from whole `char`s, so this cannot fail; fall back to a
        // lossy copy rather than panic if it ever did.
        String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// True when the normalized form of `text` is empty.
    pub fn is_empty_after(&self, text: &str) -> bool {
        struct Any(bool);
        impl Sink for Any {
            fn put(&mut self, bytes: &[u8]) {
                self.0 |= !bytes.is_empty();
            }
        }
        let mut any = Any(false);
        self.feed(text, &mut any);
        !any.0
    }

    fn feed<S: Sink>(&self, text: &str, sink: &mut S) {
        let mut out = Out::new(sink);
        let collapse = self.norm.collapse_whitespace;
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b < 0x80 {
                // Fast path: ASCII bytes go through the table, without decoding.
                i += 1;
                match self.ascii[b as usize] {
                    SKIP => {}
                    SPACE => {
                        if !collapse {
                            out.byte(b);
                            out.started = true;
                        } else if out.started {
                            out.pending_space = true;
                        }
                    }
                    m => {
                        if out.pending_space {
                            out.byte(b' ');
                            out.pending_space = false;
                        }
                        out.started = true;
                        out.byte(m);
                    }
                }
                continue;
            }
            // Decode one non-ASCII char; `text` is valid UTF-8, so the slice is a char start.
            let Some(c) = text[i..].chars().next() else {
                break;
            };
            i += c.len_utf8();
            if self.norm.strip_accents {
                decompose_canonical(c, |d| {
                    if !is_combining_mark(d) {
                        self.char(d, &mut out);
                    }
                });
            } else {
                self.char(c, &mut out);
            }
        }
        out.finish();
    }

    fn char<S: Sink>(&self, c: char, out: &mut Out<'_, S>) {
        let n = &self.norm;
        if c.is_ascii() {
            match self.ascii[c as usize] {
                SKIP => {}
                SPACE => {
                    if !n.collapse_whitespace {
                        out.visible(c);
                    } else if out.started {
                        out.pending_space = true;
                    }
                }
                m => out.visible(m as char),
            }
        } else if c.is_whitespace() {
            if !n.collapse_whitespace {
                out.visible(c);
            } else if out.started {
                out.pending_space = true;
            }
        } else if c.is_numeric() {
            out.visible(if n.digits_to_zero { '0' } else { c });
        } else if c.is_alphabetic() || is_combining_mark(c) {
            if n.lowercase {
                for l in c.to_lowercase() {
                    out.visible(l);
                }
            } else {
                out.visible(c);
            }
        } else if !n.remove_punctuation {
            out.visible(c);
        }
    }
}

/// A `Hasher` for keys that already are uniform hashes (xxh3 output): it passes them through.
#[derive(Default, Clone, Copy)]
pub(crate) struct PassThrough(u64);

impl std::hash::Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only used with integer keys; fold anything else in deterministically.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// `BuildHasher` for [`PassThrough`].
pub(crate) type PassThroughBuild = std::hash::BuildHasherDefault<PassThrough>;

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> TextNorm {
        TextNorm {
            lowercase: true,
            collapse_whitespace: true,
            remove_punctuation: true,
            digits_to_zero: true,
            strip_accents: true,
        }
    }

    #[test]
    fn default_exact_normalization() {
        let n = TextNorm {
            lowercase: true,
            collapse_whitespace: true,
            ..Default::default()
        };
        assert_eq!(n.apply("  Hello,\t\tWORLD!\n\n "), "hello, world!");
        assert_eq!(n.apply("Ünïcode  ÉTÉ"), "ünïcode été");
        assert_eq!(n.hash128("Hello,  world!"), n.hash128(" hello, WORLD! "));
        assert_ne!(n.hash128("Hello, world!"), n.hash128("Hello world"));
        // The hash is xxh3-128 of the normalized bytes, streamed or not.
        assert_eq!(n.hash128("A  b"), xxhash_rust::xxh3::xxh3_128(b"a b"));
    }

    #[test]
    fn everything_on() {
        let n = all();
        assert_eq!(
            n.apply("Café — 1984, “naïve” ÉLAN!"),
            "cafe 0000 naive elan"
        );
        // Decomposed input normalizes like precomposed input.
        assert_eq!(n.apply("Cafe\u{301}"), n.apply("Café"));
        assert_eq!(n.apply(" ,;; "), "");
        assert!(n.is_empty_after("--- !!! ---"));
        let c = n.compile();
        assert_eq!(c.hash64_nonempty(" ,, "), None);
        assert_eq!(
            c.hash64_nonempty("A, b"),
            Some(xxhash_rust::xxh3::xxh3_64(b"a b"))
        );
        assert_eq!(n.apply("Ⅻ ٣ 5"), "0 0 0");
        assert_eq!(n.apply("日本語、テキスト。"), "日本語テキスト");
    }

    #[test]
    fn nothing_on_is_identity() {
        let n = TextNorm::default();
        let t = "  Mixed CASE,\ttabs\n and  ünïcode — 12 ";
        assert_eq!(n.apply(t), t);
    }

    #[test]
    fn long_text_crosses_the_buffer() {
        let n = all();
        let t = "Word, ".repeat(1000);
        let expect = "word ".repeat(1000);
        assert_eq!(n.apply(&t), expect.trim_end());
        assert_eq!(
            n.hash64(&t),
            xxhash_rust::xxh3::xxh3_64(expect.trim_end().as_bytes())
        );
    }
}
