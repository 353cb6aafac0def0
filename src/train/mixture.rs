//! Data mixtures: several token datasets drawn in fixed proportions.
//!
//! A source is a pipeline output's `tokens/{train,val}/`, all of it or the documents of one
//! language or from matching input files (looked up in the output's `documents/` dataset by id,
//! then kept row by row of the token shards). Each source has its own [`Loader`], seeded from the
//! run's seed and the source's index, so the order of windows within a source is that loader's
//! (shuffled row groups, shuffled windows, every window once per epoch, epochs repeating).
//!
//! **Which source.** Window `n` (0-based, counted over the whole run) comes from the source that
//! lags its share the most: the `d` maximising `w_d (n + 1) - drawn_d`, the first on ties (the
//! rule of Megatron-LM's blended datasets). After `n` windows every source has drawn within one
//! window of `w_d n`, so the realized mixture is the weights to `1/n`, and the choice depends on
//! the weights and the count only: the same on any thread count and after any resume.
//!
//! **Weights** are normalised to sum to 1. With `temperature: T` they are
//! `tokens_d^(1/T)` (T = 1: in proportion to size; larger T: flatter, toward uniform).

use std::path::{Path, PathBuf};

use arrow::array::{Array, StringArray, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;
use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};

use super::config::SourcePaths;
use super::loader::{read_err, Loader, LoaderError, LoaderState, Shards};
use super::rng::hash2;

/// Salt of the per-source loader seeds (a mixture of one source still differs from `data:`).
const SOURCE_SEED: u64 = 0x6d69_7874_7572_6500;

/// A source opened: its shards (restricted to its documents), size and weight.
#[derive(Debug, Clone)]
pub struct Source {
    /// Name in metrics and reports.
    pub name: String,
    /// The pipeline output it reads.
    pub dir: PathBuf,
    /// Normalised weight.
    pub weight: f64,
    /// Training tokens in it.
    pub tokens: u64,
    /// Training documents in it.
    pub documents: u64,
    /// Its training shards.
    pub train: Shards,
    /// Its val shards, if it has any val documents.
    pub val: Option<Shards>,
}

/// xxh3 of the ids of `dir/documents` whose language is `lang` and whose source matches
/// `source` (either may be absent).
fn selected_ids(
    dir: &Path,
    lang: Option<&str>,
    source: Option<&glob::Pattern>,
) -> Result<FxHashSet<u64>, LoaderError> {
    let docs = dir.join("documents");
    let files = crate::storage::parquet_files(&docs);
    if files.is_empty() {
        return Err(read_err(
            &docs,
            "no documents dataset to select the source's documents by language or input file \
             (the run kept no documents, or wrote none)",
        ));
    }
    let mut ids = FxHashSet::default();
    for f in &files {
        // A `lang=xx` directory (output.partition_by: lang) sets the language of its files.
        let dir_lang = f.strip_prefix(&docs).ok().and_then(|rel| {
            rel.components().find_map(|c| {
                c.as_os_str()
                    .to_str()?
                    .strip_prefix("lang=")
                    .map(String::from)
            })
        });
        if let (Some(want), Some(have)) = (lang, &dir_lang) {
            if want != have {
                continue;
            }
        }
        let file = crate::storage::open(f).map_err(|e| read_err(f, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(f, e))?;
        let has = |c: &str| builder.schema().fields().iter().any(|x| x.name() == c);
        let need_lang = lang.is_some() && dir_lang.is_none();
        if need_lang && !has("lang") {
            return Err(read_err(f, "no `lang` column to select by language"));
        }
        let mut cols = vec!["id"];
        if need_lang {
            cols.push("lang");
        }
        if source.is_some() {
            cols.push("source");
        }
        let mask = ProjectionMask::columns(builder.parquet_schema(), cols.iter().copied());
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| read_err(f, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| read_err(f, e))?;
            let col = |name: &str| -> Result<&StringArray, LoaderError> {
                batch
                    .column_by_name(name)
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                    .ok_or_else(|| read_err(f, format!("`{name}` is not a utf8 column")))
            };
            let id = col("id")?;
            let langs = if need_lang { Some(col("lang")?) } else { None };
            let sources = if source.is_some() {
                Some(col("source")?)
            } else {
                None
            };
            for i in 0..batch.num_rows() {
                if let (Some(l), Some(want)) = (langs, lang) {
                    if l.is_null(i) || l.value(i) != want {
                        continue;
                    }
                }
                if let (Some(s), Some(g)) = (sources, source) {
                    let v = s.value(i);
                    let base = v.rsplit('/').next().unwrap_or(v);
                    if !g.matches(v) && !g.matches(base) {
                        continue;
                    }
                }
                ids.insert(xxhash_rust::xxh3::xxh3_64(id.value(i).as_bytes()));
            }
        }
    }
    Ok(ids)
}

/// Keeps in `shards` only the rows whose `doc_id` is in `ids` (all rows when `ids` is `None`),
/// and returns (documents, tokens) of the rows kept, from `n_tokens`: one read of each row
/// group.
fn select(shards: &mut Shards, ids: Option<&FxHashSet<u64>>) -> Result<(u64, u64), LoaderError> {
    let (mut docs, mut tokens) = (0u64, 0u64);
    let columns: &[&str] = if ids.is_some() {
        &["doc_id", "n_tokens"]
    } else {
        &["n_tokens"]
    };
    for unit in &mut shards.units {
        let path = &shards.files[unit.file];
        let file = crate::storage::open(path).map_err(|e| read_err(path, e))?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_err(path, e))?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_row_groups(vec![unit.row_group])
            .build()
            .map_err(|e| read_err(path, e))?;
        let mut keep = Vec::with_capacity(unit.rows as usize);
        for batch in reader {
            let batch = batch.map_err(|e| read_err(path, e))?;
            let n = batch
                .column_by_name("n_tokens")
                .and_then(|c| c.as_any().downcast_ref::<UInt32Array>())
                .ok_or_else(|| read_err(path, "no uint32 `n_tokens` column"))?;
            let doc_ids = match ids {
                Some(_) => Some(
                    batch
                        .column_by_name("doc_id")
                        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                        .ok_or_else(|| read_err(path, "no utf8 `doc_id` column"))?,
                ),
                None => None,
            };
            for i in 0..n.len() {
                let kept = match (ids, doc_ids) {
                    (Some(set), Some(d)) => {
                        set.contains(&xxhash_rust::xxh3::xxh3_64(d.value(i).as_bytes()))
                    }
                    _ => true,
                };
                if kept {
                    docs += 1;
                    tokens += n.value(i) as u64;
                }
                keep.push(kept);
            }
        }
        if ids.is_some() {
            unit.keep = Some(keep);
        }
    }
    shards
        .units
        .retain(|u| u.keep.as_ref().is_none_or(|k| k.iter().any(|&x| x)));
    Ok((docs, tokens))
}

/// Opens every source of `sources`: their shards restricted to their documents, their sizes, and
/// their weights (given, or from sizes with `temperature`), normalised.
pub fn open_sources(
    sources: &[SourcePaths],
    temperature: Option<f64>,
) -> Result<Vec<Source>, LoaderError> {
    let mut out = Vec::new();
    for s in sources {
        let tokens_dir = s.dir.join("tokens");
        let mut train = Shards::open(&tokens_dir.join("train"))?;
        let mut val = match Shards::open(&tokens_dir.join("val")) {
            Ok(v) => Some(v),
            Err(LoaderError::NoShards { .. }) => None,
            Err(e) => return Err(e),
        };
        let ids = if s.lang.is_some() || s.source.is_some() {
            let pattern = s
                .source
                .as_deref()
                .map(glob::Pattern::new)
                .transpose()
                .map_err(|e| read_err(&s.dir, format!("source glob: {e}")))?;
            Some(selected_ids(&s.dir, s.lang.as_deref(), pattern.as_ref())?)
        } else {
            None
        };
        let (documents, tokens) = select(&mut train, ids.as_ref())?;
        if let (Some(v), Some(ids)) = (&mut val, &ids) {
            select(v, Some(ids))?;
            if v.units.is_empty() {
                val = None;
            }
        }
        if documents == 0 {
            let what = match (&s.lang, &s.source) {
                (Some(l), Some(g)) => format!("of language `{l}` from inputs matching `{g}`"),
                (Some(l), None) => format!("of language `{l}`"),
                (None, Some(g)) => format!("from inputs matching `{g}`"),
                (None, None) => String::new(),
            };
            return Err(read_err(
                &tokens_dir.join("train"),
                format!(
                    "mixture source `{}` has no training documents {what}",
                    s.name
                ),
            ));
        }
        out.push(Source {
            name: s.name.clone(),
            dir: s.dir.clone(),
            weight: s.weight.unwrap_or(0.0),
            tokens,
            documents,
            train,
            val,
        });
    }
    if let Some(t) = temperature {
        for s in &mut out {
            s.weight = (s.tokens as f64).powf(1.0 / t);
        }
    }
    let total: f64 = out.iter().map(|s| s.weight).sum();
    for s in &mut out {
        s.weight /= total;
    }
    Ok(out)
}

/// Where a mixture stands: each source's loader and how many windows it gave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixState {
    /// Each source's loader position.
    pub loaders: Vec<LoaderState>,
    /// Windows drawn from each source.
    pub drawn: Vec<u64>,
}

/// Training windows from several sources in proportion to their weights.
pub struct MixLoader {
    loaders: Vec<Loader>,
    weights: Vec<f64>,
    drawn: Vec<u64>,
}

impl MixLoader {
    /// A mixture of `sources`' training shards, from `state` (or the start).
    pub fn new(
        sources: &[Source],
        seq_len: usize,
        seed: u64,
        shuffle_buffer: usize,
        state: Option<MixState>,
    ) -> Self {
        let state = state.unwrap_or_else(|| MixState {
            loaders: vec![LoaderState::default(); sources.len()],
            drawn: vec![0; sources.len()],
        });
        let loaders = sources
            .iter()
            .zip(state.loaders)
            .enumerate()
            .map(|(i, (s, st))| {
                Loader::resume(
                    s.train.clone(),
                    seq_len,
                    hash2(seed, SOURCE_SEED + i as u64),
                    shuffle_buffer,
                    st,
                )
            })
            .collect();
        MixLoader {
            loaders,
            weights: sources.iter().map(|s| s.weight).collect(),
            drawn: state.drawn,
        }
    }

    /// One dataset, all of it: `loader`'s windows unchanged.
    pub fn single(loader: Loader) -> Self {
        MixLoader {
            loaders: vec![loader],
            weights: vec![1.0],
            drawn: vec![0],
        }
    }

    /// The source the next window comes from.
    fn pick(&self) -> usize {
        let n = self.drawn.iter().sum::<u64>() + 1;
        let mut best = 0;
        let mut best_err = f64::NEG_INFINITY;
        for (d, (&w, &c)) in self.weights.iter().zip(&self.drawn).enumerate() {
            let err = w * n as f64 - c as f64;
            if err > best_err {
                best = d;
                best_err = err;
            }
        }
        best
    }

    /// The next window and the source it came from.
    pub fn next_window(&mut self) -> Result<(usize, Vec<u32>), LoaderError> {
        let d = self.pick();
        let w = self.loaders[d].next_window()?;
        self.drawn[d] += 1;
        Ok((d, w))
    }

    /// The next `n` windows.
    pub fn next_windows(&mut self, n: usize) -> Result<Vec<Vec<u32>>, LoaderError> {
        (0..n).map(|_| self.next_window().map(|(_, w)| w)).collect()
    }

    /// The position to save.
    pub fn state(&self) -> MixState {
        MixState {
            loaders: self.loaders.iter().map(|l| l.state().clone()).collect(),
            drawn: self.drawn.clone(),
        }
    }

    /// Windows drawn from each source.
    pub fn drawn(&self) -> &[u64] {
        &self.drawn
    }

    /// The epoch each source's loader is in (0-based).
    pub fn epochs(&self) -> Vec<u64> {
        self.loaders.iter().map(|l| l.state().epoch).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(weights: &[f64]) -> MixLoader {
        MixLoader {
            loaders: Vec::new(),
            weights: weights.to_vec(),
            drawn: vec![0; weights.len()],
        }
    }

    #[test]
    fn blending_realizes_the_weights_at_every_count() {
        let mut m = mix(&[0.8, 0.2]);
        let mut picks = Vec::new();
        for n in 1..=1000u64 {
            let d = m.pick();
            m.drawn[d] += 1;
            picks.push(d);
            // Within one window of the share at every count.
            assert!(
                (m.drawn[0] as f64 - 0.8 * n as f64).abs() <= 1.0,
                "{n}: {:?}",
                m.drawn
            );
        }
        assert_eq!(m.drawn, vec![800, 200]);
        assert_eq!(&picks[..10], &[0, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
        let mut m = mix(&[0.5, 0.3, 0.2]);
        for _ in 0..100 {
            let d = m.pick();
            m.drawn[d] += 1;
        }
        assert_eq!(m.drawn, vec![50, 30, 20]);
    }
}
