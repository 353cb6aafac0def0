//! Which encoder turns text into ids: the fast byte-level BPE ([`super::fast`]) for every
//! tokenizer it encodes exactly (every tokenizer this stage trains, GPT-2, the Llama-3 / cl100k /
//! o200k family), else the `tokenizers` library, the oracle the fast encoder is tested against.
//! The choice and its reason are logged once per run and recorded in the manifest; the ids are
//! the same either way.

use std::cell::RefCell;

use rayon::prelude::*;
use tokenizers::Tokenizer;

use super::docs::Doc;
use super::fast::{FastBpe, WordCache};

thread_local! {
    /// One word cache per worker thread, kept across batches (and runs: it is bound to the
    /// encoder that filled it, so it never serves another tokenizer's ids).
    static CACHE: RefCell<WordCache> = RefCell::new(WordCache::new());
}

/// The encoder of a run.
pub enum Encoder<'a> {
    /// The fast byte-level BPE.
    Fast(Box<FastBpe>),
    /// The `tokenizers` library, with the reason the fast encoder is not used.
    Library(&'a Tokenizer, String),
}

/// Token ids of a run of documents, end to end: document `i` is
/// `ids[ends[i - 1]..ends[i]]` (from 0 for the first).
#[derive(Debug, Default)]
pub struct Encoded {
    /// Every document's ids, one after another.
    pub ids: Vec<u32>,
    /// Where each document's ids end.
    pub ends: Vec<usize>,
}

impl<'a> Encoder<'a> {
    /// The fast encoder when it supports `json` (the tokenizer's file), else `tok`.
    pub fn new(tok: &'a Tokenizer, json: &str) -> Self {
        match FastBpe::from_json(json) {
            Ok(f) => Encoder::Fast(Box::new(f)),
            Err(why) => Encoder::Library(tok, why),
        }
    }

    /// Which encoder, and why, in one line.
    pub fn describe(&self) -> String {
        match self {
            Encoder::Fast(f) => f.describe(),
            Encoder::Library(_, why) => {
                format!("tokenizers library (the fast encoder does not apply: {why})")
            }
        }
    }

    /// Short name for the manifest and the report: `fast` or `tokenizers`.
    pub fn name(&self) -> &'static str {
        match self {
            Encoder::Fast(_) => "fast",
            Encoder::Library(..) => "tokenizers",
        }
    }

    /// Appends the ids of `text` (no special tokens added) to `out`.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<(), String> {
        match self {
            Encoder::Fast(f) => {
                CACHE.with(|c| f.encode_into(text, &mut c.borrow_mut(), out));
                Ok(())
            }
            Encoder::Library(tok, _) => {
                let enc = tok.encode_fast(text, false).map_err(|e| e.to_string())?;
                out.extend_from_slice(enc.get_ids());
                Ok(())
            }
        }
    }

    /// Encodes `docs` in parallel on the current rayon pool, each between `bos` (if any) and
    /// `eos`, into one buffer per chunk of documents, in document order. An error names the
    /// document that failed.
    pub fn encode_docs(
        &self,
        docs: &[Doc],
        bos: Option<u32>,
        eos: u32,
    ) -> Result<Vec<Encoded>, (String, String)> {
        let chunk = docs.len().div_ceil(rayon::current_num_threads() * 4).max(1);
        docs.par_chunks(chunk)
            .map(|chunk| {
                let bytes: usize = chunk.iter().map(|d| d.text.len()).sum();
                let mut e = Encoded {
                    // About four bytes a token: one allocation for the chunk, usually.
                    ids: Vec::with_capacity(bytes / 3 + 2 * chunk.len()),
                    ends: Vec::with_capacity(chunk.len()),
                };
                for d in chunk {
                    e.ids.extend(bos);
                    self.encode_into(&d.text, &mut e.ids)
                        .map_err(|m| (d.id.clone(), m))?;
                    e.ids.push(eos);
                    e.ends.push(e.ids.len());
                }
                Ok(e)
            })
            .collect()
    }
}
