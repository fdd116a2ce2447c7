#!/usr/bin/env bash
# An rstream peer killed (SIGKILL) mid-stream: its CM connection closes and
# the survivor, blocked in rsend / rrecv or spinning on EAGAIN, gets an error
# (ECONNRESET) or end of file and exits instead of hanging. Once with the
# sender (client) surviving, once with the receiver (server) surviving.
#   rstream_peer_death.sh
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

# kill_midstream NAME VICTIM(server|client) PORT RSTREAM_ARGS...
kill_midstream() {
  local name=$1 victim=$2 port=$3 rx_start rx_now pid survivor
  shift 3
  stat_json "$ADDR_B" "$LOG_DIR/$name.stat.json"
  rx_start=$(json_get "$LOG_DIR/$name.stat.json" rx_packets)
  over "$ADDR_B" stdbuf -oL rstream -b "$ADDR_B" -p "$port" "$@"
  local server=("${OVER[@]}")
  over "$ADDR_A" stdbuf -oL rstream -s "$ADDR_B" -p "$port" "$@"
  start_pair "$name" "$port" "${server[@]}" ::: "${OVER[@]}"
  # Mid-stream: the data is flowing (the receiving engine counts packets).
  rx_now=$rx_start
  for _ in $(seq 100); do
    stat_json "$ADDR_B" "$LOG_DIR/$name.stat.json"
    rx_now=$(json_get "$LOG_DIR/$name.stat.json" rx_packets)
    ((rx_now - rx_start > 2000)) && break
    sleep 0.1
  done
  assert_gt "$((rx_now - rx_start))" 2000 "$name: packets received before the kill"
  if [[ $victim == server ]]; then
    pid=$(pids_in_group "$SERVER_PID" rstream)
    survivor=$CLIENT_PID
  else
    pid=$(pids_in_group "$CLIENT_PID" rstream)
    survivor=$SERVER_PID
  fi
  [[ -n $pid ]] || fail "$name: cannot find the rstream $victim process"
  pid_alive "$survivor" || fail "$name: the survivor ended before the kill"
  log "$name: SIGKILL the rstream $victim (pid $pid)"
  kill -KILL "$pid"
  wait_exit "$survivor" 20 || fail "$name: survivor still running 20 s after its peer died"
  show_log "$name.server"
  show_log "$name.client"
  assert_ne "$WAIT_STATUS" 124 "$name: survivor exit status (124: hung until its timeout)"
  assert_ne "$WAIT_STATUS" 0 "$name: survivor exit status (the transfer cannot have completed)"
}

# The client sends 64 KiB messages and the server dies: blocked rsend.
kill_midstream sender_survives server "$PORT_BASE" -S 65536 -C 10000000 -T b
assert_log_matches sender_survives.client 'rsend: Connection reset by peer'

# The server receives and the client dies: non-blocking rrecv spinning on EAGAIN.
kill_midstream receiver_survives client "$((PORT_BASE + 1))" -S 65536 -C 10000000
assert_log_matches receiver_survives.server 'rrecv: Connection reset by peer'

assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
