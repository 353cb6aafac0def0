"""Checks that Python `tokenizers` and `transformers` encode like corpusforge did.

Usage: interop_tokenizer.py OUT_DIR [OUT_DIR ...]

For each run output: loads OUT/tokenizer.json with `tokenizers.Tokenizer.from_file` and with
`transformers.PreTrainedTokenizerFast(tokenizer_file=...)`, reads the kept documents
(OUT/documents/**.parquet) and the token shards (OUT/tokens/{train,val}/*.parquet) with
pyarrow, and checks for every document (up to --max-docs) that
[bos] + encode(text, add_special_tokens=False) + [eos] equals the tokens written (and, for a
trained byte-level BPE, that decoding gives the text back). Exits 1 on any mismatch.
"""

import argparse
import glob
import json
import os
import sys

import pyarrow.parquet as pq
import tokenizers
import transformers


def read_rows(pattern, columns):
    rows = []
    for path in sorted(glob.glob(pattern, recursive=True)):
        if os.path.basename(path).startswith("."):
            continue
        table = pq.read_table(path, columns=columns)
        rows.extend(zip(*(table.column(c).to_pylist() for c in columns)))
    return rows


def check(out, max_docs):
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    summary = manifest["tokens"]
    eos = summary["eos"]["id"]
    bos = summary["bos"]["id"] if summary.get("bos") else None
    path = os.path.join(out, "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(path)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_file=path)
    texts = dict(read_rows(os.path.join(out, "documents", "**", "*.parquet"), ["id", "text"]))
    written = {}
    for split in ("train", "val"):
        for doc_id, toks in read_rows(os.path.join(out, "tokens", split, "*.parquet"), ["doc_id", "tokens"]):
            written[doc_id] = (split, toks)
    if len(written) != len(texts):
        print(f"{out}: {len(texts)} documents but {len(written)} token rows")
        return 1
    ids = sorted(texts)[:max_docs]
    batch = [texts[i] for i in ids]
    by_tokenizers = [e.ids for e in hf.encode_batch(batch, add_special_tokens=False)]
    by_transformers = [fast.encode(t, add_special_tokens=False) for t in batch]
    bad = 0
    for doc_id, text, a, b in zip(ids, batch, by_tokenizers, by_transformers):
        expect = ([bos] if bos is not None else []) + a + [eos]
        got = written[doc_id][1]
        for who, e in (("tokenizers", expect), ("transformers", ([bos] if bos is not None else []) + b + [eos])):
            if e != got:
                bad += 1
                if bad <= 5:
                    at = next((k for k, (x, y) in enumerate(zip(e, got)) if x != y), min(len(e), len(got)))
                    print(f"{out}: {doc_id}: {who} differs at token {at}: python {e[at:at + 8]} vs corpusforge {got[at:at + 8]}")
    # A trained byte-level BPE decodes back to the text exactly.
    lossless = 0
    if summary["source"] == "trained":
        for text, a in zip(batch, by_tokenizers):
            if hf.decode(a, skip_special_tokens=False) != text:
                lossless += 1
        if lossless:
            print(f"{out}: {lossless} documents do not decode back to their text")
    tokens = sum(len(written[i][1]) for i in ids)
    print(
        f"{out}: {len(ids)} documents, {tokens} tokens: tokenizers {tokenizers.__version__} and "
        f"transformers {transformers.__version__} "
        + ("agree with corpusforge" if bad == 0 and lossless == 0 else f"DISAGREE ({bad} mismatches)")
    )
    return 1 if bad or lossless else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outs", nargs="+")
    ap.add_argument("--max-docs", type=int, default=5000)
    args = ap.parse_args()
    failures = sum(check(o, args.max_docs) for o in args.outs)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
