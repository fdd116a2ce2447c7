#!/usr/bin/env bash
# cpu_of.sh OUT CMD...: run CMD, then write to OUT the CPU time (user and
# system clock ticks) CMD and every process it waited for used, and exit with
# CMD's status. The times come from this shell's cutime/cstime in
# /proc/PID/stat (fields 16 and 17), which the kernel fills in as children are
# reaped; so `timeout`, `flexins run` and `stdbuf`, which exec or wait for
# their child, pass the application's time up to here.
out=${1:?usage: cpu_of.sh OUT CMD...}
shift
status=0
"$@" || status=$?
read -r stat </proc/$$/stat
# shellcheck disable=SC2206  # split the fields on purpose
fields=(${stat##*) })  # after "pid (comm) ": state is field 3, so index = field - 3
echo "utime=${fields[13]} stime=${fields[14]}" >"$out"
exit "$status"
