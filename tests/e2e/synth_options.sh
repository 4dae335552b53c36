#!/bin/bash
# tfe synth refuses what it cannot generate sensibly, each with one error line that names the
# option or the profile key: a history shorter than a millisecond, a history length out of range,
# an output it cannot write (before the cohort is set up), a profile whose vitals modality has no
# channel the generator models, and a profile name that would split lines. A one-millisecond
# history holds only events inside it. A run stopped by a signal leaves no file behind.
set -euo pipefail
TEST=synth_options
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

# refused (lib/e2e.bash), and neither a doubled prefix nor an output file.
synth_refused() {
  refused "$@"
  local name=$2
  if grep -q 'synth: synth:' "$WORK/$name.err"; then fail "$name: doubled prefix: $(cat "$WORK/$name.err")"; fi
  [[ ! -e "$WORK/$name.jsonl" ]] || fail "$name: a refused run wrote its output"
}

synth_refused 2 days_zero '^tfe synth: days must be in (0, 3650\]$' \
  "$TFE" synth --profile ward --days 0 --out "$WORK/days_zero.jsonl"
synth_refused 2 days_tiny '^tfe synth: days 1e-09 is shorter than a millisecond$' \
  "$TFE" synth --profile ward --days 1e-9 --out "$WORK/days_tiny.jsonl"

# The output is checked before millions of patients are set up: a wrong extension is a usage
# error, a missing directory a failure.
synth_refused 2 out_extension 'out_extension.csv: unknown event file extension' \
  "$TFE" synth --profile ward --patients 3 --days 0.01 --out "$WORK/out_extension.csv"
refused 1 out_dir "cannot create $WORK/none/out.jsonl" \
  "$TFE" synth --profile ward --patients 3 --days 0.01 --out "$WORK/none/out.jsonl"

# Stopped by SIGTERM (a background job ignores SIGINT), a run leaves neither its output nor the
# temporary file it was writing, exits 128 + 15 and says so in one line (--quiet: no progress
# lines). The cohort would take many minutes: it is stopped once its temporary file has bytes.
"$TFE" synth --profile ward --patients 20000 --days 30 --quiet --out "$WORK/big.jsonl" \
  >"$WORK/big.out" 2>"$WORK/big.err" &
pid=$!
for _ in $(seq 1 600); do
  tmp="$(compgen -G "$WORK/big.jsonl.tmp-*" | head -n 1 || true)"
  [[ -n $tmp && -s $tmp ]] && break
  sleep 0.1
done
kill -TERM "$pid" 2>/dev/null || true
status=0
wait "$pid" || status=$?
((status == 143)) || fail "stopped synth exited $status, want 143: $(head -n 3 "$WORK/big.err")"
if compgen -G "$WORK/big.jsonl*" >/dev/null; then
  fail "a stopped synth left $(ls "$WORK"/big.jsonl*)"
fi
[[ "$(wc -l <"$WORK/big.err")" == 1 ]] || fail "stopped synth: stderr is not one line: $(head -n 5 "$WORK/big.err")"
grep -q "^tfe synth: interrupted after [0-9]* events; $WORK/big.jsonl was not written$" "$WORK/big.err" ||
  fail "stopped synth: $(cat "$WORK/big.err")"

# A one-millisecond history: every event arrives in [start, start + 1 ms).
"$TFE" synth --profile ward --patients 300 --days 1e-8 --seed 3 --out "$WORK/ms.jsonl" >/dev/null
if grep -v '"arrival_time":1704067200000[,}]' "$WORK/ms.jsonl" | grep -q .; then
  fail "an event of a 1 ms history arrives outside it: $(grep -v '"arrival_time":1704067200000[,}]' "$WORK/ms.jsonl" | head -n 1)"
fi

# A vitals modality with none of the generator's channels would give a cohort without vitals.
sed 's/^channels = \[.*\]$/channels = ["heart_rate", "sat"]/' configs/profiles/ward.toml \
  >"$WORK/custom.toml"
grep -q '"heart_rate"' "$WORK/custom.toml" || fail "the custom profile was not made"
synth_refused 1 custom "custom.toml: \[\[modality\]\] 'wearables' has none of the channels the generator models" \
  "$TFE" synth --profile "$WORK/custom.toml" --patients 3 --days 0.01 --out "$WORK/custom.jsonl"

sed 's/^name = "ward"$/name = "ward\\nnext line"/' configs/profiles/ward.toml >"$WORK/name.toml"
grep -q 'next line' "$WORK/name.toml" || fail "the profile with a two-line name was not made"
synth_refused 1 name 'name.toml: \[profile\] name: must not contain control characters' \
  "$TFE" synth --profile "$WORK/name.toml" --patients 3 --days 0.01 --out "$WORK/name.jsonl"
echo "$TEST: ok"
