//! Semantic checks: what the schema cannot express (min <= max and the like).

use super::{Check, Pipeline, Problem, StageSpec};

impl StageSpec {
    /// Semantic problems of this stage's config, with paths relative to the stage.
    pub fn check(&self) -> Vec<Problem> {
        match self {
            StageSpec::Normalize(c) => c.check(),
            StageSpec::Length(c) => c.check(),
            StageSpec::HtmlStrip(c) => c.check(),
            StageSpec::Extract(c) => c.check(),
            StageSpec::Pii(c) => c.check(),
            StageSpec::GopherQuality(c) => c.check(),
            StageSpec::GopherRepetition(c) => c.check(),
            StageSpec::C4(c) => c.check(),
            StageSpec::Fineweb(c) => c.check(),
            StageSpec::Language(c) => c.check(),
            StageSpec::ExactDedup(c) => c.check(),
            StageSpec::MinhashDedup(c) => c.check(),
            StageSpec::ParagraphDedup(c) => c.check(),
            StageSpec::Decontaminate(c) => c.check(),
            StageSpec::QualityClassifier(c) => c.check(),
            StageSpec::Perplexity(c) => c.check(),
            StageSpec::Tokenize(c) => c.check(),
        }
    }
}

/// Problems of the pipeline as a whole (not of one stage), with paths from the root.
pub(crate) fn pipeline_problems(pipeline: &Pipeline) -> Vec<Problem> {
    let mut problems = Vec::new();
    if pipeline.input.paths.is_empty() {
        problems.push(Problem {
            path: vec!["input".into(), "paths".into()],
            message: "at least one input path is needed".into(),
        });
    }
    // The tokenize pass reads the written documents, so nothing may come after it.
    let last = pipeline.stages.len().saturating_sub(1);
    for (i, s) in pipeline.stages.iter().enumerate() {
        if matches!(s, StageSpec::Tokenize(_)) && i != last {
            problems.push(Problem {
                path: vec!["stages".into(), i.to_string(), "type".into()],
                message: format!(
                    "tokenize must be the last stage (it runs over the written documents), but it is stage {i} of {}",
                    pipeline.stages.len()
                ),
            });
        }
    }
    // The train section is checked with the rest, so `validate` reports its problems too.
    if let Some(t) = &pipeline.train {
        for mut p in t.check() {
            p.path.insert(0, "train".into());
            problems.push(p);
        }
    }
    problems
}
