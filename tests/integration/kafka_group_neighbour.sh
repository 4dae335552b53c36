#!/usr/bin/env bash
# A group neighbour: another consumer joins the service's group for a topic of its own while a
# live stream is being scored, and later leaves. Under the cooperative protocol each rebalance
# leaves the service's assignment as it was: the service goes on from where it is (no restore),
# and the final score set equals the file replay's, nothing lost and nothing contradicted.
#
# usage: kafka_group_neighbour.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port)
set -euo pipefail
TEST=kafka_group_neighbour
TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
source "$SRC/tests/integration/lib/service.bash"
it_setup

# One day of a 100-patient ward, streamed in 36 s.
it_synth "$WORK/history.jsonl" 100 1
it_reference "$WORK/history.jsonl"
limit="$REF_LIMIT" want="$REF_WANT"

it_serve a
it_publish_paced "$WORK/history.jsonl" "$CONFIG" 2400x
it_wait_metric "$HTTP_a" tfe_ready 1 60
it_wait_metric "$HTTP_a" tfe_scores_emitted_total $((want / 10)) 120
restores="$(it_metric "$HTTP_a" tfe_restores_total)"
rebalances="$(it_metric "$HTTP_a" tfe_rebalances_total)"

# The neighbour: kcat in the same group, on a topic of its own.
other="${PREFIX}neighbour"
"$SRC/tools/kafka" topics create "$other" 1 >/dev/null 2>&1 || it_fail "could not create topic $other"
kcat -b "$BROKER" -G "g-$PREFIX" -X partition.assignment.strategy=cooperative-sticky \
  -X session.timeout.ms=10000 -q "$other" >/dev/null 2>"$WORK/neighbour.log" &
NEIGHBOUR_PID=$!
SERVE_PIDS+=("$NEIGHBOUR_PID")
it_wait_metric "$HTTP_a" tfe_rebalances_total $((rebalances + 1)) 60
it_log "neighbour joined: the service served $(($(it_metric "$HTTP_a" tfe_rebalances_total) - rebalances)) rebalance(s)"
sleep 2
kill -TERM "$NEIGHBOUR_PID" 2>/dev/null || true
it_wait_pid "$NEIGHBOUR_PID" 30
((WAIT_RC != 124)) || it_fail "the neighbour (kcat) did not leave within 30 s of SIGTERM"
joined="$(it_metric "$HTTP_a" tfe_rebalances_total)"
it_wait_metric "$HTTP_a" tfe_rebalances_total $((joined + 1)) 60
it_log "neighbour left"

it_wait_publish
it_wait_scores "$want" 300
after="$(it_metric "$HTTP_a" tfe_restores_total)"
((after == restores)) ||
  it_fail "the service restored $((after - restores)) time(s) though its assignment never changed"
it_stop_cleanly "$PID_a"

it_check_score_topic "$WORK/kafka-scores.jsonl" "$limit"
echo "$TEST: ok"
