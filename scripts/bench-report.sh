#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The README's measured figures, from one command: builds the release irqd,
# runs a fixed set of `irqd bench` invocations, writes them with the machine
# they ran on to docs/bench/<machine>.json, and regenerates the README's
# table (between <!-- bench-table:begin --> and <!-- bench-table:end -->)
# from that file with scripts/bench_table.py. Commit both.
#
#   scripts/bench-report.sh                 # machine named from its CPU and vCPUs
#   BENCH_MACHINE=epyc-16c scripts/bench-report.sh
#   BENCH_DURATION=3 BENCH_REPEAT=3 scripts/bench-report.sh   # longer runs
#
# About 6 minutes on a 2-vCPU machine with the defaults (5 repeats). The machine
# should be otherwise quiet: the load average before and after is recorded
# next to the figures.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

duration=${BENCH_DURATION:-2}
repeat=${BENCH_REPEAT:-5}
warmup=${BENCH_WARMUP:-0.3}

cmake --preset release >/dev/null
cmake --build build/release -j"${BENCH_JOBS:-2}" --target irqd
irqd=build/release/cli/irqd

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
vcpus=$(nproc --all)
slug=${BENCH_MACHINE:-$(printf '%s-%svcpu' "$cpu_model" "$vcpus" | tr '[:upper:]' '[:lower:]' | tr -cs 'a-z0-9' '-' | sed 's/^-//; s/-$//')}
out_json="docs/bench/$slug.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

common=(--duration "$duration" --repeat "$repeat" --warmup "$warmup")
# name|flags: the invocations the table is made of (scripts/bench_table.py
# knows them by name).
invocations=(
  "saturate-queue|--reactors io_uring,io_uring-read,io_uring-poll,epoll,thread --handoff queue --floor"
  "paced-queue|--reactors io_uring,io_uring-read,io_uring-poll,epoll,thread --pattern rate:100000 --handoff queue --floor"
  "paced-adaptive|--reactors io_uring,io_uring-read,io_uring-poll,epoll --pattern rate:100000 --handoff adaptive --floor"
  "paced-inline|--reactors io_uring,io_uring-read,io_uring-poll,epoll --pattern rate:100000 --handoff inline"
  "busy-inline|--reactors io_uring-busy,io_uring,epoll --pattern rate:20000 --handoff inline"
)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
names=()
for entry in "${invocations[@]}"; do
  name=${entry%%|*}
  read -r -a flags <<<"${entry#*|}"
  echo "== $name: irqd bench ${flags[*]} ${common[*]}" >&2
  "$irqd" bench "${flags[@]}" "${common[@]}" --json "$tmp/$name.json" | tee "$tmp/$name.txt"
  printf '%s\n' "irqd bench ${flags[*]} ${common[*]}" >"$tmp/$name.cmd"
  names+=("$name")
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p docs/bench
python3 - "$tmp" "$out_json" "$slug" "$cpu_model" "$vcpus" "$(uname -sr)" "$(date -u +%Y-%m-%d)" \
  "$(git describe --always --dirty)" "$load_before" "$load_after" "${names[@]}" <<'PY'
import json, sys
tmp, out, slug, cpu, vcpus, kernel, date, describe, before, after, *names = sys.argv[1:]
invocations = []
for n in names:
    with open(f"{tmp}/{n}.json") as f:
        report = json.load(f)
    with open(f"{tmp}/{n}.cmd") as f:
        command = f.read().strip()
    # The latency CDFs are for plots (irqd bench --plot), not the table:
    # left out, they would make the committed report megabytes.
    for run in report["runs"]:
        run["latency_ns"].pop("cdf", None)
    invocations.append({"name": n, "command": command, "report": report})
build_type = invocations[0]["report"]["machine"]["build_type"]
doc = {"machine": {"name": slug, "cpu_model": cpu, "vcpus": int(vcpus), "kernel": kernel, "date": date,
                   "irqd": describe, "build_type": build_type, "load_before": before, "load_after": after},
       "invocations": invocations}
with open(out, "w") as f:
    json.dump(doc, f, indent=1)
    f.write("\n")
PY
python3 scripts/bench_table.py --update README.md
echo "report: $out_json; README.md's measured table regenerated from docs/bench/*.json" >&2
