#!/usr/bin/env bash
# What each FlexiNS technique buys: the same run over default engines and
# over engines with one ablation (`flexins daemon --ablate`, measurement
# only). A benchmark, not a test: it prints figures and checks nothing but
# that the runs complete. Figures on a shared 2-core machine are noisy.
#
#   FLEXINS_TEST_SLOT=N bash scripts/ablation_bench.sh
#
#   tx-copy           ib_write_bw, 64 KiB, 1 QP          (MB/s)
#   rx-per-qp         ib_write_bw, 64 KiB, 256 QPs       (MB/s, rx_buffer_bytes_peak, VmHWM)
#   doorbell-syscall  ibv_rc_pingpong, 64 B, polling     (usec/iter)
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../tests/integration/lib.sh"
# shellcheck source=tests/integration/perftest_pair.sh
source "$LIB_DIR/perftest_pair.sh"
CMD_TIMEOUT_S=180

host=0
port=$PORT_BASE
# engines ABLATION: start a fresh pair (ABLATION "" for none); sets SRV, CLI.
engines() {
  local -a opt=()
  [[ -n $1 ]] && opt=(--ablate "$1")
  SRV=127.0.$TEST_SLOT.$((host + 1))
  CLI=127.0.$TEST_SLOT.$((host + 2))
  host=$((host + 2))
  start_engine "$SRV" "${opt[@]}"
  start_engine "$CLI" "${opt[@]}"
  port=$((port + 1))
}

bw_figure() { awk '$1 == 65536 && NF >= 5 { print $4 }' "$LOG_DIR/$1.client.log" | tail -1; }

for abl in "" tx-copy; do
  engines "$abl"
  bw_run "copy${abl:+-$abl}" "$SRV" "$CLI" "$port" ib_write_bw -s 65536 -n 5000
  echo "BENCH ib_write_bw 64KiB q1 ablate=${abl:-none}: $(bw_figure "copy${abl:+-$abl}") MB/s," \
    "tx_payload_bytes_copied $(stat_get "$CLI" tx_payload_bytes_copied)"
done
for abl in "" rx-per-qp; do
  engines "$abl"
  bw_run "rx${abl:+-$abl}" "$SRV" "$CLI" "$port" ib_write_bw -q 256 -s 65536 -n 40
  echo "BENCH ib_write_bw 64KiB q256 ablate=${abl:-none}: $(bw_figure "rx${abl:+-$abl}") MB/s," \
    "rx_buffer_bytes_peak $(stat_get "$SRV" rx_buffer_bytes_peak), VmHWM $(stat_get "$SRV" vm_hwm_kib) KiB"
done
for abl in "" doorbell-syscall; do
  engines "$abl"
  pingpong "pp${abl:+-$abl}" "$SRV" "$CLI" "$port" -g 0 -s 64 -n 20000
  assert_pingpong_ok "pp${abl:+-$abl}" 64 20000
  echo "BENCH ibv_rc_pingpong 64B ablate=${abl:-none}:" \
    "$(grep -oE '[0-9.]+ usec/iter' "$LOG_DIR/pp${abl:+-$abl}.client.log")"
done
