#!/usr/bin/env bash
# With `--ablate doorbell-syscall` (measurement only) the library kicks the
# engine with a system call on every post, so the client of a polling
# ibv_rc_pingpong makes at least one more syscall per extra exchange: the
# counterpart of syscalls.sh, where the doorbell-free default keeps 10000
# exchanges under twice the syscalls of 1000. Counted with strace -f -c.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

start_engine "$ADDR_A" --ablate doorbell-syscall
start_engine "$ADDR_B" --ablate doorbell-syscall
stat_json "$ADDR_A" "$RUN_DIR/stat.json"
grep -q '"ablations": \["doorbell-syscall"\]' "$RUN_DIR/stat.json" ||
  fail "flexins stat does not report the ablation: $(cat "$RUN_DIR/stat.json")"

count_syscalls 1000 "$PORT_BASE"
n1000=$SYSCALLS
count_syscalls 10000 $((PORT_BASE + 1))
n10000=$SYSCALLS
[[ $n1000 =~ ^[0-9]+$ && $n10000 =~ ^[0-9]+$ ]] || fail "could not read strace totals ('$n1000', '$n10000')"
log "client syscalls with --ablate doorbell-syscall: $n1000 for 1000 exchanges, $n10000 for 10000"
assert_gt "$((n10000 - n1000))" 8999 "extra syscalls of 9000 extra exchanges (one kick per post at least)"
