#!/usr/bin/env bash
# rping and ib_write_bw -R between two hosts in separate network namespaces
# joined by a veth pair: the CM's TCP connection and the RoCE traffic both
# cross the veth, as between two machines. Needs root (skips otherwise).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/topology.sh
source "$(dirname "$0")/../topology.sh"

count=100
topo_create a b
topo_start_engines
addr_b=$(addr_of b)

ns_pair rping "$PORT_BASE" b a stdbuf -oL rping -s -a "$addr_b" -p "$PORT_BASE" -v -V -C "$count" \
  ::: stdbuf -oL rping -c -a "$addr_b" -p "$PORT_BASE" -v -V -C "$count"
assert_eq "$SERVER_STATUS" 0 "rping server exit status"
assert_eq "$CLIENT_STATUS" 0 "rping client exit status"
assert_eq "$(grep -c '^ping data: rdma-ping-' "$LOG_DIR/rping.client.log")" "$count" "client pings"

port=$((PORT_BASE + 1))
args=(-R -d flexins0 -x 0 -p "$port" -n 1000)
ns_pair perf "$port" b a stdbuf -oL ib_write_bw "${args[@]}" ::: stdbuf -oL ib_write_bw "${args[@]}" "$addr_b"
assert_eq "$SERVER_STATUS" 0 "ib_write_bw server exit status"
assert_eq "$CLIENT_STATUS" 0 "ib_write_bw client exit status"
assert_log_matches perf.client "^ *[0-9]+ +1000([[:space:]]+[0-9.]+){3}"

# The RoCE traffic went through the veth: the engines counted packets. B got
# every WRITE packet (1000 x 64 KiB in 1 KiB MTU packets, plus perftest's own
# exchanges); A got at least the acknowledgements of the 1000 messages'
# last packets, which the responder may coalesce.
for host in a b; do
  min_rx=1
  [[ $host == b ]] && min_rx=64000
  stat_json "$(addr_of "$host")" "$LOG_DIR/stat-$host.json"
  assert_gt "$(json_get "$LOG_DIR/stat-$host.json" rx_packets)" "$min_rx" "packets host $host received"
  assert_engine_alive "$(addr_of "$host")"
done
