#!/usr/bin/env bash
# `tfe profile --from-kafka`: a history published to the modality topics and profiled from them
# over a time range gives the same profile.json, bake-off included (the same model ids), as the
# same records profiled from a file; bad records on the topics land in the dead-letter file with
# their reason and topic position and change nothing else; a missing topic and an embedded broker
# are one clear error each.
#
# usage: kafka_profile.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port)
set -euo pipefail
TEST=kafka_profile
TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
source "$SRC/tests/integration/lib/service.bash"
it_setup

# The home deployment profile (its modalities) with this test's topics on the real broker.
PCONFIG="$WORK/home-kafka.toml"
cat "$SRC/configs/profiles/home.toml" >"$PCONFIG"
cat >>"$PCONFIG" <<EOF

[kafka]
brokers = "$BROKER"
topic_prefix = "$PREFIX"
partitions = 4
EOF

it_synth "$WORK/home.jsonl" 200 2 home
jq -c 'select(.modality == "outcome")' "$WORK/home.jsonl" >"$WORK/outcomes.jsonl"
outcomes="$(wc -l <"$WORK/outcomes.jsonl")"
((outcomes >= 5)) || it_fail "the cohort has only $outcomes outcomes"
it_publish "$WORK/home.jsonl" "$PCONFIG"
grep -q "events published" "$WORK/publish.log" || it_fail "no publish summary: $(tail -n 2 "$WORK/publish.log")"

# Two bad records on the notes topic, produced now (their timestamps are today's): not JSON, and a
# wearables record on the notes topic.
printf 'home-bad\t{"patient_id":"home-bad","modality":"notes",\n' |
  kcat -b "$BROKER" -P -t "${PREFIX}tfe.notes" -K $'\t' -X acks=all ||
  it_fail "kcat could not produce to ${PREFIX}tfe.notes"
printf 'home-bad\t{"patient_id":"home-bad","modality":"wearables","event_time":1704067200000,"values":{"hr":80}}\n' |
  kcat -b "$BROKER" -P -t "${PREFIX}tfe.notes" -K $'\t' -X acks=all ||
  it_fail "kcat could not produce to ${PREFIX}tfe.notes"

profile() { # profile NAME ARGS...: profile.json in $WORK/NAME, output in $WORK/NAME.log
  local name="$1"
  shift
  "$TFE" profile "$@" --report "$WORK/$name" >"$WORK/$name.log" 2>&1 ||
    it_fail "tfe profile ($name) failed: $(tail -n 3 "$WORK/$name.log")"
}
same_profile() { # same_profile A B: profile.json equal but for the sources
  local a="$WORK/$1/profile.json" b="$WORK/$2/profile.json"
  [[ -s "$a" && -s "$b" ]] || it_fail "profile.json missing ($1 or $2)"
  if ! diff <(jq -S 'del(.histories)' "$a") <(jq -S 'del(.histories)' "$b") >"$WORK/diff-$1-$2.txt"; then
    it_fail "$1 and $2 differ: $(head -n 12 "$WORK/diff-$1-$2.txt")"
  fi
}

# The whole history (until an hour from now, so the bad records are in range), with the bake-off.
until_ms=$(($(date +%s) * 1000 + 3600000))
profile topics --from-kafka --since 2024-01-01T00:00:00Z --until "$until_ms" \
  --history "$WORK/outcomes.jsonl" --config "$PCONFIG" --bakeoff --folds 2 --dead-letters "$WORK/dead.jsonl"
profile file --history "$WORK/home.jsonl" --config "$PCONFIG" --bakeoff --folds 2
same_profile topics file
models="$(jq -r '[.bakeoff.strategies[].model_ids[]] | unique | join(" ")' "$WORK/topics/profile.json")"
[[ "$(wc -w <<<"$models")" == 8 ]] || it_fail "the bake-off did not train four models on each of two folds: '$models'"
jq -e --arg t "${PREFIX}tfe.wearables" '.histories | map(select(contains($t))) | length == 1' \
  "$WORK/topics/profile.json" >/dev/null || it_fail "profile.json does not name the topics read"

# The bad records: dead letters with reason and position; nothing else of them in the profile.
[[ "$(wc -l <"$WORK/dead.jsonl")" == 2 ]] || it_fail "expected 2 dead letters, got: $(cat "$WORK/dead.jsonl")"
jq -e -s --arg t "${PREFIX}tfe.notes" '
    (map(.reason) | sort) == ["malformed_json", "unknown_modality"] and
    all(.[]; .source == $t and (.partition | type) == "number" and .offset >= 0)' \
  "$WORK/dead.jsonl" >/dev/null || it_fail "dead letters lack reason or position: $(cat "$WORK/dead.jsonl")"
grep -q "2 bad records skipped" "$WORK/topics.log" || it_fail "the bad records were not reported"
if grep -q "home-bad" "$WORK/topics.log"; then it_fail "a patient id reached the output"; fi

# A one-day range: the same as a file of the records that arrived that day (and the outcomes).
since_ms=1704153600000 # 2024-01-02T00:00:00Z
until_ms=1704240000000 # 2024-01-03T00:00:00Z
jq -c --argjson s "$since_ms" --argjson u "$until_ms" \
  'select(.modality == "outcome" or (.arrival_time >= $s and .arrival_time < $u))' \
  "$WORK/home.jsonl" >"$WORK/day2.jsonl"
day_events=$(($(wc -l <"$WORK/day2.jsonl") - outcomes))
all_events=$(($(wc -l <"$WORK/home.jsonl") - outcomes))
((day_events > 1000 && day_events < all_events)) ||
  it_fail "the day holds $day_events of $all_events events"
profile day-topics --from-kafka --since 2024-01-02T00:00:00Z --until "$until_ms" \
  --history "$WORK/outcomes.jsonl" --config "$PCONFIG"
profile day-file --history "$WORK/day2.jsonl" --config "$PCONFIG"
same_profile day-topics day-file
grep -q "read $day_events records" "$WORK/day-topics.log" ||
  it_fail "expected $day_events records read: $(grep 'kafka:' "$WORK/day-topics.log" | tail -n 2)"

# Clear errors: a topic that does not exist, an embedded broker.
sed "s/^topic_prefix = .*/topic_prefix = \"${PREFIX}missing-\"/" "$PCONFIG" >"$WORK/missing.toml"
if "$TFE" profile --from-kafka --since 0 --until 1 --config "$WORK/missing.toml" >"$WORK/missing.log" 2>&1; then
  it_fail "a missing topic did not fail"
fi
grep -q "topic '${PREFIX}missing-tfe.wearables' (modality 'wearables') does not exist" "$WORK/missing.log" ||
  it_fail "unclear error for a missing topic: $(cat "$WORK/missing.log")"
# A broker that does not answer fails after --kafka-timeout (2 s here, 30 s by default).
started=$(date +%s)
if "$TFE" profile --from-kafka --since 0 --until 1 --brokers 127.0.0.1:9 --kafka-timeout 2s \
  --config "$PCONFIG" >"$WORK/unreachable.log" 2>&1; then
  it_fail "an unreachable broker did not fail"
fi
waited=$(($(date +%s) - started))
((waited < 25)) || it_fail "an unreachable broker failed only after ${waited} s with --kafka-timeout 2s"
grep -q "^tfe profile: " "$WORK/unreachable.log" ||
  it_fail "unclear error for an unreachable broker: $(tail -n 3 "$WORK/unreachable.log")"
if "$TFE" profile --from-kafka --since 0 --until 1 --config "$SRC/configs/profiles/home.toml" >"$WORK/embedded.log" 2>&1; then
  it_fail "an embedded broker did not fail"
fi
[[ "$(wc -l <"$WORK/embedded.log")" == 1 ]] && grep -q 'brokers is "embedded"' "$WORK/embedded.log" ||
  it_fail "unclear error for an embedded broker: $(cat "$WORK/embedded.log")"

echo "PASS $TEST: profile from the topics equals the file's ($(wc -l <"$WORK/home.jsonl") records, bake-off models $models), 2 dead letters, one-day range $day_events records"
