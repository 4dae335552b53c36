#!/usr/bin/env bash
# The real broker answers: a topic is created, three keyed messages produced with kcat come back
# from it unchanged. Fails first, and says why, when the broker or a client is missing.
#
# usage: broker_smoke.sh TFE_BINARY SOURCE_DIR   (TFE_KAFKA_BOOTSTRAP=host:port in the environment)
set -euo pipefail

src="${2:?usage: broker_smoke.sh TFE_BINARY SOURCE_DIR}"

fail() {
  echo "FAIL broker_smoke: $*" >&2
  exit 1
}

[[ -n "${TFE_KAFKA_BOOTSTRAP:-}" ]] ||
  fail "TFE_KAFKA_BOOTSTRAP is not set: start a broker with 'export TFE_KAFKA_BOOTSTRAP=\$(tools/kafka start)' (tools/test does this)"
command -v kcat >/dev/null || fail "kcat not found: install the Debian package 'kcat' (or run tools/setup)"

broker="$TFE_KAFKA_BOOTSTRAP"
topic="tfe-smoke-$$-$RANDOM"
work="$(mktemp -d)"
cleanup() {
  "$src/tools/kafka" topics delete "$topic" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

kcat -b "$broker" -L -m 10 >/dev/null 2>"$work/metadata.err" ||
  fail "no broker answers at $broker: $(cat "$work/metadata.err")"

"$src/tools/kafka" topics create "$topic" 3 || fail "could not create topic $topic on $broker"
partitions="$(kcat -b "$broker" -L -t "$topic" -m 10 | grep -c '^ *partition ' || true)"
[[ "$partitions" == 3 ]] || fail "topic $topic has $partitions partitions, expected 3"

# Key=value lines; the keys spread the messages over the partitions.
cat >"$work/sent" <<'EOF'
p-001={"patient_id":"p-001","modality":"wearables","event_time":1000,"values":{"hr":72}}
p-002={"patient_id":"p-002","modality":"notes","event_time":2000,"text":"stable overnight"}
p-003={"patient_id":"p-003","modality":"wearables","event_time":3000,"values":{"rr":18}}
EOF
# kcat -P waits for every delivery report before it exits (non-zero on a failed delivery).
kcat -b "$broker" -P -t "$topic" -K = -X acks=all <"$work/sent" || fail "kcat could not produce to $topic"

timeout 60 kcat -b "$broker" -C -t "$topic" -o beginning -e -q -f '%k=%s\n' >"$work/received" ||
  fail "kcat could not consume $topic to its end within 60 s"

sort "$work/sent" >"$work/sent.sorted"
sort "$work/received" >"$work/received.sorted"
if ! diff -u "$work/sent.sorted" "$work/received.sorted"; then
  fail "the messages read back from $topic differ from those produced (diff above)"
fi
echo "broker_smoke: 3 messages round-tripped through $topic on $broker"
