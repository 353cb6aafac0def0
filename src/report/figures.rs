//! The headline figures of a report as a flat list, and their differences between two
//! reports (`corpusforge report --compare`).

use serde::{Deserialize, Serialize};

use super::model::Report;

/// How a figure is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fmt {
    /// A count.
    Int,
    /// Bytes.
    Bytes,
    /// A share in [0, 1], shown as a percentage (differences in percentage points).
    Pct,
    /// Any other number.
    Float,
}

/// One figure of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Section heading.
    pub section: &'static str,
    /// Stable key (`funnel.kept`, `noise.symbol_ratio.after.mean`, `drop:length:too_short`).
    pub key: String,
    /// Label.
    pub label: String,
    /// The value (`None`: not available in this run).
    pub value: Option<f64>,
    /// How to show it.
    pub fmt: Fmt,
}

/// A figure in two reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// Section heading.
    pub section: &'static str,
    /// Stable key.
    pub key: String,
    /// Label.
    pub label: String,
    /// In report A.
    pub a: Option<f64>,
    /// In report B.
    pub b: Option<f64>,
    /// `b - a`.
    pub diff: Option<f64>,
    /// `(b - a) / |a|`.
    pub rel_diff: Option<f64>,
    /// How to show it.
    pub fmt: Fmt,
}

struct Out(Vec<Figure>);

impl Out {
    fn add(
        &mut self,
        section: &'static str,
        key: impl Into<String>,
        label: impl Into<String>,
        value: Option<f64>,
        fmt: Fmt,
    ) {
        self.0.push(Figure {
            section,
            key: key.into(),
            label: label.into(),
            value: value.filter(|v| v.is_finite()),
            fmt,
        });
    }
}

/// The headline figures of `r`, in display order.
pub fn figures(r: &Report) -> Vec<Figure> {
    let mut o = Out(Vec::new());
    let f = &r.funnel;
    let c = |v: u64| Some(v as f64);
    o.add(
        "Funnel",
        "funnel.input_records",
        "input records",
        c(f.input_records),
        Fmt::Int,
    );
    o.add(
        "Funnel",
        "funnel.documents_in",
        "documents in",
        c(f.documents_in),
        Fmt::Int,
    );
    o.add(
        "Funnel",
        "funnel.kept",
        "documents kept",
        c(f.kept),
        Fmt::Int,
    );
    o.add(
        "Funnel",
        "funnel.kept_share",
        "kept share",
        f.kept_share,
        Fmt::Pct,
    );
    o.add(
        "Funnel",
        "funnel.dropped",
        "documents dropped",
        c(f.dropped),
        Fmt::Int,
    );
    o.add(
        "Funnel",
        "funnel.rejected",
        "records rejected",
        c(f.rejected),
        Fmt::Int,
    );
    o.add(
        "Funnel",
        "funnel.bytes_in",
        "text bytes in",
        c(f.bytes_in),
        Fmt::Bytes,
    );
    o.add(
        "Funnel",
        "funnel.kept_bytes",
        "text bytes kept",
        c(f.kept_bytes),
        Fmt::Bytes,
    );
    o.add(
        "Funnel",
        "funnel.tokens",
        "tokens written",
        f.tokens.map(|t| t as f64),
        Fmt::Int,
    );
    for d in &f.drop_reasons {
        o.add(
            "Drop reasons",
            format!("drop:{}", d.reason),
            d.reason.clone(),
            c(d.count),
            Fmt::Int,
        );
    }
    for m in &r.noise {
        let fmt = Fmt::Float;
        o.add(
            "Noise (after, sample)",
            format!("noise.{}.after.mean", m.key),
            format!("{} — mean", m.label),
            m.after.as_ref().map(|d| d.mean),
            fmt,
        );
        o.add(
            "Noise (after, sample)",
            format!("noise.{}.after.p95", m.key),
            format!("{} — p95", m.label),
            m.after.as_ref().map(|d| d.p95),
            fmt,
        );
        o.add(
            "Noise (after, sample)",
            format!("noise.{}.after.nonzero_share", m.key),
            format!("{} — documents with any", m.label),
            m.after.as_ref().map(|d| d.nonzero_share),
            Fmt::Pct,
        );
    }
    let d = &r.diversity;
    if let Some(l) = &d.languages {
        o.add(
            "Diversity",
            "languages.distinct_kept",
            "languages kept",
            c(l.distinct_kept),
            Fmt::Int,
        );
        o.add(
            "Diversity",
            "languages.entropy_bits",
            "language entropy (bits)",
            Some(l.entropy_bits),
            Fmt::Float,
        );
    }
    o.add(
        "Diversity",
        "chars.kept.p50",
        "characters per document — median",
        d.chars.kept.as_ref().map(|x| x.p50),
        Fmt::Float,
    );
    o.add(
        "Diversity",
        "chars.kept.mean",
        "characters per document — mean",
        d.chars.kept.as_ref().map(|x| x.mean),
        Fmt::Float,
    );
    o.add(
        "Diversity",
        "words.kept.p50",
        "words per document — median",
        d.words.kept.as_ref().map(|x| x.p50),
        Fmt::Float,
    );
    o.add(
        "Diversity",
        "tokens.p50",
        "tokens per document — median",
        d.tokens.as_ref().map(|x| x.p50),
        Fmt::Float,
    );
    let lx = d.after.as_ref();
    o.add(
        "Diversity",
        "lexical.distinct_1",
        "distinct-1 (sample)",
        lx.and_then(|l| l.distinct_1),
        Fmt::Float,
    );
    o.add(
        "Diversity",
        "lexical.distinct_2",
        "distinct-2 (sample)",
        lx.and_then(|l| l.distinct_2),
        Fmt::Float,
    );
    o.add(
        "Diversity",
        "lexical.distinct_3",
        "distinct-3 (sample)",
        lx.and_then(|l| l.distinct_3),
        Fmt::Float,
    );
    o.add(
        "Diversity",
        "lexical.unigram_entropy_bits",
        "unigram entropy, bits (sample)",
        lx.map(|l| l.unigram_entropy_bits),
        Fmt::Float,
    );
    o.add(
        "Diversity",
        "lexical.heaps_beta",
        "Heaps' law beta (sample)",
        lx.and_then(|l| l.heaps_beta),
        Fmt::Float,
    );
    o.add(
        "Diversity",
        "lexical.compression_ratio",
        "zstd compression ratio (sample)",
        lx.and_then(|l| l.compression_ratio),
        Fmt::Float,
    );
    let u = &r.duplicates;
    if u.available {
        o.add(
            "Duplicates",
            "duplicates.clusters",
            "duplicate clusters",
            c(u.clusters),
            Fmt::Int,
        );
        o.add(
            "Duplicates",
            "duplicates.documents",
            "documents in clusters",
            c(u.documents),
            Fmt::Int,
        );
        o.add(
            "Duplicates",
            "duplicates.dropped",
            "dropped as duplicates",
            c(u.dropped_as_duplicates),
            Fmt::Int,
        );
        o.add(
            "Duplicates",
            "duplicates.largest",
            "largest cluster",
            c(u.largest),
            Fmt::Int,
        );
    }
    if let Some(s) = &r.sources.files {
        o.add(
            "Sources",
            "sources.files.distinct_kept",
            "input files with kept documents",
            c(s.distinct_kept),
            Fmt::Int,
        );
        o.add(
            "Sources",
            "sources.files.entropy_bits",
            "source entropy (bits)",
            Some(s.entropy_bits),
            Fmt::Float,
        );
    }
    if let Some(s) = &r.sources.domains {
        o.add(
            "Sources",
            "sources.domains.distinct_kept",
            "domains kept",
            c(s.distinct_kept),
            Fmt::Int,
        );
        o.add(
            "Sources",
            "sources.domains.entropy_bits",
            "domain entropy (bits)",
            Some(s.entropy_bits),
            Fmt::Float,
        );
    }
    if let Some(t) = &r.tokenizer {
        o.add(
            "Tokenizer",
            "tokenizer.vocab_size",
            "vocabulary",
            c(t.vocab_size),
            Fmt::Int,
        );
        o.add(
            "Tokenizer",
            "tokenizer.used_share",
            "vocabulary used",
            t.used_share,
            Fmt::Pct,
        );
        o.add(
            "Tokenizer",
            "tokenizer.bytes_per_token",
            "bytes per token",
            t.bytes_per_token,
            Fmt::Float,
        );
        o.add(
            "Tokenizer",
            "tokenizer.tokens_per_word",
            "tokens per word",
            t.tokens_per_word,
            Fmt::Float,
        );
    }
    if let Some(t) = &r.training {
        o.add("Training", "training.steps", "steps", c(t.steps), Fmt::Int);
        o.add(
            "Training",
            "training.final_loss",
            "final training loss",
            t.final_loss,
            Fmt::Float,
        );
        o.add(
            "Training",
            "training.final_val_loss",
            "final val loss",
            t.final_val_loss,
            Fmt::Float,
        );
        o.add(
            "Training",
            "training.best_val_loss",
            "best val loss",
            t.best_val_loss,
            Fmt::Float,
        );
        o.add(
            "Training",
            "training.final_perplexity",
            "final perplexity",
            t.final_perplexity,
            Fmt::Float,
        );
        o.add(
            "Training",
            "training.tokens_per_s",
            "tokens/s (median)",
            t.tokens_per_s_median,
            Fmt::Float,
        );
    }
    o.0
}

/// The figures of `a` and `b` side by side (the union of their keys, in `a`'s order, then
/// `b`'s own).
pub fn diff(a: &Report, b: &Report) -> Vec<Diff> {
    let fa = figures(a);
    let fb = figures(b);
    let mut out: Vec<Diff> = Vec::new();
    let mut push = |x: Option<&Figure>, y: Option<&Figure>| {
        let Some(f) = x.or(y) else { return };
        let (va, vb) = (x.and_then(|f| f.value), y.and_then(|f| f.value));
        let diff = va.zip(vb).map(|(a, b)| b - a);
        let rel_diff = va
            .zip(diff)
            .and_then(|(a, d)| (a != 0.0).then(|| d / a.abs()));
        out.push(Diff {
            section: f.section,
            key: f.key.clone(),
            label: f.label.clone(),
            a: va,
            b: vb,
            diff,
            rel_diff,
            fmt: f.fmt,
        });
    };
    for x in &fa {
        push(Some(x), fb.iter().find(|y| y.key == x.key));
    }
    for y in fb.iter().filter(|y| !fa.iter().any(|x| x.key == y.key)) {
        push(None, Some(y));
    }
    // Keep each section together (b's extra figures join their section).
    let order: Vec<&'static str> = {
        let mut v: Vec<&'static str> = Vec::new();
        for d in &out {
            if !v.contains(&d.section) {
                v.push(d.section);
            }
        }
        v
    };
    out.sort_by_key(|d| {
        order
            .iter()
            .position(|s| *s == d.section)
            .unwrap_or(usize::MAX)
    });
    out
}
