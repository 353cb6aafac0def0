//! The model's layers as candle custom ops with their own backward passes.
//!
//! candle's autograd records one node per op; each node costs a gradient allocation, a zero
//! fill and an add on the way back. Expressing a layer as a chain of elementwise tensor ops
//! (LayerNorm as mean / sub / sqr / mean / sqrt / div / mul / add, attention as matmul / mask
//! / softmax / matmul per head) makes the backward pass mostly that bookkeeping. Here each
//! layer is one node whose forward and backward are the fused kernels of [`super::kernels`]:
//! the graph of a block is LayerNorm, Linear, Attention, Linear, add, LayerNorm,
//! Linear+GELU, Linear, add. What the backward pass needs from the forward (LayerNorm
//! statistics, attention probabilities, the GELU input, the softmax of the logits) is kept in
//! the op itself.
//!
//! The ops run on CPU storage in `f32` or `f64`; [`super::model`] uses plain candle ops on
//! other devices. Every op can also run without recording (`apply_op*_no_bwd`) for evaluation
//! and sampling, where nothing is kept.

use std::sync::{Arc, Mutex};

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Storage,
    Tensor, WithDType,
};

use candle_core::backend::BackendStorage;

use super::kernels::{self, AttShape, Real};

/// The contiguous data of a CPU storage, as `T`.
fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [T]> {
    let Some((start, end)) = l.contiguous_offsets() else {
        bail!("{what}: the input must be contiguous")
    };
    Ok(&s.as_slice::<T>()?[start..end])
}

/// A tensor's CPU data, read-locked for the life of the value.
pub(crate) struct Data<'a> {
    guard: candle_core::StorageRef<'a>,
    layout: &'a Layout,
}

impl<'a> Data<'a> {
    pub(crate) fn of(t: &'a Tensor) -> Self {
        let (guard, layout) = t.storage_and_layout();
        Data { guard, layout }
    }
    pub(crate) fn get<T: WithDType>(&self, what: &str) -> Result<&[T]> {
        match &*self.guard {
            Storage::Cpu(s) => slice(s, self.layout, what),
            _ => bail!("{what}: the fused ops run on the CPU only"),
        }
    }
}

fn tensor<T: WithDType>(data: Vec<T>, shape: impl Into<Shape>, like: &Tensor) -> Result<Tensor> {
    Tensor::from_vec(data, shape, like.device())
}

fn storage<T: WithDType>(v: Vec<T>) -> CpuStorage {
    T::to_cpu_storage_owned(v)
}

/// Runs `$body` with `$t` bound to the element type of `$dtype` (f32 or f64).
macro_rules! dispatch {
    ($dtype:expr, $name:expr, $t:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $t = f32;
                $body
            }
            DType::F64 => {
                type $t = f64;
                $body
            }
            other => bail!("{}: unsupported dtype {other:?}", $name),
        }
    };
}

/// Rows and width of a (.., c) tensor layout.
fn rows_cols(l: &Layout) -> (usize, usize) {
    let dims = l.dims();
    let c = *dims.last().unwrap_or(&1);
    (l.shape().elem_count() / c.max(1), c)
}

fn with_last(dims: &[usize], last: usize) -> Shape {
    let mut d = dims.to_vec();
    if let Some(x) = d.last_mut() {
        *x = last;
    }
    Shape::from(d)
}

// ---------------------------------------------------------------------------------------------

/// Token + position embedding: `(wte, wpe) -> x (B, T, C)` for fixed token ids.
pub struct Embed {
    /// Token ids, row-major (B, T).
    pub ids: Arc<Vec<u32>>,
    /// Batch size.
    pub b: usize,
    /// Sequence length.
    pub t: usize,
}

impl CustomOp2 for Embed {
    fn name(&self) -> &'static str {
        "cf-embed"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (v, c) = rows_cols(l1);
        let (tmax, _) = rows_cols(l2);
        if self.t > tmax {
            bail!(
                "cf-embed: sequence length {} exceeds the position table ({tmax})",
                self.t
            )
        }
        if let Some(&bad) = self.ids.iter().find(|&&id| id as usize >= v) {
            bail!("cf-embed: token id {bad} is outside the vocabulary ({v})")
        }
        dispatch!(s1.dtype(), self.name(), T => {
            let wte = slice::<T>(s1, l1, self.name())?;
            let wpe = slice::<T>(s2, l2, self.name())?;
            let mut x = vec![T::ZERO; self.b * self.t * c];
            kernels::embed_fwd(&self.ids, wte, wpe, &mut x, self.t, c);
            Ok((storage(x), Shape::from((self.b, self.t, c))))
        })
    }
    fn bwd(
        &self,
        wte: &Tensor,
        wpe: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (v, c) = wte.dims2()?;
        let tmax = wpe.dim(0)?;
        let g = Data::of(&grad);
        dispatch!(grad.dtype(), self.name(), T => {
            let mut dwte = vec![T::ZERO; v * c];
            let mut dwpe = vec![T::ZERO; tmax * c];
            kernels::embed_bwd(&self.ids, g.get::<T>(self.name())?, &mut dwte, &mut dwpe, self.t, c, false);
            Ok((Some(tensor(dwte, (v, c), wte)?), Some(tensor(dwpe, (tmax, c), wpe)?)))
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// LayerNorm over the last dimension with weight and bias: `(x, g, b) -> y`.
pub struct LayerNorm {
    /// Variance epsilon.
    pub eps: f64,
    /// Whether to keep the row statistics for the backward pass.
    pub save: bool,
    saved: Mutex<Option<(CpuStorage, CpuStorage)>>,
}

impl LayerNorm {
    /// A LayerNorm op; `save` when a backward pass will follow.
    pub fn new(eps: f64, save: bool) -> Self {
        LayerNorm {
            eps,
            save,
            saved: Mutex::new(None),
        }
    }
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "cf-layer-norm"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c) = rows_cols(l1);
        dispatch!(s1.dtype(), self.name(), T => {
            let x = slice::<T>(s1, l1, self.name())?;
            let g = slice::<T>(s2, l2, self.name())?;
            let b = slice::<T>(s3, l3, self.name())?;
            if g.len() != c || b.len() != c {
                bail!("cf-layer-norm: weight and bias must have {c} elements")
            }
            let mut y = vec![T::ZERO; n * c];
            let mut mean = vec![T::ZERO; n];
            let mut rstd = vec![T::ZERO; n];
            kernels::layernorm_fwd(x, g, b, &mut y, &mut mean, &mut rstd, c, self.eps);
            if self.save {
                *self.saved.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))? =
                    Some((storage(mean), storage(rstd)));
            }
            Ok((storage(y), l1.shape().clone()))
        })
    }
    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some((mean, rstd)) = self
            .saved
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned".into()))?
            .take()
        else {
            bail!("cf-layer-norm: backward without a recorded forward")
        };
        let grad = grad.contiguous()?;
        let c = g.elem_count();
        let (xd, gd, dyd) = (Data::of(x), Data::of(g), Data::of(&grad));
        dispatch!(x.dtype(), self.name(), T => {
            let xs = xd.get::<T>(self.name())?;
            let mut dx = vec![T::ZERO; xs.len()];
            let mut dg = vec![T::ZERO; c];
            let mut db = vec![T::ZERO; c];
            kernels::layernorm_bwd(
                xs,
                gd.get::<T>(self.name())?,
                mean.as_slice::<T>()?,
                rstd.as_slice::<T>()?,
                dyd.get::<T>(self.name())?,
                &mut dx,
                &mut dg,
                &mut db,
                c,
                false,
            );
            Ok((Some(tensor(dx, x.shape(), x)?), Some(tensor(dg, g.shape(), g)?), Some(tensor(db, b.shape(), b)?)))
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// Activation after a linear layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// None: `y = x W^T + b`.
    Identity,
    /// `y = gelu(x W^T + b)` (tanh approximation).
    Gelu,
}

/// A linear layer `(x, W (out, in), b (out)) -> act(x W^T + b)`.
pub struct Linear {
    /// The activation applied to the output.
    pub act: Activation,
    /// Whether to keep what the backward pass needs.
    pub save: bool,
    saved: Mutex<Option<CpuStorage>>,
}

impl Linear {
    /// A linear op with activation `act`; `save` when a backward pass will follow.
    pub fn new(act: Activation, save: bool) -> Self {
        Linear {
            act,
            save,
            saved: Mutex::new(None),
        }
    }
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        match self.act {
            Activation::Identity => "cf-linear",
            Activation::Gelu => "cf-linear-gelu",
        }
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, inp) = rows_cols(l1);
        let (out, w_in) = rows_cols(l2);
        if w_in != inp {
            bail!(
                "{}: input width {inp} does not match the weight ({out} x {w_in})",
                self.name()
            )
        }
        dispatch!(s1.dtype(), self.name(), T => {
            let x = slice::<T>(s1, l1, self.name())?;
            let w = slice::<T>(s2, l2, self.name())?;
            let b = slice::<T>(s3, l3, self.name())?;
            let mut y = vec![T::ZERO; n * out];
            kernels::linear_fwd(x, w, Some(b), &mut y, inp, out);
            if self.act == Activation::Gelu {
                let h = y;
                let mut act = vec![T::ZERO; n * out];
                kernels::gelu_fwd(&h, &mut act);
                if self.save {
                    *self.saved.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))? = Some(storage(h));
                }
                y = act;
            }
            Ok((storage(y), with_last(l1.dims(), out)))
        })
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let (out, inp) = w.dims2()?;
        let saved = self
            .saved
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned".into()))?
            .take();
        let (xd, wd, gd) = (Data::of(x), Data::of(w), Data::of(&grad));
        dispatch!(x.dtype(), self.name(), T => {
            let xs = xd.get::<T>(self.name())?;
            let dy_raw = gd.get::<T>(self.name())?;
            let dh;
            let dy: &[T] = match self.act {
                Activation::Identity => dy_raw,
                Activation::Gelu => {
                    let Some(h) = &saved else { bail!("{}: backward without a recorded forward", self.name()) };
                    let mut d = vec![T::ZERO; dy_raw.len()];
                    kernels::gelu_bwd(h.as_slice::<T>()?, dy_raw, &mut d);
                    dh = d;
                    &dh
                }
            };
            let mut dx = vec![T::ZERO; xs.len()];
            let mut dw = vec![T::ZERO; out * inp];
            let mut db = vec![T::ZERO; out];
            kernels::linear_bwd(xs, wd.get::<T>(self.name())?, dy, Some(&mut dx), &mut dw, Some(&mut db), inp, out);
            Ok((Some(tensor(dx, x.shape(), x)?), Some(tensor(dw, (out, inp), w)?), Some(tensor(db, out, b)?)))
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// Causal multi-head self-attention on the fused `qkv` (B, T, 3C) -> (B, T, C).
pub struct Attention {
    /// Number of heads.
    pub heads: usize,
    /// Whether to keep the probabilities for the backward pass.
    pub save: bool,
    saved: Mutex<Option<CpuStorage>>,
}

impl Attention {
    /// An attention op over `heads` heads; `save` when a backward pass will follow.
    pub fn new(heads: usize, save: bool) -> Self {
        Attention {
            heads,
            save,
            saved: Mutex::new(None),
        }
    }
    fn shape(&self, dims: &[usize]) -> Result<AttShape> {
        let &[b, t, c3] = dims else {
            bail!("cf-attention: expected (B, T, 3C), got {dims:?}")
        };
        if c3 % (3 * self.heads) != 0 {
            bail!(
                "cf-attention: width {c3} is not 3 x heads ({}) x head size",
                self.heads
            )
        }
        Ok(AttShape {
            b,
            t,
            h: self.heads,
            c: c3 / 3,
        })
    }
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "cf-attention"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let sh = self.shape(l.dims())?;
        dispatch!(s.dtype(), self.name(), T => {
            let qkv = slice::<T>(s, l, self.name())?;
            let mut y = vec![T::ZERO; sh.b * sh.t * sh.c];
            let mut att = vec![T::ZERO; sh.b * sh.h * sh.t * sh.t];
            kernels::attention_fwd(qkv, &mut y, &mut att, sh);
            if self.save {
                *self.saved.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))? = Some(storage(att));
            }
            Ok((storage(y), Shape::from((sh.b, sh.t, sh.c))))
        })
    }
    fn bwd(&self, qkv: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let Some(att) = self
            .saved
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned".into()))?
            .take()
        else {
            bail!("cf-attention: backward without a recorded forward")
        };
        let sh = self.shape(qkv.dims())?;
        let grad = grad.contiguous()?;
        let (qd, gd) = (Data::of(qkv), Data::of(&grad));
        dispatch!(qkv.dtype(), self.name(), T => {
            let q = qd.get::<T>(self.name())?;
            let mut dqkv = vec![T::ZERO; q.len()];
            kernels::attention_bwd(q, att.as_slice::<T>()?, gd.get::<T>(self.name())?, &mut dqkv, sh);
            Ok(Some(tensor(dqkv, qkv.shape(), qkv)?))
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// The tied output head and the mean cross-entropy: `(x (.., C), wte (V, C)) -> loss ()`.
pub struct HeadXent {
    /// Target ids, one per row of x.
    pub targets: Arc<Vec<u32>>,
    /// Whether to keep the probabilities for the backward pass.
    pub save: bool,
    saved: Mutex<Option<CpuStorage>>,
}

impl HeadXent {
    /// The op for `targets`; `save` when a backward pass will follow.
    pub fn new(targets: Arc<Vec<u32>>, save: bool) -> Self {
        HeadXent {
            targets,
            save,
            saved: Mutex::new(None),
        }
    }
}

impl CustomOp2 for HeadXent {
    fn name(&self) -> &'static str {
        "cf-head-xent"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c) = rows_cols(l1);
        let (v, _) = rows_cols(l2);
        if n != self.targets.len() {
            bail!("cf-head-xent: {n} rows but {} targets", self.targets.len())
        }
        if let Some(&bad) = self.targets.iter().find(|&&id| id as usize >= v) {
            bail!("cf-head-xent: target id {bad} is outside the vocabulary ({v})")
        }
        dispatch!(s1.dtype(), self.name(), T => {
            let x = slice::<T>(s1, l1, self.name())?;
            let wte = slice::<T>(s2, l2, self.name())?;
            let mut logits = vec![T::ZERO; n * v];
            kernels::linear_fwd(x, wte, None, &mut logits, c, v);
            let total = kernels::softmax_xent_fwd(&mut logits, &self.targets, v);
            if self.save {
                *self.saved.lock().map_err(|_| candle_core::Error::Msg("poisoned".into()))? = Some(storage(logits));
            }
            let mean = <T as Real>::from_f64(total / n.max(1) as f64);
            Ok((storage(vec![mean]), Shape::from(())))
        })
    }
    fn bwd(
        &self,
        x: &Tensor,
        wte: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let Some(mut probs) = self
            .saved
            .lock()
            .map_err(|_| candle_core::Error::Msg("poisoned".into()))?
            .take()
        else {
            bail!("cf-head-xent: backward without a recorded forward")
        };
        let (v, c) = wte.dims2()?;
        let n = self.targets.len();
        let (xd, wd) = (Data::of(x), Data::of(wte));
        dispatch!(x.dtype(), self.name(), T => {
            let g = grad.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            let scale = <T as Real>::from_f64(g / n.max(1) as f64);
            let dlogits: &mut [T] = match &mut probs {
                CpuStorage::F32(p) => bytemuck_cast(p),
                CpuStorage::F64(p) => bytemuck_cast(p),
                _ => bail!("cf-head-xent: unexpected saved dtype"),
            };
            kernels::softmax_xent_bwd(dlogits, &self.targets, v, scale);
            let mut dx = vec![T::ZERO; n * c];
            let mut dw = vec![T::ZERO; v * c];
            kernels::linear_bwd(
                xd.get::<T>(self.name())?,
                wd.get::<T>(self.name())?,
                dlogits,
                Some(&mut dx),
                &mut dw,
                None,
                c,
                v,
            );
            Ok((Some(tensor(dx, x.shape(), x)?), Some(tensor(dw, (v, c), wte)?)))
        })
    }
}

/// Reinterprets a `Vec<A>` as `&mut [B]` when `A` and `B` are the same type.
fn bytemuck_cast<A: 'static, B: 'static>(v: &mut Vec<A>) -> &mut [B] {
    assert_eq!(
        std::any::TypeId::of::<A>(),
        std::any::TypeId::of::<B>(),
        "dtype dispatch mismatch"
    );
    // SAFETY: A and B are the same type (checked above).
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<B>(), v.len()) }
}

// ---------------------------------------------------------------------------------------------

/// Inverted dropout with a mask drawn from `(seed, element index)`, so the backward pass
/// recomputes it instead of storing it, and a resumed run draws the same masks.
pub struct Dropout {
    /// Probability of zeroing an element.
    pub p: f64,
    /// Seed of this call site and step.
    pub seed: u64,
}

impl Dropout {
    fn apply<T: Real>(&self, x: &[T]) -> Vec<T> {
        let mut y = x.to_vec();
        kernels::dropout_inplace(&mut y, self.p, self.seed);
        y
    }
}

impl CustomOp1 for Dropout {
    fn name(&self) -> &'static str {
        "cf-dropout"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        dispatch!(s.dtype(), self.name(), T => {
            let x = slice::<T>(s, l, self.name())?;
            Ok((storage(self.apply(x)), l.shape().clone()))
        })
    }
    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let gd = Data::of(&grad);
        dispatch!(grad.dtype(), self.name(), T => {
            let d = self.apply(gd.get::<T>(self.name())?);
            Ok(Some(tensor(d, grad.shape(), &grad)?))
        })
    }
}
