#!/usr/bin/env bash
# Unmodified udaddy (rdmacm-utils): UD QPs whose peers are found through RDMA
# CM service ID resolution (SIDR_REQ / SIDR_REP give the QPN and Q_Key),
# then datagrams both ways, several "connections" at once.
#   udaddy.sh [CONNECTIONS]
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

conns=${1:-4}

start_engine "$ADDR_A"
start_engine "$ADDR_B"

# udaddy's port is fixed (7174); each test has its own addresses.
port=7174
args=(-c "$conns" -C 20 -S 512)
over "$ADDR_B" stdbuf -oL udaddy -b "$ADDR_B" "${args[@]}"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL udaddy -s "$ADDR_B" "${args[@]}"
client=("${OVER[@]}")
run_pair udaddy "$port" "${server[@]}" ::: "${client[@]}"

if grep -q 'unable to create QP: Operation not supported' "$LOG_DIR"/udaddy.*.log; then
  skip "the engine does not provide UD QPs yet"
fi
assert_eq "$SERVER_STATUS" 0 "udaddy server exit status"
assert_eq "$CLIENT_STATUS" 0 "udaddy client exit status"
for side in server client; do
  assert_log_matches "udaddy.$side" '^data transfers complete'
  assert_log_matches "udaddy.$side" '^return status 0'
done
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
