#!/usr/bin/env bash
# How the quality filters treat languages, on the shared data: the four filters of
# pipelines/fineweb-like.yaml after a language stage, with datatrove's English settings for every
# language and with `language_defaults: fineweb2`, on
#   - the Debian handbook (the same book in 14 languages: clean text, a fair filter keeps about
#     the same share of every language), and
#   - the full text of the 949 web pages (html_strip: menus and footers included: a fair filter
#     drops about the same share of every language as of English).
# Prints each language's kept share (languages with >= 20 documents) and its distance from the
# mean (handbook) or from English (web pages). Usage: scripts/language_fairness.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="$(cd "${CORPUSFORGE_DATA:-../shared/data}" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/corpusforge-target}"
cargo build --release --bin corpusforge
BIN="$CARGO_TARGET_DIR/release/corpusforge"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
run() { # name input first-stage defaults(yes|no)
    local d=""
    [ "$4" = yes ] && d="    language_defaults: fineweb2"
    cat > "$TMP/$1.yaml" <<YAML
input:
  paths: [$2]
stages:
  - type: $3
  - type: normalize
    form: nfc
  - type: language
  - type: gopher_repetition
$d
  - type: gopher_quality
$d
  - type: c4
    filter_no_terminal_punct: false
$d
  - type: fineweb
$d
output:
  dir: $TMP/$1
YAML
    "$BIN" run "$TMP/$1.yaml" >/dev/null 2>&1
}
shares() { # name mode(mean|eng)
    python3 - "$TMP/$1/report/report.json" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = [l for l in r["funnel"]["languages"] if l["documents"] >= 20 and l["lang"] != "(none)"]
if sys.argv[2] == "mean":
    ref = sum(l["kept_share"] for l in rows) / len(rows)
    print(f"  mean kept share {ref:.3f} over {len(rows)} languages")
else:
    ref = next(l["kept_share"] for l in rows if l["lang"] == "eng")
    print(f"  English keeps {ref:.3f} (drops {1 - ref:.3f})")
for l in sorted(rows, key=lambda l: l["kept_share"]):
    d = l["kept_share"] - ref
    flag = "" if abs(d) <= 0.10 + 1e-9 else "  (more than 0.10 away)"
    print(f"  {l['lang']}  {l['documents']:5d} documents  kept {l['kept_share']:.3f}  {d:+.3f}{flag}")
PY
}
for d in no yes; do
    run "book-$d" "$DATA/multilingual/debian-handbook.jsonl" normalize "$d"
    run "web-$d" "$DATA/html-extraction/trafilatura-eval.jsonl.gz" html_strip "$d"
done
echo "== Debian handbook, datatrove's English settings for every language"; shares book-no mean
echo "== Debian handbook, language_defaults: fineweb2"; shares book-yes mean
echo "== web pages (full text), datatrove's English settings"; shares web-no eng
echo "== web pages (full text), language_defaults: fineweb2"; shares web-yes eng
