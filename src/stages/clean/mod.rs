//! Cleaners: map stages that rewrite text.

pub mod html_strip;
pub mod normalize;
pub mod pii;
