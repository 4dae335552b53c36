#!/usr/bin/env bash
# Every C++ source and header of the checkout is formatted as .clang-format says (clang-format
# --dry-run --Werror), so formatting is checked in CI rather than left to habit.
#
# usage: source_format.sh TFE_BINARY SOURCE_DIR
set -euo pipefail
SRC="${2:?usage: source_format.sh TFE_BINARY SOURCE_DIR}"
fail() {
  echo "FAIL source_format: $*" >&2
  exit 1
}
command -v clang-format >/dev/null || fail "clang-format is not installed (tools/setup installs it)"
cd "$SRC"
[[ -f .clang-format ]] || fail "no .clang-format in $SRC"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.cpp' '*.h')
else
  mapfile -t files < <(find . -path ./build -prune -o -path './build-*' -prune -o \
    \( -name '*.cpp' -o -name '*.h' \) -print)
fi
((${#files[@]} > 0)) || fail "no C++ files found under $SRC"
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
((${#bad[@]} == 0)) ||
  fail "${#bad[@]} of ${#files[@]} files differ from clang-format (run: clang-format -i FILE): ${bad[*]}"
echo "source_format: ${#files[@]} files formatted"
