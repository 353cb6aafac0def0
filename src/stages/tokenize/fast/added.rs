//! Added tokens, split out of the text before pre-tokenization as `tokenizers`'
//! `AddedVocabulary::extract_and_normalize` does.
//!
//! `tokenizers` finds the tokens that are matched on the raw text (`normalized: false`, the
//! default for special tokens) first, then, in each remaining piece, the ones matched on the
//! normalized text; both passes are leftmost-longest Aho-Corasick searches. With no normalizer
//! the second pass sees the same text, so only the order of the two passes matters. The token
//! flags that move the match bounds (`single_word`, `lstrip`, `rstrip`) are refused at build
//! time.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde_json::Value;

/// One added token as `tokenizer.json` lists it.
struct Listed {
    content: String,
    single_word: bool,
    lstrip: bool,
    rstrip: bool,
    normalized: bool,
    special: bool,
}

/// A search for a set of tokens, with each pattern's id.
struct Search {
    automaton: AhoCorasick,
    ids: Vec<u32>,
}

impl Search {
    fn new(tokens: &[(&str, u32)]) -> Result<Option<Search>, String> {
        if tokens.is_empty() {
            return Ok(None);
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(tokens.iter().map(|(t, _)| t))
            .map_err(|e| format!("the added tokens do not build a search: {e}"))?;
        Ok(Some(Search {
            automaton,
            ids: tokens.iter().map(|(_, id)| *id).collect(),
        }))
    }
}

/// A piece of text between added tokens, or an added token's id.
pub(super) enum Piece<'a> {
    /// Text to pre-tokenize and merge.
    Text(&'a str),
    /// An added token.
    Token(u32),
}

/// The added tokens of a tokenizer.
pub(super) struct AddedTokens {
    raw: Option<Search>,
    normalized: Option<Search>,
    /// Added tokens that are not in the model's vocabulary (they get new ids).
    pub(super) new_ids: usize,
}

impl AddedTokens {
    /// Reads `added_tokens`; `vocab` gives the model's ids. Ids are assigned as
    /// `AddedVocabulary::add_tokens` assigns them (the `id` fields are not used): the model's id
    /// when the content is in its vocabulary, else the next one from the vocabulary's size.
    pub(super) fn from_json(
        list: Option<&Value>,
        vocab: &dyn Fn(&str) -> Option<u32>,
        vocab_len: usize,
    ) -> Result<Option<AddedTokens>, String> {
        let Some(list) = list else {
            return Ok(None);
        };
        let Value::Array(items) = list else {
            return Err("`added_tokens` is not a list".into());
        };
        let flag = |o: &serde_json::Map<String, Value>, k: &str| {
            o.get(k).and_then(Value::as_bool).unwrap_or(false)
        };
        let mut listed = Vec::new();
        for item in items {
            let Some(o) = item.as_object() else {
                return Err("an added token is not an object".into());
            };
            let Some(content) = o.get("content").and_then(Value::as_str) else {
                return Err("an added token has no `content`".into());
            };
            listed.push(Listed {
                content: content.to_owned(),
                single_word: flag(o, "single_word"),
                lstrip: flag(o, "lstrip"),
                rstrip: flag(o, "rstrip"),
                normalized: flag(o, "normalized"),
                special: flag(o, "special"),
            });
        }
        let mut seen: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut next_id = vocab_len as u32;
        let mut new_ids = 0;
        // `tokenizers` searches for the special tokens first, then the others, each in order.
        let mut specials: Vec<(&str, u32, bool)> = Vec::new();
        let mut others: Vec<(&str, u32, bool)> = Vec::new();
        for t in &listed {
            if t.content.is_empty() {
                continue;
            }
            if t.single_word || t.lstrip || t.rstrip {
                return Err(format!(
                    "added token {:?} sets single_word, lstrip or rstrip",
                    t.content
                ));
            }
            if seen.contains_key(t.content.as_str()) {
                return Err(format!("added token {:?} is listed twice", t.content));
            }
            let id = match vocab(&t.content) {
                Some(id) => id,
                None => {
                    next_id += 1;
                    new_ids += 1;
                    next_id - 1
                }
            };
            seen.insert(&t.content, id);
            let entry = (t.content.as_str(), id, t.normalized);
            if t.special {
                specials.push(entry);
            } else {
                others.push(entry);
            }
        }
        if specials.is_empty() && others.is_empty() {
            return Ok(None);
        }
        let all: Vec<(&str, u32, bool)> = specials.into_iter().chain(others).collect();
        let pick = |normalized: bool| -> Vec<(&str, u32)> {
            all.iter()
                .filter(|t| t.2 == normalized)
                .map(|t| (t.0, t.1))
                .collect()
        };
        Ok(Some(AddedTokens {
            raw: Search::new(&pick(false))?,
            normalized: Search::new(&pick(true))?,
            new_ids,
        }))
    }

    /// Calls `f` with the pieces of `text` in order: added tokens and the text between them.
    pub(super) fn split<'a>(&self, text: &'a str, mut f: impl FnMut(Piece<'a>)) {
        match &self.raw {
            None => self.split_normalized(text, &mut f),
            Some(raw) => {
                let mut at = 0;
                for m in raw.automaton.find_iter(text) {
                    if at < m.start() {
                        self.split_normalized(&text[at..m.start()], &mut f);
                    }
                    f(Piece::Token(raw.ids[m.pattern().as_usize()]));
                    at = m.end();
                }
                if at < text.len() {
                    self.split_normalized(&text[at..], &mut f);
                }
            }
        }
    }

    fn split_normalized<'a>(&self, text: &'a str, f: &mut impl FnMut(Piece<'a>)) {
        match &self.normalized {
            None => f(Piece::Text(text)),
            Some(search) => {
                let mut at = 0;
                for m in search.automaton.find_iter(text) {
                    if at < m.start() {
                        f(Piece::Text(&text[at..m.start()]));
                    }
                    f(Piece::Token(search.ids[m.pattern().as_usize()]));
                    at = m.end();
                }
                if at < text.len() {
                    f(Piece::Text(&text[at..]));
                }
            }
        }
    }
}
