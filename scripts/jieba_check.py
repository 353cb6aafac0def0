"""Chinese words: corpusforge's against Python jieba's, on every Chinese document of
../shared/data (`lang: cmn`). Run by scripts/jieba_check.sh. Python jieba's words are
`jieba.cut(text)` without the whitespace tokens, which is what datatrove's Chinese tokenizer
(spaCy's, with jieba) yields. Exits 1 when a document differs, listing where."""
import collections
import difflib
import json
import subprocess
import sys

import jieba

jieba.setLogLevel(60)
parity, data = sys.argv[1], sys.argv[2]
docs = []
for f in ["multilingual/fortunes.jsonl", "multilingual/installation-guide.jsonl", "multilingual/debian-handbook.jsonl"]:
    for line in open(f"{data}/{f}", encoding="utf-8"):
        d = json.loads(line)
        if d.get("lang") == "cmn":
            docs.append(d)
inp = "\n".join(json.dumps({"id": d["id"], "text": d["text"]}) for d in docs) + "\n"
r = subprocess.run([parity, "words", "--language", "cmn"], input=inp.encode(), capture_output=True, check=True)
ours = [json.loads(x)["words"] for x in r.stdout.decode().splitlines()]
same = 0
words = 0
diffs = collections.Counter()
for d, o in zip(docs, ours):
    theirs = [w for w in jieba.cut(d["text"]) if w.strip()]
    words += len(theirs)
    if theirs == o:
        same += 1
        continue
    sm = difflib.SequenceMatcher(a=theirs, b=o, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op != "equal":
            diffs[(" ".join(theirs[i1:i2]), " ".join(o[j1:j2]))] += 1
print(f"Chinese words: {same}/{len(docs)} documents identical to Python jieba {jieba.__version__} ({words} words)")
for (a, b), c in diffs.most_common(20):
    print(f"  jieba={a!r} corpusforge={b!r}: {c}")
sys.exit(0 if same == len(docs) and docs else 1)
