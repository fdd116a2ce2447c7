#!/usr/bin/env bash
# When its engine dies (SIGKILL), an application blocked in the verbs must
# get an error and exit within a bounded time, not hang. Run for both a
# pingpong sleeping on CQ events (-e) and a polling one.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

EXIT_LIMIT_S=15

run_case() {  # MODE PORT
  local mode=$1 port=$2
  local -a extra=()
  [[ $mode == events ]] && extra=(-e)
  start_engine "$ADDR_A"
  start_engine "$ADDR_B"
  local name=pp-$mode
  pingpong_cmds "$ADDR_B" "$ADDR_A" "$port" -g 0 -s 4096 -n 100000000 "${extra[@]}"
  start_pair "$name" "$port" "${PP_SERVER[@]}" ::: "${PP_CLIENT[@]}"
  local server_pid=$SERVER_PID client_pid=$CLIENT_PID
  wait_log "$name.server" 'remote address' 15 || fail "$name did not connect"
  wait_log "$name.client" 'remote address' 15 || fail "$name did not connect"
  sleep 0.5
  pid_alive "$server_pid" || { show_log "$name.server"; fail "$name server ended early"; }

  log "$mode: SIGKILL engine $ADDR_B (pid ${ENGINE_PID[$ADDR_B]}), the server's"
  kill_group KILL "${ENGINE_PID[$ADDR_B]}"
  local t0=$SECONDS
  if ! wait_exit "$server_pid" "$EXIT_LIMIT_S"; then
    show_log "$name.server"
    fail "$mode: the application did not exit within ${EXIT_LIMIT_S}s of its engine's death"
  fi
  log "$mode: server exited with status $WAIT_STATUS after $((SECONDS - t0)) s"
  show_log "$name.server"
  assert_ne "$WAIT_STATUS" 0 "$mode: exit status of an application whose engine died"
  assert_ne "$WAIT_STATUS" 124 "$mode: exit status (124 = killed by timeout)"

  # The peer's engine is unaffected. Its application may or may not notice
  # (a message of its may be outstanding); stop it.
  assert_engine_alive "$ADDR_A"
  kill_group KILL "$client_pid"
  wait_exit "$client_pid" 5 || true
  kill_group TERM "${ENGINE_PID[$ADDR_A]}"
  wait_exit "${ENGINE_PID[$ADDR_A]}" 10 || fail "engine $ADDR_A did not stop on SIGTERM"
}

run_case events "$PORT_BASE"
run_case poll $((PORT_BASE + 1))
