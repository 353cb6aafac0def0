#!/usr/bin/env bash
# Interop check: `corpusforge export tokens --format megatron|datatrove|npy` read back by the
# readers of the projects that define the formats: Megatron-LM's `IndexedDataset`
# (megatron-core), datatrove's `DatatroveFolderDataset`, and numpy's `np.load(mmap_mode="r")`.
# Every document of both splits must come back with the same tokens in the same order
# (scripts/interop_tokens.py compares them with the token shards, read with pyarrow).
#
# Its venv (INTEROP_TOKENS_VENV, default ~/.cache/corpusforge-venv-tokens, kept between runs)
# holds megatron-core, datatrove and pyarrow; torch, which both readers import, is taken from
# the venv of scripts/interop_model.sh (run before it by .ci/run) through a .pth file rather than
# installed a second time. Prints SKIPPED and exits 0 where that cannot be set up.
#   scripts/interop_tokens.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
VENV="${INTEROP_TOKENS_VENV:-$HOME/.cache/corpusforge-venv-tokens}"
TORCH_VENV="${INTEROP_MODEL_VENV:-$HOME/.cache/corpusforge-venv-model}"

skip() {
    echo "interop_tokens: SKIPPED: $*"
    exit 0
}

command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
[ -x "$TORCH_VENV/bin/python" ] && "$TORCH_VENV/bin/python" -c "import torch" >/dev/null 2>&1 \
    || skip "no torch in $TORCH_VENV (scripts/interop_model.sh sets it up)"
if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; skip "python3 -m venv failed"; }
fi
PY="$VENV/bin/python"
TORCH_SITE="$("$TORCH_VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
SITE="$("$PY" -c 'import site; print(site.getsitepackages()[0])')"
echo "$TORCH_SITE" >"$SITE/corpusforge-torch.pth"
if ! "$PY" -c "import megatron.core.datasets.indexed_dataset, datatrove.utils.dataset, pyarrow" >/dev/null 2>&1; then
    echo "interop_tokens: installing megatron-core, datatrove, pyarrow into $VENV"
    "$PY" -m pip install --quiet "megatron-core==0.16.1" "datatrove==0.10.1" pyarrow numpy \
        || skip "pip could not install the readers (offline?)"
    "$PY" -c "import megatron.core.datasets.indexed_dataset, datatrove.utils.dataset, pyarrow" \
        >/dev/null 2>&1 || skip "the readers installed but do not import"
fi

cargo build --release --quiet --bin corpusforge
BIN="$CARGO_TARGET_DIR/release/corpusforge"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$BIN" run pipelines/cluster.yaml --output "$WORK/run" >"$WORK/run.log" 2>&1 \
    || { cat "$WORK/run.log" >&2; exit 1; }
for f in megatron datatrove npy; do
    "$BIN" export tokens --format "$f" "$WORK/run" "$WORK/$f" >/dev/null
done
PYTHONWARNINGS=ignore "$PY" scripts/interop_tokens.py "$WORK/run" "$WORK"
echo "interop_tokens: OK"
