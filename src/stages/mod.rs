//! Stage implementations, one module per family.

pub mod clean;
pub mod decontaminate;
pub mod dedup;
pub mod lang;
pub mod quality;
pub mod tokenize;
