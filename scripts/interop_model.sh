#!/usr/bin/env bash
# Interop check: corpusforge models exported with `corpusforge export model --format hf` open in
# Hugging Face `transformers` and compute the same function.
#
# Trains two tiny models on fixtures/ (a causal decoder, and a masked-LM encoder whose tokenizer
# gets [MASK] and [PAD]), exports both, then scripts/interop_model.py loads them with
# AutoModelForCausalLM / AutoModelForMaskedLM and AutoTokenizer and checks:
#   - logits on the same token ids agree with `corpusforge logits` within 1e-4 (max abs);
#   - greedy `generate` (corpusforge's kv-cache path) equals `model.generate(do_sample=False)`
#     token for token;
#   - OUT/tokenizer_config.json of a run opens with AutoTokenizer and encodes as the run did.
#
# Sets up its own venv with CPU torch (INTEROP_MODEL_VENV, default
# ~/.cache/corpusforge-venv-model, kept between runs). Without python3, or when the packages
# cannot be installed (offline), it prints SKIPPED and exits 0; a mismatch exits 1.
#   scripts/interop_model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
VENV="${INTEROP_MODEL_VENV:-$HOME/.cache/corpusforge-venv-model}"

skip() {
    echo "interop_model: SKIPPED: $*"
    exit 0
}

command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; skip "python3 -m venv failed (install python3-venv)"; }
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import torch, transformers, safetensors" >/dev/null 2>&1; then
    echo "interop_model: installing torch (CPU), transformers, safetensors into $VENV"
    # The CPU-only wheel index first (small); PyPI's default wheel otherwise.
    "$PY" -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu >/dev/null 2>&1 \
        || "$PY" -m pip install --quiet torch \
        || skip "pip could not install torch (offline?)"
    "$PY" -m pip install --quiet transformers safetensors numpy \
        || skip "pip could not install transformers (offline?)"
    "$PY" -c "import torch, transformers, safetensors" >/dev/null 2>&1 || skip "the packages installed but do not import"
fi

cargo build --release --quiet --bin corpusforge
BIN="$CARGO_TARGET_DIR/release/corpusforge"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

pipeline() { # NAME OBJECTIVE
    cat > "$WORK/$1.yaml" <<YAML
input:
  paths: ["$PWD/fixtures/jsonl", "$PWD/fixtures/txt"]
  txt_mode: paragraphs
stages:
  - type: tokenize
    tokenizer: {train: {vocab_size: 512, min_frequency: 2}}
    eos: "<|endoftext|>"
    val_fraction: 0.1
output:
  dir: $1
train:
  objective: $2
  model: {n_layer: 2, n_head: 4, n_embd: 64, seq_len: 64}
  optimizer: {lr: 3.0e-3, min_lr: 3.0e-4, warmup_steps: 5}
  batch_size: 8
  max_steps: 40
  eval_interval: 20
  checkpoint_interval: 40
YAML
    "$BIN" run "$WORK/$1.yaml" --output "$WORK/$1" >"$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log"; exit 1; }
    "$BIN" export model --format hf "$WORK/$1/train" "$WORK/$1-hf" >>"$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log"; exit 1; }
}
pipeline clm clm
pipeline mlm mlm

"$PY" scripts/interop_model.py "$BIN" "$WORK"
echo "interop_model: OK"
