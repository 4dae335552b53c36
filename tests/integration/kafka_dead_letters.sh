#!/usr/bin/env bash
# Bad records on the modality topics land on the dead-letter topic with their reason and source
# topic/partition/offset in headers, and are counted by reason in /metrics; the scores of the valid
# events are exactly those of a file replay of the valid events alone. The dead-letter topic takes
# smaller messages than the producer sends (max.message.bytes): the broker refuses the batch that
# holds a large dead letter and small ones, yet only the large one goes without its record.
#
# usage: kafka_dead_letters.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port)
set -euo pipefail
TEST=kafka_dead_letters
TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
source "$SRC/tests/integration/lib/service.bash"
it_setup

it_synth "$WORK/history.jsonl" 30 0.5
it_reference "$WORK/history.jsonl"
limit="$REF_LIMIT" want="$REF_WANT"

# topic <TAB> key <TAB> record <TAB> expected reason; the records name real patients of the
# history, so that a record that slipped through would change their scores.
pid="$(head -n 1 "$WORK/history.jsonl" | jq -r .patient_id)"
t="$(head -n 1 "$WORK/history.jsonl" | jq -r .event_time)"
W="${PREFIX}tfe.wearables" N="${PREFIX}tfe.notes" I="${PREFIX}tfe.imaging"
{
  printf '%s\t%s\t%s\t%s\n' "$W" "$pid" 'not json at all' malformed_json
  printf '%s\t%s\t%s\t%s\n' "$W" "$pid" "{\"patient_id\":\"$pid\",\"modality\":\"wearables\",\"event_time\":$t}" missing_field
  printf '%s\t%s\t%s\t%s\n' "$W" "$pid" "{\"patient_id\":\"$pid\",\"modality\":\"wearables\",\"event_time\":$t,\"values\":{\"hr\":\"high\"}}" wrong_type
  printf '%s\t%s\t%s\t%s\n' "$W" "$pid" "{\"patient_id\":\"$pid\",\"modality\":\"wearables\",\"event_time\":-5,\"values\":{\"hr\":80}}" event_time_out_of_range
  printf '%s\t%s\t%s\t%s\n' "$N" "x" "{\"patient_id\":\"\",\"modality\":\"notes\",\"event_time\":$t,\"text\":\"x\"}" bad_patient_id
  printf '%s\t%s\t%s\t%s\n' "$N" "$pid" "{\"patient_id\":\"$pid\",\"modality\":\"xray\",\"event_time\":$t}" unknown_modality
  printf '%s\t%s\t%s\t%s\n' "$N" "$pid" "{\"patient_id\":\"$pid\",\"modality\":\"notes\",\"event_time\":$t,\"text\":\"caf"$'\xff'"\"}" invalid_utf8
  printf '%s\t%s\t%s\t%s\n' "$I" "$pid" "{\"patient_id\":\"$pid\",\"modality\":\"imaging\",\"event_time\":$t,\"embedding\":[1,2,3]}" wrong_dimension
} >"$WORK/bad.tsv"
bad_count="$(wc -l <"$WORK/bad.tsv")"
# A record too large for the dead-letter topic (below), produced with the first small ones so that
# their dead letters share a record batch.
big_bytes=50000
printf '%s\t%s\t%s\t%s\n' "$W" "$pid" "$(head -c "$big_bytes" /dev/zero | tr '\0' 'x')" malformed_json \
  >"$WORK/big.tsv"

"$SRC/tools/kafka" topics create "$DEAD_TOPIC" 4 --config max.message.bytes=20000 ||
  it_fail "could not create $DEAD_TOPIC"
it_serve main
# Half of the bad records before the history, half after; each topic's in one produce request,
# so that they are consumed, and dead-lettered, together.
produce_bad() {
  local topic key record reason
  local -A lines=()
  while IFS=$'\t' read -r topic key record reason; do
    lines[$topic]+="$key"$'\t'"$record"$'\n'
  done
  for topic in "${!lines[@]}"; do
    printf '%s' "${lines[$topic]}" | kcat -b "$BROKER" -P -t "$topic" -K $'\t' -X acks=all ||
      it_fail "kcat could not produce to $topic"
  done
}
cat "$WORK/big.tsv" <(head -n 4 "$WORK/bad.tsv") | produce_bad
it_publish "$WORK/history.jsonl"
tail -n +5 "$WORK/bad.tsv" | produce_bad

it_wait_scores "$want" 300
it_wait_metric "$HTTP_main" tfe_dead_letters_total "$((bad_count + 1))" 60

# The dead-letter topic: every bad record once, with its reason and position.
timeout 60 kcat -b "$BROKER" -C -t "$DEAD_TOPIC" -o beginning -e -q -f '%h\t%s\n' >"$WORK/dead.tsv" ||
  it_fail "kcat could not read $DEAD_TOPIC"
((bad_count + 1 == $(wc -l <"$WORK/dead.tsv"))) ||
  it_fail "$(wc -l <"$WORK/dead.tsv") dead letters on $DEAD_TOPIC, expected $((bad_count + 1))"
header() { tr ',' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# The large one: its reason and size, without the record (the topic refuses it with it).
big="$(grep -a "raw_bytes=$big_bytes" "$WORK/dead.tsv")" ||
  it_fail "no dead letter of the $big_bytes-byte record on $DEAD_TOPIC"
[[ "$(header "${big%%$'\t'*}" reason)" == malformed_json ]] ||
  it_fail "the $big_bytes-byte record: reason '$(header "${big%%$'\t'*}" reason)'"
[[ "$(header "${big%%$'\t'*}" source_offset)" =~ ^[0-9]+$ ]] ||
  it_fail "the $big_bytes-byte record: no source_offset"
[[ -z "${big#*$'\t'}" ]] || it_fail "the $big_bytes-byte record's dead letter carries it"
while IFS=$'\t' read -r topic key record reason; do
  line="$(grep -a -F -- "$(printf '\t%s' "$record")" "$WORK/dead.tsv" | head -n 1)" ||
    it_fail "the bad record '$record' is not on the dead-letter topic (as it came)"
  headers="${line%%$'\t'*}"
  [[ "$(header "$headers" reason)" == "$reason" ]] ||
    it_fail "'$record': reason '$(header "$headers" reason)', expected $reason"
  [[ "$(header "$headers" source_topic)" == "$topic" ]] ||
    it_fail "'$record': source_topic '$(header "$headers" source_topic)', expected $topic"
  [[ "$(header "$headers" source_partition)" =~ ^[0-9]+$ ]] || it_fail "'$record': no source_partition"
  [[ "$(header "$headers" source_offset)" =~ ^[0-9]+$ ]] || it_fail "'$record': no source_offset"
  n="$(curl -s --max-time 5 "http://$HTTP_main/metrics" | sed -n "s/^tfe_decode_errors_total{reason=\"$reason\"} //p")"
  ((n >= 1)) || it_fail "tfe_decode_errors_total{reason=\"$reason\"} is '$n'"
done <"$WORK/bad.tsv"

it_stop "$PID_main" TERM
((STOP_RC == 0)) || it_fail "tfe serve exited with status $STOP_RC after SIGTERM (expected 0)"
it_consume_scores "$WORK/kafka-scores.jsonl"
it_compare_scores "$WORK/file-scores.jsonl" "$WORK/kafka-scores.jsonl" "$limit"
echo "$TEST: ok"
