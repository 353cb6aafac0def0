//! The trainer end to end: model gradients against candle's autograd and finite differences,
//! causality, initial loss, overfitting, the shard loader's order and coverage, resume
//! equality, checkpoints, metrics and sampling. Token shards and a tokenizer are written here.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ListBuilder, StringArray, UInt32Array, UInt32Builder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use candle_core::{DType, Device, Tensor};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use corpusforge::train::checkpoint;
use corpusforge::train::loader::{Loader, Shards};
use corpusforge::train::metrics::{self, Record, SourceEval};
use corpusforge::train::model::{Backend, Batch, Gpt, GptConfig, Mode};
use corpusforge::train::optim::AdamW;
use corpusforge::train::rng::Rng;
use corpusforge::train::{
    self, MixSource, Mixture, ModelConfig, OptimizerConfig, SampleOptions, TrainConfig, TrainData,
    TrainOptions, TrainPaths,
};

// ---------------------------------------------------------------------------------------------
// Fixtures

/// Writes a token shard with the tokenize stage's schema, `rows_per_group` rows per row group.
fn write_shard(path: &Path, docs: &[Vec<u32>], rows_per_group: usize) {
    let item = Arc::new(Field::new("item", DataType::UInt32, true));
    let schema = Arc::new(Schema::new(vec![
        Field::new("doc_id", DataType::Utf8, false),
        Field::new("tokens", DataType::List(item), false),
        Field::new("n_tokens", DataType::UInt32, false),
    ]));
    let ids = StringArray::from_iter_values((0..docs.len()).map(|i| format!("doc-{i}")));
    let mut lb = ListBuilder::new(UInt32Builder::new());
    for d in docs {
        lb.values().append_slice(d);
        lb.append(true);
    }
    let n = UInt32Array::from_iter_values(docs.iter().map(|d| d.len() as u32));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(ids), Arc::new(lb.finish()), Arc::new(n)],
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// A word-level tokenizer over `<|endoftext|>` (id 0) and `t1 .. t{vocab-1}`.
fn write_tokenizer(path: &Path, vocab: usize) {
    let mut v = serde_json::Map::new();
    v.insert("<|endoftext|>".into(), 0.into());
    for i in 1..vocab {
        v.insert(format!("t{i}"), i.into());
    }
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": v, "unk_token": "<|endoftext|>"}
    });
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string(&json).unwrap()).unwrap();
}

/// Learnable documents: arithmetic progressions mod (vocab - 1) over ids 1.., then EOS (0).
fn pattern_docs(n: usize, vocab: u32, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let len = 10 + rng.below(30);
            let start = rng.below(vocab as usize - 1) as u32;
            let step = [1u32, 2, 3][rng.below(3)];
            let mut d: Vec<u32> = (0..len as u32)
                .map(|i| (start + i * step) % (vocab - 1) + 1)
                .collect();
            d.push(0);
            d
        })
        .collect()
}

/// A data directory with train (3 shards) and val splits and a tokenizer.
fn data_dir(root: &Path, vocab: u32) -> PathBuf {
    let data = root.join("data");
    let docs = pattern_docs(240, vocab, 1);
    for (i, chunk) in docs.chunks(80).enumerate() {
        write_shard(
            &data.join(format!("tokens/train/part-{i:05}.parquet")),
            chunk,
            7,
        );
    }
    write_shard(
        &data.join("tokens/val/part-00000.parquet"),
        &pattern_docs(30, vocab, 2),
        10,
    );
    write_tokenizer(&data.join("tokenizer.json"), vocab as usize);
    data
}

fn tiny(vocab: usize) -> GptConfig {
    GptConfig {
        vocab_size: vocab,
        n_layer: 2,
        n_head: 2,
        n_embd: 16,
        seq_len: 8,
        dropout: 0.0,
        layer_norm_eps: 1e-5,
        objective: Default::default(),
    }
}

fn random_batch(b: usize, t: usize, vocab: usize, seed: u64) -> Batch {
    let mut rng = Rng::new(seed);
    let windows: Vec<Vec<u32>> = (0..b)
        .map(|_| (0..=t).map(|_| rng.below(vocab) as u32).collect())
        .collect();
    Batch::from_windows(&windows)
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar().unwrap()
}

// ---------------------------------------------------------------------------------------------
// Model

#[test]
fn every_parameter_receives_a_nonzero_gradient() {
    for backend in [Backend::Fused, Backend::Reference] {
        let mut m = Gpt::new(tiny(32), 3, &Device::Cpu, DType::F32).unwrap();
        m.set_backend(backend).unwrap();
        let loss = m
            .loss(&random_batch(3, 8, 32, 5), Mode::Train { dropout_seed: 1 })
            .unwrap();
        let grads = loss.backward().unwrap();
        assert_eq!(m.params.len(), 4 + 12 * 2);
        for p in &m.params {
            let g = grads
                .get(p.var.as_tensor())
                .unwrap_or_else(|| panic!("{backend:?}: no gradient for {}", p.name));
            let max = flat(g).iter().fold(0f64, |a, &v| a.max(v.abs()));
            assert!(max > 0.0, "{backend:?}: zero gradient for {}", p.name);
        }
    }
}

/// Max relative difference between two gradient sets, per parameter.
fn assert_same_grads(m: &Gpt, a: &[Vec<f64>], b: &[Vec<f64>], tol: f64, what: &str) {
    for ((p, x), y) in m.params.iter().zip(a).zip(b) {
        let scale = y.iter().fold(1e-12f64, |s, v| s.max(v.abs()));
        let worst = x.iter().zip(y).fold(0f64, |w, (u, v)| w.max((u - v).abs()));
        assert!(
            worst / scale < tol,
            "{what}: {}: max diff {worst} (scale {scale})",
            p.name
        );
    }
}

#[test]
fn fused_paths_match_candle_autograd() {
    // f64 so the comparison is about the math, not rounding; dropout on, so the masks must
    // agree too; more than one 64-row attention block.
    let cfg = GptConfig {
        seq_len: 70,
        dropout: 0.1,
        ..tiny(29)
    };
    let mut m = Gpt::new(cfg, 11, &Device::Cpu, DType::F64).unwrap();
    let batch = random_batch(2, 70, 29, 4);
    let mode = Mode::Train { dropout_seed: 7 };
    let grads_of = |m: &Gpt, store: candle_core::backprop::GradStore| -> Vec<Vec<f64>> {
        m.params
            .iter()
            .map(|p| flat(store.get(p.var.as_tensor()).unwrap()))
            .collect()
    };
    // 1. candle's backward over the fused custom ops.
    let op_loss = m.loss(&batch, mode).unwrap();
    let ops = grads_of(&m, op_loss.backward().unwrap());
    // 2. The hand-written pass.
    let (manual_loss, manual) = m.forward_backward(&batch, 7).unwrap();
    let manual: Vec<Vec<f64>> = manual.iter().map(flat).collect();
    // 3. Plain candle ops, candle's autograd.
    m.set_backend(Backend::Reference).unwrap();
    let ref_loss = m.loss(&batch, mode).unwrap();
    let reference = grads_of(&m, ref_loss.backward().unwrap());
    assert!((scalar(&op_loss) - scalar(&ref_loss)).abs() < 1e-10);
    assert!((manual_loss - scalar(&ref_loss)).abs() < 1e-10);
    assert_same_grads(&m, &ops, &manual, 1e-10, "custom ops vs hand-written");
    // candle's GELU backward uses 6-digit constants.
    assert_same_grads(&m, &ops, &reference, 1e-5, "custom ops vs plain candle");
}

#[test]
fn gradients_match_finite_differences() {
    let cfg = tiny(23);
    let m = Gpt::new(cfg, 7, &Device::Cpu, DType::F64).unwrap();
    let batch = random_batch(2, 8, 23, 9);
    let loss = m.loss(&batch, Mode::Train { dropout_seed: 0 }).unwrap();
    let grads = loss.backward().unwrap();
    let eval = || scalar(&m.loss(&batch, Mode::Eval).unwrap());
    let h = 1e-5;
    let mut rng = Rng::new(1);
    for p in &m.params {
        let g = flat(grads.get(p.var.as_tensor()).unwrap());
        let base = flat(p.var.as_tensor());
        let shape = p.var.shape().clone();
        for _ in 0..3 {
            let i = rng.below(base.len());
            let set = |v: f64| {
                let mut x = base.clone();
                x[i] = v;
                p.var
                    .set(&Tensor::from_vec(x, shape.clone(), &Device::Cpu).unwrap())
                    .unwrap();
            };
            set(base[i] + h);
            let up = eval();
            set(base[i] - h);
            let down = eval();
            set(base[i]);
            let numeric = (up - down) / (2.0 * h);
            let err = (numeric - g[i]).abs() / (numeric.abs() + g[i].abs()).max(1e-6);
            assert!(
                err < 1e-4,
                "{}[{i}]: analytic {} numeric {numeric}",
                p.name,
                g[i]
            );
        }
    }
}

#[test]
fn logits_are_causal() {
    let (b, t, v) = (2, 8, 32);
    let m = Gpt::new(tiny(v), 5, &Device::Cpu, DType::F32).unwrap();
    let mut rng = Rng::new(2);
    let ids: Vec<u32> = (0..b * t).map(|_| rng.below(v) as u32).collect();
    let base = m.logits(&ids, b, t).unwrap();
    for cut in [0, 3, 6] {
        let mut changed = ids.clone();
        for row in 0..b {
            for j in cut + 1..t {
                changed[row * t + j] =
                    (changed[row * t + j] + 1 + rng.below(v - 1) as u32) % v as u32;
            }
        }
        let other = m.logits(&changed, b, t).unwrap();
        let same = base.narrow(1, 0, cut + 1).unwrap();
        let same2 = other.narrow(1, 0, cut + 1).unwrap();
        assert_eq!(flat(&same), flat(&same2), "positions <= {cut} changed");
        if cut + 1 < t {
            let later = flat(&base.narrow(1, cut + 1, 1).unwrap());
            let later2 = flat(&other.narrow(1, cut + 1, 1).unwrap());
            assert_ne!(later, later2, "the model ignores its input");
        }
    }
}

#[test]
fn initial_loss_is_near_ln_vocab() {
    for (vocab, embd) in [(65, 32), (512, 64)] {
        let cfg = GptConfig {
            n_embd: embd,
            n_head: 4,
            seq_len: 32,
            ..tiny(vocab)
        };
        let m = Gpt::new(cfg, 1, &Device::Cpu, DType::F32).unwrap();
        let loss = scalar(&m.loss(&random_batch(4, 32, vocab, 3), Mode::Eval).unwrap());
        let want = (vocab as f64).ln();
        assert!(
            (loss - want).abs() / want < 0.05,
            "vocab {vocab}: loss {loss}, ln V {want}"
        );
    }
}

#[test]
fn a_tiny_model_overfits_one_batch() {
    let cfg = GptConfig {
        n_embd: 32,
        seq_len: 16,
        ..tiny(64)
    };
    let m = Gpt::new(cfg, 2, &Device::Cpu, DType::F32).unwrap();
    let ocfg = OptimizerConfig {
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(&m.params, &ocfg).unwrap();
    let batch = random_batch(4, 16, 64, 8);
    let mut loss = f64::INFINITY;
    for _ in 0..400 {
        let l = m.loss(&batch, Mode::Train { dropout_seed: 0 }).unwrap();
        loss = scalar(&l);
        if loss < 0.1 {
            break;
        }
        let mut store = l.backward().unwrap();
        let grads: Vec<Tensor> = m
            .params
            .iter()
            .map(|p| store.remove(p.var.as_tensor()).unwrap())
            .collect();
        opt.step(&m.params, &grads, 1e-2, 1.0).unwrap();
    }
    assert!(loss < 0.1, "loss after training on one batch: {loss}");
}

#[test]
fn gradient_accumulation_averages_micro_batches() {
    let m = Gpt::new(tiny(32), 3, &Device::Cpu, DType::F64).unwrap();
    let full = random_batch(4, 8, 32, 1);
    let half = |r: std::ops::Range<usize>| Batch {
        ids: Arc::new(full.ids[r.start * 8..r.end * 8].to_vec()),
        targets: Arc::new(full.targets[r.start * 8..r.end * 8].to_vec()),
        b: r.len(),
        t: 8,
    };
    let g_full = m
        .loss(&full, Mode::Train { dropout_seed: 0 })
        .unwrap()
        .backward()
        .unwrap();
    let g_a = m
        .loss(&half(0..2), Mode::Train { dropout_seed: 0 })
        .unwrap()
        .backward()
        .unwrap();
    let g_b = m
        .loss(&half(2..4), Mode::Train { dropout_seed: 0 })
        .unwrap()
        .backward()
        .unwrap();
    for p in &m.params {
        let f = flat(g_full.get(p.var.as_tensor()).unwrap());
        let a = flat(g_a.get(p.var.as_tensor()).unwrap());
        let b = flat(g_b.get(p.var.as_tensor()).unwrap());
        for ((x, y), z) in f.iter().zip(&a).zip(&b) {
            assert!((x - (y + z) / 2.0).abs() < 1e-12, "{}", p.name);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Loader

/// Shards whose tokens are 0, 1, 2, ... in file order: each token value is a position.
fn numbered_shards(dir: &Path) -> (Shards, u32) {
    let mut next = 0u32;
    let mut rng = Rng::new(4);
    for f in 0..3 {
        let docs: Vec<Vec<u32>> = (0..20)
            .map(|_| {
                let len = 1 + rng.below(25) as u32;
                let d: Vec<u32> = (next..next + len).collect();
                next += len;
                d
            })
            .collect();
        write_shard(&dir.join(format!("part-{f:05}.parquet")), &docs, 3);
    }
    (Shards::open(dir).unwrap(), next)
}

#[test]
fn loader_covers_every_window_once_per_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let (shards, total) = numbered_shards(tmp.path());
    assert_eq!(shards.units.len(), 21); // 3 files x ceil(20 / 3) row groups
    let t = 8usize;
    let per_epoch = (total as usize - 1) / t;
    let mut loader = Loader::new(shards.clone(), t, 9, 4);
    let epoch0 = loader.next_windows(per_epoch).unwrap();
    assert_eq!(
        loader.state().epoch,
        0,
        "an epoch has exactly {per_epoch} windows"
    );
    let mut targets = HashSet::new();
    for w in &epoch0 {
        assert_eq!(w.len(), t + 1);
        for &x in &w[1..] {
            assert!(
                targets.insert(x),
                "token {x} is a target twice in one epoch"
            );
        }
    }
    assert_eq!(targets.len(), per_epoch * t);
    // What is never a target: the epoch's first token and a tail shorter than a window.
    assert!(total as usize - targets.len() <= t);
    // The order is shuffled: not the file order.
    let firsts: Vec<u32> = epoch0.iter().map(|w| w[0]).collect();
    let mut sorted = firsts.clone();
    sorted.sort_unstable();
    assert_ne!(firsts, sorted);
    // The next epoch covers everything again, in another order.
    let epoch1 = loader.next_windows(per_epoch).unwrap();
    let t1: HashSet<u32> = epoch1.iter().flat_map(|w| w[1..].to_vec()).collect();
    assert_eq!(t1.len(), per_epoch * t);
    assert_ne!(epoch0, epoch1);
}

#[test]
fn loader_is_deterministic_and_resumable() {
    let tmp = tempfile::tempdir().unwrap();
    let (shards, _) = numbered_shards(tmp.path());
    let t = 5usize;
    let mut a = Loader::new(shards.clone(), t, 3, 2);
    let first = a.next_windows(40).unwrap();
    let state = a.state().clone();
    let rest = a.next_windows(300).unwrap(); // crosses an epoch boundary
    let mut b = Loader::new(shards.clone(), t, 3, 2);
    assert_eq!(b.next_windows(40).unwrap(), first);
    let json = serde_json::to_string(&state).unwrap();
    let mut c = Loader::resume(
        shards.clone(),
        t,
        3,
        2,
        serde_json::from_str(&json).unwrap(),
    );
    assert_eq!(c.next_windows(300).unwrap(), rest);
    let mut d = Loader::new(shards, t, 4, 2);
    assert_ne!(
        d.next_windows(40).unwrap(),
        first,
        "the seed changes the order"
    );
}

#[test]
fn loader_errors_name_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let err = Shards::open(&tmp.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope") && err.contains("no token shards"),
        "{err}"
    );
    write_shard(
        &tmp.path().join("s/part-00000.parquet"),
        &[vec![1, 2, 3]],
        10,
    );
    let mut l = Loader::new(Shards::open(&tmp.path().join("s")).unwrap(), 8, 1, 1);
    let err = l.next_window().unwrap_err().to_string();
    assert!(
        err.contains("3 tokens") && err.contains("seq_len + 1 = 9"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Training runs

fn run_config(data: &Path, out: &Path) -> (TrainConfig, TrainPaths) {
    let cfg = TrainConfig {
        model: ModelConfig {
            n_layer: 2,
            n_head: 2,
            n_embd: 32,
            seq_len: 16,
            dropout: 0.1,
            layer_norm_eps: 1e-5,
        },
        optimizer: OptimizerConfig {
            lr: 3e-3,
            min_lr: 3e-4,
            warmup_steps: 3,
            ..Default::default()
        },
        batch_size: 4,
        grad_accum: 2,
        max_steps: Some(12),
        eval_interval: 4,
        eval_tokens: 128,
        checkpoint_interval: 4,
        keep_checkpoints: 2,
        shuffle_buffer: 2,
        seed: 5,
        ..Default::default()
    };
    let paths = TrainPaths::single(
        data.to_path_buf(),
        out.to_path_buf(),
        data.join("tokenizer.json"),
    );
    (cfg, paths)
}

fn curve(path: &Path) -> Vec<(String, u64, f64, f64, f64)> {
    metrics::read(path)
        .unwrap()
        .into_iter()
        .map(|r| match r {
            Record::Train {
                step,
                loss,
                lr,
                grad_norm,
                ..
            } => ("train".to_string(), step, loss, lr, grad_norm),
            Record::Eval {
                step,
                val_loss,
                perplexity,
                ..
            } => ("eval".to_string(), step, val_loss, perplexity, 0.0),
        })
        .collect()
}

#[test]
fn a_resumed_run_matches_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path(), 40);
    let (cfg, whole) = run_config(&data, &tmp.path().join("whole"));
    let s = train::train(&cfg, &whole, &TrainOptions::default()).unwrap();
    assert_eq!((s.steps, s.total_steps), (12, 12));

    let (_, parts) = run_config(&data, &tmp.path().join("parts"));
    let first = train::train(
        &cfg,
        &parts,
        &TrainOptions {
            stop_after: Some(6),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(first.steps, 6);
    let again = train::train(&cfg, &parts, &TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(again.contains("--resume"), "{again}");
    let second = train::train(
        &cfg,
        &parts,
        &TrainOptions {
            resume: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(second.steps, 12);

    let a = curve(&whole.out.join("metrics.jsonl"));
    let b = curve(&parts.out.join("metrics.jsonl"));
    assert_eq!(
        a.len(),
        12 + 4,
        "12 steps and evaluations at 0, 4, 8, 12: {a:?}"
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, x.1), (&y.0, y.1));
        for (u, v) in [(x.2, y.2), (x.3, y.3), (x.4, y.4)] {
            assert!(
                (u - v).abs() <= 1e-6 * u.abs().max(1.0),
                "step {}: {u} vs {v}",
                x.1
            );
        }
    }
    // Only the newest two checkpoints remain, and no temporary directories.
    let names: Vec<String> = std::fs::read_dir(parts.out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, vec!["step-000008", "step-000012"]);
    let done = train::train(
        &cfg,
        &parts,
        &TrainOptions {
            resume: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(done.already_complete);
    // Re-running the finished run is a no-op too; with other settings it is refused.
    assert!(
        train::train(&cfg, &parts, &TrainOptions::default())
            .unwrap()
            .already_complete
    );
    let other = TrainConfig {
        seed: 6,
        ..cfg.clone()
    };
    assert!(train::train(&other, &parts, &TrainOptions::default()).is_err());
}

#[test]
fn training_lowers_the_val_loss_and_samples_text() {
    let tmp = tempfile::tempdir().unwrap();
    let vocab = 40;
    let data = data_dir(tmp.path(), vocab);
    let (mut cfg, paths) = run_config(&data, &tmp.path().join("run"));
    cfg.model.dropout = 0.0;
    cfg.max_steps = Some(60);
    cfg.grad_accum = 1;
    cfg.batch_size = 8;
    cfg.eval_interval = 30;
    cfg.checkpoint_interval = 0;
    let s = train::train(&cfg, &paths, &TrainOptions::default()).unwrap();
    let initial = s.initial_val_loss.unwrap();
    let last = s.final_val_loss.unwrap();
    let ln_v = (vocab as f64).ln();
    assert!((initial - ln_v).abs() < 0.05 * ln_v, "initial {initial}");
    assert!(last < 0.6 * ln_v, "val loss {initial} -> {last}");
    assert!(s.tokens_per_s > 0.0 && s.mfu > 0.0);

    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(paths.out.join("run.json")).unwrap())
            .unwrap();
    assert!(run["peak_flops"].as_f64().unwrap() > 1e8);
    assert_eq!(run["eos_id"], 0);
    let ck = checkpoint::latest(&paths.out.join("checkpoints"))
        .unwrap()
        .unwrap();
    assert!(ck.ends_with("step-000060"));
    for f in [
        "model.safetensors",
        "optimizer.safetensors",
        "state.json",
        "tokenizer.json",
    ] {
        assert!(ck.join(f).is_file(), "{f}");
    }

    let opts = SampleOptions {
        prompt: "t1 t3 t5".into(),
        max_tokens: 6,
        temperature: 0.0,
        top_k: 0,
        seed: 1,
        kv_cache: true,
    };
    let sample = train::generate(&paths.out, &opts).unwrap();
    assert_eq!(sample.checkpoint, ck);
    assert!(sample.text.starts_with("t1 t3 t5"), "{}", sample.text);
    assert!(!sample.tokens.is_empty() && sample.tokens.iter().all(|&t| t < vocab));
    // Greedy decoding has learned the progression (step 2): t7 comes next.
    assert_eq!(sample.tokens[0], 7, "{}", sample.text);
    let again = train::generate(
        &ck,
        &SampleOptions {
            temperature: 1.0,
            top_k: 5,
            ..opts.clone()
        },
    )
    .unwrap();
    let same = train::generate(
        &ck,
        &SampleOptions {
            temperature: 1.0,
            top_k: 5,
            ..opts
        },
    )
    .unwrap();
    assert_eq!(again.tokens, same.tokens, "the seed fixes the sample");
}

#[test]
fn a_train_file_names_its_data() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("train.yaml");
    std::fs::write(
        &f,
        "data: out\nmodel: {n_layer: 1, n_head: 1, n_embd: 8, seq_len: 4}\nmax_steps: 2\n",
    )
    .unwrap();
    let (cfg, paths) = train::load_train_file(&f).unwrap();
    assert_eq!(cfg.model.n_embd, 8);
    assert_eq!(paths.data, tmp.path().join("out"));
    assert_eq!(paths.out, tmp.path().join("out/train"));
    std::fs::write(&f, "model: {n_layer: 1}\nmax_steps: 2\n").unwrap();
    let err = train::load_train_file(&f).unwrap_err();
    assert!(err.contains("train.yaml") && err.contains("data"), "{err}");
    std::fs::write(&f, "data: out\n").unwrap();
    let err = train::load_train_file(&f).unwrap_err();
    assert!(err.contains("max_steps"), "{err}");
}

#[test]
fn missing_shards_are_reported_with_their_path() {
    let tmp = tempfile::tempdir().unwrap();
    write_tokenizer(&tmp.path().join("tokenizer.json"), 10);
    let (cfg, paths) = run_config(tmp.path(), &tmp.path().join("train"));
    let err = train::train(&cfg, &paths, &TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tokens/train") && err.contains("no token shards"),
        "{err}"
    );
}

#[test]
fn shipped_train_only_pipeline_loads() {
    let p = corpusforge::config::load_file(Path::new("pipelines/train-only.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let t = p.train.expect("a train section");
    assert!(corpusforge::config::Check::check(&t).is_empty());
}

#[test]
fn cli_trains_from_a_train_file_and_generates() {
    let tmp = tempfile::tempdir().unwrap();
    data_dir(tmp.path(), 40);
    let file = tmp.path().join("TRAIN.yaml");
    std::fs::write(
        &file,
        "data: data\nout: run\nmodel: {n_layer: 1, n_head: 2, n_embd: 16, seq_len: 16}\n\
         optimizer: {warmup_steps: 2}\nbatch_size: 4\nmax_steps: 6\neval_interval: 3\neval_tokens: 64\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_corpusforge");
    let out = std::process::Command::new(bin)
        .args(["train", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("trained 6/6 steps"), "{stdout}");
    let records = metrics::read(&tmp.path().join("run/metrics.jsonl")).unwrap();
    assert_eq!(
        records
            .iter()
            .filter(|r| matches!(r, Record::Eval { .. }))
            .count(),
        3
    );

    let out = std::process::Command::new(bin)
        .args(["generate", "--checkpoint"])
        .arg(tmp.path().join("run"))
        .args(["--prompt", "t1 t2", "--max-tokens", "5", "--seed", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("t1 t2"), "{stdout}");

    // A bad train file exits with the config code and names the file.
    std::fs::write(&file, "data: data\nmax_steps: 0\n").unwrap();
    let out = std::process::Command::new(bin)
        .args(["train", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("TRAIN.yaml") && stderr.contains("max_steps"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------------
// The workflow beyond one run: init_from, the MLM objective, the kv cache, eval.

/// The trainer's val loss of the model in `ckpt` on the val split of `data` (its windows and
/// batches, as the trainer evaluates).
fn val_loss_of(ckpt: &Path, data: &Path, cfg: &TrainConfig) -> f64 {
    let loaded = checkpoint::load(ckpt, &Device::Cpu, false).unwrap();
    let m = Gpt::from_tensors(loaded.state.model.clone(), loaded.model, &Device::Cpu).unwrap();
    let shards = Shards::open(&data.join("tokens/val")).unwrap();
    let n = (cfg.eval_tokens as usize)
        .div_ceil(cfg.model.seq_len)
        .max(1);
    let val = train::loader::eval_windows(&shards, cfg.model.seq_len, n).unwrap();
    let mut total = 0.0;
    for chunk in val.chunks(cfg.batch_size) {
        total +=
            scalar(&m.loss(&Batch::from_windows(chunk), Mode::Eval).unwrap()) * chunk.len() as f64;
    }
    total / val.len() as f64
}

/// A second data directory over the same tokenizer: only step-1 progressions, other starts.
fn other_data_dir(root: &Path, vocab: u32) -> PathBuf {
    let data = root.join("data-b");
    let docs: Vec<Vec<u32>> = pattern_docs(200, vocab, 9)
        .into_iter()
        .map(|d| {
            let start = d[0];
            let mut e: Vec<u32> = (0..d.len() as u32 - 1)
                .map(|i| (start + i) % (vocab - 1) + 1)
                .collect();
            e.push(0);
            e
        })
        .collect();
    write_shard(
        &data.join("tokens/train/part-00000.parquet"),
        &docs[..170],
        9,
    );
    write_shard(&data.join("tokens/val/part-00000.parquet"), &docs[170..], 9);
    write_tokenizer(&data.join("tokenizer.json"), vocab as usize);
    data
}

#[test]
fn init_from_starts_at_the_source_models_loss() {
    let dir = tempfile::tempdir().unwrap();
    let vocab = 32;
    let data_a = data_dir(dir.path(), vocab);
    let (mut cfg_a, paths_a) = run_config(&data_a, &dir.path().join("a"));
    cfg_a.max_steps = Some(40);
    cfg_a.model.dropout = 0.0;
    let a = train::train(&cfg_a, &paths_a, &TrainOptions::default()).unwrap();
    let ck_a = a.checkpoint.clone().unwrap();

    let data_b = other_data_dir(dir.path(), vocab);
    let (mut cfg_b, mut paths_b) = run_config(&data_b, &dir.path().join("b-scratch"));
    cfg_b.max_steps = Some(4);
    cfg_b.model.dropout = 0.0;
    let scratch = train::train(&cfg_b, &paths_b, &TrainOptions::default()).unwrap();

    // Fine-tuning from step 40 of run A, at a lower learning rate, with a fresh schedule.
    cfg_b.init_from = Some(ck_a.display().to_string());
    cfg_b.optimizer.lr = 1e-3;
    cfg_b.optimizer.min_lr = 1e-4;
    paths_b.out = dir.path().join("b-tuned");
    paths_b.init_from = Some(ck_a.clone());
    let tuned = train::train(&cfg_b, &paths_b, &TrainOptions::default()).unwrap();
    let a_on_b = val_loss_of(&ck_a, &data_b, &cfg_b);
    assert_eq!(
        tuned.initial_val_loss,
        Some(a_on_b),
        "starts at A's loss on B"
    );
    let s0 = scratch.initial_val_loss.unwrap();
    assert!(
        a_on_b < s0 - 1.0,
        "A's loss on B {a_on_b} should be far below the from-scratch loss {s0}"
    );
    assert_eq!(tuned.steps, 4, "a fresh schedule of its own budget");
    assert!(tuned.final_val_loss.unwrap() < a_on_b);
    // The state of the fine-tuned run records where it started.
    let st: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tuned.checkpoint.unwrap().join("state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(st["config"]["init_from"], ck_a.display().to_string());

    // With init_optimizer the AdamW moments come along (the bias correction continues).
    cfg_b.init_optimizer = true;
    paths_b.out = dir.path().join("b-tuned-opt");
    let with_opt = train::train(&cfg_b, &paths_b, &TrainOptions::default()).unwrap();
    let st: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(with_opt.checkpoint.unwrap().join("state.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(st["adam_t"], 40 + 4);
}

#[test]
fn init_from_refuses_another_shape_or_tokenizer_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let vocab = 32;
    let data = data_dir(dir.path(), vocab);
    let (mut cfg, paths) = run_config(&data, &dir.path().join("a"));
    cfg.max_steps = Some(2);
    let a = train::train(&cfg, &paths, &TrainOptions::default()).unwrap();
    let ck = a.checkpoint.unwrap();

    let mut wide = cfg.clone();
    wide.model.n_embd = 64;
    wide.init_from = Some(ck.display().to_string());
    let out = dir.path().join("wide");
    let p = TrainPaths {
        out: out.clone(),
        init_from: Some(ck.clone()),
        ..paths.clone()
    };
    let err = train::train(&wide, &p, &TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("another model shape") && err.contains("n_embd: 32 vs 64"),
        "{err}"
    );
    assert!(!out.join("checkpoints").exists() && !out.join("metrics.jsonl").exists());

    // Same size, other tokens: the ids would mean something else.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let text = std::fs::read_to_string(data.join("tokenizer.json"))
        .unwrap()
        .replace("\"t1\"", "\"x1\"");
    std::fs::write(other.join("tokenizer.json"), text).unwrap();
    let p = TrainPaths {
        out: dir.path().join("retok"),
        tokenizer: other.join("tokenizer.json"),
        init_from: Some(ck.clone()),
        ..paths.clone()
    };
    let mut c2 = cfg.clone();
    c2.init_from = Some(ck.display().to_string());
    let err = train::train(&c2, &p, &TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("another tokenizer"), "{err}");
    assert!(!dir.path().join("retok/checkpoints").exists());
}

/// A word-level tokenizer as [`write_tokenizer`] plus `[MASK]` and `[PAD]` (ids vocab, vocab+1).
fn write_mlm_tokenizer(path: &Path, vocab: usize) {
    write_tokenizer(path, vocab);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (i, t) in ["[MASK]", "[PAD]"].iter().enumerate() {
        json["added_tokens"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
            "id": vocab + i, "content": t, "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true}));
        json["model"]["vocab"][t] = (vocab + i).into();
    }
    std::fs::write(path, json.to_string()).unwrap();
}

#[test]
fn mlm_loss_and_gradient_come_from_masked_positions_only() {
    use corpusforge::train::mlm::Masker;
    use corpusforge::train::model::{Objective, IGNORE};
    let cfg = GptConfig {
        objective: Objective::Mlm,
        ..tiny(31)
    };
    let m = Gpt::new(cfg.clone(), 3, &Device::Cpu, DType::F64).unwrap();
    let masker = Masker {
        mask_id: 29,
        vocab: 31,
        special: vec![0, 29, 30],
    };
    let windows: Vec<Vec<u32>> = random_batch(4, 8, 29, 5)
        .ids
        .chunks(8)
        .map(|w| w.iter().map(|&x| x.max(1)).collect())
        .collect();
    let batch = masker.batch(&windows, 8, 77);
    let masked: Vec<usize> = (0..batch.targets.len())
        .filter(|&i| batch.targets[i] != IGNORE)
        .collect();
    assert!(!masked.is_empty() && masked.len() < batch.targets.len());
    let loss = m.loss(&batch, Mode::Train { dropout_seed: 0 }).unwrap();
    let grads = loss.backward().unwrap();
    // Oracle: softmax cross-entropy of the full logits at the masked positions.
    let logits = flat(&m.logits(&batch.ids, batch.b, batch.t).unwrap());
    let v = 31;
    let mut want_loss = 0.0;
    let mut want_bias_grad = vec![0.0; v];
    for &i in &masked {
        let row = &logits[i * v..(i + 1) * v];
        let mx = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = row.iter().map(|l| (l - mx).exp()).sum();
        let t = batch.targets[i] as usize;
        want_loss += z.ln() - (row[t] - mx);
        for k in 0..v {
            want_bias_grad[k] +=
                ((row[k] - mx).exp() / z - f64::from(k == t)) / masked.len() as f64;
        }
    }
    want_loss /= masked.len() as f64;
    assert!(
        (scalar(&loss) - want_loss).abs() < 1e-10,
        "{} vs {want_loss}",
        scalar(&loss)
    );
    // The output bias's gradient is the mean of (p - onehot) over the masked rows: unmasked
    // positions contribute nothing.
    let bias = m.param("mlm.bias").unwrap();
    let got = flat(grads.get(bias).unwrap());
    for k in 0..v {
        assert!((got[k] - want_bias_grad[k]).abs() < 1e-10, "bias grad {k}");
    }
    // Changing the target of an unmasked position changes nothing.
    let mut t2 = (*batch.targets).clone();
    let unmasked = (0..t2.len()).find(|i| t2[*i] == IGNORE).unwrap();
    t2[unmasked] = IGNORE;
    let same = Batch {
        targets: Arc::new(t2),
        ..batch.clone()
    };
    assert_eq!(scalar(&m.loss(&same, Mode::Eval).unwrap()), scalar(&loss));
    // Every position sees every other: an encoder, not a decoder.
    let mut ids2 = (*batch.ids).clone();
    ids2[7] = if ids2[7] == 5 { 6 } else { 5 };
    let l2 = flat(&m.logits(&ids2, batch.b, batch.t).unwrap());
    assert!(
        (0..v).any(|k| (l2[k] - logits[k]).abs() > 1e-9),
        "position 0 sees position 7"
    );
}

#[test]
fn a_small_encoder_learns_to_fill_masks() {
    use corpusforge::train::Objective;
    let dir = tempfile::tempdir().unwrap();
    let vocab = 24;
    let data = data_dir(dir.path(), vocab);
    write_mlm_tokenizer(&data.join("tokenizer.json"), vocab as usize);
    let (mut cfg, paths) = run_config(&data, &dir.path().join("mlm"));
    cfg.objective = Objective::Mlm;
    cfg.model.dropout = 0.0;
    cfg.model.n_embd = 48;
    cfg.model.n_head = 4;
    cfg.max_steps = Some(800);
    cfg.eval_interval = 800;
    cfg.checkpoint_interval = 800;
    cfg.eval_tokens = 2048;
    cfg.grad_accum = 1;
    cfg.batch_size = 32;
    cfg.optimizer.warmup_steps = 30;
    let s = train::train(&cfg, &paths, &TrainOptions::default()).unwrap();
    let evals: Vec<(f64, f64)> = metrics::read(&paths.out.join("metrics.jsonl"))
        .unwrap()
        .into_iter()
        .filter_map(|r| match r {
            Record::Eval {
                val_loss, accuracy, ..
            } => Some((val_loss, accuracy.unwrap())),
            _ => None,
        })
        .collect();
    let (first, last) = (evals[0], *evals.last().unwrap());
    assert!(
        first.1 < 0.2 && last.1 > 0.5,
        "masked accuracy {first:?} -> {last:?}"
    );
    assert!(last.0 < first.0 - 1.0);
    // The progression t2 t4 [MASK] t8 t10 has one answer.
    let fills = train::fill_mask(&paths.out, "t2 t4 [MASK] t8 t10", 3).unwrap();
    assert_eq!(fills.len(), 1);
    assert_eq!(fills[0].position, 2);
    assert_eq!(fills[0].candidates[0].1, "t6", "{:?}", fills[0].candidates);
    // An encoder does not generate.
    let err = train::generate(&paths.out, &SampleOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("fill-mask"), "{err}");
    assert!(s.final_val_loss.is_some());
}

#[test]
fn kv_cache_generation_equals_the_full_recomputation() {
    use corpusforge::train::infer::{KvCache, Weights};
    let dir = tempfile::tempdir().unwrap();
    let vocab = 32;
    let data = data_dir(dir.path(), vocab);
    let (mut cfg, paths) = run_config(&data, &dir.path().join("out"));
    cfg.model.seq_len = 32;
    cfg.max_steps = Some(30);
    train::train(&cfg, &paths, &TrainOptions::default()).unwrap();
    let opts = SampleOptions {
        prompt: "t1 t3".into(),
        max_tokens: 25,
        temperature: 0.0,
        top_k: 0,
        seed: 1,
        kv_cache: true,
    };
    let cached = train::generate(&paths.out, &opts).unwrap();
    let full = train::generate(
        &paths.out,
        &SampleOptions {
            kv_cache: false,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_eq!(cached.tokens, full.tokens);
    assert!(!cached.tokens.is_empty());
    // Past the context (32) the cache restarts from the newest half: generation goes on.
    for seed in 0..3 {
        let long = train::generate(
            &paths.out,
            &SampleOptions {
                max_tokens: 80,
                temperature: 1.0,
                top_k: 5,
                seed,
                ..opts.clone()
            },
        )
        .unwrap();
        assert!(long.tokens.len() <= 80);
    }

    // The graph-free pass and the training pass give the same logits, whole or step by step.
    let ck = checkpoint::find(&paths.out).unwrap();
    let loaded = checkpoint::load(&ck, &Device::Cpu, false).unwrap();
    let w = Weights::from_tensors(&loaded.state.model, &loaded.model).unwrap();
    let ids: Vec<u32> = (1..=20).collect();
    let want = train::checkpoint_logits(&ck, &ids).unwrap();
    let mut cache = KvCache::new(&w.cfg);
    let whole = w.logits(&w.forward(&ids, &mut cache, true).unwrap());
    cache.clear();
    let mut stepped = Vec::new();
    for &id in &ids {
        stepped.extend(w.logits(&w.forward(&[id], &mut cache, true).unwrap()));
    }
    // Two sequences in one batch: each as if alone.
    let pair: Vec<u32> = (1..=20).chain((5..25).rev()).collect();
    let batched = w.forward_batch(&pair, 2).unwrap();
    for (r, seq) in pair.chunks(20).enumerate() {
        cache.clear();
        let alone = w.forward(seq, &mut cache, true).unwrap();
        let c = w.cfg.n_embd;
        let diff = alone
            .iter()
            .zip(&batched[r * 20 * c..(r + 1) * 20 * c])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "batched row {r}: {diff}");
    }
    for (name, got) in [("whole", &whole), ("stepped", &stepped)] {
        let diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "{name}: max abs diff {diff}");
    }
}

#[test]
fn eval_scores_documents_in_bits_per_byte_at_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let vocab = 32;
    let data = data_dir(dir.path(), vocab);
    let (mut cfg, paths) = run_config(&data, &dir.path().join("out"));
    cfg.max_steps = Some(30);
    train::train(&cfg, &paths, &TrainOptions::default()).unwrap();
    // Documents as text: progressions, one longer than the context (16).
    let docs = [
        "t1 t2 t3 t4 t5",
        "t2 t4 t6 t8",
        &(1..=40)
            .map(|i| format!("t{}", i % 31 + 1))
            .collect::<Vec<_>>()
            .join(" "),
    ];
    let jsonl = dir.path().join("eval.jsonl");
    let mut text = String::new();
    for (i, d) in docs.iter().enumerate() {
        text += &serde_json::json!({"id": i, "text": d}).to_string();
        text += "\n";
    }
    text += "not json\n";
    std::fs::write(&jsonl, text).unwrap();
    let opts = |threads| train::EvalOptions {
        data: vec![jsonl.display().to_string()],
        threads,
        ..Default::default()
    };
    let one = train::evaluate(&paths.out, &opts(1)).unwrap();
    let two = train::evaluate(&paths.out, &opts(2)).unwrap();
    assert_eq!((one.loss, one.bits_per_byte), (two.loss, two.bits_per_byte));
    assert_eq!(one.documents, 3);
    assert_eq!(one.rejected, 1);
    assert_eq!(one.tokens, 5 + 4 + 40);
    let bytes: usize = docs.iter().map(|d| d.len()).sum();
    assert_eq!(one.bytes, bytes as u64);
    let bpb = one.loss * one.tokens as f64 / std::f64::consts::LN_2 / bytes as f64;
    assert!((one.bits_per_byte.unwrap() - bpb).abs() < 1e-12);
    // A short document scores as the training pass would: every token after EOS + its prefix.
    let ck = checkpoint::find(&paths.out).unwrap();
    let ids = [0u32, 1, 2, 3, 4, 5];
    let logits = train::checkpoint_logits(&ck, &ids).unwrap();
    let v = vocab as usize;
    let mut nats = 0.0;
    for j in 0..5 {
        let row = &logits[j * v..(j + 1) * v];
        let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = row.iter().map(|&l| (l as f64 - mx).exp()).sum();
        nats += z.ln() - (row[ids[j + 1] as usize] as f64 - mx);
    }
    let short = train::evaluate(
        &paths.out,
        &train::EvalOptions {
            max_docs: Some(1),
            ..opts(1)
        },
    )
    .unwrap();
    assert_eq!(short.tokens, 5);
    assert!(
        (short.loss - nats / 5.0).abs() < 1e-4,
        "{} vs {}",
        short.loss,
        nats / 5.0
    );
}

// ---------------------------------------------------------------------------------------------
// Mixtures

fn mixture_config(a: &Path, b: &Path, wa: f64, wb: f64) -> TrainConfig {
    let (mut cfg, _) = run_config(a, a);
    cfg.model.dropout = 0.0;
    cfg.max_steps = Some(25); // 25 steps x 4 sequences x 2 micro-batches = 200 windows
    cfg.eval_interval = 5;
    cfg.data = Some(TrainData::Mixture(Mixture {
        sources: vec![
            MixSource {
                name: Some("web".into()),
                path: Some(a.display().to_string()),
                weight: Some(wa),
                lang: None,
                source: None,
            },
            MixSource {
                name: Some("books".into()),
                path: Some(b.display().to_string()),
                weight: Some(wb),
                lang: None,
                source: None,
            },
        ],
        temperature: None,
    }));
    cfg
}

fn mixture_paths(cfg: &TrainConfig, out: &Path) -> TrainPaths {
    let mut p = TrainPaths::resolve(cfg, Path::new("/"), None).unwrap();
    p.out = out.to_path_buf();
    p
}

/// The last evaluation's sources.
fn sources_of(metrics_path: &Path) -> Vec<SourceEval> {
    metrics::read(metrics_path)
        .unwrap()
        .into_iter()
        .filter_map(|r| match r {
            Record::Eval { sources, .. } => Some(sources),
            _ => None,
        })
        .next_back()
        .unwrap()
}

#[test]
fn a_mixture_realizes_its_weights_the_same_at_any_thread_count_and_after_a_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let a = data_dir(tmp.path(), 40);
    let b = other_data_dir(tmp.path(), 40);
    let cfg = mixture_config(&a, &b, 0.8, 0.2);
    assert_eq!(cfg.problems_text("train."), None);

    let mut runs = Vec::new();
    for threads in [1, 2] {
        let c = TrainConfig {
            threads,
            ..cfg.clone()
        };
        let p = mixture_paths(&c, &tmp.path().join(format!("t{threads}")));
        let s = train::train(&c, &p, &TrainOptions::default()).unwrap();
        runs.push((s, p));
    }
    // Interrupted after 11 steps, then resumed.
    let p = mixture_paths(&cfg, &tmp.path().join("resumed"));
    let c1 = TrainConfig {
        threads: 1,
        ..cfg.clone()
    };
    train::train(
        &c1,
        &p,
        &TrainOptions {
            stop_after: Some(11),
            ..Default::default()
        },
    )
    .unwrap();
    let s = train::train(
        &c1,
        &p,
        &TrainOptions {
            resume: true,
            ..Default::default()
        },
    )
    .unwrap();
    runs.push((s, p));

    for (s, p) in &runs {
        // 200 windows: exactly 160 and 40, and the shares within 1% of the weights.
        let m = &s.mixture;
        assert_eq!(
            m.iter()
                .map(|x| (x.name.as_str(), x.windows))
                .collect::<Vec<_>>(),
            vec![("web", 160), ("books", 40)]
        );
        assert!((m[0].share - 0.8).abs() < 0.01 && (m[1].share - 0.2).abs() < 0.01);
        assert_eq!(m[0].weight, 0.8);
        // Epochs per source: windows x seq_len over the source's training tokens.
        let tokens_a: usize = pattern_docs(240, 40, 1).iter().map(Vec::len).sum();
        let tokens_b: usize = pattern_docs(200, 40, 9)[..170].iter().map(Vec::len).sum();
        assert_eq!(m[0].epochs, (160 * 16) as f64 / tokens_a as f64);
        assert_eq!(m[1].epochs, (40 * 16) as f64 / tokens_b as f64);
        // Each source has its own val loss; the run's val loss is their mean by weight.
        let last = metrics::read(&p.out.join("metrics.jsonl"))
            .unwrap()
            .into_iter()
            .filter_map(|r| match r {
                Record::Eval {
                    val_loss, sources, ..
                } => Some((val_loss, sources)),
                _ => None,
            })
            .next_back()
            .unwrap();
        let (va, vb) = (last.1[0].val_loss.unwrap(), last.1[1].val_loss.unwrap());
        assert!((last.0 - (0.8 * va + 0.2 * vb)).abs() < 1e-9, "{last:?}");
        assert_eq!(sources_of(&p.out.join("metrics.jsonl")), last.1);
    }
    // --resume over other sources is refused, naming both counts.
    let mut three = cfg.clone();
    if let Some(TrainData::Mixture(m)) = &mut three.data {
        let mut extra = m.sources[1].clone();
        extra.name = Some("more".into());
        m.sources.push(extra);
    }
    let p3 = TrainPaths {
        out: runs[2].1.out.clone(),
        ..mixture_paths(&three, &runs[2].1.out)
    };
    let err = train::train(
        &TrainConfig {
            max_steps: Some(30),
            ..three
        },
        &p3,
        &TrainOptions {
            resume: true,
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("taken with 2 mixture sources, this config has 3"),
        "{err}"
    );
    // The same windows in the same order: the loaders end in the same state, and the models
    // and every evaluation are byte-identical.
    let state = |p: &TrainPaths| {
        let ck = checkpoint::latest(&p.out.join("checkpoints"))
            .unwrap()
            .unwrap();
        let st: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(ck.join("state.json")).unwrap()).unwrap();
        let model = std::fs::read(ck.join("model.safetensors")).unwrap();
        (st["mixture"].clone(), model)
    };
    let (mix0, model0) = state(&runs[0].1);
    assert_eq!(mix0["drawn"], serde_json::json!([160, 40]));
    for (_, p) in &runs[1..] {
        let (mix, model) = state(p);
        assert_eq!(mix, mix0);
        assert!(model == model0, "{}: the model differs", p.out.display());
        assert_eq!(
            sources_of(&p.out.join("metrics.jsonl")),
            sources_of(&runs[0].1.out.join("metrics.jsonl"))
        );
    }
}

/// Writes a documents shard (`id`, `source`, and `lang` unless it is None for every row).
fn write_docs(path: &Path, ids: &[String], sources: &[&str], langs: Option<&[&str]>) {
    let mut fields = vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
    ];
    let mut cols: Vec<arrow::array::ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(ids)),
        Arc::new(StringArray::from_iter_values(sources)),
    ];
    if let Some(l) = langs {
        fields.push(Field::new("lang", DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from_iter_values(l)));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Writes a token shard whose rows have the given ids.
fn write_shard_with_ids(path: &Path, ids: &[String], docs: &[Vec<u32>], rows_per_group: usize) {
    write_shard(path, docs, rows_per_group);
    // Rewrite with the ids: read back, replace the doc_id column.
    let file = File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    let schema = batches[0].schema();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    let mut w =
        ArrowWriter::try_new(File::create(path).unwrap(), schema.clone(), Some(props)).unwrap();
    let mut at = 0;
    for b in batches {
        let n = b.num_rows();
        let mut cols = b.columns().to_vec();
        cols[0] = Arc::new(StringArray::from_iter_values(&ids[at..at + n]));
        w.write(&RecordBatch::try_new(schema.clone(), cols).unwrap())
            .unwrap();
        at += n;
    }
    w.close().unwrap();
}

/// One run's output with documents in two languages from two input files: even documents
/// `eng` from `a.jsonl`, odd ones `fra` from `b.jsonl`; the documents dataset partitioned by
/// language (the language in the directory name, as `output.partition_by: lang` writes it).
fn two_language_run(root: &Path, vocab: u32) -> (PathBuf, usize, usize) {
    let data = root.join("multi");
    let docs = pattern_docs(300, vocab, 11);
    let ids: Vec<String> = (0..300).map(|i| format!("d{i}")).collect();
    let (train, val) = (260, 40);
    for (k, range) in [(0usize, 0..130), (1, 130..260)] {
        write_shard_with_ids(
            &data.join(format!("tokens/train/part-{k:05}.parquet")),
            &ids[range.clone()],
            &docs[range],
            9,
        );
    }
    write_shard_with_ids(
        &data.join("tokens/val/part-00000.parquet"),
        &ids[train..train + val],
        &docs[train..],
        9,
    );
    for lang in ["eng", "fra"] {
        let pick: Vec<usize> = (0..300)
            .filter(|i| (i % 2 == 0) == (lang == "eng"))
            .collect();
        let sel_ids: Vec<String> = pick.iter().map(|&i| ids[i].clone()).collect();
        let sources: Vec<&str> = pick
            .iter()
            .map(|&i| {
                if i % 2 == 0 {
                    "in/a.jsonl"
                } else {
                    "in/b.jsonl"
                }
            })
            .collect();
        write_docs(
            &data.join(format!("documents/lang={lang}/part-00000.parquet")),
            &sel_ids,
            &sources,
            None,
        );
    }
    write_tokenizer(&data.join("tokenizer.json"), vocab as usize);
    let tokens = |even: bool| -> usize {
        (0..train)
            .filter(|i| (i % 2 == 0) == even)
            .map(|i| docs[i].len())
            .sum()
    };
    (data, tokens(true), tokens(false))
}

#[test]
fn a_mixture_selects_languages_and_inputs_of_one_run_and_checks_its_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, eng_tokens, fra_tokens) = two_language_run(tmp.path(), 40);
    let yaml = format!(
        "data:\n  sources:\n    - {{lang: eng, weight: 1}}\n    - {{name: french, lang: fra, weight: 3}}\n\
         model: {{n_layer: 1, n_head: 2, n_embd: 16, seq_len: 16}}\nbatch_size: 4\nmax_steps: 10\n\
         eval_interval: 5\neval_tokens: 64\nout: {}\n",
        tmp.path().join("by-lang").display()
    );
    let file = tmp.path().join("train.yaml");
    std::fs::write(&file, &yaml).unwrap();
    // Sources without a path read `data` of the file... which a train file must name: refused.
    let err = train::load_train_file(&file).unwrap_err();
    assert!(err.contains("data.sources.0.path: is required"), "{err}");
    let yaml = yaml.replace(
        "- {lang: eng,",
        &format!("- {{path: {}, lang: eng,", data.display()),
    );
    let yaml = yaml.replace(
        "- {name: french,",
        &format!("- {{path: {}, name: french,", data.display()),
    );
    std::fs::write(&file, &yaml).unwrap();
    let (cfg, paths) = train::load_train_file(&file).unwrap();
    let s = train::train(&cfg, &paths, &TrainOptions::default()).unwrap();
    // 40 windows: 10 English, 30 French.
    let got: Vec<(&str, u64)> = s
        .mixture
        .iter()
        .map(|m| (m.name.as_str(), m.windows))
        .collect();
    assert_eq!(got, vec![("eng", 10), ("french", 30)]);
    assert_eq!(s.mixture[0].epochs, (10 * 16) as f64 / eng_tokens as f64);
    assert_eq!(s.mixture[1].epochs, (30 * 16) as f64 / fra_tokens as f64);
    assert!(s.mixture.iter().all(|m| m.val_loss.is_some()));
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(paths.out.join("run.json")).unwrap())
            .unwrap();
    assert_eq!(run["mixture"][0]["documents"], 130);
    assert_eq!(run["mixture"][1]["tokens"], fra_tokens);
    // The report's training section: the mixture at the last evaluation, with val curves.
    let t = corpusforge::report::collect::training(&paths.out.join("metrics.jsonl"), &paths.out)
        .unwrap();
    let names: Vec<(&str, u64, usize)> = t
        .mixture
        .iter()
        .map(|m| (m.name.as_str(), m.windows, m.val_curve.len()))
        .collect();
    assert_eq!(
        names,
        vec![("eng", 10), ("french", 30)]
            .into_iter()
            .map(|(n, w)| (n, w, 3))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        corpusforge::report::html::mixture_rows(&t.mixture)[1][..4],
        ["french", "75.0%", "75.0%", "30"]
    );

    // By input file, and by size with a temperature: weights tokens^(1/T), normalised.
    let by_input = yaml
        .replace("lang: eng, weight: 1", "source: \"*a.jsonl\"")
        .replace("lang: fra, weight: 3", "source: \"in/b.*\"")
        .replace("\nmodel:", "\n  temperature: 2.0\nmodel:")
        .replace("by-lang", "by-input");
    std::fs::write(&file, &by_input).unwrap();
    let (cfg, paths) = train::load_train_file(&file).unwrap();
    let s = train::train(&cfg, &paths, &TrainOptions::default()).unwrap();
    let (wa, wb) = ((eng_tokens as f64).sqrt(), (fra_tokens as f64).sqrt());
    assert!((s.mixture[0].weight - wa / (wa + wb)).abs() < 1e-12);
    assert_eq!(
        s.mixture.iter().map(|m| m.windows).sum::<u64>(),
        40,
        "{:?}",
        s.mixture
    );

    // A source of no documents, and one with another tokenizer, are refused before training.
    let none = yaml
        .replace("lang: fra", "lang: deu")
        .replace("by-lang", "none");
    std::fs::write(&file, &none).unwrap();
    let (cfg, paths) = train::load_train_file(&file).unwrap();
    let err = train::train(&cfg, &paths, &TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mixture source `french` has no training documents of language `deu`"),
        "{err}"
    );
    let other = other_data_dir(tmp.path(), 41);
    let mixed = yaml
        .replace(
            &format!("{{path: {}, name: french, lang: fra,", data.display()),
            &format!("{{path: {}, name: french,", other.display()),
        )
        .replace("by-lang", "retok");
    std::fs::write(&file, &mixed).unwrap();
    let (cfg, paths) = train::load_train_file(&file).unwrap();
    let err = train::train(&cfg, &paths, &TrainOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mixture source `french`")
            && err.contains("differs from this run's tokenizer"),
        "{err}"
    );
    assert!(!tmp.path().join("retok").join("checkpoints").exists());

    // Mistakes in a mixture are named as themselves, every one at once.
    let err =
        train::config::parse_train_yaml("data: {sources: [{path: a, weigth: 1}]}\nmax_steps: 1\n")
            .unwrap_err();
    assert!(err.contains("weigth"), "{err}");
    let cfg = train::config::parse_train_yaml(
        "data: {sources: [{path: a, weight: 1}, {path: b}, {path: c/a, weight: -1}]}\nmax_steps: 1\n",
    )
    .unwrap();
    let text = cfg.problems_text("train.").unwrap();
    for want in [
        "train.data.sources.1.weight: every source needs a weight",
        "train.data.sources.2.name: two sources are named `a`",
        "train.data.sources.2.weight: weight must be positive, got -1",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
}

/// A finished run counts as done, and a run resumes, only on the token data it trained on.
#[test]
fn a_run_on_other_token_data_is_not_taken_as_done() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(tmp.path(), 40);
    let (mut cfg, paths) = run_config(&data, &tmp.path().join("out"));
    cfg.max_steps = Some(2);
    train::train(&cfg, &paths, &TrainOptions::default()).unwrap();
    assert!(
        train::train(&cfg, &paths, &TrainOptions::default())
            .unwrap()
            .already_complete
    );
    // The same names, other documents.
    write_shard(
        &data.join("tokens/train/part-00000.parquet"),
        &pattern_docs(90, 40, 77),
        7,
    );
    for resume in [false, true] {
        let err = train::train(
            &cfg,
            &paths,
            &TrainOptions {
                resume,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, train::TrainError::OtherData(_))
                && err.to_string().contains("other token data"),
            "{err}"
        );
    }
}
