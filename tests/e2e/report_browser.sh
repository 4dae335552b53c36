#!/usr/bin/env bash
# The backtest report in a real browser: writes the demo report (a synthetic cohort run through
# the real metrics and writers, via the ReportDemo unit test), opens report.html in headless
# Chromium, and checks that the page loads without console messages, that its SVG charts are in
# the rendered DOM, and that a screenshot is written next to the report for people to look at.
#
# usage: report_browser.sh TFE_BINARY SOURCE_DIR
#   The unit-test executable is found beside the build's tfe binary (BUILD/tests/tfe_tools_tests)
#   or named by $TFE_TOOLS_TESTS. The report and screenshots stay in BUILD/Testing/report-browser/
#   (or $TFE_REPORT_BROWSER_OUT).
set -euo pipefail

fail() {
  echo "report_browser: FAILED: $*" >&2
  exit 1
}

(($# == 2)) || fail "usage: report_browser.sh TFE_BINARY SOURCE_DIR"
tfe="$1"
build_dir="$(cd "$(dirname "$tfe")/.." && pwd)"
tests="${TFE_TOOLS_TESTS:-$build_dir/tests/tfe_tools_tests}"
out="${TFE_REPORT_BROWSER_OUT:-$build_dir/Testing/report-browser}"

chromium="$(command -v chromium || true)"
[[ -n "$chromium" ]] || chromium=/usr/bin/chromium
[[ -x "$chromium" ]] ||
  fail "chromium is not installed (Debian package 'chromium'; tools/setup installs it)"
[[ -x "$tests" ]] || fail "unit-test executable not found at $tests (build tfe_tools_tests)"

rm -rf "$out"
mkdir -p "$out"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT

# 1. The report.
TFE_REPORT_DEMO_DIR="$out" "$tests" --gtest_filter=ReportDemo.WritesReportFiles \
  >"$out/demo-test.log" 2>&1 || {
  cat "$out/demo-test.log" >&2
  fail "writing the demo report failed"
}
page="$out/report.html"
[[ -s "$page" && -s "$out/report.json" ]] || fail "report.html or report.json missing in $out"

browse() {
  # No network, no first-run work; a fresh profile each time. Console messages go to stderr.
  timeout 180 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --enable-logging=stderr --v=0 "$@" \
    "file://$page"
}

# 2. Load and render: any console message (script error, blocked resource, CSP violation) fails.
browse --dump-dom >"$out/dom.html" 2>"$out/chromium-dom.log" ||
  fail "chromium could not load the page (see $out/chromium-dom.log)"
if grep -E ':CONSOLE|Uncaught' "$out/chromium-dom.log" >"$out/console.log"; then
  cat "$out/console.log" >&2
  fail "the page wrote console messages"
fi

# 3. The charts are in the DOM the browser built: ROC, PR, reliability, two subgroup charts, the
# stress chart, and at least four timelines.
svgs="$(grep -o '<svg' "$out/dom.html" | wc -l)"
((svgs >= 10)) || fail "expected at least 10 SVG charts in the rendered page, found $svgs"
for section in summary discrimination alerts subgroups stress timelines; do
  grep -q "<section id=\"$section\"" "$out/dom.html" || fail "section '$section' missing"
done
polylines="$(grep -o '<polyline' "$out/dom.html" | wc -l)"
((polylines >= 9)) || fail "expected the curves of three models, found $polylines polylines"
if grep -q '<x-attn>' "$out/dom.html"; then
  fail "unescaped model name in the rendered page"
fi

# 4. Screenshots next to the report: a desktop one and a narrow (phone-width) one.
browse --screenshot="$out/report.png" --window-size=1280,2400 >/dev/null 2>"$out/chromium-shot.log" ||
  fail "chromium could not take a screenshot (see $out/chromium-shot.log)"
browse --screenshot="$out/report-narrow.png" --window-size=390,2400 >/dev/null \
  2>>"$out/chromium-shot.log" || fail "chromium could not take the narrow screenshot"
for png in report.png report-narrow.png; do
  [[ -f "$out/$png" ]] || fail "no screenshot $png"
  size="$(stat -c %s "$out/$png")"
  ((size > 50000)) || fail "screenshot $png is only $size bytes: the page looks blank"
  [[ "$(head -c 8 "$out/$png" | od -An -tx1 | tr -d ' \n')" == 89504e470d0a1a0a ]] ||
    fail "$png is not a PNG"
done

echo "report_browser: ok ($svgs charts; report and screenshots in $out)"
