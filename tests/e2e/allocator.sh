#!/bin/bash
# The tfe command runs on jemalloc with its batch settings (freed memory kept for reuse, huge
# pages asked for), and `tfe serve` switches to handing unused memory back after a few seconds
# unless MALLOC_CONF sets a decay of its own.
# jemalloc's own statistics, printed at exit when MALLOC_CONF asks for them, are the evidence.
set -euo pipefail
TEST=allocator
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

version="$("$TFE" --version 2>&1)" || fail "tfe --version failed: $version"
[[ "$version" =~ ^tfe\ [0-9]+\.[0-9]+\.[0-9]+\ \(jemalloc\ 5\. ]] ||
  fail "--version does not name jemalloc: $version"

MALLOC_CONF=stats_print:true "$TFE" --version >/dev/null 2>"$WORK/batch.stats"
grep -q 'opt.dirty_decay_ms: -1 (arenas.dirty_decay_ms: -1)' "$WORK/batch.stats" ||
  fail "a one-shot command does not keep freed memory: $(grep decay "$WORK/batch.stats")"
grep -q 'opt.thp: "always"' "$WORK/batch.stats" ||
  fail "huge pages not asked for: $(grep 'opt.thp' "$WORK/batch.stats")"

# The service on the embedded broker, stopped with SIGTERM once it has its partitions.
MALLOC_CONF=stats_print:true serve_embedded serve --strategy news2 --http ''
serve_stop serve
grep -q 'arenas.dirty_decay_ms: 10000' "$WORK/serve.err" ||
  fail "the service keeps freed memory: $(grep 'decay_ms' "$WORK/serve.err")"
# An operator's decay in MALLOC_CONF wins over the service's.
MALLOC_CONF=stats_print:true,dirty_decay_ms:-1 serve_embedded serve-kept --strategy news2 --http ''
serve_stop serve-kept
grep -q 'arenas.dirty_decay_ms: -1' "$WORK/serve-kept.err" ||
  fail "MALLOC_CONF's dirty_decay_ms:-1 is overridden: $(grep 'decay_ms' "$WORK/serve-kept.err")"
echo "PASS allocator: jemalloc, batch settings, the service hands memory back unless told not to"
