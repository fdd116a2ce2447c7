#!/usr/bin/env bash
# The demo: an unmodified ibv_rc_pingpong between two FlexiNS engines that
# stand for two hosts (127.0.0.1 and 127.0.0.2), with data validation, then
# the engines' counters. Cleans up engines and processes even on failure.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo_root"

bash scripts/setup.sh

flexins=$repo_root/build/bin/flexins
[[ -x $flexins ]] || { echo "demo: $flexins was not built" >&2; exit 1; }
client_ip=127.0.0.1
server_ip=127.0.0.2
# The pingpong's TCP rendezvous port: the first free one from 18515 on.
port=${DEMO_PORT:-18515}
while ss -ltnH "sport = :$port" | grep -q .; do port=$((port + 1)); done
pingpong=(ibv_rc_pingpong -g 0 -c -s 65536 -n 1000 -p "$port")
limit_s=120

# A private run dir, so the demo neither finds nor disturbs other engines'
# sockets.
FLEXINS_RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/flexins-demo.XXXXXX")
export FLEXINS_RUN_DIR
pids=()

cleanup() {
  local status=$? pid
  set +e
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  local deadline=$((SECONDS + 5))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$FLEXINS_RUN_DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -t 1 ]]; then
  say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
  say() { printf '\n== %s\n' "$*"; }
fi

# bg LOG CMD...: start CMD in its own session (so cleanup can kill all of it).
bg() {
  local log=$1
  shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  pids+=($!)
}

start_engine() {
  local ip=$1 sock=$FLEXINS_RUN_DIR/engine-$1.sock deadline=$((SECONDS + 10))
  echo "\$ flexins daemon --ip $ip"
  bg "$FLEXINS_RUN_DIR/engine-$ip.log" "$flexins" daemon --ip "$ip"
  until [[ -S $sock ]]; do
    if ((SECONDS >= deadline)) || ! kill -0 "${pids[-1]}" 2>/dev/null; then
      cat "$FLEXINS_RUN_DIR/engine-$ip.log" >&2
      echo "demo: engine $ip did not start" >&2
      exit 1
    fi
    sleep 0.05
  done
}

say "starting two engines"
start_engine "$client_ip"
start_engine "$server_ip"

say "ibv_rc_pingpong (unmodified) over FlexiNS"
echo "\$ flexins run --ip $server_ip -- ${pingpong[*]}"
bg "$FLEXINS_RUN_DIR/server.log" timeout "$limit_s" "$flexins" run --ip "$server_ip" -- "${pingpong[@]}"
server_pid=${pids[-1]}
deadline=$((SECONDS + 15))
until ss -ltnH "sport = :$port" | grep -q .; do
  if ((SECONDS >= deadline)) || ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$FLEXINS_RUN_DIR/server.log" >&2
    echo "demo: the pingpong server did not listen on port $port" >&2
    exit 1
  fi
  sleep 0.05
done
echo "\$ flexins run --ip $client_ip -- ${pingpong[*]} $server_ip"
bg "$FLEXINS_RUN_DIR/client.log" timeout "$limit_s" "$flexins" run --ip "$client_ip" -- "${pingpong[@]}" "$server_ip"
client_pid=${pids[-1]}
client_status=0
wait "$client_pid" || client_status=$?
server_status=0
wait "$server_pid" || server_status=$?

say "server ($server_ip), exit status $server_status"
cat "$FLEXINS_RUN_DIR/server.log"
say "client ($client_ip), exit status $client_status"
cat "$FLEXINS_RUN_DIR/client.log"

for ip in "$client_ip" "$server_ip"; do
  say "flexins stat --ip $ip"
  timeout 10 "$flexins" stat --ip "$ip" || echo "(flexins stat failed)"
done

if ((server_status != 0 || client_status != 0)); then
  say "demo FAILED"
  exit 1
fi
say "demo OK: 1000 validated 64 KiB exchanges between two FlexiNS engines"
