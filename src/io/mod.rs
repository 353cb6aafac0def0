//! Reading inputs and writing datasets.

pub mod input;
mod read;
pub mod writer;
