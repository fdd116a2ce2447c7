#!/usr/bin/env bash
# `flexins daemon --cpus`: each engine's worker thread runs on the CPU it was
# given (the kernel's Cpus_allowed_list for that thread, other threads left
# alone), traffic flows between two pinned engines, and CPUs the process may
# not use or malformed lists are refused before the engine starts.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

mapfile -t usable < <(python3 -c 'import os; print(*sorted(os.sched_getaffinity(0)), sep="\n")')
((${#usable[@]} >= 2)) || skip "needs 2 usable CPUs, this process has ${#usable[@]}"
cpu_a=${usable[0]}
cpu_b=${usable[-1]}
all=$(sed -n 's/^Cpus_allowed_list:\s*//p' /proc/self/status)

# pinned_threads PID CPU: how many of PID's threads may run on CPU alone;
# also fails if a thread is confined to anything other than CPU or ALL.
pinned_threads() {
  local n=0 t list
  for t in /proc/"$1"/task/*; do
    list=$(sed -n 's/^Cpus_allowed_list:\s*//p' "$t/status")
    if [[ $list == "$2" ]]; then
      n=$((n + 1))
    elif [[ $list != "$all" ]]; then
      fail "thread $(basename "$t") of engine $1 may run on '$list' (neither CPU $2 nor all: $all)"
    fi
  done
  echo "$n"
}

start_engine "$ADDR_A" --cpus "$cpu_a"
start_engine "$ADDR_B" --cpus "$cpu_b"
pingpong pp "$ADDR_B" "$ADDR_A" "$PORT_BASE" -g 0 -c -s 4096 -n 200
assert_pingpong_ok pp 4096 200
# One worker per engine (--workers 1), so exactly one pinned thread.
assert_eq "$(pinned_threads "${ENGINE_PID[$ADDR_A]}" "$cpu_a")" 1 "threads of engine A pinned to CPU $cpu_a"
assert_eq "$(pinned_threads "${ENGINE_PID[$ADDR_B]}" "$cpu_b")" 1 "threads of engine B pinned to CPU $cpu_b"

# Refused up front: a CPU outside this process's affinity (1023 is the last
# one a cpu_set_t holds), a backward range, a repeat.
refused() {  # EXPECTED_MESSAGE_REGEX --cpus LIST
  local out rc=0
  out=$(timeout 10 "$FLEXINS" daemon --ip 127.0.$TEST_SLOT.9 --cpus "$2" 2>&1) || rc=$?
  log "--cpus $2: exit $rc: $out"
  assert_ne "$rc" 0 "exit status of flexins daemon --cpus $2"
  assert_ne "$rc" 124 "flexins daemon --cpus $2 still running after 10 s"
  [[ $out =~ $1 ]] || fail "flexins daemon --cpus $2 said '$out', not /$1/"
}
refused "CPU 1023 is not available to this process \(available: $all\)" 1023
refused "range '1-0' runs backwards" 1-0
refused "CPU $cpu_a is listed twice" "$cpu_a,$cpu_a"
