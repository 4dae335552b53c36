#!/usr/bin/env bash
# Scale-out: two instances in one group split the partitions of a live stream (paced replay
# --to-kafka); one is killed (SIGKILL); the other takes its partitions over after the session
# timeout, restores their state from the topics, and the final score set equals the file
# replay's, with no two different scores for the same (patient_id, score_time).
#
# usage: kafka_scale_out.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port)
set -euo pipefail
TEST=kafka_scale_out
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
it_wait_metric "$HTTP_a" tfe_scores_emitted_total $((want / 10)) 120
it_serve b
# b gets its share of the partitions and restores it.
it_wait_metric "$HTTP_b" tfe_assigned_partitions 1 60
it_wait_metric "$HTTP_b" tfe_ready 1 60
it_wait_metric "$HTTP_b" tfe_scores_emitted_total 1 60
a_parts="$(it_metric "$HTTP_a" tfe_assigned_partitions)"
b_parts="$(it_metric "$HTTP_b" tfe_assigned_partitions)"
it_log "partitions split: a $a_parts, b $b_parts"
((a_parts > 0 && b_parts > 0)) || it_fail "the two instances did not split the partitions (a $a_parts, b $b_parts)"
b_scores="$(it_metric "$HTTP_b" tfe_scores_emitted_total)"
# A patient's latest score is answered by the instance that owns its partition only: a's scores
# of the partitions it gave to b went with them.
both=0
answered_a=0
answered_b=0
for id in $(jq -r .patient_id "$WORK/history.jsonl" | sort -u); do
  code_a="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HTTP_a/v1/patients/$id/score")"
  code_b="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HTTP_b/v1/patients/$id/score")"
  if [[ "$code_a" == 200 ]]; then answered_a=$((answered_a + 1)); fi
  if [[ "$code_b" == 200 ]]; then answered_b=$((answered_b + 1)); fi
  if [[ "$code_a" == 200 && "$code_b" == 200 ]]; then both=$((both + 1)); fi
done
((both == 0)) || it_fail "$both patient(s) answered by both instances after the partitions split"
# (b has emitted scores, so it answers some: otherwise the check above tested nothing.)
((answered_b > 0)) || it_fail "b emitted $b_scores scores but answers no patient's latest score"
it_log "latest scores: a answers $answered_a patient(s), b $answered_b, none both"

it_stop "$PID_b" KILL
it_log "b killed after emitting $b_scores scores"
# a takes everything back once b's session expires.
it_wait_metric "$HTTP_a" tfe_assigned_partitions 12 60
it_wait_publish
it_wait_scores "$want" 300
restores="$(it_metric "$HTTP_a" tfe_restores_total)"
((restores >= 3)) || it_fail "a restored $restores times, expected 3 (alone, beside b, alone again)"
it_stop_cleanly "$PID_a"

it_check_score_topic "$WORK/kafka-scores.jsonl" "$limit"
echo "$TEST: ok"
