//! What an element's tag and attributes say about its role on the page.
//!
//! Tags fall into a few layout kinds (block, inline, line break, dropped...). Class, id, role
//! and itemprop values are split into lower-case word tokens (`postShareBar` and
//! `post-share_bar` both give `post share bar`) and matched against vocabularies of
//! boilerplate and content words; a token counts when it equals a word or, for distinctive
//! words, when it starts or ends with one (`topnav`, `navbar`, `mainmenu`).

use std::collections::HashMap;

use html5ever::local_name;

use super::dom::Element;

/// How an element takes part in the text layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Never visible text (scripts, media, form controls, the head).
    Drop,
    /// Starts and ends a block of text.
    Block,
    /// Text flows through it without a break.
    Inline,
    /// A hyperlink: inline, and its text counts as link text.
    Link,
    /// A forced line break.
    Br,
    /// A heading (`h1`..`h6`).
    Heading,
    /// Preformatted text, kept verbatim.
    Pre,
    /// A list item or definition term/description.
    Item,
    /// A table.
    Table,
    /// A table row.
    Row,
    /// A table cell.
    Cell,
}

/// The layout kind of `el`.
pub fn kind(el: &Element) -> Kind {
    let n = &el.name.local;
    if el.name.ns != html5ever::ns!(html) {
        // svg and math subtrees hold drawing instructions, not prose.
        return Kind::Drop;
    }
    match *n {
        local_name!("a") => {
            if el.attr("href").is_some() {
                Kind::Link
            } else {
                Kind::Inline
            }
        }
        local_name!("span")
        | local_name!("b")
        | local_name!("i")
        | local_name!("em")
        | local_name!("strong")
        | local_name!("u")
        | local_name!("s")
        | local_name!("small")
        | local_name!("big")
        | local_name!("font")
        | local_name!("abbr")
        | local_name!("acronym")
        | local_name!("cite")
        | local_name!("code")
        | local_name!("kbd")
        | local_name!("samp")
        | local_name!("tt")
        | local_name!("var")
        | local_name!("sub")
        | local_name!("sup")
        | local_name!("mark")
        | local_name!("q")
        | local_name!("dfn")
        | local_name!("time")
        | local_name!("data")
        | local_name!("del")
        | local_name!("ins")
        | local_name!("strike")
        | local_name!("bdi")
        | local_name!("bdo")
        | local_name!("nobr")
        | local_name!("wbr")
        | local_name!("ruby")
        | local_name!("rb")
        | local_name!("label")
        | local_name!("blink")
        | local_name!("marquee")
        | local_name!("output") => Kind::Inline,
        local_name!("br") => Kind::Br,
        local_name!("h1")
        | local_name!("h2")
        | local_name!("h3")
        | local_name!("h4")
        | local_name!("h5")
        | local_name!("h6") => Kind::Heading,
        local_name!("pre")
        | local_name!("xmp")
        | local_name!("listing")
        | local_name!("plaintext") => Kind::Pre,
        local_name!("li") | local_name!("dt") | local_name!("dd") => Kind::Item,
        local_name!("table") => Kind::Table,
        local_name!("tr") => Kind::Row,
        local_name!("td") | local_name!("th") => Kind::Cell,
        local_name!("script")
        | local_name!("style")
        | local_name!("noscript")
        | local_name!("template")
        | local_name!("svg")
        | local_name!("math")
        | local_name!("iframe")
        | local_name!("frame")
        | local_name!("frameset")
        | local_name!("noframes")
        | local_name!("head")
        | local_name!("title")
        | local_name!("meta")
        | local_name!("link")
        | local_name!("base")
        | local_name!("object")
        | local_name!("embed")
        | local_name!("applet")
        | local_name!("param")
        | local_name!("canvas")
        | local_name!("video")
        | local_name!("audio")
        | local_name!("source")
        | local_name!("track")
        | local_name!("picture")
        | local_name!("img")
        | local_name!("map")
        | local_name!("area")
        | local_name!("select")
        | local_name!("option")
        | local_name!("optgroup")
        | local_name!("datalist")
        | local_name!("textarea")
        | local_name!("input")
        | local_name!("button")
        | local_name!("noembed")
        | local_name!("rp")
        | local_name!("rt")
        | local_name!("dialog") => Kind::Drop,
        _ => Kind::Block,
    }
}

/// Boilerplate categories that a tag name alone implies.
pub fn tag_neg(el: &Element) -> u32 {
    match el.name.local {
        local_name!("nav") | local_name!("menu") => neg::NAV,
        local_name!("footer") => neg::FOOTER,
        local_name!("header") => neg::HEADER,
        local_name!("aside") => neg::SIDEBAR,
        local_name!("form") | local_name!("fieldset") => neg::WIDGET,
        local_name!("figcaption") => neg::CAPTION,
        _ => 0,
    }
}

/// Whether the tag itself marks main content.
pub fn tag_pos(el: &Element) -> bool {
    matches!(el.name.local, local_name!("article") | local_name!("main"))
}

/// Boilerplate categories, as bits.
pub mod neg {
    /// Navigation, menus, breadcrumbs, skip links, pagination.
    pub const NAV: u32 = 1;
    /// Page footer, copyright.
    pub const FOOTER: u32 = 1 << 1;
    /// Page header, masthead.
    pub const HEADER: u32 = 1 << 2;
    /// Sidebars, widgets, rails.
    pub const SIDEBAR: u32 = 1 << 3;
    /// User comments.
    pub const COMMENT: u32 = 1 << 4;
    /// Share and social buttons.
    pub const SHARE: u32 = 1 << 5;
    /// Related, recommended, popular teasers.
    pub const RELATED: u32 = 1 << 6;
    /// Advertising, sponsored, promotion.
    pub const AD: u32 = 1 << 7;
    /// Cookie and consent banners.
    pub const COOKIE: u32 = 1 << 8;
    /// Newsletter, subscription, paywall boxes.
    pub const SUBSCRIBE: u32 = 1 << 9;
    /// Dates, bylines, author boxes, tags, categories.
    pub const META: u32 = 1 << 10;
    /// Login, search, account.
    pub const FORM: u32 = 1 << 11;
    /// Popups, modals, overlays.
    pub const POPUP: u32 = 1 << 12;
    /// Visually hidden text.
    pub const HIDDEN: u32 = 1 << 13;
    /// Toolbars, buttons, icons, print links.
    pub const TOOLS: u32 = 1 << 14;
    /// Figure captions and photo credits.
    pub const CAPTION: u32 = 1 << 15;
    /// Generic widget wrappers: page builders wrap content in them too, so only a weak hint.
    pub const WIDGET: u32 = 1 << 16;
    /// A form with fields to fill in (a sign-up, contact or order form): its labels and
    /// explanations are no article, however long. Some sites wrap the whole page in one
    /// `<form>`, so only a form that leaves most of the page outside it is removed.
    pub const FILL: u32 = 1 << 17;
}

/// Whether `el` is a field a visitor types into or ticks (not a hidden value or a button).
pub fn is_fillable(el: &Element) -> bool {
    match el.name.local {
        local_name!("textarea") | local_name!("select") => true,
        local_name!("input") => !el.attr("type").is_some_and(|t| {
            ["hidden", "submit", "button", "image", "reset"]
                .iter()
                .any(|k| t.trim().eq_ignore_ascii_case(k))
        }),
        _ => false,
    }
}

/// What the attributes of one element hint at.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// Boilerplate categories ([`neg`] bits).
    pub neg: u32,
    /// Whether a token names main content (article, post body, entry content...).
    pub pos: bool,
}

/// How a vocabulary word matches a token.
#[derive(Clone, Copy)]
enum M {
    /// The token is the word.
    Eq,
    /// The token starts with the word.
    Pre,
    /// The token starts or ends with the word.
    Edge,
    /// The token contains the word.
    Sub,
}

const NEG_WORDS: &[(&str, M, u32)] = {
    use neg::*;
    &[
        ("nav", M::Edge, NAV),
        ("navi", M::Pre, NAV),
        ("menu", M::Sub, NAV),
        ("breadcrumb", M::Sub, NAV),
        ("breadcrumbs", M::Sub, NAV),
        ("crumbs", M::Edge, NAV),
        ("skip", M::Pre, NAV),
        ("pagination", M::Sub, NAV),
        ("pager", M::Edge, NAV),
        ("paging", M::Eq, NAV),
        ("pagenav", M::Sub, NAV),
        ("topbar", M::Eq, NAV),
        ("toc", M::Eq, NAV),
        ("jump", M::Eq, NAV),
        ("footer", M::Sub, FOOTER),
        ("foot", M::Eq, FOOTER),
        ("copyright", M::Sub, FOOTER),
        ("colophon", M::Eq, FOOTER),
        ("disclaimer", M::Sub, FOOTER),
        ("license", M::Edge, FOOTER),
        ("licence", M::Edge, FOOTER),
        ("masthead", M::Sub, HEADER),
        ("header", M::Edge, HEADER),
        ("sidebar", M::Sub, SIDEBAR),
        ("aside", M::Eq, SIDEBAR),
        ("rail", M::Eq, SIDEBAR),
        ("widget", M::Sub, WIDGET),
        ("sidebox", M::Sub, SIDEBAR),
        ("comment", M::Pre, COMMENT),
        ("comments", M::Edge, COMMENT),
        ("commentlist", M::Sub, COMMENT),
        ("disqus", M::Sub, COMMENT),
        ("respond", M::Eq, COMMENT),
        ("reply", M::Eq, COMMENT),
        ("replies", M::Eq, COMMENT),
        ("share", M::Edge, SHARE),
        ("sharing", M::Pre, SHARE),
        ("shariff", M::Pre, SHARE),
        ("social", M::Sub, SHARE),
        ("sociable", M::Sub, SHARE),
        ("addthis", M::Sub, SHARE),
        ("sharethis", M::Sub, SHARE),
        ("follow", M::Eq, SHARE),
        ("related", M::Sub, RELATED),
        ("relatedposts", M::Sub, RELATED),
        ("recommend", M::Pre, RELATED),
        ("recommended", M::Eq, RELATED),
        ("recommendations", M::Eq, RELATED),
        ("popular", M::Pre, RELATED),
        ("trending", M::Eq, RELATED),
        ("teaser", M::Sub, WIDGET),
        ("outbrain", M::Sub, RELATED),
        ("taboola", M::Sub, RELATED),
        ("suggested", M::Eq, RELATED),
        ("mostread", M::Eq, RELATED),
        ("latest", M::Eq, RELATED),
        ("ad", M::Eq, AD),
        ("ads", M::Eq, AD),
        ("adv", M::Eq, AD),
        ("advert", M::Pre, AD),
        ("adsense", M::Eq, AD),
        ("adslot", M::Pre, AD),
        ("adunit", M::Pre, AD),
        ("dfp", M::Eq, AD),
        ("sponsor", M::Pre, AD),
        ("sponsored", M::Eq, AD),
        // Not `Pre`: Drupal marks front-page articles `node--promoted`.
        ("promo", M::Eq, AD),
        ("promos", M::Eq, AD),
        ("promobox", M::Eq, AD),
        ("promotion", M::Eq, AD),
        ("promotions", M::Eq, AD),
        ("banner", M::Sub, AD),
        ("werbung", M::Sub, AD),
        ("affiliate", M::Sub, AD),
        ("disclosure", M::Sub, AD),
        ("anzeige", M::Eq, AD),
        ("cookie", M::Sub, COOKIE),
        ("cookies", M::Sub, COOKIE),
        ("consent", M::Sub, COOKIE),
        ("gdpr", M::Sub, COOKIE),
        ("newsletter", M::Sub, SUBSCRIBE),
        ("subscribe", M::Sub, SUBSCRIBE),
        ("subscription", M::Sub, SUBSCRIBE),
        ("signup", M::Eq, SUBSCRIBE),
        ("paywall", M::Sub, WIDGET),
        ("optin", M::Eq, SUBSCRIBE),
        ("meta", M::Sub, META),
        ("byline", M::Sub, META),
        ("author", M::Sub, META),
        ("authors", M::Eq, META),
        ("date", M::Eq, META),
        ("dateline", M::Eq, META),
        ("pubdate", M::Eq, META),
        ("postdate", M::Eq, META),
        ("datetime", M::Eq, META),
        ("timestamp", M::Eq, META),
        ("published", M::Eq, META),
        ("posted", M::Eq, META),
        ("tags", M::Eq, META),
        ("tag", M::Eq, META),
        ("taglist", M::Eq, META),
        ("tagcloud", M::Eq, META),
        ("keywords", M::Eq, META),
        ("categories", M::Eq, META),
        ("category", M::Eq, META),
        ("postinfo", M::Eq, META),
        ("rating", M::Eq, META),
        ("login", M::Eq, FORM),
        ("signin", M::Eq, FORM),
        ("search", M::Edge, FORM),
        ("searchform", M::Eq, FORM),
        ("account", M::Eq, FORM),
        ("popup", M::Sub, POPUP),
        ("modal", M::Pre, POPUP),
        ("dialog", M::Eq, POPUP),
        ("overlay", M::Eq, POPUP),
        ("notice", M::Edge, POPUP),
        ("lightbox", M::Sub, POPUP),
        ("offcanvas", M::Sub, POPUP),
        // Status messages of a web app (Bootstrap alerts and toasts, Rails flash messages).
        ("alert", M::Eq, POPUP),
        ("alerts", M::Eq, POPUP),
        ("toast", M::Eq, POPUP),
        ("snackbar", M::Sub, POPUP),
        ("flash", M::Eq, POPUP),
        ("noprint", M::Eq, HIDDEN),
        ("toolbar", M::Sub, TOOLS),
        ("tools", M::Eq, TOOLS),
        ("print", M::Eq, TOOLS),
        ("btn", M::Eq, TOOLS),
        ("button", M::Eq, TOOLS),
        ("buttons", M::Eq, TOOLS),
        ("caption", M::Sub, CAPTION),
        ("credit", M::Pre, CAPTION),
    ]
};

const POS_WORDS: &[(&str, M)] = &[
    ("content", M::Edge),
    ("article", M::Edge),
    ("post", M::Eq),
    ("entry", M::Eq),
    ("story", M::Edge),
    ("text", M::Edge),
    ("body", M::Edge),
    ("main", M::Edge),
    ("blog", M::Eq),
    ("prose", M::Eq),
    ("richtext", M::Eq),
    ("articlebody", M::Eq),
    ("fulltext", M::Eq),
];

fn matches(token: &str, word: &str, m: M) -> bool {
    match m {
        M::Eq => token == word,
        M::Pre => token.starts_with(word),
        M::Edge => token.starts_with(word) || token.ends_with(word),
        M::Sub => token.contains(word),
    }
}

/// Splits an attribute value into lower-case word tokens at punctuation and camelCase bumps.
fn tokens(value: &str, out: &mut Vec<String>) {
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in value.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
            cur.extend(c.to_lowercase());
        } else {
            prev_lower = false;
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
}

/// Whether a class is one of the common utility classes that hide an element on screen
/// (`field-label-hidden` or `hidden-xs` hide something else, or only on some screens).
fn is_hiding_class(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "hidden"
            | "hide"
            | "is-hidden"
            | "u-hidden"
            | "d-none"
            | "display-none"
            | "invisible"
            | "element-invisible"
            | "sr-only"
            | "visually-hidden"
            | "visuallyhidden"
            | "screen-reader-text"
            | "screen-reader-only"
            | "screenreader"
            | "show-for-sr"
            | "a11y-hidden"
            | "offscreen"
    )
}

/// Words that, after a taxonomy prefix, name a page part rather than a term.
const PART_WORDS: &[&str] = &[
    "list",
    "links",
    "cloud",
    "box",
    "bio",
    "info",
    "name",
    "wrap",
    "wrapper",
    "container",
    "area",
    "block",
    "title",
    "meta",
    "widget",
    "item",
    "items",
    "label",
    "line",
    "section",
    "avatar",
    "image",
    "description",
    "details",
    "data",
    "header",
    "footer",
    "bar",
    "nav",
];

/// Whether a class names a taxonomy term of the page rather than a page part: blog engines
/// put `tag-politics category-news author-jane format-standard` on the article itself.
fn is_taxonomy_class(name: &str) -> bool {
    let Some((prefix, rest)) = name.split_once(['-', '_']) else {
        return false;
    };
    let prefix = prefix.to_ascii_lowercase();
    if !matches!(
        prefix.as_str(),
        "tag"
            | "category"
            | "cat"
            | "format"
            | "author"
            | "status"
            | "type"
            | "postid"
            | "term"
            | "topic"
            | "product"
            | "pa"
            | "has"
            | "no"
            | "with"
            | "without"
    ) {
        return false;
    }
    let rest = rest.to_ascii_lowercase();
    !rest.split(['-', '_']).any(|w| PART_WORDS.contains(&w))
}

/// Whether a class comes from a page builder's own vocabulary (Elementor, Divi, WPBakery,
/// Beaver Builder, Gutenberg, Squarespace), where "widget" and "module" name every element.
fn is_builder_class(name: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "elementor",
        "et_pb",
        "vc_",
        "wpb_",
        "fl-",
        "wp-block",
        "sqs-",
    ];
    let n = name.to_ascii_lowercase();
    PREFIXES.iter().any(|p| n.starts_with(p))
}

/// Joins hyphenated compounds back (`side-bar` -> `sidebar`) so both spellings match.
fn joined_pairs(toks: &[String], out: &mut Vec<String>) {
    for w in toks.windows(2) {
        out.push(format!("{}{}", w[0], w[1]));
    }
}

/// Reads element hints, remembering the verdict for each distinct class and id value: pages
/// repeat the same class strings hundreds of times.
#[derive(Debug, Default)]
pub struct HintReader {
    classes: HashMap<String, Hints>,
    ids: HashMap<String, Hints>,
    tokens: HashMap<String, Hints>,
    scratch: Vec<String>,
}

impl HintReader {
    /// The hints of one element's class, id, role and itemprop.
    pub fn read(&mut self, el: &Element) -> Hints {
        let mut h = Hints::default();
        for a in &el.attrs {
            if !a.name.ns.is_empty() {
                continue;
            }
            let w = match a.name.local {
                // A dotted id is an anchor named after code (`msilib.Dialog.line` in API
                // docs), not a part of the layout.
                local_name!("id") if a.value.contains('.') => continue,
                local_name!("id") => cached(
                    &mut self.ids,
                    &mut self.scratch,
                    &mut self.tokens,
                    &a.value,
                    false,
                ),
                local_name!("class") => cached(
                    &mut self.classes,
                    &mut self.scratch,
                    &mut self.tokens,
                    &a.value,
                    true,
                ),
                local_name!("role") => role_hints(&a.value),
                local_name!("itemprop") => itemprop_hints(&a.value),
                _ => continue,
            };
            h.neg |= w.neg;
            h.pos |= w.pos;
        }
        h
    }
}

fn cached(
    cache: &mut HashMap<String, Hints>,
    scratch: &mut Vec<String>,
    known: &mut HashMap<String, Hints>,
    value: &str,
    class: bool,
) -> Hints {
    if let Some(h) = cache.get(value) {
        return *h;
    }
    let h = word_hints(value, class, scratch, known);
    cache.insert(value.to_string(), h);
    h
}

fn role_hints(value: &str) -> Hints {
    let mut h = Hints::default();
    match value.trim().to_ascii_lowercase().as_str() {
        "navigation" | "menu" | "menubar" | "tablist" => h.neg = neg::NAV,
        "banner" => h.neg = neg::HEADER,
        "contentinfo" => h.neg = neg::FOOTER,
        "complementary" => h.neg = neg::SIDEBAR,
        "search" => h.neg = neg::FORM,
        "dialog" | "alertdialog" | "tooltip" => h.neg = neg::POPUP,
        "main" | "article" => h.pos = true,
        _ => {}
    }
    h
}

fn itemprop_hints(value: &str) -> Hints {
    let mut h = Hints::default();
    let v = value.to_ascii_lowercase();
    if v.contains("articlebody") || v == "text" || v == "reviewbody" {
        h.pos = true;
    } else if v.contains("author") || v.contains("date") || v == "keywords" {
        h.neg = neg::META;
    }
    h
}

/// Distinct tokens remembered across pages before the memory is cleared.
const TOKEN_CACHE: usize = 100_000;

thread_local! {
    /// Token verdicts shared by all pages a thread reads: sites share their class vocabulary,
    /// and matching a token against every word is the costliest part of reading hints.
    static TOKENS: std::cell::RefCell<HashMap<String, Hints>> =
        std::cell::RefCell::new(HashMap::new());
}

/// The hints of one word token.
fn token_hints(t: &str) -> Hints {
    let mut h = Hints::default();
    for &(w, m, bit) in NEG_WORDS {
        if h.neg & bit == 0 && matches(t, w, m) {
            h.neg |= bit;
        }
    }
    h.pos = POS_WORDS.iter().any(|&(w, m)| matches(t, w, m));
    h
}

/// The hints of one class or id value; `known` remembers the hints of each token, which
/// recur across a page's many distinct class strings (`menu`, `item`, `post`).
fn word_hints(
    value: &str,
    class: bool,
    scratch: &mut Vec<String>,
    known: &mut HashMap<String, Hints>,
) -> Hints {
    let mut h = Hints::default();
    scratch.clear();
    if class {
        for name in value.split_ascii_whitespace() {
            if is_hiding_class(name) {
                h.neg |= neg::HIDDEN;
            } else if is_builder_class(name) {
                // Page builders call every element a widget, the article's paragraphs too;
                // their other words (`elementor-location-footer`) still count.
                tokens(&name.to_ascii_lowercase().replace("widget", " "), scratch);
            } else if !is_taxonomy_class(name) {
                tokens(name, scratch);
            }
        }
    } else {
        tokens(value, scratch);
    }
    if scratch.is_empty() {
        return h;
    }
    let n = scratch.len();
    if n > 1 && n < 12 {
        let base: Vec<String> = scratch.clone();
        joined_pairs(&base, scratch);
    }
    for t in scratch.iter() {
        if t.len() > 40 {
            continue;
        }
        let th = match known.get(t.as_str()) {
            Some(th) => *th,
            None => {
                let th = TOKENS.with(|cache| {
                    let mut cache = cache.borrow_mut();
                    if let Some(th) = cache.get(t.as_str()) {
                        return *th;
                    }
                    if cache.len() >= TOKEN_CACHE {
                        cache.clear();
                    }
                    let th = token_hints(t);
                    cache.insert(t.clone(), th);
                    th
                });
                known.insert(t.clone(), th);
                th
            }
        };
        h.neg |= th.neg;
        h.pos |= th.pos;
    }
    // "commentary" and "comment-count" links are not comment threads.
    if h.neg & neg::COMMENT != 0
        && scratch
            .iter()
            .any(|t| t.starts_with("commentary") || t == "count")
    {
        h.neg &= !neg::COMMENT;
    }
    h
}

/// Whether inline style or attributes hide the element from readers.
pub fn is_hidden(el: &Element) -> bool {
    for a in &el.attrs {
        if !a.name.ns.is_empty() {
            continue;
        }
        match a.name.local {
            local_name!("hidden") => return true,
            local_name!("aria-hidden") => {
                if a.value.trim().eq_ignore_ascii_case("true") {
                    return true;
                }
            }
            local_name!("style") => {
                let s: String = a
                    .value
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .flat_map(char::to_lowercase)
                    .collect();
                if s.contains("display:none") || s.contains("visibility:hidden") {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use html5ever::{ns, Attribute, QualName};

    fn el(tag: &str, attrs: &[(&str, &str)]) -> Element {
        Element {
            name: QualName::new(None, ns!(html), tag.into()),
            attrs: attrs
                .iter()
                .map(|(k, v)| Attribute {
                    name: QualName::new(None, ns!(), (*k).into()),
                    value: (*v).into(),
                })
                .collect(),
        }
    }

    fn h(class: &str) -> Hints {
        HintReader::default().read(&el("div", &[("class", class)]))
    }

    #[test]
    fn dotted_ids_are_code_anchors_and_status_classes_are_popups() {
        let id = |v: &str| HintReader::default().read(&el("dt", &[("id", v)]));
        assert_eq!(id("msilib.Dialog.line").neg, 0);
        assert_eq!(id("login-dialog").neg, neg::FORM | neg::POPUP);
        assert_eq!(h("alert alert-success").neg, neg::POPUP);
        assert_eq!(h("flash flash-error").neg, neg::POPUP);
    }

    #[test]
    fn tokens_split_camel_case_and_punctuation() {
        let mut v = Vec::new();
        tokens("postShareBar main-nav_top", &mut v);
        assert_eq!(v, ["post", "share", "bar", "main", "nav", "top"]);
    }

    #[test]
    fn boilerplate_words_match() {
        assert_eq!(h("topnav").neg, neg::NAV);
        assert_eq!(h("side-bar").neg, neg::SIDEBAR);
        assert_eq!(h("entry-meta").neg, neg::META);
        assert_eq!(h("ad").neg, neg::AD);
        assert_eq!(h("shadow header-like").neg, neg::HEADER);
        assert_eq!(h("download").neg, 0);
        assert_eq!(h("commentary").neg, 0);
        assert_eq!(h("post tag-politics category-news has-sidebar").neg, 0);
        assert_eq!(h("tag-list").neg, neg::META);
        assert_eq!(h("promo-box").neg, neg::AD);
        assert_eq!(h("node node--promoted").neg, 0);
        assert_eq!(h("affiliate-disclaimer").neg, neg::AD | neg::FOOTER);
        assert_eq!(h("cookie-notice").neg, neg::COOKIE | neg::POPUP);
        assert_eq!(h("elementor-widget-wrap").neg, 0);
        assert_eq!(h("elementor-location-footer").neg, neg::FOOTER);
        assert_eq!(h("textwidget").neg, neg::WIDGET);
    }

    #[test]
    fn content_words_match() {
        assert!(h("entry-content").pos);
        assert!(h("articleBody").pos);
        assert!(!h("wrapper").pos);
        let e = el("div", &[("itemprop", "articleBody")]);
        assert!(HintReader::default().read(&e).pos);
    }

    #[test]
    fn hidden_elements() {
        assert!(is_hidden(&el(
            "div",
            &[("style", "color:red; display: none")]
        )));
        assert!(is_hidden(&el("div", &[("hidden", "")])));
        assert!(is_hidden(&el("div", &[("aria-hidden", "true")])));
        assert!(!is_hidden(&el("div", &[("aria-hidden", "false")])));
    }

    #[test]
    fn tag_kinds() {
        assert_eq!(kind(&el("a", &[("href", "/x")])), Kind::Link);
        assert_eq!(kind(&el("a", &[])), Kind::Inline);
        assert_eq!(kind(&el("script", &[])), Kind::Drop);
        assert_eq!(kind(&el("custom-widget", &[])), Kind::Block);
    }
}
