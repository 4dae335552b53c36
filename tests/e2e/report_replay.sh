#!/usr/bin/env bash
# The real backtest end to end: a synthetic ward cohort (`tfe synth`), two fusion models with random
# weights (`tfe model init`), then `tfe replay --report` with both models and NEWS2. Checks the
# content of report.json with jq (models, subgroups partitioning the ticks, stress tests, NEWS2
# at chance without its only modality, timelines), that the page is there, that a second run with
# sequential replays writes the same bytes, and the usage errors of --report.
#
# usage: report_replay.sh TFE_BINARY SOURCE_DIR
#   The report stays in BUILD/Testing/report-replay/ (or $TFE_REPORT_REPLAY_OUT) for people to
#   look at.
set -euo pipefail

fail() {
  echo "report_replay: FAILED: $*" >&2
  exit 1
}

(($# == 2)) || fail "usage: report_replay.sh TFE_BINARY SOURCE_DIR"
tfe="$1"
src="$2"
build_dir="$(cd "$(dirname "$tfe")/.." && pwd)"
out="${TFE_REPORT_REPLAY_OUT:-$build_dir/Testing/report-replay}"
command -v jq >/dev/null || fail "jq is not installed (Debian package 'jq')"
[[ -x "$tfe" ]] || fail "tfe binary not found at $tfe"

rm -rf "$out"
mkdir -p "$out"
config="$src/configs/profiles/ward.toml"

run() {
  echo "+ $*" >>"$out/commands.log"
  "$@" >>"$out/commands.log" 2>&1 || {
    tail -20 "$out/commands.log" >&2
    fail "command failed: $*"
  }
}

# 1. History and models.
run "$tfe" synth --profile "$config" --patients 200 --days 1 --seed 1 --out "$out/h.jsonl"
run "$tfe" model init --config "$config" --strategy attention --seed 1 --out "$out/attention.tfemodel"
run "$tfe" model init --config "$config" --strategy late --seed 2 --out "$out/late.tfemodel"

# 2. The backtest.
report_args=(--history "$out/h.jsonl" --config "$config" --model "$out/attention.tfemodel"
  --model "$out/late.tfemodel" --strategy news2 --bootstrap 50 --seed 3 --threshold 0.2
  --threshold 0.5 --alerts-per-day 3)
run "$tfe" replay "${report_args[@]}" --report "$out/report"
json="$out/report/report.json"
[[ -s "$json" ]] || fail "report.json missing"
[[ -s "$out/report/report.html" ]] || fail "report.html missing"
grep -q '<svg' "$out/report/report.html" || fail "report.html holds no SVG chart"

check() {
  # check DESCRIPTION JQ_FILTER: the filter must print true.
  local got
  got="$(jq -e "$2" "$json" 2>&1)" || fail "$1 (jq: $2 -> $got)"
  [[ "$got" == "true" ]] || fail "$1 (jq: $2 -> $got)"
}

check "format" '.format == "tfe-backtest-report" and .version == 1'
check "history and cohort" '(.histories | length) == 1 and .patients == 200 and .events > 200000'
check "modalities of the config" '.modalities == ["wearables", "notes", "imaging"]'
check "default horizon 6h for models without one" '.horizon_ms == 21600000'
check "options as given" \
  '.options.bootstrap_replicates == 50 and .options.seed == 3 and .options.thresholds == [0.2, 0.5]
   and .options.target_alerts_per_patient_day == 3'
check "three scorers, NEWS2 first" \
  '[.models[].name] == ["news2", "attention", "late"] and
   [.models[].strategy] == ["news2", "attention", "late"]'
check "models carry their ids" '[.models[1:][] | .model_id | length > 0] | all'
check "every scorer has ticks and positives" \
  '[.models[].overall | .ticks > 10000 and .positive_ticks > 0 and .positive_patients > 0] | all'
check "same ticks for every scorer" '[.models[].overall.ticks] | unique | length == 1'
check "AUROC in [0,1] with an interval" \
  '[.models[].overall | .auroc >= 0 and .auroc <= 1 and .auroc_ci[0] <= .auroc_ci[1]
    and .replicates_used > 0] | all'
check "NEWS2 discriminates on this cohort" '.models[0].overall.auroc > 0.6'
check "subgroups partition the ticks" \
  '[.models[] | ([.subgroups[].ticks] | add) == .overall.ticks] | all'
check "several availability subgroups, wearables + notes among them" \
  '([.models[] | (.subgroups | length) >= 2] | all) and
   ([.models[0].subgroups[].subgroup] | index("wearables + notes") != null)'
check "alert policy: two fixed thresholds and the alert-rate one" \
  '[.models[].overall.alert_policy | length == 3 and .[0].basis == "fixed"
    and .[2].basis == "alert_rate"] | all'
check "alert-rate threshold meets the target" \
  '[.models[].overall.alert_policy[2].alerts_per_patient_day <= 3] | all'
check "stress tests: each modality masked, then delays doubled" \
  '[.models[] | [.stress[].name] == ["without wearables", "without notes", "without imaging",
                                      "arrival delays x2"]] | all'
check "NEWS2 without wearables is at chance" \
  '.models[0].stress[0].auroc.stressed == 0.5 and .models[0].stress[0].auroc.delta < 0'
check "stress deltas are stressed - baseline" \
  '[.models[] | .overall.auroc as $a | .stress[] |
    (.auroc.baseline - $a | fabs) < 1e-5 and
    ((.auroc.stressed - .auroc.baseline) - .auroc.delta | fabs) < 1e-5] | all'
check "timelines for sample patients, one trace per model" \
  '(.timelines | length) >= 1 and ([.timelines[] | (.traces | length) == 3
    and (.events | length) == 3 and .start_ms < .end_ms] | all)'
check "no patient id in the report" '[.. | strings | test("^ward-")] | any | not'
check "timeline patients are labelled in list order, not by a hash of their id" \
  '.timelines[0].patient == "patient 1" and
   ([.timelines[].patient | test("^patient [0-9]+$")] | all)'

# The two fusion models replay together; NEWS2 reads current vitals values, so it replays alone.
grep -q "^report: 3 scorers in 2 replays per variant: news2; attention + late$" "$out/commands.log" ||
  fail "the fusion models do not share one replay"
grep -Eq "^replay: report .*, 4 runs, .* M scores \([0-9.]+ M of them with a modality masked, [0-9.]+ M taken over unchanged\)" "$out/commands.log" ||
  fail "the summary line does not count the runs and masked scores"
# The delayed replay takes over the baseline's ticks whose snapshot the delays left unchanged.
grep -Eq "^report: replay arrival delays x2 \(3 scorers\): .* \([0-9.]+ M of them the history's, snapshot unchanged\)" "$out/commands.log" ||
  fail "the delayed replay took over no unchanged tick"

# 3. Deterministic: sequential replays write the same bytes, and so do one shard per replay
# (the default with a fusion model is one per core).
cores="$(nproc)"
grep -q "^report: $cores shards\? per replay" "$out/commands.log" ||
  fail "a report with a model does not replay with one shard per core ($cores)"
grep -Eq "^report: history .* \([0-9]+ MB of memory touched ahead\)$" "$out/commands.log" ||
  fail "the load line does not say how much memory was touched ahead"
# Without memory touched ahead too: it changes where pages are faulted in, nothing else.
run "$tfe" replay "${report_args[@]}" --sequential --pretouch 0 --report "$out/report-sequential"
grep "memory touched ahead" "$out/commands.log" | tail -1 | grep -q "(0 MB of memory touched ahead)$" ||
  fail "--pretouch 0 was not applied"
cmp -s "$json" "$out/report-sequential/report.json" ||
  fail "report.json differs between parallel and sequential replays (without memory touched ahead)"
run "$tfe" replay "${report_args[@]}" --shards 1 --report "$out/report-one-shard"
grep -q "^report: 1 shard per replay" "$out/commands.log" || fail "--shards 1 was not applied"
cmp -s "$json" "$out/report-one-shard/report.json" ||
  fail "report.json differs between one shard and one per core"

# NEWS2 alone without stress tests is one run; thresholds given out of order and twice are the
# distinct ones, ascending.
run "$tfe" replay --history "$out/h.jsonl" --config "$config" --strategy news2 --no-stress \
  --bootstrap 0 --threshold 0.5 --threshold 0.2 --threshold 0.5 --report "$out/report-news2"
grep -Eq "^replay: report .*report-news2/report.html: 1 scorer, 1 run, " "$out/commands.log" ||
  fail "the summary line does not say '1 scorer, 1 run'"
jq -e '.options.thresholds == [0.2, 0.5] and
  ([.models[0].overall.alert_policy[] | select(.basis == "fixed") | .threshold] == [0.2, 0.5])' \
  "$out/report-news2/report.json" >/dev/null || fail "repeated thresholds are not kept once, ascending"

# 4. Usage errors: exit 2 and one line naming the problem.
expect_usage() {
  local what="$1"
  shift
  local rc=0
  "$tfe" replay "$@" >"$out/usage.out" 2>"$out/usage.err" || rc=$?
  ((rc == 2)) || fail "$what: exit $rc, expected 2"
  grep -q '^tfe replay: ' "$out/usage.err" || fail "$what: no 'tfe replay:' error line"
}
expect_usage "no scorer" --history "$out/h.jsonl" --config "$config" --report "$out/r2"
expect_usage "bad horizon" --history "$out/h.jsonl" --config "$config" --strategy news2 \
  --horizon soon --report "$out/r2"
# Numbers out of range, NaN included (it passes a plain < / > check), are usage errors naming
# the option; a delay factor of 1e12 used to overflow the scaled arrival times.
for bad in "--threshold nan" "--threshold 1.5" "--alerts-per-day nan" "--delay-factor 1e12" \
  "--delay-factor 0"; do
  rc=0
  # shellcheck disable=SC2086
  "$tfe" replay --history "$out/h.jsonl" --config "$config" --strategy news2 --report "$out/r2" \
    $bad >/dev/null 2>"$out/usage.err" || rc=$?
  ((rc == 2)) || fail "$bad: exit $rc, expected 2"
  [[ "$(wc -l <"$out/usage.err")" == 1 ]] && grep -q -- "${bad%% *}: expected a number" "$out/usage.err" ||
    fail "$bad: unclear error: $(cat "$out/usage.err")"
done

rc=0
"$tfe" replay --history "$out/h.jsonl" --config "$config" --strategy news2 --report "$out/r2" \
  --pretouch -1 >/dev/null 2>"$out/usage.err" || rc=$?
((rc == 2)) && [[ "$(wc -l <"$out/usage.err")" == 1 ]] && grep -q -- "--pretouch" "$out/usage.err" ||
  fail "--pretouch -1: exit $rc, error: $(cat "$out/usage.err")"

# A replicate count past the limit is a typo, refused in one line rather than run for days.
rc=0
"$tfe" replay --history "$out/h.jsonl" --config "$config" --strategy news2 --report "$out/r2" \
  --bootstrap 100001 >/dev/null 2>"$out/usage.err" || rc=$?
((rc == 2)) && [[ "$(wc -l <"$out/usage.err")" == 1 ]] && grep -q -- "--bootstrap: .*100000" "$out/usage.err" ||
  fail "--bootstrap 100001: exit $rc, error: $(cat "$out/usage.err")"

# A model built for other modalities (text_hash_dim 64 against the ward's 256): one line naming
# the model and the problem, before any progress line.
run "$tfe" model init --config "$src/configs/profiles/small_complete.toml" --strategy late \
  --out "$out/other.tfemodel"
rc=0
"$tfe" replay --history "$out/h.jsonl" --config "$config" --strategy news2 \
  --model "$out/other.tfemodel" --report "$out/r5" >/dev/null 2>"$out/schema.err" || rc=$?
((rc == 1)) && [[ "$(wc -l <"$out/schema.err")" == 1 ]] &&
  grep -q "^tfe replay: .*other.tfemodel: .*text_hash_dim" "$out/schema.err" ||
  fail "a model of other modalities: exit $rc, error: $(cat "$out/schema.err")"

rc=0
"$tfe" replay --history "$out/missing.jsonl" --config "$config" --strategy news2 \
  --report "$out/r3" >/dev/null 2>"$out/missing.err" || rc=$?
((rc == 1)) || fail "missing history: exit $rc, expected 1"
grep -q '^tfe replay: ' "$out/missing.err" || fail "missing history: no 'tfe replay:' error line"

# A report directory that cannot be made (under a plain file): one line, before any replay.
printf 'x' >"$out/plain-file"
rc=0
"$tfe" replay --history "$out/h.jsonl" --config "$config" --strategy news2 \
  --report "$out/plain-file/report" >/dev/null 2>"$out/dir.err" || rc=$?
((rc == 1)) && [[ "$(wc -l <"$out/dir.err")" == 1 ]] &&
  grep -q "^tfe replay: report: cannot create directory .*plain-file/report" "$out/dir.err" ||
  fail "an unwritable report directory: exit $rc, error: $(cat "$out/dir.err")"

echo "report_replay: ok ($out/report/report.html)"
