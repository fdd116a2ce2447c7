#!/usr/bin/env bash
# Unmodified ibv_rc_pingpong between two engines (two "hosts"), with data
# validation (-c: the tool itself exits non-zero on a mismatch).
#   rc_pingpong.sh SIZE [poll|events|wr_api] [ITERS]
# (wr_api: -N, posting through ibv_wr_* on ibv_qp_ex)
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

size=${1:?usage: rc_pingpong.sh SIZE [poll|events|wr_api] [ITERS]}
mode=${2:-poll}
# About a second of traffic at each size, even on a busy 2-core machine.
default_iters() {
  if (($1 <= 4096)); then echo 1000
  elif (($1 <= 65536)); then echo 300
  else echo 40
  fi
}
iters=${3:-$(default_iters "$size")}

args=(-g 0 -c -s "$size" -n "$iters")
case $mode in
  poll) ;;
  events) args+=(-e) ;;
  wr_api) args+=(-N) ;;
  *) fail "mode must be poll, events or wr_api, got '$mode'" ;;
esac

start_engine "$ADDR_A"
start_engine "$ADDR_B"

pingpong pp "$ADDR_B" "$ADDR_A" "$PORT_BASE" "${args[@]}"
assert_pingpong_ok pp "$size" "$iters"
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
