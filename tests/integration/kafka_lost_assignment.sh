#!/usr/bin/env bash
# A stopped or starved process, and the lost assignment that follows, lose nothing and revise
# nothing: while a history streams into the topics (paced replay --to-kafka), the service is frozen
# (SIGSTOP) twice, then thawed (SIGCONT): first for longer than its caught_up_grace but within its
# group session, then for longer than its session timeout. After the second the group has expired
# its session, so the instance learns that its assignment is lost (no commit possible), rejoins and
# rebuilds its state from the topics. The final set of scores equals the file replay's: nothing
# missing, nothing extra, and no two different scores for the same (patient_id, score_time),
# repeats included.
#
# The notes are published by a second paced publisher that runs a second behind the first, as a
# producer of another system would: the notes partitions then look caught up while their next
# record is on the way, which caught_up_grace covers. Both freezes outlast that grace, so the time
# the process did not run must not count toward it: otherwise, right after a thaw (before the
# client notices that its session expired, if it did), the clock would run past the notes still
# on the way and score the ticks before them without them.
#
# usage: kafka_lost_assignment.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port)
set -euo pipefail
TEST=kafka_lost_assignment
TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
source "$SRC/tests/integration/lib/service.bash"
it_setup

# A grace well above the skew of the two publishers (1 s) and the longest quiet spell of a notes
# partition at this pace (2 s); a session well above the short freeze, which is well above the
# grace; a long freeze well above the session.
session_ms=15000
grace_s=5
short_freeze_s=9
long_freeze_s=20
lag_ms=1000
pace=2400
sed -i -e "s/^\"session.timeout.ms\" = .*/\"session.timeout.ms\" = \"$session_ms\"/" \
  -e 's/^"heartbeat.interval.ms" = .*/"heartbeat.interval.ms" = "500"/' \
  -e "s/^shutdown_grace = .*/&\ncaught_up_grace = \"${grace_s}s\"/" \
  -e 's/^commit_interval = .*/commit_interval = "3s"/' "$CONFIG"
grep -q "\"session.timeout.ms\" = \"$session_ms\"" "$CONFIG" || it_fail "could not set the session timeout"
grep -q "^caught_up_grace = \"${grace_s}s\"" "$CONFIG" || it_fail "could not set caught_up_grace"

# One day of a 100-patient ward. The first two hours are in the topics before the service starts
# (every partition then has a record: one that has none yet does not hold the clock); the rest
# streams in 33 s, the notes one second behind everything else.
it_synth "$WORK/history.jsonl" 100 1
it_reference "$WORK/history.jsonl"
limit="$REF_LIMIT" want="$REF_WANT"
split=$(($(jq -n '[inputs | .arrival_time] | min' "$WORK/history.jsonl") + 2 * 3600 * 1000))
jq -c --argjson t "$split" 'select(.arrival_time < $t)' "$WORK/history.jsonl" >"$WORK/prefix.jsonl"
jq -c --argjson t "$split" 'select(.arrival_time >= $t and .modality != "notes")' \
  "$WORK/history.jsonl" >"$WORK/rest-main.jsonl"
jq -c --argjson t "$split" 'select(.arrival_time >= $t and .modality == "notes")' \
  "$WORK/history.jsonl" >"$WORK/rest-notes.jsonl"
[[ -s "$WORK/rest-notes.jsonl" ]] || it_fail "the synthetic history has no notes after its first two hours"
# Each paced publisher starts its history at its own first record: the notes one starts later by
# the distance between the two first records, plus the lag.
main_first="$(it_max_arrival <(head -n 1 "$WORK/rest-main.jsonl"))"
notes_first="$(it_max_arrival <(head -n 1 "$WORK/rest-notes.jsonl"))"
notes_delay="$(awk -v a="$main_first" -v b="$notes_first" -v p="$pace" -v l="$lag_ms" \
  'BEGIN { printf "%.3f\n", ((b - a) / p + l) / 1000 }')"

it_publish "$WORK/prefix.jsonl"
it_serve main
"$TFE" replay --history "$WORK/rest-main.jsonl" --to-kafka --config "$CONFIG" --pace "${pace}x" \
  >"$WORK/publish-main.log" 2>&1 &
main_publisher=$!
SERVE_PIDS+=("$main_publisher")
sleep "$notes_delay"
"$TFE" replay --history "$WORK/rest-notes.jsonl" --to-kafka --config "$CONFIG" --pace "${pace}x" \
  >"$WORK/publish-notes.log" 2>&1 &
notes_publisher=$!
SERVE_PIDS+=("$notes_publisher")

# it_freeze SECONDS: stops the service for that long, then lets it go on. The freeze comes a
# while after a commit (every 3 s), so that the restore after a lost assignment emits again the
# scores of those ticks.
it_freeze() {
  local commits
  commits="$(it_metric "$HTTP_main" tfe_commits_total)"
  it_wait_metric "$HTTP_main" tfe_commits_total $((commits + 1)) 60
  sleep 1.5
  it_log "freezing tfe serve for $1 s (caught_up_grace $grace_s s, session timeout $((session_ms / 1000)) s)"
  kill -STOP "$PID_main"
  sleep "$1"
  kill -CONT "$PID_main"
}

# Mid-stream (a fifth of the scores out), a freeze within the session.
it_wait_metric "$HTTP_main" tfe_scores_emitted_total $((want / 5)) 120
it_freeze "$short_freeze_s"
sleep 1
late_before="$(it_metric "$HTTP_main" tfe_late_events_total)"
! grep -q "rebalance: lost" "$WORK/serve-main.log" ||
  it_log "note: the session expired already during the short freeze (machine overloaded?)"
# Some scores more, then a freeze beyond the session.
scores="$(it_metric "$HTTP_main" tfe_scores_emitted_total)"
it_wait_metric "$HTTP_main" tfe_scores_emitted_total $((scores + 1)) 60
it_freeze "$long_freeze_s"

# The instance must notice the loss by itself and restore.
deadline=$((SECONDS + 120))
until grep -q "rebalance: lost" "$WORK/serve-main.log"; do
  ((SECONDS < deadline)) || it_fail "no 'rebalance: lost' in the log 120 s after the long freeze"
  kill -0 "$PID_main" 2>/dev/null || it_fail "tfe serve exited after the long freeze"
  sleep 0.5
done
it_log "the instance saw its assignment lost"
for publisher in "$main_publisher" "$notes_publisher"; do
  it_wait_pid "$publisher" 300
  ((WAIT_RC != 124)) || it_fail "a paced tfe replay --to-kafka did not finish within 300 s"
  ((WAIT_RC == 0)) || it_fail "a paced tfe replay --to-kafka failed ($WAIT_RC): $(tail -n 3 "$WORK"/publish-*.log)"
done
# Every score out, or none more for 30 s (the comparison below then says what is missing).
deadline=$((SECONDS + 300)) last=-1 still=0
while ((SECONDS < deadline && still < 30)); do
  n="$(it_topic_messages "$SCORE_TOPIC")"
  if ((n >= want)); then
    it_consume_scores "$WORK/scores.now"
    (($(it_distinct_keys "$WORK/scores.now") >= want)) && break
  fi
  if ((n == last)); then still=$((still + 1)); else still=0 last=$n; fi
  sleep 1
done
grep -q "restore done" "$WORK/serve-main.log" || it_fail "no restore after the lost assignment"
it_log "late events: $late_before after the short freeze, $(it_metric "$HTTP_main" tfe_late_events_total) in all"
it_stop_cleanly "$PID_main"

it_check_score_topic "$WORK/kafka-scores.jsonl" "$limit"
echo "$TEST: ok"
