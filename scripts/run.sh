#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Quick start, the main job: install what is missing (build and run only:
# scripts/setup.sh without --test), build the one target it runs, irqd, in
# the release preset (which leaves the tests out), and run `irqd bench` with
# its default comparison (io_uring vs epoll vs thread reactors, kernel
# layout, 64 vectors, live topology). Extra arguments go to `irqd bench`;
# --plot runs bench/plot.py from the source tree, nothing to build.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target irqd
exec build/release/cli/irqd bench "$@"
