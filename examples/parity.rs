//! Helper for `scripts/datatrove_parity.sh`: prints, for each JSONL document on stdin, what
//! corpusforge computes, one JSON object per line, for comparison with datatrove.
//!
//! Usage: `parity words < docs.jsonl` (the word tokens of each document),
//! `parity sentences < docs.jsonl` (the sentence count of each line),
//! `parity html < docs.jsonl` (the text after `html_strip` with defaults), or
//! `parity filter NAME < docs.jsonl` (the verdict of filter NAME with its default config:
//! gopher_quality, gopher_repetition, c4, c4_no_punct, fineweb; `text` is the text after it).
//! `--language CODE` splits words as that language does (and gives the filter `language:`);
//! `--fineweb2` gives the filter `language_defaults: fineweb2`.

use std::io::{BufRead, Write};

use corpusforge::document::Document;
use corpusforge::stage::{Counters, Filter, Map, Verdict};
use corpusforge::stages::clean::html_strip::{HtmlStrip, HtmlStripConfig};
use corpusforge::stages::quality::{c4, fineweb, gopher_quality, gopher_repetition};

fn filter(name: &str, language: Option<String>, fw2: bool) -> Box<dyn Filter> {
    use corpusforge::stages::quality::by_language::LanguageDefaults;
    let defaults = fw2.then_some(LanguageDefaults::Fineweb2);
    match name {
        "gopher_quality" => Box::new(gopher_quality::GopherQuality::new(
            gopher_quality::GopherQualityConfig {
                language,
                language_defaults: defaults,
                ..Default::default()
            },
        )),
        "gopher_repetition" => Box::new(gopher_repetition::GopherRepetition::new(
            gopher_repetition::GopherRepetitionConfig {
                language,
                language_defaults: defaults,
                ..Default::default()
            },
        )),
        "c4" => Box::new(c4::C4::new(c4::C4Config {
            language,
            language_defaults: defaults,
            ..Default::default()
        })),
        "c4_no_punct" => Box::new(c4::C4::new(c4::C4Config {
            filter_no_terminal_punct: false,
            language,
            language_defaults: defaults,
            ..Default::default()
        })),
        "fineweb" => Box::new(fineweb::Fineweb::new(fineweb::FinewebConfig {
            language,
            language_defaults: defaults,
            ..Default::default()
        })),
        other => {
            eprintln!("unknown filter {other:?}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).cloned().unwrap_or_default();
    let language = args
        .iter()
        .position(|a| a == "--language")
        .and_then(|i| args.get(i + 1).cloned());
    let fw2 = args.iter().any(|a| a == "--fineweb2");
    let seg = language
        .as_deref()
        .map_or(corpusforge::text::Segmenter::English, |l| {
            corpusforge::text::Segmenter::for_language(l)
        });
    let stage = (mode == "filter").then(|| {
        filter(
            args.get(2).map_or("", |s| s.as_str()),
            language.clone(),
            fw2,
        )
    });
    let html = HtmlStrip::new(HtmlStripConfig::default());
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let text = v["text"].as_str().unwrap_or_default();
        let id = v["id"].clone();
        let rec = match mode.as_str() {
            "words" => serde_json::json!({"id": id, "words": seg.words(text)}),
            "sentences" => {
                let counts: Vec<usize> = corpusforge::text::py_splitlines(text)
                    .map(|l| {
                        corpusforge::text::count_sentences(&corpusforge::text::words(l.trim()))
                    })
                    .collect();
                serde_json::json!({"id": id, "sentences": counts})
            }
            "html" => {
                let mut d = Document::new("d", text, std::sync::Arc::from("stdin"));
                html.apply(&mut d, &mut Counters::default());
                serde_json::json!({"id": id, "text": d.text})
            }
            "filter" => {
                let mut d = Document::new("d", text, std::sync::Arc::from("stdin"));
                let v = stage
                    .as_ref()
                    .map(|f| f.check(&mut d, &mut Counters::default()));
                let reason = match v {
                    Some(Verdict::Drop(r)) => Some(r),
                    _ => None,
                };
                serde_json::json!({"id": id, "keep": reason.is_none(), "reason": reason, "text": d.text})
            }
            other => {
                eprintln!("unknown mode {other:?}; expected words | sentences | html | filter");
                std::process::exit(2);
            }
        };
        let _ = writeln!(out, "{rec}");
    }
}
