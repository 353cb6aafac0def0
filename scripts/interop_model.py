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
