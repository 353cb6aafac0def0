//! `corpusforge export model --format hf CHECKPOINT OUT`: a checkpoint as a directory that
//! Hugging Face `transformers` opens with `from_pretrained(OUT)`.
//!
//! The layouts are the ones whose forward pass is exactly this model's, so the logits agree
//! (to float rounding; the interop check holds them within 1e-4):
//!
//! - **clm** → `GPT2LMHeadModel` (`model_type: gpt2`): learned positions, pre-LayerNorm blocks,
//!   `gelu_new` (tanh) MLP, final LayerNorm, head tied to the token embedding. GPT-2 stores its
//!   linear weights as `Conv1D` `(in, out)`, so ours (`(out, in)`) are transposed.
//! - **mlm** → `XLMRobertaXLForMaskedLM` (`model_type: xlm-roberta-xl`), the pre-LayerNorm
//!   encoder of the RoBERTa family (BERT and RoBERTa normalise after each sublayer, which is
//!   another function). Its positions start after the padding index, so row `pad + 1 + i` of
//!   the exported position table is our position `i`; the one token type embedding is zero;
//!   the fused query/key/value weight is split in three; the MLM head (dense, erf GELU,
//!   LayerNorm, tied decoder + bias) maps one to one.
//!
//! Written: `config.json`, `model.safetensors` (f32, `format: pt`), `generation_config.json`
//! (clm), `tokenizer.json` and `tokenizer_config.json` (so `AutoTokenizer` opens it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};

use super::checkpoint;
use super::mlm::{MASK_TOKEN, PAD_TOKEN};
use super::model::{GptConfig, Objective};
use super::TrainError;

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The checkpoint exported.
    pub checkpoint: PathBuf,
    /// The output directory.
    pub out: PathBuf,
    /// The `transformers` class that loads it.
    pub architecture: String,
    /// Files written.
    pub files: Vec<PathBuf>,
}

fn ck_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint(checkpoint::CheckpointError {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// The special tokens of a tokenizer.json (content by id), for `tokenizer_config.json`.
fn special_tokens(tokenizer: &Value) -> Vec<(u64, String)> {
    tokenizer
        .get("added_tokens")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|t| t.get("special").and_then(Value::as_bool).unwrap_or(false))
                .filter_map(|t| {
                    Some((
                        t.get("id")?.as_u64()?,
                        t.get("content")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `tokenizer_config.json` for a tokenizer.json: `PreTrainedTokenizerFast` with its special
/// tokens named by role (eos, bos, pad, mask, cls, sep, unk where present).
pub fn tokenizer_config(
    tokenizer_json: &Path,
    eos_id: Option<u32>,
    max_length: Option<usize>,
) -> Result<Value, TrainError> {
    let text =
        std::fs::read_to_string(tokenizer_json).map_err(|e| TrainError::io(tokenizer_json, e))?;
    let tok: Value = serde_json::from_str(&text).map_err(|e| TrainError::Tokenizer {
        path: tokenizer_json.to_path_buf(),
        message: e.to_string(),
    })?;
    let specials = special_tokens(&tok);
    let by_id = |id: u32| {
        specials
            .iter()
            .find(|(i, _)| *i == id as u64)
            .map(|(_, s)| s.clone())
    };
    let find = |names: &[&str]| {
        specials
            .iter()
            .find(|(_, s)| names.contains(&s.as_str()))
            .map(|(_, s)| s.clone())
    };
    let eos = eos_id
        .and_then(by_id)
        .or_else(|| find(&["<|endoftext|>", "</s>", "<eos>", "[EOS]"]));
    let mut cfg = serde_json::Map::new();
    cfg.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    cfg.insert("clean_up_tokenization_spaces".into(), json!(false));
    if let Some(eos) = &eos {
        cfg.insert("eos_token".into(), json!(eos));
    }
    let bos = find(&["<|startoftext|>", "<s>", "<bos>", "[BOS]"]).or_else(|| eos.clone());
    if let Some(bos) = bos {
        cfg.insert("bos_token".into(), json!(bos));
    }
    match find(&[PAD_TOKEN, "<pad>", "<|pad|>"]) {
        Some(pad) => cfg.insert("pad_token".into(), json!(pad)),
        None => eos
            .as_ref()
            .and_then(|e| cfg.insert("pad_token".into(), json!(e))),
    };
    for (key, names) in [
        ("mask_token", &[MASK_TOKEN, "<mask>"][..]),
        ("cls_token", &["[CLS]"][..]),
        ("sep_token", &["[SEP]"][..]),
        ("unk_token", &["[UNK]", "<unk>"][..]),
    ] {
        if let Some(t) = find(names) {
            cfg.insert(key.into(), json!(t));
        }
    }
    if let Some(n) = max_length {
        cfg.insert("model_max_length".into(), json!(n));
    }
    Ok(Value::Object(cfg))
}

/// Writes `tokenizer_config.json` beside `tokenizer_json`.
pub fn write_tokenizer_config(
    tokenizer_json: &Path,
    eos_id: Option<u32>,
    max_length: Option<usize>,
) -> Result<PathBuf, TrainError> {
    let cfg = tokenizer_config(tokenizer_json, eos_id, max_length)?;
    let path = tokenizer_json.with_file_name("tokenizer_config.json");
    write_json(&path, &cfg)?;
    Ok(path)
}

fn write_json(path: &Path, v: &Value) -> Result<(), TrainError> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    std::fs::write(path, text).map_err(|e| TrainError::io(path, e))
}

/// Tensors to write: (name, shape, f32 values).
type Named = Vec<(String, Vec<usize>, Vec<f32>)>;

fn values(t: &HashMap<String, Tensor>, name: &str) -> Result<(Vec<usize>, Vec<f32>), TrainError> {
    let tensor = t
        .get(name)
        .ok_or_else(|| TrainError::Config(format!("the checkpoint has no parameter {name}")))?;
    let v = tensor
        .to_dtype(DType::F32)
        .and_then(|x| x.flatten_all())
        .and_then(|x| x.to_vec1::<f32>())
        .map_err(|e| TrainError::candle(format!("reading {name}"), e))?;
    Ok((tensor.dims().to_vec(), v))
}

/// `(rows, cols)` row-major transposed.
fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

fn gpt2_tensors(cfg: &GptConfig, t: &HashMap<String, Tensor>) -> Result<Named, TrainError> {
    let mut out: Named = Vec::new();
    let mut copy = |from: &str, to: String, transposed: bool| -> Result<(), TrainError> {
        let (shape, v) = values(t, from)?;
        if transposed {
            let (r, c) = (shape[0], shape[1]);
            out.push((to, vec![c, r], transpose(&v, r, c)));
        } else {
            out.push((to, shape, v));
        }
        Ok(())
    };
    copy("wte", "transformer.wte.weight".into(), false)?;
    copy("wpe", "transformer.wpe.weight".into(), false)?;
    for l in 0..cfg.n_layer {
        for (name, transposed) in [
            ("ln_1.weight", false),
            ("ln_1.bias", false),
            ("attn.c_attn.weight", true),
            ("attn.c_attn.bias", false),
            ("attn.c_proj.weight", true),
            ("attn.c_proj.bias", false),
            ("ln_2.weight", false),
            ("ln_2.bias", false),
            ("mlp.c_fc.weight", true),
            ("mlp.c_fc.bias", false),
            ("mlp.c_proj.weight", true),
            ("mlp.c_proj.bias", false),
        ] {
            copy(
                &format!("h.{l}.{name}"),
                format!("transformer.h.{l}.{name}"),
                transposed,
            )?;
        }
    }
    copy("ln_f.weight", "transformer.ln_f.weight".into(), false)?;
    copy("ln_f.bias", "transformer.ln_f.bias".into(), false)?;
    copy("wte", "lm_head.weight".into(), false)?;
    Ok(out)
}

fn xlmr_xl_tensors(
    cfg: &GptConfig,
    t: &HashMap<String, Tensor>,
    pad: usize,
) -> Result<Named, TrainError> {
    let c = cfg.n_embd;
    let mut out: Named = Vec::new();
    fn put(
        out: &mut Named,
        t: &HashMap<String, Tensor>,
        from: &str,
        to: &str,
    ) -> Result<(), TrainError> {
        let (shape, v) = values(t, from)?;
        out.push((to.to_string(), shape, v));
        Ok(())
    }
    let mut copy = |from: &str, to: &str| put(&mut out, t, from, to);
    copy("wte", "roberta.embeddings.word_embeddings.weight")?;
    copy("wte", "lm_head.decoder.weight")?;
    copy("mlm.dense.weight", "lm_head.dense.weight")?;
    copy("mlm.dense.bias", "lm_head.dense.bias")?;
    copy("mlm.ln.weight", "lm_head.layer_norm.weight")?;
    copy("mlm.ln.bias", "lm_head.layer_norm.bias")?;
    copy("mlm.bias", "lm_head.bias")?;
    copy("mlm.bias", "lm_head.decoder.bias")?;
    copy("ln_f.weight", "roberta.encoder.LayerNorm.weight")?;
    copy("ln_f.bias", "roberta.encoder.LayerNorm.bias")?;
    for l in 0..cfg.n_layer {
        let p = |s: &str| format!("roberta.encoder.layer.{l}.{s}");
        let h = |s: &str| format!("h.{l}.{s}");
        put(
            &mut out,
            t,
            &h("ln_1.weight"),
            &p("attention.self_attn_layer_norm.weight"),
        )?;
        put(
            &mut out,
            t,
            &h("ln_1.bias"),
            &p("attention.self_attn_layer_norm.bias"),
        )?;
        put(
            &mut out,
            t,
            &h("attn.c_proj.weight"),
            &p("attention.output.dense.weight"),
        )?;
        put(
            &mut out,
            t,
            &h("attn.c_proj.bias"),
            &p("attention.output.dense.bias"),
        )?;
        put(&mut out, t, &h("ln_2.weight"), &p("LayerNorm.weight"))?;
        put(&mut out, t, &h("ln_2.bias"), &p("LayerNorm.bias"))?;
        put(
            &mut out,
            t,
            &h("mlp.c_fc.weight"),
            &p("intermediate.dense.weight"),
        )?;
        put(
            &mut out,
            t,
            &h("mlp.c_fc.bias"),
            &p("intermediate.dense.bias"),
        )?;
        put(
            &mut out,
            t,
            &h("mlp.c_proj.weight"),
            &p("output.dense.weight"),
        )?;
        put(&mut out, t, &h("mlp.c_proj.bias"), &p("output.dense.bias"))?;
        let (_, w) = values(t, &h("attn.c_attn.weight"))?;
        let (_, b) = values(t, &h("attn.c_attn.bias"))?;
        for (i, part) in ["query", "key", "value"].iter().enumerate() {
            out.push((
                p(&format!("attention.self.{part}.weight")),
                vec![c, c],
                w[i * c * c..(i + 1) * c * c].to_vec(),
            ));
            out.push((
                p(&format!("attention.self.{part}.bias")),
                vec![c],
                b[i * c..(i + 1) * c].to_vec(),
            ));
        }
    }
    let (_, wpe) = values(t, "wpe")?;
    let mut pos = vec![0f32; (cfg.seq_len + pad + 1) * c];
    pos[(pad + 1) * c..].copy_from_slice(&wpe);
    out.push((
        "roberta.embeddings.position_embeddings.weight".into(),
        vec![cfg.seq_len + pad + 1, c],
        pos,
    ));
    out.push((
        "roberta.embeddings.token_type_embeddings.weight".into(),
        vec![1, c],
        vec![0f32; c],
    ));
    Ok(out)
}

fn save_safetensors(path: &Path, tensors: &Named) -> Result<(), TrainError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                .map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ck_err(path, e))?;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(meta), path).map_err(|e| ck_err(path, e))
}

/// Exports the checkpoint at `path` (a checkpoint or train output directory) to `out`.
pub fn export_hf(path: &Path, out: &Path) -> Result<Exported, TrainError> {
    let dir = checkpoint::find(path)?;
    let loaded = checkpoint::load(&dir, &Device::Cpu, false)?;
    let cfg = loaded.state.model.clone();
    let (_, tok_path) = checkpoint::tokenizer_of(&dir, &loaded.state.tokenizer)?;
    let tok_text = std::fs::read_to_string(&tok_path).map_err(|e| TrainError::io(&tok_path, e))?;
    let tok_json: Value = serde_json::from_str(&tok_text).map_err(|e| TrainError::Tokenizer {
        path: tok_path.clone(),
        message: e.to_string(),
    })?;
    let id_of = |name: &str| {
        special_tokens(&tok_json)
            .into_iter()
            .find(|(_, s)| s == name)
            .map(|(i, _)| i)
    };
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))?;
    let eos = loaded.state.eos_id.map(u64::from);
    let c = cfg.n_embd;
    let (architecture, config, tensors) = match cfg.objective {
        Objective::Clm => {
            let config = json!({
                "architectures": ["GPT2LMHeadModel"],
                "model_type": "gpt2",
                "vocab_size": cfg.vocab_size,
                "n_positions": cfg.seq_len,
                "n_ctx": cfg.seq_len,
                "n_embd": c,
                "n_layer": cfg.n_layer,
                "n_head": cfg.n_head,
                "n_inner": 4 * c,
                "activation_function": "gelu_new",
                "resid_pdrop": 0.0,
                "embd_pdrop": 0.0,
                "attn_pdrop": 0.0,
                "layer_norm_epsilon": cfg.layer_norm_eps,
                "initializer_range": 0.02,
                "scale_attn_weights": true,
                "scale_attn_by_inverse_layer_idx": false,
                "reorder_and_upcast_attn": false,
                "use_cache": true,
                "bos_token_id": eos,
                "eos_token_id": eos,
                "tie_word_embeddings": true,
                "torch_dtype": "float32",
            });
            (
                "GPT2LMHeadModel",
                config,
                gpt2_tensors(&cfg, &loaded.model)?,
            )
        }
        Objective::Mlm => {
            let pad = id_of(PAD_TOKEN).ok_or_else(|| TrainError::Tokenizer {
                path: tok_path.clone(),
                message: format!(
                    "an MLM export needs a {PAD_TOKEN} token (the encoder's padding index); a \
                     tokenizer trained for an mlm run has one"
                ),
            })?;
            let config = json!({
                "architectures": ["XLMRobertaXLForMaskedLM"],
                "model_type": "xlm-roberta-xl",
                "vocab_size": cfg.vocab_size,
                "hidden_size": c,
                "num_hidden_layers": cfg.n_layer,
                "num_attention_heads": cfg.n_head,
                "intermediate_size": 4 * c,
                "hidden_act": "gelu_new",
                "hidden_dropout_prob": 0.0,
                "attention_probs_dropout_prob": 0.0,
                "max_position_embeddings": cfg.seq_len + pad as usize + 1,
                "type_vocab_size": 1,
                "layer_norm_eps": cfg.layer_norm_eps,
                "pad_token_id": pad,
                "bos_token_id": eos,
                "eos_token_id": eos,
                "position_embedding_type": "absolute",
                "is_decoder": false,
                "tie_word_embeddings": true,
                "torch_dtype": "float32",
            });
            (
                "XLMRobertaXLForMaskedLM",
                config,
                xlmr_xl_tensors(&cfg, &loaded.model, pad as usize)?,
            )
        }
    };
    let mut files = Vec::new();
    let config_path = out.join("config.json");
    write_json(&config_path, &config)?;
    files.push(config_path);
    let model_path = out.join("model.safetensors");
    save_safetensors(&model_path, &tensors)?;
    files.push(model_path);
    if cfg.objective == Objective::Clm {
        let gen = out.join("generation_config.json");
        write_json(&gen, &json!({"bos_token_id": eos, "eos_token_id": eos}))?;
        files.push(gen);
    }
    let tok_out = out.join("tokenizer.json");
    std::fs::write(&tok_out, &tok_text).map_err(|e| TrainError::io(&tok_out, e))?;
    files.push(tok_out.clone());
    files.push(write_tokenizer_config(
        &tok_out,
        loaded.state.eos_id,
        Some(cfg.seq_len),
    )?);
    Ok(Exported {
        checkpoint: dir,
        out: out.to_path_buf(),
        architecture: architecture.to_string(),
        files,
    })
}
