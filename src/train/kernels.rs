//! CPU kernels of the GPT forward and backward passes, on plain slices.
//!
//! Each kernel is generic over [`Real`] (`f32` for training, `f64` for the finite-difference
//! gradient checks) and works on contiguous row-major buffers. Matrix products go straight to
//! the `gemm` crate (the one candle's CPU backend uses) with explicit strides, so transposed
//! operands, head slices of the fused `qkv` buffer and accumulation into an existing gradient
//! need no copies. Threads never share one product: a linear layer's forward splits its rows
//! among the threads, its backward runs `dx = dy W` and `dW = dy^T x` (equal cost) side by side,
//! attention runs one (batch, head) per task, and every `gemm` call is single-threaded — so no
//! core waits inside a product, which on two cores is worth more than `gemm`'s own threading.
//! Loops that must vectorize (exp, softmax, LayerNorm, GELU) run compiled for AVX2 + FMA when
//! the CPU has them ([`simd`]), with reductions kept in independent lanes.
//! Row-wise kernels run in parallel over fixed chunks of rows; reductions over
//! rows (bias and norm gradients) sum fixed chunks and then combine the partial sums in chunk
//! order, so every result is bitwise reproducible for a given thread count — resumed training
//! depends on that.

use rayon::prelude::*;

/// Rows per chunk of a row reduction: fixed so the summation order never depends on timing.
const REDUCE_ROWS: usize = 64;

/// The floating-point element types the kernels run on.
pub trait Real:
    Copy
    + Send
    + Sync
    + 'static
    + PartialOrd
    + Default
    + std::fmt::Debug
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Conversion from `f64` (rounding for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Conversion to `f64`.
    fn to_f64(self) -> f64;
    /// `e^self`, fast and vectorizable for `f32` (relative error below 2e-7).
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// The larger of the two.
    fn max(self, other: Self) -> Self;
    /// Negative infinity.
    fn neg_infinity() -> Self;
}

impl Real for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn exp(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f32::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        if self > other {
            self
        } else {
            other
        }
    }
    fn neg_infinity() -> Self {
        f32::NEG_INFINITY
    }
}

impl Real for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    #[inline(always)]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    #[inline(always)]
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    #[inline(always)]
    fn max(self, other: Self) -> Self {
        if self > other {
            self
        } else {
            other
        }
    }
    fn neg_infinity() -> Self {
        f64::NEG_INFINITY
    }
}

/// `e^x` for `f32` without a libm call (Cephes' `expf` polynomial), branch-free so loops over
/// it vectorize. Inputs are clamped to the finite range.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding it rounds to the nearest integer, which lands in the low mantissa
    // bits (the bits of ROUND itself are 0x4B40_0000).
    const ROUND: f32 = 12_582_912.0;
    // max/min rather than clamp: the same result on numbers, and it vectorizes better.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.0).min(88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = x - n * C1 - n * C2;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n from n's bits: (n + 127) << 23.
    let scale = f32::from_bits(t.to_bits().wrapping_sub(0x4B40_0000 - 127) << 23);
    y * scale
}

/// Lanes of the explicit SIMD-friendly reductions below: independent accumulators let the
/// compiler vectorize sums (a single float accumulator must be summed in order).
const LANES: usize = 16;

/// `sum(x)`, in lanes.
#[inline(always)]
fn sum<T: Real>(x: &[T]) -> T {
    let mut acc = [T::ZERO; LANES];
    let mut it = x.chunks_exact(LANES);
    for c in &mut it {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    let mut s = T::ZERO;
    for a in acc {
        s += a;
    }
    for &v in it.remainder() {
        s += v;
    }
    s
}

/// `sum((x - mu)^2)`, in lanes.
#[inline(always)]
fn sum_sq_dev<T: Real>(x: &[T], mu: T) -> T {
    let mut acc = [T::ZERO; LANES];
    let mut it = x.chunks_exact(LANES);
    for c in &mut it {
        for i in 0..LANES {
            let d = c[i] - mu;
            acc[i] += d * d;
        }
    }
    let mut s = T::ZERO;
    for a in acc {
        s += a;
    }
    for &v in it.remainder() {
        s += (v - mu) * (v - mu);
    }
    s
}

/// `sum(a * b)`, in lanes.
#[inline(always)]
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [T::ZERO; LANES];
    let mut ia = a.chunks_exact(LANES);
    let mut ib = b.chunks_exact(LANES);
    for (x, y) in (&mut ia).zip(&mut ib) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = T::ZERO;
    for v in acc {
        s += v;
    }
    for (&x, &y) in ia.remainder().iter().zip(ib.remainder()) {
        s += x * y;
    }
    s
}

/// `max(x)`, in lanes.
#[inline(always)]
fn max<T: Real>(x: &[T]) -> T {
    let mut acc = [T::neg_infinity(); LANES];
    let mut it = x.chunks_exact(LANES);
    for c in &mut it {
        for i in 0..LANES {
            acc[i] = acc[i].max(c[i]);
        }
    }
    let mut m = T::neg_infinity();
    for a in acc {
        m = m.max(a);
    }
    for &v in it.remainder() {
        m = m.max(v);
    }
    m
}

/// `x = exp(x - shift)` in place; returns the sum of the new values.
#[inline(always)]
fn exp_sum<T: Real>(x: &mut [T], shift: T) -> T {
    let mut acc = [T::ZERO; LANES];
    let mut it = x.chunks_exact_mut(LANES);
    for c in &mut it {
        for i in 0..LANES {
            let e = (c[i] - shift).exp();
            c[i] = e;
            acc[i] += e;
        }
    }
    let mut s = T::ZERO;
    for a in acc {
        s += a;
    }
    for v in it.into_remainder() {
        *v = (*v - shift).exp();
        s += *v;
    }
    s
}

/// `x *= k` in place.
#[inline(always)]
fn scale<T: Real>(x: &mut [T], k: T) {
    for v in x {
        *v *= k;
    }
}

/// Softmax of `row` in place.
#[inline(always)]
fn softmax_row<T: Real>(row: &mut [T]) {
    let mx = max(row);
    let total = exp_sum(row, mx);
    scale(row, T::ONE / total);
}

/// Runs `f` compiled for AVX2 + FMA when the CPU has them (the crate is built for baseline
/// x86-64, where loops vectorize only to SSE2). `f` must be `#[inline(always)]` work with no
/// calls that cross threads, so it is compiled inside the wider context.
#[inline(always)]
pub(crate) fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the features were detected at run time.
            return unsafe { with_avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// A raw pointer that may cross threads: each task writes a disjoint part of the buffer.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr<T>(pub *mut T);
// SAFETY: users guarantee disjoint writes (documented at each use).
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    #[inline(always)]
    fn get(self) -> *mut T {
        self.0
    }
}

/// Keeps candle's CPU "barrier pool" from competing with the kernels' rayon threads.
///
/// candle 0.11 runs elementwise ops on 64K+ elements (the residual adds, and the gradient
/// accumulation inside `backward()`) on a pool of its own whose workers, and the caller
/// waiting for them, spin. Next to rayon's threads on a small machine the spinning thread
/// often waits for a worker that is not scheduled: profiles of a training step showed half
/// the time in `BarrierGuard::drop`. With `CANDLE_NUM_THREADS=1` the pool has no workers and
/// those (memory-bound, small) ops run inline; matmuls are unaffected (they follow
/// `RAYON_NUM_THREADS`). The variable is read once, when the pool is first used, so this runs
/// before the first op (from model construction); a value the user set is kept.
pub fn configure_candle_threads() {
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
            // Set at most once, before any candle CPU op of this process reads it.
            std::env::set_var("CANDLE_NUM_THREADS", "1");
        }
    });
}

/// How many threads the big matrix products use (the current rayon pool's size).
fn threads() -> usize {
    rayon::current_num_threads()
}

/// A strided matrix operand: element (i, j) is at `ptr + i * rs + j * cs`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<T> {
    pub ptr: *const T,
    pub rs: isize,
    pub cs: isize,
}

impl<T> Mat<T> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &[T], cols: usize) -> Self {
        Mat {
            ptr: data.as_ptr(),
            rs: cols as isize,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with `cols` columns.
    pub fn rows_t(data: &[T], cols: usize) -> Self {
        Mat {
            ptr: data.as_ptr(),
            rs: 1,
            cs: cols as isize,
        }
    }
}

/// `dst (m x n, row stride dst_rs) = [dst +] scale * lhs (m x k) * rhs (k x n)`.
///
/// # Safety
/// The operands must describe valid memory for their shapes and `dst` must not overlap them.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn matmul<T: Real>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: usize,
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
    scale: T,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                std::slice::from_raw_parts_mut(dst.add(i * dst_rs), n).fill(T::ZERO);
            }
        }
        return;
    }
    let work = m * n * k;
    let par = if parallel && work >= 32 * 32 * 32 && threads() > 1 {
        gemm::Parallelism::Rayon(threads())
    } else {
        gemm::Parallelism::None
    };
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs.ptr,
        lhs.cs,
        lhs.rs,
        rhs.ptr,
        rhs.cs,
        rhs.rs,
        T::ONE,
        scale,
        false,
        false,
        false,
        par,
    );
}

/// Rows per parallel task for row-wise kernels over `n` rows of `width` elements.
fn row_chunk(n: usize, width: usize) -> usize {
    // Enough work per task to amortise scheduling, enough tasks to balance.
    let by_work = (16_384 / width.max(1)).max(1);
    let by_balance = n.div_ceil(threads() * 4).max(1);
    by_work.min(by_balance).max(1)
}

/// Sums `rows` (each `width` long) column-wise into `out` (overwritten), in fixed chunk order.
fn column_sums<T: Real>(data: &[T], width: usize, out: &mut [T]) {
    let partials: Vec<Vec<T>> = data
        .par_chunks(REDUCE_ROWS * width)
        .map(|chunk| {
            let mut acc = vec![T::ZERO; width];
            simd(
                #[inline(always)]
                || {
                    for row in chunk.chunks_exact(width) {
                        for (a, &v) in acc.iter_mut().zip(row) {
                            *a += v;
                        }
                    }
                },
            );
            acc
        })
        .collect();
    out.fill(T::ZERO);
    for p in &partials {
        for (o, &v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Linear layers: y = x W^T + b with W stored (out, in), as PyTorch does.

/// Below this many multiply-adds a product runs on one thread.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// `n` split into `parts` contiguous ranges of near-equal size (the first ones larger).
fn split(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    let (q, r) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = q + usize::from(i < r);
            let range = start..start + len;
            start += len;
            range
        })
        .collect()
}

/// How many parts to split a product of `work` multiply-adds into.
fn parts_for(work: usize) -> usize {
    if work < PARALLEL_MIN_WORK {
        1
    } else {
        threads()
    }
}

/// `y (n x out) = x (n x inp) W^T + b`; `b` may be absent.
///
/// Threads take contiguous blocks of rows, each one single-threaded `gemm` call (bias first
/// copied into the block): no synchronisation inside the product, every core at full speed.
pub fn linear_fwd<T: Real>(x: &[T], w: &[T], b: Option<&[T]>, y: &mut [T], inp: usize, out: usize) {
    linear_fwd_residual(x, w, b, None, y, inp, out);
}

/// `y = residual + x W^T + b`: [`linear_fwd`] whose rows start from the residual stream
/// instead of zero, so the residual add costs nothing.
#[allow(clippy::too_many_arguments)]
pub fn linear_fwd_residual<T: Real>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    residual: Option<&[T]>,
    y: &mut [T],
    inp: usize,
    out: usize,
) {
    let n = x.len() / inp;
    debug_assert_eq!(y.len(), n * out);
    let parts = split(n, parts_for(n * inp * out));
    let y_ptr = SendPtr(y.as_mut_ptr());
    parts.into_par_iter().for_each(|rows| {
        // SAFETY: each task writes only its own rows of y; operands are in bounds.
        unsafe {
            let dst = y_ptr.get().add(rows.start * out);
            for r in 0..rows.len() {
                let row = std::slice::from_raw_parts_mut(dst.add(r * out), out);
                match (b, residual) {
                    (Some(b), Some(res)) => {
                        let res = &res[(rows.start + r) * out..][..out];
                        for ((o, &x), &y) in row.iter_mut().zip(b).zip(res) {
                            *o = x + y;
                        }
                    }
                    (Some(b), None) => row.copy_from_slice(b),
                    (None, Some(res)) => row.copy_from_slice(&res[(rows.start + r) * out..][..out]),
                    (None, None) => {}
                }
            }
            matmul(
                rows.len(),
                out,
                inp,
                dst,
                out,
                b.is_some(),
                Mat {
                    ptr: x.as_ptr().add(rows.start * inp),
                    rs: inp as isize,
                    cs: 1,
                },
                Mat::rows_t(w, inp),
                T::ONE,
                false,
            );
        }
    });
}

/// Gradients of [`linear_fwd`]: `dx = dy W`, `dw = dy^T x`, `db = column sums of dy`.
/// Each output is overwritten.
///
/// `dx` and `dw` cost the same and are independent, so threads split between them (rows of
/// `dx`, rows of `dw`) and each runs a single-threaded product.
#[allow(clippy::too_many_arguments)]
pub fn linear_bwd<T: Real>(
    x: &[T],
    w: &[T],
    dy: &[T],
    dx: Option<&mut [T]>,
    dw: &mut [T],
    db: Option<&mut [T]>,
    inp: usize,
    out: usize,
) {
    let n = x.len() / inp;
    let nt = parts_for(n * inp * out);
    let dx_ptr = dx.map(|d| SendPtr(d.as_mut_ptr()));
    let dw_ptr = SendPtr(dw.as_mut_ptr());
    // (is_dx, rows): the dx half gets the larger share when the thread count is odd.
    let (dx_parts, dw_parts) = match dx_ptr {
        Some(_) => (nt.div_ceil(2), (nt / 2).max(1)),
        None => (0, nt),
    };
    let mut tasks: Vec<(bool, std::ops::Range<usize>)> = Vec::new();
    if dx_parts > 0 {
        tasks.extend(split(n, dx_parts).into_iter().map(|r| (true, r)));
    }
    tasks.extend(split(out, dw_parts).into_iter().map(|r| (false, r)));
    tasks.into_par_iter().for_each(|(is_dx, rows)| {
        // SAFETY: tasks write disjoint row blocks of dx or dw; operands are in bounds.
        unsafe {
            if is_dx {
                let Some(dxp) = dx_ptr else { return };
                matmul(
                    rows.len(),
                    inp,
                    out,
                    dxp.get().add(rows.start * inp),
                    inp,
                    false,
                    Mat {
                        ptr: dy.as_ptr().add(rows.start * out),
                        rs: out as isize,
                        cs: 1,
                    },
                    Mat::rows(w, inp),
                    T::ONE,
                    false,
                );
            } else {
                matmul(
                    rows.len(),
                    inp,
                    n,
                    dw_ptr.get().add(rows.start * inp),
                    inp,
                    false,
                    Mat {
                        ptr: dy.as_ptr().add(rows.start),
                        rs: 1,
                        cs: out as isize,
                    },
                    Mat::rows(x, inp),
                    T::ONE,
                    false,
                );
            }
        }
    });
    if let Some(db) = db {
        column_sums(dy, out, db);
    }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm over the last dimension.

/// `y = (x - mean) * rstd * g + b` per row of `c`; writes the per-row `mean` and `rstd`.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_fwd<T: Real>(
    x: &[T],
    g: &[T],
    b: &[T],
    y: &mut [T],
    mean: &mut [T],
    rstd: &mut [T],
    c: usize,
    eps: f64,
) {
    let n = x.len() / c;
    let rows = row_chunk(n, c);
    let eps = T::from_f64(eps);
    let inv_c = T::from_f64(1.0 / c as f64);
    y.par_chunks_mut(rows * c)
        .zip(mean.par_chunks_mut(rows).zip(rstd.par_chunks_mut(rows)))
        .enumerate()
        .for_each(|(chunk, (ys, (ms, rs)))| {
            let xs = &x[chunk * rows * c..][..ys.len()];
            simd(
                #[inline(always)]
                || {
                    for (i, (yr, xr)) in ys.chunks_exact_mut(c).zip(xs.chunks_exact(c)).enumerate()
                    {
                        let mu = sum(xr) * inv_c;
                        let var = sum_sq_dev(xr, mu);
                        let r = T::ONE / (var * inv_c + eps).sqrt();
                        for (((o, &v), &gg), &bb) in yr.iter_mut().zip(xr).zip(g).zip(b) {
                            *o = (v - mu) * r * gg + bb;
                        }
                        ms[i] = mu;
                        rs[i] = r;
                    }
                },
            );
        });
}

/// Gradients of [`layernorm_fwd`]; `dx` is overwritten (or added to, with `accumulate`: the
/// residual stream's gradient), `dg` and `db` are overwritten.
#[allow(clippy::too_many_arguments)]
pub fn layernorm_bwd<T: Real>(
    x: &[T],
    g: &[T],
    mean: &[T],
    rstd: &[T],
    dy: &[T],
    dx: &mut [T],
    dg: &mut [T],
    db: &mut [T],
    c: usize,
    accumulate: bool,
) {
    let inv_c = T::from_f64(1.0 / c as f64);
    // dx, and partial dg / db per fixed chunk of rows.
    let partials: Vec<(Vec<T>, Vec<T>)> = dx
        .par_chunks_mut(REDUCE_ROWS * c)
        .enumerate()
        .map(|(chunk, dxs)| {
            let start = chunk * REDUCE_ROWS;
            let xs = &x[start * c..][..dxs.len()];
            let dys = &dy[start * c..][..dxs.len()];
            let mut pg = vec![T::ZERO; c];
            let mut pb = vec![T::ZERO; c];
            let mut xhat = vec![T::ZERO; c];
            let mut dxhat = vec![T::ZERO; c];
            simd(
                #[inline(always)]
                || {
                    for (i, ((dxr, xr), dyr)) in dxs
                        .chunks_exact_mut(c)
                        .zip(xs.chunks_exact(c))
                        .zip(dys.chunks_exact(c))
                        .enumerate()
                    {
                        let mu = mean[start + i];
                        let r = rstd[start + i];
                        // mean(dy * g) and mean(dy * g * xhat), with xhat into the scratch
                        for (((xh, &v), &d), (pgj, pbj)) in xhat
                            .iter_mut()
                            .zip(xr)
                            .zip(dyr)
                            .zip(pg.iter_mut().zip(pb.iter_mut()))
                        {
                            *xh = (v - mu) * r;
                            *pgj += d * *xh;
                            *pbj += d;
                        }
                        for ((dg_, &d), &gg) in dxhat.iter_mut().zip(dyr).zip(g) {
                            *dg_ = d * gg;
                        }
                        let a = sum(&dxhat) * inv_c;
                        let bsum = dot(&dxhat, &xhat) * inv_c;
                        if accumulate {
                            for ((o, &dh), &xh) in dxr.iter_mut().zip(&dxhat).zip(&xhat) {
                                *o += (dh - a - xh * bsum) * r;
                            }
                        } else {
                            for ((o, &dh), &xh) in dxr.iter_mut().zip(&dxhat).zip(&xhat) {
                                *o = (dh - a - xh * bsum) * r;
                            }
                        }
                    }
                },
            );
            (pg, pb)
        })
        .collect();
    dg.fill(T::ZERO);
    db.fill(T::ZERO);
    for (pg, pb) in &partials {
        for (o, &v) in dg.iter_mut().zip(pg) {
            *o += v;
        }
        for (o, &v) in db.iter_mut().zip(pb) {
            *o += v;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// GELU (tanh approximation, as GPT-2).

const GELU_K: f64 = 0.797_884_560_802_865_4; // sqrt(2 / pi)
const GELU_C: f64 = 0.044_715;

/// `sigmoid(z) = 1 / (1 + e^-z)`.
#[inline(always)]
fn sigmoid<T: Real>(z: T) -> T {
    T::ONE / (T::ONE + (-z).exp())
}

/// Elementwise kernels are unrolled by this many elements so several independent exp chains
/// are in flight at once.
const UNROLL: usize = 32;

#[inline(always)]
pub(crate) fn gelu_one<T: Real>(x: T) -> T {
    // 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
    let k2 = T::from_f64(2.0 * GELU_K);
    let c = T::from_f64(GELU_C);
    x * sigmoid(k2 * (x + c * x * x * x))
}

#[inline(always)]
fn gelu_grad_one<T: Real>(x: T, d: T) -> T {
    // With s = sigmoid(2u): d/dx [x s] = s + x * 2 s (1 - s) * du/dx.
    let k = T::from_f64(GELU_K);
    let k2 = T::from_f64(2.0 * GELU_K);
    let c = T::from_f64(GELU_C);
    let c3 = T::from_f64(3.0 * GELU_C);
    let two = T::from_f64(2.0);
    let x2 = x * x;
    let s = sigmoid(k2 * (x + c * x2 * x));
    d * (s + x * two * s * (T::ONE - s) * k * (T::ONE + c3 * x2))
}

/// `y = gelu(h)` elementwise.
pub fn gelu_fwd<T: Real>(h: &[T], y: &mut [T]) {
    y.par_chunks_mut(8192)
        .zip(h.par_chunks(8192))
        .for_each(|(ys, hs)| {
            simd(
                #[inline(always)]
                || {
                    let mut yc = ys.chunks_exact_mut(UNROLL);
                    let mut hc = hs.chunks_exact(UNROLL);
                    for (o, i) in (&mut yc).zip(&mut hc) {
                        for k in 0..UNROLL {
                            o[k] = gelu_one(i[k]);
                        }
                    }
                    for (o, &x) in yc.into_remainder().iter_mut().zip(hc.remainder()) {
                        *o = gelu_one(x);
                    }
                },
            )
        });
}

/// `dh = dy * gelu'(h)`, overwriting `dh`.
pub fn gelu_bwd<T: Real>(h: &[T], dy: &[T], dh: &mut [T]) {
    dh.par_chunks_mut(8192)
        .zip(h.par_chunks(8192).zip(dy.par_chunks(8192)))
        .for_each(|(ds, (hs, dys))| {
            simd(
                #[inline(always)]
                || {
                    let mut oc = ds.chunks_exact_mut(UNROLL);
                    let mut hc = hs.chunks_exact(UNROLL);
                    let mut dc = dys.chunks_exact(UNROLL);
                    for ((o, x), d) in (&mut oc).zip(&mut hc).zip(&mut dc) {
                        for k in 0..UNROLL {
                            o[k] = gelu_grad_one(x[k], d[k]);
                        }
                    }
                    for ((o, &x), &d) in oc
                        .into_remainder()
                        .iter_mut()
                        .zip(hc.remainder())
                        .zip(dc.remainder())
                    {
                        *o = gelu_grad_one(x, d);
                    }
                },
            )
        });
}

/// `x = gelu'(h) * x` in place: [`gelu_bwd`] overwriting the incoming gradient.
pub fn gelu_bwd_inplace<T: Real>(h: &[T], d: &mut [T]) {
    d.par_chunks_mut(8192)
        .zip(h.par_chunks(8192))
        .for_each(|(ds, hs)| {
            simd(
                #[inline(always)]
                || {
                    let mut oc = ds.chunks_exact_mut(UNROLL);
                    let mut hc = hs.chunks_exact(UNROLL);
                    for (o, x) in (&mut oc).zip(&mut hc) {
                        for k in 0..UNROLL {
                            o[k] = gelu_grad_one(x[k], o[k]);
                        }
                    }
                    for (o, &x) in oc.into_remainder().iter_mut().zip(hc.remainder()) {
                        *o = gelu_grad_one(x, *o);
                    }
                },
            )
        });
}

/// `dst += src` elementwise.
pub fn add_inplace<T: Real>(dst: &mut [T], src: &[T]) {
    dst.par_chunks_mut(16_384)
        .zip(src.par_chunks(16_384))
        .for_each(|(d, s)| {
            simd(
                #[inline(always)]
                || {
                    for (o, &v) in d.iter_mut().zip(s) {
                        *o += v;
                    }
                },
            )
        });
}

/// Inverted dropout in place: element `i` is zeroed when `hash(seed, i)` falls below `p`,
/// else scaled by `1 / (1 - p)`. The mask is a function of `(seed, i)` only, so the backward
/// pass applies the same call to the gradient.
pub fn dropout_inplace<T: Real>(x: &mut [T], p: f64, seed: u64) {
    let keep = T::from_f64(1.0 / (1.0 - p));
    let threshold = (p * (u64::MAX as f64)) as u64;
    x.par_chunks_mut(16_384)
        .enumerate()
        .for_each(|(chunk, xs)| {
            let base = (chunk * 16_384) as u64;
            for (i, v) in xs.iter_mut().enumerate() {
                if super::rng::hash2(seed, base + i as u64) < threshold {
                    *v = T::ZERO;
                } else {
                    *v *= keep;
                }
            }
        });
}

// ---------------------------------------------------------------------------------------------
// Causal multi-head self-attention on the fused qkv buffer (B, T, 3C) -> (B, T, C).

/// Query rows per block: row block `r` only needs keys `0..(r + 1) * ATT_BLOCK`, which skips
/// most of the masked upper triangle.
const ATT_BLOCK: usize = 64;

/// Shape of an attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttShape {
    /// Batch size.
    pub b: usize,
    /// Sequence length.
    pub t: usize,
    /// Heads.
    pub h: usize,
    /// Embedding width (all heads).
    pub c: usize,
}

impl AttShape {
    fn hs(&self) -> usize {
        self.c / self.h
    }
}

/// Forward: writes `y` (B, T, C) and the attention probabilities `att` (B, H, T, T; the
/// masked upper triangle is zero).
pub fn attention_fwd<T: Real>(qkv: &[T], y: &mut [T], att: &mut [T], s: AttShape) {
    let AttShape { t, h, c, .. } = s;
    let hs = s.hs();
    let scale = T::from_f64(1.0 / (hs as f64).sqrt());
    let y_ptr = SendPtr(y.as_mut_ptr());
    att.par_chunks_mut(t * t).enumerate().for_each(|(bh, p)| {
        let (bi, hi) = (bh / h, bh % h);
        let base = &qkv[bi * t * 3 * c..][..t * 3 * c];
        let q = &base[hi * hs..];
        let k = &base[c + hi * hs..];
        let v = &base[2 * c + hi * hs..];
        // SAFETY: each (b, h) task writes only its own rows x head columns of y.
        let yb = unsafe { y_ptr.get().add(bi * t * c + hi * hs) };
        for r0 in (0..t).step_by(ATT_BLOCK) {
            let rows = ATT_BLOCK.min(t - r0);
            let keys = r0 + rows;
            // S[r0.., 0..keys] = scale * q k^T
            // SAFETY: in bounds of base / p by construction.
            unsafe {
                matmul(
                    rows,
                    keys,
                    hs,
                    p.as_mut_ptr().add(r0 * t),
                    t,
                    false,
                    Mat {
                        ptr: q.as_ptr().add(r0 * 3 * c),
                        rs: (3 * c) as isize,
                        cs: 1,
                    },
                    Mat {
                        ptr: k.as_ptr(),
                        rs: 1,
                        cs: (3 * c) as isize,
                    },
                    scale,
                    false,
                );
            }
            simd(
                #[inline(always)]
                || {
                    for i in r0..r0 + rows {
                        let row = &mut p[i * t..(i + 1) * t];
                        let (live, masked) = row.split_at_mut(i + 1);
                        softmax_row(live);
                        masked.fill(T::ZERO);
                    }
                },
            );
            // y[r0..] = P[r0.., 0..keys] v[0..keys]
            // SAFETY: as above.
            unsafe {
                matmul(
                    rows,
                    hs,
                    keys,
                    yb.add(r0 * c),
                    c,
                    false,
                    Mat {
                        ptr: p.as_ptr().add(r0 * t),
                        rs: t as isize,
                        cs: 1,
                    },
                    Mat {
                        ptr: v.as_ptr(),
                        rs: (3 * c) as isize,
                        cs: 1,
                    },
                    T::ONE,
                    false,
                );
            }
        }
    });
}

/// Backward of [`attention_fwd`]: overwrites `dqkv` (B, T, 3C).
pub fn attention_bwd<T: Real>(qkv: &[T], att: &[T], dy: &[T], dqkv: &mut [T], s: AttShape) {
    let AttShape { b, t, h, c } = s;
    let hs = s.hs();
    let scale = T::from_f64(1.0 / (hs as f64).sqrt());
    let d_ptr = SendPtr(dqkv.as_mut_ptr());
    (0..b * h).into_par_iter().for_each(|bh| {
        let (bi, hi) = (bh / h, bh % h);
        let base = &qkv[bi * t * 3 * c..][..t * 3 * c];
        let q = base[hi * hs..].as_ptr();
        let k = base[c + hi * hs..].as_ptr();
        let v = base[2 * c + hi * hs..].as_ptr();
        let p = &att[bh * t * t..][..t * t];
        let dyb = dy[bi * t * c + hi * hs..].as_ptr();
        // SAFETY: each (b, h) task writes only its own head columns of dqkv.
        let db = unsafe { d_ptr.get().add(bi * t * 3 * c) };
        let (dq, dk, dv) = unsafe {
            (
                db.add(hi * hs),
                db.add(c + hi * hs),
                db.add(2 * c + hi * hs),
            )
        };
        let c3 = (3 * c) as isize;
        let mut ds = vec![T::ZERO; t * t];
        // SAFETY (all matmuls below): pointers and strides stay inside this batch row's
        // buffers; the destinations are this task's own columns or its scratch.
        unsafe {
            // dv[j] = sum_{i >= j} P[i, j] dy[i]
            for j0 in (0..t).step_by(ATT_BLOCK) {
                let cols = ATT_BLOCK.min(t - j0);
                matmul(
                    cols,
                    hs,
                    t - j0,
                    dv.add(j0 * 3 * c),
                    3 * c,
                    false,
                    Mat {
                        ptr: p.as_ptr().add(j0 * t + j0),
                        rs: 1,
                        cs: t as isize,
                    },
                    Mat {
                        ptr: dyb.add(j0 * c),
                        rs: c as isize,
                        cs: 1,
                    },
                    T::ONE,
                    false,
                );
            }
            // dP = dy v^T on the live (lower) part, row block by row block.
            for r0 in (0..t).step_by(ATT_BLOCK) {
                let rows = ATT_BLOCK.min(t - r0);
                let keys = r0 + rows;
                matmul(
                    rows,
                    keys,
                    hs,
                    ds.as_mut_ptr().add(r0 * t),
                    t,
                    false,
                    Mat {
                        ptr: dyb.add(r0 * c),
                        rs: c as isize,
                        cs: 1,
                    },
                    Mat {
                        ptr: v,
                        rs: 1,
                        cs: c3,
                    },
                    T::ONE,
                    false,
                );
            }
        }
        // dS = P * (dP - sum_j P dP), scaled: the softmax backward.
        simd(
            #[inline(always)]
            || {
                for i in 0..t {
                    let pr = &p[i * t..i * t + i + 1];
                    let dr = &mut ds[i * t..(i + 1) * t];
                    let (live, masked) = dr.split_at_mut(i + 1);
                    let pd = dot(pr, live);
                    for (d, &pp) in live.iter_mut().zip(pr) {
                        *d = pp * (*d - pd) * scale;
                    }
                    masked.fill(T::ZERO);
                }
            },
        );
        unsafe {
            // dq = dS k, over the live keys of each row block.
            for r0 in (0..t).step_by(ATT_BLOCK) {
                let rows = ATT_BLOCK.min(t - r0);
                let keys = r0 + rows;
                matmul(
                    rows,
                    hs,
                    keys,
                    dq.add(r0 * 3 * c),
                    3 * c,
                    false,
                    Mat {
                        ptr: ds.as_ptr().add(r0 * t),
                        rs: t as isize,
                        cs: 1,
                    },
                    Mat {
                        ptr: k,
                        rs: c3,
                        cs: 1,
                    },
                    T::ONE,
                    false,
                );
            }
            // dk[j] = sum_{i >= j} dS[i, j] q[i]
            for j0 in (0..t).step_by(ATT_BLOCK) {
                let cols = ATT_BLOCK.min(t - j0);
                matmul(
                    cols,
                    hs,
                    t - j0,
                    dk.add(j0 * 3 * c),
                    3 * c,
                    false,
                    Mat {
                        ptr: ds.as_ptr().add(j0 * t + j0),
                        rs: 1,
                        cs: t as isize,
                    },
                    Mat {
                        ptr: q.add(j0 * 3 * c),
                        rs: c3,
                        cs: 1,
                    },
                    T::ONE,
                    false,
                );
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Embeddings.

/// `x[b, t] = wte[ids[b, t]] + wpe[t]`; ids must be below the vocab size (checked by callers).
pub fn embed_fwd<T: Real>(ids: &[u32], wte: &[T], wpe: &[T], x: &mut [T], t: usize, c: usize) {
    x.par_chunks_mut(c).enumerate().for_each(|(i, row)| {
        let id = ids[i] as usize;
        let pos = i % t;
        for ((o, &a), &p) in row
            .iter_mut()
            .zip(&wte[id * c..(id + 1) * c])
            .zip(&wpe[pos * c..(pos + 1) * c])
        {
            *o = a + p;
        }
    });
}

/// Gradients of [`embed_fwd`]: `dwte` (V, C) is overwritten, or added to with `accumulate`
/// (it already holds the tied head's gradient); `dwpe` (T_max, C) is overwritten.
pub fn embed_bwd<T: Real>(
    ids: &[u32],
    dx: &[T],
    dwte: &mut [T],
    dwpe: &mut [T],
    t: usize,
    c: usize,
    accumulate: bool,
) {
    if !accumulate {
        dwte.fill(T::ZERO);
    }
    dwpe.fill(T::ZERO);
    // Sequential scatter: rows may repeat; this is a small fraction of a step.
    for (i, row) in dx.chunks_exact(c).enumerate() {
        let id = ids[i] as usize;
        let pos = i % t;
        for (o, &d) in dwte[id * c..(id + 1) * c].iter_mut().zip(row) {
            *o += d;
        }
        for (o, &d) in dwpe[pos * c..(pos + 1) * c].iter_mut().zip(row) {
            *o += d;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy over logits rows.

/// Turns `logits` (n x v) into probabilities in place and returns the summed negative
/// log-likelihood of `targets` (as f64, summed in row order).
pub fn softmax_xent_fwd<T: Real>(logits: &mut [T], targets: &[u32], v: usize) -> f64 {
    let rows = row_chunk(targets.len(), v).max(1);
    let losses: Vec<f64> = logits
        .par_chunks_mut(rows * v)
        .enumerate()
        .map(|(chunk, ls)| {
            let mut total = 0.0;
            simd(
                #[inline(always)]
                || {
                    for (i, row) in ls.chunks_exact_mut(v).enumerate() {
                        let target = targets[chunk * rows + i] as usize;
                        let mx = max(row);
                        // -log p_target = log(sum exp(x - mx)) - (x_target - mx), exact even
                        // when p_target underflows.
                        let logit = (row[target] - mx).to_f64();
                        let total_exp = exp_sum(row, mx);
                        scale(row, T::ONE / total_exp);
                        total += total_exp.to_f64().ln() - logit;
                    }
                },
            );
            total
        })
        .collect();
    losses.iter().sum()
}

/// `probs - onehot(targets)`, scaled by `scale`, in place: the logits gradient.
pub fn softmax_xent_bwd<T: Real>(probs: &mut [T], targets: &[u32], v: usize, scale: T) {
    probs.par_chunks_mut(v).enumerate().for_each(|(i, row)| {
        row[targets[i] as usize] -= T::ONE;
        simd(
            #[inline(always)]
            || {
                for x in row.iter_mut() {
                    *x *= scale;
                }
            },
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Optimizer helpers.

/// Sum of squares, in fixed chunk order.
pub fn sum_squares(x: &[f32]) -> f64 {
    let partials: Vec<f64> = x
        .par_chunks(1 << 16)
        .map(|chunk| {
            simd(
                #[inline(always)]
                || dot(chunk, chunk) as f64,
            )
        })
        .collect();
    partials.iter().sum()
}

/// Hyper-parameters of one AdamW update.
#[derive(Clone, Copy, Debug)]
pub struct AdamHyper {
    /// Learning rate of this step.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator epsilon.
    pub eps: f32,
    /// Decoupled weight decay (0 for parameters outside the decay group).
    pub weight_decay: f32,
    /// Multiplier of the raw gradient (gradient clipping folded in).
    pub grad_scale: f32,
    /// `1 - beta1^t`.
    pub bias1: f32,
    /// `1 - beta2^t`.
    pub bias2: f32,
}

/// One AdamW step in place (PyTorch's formulation: decay, then the Adam update).
pub fn adamw(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], hp: AdamHyper) {
    const CHUNK: usize = 1 << 14;
    p.par_chunks_mut(CHUNK)
        .zip(g.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .for_each(|((ps, gs), (ms, vs))| {
            simd(
                #[inline(always)]
                || {
                    let step = hp.lr / hp.bias1;
                    let inv_b2 = 1.0 / hp.bias2.sqrt();
                    let decay = 1.0 - hp.lr * hp.weight_decay;
                    for (((p, &g), m), v) in
                        ps.iter_mut().zip(gs).zip(ms.iter_mut()).zip(vs.iter_mut())
                    {
                        let g = g * hp.grad_scale;
                        *m = hp.beta1 * *m + (1.0 - hp.beta1) * g;
                        *v = hp.beta2 * *v + (1.0 - hp.beta2) * g * g;
                        let denom = v.sqrt() * inv_b2 + hp.eps;
                        *p = *p * decay - step * *m / denom;
                    }
                },
            )
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_matches_std() {
        let mut worst = 0f64;
        let mut x = -80.0f32;
        while x < 80.0 {
            let a = exp_f32(x) as f64;
            let b = (x as f64).exp();
            worst = worst.max(((a - b) / b).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-1000.0) < 1e-37);
    }

    #[test]
    fn linear_matches_naive() {
        let (n, inp, out) = (5, 7, 3);
        let x: Vec<f64> = (0..n * inp).map(|i| (i as f64 * 0.37).sin()).collect();
        let w: Vec<f64> = (0..out * inp).map(|i| (i as f64 * 0.11).cos()).collect();
        let b: Vec<f64> = (0..out).map(|i| i as f64).collect();
        let mut y = vec![0.0; n * out];
        linear_fwd(&x, &w, Some(&b), &mut y, inp, out);
        for r in 0..n {
            for o in 0..out {
                let want: f64 = b[o]
                    + (0..inp)
                        .map(|i| x[r * inp + i] * w[o * inp + i])
                        .sum::<f64>();
                assert!((y[r * out + o] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn attention_rows_are_causal_distributions() {
        let s = AttShape {
            b: 2,
            t: 70,
            h: 2,
            c: 8,
        };
        let qkv: Vec<f64> = (0..s.b * s.t * 3 * s.c)
            .map(|i| ((i * 7919) % 97) as f64 / 50.0 - 1.0)
            .collect();
        let mut y = vec![0.0; s.b * s.t * s.c];
        let mut att = vec![1.0; s.b * s.h * s.t * s.t];
        attention_fwd(&qkv, &mut y, &mut att, s);
        for row in 0..s.b * s.h * s.t {
            let i = row % s.t;
            let r = &att[row * s.t..(row + 1) * s.t];
            let sum: f64 = r.iter().sum();
            assert!((sum - 1.0).abs() < 1e-12);
            assert!(r[i + 1..].iter().all(|&v| v == 0.0));
        }
    }
}
