#!/bin/bash
# `tfe model show` prints one line per entry, labels in one column and values in the next, lined
# up whatever the strategy and whichever metadata training wrote; a line break or control byte in
# a metadata value is shown escaped and keeps the entry on its line.
set -euo pipefail
TEST=model_show
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

# aligned FILE: the first line is "model PATH", every other one "  LABEL  VALUE" (two spaces or
# more after the label) with every value starting in the same column.
aligned() {
  awk 'NR == 1 { if ($0 !~ /^model /) { print "line 1: " $0; bad = 1 } next }
       !match($0, /^  [^ ]+  +[^ ]/) { print "line " NR ": " $0; bad = 1; next }
       { col = RLENGTH; if (first == "") first = col
         else if (col != first) { print "line " NR " (column " col ", not " first "): " $0; bad = 1 } }
       END { exit bad }' "$1"
}

for strategy in early intermediate late attention; do
  "$TFE" model init --config configs/default.toml --strategy "$strategy" --seed 1 \
    --out "$WORK/$strategy.tfemodel" >/dev/null
  "$TFE" model show "$WORK/$strategy.tfemodel" >"$WORK/$strategy.txt"
  misaligned="$(aligned "$WORK/$strategy.txt")" || fail "$strategy: columns do not line up: $misaligned"
  grep -q "^  strategy  *$strategy\$" "$WORK/$strategy.txt" || fail "$strategy: $(cat "$WORK/$strategy.txt")"
  grep -q "^  modalities  *wearables notes imaging\$" "$WORK/$strategy.txt" ||
    fail "$strategy: no modalities line: $(cat "$WORK/$strategy.txt")"
done

# A trained model's metadata keys are longer (validation_auroc, split_examples, ...).
"$TFE" synth --profile configs/profiles/small_complete.toml --patients 60 --days 1 --seed 1 \
  --out "$WORK/h.tfelog" >/dev/null
"$TFE" train --history "$WORK/h.tfelog" --config configs/profiles/small_complete.toml \
  --strategy late --epochs 1 --quiet --out "$WORK/trained.tfemodel" >/dev/null
"$TFE" model show "$WORK/trained.tfemodel" >"$WORK/trained.txt"
misaligned="$(aligned "$WORK/trained.txt")" || fail "trained: columns do not line up: $misaligned"
for key in training_seed validation_auroc split_examples optimiser; do
  grep -q "^  $key  " "$WORK/trained.txt" || fail "trained: no $key: $(cat "$WORK/trained.txt")"
done

# The name's '-' before "init" becomes a line break (same length, the keys stay sorted), and the
# file is resealed (its last 8 bytes: FNV-1a 64 of the rest, docs/model-format.md).
python3 - "$WORK/attention.tfemodel" "$WORK/newline.tfemodel" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()[:-8]
assert data.count(b"attention-init-1") == 1
data = data.replace(b"attention-init-1", b"attention\ninit-1")
h = 14695981039346656037
for b in data:
    h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
open(sys.argv[2], "wb").write(data + struct.pack("<Q", h))
PY
"$TFE" model show "$WORK/newline.tfemodel" >"$WORK/newline.txt"
misaligned="$(aligned "$WORK/newline.txt")" || fail "newline: columns do not line up: $misaligned"
grep -q '^  name  *attention\\x0ainit-1$' "$WORK/newline.txt" ||
  fail "newline: the name is not shown escaped on one line: $(cat "$WORK/newline.txt")"
[[ "$(wc -l <"$WORK/newline.txt")" == "$(wc -l <"$WORK/attention.txt")" ]] ||
  fail "newline: $(wc -l <"$WORK/newline.txt") lines, want $(wc -l <"$WORK/attention.txt")"
echo "model show: ok"
