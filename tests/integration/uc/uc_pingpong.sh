#!/usr/bin/env bash
# Unmodified ibv_uc_pingpong (Unreliable Connected QPs) between two engines
# standing for two hosts, with data validation (-c: the tool itself exits
# non-zero on a mismatch):
#   uc_pingpong.sh loopback|netns SIZE [poll|events] [ITERS]
# loopback: engines on 127.0.SLOT.1/.2; netns: two hosts in network
# namespaces joined by a veth (MTU 1500, so IB MTU 1024; topology.sh).
# UC never resends: one lost packet would lose a message and stall the
# ping-pong (the timeout turns that into a failure). With one message in
# flight each way neither path loses any, so the test also asserts that no
# engine dropped a UC message, and that the traffic really was UC: no ACKs,
# no retransmissions.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

usage="usage: uc_pingpong.sh loopback|netns SIZE [poll|events] [ITERS]"
mode=${1:?$usage}
size=${2:?$usage}
wait_mode=${3:-poll}
iters=${4:-500}

args=(-g 0 -c -s "$size" -n "$iters" -p "$PORT_BASE")
case $wait_mode in
  poll) ;;
  events) args+=(-e) ;;
  *) fail "wait mode must be poll or events, got '$wait_mode'" ;;
esac

case $mode in
  loopback)
    start_engine "$ADDR_A"
    start_engine "$ADDR_B"
    over "$ADDR_B" stdbuf -oL ibv_uc_pingpong "${args[@]}"
    server=("${OVER[@]}")
    over "$ADDR_A" stdbuf -oL ibv_uc_pingpong "${args[@]}" "$ADDR_B"
    client=("${OVER[@]}")
    run_pair uc "$PORT_BASE" "${server[@]}" ::: "${client[@]}"
    addr_server=$ADDR_B
    addr_client=$ADDR_A
    mtu=1024  # the tool's default -m
    ;;
  netns)
    # shellcheck source=tests/integration/topology.sh
    source "$LIB_DIR/topology.sh"
    topo_create a b
    topo_start_engines
    addr_server=$(addr_of b)
    addr_client=$(addr_of a)
    mtu=1024
    ns_pair uc "$PORT_BASE" b a stdbuf -oL ibv_uc_pingpong "${args[@]}" -m "$mtu" \
      ::: stdbuf -oL ibv_uc_pingpong "${args[@]}" -m "$mtu" "$addr_server"
    ;;
  *) fail "mode must be loopback or netns, got '$mode'" ;;
esac

assert_pingpong_ok uc "$size" "$iters"
# Each side learned the other's LID, QPN and GID (::ffff:ADDR, RoCE v2).
assert_log_matches uc.server "remote address: LID $(lid_hex "$addr_client"), QPN 0x[0-9a-f]{6}, PSN 0x[0-9a-f]{6}, GID ::ffff:$addr_client"
assert_log_matches uc.client "remote address: LID $(lid_hex "$addr_server"), QPN 0x[0-9a-f]{6}, PSN 0x[0-9a-f]{6}, GID ::ffff:$addr_server"

# Every message is ceil(SIZE / MTU) packets (one for 0 bytes), and each
# engine sends ITERS messages.
pkts=$(((size + mtu - 1) / mtu))
((pkts > 0)) || pkts=1
for addr in "$addr_client" "$addr_server"; do
  st=$RUN_DIR/stat-$addr.json
  stat_json "$addr" "$st"
  read -r tx acks retx dropped oos errors copied < <(python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
print(*(o[k] for k in ("tx_packets", "acks_sent", "retransmitted_packets", "uc_messages_dropped",
                       "rx_drop_out_of_sequence", "completions_error", "tx_payload_bytes_copied")))' "$st") ||
    fail "engine $addr: counters missing in $st"
  log "engine $addr: tx_packets $tx, acks_sent $acks, uc_messages_dropped $dropped"
  assert_gt "$tx" $((iters * pkts - 1)) "engine $addr tx_packets"
  assert_eq "$acks" 0 "engine $addr acks_sent (UC has none)"
  assert_eq "$retx" 0 "engine $addr retransmitted_packets (UC resends nothing)"
  assert_eq "$dropped" 0 "engine $addr uc_messages_dropped"
  assert_eq "$oos" 0 "engine $addr rx_drop_out_of_sequence"
  assert_eq "$errors" 0 "engine $addr completions_error"
  assert_eq "$copied" 0 "engine $addr tx_payload_bytes_copied"
  assert_engine_alive "$addr"
done
