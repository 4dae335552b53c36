#!/bin/bash
# tfe profile on histories too thin for most measurements (one patient; no outcomes; a modality
# never present): it still succeeds, falls back to late fusion on thin evidence, and writes a
# profile.json that is strict JSON (what was not measured is null, never NaN or Infinity) and a
# page and a terminal table without "nan".
set -euo pipefail
TEST=profile_thin_history
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

# check NAME: profile.json of $WORK/NAME is strict JSON, its recommendation the thin-evidence row,
# and neither the page nor the table shows a NaN.
check() {
  local name=$1
  python3 - "$WORK/$name/profile.json" <<'PY' || fail "$name: profile.json is not strict JSON"
import json, sys
def reject(token):
    raise ValueError(f"non-finite number {token}")
p = json.load(open(sys.argv[1]), parse_constant=reject)
rec = p["recommendation"]
assert rec["strategy"] == "late", rec["strategy"]
assert rec["row"] == "thin evidence", rec["row"]
PY
  if grep -qiw 'nan' "$WORK/$name.txt"; then fail "$name: nan in the table"; fi
  if grep -qiE '>nan<| nan[ <]' "$WORK/$name/profile.html"; then fail "$name: nan in the page"; fi
}

"$TFE" synth --profile configs/profiles/home.toml --patients 1 --days 1 --seed 3 \
  --out "$WORK/one.jsonl" > /dev/null
"$TFE" profile --history "$WORK/one.jsonl" --config configs/profiles/home.toml \
  --report "$WORK/one" --bootstrap 20 --quiet > "$WORK/one.txt" || fail "one patient: exit $?"
check one

# No outcome records and no imaging: nothing to label, one modality never present.
"$TFE" synth --profile configs/profiles/home.toml --patients 30 --days 1 --seed 4 \
  --out "$WORK/cohort.jsonl" > /dev/null
grep -v '"modality":"outcome"' "$WORK/cohort.jsonl" | grep -v '"modality":"imaging"' \
  > "$WORK/bare.jsonl" || true
[[ -s "$WORK/bare.jsonl" ]] || fail "the filtered history is empty"
if grep -q '"modality":"outcome"' "$WORK/bare.jsonl"; then fail "outcomes were not removed"; fi
"$TFE" profile --history "$WORK/bare.jsonl" --config configs/profiles/home.toml \
  --report "$WORK/bare" --bootstrap 20 --quiet > "$WORK/bare.txt" || fail "bare: exit $?"
check bare
python3 - "$WORK/bare/profile.json" <<'PY' || fail "bare: unexpected measurements"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["outcome_patients"] == 0, p["outcome_patients"]
imaging = [m for m in p["availability"]["modalities"] if m["name"] == "imaging"][0]
assert imaging["tick_share"] == 0, imaging
timing = [m for m in p["temporal"]["modalities"] if m["name"] == "imaging"][0]
assert timing["inter_arrival"]["count"] == 0 and timing["inter_arrival"]["median_ms"] is None
PY
echo "PASS profile_thin_history"
