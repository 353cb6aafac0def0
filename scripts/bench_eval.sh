#!/usr/bin/env bash
# Evaluation speed at the model size of pipelines/ablation.yaml (2 layers, 4 heads, 128 wide,
# context 128, a 4096-token BPE): tokens/s and tokens/s per core of `corpusforge eval` on a
# 2.2 MB set of English prose, at 1 thread and at every core (wall, and per CPU-second: the
# machine may be shared), and what one more such set costs pipelines/ablation.yaml
# (3 arms x 3 seeds x 4 curve points = 36 evaluations).
#
#   bash scripts/bench_eval.sh
#
# Needs ../shared/data beside the clone. Figures, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=../shared/data/english/prose.jsonl
[ -f "$DATA" ] || { echo "skipping: $DATA is not present"; exit 0; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}
cargo build --release --quiet
BIN=$CARGO_TARGET_DIR/release/corpusforge
W=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT; echo "work dir $W"

# The first ~6 MB of prose to train on, the next 2.2 MB to evaluate on.
python3 - "$DATA" "$W" <<'EOF'
import json, sys
src, w = sys.argv[1], sys.argv[2]
train, ev = open(f"{w}/train.jsonl", "w"), open(f"{w}/eval.jsonl", "w")
tb = eb = 0
for line in open(src):
    t = json.loads(line)["text"]
    if tb < 6_000_000:
        train.write(line); tb += len(t.encode())
    elif eb < 2_200_000:
        ev.write(line); eb += len(t.encode())
    else:
        break
print(f"train {tb/1e6:.1f} MB, eval {eb/1e6:.2f} MB")
EOF
cat > "$W/p.yaml" <<EOF
input: {paths: ["$W/train.jsonl"]}
stages:
  - type: tokenize
    tokenizer: {train: {vocab_size: 4096, min_frequency: 2, max_docs: 3000}}
    eos: "<|endoftext|>"
output: {dir: "$W/out", report: false}
train:
  model: {n_layer: 2, n_head: 4, n_embd: 128, seq_len: 128}
  optimizer: {lr: 2.0e-3, min_lr: 2.0e-4, warmup_steps: 10}
  batch_size: 8
  max_steps: 40
  eval_interval: 0
EOF
"$BIN" run "$W/p.yaml" > "$W/run.log" 2>&1 || { tail -20 "$W/run.log"; exit 1; }
python3 - "$BIN" "$W" "$(nproc)" <<'PYEOF'
import json, resource, subprocess, sys, time
bin_, w, cores = sys.argv[1], sys.argv[2], int(sys.argv[3])
for th in [1, cores]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    out = subprocess.run([bin_, "eval", "--checkpoint", f"{w}/out/train", "--data",
                          f"{w}/eval.jsonl", "--threads", str(th), "--json"],
                         capture_output=True, text=True, check=True).stdout
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    r = json.loads(out)
    print(f"{th} thread{'s' if th > 1 else ''}: {r['documents']} documents, {r['tokens']} tokens in "
          f"{wall:.2f} s wall, {cpu:.2f} s CPU: {r['tokens']/wall:,.0f} tokens/s, "
          f"{r['tokens']/cpu:,.0f} tokens per CPU-second; 36 evaluations "
          f"(pipelines/ablation.yaml: 3 arms x 3 seeds x 4 curve points): {36*wall/60:.1f} min")
PYEOF
