# Shared start of the end-to-end scripts (sourced by tests/e2e/*.sh). The caller sets TEST (its
# name) and runs `e2e_setup "$@"`.

fail() {
  echo "FAIL $TEST: $*" >&2
  exit 1
}

# refused STATUS NAME PATTERN CMD...: CMD exits STATUS with one stderr line matching PATTERN
# (grep); its output goes to $WORK/NAME.out and $WORK/NAME.err.
refused() {
  local want=$1 name=$2 pattern=$3
  shift 3
  local status=0
  timeout 60 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || status=$?
  ((status == want)) || fail "$name: exited $status, want $want: $(head -n 3 "$WORK/$name.err")"
  [[ "$(wc -l <"$WORK/$name.err")" == 1 ]] ||
    fail "$name: $(wc -l <"$WORK/$name.err") lines on stderr, want 1: $(head -n 5 "$WORK/$name.err")"
  grep -q -- "$pattern" "$WORK/$name.err" ||
    fail "$name: the error does not match '$pattern': $(cat "$WORK/$name.err")"
}

# e2e_setup TFE_BINARY SOURCE_DIR: sets TFE and SRC, makes $WORK (removed at exit, kept with
# TFE_KEEP_WORK=1) and changes to SRC, where configs/ resolves.
e2e_setup() {
  TFE="${1:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
  SRC="${2:?usage: $TEST.sh TFE_BINARY SOURCE_DIR}"
  [[ -x "$TFE" ]] || fail "tfe binary '$TFE' not found or not executable"
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/tfe-$TEST.XXXXXX")"
  if [[ "${TFE_KEEP_WORK:-0}" == 1 ]]; then
    echo "$TEST: work directory $WORK" >&2
  else
    trap 'rm -rf "$WORK"' EXIT
  fi
  cd "$SRC"
}

# serve_embedded NAME ARGS...: starts `tfe serve --config configs/dev.toml ARGS...` (the embedded
# broker) in the background, stdout to $WORK/NAME.out and stderr to $WORK/NAME.err, and waits up
# to 20 s for its first assignment. SERVE_PID is its pid. Stopping a consumer before its first
# assignment can abort in librdkafka 2.0.2 (docs/service.md), hence the wait.
serve_embedded() {
  local name=$1
  shift
  "$TFE" serve --config configs/dev.toml "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  SERVE_PID=$!
  for _ in $(seq 1 200); do
    grep -q 'rebalance: assigned' "$WORK/$name.err" 2>/dev/null && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || fail "$name: tfe serve exited early: $(tail -n 5 "$WORK/$name.err")"
    sleep 0.1
  done
  kill -KILL "$SERVE_PID" 2>/dev/null || true
  fail "$name: tfe serve had no assignment after 20 s: $(tail -n 5 "$WORK/$name.err")"
}

# serve_stop NAME: SIGTERM to the service of serve_embedded; it must exit 0.
serve_stop() {
  local status=0
  kill -TERM "$SERVE_PID" 2>/dev/null || true
  wait "$SERVE_PID" || status=$?
  [[ "$status" == 0 ]] || fail "$1: tfe serve exited $status: $(tail -n 5 "$WORK/$1.err")"
}
