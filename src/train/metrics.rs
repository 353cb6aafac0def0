//! Training metrics: `OUT/train/metrics.jsonl` and the FLOP accounting behind MFU.
//!
//! One JSON object per line, in step order:
//!
//! ```text
//! {"kind":"train","step":1,"tokens":768,"loss":4.17,"lr":1e-5,"grad_norm":0.61,
//!  "tokens_per_s":21000.0,"mfu":0.41,"elapsed_s":0.04}
//! {"kind":"eval","step":100,"tokens":76800,"val_loss":2.9,"perplexity":18.2,"bits_per_byte":1.3}
//! ```
//!
//! `mfu` is model FLOPs utilisation: `flops_per_token * tokens_per_s / peak`, where
//! `flops_per_token = 6 N + 12 L C T` (N parameters without the position table; the second
//! term counts attention scores and mixing) and `peak` is the FLOP/s the machine reaches on a
//! large candle f32 matmul, measured once when training starts ([`measure_peak_flops`]) and
//! recorded in `OUT/train/run.json`. Against a measured rather than a datasheet peak, MFU says
//! how much of what the matmul kernel can do the whole training step achieves.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// An optimizer step.
    Train {
        /// Steps done (1 after the first update).
        step: u64,
        /// Training tokens consumed so far.
        tokens: u64,
        /// Mean training loss of the step's micro-batches.
        loss: f64,
        /// Learning rate used by the step.
        lr: f64,
        /// Global gradient norm before clipping.
        grad_norm: f64,
        /// Training throughput of the step.
        tokens_per_s: f64,
        /// Model FLOPs utilisation against the measured peak.
        mfu: f64,
        /// Seconds since training started (excluding evaluation and checkpoints).
        elapsed_s: f64,
    },
    /// An evaluation on the val split.
    Eval {
        /// Steps done when evaluated (0 = before training).
        step: u64,
        /// Training tokens consumed so far.
        tokens: u64,
        /// Mean cross-entropy on the val windows: of the next token (clm) or of the masked
        /// tokens (mlm).
        val_loss: f64,
        /// `exp(val_loss)`.
        perplexity: f64,
        /// The val loss in bits per UTF-8 byte of the predicted text (clm; comparable across
        /// tokenizers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bits_per_byte: Option<f64>,
        /// Share of masked tokens predicted exactly (mlm).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accuracy: Option<f64>,
        /// A mixture's sources: the realized mixture so far and each one's val loss (`val_loss`
        /// above is their mean by weight).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<SourceEval>,
    },
}

/// One source of a mixture at an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceEval {
    /// The source's name.
    pub name: String,
    /// Its weight (normalised).
    pub weight: f64,
    /// Its share of the training windows drawn so far.
    pub share: f64,
    /// Training windows drawn from it so far.
    pub windows: u64,
    /// Passes over its training tokens so far (windows × seq_len / its tokens).
    pub epochs: f64,
    /// Mean cross-entropy on its val windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
    /// Its val loss in bits per byte (clm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits_per_byte: Option<f64>,
}

/// Appends records to `metrics.jsonl`.
pub struct MetricsWriter {
    file: File,
    path: PathBuf,
    bytes: u64,
}

impl MetricsWriter {
    /// Opens `path`: truncated to `keep_bytes` (a resumed run), or emptied (a new run).
    pub fn open(path: &Path, keep_bytes: Option<u64>) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        let len = file.metadata()?.len();
        let bytes = keep_bytes.unwrap_or(0).min(len);
        file.set_len(bytes)?;
        let mut w = MetricsWriter {
            file,
            path: path.to_path_buf(),
            bytes,
        };
        use std::io::Seek;
        w.file.seek(std::io::SeekFrom::Start(bytes))?;
        Ok(w)
    }

    /// Writes one record (one line, flushed).
    pub fn write(&mut self, rec: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_string(rec).map_err(std::io::Error::other)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.flush()?;
        self.bytes += line.len() as u64;
        Ok(())
    }

    /// Bytes written so far (the offset saved in checkpoints).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads every record of a metrics file.
pub fn read(path: &Path) -> Result<Vec<Record>, String> {
    let text =
        crate::storage::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// The FLOP/s of a 1024 x 1024 x 1024 f32 candle matmul on `device`: the best of 12 runs
/// (about 0.3 s on two cores), so a busy moment on a shared machine does not lower it much.
pub fn measure_peak_flops(device: &Device) -> candle_core::Result<f64> {
    if device.is_cpu() {
        super::kernels::configure_candle_threads();
    }
    let n = 1024usize;
    let a = Tensor::ones((n, n), DType::F32, device)?;
    let b = Tensor::ones((n, n), DType::F32, device)?;
    let _ = a.matmul(&b)?; // warm up threads and caches
    device.synchronize()?;
    let mut best = 0f64;
    for _ in 0..12 {
        let t = Instant::now();
        let c = a.matmul(&b)?;
        device.synchronize()?;
        drop(c);
        let dt = t.elapsed().as_secs_f64().max(1e-9);
        best = best.max(2.0 * (n * n * n) as f64 / dt);
    }
    Ok(best)
}
