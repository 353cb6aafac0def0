"""Checks that corpusforge's exported models compute in transformers what corpusforge computes.
usage: interop_model.py CORPUSFORGE_BIN WORK   (WORK holds clm/, clm-hf/, mlm/, mlm-hf/)"""
import json, subprocess, sys

import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

BIN, WORK = sys.argv[1], sys.argv[2]
TOL = 1e-4
torch.set_grad_enabled(False)
failures = []


def cf(*args):
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout


def cf_logits(ckpt, ids):
    out = json.loads(cf("logits", "--checkpoint", ckpt, "--ids", " ".join(map(str, ids))))
    return torch.tensor(out["logits"], dtype=torch.float32)


def check(name, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    if not ok:
        failures.append(name)


texts = [
    "The quick brown fox jumps over the lazy dog. It was a bright cold day in April.",
    "Data pipelines clean, filter and deduplicate text before a model learns from it.",
]

# The causal decoder: GPT2LMHeadModel.
tok = AutoTokenizer.from_pretrained(f"{WORK}/clm-hf")
model = AutoModelForCausalLM.from_pretrained(f"{WORK}/clm-hf").eval()
check("clm class", type(model).__name__ == "GPT2LMHeadModel", type(model).__name__)
for i, text in enumerate(texts):
    ids = tok(text)["input_ids"][:64]
    theirs = model(torch.tensor([ids])).logits[0]
    ours = cf_logits(f"{WORK}/clm/train", ids)
    diff = (theirs - ours).abs().max().item()
    check(f"clm logits {i}", diff < TOL, f"{len(ids)} tokens, max abs diff {diff:.2e}")

prompt = "The quick brown"
pids = tok(prompt)["input_ids"]
new = 64 - len(pids)
gen = model.generate(
    torch.tensor([pids]), do_sample=False, max_new_tokens=new, pad_token_id=tok.pad_token_id
)[0][len(pids):].tolist()
eos = model.config.eos_token_id
if eos in gen:
    gen = gen[: gen.index(eos)]
ours = [int(x) for x in cf("generate", "--checkpoint", f"{WORK}/clm/train", "--prompt", prompt,
                           "--temperature", "0", "--max-tokens", str(new), "--ids").split()]
check("clm greedy generate", ours == gen, f"{len(ours)} tokens (transformers: {len(gen)})")

# The tokenizer a run writes opens with AutoTokenizer as it is.
run_tok = AutoTokenizer.from_pretrained(f"{WORK}/clm")
check("run tokenizer_config", run_tok.eos_token == "<|endoftext|>" and run_tok(texts[0])["input_ids"] == tok(texts[0])["input_ids"],
      f"eos {run_tok.eos_token!r}, pad {run_tok.pad_token!r}")

# Multiple-choice task scores: `corpusforge eval --tasks` against transformers on the exported
# model, item by item (the shared task sets when present, 75 items of each; else the fixture).
import os
import tempfile

data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "tasks")
task_files = [os.path.join(data, f) for f in ("arc_easy.jsonl", "piqa.jsonl", "hellaswag.jsonl", "openbookqa.jsonl")]
if not all(os.path.isfile(f) for f in task_files):
    task_files = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "tasks", "mini.jsonl")]
per_task = 75
with tempfile.TemporaryDirectory() as tmp:
    runs = {}
    for threads in ("1", "2"):
        out = os.path.join(tmp, f"items-{threads}.jsonl")
        cf("eval", "--checkpoint", f"{WORK}/clm/train", "--tasks", *task_files,
           "--max-items", str(per_task), "--threads", threads, "--per-item", out)
        runs[threads] = open(out).read()
check("tasks identical at 1 and 2 threads", runs["1"] == runs["2"], f"{len(runs['1'])} bytes of scores")
ours_items = [json.loads(l) for l in runs["1"].splitlines()]
items = {}
for f in task_files:
    name = os.path.splitext(os.path.basename(f))[0]
    for line in open(f).read().splitlines()[:per_task]:
        it = json.loads(line)
        items[(name, str(it["id"]))] = it
L = model.config.n_positions
eos_id = model.config.eos_token_id


def windows(n, start, l):
    out, k0 = [], max(start, 1)
    while k0 < n:
        k1 = min(k0 + l, n)
        e = k1 - 1
        out.append((max(0, e - l), e, k0, k1))
        k0 = k1
    return out


def nats(seq, start):
    total = 0.0
    for s, e, k0, k1 in windows(len(seq), start, L):
        logp = torch.log_softmax(model(torch.tensor([seq[s:e]])).logits[0].double(), dim=-1)
        for k in range(k0, k1):
            total -= logp[k - 1 - s, seq[k]].item()
    return total


worst, worst_tok, compared, ids_differ = 0.0, 0.0, 0, 0
for o in ours_items:
    it = items[(o["task"], str(o["id"]))]
    ctx = tok(it["context"], add_special_tokens=False)["input_ids"]
    for k, choice in enumerate(it["choices"]):
        whole = tok(it["context"] + choice, add_special_tokens=False)["input_ids"]
        if len(whole) > len(ctx) and whole[: len(ctx)] == ctx:
            seq = [eos_id] + whole
        else:
            seq = [eos_id] + ctx + tok(choice, add_special_tokens=False)["input_ids"]
        theirs = nats(seq, len(ctx) + 1)
        mine = o["choices"][k]
        ids_differ += int(len(seq) - len(ctx) - 1 != mine["tokens"])
        d = abs(theirs - mine["nats"])
        worst = max(worst, d)
        worst_tok = max(worst_tok, d / max(1, mine["tokens"]))
        compared += 1
check("task log-likelihoods", worst < TOL and ids_differ == 0,
      f"{len(ours_items)} items, {compared} choices: max abs diff {worst:.2e} nats "
      f"({worst_tok:.2e} per token), {ids_differ} token counts differ")

# The masked-LM encoder: XLMRobertaXLForMaskedLM.
mtok = AutoTokenizer.from_pretrained(f"{WORK}/mlm-hf")
mmodel = AutoModelForMaskedLM.from_pretrained(f"{WORK}/mlm-hf").eval()
check("mlm class", type(mmodel).__name__ == "XLMRobertaXLForMaskedLM", type(mmodel).__name__)
check("mlm mask token", mtok.mask_token == "[MASK]", repr(mtok.mask_token))
for i, text in enumerate(texts):
    ids = mtok(text)["input_ids"][:64]
    ids[len(ids) // 2] = mtok.mask_token_id
    theirs = mmodel(torch.tensor([ids])).logits[0]
    ours = cf_logits(f"{WORK}/mlm/train", ids)
    diff = (theirs - ours).abs().max().item()
    check(f"mlm logits {i}", diff < TOL, f"{len(ids)} tokens, max abs diff {diff:.2e}")

if failures:
    print("interop_model: FAILED:", ", ".join(failures))
    sys.exit(1)
