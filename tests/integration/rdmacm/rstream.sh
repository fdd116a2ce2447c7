#!/usr/bin/env bash
# Unmodified rstream or riostream (rdmacm-utils) between two engines, through
# the rsockets of our librdmacm.so.1: rsend/rrecv (rstream) or riowrite into
# the peer's riomap'ed buffer (riostream). Both sides must exit 0 and print
# the expected number of result lines, each with a positive time, Gb/sec and
# usec/xfer; with -T v the tools check every byte themselves.
#   rstream.sh TOOL LINES [TOOL ARGS...]
#   LINES: result lines each side prints (1 for a custom -S/-C run; 8 for
#   the default run: 4 latency and 4 bandwidth sizes, which takes minutes
#   here, so ctest runs custom sizes).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/rdmacm/rstream_results.sh
source "$(dirname "$0")/rstream_results.sh"

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

assert_rstream_ok "$tool" "$tool" "$lines"
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
