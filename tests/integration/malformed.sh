#!/usr/bin/env bash
# Malformed and hostile datagrams to the engine's UDP port 4791 are counted
# drops and nothing else: the engine lives on and still serves a pingpong.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

before=$RUN_DIR/before.json
after=$RUN_DIR/after.json
stat_json "$ADDR_A" "$before"

send() {  # KIND... : from B's address to engine A, each kind COUNT times
  timeout 10 python3 "$LIB_DIR/send_packets.py" "$ADDR_B" "$ADDR_A" "$@" ||
    fail "send_packets.py $* failed"
}
count=5
kinds=()
for ((i = 0; i < count; i++)); do kinds+=(truncated random bad_icrc unknown_qp); done
send "${kinds[@]}"

# Counters are written by the engine's workers; give them a moment.
grown() {  # KEY: prints the increase of KEY since $before
  stat_json "$ADDR_A" "$after"
  echo $(($(json_get "$after" "$1") - $(json_get "$before" "$1")))
}
deadline=$((SECONDS + 5))
while (($(grown rx_drop_malformed) < count || $(grown rx_drop_bad_icrc) < count ||
  $(grown rx_drop_unknown_qp) < count)) && ((SECONDS < deadline)); do
  sleep 0.2
done
stat_json "$ADDR_A" "$after"
cat "$after"
malformed=$(grown rx_drop_malformed)
bad_icrc=$(grown rx_drop_bad_icrc)
unknown_qp=$(grown rx_drop_unknown_qp)
log "increase: rx_drop_malformed +$malformed, rx_drop_bad_icrc +$bad_icrc, rx_drop_unknown_qp +$unknown_qp"
assert_gt "$malformed" $((count - 1)) "rx_drop_malformed increase (>= $count)"
assert_gt "$bad_icrc" $((count - 1)) "rx_drop_bad_icrc increase (>= $count)"
assert_gt "$unknown_qp" $((count - 1)) "rx_drop_unknown_qp increase (>= $count)"
# Every packet sent was dropped and counted somewhere (the random ones may
# land in any rx_drop_* counter).
drops() {  # FILE: sum of all rx_drop_* counters
  python3 -c '
import json, sys
obj = json.load(open(sys.argv[1]))
print(sum(int(v) for k, v in obj.items() if k.startswith("rx_drop_")))' "$1"
}
all_drops=$(($(drops "$after") - $(drops "$before")))
assert_gt "$all_drops" $((4 * count - 1)) "increase of all rx_drop_* counters (>= $((4 * count)) packets sent)"
assert_engine_alive "$ADDR_A"

pingpong pp "$ADDR_B" "$ADDR_A" "$PORT_BASE" -g 0 -c -s 4096 -n 500
assert_pingpong_ok pp 4096 500
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
