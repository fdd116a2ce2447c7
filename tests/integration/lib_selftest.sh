#!/usr/bin/env bash
# Tests the harness itself (lib.sh), with stand-in processes instead of
# FlexiNS: engines start and are found, pairs run in order, and a test that
# fails or is killed leaves no process and no run dir behind.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

# A stand-in for `flexins daemon`: creates its socket, removes it on SIGTERM.
fake=$RUN_DIR/fake-flexins
cat >"$fake" <<'PY'
#!/usr/bin/env python3
import os, signal, socket, sys, time
assert sys.argv[1] == "daemon" and sys.argv[2] == "--ip"
path = os.path.join(os.environ["FLEXINS_RUN_DIR"], f"engine-{sys.argv[3]}.sock")
time.sleep(0.3)  # a slow start-up, which start_engine must wait out
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path)
s.listen()
def stop(*_):
    os.unlink(path)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(1)
PY
chmod +x "$fake"
FLEXINS=$fake

# --- engines
start_engine "$ADDR_A"
pid=${ENGINE_PID[$ADDR_A]}
assert_alive "$pid" "fake engine"
[[ -S $(engine_socket "$ADDR_A") ]] || fail "socket missing after start_engine"
assert_eq "$(ps -o pgid= -p "$pid" | tr -d ' ')" "$pid" "engine's process group"
grep -qzxF "$TEST_TAG" "/proc/$pid/environ" || fail "engine does not carry the test tag"

# --- pairs: the client starts only once the server listens
port=$PORT_BASE
listen_py="import socket,time; time.sleep(0.5); s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',$port)); s.listen(); c,_=s.accept(); print('served'); c.close()"
connect_py="import socket; socket.create_connection(('127.0.0.1',$port)).close(); print('connected')"
run_pair pair "$port" python3 -c "$listen_py" ::: python3 -c "$connect_py"
assert_eq "$SERVER_STATUS" 0 "server status"
assert_eq "$CLIENT_STATUS" 0 "client status"
assert_log_matches pair.server '^served$'
assert_log_matches pair.client '^connected$'

# --- statuses, timeouts, wait_exit
status=0
run_cmd seven sh -c 'exit 7' || status=$?
assert_eq "$status" 7 "run_cmd status"
status=0
CMD_TIMEOUT_S=1 run_cmd hang sleep 30 || status=$?
assert_eq "$status" 124 "status of a command that hit its timeout"
start_bg sleeper 30 sleep 30
wait_exit "$LAST_PID" 1 && fail "wait_exit returned for a live process"
kill_group KILL "$LAST_PID"
wait_exit "$LAST_PID" 5 || fail "wait_exit missed a killed process"
assert_eq "$WAIT_STATUS" 137 "status of a SIGKILLed process"

# --- a failing test cleans up after itself
child=$RUN_DIR/child.sh
pids=$RUN_DIR/child.pids
cat >"$child" <<EOF2
source "$LIB_DIR/lib.sh"
FLEXINS=$fake
start_engine 127.0.0.1
echo "\${ENGINE_PID[127.0.0.1]}" >>"$pids"
start_bg sleeper 100 sleep 100
echo "\$LAST_PID" >>"$pids"
# A stray that left its session: only the tag sweep finds it.
start_bg stray 100 sh -c 'setsid sleep 100 & echo \$! >>"$pids"; wait'
sleep 0.5
echo "\$RUN_DIR" >"$pids.dir"
eval "\${CHILD_END:-fail 'on purpose'}"
EOF2
check_child_cleanup() {  # WHAT
  local p n=0
  sleep 0.2
  while read -r p; do
    n=$((n + 1))
    pid_alive "$p" && fail "$1: process $p survived the test's cleanup"
  done <"$pids"
  assert_eq "$n" 3 "$1: processes recorded"
  [[ ! -e $(cat "$pids.dir") ]] || fail "$1: run dir survived"
  rm -f "$pids" "$pids.dir"
}
FLEXINS_TEST_SLOT=0 FLEXINS_KEEP_RUN_DIR=0 timeout 30 bash "$child" >"$LOG_DIR/child-fail.log" 2>&1 &&
  fail "a failing test exited 0"
assert_log_matches child-fail 'ASSERTION FAILED.*on purpose'
check_child_cleanup "failed test"
log "a failing test cleaned up"

# --- ... and so does one that is killed (SIGTERM, as ctest's timeout does)
FLEXINS_TEST_SLOT=0 FLEXINS_KEEP_RUN_DIR=0 CHILD_END="wait_pid \$LAST_PID" bash "$child" >"$LOG_DIR/child-term.log" 2>&1 &
child_pid=$!
until [[ -e $pids.dir ]]; do sleep 0.1; done
kill -TERM "$child_pid"
status=0
wait "$child_pid" || status=$?
assert_eq "$status" 143 "status of a test killed by SIGTERM"
check_child_cleanup "terminated test"
log "a terminated test cleaned up"
