//! Per-language settings for the quality filters.
//!
//! `gopher_quality`, `gopher_repetition`, `fineweb`, `c4` and `length` take three options
//! besides their own:
//!
//! - `language: CODE`: the language of every document the stage sees. Absent: each
//!   document's `lang`, as the `language` stage set it.
//! - `language_defaults: fineweb2`: the shipped settings for every language the `language`
//!   stage can output ([`crate::text::langs::fineweb2`]): FineWeb-2's published thresholds and
//!   stop words, or settings derived with `corpusforge calibrate` where our words differ from
//!   the ones FineWeb-2 counted.
//! - `languages: {CODE: {option: value, ...}}`: the stage's options for documents in that
//!   language, over the defaults.
//!
//! A document in language L is checked with the stage's own options, overlaid by the table's
//! row for L (with `language_defaults`), overlaid by `languages[L]`; a document in a language
//! that neither gives settings for (`und`, English: the stage's own settings are datatrove's
//! English ones) is checked with the stage's own options. Whatever the settings, its words
//! are the words of its language ([`Segmenter::for_language`]).
//!
//! Every document a stage with language options checks is counted in the stage's counters as
//! `settings:<lang>=<source>` (`fineweb2`, `languages`, `fineweb2+languages`, `own` for the
//! stage's own options chosen on purpose, `none` for a language nothing gives settings for),
//! so `stats.json` and the manifest say which settings decided; `none` is also logged.

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::Counters;
use crate::text::langs::{self, canonical, LanguageTable, UND};
use crate::text::Segmenter;

/// A shipped table of per-language settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LanguageDefaults {
    /// FineWeb-2's per-language filter configs (huggingface/fineweb-2, configs/), for every
    /// language the `language` stage can output; Japanese and Korean derived with
    /// `corpusforge calibrate` (their words differ from FineWeb-2's).
    Fineweb2,
}

impl LanguageDefaults {
    /// The table.
    pub fn table(self) -> &'static LanguageTable {
        match self {
            LanguageDefaults::Fineweb2 => langs::fineweb2(),
        }
    }
}

/// The language options of a stage config (borrowed).
pub struct LanguageOptions<'a> {
    /// `language:`.
    pub language: &'a Option<String>,
    /// `languages:`.
    pub languages: &'a BTreeMap<String, Map<String, Value>>,
    /// `language_defaults:`.
    pub language_defaults: Option<LanguageDefaults>,
}

impl LanguageOptions<'_> {
    /// Whether any language option is set.
    pub fn any(&self) -> bool {
        self.language.is_some() || !self.languages.is_empty() || self.language_defaults.is_some()
    }
}

/// A stage config with language options.
pub trait LanguageAware: Serialize + DeserializeOwned + Clone + Check {
    /// The stage type, as the settings tables name it.
    const STAGE: &'static str;
    /// The language options.
    fn language_options(&self) -> LanguageOptions<'_>;
    /// The config without its language options (what the overlays apply to).
    fn without_language_options(&self) -> Self;
}

/// `base` with the options of each layer set over it, in order.
pub fn overlay<C: LanguageAware>(base: &C, layers: &[&Map<String, Value>]) -> Result<C, String> {
    let mut v = serde_json::to_value(base.without_language_options()).map_err(|e| e.to_string())?;
    let Value::Object(obj) = &mut v else {
        return Err("a stage config is an object".into());
    };
    for layer in layers {
        for (k, x) in layer.iter() {
            obj.insert(k.clone(), x.clone());
        }
    }
    serde_json::from_value(v).map_err(|e| e.to_string())
}

const LANGUAGE_KEYS: [&str; 3] = ["language", "languages", "language_defaults"];

/// The problems of a config's language options: unknown codes, two keys for one language,
/// language options inside `languages:`, and the problems of each language's settings (the
/// config's own checks on the overlaid options).
pub fn check_language_options<C: LanguageAware>(cfg: &C) -> Vec<Problem> {
    let o = cfg.language_options();
    let mut p = Vec::new();
    if !o.any() {
        return p;
    }
    // Problems of the stage's own options are reported once, not again for every language.
    let own: Vec<String> = cfg
        .without_language_options()
        .check()
        .into_iter()
        .map(|q| q.message)
        .collect();
    let fresh = |q: &Problem| !own.contains(&q.message);
    if let Some(code) = o.language {
        if let Err(e) = canonical(code) {
            p.push(Problem::at("language", e));
        }
    }
    if let Some(d) = o.language_defaults {
        // One problem per option that fails, naming the languages it fails for.
        // (the option's path, (language, message) of each language it fails for)
        type Fails = Vec<(String, String)>;
        let mut by_field: Vec<(Vec<String>, Fails)> = Vec::new();
        for row in &d.table().languages {
            let Some(s) = row.settings(C::STAGE) else {
                continue;
            };
            match overlay(cfg, &[s]) {
                Ok(merged) => {
                    for q in merged.check().into_iter().filter(fresh) {
                        let entry = (row.code.clone(), q.message);
                        match by_field.iter_mut().find(|(path, _)| *path == q.path) {
                            Some((_, v)) => v.push(entry),
                            None => by_field.push((q.path, vec![entry])),
                        }
                    }
                }
                Err(e) => p.push(Problem::at("language_defaults", e)),
            }
        }
        for (_, fails) in by_field {
            let (first_lang, first) = &fails[0];
            let message = if fails.len() == 1 {
                format!(
                    "with the {} settings for {first_lang}: {first}",
                    d.table().name
                )
            } else {
                let langs: Vec<&str> = fails.iter().map(|(l, _)| l.as_str()).collect();
                format!(
                    "with the {} settings for {} languages ({}): {first} (for {first_lang}; the others alike)",
                    d.table().name,
                    fails.len(),
                    langs.join(", ")
                )
            };
            p.push(Problem::at("language_defaults", message));
        }
    }
    let mut seen: HashMap<String, &str> = HashMap::new();
    for (key, over) in o.languages {
        let at = |field: &str| vec!["languages".to_string(), key.clone(), field.to_string()];
        let canon = match canonical(key) {
            Ok(c) => c,
            Err(e) => {
                p.push(Problem {
                    path: vec!["languages".into(), key.clone()],
                    message: e,
                });
                continue;
            }
        };
        if let Some(other) = seen.insert(canon.clone(), key) {
            p.push(Problem {
                path: vec!["languages".into(), key.clone()],
                message: format!("{key:?} and {other:?} are the same language ({canon})"),
            });
        }
        let mut nested = false;
        for k in LANGUAGE_KEYS {
            if over.contains_key(k) {
                nested = true;
                p.push(Problem {
                    path: at(k),
                    message: format!("{k} cannot be set per language"),
                });
            }
        }
        if nested {
            continue;
        }
        match resolved(cfg, &canon) {
            Ok((merged, _)) => {
                for mut q in merged.check().into_iter().filter(fresh) {
                    let mut path = vec!["languages".to_string(), key.clone()];
                    path.append(&mut q.path);
                    p.push(Problem {
                        path,
                        message: q.message,
                    });
                }
            }
            Err(e) => p.push(Problem {
                path: vec!["languages".into(), key.clone()],
                message: e,
            }),
        }
    }
    p
}

/// The options a stage applies to documents in language `key` (a canonical code), and the
/// layers they come from (`fineweb2`, `languages`; none: the stage's own options).
pub fn resolved<C: LanguageAware>(cfg: &C, key: &str) -> Result<(C, Vec<&'static str>), String> {
    let o = cfg.language_options();
    let mut layers: Vec<&Map<String, Value>> = Vec::new();
    let mut sources = Vec::new();
    if let Some(s) = o
        .language_defaults
        .and_then(|d| d.table().row(key))
        .and_then(|r| r.settings(C::STAGE))
    {
        layers.push(s);
        sources.push("fineweb2");
    }
    for (k, over) in o.languages {
        if canonical(k).is_ok_and(|c| c == key) {
            layers.push(over);
            sources.push("languages");
        }
    }
    Ok((overlay(cfg, &layers)?, sources))
}

/// The filter built for each language's settings, and the choice among them per document.
pub struct ByLanguage<T> {
    own: T,
    /// `language:` resolved: the key and its entry (if any).
    fixed: Option<(String, Option<usize>)>,
    /// The filter and counter key of every language with settings of its own.
    entries: Vec<(T, &'static str)>,
    index: HashMap<String, usize>,
    /// Whether any language option is set (then documents are counted by settings).
    record: bool,
    /// The counter keys of the languages checked with the stage's own options: `=own` for
    /// English and `und` (and table rows without settings for the stage), `=none` for the
    /// table's other languages; made once, so counting a document takes no lock.
    own_counters: HashMap<String, &'static str>,
}

/// What a document is checked with.
pub struct Resolved<'a, T> {
    /// The filter with the document's settings.
    pub filter: &'a T,
    /// How its words are split.
    pub seg: Segmenter,
}

impl<T> ByLanguage<T> {
    /// Builds the filter for the stage's own options and for every language the options give
    /// settings for (`make` builds one from a config).
    pub fn build<C: LanguageAware>(cfg: &C, make: impl Fn(C) -> T) -> Result<Self, String> {
        let o = cfg.language_options();
        let record = o.any();
        let own = make(cfg.without_language_options());
        // The languages with settings of their own: the table's rows that give the stage
        // options, and the keys of `languages:`.
        let mut keys: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        // The stage's own options are datatrove's English ones: English and text of unknown
        // language use them on purpose.
        let mut own_on_purpose = vec![UND.to_string(), "eng".to_string()];
        if let Some(d) = o.language_defaults {
            for row in &d.table().languages {
                match row.settings(C::STAGE) {
                    Some(_) => {
                        keys.insert(row.code.clone());
                    }
                    None => own_on_purpose.push(row.code.clone()),
                }
            }
        }
        for key in o.languages.keys() {
            keys.insert(canonical(key).map_err(|e| format!("languages: {e}"))?);
        }
        let mut entries = Vec::with_capacity(keys.len());
        let mut index = HashMap::with_capacity(keys.len());
        for key in keys {
            let (merged, sources) =
                resolved(cfg, &key).map_err(|e| format!("settings for {key}: {e}"))?;
            let counter = langs::intern(&format!("settings:{key}={}", sources.join("+")));
            index.insert(key, entries.len());
            entries.push((make(merged), counter));
        }
        let mut own_counters = HashMap::new();
        if record {
            // `und` also stands for documents without a language, which find no entry.
            own_counters.insert(UND.to_string(), own_counter(&own_on_purpose, UND));
            for row in &langs::fineweb2().languages {
                if !index.contains_key(&row.code) {
                    own_counters.insert(row.code.clone(), own_counter(&own_on_purpose, &row.code));
                }
            }
        }
        let fixed = match o.language {
            Some(code) => {
                let key = canonical(code).map_err(|e| format!("language: {e}"))?;
                let i = index.get(&key).copied();
                if i.is_none() && record {
                    own_counters.insert(key.clone(), own_counter(&own_on_purpose, &key));
                }
                Some((key, i))
            }
            None => None,
        };
        Ok(ByLanguage {
            own,
            fixed,
            entries,
            index,
            record,
            own_counters,
        })
    }

    /// The filter with the stage's own options.
    pub fn own(&self) -> &T {
        &self.own
    }

    /// The filter and segmenter for `doc`, counting the settings used when the stage has
    /// language options.
    pub fn resolve<'a>(&'a self, doc: &Document, counters: &mut Counters) -> Resolved<'a, T> {
        let (lang, entry) = match &self.fixed {
            Some((key, i)) => (Some(key.as_str()), *i),
            None => match doc.lang.as_deref() {
                Some(l) => (Some(l), self.index.get(l).copied()),
                None => (None, None),
            },
        };
        let seg = match lang {
            // A text too short for a language guess still has its script.
            Some(UND) => doc
                .metadata
                .as_ref()
                .and_then(|m| m.get("script"))
                .and_then(|s| s.as_str())
                .map_or(Segmenter::English, Segmenter::for_script),
            Some(l) => Segmenter::for_language(l),
            None => Segmenter::English,
        };
        match entry {
            Some(i) => {
                let (filter, counter) = &self.entries[i];
                if self.record {
                    counters.add(counter, 1);
                }
                Resolved { filter, seg }
            }
            None => {
                if self.record {
                    let l = lang.unwrap_or(UND);
                    let counter = match self.own_counters.get(l) {
                        Some(c) => c,
                        // A code outside the table (a lang set by other means): rare.
                        None => langs::intern(&format!("settings:{l}=none")),
                    };
                    counters.add(counter, 1);
                }
                Resolved {
                    filter: &self.own,
                    seg,
                }
            }
        }
    }
}

/// The counter key of documents in `lang` checked with the stage's own options.
fn own_counter(own_on_purpose: &[String], lang: &str) -> &'static str {
    let how = if own_on_purpose.iter().any(|k| k == lang) {
        "own"
    } else {
        "none"
    };
    langs::intern(&format!("settings:{lang}={how}"))
}

/// Implements [`LanguageAware`] for a config with `language`, `languages` and
/// `language_defaults` fields.
#[macro_export]
macro_rules! language_aware {
    ($cfg:ty, $stage:literal) => {
        impl $crate::stages::quality::by_language::LanguageAware for $cfg {
            const STAGE: &'static str = $stage;
            fn language_options(
                &self,
            ) -> $crate::stages::quality::by_language::LanguageOptions<'_> {
                $crate::stages::quality::by_language::LanguageOptions {
                    language: &self.language,
                    languages: &self.languages,
                    language_defaults: self.language_defaults,
                }
            }
            fn without_language_options(&self) -> Self {
                let mut c = self.clone();
                c.language = None;
                c.languages = Default::default();
                c.language_defaults = None;
                c
            }
        }
    };
}
