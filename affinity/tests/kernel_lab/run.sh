#!/bin/bash
# Kernel lab: boot a real Linux guest (Debian 12's 6.1 kernel, or its 6.12
# from bookworm-security; busybox initramfs, QEMU TCG) with a given CPU/NUMA
# shape and an emulated NVMe controller and/or virtio-blk disk, and print
# the kernel's managed-interrupt masks for every nvme queue and virtio-blk
# request queue as "KLAB ..." lines (see guest-init.sh), for compare.py.
#
# Usage: run.sh [-k 6.1|6.12] [-t TIMEOUT_S] [-m MEM_MB_PER_NODE] -s SMP [-n NODE:CPUS]...
#               [-q IOQPAIRS [-w WRITE_QUEUES] [-p POLL_QUEUES]] [-b BLK_QUEUES] [-v]
#   -k LINE     the guest kernel: 6.1 (default: what Debian 12's linux-image-amd64
#               depends on) or 6.12 (the newest linux-image-6.12.*+deb12-amd64
#               apt-cache offers, resolved at every run; the cached one when
#               apt-cache offers none)
#   -s SMP      QEMU -smp value, e.g. 8,sockets=2,cores=2,threads=2 or 4,maxcpus=8,sockets=2,cores=2,threads=2
#   -n N:CPUS   NUMA node N holds QEMU cpu-indexes CPUS (e.g. 0:0-3, 1:4-7; several ranges: 0:0-1+4);
#               repeatable; each node gets MEM_MB_PER_NODE (default 256) of memory. No -n: no NUMA.
#   -q N        an NVMe controller with max_ioqpairs N (I/O queue pairs); MSI-X table gets N+1 entries.
#   -w K / -p K nvme.write_queues=K / nvme.poll_queues=K (module parameters, given to insmod by the guest)
#   -b N        a virtio-blk disk with num-queues=N (N+1 MSI-X vectors: config + one per queue).
#   At least one of -q and -b. The guest brings the NVMe controller up first, then
#   the virtio disk, so the disk's vectors are activated after the controller's.
#   -v          show the whole console (kernel messages too); default: only KLAB lines
# Prints the guest's KLAB lines on stdout. Exit: 0 guest reported "KLAB end";
# 77 qemu-system-x86_64 not installed; 124 timeout; 125 any other lab failure.
# Cache (kernel, modules, base initramfs): ${IRQD_KLAB_CACHE:-/var/tmp/irqd-kernel-lab-cache} for
# 6.1, its 6.12/ subdirectory for 6.12; one directory per kernel package in each.
# The kernel boots as an uncompressed vmlinux through its PVH entry when xz
# can extract it (halves the boot under TCG), else as the bzImage.
# Needs: qemu-system-x86 (QEMU 7.2 tested), busybox-static, cpio, xz-utils, apt-get.
# The guest CPU is "max,vendor=GenuineIntel" (IRQD_KLAB_CPU): TCG's default
# AMD-flavoured "max" has no topoext, so Linux would see no SMT siblings.
# The 6.1 guest kernel package: $IRQD_KLAB_KPKG, else the one cached, else what
# Debian's linux-image-amd64 depends on (apt-get download, needs the mirror once).
# The 6.12 one: $IRQD_KLAB_KPKG_612, else the newest apt-cache offers, else the
# one cached (needs bookworm-security in the apt sources to fetch it).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=150
CPU=${IRQD_KLAB_CPU:-max,vendor=GenuineIntel}
MEM=256
SMP=
NODES=()
IOQ=
WQ=
PQ=
BLKQ=
LINE=6.1
VERBOSE=0
usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' >&2; exit 125; }
while getopts "k:t:m:s:n:q:w:p:b:vh" o; do
    case $o in
    k) LINE=$OPTARG ;;
    b) BLKQ=$OPTARG ;;
    t) TIMEOUT=$OPTARG ;;
    m) MEM=$OPTARG ;;
    s) SMP=$OPTARG ;;
    n) NODES+=("$OPTARG") ;;
    q) IOQ=$OPTARG ;;
    w) WQ=$OPTARG ;;
    p) PQ=$OPTARG ;;
    v) VERBOSE=1 ;;
    *) usage ;;
    esac
done
if [ -z "$SMP" ] || { [ -z "$IOQ" ] && [ -z "$BLKQ" ]; }; then usage; fi
case $LINE in 6.1 | 6.12) ;; *) usage ;; esac

# shellcheck disable=SC2034 # the message prefix of scripts/qemu-lab.sh
LAB=kernel-lab
# shellcheck source=../../../scripts/qemu-lab.sh
. "$HERE/../../../scripts/qemu-lab.sh"
lab_need_qemu "qemu-system-x86 busybox-static cpio"
lab_need_tools "busybox-static cpio" cpio gzip md5sum apt-get apt-cache dpkg timeout
lab_find_busybox

# ---------- cached guest: kernel + nvme and virtio-blk modules (+ deps) + base initramfs
CACHE=${IRQD_KLAB_CACHE:-/var/tmp/irqd-kernel-lab-cache}
if [ "$LINE" = 6.1 ]; then
    # Debian 12's 6.1: the crc/t10-pi chain and the virtio PCI transport are modules.
    MODS="crct10dif_common crct10dif_generic crc-t10dif crc64 crc64_rocksoft_generic crc64-rocksoft t10-pi nvme-core nvme"
    MODS="$MODS virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk"
    KVAR=IRQD_KLAB_KPKG
else
    # Its 6.12: those are built in; nvme-core needs nvme-auth.
    MODS="nvme-auth nvme-core nvme virtio_blk"
    CACHE=$CACHE/6.12
    KVAR=IRQD_KLAB_KPKG_612
    if [ -z "${IRQD_KLAB_KPKG_612:-}" ]; then
        # Resolved at every run, not pinned: the security suite drops old builds.
        IRQD_KLAB_KPKG_612=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9.]*\+deb12-amd64$' 2>/dev/null |
            awk '{print $1}' | sort -V | tail -1)
        if [ -z "$IRQD_KLAB_KPKG_612" ]; then
            unset IRQD_KLAB_KPKG_612 # the cached one, if any
            [ -s "$CACHE/kpkg" ] || lab_die "apt-cache offers no linux-image-6.12.*+deb12-amd64 and none is cached" \
                "(bookworm-security in the apt sources? apt-get update)"
        fi
    fi
fi
mkdir -p "$CACHE" || lab_die "cannot create cache $CACHE"
lab_resolve_kpkg "$KVAR" "$CACHE"
missing=0
for m in $MODS; do [ -s "$KDIR/modules/$m.ko" ] || missing=1; done
if [ ! -s "$KDIR/vmlinuz" ] || [ "$missing" = 1 ]; then
    lab_fetch_kernel "$MODS"
    if [ "$LINE" = 6.12 ]; then
        # One 6.12 build kept: the one just fetched.
        for d in "$CACHE"/linux-image-*; do [ "$d" = "$KDIR" ] || rm -rf "$d"; done
    fi
fi
# The ELF vmlinux (xz or zstd unpacked by lab_extract_vmlinux) boots
# through its PVH entry, without decompressing under TCG.
lab_extract_vmlinux ||
    echo "kernel-lab: could not extract an ELF vmlinux (xz-utils installed?); booting the bzImage (slower)" >&2
lab_base_initramfs initrd '*.ko' bin sbin proc sys dev tmp lib/modules

# ---------- QEMU
W=$(mktemp -d /tmp/irqd-kernel-lab.XXXXXX)
trap 'rm -rf "$W"' EXIT
truncate -s 1M "$W/disk.img"
NUMA=()
MEMTOTAL=$MEM
if [ ${#NODES[@]} -gt 0 ]; then
    MEMTOTAL=$((MEM * ${#NODES[@]}))
    for spec in "${NODES[@]}"; do
        id=${spec%%:*}
        cpus=${spec#*:}
        NUMA+=(-object "memory-backend-ram,id=m$id,size=${MEM}M")
        NUMA+=(-numa "node,nodeid=$id,memdev=m$id,cpus=${cpus//+/,cpus=}")
    done
fi
# cryptomgr.notests: skip the crypto self-tests (~0.6 s under TCG).
APPEND="console=ttyS0 quiet panic=-1 rdinit=/init cryptomgr.notests"
[ -n "$WQ" ] && APPEND="$APPEND nvme.write_queues=$WQ"
[ -n "$PQ" ] && APPEND="$APPEND nvme.poll_queues=$PQ"
DEVS=()
if [ -n "$IOQ" ]; then
    APPEND="$APPEND klab.nvme=1"
    # shellcheck disable=SC2054 # commas inside QEMU option values
    DEVS+=(-drive "file=$W/disk.img,if=none,id=d0,format=raw"
        -device "nvme,serial=irqd,drive=d0,max_ioqpairs=$IOQ,msix_qsize=$((IOQ + 1))")
fi
if [ -n "$BLKQ" ]; then
    truncate -s 1M "$W/vdisk.img"
    APPEND="$APPEND klab.virtio=1"
    # shellcheck disable=SC2054 # commas inside QEMU option values
    DEVS+=(-drive "file=$W/vdisk.img,if=none,id=d1,format=raw" -device "virtio-blk-pci,drive=d1,num-queues=$BLKQ")
fi
# shellcheck disable=SC2054 # commas inside QEMU option values
QEMU=(qemu-system-x86_64 -machine q35,accel=tcg -cpu "$CPU" -m "${MEMTOTAL}M" -smp "$SMP" "${NUMA[@]}"
    "${DEVS[@]}"
    -nodefaults -vga none -display none -no-reboot
    -chardev stdio,id=ser0,signal=off -serial chardev:ser0
    -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND")
echo "kernel-lab: ${QEMU[*]}" >&2
lab_qemu "$TIMEOUT" "$W" "" "${QEMU[@]}"
if [ "$VERBOSE" = 1 ]; then cat "$W/console.log"; else grep '^KLAB ' "$W/console.log" || true; fi
lab_qemu_report "$W"
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
    echo "kernel-lab: TIMEOUT after ${TIMEOUT}s; last console lines:" >&2
    tail -n 20 "$W/console.log" >&2
    exit 124
fi
if ! grep -q '^KLAB end' "$W/console.log"; then
    echo "kernel-lab: guest did not finish (qemu rc=$QRC); last console lines:" >&2
    tail -n 30 "$W/console.log" >&2
    exit 125
fi
if grep -q '^KLAB error' "$W/console.log"; then
    grep '^KLAB error' "$W/console.log" >&2
    exit 125
fi
exit 0
