#!/usr/bin/env bash
# Replay is deterministic: the same history gives byte-identical score files with 1 and 4 shards,
# from JSONL and from the binary event log (after a round trip through `tfe convert`), for NEWS2
# and for a fusion model.
#
# usage: replay_determinism.sh TFE_BINARY SOURCE_DIR
set -euo pipefail
TFE="${1:?usage: replay_determinism.sh TFE_BINARY SOURCE_DIR}"
SRC="${2:?usage: replay_determinism.sh TFE_BINARY SOURCE_DIR}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "FAIL replay_determinism: $*" >&2
  exit 1
}
cd "$SRC"

"$TFE" synth --profile ward --patients 150 --days 1 --seed 11 --out "$work/h.jsonl" >/dev/null
"$TFE" convert --in "$work/h.jsonl" --out "$work/h.tfelog" >/dev/null
"$TFE" convert --in "$work/h.tfelog" --out "$work/back.jsonl" >/dev/null
cmp -s "$work/h.jsonl" "$work/back.jsonl" || fail "JSONL -> binary log -> JSONL is not the identity"
"$TFE" model init --strategy attention --seed 3 --out "$work/attention.tfemodel" >/dev/null

for scorer in "--strategy news2" "--model $work/attention.tfemodel"; do
  # shellcheck disable=SC2086
  {
    "$TFE" replay --history "$work/h.jsonl" $scorer --shards 1 --out "$work/a.jsonl" >/dev/null
    "$TFE" replay --history "$work/h.tfelog" $scorer --shards 4 --out "$work/b.jsonl" >/dev/null
    "$TFE" replay --history "$work/h.tfelog" $scorer --shards 2 --out "$work/c.jsonl" >/dev/null
  }
  n=$(wc -l <"$work/a.jsonl")
  ((n > 10000)) || fail "$scorer: only $n scores for 150 patients over a day"
  cmp -s "$work/a.jsonl" "$work/b.jsonl" || fail "$scorer: 1 shard (JSONL) and 4 shards (binary log) differ"
  cmp -s "$work/a.jsonl" "$work/c.jsonl" || fail "$scorer: 1 shard and 2 shards differ"
done
echo "replay_determinism: ok"
