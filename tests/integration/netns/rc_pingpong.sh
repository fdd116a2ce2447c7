#!/usr/bin/env bash
# Unmodified ibv_rc_pingpong between two hosts in separate network namespaces
# joined by a veth pair (MTU 1500, so the engines run IB MTU 1024), with data
# validation (-c). Packets cross the veth: both engines count them.
#   rc_pingpong.sh [SIZE] [ITERS]
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/topology.sh
source "$(dirname "$0")/../topology.sh"

size=${1:-4096}
iters=${2:-300}

topo_create a b
topo_start_engines
addr_b=$(addr_of b)

assert_log_matches "engine-$(addr_of a)" 'MTU 1024'

# -m 1024: the active MTU of a 1500-byte link (the tool's default too).
args=(-g 0 -c -m 1024 -s "$size" -n "$iters" -p "$PORT_BASE")
ns_pair pp "$PORT_BASE" b a stdbuf -oL ibv_rc_pingpong "${args[@]}" \
  ::: stdbuf -oL ibv_rc_pingpong "${args[@]}" "$addr_b"
assert_pingpong_ok pp "$size" "$iters"

# The traffic went through the namespaces' interfaces, not a shortcut: the
# veth in a counted at least the payload in each direction.
rx_bytes=$(ip netns exec "$(ns_of a)" cat /sys/class/net/to-b/statistics/rx_bytes)
tx_bytes=$(ip netns exec "$(ns_of a)" cat /sys/class/net/to-b/statistics/tx_bytes)
log "veth a<->b: rx $rx_bytes B, tx $tx_bytes B"
assert_gt "$rx_bytes" $((size * iters)) "bytes received on a's veth"
assert_gt "$tx_bytes" $((size * iters)) "bytes sent on a's veth"

# MTU 1024 segments each message: at least ceil(SIZE/1024) packets each way.
min_packets=$((iters * ((size + 1023) / 1024)))
for host in a b; do
  stat_json "$(addr_of "$host")" "$LOG_DIR/stat-$host.json"
  cat "$LOG_DIR/stat-$host.json"
  assert_engine_alive "$(addr_of "$host")"
  tx=$(json_get "$LOG_DIR/stat-$host.json" tx_packets)
  rx=$(json_get "$LOG_DIR/stat-$host.json" rx_packets)
  ((tx >= min_packets)) || fail "host $host sent $tx packets, expected >= $min_packets"
  ((rx >= min_packets)) || fail "host $host received $rx packets, expected >= $min_packets"
  assert_eq "$(json_get "$LOG_DIR/stat-$host.json" completions_error)" 0 "host $host error completions"
done
