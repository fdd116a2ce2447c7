#!/usr/bin/env bash
# ibv_devinfo and ibv_devices, unmodified, see a FlexiNS device: an active
# Ethernet port whose GID 0 is the engine's IPv4 address as RoCE v2, and whose
# LID is that address's low 16 bits.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

start_engine "$ADDR_A"

over "$ADDR_A" ibv_devinfo -v
run_cmd devinfo "${OVER[@]}" || { show_log devinfo; fail "ibv_devinfo -v exited non-zero"; }
show_log devinfo
assert_log_matches devinfo '^hca_id:[[:space:]]*[[:alnum:]_]+'
assert_log_matches devinfo 'state:[[:space:]]*PORT_ACTIVE'
assert_log_matches devinfo 'link_layer:[[:space:]]*Ethernet'
addr_re=${ADDR_A//./\\.}
assert_log_matches devinfo "GID\\[ *0\\]:[[:space:]]*::ffff:$addr_re, RoCE v2"
# FlexiNS's LID (src/pipe/lid.h): the address's low 16 bits (decimal here).
assert_log_matches devinfo "port_lid:[[:space:]]*$(((TEST_SLOT << 8) | 1))\$"

device=$(sed -n 's/^hca_id:[[:space:]]*\([[:alnum:]_]*\).*/\1/p' "$LOG_DIR/devinfo.log" | head -n 1)
log "device: $device"

over "$ADDR_A" ibv_devices
run_cmd devices "${OVER[@]}" || { show_log devices; fail "ibv_devices exited non-zero"; }
show_log devices
assert_log_matches devices "^[[:space:]]+${device}[[:space:]]"
