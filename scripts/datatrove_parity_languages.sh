#!/usr/bin/env bash
# Per-language decision parity with datatrove (FineWeb-2's per-language settings on both sides)
# and Chinese words against Python jieba, on ../shared/data. Makes .venv (datatrove, spaCy,
# jieba from PyPI) as scripts/datatrove_parity.sh does, builds the `parity` example.
# Usage: scripts/datatrove_parity_languages.sh [LANGS] (default cmn; e.g. cmn,deu,fra,rus)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${CORPUSFORGE_DATA:-../shared/data}"
if [ ! -f "$DATA/multilingual/debian-handbook.jsonl" ]; then
    echo "no $DATA/multilingual: set CORPUSFORGE_DATA to the shared data directory" >&2
    exit 1
fi
. scripts/parity_setup.sh
parity_setup .venv "datatrove, spacy, jieba" "datatrove[processing]" spacy jieba
"$PY" scripts/datatrove_parity_languages.py "$PARITY" "$DATA" src/text/languages.json --languages "${1:-cmn}" --words
