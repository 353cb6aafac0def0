"""Per-language decision parity with datatrove, and Chinese words against Python jieba.

Run by scripts/datatrove_parity_languages.sh, which makes the virtual environment (datatrove,
spaCy, jieba) and builds the `parity` example. For every language asked for, the documents of
../shared/data labelled with it go through datatrove's GopherQualityFilter,
GopherRepetitionFilter and FineWebQualityFilter with `language=` that language and
FineWeb-2's per-language settings (configs/{lang}.yml, passed as fineweb-2-pipeline.py passes
them, every other argument datatrove's default), and through corpusforge's filters with
`language: L` and `language_defaults: fineweb2`. Prints agreement per language and filter, and
the documents that differ with both reasons.

`--words` also compares the words of every Chinese document with Python jieba's
(`jieba.cut(text)`, whitespace dropped: what datatrove's Chinese tokenizer yields), and lists
where they differ.
"""
import argparse
import collections
import json
import subprocess
import sys

from datatrove.data import Document

from datatrove_parity import GQ
from datatrove.pipeline.filters import (
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)


SETS = [
    "multilingual/debian-handbook.jsonl",
    "multilingual/installation-guide.jsonl",
    "multilingual/fortunes.jsonl",
]


def datatrove_filters(row):
    """datatrove's filters with FineWeb-2's settings for `row` (a corpusforge table row)."""
    lang = row["fineweb2"]
    gq = row["gopher_quality"]
    gr = row["gopher_repetition"]
    fw = row["fineweb"]
    return {
        "gopher_quality": (
            GopherQualityFilter(
                language=lang,
                min_avg_word_length=gq["min_avg_word_length"],
                max_avg_word_length=gq["max_avg_word_length"],
                max_non_alpha_words_ratio=gq["min_alpha_words_ratio"],
                stop_words=gq["stop_words"],
            ),
            GQ,
        ),
        "gopher_repetition": (
            GopherRepetitionFilter(
                language=lang,
                dup_line_frac=gr["dup_line_frac"],
                top_n_grams=[(t["n"], t["max_frac"]) for t in gr["top_n_grams"]],
                dup_n_grams=[(t["n"], t["max_frac"]) for t in gr["dup_n_grams"]],
            ),
            {},
        ),
        "fineweb": (
            FineWebQualityFilter(
                language=lang,
                line_punct_thr=fw["line_punct_thr"],
                new_line_ratio=fw["new_line_ratio"],
            ),
            {},
        ),
    }


def run_ours(parity, args, docs):
    inp = "\n".join(json.dumps({"id": d["id"], "text": d["text"]}) for d in docs) + "\n"
    r = subprocess.run([parity, *args], input=inp.encode(), capture_output=True, check=True)
    return [json.loads(x) for x in r.stdout.decode().splitlines()]


def compare_words(parity, docs):
    import jieba

    jieba.setLogLevel(60)
    ours = run_ours(parity, ["words", "--language", "cmn"], docs)
    same = 0
    diffs = collections.Counter()
    total_words = 0
    for d, o in zip(docs, ours):
        theirs = [w for w in jieba.cut(d["text"]) if w.strip()]
        total_words += len(theirs)
        if theirs == o["words"]:
            same += 1
            continue
        import difflib

        sm = difflib.SequenceMatcher(a=theirs, b=o["words"], autojunk=False)
        for op, i1, i2, j1, j2 in sm.get_opcodes():
            if op != "equal":
                diffs[(" ".join(theirs[i1:i2])[:40], " ".join(o["words"][j1:j2])[:40])] += 1
    print(f"== Chinese words vs Python jieba: {same}/{len(docs)} documents identical ({total_words} words)")
    for (a, b), c in diffs.most_common(15):
        print(f"    jieba={a!r} ours={b!r}: {c}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("parity")
    ap.add_argument("data")
    ap.add_argument("table")
    ap.add_argument("--languages", default="cmn")
    ap.add_argument("--words", action="store_true")
    ap.add_argument("--max-docs", type=int, default=0)
    a = ap.parse_args()
    table = {r["code"]: r for r in json.load(open(a.table))["languages"]}
    by_lang = collections.defaultdict(list)
    for s in SETS:
        try:
            for line in open(f"{a.data}/{s}", encoding="utf-8"):
                d = json.loads(line)
                d["id"] = f"{s}:{d['id']}"
                by_lang[d.get("lang")].append(d)
        except FileNotFoundError:
            print(f"no {a.data}/{s}: skipped", file=sys.stderr)
    if a.words:
        compare_words(a.parity, by_lang["cmn"])
    for lang in a.languages.split(","):
        docs = by_lang.get(lang, [])
        if a.max_docs:
            docs = docs[: a.max_docs]
        row = table.get(lang)
        if not docs or not row or "fineweb2" not in row:
            print(f"== {lang}: no documents or no FineWeb-2 settings")
            continue
        print(f"== {lang} ({row['fineweb2']}): {len(docs)} documents")
        for name, (f, reasons) in datatrove_filters(row).items():
            ours = run_ours(a.parity, ["filter", name, "--language", lang, "--fineweb2"], docs)
            agree = 0
            kept = 0
            diffs = collections.Counter()
            examples = []
            for d, o in zip(docs, ours):
                r = f.filter(Document(text=d["text"], id=str(d["id"])))
                keep = r is True
                kept += keep
                reason = None if keep else reasons.get(r[1], r[1])
                if keep == o["keep"] and reason == o["reason"]:
                    agree += 1
                else:
                    diffs[(reason, o["reason"])] += 1
                    if len(examples) < 5:
                        examples.append(d["id"])
            n = len(docs)
            print(f"  {name:18} same decision and reason {agree}/{n} = {100 * agree / n:.2f}%  (datatrove keeps {kept})")
            for (x, y), c in diffs.most_common(6):
                print(f"      datatrove={x} ours={y}: {c}")
            if examples:
                print(f"      e.g. {examples}")


main()
