//! Getting a tokenizer: train a byte-level BPE on the kept documents, or load a
//! `tokenizer.json`.
//!
//! Determinism of training. The `tokenizers` BPE trainer counts words in parallel (rayon) into
//! hash maps with per-process random keys (ahash), then repeatedly takes the most frequent pair
//! from a heap ordered by (count, pair ids). Counts are sums, so they do not depend on thread
//! count or hash order; ties between different pairs are broken by pair ids, which come from
//! the sorted alphabet and earlier merges. Hash order could only matter for two heap entries
//! of the same pair with the same count. We trained 2,048- to 40,000-token vocabularies on the
//! shared English, multilingual and HTML corpora (`min_frequency` 1 and 2), repeatedly, in
//! separate processes, with 1 and 2 threads: every `tokenizer.json` was byte-identical, and
//! `tests/tokenize.rs` checks it across thread counts, batch sizes and processes. Training runs
//! in the run's rayon pool.

use std::str::FromStr;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    Tokenizer, TokenizerBuilder,
};

use super::config::TrainSpec;

/// Trains a byte-level BPE (GPT-2 style) on `texts`; returns the tokenizer and its JSON (what
/// `OUT/tokenizer.json` holds). `specials` get the first ids, in order.
pub fn train_bpe<I>(
    spec: &TrainSpec,
    specials: &[String],
    texts: I,
) -> Result<(Tokenizer, String), String>
where
    I: Iterator<Item = String> + Send,
{
    let vocab_size = usize::try_from(spec.vocab_size).map_err(|e| e.to_string())?;
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(spec.min_frequency)
        .show_progress(false)
        .special_tokens(
            specials
                .iter()
                .map(|t| AddedToken::from(t.clone(), true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tok = TokenizerBuilder::<
        BPE,
        NormalizerWrapper,
        PreTokenizerWrapper,
        PostProcessorWrapper,
        DecoderWrapper,
    >::new()
    .with_model(BPE::default())
    .with_pre_tokenizer(Some(ByteLevel::new(false, true, true).into()))
    .with_post_processor(Some(ByteLevel::new(true, false, true).into()))
    .with_decoder(Some(ByteLevelDecoder::default().into()))
    .build()
    .map_err(|e| e.to_string())?;
    tok.train(&mut trainer, texts).map_err(|e| e.to_string())?;
    let mut json = tok.to_string(true).map_err(|e| e.to_string())?;
    json.push('\n');
    let loaded = Tokenizer::from_str(&json)
        .map_err(|e| format!("the trained tokenizer does not load back: {e}"))?;
    Ok((loaded, json))
}

/// Loads a `tokenizer.json` with padding and truncation turned off.
pub fn load(path: &std::path::Path) -> Result<Tokenizer, String> {
    let mut tok =
        Tokenizer::from_file(crate::storage::ensure_local(path)).map_err(|e| e.to_string())?;
    tok.with_padding(None);
    tok.with_truncation(None).map_err(|e| e.to_string())?;
    Ok(tok)
}

/// The tokenizer as JSON (what `OUT/tokenizer.json` holds for a loaded tokenizer).
pub fn to_json(tok: &Tokenizer) -> Result<String, String> {
    let mut json = tok.to_string(true).map_err(|e| e.to_string())?;
    json.push('\n');
    Ok(json)
}

/// Token ids as text, special tokens included.
pub fn decode(tok: &Tokenizer, ids: &[u32]) -> Result<String, String> {
    tok.decode(ids, false).map_err(|e| e.to_string())
}

/// Up to `n` special tokens of the vocabulary, in id order, for error messages: the added
/// tokens, or when there are none, vocabulary entries shaped like one (`<|...|>`, `[XXX]`,
/// `<s>`, `</s>`).
pub fn special_tokens(tok: &Tokenizer, n: usize) -> Vec<String> {
    let mut found: Vec<(u32, String)> = tok
        .get_added_tokens_decoder()
        .into_iter()
        .map(|(id, t)| (id, t.content))
        .collect();
    if found.is_empty() {
        let looks_special = |t: &str| {
            (t.starts_with("<|") && t.ends_with("|>") && t.len() > 4)
                || (t.starts_with('[')
                    && t.ends_with(']')
                    && t.len() > 2
                    && t[1..t.len() - 1].chars().all(|c| c.is_ascii_uppercase()))
                || matches!(t, "<s>" | "</s>" | "<unk>" | "<pad>" | "<eos>" | "<bos>")
        };
        found = tok
            .get_vocab(false)
            .into_iter()
            .filter(|(t, _)| looks_special(t))
            .map(|(t, id)| (id, t))
            .collect();
    }
    found.sort();
    found.into_iter().take(n).map(|(_, t)| t).collect()
}
