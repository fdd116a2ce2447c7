# shellcheck shell=bash
# Helpers for the congestion-control tests: `flexins qp list` as data.
# Sourced after lib.sh.

# qp_list_json ADDR: `flexins qp list --json` of the engine, on stdout.
qp_list_json() {
  timeout 10 "$FLEXINS" qp list --ip "$1" --json || fail "flexins qp list --ip $1 failed"
}

# qp_field ADDR EXPR: evaluate a python EXPR over `qps` (the list of QP
# objects of `flexins qp list --json`) and print the result.
qp_field() {
  qp_list_json "$1" | python3 -c '
import json, sys
qps = json.load(sys.stdin)["qps"]
print(eval(sys.argv[1]))' "$2" || fail "cannot evaluate '$2' over the QPs of $1"
}

# qp_get ADDR QPN KEY...: the QP's values of KEYs (a dotted path such as
# stats.tx_bytes), space-separated on one line ("None" for null); fails if
# there is no such QP.
qp_get() {
  local addr=$1 qpn=$2
  shift 2
  qp_list_json "$addr" | python3 -c '
import json, sys
qpn, keys = int(sys.argv[1]), sys.argv[2:]
qp = [q for q in json.load(sys.stdin)["qps"] if q["qpn"] == qpn]
if not qp:
    sys.exit(f"no QP {qpn}")
def get(obj, path):
    for part in path.split("."):
        obj = obj[part]
    return obj
print(" ".join(str(get(qp[0], k)) for k in keys))' "$qpn" "$@" || fail "QP $qpn of $addr: cannot read $*"
}

# wait_rts_qp ADDR SECONDS: wait until the engine has an RC QP in RTS.
wait_rts_qp() {
  local deadline=$((SECONDS + $2))
  until [[ $(qp_field "$1" 'sum(q["type"] == "RC" and q["state"] == "RTS" for q in qps)') -gt 0 ]]; do
    ((SECONDS < deadline)) || fail "no RC QP in RTS on $1 after $2 s"
    sleep 0.1
  done
}
