//! `corpusforge ablate EXPERIMENT.yaml`: the arms of an experiment, each a variant of a base
//! pipeline, trained at the same token budget with one tokenizer and compared on held-out
//! evaluation sets over several seeds.
//!
//! ```text
//! OUT/eval/<set>-<hash>.jsonl          each evaluation set as documents (a holdout slice is
//!                                      cut here); the hash of the content names the file, so
//!                                      an arm is redone when its evaluation text changes
//! OUT/eval/task-<set>-<hash>.jsonl     each task set's items as documents (question and
//!                                      correct answer), for decontamination
//! OUT/tokenizer/                       the shared tokenizer's run (trained once on the sample)
//! OUT/arms/<arm>/data/                 the arm's data run: its stages, then decontaminate
//!                                      (against every set), then tokenize with the shared
//!                                      tokenizer
//! OUT/arms/<arm>/seed-<k>/             training with seed train.seed + k, checkpoints at
//!                                      `curve_points` steps; eval/ caches each checkpoint's
//!                                      scores per set, and the final checkpoint's per task
//! OUT/report/ablation.{json,md,html}   the comparison
//! ```
//!
//! Every part is reused when it is complete and unchanged: the data runs (by their config),
//! the trainings (by their config and data), the evaluations (by checkpoint and set). A rerun
//! after a crash continues where it stopped; a rerun of the same file does nothing but write
//! the report again. Trainings run one per thread (each single-threaded), so their results do
//! not depend on how many run at once; evaluation scores each document (and each task item) on
//! one thread, documents and items in parallel on every thread, summed in order, so its
//! figures do not depend on the thread count either.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

use super::{output_dir, run_data, RunError, RunOptions};
use crate::config::experiment::{Arm, EvalSet, LoadedExperiment};
use crate::config::{InputSpec, Pipeline, StageSpec};
use crate::io::input;
use crate::report::ablation::{
    comparisons, yardsticks, AblationReport, ArmReport, ArmScore, CurvePoint, EvalSetInfo, Spread,
    TaskScore, ABLATION_VERSION,
};
use crate::stages::decontaminate::DecontaminateConfig;
use crate::stages::tokenize::{TokenizeConfig, TokenizerSource};
use crate::train::checkpoint::{self, CheckpointState};
use crate::train::tasks::{read_tasks, ItemScore, Scorer, TaskItem, TaskReport};
use crate::train::{self, EvalOptions, EvalReport, TrainOptions, TrainPaths};

/// How to run an experiment.
#[derive(Debug, Clone, Default)]
pub struct AblateOptions {
    /// Threads: data runs use them all, trainings run this many at once (0: one per core).
    pub threads: Option<usize>,
    /// Show progress where stderr is a terminal.
    pub progress: bool,
}

/// What an experiment run wrote.
#[derive(Debug, Clone)]
pub struct AblateDone {
    /// The report.
    pub report: AblationReport,
    /// Its files.
    pub written: crate::report::Written,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// An evaluation set cut to documents.
struct Prepared {
    name: String,
    file: PathBuf,
    /// A slice held out of a file (that the arms may read): its documents are dropped from
    /// training by id as well as by content.
    held_out: bool,
    documents: u64,
    bytes: u64,
    source: String,
}

/// Reads the documents of `paths` (relative to `dir`): (id, text) in input order; with
/// `join_field`, the text is that field's strings joined by newlines (records without any are
/// left out).
fn read_docs(
    paths: &[String],
    text_field: &str,
    join_field: Option<&str>,
    dir: &Path,
) -> Result<Vec<(String, String)>, RunError> {
    let mut spec = InputSpec::documents(paths.to_vec(), text_field, Some("id".into()));
    if let Some(j) = join_field {
        spec.metadata_fields = vec![j.to_string()];
    }
    let mut out = Vec::new();
    for f in input::resolve_inputs(&spec, dir)? {
        for r in input::open(&f, &spec)? {
            match r {
                Ok(d) => match join_field {
                    None => out.push((d.id, d.text)),
                    Some(j) => {
                        let parts: Vec<&str> = d
                            .metadata
                            .as_ref()
                            .and_then(|m| m.get(j))
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        if parts.is_empty() {
                            tracing::warn!(
                                "evaluation set {}: {} has no strings in `{j}`: left out",
                                f.display,
                                d.id
                            );
                        } else {
                            out.push((d.id, parts.join("\n")));
                        }
                    }
                },
                Err(j) => tracing::warn!(
                    "evaluation set {}, {}: rejected: {} ({})",
                    j.source,
                    j.location,
                    j.reason,
                    j.detail
                ),
            }
        }
    }
    Ok(out)
}

/// Writes each evaluation set as `OUT/eval/<name>-<hash>.jsonl` (unchanged files are kept).
fn prepare_eval(lx: &LoadedExperiment, out: &Path, seed: u64) -> Result<Vec<Prepared>, RunError> {
    let dir = out.join("eval");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut sets = Vec::new();
    for (name, set) in &lx.experiment.eval.0 {
        let EvalSet {
            paths,
            holdout,
            text_field,
            join_field,
            max_docs,
        } = set;
        let join = join_field.as_deref();
        let (mut docs, source) = match holdout {
            Some(h) => {
                let all = read_docs(std::slice::from_ref(&h.from), text_field, join, &lx.dir)?;
                let kept: Vec<(String, String)> = all
                    .into_iter()
                    .filter(|(id, _)| {
                        crate::stages::tokenize::split_of(id, seed ^ 0x686f_6c64, h.fraction)
                            == "val"
                    })
                    .collect();
                (
                    kept,
                    format!("{:.1}% of {} held out", h.fraction * 100.0, h.from),
                )
            }
            None => (
                read_docs(paths, text_field, join, &lx.dir)?,
                paths.join(", "),
            ),
        };
        if let Some(m) = max_docs {
            docs.truncate(*m as usize);
        }
        let mut text = String::new();
        let mut bytes = 0u64;
        for (id, t) in &docs {
            bytes += t.len() as u64;
            text += &serde_json::json!({"id": id, "text": t}).to_string();
            text.push('\n');
        }
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        let file = dir.join(format!("{name}-{:08x}.jsonl", hash >> 32));
        if !file.is_file() {
            crate::io::json::write_bytes_atomic(&file, text.as_bytes())?;
        }
        tracing::info!(
            "evaluation set {name}: {} documents, {bytes} bytes ({source})",
            docs.len()
        );
        sets.push(Prepared {
            name: name.clone(),
            file,
            held_out: holdout.is_some(),
            documents: docs.len() as u64,
            bytes,
            source,
        });
    }
    Ok(sets)
}

/// A task set: its items, and its items as documents for decontamination.
struct PreparedTask {
    name: String,
    items: Vec<TaskItem>,
    /// xxh3 of the items as scored (names the cached scores).
    hash: u64,
    decontaminate: PathBuf,
    source: String,
    bytes: u64,
}

/// Reads every task set (refusing a bad item with its file and line) and writes its items as
/// documents: each question followed by its correct answer.
fn prepare_tasks(lx: &LoadedExperiment, out: &Path) -> Result<Vec<PreparedTask>, RunError> {
    let dir = out.join("eval");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let mut tasks = Vec::new();
    for (name, set) in &lx.experiment.tasks.0 {
        let path = input::clean(&lx.dir.join(&set.path));
        let items = read_tasks(&path, set.max_items.map(|m| m as usize))
            .map_err(|e| RunError::TrainSetup(format!("task set {name}: {e}")))?;
        let mut text = String::new();
        let mut scored = String::new();
        let mut bytes = 0u64;
        for it in &items {
            let doc = format!("{}{}", it.context, it.choices[it.label]);
            bytes += doc.len() as u64;
            text += &serde_json::json!({"id": it.id, "text": doc}).to_string();
            text.push('\n');
            scored += &serde_json::json!([it.id, it.context, it.choices, it.label]).to_string();
            scored.push('\n');
        }
        let hash = xxhash_rust::xxh3::xxh3_64(scored.as_bytes());
        let file = dir.join(format!("task-{name}-{:08x}.jsonl", hash >> 32));
        if !file.is_file() {
            crate::io::json::write_bytes_atomic(&file, text.as_bytes())?;
        }
        tracing::info!("task set {name}: {} items ({})", items.len(), set.path);
        tasks.push(PreparedTask {
            name: name.clone(),
            items,
            hash,
            decontaminate: file,
            source: set.path.clone(),
            bytes,
        });
    }
    Ok(tasks)
}

/// The scores of the checkpoint `ckpt` on every task set, cached under `seed_dir/eval/`; the
/// model is loaded once for all sets that are not cached, and items run on every thread of
/// `pool`.
fn tasks_cached(
    ckpt: &Path,
    tasks: &[PreparedTask],
    seed_dir: &Path,
    pool: &rayon::ThreadPool,
    label: &str,
) -> Result<Vec<TaskReport>, RunError> {
    let step = step_name(ckpt);
    let mut out = Vec::new();
    let mut scorer: Option<Scorer> = None;
    for t in tasks {
        let cache =
            seed_dir
                .join("eval")
                .join(format!("task-{}-{:08x}-{step}.json", t.name, t.hash >> 32));
        if let Some(r) = std::fs::read_to_string(&cache)
            .ok()
            .and_then(|s| serde_json::from_str::<TaskReport>(&s).ok())
        {
            out.push(r);
            continue;
        }
        if scorer.is_none() {
            scorer = Some(Scorer::load(ckpt)?);
        }
        let sc = scorer.as_ref().expect("loaded above");
        let t0 = Instant::now();
        let scores: Vec<ItemScore> = pool.install(|| sc.score(&t.items))?;
        let r = TaskReport::of(&t.name, &scores, t0.elapsed().as_secs_f64());
        tracing::info!(
            "{label}: {} accuracy {:.4} (chance {:.4}), correct-choice {:.4} bits/byte, {} items in {:.1}s ({:.0} tokens/s)",
            t.name,
            r.accuracy,
            r.chance,
            r.correct_bits_per_byte,
            r.items,
            r.seconds,
            r.tokens as f64 / r.seconds.max(1e-9)
        );
        crate::io::json::write_json_atomic(&cache, &r)?;
        out.push(r);
    }
    Ok(out)
}

/// A checkpoint directory's name (`step-000128`), which names its cached evaluations.
fn step_name(ckpt: &Path) -> String {
    ckpt.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

fn abs(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

/// The shared tokenizer: loaded, or trained once by a tokenize-only run over the sample.
fn shared_tokenizer(
    lx: &LoadedExperiment,
    out: &Path,
    opts: &AblateOptions,
) -> Result<PathBuf, RunError> {
    let t = &lx.experiment.tokenizer;
    if let Some(p) = &t.path {
        return Ok(input::clean(&lx.dir.join(p)));
    }
    let mut input_spec = lx.base.input.clone();
    let base_dir = if t.sample.is_empty() {
        lx.base_dir.clone()
    } else {
        input_spec.paths = t.sample.clone();
        lx.dir.clone()
    };
    let tokenize = TokenizeConfig {
        tokenizer: TokenizerSource {
            path: None,
            train: t.train.clone(),
        },
        eos: t.eos.clone(),
        bos: t.bos.clone(),
        val_fraction: 0.0,
        ..tokenize_defaults()
    };
    let mut p = lx.base.clone();
    p.input = input_spec;
    p.stages = vec![StageSpec::Tokenize(tokenize)];
    p.train = None;
    p.output.report = false;
    p.output.write_dropped = false;
    let dir = out.join("tokenizer");
    let ropts = RunOptions {
        output: Some(dir.clone()),
        threads: opts.threads,
        progress: opts.progress,
        ..Default::default()
    };
    let s = run_data(&p, &base_dir, &ropts)?;
    if !s.already_complete {
        tracing::info!("trained the shared tokenizer ({})", dir.display());
    }
    Ok(dir.join("tokenizer.json"))
}

/// The defaults of a tokenize stage (those the experiment does not set).
fn tokenize_defaults() -> TokenizeConfig {
    serde_json::from_value(serde_json::json!({
        "tokenizer": {"path": "x"}, "eos": "x"
    }))
    .expect("a minimal tokenize config parses")
}

/// An arm's pipeline: the base with the arm's stages, decontamination against every set and
/// tokenization with the shared tokenizer; no training, no report.
fn arm_pipeline(
    lx: &LoadedExperiment,
    stages: Vec<StageSpec>,
    sets: &[Prepared],
    tasks: &[PreparedTask],
    tokenizer: &Path,
) -> Pipeline {
    let t = &lx.experiment.tokenizer;
    let mut p = lx.base.clone();
    let mut stages = stages;
    let decontaminate = |eval: Vec<String>| -> DecontaminateConfig {
        DecontaminateConfig {
            eval,
            ..serde_json::from_value(serde_json::json!({"eval": ["x"]}))
                .expect("a minimal decontaminate config parses")
        }
    };
    // Held-out slices are also dropped by id: a held-out page's article text need not share
    // an n-gram with the page as the arm reads it.
    for held_out in [false, true] {
        let files: Vec<String> = sets
            .iter()
            .filter(|s| s.held_out == held_out)
            .map(|s| abs(&s.file))
            .collect();
        if !files.is_empty() {
            stages.push(StageSpec::Decontaminate(DecontaminateConfig {
                match_ids: held_out,
                ..decontaminate(files)
            }));
        }
    }
    if !tasks.is_empty() {
        // Task items are short: a question with its answer, matched by shorter n-grams.
        stages.push(StageSpec::Decontaminate(DecontaminateConfig {
            ngram: lx.experiment.task_ngram,
            ..decontaminate(tasks.iter().map(|t| abs(&t.decontaminate)).collect())
        }));
    }
    stages.push(StageSpec::Tokenize(TokenizeConfig {
        tokenizer: TokenizerSource {
            path: Some(abs(tokenizer)),
            train: None,
        },
        eos: t.eos.clone(),
        bos: t.bos.clone(),
        val_fraction: 0.0,
        ..tokenize_defaults()
    }));
    p.stages = stages;
    p.train = None;
    p.output.report = false;
    p
}

/// The manifest of a finished data run, as JSON.
fn data_manifest(data: &Path) -> Result<Value, RunError> {
    let path = data.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    serde_json::from_str(&text).map_err(|e| RunError::Io {
        path: path.clone(),
        source: std::io::Error::other(e),
    })
}

/// Training tokens of a finished data run (from its manifest).
fn train_tokens(data: &Path) -> Result<u64, RunError> {
    Ok(data_manifest(data)?
        .pointer("/tokens/splits/train/tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0))
}

/// A seed's training: the experiment's `train:` with the seed, the budget and checkpoints at
/// the curve points.
fn seed_config(lx: &LoadedExperiment, arm: &Arm, k: u32) -> train::TrainConfig {
    let e = &lx.experiment;
    let mut cfg = e.train.clone();
    if let Some(train::TrainData::Dir(_)) = cfg.data {
        cfg.data = None; // refused when the experiment loads: the arm's data is used
    }
    // The arm's weights on the experiment's mixture.
    if let Some(train::TrainData::Mixture(m)) = &mut cfg.data {
        for (i, s) in m.sources.iter_mut().enumerate() {
            if let Some(w) = arm.weights.get(&s.display_name(i)) {
                s.weight = Some(*w);
            }
        }
    }
    cfg.seed = e.train.seed + k as u64;
    cfg.max_tokens = Some(e.budget.tokens);
    cfg.max_steps = None;
    cfg.threads = 1;
    cfg.eval_interval = 0;
    let steps = cfg.total_steps().max(1);
    cfg.checkpoint_interval = steps.div_ceil(e.curve_points.max(1)).max(1);
    cfg.keep_checkpoints = (e.curve_points + 1) as usize;
    cfg
}

/// Trains one seed, reusing a finished or interrupted run of the same config on the same data
/// (another config or other data: the seed's directory, evaluations included, is redone).
fn train_seed(
    cfg: &train::TrainConfig,
    base: &Path,
    data: &Path,
    tokenizer: &Path,
    out: &Path,
) -> Result<(), RunError> {
    // A mixture's sources without a path are the arm's data; others are relative to the
    // experiment file.
    let mut paths = TrainPaths::resolve(cfg, base, Some(data)).map_err(RunError::TrainSetup)?;
    paths.out = out.to_path_buf();
    paths.tokenizer = tokenizer.to_path_buf();
    paths.init_from = None;
    if let Some(last) =
        checkpoint::latest(&out.join("checkpoints")).map_err(train::TrainError::from)?
    {
        let state = std::fs::read_to_string(last.join("state.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<CheckpointState>(&t).ok());
        let same = state.as_ref().is_some_and(|st| st.config == *cfg);
        let same_data = state.is_some_and(|st| st.data == train::data_identity(&paths));
        if !same || !same_data {
            tracing::info!(
                "{}: {}; training again",
                out.display(),
                if same { "other data" } else { "another config" }
            );
            std::fs::remove_dir_all(out).map_err(io_err(out))?;
        }
    }
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let opts = TrainOptions {
        resume: true,
        progress: false,
        stop_after: None,
    };
    train::train(cfg, &paths, &opts)?;
    Ok(())
}

/// The scores of `ckpt` on `set`, cached under `seed_dir/eval/`; documents run on every thread
/// of the pool the call is made in.
fn eval_cached(
    ckpt: &Path,
    set: &Prepared,
    seed_dir: &Path,
    label: &str,
) -> Result<EvalReport, RunError> {
    let step = step_name(ckpt);
    let stem = set
        .file
        .file_stem()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let cache = seed_dir.join("eval").join(format!("{stem}-{step}.json"));
    if let Some(r) = std::fs::read_to_string(&cache)
        .ok()
        .and_then(|t| serde_json::from_str::<CachedEval>(&t).ok())
    {
        return Ok(r.into_report(ckpt));
    }
    let opts = EvalOptions {
        data: vec![set.file.display().to_string()],
        threads: 0,
        ..Default::default()
    };
    let r = train::evaluate(ckpt, &opts)?;
    tracing::info!(
        "{label} step {}: {} {:.4} bits/byte ({} documents in {:.1}s, {:.0} tokens/s)",
        r.step,
        set.name,
        r.bits_per_byte.unwrap_or(f64::NAN),
        r.documents,
        r.seconds,
        r.tokens_per_s
    );
    crate::io::json::write_json_atomic(&cache, &CachedEval::from(&r))?;
    Ok(r)
}

/// The figures of an evaluation kept between runs.
#[derive(serde::Serialize, serde::Deserialize)]
struct CachedEval {
    step: u64,
    documents: u64,
    bytes: u64,
    tokens: u64,
    loss: f64,
    bits_per_byte: Option<f64>,
    accuracy: f64,
    seconds: f64,
}

impl From<&EvalReport> for CachedEval {
    fn from(r: &EvalReport) -> Self {
        CachedEval {
            step: r.step,
            documents: r.documents,
            bytes: r.bytes,
            tokens: r.tokens,
            loss: r.loss,
            bits_per_byte: r.bits_per_byte,
            accuracy: r.accuracy,
            seconds: r.seconds,
        }
    }
}

impl CachedEval {
    fn into_report(self, ckpt: &Path) -> EvalReport {
        EvalReport {
            checkpoint: ckpt.to_path_buf(),
            step: self.step,
            objective: "clm".into(),
            documents: self.documents,
            rejected: 0,
            bytes: self.bytes,
            tokens: self.tokens,
            loss: self.loss,
            perplexity: self.loss.exp(),
            bits_per_byte: self.bits_per_byte,
            accuracy: self.accuracy,
            seconds: self.seconds,
            tokens_per_s: self.tokens as f64 / self.seconds.max(1e-9),
        }
    }
}

/// Runs the experiment `lx` (loaded from `file`).
pub fn ablate(
    lx: &LoadedExperiment,
    file: &Path,
    opts: &AblateOptions,
) -> Result<AblateDone, RunError> {
    let t0 = Instant::now();
    let e = &lx.experiment;
    let out = input::clean(&lx.dir.join(&e.out));
    std::fs::create_dir_all(&out).map_err(io_err(&out))?;
    let sets = prepare_eval(lx, &out, lx.base.run.seed)?;
    let tasks = prepare_tasks(lx, &out)?;
    let tokenizer = shared_tokenizer(lx, &out, opts)?;
    let threads = match opts.threads.unwrap_or(lx.base.run.threads) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };

    // 1. The arms' data.
    struct ArmData {
        name: String,
        stages: Vec<String>,
        dir: PathBuf,
        input: u64,
        kept: u64,
        decontaminated: u64,
        tokens: u64,
        seconds: f64,
    }
    let mut arms = Vec::new();
    for (name, arm) in &e.arms.0 {
        let stages = arm
            .stages(lx.base.streaming_stages())
            .map_err(|p| RunError::TrainSetup(format!("arm {name}: {p:?}")))?;
        let p = arm_pipeline(lx, stages, &sets, &tasks, &tokenizer);
        let dir = out.join("arms").join(name).join("data");
        let ropts = RunOptions {
            output: Some(dir.clone()),
            threads: opts.threads,
            progress: opts.progress,
            ..Default::default()
        };
        debug_assert_eq!(output_dir(&p, &lx.base_dir, &ropts).ok(), Some(dir.clone()));
        tracing::info!("arm {name}: data");
        let s = run_data(&p, &lx.base_dir, &ropts)?;
        let timing = dir.join("../data-seconds.json");
        let seconds = if s.already_complete {
            std::fs::read_to_string(&timing)
                .ok()
                .and_then(|t| t.trim().parse::<f64>().ok())
                .unwrap_or(0.0)
        } else {
            let secs = s.stats.seconds;
            std::fs::write(&timing, format!("{secs}\n")).map_err(io_err(&timing))?;
            secs
        };
        let decontaminated = s
            .stats
            .stages
            .iter()
            .filter(|st| st.kind == "decontaminate")
            .map(|st| st.dropped_total())
            .sum();
        arms.push(ArmData {
            name: name.clone(),
            stages: p.stages.iter().map(|s| s.type_name().to_string()).collect(),
            input: s.stats.input,
            kept: s.stats.kept,
            decontaminated,
            tokens: train_tokens(&dir)?,
            seconds,
            dir,
        });
    }

    // 2. Training: every (arm, seed), `threads` at once, each on one thread.
    let jobs: Vec<(usize, u32)> = (0..arms.len())
        .flat_map(|a| (0..e.seeds).map(move |k| (a, k)))
        .collect();
    let next = Mutex::new(0usize);
    let failure: Mutex<Option<RunError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.min(jobs.len()).max(1) {
            scope.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                    if *n >= jobs.len() || failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        return;
                    }
                    *n += 1;
                    *n - 1
                };
                let (a, k) = jobs[i];
                let arm = &arms[a];
                let cfg = seed_config(lx, &e.arms.0[a].1, k);
                let seed_dir = out.join("arms").join(&arm.name).join(format!("seed-{k}"));
                tracing::info!("arm {}: training seed {k}", arm.name);
                if let Err(err) = train_seed(&cfg, &lx.dir, &arm.dir, &tokenizer, &seed_dir) {
                    if let Ok(mut f) = failure.lock() {
                        f.get_or_insert(err);
                    }
                }
            });
        }
    });
    if let Some(err) = failure.into_inner().unwrap_or(None) {
        return Err(err);
    }

    // 3. Evaluation of every checkpoint on every set, documents in parallel.
    let pool = super::thread_pool(threads)?;
    let mut reports = Vec::new();
    for arm in &arms {
        let mut scores = Vec::new();
        let mut curves = Vec::new();
        let (mut train_seconds, mut eval_seconds) = (0.0, 0.0);
        // per set: per seed: (step, tokens, report) in step order
        let mut per_set: Vec<Vec<Vec<(u64, u64, EvalReport)>>> =
            sets.iter().map(|_| Vec::new()).collect();
        // per task: the final checkpoint's report of every seed
        let mut per_task: Vec<Vec<TaskReport>> = tasks.iter().map(|_| Vec::new()).collect();
        for k in 0..e.seeds {
            let label = format!("arm {} seed {k}", arm.name);
            let seed_dir = out.join("arms").join(&arm.name).join(format!("seed-{k}"));
            let ckpts =
                checkpoint::list(&seed_dir.join("checkpoints")).map_err(train::TrainError::from)?;
            if let Some((_, last)) = ckpts.last() {
                let st: Option<CheckpointState> = std::fs::read_to_string(last.join("state.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                train_seconds += st.map_or(0.0, |s| s.elapsed_s);
            }
            for (si, set) in sets.iter().enumerate() {
                let mut curve = Vec::new();
                for (step, dir) in &ckpts {
                    let r = pool.install(|| eval_cached(dir, set, &seed_dir, &label))?;
                    eval_seconds += r.seconds;
                    let tokens = step * e.train.tokens_per_step();
                    curve.push((*step, tokens, r));
                }
                per_set[si].push(curve);
            }
            // The final checkpoint on every task set, items on every thread.
            if let (false, Some((_, last))) = (tasks.is_empty(), ckpts.last()) {
                let reports = tasks_cached(last, &tasks, &seed_dir, &pool, &label)?;
                for (ti, r) in reports.into_iter().enumerate() {
                    eval_seconds += r.seconds;
                    per_task[ti].push(r);
                }
            }
        }
        let task_scores: Vec<TaskScore> = tasks
            .iter()
            .zip(&per_task)
            .map(|(t, rs)| TaskScore {
                task: t.name.clone(),
                items: t.items.len() as u64,
                chance: rs.first().map_or(f64::NAN, |r| r.chance),
                context_cut: rs.first().map_or(0, |r| r.context_cut),
                accuracy: Spread::of(rs.iter().map(|r| r.accuracy).collect()),
                correct_bits_per_byte: Spread::of(
                    rs.iter().map(|r| r.correct_bits_per_byte).collect(),
                ),
            })
            .collect();
        for (si, set) in sets.iter().enumerate() {
            let finals: Vec<&EvalReport> = per_set[si]
                .iter()
                .filter_map(|c| c.last().map(|(_, _, r)| r))
                .collect();
            scores.push(ArmScore {
                eval: set.name.clone(),
                bits_per_byte: Spread::of(
                    finals
                        .iter()
                        .map(|r| r.bits_per_byte.unwrap_or(f64::NAN))
                        .collect(),
                ),
                loss: Spread::of(finals.iter().map(|r| r.loss).collect()),
                perplexity: Spread::of(finals.iter().map(|r| r.perplexity).collect()),
            });
            let steps: Vec<(u64, u64)> = per_set[si]
                .first()
                .map(|c| c.iter().map(|(s, t, _)| (*s, *t)).collect())
                .unwrap_or_default();
            let curve = steps
                .iter()
                .enumerate()
                .map(|(i, &(step, tokens))| CurvePoint {
                    step,
                    tokens,
                    bits_per_byte: Spread::of(
                        per_set[si]
                            .iter()
                            .filter_map(|c| c.get(i))
                            .map(|(_, _, r)| r.bits_per_byte.unwrap_or(f64::NAN))
                            .collect(),
                    ),
                })
                .collect();
            curves.push(curve);
        }
        reports.push(ArmReport {
            name: arm.name.clone(),
            stages: arm.stages.clone(),
            input: arm.input,
            kept: arm.kept,
            decontaminated: arm.decontaminated,
            train_tokens: arm.tokens,
            epochs: if arm.tokens > 0 {
                e.budget.tokens as f64 / arm.tokens as f64
            } else {
                f64::INFINITY
            },
            data_seconds: arm.seconds,
            train_seconds,
            eval_seconds,
            scores,
            curves,
            tasks: task_scores,
        });
    }
    let tok_desc = match tokenizers::Tokenizer::from_file(crate::storage::ensure_local(&tokenizer))
    {
        Ok(t) => format!(
            "{} ({} tokens)",
            tokenizer.display(),
            t.get_vocab_size(true)
        ),
        Err(_) => tokenizer.display().to_string(),
    };
    let comparisons = comparisons(&reports, e.seeds as usize);
    let yardsticks = yardsticks(&reports, e.seeds as usize);
    let report = AblationReport {
        version: ABLATION_VERSION,
        experiment: file.display().to_string(),
        budget_tokens: e.budget.tokens,
        seeds: (0..e.seeds).map(|k| e.train.seed + k as u64).collect(),
        tokenizer: tok_desc,
        eval_sets: sets
            .iter()
            .map(|s| EvalSetInfo {
                name: s.name.clone(),
                documents: s.documents,
                bytes: s.bytes,
                source: s.source.clone(),
            })
            .collect(),
        arms: reports,
        comparisons,
        task_sets: tasks
            .iter()
            .map(|t| EvalSetInfo {
                name: t.name.clone(),
                documents: t.items.len() as u64,
                bytes: t.bytes,
                source: t.source.clone(),
            })
            .collect(),
        yardsticks,
        seconds: t0.elapsed().as_secs_f64(),
    };
    let written = crate::report::ablation::write(&report, &out.join("report"))?;
    Ok(AblateDone { report, written })
}
