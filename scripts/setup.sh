#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Installs the Debian 12 packages irqd builds and tests with. Idempotent:
# prints nothing and touches nothing when every package is already there.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libhwloc-dev hwloc
  libcli11-dev libfmt-dev nlohmann-json3-dev
  libtomlplusplus-dev libspdlog-dev libcpp-httplib-dev libsystemd-dev
  liburing-dev libboost-dev
  python3 python3-matplotlib
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-format clang-tidy
  qemu-system-x86 busybox-static cpio xz-utils
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
