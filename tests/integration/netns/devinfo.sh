#!/usr/bin/env bash
# ibv_devinfo inside a network namespace: the device's GID is the host's
# namespace address and its active MTU follows the veth's 1500 bytes (1024).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/topology.sh
source "$(dirname "$0")/../topology.sh"

topo_create a b
ns_start_engine a
addr_a=$(addr_of a)

ns_run a ibv_devinfo -v || fail "ibv_devinfo -v exited non-zero in $(ns_of a)"
log_name=$NS_RUN_LOG
assert_log_matches "$log_name" 'state:[[:space:]]*PORT_ACTIVE'
assert_log_matches "$log_name" 'link_layer:[[:space:]]*Ethernet'
assert_log_matches "$log_name" 'active_mtu:[[:space:]]*1024 \(3\)'
assert_log_matches "$log_name" "GID\\[ *0\\]:[[:space:]]*::ffff:${addr_a//./\\.}, RoCE v2"

# The namespace really is another host: the caller's namespace has no such
# address, the namespace has no other non-loopback one.
if ip -o addr show | grep -qF " $addr_a/"; then fail "$addr_a is visible outside $(ns_of a)"; fi
ns_addrs=$(ip -n "$(ns_of a)" -o -4 addr show | awk '{print $4}' | sort | tr '\n' ' ')
assert_eq "$ns_addrs" "127.0.0.1/8 $addr_a/24 " "IPv4 addresses in $(ns_of a)"
