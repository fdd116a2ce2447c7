#!/usr/bin/env bash
# One unmodified perftest tool (ib_write_bw, ib_read_lat, ...) between two
# engines, server and client, over RC unless ARGS say otherwise:
#
#   perftest.sh TOOL loopback|netns [TOOL ARGS...]
#
# loopback: two engines on 127.0.SLOT.1/.2; netns: two hosts in network
# namespaces joined by a veth (MTU 1500, so IB MTU 1024; see topology.sh).
# Both halves must exit 0, print no "Couldn't"/"failed"/"error", and print a
# plausible result table (parse_perftest.py); with -a, all 23 sizes.
# Prints "RESULT ..." lines with the figures (scripts/matrix.sh collects them).
# Skips (exit 77) when a needed piece is missing: -R without our
# librdmacm.so.1, or UD QPs the device cannot create yet.
# -c UC: both halves must say "Connection type : UC", and the engines must
# have sent no ACK and resent nothing (UC has neither). UC loses what the
# wire or the receiver loses, with no error anywhere: ib_send_bw's receiver
# waits for every message in iteration mode (perftest posts all receives up
# front for UC, so only a lost packet could stall it), while with -D it
# reposts as it goes, reports what arrived, and a message that found no
# receive WQE is dropped and counted (uc_messages_dropped, logged below).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

tool=${1:?usage: perftest.sh TOOL loopback|netns [TOOL ARGS...]}
mode=${2:?usage: perftest.sh TOOL loopback|netns [TOOL ARGS...]}
shift 2
tool_args=("$@")
CMD_TIMEOUT_S=${PERFTEST_TIMEOUT_S:-120}

command -v "$tool" >/dev/null || skip "$tool is not installed (Debian package perftest)"
has_arg() {
  local a
  for a in "${tool_args[@]}"; do [[ $a == "$1" ]] && return 0; done
  return 1
}
ud=0
if has_arg UD || has_arg --connection=UD; then ud=1; fi
uc=0
if has_arg UC || has_arg --connection=UC; then uc=1; fi
if has_arg -R || has_arg --rdma_cm; then
  [[ -e $FLEXINS_BUILD_DIR/lib/librdmacm.so.1 ]] ||
    skip "-R needs FlexiNS's librdmacm.so.1 ($FLEXINS_BUILD_DIR/lib/librdmacm.so.1 is not built)"
fi

# GID index 0 is the engine's ::ffff:ADDR (RoCE v2); flexins0 the device.
common=(-d flexins0 -x 0 -p "$PORT_BASE" "${tool_args[@]}")
server_cmd=(stdbuf -oL "$tool" "${common[@]}")

case $mode in
  loopback)
    start_engine "$ADDR_A"
    start_engine "$ADDR_B"
    server_addr=$ADDR_B
    over "$ADDR_B" "${server_cmd[@]}"
    server=("${OVER[@]}")
    over "$ADDR_A" "${server_cmd[@]}" "$server_addr"
    client=("${OVER[@]}")
    run_pair pt "$PORT_BASE" "${server[@]}" ::: "${client[@]}"
    engines=("$ADDR_A" "$ADDR_B")
    ;;
  netns)
    # shellcheck source=tests/integration/topology.sh
    source "$LIB_DIR/topology.sh"
    topo_create a b
    topo_start_engines
    server_addr=$(addr_of b)
    ns_pair pt "$PORT_BASE" b a "${server_cmd[@]}" ::: "${server_cmd[@]}" "$server_addr"
    engines=("$(addr_of a)" "$(addr_of b)")
    ;;
  *) fail "mode must be loopback or netns, got '$mode'" ;;
esac

if ((ud)) && ((SERVER_STATUS != 0 || CLIENT_STATUS != 0)) &&
  grep -qE 'Unable to create QP|Failed to create QP' "$LOG_DIR/pt.client.log" "$LOG_DIR/pt.server.log"; then
  skip "UD QP creation fails on this build (UD not supported yet)"
fi

assert_eq "$CLIENT_STATUS" 0 "$tool client exit status"
assert_eq "$SERVER_STATUS" 0 "$tool server exit status"
for side in server client; do
  if grep -iE "couldn't|failed|error" "$LOG_DIR/pt.$side.log"; then
    fail "$tool $side printed an error (above)"
  fi
  ((uc)) && assert_log_matches "pt.$side" "Connection type : UC"
done

# -a: sizes 2 B .. 8 MiB (23 rows); UD messages stop at the MTU: 4096 on
# loopback (12 rows), 1024 across the veth (10 rows).
rows=()
if has_arg -a; then
  if ((ud)); then
    [[ $mode == loopback ]] && rows=(--rows 12) || rows=(--rows 10)
  else
    rows=(--rows 23)
  fi
fi
label="$tool $mode ${tool_args[*]}"
python3 "$LIB_DIR/perftest/parse_perftest.py" "$LOG_DIR/pt.client.log" "${rows[@]}" --label "$label" ||
  fail "$tool client: implausible results (above)"
# The passive side of the latency tools and of some bandwidth tools prints
# no table; where it prints one, it must be plausible too. ib_send_bw's
# receiver times first to last receive completion: when the messages are
# already queued (all posted at once, or the receiver was descheduled on a
# busy machine) that span is a burst of a few microseconds, and the figure
# has no upper bound (see parse_perftest.py --burst-ok).
server_check=(--optional --label "$label (server)")
[[ $tool == ib_send_bw ]] && server_check+=(--burst-ok)
python3 "$LIB_DIR/perftest/parse_perftest.py" "$LOG_DIR/pt.server.log" "${server_check[@]}" ||
  fail "$tool server: implausible results (above)"

for addr in "${engines[@]}"; do
  assert_engine_alive "$addr"
  stat_json "$addr" "$LOG_DIR/stat-$addr.json"
  # One python start for the counters (each costs ~0.15 s here).
  read -r tx retx errors acks uc_dropped < <(python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
print(o["tx_packets"], o["retransmitted_packets"], o["completions_error"], o["acks_sent"],
      o["uc_messages_dropped"])' "$LOG_DIR/stat-$addr.json") ||
    fail "engine $addr: counters missing in $LOG_DIR/stat-$addr.json"
  log "engine $addr: tx_packets $tx, retransmitted $retx, error completions $errors, acks sent $acks, UC messages dropped $uc_dropped"
  assert_eq "$errors" 0 "error completions on engine $addr"
  if ((uc)); then
    assert_eq "$acks" 0 "ACKs sent by engine $addr (UC has none)"
    assert_eq "$retx" 0 "packets resent by engine $addr (UC resends nothing)"
  fi
done
