//! Multiple-choice task evaluation from the command line: bad task files are refused with the
//! file and line before any model is loaded. (Scores are checked against `transformers` by
//! scripts/interop_model.sh, and through `ablate` in tests/ablate.rs.)

use std::process::Command;

fn eval_tasks(file: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_corpusforge"))
        .args(["eval", "--checkpoint", "does/not/matter", "--tasks", file])
        .output()
        .expect("run corpusforge");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_task_files_are_refused_with_file_and_line() {
    for (file, expected) in [
        (
            "fixtures/tasks/bad.jsonl",
            "fixtures/tasks/bad.jsonl:2: label: missing",
        ),
        (
            "fixtures/tasks/bad_range.jsonl",
            "fixtures/tasks/bad_range.jsonl:3: label: 2 is out of range for 2 choices (0-based)",
        ),
        (
            "fixtures/tasks/bad_empty.jsonl",
            "fixtures/tasks/bad_empty.jsonl:1: choices[1]: empty",
        ),
    ] {
        let (code, stderr) = eval_tasks(file);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{file}: {stderr}");
    }
    let (code, stderr) = eval_tasks("fixtures/tasks/absent.jsonl");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("fixtures/tasks/absent.jsonl"), "{stderr}");
}
