#!/bin/bash
# `tfe serve --http`: an IPv6 address is printed in brackets and answers there; `--http ''` turns
# HTTP off, as `[kafka] http = ""` does. On the embedded broker, so no broker is needed.
set -euo pipefail
TEST=serve_http_address
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"
command -v curl >/dev/null || fail "curl not found (tools/setup installs it)"

serve_embedded v6 --strategy news2 --http '[::1]:0'
url="$(grep -o 'http://\[::1\]:[0-9]*' "$WORK/v6.out" | head -n 1)" ||
  fail "no bracketed IPv6 metrics address on stdout: $(cat "$WORK/v6.out")"
code="$(curl -g -s -o /dev/null -w '%{http_code}' "$url/healthz")" || true
[[ "$code" == 200 ]] || fail "GET $url/healthz gave '$code', want 200"
grep -q 'http on \[::1\]:' "$WORK/v6.err" ||
  fail "the service log does not name its IPv6 HTTP address: $(grep 'serving:' "$WORK/v6.err")"
serve_stop v6

serve_embedded off --strategy news2 --http ''
if grep -q 'metrics at' "$WORK/off.out"; then fail "--http '': a metrics address was printed"; fi
if grep -q 'http on' "$WORK/off.err"; then fail "--http '': the service log names an HTTP address"; fi
serve_stop off
echo "PASS serve_http_address: [::1] printed in brackets and answering; --http '' serves no HTTP"
