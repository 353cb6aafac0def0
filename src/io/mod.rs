//! Reading inputs and writing datasets.

pub mod input;
pub mod json;
mod read;
pub mod writer;
