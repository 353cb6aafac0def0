#!/usr/bin/env bash
# The Python side of `cargo bench --bench tokenize`: Python `tokenizers` and `tiktoken` encoding
# the same texts with GPT-2's tokenizer (../shared/data), for the side-by-side ratio. Sets up its
# own venv (.venv-bench, ignored by git); without python3 or the packages it says SKIPPED.
#   bash scripts/bench_tokenizers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BENCH_VENV:-.venv-bench}"
skip() {
    echo "bench_tokenizers: SKIPPED: $*"
    exit 0
}
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
[ -f ../shared/data/tokenizers/gpt2/tokenizer.json ] || skip "../shared/data is not present"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; skip "python3 -m venv failed"; }
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import tokenizers, tiktoken" >/dev/null 2>&1; then
    "$PY" -m pip install --quiet "tokenizers==0.22.2" tiktoken || skip "pip could not install tokenizers and tiktoken"
fi
exec "$PY" scripts/bench_tokenizers.py "$@"
