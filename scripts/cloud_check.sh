#!/usr/bin/env bash
# End-to-end check of object storage and Ray on this machine: a local S3 server (moto's
# standalone server: an S3 implementation that installs from PyPI with no other service, keeps
# objects under a recording it replays on restart, and can check credentials) and a one-node
# Ray cluster (`ray start --head`), both set up by scripts/cloud_local.sh and stopped at the end.
#
#  1. jsonl, jsonl.gz, jsonl.zst, parquet and WARC inputs read from s3:// and every output
#     written to s3:// equal the same run on local disk (`corpusforge diff`).
#  2. pipelines/cluster.yaml as 4 Ray tasks, input and output on s3://, equals the
#     single-process run; with one filter task made to fail once, Ray retries it and the
#     result is still equal, and a second `corpusforge ray` finds nothing left to run.
#  3. The server stopped mid-run: the run fails naming the object, the store holds no partial
#     object, and `--resume` once the server is back finishes with the same output as an
#     uninterrupted run.
#  4. A missing bucket and refused credentials are clear errors before any document is read.
#
# Prints "SKIPPED: cloud check: ..." and exits 0 where the servers cannot be installed.
# Usage: scripts/cloud_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
T0="$(date +%s)"
unset CORPUSFORGE_FAIL_TASK

# shellcheck source=scripts/cloud_local.sh
source scripts/cloud_local.sh
cloud_setup
if [ "$CLOUD_SKIPPED" = 1 ]; then
    exit 0
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
cargo build --release
BIN="$CARGO_TARGET_DIR/release/corpusforge"

W="$(mktemp -d)"
trap 'ray_stop || true; s3_stop || true; s3_stop_auth || true' EXIT
s3_start "$W"
ray_start "$W"
S3T=("$CLOUD_PY" "$ROOT/scripts/s3_tool.py")
# Failing requests are retried for this long before a run gives up (default 120 s).
export CORPUSFORGE_STORE_RETRY_SECONDS=4

fail() {
    echo "cloud check: FAILED: $*" >&2
    echo "work dir kept: $W" >&2
    trap - EXIT
    ray_stop || true
    s3_stop || true
    s3_stop_auth || true
    exit 1
}

same() {
    local a="$1" b="$2" what="$3"
    if ! "$BIN" diff "$a" "$b" >"$W/diff.txt" 2>&1; then
        cat "$W/diff.txt" >&2
        fail "$what: $a and $b differ"
    fi
    echo "ok: $what ($(tail -1 "$W/diff.txt"))"
}

# A pipeline derived from $1 with its `../fixtures/` inputs under $2 and its output in $3.
derive() {
    local src="$1" prefix="$2" out="$3" dest="$4"
    sed -e "s#\.\./fixtures/#${prefix}#g" -e "s#^  dir: .*#  dir: ${out}#" "$src" >"$dest"
}

"${S3T[@]}" mb cloudcheck >/dev/null
# The fixtures the pipelines read, on disk beside the pipelines (so that local and s3 inputs
# get the same names: a relative path and an object key) and in the bucket.
mkdir -p "$W/fixtures"
cp -r fixtures/jsonl fixtures/jsonl_gz fixtures/jsonl_zst fixtures/parquet fixtures/txt \
    fixtures/warc "$W/fixtures/"
rm -f "$W/fixtures/warc/README.md"
"${S3T[@]}" put "$W/fixtures" s3://cloudcheck/fixtures >/dev/null

# 1. Every input format from s3://, every output to s3://.
cat >"$W/formats-base.yaml" <<'EOF'
input:
  paths:
    - ../fixtures/jsonl
    - ../fixtures/jsonl_gz
    - ../fixtures/jsonl_zst
    - ../fixtures/parquet/*.parquet
    - ../fixtures/warc
  text_field: text
  id_field: id
  metadata_fields: [url, lang, source]
stages:
  - type: html_strip
  - type: normalize
    form: nfc
  - type: language
  - type: gopher_quality
  - type: exact_dedup
  - type: minhash_dedup
  - type: tokenize
    tokenizer:
      train: {vocab_size: 512, min_frequency: 2}
    eos: "<|endoftext|>"
    val_fraction: 0.05
output:
  dir: ../out/formats
  shard_max_docs: 100
  write_dropped: true
run:
  batch_size: 64
train:
  model: {n_layer: 1, n_head: 2, n_embd: 32, seq_len: 32, dropout: 0.0}
  batch_size: 4
  max_steps: 5
  eval_interval: 5
  checkpoint_interval: 5
EOF
derive "$W/formats-base.yaml" "fixtures/" "out-formats" "$W/formats-local.yaml"
derive "$W/formats-base.yaml" "s3://cloudcheck/fixtures/" "s3://cloudcheck/formats" "$W/formats-s3.yaml"
(cd "$W" && "$BIN" run formats-local.yaml >"$W/formats-local.log" 2>&1) ||
    { cat "$W/formats-local.log" >&2; fail "local formats run"; }
(cd "$W" && "$BIN" run formats-s3.yaml >"$W/formats-s3.log" 2>&1) ||
    { cat "$W/formats-s3.log" >&2; fail "s3 formats run"; }
same s3://cloudcheck/formats "$W/out-formats" "jsonl, jsonl.gz, jsonl.zst, parquet and WARC from s3:// into s3://"
for f in manifest.json stats.json tokenizer.json report/report.html train/run.json; do
    "${S3T[@]}" ls "s3://cloudcheck/formats/$f" | grep -q . || fail "s3://cloudcheck/formats/$f was not written"
done
if "${S3T[@]}" ls s3://cloudcheck/formats | grep -E '\.tmp |/\.resume/'; then
    fail "temporary files or resume state left in s3://cloudcheck/formats"
fi
echo "ok: manifest, stats, tokenizer, report and training outputs in the bucket, nothing temporary"

# 2. pipelines/cluster.yaml as 4 Ray tasks with input and output on s3://.
derive pipelines/cluster.yaml "fixtures/" "out-single" "$W/cluster-local.yaml"
derive pipelines/cluster.yaml "s3://cloudcheck/fixtures/" "s3://cloudcheck/cluster" "$W/cluster-s3.yaml"
(cd "$W" && "$BIN" run cluster-local.yaml >"$W/single.log" 2>&1) ||
    { cat "$W/single.log" >&2; fail "single-process cluster run"; }
ray_run() {
    local out="$1" log="$2"
    shift 2
    (cd "$W" && env "$@" "$BIN" ray cluster-s3.yaml --tasks 4 --output "$out" \
        --python "$CLOUD_PY" --retries 2 >"$log" 2>&1)
}
ray_run s3://cloudcheck/ray4 "$W/ray4.log" || { cat "$W/ray4.log" >&2; fail "corpusforge ray"; }
same s3://cloudcheck/ray4 "$W/out-single" "cluster.yaml as 4 Ray tasks on s3:// vs one process"
"${S3T[@]}" ls s3://cloudcheck/ray4/ray/logs | grep -q 'filter-3.log' || fail "no task logs in s3://cloudcheck/ray4/ray/logs"

ray_run s3://cloudcheck/ray4-retry "$W/retry.log" CORPUSFORGE_FAIL_TASK=filter:2:first ||
    { cat "$W/retry.log" >&2; fail "corpusforge ray with a task failing once"; }
grep -q 'filter part 2 attempt 1 failed' "$W/retry.log" || { cat "$W/retry.log" >&2; fail "the failed attempt was not reported"; }
"${S3T[@]}" get s3://cloudcheck/ray4-retry/ray/logs/filter-2.log "$W/retry-logs" >/dev/null
grep -q '=== attempt 2 exit 0' "$W/retry-logs/filter-2.log" || fail "the retry is not in the task's log"
same s3://cloudcheck/ray4-retry "$W/out-single" "4 Ray tasks, filter task 2 failing once and retried by Ray"
ray_run s3://cloudcheck/ray4-retry "$W/again.log" || { cat "$W/again.log" >&2; fail "rerun"; }
grep -q 'finalize   0 ran, 1 already complete' "$W/again.log" || { cat "$W/again.log" >&2; fail "a rerun ran finished tasks again"; }
echo "ok: a second corpusforge ray runs nothing"

# 3. The server stopped mid-run, then --resume.
mkdir -p "$W/fault/data"
python3 - "$W/fault/data/big.jsonl" <<'EOF'
import json, random, sys
random.seed(7)
words = open("fixtures/txt/hamlet.txt", encoding="utf-8").read().split()
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for i in range(120000):
        n = random.randint(60, 160)
        start = random.randrange(len(words) - n)
        text = " ".join(words[start:start + n]) + f" Document {i}."
        f.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
EOF
"${S3T[@]}" put "$W/fault/data" s3://cloudcheck/data >/dev/null
cat >"$W/fault/base.yaml" <<'EOF'
input:
  paths: [PREFIXdata/big.jsonl]
stages:
  - type: normalize
    form: nfc
  - type: gopher_repetition
  - type: gopher_quality
  - type: exact_dedup
output:
  dir: OUTDIR
  shard_max_docs: 4000
  write_dropped: true
run:
  batch_size: 256
  checkpoint_seconds: 1
EOF
sed -e 's#PREFIX##' -e 's#OUTDIR#out-local#' "$W/fault/base.yaml" >"$W/fault/local.yaml"
sed -e 's#PREFIX#s3://cloudcheck/#' -e 's#OUTDIR#s3://cloudcheck/fault/out#' "$W/fault/base.yaml" >"$W/fault/s3.yaml"
(cd "$W/fault" && "$BIN" run local.yaml --threads 1 >"$W/fault/local.log" 2>&1) ||
    { cat "$W/fault/local.log" >&2; fail "local fault reference run"; }
(cd "$W/fault" && exec "$BIN" run s3.yaml --threads 1 >"$W/fault/s3.log" 2>&1) &
RUN_PID=$!
for _ in $(seq 1 600); do
    if "${S3T[@]}" ls s3://cloudcheck/fault/out/.resume 2>/dev/null | grep -q checkpoint.json; then
        break
    fi
    if ! kill -0 "$RUN_PID" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
kill -0 "$RUN_PID" 2>/dev/null || fail "the run ended before the server could be stopped mid-run"
s3_stop
if wait "$RUN_PID"; then
    fail "the run succeeded with the server stopped"
fi
tail -3 "$W/fault/s3.log"
grep -q 's3://cloudcheck/fault/' "$W/fault/s3.log" || fail "the error does not name the object"
echo "ok: with the server stopped the run failed, naming the object"
s3_start "$W"
"$CLOUD_PY" - <<'EOF' || fail "a partial object is visible"
import boto3
s3 = boto3.client("s3")
bad = []
pages = s3.get_paginator("list_objects_v2").paginate(Bucket="cloudcheck", Prefix="fault/out/")
for page in pages:
    for o in page.get("Contents", []):
        key = o["Key"]
        if key.endswith(".tmp"):
            bad.append(key)
        if key.endswith(".parquet"):
            body = s3.get_object(Bucket="cloudcheck", Key=key)["Body"].read()
            if body[:4] != b"PAR1" or body[-4:] != b"PAR1":
                bad.append(key)
if bad:
    raise SystemExit("partial objects: " + ", ".join(bad))
print("every object under fault/out is whole")
EOF
(cd "$W/fault" && "$BIN" run s3.yaml --threads 1 --resume >"$W/fault/resume.log" 2>&1) ||
    { cat "$W/fault/resume.log" >&2; fail "--resume after the server came back"; }
grep -q -i 'resum' "$W/fault/resume.log" || { cat "$W/fault/resume.log" >&2; fail "the run did not resume from its checkpoint"; }
same s3://cloudcheck/fault/out "$W/fault/out-local" "a run interrupted by the server going away, resumed"

# 4. Wrong addresses and credentials fail before any document is read.
expect_error() {
    local what="$1" pattern="$2"
    shift 2
    if (cd "$W" && "$@" >"$W/err.log" 2>&1); then
        fail "$what: the run succeeded"
    fi
    grep -q "$pattern" "$W/err.log" || { cat "$W/err.log" >&2; fail "$what: no '$pattern' in the error"; }
    if grep -q 'records:' "$W/err.log"; then
        fail "$what: documents were read"
    fi
    echo "ok: $what: $(grep -m1 error "$W/err.log")"
}
expect_error "missing output bucket" "the bucket does not exist" \
    "$BIN" run formats-s3.yaml --output s3://no-such-bucket/out
sed -e 's#s3://cloudcheck/fixtures/#s3://no-such-bucket/fixtures/#' "$W/formats-s3.yaml" >"$W/nobucket.yaml"
expect_error "missing input bucket" "no-such-bucket" "$BIN" run nobucket.yaml --output "$W/out-nobucket"
s3_start_auth "$W"
AWS_ENDPOINT_URL="$S3AUTH_ENDPOINT" AWS_ACCESS_KEY_ID="$S3AUTH_KEY_ID" \
    AWS_SECRET_ACCESS_KEY="$S3AUTH_SECRET" "${S3T[@]}" mb cloudcheck >/dev/null
expect_error "wrong secret" "credentials were refused" env AWS_ENDPOINT_URL="$S3AUTH_ENDPOINT" \
    AWS_ACCESS_KEY_ID="$S3AUTH_KEY_ID" AWS_SECRET_ACCESS_KEY=wrong \
    "$BIN" run formats-s3.yaml --output s3://cloudcheck/out
expect_error "unknown key" "credentials were refused" env AWS_ENDPOINT_URL="$S3AUTH_ENDPOINT" \
    AWS_ACCESS_KEY_ID=AKIANOSUCHKEY AWS_SECRET_ACCESS_KEY=wrong \
    "$BIN" run formats-s3.yaml --output s3://cloudcheck/out
(cd "$W" && AWS_ENDPOINT_URL="$S3AUTH_ENDPOINT" AWS_ACCESS_KEY_ID="$S3AUTH_KEY_ID" \
    AWS_SECRET_ACCESS_KEY="$S3AUTH_SECRET" "$BIN" run formats-local.yaml --output s3://cloudcheck/out \
    >"$W/auth.log" 2>&1) || { cat "$W/auth.log" >&2; fail "a run with valid credentials"; }
echo "ok: the same server takes a run with valid credentials"

trap - EXIT
ray_stop
s3_stop
s3_stop_auth
rm -rf "$W"
echo "cloud check: passed in $(($(date +%s) - T0)) s"
