#!/usr/bin/env bash
# The broker is stopped and started again (tools/kafka restart, same port and data) in the middle
# of a live stream: the service waits while it is away, resumes, and loses nothing: the final set
# of scores equals the file replay's, with no two different scores for the same
# (patient_id, score_time). The service never exits on its own meanwhile.
#
# usage: kafka_broker_restart.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port of the
#        broker that tools/kafka manages: TFE_KAFKA_STATE as when it was started)
set -euo pipefail
TEST=kafka_broker_restart
TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
source "$SRC/tests/integration/lib/service.bash"
it_setup

status="$("$SRC/tools/kafka" status 2>/dev/null || true)"
[[ "$status" == "running $BROKER" ]] ||
  it_fail "the broker at $BROKER is not the one tools/kafka manages ('$status'): this test restarts it with 'tools/kafka restart' (set TFE_KAFKA_STATE as when it was started)"

# A failure while the broker is stopped must not leave it stopped: the tests after this one need
# it, and the cleanup deletes this test's topics through it.
broker_back() {
  local attempt
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    [[ "$("$SRC/tools/kafka" status 2>/dev/null || true)" == "running $BROKER" ]] && return 0
    "$SRC/tools/kafka" start >/dev/null 2>>"$WORK/broker-restart.log" && return 0
    sleep 3
  done
  echo "$TEST: could not start the broker again at $BROKER: $(tail -n 3 "$WORK/broker-restart.log")" >&2
}
trap 'broker_back; it_cleanup' EXIT

# While the broker is away the paced publisher queues what it would have sent, and sends it all
# when the broker is back, partitions in no particular order: a partition may look caught up for
# a few seconds while its share of that backlog is still on the way. The grace during which a
# caught-up partition still holds the live clock covers that here (docs/service.md).
sed -i 's/^shutdown_grace = .*/&\ncaught_up_grace = "20s"/' "$CONFIG"

it_synth "$WORK/history.jsonl" 100 1
it_reference "$WORK/history.jsonl"
limit="$REF_LIMIT" want="$REF_WANT"

it_serve main
it_publish_paced "$WORK/history.jsonl" "$CONFIG" 2400x
it_wait_metric "$HTTP_main" tfe_scores_emitted_total $((want / 4)) 120
it_log "stopping the broker"
"$SRC/tools/kafka" stop --keep-data >"$WORK/broker-restart.log" 2>&1 ||
  it_fail "tools/kafka stop failed: $(tail -n 3 "$WORK/broker-restart.log")"
sleep 3
kill -0 "$PID_main" 2>/dev/null || it_fail "tfe serve exited while the broker was away"
# Start it again on the same port (retrying while the old port is still held by closing sockets).
new_address=""
for attempt in $(seq 1 30); do
  if new_address="$("$SRC/tools/kafka" start 2>>"$WORK/broker-restart.log" | tail -n 1)"; then break; fi
  new_address=""
  sleep 3
done
[[ -n "$new_address" ]] || it_fail "the broker did not start again: $(tail -n 3 "$WORK/broker-restart.log")"
[[ "$new_address" == "$BROKER" ]] || it_fail "the broker came back at '$new_address', not $BROKER"
it_log "the broker is back"
kill -0 "$PID_main" 2>/dev/null || it_fail "tfe serve exited while the broker was away"

it_wait_publish
it_wait_scores "$want" 300
it_log "late events: $(it_metric "$HTTP_main" tfe_late_events_total), restores: $(it_metric "$HTTP_main" tfe_restores_total)"
kill -0 "$PID_main" 2>/dev/null || it_fail "tfe serve exited after the broker came back"
it_stop_cleanly "$PID_main"

it_check_score_topic "$WORK/kafka-scores.jsonl" "$limit"
echo "$TEST: ok"
