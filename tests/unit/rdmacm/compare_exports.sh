#!/bin/sh
# The replacement must export exactly the versioned symbols of the real
# librdmacm.so.1: rdma-core's tools are linked with BIND_NOW and die before
# main on any missing one.
#   compare_exports.sh OUR_LIB SYSTEM_LIB
set -eu
exports() {
  objdump -T "$1" | awk '$0 ~ /RDMACM_/ && $0 !~ /\*UND\*/ {print $(NF - 1), $NF}' | sort -u
}
ours=$(mktemp)
theirs=$(mktemp)
trap 'rm -f "$ours" "$theirs"' EXIT
exports "$1" >"$ours"
exports "$2" >"$theirs"
if ! diff -u "$theirs" "$ours"; then
  echo "export tables differ (- system, + ours)" >&2
  exit 1
fi
# And nothing else: no C++ internals leak out.
extra=$(objdump -T "$1" | awk '$0 !~ /\*UND\*/ && $0 ~ / g / && $0 !~ /RDMACM_/ {print $NF}')
if [ -n "$extra" ]; then
  echo "unexpected exports: $extra" >&2
  exit 1
fi
echo "$(wc -l <"$ours") exports identical"
