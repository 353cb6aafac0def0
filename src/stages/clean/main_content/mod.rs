//! Main-content extraction: the article, post or body text of a web page, without navigation,
//! headers, footers, sidebars, banners, share buttons, related links or comments.
//!
//! The pipeline:
//! 1. [`dom`]: html5ever parses the page, repairing broken markup as browsers do, into a flat
//!    arena of nodes.
//! 2. [`blocks`]: one walk drops what is never visible (scripts, styles, media, form controls,
//!    hidden elements), reads each element's hints ([`hints`]) and cuts the visible text into
//!    blocks (paragraphs, headings, list items, table rows, `pre`).
//! 3. [`select`]: blocks are valued by length, punctuation and link density; hinted boilerplate
//!    is marked unless it holds most of the page; the subtree with the highest total value is
//!    the main container, widened to cheap or content-hinted ancestors and joined by worthy
//!    siblings; its blocks are then classified jusText-style, short ones by their neighbours,
//!    and short ones whose words are page furniture (`lexicon`) dropped.
//! 4. The kept blocks are joined, one per line; comment threads follow when asked for.
//!
//! [`explain`] prints the whole decision for one page, which is how errors are studied.

pub mod blocks;
pub mod dom;
mod explain;
pub mod hints;
mod lexicon;
pub mod select;

use html5ever::local_name;

use dom::{Data, Dom, Id, DOCUMENT, NONE};

/// Which way to lean when a block could be content or boilerplate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Favor {
    /// Drop doubtful blocks: less boilerplate, some content lost.
    Precision,
    /// The default trade-off.
    #[default]
    Balanced,
    /// Keep doubtful blocks: more content, some boilerplate kept.
    Recall,
}

/// Weighted characters of main text below which a page with a long comment thread is read as
/// the thread.
const THIN_PAGE: u32 = 400;

/// How many times the main text the thread must hold for that.
const THREAD_SHARE: u32 = 3;

/// Options of [`extract`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Keep data tables as text, one row per line with cells separated by ` | `.
    pub include_tables: bool,
    /// Append user comment threads after the main text.
    pub include_comments: bool,
    /// Precision/recall trade-off.
    pub favor: Favor,
    /// Put the page title on the first line of the text.
    pub keep_title: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            include_tables: true,
            include_comments: false,
            favor: Favor::Balanced,
            keep_title: false,
        }
    }
}

/// The main text of a page and its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extracted {
    /// Main content, one block per line.
    pub text: String,
    /// The `<title>`, whitespace collapsed.
    pub title: Option<String>,
    /// The declared language (`<html lang>` or a content-language meta), as written.
    pub lang: Option<String>,
}

/// Extracts the main text of `html`. Never panics; a page with no content gives empty text.
pub fn extract(html: &str, opts: &ExtractOptions) -> Extracted {
    // The parser and the walks are panic-free by design; this is a last guard so that one
    // malformed page can never take down a pipeline worker.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| extract_inner(html, opts)))
        .unwrap_or_default()
}

/// Parses `html` and returns its node count; measures the parser alone.
pub fn parse_node_count(html: &str) -> usize {
    Dom::parse(html).nodes.len()
}

/// Describes every block of `html` (value, boilerplate bits, verdict) and the chosen
/// container, for studying extraction errors.
pub fn explain(html: &str, opts: &ExtractOptions) -> String {
    let mut out = String::new();
    run(html, opts, Some(&mut out));
    out
}

fn extract_inner(html: &str, opts: &ExtractOptions) -> Extracted {
    run(html, opts, None)
}

fn run(html: &str, opts: &ExtractOptions, explain: Option<&mut String>) -> Extracted {
    let dom = Dom::parse(html);
    let html_el = dom.child_named(DOCUMENT, &local_name!("html"));
    let title = html_el.and_then(|h| find_title(&dom, h));
    let lang = html_el.and_then(|h| find_lang(&dom, h));
    let root = html_el
        .and_then(|h| dom.child_named(h, &local_name!("body")))
        .or(html_el)
        .unwrap_or(DOCUMENT);

    let seg = blocks::cut(
        &dom,
        root,
        blocks::CutOptions {
            tables: opts.include_tables,
        },
    );
    let mut sopts = select::SelectOptions {
        comments: opts.include_comments,
        favor: opts.favor,
        thread_is_page: false,
    };
    let mut sel = select::select(&dom, &seg, &sopts);
    let kept: u32 = sel.main.iter().map(|&i| seg.blocks[i].chars).sum();
    let thread: u32 = seg
        .blocks
        .iter()
        .filter(|b| {
            sel.eff
                .get(b.owner as usize)
                .is_some_and(|&e| e & hints::neg::COMMENT != 0)
        })
        .map(|b| b.chars)
        .sum();
    if kept < THIN_PAGE && thread >= THREAD_SHARE * kept.max(1) {
        // Little text besides a long thread: the thread is the page (a forum, a Q&A page).
        sopts.thread_is_page = true;
        sel = select::select(&dom, &seg, &sopts);
    }
    if let Some(out) = explain {
        explain::report(&dom, &seg, &sel, out);
    }
    let mut text = String::new();
    if opts.keep_title {
        if let Some(t) = &title {
            text.push_str(t);
        }
    }
    // Carousels, sticky copies and responsive duplicates repeat whole blocks.
    let mut seen = std::collections::HashSet::new();
    for &i in sel.main.iter().chain(&sel.comments) {
        let t = seg.blocks[i].text.as_str();
        if t.len() >= 40 && !seen.insert(t) {
            continue;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(t);
    }
    Extracted { text, title, lang }
}

/// Collapses whitespace runs to single spaces and trims.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn text_of(dom: &Dom, id: Id) -> String {
    let mut s = String::new();
    for d in dom.descendants(id) {
        if let Data::Text(t) = &dom.node(d).data {
            s.push_str(t);
        }
    }
    s
}

fn find_title(dom: &Dom, html: Id) -> Option<String> {
    let head = dom.child_named(html, &local_name!("head"))?;
    let t = dom.child_named(head, &local_name!("title"))?;
    let s = collapse(&text_of(dom, t));
    (!s.is_empty()).then_some(s)
}

fn find_lang(dom: &Dom, html: Id) -> Option<String> {
    if let Some(e) = dom.node(html).element() {
        for a in &e.attrs {
            if &*a.name.local == "lang" {
                let v = a.value.trim();
                if !v.is_empty() {
                    return Some(v.to_string());
                }
            }
        }
    }
    let head = dom.child_named(html, &local_name!("head"))?;
    let mut c = dom.node(head).first_child;
    while c != NONE {
        if let Some(e) = dom.node(c).element() {
            if e.name.local == local_name!("meta")
                && e.attr("http-equiv")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("content-language"))
            {
                if let Some(v) = e.attr("content").map(str::trim).filter(|v| !v.is_empty()) {
                    return Some(v.to_string());
                }
            }
        }
        c = dom.node(c).next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &str =
        "The river rose overnight, and by morning the old bridge was closed to traffic, \
                      the mayor said.";
    const P2: &str = "Engineers will inspect the pillars this week, before deciding whether the \
                      crossing can reopen.";

    fn page(body: &str) -> String {
        format!(
            "<!doctype html><html lang=\"en-GB\"><head><title> River  news </title>\
             <style>p {{ color: red }}</style></head><body>{body}</body></html>"
        )
    }

    fn boilerplate() -> &'static str {
        "<header><a href=/>Home</a><nav><ul><li><a href=/a>World</a></li>\
         <li><a href=/b>Politics</a></li><li><a href=/c>Sport</a></li></ul></nav></header>"
    }

    fn footer() -> &'static str {
        "<footer><p>Copyright 2024 Example News. All rights reserved. Reproduction without \
         permission is prohibited.</p><a href=/imprint>Imprint</a></footer>"
    }

    fn text(html: &str) -> String {
        extract(html, &ExtractOptions::default()).text
    }

    #[test]
    fn navigation_and_footer_dropped_article_kept() {
        let html = page(&format!(
            "{}<article><h2>Bridge closed</h2><p>{P1}</p><p>{P2}</p></article>{}",
            boilerplate(),
            footer()
        ));
        assert_eq!(text(&html), format!("Bridge closed\n{P1}\n{P2}"));
    }

    #[test]
    fn the_title_heading_is_metadata_later_h1_are_text() {
        let html = page(&format!(
            "{}<article><h1>Bridge closed</h1><p>{P1}</p><h1>Inspection</h1><p>{P2}</p>\
             </article>",
            boilerplate()
        ));
        assert_eq!(text(&html), format!("{P1}\nInspection\n{P2}"));
        let opts = ExtractOptions {
            keep_title: true,
            ..ExtractOptions::default()
        };
        assert_eq!(
            extract(&html, &opts).text,
            format!("River news\n{P1}\nInspection\n{P2}")
        );
    }

    #[test]
    fn a_form_to_fill_in_is_dropped_a_form_around_the_page_is_not() {
        let explain = "By filling in this form you agree to receive our letters about the \
                       river, the bridge and the town, at most twice a month, and to let us \
                       keep your address until you leave the list.";
        let fields = "<label>Name <input name=n></label><label>E-mail <input type=email \
                      name=e></label><label>Town <input name=t></label><select name=c>\
                      <option>UK</option></select><input type=submit value=Send>";
        let html = page(&format!(
            "<div class=\"col\"><p>{P1}</p><p>{P2}</p></div><div class=\"col\">\
             <form action=/join><p>{explain}</p><p>{explain} {explain}</p>{fields}</form></div>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}"));
        // ASP.NET puts the whole page in one form.
        let html = page(&format!(
            "<form id=aspnetForm action=/page.aspx>{}<div class=\"main\"><p>{P1}</p>\
             <p>{P2}</p><p>{P2} {P1}</p></div>{fields}</form>",
            boilerplate()
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}\n{P2} {P1}"));
    }

    #[test]
    fn the_lead_before_the_body_joins_it() {
        let lead = "Two weeks after the flood the old bridge is still closed, and the town \
                    asks how long.";
        let body: String = [P1, P2, P1, P2]
            .iter()
            .map(|p| format!("<p>{p} {p}</p>"))
            .collect();
        let html = page(&format!(
            "{}<article class=\"story\"><header><h2>Closed</h2><p class=\"intro\">{lead}</p>\
             <p class=\"byline\">By Jane Doe</p></header><figure><img src=a.jpg>\
             <figcaption>Photo: Jane Doe</figcaption></figure><div class=\"story-body\">{body}\
             </div><div class=\"tags\"><a href=/t>Bridges</a></div></article>",
            boilerplate()
        ));
        let t = text(&html);
        assert!(t.starts_with(&format!("Closed\n{lead}\n{P1} {P1}")), "{t}");
    }

    #[test]
    fn long_captions_are_text_short_credits_are_not() {
        let caption = "The old bridge on Monday morning, after the water had gone down: the \
                       pillars on the town side stand in mud, and the railings on the north \
                       side were torn away by the current during the night, as the fire brigade watched.";
        let html = page(&format!(
            "<article><p>{P1}</p><figure><img src=a.jpg><figcaption>{caption}</figcaption>\
             </figure><p>{P2}</p><figure><img src=b.jpg><figcaption>The mayor on the \
             bridge, with engineers from the county, on Tuesday.</figcaption></figure>\
             <p>{P1} {P2}</p></article>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{caption}\n{P2}\n{P1} {P2}"));
    }

    #[test]
    fn closing_notes_after_the_text_are_dropped() {
        let note = "© 2024 Example News. This article is the copyrighted property of Example \
                    News; written permission must be obtained before it is reprinted in print \
                    or online media.";
        let html = page(&format!(
            "<article><p>{P1}</p><p>{P2}</p><p>{P1} {P2}</p><p>{note}</p></article>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}\n{P1} {P2}"));
    }

    #[test]
    fn a_page_that_is_only_its_thread_is_the_thread() {
        // No post holds most of the page on its own, so each is a comment; with nothing else
        // on the page, the thread is the page.
        let posts = [
            format!("{P1} {P1}"),
            format!("{P2} {P2}"),
            format!("{P1} {P2}"),
        ];
        let thread: String = posts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("<div class=\"comment\" id=\"c{i}\"><p>{p}</p></div>"))
            .collect();
        let html = page(&format!(
            "{}<div class=\"comments\">{thread}</div>{}",
            boilerplate(),
            footer()
        ));
        assert_eq!(text(&html), posts.join("\n"));
    }

    #[test]
    fn a_page_of_short_lines_keeps_its_content_element() {
        let html = page(&format!(
            "{}<article class=\"post\"><div class=\"entry-content\"><h3>Film</h3>\
             <p>Fuji 400.</p><h3>Cameras</h3><p>Anna: Widelux.</p><p>Ben: Pentax.</p>\
             <h3>Order</h3><p>Anna first, then Ben.</p><p><a href=/g>Gallery</a></p></div>\
             </article>{}",
            boilerplate(),
            footer()
        ));
        assert_eq!(
            text(&html),
            "Film\nFuji 400.\nCameras\nAnna: Widelux.\nBen: Pentax.\nOrder\nAnna first, then Ben."
        );
    }

    #[test]
    fn a_small_fragment_after_a_break_of_boilerplate_is_dropped() {
        let body = [(P1, P1), (P2, P2), (P1, P2), (P2, P1)]
            .iter()
            .map(|(a, b)| format!("{a} {b}"))
            .collect::<Vec<_>>();
        let paragraphs: String = body.iter().map(|p| format!("<p>{p}</p>")).collect();
        let tags: String = [
            "Bridges and crossings",
            "Floods in the county",
            "Town council decisions",
            "Traffic and roadworks",
            "Weather warnings",
            "Local engineering firms",
            "Rivers of the region",
            "Emergency services",
        ]
        .iter()
        .map(|t| format!("<li><a href=/t>{t}</a></li>"))
        .collect();
        let bio = "Jane Doe has reported on the town since 2009.";
        let html = page(&format!(
            "<div class=\"main\"><article>{paragraphs}</article><ul class=\"tags\">{tags}</ul>\
             <div class=\"share\"><a href=/f>Share on Facebook</a> <a href=/t>Share on \
             Twitter</a> <a href=/m>Send by e-mail</a></div><p>{bio}</p></div>"
        ));
        assert_eq!(text(&html), body.join("\n"));
        // A last section of its own after the break (a heading over text) stays.
        let html = page(&format!(
            "<div class=\"main\"><article>{paragraphs}</article><ul class=\"tags\">{tags}</ul>\
             <h3>Sealing</h3><p>{bio}</p></div>"
        ));
        assert_eq!(text(&html), format!("{}\nSealing\n{bio}", body.join("\n")));
        // Without the break, the closing line stays.
        let html = page(&format!(
            "<div class=\"main\"><article>{paragraphs}<p>{bio}</p></article></div>"
        ));
        assert_eq!(text(&html), format!("{}\n{bio}", body.join("\n")));
    }

    #[test]
    fn status_messages_are_dropped() {
        let html = page(&format!(
            "<article><div class=\"alert alert-success\">The item was added to your basket \
             and can be found there.</div><p>{P1}</p><p>{P2}</p><div class=\"flash \
             flash-error\">Failed to load the latest information about this page.</div>\
             </article>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}"));
    }

    #[test]
    fn sidebar_and_share_links_dropped() {
        let html = page(&format!(
            "<div class=\"content\"><p>{P1}</p><div class=\"share-buttons\">\
             <a href=/f>Share on Facebook</a> <a href=/t>Tweet</a></div><p>{P2}</p></div>\
             <div id=\"sidebar\"><h3>Most read</h3><p>{P2} {P1}</p></div>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}"));
    }

    #[test]
    fn misplaced_hints_on_wrappers_do_not_remove_content() {
        let html = page(&format!(
            "<div class=\"layout has-sidebar sidebar-right\"><article class=\"post tag-news \
             category-local\"><p>{P1}</p><p>{P2}</p><p>{P1} {P2}</p></article></div>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}\n{P1} {P2}"));
    }

    #[test]
    fn link_lists_inside_the_article_are_dropped_with_their_label() {
        let html = page(&format!(
            "<article><p>{P1}</p><p>Read more:</p><p><a href=/x>Another story about a bridge \
             that closed</a></p><p>{P2}</p></article>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}"));
    }

    #[test]
    fn lists_inside_content_kept() {
        let html = page(&format!(
            "<main><p>{P1}</p><ul><li>pillars</li><li>deck</li><li>railings</li></ul>\
             <p>{P2}</p></main>"
        ));
        assert_eq!(text(&html), format!("{P1}\npillars\ndeck\nrailings\n{P2}"));
    }

    #[test]
    fn data_tables_kept_or_dropped_by_option() {
        let html = page(&format!(
            "<article><p>{P1}</p><table><tr><th>Day</th><th>Level</th></tr>\
             <tr><td>Monday</td><td>4.2 m</td></tr></table><p>{P2}</p></article>"
        ));
        assert_eq!(
            text(&html),
            format!("{P1}\nDay | Level\nMonday | 4.2 m\n{P2}")
        );
        let opts = ExtractOptions {
            include_tables: false,
            ..ExtractOptions::default()
        };
        assert_eq!(extract(&html, &opts).text, format!("{P1}\n{P2}"));
    }

    #[test]
    fn nested_layout_tables_are_containers() {
        let html = page(&format!(
            "<table width=100%><tr><td><a href=/>Home</a><br><a href=/n>News</a></td>\
             <td><table><tr><td><p>{P1}</p><p>{P2}</p></td></tr></table></td></tr></table>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}"));
        let opts = ExtractOptions {
            include_tables: false,
            ..ExtractOptions::default()
        };
        assert_eq!(extract(&html, &opts).text, format!("{P1}\n{P2}"));
    }

    #[test]
    fn pre_is_kept_verbatim() {
        let html = page(&format!(
            "<article><p>{P1}</p><pre>fn main() {{\n    println!(\"hi\");\n}}</pre>\
             <p>{P2}</p></article>"
        ));
        assert_eq!(
            text(&html),
            format!("{P1}\nfn main() {{\n    println!(\"hi\");\n}}\n{P2}")
        );
    }

    #[test]
    fn comments_dropped_or_appended() {
        let comment = "I drove over that bridge every day for years, and it always felt \
                       shaky to me, glad they check it.";
        let html = page(&format!(
            "<article><p>{P1}</p><p>{P2}</p></article>\
             <section id=\"comments\"><h3>2 comments</h3><div class=\"comment\"><p>{comment}</p>\
             </div></section>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}"));
        let opts = ExtractOptions {
            include_comments: true,
            ..ExtractOptions::default()
        };
        assert_eq!(extract(&html, &opts).text, format!("{P1}\n{P2}\n{comment}"));
    }

    #[test]
    fn empty_and_junk_pages_give_empty_text() {
        assert_eq!(
            extract("", &ExtractOptions::default()),
            Extracted::default()
        );
        assert_eq!(text("\u{0}\u{1}<<<>>>&&&;</x"), "");
        assert_eq!(text(&"<div>".repeat(50_000)), "");
    }

    #[test]
    fn boilerplate_only_page_is_empty() {
        let html = page(&format!("{}{}", boilerplate(), footer()));
        assert_eq!(text(&html), "");
    }

    #[test]
    fn inline_elements_join_without_spaces_and_entities_decode() {
        let html = page(&format!(
            "<article><p><b>Fl</b>ood warnings &amp; closures: the <a href=/r>river</a> \
             rose again, {P2}</p></article>"
        ));
        assert_eq!(
            text(&html),
            format!("Flood warnings & closures: the river rose again, {P2}")
        );
    }

    #[test]
    fn br_breaks_lines() {
        let html = page(&format!("<article><p>{P1}<br>{P2}</p></article>"));
        assert_eq!(text(&html), format!("{P1}\n{P2}"));
    }

    #[test]
    fn hidden_elements_dropped() {
        let html = page(&format!(
            "<article><p>{P1}</p><div style=\"display: none\"><p>{P2}</p></div>\
             <p hidden>{P2}</p><p aria-hidden=\"true\">{P2}</p></article>"
        ));
        assert_eq!(text(&html), P1);
    }

    #[test]
    fn title_and_lang_metadata() {
        let html = page(&format!("<article><p>{P1}</p></article>"));
        let e = extract(&html, &ExtractOptions::default());
        assert_eq!(e.title.as_deref(), Some("River news"));
        assert_eq!(e.lang.as_deref(), Some("en-GB"));
        let opts = ExtractOptions {
            keep_title: true,
            ..ExtractOptions::default()
        };
        assert_eq!(extract(&html, &opts).text, format!("River news\n{P1}"));
        let meta = "<html><head><meta http-equiv=\"Content-Language\" content=\"de\"></head>\
                    <body></body></html>";
        assert_eq!(extract(meta, &opts).lang.as_deref(), Some("de"));
    }

    #[test]
    fn favor_changes_short_block_handling() {
        let html = page(&format!(
            "<article><p>{P1}</p><p>Short line here.</p><p>{P2}</p></article>"
        ));
        let with = |favor| {
            extract(
                &html,
                &ExtractOptions {
                    favor,
                    ..ExtractOptions::default()
                },
            )
            .text
        };
        assert_eq!(
            with(Favor::Balanced),
            format!("{P1}\nShort line here.\n{P2}")
        );
        assert_eq!(with(Favor::Recall), format!("{P1}\nShort line here.\n{P2}"));
    }

    #[test]
    fn calls_to_action_inside_the_article_are_dropped() {
        let html = page(&format!(
            "<article><p>{P1}</p><p>Subscribe to our newsletter for more stories like this.</p>\
             <p>{P2}</p><p>Foto: Max Mustermann</p><p>© 2024 Example News</p></article>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}"));
    }

    #[test]
    fn heading_over_a_link_list_is_dropped() {
        let html = page(&format!(
            "<article><p>{P1}</p><p>{P2}</p><h2>Elsewhere</h2>\
             <p><a href=/a>Another story about bridges and their many pillars</a></p>\
             <p>{P1} {P2}</p></article>"
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}\n{P1} {P2}"));
    }

    #[test]
    fn long_headings_are_read_as_paragraphs() {
        let lead = "The old bridge over the river, a landmark for a century, will stay closed \
                    for weeks while engineers look at every pillar.";
        let html = page(&format!(
            "<div class=\"lead\"><h2>{lead}</h2></div><div class=\"body\"><p>{P1}</p></div>\
             <div class=\"more\"><p>{P2}</p></div>"
        ));
        assert_eq!(text(&html), format!("{lead}\n{P1}\n{P2}"));
    }

    #[test]
    fn repeated_wrongly_hinted_sections_are_content() {
        let p3 = "Traffic was diverted over the northern crossing, where queues stretched back \
                  into the town centre by noon.";
        let html = page(&format!(
            "{}<div id=\"toc-section-1\" class=\"toc-section\"><p>{P1}</p><p>{P2}</p></div>\
             <div id=\"toc-section-2\" class=\"toc-section\"><p>{p3}</p></div>{}",
            boilerplate(),
            footer()
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}\n{p3}"));
    }

    #[test]
    fn wrapper_hint_yields_to_the_content_hinted_post_inside() {
        let post = format!("{P1} {P2} {P1} {P2}");
        let html = page(&format!(
            "<div class=\"date-outer\"><h2 class=\"date-header\">Monday, 3 June</h2>\
             <div class=\"post-body entry-content\">{post}</div></div>\
             <div id=\"sidebar\"><p>{P2}</p></div>"
        ));
        assert_eq!(text(&html), post);
    }

    #[test]
    fn ticker_items_named_comments_without_a_thread_are_content() {
        let items: String = [P1, P2, P1, P2]
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let side = if i % 2 == 0 { "left" } else { "right" };
                format!("<div class=\"live-comment {side}\"><p>{i}' {p}</p></div>")
            })
            .collect();
        let html = page(&format!(
            "{}<div class=\"ticker\">{items}</div>",
            boilerplate()
        ));
        assert_eq!(text(&html), format!("0' {P1}\n1' {P2}\n2' {P1}\n3' {P2}"));
    }

    #[test]
    fn page_of_short_paragraphs_is_not_empty() {
        let html = page(&format!(
            "{}<div class=\"poem\"><p>I know I am tired and should not say this now.</p>\
             <p>Then do not say it.</p><p>Fine.</p></div>{}",
            boilerplate(),
            footer()
        ));
        assert_eq!(
            text(&html),
            "I know I am tired and should not say this now.\nThen do not say it.\nFine."
        );
    }

    #[test]
    fn short_sign_off_after_the_text_is_kept() {
        let html = page(&format!(
            "<div class=\"post\"><p>{P1}</p><p>{P2}</p><p>{P2} {P1}</p><p>Cheers, Anna</p></div>\
             <div class=\"share\"><a href=/s>Share</a></div>{}",
            footer()
        ));
        assert_eq!(text(&html), format!("{P1}\n{P2}\n{P2} {P1}\nCheers, Anna"));
    }

    #[test]
    fn main_element_ignores_its_skip_link_id() {
        let html = page(&format!(
            "{}<main id=\"skip-main\"><p>{P1} {P2}</p></main>{}",
            boilerplate(),
            footer()
        ));
        assert_eq!(text(&html), format!("{P1} {P2}"));
    }

    #[test]
    fn short_greeting_before_the_text_is_kept() {
        let html = page(&format!(
            "{}<div class=\"post\"><p>Dear readers,</p><p>{P1}</p><p>{P2}</p>\
             <p>{P2} {P1}</p></div>{}",
            boilerplate(),
            footer()
        ));
        assert_eq!(text(&html), format!("Dear readers,\n{P1}\n{P2}\n{P2} {P1}"));
    }

    #[test]
    fn heading_reaches_past_a_photo_credit() {
        let html = page(&format!(
            "<article><p>{P1}</p><h2>Inspection</h2><p>Photo: Jane Doe</p><p>{P2}</p>\
             </article>"
        ));
        assert_eq!(text(&html), format!("{P1}\nInspection\n{P2}"));
    }
}
