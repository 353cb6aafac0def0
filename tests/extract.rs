//! The `extract` stage on small hand-written pages, one rule each (exact expected text), and on
//! trafilatura's evaluation pages (`../shared/data/html-extraction`), where a drop of the score
//! below the floor fails.

mod common;

use std::sync::Arc;

use corpusforge::document::Document;
use corpusforge::stage::{Counters, Filter, Verdict};
use corpusforge::stages::clean::extract::{Extract, ExtractConfig};
use corpusforge::stages::clean::extract_score::{read_eval, SnippetCounts};

const P1: &str = "The river rose through the night and by morning the lower town was under a \
                  metre of brown water, the third flood this decade, residents said on Tuesday.";
const P2: &str = "Engineers had warned for years that the levee, built in 1962, could not hold a \
                  storm of this size, and the council had twice postponed the repairs it needed.";
const P3: &str = "Volunteers filled sandbags at the school until midnight, while the fire brigade \
                  moved elderly residents from the houses nearest the bank to the sports hall.";

fn page(body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>  River   floods \
         town | Example News </title><script>var x = '<p>not text</p>';</script><style>p {{ color: red }}</style></head>\
         <body>{body}</body></html>"
    )
}

fn site(article: &str) -> String {
    page(&format!(
        "<header class=\"site-header\"><div class=\"logo\">Example News</div>\
         <nav class=\"main-menu\"><ul><li><a href=\"/\">Home</a></li><li><a href=\"/world\">World</a></li>\
         <li><a href=\"/sport\">Sport</a></li><li><a href=\"/about\">About us</a></li></ul></nav></header>\
         <div class=\"breadcrumb\"><a href=\"/\">Home</a> &gt; <a href=\"/local\">Local</a></div>\
         <main>{article}</main>\
         <aside class=\"sidebar\"><h3>Most read</h3><ul><li><a href=\"/a\">Mayor resigns after scandal</a></li>\
         <li><a href=\"/b\">Train fares to rise in spring</a></li></ul></aside>\
         <div class=\"share-buttons\"><a href=\"#\">Share on Facebook</a> <a href=\"#\">Tweet</a></div>\
         <div id=\"cookie-banner\">We use cookies to improve your experience. <button>Accept</button></div>\
         <footer><p>© 2024 Example News Ltd. All rights reserved.</p><a href=\"/privacy\">Privacy</a></footer>"
    ))
}

fn run(cfg: ExtractConfig, html: &str) -> (Verdict, Document, Counters) {
    let stage = Extract::new(cfg);
    let mut d = Document::new("d", html, Arc::from("test"));
    let mut c = Counters::default();
    let v = stage.check(&mut d, &mut c);
    (v, d, c)
}

fn text(html: &str) -> String {
    let (v, d, _) = run(ExtractConfig::default(), html);
    assert_eq!(v, Verdict::Keep, "dropped: {html}");
    d.text
}

#[test]
fn the_article_is_kept_and_navigation_footer_sidebar_share_and_cookie_banner_are_dropped() {
    let html = site(&format!(
        "<article><h1>River floods town</h1><p>{P1}</p><p>{P2}</p><p>{P3}</p></article>"
    ));
    let (v, d, c) = run(ExtractConfig::default(), &html);
    assert_eq!(v, Verdict::Keep);
    // The page's own title heading is metadata, as in trafilatura.
    assert_eq!(d.text, format!("{P1}\n{P2}\n{P3}"));
    let meta = d.metadata.unwrap();
    assert_eq!(meta["title"], "River floods town | Example News");
    assert_eq!(meta["html_lang"], "en-GB");
    assert_eq!(c.0.get("html"), Some(&1));
    assert_eq!(c.0.get("with_title"), Some(&1));
}

#[test]
fn keep_title_puts_the_title_first() {
    let html = site(&format!("<article><p>{P1}</p><p>{P2}</p></article>"));
    let (_, d, _) = run(
        ExtractConfig {
            keep_title: true,
            ..ExtractConfig::default()
        },
        &html,
    );
    assert_eq!(
        d.text,
        format!("River floods town | Example News\n{P1}\n{P2}")
    );
}

#[test]
fn lists_and_tables_inside_the_article_are_text_and_tables_can_be_left_out() {
    let html = site(&format!(
        "<article><p>{P1}</p><ul><li>Three schools are closed until Friday.</li>\
         <li>The ring road is open again.</li></ul><p>{P2}</p>\
         <table><tr><th>District</th><th>Homes flooded</th></tr>\
         <tr><td>Lower town</td><td>412</td></tr><tr><td>Mill quarter</td><td>97</td></tr></table>\
         <p>{P3}</p></article>"
    ));
    assert_eq!(
        text(&html),
        format!(
            "{P1}\nThree schools are closed until Friday.\nThe ring road is open again.\n{P2}\n\
             District | Homes flooded\nLower town | 412\nMill quarter | 97\n{P3}"
        )
    );
    let (_, d, _) = run(
        ExtractConfig {
            include_tables: false,
            ..ExtractConfig::default()
        },
        &html,
    );
    assert_eq!(
        d.text,
        format!(
            "{P1}\nThree schools are closed until Friday.\nThe ring road is open again.\n{P2}\n{P3}"
        )
    );
}

#[test]
fn pre_is_kept_verbatim_and_inline_elements_join_without_spaces() {
    let html = site(&format!(
        "<article><p>{P1}</p><pre>fn main() {{\n    println!(\"hi\");\n}}</pre>\
         <p>The <b>level</b> peaked at <em>4.2</em>m<br>at 6 a.m., <a href=\"/gauge\">the gauge</a> showed.</p>\
         <p>{P2}</p></article>"
    ));
    assert_eq!(
        text(&html),
        format!(
            "{P1}\nfn main() {{\n    println!(\"hi\");\n}}\nThe level peaked at 4.2m\nat 6 a.m., the gauge showed.\n{P2}"
        )
    );
}

#[test]
fn comments_are_dropped_unless_asked_for() {
    let comment = "I lived on Mill Street for twenty years and we never saw water like this, \
                   the council should have acted long ago instead of talking about it.";
    let html = site(&format!(
        "<article><p>{P1}</p><p>{P2}</p></article>\
         <section id=\"comments\" class=\"comments\"><h3>3 comments</h3>\
         <div class=\"comment\"><span class=\"author\">Ann</span><p>{comment}</p></div></section>"
    ));
    assert_eq!(text(&html), format!("{P1}\n{P2}"));
    let (_, d, _) = run(
        ExtractConfig {
            include_comments: true,
            ..ExtractConfig::default()
        },
        &html,
    );
    assert!(d.text.starts_with(&format!("{P1}\n{P2}\n")), "{}", d.text);
    assert!(d.text.ends_with(comment), "{}", d.text);
}

#[test]
fn a_nested_layout_table_gives_its_content_cell() {
    let html = page(&format!(
        "<table width=\"100%\"><tr><td class=\"menu\"><a href=\"/\">Home</a><br><a href=\"/news\">News</a>\
         <br><a href=\"/contact\">Contact</a></td><td><table><tr><td><h2>River floods town</h2>\
         <p>{P1}</p><p>{P2}</p></td></tr></table></td></tr></table>"
    ));
    assert_eq!(text(&html), format!("River floods town\n{P1}\n{P2}"));
}

#[test]
fn empty_and_boilerplate_only_pages_are_dropped_as_no_main_text() {
    for html in [
        String::from("<html><head><title>Nothing</title></head><body></body></html>"),
        site(""),
    ] {
        let (v, d, _) = run(ExtractConfig::default(), &html);
        assert_eq!(v, Verdict::Drop("no_main_text"), "kept {:?}", d.text);
        assert_eq!(d.text, "");
    }
    // A threshold over the main text's length drops short pages too.
    let html = site(&format!("<article><p>{P1}</p></article>"));
    let (v, _, _) = run(
        ExtractConfig {
            min_text_chars: 500,
            ..ExtractConfig::default()
        },
        &html,
    );
    assert_eq!(v, Verdict::Drop("no_main_text"));
}

#[test]
fn text_that_is_not_html_passes_unchanged() {
    let plain = "Use a <div> here, since 3 < 4 and nothing else is markup.";
    let (v, d, c) = run(ExtractConfig::default(), plain);
    assert_eq!((v, d.text.as_str()), (Verdict::Keep, plain));
    assert_eq!(c.0.get("not_html"), Some(&1));
}

#[test]
fn the_evaluation_pages_score_above_the_floor() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let path = data.join("html-extraction/trafilatura-eval.jsonl.gz");
    let stage = Extract::new(ExtractConfig {
        min_text_chars: 0,
        ..ExtractConfig::default()
    });
    let mut score = SnippetCounts::default();
    let mut pages = 0;
    for page in read_eval(&path).unwrap() {
        let mut d = Document::new(page.id, page.html, Arc::from("eval"));
        stage.check(&mut d, &mut Counters::default());
        score += SnippetCounts::of_page(&d.text, &page.with, &page.without);
        pages += 1;
    }
    let (p, r, f1) = score.scores();
    eprintln!("{pages} pages: precision {p:.3}, recall {r:.3}, F1 {f1:.3}");
    assert_eq!(pages, 949);
    assert!(
        f1 >= 0.945 && p >= 0.93 && r >= 0.93,
        "extraction regressed: precision {p:.3}, recall {r:.3}, F1 {f1:.3}"
    );
}
