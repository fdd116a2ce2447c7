#!/usr/bin/env bash
# Unmodified perftest with -R (connection setup and the exchange of keys
# through RDMA CM) between two engines.
#   perftest_cm.sh TOOL [ITERS]     TOOL: ib_write_bw, ib_send_bw, ib_read_bw, ib_write_lat ...
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

tool=${1:?usage: perftest_cm.sh TOOL [ITERS]}
iters=${2:-2000}

start_engine "$ADDR_A"
start_engine "$ADDR_B"

# One device per run ($FLEXINS_IP), RoCE v2 GID 0.
args=(-R -d flexins0 -x 0 -p "$PORT_BASE" -n "$iters")
over "$ADDR_B" stdbuf -oL "$tool" "${args[@]}"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL "$tool" "${args[@]}" "$ADDR_B"
client=("${OVER[@]}")
run_pair perf "$PORT_BASE" "${server[@]}" ::: "${client[@]}"

assert_eq "$SERVER_STATUS" 0 "$tool server exit status"
assert_eq "$CLIENT_STATUS" 0 "$tool client exit status"
# perftest prints a GID as decimal bytes: ...:255:255:127:00:05:01.
gid_tail() {
  local IFS=.
  # shellcheck disable=SC2086  # split the address on dots
  printf '255:255:%02d:%02d:%02d:%02d' $1
}
for side in server client; do
  assert_log_matches "perf.$side" 'Data ex. method : rdma_cm'
  # Each side shows its own GID and the one the CM brought from the peer.
  assert_log_matches "perf.$side" "GID: .*$(gid_tail "$ADDR_A")\$"
  assert_log_matches "perf.$side" "GID: .*$(gid_tail "$ADDR_B")\$"
done
# The result line: message size, iterations, then numbers.
case $tool in
  *_lat) assert_log_matches perf.client "^ *[0-9]+ +${iters}[[:space:]]+[0-9.]+[[:space:]]+[0-9.]+" ;;
  *) assert_log_matches perf.client "^ *[0-9]+ +${iters}([[:space:]]+[0-9.]+){3}" ;;
esac
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
