#!/usr/bin/env bash
# Selective repeat (src/transport/selective_repeat.h) between two engines
# that both run it (--loss-recovery selective_repeat) and each lose 1 % of
# the packets they send (--inject loss=0.01, seeded):
#   - ib_write_bw 64 KiB runs to the end with correct status, and
#     `flexins qp list` shows its QPs in selective-repeat mode;
#   - rping -V moves 16 KiB by RDMA WRITE and READ every iteration and
#     checks every byte (it exits non-zero on a mismatch);
#   - an unknown mode is refused at start;
#   - the engines' counters show what did it: the responder placed packets
#     ahead of a hole and sent SACKs, the requester received them and
#     resent selectively, and no QP failed.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/cc/qp_list.sh
source "$LIB_DIR/cc/qp_list.sh"
# shellcheck source=tests/integration/perftest_pair.sh
source "$LIB_DIR/perftest_pair.sh"

# A mode the engine does not know: refused at start, with the choices.
status=0
run_cmd bad-lr "$FLEXINS" daemon --ip "$ADDR_A" --loss-recovery fastest || status=$?
((status != 0 && status != 124)) || fail "the engine should have refused --loss-recovery fastest (status $status)"
assert_log_matches bad-lr "--loss-recovery must be go_back_n or selective_repeat, not 'fastest'"
[[ ! -S $(engine_socket "$ADDR_A") ]] || fail "a refused engine left its socket"

start_engine "$ADDR_A" --loss-recovery selective_repeat --inject loss=0.01,seed=11
start_engine "$ADDR_B" --loss-recovery selective_repeat --inject loss=0.01,seed=12
wait_log "engine-$ADDR_A" "loss recovery selective_repeat" 10 || fail "engine $ADDR_A does not say it runs selective repeat"

# ib_write_bw: A writes into B.
bw_start write "$ADDR_B" "$ADDR_A" "$PORT_BASE" ib_write_bw -s 65536 -D 4
wait_rts_qp "$ADDR_A" 15
lr=$(qp_field "$ADDR_A" 'sorted({q["lr"] for q in qps if q["type"] == "RC"})')
assert_eq "$lr" "['selective_repeat']" "loss recovery of A's RC QPs"
bw_finish write
show_log write.client
bw=$(awk '/^ *65536 /{print $4; exit}' "$LOG_DIR/write.client.log")
[[ -n $bw ]] || fail "no 64 KiB result line in ib_write_bw's output"
log "ib_write_bw 64 KiB, selective repeat, 1 % loss each way: $bw MB/s (BW average)"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$bw" || fail "zero bandwidth"
# (rping's disconnect moves its QPs to the error state, as rdma_disconnect
# does: QP errors are counted before it.)
assert_eq "$(stat_get "$ADDR_A" qp_errors)" 0 "QP errors at A after ib_write_bw"
assert_eq "$(stat_get "$ADDR_B" qp_errors)" 0 "QP errors at B after ib_write_bw"

# rping: every byte of every iteration checked.
count=300
size=16384
port=$((PORT_BASE + 1))
command -v rping >/dev/null || skip "rping is not installed (Debian package rdmacm-utils)"
over "$ADDR_B" stdbuf -oL rping -s -a "$ADDR_B" -p "$port" -V -C "$count" -S "$size"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL rping -c -a "$ADDR_B" -p "$port" -V -C "$count" -S "$size"
client=("${OVER[@]}")
run_pair rping "$port" "${server[@]}" ::: "${client[@]}"
assert_eq "$SERVER_STATUS" 0 "rping server exit status"
assert_eq "$CLIENT_STATUS" 0 "rping client exit status"
if grep -Eiq 'error|fail|mismatch' "$LOG_DIR/rping.client.log" "$LOG_DIR/rping.server.log"; then
  fail "rping reported an error (see the logs above)"
fi

# The counters: A requests (ib_write_bw), B requests too (rping's server
# writes and reads), so each engine is both requester and responder.
declare -A v
for addr in "$ADDR_A" "$ADDR_B"; do
  assert_engine_alive "$addr"
  f=$RUN_DIR/stat-$addr.json
  stat_json "$addr" "$f"
  for key in inject_dropped sacks_sent sacks_received selective_retransmits retransmitted_packets \
    sr_placed_out_of_order retransmit_timeouts naks_received_psn_sequence; do
    v[$addr.$key]=$(json_get "$f" "$key")
  done
  log "engine $addr: dropped ${v[$addr.inject_dropped]}, SACKs sent ${v[$addr.sacks_sent]} received" \
    "${v[$addr.sacks_received]}, retransmitted ${v[$addr.retransmitted_packets]} (selective" \
    "${v[$addr.selective_retransmits]}), placed ahead of order ${v[$addr.sr_placed_out_of_order]}," \
    "timeouts ${v[$addr.retransmit_timeouts]}, plain sequence NAKs ${v[$addr.naks_received_psn_sequence]}"
  assert_gt "${v[$addr.inject_dropped]}" 0 "packets the injector dropped at $addr"
done
assert_gt "${v[$ADDR_B.sacks_sent]}" 0 "SACKs B sent (responder of ib_write_bw)"
assert_gt "${v[$ADDR_B.sr_placed_out_of_order]}" 0 "packets B placed ahead of a hole"
assert_gt "${v[$ADDR_A.sacks_received]}" 0 "SACKs A received"
assert_gt "${v[$ADDR_A.selective_retransmits]}" 0 "packets A resent selectively"
assert_le "${v[$ADDR_A.selective_retransmits]}" "${v[$ADDR_A.retransmitted_packets]}" \
  "selective retransmissions (a part of all retransmissions)"
