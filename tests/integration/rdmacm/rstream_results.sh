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
    # Every figure positive: the transfers took time and moved bytes.
    grep -E "$result" "$log_file" | awk -v who="$tool $side" '
      { t = $6; sub(/s$/, "", t)
        if (!(t + 0 > 0 && $7 + 0 > 0 && $8 + 0 > 0)) { print who ": implausible line: " $0; bad = 1 } }
      END { exit bad }' || fail "$tool $side printed a non-positive figure"
    if grep -Eiq 'error|fail|refused|reset|verification' "$log_file"; then
      fail "$tool $side reported an error (see the logs above)"
    fi
  done
}
