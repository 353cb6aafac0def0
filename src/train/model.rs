//! The GPT: token + learned position embeddings, pre-norm blocks (causal multi-head
//! self-attention, then a 4x GELU MLP, each added to the residual stream), a final LayerNorm
//! and an output head tied to the token embedding.
//!
//! Parameters are candle [`Var`]s named as in GPT-2 checkpoints (`h.0.attn.c_attn.weight`,
//! linear weights stored `(out, in)`), so the safetensors files read naturally elsewhere.
//!
//! Two implementations of the same forward pass:
//! - [`Backend::Fused`] (CPU): one candle custom op per layer ([`super::ops`]), with fused
//!   backward kernels. This is the training path.
//! - [`Backend::Reference`] (any device): plain candle / candle-nn tensor ops, all
//!   differentiable (LayerNorm from mean and variance, `candle_nn::ops::softmax` which is
//!   built from exp / sum, `candle_nn::loss::cross_entropy`). It runs on CUDA, and the tests
//!   use it as the oracle for the fused path's gradients.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use candle_core::{CustomOp1, CustomOp2, CustomOp3, DType, Device, Result, Tensor, Var, D};
use candle_nn::Module;
use serde::{Deserialize, Serialize};

use super::config::ModelConfig;
pub use super::config::Objective;
use super::kernels;
use super::ops::{Activation, Attention, Dropout, Embed, HeadXent, LayerNorm, Linear};
use super::rng::{hash2, Rng};

/// Shape of a model: [`ModelConfig`] plus the vocabulary size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GptConfig {
    /// Vocabulary size (from the tokenizer).
    pub vocab_size: usize,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Attention heads.
    pub n_head: usize,
    /// Embedding width.
    pub n_embd: usize,
    /// Context length.
    pub seq_len: usize,
    /// Dropout probability.
    pub dropout: f64,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// `clm`: causal attention and the next-token loss; `mlm`: bidirectional attention, the
    /// masked-token loss and an MLM head (dense, exact GELU, LayerNorm, tied decoder + bias).
    #[serde(default, skip_serializing_if = "Objective::is_clm")]
    pub objective: Objective,
}

/// The target of a position that carries no loss (unmasked positions of an MLM batch).
pub const IGNORE: u32 = u32::MAX;

impl GptConfig {
    /// The model of `m` over a vocabulary of `vocab_size`.
    pub fn new(m: &ModelConfig, vocab_size: usize) -> Self {
        GptConfig {
            vocab_size,
            n_layer: m.n_layer,
            n_head: m.n_head,
            n_embd: m.n_embd,
            seq_len: m.seq_len,
            dropout: m.dropout,
            layer_norm_eps: m.layer_norm_eps,
            objective: Objective::Clm,
        }
    }

    /// The same shape trained for `objective`.
    pub fn with_objective(mut self, objective: Objective) -> Self {
        self.objective = objective;
        self
    }

    /// Whether attention is causal (the decoder) rather than bidirectional (the encoder).
    pub fn causal(&self) -> bool {
        self.objective == Objective::Clm
    }

    /// How `self` and `other` differ in shape (what the weights' sizes depend on), as
    /// `field: a vs b` items; empty when the weights of one fit the other.
    pub fn shape_differences(&self, other: &GptConfig) -> Vec<String> {
        let mut out = Vec::new();
        for (name, a, b) in [
            ("vocab_size", self.vocab_size, other.vocab_size),
            ("n_layer", self.n_layer, other.n_layer),
            ("n_head", self.n_head, other.n_head),
            ("n_embd", self.n_embd, other.n_embd),
            ("seq_len", self.seq_len, other.seq_len),
        ] {
            if a != b {
                out.push(format!("{name}: {a} vs {b}"));
            }
        }
        if self.objective != other.objective {
            out.push(format!(
                "objective: {:?} vs {:?}",
                self.objective, other.objective
            ));
        }
        out
    }

    /// Parameter count without the position table (the convention of the FLOP estimate and
    /// of nanoGPT's reports).
    pub fn n_params_no_pos(&self) -> usize {
        let c = self.n_embd;
        let block = 2 * c
            + (3 * c * c + 3 * c)
            + (c * c + c)
            + 2 * c
            + (4 * c * c + 4 * c)
            + (4 * c * c + c);
        self.vocab_size * c + self.n_layer * block + 2 * c
    }

    /// Training FLOPs per token: `6 N` for the matrix products of forward and backward plus
    /// the attention scores and mixing (`12 L C T`), as in the PaLM paper's MFU.
    pub fn flops_per_token(&self) -> f64 {
        6.0 * self.n_params_no_pos() as f64
            + 12.0 * (self.n_layer * self.n_embd * self.seq_len) as f64
    }
}

/// Which implementation runs the forward and backward passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Fused CPU custom ops (the training path on CPU).
    Fused,
    /// Plain candle ops (any device; the test oracle).
    Reference,
}

/// A trainable tensor.
#[derive(Clone)]
pub struct Param {
    /// GPT-2 style name, e.g. `h.0.mlp.c_fc.weight`.
    pub name: String,
    /// The value.
    pub var: Var,
    /// Whether weight decay applies (weight matrices only).
    pub decay: bool,
}

/// A batch of `b` windows of `t` input tokens and their next-token targets.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Inputs, row-major (b, t).
    pub ids: Arc<Vec<u32>>,
    /// Targets, row-major (b, t).
    pub targets: Arc<Vec<u32>>,
    /// Rows.
    pub b: usize,
    /// Columns.
    pub t: usize,
}

impl Batch {
    /// A batch from windows of `t + 1` tokens each.
    pub fn from_windows(windows: &[Vec<u32>]) -> Self {
        let t = windows.first().map_or(0, |w| w.len().saturating_sub(1));
        let mut ids = Vec::with_capacity(windows.len() * t);
        let mut targets = Vec::with_capacity(windows.len() * t);
        for w in windows {
            ids.extend_from_slice(&w[..t]);
            targets.extend_from_slice(&w[1..=t]);
        }
        Batch {
            ids: Arc::new(ids),
            targets: Arc::new(targets),
            b: windows.len(),
            t,
        }
    }
}

/// Whether a forward pass records for a backward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Record the graph; dropout masks drawn from this seed.
    Train {
        /// Seed of this micro-batch's dropout masks.
        dropout_seed: u64,
    },
    /// No graph, no dropout.
    Eval,
}

const N_BLOCK_PARAMS: usize = 12;

/// The GPT.
pub struct Gpt {
    /// Its shape.
    pub cfg: GptConfig,
    /// Every trainable tensor, in a fixed order.
    pub params: Vec<Param>,
    backend: Backend,
    device: Device,
    /// Activations of the fused training pass, kept between steps.
    workspace: Mutex<Option<Box<dyn Any + Send>>>,
}

fn block_names(l: usize) -> [(String, bool); N_BLOCK_PARAMS] {
    let p = |s: &str, decay: bool| (format!("h.{l}.{s}"), decay);
    [
        p("ln_1.weight", false),
        p("ln_1.bias", false),
        p("attn.c_attn.weight", true),
        p("attn.c_attn.bias", false),
        p("attn.c_proj.weight", true),
        p("attn.c_proj.bias", false),
        p("ln_2.weight", false),
        p("ln_2.bias", false),
        p("mlp.c_fc.weight", true),
        p("mlp.c_fc.bias", false),
        p("mlp.c_proj.weight", true),
        p("mlp.c_proj.bias", false),
    ]
}

/// Records (or not) custom ops on the graph.
struct Rec(bool);

impl Rec {
    fn op1<C: CustomOp1 + Send + Sync + 'static>(&self, x: &Tensor, c: C) -> Result<Tensor> {
        if self.0 {
            x.apply_op1(c)
        } else {
            x.apply_op1_no_bwd(&c)
        }
    }
    fn op2<C: CustomOp2 + Send + Sync + 'static>(
        &self,
        x: &Tensor,
        y: &Tensor,
        c: C,
    ) -> Result<Tensor> {
        if self.0 {
            x.apply_op2(y, c)
        } else {
            x.apply_op2_no_bwd(y, &c)
        }
    }
    fn op3<C: CustomOp3 + Send + Sync + 'static>(
        &self,
        x: &Tensor,
        y: &Tensor,
        z: &Tensor,
        c: C,
    ) -> Result<Tensor> {
        if self.0 {
            x.apply_op3(y, z, c)
        } else {
            x.apply_op3_no_bwd(y, z, &c)
        }
    }
}

impl Gpt {
    /// A freshly initialised model: weights `N(0, 0.02)` (residual projections scaled by
    /// `1/sqrt(2 n_layer)`, as GPT-2), biases 0, LayerNorm weights 1; drawn from `seed`.
    pub fn new(cfg: GptConfig, seed: u64, device: &Device, dtype: DType) -> Result<Self> {
        if device.is_cpu() {
            kernels::configure_candle_threads();
        }
        let mut rng = Rng::derive(seed, &[0x1417]);
        let c = cfg.n_embd;
        let mut tensors = HashMap::new();
        let mut normal = |shape: (usize, usize), std: f64| -> Result<Tensor> {
            let data: Vec<f64> = (0..shape.0 * shape.1).map(|_| rng.normal() * std).collect();
            Tensor::from_vec(data, shape, device)?.to_dtype(dtype)
        };
        let std = 0.02;
        let proj_std = 0.02 / (2.0 * cfg.n_layer as f64).sqrt();
        tensors.insert("wte".to_string(), normal((cfg.vocab_size, c), std)?);
        tensors.insert("wpe".to_string(), normal((cfg.seq_len, c), std)?);
        for l in 0..cfg.n_layer {
            for (name, _) in block_names(l) {
                let t = match name
                    .rsplit_once('.')
                    .map(|(pre, last)| (pre.rsplit('.').next().unwrap_or(""), last))
                {
                    Some(("ln_1" | "ln_2", "weight")) => Tensor::ones(c, dtype, device)?,
                    Some(("c_attn", "weight")) => normal((3 * c, c), std)?,
                    Some(("c_attn", "bias")) => Tensor::zeros(3 * c, dtype, device)?,
                    Some(("c_fc", "weight")) => normal((4 * c, c), std)?,
                    Some(("c_fc", "bias")) => Tensor::zeros(4 * c, dtype, device)?,
                    Some(("c_proj", "weight")) if name.contains(".attn.") => {
                        normal((c, c), proj_std)?
                    }
                    Some(("c_proj", "weight")) => normal((c, 4 * c), proj_std)?,
                    _ => Tensor::zeros(c, dtype, device)?,
                };
                tensors.insert(name, t);
            }
        }
        tensors.insert("ln_f.weight".into(), Tensor::ones(c, dtype, device)?);
        tensors.insert("ln_f.bias".into(), Tensor::zeros(c, dtype, device)?);
        if cfg.objective == Objective::Mlm {
            tensors.insert("mlm.dense.weight".into(), normal((c, c), std)?);
            tensors.insert("mlm.dense.bias".into(), Tensor::zeros(c, dtype, device)?);
            tensors.insert("mlm.ln.weight".into(), Tensor::ones(c, dtype, device)?);
            tensors.insert("mlm.ln.bias".into(), Tensor::zeros(c, dtype, device)?);
            tensors.insert(
                "mlm.bias".into(),
                Tensor::zeros(cfg.vocab_size, dtype, device)?,
            );
        }
        Self::from_tensors(cfg, tensors, device)
    }

    /// A model from named tensors (a checkpoint); every parameter must be present with its
    /// shape.
    pub fn from_tensors(
        cfg: GptConfig,
        mut tensors: HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        if device.is_cpu() {
            kernels::configure_candle_threads();
        }
        let c = cfg.n_embd;
        let mut names: Vec<(String, bool, Vec<usize>)> = vec![
            ("wte".into(), false, vec![cfg.vocab_size, c]),
            ("wpe".into(), false, vec![cfg.seq_len, c]),
        ];
        for l in 0..cfg.n_layer {
            for (name, decay) in block_names(l) {
                let shape = match name.rsplit('.').nth(1).unwrap_or("") {
                    "c_attn" if decay => vec![3 * c, c],
                    "c_attn" => vec![3 * c],
                    "c_fc" if decay => vec![4 * c, c],
                    "c_fc" => vec![4 * c],
                    "c_proj" if decay && name.contains(".attn.") => vec![c, c],
                    "c_proj" if decay => vec![c, 4 * c],
                    _ => vec![c],
                };
                names.push((name, decay, shape));
            }
        }
        names.push(("ln_f.weight".into(), false, vec![c]));
        names.push(("ln_f.bias".into(), false, vec![c]));
        if cfg.objective == Objective::Mlm {
            names.push(("mlm.dense.weight".into(), true, vec![c, c]));
            names.push(("mlm.dense.bias".into(), false, vec![c]));
            names.push(("mlm.ln.weight".into(), false, vec![c]));
            names.push(("mlm.ln.bias".into(), false, vec![c]));
            names.push(("mlm.bias".into(), false, vec![cfg.vocab_size]));
        }
        let mut params = Vec::with_capacity(names.len());
        for (name, decay, shape) in names {
            let Some(t) = tensors.remove(&name) else {
                candle_core::bail!("missing parameter {name}")
            };
            if t.dims() != shape.as_slice() {
                candle_core::bail!(
                    "parameter {name} has shape {:?}, expected {shape:?}",
                    t.dims()
                )
            }
            let t = t.to_device(device)?.contiguous()?;
            params.push(Param {
                name,
                var: Var::from_tensor(&t)?,
                decay,
            });
        }
        // The fused kernels are the causal decoder's; the encoder runs on candle's ops.
        let backend = if device.is_cpu() && cfg.causal() {
            Backend::Fused
        } else {
            Backend::Reference
        };
        Ok(Gpt {
            cfg,
            params,
            backend,
            device: device.clone(),
            workspace: Mutex::new(None),
        })
    }

    /// Switches the implementation (the reference path runs anywhere; fused needs the CPU).
    pub fn set_backend(&mut self, backend: Backend) -> Result<()> {
        if backend == Backend::Fused && !self.device.is_cpu() {
            candle_core::bail!("the fused backend runs on the CPU only")
        }
        if backend == Backend::Fused && !self.cfg.causal() {
            candle_core::bail!(
                "the fused backend runs the causal decoder only, not the MLM encoder"
            )
        }
        self.backend = backend;
        Ok(())
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Result<&Tensor> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.var.as_tensor())
            .ok_or_else(|| candle_core::Error::Msg(format!("no parameter {name}")))
    }

    /// Total number of parameters.
    pub fn n_params(&self) -> usize {
        self.params.iter().map(|p| p.var.elem_count()).sum()
    }

    /// The parameters by name (for saving).
    pub fn tensors(&self) -> HashMap<String, Tensor> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.var.as_tensor().clone()))
            .collect()
    }

    fn block(&self, l: usize) -> &[Param] {
        let start = 2 + l * N_BLOCK_PARAMS;
        &self.params[start..start + N_BLOCK_PARAMS]
    }

    fn ln_f(&self) -> (&Tensor, &Tensor) {
        let n = 2 + self.cfg.n_layer * N_BLOCK_PARAMS;
        (
            self.params[n].var.as_tensor(),
            self.params[n + 1].var.as_tensor(),
        )
    }

    /// The MLM head's parameters (dense weight, dense bias, LayerNorm weight and bias, output
    /// bias), for an MLM model.
    fn mlm_head(&self) -> Option<[&Tensor; 5]> {
        let n = 4 + self.cfg.n_layer * N_BLOCK_PARAMS;
        (self.cfg.objective == Objective::Mlm)
            .then(|| [0, 1, 2, 3, 4].map(|i| self.params[n + i].var.as_tensor()))
    }

    fn wte(&self) -> &Tensor {
        self.params[0].var.as_tensor()
    }

    fn wpe(&self) -> &Tensor {
        self.params[1].var.as_tensor()
    }

    /// The mean next-token cross-entropy of `batch` (a scalar tensor). In [`Mode::Train`] the
    /// graph is recorded for `backward()`.
    pub fn loss(&self, batch: &Batch, mode: Mode) -> Result<Tensor> {
        self.check_batch(batch)?;
        if mode == Mode::Eval && self.backend == Backend::Fused {
            // No graph to record: the hand-written pass, in reused buffers.
            let mut slot = self
                .workspace
                .lock()
                .map_err(|_| candle_core::Error::Msg("workspace poisoned".into()))?;
            let loss = match self.wte().dtype() {
                DType::F32 => super::fused::forward_loss::<f32>(self, batch, workspace(&mut slot))?,
                DType::F64 => super::fused::forward_loss::<f64>(self, batch, workspace(&mut slot))?,
                other => candle_core::bail!("the fused backend runs in f32 or f64, not {other:?}"),
            };
            return Tensor::new(loss, &self.device)?.to_dtype(self.wte().dtype());
        }
        let record = matches!(mode, Mode::Train { .. });
        let x = self.hidden(batch, mode)?;
        let (g, b) = self.ln_f();
        match self.backend {
            Backend::Fused => {
                let r = Rec(record);
                let xf = r.op3(&x, g, b, LayerNorm::new(self.cfg.layer_norm_eps, record))?;
                r.op2(
                    &xf,
                    self.wte(),
                    HeadXent::new(batch.targets.clone(), record),
                )
            }
            Backend::Reference => {
                let xf = layer_norm_ref(&x, g, b, self.cfg.layer_norm_eps)?;
                let n = batch.b * batch.t;
                let xf = xf.reshape((n, self.cfg.n_embd))?;
                if let Some(head) = self.mlm_head() {
                    // The loss of the masked positions only: the others never reach the head.
                    let (rows, targets): (Vec<u32>, Vec<u32>) = batch
                        .targets
                        .iter()
                        .enumerate()
                        .filter(|(_, &t)| t != IGNORE)
                        .map(|(i, &t)| (i as u32, t))
                        .unzip();
                    if rows.is_empty() {
                        candle_core::bail!("an MLM batch with no masked position")
                    }
                    let m = rows.len();
                    let rows = Tensor::from_vec(rows, m, &self.device)?;
                    let picked = xf.index_select(&rows, 0)?;
                    let logits = self.mlm_logits(&picked, head)?;
                    let targets = Tensor::from_vec(targets, m, &self.device)?;
                    let loss = candle_nn::loss::cross_entropy(&logits, &targets)?;
                    return if record { Ok(loss) } else { Ok(loss.detach()) };
                }
                let logits = xf.matmul(&self.wte().t()?)?;
                let targets = Tensor::from_slice(&batch.targets[..], n, &self.device)?;
                let loss = candle_nn::loss::cross_entropy(&logits, &targets)?;
                if record {
                    Ok(loss)
                } else {
                    Ok(loss.detach())
                }
            }
        }
    }

    /// The mean loss of `batch` and the gradients of every parameter (in [`Gpt::params`]
    /// order), dropout drawn from `dropout_seed`. On the fused backend this is one
    /// hand-written pass ([`super::fused`]); otherwise candle's autograd.
    pub fn forward_backward(&self, batch: &Batch, dropout_seed: u64) -> Result<(f64, Vec<Tensor>)> {
        self.check_batch(batch)?;
        if self.backend == Backend::Fused {
            let mut slot = self
                .workspace
                .lock()
                .map_err(|_| candle_core::Error::Msg("workspace poisoned".into()))?;
            return match self.wte().dtype() {
                DType::F32 => {
                    let ws = workspace::<f32>(&mut slot);
                    super::fused::forward_backward::<f32>(self, batch, dropout_seed, ws)
                }
                DType::F64 => {
                    let ws = workspace::<f64>(&mut slot);
                    super::fused::forward_backward::<f64>(self, batch, dropout_seed, ws)
                }
                other => candle_core::bail!("the fused backend runs in f32 or f64, not {other:?}"),
            };
        }
        let loss = self.loss(batch, Mode::Train { dropout_seed })?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        let mut store = loss.backward()?;
        let grads = self
            .params
            .iter()
            .map(|p| {
                store
                    .remove(p.var.as_tensor())
                    .ok_or_else(|| candle_core::Error::Msg(format!("no gradient for {}", p.name)))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((value, grads))
    }

    /// Logits (b, t, vocab) of every position, without recording.
    pub fn logits(&self, ids: &[u32], b: usize, t: usize) -> Result<Tensor> {
        let batch = Batch {
            ids: Arc::new(ids.to_vec()),
            targets: Arc::new(vec![0; ids.len()]),
            b,
            t,
        };
        self.check_batch(&batch)?;
        let x = self.hidden(&batch, Mode::Eval)?;
        let (g, bias) = self.ln_f();
        let xf = match self.backend {
            Backend::Fused => {
                Rec(false).op3(&x, g, bias, LayerNorm::new(self.cfg.layer_norm_eps, false))?
            }
            Backend::Reference => layer_norm_ref(&x, g, bias, self.cfg.layer_norm_eps)?,
        };
        let xf = xf.reshape((b * t, self.cfg.n_embd))?;
        let logits = match self.mlm_head() {
            Some(head) => self.mlm_logits(&xf, head)?,
            None => xf.matmul(&self.wte().t()?)?,
        };
        logits.reshape((b, t, self.cfg.vocab_size))
    }

    /// Logits of the last position of one sequence, as f32 (for sampling).
    pub fn last_logits(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let t = ids.len();
        let batch = Batch {
            ids: Arc::new(ids.to_vec()),
            targets: Arc::new(vec![0; t]),
            b: 1,
            t,
        };
        self.check_batch(&batch)?;
        let x = self.hidden(&batch, Mode::Eval)?;
        let last = x.narrow(1, t - 1, 1)?.contiguous()?;
        let (g, bias) = self.ln_f();
        let xf = match self.backend {
            Backend::Fused => Rec(false).op3(
                &last,
                g,
                bias,
                LayerNorm::new(self.cfg.layer_norm_eps, false),
            )?,
            Backend::Reference => layer_norm_ref(&last, g, bias, self.cfg.layer_norm_eps)?,
        };
        let xf = xf.reshape((1, self.cfg.n_embd))?;
        match self.backend {
            Backend::Fused if xf.dtype() == DType::F32 => {
                let x: Vec<f32> = xf.flatten_all()?.to_vec1()?;
                let w = self.wte().flatten_all()?.to_vec1::<f32>()?;
                let mut out = vec![0f32; self.cfg.vocab_size];
                kernels::linear_fwd(&x, &w, None, &mut out, self.cfg.n_embd, self.cfg.vocab_size);
                Ok(out)
            }
            _ => xf
                .matmul(&self.wte().t()?)?
                .flatten_all()?
                .to_dtype(DType::F32)?
                .to_vec1(),
        }
    }

    /// The MLM head over final hidden states (rows x c): logits (rows x vocab).
    fn mlm_logits(&self, x: &Tensor, head: [&Tensor; 5]) -> Result<Tensor> {
        let [dw, db, lg, lb, bias] = head;
        let t = candle_nn::Linear::new(dw.clone(), Some(db.clone())).forward(x)?;
        let t = layer_norm_ref(&t.gelu_erf()?, lg, lb, self.cfg.layer_norm_eps)?;
        t.matmul(&self.wte().t()?)?.broadcast_add(bias)
    }

    fn check_batch(&self, batch: &Batch) -> Result<()> {
        if batch.t == 0 || batch.b == 0 {
            candle_core::bail!("empty batch")
        }
        if batch.t > self.cfg.seq_len {
            candle_core::bail!(
                "sequence of {} tokens exceeds the context length {}",
                batch.t,
                self.cfg.seq_len
            )
        }
        if batch.ids.len() != batch.b * batch.t {
            candle_core::bail!(
                "batch holds {} ids, expected {} x {}",
                batch.ids.len(),
                batch.b,
                batch.t
            )
        }
        let v = self.cfg.vocab_size as u32;
        if let Some(bad) = batch
            .ids
            .iter()
            .chain(batch.targets.iter().filter(|&&t| t != IGNORE))
            .find(|&&id| id >= v)
        {
            candle_core::bail!("token id {bad} is outside the vocabulary ({v}): does the tokenizer match the shards?")
        }
        Ok(())
    }

    /// The residual stream after the last block (b, t, c).
    fn hidden(&self, batch: &Batch, mode: Mode) -> Result<Tensor> {
        match self.backend {
            Backend::Fused => self.hidden_fused(batch, mode),
            Backend::Reference => self.hidden_ref(batch, mode),
        }
    }

    fn dropout_seed(&self, mode: Mode, site: u64) -> Option<u64> {
        match mode {
            Mode::Train { dropout_seed } if self.cfg.dropout > 0.0 => {
                Some(hash2(dropout_seed, site))
            }
            _ => None,
        }
    }

    fn hidden_fused(&self, batch: &Batch, mode: Mode) -> Result<Tensor> {
        let record = matches!(mode, Mode::Train { .. });
        let r = Rec(record);
        let eps = self.cfg.layer_norm_eps;
        let p = self.cfg.dropout;
        let drop = |x: Tensor, site: u64| -> Result<Tensor> {
            match self.dropout_seed(mode, site) {
                Some(seed) => r.op1(&x, Dropout { p, seed }),
                None => Ok(x),
            }
        };
        let x = r.op2(
            self.wte(),
            self.wpe(),
            Embed {
                ids: batch.ids.clone(),
                b: batch.b,
                t: batch.t,
            },
        )?;
        let mut x = drop(x, 0)?;
        for l in 0..self.cfg.n_layer {
            let w: Vec<&Tensor> = self.block(l).iter().map(|p| p.var.as_tensor()).collect();
            let h = r.op3(&x, w[0], w[1], LayerNorm::new(eps, record))?;
            let qkv = r.op3(&h, w[2], w[3], Linear::new(Activation::Identity, record))?;
            let y = r.op1(&qkv, Attention::new(self.cfg.n_head, record))?;
            let y = r.op3(&y, w[4], w[5], Linear::new(Activation::Identity, record))?;
            x = (x + drop(y, 1 + 2 * l as u64)?)?;
            let h = r.op3(&x, w[6], w[7], LayerNorm::new(eps, record))?;
            let h = r.op3(&h, w[8], w[9], Linear::new(Activation::Gelu, record))?;
            let h = r.op3(&h, w[10], w[11], Linear::new(Activation::Identity, record))?;
            x = (x + drop(h, 2 + 2 * l as u64)?)?;
        }
        Ok(x)
    }

    fn hidden_ref(&self, batch: &Batch, mode: Mode) -> Result<Tensor> {
        let (b, t, c) = (batch.b, batch.t, self.cfg.n_embd);
        let (nh, hs) = (self.cfg.n_head, self.cfg.n_embd / self.cfg.n_head);
        let dev = &self.device;
        let dtype = self.wte().dtype();
        let drop = |x: Tensor, site: u64| -> Result<Tensor> {
            match self.dropout_seed(mode, site) {
                Some(seed) => {
                    let keep = 1.0 / (1.0 - self.cfg.dropout);
                    let threshold = (self.cfg.dropout * (u64::MAX as f64)) as u64;
                    let mask: Vec<f32> = (0..x.elem_count() as u64)
                        .map(|i| {
                            if hash2(seed, i) < threshold {
                                0.0
                            } else {
                                keep as f32
                            }
                        })
                        .collect();
                    let mask = Tensor::from_vec(mask, x.shape(), dev)?.to_dtype(dtype)?;
                    x * mask
                }
                None => Ok(x),
            }
        };
        let ids = Tensor::from_slice(&batch.ids[..], (b, t), dev)?;
        let tok = candle_nn::Embedding::new(self.wte().clone(), c).forward(&ids)?;
        let pos = self.wpe().narrow(0, 0, t)?;
        let mut x = drop(tok.broadcast_add(&pos)?, 0)?;
        let causal = self.cfg.causal();
        let mask: Vec<f32> = (0..t * t)
            .map(|i| {
                if causal && i % t > i / t {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, (t, t), dev)?.to_dtype(dtype)?;
        let scale = 1.0 / (hs as f64).sqrt();
        for l in 0..self.cfg.n_layer {
            let w: Vec<&Tensor> = self.block(l).iter().map(|p| p.var.as_tensor()).collect();
            let linear = |x: &Tensor, wi: usize| {
                candle_nn::Linear::new(w[wi].clone(), Some(w[wi + 1].clone())).forward(x)
            };
            let h = layer_norm_ref(&x, w[0], w[1], self.cfg.layer_norm_eps)?;
            let qkv = linear(&h, 2)?;
            let heads = |i: usize| -> Result<Tensor> {
                qkv.narrow(2, i * c, c)?
                    .reshape((b, t, nh, hs))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
            let att = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax(&att, D::Minus1)?;
            let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, c))?;
            let y = linear(&y, 4)?;
            x = (x + drop(y, 1 + 2 * l as u64)?)?;
            let h = layer_norm_ref(&x, w[6], w[7], self.cfg.layer_norm_eps)?;
            let h = linear(&h, 8)?.gelu()?;
            let h = linear(&h, 10)?;
            x = (x + drop(h, 2 + 2 * l as u64)?)?;
        }
        if matches!(mode, Mode::Eval) {
            x = x.detach();
        }
        Ok(x)
    }
}

/// The fused pass's buffers for element type `T`, created on first use (or when the dtype
/// changed).
fn workspace<T: kernels::Real>(
    slot: &mut Option<Box<dyn Any + Send>>,
) -> &mut super::fused::Workspace<T> {
    if !slot
        .as_ref()
        .is_some_and(|b| b.is::<super::fused::Workspace<T>>())
    {
        *slot = Some(Box::new(super::fused::Workspace::<T>::default()));
    }
    slot.as_mut()
        .and_then(|b| b.downcast_mut::<super::fused::Workspace<T>>())
        .expect("workspace of this type was just created")
}

/// LayerNorm from differentiable candle ops (candle-nn's `LayerNorm` takes a fused path with
/// no backward on contiguous input).
pub fn layer_norm_ref(x: &Tensor, g: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    xn.broadcast_mul(g)?.broadcast_add(b)
}
