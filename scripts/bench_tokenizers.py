"""Encoding speed of Python `tokenizers` and `tiktoken` on the texts `cargo bench --bench tokenize` uses,
for a side-by-side ratio with the fast encoder.

tiktoken's own GPT-2 encoding is downloaded at first use, so this builds the same encoding by
hand from GPT-2's tokenizer.json: GPT-2's ids are its merge ranks (the 256 bytes first, then
one id per merge, in order), keyed by the raw bytes each byte-level token stands for.

    bash scripts/bench_tokenizers.sh   (or: PYTHON scripts/bench_tokenizers.py [TOKENIZER_JSON] [DATA_DIR])
"""

import json
import os
import sys
import time

import tiktoken
import tokenizers

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def byte_chars():
    """The GPT-2 byte-level alphabet: byte -> the character standing for it."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tiktoken_gpt2(tokenizer_json):
    spec = json.load(open(tokenizer_json, encoding="utf-8"))
    char_byte = {c: b for b, c in byte_chars().items()}
    added = {t["content"] for t in spec.get("added_tokens", [])}
    ranks = {}
    for token, rank in spec["model"]["vocab"].items():
        if token in added:
            continue
        ranks[bytes(char_byte[c] for c in token)] = rank
    specials = {t["content"]: t["id"] for t in spec.get("added_tokens", [])}
    return tiktoken.Encoding(
        name="gpt2-from-tokenizer-json",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=specials,
    )


def texts(path, limit):
    out, size = [], 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)["text"]
            out.append(t)
            size += len(t.encode("utf-8"))
            if size >= limit:
                break
    return out


def measure(name, mb, fn):
    wall, cpu = time.perf_counter(), time.process_time()
    n = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"  {name:<34} {mb / wall:7.1f} MB/s wall {mb / cpu:7.1f} MB/s per CPU-second"
        f"  {n / wall / 1e6:6.2f} M tokens/s wall  ({wall:.2f} s wall, {cpu:.2f} s CPU)"
    )


def main():
    tok_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(DATA, "tokenizers", "gpt2", "tokenizer.json")
    data = sys.argv[2] if len(sys.argv) > 2 else DATA
    tok = tokenizers.Tokenizer.from_file(tok_path)
    tok.no_padding()
    tok.no_truncation()
    enc = tiktoken_gpt2(tok_path)
    print(f"tokenizers {tokenizers.__version__}, tiktoken {tiktoken.__version__ if hasattr(tiktoken, '__version__') else '?'}")
    sets = [
        ("prose (first 19 MB)", texts(f"{data}/english/prose.jsonl", 19_000_000)),
        (
            "multilingual (all)",
            texts(f"{data}/multilingual/fortunes.jsonl", float("inf"))
            + texts(f"{data}/multilingual/installation-guide.jsonl", float("inf")),
        ),
    ]
    for name, docs in sets:
        mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
        print(f"{name}: {len(docs)} documents, {mb:.1f} MB")
        # Same ids where the text has no special token (tiktoken's encode_ordinary never
        # matches one; tokenizers does).
        for d in docs[:200]:
            if "<|endoftext|>" not in d:
                assert tok.encode(d, add_special_tokens=False).ids == enc.encode_ordinary(d)
        measure(
            "tokenizers encode (1 thread)",
            mb,
            lambda: sum(len(tok.encode(d, add_special_tokens=False).ids) for d in docs),
        )
        measure(
            "tiktoken encode_ordinary (1 thread)",
            mb,
            lambda: sum(len(enc.encode_ordinary(d)) for d in docs),
        )
        measure(
            "tiktoken encode_ordinary_batch (2)",
            mb,
            lambda: sum(len(x) for x in enc.encode_ordinary_batch(docs, num_threads=2)),
        )


if __name__ == "__main__":
    main()
