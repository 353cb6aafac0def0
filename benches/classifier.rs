//! The quality classifier on real data (`cargo bench --bench classifier`): training time on
//! prose (positive) against HTML pages (negative), scoring MB/s on one core and on all, held-out
//! accuracy and AUC, file size and load time. Reads `../shared/data`; skips when it is absent.

use std::path::PathBuf;
use std::time::Instant;

use unicode_segmentation::UnicodeSegmentation;

use corpusforge::classifier::{self as cls, train, Model, TrainConfig};

fn texts(path: &PathBuf) -> Vec<String> {
    let data = std::fs::read_to_string(path).unwrap();
    data.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

/// Cuts `doc` into pieces of about `size` bytes at line breaks.
fn slices(doc: &str, size: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in doc.split_inclusive('\n') {
        cur.push_str(line);
        if cur.len() >= size {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn mb(docs: &[String]) -> f64 {
    docs.iter().map(|d| d.len()).sum::<usize>() as f64 / 1e6
}

fn extraction_rate(model: &Model, docs: &[String]) -> f64 {
    let cfg = model.config().features;
    let mut scratch = cls::features::Scratch::default();
    let mut out = Vec::new();
    let mut n = 0usize;
    let t = Instant::now();
    for d in docs {
        cls::features::extract_into(d, &cfg, &mut scratch, &mut out);
        n += out.len();
    }
    assert!(n > 0);
    mb(docs) / t.elapsed().as_secs_f64()
}

fn scoring_rate(model: &Model, docs: &[String]) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let t = Instant::now();
    let s: f32 = pool.install(|| model.score_batch(docs)).iter().sum();
    assert!(s.is_finite());
    mb(docs) / t.elapsed().as_secs_f64()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    let (prose, html) = (
        root.join("english/prose.jsonl"),
        root.join("html/pages.jsonl"),
    );
    if !prose.exists() || !html.exists() {
        eprintln!("skipping: no data under {}", root.display());
        return;
    }
    let pos = texts(&prose);
    let pages = texts(&html);
    let neg: Vec<String> = pages.iter().flat_map(|p| slices(p, 4096)).collect();
    let total = mb(&pos) + mb(&neg);
    println!(
        "data: {} prose docs ({:.1} MB), {} html pages ({:.1} MB) sliced into {} docs",
        pos.len(),
        mb(&pos),
        pages.len(),
        mb(&pages),
        neg.len()
    );

    // The fast word splitter must agree with unicode_words() on real text.
    let guide = root.join("multilingual/installation-guide.jsonl");
    let multilingual = if guide.exists() {
        texts(&guide)
    } else {
        Vec::new()
    };
    for d in pos.iter().chain(&pages).chain(&multilingual) {
        let mut words = Vec::new();
        cls::features::for_each_word(d, |w| {
            words.push(w);
            true
        });
        assert!(
            words.iter().copied().eq(d.unicode_words()),
            "word split differs"
        );
    }
    println!(
        "word split agrees with unicode_words() on {} documents",
        pos.len() + pages.len() + multilingual.len()
    );

    let cfg = TrainConfig {
        seed: 1,
        ..TrainConfig::default()
    };
    let t = Instant::now();
    let (model, m) = train(&pos, &neg, &cfg).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "train (prose vs html slices, {} threads): {total:.1} MB in {secs:.2} s = {:.1} MB/s",
        rayon::current_num_threads(),
        total / secs
    );
    println!("holdout: {}", serde_json::to_string(&m).unwrap());

    println!(
        "features only, 1 thread: prose {:.1} MB/s, html slices {:.1} MB/s",
        extraction_rate(&model, &pos),
        extraction_rate(&model, &neg)
    );
    println!(
        "score 1 thread: prose {:.1} MB/s",
        scoring_rate(&model, &pos)
    );
    println!(
        "score 1 thread: html slices {:.1} MB/s",
        scoring_rate(&model, &neg)
    );
    println!(
        "score 1 thread: whole html pages {:.1} MB/s (only the first max_words words are read)",
        scoring_rate(&model, &pages)
    );
    let t = Instant::now();
    let all: Vec<&str> = pos.iter().chain(&neg).map(String::as_str).collect();
    model.score_batch(&all);
    println!(
        "score_batch {} threads: {:.1} MB/s",
        rayon::current_num_threads(),
        total / t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let (_, m) = train(&pos, &pages, &cfg).unwrap();
    println!(
        "train (prose vs whole html pages): {:.2} s; holdout: {}",
        t.elapsed().as_secs_f64(),
        serde_json::to_string(&m).unwrap()
    );

    let path = std::env::temp_dir().join(format!("cfqc-bench-{}.cfqc", std::process::id()));
    let t = Instant::now();
    model.save(&path).unwrap();
    let saved = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let loaded = Model::load(&path).unwrap();
    println!(
        "file: {:.1} MB, save {saved:.2} s, load {:.2} s",
        std::fs::metadata(&path).unwrap().len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    assert_eq!(loaded.metrics(), model.metrics());
    assert!(loaded == model, "loaded model differs");
    std::fs::remove_file(&path).unwrap();
}
