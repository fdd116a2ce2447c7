#!/usr/bin/env bash
# The data path makes no system calls while there is traffic (DESIGN.md
# technique (c)); an idle engine is kicked once by a lone request.
#  1. Engines started with --no-idle-kicks never ask for a kick before their
#     nap window ends: the client of a polling ibv_rc_pingpong makes about as
#     many syscalls for 10000 exchanges as for 1000 (strace -f -c, all its
#     threads).
#  2. Default engines: in an ib_write_bw stream of 20000 64-byte writes the
#     client's engine is kicked for under a quarter of the posts (app_kicks:
#     eventfd writes from applications; 0.2-0.5 % on a quiet machine, 11 %
#     under a parallel test run, every post with --ablate doorbell-syscall),
#     the stream's ACKs waking it instead; and a
#     ping-pong, where nothing is in flight when the application posts, does
#     kick it.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/perftest_pair.sh
source "$LIB_DIR/perftest_pair.sh"

start_engine "$ADDR_A" --no-idle-kicks
start_engine "$ADDR_B" --no-idle-kicks
count_syscalls 1000 "$PORT_BASE"
n1000=$SYSCALLS
count_syscalls 10000 $((PORT_BASE + 1))
n10000=$SYSCALLS
[[ $n1000 =~ ^[0-9]+$ && $n10000 =~ ^[0-9]+$ ]] || fail "could not read strace totals ('$n1000', '$n10000')"
log "client syscalls (--no-idle-kicks): $n1000 for 1000 exchanges, $n10000 for 10000"
assert_lt "$n10000" $((2 * n1000)) "syscalls of 10000 exchanges vs 2x those of 1000"
# A worker past its nap window (100 ms idle) still asks for a kick: at most
# a post or two after a stall of the whole run.
assert_lt "$(stat_get "$ADDR_A" app_kicks)" 5 "kicks of the client's engine over 11000 exchanges with --no-idle-kicks"

# Default engines, on two more addresses of this test's slot.
addr_c=127.0.$TEST_SLOT.3
addr_d=127.0.$TEST_SLOT.4
start_engine "$addr_c"
start_engine "$addr_d"
bw_run stream "$addr_d" "$addr_c" $((PORT_BASE + 2)) ib_write_bw -s 64 -n 20000
stream_kicks=$(stat_get "$addr_c" app_kicks)
log "client engine kicks over a stream of 20000 writes: $stream_kicks"
assert_lt "$stream_kicks" 5000 "kicks of the client's engine over 20000 streamed posts (25 %)"

pingpong pp-kicks "$addr_d" "$addr_c" $((PORT_BASE + 3)) -g 0 -s 64 -n 1000
assert_pingpong_ok pp-kicks 64 1000
pingpong_kicks=$(($(stat_get "$addr_c" app_kicks) - stream_kicks))
log "client engine kicks over 1000 ping-pong exchanges: $pingpong_kicks"
assert_gt "$pingpong_kicks" 0 "kicks of the client's engine in a ping-pong (a lone request wakes it)"
