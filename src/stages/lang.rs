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
//! languages wanted. A script-only document is kept when `allow` lists `und` or a language
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

/// Config of the `language` stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
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
        Language {
            cfg,
            allow,
            allow_und,
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
                if !self.allowed(lang) {
                    Verdict::Drop("not_allowed")
                } else if score < self.cfg.min_score {
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
