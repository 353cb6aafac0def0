//! Multiple-choice task evaluation: how likely a causal model finds the correct answer.
//!
//! A task file is JSON lines, one item each: `{"id", "context", "choices": [...], "label"}`
//! (`../shared/data/tasks/` holds ARC-Easy, PIQA, HellaSwag and OpenBookQA in this form). For
//! every item and every choice the model scores `log P(choice | context)`: the text `context +
//! choice` is tokenized as stored (choices start with a space), the choice's tokens are the
//! ones after the context's (when the tokenizer merges across the boundary, the choice is
//! tokenized on its own and appended), and the sequence starts after the end-of-sequence token
//! as a training document does. From those:
//!
//! - **accuracy**: the item counts as right when the correct choice has the highest
//!   likelihood per UTF-8 byte of the choice (longer answers are not penalized for their
//!   length; lm-evaluation-harness's `acc_norm` normalizes by characters the same way);
//! - **correct-choice bits per byte**: `-log2 P(correct | context)` summed over items, over the
//!   correct choices' bytes. At small scale accuracy stays at chance, while this moves with the
//!   training data and ranks data the way larger models do (DataDecide, AI2 2025).
//!
//! When context and choice do not fit the model's context window, the context is cut from the
//! left (the choice and as much context as fits are kept); a choice longer than the window is
//! scored in rolling windows. Both are counted in the report, never done silently.
//!
//! Items run in parallel, each on one thread (single-threaded products), and the sums are taken
//! in item order, so the figures are the same at any thread count.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use super::checkpoint;
use super::eval::windows;
use super::infer::{nll, Weights};
use super::model::{GptConfig, Objective};
use super::TrainError;

/// One multiple-choice item.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskItem {
    /// Its id (`<file>:<line>` when the record has none).
    pub id: String,
    /// The text the choices continue.
    pub context: String,
    /// The candidate continuations.
    pub choices: Vec<String>,
    /// The index of the correct one.
    pub label: usize,
}

/// Reads a task file: every item, or the first `max_items`. A record that is not an item (bad
/// JSON, a missing or empty field, a label out of range) is an error naming the file and line:
/// a task set with a broken item would score something else than it says.
pub fn read_tasks(path: &Path, max_items: Option<usize>) -> Result<Vec<TaskItem>, TrainError> {
    let file = std::fs::File::open(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut items = Vec::new();
    let shown = path.display().to_string();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        if max_items.is_some_and(|m| items.len() >= m) {
            break;
        }
        let n = i + 1;
        let line = line.map_err(|e| TrainError::Tasks(format!("{shown}:{n}: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let item = parse_item(&line).map_err(|e| TrainError::Tasks(format!("{shown}:{n}: {e}")))?;
        items.push(TaskItem {
            id: item.0.unwrap_or_else(|| format!("{shown}:{n}")),
            context: item.1,
            choices: item.2,
            label: item.3,
        });
    }
    if items.is_empty() {
        return Err(TrainError::Tasks(format!("{shown}: no items")));
    }
    Ok(items)
}

/// (id, context, choices, label) of one record, or what is wrong with it.
fn parse_item(line: &str) -> Result<(Option<String>, String, Vec<String>, usize), String> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    let id = match obj.get("id") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err("id: must be a string or a number".into()),
    };
    let context = match obj.get("context") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => return Err("context: must be a string".into()),
        None => return Err("context: missing".into()),
    };
    let choices = match obj.get("choices") {
        Some(serde_json::Value::Array(a)) => a,
        Some(_) => return Err("choices: must be a list of strings".into()),
        None => return Err("choices: missing".into()),
    };
    if choices.len() < 2 {
        return Err(format!(
            "choices: an item needs at least 2, found {}",
            choices.len()
        ));
    }
    let mut out = Vec::with_capacity(choices.len());
    for (k, c) in choices.iter().enumerate() {
        match c.as_str() {
            Some(s) if !s.trim().is_empty() => out.push(s.to_string()),
            Some(_) => return Err(format!("choices[{k}]: empty")),
            None => return Err(format!("choices[{k}]: must be a string")),
        }
    }
    let label = match obj.get("label") {
        None | Some(serde_json::Value::Null) => return Err("label: missing".into()),
        Some(l) => l
            .as_u64()
            .ok_or_else(|| format!("label: must be a 0-based index, found {l}"))?,
    };
    if label as usize >= out.len() {
        return Err(format!(
            "label: {label} is out of range for {} choices (0-based)",
            out.len()
        ));
    }
    Ok((id, context, out, label as usize))
}

/// One choice's score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChoiceScore {
    /// `-ln P(choice | context)`.
    pub nats: f64,
    /// Its tokens.
    pub tokens: u32,
    /// Its UTF-8 bytes.
    pub bytes: u32,
}

/// One item's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemScore {
    /// The item's id.
    pub id: String,
    /// Per choice, in order.
    pub choices: Vec<ChoiceScore>,
    /// The correct choice.
    pub label: usize,
    /// The choice with the highest likelihood per byte (the first on ties).
    pub predicted: usize,
    /// The context was cut from the left to fit the window (for some choice).
    pub context_cut: bool,
    /// Some choice was longer than the window and scored in rolling windows.
    pub choice_rolled: bool,
}

/// The token ids of one choice after the context: (the whole sequence after the
/// end-of-sequence token, where the choice starts in it).
fn encode_choice(
    tok: &Tokenizer,
    tok_path: &Path,
    context: &str,
    ctx_ids: &[u32],
    choice: &str,
) -> Result<(Vec<u32>, usize), TrainError> {
    let enc = |s: &str| -> Result<Vec<u32>, TrainError> {
        tok.encode(s, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| TrainError::Tokenizer {
                path: tok_path.to_path_buf(),
                message: e.to_string(),
            })
    };
    let whole = enc(&format!("{context}{choice}"))?;
    if whole.len() > ctx_ids.len() && whole.starts_with(ctx_ids) {
        return Ok((whole, ctx_ids.len()));
    }
    // The tokenizer merged across the boundary: the choice on its own after the context.
    let mut seq = ctx_ids.to_vec();
    seq.extend(enc(choice)?);
    Ok((seq, ctx_ids.len()))
}

/// Scores one item with a causal model.
pub fn score_item(
    weights: &Weights,
    tok: &Tokenizer,
    tok_path: &Path,
    eos: u32,
    item: &TaskItem,
) -> Result<ItemScore, TrainError> {
    let cfg = &weights.cfg;
    let (l, v, c) = (cfg.seq_len, cfg.vocab_size, cfg.n_embd);
    let ctx_ids: Vec<u32> = tok
        .encode(item.context.as_str(), false)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| TrainError::Tokenizer {
            path: tok_path.to_path_buf(),
            message: e.to_string(),
        })?;
    // Every choice's windows, batched together (rows padded to the longest; padding after a
    // row's end does not change its causal states).
    struct Job {
        choice: usize,
        seq: Vec<u32>,
        win: (usize, usize, usize, usize),
    }
    let mut jobs = Vec::new();
    let (mut context_cut, mut choice_rolled) = (false, false);
    for (k, choice) in item.choices.iter().enumerate() {
        let (ids, at) = encode_choice(tok, tok_path, &item.context, &ctx_ids, choice)?;
        let mut seq = Vec::with_capacity(ids.len() + 1);
        seq.push(eos);
        seq.extend_from_slice(&ids);
        let from = at + 1;
        let ws = windows(seq.len(), from, l);
        context_cut |= ws.first().is_some_and(|w| w.0 > 0);
        choice_rolled |= ws.len() > 1;
        for w in ws {
            jobs.push(Job {
                choice: k,
                seq: seq.clone(),
                win: w,
            });
        }
    }
    let mut scores = vec![
        ChoiceScore {
            nats: 0.0,
            tokens: 0,
            bytes: 0
        };
        item.choices.len()
    ];
    for (k, s) in scores.iter_mut().enumerate() {
        s.bytes = item.choices[k].len() as u32;
    }
    let t = jobs.iter().map(|j| j.win.1 - j.win.0).max().unwrap_or(0);
    if t > 0 {
        let mut batch = Vec::with_capacity(jobs.len() * t);
        for j in &jobs {
            let (s, e, _, _) = j.win;
            batch.extend_from_slice(&j.seq[s..e]);
            batch.extend(std::iter::repeat_n(eos, t - (e - s)));
        }
        let hidden = weights
            .forward_batch(&batch, jobs.len())
            .map_err(|e| TrainError::candle("scoring task items", e))?;
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (r, j) in jobs.iter().enumerate() {
            let (s, _, k0, k1) = j.win;
            // Input position p (sequence index s + p) predicts sequence index s + p + 1.
            for k in k0..k1 {
                let p = k - 1 - s;
                rows.extend_from_slice(&hidden[(r * t + p) * c..(r * t + p + 1) * c]);
                targets.push((j.choice, j.seq[k]));
            }
        }
        let logits = weights.logits(&rows);
        for (row, &(k, target)) in logits.chunks_exact(v).zip(&targets) {
            scores[k].nats += nll(row, target);
            scores[k].tokens += 1;
        }
    }
    let per_byte = |s: &ChoiceScore| -s.nats / f64::from(s.bytes.max(1));
    let mut predicted = 0;
    for (k, s) in scores.iter().enumerate() {
        if per_byte(s) > per_byte(&scores[predicted]) {
            predicted = k;
        }
    }
    Ok(ItemScore {
        id: item.id.clone(),
        choices: scores,
        label: item.label,
        predicted,
        context_cut,
        choice_rolled,
    })
}

/// A model's figures on one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskReport {
    /// The task's name.
    pub task: String,
    /// Items scored.
    pub items: u64,
    /// Share of items whose correct choice has the highest likelihood per byte.
    pub accuracy: f64,
    /// The accuracy of always answering at random (the mean of 1 / choices).
    pub chance: f64,
    /// `-log2 P(correct | context)` over the correct choices' bytes, all items together.
    pub correct_bits_per_byte: f64,
    /// Items whose context was cut from the left to fit the window.
    pub context_cut: u64,
    /// Items with a choice longer than the window (scored in rolling windows).
    pub choice_rolled: u64,
    /// Tokens scored (every choice's).
    pub tokens: u64,
    /// Seconds spent.
    pub seconds: f64,
}

impl TaskReport {
    /// The figures of `scores` (in item order).
    pub fn of(task: &str, scores: &[ItemScore], seconds: f64) -> TaskReport {
        let n = scores.len().max(1) as f64;
        let (mut right, mut chance, mut bits, mut bytes, mut tokens) = (0u64, 0.0, 0.0, 0u64, 0);
        for s in scores {
            right += u64::from(s.predicted == s.label);
            chance += 1.0 / s.choices.len() as f64;
            let c = &s.choices[s.label];
            bits += c.nats / std::f64::consts::LN_2;
            bytes += u64::from(c.bytes);
            tokens += s.choices.iter().map(|c| u64::from(c.tokens)).sum::<u64>();
        }
        TaskReport {
            task: task.to_string(),
            items: scores.len() as u64,
            accuracy: right as f64 / n,
            chance: chance / n,
            correct_bits_per_byte: bits / bytes.max(1) as f64,
            context_cut: scores.iter().filter(|s| s.context_cut).count() as u64,
            choice_rolled: scores.iter().filter(|s| s.choice_rolled).count() as u64,
            tokens,
            seconds,
        }
    }
}

/// A loaded causal model and its tokenizer.
pub struct Scorer {
    /// The weights.
    pub weights: Weights,
    /// The tokenizer.
    pub tok: Tokenizer,
    /// Its file.
    pub tok_path: PathBuf,
    /// The end-of-sequence token every scored sequence starts after.
    pub eos: u32,
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// Its training step.
    pub step: u64,
}

impl Scorer {
    /// Loads the checkpoint at `path` (a checkpoint or train output directory); an MLM
    /// checkpoint is refused (it has no likelihood of a continuation).
    pub fn load(path: &Path) -> Result<Scorer, TrainError> {
        let dir = checkpoint::find(path)?;
        let loaded = checkpoint::load(&dir, &Device::Cpu, false)?;
        let cfg: GptConfig = loaded.state.model.clone();
        if cfg.objective == Objective::Mlm {
            return Err(TrainError::Tasks(format!(
                "{}: a masked-LM checkpoint does not give the likelihood of a continuation; tasks need a causal model",
                dir.display()
            )));
        }
        let (tok, tok_path) = checkpoint::tokenizer_of(&dir, &loaded.state.tokenizer)?;
        let weights = Weights::from_tensors(&cfg, &loaded.model)
            .map_err(|e| TrainError::candle(format!("loading {}", dir.display()), e))?;
        Ok(Scorer {
            weights,
            tok,
            tok_path,
            eos: loaded.state.eos_id.unwrap_or(0),
            dir,
            step: loaded.state.step,
        })
    }

    /// Scores every item, in parallel on the current rayon pool; results in item order.
    pub fn score(&self, items: &[TaskItem]) -> Result<Vec<ItemScore>, TrainError> {
        items
            .par_iter()
            .map(|it| score_item(&self.weights, &self.tok, &self.tok_path, self.eos, it))
            .collect()
    }
}

/// Evaluates the checkpoint at `path` on task files `(name, file)`, at most `max_items` items
/// each, on `threads` threads (0: one per core). With `per_item`, every item's scores are
/// written there as JSON lines (`task`, `id`, `choices`: nats, tokens, bytes; `label`,
/// `predicted`).
pub fn evaluate_tasks(
    path: &Path,
    tasks: &[(String, PathBuf)],
    max_items: Option<usize>,
    threads: usize,
    per_item: Option<&Path>,
) -> Result<Vec<TaskReport>, TrainError> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| TrainError::Tasks(format!("threads: {e}")))?;
    // Every task file is read (and refused, naming the file and line) before the model loads.
    let sets: Vec<Vec<TaskItem>> = tasks
        .iter()
        .map(|(_, file)| read_tasks(file, max_items))
        .collect::<Result<_, _>>()?;
    let scorer = Scorer::load(path)?;
    let mut out = Vec::new();
    let mut lines = String::new();
    for ((name, _), items) in tasks.iter().zip(sets) {
        let t0 = Instant::now();
        let scores = pool.install(|| scorer.score(&items))?;
        let r = TaskReport::of(name, &scores, t0.elapsed().as_secs_f64());
        tracing::info!(
            "{name}: {} items, accuracy {:.4} (chance {:.4}), correct-choice {:.4} bits/byte, {:.0} tokens/s",
            r.items,
            r.accuracy,
            r.chance,
            r.correct_bits_per_byte,
            r.tokens as f64 / r.seconds.max(1e-9)
        );
        if per_item.is_some() {
            for s in &scores {
                let mut v = serde_json::to_value(s).unwrap_or_default();
                v["task"] = serde_json::Value::String(name.clone());
                lines.push_str(&v.to_string());
                lines.push('\n');
            }
        }
        out.push(r);
    }
    if let Some(p) = per_item {
        std::fs::write(p, lines).map_err(|source| TrainError::Io {
            path: p.to_path_buf(),
            source,
        })?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<(Option<String>, String, Vec<String>, usize), String> {
        parse_item(line)
    }

    #[test]
    fn items_are_checked_field_by_field() {
        let ok = parse(r#"{"id": "q1", "context": "Q?", "choices": [" a", " b"], "label": 1}"#);
        assert_eq!(
            ok,
            Ok((
                Some("q1".into()),
                "Q?".into(),
                vec![" a".into(), " b".into()],
                1
            ))
        );
        assert_eq!(
            parse(r#"{"context": "Q?", "choices": [" a", " b"]}"#).unwrap_err(),
            "label: missing"
        );
        assert_eq!(
            parse(r#"{"context": "Q?", "choices": [" a", " b"], "label": 2}"#).unwrap_err(),
            "label: 2 is out of range for 2 choices (0-based)"
        );
        assert_eq!(
            parse(r#"{"context": "Q?", "choices": [" a", " b"], "label": -1}"#).unwrap_err(),
            "label: must be a 0-based index, found -1"
        );
        assert_eq!(
            parse(r#"{"context": "Q?", "choices": [" a", "  "], "label": 0}"#).unwrap_err(),
            "choices[1]: empty"
        );
        assert_eq!(
            parse(r#"{"context": "Q?", "choices": [" a"], "label": 0}"#).unwrap_err(),
            "choices: an item needs at least 2, found 1"
        );
        assert_eq!(
            parse(r#"{"choices": [" a", " b"], "label": 0}"#).unwrap_err(),
            "context: missing"
        );
        assert!(parse("{not json")
            .unwrap_err()
            .starts_with("not a JSON object"));
    }

    #[test]
    fn windows_predict_every_target_once_within_the_context() {
        // 10 tokens, targets from 3, context 4: inputs end right before each window's last
        // target; the second window keeps as much before it as fits.
        assert_eq!(windows(10, 3, 4), vec![(2, 6, 3, 7), (5, 9, 7, 10)]);
        // Four targets fit one window of 4.
        assert_eq!(windows(10, 6, 4), vec![(5, 9, 6, 10)]);
        // Everything fits: one window from the start.
        assert_eq!(windows(6, 3, 8), vec![(0, 5, 3, 6)]);
        for (n, from, l) in [(50, 1, 7), (20, 19, 3), (9, 2, 9)] {
            let w = windows(n, from, l);
            let mut next = from;
            for &(s, e, k0, k1) in &w {
                assert_eq!(k0, next);
                assert!(e - s <= l && s < k0 && e == k1 - 1, "{w:?}");
                next = k1;
            }
            assert_eq!(next, n);
        }
    }

    #[test]
    fn reports_add_up_in_item_order() {
        let c = |nats: f64, bytes: u32| ChoiceScore {
            nats,
            tokens: 2,
            bytes,
        };
        let scores = vec![
            ItemScore {
                id: "a".into(),
                choices: vec![c(2.0, 4), c(1.0, 4)],
                label: 1,
                predicted: 1,
                context_cut: false,
                choice_rolled: false,
            },
            ItemScore {
                id: "b".into(),
                choices: vec![c(3.0, 2), c(1.0, 2), c(9.0, 2), c(9.0, 2)],
                label: 0,
                predicted: 1,
                context_cut: true,
                choice_rolled: false,
            },
        ];
        let r = TaskReport::of("t", &scores, 1.0);
        assert_eq!(
            (r.items, r.accuracy, r.context_cut, r.tokens),
            (2, 0.5, 1, 12)
        );
        assert!((r.chance - 0.375).abs() < 1e-12);
        let bits = (1.0 + 3.0) / std::f64::consts::LN_2;
        assert!((r.correct_bits_per_byte - bits / 6.0).abs() < 1e-12);
    }
}
