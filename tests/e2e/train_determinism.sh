#!/bin/bash
# tfe train end to end: a small synthetic ward history, the same seed with 1 and 2 threads gives
# byte-identical model files; the model records its horizon and split, and replays.
set -euo pipefail
TEST=train_determinism
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

"$TFE" synth --profile configs/profiles/ward.toml --patients 120 --days 1 --seed 11 \
  --out "$WORK/ward.tfelog" > /dev/null
for threads in 1 2; do
  "$TFE" train --history "$WORK/ward.tfelog" --config configs/profiles/ward.toml \
    --strategy attention --stride 5 --epochs 2 --seed 3 --threads $threads --quiet \
    --out "$WORK/model$threads.tfemodel" > "$WORK/train$threads.txt"
done
grep -q "test (" "$WORK/train1.txt" || { echo "no test summary"; cat "$WORK/train1.txt"; exit 1; }
# The test AUROC with its patient-bootstrap interval around it, the same with 1 and 2 threads.
auroc_line=$(grep -E "^  test \(.*AUROC [0-9.]+ \([0-9.]+ to [0-9.]+\)" "$WORK/train1.txt") ||
  fail "no test AUROC interval: $(cat "$WORK/train1.txt")"
read -r point lo hi < <(sed -E 's/.*AUROC ([0-9.]+) \(([0-9.]+) to ([0-9.]+)\).*/\1 \2 \3/' <<< "$auroc_line")
awk -v p="$point" -v l="$lo" -v h="$hi" 'BEGIN { exit !(l <= p && p <= h && l < h) }' ||
  fail "interval ($lo to $hi) does not surround $point"
grep -q "NEWS2 on the same examples: AUROC [0-9.]* (" "$WORK/train1.txt" || fail "no NEWS2 interval"
# The AUROC with each modality removed says over which examples: all of the test split's
# (docs/training.md, "Removed"; the report's masked stress test leaves some ticks out).
grep -qE "^  test AUROC with each modality removed, all test examples kept: wearables [0-9.]+, notes [0-9.]+, imaging [0-9.]+$" \
  "$WORK/train1.txt" || fail "no AUROC per removed modality: $(cat "$WORK/train1.txt")"
diff <(grep -E "AUROC" "$WORK/train1.txt" | grep -v "examples/s") \
  <(grep -E "AUROC" "$WORK/train2.txt" | grep -v "examples/s") || fail "metrics differ by thread count"
cmp "$WORK/model1.tfemodel" "$WORK/model2.tfemodel" || {
  echo "model bytes differ between 1 and 2 threads"; exit 1; }
"$TFE" model show "$WORK/model1.tfemodel" > "$WORK/show.txt"
grep -q "horizon_ms *21600000" "$WORK/show.txt" || { echo "horizon_ms missing"; cat "$WORK/show.txt"; exit 1; }
grep -q "split .*train 0.7" "$WORK/show.txt" || { echo "split missing"; cat "$WORK/show.txt"; exit 1; }

# Bad input: one clear line, exit 1. An output that cannot be written is refused before the
# history is read, not after the whole training.
set +e
"$TFE" train --history "$WORK/ward.tfelog" --config configs/profiles/ward.toml --strategy late \
  --stride 5 --out "$WORK/nope/model.tfemodel" 2> "$WORK/err.txt" > "$WORK/out.txt"
rc=$?
set -e
[ "$rc" = 1 ] || { echo "expected exit 1 for an unwritable output, got $rc"; exit 1; }
grep -q "^tfe train: " "$WORK/err.txt" || { echo "no error line"; cat "$WORK/err.txt"; exit 1; }
[[ ! -s "$WORK/out.txt" ]] || fail "an unwritable output was refused only after: $(head -n 3 "$WORK/out.txt")"
# More threads than cores: the same model, nothing on stderr (oneTBB warned about ignored workers).
"$TFE" train --history "$WORK/ward.tfelog" --config configs/profiles/ward.toml \
  --strategy attention --stride 5 --epochs 2 --seed 3 --threads 64 --quiet \
  --out "$WORK/model64.tfemodel" > /dev/null 2> "$WORK/err64.txt"
[[ ! -s "$WORK/err64.txt" ]] || fail "--threads 64 wrote to stderr: $(head -n 3 "$WORK/err64.txt")"
cmp "$WORK/model1.tfemodel" "$WORK/model64.tfemodel" || fail "model bytes differ with 64 threads"
# A thread count past any machine is a typo: one line, exit 2 (it ended in std::bad_alloc).
refused 2 threads "--threads" "$TFE" train --history "$WORK/ward.tfelog" \
  --config configs/profiles/ward.toml --threads 100000000 --quiet --out "$WORK/threads.tfemodel"
# A misspelt strategy is a usage error before any file is read, whatever the config.
refused 2 strategy "unknown strategy 'attn'" "$TFE" train --history "$WORK/ward.tfelog" \
  --config "$WORK/missing.toml" --strategy attn --quiet --out "$WORK/strategy.tfemodel"
refused 2 init_strategy "unknown strategy 'attn'" "$TFE" model init \
  --config "$WORK/missing.toml" --strategy attn --out "$WORK/strategy.tfemodel"
# A test split whose positives come from one patient (here none) has no interval: the summary
# says so instead of pointing at brackets that are not there.
"$TFE" synth --profile configs/profiles/ward.toml --patients 10 --days 1 --seed 1 \
  --out "$WORK/ten.tfelog" > /dev/null
"$TFE" train --history "$WORK/ten.tfelog" --config configs/profiles/ward.toml --strategy late \
  --epochs 1 --quiet --out "$WORK/ten.tfemodel" > "$WORK/ten.txt"
grep -q "^  test (.* 0 positive)" "$WORK/ten.txt" || fail "expected a test split without positives: $(cat "$WORK/ten.txt")"
! grep -q "in brackets" "$WORK/ten.txt" || fail "brackets announced, none printed: $(cat "$WORK/ten.txt")"
grep -q "^  (no intervals: " "$WORK/ten.txt" || fail "no word on the missing intervals: $(cat "$WORK/ten.txt")"
grep -q "in brackets: 95% intervals" "$WORK/train1.txt" || fail "intervals not announced: $(cat "$WORK/train1.txt")"
# Without --quiet: stages and epochs on stderr, each epoch's training examples/s with the time of
# its training pass and, apart, its validation's; stdout is the summary alone, as with --quiet.
"$TFE" train --history "$WORK/ten.tfelog" --config configs/profiles/ward.toml --strategy late   --epochs 1 --out "$WORK/ten-progress.tfemodel" > "$WORK/progress.out" 2> "$WORK/progress.err"
grep -q "^train: epoch 1/1  loss [0-9.]*  [0-9]* training examples/s ([0-9.]* s)  validation AUROC [0-9.na]* AUPRC [0-9.na]* ([0-9.]* s)" \
  "$WORK/progress.err" || fail "no epoch line on stderr: $(cat "$WORK/progress.err")"
grep -q "^train: loaded [0-9]* events" "$WORK/progress.err" || fail "no stage line: $(cat "$WORK/progress.err")"
times='s/[0-9]* training examples\/s, [0-9.]* s in all/R training examples\/s, T s in all/'
diff <(sed "s/ten-progress/ten/; $times" "$WORK/progress.out") <(sed "$times" "$WORK/ten.txt") ||
  fail "stdout differs from the --quiet run's summary"
# Vitals channels the config lacks (names are case-sensitive) are ignored, as in any replay, and
# said so on stderr, --quiet or not: a misspelt channel would otherwise train unnoticed.
"$TFE" convert --in "$WORK/ten.tfelog" --out "$WORK/ten.jsonl" > /dev/null
sed 's/"activity":/"Activity":/' "$WORK/ten.jsonl" > "$WORK/ten-renamed.jsonl"
"$TFE" train --history "$WORK/ten-renamed.jsonl" --config configs/profiles/ward.toml \
  --strategy late --epochs 1 --quiet --out "$WORK/renamed.tfemodel" > /dev/null 2> "$WORK/renamed.err"
grep -q "^tfe train: warning: [0-9]* vitals channel name(s) not in the config were ignored" \
  "$WORK/renamed.err" || fail "no warning about unknown channels: $(cat "$WORK/renamed.err")"
# 0 is outside the config's ranges, not a way to ask for its default.
for bad in "--epochs 0" "--stride 0"; do
  rc=0
  # shellcheck disable=SC2086
  "$TFE" train --history "$WORK/ward.tfelog" --config configs/profiles/ward.toml --strategy late \
    --out "$WORK/zero.tfemodel" --quiet $bad 2>"$WORK/err.txt" >/dev/null || rc=$?
  [ "$rc" = 2 ] || fail "$bad: exit $rc, expected 2"
  grep -q -- "${bad%% *}" "$WORK/err.txt" || fail "$bad: unclear error: $(cat "$WORK/err.txt")"
done
# A history file named twice would count every event twice: refused, with one line.
refused 1 twice "event file given twice" "$TFE" train --history "$WORK/ward.tfelog" \
  "$WORK/ward.tfelog" --config configs/profiles/ward.toml --strategy late --quiet \
  --out "$WORK/twice.tfemodel"
[[ ! -e "$WORK/twice.tfemodel" ]] || fail "a refused training wrote its model"
# A history without a single outcome event: one line saying so (not that a split lacks
# positives), exit 1, nothing written; refused before the replay.
"$TFE" convert --in "$WORK/ward.tfelog" --out "$WORK/ward.jsonl" > /dev/null
grep -v '"modality":"outcome"' "$WORK/ward.jsonl" > "$WORK/no-outcomes.jsonl"
[[ "$(wc -l < "$WORK/no-outcomes.jsonl")" -lt "$(wc -l < "$WORK/ward.jsonl")" ]] ||
  fail "the ward history has no outcome to take out"
refused 1 no_outcomes "^tfe train: the history has no outcome events (records with \"modality\": \"outcome\", docs/wire-format.md)" \
  "$TFE" train --history "$WORK/no-outcomes.jsonl" --config configs/profiles/ward.toml \
  --strategy late --quiet --out "$WORK/no-outcomes.tfemodel"
! grep -q "split" "$WORK/no_outcomes.err" || fail "blames a split: $(cat "$WORK/no_outcomes.err")"
[[ ! -e "$WORK/no-outcomes.tfemodel" ]] || fail "a refused training wrote its model"
echo "train determinism: ok"
