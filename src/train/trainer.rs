//! The training loop.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use tokenizers::Tokenizer;

use super::checkpoint::{self, CheckpointState, Saved};
use super::config::Objective;
use super::config::{TrainConfig, TrainDevice, TrainPaths};
use super::infer::Weights;
use super::loader::{eval_windows, Loader, Shards};
use super::metrics::{measure_peak_flops, MetricsWriter, Record, SourceEval};
use super::mixture::{open_sources, MixLoader, Source};
use super::mlm::{score_masked, Masker};
use super::model::{Batch, Gpt, GptConfig, Mode};
use super::optim::{grad_sum_squares, AdamW};
use super::rng::hash2;
use super::schedule::Schedule;
use super::TrainError;

/// An evaluation: (val loss, bits per byte, accuracy).
type Evaluation = (f64, Option<f64>, Option<f64>);

/// The evaluation of a run (the sources' mean by weight) and of each source.
type Evaluations = (Evaluation, Vec<Option<Evaluation>>);

/// Salt of the masks of the training batches (mlm).
const TRAIN_MASK_SEED: u64 = 0x6d61_736b;
/// Salt of the masks of the val windows (mlm), the same at every evaluation.
const VAL_MASK_SEED: u64 = 0x7661_6c6d;

/// How to run (not part of the config: none of it changes what is learned).
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Continue from the newest checkpoint in the output directory.
    pub resume: bool,
    /// Show a progress bar when stderr is a terminal.
    pub progress: bool,
    /// Stop (with a checkpoint) once this many steps are done in total, as if interrupted;
    /// `--resume` continues the run.
    pub stop_after: Option<u64>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct TrainSummary {
    /// Steps done in total.
    pub steps: u64,
    /// Steps of the budget.
    pub total_steps: u64,
    /// Training tokens consumed in total.
    pub tokens: u64,
    /// Mean loss of the last step run here, if any.
    pub last_loss: Option<f64>,
    /// The first evaluation of the run (before training), if there is a val split.
    pub initial_val_loss: Option<f64>,
    /// The last evaluation, if any.
    pub final_val_loss: Option<f64>,
    /// Mean training tokens/s of the steps run here.
    pub tokens_per_s: f64,
    /// Mean MFU of the steps run here.
    pub mfu: f64,
    /// The newest checkpoint.
    pub checkpoint: Option<PathBuf>,
    /// The output directory.
    pub out_dir: PathBuf,
    /// Nothing was left to do.
    pub already_complete: bool,
    /// A mixture's sources at the end: realized shares, epochs, val losses.
    pub mixture: Vec<SourceEval>,
}

/// The end-of-sequence id: from `DATA/manifest.json` (`eos: {id}` as the tokenize stage
/// writes it, or an `eos_id` / `eos_token_id` key anywhere), else the tokenizer's usual EOS
/// token.
pub fn find_eos(data: &Path, tok: &Tokenizer) -> Option<u32> {
    fn search(v: &serde_json::Value) -> Option<u32> {
        match v {
            serde_json::Value::Object(m) => {
                for key in ["eos_id", "eos_token_id"] {
                    if let Some(id) = m.get(key).and_then(|x| x.as_u64()) {
                        return u32::try_from(id).ok();
                    }
                }
                // The tokenize stage's manifest: "eos": {"token": "<|endoftext|>", "id": 0}.
                if let Some(id) = m
                    .get("eos")
                    .and_then(|e| e.get("id"))
                    .and_then(|x| x.as_u64())
                {
                    return u32::try_from(id).ok();
                }
                m.values().find_map(search)
            }
            serde_json::Value::Array(a) => a.iter().find_map(search),
            _ => None,
        }
    }
    let manifest = crate::storage::read_to_string(data.join("manifest.json")).ok();
    if let Some(id) = manifest
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .as_ref()
        .and_then(search)
    {
        return Some(id);
    }
    [
        "<|endoftext|>",
        "</s>",
        "<eos>",
        "<|eos|>",
        "[EOS]",
        "<|end_of_text|>",
    ]
    .iter()
    .find_map(|t| tok.token_to_id(t))
}

fn device_for(d: TrainDevice) -> Result<Device, TrainError> {
    match d {
        TrainDevice::Cpu => Ok(Device::Cpu),
        TrainDevice::Cuda => Device::new_cuda(0).map_err(|e| {
            TrainError::candle(
                "device: cuda (this build needs the `cuda` feature and a GPU)",
                e,
            )
        }),
    }
}

/// Trains per `cfg` on the shards under `paths.data`, writing to `paths.out`.
pub fn train(
    cfg: &TrainConfig,
    paths: &TrainPaths,
    opts: &TrainOptions,
) -> Result<TrainSummary, TrainError> {
    if let Some(problems) = cfg.problems_text("train.") {
        return Err(TrainError::Config(problems));
    }
    if cfg.threads > 0 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(cfg.threads)
            .build()
            .map_err(|e| TrainError::Config(format!("train.threads: {e}")))?;
        pool.install(|| run(cfg, paths, opts))
    } else {
        run(cfg, paths, opts)
    }
}

/// The val windows of one source (or of the one dataset).
struct ValSet {
    windows: Vec<Vec<u32>>,
    /// Predicted tokens per UTF-8 byte of the windows (clm), for bits per byte.
    tokens_per_byte: Option<f64>,
}

struct Run<'a> {
    cfg: &'a TrainConfig,
    model: Gpt,
    opt: AdamW,
    loader: MixLoader,
    /// One set per source (one in all without a mixture).
    val: Vec<ValSet>,
    /// A mixture's sources (empty without one).
    sources: Vec<Source>,
    /// Each source's last evaluation.
    last_each: Vec<Option<Evaluation>>,
    masker: Option<Masker>,
    metrics: MetricsWriter,
    step: u64,
    tokens: u64,
    elapsed: f64,
    state_base: CheckpointState,
    ckpt_root: PathBuf,
}

impl Run<'_> {
    /// (val loss, bits per byte, accuracy) on the val windows of each set, and their mean by
    /// the sources' weights; `None` when no set has windows.
    fn evaluate(&self) -> Result<Option<Evaluations>, TrainError> {
        let each = self
            .val
            .iter()
            .map(|v| self.evaluate_set(v))
            .collect::<Result<Vec<_>, _>>()?;
        if each.len() == 1 {
            return Ok(each[0].map(|e| (e, each)));
        }
        // The mean over the sources with val windows, by their weights renormalised.
        let (mut wsum, mut loss, mut bpb, mut acc) = (0.0, 0.0, Some(0.0), Some(0.0));
        for (e, src) in each.iter().zip(&self.sources) {
            let Some((l, b, a)) = e else { continue };
            wsum += src.weight;
            loss += src.weight * l;
            bpb = bpb.zip(*b).map(|(x, y)| x + src.weight * y);
            acc = acc.zip(*a).map(|(x, y)| x + src.weight * y);
        }
        if wsum == 0.0 {
            return Ok(None);
        }
        Ok(Some((
            (loss / wsum, bpb.map(|b| b / wsum), acc.map(|a| a / wsum)),
            each,
        )))
    }

    /// (val loss, bits per byte, accuracy) on one set's windows, if it has any.
    fn evaluate_set(&self, set: &ValSet) -> Result<Option<Evaluation>, TrainError> {
        if set.windows.is_empty() {
            return Ok(None);
        }
        if let Some(masker) = &self.masker {
            // The same masks every evaluation: a fixed seed per window.
            let weights = Weights::from_tensors(&self.model.cfg, &self.model.tensors())
                .map_err(|e| TrainError::candle("evaluating", e))?;
            let t = self.cfg.model.seq_len;
            let batch = masker.batch(&set.windows, t, hash2(self.cfg.seed, VAL_MASK_SEED));
            let (loss, n, correct) = score_masked(&weights, &batch)?;
            let n = n.max(1) as f64;
            return Ok(Some((loss / n, None, Some(correct as f64 / n))));
        }
        let mut total = 0.0;
        for chunk in set.windows.chunks(self.cfg.batch_size) {
            let batch = Batch::from_windows(chunk);
            let loss = self
                .model
                .loss(&batch, Mode::Eval)
                .map_err(|e| TrainError::candle("evaluating", e))?;
            let l = loss.to_dtype(DType::F64).and_then(|l| l.to_scalar::<f64>());
            total += l.map_err(|e| TrainError::candle("evaluating", e))? * chunk.len() as f64;
        }
        let loss = total / set.windows.len() as f64;
        let bpb = set
            .tokens_per_byte
            .map(|tpb| loss * tpb / std::f64::consts::LN_2);
        Ok(Some((loss, bpb, None)))
    }

    /// The realized mixture so far, with each source's last evaluation (empty without a
    /// mixture).
    fn mixture(&self, each: &[Option<Evaluation>]) -> Vec<SourceEval> {
        let drawn = self.loader.drawn();
        let total = drawn.iter().sum::<u64>().max(1) as f64;
        let t = self.cfg.model.seq_len as f64;
        self.sources
            .iter()
            .zip(drawn)
            .enumerate()
            .map(|(i, (s, &n))| {
                let e = each.get(i).copied().flatten();
                SourceEval {
                    name: s.name.clone(),
                    weight: s.weight,
                    share: n as f64 / total,
                    windows: n,
                    epochs: n as f64 * t / s.tokens.max(1) as f64,
                    val_loss: e.map(|e| e.0),
                    bits_per_byte: e.and_then(|e| e.1),
                }
            })
            .collect()
    }

    fn eval_record(&mut self) -> Result<Option<f64>, TrainError> {
        let Some(((val_loss, bits_per_byte, accuracy), each)) = self.evaluate()? else {
            return Ok(None);
        };
        let sources = self.mixture(&each);
        self.last_each = each;
        for s in &sources {
            tracing::debug!(
                "step {}: source {}: {:.1}% of windows (weight {:.1}%), {:.2} epochs, val {}",
                self.step,
                s.name,
                s.share * 100.0,
                s.weight * 100.0,
                s.epochs,
                s.val_loss.map_or("n/a".into(), |v| format!("{v:.4}"))
            );
        }
        let rec = Record::Eval {
            step: self.step,
            tokens: self.tokens,
            val_loss,
            perplexity: val_loss.exp(),
            bits_per_byte,
            accuracy,
            sources,
        };
        self.metrics
            .write(&rec)
            .map_err(|e| TrainError::io(self.metrics.path(), e))?;
        Ok(Some(val_loss))
    }

    fn save(&self) -> Result<PathBuf, TrainError> {
        let mut state = self.state_base.clone();
        state.step = self.step;
        state.tokens = self.tokens;
        state.adam_t = self.opt.t;
        let mix = self.loader.state();
        if self.sources.is_empty() {
            state.loader = mix.loaders.into_iter().next().unwrap_or_default();
        } else {
            state.mixture = Some(mix);
        }
        state.metrics_bytes = self.metrics.bytes();
        state.elapsed_s = self.elapsed;
        let model = self.model.tensors();
        let optimizer = self
            .opt
            .state_tensors()
            .map_err(|e| TrainError::candle("saving the optimizer", e))?;
        let dir = checkpoint::save(
            &self.ckpt_root,
            &Saved {
                state: &state,
                model: &model,
                optimizer: &optimizer,
            },
            self.cfg.keep_checkpoints,
        )?;
        Ok(dir)
    }

    /// One optimizer step; returns (mean loss, grad norm, lr).
    fn step(&mut self, schedule: &Schedule) -> Result<(f64, f64, f64), TrainError> {
        let cfg = self.cfg;
        let lr = schedule.lr(self.step);
        let mut micro = Vec::with_capacity(cfg.grad_accum);
        for i in 0..cfg.grad_accum {
            let windows = self.loader.next_windows(cfg.batch_size)?;
            let seed = hash2(cfg.seed, self.step * cfg.grad_accum as u64 + i as u64);
            let batch = match &self.masker {
                Some(m) => m.batch(&windows, cfg.model.seq_len, hash2(seed, TRAIN_MASK_SEED)),
                None => Batch::from_windows(&windows),
            };
            micro.push((batch, seed));
        }
        let stats = optimizer_step(
            &self.model,
            &mut self.opt,
            &micro,
            lr,
            cfg.optimizer.grad_clip,
        )
        .map_err(|e| TrainError::candle(format!("step {}", self.step + 1), e))?;
        self.step += 1;
        self.tokens += cfg.tokens_per_step();
        Ok((stats.loss, stats.grad_norm, lr))
    }
}

/// What one optimizer step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean loss over the micro-batches.
    pub loss: f64,
    /// Global gradient norm (of the averaged gradient) before clipping.
    pub grad_norm: f64,
}

/// One optimizer step: forward and backward over each `(micro-batch, dropout seed)`, the
/// gradients summed, then averaged, clipped to `grad_clip` (global norm; 0 = off) and applied
/// by `opt` at rate `lr`. The trainer and the benchmark both run this.
pub fn optimizer_step(
    model: &Gpt,
    opt: &mut AdamW,
    micro: &[(Batch, u64)],
    lr: f64,
    grad_clip: f64,
) -> candle_core::Result<StepStats> {
    let mut grads: Vec<Option<Tensor>> = vec![None; model.params.len()];
    let mut loss_sum = 0.0;
    for (batch, seed) in micro {
        let (loss, micro_grads) = model.forward_backward(batch, *seed)?;
        loss_sum += loss;
        for (acc, g) in grads.iter_mut().zip(micro_grads) {
            *acc = Some(match acc.take() {
                None => g,
                Some(a) => (a + g)?,
            });
        }
    }
    let grads: Vec<Tensor> = grads.into_iter().flatten().collect();
    let mut sq = 0.0;
    for g in &grads {
        sq += grad_sum_squares(g)?;
    }
    let n = micro.len().max(1) as f64;
    let norm = sq.sqrt() / n;
    let clip = if grad_clip > 0.0 && norm > grad_clip {
        grad_clip / (norm + 1e-6)
    } else {
        1.0
    };
    opt.step(&model.params, &grads, lr, clip / n)?;
    Ok(StepStats {
        loss: loss_sum / n,
        grad_norm: norm,
    })
}

fn run(
    cfg: &TrainConfig,
    paths: &TrainPaths,
    opts: &TrainOptions,
) -> Result<TrainSummary, TrainError> {
    let device = device_for(cfg.device)?;
    let tok =
        Tokenizer::from_file(crate::storage::ensure_local(&paths.tokenizer)).map_err(|e| {
            TrainError::Tokenizer {
                path: paths.tokenizer.clone(),
                message: e.to_string(),
            }
        })?;
    let vocab = tok.get_vocab_size(true);
    let eos_id = find_eos(&paths.data, &tok);
    let model_cfg = GptConfig::new(&cfg.model, vocab).with_objective(cfg.objective);
    let masker = match cfg.objective {
        Objective::Mlm => Some(Masker::for_tokenizer(&tok, &paths.tokenizer)?),
        Objective::Clm => None,
    };
    // Refused before any shard is read: a start checkpoint of another shape or tokenizer.
    let init = match &paths.init_from {
        Some(p) if checkpoint::latest(&paths.out.join("checkpoints"))?.is_none() => Some(
            init_checkpoint(p, &model_cfg, &paths.tokenizer, cfg.init_optimizer)?,
        ),
        _ => None,
    };
    // A mixture's sources: every one encoded with this run's tokenizer.
    let temperature = match &cfg.data {
        Some(super::config::TrainData::Mixture(m)) => m.temperature,
        _ => None,
    };
    // Checked before any shard is read.
    let ours = vocabulary_hash(&paths.tokenizer)?;
    for s in &paths.sources {
        let theirs = s.dir.join("tokenizer.json");
        if !crate::storage::exists(&theirs) {
            return Err(TrainError::Config(format!(
                "mixture source `{}`: {} is missing, so it cannot be checked to share this run's \
                 tokenizer ({})",
                s.name,
                crate::storage::shown(&theirs),
                crate::storage::shown(&paths.tokenizer)
            )));
        }
        let h = vocabulary_hash(&theirs)?;
        if h != ours {
            return Err(TrainError::Config(format!(
                "mixture source `{}`: {} differs from this run's tokenizer {} (vocabulary and \
                 merges hash {h:016x} vs {ours:016x}); token ids would mean different things",
                s.name,
                crate::storage::shown(&theirs),
                crate::storage::shown(&paths.tokenizer)
            )));
        }
    }
    let sources = open_sources(&paths.sources, temperature)?;
    let (train_shards, val_shards) = if sources.is_empty() {
        let train = Shards::open(&paths.data.join("tokens").join("train"))?;
        let val = match Shards::open(&paths.data.join("tokens").join("val")) {
            Ok(s) => Some(s),
            Err(super::loader::LoaderError::NoShards { dir }) => {
                tracing::warn!(
                    "{}: no val shards; training without evaluation",
                    dir.display()
                );
                None
            }
            Err(e) => return Err(e.into()),
        };
        (Some(train), vec![val])
    } else {
        for s in &sources {
            if s.val.is_none() {
                tracing::warn!("mixture source `{}`: no val documents", s.name);
            }
        }
        (None, sources.iter().map(|s| s.val.clone()).collect())
    };
    let new_loader = |state: Option<super::mixture::MixState>,
                      single: Option<super::loader::LoaderState>| {
        match &train_shards {
            Some(shards) => MixLoader::single(Loader::resume(
                shards.clone(),
                cfg.model.seq_len,
                cfg.seed,
                cfg.shuffle_buffer,
                single.unwrap_or_default(),
            )),
            None => MixLoader::new(
                &sources,
                cfg.model.seq_len,
                cfg.seed,
                cfg.shuffle_buffer,
                state,
            ),
        }
    };
    std::fs::create_dir_all(&paths.out).map_err(|e| TrainError::io(&paths.out, e))?;
    let ckpt_root = paths.out.join("checkpoints");
    let metrics_path = paths.out.join("metrics.jsonl");
    let total_steps = cfg.total_steps();
    let existing = checkpoint::latest(&ckpt_root)?;
    let tokenizer_abs =
        std::fs::canonicalize(&paths.tokenizer).unwrap_or_else(|_| paths.tokenizer.clone());
    let state_base = CheckpointState {
        format: checkpoint::FORMAT,
        step: 0,
        tokens: 0,
        adam_t: 0,
        loader: Default::default(),
        mixture: None,
        metrics_bytes: 0,
        model: model_cfg.clone(),
        config: cfg.clone(),
        data: data_identity(paths),
        tokenizer: tokenizer_abs,
        eos_id,
        elapsed_s: 0.0,
        version: env!("CARGO_PKG_VERSION").to_string(),
    };

    let ctx = |what: &str| {
        let what = what.to_string();
        move |e| TrainError::candle(what.clone(), e)
    };
    let (model, opt, loader, metrics, step, tokens, elapsed) = match (&existing, opts.resume) {
        (Some(dir), true) => {
            let ck = checkpoint::load(dir, &device, true)?;
            if !ck.state.data.is_empty() && ck.state.data != state_base.data {
                return Err(TrainError::OtherData(paths.out.clone()));
            }
            if ck.state.model != model_cfg {
                return Err(TrainError::Config(format!(
                    "{}: the checkpoint's model {:?} differs from the config's {:?}",
                    dir.display(),
                    ck.state.model,
                    model_cfg
                )));
            }
            let model = Gpt::from_tensors(model_cfg.clone(), ck.model, &device)
                .map_err(ctx("loading the checkpoint"))?;
            let mut opt = AdamW::new(&model.params, &cfg.optimizer).map_err(ctx("optimizer"))?;
            opt.load_state(&ck.optimizer, ck.state.adam_t)
                .map_err(ctx("loading the optimizer state"))?;
            // The loaders continue only over the same sources.
            let ck_sources = ck.state.mixture.as_ref().map_or(0, |m| m.loaders.len());
            let consistent = ck
                .state
                .mixture
                .as_ref()
                .is_none_or(|m| m.loaders.len() == m.drawn.len());
            if ck_sources != sources.len() || !consistent {
                return Err(TrainError::Config(format!(
                    "{}: the checkpoint was taken with {} mixture source{}, this config has {}; \
                     --resume continues a run over the same sources",
                    dir.display(),
                    ck_sources,
                    if ck_sources == 1 { "" } else { "s" },
                    sources.len()
                )));
            }
            let loader = new_loader(ck.state.mixture.clone(), Some(ck.state.loader.clone()));
            let metrics = MetricsWriter::open(&metrics_path, Some(ck.state.metrics_bytes))
                .map_err(|e| TrainError::io(&metrics_path, e))?;
            tracing::info!(
                "resuming from {} (step {})",
                crate::storage::shown(dir),
                ck.state.step
            );
            (
                model,
                opt,
                loader,
                metrics,
                ck.state.step,
                ck.state.tokens,
                ck.state.elapsed_s,
            )
        }
        (Some(dir), false) => {
            // Re-running a finished run with the same settings is a no-op (as re-running a
            // pipeline is); anything else needs an explicit --resume or a fresh directory.
            let state_path = dir.join("state.json");
            let done = crate::storage::read_to_string(&state_path)
                .ok()
                .and_then(|t| serde_json::from_str::<CheckpointState>(&t).ok())
                .filter(|st| st.config == *cfg && st.model == model_cfg && st.step >= total_steps);
            if done
                .as_ref()
                .is_some_and(|st| !st.data.is_empty() && st.data != state_base.data)
            {
                return Err(TrainError::OtherData(paths.out.clone()));
            }
            return match done {
                Some(st) => Ok(TrainSummary {
                    steps: st.step,
                    total_steps,
                    tokens: st.tokens,
                    last_loss: None,
                    initial_val_loss: None,
                    final_val_loss: None,
                    tokens_per_s: 0.0,
                    mfu: 0.0,
                    checkpoint: Some(dir.clone()),
                    out_dir: paths.out.clone(),
                    already_complete: true,
                    mixture: Vec::new(),
                }),
                None => Err(TrainError::Exists(paths.out.clone())),
            };
        }
        (None, _) => {
            let (model, opt) = match init {
                Some(ck) => {
                    tracing::info!(
                        "starting from {} (step {} of its run){}",
                        ck.dir.display(),
                        ck.state.step,
                        if cfg.init_optimizer {
                            ", with its optimizer state"
                        } else {
                            ""
                        }
                    );
                    let model = Gpt::from_tensors(model_cfg.clone(), ck.model, &device)
                        .map_err(ctx("loading the init_from checkpoint"))?;
                    let mut opt =
                        AdamW::new(&model.params, &cfg.optimizer).map_err(ctx("optimizer"))?;
                    if cfg.init_optimizer {
                        opt.load_state(&ck.optimizer, ck.state.adam_t)
                            .map_err(ctx("loading the init_from optimizer state"))?;
                    }
                    (model, opt)
                }
                None => {
                    let model = Gpt::new(model_cfg.clone(), cfg.seed, &device, DType::F32)
                        .map_err(ctx("initialising the model"))?;
                    let opt =
                        AdamW::new(&model.params, &cfg.optimizer).map_err(ctx("optimizer"))?;
                    (model, opt)
                }
            };
            let loader = new_loader(None, None);
            let metrics = MetricsWriter::open(&metrics_path, None)
                .map_err(|e| TrainError::io(&metrics_path, e))?;
            (model, opt, loader, metrics, 0, 0, 0.0)
        }
    };
    if step >= total_steps {
        return Ok(TrainSummary {
            steps: step,
            total_steps,
            tokens,
            last_loss: None,
            initial_val_loss: None,
            final_val_loss: None,
            tokens_per_s: 0.0,
            mfu: 0.0,
            checkpoint: existing,
            out_dir: paths.out.clone(),
            already_complete: true,
            mixture: Vec::new(),
        });
    }

    let peak = measure_peak_flops(&device).map_err(ctx("measuring the peak FLOP/s"))?;
    let flops_per_token = model_cfg.flops_per_token();
    let run_info = serde_json::json!({
        "model": model_cfg,
        "n_params": model.n_params(),
        "n_params_no_pos": model_cfg.n_params_no_pos(),
        "flops_per_token": flops_per_token,
        "peak_flops": peak,
        "peak_source": "best of 12 candle f32 matmuls 1024x1024x1024",
        "threads": rayon::current_num_threads(),
        "device": format!("{:?}", cfg.device).to_lowercase(),
        "tokens_per_step": cfg.tokens_per_step(),
        "total_steps": total_steps,
        "eos_id": eos_id,
        "tokenizer": crate::storage::shown(&state_base.tokenizer),
        "data": crate::storage::shown(&paths.data),
        "mixture": sources.iter().map(|s| serde_json::json!({
            "name": s.name,
            "dir": crate::storage::shown(&s.dir),
            "weight": s.weight,
            "documents": s.documents,
            "tokens": s.tokens,
        })).collect::<Vec<_>>(),
        "config": cfg,
    });
    tracing::info!(
        "training a GPT of {:.2}M parameters ({} layers, {} heads, {} wide, context {}, vocab {}) on {} for {} steps \
         of {} tokens; peak {:.0} GFLOP/s measured; writing to {}",
        model.n_params() as f64 / 1e6,
        model_cfg.n_layer,
        model_cfg.n_head,
        model_cfg.n_embd,
        model_cfg.seq_len,
        model_cfg.vocab_size,
        crate::storage::shown(&paths.data),
        total_steps,
        cfg.tokens_per_step(),
        peak / 1e9,
        crate::storage::shown(&paths.out)
    );
    let run_path = paths.out.join("run.json");
    std::fs::write(
        &run_path,
        serde_json::to_string_pretty(&run_info).unwrap_or_default() + "\n",
    )
    .map_err(|e| TrainError::io(&run_path, e))?;

    let mut val = Vec::new();
    for (i, shards) in val_shards.iter().enumerate() {
        let windows = match shards {
            Some(s) => {
                let n = (cfg.eval_tokens as usize)
                    .div_ceil(cfg.model.seq_len)
                    .max(1);
                eval_windows(s, cfg.model.seq_len, n)?
            }
            None => Vec::new(),
        };
        if shards.is_some() && windows.is_empty() {
            match sources.get(i) {
                Some(s) => tracing::warn!(
                    "mixture source `{}`: its val documents are shorter than one window",
                    s.name
                ),
                None => tracing::warn!(
                    "the val split is shorter than one window; training without evaluation"
                ),
            }
        }
        let tokens_per_byte = match (&masker, windows.is_empty()) {
            (None, false) => tokens_per_byte(&tok, &windows, &paths.tokenizer)?,
            _ => None,
        };
        val.push(ValSet {
            windows,
            tokens_per_byte,
        });
    }
    let mut r = Run {
        cfg,
        model,
        opt,
        loader,
        val,
        sources,
        last_each: Vec::new(),
        masker,
        metrics,
        step,
        tokens,
        elapsed,
        state_base,
        ckpt_root,
    };
    let schedule = Schedule::new(&cfg.optimizer, total_steps);
    let mut initial_val_loss = None;
    let mut final_val_loss = None;
    if r.step == 0 {
        initial_val_loss = r.eval_record()?;
        final_val_loss = initial_val_loss;
    }
    let bar = (opts.progress && std::io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new(total_steps);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "train {bar:30} {pos}/{len} steps {msg} [{elapsed_precise}<{eta}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_position(r.step);
        pb
    });
    let stop_at = opts.stop_after.unwrap_or(u64::MAX).min(total_steps);
    let mut last_loss = None;
    let mut last_ckpt = existing;
    let mut last_ckpt_step = if opts.resume { r.step } else { u64::MAX };
    let (mut run_tokens, mut run_secs, mut run_flops) = (0u64, 0f64, 0f64);
    let interval = |n: u64, step: u64| n > 0 && step.is_multiple_of(n);
    while r.step < stop_at {
        let t0 = Instant::now();
        let (loss, grad_norm, lr) = r.step(&schedule)?;
        let dt = t0.elapsed().as_secs_f64().max(1e-9);
        r.elapsed += dt;
        let tps = cfg.tokens_per_step() as f64 / dt;
        let mfu = flops_per_token * tps / peak;
        run_tokens += cfg.tokens_per_step();
        run_secs += dt;
        run_flops += flops_per_token * cfg.tokens_per_step() as f64;
        if !loss.is_finite() {
            return Err(TrainError::Config(format!(
                "step {}: the loss is {loss}; lower optimizer.lr or raise optimizer.warmup_steps",
                r.step
            )));
        }
        last_loss = Some(loss);
        let rec = Record::Train {
            step: r.step,
            tokens: r.tokens,
            loss,
            lr,
            grad_norm,
            tokens_per_s: tps,
            mfu,
            elapsed_s: r.elapsed,
        };
        r.metrics
            .write(&rec)
            .map_err(|e| TrainError::io(r.metrics.path(), e))?;
        if let Some(pb) = &bar {
            pb.set_position(r.step);
            pb.set_message(format!(
                "loss {loss:.3} {tps:.0} tok/s mfu {:.0}%",
                mfu * 100.0
            ));
        }
        let last = r.step == total_steps;
        if interval(cfg.eval_interval, r.step) || last {
            if let Some(v) = r.eval_record()? {
                final_val_loss = Some(v);
                let msg = format!(
                    "step {}/{total_steps}: loss {loss:.4}, val {v:.4} (ppl {:.2}), {tps:.0} tokens/s, mfu {:.1}%",
                    r.step,
                    v.exp(),
                    mfu * 100.0
                );
                match &bar {
                    Some(pb) => pb.println(msg),
                    None => tracing::info!("{msg}"),
                }
            }
        } else if bar.is_none() && interval(cfg.eval_interval.max(1) / 4 + 1, r.step) {
            tracing::debug!(
                "step {}/{total_steps}: loss {loss:.4}, {tps:.0} tokens/s",
                r.step
            );
        }
        if interval(cfg.checkpoint_interval, r.step) || last || r.step == stop_at {
            last_ckpt = Some(r.save()?);
            last_ckpt_step = r.step;
        }
    }
    if last_ckpt_step != r.step {
        last_ckpt = Some(r.save()?);
    }
    if let Some(pb) = bar {
        pb.finish_and_clear();
    }
    Ok(TrainSummary {
        steps: r.step,
        total_steps,
        tokens: r.tokens,
        last_loss,
        initial_val_loss,
        final_val_loss,
        tokens_per_s: if run_secs > 0.0 {
            run_tokens as f64 / run_secs
        } else {
            0.0
        },
        mfu: if run_secs > 0.0 {
            run_flops / run_secs / peak
        } else {
            0.0
        },
        checkpoint: last_ckpt,
        out_dir: paths.out.clone(),
        already_complete: false,
        mixture: r.mixture(&r.last_each),
    })
}

/// The checkpoint `init_from` names, checked against the model to train: the same shape and a
/// tokenizer with the same vocabulary and merges.
fn init_checkpoint(
    path: &Path,
    model_cfg: &GptConfig,
    tokenizer: &Path,
    with_optimizer: bool,
) -> Result<checkpoint::Loaded, TrainError> {
    let dir = checkpoint::find(path)?;
    let state_path = dir.join("state.json");
    let text =
        crate::storage::read_to_string(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
    let state: CheckpointState = serde_json::from_str(&text)
        .map_err(|e| TrainError::Config(format!("init_from: {}: {e}", state_path.display())))?;
    let diff = state.model.shape_differences(model_cfg);
    if !diff.is_empty() {
        return Err(TrainError::Config(format!(
            "init_from: {} has another model shape than this run ({}): the checkpoint's vs this config's",
            dir.display(),
            diff.join(", ")
        )));
    }
    let (_, theirs) = checkpoint::tokenizer_of(&dir, &state.tokenizer)?;
    let (a, b) = (vocabulary_hash(&theirs)?, vocabulary_hash(tokenizer)?);
    if a != b {
        return Err(TrainError::Config(format!(
            "init_from: {} was trained with another tokenizer ({}: vocabulary and merges hash {a:016x}; \
             this run's {}: {b:016x}); token ids would mean different things",
            dir.display(),
            theirs.display(),
            tokenizer.display()
        )));
    }
    Ok(checkpoint::load(&dir, &Device::Cpu, with_optimizer)?)
}

/// What identifies the token data of a run: for each dataset read (the sources of a mixture, or
/// `data`), its data run's output hashes from `manifest.json` when there is one, and the names
/// and sizes of its token shards. Checkpoints record it (`CheckpointState::data`).
pub fn data_identity(paths: &TrainPaths) -> String {
    let mut dirs: Vec<&Path> = paths.sources.iter().map(|s| s.dir.as_path()).collect();
    if dirs.is_empty() {
        dirs.push(&paths.data);
    }
    dirs.sort();
    dirs.dedup();
    let mut key = String::new();
    for d in dirs {
        if let Some(outputs) = crate::storage::read_to_string(d.join("manifest.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|m| m.get("outputs").cloned())
        {
            key.push_str(&outputs.to_string());
        }
        for split in ["train", "val"] {
            let dir = d.join("tokens").join(split);
            let mut names = crate::storage::read_dir(&dir).unwrap_or_default();
            names.sort();
            for (name, _) in names {
                let size = std::fs::metadata(crate::storage::ensure_local(&dir.join(&name)))
                    .map(|m| m.len())
                    .unwrap_or(0);
                key.push_str(&format!("{split}/{name}:{size};"));
            }
        }
    }
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
}

/// A hash of what the token ids mean: the tokenizer model (vocabulary, merges) and the added
/// tokens, in their JSON form.
pub fn vocabulary_hash(path: &Path) -> Result<u64, TrainError> {
    let text = crate::storage::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| TrainError::Tokenizer {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let key = serde_json::json!({"model": v.get("model"), "added_tokens": v.get("added_tokens")});
    Ok(xxhash_rust::xxh3::xxh3_64(key.to_string().as_bytes()))
}

/// Predicted tokens per UTF-8 byte of the val windows (their targets decoded, special tokens
/// left out), for bits per byte.
fn tokens_per_byte(
    tok: &Tokenizer,
    val: &[Vec<u32>],
    path: &Path,
) -> Result<Option<f64>, TrainError> {
    let (mut tokens, mut bytes) = (0usize, 0usize);
    for w in val {
        let targets = &w[1..];
        let text = tok
            .decode(targets, true)
            .map_err(|e| TrainError::Tokenizer {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        tokens += targets.len();
        bytes += text.len();
    }
    Ok((bytes > 0).then(|| tokens as f64 / bytes as f64))
}
