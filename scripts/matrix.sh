#!/usr/bin/env bash
# The full perftest/qperf matrix over FlexiNS (slow: ~10-20 minutes on 2 cores).
#
#   bash scripts/matrix.sh [--build DIR] [--filter REGEX] [--list]
#
# Every perftest tool x {plain, -a, -q 16, -b, -e (where the tool has them)}
# x {loopback, netns}, then -R (RDMA CM), UD and UC variants, then qperf; each
# case is one run of tests/integration/perftest/perftest.sh (or qperf.sh),
# which checks exit status and plausible figures. Prints a table of
# PASS/FAIL/SKIP with the bandwidth/latency figures, keeps every case's log
# under DIR/matrix/, and exits non-zero if any case FAILed.
#   --build DIR     build tree (default: build/, as scripts/setup.sh makes it)
#   --filter REGEX  only cases whose name matches (e.g. 'netns', 'ib_read_bw')
#   --list          print the case names and exit
set -uo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=$repo_root/build
filter=
list_only=0
while (($#)); do
  case $1 in
    --build) build_dir=$(cd "${2:?--build needs a directory}" && pwd); shift 2 ;;
    --filter) filter=${2:?--filter needs a regex}; shift 2 ;;
    --list) list_only=1; shift ;;
    -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "matrix.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

it_dir=$repo_root/tests/integration/perftest
cases=()   # "name|script|args..." (args split on spaces)

add() { cases+=("$1|$2|$3"); }

# Iterations: enough for a steady figure, few enough for 2 busy cores.
# -a runs 23 sizes up to 8 MiB each: fewer iterations there.
bw_tools=(ib_write_bw ib_read_bw ib_send_bw ib_atomic_bw)
lat_tools=(ib_write_lat ib_read_lat ib_send_lat ib_atomic_lat)
# Which variants each tool accepts (from its --help): a=-a q=-q b=-b e=-e.
declare -A variants=(
  [ib_write_bw]="a q b" [ib_read_bw]="a q b e" [ib_send_bw]="a q b e" [ib_atomic_bw]="q b e"
  [ib_write_lat]="a" [ib_read_lat]="a e" [ib_send_lat]="a e" [ib_atomic_lat]="e"
)
# add_tool TOOL MODE [NAME ARGS]: TOOL plain and with each of its variants;
# NAME (default TOOL) names the cases, ARGS go before the variant's.
add_tool() {
  local tool=$1 mode=$2 name=${3:-$1} args=${4:+$4 }
  add "$name.$mode" perftest.sh "$tool $mode $args-n 1000"
  for v in ${variants[$tool]}; do
    case $v in
      a) add "$name.all.$mode" perftest.sh "$tool $mode $args-a -n 50" ;;
      q) add "$name.q16.$mode" perftest.sh "$tool $mode $args-q 16 -n 200" ;;
      b) add "$name.bidir.$mode" perftest.sh "$tool $mode $args-b -n 1000" ;;
      e) add "$name.events.$mode" perftest.sh "$tool $mode $args-e -n 1000" ;;
    esac
  done
}
for mode in loopback netns; do
  for tool in "${bw_tools[@]}" "${lat_tools[@]}"; do
    add_tool "$tool" "$mode"
  done
done
# Connection through the RDMA CM (needs FlexiNS's librdmacm.so.1; else SKIP).
for mode in loopback netns; do
  for tool in "${bw_tools[@]}" "${lat_tools[@]}"; do
    add "$tool.rdma_cm.$mode" perftest.sh "$tool $mode -R -n 1000"
  done
done
# UD (SKIP while UD QPs cannot be created).
for mode in loopback netns; do
  add "ib_send_bw.ud.$mode" perftest.sh "ib_send_bw $mode -c UD -n 1000"
  add "ib_send_bw.ud.all.$mode" perftest.sh "ib_send_bw $mode -c UD -a -n 200"
  add "ib_send_lat.ud.$mode" perftest.sh "ib_send_lat $mode -c UD -n 1000"
done
# UC: the tools that run it (perftest refuses READ and atomics over UC), with
# their variants; ib_send_bw also for a duration, where the receiver reposts
# as it goes and may drop messages that find no receive WQE (UC's right).
uc_tools=(ib_write_bw ib_send_bw ib_write_lat ib_send_lat)
for mode in loopback netns; do
  for tool in "${uc_tools[@]}"; do
    add_tool "$tool" "$mode" "$tool.uc" "-c UC"
  done
  add "ib_send_bw.uc.duration.$mode" perftest.sh "ib_send_bw $mode -c UC -D 2"
done
# qperf: RC over the RDMA CM (-cm1), then without it (qperf's default, and
# the only way it runs UD): paths are the peer's LID without a GRH, which
# FlexiNS routes (src/pipe/lid.h; see qperf.sh).
for mode in loopback netns; do
  for t in rc_bw rc_lat rc_rdma_write_bw rc_rdma_read_bw; do
    add "qperf.$t.$mode" qperf.sh "$mode $t 2 cm"
  done
  for t in rc_bw rc_lat rc_rdma_write_bw rc_rdma_read_bw ud_bw ud_lat; do
    add "qperf.$t.lid.$mode" qperf.sh "$mode $t 2 lid"
  done
done

selected=()
for c in "${cases[@]}"; do
  name=${c%%|*}
  [[ -z $filter || $name =~ $filter ]] && selected+=("$c")
done
if ((list_only)); then
  for c in "${selected[@]}"; do echo "${c%%|*}: ${c##*|}"; done
  exit 0
fi
((${#selected[@]})) || { echo "matrix.sh: no case matches '$filter'" >&2; exit 2; }

[[ -x $build_dir/bin/flexins && -e $build_dir/lib/libibverbs.so.1 ]] ||
  { echo "matrix.sh: $build_dir is not a built tree (bash scripts/setup.sh)" >&2; exit 2; }
out_dir=$build_dir/matrix
rm -rf "$out_dir"
mkdir -p "$out_dir"
summary=$out_dir/summary.txt

# One slot for every case (they run one after another); far from ctest's.
export FLEXINS_BUILD_DIR=$build_dir FLEXINS_TEST_SLOT=${MATRIX_SLOT:-250}

n_pass=0 n_fail=0 n_skip=0
row() { printf '%-34s %-5s %6s  %s\n' "$@"; }
row CASE RESULT TIME FIGURES | tee "$summary"
started=$SECONDS
for c in "${selected[@]}"; do
  IFS='|' read -r name script args <<<"$c"
  log=$out_dir/$name.log
  t0=$SECONDS
  # shellcheck disable=SC2086  # args are space-separated on purpose
  bash "$it_dir/$script" $args >"$log" 2>&1
  status=$?
  took="$((SECONDS - t0))s"
  case $status in
    0)
      result=PASS n_pass=$((n_pass + 1))
      # The client's figures (the first RESULT line).
      figures=$(sed -n 's/^RESULT [^:]*: //p' "$log" | head -n 1)
      ;;
    77)
      result=SKIP n_skip=$((n_skip + 1))
      figures=$(sed -n 's/^SKIP \[[^]]*\]: //p' "$log" | head -n 1)
      ;;
    *)
      result=FAIL n_fail=$((n_fail + 1))
      figures="exit $status: $(grep -m 1 -E 'ASSERTION FAILED|implausible|error' "$log" | cut -c 1-120) (log: $log)"
      ;;
  esac
  row "$name" "$result" "$took" "$figures" | tee -a "$summary"
done
echo | tee -a "$summary"
echo "$n_pass passed, $n_fail failed, $n_skip skipped of ${#selected[@]} in $((SECONDS - started))s; logs in $out_dir" |
  tee -a "$summary"
((n_fail == 0))
