#!/usr/bin/env bash
# Interop check: the tokenizer.json and token shards corpusforge writes agree with Python
# `tokenizers` and `transformers` (PreTrainedTokenizerFast).
#
# Runs three pipelines into a temporary directory: a byte-level BPE trained on fixtures/ and
# some tricky texts (whitespace runs, CRLF, emoji, CJK, combining marks, a literal special
# token), and, when ../shared/data is present, the GPT-2 and BERT tokenizer.json files loaded.
# Then scripts/interop_tokenizer.py encodes every document in Python and compares.
#
# Sets up its own venv (.venv-interop, ignored by git). Without python3, or when the packages
# cannot be installed (no network), it prints SKIPPED and exits 0; a mismatch exits 1.
#   scripts/interop_tokenizer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
VENV="${INTEROP_VENV:-.venv-interop}"

skip() {
    echo "interop_tokenizer: SKIPPED: $*"
    exit 0
}

command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; skip "python3 -m venv failed (install python3-venv)"; }
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import tokenizers, transformers, pyarrow" >/dev/null 2>&1; then
    echo "interop_tokenizer: installing tokenizers, transformers, pyarrow into $VENV (no torch)"
    if ! "$PY" -m pip install --quiet tokenizers transformers pyarrow; then
        skip "pip could not install tokenizers, transformers and pyarrow (offline?)"
    fi
    "$PY" -c "import tokenizers, transformers, pyarrow" >/dev/null 2>&1 || skip "the packages installed but do not import"
fi

cargo build --release --quiet --bin corpusforge
BIN="$CARGO_TARGET_DIR/release/corpusforge"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Tricky texts, written with Python so that the JSON escapes are right.
"$PY" - "$WORK/tricky.jsonl" <<'PYEOF'
import json, sys
texts = [
    "Hello world",
    "  leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\nand CRLF\r\n\r\n",
    "emoji 🎉👍🏽 and flags 🇫🇷",
    "CJK 東京タワーは高い。 Кириллица тоже.",
    "combining e\u0301 vs precomposed é; ﬁ ligature",
    "a literal <|endoftext|> inside the text",
    "numbers 3.14159, 2024-11-22, 1,000,000 and 0xDEADBEEF",
    "x" * 3000,
    "code:\n    def f(x):\n        return x ** 2  # squared\n",
    "",
]
with open(sys.argv[1], "w") as f:
    for i, t in enumerate(texts):
        f.write(json.dumps({"id": f"tricky-{i}", "text": t}) + "\n")
PYEOF

inputs="[\"$WORK/tricky.jsonl\""
for d in fixtures/jsonl fixtures/txt; do
    [ -d "$d" ] && inputs="$inputs, \"$PWD/$d\""
done
inputs="$inputs]"

pipeline() { # OUT TOKENIZER_YAML EOS BOS
    cat > "$WORK/$1.yaml" <<YAML
input:
  paths: $inputs
  txt_mode: paragraphs
stages:
  - type: tokenize
    tokenizer: $2
    eos: "$3"
$( [ -n "$4" ] && echo "    bos: \"$4\"" )
    val_fraction: 0.1
output:
  dir: $1
YAML
    "$BIN" run "$WORK/$1.yaml" --output "$WORK/$1" >"$WORK/$1.log" 2>&1 || { cat "$WORK/$1.log"; exit 1; }
    outs="$outs $WORK/$1"
}

outs=""
pipeline trained '{train: {vocab_size: 2048, min_frequency: 2}}' '<|endoftext|>' '<|startoftext|>'
SHARED=../shared/data/tokenizers
if [ -f "$SHARED/gpt2/tokenizer.json" ]; then
    pipeline gpt2 "{path: \"$PWD/$SHARED/gpt2/tokenizer.json\"}" '<|endoftext|>' ''
    pipeline bert "{path: \"$PWD/$SHARED/bert-base-uncased/tokenizer.json\"}" '[SEP]' '[CLS]'
else
    echo "interop_tokenizer: $SHARED not present: checking the trained tokenizer only"
fi

"$PY" scripts/interop_tokenizer.py $outs
echo "interop_tokenizer: OK"
