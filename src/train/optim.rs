//! AdamW over the model's [`Var`]s, with its moments in the open so checkpoints can save them.
//!
//! candle-nn's `AdamW` keeps its moments private, so a resumed run could not continue the
//! same trajectory; this one exposes them ([`AdamW::state_tensors`]). Parameter groups: weight
//! decay applies to parameters marked `decay` (the weight matrices), not to biases, norms or
//! embeddings. The update is PyTorch's: `p -= lr * wd * p`, then the bias-corrected Adam step.
//! On the CPU it runs in place on the parameter storage (one fused pass over parameter,
//! gradient and moments); elsewhere with tensor ops.

use std::cell::RefCell;
use std::collections::HashMap;

use candle_core::{bail, CpuStorage, DType, InplaceOp1, Layout, Result, Tensor};

use super::config::OptimizerConfig;
use super::kernels::{self, AdamHyper};
use super::model::Param;

enum Moments {
    Host { m: Vec<f32>, v: Vec<f32> },
    Device { m: Tensor, v: Tensor },
}

/// The optimizer.
pub struct AdamW {
    cfg: OptimizerConfig,
    /// Updates applied so far (Adam's `t`).
    pub t: u64,
    moments: Vec<Moments>,
    names: Vec<String>,
}

struct InPlace<'a> {
    grad: &'a [f32],
    m: RefCell<&'a mut [f32]>,
    v: RefCell<&'a mut [f32]>,
    hp: AdamHyper,
}

impl InplaceOp1 for InPlace<'_> {
    fn name(&self) -> &'static str {
        "cf-adamw"
    }
    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let Some((start, end)) = layout.contiguous_offsets() else {
            bail!("cf-adamw: parameter not contiguous")
        };
        let CpuStorage::F32(p) = storage else {
            bail!("cf-adamw: parameters must be f32")
        };
        let p = &mut p[start..end];
        if p.len() != self.grad.len() {
            bail!(
                "cf-adamw: gradient has {} elements, parameter {}",
                self.grad.len(),
                p.len()
            )
        }
        kernels::adamw(
            p,
            self.grad,
            &mut self.m.borrow_mut(),
            &mut self.v.borrow_mut(),
            self.hp,
        );
        Ok(())
    }
}

impl AdamW {
    /// Fresh (zero) moments for `params`.
    pub fn new(params: &[Param], cfg: &OptimizerConfig) -> Result<Self> {
        let mut moments = Vec::with_capacity(params.len());
        for p in params {
            let t = p.var.as_tensor();
            moments.push(if t.device().is_cpu() {
                if t.dtype() != DType::F32 {
                    bail!("training runs in f32; {} is {:?}", p.name, t.dtype())
                }
                Moments::Host {
                    m: vec![0.0; t.elem_count()],
                    v: vec![0.0; t.elem_count()],
                }
            } else {
                Moments::Device {
                    m: t.zeros_like()?,
                    v: t.zeros_like()?,
                }
            });
        }
        Ok(AdamW {
            cfg: cfg.clone(),
            t: 0,
            moments,
            names: params.iter().map(|p| p.name.clone()).collect(),
        })
    }

    /// One update of every parameter with its gradient `grads[i]` multiplied by `grad_scale`
    /// (accumulation averaging and clipping), at learning rate `lr`.
    pub fn step(
        &mut self,
        params: &[Param],
        grads: &[Tensor],
        lr: f64,
        grad_scale: f64,
    ) -> Result<()> {
        if params.len() != grads.len() || params.len() != self.moments.len() {
            bail!(
                "adamw: {} parameters, {} gradients, {} moment pairs",
                params.len(),
                grads.len(),
                self.moments.len()
            )
        }
        self.t += 1;
        let [b1, b2] = self.cfg.betas;
        let bias1 = 1.0 - b1.powi(self.t as i32);
        let bias2 = 1.0 - b2.powi(self.t as i32);
        for ((p, g), mom) in params.iter().zip(grads).zip(self.moments.iter_mut()) {
            let wd = if p.decay { self.cfg.weight_decay } else { 0.0 };
            match mom {
                Moments::Host { m, v } => {
                    let g = g.contiguous()?;
                    let (guard, layout) = g.storage_and_layout();
                    let candle_core::Storage::Cpu(CpuStorage::F32(gs)) = &*guard else {
                        bail!("adamw: gradient of {} is not f32 on the CPU", p.name)
                    };
                    let Some((start, end)) = layout.contiguous_offsets() else {
                        bail!("adamw: gradient not contiguous")
                    };
                    let op = InPlace {
                        grad: &gs[start..end],
                        m: RefCell::new(m.as_mut_slice()),
                        v: RefCell::new(v.as_mut_slice()),
                        hp: AdamHyper {
                            lr: lr as f32,
                            beta1: b1 as f32,
                            beta2: b2 as f32,
                            eps: self.cfg.eps as f32,
                            weight_decay: wd as f32,
                            grad_scale: grad_scale as f32,
                            bias1: bias1 as f32,
                            bias2: bias2 as f32,
                        },
                    };
                    p.var.as_tensor().inplace_op1(&op)?;
                }
                Moments::Device { m, v } => {
                    let g = (g * grad_scale)?;
                    *m = ((&*m * b1)? + (&g * (1.0 - b1))?)?;
                    *v = ((&*v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                    let denom = ((&*v / bias2)?.sqrt()? + self.cfg.eps)?;
                    let update = ((&*m / bias1)? / denom)?;
                    let w = p.var.as_tensor();
                    let next = ((w * (1.0 - lr * wd))? - (update * lr)?)?;
                    p.var.set(&next)?;
                }
            }
        }
        Ok(())
    }

    /// The moments as named tensors (`m.NAME`, `v.NAME`), for checkpoints.
    pub fn state_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (name, mom) in self.names.iter().zip(&self.moments) {
            let (m, v) = match mom {
                Moments::Host { m, v } => (
                    Tensor::from_slice(m, m.len(), &candle_core::Device::Cpu)?,
                    Tensor::from_slice(v, v.len(), &candle_core::Device::Cpu)?,
                ),
                Moments::Device { m, v } => (m.flatten_all()?, v.flatten_all()?),
            };
            out.insert(format!("m.{name}"), m);
            out.insert(format!("v.{name}"), v);
        }
        Ok(out)
    }

    /// Restores moments saved by [`AdamW::state_tensors`] and the step count `t`.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, t: u64) -> Result<()> {
        for (name, mom) in self.names.iter().zip(self.moments.iter_mut()) {
            let get = |k: String| -> Result<Tensor> {
                tensors
                    .get(&k)
                    .cloned()
                    .ok_or_else(|| candle_core::Error::Msg(format!("optimizer state lacks {k}")))
            };
            let (m, v) = (get(format!("m.{name}"))?, get(format!("v.{name}"))?);
            match mom {
                Moments::Host { m: hm, v: hv } => {
                    let mv: Vec<f32> = m.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
                    let vv: Vec<f32> = v.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
                    if mv.len() != hm.len() || vv.len() != hv.len() {
                        bail!("optimizer state for {name} has the wrong size")
                    }
                    *hm = mv;
                    *hv = vv;
                }
                Moments::Device { m: dm, v: dv } => {
                    *dm = m.to_device(dm.device())?.reshape(dm.shape())?;
                    *dv = v.to_device(dv.device())?.reshape(dv.shape())?;
                }
            }
        }
        self.t = t;
        Ok(())
    }
}

/// Sum of squares of a gradient (f64).
pub fn grad_sum_squares(g: &Tensor) -> Result<f64> {
    if g.device().is_cpu() && g.dtype() == DType::F32 {
        let g = g.contiguous()?;
        let (guard, layout) = g.storage_and_layout();
        if let (candle_core::Storage::Cpu(CpuStorage::F32(s)), Some((a, b))) =
            (&*guard, layout.contiguous_offsets())
        {
            return Ok(kernels::sum_squares(&s[a..b]));
        }
    }
    g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()
}
