#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# lab_qemu_boot (scripts/qemu-lab.sh) against a fake QEMU that plays a
# script of boots: exactly which guests are booted again, and how often.
# Exit: 0 every case passed; 1 a case failed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC2034 # read by qemu-lab.sh
LAB=qemu-lab-test
# shellcheck source=../qemu-lab.sh
. "$HERE/../qemu-lab.sh"

T=$(mktemp -d /tmp/irqd-qemu-lab-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
FAILS=0

# The fake QEMU: boot N (counted in $T/boots) prints the console lines of
# $T/bootN (a missing file: the lines of the last one there is) and sleeps
# for the seconds in $T/sleep, if any.
cat >"$T/fake-qemu" <<'FAKE'
#!/usr/bin/env bash
t=$1
n=$(($(cat "$t/boots" 2>/dev/null || echo 0) + 1))
echo "$n" >"$t/boots"
f=$t/boot$n
while [ ! -e "$f" ] && [ "$n" -gt 1 ]; do n=$((n - 1)); f=$t/boot$n; done
printf '%s\r\n' "$(cat "$f")"
[ -s "$t/sleep" ] && exec sleep "$(cat "$t/sleep")"
exit 0
FAKE
chmod +x "$T/fake-qemu"

OOPS_AT_BOOT='[    1.887337] Oops: int3: 0000 [#1] PREEMPT SMP PTI
[    1.894333] Kernel panic - not syncing: Fatal exception in interrupt'
UP_AND_PASS='lab: guest up
@@LAB_EXIT=0@@'

# expect NAME BOOTS RC: ran lab_qemu_boot on the boots scripted in $T/boot*;
# it must have booted BOOTS times and left the guest exit code RC (or none).
expect() {
    local name=$1 boots=$2 rc=$3 got_rc
    got_rc=$(sed -n 's/^@@LAB_EXIT=\([0-9]*\)@@$/\1/p' "$T/console.log" | tail -1)
    if [ "$(cat "$T/boots")" = "$boots" ] && [ "$got_rc" = "$rc" ]; then
        echo "PASS $name"
    else
        echo "FAIL $name: $(cat "$T/boots") boots (want $boots), guest rc '$got_rc' (want '$rc')"
        FAILS=$((FAILS + 1))
    fi
}

run_case() {
    local name=$1 timeout=$2 boots=$3 rc=$4
    shift 4
    rm -f "$T"/boot* "$T/boots" "$T/sleep"
    [ -z "${SLEEP:-}" ] || echo "$SLEEP" >"$T/sleep"
    local i=1 lines
    for lines in "$@"; do
        printf '%s\n' "$lines" >"$T/boot$i"
        i=$((i + 1))
    done
    lab_qemu_boot "$timeout" "$T" LAB_EXIT '^lab: guest up' "$T/fake-qemu" "$T" >"$T/$name.out" 2>"$T/$name.err"
    expect "$name" "$boots" "$rc"
}

run_case oops_before_the_lab_boots_again 30 2 0 "$OOPS_AT_BOOT" "$UP_AND_PASS"
grep -q 'oopsed at boot, before the lab ran (boot 1 of 3): \[    1.887337\] Oops: int3' "$T/oops_before_the_lab_boots_again.err" ||
    { echo "FAIL the retry is not said on stderr"; FAILS=$((FAILS + 1)); }
run_case three_oopses_stop_at_three 30 3 "" "$OOPS_AT_BOOT"
run_case an_oops_once_the_lab_ran_counts 30 1 "" "lab: guest up
$OOPS_AT_BOOT" "$UP_AND_PASS"
run_case an_oops_after_the_exit_code_counts 30 1 1 "@@LAB_EXIT=1@@
$OOPS_AT_BOOT" "$UP_AND_PASS"
run_case a_clean_boot_runs_once 30 1 0 "$UP_AND_PASS"
# QEMU killed by the timeout (QRC 124) is not booted again, oops or not.
SLEEP=5 run_case a_timeout_is_not_booted_again 1 1 "" "$OOPS_AT_BOOT" "$UP_AND_PASS"
[ "$FAILS" = 0 ]
