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
diff <(grep -E "AUROC" "$WORK/train1.txt" | grep -v "examples/s") \
  <(grep -E "AUROC" "$WORK/train2.txt" | grep -v "examples/s") || fail "metrics differ by thread count"
cmp "$WORK/model1.tfemodel" "$WORK/model2.tfemodel" || {
  echo "model bytes differ between 1 and 2 threads"; exit 1; }
"$TFE" model show "$WORK/model1.tfemodel" > "$WORK/show.txt"
grep -q "horizon_ms *21600000" "$WORK/show.txt" || { echo "horizon_ms missing"; cat "$WORK/show.txt"; exit 1; }
grep -q "split .*train 0.7" "$WORK/show.txt" || { echo "split missing"; cat "$WORK/show.txt"; exit 1; }

# Bad input: one clear line, exit 1.
set +e
"$TFE" train --history "$WORK/ward.tfelog" --config configs/profiles/ward.toml --strategy late \
  --stride 5 --out "$WORK/nope/model.tfemodel" --quiet 2> "$WORK/err.txt" > /dev/null
rc=$?
set -e
[ "$rc" = 1 ] || { echo "expected exit 1 for an unwritable output, got $rc"; exit 1; }
grep -q "^tfe train: " "$WORK/err.txt" || { echo "no error line"; cat "$WORK/err.txt"; exit 1; }
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
echo "train determinism: ok"
