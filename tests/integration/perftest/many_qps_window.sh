#!/usr/bin/env bash
# Many QPs share their worker's window pool (transport/window_pool.h): with
# 1024 QPs (a fair share of 4 packets each) every 64 KiB RDMA WRITE (16
# packets at MTU 4096) still leaves whole and asks for one ACK, where a
# fixed share of 4 packets asked for one every 2. Counters, not timings: the
# sending engine's acks_received against its tx_packets, and its
# tx_window_waits (QPs did wait in line for room). perftest must complete
# without an error: every message arrived.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/perftest_pair.sh
source "$LIB_DIR/perftest_pair.sh"

qps=${WINDOW_QPS:-1024}
CMD_TIMEOUT_S=90

start_engine "$ADDR_A"
start_engine "$ADDR_B"
# The client (on A) writes to the server (on B): A is the requester.
bw_run many "$ADDR_B" "$ADDR_A" "$PORT_BASE" ib_write_bw -q "$qps" -s 65536 -n 5

tx=$(stat_get "$ADDR_A" tx_packets)
acks=$(stat_get "$ADDR_A" acks_received)
log "requester: $tx packets sent, $acks ACKs received"
# 5 messages x 16 packets per QP; one ACK per message is 1 per 16 packets.
# 1 per 6 leaves room for the ACKs of teardown's retransmissions.
assert_lt $((acks * 6)) "$tx" "ACKs x 6 against data packets sent"
waits=$(stat_get "$ADDR_A" tx_window_waits)
log "requester: $waits waits in line for the window pool"
assert_gt "$waits" 0 "times a QP waited in line for the window pool"
