//! Training from document files: `corpusforge classifier train --positive P... --negative N...`.
//! Paths are files, directories or globs of any input format (jsonl, parquet, txt), including a
//! corpusforge output's `documents/` and `dropped/` shards.

use std::path::{Path, PathBuf};

use super::{train, ClassifierError, Labels, Metrics, Model, TrainConfig};
use crate::config::InputSpec;
use crate::io::input;

/// What a training from files read and produced.
#[derive(Debug)]
pub struct Trained {
    /// The model (saved at `out`).
    pub model: Model,
    /// Held-out figures (also in `OUT.metrics.json`).
    pub metrics: Metrics,
    /// Positive and negative documents read.
    pub read: (u64, u64),
    /// The metrics file written.
    pub metrics_file: PathBuf,
}

/// The texts of `paths` (relative to `base`), at most `max_docs`.
pub fn read_texts(
    paths: &[String],
    text_field: &str,
    base: &Path,
    max_docs: Option<usize>,
) -> Result<Vec<String>, String> {
    let spec = InputSpec::documents(paths.to_vec(), text_field, None);
    let mut out = Vec::new();
    for f in input::resolve_inputs(&spec, base).map_err(|e| e.to_string())? {
        for r in input::open(&f, &spec).map_err(|e| e.to_string())? {
            if max_docs.is_some_and(|m| out.len() >= m) {
                return Ok(out);
            }
            if let Ok(d) = r {
                out.push(d.text);
            }
        }
    }
    Ok(out)
}

/// Trains on the documents of `positive` against those of `negative`, saves the model at `out`
/// and its held-out figures at `out` + `.metrics.json`.
pub fn train_files(
    positive: &[String],
    negative: &[String],
    text_field: &str,
    max_docs: Option<usize>,
    cfg: &TrainConfig,
    out: &Path,
) -> Result<Trained, String> {
    let pos = read_texts(positive, text_field, Path::new("."), max_docs)?;
    let neg = read_texts(negative, text_field, Path::new("."), max_docs)?;
    let mut cfg = cfg.clone();
    if cfg.labels.is_none() {
        cfg.labels = Some(Labels {
            positive: positive.join(", "),
            negative: negative.join(", "),
        });
    }
    let (model, metrics) = train(&pos, &neg, &cfg).map_err(|e: ClassifierError| e.to_string())?;
    model.save(out).map_err(|e| e.to_string())?;
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".metrics.json");
    let metrics_file = out.with_file_name(name);
    crate::io::json::write_json_atomic(&metrics_file, &metrics).map_err(|e| e.to_string())?;
    Ok(Trained {
        model,
        metrics,
        read: (pos.len() as u64, neg.len() as u64),
        metrics_file,
    })
}
