//! Reading inputs and writing datasets.

pub mod charset;
pub mod input;
pub mod json;
mod read;
pub mod writer;

/// The WARC record reader behind `format: warc` (usable on its own).
pub use read::warc::format as warc;
