//! Cleaners: map stages that rewrite text.

pub mod normalize;
