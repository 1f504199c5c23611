#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# scripts/fuzz.sh [SECONDS_PER_TARGET]: builds the libFuzzer harnesses (the
# fuzz preset: clang, ASan + UBSan) and runs each for SECONDS_PER_TARGET
# (default 15), two at a time, over a copy of its seed corpus: what it
# finds goes to a temporary folder, never into the repository. Prints each
# harness's final libFuzzer line (#EXECUTIONS DONE cov: ... ft: ... corp:
# ...) and fails on any crash, leak, UB report, timeout or out-of-memory.
#
# A harness is FOLDER/tests/fuzz/NAME_fuzz.cc with its seeds in
# FOLDER/tests/fuzz/corpus/NAME_fuzz/; beside it NAME_fuzz.dict (a libFuzzer
# dictionary) and NAME_fuzz.options (more libFuzzer flags, e.g. -max_len)
# are used when present. The fuzz build preset lists the harnesses to build.
#
# A crashing input is kept in build/fuzz/artifacts/; replay it with
#   build/fuzz/FOLDER/tests/fuzz/NAME_fuzz build/fuzz/artifacts/NAME_fuzz-crash-...
# Environment: FUZZ_JOBS (harnesses at once, default 2), FUZZ_RSS_MB (per
# harness, default 2048).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-15}
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi
jobs=${FUZZ_JOBS:-2}
rss_mb=${FUZZ_RSS_MB:-2048}

start=$SECONDS
echo "== fuzz: build (preset fuzz) =="
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
echo "fuzz: built in $((SECONDS - start)) s"

mapfile -t sources < <(find . -path ./build -prune -o -path '*/tests/fuzz/*_fuzz.cc' -print | sort)
if [ ${#sources[@]} -eq 0 ]; then
  echo "fuzz: no harness found" >&2
  exit 1
fi

# The corpora grow and the tree harnesses build a file tree per input: in
# memory (/dev/shm) where there is one.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  work=$(mktemp -d /dev/shm/irqd-fuzz.XXXXXX)
else
  work=$(mktemp -d)
fi
trap 'rm -rf "$work"' EXIT
artifacts=build/fuzz/artifacts
mkdir -p "$artifacts"
# LeakSanitizer: hwloc 2.9 leaks inside hwloc_topology_set_synthetic() on
# some strings it accepts (e.g. "node:2 [numa] core:2 pu:2"), a library's
# own leak whatever irqd does; irqd's leaks are still reported.
export LSAN_OPTIONS="suppressions=$PWD/scripts/fuzz-lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0"
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && ! command -v llvm-symbolizer >/dev/null; then
  for s in /usr/lib/llvm-*/bin/llvm-symbolizer; do [ -x "$s" ] && export ASAN_SYMBOLIZER_PATH=$s; done
fi

# run_one SOURCE: one harness for $seconds; its log in $work/NAME.log.
run_one() {
  local dir name bin corpus flags=()
  dir=$(dirname "${1#./}")
  name=$(basename "$1" .cc)
  bin=build/fuzz/$dir/$name
  corpus=$work/corpus/$name
  if [ ! -x "$bin" ]; then
    echo "fuzz: $bin was not built: add $name to the targets of the fuzz build preset (CMakePresets.json)" \
      >"$work/$name.log"
    return 1
  fi
  mkdir -p "$corpus"
  if [ -d "$dir/corpus/$name" ]; then cp -R "$dir/corpus/$name/." "$corpus/"; fi
  [ -f "$dir/$name.dict" ] && flags+=("-dict=$dir/$name.dict")
  if [ -f "$dir/$name.options" ]; then
    local opts
    read -r -a opts <"$dir/$name.options"
    flags+=("${opts[@]}")
  fi
  # TMPDIR: the harnesses that build fake trees or write XML files do it
  # there, removed with $work.
  mkdir -p "$work/tmp/$name"
  TMPDIR=$work/tmp/$name "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb="$rss_mb" \
    -max_len=4096 "${flags[@]}" -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$corpus" \
    >"$work/$name.log" 2>&1
}
export -f run_one
export seconds rss_mb work artifacts

fuzz_start=$SECONDS
echo "== fuzz: ${#sources[@]} harnesses, $seconds s each, $jobs at a time =="
status=0
printf '%s\n' "${sources[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$1" || touch "$work/$(basename "$1" .cc).failed"' _ {} || true

for src in "${sources[@]}"; do
  name=$(basename "$src" .cc)
  done_line=$(grep -a -E '^#[0-9]+[[:space:]]+DONE' "$work/$name.log" | tail -1 || true)
  if [ -e "$work/$name.failed" ]; then
    status=1
    echo "FAIL $name"
    grep -a -v -E '^(INFO|#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD))' "$work/$name.log" | tail -60
  else
    printf '%-22s %s\n' "$name" "${done_line:-(no final line)}"
  fi
done
echo "fuzz: ran in $((SECONDS - fuzz_start)) s; total $((SECONDS - start)) s"
exit $status
