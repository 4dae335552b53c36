#!/usr/bin/env bash
# Replay is deterministic: the same history gives byte-identical score files with 1 and 4 shards,
# from JSONL and from the binary event log (after a round trip through `tfe convert`), for NEWS2
# and for a fusion model.
#
# usage: replay_determinism.sh TFE_BINARY SOURCE_DIR
set -euo pipefail
TEST=replay_determinism
source "$(dirname "${BASH_SOURCE[0]}")/lib/e2e.bash"
e2e_setup "$@"

"$TFE" synth --profile ward --patients 150 --days 1 --seed 11 --out "$WORK/h.jsonl" >/dev/null
"$TFE" convert --in "$WORK/h.jsonl" --out "$WORK/h.tfelog" >/dev/null
"$TFE" convert --in "$WORK/h.tfelog" --out "$WORK/back.jsonl" >/dev/null
cmp -s "$WORK/h.jsonl" "$WORK/back.jsonl" || fail "JSONL -> binary log -> JSONL is not the identity"
"$TFE" model init --strategy attention --seed 3 --out "$WORK/attention.tfemodel" >/dev/null

for scorer in "--strategy news2" "--model $WORK/attention.tfemodel"; do
  # shellcheck disable=SC2086
  {
    "$TFE" replay --history "$WORK/h.jsonl" $scorer --shards 1 --out "$WORK/a.jsonl" >/dev/null
    "$TFE" replay --history "$WORK/h.tfelog" $scorer --shards 4 --out "$WORK/b.jsonl" >/dev/null
    "$TFE" replay --history "$WORK/h.tfelog" $scorer --shards 2 --out "$WORK/c.jsonl" >/dev/null
  }
  n=$(wc -l <"$WORK/a.jsonl")
  ((n > 10000)) || fail "$scorer: only $n scores for 150 patients over a day"
  cmp -s "$WORK/a.jsonl" "$WORK/b.jsonl" || fail "$scorer: 1 shard (JSONL) and 4 shards (binary log) differ"
  cmp -s "$WORK/a.jsonl" "$WORK/c.jsonl" || fail "$scorer: 1 shard and 2 shards differ"
done
echo "replay_determinism: ok"
