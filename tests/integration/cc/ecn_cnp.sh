#!/usr/bin/env bash
# DCQCN end to end on real engines (RoCEv2 annex A17.9): a congested path
# marks the requester's packets ECN-CE (the fault injector on A's engine,
# --inject ecn=P, stands for the switch); B's engine, the notification
# point, answers with CNPs; A's, the reaction point, cuts the QP's rate.
# ib_write_bw runs to the end with correct status while that happens, and
# `flexins qp list` shows it: the policy, the rate below line rate, the CNPs.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/integration/cc/qp_list.sh
source "$LIB_DIR/cc/qp_list.sh"
# shellcheck source=tests/integration/perftest_pair.sh
source "$LIB_DIR/perftest_pair.sh"

line=20e9
start_engine "$ADDR_A" --cc "dcqcn,line_rate_bps=$line" --inject ecn=0.2,seed=3
start_engine "$ADDR_B"
bw_start write "$ADDR_B" "$ADDR_A" "$PORT_BASE" ib_write_bw -s 65536 -D 3

# While it runs: the client's QP under DCQCN, cut below line rate by CNPs.
samples=$RUN_DIR/qp-samples.jsonl
wait_rts_qp "$ADDR_A" 15
while pid_alive "$CLIENT_PID"; do
  timeout 5 "$FLEXINS" qp list --ip "$ADDR_A" --json >>"$samples" 2>/dev/null || true
  sleep 0.1
done
bw_finish write
show_log write.client
bw=$(awk '/^ *65536 /{print $4; exit}' "$LOG_DIR/write.client.log")
[[ -n $bw ]] || fail "no 64 KiB result line in ib_write_bw's output"
log "ib_write_bw 64 KiB under DCQCN with 20 % of packets marked: $bw MB/s (BW average)"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$bw" || fail "zero bandwidth"

# The counters of both engines.
marked=$(stat_get "$ADDR_A" inject_ecn_marked)
ce=$(stat_get "$ADDR_B" rx_ecn_ce)
cnp_tx=$(stat_get "$ADDR_B" cnps_sent)
cnp_rx=$(stat_get "$ADDR_A" cnps_received)
log "A marked $marked packets CE; B saw $ce CE requests and sent $cnp_tx CNPs; A received $cnp_rx"
assert_gt "$marked" 0 "packets the injector marked CE"
assert_gt "$ce" 0 "CE-marked requests at the notification point"
assert_gt "$cnp_tx" 0 "CNPs sent by the notification point"
assert_le "$cnp_tx" "$ce" "CNPs sent (at most one per CE-marked request)"
assert_gt "$cnp_rx" 0 "CNPs received by the reaction point"
assert_le "$cnp_rx" "$cnp_tx" "CNPs received (B sent them)"

# What `flexins qp list` showed during the run.
python3 - "$samples" "$line" <<'PY' || fail "the QP samples do not show DCQCN at work (above)"
import json, sys
line = float(sys.argv[2])
rows = [q for l in open(sys.argv[1]) if l.strip() for q in json.loads(l)["qps"] if q["type"] == "RC"]
assert rows, "no RC QP was listed during the run"
assert all(q["cc"] == "dcqcn" for q in rows), "a QP without the engine's --cc policy"
cut = [q for q in rows if q["cc_rate_bps"] is not None]
assert cut, "the rate was never below line rate"
assert all(0 < q["cc_rate_bps"] < line for q in cut), "a rate out of (0, line rate)"
assert max(q["stats"]["cnps_received"] for q in rows) > 0, "no CNP counted on the QP"
print(f"{len(rows)} samples; lowest rate {min(q['cc_rate_bps'] for q in cut) / 1e9:.3g} Gb/s; "
      f"CNPs on the QP {max(q['stats']['cnps_received'] for q in rows)}")
PY
