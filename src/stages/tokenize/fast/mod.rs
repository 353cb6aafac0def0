//! A byte-level BPE encoder whose ids are those of `tokenizers` (0.22, `onig` regexes)
//! `Tokenizer::encode_fast(text, false)`, for the tokenizer shapes it accepts, and several times
//! faster.
//!
//! The pipeline is the one of `tokenizers`, each stage specialised:
//!
//! 1. added tokens are split out of the text (`added.rs`);
//! 2. each remaining piece is cut into words by a hand-written equivalent of the split regex
//!    ([`pretokenize`], character classes from `tables.rs`);
//! 3. each word's bytes are mapped to the byte-level alphabet's ids and merged (`merge.rs`);
//!    the result is kept in a per-thread [`WordCache`], so a word seen before costs a hash
//!    lookup and a copy.
//!
//! [`FastBpe::from_json`] refuses, with a reason, every `tokenizer.json` that it cannot encode
//! exactly, so the caller can fall back to `tokenizers`. Truncation and padding in the file are
//! ignored: the caller turns them off in `tokenizers` too. The post-processor is not applied
//! (with `add_special_tokens = false`, none of `tokenizers`' post-processors adds or changes
//! ids), nor is the decoder (not used for encoding). The model's `unk_token`, `fuse_unk` and
//! `byte_fallback` never come into play: they only act on a character missing from the
//! vocabulary, and every byte-level character must be in it (else the file is refused).

mod added;
mod cache;
mod merge;
pub mod pretokenize;
mod tables;

use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;
use serde_json::Value;

use added::{AddedTokens, Piece};
pub use cache::WordCache;
use cache::{Key, MAX_CACHED_WORD};
use merge::MergeTable;
use pretokenize::Splitter;

/// Gives each encoder an identity, so a cache filled by one is never read for another.
static NEXT_ENCODER: AtomicU64 = AtomicU64::new(1);

/// A byte-level BPE encoder built from a `tokenizer.json`; shared by all threads.
pub struct FastBpe {
    uid: u64,
    splitter: Splitter,
    add_prefix_space: bool,
    /// Model ids of the 256 bytes (through the byte-level alphabet).
    byte_ids: [u32; 256],
    merges: MergeTable,
    /// With `ignore_merges`: the vocabulary by raw bytes, for words that are a token.
    whole_words: Option<FxHashMap<Box<[u8]>, u32>>,
    added: Option<AddedTokens>,
    vocab_size: usize,
}

/// The GPT-2 byte-level alphabet: the character standing for each byte.
fn byte_chars() -> [char; 256] {
    let mut chars = ['\0'; 256];
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        chars[b as usize] = if printable {
            b as char
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).unwrap()
        };
    }
    chars
}

/// The raw bytes a byte-level token stands for, or `None` if it has characters outside the
/// alphabet (such a token can never come out of merging bytes).
fn token_bytes(token: &str, byte_of: &FxHashMap<char, u8>) -> Option<Vec<u8>> {
    token.chars().map(|c| byte_of.get(&c).copied()).collect()
}

fn field<'a>(o: &'a Value, k: &str) -> Option<&'a Value> {
    o.get(k).filter(|v| !v.is_null())
}

fn type_of(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

/// A ByteLevel pre-tokenizer's (add_prefix_space, use_regex).
fn byte_level(v: &Value) -> (bool, bool) {
    let flag = |k: &str, default: bool| v.get(k).and_then(Value::as_bool).unwrap_or(default);
    (flag("add_prefix_space", true), flag("use_regex", true))
}

/// The splitter and add_prefix_space of a supported pre-tokenizer.
fn pre_tokenizer(v: Option<&Value>) -> Result<(Splitter, bool), String> {
    let Some(v) = v else {
        return Err("there is no pre-tokenizer (not a byte-level BPE)".into());
    };
    match type_of(v) {
        "ByteLevel" => {
            let (prefix, regex) = byte_level(v);
            Ok((
                if regex {
                    Splitter::Gpt2
                } else {
                    Splitter::Whole
                },
                prefix,
            ))
        }
        "Sequence" => {
            let steps = v
                .get("pretokenizers")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            match steps {
                [one] => pre_tokenizer(Some(one)),
                [split, bl] if type_of(split) == "Split" && type_of(bl) == "ByteLevel" => {
                    if byte_level(bl) != (false, false) {
                        return Err("a Split pre-tokenizer is followed by a ByteLevel with \
                                    add_prefix_space or use_regex"
                            .into());
                    }
                    let Some(pattern) = split
                        .get("pattern")
                        .and_then(|p| p.get("Regex"))
                        .and_then(Value::as_str)
                    else {
                        return Err("the Split pre-tokenizer's pattern is not a regex".into());
                    };
                    // Every known pattern matches at every character (see `pretokenize`), so
                    // there are no gaps between matches: keeping the matches and removing the
                    // gaps (`Removed` with `invert`, as tokenizer.json files converted from
                    // tiktoken write it) cuts the same pieces as isolating both.
                    let behavior = split.get("behavior").and_then(Value::as_str);
                    let invert = split.get("invert").and_then(Value::as_bool);
                    if !matches!(
                        (behavior, invert),
                        (Some("Isolated"), Some(false)) | (Some("Removed"), Some(true))
                    ) {
                        return Err("the Split pre-tokenizer is neither Isolated nor Removed \
                                    with invert"
                            .into());
                    }
                    let splitter = Splitter::for_pattern(pattern).ok_or_else(|| {
                        format!("the Split pattern {pattern:?} is not one of the known patterns")
                    })?;
                    Ok((splitter, false))
                }
                _ => Err("the pre-tokenizer sequence is not [Split, ByteLevel]".into()),
            }
        }
        other => Err(format!("the pre-tokenizer {other:?} is not supported")),
    }
}

/// Whether a normalizer does nothing.
fn normalizer_is_identity(v: Option<&Value>) -> bool {
    match v {
        None => true,
        Some(n) => {
            type_of(n) == "Sequence"
                && n.get("normalizers")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().all(|x| normalizer_is_identity(Some(x))))
        }
    }
}

impl FastBpe {
    /// Builds the encoder from a `tokenizer.json`'s text; `Err(reason)` when the tokenizer is
    /// not one it encodes exactly (the reason is a short sentence for a log line).
    pub fn from_json(json: &str) -> Result<FastBpe, String> {
        let root: Value =
            serde_json::from_str(json).map_err(|e| format!("the JSON does not parse: {e}"))?;
        if let Some(v) = field(&root, "version").and_then(Value::as_str) {
            if v != "1.0" {
                return Err(format!("tokenizer.json version {v:?} is not 1.0"));
            }
        }
        if !normalizer_is_identity(field(&root, "normalizer")) {
            return Err("the tokenizer has a normalizer".into());
        }
        let (splitter, add_prefix_space) = pre_tokenizer(field(&root, "pre_tokenizer"))?;
        let model = field(&root, "model").ok_or("the tokenizer has no model")?;
        if !matches!(type_of(model), "BPE" | "") {
            return Err(format!("the model is {:?}, not BPE", type_of(model)));
        }
        if let Some(d) = field(model, "dropout") {
            if d.as_f64() != Some(0.0) {
                return Err("the BPE model has dropout".into());
            }
        }
        for affix in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if field(model, affix).is_some_and(|v| v.as_str() != Some("")) {
                return Err(format!("the BPE model has a {affix}"));
            }
        }
        let ignore_merges = field(model, "ignore_merges")
            .and_then(Value::as_bool)
            .unwrap_or(false);

        let vocab_json = field(model, "vocab")
            .and_then(Value::as_object)
            .ok_or("the BPE model has no vocab")?;
        let mut vocab: FxHashMap<&str, u32> = FxHashMap::default();
        for (token, id) in vocab_json {
            let id = id
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| format!("the vocab id of {token:?} is not a u32"))?;
            vocab.insert(token.as_str(), id);
        }
        let chars = byte_chars();
        let byte_of: FxHashMap<char, u8> = (0..=255u8).map(|b| (chars[b as usize], b)).collect();
        let mut byte_ids = [0u32; 256];
        for b in 0..=255u8 {
            let mut buf = [0u8; 4];
            let c = chars[b as usize].encode_utf8(&mut buf);
            byte_ids[b as usize] = *vocab
                .get(&*c)
                .ok_or_else(|| format!("the vocab lacks the byte-level token of byte {b:#04x}"))?;
        }

        let merges_json = field(model, "merges")
            .and_then(Value::as_array)
            .ok_or("the BPE model has no merges")?;
        let mut merges = Vec::with_capacity(merges_json.len());
        let legacy = merges_json.iter().filter(|m| {
            // `tokenizers` skips `#version` lines of the string form, and they count no rank.
            m.as_str().is_none_or(|s| !s.starts_with("#version"))
        });
        for (rank, m) in legacy.enumerate() {
            let (a, b) = match m {
                Value::String(s) => {
                    let mut parts = s.split(' ');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(a), Some(b), None) => (a, b),
                        _ => return Err(format!("merge {} is not two tokens", rank + 1)),
                    }
                }
                Value::Array(pair) => match pair.as_slice() {
                    [Value::String(a), Value::String(b)] => (a.as_str(), b.as_str()),
                    _ => return Err(format!("merge {} is not two tokens", rank + 1)),
                },
                _ => return Err(format!("merge {} is not two tokens", rank + 1)),
            };
            let id = |t: &str| {
                vocab
                    .get(t)
                    .copied()
                    .ok_or_else(|| format!("the merge token {t:?} is not in the vocab"))
            };
            merges.push(((id(a)?, id(b)?), id(&format!("{a}{b}"))?));
        }
        let merges = MergeTable::new(&merges);

        let whole_words = ignore_merges.then(|| {
            vocab
                .iter()
                .filter_map(|(t, &id)| Some((token_bytes(t, &byte_of)?.into_boxed_slice(), id)))
                .collect()
        });
        let added = AddedTokens::from_json(
            field(&root, "added_tokens"),
            &|t: &str| vocab.get(t).copied(),
            vocab.len(),
        )?;
        let vocab_size = vocab.len() + added.as_ref().map_or(0, |a| a.new_ids);
        Ok(FastBpe {
            uid: NEXT_ENCODER.fetch_add(1, Ordering::Relaxed),
            splitter,
            add_prefix_space,
            byte_ids,
            merges,
            whole_words,
            added,
            vocab_size,
        })
    }

    /// Appends the ids of `text` to `out`, as `encode_fast(text, false)` gives them.
    pub fn encode_into(&self, text: &str, cache: &mut WordCache, out: &mut Vec<u32>) {
        cache.bind(self.uid);
        match &self.added {
            None => self.encode_piece(text, cache, out),
            Some(added) => added.split(text, |piece| match piece {
                Piece::Text(t) => self.encode_piece(t, cache, out),
                Piece::Token(id) => out.push(id),
            }),
        }
    }

    /// One line naming what this encoder does, for logs.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "fast byte-level BPE ({}, {} tokens",
            self.splitter.name(),
            self.vocab_size
        );
        if self.add_prefix_space {
            s.push_str(", prefix space");
        }
        if self.whole_words.is_some() {
            s.push_str(", ignore_merges");
        }
        s.push(')');
        s
    }

    /// The number of tokens, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The pre-tokenizer in use (for tests that compare it with the regex).
    pub fn splitter(&self) -> Splitter {
        self.splitter
    }

    fn encode_piece(&self, text: &str, cache: &mut WordCache, out: &mut Vec<u32>) {
        if text.is_empty() {
            return;
        }
        if self.add_prefix_space && !text.starts_with(' ') {
            let mut buf = std::mem::take(&mut cache.prefixed);
            buf.clear();
            buf.push(' ');
            buf.push_str(text);
            self.splitter
                .split(&buf, |w| self.encode_word(w, cache, out));
            cache.prefixed = buf;
        } else {
            self.splitter
                .split(text, |w| self.encode_word(w, cache, out));
        }
    }

    #[inline]
    fn encode_word(&self, word: &[u8], cache: &mut WordCache, out: &mut Vec<u32>) {
        if word.len() == 1 {
            out.push(self.byte_ids[word[0] as usize]);
            return;
        }
        if word.len() > MAX_CACHED_WORD {
            self.merge(word, cache, out);
            return;
        }
        let key = Key::new(word);
        if let Some(ids) = cache.get(&key) {
            // Most words are one token: a push avoids a variable-length copy.
            match ids {
                [id] => out.push(*id),
                _ => out.extend_from_slice(ids),
            }
            return;
        }
        let start = out.len();
        self.merge(word, cache, out);
        cache.insert(&key, &out[start..]);
    }

    /// The ids of a word the cache does not have.
    fn merge(&self, word: &[u8], cache: &mut WordCache, out: &mut Vec<u32>) {
        match self.whole_words.as_ref().and_then(|w| w.get(word)) {
            Some(&id) => out.push(id),
            None => merge::merge_word(
                &self.merges,
                word.iter().map(|&b| self.byte_ids[b as usize]),
                &mut cache.scratch,
                out,
            ),
        }
    }
}

impl std::fmt::Debug for FastBpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_chars_match_gpt2() {
        let c = byte_chars();
        assert_eq!(c[b'!' as usize], '!');
        assert_eq!(c[b' ' as usize], 'Ġ');
        assert_eq!(c[b'\n' as usize], 'Ċ');
        assert_eq!(c[0], 'Ā');
        assert_eq!(c[0xAD], 'Ń');
    }

    #[test]
    fn refuses_wordpiece() {
        let json = r#"{"version":"1.0","normalizer":null,"pre_tokenizer":{"type":"ByteLevel"},
            "model":{"type":"WordPiece","vocab":{}}}"#;
        assert!(FastBpe::from_json(json).unwrap_err().contains("WordPiece"));
    }
}
