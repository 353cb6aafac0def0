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

use std::path::Path;

use corpusforge::stages::clean::extract_score::{normalize, read_eval, SnippetCounts};
use corpusforge::stages::clean::main_content::{explain, extract, ExtractOptions};

fn show(id: &str, html: &str, with: &[String], without: &[String]) {
    let opts = ExtractOptions::default();
    println!("=== {id}");
    print!("{}", explain(html, &opts));
    let text = extract(html, &opts).text;
    println!("--- text\n{text}");
    let t = normalize(&text);
    for w in with.iter().filter(|w| !t.contains(&normalize(w))) {
        println!("MISSING: {w}");
    }
    for w in without.iter().filter(|w| t.contains(&normalize(w))) {
        println!("UNWANTED: {w}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: explain_extract PAGE.html | explain_extract EVAL.jsonl[.gz] NEEDLE");
        std::process::exit(2);
    };
    let Some(needle) = args.get(1) else {
        match std::fs::read(path) {
            Ok(raw) => show(path, &String::from_utf8_lossy(&raw), &[], &[]),
            Err(e) => {
                eprintln!("{path}: {e}");
                std::process::exit(1);
            }
        }
        return;
    };
    let pages = match read_eval(Path::new(path)) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let mut total = SnippetCounts::default();
    for page in &pages {
        if needle == "--score" {
            let text = extract(&page.html, &ExtractOptions::default()).text;
            let c = SnippetCounts::of_page(&text, &page.with, &page.without);
            if c.false_positives + c.false_negatives > 0 {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    c.true_positives,
                    c.false_positives,
                    c.false_negatives,
                    text.chars().count(),
                    page.id
                );
            }
            total += c;
        } else if page.id.contains(needle.as_str()) {
            show(&page.id, &page.html, &page.with, &page.without);
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
