#!/usr/bin/env bash
# Unmodified ibv_srq_pingpong between two engines: 16 RC QPs per side whose
# receives all come from one shared receive queue; data validated by the
# tool itself (-c).
#   srq_pingpong.sh [poll|events] [ITERS] [SIZE]
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

mode=${1:-poll}
iters=${2:-300}
size=${3:-4096}

args=(-g 0 -c -s "$size" -n "$iters")
case $mode in
  poll) ;;
  events) args+=(-e) ;;
  *) fail "mode must be poll or events, got '$mode'" ;;
esac

start_engine "$ADDR_A"
start_engine "$ADDR_B"

over "$ADDR_B" stdbuf -oL ibv_srq_pingpong -p "$PORT_BASE" "${args[@]}"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL ibv_srq_pingpong -p "$PORT_BASE" "${args[@]}" "$ADDR_B"
client=("${OVER[@]}")
run_pair srq "$PORT_BASE" "${server[@]}" ::: "${client[@]}"
assert_pingpong_ok srq "$size" "$iters"
# It prints one "remote address" line per QP: all 16 connected.
for side in server client; do
  n=$(grep -c "remote address:" "$LOG_DIR/srq.$side.log" || true)
  assert_eq "$n" 16 "QPs the $side connected"
done
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
