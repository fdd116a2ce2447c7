#!/usr/bin/env bash
# The RX path's memory does not grow with QPs (FlexiNS paper technique (b),
# a small shared buffer pool): ib_write_bw with 1 QP and with N QPs (default
# 1024; BOUNDED_RX_QPS) both complete, each engine held all N QPs at once
# (its qps_peak), both report the same rx_buffer_bytes_peak after either,
# and the engine's own memory (RssAnon: heap and stacks, sampled while the
# QPs exist) grows by less than MAX_KIB_PER_QP per QP. Applications' rings
# and registered memory, which the engine maps (RssShmem), are the
# applications' and are only logged.
#
# The bound: an engine QP is its transport state (transport::Qp and its
# tables) plus the worker's and the session's map entries; measured, about
# 7 KiB per QP (1 -> 1024 QPs: RssAnon +7 MiB). 16 KiB leaves room for
# allocator slack and still catches any per-QP buffer: the rx-per-qp
# ablation's ring alone is 256 KiB per QP.
#
# With `--ablate rx-per-qp` (measurement only: a large ring per QP) the same
# comparison shows rx_buffer_bytes_peak growing with the QPs, so this check
# can fail.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/perftest_pair.sh
source "$LIB_DIR/perftest_pair.sh"

qps=${BOUNDED_RX_QPS:-1024}
MAX_KIB_PER_QP=16
CMD_TIMEOUT_S=90
# 64 KiB messages, 5 per QP: 16 packets each at MTU 4096. (The engine's
# memory per QP also holds the QP's outstanding work requests: with -n 20,
# about 18 KiB a QP.) Most of the run is perftest registering and
# connecting; all 1024 QPs exist for only a few of the 0.2 s samples.
bw_args=(-s 65536 -n 5)

start_engine "$ADDR_A"
start_engine "$ADDR_B"
engines=("$ADDR_A" "$ADDR_B")

declare -A peak1 anon1
bw_run q1 "$ADDR_B" "$ADDR_A" "$PORT_BASE" ib_write_bw -q 1 "${bw_args[@]}"
for addr in "${engines[@]}"; do
  peak1[$addr]=$(stat_get "$addr" rx_buffer_bytes_peak)
  now=$(stat_get "$addr" rss_anon_kib)
  sampled=$(sample_max q1 "$addr" rss_anon_kib)
  anon1[$addr]=$((now > sampled ? now : sampled))
done

t0=$SECONDS
bw_run qN "$ADDR_B" "$ADDR_A" $((PORT_BASE + 1)) ib_write_bw -q "$qps" "${bw_args[@]}"
log "ib_write_bw -q $qps ran $((SECONDS - t0)) s"
for addr in "${engines[@]}"; do
  peakN=$(stat_get "$addr" rx_buffer_bytes_peak)
  qps_peak=$(stat_get "$addr" qps_peak)
  # RssAnon while all the QPs existed; should every sample have missed that
  # window (a very slow machine), after the run: freed heap mostly stays.
  anonN=$(sample_max qN "$addr" rss_anon_kib qps "$qps")
  when="with $qps QPs"
  if ((anonN == 0)); then
    anonN=$(stat_get "$addr" rss_anon_kib)
    when="after the run (no sample caught all $qps QPs)"
  fi
  shmem=$(sample_max qN "$addr" rss_shmem_kib)
  hwm=$(stat_get "$addr" vm_hwm_kib)
  log "engine $addr: rx_buffer_bytes_peak ${peak1[$addr]} (1 QP) / $peakN ($qps QPs);" \
    "RssAnon ${anon1[$addr]} KiB / $anonN KiB $when; RssShmem $shmem KiB; VmHWM $hwm KiB; qps_peak $qps_peak"
  assert_eq "$qps_peak" "$qps" "engine $addr: the most QPs held at once"
  assert_eq "$peakN" "${peak1[$addr]}" "engine $addr: rx_buffer_bytes_peak with $qps QPs vs 1 QP"
  growth=$((anonN - anon1[$addr]))
  log "engine $addr: RssAnon growth $growth KiB for $((qps - 1)) more QPs"
  assert_lt "$growth" $((MAX_KIB_PER_QP * (qps - 1))) "engine $addr: RssAnon growth (KiB) for $((qps - 1)) QPs"
done

# The naive counterpart, on two more addresses of this test's slot: 256 QPs
# (256 rings of 256 KiB: 64 MiB per engine) are plenty to see it.
addr_c=127.0.$TEST_SLOT.3
addr_d=127.0.$TEST_SLOT.4
start_engine "$addr_c" --ablate rx-per-qp
start_engine "$addr_d" --ablate rx-per-qp
bw_run ablated-q1 "$addr_d" "$addr_c" $((PORT_BASE + 2)) ib_write_bw -q 1 "${bw_args[@]}"
ablated1=$(stat_get "$addr_d" rx_buffer_bytes_peak)
bw_run ablated-q256 "$addr_d" "$addr_c" $((PORT_BASE + 3)) ib_write_bw -q 256 "${bw_args[@]}"
ablated256=$(stat_get "$addr_d" rx_buffer_bytes_peak)
log "engine $addr_d (--ablate rx-per-qp): rx_buffer_bytes_peak $ablated1 (1 QP) / $ablated256 (256 QPs)"
assert_gt "$(((ablated256 - ablated1) / 255))" $((64 << 10)) "rx_buffer_bytes_peak growth per QP with --ablate rx-per-qp"
