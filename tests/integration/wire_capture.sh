#!/usr/bin/env bash
# What FlexiNS puts on the wire, read by tools that are not FlexiNS: tshark
# captures an ibv_rc_pingpong on lo and must dissect every packet as RoCE
# (InfiniBand BTH over UDP 4791) with the fields as sent, and an independent
# ICRC computation (zlib, over the real IP header the kernel wrote) must agree
# with every packet's ICRC.
#   wire_capture.sh [gid|lid]
# gid (the default): ibv_rc_pingpong -g 0, paths through a GRH; lid: no -g,
# paths by the peer's LID alone (FlexiNS's LID routing, src/pipe/lid.h),
# which must leave as the same ordinary RoCEv2.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

case ${1:-gid} in
  gid) path_args=(-g 0) ;;
  lid) path_args=() ;;
  *) fail "usage: wire_capture.sh [gid|lid]" ;;
esac

command -v tshark >/dev/null || fail "tshark is not installed (scripts/setup.sh installs it)"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

cap=$RUN_DIR/roce.pcap
start_bg tshark 60 tshark -i lo -F pcap -w "$cap" -f "udp port 4791 and host $ADDR_A"
tshark_pid=$LAST_PID
wait_log tshark "Capturing on" 20 || fail "tshark did not start capturing"
sleep 0.5

# 5000 bytes at MTU 1024: SEND First, Middle and Last packets, plus ACKs.
pingpong pp "$ADDR_B" "$ADDR_A" "$PORT_BASE" "${path_args[@]}" -c -m 1024 -s 5000 -n 20
assert_pingpong_ok pp 5000 20
sleep 0.5
kill -INT "$tshark_pid" 2>/dev/null
wait_pid "$tshark_pid" || true
[[ -s $cap ]] || fail "no capture written"

summary=$(python3 "$LIB_DIR/check_capture.py" "$cap") || fail "ICRC mismatch in capture: $summary"
log "capture: $summary"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$summary" "$1"; }
packets=$(field packets)
assert_gt "$packets" 80 "RoCE packets captured"
# UDP GSO sends several packets in one datagram, which lo carries whole.
assert_gt "$(field gso_datagrams)" 0 "captured datagrams holding a GSO group"
assert_eq "$(field ip_id_nonzero)" 0 "datagrams with IP ID != 0 (the UDP backend relies on ID 0 + segment index for the ICRC)"
opcodes=$(python3 -c 'import json,sys; print(" ".join(str(int(k, 16)) for k in json.loads(sys.argv[1])["opcodes"]))' "$summary")
for op in 0 1 2 17; do  # SEND First, Middle, Last; Acknowledge
  [[ " $opcodes " == *" $op "* ]] || fail "no packet with BTH opcode $op in the capture (saw: $opcodes)"
done

# tshark sees each captured datagram (a GSO group's first BTH heads it).
fields=$RUN_DIR/fields.txt
tshark -r "$cap" -T fields -E separator=, -e infiniband.bth.opcode -e infiniband.bth.destqp \
  -e infiniband.bth.psn -e infiniband.bth.tver -e infiniband.bth.p_key >"$fields" 2>/dev/null
malformed=$(tshark -r "$cap" -Y '_ws.malformed || _ws.expert.severity == error' 2>/dev/null | wc -l)
assert_eq "$malformed" 0 "packets tshark calls malformed"
decoded=$(grep -c '^[0-9]' "$fields" || true)
assert_eq "$decoded" "$(field datagrams)" "datagrams tshark dissects as InfiniBand BTH"
bad_hdr=$(awk -F, '$4 != 0 || $5 != 65535' "$fields" | wc -l)
assert_eq "$bad_hdr" 0 "packets with TVer != 0 or P_Key != 0xffff"
log "tshark dissected $decoded RoCE datagrams holding $packets packets; opcodes seen: $opcodes"
