//! The training step's forward and backward passes written out by hand (CPU, fused kernels).
//!
//! The same computation as [`Gpt::loss`] followed by candle's `backward()` on the custom ops of
//! [`super::ops`], without the autograd graph: candle allocates a zero gradient and adds into
//! it for every input of every node, and runs its elementwise ops single-threaded here (see
//! [`super::kernels::configure_candle_threads`]); here the residual-stream gradient is one
//! buffer that each branch adds into, the residual adds of the forward pass start the
//! projections' output rows from the stream (no extra pass), and GELU's backward runs in place.
//! Gradients come back as tensors in [`Gpt::params`] order, exactly those of the graph path
//! (the tests compare both with plain candle autograd).

use candle_core::{Result, Tensor, WithDType};

use super::kernels::{self as k, AttShape, Real};
use super::model::{Batch, Gpt};
use super::ops::Data;
use super::rng::hash2;

/// What the backward pass needs from one block's forward pass.
#[derive(Default)]
struct Saved<T> {
    x_in: Vec<T>,
    y1: Vec<T>,
    mean1: Vec<T>,
    rstd1: Vec<T>,
    qkv: Vec<T>,
    att: Vec<T>,
    yatt: Vec<T>,
    x_mid: Vec<T>,
    y2: Vec<T>,
    mean2: Vec<T>,
    rstd2: Vec<T>,
    h: Vec<T>,
    a: Vec<T>,
}

/// Every activation and scratch buffer of a step, kept between steps: the same sizes come back
/// every step, and reusing them spares the allocator's page faults and zero fills (freeing
/// tens of MB each step lets glibc hand the memory back to the kernel). Every kernel writing
/// into these overwrites its whole output, so stale contents never leak into a result.
#[derive(Default)]
pub struct Workspace<T> {
    blocks: Vec<Saved<T>>,
    top: Vec<T>,
    xf: Vec<T>,
    meanf: Vec<T>,
    rstdf: Vec<T>,
    logits: Vec<T>,
    dxf: Vec<T>,
    dx: Vec<T>,
    branch: Vec<T>,
    da: Vec<T>,
    dtmp: Vec<T>,
    dqkv: Vec<T>,
}

/// `v` with exactly `n` elements (contents unspecified: every user overwrites them).
fn sized<T: Real>(v: &mut Vec<T>, n: usize) -> &mut Vec<T> {
    if v.len() != n {
        v.clear();
        v.resize(n, T::ZERO);
    }
    v
}

fn zeros<T: Real>(n: usize) -> Vec<T> {
    vec![T::ZERO; n]
}

/// Two distinct elements of `v`, mutably.
fn pair<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert!(i < j, "pair({i}, {j})");
    let (lo, hi) = v.split_at_mut(j);
    (&mut lo[i], &mut hi[0])
}

/// The mean loss of `batch` and the gradient of every parameter (in [`Gpt::params`] order),
/// with dropout masks drawn from `dropout_seed` as [`super::model::Mode::Train`] does.
/// `ws` holds the activations (reused across calls).
pub fn forward_backward<T: Real + WithDType>(
    model: &Gpt,
    batch: &Batch,
    dropout_seed: u64,
    ws: &mut Workspace<T>,
) -> Result<(f64, Vec<Tensor>)> {
    run(model, batch, Some(dropout_seed), ws, true)
}

/// The mean loss of `batch` without dropout or gradients (evaluation).
pub fn forward_loss<T: Real + WithDType>(
    model: &Gpt,
    batch: &Batch,
    ws: &mut Workspace<T>,
) -> Result<f64> {
    run(model, batch, None, ws, false).map(|(loss, _)| loss)
}

fn run<T: Real + WithDType>(
    model: &Gpt,
    batch: &Batch,
    dropout_seed: Option<u64>,
    ws: &mut Workspace<T>,
    backward: bool,
) -> Result<(f64, Vec<Tensor>)> {
    let cfg = &model.cfg;
    let (b, t, c, v, nl) = (batch.b, batch.t, cfg.n_embd, cfg.vocab_size, cfg.n_layer);
    let n = b * t;
    let sh = AttShape {
        b,
        t,
        h: cfg.n_head,
        c,
    };
    let eps = cfg.layer_norm_eps;
    let p_drop = cfg.dropout;
    let site_seed = |site: u64| {
        dropout_seed
            .filter(|_| p_drop > 0.0)
            .map(|seed| hash2(seed, site))
    };
    let guards: Vec<Data<'_>> = model
        .params
        .iter()
        .map(|p| Data::of(p.var.as_tensor()))
        .collect();
    let w: Vec<&[T]> = guards
        .iter()
        .map(|g| g.get::<T>("fused step"))
        .collect::<Result<_>>()?;
    let blk = |l: usize| &w[2 + 12 * l..2 + 12 * (l + 1)];
    let (lnf_g, lnf_b) = (w[w.len() - 2], w[w.len() - 1]);
    ws.blocks.resize_with(nl, Saved::default);
    let Workspace {
        blocks,
        top,
        xf,
        meanf,
        rstdf,
        logits,
        dxf,
        dx,
        branch,
        da,
        dtmp,
        dqkv,
    } = ws;

    // Forward.
    {
        let x0 = sized(&mut blocks[0].x_in, n * c);
        k::embed_fwd(&batch.ids, w[0], w[1], x0, t, c);
        if let Some(s) = site_seed(0) {
            k::dropout_inplace(x0, p_drop, s);
        }
    }
    for l in 0..nl {
        let p = blk(l);
        let (cur, rest) = blocks.split_at_mut(l + 1);
        let s = &mut cur[l];
        let x_out = match rest.first_mut() {
            Some(next) => sized(&mut next.x_in, n * c),
            None => sized(top, n * c),
        };
        sized(&mut s.y1, n * c);
        sized(&mut s.mean1, n);
        sized(&mut s.rstd1, n);
        k::layernorm_fwd(
            &s.x_in,
            p[0],
            p[1],
            &mut s.y1,
            &mut s.mean1,
            &mut s.rstd1,
            c,
            eps,
        );
        k::linear_fwd(
            &s.y1,
            p[2],
            Some(p[3]),
            sized(&mut s.qkv, n * 3 * c),
            c,
            3 * c,
        );
        sized(&mut s.yatt, n * c);
        sized(&mut s.att, b * sh.h * t * t);
        k::attention_fwd(&s.qkv, &mut s.yatt, &mut s.att, sh);
        sized(&mut s.x_mid, n * c);
        match site_seed(1 + 2 * l as u64) {
            None => {
                k::linear_fwd_residual(&s.yatt, p[4], Some(p[5]), Some(&s.x_in), &mut s.x_mid, c, c)
            }
            Some(seed) => {
                k::linear_fwd(&s.yatt, p[4], Some(p[5]), &mut s.x_mid, c, c);
                k::dropout_inplace(&mut s.x_mid, p_drop, seed);
                k::add_inplace(&mut s.x_mid, &s.x_in);
            }
        }
        sized(&mut s.y2, n * c);
        sized(&mut s.mean2, n);
        sized(&mut s.rstd2, n);
        k::layernorm_fwd(
            &s.x_mid,
            p[6],
            p[7],
            &mut s.y2,
            &mut s.mean2,
            &mut s.rstd2,
            c,
            eps,
        );
        k::linear_fwd(
            &s.y2,
            p[8],
            Some(p[9]),
            sized(&mut s.h, n * 4 * c),
            c,
            4 * c,
        );
        sized(&mut s.a, n * 4 * c);
        k::gelu_fwd(&s.h, &mut s.a);
        match site_seed(2 + 2 * l as u64) {
            None => {
                k::linear_fwd_residual(&s.a, p[10], Some(p[11]), Some(&s.x_mid), x_out, 4 * c, c)
            }
            Some(seed) => {
                k::linear_fwd(&s.a, p[10], Some(p[11]), x_out, 4 * c, c);
                k::dropout_inplace(x_out, p_drop, seed);
                k::add_inplace(x_out, &s.x_mid);
            }
        }
    }
    sized(xf, n * c);
    sized(meanf, n);
    sized(rstdf, n);
    k::layernorm_fwd(top, lnf_g, lnf_b, xf, meanf, rstdf, c, eps);
    let logits = sized(logits, n * v);
    k::linear_fwd(xf, w[0], None, logits, c, v);
    let loss = k::softmax_xent_fwd(logits, &batch.targets, v) / n as f64;
    if !backward {
        return Ok((loss, Vec::new()));
    }

    // Backward.
    let mut grads: Vec<Vec<T>> = w.iter().map(|p| zeros(p.len())).collect();
    let ng = grads.len();
    k::softmax_xent_bwd(
        logits,
        &batch.targets,
        v,
        <T as Real>::from_f64(1.0 / n as f64),
    );
    let dxf = sized(dxf, n * c);
    k::linear_bwd(xf, w[0], logits, Some(dxf), &mut grads[0], None, c, v);
    // dx: the gradient of the residual stream, updated in place from the top down.
    let dx = sized(dx, n * c);
    {
        let (gg, gb) = pair(&mut grads, ng - 2, ng - 1);
        k::layernorm_bwd(top, lnf_g, meanf, rstdf, dxf, dx, gg, gb, c, false);
    }
    let branch = sized(branch, n * c);
    let da = sized(da, n * 4 * c);
    let dtmp = sized(dtmp, n * c);
    let dqkv = sized(dqkv, n * 3 * c);
    for l in (0..nl).rev() {
        let s = &blocks[l];
        let p = blk(l);
        let gi = 2 + 12 * l;
        // MLP branch: x_out = x_mid + drop(c_proj(gelu(c_fc(ln_2(x_mid))))).
        let d_out: &[T] = match site_seed(2 + 2 * l as u64) {
            None => dx,
            Some(seed) => {
                branch.copy_from_slice(dx);
                k::dropout_inplace(branch, p_drop, seed);
                branch
            }
        };
        {
            let (gw, gb) = pair(&mut grads, gi + 10, gi + 11);
            k::linear_bwd(&s.a, p[10], d_out, Some(da), gw, Some(gb), 4 * c, c);
        }
        k::gelu_bwd_inplace(&s.h, da);
        {
            let (gw, gb) = pair(&mut grads, gi + 8, gi + 9);
            k::linear_bwd(&s.y2, p[8], da, Some(dtmp), gw, Some(gb), c, 4 * c);
        }
        {
            let (gg, gb) = pair(&mut grads, gi + 6, gi + 7);
            k::layernorm_bwd(
                &s.x_mid, p[6], &s.mean2, &s.rstd2, dtmp, dx, gg, gb, c, true,
            );
        }
        // Attention branch: x_mid = x_in + drop(c_proj(attn(c_attn(ln_1(x_in))))).
        let d_mid: &[T] = match site_seed(1 + 2 * l as u64) {
            None => dx,
            Some(seed) => {
                branch.copy_from_slice(dx);
                k::dropout_inplace(branch, p_drop, seed);
                branch
            }
        };
        {
            let (gw, gb) = pair(&mut grads, gi + 4, gi + 5);
            k::linear_bwd(&s.yatt, p[4], d_mid, Some(dtmp), gw, Some(gb), c, c);
        }
        k::attention_bwd(&s.qkv, &s.att, dtmp, dqkv, sh);
        {
            let (gw, gb) = pair(&mut grads, gi + 2, gi + 3);
            k::linear_bwd(&s.y1, p[2], dqkv, Some(dtmp), gw, Some(gb), c, 3 * c);
        }
        {
            let (gg, gb) = pair(&mut grads, gi, gi + 1);
            k::layernorm_bwd(&s.x_in, p[0], &s.mean1, &s.rstd1, dtmp, dx, gg, gb, c, true);
        }
    }
    if let Some(seed) = site_seed(0) {
        k::dropout_inplace(dx, p_drop, seed);
    }
    {
        let (gte, gpe) = pair(&mut grads, 0, 1);
        k::embed_bwd(&batch.ids, dx, gte, gpe, t, c, true);
    }
    drop(w);
    drop(guards);
    let tensors = grads
        .into_iter()
        .zip(&model.params)
        .map(|(g, p)| Tensor::from_vec(g, p.var.shape(), p.var.device()))
        .collect::<Result<Vec<_>>>()?;
    Ok((loss, tensors))
}
