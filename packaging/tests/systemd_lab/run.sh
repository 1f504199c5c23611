#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# systemd lab: packaging/systemd/irqd.service under a real systemd. Boots
# Debian's kernel (QEMU TCG) with an initramfs whose PID 1 is this host's
# own Debian systemd (systemd, journald, systemctl, journalctl,
# systemd-analyze and their libraries), busybox for the shell tools, the
# given irqd as /usr/bin/irqd, the unit at /etc/systemd/system/irqd.service
# (the shipped file with the package's paths: /usr/local/bin/irqd ->
# /usr/bin/irqd, as packaging/install.cmake writes it) plus a lab drop-in
# (WatchdogSec=3s), and /etc/irqd/irqd.toml (packaging/irqd.toml with the
# control socket given to group irqdlab and metrics on 0.0.0.0, so that
# CAP_CHOWN and IPAddressAllow= are exercised). The kernel command line
# boots systemd.unit=irqd-lab.target: journald, then irqd-lab.service,
# which runs checks.sh (start/READY, sandbox, reload, watchdog, restart,
# stop, char-vfio ordering, systemd-analyze security, and
# irqd-tune@.service, installed like irqd.service, on a virtio-net NIC with
# a config vector and one vector per queue), prints
# "SDLAB PASS|FAIL|INFO ..." lines and "@@IRQD_SYSTEMD_LAB_EXIT=RC@@", and
# powers off.
#
# Usage: run.sh [-k 6.1|6.12] [-t TIMEOUT_S] [-u UNIT] [-v] IRQD_BINARY
#   -k LINE   the guest kernel: 6.1 (default: what Debian 12's
#             linux-image-amd64 depends on) or 6.12 (the newest
#             linux-image-6.12.*+deb12-amd64 apt-cache offers, else the
#             one cached)
#   -u UNIT   the unit to test (default packaging/systemd/irqd.service),
#             e.g. an older one to compare `systemd-analyze security`
#   -v        the whole console (kernel and systemd messages too)
# Exit: 0 every check passed; 1 a check failed; 77 qemu-system-x86_64 or
# systemd not installed; 124 timeout; 125 any other lab failure.
# Cache: ${IRQD_SYSTEMD_LAB_CACHE:-/var/tmp/irqd-systemd-lab-cache} for 6.1,
# its 6.12/ for 6.12 (kernel, vfio.ko, the virtio-net modules). The kernel packages:
# $IRQD_SYSTEMD_LAB_KPKG and $IRQD_SYSTEMD_LAB_KPKG_612 override.
# Needs: qemu-system-x86, busybox-static, cpio, xz-utils (zstd for 6.12),
# systemd, apt-get (the kernel package is fetched once).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
TIMEOUT=240
LINE=6.1
UNIT=$SRC/packaging/systemd/irqd.service
VERBOSE=0
usage() { sed -n '3,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 125; }
while getopts "k:t:u:vh" o; do
    case $o in
    k) LINE=$OPTARG ;;
    t) TIMEOUT=$OPTARG ;;
    u) UNIT=$OPTARG ;;
    v) VERBOSE=1 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
case $LINE in 6.1 | 6.12) ;; *) usage ;; esac
IRQD=$1

# shellcheck disable=SC2034 # the message prefix of scripts/qemu-lab.sh
LAB=systemd-lab
# shellcheck source=../../../scripts/qemu-lab.sh
. "$SRC/scripts/qemu-lab.sh"
lab_need_qemu "qemu-system-x86 busybox-static cpio xz-utils systemd"
# The guest's PID 1 is the host's systemd: without it there is nothing to test.
SYSTEMD_BINS="/lib/systemd/systemd /lib/systemd/systemd-journald /bin/systemctl /bin/journalctl /usr/bin/systemd-analyze"
for b in $SYSTEMD_BINS; do
    [ -x "$b" ] || { echo "$LAB: $b not found (apt-get install -y systemd)" >&2; exit 77; }
done
lab_need_tools "busybox-static cpio" cpio gzip md5sum apt-get apt-cache dpkg timeout ldd flock
[ -x "$IRQD" ] || lab_die "no irqd binary $IRQD"
[ -s "$UNIT" ] || lab_die "no unit file $UNIT"
lab_find_busybox

# ---------- cached guest kernel (+ vfio.ko for the DeviceAllow=char-vfio check)
CACHE=${IRQD_SYSTEMD_LAB_CACHE:-/var/tmp/irqd-systemd-lab-cache}
# vfio (loaded by vfio-late.service), then virtio-net for the
# irqd-tune@.service check, in dependency order for insmod (the package has
# no modules.dep), as kirq/tests/tune_lab/run.sh loads them. Debian's 6.12
# builds the virtio PCI transport in.
MODS="vfio virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
KVAR=IRQD_SYSTEMD_LAB_KPKG
if [ "$LINE" = 6.12 ]; then
    MODS="vfio failover net_failover virtio_net"
    CACHE=$CACHE/6.12
    KVAR=IRQD_SYSTEMD_LAB_KPKG_612
    if [ -z "${IRQD_SYSTEMD_LAB_KPKG_612:-}" ]; then
        # Resolved at every run, as the kernel lab does: the security suite
        # drops old builds.
        IRQD_SYSTEMD_LAB_KPKG_612=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9.]*\+deb12-amd64$' 2>/dev/null |
            awk '{print $1}' | sort -V | tail -1)
        [ -n "$IRQD_SYSTEMD_LAB_KPKG_612" ] || unset IRQD_SYSTEMD_LAB_KPKG_612
    fi
fi
mkdir -p "$CACHE" || lab_die "cannot create the cache $CACHE"
exec 9>"$CACHE/.lock"
flock 9
lab_resolve_kpkg "$KVAR" "$CACHE"
# The cache is keyed by the module list too: a cache made for another MODS
# (an older lab's vfio alone) is fetched again.
# shellcheck disable=SC2086 # MODS is a word list
WANT=$(printf '%s\n' $MODS)
if [ ! -s "$KDIR/vmlinuz" ] || [ "$(cat "$KDIR/modules/order" 2>/dev/null)" != "$WANT" ]; then
    lab_fetch_kernel "$MODS" CONFIG_CGROUP_BPF=y
    if [ "$LINE" = 6.12 ]; then
        for d in "$CACHE"/linux-image-*; do [ "$d" = "$KDIR" ] || rm -rf "$d"; done
    fi
fi
# The ELF vmlinux (xz or zstd unpacked by lab_extract_vmlinux) boots
# through its PVH entry, without decompressing under TCG.
lab_extract_vmlinux || echo "$LAB: no ELF vmlinux (xz-utils/zstd installed?): booting the bzImage (slower)" >&2
flock -u 9
exec 9>&-

# ---------- the guest's root: built per run (systemd and irqd come from
# this host and this build, so there is nothing stable to cache)
W=$(mktemp -d /tmp/irqd-systemd-lab.XXXXXX)
trap 'rm -rf "$W"' EXIT
R=$W/root
# Not merged-/usr: each file lands at the path ldd and the units name.
for d in bin sbin lib lib64 usr/bin usr/sbin usr/lib etc/systemd/system/irqd.service.d etc/irqd \
    proc sys dev run tmp var/tmp var/log lab lib/modules; do
    mkdir -p "$R/$d"
done
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list); do
    [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done
for b in $SYSTEMD_BINS; do
    mkdir -p "$R$(dirname "$b")"
    cp "$b" "$R$b"
    lab_copy_libs "$b" "$R" "a shared library of $b is missing"
done
# Debian's journald units, unchanged; the targets every service's default
# dependencies name, without their .wants/ (nothing else is pulled in).
for u in systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket \
    systemd-journald-audit.socket sysinit.target basic.target sockets.target timers.target paths.target \
    slices.target local-fs.target local-fs-pre.target swap.target shutdown.target; do
    [ -f "/lib/systemd/system/$u" ] || lab_die "/lib/systemd/system/$u missing (systemd package incomplete?)"
    cp "/lib/systemd/system/$u" "$R/etc/systemd/system/$u"
done
cp "$HERE/irqd-lab.target" "$HERE/irqd-lab.service" "$HERE/vfio-late.service" "$HERE/vfio-early.service" \
    "$R/etc/systemd/system/"
cp "$HERE/watchdog.conf" "$R/etc/systemd/system/irqd.service.d/lab.conf"
# The unit as the package installs it (install.cmake's substitution).
sed 's#/usr/local/bin/irqd#/usr/bin/irqd#g' "$UNIT" >"$R/etc/systemd/system/irqd.service"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\nirqdlab:x:990:\n' >"$R/etc/group"
printf 'passwd: files\ngroup: files\n' >"$R/etc/nsswitch.conf"
printf 'ID=debian\nPRETTY_NAME="irqd systemd lab"\n' >"$R/etc/os-release"
sed -e 's/^group = ""$/group = "irqdlab"/' -e 's/^address = "127.0.0.1"$/address = "0.0.0.0"/' \
    "$SRC/packaging/irqd.toml" >"$R/etc/irqd/irqd.toml"
if ! grep -q '^group = "irqdlab"$' "$R/etc/irqd/irqd.toml" || ! grep -q '^address = "0.0.0.0"$' "$R/etc/irqd/irqd.toml"; then
    lab_die "packaging/irqd.toml changed: the lab's edits (control group, metrics address) did not apply"
fi
if command -v strip >/dev/null; then strip --strip-debug -o "$R/usr/bin/irqd" "$IRQD" || cp "$IRQD" "$R/usr/bin/irqd"
else cp "$IRQD" "$R/usr/bin/irqd"; fi
lab_copy_libs "$IRQD" "$R" "a shared library of irqd is missing"
cp "$HERE/checks.sh" "$R/lab/checks.sh"
# Every module and their order: checks.sh loads vfio through vfio-late and
# the others (virtio-net) in its tune unit part.
cp "$KDIR"/modules/*.ko "$KDIR/modules/order" "$R/lib/modules/"
# irqd-tune@.service as the package installs it.
sed 's#/usr/local/bin/irqd#/usr/bin/irqd#g' "$SRC/packaging/systemd/irqd-tune@.service" \
    >"$R/etc/systemd/system/irqd-tune@.service"
lab_pack_cpio "$R" "$W/initrd.gz"

APPEND="console=ttyS0 panic=-1 rdinit=/lib/systemd/systemd systemd.unit=irqd-lab.target"
# Lab output only, unless -v: systemd's own status lines and the kernel's.
[ "$VERBOSE" = 1 ] || APPEND="$APPEND quiet systemd.show_status=0 systemd.log_level=warning"
# shellcheck disable=SC2054 # commas inside QEMU option values
QEMU=(qemu-system-x86_64 -machine q35,accel=tcg -cpu max,vendor=GenuineIntel -m 1024M -smp 2
    -nodefaults -vga none -display none -no-reboot
    -chardev stdio,id=ser0,signal=off -serial chardev:ser0
    -netdev user,id=net0,restrict=on -device virtio-net-pci,netdev=net0,vectors=3
    -kernel "$KERNEL" -initrd "$W/initrd.gz" -append "$APPEND")
[ "$VERBOSE" = 1 ] && echo "$LAB: ${QEMU[*]}" >&2
echo "$LAB: $KPKG, systemd $(systemctl --version | awk 'NR==1{print $2}'), initramfs $(($(stat -c %s "$W/initrd.gz") / 1048576)) MiB" >&2
# A guest that oopsed before any check ran is booted again (lab_qemu_boot);
# an oops once the checks run is a failure.
lab_qemu_boot "$TIMEOUT" "$W" IRQD_SYSTEMD_LAB_EXIT '^SDLAB ' "${QEMU[@]}"
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
    echo "$LAB: last console lines:" >&2
    tail -n 30 "$W/console.log" >&2
fi
lab_guest_exit_code "$TIMEOUT" "$W" IRQD_SYSTEMD_LAB_EXIT
grep -q '^SDLAB PASS' "$W/console.log" || lab_die "no check ran"
if [ "$RC" != 0 ]; then
    echo "$LAB: FAILED (guest rc=$RC); last console lines:" >&2
    tail -n 30 "$W/console.log" >&2
fi
exit "$RC"
