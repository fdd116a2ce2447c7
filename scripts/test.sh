#!/usr/bin/env bash
# Everything CI checks, in one command:
#   1. setup.sh: packages, configure and build the release tree (build/)
#   2. unit tests and integration tests in build/
#   3. a sanitizer tree (build-sanitize/, ASan + UBSan) and its unit tests
# Exits non-zero if any step fails; prints ctest's summaries at the end.
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root" || exit 1
export CMAKE_GENERATOR=${CMAKE_GENERATOR:-Ninja}
jobs=$(nproc)

report_dir=$(mktemp -d "${TMPDIR:-/tmp}/flexins-test.XXXXXX")
trap 'rm -rf "$report_dir"' EXIT
results=()
failed=0

# step NAME CMD...: run CMD, record pass/fail and how long it took.
step() {
  local name=$1 start=$SECONDS status=0
  shift
  printf '\n===== %s: %s\n' "$name" "$*"
  "$@" || status=$?
  local took=$((SECONDS - start))
  if ((status == 0)); then
    results+=("PASS  $name (${took}s)")
  else
    results+=("FAIL  $name (${took}s, exit $status)")
    failed=1
  fi
  return "$status"
}

# run_ctest NAME ARGS...: ctest with its output kept for the final summary.
# shellcheck disable=SC2317  # called through step
run_ctest() {
  local name=$1
  shift
  ctest --output-on-failure --no-tests=error "$@" 2>&1 | tee "$report_dir/$name.log"
  return "${PIPESTATUS[0]}"
}

summary() {
  printf '\n===== summary\n'
  local f
  for f in "$report_dir"/*.log; do
    [[ -e $f ]] || continue
    printf -- '--- %s\n' "$(basename "$f" .log)"
    grep -E 'tests passed|tests failed|Total Test time|^[[:space:]]+[0-9]+ - .*\((Failed|Timeout|SEGFAULT|Subprocess|Exception|Not Run)' "$f" || true
    # Why, in a line each, so that the end of a long log says it too.
    grep -E 'ASSERTION FAILED|^FAILED: |^\[  FAILED  \] [A-Za-z]|: Failure$' "$f" | head -20 || true
  done
  printf '%s\n' "${results[@]}"
  if ((failed)); then echo "RESULT: FAILED"; else echo "RESULT: all passed"; fi
}

if step setup bash scripts/setup.sh &&
  step build-release cmake --build build -j "$jobs"; then
  step unit-tests run_ctest unit-tests --test-dir build -LE integration -j "$jobs"
  # Serially: each integration test runs two engines and busy-polling tools.
  step integration-tests run_ctest integration-tests --test-dir build -L integration
else
  echo "release build failed; skipping its tests" >&2
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if step configure-sanitize cmake --preset sanitize &&
  step build-sanitize cmake --build build-sanitize -j "$jobs"; then
  step sanitize-unit-tests run_ctest sanitize-unit-tests --test-dir build-sanitize -LE integration -j "$jobs"
fi

summary
exit "$failed"
