//! `report.md`: the report as GitHub-flavoured Markdown tables, readable on a code host.
//! Text from documents is escaped in table cells ([`cell`]) and fenced in examples
//! ([`fence`]), so it can neither break a table nor inject markup.

use std::fmt::Write;

use super::figures::{self, Fmt};
use super::html::{fmt_bytes, fmt_f, fmt_fig, fmt_int, mixture_rows, visible, MIXTURE_HEAD};
use super::model::*;
use super::svg::{fmt_num, fmt_pct};

/// Escapes text for a table cell: Markdown punctuation is backslash-escaped, newlines become
/// spaces, control characters are dropped.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '<' | '>' | '(' | ')' | '#' | '+'
            | '-' | '!' | '|' | '~' | '&' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// `text` in a fenced code block whose fence is longer than any backtick run in it.
pub fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let f = "`".repeat((longest + 1).max(3));
    let body: String = text
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    format!("{f}text\n{}\n{f}\n", body.trim_end_matches('\n'))
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| {} |",
        head.iter()
            .map(|h| h.strip_prefix('#').unwrap_or(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(
        out,
        "|{}|",
        head.iter()
            .map(|h| if h.starts_with('#') { "---:" } else { "---" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out.push('\n');
}

fn dist4(d: Option<&Dist>) -> Vec<String> {
    match d {
        Some(d) => vec![
            fmt_f(Some(d.p50)),
            fmt_f(Some(d.mean)),
            fmt_f(Some(d.p95)),
            fmt_pct(d.nonzero_share),
        ],
        None => vec!["–".into(); 4],
    }
}

fn breakdown(out: &mut String, name: &str, b: &Breakdown, score: bool) {
    let _ = writeln!(
        out,
        "{} distinct among kept documents ({} with dropped ones); entropy {} bits{}.\n",
        fmt_int(b.distinct_kept),
        fmt_int(b.distinct_all),
        fmt_f(Some(b.entropy_bits)),
        b.evenness
            .map_or(String::new(), |e| format!(", evenness {}", fmt_f(Some(e))))
    );
    let mut rows: Vec<Vec<String>> = b
        .top
        .iter()
        .map(|s| {
            let mut r = vec![
                cell(&s.name),
                fmt_int(s.kept),
                fmt_pct(s.kept_share),
                s.kept_bytes_share.map_or("–".into(), fmt_pct),
                fmt_int(s.dropped),
            ];
            if score {
                r.push(fmt_f(s.mean_score));
            }
            r
        })
        .collect();
    if b.other_kept + b.other_dropped > 0 {
        let mut r = vec![
            "(others)".into(),
            fmt_int(b.other_kept),
            String::new(),
            String::new(),
            fmt_int(b.other_dropped),
        ];
        if score {
            r.push(String::new());
        }
        rows.push(r);
    }
    let mut head = vec![name, "#kept", "#share", "#bytes share", "#dropped"];
    if score {
        head.push("#mean score (all)");
    }
    table(out, &head, &rows);
}

fn lengths(out: &mut String, name: &str, d: &LengthDists) {
    let row = |k: &str, x: Option<&Dist>| -> Vec<String> {
        match x {
            Some(x) => vec![
                k.into(),
                fmt_int(x.n),
                fmt_num(x.min),
                fmt_num(x.p05),
                fmt_num(x.p50),
                fmt_num(x.mean),
                fmt_num(x.p95),
                fmt_num(x.max),
            ],
            None => vec![
                k.into(),
                "0".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
                "–".into(),
            ],
        }
    };
    let _ = writeln!(
        out,
        "{name} per document (every document; quantiles from log-spaced bins):\n"
    );
    table(
        out,
        &[
            "",
            "#documents",
            "#min",
            "#p5",
            "#median",
            "#mean",
            "#p95",
            "#max",
        ],
        &[
            row("kept", d.kept.as_ref()),
            row("dropped", d.dropped.as_ref()),
        ],
    );
}

/// The whole `report.md`.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let f = &r.funnel;
    let _ = writeln!(o, "# Corpus quality report\n");
    let _ = writeln!(
        o,
        "{} · {} stages: {} · config `{}` · corpusforge {}\n",
        cell(&r.run.out_dir),
        r.run.stages.len(),
        cell(&r.run.stages.join(" → ")),
        r.run.config_hash.as_deref().unwrap_or("–"),
        r.version
    );
    let _ = writeln!(
        o,
        "HTML version with charts: `report.html`; all figures: `report.json`.\n"
    );

    let _ = writeln!(o, "## Summary\n");
    let rows: Vec<Vec<String>> = figures::figures(r)
        .into_iter()
        .filter(|x| x.section != "Drop reasons" && !x.section.starts_with("Noise"))
        .map(|x| {
            vec![
                x.section.to_string(),
                x.label.clone(),
                fmt_fig(x.value, x.fmt),
            ]
        })
        .collect();
    table(&mut o, &["section", "figure", "#value"], &rows);

    let _ = writeln!(o, "## Funnel\n");
    let rows: Vec<Vec<String>> = f
        .stages
        .iter()
        .map(|s| {
            vec![
                s.index.to_string(),
                cell(&s.kind),
                fmt_int(s.seen),
                fmt_int(s.kept),
                fmt_int(s.dropped),
                fmt_bytes(s.bytes_in),
                fmt_bytes(s.bytes_out),
                s.tokens_in_est.map_or("–".into(), fmt_int),
                s.tokens_out_est.map_or("–".into(), fmt_int),
                format!("{:.2}s", s.seconds),
            ]
        })
        .collect();
    table(
        &mut o,
        &[
            "##",
            "stage",
            "#docs in",
            "#docs out",
            "#dropped",
            "#bytes in",
            "#bytes out",
            "#tokens in (est.)",
            "#tokens out (est.)",
            "#time",
        ],
        &rows,
    );
    let _ = writeln!(
        o,
        "{} input records: {} documents in, {} kept ({}), {} dropped, {} rejected. Text: {} in, {} kept.{}\n",
        fmt_int(f.input_records),
        fmt_int(f.documents_in),
        fmt_int(f.kept),
        f.kept_share.map_or("–".into(), fmt_pct),
        fmt_int(f.dropped),
        fmt_int(f.rejected),
        fmt_bytes(f.bytes_in),
        fmt_bytes(f.kept_bytes),
        f.tokens.map_or(String::new(), |t| format!(" Tokens written: {}.", fmt_int(t)))
    );
    if let Some(langs) = &f.languages {
        let _ = writeln!(o, "### By language\n");
        table(
            &mut o,
            &super::html::LANGUAGE_FUNNEL_HEAD,
            &super::html::language_funnel_rows(langs, cell),
        );
    }
    let _ = writeln!(o, "### Drop reasons\n");
    if f.drop_reasons.is_empty() {
        let _ = writeln!(o, "No document was dropped.\n");
    }
    let rows: Vec<Vec<String>> = f
        .drop_reasons
        .iter()
        .map(|d| {
            vec![
                format!("`{}`", d.reason.replace('`', "'")),
                d.stage.as_ref().map_or("–".into(), |s| {
                    format!("{} {}", d.stage_index.unwrap_or(0), cell(s))
                }),
                fmt_int(d.count),
                fmt_pct(d.share_of_input),
                fmt_pct(d.share_of_dropped),
            ]
        })
        .collect();
    table(
        &mut o,
        &["reason", "stage", "#documents", "#of input", "#of dropped"],
        &rows,
    );
    for d in f.drop_reasons.iter().filter(|d| !d.examples.is_empty()) {
        let _ = writeln!(
            o,
            "<details><summary>Examples: {}</summary>\n",
            super::html::esc(&d.reason)
        );
        for e in &d.examples {
            let dup = e
                .duplicate_of
                .as_ref()
                .map_or(String::new(), |x| format!(" · duplicate of {}", cell(x)));
            let _ = writeln!(
                o,
                "{} · {} · {} chars{dup}\n",
                cell(&e.id),
                cell(&e.source),
                fmt_int(e.chars)
            );
            let snippet = if e.truncated {
                format!("{}…", e.snippet)
            } else {
                e.snippet.clone()
            };
            let _ = writeln!(o, "{}", fence(&snippet));
        }
        let _ = writeln!(o, "</details>\n");
    }
    let _ = writeln!(o, "### Rejected records\n");
    if f.rejected_reasons.is_empty() {
        let _ = writeln!(o, "No input record was rejected.\n");
    }
    let rows: Vec<Vec<String>> = f
        .rejected_reasons
        .iter()
        .map(|x| {
            let ex = x.examples.first().map_or(String::new(), |e| {
                cell(&format!("{} ({}): {}", e.source, e.location, e.detail))
            });
            vec![
                format!("`{}`", x.reason.replace('`', "'")),
                fmt_int(x.count),
                fmt_pct(x.share_of_input),
                ex,
            ]
        })
        .collect();
    table(
        &mut o,
        &["reason", "#records", "#of input", "first example"],
        &rows,
    );

    let _ = writeln!(o, "## Noise\n");
    let s = &r.sample;
    let _ = writeln!(
        o,
        "On the seeded sample (seed {}): {} documents before (kept and dropped), {} after (kept).\n",
        s.seed,
        fmt_int(s.before),
        fmt_int(s.kept)
    );
    let rows: Vec<Vec<String>> = r
        .noise
        .iter()
        .map(|m| {
            let mut row = vec![cell(&m.label), m.unit.replace('_', " ")];
            row.extend(dist4(m.before.as_ref()));
            row.extend(dist4(m.after.as_ref()));
            row
        })
        .collect();
    table(
        &mut o,
        &[
            "metric",
            "unit",
            "#before p50",
            "#mean",
            "#p95",
            "#non-zero",
            "#after p50",
            "#mean",
            "#p95",
            "#non-zero",
        ],
        &rows,
    );
    if !r.signals.is_empty() {
        let _ = writeln!(o, "### Quality-filter signals: kept vs dropped (sample)\n");
        let part = |d: Option<&Dist>| match d {
            Some(d) => vec![fmt_int(d.n), fmt_f(Some(d.p50)), fmt_f(Some(d.mean))],
            None => vec!["0".into(), "–".into(), "–".into()],
        };
        let rows: Vec<Vec<String>> = r
            .signals
            .iter()
            .map(|x| {
                let mut row = vec![format!("`{}`", x.key.replace('`', "'"))];
                row.extend(part(x.kept.as_ref()));
                row.extend(part(x.dropped.as_ref()));
                row
            })
            .collect();
        table(
            &mut o,
            &[
                "signal",
                "#kept n",
                "#p50",
                "#mean",
                "#dropped n",
                "#p50",
                "#mean",
            ],
            &rows,
        );
    }

    for ms in &r.model_scores {
        let _ = writeln!(
            o,
            "### Model score `{}`: extremes and correlations (sample)\n",
            ms.key
        );
        let ex = |e: &ScoredExample| {
            vec![
                format!("{:.4}", e.score),
                if e.kept { "kept" } else { "dropped" }.to_string(),
                format!("`{}`", e.id.replace('`', "'")),
                e.text.replace(['\n', '\r', '|'], " "),
            ]
        };
        let rows: Vec<Vec<String>> = ms.highest.iter().chain(&ms.lowest).map(ex).collect();
        table(&mut o, &["#score", "fate", "id", "text"], &rows);
        let rows: Vec<Vec<String>> = ms
            .correlations
            .iter()
            .map(|c| {
                vec![
                    format!("`{}`", c.signal),
                    fmt_int(c.n),
                    format!("{:+.3}", c.spearman),
                ]
            })
            .collect();
        if !rows.is_empty() {
            table(&mut o, &["signal", "#documents", "#Spearman rho"], &rows);
        }
    }

    let _ = writeln!(o, "## Diversity\n");
    let d = &r.diversity;
    if let Some(l) = &d.languages {
        let _ = writeln!(o, "### Languages\n");
        breakdown(&mut o, "language", l, true);
    }
    let _ = writeln!(o, "### Lengths\n");
    lengths(&mut o, "Characters", &d.chars);
    lengths(&mut o, "Words", &d.words);
    if let Some(t) = &d.tokens {
        let _ = writeln!(
            o,
            "Tokens per document: median {}, mean {}, p95 {}, max {}.\n",
            fmt_num(t.p50),
            fmt_num(t.mean),
            fmt_num(t.p95),
            fmt_num(t.max)
        );
    }
    let _ = writeln!(o, "### Lexical diversity and compression (sample)\n");
    let lx = |l: Option<&Lexical>, f: fn(&Lexical) -> String| l.map_or("–".to_string(), f);
    let rows: Vec<Vec<String>> = super::html::LEXICAL_ROWS
        .iter()
        .map(|(k, f)| {
            vec![
                k.to_string(),
                lx(d.after.as_ref(), *f),
                lx(d.before.as_ref(), *f),
            ]
        })
        .collect();
    table(&mut o, &["figure", "#after (kept)", "#before"], &rows);

    let _ = writeln!(o, "## Duplicates\n");
    let u = &r.duplicates;
    if !u.available {
        let _ = writeln!(o, "No dedup stage set cluster ids in this run.\n");
    } else {
        let _ = writeln!(
            o,
            "{} clusters of two or more documents hold {} documents; {} were dropped as duplicates; the largest has {}.\n",
            fmt_int(u.clusters),
            fmt_int(u.documents),
            fmt_int(u.dropped_as_duplicates),
            fmt_int(u.largest)
        );
        let rows: Vec<Vec<String>> = u
            .size_histogram
            .iter()
            .map(|b| vec![b.label.clone(), fmt_int(b.clusters), fmt_int(b.documents)])
            .collect();
        table(&mut o, &["size", "#clusters", "#documents"], &rows);
        let rows: Vec<Vec<String>> = u
            .top
            .iter()
            .map(|c| {
                let members = c
                    .members
                    .iter()
                    .map(|m| format!("{} ({})", cell(&m.id), cell(&m.status)))
                    .collect::<Vec<_>>()
                    .join("; ");
                let snip = c.members.first().map_or(String::new(), |m| {
                    cell(&crate::report::metrics::snippet(&m.snippet, 80).0)
                });
                vec![
                    format!("`{}`", c.cluster_id),
                    fmt_int(c.size),
                    members,
                    snip,
                ]
            })
            .collect();
        table(&mut o, &["cluster", "#size", "members", "text"], &rows);
    }

    let _ = writeln!(o, "## Sources\n");
    if let Some(x) = &r.sources.files {
        breakdown(&mut o, "source", x, false);
    }
    if let Some(x) = &r.sources.domains {
        let _ = writeln!(o, "### Domains\n");
        breakdown(&mut o, "domain", x, false);
    }

    let _ = writeln!(o, "## Tokenizer\n");
    match &r.tokenizer {
        None => {
            let _ = writeln!(o, "No token shards in this run.\n");
        }
        Some(t) => {
            let mut rows = vec![
                vec!["vocabulary".to_string(), fmt_int(t.vocab_size)],
                vec![
                    "vocabulary used".into(),
                    format!(
                        "{} ({})",
                        fmt_int(t.used),
                        t.used_share.map_or("–".into(), fmt_pct)
                    ),
                ],
                vec!["documents".into(), fmt_int(t.docs)],
                vec!["tokens".into(), fmt_int(t.tokens)],
                vec!["bytes per token".into(), fmt_f(t.bytes_per_token)],
                vec!["tokens per word".into(), fmt_f(t.tokens_per_word)],
            ];
            if let Some(e) = &t.encoding {
                rows.push(vec!["encoder".into(), e.detail.clone()]);
                rows.push(vec![
                    "encoding speed".into(),
                    format!(
                        "{} tokens/s, {:.2} MB/s on {} threads",
                        fmt_int(e.tokens_per_second.round() as u64),
                        e.mb_per_second,
                        e.threads
                    ),
                ]);
            }
            table(&mut o, &["figure", "#value"], &rows);
            let tok = |v: &[TokenEntry]| -> Vec<Vec<String>> {
                v.iter()
                    .map(|e| {
                        vec![
                            e.id.to_string(),
                            format!(
                                "<code>{}</code>",
                                super::html::esc(&visible(&e.text)).replace('|', "&#124;")
                            ),
                            e.bytes.to_string(),
                            fmt_int(e.count),
                        ]
                    })
                    .collect()
            };
            if !t.longest.is_empty() {
                let _ = writeln!(o, "Longest tokens (␣ = space, ⏎ = newline):\n");
                table(
                    &mut o,
                    &["#id", "token", "#bytes", "#occurrences"],
                    &tok(&t.longest),
                );
            }
            let _ = writeln!(o, "Most frequent tokens:\n");
            table(
                &mut o,
                &["#id", "token", "#bytes", "#occurrences"],
                &tok(&t.most_frequent),
            );
        }
    }

    let _ = writeln!(o, "## Training\n");
    match &r.training {
        None => {
            let _ = writeln!(o, "No training run.\n");
        }
        Some(t) => {
            let rows = vec![
                vec!["steps".to_string(), fmt_int(t.steps)],
                vec!["tokens trained".into(), fmt_int(t.tokens)],
                vec!["final training loss".into(), fmt_f(t.final_loss)],
                vec![
                    "val loss, first → last".into(),
                    format!(
                        "{} → {}",
                        fmt_f(t.initial_val_loss),
                        fmt_f(t.final_val_loss)
                    ),
                ],
                vec!["best val loss".into(), fmt_f(t.best_val_loss)],
                vec!["final perplexity".into(), fmt_f(t.final_perplexity)],
                vec![
                    "tokens/s (median)".into(),
                    t.tokens_per_s_median.map_or("–".into(), fmt_num),
                ],
                vec![
                    "MFU (median)".into(),
                    t.mfu_median.map_or("–".into(), fmt_pct),
                ],
            ];
            table(&mut o, &["figure", "#value"], &rows);
            if !t.mixture.is_empty() {
                let _ = writeln!(o, "Data mixture (at the last evaluation):\n");
                table(&mut o, &MIXTURE_HEAD, &mixture_rows(&t.mixture));
            }
            let rows: Vec<Vec<String>> = t
                .val_loss
                .iter()
                .zip(&t.perplexity)
                .map(|(v, p)| vec![fmt_num(v.x), fmt_f(Some(v.y)), fmt_f(Some(p.y))])
                .collect();
            table(&mut o, &["#step", "#val loss", "#perplexity"], &rows);
        }
    }

    let _ = writeln!(o, "## Notes\n");
    for n in &r.notes {
        let _ = writeln!(o, "- {}", cell(n));
    }
    let _ = writeln!(o, "- Sample: {}.", cell(&r.sample.method));
    o
}

/// The comparison as Markdown.
pub fn render_compare(a: &Report, b: &Report, rows: &[figures::Diff]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Corpus comparison\n");
    let _ = writeln!(
        o,
        "- A: {} ({})",
        cell(&a.run.out_dir),
        cell(&a.run.stages.join(" → "))
    );
    let _ = writeln!(
        o,
        "- B: {} ({})\n",
        cell(&b.run.out_dir),
        cell(&b.run.stages.join(" → "))
    );
    let _ = writeln!(
        o,
        "Δ = B − A. Charts: `compare.html`; figures: `compare.json`.\n"
    );
    let mut section = "";
    let mut t: Vec<Vec<String>> = Vec::new();
    let flush = |o: &mut String, s: &str, t: &mut Vec<Vec<String>>| {
        if !t.is_empty() {
            let _ = writeln!(o, "## {s}\n");
            table(o, &["figure", "#A", "#B", "#Δ", "#Δ %"], t);
            t.clear();
        }
    };
    for d in rows {
        if d.section != section {
            flush(&mut o, section, &mut t);
            section = d.section;
        }
        let delta = match (d.diff, d.fmt) {
            (Some(x), Fmt::Pct) => format!("{:+.1} pp", x * 100.0),
            (Some(x), Fmt::Int) => format!("{:+}", x.round() as i64),
            (Some(x), _) => format!(
                "{}{}",
                if x < 0.0 { "−" } else { "+" },
                fmt_f(Some(x.abs()))
            ),
            (None, _) => "–".into(),
        };
        t.push(vec![
            cell(&d.label),
            fmt_fig(d.a, d.fmt),
            fmt_fig(d.b, d.fmt),
            delta,
            d.rel_diff
                .map_or("–".into(), |x| format!("{:+.1}%", x * 100.0)),
        ]);
    }
    flush(&mut o, section, &mut t);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_tables_or_inject_markup() {
        assert_eq!(
            cell("a|b\nc <img src=x> *x*"),
            "a\\|b c \\<img src=x\\> \\*x\\*"
        );
        assert_eq!(cell("`x`"), "\\`x\\`");
    }

    #[test]
    fn fences_outgrow_backticks_in_the_text() {
        assert_eq!(fence("a ``` b"), "````text\na ``` b\n````\n");
        assert_eq!(fence("plain\n"), "```text\nplain\n```\n");
    }
}
