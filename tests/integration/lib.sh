# shellcheck shell=bash disable=SC2034  # (variables used by the tests that source this)
# Common helpers for the integration tests. Sourced, not run:
#
#   source "$(dirname "$0")/lib.sh"
#
# Environment (ctest sets these; defaults suit a manual run from the repo):
#   FLEXINS_BUILD_DIR   build tree holding bin/flexins and lib/libibverbs.so.1
#   FLEXINS_TEST_SLOT   small integer, unique per test, so that tests can run in
#                       parallel (ctest -j): it picks the engine addresses
#                       (127.0.SLOT.1 and 127.0.SLOT.2) and the TCP ports.
#   FLEXINS_KEEP_RUN_DIR=1  keep the run dir (logs) after the test.
#
# A test that cannot run here (a missing piece, no privileges) calls
# `skip REASON`: exit status 77, which the CMake helpers map to ctest's SKIP.
#
# Every process a test starts runs in its own session (setsid), under
# `timeout` where it is not an engine, and is tracked; an EXIT/INT/TERM trap
# kills them all (process groups first, then anything else still carrying this
# test's tag in its environment) and removes the private run dir.

set -euo pipefail

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$LIB_DIR/../.." && pwd)
FLEXINS_BUILD_DIR=${FLEXINS_BUILD_DIR:-$REPO_ROOT/build}
FLEXINS=${FLEXINS:-$FLEXINS_BUILD_DIR/bin/flexins}
TEST_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

TEST_SLOT=${FLEXINS_TEST_SLOT:-0}
if ! [[ $TEST_SLOT =~ ^[0-9]+$ ]] || ((TEST_SLOT > 250)); then
  echo "FLEXINS_TEST_SLOT must be an integer in 0..250, got '$TEST_SLOT'" >&2
  exit 2
fi
# Two engines stand for two hosts. Slot 0 (a manual run) uses the familiar
# 127.0.0.1 / 127.0.0.2; ctest gives each test its own pair.
ADDR_A=127.0.$TEST_SLOT.1
ADDR_B=127.0.$TEST_SLOT.2
# TCP ports for the pingpong rendezvous: 20 per slot, above the default 18515.
PORT_BASE=$((20000 + TEST_SLOT * 20))

# Bounds, in seconds, on everything that can hang.
ENGINE_START_TIMEOUT_S=${ENGINE_START_TIMEOUT_S:-10}
CMD_TIMEOUT_S=${CMD_TIMEOUT_S:-60}
LISTEN_TIMEOUT_S=${LISTEN_TIMEOUT_S:-15}
KILL_GRACE_S=3

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/flexins-it-$TEST_NAME.XXXXXX")
export FLEXINS_RUN_DIR=$RUN_DIR
LOG_DIR=$RUN_DIR/logs
mkdir -p "$LOG_DIR"
# Only the processes we start carry this tag (passed with env, not exported),
# so the cleanup sweep can find strays such as an engine `flexins run`
# started on its own, without matching this shell or its helpers.
TEST_TAG="FLEXINS_TEST_TAG=$RUN_DIR"

TRACKED_PIDS=()
# Functions the cleanup runs after every process is gone (e.g. topology.sh
# deleting its namespaces); one returning non-zero fails a passing test.
CLEANUP_HOOKS=()
# When set, the network namespace where servers listen: wait_listen and
# start_pair look for the TCP listener there instead of in ours.
LISTEN_NETNS=
declare -A ENGINE_PID=()
LAST_PID=
SERVER_STATUS=
CLIENT_STATUS=

log() { printf '[%s %(%H:%M:%S)T] %s\n' "$TEST_NAME" -1 "$*"; }

# ---------------------------------------------------------------- processes

# True while PID exists and is not a zombie.
pid_alive() {
  local pid=$1 stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }  # skip "pid (comm) ", comm may hold spaces
  [[ ${stat:0:1} != Z ]]
}

# Kill the process group led by PID (every tracked process leads one).
kill_group() {
  local sig=$1 pid=$2
  kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
}

# Start CMD in the background in its own session, output to LOG_DIR/NAME.log.
# Sets LAST_PID. Not bounded: use start_bg for anything but engines.
start_session() {
  local name=$1
  shift
  setsid env "$TEST_TAG" "$@" >"$LOG_DIR/$name.log" 2>&1 </dev/null &
  LAST_PID=$!
  TRACKED_PIDS+=("$LAST_PID")
}

# start_bg NAME TIMEOUT_S CMD...: like start_session, bounded by timeout(1).
start_bg() {
  local name=$1 limit=$2
  shift 2
  start_session "$name" timeout -k 5 "$limit" "$@"
}

# wait_pid PID: wait for a child started above; prints nothing, returns its
# exit status (124 = it hit its timeout).
wait_pid() {
  local status=0
  wait "$1" || status=$?
  return "$status"
}

# wait_exit PID SECONDS: wait up to SECONDS for PID to end. Returns 0 if it
# ended (its status is then in WAIT_STATUS), 1 if it is still running.
WAIT_STATUS=
wait_exit() {
  local pid=$1 limit_s=$2 deadline
  deadline=$((SECONDS + limit_s))
  while pid_alive "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
  WAIT_STATUS=0
  wait "$pid" 2>/dev/null || WAIT_STATUS=$?
  return 0
}

# Pids of processes named NAME (exact comm) in the process group of LEADER.
pids_in_group() {
  local leader=$1 name=$2
  pgrep -g "$leader" -x "$name" || true
}

# Kill every process this test started; remove the run dir. Runs on EXIT.
cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  # Before the engines go: their counters tell a failure's transport story.
  ((status != 0 && status != 77)) && dump_engine_counters
  local pid
  for pid in "${TRACKED_PIDS[@]}"; do kill_group TERM "$pid"; done
  local deadline=$((SECONDS + KILL_GRACE_S))
  for pid in "${TRACKED_PIDS[@]}"; do
    while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    kill_group KILL "$pid"
  done
  # Strays: anything still carrying our tag (e.g. an engine a `flexins run`
  # spawned and detached), found through /proc/*/environ.
  local strays
  strays=$(grep -lzxF "$TEST_TAG" /proc/[0-9]*/environ 2>/dev/null |
    sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p')
  for pid in $strays; do
    [[ $pid == "$$" ]] && continue
    kill -KILL "$pid" 2>/dev/null
  done
  for pid in "${TRACKED_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  local hook
  for hook in "${CLEANUP_HOOKS[@]}"; do
    if ! "$hook" && ((status == 0)); then
      echo "ASSERTION FAILED [$TEST_NAME]: cleanup step $hook failed" >&2
      status=1
    fi
  done
  if ((status == 77)); then
    echo "SKIPPED: $TEST_NAME"
  elif ((status != 0)); then
    dump_logs
    echo "FAILED: $TEST_NAME (exit $status); run dir $RUN_DIR" >&2
  else
    echo "PASSED: $TEST_NAME"
  fi
  if [[ ${FLEXINS_KEEP_RUN_DIR:-0} == 1 ]]; then
    echo "kept run dir $RUN_DIR"
  else
    rm -rf "$RUN_DIR"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Print (the tail of) every log, so a failure in ctest's output explains itself.
dump_logs() {
  local f
  for f in "$LOG_DIR"/*.log; do
    [[ -e $f ]] || continue
    echo "----- ${f##*/} (last 40 lines) -----"
    tail -n 40 "$f"
  done
}

# The nonzero counters and the QPs of every engine still up (errors, NAKs,
# retransmissions, drops, QP states), printed when a test fails.
dump_engine_counters() {
  local addr
  for addr in "${!ENGINE_PID[@]}"; do
    pid_alive "${ENGINE_PID[$addr]}" || continue
    echo "----- flexins stat --ip $addr (nonzero counters) -----"
    timeout 5 "$FLEXINS" stat --ip "$addr" 2>&1 | awk 'NF == 2 && $2 != "0"'
    echo "----- flexins qp list --ip $addr -----"
    timeout 5 "$FLEXINS" qp list --ip "$addr" 2>&1 | tail -n 20
  done
}

show_log() {
  echo "----- $1 -----"
  cat "$LOG_DIR/$1.log"
}

# ------------------------------------------------------------------ engines

engine_socket() { echo "$FLEXINS_RUN_DIR/engine-$1.sock"; }

# start_engine ADDR [daemon args...]: start `flexins daemon` for ADDR and wait
# (bounded) until its control socket exists. Its pid goes in ENGINE_PID[ADDR].
start_engine() {
  local addr=$1
  shift
  [[ -x $FLEXINS ]] || fail "flexins not built: $FLEXINS"
  local sock
  sock=$(engine_socket "$addr")
  # The run dir is private: a socket already here was left by an engine this
  # test killed, and would make the wait below end before the new one is up.
  rm -f "$sock"
  start_session "engine-$addr" "$FLEXINS" daemon --ip "$addr" "$@"
  local pid=$LAST_PID
  ENGINE_PID[$addr]=$pid
  local deadline=$((SECONDS + ENGINE_START_TIMEOUT_S))
  until [[ -S $sock ]]; do
    pid_alive "$pid" || fail "engine $addr exited during start-up"
    ((SECONDS < deadline)) || fail "engine $addr: no socket $sock after ${ENGINE_START_TIMEOUT_S}s"
    sleep 0.05
  done
  log "engine $addr up (pid $pid)"
}

# stat_json ADDR OUT_FILE: the engine's counters as JSON.
stat_json() {
  timeout 10 "$FLEXINS" stat --ip "$1" --json >"$2" ||
    fail "flexins stat --ip $1 --json failed"
}

# json_get FILE KEY: print the integer value of top-level KEY.
json_get() {
  python3 -c '
import json, sys
obj = json.load(open(sys.argv[1]))
print(int(obj[sys.argv[2]]))' "$1" "$2" || fail "no integer key '$2' in $1"
}

# lid_hex ADDR: the port LID FlexiNS gives the engine for IPv4 ADDR (its
# low 16 bits, src/pipe/lid.h), as the pingpong tools print it: 0xCCDD.
lid_hex() {
  local IFS=.
  # shellcheck disable=SC2086  # split the address on dots
  set -- $1
  printf '0x%04x' $((($3 << 8) | $4))
}

# stat_get ADDR KEY: an integer from the engine's counters now.
stat_get() {
  local f=$RUN_DIR/stat-$$-$RANDOM.json
  stat_json "$1" "$f"
  json_get "$f" "$2"
}

# ----------------------------------------------------------------- commands

# run_cmd NAME CMD...: run CMD bounded by CMD_TIMEOUT_S, output to
# LOG_DIR/NAME.log; returns CMD's status.
run_cmd() {
  local name=$1
  shift
  start_bg "$name" "$CMD_TIMEOUT_S" "$@"
  wait_pid "$LAST_PID"
}

# The command line that runs CMD... over FlexiNS as a host with address ADDR.
# Usage: over ADDR CMD... prints nothing; sets the array OVER.
over() {
  local addr=$1
  shift
  OVER=("$FLEXINS" run --ip "$addr" -- "$@")
}

# tcp_listeners PORT: the TCP listeners on PORT (in LISTEN_NETNS if set).
tcp_listeners() {
  if [[ -n $LISTEN_NETNS ]]; then
    ip netns exec "$LISTEN_NETNS" ss -ltnpH "sport = :$1"
  else
    ss -ltnpH "sport = :$1"
  fi
}

# wait_listen PORT PID: wait (bounded) until a TCP socket listens on PORT;
# fail early if PID (the would-be listener) dies first.
wait_listen() {
  local port=$1 pid=$2 deadline=$((SECONDS + LISTEN_TIMEOUT_S))
  until tcp_listeners "$port" | grep -q .; do
    pid_alive "$pid" || return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# start_pair NAME PORT SERVER_CMD... ::: CLIENT_CMD...
# Start the server, wait until PORT listens, then start the client; both in
# the background, bounded by CMD_TIMEOUT_S. Sets SERVER_PID and CLIENT_PID.
start_pair() {
  local name=$1 port=$2
  shift 2
  local -a server=() client=()
  while (($#)) && [[ $1 != ::: ]]; do
    server+=("$1")
    shift
  done
  (($#)) || fail "start_pair: missing ':::' between server and client"
  shift
  client=("$@")
  [[ ${#server[@]} -gt 0 && ${#client[@]} -gt 0 ]] || fail "start_pair: empty command"
  # Someone else's listener would take our client's connection.
  if tcp_listeners "$port" | grep -q .; then
    fail "$name: TCP port $port is already in use: $(tcp_listeners "$port")"
  fi
  start_bg "$name.server" "$CMD_TIMEOUT_S" "${server[@]}"
  SERVER_PID=$LAST_PID
  if ! wait_listen "$port" "$SERVER_PID"; then
    show_log "$name.server"
    if wait_exit "$SERVER_PID" 0; then
      fail "$name: server exited (status $WAIT_STATUS) before it listened on port $port"
    fi
    fail "$name: server did not listen on port $port within ${LISTEN_TIMEOUT_S}s"
  fi
  start_bg "$name.client" "$CMD_TIMEOUT_S" "${client[@]}"
  CLIENT_PID=$LAST_PID
}

# run_pair: start_pair, then wait for both; statuses in SERVER_STATUS and
# CLIENT_STATUS; prints both outputs.
run_pair() {
  local name=$1
  start_pair "$@"
  CLIENT_STATUS=0
  wait_pid "$CLIENT_PID" || CLIENT_STATUS=$?
  SERVER_STATUS=0
  wait_pid "$SERVER_PID" || SERVER_STATUS=$?
  show_log "$name.server"
  show_log "$name.client"
  log "$name: server exit $SERVER_STATUS, client exit $CLIENT_STATUS"
}

# pingpong_cmds SERVER_ADDR CLIENT_ADDR PORT ARGS...: sets PP_SERVER and
# PP_CLIENT, the two halves of ibv_rc_pingpong between two engines. The TCP
# rendezvous goes to the server's address.
# stdbuf: line-buffered stdout, so a log shows how far a run got (and
# "remote address", i.e. connected) while it is still running.
pingpong_cmds() {
  local saddr=$1 caddr=$2 port=$3
  shift 3
  over "$saddr" stdbuf -oL ibv_rc_pingpong -p "$port" "$@"
  PP_SERVER=("${OVER[@]}")
  over "$caddr" stdbuf -oL ibv_rc_pingpong -p "$port" "$@" "$saddr"
  PP_CLIENT=("${OVER[@]}")
}

# pingpong NAME SERVER_ADDR CLIENT_ADDR PORT ARGS...: run a pair to the end.
pingpong() {
  local name=$1 saddr=$2 caddr=$3 port=$4
  shift 4
  pingpong_cmds "$saddr" "$caddr" "$port" "$@"
  run_pair "$name" "$port" "${PP_SERVER[@]}" ::: "${PP_CLIENT[@]}"
}

# wait_log NAME REGEX SECONDS: wait until LOG_DIR/NAME.log matches REGEX.
wait_log() {
  local name=$1 re=$2 deadline=$((SECONDS + $3))
  until grep -Eq -- "$re" "$LOG_DIR/$name.log" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# --------------------------------------------------------------- assertions

fail() {
  echo "ASSERTION FAILED [$TEST_NAME]: $*" >&2
  exit 1
}

# skip REASON: this test cannot run here; not a failure (ctest shows SKIP
# where the test sets SKIP_RETURN_CODE 77).
skip() {
  echo "SKIP [$TEST_NAME]: $*"
  exit 77
}

assert_eq() {  # ACTUAL EXPECTED WHAT
  [[ $1 == "$2" ]] || fail "$3: expected '$2', got '$1'"
}

assert_gt() {  # A B WHAT   (integers)
  (($1 > $2)) || fail "$3: expected $1 > $2"
}

assert_lt() {  # A B WHAT   (integers)
  (($1 < $2)) || fail "$3: expected $1 < $2"
}

assert_le() {  # A B WHAT   (integers)
  (($1 <= $2)) || fail "$3: expected $1 <= $2"
}

assert_ne() {  # A B WHAT
  [[ $1 != "$2" ]] || fail "$3: did not expect '$2'"
}

assert_log_matches() {  # NAME REGEX (extended)
  grep -Eq -- "$2" "$LOG_DIR/$1.log" ||
    fail "$1 output does not match /$2/ (see the log above)"
}

assert_alive() {  # PID WHAT
  pid_alive "$1" || fail "$2 (pid $1) is not running"
}

assert_engine_alive() {  # ADDR
  assert_alive "${ENGINE_PID[$1]}" "engine $1"
  [[ -S $(engine_socket "$1") ]] || fail "engine $1: socket is gone"
}

# The lines ibv_rc_pingpong prints on success, SIZE bytes × ITERS exchanges.
assert_pingpong_output() {  # NAME SIZE ITERS
  local bytes=$((2 * $2 * $3))
  assert_log_matches "$1" "^$bytes bytes in [0-9.]+ seconds = [0-9.]+ Mbit/sec"
  assert_log_matches "$1" "^$3 iters in [0-9.]+ seconds = [0-9.]+ usec/iter"
}

# Both halves exited 0 and printed their result lines.
assert_pingpong_ok() {  # NAME SIZE ITERS
  assert_eq "$SERVER_STATUS" 0 "$1 server exit status"
  assert_eq "$CLIENT_STATUS" 0 "$1 client exit status"
  assert_pingpong_output "$1.server" "$2" "$3"
  assert_pingpong_output "$1.client" "$2" "$3"
}

# count_syscalls ITERS PORT: a polling 64-byte ibv_rc_pingpong of ITERS
# exchanges between $ADDR_B (server) and $ADDR_A (client, under strace -f -c);
# sets SYSCALLS, the client's total syscall count.
count_syscalls() {
  local iters=$1 port=$2 name=pp-$1
  local out=$RUN_DIR/strace-$iters.txt
  over "$ADDR_B" ibv_rc_pingpong -p "$port" -g 0 -s 64 -n "$iters"
  local -a server=("${OVER[@]}")
  over "$ADDR_A" strace -f -c -U calls,name -o "$out" \
    ibv_rc_pingpong -p "$port" -g 0 -s 64 -n "$iters" "$ADDR_B"
  local -a client=("${OVER[@]}")
  run_pair "$name" "$port" "${server[@]}" ::: "${client[@]}"
  assert_pingpong_ok "$name" 64 "$iters"
  cat "$out"
  SYSCALLS=$(awk '$2 == "total" { print $1 }' "$out")
}
