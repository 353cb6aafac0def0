# Sourced by the scripts that compare the `parity` example with Python packages.
# parity_setup VENV MODULES PACKAGE...: makes the venv VENV (kept between runs), installs the
# packages into it unless MODULES (as `import` takes them) already import, and builds the
# `parity` example. Sets PY (the venv's python) and PARITY (the example's binary).
parity_setup() {
    local venv="$1" modules="$2"
    shift 2
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -c "import $modules" 2>/dev/null || "$venv/bin/pip" install -q "$@"
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
    cargo build --release --example parity
    PY="$venv/bin/python"
    PARITY="$CARGO_TARGET_DIR/release/examples/parity"
}
