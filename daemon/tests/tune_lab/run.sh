#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Tune lab: `irqd tune --apply` and `--restore` on a real kernel's own
# interrupts. Boots Debian 12's 6.1 kernel (busybox initramfs, QEMU TCG) on
# 4 CPUs in 2 NUMA nodes with an emulated NVMe (admin queue + 4 managed I/O
# queues) and a virtio-net NIC (config + one unmanaged queue pair), runs
# lab.sh in the guest with the given irqd binary and prints its
# "TUNELAB PASS|FAIL ..." lines.
#
# Linux 6.1 predates the read-only smp_affinity_list of managed interrupts:
# there the NVMe I/O queues look writable and the kernel refuses the write
# with EIO, which is the path this lab checks for real (the fake trees of
# irqs_cli_test cover the read-only one, as this development VM's 6.18 has).
#
# Usage: run.sh [-t TIMEOUT_S] [-v] IRQD_BINARY
# Exit: 0 every check passed; 1 a check failed; 77 qemu-system-x86_64 not
# installed; 124 timeout; 125 any other lab failure (the message says which).
# Cache: ${IRQD_TUNE_LAB_CACHE:-/var/tmp/irqd-tune-lab-cache} (kernel, modules,
# base initramfs). The kernel package: $IRQD_TUNE_LAB_KPKG, else the one
# cached, else what Debian's linux-image-amd64 depends on (apt-get download).
# Needs: qemu-system-x86 (7.2 tested), busybox-static, cpio, xz-utils, apt-get.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=300
VERBOSE=0
usage() { sed -n '3,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 125; }
while getopts "t:vh" o; do
    case $o in
    t) TIMEOUT=$OPTARG ;;
    v) VERBOSE=1 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
IRQD=$1

die() { echo "tune-lab: $*" >&2; exit 125; }
if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "tune-lab: qemu-system-x86_64 not found (apt-get install -y --no-install-recommends qemu-system-x86 busybox-static cpio xz-utils)" >&2
    exit 77
fi
for t in cpio gzip md5sum apt-get apt-cache dpkg timeout ldd flock; do
    command -v "$t" >/dev/null || die "missing tool $t (apt-get install -y --no-install-recommends busybox-static cpio)"
done
[ -x "$IRQD" ] || die "no irqd binary $IRQD"
BUSYBOX=
for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! LC_ALL=C ldd "$b" >/dev/null 2>&1; then BUSYBOX=$b; break; fi
done
[ -n "$BUSYBOX" ] || die "no static busybox (apt-get install -y busybox-static)"

# ---------- cached guest: kernel, nvme + virtio-net modules, base initramfs
CACHE=${IRQD_TUNE_LAB_CACHE:-/var/tmp/irqd-tune-lab-cache}
mkdir -p "$CACHE" || die "cannot create the cache $CACHE"
# In dependency order, for insmod (the package has no modules.dep).
MODS="crct10dif_common crct10dif_generic crc-t10dif crc64 crc64_rocksoft_generic crc64-rocksoft t10-pi nvme-core nvme
      virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
exec 9>"$CACHE/.lock"
flock 9
KPKG=${IRQD_TUNE_LAB_KPKG:-}
if [ -z "$KPKG" ]; then
    if [ -s "$CACHE/kpkg" ]; then KPKG=$(cat "$CACHE/kpkg")
    else KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'); fi
fi
[ -n "$KPKG" ] || die "cannot tell which kernel package to use (apt-get update, or set IRQD_TUNE_LAB_KPKG)"
KDIR=$CACHE/$KPKG
# shellcheck disable=SC2086 # MODS is a word list
WANT=$(printf '%s\n' $MODS)
if [ ! -s "$KDIR/vmlinuz" ] || [ "$(cat "$KDIR/modules/order" 2>/dev/null)" != "$WANT" ]; then
    echo "tune-lab: fetching $KPKG into $KDIR" >&2
    B=$(mktemp -d "$CACHE/build.XXXXXX")
    trap 'rm -rf "$B"' EXIT
    (cd "$B" && apt-get download "$KPKG" >"$B/apt.log" 2>&1) ||
        { cat "$B/apt.log" >&2; die "apt-get download $KPKG failed (no mirror? run apt-get update)"; }
    dpkg -x "$B"/*.deb "$B/x"
    KVER=$(ls "$B/x/lib/modules")
    mkdir -p "$B/modules"
    for m in $MODS; do
        src=$( (find "$B/x/lib/modules/$KVER/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" || true) | head -1)
        [ -n "$src" ] || die "module $m not in $KPKG (built in? then drop it from MODS)"
        case $src in
        *.xz) xz -dc "$src" >"$B/modules/$m.ko" ;;
        *.zst) zstd -dcq "$src" >"$B/modules/$m.ko" ;;
        *) cp "$src" "$B/modules/$m.ko" ;;
        esac
        echo "$m" >>"$B/modules/order"
    done
    mkdir -p "$KDIR"
    cp "$B/x/boot/config-$KVER" "$KDIR/config"
    rm -rf "$KDIR/modules" "$KDIR/vmlinux" "$KDIR/vmlinux.none"
    mv "$B/modules" "$KDIR/modules"
    cp "$B/x/boot/vmlinuz-$KVER" "$KDIR/vmlinuz.tmp"
    mv "$KDIR/vmlinuz.tmp" "$KDIR/vmlinuz"
    echo "$KPKG" >"$CACHE/kpkg"
    rm -rf "$B"
    trap - EXIT
fi
# The uncompressed ELF kernel boots through its PVH entry: no xz
# decompression under TCG.
if [ ! -s "$KDIR/vmlinux" ] && [ ! -e "$KDIR/vmlinux.none" ]; then
    off=$( (grep -abo $'\xfd7zXZ\x00' "$KDIR/vmlinuz" || true) | head -1 | cut -d: -f1)
    if [ -n "$off" ] && command -v xz >/dev/null && grep -q '^CONFIG_PVH=y' "$KDIR/config"; then
        (tail -c +$((off + 1)) "$KDIR/vmlinuz" | xz -dcq --single-stream >"$KDIR/vmlinux.tmp" 2>/dev/null) || true
    fi
    if [ "$(head -c 4 "$KDIR/vmlinux.tmp" 2>/dev/null || true)" = $'\x7fELF' ]; then
        mv "$KDIR/vmlinux.tmp" "$KDIR/vmlinux"
    else
        rm -f "$KDIR/vmlinux.tmp"
        : >"$KDIR/vmlinux.none"
    fi
fi
SUM=$(cat "$HERE/guest-init.sh" "$BUSYBOX" "$KDIR"/modules/* | md5sum | cut -c1-12)
BASE=$KDIR/base-$SUM.cpio.gz
if [ ! -s "$BASE" ]; then
    rm -f "$KDIR"/base-*.cpio.gz
    R=$(mktemp -d "$CACHE/root.XXXXXX")
    mkdir -p "$R"/{bin,proc,sys,dev,tmp,lab,lib/modules}
    cp "$BUSYBOX" "$R/bin/busybox"
    cp "$KDIR"/modules/* "$R/lib/modules/"
    cp "$HERE/guest-init.sh" "$R/init"
    chmod 755 "$R/init"
    (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$BASE.tmp"
    mv "$BASE.tmp" "$BASE"
    rm -rf "$R"
fi
flock -u 9
exec 9>&-

# ---------- per-run overlay: /lab/irqd, /lab/lab.sh and irqd's shared libraries
W=$(mktemp -d /tmp/irqd-tune-lab.XXXXXX)
trap 'rm -rf "$W"' EXIT
OV=$W/overlay
mkdir -p "$OV/lab"
if command -v strip >/dev/null; then strip --strip-debug -o "$OV/lab/irqd" "$IRQD" || cp "$IRQD" "$OV/lab/irqd"
else cp "$IRQD" "$OV/lab/irqd"; fi
cp "$HERE/lab.sh" "$OV/lab/lab.sh"
if LC_ALL=C ldd "$IRQD" 2>&1 | grep -q 'not found'; then die "a shared library of irqd is missing: $(ldd "$IRQD" | grep 'not found' | head -1)"; fi
for l in $(LC_ALL=C ldd "$IRQD" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    mkdir -p "$OV$(dirname "$l")"
    cp -L "$l" "$OV$l"
done
(cd "$OV" && find . | cpio -o -H newc --quiet | gzip -1) >"$W/overlay.cpio.gz"
cat "$BASE" "$W/overlay.cpio.gz" >"$W/initrd.gz"
truncate -s 64M "$W/disk.img"

KERNEL=$KDIR/vmlinux
[ -s "$KERNEL" ] || KERNEL=$KDIR/vmlinuz
APPEND="console=ttyS0 panic=-1 rdinit=/init cryptomgr.notests"
[ "$VERBOSE" = 1 ] || APPEND="$APPEND quiet"
# Two nodes of two CPUs; the NVMe offers 4 I/O queue pairs (5 MSI-X vectors:
# admin = pre vector, 4 managed); virtio-net without a peer has one queue
# pair (config, input.0, output.0: unmanaged, spread by the driver's hints).
# shellcheck disable=SC2054 # commas inside QEMU option values
QEMU=(qemu-system-x86_64 -machine q35,accel=tcg -cpu max,vendor=GenuineIntel -m 512M
    -smp 4,sockets=2,cores=2,threads=1
    -object memory-backend-ram,id=m0,size=256M -numa node,nodeid=0,memdev=m0,cpus=0-1
    -object memory-backend-ram,id=m1,size=256M -numa node,nodeid=1,memdev=m1,cpus=2-3
    -drive "file=$W/disk.img,if=none,id=d0,format=raw" -device nvme,serial=irqdtune,drive=d0,max_ioqpairs=4,msix_qsize=5
    -device virtio-net-pci,vectors=3
    -nodefaults -vga none -display none -no-reboot
    -chardev stdio,id=ser0,signal=off -serial chardev:ser0
    -kernel "$KERNEL" -initrd "$W/initrd.gz" -append "$APPEND")
[ "$VERBOSE" = 1 ] && echo "tune-lab: ${QEMU[*]}" >&2
T0=$(date +%s%N)
set +e
timeout --foreground -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>"$W/qemu.err" | sed -u 's/\r$//' | tee "$W/console.log" |
    grep --line-buffered -v '^@@IRQD_TUNE_LAB_EXIT='
QRC=${PIPESTATUS[0]}
set -e
T1=$(date +%s%N)
echo "tune-lab: qemu exited rc=$QRC after $(((T1 - T0) / 1000000)) ms" >&2
if [ -s "$W/qemu.err" ]; then sed 's/^/tune-lab: qemu: /' "$W/qemu.err" >&2; fi
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
    echo "tune-lab: TIMEOUT after ${TIMEOUT}s" >&2
    exit 124
fi
RC=$(sed -n 's/^@@IRQD_TUNE_LAB_EXIT=\([0-9]*\)@@$/\1/p' "$W/console.log" | tail -1)
if [ -z "$RC" ]; then
    echo "tune-lab: the guest ended without an exit code (qemu rc=$QRC); last console lines:" >&2
    tail -n 20 "$W/console.log" >&2
    exit 125
fi
grep -q '^TUNELAB PASS' "$W/console.log" || { echo "tune-lab: no check ran" >&2; exit 125; }
exit "$RC"
