#!/usr/bin/env bash
# Unmodified ibv_rc_pingpong between two engines (two "hosts"), with data
# validation (-c: the tool itself exits non-zero on a mismatch).
#   rc_pingpong.sh SIZE [poll|events|wr_api|lid] [ITERS]
# (wr_api: -N, posting through ibv_wr_* on ibv_qp_ex; lid: no -g, so each
# side's QP path is the peer's LID without a GRH, which FlexiNS routes to the
# host with that LID in its /16: src/pipe/lid.h)
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

size=${1:?usage: rc_pingpong.sh SIZE [poll|events|wr_api|lid] [ITERS]}
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
  lid) args=(-c -s "$size" -n "$iters") ;;
  *) fail "mode must be poll, events, wr_api or lid, got '$mode'" ;;
esac

start_engine "$ADDR_A"
start_engine "$ADDR_B"

pingpong pp "$ADDR_B" "$ADDR_A" "$PORT_BASE" "${args[@]}"
assert_pingpong_ok pp "$size" "$iters"
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
if [[ $mode == lid ]]; then
  # Each side learned the other's LID (127.0.SLOT.N -> 0xSSNN) and no GID.
  lid_a=$(lid_hex "$ADDR_A")
  lid_b=$(lid_hex "$ADDR_B")
  assert_log_matches pp.server "remote address: LID $lid_a, QPN 0x[0-9a-f]{6}, PSN 0x[0-9a-f]{6}, GID ::$"
  assert_log_matches pp.client "remote address: LID $lid_b, QPN 0x[0-9a-f]{6}, PSN 0x[0-9a-f]{6}, GID ::$"
fi
