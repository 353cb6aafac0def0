"""Reads `corpusforge export tokens` files back with each format's own reader and compares
every document with the run's token shards (see scripts/interop_tokens.sh).

    python interop_tokens.py RUN_DIR EXPORT_ROOT
"""

import glob
import os
import sys

import numpy as np
import pyarrow.parquet as pq


def shard_docs(run, split):
    """The documents of a split in shard and row order, as the exports write them."""
    docs = []
    for f in sorted(glob.glob(os.path.join(run, "tokens", split, "*.parquet"))):
        docs.extend(np.asarray(d, dtype=np.int64) for d in pq.read_table(f).column("tokens").to_pylist())
    return docs


def check(cond, what):
    if not cond:
        sys.exit("interop_tokens: MISMATCH: " + what)


def megatron(root, split, docs):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    ds = IndexedDataset(os.path.join(root, "megatron", f"{split}_text_document"))
    check(len(ds) == len(docs), f"megatron {split}: {len(ds)} sequences, {len(docs)} documents")
    check(list(ds.document_indices) == list(range(len(docs) + 1)), f"megatron {split}: document indices")
    for i, d in enumerate(docs):
        check(np.array_equal(ds[i].astype(np.int64), d), f"megatron {split}: document {i}")
    return f"megatron {split}: {len(docs)} documents, {sum(len(d) for d in docs)} tokens ({ds.index.dtype.__name__})"


def datatrove(root, split, docs):
    from datatrove.utils.dataset import DatatroveFolderDataset

    flat = np.concatenate(docs)
    # The start of the document of every token.
    starts = np.repeat(np.cumsum([0] + [len(d) for d in docs[:-1]]), [len(d) for d in docs])
    meta = open(glob.glob(os.path.join(root, "datatrove", split, "*.ds.metadata"))[0]).read().split("\n")
    size = int(meta[0].rsplit("|", 1)[1])
    seq = 64
    ds = DatatroveFolderDataset(
        os.path.join(root, "datatrove", split), seq_len=seq, token_size=size, return_positions=True
    )
    # Windows of seq + 1 tokens, one after the other.
    check(len(ds) == len(flat) // (seq + 1), f"datatrove {split}: {len(ds)} windows for {len(flat)} tokens")
    for i in range(len(ds)):
        item = ds[i]
        lo = i * (seq + 1)
        check(
            np.array_equal(item["input_ids"].numpy().astype(np.int64), flat[lo : lo + seq + 1]),
            f"datatrove {split}: window {i}",
        )
        # Each token's place in its document, counted from the window's start at the latest.
        pos = item["positions"].numpy().astype(np.int64)
        here = np.arange(lo, lo + len(pos))
        check(
            np.array_equal(pos, here - np.maximum(starts[lo : lo + len(pos)], lo)),
            f"datatrove {split}: positions (document ends from .ds.index) of window {i}",
        )
    check(int(meta[1]) == len(flat), f"datatrove {split}: metadata counts {meta[1]} tokens")
    return f"datatrove {split}: {len(ds)} windows of {seq + 1} and their positions, {len(flat)} tokens ({size}-byte)"


def npy(root, split, docs):
    tokens = np.load(os.path.join(root, "npy", f"{split}_tokens.npy"), mmap_mode="r")
    offsets = np.load(os.path.join(root, "npy", f"{split}_offsets.npy"))
    check(len(offsets) == len(docs) + 1, f"npy {split}: {len(offsets)} offsets for {len(docs)} documents")
    for i, d in enumerate(docs):
        check(np.array_equal(tokens[offsets[i] : offsets[i + 1]].astype(np.int64), d), f"npy {split}: document {i}")
    return f"npy {split}: {len(docs)} documents, {len(tokens)} tokens ({tokens.dtype})"


def main():
    run, root = sys.argv[1], sys.argv[2]
    for split in ("train", "val"):
        docs = shard_docs(run, split)
        check(len(docs) > 0, f"no {split} documents in {run}")
        for f in (megatron, datatrove, npy):
            print("interop_tokens: " + f(root, split, docs))


if __name__ == "__main__":
    main()
