#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Quick start, the main job: install what is missing, build the release
# preset and run `irqd bench` with its default comparison (io_uring vs
# epoll vs thread reactors, kernel layout, 64 vectors, live topology).
# Extra arguments go to `irqd bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
exec build/release/cli/irqd bench "$@"
