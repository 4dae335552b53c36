#!/bin/bash
# `tfe import` stopped by SIGINT (Ctrl-C) or SIGTERM leaves nothing behind: neither the output,
# nor its temporary file, nor the --dead-letters file (or theirs), and it exits 128 + the signal
# with one line saying so. Stopped while reading (an input that is a pipe holds it there) and
# while writing its output (the signal sent once the output's temporary file exists).
#
# usage: import_interrupt.sh TFE_BINARY SOURCE_DIR
set -euo pipefail
TEST=import_interrupt
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

rows=600000
python3 - "$WORK/big.csv" "$WORK/small.csv" "$rows" <<'PY'
import sys
t0 = 1704096000000
with open(sys.argv[1], "w") as f:
    f.write("patient_id,event_time,arrival_time,modality,variable,value,text\n")
    for i in range(int(sys.argv[3])):
        f.write(f"P{i % 97},{t0 + i * 1000},,wearables,hr,{60 + i % 50},\n")
with open(sys.argv[2], "w") as f:
    f.write("patient_id,event_time,arrival_time,modality,variable,value,text\n")
    f.write(f"Q1,{t0},,wearables,hr,70,\nQ1,{t0},,wearables,spo2,high,\n")
PY

# Nothing of a run may remain in $WORK but the inputs (and the pipe).
leftovers() {
  find "$WORK" -maxdepth 1 -type f ! -name '*.csv' ! -name '*.err' ! -name '*.out' -printf '%f '
}

# Job control: background jobs keep SIGINT (without it the shell starts them ignoring it).
set -m
for sig in INT TERM; do
  want=$((128 + $(kill -l "$sig")))

  # 1. While reading: the second input is a pipe with no writer yet, so the import waits on it
  # after reading the first; the signal arrives there, then the pipe is filled.
  rm -f "$WORK/pipe.csv"
  mkfifo "$WORK/pipe.csv"
  "$TFE" import --csv "$WORK/small.csv" "$WORK/pipe.csv" --out "$WORK/read.tfelog" \
    --dead-letters "$WORK/read-dead.jsonl" >"$WORK/read-$sig.out" 2>"$WORK/read-$sig.err" &
  pid=$!
  for _ in $(seq 1 300); do
    grep -q 'import: read .*small.csv' "$WORK/read-$sig.err" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || fail "SIG$sig: the import ended early: $(cat "$WORK/read-$sig.err")"
    sleep 0.1
  done
  grep -q 'import: read .*small.csv' "$WORK/read-$sig.err" ||
    fail "SIG$sig: the import did not read its first input within 30 s"
  kill -"$sig" "$pid"
  # An interrupted import may not open the pipe again: the writer gives up after 10 s.
  timeout 10 cp "$WORK/small.csv" "$WORK/pipe.csv" || true
  status=0
  wait "$pid" || status=$?
  rm -f "$WORK/pipe.csv"
  ((status == want)) || fail "SIG$sig while reading: exited $status, want $want"
  left="$(leftovers)"
  [[ -z "$left" ]] || fail "SIG$sig while reading: left behind: $left"
  grep -q 'tfe import: interrupted after' "$WORK/read-$sig.err" ||
    fail "SIG$sig while reading: no interrupted line: $(cat "$WORK/read-$sig.err")"

  # 2. While writing: the signal once the output's temporary file exists. A signal that lands
  # after the last check, while the file is put in place, completes the import instead; either
  # way no temporary file remains.
  "$TFE" import --csv "$WORK/big.csv" --out "$WORK/write.jsonl" \
    --dead-letters "$WORK/write-dead.jsonl" >"$WORK/write-$sig.out" 2>"$WORK/write-$sig.err" &
  pid=$!
  seen=0
  for _ in $(seq 1 30000); do
    if compgen -G "$WORK/write.jsonl.tmp-*" >/dev/null; then
      seen=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.002
  done
  ((seen)) || {
    wait "$pid" || true
    fail "SIG$sig: the import ended before its output's temporary file was seen; make big.csv larger"
  }
  kill -"$sig" "$pid"
  status=0
  wait "$pid" || status=$?
  if ((status == want)); then
    left="$(leftovers)"
    [[ -z "$left" ]] || fail "SIG$sig while writing: left behind: $left"
    grep -q 'tfe import: interrupted after 600000 rows; nothing was written' \
      "$WORK/write-$sig.err" ||
      fail "SIG$sig while writing: no interrupted line: $(cat "$WORK/write-$sig.err")"
    echo "SIG$sig while writing: interrupted, nothing left"
  elif ((status == 0)); then
    compgen -G "$WORK/*.tmp-*" >/dev/null && fail "SIG$sig: a temporary file was left"
    [[ "$(wc -l <"$WORK/write.jsonl")" == "$rows" ]] || fail "SIG$sig: a completed output lacks events"
    rm -f "$WORK/write.jsonl" "$WORK/write-dead.jsonl"
    echo "SIG$sig while writing: the signal came after the last check; the import completed"
  else
    fail "SIG$sig while writing: exited $status, want $want or 0: $(tail -n 3 "$WORK/write-$sig.err")"
  fi
done
set +m
echo "PASS $TEST"
