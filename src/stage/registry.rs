//! From a stage spec in the config to a runnable stage. Only streaming stages are built here:
//! `tokenize` is a phase after the stream (see [`StageSpec::is_streaming`]).

use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Counters, Stage, Verdict};
use crate::config::{InputSpec, StageSpec};
use crate::document::Document;
use crate::io::input::{self, InputFile};
use crate::stages::perplexity::Perplexity;
use crate::stages::quality_classifier::{keep_threshold, QualityClassifier};

/// What building a stage may need besides its config.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext<'a> {
    /// The directory relative paths of the pipeline (evaluation sets, models) are resolved
    /// against: the pipeline file's.
    pub base_dir: &'a Path,
}

/// A stage that could not be built (a file it reads is missing or unreadable).
#[derive(Debug, thiserror::Error)]
#[error("stages[{index}] ({kind}): {message}")]
pub struct BuildError {
    /// The stage's index in `stages:`.
    pub index: usize,
    /// Its type.
    pub kind: &'static str,
    /// What went wrong, naming the file.
    pub message: String,
}

/// Builds the runnable stage for `spec`; `Ok(None)` for a spec that is not a streaming stage.
/// Fails (with a message naming the file) when the stage reads a file that it cannot use.
pub fn build(spec: &StageSpec, ctx: &BuildContext<'_>) -> Result<Option<Stage>, String> {
    Ok(Some(match spec {
        StageSpec::Normalize(c) => Stage::Map(Box::new(
            crate::stages::clean::normalize::Normalize::new(c.clone()),
        )),
        StageSpec::Length(c) => Stage::Filter(Box::new(
            crate::stages::quality::length::Length::try_new(c.clone())?,
        )),
        StageSpec::HtmlStrip(c) => Stage::Map(Box::new(
            crate::stages::clean::html_strip::HtmlStrip::new(c.clone()),
        )),
        StageSpec::Extract(c) => Stage::Filter(Box::new(
            crate::stages::clean::extract::Extract::new(c.clone()),
        )),
        StageSpec::Pii(c) => Stage::Map(Box::new(crate::stages::clean::pii::Pii::new(c.clone()))),
        StageSpec::GopherQuality(c) => Stage::Filter(Box::new(
            crate::stages::quality::gopher_quality::GopherQuality::try_new(c.clone())?,
        )),
        StageSpec::GopherRepetition(c) => Stage::Filter(Box::new(
            crate::stages::quality::gopher_repetition::GopherRepetition::try_new(c.clone())?,
        )),
        StageSpec::C4(c) => Stage::Filter(Box::new(crate::stages::quality::c4::C4::try_new(
            c.clone(),
        )?)),
        StageSpec::Fineweb(c) => Stage::Filter(Box::new(
            crate::stages::quality::fineweb::Fineweb::try_new(c.clone())?,
        )),
        StageSpec::Language(c) => {
            if c.adaptive_min_scores {
                return Err(NEEDS_SAMPLE.into());
            }
            Stage::Filter(Box::new(crate::stages::lang::Language::new(c.clone())))
        }
        StageSpec::ExactDedup(c) => Stage::Stateful(Box::new(
            crate::stages::dedup::exact::ExactDedup::new(c.clone()),
        )),
        StageSpec::MinhashDedup(c) => Stage::Stateful(Box::new(
            crate::stages::dedup::minhash::MinhashDedup::new(c.clone()),
        )),
        StageSpec::ParagraphDedup(c) => Stage::Stateful(Box::new(
            crate::stages::dedup::paragraph::ParagraphDedup::new(c.clone()),
        )),
        StageSpec::Decontaminate(c) => Stage::Filter(Box::new(
            crate::stages::decontaminate::Decontaminate::new(c.clone(), ctx.base_dir)?,
        )),
        StageSpec::QualityClassifier(c) => {
            if c.keep_fraction.is_some() {
                return Err(NEEDS_SAMPLE.into());
            }
            Stage::Filter(Box::new(QualityClassifier::new(c, ctx.base_dir)?))
        }
        StageSpec::Perplexity(c) => {
            if c.buckets {
                return Err(NEEDS_SAMPLE.into());
            }
            Stage::Filter(Box::new(Perplexity::new(c, ctx.base_dir)?))
        }
        StageSpec::Tokenize(_) => return Ok(None),
    }))
}

const NEEDS_SAMPLE: &str =
    "a corpus quantile (keep_fraction, buckets) is computed on a sample of the input \
    before the stream, which this kind of run does not take";

/// Where the calibration sample of quantile-based stages comes from.
#[derive(Debug, Clone, Copy)]
pub enum Sampling<'a> {
    /// From these input files of the run (all of them, so every task of a split run gets the
    /// same thresholds).
    From {
        /// The input section.
        input: &'a InputSpec,
        /// Every input file of the run.
        files: &'a [InputFile],
        /// Seed of the sample (`run.seed`).
        seed: u64,
    },
    /// Build the stages without calibrating (`validate`: models are loaded and checked, no
    /// document is read).
    Skip,
}

/// What a stage computed on the calibration sample before the stream (in the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The stage's index in `stages:`.
    pub stage: usize,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Documents drawn from the input (`sample_docs`, or all of it when it holds fewer).
    pub sampled: u64,
    /// Of those, documents that reached the stage and were scored.
    pub scored: u64,
    /// The signal the thresholds are on.
    pub signal: String,
    /// The thresholds: `min_score` (keep at or above) for `quality_classifier`, `head_below`
    /// and `tail_from` for `perplexity`, the minimum confidence by language code for
    /// `language` with `adaptive_min_scores`.
    pub thresholds: std::collections::BTreeMap<String, f64>,
}

/// The `n` documents of `files` with the smallest seeded hash of their id: a sample that does
/// not depend on the order or split of the files, in memory bounded by `n`.
fn sample_docs(
    input_spec: &InputSpec,
    files: &[InputFile],
    seed: u64,
    n: usize,
) -> Result<Vec<Document>, String> {
    let mut heap: BinaryHeap<(u64, String, String)> = BinaryHeap::new();
    for f in files {
        for r in input::open(f, input_spec).map_err(|e| e.to_string())? {
            let Ok(d) = r else { continue };
            let h = xxhash_rust::xxh3::xxh3_64_with_seed(d.id.as_bytes(), seed ^ 0x6361_6c69);
            if heap.len() < n {
                heap.push((h, d.id, d.text));
            } else if heap.peek().is_some_and(|top| h < top.0) {
                heap.pop();
                heap.push((h, d.id, d.text));
            }
        }
    }
    let source: Arc<str> = Arc::from("calibration");
    Ok(heap
        .into_sorted_vec()
        .into_iter()
        .map(|(_, id, text)| Document::new(id, text, source.clone()))
        .collect())
}

/// The documents of `sample` that pass `stages` (maps applied, filters checked; stateful
/// stages, whose verdicts depend on the whole stream, are passed through).
fn through(stages: &[Stage], sample: &[Document]) -> Vec<Document> {
    sample
        .iter()
        .filter_map(|d| {
            let mut d = d.clone();
            let mut c = Counters::default();
            for s in stages {
                match s {
                    Stage::Map(m) => m.apply(&mut d, &mut c),
                    Stage::Filter(f) => {
                        if f.check(&mut d, &mut c) != Verdict::Keep {
                            return None;
                        }
                    }
                    Stage::Stateful(_) => {}
                }
            }
            Some(d)
        })
        .collect()
}

/// Builds the streaming stages as [`build_streaming`], calibrating the stages that filter by a
/// corpus quantile on a sample of the input taken through the stages before them.
pub fn build_calibrated(
    specs: &[StageSpec],
    ctx: &BuildContext<'_>,
    sampling: Sampling<'_>,
) -> Result<(Vec<Stage>, Vec<Calibration>), BuildError> {
    use rayon::prelude::*;
    let mut out: Vec<Stage> = Vec::with_capacity(specs.len());
    let mut calibrations = Vec::new();
    let mut sample: Option<Vec<Document>> = None;
    for (index, spec) in specs.iter().enumerate() {
        let err = |message: String| BuildError {
            index,
            kind: spec.type_name(),
            message,
        };
        // The documents drawn (fewer than asked for when the input is smaller) and those of
        // them that pass the stages before this one.
        let mut get_sample = |n: usize| -> Result<Option<(u64, Vec<Document>)>, BuildError> {
            match sampling {
                Sampling::Skip => Ok(None),
                Sampling::From { input, files, seed } => {
                    if sample.as_ref().is_none_or(|s| s.len() < n) {
                        sample = Some(sample_docs(input, files, seed, n).map_err(err)?);
                    }
                    let s = sample.as_ref().map(|s| s[..n.min(s.len())].to_vec());
                    Ok(s.map(|s| (s.len() as u64, through(&out, &s))))
                }
            }
        };
        let stage = match spec {
            StageSpec::QualityClassifier(c) if c.keep_fraction.is_some() => {
                let mut q = QualityClassifier::new(c, ctx.base_dir).map_err(err)?;
                let keep = c.keep_fraction.unwrap_or(1.0);
                if let Some((drawn, docs)) = get_sample(c.sample_docs)? {
                    let mut scores: Vec<f64> = docs.par_iter().map(|d| q.score(&d.text)).collect();
                    let t = keep_threshold(&mut scores, keep);
                    tracing::info!(
                        "quality_classifier: keep {keep} of the corpus: min_score {t:.6} from {} of {drawn} sampled documents",
                        scores.len()
                    );
                    q.set_threshold(t);
                    calibrations.push(Calibration {
                        stage: index,
                        kind: spec.type_name().into(),
                        sampled: drawn,
                        scored: scores.len() as u64,
                        signal: "quality_score".into(),
                        thresholds: [("min_score".to_string(), t)].into(),
                    });
                }
                Stage::Filter(Box::new(q))
            }
            StageSpec::Language(c) if c.adaptive_min_scores => {
                let mut l = crate::stages::lang::Language::new(c.clone());
                if let Some((drawn, docs)) = get_sample(c.sample_docs)? {
                    let texts: Vec<&str> = docs.iter().map(|d| d.text.as_str()).collect();
                    let set = l.adapt(&texts);
                    tracing::info!(
                        "language: adaptive minimum confidence for {} languages from {} of {drawn} sampled documents: {}",
                        set.len(),
                        texts.len(),
                        set.iter()
                            .map(|(k, v)| format!("{k} {v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    calibrations.push(Calibration {
                        stage: index,
                        kind: spec.type_name().into(),
                        sampled: drawn,
                        scored: texts.len() as u64,
                        signal: "lang_score".into(),
                        thresholds: set,
                    });
                }
                Stage::Filter(Box::new(l))
            }
            StageSpec::Perplexity(c) if c.buckets => {
                let mut p = Perplexity::new(c, ctx.base_dir).map_err(err)?;
                if let Some((drawn, docs)) = get_sample(c.sample_docs)? {
                    let mut bpb: Vec<f64> = docs
                        .par_iter()
                        .filter_map(|d| p.score(&d.text).map(|s| s.0))
                        .collect();
                    bpb.sort_by(|a, b| a.total_cmp(b));
                    let q = |f: f64| {
                        if bpb.is_empty() {
                            0.0
                        } else {
                            bpb[((bpb.len() as f64 * f) as usize).min(bpb.len() - 1)]
                        }
                    };
                    let cuts = [q(1.0 / 3.0), q(2.0 / 3.0)];
                    tracing::info!(
                        "perplexity: buckets head < {:.4} <= middle < {:.4} <= tail bits/byte, from {} of {drawn} sampled documents",
                        cuts[0],
                        cuts[1],
                        bpb.len()
                    );
                    p.set_cuts(cuts);
                    calibrations.push(Calibration {
                        stage: index,
                        kind: spec.type_name().into(),
                        sampled: drawn,
                        scored: bpb.len() as u64,
                        signal: "bpb".into(),
                        thresholds: [
                            ("head_below".to_string(), cuts[0]),
                            ("tail_from".to_string(), cuts[1]),
                        ]
                        .into(),
                    });
                }
                Stage::Filter(Box::new(p))
            }
            _ => match build(spec, ctx).map_err(err)? {
                Some(stage) => stage,
                None => return Err(err("not a streaming stage".into())),
            },
        };
        out.push(stage);
    }
    Ok((out, calibrations))
}

/// Builds the streaming stages of a pipeline ([`crate::config::Pipeline::streaming_stages`]),
/// in order.
pub fn build_streaming(
    specs: &[StageSpec],
    ctx: &BuildContext<'_>,
) -> Result<Vec<Stage>, BuildError> {
    let mut out = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        let err = |message: String| BuildError {
            index,
            kind: spec.type_name(),
            message,
        };
        match build(spec, ctx).map_err(err)? {
            Some(stage) => out.push(stage),
            None => return Err(err("not a streaming stage".into())),
        }
    }
    Ok(out)
}
