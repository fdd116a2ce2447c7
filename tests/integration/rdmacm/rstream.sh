#!/usr/bin/env bash
# Unmodified rstream or riostream (rdmacm-utils) between two engines, through
# the rsockets of our librdmacm.so.1: rsend/rrecv (rstream) or riowrite into
# the peer's riomap'ed buffer (riostream). Both sides must exit 0 and print
# the expected number of result lines, each with a positive time, Gb/sec and
# usec/xfer.
#   rstream.sh TOOL LINES [TOOL ARGS...]
#   LINES: result lines each side prints (1 for a custom -S/-C run; 8 for
#   the default run: 4 latency and 4 bandwidth sizes).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

tool=${1:?tool}
lines=${2:?result lines}
shift 2

start_engine "$ADDR_A"
start_engine "$ADDR_B"

port=$PORT_BASE
over "$ADDR_B" stdbuf -oL "$tool" -b "$ADDR_B" -p "$port" "$@"
server=("${OVER[@]}")
over "$ADDR_A" stdbuf -oL "$tool" -s "$ADDR_B" -p "$port" "$@"
client=("${OVER[@]}")
run_pair "$tool" "$port" "${server[@]}" ::: "${client[@]}"

assert_eq "$SERVER_STATUS" 0 "$tool server exit status"
assert_eq "$CLIENT_STATUS" 0 "$tool client exit status"
# name bytes xfers iters total time Gb/sec usec/xfer, e.g.
# "64_lat    64      1       100k    12.2m       1.23s      0.62       6.15"
result='^[0-9a-z._]+ +[0-9.]+[kmg]? +[0-9]+[kmb]? +[0-9]+[kmb]? +[0-9.]+[kmg]? +[0-9.]+s +[0-9.]+ +[0-9.]+$'
for side in server client; do
  log_file="$LOG_DIR/$tool.$side.log"
  assert_eq "$(grep -cE "$result" "$log_file")" "$lines" "$tool $side result lines"
  # Every figure positive: the transfers took time and moved bytes.
  grep -E "$result" "$log_file" | awk -v who="$tool $side" '
    { t = $6; sub(/s$/, "", t)
      if (!(t + 0 > 0 && $7 + 0 > 0 && $8 + 0 > 0)) { print who ": implausible line: " $0; bad = 1 } }
    END { exit bad }' || fail "$tool $side printed a non-positive figure"
done
if grep -Eiq 'error|fail|refused|reset' "$LOG_DIR/$tool.client.log" "$LOG_DIR/$tool.server.log"; then
  fail "$tool reported an error (see the logs above)"
fi
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
