#!/usr/bin/env bash
# Unmodified rdma_server / rdma_client (rdmacm-utils): the synchronous
# rdma_verbs.h API (rdma_getaddrinfo, rdma_create_ep, rdma_get_request,
# rdma_accept, rdma_connect, rdma_post_send/recv, rdma_get_*_comp).
# With FLEXINS_CM_TRACE=1: each side's CM steps on its stderr.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

over "$ADDR_B" stdbuf -oL rdma_server -s "$ADDR_B" -p "$PORT_BASE"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL rdma_client -s "$ADDR_B" -p "$PORT_BASE"
client=("${OVER[@]}")
export FLEXINS_CM_TRACE=1
run_pair rdma_sc "$PORT_BASE" "${server[@]}" ::: "${client[@]}"

assert_eq "$SERVER_STATUS" 0 "rdma_server exit status"
assert_eq "$CLIENT_STATUS" 0 "rdma_client exit status"
assert_log_matches rdma_sc.server '^rdma_server: end 0$'
assert_log_matches rdma_sc.client '^rdma_client: end 0$'
# The connection's path through the CM state machines (IBA 12.6), as traced.
assert_log_matches rdma_sc.client '^flexins-cm [0-9]+ .*: CONNECTING --TCP connected--> REQ_SENT, sends REQ$'
assert_log_matches rdma_sc.client ': REQ_SENT --REP--> REP_RCVD$'
assert_log_matches rdma_sc.server ': accepted fd [0-9]+$'
assert_log_matches rdma_sc.server ': REQ_RCVD --app accept--> REP_SENT, sends REP$'
assert_log_matches rdma_sc.server ': REP_SENT --RTU--> ESTABLISHED$'
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
