//! The cleaning and quality stages through the public API: configs from YAML, verdicts and
//! reasons at, below and above thresholds, invariants on random documents, and the real HTML
//! pages of ../shared/data.

mod common;

use std::sync::Arc;

use corpusforge::config::{self, StageSpec};
use corpusforge::document::Document;
use corpusforge::stage::Filter;
use corpusforge::stage::{registry, Counters, Stage, Verdict};
use corpusforge::stages::clean::html_strip::{looks_like_html, strip_html, HtmlStripConfig};
use corpusforge::stages::quality::c4::{C4Config, C4};
use corpusforge::stages::quality::fineweb::{Fineweb, FinewebConfig};
use corpusforge::stages::quality::gopher_quality::{GopherQuality, GopherQualityConfig};
use corpusforge::stages::quality::gopher_repetition::{
    GopherRepetition, GopherRepetitionConfig, NGramThreshold,
};
use corpusforge::text;

fn doc(t: &str) -> Document {
    Document::new("d", t, Arc::from("test"))
}

/// Runs a built stage on `t`: the verdict (maps always keep), the text after, the counters.
fn run_stage(stage: &Stage, t: &str) -> (Verdict, String, Counters) {
    let mut d = doc(t);
    let mut c = Counters::default();
    let v = match stage {
        Stage::Map(m) => {
            m.apply(&mut d, &mut c);
            Verdict::Keep
        }
        Stage::Filter(f) => f.check(&mut d, &mut c),
        Stage::Stateful(_) => panic!("not a per-document stage"),
    };
    (v, d.text, c)
}

fn stages_from_yaml(stages: &str) -> Vec<(String, Stage)> {
    let yaml = format!("input: {{paths: [x.jsonl]}}\noutput: {{dir: out}}\nstages:\n{stages}");
    let p = config::load_str(&yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    let ctx = registry::BuildContext {
        base_dir: std::path::Path::new("."),
    };
    p.stages
        .iter()
        .map(|s| {
            (
                s.type_name().to_string(),
                registry::build(s, &ctx)
                    .unwrap()
                    .expect("a streaming stage"),
            )
        })
        .collect()
}

#[test]
fn every_stage_builds_from_yaml_with_datatrove_defaults() {
    let built = stages_from_yaml(
        "  - type: html_strip\n  - type: pii\n  - type: gopher_quality\n  - type: gopher_repetition\n  - type: c4\n  - type: fineweb\n",
    );
    let names: Vec<&str> = built.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "html_strip",
            "pii",
            "gopher_quality",
            "gopher_repetition",
            "c4",
            "fineweb"
        ]
    );
    let p = config::load_str(
        "input: {paths: [x.jsonl]}\noutput: {dir: out}\nstages:\n  - type: gopher_quality\n  - type: c4\n",
        "t.yaml",
    )
    .unwrap();
    assert_eq!(
        p.stages[0],
        StageSpec::GopherQuality(GopherQualityConfig::default())
    );
    assert_eq!(p.stages[1], StageSpec::C4(C4Config::default()));
    let d = GopherQualityConfig::default();
    assert_eq!(
        (d.min_doc_words, d.max_doc_words),
        (Some(50), Some(100_000))
    );
    assert_eq!(
        (d.min_avg_word_length, d.max_avg_word_length),
        (Some(3.0), Some(10.0))
    );
    let r = GopherRepetitionConfig::default();
    assert_eq!(
        r.top_n_grams
            .iter()
            .map(|t| (t.n, t.max_frac))
            .collect::<Vec<_>>(),
        [(2, 0.2), (3, 0.18), (4, 0.16)]
    );
    assert_eq!(r.dup_n_grams.len(), 6);
    let f = FinewebConfig::default();
    assert_eq!(
        (
            f.line_punct_thr,
            f.short_line_thr,
            f.char_duplicates_ratio,
            f.new_line_ratio
        ),
        (Some(0.12), Some(0.67), Some(0.01), Some(0.3))
    );
}

#[test]
fn bad_configs_are_reported_with_the_stage() {
    let yaml = "input: {paths: [x.jsonl]}\noutput: {dir: out}\nstages:\n  - type: gopher_quality\n    min_doc_words: 10\n    max_doc_words: 5\n  - type: fineweb\n    new_line_ratio: -1\n  - type: c4\n    no_such_option: true\n";
    let err = config::load_str(yaml, "bad.yaml").expect_err("three problems");
    let msg = err.to_string();
    assert!(
        msg.contains("min_doc_words (10) is greater than max_doc_words (5)"),
        "{msg}"
    );
    assert!(msg.contains("new_line_ratio"), "{msg}");
    assert!(msg.contains("no_such_option"), "{msg}");
}

#[test]
fn gopher_quality_thresholds_from_yaml() {
    let built = stages_from_yaml(
        "  - type: gopher_quality\n    min_doc_words: 5\n    max_doc_words: null\n    min_avg_word_length: null\n    max_avg_word_length: null\n    max_symbol_word_ratio: null\n    max_bullet_lines_ratio: null\n    max_ellipsis_lines_ratio: null\n    min_alpha_words_ratio: null\n    min_stop_words: 2\n",
    );
    let s = &built[0].1;
    // 4 words: below min_doc_words; 5 with 1 stop word: below min_stop_words; 2 distinct: kept.
    assert_eq!(
        run_stage(s, "the cat sat down").0,
        Verdict::Drop("min_doc_words")
    );
    assert_eq!(
        run_stage(s, "the cat sat down the").0,
        Verdict::Drop("min_stop_words")
    );
    assert_eq!(run_stage(s, "the cat sat down and").0, Verdict::Keep);
    // Contractions split as spaCy does: "don't" is "do" + "n't", two words.
    assert_eq!(run_stage(s, "don't don't the and").0, Verdict::Keep);
}

#[test]
fn c4_rewrites_and_counts_removed_lines() {
    let built = stages_from_yaml("  - type: c4\n    min_num_sentences: 2\n");
    let text = "Navigation\nThis line is a sentence. And another one here!\nPlease enable JavaScript now.\nOk.";
    let (v, out, counters) = run_stage(&built[0].1, text);
    assert_eq!(v, Verdict::Keep);
    assert_eq!(out, "This line is a sentence. And another one here!");
    assert_eq!(counters.0["lines_no_terminal_punct"], 1);
    assert_eq!(counters.0["lines_javascript"], 1);
    assert_eq!(counters.0["lines_too_few_words"], 1);
    // One sentence left: below the minimum.
    let (v, _, _) = run_stage(&built[0].1, "Only one sentence stays here.\nNavigation");
    assert_eq!(v, Verdict::Drop("too_few_sentences"));
    // FineWeb's setting: lines without terminal punctuation stay.
    let off = C4::new(C4Config {
        filter_no_terminal_punct: false,
        min_num_sentences: None,
        ..Default::default()
    });
    let mut d = doc("a line without a stop\nanother such line here");
    assert_eq!(off.check(&mut d, &mut Counters::default()), Verdict::Keep);
    assert_eq!(d.text, "a line without a stop\nanother such line here");
}

#[test]
fn fineweb_reasons_in_order() {
    let f = Fineweb::new(FinewebConfig::default());
    let check = |t: &str| f.check(&mut doc(t), &mut Counters::default());
    assert_eq!(check("\n \n"), Verdict::Drop("empty"));
    assert_eq!(
        check("no stop here\nnor here"),
        Verdict::Drop("line_punct_ratio")
    );
    // 3 of 4 lines are short (0.75 > 0.67); 2 of 3 (0.667) would not be.
    assert_eq!(
        check("one.\ntwo.\nthree.\nthis one is long enough to not be a short line."),
        Verdict::Drop("short_line_ratio")
    );
    assert_eq!(
        check("one.\ntwo.\nthis one is long enough to not be a short line."),
        Verdict::Keep
    );
    let long = "This is a long line that ends with a period, as prose does.";
    assert_eq!(
        check(&format!(
            "{long}\n{long}\nAnother long line that also ends in a period here."
        )),
        Verdict::Drop("char_dup_ratio")
    );
    let list =
        "A list of things follows.\nalpha beta gamma delta\none\ntwo\nthree\nfour\nfive\nsix";
    assert_eq!(check(list), Verdict::Drop("short_line_ratio"));
    let lister = FinewebConfig {
        short_line_thr: None,
        ..Default::default()
    };
    assert_eq!(
        Fineweb::new(lister).check(&mut doc(list), &mut Counters::default()),
        Verdict::Drop("list_ratio")
    );
}

/// A small deterministic generator (xorshift) for property tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const VOCAB: [&str; 24] = [
    "the",
    "cat",
    "and",
    "dog",
    "of",
    "with",
    "a",
    "house",
    "ran",
    "over",
    "hill",
    "don't",
    "e.g.",
    "3.14",
    "—",
    "...",
    "(x)",
    "naïve",
    "日本",
    "https://a.org/x",
    "be",
    "to",
    "have",
    "that",
];

fn random_doc(rng: &mut Rng) -> String {
    let lines = 1 + rng.below(12);
    let mut out = Vec::new();
    for _ in 0..lines {
        let words = rng.below(15);
        let mut line: Vec<&str> = (0..words).map(|_| VOCAB[rng.below(VOCAB.len())]).collect();
        if rng.below(3) == 0 {
            line.push(".");
        }
        out.push(line.join(" "));
        if rng.below(4) == 0 {
            out.push(String::new());
        }
    }
    out.join("\n")
}

#[test]
fn repetition_fractions_are_fractions_and_doubling_repeats() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let all_checks = GopherRepetitionConfig {
        signals: true,
        top_n_grams: (1..=4)
            .map(|n| NGramThreshold { n, max_frac: 1.0 })
            .collect(),
        dup_n_grams: (1..=10)
            .map(|n| NGramThreshold { n, max_frac: 1.0 })
            .collect(),
        ..Default::default()
    };
    let f = GopherRepetition::new(all_checks);
    for _ in 0..300 {
        // Without leading or trailing newlines, so that doubling doubles every line.
        let t = random_doc(&mut rng).trim_matches('\n').to_string();
        if t.trim().is_empty() {
            continue;
        }
        let mut d = doc(&t);
        f.check(&mut d, &mut Counters::default());
        for (k, v) in &d.signals {
            // The top n-gram is measured with spaces between its words, which the text may not
            // have ("end." is "end" + "."), so on tiny texts it can exceed the text's length,
            // in datatrove too. Every other fraction is within [0, 1].
            if k.starts_with("gopher_repetition.top_") {
                assert!(*v >= 0.0, "{k} = {v} for {t:?}");
            } else {
                assert!((0.0..=1.0).contains(v), "{k} = {v} for {t:?}");
            }
        }
        // The same lines twice: at least half the lines are duplicates.
        let twice = format!("{t}\n{t}");
        let mut d2 = doc(&twice);
        f.check(&mut d2, &mut Counters::default());
        assert!(
            d2.signals["gopher_repetition.dup_line_frac"] >= 0.5 - 1e-9,
            "{twice:?}: {:?}",
            d2.signals
        );
        assert!(
            d2.signals["gopher_repetition.duplicated_1_n_grams"] >= 0.3
                || text::words(&t).len() < 2
        );
    }
}

#[test]
fn quality_and_fineweb_signals_are_fractions() {
    let mut rng = Rng(0x0dd_ba11);
    let q = GopherQuality::new(GopherQualityConfig {
        signals: true,
        ..Default::default()
    });
    let fw = Fineweb::new(FinewebConfig {
        signals: true,
        ..Default::default()
    });
    for _ in 0..300 {
        let t = random_doc(&mut rng);
        let mut d = doc(&t);
        q.check(&mut d, &mut Counters::default());
        fw.check(&mut d, &mut Counters::default());
        for (k, v) in &d.signals {
            let ratio = k.ends_with("_ratio")
                && !k.ends_with("list_ratio")
                && !k.ends_with("hash_ratio")
                && !k.ends_with("ellipsis_ratio");
            if ratio {
                assert!((0.0..=1.0).contains(v), "{k} = {v} for {t:?}");
            }
            assert!(v.is_finite(), "{k}");
        }
    }
}

#[test]
fn c4_output_reaches_a_fixed_point() {
    // Lines that survive once survive again: c4 applied to its own output changes nothing.
    let mut rng = Rng(42);
    let c4 = C4::new(C4Config {
        min_num_sentences: None,
        ..Default::default()
    });
    for _ in 0..300 {
        let t = random_doc(&mut rng);
        let mut d = doc(&t);
        if c4.check(&mut d, &mut Counters::default()) == Verdict::Keep {
            let once = d.text.clone();
            c4.check(&mut d, &mut Counters::default());
            assert_eq!(d.text, once);
        }
    }
}

#[test]
fn words_cover_the_non_space_text() {
    // Every non-whitespace character is in exactly one token, in order.
    let mut rng = Rng(7);
    for _ in 0..300 {
        let t = random_doc(&mut rng);
        let joined: String = text::words(&t).concat();
        let expected: String = t.chars().filter(|c| !text::is_py_space(*c)).collect();
        assert_eq!(joined, expected);
    }
}

#[test]
fn pii_placeholders_and_counts_from_yaml() {
    let built = stages_from_yaml(
        "  - type: pii\n    email_replacement: ['<EMAIL_ADDRESS>']\n    ip_replacement: ['<IP_ADDRESS>']\n",
    );
    let (_, out, c) = run_stage(
        &built[0].1,
        "Mail admin@example.net from 8.8.4.4 or 2001:4860:4860::8888; v1.2.3.4 and 1.2.3.4.5 stay, as does 10.0.0.1.",
    );
    assert_eq!(out, "Mail <EMAIL_ADDRESS> from <IP_ADDRESS> or <IP_ADDRESS>; v1.2.3.4 and 1.2.3.4.5 stay, as does 10.0.0.1.");
    assert_eq!((c.0["emails"], c.0["ipv4"], c.0["ipv6"]), (1, 1, 1));
}

#[test]
fn html_strip_on_real_python_doc_pages() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let raw = std::fs::read_to_string(data.join("html/pages.jsonl")).expect("pages.jsonl");
    let built = stages_from_yaml("  - type: html_strip\n");
    let mut n = 0;
    for line in raw.lines().take(60) {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let html = v["text"].as_str().expect("text");
        assert!(looks_like_html(html));
        let (_, out, c) = run_stage(&built[0].1, html);
        assert_eq!(c.0["html"], 1);
        assert!(
            !out.contains("<script") && !out.contains("</div>") && !out.contains("&amp;"),
            "{}",
            v["id"]
        );
        assert!(
            !out.contains("documentation_options"),
            "script content left in {}",
            v["id"]
        );
        assert!(out.len() * 2 < html.len(), "{}", v["id"]);
        assert!(!out.starts_with(char::is_whitespace) && !out.lines().any(|l| l.ends_with(' ')));
        n += 1;
    }
    assert_eq!(n, 60);
    // The about page: its heading and first paragraph, as lines of their own.
    let about = raw.lines().next().expect("first page");
    let html: serde_json::Value = serde_json::from_str(about).expect("json");
    let out = strip_html(
        html["text"].as_str().expect("text"),
        &HtmlStripConfig::default(),
    );
    assert!(out.lines().any(|l| l == "About these documents"), "{out}");
    assert!(
        out.contains("These documents are generated from reStructuredText sources by Sphinx"),
        "{out}"
    );
}

#[test]
fn non_html_passes_unchanged() {
    let built = stages_from_yaml("  - type: html_strip\n");
    for t in common::fixture_texts().iter().take(50) {
        if looks_like_html(t) {
            continue;
        }
        let (_, out, _) = run_stage(&built[0].1, t);
        assert_eq!(&out, t);
    }
}
