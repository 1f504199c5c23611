#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: GPL-2.0-only
#
# The systemd lab's checks (guest side; irqd-lab.service runs it once
# journald is up, see run.sh). Each check prints "SDLAB PASS NAME: what was
# seen" or "SDLAB FAIL NAME: expected X, got Y"; "SDLAB INFO" lines are
# measurements for the report. Ends with "@@IRQD_SYSTEMD_LAB_EXIT=RC@@"
# (0: every check passed, 1: one failed) and powers the guest off.
#
# Also the helpers of vfio-late.service and vfio-early.service:
#   checks.sh load-vfio        insmod vfio (their ExecStartPre=+)
#   checks.sh open-vfio WHICH  open /dev/vfio/vfio and /dev/vfio-lab (a node
#                              with vfio's major that this script makes)
#                              from inside their device filter; the two
#                              errors go to /run/vfio-lab-WHICH
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
set -u

case ${1:-} in
load-vfio)
    insmod /lib/modules/vfio.ko
    exit
    ;;
open-vfio)
    # This script makes /dev/vfio-lab once vfio is loaded (mknod is not
    # something the filter grants: "rw", not "m").
    i=0
    while [ ! -e /dev/vfio-lab ] && [ "$i" -lt 100 ]; do
        i=$((i + 1))
        sleep 0.1
    done
    a=$( (exec 3<>/dev/vfio/vfio) 2>&1)
    b=$( (exec 3<>/dev/vfio-lab) 2>&1)
    echo "container: ${a:-opened}; group node: ${b:-opened}" >"/run/vfio-lab-$2.tmp"
    mv "/run/vfio-lab-$2.tmp" "/run/vfio-lab-$2"
    exit 0
    ;;
esac

FAILS=0
pass() { echo "SDLAB PASS $*"; }
fail() {
    echo "SDLAB FAIL $*"
    FAILS=$((FAILS + 1))
}
info() { echo "SDLAB INFO $*"; }
# Each part says when it began (guest uptime), for the lab's time budget.
section() { echo "SDLAB INFO --- $* (at $(now_ms) ms)"; }
# check PASS_TEXT FAIL_TEXT CMD...
check() {
    p=$1 f=$2
    shift 2
    if "$@"; then pass "$p"; else fail "$f"; fi
}
# expect NAME WANT GOT
expect() {
    if [ "$3" = "$2" ]; then pass "$1: $3"; else fail "$1: expected '$2', got '$3'"; fi
}
prop() { systemctl show -p "$1" --value "${2:-irqd}"; }
# Guest uptime in ms (busybox date has no %N).
now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
# wait_until TENTHS CMD...: runs CMD every 0.1 s until it succeeds.
wait_until() {
    n=$1
    shift
    while ! "$@"; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || return 1
        sleep 0.1
    done
}
# irqd's own lines (and systemd's about the unit), as the journal has them.
journal() { journalctl -q -u irqd -o cat --no-pager; }
journal_has() { journal | grep -q -- "$1"; }
journal_count() { journal | grep -c -- "$1"; }
is_state() { [ "$(prop ActiveState)" = "$1" ] && [ "$(prop SubState)" = "$2" ]; }
finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "systemd-lab: $FAILS checks failed; the irqd journal:"
        journalctl -q -u irqd -o short-monotonic --no-pager | tail -n 40
    fi
    rc=0
    [ "$FAILS" -eq 0 ] || rc=1
    echo "@@IRQD_SYSTEMD_LAB_EXIT=$rc@@"
    sync
    poweroff -f
}

info "kernel $(uname -r), $(systemctl --version | head -n 1), guest up $(now_ms) ms"
expect "cgroup hierarchy" cgroup2 "$(awk '$2 == "/sys/fs/cgroup" {print $3}' /proc/mounts)"
expect "the unit loaded" loaded "$(prop LoadState)"
case $(prop DropInPaths) in
*/irqd.service.d/lab.conf) pass "the lab drop-in: $(prop DropInPaths)" ;;
*) fail "the lab drop-in: DropInPaths is '$(prop DropInPaths)'" ;;
esac

# ---------- start: Type=notify, so systemctl returns once READY=1 came
section start
t0=$(now_ms)
timeout 60 systemctl start irqd
expect "systemctl start irqd exit" 0 "$?"
info "systemctl start irqd took $(($(now_ms) - t0)) ms"
expect "ActiveState/SubState after start" active/running "$(prop ActiveState)/$(prop SubState)"
# Answered at once: READY=1 was sent after the control socket was up.
if out=$(irqd ctl status 2>&1); then pass "irqd ctl status right after start"; else fail "irqd ctl status right after start: $out"; fi
status=$(prop StatusText)
case $status in
"1 devices bound, "*) pass "STATUS=: $status" ;;
*) fail "STATUS=: expected '1 devices bound, ...', got '$status'" ;;
esac
pid0=$(prop MainPID)
check "MainPID $pid0" "MainPID: $pid0" [ "$pid0" -gt 0 ]

# ---------- the sandbox, as the running daemon has it
section sandbox
expect "CapBnd (CAP_CHOWN only)" 0000000000000001 "$(awk '$1 == "CapBnd:" {print $2}' "/proc/$pid0/status")"
expect "CapEff" 0000000000000001 "$(awk '$1 == "CapEff:" {print $2}' "/proc/$pid0/status")"
expect "NoNewPrivs" 1 "$(awk '$1 == "NoNewPrivs:" {print $2}' "/proc/$pid0/status")"
expect "Seccomp (filter)" 2 "$(awk '$1 == "Seccomp:" {print $2}' "/proc/$pid0/status")"
expect "RLIMIT_NOFILE soft (raised to the hard LimitNOFILE)" 65536 \
    "$(awk '/^Max open files/ {print $4}' "/proc/$pid0/limits")"
expect "RLIMIT_MEMLOCK (no LimitMEMLOCK=)" no "$(awk '/^Max locked memory/ {print ($4 == "unlimited") ? "yes" : "no"}' "/proc/$pid0/limits")"
# CAP_CHOWN at work: the config gives the socket to group irqdlab.
expect "control socket group (CAP_CHOWN)" irqdlab "$(stat -c %G /run/irqd/irqd.sock 2>&1)"
expect "DevicePolicy" closed "$(prop DevicePolicy)"
info "DeviceAllow: $(prop DeviceAllow | tr '\n' ',')"
info "IPAddressAllow: $(prop IPAddressAllow); IPAddressDeny: $(prop IPAddressDeny)"
# systemd-analyze security on the loaded, running unit
sec=$(systemd-analyze security --no-pager irqd 2>&1)
score=$(echo "$sec" | sed -n 's/.*Overall exposure level for irqd.service: \([0-9.]*\).*/\1/p')
echo "$sec" | grep '✗' | sed 's/^/SDLAB INFO security: /'
if [ -n "$score" ]; then
    info "systemd-analyze security irqd: exposure $score"
    if awk -v s="$score" 'BEGIN {exit !(s <= 2.2)}'; then pass "exposure $score <= 2.2"; else fail "exposure $score > 2.2"; fi
else
    fail "systemd-analyze security irqd: $(echo "$sec" | tail -n 3)"
fi

# Metrics bound to 0.0.0.0 in the lab: localhost gets through the
# unit's IP filter, another local address does not. busybox nc (the
# static busybox's wget crashes) stops reading when its input ends: the
# sleep keeps it open until the daemon has answered and closed.
metrics() { (printf 'GET /metrics HTTP/1.0\r\n\r\n' && sleep 2) | timeout 10 nc -w 3 "$1" 9477 >"$2" 2>&1; }
if metrics 127.0.0.1 /tmp/metrics && grep -q '^irqd_' /tmp/metrics; then
    pass "metrics from 127.0.0.1 (IPAddressAllow=localhost): $(grep -c '^irqd_' /tmp/metrics) samples"
else
    fail "metrics from 127.0.0.1: $(head -c 300 /tmp/metrics)"
fi
# 10.99.0.1 on lo: the daemon listens there too (0.0.0.0), so only the
# unit's filter can keep the connection from being made.
ip addr add 10.99.0.1/32 dev lo
if metrics 10.99.0.1 /tmp/metrics2; then
    fail "metrics from 10.99.0.1: answered, IPAddressDeny=any did not apply: $(head -c 200 /tmp/metrics2)"
else
    pass "metrics from 10.99.0.1 refused (IPAddressDeny=any): $(head -c 100 /tmp/metrics2)"
fi
# How to widen it for a remote Prometheus (the unit's comment): an
# IPAddressAllow= for that address, here at runtime.
timeout 30 systemctl set-property --runtime irqd IPAddressAllow=10.99.0.1
if metrics 10.99.0.1 /tmp/metrics3 && grep -q '^irqd_' /tmp/metrics3; then
    pass "metrics from 10.99.0.1 after IPAddressAllow=10.99.0.1 was added"
else
    fail "metrics from 10.99.0.1 after IPAddressAllow=10.99.0.1: $(head -c 200 /tmp/metrics3)"
fi

# ---------- reload: SIGHUP, RELOADING=1 ... READY=1, same process
section reload
sed -i 's/^pattern = "rate:1000"$/pattern = "rate:500"/' /etc/irqd/irqd.toml
t0=$(now_ms)
timeout 60 systemctl reload irqd
expect "systemctl reload irqd exit" 0 "$?"
info "systemctl reload irqd took $(($(now_ms) - t0)) ms; the reload's summary was $(journal_has 'reload: 0 added' || echo 'NOT ')in the journal when it returned"
if wait_until 100 journal_has "^info reload: 0 added, 0 removed, 1 rebound, 0 unchanged"; then
    pass "the daemon logged the reload: $(journal | grep '^info reload: ' | tail -n 1)"
else
    fail "no 'reload: 0 added, 0 removed, 1 rebound, 0 unchanged' in 10 s: $(journal | grep 'reload' | tail -n 3)"
fi
wait_until 50 is_state active running
expect "ActiveState/SubState after reload" active/running "$(prop ActiveState)/$(prop SubState)"
expect "MainPID after reload" "$pid0" "$(prop MainPID)"
if out=$(irqd ctl status 2>&1); then pass "irqd ctl status after reload"; else fail "irqd ctl status after reload: $out"; fi

# ---------- watchdog: WatchdogSec=3s (drop-in), the daemon pings at half
section watchdog
expect "WatchdogUSec" 3s "$(prop WatchdogUSec)"
w1=$(prop WatchdogTimestampMonotonic)
sleep 5
w2=$(prop WatchdogTimestampMonotonic)
check "watchdog pings arrive ($w1 -> $w2 us)" "WatchdogTimestamp did not move: $w1 -> $w2" [ "$w2" -gt "$w1" ]
expect "after 5 s (> WatchdogSec): state, NRestarts, MainPID" "active/0/$pid0" "$(prop ActiveState)/$(prop NRestarts)/$(prop MainPID)"
# Frozen: systemd kills it (SIGABRT, with SIGCONT) and Restart=on-failure
# brings it back after RestartSec.
t0=$(now_ms)
kill -STOP "$pid0"
restarted() { [ "$(prop NRestarts)" = 1 ] && is_state active running; }
if wait_until 300 restarted; then
    pass "frozen daemon restarted by the watchdog after $(($(now_ms) - t0)) ms"
else
    fail "frozen daemon: after 30 s NRestarts=$(prop NRestarts) state $(prop ActiveState)/$(prop SubState)"
fi
pid1=$(prop MainPID)
check "new MainPID $pid1" "MainPID still $pid0" [ "$pid1" != "$pid0" ]
if journal_has "Watchdog timeout" && journal_has "Failed with result 'watchdog'"; then
    pass "systemd: $(journal | grep -m 1 'Watchdog timeout')"
else
    fail "no watchdog timeout in the journal: $(journal | grep -i 'watchdog\|result' | tail -n 3)"
fi
if out=$(irqd ctl status 2>&1); then pass "irqd ctl status after the watchdog restart"; else fail "irqd ctl status after the watchdog restart: $out"; fi

# ---------- restart: /run/irqd is kept (RuntimeDirectoryPreserve=yes)
section restart
mkdir -p /run/irqd/bound
echo lab >/run/irqd/bound/lab-marker
reports=$(journal_count "^info report soft0 ")
timeout 60 systemctl restart irqd
expect "systemctl restart irqd exit" 0 "$?"
expect "/run/irqd/bound/lab-marker after restart" lab "$(cat /run/irqd/bound/lab-marker 2>&1)"
expect "ActiveState after restart" active "$(prop ActiveState)"
pid2=$(prop MainPID)
check "restart: new MainPID $pid2" "restart: MainPID still $pid1" [ "$pid2" != "$pid1" ]
more_reports() { [ "$(journal_count "^info report soft0 ")" -gt "$reports" ]; }
wait_until 50 more_reports
expect "restart: the old daemon's report (accounted)" accounted "$(journal | grep '^info report soft0 ' | tail -n 1 | awk '{print $NF}')"

# ---------- stop: SIGTERM, the full unbind, its report, exit 0
section stop
reports=$(journal_count "^info report soft0 ")
stopped=$(journal_count "^info stopped$")
t0=$(now_ms)
timeout 60 systemctl stop irqd
expect "systemctl stop irqd exit" 0 "$?"
info "systemctl stop irqd took $(($(now_ms) - t0)) ms"
expect "ActiveState/Result/ExecMainStatus after stop" inactive/success/0 "$(prop ActiveState)/$(prop Result)/$(prop ExecMainStatus)"
more_stopped() { [ "$(journal_count "^info stopped$")" -gt "$stopped" ]; }
wait_until 50 more_stopped
expect "stop: one more report" $((reports + 1)) "$(journal_count "^info report soft0 ")"
last=$(journal | grep '^info report soft0 ' | tail -n 1)
case $last in
*" leaks=0 accounted") pass "stop: $last" ;;
*) fail "stop: the report is '$last'" ;;
esac
steps=$(journal | grep '^info unbind soft0 step=' | tail -n 20 | sed 's/^info unbind soft0 step=\([a-z-]*\).*/\1/' |
    awk '/stop-arming/ {s = ""} {s = s (s == "" ? "" : ",") $0} END {print s}')
info "the last unbind's steps: $steps"
case $steps in
stop-arming,drain,*report) pass "stop: the unbind ran from stop-arming to report" ;;
*) fail "stop: the unbind's steps were '$steps'" ;;
esac
expect "stop: daemon logged 'stopped'" $((stopped + 1)) "$(journal_count "^info stopped$")"
check "/run/irqd kept after stop" "/run/irqd gone after stop" [ -d /run/irqd ]
check "control socket removed at stop" "/run/irqd/irqd.sock left behind" [ ! -e /run/irqd/irqd.sock ]
# A restart by hand starts the count again.
expect "NRestarts after stop" 0 "$(prop NRestarts)"

# ---------- DeviceAllow=char-vfio is resolved when a unit starts
section vfio ordering
# vfio-late loads vfio in ExecStartPre=+, after systemd built its filter;
# vfio-early starts after vfio is loaded. Same filter as irqd.service.
rm -f /run/vfio-lab-late /run/vfio-lab-early
systemctl start --no-block vfio-late
vfio_loaded() { grep -q ' vfio$' /proc/devices; }
if wait_until 150 vfio_loaded; then
    major=$(awk '$2 == "vfio" {print $1}' /proc/devices)
    mknod -m 600 /dev/vfio-lab c "$major" 0
    wait_until 150 test -e /run/vfio-lab-late
    late=$(cat /run/vfio-lab-late 2>&1)
    info "vfio loaded in ExecStartPre=+: $late"
    case $late in
    *"vfio/vfio"*"not permitted"*"vfio-lab"*"not permitted"*) pass "vfio loaded by ExecStartPre=+ is too late: both nodes refused (EPERM)" ;;
    *) fail "vfio loaded by ExecStartPre=+: expected both nodes refused, got: $late" ;;
    esac
    timeout 30 systemctl start vfio-early
    early=$(cat /run/vfio-lab-early 2>&1)
    info "vfio loaded before the start: $early"
    case $early in
    "container: opened; group node: "*"No such device or address") pass "vfio loaded before the unit: /dev/vfio/vfio opens, the group major is allowed (ENXIO: no group 0)" ;;
    *) fail "vfio loaded before the unit: expected the container opened and ENXIO for the group node, got: $early" ;;
    esac
else
    fail "vfio-late: vfio not loaded in 15 s ($(prop ActiveState vfio-late), $(journalctl -q -u vfio-late -o cat --no-pager | tail -n 2))"
fi

# ---------- irqd-tune@.service: a saved profile applied under its sandbox
section tune unit
while read -r m; do
    [ "$m" = vfio ] && continue
    insmod "/lib/modules/$m.ko" || fail "insmod $m failed"
done </lib/modules/order
# The virtio-net's interface: the one in /sys/class/net with a device link.
nic() {
    for d in /sys/class/net/*; do
        [ -e "$d/device" ] && { basename "$d"; return 0; }
    done
    return 1
}
tune_journal() { journalctl -q -u "irqd-tune@$1" -o cat --no-pager; }
tune_failed() {
    fail "$1"
    tune_journal "$2" | tail -n 30 | sed "s/^/SDLAB INFO irqd-tune@$2 journal: /"
}
if wait_until 100 nic >/dev/null; then
    iface=$(nic)
    vdev=$(basename "$(readlink -f "/sys/class/net/$iface/device")")
    # The NIC's interrupts: virtioN-config, virtioN-input.0, virtioN-output.0.
    nic_irqs() { awk -v p="$vdev-" 'index($NF, p) == 1 {sub(":", "", $1); print $1 "=" $NF}' /proc/interrupts; }
    info "$iface ($vdev): $(nic_irqs | tr '\n' ' ')"
    expect "$iface's vectors (config, input.0, output.0)" 3 "$(nic_irqs | grep -c .)"
    if out=$(irqd tune --device "$iface" --planner single --cpus 1 --save-profile lab 2>&1); then
        pass "irqd tune --device $iface --planner single --cpus 1 --save-profile lab"
    else
        fail "irqd tune --save-profile lab: $out"
    fi
    echo "$out" | sed 's/^/SDLAB INFO tune: /'
    check "/etc/irqd/tune.d/lab.json saved" "no /etc/irqd/tune.d/lab.json" [ -s /etc/irqd/tune.d/lab.json ]
    t0=$(now_ms)
    timeout 60 systemctl start irqd-tune@lab.service
    rc=$?
    info "systemctl start irqd-tune@lab took $(($(now_ms) - t0)) ms"
    got="$rc/$(prop Result irqd-tune@lab)/$(prop ExecMainStatus irqd-tune@lab)/$(prop ActiveState irqd-tune@lab)"
    if [ "$got" = 0/success/0/inactive ]; then
        pass "irqd-tune@lab: exit/Result/ExecMainStatus/ActiveState $got"
    else
        tune_failed "irqd-tune@lab: exit/Result/ExecMainStatus/ActiveState expected 0/success/0/inactive, got $got" lab
    fi
    tune_journal lab | sed 's/^/SDLAB INFO irqd-tune@lab: /'
    # single on CPU 1: every vector, the config one too, on CPU 1.
    bad=
    for e in $(nic_irqs); do
        a=$(cat "/proc/irq/${e%%=*}/smp_affinity_list" 2>&1)
        [ "$a" = 1 ] || bad="$bad ${e#*=}(${e%%=*})=$a"
    done
    if [ -z "$bad" ]; then
        pass "every $vdev vector on CPU 1: $(nic_irqs | tr '\n' ' ')"
    else
        fail "smp_affinity_list not 1:$bad"
    fi
    restore=
    for f in /run/irqd/tune/*.json; do [ -s "$f" ] && restore="$restore ${f##*/}"; done
    if [ -n "$restore" ]; then pass "restore file in /run/irqd/tune:$restore"; else fail "no restore file in /run/irqd/tune"; fi
    expect "/run/irqd/tune mode and owner" "755 root" "$(stat -c '%a %U' /run/irqd/tune 2>&1)"
    # No profile: ConditionPathExists= skips the unit, nothing fails.
    timeout 60 systemctl start irqd-tune@missing.service
    rc=$?
    got="$rc/$(prop ConditionResult irqd-tune@missing)/$(prop ActiveState irqd-tune@missing)/$(prop Result irqd-tune@missing)"
    if [ "$got" = 0/no/inactive/success ]; then
        pass "irqd-tune@missing skipped: exit/ConditionResult/ActiveState/Result $got"
    else
        tune_failed "irqd-tune@missing: exit/ConditionResult/ActiveState/Result expected 0/no/inactive/success, got $got" missing
    fi
    if command -v udevadm >/dev/null; then
        info "udevadm in the guest: the udev rule is not exercised here either (no systemd-udevd)"
    else
        info "no udevadm in the guest: the udev rule is not exercised"
    fi
else
    fail "no network interface with a device link in 10 s: $(cd /sys/class/net && echo *)"
fi

info "checks done at guest uptime $(now_ms) ms"
finish
