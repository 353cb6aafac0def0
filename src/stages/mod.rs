//! Stage implementations, one module per family.

pub mod clean;
pub mod quality;
