#!/usr/bin/env bash
# Figures of the Kafka service against a real broker (docs/performance.md, "Kafka service"); not a
# test: it asserts only that each run completes. Three measures, each repeated RUNS times:
#
#   throughput  a 2,000-patient, 1-day ward history (2.1 M events; TFE_BENCH_PROFILE=icu: a
#               40-patient, 1-day icu history with one wearable reading a second, about 3 M
#               events) is published to the topics first; then a fresh `tfe serve` (new consumer
#               group) consumes it from the start.
#               Sustained events/s = events consumed / time from the first to the last, sampled
#               from /metrics every 0.2 s. Scored with NEWS2 and with an attention model (untrained
#               weights: the same cost as trained ones) at a 60 s cadence.
#   latency     a 2,000-patient, 6-hour ward history (TFE_BENCH_PROFILE=icu: a 40-patient, 1-day
#               icu history) published paced at half the attention
#               throughput (RATE events/s) while `tfe serve` consumes it live; p50 and p99 of
#               tfe_score_latency_seconds (from consuming the record that released a tick to the
#               broker's acknowledgement of its score), interpolated within histogram buckets,
#               and tfe_late_events_total (records that found the live clock past them).
#   restore     a 10,000-patient, 3-hour ward history is consumed and committed, then `tfe serve`
#               is restarted: its log line "restore done in S s: N events replayed" per restart.
#
# usage: kafka_service_bench.sh TFE_BINARY SOURCE_DIR [RUNS] [RATE]
#        (TFE_KAFKA_BOOTSTRAP=host:port; RUNS default 3; RATE default: half the median attention
#        throughput measured here; TFE_BENCH_PARTS="throughput latency restore" by default;
#        TFE_BENCH_LINGER="1ms" sets the producer linger of the latency runs, default 5ms;
#        TFE_BENCH_GRACE="200ms" sets caught_up_grace of the latency runs, default 2s;
#        TFE_BENCH_LATENESS="250ms" sets [engine] allowed_lateness of the latency runs, default 0s;
#        TFE_BENCH_PHASES=N sets [engine] tick_phases of every run, default configs/default.toml's;
#        TFE_BENCH_LAT_PATIENTS / TFE_BENCH_LAT_DAYS: the latency history, default 2000 x 0.25;
#        TFE_BENCH_LAT_SETTLE: seconds between the service's readiness and the paced publish,
#        default 3 (beyond caught_up_grace);
#        TFE_BENCH_LAT_WARMUP: the quantiles leave out the scores acknowledged in this many
#        seconds from the start of the publish, default 0 (all of them; both are printed);
#        TFE_BENCH_LAT_TRACE=PREFIX: each latency run also writes PREFIX-RUN, one line a second
#        from /metrics: seconds since the publish began, events consumed and scores acknowledged
#        in that second, and how many of those scores took longer than 16, 32, 64, 128, 256 and
#        512 ms;
#        TFE_BENCH_TP_PATIENTS / TFE_BENCH_TP_DAYS: the throughput history, default 2000 x 1
#        (icu: 40 x 1);
#        TFE_BENCH_PROFILE=icu: the throughput and latency histories, default ward)
set -euo pipefail
TEST=kafka_service_bench
TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR [RUNS] [RATE]}"
SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR [RUNS] [RATE]}"
RUNS="${3:-3}"
RATE="${4:-}"
source "$SRC/tests/integration/lib/service.bash"
it_setup
command -v python3 >/dev/null || it_fail "python3 not found"

# bench_config FILE PREFIX GROUP: it_write_config with the TFE_BENCH_PHASES override.
bench_config() {
  it_write_config "$@"
  [[ -z "${TFE_BENCH_PHASES:-}" ]] || sed -i "s/^tick_phases = .*/tick_phases = $TFE_BENCH_PHASES/" "$1"
  grep -q "^tick_phases = ${TFE_BENCH_PHASES:-}" "$1" || it_fail "no tick_phases line to set in $1"
}

# it_serve with a scorer of choice: serve NAME CONFIG SCORER_ARGS...
serve() {
  local name="$1" config="$2"
  shift 2
  local log="$WORK/serve-$name.log"
  "$TFE" serve --config "$config" "$@" >"$log" 2>&1 &
  SERVE_PID=$!
  SERVE_PIDS+=("$SERVE_PID")
  SERVE_HTTP=""
  for _ in $(seq 1 300); do
    SERVE_HTTP="$(sed -n 's/.*http on \([0-9.]*:[0-9]*\).*/\1/p' "$log" | head -n 1)"
    [[ -n "$SERVE_HTTP" ]] && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || it_fail "tfe serve ($name) exited at start: $(tail -n 3 "$log")"
    sleep 0.1
  done
  it_fail "tfe serve ($name) did not start within 30 s"
}

stop_serve() {
  it_stop "$SERVE_PID" TERM
  ((STOP_RC == 0)) || it_fail "tfe serve exited with status $STOP_RC after SIGTERM"
}

# sample ADDR EVENTS TIMEOUT_S: waits until EVENTS are consumed; prints "rate seconds".
sample() {
  python3 - "$@" <<'EOF'
import sys, time, urllib.request
http, target, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def events():
    with urllib.request.urlopen(f"http://{http}/metrics", timeout=5) as r:
        return sum(float(l.rsplit(" ", 1)[1]) for l in r.read().decode().splitlines()
                   if l.startswith("tfe_events_in_total{"))
start = time.time()
first = None
while time.time() - start < timeout:
    n, now = events(), time.time()
    if first is None and n > 0:
        first = (now, n)
    if n >= target:
        break
    time.sleep(0.2)
if first is None or n < target:
    sys.exit(f"consumed {n:.0f} of {target} events in {timeout} s")
seconds = now - first[0]
print(f"{(n - first[1]) / seconds if seconds > 0 else 0:.0f} {seconds:.2f}")
EOF
}

# quantiles ADDR [BASE]: p50 and p99 of tfe_score_latency_seconds in ms, and the count; with BASE
# (a file of the buckets saved earlier by `quantiles ADDR --save`), of the scores since then.
quantiles() {
  python3 - "$@" <<'EOF'
import sys, urllib.request
with urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5) as r:
    lines = r.read().decode().splitlines()
buckets = []
for l in lines:
    if l.startswith("tfe_score_latency_seconds_bucket{"):
        le = l.split('le="', 1)[1].split('"', 1)[0]
        buckets.append((float("inf") if le == "+Inf" else float(le), float(l.rsplit(" ", 1)[1])))
buckets.sort()
if len(sys.argv) > 2 and sys.argv[2] == "--save":
    print("\n".join(f"{le} {cum}" for le, cum in buckets))
    sys.exit(0)
if len(sys.argv) > 2:
    with open(sys.argv[2]) as f:
        base = dict((float(a), float(b)) for a, b in (l.split() for l in f if l.strip()))
    buckets = [(le, cum - base.get(le, 0.0)) for le, cum in buckets]
total = buckets[-1][1]
def q(p):
    rank, lo, below = p * total, 0.0, 0.0
    for le, cum in buckets:
        if cum >= rank:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * (rank - below) / max(cum - below, 1e-9)
        lo, below = le, cum
    return lo
print(f"{q(0.5) * 1000:.1f} {q(0.99) * 1000:.1f} {total:.0f}")
EOF
}

# trace ADDR: the TFE_BENCH_LAT_TRACE lines, until the service stops answering.
trace() {
  python3 - "$@" <<'EOF'
import sys, time, urllib.request
bounds = (0.016, 0.032, 0.064, 0.128, 0.256, 0.512)
def read():
    with urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=5) as r:
        lines = r.read().decode().splitlines()
    events, cum = 0.0, {}
    for l in lines:
        if l.startswith("tfe_events_in_total"):
            events += float(l.rsplit(" ", 1)[1])
        elif l.startswith("tfe_score_latency_seconds_bucket{"):
            le = l.split('le="', 1)[1].split('"', 1)[0]
            cum[float("inf") if le == "+Inf" else float(le)] = float(l.rsplit(" ", 1)[1])
    return events, cum
print("seconds events scores " + " ".join(f">{b * 1000:.0f}ms" for b in bounds), flush=True)
start = time.monotonic()
previous = read()
while True:
    time.sleep(1 - (time.monotonic() - start) % 1)
    try:
        now = read()
    except OSError:
        break
    scores = now[1][float("inf")] - previous[1][float("inf")]
    over = [scores - (now[1].get(b, 0) - previous[1].get(b, 0)) for b in bounds]
    print(f"{time.monotonic() - start:.0f} {now[0] - previous[0]:.0f} {scores:.0f} "
          + " ".join(f"{o:.0f}" for o in over), flush=True)
    previous = now
EOF
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ward="$SRC/configs/profiles/ward.toml"
"$TFE" model init --strategy attention --config "$SRC/configs/default.toml" --seed 1 \
  --out "$WORK/attention.tfemodel" >/dev/null || it_fail "tfe model init failed"
case "${TFE_BENCH_PROFILE:-ward}" in
  ward) tp_profile="$ward" tp_patients=2000 lat_patients=2000 lat_days=0.25 ;;
  icu) tp_profile="$SRC/configs/profiles/icu.toml" tp_patients=40 lat_patients=40 lat_days=1 ;;
  *) it_fail "TFE_BENCH_PROFILE takes ward or icu" ;;
esac
tp_patients="${TFE_BENCH_TP_PATIENTS:-$tp_patients}"
"$TFE" synth --profile "$tp_profile" --patients "$tp_patients" --days "${TFE_BENCH_TP_DAYS:-1}" --seed 1 \
  --out "$WORK/tp.tfelog" >/dev/null
lat_patients="${TFE_BENCH_LAT_PATIENTS:-$lat_patients}"
lat_days="${TFE_BENCH_LAT_DAYS:-$lat_days}"
"$TFE" synth --profile "$tp_profile" --patients "$lat_patients" --days "$lat_days" --seed 2 --out "$WORK/lat.tfelog" >"$WORK/synth-lat.log"
"$TFE" synth --profile "$ward" --patients 10000 --days 0.125 --seed 3 --out "$WORK/restore.tfelog" >/dev/null
echo "$TEST: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"

parts=" ${TFE_BENCH_PARTS:-throughput latency restore} "
declare -A rates
# ---- throughput ----
if [[ "$parts" == *" throughput "* ]]; then
cfg="$WORK/tp.toml"
bench_config "$cfg" "${PREFIX}tp-" "g-${PREFIX}tp"
"$TFE" replay --history "$WORK/tp.tfelog" --to-kafka --config "$cfg" >"$WORK/publish-tp.log" 2>&1 ||
  it_fail "publish failed: $(tail -n 2 "$WORK/publish-tp.log")"
published="$(sed -n 's/^replay: \([0-9]*\) events published to Kafka.*/\1/p' "$WORK/publish-tp.log")"
echo "$TEST: throughput history: $(tail -n 1 "$WORK/publish-tp.log")"
for scorer in news2 attention; do
  for run in $(seq 1 "$RUNS"); do
    sed -i "s/^group_id = .*/group_id = \"g-${PREFIX}tp-$scorer-$run\"/" "$cfg"
    if [[ "$scorer" == news2 ]]; then args=(--strategy news2); else args=(--model "$WORK/attention.tfemodel"); fi
    serve "tp-$scorer-$run" "$cfg" "${args[@]}"
    read -r rate seconds < <(sample "$SERVE_HTTP" "$published" 600) || it_fail "throughput run did not finish"
    stop_serve
    echo "$TEST: throughput $scorer run $run: $rate events/s ($published events in $seconds s; load $(cut -d' ' -f1 /proc/loadavg))"
    rates[$scorer]+="$rate "
  done
  echo "$TEST: throughput $scorer median: $(tr ' ' '\n' <<<"${rates[$scorer]}" | grep . | median) events/s"
done
fi

# ---- latency at half load ----
if [[ "$parts" == *" latency "* ]]; then
if [[ -z "$RATE" ]]; then
  [[ -n "${rates[attention]:-}" ]] || it_fail "give RATE when the throughput part is not run"
  attention_rate="$(tr ' ' '\n' <<<"${rates[attention]}" | grep . | median)"
  RATE=$((${attention_rate%.*} / 2))
fi
rate="$RATE"
# Events the paced replay publishes (outcomes have no topic).
lat_events="$(sed -n 's/.*: \([0-9]*\) events (.* \([0-9]*\) outcomes).*/\1 \2/p' "$WORK/synth-lat.log" | awk '{ print $1 - $2 }')"
# The pace over the history span that gives `rate` events/s.
pace="$(awk -v r="$rate" -v n="$lat_events" -v d="$lat_days" 'BEGIN { printf "%.0f", r / (n / (d * 86400)) }')"
echo "$TEST: latency: $lat_events events paced at ${pace}x (about $rate events/s)"
for run in $(seq 1 "$RUNS"); do
  cfg="$WORK/lat-$run.toml"
  bench_config "$cfg" "${PREFIX}lat$run-" "g-${PREFIX}lat$run"
  [[ -z "${TFE_BENCH_LINGER:-}" ]] || sed -i "s/^partitions = .*/&\nlinger = \"$TFE_BENCH_LINGER\"/" "$cfg"
  [[ -z "${TFE_BENCH_GRACE:-}" ]] || sed -i "s/^partitions = .*/&\ncaught_up_grace = \"$TFE_BENCH_GRACE\"/" "$cfg"
  if [[ -n "${TFE_BENCH_LATENESS:-}" ]]; then
    sed -i "s/^allowed_lateness = .*/allowed_lateness = \"$TFE_BENCH_LATENESS\"/" "$cfg"
    grep -q "^allowed_lateness = \"$TFE_BENCH_LATENESS\"" "$cfg" || it_fail "no allowed_lateness line to set in $cfg"
  fi
  serve "lat-$run" "$cfg" --model "$WORK/attention.tfemodel"
  it_wait_metric "$SERVE_HTTP" tfe_ready 1 60
  # Past the start: every partition of the new, empty topics has just reached its end and holds
  # the clock for caught_up_grace (2 s), so records published at once pile up and are released
  # in one burst; that start-up transient is not the steady latency measured here
  # (TFE_BENCH_LAT_SETTLE=0 measures it).
  sleep "${TFE_BENCH_LAT_SETTLE:-3}"
  warmup="${TFE_BENCH_LAT_WARMUP:-0}"
  base="$WORK/lat-base-$run"
  if ((warmup > 0)); then
    (sleep "$warmup" && quantiles "$SERVE_HTTP" --save >"$base.tmp" && mv "$base.tmp" "$base") &
    saver=$!
  fi
  if [[ -n "${TFE_BENCH_LAT_TRACE:-}" ]]; then
    trace "$SERVE_HTTP" >"$TFE_BENCH_LAT_TRACE-$run" &
    tracer=$!
  fi
  "$TFE" replay --history "$WORK/lat.tfelog" --to-kafka --config "$cfg" --pace "${pace}x" \
    >"$WORK/publish-lat-$run.log" 2>&1 || it_fail "paced publish failed: $(tail -n 2 "$WORK/publish-lat-$run.log")"
  if ((warmup > 0)); then
    wait "$saver" || it_fail "the latency buckets after the warm-up were not saved"
  fi
  n="$(sed -n 's/^replay: \([0-9]*\) events published to Kafka.*/\1/p' "$WORK/publish-lat-$run.log")"
  read -r _ _ < <(sample "$SERVE_HTTP" "$n" 300) || it_fail "latency run did not finish"
  read -r p50 p99 count < <(quantiles "$SERVE_HTTP")
  detail=""
  if ((warmup > 0)); then
    detail=" after a ${warmup} s warm-up (all $count: p50 $p50 ms, p99 $p99 ms)"
    read -r p50 p99 count < <(quantiles "$SERVE_HTTP" "$base")
  fi
  late="$(it_metric "$SERVE_HTTP" tfe_late_events_total)"
  stop_serve
  if [[ -n "${TFE_BENCH_LAT_TRACE:-}" ]]; then
    wait "$tracer" || it_fail "the per-second trace failed: see $TFE_BENCH_LAT_TRACE-$run"
  fi
  echo "$TEST: latency run $run: p50 $p50 ms, p99 $p99 ms over $count scores$detail, $late late events ($(tail -n 1 "$WORK/publish-lat-$run.log" | sed 's/^replay: //'))"
  p50s+="$p50 "
  p99s+="$p99 "
done
echo "$TEST: latency median: p50 $(tr ' ' '\n' <<<"$p50s" | grep . | median) ms, p99 $(tr ' ' '\n' <<<"$p99s" | grep . | median) ms"
fi

# ---- restore of 10,000 patients ----
if [[ "$parts" == *" restore "* ]]; then
cfg="$WORK/restore.toml"
bench_config "$cfg" "${PREFIX}rs-" "g-${PREFIX}rs"
"$TFE" replay --history "$WORK/restore.tfelog" --to-kafka --config "$cfg" >"$WORK/publish-rs.log" 2>&1 ||
  it_fail "publish failed: $(tail -n 2 "$WORK/publish-rs.log")"
n="$(sed -n 's/^replay: \([0-9]*\) events published to Kafka.*/\1/p' "$WORK/publish-rs.log")"
serve rs-0 "$cfg" --model "$WORK/attention.tfemodel"
sample "$SERVE_HTTP" "$n" 600 >/dev/null || it_fail "the restore history was not consumed"
stop_serve
for run in $(seq 1 "$RUNS"); do
  serve "rs-$run" "$cfg" --model "$WORK/attention.tfemodel"
  it_wait_metric "$SERVE_HTTP" tfe_restores_total 1 120
  it_wait_metric "$SERVE_HTTP" tfe_ready 1 300
  sleep 1.2 # a refresh of the gauges
  line="$(grep -o 'restore done in .*' "$WORK/serve-rs-$run.log" | head -n 1)"
  patients="$(it_metric "$SERVE_HTTP" tfe_active_patients)"
  stop_serve
  echo "$TEST: restore run $run: $line; $patients active patients"
  seconds="$(sed -n 's/restore done in \([0-9.]*\) s.*/\1/p' <<<"$line")"
  restores+="$seconds "
done
echo "$TEST: restore median: $(tr ' ' '\n' <<<"$restores" | grep . | median) s"
fi
echo "$TEST: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
