#!/usr/bin/env bash
# The same history through Kafka (`tfe replay --to-kafka`, then `tfe serve` until caught up) and
# through a file replay gives the identical set of scores. The service then stops on SIGTERM with
# exit status 0.
#
# usage: kafka_same_as_replay.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port)
set -euo pipefail
TEST=kafka_same_as_replay
TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
source "$SRC/tests/integration/lib/service.bash"
it_setup

it_synth "$WORK/history.jsonl" 60 1
it_reference "$WORK/history.jsonl"
limit="$REF_LIMIT" want="$REF_WANT"

it_publish "$WORK/history.jsonl"
it_serve main
it_wait_scores "$want" 300
it_stop "$PID_main" TERM
((STOP_RC == 0)) || it_fail "tfe serve exited with status $STOP_RC after SIGTERM (expected 0)"
grep -q "stopped:" "$WORK/serve-main.log" || it_fail "no shutdown summary in the service log"

it_consume_scores "$WORK/kafka-scores.jsonl"
it_compare_scores "$WORK/file-scores.jsonl" "$WORK/kafka-scores.jsonl" "$limit"
repeats=$(($(wc -l <"$WORK/kafka-scores.jsonl") - $(it_distinct_keys "$WORK/kafka-scores.jsonl")))
((repeats == 0)) || it_fail "an uninterrupted run emitted $repeats scores twice"
echo "$TEST: ok"
