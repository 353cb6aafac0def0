//! `decontaminate`: drops training documents that share a word n-gram with an evaluation set,
//! so a model is never trained on what it is evaluated on (GPT-3's 13-gram overlap, datatrove's
//! n-gram decontamination).
//!
//! Words are the words of [`crate::text::words`] (UAX #29 with spaCy's rules, one word per CJK
//! character), lower-cased, with punctuation-only tokens left out: case and punctuation do not
//! hide an overlap. Every `ngram`-word window of every evaluation document is hashed (xxh3) into
//! an index built when the stage is built; an evaluation document shorter than `ngram` words
//! contributes its whole word sequence. A training document is dropped (`decontaminate:overlap`)
//! at the first window found in the index, with `duplicate_of` set to the id of the evaluation
//! document it overlaps (the first in the evaluation files' order). Memory: 12 bytes per distinct
//! evaluation n-gram.

use std::collections::HashMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Check, InputSpec, Problem};
use crate::document::Document;
use crate::io::input;
use crate::stage::{Counters, Filter, Verdict};

fn default_ngram() -> usize {
    13
}
fn default_text_field() -> String {
    "text".into()
}
fn default_id_field() -> Option<String> {
    Some("id".into())
}

/// Config of the `decontaminate` stage. The size of the index is logged when the stage is
/// built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecontaminateConfig {
    /// The evaluation sets: files, directories or globs of documents (any input format),
    /// relative to the pipeline file.
    #[schemars(length(min = 1))]
    pub eval: Vec<String>,
    /// Words per n-gram.
    #[serde(default = "default_ngram")]
    #[schemars(range(min = 1))]
    pub ngram: usize,
    /// The field holding the text in the evaluation files.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// The field holding the id in the evaluation files (ids are `<file>:<line>` without it).
    #[serde(default = "default_id_field")]
    pub id_field: Option<String>,
}

impl Check for DecontaminateConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if self.eval.is_empty() {
            p.push(Problem::at("eval", "name at least one evaluation set"));
        }
        if self.ngram == 0 {
            p.push(Problem::at("ngram", "ngram must be at least 1"));
        }
        p
    }
}

/// Seed of the n-gram hashes (any fixed value: the index lives only in memory).
const SEED: u64 = 0x6465_636f_6e74_616d;

/// The normalized words of `text`.
fn norm_words(text: &str) -> Vec<String> {
    crate::text::words(text)
        .into_iter()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(str::to_lowercase)
        .collect()
}

/// The hash of a run of words (a separator between them, so `ab c` and `a bc` differ).
fn hash_words(words: &[String]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::with_seed(SEED);
    for w in words {
        h.update(w.as_bytes());
        h.update(&[0x1f]);
    }
    h.digest()
}

/// The `decontaminate` stage: an index of the evaluation sets' n-grams.
pub struct Decontaminate {
    n: usize,
    /// n-gram hash -> index into `ids`.
    index: HashMap<u64, u32>,
    /// Lengths (below `n`) of whole short evaluation documents, which are matched as n-grams of
    /// their own length.
    short_lengths: Vec<usize>,
    ids: Vec<String>,
}

impl Decontaminate {
    /// Reads the evaluation sets of `cfg` (paths relative to `base_dir`) and indexes their
    /// n-grams. Fails, naming the path, when a set cannot be found or read.
    pub fn new(cfg: DecontaminateConfig, base_dir: &Path) -> Result<Self, String> {
        let spec = InputSpec::documents(cfg.eval.clone(), &cfg.text_field, cfg.id_field.clone());
        let files = input::resolve_inputs(&spec, base_dir).map_err(|e| e.to_string())?;
        let mut s = Decontaminate {
            n: cfg.ngram.max(1),
            index: HashMap::new(),
            short_lengths: Vec::new(),
            ids: Vec::new(),
        };
        for f in &files {
            for r in input::open(f, &spec).map_err(|e| e.to_string())? {
                let doc = r.map_err(|j| {
                    format!(
                        "evaluation set {}, {}: {} ({})",
                        j.source, j.location, j.reason, j.detail
                    )
                })?;
                s.add(&doc.id, &doc.text);
            }
        }
        s.short_lengths.sort_unstable();
        s.short_lengths.dedup();
        tracing::info!(
            "decontaminate: {} evaluation documents, {} distinct {}-grams indexed",
            s.ids.len(),
            s.index.len(),
            s.n
        );
        Ok(s)
    }

    /// Indexes one evaluation document.
    fn add(&mut self, id: &str, text: &str) {
        let words = norm_words(text);
        if words.is_empty() {
            return;
        }
        let at = self.ids.len() as u32;
        self.ids.push(id.to_string());
        let add = |h: u64, index: &mut HashMap<u64, u32>| {
            index.entry(h).or_insert(at);
        };
        if words.len() < self.n {
            self.short_lengths.push(words.len());
            add(hash_words(&words), &mut self.index);
        } else {
            for w in words.windows(self.n) {
                add(hash_words(w), &mut self.index);
            }
        }
    }

    /// Evaluation documents indexed.
    pub fn eval_docs(&self) -> usize {
        self.ids.len()
    }

    /// The evaluation document `text` overlaps, if any.
    pub fn overlap(&self, text: &str) -> Option<&str> {
        if self.index.is_empty() {
            return None;
        }
        let words = norm_words(text);
        let lengths = std::iter::once(self.n).chain(self.short_lengths.iter().copied());
        for len in lengths {
            if words.len() < len {
                continue;
            }
            for w in words.windows(len) {
                if let Some(&i) = self.index.get(&hash_words(w)) {
                    return Some(&self.ids[i as usize]);
                }
            }
        }
        None
    }
}

impl Filter for Decontaminate {
    fn check(&self, doc: &mut Document, _counters: &mut Counters) -> Verdict {
        match self.overlap(&doc.text) {
            Some(id) => {
                doc.duplicate_of = Some(id.to_string());
                Verdict::Drop("overlap")
            }
            None => Verdict::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(n: usize, evals: &[(&str, &str)]) -> Decontaminate {
        let mut s = Decontaminate {
            n,
            index: HashMap::new(),
            short_lengths: Vec::new(),
            ids: Vec::new(),
        };
        for (id, t) in evals {
            s.add(id, t);
        }
        s.short_lengths.sort_unstable();
        s.short_lengths.dedup();
        s
    }

    #[test]
    fn a_shared_ngram_is_found_whatever_the_case_and_punctuation() {
        let s = stage(
            5,
            &[
                ("q1", "What is the capital city of France today?"),
                ("q2", "Name the largest ocean on the planet Earth."),
            ],
        );
        assert_eq!(s.eval_docs(), 2);
        assert_eq!(
            s.overlap("Trivia: the LARGEST ocean, on the planet is the Pacific."),
            Some("q2")
        );
        assert_eq!(s.overlap("capital city of France"), None);
        assert_eq!(s.overlap("what is the capital of spain, the city"), None);
        assert_eq!(s.overlap("— is the capital city of France —"), Some("q1"));
    }

    #[test]
    fn short_evaluation_documents_match_as_a_whole() {
        let s = stage(13, &[("short", "Paris is lovely"), ("empty", "!!!")]);
        assert_eq!(s.eval_docs(), 1);
        assert_eq!(
            s.overlap("They say paris, is lovely in May."),
            Some("short")
        );
        assert_eq!(s.overlap("Paris is rainy"), None);
    }

    #[test]
    fn word_boundaries_are_kept_in_the_hash() {
        assert_ne!(
            hash_words(&["ab".into(), "c".into()]),
            hash_words(&["a".into(), "bc".into()])
        );
    }
}
