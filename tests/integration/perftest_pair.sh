# shellcheck shell=bash
# A perftest tool (ib_write_bw, ib_send_bw, ...) between two engines, for the
# tests that watch the engines while it runs. Sourced after lib.sh.

# bw_start NAME SERVER_ADDR CLIENT_ADDR PORT TOOL ARGS...: start TOOL's
# server over SERVER_ADDR, then its client over CLIENT_ADDR (perftest's
# `-d flexins0 -x 0 -p PORT`); sets SERVER_PID and CLIENT_PID.
bw_start() {
  local name=$1 saddr=$2 caddr=$3 port=$4 tool=$5
  shift 5
  command -v "$tool" >/dev/null || skip "$tool is not installed (Debian package perftest)"
  local -a common=(-d flexins0 -x 0 -p "$port" "$@")
  over "$saddr" stdbuf -oL "$tool" "${common[@]}"
  local -a server=("${OVER[@]}")
  over "$caddr" stdbuf -oL "$tool" "${common[@]}" "$saddr"
  local -a client=("${OVER[@]}")
  start_pair "$name" "$port" "${server[@]}" ::: "${client[@]}"
}

# bw_finish NAME: wait for both halves; both must exit 0 without printing
# an error.
bw_finish() {
  local name=$1
  CLIENT_STATUS=0
  wait_pid "$CLIENT_PID" || CLIENT_STATUS=$?
  SERVER_STATUS=0
  wait_pid "$SERVER_PID" || SERVER_STATUS=$?
  log "$name: server exit $SERVER_STATUS, client exit $CLIENT_STATUS"
  if ((CLIENT_STATUS != 0 || SERVER_STATUS != 0)); then
    show_log "$name.server"
    show_log "$name.client"
    fail "$name: perftest failed"
  fi
  local side
  for side in server client; do
    if grep -iE "couldn't|failed|error" "$LOG_DIR/$name.$side.log"; then
      show_log "$name.$side"
      fail "$name: perftest $side printed an error (above)"
    fi
  done
}

# bw_run NAME SERVER_ADDR CLIENT_ADDR PORT TOOL ARGS...: bw_start, then
# bw_finish. While the client runs, both engines' `flexins stat --json` are
# sampled every 0.2 s into LOG_DIR/NAME.samples-ADDR (one JSON object a
# line), so a test can see figures that only hold while the QPs exist
# (memory).
bw_run() {
  local name=$1 saddr=$2 caddr=$3
  bw_start "$@"
  local addr
  while pid_alive "$CLIENT_PID"; do
    for addr in "$saddr" "$caddr"; do
      timeout 5 "$FLEXINS" stat --ip "$addr" --json >>"$LOG_DIR/$name.samples-$addr" 2>/dev/null || true
    done
    sleep 0.2
  done
  bw_finish "$name"
}

# sample_max NAME ADDR KEY [WHERE_KEY VALUE]: the largest KEY among the
# samples bw_run took (only those whose WHERE_KEY equals VALUE, if given);
# 0 if none: a run too short to sample.
sample_max() {
  local f=$LOG_DIR/$1.samples-$2
  [[ -s $f ]] || { echo 0; return; }
  python3 -c '
import json, sys
key, where = sys.argv[2], sys.argv[3:]
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(max([int(r[key]) for r in rows if not where or int(r[where[0]]) == int(where[1])], default=0))' \
    "$f" "${@:3}" || fail "no key ${*:3} in the samples $f"
}
