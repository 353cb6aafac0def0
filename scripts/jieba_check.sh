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
. scripts/parity_setup.sh
parity_setup .venv-jieba jieba "jieba==0.42.1"
"$PY" scripts/jieba_check.py "$PARITY" "$DATA"
