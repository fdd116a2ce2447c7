#!/usr/bin/env bash
# Unmodified rdma_server / rdma_client (rdmacm-utils): the synchronous
# rdma_verbs.h API (rdma_getaddrinfo, rdma_create_ep, rdma_get_request,
# rdma_accept, rdma_connect, rdma_post_send/recv, rdma_get_*_comp).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

over "$ADDR_B" stdbuf -oL rdma_server -s "$ADDR_B" -p "$PORT_BASE"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL rdma_client -s "$ADDR_B" -p "$PORT_BASE"
client=("${OVER[@]}")
run_pair rdma_sc "$PORT_BASE" "${server[@]}" ::: "${client[@]}"

assert_eq "$SERVER_STATUS" 0 "rdma_server exit status"
assert_eq "$CLIENT_STATUS" 0 "rdma_client exit status"
assert_log_matches rdma_sc.server '^rdma_server: end 0$'
assert_log_matches rdma_sc.client '^rdma_client: end 0$'
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
