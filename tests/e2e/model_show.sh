#!/bin/bash
# `tfe model show` prints one line per entry, labels in one column and values in the next, lined
# up whatever the strategy and whichever metadata training wrote; a line break or control byte in
# a metadata value is shown escaped and keeps the entry on its line. Each strategy shows the
# [model] settings it reads and no other.
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

# The [model] settings each strategy reads (docs/fusion.md), from a config whose values all differ
# from the defaults; a setting the strategy does not read is not shown at all.
awk '/^\[model\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip' configs/default.toml >"$WORK/model.toml"
cat >>"$WORK/model.toml" <<'TOML'
[model]
d_model = 48
heads = 3
time2vec_k = 5
sinusoidal = true
sinusoidal_dim = 6
history_k = 3
hidden = [24, 16]
encoder_hidden = 20
calibration = "isotonic"
TOML
declare -A shown=(
  [early]="hidden [24, 16]|time2vec_k 5|sinusoidal on, dim 6|calibration isotonic"
  [late]="hidden [24, 16]|time2vec_k 5|sinusoidal on, dim 6|calibration isotonic"
  [intermediate]="d_model 48 (latent width)|encoder_hidden 20|hidden [24, 16]|time2vec_k 5|sinusoidal on, dim 6|calibration isotonic"
  [attention]="d_model 48 (token width)|heads 3|history_k 3|hidden [24, 16]|time2vec_k 5|sinusoidal on, dim 6|calibration isotonic")
# Words of the settings only some strategies read, as any label or value might spell them.
declare -A unused=(
  [early]="d_model latent token heads history encoder"
  [late]="d_model latent token heads history encoder"
  [intermediate]="token heads history"
  [attention]="latent encoder")
for strategy in early intermediate late attention; do
  for config in configs/default.toml "$WORK/model.toml"; do
    "$TFE" model init --config "$config" --strategy "$strategy" --seed 1 \
      --out "$WORK/$strategy.tfemodel" >/dev/null
    "$TFE" model show "$WORK/$strategy.tfemodel" >"$WORK/$strategy.txt"
    misaligned="$(aligned "$WORK/$strategy.txt")" || fail "$strategy: columns do not line up: $misaligned"
    grep -q "^  strategy  *$strategy\$" "$WORK/$strategy.txt" || fail "$strategy: $(cat "$WORK/$strategy.txt")"
    grep -q "^  modalities  *wearables notes imaging\$" "$WORK/$strategy.txt" ||
      fail "$strategy: no modalities line: $(cat "$WORK/$strategy.txt")"
    for word in ${unused[$strategy]}; do
      ! grep -qi -- "$word" "$WORK/$strategy.txt" ||
        fail "$strategy: shows '$word', a setting it does not read: $(cat "$WORK/$strategy.txt")"
    done
  done
  # The lines between strategy and modalities, of the last config, labels and values squeezed.
  settings="$(sed -n '/^  strategy /,/^  modalities /p' "$WORK/$strategy.txt" | sed '1d;$d' |
    sed -E 's/^  ([^ ]+)  +/\1 /' | paste -sd '|')"
  [[ "$settings" == "${shown[$strategy]}" ]] ||
    fail "$strategy: settings '$settings', want '${shown[$strategy]}'"
done
"$TFE" model init --config configs/default.toml --strategy late --seed 1 --out "$WORK/off.tfemodel" >/dev/null
"$TFE" model show "$WORK/off.tfemodel" >"$WORK/off.txt"
grep -q '^  sinusoidal  *off$' "$WORK/off.txt" || fail "sinusoidal off: $(cat "$WORK/off.txt")"
! grep -q 'dim' "$WORK/off.txt" || fail "a sinusoidal width shown while off: $(cat "$WORK/off.txt")"

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
