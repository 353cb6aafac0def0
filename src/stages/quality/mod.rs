//! Quality filters.

pub mod by_language;
pub mod c4;
pub mod fineweb;
pub mod gopher_quality;
pub mod gopher_repetition;
pub mod length;
