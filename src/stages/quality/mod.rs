//! Quality filters.

pub mod length;
