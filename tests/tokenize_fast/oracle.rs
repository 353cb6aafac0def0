//! The oracle side of the fast encoder's tests: the shared data, `tokenizers` itself, the
//! tokenizers under test, and comparisons that stop at the first difference and show it.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use corpusforge::stages::tokenize::fast::{FastBpe, WordCache};
use corpusforge::stages::tokenize::tokenizer::train_bpe;
use corpusforge::stages::tokenize::TrainSpec;
use rayon::prelude::*;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, OffsetReferential, OffsetType,
    PostProcessorWrapper, PreTokenizedString, PreTokenizer, PreTokenizerWrapper,
    SplitDelimiterBehavior, Tokenizer, TokenizerBuilder,
};

/// `../shared/data` beside the clone.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
}

/// Every data file the identity tests cover, relative to [`data_dir`].
pub const DATA_FILES: [&str; 6] = [
    "english/prose.jsonl",
    "html/pages.jsonl",
    "multilingual/fortunes.jsonl",
    "multilingual/installation-guide.jsonl",
    "multilingual/debian-handbook.jsonl",
    "html-extraction/trafilatura-eval.jsonl.gz",
];

/// A document: its id and text.
pub struct Doc {
    pub id: String,
    pub text: String,
}

/// The documents of a JSON-lines file (gzip-compressed when it ends in `.gz`).
pub fn load_docs(path: &Path) -> Vec<Doc> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    BufReader::with_capacity(1 << 20, reader)
        .lines()
        .map(|line| {
            let line = line.unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            Doc {
                id: v["id"]
                    .as_str()
                    .map_or_else(|| v["id"].to_string(), str::to_owned),
                text: v["text"].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

/// Whether the shared data is there (the data tests skip, saying so, when it is not).
pub fn have_data() -> bool {
    let ok = data_dir().join(DATA_FILES[0]).exists();
    if !ok {
        eprintln!(
            "skipping: no shared data at {} (the fixture tokenizers still run)",
            data_dir().display()
        );
    }
    ok
}

/// GPT-2's `tokenizer.json`, when the shared data is there.
pub fn gpt2_json() -> Option<String> {
    std::fs::read_to_string(data_dir().join("tokenizers/gpt2/tokenizer.json")).ok()
}

/// The special tokens the trained tokenizers get, in id order.
pub const SPECIALS: [&str; 2] = ["<|endoftext|>", "<|pad|>"];

/// How a test tokenizer splits words before the byte-level step.
#[derive(Clone, Copy, Debug)]
pub enum Train {
    /// `ByteLevel(add_prefix_space: false, trim_offsets: true, use_regex: true)`, exactly as
    /// corpusforge trains.
    Gpt2,
    /// `Sequence[Split(pattern, Isolated), ByteLevel(false, true, false)]`, and `ignore_merges`
    /// set afterwards, as Llama-3's tokenizer has it.
    Split(&'static str),
}

/// A sample of every corpus to train on: a spread of prose, fortunes, installation-guide and
/// HTML documents (about 9 MB) when the shared data is there, else the repository's fixtures.
fn training_texts() -> Vec<String> {
    let dir = data_dir();
    if !have_data() {
        return fixture_texts();
    }
    let mut texts = Vec::new();
    for (file, every) in [
        ("english/prose.jsonl", 3),
        ("multilingual/fortunes.jsonl", 8),
        ("multilingual/installation-guide.jsonl", 3),
        ("html/pages.jsonl", 20),
    ] {
        texts.extend(
            load_docs(&dir.join(file))
                .into_iter()
                .step_by(every)
                .map(|d| d.text),
        );
    }
    texts
}

/// Every document text of the repository's fixtures that holds text (jsonl, txt).
pub fn fixture_texts() -> Vec<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut texts = Vec::new();
    for f in ["jsonl/prose.jsonl", "jsonl/multilingual.jsonl"] {
        texts.extend(load_docs(&root.join(f)).into_iter().map(|d| d.text));
    }
    for f in [
        "txt/hamlet.txt",
        "txt/python_tutorial.txt",
        "txt/nested/guide_jpn.txt",
    ] {
        texts.push(std::fs::read_to_string(root.join(f)).unwrap());
    }
    texts
}

/// A byte-level BPE as `tokenizer.json` text: for [`Train::Gpt2`], trained by corpusforge's own
/// trainer (`train_bpe`, as the tokenize stage trains, [`SPECIALS`] as special tokens); for a
/// split pattern, trained by `tokenizers` with that pre-tokenizer and `ignore_merges` set, as
/// Llama-3's tokenizer has it. Cached in the test target directory, since training is
/// deterministic and takes a while.
pub fn trained_json(vocab_size: usize, how: Train) -> String {
    let tag = match how {
        Train::Gpt2 => "gpt2".to_string(),
        Train::Split(p) => format!("split{:016x}", fnv(p.as_bytes())),
    };
    let source = if have_data() { "shared" } else { "fixtures" };
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("fast-bpe-{source}-{vocab_size}-{tag}.json"));
    if let Ok(json) = std::fs::read_to_string(&cache) {
        return json;
    }
    let json = match how {
        Train::Gpt2 => {
            let spec = TrainSpec {
                vocab_size: vocab_size as u64,
                min_frequency: 2,
                special_tokens: Vec::new(),
                max_docs: None,
            };
            let specials: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
            train_bpe(&spec, &specials, training_texts().into_iter())
                .unwrap()
                .1
        }
        Train::Split(p) => train_split(vocab_size, p),
    };
    std::fs::write(&cache, &json).unwrap();
    json
}

/// A byte-level BPE with a Split pre-tokenizer, trained by `tokenizers`, `ignore_merges` set.
fn train_split(vocab_size: usize, pattern: &str) -> String {
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(
            SPECIALS
                .iter()
                .map(|t| AddedToken::from(*t, true))
                .collect(),
        )
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let pre: PreTokenizerWrapper = Sequence::new(vec![
        Split::new(
            SplitPattern::Regex(pattern.into()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .unwrap()
        .into(),
        ByteLevel::new(false, true, false).into(),
    ])
    .into();
    let mut tok = TokenizerBuilder::<
        BPE,
        NormalizerWrapper,
        PreTokenizerWrapper,
        PostProcessorWrapper,
        DecoderWrapper,
    >::new()
    .with_model(BPE::default())
    .with_pre_tokenizer(Some(pre))
    .with_post_processor(Some(ByteLevel::new(true, false, true).into()))
    .with_decoder(Some(
        tokenizers::decoders::byte_level::ByteLevel::default().into(),
    ))
    .build()
    .unwrap();
    tok.train(&mut trainer, training_texts().into_iter())
        .unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&tok.to_string(true).unwrap()).unwrap();
    v["model"]["ignore_merges"] = serde_json::Value::Bool(true);
    serde_json::to_string_pretty(&v).unwrap()
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The oracle: `tokenizers` loading the same JSON, as corpusforge loads it.
pub fn oracle(json: &str) -> Tokenizer {
    let mut tok = Tokenizer::from_str(json).unwrap();
    tok.with_padding(None);
    tok.with_truncation(None).unwrap();
    tok
}

/// The oracle's ids for `text`.
pub fn oracle_ids(tok: &Tokenizer, text: &str) -> Vec<u32> {
    tok.encode_fast(text, false).unwrap().get_ids().to_vec()
}

/// The fast encoder's ids for `text`.
pub fn fast_ids(fast: &FastBpe, cache: &mut WordCache, text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    fast.encode_into(text, cache, &mut out);
    out
}

/// A report of where two id sequences first differ, with both around that point.
pub fn diff_report(what: &str, text: &str, want: &[u32], got: &[u32]) -> String {
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let lo = at.saturating_sub(8);
    let shown: String = text.chars().take(300).collect();
    format!(
        "{what}: ids differ at position {at} (tokenizers {} ids, fast {})\n\
         text ({} bytes, first 300 chars): {shown:?}\n\
         tokenizers [{lo}..]: {:?}\nfast       [{lo}..]: {:?}",
        want.len(),
        got.len(),
        text.len(),
        &want[lo..want.len().min(at + 8)],
        &got[lo..got.len().min(at + 8)],
    )
}

/// Compares every document of `docs`, in parallel, and panics at the first (in document
/// order) that differs. Returns the number of documents and of ids compared.
pub fn compare_docs(label: &str, fast: &FastBpe, tok: &Tokenizer, docs: &[Doc]) -> (usize, usize) {
    let first_bad = docs
        .par_iter()
        .enumerate()
        .map_init(WordCache::new, |cache, (i, d)| {
            let want = oracle_ids(tok, &d.text);
            let got = fast_ids(fast, cache, &d.text);
            if want == got {
                Ok(want.len())
            } else {
                Err((i, want, got))
            }
        })
        .collect::<Vec<_>>();
    let mut ids = 0;
    for r in first_bad {
        match r {
            Ok(n) => ids += n,
            Err((i, want, got)) => {
                let d = &docs[i];
                panic!(
                    "{}",
                    diff_report(
                        &format!("{label}: document {:?}", d.id),
                        &d.text,
                        &want,
                        &got
                    )
                );
            }
        }
    }
    (docs.len(), ids)
}

/// The pieces the `tokenizers` pre-tokenizer described by `json` (a `pre_tokenizer` object)
/// cuts `text` into, as byte ranges of `text`.
pub fn oracle_pieces(pre: &PreTokenizerWrapper, text: &str) -> Vec<(usize, usize)> {
    let mut pts = PreTokenizedString::from(text);
    pre.pre_tokenize(&mut pts).unwrap();
    pts.get_splits(OffsetReferential::Original, OffsetType::Byte)
        .into_iter()
        .map(|(_, o, _)| o)
        .collect()
}

/// A pre-tokenizer of `tokenizers` for a split pattern: GPT-2's `ByteLevel` for that pattern,
/// else `Sequence[Split, ByteLevel(use_regex: false)]`.
pub fn oracle_pre_tokenizer(pattern: &str) -> PreTokenizerWrapper {
    if pattern == corpusforge::stages::tokenize::fast::pretokenize::GPT2_PATTERN {
        ByteLevel::new(false, true, true).into()
    } else {
        Sequence::new(vec![
            Split::new(
                SplitPattern::Regex(pattern.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .unwrap()
            .into(),
            ByteLevel::new(false, true, false).into(),
        ])
        .into()
    }
}

/// The fast splitter's pieces of `text`, as byte ranges.
pub fn fast_pieces(
    splitter: corpusforge::stages::tokenize::fast::pretokenize::Splitter,
    text: &str,
) -> Vec<(usize, usize)> {
    let base = text.as_ptr() as usize;
    let mut out = Vec::new();
    splitter.split(text, |p| {
        let start = p.as_ptr() as usize - base;
        out.push((start, start + p.len()));
    });
    out
}

/// The patterns with a fast splitter, each with it.
pub fn patterns() -> Vec<(
    &'static str,
    corpusforge::stages::tokenize::fast::pretokenize::Splitter,
)> {
    use corpusforge::stages::tokenize::fast::pretokenize::*;
    [
        GPT2_PATTERN,
        LLAMA3_PATTERN,
        CL100K_PATTERN,
        QWEN2_PATTERN,
        O200K_PATTERN,
    ]
    .into_iter()
    .map(|p| (p, Splitter::for_pattern(p).unwrap()))
    .collect()
}
