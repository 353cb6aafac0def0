//! corpusforge: declarative pretraining-corpus pipelines.
//!
//! A pipeline (YAML, see [`config`]) names inputs, stages and an output. The [`pipeline`]
//! module sequences a run: the [`runner`] reads the inputs as a stream of
//! [`document::Document`]s (through [`io`] readers), passes batches through the streaming
//! [`stage`]s in order, and writes the kept, dropped and rejected records as sharded parquet
//! datasets; then the tokenize phase ([`stages::tokenize`]) writes token shards, the
//! [`manifest`] and per-stage statistics account for every input record, [`train`] trains a
//! model on the tokens and [`report`] writes the quality report. A run split into tasks
//! exchanges files between its phases ([`distributed`]).
//!
//! The modules form layers, each using only those below it: [`config`], [`document`],
//! [`text`] → [`io`] → [`stage`], [`stages`] → [`calibrate`], [`runner`] → [`manifest`], [`train`],
//! [`report`] → [`distributed`] → [`pipeline`] → the command line.

pub mod calibrate;
pub mod classifier;
pub mod config;
pub mod diff;
pub mod distributed;
pub mod document;
pub mod export;
pub mod inspect;
pub mod io;
pub mod manifest;
pub mod pipeline;
pub mod report;
pub mod runner;
pub mod stage;
pub mod stages;
pub mod storage;
pub mod text;
pub mod train;
