#!/usr/bin/env bash
# A long-format CSV export (tests/data/import/ward.csv) imports into a binary event log that
# replays with NEWS2 into scores; its bad rows land in the dead-letter file with their FILE:LINE
# position; the JSONL output holds the same events; bad files and arguments exit 1 / 2 with one
# "tfe import: " line.
#
# usage: import_csv.sh TFE_BINARY SOURCE_DIR
set -euo pipefail
TEST=import_csv
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

command -v python3 >/dev/null || fail "python3 not found (Debian package python3; tools/setup installs it)"
csv=tests/data/import/ward.csv
[[ -f $csv ]] || fail "fixture $csv is missing"

status=0
"$TFE" import --csv "$csv" --config configs/default.toml --out "$WORK/ward.tfelog" \
  --dead-letters "$WORK/dead.jsonl" >"$WORK/import.log" 2>&1 || status=$?
((status == 0)) || fail "import exited with $status: $(cat "$WORK/import.log")"
# The dead-letter log lines come first, the summary last.
summary="$(tail -n 1 "$WORK/import.log")"
expected="import: 205 rows, 43 events written to $WORK/ward.tfelog, 2 dead letters (in $WORK/dead.jsonl)"
[[ "$summary" == "$expected" ]] || fail "summary line: got '$summary', expected '$expected'"

# The fixture's two bad rows: a non-numeric hr (line 115) and an unknown modality (line 136).
python3 - "$WORK/dead.jsonl" "$csv" <<'PY' || fail "dead letters differ from the fixture's bad rows"
import json, sys
dead = [json.loads(l) for l in open(sys.argv[1])]
got = [(d["source"], d["line"], d["reason"]) for d in dead]
want = [(sys.argv[2], 115, "wrong_type"), (sys.argv[2], 136, "unknown_modality")]
assert got == want, got
assert all(d["raw_b64"] for d in dead), dead
PY
# Logs carry positions, never patient ids.
if grep -q "import-00" "$WORK/import.log"; then fail "the import log holds a patient id"; fi
grep -q "ward.csv:115" "$WORK/import.log" || fail "the log does not name the bad row's FILE:LINE"

# The imported history replays into NEWS2 scores for both patients; the deteriorating one
# (import-002) scores higher.
"$TFE" replay --history "$WORK/ward.tfelog" --config configs/default.toml --strategy news2 \
  --out "$WORK/scores.jsonl" >"$WORK/replay.log" 2>&1 || fail "replay failed: $(cat "$WORK/replay.log")"
python3 - "$WORK/scores.jsonl" <<'PY' || fail "replayed scores are missing or wrong"
import json, sys
scores = [json.loads(l) for l in open(sys.argv[1])]
assert len(scores) > 40, len(scores)
top = {}
for s in scores:
    top[s["patient_id"]] = max(top.get(s["patient_id"], 0.0), s["risk"])
assert set(top) == {"import-001", "import-002"}, top
assert top["import-002"] > top["import-001"], top
assert any(s["modalities"]["notes"]["present"] for s in scores), "no score saw a note"
PY

# JSONL output: the same events as the binary log (converted back to JSONL).
"$TFE" import --csv "$csv" --out "$WORK/ward.jsonl" >/dev/null 2>&1 || fail "import to JSONL failed"
"$TFE" convert --in "$WORK/ward.tfelog" --out "$WORK/from-log.jsonl" >/dev/null 2>&1 ||
  fail "convert of the imported log failed"
cmp -s "$WORK/ward.jsonl" "$WORK/from-log.jsonl" || fail "JSONL and binary log outputs differ"
grep -q '"text":"Comfortable, eating; \\"no distress\\""' "$WORK/ward.jsonl" ||
  fail "the quoted note did not survive"
grep -q '"label":"deterioration"' "$WORK/ward.jsonl" || fail "the outcome row is missing"

# An imaging row (512 floats separated by spaces) becomes an embedding event.
python3 - "$WORK/imaging.csv" <<'PY'
import sys
floats = " ".join(str(i / 1000) for i in range(512))
with open(sys.argv[1], "w") as f:
    f.write("patient_id,event_time,arrival_time,modality,value\n")
    f.write(f"import-003,2024-01-01T06:00:00Z,2024-01-01T10:00:00Z,imaging,{floats}\n")
PY
"$TFE" import --csv "$WORK/imaging.csv" --out "$WORK/imaging.jsonl" >/dev/null 2>&1 ||
  fail "import of an imaging row failed"
python3 - "$WORK/imaging.jsonl" <<'PY' || fail "the imaging row is not a 512-float embedding"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
assert len(events) == 1 and len(events[0]["embedding"]) == 512, events
PY

# Bad files exit 1 with one "tfe import: " line; bad arguments exit 2.
expect_exit() {
  local want=$1 what=$2
  shift 2
  local got=0
  "$TFE" import "$@" >"$WORK/out.log" 2>"$WORK/err.log" || got=$?
  ((got == want)) || fail "$what: exit $got, expected $want"
  [[ $(wc -l <"$WORK/err.log") -eq 1 ]] || fail "$what: expected one error line, got: $(cat "$WORK/err.log")"
}
expect_exit 1 "missing file" --csv "$WORK/none.csv" --out "$WORK/x.tfelog"
grep -q "^tfe import: .*none.csv" "$WORK/err.log" || fail "the error line does not name the file"
printf 'patient_id,event_time,modality,unit\n' >"$WORK/unknown.csv"
expect_exit 1 "unknown column" --csv "$WORK/unknown.csv" --out "$WORK/x.tfelog"
grep -q "unknown column 'unit'" "$WORK/err.log" || fail "the error line does not name the column"
expect_exit 2 "output extension" --csv "$csv" --out "$WORK/x.csv"
expect_exit 2 "bad rename" --csv "$csv" --out "$WORK/x.tfelog" --column nope=X
# A rename onto another column's header would read one field as two columns.
expect_exit 2 "two columns under one header" --csv "$csv" --out "$WORK/x.tfelog" --column text=value
grep -q "columns value and text are both looked up under the header 'value'" "$WORK/err.log" ||
  fail "the error line does not name the clashing columns: $(cat "$WORK/err.log")"
# A file given twice (here through another path) would write every event twice.
expect_exit 1 "file given twice" --csv "$csv" --csv "./$csv" --out "$WORK/x.tfelog"
grep -q "ward.csv: CSV file given twice" "$WORK/err.log" || fail "the error line does not name the file"
[[ ! -e "$WORK/x.tfelog" ]] || fail "a failed import left an output file"
echo "import_csv: ok (43 events, 2 dead letters, NEWS2 scores from the imported history)"
