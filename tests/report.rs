//! The quality report end to end: a pipeline runs on fixtures, then the report reads its output.
//! Funnel counts must equal `stats.json` exactly; the HTML must hold one `<svg>` per chart it
//! lists, no scripts and no external references; optional parts may be missing.

mod common;

use std::fs;
use std::path::Path;

use corpusforge::config;
use corpusforge::pipeline::{self, RunOptions};
use corpusforge::report::{self, model::Report, ReportOptions};
use corpusforge::runner::RunStats;

fn run_yaml(yaml: &str) -> pipeline::RunSummary {
    let p = config::load_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"));
    pipeline::run_data(
        &p,
        Path::new("."),
        &RunOptions {
            threads: Some(2),
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A pipeline over fixtures/jsonl (and a bad file), with dedup, language, a quality filter with
/// signals and a tokenizer.
fn full_pipeline(out: &Path, extra_output: &str) -> String {
    let root = common::root();
    format!(
        r#"
input:
  paths: ["{jsonl}", "{bad}"]
  metadata_fields: [url]
stages:
  - type: normalize
  - type: language
    min_score: 0.2
  - type: length
    min_words: 5
  - type: exact_dedup
  - type: gopher_quality
    min_doc_words: 20
    signals: true
  - type: tokenize
    tokenizer:
      train: {{vocab_size: 512, min_frequency: 2}}
    eos: "<|endoftext|>"
    val_fraction: 0.1
output:
  dir: "{out}"
  shard_max_docs: 40
  write_signals: true
{extra_output}
run:
  seed: 3
"#,
        jsonl = root.join("fixtures/jsonl").display(),
        bad = root.join("fixtures/bad/invalid_json.jsonl").display(),
        out = out.display(),
    )
}

fn read_report(out: &Path) -> (Report, serde_json::Value, String, String) {
    let dir = out.join("report");
    let json = fs::read_to_string(dir.join("report.json")).expect("report.json");
    let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let report: Report =
        serde_json::from_str(&json).expect("report.json parses as the report type");
    let html = fs::read_to_string(dir.join("report.html")).expect("report.html");
    let md = fs::read_to_string(dir.join("report.md")).expect("report.md");
    (report, value, html, md)
}

/// The chart ids the page lists in `<body data-charts="...">`.
fn listed_charts(html: &str) -> Vec<String> {
    let start =
        html.find("data-charts=\"").expect("data-charts attribute") + "data-charts=\"".len();
    let end = start + html[start..].find('"').expect("closing quote");
    html[start..end]
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// No scripts and nothing fetched. Document text is escaped (no `<` or `"` survives in it), so
/// tags and quoted attributes found here are markup.
fn assert_self_contained(html: &str) {
    let lower = html.to_lowercase();
    for bad in [
        "<script",
        "<link",
        "<iframe",
        "<object",
        "<embed",
        "<img",
        "<image",
        " src=\"",
        " href=\"http",
        "xlink:href",
        " on",
    ] {
        let markup_hit = match bad {
            // An event handler attribute would be ` on...="`.
            " on" => lower.match_indices(" on").any(|(i, _)| {
                let rest = &lower[i + 3..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                !name.is_empty() && rest[name.len()..].starts_with("=\"")
            }),
            _ => lower.contains(bad),
        };
        assert!(!markup_hit, "report.html contains {bad:?}");
    }
    let style = &lower
        [lower.find("<style>").expect("inline style")..lower.find("</style>").expect("style end")];
    assert!(!style.contains("url(") && !style.contains("@import") && !style.contains("@font-face"));
    // Every listed chart is an inline <svg> with that id, and every <svg> is listed.
    let charts = listed_charts(html);
    for id in &charts {
        assert!(
            html.contains(&format!("<svg id=\"{id}\"")),
            "chart {id} is listed but not drawn"
        );
    }
    assert_eq!(
        html.matches("<svg").count(),
        charts.len(),
        "every <svg> is a listed chart"
    );
    assert!(html.contains("@media print"));
}

#[test]
fn report_of_a_full_run_matches_its_stats() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let s = run_yaml(&full_pipeline(&out, ""));
    let (r, _w) = report::generate(&s.out_dir, &ReportOptions::default()).unwrap();
    let (report, json, html, md) = read_report(&out);
    let text = fs::read_to_string(out.join("report/report.json")).unwrap();
    assert!(
        text == serde_json::to_string_pretty(&r).unwrap() + "\n",
        "report.json is the report"
    );

    // The funnel is stats.json, exactly.
    let stats: RunStats =
        serde_json::from_str(&fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    let f = &report.funnel;
    assert_eq!(f.input_records, stats.input);
    assert_eq!(f.documents_in, stats.input - stats.rejected_total());
    assert_eq!(f.bytes_in, stats.input_bytes);
    assert_eq!(f.kept, stats.kept);
    assert_eq!(f.kept_bytes, stats.kept_bytes);
    assert_eq!(f.dropped, stats.dropped_total());
    assert_eq!(f.rejected, stats.rejected_total());
    assert_eq!(f.stages.len(), stats.stages.len());
    for (a, b) in f.stages.iter().zip(&stats.stages) {
        assert_eq!(
            (a.index, &a.kind, a.seen, a.kept),
            (b.index as u64, &b.kind, b.seen, b.kept)
        );
        assert_eq!(
            (a.dropped, a.bytes_in, a.bytes_out),
            (b.dropped_total(), b.bytes_in, b.bytes_out)
        );
        assert_eq!(a.drop_reasons, b.dropped);
    }
    let reasons: std::collections::BTreeMap<String, u64> = f
        .drop_reasons
        .iter()
        .map(|d| (d.reason.clone(), d.count))
        .collect();
    assert_eq!(reasons, stats.dropped);
    let rejected: std::collections::BTreeMap<String, u64> = f
        .rejected_reasons
        .iter()
        .map(|d| (d.reason.clone(), d.count))
        .collect();
    assert_eq!(rejected, stats.rejected);
    assert!(
        f.rejected > 0 && f.dropped > 0 && f.kept > 0,
        "the fixture run should keep, drop and reject: {f:?}"
    );
    for d in &f.drop_reasons {
        assert!(
            !d.examples.is_empty() && d.examples.len() <= 3,
            "{}: {} examples",
            d.reason,
            d.examples.len()
        );
        assert!(d.examples.iter().all(|e| e.snippet.chars().count() <= 300));
        assert_eq!(d.share_of_input, d.count as f64 / f.documents_in as f64);
    }
    assert!(f.rejected_reasons.iter().all(|r| !r.examples.is_empty()));
    assert_eq!(json["funnel"]["kept"], serde_json::json!(stats.kept));
    assert_eq!(json["schema_version"], serde_json::json!(1));

    // Lengths cover every document; the sample is every document here (small run).
    assert_eq!(report.diversity.chars.kept.as_ref().unwrap().n, stats.kept);
    assert_eq!(
        report.diversity.chars.dropped.as_ref().unwrap().n,
        stats.dropped_total()
    );
    assert_eq!(report.sample.kept, stats.kept);
    assert_eq!(report.sample.dropped, stats.dropped_total());
    assert_eq!(report.sample.before, stats.kept + stats.dropped_total());
    assert_eq!(report.noise.len(), 10);
    for m in &report.noise {
        assert_eq!(m.after.as_ref().unwrap().n, stats.kept, "{}", m.key);
        assert_eq!(
            m.before.as_ref().unwrap().n,
            stats.kept + stats.dropped_total(),
            "{}",
            m.key
        );
    }
    // Quality signals of kept and dropped documents.
    let stop = report
        .signals
        .iter()
        .find(|s| s.key == "gopher_quality.stop_words")
        .expect("stop-word signal");
    assert!(stop.kept.is_some() && stop.dropped.is_some());
    // Diversity, duplicates, languages, tokenizer.
    let after = report.diversity.after.as_ref().unwrap();
    assert!(after.distinct_2.unwrap() > 0.0 && after.distinct_2.unwrap() <= 1.0);
    assert!(after.compression_ratio.unwrap() > 1.0);
    assert!(report.diversity.languages.as_ref().unwrap().distinct_kept >= 1);
    let dedup = stats.dropped.get("dedup:exact").copied().unwrap_or(0);
    assert!(dedup > 0, "prose.jsonl has exact duplicates");
    assert!(report.duplicates.available);
    assert_eq!(report.duplicates.dropped_as_duplicates, dedup);
    assert!(report.duplicates.clusters >= 1 && report.duplicates.largest >= 2);
    assert!(report.duplicates.top[0].members.len() >= 2);
    let tok = report.tokenizer.as_ref().expect("tokenizer section");
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let manifest_tokens: u64 = manifest["tokens"]["splits"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(tok.tokens, manifest_tokens);
    assert_eq!(f.tokens, Some(manifest_tokens));
    assert_eq!(tok.docs, stats.kept);
    assert!(tok.used <= tok.vocab_size && tok.used > 0);
    assert!(tok.bytes_per_token.unwrap() > 1.0);
    assert!(!tok.longest.is_empty() && tok.longest.iter().all(|t| t.text != "<|endoftext|>"));
    assert_eq!(report.diversity.tokens.as_ref().unwrap().n, stats.kept);
    assert!(report.training.is_none());

    // HTML: self-contained, with the expected charts.
    assert_self_contained(&html);
    let charts = listed_charts(&html);
    for id in [
        "chart-funnel",
        "chart-drop-reasons",
        "chart-noise-symbol-ratio",
        "chart-noise-dup-line-ratio",
        "chart-languages",
        "chart-len-chars",
        "chart-len-words",
        "chart-len-tokens",
        "chart-type-token",
        "chart-clusters",
        "chart-sources",
        "chart-token-zipf",
        "chart-signal-0",
    ] {
        assert!(
            charts.iter().any(|c| c == id),
            "missing chart {id}; have {charts:?}"
        );
    }
    // Markdown: tables with the same counts.
    assert!(md.contains("## Funnel"));
    assert!(
        md.contains(&format!("| 0 | normalize | {} |", stats.stages[0].seen)),
        "{md}"
    );
}

#[test]
fn report_without_optional_parts() {
    // No dropped/, no token shards, no training, no language, no dedup.
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let yaml = format!(
        r#"
input:
  paths: ["{}"]
stages:
  - type: length
    min_words: 30
output:
  dir: "{}"
  write_dropped: false
"#,
        common::root().join("fixtures/jsonl/prose.jsonl").display(),
        out.display()
    );
    let s = run_yaml(&yaml);
    assert!(s.stats.dropped_total() > 0);
    report::generate(&out, &ReportOptions::default()).unwrap();
    let (r, _, html, _) = read_report(&out);
    assert!(!r.funnel.dropped_written);
    assert!(r.tokenizer.is_none() && r.training.is_none() && r.diversity.languages.is_none());
    assert!(!r.duplicates.available);
    assert!(r.diversity.before.is_none());
    assert!(r
        .noise
        .iter()
        .all(|m| m.before.is_none() && m.after.is_some()));
    assert_eq!(
        r.funnel.drop_reasons.iter().map(|d| d.count).sum::<u64>(),
        s.stats.dropped_total()
    );
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("dropped/ was not written")),
        "{:?}",
        r.notes
    );
    assert_self_contained(&html);

    // Nothing kept at all: still a report, not a panic.
    let out2 = tmp.path().join("none");
    let yaml = yaml
        .replace("min_words: 30", "min_words: 100000000")
        .replace(&out.display().to_string(), &out2.display().to_string());
    let s = run_yaml(&yaml);
    assert_eq!(s.stats.kept, 0);
    report::generate(&out2, &ReportOptions::default()).unwrap();
    let (r, _, html, _) = read_report(&out2);
    assert_eq!(r.funnel.kept, 0);
    assert!(r.diversity.after.is_none());
    assert_self_contained(&html);
}

#[test]
fn document_text_is_escaped_in_html_and_markdown() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    let evil = "<script>alert(1)</script> | ``` **bold** <img src=x onerror=alert(2)>";
    let mut lines = String::new();
    lines.push_str(&serde_json::json!({"id": "<b>id</b>", "text": evil}).to_string());
    lines.push('\n');
    lines.push_str(&serde_json::json!({"id": "ok", "text": "a plain document with enough words to be kept by the filter here"}).to_string());
    lines.push('\n');
    fs::write(&input, lines).unwrap();
    let out = tmp.path().join("out");
    let yaml = format!(
        "input:\n  paths: [\"{}\"]\nstages:\n  - type: length\n    min_words: 12\noutput:\n  dir: \"{}\"\n",
        input.display(),
        out.display()
    );
    let s = run_yaml(&yaml);
    assert_eq!((s.stats.kept, s.stats.dropped_total()), (1, 1));
    report::generate(&out, &ReportOptions::default()).unwrap();
    let (r, _, html, md) = read_report(&out);
    assert_eq!(r.funnel.drop_reasons[0].examples[0].snippet, evil);
    assert_self_contained(&html);
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;id&lt;/b&gt;"));
    // Markdown: the example is fenced with a longer fence than the text's backticks; ids in
    // text lines are escaped.
    assert!(md.contains("````text\n<script>"), "{md}");
    assert!(md.contains("\\<b\\>id\\</b\\>"), "{md}");
}

#[test]
fn known_noise_and_lexical_answers_through_the_whole_path() {
    // Three kept documents with known figures; the report must find them exactly.
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    let docs = [
        ("a", "the cat sat\nthe cat sat\nthe cat sat\nthe cat sat"), // 3 of 4 lines repeat
        ("b", "ABC def"),                                            // 3 of 6 letters uppercase
        ("c", "x1 y2"), // 2 of 4 non-space chars digits
    ];
    let mut s = String::new();
    for (id, t) in docs {
        s.push_str(&serde_json::json!({"id": id, "text": t}).to_string());
        s.push('\n');
    }
    fs::write(&input, s).unwrap();
    let out = tmp.path().join("out");
    let yaml = format!(
        "input:\n  paths: [\"{}\"]\nstages:\n  - type: normalize\noutput:\n  dir: \"{}\"\n",
        input.display(),
        out.display()
    );
    run_yaml(&yaml);
    let r = report::build(&out, &ReportOptions::default()).unwrap();
    let m = |k: &str| {
        r.noise
            .iter()
            .find(|m| m.key == k)
            .unwrap()
            .after
            .clone()
            .unwrap()
    };
    assert_eq!(m("dup_line_ratio").max, 0.75);
    assert_eq!(m("uppercase_ratio").max, 0.5);
    assert_eq!(m("digit_ratio").max, 0.5);
    assert_eq!(m("short_line_ratio").min, 1.0);
    let lx = r.diversity.after.unwrap();
    // Words: 12 + 2 + 2 = 16; types: the, cat, sat, abc, def, x1, y2 = 7.
    assert_eq!((lx.words, lx.types), (16, 7));
    assert_eq!(lx.distinct_1, Some(7.0 / 16.0));
    // Bigrams within documents: a has 11 (3 distinct: the-cat, cat-sat, sat-the), b 1, c 1.
    assert_eq!(lx.distinct_2, Some(5.0 / 13.0));
    let chars = r.diversity.chars.kept.unwrap();
    assert_eq!((chars.n, chars.min, chars.max), (3, 5.0, 47.0));
}

#[test]
fn reports_are_deterministic_and_compare_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    run_yaml(&full_pipeline(&a, ""));
    // Recipe B: no quality filter.
    let yaml_b = full_pipeline(&b, "").replace(
        "  - type: gopher_quality\n    min_doc_words: 20\n    signals: true\n",
        "",
    );
    run_yaml(&yaml_b);
    let opts = ReportOptions {
        sample: 50,
        ..Default::default()
    };
    let r1 = report::build(&a, &opts).unwrap();
    let r2 = report::build(&a, &opts).unwrap();
    let (j1, j2) = (
        serde_json::to_string(&r1).unwrap(),
        serde_json::to_string(&r2).unwrap(),
    );
    assert!(j1 == j2, "two reports of the same output differ");
    assert_eq!(r1.sample.kept, 50.min(r1.funnel.kept));

    let dir = tmp.path().join("cmp");
    let (rows, w) = report::compare(&a, &b, &dir, &opts).unwrap();
    let kept = rows.iter().find(|d| d.key == "funnel.kept").unwrap();
    let rb = report::build(&b, &opts).unwrap();
    assert_eq!(kept.a, Some(r1.funnel.kept as f64));
    assert_eq!(kept.b, Some(rb.funnel.kept as f64));
    assert_eq!(
        kept.diff,
        Some(rb.funnel.kept as f64 - r1.funnel.kept as f64)
    );
    assert!(rb.funnel.kept > r1.funnel.kept);
    // A drop reason only A has is listed with no value for B.
    let only_a = rows
        .iter()
        .find(|d| d.key.starts_with("drop:gopher_quality:"))
        .unwrap();
    assert!(only_a.a.is_some() && only_a.b.is_none());
    let html = fs::read_to_string(&w.html).unwrap();
    assert_self_contained(&html);
    assert!(listed_charts(&html).iter().any(|c| c == "chart-cmp-funnel"));
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&w.json).unwrap()).unwrap();
    assert_eq!(
        json["a"]["funnel"]["kept"],
        serde_json::json!(r1.funnel.kept)
    );
    assert!(fs::read_to_string(&w.md)
        .unwrap()
        .contains("| documents kept |"));
}

#[test]
fn training_metrics_show_up() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let yaml = format!(
        "input:\n  paths: [\"{}\"]\nstages:\n  - type: normalize\noutput:\n  dir: \"{}\"\n",
        common::root().join("fixtures/jsonl/prose.jsonl").display(),
        out.display()
    );
    run_yaml(&yaml);
    fs::create_dir_all(out.join("train")).unwrap();
    let mut lines = String::new();
    for step in 0..=20u64 {
        if step % 10 == 0 {
            let v = 5.0 - step as f64 * 0.1;
            lines.push_str(&format!("{{\"kind\":\"eval\",\"step\":{step},\"tokens\":{},\"val_loss\":{v},\"perplexity\":{}}}\n", step * 100, v.exp()));
        }
        if step > 0 {
            lines.push_str(&format!(
                "{{\"kind\":\"train\",\"step\":{step},\"tokens\":{},\"loss\":{},\"lr\":0.001,\"grad_norm\":1.0,\"tokens_per_s\":1000.0,\"mfu\":0.2,\"elapsed_s\":1.0}}\n",
                step * 100,
                6.0 - step as f64 * 0.1
            ));
        }
    }
    fs::write(out.join("train/metrics.jsonl"), lines).unwrap();
    report::generate(&out, &ReportOptions::default()).unwrap();
    let (r, _, html, _) = read_report(&out);
    let t = r.training.unwrap();
    assert_eq!(
        (t.steps, t.tokens, t.loss.len(), t.val_loss.len()),
        (20, 2000, 20, 3)
    );
    assert_eq!(t.initial_val_loss, Some(5.0));
    assert_eq!(t.best_val_loss, Some(3.0));
    assert_eq!(t.tokens_per_s_median, Some(1000.0));
    let charts = listed_charts(&html);
    assert!(
        charts.iter().any(|c| c == "chart-loss") && charts.iter().any(|c| c == "chart-throughput")
    );
}

#[test]
fn the_cli_writes_the_report_after_a_run_and_on_demand() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let pipeline = tmp.path().join("p.yaml");
    fs::write(&pipeline, full_pipeline(&out, "")).unwrap();
    let bin = env!("CARGO_BIN_EXE_corpusforge");
    let o = std::process::Command::new(bin)
        .args(["run"])
        .arg(&pipeline)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("report/report.html"));
    assert!(out.join("report/report.html").is_file());
    let o = std::process::Command::new(bin)
        .args(["report", "--sample", "10", "--out"])
        .arg(tmp.path().join("r"))
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: Report =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("r/report.json")).unwrap())
            .unwrap();
    assert_eq!(r.sample.size, 10);
    // Switched off in the YAML: no report.
    let out2 = tmp.path().join("out2");
    fs::write(&pipeline, full_pipeline(&out2, "  report: false")).unwrap();
    let o = std::process::Command::new(bin)
        .args(["run"])
        .arg(&pipeline)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out2.join("report").exists());
    // Not an output directory: a clear error, exit code 1.
    let o = std::process::Command::new(bin)
        .args(["report"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("stats.json"));
}
