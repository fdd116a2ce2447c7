#!/usr/bin/env bash
# Installs the Debian 12 packages FlexiNS needs (only those missing), then
# configures and builds the release tree (build/, Ninja).
# Idempotent: a second run installs nothing and rebuilds only what changed.
#
#   bash scripts/setup.sh            # packages + configure + build
#   bash scripts/setup.sh --no-build # packages only
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
  build-essential cmake ninja-build pkg-config
  libibverbs-dev ibverbs-utils ibverbs-providers rdmacm-utils perftest
  libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev libfmt-dev libisal-dev zlib1g-dev
  librdmacm-dev tshark strace iproute2 procps python3 psmisc qperf fio
  iperf3 sockperf python3-matplotlib
)

log() { printf '[setup] %s\n' "$*"; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    log "need root (or sudo) to run: $*" >&2
    return 1
  fi
}

missing_packages() {
  local p status
  for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == "install ok installed" ]] || printf '%s\n' "$p"
  done
}

install_packages() {
  local -a missing
  mapfile -t missing < <(missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then
    log "all ${#packages[@]} packages already installed"
    return 0
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer "no" up front so
  # the install never stops at a debconf prompt.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' |
    as_root debconf-set-selections
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
}

configure_and_build() {
  cd "$repo_root"
  # The presets name no generator; Ninja for a fresh tree (an existing tree
  # keeps the generator it was configured with).
  export CMAKE_GENERATOR="${CMAKE_GENERATOR:-Ninja}"
  log "configuring build/ (cmake --preset release)"
  cmake --preset release
  log "building build/"
  cmake --build build -j "$(nproc)"
}

install_packages
if [[ ${1:-} != --no-build ]]; then
  configure_and_build
fi
log "done"
