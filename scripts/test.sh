#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Quick start, every test: install what is missing (scripts/setup.sh
# --test: the build set and what the tests need), build the debug preset and
# run the whole suite with CTest. PRESET=asan runs it under ASan+UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."

preset=${PRESET:-debug}
scripts/setup.sh --test
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
# The QEMU labs (kernel, VFIO, tune) check irqd against a guest kernel, the
# package check (label package) what CPack puts in the .debs, and the soak
# (label soak) fds, threads and RSS over 1000 cycles, which ASan's
# quarantine blurs: running them again under the sanitizers gains nothing
# and costs minutes. The systemd lab checks the unit, not irqd's memory, and
# the unit's SystemCallFilter= kills an ASan build at its first syscall
# outside @system-service (checked in the lab: without that line the ASan
# irqd starts), so it runs on the debug build only.
ctest_args=()
if [ "$preset" = asan ]; then ctest_args+=(-LE 'kernel-lab|vfio-lab|tune-lab|systemd-lab|package|soak'); fi
ctest --preset "$preset" "${ctest_args[@]}"
