#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Installs the Debian 12 packages irqd needs. Idempotent: prints nothing and
# touches nothing when every package is already there.
#
#   scripts/setup.sh          build and run irqd (scripts/run.sh), its man
#                             pages, plots and Debian packages
#   scripts/setup.sh --test   also everything the test suite needs
#                             (scripts/test.sh, .ci/run): GoogleTest, the
#                             QEMU labs, man/groff for the man page check,
#                             clang-format and clang-tidy
set -euo pipefail

usage="usage: scripts/setup.sh [--test]"
build=(
  build-essential cmake ninja-build pkg-config git
  libhwloc-dev hwloc
  libcli11-dev libfmt-dev nlohmann-json3-dev
  libtomlplusplus-dev libspdlog-dev libcpp-httplib-dev libsystemd-dev
  liburing-dev libboost-dev
  # The release preset also builds the Google Benchmark programs of bench/.
  libbenchmark-dev
  # irqd bench --plot; man pages; cpack -G DEB (dpkg-shlibdeps).
  python3 python3-matplotlib scdoc dpkg-dev
)
test=(
  libgtest-dev libgmock-dev
  man-db groff-base
  clang-format clang-tidy
  qemu-system-x86 busybox-static cpio xz-utils systemd
  # scripts/tsan.sh and the fuzz harnesses: clang and its sanitizer runtimes
  # (GCC refuses dispatch/lane.cc's standalone fences under TSan).
  clang libclang-rt-14-dev
  # llvm-symbolizer: file:line in the sanitizers' and libFuzzer's reports.
  llvm-14
)

packages=("${build[@]}")
case $# in
0) ;;
1)
  [ "$1" = --test ] || { echo "setup: unknown argument '$1' ($usage)" >&2; exit 2; }
  packages+=("${test[@]}")
  ;;
*) echo "setup: too many arguments ($usage)" >&2; exit 2 ;;
esac

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
