#!/usr/bin/env bash
# An idle engine does not keep a core busy: after traffic stops it naps for a
# short while, then sleeps until an application kicks it. Measured as the CPU
# time the kernel charges the engine process over a quiet interval (a count,
# not a timing of FlexiNS itself).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"
pingpong pp "$ADDR_B" "$ADDR_A" "$PORT_BASE" -g 0 -c -s 4096 -n 200
assert_pingpong_ok pp 4096 200

cpu_ticks() {  # PID: utime + stime of every thread, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}
sleep 1  # past the nap window
quiet_s=3
for addr in "$ADDR_A" "$ADDR_B"; do
  pid=${ENGINE_PID[$addr]}
  before=$(cpu_ticks "$pid")
  sleep "$quiet_s"
  used=$(($(cpu_ticks "$pid") - before))
  hz=$(getconf CLK_TCK)
  log "engine $addr used $used ticks (1/$hz s) in ${quiet_s}s idle"
  # Spinning would be ~$quiet_s*$hz ticks; allow 2 % of one core.
  assert_lt "$used" $((quiet_s * hz / 50 + 1)) "CPU ticks of idle engine $addr over ${quiet_s}s"
done
