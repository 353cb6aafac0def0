#!/usr/bin/env bash
# Chinese words against Python jieba (the segmenter datatrove uses for Chinese) on every Chinese
# document of ../shared/data. Makes .venv-jieba (jieba from PyPI; kept between runs), builds the
# `parity` example and compares document by document. Says SKIPPED when the data is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${CORPUSFORGE_DATA:-../shared/data}"
if [ ! -f "$DATA/multilingual/fortunes.jsonl" ]; then
    echo "jieba_check: SKIPPED ($DATA/multilingual is not present)"
    exit 0
fi
if [ ! -x .venv-jieba/bin/python ]; then
    python3 -m venv .venv-jieba
fi
.venv-jieba/bin/python -c "import jieba" 2>/dev/null || .venv-jieba/bin/pip install -q "jieba==0.42.1"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
cargo build --release --example parity
.venv-jieba/bin/python scripts/jieba_check.py "$CARGO_TARGET_DIR/release/examples/parity" "$DATA"
