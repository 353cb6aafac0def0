"""Compares corpusforge's filter decisions with datatrove's, document by document.

Run by scripts/datatrove_parity.sh, which makes the virtual environment and builds the
`parity` example. Inputs: real English text (prose) and HTML pages after corpusforge's
html_strip (the same stripped text goes to both sides, so only the filters are compared).
"""
import json
import random
import subprocess
import sys
from collections import Counter

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

# datatrove's reason -> ours
GQ = {
    "gopher_short_doc": "min_doc_words",
    "gopher_long_doc": "max_doc_words",
    "gopher_below_avg_threshold": "min_avg_word_length",
    "gopher_above_avg_threshold": "max_avg_word_length",
    "gopher_too_many_hashes": "hash_ratio",
    "gopher_too_many_ellipsis": "ellipsis_ratio",
    "gopher_too_many_bullets": "bullet_lines_ratio",
    "gopher_too_many_end_ellipsis": "end_ellipsis_lines_ratio",
    "gopher_below_alpha_threshold": "alpha_words_ratio",
    "gopher_enough_stop_words": "min_stop_words",
}
FILTERS = {
    "gopher_quality": (GopherQualityFilter, {}, GQ),
    "gopher_repetition": (GopherRepetitionFilter, {}, {}),
    "c4": (C4QualityFilter, {}, {}),
    "c4_no_punct": (C4QualityFilter, {"filter_no_terminal_punct": False}, {}),
    "fineweb": (FineWebQualityFilter, {}, {}),
}


def run_ours(args, docs):
    inp = "\n".join(json.dumps({"id": d["id"], "text": d["text"]}) for d in docs) + "\n"
    r = subprocess.run([PARITY, *args], input=inp.encode(), capture_output=True, check=True)
    return [json.loads(x) for x in r.stdout.decode().splitlines()]


def load(path, n, seed=0):
    docs = [json.loads(x) for x in open(path)]
    random.Random(seed).shuffle(docs)
    return docs[:n]


def main():
    sets = {
        "english/prose": load(f"{DATA}/english/prose.jsonl", N),
        "html/pages (after html_strip)": run_ours(["html"], load(f"{DATA}/html/pages.jsonl", N)),
    }
    for set_name, docs in sets.items():
        print(f"== {set_name}: {len(docs)} documents")
        for name, (cls, kwargs, reasons) in FILTERS.items():
            ours = run_ours(["filter", name], docs)
            f = cls(**kwargs)
            agree = same_reason = same_text = kept_both = 0
            diffs = Counter()
            examples = []
            for d, o in zip(docs, ours):
                doc = Document(text=d["text"], id=str(d["id"]))
                r = f.filter(doc)
                keep = r is True
                reason = None if keep else reasons.get(r[1], r[1])
                if keep == o["keep"]:
                    agree += 1
                    if reason == o["reason"]:
                        same_reason += 1
                    if keep:
                        kept_both += 1
                        same_text += doc.text == o["text"]
                else:
                    diffs[(reason, o["reason"])] += 1
                    if len(examples) < 3:
                        examples.append(d["id"])
            n = len(docs)
            print(
                f"{name:18} agree {agree}/{n} = {100 * agree / n:.2f}%  same reason {same_reason}/{n}"
                + (f"  same output text {same_text}/{kept_both}" if name.startswith("c4") else "")
            )
            for (a, b), c in diffs.most_common(5):
                print(f"    datatrove={a} ours={b}: {c}")
            if examples:
                print(f"    e.g. {examples}")


if __name__ == "__main__":
    # Read here, not on import: datatrove_parity_languages.py imports GQ from this file.
    PARITY = sys.argv[1]
    DATA = sys.argv[2]
    N = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    main()
