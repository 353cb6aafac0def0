//! Helper for `scripts/datatrove_parity.sh`: prints, for each JSONL document on stdin, what
//! corpusforge computes, one JSON object per line, for comparison with datatrove.
//!
//! Usage: `parity words < docs.jsonl` (the word tokens of each document), or
//! `parity sentences < docs.jsonl` (the sentence count of each line).

use std::io::{BufRead, Write};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout());
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let text = v["text"].as_str().unwrap_or_default();
        let id = v["id"].clone();
        let rec = match mode.as_str() {
            "words" => serde_json::json!({"id": id, "words": corpusforge::text::words(text)}),
            "sentences" => {
                let counts: Vec<usize> = corpusforge::text::py_splitlines(text)
                    .map(|l| corpusforge::text::count_sentences(&corpusforge::text::words(l.trim())))
                    .collect();
                serde_json::json!({"id": id, "sentences": counts})
            }
            other => {
                eprintln!("unknown mode {other:?}; expected words | sentences");
                std::process::exit(2);
            }
        };
        let _ = writeln!(out, "{rec}");
    }
}
