//! The experiment report of `corpusforge ablate`: `OUT/report/ablation.{json,md,html}`.
//!
//! Per arm: its funnel (documents in, kept, removed by decontamination, training tokens and the
//! epochs the budget takes over them), how long its data run, training and evaluation took, and
//! per evaluation set the bits per byte (with loss and perplexity) of every seed, as mean ±
//! standard deviation; per task set, the accuracy and the correct choice's bits per byte of
//! every seed's final model. The validation curves of all arms are overlaid per evaluation set.
//! Every pair of arms is compared on every set and task: the difference of bits per byte,
//! paired by seed (the same seed gives the same initialisation and data order), with its
//! standard deviation, in a plain sentence. The yardsticks table says, per metric, how many
//! pairs of arms it tells apart and how often two seeds order the arms the same way: which
//! metric separates the arms at this budget, and which is noise.

use std::fmt::Write as _;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::html::{fmt_int, num, Page};
use super::svg::{self, esc, Line, PALETTE};
use super::{write_atomic, ReportError, Written};

/// Version of the ablation report's layout.
pub const ABLATION_VERSION: u32 = 2;

/// Mean and sample standard deviation of values (one per seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Spread {
    /// The values, in seed order.
    pub values: Vec<f64>,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (0 for one value).
    pub sd: f64,
}

impl Spread {
    /// The spread of `values`.
    pub fn of(values: Vec<f64>) -> Spread {
        let n = values.len() as f64;
        let mean = if values.is_empty() {
            f64::NAN
        } else {
            values.iter().sum::<f64>() / n
        };
        let sd = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        Spread { values, mean, sd }
    }
}

/// One arm's final figures on one evaluation set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArmScore {
    /// The evaluation set.
    pub eval: String,
    /// Bits per byte of text, per seed.
    pub bits_per_byte: Spread,
    /// Mean cross-entropy per token (nats), per seed.
    pub loss: Spread,
    /// Perplexity per token, per seed.
    pub perplexity: Spread,
}

/// One arm's final figures on one multiple-choice task set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TaskScore {
    /// The task set.
    pub task: String,
    /// Items scored.
    pub items: u64,
    /// The accuracy of answering at random.
    pub chance: f64,
    /// Items whose context was cut from the left to fit the model's window.
    pub context_cut: u64,
    /// Accuracy (by likelihood per byte), per seed.
    pub accuracy: Spread,
    /// The correct choice's bits per byte, per seed.
    pub correct_bits_per_byte: Spread,
}

/// How well one metric tells the arms apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Yardstick {
    /// The metric, e.g. `prose bits/byte`, `arc_easy correct-choice bits/byte`.
    pub metric: String,
    /// Whether lower values are better.
    pub lower_is_better: bool,
    /// Pairs of arms whose paired difference is larger than its standard deviation.
    pub clear_pairs: u64,
    /// Pairs of arms.
    pub arm_pairs: u64,
    /// Over every pair of seeds and every pair of arms: the share where the two seeds order the
    /// two arms the same way (null with one seed). 1 means every seed ranks the arms alike.
    pub seed_agreement: Option<f64>,
}

/// A point of an arm's curve on one evaluation set: the mean over seeds at one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CurvePoint {
    /// Training step.
    pub step: u64,
    /// Training tokens seen.
    pub tokens: u64,
    /// Bits per byte, over the seeds.
    pub bits_per_byte: Spread,
}

/// What one arm did and scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ArmReport {
    /// The arm's name.
    pub name: String,
    /// Its stages' types, in order (decontamination and tokenization included).
    pub stages: Vec<String>,
    /// Input records read.
    pub input: u64,
    /// Documents kept.
    pub kept: u64,
    /// Documents removed as overlapping an evaluation set.
    pub decontaminated: u64,
    /// Training tokens in the arm's token shards.
    pub train_tokens: u64,
    /// Epochs the budget takes over them.
    pub epochs: f64,
    /// Seconds of the data run (streaming and tokenizing).
    pub data_seconds: f64,
    /// Seconds of training, over all seeds.
    pub train_seconds: f64,
    /// Seconds of evaluation, over all seeds and checkpoints.
    pub eval_seconds: f64,
    /// Final figures per evaluation set.
    pub scores: Vec<ArmScore>,
    /// Final figures per task set.
    #[serde(default)]
    pub tasks: Vec<TaskScore>,
    /// Curves per evaluation set (same order as `scores`).
    pub curves: Vec<Vec<CurvePoint>>,
}

/// One arm against another on one evaluation set or task set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    /// The evaluation set (or task set).
    pub eval: String,
    /// What is compared: `bits per byte` of the set's text, or `correct-choice bits per byte`
    /// of a task set.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// The arm with the lower mean bits per byte (the better one).
    pub better: String,
    /// The other.
    pub worse: String,
    /// `worse - better` in bits per byte, paired by seed.
    pub difference: Spread,
    /// The difference is larger than its standard deviation (with one seed: non-zero).
    pub clear: bool,
    /// The comparison in words.
    pub sentence: String,
}

/// The whole experiment report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AblationReport {
    /// Layout version ([`ABLATION_VERSION`]).
    pub version: u32,
    /// The experiment file.
    pub experiment: String,
    /// Training tokens per arm and seed.
    pub budget_tokens: u64,
    /// Seeds per arm.
    pub seeds: Vec<u64>,
    /// The shared tokenizer (file and vocabulary size).
    pub tokenizer: String,
    /// Evaluation sets: name, documents, bytes.
    pub eval_sets: Vec<EvalSetInfo>,
    /// The arms, in the experiment's order.
    pub arms: Vec<ArmReport>,
    /// Every pair of arms on every set.
    pub comparisons: Vec<Comparison>,
    /// Task sets: name, items, source.
    #[serde(default)]
    pub task_sets: Vec<EvalSetInfo>,
    /// Per metric, how consistently it ranks the arms.
    #[serde(default)]
    pub yardsticks: Vec<Yardstick>,
    /// Wall time of the whole experiment run (reused parts cost nothing).
    pub seconds: f64,
}

/// An evaluation set as the report lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvalSetInfo {
    /// Its name.
    pub name: String,
    /// Documents evaluated.
    pub documents: u64,
    /// Text bytes.
    pub bytes: u64,
    /// Where it came from.
    pub source: String,
}

/// `value ± sd` with 3 decimals.
fn pm(s: &Spread) -> String {
    format!("{:.3} ± {:.3}", s.mean, s.sd)
}

fn default_metric() -> String {
    "bits per byte".into()
}

/// A metric of every arm: its name, per-arm values (per seed), whether lower is better.
struct Metric<'a> {
    set: &'a str,
    what: &'static str,
    values: Vec<&'a Spread>,
    lower_is_better: bool,
}

/// Every metric of the arms: bits per byte of each evaluation set, then per task set the
/// correct choice's bits per byte and the accuracy.
fn metrics(arms: &[ArmReport]) -> Vec<Metric<'_>> {
    let mut out = Vec::new();
    let Some(first) = arms.first() else {
        return out;
    };
    for (si, s) in first.scores.iter().enumerate() {
        if let Some(values) = arms
            .iter()
            .map(|a| a.scores.get(si).map(|x| &x.bits_per_byte))
            .collect::<Option<Vec<_>>>()
        {
            out.push(Metric {
                set: &s.eval,
                what: "bits per byte",
                values,
                lower_is_better: true,
            });
        }
    }
    for (ti, t) in first.tasks.iter().enumerate() {
        let get = |f: fn(&TaskScore) -> &Spread| {
            arms.iter()
                .map(|a| a.tasks.get(ti).map(f))
                .collect::<Option<Vec<_>>>()
        };
        if let Some(values) = get(|x| &x.correct_bits_per_byte) {
            out.push(Metric {
                set: &t.task,
                what: "correct-choice bits per byte",
                values,
                lower_is_better: true,
            });
        }
        if let Some(values) = get(|x| &x.accuracy) {
            out.push(Metric {
                set: &t.task,
                what: "accuracy",
                values,
                lower_is_better: false,
            });
        }
    }
    out
}

/// Every pair of arms compared on every evaluation set (bits per byte) and task set (the
/// correct choice's bits per byte), in the arms' order.
pub fn comparisons(arms: &[ArmReport], seeds: usize) -> Vec<Comparison> {
    let mut out = Vec::new();
    for m in metrics(arms).iter().filter(|m| m.lower_is_better) {
        let set = m.set;
        let unit = if m.what == "bits per byte" {
            "bits/byte".to_string()
        } else {
            "correct-choice bits/byte".to_string()
        };
        for i in 0..arms.len() {
            for j in i + 1..arms.len() {
                let (a, b) = (&arms[i], &arms[j]);
                let (sa, sb) = (m.values[i], m.values[j]);
                let (better, worse, bs, ws) = if sa.mean <= sb.mean {
                    (a, b, sa, sb)
                } else {
                    (b, a, sb, sa)
                };
                let diffs: Vec<f64> = ws
                    .values
                    .iter()
                    .zip(&bs.values)
                    .map(|(w, b)| w - b)
                    .collect();
                let difference = Spread::of(diffs);
                let clear = if seeds > 1 {
                    difference.mean > difference.sd
                } else {
                    difference.mean > 0.0
                };
                let over = format!("over {seeds} seed{}", if seeds == 1 { "" } else { "s" });
                let sentence = if clear {
                    format!(
                        "{} beats {} on {set} by {:.3} ± {:.3} {unit} {over}",
                        better.name, worse.name, difference.mean, difference.sd
                    )
                } else {
                    format!(
                        "{} and {} cannot be told apart on {set}: {} is lower by {:.3} ± {:.3} {unit} {over}, within the spread",
                        better.name, worse.name, better.name, difference.mean, difference.sd
                    )
                };
                out.push(Comparison {
                    eval: set.to_string(),
                    metric: m.what.to_string(),
                    better: better.name.clone(),
                    worse: worse.name.clone(),
                    difference,
                    clear,
                    sentence,
                });
            }
        }
    }
    out
}

/// Per metric: how many pairs of arms it tells apart (paired difference beyond its standard
/// deviation) and how often two seeds order two arms alike.
pub fn yardsticks(arms: &[ArmReport], seeds: usize) -> Vec<Yardstick> {
    let mut out = Vec::new();
    for m in metrics(arms) {
        let n = m.values.len();
        let (mut clear, mut pairs) = (0u64, 0u64);
        let (mut agree, mut total) = (0u64, 0u64);
        for i in 0..n {
            for j in i + 1..n {
                pairs += 1;
                let (a, b) = (&m.values[i].values, &m.values[j].values);
                let d = Spread::of(a.iter().zip(b).map(|(x, y)| x - y).collect());
                if (seeds > 1 && d.mean.abs() > d.sd) || (seeds == 1 && d.mean != 0.0) {
                    clear += 1;
                }
                let k = a.len().min(b.len());
                for s in 0..k {
                    for t in s + 1..k {
                        total += 1;
                        let (x, y) = (a[s] - b[s], a[t] - b[t]);
                        if x.signum() == y.signum() && x != 0.0 && y != 0.0 {
                            agree += 1;
                        }
                    }
                }
            }
        }
        out.push(Yardstick {
            metric: format!("{} {}", m.set, m.what),
            lower_is_better: m.lower_is_better,
            clear_pairs: clear,
            arm_pairs: pairs,
            seed_agreement: (total > 0).then(|| agree as f64 / total as f64),
        });
    }
    out
}

/// The Markdown report.
pub fn to_md(r: &AblationReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Ablation: {}\n", r.experiment);
    let _ = writeln!(
        o,
        "{} arms, {} tokens of training each, seeds {:?}, tokenizer {}; {:.1}s.\n",
        r.arms.len(),
        fmt_int(r.budget_tokens),
        r.seeds,
        r.tokenizer,
        r.seconds
    );
    o.push_str("## Results\n\n");
    for c in &r.comparisons {
        let _ = writeln!(o, "- {}.", c.sentence);
    }
    o.push('\n');
    let mut head = vec!["arm".to_string()];
    for s in &r.eval_sets {
        head.push(format!("{} bits/byte", s.name));
        head.push(format!("{} loss", s.name));
    }
    let _ = writeln!(o, "| {} |", head.join(" | "));
    let _ = writeln!(o, "|{}", " --- |".repeat(head.len()));
    for a in &r.arms {
        let mut row = vec![a.name.clone()];
        for s in &a.scores {
            row.push(pm(&s.bits_per_byte));
            row.push(pm(&s.loss));
        }
        let _ = writeln!(o, "| {} |", row.join(" | "));
    }
    if r.arms.iter().any(|a| !a.tasks.is_empty()) {
        o.push_str("\n## Tasks (final models)\n\n");
        let rows = task_rows(r, |x| x.to_string());
        let _ = writeln!(o, "| {} |", TASK_HEAD.join(" | ").replace('#', ""));
        let _ = writeln!(o, "|{}", " --- |".repeat(TASK_HEAD.len()));
        for row in rows {
            let _ = writeln!(o, "| {} |", row.join(" | "));
        }
    }
    if !r.yardsticks.is_empty() {
        o.push_str("\n## Yardsticks\n\nWhich metric tells the arms apart at this budget: pairs of arms whose paired difference exceeds its spread, and the share of (seed pair, arm pair) where two seeds order two arms alike.\n\n");
        let _ = writeln!(o, "| {} |", YARDSTICK_HEAD.join(" | ").replace('#', ""));
        let _ = writeln!(o, "|{}", " --- |".repeat(YARDSTICK_HEAD.len()));
        for row in yardstick_rows(r) {
            let _ = writeln!(o, "| {} |", row.join(" | "));
        }
    }
    o.push_str("\n## Arms\n\n| arm | stages | input | kept | decontaminated | training tokens | epochs | data s | train s | eval s |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for a in &r.arms {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {:.2} | {:.1} | {:.1} | {:.1} |",
            a.name,
            a.stages.join(" → "),
            a.input,
            a.kept,
            a.decontaminated,
            a.train_tokens,
            a.epochs,
            a.data_seconds,
            a.train_seconds,
            a.eval_seconds
        );
    }
    o.push_str("\n## Evaluation sets\n\n| set | documents | bytes | source |\n| --- | ---: | ---: | --- |\n");
    for s in r.eval_sets.iter().chain(&r.task_sets) {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            s.name, s.documents, s.bytes, s.source
        );
    }
    o
}

const TASK_HEAD: [&str; 7] = [
    "arm",
    "task",
    "#items",
    "#accuracy",
    "#chance",
    "#correct-choice bits/byte",
    "#context cut",
];

/// Per arm and task: items, accuracy ± sd, chance, correct-choice bits/byte ± sd.
fn task_rows(r: &AblationReport, text: impl Fn(&str) -> String) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for a in &r.arms {
        for t in &a.tasks {
            rows.push(vec![
                text(&a.name),
                text(&t.task),
                fmt_int(t.items),
                pm(&t.accuracy),
                format!("{:.3}", t.chance),
                pm(&t.correct_bits_per_byte),
                fmt_int(t.context_cut),
            ]);
        }
    }
    rows
}

const YARDSTICK_HEAD: [&str; 3] = ["metric", "#arm pairs told apart", "#seed agreement"];

fn yardstick_rows(r: &AblationReport) -> Vec<Vec<String>> {
    r.yardsticks
        .iter()
        .map(|y| {
            vec![
                format!(
                    "{} ({} is better)",
                    y.metric,
                    if y.lower_is_better { "lower" } else { "higher" }
                ),
                format!("{} of {}", y.clear_pairs, y.arm_pairs),
                y.seed_agreement.map_or("–".into(), |a| format!("{:.2}", a)),
            ]
        })
        .collect()
}

/// The HTML report (the quality report's look; the charts are listed for the browser check).
pub fn to_html(r: &AblationReport) -> String {
    let mut p = Page::new();
    p.section("results", "Results");
    let mut list = String::from("<ul>");
    for c in &r.comparisons {
        let _ = write!(list, "<li>{}.</li>", esc(&c.sentence));
    }
    list.push_str("</ul>");
    p.raw(&list);
    let mut head: Vec<String> = vec!["arm".into()];
    for s in &r.eval_sets {
        head.push(format!("#{} bits/byte", s.name));
        head.push(format!("#{} perplexity", s.name));
    }
    let head_refs: Vec<&str> = head.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = r
        .arms
        .iter()
        .map(|a| {
            let mut row = vec![esc(&a.name)];
            for s in &a.scores {
                row.push(num(pm(&s.bits_per_byte)));
                row.push(num(format!(
                    "{:.1} ± {:.1}",
                    s.perplexity.mean, s.perplexity.sd
                )));
            }
            row
        })
        .collect();
    p.table(&head_refs, &rows);
    if r.arms.iter().any(|a| !a.tasks.is_empty()) {
        p.raw("<h3>Tasks (final models)</h3>");
        let rows: Vec<Vec<String>> = task_rows(r, esc)
            .into_iter()
            .map(|mut row| {
                for c in &mut row[2..] {
                    *c = num(std::mem::take(c));
                }
                row
            })
            .collect();
        p.table(&TASK_HEAD, &rows);
    }
    if !r.yardsticks.is_empty() {
        p.raw("<h3>Yardsticks</h3>");
        p.raw("<p class=\"note\">Which metric tells the arms apart at this budget: pairs of arms whose paired difference exceeds its spread, and the share of (seed pair, arm pair) where two seeds order two arms alike.</p>");
        let rows: Vec<Vec<String>> = yardstick_rows(r)
            .into_iter()
            .map(|row| vec![esc(&row[0]), num(row[1].clone()), num(row[2].clone())])
            .collect();
        p.table(&YARDSTICK_HEAD, &rows);
    }
    p.end();
    p.section("curves", "Validation curves");
    p.grid();
    for (si, set) in r.eval_sets.iter().enumerate() {
        let lines: Vec<Line<'_>> = r
            .arms
            .iter()
            .enumerate()
            .map(|(i, a)| Line {
                name: &a.name,
                color: PALETTE[i % PALETTE.len()],
                points: a
                    .curves
                    .get(si)
                    .map(|c| {
                        c.iter()
                            .map(|pt| (pt.tokens as f64, pt.bits_per_byte.mean))
                            .collect()
                    })
                    .unwrap_or_default(),
                dashed: false,
            })
            .collect();
        let id = format!("curve-{si}");
        let title = format!("bits per byte on {} (mean over seeds)", set.name);
        p.chart(
            &id,
            &title,
            &format!("{} documents", set.documents),
            svg::lines(
                &id,
                &title,
                &lines,
                "training tokens",
                "bits/byte",
                false,
                false,
            ),
        );
    }
    p.end_grid();
    p.end();
    p.section("arms", "Arms");
    let rows: Vec<Vec<String>> = r
        .arms
        .iter()
        .map(|a| {
            vec![
                esc(&a.name),
                esc(&a.stages.join(" → ")),
                num(fmt_int(a.input)),
                num(fmt_int(a.kept)),
                num(fmt_int(a.decontaminated)),
                num(fmt_int(a.train_tokens)),
                num(format!("{:.2}", a.epochs)),
                num(format!("{:.1}", a.data_seconds)),
                num(format!("{:.1}", a.train_seconds)),
                num(format!("{:.1}", a.eval_seconds)),
            ]
        })
        .collect();
    p.table(
        &[
            "arm",
            "stages",
            "#input",
            "#kept",
            "#decontaminated",
            "#training tokens",
            "#epochs",
            "#data s",
            "#train s",
            "#eval s",
        ],
        &rows,
    );
    p.end();
    p.section("eval-sets", "Evaluation sets");
    let rows: Vec<Vec<String>> = r
        .eval_sets
        .iter()
        .chain(&r.task_sets)
        .map(|s| {
            vec![
                esc(&s.name),
                num(fmt_int(s.documents)),
                num(fmt_int(s.bytes)),
                esc(&s.source),
            ]
        })
        .collect();
    p.table(&["set", "#documents", "#bytes", "source"], &rows);
    p.end();
    let header = format!(
        "<header><h1>Ablation: {}</h1><p>{} arms × {} seeds, {} training tokens each, tokenizer {}</p></header>",
        esc(&r.experiment),
        r.arms.len(),
        r.seeds.len(),
        esc(&fmt_int(r.budget_tokens)),
        esc(&r.tokenizer)
    );
    let footer = format!(
        "Figures are in ablation.json (version {}). Run time {:.1}s.",
        r.version, r.seconds
    );
    p.finish(
        &format!("Ablation: {}", r.experiment),
        &header,
        &esc(&footer),
    )
}

/// Writes `ablation.{json,md,html}` into `dir`.
pub fn write(r: &AblationReport, dir: &Path) -> Result<Written, ReportError> {
    let w = Written {
        json: dir.join("ablation.json"),
        md: dir.join("ablation.md"),
        html: dir.join("ablation.html"),
    };
    let json = serde_json::to_string_pretty(r).map_err(|e| ReportError::Invalid {
        path: w.json.clone(),
        message: e.to_string(),
    })? + "\n";
    write_atomic(&w.json, &json)?;
    write_atomic(&w.md, &to_md(r))?;
    write_atomic(&w.html, &to_html(r))?;
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(name: &str, bpb: &[f64]) -> ArmReport {
        ArmReport {
            name: name.into(),
            stages: vec![],
            input: 0,
            kept: 0,
            decontaminated: 0,
            train_tokens: 0,
            epochs: 0.0,
            data_seconds: 0.0,
            train_seconds: 0.0,
            eval_seconds: 0.0,
            scores: vec![ArmScore {
                eval: "prose".into(),
                bits_per_byte: Spread::of(bpb.to_vec()),
                loss: Spread::of(vec![]),
                perplexity: Spread::of(vec![]),
            }],
            curves: vec![vec![]],
            tasks: vec![],
        }
    }

    #[test]
    fn spread_is_mean_and_sample_sd() {
        let s = Spread::of(vec![1.0, 2.0, 3.0]);
        assert_eq!((s.mean, s.sd), (2.0, 1.0));
        assert_eq!(Spread::of(vec![5.0]).sd, 0.0);
    }

    #[test]
    fn pairs_are_compared_by_seed_in_plain_words() {
        let arms = [
            arm("raw", &[1.50, 1.60, 1.55]),
            arm("filtered", &[1.40, 1.46, 1.45]),
        ];
        let c = comparisons(&arms, 3);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].better.as_str(), c[0].worse.as_str()),
            ("filtered", "raw")
        );
        let d = &c[0].difference;
        assert!((d.mean - 0.1133333).abs() < 1e-6 && c[0].clear, "{d:?}");
        assert_eq!(
            c[0].sentence,
            "filtered beats raw on prose by 0.113 ± 0.023 bits/byte over 3 seeds"
        );
        let y = yardsticks(&arms, 3);
        assert_eq!(y.len(), 1);
        // Every seed has filtered below raw: 3 seed pairs, all agree; the pair is told apart.
        assert_eq!((y[0].clear_pairs, y[0].arm_pairs), (1, 1));
        assert_eq!(y[0].seed_agreement, Some(1.0));
        let close = [arm("a", &[1.50, 1.40]), arm("b", &[1.45, 1.47])];
        assert_eq!(yardsticks(&close, 2)[0].seed_agreement, Some(0.0));
        let c = comparisons(&close, 2);
        assert!(!c[0].clear);
        assert!(
            c[0].sentence.contains("cannot be told apart"),
            "{}",
            c[0].sentence
        );
    }
}
