//! The fast byte-level BPE encoder (`stages::tokenize::fast`) gives the ids of `tokenizers`
//! (`encode_fast(text, false)`, Oniguruma regexes): on every document of every shared data file
//! for GPT-2's tokenizer and for a BPE trained by corpusforge; on seeded random strings for every
//! tokenizer shape it supports; character by character for every Unicode scalar value; and its
//! character tables are Oniguruma's own. Tokenizers it cannot encode exactly are refused with a
//! reason (the stage then falls back to `tokenizers`). The slowest checks, of the split patterns
//! the tokenize stage never trains (Llama-3, Qwen2, o200k) over the whole corpus, are `#[ignore]`d:
//! `cargo test --release --test tokenize_fast -- --ignored` runs them.

#[path = "tokenize_fast/oracle.rs"]
mod oracle;

use std::fmt::Write as _;

use corpusforge::stages::tokenize::fast::pretokenize::{
    CL100K_PATTERN, GPT2_PATTERN, LLAMA3_PATTERN, O200K_PATTERN, QWEN2_PATTERN,
};
use corpusforge::stages::tokenize::fast::{FastBpe, WordCache};
use oracle::{
    compare_docs, data_dir, diff_report, fast_ids, fast_pieces, have_data, load_docs, oracle,
    oracle_ids, oracle_pieces, oracle_pre_tokenizer, patterns, trained_json, Train, DATA_FILES,
};
use rayon::prelude::*;
use serde_json::{json, Value};

// ---- random strings ----

/// Number of random strings.
const CASES: usize = 4000;

/// xorshift64*: small, seeded, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: u32, hi: u32) -> char {
        loop {
            if let Some(c) = char::from_u32(lo + (self.next() % (hi - lo + 1) as u64) as u32) {
                return c;
            }
        }
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const SPACES: [&str; 18] = [
    " ", " ", " ", "\t", "\n", "\r\n", "\r", "\u{a0}", "\u{3000}", "\u{2028}", "\u{2029}",
    "\u{85}", "\u{b}", "\u{c}", "\u{1680}", "\u{2009}", "\u{200b}", "\u{feff}",
];
const CONTRACTIONS: [&str; 22] = [
    "'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'ve", "'VE", "'m", "'M", "'ll", "'LL", "'lL",
    "'d", "'D", "'\u{17f}", "'", "''", "'x", "'r", "'v",
];
const EMOJI: [&str; 9] = ["👍", "👍🏽", "👨‍👩‍👧‍👦", "❤️", "☺︎", "🏳️‍🌈", "🇫🇷", "1️⃣", "🧑🏿‍💻"];
const SPECIAL: [&str; 7] = [
    "<|endoftext|>",
    "<|pad|>",
    "<|endoftext|",
    "<|endoftext|><|pad|>",
    "<|",
    "endoftext",
    "a/b//\n",
];
/// Letter ranges of several scripts, with combining vowels for Devanagari and Thai.
const SCRIPTS: [(u32, u32); 12] = [
    (0x61, 0x7A),
    (0xC0, 0xFF),
    (0x391, 0x3C9),
    (0x410, 0x44F),
    (0x627, 0x64A),
    (0x5D0, 0x5EA),
    (0x905, 0x94C),
    (0x4E00, 0x9FFF),
    (0x3041, 0x3096),
    (0xAC00, 0xD7A3),
    (0xE01, 0xE3A),
    (0x1100, 0x11FF),
];
const DIGITS: [(u32, u32); 8] = [
    (0x30, 0x39),
    (0x660, 0x669),
    (0x966, 0x96F),
    (0xFF10, 0xFF19),
    (0xB2, 0xB3),
    (0xBC, 0xBE),
    (0x2160, 0x216F),
    (0x1D7D8, 0x1D7E1),
];

fn random_text(rng: &mut Rng) -> String {
    let mut s = String::new();
    let parts = 1 + rng.below(30);
    for _ in 0..parts {
        match rng.below(21) {
            0..=3 => {
                let len = 1 + rng.below(10);
                let upper = rng.below(3) == 0;
                for k in 0..len {
                    let c = rng.range(b'a' as u32, b'z' as u32);
                    s.push(if upper && k == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    });
                }
            }
            4 | 5 => {
                for _ in 0..1 + rng.below(6) {
                    s.push_str(rng.pick(&SPACES));
                }
            }
            6 => s.push_str(rng.pick(&CONTRACTIONS)),
            7 => {
                let (lo, hi) = DIGITS[rng.below(DIGITS.len())];
                for _ in 0..1 + rng.below(8) {
                    s.push(rng.range(lo, hi));
                }
            }
            8 | 9 => {
                let (lo, hi) = SCRIPTS[rng.below(SCRIPTS.len())];
                for _ in 0..1 + rng.below(10) {
                    s.push(rng.range(lo, hi));
                }
            }
            10 => {
                s.push(rng.range(b'a' as u32, b'z' as u32));
                for _ in 0..1 + rng.below(3) {
                    s.push(rng.range(0x300, 0x36F));
                }
            }
            11 => s.push_str(rng.pick(&EMOJI)),
            12 => {
                let punct: Vec<char> = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~—–…«»“”‘’¿¡"
                    .chars()
                    .collect();
                for _ in 0..1 + rng.below(5) {
                    s.push(punct[rng.below(punct.len())]);
                }
            }
            13 => {
                let c = match rng.below(3) {
                    0 => rng.range(0, 0x1F),
                    1 => '\u{7f}',
                    _ => rng.range(0x80, 0x9F),
                };
                s.push(c);
            }
            14 | 15 => {
                for _ in 0..1 + rng.below(3) {
                    s.push(rng.range(0, 0x10FFFF));
                }
            }
            16 => s.push_str(rng.pick(&SPECIAL)),
            17 => {
                if rng.below(8) == 0 {
                    let len = 300 + rng.below(3000);
                    match rng.below(5) {
                        0 => s.extend(std::iter::repeat_n('a', len)),
                        1 => (0..len).for_each(|_| s.push(rng.range(b'a' as u32, b'z' as u32))),
                        2 => (0..len).for_each(|_| s.push(rng.range(b'0' as u32, b'9' as u32))),
                        3 => s.extend(std::iter::repeat_n(' ', len)),
                        _ => (0..len / 3).for_each(|_| s.push(rng.range(0x4E00, 0x9FFF))),
                    }
                }
            }
            18 => {
                // Case-mixed words with modifier letters, titlecase and marks, and a
                // contraction after them.
                let pool: Vec<char> = "aZbYcXʰªǅǈ\u{301}\u{308}ſKİıßẞΣσς".chars().collect();
                for _ in 0..1 + rng.below(6) {
                    s.push(pool[rng.below(pool.len())]);
                }
                if rng.below(2) == 0 {
                    s.push_str(rng.pick(&CONTRACTIONS));
                }
            }
            _ => s.push(' '),
        }
    }
    if rng.below(6) == 0 {
        s.push_str(rng.pick(&["  ", " ", "\n", " \n "]));
    }
    s
}

fn edited(json: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(json).unwrap();
    edit(&mut v);
    serde_json::to_string(&v).unwrap()
}

/// Every tokenizer shape the fast encoder supports, by name.
fn tokenizers_under_test() -> Vec<(String, String)> {
    // GPT-2's tokenizer when the shared data is there, else one trained on the fixtures: the
    // shapes below are variations of it.
    let gpt2 = base_json();
    let added = |content: &str, special: bool, normalized: bool| {
        json!({"id": 0, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": normalized, "special": special})
    };
    vec![
        ("gpt2".into(), gpt2.clone()),
        (
            "gpt2 add_prefix_space".into(),
            edited(&gpt2, |v| {
                v["pre_tokenizer"]["add_prefix_space"] = json!(true)
            }),
        ),
        (
            "gpt2 use_regex=false".into(),
            edited(&gpt2, |v| v["pre_tokenizer"]["use_regex"] = json!(false)),
        ),
        (
            "gpt2 as Split + ByteLevel".into(),
            edited(&gpt2, |v| {
                v["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": GPT2_PATTERN},
                     "behavior": "Isolated", "invert": false},
                    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                     "use_regex": false}]});
            }),
        ),
        (
            "gpt2 llama3 split ignore_merges".into(),
            edited(&gpt2, |v| {
                v["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN},
                     "behavior": "Isolated", "invert": false},
                    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                     "use_regex": false}]});
                v["model"]["ignore_merges"] = json!(true);
            }),
        ),
        (
            "gpt2 cl100k split (tiktoken form)".into(),
            cl100k_shape(&gpt2),
        ),
        (
            "gpt2 llama3 split (Llama 3's form)".into(),
            llama3_shape(&gpt2),
        ),
        (
            "gpt2 with added tokens".into(),
            edited(&gpt2, |v| {
                let list = v["added_tokens"].as_array_mut().unwrap();
                list.push(added("<|endoftext|>", true, false));
                list.push(added("<|pad|>", true, false));
                list.push(added("endoftext", false, true));
                list.push(added(" the cat", false, true));
                list.push(added("ing", false, false));
                list.push(added("<|", false, true));
            }),
        ),
        (
            "gpt2 legacy \"a b\" merges".into(),
            edited(&gpt2, |v| {
                let merges: Vec<Value> = std::iter::once(json!("#version: 0.2"))
                    .chain(v["model"]["merges"].as_array().unwrap().iter().map(|m| {
                        json!(format!(
                            "{} {}",
                            m[0].as_str().unwrap(),
                            m[1].as_str().unwrap()
                        ))
                    }))
                    .collect();
                v["model"]["merges"] = Value::Array(merges);
            }),
        ),
        (
            "gpt2 template post-processor".into(),
            edited(&gpt2, |v| {
                v["post_processor"] = json!({"type": "TemplateProcessing",
                    "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
                               {"Sequence": {"id": "A", "type_id": 0}}],
                    "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                             {"Sequence": {"id": "B", "type_id": 1}}],
                    "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>",
                        "ids": [50256], "tokens": ["<|endoftext|>"]}}});
            }),
        ),
        (
            "gpt2 o200k split".into(),
            edited(&gpt2, |v| {
                v["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": O200K_PATTERN},
                     "behavior": "Isolated", "invert": false},
                    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                     "use_regex": false}]});
            }),
        ),
        (
            "gpt2 qwen2 split".into(),
            edited(&gpt2, |v| {
                v["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN},
                     "behavior": "Isolated", "invert": false},
                    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
                     "use_regex": false}]});
            }),
        ),
        ("trained-8192".into(), trained_json(8192, Train::Gpt2)),
    ]
}

/// `json`'s vocabulary and merges with the pre-tokenizer of GPT-4's `tokenizer.json` as
/// converted from tiktoken: cl100k's possessive pattern, its matches kept (`Removed` with
/// `invert`), then a ByteLevel without its own regex.
fn cl100k_shape(json: &str) -> String {
    edited(json, |v| {
        v["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": CL100K_PATTERN},
             "behavior": "Removed", "invert": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
             "use_regex": false}]});
    })
}

/// `json`'s vocabulary and merges with the pre-tokenizer and model flags of Llama 3's
/// `tokenizer.json`: its pattern `Isolated`, a ByteLevel without its own regex, and
/// `ignore_merges` (a piece that is a whole token is that token).
fn llama3_shape(json: &str) -> String {
    edited(json, |v| {
        v["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN},
             "behavior": "Isolated", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
             "use_regex": false}]});
        v["model"]["ignore_merges"] = json!(true);
    })
}

/// Tokenizers trained with the split patterns (each takes a training run of its own).
fn trained_split_tokenizers() -> Vec<(String, String)> {
    vec![
        ("trained-2048".into(), trained_json(2048, Train::Gpt2)),
        (
            "trained-llama3-4096".into(),
            trained_json(4096, Train::Split(LLAMA3_PATTERN)),
        ),
        (
            "trained-o200k-4096".into(),
            trained_json(4096, Train::Split(O200K_PATTERN)),
        ),
        (
            "trained-cl100k-4096".into(),
            cl100k_shape(&trained_json(4096, Train::Split(CL100K_PATTERN))),
        ),
    ]
}

/// GPT-2's `tokenizer.json`, or without the shared data a BPE trained on the fixtures.
fn base_json() -> String {
    oracle::gpt2_json().unwrap_or_else(|| trained_json(8192, Train::Gpt2))
}

#[test]
fn random_strings_encode_identically() {
    random_strings(tokenizers_under_test());
}

#[test]
#[ignore = "slow: trains a tokenizer per split pattern"]
fn random_strings_encode_identically_trained_split_patterns() {
    random_strings(trained_split_tokenizers());
}

fn random_strings(tokenizers: Vec<(String, String)>) {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let texts: Vec<String> = (0..CASES).map(|_| random_text(&mut rng)).collect();
    for (name, json) in tokenizers {
        let fast = FastBpe::from_json(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
        let tok = oracle(&json);
        let mut cache = WordCache::new();
        for (i, text) in texts.iter().enumerate() {
            let want = oracle_ids(&tok, text);
            let got = fast_ids(&fast, &mut cache, text);
            assert!(
                want == got,
                "{}",
                diff_report(&format!("{name}: case {i}"), text, &want, &got)
            );
        }
        eprintln!("{name} ({}): {CASES} cases identical", fast.describe());
    }
}

#[test]
fn random_strings_split_identically() {
    let mut rng = Rng(0x5EED_1234_ABCD_0002);
    let texts: Vec<String> = (0..CASES).map(|_| random_text(&mut rng)).collect();
    for (pattern, splitter) in patterns() {
        let pre = oracle_pre_tokenizer(pattern);
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(
                fast_pieces(splitter, text),
                oracle_pieces(&pre, text),
                "{}: case {i}: {text:?}",
                splitter.name()
            );
        }
    }
}

// ---- refusals ----

fn gpt2_with(edit: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(&base_json()).unwrap();
    edit(&mut v);
    v.to_string()
}

/// A change to GPT-2's tokenizer.json.
type Edit = Box<dyn FnOnce(&mut Value)>;

fn refused(json: &str) -> String {
    FastBpe::from_json(json).expect_err("should be refused")
}

#[test]
fn refuses_what_it_cannot_encode_exactly() {
    if let Ok(bert) = std::fs::read_to_string(
        oracle::data_dir().join("tokenizers/bert-base-uncased/tokenizer.json"),
    ) {
        assert_eq!(refused(&bert), "the tokenizer has a normalizer");
    }
    let cases: Vec<(&str, Edit)> = vec![
        (
            "the tokenizer has a normalizer",
            Box::new(|v| v["normalizer"] = json!({"type": "NFC"})),
        ),
        (
            "the BPE model has dropout",
            Box::new(|v| v["model"]["dropout"] = json!(0.1)),
        ),
        (
            "the BPE model has a continuing_subword_prefix",
            Box::new(|v| v["model"]["continuing_subword_prefix"] = json!("##")),
        ),
        (
            "the BPE model has a end_of_word_suffix",
            Box::new(|v| v["model"]["end_of_word_suffix"] = json!("</w>")),
        ),
        (
            "the vocab lacks the byte-level token of byte 0x21",
            Box::new(|v| {
                v["model"]["vocab"]
                    .as_object_mut()
                    .unwrap()
                    .shift_remove("!");
                v["model"]["merges"] = json!([]);
            }),
        ),
        (
            "there is no pre-tokenizer (not a byte-level BPE)",
            Box::new(|v| v["pre_tokenizer"] = Value::Null),
        ),
        (
            "the pre-tokenizer \"Whitespace\" is not supported",
            Box::new(|v| v["pre_tokenizer"] = json!({"type": "Whitespace"})),
        ),
        (
            "the Split pattern \"\\\\w+\" is not one of the known patterns",
            Box::new(|v| {
                v["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated",
                     "invert": false},
                    {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]});
            }),
        ),
        (
            "the Split pre-tokenizer is neither Isolated nor Removed with invert",
            Box::new(|v| {
                v["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": corpusforge::stages::tokenize::fast::pretokenize::GPT2_PATTERN},
                     "behavior": "Removed", "invert": false},
                    {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]});
            }),
        ),
        (
            "added token \"<|endoftext|>\" sets single_word, lstrip or rstrip",
            Box::new(|v| {
                v["added_tokens"] = json!([{"id": 50256, "content": "<|endoftext|>",
                    "single_word": false, "lstrip": true, "rstrip": false,
                    "normalized": false, "special": true}]);
            }),
        ),
        (
            "the model is \"WordPiece\", not BPE",
            Box::new(|v| v["model"]["type"] = json!("WordPiece")),
        ),
    ];
    for (want, edit) in cases {
        assert_eq!(refused(&gpt2_with(edit)), want);
    }
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<FastBpe>();
    fn check_send<T: Send>() {}
    check_send::<corpusforge::stages::tokenize::fast::WordCache>();
}

// ---- short and very long texts ----

#[test]
fn gpt2_short_strings() {
    let Some(json) = oracle::gpt2_json() else {
        eprintln!("skipping: GPT-2's tokenizer is in the shared data, which is not there");
        return;
    };
    let fast = FastBpe::from_json(&json).unwrap();
    let tok = oracle::oracle(&json);
    let mut cache = WordCache::new();
    assert_eq!(
        fast.describe(),
        "fast byte-level BPE (GPT-2 pattern, 50257 tokens)"
    );
    for text in [
        "Hello world",
        "Hello world<|endoftext|>again",
        "",
        " ",
        "   leading and trailing   ",
        "It's 2024; they'll've gone.\r\n\r\n\tTabs\u{a0}nbsp",
    ] {
        let want = oracle::oracle_ids(&tok, text);
        let got = oracle::fast_ids(&fast, &mut cache, text);
        assert_eq!(got, want, "{text:?}");
    }
    assert_eq!(
        oracle::fast_ids(&fast, &mut cache, "Hello world"),
        [15496, 995]
    );
}

/// One-megabyte words (no space anywhere) are merged in O(n log n), like `tokenizers`, and
/// give its ids.
#[test]
fn megabyte_words() {
    let json = base_json();
    let fast = FastBpe::from_json(&json).unwrap();
    let tok = oracle::oracle(&json);
    let mut cache = WordCache::new();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let letters: String = (0..1 << 20)
        .map(|_| (b'a' + (next() % 26) as u8) as char)
        .collect();
    let han: String = (0..1 << 18)
        .map(|_| char::from_u32(0x4E00 + (next() % 0x5000) as u32).unwrap())
        .collect();
    for (name, text) in [
        ("a*1M", "a".repeat(1 << 20)),
        ("random letters", letters),
        ("digits", "1234567890".repeat(1 << 17)),
        ("han", han),
    ] {
        let t = std::time::Instant::now();
        let got = oracle::fast_ids(&fast, &mut cache, &text);
        let fast_s = t.elapsed().as_secs_f64();
        let want = oracle::oracle_ids(&tok, &text);
        assert!(
            want == got,
            "{}",
            oracle::diff_report(name, &text, &want, &got)
        );
        eprintln!(
            "{name}: {} bytes, {} ids, {fast_s:.3} s",
            text.len(),
            got.len()
        );
        assert!(fast_s < 10.0, "{name} took {fast_s} s");
    }
}

// ---- every code point ----

/// Probes around a character `{c}`: after and before each class, doubled, with spaces and
/// line breaks, in digit runs, and after an apostrophe for the contractions.
const PROBES: [&str; 25] = [
    "a{c}",
    "1{c}",
    "!{c}",
    " {c}",
    "{c} x",
    "{c}{c}",
    "{c}\n",
    "\n{c}",
    "\r{c}a",
    "{c}a",
    "{c}{c}{c}{c}",
    " {c}\n",
    "\t{c}",
    "{c}  !",
    "'{c}",
    "'{c}e",
    "'r{c}",
    "'v{c}",
    "'l{c}",
    "'{c}l",
    "A{c}",
    "{c}A",
    "A{c}b",
    "a{c}'S",
    " {c}{c}A",
];

#[test]
fn every_code_point_splits_like_oniguruma_gpt2() {
    every_code_point(&[GPT2_PATTERN]);
}

#[test]
#[ignore = "slow: the split patterns the tokenize stage does not train"]
fn every_code_point_splits_like_oniguruma_other_patterns() {
    every_code_point(&[LLAMA3_PATTERN, CL100K_PATTERN, QWEN2_PATTERN, O200K_PATTERN]);
}

fn every_code_point(which: &[&str]) {
    for (pattern, splitter) in patterns() {
        if !which.contains(&pattern) {
            continue;
        }
        let pre = oracle_pre_tokenizer(pattern);
        let checked: usize = (0..=0x10FFFFu32)
            .into_par_iter()
            .filter_map(char::from_u32)
            .map(|c| {
                let mut buf = [0u8; 4];
                let c = &*c.encode_utf8(&mut buf);
                for probe in PROBES {
                    let text = probe.replace("{c}", c);
                    let want = oracle_pieces(&pre, &text);
                    let got = fast_pieces(splitter, &text);
                    assert_eq!(
                        got,
                        want,
                        "{} on {text:?} (U+{:04X})",
                        splitter.name(),
                        c.chars().next().unwrap() as u32
                    );
                }
                PROBES.len()
            })
            .sum();
        eprintln!("{}: {checked} probes identical", splitter.name());
    }
}

/// The class bits, as `src/fast/pretokenize.rs` reads them.
const CLASSES: [(u8, &str); 5] = [
    (1, r"\p{L}"),
    (2, r"\p{N}"),
    (4, r"\s"),
    (8, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
    (16, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
];

/// Letters of the contraction alternatives, whose case-insensitive matches the tables list.
const FOLDED: &str = "stremvld";

fn class_of(regexes: &[(u8, onig::Regex)], c: char) -> u8 {
    let mut buf = [0u8; 4];
    let s = c.encode_utf8(&mut buf);
    regexes
        .iter()
        .filter(|(_, re)| re.is_match(s))
        .fold(0, |acc, (bit, _)| acc | bit)
}

fn generate() -> String {
    let regexes: Vec<(u8, onig::Regex)> = CLASSES
        .iter()
        .map(|(bit, p)| (*bit, onig::Regex::new(p).unwrap()))
        .collect();
    let mut runs: Vec<(u32, u8)> = Vec::new();
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        let class = class_of(&regexes, c);
        assert!(
            (class & 7).count_ones() <= 1,
            "U+{:04X} is in more than one of L, N, \\s",
            c as u32
        );
        if runs.last().is_none_or(|&(_, last)| last != class) {
            runs.push((c as u32, class));
        }
    }
    let mut out = String::new();
    out.push_str(
        "//! Unicode classes as Oniguruma (the `onig` regex engine of `tokenizers`) sees them.\n\
         //!\n\
         //! Generated by `tests/unicode_tables.rs` (`REGENERATE_TABLES=1 cargo test --release \
         --test\n\
         //! unicode_tables`); edit that file, not this one.\n\n",
    );
    out.push_str(
        "/// Runs of code points of one class: (first code point, class bits); a run ends where \
         the next\n/// begins and the last one ends at U+10FFFF. Bits: 1 `\\p{L}`, 2 `\\p{N}`, 4 \
         `\\s`,\n/// 8 `[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]`, 16 `[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]`.\n",
    );
    out.push_str("#[rustfmt::skip]\n");
    writeln!(
        out,
        "pub(super) static CLASS_RUNS: [(u32, u8); {}] = [",
        runs.len()
    )
    .unwrap();
    for chunk in runs.chunks(6) {
        out.push_str("   ");
        for (cp, class) in chunk {
            write!(out, " (0x{cp:05X}, {class}),").unwrap();
        }
        out.push('\n');
    }
    out.push_str("];\n\n");
    out.push_str(
        "/// For each letter of the contractions (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`), \
         the code\n/// points that `(?i:...)` matches it with.\n",
    );
    out.push_str("#[rustfmt::skip]\n");
    writeln!(
        out,
        "pub(super) static CASE_FOLDS: [(u8, &[u32]); {}] = [",
        FOLDED.len()
    )
    .unwrap();
    for letter in FOLDED.chars() {
        let re = onig::Regex::new(&format!("(?i:{letter})")).unwrap();
        let mut buf = [0u8; 4];
        let members: Vec<String> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| re.is_match(c.encode_utf8(&mut buf)))
            .map(|c| format!("0x{:04X}", c as u32))
            .collect();
        writeln!(out, "    (b'{letter}', &[{}]),", members.join(", ")).unwrap();
    }
    out.push_str("];\n");
    out
}

#[test]
fn tables_match_oniguruma() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/stages/tokenize/fast/tables.rs"
    );
    let fresh = generate();
    if std::env::var_os("REGENERATE_TABLES").is_some() {
        std::fs::write(path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(path).unwrap();
    assert!(
        current == fresh,
        "src/stages/tokenize/fast/tables.rs is stale: rerun with REGENERATE_TABLES=1"
    );
}

// ---- every document ----

fn check_all_files(label: &str, json: &str) {
    let fast = FastBpe::from_json(json).unwrap();
    let tok = oracle(json);
    eprintln!("{label}: {}", fast.describe());
    for file in DATA_FILES {
        let docs = load_docs(&data_dir().join(file));
        let (n, ids) = compare_docs(&format!("{label} {file}"), &fast, &tok, &docs);
        eprintln!("{label} {file}: {n} documents, {ids} ids identical");
    }
}

#[test]
fn gpt2_every_document() {
    if have_data() {
        check_all_files("gpt2", &base_json());
    }
}

#[test]
fn trained_8192_every_document() {
    if have_data() {
        check_all_files("trained-8192", &trained_json(8192, Train::Gpt2));
    }
}

#[test]
#[ignore = "slow: a second trained vocabulary over the whole corpus"]
fn trained_2048_every_document() {
    if have_data() {
        check_all_files("trained-2048", &trained_json(2048, Train::Gpt2));
    }
}

#[test]
#[ignore = "slow: a split pattern the tokenize stage does not train"]
fn trained_llama3_split_ignore_merges_every_document() {
    if have_data() {
        check_all_files(
            "trained-llama3-4096",
            &trained_json(4096, Train::Split(LLAMA3_PATTERN)),
        );
    }
}

#[test]
#[ignore = "slow: GPT-2's vocabulary under two more split patterns over the whole corpus"]
fn cl100k_and_llama3_shapes_every_document() {
    if have_data() {
        let gpt2 = base_json();
        check_all_files("gpt2 cl100k shape", &cl100k_shape(&gpt2));
        check_all_files("gpt2 llama3 shape", &llama3_shape(&gpt2));
    }
}

#[test]
#[ignore = "slow: a split pattern the tokenize stage does not train"]
fn trained_cl100k_split_every_document() {
    if have_data() {
        check_all_files(
            "trained-cl100k-4096",
            &cl100k_shape(&trained_json(4096, Train::Split(CL100K_PATTERN))),
        );
    }
}

#[test]
#[ignore = "slow: a split pattern the tokenize stage does not train"]
fn trained_o200k_split_ignore_merges_every_document() {
    if have_data() {
        check_all_files(
            "trained-o200k-4096",
            &trained_json(4096, Train::Split(O200K_PATTERN)),
        );
    }
}

#[test]
#[ignore = "slow: every split pattern over the whole corpus"]
fn every_document_splits_like_tokenizers() {
    if !have_data() {
        return;
    }
    let pres: Vec<_> = patterns()
        .into_iter()
        .map(|(p, s)| (oracle_pre_tokenizer(p), s))
        .collect();
    for file in DATA_FILES {
        let docs = load_docs(&data_dir().join(file));
        for (pre, splitter) in &pres {
            let pieces: usize = docs
                .par_iter()
                .map(|d| {
                    let want = oracle_pieces(pre, &d.text);
                    let got = fast_pieces(*splitter, &d.text);
                    if want != got {
                        let at = want.iter().zip(&got).position(|(a, b)| a != b).unwrap_or(0);
                        let show = |v: &[(usize, usize)]| -> Vec<String> {
                            v.iter()
                                .skip(at.saturating_sub(3))
                                .take(6)
                                .map(|&(s, e)| d.text[s..e].to_string())
                                .collect()
                        };
                        panic!(
                            "{} {file}: document {:?}: piece {at} differs\n\
                             tokenizers: {:?}\nfast:       {:?}",
                            splitter.name(),
                            d.id,
                            show(&want),
                            show(&got)
                        );
                    }
                    want.len()
                })
                .sum();
            eprintln!(
                "{} {file}: {} documents, {pieces} pieces identical",
                splitter.name(),
                docs.len()
            );
        }
    }
}
