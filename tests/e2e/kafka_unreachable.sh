#!/bin/bash
# The one-shot Kafka commands (`tfe profile --from-kafka`, `tfe replay --to-kafka`) against a
# broker address where nothing listens: each fails with exactly one error line on stderr, which
# carries librdkafka's own reason (the refused connection) instead of a log line per retry.
# Needs no broker: port 9 on 127.0.0.1 refuses connections.
set -euo pipefail
TEST=kafka_unreachable
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

"$TFE" synth --profile configs/profiles/home.toml --patients 3 --days 0.05 --seed 5 \
  --out "$WORK/home.jsonl" >/dev/null

# one_error_line NAME CMD...: the command fails, stderr is one line naming the refused connection,
# and no patient id from the history appears in it.
one_error_line() {
  local name=$1
  shift
  if "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"; then fail "$name: did not fail"; fi
  [[ "$(wc -l <"$WORK/$name.err")" == 1 ]] ||
    fail "$name: $(wc -l <"$WORK/$name.err") lines on stderr, want 1: $(head -n 5 "$WORK/$name.err")"
  grep -q "^tfe [a-z]*: kafka: .*Connection refused" "$WORK/$name.err" ||
    fail "$name: the error line does not name the refused connection: $(cat "$WORK/$name.err")"
  if grep -q "home-" "$WORK/$name.err"; then fail "$name: a patient id in the error line"; fi
}

one_error_line profile "$TFE" profile --from-kafka --since 0 --until 1 --brokers 127.0.0.1:9 \
  --kafka-timeout 2s --config configs/profiles/home.toml
one_error_line publish "$TFE" replay --history "$WORK/home.jsonl" --to-kafka \
  --brokers 127.0.0.1:9 --kafka-timeout 2s --config configs/profiles/home.toml
echo "PASS kafka_unreachable: one error line each, naming the refused connection"
