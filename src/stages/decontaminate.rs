//! `decontaminate`: drops training documents that share a word n-gram with an evaluation set,
//! so a model is never trained on what it is evaluated on (GPT-3's 13-gram overlap, datatrove's
//! n-gram decontamination).
//!
//! Words are the words of the document's language ([`crate::text::Segmenter`]: jieba's words
//! for Chinese, dictionary words for Japanese and Thai, spaCy's rules for languages written
//! with spaces), lower-cased, with punctuation-only tokens left out: case and punctuation do
//! not hide an overlap. A training document's language is its `lang` (or the stage's
//! `language`); an evaluation document's is the stage's `language`, else the one its script
//! says (Han: Chinese; Hiragana or Katakana: Japanese; Thai, Khmer, Myanmar), and its n-grams
//! are indexed both with that language's words and with the rules' words, so a document
//! without a `lang` still meets them. Every `ngram`-word window of every evaluation document is hashed (xxh3) into
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
use crate::text::Segmenter;

/// The segmenter the script of `text` calls for, when it is one of a language written without
/// spaces (evaluation documents carry no language); the English rules otherwise.
fn segmenter_by_script(text: &str) -> Segmenter {
    whatlang::detect_script(text)
        .map(|s| Segmenter::for_script(s.name()))
        .filter(|s| s.unspaced())
        .unwrap_or(Segmenter::English)
}

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
    /// The language of the evaluation sets and of every document (ISO 639-3, optionally with
    /// script), which decides how words are split. Absent: each document's `lang`, and the
    /// script of each evaluation document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Also drop a training document whose id is an evaluation document's id: for an
    /// evaluation set held out of the training input itself, where an evaluation document's
    /// text (a page's article text, say) need not share an n-gram with its page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_ids: bool,
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
        if let Some(code) = &self.language {
            if let Err(e) = crate::text::langs::canonical(code) {
                p.push(Problem::at("language", e));
            }
        }
        p
    }
}

/// Seed of the n-gram hashes (any fixed value: the index lives only in memory).
const SEED: u64 = 0x6465_636f_6e74_616d;

/// The normalized words of `text`, split by `seg`.
fn norm_words(text: &str, seg: Segmenter) -> Vec<String> {
    seg.words(text)
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
    /// The stage's `language`, as a segmenter.
    fixed: Option<Segmenter>,
    /// With `match_ids`: every evaluation document's id.
    ids_set: Option<std::collections::HashSet<String>>,
}

impl Decontaminate {
    /// Reads the evaluation sets of `cfg` (paths relative to `base_dir`) and indexes their
    /// n-grams. Fails, naming the path, when a set cannot be found or read.
    pub fn new(cfg: DecontaminateConfig, base_dir: &Path) -> Result<Self, String> {
        let spec = InputSpec::documents(cfg.eval.clone(), &cfg.text_field, cfg.id_field.clone());
        let files = input::resolve_inputs(&spec, base_dir).map_err(|e| e.to_string())?;
        let fixed = match &cfg.language {
            Some(code) => Some(Segmenter::for_language(
                &crate::text::langs::canonical(code).map_err(|e| format!("language: {e}"))?,
            )),
            None => None,
        };
        let mut s = Decontaminate {
            n: cfg.ngram.max(1),
            index: HashMap::new(),
            short_lengths: Vec::new(),
            ids: Vec::new(),
            fixed,
            ids_set: cfg.match_ids.then(std::collections::HashSet::new),
        };
        for f in &files {
            for r in input::open(f, &spec).map_err(|e| e.to_string())? {
                let doc = r.map_err(|j| {
                    format!(
                        "evaluation set {}, {}: {} ({})",
                        j.source, j.location, j.reason, j.detail
                    )
                })?;
                if let Some(set) = &mut s.ids_set {
                    set.insert(doc.id.clone());
                }
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
        let segs = match self.fixed {
            Some(seg) => vec![seg],
            None => {
                let by_script = segmenter_by_script(text);
                if by_script == Segmenter::English {
                    vec![Segmenter::English]
                } else {
                    vec![by_script, Segmenter::English]
                }
            }
        };
        let at = self.ids.len() as u32;
        let mut any = false;
        for seg in segs {
            let words = norm_words(text, seg);
            if words.is_empty() {
                continue;
            }
            any = true;
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
        if any {
            self.ids.push(id.to_string());
        }
    }

    /// Evaluation documents indexed.
    pub fn eval_docs(&self) -> usize {
        self.ids.len()
    }

    /// The evaluation document `text` (in language `lang`, if known) overlaps, if any.
    pub fn overlap(&self, text: &str, lang: Option<&str>) -> Option<&str> {
        if self.index.is_empty() {
            return None;
        }
        let seg = self
            .fixed
            .unwrap_or_else(|| lang.map_or(Segmenter::English, Segmenter::for_language));
        let words = norm_words(text, seg);
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
        if self.ids_set.as_ref().is_some_and(|s| s.contains(&doc.id)) {
            doc.duplicate_of = Some(doc.id.clone());
            return Verdict::Drop("overlap");
        }
        match self.overlap(&doc.text, doc.lang.as_deref()) {
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
            fixed: None,
            ids_set: None,
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
            s.overlap(
                "Trivia: the LARGEST ocean, on the planet is the Pacific.",
                None
            ),
            Some("q2")
        );
        assert_eq!(s.overlap("capital city of France", None), None);
        assert_eq!(
            s.overlap("what is the capital of spain, the city", None),
            None
        );
        assert_eq!(
            s.overlap("— is the capital city of France —", None),
            Some("q1")
        );
    }

    #[test]
    fn short_evaluation_documents_match_as_a_whole() {
        let s = stage(13, &[("short", "Paris is lovely"), ("empty", "!!!")]);
        assert_eq!(s.eval_docs(), 1);
        assert_eq!(
            s.overlap("They say paris, is lovely in May.", None),
            Some("short")
        );
        assert_eq!(s.overlap("Paris is rainy", None), None);
    }

    #[test]
    fn chinese_overlap_is_found_with_or_without_a_language() {
        let q = "人工智能是计算机科学的一个分支，它企图了解智能的实质，并生产出一种新的能以人类智能相似的方式做出反应的智能机器。";
        let s = stage(8, &[("zh", q)]);
        let doc = format!("前言。{q}后记。");
        assert_eq!(s.overlap(&doc, Some("cmn")), Some("zh"));
        assert_eq!(s.overlap(&doc, None), Some("zh"));
        assert_eq!(
            s.overlap("人工智能是计算机科学的一个分支。", Some("cmn")),
            None
        );
    }

    #[test]
    fn held_out_documents_are_dropped_by_id_too() {
        let mut s = stage(13, &[("page-1", "A short snippet.")]);
        s.ids_set = Some(["page-1".to_string()].into());
        let mut d = Document::new(
            "page-1",
            "<html>Menu. A short snippet. Footer.</html>",
            std::sync::Arc::from("t"),
        );
        assert_eq!(
            s.check(&mut d, &mut Counters::default()),
            Verdict::Drop("overlap")
        );
        assert_eq!(d.duplicate_of.as_deref(), Some("page-1"));
        let mut other = Document::new(
            "page-2",
            "Another page entirely.",
            std::sync::Arc::from("t"),
        );
        assert_eq!(s.check(&mut other, &mut Counters::default()), Verdict::Keep);
    }

    #[test]
    fn word_boundaries_are_kept_in_the_hash() {
        assert_ne!(
            hash_words(&["ab".into(), "c".into()]),
            hash_words(&["a".into(), "bc".into()])
        );
    }
}
