# Shared start of the end-to-end scripts (sourced by tests/e2e/*.sh). The caller sets TEST (its
# name) and runs `e2e_setup "$@"`.

fail() {
  echo "FAIL $TEST: $*" >&2
  exit 1
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
