//! Trainer throughput on the CPU: training tokens/s and MFU (forward, backward, gradient
//! norm, clipping, AdamW — the trainer's own step) and forward-only tokens/s, for the configs
//! DESIGN.md compares with PyTorch.
//!
//!   cargo bench --bench train                 # all three configs
//!   cargo bench --bench train -- --quick      # fewer steps
//!   cargo bench --bench train -- --reference  # also plain candle ops (the naive baseline)
//!   cargo bench --bench train -- --only 2     # one config (1-based)
//!   cargo bench --bench train -- --breakdown  # time each kernel at the config's shapes
//!
//! Figures, not pass/fail. PyTorch (2 threads, fp32) on the 2-core dev machine, from
//! DESIGN.md: 22,600 / 9,000 / 1,740 tokens/s; a naive candle port: 2,730 / 2,130 / 500.

use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device};
use corpusforge::train::kernels::{self, AttShape};
use corpusforge::train::metrics::measure_peak_flops;
use corpusforge::train::model::{Backend, Batch, Gpt, GptConfig, Mode};
use corpusforge::train::optim::AdamW;
use corpusforge::train::rng::Rng;
use corpusforge::train::{optimizer_step, OptimizerConfig};

struct Case {
    name: &'static str,
    cfg: GptConfig,
    batch: usize,
    torch: f64,
    naive: f64,
}

fn cases() -> Vec<Case> {
    let small = |vocab| GptConfig {
        vocab_size: vocab,
        n_layer: 4,
        n_head: 4,
        n_embd: 128,
        seq_len: 64,
        dropout: 0.0,
        layer_norm_eps: 1e-5,
        objective: Default::default(),
    };
    vec![
        Case {
            name: "4x4x128 T64 B12 V65",
            cfg: small(65),
            batch: 12,
            torch: 22_600.0,
            naive: 2_730.0,
        },
        Case {
            name: "4x4x128 T64 B12 V8192",
            cfg: small(8192),
            batch: 12,
            torch: 9_000.0,
            naive: 2_130.0,
        },
        Case {
            name: "6x6x384 T256 B8 V8192",
            cfg: GptConfig {
                n_layer: 6,
                n_head: 6,
                n_embd: 384,
                seq_len: 256,
                ..small(8192)
            },
            batch: 8,
            torch: 1_740.0,
            naive: 500.0,
        },
    ]
}

fn batches(n: usize, b: usize, t: usize, vocab: usize, seed: u64) -> Vec<Batch> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let windows: Vec<Vec<u32>> = (0..b)
                .map(|_| (0..=t).map(|_| rng.below(vocab) as u32).collect())
                .collect();
            Batch::from_windows(&windows)
        })
        .collect()
}

/// Seconds per call of `f` (mean, best), after `warm` untimed calls, over at least `min_s`
/// seconds. The best call is the figure to compare on a busy machine.
fn time(warm: usize, min_iters: usize, min_s: f64, mut f: impl FnMut(usize)) -> (f64, f64) {
    for i in 0..warm {
        f(i);
    }
    let t = Instant::now();
    let mut n = 0;
    let mut best = f64::MAX;
    while n < min_iters || t.elapsed().as_secs_f64() < min_s {
        let s = Instant::now();
        f(warm + n);
        best = best.min(s.elapsed().as_secs_f64());
        n += 1;
    }
    (t.elapsed().as_secs_f64() / n as f64, best)
}

/// Milliseconds per step spent in each kernel (summed over layers), at `cfg`'s shapes.
fn breakdown(cfg: &GptConfig, b: usize) {
    let (t, c, v, l) = (cfg.seq_len, cfg.n_embd, cfg.vocab_size, cfg.n_layer as f64);
    let n = b * t;
    let mut rng = Rng::new(1);
    let mut rnd =
        |len: usize| -> Vec<f32> { (0..len).map(|_| (rng.normal() * 0.5) as f32).collect() };
    let x = rnd(n * c);
    let dy = rnd(n * c);
    let ones = vec![1f32; c];
    let zeros = vec![0f32; c];
    let ms = |f: &mut dyn FnMut()| time(2, 5, 0.5, |_| f()).1 * 1e3;
    let mut rows: Vec<(String, f64)> = Vec::new();
    for (name, out, inp) in [
        ("qkv", 3 * c, c),
        ("attn proj", c, c),
        ("fc", 4 * c, c),
        ("mlp proj", c, 4 * c),
    ] {
        let xi = rnd(n * inp);
        let w = rnd(out * inp);
        let bias = rnd(out);
        let g = rnd(n * out);
        let mut y = vec![0f32; n * out];
        let (mut dx, mut dw, mut db) =
            (vec![0f32; n * inp], vec![0f32; out * inp], vec![0f32; out]);
        rows.push((
            format!("linear {name} fwd"),
            l * ms(&mut || kernels::linear_fwd(&xi, &w, Some(&bias), &mut y, inp, out)),
        ));
        rows.push((
            format!("linear {name} bwd"),
            l * ms(&mut || {
                kernels::linear_bwd(&xi, &w, &g, Some(&mut dx), &mut dw, Some(&mut db), inp, out)
            }),
        ));
    }
    let h = rnd(n * 4 * c);
    let mut a = vec![0f32; n * 4 * c];
    rows.push((
        "gelu fwd".into(),
        l * ms(&mut || kernels::gelu_fwd(&h, &mut a)),
    ));
    let hd = rnd(n * 4 * c);
    rows.push((
        "gelu bwd".into(),
        l * ms(&mut || kernels::gelu_bwd(&h, &hd, &mut a)),
    ));
    let (mut y, mut mean, mut rstd) = (vec![0f32; n * c], vec![0f32; n], vec![0f32; n]);
    rows.push((
        "layernorm fwd".into(),
        (2.0 * l + 1.0)
            * ms(&mut || {
                kernels::layernorm_fwd(&x, &ones, &zeros, &mut y, &mut mean, &mut rstd, c, 1e-5)
            }),
    ));
    let (mut dx, mut dg, mut dbb) = (vec![0f32; n * c], vec![0f32; c], vec![0f32; c]);
    rows.push((
        "layernorm bwd".into(),
        (2.0 * l + 1.0)
            * ms(&mut || {
                kernels::layernorm_bwd(
                    &x, &ones, &mean, &rstd, &dy, &mut dx, &mut dg, &mut dbb, c, false,
                )
            }),
    ));
    let sh = AttShape {
        b,
        t,
        h: cfg.n_head,
        c,
    };
    let qkv = rnd(n * 3 * c);
    let mut att = vec![0f32; b * cfg.n_head * t * t];
    rows.push((
        "attention fwd".into(),
        l * ms(&mut || kernels::attention_fwd(&qkv, &mut y, &mut att, sh)),
    ));
    let mut dqkv = vec![0f32; n * 3 * c];
    rows.push((
        "attention bwd".into(),
        l * ms(&mut || kernels::attention_bwd(&qkv, &att, &dy, &mut dqkv, sh)),
    ));
    let wte = rnd(v * c);
    let targets: Vec<u32> = (0..n as u32).map(|i| i % v as u32).collect();
    let mut logits = vec![0f32; n * v];
    rows.push((
        "head + softmax-xent fwd".into(),
        ms(&mut || {
            kernels::linear_fwd(&x, &wte, None, &mut logits, c, v);
            kernels::softmax_xent_fwd(&mut logits, &targets, v);
        }),
    ));
    let mut dw = vec![0f32; v * c];
    rows.push((
        "head + softmax-xent bwd".into(),
        ms(&mut || {
            kernels::softmax_xent_bwd(&mut logits, &targets, v, 1.0 / n as f32);
            kernels::linear_bwd(&x, &wte, &logits, Some(&mut dx), &mut dw, None, c, v);
        }),
    ));
    let np = cfg.n_params_no_pos();
    let (mut p, g, mut m, mut vv) = (rnd(np), rnd(np), vec![0f32; np], vec![0f32; np]);
    let hp = kernels::AdamHyper {
        lr: 1e-4,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weight_decay: 0.1,
        grad_scale: 1.0,
        bias1: 0.1,
        bias2: 0.05,
    };
    rows.push((
        "grad norm + adamw".into(),
        ms(&mut || {
            kernels::sum_squares(&g);
            kernels::adamw(&mut p, &g, &mut m, &mut vv, hp);
        }),
    ));
    let total: f64 = rows.iter().map(|r| r.1).sum();
    for (name, t) in &rows {
        println!("    {name:<26} {t:>8.2} ms/step");
    }
    println!("    {:<26} {total:>8.2} ms/step (kernels alone)", "sum");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let reference = args.iter().any(|a| a == "--reference");
    let show_breakdown = args.iter().any(|a| a == "--breakdown");
    let only: Option<usize> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    let device = Device::Cpu;
    let peak = measure_peak_flops(&device).expect("peak");
    println!(
        "threads: {}  measured peak (candle f32 matmul 1024^3): {:.1} GFLOP/s",
        rayon::current_num_threads(),
        peak / 1e9
    );
    let min_s = if quick { 2.0 } else { 8.0 };
    for (i, case) in cases().into_iter().enumerate() {
        if only.is_some_and(|o| o != i + 1) {
            continue;
        }
        let cfg = case.cfg.clone();
        let tokens = (case.batch * cfg.seq_len) as f64;
        let data = batches(8, case.batch, cfg.seq_len, cfg.vocab_size, 7);
        if show_breakdown {
            println!("{} kernels:", case.name);
            breakdown(&cfg, case.batch);
        }
        let mut backends = vec![Backend::Fused];
        if reference {
            backends.push(Backend::Reference);
        }
        for backend in backends {
            let mut model = Gpt::new(cfg.clone(), 1, &device, DType::F32).expect("model");
            model.set_backend(backend).expect("backend");
            let mut opt =
                AdamW::new(&model.params, &OptimizerConfig::default()).expect("optimizer");
            let step_s = time(2, 3, min_s, |k| {
                let micro = [(data[k % data.len()].clone(), k as u64)];
                optimizer_step(&model, &mut opt, &micro, 1e-4, 1.0).expect("step");
            });
            let fwd_s = time(2, 3, min_s / 2.0, |k| {
                let b = &data[k % data.len()];
                let batch = Batch {
                    ids: Arc::clone(&b.ids),
                    targets: Arc::clone(&b.targets),
                    b: b.b,
                    t: b.t,
                };
                model.loss(&batch, Mode::Eval).expect("forward");
            });
            let (tps, tps_best) = (tokens / step_s.0, tokens / step_s.1);
            let flops = cfg.flops_per_token() * tps;
            println!(
                "{:<24} {:<9} train {:>7.0} tok/s (best step {:>7.0}; {:>6.1} ms/step, {:>5.1} GFLOP/s, MFU {:>4.1}%)  \
                 forward {:>7.0} tok/s (best {:>7.0})  | vs PyTorch {:.2}x (best {:.2}x), vs naive candle {:.2}x",
                case.name,
                format!("{backend:?}").to_lowercase(),
                tps,
                tps_best,
                step_s.0 * 1e3,
                flops / 1e9,
                100.0 * flops / peak,
                tokens / fwd_s.0,
                tokens / fwd_s.1,
                tps / case.torch,
                tps_best / case.torch,
                tps / case.naive,
            );
        }
    }
}
