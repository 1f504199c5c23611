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

die() { echo "kernel-lab: $*" >&2; exit 125; }
if ! command -v qemu-system-x86_64 >/dev/null; then
    echo "kernel-lab: qemu-system-x86_64 not found (apt-get install -y --no-install-recommends qemu-system-x86 busybox-static cpio)" >&2
    exit 77
fi
for t in cpio gzip md5sum apt-get apt-cache dpkg timeout; do
    command -v $t >/dev/null || die "missing tool $t (apt-get install -y --no-install-recommends busybox-static cpio)"
done
BUSYBOX=
for b in /bin/busybox /usr/bin/busybox; do
    if [ -x "$b" ] && ! LC_ALL=C ldd "$b" >/dev/null 2>&1; then BUSYBOX=$b; break; fi
done
[ -n "$BUSYBOX" ] || die "no static busybox (apt-get install -y busybox-static)"

# ---------- cached guest: kernel + nvme modules (+ deps) + base initramfs
CACHE=${IRQD_KLAB_CACHE:-/var/tmp/irqd-kernel-lab-cache}
mkdir -p "$CACHE" || die "cannot create cache $CACHE"
KPKG=${IRQD_KLAB_KPKG:-}
if [ -z "$KPKG" ]; then
    if [ -s "$CACHE/kpkg" ]; then KPKG=$(cat "$CACHE/kpkg")
    else KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'); fi
fi
[ -n "$KPKG" ] || die "cannot tell which kernel package to use (apt-get update, or set IRQD_KLAB_KPKG)"
KDIR=$CACHE/$KPKG
MODS="crct10dif_common crct10dif_generic crc-t10dif crc64 crc64_rocksoft_generic crc64-rocksoft t10-pi nvme-core nvme"
if [ ! -s "$KDIR/vmlinuz" ] || [ ! -s "$KDIR/modules/nvme.ko" ]; then
    echo "kernel-lab: fetching $KPKG into $KDIR" >&2
    B=$(mktemp -d "$CACHE/build.XXXXXX")
    trap 'rm -rf "$B"' EXIT
    (cd "$B" && apt-get download "$KPKG" >"$B/apt.log" 2>&1) ||
        { cat "$B/apt.log" >&2; die "apt-get download $KPKG failed (no mirror? run apt-get update)"; }
    dpkg -x "$B"/*.deb "$B/x"
    KVER=$(ls "$B/x/lib/modules")
    mkdir -p "$KDIR/modules.tmp"
    for m in $MODS; do
        src=$( (find "$B/x/lib/modules/$KVER/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" || true) | head -1)
        [ -n "$src" ] || die "module $m not in $KPKG (built in? then drop it from MODS)"
        case $src in
        *.xz) xz -dc "$src" >"$KDIR/modules.tmp/$m.ko" ;;
        *.zst) zstd -dcq "$src" >"$KDIR/modules.tmp/$m.ko" ;;
        *) cp "$src" "$KDIR/modules.tmp/$m.ko" ;;
        esac
    done
    cp "$B/x/boot/config-$KVER" "$KDIR/config"
    cp "$B/x/boot/vmlinuz-$KVER" "$KDIR/vmlinuz.tmp"
    rm -rf "$KDIR/modules"
    mv "$KDIR/modules.tmp" "$KDIR/modules"
    mv "$KDIR/vmlinuz.tmp" "$KDIR/vmlinuz"
    echo "$KPKG" >"$CACHE/kpkg"
    rm -rf "$B"
    trap - EXIT
fi
# The uncompressed ELF kernel boots through its PVH entry (CONFIG_PVH=y in
# Debian): no xz decompression under TCG, which is ~5 s of a ~12 s run.
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
        echo "kernel-lab: could not extract an ELF vmlinux (xz-utils installed?); booting the bzImage (slower)" >&2
    fi
fi
SUM=$(cat "$HERE/guest-init.sh" "$BUSYBOX" "$KDIR"/modules/*.ko | md5sum | cut -c1-12)
INITRD=$KDIR/initrd-$SUM.cpio.gz
if [ ! -s "$INITRD" ]; then
    rm -f "$KDIR"/initrd-*.cpio.gz
    R=$(mktemp -d "$CACHE/root.XXXXXX")
    mkdir -p "$R"/{bin,sbin,proc,sys,dev,tmp,lib/modules}
    cp "$BUSYBOX" "$R/bin/busybox"
    cp "$KDIR"/modules/*.ko "$R/lib/modules/"
    cp "$HERE/guest-init.sh" "$R/init"
    chmod 755 "$R/init"
    (cd "$R" && find . | cpio -o -H newc --quiet | gzip -1) >"$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    rm -rf "$R"
fi

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
KERNEL=$KDIR/vmlinux
[ -s "$KERNEL" ] || KERNEL=$KDIR/vmlinuz
# cryptomgr.notests: skip the crypto self-tests (~0.6 s under TCG).
APPEND="console=ttyS0 quiet panic=-1 rdinit=/init cryptomgr.notests"
[ -n "$WQ" ] && APPEND="$APPEND nvme.write_queues=$WQ"
[ -n "$PQ" ] && APPEND="$APPEND nvme.poll_queues=$PQ"
QEMU=(qemu-system-x86_64 -machine q35,accel=tcg -cpu "$CPU" -m "${MEMTOTAL}M" -smp "$SMP" "${NUMA[@]}"
    -drive "file=$W/disk.img,if=none,id=d0,format=raw"
    -device "nvme,serial=irqd,drive=d0,max_ioqpairs=$IOQ,msix_qsize=$((IOQ + 1))"
    -nodefaults -vga none -display none -no-reboot
    -chardev stdio,id=ser0,signal=off -serial chardev:ser0
    -kernel "$KERNEL" -initrd "$INITRD" -append "$APPEND")
echo "kernel-lab: ${QEMU[*]}" >&2
T0=$(date +%s%N)
set +e
timeout --foreground -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>"$W/qemu.err" | sed -u 's/\r$//' >"$W/console.log"
QRC=${PIPESTATUS[0]}
set -e
T1=$(date +%s%N)
if [ "$VERBOSE" = 1 ]; then cat "$W/console.log"; else grep '^KLAB ' "$W/console.log" || true; fi
echo "kernel-lab: qemu exited rc=$QRC after $(((T1 - T0) / 1000000)) ms" >&2
[ -s "$W/qemu.err" ] && sed 's/^/kernel-lab: qemu: /' "$W/qemu.err" >&2
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
