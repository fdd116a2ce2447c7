#!/usr/bin/env bash
# The data path makes no system calls (DESIGN.md technique (c)): the client of
# a polling ibv_rc_pingpong makes about as many syscalls for 10000 exchanges
# as for 1000. Counted with strace -f -c (all threads of the client).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

count_syscalls 1000 "$PORT_BASE"
n1000=$SYSCALLS
count_syscalls 10000 $((PORT_BASE + 1))
n10000=$SYSCALLS
[[ $n1000 =~ ^[0-9]+$ && $n10000 =~ ^[0-9]+$ ]] || fail "could not read strace totals ('$n1000', '$n10000')"
log "client syscalls: $n1000 for 1000 exchanges, $n10000 for 10000"
assert_lt "$n10000" $((2 * n1000)) "syscalls of 10000 exchanges vs 2x those of 1000"
