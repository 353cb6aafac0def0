//! `extract`: the main content of a web page (the article, post or body text), without the
//! navigation, menus, headers, footers, sidebars, cookie banners, share buttons, related links
//! and comment sections around it — the job trafilatura does in FineWeb's pipeline. The engine
//! is [`super::main_content`]; this is the stage around it.
//!
//! A page that does not look like HTML passes unchanged (as `html_strip`'s `detect`). A page
//! whose main text is shorter than `min_text_chars` is dropped as `extract:no_main_text`. The
//! page's `<title>` and declared language (`<html lang>`, or a content-language meta) go into
//! the metadata as `title` and `html_lang`.
//!
//! `html_strip` stays the fast full-text converter for pages that are all content
//! (documentation, markup dumps); `extract` is for web pages.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::html_strip::looks_like_html;
use super::main_content::{self, ExtractOptions, Favor};
use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Filter, Verdict};

fn yes() -> bool {
    true
}
fn one() -> u64 {
    1
}

/// Which way `extract` leans when a block could be content or boilerplate (trafilatura's
/// `favor_precision` / `favor_recall`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FavorSpec {
    /// Drop doubtful blocks: less boilerplate, some content lost.
    Precision,
    /// The default trade-off.
    #[default]
    Balanced,
    /// Keep doubtful blocks: more content, some boilerplate kept.
    Recall,
}

/// Config of the `extract` stage. Counters: `html` (pages extracted), `not_html` (documents
/// passed unchanged), `with_title`, `with_lang`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtractConfig {
    /// Keep data tables as text, one row per line with cells separated by ` | `.
    #[serde(default = "yes")]
    pub include_tables: bool,
    /// Keep user comment sections, after the main text.
    #[serde(default)]
    pub include_comments: bool,
    /// Precision/recall trade-off.
    #[serde(default)]
    pub favor: FavorSpec,
    /// A page whose main text has fewer characters than this is dropped
    /// (`extract:no_main_text`).
    #[serde(default = "one")]
    pub min_text_chars: u64,
    /// Put the page title on the first line of the text.
    #[serde(default)]
    pub keep_title: bool,
    /// Extract only documents that look like HTML (true) or every document (false).
    #[serde(default = "yes")]
    pub detect: bool,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        ExtractConfig {
            include_tables: true,
            include_comments: false,
            favor: FavorSpec::Balanced,
            min_text_chars: 1,
            keep_title: false,
            detect: true,
        }
    }
}

impl Check for ExtractConfig {
    fn check(&self) -> Vec<Problem> {
        Vec::new()
    }
}

/// The `extract` stage.
pub struct Extract {
    cfg: ExtractConfig,
    opts: ExtractOptions,
}

impl Extract {
    /// An extractor with `cfg`.
    pub fn new(cfg: ExtractConfig) -> Self {
        let opts = ExtractOptions {
            include_tables: cfg.include_tables,
            include_comments: cfg.include_comments,
            favor: match cfg.favor {
                FavorSpec::Precision => Favor::Precision,
                FavorSpec::Balanced => Favor::Balanced,
                FavorSpec::Recall => Favor::Recall,
            },
            keep_title: cfg.keep_title,
        };
        Extract { cfg, opts }
    }
}

impl Filter for Extract {
    fn check(&self, doc: &mut Document, counters: &mut Counters) -> Verdict {
        if self.cfg.detect && !looks_like_html(&doc.text) {
            counters.add("not_html", 1);
            return Verdict::Keep;
        }
        counters.add("html", 1);
        let page = main_content::extract(&doc.text, &self.opts);
        let meta = doc.metadata.get_or_insert_with(Default::default);
        if let Some(t) = page.title {
            counters.add("with_title", 1);
            meta.insert("title".into(), t.into());
        }
        if let Some(l) = page.lang {
            counters.add("with_lang", 1);
            meta.insert("html_lang".into(), l.into());
        }
        doc.text = page.text;
        if (doc.text.chars().count() as u64) < self.cfg.min_text_chars {
            return Verdict::Drop("no_main_text");
        }
        Verdict::Keep
    }
}
