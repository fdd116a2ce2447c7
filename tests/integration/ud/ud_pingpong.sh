#!/usr/bin/env bash
# Unmodified ibv_ud_pingpong between two engines (two "hosts"): UD datagrams
# with the GRH ahead of the payload, data validated by the tool itself (-c).
#   ud_pingpong.sh SIZE [poll|events|lid] [ITERS]
# SIZE must leave room for the 40-byte GRH within the engine's MTU.
# lid: no -g, so each side's address handle is the peer's LID without a GRH,
# which FlexiNS routes to the host with that LID in its /16 (src/pipe/lid.h).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

size=${1:?usage: ud_pingpong.sh SIZE [poll|events|lid] [ITERS]}
mode=${2:-poll}
iters=${3:-500}

args=(-g 0 -c -s "$size" -n "$iters")
case $mode in
  poll) ;;
  events) args+=(-e) ;;
  lid) args=(-c -s "$size" -n "$iters") ;;
  *) fail "mode must be poll, events or lid, got '$mode'" ;;
esac

start_engine "$ADDR_A"
start_engine "$ADDR_B"

over "$ADDR_B" stdbuf -oL ibv_ud_pingpong -p "$PORT_BASE" "${args[@]}"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL ibv_ud_pingpong -p "$PORT_BASE" "${args[@]}" "$ADDR_B"
client=("${OVER[@]}")
run_pair ud "$PORT_BASE" "${server[@]}" ::: "${client[@]}"
assert_pingpong_ok ud "$size" "$iters"
# Each side learned the other's UD QPN, LID (127.0.SLOT.N -> 0xSSNN, from
# ibv_query_port) and, with -g 0, GID (::ffff:ADDR).
lid_a=$(printf '0x%04x' $(((TEST_SLOT << 8) | 1)))
lid_b=$(printf '0x%04x' $(((TEST_SLOT << 8) | 2)))
gid_a="::ffff:$ADDR_A" gid_b="::ffff:$ADDR_B"
[[ $mode != lid ]] || gid_a="::" gid_b="::"
assert_log_matches ud.server "remote address: LID $lid_a, QPN 0x[0-9a-f]{6}, PSN 0x[0-9a-f]{6}, GID $gid_a\$"
assert_log_matches ud.client "remote address: LID $lid_b, QPN 0x[0-9a-f]{6}, PSN 0x[0-9a-f]{6}, GID $gid_b\$"

for addr in "$ADDR_A" "$ADDR_B"; do
  f=$RUN_DIR/stat-$addr.json
  stat_json "$addr" "$f"
  # One datagram per message each way, and nothing turned away.
  assert_gt "$(json_get "$f" tx_packets)" $((iters - 1)) "engine $addr tx_packets"
  assert_eq "$(json_get "$f" rx_drop_bad_qkey)" 0 "engine $addr rx_drop_bad_qkey"
  assert_eq "$(json_get "$f" rx_drop_no_recv_wqe)" 0 "engine $addr rx_drop_no_recv_wqe"
  assert_eq "$(json_get "$f" tx_payload_bytes_copied)" 0 "engine $addr tx_payload_bytes_copied"
  assert_engine_alive "$addr"
done
