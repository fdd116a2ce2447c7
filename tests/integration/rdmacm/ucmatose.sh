#!/usr/bin/env bash
# Unmodified ucmatose (rdmacm-utils): several RC connections at once over the
# librdmacm.so.1 replacement, SENDs both ways, disconnect; with "migrate",
# every id moves to a new event channel mid-test (rdma_migrate_id).
#   ucmatose.sh [CONNECTIONS] [plain|migrate]
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

conns=${1:-4}
mode=${2:-plain}
args=(-p "$PORT_BASE" -c "$conns" -C 50 -S 1000)
case $mode in
  plain) ;;
  migrate) args+=(-m) ;;
  *) fail "mode must be plain or migrate, got '$mode'" ;;
esac

start_engine "$ADDR_A"
start_engine "$ADDR_B"

# The server binds (-b) the address it serves; the client names it (-s).
over "$ADDR_B" stdbuf -oL ucmatose -b "$ADDR_B" "${args[@]}"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL ucmatose -s "$ADDR_B" "${args[@]}"
client=("${OVER[@]}")
run_pair ucmatose "$PORT_BASE" "${server[@]}" ::: "${client[@]}"

assert_eq "$SERVER_STATUS" 0 "ucmatose server exit status"
assert_eq "$CLIENT_STATUS" 0 "ucmatose client exit status"
for side in server client; do
  assert_log_matches "ucmatose.$side" '^data transfers complete'
  assert_log_matches "ucmatose.$side" '^return status 0'
done
assert_log_matches ucmatose.server '^disconnected'
if [[ $mode == migrate ]]; then
  assert_log_matches ucmatose.client '^migrating to new event channel'
fi
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
