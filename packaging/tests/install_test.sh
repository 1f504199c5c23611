#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# `cmake --install BUILD --component runtime --prefix TMP/opt` and what it
# writes for irqd tune's profiles, udev and irqbalance:
#   - PREFIX/lib/systemd/system/irqd-tune@.service runs PREFIX/bin/irqd
#     (rewritten from /usr/local/bin/irqd), keeps its condition on
#     /etc/irqd/tune.d/%i.json (irqd's own path, never rewritten) and passes
#     packaging/systemd/verify.sh;
#   - PREFIX/lib/udev/rules.d/80-irqd-tune.rules runs PREFIX/bin/irqd and
#     passes udev_rule_test.sh's structure checks;
#   - PREFIX/lib/irqd/irqbalance-policy is there, mode 0755, where irqd
#     looks for it: BINDIR/../lib/irqd/irqbalance-policy.
# Usage: install_test.sh BUILD_DIR CMAKE SOURCE_DIR
set -euo pipefail
build=$1
cmake=$2
src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
prefix=$tmp/opt
if ! "$cmake" --install "$build" --component runtime --prefix "$prefix" >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    echo "FAIL: cmake --install" >&2
    exit 1
fi
bin=$prefix/bin/irqd
[ -x "$bin" ] || fail "no $bin"

unit=$prefix/lib/systemd/system/irqd-tune@.service
grep -qx "ExecStart=$bin tune --profile %i --apply --if-present" "$unit" ||
    fail "irqd-tune@.service ExecStart: $(grep ExecStart= "$unit")"
grep -qx 'ConditionPathExists=/etc/irqd/tune.d/%i.json' "$unit" ||
    fail "irqd-tune@.service condition: $(grep Condition "$unit")"
if grep -q /usr/local "$unit"; then fail "irqd-tune@.service names /usr/local: $(grep /usr/local "$unit")"; fi
set +e
"$src/packaging/systemd/verify.sh" "$unit" "$bin"
rc=$?
set -e
[ "$rc" = 0 ] || [ "$rc" = 77 ] || fail "verify.sh on the installed irqd-tune@.service"

rules=$prefix/lib/udev/rules.d/80-irqd-tune.rules
if [ -f "$rules" ]; then
    IRQD_UDEVADM='' "$src/packaging/tests/udev_rule_test.sh" "$rules" "$bin" >/dev/null ||
        fail "udev_rule_test.sh on the installed rule (IMPORT: $(grep IMPORT "$rules"))"
else
    fail "no $rules"
fi

policy=$prefix/lib/irqd/irqbalance-policy
beside=$(dirname "$bin")/../lib/irqd/irqbalance-policy
[ -f "$beside" ] || fail "no irqbalance-policy beside the binary ($beside)"
[ "$(stat -c %a "$policy" 2>/dev/null)" = 755 ] || fail "$policy has mode $(stat -c %a "$policy" 2>/dev/null)"
cmp -s "$policy" "$src/packaging/irqbalance/irqbalance-policy" || fail "$policy is not packaging/irqbalance/irqbalance-policy"

if [ "$failures" -ne 0 ]; then
    echo "$failures failures" >&2
    exit 1
fi
echo "cmake --install: irqd-tune@.service, 80-irqd-tune.rules and irqbalance-policy in place, naming $bin"
