#!/usr/bin/env bash
# Unmodified qperf between two engines: a server (`qperf -lp PORT`, no test)
# and a client running one RDMA test for a short time:
#
#   qperf.sh loopback|netns TEST [SECONDS [cm|lid]]   TEST: rc_bw, rc_lat, ud_bw, ...
#
# TEST may name several tests ("rc_bw rc_lat"): one client runs them in turn,
# each over a new connection, and each must print its figure.
#
# How qperf reaches its peer:
#   cm   -cm1: through the RDMA CM (FlexiNS's librdmacm.so.1), which sets a
#        GRH in the QP's path. RC tests only: qperf 0.4.11 runs UD without
#        the CM whatever it is told.
#   lid  qperf's default (-cm0): each side sends the other its port LID over
#        qperf's TCP channel and builds the QP path / UD address handle from
#        that LID alone, no GRH. RoCE NICs refuse that; FlexiNS routes it to
#        the host with that LID in the engine's /16 (src/pipe/lid.h).
# The default is lid when TEST has a UD test, else cm.
#
# Across namespaces the link MTU is 1500 bytes (IB MTU 1024), below qperf's
# defaults for an RC path without the CM (path MTU 2048) and for ud_bw's
# messages (2 KiB, one packet each): as on a RoCE NIC on such a link, the
# test passes `-mt 1024` and, for ud_bw, `-m 1K`.
#
# The client must exit 0 and print a positive bandwidth / a latency in
# (0, 1 s), a receive bandwidth no higher than the send bandwidth; neither
# side may print an error, and neither engine may count a packet with a bad
# Q_Key or from a peer its QP does not talk to.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

usage="usage: qperf.sh loopback|netns TEST [SECONDS [cm|lid]]"
mode=${1:?$usage}
test_name=${2:?$usage}
duration_s=${3:-2}
read -ra tests <<<"$test_name"
if [[ " $test_name" == *" ud_"* ]]; then default_path=lid; else default_path=cm; fi
path=${4:-$default_path}

command -v qperf >/dev/null || skip "qperf is not installed (Debian package qperf)"
case $path in
  cm)
    [[ " $test_name" != *" ud_"* ]] || fail "qperf runs UD tests without the RDMA CM: use lid"
    [[ -e $FLEXINS_BUILD_DIR/lib/librdmacm.so.1 ]] ||
      skip "qperf -cm1 needs FlexiNS's librdmacm.so.1 ($FLEXINS_BUILD_DIR/lib/librdmacm.so.1), not built"
    path_args=(-cm1)
    ;;
  lid) path_args=() ;;
  *) fail "$usage" ;;
esac

port=$PORT_BASE
# -lp: the synchronisation port (default 19765), per slot so tests may run
# side by side.
server_cmd=(stdbuf -oL qperf -lp "$port")
client_args=(-lp "$port" "${path_args[@]}" -t "$duration_s" -v)

case $mode in
  loopback)
    start_engine "$ADDR_A"
    start_engine "$ADDR_B"
    over "$ADDR_B" "${server_cmd[@]}"
    server=("${OVER[@]}")
    over "$ADDR_A" stdbuf -oL qperf "$ADDR_B" "${client_args[@]}" "${tests[@]}"
    client=("${OVER[@]}")
    start_pair qp "$port" "${server[@]}" ::: "${client[@]}"
    ;;
  netns)
    # shellcheck source=tests/integration/topology.sh
    source "$LIB_DIR/topology.sh"
    topo_create a b
    topo_start_engines
    if [[ $path == lid ]]; then
      client_args+=(-mt 1024)
      [[ " $test_name " != *" ud_bw "* ]] || client_args+=(-m 1K)
    fi
    ns_over b "${server_cmd[@]}"
    server=("${OVER[@]}")
    ns_over a stdbuf -oL qperf "$(addr_of b)" "${client_args[@]}" "${tests[@]}"
    client=("${OVER[@]}")
    LISTEN_NETNS=$(ns_of b)
    start_pair qp "$port" "${server[@]}" ::: "${client[@]}"
    LISTEN_NETNS=
    ;;
  *) fail "mode must be loopback or netns, got '$mode'" ;;
esac

# The server serves forever: wait for the client only (cleanup stops it).
CLIENT_STATUS=0
wait_pid "$CLIENT_PID" || CLIENT_STATUS=$?
show_log qp.client
show_log qp.server
log "qperf $test_name ($path): client exit $CLIENT_STATUS"

assert_eq "$CLIENT_STATUS" 0 "qperf client exit status"
for side in client server; do
  if grep -iE 'failed|error' "$LOG_DIR/qp.$side.log"; then
    fail "qperf $side printed an error (above)"
  fi
done

# What the engines saw. Every datagram carries qperf's Q_Key and reaches the
# QP it names (a LID resolved to the wrong host would show here). UD has no
# flow control: datagrams that find no receive posted are dropped and
# counted, so ud_bw's receive side may see fewer than were sent.
if [[ $mode == netns ]]; then engines=("$(addr_of a)" "$(addr_of b)"); else engines=("$ADDR_A" "$ADDR_B"); fi
for addr in "${engines[@]}"; do
  f=$RUN_DIR/stat-$addr.json
  stat_json "$addr" "$f"
  keys=(tx_packets rx_packets rx_drop_no_recv_wqe rx_drop_bad_qkey rx_drop_misaddressed)
  # One python for all keys (json_get per key costs a second each on a busy machine).
  read -r tx rx no_wqe bad_qkey misaddressed < <(python3 -c '
import json, sys
obj = json.load(open(sys.argv[1]))
print(*(int(obj[k]) for k in sys.argv[2:]))' "$f" "${keys[@]}") || fail "cannot read $f"
  log "engine $addr: tx_packets $tx, rx_packets $rx, rx_drop_no_recv_wqe $no_wqe"
  assert_eq "$bad_qkey" 0 "engine $addr rx_drop_bad_qkey"
  assert_eq "$misaddressed" 0 "engine $addr rx_drop_misaddressed"
  assert_engine_alive "$addr"
done

# "    bw  =  1.23 GB/sec", "    latency  =  45.6 us", "    send_bw = ...";
# qperf groups thousands: "send_bw  =  1,000 MB/sec".
python3 - "$LOG_DIR/qp.client.log" "$test_name $mode" "${#tests[@]}" <<'EOF' || fail "qperf: implausible or missing results (above)"
import re, sys
scale_bw = {"bytes/sec": 1, "KB/sec": 1e3, "MB/sec": 1e6, "GB/sec": 1e9, "TB/sec": 1e12}
scale_lat = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "sec": 1.0}
text = open(sys.argv[1]).read()
NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"
figures, errors = [], []
for name, value, unit in re.findall(r"^\s*(\w*bw|latency|msg_rate)\s*=\s*" + NUMBER + r"\s*(\S+)", text, re.M):
    v = float(value.replace(",", ""))
    figures.append(f"{name} {value} {unit}")
    if name.endswith("bw"):
        bps = v * scale_bw.get(unit, float("nan")) * 8
        if not 0 < bps < 1000e9:
            errors.append(f"{name} = {value} {unit} is not in (0, 1000 Gb/s)")
    elif name == "latency":
        s = v * scale_lat.get(unit, float("nan"))
        if not 0 < s < 1:
            errors.append(f"latency = {value} {unit} is not in (0, 1 s)")
    elif not v > 0:
        errors.append(f"{name} = {value} {unit} is not > 0")
# Per test: a receiver cannot get more than was sent (UD may get less).
for block in re.split(r"^\w+:\s*$", text, flags=re.M)[1:]:
    bw = {n: float(v.replace(",", "")) * scale_bw.get(u, float("nan"))
          for n, v, u in re.findall(r"^\s*(send_bw|recv_bw)\s*=\s*" + NUMBER + r"\s*(\S+)", block, re.M)}
    if len(bw) == 2 and not bw["recv_bw"] <= 1.1 * bw["send_bw"]:
        errors.append(f"recv_bw {bw['recv_bw']:.3g} B/s exceeds send_bw {bw['send_bw']:.3g} B/s")
tests_run = len(re.findall(r"^\w+:\s*$", text, re.M))
if tests_run < int(sys.argv[3]):
    errors.append(f"{tests_run} of {sys.argv[3]} tests printed their results")
if not figures:
    errors.append("no bw/latency figure in the output")
for e in errors:
    print(f"qperf {sys.argv[2]}: {e}", file=sys.stderr)
print(f"RESULT qperf {sys.argv[2]}: " + ", ".join(figures))
sys.exit(1 if errors else 0)
EOF
