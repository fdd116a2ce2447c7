#!/usr/bin/env bash
# Connecting where nobody listens fails at once with RDMA_CM_EVENT_REJECTED
# (IB reason 8, invalid service ID), as with a real RoCE peer: never a hang.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

port=$PORT_BASE
started=$SECONDS
over "$ADDR_A" rping -c -a "$ADDR_B" -p "$port" -v -C 1
status=0
run_cmd rping "${OVER[@]}" || status=$?
show_log rping
assert_ne "$status" 0 "rping exit status without a server"
assert_ne "$status" 124 "rping exit status (124: it hung until the timeout)"
assert_log_matches rping 'RDMA_CM_EVENT_REJECTED, error 8'

over "$ADDR_A" ucmatose -s "$ADDR_B" -p "$port"
status=0
run_cmd ucmatose "${OVER[@]}" || status=$?
show_log ucmatose
assert_eq "$status" 8 "ucmatose exit status (the reject reason)"
assert_log_matches ucmatose 'event: RDMA_CM_EVENT_REJECTED, error: 8'
assert_lt $((SECONDS - started)) 10 "seconds for two refused connections"
