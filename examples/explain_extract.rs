//! Prints how the `extract` stage decided on web pages: the chosen container, then every block
//! with its class, value, boilerplate bits and verdict, then the extracted text.
//!
//! Usage: `explain_extract PAGE.html` for one file, or `explain_extract EVAL.jsonl.gz NEEDLE`
//! for every page of a JSONL(.gz) file (`id` and `text` fields, like trafilatura's evaluation
//! set) whose id contains NEEDLE; with an eval set, the snippets that must and must not appear
//! are checked against the text and the misses listed. `explain_extract EVAL.jsonl[.gz] --score`
//! scores every page instead (the snippet metric of `../shared/bench/extraction_score.py`) and
//! prints one line per page with errors (true and false positives, false negatives, characters
//! extracted, id), then the totals.

use std::io::{BufRead, Read};

use corpusforge::stages::clean::extract_score::SnippetCounts;
use corpusforge::stages::clean::main_content::{explain, extract, ExtractOptions};

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn show(id: &str, html: &str, with: &[String], without: &[String]) {
    let opts = ExtractOptions::default();
    println!("=== {id}");
    print!("{}", explain(html, &opts));
    let text = extract(html, &opts).text;
    println!("--- text\n{text}");
    let t = norm(&text);
    for w in with.iter().filter(|w| !t.contains(&norm(w))) {
        println!("MISSING: {w}");
    }
    for w in without.iter().filter(|w| t.contains(&norm(w))) {
        println!("UNWANTED: {w}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: explain_extract PAGE.html | explain_extract EVAL.jsonl[.gz] NEEDLE");
        std::process::exit(2);
    };
    let mut raw = Vec::new();
    if let Err(e) = std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut raw)) {
        eprintln!("{path}: {e}");
        std::process::exit(1);
    }
    let Some(needle) = args.get(1) else {
        show(path, &String::from_utf8_lossy(&raw), &[], &[]);
        return;
    };
    let reader: Box<dyn BufRead> = if path.ends_with(".gz") {
        Box::new(std::io::BufReader::new(flate2::read::GzDecoder::new(
            &raw[..],
        )))
    } else {
        Box::new(&raw[..])
    };
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut total = SnippetCounts::default();
    for line in reader.lines().map_while(Result::ok) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let id = v["id"].as_str().unwrap_or_default();
        if needle == "--score" {
            let html = v["text"].as_str().unwrap_or_default();
            let text = extract(html, &ExtractOptions::default()).text;
            let c = SnippetCounts::of_page(&text, &strings(&v["with"]), &strings(&v["without"]));
            if c.false_positives + c.false_negatives > 0 {
                println!(
                    "{}\t{}\t{}\t{}\t{id}",
                    c.true_positives,
                    c.false_positives,
                    c.false_negatives,
                    text.chars().count()
                );
            }
            total += c;
        } else if id.contains(needle.as_str()) {
            let html = v["text"].as_str().unwrap_or_default();
            show(id, html, &strings(&v["with"]), &strings(&v["without"]));
        }
    }
    if needle == "--score" {
        let (p, r, f1) = total.scores();
        println!(
            "TOTAL tp {} fp {} fn {}: precision {p:.4}, recall {r:.4}, F1 {f1:.4}",
            total.true_positives, total.false_positives, total.false_negatives
        );
    }
}
