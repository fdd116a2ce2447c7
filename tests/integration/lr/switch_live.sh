#!/usr/bin/env bash
# Loss recovery switched on live QPs (src/transport/selective_repeat.h):
# two engines in the default mode (go-back-N) that each lose 1 % of the
# packets they send; while ib_write_bw runs, `flexins qp set ... all
# lr=selective_repeat` on both engines switches its QPs, and from then on
# the losses are repaired by SACKs and selective retransmissions; the run
# ends with correct status. A mode the engine does not know is refused
# and changes nothing.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/cc/qp_list.sh
source "$LIB_DIR/cc/qp_list.sh"
# shellcheck source=tests/integration/perftest_pair.sh
source "$LIB_DIR/perftest_pair.sh"

start_engine "$ADDR_A" --inject loss=0.01,seed=21
start_engine "$ADDR_B" --inject loss=0.01,seed=22
bw_start write "$ADDR_B" "$ADDR_A" "$PORT_BASE" ib_write_bw -s 65536 -D 30
wait_rts_qp "$ADDR_A" 15
# B, the server, only receives: its QP may stay in RTR.
deadline=$((SECONDS + 15))
until [[ $(qp_field "$ADDR_B" 'sum(q["type"] == "RC" and q["state"] in ("RTR", "RTS") for q in qps)') -gt 0 ]]; do
  ((SECONDS < deadline)) || fail "no connected RC QP on $ADDR_B after 15 s"
  sleep 0.1
done
qpn=$(qp_field "$ADDR_A" '[q["qpn"] for q in qps if q["type"] == "RC"][0]')
assert_eq "$(qp_get "$ADDR_A" "$qpn" lr)" go_back_n "the engine's default loss recovery"

# Go-back-N first: losses are repaired, never by a SACK.
sleep 1
read -r retx sacks < <(qp_get "$ADDR_A" "$qpn" stats.retransmitted_packets stats.sacks_received)
log "go-back-N: the QP resent $retx packets, received $sacks SACKs"
assert_gt "$retx" 0 "packets resent under go-back-N"
assert_eq "$sacks" 0 "SACKs under go-back-N"

# Refused: nothing changes.
if out=$(timeout 10 "$FLEXINS" qp set --ip "$ADDR_A" "$qpn" lr=fastest 2>&1); then
  fail "lr=fastest should have been refused: $out"
fi
log "lr=fastest refused: $out"
[[ $out =~ "lr= must be go_back_n or selective_repeat" ]] || fail "unexpected message: $out"
assert_eq "$(qp_get "$ADDR_A" "$qpn" lr)" go_back_n "loss recovery after a refused change"

# Both ends switch (selective repeat needs both: B places out of order and
# SACKs, A marks its packets and resends what the SACKs say).
for addr in "$ADDR_A" "$ADDR_B"; do
  out=$(timeout 10 "$FLEXINS" qp set --ip "$addr" all lr=selective_repeat 2>&1) ||
    fail "flexins qp set --ip $addr all lr=selective_repeat failed: $out"
  log "qp set --ip $addr all lr=selective_repeat: $out"
  [[ $out =~ ^changed\ [1-9] ]] || fail "expected 'changed N QPs', got '$out'"
done
assert_eq "$(qp_get "$ADDR_A" "$qpn" lr)" selective_repeat "loss recovery after the change"
timeout 10 "$FLEXINS" qp list --ip "$ADDR_A" || fail "flexins qp list failed"
read -r sel0 sacks0 < <(qp_get "$ADDR_A" "$qpn" stats.selective_retransmits stats.sacks_received)
sleep 3
read -r sel1 sacks1 < <(qp_get "$ADDR_A" "$qpn" stats.selective_retransmits stats.sacks_received)
log "selective repeat: SACKs received $sacks0 -> $sacks1, selective retransmissions $sel0 -> $sel1"
assert_gt "$sacks1" "$sacks0" "SACKs received after the switch"
assert_gt "$sel1" "$sel0" "selective retransmissions after the switch"
show=$(timeout 10 "$FLEXINS" qp show --ip "$ADDR_A" "$qpn") || fail "flexins qp show failed"
echo "$show"
[[ $show =~ "loss recovery selective_repeat" ]] || fail "qp show does not say selective_repeat"

bw_finish write
show_log write.client
assert_log_matches write.client "^ *65536 +[0-9]+ +[0-9.]+ +[0-9.]+"
assert_eq "$(stat_get "$ADDR_A" qp_errors)" 0 "QP errors at A"
assert_eq "$(stat_get "$ADDR_B" qp_errors)" 0 "QP errors at B"
