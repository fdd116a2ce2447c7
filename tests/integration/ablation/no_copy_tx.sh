#!/usr/bin/env bash
# Header-only TX (FlexiNS paper technique (a)) copies no payload: after real
# ib_write_bw and ib_send_bw runs (4 KiB and 64 KiB messages) both engines
# sent bytes and tx_payload_bytes_copied is still 0. The same run over
# engines started with `--ablate tx-copy` (measurement only: the naive copy)
# makes the counter grow, so this check can fail.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/perftest_pair.sh
source "$LIB_DIR/perftest_pair.sh"

start_engine "$ADDR_A"
start_engine "$ADDR_B"
port=$PORT_BASE
for size in 4096 65536; do
  bw_run write-$size "$ADDR_B" "$ADDR_A" "$port" ib_write_bw -s "$size" -n 200
  port=$((port + 1))
done
bw_run send-65536 "$ADDR_B" "$ADDR_A" "$port" ib_send_bw -s 65536 -n 200
for addr in "$ADDR_A" "$ADDR_B"; do
  tx=$(stat_get "$addr" tx_bytes)
  copied=$(stat_get "$addr" tx_payload_bytes_copied)
  log "engine $addr: tx_bytes $tx, tx_payload_bytes_copied $copied"
  assert_gt "$tx" 0 "engine $addr tx_bytes"
  assert_eq "$copied" 0 "engine $addr tx_payload_bytes_copied (header-only TX)"
done
assert_gt "$(stat_get "$ADDR_A" tx_bytes)" $((200 * (4096 + 65536) + 200 * 65536)) "client engine tx_bytes"

# The naive counterpart, on two more addresses of this test's slot.
addr_c=127.0.$TEST_SLOT.3
addr_d=127.0.$TEST_SLOT.4
start_engine "$addr_c" --ablate tx-copy
start_engine "$addr_d" --ablate tx-copy
bw_run write-copy "$addr_d" "$addr_c" $((port + 1)) ib_write_bw -s 65536 -n 200
copied=$(stat_get "$addr_c" tx_payload_bytes_copied)
log "engine $addr_c (--ablate tx-copy): tx_payload_bytes_copied $copied"
assert_gt "$copied" $((200 * 65536 - 1)) "tx_payload_bytes_copied with --ablate tx-copy (every payload byte)"
