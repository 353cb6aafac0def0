//! Cleaners: map stages that rewrite text.

pub mod extract;
pub mod extract_score;
pub mod html_strip;
pub mod main_content;
pub mod normalize;
pub mod pii;
