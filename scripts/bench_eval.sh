#!/usr/bin/env bash
# Evaluation speed at the model size of pipelines/ablation.yaml (2 layers, 4 heads, 128 wide,
# context 128, a 4096-token BPE): tokens/s and tokens/s per core of `corpusforge eval` on a
# 2.2 MB set of English prose, at 1 thread and at every core, and what one more such set costs
# an experiment with 3 arms x 3 seeds x 5 curve points (45 evaluations).
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
cores=$(nproc)
for threads in 1 "$cores"; do
  start=$(date +%s.%N)
  "$BIN" eval --checkpoint "$W/out/train" --data "$W/eval.jsonl" --threads "$threads" --json > "$W/r.json" 2>/dev/null
  end=$(date +%s.%N)
  python3 - "$W/r.json" "$threads" "$start" "$end" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); th = int(sys.argv[2]); wall = float(sys.argv[4]) - float(sys.argv[3])
tps = r["tokens"] / r["seconds"]
print(f"{th} thread{'s' if th > 1 else ''}: {r['documents']} documents, {r['tokens']} tokens in "
      f"{r['seconds']:.2f} s scoring ({wall:.2f} s whole process): {tps:,.0f} tokens/s, "
      f"{tps/th:,.0f} tokens/s per core; 45 evaluations: {45*wall/60:.1f} min")
EOF
done
