#!/usr/bin/env bash
# Unmodified qperf between two engines: a server (`qperf -lp PORT`, no test)
# and a client running one RDMA test for a short time:
#
#   qperf.sh loopback|netns TEST [SECONDS]     TEST: rc_bw, rc_lat, ud_bw, ...
#
# TEST may name several tests ("rc_bw rc_lat"): one client runs them in turn,
# each over a new connection, and each must print its figure.
#
# On a RoCE port qperf must connect through the RDMA CM (-cm1): without it,
# it sets no GRH in the QP's address vector, which RoCE cannot route (real
# RoCE NICs refuse it as FlexiNS does). So this needs FlexiNS's
# librdmacm.so.1 and skips (exit 77) until the build has it; UD tests also
# skip while UD QPs cannot be created. The client must exit 0 and print a
# positive bandwidth / a latency in (0, 1 s).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

mode=${1:?usage: qperf.sh loopback|netns TEST [SECONDS]}
test_name=${2:?usage: qperf.sh loopback|netns TEST [SECONDS]}
duration_s=${3:-2}

command -v qperf >/dev/null || skip "qperf is not installed (Debian package qperf)"
[[ -e $FLEXINS_BUILD_DIR/lib/librdmacm.so.1 ]] ||
  skip "qperf on RoCE needs the RDMA CM: FlexiNS's librdmacm.so.1 ($FLEXINS_BUILD_DIR/lib/librdmacm.so.1) is not built"

port=$PORT_BASE
# -lp: the synchronisation port (default 19765), per slot so tests may run
# side by side; -cm1: connect through the RDMA CM.
server_cmd=(stdbuf -oL qperf -lp "$port")
read -ra tests <<<"$test_name"
client_args=(-lp "$port" -cm1 -t "$duration_s" -v "${tests[@]}")

case $mode in
  loopback)
    start_engine "$ADDR_A"
    start_engine "$ADDR_B"
    over "$ADDR_B" "${server_cmd[@]}"
    server=("${OVER[@]}")
    over "$ADDR_A" stdbuf -oL qperf "$ADDR_B" "${client_args[@]}"
    client=("${OVER[@]}")
    start_pair qp "$port" "${server[@]}" ::: "${client[@]}"
    ;;
  netns)
    # shellcheck source=tests/integration/topology.sh
    source "$LIB_DIR/topology.sh"
    topo_create a b
    topo_start_engines
    ns_over b "${server_cmd[@]}"
    server=("${OVER[@]}")
    ns_over a stdbuf -oL qperf "$(addr_of b)" "${client_args[@]}"
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
log "qperf $test_name: client exit $CLIENT_STATUS"

if [[ $test_name == ud_* ]] && ((CLIENT_STATUS != 0)); then
  if grep -qiE 'failed to create QP' "$LOG_DIR/qp.client.log" "$LOG_DIR/qp.server.log"; then
    skip "UD QP creation fails on this build (UD not supported yet)"
  fi
  # qperf 0.4.11 ignores -cm1 for its UD tests and builds the address handle
  # from the peer's LID alone, no GRH: RoCE cannot route that (hardware RoCE
  # NICs and the kernel refuse it with EINVAL too). A qperf limitation.
  if grep -q 'cm1 set but not used' "$LOG_DIR/qp.client.log" &&
    grep -q 'failed to create address handle: Invalid argument' "$LOG_DIR/qp.client.log"; then
    skip "$(qperf --version 2>&1 | head -n 1) runs UD tests without the RDMA CM and without a GRH, which RoCE cannot route"
  fi
fi
assert_eq "$CLIENT_STATUS" 0 "qperf client exit status"
for side in client server; do
  if grep -iE 'failed|error' "$LOG_DIR/qp.$side.log"; then
    fail "qperf $side printed an error (above)"
  fi
done

# "    bw  =  1.23 GB/sec", "    latency  =  45.6 us", "    send_bw = ..."
python3 - "$LOG_DIR/qp.client.log" "$test_name $mode" "${#tests[@]}" <<'EOF' || fail "qperf: implausible or missing results (above)"
import re, sys
scale_bw = {"bytes/sec": 1, "KB/sec": 1e3, "MB/sec": 1e6, "GB/sec": 1e9, "TB/sec": 1e12}
scale_lat = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "sec": 1.0}
text = open(sys.argv[1]).read()
figures, errors = [], []
for name, value, unit in re.findall(r"^\s*(\w*bw|latency|msg_rate)\s*=\s*([0-9.]+)\s*(\S+)", text, re.M):
    v = float(value)
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
