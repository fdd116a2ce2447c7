#!/bin/sh
# A drop-in library must export exactly the versioned symbols of the real
# one (names and versions, compat aliases included): rdma-core's programs are
# linked with BIND_NOW and die before main on any missing one.
#   compare_exports.sh OUR_LIB SYSTEM_LIB VERSION_PREFIX   (IBVERBS_, RDMACM_)
set -eu
prefix=$3
exports() {
  objdump -T "$1" | awk -v p="$prefix" 'index($0, p) && $0 !~ /\*UND\*/ {print $(NF - 1), $NF}' | sort -u
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
extra=$(objdump -T "$1" | awk -v p="$prefix" '$0 !~ /\*UND\*/ && $0 ~ / g / && !index($0, p) {print $NF}')
if [ -n "$extra" ]; then
  echo "unexpected exports: $extra" >&2
  exit 1
fi
echo "$(wc -l <"$ours") exports identical"
