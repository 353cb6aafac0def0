//! The tokenize stage end to end: a trained tokenizer is deterministic, loaded tokenizers
//! (GPT-2, BERT) encode exactly as known, EOS/BOS are placed exactly, the train/val split is
//! stable when documents are added, the schema matches `schemas/tokens.schema.json`, llm.c
//! export round-trips, and errors name what is wrong.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use corpusforge::config::{self, Pipeline};
use corpusforge::export::{export_llmc, read_llmc, ExportError};
use corpusforge::manifest;
use corpusforge::pipeline::{self, RunError, RunOptions};
use corpusforge::stages::tokenize::shards::{
    read_token_shard, split_shards, token_schema_json, TokenRow, TokenShardOptions,
    TokenShardWriter,
};
use corpusforge::stages::tokenize::{split_of, TokenizeError};

const BIN: &str = env!("CARGO_BIN_EXE_corpusforge");

/// Deterministic English-like documents: `doc-{i}` for i in `range`, sentences drawn from a
/// small word list by a seeded generator (the text of a document depends on its number only).
fn corpus(dir: &Path, name: &str, ids: impl Iterator<Item = usize>) -> PathBuf {
    const WORDS: &[&str] = &[
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "it",
        "as",
        "was",
        "with",
        "be",
        "by",
        "on",
        "not",
        "he",
        "this",
        "are",
        "or",
        "his",
        "from",
        "at",
        "which",
        "but",
        "have",
        "an",
        "had",
        "they",
        "you",
        "were",
        "their",
        "one",
        "all",
        "we",
        "can",
        "her",
        "has",
        "there",
        "been",
        "if",
        "more",
        "when",
        "will",
        "would",
        "who",
        "so",
        "no",
        "river",
        "mountain",
        "language",
        "token",
        "corpus",
        "parquet",
        "shard",
        "training",
        "model",
        "document",
        "pipeline",
        "quality",
        "filter",
        "duplicate",
        "English",
        "Debian",
        "kernel",
        "Python",
        "Shakespeare",
        "Milton",
        "paradise",
        "lost",
        "king",
        "queen",
        "castle",
        "sword",
        "naïve",
        "café",
        "über",
        "Ærø",
        "東京",
        "Москва",
        "2024",
        "3.14",
        "e-mail",
        "well-known",
        "(see",
        "below)",
    ];
    let mut s = String::new();
    for i in ids {
        let mut x: u64 = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let sentences = 3 + next() % 12;
        let mut text = String::new();
        for _ in 0..sentences {
            let words = 4 + next() % 14;
            for w in 0..words {
                let word = WORDS[(next() % WORDS.len() as u64) as usize];
                if w == 0 {
                    let mut c = word.chars();
                    let first: String = c
                        .next()
                        .map(|f| f.to_uppercase().collect())
                        .unwrap_or_default();
                    text.push_str(&first);
                    text.push_str(c.as_str());
                } else {
                    text.push(' ');
                    text.push_str(word);
                }
            }
            text.push_str(if next() % 5 == 0 { "?\n" } else { ". " });
        }
        text.push_str(&format!("[{i}]"));
        s.push_str(&serde_json::json!({"id": format!("doc-{i}"), "text": text}).to_string());
        s.push('\n');
    }
    let p = dir.join(name);
    fs::write(&p, s).expect("write corpus");
    p
}

fn pipeline_yaml(input: &Path, out: &Path, tokenize: &str) -> String {
    format!(
        r#"
input:
  paths: ["{input}"]
stages:
  - type: normalize
{tokenize}
output:
  dir: "{out}"
  shard_max_docs: 300
  row_group_docs: 64
run:
  batch_size: 100
  seed: 7
"#,
        input = input.display(),
        out = out.display()
    )
}

const TRAIN: &str = r#"  - type: tokenize
    tokenizer:
      train: {vocab_size: 600, min_frequency: 2, special_tokens: ["<pad>"]}
    eos: "<|endoftext|>"
    val_fraction: 0.2
    shard_max_tokens: 20000
    row_group_tokens: 5000
"#;

fn load(yaml: &str) -> Pipeline {
    config::load_str(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn run(p: &Pipeline, threads: usize) -> Result<pipeline::RunSummary, RunError> {
    let opts = RunOptions {
        threads: Some(threads),
        ..Default::default()
    };
    pipeline::run_data(p, Path::new("."), &opts)
}

fn run_ok(p: &Pipeline, threads: usize) -> pipeline::RunSummary {
    run(p, threads).unwrap_or_else(|e| panic!("{e}"))
}

/// Every row of a split, in shard and row order.
fn split_rows(out: &Path, split: &str) -> Vec<TokenRow> {
    let mut rows = Vec::new();
    for shard in split_shards(out, split).unwrap() {
        for b in read_token_shard(&shard, 100).unwrap() {
            rows.extend(b.unwrap());
        }
    }
    rows
}

/// The token files of an output tree plus the tokenizer: path -> bytes.
fn token_outputs(out: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    common::tree(out)
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with("tokens/") || k == "tokenizer.json" || k.starts_with("documents/")
        })
        .collect()
}

fn gpt2() -> Option<PathBuf> {
    let p = common::shared_data()?.join("tokenizers/gpt2/tokenizer.json");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} is not present", p.display());
        None
    }
}

#[test]
fn trained_tokenizer_and_shards_are_deterministic_across_threads_batches_and_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), "in.jsonl", 0..1500);
    let a = tmp.path().join("a");
    let s = run_ok(&load(&pipeline_yaml(&input, &a, TRAIN)), 1);
    let want = token_outputs(&a);
    assert!(want.contains_key("tokenizer.json"));
    let token_shards = want.keys().filter(|k| k.starts_with("tokens/")).count();
    assert!(
        token_shards >= 4,
        "expected rolled-over token shards: {:?}",
        want.keys().collect::<Vec<_>>()
    );

    // 2 threads and another batch size, in this process.
    let b = tmp.path().join("b");
    let mut p = load(&pipeline_yaml(&input, &b, TRAIN));
    p.run.batch_size = 37;
    run_ok(&p, 2);
    let got = token_outputs(&b);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (k, v) in &want {
        assert!(got[k] == *v, "{k} differs between 1 thread and 2 threads");
    }

    // Two more processes (each with its own hash-map keys), 1 and 2 threads.
    let yaml = tmp.path().join("p.yaml");
    fs::write(
        &yaml,
        pipeline_yaml(&input, &tmp.path().join("unused"), TRAIN),
    )
    .unwrap();
    for (name, threads) in [("c", "1"), ("d", "2")] {
        let dir = tmp.path().join(name);
        let o = Command::new(BIN)
            .args([
                "run",
                yaml.to_str().unwrap(),
                "--output",
                dir.to_str().unwrap(),
                "--threads",
                threads,
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            stderr.contains("tokens/s") && stderr.contains("MB/s"),
            "no throughput line: {stderr}"
        );
        // A tokenizer this stage trains is always encoded by the fast encoder, and says so.
        assert!(
            stderr.contains("encoder: fast byte-level BPE (GPT-2 pattern, 600 tokens)")
                && stderr.contains("encoding with the fast encoder"),
            "no encoder line: {stderr}"
        );
        // Documents shards name their source relative to the pipeline file, so compare tokens.
        let got = token_outputs(&dir);
        for (k, v) in want.iter().filter(|(k, _)| !k.starts_with("documents/")) {
            assert!(got.get(k) == Some(v), "{k} differs in process run {name}");
        }
    }

    // The accounting still adds up, with the tokenize stage keeping everything it saw.
    assert_eq!(s.stats.verify(), Ok(()));
    let t = s.stats.stages.last().unwrap();
    assert_eq!(
        (t.kind.as_str(), t.seen, t.kept),
        ("tokenize", s.stats.kept, s.stats.kept)
    );
    let m = manifest::read(&a.join("manifest.json")).unwrap();
    let tokens = m.tokens.expect("tokens section");
    assert_eq!(tokens.vocab_size, 600);
    assert_eq!(tokens.source, "trained");
    // Special tokens first, in order: <pad>, then eos.
    assert_eq!(
        (tokens.eos.token.as_str(), tokens.eos.id),
        ("<|endoftext|>", 1)
    );
    assert_eq!(
        t.counters["docs_train"] + t.counters["docs_val"],
        s.stats.kept
    );
    assert_eq!(t.counters["tokens_train"], tokens.splits["train"].tokens);
    assert_eq!(t.counters["tokens_val"], tokens.splits["val"].tokens);
    let (bytes, hash) = corpusforge::io::writer::hash_file(&a.join("tokenizer.json")).unwrap();
    assert!(bytes > 0);
    assert_eq!(hash, tokens.tokenizer_xxh3);
    // Every token shard is in the manifest's outputs with its rows and hash.
    let listed: u64 = m
        .outputs
        .iter()
        .filter(|f| f.path.starts_with("tokens/"))
        .map(|f| f.rows)
        .sum();
    assert_eq!(listed, s.stats.kept);
    for f in m.outputs.iter().filter(|f| f.path.starts_with("tokens/")) {
        let (bytes, hash) = corpusforge::io::writer::hash_file(&a.join(&f.path)).unwrap();
        assert_eq!((bytes, hash), (f.bytes, f.xxh3.clone()), "{}", f.path);
    }
}

#[test]
fn eos_ends_every_document_and_bos_starts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), "in.jsonl", 0..400);
    let out = tmp.path().join("out");
    let stage = TRAIN.replace(
        "eos: \"<|endoftext|>\"",
        "eos: \"<|endoftext|>\"\n    bos: \"<|startoftext|>\"",
    );
    let s = run_ok(&load(&pipeline_yaml(&input, &out, &stage)), 2);
    let m = manifest::read(&out.join("manifest.json"))
        .unwrap()
        .tokens
        .unwrap();
    let (eos, bos) = (m.eos.id, m.bos.as_ref().expect("bos").id);
    // <pad>, <|endoftext|>, <|startoftext|> in that order.
    assert_eq!((m.eos.id, bos), (1, 2));
    let mut docs = 0u64;
    for split in ["train", "val"] {
        let rows = split_rows(&out, split);
        let tokens: u64 = rows.iter().map(|r| r.tokens.len() as u64).sum();
        assert_eq!(tokens, m.splits[split].tokens, "{split}");
        assert_eq!(rows.len() as u64, m.splits[split].docs, "{split}");
        for r in &rows {
            assert_eq!(r.tokens.first(), Some(&bos), "{}", r.doc_id);
            assert_eq!(r.tokens.last(), Some(&eos), "{}", r.doc_id);
            assert_eq!(
                r.tokens.iter().filter(|&&t| t == eos).count(),
                1,
                "{}",
                r.doc_id
            );
            assert_eq!(
                r.tokens.iter().filter(|&&t| t == bos).count(),
                1,
                "{}",
                r.doc_id
            );
            assert_eq!(split_of(&r.doc_id, 7, 0.2), split);
        }
        docs += rows.len() as u64;
    }
    assert_eq!(docs, s.stats.kept);
    assert_eq!(docs, 400);
}

#[test]
fn a_document_keeps_its_split_when_documents_are_added() {
    let tmp = tempfile::tempdir().unwrap();
    let small = corpus(tmp.path(), "small.jsonl", 0..500);
    // The larger corpus interleaves new documents before, among and after the old ones.
    let big = corpus(
        tmp.path(),
        "big.jsonl",
        (0..1200).map(|i| (i * 7919) % 1200),
    );
    let splits = |input: &Path, name: &str| {
        let out = tmp.path().join(name);
        run_ok(&load(&pipeline_yaml(input, &out, TRAIN)), 2);
        let mut m = std::collections::BTreeMap::new();
        for split in ["train", "val"] {
            for r in split_rows(&out, split) {
                m.insert(r.doc_id, split);
            }
        }
        m
    };
    let a = splits(&small, "a");
    let b = splits(&big, "b");
    assert_eq!(a.len(), 500);
    assert_eq!(b.len(), 1200);
    let val = a.values().filter(|s| **s == "val").count();
    assert!(
        (60..140).contains(&val),
        "val fraction 0.2 of 500 gave {val}"
    );
    for (id, split) in &a {
        assert_eq!(b.get(id), Some(split), "{id} moved");
    }
}

#[test]
fn gpt2_encodes_hello_world_exactly() {
    let Some(tok) = gpt2() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    fs::write(
        &input,
        "{\"id\":\"a\",\"text\":\"Hello world\"}\n{\"id\":\"b\",\"text\":\"Hello, world!\"}\n{\"id\":\"c\",\"text\":\"x<|endoftext|>y\"}\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    // A relative tokenizer path is relative to the pipeline file (base_dir).
    let base = tok.parent().unwrap().parent().unwrap();
    let stage = "  - type: tokenize\n    tokenizer: {path: gpt2/tokenizer.json}\n    eos: \"<|endoftext|>\"\n    val_fraction: 0\n";
    let p = load(&pipeline_yaml(&input, &out, stage));
    let opts = RunOptions {
        threads: Some(2),
        ..Default::default()
    };
    let s = pipeline::run_data(&p, base, &opts).unwrap_or_else(|e| panic!("{e}"));
    let rows = split_rows(&out, "train");
    let got: Vec<(&str, &[u32])> = rows
        .iter()
        .map(|r| (r.doc_id.as_str(), r.tokens.as_slice()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", &[15496, 995, 50256][..]),
            ("b", &[15496, 11, 995, 0, 50256][..]),
            // This GPT-2 file has <|endoftext|> in its vocabulary but not as an added token, so
            // the string in a text is plain text (like tiktoken's encode_ordinary).
            ("c", &[87, 27, 91, 437, 1659, 5239, 91, 29, 88, 50256][..]),
        ]
    );
    assert!(split_shards(&out, "val").unwrap().is_empty());
    let m = manifest::read(&out.join("manifest.json"))
        .unwrap()
        .tokens
        .unwrap();
    assert_eq!(
        (m.eos.id, m.vocab_size, m.max_token_id),
        (50256, 50257, 50256)
    );
    assert_eq!(m.source, tok.display().to_string());
    assert!(m.source_xxh3.is_some() && m.training.is_none());
    assert_eq!(
        s.stats.stages.last().unwrap().counters["docs_with_eos_in_text"],
        1
    );

    // inspect decodes the rows with the tokenizer.
    let mut buf = Vec::new();
    let shard = out.join("tokens/train/part-00000.parquet");
    corpusforge::inspect::inspect_with(&shard, 2, Some(&out.join("tokenizer.json")), &mut buf)
        .unwrap();
    let text = String::from_utf8(buf).unwrap();
    assert!(text.contains("decoded: Hello world<|endoftext|>"), "{text}");
    assert!(
        text.contains("decoded: Hello, world!<|endoftext|>"),
        "{text}"
    );
    // ...and says so when the file is not a token shard.
    let doc_shard = out.join("documents/part-00000.parquet");
    let err =
        corpusforge::inspect::inspect_with(&doc_shard, 1, Some(&tok), &mut Vec::new()).unwrap_err();
    assert!(format!("{err:#}").contains("not a token shard"), "{err:#}");
    // The CLI flag.
    let o = Command::new(BIN)
        .args([
            "inspect",
            shard.to_str().unwrap(),
            "--rows",
            "1",
            "--tokenizer",
            tok.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("decoded: Hello world<|endoftext|>"));
}

#[test]
fn bert_loads_without_padding_and_uses_its_own_special_tokens() {
    let Some(data) = common::shared_data() else {
        return;
    };
    let tok = data.join("tokenizers/bert-base-uncased/tokenizer.json");
    if !tok.exists() {
        eprintln!("skipping: {} is not present", tok.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.jsonl");
    fs::write(&input, "{\"id\":\"a\",\"text\":\"Hello World\"}\n").unwrap();
    let out = tmp.path().join("out");
    let stage = format!(
        "  - type: tokenize\n    tokenizer: {{path: \"{}\"}}\n    eos: \"[SEP]\"\n    bos: \"[CLS]\"\n    val_fraction: 0\n",
        tok.display()
    );
    run_ok(&load(&pipeline_yaml(&input, &out, &stage)), 1);
    let rows = split_rows(&out, "train");
    // No padding to 128, no second [CLS]/[SEP] from the post-processor.
    assert_eq!(rows[0].tokens, vec![101, 7592, 2088, 102]);
    let m = manifest::read(&out.join("manifest.json"))
        .unwrap()
        .tokens
        .unwrap();
    assert_eq!(
        (m.bos.unwrap().id, m.eos.id, m.vocab_size),
        (101, 102, 30522)
    );
    // WordPiece is not for the fast encoder: the library encodes, and the manifest says why.
    assert_eq!(m.encode.encoder, "tokenizers");
    assert_eq!(
        m.encode.encoder_detail,
        "tokenizers library (the fast encoder does not apply: the tokenizer has a normalizer)"
    );
    // The tokenizer copied to the output has padding off.
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("tokenizer.json")).unwrap()).unwrap();
    assert!(
        json["padding"].is_null() && json["truncation"].is_null(),
        "{}",
        json["padding"]
    );
}

#[test]
fn a_missing_eos_token_and_an_unloadable_tokenizer_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), "in.jsonl", 0..20);
    if let Some(tok) = gpt2() {
        let stage = format!(
            "  - type: tokenize\n    tokenizer: {{path: \"{}\"}}\n    eos: \"</s>\"\n",
            tok.display()
        );
        let err = run(
            &load(&pipeline_yaml(&input, &tmp.path().join("a"), &stage)),
            1,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&tok.display().to_string())
                && msg.contains("eos token \"</s>\" is not in the vocabulary (50257 tokens)")
                && msg.contains("<|endoftext|>"),
            "{msg}"
        );
        assert!(matches!(
            err,
            RunError::Tokenize(TokenizeError::MissingToken { .. })
        ));
        let stage = stage.replace("eos: \"</s>\"", "eos: \"<|endoftext|>\"\n    bos: \"<s>\"");
        let msg = run(
            &load(&pipeline_yaml(&input, &tmp.path().join("b"), &stage)),
            1,
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("bos token \"<s>\""), "{msg}");
    }
    // Training needs every kept document: a task of a split run leaves tokenizing to
    // `finalize` (tests/split.rs), and writes no tokens of its own.
    let opts = RunOptions {
        threads: Some(1),
        task: pipeline::TaskSpec { index: 0, count: 2 },
        ..Default::default()
    };
    let t = tmp.path().join("t");
    let p = load(&pipeline_yaml(&input, &t, TRAIN));
    let s = pipeline::run_data(&p, Path::new("."), &opts).unwrap();
    assert!(s.stats.kept > 0);
    assert!(!t.join("tokens").exists() && !t.join("tokenizer.json").exists());
    let missing = tmp.path().join("nope/tokenizer.json");
    let stage = format!(
        "  - type: tokenize\n    tokenizer: {{path: \"{}\"}}\n    eos: \"x\"\n",
        missing.display()
    );
    let msg = run(
        &load(&pipeline_yaml(&input, &tmp.path().join("c"), &stage)),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains(&missing.display().to_string()) && msg.contains("cannot load the tokenizer"),
        "{msg}"
    );
    let garbage = tmp.path().join("garbage.json");
    fs::write(&garbage, "{\"model\": 3}").unwrap();
    let stage = format!(
        "  - type: tokenize\n    tokenizer: {{path: \"{}\"}}\n    eos: \"x\"\n",
        garbage.display()
    );
    let msg = run(
        &load(&pipeline_yaml(&input, &tmp.path().join("d"), &stage)),
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains(&garbage.display().to_string()), "{msg}");
}

#[test]
fn config_problems_are_reported_with_positions() {
    let input = Path::new("in.jsonl");
    let out = Path::new("out");
    let problems = |stage: &str| {
        config::load_str(&pipeline_yaml(input, out, stage), "t.yaml")
            .unwrap_err()
            .to_string()
    };
    // Not the last stage.
    let msg = problems(&format!("{TRAIN}  - type: normalize\n"));
    assert!(
        msg.contains("t.yaml:6:") && msg.contains("tokenize must be the last stage"),
        "{msg}"
    );
    // Both sources, or none.
    let msg = problems("  - type: tokenize\n    tokenizer: {path: a.json, train: {vocab_size: 1000}}\n    eos: x\n");
    assert!(
        msg.contains("stages[1] (tokenize): tokenizer") && msg.contains("not both"),
        "{msg}"
    );
    let msg = problems("  - type: tokenize\n    tokenizer: {}\n    eos: x\n");
    assert!(msg.contains("give `path: tokenizer.json`"), "{msg}");
    // A vocabulary too small for the byte alphabet and the special tokens.
    let msg = problems(
        "  - type: tokenize\n    tokenizer: {train: {vocab_size: 257}}\n    eos: x\n    bos: y\n",
    );
    assert!(
        msg.contains("stages[1] (tokenize): tokenizer.train.vocab_size")
            && msg.contains("at least 258"),
        "{msg}"
    );
    // eos is required, unknown keys are refused, val_fraction is a fraction.
    let msg = problems("  - type: tokenize\n    tokenizer: {train: {vocab_size: 1000}}\n");
    assert!(msg.contains("eos"), "{msg}");
    let msg = problems(
        "  - type: tokenize\n    tokenizer: {train: {vocab_size: 1000, vocab: 3}}\n    eos: x\n",
    );
    assert!(msg.contains("vocab"), "{msg}");
    let msg = problems("  - type: tokenize\n    tokenizer: {train: {vocab_size: 1000}}\n    eos: x\n    val_fraction: 1.5\n");
    assert!(msg.contains("val_fraction"), "{msg}");
}

#[test]
fn token_shards_match_the_schema_in_the_repo() {
    let file = common::root().join("schemas/tokens.schema.json");
    let expected = format!(
        "{}\n",
        serde_json::to_string_pretty(&token_schema_json()).unwrap()
    );
    corpusforge::config::check_committed_file(&file, &expected, "cargo test --release")
        .unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), "in.jsonl", 0..50);
    let out = tmp.path().join("out");
    run_ok(&load(&pipeline_yaml(&input, &out, TRAIN)), 1);
    for split in ["train", "val"] {
        let shard = split_shards(&out, split).unwrap().remove(0);
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            fs::File::open(&shard).unwrap(),
        )
        .unwrap();
        let got = corpusforge::io::writer::arrow_schema_json("tokens", reader.schema());
        assert_eq!(got, token_schema_json(), "{}", shard.display());
        // n_tokens is the list length.
        let batch = reader.build().unwrap().next().unwrap().unwrap();
        let n = batch.column_by_name("n_tokens").unwrap();
        let n = n
            .as_any()
            .downcast_ref::<arrow::array::UInt32Array>()
            .unwrap();
        let rows = corpusforge::stages::tokenize::shards::token_rows(&batch).unwrap();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(n.value(i) as usize, r.tokens.len());
        }
    }
}

#[test]
fn llmc_export_round_trips_and_refuses_large_vocabularies() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), "in.jsonl", 0..300);
    let out = tmp.path().join("out");
    run_ok(&load(&pipeline_yaml(&input, &out, TRAIN)), 2);
    let concat = |split: &str| -> Vec<u32> {
        split_rows(&out, split)
            .into_iter()
            .flat_map(|r| r.tokens)
            .collect()
    };
    let (train, val) = (concat("train"), concat("val"));
    assert!(!train.is_empty() && !val.is_empty());

    // One file per split.
    let dir = tmp.path().join("llmc");
    let files = export_llmc(&out, &dir, 100_000_000).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(names, vec!["train_000000.bin", "val_000000.bin"]);
    let back =
        |p: &Path| -> Vec<u32> { read_llmc(p).unwrap().into_iter().map(u32::from).collect() };
    assert_eq!(back(&dir.join("train_000000.bin")), train);
    assert_eq!(back(&dir.join("val_000000.bin")), val);
    let raw = fs::read(dir.join("val_000000.bin")).unwrap();
    let header: Vec<i32> = raw[..1024]
        .chunks(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(&header[..3], &[20240520, 1, val.len() as i32]);
    assert!(header[3..].iter().all(|&h| h == 0));
    assert_eq!(raw.len(), 1024 + 2 * val.len());

    // Cut into files of at most 1000 tokens, through the CLI.
    let dir2 = tmp.path().join("llmc2");
    let o = Command::new(BIN)
        .args([
            "export",
            "tokens",
            "--format",
            "llmc",
            out.to_str().unwrap(),
            dir2.to_str().unwrap(),
            "--shard-tokens",
            "1000",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<PathBuf> = fs::read_dir(&dir2)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let mut again: Vec<u32> = Vec::new();
    for p in names
        .iter()
        .filter(|p| p.to_string_lossy().contains("train_"))
    {
        let t = back(p);
        assert!(t.len() <= 1000);
        again.extend(t);
    }
    assert_eq!(again, train);
    // Exporting again into the same directory with larger files leaves no stale files.
    let files = export_llmc(&out, &dir2, 100_000_000).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(fs::read_dir(&dir2).unwrap().count(), 2);
    assert_eq!(
        names
            .iter()
            .filter(|p| p.to_string_lossy().contains("train_"))
            .count(),
        train.len().div_ceil(1000)
    );

    // A vocabulary beyond uint16, as the manifest says: refused before anything is written.
    let mpath = out.join("manifest.json");
    let mut m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&mpath).unwrap()).unwrap();
    m["tokens"]["max_token_id"] = serde_json::json!(70000);
    fs::write(&mpath, serde_json::to_string(&m).unwrap()).unwrap();
    let dir3 = tmp.path().join("llmc3");
    let err = export_llmc(&out, &dir3, 1000).unwrap_err();
    assert!(matches!(err, ExportError::DoesNotFit { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("manifest.json") && msg.contains("70000") && msg.contains("uint16"),
        "{msg}"
    );
    assert!(!dir3.exists());

    // A token id beyond uint16 in a shard (no manifest): refused, naming the shard, nothing left.
    let bare = tmp.path().join("bare");
    let opts = TokenShardOptions {
        shard_max_tokens: 1000,
        shard_max_docs: 1000,
        row_group_tokens: 1000,
        row_group_docs: 1000,
        compression: Default::default(),
        zstd_level: 3,
        prefix: "part".into(),
    };
    let mut w = TokenShardWriter::new(&bare, "tokens/train", opts);
    w.push("ok", &[1, 2, 3]).unwrap();
    w.push("big", &[4, 65536, 5]).unwrap();
    w.finish().unwrap();
    let dir4 = tmp.path().join("llmc4");
    let msg = export_llmc(&bare, &dir4, 1000).unwrap_err().to_string();
    assert!(
        msg.contains("tokens/train/part-00000.parquet")
            && msg.contains("\"big\"")
            && msg.contains("65536"),
        "{msg}"
    );
    assert_eq!(
        fs::read_dir(&dir4).unwrap().count(),
        0,
        "partial files were left behind"
    );
    // Nothing to export is an error too.
    let msg = export_llmc(tmp.path(), &dir4, 1000)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no token shards"), "{msg}");
}

#[test]
fn max_docs_samples_evenly_and_an_empty_corpus_still_gives_a_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), "in.jsonl", 0..300);
    let out = tmp.path().join("out");
    let stage = TRAIN.replace(
        "special_tokens: [\"<pad>\"]",
        "special_tokens: [\"<pad>\"], max_docs: 40",
    );
    run_ok(&load(&pipeline_yaml(&input, &out, &stage)), 2);
    let m = manifest::read(&out.join("manifest.json"))
        .unwrap()
        .tokens
        .unwrap();
    assert_eq!(m.training.unwrap().docs, 40);
    assert_eq!(m.splits["train"].docs + m.splits["val"].docs, 300);

    // Every document dropped: a tokenizer of specials + bytes, no token shards.
    let yaml = pipeline_yaml(
        &input,
        &out,
        &format!("  - type: length\n    min_words: 100000\n{TRAIN}"),
    );
    let s = run_ok(&load(&yaml), 1);
    assert_eq!(s.stats.kept, 0);
    let m = manifest::read(&out.join("manifest.json"))
        .unwrap()
        .tokens
        .unwrap();
    assert_eq!(m.vocab_size, 258);
    assert!(split_shards(&out, "train").unwrap().is_empty());
    assert!(
        !out.join("tokens/train").exists(),
        "stale shards of the previous run were left"
    );

    // A run without a tokenize stage into the same directory removes the token outputs.
    run_ok(&load(&pipeline_yaml(&input, &out, "")), 1);
    assert!(!out.join("tokens").exists() && !out.join("tokenizer.json").exists());
    assert!(manifest::read(&out.join("manifest.json"))
        .unwrap()
        .tokens
        .is_none());
}

#[test]
fn megatron_datatrove_and_npy_exports_lay_out_every_document() {
    use corpusforge::export::formats::{export, Format};
    let tmp = tempfile::tempdir().unwrap();
    let opts = || TokenShardOptions {
        shard_max_tokens: 1000,
        shard_max_docs: 2,
        row_group_tokens: 1000,
        row_group_docs: 1000,
        compression: Default::default(),
        zstd_level: 3,
        prefix: "part".into(),
    };
    // Three documents over two shards; one id needs 32 bits in the second run.
    let write = |root: &Path, big: u32| {
        let mut w = TokenShardWriter::new(root, "tokens/train", opts());
        w.push("a", &[1, 2, 3]).unwrap();
        w.push("b", &[4]).unwrap();
        w.push("c", &[5, big]).unwrap();
        w.finish().unwrap();
    };
    let le16 = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let le32 = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let le64 = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();

    let small = tmp.path().join("small");
    write(&small, 6);
    let m = tmp.path().join("m");
    export(&small, &m, Format::Megatron).unwrap();
    assert_eq!(
        fs::read(m.join("train_text_document.bin")).unwrap(),
        le16(&[1, 2, 3, 4, 5, 6])
    );
    let mut idx = b"MMIDIDX\x00\x00".to_vec();
    idx.extend_from_slice(&1u64.to_le_bytes());
    idx.push(8);
    idx.extend_from_slice(&3u64.to_le_bytes());
    idx.extend_from_slice(&4u64.to_le_bytes());
    idx.extend(le32(&[3, 1, 2]));
    idx.extend(le64(&[0, 6, 8]));
    idx.extend(le64(&[0, 1, 2, 3]));
    assert_eq!(fs::read(m.join("train_text_document.idx")).unwrap(), idx);
    assert!(
        !m.join("val_text_document.bin").exists(),
        "no val split, no val files"
    );

    let d = tmp.path().join("d");
    export(&small, &d, Format::Datatrove).unwrap();
    assert_eq!(
        fs::read(d.join("train/000_train.ds")).unwrap(),
        le16(&[1, 2, 3, 4, 5, 6])
    );
    let ends: Vec<u8> = [3u64, 4, 6].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert_eq!(fs::read(d.join("train/000_train.ds.index")).unwrap(), ends);
    assert_eq!(
        fs::read_to_string(d.join("train/000_train.ds.metadata")).unwrap(),
        "corpusforge|2\n6"
    );

    let big = tmp.path().join("big");
    write(&big, 70_000);
    let n = tmp.path().join("n");
    export(&big, &n, Format::Npy).unwrap();
    let tokens = fs::read(n.join("train_tokens.npy")).unwrap();
    assert_eq!(tokens.len(), 128 + 6 * 4);
    let header = std::str::from_utf8(&tokens[10..128]).unwrap();
    assert!(
        header.starts_with("{'descr': '<u4', 'fortran_order': False, 'shape': (6,), }"),
        "{header}"
    );
    assert_eq!(&tokens[128..], le32(&[1, 2, 3, 4, 5, 70_000]));
    let offsets = fs::read(n.join("train_offsets.npy")).unwrap();
    assert!(
        std::str::from_utf8(&offsets[10..128])
            .unwrap()
            .contains("'<i8'")
            && std::str::from_utf8(&offsets[10..128])
                .unwrap()
                .contains("(4,)")
    );
    assert_eq!(&offsets[128..], le64(&[0, 3, 4, 6]));
    let m = tmp.path().join("m32");
    export(&big, &m, Format::Megatron).unwrap();
    assert_eq!(
        fs::read(m.join("train_text_document.idx")).unwrap()[17],
        4,
        "int32 past 65,499"
    );
    assert_eq!(
        fs::read(m.join("train_text_document.bin")).unwrap(),
        le32(&[1, 2, 3, 4, 5, 70_000])
    );
    // Nothing to export is an error.
    let msg = export(tmp.path(), &tmp.path().join("none"), Format::Npy)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("no token shards"), "{msg}");
}

/// A tokenizer.json in the shapes of GPT-4's (cl100k's possessive pattern, matches kept with
/// `Removed` + `invert`, as converted from tiktoken) and Llama 3's (its pattern `Isolated`,
/// `ignore_merges`), built from a tokenizer trained here: the stage encodes both with the fast
/// encoder, the manifest says so, and the ids are the `tokenizers` library's.
#[test]
fn cl100k_and_llama3_shaped_tokenizers_run_on_the_fast_encoder() {
    use corpusforge::stages::tokenize::fast::pretokenize::{CL100K_PATTERN, LLAMA3_PATTERN};
    let tmp = tempfile::tempdir().unwrap();
    let input = corpus(tmp.path(), "in.jsonl", 0..60);
    run_ok(
        &load(&pipeline_yaml(&input, &tmp.path().join("trained"), TRAIN)),
        1,
    );
    let trained: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(tmp.path().join("trained/tokenizer.json")).unwrap(),
    )
    .unwrap();
    let texts: std::collections::HashMap<String, String> = fs::read_to_string(&input)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["id"].as_str().unwrap().into(),
                v["text"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (name, pattern, behavior, invert, ignore_merges) in [
        ("cl100k", CL100K_PATTERN, "Removed", true, false),
        ("llama3", LLAMA3_PATTERN, "Isolated", false, true),
    ] {
        let mut v = trained.clone();
        v["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": behavior, "invert": invert},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]});
        v["model"]["ignore_merges"] = serde_json::json!(ignore_merges);
        let path = tmp.path().join(format!("{name}.json"));
        fs::write(&path, v.to_string()).unwrap();
        let out = tmp.path().join(name);
        let stage = format!(
            "  - type: tokenize\n    tokenizer: {{path: \"{}\"}}\n    eos: \"<|endoftext|>\"\n",
            path.display()
        );
        run_ok(&load(&pipeline_yaml(&input, &out, &stage)), 2);
        let m = manifest::read(&out.join("manifest.json"))
            .unwrap()
            .tokens
            .unwrap();
        assert_eq!(
            m.encode.encoder, "fast",
            "{name}: {}",
            m.encode.encoder_detail
        );
        assert!(
            m.encode.encoder_detail.contains("Llama-3/cl100k pattern"),
            "{name}: {}",
            m.encode.encoder_detail
        );
        let lib = tokenizers::Tokenizer::from_file(&path).unwrap();
        let mut rows = split_rows(&out, "train");
        rows.extend(split_rows(&out, "val"));
        assert_eq!(rows.len(), 60);
        for r in rows {
            let want = lib.encode_fast(texts[&r.doc_id].as_str(), false).unwrap();
            assert_eq!(
                &r.tokens[..r.tokens.len() - 1],
                want.get_ids(),
                "{name} {}",
                r.doc_id
            );
        }
    }
}
