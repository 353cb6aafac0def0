//! Stage implementations, one module per family.

pub mod clean;
pub mod quality;
pub mod tokenize;
pub mod dedup;
pub mod lang;
