#!/usr/bin/env bash
# Restarts lose nothing: while a history streams into the topics (paced replay --to-kafka), the
# service is stopped mid-stream, once with SIGTERM (graceful: exit 0) and once with SIGKILL, and
# started again; it restores its state from the topics, and the final set of scores equals the
# file replay's, with nothing missing and no two different scores for the same
# (patient_id, score_time).
#
# usage: kafka_restart.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port)
set -euo pipefail
TEST=kafka_restart
TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
source "$SRC/tests/integration/lib/service.bash"
it_setup

# One day of a 100-patient ward, streamed in 24 s.
it_synth "$WORK/history.jsonl" 100 1
it_reference "$WORK/history.jsonl"
limit="$REF_LIMIT" want="$REF_WANT"

for signal in TERM KILL; do
  prefix="${PREFIX}${signal,,}-"
  config="$WORK/$signal.toml"
  it_write_config "$config" "$prefix" "g-$prefix"
  SCORE_TOPIC="${prefix}tfe.scores"

  it_serve "first$signal" "$config"
  first_pid="$SERVE_PID"
  it_publish_paced "$WORK/history.jsonl" "$config" 3600x
  # Mid-stream: a third of the scores out, and a commit since.
  it_wait_metric "$SERVE_HTTP" tfe_scores_emitted_total $((want / 3)) 120
  commits="$(it_metric "$SERVE_HTTP" tfe_commits_total)"
  it_wait_metric "$SERVE_HTTP" tfe_commits_total $((commits + 1)) 30
  it_stop "$first_pid" "$signal"
  if [[ "$signal" == TERM ]]; then
    ((STOP_RC == 0)) || it_fail "tfe serve exited with status $STOP_RC after SIGTERM (expected 0)"
    grep -q "stopped:" "$WORK/serve-first$signal.log" || it_fail "no shutdown summary after SIGTERM"
  fi
  it_consume_scores "$WORK/before-$signal.jsonl"
  before="$(it_distinct_keys "$WORK/before-$signal.jsonl")"
  it_log "SIG$signal after $before of $want scores"

  it_serve "second$signal" "$config"
  it_wait_publish
  ((before < want)) || it_fail "the service finished before the SIG$signal: nothing was tested"
  it_wait_scores "$want" 300
  grep -q "restore done" "$WORK/serve-second$signal.log" ||
    it_fail "the restarted service did not restore its state from the topics"
  it_stop_cleanly "$SERVE_PID"

  it_check_score_topic "$WORK/kafka-$signal.jsonl" "$limit" "SIG$signal"
done
echo "$TEST: ok"
