#!/usr/bin/env bash
# A test that builds namespaces cleans them up however it ends: after a
# failing command, and when killed with SIGTERM or SIGINT. Afterwards
# `ip netns list` and `ip link` show nothing of it, and none of its
# processes (engines, servers) runs any more.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

child=$LIB_DIR/netns/failing_child.sh

# check_clean NAME: the child behind LOG_DIR/NAME.log left nothing behind.
check_clean() {
  local name=$1 prefix run_dir
  prefix=$(sed -n 's/^TOPO_PREFIX=//p' "$LOG_DIR/$name.log")
  run_dir=$(sed -n 's/^RUN_DIR=//p' "$LOG_DIR/$name.log")
  [[ $prefix == fx-* && -n $run_dir ]] || fail "$name: no prefix/run dir in its output"
  if ip netns list | grep -qF -- "$prefix-"; then fail "$name: namespaces left: $(ip netns list | grep -F -- "$prefix-")"; fi
  if ip -o link show | grep -qF -- "$prefix-"; then fail "$name: interfaces left: $(ip -o link show | grep -F -- "$prefix-")"; fi
  [[ ! -e $run_dir ]] || fail "$name: run dir $run_dir left"
  local strays
  strays=$(grep -lzxF "FLEXINS_TEST_TAG=$run_dir" /proc/[0-9]*/environ 2>/dev/null || true)
  [[ -z $strays ]] || fail "$name: processes left: $strays"
  log "$name: nothing left behind ($prefix)"
}

# 1. A failing command inside a namespace.
run_cmd fail bash "$child" fail && fail "the child should have failed"
show_log fail
assert_log_matches fail 'ASSERTION FAILED \[failing_child\]: the client found no server'
assert_log_matches fail 'FAILED: failing_child'
check_clean fail

# 2./3. Killed while engines and a server run in its namespaces.
for sig in TERM INT; do
  start_bg "kill$sig" "$CMD_TIMEOUT_S" bash "$child" wait
  pid=$LAST_PID
  wait_log "kill$sig" '^READY' 30 || { show_log "kill$sig"; fail "child did not get ready"; }
  # timeout(1) leads the child's group: signal the bash test itself.
  bash_pid=$(pgrep -P "$pid" -x bash) || fail "no child bash under $pid"
  kill "-$sig" "$bash_pid"
  wait_exit "$pid" 30 || fail "child did not exit after SIG$sig"
  show_log "kill$sig"
  assert_ne "$WAIT_STATUS" 0 "exit status after SIG$sig"
  check_clean "kill$sig"
done

# 4. SIGKILL (what ctest's timeout sends) leaves no chance to clean up: the
# next topology sweeps the namespaces, and the processes in them, away.
start_bg killKILL "$CMD_TIMEOUT_S" bash "$child" wait
pid=$LAST_PID
wait_log killKILL '^READY' 30 || { show_log killKILL; fail "child did not get ready"; }
bash_pid=$(pgrep -P "$pid" -x bash) || fail "no child bash under $pid"
kill -KILL "$bash_pid"
wait_exit "$pid" 30 || fail "child's timeout(1) did not exit after SIGKILL"
prefix=$(sed -n 's/^TOPO_PREFIX=//p' "$LOG_DIR/killKILL.log")
ip netns list | grep -qF -- "$prefix-" || fail "expected $prefix's namespaces to outlive SIGKILL"
run_cmd sweeper bash "$child" fail && fail "the sweeping child should have failed"
show_log sweeper
assert_log_matches sweeper "removed stale namespace $prefix-a"
rm -rf "$(sed -n 's/^RUN_DIR=//p' "$LOG_DIR/killKILL.log")"
check_clean killKILL
check_clean sweeper
