#!/usr/bin/env bash
# The model-quality recipe end to end on ../shared/data: the reference language model, the
# quality classifier, then pipelines/model-quality.yaml (report in out/model-quality/report/).
#   scripts/model_quality.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
[ -f ../shared/data/english/prose.jsonl ] || { echo "model_quality: SKIPPED: ../shared/data is not present"; exit 0; }
cargo build --release --quiet --bin corpusforge
BIN="$CARGO_TARGET_DIR/release/corpusforge"
"$BIN" run pipelines/reference-lm.yaml
mkdir -p out/model-quality
"$BIN" classifier train --positive ../shared/data/english/prose.jsonl \
    --negative ../shared/data/html/pages.jsonl --out out/model-quality/classifier.cfqc
"$BIN" run pipelines/model-quality.yaml
