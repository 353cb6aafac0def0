//! The experiment file of `corpusforge ablate`: a base pipeline, arms that vary it, one shared
//! tokenizer, a token budget, evaluation sets, seeds, and the model to train. Loaded like a
//! pipeline: every problem at once with `file:line:col`, including what needs the base pipeline
//! (an arm that removes or sets a stage the base does not have) and the file system (evaluation
//! and sample paths that do not exist).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::error::{ConfigError, Diagnostic};
use super::load::{load_doc, locate, stage_lists, to_json};
use super::validate::DocPath;
use super::yaml::Spanned;
use super::{Pipeline, Problem, StageSpec};
use crate::stages::tokenize::TrainSpec;
use crate::train::TrainConfig;

fn default_out() -> String {
    "out/ablation".into()
}
fn default_seeds() -> u32 {
    3
}
fn default_text_field() -> String {
    "text".into()
}
fn default_fraction() -> f64 {
    0.02
}
fn default_curve_points() -> u64 {
    5
}
fn default_task_ngram() -> usize {
    8
}

/// A map that keeps the order of its keys as written (arms and evaluation sets are reported in
/// that order).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Ordered<T>(pub Vec<(String, T)>);

impl<T> Default for Ordered<T> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<T> Ordered<T> {
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Ordered<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        <BTreeMap<String, T>>::schema_name()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <BTreeMap<String, T>>::json_schema(g)
    }
}

/// An experiment: arms (variants of a base pipeline) trained at the same token budget with one
/// tokenizer and compared on held-out evaluation sets, over several seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// The base pipeline (relative to the experiment file): its input, stages, output and run
    /// settings. Its `tokenize` stage and `train:` section are not used: the experiment's are.
    pub base: String,
    /// The experiment's output directory, relative to the experiment file.
    #[serde(default = "default_out")]
    pub out: String,
    /// The one tokenizer every arm is encoded with, so that losses compare.
    pub tokenizer: SharedTokenizer,
    /// The training budget, the same for every arm.
    pub budget: Budget,
    /// Held-out evaluation sets, by name. Every arm is decontaminated against all of them.
    #[schemars(length(min = 1))]
    pub eval: Ordered<EvalSet>,
    /// Multiple-choice task sets, by name: every arm's final checkpoints are scored on them
    /// (accuracy by likelihood per byte, and the correct choice's bits per byte), and every arm
    /// is decontaminated against their items (each question with its correct answer).
    #[serde(default, skip_serializing_if = "Ordered::is_empty")]
    pub tasks: Ordered<TaskSet>,
    /// Words per n-gram of the decontamination against task items (items are short: fewer
    /// than the evaluation sets' 13).
    #[serde(default = "default_task_ngram")]
    #[schemars(range(min = 1))]
    pub task_ngram: usize,
    /// Seeds per arm: each arm is trained with `train.seed`, `train.seed + 1`, ...
    #[serde(default = "default_seeds")]
    #[schemars(range(min = 1))]
    pub seeds: u32,
    /// The arms, by name, in the order they are reported.
    #[schemars(length(min = 1))]
    pub arms: Ordered<Arm>,
    /// The model, optimizer and schedule (as a pipeline's `train:`); the steps come from the
    /// budget, and data, output and tokenizer from the experiment.
    pub train: TrainConfig,
    /// Evaluation points on each training curve (checkpoints evaluated on every set).
    #[serde(default = "default_curve_points")]
    #[schemars(range(min = 1))]
    pub curve_points: u64,
}

/// The shared tokenizer: exactly one of `path` and `train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedTokenizer {
    /// A `tokenizer.json` to load, relative to the experiment file.
    #[serde(default)]
    pub path: Option<String>,
    /// Train a byte-level BPE once, on `sample`.
    #[serde(default)]
    pub train: Option<TrainSpec>,
    /// The documents the tokenizer is trained on (files, directories, globs, relative to the
    /// experiment file); the base pipeline's inputs when absent.
    #[serde(default)]
    pub sample: Vec<String>,
    /// The token appended to every document.
    pub eos: String,
    /// A token prepended to every document.
    #[serde(default)]
    pub bos: Option<String>,
}

/// How much every arm trains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Training tokens per arm (and seed). An arm with fewer kept tokens repeats epochs.
    #[schemars(range(min = 1))]
    pub tokens: u64,
}

/// An evaluation set: documents, or a slice of a file that the experiment holds out itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvalSet {
    /// Documents (files, directories, globs; any input format), relative to the experiment
    /// file.
    #[serde(default)]
    pub paths: Vec<String>,
    /// A slice of a file held out by a seeded hash of each document's id; when the arms read
    /// that file, decontamination keeps the slice out of their training data.
    #[serde(default)]
    pub holdout: Option<Holdout>,
    /// The JSON field or parquet column holding the text.
    #[serde(default = "default_text_field")]
    pub text_field: String,
    /// A field holding a list of strings that, joined by newlines, is the text to evaluate on
    /// instead of `text_field` (e.g. `with` of an extraction evaluation set: the snippets of a
    /// page's main text). The records still need their `text_field`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_field: Option<String>,
    /// At most this many documents of the set are evaluated (the first ones).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_docs: Option<u64>,
}

/// A multiple-choice task set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSet {
    /// The items (JSON lines `{id, context, choices, label}`), relative to the experiment
    /// file.
    pub path: String,
    /// At most this many items are scored (the first ones).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_items: Option<u64>,
}

/// A held-out slice of one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Holdout {
    /// The file (JSON lines with `id` and the text field), relative to the experiment file.
    pub from: String,
    /// Fraction of its documents held out.
    #[serde(default = "default_fraction")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub fraction: f64,
}

/// An arm: the base pipeline with its stages replaced, some removed, or parameters set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    /// The stages of this arm instead of the base pipeline's (no `tokenize`: the experiment
    /// adds it).
    #[serde(default)]
    pub stages: Option<Vec<StageSpec>>,
    /// Leave out the stages of these types.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Parameters set on the stages of a type, e.g. `{gopher_quality: {min_stop_words: 3}}`.
    #[serde(default)]
    pub set: BTreeMap<String, serde_json::Map<String, Value>>,
    /// Weights of the sources of the experiment's `train.data` mixture, by name, for this arm
    /// (the sources not named keep theirs), e.g. `{eng: 0.5, fra: 0.5}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub weights: BTreeMap<String, f64>,
}

impl Arm {
    /// The arm's stages, from the base pipeline's streaming stages. Fails with the problem
    /// (path relative to the arm) when a `remove` or `set` names a type the stages do not have,
    /// or a parameter set does not fit the stage.
    pub fn stages(&self, base: &[StageSpec]) -> Result<Vec<StageSpec>, Vec<Problem>> {
        let from: Vec<StageSpec> = match &self.stages {
            Some(s) => s.clone(),
            None => base.to_vec(),
        };
        let mut problems = Vec::new();
        let has = |t: &str| from.iter().any(|s| s.type_name() == t);
        for (i, t) in self.remove.iter().enumerate() {
            if !has(t) {
                problems.push(Problem {
                    path: vec!["remove".into(), i.to_string()],
                    message: format!(
                        "the arm's stages have no `{t}` stage to remove ({})",
                        names(&from)
                    ),
                });
            }
        }
        let types: Vec<&'static str> = from.iter().map(|s| s.type_name()).collect();
        let mut out = Vec::new();
        for s in from {
            if self.remove.iter().any(|t| t == s.type_name()) {
                continue;
            }
            match self.set.get(s.type_name()) {
                None => out.push(s),
                Some(params) => {
                    let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
                    if let Value::Object(m) = &mut v {
                        for (k, x) in params {
                            m.insert(k.clone(), x.clone());
                        }
                    }
                    match serde_json::from_value::<StageSpec>(v) {
                        Ok(spec) => out.push(spec),
                        Err(e) => problems.push(Problem {
                            path: vec!["set".into(), s.type_name().into()],
                            message: format!("does not fit the `{}` stage: {e}", s.type_name()),
                        }),
                    }
                }
            }
        }
        for t in self.set.keys() {
            if !types.contains(&t.as_str()) {
                problems.push(Problem {
                    path: vec!["set".into(), t.clone()],
                    message: format!("the arm's stages have no `{t}` stage to set parameters on"),
                });
            }
        }
        if out.iter().any(|s| !s.is_streaming()) {
            problems.push(Problem::at(
                "stages",
                "leave `tokenize` out: the experiment tokenizes every arm with its shared tokenizer",
            ));
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }
}

fn names(stages: &[StageSpec]) -> String {
    if stages.is_empty() {
        return "it has none".into();
    }
    let v: Vec<&str> = stages.iter().map(|s| s.type_name()).collect();
    format!("it has {}", v.join(", "))
}

/// A loaded experiment, its base pipeline and where its relative paths start.
#[derive(Debug, Clone)]
pub struct LoadedExperiment {
    /// The experiment.
    pub experiment: Experiment,
    /// The base pipeline.
    pub base: Pipeline,
    /// The experiment file's directory.
    pub dir: PathBuf,
    /// The base pipeline file's directory.
    pub base_dir: PathBuf,
}

/// The JSON Schema of the experiment file (`schemas/experiment.schema.json`).
pub fn experiment_schema() -> Value {
    let schema = schemars::schema_for!(Experiment);
    serde_json::to_value(&schema).unwrap_or_else(|_| schema.to_value())
}

/// Loads and checks the experiment file at `path` (and its base pipeline).
pub fn load_experiment(path: &Path) -> Result<LoadedExperiment, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::whole_file(&file, format!("cannot read the file: {e}")))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    load_experiment_str(&text, &file, &dir)
}

/// Loads and checks an experiment from YAML `text` (`file` names it; relative paths start at
/// `dir`).
pub fn load_experiment_str(
    text: &str,
    file: &str,
    dir: &Path,
) -> Result<LoadedExperiment, ConfigError> {
    let schema = experiment_schema();
    let mut base: Option<(Pipeline, PathBuf)> = None;
    let mut partial = |root: &Spanned| -> Vec<Diagnostic> {
        match to_json(root) {
            Ok(v) => experiment_problems(&Parts::lenient(&v), root, dir).0,
            Err(_) => Vec::new(),
        }
    };
    let experiment = load_doc::<Experiment>(
        text,
        file,
        &schema,
        "an experiment needs base, tokenizer, budget, eval, arms and train",
        "experiment",
        &|root| stage_lists(root, &["arms", "*"]),
        &mut |e: &Experiment, root: &Spanned| {
            let (problems, loaded) = experiment_problems(&Parts::of(e), root, dir);
            base = loaded;
            problems
        },
        Some(&mut partial),
    )?;
    let (base, base_dir) = base.expect("a loaded experiment has its base pipeline");
    Ok(LoadedExperiment {
        experiment,
        base,
        dir: dir.to_path_buf(),
        base_dir,
    })
}

/// The parts of an experiment its checks need; from a loaded experiment, or (when the file has
/// problems elsewhere) from whichever parts are well-formed on their own.
struct Parts {
    base: Option<String>,
    tokenizer: Option<SharedTokenizer>,
    eval: Vec<(String, EvalSet)>,
    tasks: Vec<(String, TaskSet)>,
    arms: Vec<(String, Arm)>,
    train: Option<TrainConfig>,
}

impl Parts {
    fn of(e: &Experiment) -> Parts {
        Parts {
            base: Some(e.base.clone()),
            tokenizer: Some(e.tokenizer.clone()),
            eval: e.eval.0.clone(),
            tasks: e.tasks.0.clone(),
            arms: e.arms.0.clone(),
            train: Some(e.train.clone()),
        }
    }

    fn lenient(v: &Value) -> Parts {
        fn part<T: serde::de::DeserializeOwned>(v: Option<&Value>) -> Option<T> {
            v.and_then(|x| serde_json::from_value(x.clone()).ok())
        }
        fn entries<T: serde::de::DeserializeOwned>(v: Option<&Value>) -> Vec<(String, T)> {
            v.and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, x)| Some((k.clone(), part(Some(x))?)))
                        .collect()
                })
                .unwrap_or_default()
        }
        Parts {
            base: v.get("base").and_then(Value::as_str).map(str::to_string),
            tokenizer: part(v.get("tokenizer")),
            eval: entries(v.get("eval")),
            tasks: entries(v.get("tasks")),
            arms: entries(v.get("arms")),
            train: part(v.get("train")),
        }
    }
}

/// The problems that need the base pipeline and the file system, placed in the file.
fn experiment_problems(
    e: &Parts,
    root: &Spanned,
    dir: &Path,
) -> (Vec<Diagnostic>, Option<(Pipeline, PathBuf)>) {
    let mut out = Vec::new();
    let at = |path: &[&str], message: String| {
        locate(
            root,
            DocPath::default(),
            None,
            Problem {
                path: path.iter().map(|s| s.to_string()).collect(),
                message,
            },
        )
    };
    let exists = |p: &str| {
        let full = dir.join(p);
        full.exists() || (p.contains(['*', '?', '[']) && glob_matches(&full))
    };
    // The base pipeline, whose own problems are summarized here.
    let Some(base_name) = &e.base else {
        return (out, None);
    };
    let base_path = dir.join(base_name);
    let base = match super::load_file(&base_path) {
        Ok(p) => Some(p),
        Err(err) => {
            let first = err
                .problems
                .first()
                .map(|d| d.to_string())
                .unwrap_or_default();
            out.push(at(
                &["base"],
                format!(
                    "the base pipeline {} does not load ({} problem{}; first: {first})",
                    base_path.display(),
                    err.problems.len(),
                    if err.problems.len() == 1 { "" } else { "s" }
                ),
            ));
            None
        }
    };
    if let Some(t) = &e.tokenizer {
        match (&t.path, &t.train) {
            (Some(_), Some(_)) | (None, None) => out.push(at(
                &["tokenizer"],
                "give either `path` (load a tokenizer) or `train` (train one once)".into(),
            )),
            (Some(p), None) if !exists(p) => out.push(at(
                &["tokenizer", "path"],
                format!("{} does not exist", dir.join(p).display()),
            )),
            _ => {}
        }
        for (i, p) in t.sample.iter().enumerate() {
            if !exists(p) {
                out.push(at(
                    &["tokenizer", "sample", &i.to_string()],
                    format!("{} does not exist", dir.join(p).display()),
                ));
            }
        }
    }
    for (name, set) in &e.eval {
        match (&set.holdout, set.paths.is_empty()) {
            (Some(_), false) | (None, true) => out.push(at(
                &["eval", name],
                "give either `paths` (documents) or `holdout` (a slice of one file)".into(),
            )),
            _ => {}
        }
        for (i, p) in set.paths.iter().enumerate() {
            if !exists(p) {
                out.push(at(
                    &["eval", name, "paths", &i.to_string()],
                    format!("{} does not exist", dir.join(p).display()),
                ));
            }
        }
        if let Some(h) = &set.holdout {
            if !exists(&h.from) {
                out.push(at(
                    &["eval", name, "holdout", "from"],
                    format!("{} does not exist", dir.join(&h.from).display()),
                ));
            }
        }
    }
    for (name, set) in &e.tasks {
        if !exists(&set.path) {
            out.push(at(
                &["tasks", name, "path"],
                format!("{} does not exist", dir.join(&set.path).display()),
            ));
        }
    }
    let mixture = match e.train.as_ref().and_then(|t| t.data.as_ref()) {
        Some(crate::train::TrainData::Mixture(m)) => Some(m),
        _ => None,
    };
    let known = mixture.map(|m| {
        m.sources
            .iter()
            .enumerate()
            .map(|(i, s)| s.display_name(i))
            .collect::<Vec<_>>()
    });
    for (name, arm) in &e.arms {
        for (source, w) in &arm.weights {
            let message = match &known {
                None => Some(
                    "weights need a mixture in train.data (`sources:` with names) to weigh".into(),
                ),
                Some(names) if !names.contains(source) => Some(format!(
                    "train.data has no source `{source}` (its sources: {})",
                    names.join(", ")
                )),
                _ if !w.is_finite() || *w <= 0.0 => {
                    Some(format!("weight must be positive, got {w}"))
                }
                _ if mixture.is_some_and(|m| m.temperature.is_some()) => Some(
                    "train.data samples by temperature; give its sources weights to vary them"
                        .into(),
                ),
                _ => None,
            };
            if let Some(m) = message {
                out.push(at(&["arms", name, "weights", source], m));
            }
        }
    }
    for name in e.arms.iter().map(|(n, _)| n) {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || name.starts_with('.')
        {
            out.push(at(
                &["arms", name],
                "an arm's name is a directory name: letters, digits, `-`, `_` and `.`".into(),
            ));
        }
    }
    if let Some(train) = &e.train {
        if let Some(crate::train::TrainData::Dir(_)) = &train.data {
            out.push(at(
                &["train", "data"],
                "leave out data (every arm trains on its own output), or give a mixture whose \
                 sources select from it (`lang`, `source`) or add other runs (`path`)"
                    .into(),
            ));
        }
        if train.max_steps.is_some() || train.max_tokens.is_some() {
            out.push(at(
                &["train"],
                "leave out max_steps and max_tokens: every arm trains for `budget.tokens`".into(),
            ));
        }
        for mut p in train_problems(train) {
            p.path.insert(0, "train".into());
            out.push(locate(root, DocPath::default(), None, p));
        }
    }
    let base_dir = base_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    if let Some(base) = &base {
        for (name, arm) in &e.arms {
            if let Err(problems) = arm.stages(base.streaming_stages()) {
                for mut p in problems {
                    p.path.insert(0, name.clone());
                    p.path.insert(0, "arms".into());
                    out.push(locate(root, DocPath::default(), None, p));
                }
            }
        }
    }
    (out, base.map(|b| (b, base_dir)))
}

/// The semantic problems of the `train:` section (as a pipeline's).
fn train_problems(train: &TrainConfig) -> Vec<Problem> {
    use super::Check;
    // The budget sets the steps: the train section is checked as if it had one.
    let mut t = train.clone();
    t.max_steps = Some(1);
    t.check()
}

/// Whether a glob pattern matches at least one path.
fn glob_matches(pattern: &Path) -> bool {
    glob::glob(&pattern.to_string_lossy())
        .map(|mut g| g.next().is_some())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_schema_file_is_up_to_date() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/experiment.schema.json"
        ));
        let text = serde_json::to_string_pretty(&experiment_schema()).unwrap_or_default() + "\n";
        super::super::schema::check_committed_file(
            path,
            &text,
            "corpusforge schema --experiment > schemas/experiment.schema.json",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn arms_remove_and_set_stages_of_the_base() {
        let base: Vec<StageSpec> = serde_json::from_value(serde_json::json!([
            {"type": "normalize"}, {"type": "length", "min_words": 5}, {"type": "exact_dedup"}
        ]))
        .unwrap();
        let arm: Arm = serde_json::from_value(serde_json::json!({
            "remove": ["exact_dedup"], "set": {"length": {"min_words": 9}}
        }))
        .unwrap();
        let stages = arm.stages(&base).unwrap();
        let types: Vec<&str> = stages.iter().map(|s| s.type_name()).collect();
        assert_eq!(types, ["normalize", "length"]);
        let v = serde_json::to_value(&stages[1]).unwrap();
        assert_eq!(v["min_words"], 9);
        let bad: Arm = serde_json::from_value(serde_json::json!({
            "remove": ["minhash_dedup"], "set": {"length": {"min_wordz": 1}}
        }))
        .unwrap();
        let problems = bad.stages(&base).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].path, ["remove", "0"]);
        assert_eq!(problems[1].path, ["set", "length"]);
    }
}
