#!/usr/bin/env bash
# ibv_rc_pingpong through engines that lose, reorder and duplicate 1% of the
# packets each (seeded): slower, never wrong (-c), never hung; the engines
# count the retransmissions that made it work.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

inject=(--inject 'loss=0.01,reorder=0.01,dup=0.01,seed=1')
start_engine "$ADDR_A" "${inject[@]}"
start_engine "$ADDR_B" "${inject[@]}"

port=$PORT_BASE
# size:iters
for case in 1:500 4096:500 1048576:20; do
  size=${case%%:*}
  iters=${case##*:}
  for mode in poll events; do
    extra=()
    [[ $mode == events ]] && extra=(-e)
    name=pp-$size-$mode
    pingpong "$name" "$ADDR_B" "$ADDR_A" "$port" -g 0 -c -s "$size" -n "$iters" "${extra[@]}"
    assert_pingpong_ok "$name" "$size" "$iters"
    port=$((port + 1))
  done
done

total=0
for addr in "$ADDR_A" "$ADDR_B"; do
  assert_engine_alive "$addr"
  f=$RUN_DIR/stat-$addr.json
  stat_json "$addr" "$f"
  n=$(json_get "$f" retransmitted_packets)
  log "engine $addr: retransmitted_packets = $n"
  total=$((total + n))
done
assert_gt "$total" 0 "retransmitted_packets summed over both engines"
