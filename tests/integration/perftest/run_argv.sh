#!/usr/bin/env bash
# `flexins run --ip ADDR -- CMD ARGS...` hands CMD exactly ARGS: nothing
# added, nothing reordered. (qperf parses its own arguments and rejects the
# stray "--" CLI11's prefix_command used to append.)
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

start_engine "$ADDR_A"

# check NAME EXPECTED ARGS...: `printf '<%s>'` shows every argument as given.
check() {
  local name=$1 expected=$2
  shift 2
  run_cmd "$name" "$FLEXINS" run --ip "$ADDR_A" "$@" || { show_log "$name"; fail "$name: flexins run failed"; }
  assert_eq "$(cat "$LOG_DIR/$name.log")" "$expected" "$name: arguments CMD received"
}
check options '<-lp><21900><-t><2><rc_bw>' -- printf '<%s>' -lp 21900 -t 2 rc_bw
check dashdash '<a><--><-b>' -- printf '<%s>' a -- -b
check spaces '<a b><><c>' -- printf '<%s>' 'a b' '' c
check plain '<x><y>' printf '<%s>' x y
