//! Cuts a page into text blocks, the units that are scored and kept or dropped.
//!
//! One iterative walk over the tree (no recursion, so nesting depth cannot overflow the
//! stack) does three things: it marks every element with its layout kind and hints, it skips
//! subtrees that are never visible, and it cuts the visible text into blocks at block-level
//! boundaries. Inside a block, text is joined as a browser renders it: whitespace collapsed,
//! inline elements adding nothing, `<br>` a line break, `<pre>` verbatim. A data table gives
//! one block per row, cells separated by ` | `; a layout table is a plain container.

use html5ever::local_name;

use super::dom::{Data, Dom, Id, NONE};
use super::hints::{self, neg, Kind};

/// What kind of element a block comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Running text (paragraphs, divs, quotes...).
    Text,
    /// A heading.
    Heading,
    /// A list item or definition.
    Item,
    /// Preformatted text.
    Pre,
    /// A row of a data table.
    Row,
}

/// A run of text between block boundaries.
#[derive(Debug, Clone)]
pub struct Block {
    /// The innermost block-level element holding the text.
    pub owner: Id,
    /// The text, whitespace collapsed (verbatim in `pre`), no leading or trailing space.
    pub text: String,
    /// Length in characters, ideographs counted three times (they carry more per character).
    pub chars: u32,
    /// The part of `chars` inside links.
    pub link: u32,
    /// Sentence and clause punctuation marks.
    pub punct: u32,
    /// The kind of the owner.
    pub kind: BlockKind,
}

/// Per-element facts gathered by the walk.
#[derive(Debug, Clone, Copy)]
pub struct Info {
    /// Boilerplate hint bits of the element itself.
    pub neg: u32,
    /// Positive content hint of the element itself.
    pub pos: bool,
    /// Whether the element is visited (not dropped, not hidden, not inside such).
    pub live: bool,
    /// Index in [`Segmented::order`], for subtree interval tests.
    pub pre: u32,
    /// One past the last pre-order index of the subtree.
    pub end: u32,
}

impl Default for Info {
    fn default() -> Self {
        Info {
            neg: 0,
            pos: false,
            live: false,
            pre: u32::MAX,
            end: u32::MAX,
        }
    }
}

/// The result of cutting a page into blocks.
#[derive(Debug)]
pub struct Segmented {
    /// Blocks in document order.
    pub blocks: Vec<Block>,
    /// Visited elements in pre-order; the first is the root of the walk.
    pub order: Vec<Id>,
    /// Facts per node id.
    pub info: Vec<Info>,
}

/// Options of the cut that change what text exists at all.
#[derive(Debug, Clone, Copy)]
pub struct CutOptions {
    /// Keep data tables (as rows); otherwise they are dropped.
    pub tables: bool,
}

struct Frame {
    id: Id,
    next: Id,
    kind: Kind,
    /// A data-table row collecting its cells into one block.
    row: bool,
    /// Inside a data-table row (cells, and blocks within cells, do not cut).
    in_row: bool,
    /// Inside a data table (rows cut, nothing else does).
    data_table: bool,
}

struct Buf {
    text: String,
    chars: u32,
    link: u32,
    punct: u32,
    space: bool,
}

impl Buf {
    fn new() -> Buf {
        Buf {
            text: String::new(),
            chars: 0,
            link: 0,
            punct: 0,
            space: false,
        }
    }

    fn push_char(&mut self, c: char, in_link: bool) {
        let w = weight(c);
        self.chars += w;
        if in_link {
            self.link += w;
        }
        if is_punct(c) {
            self.punct += 1;
        }
        self.text.push(c);
    }

    /// Appends text, collapsing whitespace runs to one space.
    fn push_text(&mut self, s: &str, in_link: bool) {
        for c in s.chars() {
            if is_invisible(c) {
                continue;
            }
            if c.is_whitespace() {
                self.space = true;
            } else {
                if self.space && !self.text.is_empty() && !self.text.ends_with(['\n', ' ']) {
                    self.push_char(' ', false);
                }
                self.space = false;
                self.push_char(c, in_link);
            }
        }
    }

    /// Appends preformatted text verbatim.
    fn push_pre(&mut self, s: &str, in_link: bool) {
        if self.space && !self.text.is_empty() && !self.text.ends_with(['\n', ' ']) {
            self.push_char(' ', false);
        }
        self.space = false;
        for c in s.chars() {
            if c == '\r' || is_invisible(c) {
                continue;
            }
            self.push_char(c, in_link);
        }
    }

    fn push_break(&mut self) {
        while self.text.ends_with(' ') {
            self.text.pop();
            self.chars -= 1;
        }
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        self.space = false;
    }

    fn push_sep(&mut self, sep: &str) {
        if !self.text.is_empty() && !self.text.ends_with(sep) {
            while self.text.ends_with(' ') {
                self.text.pop();
                self.chars -= 1;
            }
            self.text.push_str(sep);
            self.chars += sep.chars().count() as u32;
        }
        self.space = false;
    }
}

/// Soft hyphens, zero-width spaces and byte-order marks: never rendered, and they split words.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{AD}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}')
}

/// Ideographic and syllabic scripts pack a word into one or two characters.
fn weight(c: char) -> u32 {
    let u = c as u32;
    if (0x2E80..=0x9FFF).contains(&u)
        || (0xAC00..=0xD7AF).contains(&u)
        || (0xF900..=0xFAFF).contains(&u)
    {
        3
    } else {
        1
    }
}

fn is_punct(c: char) -> bool {
    matches!(
        c,
        '.' | ',' | ';' | ':' | '!' | '?' | '。' | '，' | '、' | '；' | '！' | '？' | '،' | '।'
    )
}

/// Decides whether a table holds data (rows of short cells) rather than page layout.
fn is_data_table(dom: &Dom, table: Id) -> bool {
    if let Some(e) = dom.node(table).element() {
        if let Some(r) = e.attr("role") {
            if r.eq_ignore_ascii_case("presentation") || r.eq_ignore_ascii_case("none") {
                return false;
            }
        }
    }
    let mut rows = 0u32;
    let mut max_cols = 0u32;
    let mut cols = 0u32;
    let mut cells = 0u32;
    let mut blocky = 0u32;
    // Walk the table's own subtree, stopping at nested tables (which make it layout).
    let mut stack = vec![dom.node(table).first_child];
    let mut steps = 0u32;
    while let Some(top) = stack.last_mut() {
        let id = *top;
        if id == NONE {
            stack.pop();
            continue;
        }
        *top = dom.node(id).next;
        steps += 1;
        if steps > 20_000 {
            break;
        }
        let Some(el) = dom.node(id).element() else {
            continue;
        };
        match el.name.local {
            local_name!("table") => return false,
            local_name!("tr") => {
                rows += 1;
                max_cols = max_cols.max(cols);
                cols = 0;
            }
            local_name!("th") | local_name!("td") => {
                cols += 1;
                cells += 1;
            }
            local_name!("p")
            | local_name!("div")
            | local_name!("ul")
            | local_name!("ol")
            | local_name!("h1")
            | local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("blockquote")
            | local_name!("article")
            | local_name!("section") => blocky += 1,
            _ => {}
        }
        stack.push(dom.node(id).first_child);
    }
    max_cols = max_cols.max(cols);
    rows >= 1 && max_cols >= 2 && blocky * 2 <= cells
}

/// Weighted length from which a heading is read as a paragraph.
const LONG_HEADING: u32 = 100;

/// Cuts the page under `root` into blocks.
pub fn cut(dom: &Dom, root: Id, opts: CutOptions) -> Segmented {
    let mut info = vec![Info::default(); dom.nodes.len()];
    let mut order: Vec<Id> = Vec::with_capacity(dom.nodes.len() / 2);
    let mut blocks: Vec<Block> = Vec::new();
    let mut buf = Buf::new();
    let mut reader = hints::HintReader::default();
    // Open block-level elements: the last one owns the text being collected.
    let mut owners: Vec<(Id, BlockKind)> = Vec::new();
    let mut link_depth = 0u32;
    let mut pre_depth = 0u32;

    let flush = |buf: &mut Buf, owners: &[(Id, BlockKind)], blocks: &mut Vec<Block>| {
        while buf.text.ends_with(' ') || buf.text.ends_with('\n') {
            buf.text.pop();
            buf.chars = buf.chars.saturating_sub(1);
        }
        if !buf.text.is_empty() {
            let (owner, mut kind) = owners.last().copied().unwrap_or((root, BlockKind::Text));
            // Leads and standfirsts are often set in heading tags; that long, they are prose.
            if kind == BlockKind::Heading && buf.chars >= LONG_HEADING {
                kind = BlockKind::Text;
            }
            let link = buf.link.min(buf.chars);
            blocks.push(Block {
                owner,
                text: std::mem::take(&mut buf.text),
                chars: buf.chars,
                link,
                punct: buf.punct,
                kind,
            });
        }
        buf.text.clear();
        buf.chars = 0;
        buf.link = 0;
        buf.punct = 0;
        buf.space = false;
    };

    let mut stack: Vec<Frame> = Vec::new();
    let enter = |id: Id,
                 parent: Option<&Frame>,
                 info: &mut Vec<Info>,
                 order: &mut Vec<Id>,
                 reader: &mut hints::HintReader|
     -> Option<Frame> {
        let el = dom.node(id).element()?;
        let mut kind = hints::kind(el);
        if kind == Kind::Drop || hints::is_hidden(el) {
            return None;
        }
        let in_row = parent.is_some_and(|p| p.in_row || p.row);
        let in_data = parent.is_some_and(|p| p.data_table);
        let mut data_table = in_data;
        let mut row = false;
        match kind {
            Kind::Table => {
                data_table = is_data_table(dom, id);
                if data_table && !opts.tables {
                    return None;
                }
                if !data_table {
                    kind = Kind::Block;
                }
            }
            Kind::Row if in_data && !in_row => row = true,
            Kind::Row | Kind::Cell if !in_data => kind = Kind::Block,
            _ => {}
        }
        let h = reader.read(el);
        let i = &mut info[id as usize];
        i.neg = h.neg | hints::tag_neg(el);
        // A page has one `<main>`: its tag outweighs words in its class or id (`skip-main` is a
        // skip link's target), unless those hide it.
        if el.name.local == local_name!("main") {
            i.neg &= neg::HIDDEN;
        }
        i.pos = h.pos || hints::tag_pos(el);
        i.live = true;
        i.pre = order.len() as u32;
        order.push(id);
        Some(Frame {
            id,
            next: dom.node(id).first_child,
            kind,
            row,
            in_row,
            data_table,
        })
    };

    match enter(root, None, &mut info, &mut order, &mut reader) {
        Some(f) => {
            owners.push((root, BlockKind::Text));
            stack.push(f);
        }
        None => {
            return Segmented {
                blocks,
                order,
                info,
            }
        }
    }

    while let Some(top) = stack.last_mut() {
        let child = top.next;
        if child == NONE {
            let f = stack.pop().expect("non-empty stack");
            info[f.id as usize].end = order.len() as u32;
            let cuts = !f.in_row && cuts_block(f.kind);
            match f.kind {
                Kind::Link => link_depth = link_depth.saturating_sub(1),
                Kind::Pre => pre_depth = pre_depth.saturating_sub(1),
                _ => {}
            }
            if f.row || cuts {
                flush(&mut buf, &owners, &mut blocks);
                if owners.last().is_some_and(|o| o.0 == f.id) {
                    owners.pop();
                }
            }
            continue;
        }
        top.next = dom.node(child).next;
        match &dom.node(child).data {
            Data::Text(t) => {
                let in_link = link_depth > 0;
                if pre_depth > 0 {
                    buf.push_pre(t, in_link);
                } else {
                    buf.push_text(t, in_link);
                }
            }
            Data::Element(_) => {
                let parent = stack.last();
                let Some(f) = enter(child, parent, &mut info, &mut order, &mut reader) else {
                    continue;
                };
                match f.kind {
                    Kind::Br => {
                        if f.in_row {
                            buf.space = true;
                        } else {
                            buf.push_break();
                        }
                    }
                    Kind::Link => link_depth += 1,
                    Kind::Pre => pre_depth += 1,
                    Kind::Cell if f.in_row => buf.push_sep(" | "),
                    _ => {}
                }
                if f.row || (!f.in_row && cuts_block(f.kind)) {
                    flush(&mut buf, &owners, &mut blocks);
                    let bk = match f.kind {
                        Kind::Heading => BlockKind::Heading,
                        Kind::Item => BlockKind::Item,
                        Kind::Pre => BlockKind::Pre,
                        Kind::Row => BlockKind::Row,
                        _ => BlockKind::Text,
                    };
                    owners.push((f.id, bk));
                } else if f.in_row && f.kind != Kind::Cell && cuts_block(f.kind) {
                    buf.space = true;
                }
                if f.kind == Kind::Br {
                    info[f.id as usize].end = order.len() as u32;
                    continue;
                }
                stack.push(f);
            }
            _ => {}
        }
    }
    flush(&mut buf, &owners, &mut blocks);
    mark_fillable_forms(dom, &order, &mut info);
    Segmented {
        blocks,
        order,
        info,
    }
}

/// Fields a form needs before it reads as one to fill in: a search box has one, a shop's
/// order form around the product text a quantity and a variant or two.
const FORM_FIELDS: u32 = 4;

/// Marks every visited `<form>` with [`FORM_FIELDS`] or more fillable fields as [`neg::FILL`]. Forms do
/// not nest, so each node is scanned once at most.
fn mark_fillable_forms(dom: &Dom, order: &[Id], info: &mut [Info]) {
    for &id in order {
        if dom
            .node(id)
            .element()
            .is_none_or(|e| e.name.local != local_name!("form"))
        {
            continue;
        }
        let fields = dom
            .descendants(id)
            .filter(|&d| dom.node(d).element().is_some_and(hints::is_fillable))
            .take(FORM_FIELDS as usize)
            .count() as u32;
        if fields >= FORM_FIELDS {
            info[id as usize].neg |= neg::FILL;
        }
    }
}

fn cuts_block(k: Kind) -> bool {
    matches!(
        k,
        Kind::Block | Kind::Heading | Kind::Pre | Kind::Item | Kind::Table | Kind::Row | Kind::Cell
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(dom: &Dom) -> Id {
        let html = dom.child_named(0, &local_name!("html")).unwrap();
        dom.child_named(html, &local_name!("body")).unwrap()
    }

    fn texts(html: &str, tables: bool) -> Vec<String> {
        let dom = Dom::parse(html);
        let s = cut(&dom, body(&dom), CutOptions { tables });
        s.blocks.into_iter().map(|b| b.text).collect()
    }

    #[test]
    fn inline_elements_join_without_spaces() {
        assert_eq!(
            texts("<p><b>foo</b>bar and foo <a href=x>bar</a></p>", true),
            ["foobar and foo bar"]
        );
    }

    #[test]
    fn blocks_cut_at_block_elements_and_br_breaks_lines() {
        assert_eq!(
            texts("<div>one<p>two<br>three</p>four</div>", true),
            ["one", "two\nthree", "four"]
        );
    }

    #[test]
    fn pre_is_verbatim() {
        assert_eq!(
            texts("<pre>a  b\n  c</pre><p>x   y</p>", true),
            ["a  b\n  c", "x y"]
        );
    }

    #[test]
    fn data_table_rows_are_blocks() {
        let html =
            "<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td><p>b</p></td></tr></table>";
        assert_eq!(texts(html, true), ["k | v", "a | b"]);
        assert!(texts(html, false).is_empty());
    }

    #[test]
    fn layout_table_cells_are_containers() {
        let html = "<table><tr><td><table><tr><td>x</td><td>y</td></tr></table></td><td>z</td></tr></table>";
        assert_eq!(texts(html, false), ["z"]);
        assert_eq!(texts(html, true), ["x | y", "z"]);
    }

    #[test]
    fn hidden_and_script_are_skipped() {
        assert_eq!(
            texts(
                "<p>a<script>x</script><span hidden>h</span>b</p><style>p{}</style>",
                true
            ),
            ["ab"]
        );
    }

    #[test]
    fn link_chars_counted() {
        let dom = Dom::parse("<p>abcd <a href=x>efgh</a></p>");
        let s = cut(&dom, body(&dom), CutOptions { tables: true });
        assert_eq!((s.blocks[0].chars, s.blocks[0].link), (9, 4));
    }
}
