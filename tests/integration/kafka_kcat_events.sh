#!/usr/bin/env bash
# Events produced with kcat (an independent client) are scored; the scores read back with kcat are
# keyed by patient_id and are valid score JSON as DESIGN.md describes; they equal a file replay of
# the same records; GET /v1/patients/{id}/score answers the latest one.
#
# usage: kafka_kcat_events.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port)
set -euo pipefail
TEST=kafka_kcat_events
TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
source "$SRC/tests/integration/lib/service.bash"
it_setup

# Three patients, vitals every 30 s for 12 minutes (hr, spo2, rr, temp, sbp), a note for P-2 that
# arrives 3 minutes after it was written. Times are epoch ms.
t0=1700000000000
: >"$WORK/wearables.tsv"
: >"$WORK/notes.tsv"
: >"$WORK/history.jsonl"
for s in $(seq 0 30 690); do
  for p in 1 2 3; do
    et=$((t0 + s * 1000 + p * 100))
    at=$((et + 400))
    hr=$((70 + (s / 30 + p * 5) % 40))
    rec="{\"patient_id\":\"P-$p\",\"modality\":\"wearables\",\"event_time\":$et,\"arrival_time\":$at,\"values\":{\"hr\":$hr,\"spo2\":$((99 - p)),\"rr\":$((14 + p * 3)),\"temp\":37.1,\"sbp\":$((120 - p * 15))}}"
    printf 'P-%s\t%s\n' "$p" "$rec" >>"$WORK/wearables.tsv"
    echo "$rec" >>"$WORK/history.jsonl"
  done
done
note="{\"patient_id\":\"P-2\",\"modality\":\"notes\",\"event_time\":$((t0 + 240000)),\"arrival_time\":$((t0 + 420000)),\"text\":\"increasingly short of breath, new oxygen requirement\"}"
printf 'P-2\t%s\n' "$note" >>"$WORK/notes.tsv"
echo "$note" >>"$WORK/history.jsonl"
jq -s -c 'sort_by(.arrival_time) | .[]' "$WORK/history.jsonl" >"$WORK/history.sorted.jsonl"

# Topics first (the service creates them at start), then the records.
it_serve main
kcat -b "$BROKER" -P -t "${PREFIX}tfe.wearables" -K $'\t' -X acks=all <"$WORK/wearables.tsv" ||
  it_fail "kcat could not produce to ${PREFIX}tfe.wearables"
kcat -b "$BROKER" -P -t "${PREFIX}tfe.notes" -K $'\t' -X acks=all <"$WORK/notes.tsv" ||
  it_fail "kcat could not produce to ${PREFIX}tfe.notes"

it_reference "$WORK/history.sorted.jsonl"
limit="$REF_LIMIT" want="$REF_WANT"
((want >= 30)) || it_fail "the reference replay gave only $want scores"
it_wait_scores "$want" 120

# Keyed by patient_id, valid score JSON.
timeout 60 kcat -b "$BROKER" -C -t "$SCORE_TOPIC" -o beginning -e -q -f '%k\t%s\n' >"$WORK/keyed.tsv" ||
  it_fail "kcat could not read $SCORE_TOPIC"
bad_keys="$(awk -F'\t' '{ split($2, a, "\"patient_id\":\""); split(a[2], b, "\""); if (b[1] != $1) n++ } END { print n + 0 }' "$WORK/keyed.tsv")"
((bad_keys == 0)) || it_fail "$bad_keys score messages are not keyed by their patient_id"
cut -f2- "$WORK/keyed.tsv" >"$WORK/kafka-scores.jsonl"
invalid="$(jq -c 'select(
    (.patient_id | type) != "string" or (.score_time | type) != "number" or
    (.risk | type) != "number" or .risk < 0 or .risk > 1 or (.logit | type) != "number" or
    (.strategy | type) != "string" or (.model.name | type) != "string" or
    (.model.id | type) != "string" or
    ([.modalities | to_entries[] | select(
        (.value.present | type) != "boolean" or
        ((.value.age_ms | type) != "number" and .value.age_ms != null) or
        (.value.weight | type) != "number")] | length) != 0 or
    (.modalities | keys) != ["imaging", "notes", "wearables"]
  )' "$WORK/kafka-scores.jsonl" | wc -l)" || it_fail "a score message is not JSON"
((invalid == 0)) || it_fail "$invalid score messages do not follow the score format: $(head -n 1 "$WORK/kafka-scores.jsonl")"
notes_present="$(jq -c 'select(.patient_id == "P-2" and .modalities.notes.present)' "$WORK/kafka-scores.jsonl" | wc -l)"
((notes_present > 0)) || it_fail "no score of P-2 sees its note"

it_compare_scores "$WORK/file-scores.jsonl" "$WORK/kafka-scores.jsonl" "$limit"

# The latest score of a patient over HTTP.
latest="$(jq -c 'select(.patient_id == "P-1")' "$WORK/kafka-scores.jsonl" | jq -s -c 'max_by(.score_time)')"
served="$(curl -s --max-time 5 "http://$HTTP_main/v1/patients/P-1/score" | jq -c .)"
[[ "$served" == "$latest" ]] || it_fail "GET /v1/patients/P-1/score gave '$served', expected '$latest'"
code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$HTTP_main/v1/patients/nobody/score")"
[[ "$code" == 404 ]] || it_fail "an unknown patient gave HTTP $code, expected 404"

it_stop "$PID_main" TERM
((STOP_RC == 0)) || it_fail "tfe serve exited with status $STOP_RC after SIGTERM (expected 0)"
echo "$TEST: ok"
