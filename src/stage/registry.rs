//! From a stage spec in the config to a runnable stage.

use super::Stage;
use crate::config::StageSpec;

/// Builds the runnable stage for `spec`.
pub fn build(spec: &StageSpec) -> Stage {
    match spec {
        StageSpec::Normalize(c) => Stage::Map(Box::new(crate::stages::clean::normalize::Normalize::new(c.clone()))),
        StageSpec::Length(c) => Stage::Filter(Box::new(crate::stages::quality::length::Length::new(c.clone()))),
    }
}
