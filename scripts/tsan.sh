#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# ThreadSanitizer over the tests that run irqd's threads: the reactor
# conformance suite, the software device and its firing engine, bindings,
# the host (every unbind trigger, moves, injected faults, plugins) and the
# daemon (control socket, metrics server, `irqd run` end to end). Builds
# only those test programs with the tsan preset (clang: GCC's
# -fsanitize=thread refuses dispatch/lane.cc's standalone fences) and runs
# each once, whole, with halt_on_error=1: the first race fails the run. No
# suppressions: no finding comes from a third-party library.
#
# The QEMU labs (ctest labels kernel-lab, vfio-lab, tune-lab) are not run:
# they check irqd against a guest kernel, not irqd's own threads.
#
# Usage: scripts/tsan.sh [TEST_PROGRAM...] (default: all of them, e.g.
# scripts/tsan.sh host_test fault_test). Needs clang (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

all=(
  dispatch/tests/reactor_conformance_test
  device/tests/software_device_test
  device/tests/binding_test
  host/tests/host_test
  host/tests/fault_test
  host/tests/plugin_test
  daemon/tests/control_test
  daemon/tests/metrics_test
  daemon/tests/run_cli_test
)
programs=()
if [ $# -eq 0 ]; then
  programs=("${all[@]}")
else
  for want in "$@"; do
    found=
    for p in "${all[@]}"; do [ "$(basename "$p")" = "$want" ] && found=$p; done
    if [ -z "$found" ]; then
      echo "tsan.sh: unknown test program '$want' (accepted: ${all[*]##*/})" >&2
      exit 2
    fi
    programs+=("$found")
  done
fi

targets=()
for p in "${programs[@]}"; do targets+=("$(basename "$p")"); done
cmake --preset tsan >/dev/null
cmake --build --preset tsan --target "${targets[@]}"

# Inherited by the irqd processes run_cli_test starts: a race in the daemon
# makes it exit 66, and the test fails.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
failed=()
for p in "${programs[@]}"; do
  echo "== tsan: $p"
  # From its build folder, as ctest runs it.
  if ! (cd "build/tsan/$(dirname "$p")" && timeout 900 "./$(basename "$p")" --gtest_brief=1); then failed+=("$p"); fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "tsan.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "tsan.sh: ${#programs[@]} test programs ran clean under ThreadSanitizer"
