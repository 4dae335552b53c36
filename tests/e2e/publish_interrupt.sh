#!/bin/bash
# `tfe replay --to-kafka` stopped by SIGINT (Ctrl-C) or SIGTERM mid-publish ends cleanly: what
# it produced is delivered, its summary says it was interrupted and how much went out, and it
# exits 128 + the signal. Against the embedded broker of a `tfe serve`, so no broker is needed.
set -euo pipefail
TEST=publish_interrupt
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

"$TFE" synth --profile ward --patients 20 --days 1 --seed 5 --out "$WORK/h.tfelog" >/dev/null
serve_embedded svc --strategy news2 --http 127.0.0.1:0
brokers="$(sed -n 's/.*brokers \([0-9.:]*\) (embedded).*/\1/p' "$WORK/svc.out")"
[[ -n "$brokers" ]] || fail "no embedded broker address: $(cat "$WORK/svc.out")"

# Job control: background jobs keep SIGINT (without it the shell starts them ignoring it).
set -m
for sig in INT TERM; do
  # A day of history at 600x takes 144 s: the signal lands mid-publish.
  "$TFE" replay --history "$WORK/h.tfelog" --to-kafka --config configs/dev.toml \
    --brokers "$brokers" --pace 600x >"$WORK/$sig.out" 2>"$WORK/$sig.err" &
  pid=$!
  # The first progress line comes 10 s into the publish (one every 10 s): publishing is under way.
  for _ in $(seq 1 200); do
    grep -q 'events published' "$WORK/$sig.err" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '^replay: [0-9]* events published ([0-9]* s, [0-9]* events/s)$' "$WORK/$sig.err" ||
    fail "SIG$sig: no progress line after 20 s: $(head -n 3 "$WORK/$sig.err")"
  kill -"$sig" "$pid"
  status=0
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    fail "SIG$sig: the publish did not end within 30 s"
  fi
  wait "$pid" || status=$?
  want=$((128 + $(kill -l "$sig")))
  ((status == want)) || fail "SIG$sig: exited $status, want $want: $(tail -n 3 "$WORK/$sig.err")"
  summary="$(cat "$WORK/$sig.out")"
  [[ "$summary" =~ ^replay:\ interrupted:\ ([0-9]+)\ events\ published ]] ||
    fail "SIG$sig: no interrupted summary on stdout: '$summary' $(tail -n 3 "$WORK/$sig.err")"
  published="${BASH_REMATCH[1]}"
  total="$("$TFE" convert --in "$WORK/h.tfelog" --out "$WORK/h.jsonl" | sed -n 's/convert: \([0-9]*\) events.*/\1/p')"
  ((published > 0 && published < total)) ||
    fail "SIG$sig: $published of $total events published, want some but not all"
  echo "SIG$sig: $published of $total events published before the stop"
done
set +m
# Started ignoring SIGINT (a non-interactive shell's background job), it keeps ignoring it.
"$TFE" replay --history "$WORK/h.tfelog" --to-kafka --config configs/dev.toml \
  --brokers "$brokers" --pace 600x >"$WORK/ign.out" 2>"$WORK/ign.err" &
pid=$!
sleep 2
kill -INT "$pid"
sleep 2
kill -0 "$pid" 2>/dev/null || fail "a publish started with SIGINT ignored stopped on SIGINT"
kill -TERM "$pid"
wait "$pid" || true
serve_stop svc

# A stop with the broker gone: what was produced cannot be delivered. The publish gives it up
# after --kafka-timeout (not librdkafka's message.timeout.ms, 5 minutes) and fails with one line
# counting what went out and what did not.
serve_embedded gone --strategy news2 --http 127.0.0.1:0
brokers="$(sed -n 's/.*brokers \([0-9.:]*\) (embedded).*/\1/p' "$WORK/gone.out")"
[[ -n "$brokers" ]] || fail "no embedded broker address: $(cat "$WORK/gone.out")"
set -m
"$TFE" replay --history "$WORK/h.tfelog" --to-kafka --config configs/dev.toml \
  --brokers "$brokers" --pace 600x --kafka-timeout 2s >"$WORK/gone.rout" 2>"$WORK/gone.rerr" &
pid=$!
for _ in $(seq 1 200); do
  grep -q 'events published' "$WORK/gone.rerr" 2>/dev/null && break
  sleep 0.1
done
grep -q 'events published' "$WORK/gone.rerr" ||
  fail "broker gone: no progress line after 20 s: $(head -n 3 "$WORK/gone.rerr")"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
sleep 2 # events produced meanwhile wait in the producer's queue
kill -INT "$pid"
for _ in $(seq 1 300); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid"
  fail "broker gone: the stopped publish did not end within 30 s"
fi
status=0
wait "$pid" || status=$?
set +m
((status == 1)) || fail "broker gone: exited $status, want 1: $(tail -n 3 "$WORK/gone.rerr")"
line="$(grep '^tfe replay: ' "$WORK/gone.rerr" | grep -v 'events published (' | tail -n 1)"
[[ "$line" =~ ([0-9]+)\ events\ published,\ ([0-9]+)\ given\ up ]] ||
  fail "broker gone: no line counting what was given up: $(tail -n 3 "$WORK/gone.rerr")"
((BASH_REMATCH[2] > 0)) || fail "broker gone: nothing given up: $line"
[[ ! -s "$WORK/gone.rout" ]] || fail "broker gone: a summary on stdout: $(cat "$WORK/gone.rout")"
echo "broker gone: $line"
echo "PASS publish_interrupt: SIGINT and SIGTERM end a publish with its summary and 128 + signal," \
  "and with the broker gone within --kafka-timeout, counting what was given up"
