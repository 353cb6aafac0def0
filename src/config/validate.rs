//! Validation of a YAML node tree against the JSON Schema generated from the config types.
//!
//! Off-the-shelf validators work on `serde_json::Value`, which has no positions, and stop at or
//! bury the interesting error inside `oneOf`. This one walks our spanned tree, collects every
//! problem with its position, and understands the shapes schemars emits:
//!
//! - `$ref` / `$defs` and `allOf` are merged, so an object's known keys are the union of its
//!   parts (a flattened struct stays `additionalProperties: false`-strict).
//! - An `anyOf`/`oneOf` whose branches are objects sharing a required `const` property is an
//!   internally tagged enum (our stages, tagged by `type`): we dispatch on that key and
//!   validate against the one matching variant, so problems name a field, not "no variant
//!   matched". Every problem inside carries the context `stages[i] (TYPE)`.
//! - Other unions (`Option<T>` is `anyOf: [T, null]`, unit enums are `oneOf` of `const`s)
//!   pass when any branch passes; otherwise we report the branch that fits the value's kind.
//!
//! Nothing here knows the field names of a pipeline: new stages and options are picked up
//! from the schema.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use super::error::Diagnostic;
use super::yaml::{Node, Spanned};

/// Deepest chain of `$ref`/`allOf` followed for one value (schemas never need many; this
/// guards against a reference cycle).
const MAX_REF_CHAIN: usize = 32;

/// Every problem in `node` according to `schema` (a root schema holding its `$defs`).
pub fn validate(schema: &Value, node: &Spanned) -> Vec<Diagnostic> {
    let mut v = Validator {
        root: schema,
        problems: Vec::new(),
    };
    v.check(schema, node, &At::default());
    v.problems
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path into the document, rendered like `stages[2].min_chars`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocPath(pub Vec<Seg>);

impl DocPath {
    /// This path extended by a key.
    pub fn key(&self, key: &str) -> DocPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        DocPath(segs)
    }

    /// This path extended by an index.
    pub fn index(&self, index: usize) -> DocPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        DocPath(segs)
    }
}

impl fmt::Display for DocPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) if is_plain_key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                Seg::Key(k) => write!(f, "[{k:?}]")?,
            }
        }
        Ok(())
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Where the validator is: the path and, inside a tagged component, its label.
#[derive(Debug, Clone, Default)]
struct At {
    path: DocPath,
    context: Option<String>,
}

impl At {
    fn key(&self, key: &str) -> At {
        At {
            path: self.path.key(key),
            context: self.context.clone(),
        }
    }

    fn index(&self, index: usize) -> At {
        At {
            path: self.path.index(index),
            context: self.context.clone(),
        }
    }

    fn with_context(&self, context: String) -> At {
        // The outermost component names the problem; nested tagged values keep it.
        At {
            path: self.path.clone(),
            context: Some(self.context.clone().unwrap_or(context)),
        }
    }
}

/// A schema with its `$ref` and `allOf` parts gathered.
struct Flat<'s> {
    parts: Vec<&'s Value>,
    /// The `$defs` name of the last reference followed (names the kind of a tagged value).
    name: Option<&'s str>,
    unresolved: Vec<&'s str>,
}

/// An internally tagged union: the tag key and, per tag value, its branch.
struct Tagged<'s> {
    key: &'s str,
    variants: Vec<(&'s str, &'s Value)>,
}

struct Validator<'s> {
    root: &'s Value,
    problems: Vec<Diagnostic>,
}

impl<'s> Validator<'s> {
    fn child(&self) -> Validator<'s> {
        Validator {
            root: self.root,
            problems: Vec::new(),
        }
    }

    fn push(&mut self, node: &Spanned, at: &At, message: String) {
        self.problems.push(Diagnostic {
            line: node.line,
            col: node.col,
            context: at.context.clone(),
            path: at.path.to_string(),
            message,
        });
    }

    fn flatten(&self, schema: &'s Value) -> Flat<'s> {
        let mut flat = Flat {
            parts: Vec::new(),
            name: None,
            unresolved: Vec::new(),
        };
        self.flatten_into(schema, &mut flat, 0);
        flat
    }

    fn flatten_into(&self, schema: &'s Value, flat: &mut Flat<'s>, depth: usize) {
        if depth > MAX_REF_CHAIN {
            return;
        }
        flat.parts.push(schema);
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            match reference
                .strip_prefix('#')
                .and_then(|pointer| self.root.pointer(pointer))
            {
                Some(target) => {
                    flat.name = reference.rsplit('/').next();
                    self.flatten_into(target, flat, depth + 1);
                }
                None => flat.unresolved.push(reference),
            }
        }
        for part in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.flatten_into(part, flat, depth + 1);
        }
    }

    fn check(&mut self, schema: &'s Value, node: &Spanned, at: &At) {
        let flat = self.flatten(schema);
        for reference in &flat.unresolved {
            self.push(
                node,
                at,
                format!("internal error: the schema has no definition for {reference}"),
            );
        }
        if flat.parts.iter().any(|p| **p == Value::Bool(false)) {
            self.push(node, at, "no value is allowed here".to_string());
            return;
        }
        for part in &flat.parts {
            for keyword in ["anyOf", "oneOf"] {
                if let Some(branches) = part.get(keyword).and_then(Value::as_array) {
                    if !self.union(branches, node, at, flat.name) {
                        // The union reported what is wrong; more checks would repeat it.
                        return;
                    }
                }
            }
        }
        for part in &flat.parts {
            if let Some(types) = part.get("type") {
                if !type_allows(types, &node.node) {
                    let message = format!(
                        "expected {}, found {}",
                        type_phrase(types),
                        describe(&node.node)
                    );
                    self.push(node, at, message);
                    return;
                }
            }
        }
        for part in &flat.parts {
            if let Some(expected) = part.get("const") {
                if !same(&node.node, expected) {
                    self.enum_problem(node, at, &[expected]);
                    return;
                }
            }
            if let Some(values) = part.get("enum").and_then(Value::as_array) {
                if !values.iter().any(|v| same(&node.node, v)) {
                    let values: Vec<&Value> = values.iter().collect();
                    self.enum_problem(node, at, &values);
                    return;
                }
            }
        }
        match &*node.node {
            Node::Int(_) | Node::Float(_) => self.number(&flat.parts, node, at),
            Node::Str(s) => self.string(&flat.parts, s, node, at),
            Node::Seq(items) => self.sequence(&flat.parts, items, node, at),
            Node::Map(entries) => self.mapping(&flat.parts, entries, node, at),
            Node::Null | Node::Bool(_) => {}
        }
    }

    /// Checks `node` against a union; true when it matches (nothing was reported).
    fn union(
        &mut self,
        branches: &'s [Value],
        node: &Spanned,
        at: &At,
        name: Option<&str>,
    ) -> bool {
        if let Some(tagged) = self.tagged(branches) {
            let before = self.problems.len();
            self.dispatch(&tagged, node, at, name);
            return self.problems.len() == before;
        }
        let mut failures = Vec::new();
        for branch in branches {
            let mut sub = self.child();
            sub.check(branch, node, at);
            if sub.problems.is_empty() {
                return true;
            }
            failures.push((branch, sub.problems));
        }
        if let Some(values) = self.enum_values_of(branches) {
            self.enum_problem(node, at, &values);
            return false;
        }
        let best = failures
            .into_iter()
            .filter(|(branch, _)| self.kind_allowed(branch, &node.node))
            .min_by_key(|(_, problems)| problems.len());
        match best {
            Some((_, problems)) => self.problems.extend(problems),
            None => {
                let mut phrases: Vec<String> = Vec::new();
                for branch in branches {
                    let phrase = self.expected_phrase(branch);
                    if !phrases.contains(&phrase) {
                        phrases.push(phrase);
                    }
                }
                let message = format!(
                    "expected {}, found {}",
                    phrases.join(" or "),
                    describe(&node.node)
                );
                self.push(node, at, message);
            }
        }
        false
    }

    /// Recognizes an internally tagged enum: every branch requires the same key, whose value
    /// is a string constant.
    fn tagged(&self, branches: &'s [Value]) -> Option<Tagged<'s>> {
        let mut per_branch: Vec<Vec<(&'s str, &'s str)>> = Vec::new();
        for branch in branches {
            let flat = self.flatten(branch);
            let required: Vec<&str> = flat
                .parts
                .iter()
                .filter_map(|p| p.get("required").and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut candidates = Vec::new();
            for part in &flat.parts {
                for (key, prop) in part
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    if let Some(tag) = self.string_const(prop) {
                        if required.contains(&key.as_str()) {
                            candidates.push((key.as_str(), tag));
                        }
                    }
                }
            }
            per_branch.push(candidates);
        }
        let first = per_branch.first()?;
        let key = first.iter().map(|(k, _)| *k).find(|k| {
            per_branch
                .iter()
                .all(|c| c.iter().any(|(other, _)| other == k))
        })?;
        let variants = per_branch
            .iter()
            .zip(branches)
            .filter_map(|(c, branch)| {
                c.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, tag)| (*tag, branch))
            })
            .collect();
        Some(Tagged { key, variants })
    }

    /// The string a schema pins its value to (`const`, or a one-value `enum`).
    fn string_const(&self, schema: &'s Value) -> Option<&'s str> {
        self.flatten(schema).parts.iter().find_map(|p| {
            p.get("const").and_then(Value::as_str).or_else(|| {
                match p.get("enum").and_then(Value::as_array) {
                    Some(values) if values.len() == 1 => values[0].as_str(),
                    _ => None,
                }
            })
        })
    }

    /// Validates a tagged value against the variant its tag names.
    fn dispatch(&mut self, tagged: &Tagged<'s>, node: &Spanned, at: &At, name: Option<&str>) {
        let key = tagged.key;
        let noun = name.map(noun_of).unwrap_or_default();
        let kind = if noun.is_empty() {
            key.to_string()
        } else {
            format!("{noun} {key}")
        };
        let mut known: Vec<&str> = tagged.variants.iter().map(|(tag, _)| *tag).collect();
        known.sort_unstable();
        let known_list = format!("known {key}s: {}", known.join(", "));
        let bare = at.with_context(at.path.to_string());
        if !matches!(&*node.node, Node::Map(_)) {
            self.push(
                node,
                &bare,
                format!("expected a mapping, found {}", describe(&node.node)),
            );
            return;
        }
        let Some((_, value)) = node.get(key) else {
            self.push(
                node,
                &bare,
                format!("missing {kind} (key \"{key}\"); {known_list}"),
            );
            return;
        };
        let tag_at = bare.key(key);
        let Node::Str(tag) = &*value.node else {
            self.push(
                value,
                &tag_at,
                format!(
                    "expected a {kind} name, found {}; {known_list}",
                    describe(&value.node)
                ),
            );
            return;
        };
        match tagged.variants.iter().find(|(t, _)| t == tag) {
            Some((_, branch)) => {
                let inside = at.with_context(format!("{} ({tag})", at.path));
                self.check(branch, node, &inside);
            }
            None => {
                let hint = did_you_mean(tag, known.iter().copied());
                self.push(
                    value,
                    &tag_at,
                    format!("unknown {kind} {tag:?}{hint}; {known_list}"),
                );
            }
        }
    }

    /// All the values a schema allows, when it is an enumeration (constants, possibly with
    /// null); `None` when it allows more than a list of values.
    fn enum_values(&self, schema: &'s Value) -> Option<Vec<&'s Value>> {
        for part in self.flatten(schema).parts {
            if let Some(c) = part.get("const") {
                return Some(vec![c]);
            }
            if let Some(values) = part.get("enum").and_then(Value::as_array) {
                return Some(values.iter().collect());
            }
            if part.get("type").and_then(Value::as_str) == Some("null") {
                return Some(vec![&Value::Null]);
            }
            for keyword in ["anyOf", "oneOf"] {
                if let Some(branches) = part.get(keyword).and_then(Value::as_array) {
                    return self.enum_values_of(branches);
                }
            }
        }
        None
    }

    fn enum_values_of(&self, branches: &'s [Value]) -> Option<Vec<&'s Value>> {
        let mut all = Vec::new();
        for branch in branches {
            all.extend(self.enum_values(branch)?);
        }
        Some(all)
    }

    fn enum_problem(&mut self, node: &Spanned, at: &At, values: &[&Value]) {
        // Null is how an optional value is left out; listing it would only add noise.
        let shown: Vec<String> = values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| plain(v))
            .collect();
        let list = format!("one of: {}", shown.join(", "));
        let message = match &*node.node {
            Node::Str(s) => {
                let hint = did_you_mean(s, values.iter().filter_map(|v| v.as_str()));
                format!("unknown value {s:?}{hint}; expected {list}")
            }
            other => format!("expected {list}; found {}", describe(other)),
        };
        self.push(node, at, message);
    }

    /// Whether a branch could hold a value of this kind at all.
    fn kind_allowed(&self, schema: &'s Value, node: &Node) -> bool {
        for part in self.flatten(schema).parts {
            if let Some(types) = part.get("type") {
                if !type_allows(types, node) {
                    return false;
                }
            }
            for keyword in ["anyOf", "oneOf"] {
                if let Some(branches) = part.get(keyword).and_then(Value::as_array) {
                    if !branches.iter().any(|b| self.kind_allowed(b, node)) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// What a schema expects, in words: "an integer", "one of: a, b".
    fn expected_phrase(&self, schema: &'s Value) -> String {
        if let Some(values) = self.enum_values(schema) {
            let shown: Vec<String> = values.iter().map(|v| plain(v)).collect();
            return match shown.as_slice() {
                [one] if one == "null" => "null".to_string(),
                _ => format!("one of: {}", shown.join(", ")),
            };
        }
        for part in self.flatten(schema).parts {
            if let Some(types) = part.get("type") {
                return type_phrase(types);
            }
            for keyword in ["anyOf", "oneOf"] {
                if let Some(branches) = part.get(keyword).and_then(Value::as_array) {
                    let phrases: Vec<String> =
                        branches.iter().map(|b| self.expected_phrase(b)).collect();
                    return phrases.join(" or ");
                }
            }
        }
        "a value".to_string()
    }

    fn number(&mut self, parts: &[&'s Value], node: &Spanned, at: &At) {
        let x = match &*node.node {
            Node::Int(i) => Num::Int(*i),
            Node::Float(f) => Num::Float(*f),
            _ => return,
        };
        if let Num::Float(f) = x {
            if !f.is_finite() {
                self.push(
                    node,
                    at,
                    format!("expected a finite number, found {}", describe(&node.node)),
                );
                return;
            }
        }
        // One range problem per value: the first bound it breaks.
        type Breaks = fn(Num, Num) -> bool;
        let bounds: [(&str, Breaks, &str); 4] = [
            ("minimum", |x, b| x.lt(&b), "at least"),
            ("exclusiveMinimum", |x, b| !b.lt(&x), "greater than"),
            ("maximum", |x, b| b.lt(&x), "at most"),
            ("exclusiveMaximum", |x, b| !x.lt(&b), "less than"),
        ];
        for part in parts {
            for (keyword, breaks, words) in bounds {
                let bound = part.get(keyword).and_then(Num::from_json);
                if let Some(b) = bound.filter(|b| breaks(x, *b)) {
                    self.push(node, at, format!("must be {words} {b}, found {x}"));
                    return;
                }
            }
        }
        if let Num::Int(i) = x {
            for part in parts {
                let Some((lo, hi, what)) = part
                    .get("format")
                    .and_then(Value::as_str)
                    .and_then(int_format)
                else {
                    continue;
                };
                if i < lo || i > hi {
                    self.push(
                        node,
                        at,
                        format!("{i} does not fit in {what} ({lo} to {hi})"),
                    );
                    return;
                }
            }
            if i64::try_from(i).is_err() && u64::try_from(i).is_err() {
                self.push(node, at, format!("{i} is outside the 64-bit integer range"));
            }
        }
    }

    fn string(&mut self, parts: &[&'s Value], s: &str, node: &Spanned, at: &At) {
        let len = s.chars().count() as u64;
        for part in parts {
            if let Some(min) = part
                .get("minLength")
                .and_then(Value::as_u64)
                .filter(|min| len < *min)
            {
                self.push(
                    node,
                    at,
                    format!("must be at least {min} character{} long", plural(min)),
                );
            }
            if let Some(max) = part
                .get("maxLength")
                .and_then(Value::as_u64)
                .filter(|max| len > *max)
            {
                self.push(
                    node,
                    at,
                    format!("must be at most {max} character{} long", plural(max)),
                );
            }
            if let Some(pattern) = part.get("pattern").and_then(Value::as_str) {
                // An invalid pattern is the schema's fault, not the user's: skip it.
                if let Ok(re) = regex::Regex::new(pattern) {
                    if !re.is_match(s) {
                        self.push(
                            node,
                            at,
                            format!("{s:?} does not match the pattern {pattern:?}"),
                        );
                    }
                }
            }
        }
    }

    fn sequence(&mut self, parts: &[&'s Value], items: &[Spanned], node: &Spanned, at: &At) {
        let len = items.len() as u64;
        for part in parts {
            if let Some(min) = part
                .get("minItems")
                .and_then(Value::as_u64)
                .filter(|min| len < *min)
            {
                self.push(
                    node,
                    at,
                    format!("must have at least {min} item{}, found {len}", plural(min)),
                );
            }
            if let Some(max) = part
                .get("maxItems")
                .and_then(Value::as_u64)
                .filter(|max| len > *max)
            {
                self.push(
                    node,
                    at,
                    format!("must have at most {max} item{}, found {len}", plural(max)),
                );
            }
            let prefix = part
                .get("prefixItems")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for (i, (item, schema)) in items.iter().zip(prefix).enumerate() {
                self.check(schema, item, &at.index(i));
            }
            if let Some(schema) = part.get("items") {
                for (i, item) in items.iter().enumerate().skip(prefix.len()) {
                    self.check(schema, item, &at.index(i));
                }
            }
            if part.get("uniqueItems").and_then(Value::as_bool) == Some(true) {
                for (i, item) in items.iter().enumerate() {
                    if let Some(j) = items[..i]
                        .iter()
                        .position(|earlier| same_node(&earlier.node, &item.node))
                    {
                        self.push(
                            item,
                            &at.index(i),
                            format!("duplicate item (the same as [{j}])"),
                        );
                    }
                }
            }
        }
    }

    fn mapping(
        &mut self,
        parts: &[&'s Value],
        entries: &[(Spanned, Spanned)],
        node: &Spanned,
        at: &At,
    ) {
        let mut properties: Vec<(&'s str, &'s Value)> = Vec::new();
        let mut required: Vec<&'s str> = Vec::new();
        let mut patterns: Vec<(regex::Regex, &'s Value)> = Vec::new();
        let mut closed = false;
        let mut additional: Option<&'s Value> = None;
        for part in parts {
            for (k, v) in part
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if !properties.iter().any(|(known, _)| known == k) {
                    properties.push((k.as_str(), v));
                }
            }
            required.extend(
                part.get("required")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
            for (p, v) in part
                .get("patternProperties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                if let Ok(re) = regex::Regex::new(p) {
                    patterns.push((re, v));
                }
            }
            match part.get("additionalProperties") {
                Some(Value::Bool(false)) => closed = true,
                Some(schema @ Value::Object(_)) => additional = Some(schema),
                _ => {}
            }
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (key_node, value) in entries {
            let Node::Str(key) = &*key_node.node else {
                self.push(
                    key_node,
                    at,
                    format!("keys must be strings, found {}", describe(&key_node.node)),
                );
                continue;
            };
            if let Some(first_line) = seen.get(key.as_str()) {
                self.push(
                    key_node,
                    at,
                    format!("duplicate key {key:?} (first written on line {first_line})"),
                );
                continue;
            }
            seen.insert(key, key_node.line);
            if let Some((_, schema)) = properties.iter().find(|(known, _)| *known == key) {
                self.check(schema, value, &at.key(key));
            } else if let Some((_, schema)) = patterns.iter().find(|(re, _)| re.is_match(key)) {
                self.check(schema, value, &at.key(key));
            } else if closed {
                let known: Vec<&str> = properties.iter().map(|(k, _)| *k).collect();
                let hint = did_you_mean(key, known.iter().copied());
                let message = format!(
                    "unknown key {key:?}{hint}; known keys: {}",
                    known.join(", ")
                );
                self.push(key_node, at, message);
            } else if let Some(schema) = additional {
                self.check(schema, value, &at.key(key));
            }
        }
        for key in required {
            if !seen.contains_key(key) {
                self.push(node, at, format!("missing required key {key:?}"));
            }
        }
    }
}

/// A number from the document or the schema.
#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn from_json(v: &Value) -> Option<Num> {
        if let Some(i) = v.as_i64() {
            Some(Num::Int(i.into()))
        } else if let Some(u) = v.as_u64() {
            Some(Num::Int(u.into()))
        } else {
            v.as_f64().map(Num::Float)
        }
    }

    fn lt(&self, other: &Num) -> bool {
        match (*self, *other) {
            (Num::Int(a), Num::Int(b)) => a < b,
            (a, b) => a.as_f64() < b.as_f64(),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(i) => write!(f, "{i}"),
            Num::Float(x) => write!(f, "{x}"),
        }
    }
}

/// The range and name of an integer `format` as schemars writes them.
fn int_format(format: &str) -> Option<(i128, i128, &'static str)> {
    Some(match format {
        "int8" => (i8::MIN.into(), i8::MAX.into(), "an 8-bit integer"),
        "int16" => (i16::MIN.into(), i16::MAX.into(), "a 16-bit integer"),
        "int32" => (i32::MIN.into(), i32::MAX.into(), "a 32-bit integer"),
        "int64" | "int" => (i64::MIN.into(), i64::MAX.into(), "a 64-bit integer"),
        "uint8" => (0, u8::MAX.into(), "an 8-bit unsigned integer"),
        "uint16" => (0, u16::MAX.into(), "a 16-bit unsigned integer"),
        "uint32" => (0, u32::MAX.into(), "a 32-bit unsigned integer"),
        "uint64" | "uint" => (0, u64::MAX.into(), "a 64-bit unsigned integer"),
        _ => return None,
    })
}

/// The JSON Schema type name of a node ("integer" also counts as "number").
fn type_allows(types: &Value, node: &Node) -> bool {
    let allows = |t: &str| match t {
        "null" => matches!(node, Node::Null),
        "boolean" => matches!(node, Node::Bool(_)),
        "integer" => matches!(node, Node::Int(_)),
        "number" => matches!(node, Node::Int(_) | Node::Float(_)),
        "string" => matches!(node, Node::Str(_)),
        "array" => matches!(node, Node::Seq(_)),
        "object" => matches!(node, Node::Map(_)),
        _ => true,
    };
    match types {
        Value::String(t) => allows(t),
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(allows),
        _ => true,
    }
}

/// "an integer or null" for `["integer", "null"]`, in YAML words.
fn type_phrase(types: &Value) -> String {
    let phrase = |t: &str| match t {
        "null" => "null",
        "boolean" => "a boolean",
        "integer" => "an integer",
        "number" => "a number",
        "string" => "a string",
        "array" => "a sequence",
        "object" => "a mapping",
        _ => "a value",
    };
    match types {
        Value::String(t) => phrase(t).to_string(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(phrase)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "a value".to_string(),
    }
}

/// A node's kind and, for scalars, its value: `a string "abc"`, `an integer (-5)`.
pub fn describe(node: &Node) -> String {
    match node {
        Node::Null => "null".to_string(),
        Node::Bool(b) => format!("a boolean ({b})"),
        Node::Int(i) => format!("an integer ({i})"),
        Node::Float(x) => format!("a number ({x})"),
        Node::Str(s) => {
            const SHOWN: usize = 40;
            if s.chars().count() > SHOWN {
                let head: String = s.chars().take(SHOWN).collect();
                format!("a string {:?}", format!("{head}..."))
            } else {
                format!("a string {s:?}")
            }
        }
        Node::Seq(_) => "a sequence".to_string(),
        Node::Map(_) => "a mapping".to_string(),
    }
}

/// A schema constant as a user would write it: strings without quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Whether a node equals a JSON value (for `const` and `enum`).
fn same(node: &Node, v: &Value) -> bool {
    match (node, v) {
        (Node::Null, Value::Null) => true,
        (Node::Bool(a), Value::Bool(b)) => a == b,
        (Node::Int(a), Value::Number(_)) => Num::from_json(v).is_some_and(|b| match b {
            Num::Int(b) => *a == b,
            Num::Float(b) => *a as f64 == b,
        }),
        (Node::Float(a), Value::Number(b)) => b.as_f64() == Some(*a),
        (Node::Str(a), Value::String(b)) => a == b,
        (Node::Seq(items), Value::Array(values)) => {
            items.len() == values.len() && items.iter().zip(values).all(|(n, v)| same(&n.node, v))
        }
        (Node::Map(entries), Value::Object(map)) => {
            entries.len() == map.len()
                && entries.iter().all(|(k, val)| match &*k.node {
                    Node::Str(k) => map.get(k).is_some_and(|v| same(&val.node, v)),
                    _ => false,
                })
        }
        _ => false,
    }
}

/// Structural equality of two nodes, positions ignored (for `uniqueItems`).
fn same_node(a: &Node, b: &Node) -> bool {
    match (a, b) {
        (Node::Null, Node::Null) => true,
        (Node::Bool(x), Node::Bool(y)) => x == y,
        (Node::Int(x), Node::Int(y)) => x == y,
        (Node::Float(x), Node::Float(y)) => x == y,
        (Node::Int(x), Node::Float(y)) | (Node::Float(y), Node::Int(x)) => *x as f64 == *y,
        (Node::Str(x), Node::Str(y)) => x == y,
        (Node::Seq(x), Node::Seq(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_node(&a.node, &b.node))
        }
        (Node::Map(x), Node::Map(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((ka, va), (kb, vb))| {
                    same_node(&ka.node, &kb.node) && same_node(&va.node, &vb.node)
                })
        }
        _ => false,
    }
}

/// "stage" for `StageSpec`: the kind of thing a `$defs` name describes, in words.
fn noun_of(name: &str) -> String {
    let base = ["Spec", "Config"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    let mut words = String::new();
    for (i, c) in base.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    words
}

/// ` (did you mean "x"?)` when one candidate is a likely typo of `word`, else empty.
pub fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let word_lower = word.to_lowercase();
    let best = candidates
        .map(|c| (edit_distance(&word_lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).clamp(1, 3))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!(" (did you mean {c:?}?)"),
        None => String::new(),
    }
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so that
/// `lenght` is one edit from `length`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for i in 0..=a.len() {
        d[i * width] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * width + j] + 1)
                .min(d[i * width + j - 1] + 1)
                .min(d[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * width + j - 2] + 1);
            }
            d[i * width + j] = best;
        }
    }
    d[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse;
    use serde_json::json;

    fn problems(schema: &Value, text: &str) -> Vec<String> {
        let root = parse(text).expect("parses").root.expect("document");
        validate(schema, &root)
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    #[test]
    fn distances_and_suggestions() {
        assert_eq!(edit_distance("lenght", "length"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            did_you_mean("outptu", ["input", "output"].into_iter()),
            " (did you mean \"output\"?)"
        );
        assert_eq!(
            did_you_mean("shard_size", ["dir", "shard_max_docs"].into_iter()),
            ""
        );
        assert_eq!(noun_of("StageSpec"), "stage");
        assert_eq!(noun_of("DedupMethodConfig"), "dedup method");
    }

    #[test]
    fn paths_render_like_accessors() {
        let p = DocPath::default().key("stages").index(2).key("min_chars");
        assert_eq!(p.to_string(), "stages[2].min_chars");
        assert_eq!(
            DocPath::default().key("a b").key("c").to_string(),
            "[\"a b\"].c"
        );
    }

    #[test]
    fn generic_keywords() {
        let schema = json!({
            "type": "object",
            "properties": {
                "n": {"type": "integer", "format": "uint8", "minimum": 0},
                "x": {"type": "number", "exclusiveMaximum": 1},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 2}, "uniqueItems": true},
                "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
                "free": {"type": "object", "additionalProperties": {"type": "boolean"}}
            },
            "additionalProperties": false
        });
        let text = "n: 300\nx: 1\ntags: [ab, a, ab]\npair: [1, b]\nfree: {p: true, q: 3}\n";
        assert_eq!(
            problems(&schema, text),
            [
                "1:4: n: 300 does not fit in an 8-bit unsigned integer (0 to 255)",
                "2:4: x: must be less than 1, found 1",
                "3:12: tags[1]: must be at least 2 characters long",
                "3:15: tags[2]: duplicate item (the same as [0])",
                "4:8: pair[0]: expected a string, found an integer (1)",
                "4:11: pair[1]: expected an integer, found a string \"b\"",
                "5:20: free.q: expected a boolean, found an integer (3)",
            ]
        );
    }

    #[test]
    fn untagged_unions_report_the_branch_that_fits() {
        let schema = json!({
            "type": "object",
            "properties": {
                "opt": {"anyOf": [{"type": "object", "properties": {"a": {"type": "integer"}}}, {"type": "null"}]},
                "mode": {"anyOf": [{"oneOf": [{"const": "fast"}, {"const": "slow"}]}, {"type": "null"}]}
            }
        });
        assert_eq!(
            problems(&schema, "opt: {a: x}\nmode: 3\n"),
            [
                "1:10: opt.a: expected an integer, found a string \"x\"",
                "2:7: mode: expected one of: fast, slow; found an integer (3)",
            ]
        );
        assert_eq!(
            problems(&schema, "opt: [1]\nmode: fats\n"),
            [
                "1:6: opt: expected a mapping or null, found a sequence",
                "2:7: mode: unknown value \"fats\" (did you mean \"fast\"?); expected one of: fast, slow",
            ]
        );
        assert!(problems(&schema, "opt: ~\nmode: slow\n").is_empty());
    }
}
