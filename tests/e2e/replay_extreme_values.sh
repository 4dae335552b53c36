#!/usr/bin/env bash
# Readings at the edge of what the decoder accepts are valid input (vitals up to the physical bound
# of 1e9 in magnitude, docs/wire-format.md; embedding components up to the float range): every
# strategy still scores them with a finite risk in [0, 1] and finite weights. Unbounded, 3.4e38
# overflowed the projections into NaN risks (written as null).
#
# usage: replay_extreme_values.sh TFE_BINARY SOURCE_DIR
set -euo pipefail
TEST=replay_extreme_values
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

python3 - "$WORK/extreme.jsonl" <<'PY'
import json, sys
t0 = 1704067200000
rows = []
extremes = [1e9, -1e9, 1e-38, 0.0]
for i in range(40):
    v = extremes[i % len(extremes)]
    t = t0 + i * 60000
    rows.append({"patient_id": "edge", "modality": "wearables", "event_time": t, "arrival_time": t,
                 "values": {"hr": v, "spo2": -v, "rr": v, "temp": v, "sbp": v, "activity": v}})
rows.append({"patient_id": "edge", "modality": "notes", "event_time": t0 + 300000,
             "arrival_time": t0 + 600000, "text": "breathless looks unwell"})
rows.append({"patient_id": "edge", "modality": "imaging", "event_time": t0 + 600000,
             "arrival_time": t0 + 900000, "embedding": [3e38 if j % 2 else -3e38 for j in range(512)]})
rows.sort(key=lambda r: r["arrival_time"])
with open(sys.argv[1], "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
PY

for strategy in early intermediate late attention; do
  "$TFE" model init --strategy "$strategy" --config configs/default.toml --seed 3 \
    --out "$WORK/$strategy.tfemodel" >/dev/null
  "$TFE" replay --history "$WORK/extreme.jsonl" --config configs/default.toml \
    --model "$WORK/$strategy.tfemodel" --out "$WORK/$strategy.jsonl" >/dev/null 2>&1 ||
    fail "$strategy: replay failed"
  python3 - "$WORK/$strategy.jsonl" "$strategy" <<'PY' || fail "$strategy: non-finite scores"
import json, math, sys
def reject(token):
    raise ValueError(token)
n = 0
for line in open(sys.argv[1]):
    s = json.loads(line, parse_constant=reject)
    n += 1
    r = s["risk"]
    assert isinstance(r, (int, float)) and 0.0 <= r <= 1.0, f"risk {r}"
    assert isinstance(s["logit"], (int, float)) and math.isfinite(s["logit"]), f"logit {s['logit']}"
    for name, m in s["modalities"].items():
        assert isinstance(m["weight"], (int, float)) and 0.0 <= m["weight"] <= 1.0, f"{name} weight {m['weight']}"
assert n >= 39, f"only {n} scores"
print(f"{sys.argv[2]}: {n} finite scores")
PY
done
echo "PASS $TEST"
