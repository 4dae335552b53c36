#!/usr/bin/env bash
# Bad records mixed into a valid history go to the dead-letter file, each with its reason and
# position, and leave every valid event's score unchanged.
#
# usage: replay_bad_records.sh TFE_BINARY SOURCE_DIR
set -euo pipefail
TEST=replay_bad_records
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

command -v python3 >/dev/null || fail "python3 not found (Debian package python3; tools/setup installs it)"

# The corpus's rejected lines only (it also holds a few valid records, which would add scores).
"$TFE" replay --history tests/data/bad_records.jsonl --strategy news2 \
  --dead-letters "$WORK/corpus-dead.jsonl" >/dev/null 2>&1
bad=$(wc -l <"$WORK/corpus-dead.jsonl")
((bad >= 50)) || fail "expected at least 50 rejected records in the corpus, got $bad"
python3 - "$WORK/corpus-dead.jsonl" tests/data/bad_records.jsonl "$WORK/bad-only.jsonl" <<'PY'
import json, sys
lines = {json.loads(l)["line"] for l in open(sys.argv[1])}
with open(sys.argv[2], "rb") as f, open(sys.argv[3], "wb") as out:
    for number, raw in enumerate(f, start=1):
        if number in lines:
            out.write(raw if raw.endswith(b"\n") else raw + b"\n")
PY

"$TFE" synth --profile ward --patients 80 --days 0.5 --seed 5 --out "$WORK/clean.jsonl" >/dev/null
# Every 500th line, one bad record (cycling through them).
python3 - "$WORK/clean.jsonl" "$WORK/bad-only.jsonl" "$WORK/mixed.jsonl" <<'PY'
import sys
bad = open(sys.argv[2], "rb").read().splitlines(keepends=True)
with open(sys.argv[1], "rb") as f, open(sys.argv[3], "wb") as out:
    for i, raw in enumerate(f):
        if i % 500 == 0:
            out.write(bad[(i // 500) % len(bad)])
        out.write(raw)
PY
inserted=$(($(wc -l <"$WORK/mixed.jsonl") - $(wc -l <"$WORK/clean.jsonl")))

"$TFE" replay --history "$WORK/clean.jsonl" --strategy news2 --out "$WORK/clean-scores.jsonl" \
  >/dev/null 2>&1
status=0
"$TFE" replay --history "$WORK/mixed.jsonl" --strategy news2 --out "$WORK/mixed-scores.jsonl" \
  --dead-letters "$WORK/dead.jsonl" >"$WORK/replay.log" 2>&1 || status=$?
((status == 0)) || fail "replay of the mixed history exited with $status"
cmp -s "$WORK/clean-scores.jsonl" "$WORK/mixed-scores.jsonl" ||
  fail "bad records changed the scores of valid events"
dead=$(wc -l <"$WORK/dead.jsonl")
((dead == inserted)) || fail "$inserted bad records inserted, $dead dead letters written"
python3 - "$WORK/dead.jsonl" <<'PY' || fail "a dead letter lacks its reason or position"
import json, sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    assert d["reason"] and d["source"].endswith("mixed.jsonl") and d["line"] > 0, d
PY
# The log names positions, never record contents.
if grep -q "ward-0000" "$WORK/replay.log"; then fail "the log holds a patient id"; fi

# The backtest path writes the same dead letters.
"$TFE" replay --history "$WORK/mixed.jsonl" --strategy news2 --report "$WORK/report" --no-stress \
  --bootstrap 0 --dead-letters "$WORK/report-dead.jsonl" >/dev/null 2>&1 ||
  fail "replay --report of the mixed history failed"
cmp -s "$WORK/dead.jsonl" "$WORK/report-dead.jsonl" ||
  fail "replay --report wrote different dead letters than replay --out"
# An option only the report uses is a usage error without --report, not silently ignored.
status=0
"$TFE" replay --history "$WORK/clean.jsonl" --strategy news2 --bootstrap 5 \
  >/dev/null 2>"$WORK/usage.log" || status=$?
((status == 2)) || fail "--bootstrap without --report exited with $status, expected 2"
grep -q -- "--report" "$WORK/usage.log" || fail "the usage error does not name --report"
# The same dead letters without their payload: position, reason and size only.
"$TFE" replay --history "$WORK/mixed.jsonl" --strategy news2 --out "$WORK/mixed-scores2.jsonl" \
  --dead-letters "$WORK/dead-bare.jsonl" --dead-letters-without-payload >/dev/null 2>&1 ||
  fail "replay --dead-letters-without-payload failed"
python3 - "$WORK/dead.jsonl" "$WORK/dead-bare.jsonl" <<'PY' || fail "--dead-letters-without-payload kept payload or lost a dead letter"
import json, sys
full = [json.loads(l) for l in open(sys.argv[1])]
bare = [json.loads(l) for l in open(sys.argv[2])]
assert len(full) == len(bare), (len(full), len(bare))
assert any("raw_b64" in d for d in full)
for f, b in zip(full, bare):
    assert "raw_b64" not in b, b
    f.pop("raw_b64", None)
    assert f == b, (f, b)
PY
status=0
"$TFE" replay --history "$WORK/clean.jsonl" --strategy news2 --dead-letters-without-payload \
  >/dev/null 2>&1 || status=$?
((status == 2)) || fail "--dead-letters-without-payload without --dead-letters exited with $status, expected 2"

# Valid readings naming a channel the config lacks: accepted, the unknown names counted and named
# in one warning line (a misspelt channel would otherwise go unnoticed).
python3 - "$WORK/clean.jsonl" "$WORK/unknown.jsonl" <<'PY'
import json, sys
changed = 0
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        record = json.loads(line)
        if changed < 3 and "values" in record:
            record["values"]["HR"] = 80
            changed += 1
        out.write(json.dumps(record) + "\n")
PY
for cmd in "convert --in $WORK/unknown.jsonl --out $WORK/unknown.tfelog" \
  "replay --history $WORK/unknown.jsonl --strategy news2 --out $WORK/unknown-scores.jsonl"; do
  # shellcheck disable=SC2086
  "$TFE" $cmd >/dev/null 2>"$WORK/unknown.log" || fail "tfe $cmd failed"
  grep -q "warning: 3 vitals channel name(s) not in the config were ignored" "$WORK/unknown.log" ||
    fail "tfe $cmd did not warn of the 3 unknown channel names: $(cat "$WORK/unknown.log")"
done
cmp -s "$WORK/clean-scores.jsonl" "$WORK/unknown-scores.jsonl" ||
  fail "unknown channel names changed the scores"
"$TFE" replay --history "$WORK/clean.jsonl" --strategy news2 --out "$WORK/again.jsonl" \
  2>"$WORK/clean.log" >/dev/null
if grep -q "channel name" "$WORK/clean.log"; then fail "a clean history gave the warning"; fi

echo "replay_bad_records: ok ($inserted bad records, scores unchanged, same dead letters in a report)"
