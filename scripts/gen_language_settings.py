#!/usr/bin/env python3
"""Generates src/text/languages.json: the shipped per-language filter settings
(`language_defaults: fineweb2`), one row for every language the `language` stage can output.

Numbers and stop words are FineWeb-2's published per-language filter configs
(github.com/huggingface/fineweb-2, configs/{iso3}_{script}.yml, read at the commit named below);
each row names its file. Rows whose words differ from the ones FineWeb-2 counted (Japanese
words were Sudachi's, Korean morphemes Kiwi's; corpusforge splits Japanese with ICU's
dictionary and Korean at spaces) take their values from `corpusforge calibrate` instead
(scripts/derive_languages.sh writes them to scripts/derived_languages.json) and are marked
`derived`.

    git clone https://github.com/huggingface/fineweb-2 /tmp/fineweb-2
    python3 scripts/gen_language_settings.py /tmp/fineweb-2 > src/text/languages.json

FineWeb-2's keys map to corpusforge's stage options as FineWeb-2's own pipeline
(fineweb-2-pipeline.py) passes them to datatrove's filters:
  gopher_quality:    min_avg_word_length, max_avg_word_length,
                     max_non_alpha_words_ratio -> min_alpha_words_ratio, stopwords -> stop_words
  gopher_repetition: dup_line_frac, top_n_grams, dup_n_grams
  fineweb:           line_punct_thr, new_line_ratio
The C4 rows (FineWeb-2 applies no C4 filter) give scripts whose sentences end in their own
marks those marks as `end_punctuation` (Unicode Sentence_Terminal of the script, plus the
closing quotes that follow them), so that the terminal-punctuation rule means the same thing.
"""
import json
import os
import subprocess
import sys

import yaml

# whatlang's 70 languages (ISO 639-3 as whatlang 0.18 writes them) -> FineWeb-2 config. Where
# FineWeb-2 uses another code for the same language, the mapping says why.
WHATLANG = [
    ("afr", "afr_Latn", ""), ("aka", "twi_Latn", "Akan: FineWeb-2 has its Twi dialect"),
    ("amh", "amh_Ethi", ""), ("ara", "arb_Arab", "Arabic: FineWeb-2's Standard Arabic"),
    ("aze", "azj_Latn", "Azerbaijani: FineWeb-2's North Azerbaijani, Latin script"),
    ("bel", "bel_Cyrl", ""), ("ben", "ben_Beng", ""), ("bul", "bul_Cyrl", ""),
    ("cat", "cat_Latn", ""), ("ces", "ces_Latn", ""), ("cmn", "cmn_Hani", ""),
    ("cym", "cym_Latn", ""), ("dan", "dan_Latn", ""), ("deu", "deu_Latn", ""),
    ("ell", "ell_Grek", ""), ("eng", None, "English: the stage's own settings (datatrove's defaults)"),
    ("epo", "epo_Latn", ""), ("est", "ekk_Latn", "Estonian: FineWeb-2's Standard Estonian"),
    ("fin", "fin_Latn", ""), ("fra", "fra_Latn", ""), ("guj", "guj_Gujr", ""),
    ("heb", "heb_Hebr", ""), ("hin", "hin_Deva", ""), ("hrv", "hrv_Latn", ""),
    ("hun", "hun_Latn", ""), ("hye", "hye_Armn", ""), ("ind", "ind_Latn", ""),
    ("ita", "ita_Latn", ""), ("jav", "jav_Latn", ""), ("jpn", "jpn_Jpan", ""),
    ("kan", "kan_Knda", ""), ("kat", "kat_Geor", ""), ("khm", "khm_Khmr", ""),
    ("kor", "kor_Hang", ""), ("lat", "lat_Latn", ""),
    ("lav", "lvs_Latn", "Latvian: FineWeb-2's Standard Latvian"), ("lit", "lit_Latn", ""),
    ("mal", "mal_Mlym", ""), ("mar", "mar_Deva", ""), ("mkd", "mkd_Cyrl", ""),
    ("mya", "mya_Mymr", ""), ("nep", "npi_Deva", "Nepali: FineWeb-2's npi"),
    ("nld", "nld_Latn", ""), ("nob", "nob_Latn", ""),
    ("ori", "ory_Orya", "Odia: FineWeb-2's ory"), ("pan", "pan_Guru", ""),
    ("pes", "fas_Arab", "Persian: FineWeb-2's fas"), ("pol", "pol_Latn", ""),
    ("por", "por_Latn", ""), ("ron", "ron_Latn", ""), ("rus", "rus_Cyrl", ""),
    ("sin", "sin_Sinh", ""), ("slk", "slk_Latn", ""), ("slv", "slv_Latn", ""),
    ("sna", "sna_Latn", ""), ("spa", "spa_Latn", ""), ("srp", "srp_Cyrl", ""),
    ("swe", "swe_Latn", ""), ("tam", "tam_Taml", ""), ("tel", "tel_Telu", ""),
    ("tgl", "fil_Latn", "Tagalog: FineWeb-2's Filipino"), ("tha", "tha_Thai", ""),
    ("tuk", "tuk_Latn", ""), ("tur", "tur_Latn", ""), ("ukr", "ukr_Cyrl", ""), ("urd", "urd_Arab", ""),
    ("uzb", "uzn_Latn", "Uzbek: FineWeb-2's Northern Uzbek, Latin script"),
    ("vie", "vie_Latn", ""), ("yid", "ydd_Hebr", "Yiddish: FineWeb-2's ydd"),
    ("zul", "zul_Latn", ""),
]

# Sentence-final marks by script (Unicode Sentence_Terminal characters of the script) and the
# closing quotes and brackets that may follow them at the end of a line.
END_MARKS = {
    "Hani": ["。", "！", "？", "｡", "」", "』", "”", "）"],
    "Jpan": ["。", "！", "？", "｡", "」", "』", "”", "）"],
    "Arab": ["؟", "۔", "؞"],
    "Deva": ["।", "॥"],
    "Beng": ["।", "॥"],
    "Guru": ["।", "॥"],
    "Gujr": ["।", "॥"],
    "Orya": ["।", "॥"],
    "Armn": ["։", "՜", "՞"],
    "Ethi": ["።", "፧", "፨"],
    "Mymr": ["။", "၊"],
    "Khmr": ["។", "៕"],
    "Sinh": ["෴"],
}
ASCII_END = [".", "?", "!", '"', "'"]


def commit_of(repo):
    try:
        return subprocess.check_output(["git", "-C", repo, "rev-parse", "HEAD"], text=True).strip()
    except Exception:
        return os.environ.get("FINEWEB2_COMMIT", "unknown")


def fineweb2_settings(configs, fw2):
    """The stage options FineWeb-2's config for `fw2` (code_Script) gives, by stage type."""
    with open(os.path.join(configs, f"{fw2}.yml"), encoding="utf-8") as f:
        c = yaml.safe_load(f)
    out = {
        "gopher_quality": {
            "min_avg_word_length": c["min_avg_word_length"],
            "max_avg_word_length": c["max_avg_word_length"],
            "min_alpha_words_ratio": c["max_non_alpha_words_ratio"],
            "stop_words": c["stopwords"],
        },
        "gopher_repetition": {
            "dup_line_frac": c["dup_line_frac"],
            "top_n_grams": [{"n": n, "max_frac": v} for n, v in c["top_n_grams"]],
            "dup_n_grams": [{"n": n, "max_frac": v} for n, v in c["dup_n_grams"]],
        },
        "fineweb": {
            "line_punct_thr": c["line_punct_thr"],
            "new_line_ratio": c["new_line_ratio"],
        },
    }
    marks = END_MARKS.get(fw2.split("_")[1])
    if marks:
        out["c4"] = {"end_punctuation": ASCII_END + marks}
    return out


# Languages whose words differ from FineWeb-2's but have no reference text here to derive from.
WORDS_DIFFER = {
    "tha": "pythainlp's newmm",
    "khm": "khmer-nltk's",
    "mya": "pyidaungsu's",
}


def fineweb2_code(code):
    """FineWeb-2's code_Script for a whatlang code (None for English)."""
    return next(fw2 for c, fw2, _ in WHATLANG if c == code)


def row(code, fw2, note, configs, derived):
    r = {"code": code}
    if fw2 is None:
        r["script"] = "Latn"
        r["source"] = "stage"
        r["note"] = note
        return r
    r["script"] = fw2.split("_")[1]
    r["fineweb2"] = fw2
    r["source"] = f"configs/{fw2}.yml"
    if code in WORDS_DIFFER:
        extra = (
            f"words: ICU's dictionary here, {WORDS_DIFFER[code]} in FineWeb-2; with no reference "
            "text in the shared data to derive from, FineWeb-2's numbers as published"
        )
        note = f"{note}; {extra}" if note else extra
    if note:
        r["note"] = note
    r.update(fineweb2_settings(configs, fw2))
    if code in derived:
        d = derived[code]
        r["derived"] = d["derived"]
        for stage, values in d["stages"].items():
            r.setdefault(stage, {}).update(values)
    return r


def main():
    repo = sys.argv[1]
    configs = os.path.join(repo, "configs")
    here = os.path.dirname(os.path.abspath(__file__))
    derived_path = os.path.join(here, "derived_languages.json")
    derived = {}
    if os.path.exists(derived_path):
        with open(derived_path, encoding="utf-8") as f:
            derived = json.load(f)
    rows = [row(code, fw2, note, configs, derived) for code, fw2, note in WHATLANG]
    # Every language FineWeb-2 has a config for: codes a pipeline may name (with `languages:`)
    # for documents labelled by another identifier, beyond the ones with rows here.
    with_rows = {r["fineweb2"] for r in rows if "fineweb2" in r}
    others = sorted(n[:-4] for n in os.listdir(configs) if n.endswith(".yml") and n[:-4] not in with_rows)
    out = {
        "name": "fineweb2",
        "repository": "https://github.com/huggingface/fineweb-2",
        "commit": commit_of(repo),
        "mapping": "fineweb-2-pipeline.py: max_non_alpha_words_ratio -> gopher_quality.min_alpha_words_ratio, "
        "stopwords -> gopher_quality.stop_words, dup_line_frac/top_n_grams/dup_n_grams -> gopher_repetition, "
        "line_punct_thr/new_line_ratio -> fineweb; c4.end_punctuation from the script's sentence-final marks",
        "languages": rows,
        "other_codes": others,
    }
    # One line per key of a row: readable in a diff, small on disk.
    head = {k: v for k, v in out.items() if k not in ("languages", "other_codes")}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append(' "languages": [')
    for i, r in enumerate(rows):
        items = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in r.items()]
        lines.append("  {\n" + ",\n".join(items) + "\n  }" + ("," if i + 1 < len(rows) else ""))
    lines.append(" ],")
    lines.append(' "other_codes": [')
    per = 10
    for i in range(0, len(others), per):
        chunk = ", ".join(json.dumps(c) for c in others[i : i + per])
        lines.append("  " + chunk + ("," if i + per < len(others) else ""))
    lines.append(" ]")
    lines.append("}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
