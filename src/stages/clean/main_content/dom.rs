//! A flat arena DOM filled by html5ever's tree builder.
//!
//! Nodes live in one `Vec` and link to each other by index, so building the tree costs one push
//! per node and walking it touches contiguous memory; no reference counting, no per-node heap
//! cell. The tree builder's operations that move nodes (adoption agency, foster parenting) are
//! plain relinks.

use std::borrow::Cow;
use std::cell::RefCell;

use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::{local_name, parse_document, Attribute, LocalName, ParseOpts, QualName};

/// Index of a node in [`Dom::nodes`].
pub type Id = u32;

/// The absent node (no parent, no sibling, no child).
pub const NONE: Id = u32::MAX;

/// The document node is always the first node.
pub const DOCUMENT: Id = 0;

/// What a node holds.
#[derive(Debug)]
pub enum Data {
    /// The document root.
    Document,
    /// An element with its (HTML) local name and attributes.
    Element(Box<Element>),
    /// A run of character data; adjacent runs are merged.
    Text(StrTendril),
    /// Comments, doctypes, processing instructions and template contents: never text.
    Other,
}

/// An element's name and attributes.
#[derive(Debug)]
pub struct Element {
    /// The qualified name, as the tree builder needs to see it back.
    pub name: QualName,
    /// Attributes in source order.
    pub attrs: Vec<Attribute>,
}

impl Element {
    /// The value of attribute `name` (no namespace), if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name.ns.is_empty() && &*a.name.local == name)
            .map(|a| &*a.value)
    }
}

/// One node of the arena with its links.
#[derive(Debug)]
pub struct Node {
    /// Parent node or [`NONE`].
    pub parent: Id,
    /// First child or [`NONE`].
    pub first_child: Id,
    /// Last child or [`NONE`].
    pub last_child: Id,
    /// Previous sibling or [`NONE`].
    pub prev: Id,
    /// Next sibling or [`NONE`].
    pub next: Id,
    /// Payload.
    pub data: Data,
}

impl Node {
    fn new(data: Data) -> Node {
        Node {
            parent: NONE,
            first_child: NONE,
            last_child: NONE,
            prev: NONE,
            next: NONE,
            data,
        }
    }

    /// The element payload, if this node is an element.
    pub fn element(&self) -> Option<&Element> {
        match &self.data {
            Data::Element(e) => Some(e),
            _ => None,
        }
    }

    /// The local name of an element, `None` for other nodes.
    pub fn tag(&self) -> Option<&LocalName> {
        self.element().map(|e| &e.name.local)
    }
}

/// Deepest nesting of container tags handed to the parser; real pages stay far below.
const MAX_DEPTH: usize = 1000;

/// Tags that nest without closing each other: an unclosed run of them is as deep as it is long.
fn is_nesting_tag(name: &[u8]) -> bool {
    const TAGS: [&[u8]; 18] = [
        b"div",
        b"span",
        b"section",
        b"article",
        b"main",
        b"aside",
        b"nav",
        b"header",
        b"footer",
        b"ul",
        b"ol",
        b"dl",
        b"blockquote",
        b"table",
        b"form",
        b"center",
        b"figure",
        b"details",
    ];
    TAGS.iter().any(|t| name.eq_ignore_ascii_case(t))
}

/// Drops the start and end tags of container elements nested deeper than `limit`.
///
/// The tree builder checks element scopes by walking the stack of open elements, so each tag
/// costs time linear in the nesting depth: 100,000 nested `<div>`s take minutes. Past the
/// limit the tags carry no layout that matters, so their text is kept and the tags are
/// removed. Scripts, styles and comments are skipped so that markup inside them is not
/// counted.
fn flatten_deep(html: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    let b = html.as_bytes();
    let mut depth = 0usize;
    let mut dropped = 0usize;
    let mut cuts: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        let at = i + off;
        i = at + 1;
        let rest = &b[i..];
        if rest.starts_with(b"!--") {
            i = find_ci(b, i + 3, b"-->").map_or(b.len(), |e| e + 3);
            continue;
        }
        let close = rest.first() == Some(&b'/');
        let start = i + usize::from(close);
        let len = b[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if len == 0 {
            continue;
        }
        let name = &b[start..start + len];
        let Some(gt) = b[start + len..].iter().position(|&c| c == b'>') else {
            break;
        };
        let end = start + len + gt + 1;
        if !close && (name.eq_ignore_ascii_case(b"script") || name.eq_ignore_ascii_case(b"style")) {
            let mut closing = Vec::with_capacity(len + 2);
            closing.extend_from_slice(b"</");
            closing.extend(name.iter().map(u8::to_ascii_lowercase));
            i = find_ci(b, end, &closing).unwrap_or(b.len());
            continue;
        }
        i = end;
        if !is_nesting_tag(name) {
            continue;
        }
        if close {
            if dropped > 0 {
                dropped -= 1;
                cuts.push((at, end));
            } else {
                depth = depth.saturating_sub(1);
            }
        } else if depth >= limit {
            dropped += 1;
            cuts.push((at, end));
        } else {
            depth += 1;
        }
    }
    if cuts.is_empty() {
        return std::borrow::Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len());
    let mut last = 0;
    for (s, e) in cuts {
        out.push_str(&html[last..s]);
        last = e;
    }
    out.push_str(&html[last..]);
    std::borrow::Cow::Owned(out)
}

/// The first position at or after `from` where `needle` (whose first byte is not a letter)
/// occurs, ignoring ASCII case.
fn find_ci(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while let Some(off) = hay.get(i..)?.iter().position(|&c| c == first) {
        let at = i + off;
        if hay
            .get(at..at + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
        {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// A parsed document.
#[derive(Debug)]
pub struct Dom {
    /// All nodes; index 0 is the document.
    pub nodes: Vec<Node>,
}

impl Dom {
    /// Parses `html` the way a browser would, repairing any markup.
    pub fn parse(html: &str) -> Dom {
        let html = flatten_deep(html, MAX_DEPTH);
        let sink = Sink {
            nodes: RefCell::new(Vec::with_capacity(html.len() / 40 + 16)),
        };
        sink.nodes.borrow_mut().push(Node::new(Data::Document));
        let parser = parse_document(sink, ParseOpts::default());
        parser.one(StrTendril::from_slice(&html))
    }

    /// The node with id `id`.
    #[inline]
    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id as usize]
    }

    /// Iterates over the children of `id`.
    pub fn children(&self, id: Id) -> Children<'_> {
        Children {
            dom: self,
            next: self.node(id).first_child,
        }
    }

    /// The first element child with local name `name`.
    pub fn child_named(&self, id: Id, name: &LocalName) -> Option<Id> {
        self.children(id)
            .find(|&c| self.node(c).tag().is_some_and(|t| t == name))
    }

    /// Pre-order ids of the subtree under `root` (including it), iteratively.
    pub fn descendants(&self, root: Id) -> Descendants<'_> {
        Descendants {
            dom: self,
            root,
            next: root,
        }
    }
}

/// Iterator over a node's children.
pub struct Children<'a> {
    dom: &'a Dom,
    next: Id,
}

impl Iterator for Children<'_> {
    type Item = Id;
    fn next(&mut self) -> Option<Id> {
        if self.next == NONE {
            return None;
        }
        let id = self.next;
        self.next = self.dom.node(id).next;
        Some(id)
    }
}

/// Pre-order iterator over a subtree.
pub struct Descendants<'a> {
    dom: &'a Dom,
    root: Id,
    next: Id,
}

impl Iterator for Descendants<'_> {
    type Item = Id;
    fn next(&mut self) -> Option<Id> {
        let id = self.next;
        if id == NONE {
            return None;
        }
        let n = self.dom.node(id);
        self.next = if n.first_child != NONE {
            n.first_child
        } else {
            let mut cur = id;
            loop {
                if cur == self.root {
                    break NONE;
                }
                let c = self.dom.node(cur);
                if c.next != NONE {
                    break c.next;
                }
                cur = c.parent;
                if cur == NONE {
                    break NONE;
                }
            }
        };
        Some(id)
    }
}

struct Sink {
    nodes: RefCell<Vec<Node>>,
}

impl Sink {
    fn push(&self, data: Data) -> Id {
        let mut nodes = self.nodes.borrow_mut();
        let id = nodes.len() as Id;
        nodes.push(Node::new(data));
        id
    }

    fn detach(nodes: &mut [Node], id: Id) {
        let (parent, prev, next) = {
            let n = &nodes[id as usize];
            (n.parent, n.prev, n.next)
        };
        if parent == NONE {
            return;
        }
        if prev != NONE {
            nodes[prev as usize].next = next;
        } else {
            nodes[parent as usize].first_child = next;
        }
        if next != NONE {
            nodes[next as usize].prev = prev;
        } else {
            nodes[parent as usize].last_child = prev;
        }
        let n = &mut nodes[id as usize];
        n.parent = NONE;
        n.prev = NONE;
        n.next = NONE;
    }

    fn append_id(nodes: &mut [Node], parent: Id, child: Id) {
        Self::detach(nodes, child);
        let last = nodes[parent as usize].last_child;
        {
            let c = &mut nodes[child as usize];
            c.parent = parent;
            c.prev = last;
            c.next = NONE;
        }
        if last != NONE {
            nodes[last as usize].next = child;
        } else {
            nodes[parent as usize].first_child = child;
        }
        nodes[parent as usize].last_child = child;
    }

    fn insert_before_id(nodes: &mut [Node], sibling: Id, child: Id) {
        Self::detach(nodes, child);
        let (parent, prev) = {
            let s = &nodes[sibling as usize];
            (s.parent, s.prev)
        };
        if parent == NONE {
            return;
        }
        {
            let c = &mut nodes[child as usize];
            c.parent = parent;
            c.prev = prev;
            c.next = sibling;
        }
        nodes[sibling as usize].prev = child;
        if prev != NONE {
            nodes[prev as usize].next = child;
        } else {
            nodes[parent as usize].first_child = child;
        }
    }

    /// Text content of script-like elements is never read, so it is not stored.
    fn discards_text(node: &Node) -> bool {
        matches!(node.tag(), Some(t) if *t == local_name!("script") || *t == local_name!("style"))
    }
}

impl TreeSink for Sink {
    type Handle = Id;
    type Output = Dom;
    type ElemName<'a> = ElemRef<'a>;

    fn finish(self) -> Dom {
        Dom {
            nodes: self.nodes.into_inner(),
        }
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> Id {
        DOCUMENT
    }

    fn elem_name<'a>(&'a self, target: &'a Id) -> ElemRef<'a> {
        let nodes = self.nodes.borrow();
        let name = match &nodes[*target as usize].data {
            Data::Element(e) => e.name.clone(),
            _ => QualName::new(None, html5ever::ns!(html), local_name!("")),
        };
        ElemRef {
            name,
            _life: std::marker::PhantomData,
        }
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> Id {
        let id = self.push(Data::Element(Box::new(Element { name, attrs })));
        if flags.template {
            // Template contents are a separate fragment; they are never visible text.
            self.push(Data::Other);
        }
        id
    }

    fn create_comment(&self, _text: StrTendril) -> Id {
        self.push(Data::Other)
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> Id {
        self.push(Data::Other)
    }

    fn append(&self, parent: &Id, child: NodeOrText<Id>) {
        let mut nodes = self.nodes.borrow_mut();
        match child {
            NodeOrText::AppendNode(c) => Self::append_id(&mut nodes, *parent, c),
            NodeOrText::AppendText(t) => {
                if Self::discards_text(&nodes[*parent as usize]) {
                    return;
                }
                let last = nodes[*parent as usize].last_child;
                if last != NONE {
                    if let Data::Text(ref mut s) = nodes[last as usize].data {
                        s.push_tendril(&t);
                        return;
                    }
                }
                let id = nodes.len() as Id;
                nodes.push(Node::new(Data::Text(t)));
                Self::append_id(&mut nodes, *parent, id);
            }
        }
    }

    fn append_based_on_parent_node(&self, element: &Id, prev_element: &Id, child: NodeOrText<Id>) {
        let has_parent = self.nodes.borrow()[*element as usize].parent != NONE;
        if has_parent {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(&self, _n: StrTendril, _p: StrTendril, _s: StrTendril) {}

    fn get_template_contents(&self, target: &Id) -> Id {
        *target + 1
    }

    fn same_node(&self, x: &Id, y: &Id) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &Id, new_node: NodeOrText<Id>) {
        let mut nodes = self.nodes.borrow_mut();
        match new_node {
            NodeOrText::AppendNode(c) => Self::insert_before_id(&mut nodes, *sibling, c),
            NodeOrText::AppendText(t) => {
                let (parent, prev) = {
                    let s = &nodes[*sibling as usize];
                    (s.parent, s.prev)
                };
                if parent == NONE || Self::discards_text(&nodes[parent as usize]) {
                    return;
                }
                if prev != NONE {
                    if let Data::Text(ref mut s) = nodes[prev as usize].data {
                        s.push_tendril(&t);
                        return;
                    }
                }
                let id = nodes.len() as Id;
                nodes.push(Node::new(Data::Text(t)));
                Self::insert_before_id(&mut nodes, *sibling, id);
            }
        }
    }

    fn add_attrs_if_missing(&self, target: &Id, attrs: Vec<Attribute>) {
        let mut nodes = self.nodes.borrow_mut();
        if let Data::Element(ref mut e) = nodes[*target as usize].data {
            for a in attrs {
                if !e.attrs.iter().any(|b| b.name == a.name) {
                    e.attrs.push(a);
                }
            }
        }
    }

    fn remove_from_parent(&self, target: &Id) {
        Self::detach(&mut self.nodes.borrow_mut(), *target);
    }

    fn reparent_children(&self, node: &Id, new_parent: &Id) {
        let mut nodes = self.nodes.borrow_mut();
        let mut c = nodes[*node as usize].first_child;
        while c != NONE {
            let next = nodes[c as usize].next;
            Self::append_id(&mut nodes, *new_parent, c);
            c = next;
        }
    }
}

/// An element name handed back to the tree builder.
#[derive(Debug)]
pub struct ElemRef<'a> {
    name: QualName,
    _life: std::marker::PhantomData<&'a ()>,
}

impl html5ever::tree_builder::ElemName for ElemRef<'_> {
    fn ns(&self) -> &html5ever::Namespace {
        &self.name.ns
    }
    fn local_name(&self) -> &LocalName {
        &self.name.local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_text(dom: &Dom) -> String {
        dom.descendants(DOCUMENT)
            .filter_map(|id| match &dom.node(id).data {
                Data::Text(t) => Some(t.to_string()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn deep_nesting_is_flattened_past_the_limit() {
        assert_eq!(
            flatten_deep("<div><div><span>x</span></div></div>", 1),
            "<div>x</div>"
        );
        assert_eq!(
            flatten_deep("<script>'<div><div>'</script><div>y</div>", 0),
            "<script>'<div><div>'</script>y"
        );
        assert!(matches!(
            flatten_deep("<p>plain</p>", 10),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn misnested_markup_is_repaired_like_a_browser() {
        let dom = Dom::parse("<p><b>one<i>two</b>three</i></p><table>four<tr><td>five");
        assert_eq!(all_text(&dom), "onetwothreefourfive");
        let body = dom
            .descendants(DOCUMENT)
            .find(|&id| dom.node(id).tag() == Some(&local_name!("body")))
            .unwrap();
        // Foster parenting moves the stray text in front of the table.
        let first = dom.node(body).first_child;
        assert_eq!(dom.node(first).tag(), Some(&local_name!("p")));
    }

    #[test]
    fn template_contents_and_script_text_are_not_text() {
        let dom = Dom::parse("<template><p>t</p></template><script>s</script><p>x</p>");
        assert_eq!(all_text(&dom), "x");
    }
}
