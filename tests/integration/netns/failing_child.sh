#!/usr/bin/env bash
# Helper of cleanup.sh (not a test by itself): builds a topology, starts
# engines and a server that never gets its client, then fails — or, with
# `wait`, sits until it is killed. Prints its namespace prefix first.
#   failing_child.sh fail|wait
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/topology.sh
source "$(dirname "$0")/../topology.sh"

echo "TOPO_PREFIX=$TOPO_PREFIX"
echo "RUN_DIR=$RUN_DIR"
topo_create a b c
topo_start_engines
ns_over b stdbuf -oL ibv_rc_pingpong -g 0 -p "$PORT_BASE"
start_bg server "$CMD_TIMEOUT_S" "${OVER[@]}"
LISTEN_NETNS=$(ns_of b) wait_listen "$PORT_BASE" "$LAST_PID" || fail "server did not listen"
echo "READY"
case ${1:-fail} in
  fail)
    # A command that fails inside a namespace: the test fails with it.
    ns_run a ibv_rc_pingpong -g 0 -p "$((PORT_BASE + 1))" "$(addr_of c)" ||
      fail "the client found no server, as intended"
    ;;
  wait)
    # In the background: bash runs a trap only between commands.
    sleep 300 &
    wait $!
    ;;
  *) fail "usage: failing_child.sh fail|wait" ;;
esac
