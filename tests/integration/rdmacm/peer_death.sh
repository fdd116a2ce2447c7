#!/usr/bin/env bash
# An rping server killed (SIGKILL) mid-run: its CM connection closes, the
# client hears DISCONNECTED (or sees its QP fail) and exits instead of
# hanging; the engines live on and serve a new rping afterwards.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

port=$PORT_BASE
# -C 0: ping until stopped.
over "$ADDR_B" stdbuf -oL rping -s -a "$ADDR_B" -p "$port" -v -V -C 0
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL rping -c -a "$ADDR_B" -p "$port" -v -V -C 0
client=("${OVER[@]}")
start_pair victim "$port" "${server[@]}" ::: "${client[@]}"
wait_log victim.client '^ping data: rdma-ping-50:' 20 || fail "rping did not get going"

victim=$(pids_in_group "$SERVER_PID" rping)
[[ -n $victim ]] || fail "cannot find the rping server process"
log "SIGKILL the rping server (pid $victim)"
kill -KILL "$victim"
wait_exit "$CLIENT_PID" 20 || fail "rping client still running 20 s after its server died"
show_log victim.client
assert_ne "$WAIT_STATUS" 124 "rping client exit status (124: hung until its timeout)"
assert_log_matches victim.client 'DISCONNECT|error|status'
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"

# The same port serves a fresh pair at once.
over "$ADDR_B" stdbuf -oL rping -s -a "$ADDR_B" -p "$port" -v -V -C 20
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL rping -c -a "$ADDR_B" -p "$port" -v -V -C 20
client=("${OVER[@]}")
run_pair again "$port" "${server[@]}" ::: "${client[@]}"
assert_eq "$SERVER_STATUS" 0 "second rping server exit status"
assert_eq "$CLIENT_STATUS" 0 "second rping client exit status"
assert_eq "$(grep -c '^ping data: rdma-ping-' "$LOG_DIR/again.client.log")" 20 "second run pings"
