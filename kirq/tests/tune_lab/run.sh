#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Tune lab: `irqd tune --apply` and `--restore` on a real kernel's own
# interrupts. Boots Debian 12's 6.1 kernel (or its 6.12: -k 6.12; busybox
# initramfs, QEMU TCG) on 4 CPUs in 2 NUMA nodes with an emulated NVMe
# (admin queue + 4 managed I/O queues), a virtio-net NIC (config + one
# unmanaged queue pair) and, when this host can create a tap device, a
# multi-queue virtio-net (config + 4 unmanaged queue pairs, on a tap of its
# own with 4 queues), runs lab.sh in the guest with the given irqd binary
# and prints its "TUNELAB PASS|FAIL ..." lines. Without the tap (no
# /dev/net/tun, not root) it says "TUNELAB SKIP mq: <why>" and runs the
# rest.
#
# Linux 6.1 predates the read-only smp_affinity_list of managed interrupts:
# there the NVMe I/O queues look writable and the kernel refuses the write
# with EIO, which is the path this lab checks for real; 6.12 has the
# read-only files, which irqd must never write.
#
# Usage: run.sh [-k 6.1|6.12] [-t TIMEOUT_S] [-v] IRQD_BINARY
#   -k LINE   the guest kernel: 6.1 (default: what Debian 12's
#             linux-image-amd64 depends on) or 6.12 (the newest
#             linux-image-6.12.*+deb12-amd64 apt-cache offers, else the
#             one cached)
# Exit: 0 every check passed; 1 a check failed; 77 qemu-system-x86_64 not
# installed; 124 timeout; 125 any other lab failure (the message says which).
# Cache: ${IRQD_TUNE_LAB_CACHE:-/var/tmp/irqd-tune-lab-cache} (kernel, modules,
# base initramfs) for 6.1, its 6.12/ for 6.12. The kernel package:
# $IRQD_TUNE_LAB_KPKG (6.1) or $IRQD_TUNE_LAB_KPKG_612 (6.12), else as -k
# says (apt-get download, once).
# Needs: qemu-system-x86 (7.2 tested), busybox-static, cpio, xz-utils (zstd
# for 6.12), apt-get.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=300
VERBOSE=0
LINE=6.1
usage() { sed -n '3,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 125; }
while getopts "k:t:vh" o; do
    case $o in
    k) LINE=$OPTARG ;;
    t) TIMEOUT=$OPTARG ;;
    v) VERBOSE=1 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
case $LINE in 6.1 | 6.12) ;; *) usage ;; esac
IRQD=$1

# shellcheck disable=SC2034 # the message prefix of scripts/qemu-lab.sh
LAB=tune-lab
# shellcheck source=../../../scripts/qemu-lab.sh
. "$HERE/../../../scripts/qemu-lab.sh"
lab_need_qemu "qemu-system-x86 busybox-static cpio xz-utils"
lab_need_tools "busybox-static cpio" cpio gzip md5sum apt-get apt-cache dpkg timeout ldd flock
[ -x "$IRQD" ] || lab_die "no irqd binary $IRQD"
lab_find_busybox

# ---------- cached guest: kernel, nvme + virtio-net modules, base initramfs
CACHE=${IRQD_TUNE_LAB_CACHE:-/var/tmp/irqd-tune-lab-cache}
# In dependency order, for insmod (the package has no modules.dep).
if [ "$LINE" = 6.1 ]; then
    MODS="crct10dif_common crct10dif_generic crc-t10dif crc64 crc64_rocksoft_generic crc64-rocksoft t10-pi nvme-core nvme
          virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net"
    KVAR=IRQD_TUNE_LAB_KPKG
else
    # Debian's 6.12 builds the crc/t10-pi chain and the virtio PCI transport
    # in; nvme-core needs nvme-auth.
    MODS="nvme-auth nvme-core nvme failover net_failover virtio_net"
    CACHE=$CACHE/6.12
    KVAR=IRQD_TUNE_LAB_KPKG_612
    if [ -z "${IRQD_TUNE_LAB_KPKG_612:-}" ]; then
        # Resolved at every run, as the kernel lab does: the security suite
        # drops old builds.
        IRQD_TUNE_LAB_KPKG_612=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9.]*\+deb12-amd64$' 2>/dev/null |
            awk '{print $1}' | sort -V | tail -1)
        [ -n "$IRQD_TUNE_LAB_KPKG_612" ] || unset IRQD_TUNE_LAB_KPKG_612 # the cached one, if any
    fi
fi
mkdir -p "$CACHE" || lab_die "cannot create the cache $CACHE"
exec 9>"$CACHE/.lock"
flock 9
lab_resolve_kpkg "$KVAR" "$CACHE"
# shellcheck disable=SC2086 # MODS is a word list
WANT=$(printf '%s\n' $MODS)
if [ ! -s "$KDIR/vmlinuz" ] || [ "$(cat "$KDIR/modules/order" 2>/dev/null)" != "$WANT" ]; then
    lab_fetch_kernel "$MODS"
    if [ "$LINE" = 6.12 ]; then
        # One 6.12 build kept: the one just fetched.
        for d in "$CACHE"/linux-image-*; do [ "$d" = "$KDIR" ] || rm -rf "$d"; done
    fi
fi
lab_extract_vmlinux || true
lab_base_initramfs base '*' bin proc sys dev tmp lab lib/modules
BASE=$INITRD
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
lab_copy_libs "$IRQD" "$OV" "a shared library of irqd is missing"
lab_pack_cpio "$OV" "$W/overlay.cpio.gz"
cat "$BASE" "$W/overlay.cpio.gz" >"$W/initrd.gz"
truncate -s 64M "$W/disk.img"

APPEND="console=ttyS0 panic=-1 rdinit=/init cryptomgr.notests"
[ "$VERBOSE" = 1 ] || APPEND="$APPEND quiet"
# The multi-queue NIC needs a backend with 4 queues: a tap of its own (QEMU
# creates it, as root, and it goes away with QEMU). Tried first on a QEMU
# without a machine, so that a host that cannot runs the rest without it.
TAP=irqdtl$$
TAP=${TAP:0:15}
MQ=()
# shellcheck disable=SC2054 # commas inside QEMU option values
TAPDEV=(-netdev "tap,id=n1,ifname=$TAP,script=no,downscript=no,queues=4")
if [ ! -c /dev/net/tun ]; then
    echo "TUNELAB SKIP mq: no /dev/net/tun (modprobe tun)"
elif ! echo quit | timeout 30 qemu-system-x86_64 -machine none -nodefaults -display none -monitor stdio \
    "${TAPDEV[@]}" >"$W/tap.out" 2>"$W/tap.err"; then
    echo "TUNELAB SKIP mq: QEMU cannot create the tap $TAP: $(grep -v 'has no peer' "$W/tap.err" | head -1)"
else
    # 2 x 4 queues + config + control: QEMU's 2N+2 vectors (the control
    # queue has no callback, hence no vector: 9 are used).
    # shellcheck disable=SC2054 # commas inside QEMU option values
    MQ=("${TAPDEV[@]}" -device virtio-net-pci,netdev=n1,mq=on,vectors=10)
    APPEND="$APPEND irqd_tune_lab.mq=1"
fi
# Two nodes of two CPUs; the NVMe offers 4 I/O queue pairs (5 MSI-X vectors:
# admin = pre vector, 4 managed); virtio-net without a peer has one queue
# pair (config, input.0, output.0: unmanaged, spread by the driver's hints);
# the one on the tap has 4 (virtnet_set_affinity(): queue i on CPU i).
# shellcheck disable=SC2054 # commas inside QEMU option values
QEMU=(qemu-system-x86_64 -machine q35,accel=tcg -cpu max,vendor=GenuineIntel -m 512M
    -smp 4,sockets=2,cores=2,threads=1
    -object memory-backend-ram,id=m0,size=256M -numa node,nodeid=0,memdev=m0,cpus=0-1
    -object memory-backend-ram,id=m1,size=256M -numa node,nodeid=1,memdev=m1,cpus=2-3
    -drive "file=$W/disk.img,if=none,id=d0,format=raw" -device nvme,serial=irqdtune,drive=d0,max_ioqpairs=4,msix_qsize=5
    -device virtio-net-pci,vectors=3 "${MQ[@]}"
    -nodefaults -vga none -display none -no-reboot
    -chardev stdio,id=ser0,signal=off -serial chardev:ser0
    -kernel "$KERNEL" -initrd "$W/initrd.gz" -append "$APPEND")
[ "$VERBOSE" = 1 ] && echo "tune-lab: ${QEMU[*]}" >&2
lab_qemu_boot "$TIMEOUT" "$W" IRQD_TUNE_LAB_EXIT '^tune-lab: guest up' "${QEMU[@]}"
lab_guest_exit_code "$TIMEOUT" "$W" IRQD_TUNE_LAB_EXIT
grep -q '^TUNELAB PASS' "$W/console.log" || lab_die "no check ran"
exit "$RC"
