//! From a stage spec in the config to a runnable stage. Only streaming stages are built here:
//! `tokenize` is a phase after the stream (see [`StageSpec::is_streaming`]).

use std::path::Path;

use super::Stage;
use crate::config::StageSpec;

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
            crate::stages::quality::length::Length::new(c.clone()),
        )),
        StageSpec::HtmlStrip(c) => Stage::Map(Box::new(
            crate::stages::clean::html_strip::HtmlStrip::new(c.clone()),
        )),
        StageSpec::Extract(c) => Stage::Filter(Box::new(
            crate::stages::clean::extract::Extract::new(c.clone()),
        )),
        StageSpec::Pii(c) => Stage::Map(Box::new(crate::stages::clean::pii::Pii::new(c.clone()))),
        StageSpec::GopherQuality(c) => Stage::Filter(Box::new(
            crate::stages::quality::gopher_quality::GopherQuality::new(c.clone()),
        )),
        StageSpec::GopherRepetition(c) => Stage::Filter(Box::new(
            crate::stages::quality::gopher_repetition::GopherRepetition::new(c.clone()),
        )),
        StageSpec::C4(c) => Stage::Filter(Box::new(crate::stages::quality::c4::C4::new(c.clone()))),
        StageSpec::Fineweb(c) => Stage::Filter(Box::new(
            crate::stages::quality::fineweb::Fineweb::new(c.clone()),
        )),
        StageSpec::Language(c) => {
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
        StageSpec::Tokenize(_) => return Ok(None),
    }))
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
