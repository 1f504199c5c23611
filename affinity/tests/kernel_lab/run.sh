#!/bin/bash
# Kernel lab: boot a real Linux guest (Debian 12's 6.1 kernel, busybox
# initramfs, QEMU TCG) with a given CPU/NUMA shape and an emulated NVMe
# controller, and print the kernel's managed-interrupt masks for every nvme
# queue as "KLAB ..." lines (see guest-init.sh), for compare.py.
#
# Usage: run.sh [-t TIMEOUT_S] [-m MEM_MB_PER_NODE] -s SMP [-n NODE:CPUS]... -q IOQPAIRS
#               [-w WRITE_QUEUES] [-p POLL_QUEUES] [-v]
#   -s SMP      QEMU -smp value, e.g. 8,sockets=2,cores=2,threads=2 or 4,maxcpus=8,sockets=2,cores=2,threads=2
#   -n N:CPUS   NUMA node N holds QEMU cpu-indexes CPUS (e.g. 0:0-3, 1:4-7; several ranges: 0:0-1+4);
#               repeatable; each node gets MEM_MB_PER_NODE (default 256) of memory. No -n: no NUMA.
#   -q N        NVMe max_ioqpairs (I/O queue pairs the controller offers); MSI-X table gets N+1 entries.
#   -w K / -p K nvme.write_queues=K / nvme.poll_queues=K (module parameters, given to insmod by the guest)
#   -v          show the whole console (kernel messages too); default: only KLAB lines
# Prints the guest's KLAB lines on stdout. Exit: 0 guest reported "KLAB end";
# 77 qemu-system-x86_64 not installed; 124 timeout; 125 any other lab failure.
# Cache (kernel, modules, base initramfs): ${IRQD_KLAB_CACHE:-/var/tmp/irqd-kernel-lab-cache}.
# The kernel boots as an uncompressed vmlinux through its PVH entry when xz
# can extract it (halves the boot under TCG), else as the bzImage.
# Needs: qemu-system-x86 (QEMU 7.2 tested), busybox-static, cpio, xz-utils, apt-get.
# The guest CPU is "max,vendor=GenuineIntel" (IRQD_KLAB_CPU): TCG's default
# AMD-flavoured "max" has no topoext, so Linux would see no SMT siblings.
# The guest kernel package: $IRQD_KLAB_KPKG, else the one cached, else what
# Debian's linux-image-amd64 depends on (apt-get download, needs the mirror once).
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
VERBOSE=0
usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' >&2; exit 125; }
while getopts "t:m:s:n:q:w:p:vh" o; do
    case $o in
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
if [ -z "$SMP" ] || [ -z "$IOQ" ]; then usage; fi

# shellcheck disable=SC2034 # the message prefix of scripts/qemu-lab.sh
LAB=kernel-lab
# shellcheck source=../../../scripts/qemu-lab.sh
. "$HERE/../../../scripts/qemu-lab.sh"
lab_need_qemu "qemu-system-x86 busybox-static cpio"
lab_need_tools "busybox-static cpio" cpio gzip md5sum apt-get apt-cache dpkg timeout
lab_find_busybox

# ---------- cached guest: kernel + nvme modules (+ deps) + base initramfs
CACHE=${IRQD_KLAB_CACHE:-/var/tmp/irqd-kernel-lab-cache}
mkdir -p "$CACHE" || lab_die "cannot create cache $CACHE"
lab_resolve_kpkg IRQD_KLAB_KPKG "$CACHE"
MODS="crct10dif_common crct10dif_generic crc-t10dif crc64 crc64_rocksoft_generic crc64-rocksoft t10-pi nvme-core nvme"
if [ ! -s "$KDIR/vmlinuz" ] || [ ! -s "$KDIR/modules/nvme.ko" ]; then
    lab_fetch_kernel "$MODS"
fi
# The uncompressed ELF kernel boots through its PVH entry (CONFIG_PVH=y in
# Debian): no xz decompression under TCG, which is ~5 s of a ~12 s run.
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
# shellcheck disable=SC2054 # commas inside QEMU option values
QEMU=(qemu-system-x86_64 -machine q35,accel=tcg -cpu "$CPU" -m "${MEMTOTAL}M" -smp "$SMP" "${NUMA[@]}"
    -drive "file=$W/disk.img,if=none,id=d0,format=raw"
    -device "nvme,serial=irqd,drive=d0,max_ioqpairs=$IOQ,msix_qsize=$((IOQ + 1))"
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
