#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# packaging/irqbalance/irqbalance-policy, run the way irqbalance runs a
# --policyscript (`exec SCRIPT SYSFS_DEVICE_PATH IRQ`, reading key=value
# lines from its standard output), with IRQD_IRQBALANCE_BANNED naming a
# test list:
#   - `ban=true` and nothing else for a PCI function listed (as the path
#     irqbalance passes, with or without a trailing '/', and whatever the
#     comments, blanks, tabs and CRs around it); nothing for one not listed,
#     for irqbalance's /sys (an interrupt without a device), for no
#     argument, for a missing or unreadable list, for a commented-out
#     address, and for an address that is only a prefix of a listed one;
#   - exit 0 and nothing on stderr, every time;
#   - sh built-ins only (PATH empty), under every POSIX shell here (dash,
#     bash --posix, busybox sh), and as an unprivileged user (irqbalance's
#     sandbox: PrivateUsers=, no capabilities);
#   - the file is executable and starts with #!/bin/sh.
# Usage: irqbalance_policy_test.sh SCRIPT
set -uo pipefail
script=$1
tmp=$(mktemp -d)
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

[ -x "$script" ] || fail "$script is not executable"
[ "$(head -n1 "$script")" = '#!/bin/sh' ] || fail "$script does not start with #!/bin/sh"

list=$tmp/irqbalance-banned
printf '%s\n' \
    '# PCI functions irqbalance leaves alone (irqd tune --ban-from-irqbalance)' \
    '0000:3b:00.0' \
    '' \
    '   0000:3b:00.1   # the second port' \
    $'\t0000:af:00.0\r' \
    '# 0000:d8:00.0' \
    '0000:5e:00.0 0000:5e:00.1' >"$list"
# The last line without a newline, as an editor may leave it.
printf '0000:86:00.0' >>"$list"
chmod 0644 "$list"

# check SHELL_CMD DESCRIPTION EXPECTED_STDOUT BANNED_FILE ARGS...
check() {
    local shell=$1 what=$2 want=$3 banned=$4 rc
    shift 4
    IRQD_IRQBALANCE_BANNED=$banned PATH=/nonexistent $shell "$script" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" != 0 ]; then fail "[$shell] $what: exit $rc"; fi
    if [ -s "$tmp/err" ]; then fail "[$shell] $what: stderr: $(cat "$tmp/err")"; fi
    if [ "$(cat "$tmp/out")" != "$want" ] || { [ -n "$want" ] && [ "$(wc -l <"$tmp/out")" != 1 ]; }; then
        fail "[$shell] $what: printed '$(cat "$tmp/out")', expected '$want'"
    fi
}

shells=()
for s in dash "bash --posix" "busybox sh"; do
    # shellcheck disable=SC2086 # a command and its options
    if command -v ${s%% *} >/dev/null 2>&1 && $s -c 'exit 0' 2>/dev/null; then shells+=("$(command -v ${s%% *})${s#"${s%% *}"}"); fi
done
[ ${#shells[@]} -gt 0 ] || fail "no POSIX shell found (dash, bash, busybox)"
pci=/sys/bus/pci/devices
for sh in "${shells[@]}"; do
    check "$sh" "listed" ban=true "$list" "$pci/0000:3b:00.0" 42
    check "$sh" "listed, trailing /" ban=true "$list" "$pci/0000:3b:00.0/" 42
    check "$sh" "listed after blanks, with a comment" ban=true "$list" "$pci/0000:3b:00.1" 43
    check "$sh" "listed after a tab, CRLF line" ban=true "$list" "/sys/devices/pci0000:ae/0000:ae:00.0/0000:af:00.0" 7
    check "$sh" "listed on the last line, no newline" ban=true "$list" "$pci/0000:86:00.0" 9
    check "$sh" "not listed" "" "$list" "$pci/0000:3b:00.2" 44
    check "$sh" "commented out" "" "$list" "$pci/0000:d8:00.0" 45
    check "$sh" "two addresses on a line are no address" "" "$list" "$pci/0000:5e:00.0" 46
    check "$sh" "a prefix of a listed address" "" "$list" "$pci/0000:3b:00" 47
    check "$sh" "an interrupt without a device (/sys)" "" "$list" /sys 1
    check "$sh" "no argument" "" "$list"
    check "$sh" "the list missing" "" "$tmp/none" "$pci/0000:3b:00.0" 42
    check "$sh" "an empty list" "" /dev/null "$pci/0000:3b:00.0" 42
done

# As an unprivileged user, with the list readable by all (0644, as irqd
# writes it): what irqbalance's sandbox (PrivateUsers=, no CAP_DAC_*) gets.
# The script is run from a copy in $tmp (0755): the source tree may sit
# below a directory nobody else may enter (a CI clone in mktemp -d's 0700).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
    install -m 0755 "$script" "$tmp/irqbalance-policy"
    script=$tmp/irqbalance-policy
    out=$(IRQD_IRQBALANCE_BANNED=$list setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$script" "$pci/0000:3b:00.0" 42 2>&1)
    [ "$out" = ban=true ] || fail "as uid 65534: printed '$out', expected ban=true"
    chmod 0600 "$list"
    out=$(IRQD_IRQBALANCE_BANNED=$list setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$script" "$pci/0000:3b:00.0" 42 2>&1)
    rc=$?
    if [ "$rc" != 0 ] || [ -n "$out" ]; then
        fail "as uid 65534, list unreadable: exit $rc, printed '$out', expected nothing"
    fi
else
    echo "not root or no setpriv: the unprivileged run is skipped"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failures" >&2
    exit 1
fi
echo "irqbalance-policy: ${#shells[@]} shells (${shells[*]}), every case exact"
