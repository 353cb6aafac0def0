//! Loading a pipeline: text -> spanned YAML -> schema problems -> typed [`Pipeline`] ->
//! semantic problems. Each step reports every problem it finds, so one run of
//! `corpusforge validate` lists them all.

use std::path::Path;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value};

use super::checks::pipeline_problems;
use super::error::{ConfigError, Diagnostic};
use super::schema::json_schema;
use super::validate::{validate, DocPath, Seg};
use super::yaml::{self, Node, Spanned, YamlProblem};
use super::{Pipeline, Problem, StageSpec};

/// Loads and checks the pipeline file at `path`.
pub fn load_file(path: &Path) -> Result<Pipeline, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::whole_file(&file, format!("cannot read the file: {e}")))?;
    load_str(&text, &file)
}

/// Loads and checks a pipeline from YAML `text`; `file` names it in the problems.
pub fn load_str(text: &str, file: &str) -> Result<Pipeline, ConfigError> {
    load_doc(
        text,
        file,
        schema(),
        "a pipeline needs at least input and output",
        "pipeline",
        &|root| stage_lists(root, &[]),
        &mut |pipeline: &Pipeline, root| {
            pipeline_problems(pipeline)
                .into_iter()
                .map(|p| locate(root, DocPath::default(), None, p))
                .collect()
        },
        None,
    )
}

/// The `stages:` lists of a document whose stage lists sit at `stages` under the map at
/// `prefix` (keys; `*` for every entry of a map), with their paths.
pub(crate) fn stage_lists<'a>(root: &'a Spanned, prefix: &[&str]) -> Vec<(DocPath, &'a Spanned)> {
    let mut at: Vec<(DocPath, &Spanned)> = vec![(DocPath::default(), root)];
    for seg in prefix {
        let mut next = Vec::new();
        for (path, node) in at {
            if *seg == "*" {
                if let Node::Map(entries) = &*node.node {
                    for (k, v) in entries {
                        if let Node::Str(k) = &*k.node {
                            let mut p = path.clone();
                            p.0.push(Seg::Key(k.clone()));
                            next.push((p, v));
                        }
                    }
                }
            } else if let Some((_, v)) = node.get(seg) {
                let mut p = path.clone();
                p.0.push(Seg::Key(seg.to_string()));
                next.push((p, v));
            }
        }
        at = next;
    }
    at.into_iter()
        .filter_map(|(mut path, node)| {
            let (_, stages) = node.get("stages")?;
            path.0.push(Seg::Key("stages".into()));
            Some((path, stages))
        })
        .collect()
}

/// Loads a YAML document of type `T`: spanned YAML, every problem against `schema`, the
/// semantic checks of the stages in `stage_lists` (when their own config is valid), then
/// `semantic` on the typed value. Every problem is listed at once with its position.
/// Checks of the well-formed parts of a document that has problems elsewhere.
pub(crate) type PartialCheck<'a> = &'a mut dyn FnMut(&Spanned) -> Vec<Diagnostic>;

#[allow(clippy::too_many_arguments)]
pub(crate) fn load_doc<T: DeserializeOwned>(
    text: &str,
    file: &str,
    schema: &Value,
    empty_hint: &str,
    what: &str,
    stage_lists: &dyn for<'a> Fn(&'a Spanned) -> Vec<(DocPath, &'a Spanned)>,
    semantic: &mut dyn FnMut(&T, &Spanned) -> Vec<Diagnostic>,
    partial: Option<PartialCheck<'_>>,
) -> Result<T, ConfigError> {
    let parsed = yaml::parse(text).map_err(|p| ConfigError::new(file, vec![from_yaml(p)]))?;
    let Some(root) = parsed.root else {
        let message = format!("the file holds no YAML document; {empty_hint}");
        return Err(ConfigError::new(
            file,
            vec![diagnostic(1, 1, None, String::new(), &message)],
        ));
    };
    let mut problems: Vec<Diagnostic> = parsed.problems.into_iter().map(from_yaml).collect();
    // A tag problem has no path, so we cannot tell which stage it spoils: semantic checks wait
    // until the YAML itself is clean.
    let yaml_clean = problems.is_empty();
    problems.extend(validate(schema, &root));
    let schema_clean = problems.is_empty();
    if yaml_clean {
        // Stages whose own config is valid get their semantic checks even when something else
        // in the file is wrong, so fixing one round of problems does not reveal another.
        let mut semantic_problems = Vec::new();
        for (path, stages) in stage_lists(&root) {
            semantic_problems.extend(stage_problems(&path, stages, &problems));
        }
        problems.extend(semantic_problems);
    }
    if !schema_clean && yaml_clean {
        // The checks of the parts that are well-formed, so that one run lists everything.
        if let Some(partial) = partial {
            problems.extend(partial(&root));
        }
    }
    if schema_clean {
        match deserialize::<T>(&root, what) {
            Ok(value) => {
                problems.extend(semantic(&value, &root));
                if problems.is_empty() {
                    return Ok(value);
                }
            }
            Err((line, col, message)) => {
                problems.push(diagnostic(line, col, None, String::new(), &message))
            }
        }
    }
    Err(ConfigError::new(file, problems))
}

/// The generated schema, built once.
fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(json_schema)
}

fn diagnostic(
    line: usize,
    col: usize,
    context: Option<String>,
    path: String,
    message: &str,
) -> Diagnostic {
    Diagnostic {
        line,
        col,
        context,
        path,
        message: message.to_string(),
    }
}

fn from_yaml(p: YamlProblem) -> Diagnostic {
    diagnostic(p.line, p.col, None, String::new(), &p.message)
}

/// Semantic problems of every stage of the list `stages` (at `list_path`) that passed schema
/// validation.
fn stage_problems(
    list_path: &DocPath,
    stages: &Spanned,
    schema_problems: &[Diagnostic],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Node::Seq(items) = &*stages.node else {
        return out;
    };
    for (i, stage) in items.iter().enumerate() {
        let mut path = list_path.clone();
        path.0.push(Seg::Index(i));
        let base = path.to_string();
        if schema_problems.iter().any(|d| is_within(&d.path, &base)) {
            continue;
        }
        match deserialize::<StageSpec>(stage, "stage") {
            Ok(spec) => {
                let context = format!("{base} ({})", spec.type_name());
                for problem in spec.check() {
                    out.push(locate(stage, path.clone(), Some(context.clone()), problem));
                }
            }
            Err((line, col, message)) => out.push(diagnostic(
                line,
                col,
                Some(base.clone()),
                base.clone(),
                &message,
            )),
        }
    }
    out
}

/// Whether `path` is `base` or lies below it.
fn is_within(path: &str, base: &str) -> bool {
    path.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// A semantic problem placed at the key of the field it names, or at the deepest part of its
/// path that is written in the file (a defaulted field has no position of its own).
pub(crate) fn locate(
    base: &Spanned,
    mut path: DocPath,
    context: Option<String>,
    problem: Problem,
) -> Diagnostic {
    let (mut line, mut col) = (base.line, base.col);
    let mut current = Some(base);
    for seg in &problem.path {
        let index = seg
            .parse::<usize>()
            .ok()
            .filter(|_| matches!(current.map(|c| &*c.node), Some(Node::Seq(_))));
        match index {
            Some(i) => {
                current = current.and_then(|c| c.index(i));
                if let Some(item) = current {
                    (line, col) = (item.line, item.col);
                }
                path.0.push(Seg::Index(i));
            }
            None => {
                current = match current.and_then(|c| c.get(seg)) {
                    Some((key, value)) => {
                        (line, col) = (key.line, key.col);
                        Some(value)
                    }
                    None => None,
                };
                path.0.push(Seg::Key(seg.clone()));
            }
        }
    }
    diagnostic(line, col, context, path.to_string(), &problem.message)
}

/// The node deserialized into `T`; a failure is placed at the node.
fn deserialize<T: DeserializeOwned>(
    node: &Spanned,
    what: &str,
) -> Result<T, (usize, usize, String)> {
    serde_json::from_value(to_json(node)?)
        .map_err(|e| (node.line, node.col, format!("cannot read the {what}: {e}")))
}

/// The node as JSON, for serde. Fails (with a position) only on what JSON cannot hold, which
/// the schema validator has already reported wherever the schema says what a value is.
pub(crate) fn to_json(node: &Spanned) -> Result<Value, (usize, usize, String)> {
    let fail = |message: String| Err((node.line, node.col, message));
    Ok(match &*node.node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => match (i64::try_from(*i), u64::try_from(*i)) {
            (Ok(n), _) => Value::from(n),
            (_, Ok(n)) => Value::from(n),
            _ => return fail(format!("{i} is outside the 64-bit integer range")),
        },
        Node::Float(x) => match Number::from_f64(*x) {
            Some(n) => Value::Number(n),
            None => return fail(format!("expected a finite number, found {x}")),
        },
        Node::Str(s) => Value::String(s.clone()),
        Node::Seq(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let Node::Str(k) = &*key.node else {
                    return Err((key.line, key.col, "keys must be strings".to_string()));
                };
                map.insert(k.clone(), to_json(value)?);
            }
            Value::Object(map)
        }
    })
}
