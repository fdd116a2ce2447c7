#!/usr/bin/env bash
# Run-time control (issue 6): the policy of a live QP under ib_write_bw is
# changed from the command line, several times, and each change shows in
# the engine at once, with no error in the application:
#   none -> fixed_rate (the in-tree example plug-in, loaded with --plugin)
#        at 200 Mb/s: the QP's bytes now grow at that pace, not faster;
#   -> a parameter of the live plug-in (400 Mb/s): the rate follows;
#   -> swift: the QP reports Swift and takes RTT samples.
# Refused changes (unknown policy, bad parameter, no such QP) say why and
# change nothing.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/cc/qp_list.sh
source "$LIB_DIR/cc/qp_list.sh"
# shellcheck source=tests/integration/perftest_pair.sh
source "$LIB_DIR/perftest_pair.sh"
plugin=$FLEXINS_BUILD_DIR/lib/cc-plugins/fixed_rate.so
[[ -f $plugin ]] || fail "the example plug-in was not built: $plugin"

start_engine "$ADDR_A" --plugin "$plugin"
start_engine "$ADDR_B"
# Long enough for every step below on a loaded 2-core machine.
bw_start write "$ADDR_B" "$ADDR_A" "$PORT_BASE" ib_write_bw -s 65536 -D 30
wait_rts_qp "$ADDR_A" 15
qpn=$(qp_field "$ADDR_A" '[q["qpn"] for q in qps if q["type"] == "RC"][0]')
assert_eq "$(qp_get "$ADDR_A" "$qpn" cc)" none "the engine's default policy"
changes0=$(stat_get "$ADDR_A" cc_changes)

# qp_set ARGS...: `flexins qp set --ip A ARGS`, which must succeed.
qp_set() {
  local out
  out=$(timeout 10 "$FLEXINS" qp set --ip "$ADDR_A" "$@" 2>&1) || fail "flexins qp set $* failed: $out"
  log "qp set $*: $out"
  [[ $out == "changed 1 QP" ]] || fail "qp set $*: expected 'changed 1 QP', got '$out'"
}
# qp_set_refused REGEX ARGS...: it must fail, saying REGEX.
qp_set_refused() {
  local re=$1 out
  shift
  if out=$(timeout 10 "$FLEXINS" qp set --ip "$ADDR_A" "$@" 2>&1); then fail "qp set $* should have been refused: $out"; fi
  log "qp set $* refused: $out"
  [[ $out =~ $re ]] || fail "qp set $*: expected a message matching /$re/, got '$out'"
}

# none -> the plug-in at 200 Mb/s: 25 MB/s at most (plus the pacer's burst).
qp_set "$qpn" cc=fixed_rate rate_bps=2e8
assert_eq "$(qp_get "$ADDR_A" "$qpn" cc cc_rate_bps)" "fixed_rate 200000000" "policy and rate after the change"
sleep 0.3  # what was in flight before the change drains
# Each reading was taken at some moment between the clock readings around
# its command (which a loaded machine can slow); the rate over the widest
# interval that can hold both readings is the one that must stay paced.
t0=$(date +%s%N)
b0=$(qp_get "$ADDR_A" "$qpn" stats.tx_bytes)
sleep 1.5
b1=$(qp_get "$ADDR_A" "$qpn" stats.tx_bytes)
t1=$(date +%s%N)
paced=$(((b1 - b0) * 1000000000 / (t1 - t0)))
log "at 200 Mb/s the QP sent $paced bytes/s"
assert_gt "$paced" 0 "bytes/s sent while paced (the transfer goes on)"
assert_lt "$paced" $((25000000 * 13 / 10)) "bytes/s sent while paced at 200 Mb/s (25 MB/s, +30 %)"

# A parameter of the live plug-in.
qp_set "$qpn" rate_bps=4e8
assert_eq "$(qp_get "$ADDR_A" "$qpn" cc_rate_bps)" 400000000 "rate after rate_bps=4e8"
show=$(timeout 10 "$FLEXINS" qp show --ip "$ADDR_A" "$qpn") || fail "flexins qp show failed"
echo "$show"
[[ $show =~ rate_bps\ +4e\+08 ]] || fail "qp show does not list rate_bps 4e+08"

# Refused: nothing changes.
qp_set_refused "unknown policy 'nosuch'" "$qpn" cc=nosuch
qp_set_refused "out of range" "$qpn" rate_bps=5
qp_set_refused "no QP 16777215" 16777215 cc=none
qp_set_refused "not a QPN" twelve cc=none
assert_eq "$(qp_get "$ADDR_A" "$qpn" cc_rate_bps)" 400000000 "rate after refused changes"

# -> swift: RTT samples from the QP's ACKs.
qp_set all cc=swift
sleep 1
read -r cc rtt < <(qp_get "$ADDR_A" "$qpn" cc last_rtt_ns)
assert_eq "$cc" swift "policy after cc=swift"
log "swift: last RTT sample $rtt ns"
assert_gt "$rtt" 0 "an RTT sample under swift"
assert_eq "$(stat_get "$ADDR_A" cc_changes)" $((changes0 + 3)) "cc_changes (three accepted changes)"

bw_finish write
show_log write.client
assert_log_matches write.client "^ *65536 +[0-9]+ +[0-9.]+ +[0-9.]+"
