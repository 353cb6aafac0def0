//! Inference without a graph: the model's forward pass in plain f32 over one sequence at a
//! time, with a key/value cache. Generation appends one token per step to the cache (linear in
//! the generated length), `corpusforge eval` and the perplexity stage score documents, and
//! `fill-mask` runs the bidirectional encoder of an MLM checkpoint.
//!
//! Every product of a sequence runs on the calling thread (single-threaded `gemm`), so a
//! sequence's numbers never depend on the thread count: callers parallelise over sequences and
//! sum in sequence order.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor};

use super::kernels::{matmul, Mat};
use super::model::{GptConfig, Objective};

/// LayerNorm weight and bias.
struct Norm {
    g: Vec<f32>,
    b: Vec<f32>,
}

/// One transformer block's weights (linear weights stored `(out, in)`).
struct Block {
    ln_1: Norm,
    attn_w: Vec<f32>,
    attn_b: Vec<f32>,
    proj_w: Vec<f32>,
    proj_b: Vec<f32>,
    ln_2: Norm,
    fc_w: Vec<f32>,
    fc_b: Vec<f32>,
    out_w: Vec<f32>,
    out_b: Vec<f32>,
}

impl Block {
    /// The rest of the block after attention wrote `y`: its projection into the residual
    /// stream `x`, then the MLP (`h`, `f` are scratch of the rows' sizes).
    fn after_attention(
        &self,
        x: &mut [f32],
        y: &[f32],
        h: &mut [f32],
        f: &mut [f32],
        c: usize,
        eps: f32,
    ) {
        linear(y, &self.proj_w, &self.proj_b, h, c, c);
        add(x, h);
        layer_norm(x, &self.ln_2, h, c, eps);
        linear(h, &self.fc_w, &self.fc_b, f, c, 4 * c);
        // The training kernels' GELU (tanh form through a vectorized exp): a libm tanh per
        // element would be a large share of a token's cost.
        super::kernels::simd(
            #[inline(always)]
            || {
                for v in f.iter_mut() {
                    *v = super::kernels::gelu_one(*v);
                }
            },
        );
        linear(f, &self.out_w, &self.out_b, h, 4 * c, c);
        add(x, h);
    }
}

/// The masked-LM head: dense, exact GELU, LayerNorm, then the tied decoder plus a bias.
struct MlmHead {
    dense_w: Vec<f32>,
    dense_b: Vec<f32>,
    ln: Norm,
    bias: Vec<f32>,
}

/// A model's weights as flat f32 arrays, ready for [`Weights::forward`].
pub struct Weights {
    /// The model's shape.
    pub cfg: GptConfig,
    wte: Vec<f32>,
    wpe: Vec<f32>,
    blocks: Vec<Block>,
    ln_f: Norm,
    mlm: Option<MlmHead>,
}

/// Keys and values of the positions seen so far, per layer (`seq_len x n_embd` each).
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    /// An empty cache for a model of shape `cfg`.
    pub fn new(cfg: &GptConfig) -> Self {
        let size = cfg.seq_len * cfg.n_embd;
        KvCache {
            k: (0..cfg.n_layer).map(|_| vec![0.0; size]).collect(),
            v: (0..cfg.n_layer).map(|_| vec![0.0; size]).collect(),
            len: 0,
        }
    }

    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets every position (the buffers are kept).
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

fn flat(tensors: &HashMap<String, Tensor>, name: &str, len: usize) -> Result<Vec<f32>> {
    let Some(t) = tensors.get(name) else {
        candle_core::bail!("missing parameter {name}")
    };
    let v: Vec<f32> = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    if v.len() != len {
        candle_core::bail!("parameter {name} has {} values, expected {len}", v.len())
    }
    Ok(v)
}

impl Weights {
    /// The weights of a model of shape `cfg` from its named tensors (a checkpoint's
    /// `model.safetensors`, or [`super::model::Gpt::tensors`]).
    pub fn from_tensors(cfg: &GptConfig, t: &HashMap<String, Tensor>) -> Result<Self> {
        let c = cfg.n_embd;
        let norm = |prefix: &str| -> Result<Norm> {
            Ok(Norm {
                g: flat(t, &format!("{prefix}.weight"), c)?,
                b: flat(t, &format!("{prefix}.bias"), c)?,
            })
        };
        let mut blocks = Vec::with_capacity(cfg.n_layer);
        for l in 0..cfg.n_layer {
            let p = |s: &str| format!("h.{l}.{s}");
            blocks.push(Block {
                ln_1: norm(&p("ln_1"))?,
                attn_w: flat(t, &p("attn.c_attn.weight"), 3 * c * c)?,
                attn_b: flat(t, &p("attn.c_attn.bias"), 3 * c)?,
                proj_w: flat(t, &p("attn.c_proj.weight"), c * c)?,
                proj_b: flat(t, &p("attn.c_proj.bias"), c)?,
                ln_2: norm(&p("ln_2"))?,
                fc_w: flat(t, &p("mlp.c_fc.weight"), 4 * c * c)?,
                fc_b: flat(t, &p("mlp.c_fc.bias"), 4 * c)?,
                out_w: flat(t, &p("mlp.c_proj.weight"), 4 * c * c)?,
                out_b: flat(t, &p("mlp.c_proj.bias"), c)?,
            });
        }
        let mlm = match cfg.objective {
            Objective::Clm => None,
            Objective::Mlm => Some(MlmHead {
                dense_w: flat(t, "mlm.dense.weight", c * c)?,
                dense_b: flat(t, "mlm.dense.bias", c)?,
                ln: norm("mlm.ln")?,
                bias: flat(t, "mlm.bias", cfg.vocab_size)?,
            }),
        };
        Ok(Weights {
            cfg: cfg.clone(),
            wte: flat(t, "wte", cfg.vocab_size * c)?,
            wpe: flat(t, "wpe", cfg.seq_len * c)?,
            blocks,
            ln_f: norm("ln_f")?,
            mlm,
        })
    }

    /// Runs `ids` after the positions already in `cache` (appending theirs) and returns the
    /// final hidden states of the new positions (`ids.len() x n_embd`, after the last
    /// LayerNorm). `causal` masks later positions (the decoder); without it every position
    /// sees the whole sequence (the MLM encoder, run on an empty cache).
    pub fn forward(&self, ids: &[u32], cache: &mut KvCache, causal: bool) -> Result<Vec<f32>> {
        let cfg = &self.cfg;
        let (n, c, start) = (ids.len(), cfg.n_embd, cache.len);
        if n == 0 {
            return Ok(Vec::new());
        }
        if start + n > cfg.seq_len {
            candle_core::bail!(
                "{} positions exceed the context length {}",
                start + n,
                cfg.seq_len
            )
        }
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= cfg.vocab_size) {
            candle_core::bail!(
                "token id {bad} is outside the vocabulary ({})",
                cfg.vocab_size
            )
        }
        let mut x = vec![0f32; n * c];
        for (i, &id) in ids.iter().enumerate() {
            let tok = &self.wte[id as usize * c..][..c];
            let pos = &self.wpe[(start + i) * c..][..c];
            for ((o, &a), &b) in x[i * c..(i + 1) * c].iter_mut().zip(tok).zip(pos) {
                *o = a + b;
            }
        }
        let (nh, hs) = (cfg.n_head, c / cfg.n_head);
        let eps = cfg.layer_norm_eps as f32;
        let keys = start + n;
        let scale = 1.0 / (hs as f32).sqrt();
        let mut h = vec![0f32; n * c];
        let mut qkv = vec![0f32; n * 3 * c];
        let mut y = vec![0f32; n * c];
        let mut f = vec![0f32; n * 4 * c];
        let mut s = vec![0f32; n * keys];
        for (l, blk) in self.blocks.iter().enumerate() {
            layer_norm(&x, &blk.ln_1, &mut h, c, eps);
            linear(&h, &blk.attn_w, &blk.attn_b, &mut qkv, c, 3 * c);
            let (kc, vc) = (&mut cache.k[l], &mut cache.v[l]);
            for i in 0..n {
                let row = &qkv[i * 3 * c..(i + 1) * 3 * c];
                kc[(start + i) * c..][..c].copy_from_slice(&row[c..2 * c]);
                vc[(start + i) * c..][..c].copy_from_slice(&row[2 * c..]);
            }
            for hi in 0..nh {
                // SAFETY: the operands lie inside qkv / the caches / s / y for these shapes;
                // the destinations do not overlap the sources.
                unsafe {
                    matmul(
                        n,
                        keys,
                        hs,
                        s.as_mut_ptr(),
                        keys,
                        false,
                        Mat {
                            ptr: qkv.as_ptr().add(hi * hs),
                            rs: (3 * c) as isize,
                            cs: 1,
                        },
                        Mat {
                            ptr: kc.as_ptr().add(hi * hs),
                            rs: 1,
                            cs: c as isize,
                        },
                        scale,
                        false,
                    );
                }
                for i in 0..n {
                    let row = &mut s[i * keys..(i + 1) * keys];
                    let live = if causal { start + i + 1 } else { keys };
                    let (live, masked) = row.split_at_mut(live);
                    softmax(live);
                    masked.fill(0.0);
                }
                unsafe {
                    matmul(
                        n,
                        hs,
                        keys,
                        y.as_mut_ptr().add(hi * hs),
                        c,
                        false,
                        Mat {
                            ptr: s.as_ptr(),
                            rs: keys as isize,
                            cs: 1,
                        },
                        Mat {
                            ptr: vc.as_ptr().add(hi * hs),
                            rs: c as isize,
                            cs: 1,
                        },
                        1.0,
                        false,
                    );
                }
            }
            blk.after_attention(&mut x, &y, &mut h, &mut f, c, eps);
        }
        cache.len = keys;
        layer_norm(&x, &self.ln_f, &mut h, c, eps);
        Ok(h)
    }

    /// The final hidden states (`b * t x n_embd`) of `b` independent sequences of `t` tokens
    /// each (`ids` row-major), every one from position 0 with causal attention: the same
    /// numbers as [`Weights::forward`] on each alone, with the products over all rows at once.
    pub fn forward_batch(&self, ids: &[u32], b: usize) -> Result<Vec<f32>> {
        let cfg = &self.cfg;
        let c = cfg.n_embd;
        if b == 0 || ids.is_empty() || !ids.len().is_multiple_of(b) {
            candle_core::bail!("a batch of {} ids is not {b} equal rows", ids.len())
        }
        let t = ids.len() / b;
        if t > cfg.seq_len {
            candle_core::bail!("{t} positions exceed the context length {}", cfg.seq_len)
        }
        if let Some(bad) = ids.iter().find(|&&id| id as usize >= cfg.vocab_size) {
            candle_core::bail!(
                "token id {bad} is outside the vocabulary ({})",
                cfg.vocab_size
            )
        }
        let n = b * t;
        let mut x = vec![0f32; n * c];
        for (i, &id) in ids.iter().enumerate() {
            let tok = &self.wte[id as usize * c..][..c];
            let pos = &self.wpe[(i % t) * c..][..c];
            for ((o, &a), &p) in x[i * c..(i + 1) * c].iter_mut().zip(tok).zip(pos) {
                *o = a + p;
            }
        }
        let (nh, hs) = (cfg.n_head, c / cfg.n_head);
        let eps = cfg.layer_norm_eps as f32;
        let scale = 1.0 / (hs as f32).sqrt();
        let mut h = vec![0f32; n * c];
        let mut qkv = vec![0f32; n * 3 * c];
        let mut y = vec![0f32; n * c];
        let mut f = vec![0f32; n * 4 * c];
        let mut sc = vec![0f32; t * t];
        for blk in &self.blocks {
            layer_norm(&x, &blk.ln_1, &mut h, c, eps);
            linear(&h, &blk.attn_w, &blk.attn_b, &mut qkv, c, 3 * c);
            for bi in 0..b {
                let rows = &qkv[bi * t * 3 * c..(bi + 1) * t * 3 * c];
                for hi in 0..nh {
                    // SAFETY: q, k, v of row block bi lie in `rows`; `sc` is t x t; the
                    // destination columns of y belong to this (row block, head).
                    unsafe {
                        matmul(
                            t,
                            t,
                            hs,
                            sc.as_mut_ptr(),
                            t,
                            false,
                            Mat {
                                ptr: rows.as_ptr().add(hi * hs),
                                rs: (3 * c) as isize,
                                cs: 1,
                            },
                            Mat {
                                ptr: rows.as_ptr().add(c + hi * hs),
                                rs: 1,
                                cs: (3 * c) as isize,
                            },
                            scale,
                            false,
                        );
                    }
                    for i in 0..t {
                        let (live, masked) = sc[i * t..(i + 1) * t].split_at_mut(i + 1);
                        softmax(live);
                        masked.fill(0.0);
                    }
                    unsafe {
                        matmul(
                            t,
                            hs,
                            t,
                            y.as_mut_ptr().add(bi * t * c + hi * hs),
                            c,
                            false,
                            Mat {
                                ptr: sc.as_ptr(),
                                rs: t as isize,
                                cs: 1,
                            },
                            Mat {
                                ptr: rows.as_ptr().add(2 * c + hi * hs),
                                rs: (3 * c) as isize,
                                cs: 1,
                            },
                            1.0,
                            false,
                        );
                    }
                }
            }
            blk.after_attention(&mut x, &y, &mut h, &mut f, c, eps);
        }
        layer_norm(&x, &self.ln_f, &mut h, c, eps);
        Ok(h)
    }

    /// The logits (`rows x vocab`) of final hidden states from [`Weights::forward`]: the
    /// tied head, after the MLM head's transform for an MLM model.
    pub fn logits(&self, hidden: &[f32]) -> Vec<f32> {
        let (c, v) = (self.cfg.n_embd, self.cfg.vocab_size);
        let rows = hidden.len() / c;
        let mut out = vec![0f32; rows * v];
        match &self.mlm {
            None => linear_opt(hidden, &self.wte, None, &mut out, c, v),
            Some(head) => {
                let mut t = vec![0f32; rows * c];
                linear(hidden, &head.dense_w, &head.dense_b, &mut t, c, c);
                for x in t.iter_mut() {
                    *x = gelu_erf(*x);
                }
                let mut n = vec![0f32; rows * c];
                layer_norm(&t, &head.ln, &mut n, c, self.cfg.layer_norm_eps as f32);
                linear(&n, &self.wte, &head.bias, &mut out, c, v);
            }
        }
        out
    }
}

/// `-log softmax(logits)[target]`, exact when the target's probability underflows. The sum of
/// exponentials runs in f32 lanes (vectorized, the vocabulary is most of a token's scoring
/// cost), added up in f64.
pub fn nll(logits: &[f32], target: u32) -> f64 {
    nll_and_top(logits, target).0
}

/// [`nll`], and whether `target` is the [`argmax`] (the first largest logit), from the same
/// pass over the logits (the maximum the softmax needs anyway).
pub fn nll_and_top(logits: &[f32], target: u32) -> (f64, bool) {
    const LANES: usize = 16;
    let total = super::kernels::simd(
        #[inline(always)]
        || {
            let mx = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let mut acc = [0f32; LANES];
            let mut chunks = logits.chunks_exact(LANES);
            for c in &mut chunks {
                for k in 0..LANES {
                    acc[k] += super::kernels::exp_f32(c[k] - mx);
                }
            }
            let mut total: f64 = acc.iter().map(|&x| x as f64).sum();
            for &x in chunks.remainder() {
                total += super::kernels::exp_f32(x - mx) as f64;
            }
            (total, mx)
        },
    );
    let (sum, mx) = total;
    let t = logits[target as usize];
    // The first largest: the target reaches the maximum and nothing before it does.
    let top = t >= mx && logits[..target as usize].iter().all(|&x| x < mx);
    (sum.ln() - (t - mx) as f64, top)
}

/// The index of the largest logit (the first on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// `y = x W^T (+ b)` with `W` stored `(out, in)`, single-threaded.
fn linear_opt(x: &[f32], w: &[f32], b: Option<&[f32]>, y: &mut [f32], inp: usize, out: usize) {
    let rows = x.len() / inp;
    if let Some(b) = b {
        for row in y[..rows * out].chunks_exact_mut(out) {
            row.copy_from_slice(b);
        }
    }
    // SAFETY: x is rows x inp, w is out x inp, y is rows x out.
    unsafe {
        matmul(
            rows,
            out,
            inp,
            y.as_mut_ptr(),
            out,
            b.is_some(),
            Mat::rows(x, inp),
            Mat::rows_t(w, inp),
            1.0,
            false,
        );
    }
}

fn linear(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], inp: usize, out: usize) {
    linear_opt(x, w, Some(b), y, inp, out);
}

fn layer_norm(x: &[f32], n: &Norm, y: &mut [f32], c: usize, eps: f32) {
    for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        let mu = xr.iter().sum::<f32>() / c as f32;
        let var = xr.iter().map(|&v| (v - mu) * (v - mu)).sum::<f32>() / c as f32;
        let r = 1.0 / (var + eps).sqrt();
        for (((o, &v), &g), &b) in yr.iter_mut().zip(xr).zip(&n.g).zip(&n.b) {
            *o = (v - mu) * r * g + b;
        }
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

fn softmax(row: &mut [f32]) {
    let mx = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut total = 0.0;
    for v in row.iter_mut() {
        *v = (*v - mx).exp();
        total += *v;
    }
    let inv = 1.0 / total;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// GELU with the error function (the MLM head's, as BERT and RoBERTa).
pub fn gelu_erf(x: f32) -> f32 {
    (0.5 * x as f64 * (1.0 + erf(x as f64 / std::f64::consts::SQRT_2))) as f32
}

/// The error function, to about 1e-14: its series below 2.5, the continued fraction of erfc
/// above.
pub fn erf(x: f64) -> f64 {
    if x < 0.0 {
        return -erf(-x);
    }
    if x < 2.5 {
        // The Maclaurin series: alternating terms below 100, so at most two digits lost.
        let x2 = x * x;
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() <= 1e-17 * sum.abs() {
                break;
            }
        }
        return sum * 2.0 / std::f64::consts::PI.sqrt();
    }
    1.0 - erfc_cf(x)
}

/// erfc by its continued fraction (modified Lentz), quick to converge for x >= 2.5.
fn erfc_cf(x: f64) -> f64 {
    if x > 27.0 {
        return 0.0;
    }
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..500 {
        let a = n as f64 / 2.0;
        d = x + a * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = x + a / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0, 0.0),
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.0, 0.999_977_909_503_001_4),
            (-1.0, -0.842_700_792_949_714_9),
        ] {
            assert!((erf(x) - want).abs() < 1e-13, "erf({x}) = {}", erf(x));
        }
    }

    #[test]
    fn top_is_the_first_largest_logit() {
        let rows: [&[f32]; 4] = [
            &[0.5, 2.0, 1.0, 2.0],
            &[3.0, 2.0, 1.0],
            &[-1.0, -1.0, -1.0],
            &[0.0; 37],
        ];
        for row in rows {
            for t in 0..row.len() as u32 {
                let (loss, top) = nll_and_top(row, t);
                assert_eq!(top, argmax(row) == t, "{row:?} target {t}");
                assert_eq!(loss, nll(row, t));
            }
        }
    }

    #[test]
    fn nll_is_log_softmax() {
        let l = [1.0f32, 2.0, 3.0];
        let z: f64 = l.iter().map(|&v| (v as f64).exp()).sum();
        assert!((nll(&l, 0) - (z.ln() - 1.0)).abs() < 1e-6);
        assert_eq!(argmax(&l), 2);
        // A vocabulary-sized row: the f32 lanes stay within 1e-5 of the f64 sum.
        let row: Vec<f32> = (0..4099)
            .map(|i| ((i * 7919) % 1000) as f32 / 37.0 - 9.0)
            .collect();
        let mx = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
        let z: f64 = row.iter().map(|&v| (v as f64 - mx).exp()).sum();
        let want = z.ln() - (row[17] as f64 - mx);
        assert!(
            (nll(&row, 17) - want).abs() < 1e-5,
            "{} vs {want}",
            nll(&row, 17)
        );
    }
}
