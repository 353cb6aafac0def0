//! From a stage spec in the config to a runnable stage. Only streaming stages are built here:
//! `tokenize` is a phase after the stream (see [`StageSpec::is_streaming`]).

use super::Stage;
use crate::config::StageSpec;

/// Builds the runnable stage for `spec`; `None` for a spec that is not a streaming stage.
pub fn build(spec: &StageSpec) -> Option<Stage> {
    Some(match spec {
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
        StageSpec::Tokenize(_) => return None,
    })
}

/// Builds the streaming stages of a pipeline ([`crate::config::Pipeline::streaming_stages`]),
/// in order.
pub fn build_streaming(specs: &[StageSpec]) -> Vec<Stage> {
    specs.iter().filter_map(build).collect()
}
