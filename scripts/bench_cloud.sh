#!/usr/bin/env bash
# Throughput of the FineWeb-like filter chain reading from and writing to a local S3 server
# (moto, see scripts/cloud_local.sh) against the same run on local disk, in one session,
# alternating the two. Whole-process figures: wall time, MB/s of input per core, peak RSS;
# then `corpusforge diff` of the two outputs.
#
# Usage: scripts/bench_cloud.sh [THREADS...]   (default: 1 2; BENCH_REPEAT=N runs each, default 3)
# Needs ../shared/data (english/prose.jsonl and html/pages.jsonl: 100 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DATA="$ROOT/../shared/data"
if [ ! -f "$DATA/english/prose.jsonl" ] || [ ! -f "$DATA/html/pages.jsonl" ]; then
    echo "skipping: ../shared/data is not present"
    exit 0
fi
THREADS=("$@")
if [ ${#THREADS[@]} -eq 0 ]; then
    THREADS=(1 2)
fi
REPEAT="${BENCH_REPEAT:-3}"

# shellcheck source=scripts/cloud_local.sh
source scripts/cloud_local.sh
cloud_setup
if [ "$CLOUD_SKIPPED" = 1 ]; then
    exit 0
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
cargo build --release 2>/dev/null
BIN="$CARGO_TARGET_DIR/release/corpusforge"
W="$(mktemp -d)"
trap 's3_stop || true; rm -rf "$W"' EXIT
s3_start "$W"
S3T=("$CLOUD_PY" "$ROOT/scripts/s3_tool.py")
"${S3T[@]}" mb bench >/dev/null
mkdir -p "$W/data/english" "$W/data/html"
cp "$DATA/english/prose.jsonl" "$W/data/english/"
cp "$DATA/html/pages.jsonl" "$W/data/html/"
"${S3T[@]}" put "$W/data" s3://bench/data >/dev/null
MB=$(du -cb "$W"/data/*/*.jsonl | tail -1 | awk '{printf "%.1f", $1 / 1e6}')

pipeline() {
    local prefix="$1"
    cat <<EOF
input:
  paths: [${prefix}data/english/prose.jsonl, ${prefix}data/html/pages.jsonl]
  text_field: text
  id_field: id
  metadata_fields: [url, lang, source]
stages:
  - type: html_strip
  - type: normalize
    form: nfc
  - type: language
    allow: [eng]
    min_score: 0.65
  - type: gopher_repetition
    signals: true
  - type: gopher_quality
    signals: true
  - type: c4
    filter_no_terminal_punct: false
    signals: true
  - type: fineweb
    signals: true
  - type: minhash_dedup
  - type: pii
output:
  dir: out
  write_dropped: true
  write_signals: true
EOF
}
pipeline "" >"$W/local.yaml"
pipeline "s3://bench/" >"$W/s3.yaml"

# One run: prints "SECONDS PEAK_KB".
one() {
    local yaml="$1" out="$2" threads="$3"
    (cd "$W" && /usr/bin/time -f "%e %M" -o "$W/time.txt" \
        "$BIN" run "$yaml" --output "$out" --threads "$threads" >"$W/run.log" 2>&1) ||
        { cat "$W/run.log" >&2; exit 1; }
    cat "$W/time.txt"
}

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "FineWeb-like chain on $MB MB (english/prose.jsonl + html/pages.jsonl); moto S3 on 127.0.0.1"
printf '%-8s %-6s %10s %12s %14s %12s\n' threads store "median s" "MB/s" "MB/s per core" "peak RSS MB"
k=0
for t in "${THREADS[@]}"; do
    : >"$W/local.times"
    : >"$W/s3.times"
    for _ in $(seq 1 "$REPEAT"); do
        k=$((k + 1))
        one local.yaml "$W/out-local-$k" "$t" >>"$W/local.times"
        one s3.yaml "s3://bench/out-$k" "$t" >>"$W/s3.times"
    done
    for store in local s3; do
        s=$(awk '{print $1}' "$W/$store.times" | median)
        rss=$(awk '{print $2}' "$W/$store.times" | sort -g | tail -1)
        awk -v t="$t" -v st="$store" -v s="$s" -v mb="$MB" -v rss="$rss" \
            'BEGIN {printf "%-8s %-6s %10.2f %12.1f %14.1f %12.0f\n", t, st, s, mb / s, mb / s / t, rss / 1024}'
        eval "${store}_s=$s"
    done
    # shellcheck disable=SC2154 # set by the eval above
    awk -v a="$s3_s" -v b="$local_s" -v t="$t" 'BEGIN {printf "%-8s s3 / local throughput: %.2fx\n", t, b / a}'
done
"$BIN" diff "s3://bench/out-$k" "$W/out-local-$k" | tail -1
