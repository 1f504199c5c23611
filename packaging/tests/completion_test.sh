#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The bash completion (packaging/completion/irqd.bash), sourced into this
# shell and called the way bash calls it (COMP_WORDS, COMP_CWORD), against
# the built irqd:
#   - its subcommands and each subcommand's flags are those `irqd --help`
#     and `irqd SUB --help` print (so a new flag fails here until the
#     completion knows it);
#   - subcommands, flags, planner/reactor/layout/format names, --flag=value,
#     comma-separated lists, ctl commands;
#   - the device names of a running daemon, from `irqd ctl --json status`
#     (a stand-in irqd answers), and nothing, silently, when no daemon does.
# Usage: completion_test.sh IRQD COMPLETION_FILE
set -uo pipefail
irqd=$1
completion=$2

# shellcheck source=packaging/completion/irqd.bash
source "$completion"

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# complete_line LINE: runs the completion as bash does with the cursor at
# the end of LINE: COMP_LINE, COMP_POINT, and COMP_WORDS split at blanks and
# at COMP_WORDBREAKS' '=' and ':' (each run of them a word of its own).
# Leaves the sorted candidates in $got, as bash would insert them.
complete_line() {
    local line=$1 w
    COMP_LINE=$line
    COMP_POINT=${#line}
    COMP_WORDS=()
    # shellcheck disable=SC2086 # split at blanks on purpose
    for w in $line; do
        while [[ $w =~ ^([^=:]*)([=:]+)(.*)$ ]]; do
            [ -n "${BASH_REMATCH[1]}" ] && COMP_WORDS+=("${BASH_REMATCH[1]}")
            COMP_WORDS+=("${BASH_REMATCH[2]}")
            w=${BASH_REMATCH[3]}
        done
        [ -n "$w" ] && COMP_WORDS+=("$w")
    done
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _irqd 2>"$tmp/stderr"
    got=$(printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort)
    got=${got//$'\n'/ }
    if [ -s "$tmp/stderr" ]; then fail "[$line] wrote to stderr: $(cat "$tmp/stderr")"; fi
}

# expect "LINE" "CANDIDATES": the candidates, in any order.
expect() {
    local want
    # shellcheck disable=SC2086 # a word list
    want=$(printf '%s\n' $2 | LC_ALL=C sort)
    want=${want//$'\n'/ }
    complete_line "$1"
    if [ "$got" != "$want" ]; then fail "[$1] gave '$got', expected '$want'"; else echo "ok: [$1] -> $got"; fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The completion's lists against the binary's --help.
options_of() {
    "$irqd" "$@" --help | sed -n '/^Options:/,/^$/p' | grep -oE '^  (-[a-z],)?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' |
        sort | tr '\n' ' ' | sed 's/ $//'
}
subcommands_of() {
    "$irqd" "$@" --help | sed -n '/^Subcommands:/,/^$/p' | sed -n 's/^  \([^ ]*\).*/\1/p'
}
top_subcommands=$(subcommands_of | tr '\n' ' ')
for sub in $top_subcommands; do
    [[ " $_irqd_subcommands " == *" $sub "* ]] || fail "irqd --help lists '$sub', the completion does not"
    [ -z "$(subcommands_of "$sub")" ] || continue  # config: its own subcommands below
    want=$(options_of "$sub")
    have=$(_irqd_flags "$sub" | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')
    [ "$want" = "$have" ] || fail "irqd $sub --help has flags '$want', the completion '$have'"
done
for sub in $_irqd_subcommands; do
    [ "$sub" = help ] && continue  # `irqd help`: whether or not this irqd has it yet
    [[ " $top_subcommands " == *" $sub "* ]] || fail "the completion offers '$sub', irqd --help has no such subcommand"
done
[ "$(subcommands_of config | sort | tr '\n' ' ')" = "check example " ] ||
    fail "irqd config has subcommands '$(subcommands_of config | tr '\n' ' ')', the completion 'check example'"

expect "irqd " "$_irqd_subcommands"
expect "irqd pl" "plan"
expect "irqd --v" "--version"
expect "irqd plan --pl" "--planner"
expect "irqd plan --planner " "kernel compact per-core single round-robin"
expect "irqd plan --planner=" "kernel compact per-core single round-robin"
expect "irqd plan --planner=pe" "per-core"
expect "irqd bench --choice=zi" "zipf:"
expect "irqd plan --format " "table json"
expect "irqd plan --vectors 8 --kernel 6.1" "6.1 6.12 6.18 6.19"
expect "irqd plan --kernel 6.18,l" "6.18,live"
expect "irqd bench --reactors " "io_uring io_uring-read io_uring-poll io_uring-busy epoll thread"
expect "irqd bench --reactors io_uring,ep" "io_uring,epoll"
expect "irqd bench --layouts kernel,c" "kernel,compact"
expect "irqd bench --pattern r" "rate:"
expect "irqd bench --handoff " "queue inline adaptive"
expect "irqd bench --json out.json --when-full " "backoff drop"
expect "irqd serve --reactor io_uring-" "io_uring-read io_uring-poll io_uring-busy"
expect "irqd serve --device " "soft: vfio:"
expect "irqd serve --driver " "count leaky"
expect "irqd run --log-level w" "warn"
expect "irqd top --source " "irqd kernel both"
expect "irqd top --sort " "rate total name cpu"
expect "irqd tune --planner r" "round-robin"
expect "irqd tune --planner h" "hint"
expect "irqd plan --planner h" ""
expect "irqd tune --x" "--xps"
expect "irqd tune --if" "--if-present"
expect "irqd tune --ban" "--ban-from-irqbalance"
expect "irqd tune --save-p" "--save-profile"
expect "irqd tune --udev" "--udev-wants"
# Switches take no value: the next word is a flag again.
expect "irqd tune --xps --ap" "--apply"
expect "irqd tune --ban-from-irqbalance --j" "--json"
expect "irqd ctl " "status stats plan move unbind bind reload"
expect "irqd ctl --json " "status stats plan move unbind bind reload"
expect "irqd ctl re" "reload"
expect "irqd ctl --j" "--json"
expect "irqd config " "check example"
expect "irqd help pl" "plan"

# Tune profiles: the NAME of each IRQD_TUNE_PROFILE_DIR/NAME.json (as in
# irqd's test builds; /etc/irqd/tune.d otherwise), nothing else there.
mkdir "$tmp/tune.d"
touch "$tmp/tune.d/eth0-rx.json" "$tmp/tune.d/nvme.json" "$tmp/tune.d/notes.txt"
IRQD_TUNE_PROFILE_DIR=$tmp/tune.d expect "irqd tune --profile " "eth0-rx nvme"
IRQD_TUNE_PROFILE_DIR=$tmp/tune.d expect "irqd tune --profile=e" "eth0-rx"
IRQD_TUNE_PROFILE_DIR=$tmp/tune.d expect "irqd tune --apply --if-present --profile n" "nvme"
IRQD_TUNE_PROFILE_DIR=$tmp/none expect "irqd tune --profile " ""
mapfile -t ifaces < <(ls /sys/class/net 2>/dev/null)
[ ${#ifaces[@]} -gt 0 ] && expect "irqd tune --udev-wants " "${ifaces[*]}"

# Files where a flag takes one.
touch "$tmp/irqd.toml"
expect "irqd config check $tmp/irqd.to" "$tmp/irqd.toml"
expect "irqd run --config $tmp/irqd.t" "$tmp/irqd.toml"
expect "irqd run --config=$tmp/irqd.t" "$tmp/irqd.toml"
# Values with ':' in them: bash replaces only what follows the last ':'.
expect "irqd plan --topology xml:$tmp/irqd.t" "$tmp/irqd.toml"
expect "irqd bench --topology=xml:$tmp/irqd.t" "$tmp/irqd.toml"
expect "irqd serve --device vfio" "vfio:"
mapfile -t pci < <(ls /sys/bus/pci/devices 2>/dev/null)
if [ ${#pci[@]} -gt 0 ]; then
    a=${pci[0]}
    expect "irqd bind " "${pci[*]}"
    expect "irqd unbind ${a:0:9}" "$(for p in "${pci[@]}"; do [[ $p == "${a:0:9}"* ]] && echo "${p:8}"; done)"
    expect "irqd serve --device vfio:${a:0:10}" "$(for p in "${pci[@]}"; do [[ $p == "${a:0:10}"* ]] && echo "${p:8}"; done)"
fi

# Device names of a running daemon, through a stand-in irqd that answers
# `ctl --json --socket S status` as irqd run does, and records its arguments.
cat >"$tmp/fake-irqd" <<EOF
#!/bin/sh
echo "\$*" >"$tmp/fake-args"
cat <<'JSON'
{
  "version": "0.1.0",
  "config": "/etc/irqd/irqd.toml",
  "uptime_s": 12.5,
  "reactor": "epoll",
  "devices": [
    {"name": "soft0", "type": "software", "state": "bound", "vectors": 4},
    {"name": "nvme0", "type": "vfio", "state": "failed", "error": "no IOMMU group"},
    {"name": "nic-1", "type": "software", "state": "unbound"}
  ]
}
JSON
EOF
chmod +x "$tmp/fake-irqd"
complete_line "$tmp/fake-irqd ctl --socket $tmp/s.sock stats "
[ "$got" = "nic-1 nvme0 soft0" ] || fail "[ctl stats] with a daemon gave '$got', expected 'nic-1 nvme0 soft0'"
[ "$(cat "$tmp/fake-args" 2>/dev/null)" = "ctl --json --socket $tmp/s.sock status" ] ||
    fail "the completion asked '$(cat "$tmp/fake-args" 2>/dev/null)', expected 'ctl --json --socket $tmp/s.sock status'"
complete_line "$tmp/fake-irqd ctl --socket=$tmp/s.sock move so"
[ "$got" = "soft0" ] || fail "[ctl move so] with a daemon gave '$got', expected 'soft0'"
echo "ok: ctl device names from the daemon's status"

# No daemon: the real irqd fails, the completion offers nothing and says
# nothing (complete_line fails on any stderr).
complete_line "$irqd ctl --socket $tmp/nobody.sock unbind "
[ -z "$got" ] || fail "[ctl unbind] without a daemon gave '$got', expected nothing"
echo "ok: ctl device names without a daemon: none, silently"

if [ "$failures" -ne 0 ]; then
    echo "$failures failures" >&2
    exit 1
fi
echo "bash completion: all cases pass"
