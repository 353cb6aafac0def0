#!/usr/bin/env bash
# Renders a run's report.html in a real browser (headless Chromium) and fails when the page is
# broken: charts listed by the page but missing from the rendered DOM, SVGs the HTML parser
# dropped, an error marker, console errors or attempted loads, or an empty screenshot.
#
#   scripts/check_report_html.sh [PIPELINE.yaml]     (default: pipelines/quickstart.yaml)
#   scripts/check_report_html.sh PAGE.html            (check an existing report or compare page)
#
# Installs Debian's `chromium` package when no Chromium is found (apt-get, as root). If it cannot
# be installed the check is skipped with a message (exit 0), unless REQUIRE_CHROMIUM=1 (exit 1).
# Leaves the output, screenshot (PNG), PDF and DOM dump in $CHECK_REPORT_DIR (default: a new
# temporary directory) and prints where they are.
set -euo pipefail

cd "$(dirname "$0")/.."
PIPELINE="${1:-pipelines/quickstart.yaml}"
WORK="${CHECK_REPORT_DIR:-$(mktemp -d -t check-report-XXXXXX)}"
HEIGHT="${CHECK_REPORT_HEIGHT:-4000}"
mkdir -p "$WORK"
OUT="$WORK/out"

fail() {
    echo "check_report_html: FAIL: $*" >&2
    exit 1
}

find_chromium() {
    local c
    for c in chromium chromium-browser google-chrome-stable google-chrome; do
        if command -v "$c" >/dev/null 2>&1; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

CHROMIUM="$(find_chromium || true)"
if [ -z "$CHROMIUM" ]; then
    echo "check_report_html: no Chromium found; installing Debian's chromium package"
    SUDO=""
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then
        SUDO="sudo -n"
    fi
    if command -v apt-get >/dev/null 2>&1; then
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null ||
            echo "check_report_html: apt-get install chromium failed"
    fi
    CHROMIUM="$(find_chromium || true)"
fi
if [ -z "$CHROMIUM" ]; then
    msg="Chromium is not installed and could not be installed (no apt-get, no root, or no network)"
    if [ "${REQUIRE_CHROMIUM:-0}" = 1 ]; then
        fail "$msg"
    fi
    echo "check_report_html: SKIPPED: $msg"
    exit 0
fi

case "$PIPELINE" in
    *.html)
        HTML="$PIPELINE"
        [ -s "$HTML" ] || fail "no page at $HTML"
        REQUIRED=""
        MIN_CHARTS=1
        ;;
    *)
        echo "check_report_html: running $PIPELINE -> $OUT"
        cargo run --release --quiet -- run "$PIPELINE" --output "$OUT" >"$WORK/run.log" 2>&1 || {
            tail -20 "$WORK/run.log" >&2
            fail "corpusforge run failed (log: $WORK/run.log)"
        }
        HTML="$OUT/report/report.html"
        [ -s "$HTML" ] || fail "no report at $HTML"
        [ -s "$OUT/report/report.json" ] || fail "no report.json beside $HTML"
        [ -s "$OUT/report/report.md" ] || fail "no report.md beside $HTML"
        # Charts every run's report has.
        REQUIRED="chart-funnel chart-len-chars chart-len-words chart-type-token chart-noise-symbol-ratio"
        MIN_CHARTS=8
        ;;
esac

# The charts the page says it has (<body data-charts="...">).
LISTED="$(grep -o 'data-charts="[^"]*"' "$HTML" | head -1 | sed 's/^data-charts="//; s/"$//')"
[ -n "$LISTED" ] || fail "$HTML lists no charts"
for must in $REQUIRED; do
    case " $LISTED " in
        *" $must "*) ;;
        *) fail "$HTML lacks the $must chart (has: $LISTED)" ;;
    esac
done
SOURCE_SVGS="$(grep -o '<svg ' "$HTML" | wc -l)"

# Nothing in the file may reach out. Document text is escaped (no `<` or `"` survives in it), so
# these are markup; url() and @import are looked for in the stylesheet only.
if grep -qiE '<script|<link|<iframe|<img|<object|<embed| src="|href="http' "$HTML"; then
    fail "report.html has a script or an external reference"
fi
if sed -n '/<style>/,/<\/style>/p' "$HTML" | grep -qiE '@import|url\(|@font-face'; then
    fail "the stylesheet of report.html loads something"
fi

PROFILE="$(mktemp -d -t check-report-profile-XXXXXX)"
trap 'rm -rf "$PROFILE"' EXIT
FLAGS=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
    --disable-component-update --disable-sync --disable-extensions --user-data-dir="$PROFILE"
    --enable-logging=stderr --v=0)
URL="file://$(cd "$(dirname "$HTML")" && pwd)/$(basename "$HTML")"
NAME="$(basename "$HTML" .html)"
PNG="$WORK/$NAME.png"
PDF="$WORK/$NAME.pdf"
DOM="$WORK/$NAME.dom.html"
rm -f "$PNG" "$PDF" "$DOM"

timeout 120 "$CHROMIUM" "${FLAGS[@]}" --hide-scrollbars --window-size="1280,$HEIGHT" --screenshot="$PNG" "$URL" \
    >"$WORK/chromium-screenshot.log" 2>&1 || fail "chromium --screenshot failed (log: $WORK/chromium-screenshot.log)"
timeout 120 "$CHROMIUM" "${FLAGS[@]}" --dump-dom "$URL" >"$DOM" 2>"$WORK/chromium-dom.log" ||
    fail "chromium --dump-dom failed (log: $WORK/chromium-dom.log)"
timeout 120 "$CHROMIUM" "${FLAGS[@]}" --no-pdf-header-footer --print-to-pdf="$PDF" "$URL" \
    >"$WORK/chromium-pdf.log" 2>&1 || fail "chromium --print-to-pdf failed (log: $WORK/chromium-pdf.log)"

# Page errors: console messages (failed loads, blocked resources, parse errors).
if grep -hE 'CONSOLE|Failed to load resource|Not allowed to load|net::ERR_' "$WORK"/chromium-*.log >"$WORK/page-errors.log"; then
    cat "$WORK/page-errors.log" >&2
    fail "the page logged errors (see $WORK/page-errors.log)"
fi

# The rendered DOM: every listed chart is an <svg> with its id, no SVG was lost, no error marker.
grep -q '</html>' "$DOM" || fail "the DOM dump is incomplete ($DOM)"
missing=""
for id in $LISTED; do
    grep -q "<svg id=\"$id\"" "$DOM" || missing="$missing $id"
done
[ -z "$missing" ] || fail "charts missing from the rendered page:$missing"
DOM_SVGS="$(grep -o '<svg ' "$DOM" | wc -l)"
[ "$DOM_SVGS" -eq "$SOURCE_SVGS" ] || fail "$SOURCE_SVGS <svg> in the file but $DOM_SVGS in the rendered DOM"
DOM_CHARTS="$(grep -o 'class="chart"' "$DOM" | wc -l)"
[ "$DOM_CHARTS" -ge "$MIN_CHARTS" ] || fail "only $DOM_CHARTS charts rendered"
if grep -qE 'report-error|<parsererror' "$DOM"; then
    fail "the rendered page has an error marker"
fi

# The screenshot and PDF exist and are not blank-sized.
PNG_BYTES="$(wc -c <"$PNG")"
[ "$PNG_BYTES" -gt 50000 ] || fail "screenshot $PNG is only $PNG_BYTES bytes"
[ "$(wc -c <"$PDF")" -gt 20000 ] || fail "PDF $PDF is too small"

echo "check_report_html: OK: $DOM_CHARTS charts rendered ($(echo "$LISTED" | wc -w) listed), $(grep -o '<section' "$DOM" | wc -l) sections"
echo "check_report_html: screenshot: $PNG"
echo "check_report_html: PDF (print layout): $PDF"
echo "check_report_html: DOM: $DOM"
echo "check_report_html: page: $HTML"
