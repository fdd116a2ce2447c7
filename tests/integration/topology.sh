# shellcheck shell=bash disable=SC2034  # (variables used by the tests that source this)
# Hosts in network namespaces, for the integration tests. Sourced after lib.sh:
#
#   source "$(dirname "$0")/../lib.sh"
#   source "$(dirname "$0")/../topology.sh"
#   topo_create a b              # two hosts joined by a veth pair
#   topo_start_engines           # one engine per host, inside its namespace
#   ns_run a ibv_devinfo         # a command on host a, over FlexiNS
#
# Each host is a network namespace named fx-<pid>-<host> (unique per test
# run) with lo up and one interface (MTU 1500, like Ethernet) addressed
# 198.18.SLOT.N/24 — RFC 2544's benchmarking range, used only inside the
# namespaces created here. Two hosts are joined by a veth pair; three or more
# by a bridge living in its own namespace (fx-<pid>-sw). Every interface is
# created directly inside a namespace, so the caller's namespace never gains
# one. Engines' control sockets stay in the test's private FLEXINS_RUN_DIR:
# unix sockets on the filesystem reach across network namespaces.
#
# Cleanup (a lib.sh cleanup hook, so it runs on EXIT/INT/TERM, also after a
# failure): every process left in our namespaces is killed, the namespaces
# are deleted (taking their interfaces with them), and the hook checks that
# `ip netns list` and `ip link` show nothing of ours any more.

TOPO_PREFIX="fx-$$"
TOPO_MTU_BYTES=1500
TOPO_HOSTS=()          # host names, in creation order
TOPO_NETNS=()          # every namespace created (hosts and switch)
declare -A NS_OF=()    # host -> namespace
declare -A ADDR_OF=()  # host -> IPv4 address

# topo_require: skip (not fail) where namespaces cannot be made.
topo_require() {
  command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
  ((EUID == 0)) || skip "network namespaces need root"
  local probe="$TOPO_PREFIX-probe"
  ip netns add "$probe" 2>/dev/null || skip "cannot create a network namespace here"
  ip netns del "$probe"
}

# topo_sweep_stale: delete namespaces a killed test left (fx-PID-* where PID
# no longer runs): SIGKILL (ctest's timeout) gives a test no chance to clean.
topo_sweep_stale() {
  local ns pid
  local -a victims
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ $ns =~ ^fx-([0-9]+)- ]] || continue
    pid=${BASH_REMATCH[1]}
    [[ -d /proc/$pid ]] && continue
    mapfile -t victims < <(ip netns pids "$ns" 2>/dev/null)
    ((${#victims[@]})) && kill -KILL "${victims[@]}" 2>/dev/null
    ip netns del "$ns" 2>/dev/null && log "removed stale namespace $ns"
  done
  return 0
}

# topo_netns_add NS: create NS (tracked for cleanup) with lo up.
topo_netns_add() {
  local ns=$1
  ip netns add "$ns" || fail "ip netns add $ns failed (left over from an earlier run?)"
  TOPO_NETNS+=("$ns")
  ip -n "$ns" link set lo up || fail "cannot bring lo up in $ns"
}

# topo_create HOST...: one namespace per HOST, joined into one /24.
topo_create() {
  (($# >= 2)) || fail "topo_create: need two or more hosts"
  topo_require
  topo_sweep_stale
  local host i=0
  for host in "$@"; do
    [[ $host =~ ^[a-z0-9]{1,6}$ ]] || fail "topo_create: host name '$host' must be 1-6 of [a-z0-9]"
    [[ -z ${NS_OF[$host]:-} ]] || fail "topo_create: host '$host' given twice"
    i=$((i + 1))
    ((i < 250)) || fail "topo_create: too many hosts"
    NS_OF[$host]="$TOPO_PREFIX-$host"
    ADDR_OF[$host]="198.18.$TEST_SLOT.$i"
    TOPO_HOSTS+=("$host")
    topo_netns_add "${NS_OF[$host]}"
  done
  if (($# == 2)); then
    local a=$1 b=$2
    # Interface names need only be unique inside their namespace.
    ip link add "to-$b" netns "${NS_OF[$a]}" mtu "$TOPO_MTU_BYTES" type veth \
      peer name "to-$a" netns "${NS_OF[$b]}" mtu "$TOPO_MTU_BYTES" ||
      fail "cannot create the veth pair $a <-> $b"
    topo_addr_up "$a" "to-$b"
    topo_addr_up "$b" "to-$a"
  else
    local sw="$TOPO_PREFIX-sw"
    topo_netns_add "$sw"
    ip -n "$sw" link add br0 mtu "$TOPO_MTU_BYTES" type bridge || fail "cannot create the bridge in $sw"
    ip -n "$sw" link set br0 up
    for host in "$@"; do
      ip link add to-sw netns "${NS_OF[$host]}" mtu "$TOPO_MTU_BYTES" type veth \
        peer name "p-$host" netns "$sw" mtu "$TOPO_MTU_BYTES" ||
        fail "cannot create the veth pair $host <-> switch"
      ip -n "$sw" link set "p-$host" master br0 up || fail "cannot attach $host to the bridge"
      topo_addr_up "$host" to-sw
    done
  fi
  local h
  for h in "${TOPO_HOSTS[@]}"; do log "host $h: namespace ${NS_OF[$h]}, address ${ADDR_OF[$h]}"; done
}

# topo_addr_up HOST IFACE: address and raise HOST's interface.
topo_addr_up() {
  local ns=${NS_OF[$1]}
  ip -n "$ns" addr add "${ADDR_OF[$1]}/24" dev "$2" || fail "cannot address $2 in $ns"
  ip -n "$ns" link set "$2" up || fail "cannot bring $2 up in $ns"
}

# ns_of HOST / addr_of HOST: print a host's namespace / address.
ns_of() { [[ -n ${NS_OF[$1]:-} ]] || fail "no host '$1'"; echo "${NS_OF[$1]}"; }
addr_of() { [[ -n ${ADDR_OF[$1]:-} ]] || fail "no host '$1'"; echo "${ADDR_OF[$1]}"; }

# ns_start_engine HOST [daemon args...]: `flexins daemon` inside HOST's
# namespace; waits (bounded) for its control socket. Pid in ENGINE_PID[ADDR].
ns_start_engine() {
  local host=$1
  shift
  [[ -x $FLEXINS ]] || fail "flexins not built: $FLEXINS"
  local ns addr sock
  ns=$(ns_of "$host")
  addr=$(addr_of "$host")
  sock=$(engine_socket "$addr")
  rm -f "$sock"
  start_session "engine-$addr" ip netns exec "$ns" "$FLEXINS" daemon --ip "$addr" "$@"
  local pid=$LAST_PID
  ENGINE_PID["$addr"]=$pid
  local deadline=$((SECONDS + ENGINE_START_TIMEOUT_S))
  until [[ -S $sock ]]; do
    pid_alive "$pid" || { show_log "engine-$addr"; fail "engine $addr ($ns) exited during start-up"; }
    ((SECONDS < deadline)) || fail "engine $addr ($ns): no socket $sock after ${ENGINE_START_TIMEOUT_S}s"
    sleep 0.05
  done
  log "engine $addr up in $ns (pid $pid)"
}

# topo_start_engines [daemon args...]: an engine on every host.
# shellcheck disable=SC2120  # (the arguments are optional)
topo_start_engines() {
  local host
  for host in "${TOPO_HOSTS[@]}"; do ns_start_engine "$host" "$@"; done
}

# ns_over HOST CMD...: sets OVER to the command line running CMD in HOST's
# namespace over FlexiNS as that host (lib.sh's `over`, inside a namespace).
ns_over() {
  local host=$1 ns addr
  shift
  ns=$(ns_of "$host")
  addr=$(addr_of "$host")
  OVER=(ip netns exec "$ns" "$FLEXINS" run --ip "$addr" -- "$@")
}

# ns_plain HOST CMD...: sets OVER to CMD in HOST's namespace, without FlexiNS.
ns_plain() {
  local host=$1 ns
  shift
  ns=$(ns_of "$host")
  OVER=(ip netns exec "$ns" "$@")
}

# ns_run HOST CMD...: run CMD on HOST over FlexiNS, bounded by CMD_TIMEOUT_S;
# its output goes to LOG_DIR/<host>.<n>.log and to stdout; returns CMD's status.
NS_RUN_COUNT=0
NS_RUN_LOG=
ns_run() {
  local host=$1
  shift
  NS_RUN_COUNT=$((NS_RUN_COUNT + 1))
  NS_RUN_LOG="$host.$NS_RUN_COUNT"
  ns_over "$host" "$@"
  local status=0
  run_cmd "$NS_RUN_LOG" "${OVER[@]}" || status=$?
  show_log "$NS_RUN_LOG"
  return "$status"
}

# ns_pair NAME PORT SERVER_HOST CLIENT_HOST SERVER_ARGV... ::: CLIENT_ARGV...
# lib.sh's run_pair with each half over FlexiNS in its host's namespace; the
# server's listener is looked for in the server's namespace.
ns_pair() {
  local name=$1 port=$2 shost=$3 chost=$4
  shift 4
  local -a server=() client=()
  while (($#)) && [[ $1 != ::: ]]; do
    server+=("$1")
    shift
  done
  (($#)) || fail "ns_pair: missing ':::' between server and client"
  shift
  ns_over "$shost" "${server[@]}"
  server=("${OVER[@]}")
  ns_over "$chost" "$@"
  client=("${OVER[@]}")
  LISTEN_NETNS=$(ns_of "$shost")
  run_pair "$name" "$port" "${server[@]}" ::: "${client[@]}"
  LISTEN_NETNS=
}

# Our namespaces and interfaces still visible (empty when all is clean).
topo_leftovers() {
  ip netns list 2>/dev/null | grep -F -- "$TOPO_PREFIX-" || true
  # A veth whose peer sits in one of our namespaces shows "link-netns fx-PID-…".
  ip -o link show 2>/dev/null | grep -F -- "$TOPO_PREFIX-" || true
}

# Cleanup hook: kill what still runs in our namespaces, delete them, verify.
topo_teardown() {
  ((${#TOPO_NETNS[@]})) || return 0
  local ns pid pids deadline sig
  for sig in TERM KILL; do
    pids=
    for ns in "${TOPO_NETNS[@]}"; do pids+=" $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"; done
    [[ -z ${pids// /} ]] && break
    for pid in $pids; do kill "-$sig" "$pid" 2>/dev/null; done
    deadline=$((SECONDS + KILL_GRACE_S))
    for pid in $pids; do
      while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    done
  done
  for ns in "${TOPO_NETNS[@]}"; do
    ip netns del "$ns" 2>/dev/null || echo "topology: could not delete namespace $ns" >&2
  done
  TOPO_NETNS=()
  local left
  left=$(topo_leftovers)
  if [[ -n $left ]]; then
    echo "topology: left behind after cleanup:" >&2
    echo "$left" >&2
    return 1
  fi
  return 0
}
CLEANUP_HOOKS+=(topo_teardown)
