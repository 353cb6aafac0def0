#!/usr/bin/env bash
# Scores the `extract` stage on ../shared/data/html-extraction (trafilatura's evaluation pages)
# with ../shared/bench/extraction_score.py, and trafilatura itself on the same pages, one after
# the other on this machine, for the side-by-side figures. Sets up its own venv (.venv-extract,
# ignored by git) with pyarrow, trafilatura and lxml_html_clean; says SKIPPED when it cannot.
#   bash scripts/extraction_score.sh            # corpusforge and trafilatura
#   bash scripts/extraction_score.sh --ours     # corpusforge only
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
VENV="${EXTRACT_VENV:-.venv-extract}"
SCORE=../shared/bench/extraction_score.py
skip() {
    echo "extraction_score: SKIPPED: $*"
    exit 0
}
[ -f "$SCORE" ] || skip "$SCORE is not present"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; skip "python3 -m venv failed"; }
fi
PY="$VENV/bin/python"
"$PY" -c "import pyarrow" >/dev/null 2>&1 || "$PY" -m pip install --quiet pyarrow || skip "pip could not install pyarrow"
cargo build --release --quiet --bin corpusforge
BIN="$CARGO_TARGET_DIR/release/corpusforge"
start=$(date +%s.%N)
"$BIN" run pipelines/extract-eval.yaml >/dev/null
end=$(date +%s.%N)
echo "corpusforge extract: $(echo "949 / ($end - $start)" | bc -l | xargs printf '%.0f') pages/s for the whole run on one thread (reading, writing and parquet included)"
"$PY" "$SCORE" out/extract-eval
if [ "${1:-}" != "--ours" ]; then
    "$PY" -c "import trafilatura, lxml_html_clean" >/dev/null 2>&1 \
        || "$PY" -m pip install --quiet trafilatura lxml_html_clean \
        || skip "pip could not install trafilatura"
    "$PY" "$SCORE" --trafilatura
fi
