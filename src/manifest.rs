//! `OUT/manifest.json` and `OUT/stats.json`: what was run on what, and what came out; and
//! which task of a split run wrote them.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::Pipeline;
use crate::io::input::InputFile;
use crate::io::json::{write_json_atomic, FileError};
use crate::io::writer::ShardFile;
use crate::runner::RunStats;
use crate::stages::tokenize::TokenSummary;

/// One task of a run split into `count` tasks (a plain run is task 0 of 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// This task, 0-based.
    pub index: usize,
    /// Number of tasks.
    pub count: usize,
}

impl Default for TaskSpec {
    fn default() -> Self {
        TaskSpec { index: 0, count: 1 }
    }
}

impl TaskSpec {
    /// True for a task of a run split into several.
    pub fn is_split(&self) -> bool {
        self.count > 1
    }

    /// The start of the names of the shards this task writes: `part`, or `part-tIIIII` for a
    /// task of a split run.
    pub fn shard_prefix(&self) -> String {
        if self.is_split() {
            format!("part-t{:05}", self.index)
        } else {
            "part".to_string()
        }
    }
}

impl std::fmt::Display for TaskSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "task {} of {}", self.index, self.count)
    }
}

/// An input file as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputEntry {
    /// The path as shown in documents' `source`.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// xxh3-64 of the file, 16 hex digits.
    pub xxh3: String,
}

/// The manifest of a finished run (or task).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `corpusforge`.
    pub tool: String,
    /// The tool's version.
    pub version: String,
    /// True once every output is written and the accounting check passed.
    pub complete: bool,
    /// xxh3-64 of the resolved config.
    pub config_hash: String,
    /// The config with every default filled in.
    pub config: Pipeline,
    /// Which task of how many.
    pub task: TaskSpec,
    /// The run's seed.
    pub seed: u64,
    /// Worker threads used (does not change the output).
    pub threads: usize,
    /// Input files with sizes and hashes.
    pub inputs: Vec<InputEntry>,
    /// Every file written, with row counts and hashes.
    pub outputs: Vec<ShardFile>,
    /// The counters (as in `stats.json`).
    pub stats: RunStats,
    /// The tokenize stage's tokenizer, special token ids and per-split counts, when the
    /// pipeline has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenSummary>,
    /// For a task of a split run: the phase hash (`crate::distributed::phase_hash`) when it finished (the
    /// config and every input of the run, which its dedup decisions depend on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_hash: Option<String>,
    /// What the quantile-based stages computed on a sample before the stream (thresholds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calibrations: Vec<crate::stage::registry::Calibration>,
    /// The shipped per-language settings tables the stages used (`language_defaults`), so a
    /// later version with other numbers is told apart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub language_settings: Vec<LanguageSettingsUsed>,
}

/// A shipped table of per-language settings a run used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanguageSettingsUsed {
    /// Its name (`fineweb2`).
    pub name: String,
    /// Where its numbers come from.
    pub repository: String,
    /// The commit of that repository.
    pub commit: String,
    /// xxh3-64 of the table as shipped (`src/text/languages.json`).
    pub xxh3: String,
    /// The stages that used it (indexes in `stages:`).
    pub stages: Vec<usize>,
}

/// The tables of `pipeline`'s `language_defaults`.
pub fn language_settings_used(pipeline: &Pipeline) -> Vec<LanguageSettingsUsed> {
    use crate::config::StageSpec;
    use crate::stages::quality::by_language::LanguageAware;
    let mut stages = Vec::new();
    for (i, s) in pipeline.stages.iter().enumerate() {
        let d = match s {
            StageSpec::GopherQuality(c) => c.language_options().language_defaults,
            StageSpec::GopherRepetition(c) => c.language_options().language_defaults,
            StageSpec::Fineweb(c) => c.language_options().language_defaults,
            StageSpec::C4(c) => c.language_options().language_defaults,
            StageSpec::Length(c) => c.language_options().language_defaults,
            _ => None,
        };
        if d.is_some() {
            stages.push(i);
        }
    }
    if stages.is_empty() {
        return Vec::new();
    }
    let t = crate::text::langs::fineweb2();
    vec![LanguageSettingsUsed {
        name: t.name.clone(),
        repository: t.repository.clone(),
        commit: t.commit.clone(),
        xxh3: format!("{:016x}", crate::text::langs::fineweb2_hash()),
        stages,
    }]
}

/// Where the manifest of `task` lives.
pub fn manifest_path(out: &Path, task: TaskSpec) -> PathBuf {
    if task.count > 1 {
        out.join("tasks")
            .join(format!("task-{:05}", task.index))
            .join("manifest.json")
    } else {
        out.join("manifest.json")
    }
}

/// Reads a manifest, if there is a readable one.
pub fn read(path: &Path) -> Option<Manifest> {
    let text = crate::storage::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Hashes the input files (in parallel).
pub fn hash_inputs(files: &[InputFile]) -> Vec<InputEntry> {
    files
        .par_iter()
        .map(|f| {
            let hashed = crate::storage::open_input(&f.path, f.size)
                .and_then(|i| i.reader())
                .and_then(crate::io::writer::hash_reader);
            let (bytes, xxh3) = hashed.unwrap_or((f.size, String::from("unreadable")));
            InputEntry {
                path: f.display.to_string(),
                bytes,
                xxh3,
            }
        })
        .collect()
}

/// Writes `stats.json` and then `manifest.json` (the manifest last: it marks completion).
#[allow(clippy::too_many_arguments)]
pub fn write(
    out: &Path,
    task: TaskSpec,
    pipeline: &Pipeline,
    config_hash: &str,
    threads: usize,
    inputs: &[InputEntry],
    outputs: &[ShardFile],
    stats: &RunStats,
    tokens: Option<&TokenSummary>,
    split_hash: Option<&str>,
    calibrations: &[crate::stage::registry::Calibration],
) -> Result<(), FileError> {
    let mpath = manifest_path(out, task);
    let spath = mpath.with_file_name("stats.json");
    write_json_atomic(&spath, stats)?;
    let m = Manifest {
        tool: "corpusforge".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        complete: true,
        config_hash: config_hash.into(),
        config: pipeline.clone(),
        task,
        seed: pipeline.run.seed,
        threads,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        stats: stats.clone(),
        tokens: tokens.cloned(),
        split_hash: split_hash.map(str::to_string),
        calibrations: calibrations.to_vec(),
        language_settings: language_settings_used(pipeline),
    };
    write_json_atomic(&mpath, &m)
}
