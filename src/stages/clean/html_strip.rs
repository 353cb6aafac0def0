//! `html_strip`: the visible text of an HTML page, one block per line.
//!
//! A small tolerant scanner, not a full HTML5 parser: it walks the markup once, never builds
//! a tree, and never fails. What it does:
//! - removes comments, doctypes, processing instructions, and the content of `script`,
//!   `style`, `noscript`, `template`, `svg`, `iframe`, `object`, `canvas`, `select`,
//!   `textarea` and `title` (the title is kept as a line with `keep_title`); the rest of
//!   `head` (`meta`, `link`) has no text;
//! - decodes character references: the common named ones (`&amp;` `&nbsp;` `&mdash;`
//!   `&eacute;` ...), decimal and hexadecimal ones (`&#8212;` `&#x2014;`, with the Windows-1252
//!   reading of `&#128;`..`&#159;` that browsers apply); unknown ones stay as written;
//! - turns block elements (`p` `div` `br` `li` `h1`-`h6` `tr` `table` `section` `pre` ...)
//!   into line breaks and leaves inline elements (`a` `span` `em` `code` ...) as they are;
//!   table cells are separated by a space;
//! - collapses whitespace runs to one space outside `pre`, and keeps `pre` content verbatim.
//!
//! A document that does not look like HTML passes unchanged (see [`looks_like_html`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{Check, Problem};
use crate::document::Document;
use crate::stage::{Counters, Map};

fn yes() -> bool {
    true
}

/// Config of the `html_strip` stage. Counters: `html` (documents stripped), `not_html`
/// (documents passed unchanged).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HtmlStripConfig {
    /// Strip only documents that look like HTML (true) or every document (false).
    #[serde(default = "yes")]
    pub detect: bool,
    /// Separate paragraph-level blocks (`p`, headings, lists, tables, `pre`, sections) by a
    /// blank line instead of a single newline.
    #[serde(default)]
    pub paragraph_breaks: bool,
    /// Keep the text of `<title>` as a line of its own.
    #[serde(default)]
    pub keep_title: bool,
}

impl Default for HtmlStripConfig {
    fn default() -> Self {
        HtmlStripConfig {
            detect: true,
            paragraph_breaks: false,
            keep_title: false,
        }
    }
}

impl Check for HtmlStripConfig {
    fn check(&self) -> Vec<Problem> {
        Vec::new()
    }
}

/// The `html_strip` stage.
pub struct HtmlStrip {
    cfg: HtmlStripConfig,
}

impl HtmlStrip {
    /// An HTML stripper with `cfg`.
    pub fn new(cfg: HtmlStripConfig) -> Self {
        HtmlStrip { cfg }
    }
}

impl Map for HtmlStrip {
    fn apply(&self, doc: &mut Document, counters: &mut Counters) {
        if self.cfg.detect && !looks_like_html(&doc.text) {
            counters.add("not_html", 1);
            return;
        }
        counters.add("html", 1);
        doc.text = strip_html(&doc.text, &self.cfg);
    }
}

/// Elements whose tag name alone proves the text is HTML.
const DOCUMENT_TAGS: [&str; 3] = ["html", "head", "body"];

/// Common element names; three occurrences of these (start or end tags) make a document HTML.
const KNOWN_TAGS: [&str; 40] = [
    "p",
    "div",
    "br",
    "span",
    "a",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "td",
    "th",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "img",
    "script",
    "style",
    "meta",
    "link",
    "title",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "pre",
    "code",
    "em",
    "strong",
    "b",
    "i",
    "form",
    "input",
    "blockquote",
    "hr",
    "iframe",
];

/// Whether `text` looks like HTML: it has a doctype, an `<html>`, `<head>` or `<body>` tag, or
/// at least three tags of common elements (`<p>`, `</div>`, `<br/>`, `<a href=...>` ...).
/// Prose that mentions one or two tags (`use a <div> here`) is not HTML.
pub fn looks_like_html(text: &str) -> bool {
    let b = text.as_bytes();
    let mut known = 0;
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + off + 1;
        i = at;
        let rest = &b[at..];
        if rest.len() >= 8 && rest[..8].eq_ignore_ascii_case(b"!doctype") {
            return true;
        }
        let name_start = if rest.first() == Some(&b'/') { 1 } else { 0 };
        let name_len = rest[name_start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if name_len == 0 {
            continue;
        }
        let after = rest.get(name_start + name_len).copied();
        if !matches!(
            after,
            None | Some(b'>' | b'/' | b' ' | b'\t' | b'\n' | b'\r')
        ) {
            continue;
        }
        let name = &rest[name_start..name_start + name_len];
        if DOCUMENT_TAGS
            .iter()
            .any(|t| name.eq_ignore_ascii_case(t.as_bytes()))
        {
            return true;
        }
        if KNOWN_TAGS
            .iter()
            .any(|t| name.eq_ignore_ascii_case(t.as_bytes()))
        {
            known += 1;
            if known >= 3 {
                return true;
            }
        }
    }
    false
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Content removed, raw text (no markup inside): scanned to the matching end tag.
    RawSkip,
    /// Content removed, markup inside (nesting of the same element is tracked).
    Skip,
    /// Paragraph-level block.
    Para,
    /// Other block.
    Block,
    /// Line break.
    Br,
    /// Table cell: a space between cells.
    Cell,
    /// Preformatted.
    Pre,
    /// Title: raw text, kept or removed by config.
    Title,
    Inline,
}

fn kind(name: &str) -> Kind {
    match name {
        "script" | "style" | "textarea" | "xmp" | "noembed" | "noframes" | "iframe" => {
            Kind::RawSkip
        }
        "noscript" | "template" | "svg" | "math" | "object" | "canvas" | "select" => Kind::Skip,
        "title" => Kind::Title,
        "br" => Kind::Br,
        "td" | "th" => Kind::Cell,
        "pre" | "listing" | "plaintext" => Kind::Pre,
        "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "table" | "ul" | "ol"
        | "dl" | "section" | "article" | "header" | "footer" | "nav" | "aside" | "main"
        | "figure" | "form" | "hr" | "details" | "address" | "fieldset" => Kind::Para,
        "div" | "li" | "dt" | "dd" | "tr" | "thead" | "tbody" | "tfoot" | "caption" | "center"
        | "dialog" | "dir" | "figcaption" | "hgroup" | "legend" | "menu" | "option" | "summary"
        | "body" | "html" => Kind::Block,
        _ => Kind::Inline,
    }
}

/// Builds the text: whitespace collapsing, pending line breaks.
struct Out {
    s: String,
    /// Newlines owed before the next text (0, 1 or 2).
    pending: u8,
    space: bool,
    line_start: bool,
}

impl Out {
    fn brk(&mut self, n: u8) {
        self.pending = self.pending.max(n);
        self.space = false;
    }

    fn flush(&mut self) {
        if self.pending > 0 {
            if !self.s.is_empty() {
                let t = self.s.trim_end_matches([' ', '\t']).len();
                self.s.truncate(t);
                for _ in 0..self.pending {
                    self.s.push('\n');
                }
                self.line_start = true;
            }
            self.pending = 0;
            self.space = false;
        }
    }

    fn push_char(&mut self, c: char, pre: bool) {
        if pre {
            self.flush();
            self.s.push(c);
            self.line_start = c == '\n';
            return;
        }
        if matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c') {
            if !self.line_start {
                self.space = true;
            }
            return;
        }
        self.flush();
        if self.space && !self.line_start {
            self.s.push(' ');
        }
        self.space = false;
        self.line_start = false;
        self.s.push(c);
    }

    /// Appends a text segment, decoding character references.
    fn text(&mut self, t: &str, pre: bool) {
        let mut rest = t;
        while let Some(i) = rest.find('&') {
            for c in rest[..i].chars() {
                self.push_char(c, pre);
            }
            let after = &rest[i + 1..];
            match decode_entity(after) {
                Some((c, used)) => {
                    for ch in c.chars() {
                        self.push_char(ch, pre);
                    }
                    rest = &after[used..];
                }
                None => {
                    self.push_char('&', pre);
                    rest = after;
                }
            }
        }
        for c in rest.chars() {
            self.push_char(c, pre);
        }
    }
}

/// Finds `</name` (ASCII case-insensitive) in `b` from `from`; returns its index.
fn find_end_tag(b: &[u8], from: usize, name: &str) -> Option<usize> {
    let n = name.as_bytes();
    let mut i = from;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + off;
        if b.get(at + 1) == Some(&b'/')
            && b.len() >= at + 2 + n.len()
            && b[at + 2..at + 2 + n.len()].eq_ignore_ascii_case(n)
            && !b
                .get(at + 2 + n.len())
                .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// The end of the tag starting at `b[start] == '<'`: the index after its `>`, honouring quoted
/// attribute values. `None` when the text ends first.
fn tag_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    let mut last_non_space = 0u8;
    while i < b.len() {
        let c = b[i];
        match c {
            b'>' => return Some(i + 1),
            b'"' | b'\'' if last_non_space == b'=' => {
                let close = b[i + 1..].iter().position(|&q| q == c)?;
                i += close + 2;
                last_non_space = c;
                continue;
            }
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => last_non_space = c,
        }
        i += 1;
    }
    None
}

/// The visible text of `html`.
pub fn strip_html(html: &str, cfg: &HtmlStripConfig) -> String {
    let b = html.as_bytes();
    let mut out = Out {
        s: String::with_capacity(html.len() / 3),
        pending: 0,
        space: false,
        line_start: true,
    };
    let para: u8 = if cfg.paragraph_breaks { 2 } else { 1 };
    let mut pre_depth = 0usize;
    // (element, depth of nested same-name elements) whose content is being skipped.
    let mut skip: Option<(String, usize)> = None;
    let mut skip_pre_newline = false;
    let mut i = 0;
    let mut text_start = 0;
    let mut name_buf = String::new();
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        let is_end = rest.get(1) == Some(&b'/');
        let name_at = i + if is_end { 2 } else { 1 };
        let markup = rest.starts_with(b"<!") || rest.starts_with(b"<?");
        if !markup && !b.get(name_at).is_some_and(|c| c.is_ascii_alphabetic()) {
            // A lone '<' is text: it stays in the current text segment.
            i += 1;
            continue;
        }
        // Text before this tag.
        if skip.is_none() && text_start < i {
            let mut seg = &html[text_start..i];
            if skip_pre_newline {
                seg = seg.strip_prefix('\n').unwrap_or(seg);
            }
            out.text(seg, pre_depth > 0);
        }
        if text_start < i {
            skip_pre_newline = false;
        }
        if rest.starts_with(b"<!--") {
            let end = html[i + 4..].find("-->").map_or(b.len(), |e| i + 4 + e + 3);
            i = end;
            text_start = i;
            continue;
        }
        if markup {
            i = b[i..]
                .iter()
                .position(|&c| c == b'>')
                .map_or(b.len(), |e| i + e + 1);
            text_start = i;
            continue;
        }
        let name_len = b[name_at..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'-' || **c == b':')
            .count();
        name_buf.clear();
        name_buf.push_str(&html[name_at..name_at + name_len]);
        name_buf.make_ascii_lowercase();
        let Some(end) = tag_end(b, i) else {
            // Unterminated tag at the end of the text: drop it.
            i = b.len();
            text_start = i;
            break;
        };
        let self_closing = end >= 2 && b[end - 2] == b'/';
        i = end;
        text_start = i;
        let k = kind(&name_buf);

        if let Some((sname, depth)) = skip.as_mut() {
            if *sname == name_buf {
                if is_end {
                    *depth -= 1;
                    if *depth == 0 {
                        skip = None;
                    }
                } else if !self_closing {
                    *depth += 1;
                }
            } else if !is_end && (k == Kind::RawSkip || k == Kind::Title) {
                i = skip_raw(b, i, &name_buf);
                text_start = i;
            }
            continue;
        }
        match k {
            Kind::RawSkip if !is_end => {
                i = skip_raw(b, i, &name_buf);
                text_start = i;
            }
            Kind::Title if !is_end => {
                let close = find_end_tag(b, i, "title");
                if cfg.keep_title {
                    let content = &html[i..close.unwrap_or(b.len())];
                    out.brk(para);
                    out.text(content, false);
                    out.brk(para);
                }
                i = skip_raw(b, i, "title");
                text_start = i;
            }
            Kind::Skip if !is_end && !self_closing => skip = Some((name_buf.clone(), 1)),
            Kind::Para => out.brk(para),
            Kind::Block => out.brk(1),
            Kind::Br => out.brk(1),
            Kind::Cell if !out.line_start => out.space = true,
            Kind::Pre => {
                out.brk(para);
                if is_end {
                    pre_depth = pre_depth.saturating_sub(1);
                } else if !self_closing {
                    pre_depth += 1;
                    skip_pre_newline = true;
                }
            }
            _ => {}
        }
    }
    if skip.is_none() && text_start < b.len() {
        out.text(&html[text_start..], pre_depth > 0);
    }
    let t = out.s.trim_end().len();
    out.s.truncate(t);
    out.s
}

/// Skips the raw-text content of element `name` whose start tag ended at `from`; returns the
/// index after its end tag (or the end of the text).
fn skip_raw(b: &[u8], from: usize, name: &str) -> usize {
    match find_end_tag(b, from, name) {
        Some(at) => tag_end(b, at).unwrap_or(b.len()),
        None => b.len(),
    }
}

/// Decodes the character reference after an `&` at the start of `s`: the characters and the
/// bytes of `s` consumed (including a final `;`).
fn decode_entity(s: &str) -> Option<(String, usize)> {
    let b = s.as_bytes();
    if b.first() == Some(&b'#') {
        let (hex, start) = match b.get(1) {
            Some(b'x' | b'X') => (true, 2),
            _ => (false, 1),
        };
        let digits = b[start..]
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 {
            return None;
        }
        let num = &s[start..start + digits];
        let v = u32::from_str_radix(num, if hex { 16 } else { 10 }).unwrap_or(u32::MAX);
        let mut used = start + digits;
        if b.get(used) == Some(&b';') {
            used += 1;
        }
        return Some((numeric_char(v).to_string(), used));
    }
    let len = b.iter().take_while(|c| c.is_ascii_alphanumeric()).count();
    if len == 0 {
        return None;
    }
    let name = &s[..len];
    let has_semi = b.get(len) == Some(&b';');
    let v = named_entity(name)?;
    if has_semi {
        return Some((v.to_string(), len + 1));
    }
    // Browsers accept a few legacy names without ';' (not before '=' or alphanumerics).
    let legacy = matches!(name, "amp" | "lt" | "gt" | "quot" | "nbsp" | "copy" | "reg");
    if legacy && !matches!(b.get(len), Some(b'=')) {
        return Some((v.to_string(), len));
    }
    None
}

fn numeric_char(v: u32) -> char {
    const CP1252: [u32; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    let v = if (0x80..=0x9F).contains(&v) {
        CP1252[(v - 0x80) as usize]
    } else {
        v
    };
    if v == 0 {
        return '\u{fffd}';
    }
    char::from_u32(v).unwrap_or('\u{fffd}')
}

fn named_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "amp" | "AMP" => "&",
        "lt" | "LT" => "<",
        "gt" | "GT" => ">",
        "quot" | "QUOT" => "\"",
        "apos" => "'",
        "nbsp" => "\u{a0}",
        "ensp" => "\u{2002}",
        "emsp" => "\u{2003}",
        "thinsp" => "\u{2009}",
        "zwnj" => "\u{200c}",
        "zwj" => "\u{200d}",
        "lrm" => "\u{200e}",
        "rlm" => "\u{200f}",
        "shy" => "\u{ad}",
        "copy" | "COPY" => "©",
        "reg" | "REG" => "®",
        "trade" => "™",
        "hellip" => "…",
        "mdash" => "—",
        "ndash" => "–",
        "lsquo" => "‘",
        "rsquo" => "’",
        "sbquo" => "‚",
        "ldquo" => "“",
        "rdquo" => "”",
        "bdquo" => "„",
        "laquo" => "«",
        "raquo" => "»",
        "lsaquo" => "‹",
        "rsaquo" => "›",
        "bull" => "•",
        "middot" => "·",
        "deg" => "°",
        "plusmn" => "±",
        "times" => "×",
        "divide" => "÷",
        "minus" => "−",
        "para" => "¶",
        "sect" => "§",
        "cent" => "¢",
        "pound" => "£",
        "euro" => "€",
        "yen" => "¥",
        "curren" => "¤",
        "dagger" => "†",
        "Dagger" => "‡",
        "permil" => "‰",
        "prime" => "′",
        "Prime" => "″",
        "micro" => "µ",
        "iexcl" => "¡",
        "iquest" => "¿",
        "ordf" => "ª",
        "ordm" => "º",
        "not" => "¬",
        "macr" => "¯",
        "acute" => "´",
        "cedil" => "¸",
        "uml" => "¨",
        "sup1" => "¹",
        "sup2" => "²",
        "sup3" => "³",
        "frac14" => "¼",
        "frac12" => "½",
        "frac34" => "¾",
        "larr" => "←",
        "rarr" => "→",
        "uarr" => "↑",
        "darr" => "↓",
        "harr" => "↔",
        "lArr" => "⇐",
        "rArr" => "⇒",
        "hArr" => "⇔",
        "le" => "≤",
        "ge" => "≥",
        "ne" => "≠",
        "asymp" => "≈",
        "equiv" => "≡",
        "infin" => "∞",
        "sum" => "∑",
        "prod" => "∏",
        "radic" => "√",
        "part" => "∂",
        "nabla" => "∇",
        "isin" => "∈",
        "cap" => "∩",
        "cup" => "∪",
        "and" => "∧",
        "or" => "∨",
        "forall" => "∀",
        "exist" => "∃",
        "empty" => "∅",
        "loz" => "◊",
        "spades" => "♠",
        "clubs" => "♣",
        "hearts" => "♥",
        "diams" => "♦",
        "circ" => "ˆ",
        "tilde" => "˜",
        "oline" => "‾",
        "frasl" => "⁄",
        "brvbar" => "¦",
        "Agrave" => "À",
        "Aacute" => "Á",
        "Acirc" => "Â",
        "Atilde" => "Ã",
        "Auml" => "Ä",
        "Aring" => "Å",
        "AElig" => "Æ",
        "Ccedil" => "Ç",
        "Egrave" => "È",
        "Eacute" => "É",
        "Ecirc" => "Ê",
        "Euml" => "Ë",
        "Igrave" => "Ì",
        "Iacute" => "Í",
        "Icirc" => "Î",
        "Iuml" => "Ï",
        "ETH" => "Ð",
        "Ntilde" => "Ñ",
        "Ograve" => "Ò",
        "Oacute" => "Ó",
        "Ocirc" => "Ô",
        "Otilde" => "Õ",
        "Ouml" => "Ö",
        "Oslash" => "Ø",
        "Ugrave" => "Ù",
        "Uacute" => "Ú",
        "Ucirc" => "Û",
        "Uuml" => "Ü",
        "Yacute" => "Ý",
        "THORN" => "Þ",
        "szlig" => "ß",
        "agrave" => "à",
        "aacute" => "á",
        "acirc" => "â",
        "atilde" => "ã",
        "auml" => "ä",
        "aring" => "å",
        "aelig" => "æ",
        "ccedil" => "ç",
        "egrave" => "è",
        "eacute" => "é",
        "ecirc" => "ê",
        "euml" => "ë",
        "igrave" => "ì",
        "iacute" => "í",
        "icirc" => "î",
        "iuml" => "ï",
        "eth" => "ð",
        "ntilde" => "ñ",
        "ograve" => "ò",
        "oacute" => "ó",
        "ocirc" => "ô",
        "otilde" => "õ",
        "ouml" => "ö",
        "oslash" => "ø",
        "ugrave" => "ù",
        "uacute" => "ú",
        "ucirc" => "û",
        "uuml" => "ü",
        "yacute" => "ý",
        "thorn" => "þ",
        "yuml" => "ÿ",
        "OElig" => "Œ",
        "oelig" => "œ",
        "Scaron" => "Š",
        "scaron" => "š",
        "Yuml" => "Ÿ",
        "fnof" => "ƒ",
        "Alpha" => "Α",
        "Beta" => "Β",
        "Gamma" => "Γ",
        "Delta" => "Δ",
        "Theta" => "Θ",
        "Lambda" => "Λ",
        "Pi" => "Π",
        "Sigma" => "Σ",
        "Phi" => "Φ",
        "Psi" => "Ψ",
        "Omega" => "Ω",
        "alpha" => "α",
        "beta" => "β",
        "gamma" => "γ",
        "delta" => "δ",
        "epsilon" => "ε",
        "zeta" => "ζ",
        "eta" => "η",
        "theta" => "θ",
        "iota" => "ι",
        "kappa" => "κ",
        "lambda" => "λ",
        "mu" => "μ",
        "nu" => "ν",
        "xi" => "ξ",
        "omicron" => "ο",
        "pi" => "π",
        "rho" => "ρ",
        "sigma" => "σ",
        "sigmaf" => "ς",
        "tau" => "τ",
        "upsilon" => "υ",
        "phi" => "φ",
        "chi" => "χ",
        "psi" => "ψ",
        "omega" => "ω",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(h: &str) -> String {
        strip_html(h, &HtmlStripConfig::default())
    }

    #[test]
    fn blocks_become_lines_inline_does_not() {
        let h = "<html><body><h1>Title</h1><p>Hello <b>bold</b> <a href='x'>link</a>.</p>\
                 <div>one<br>two<br/>three</div><ul><li>a</li><li>b</li></ul></body></html>";
        assert_eq!(strip(h), "Title\nHello bold link.\none\ntwo\nthree\na\nb");
    }

    #[test]
    fn removed_content() {
        let h = "<!DOCTYPE html><html><head><title>T</title><meta charset=utf-8><style>p{x:1}</style>\
                 <script>if (a < b) { document.write('</p>') }</script></head><body><!-- hidden <p>x</p> -->\
                 <noscript><p>enable js</p></noscript><template><p>t</p></template>\
                 <svg><title>icon</title><path d='M0'/></svg><p>visible</p></body></html>";
        assert_eq!(strip(h), "visible");
        let kept = strip_html(
            h,
            &HtmlStripConfig {
                keep_title: true,
                ..Default::default()
            },
        );
        assert_eq!(kept, "T\nvisible");
    }

    #[test]
    fn entities() {
        let h = "<p>a &amp; b &lt;c&gt; &quot;d&quot; &#8212; &#x2014; &mdash; caf&eacute; &#146; &bogus; AT&T &copy 2024</p>";
        assert_eq!(strip(h), "a & b <c> \"d\" — — — café ’ &bogus; AT&T © 2024");
        assert_eq!(
            strip("<p>x&nbsp;y &#0; &#xD800;</p>"),
            "x\u{a0}y \u{fffd} \u{fffd}"
        );
    }

    #[test]
    fn whitespace_and_pre() {
        let h = "<body><p>  lots   of\n\n   space  </p><pre>\n  keep\n    this  </pre><p>after</p></body>";
        assert_eq!(strip(h), "lots of space\n  keep\n    this\nafter");
        let h = "<body><pre><span>x</span> = <b>1</b>\ny = 2</pre></body>";
        assert_eq!(strip(h), "x = 1\ny = 2");
    }

    #[test]
    fn paragraph_breaks_option() {
        let cfg = HtmlStripConfig {
            paragraph_breaks: true,
            ..Default::default()
        };
        assert_eq!(
            strip_html("<body><p>a</p><p>b</p><div>c</div>d</body>", &cfg),
            "a\n\nb\n\nc\nd"
        );
    }

    #[test]
    fn tables_and_attributes() {
        let h = "<body><table><tr><td>a</td><td>b</td></tr><tr><th>c</th><td>d</td></tr></table>\
                 <p title=\"x > y\" data-a='1'>ok</p></body>";
        assert_eq!(strip(h), "a b\nc d\nok");
    }

    #[test]
    fn tolerant_of_broken_markup() {
        // "c<d" opens an element named "d", as in browsers.
        assert_eq!(
            strip("<body><p>a < b and c<d</p><p>unclosed <b>bold"),
            "a < b and c\nunclosed bold"
        );
        assert_eq!(strip("<html><body><p>x</p><div class=\"never closed"), "x");
        assert_eq!(
            strip("<html><head><title>t</title><body><p>no head end</p>"),
            "no head end"
        );
        assert_eq!(strip("<html><body>a<!-- never closed"), "a");
    }

    #[test]
    fn detection() {
        assert!(looks_like_html("<!doctype html><p>x"));
        assert!(looks_like_html("<HTML>"));
        assert!(looks_like_html("<p>a</p><br>"));
        assert!(!looks_like_html(
            "use a <div> element for that, or a <span>."
        ));
        assert!(!looks_like_html("if a < b and c > d then x<y"));
        assert!(!looks_like_html("plain text"));
        let mut doc = Document::new("d", "a <div> b", std::sync::Arc::from("t"));
        let mut c = Counters::default();
        HtmlStrip::new(HtmlStripConfig::default()).apply(&mut doc, &mut c);
        assert_eq!(doc.text, "a <div> b");
        assert_eq!(c.0["not_html"], 1);
    }
}
