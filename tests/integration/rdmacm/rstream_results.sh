# shellcheck shell=bash
# Checks of an rstream / riostream run, shared by rstream.sh and
# netns_rstream.sh. Sourced after lib.sh.

# assert_rstream_ok NAME TOOL LINES: both sides of run NAME exited 0 and
# printed LINES result lines, every figure positive, and no error message.
assert_rstream_ok() {
  local name=$1 tool=$2 lines=$3 side log_file
  # name bytes xfers iters total time Gb/sec usec/xfer, e.g.
  # "64_lat    64      1       100k    12.2m       1.23s      0.62       6.15"
  local result='^[0-9a-z._]+ +[0-9.]+[kmg]? +[0-9]+[kmb]? +[0-9]+[kmb]? +[0-9.]+[kmg]? +[0-9.]+s +[0-9.]+ +[0-9.]+$'
  assert_eq "$SERVER_STATUS" 0 "$tool server exit status"
  assert_eq "$CLIENT_STATUS" 0 "$tool client exit status"
  for side in server client; do
    log_file="$LOG_DIR/$name.$side.log"
    assert_eq "$(grep -cE "$result" "$log_file")" "$lines" "$tool $side result lines"
    # The transfers took time; Gb/sec agrees with time and bytes moved
    # (iters x xfers x bytes x 2, as the tools count), within the rounding
    # of the printed figures (time to 10 ms, 2 decimals, and k/m/g sizes):
    # a 0.01s run may have taken 5 to 15 ms, a 0.00s run under 5 ms.
    grep -E "$result" "$log_file" | awk -v who="$tool $side" '
      function num(s,   m) {
        m = 1
        if (s ~ /k$/) m = 1024; else if (s ~ /m$/) m = 1024 * 1024; else if (s ~ /g$/) m = 1024 * 1024 * 1024
        if (s ~ /b$/) m = 1e9
        return (s + 0) * m
      }
      { t = $6; sub(/s$/, "", t)
        low = num($5) * 8 / ((t + 0.005) * 1e9) * 0.8 - 0.01
        high = t > 0.005 ? num($5) * 8 / ((t - 0.005) * 1e9) * 1.25 + 0.01 : 1e9
        if ($8 + 0 <= 0 || $7 + 0 < low || $7 + 0 > high) {
          print who ": implausible line (expected " low " to " high " Gb/sec): " $0; bad = 1 } }
      END { exit bad }' || fail "$tool $side printed implausible figures"
    if grep -Eiq 'error|fail|refused|reset|verification' "$log_file"; then
      fail "$tool $side reported an error (see the logs above)"
    fi
  done
}
