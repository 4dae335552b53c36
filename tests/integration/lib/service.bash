# Shared steps of the Kafka service integration tests (sourced by tests/integration/kafka_*.sh).
#
# The caller sets: TEST (its name), TFE (the tfe binary), SRC (the source directory), and runs
# `it_setup`. Everything lives under $WORK (removed at exit, kept with TFE_KEEP_WORK=1) and in
# topics named with a unique prefix, deleted at exit.

it_fail() {
  echo "FAIL $TEST: $*" >&2
  [[ -n "${WORK:-}" ]] || exit 1
  for log in "$WORK"/serve-*.log; do
    [[ -f "$log" ]] || continue
    echo "---- last lines of $(basename "$log")" >&2
    tail -n 15 "$log" >&2
  done
  exit 1
}

it_log() { echo "$TEST: $*" >&2; }

# Checks the environment, makes $WORK, $PREFIX, $CONFIG (default modalities, the real broker).
it_setup() {
  [[ -x "$TFE" ]] || it_fail "tfe binary '$TFE' not found or not executable"
  [[ -n "${TFE_KAFKA_BOOTSTRAP:-}" ]] ||
    it_fail "TFE_KAFKA_BOOTSTRAP is not set: start a broker with 'export TFE_KAFKA_BOOTSTRAP=\$(tools/kafka start)' (tools/test does this)"
  local tool
  for tool in kcat jq curl; do
    command -v "$tool" >/dev/null || it_fail "$tool not found: install the Debian package '$tool' (tools/setup does)"
  done
  BROKER="$TFE_KAFKA_BOOTSTRAP"
  kcat -b "$BROKER" -L -m 10 >/dev/null 2>&1 || it_fail "no broker answers at $BROKER"
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/tfe-$TEST.XXXXXX")"
  PREFIX="it-$TEST-$$-$RANDOM-"
  SERVE_PIDS=()
  trap it_cleanup EXIT
  CONFIG="$WORK/service.toml"
  it_write_config "$CONFIG" "$PREFIX" "g-$PREFIX"
  SCORE_TOPIC="${PREFIX}tfe.scores"
  DEAD_TOPIC="${PREFIX}tfe.dead-letters"
}

# it_write_config FILE PREFIX GROUP: the default modalities and a [kafka] section for the tests
# (short session timeout so that a killed instance's partitions move within seconds).
it_write_config() {
  cat "$SRC/configs/default.toml" >"$1"
  cat >>"$1" <<EOF

[kafka]
brokers = "$BROKER"
group_id = "$3"
topic_prefix = "$2"
partitions = 4
commit_interval = "500ms"
shutdown_grace = "30s"
http = "127.0.0.1:0"

[kafka.librdkafka]
"session.timeout.ms" = "10000"
"heartbeat.interval.ms" = "1000"
EOF
}

# Runs at exit, under set -e: nothing in it may fail (a broker that does not answer leaves its
# topics, never $WORK or a process).
it_cleanup() {
  local pid
  for pid in "${SERVE_PIDS[@]}"; do { kill -9 "$pid" && wait "$pid"; } 2>/dev/null || true; done
  if [[ -x "$SRC/tools/kafka" ]]; then
    local topics
    topics="$(kcat -b "$BROKER" -L -m 10 2>/dev/null | sed -n "s/^ *topic \"\\(${PREFIX}[^\"]*\\)\".*/\\1/p")" || true
    for t in $topics; do "$SRC/tools/kafka" topics delete "$t" >/dev/null 2>&1 || true; done
  fi
  if [[ "${TFE_KEEP_WORK:-0}" == 1 ]]; then
    echo "$TEST: work kept in $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}

# it_synth OUT PATIENTS DAYS [PROFILE]: a synthetic history (a profile of configs/profiles).
it_synth() {
  "$TFE" synth --profile "$SRC/configs/profiles/${4:-ward}.toml" --patients "$2" --days "$3" --seed 7 --out "$1" \
    >"$WORK/synth.log" 2>&1 || it_fail "tfe synth failed: $(tail -n 3 "$WORK/synth.log")"
}

# it_publish HISTORY [CONFIG]: replay --to-kafka as fast as the broker takes it.
it_publish() {
  "$TFE" replay --history "$1" --to-kafka --config "${2:-$CONFIG}" >"$WORK/publish.log" 2>&1 ||
    it_fail "tfe replay --to-kafka failed: $(tail -n 3 "$WORK/publish.log")"
}

# it_publish_paced HISTORY CONFIG PACE: replay --to-kafka at a pace ("3600x": an hour of history
# per second), in the background: PUBLISH_PID. The service consumes it live, as from a feed.
it_publish_paced() {
  "$TFE" replay --history "$1" --to-kafka --config "$2" --pace "$3" >"$WORK/publish-paced.log" 2>&1 &
  PUBLISH_PID=$!
  SERVE_PIDS+=("$PUBLISH_PID")
}

# it_running PID: the process is alive (a stopped one counts; an exited one not yet reaped does not).
it_running() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

# it_wait_pid PID TIMEOUT_S: waits for a child of this shell to exit, for at most TIMEOUT_S; its
# exit status goes to WAIT_RC. One still running then is killed (SIGKILL) and WAIT_RC is 124, so
# that a hung process fails the test instead of hanging it until ctest kills the script (and with
# it this cleanup).
it_wait_pid() {
  local deadline=$((SECONDS + $2))
  while it_running "$1" && ((SECONDS < deadline)); do sleep 0.2; done
  WAIT_RC=0
  if it_running "$1"; then
    kill -9 "$1" 2>/dev/null || true
    { wait "$1"; } 2>/dev/null || true
    WAIT_RC=124
    return
  fi
  { wait "$1"; } 2>/dev/null || WAIT_RC=$?
}

# it_wait_publish: waits for the paced publisher (at most 300 s); fails if it failed.
it_wait_publish() {
  it_wait_pid "$PUBLISH_PID" 300
  ((WAIT_RC != 124)) || it_fail "tfe replay --to-kafka --pace did not finish within 300 s"
  ((WAIT_RC == 0)) || it_fail "tfe replay --to-kafka --pace failed ($WAIT_RC): $(tail -n 3 "$WORK/publish-paced.log")"
}

# it_file_scores HISTORY OUT: the scores of a plain file replay (the reference).
it_file_scores() {
  "$TFE" replay --history "$1" --config "$CONFIG" --strategy news2 --out "$2" \
    >"$WORK/replay.log" 2>&1 || it_fail "tfe replay failed: $(tail -n 3 "$WORK/replay.log")"
}

# it_serve NAME [CONFIG]: starts `tfe serve` in the background; sets SERVE_PID and SERVE_HTTP.
it_serve() {
  local name="$1" config="${2:-$CONFIG}" log="$WORK/serve-$1.log"
  "$TFE" serve --config "$config" --strategy news2 >"$log" 2>&1 &
  SERVE_PID=$!
  SERVE_PIDS+=("$SERVE_PID")
  SERVE_HTTP=""
  local i
  for i in $(seq 1 300); do
    # (the log may not exist yet: the background process opens it)
    SERVE_HTTP="$(sed -n 's/.*http on \([0-9.]*:[0-9]*\).*/\1/p' "$log" 2>/dev/null | head -n 1 || true)"
    [[ -n "$SERVE_HTTP" ]] && break
    kill -0 "$SERVE_PID" 2>/dev/null || it_fail "tfe serve ($name) exited at start: $(tail -n 3 "$log")"
    sleep 0.1
  done
  [[ -n "$SERVE_HTTP" ]] || it_fail "tfe serve ($name) did not start within 30 s"
  eval "HTTP_$name=$SERVE_HTTP PID_$name=$SERVE_PID"
}

# it_metric ADDR NAME: the sum of a metric's series (0 when absent or unreachable).
it_metric() {
  curl -s --max-time 5 "http://$1/metrics" 2>/dev/null |
    awk -v name="$2" '$1 == name || index($1, name "{") == 1 { sum += $2 } END { printf "%d\n", sum }'
}

# it_wait_metric ADDR NAME MIN TIMEOUT_S: waits until the metric reaches MIN.
it_wait_metric() {
  local deadline=$((SECONDS + $4)) v
  while ((SECONDS < deadline)); do
    v="$(it_metric "$1" "$2")"
    ((v >= $3)) && return 0
    sleep 0.2
  done
  it_fail "$2 at $1 stayed below $3 for $4 s (last $(it_metric "$1" "$2"))"
}

# it_stop PID SIGNAL: sends the signal and waits for the exit; the exit status goes to STOP_RC
# (not printed: `wait` only works in the shell that started the process). A process still running
# 90 s later (the tests' shutdown_grace is 30 s) is killed and fails the test.
it_stop() {
  kill -"$2" "$1" 2>/dev/null || true
  it_wait_pid "$1" 90
  ((WAIT_RC != 124)) || it_fail "process $1 still running 90 s after SIG$2 (killed)"
  STOP_RC=$WAIT_RC
}

# it_stop_cleanly PID: SIGTERM, then the exit status must be 0.
it_stop_cleanly() {
  it_stop "$1" TERM
  ((STOP_RC == 0)) || it_fail "tfe serve exited with status $STOP_RC after SIGTERM (expected 0)"
}

# it_check_score_topic OUT LIMIT [LABEL]: reads the score topic into OUT, compares it with
# $WORK/file-scores.jsonl before LIMIT (it_compare_scores) and logs how many scores came twice.
it_check_score_topic() {
  local out="$1" limit="$2" label="${3:-}"
  it_consume_scores "$out"
  it_compare_scores "$WORK/file-scores.jsonl" "$out" "$limit"
  local repeats=$(($(wc -l <"$out") - $(it_distinct_keys "$out")))
  it_log "${label:+$label: }$repeats scores emitted twice (identical repeats)"
}

# it_consume_scores OUT: every message of the score topic so far, one JSON per line.
it_consume_scores() {
  timeout 120 kcat -b "$BROKER" -C -t "$SCORE_TOPIC" -o beginning -e -q >"$1" ||
    it_fail "kcat could not read $SCORE_TOPIC"
}

# it_distinct_keys FILE: number of distinct (patient_id, score_time) in a score file.
it_distinct_keys() {
  jq -r '"\(.patient_id) \(.score_time)"' "$1" | sort -u | wc -l
}

# it_topic_messages TOPIC: messages on a topic (the sum of its partitions' end offsets; the test
# topics are new, so they start at 0).
it_topic_messages() {
  local partitions args=() p
  partitions="$(kcat -b "$BROKER" -L -t "$1" -m 10 2>/dev/null | grep -c '^ *partition ' || true)"
  ((partitions > 0)) || {
    echo 0
    return
  }
  for ((p = 0; p < partitions; p++)); do args+=(-t "$1:$p:-1"); done
  timeout 60 kcat -b "$BROKER" -Q "${args[@]}" 2>/dev/null | awk '$3 == "offset" { n += $4 } END { print n + 0 }'
}

# it_wait_scores COUNT TIMEOUT_S: waits until the score topic holds COUNT distinct scores. The
# topic is read in full (to count distinct keys) only once it holds at least COUNT messages.
it_wait_scores() {
  local deadline=$((SECONDS + $2)) n=0
  while ((SECONDS < deadline)); do
    if (($(it_topic_messages "$SCORE_TOPIC") >= $1)); then
      it_consume_scores "$WORK/scores.now"
      n="$(it_distinct_keys "$WORK/scores.now")"
      ((n >= $1)) && return 0
    fi
    sleep 1
  done
  it_fail "only $n of $1 distinct scores on $SCORE_TOPIC after $2 s"
}

# it_reference HISTORY: the file replay's scores ($WORK/file-scores.jsonl), REF_LIMIT (the newest
# arrival: ticks at the very end depend on whether a run was finished) and REF_WANT (the scores
# before it, which the service must emit).
it_reference() {
  it_file_scores "$1" "$WORK/file-scores.jsonl"
  REF_LIMIT="$(it_max_arrival "$1")"
  REF_WANT="$(jq -c --argjson limit "$REF_LIMIT" 'select(.score_time < $limit)' "$WORK/file-scores.jsonl" | wc -l)"
  it_log "reference: $REF_WANT scores"
}

# it_max_arrival HISTORY: the newest arrival_time in a JSONL history.
it_max_arrival() {
  jq -n '[inputs | .arrival_time] | max' "$1"
}

# it_compare_scores EXPECTED ACTUAL LIMIT: ACTUAL (possibly with repeats) must hold exactly the
# scores of EXPECTED with score_time < LIMIT (the newest arrival: ticks at the very end depend on
# whether the run was finished), no score missing, none extra, and no two different scores for
# the same (patient_id, score_time).
it_compare_scores() {
  local expected="$1" actual="$2" limit="$3"
  jq -c --argjson limit "$limit" 'select(.score_time < $limit)' "$expected" | sort -u >"$WORK/cmp.expected"
  jq -c --argjson limit "$limit" 'select(.score_time < $limit)' "$actual" | sort -u >"$WORK/cmp.actual"
  local conflicts
  conflicts="$(jq -r '"\(.patient_id) \(.score_time)"' "$WORK/cmp.actual" | sort | uniq -d | wc -l)"
  ((conflicts == 0)) ||
    it_fail "$conflicts (patient_id, score_time) pairs have two different scores: $(jq -r '"\(.patient_id) \(.score_time)"' "$WORK/cmp.actual" | sort | uniq -d | head -n 3 | tr '\n' ' ')"
  local want got
  want="$(wc -l <"$WORK/cmp.expected")"
  got="$(wc -l <"$WORK/cmp.actual")"
  ((want > 0)) || it_fail "the reference has no scores before $limit"
  if ! cmp -s "$WORK/cmp.expected" "$WORK/cmp.actual"; then
    local missing extra
    missing="$(comm -23 "$WORK/cmp.expected" "$WORK/cmp.actual" | wc -l)"
    extra="$(comm -13 "$WORK/cmp.expected" "$WORK/cmp.actual" | wc -l)"
    it_fail "scores differ from the reference ($want expected, $got seen: $missing missing or different, $extra extra); first missing: $(comm -23 "$WORK/cmp.expected" "$WORK/cmp.actual" | head -n 1)"
  fi
  it_log "$got scores identical to the reference"
}
