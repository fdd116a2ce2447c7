#!/usr/bin/env bash
# `flexins stat --json` prints one JSON object holding every required counter
# as a non-negative integer; after a pingpong the packet counters moved and
# the TX path copied no payload (header-only TX, DESIGN.md technique (a)).
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"

check_stat() {  # ADDR FILE
  stat_json "$1" "$2"
  python3 - "$2" <<'PY' || fail "flexins stat --json output is not what it should be (above)"
import json, sys
text = open(sys.argv[1]).read()
print(text)
obj = json.loads(text)  # raises on anything but exactly one JSON value
assert isinstance(obj, dict), "not a JSON object"
required = ["tx_packets", "rx_packets", "tx_bytes", "rx_bytes",
            "retransmitted_packets", "rx_drop_bad_icrc", "rx_drop_unknown_qp",
            "rx_drop_malformed", "rx_drop_bad_key", "tx_payload_bytes_copied"]
missing = [k for k in required if k not in obj]
assert not missing, f"missing keys: {missing}"
for k in required:
    v = obj[k]
    assert isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"{k} = {v!r}"
PY
}

check_stat "$ADDR_A" "$RUN_DIR/idle.json"
assert_eq "$(json_get "$RUN_DIR/idle.json" tx_packets)" 0 "tx_packets of an idle engine"

iters=100
pingpong pp "$ADDR_B" "$ADDR_A" "$PORT_BASE" -g 0 -c -s 4096 -n "$iters"
assert_pingpong_ok pp 4096 "$iters"

for addr in "$ADDR_A" "$ADDR_B"; do
  f=$RUN_DIR/after-$addr.json
  check_stat "$addr" "$f"
  assert_gt "$(json_get "$f" tx_packets)" "$iters" "engine $addr tx_packets"
  assert_gt "$(json_get "$f" rx_packets)" "$iters" "engine $addr rx_packets"
  assert_gt "$(json_get "$f" tx_bytes)" $((4096 * iters)) "engine $addr tx_bytes"
  assert_eq "$(json_get "$f" tx_payload_bytes_copied)" 0 "engine $addr tx_payload_bytes_copied"
done
