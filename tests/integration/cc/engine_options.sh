#!/usr/bin/env bash
# The engine's congestion-control options are checked at start, with
# messages a user can act on: an unknown policy, a bad parameter, a plug-in
# built for another ABI version, a plug-in that does not exist. A good
# plug-in loads and becomes a policy like the built-in ones.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"

plugins=$FLEXINS_BUILD_DIR/lib/cc-plugins
wrong_abi=$FLEXINS_BUILD_DIR/lib/wrong_abi.so
[[ -f $plugins/fixed_rate.so ]] || fail "the example plug-in was not built: $plugins/fixed_rate.so"

# refused NAME REGEX ARGS...: `flexins daemon ARGS` exits non-zero at once,
# printing REGEX, and leaves no engine behind.
refused() {
  local name=$1 re=$2
  shift 2
  local status=0
  run_cmd "$name" "$FLEXINS" daemon --ip "$ADDR_A" "$@" || status=$?
  show_log "$name"
  ((status != 0 && status != 124)) || fail "$name: the engine should have refused to start (status $status)"
  assert_log_matches "$name" "$re"
  [[ ! -S $(engine_socket "$ADDR_A") ]] || fail "$name: a refused engine left its socket"
}

refused unknown-cc "--cc: cc: unknown policy 'nosuch' \(known: dcqcn, none, swift\)" --cc nosuch
refused bad-param "--cc: cc: dcqcn: .*bogus" --cc dcqcn,bogus=1
refused not-a-number "not a number" --cc swift,target_delay_ns=soon
refused missing-plugin "--plugin: .*no-such-plugin.so" --plugin "$RUN_DIR/no-such-plugin.so"
if [[ -f $wrong_abi ]]; then
  refused wrong-abi "--plugin: cc plug-in .*wrong_abi.so: built for cc plug-in ABI version [0-9]+, this engine speaks version [0-9]+" \
    --plugin "$wrong_abi"
else
  log "wrong_abi.so is not built here (unit tests' plug-in): skipping that case"
fi

# A good plug-in: its policy is the default for new QPs and it is listed.
start_engine "$ADDR_A" --plugin "$plugins/fixed_rate.so" --cc fixed_rate,rate_bps=5e8
assert_log_matches "engine-$ADDR_A" "cc fixed_rate,rate_bps=5e8"
