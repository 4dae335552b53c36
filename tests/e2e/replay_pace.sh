#!/usr/bin/env bash
# `tfe replay --pace 900x` holds history time to 900 times the wall clock (so a quarter hour of
# history takes about a second) and scores exactly as the unpaced replay does.
#
# usage: replay_pace.sh TFE_BINARY SOURCE_DIR
set -euo pipefail
TEST=replay_pace
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

"$TFE" synth --profile ward --patients 20 --days 0.0125 --seed 2 --out "$WORK/h.jsonl" >/dev/null
span_ms=$(python3 -c '
import json, sys
t = [json.loads(l)["arrival_time"] for l in open(sys.argv[1])]
print(max(t) - min(t))' "$WORK/h.jsonl")
"$TFE" replay --history "$WORK/h.jsonl" --strategy news2 --out "$WORK/max.jsonl" >/dev/null
start=$(date +%s%N)
"$TFE" replay --history "$WORK/h.jsonl" --strategy news2 --pace 900x --out "$WORK/paced.jsonl" \
  >/dev/null 2>&1
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
want_ms=$((span_ms / 900))
# Paced replay never runs ahead of the wall clock (a lower bound only: shared machines are slow).
((elapsed_ms >= want_ms * 95 / 100)) ||
  fail "history of ${span_ms} ms at 900x took ${elapsed_ms} ms, expected at least ${want_ms} ms"
cmp -s "$WORK/max.jsonl" "$WORK/paced.jsonl" || fail "paced and unpaced replays scored differently"
"$TFE" replay --history "$WORK/h.jsonl" --strategy news2 --pace fast >/dev/null 2>&1 &&
  fail "--pace fast was accepted"
# A speed so slow that the history's span over it overflows a wall time is refused, not run
# unpaced.
for pace in 1e-12x 1e12x 0x; do
  "$TFE" replay --history "$WORK/h.jsonl" --strategy news2 --pace "$pace" >/dev/null 2>&1 &&
    fail "--pace $pace was accepted"
done
echo "replay_pace: ok (${span_ms} ms of history in ${elapsed_ms} ms)"
