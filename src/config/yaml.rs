//! YAML text to a tree of nodes that remember where they were written.
//!
//! serde-based YAML loaders lose positions (and buffer internally tagged enums), so we drive
//! yaml-rust2's event parser ourselves and build our own tree, with the line and column of
//! every node. Plain scalars are resolved with the YAML 1.2 core schema (so `yes` and `on` are
//! strings, `0x1F` is an integer); quoted and block scalars are always strings.
//!
//! Aliases are expanded by sharing: an alias points at the same [`Rc`] as its anchor, so a
//! file full of nested aliases costs no memory, but the *expanded* size of the document is
//! counted as it is built and the load is refused once it passes [`MAX_NODES`] (a "billion
//! laughs" file is refused after reading a few lines). Nesting depth is bounded too, because
//! everything downstream (validation, conversion to JSON, dropping the tree) recurses.

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Most nodes a document may have once its aliases are expanded.
pub const MAX_NODES: u64 = 100_000;
/// Deepest nesting of sequences and mappings, aliases expanded.
pub const MAX_DEPTH: usize = 64;

/// The handle the parser gives tags written with the `!!` shorthand.
const CORE_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// A YAML value, with the positions of its children.
#[derive(Debug)]
pub enum Node {
    /// `null`, `~` or nothing at all.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer; wide enough for every `u64` and `i64`.
    Int(i128),
    /// A floating-point number, including `.inf` and `.nan`.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Spanned>),
    /// A mapping, in the order written (duplicate keys are kept, for the validator to report).
    Map(Vec<(Spanned, Spanned)>),
}

/// A node and the position (1-based line and column) where it was written.
#[derive(Debug, Clone)]
pub struct Spanned {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// The value, shared between an anchor and its aliases.
    pub node: Rc<Node>,
}

impl Spanned {
    /// The value of `key` when this node is a mapping (the first one, if it is duplicated).
    pub fn get(&self, key: &str) -> Option<(&Spanned, &Spanned)> {
        match &*self.node {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&*k.node, Node::Str(s) if s == key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }

    /// Element `index` when this node is a sequence.
    pub fn index(&self, index: usize) -> Option<&Spanned> {
        match &*self.node {
            Node::Seq(items) => items.get(index),
            _ => None,
        }
    }
}

/// A problem in the YAML text itself, at a 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl YamlProblem {
    fn at(mark: Marker, message: impl Into<String>) -> Self {
        let (line, col) = position(mark);
        YamlProblem {
            line,
            col,
            message: message.into(),
        }
    }
}

impl fmt::Display for YamlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

/// A parsed document: its root (`None` when the text holds no document) and the problems that
/// did not stop the parse (unsupported tags and the like).
#[derive(Debug)]
pub struct Parsed {
    /// The root node, or `None` for an empty file.
    pub root: Option<Spanned>,
    /// Problems found on the way; the tree is still usable.
    pub problems: Vec<YamlProblem>,
}

/// Parses `text`, which must hold at most one YAML document.
///
/// An `Err` is a problem that leaves no usable tree: a syntax error, a second document, an
/// unknown alias, or a document past [`MAX_NODES`] or [`MAX_DEPTH`].
pub fn parse(text: &str) -> Result<Parsed, YamlProblem> {
    // The parser is third-party code fed untrusted text; a panic inside it must become a
    // problem report, not take the caller down.
    std::panic::catch_unwind(|| Builder::default().run(text)).unwrap_or_else(|_| {
        Err(YamlProblem {
            line: 0,
            col: 0,
            message: "the YAML parser failed on this file".into(),
        })
    })
}

/// The parser's line is 1-based but its column is 0-based (its own `Display` adds one).
fn position(mark: Marker) -> (usize, usize) {
    (mark.line(), mark.col() + 1)
}

/// A sequence or mapping being built.
struct Frame {
    line: usize,
    col: usize,
    anchor: usize,
    /// Expanded size of the children so far.
    size: u64,
    /// Height of the tallest child so far.
    height: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Spanned>),
    Map {
        entries: Vec<(Spanned, Spanned)>,
        key: Option<Spanned>,
    },
}

/// A finished node with its expanded size (nodes) and height (levels of nesting below it).
#[derive(Clone)]
struct Built {
    spanned: Spanned,
    size: u64,
    height: usize,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Built>,
    /// Nodes of the expanded document so far.
    total: u64,
    documents: usize,
    root: Option<Spanned>,
    problems: Vec<YamlProblem>,
}

impl Builder {
    fn run(mut self, text: &str) -> Result<Parsed, YamlProblem> {
        let mut parser = Parser::new_from_str(text);
        // Driving `next_token` ourselves (rather than `Parser::load`, which recurses per level)
        // keeps deep nesting off the call stack and lets us stop at the first limit.
        loop {
            let (event, mark) = parser.next_token().map_err(|e| {
                YamlProblem::at(*e.marker(), format!("YAML syntax error: {}", e.info()))
            })?;
            match event {
                Event::StreamEnd => break,
                Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
                Event::DocumentStart => {
                    self.documents += 1;
                    if self.documents > 1 {
                        return Err(YamlProblem::at(
                            mark,
                            "a pipeline file holds one YAML document; found a second one",
                        ));
                    }
                }
                Event::Alias(id) => {
                    let Some(target) = self.anchors.get(&id).cloned() else {
                        // The parser knows the anchor, so it is one still being built: the
                        // alias sits inside the node it names.
                        return Err(YamlProblem::at(
                            mark,
                            "recursive alias: it refers to a node that contains it",
                        ));
                    };
                    self.count(mark, target.size, self.stack.len() + target.height)?;
                    let (line, col) = position(mark);
                    let spanned = Spanned {
                        line,
                        col,
                        node: target.spanned.node,
                    };
                    self.finish(
                        Built {
                            spanned,
                            size: target.size,
                            height: target.height,
                        },
                        0,
                    );
                }
                Event::Scalar(value, style, anchor, tag) => {
                    self.count(mark, 1, self.stack.len())?;
                    let node = self.scalar(mark, value, style, tag.as_ref());
                    let (line, col) = position(mark);
                    let spanned = Spanned {
                        line,
                        col,
                        node: Rc::new(node),
                    };
                    self.finish(
                        Built {
                            spanned,
                            size: 1,
                            height: 0,
                        },
                        anchor,
                    );
                }
                Event::SequenceStart(anchor, tag) => {
                    self.open(
                        mark,
                        anchor,
                        tag.as_ref(),
                        "seq",
                        FrameKind::Seq(Vec::new()),
                    )?;
                }
                Event::MappingStart(anchor, tag) => {
                    let kind = FrameKind::Map {
                        entries: Vec::new(),
                        key: None,
                    };
                    self.open(mark, anchor, tag.as_ref(), "map", kind)?;
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let Some(frame) = self.stack.pop() else {
                        return Err(YamlProblem::at(
                            mark,
                            "YAML syntax error: unbalanced collection end",
                        ));
                    };
                    let mut start = (frame.line, frame.col);
                    let node = match frame.kind {
                        FrameKind::Seq(items) => Node::Seq(items),
                        FrameKind::Map { entries, .. } => {
                            // The parser marks a block mapping just after its first key's first
                            // character (a flow mapping at its `{`): the earlier of the two is
                            // where the mapping starts.
                            if let Some((key, _)) = entries.first() {
                                start = start.min((key.line, key.col));
                            }
                            Node::Map(entries)
                        }
                    };
                    let (line, col) = start;
                    let spanned = Spanned {
                        line,
                        col,
                        node: Rc::new(node),
                    };
                    let built = Built {
                        spanned,
                        size: 1 + frame.size,
                        height: 1 + frame.height,
                    };
                    self.finish(built, frame.anchor);
                }
            }
        }
        Ok(Parsed {
            root: self.root,
            problems: self.problems,
        })
    }

    /// Accounts for `size` more nodes reaching `depth`, refusing past the limits.
    fn count(&mut self, mark: Marker, size: u64, depth: usize) -> Result<(), YamlProblem> {
        self.total = self.total.saturating_add(size);
        if self.total > MAX_NODES {
            return Err(YamlProblem::at(
                mark,
                format!(
                    "the document expands to more than {MAX_NODES} nodes (aliases included); \
                     refusing it (nested aliases multiply, as in a \"billion laughs\" file)"
                ),
            ));
        }
        if depth > MAX_DEPTH {
            return Err(YamlProblem::at(
                mark,
                format!("nesting deeper than {MAX_DEPTH} levels (aliases included)"),
            ));
        }
        Ok(())
    }

    fn open(
        &mut self,
        mark: Marker,
        anchor: usize,
        tag: Option<&Tag>,
        expected_tag: &str,
        kind: FrameKind,
    ) -> Result<(), YamlProblem> {
        self.count(mark, 1, self.stack.len() + 1)?;
        if let Some(tag) = tag {
            if !(tag.handle == CORE_TAG_PREFIX && tag.suffix == expected_tag) {
                self.problems.push(YamlProblem::at(
                    mark,
                    format!("unsupported tag {}", tag_name(tag)),
                ));
            }
        }
        let (line, col) = position(mark);
        self.stack.push(Frame {
            line,
            col,
            anchor,
            size: 0,
            height: 0,
            kind,
        });
        Ok(())
    }

    /// Hands a finished node to its parent (or makes it the root) and records its anchor.
    fn finish(&mut self, built: Built, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, built.clone());
        }
        let Some(parent) = self.stack.last_mut() else {
            self.root = Some(built.spanned);
            return;
        };
        parent.size = parent.size.saturating_add(built.size);
        parent.height = parent.height.max(built.height);
        match &mut parent.kind {
            FrameKind::Seq(items) => items.push(built.spanned),
            FrameKind::Map { entries, key } => match key.take() {
                None => *key = Some(built.spanned),
                Some(k) => entries.push((k, built.spanned)),
            },
        }
    }

    fn scalar(
        &mut self,
        mark: Marker,
        value: String,
        style: TScalarStyle,
        tag: Option<&Tag>,
    ) -> Node {
        let Some(tag) = tag else {
            return match style {
                TScalarStyle::Plain => resolve_plain(value),
                _ => Node::Str(value),
            };
        };
        // `!` alone is the non-specific tag: "this is a string".
        if tag.handle.is_empty() && tag.suffix == "!" {
            return Node::Str(value);
        }
        if tag.handle != CORE_TAG_PREFIX {
            self.problems.push(YamlProblem::at(
                mark,
                format!("unsupported tag {}", tag_name(tag)),
            ));
            return resolve_plain(value);
        }
        if tag.suffix == "str" {
            return Node::Str(value);
        }
        let resolved = resolve_plain(value.clone());
        let fits = matches!(
            (tag.suffix.as_str(), &resolved),
            ("null", Node::Null)
                | ("bool", Node::Bool(_))
                | ("int", Node::Int(_))
                | ("float", Node::Float(_))
        );
        if fits {
            return resolved;
        }
        if tag.suffix == "float" {
            if let Node::Int(i) = resolved {
                return Node::Float(i as f64);
            }
        }
        let message = match tag.suffix.as_str() {
            "null" | "bool" | "int" | "float" => {
                format!("{value:?} is not a valid {}", tag_name(tag))
            }
            _ => format!("unsupported tag {}", tag_name(tag)),
        };
        self.problems.push(YamlProblem::at(mark, message));
        Node::Str(value)
    }
}

/// How a tag was (most likely) written.
fn tag_name(tag: &Tag) -> String {
    if tag.handle == CORE_TAG_PREFIX {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

/// Resolves a plain scalar with the YAML 1.2 core schema.
pub fn resolve_plain(s: String) -> Node {
    match s.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "true" | "True" | "TRUE" => return Node::Bool(true),
        "false" | "False" | "FALSE" => return Node::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Node::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        _ => {}
    }
    if let Some(n) = radix_int(&s, "0x", 16).or_else(|| radix_int(&s, "0o", 8)) {
        return Node::Int(n);
    }
    if is_decimal_int(&s) {
        return match s.parse::<i128>() {
            Ok(n) => Node::Int(n),
            // Too large for any integer field; keep its magnitude so the message can show it.
            Err(_) => s.parse::<f64>().map_or(Node::Str(s), Node::Float),
        };
    }
    if is_float(&s) {
        if let Ok(x) = s.parse::<f64>() {
            return Node::Float(x);
        }
    }
    Node::Str(s)
}

fn radix_int(s: &str, prefix: &str, radix: u32) -> Option<i128> {
    let digits = s.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i128::from_str_radix(digits, radix).ok()
}

fn strip_sign(s: &str) -> &str {
    s.strip_prefix(['-', '+']).unwrap_or(s)
}

fn is_decimal_int(s: &str) -> bool {
    let digits = strip_sign(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
fn is_float(s: &str) -> bool {
    let body = strip_sign(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            all_digits(int) && all_digits(frac) && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let digits = strip_sign(e);
        !digits.is_empty() && all_digits(digits)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Spanned {
        parse(text).expect("parses").root.expect("has a document")
    }

    fn scalar(text: &str) -> String {
        format!("{:?}", root(text).node)
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(scalar("~"), "Null");
        assert_eq!(scalar("null"), "Null");
        assert_eq!(scalar("True"), "Bool(true)");
        assert_eq!(scalar("yes"), "Str(\"yes\")");
        assert_eq!(scalar("on"), "Str(\"on\")");
        assert_eq!(scalar("-12"), "Int(-12)");
        assert_eq!(scalar("+7"), "Int(7)");
        assert_eq!(scalar("0x1F"), "Int(31)");
        assert_eq!(scalar("0o17"), "Int(15)");
        assert_eq!(scalar("18446744073709551615"), "Int(18446744073709551615)");
        assert_eq!(scalar("1.5"), "Float(1.5)");
        assert_eq!(scalar(".5"), "Float(0.5)");
        assert_eq!(scalar("1e3"), "Float(1000.0)");
        assert_eq!(scalar("-.inf"), "Float(-inf)");
        assert_eq!(scalar(".NaN"), "Float(NaN)");
        assert_eq!(scalar("1.2.3"), "Str(\"1.2.3\")");
        assert_eq!(scalar("0x"), "Str(\"0x\")");
        assert_eq!(scalar("'12'"), "Str(\"12\")");
        assert_eq!(scalar("\"true\""), "Str(\"true\")");
        assert_eq!(scalar("!!str 12"), "Str(\"12\")");
        assert_eq!(scalar("!!float 3"), "Float(3.0)");
        assert_eq!(scalar("|\n  12\n"), "Str(\"12\\n\")");
    }

    #[test]
    fn positions_are_one_based() {
        let doc = root("a: 1\nb:\n  - x\n  - {c: d}\n");
        assert_eq!((doc.line, doc.col), (1, 1));
        let (k, v) = doc.get("b").expect("b");
        assert_eq!((k.line, k.col), (2, 1));
        let second = v.index(1).expect("b[1]");
        assert_eq!((second.line, second.col), (4, 5));
        let (ck, cv) = second.get("c").expect("c");
        assert_eq!((ck.line, ck.col, cv.line, cv.col), (4, 6, 4, 9));
    }

    #[test]
    fn aliases_share_and_take_the_alias_position() {
        let doc = root("a: &x [1, 2]\nb: *x\n");
        let (_, a) = doc.get("a").expect("a");
        let (_, b) = doc.get("b").expect("b");
        assert!(Rc::ptr_eq(&a.node, &b.node));
        assert_eq!((b.line, b.col), (2, 4));
    }

    #[test]
    fn bad_tags_are_problems_not_failures() {
        let parsed = parse("a: !!int abc\nb: !custom 1\n").expect("parses");
        let messages: Vec<String> = parsed.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            messages,
            [
                "1:10: \"abc\" is not a valid !!int",
                "2:12: unsupported tag !custom"
            ]
        );
    }

    #[test]
    fn limits() {
        let err = parse("a: &a [1]\nb: &b [*a, *a]\nc: [*b, *b]\nd: [*c").expect_err("syntax");
        assert!(err.message.starts_with("YAML syntax error"), "{err}");

        let deep = format!("{}1{}", "[".repeat(70), "]".repeat(70));
        let err = parse(&deep).expect_err("too deep");
        assert_eq!(
            err.message,
            "nesting deeper than 64 levels (aliases included)"
        );

        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, name) in ["a", "b", "c", "d", "e", "f"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g"])
        {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            laughs.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let err = parse(&laughs).expect_err("bomb");
        assert_eq!(err.line, 5, "{err}");

        let err = parse("a: &a [1, *a]").expect_err("recursive");
        assert!(err.message.starts_with("recursive alias"), "{err}");

        let err = parse("a: 1\n---\nb: 2\n").expect_err("two documents");
        assert_eq!((err.line, err.col), (2, 1));
    }

    #[test]
    fn empty_text_has_no_root() {
        assert!(parse("").expect("parses").root.is_none());
        assert!(parse("# only a comment\n").expect("parses").root.is_none());
    }
}
