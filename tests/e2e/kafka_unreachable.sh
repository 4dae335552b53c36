#!/bin/bash
# The one-shot Kafka commands (`tfe profile --from-kafka`, `tfe replay --to-kafka`) against a
# broker address where nothing listens: each fails with exactly one error line on stderr, which
# carries librdkafka's own reason (the refused connection) instead of a log line per retry; an
# empty --brokers is one error line too.
# A stop while `tfe serve` waits for such a broker at start ends it cleanly.
# Needs no broker: port 9 on 127.0.0.1 refuses connections.
set -euo pipefail
TEST=kafka_unreachable
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

"$TFE" synth --profile configs/profiles/home.toml --patients 3 --days 0.05 --seed 5 \
  --out "$WORK/home.jsonl" >/dev/null

# one_error_line NAME PATTERN CMD...: the command fails with an error status (1 or 2, not a
# timeout: a command that runs on instead of failing is stopped after 30 s), stderr is one line
# matching PATTERN, and no patient id from the history appears in it.
one_error_line() {
  local name=$1 pattern=$2
  shift 2
  local status=0
  timeout 30 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || status=$?
  [[ "$status" == 1 || "$status" == 2 ]] ||
    fail "$name: exited $status, want an error: $(head -n 3 "$WORK/$name.err")"
  [[ "$(wc -l <"$WORK/$name.err")" == 1 ]] ||
    fail "$name: $(wc -l <"$WORK/$name.err") lines on stderr, want 1: $(head -n 5 "$WORK/$name.err")"
  grep -q -- "$pattern" "$WORK/$name.err" ||
    fail "$name: the error line does not match '$pattern': $(cat "$WORK/$name.err")"
  if grep -q "home-" "$WORK/$name.err"; then fail "$name: a patient id in the error line"; fi
}

refused="^tfe [a-z]*: kafka: .*Connection refused"
one_error_line profile "$refused" "$TFE" profile --from-kafka --since 0 --until 1 --brokers 127.0.0.1:9 \
  --kafka-timeout 2s --config configs/profiles/home.toml
one_error_line publish "$refused" "$TFE" replay --history "$WORK/home.jsonl" --to-kafka \
  --brokers 127.0.0.1:9 --kafka-timeout 2s --config configs/profiles/home.toml

# An empty --brokers (an unset variable in a script) is an error naming the option, never a quiet
# fall-back to the config's brokers: configs/dev.toml's is the embedded broker, on which a
# service would run, score and report healthy while the real cluster waits.
one_error_line serve_empty --brokers "$TFE" serve --config configs/dev.toml --strategy news2 --http '' \
  --brokers ''
one_error_line publish_empty --brokers "$TFE" replay --history "$WORK/home.jsonl" --to-kafka --brokers '' \
  --config configs/dev.toml
one_error_line profile_empty --brokers "$TFE" profile --from-kafka --since 0 --until 1 --brokers '' \
  --config configs/dev.toml
# SIGTERM while `tfe serve` still waits for an unreachable broker's metadata ends it at once and
# cleanly (exit 0, nothing consumed, nothing to commit) instead of after the 30 s topic check.
"$TFE" serve --config configs/dev.toml --strategy news2 --http '' --brokers 127.0.0.1:9 \
  >"$WORK/serve_start.out" 2>"$WORK/serve_start.err" &
serve_pid=$!
sleep 2
kill -TERM "$serve_pid"
status=0
for _ in $(seq 1 100); do kill -0 "$serve_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$serve_pid" 2>/dev/null; then
  kill -KILL "$serve_pid"
  fail "serve_start: still running 10 s after SIGTERM"
fi
wait "$serve_pid" || status=$?
[[ "$status" == 0 ]] || fail "serve_start: exited $status after SIGTERM: $(tail -n 3 "$WORK/serve_start.err")"
grep -q "^serve: stopped while starting" "$WORK/serve_start.out" ||
  fail "serve_start: no 'stopped while starting' line: $(cat "$WORK/serve_start.out")"
echo "PASS kafka_unreachable: one error line each, naming the refused connection or the empty --brokers; a stop at start is clean"
