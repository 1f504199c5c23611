#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Quick start, the main job: install what is missing, build the release
# preset, and plan this machine's interrupt vectors the way the kernel
# would for an NVMe-like device (one admin vector, then one I/O vector per
# CPU). Extra arguments go to `irqd plan`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release
vectors=$(($(nproc --all) + 1))
exec build/release/daemon/irqd plan --topology live --vectors "$vectors" --pre-vectors 1 "$@"
