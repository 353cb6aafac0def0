//! The stage contract.
//!
//! A stage is one step of a pipeline. There are three kinds, because their data needs differ;
//! prefer the simplest kind that fits:
//!
//! - [`Map`]: document in, document out (cleaners, redactors, annotators). Pick it when the
//!   stage never removes a document.
//! - [`Filter`]: looks at one document and answers [`Verdict::Keep`] or [`Verdict::Drop`] with a
//!   stable reason key. It may rewrite or annotate the document it is given (the `c4` filter
//!   removes lines; every filter may record signals). Pick it when the verdict depends on the
//!   document alone.
//! - [`Stateful`]: sees whole batches, in input order, one batch after another (dedup). Pick it
//!   only when a verdict depends on documents seen before.
//!
//! Who drives the loop: the runner. For each batch it calls every stage in pipeline order, on the
//! documents that are still alive. Map and filter stages are called once per document, in
//! parallel over the batch (rayon), so they take `&self` and must be deterministic functions of
//! the document and their config. Stateful stages are called once per batch, from one thread,
//! with the alive documents in input order; they may parallelise inside.
//!
//! Who counts: the runner, never the stage. It records per stage the documents seen, kept,
//! dropped per reason key (`<type>:<reason>`), bytes in and out and wall time, so no stage can
//! forget. Stages that want their own counters (e.g. replacements made) add to the
//! [`Counters`] they are handed; the runner merges them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::document::Document;

pub mod registry;

/// The outcome of a filter (or a stateful stage) for one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The document goes on to the next stage.
    Keep,
    /// The document leaves the pipeline. The reason is the part after `<type>:` in the drop key,
    /// e.g. `too_short` for `length:too_short`.
    Drop(&'static str),
}

/// Named counters a stage may add to (merged across threads by addition).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters(pub BTreeMap<&'static str, u64>);

impl Counters {
    /// Adds `n` to counter `key`.
    pub fn add(&mut self, key: &'static str, n: u64) {
        if n > 0 {
            *self.0.entry(key).or_insert(0) += n;
        }
    }
}

impl std::ops::AddAssign<&Counters> for Counters {
    fn add_assign(&mut self, rhs: &Counters) {
        for (k, v) in &rhs.0 {
            *self.0.entry(k).or_insert(0) += v;
        }
    }
}

/// A stage that transforms each document and never removes one.
pub trait Map: Send + Sync {
    /// Transforms `doc` in place.
    fn apply(&self, doc: &mut Document, counters: &mut Counters);
}

/// A stage that keeps or drops each document on its own merits.
pub trait Filter: Send + Sync {
    /// Decides on `doc`, possibly rewriting it or recording signals on it.
    fn check(&self, doc: &mut Document, counters: &mut Counters) -> Verdict;
}

/// A stage whose verdicts depend on documents seen earlier in the run.
pub trait Stateful: Send {
    /// Decides on a batch of alive documents, given in input order. `verdicts` has the same
    /// length as `docs` and starts as all `Keep`.
    fn process(
        &mut self,
        docs: &mut [&mut Document],
        verdicts: &mut [Verdict],
        counters: &mut Counters,
    );

    /// Saves the state needed to continue after the documents seen so far (for `--resume`).
    /// Called between batches. The default saves nothing, for stages whose state is rebuilt
    /// by [`Stateful::load_state`] from nothing.
    fn save_state(&self, _dir: &Path) -> std::io::Result<()> {
        Ok(())
    }

    /// Restores what [`Stateful::save_state`] wrote.
    fn load_state(&mut self, _dir: &Path) -> std::io::Result<()> {
        Ok(())
    }

    /// Called once after the last batch; an error fails the run with this message (a stage
    /// that finds its own bookkeeping inconsistent says so here). The default has nothing to
    /// check.
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// A built stage, ready to run.
pub enum Stage {
    /// See [`Map`].
    Map(Box<dyn Map>),
    /// See [`Filter`].
    Filter(Box<dyn Filter>),
    /// See [`Stateful`].
    Stateful(Box<dyn Stateful>),
}
