#!/usr/bin/env bash
# Decision parity with datatrove: makes .venv (datatrove from PyPI, with spaCy for its English
# word tokenizer), builds the `parity` example, and compares each filter's keep/drop decision
# document by document on ../shared/data (english/prose.jsonl and html/pages.jsonl after our
# html_strip). Usage: scripts/datatrove_parity.sh [DOCS_PER_SET]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${CORPUSFORGE_DATA:-../shared/data}"
if [ ! -f "$DATA/english/prose.jsonl" ]; then
    echo "no $DATA/english/prose.jsonl: set CORPUSFORGE_DATA to the shared data directory" >&2
    exit 1
fi
. scripts/parity_setup.sh
parity_setup .venv "datatrove, spacy" "datatrove[processing]" spacy
"$PY" scripts/datatrove_parity.py "$PARITY" "$DATA" "${1:-2000}"
