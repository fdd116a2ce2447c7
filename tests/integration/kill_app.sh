#!/usr/bin/env bash
# An application dying mid-transfer (SIGKILL) costs nothing but its own
# connection: a pingpong running beside it completes, the engines live on and
# serve a fresh pingpong afterwards. (DESIGN.md: the engine survives any
# application crashing and reclaims what it owned.)
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

port_a=$PORT_BASE
port_b=$((PORT_BASE + 1))
port_c=$((PORT_BASE + 2))

# Pair A: far more iterations than it can finish before we kill it.
pingpong_cmds "$ADDR_B" "$ADDR_A" "$port_a" -g 0 -c -s 4096 -n 100000000
start_pair a "$port_a" "${PP_SERVER[@]}" ::: "${PP_CLIENT[@]}"
a_server=$SERVER_PID
a_client=$CLIENT_PID
# Connected once both print the peer's address.
wait_log a.client 'remote address' 15 || fail "pair A did not connect"
wait_log a.server 'remote address' 15 || fail "pair A did not connect"

# Pair B: an ordinary run, started while A is busy.
iters_b=500
pingpong_cmds "$ADDR_B" "$ADDR_A" "$port_b" -g 0 -c -s 4096 -n "$iters_b"
start_pair b "$port_b" "${PP_SERVER[@]}" ::: "${PP_CLIENT[@]}"
b_server=$SERVER_PID
b_client=$CLIENT_PID

sleep 0.5
pid_alive "$a_client" || { show_log a.client; fail "pair A's client ended before it was killed"; }
victim=$(pids_in_group "$a_client" ibv_rc_pingpong)
[[ -n $victim ]] || fail "cannot find pair A's ibv_rc_pingpong client process"
log "SIGKILL pair A's client (pid $victim)"
kill -KILL "$victim"

CLIENT_STATUS=0
wait_pid "$b_client" || CLIENT_STATUS=$?
SERVER_STATUS=0
wait_pid "$b_server" || SERVER_STATUS=$?
show_log b.server
show_log b.client
assert_pingpong_ok b 4096 "$iters_b"

wait_exit "$a_client" 10 || fail "pair A's client wrapper did not end after its app was killed"
# A's server lost its peer. It may fail on a retry-exceeded completion or wait
# for a message that never comes; either way it must not hurt the engines.
if wait_exit "$a_server" 15; then
  log "pair A's server exited with status $WAIT_STATUS"
else
  log "pair A's server still waiting after 15 s; killing it"
  kill_group KILL "$a_server"
  wait_exit "$a_server" 5 || fail "pair A's server survived SIGKILL"
fi
show_log a.server

assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"

pingpong c "$ADDR_B" "$ADDR_A" "$port_c" -g 0 -c -s 4096 -n 500
assert_pingpong_ok c 4096 500
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"

# Everything the applications owned (the killed one's too) is reclaimed.
for addr in "$ADDR_A" "$ADDR_B"; do
  stat_json "$addr" "$RUN_DIR/end-$addr.json"
  for key in contexts pds mrs cqs qps srqs ahs; do
    assert_eq "$(json_get "$RUN_DIR/end-$addr.json" "$key")" 0 "$key left on engine $addr"
  done
done
