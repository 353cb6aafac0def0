//! Semantic checks: what the schema cannot express (min <= max and the like).

use super::{Check, Pipeline, Problem, StageSpec};

impl StageSpec {
    /// Semantic problems of this stage's config, with paths relative to the stage.
    pub fn check(&self) -> Vec<Problem> {
        match self {
            StageSpec::Normalize(c) => c.check(),
            StageSpec::Length(c) => c.check(),
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
    problems
}
