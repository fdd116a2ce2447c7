#!/usr/bin/env bash
# `flexins daemon --rt-priority N --nice N`: the engine's worker thread
# ("flexins-w0") runs fair-scheduled at nice -20 by default, at --nice N with
# --rt-priority 0, and SCHED_FIFO with --rt-priority 10 where the engine may
# (CAP_SYS_NICE or RLIMIT_RTPRIO); traffic flows; priorities out of range are
# refused before the engine starts. Without CAP_SYS_NICE the engine still runs, fair-scheduled,
# and says why on stderr. The worker is read from /proc/PID/task/TID/stat
# (fields 19 nice, 40 rt_priority, 41 policy). (Dropping to fair scheduling
# when the worker uses more than its share of the CPU is a unit test.)
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# worker_sched PID: "POLICY RT_PRIORITY NICE" of the engine's worker thread
# (policy 0 SCHED_OTHER, 1 SCHED_FIFO); fails unless there is exactly one.
worker_sched() {
  local t found=''
  for t in /proc/"$1"/task/*; do
    [[ $(<"$t/comm") == flexins-w0 ]] || continue
    [[ -z $found ]] || fail "engine $1 has two threads named flexins-w0"
    # The fields after "(comm) ": state is field 3, so field N is word N-2.
    found=$(sed 's/^.*) //' "$t/stat" | awk '{print $39, $38, $17}')
  done
  [[ -n $found ]] || fail "engine $1 has no thread named flexins-w0"
  echo "$found"
}

start_engine "$ADDR_A" --rt-priority 10
start_engine "$ADDR_B" --rt-priority 0 --nice 5
pingpong pp "$ADDR_B" "$ADDR_A" "$PORT_BASE" -g 0 -s 4096 -n 200
assert_pingpong_ok pp 4096 200

read -r policy rtprio nice <<<"$(worker_sched "${ENGINE_PID[$ADDR_A]}")"
log "engine A (--rt-priority 10): worker policy $policy, rt_priority $rtprio, nice $nice"
if grep -q "SCHED_FIFO priority 10 refused" "$LOG_DIR/engine-$ADDR_A.log"; then
  log "SCHED_FIFO refused here: $(grep refused "$LOG_DIR/engine-$ADDR_A.log")"
  assert_eq "$policy" 0 "worker policy after a refused SCHED_FIFO (SCHED_OTHER)"
else
  assert_eq "$policy" 1 "worker policy (SCHED_FIFO)"
  assert_eq "$rtprio" 10 "worker rt_priority"
fi

read -r policy rtprio nice <<<"$(worker_sched "${ENGINE_PID[$ADDR_B]}")"
log "engine B (--rt-priority 0 --nice 5): worker policy $policy, rt_priority $rtprio, nice $nice"
assert_eq "$policy" 0 "worker policy with --rt-priority 0 (SCHED_OTHER)"
assert_eq "$nice" 5 "worker nice with --nice 5"

# Without CAP_SYS_NICE (dropped from the bounding set, so root loses it at
# exec) an engine asked for SCHED_FIFO runs all the same, fair-scheduled,
# and says why.
check_without_cap_sys_nice() {
  local unprivileged=$LOG_DIR/flexins-without-cap-sys-nice addr_c=127.0.$TEST_SLOT.3 warning
  printf '#!/bin/sh\nexec setpriv --bounding-set=-sys_nice --inh-caps=-sys_nice %q "$@"\n' "$FLEXINS" >"$unprivileged"
  chmod +x "$unprivileged"
  FLEXINS=$unprivileged start_engine "$addr_c" --rt-priority 10
  pingpong pp-c "$addr_c" "$ADDR_A" $((PORT_BASE + 1)) -g 0 -s 4096 -n 200
  assert_pingpong_ok pp-c 4096 200
  read -r policy rtprio nice <<<"$(worker_sched "${ENGINE_PID[$addr_c]}")"
  warning=$(grep "warning: worker 0" "$LOG_DIR/engine-$addr_c.log") || fail "engine C printed no warning"
  log "engine C (no CAP_SYS_NICE): worker policy $policy, rt_priority $rtprio, nice $nice; $warning"
  assert_eq "$policy" 0 "worker policy without CAP_SYS_NICE (SCHED_OTHER)"
  [[ $warning =~ "SCHED_FIFO priority 10 refused".*"it runs fair-scheduled at nice $nice" ]] ||
    fail "engine C's warning does not name the refusal and nice $nice: $warning"
}
# setpriv needs CAP_SETPCAP to shrink the bounding set (a container may lack it).
if setpriv --bounding-set=-sys_nice --inh-caps=-sys_nice true 2>/dev/null; then
  check_without_cap_sys_nice
else
  log "not checked: an engine without CAP_SYS_NICE (setpriv cannot drop it here)"
fi

refused() {  # EXPECTED_MESSAGE_REGEX DAEMON_ARGS...
  local want=$1 out rc=0
  shift
  out=$(timeout 10 "$FLEXINS" daemon --ip 127.0.$TEST_SLOT.9 "$@" 2>&1) || rc=$?
  log "$*: exit $rc: $out"
  assert_ne "$rc" 0 "exit status of flexins daemon $*"
  assert_ne "$rc" 124 "flexins daemon $* still running after 10 s"
  [[ $out =~ $want ]] || fail "flexins daemon $* said '$out', not /$want/"
}
refused "--rt-priority must be 0 \(fair scheduling\) or 1..99, not 100" --rt-priority 100
refused "--nice must be -20..19, not 20" --nice 20

# The default: fair scheduling at nice -20 (CAP_SYS_NICE permitting).
addr_d=127.0.$TEST_SLOT.4
start_engine "$addr_d"
pingpong pp-d "$addr_d" "$ADDR_A" $((PORT_BASE + 2)) -g 0 -s 4096 -n 200
assert_pingpong_ok pp-d 4096 200
read -r policy rtprio nice <<<"$(worker_sched "${ENGINE_PID[$addr_d]}")"
log "engine D (defaults): worker policy $policy, rt_priority $rtprio, nice $nice"
assert_eq "$policy" 0 "worker policy by default (SCHED_OTHER)"
if ! grep -q "nice -20 refused" "$LOG_DIR/engine-$addr_d.log"; then
  assert_eq "$nice" -20 "worker nice by default"
fi
