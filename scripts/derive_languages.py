#!/usr/bin/env python3
"""Derives per-language settings with `corpusforge calibrate` and writes
scripts/derived_languages.json, which scripts/gen_language_settings.py merges into the shipped
table (src/text/languages.json) as rows marked `derived`.

Reference: ../shared/data/multilingual/installation-guide.jsonl, the Debian installation guide
in 19 languages: the same content in each, English included, so a threshold that removes the
same share of a language's guide as the English setting removes of the English guide treats
the language as English is treated.

Which options are derived, by language:
- `words` (Japanese, Korean, Vietnamese: our words are not the ones FineWeb-2 counted,
  SudachiPy's, Kiwi's morphemes and pyvi's multi-syllable words): every option defined over
  words: gopher_quality (word counts, mean word length,
  alpha ratio, stop words), gopher_repetition's n-gram fractions, fineweb's newlines per word.
  Options over lines and characters keep FineWeb-2's numbers.

The calibration starts from FineWeb-2's own numbers for the language (each stage of
pipelines/fineweb-like.yaml gets them under `languages:`), so an option FineWeb-2's value
already treats like English stays as FineWeb-2 set it.

    git clone https://github.com/huggingface/fineweb-2 /tmp/fineweb-2
    cargo build --release
    python3 scripts/derive_languages.py target/release/corpusforge ../shared/data /tmp/fineweb-2
    python3 scripts/gen_language_settings.py /tmp/fineweb-2 > src/text/languages.json
"""
import json
import os
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_language_settings import fineweb2_code, fineweb2_settings  # noqa: E402

# Options defined over words (our segmentation decides them).
WORD_OPTIONS = {
    "gopher_quality": None,  # all of them
    "gopher_repetition": {"top_n_grams", "dup_n_grams"},
    "fineweb": {"new_line_ratio"},
}

DERIVE = {l: "words" for l in os.environ.get("DERIVE", "jpn,kor,vie").split(",")}

PIPELINE = "pipelines/fineweb-like.yaml"

WHY = {
    "jpn": "FineWeb-2 counted SudachiPy's words, corpusforge splits with ICU's dictionary",
    "kor": "FineWeb-2 counted Kiwi's morphemes, corpusforge splits at spaces",
    "vie": "FineWeb-2 counted pyvi's words, which join syllables; corpusforge's are syllables",
}


def pipeline_with_fineweb2(tmp, lang, configs):
    """pipelines/fineweb-like.yaml with FineWeb-2's settings for `lang` on every filter."""
    with open(PIPELINE, encoding="utf-8") as f:
        p = yaml.safe_load(f)
    settings = fineweb2_settings(configs, fineweb2_code(lang))
    for st in p["stages"]:
        if st["type"] in settings:
            st["languages"] = {lang: settings[st["type"]]}
    p["input"]["paths"] = [os.path.abspath(os.path.join("pipelines", x)) for x in p["input"]["paths"]]
    path = os.path.join(tmp, "pipeline.yaml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(p, f, allow_unicode=True)
    return path


def main():
    binary, data, fw2 = sys.argv[1], sys.argv[2], sys.argv[3]
    configs = os.path.join(fw2, "configs")
    ref = os.path.join(data, "multilingual/installation-guide.jsonl")
    here = os.path.dirname(os.path.abspath(__file__))
    out = {}
    for lang, what in DERIVE.items():
        with tempfile.TemporaryDirectory() as tmp:
            j = os.path.join(tmp, "c.json")
            pipeline = pipeline_with_fineweb2(tmp, lang, configs)
            cmd = [binary, "calibrate", pipeline, "--language", lang, "--reference", ref,
                   "--english", ref, "--lang-field", "lang", "--json", j]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            stages = json.load(open(j))
        kept = {}
        for stage, opts in stages.items():
            if stage not in WORD_OPTIONS:
                continue
            allowed = WORD_OPTIONS[stage]
            sel = {k: v for k, v in opts.items() if allowed is None or k in allowed}
            if sel:
                kept[stage] = sel
        out[lang] = {
            "derived": (
                f"corpusforge calibrate {PIPELINE} (with FineWeb-2's {fineweb2_code(lang)} "
                f"settings to start from) --language {lang} on "
                "shared/data/multilingual/installation-guide.jsonl against its English "
                "version (scripts/derive_languages.py): the options defined over words "
                f"({WHY.get(lang, 'same-content calibration')}); options over lines and characters are FineWeb-2's"
            ),
            "stages": kept,
        }
        print(f"{lang}: {json.dumps(kept, ensure_ascii=False)}", file=sys.stderr)
    with open(os.path.join(here, "derived_languages.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
