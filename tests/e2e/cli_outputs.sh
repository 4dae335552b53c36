#!/bin/bash
# Outputs never destroy inputs and are whole or absent: an output option naming an input (or
# another output) is refused before anything is opened; a run that fails leaves no output file
# behind; a directory given as a model file, options the chosen mode would not read and seeds
# out of range are one error line each.
set -euo pipefail
TEST=cli_outputs
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

"$TFE" synth --profile configs/profiles/home.toml --patients 4 --days 0.2 --seed 3 \
  --out "$WORK/h.jsonl" >/dev/null
cp "$WORK/h.jsonl" "$WORK/original.jsonl"

refused 2 convert_dead "names the same file as --in" \
  "$TFE" convert --in "$WORK/h.jsonl" --out "$WORK/o.tfelog" --dead-letters "$WORK/h.jsonl"
refused 2 convert_both "name the same file" \
  "$TFE" convert --in "$WORK/h.jsonl" --out "$WORK/same.jsonl" --dead-letters "$WORK/./same.jsonl"
refused 2 convert_ext "o.csv: unknown event file extension" \
  "$TFE" convert --in "$WORK/h.jsonl" --out "$WORK/o.csv"
refused 2 replay_out "names the same file as --history" \
  "$TFE" replay --history "$WORK/h.jsonl" --strategy news2 --out "$WORK/../$(basename "$WORK")/h.jsonl"
refused 2 train_out "names the same file as --history" \
  "$TFE" train --history "$WORK/h.jsonl" --config configs/profiles/home.toml --strategy late \
  --out "$WORK/h.jsonl"
ln -s "$WORK/h.jsonl" "$WORK/link.jsonl"
refused 2 import_link "names the same file as --csv" \
  "$TFE" import --csv "$WORK/h.jsonl" --out "$WORK/link.jsonl"
cmp -s "$WORK/h.jsonl" "$WORK/original.jsonl" || fail "an input was changed"
[[ ! -e "$WORK/o.tfelog" && ! -e "$WORK/same.jsonl" ]] || fail "a refused command wrote an output"

# A failed run leaves no output: the second history does not exist.
refused 1 replay_missing "missing.jsonl" \
  "$TFE" replay --history "$WORK/h.jsonl" --history "$WORK/missing.jsonl" --strategy news2 \
  --out "$WORK/scores.jsonl" --dead-letters "$WORK/dead.jsonl"
[[ ! -e "$WORK/scores.jsonl" && ! -e "$WORK/dead.jsonl" ]] ||
  fail "a failed replay left $(ls "$WORK"/scores.jsonl "$WORK"/dead.jsonl 2>/dev/null)"
if ls "$WORK"/*.tmp-* >/dev/null 2>&1; then fail "temporary files left: $(ls "$WORK"/*.tmp-*)"; fi
# A successful one replaces an earlier file whole; /dev/stdout is written as a stream.
echo "stale" >"$WORK/scores.jsonl"
"$TFE" replay --history "$WORK/h.jsonl" --strategy news2 --out "$WORK/scores.jsonl" >/dev/null
if grep -q stale "$WORK/scores.jsonl"; then fail "the earlier scores file was not replaced"; fi
lines="$("$TFE" replay --history "$WORK/h.jsonl" --strategy news2 --out /dev/stdout | grep -c score_time)"
[[ "$lines" == "$(wc -l <"$WORK/scores.jsonl")" ]] ||
  fail "--out /dev/stdout wrote $lines scores, the file $(wc -l <"$WORK/scores.jsonl")"

mkdir "$WORK/model-dir"
refused 1 model_dir "not a model file" "$TFE" model show "$WORK/model-dir"
refused 2 to_kafka_out "does not go with --to-kafka" \
  "$TFE" replay --history "$WORK/h.jsonl" --to-kafka --out "$WORK/s.jsonl" --brokers 127.0.0.1:9
refused 2 report_out "does not go with --report" \
  "$TFE" replay --history "$WORK/h.jsonl" --strategy news2 --report "$WORK/r" --out "$WORK/s.jsonl"
refused 2 seed_negative "expected a seed" \
  "$TFE" synth --profile configs/profiles/home.toml --seed -1 --out "$WORK/x.jsonl"
refused 2 seed_too_large "expected a seed" \
  "$TFE" model init --strategy late --seed 18446744073709551616 --out "$WORK/m.tfemodel"
echo "$TEST: ok"
