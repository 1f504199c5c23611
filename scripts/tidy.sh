#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# clang-tidy over every source file, with the repo's .clang-tidy, against
# the debug preset's compile database. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f build/debug/compile_commands.json ] || cmake --preset debug >/dev/null
git ls-files '*.cc' | xargs -P "$(nproc)" -n 4 clang-tidy -p build/debug --quiet --warnings-as-errors='*' --extra-arg=-Wno-unknown-warning-option 2>/dev/null
