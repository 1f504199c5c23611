#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The udev rule 80-irqd-tune.rules:
#   - its structure: only ACTION=="add" of SUBSYSTEM=="net", virtual
#     interfaces and a machine without /etc/irqd/tune.d passed over, every
#     GOTO has its LABEL, IMPORT{program} runs EXPECTED_IRQD (the installed
#     irqd: /usr/local/bin/irqd in the source, /usr/bin/irqd in the
#     package) `tune --udev-wants %k`, and IRQD_TUNE_WANTS becomes the
#     systemd tag and SYSTEMD_WANTS;
#   - under udev itself, when `udevadm` (or $IRQD_UDEVADM; empty: not at
#     all) is here and this runs as root: `udevadm test` in a private mount namespace whose
#     rules.d folders hold only this rule (irqd and /etc/irqd/tune.d
#     replaced by test stand-ins, /run a tmpfs): on a real (non-virtual)
#     interface, the wants a stand-in irqd prints become SYSTEMD_WANTS and
#     the systemd tag, none when it prints nothing; irqd is not run for lo,
#     for a "change" event, or without the profile folder; with IRQD_BINARY
#     (a test build: IRQD_TUNE_PROFILE_DIR works), the real `irqd tune
#     --udev-wants` of a profile saved for that interface.
# Usage: udev_rule_test.sh RULE EXPECTED_IRQD [IRQD_BINARY]
set -uo pipefail
rule=$1
want_irqd=$2
irqd=${3-}
tmp=$(mktemp -d)
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
has_line() {
    grep -qxF -- "$1" "$rule" || fail "$rule lacks the line: $1"
}

# --- structure ---------------------------------------------------------------
has_line 'ACTION!="add", GOTO="irqd_tune_end"'
has_line 'SUBSYSTEM!="net", GOTO="irqd_tune_end"'
has_line 'DEVPATH=="/devices/virtual/*", GOTO="irqd_tune_end"'
has_line 'TEST!="/etc/irqd/tune.d", GOTO="irqd_tune_end"'
has_line "IMPORT{program}=\"$want_irqd tune --udev-wants %k\""
# shellcheck disable=SC2016 # udev's $env{...}, literally
has_line 'ENV{IRQD_TUNE_WANTS}=="?*", TAG+="systemd", ENV{SYSTEMD_WANTS}+="$env{IRQD_TUNE_WANTS}"'
has_line 'LABEL="irqd_tune_end"'
# Every GOTO lands on a LABEL after it; nothing follows the last LABEL.
grep -o 'GOTO="[^"]*"' "$rule" | sed 's/GOTO="\(.*\)"/\1/' | sort -u | while read -r label; do
    grep -qx "LABEL=\"$label\"" "$rule" || echo "$label"
done >"$tmp/missing"
[ -s "$tmp/missing" ] && fail "GOTO without its LABEL: $(cat "$tmp/missing")"
last=$(grep -v '^#' "$rule" | sed '/^$/d' | tail -n1)
[ "$last" = 'LABEL="irqd_tune_end"' ] || fail "the rule does not end at its LABEL: $last"
# Rule lines: key op "value" pairs, comma-separated; no line continuation.
if grep -v '^#' "$rule" | sed '/^$/d' | grep -vqE '^[A-Z]+(\{[^}]*\})?(==|!=|=|\+=|:=)"[^"]*"(, [A-Z]+(\{[^}]*\})?(==|!=|=|\+=|:=)"[^"]*")*$'; then
    fail "lines that are not KEY==\"value\", ... pairs: $(grep -v '^#' "$rule" | sed '/^$/d' |
        grep -vE '^[A-Z]+(\{[^}]*\})?(==|!=|=|\+=|:=)"[^"]*"(, [A-Z]+(\{[^}]*\})?(==|!=|=|\+=|:=)"[^"]*")*$')"
fi
if grep -q '/usr/local' "$rule" && [ "$want_irqd" != /usr/local/bin/irqd ]; then
    fail "the rule names /usr/local: $(grep /usr/local "$rule")"
fi
echo "udev rule structure: ok ($want_irqd)"

# --- under udevadm test ----------------------------------------------------------
udevadm=${IRQD_UDEVADM-$(command -v udevadm || true)}  # IRQD_UDEVADM= (empty): do not run it
iface=""
for d in /sys/class/net/*; do
    [ -e "$d" ] || continue
    case $(readlink -f "$d") in /sys/devices/virtual/*) ;; *) iface=${d##*/}; break ;; esac
done
if [ -z "$udevadm" ] || ! [ -x "$udevadm" ] || [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null 2>&1 ||
    ! unshare -m true 2>/dev/null; then
    echo "udevadm test skipped: needs udevadm (or IRQD_UDEVADM), root and unshare -m"
else
    mkdir -p "$tmp/rules" "$tmp/tune.d"
    # udevadm_test ACTION IFACE STAND_IN_IRQD PROFILE_DIR: the properties.
    udevadm_test() {
        sed -e "s#$want_irqd#$3#" -e "s#/etc/irqd/tune.d#$4#" "$rule" >"$tmp/rules/80-irqd-tune.rules"
        : >"$tmp/args"
        # shellcheck disable=SC2016 # expanded by the inner shell
        unshare -m sh -c '
            for d in /etc/udev/rules.d /run/udev/rules.d /usr/local/lib/udev/rules.d /usr/lib/udev/rules.d /lib/udev/rules.d; do
                [ -d "$d" ] && ! [ -L "$d" ] && mount --bind "$1" "$d"
            done
            mount -t tmpfs tmpfs /run
            exec "$2" test --action="$3" "/sys/class/net/$4"' sh "$tmp/rules" "$udevadm" "$1" "$2" >"$tmp/udev.out" 2>&1 ||
            fail "udevadm test --action=$1 /sys/class/net/$2: $(tail -5 "$tmp/udev.out")"
        grep -q "Reading rules file: .*/80-irqd-tune.rules" "$tmp/udev.out" || fail "udevadm did not read the rule"
        grep -E '^[A-Z_]+=' "$tmp/udev.out" >"$tmp/props"
    }
    cat >"$tmp/fake-irqd" <<FAKE
#!/bin/sh
echo "\$*" >>"$tmp/args"
[ -f "$tmp/wants" ] && cat "$tmp/wants"
exit 0
FAKE
    chmod +x "$tmp/fake-irqd"
    if [ -n "$iface" ]; then
        echo 'IRQD_TUNE_WANTS=irqd-tune@a.service irqd-tune@b-2.service' >"$tmp/wants"
        udevadm_test add "$iface" "$tmp/fake-irqd" "$tmp/tune.d"
        [ "$(cat "$tmp/args")" = "tune --udev-wants $iface" ] || fail "irqd was run as '$(cat "$tmp/args")'"
        grep -qx 'SYSTEMD_WANTS=irqd-tune@a.service irqd-tune@b-2.service' "$tmp/props" ||
            fail "$iface: no SYSTEMD_WANTS of both units: $(grep SYSTEMD_WANTS "$tmp/props")"
        grep -q '^TAGS=.*:systemd:' "$tmp/props" || fail "$iface: no systemd tag: $(grep TAGS "$tmp/props")"
        rm "$tmp/wants"
        udevadm_test add "$iface" "$tmp/fake-irqd" "$tmp/tune.d"
        [ "$(cat "$tmp/args")" = "tune --udev-wants $iface" ] || fail "irqd was run as '$(cat "$tmp/args")'"
        if grep -q '^SYSTEMD_WANTS=\|^TAGS=.*:systemd:' "$tmp/props"; then fail "no wants, yet: $(cat "$tmp/props")"; fi
        udevadm_test change "$iface" "$tmp/fake-irqd" "$tmp/tune.d"
        [ -s "$tmp/args" ] && fail "irqd was run for a change event"
        udevadm_test add "$iface" "$tmp/fake-irqd" "$tmp/no-such-dir"
        [ -s "$tmp/args" ] && fail "irqd was run without the profile folder"
        if [ -n "$irqd" ]; then
            # The real irqd: a profile saved for the interface (by its PCI
            # address) is found, and udev parses what irqd prints.
            if IRQD_TUNE_PROFILE_DIR=$tmp/tune.d "$irqd" tune --device "$iface" --planner per-core \
                --save-profile "udev-$iface" >"$tmp/save.out" 2>&1; then
                printf '#!/bin/sh\nIRQD_TUNE_PROFILE_DIR=%s exec %s "$@"\n' "$tmp/tune.d" "$irqd" >"$tmp/real-irqd"
                chmod +x "$tmp/real-irqd"
                udevadm_test add "$iface" "$tmp/real-irqd" "$tmp/tune.d"
                grep -qx "SYSTEMD_WANTS=irqd-tune@udev-$iface.service" "$tmp/props" ||
                    fail "the real irqd: $(grep -i 'wants\|irqd' "$tmp/udev.out")"
            else
                echo "the real irqd could not save a profile for $iface (skipped): $(tail -1 "$tmp/save.out")"
            fi
        fi
    else
        echo "no non-virtual network interface here: the positive udevadm cases are skipped"
    fi
    udevadm_test add lo "$tmp/fake-irqd" "$tmp/tune.d"
    [ -s "$tmp/args" ] && fail "irqd was run for lo (virtual)"
    echo "udevadm test: ok (${iface:-no real interface})"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failures" >&2
    exit 1
fi
echo "udev rule: all checks pass"
