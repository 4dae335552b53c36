#!/bin/bash
# tfe profile's bake-off and Kafka options at the command line: a cohort too small for the folds
# is one clear error line that says what to change, and options out of range or out of place are
# usage errors.
set -euo pipefail
TEST=profile_options
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

# expect RC CMD...: runs the command, checks its exit code, keeps stderr in $WORK/err.txt.
expect() {
  local want=$1
  shift
  set +e
  "$@" > "$WORK/out.txt" 2> "$WORK/err.txt"
  local rc=$?
  set -e
  [[ $rc == "$want" ]] || fail "exit $rc (want $want) from: $* -- $(tail -n 3 "$WORK/err.txt")"
}

"$TFE" synth --profile configs/profiles/home.toml --patients 12 --days 1 --seed 5 \
  --out "$WORK/home.tfelog" > "$WORK/synth.txt"
outcomes=$(grep -o '[0-9]* outcomes' "$WORK/synth.txt" | grep -o '[0-9]*')
((outcomes <= 2)) || fail "the cohort meant to be too small has $outcomes outcomes"

# Five folds of twelve patients: some fold's split has no outcome.
expect 1 "$TFE" profile --history "$WORK/home.tfelog" --config configs/profiles/home.toml \
  --bakeoff --folds 5 --bootstrap 0 --quiet
[[ $(wc -l < "$WORK/err.txt") == 1 ]] || fail "expected one error line, got: $(cat "$WORK/err.txt")"
grep -q '^tfe profile: bake-off: fold [0-9] of 5: the [a-z]* split has no patient with an outcome (.*); fewer folds' "$WORK/err.txt" ||
  fail "the error does not say what to change: $(cat "$WORK/err.txt")"
if grep -q 'home-0' "$WORK/err.txt"; then fail "a patient id reached the error"; fi

# Two folds where the first can train and the second cannot: the check of every fold comes
# before any training, so the failing fold is one error line, never a fold cut short beside
# another that is training.
"$TFE" synth --profile configs/profiles/small_complete.toml --patients 40 --days 0.5 --seed 3 \
  --out "$WORK/small.tfelog" > /dev/null
expect 1 "$TFE" profile --history "$WORK/small.tfelog" \
  --config configs/profiles/small_complete.toml --bakeoff --folds 2 --bootstrap 0 --quiet
[[ $(wc -l < "$WORK/err.txt") == 1 ]] || fail "expected one error line, got: $(cat "$WORK/err.txt")"
grep -q '^tfe profile: bake-off: fold [12] of 2: the [a-z]* split has no patient with an outcome' \
  "$WORK/err.txt" || fail "unclear error for a fold without outcomes: $(cat "$WORK/err.txt")"

expect 2 "$TFE" profile --history "$WORK/home.tfelog" --config configs/profiles/home.toml \
  --bakeoff --folds 0
expect 2 "$TFE" profile --history "$WORK/home.tfelog" --config configs/profiles/home.toml \
  --bakeoff --folds 21
expect 2 "$TFE" profile --history "$WORK/home.tfelog" --config configs/profiles/home.toml \
  --folds 3
grep -q -- '--folds goes with --bakeoff' "$WORK/err.txt" ||
  fail "unclear error for --folds without --bakeoff: $(cat "$WORK/err.txt")"
expect 2 "$TFE" profile --history "$WORK/home.tfelog" --config configs/profiles/home.toml \
  --kafka-timeout 5s
grep -q -- '--kafka-timeout go with --from-kafka' "$WORK/err.txt" ||
  fail "unclear error for --kafka-timeout without --from-kafka: $(cat "$WORK/err.txt")"
expect 2 "$TFE" profile --from-kafka --since 0 --until 1 --config configs/profiles/home.toml \
  --kafka-timeout 0s
grep -q -- '--kafka-timeout: expected a duration from 1s to 1h' "$WORK/err.txt" ||
  fail "unclear error for a zero timeout: $(cat "$WORK/err.txt")"
# A replicate count past the limit is a typo, refused in one line rather than run for days.
expect 2 "$TFE" profile --history "$WORK/home.tfelog" --config configs/profiles/home.toml \
  --bootstrap 100001
[[ $(wc -l < "$WORK/err.txt") == 1 ]] && grep -q -- '--bootstrap: .*100000' "$WORK/err.txt" ||
  fail "unclear error for --bootstrap 100001: $(cat "$WORK/err.txt")"
# A report directory that cannot be made (under a plain file) is found before the history is
# read: one line, and no profile table.
printf 'x' > "$WORK/plain-file"
expect 1 "$TFE" profile --history "$WORK/home.tfelog" --config configs/profiles/home.toml \
  --report "$WORK/plain-file/out"
[[ $(wc -l < "$WORK/err.txt") == 1 ]] &&
  grep -q '^tfe profile: cannot create directory .*plain-file/out' "$WORK/err.txt" ||
  fail "unclear error for an unwritable --report: $(cat "$WORK/err.txt")"
[[ ! -s "$WORK/out.txt" ]] || fail "the --report directory was checked only after the profile"
echo "PASS profile_options"
