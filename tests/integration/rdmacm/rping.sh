#!/usr/bin/env bash
# Unmodified rping (rdmacm-utils) between two engines, through the
# librdmacm.so.1 replacement: RDMA CM connection setup, then SEND, RDMA READ
# and RDMA WRITE every iteration, with data verification (-V: rping exits
# non-zero on a mismatch), then disconnect.
#   rping.sh [COUNT] [SIZE]
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

count=${1:-100}
size=${2:-64}

start_engine "$ADDR_A"
start_engine "$ADDR_B"

port=$PORT_BASE
over "$ADDR_B" stdbuf -oL rping -s -a "$ADDR_B" -p "$port" -v -V -C "$count" -S "$size"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL rping -c -a "$ADDR_B" -p "$port" -v -V -C "$count" -S "$size"
client=("${OVER[@]}")
run_pair rping "$port" "${server[@]}" ::: "${client[@]}"

assert_eq "$SERVER_STATUS" 0 "rping server exit status"
assert_eq "$CLIENT_STATUS" 0 "rping client exit status"
# -v prints each ping: every iteration arrived, in order, on both sides.
assert_eq "$(grep -c '^ping data: rdma-ping-' "$LOG_DIR/rping.client.log")" "$count" "client pings"
assert_eq "$(grep -c '^server ping data: rdma-ping-' "$LOG_DIR/rping.server.log")" "$count" "server pings"
assert_log_matches rping.client "^ping data: rdma-ping-$((count - 1)): "
if grep -Eiq 'error|fail' "$LOG_DIR/rping.client.log" "$LOG_DIR/rping.server.log"; then
  fail "rping reported an error (see the logs above)"
fi
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
