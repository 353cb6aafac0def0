//! A run split into tasks, with dedup across tasks, gives the single-process result; damaged
//! exchange files are named; finished tasks are skipped; the Slurm scripts chain the phases.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{word, Rng};
use corpusforge::config::{self, Pipeline};
use corpusforge::distributed::records::{FramedWriter, Kind};
use corpusforge::distributed::{self, merge, slurm, Layout};
use corpusforge::pipeline::{self, split, RunOptions, TaskSpec};

/// `files` JSONL files of random sizes holding `n` documents: originals, exact copies
/// (re-cased), near copies at random edit rates (chains of them too: a copy of a copy), tiny
/// documents the length filter drops, and one malformed line per file. Copies land in any
/// file, so duplicates cross task boundaries.
fn corpus(dir: &Path, seed: u64, n: usize, files: usize) -> PathBuf {
    let mut rng = Rng(seed);
    let vocab: Vec<String> = (0..400).map(word).collect();
    let mut docs: Vec<String> = Vec::new();
    for _ in 0..n {
        let roll = rng.below(100);
        let t = if docs.is_empty() || roll < 45 {
            (0..20 + rng.below(120))
                .map(|_| vocab[rng.below(vocab.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        } else if roll < 60 {
            docs[rng.below(docs.len())].to_uppercase()
        } else if roll < 92 {
            let rate = [0.01, 0.03, 0.08, 0.2][rng.below(4)];
            docs[rng.below(docs.len())]
                .split(' ')
                .map(|w| {
                    if rng.chance(rate) {
                        vocab[rng.below(vocab.len())].clone()
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            format!("tiny {}", rng.below(5))
        };
        docs.push(t);
    }
    let input = dir.join("in");
    fs::create_dir_all(&input).unwrap();
    let mut bodies = vec![String::new(); files];
    for (i, t) in docs.iter().enumerate() {
        // Uneven file sizes: a quarter of the files take half the documents.
        let f = if rng.chance(0.5) {
            rng.below(files.div_ceil(4))
        } else {
            rng.below(files)
        };
        bodies[f].push_str(&serde_json::json!({"id": format!("d{i:05}"), "text": t}).to_string());
        bodies[f].push('\n');
    }
    for (f, b) in bodies.iter_mut().enumerate() {
        b.push_str("{\"id\": \"broken\", \"text\": \n");
        fs::write(input.join(format!("part-{f:02}.jsonl")), b).unwrap();
    }
    input
}

fn pipeline(input: &Path, out: &Path, extra_stages: &str, batch: usize) -> Pipeline {
    let yaml = format!(
        r#"input:
  paths: ["{}"]
stages:
  - type: normalize
  - type: length
    min_words: 3
  - type: exact_dedup
  - type: minhash_dedup
    memory_budget_mb: 0
{extra_stages}
output:
  dir: "{}"
  shard_max_docs: 150
  write_dropped: true
run:
  threads: 2
  batch_size: {batch}
  seed: 3
"#,
        input.display(),
        out.display()
    );
    config::load_str(&yaml, "split.yaml").unwrap()
}

fn opts(out: &Path, index: usize, count: usize) -> RunOptions {
    RunOptions {
        output: Some(out.to_path_buf()),
        task: TaskSpec { index, count },
        threads: Some(1 + index % 2),
        ..Default::default()
    }
}

/// Runs every phase of a split into `n` tasks, in process, the tasks of a phase at the same
/// time in threads (as on a cluster, where they share the output directory), bucket units in
/// reverse order.
fn run_split(p: &Pipeline, out: &Path, n: usize) {
    let base = Path::new(".");
    std::thread::scope(|s| {
        for t in 0..n {
            s.spawn(move || split::signatures(p, base, &opts(out, t, n)).unwrap());
        }
    });
    let units = distributed::units(&distributed::plan(p).unwrap()).len();
    for u in (0..units).rev() {
        split::buckets(p, base, &opts(out, 0, 1), n, Some(u)).unwrap();
    }
    split::cluster(p, base, &opts(out, 0, 1), n).unwrap();
    std::thread::scope(|s| {
        for t in 0..n {
            s.spawn(move || pipeline::run_data(p, base, &opts(out, t, n)).unwrap());
        }
    });
    split::finalize(p, base, out, n, Some(2)).unwrap();
}

fn assert_same(a: &Path, b: &Path) {
    let d = corpusforge::diff::diff(a, b).unwrap();
    assert!(
        d.differences.is_empty(),
        "{} vs {}:\n{}",
        a.display(),
        b.display(),
        d.differences.join("\n")
    );
    assert!(d.compared.iter().any(|c| c.starts_with("documents")));
    assert!(d.compared.iter().any(|c| c.starts_with("dropped")));
}

#[test]
fn split_runs_equal_the_single_process_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 11, 1500, 13);
    let single = dir.path().join("single");
    let p = pipeline(&input, &single, "", 64);
    let s = pipeline::run_data(&p, Path::new("."), &opts(&single, 0, 1)).unwrap();
    // The corpus has duplicates of every kind, and the filter before dedup drops some.
    let st = &s.stats;
    assert!(st.stages[1].dropped_total() > 20, "{:?}", st.stages[1]);
    assert!(st.stages[2].dropped_total() > 100, "{:?}", st.stages[2]);
    assert!(st.stages[3].dropped_total() > 50, "{:?}", st.stages[3]);
    assert_eq!(st.rejected_total(), 13);
    for (n, batch) in [(2, 64), (4, 17), (7, 256)] {
        let out = dir.path().join(format!("split{n}"));
        let p = pipeline(&input, &out, "", batch);
        run_split(&p, &out, n);
        assert_same(&single, &out);
        // Each task wrote its own shards and manifest.
        for t in 0..n {
            let m = corpusforge::manifest::read(&corpusforge::manifest::manifest_path(
                &out,
                TaskSpec { index: t, count: n },
            ))
            .unwrap();
            assert!(m.complete);
            assert!(m
                .outputs
                .iter()
                .all(|f| f.path.contains(&format!("part-t{t:05}-"))));
        }
    }
}

#[test]
fn tokenize_after_a_split_run_writes_the_single_process_token_shards() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 5, 500, 6);
    let tok = "  - type: tokenize\n    tokenizer:\n      train: {vocab_size: 400, min_frequency: 2}\n    eos: \"<|endoftext|>\"\n    val_fraction: 0.1";
    let single = dir.path().join("single");
    pipeline::run_data(
        &pipeline(&input, &single, tok, 64),
        Path::new("."),
        &opts(&single, 0, 1),
    )
    .unwrap();
    let out = dir.path().join("split");
    run_split(&pipeline(&input, &out, tok, 64), &out, 3);
    assert_same(&single, &out);
    for f in [
        "tokenizer.json",
        "tokens/train/part-00000.parquet",
        "tokens/val/part-00000.parquet",
    ] {
        assert_eq!(
            fs::read(single.join(f)).unwrap(),
            fs::read(out.join(f)).unwrap(),
            "{f}"
        );
    }
    let m: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["tasks"], 3);
    assert_eq!(m["complete"], true);
    // A shard left by an earlier run into the same directory is removed by finalize.
    let stale = out.join("documents/part-00042.parquet");
    fs::copy(single.join("documents/part-00000.parquet"), &stale).unwrap();
    fs::remove_file(out.join("manifest.json")).unwrap();
    let f = split::finalize(
        &pipeline(&input, &out, tok, 64),
        Path::new("."),
        &out,
        3,
        None,
    )
    .unwrap();
    assert!(!f.already);
    assert!(!stale.exists());
    assert_same(&single, &out);
}

#[test]
fn damaged_or_unsorted_exchange_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 2, 300, 4);
    let out = dir.path().join("out");
    let p = pipeline(&input, &out, "", 64);
    let base = Path::new(".");
    for t in 0..2 {
        split::signatures(&p, base, &opts(&out, t, 2)).unwrap();
    }
    let layout = Layout::new(&out);
    // A flipped byte in task 1's signatures of stage 3, band 5.
    let sig = layout.sig_file(1, 3, 5);
    let good = fs::read(&sig).unwrap();
    let mut bad = good.clone();
    bad[40] ^= 0x10;
    fs::write(&sig, &bad).unwrap();
    let e = split::buckets(&p, base, &opts(&out, 0, 1), 2, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains(&sig.display().to_string()), "{e}");
    assert!(
        e.contains("checksum mismatch") || e.contains("not sorted"),
        "{e}"
    );
    assert!(
        !layout.bucket_file(3, 5).exists(),
        "no output from a bad input"
    );
    // Records out of order under a valid checksum (as a buggy outside tool might write).
    let mut w = FramedWriter::create(&sig, Kind::BandKeys).unwrap();
    for (key, seq) in [(9u64, 1u64), (4, 2)] {
        let mut rec = key.to_le_bytes().to_vec();
        rec.extend_from_slice(&seq.to_le_bytes());
        w.record(&rec).unwrap();
    }
    w.finish().unwrap();
    let e = split::buckets(&p, base, &opts(&out, 0, 1), 2, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&sig.display().to_string())
            && e.contains("not sorted: record 2 (0x4, 2) does not come after (0x9, 1)"),
        "{e}"
    );
    fs::write(&sig, &good).unwrap();
    let e = split::buckets(&p, base, &opts(&out, 0, 1), 2, Some(99))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "--unit 99: this pipeline has 15 bucket units (0..14)");
    split::buckets(&p, base, &opts(&out, 0, 1), 2, None).unwrap();
    // A truncated bucket file stops the cluster phase.
    let bkt = layout.bucket_file(2, 0);
    let b = fs::read(&bkt).unwrap();
    fs::write(&bkt, &b[..b.len() - 5]).unwrap();
    let e = split::cluster(&p, base, &opts(&out, 0, 1), 2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&bkt.display().to_string()) && e.contains("truncated"),
        "{e}"
    );
    fs::write(&bkt, &b).unwrap();
    split::cluster(&p, base, &opts(&out, 0, 1), 2).unwrap();
    // A damaged removal list stops its task before it writes anything.
    let rm = layout.removals_file(0, 3);
    let mut r = fs::read(&rm).unwrap();
    let n = r.len();
    r[n - 9] ^= 1;
    fs::write(&rm, &r).unwrap();
    let e = pipeline::run_data(&p, base, &opts(&out, 0, 2))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&rm.display().to_string()), "{e}");
}

#[test]
fn phases_refuse_missing_or_stale_inputs_and_skip_finished_work() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 4, 200, 4);
    let out = dir.path().join("out");
    let p = pipeline(&input, &out, "", 64);
    let base = Path::new(".");
    // The filter phase needs the removal lists.
    let e = pipeline::run_data(&p, base, &opts(&out, 1, 3))
        .unwrap_err()
        .to_string();
    assert!(e.contains("the cluster phase is not complete"), "{e}");
    split::signatures(&p, base, &opts(&out, 0, 3)).unwrap();
    let e = split::buckets(&p, base, &opts(&out, 0, 1), 3, None)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "the signatures phase is not complete: missing signatures task 1, signatures task 2"
    );
    // Relaunching a finished task does nothing.
    assert!(
        split::signatures(&p, base, &opts(&out, 0, 3))
            .unwrap()
            .skipped
    );
    for t in 1..3 {
        split::signatures(&p, base, &opts(&out, t, 3)).unwrap();
    }
    split::buckets(&p, base, &opts(&out, 0, 1), 3, None).unwrap();
    assert!(split::cluster(&p, base, &opts(&out, 0, 1), 3)
        .unwrap()
        .is_some());
    assert!(split::cluster(&p, base, &opts(&out, 0, 1), 3)
        .unwrap()
        .is_none());
    let first = pipeline::run_data(&p, base, &opts(&out, 2, 3)).unwrap();
    assert!(!first.already_complete);
    let again = pipeline::run_data(&p, base, &opts(&out, 2, 3)).unwrap();
    assert!(again.already_complete);
    assert_eq!(again.stats, first.stats);
    // merge-stats lists the tasks that have not finished.
    let e = merge::merge_stats(&out, None).unwrap_err().to_string();
    assert_eq!(
        e,
        "the filter phase is not complete: missing task 0, task 1"
    );
    for t in 0..2 {
        pipeline::run_data(&p, base, &opts(&out, t, 3)).unwrap();
    }
    let m = merge::merge_stats(&out, None).unwrap();
    assert_eq!(m.tasks, 3);
    assert_eq!(
        m.stats.kept + m.stats.dropped_total() + m.stats.rejected_total(),
        m.stats.input
    );
    // Another config: the earlier phases' output is stale, and said so.
    let mut changed = p.clone();
    changed.run.seed = 99;
    if let config::StageSpec::MinhashDedup(c) = &mut changed.stages[3] {
        c.seed = 7;
    }
    let e = split::buckets(&changed, base, &opts(&out, 0, 1), 3, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("written for config"), "{e}");
}

#[test]
fn stages_that_cannot_be_split_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 4, 50, 2);
    let out = dir.path().join("out");
    let p = pipeline(&input, &out, "  - type: paragraph_dedup", 64);
    let e = split::signatures(&p, Path::new("."), &opts(&out, 0, 2))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("stages[4] (paragraph_dedup): removing paragraphs seen before"),
        "{e}"
    );
    let e = pipeline::run_data(&p, Path::new("."), &opts(&out, 0, 2))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("stages[4] (paragraph_dedup)"), "{e}");
    // As one task it runs.
    pipeline::run_data(&p, Path::new("."), &opts(&out, 0, 1)).unwrap();
}

#[test]
fn slurm_scripts_chain_the_phases_and_leave_out_finished_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 8, 200, 5);
    let out = dir.path().join("out");
    let p = pipeline(&input, &out, "", 64);
    let yaml = dir.path().join("p.yaml");
    fs::write(&yaml, "unused: the pipeline is passed parsed").unwrap();
    let o = slurm::SlurmOptions {
        tasks: 4,
        partition: Some("debug".into()),
        cpus_per_task: 2,
        mem: Some("2G".into()),
        time: Some("30".into()),
        account: None,
        extra: vec!["--qos=low".into()],
        dry_run: true,
        binary: Some(PathBuf::from("/opt/cf/corpusforge")),
    };
    let sub = split::slurm(&p, &yaml, Path::new("."), Some(out.clone()), &o).unwrap();
    let phases: Vec<(&str, Option<&str>)> = sub
        .jobs
        .iter()
        .map(|j| (j.phase.as_str(), j.array.as_deref()))
        .collect();
    assert_eq!(
        phases,
        vec![
            ("signatures", Some("0-3")),
            ("buckets", Some("0-14")),
            ("cluster", None),
            ("filter", Some("0-3")),
            ("finalize", None),
        ]
    );
    assert_eq!(
        sub.jobs[3].command[1..4],
        [
            "--parsable".to_string(),
            "--array=0-3".to_string(),
            "--dependency=afterok:<cluster>".to_string()
        ]
    );
    let script = fs::read_to_string(&sub.jobs[0].script).unwrap();
    for line in [
        "#SBATCH --partition=debug",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=2G",
        "#SBATCH --time=30",
        "#SBATCH --qos=low",
        "#SBATCH --open-mode=append",
        &format!(
            "#SBATCH --output={}",
            std::path::absolute(&out)
                .unwrap()
                .join("slurm/logs/signatures-%a.log")
                .display()
        ),
        "exec /opt/cf/corpusforge dedup signatures ",
        "--task \"$SLURM_ARRAY_TASK_ID\"",
    ] {
        assert!(script.contains(line), "{line} not in:\n{script}");
    }
    assert!(out.join("slurm/jobs.json").exists());

    // Tasks 0 and 2 of the signatures phase are done: only 1 and 3 are submitted again.
    for t in [0, 2] {
        split::signatures(&p, Path::new("."), &opts(&out, t, 4)).unwrap();
    }
    let sub = split::slurm(&p, &yaml, Path::new("."), Some(out.clone()), &o).unwrap();
    assert_eq!(sub.jobs[0].array.as_deref(), Some("1,3"));
    assert_eq!(sub.jobs[0].skipped, vec![0, 2]);
    assert_eq!(sub.jobs[0].command[2], "--array=1,3".to_string());
}

#[test]
fn the_binary_runs_the_phases_and_a_killed_task_continues_from_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 21, 1200, 3);
    let single = dir.path().join("single");
    let out = dir.path().join("split");
    let mut p = pipeline(&input, &out, "", 16);
    p.run.checkpoint_seconds = 1;
    let yaml = dir.path().join("p.yaml");
    fs::write(&yaml, serde_json::to_string(&p).unwrap()).unwrap(); // JSON is YAML
    let bin = env!("CARGO_BIN_EXE_corpusforge");
    let y = yaml.to_str().unwrap();
    let cf = |args: &[&str], env: Option<(&str, &str)>| {
        let mut c = std::process::Command::new(bin);
        c.args(args);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (code, log) = cf(&["run", y, "--output", single.to_str().unwrap()], None);
    assert_eq!(code, Some(0), "{log}");
    for t in ["0", "1"] {
        let (code, log) = cf(
            &["dedup", "signatures", y, "--task", t, "--tasks", "2"],
            None,
        );
        assert_eq!(code, Some(0), "{log}");
    }
    assert_eq!(
        cf(&["dedup", "buckets", y, "--tasks", "2"], None).0,
        Some(0)
    );
    let (code, log) = cf(&["dedup", "cluster", y, "--tasks", "2"], None);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("cluster: stages[2] removes"), "{log}");

    // A task failing on purpose exits non-zero and leaves no manifest.
    let (code, log) = cf(
        &["run", y, "--task", "0", "--tasks", "2"],
        Some(("CORPUSFORGE_FAIL_TASK", "filter:0")),
    );
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("filter task 0 failing on purpose"), "{log}");

    // Task 1, killed after a checkpoint, continues when launched again.
    let mut child = std::process::Command::new(bin)
        .args(["run", y, "--task", "1", "--tasks", "2"])
        .env("CORPUSFORGE_BATCH_DELAY_MS", "150")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !out.join(".resume/checkpoint-00001.json").exists() {
        assert!(t0.elapsed().as_secs() < 60, "no checkpoint appeared");
        assert!(child.try_wait().unwrap().is_none(), "finished too early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, log) = cf(&["run", y, "--task", "1", "--tasks", "2"], None);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("resuming from"), "{log}");
    let (code, log) = cf(&["run", y, "--task", "1", "--tasks", "2"], None);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("task 1 of 2: already complete"), "{log}");
    assert_eq!(
        cf(&["run", y, "--task", "0", "--tasks", "2"], None).0,
        Some(0)
    );

    let (code, log) = cf(&["merge-stats", out.to_str().unwrap()], None);
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains("2 tasks, accounting checked; wrote stats.json"),
        "{log}"
    );
    let (code, log) = cf(&["finalize", y, "--tasks", "2"], None);
    assert_eq!(code, Some(0), "{log}");
    let (code, log) = cf(
        &["diff", single.to_str().unwrap(), out.to_str().unwrap()],
        None,
    );
    assert_eq!(code, Some(0), "{log}");
    // And a difference is reported with exit code 1.
    let other = dir.path().join("other");
    let mut q = p.clone();
    q.stages.pop();
    let yq = dir.path().join("q.yaml");
    fs::write(&yq, serde_json::to_string(&q).unwrap()).unwrap();
    let (code, log) = cf(
        &[
            "run",
            yq.to_str().unwrap(),
            "--output",
            other.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, Some(0), "{log}");
    let (code, log) = cf(
        &["diff", single.to_str().unwrap(), other.to_str().unwrap()],
        None,
    );
    assert_eq!(code, Some(1), "{log}");
}

#[test]
fn random_corpora_over_random_splits_agree_with_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(99);
    for case in 0..5 {
        let files = 1 + rng.below(12);
        let tasks = 2 + rng.below(6);
        let docs = 100 + rng.below(500);
        let root = dir.path().join(format!("case{case}"));
        let input = corpus(&root, 1000 + case, docs, files);
        let single = root.join("single");
        pipeline::run_data(
            &pipeline(&input, &single, "", 1 + rng.below(100)),
            Path::new("."),
            &opts(&single, 0, 1),
        )
        .unwrap();
        let out = root.join("split");
        run_split(&pipeline(&input, &out, "", 1 + rng.below(100)), &out, tasks);
        let d = corpusforge::diff::diff(&single, &out).unwrap();
        assert!(
            d.differences.is_empty(),
            "case {case}: {docs} documents in {files} files over {tasks} tasks:\n{}",
            d.differences.join("\n")
        );
    }
}

#[test]
fn changed_inputs_make_every_phase_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let input = corpus(dir.path(), 31, 400, 5);
    let out = dir.path().join("split");
    let p = pipeline(&input, &out, "", 64);
    run_split(&p, &out, 3);
    // Copy a document of the last file to the end of the first: in input order the copy now
    // comes first, so the original, in another task's file, becomes its duplicate.
    let last = fs::read_to_string(input.join("part-04.jsonl")).unwrap();
    let line = last
        .lines()
        .next()
        .unwrap()
        .replace("\"id\":\"", "\"id\":\"copy-");
    let first = input.join("part-00.jsonl");
    let mut text = fs::read_to_string(&first).unwrap();
    text.push_str(&line);
    text.push('\n');
    fs::write(&first, text).unwrap();
    run_split(&p, &out, 3);
    let single = dir.path().join("single");
    pipeline::run_data(&p, Path::new("."), &opts(&single, 0, 1)).unwrap();
    assert_same(&single, &out);
    let d = corpusforge::diff::diff(&single, &out).unwrap();
    assert!(d.compared.iter().any(|c| c.contains("dropped")));
}
