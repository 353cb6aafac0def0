//! Loading pipeline files: one bad config per kind of problem in `fixtures/bad_configs/`, each
//! with its exact error text (the snapshot), plus a good config and the alias-bomb guard.

use std::path::Path;
use std::time::{Duration, Instant};

use corpusforge::config::{
    load_file, load_str, Compression, InputFormat, InputSpec, OutputSpec, Pipeline, RunSpec,
    StageSpec, TxtMode,
};
use corpusforge::stages::clean::normalize::{Form, NormalizeConfig};
use corpusforge::stages::quality::length::LengthConfig;

/// Asserts that loading `fixtures/bad_configs/NAME` fails with exactly `lines`.
#[track_caller]
fn assert_error(name: &str, lines: &[&str]) {
    let path = format!("fixtures/bad_configs/{name}");
    match load_file(Path::new(&path)) {
        Ok(pipeline) => panic!("{path} loaded: {pipeline:?}"),
        Err(err) => assert_eq!(err.to_string(), lines.join("\n"), "\nfull text:\n{err}\n"),
    }
}

#[test]
fn unknown_top_level_key() {
    assert_error(
        "unknown_key.yaml",
        &[
            "fixtures/bad_configs/unknown_key.yaml:4:1: unknown key \"stage\" (did you mean \"stages\"?); known keys: input, stages, output, run, train",
            "1 problem in fixtures/bad_configs/unknown_key.yaml",
        ],
    );
}

#[test]
fn unknown_key_inside_a_stage() {
    assert_error(
        "unknown_stage_key.yaml",
        &[
            "fixtures/bad_configs/unknown_stage_key.yaml:7:5: stages[1] (length): unknown key \"min_char\" (did you mean \"min_chars\"?); known keys: type, min_chars, max_chars, min_words, max_words, language, languages, language_defaults",
            "1 problem in fixtures/bad_configs/unknown_stage_key.yaml",
        ],
    );
}

#[test]
fn wrong_type() {
    assert_error(
        "wrong_type.yaml",
        &[
            "fixtures/bad_configs/wrong_type.yaml:6:18: output.write_dropped: expected a boolean, found a string \"yes\"",
            "fixtures/bad_configs/wrong_type.yaml:8:15: run.batch_size: expected an integer, found a string \"lots\"",
            "2 problems in fixtures/bad_configs/wrong_type.yaml",
        ],
    );
}

#[test]
fn unknown_stage_type() {
    assert_error(
        "unknown_stage_type.yaml",
        &[
            "fixtures/bad_configs/unknown_stage_type.yaml:5:11: stages[0]: type: unknown stage type \"lenght\" (did you mean \"length\"?); known types: c4, decontaminate, exact_dedup, extract, fineweb, gopher_quality, gopher_repetition, html_strip, language, length, minhash_dedup, normalize, paragraph_dedup, perplexity, pii, quality_classifier, tokenize",
            "1 problem in fixtures/bad_configs/unknown_stage_type.yaml",
        ],
    );
}

#[test]
fn missing_required_fields() {
    assert_error(
        "missing_required.yaml",
        &[
            "fixtures/bad_configs/missing_required.yaml:2:1: missing required key \"output\"",
            "fixtures/bad_configs/missing_required.yaml:3:3: input: missing required key \"paths\"",
            "2 problems in fixtures/bad_configs/missing_required.yaml",
        ],
    );
}

#[test]
fn values_out_of_range() {
    assert_error(
        "bad_value.yaml",
        &[
            "fixtures/bad_configs/bad_value.yaml:6:20: output.shard_max_bytes: must be at least 1, found -5",
            "fixtures/bad_configs/bad_value.yaml:7:15: output.zstd_level: must be at most 22, found 30",
            "fixtures/bad_configs/bad_value.yaml:9:15: run.batch_size: must be at least 1, found 0",
            "3 problems in fixtures/bad_configs/bad_value.yaml",
        ],
    );
}

#[test]
fn values_outside_an_enumeration() {
    assert_error(
        "bad_enum.yaml",
        &[
            "fixtures/bad_configs/bad_enum.yaml:4:11: input.format: unknown value \"jsonl.bz2\" (did you mean \"jsonl.gz\"?); expected one of: jsonl, jsonl.gz, jsonl.zst, parquet, txt, warc",
            "fixtures/bad_configs/bad_enum.yaml:7:16: output.compression: unknown value \"zstdd\" (did you mean \"zstd\"?); expected one of: zstd, snappy, none",
            "2 problems in fixtures/bad_configs/bad_enum.yaml",
        ],
    );
}

#[test]
fn min_greater_than_max_in_a_stage() {
    assert_error(
        "min_greater_than_max.yaml",
        &[
            "fixtures/bad_configs/min_greater_than_max.yaml:8:5: stages[1] (length): min_chars: min_chars (10) is greater than max_chars (5)",
            "1 problem in fixtures/bad_configs/min_greater_than_max.yaml",
        ],
    );
}

#[test]
fn yaml_syntax_error() {
    assert_error(
        "syntax_error.yaml",
        &[
            "fixtures/bad_configs/syntax_error.yaml:7:19: YAML syntax error: mapping values are not allowed in this context",
            "1 problem in fixtures/bad_configs/syntax_error.yaml",
        ],
    );
}

#[test]
fn duplicate_keys() {
    assert_error(
        "duplicate_key.yaml",
        &[
            "fixtures/bad_configs/duplicate_key.yaml:7:5: stages[0] (length): duplicate key \"min_chars\" (first written on line 6)",
            "fixtures/bad_configs/duplicate_key.yaml:10:3: output: duplicate key \"dir\" (first written on line 9)",
            "2 problems in fixtures/bad_configs/duplicate_key.yaml",
        ],
    );
}

#[test]
fn billion_laughs_is_refused_quickly() {
    let start = Instant::now();
    assert_error(
        "billion_laughs.yaml",
        &[
            "fixtures/bad_configs/billion_laughs.yaml:7:8: the document expands to more than 100000 nodes (aliases included); refusing it (nested aliases multiply, as in a \"billion laughs\" file)",
            "1 problem in fixtures/bad_configs/billion_laughs.yaml",
        ],
    );
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
}

#[test]
fn many_problems_are_all_reported_in_file_order() {
    assert_error(
        "many_problems.yaml",
        &[
            "fixtures/bad_configs/many_problems.yaml:3:10: input.paths: must have at least 1 item, found 0",
            "fixtures/bad_configs/many_problems.yaml:4:11: input.format: unknown value \"jsonl.bz2\" (did you mean \"jsonl.gz\"?); expected one of: jsonl, jsonl.gz, jsonl.zst, parquet, txt, warc",
            "fixtures/bad_configs/many_problems.yaml:7:11: stages[0] (normalize): form: unknown value \"nfd\" (did you mean \"nfc\"?); expected one of: nfc, nfkc, none",
            "fixtures/bad_configs/many_problems.yaml:8:11: stages[1]: type: unknown stage type \"lenght\" (did you mean \"length\"?); known types: c4, decontaminate, exact_dedup, extract, fineweb, gopher_quality, gopher_repetition, html_strip, language, length, minhash_dedup, normalize, paragraph_dedup, perplexity, pii, quality_classifier, tokenize",
            "fixtures/bad_configs/many_problems.yaml:10:5: stages[2]: missing stage type (key \"type\"); known types: c4, decontaminate, exact_dedup, extract, fineweb, gopher_quality, gopher_repetition, html_strip, language, length, minhash_dedup, normalize, paragraph_dedup, perplexity, pii, quality_classifier, tokenize",
            "fixtures/bad_configs/many_problems.yaml:12:5: stages[3] (length): unknown key \"min_char\" (did you mean \"min_chars\"?); known keys: type, min_chars, max_chars, min_words, max_words, language, languages, language_defaults",
            "fixtures/bad_configs/many_problems.yaml:13:16: stages[3] (length): max_chars: must be at least 0, found -1",
            "fixtures/bad_configs/many_problems.yaml:15:5: stages[4] (length): min_words: min_words (50) is greater than max_words (10)",
            "fixtures/bad_configs/many_problems.yaml:19:20: output.shard_max_bytes: expected an integer, found a string \"1MB\"",
            "fixtures/bad_configs/many_problems.yaml:20:3: output: unknown key \"compresion\" (did you mean \"compression\"?); known keys: dir, shard_max_bytes, shard_max_docs, row_group_docs, row_group_bytes, compression, zstd_level, write_dropped, write_signals, partition_by, report",
            "fixtures/bad_configs/many_problems.yaml:22:15: run.batch_size: must be at least 1, found 0",
            "fixtures/bad_configs/many_problems.yaml:23:12: run.threads: expected an integer, found a string \"four\"",
            "fixtures/bad_configs/many_problems.yaml:24:1: unknown key \"verbose\"; known keys: input, stages, output, run, train",
            "13 problems in fixtures/bad_configs/many_problems.yaml",
        ],
    );
}

#[test]
fn unreadable_file_is_one_problem_at_zero() {
    let err =
        load_file(Path::new("fixtures/bad_configs/does_not_exist.yaml")).expect_err("missing");
    assert_eq!(err.problems.len(), 1);
    assert_eq!((err.problems[0].line, err.problems[0].col), (0, 0));
    assert!(
        err.to_string()
            .starts_with("fixtures/bad_configs/does_not_exist.yaml:0:0: cannot read the file: "),
        "{err}"
    );
}

#[test]
fn diagnostics_carry_context_and_full_path() {
    let err = load_file(Path::new("fixtures/bad_configs/min_greater_than_max.yaml"))
        .expect_err("min > max");
    let d = &err.problems[0];
    assert_eq!(d.context.as_deref(), Some("stages[1] (length)"));
    assert_eq!(d.path, "stages[1].min_chars");
    assert_eq!(d.message, "min_chars (10) is greater than max_chars (5)");
}

#[test]
fn good_config_loads_with_defaults() {
    let text = "\
# Comments, anchors and YAML 1.2 scalars are fine.
input:
  paths: [data/a.jsonl, 'data/b.jsonl.gz']
  format: jsonl
  id_field: ~
  metadata_fields: [url]
stages:
  - type: normalize
    form: nfkc
    max_blank_lines: 2
  - type: length
    min_words: 5
    max_chars: 0x30D40
output:
  dir: out/test
  shard_max_docs: 500
  compression: snappy
run:
  seed: 7
";
    let pipeline = load_str(text, "good.yaml").unwrap_or_else(|e| panic!("{e}"));
    let expected = Pipeline {
        input: InputSpec {
            paths: vec!["data/a.jsonl".into(), "data/b.jsonl.gz".into()],
            format: Some(InputFormat::Jsonl),
            text_field: "text".into(),
            id_field: None,
            metadata_fields: vec!["url".into()],
            txt_mode: TxtMode::File,
            max_line_bytes: 16 * 1024 * 1024,
            max_record_bytes: None,
        },
        stages: vec![
            StageSpec::Normalize(NormalizeConfig {
                form: Form::Nfkc,
                max_blank_lines: Some(2),
                ..NormalizeConfig::default()
            }),
            StageSpec::Length(LengthConfig {
                min_words: Some(5),
                max_chars: Some(200_000),
                ..LengthConfig::default()
            }),
        ],
        output: OutputSpec {
            dir: "out/test".into(),
            shard_max_bytes: 256 * 1024 * 1024,
            shard_max_docs: 500,
            row_group_docs: 8192,
            row_group_bytes: 32 * 1024 * 1024,
            compression: Compression::Snappy,
            zstd_level: 3,
            write_dropped: true,
            write_signals: false,
            partition_by: None,
            report: true,
        },
        run: RunSpec {
            seed: 7,
            ..RunSpec::default()
        },
        train: None,
    };
    assert_eq!(pipeline, expected);
}

#[test]
fn shipped_pipelines_load() {
    for entry in std::fs::read_dir("pipelines").expect("pipelines/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.lines().any(|l| l.starts_with("base:")) {
                // An experiment of `corpusforge ablate`; it names files of ../shared/data.
                if Path::new("../shared/data").is_dir() {
                    if let Err(err) = corpusforge::config::experiment::load_experiment(&path) {
                        panic!("{err}");
                    }
                }
            } else if let Err(err) = load_file(&path) {
                panic!("{err}");
            }
        }
    }
}

#[test]
fn train_section_problems_are_reported_with_the_rest() {
    let err = load_file(Path::new("fixtures/bad_configs/bad_train.yaml")).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("fixtures/bad_configs/bad_train.yaml:8:")
            && text.contains("train.model.n_head: n_embd (64) must be a multiple of n_head (3)"),
        "{text}"
    );
}
