# shellcheck shell=bash
# Measurement helpers for bench/run. Sourced, not run.
#
# Every measured point leaves, in $RAW:
#   NAME.meta              key=value lines: status (ok|failed), reason, the
#                          command, CPU clock ticks of each engine over the
#                          point, peak memory of each engine
#   NAME.server.log/.client.log   the programs' output
#   NAME.server.cpu/.client.cpu   their CPU ticks (cpu_of.sh)
#   NAME.stat.a.json/.b.json      each engine's counters after the point
# bench/report.py turns these into the table, the JSON and the chart.
#
# Each FlexiNS point gets two fresh engines, so their counters, CPU time and
# peak memory belong to that point alone, and a crash cannot spill over.

ADDR_A=127.0.220.1  # the client's "host"
ADDR_B=127.0.220.2  # the server's "host"
NEXT_PORT=42000     # TCP/UDP ports 42000-42999, one per point
ENGINE_START_S=10
KILL_GRACE_S=3

BENCH_PIDS=()   # session leaders we started; their sessions are killed on exit
ENGINE_A=
ENGINE_B=
SAMPLER_PIDS=()
LAST_PID=

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

next_port() {
  PORT=$NEXT_PORT
  NEXT_PORT=$((NEXT_PORT >= 42999 ? 42000 : NEXT_PORT + 1))
}

# ---------------------------------------------------------------- processes

pid_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# CPU time (user + system clock ticks, all threads) of a live process.
proc_ticks() {
  local stat
  read -r stat <"/proc/$1/stat" || { echo 0; return; }
  # shellcheck disable=SC2206  # split the fields on purpose
  local f=(${stat##*) })
  echo $((f[11] + f[12]))  # utime, stime: fields 14 and 15
}

# Every program we start leads its own session (setsid). timeout(1) moves
# itself and its child into a process group of their own, so the session,
# not the group, is what holds everything a start brought up.
session_pids() { pgrep -s "$1" 2>/dev/null || true; }

signal_session() {
  local p
  for p in $(session_pids "$2"); do kill "-$1" "$p" 2>/dev/null || true; done
}

# stop_session SID: TERM everything in it, KILL what is left after
# KILL_GRACE_S, reap the leader.
stop_session() {
  local sid=$1 deadline=$((SECONDS + KILL_GRACE_S))
  signal_session TERM "$sid"
  while [[ -n $(session_pids "$sid") ]] && ((SECONDS < deadline)); do sleep 0.05; done
  signal_session KILL "$sid"
  wait "$sid" 2>/dev/null || true
}

cleanup_all() {
  set +e  # a failing kill must not stop the sweep
  local pid
  for pid in "${SAMPLER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${BENCH_PIDS[@]}"; do [[ -n $(session_pids "$pid") ]] && stop_session "$pid"; done
  [[ -n ${FLEXINS_RUN_DIR:-} && $FLEXINS_RUN_DIR == */bench-run.* ]] && rm -rf "$FLEXINS_RUN_DIR"
  return 0
}

# start_bounded NAME LIMIT_S CMD...: CMD in its own session, bounded by
# timeout(1), output in $RAW/NAME.log, CPU ticks in $RAW/NAME.cpu. Sets LAST_PID.
start_bounded() {
  local name=$1 limit=$2
  shift 2
  setsid "$BENCH_DIR/cpu_of.sh" "$RAW/$name.cpu" timeout -k 5 "$limit" "$@" \
    >"$RAW/$name.log" 2>&1 </dev/null &
  LAST_PID=$!
  BENCH_PIDS+=("$LAST_PID")
}

# wait_for PID: sets WAITED to its exit status, without tripping set -e
# (not in $(...): a subshell cannot wait for our children).
WAITED=
wait_for() {
  WAITED=0
  wait "$1" || WAITED=$?
}

# wait_listen tcp|udp PORT PID: until something listens on PORT (bounded);
# fails early if PID dies first.
wait_listen() {
  local proto=$1 port=$2 pid=$3 deadline=$((SECONDS + 15)) flag=-ltnH
  [[ $proto == udp ]] && flag=-lunH
  until ss "$flag" "sport = :$port" | grep -q .; do
    pid_alive "$pid" || return 1
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# signal_program SID NAME SIG: send SIG to the process named NAME in the
# session SID leads (a server that reports only when interrupted).
signal_program() {
  local p
  for p in $(pgrep -s "$1" -x "$2" || true); do kill "-$3" "$p" 2>/dev/null || true; done
}

# ------------------------------------------------------------------ engines

# engines_up [DAEMON ARGS...]: fresh engines on ADDR_A and ADDR_B, each one's
# worker on its host's CPU (CPU_A, CPU_B) when bench/run pins.
engines_up() {
  local addr pid sock deadline cpu pin_args
  for addr in "$ADDR_A" "$ADDR_B"; do
    sock=$FLEXINS_RUN_DIR/engine-$addr.sock
    rm -f "$sock"
    cpu=$CPU_A
    [[ $addr == "$ADDR_B" ]] && cpu=$CPU_B
    pin_args=()
    # A pinned engine owns its core, as a NIC core is the NIC's: its worker
    # runs SCHED_FIFO (unless the engine arguments say otherwise).
    [[ -n $cpu ]] && pin_args=(--cpus "$cpu")
    [[ -n $cpu && " $* " != *" --rt-priority "* ]] && pin_args+=(--rt-priority 10)
    setsid "$FLEXINS" daemon --ip "$addr" "${pin_args[@]}" "$@" >>"$RAW/engine-$addr.log" 2>&1 </dev/null &
    pid=$!
    BENCH_PIDS+=("$pid")
    if [[ $addr == "$ADDR_A" ]]; then ENGINE_A=$pid; else ENGINE_B=$pid; fi
    deadline=$((SECONDS + ENGINE_START_S))
    until [[ -S $sock ]]; do
      if ! pid_alive "$pid"; then
        REASON="engine $addr exited at start: $(tail -n 1 "$RAW/engine-$addr.log")"
        return 1
      fi
      if ((SECONDS >= deadline)); then
        REASON="engine $addr: no control socket after ${ENGINE_START_S}s"
        return 1
      fi
      sleep 0.05
    done
  done
}

engines_down() {
  local pid
  for pid in "$ENGINE_A" "$ENGINE_B"; do [[ -n $pid ]] && stop_session "$pid"; done
  ENGINE_A='' ENGINE_B=''
}

# Peak memory of PID while it runs: VmHWM (peak resident, including the
# applications' registered memory the engine maps) and the peak of RssAnon
# (the engine's own memory), sampled every 0.5 s; written to OUT when the
# engine exits or the sampler is stopped (TERM). It forks nothing while it
# samples, and samples seldom: with `sleep`, `mv` and `cat` ten times a
# second, the two samplers' forks and execs preempted the busy-polling
# perftest processes, and `ib_write_lat`'s p99 was 537–559 µs against
# 130–164 without samplers on the 2-vCPU VM (231–239 fork-free at 0.1 s).
# VmHWM is the kernel's own peak; RssAnon grows over the seconds 1024 QPs
# take to connect, so 0.5 s still sees it.
rss_sampler() {
  local pid=$1 out=$2 line stat hwm=0 anon=0 peak_anon=0 tick
  report() { echo "hwm_kb=$hwm anon_peak_kb=$peak_anon" >"$out"; }
  trap 'report; exit 0' TERM
  exec {tick}<> <(:)  # a pipe we hold both ends of: `read -t` on it sleeps
  while read -r stat 2>/dev/null <"/proc/$pid/stat" && [[ ${stat##*) } != Z* ]]; do
    while read -r line; do
      case $line in
        VmHWM:*) hwm=${line//[^0-9]/} ;;
        RssAnon:*) anon=${line//[^0-9]/} ;;
      esac
    done <"/proc/$pid/status" 2>/dev/null
    ((anon > peak_anon)) && peak_anon=$anon
    read -r -t 0.5 -u "$tick" line || true
  done
  report
}

start_samplers() {
  SAMPLER_PIDS=()
  rss_sampler "$ENGINE_A" "$RAW/$1.rss.a" &
  SAMPLER_PIDS+=($!)
  rss_sampler "$ENGINE_B" "$RAW/$1.rss.b" &
  SAMPLER_PIDS+=($!)
}

stop_samplers() {
  local pid
  for pid in "${SAMPLER_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SAMPLER_PIDS=()
}

# The first two error lines a failed program printed, else its exit status.
failure_reason() {
  local log=$1 status=$2 line
  if ((status == 124 || status == 137)); then
    echo "timed out after ${POINT_TIMEOUT_S}s"
    return
  fi
  line=$(grep -m 2 -iE "couldn't|failed|error|unable|cannot" "$log" 2>/dev/null |
    sed 's/^[[:space:]]*//' | paste -sd ';' | sed 's/;/; /g' | tr -s ' \t' ' ' | cut -c 1-160)
  echo "${line:-exit status $status}"
}

write_meta() {  # NAME KEY=VALUE...
  local name=$1
  shift
  printf '%s\n' "$@" >"$RAW/$name.meta"
}

# ------------------------------------------------------------------- points

# bench/run --repeat N makes N passes over the whole benchmark, so that a
# slow spell of a shared machine falls on FlexiNS and on its peers alike;
# pass k names its runs NAME~k (pass 1: NAME). bench/report.py reports the
# median run of each point and keeps them all in the JSON.
PASS_SUFFIX=
repeat_point() {  # FUNCTION NAME ARGS...
  local fn=$1 name=$2
  shift 2
  "$fn" "$name$PASS_SUFFIX" "$@"
}

# fx_point NAME "DAEMON ARGS" TOOL ARGS...: one perftest tool between two
# fresh engines, server on ADDR_B, client on ADDR_A, as
# tests/integration/perftest/perftest.sh runs them (device flexins0, GID
# index 0 = ::ffff:ADDR, RoCE v2).
fx_point() { repeat_point fx_point_once "$@"; }
fx_point_once() {
  local name=$1 daemon_args=$2 tool=$3
  shift 3
  next_port
  local common=(-d flexins0 -x 0 -p "$PORT" -F "$@")
  local cmd="$tool ${common[*]}"
  log "$name: $cmd${daemon_args:+  (engines: $daemon_args)}"
  REASON=
  # shellcheck disable=SC2086  # daemon args are space-separated on purpose
  if ! engines_up $daemon_args; then
    engines_down
    write_meta "$name" status=failed "reason=$REASON" "cmd=$cmd" "engine_args=$daemon_args"
    log "$name: FAILED ($REASON)"
    return 0
  fi
  local a0 b0 a1 b1 server client s_status c_status status=ok
  # Where the applications run (bench/run --apps): host A's (the client)
  # and host B's (the server).
  local on_a=() on_b=()
  if [[ -n $CPU_A && $APPS == crossed ]]; then
    on_a=(taskset -c "$CPU_B") on_b=(taskset -c "$CPU_A")
  elif [[ -n $CPU_A && $APPS == beside ]]; then
    on_a=(taskset -c "$CPU_A") on_b=(taskset -c "$CPU_B")
  fi
  a0=$(proc_ticks "$ENGINE_A") b0=$(proc_ticks "$ENGINE_B")
  start_samplers "$name"
  start_bounded "$name.server" "$POINT_TIMEOUT_S" "${on_b[@]}" "$FLEXINS" run --ip "$ADDR_B" -- stdbuf -oL "$tool" "${common[@]}"
  server=$LAST_PID
  if wait_listen tcp "$PORT" "$server"; then
    start_bounded "$name.client" "$POINT_TIMEOUT_S" "${on_a[@]}" "$FLEXINS" run --ip "$ADDR_A" -- stdbuf -oL "$tool" "${common[@]}" "$ADDR_B"
    client=$LAST_PID
    wait_for "$client"
    c_status=$WAITED
  else
    c_status=-1
    REASON="server did not listen on port $PORT: $(failure_reason "$RAW/$name.server.log" 1)"
    stop_session "$server"
  fi
  wait_for "$server"
  s_status=$WAITED
  a1=$(proc_ticks "$ENGINE_A") b1=$(proc_ticks "$ENGINE_B")
  stop_samplers
  timeout 10 "$FLEXINS" stat --ip "$ADDR_A" --json >"$RAW/$name.stat.a.json" 2>/dev/null || true
  timeout 10 "$FLEXINS" stat --ip "$ADDR_B" --json >"$RAW/$name.stat.b.json" 2>/dev/null || true
  if [[ -z $REASON ]]; then
    if ! pid_alive "$ENGINE_A" || ! pid_alive "$ENGINE_B"; then
      REASON="an engine died: $(tail -q -n 1 "$RAW/engine-$ADDR_A.log" "$RAW/engine-$ADDR_B.log" | tr '\n' ' ')"
    elif ((c_status != 0)); then
      REASON="client: $(failure_reason "$RAW/$name.client.log" "$c_status")"
    elif ((s_status != 0)); then
      REASON="server: $(failure_reason "$RAW/$name.server.log" "$s_status")"
    fi
  fi
  [[ -n $REASON ]] && status=failed
  engines_down
  write_meta "$name" "status=$status" "reason=$REASON" "cmd=$cmd" "engine_args=$daemon_args" \
    "engine_ticks_a=$((a1 - a0))" "engine_ticks_b=$((b1 - b0))" "clk_tck=$(getconf CLK_TCK)"
  if [[ $status == ok ]]; then log "$name: ok"; else log "$name: FAILED ($REASON)"; fi
}

# peer_point NAME tcp|udp SERVER_PROGRAM SERVER_CMD... ::: CLIENT_CMD...:
# a kernel-socket pair over loopback; the argument @PORT@ stands for a fresh
# port. The server is interrupted (SIGINT, so it prints its totals) once the
# client is done, unless it exited.
peer_point() { repeat_point peer_point_once "$@"; }
peer_point_once() {
  local name=$1 proto=$2 program=$3
  shift 3
  next_port
  # Pinned, the server stands on host B's CPU and the client on host A's,
  # as the engines do for FlexiNS.
  local server_cmd=() client_cmd=() arg
  [[ -n $CPU_B ]] && server_cmd=(taskset -c "$CPU_B") client_cmd=(taskset -c "$CPU_A")
  while (($#)) && [[ $1 != ::: ]]; do server_cmd+=("${1//@PORT@/$PORT}"); shift; done
  shift
  for arg in "$@"; do client_cmd+=("${arg//@PORT@/$PORT}"); done
  log "$name: ${client_cmd[*]}"
  REASON=
  local server client c_status=-1 s_status status=ok deadline
  start_bounded "$name.server" "$POINT_TIMEOUT_S" "${server_cmd[@]}"
  server=$LAST_PID
  if wait_listen "$proto" "$PORT" "$server"; then
    start_bounded "$name.client" "$POINT_TIMEOUT_S" "${client_cmd[@]}"
    client=$LAST_PID
    wait_for "$client"
    c_status=$WAITED
    ((c_status == 0)) || REASON="client: $(failure_reason "$RAW/$name.client.log" "$c_status")"
  else
    REASON="server did not listen on $proto port $PORT: $(failure_reason "$RAW/$name.server.log" 1)"
  fi
  deadline=$((SECONDS + 3))
  while pid_alive "$server" && ((SECONDS < deadline)); do
    signal_program "$server" "$program" INT
    sleep 0.2
  done
  pid_alive "$server" && stop_session "$server"
  wait_for "$server"
  s_status=$WAITED
  [[ -n $REASON ]] && status=failed
  write_meta "$name" "status=$status" "reason=$REASON" "cmd=${client_cmd[*]}" "server_status=$s_status" \
    "clk_tck=$(getconf CLK_TCK)"
  if [[ $status == ok ]]; then log "$name: ok"; else log "$name: FAILED ($REASON)"; fi
}
