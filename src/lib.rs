//! corpusforge: declarative pretraining-corpus pipelines.
//!
//! A pipeline (YAML, see [`config`]) names inputs, stages and an output. The [`runner`] reads
//! the inputs as a stream of [`document::Document`]s (through [`io`] readers), passes batches
//! through the [`stage`]s in order, and writes the kept, dropped and rejected records as
//! sharded parquet datasets, with a manifest and per-stage statistics that account for every
//! input record.

pub mod config;
pub mod diff;
pub mod distributed;
pub mod document;
pub mod export;
pub mod inspect;
pub mod io;
pub mod report;
pub mod runner;
pub mod stage;
pub mod stages;
pub mod text;
pub mod train;
