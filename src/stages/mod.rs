//! Stage implementations, one module per family.

pub mod clean;
pub mod decontaminate;
pub mod dedup;
pub mod lang;
pub mod perplexity;
pub mod quality;
pub mod quality_classifier;
pub mod tokenize;
