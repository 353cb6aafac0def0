//! A run split into tasks against the same run in one process, on the real text in
//! ../shared/data cut into 16 files (the split is by file). Runs the phases one after another
//! in this process, as a one-node cluster would, and prints the wall time and documents/s of
//! each phase, the total against the single-process run, the size of the exchanged files, and
//! whether the outputs agree.
//!
//! `cargo bench --bench split` (BENCH_TASKS=N, default 4; BENCH_THREADS=T per phase, default 1).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::Instant;

use corpusforge::config;
use corpusforge::distributed;
use corpusforge::pipeline::{self, split, RunOptions, TaskSpec};

fn dir_bytes(p: &Path) -> u64 {
    let Ok(rd) = fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

fn main() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    if !data.is_dir() {
        eprintln!("skipping: ../shared/data is not present");
        return;
    }
    let env = |k: &str, d: usize| -> usize {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let tasks = env("BENCH_TASKS", 4).max(2);
    let threads = env("BENCH_THREADS", 1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let input = tmp.path().join("in");
    fs::create_dir_all(&input).unwrap();
    // 16 files, lines dealt round-robin, so every file mixes every source.
    let mut outs: Vec<_> = (0..16)
        .map(|i| {
            std::io::BufWriter::new(
                fs::File::create(input.join(format!("chunk-{i:02}.jsonl"))).unwrap(),
            )
        })
        .collect();
    let mut n = 0usize;
    let mut bytes = 0u64;
    for f in [
        "english/prose.jsonl",
        "html/pages.jsonl",
        "multilingual/fortunes.jsonl",
        "multilingual/installation-guide.jsonl",
    ] {
        for line in BufReader::new(fs::File::open(data.join(f)).unwrap()).lines() {
            let line = line.unwrap();
            bytes += line.len() as u64 + 1;
            writeln!(outs[n % 16], "{line}").unwrap();
            n += 1;
        }
    }
    drop(outs);
    let yaml = |out: &Path| {
        format!(
            "input:\n  paths: [{:?}]\nstages:\n  - type: html_strip\n  - type: normalize\n  - type: length\n    min_words: 5\n  - type: exact_dedup\n  - type: minhash_dedup\noutput:\n  dir: {:?}\n  write_dropped: true\n  report: false\nrun:\n  threads: {threads}\n",
            input.display().to_string(),
            out.display().to_string()
        )
    };
    let single = tmp.path().join("single");
    let split = tmp.path().join("split");
    let p1 = config::load_str(&yaml(&single), "single.yaml").unwrap();
    let p = config::load_str(&yaml(&split), "split.yaml").unwrap();
    let base = Path::new(".");
    let o = |out: &Path, index, count| RunOptions {
        output: Some(out.to_path_buf()),
        task: TaskSpec { index, count },
        ..Default::default()
    };
    println!(
        "corpus: {n} records, {:.1} MB in 16 files; {tasks} tasks, {threads} thread(s) each",
        bytes as f64 / 1e6
    );
    let t = Instant::now();
    let s = pipeline::run_data(&p1, base, &o(&single, 0, 1)).unwrap();
    let single_s = t.elapsed().as_secs_f64();
    println!(
        "single process:  {single_s:7.2} s  {:8.0} docs/s  ({} kept)",
        n as f64 / single_s,
        s.stats.kept
    );
    let mut total = 0.0;
    let mut phase = |name: &str, per: usize, f: &mut dyn FnMut(usize)| {
        let t = Instant::now();
        let mut slowest = 0.0f64;
        for i in 0..per {
            let ti = Instant::now();
            f(i);
            slowest = slowest.max(ti.elapsed().as_secs_f64());
        }
        let secs = t.elapsed().as_secs_f64();
        total += secs;
        println!(
            "{name:<15}  {secs:7.2} s  ({per} job(s), slowest {slowest:.2} s; {:.0} docs/s over all jobs)",
            n as f64 / secs
        );
    };
    phase("signatures", tasks, &mut |i| {
        split::signatures(&p, base, &o(&split, i, tasks)).unwrap();
    });
    let units = distributed::units(&distributed::plan(&p).unwrap()).len();
    phase("buckets", units, &mut |u| {
        split::buckets(&p, base, &o(&split, 0, 1), tasks, Some(u)).unwrap();
    });
    phase("cluster", 1, &mut |_| {
        split::cluster(&p, base, &o(&split, 0, 1), tasks).unwrap();
    });
    phase("filter", tasks, &mut |i| {
        pipeline::run_data(&p, base, &o(&split, i, tasks)).unwrap();
    });
    phase("finalize", 1, &mut |_| {
        split::finalize(&p, base, &split, tasks, None).unwrap();
    });
    let dedup = split.join(".dedup");
    println!(
        "split total:     {total:7.2} s  = {:.2}x the single-process time on one machine",
        total / single_s
    );
    println!(
        "exchanged files: {:.1} MB (signatures {:.1}, buckets {:.1}, removals {:.2}) = {:.0} bytes per record",
        dir_bytes(&dedup) as f64 / 1e6,
        dir_bytes(&dedup.join("signatures")) as f64 / 1e6,
        dir_bytes(&dedup.join("buckets")) as f64 / 1e6,
        dir_bytes(&dedup.join("removals")) as f64 / 1e6,
        dir_bytes(&dedup) as f64 / n as f64
    );
    match corpusforge::diff::diff(&single, &split) {
        Ok(d) if d.differences.is_empty() => println!("outputs agree: {}", d.compared.join("; ")),
        Ok(d) => println!("OUTPUTS DIFFER:\n{}", d.differences.join("\n")),
        Err(e) => println!("diff failed: {e}"),
    }
}
