#!/usr/bin/env bash
# Unmodified perftest over UD between two engines:
#   perftest_ud.sh ib_send_bw  [iters|duration]
#   perftest_ud.sh ib_send_lat
# perftest needs the device name and the GID index on RoCE (-d flexins0 -x 0).
# In iteration mode every receive is posted before the first datagram (-r =
# -n), so nothing is lost however the host schedules the two sides; in
# duration mode the sender outruns the receiver and UD drops what finds no
# receive WQE (counted), yet both sides finish on time.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

tool=${1:?usage: perftest_ud.sh ib_send_bw|ib_send_lat [iters|duration]}
mode=${2:-iters}
iters=1000
size=1024

args=(-d flexins0 -x 0 -c UD -p "$PORT_BASE" -s "$size")
case $tool:$mode in
  ib_send_bw:iters) args+=(-n "$iters" -r "$iters") ;;
  ib_send_bw:duration) args+=(-D 2) ;;
  ib_send_lat:iters) args+=(-n "$iters") ;;
  *) fail "unknown tool/mode '$tool' '$mode'" ;;
esac

start_engine "$ADDR_A"
start_engine "$ADDR_B"

over "$ADDR_B" "$tool" "${args[@]}"
server=("${OVER[@]}")
over "$ADDR_A" "$tool" "${args[@]}" "$ADDR_B"
client=("${OVER[@]}")
run_pair pt "$PORT_BASE" "${server[@]}" ::: "${client[@]}"
assert_eq "$SERVER_STATUS" 0 "$tool server exit status"
assert_eq "$CLIENT_STATUS" 0 "$tool client exit status"
for side in server client; do
  assert_log_matches "pt.$side" "Connection type : UD"
  assert_log_matches "pt.$side" "GID: 00:00:00:00:00:00:00:00:00:00:255:255:127"
done

# The result line: "<bytes> <iterations> <numbers...>".
result_line() {  # NAME → the first numbers line after the header
  grep -E "^ *$size +[0-9]+ +[0-9.]+" "$LOG_DIR/$1.log" | head -n 1
}
line=$(result_line pt.client)
[[ -n $line ]] || fail "no result line in the client's output"
log "client result: $line"
read -r -a f <<<"$line"
case $tool in
  ib_send_bw)
    # #bytes #iterations BW-peak BW-average MsgRate
    [[ $mode == iters ]] && assert_eq "${f[1]}" "$iters" "iterations"
    python3 -c 'import sys; bw = float(sys.argv[1]); sys.exit(0 if 0 < bw < 1e6 else 1)' "${f[3]}" ||
      fail "implausible average bandwidth ${f[3]} MB/s"
    ;;
  ib_send_lat)
    # #bytes #iterations t_min t_max t_typical t_avg ...
    assert_eq "${f[1]}" "$iters" "iterations"
    python3 -c '
import sys
t_min, t_max, t_typ, t_avg = map(float, sys.argv[1:5])
sys.exit(0 if 0 < t_min <= t_typ <= t_max and t_min <= t_avg <= t_max and t_typ < 1e6 else 1)' \
      "${f[2]}" "${f[3]}" "${f[4]}" "${f[5]}" ||
      fail "implausible latencies: ${f[*]}"
    ;;
esac
[[ -n $(result_line pt.server) ]] || fail "no result line in the server's output"

for addr in "$ADDR_A" "$ADDR_B"; do
  st=$RUN_DIR/stat-$addr.json
  stat_json "$addr" "$st"
  assert_eq "$(json_get "$st" rx_drop_bad_qkey)" 0 "engine $addr rx_drop_bad_qkey"
  assert_eq "$(json_get "$st" tx_payload_bytes_copied)" 0 "engine $addr tx_payload_bytes_copied"
  log "engine $addr: rx_drop_no_recv_wqe $(json_get "$st" rx_drop_no_recv_wqe)"
  if [[ $mode == iters ]]; then
    assert_eq "$(json_get "$st" rx_drop_no_recv_wqe)" 0 "engine $addr rx_drop_no_recv_wqe"
  fi
  assert_engine_alive "$addr"
done
