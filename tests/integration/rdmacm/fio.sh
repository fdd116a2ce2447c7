#!/usr/bin/env bash
# Unmodified fio with its rdma engine (RDMA CM connection setup, then RDMA
# WRITE, RDMA READ or SEND/RECV of every block) between two engines.
#   fio.sh write|read|send [MIB]      MIB: the bytes each side moves, in MiB
#
# fio's rdma engine decides the role from the job's direction: the server is
# an rw=read job (it listens), the client an rw=write job that connects to
# --hostname; the verb is the client's. The server listens on INADDR_ANY:
# fio turns a listener's --bindname into an address wrongly (it uses the
# first character of the string), so it gets none. In SEND mode the server
# receives every block into its buffers, so fio verifies the data there
# (verify=crc32c: the client fills each block with a checksummed header, the
# server checks it and fails on a mismatch).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

verb=${1:?usage: fio.sh write|read|send [MIB]}
size_mib=${2:-16}
command -v fio >/dev/null || skip "fio is not installed (Debian package fio)"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

port=$PORT_BASE
# --verify_state_save=0: fio would otherwise leave <job>-verify.state in the
# directory it runs from.
common=(--ioengine=rdma --port="$port" --verb="$verb" --bs=64k --size="${size_mib}m" --verify_state_save=0)
# The server's depth bounds the client's (it offers that many buffers).
server_extra=(--iodepth=16)
client_extra=(--iodepth=4)
if [[ $verb == send ]]; then
  # fio connects with an RNR retry count of 0: a SEND that finds no RECV
  # posted fails the run (as on any RDMA device). fio's advice: keep the
  # receiver's depth well above the sender's.
  server_extra=(--iodepth=16 --verify=crc32c)
  client_extra=(--iodepth=1 --verify=crc32c --do_verify=0)
fi
over "$ADDR_B" stdbuf -oL fio --name=srv --rw=read "${common[@]}" "${server_extra[@]}"
server=("${OVER[@]}")
# fio parses an engine's options only after --ioengine (in common).
over "$ADDR_A" stdbuf -oL fio --name=cli --rw=write "${common[@]}" --hostname="$ADDR_B" --bindname="$ADDR_A" \
  "${client_extra[@]}"
client=("${OVER[@]}")
run_pair fio "$port" "${server[@]}" ::: "${client[@]}"

assert_eq "$SERVER_STATUS" 0 "fio server exit status"
assert_eq "$CLIENT_STATUS" 0 "fio client exit status"
for side in server client; do
  assert_log_matches "fio.$side" "err= 0:"
  if grep -Ei '^fio: |verify: |error=' "$LOG_DIR/fio.$side.log" | grep -qv 'fio: waiting for connection'; then
    fail "fio $side reported an error (see the logs above)"
  fi
done
# "  WRITE: bw=28.5MiB/s (29.9MB/s), ..., io=16.0MiB (16.8MB), run=561-561msec"
bw_of() {  # LOG DIRECTION: the group bandwidth in bytes/s, integer (0 if none)
  python3 - "$1" "$2" <<'EOF'
import re, sys
m = re.search(r"^\s*" + sys.argv[2] + r": bw=([0-9.]+)([KMGT]?i?)B/s", open(sys.argv[1]).read(), re.M)
scale = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
print(int(float(m.group(1)) * scale[m.group(2)]) if m else 0)
EOF
}
client_bw=$(bw_of "$LOG_DIR/fio.client.log" WRITE)
assert_gt "$client_bw" 0 "fio client bandwidth (bytes/s)"
assert_log_matches fio.client "WRITE: bw=.*io=${size_mib}.0MiB"
if [[ $verb == send ]]; then
  # Every block arrived through a RECV and passed fio's verification.
  server_bw=$(bw_of "$LOG_DIR/fio.server.log" READ)
  assert_gt "$server_bw" 0 "fio server (receiver) bandwidth (bytes/s)"
  assert_log_matches fio.server "READ: bw=.*io=${size_mib}.0MiB"
fi
log "RESULT fio $verb: client $((client_bw / 1048576)) MiB/s"
assert_engine_alive "$ADDR_A"
assert_engine_alive "$ADDR_B"
