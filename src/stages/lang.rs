//! `language`: identifies the language of every document with whatlang, and filters by it.
//!
//! Every document the stage sees gets `lang` (ISO 639-3, as whatlang's [`Lang::code`] gives it)
//! and `lang_score` (whatlang's confidence, 0..1). Text whatlang cannot place (no letters) gets
//! `und` and 0.
//!
//! Short texts are whatlang's weak spot (a handful of trigrams say little). With
//! `script_only_below_chars: N`, a text shorter than N characters is not given a language
//! guess at all: it gets `lang: und`, `lang_score: 0` and its writing system in
//! `metadata.script` (e.g. `Latin`, `Cyrillic`, `Mandarin`).
//!
//! Filtering, in this order: when `allow` is set, a language not in it is dropped as
//! `lang:not_allowed`; then an (allowed) language scoring below `min_score` is dropped as
//! `lang:low_confidence` — so `low_confidence` counts what the threshold costs among the
//! languages wanted. `min_scores` sets the minimum per language (FineWeb-2 sets one per
//! language: a language easily mistaken for a neighbour needs a higher one), and
//! `adaptive_min_scores` computes them as FineWeb-2 did: for every language with at least
//! `adaptive_min_docs` documents in a seeded sample of the input, the median of its
//! documents' confidences minus their standard deviation, clamped to 0.3..0.9 (recorded in the
//! manifest's `calibrations`; `min_scores` given by hand win). A script-only document is kept when `allow` lists `und` or a language
//! written in its script (so a short Latin-script text passes `[eng, deu]`, a short Cyrillic
//! one does not); `min_score` does not apply to it. An undetermined text (`und` without a
//! script) is kept only when `allow` is absent or lists `und`, and `min_score` is 0.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use whatlang::{Lang, Script};

use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};

/// The code of an undetermined language.
pub const UND: &str = "und";

fn default_sample_docs() -> usize {
    5_000
}
fn default_adaptive_min_docs() -> usize {
    20
}

/// Config of the `language` stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LanguageConfig {
    /// Languages to keep, as ISO 639-3 codes whatlang knows (`eng`, `deu`, `cmn`, ...), plus
    /// `und` for texts without a language guess. Absent: every language is kept.
    #[serde(default)]
    pub allow: Option<Vec<String>>,
    /// Minimum whatlang confidence (0..1) of a language guess; below it the document is
    /// dropped as `lang:low_confidence`.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_score: f64,
    /// Minimum confidence by language code (e.g. `{cmn: 0.5, hrv: 0.9}`), instead of
    /// `min_score` for documents identified as that language.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub min_scores: std::collections::BTreeMap<String, f64>,
    /// Set each language's minimum confidence from a seeded sample of the input, as FineWeb-2
    /// did: max(0.3, min(0.9, median - standard deviation)) of its documents' confidences.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adaptive_min_scores: bool,
    /// Documents in the sample for `adaptive_min_scores` (held in memory with their text while
    /// the thresholds are computed).
    #[serde(default = "default_sample_docs")]
    #[schemars(range(min = 1))]
    pub sample_docs: usize,
    /// A language needs this many sampled documents for an adaptive minimum (others keep
    /// `min_score`).
    #[serde(default = "default_adaptive_min_docs")]
    #[schemars(range(min = 1))]
    pub adaptive_min_docs: usize,
    /// Texts shorter than this many characters get script detection only (`lang: und`,
    /// `metadata.script`). 0 (the default) always guesses a language.
    #[serde(default)]
    pub script_only_below_chars: u64,
    /// Look at no more than this many characters from the start of each text (speed on very
    /// long documents). Absent: the whole text.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_chars: Option<u64>,
}

impl Default for LanguageConfig {
    fn default() -> Self {
        LanguageConfig {
            allow: None,
            min_score: 0.0,
            min_scores: Default::default(),
            adaptive_min_scores: false,
            sample_docs: default_sample_docs(),
            adaptive_min_docs: default_adaptive_min_docs(),
            script_only_below_chars: 0,
            max_chars: None,
        }
    }
}

impl Check for LanguageConfig {
    fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        if let Some(allow) = &self.allow {
            for (i, code) in allow.iter().enumerate() {
                if code != UND && Lang::from_code(code.as_str()).is_none() {
                    p.push(Problem {
                        path: vec!["allow".into(), i.to_string()],
                        message: format!(
                            "unknown language code {code:?}: use an ISO 639-3 code whatlang knows (e.g. eng, deu, cmn) or und"
                        ),
                    });
                }
            }
        }
        if !(0.0..=1.0).contains(&self.min_score) {
            p.push(Problem::at(
                "min_score",
                "min_score must be between 0 and 1",
            ));
        }
        for (code, v) in &self.min_scores {
            let at = vec!["min_scores".to_string(), code.clone()];
            match crate::text::langs::canonical(code) {
                Ok(c) if c.contains('_') || c == UND => p.push(Problem {
                    path: at.clone(),
                    message: format!(
                        "{code:?}: min_scores are by the languages the stage identifies (no script, not und)"
                    ),
                }),
                Ok(_) => {}
                Err(e) => p.push(Problem {
                    path: at.clone(),
                    message: e,
                }),
            }
            if !(0.0..=1.0).contains(v) {
                p.push(Problem {
                    path: at,
                    message: format!("a minimum confidence must be between 0 and 1, got {v}"),
                });
            }
        }
        if self.max_chars == Some(0) {
            p.push(Problem::at("max_chars", "max_chars must be at least 1"));
        }
        p
    }
}

/// What the stage concluded about one text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detection {
    /// A language guess with its confidence.
    Lang(Lang, f64),
    /// Too short for a guess: only the script.
    Script(Script),
    /// Nothing to go on (no letters).
    Unknown,
}

/// The `language` stage.
pub struct Language {
    cfg: LanguageConfig,
    /// The allow-list resolved (`None`: everything allowed).
    allow: Option<Vec<Lang>>,
    allow_und: bool,
    /// `min_scores` by language.
    min_scores: Vec<(Lang, f64)>,
}

impl Language {
    /// A language stage with `cfg` (unknown codes in `allow`, rejected by the config check, are
    /// ignored here).
    pub fn new(cfg: LanguageConfig) -> Self {
        let allow = cfg.allow.as_ref().map(|a| {
            a.iter()
                .filter_map(|c| Lang::from_code(c.as_str()))
                .collect()
        });
        let allow_und = cfg
            .allow
            .as_ref()
            .is_none_or(|a| a.iter().any(|c| c == UND));
        let min_scores = cfg
            .min_scores
            .iter()
            .filter_map(|(code, &v)| {
                let c = crate::text::langs::canonical(code).ok()?;
                Lang::from_code(c.as_str()).map(|l| (l, v))
            })
            .collect();
        Language {
            cfg,
            allow,
            allow_und,
            min_scores,
        }
    }

    /// What the stage makes of `text`.
    pub fn detect(&self, text: &str) -> Detection {
        let text = match self.cfg.max_chars {
            Some(m) => text
                .char_indices()
                .nth(m as usize)
                .map_or(text, |(i, _)| &text[..i]),
            None => text,
        };
        if self.cfg.script_only_below_chars > 0 {
            let short = text
                .char_indices()
                .nth(self.cfg.script_only_below_chars as usize - 1)
                .is_none();
            if short {
                return whatlang::detect_script(text).map_or(Detection::Unknown, Detection::Script);
            }
        }
        match whatlang::detect(text) {
            Some(info) => Detection::Lang(info.lang(), info.confidence()),
            None => Detection::Unknown,
        }
    }

    /// Sets the per-language minimum confidences from the confidences of a sample of
    /// documents (FineWeb-2's rule, see the module docs); `min_scores` given in the config win.
    /// Returns the minimums set.
    pub fn adapt(&mut self, texts: &[&str]) -> std::collections::BTreeMap<String, f64> {
        let mut by: std::collections::BTreeMap<&'static str, (Lang, Vec<f64>)> = Default::default();
        for t in texts {
            if let Detection::Lang(l, s) = self.detect(t) {
                by.entry(l.code()).or_insert((l, Vec::new())).1.push(s);
            }
        }
        let mut set = std::collections::BTreeMap::new();
        for (code, (lang, mut v)) in by {
            if v.len() < self.cfg.adaptive_min_docs
                || self.min_scores.iter().any(|(l, _)| *l == lang)
            {
                continue;
            }
            v.sort_by(f64::total_cmp);
            let n = v.len();
            let median = if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            };
            let mean = v.iter().sum::<f64>() / n as f64;
            let sd = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64).sqrt();
            let t = ((median - sd).clamp(0.3, 0.9) * 1000.0).round() / 1000.0;
            self.min_scores.push((lang, t));
            set.insert(code.to_string(), t);
        }
        set
    }

    fn allowed(&self, lang: Lang) -> bool {
        self.allow.as_ref().is_none_or(|a| a.contains(&lang))
    }
}

impl Filter for Language {
    fn check(&self, doc: &mut Document, _counters: &mut Counters) -> Verdict {
        match self.detect(&doc.text) {
            Detection::Lang(lang, score) => {
                doc.lang = Some(lang.code().to_string());
                doc.lang_score = Some(score as f32);
                let min = self
                    .min_scores
                    .iter()
                    .find(|(l, _)| *l == lang)
                    .map_or(self.cfg.min_score, |&(_, v)| v);
                if !self.allowed(lang) {
                    Verdict::Drop("not_allowed")
                } else if score < min {
                    Verdict::Drop("low_confidence")
                } else {
                    Verdict::Keep
                }
            }
            Detection::Script(script) => {
                doc.lang = Some(UND.to_string());
                doc.lang_score = Some(0.0);
                doc.metadata.get_or_insert_with(Default::default).insert(
                    "script".into(),
                    serde_json::Value::String(script.name().to_string()),
                );
                if self.allow_und || script.langs().iter().any(|l| self.allowed(*l)) {
                    Verdict::Keep
                } else {
                    Verdict::Drop("not_allowed")
                }
            }
            Detection::Unknown => {
                doc.lang = Some(UND.to_string());
                doc.lang_score = Some(0.0);
                if !self.allow_und {
                    Verdict::Drop("not_allowed")
                } else if self.cfg.min_score > 0.0 {
                    Verdict::Drop("low_confidence")
                } else {
                    Verdict::Keep
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const ENG: &str = "The quick brown fox jumps over the lazy dog, and then it runs back into the forest where it lives with its family.";
    const DEU: &str = "Der schnelle braune Fuchs springt über den faulen Hund und läuft dann zurück in den Wald, wo er mit seiner Familie lebt.";
    const RUS: &str = "Быстрая коричневая лиса прыгает через ленивую собаку и убегает обратно в лес, где живёт со своей семьёй.";
    const CMN: &str = "敏捷的棕色狐狸跳过了那只懒狗，然后跑回了它和家人一起生活的森林。";

    fn check(cfg: LanguageConfig, text: &str) -> (Verdict, Document) {
        let mut d = Document::new("d", text, Arc::from("t"));
        let v = Language::new(cfg).check(&mut d, &mut Counters::default());
        (v, d)
    }

    #[test]
    fn annotates_every_document() {
        for (text, code) in [(ENG, "eng"), (DEU, "deu"), (RUS, "rus"), (CMN, "cmn")] {
            let (v, d) = check(LanguageConfig::default(), text);
            assert_eq!(v, Verdict::Keep);
            assert_eq!(d.lang.as_deref(), Some(code), "{text}");
            assert!(d.lang_score.is_some_and(|s| s > 0.5), "{:?}", d.lang_score);
        }
        let (v, d) = check(LanguageConfig::default(), "12345 !!! 678");
        assert_eq!(
            (v, d.lang.as_deref(), d.lang_score),
            (Verdict::Keep, Some("und"), Some(0.0))
        );
    }

    #[test]
    fn min_score_by_language() {
        let cfg = LanguageConfig {
            min_scores: [("deu".to_string(), 1.0)].into(),
            ..Default::default()
        };
        // German needs full confidence here, English nothing.
        let (v, d) = check(cfg.clone(), DEU);
        assert_eq!(d.lang.as_deref(), Some("deu"));
        assert_eq!(
            v,
            if d.lang_score == Some(1.0) {
                Verdict::Keep
            } else {
                Verdict::Drop("low_confidence")
            }
        );
        assert_eq!(check(cfg, ENG).0, Verdict::Keep);
        let bad = LanguageConfig {
            min_scores: [("xx".to_string(), 0.5), ("cmn_Hani".to_string(), 1.5)].into(),
            ..Default::default()
        };
        let p = bad.check();
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].path, ["min_scores", "cmn_Hani"]);
        assert!(p[1].message.contains("not a language code"), "{p:?}");
    }

    #[test]
    fn allow_list_and_min_score() {
        let allow = LanguageConfig {
            allow: Some(vec!["eng".into(), "deu".into()]),
            ..Default::default()
        };
        assert_eq!(check(allow.clone(), ENG).0, Verdict::Keep);
        assert_eq!(check(allow.clone(), DEU).0, Verdict::Keep);
        assert_eq!(check(allow.clone(), RUS).0, Verdict::Drop("not_allowed"));
        assert_eq!(
            check(allow.clone(), "12345").0,
            Verdict::Drop("not_allowed")
        );
        // Not allowed comes first: a confident guess of another language is `not_allowed`.
        let both = LanguageConfig {
            min_score: 0.99,
            ..allow.clone()
        };
        assert_eq!(check(both.clone(), RUS).0, Verdict::Drop("not_allowed"));
        assert_eq!(
            check(both, "Hello there").0,
            Verdict::Drop("low_confidence")
        );
        let strict = LanguageConfig {
            min_score: 0.99,
            ..Default::default()
        };
        // Two words are not enough for a confident guess.
        assert_eq!(
            check(strict.clone(), "Hello there").0,
            Verdict::Drop("low_confidence")
        );
        assert_eq!(check(strict, "12345").0, Verdict::Drop("low_confidence"));
    }

    #[test]
    fn short_texts_get_their_script() {
        let cfg = LanguageConfig {
            allow: Some(vec!["eng".into(), "deu".into()]),
            script_only_below_chars: 20,
            ..Default::default()
        };
        let (v, d) = check(cfg.clone(), "Guten Tag!");
        assert_eq!(v, Verdict::Keep);
        assert_eq!(d.lang.as_deref(), Some("und"));
        assert_eq!(
            d.metadata
                .as_ref()
                .and_then(|m| m.get("script"))
                .and_then(|s| s.as_str()),
            Some("Latin")
        );
        let (v, d) = check(cfg.clone(), "Добрый день");
        assert_eq!(v, Verdict::Drop("not_allowed"));
        assert_eq!(
            d.metadata
                .as_ref()
                .and_then(|m| m.get("script"))
                .and_then(|s| s.as_str()),
            Some("Cyrillic")
        );
        // Exactly at the threshold a guess is made.
        let (_, d) = check(cfg, "abcdefghij klmnopqrs");
        assert_ne!(d.lang.as_deref(), Some("und"));
        let with_und = LanguageConfig {
            allow: Some(vec!["und".into()]),
            script_only_below_chars: 20,
            ..Default::default()
        };
        assert_eq!(check(with_und, "Добрый день").0, Verdict::Keep);
    }

    #[test]
    fn max_chars_looks_at_a_prefix() {
        let text = format!("{ENG} {}", RUS.repeat(5));
        let cfg = LanguageConfig {
            max_chars: Some(ENG.chars().count() as u64),
            ..Default::default()
        };
        assert_eq!(check(cfg, &text).1.lang.as_deref(), Some("eng"));
        assert_eq!(
            check(LanguageConfig::default(), &text).1.lang.as_deref(),
            Some("rus")
        );
    }

    #[test]
    fn config_checks() {
        let c = LanguageConfig {
            allow: Some(vec!["eng".into(), "english".into(), "und".into()]),
            min_score: 1.5,
            ..Default::default()
        };
        let p = c.check();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].path, vec!["allow".to_string(), "1".to_string()]);
        assert_eq!(p[1].path, vec!["min_score".to_string()]);
    }
}
