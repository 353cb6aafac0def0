//! Hand-written equivalents of the split regexes `tokenizers` runs with Oniguruma.
//!
//! Each splitter walks the text once and reports the same pieces, in order, as the regex's
//! `find_iter` under `SplitDelimiterBehavior::Isolated`. Every one of these patterns matches at
//! every character (each character is a letter, a number, a space or something else, and each
//! class has a branch), so there are never unmatched gaps. The reasoning for each branch is
//! spelled out beside it, since it is the backtracking order of the regex that decides the
//! pieces. `tests/codepoints.rs`, `tests/property.rs` and `tests/identity_splits.rs` compare
//! every splitter with the regex itself.

use std::sync::LazyLock;

use super::tables::{CASE_FOLDS, CLASS_RUNS};

/// `\p{L}`.
const L: u8 = 1;
/// `\p{N}`.
const N: u8 = 2;
/// `\s`.
const S: u8 = 4;
/// Neither a letter, a number nor a space (`[^\s\p{L}\p{N}]`): tested as `class & LNS == 0`.
const LNS: u8 = L | N | S;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]` (o200k's "upper").
const UP: u8 = 8;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]` (o200k's "lower").
const LO: u8 = 16;

/// The GPT-2 pattern of `ByteLevel(use_regex: true)`.
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// The Llama-3 pattern (cl100k's, written without possessive quantifiers).
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// cl100k's pattern as tiktoken writes it (GPT-4's; tokenizer.json files converted from tiktoken
/// carry it): Llama-3's with possessive quantifiers and `\s*[\r\n]` for `\s*[\r\n]+`. It cuts
/// the same pieces, so [`Splitter::Llama3`] runs it:
/// - `[^\r\n\p{L}\p{N}]?+\p{L}+`: giving the optional character back can never help, since it
///   is not a letter and `\p{L}+` would have to start on it;
/// - ` ?[^\s\p{L}\p{N}]++[\r\n]*`: `[\r\n]*` matches anywhere (also empty) and cannot take a
///   character of the run, so the greedy run is never given back, and a space given back could
///   not start the run;
/// - `\s*[\r\n]` and `\s*[\r\n]+` both end at the last newline of the whitespace run (the
///   greedy `\s*` backs off to it, and no newline follows it inside the run).
pub const CL100K_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";

/// The Qwen2 pattern: Llama-3's with single digits.
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The o200k pattern (GPT-4o), case-aware letter runs with contraction suffixes.
pub const O200K_PATTERN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How a piece of text is cut into the words the BPE model sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Splitter {
    /// No splitting: the whole piece is one word (`ByteLevel(use_regex: false)` alone).
    Whole,
    /// [`GPT2_PATTERN`].
    Gpt2,
    /// [`LLAMA3_PATTERN`] (`max_digits` 3) or [`QWEN2_PATTERN`] (`max_digits` 1).
    Llama3 {
        /// The most digits in one number piece.
        max_digits: u8,
    },
    /// [`O200K_PATTERN`].
    O200k,
}

impl Splitter {
    /// The splitter that is exactly `pattern` (a `Split` regex), if there is one.
    pub fn for_pattern(pattern: &str) -> Option<Splitter> {
        match pattern {
            GPT2_PATTERN => Some(Splitter::Gpt2),
            LLAMA3_PATTERN | CL100K_PATTERN => Some(Splitter::Llama3 { max_digits: 3 }),
            QWEN2_PATTERN => Some(Splitter::Llama3 { max_digits: 1 }),
            O200K_PATTERN => Some(Splitter::O200k),
            _ => None,
        }
    }

    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Splitter::Whole => "no split",
            Splitter::Gpt2 => "GPT-2 pattern",
            Splitter::Llama3 { max_digits: 3 } => "Llama-3/cl100k pattern",
            Splitter::Llama3 { .. } => "Qwen2 pattern",
            Splitter::O200k => "o200k pattern",
        }
    }

    /// Calls `f` with each piece of `text`, in order; the pieces concatenate to `text`.
    #[inline]
    pub fn split(&self, text: &str, f: impl FnMut(&[u8])) {
        let b = text.as_bytes();
        let classes: &Classes = &CLASSES;
        match *self {
            Splitter::Whole => {
                let mut f = f;
                if !b.is_empty() {
                    f(b);
                }
            }
            Splitter::Gpt2 => classes.split_gpt2(b, f),
            Splitter::Llama3 { max_digits } => classes.split_llama3(b, max_digits as usize, f),
            Splitter::O200k => classes.split_o200k(b, f),
        }
    }
}

/// The class of each code point: a 128-entry table for ASCII, and for the rest a block index
/// (code point / 256) into deduplicated 256-entry blocks (140 of them: 36 KB).
struct Classes {
    ascii: [u8; 128],
    block_of: Vec<u16>,
    blocks: Vec<u8>,
}

static CLASSES: LazyLock<Classes> = LazyLock::new(Classes::build);

impl Classes {
    fn build() -> Classes {
        let mut flat = vec![0u8; 0x110000];
        for (k, &(start, class)) in CLASS_RUNS.iter().enumerate() {
            let end = CLASS_RUNS.get(k + 1).map_or(0x110000, |r| r.0);
            flat[start as usize..end as usize].fill(class);
        }
        let mut ascii = [0u8; 128];
        ascii.copy_from_slice(&flat[..128]);
        let mut blocks: Vec<u8> = Vec::new();
        let mut block_of = Vec::with_capacity(0x1100);
        let mut seen: std::collections::HashMap<&[u8], u16> = std::collections::HashMap::new();
        for block in flat.chunks(256) {
            let next = seen.len() as u16;
            let id = *seen.entry(block).or_insert(next);
            if id == next {
                blocks.extend_from_slice(block);
            }
            block_of.push(id);
        }
        Classes {
            ascii,
            block_of,
            blocks,
        }
    }

    /// The class and byte length of the character at `b[i]` (`b` is valid UTF-8).
    #[inline(always)]
    fn at(&self, b: &[u8], i: usize) -> (u8, usize) {
        let c = b[i];
        if c < 0x80 {
            (self.ascii[c as usize], 1)
        } else {
            let (cp, len) = decode(b, i);
            (self.of(cp), len)
        }
    }

    #[inline(always)]
    fn of(&self, cp: u32) -> u8 {
        let block = self.block_of[(cp >> 8) as usize] as usize;
        self.blocks[block * 256 + (cp & 0xFF) as usize]
    }

    /// The end of the run starting at `j` of characters whose class `c` has `c & mask == want`.
    #[inline(always)]
    fn run(&self, b: &[u8], mut j: usize, mask: u8, want: u8) -> usize {
        while j < b.len() {
            let c = b[j];
            if c < 0x80 {
                if self.ascii[c as usize] & mask != want {
                    break;
                }
                j += 1;
            } else {
                let (cp, len) = decode(b, j);
                if self.of(cp) & mask != want {
                    break;
                }
                j += len;
            }
        }
        j
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `b[i] == '\''`, case-sensitively: the length matched.
    #[inline]
    fn contraction(b: &[u8], i: usize) -> Option<usize> {
        match b.get(i + 1)? {
            b's' | b't' | b'm' | b'd' => Some(2),
            b'r' | b'v' if b.get(i + 2) == Some(&b'e') => Some(3),
            b'l' if b.get(i + 2) == Some(&b'l') => Some(3),
            _ => None,
        }
    }

    /// Whether the character at `b[i]` matches ASCII letter `letter` under `(?i:...)`; its
    /// byte length if so.
    #[inline]
    fn folds_to(b: &[u8], i: usize, letter: u8) -> Option<usize> {
        if i >= b.len() {
            return None;
        }
        let (cp, len) = if b[i] < 0x80 {
            (b[i] as u32, 1)
        } else {
            decode(b, i)
        };
        let members = CASE_FOLDS
            .iter()
            .find(|(l, _)| *l == letter)
            .map_or(&[][..], |(_, m)| *m);
        members.contains(&cp).then_some(len)
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `b[i] == '\''`: the length matched. The alternatives
    /// start with different letters, so at most one can match and their order does not matter.
    fn contraction_folded(b: &[u8], i: usize) -> Option<usize> {
        let i = i + 1;
        for single in *b"stmd" {
            if let Some(n) = Self::folds_to(b, i, single) {
                return Some(1 + n);
            }
        }
        for (first, second) in [(b'r', b'e'), (b'v', b'e'), (b'l', b'l')] {
            if let Some(n) = Self::folds_to(b, i, first) {
                return Self::folds_to(b, i + n, second).map(|m| 1 + n + m);
            }
        }
        None
    }

    /// The end of the whitespace run that starts with the space character at `b[i]` (length
    /// `len`), with the start of its last character and of its last `\r` or `\n`.
    #[inline]
    fn spaces(&self, b: &[u8], i: usize, len: usize) -> (usize, usize, Option<usize>) {
        let mut j = i + len;
        let mut last = i;
        let mut newline = matches!(b[i], b'\r' | b'\n').then_some(i);
        while j < b.len() {
            let (c, l) = self.at(b, j);
            if c & S == 0 {
                break;
            }
            if matches!(b[j], b'\r' | b'\n') {
                newline = Some(j);
            }
            last = j;
            j += l;
        }
        (j, last, newline)
    }

    fn split_gpt2(&self, b: &[u8], mut f: impl FnMut(&[u8])) {
        let n = b.len();
        let mut i = 0;
        while i < n {
            let c = b[i];
            // The contractions come first in the alternation, so they win at an apostrophe.
            if c == b'\'' {
                if let Some(len) = Self::contraction(b, i) {
                    f(&b[i..i + len]);
                    i += len;
                    continue;
                }
            }
            let (class, len) = self.at(b, i);
            let mut end;
            if class & S == 0 {
                // `\p{L}+`, `\p{N}+` or `[^\s\p{L}\p{N}]+` without the optional space.
                end = self.same_run(b, i + len, class);
            } else if c == b' ' && i + 1 < n && self.at(b, i + 1).0 & S == 0 {
                // ` ?X+`: a space takes the run of non-spaces after it.
                let (next, next_len) = self.at(b, i + 1);
                end = self.same_run(b, i + 1 + next_len, next);
            } else {
                // `\s+(?!\S)` backtracks to leave the run's last character to the next piece
                // when a non-space follows; a single space character before a non-space
                // fails it and is taken by `\s+` alone.
                let (j, last, _) = self.spaces(b, i, len);
                end = j;
                if j < n && last > i {
                    end = last;
                }
            }
            f(&b[i..end]);
            i = end;
        }
    }

    /// The end of the run, from `j`, of characters of the same kind (letters, numbers, or
    /// neither-nor) as `class`, which is not a space.
    #[inline(always)]
    fn same_run(&self, b: &[u8], j: usize, class: u8) -> usize {
        if class & L != 0 {
            self.run(b, j, L, L)
        } else if class & N != 0 {
            self.run(b, j, N, N)
        } else {
            self.run(b, j, LNS, 0)
        }
    }

    fn split_llama3(&self, b: &[u8], max_digits: usize, mut f: impl FnMut(&[u8])) {
        let n = b.len();
        let mut i = 0;
        while i < n {
            let c = b[i];
            if c == b'\'' {
                if let Some(len) = Self::contraction_folded(b, i) {
                    f(&b[i..i + len]);
                    i += len;
                    continue;
                }
            }
            let (class, len) = self.at(b, i);
            let next = i + len;
            let end = if class & L != 0 {
                // `[^\r\n\p{L}\p{N}]?\p{L}+` with the optional character empty.
                self.run(b, next, L, L)
            } else if class & N != 0 {
                // `\p{N}{1,3}`.
                self.digits(b, i, len, max_digits)
            } else if c != b'\r' && c != b'\n' && next < n && self.at(b, next).0 & L != 0 {
                // `[^\r\n\p{L}\p{N}]?\p{L}+`: any one space (but a line break) or symbol
                // takes the letters after it.
                let (_, l2) = self.at(b, next);
                self.run(b, next + l2, L, L)
            } else if class & S == 0 {
                // ` ?[^\s\p{L}\p{N}]+[\r\n]*` without the optional space.
                crlf_run(b, self.run(b, next, LNS, 0))
            } else if c == b' ' && next < n && self.at(b, next).0 & LNS == 0 {
                // ` ?[^\s\p{L}\p{N}]+[\r\n]*` with it.
                let (_, l2) = self.at(b, next);
                crlf_run(b, self.run(b, next + l2, LNS, 0))
            } else {
                self.space_piece(b, i, len)
            };
            f(&b[i..end]);
            i = end;
        }
    }
}

impl Classes {
    /// `\p{N}{1,max}` from `i`, whose character (of byte length `len`) is a number.
    #[inline]
    fn digits(&self, b: &[u8], i: usize, len: usize, max: usize) -> usize {
        let mut j = i + len;
        let mut count = 1;
        while count < max && j < b.len() {
            let (c, l) = self.at(b, j);
            if c & N == 0 {
                break;
            }
            j += l;
            count += 1;
        }
        j
    }

    /// `\s*[\r\n]+|\s+(?!\S)|\s+` at the space character `b[i]` (byte length `len`).
    #[inline]
    fn space_piece(&self, b: &[u8], i: usize, len: usize) -> usize {
        let (j, last, newline) = self.spaces(b, i, len);
        match newline {
            // `\s*` backtracks to the run's last line break; no line break follows it inside
            // the run, so `[\r\n]+` takes just that one.
            Some(k) => k + 1,
            // `\s+(?!\S)`, else `\s+`, as in GPT-2's pattern.
            None if j < b.len() && last > i => last,
            None => j,
        }
    }

    /// `[UP]*[LO]+` from `s`, as the backtracking regex takes it: the longest `[UP]*`, then the
    /// longest `[LO]+`; when no `[LO]` follows the upper run, `[UP]*` gives characters back
    /// until the last one given back is also in `[LO]` (Lm, Lo and marks are in both).
    #[inline]
    fn upper_star_lower_plus(&self, b: &[u8], s: usize) -> Option<usize> {
        let mut j = s;
        let mut last_both = None;
        while j < b.len() {
            let (c, l) = self.at(b, j);
            if c & UP == 0 {
                break;
            }
            if c & LO != 0 {
                last_both = Some(j + l);
            }
            j += l;
        }
        if j < b.len() && self.at(b, j).0 & LO != 0 {
            return Some(self.run(b, j, LO, LO));
        }
        last_both
    }

    /// `[UP]+[LO]*` from `s`.
    #[inline]
    fn upper_plus_lower_star(&self, b: &[u8], s: usize) -> Option<usize> {
        let j = self.run(b, s, UP, UP);
        (j > s).then(|| self.run(b, j, LO, LO))
    }

    /// The optional contraction suffix `(?i:'s|'t|'re|'ve|'m|'ll|'d)?` at `e`.
    #[inline]
    fn contraction_suffix(&self, b: &[u8], e: usize) -> usize {
        if b.get(e) == Some(&b'\'') {
            if let Some(len) = Self::contraction_folded(b, e) {
                return e + len;
            }
        }
        e
    }

    fn split_o200k(&self, b: &[u8], mut f: impl FnMut(&[u8])) {
        let n = b.len();
        let mut i = 0;
        while i < n {
            let c = b[i];
            let (class, len) = self.at(b, i);
            // `[^\r\n\p{L}\p{N}]?` can take this character (marks included: they are not
            // letters); the regex tries it taken, then not, in each of the two letter branches.
            let optional = class & (L | N) == 0 && c != b'\r' && c != b'\n';
            let letters = (if optional {
                self.upper_star_lower_plus(b, i + len)
            } else {
                None
            })
            .or_else(|| self.upper_star_lower_plus(b, i))
            .or_else(|| {
                if optional {
                    self.upper_plus_lower_star(b, i + len)
                } else {
                    None
                }
            })
            .or_else(|| self.upper_plus_lower_star(b, i));
            let end = if let Some(e) = letters {
                self.contraction_suffix(b, e)
            } else if class & N != 0 {
                self.digits(b, i, len, 3)
            } else if class & LNS == 0 {
                // ` ?[^\s\p{L}\p{N}]+[\r\n/]*` without the optional space.
                slash_crlf_run(b, self.run(b, i + len, LNS, 0))
            } else if c == b' ' && i + 1 < n && self.at(b, i + 1).0 & LNS == 0 {
                let (_, l2) = self.at(b, i + 1);
                slash_crlf_run(b, self.run(b, i + 1 + l2, LNS, 0))
            } else {
                self.space_piece(b, i, len)
            };
            f(&b[i..end]);
            i = end;
        }
    }
}

/// The end of the run of `\r`, `\n` and `/` from `j`.
#[inline]
fn slash_crlf_run(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && matches!(b[j], b'\r' | b'\n' | b'/') {
        j += 1;
    }
    j
}

/// The end of the run of `\r` and `\n` from `j`.
#[inline]
fn crlf_run(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && matches!(b[j], b'\r' | b'\n') {
        j += 1;
    }
    j
}

/// The code point at `b[i]`, a non-ASCII lead byte of valid UTF-8, and its byte length.
#[inline(always)]
fn decode(b: &[u8], i: usize) -> (u32, usize) {
    let b0 = b[i] as u32;
    let cont = |k: usize| (b[i + k] as u32) & 0x3F;
    if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | cont(1), 2)
    } else if b0 < 0xF0 {
        (((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
    } else {
        (
            ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
            4,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(s: Splitter, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        s.split(text, |p| out.push(String::from_utf8(p.to_vec()).unwrap()));
        out
    }

    #[test]
    fn gpt2_examples() {
        assert_eq!(
            pieces(Splitter::Gpt2, "Hello world's  end\t\tx  !1 "),
            ["Hello", " world", "'s", " ", " end", "\t", "\t", "x", " ", " !", "1", " "]
        );
        assert_eq!(pieces(Splitter::Gpt2, "'S 'll"), ["'", "S", " '", "ll"]);
    }

    #[test]
    fn llama3_examples() {
        let s = Splitter::Llama3 { max_digits: 3 };
        assert_eq!(
            pieces(s, "I'LL pay 12345\n\n  x!?\n\tz"),
            ["I", "'LL", " pay", " ", "123", "45", "\n\n", " ", " x", "!?\n", "\tz"]
        );
    }
}
