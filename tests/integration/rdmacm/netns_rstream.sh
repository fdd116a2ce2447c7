#!/usr/bin/env bash
# rstream and riostream (rsockets in our librdmacm.so.1) between two hosts in
# separate network namespaces joined by a veth pair: the CM's TCP connection
# and the RDMA traffic (WRITE WITH IMM into the peer's receive ring, riowrite
# into its riomap'ed buffer) both cross the veth. Small and large messages,
# blocking and non-blocking, with the tools' own data verification (-T v).
# Needs root (skips otherwise).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/topology.sh
source "$(dirname "$0")/../topology.sh"
# shellcheck source=tests/integration/rdmacm/rstream_results.sh
source "$(dirname "$0")/rstream_results.sh"

topo_create a b
topo_start_engines
addr_b=$(addr_of b)

run=0
# across TOOL ARGS...: one run of TOOL between host b (server) and a.
across() {
  local tool=$1 port=$((PORT_BASE + run))
  shift
  run=$((run + 1))
  ns_pair "$tool$run" "$port" b a stdbuf -oL "$tool" -b "$addr_b" -p "$port" "$@" \
    ::: stdbuf -oL "$tool" -s "$addr_b" -p "$port" "$@"
  assert_rstream_ok "$tool$run" "$tool" 1
}

across rstream -S 64 -C 2000 -T v
across rstream -S 65536 -C 500 -T b -T v
across riostream -S 64 -C 2000 -T v
across riostream -S 1048576 -C 50 -T b

for host in a b; do
  stat_json "$(addr_of "$host")" "$LOG_DIR/stat-$host.json"
  assert_gt "$(json_get "$LOG_DIR/stat-$host.json" rx_packets)" 10000 "packets host $host received"
  assert_engine_alive "$(addr_of "$host")"
done
