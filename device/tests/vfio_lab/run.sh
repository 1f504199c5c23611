#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# VFIO lab: boot a QEMU guest (Debian 12's 6.1 kernel, busybox initramfs,
# TCG) with an emulated Intel IOMMU and ivshmem-doorbell PCI devices (MSI-X,
# VECTORS vectors each), bind them to vfio-pci, run PROGRAM [ARGS...] in the
# guest, stream the console, power off and exit with PROGRAM's exit code.
#
# Usage: run.sh [-t TIMEOUT_S] [-n VECTORS] [-d DEVICES] [-f FILE]... [-e VAR=VALUE]...
#               [-H HOST_HOOK] [-v] PROGRAM [ARGS...]
#   PROGRAM      an ELF program (dynamically linked is fine) or a busybox sh script
#   -f FILE      another file for /lab (repeatable): a second program, data
#   -e VAR=VAL   exported in the guest before PROGRAM runs (repeatable)
#   -n VECTORS   MSI-X vectors per device (default 64); more than ~400 needs IRQD_VFIO_LAB_SMP=8
#   -d DEVICES   ivshmem devices (default 1), each in its own IOMMU group
#   -B           put the devices behind one PCI-PCI bridge without ACS instead:
#                with the vIOMMU they share one IOMMU group (with the bridge)
#   -H HOOK      a bash command run on the host while the guest runs, with
#                VFIO_LAB_CTL = the first device's control FIFO (write "0 VECTOR [COUNT]"
#                lines to fire its MSI-X vector VECTOR from the host) and
#                VFIO_LAB_CONSOLE = the console log so far (wait there for a marker)
#   -v           also show the kernel's boot messages
# In the guest: cwd /lab (PROGRAM, every -f FILE, and every shared library
# they need at its host path), VFIO_LAB_BDF = the first device, already bound to
# vfio-pci (driver_override stays vfio-pci), VFIO_LAB_BDFS = all of them.
# Exit: PROGRAM's exit code; 77 qemu-system-x86_64 is not installed; 124 timeout;
# 125 any lab failure (the message says which).
# Env: IRQD_VFIO_LAB_CACHE (default /var/tmp/irqd-vfio-lab-cache: kernel, modules,
# base initramfs; ~75 MB), IRQD_VFIO_LAB_KPKG (the kernel package; default the one
# cached, else what Debian's linux-image-amd64 depends on, fetched with apt-get
# download once), IRQD_VFIO_LAB_SMP (2), IRQD_VFIO_LAB_MEM (512M),
# IRQD_VFIO_LAB_PYTHON (python3, 3.10 or later).
# Needs: qemu-system-x86 (QEMU 7.2 tested), busybox-static, cpio, xz-utils, python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=300
VECTORS=64
NDEV=1
FILES=()
ENVS=()
HOOK=
VERBOSE=0
BRIDGE=0
usage() { sed -n '3,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 125; }
while getopts "t:n:d:f:e:H:Bvh" o; do
    case $o in
    t) TIMEOUT=$OPTARG ;;
    n) VECTORS=$OPTARG ;;
    d) NDEV=$OPTARG ;;
    f) FILES+=("$OPTARG") ;;
    e) ENVS+=("$OPTARG") ;;
    H) HOOK=$OPTARG ;;
    B) BRIDGE=1 ;;
    v) VERBOSE=1 ;;
    *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
PROG=$1
shift

# shellcheck disable=SC2034 # the message prefix of scripts/qemu-lab.sh
LAB=vfio-lab
# shellcheck source=../../../scripts/qemu-lab.sh
. "$HERE/../../../scripts/qemu-lab.sh"
lab_need_qemu "qemu-system-x86 busybox-static cpio xz-utils"
PYTHON=${IRQD_VFIO_LAB_PYTHON:-python3}
lab_need_tools "busybox-static cpio python3" cpio gzip md5sum apt-get apt-cache dpkg timeout ldd flock "$PYTHON"
"$PYTHON" -c 'import os, socket; os.eventfd; socket.send_fds' 2>/dev/null || lab_die "$PYTHON is older than 3.10 (no os.eventfd)"
[ -f "$PROG" ] || lab_die "no program $PROG"
for f in "${FILES[@]}"; do [ -e "$f" ] || lab_die "no file $f (-f)"; done
for e in "${ENVS[@]}"; do [[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || lab_die "-e $e: expected VAR=VALUE"; done
[[ $VECTORS =~ ^[1-9][0-9]*$ ]] || lab_die "-n $VECTORS: expected a vector count >= 1"
[[ $NDEV =~ ^[1-9]$ ]] || lab_die "-d $NDEV: expected 1-9 devices"
lab_find_busybox

# ---------- cached guest: kernel, vfio modules, base initramfs
CACHE=${IRQD_VFIO_LAB_CACHE:-/var/tmp/irqd-vfio-lab-cache}
mkdir -p "$CACHE" || lab_die "cannot create the cache $CACHE"
exec 9>"$CACHE/.lock"
flock 9 # two labs at once build the cache once
lab_resolve_kpkg IRQD_VFIO_LAB_KPKG "$CACHE"
# In dependency order (modinfo -F depends), for insmod. vfio_virqfd is a
# module of its own up to 6.1; 6.2 folded it into vfio.
case "$KPKG" in
linux-image-6.1.* | linux-image-5.*) MODS="vfio vfio_iommu_type1 vfio_virqfd irqbypass vfio-pci-core vfio-pci" ;;
*) MODS="vfio vfio_iommu_type1 irqbypass vfio-pci-core vfio-pci" ;;
esac
if [ ! -s "$KDIR/vmlinuz" ] || [ ! -s "$KDIR/modules/order" ]; then
    lab_fetch_kernel "$MODS" CONFIG_INTEL_IOMMU=y
fi
# The uncompressed ELF kernel boots through its PVH entry: no xz
# decompression under TCG, which is seconds of every boot.
lab_extract_vmlinux ||
    echo "vfio-lab: could not extract an ELF vmlinux (xz-utils installed?); booting the bzImage (slower)" >&2
lab_base_initramfs base '*' bin proc sys dev tmp lab root lib/modules
BASE=$INITRD
flock -u 9
exec 9>&-

# ---------- per-run overlay: /lab + the shared libraries of every ELF in it
W=$(mktemp -d /tmp/irqd-vfio-lab.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
OV=$W/overlay
mkdir -p "$OV/lab"
is_elf() { [ "$(head -c 4 "$1")" = $'\x7fELF' ]; }
# Debug info only slows the initramfs down (TCG unpacks it).
add_lab_file() {
    local dst
    dst=$OV/lab/$(basename "$1")
    if [ -f "$1" ] && is_elf "$1" && command -v strip >/dev/null; then
        strip --strip-debug -o "$dst" "$1" || cp "$1" "$dst"
    else
        cp -r "$1" "$dst"
    fi
}
add_lab_file "$PROG"
for f in "${FILES[@]}"; do add_lab_file "$f"; done
for f in "$OV"/lab/*; do
    if [ ! -f "$f" ] || ! is_elf "$f"; then continue; fi
    lab_copy_libs "$f" "$OV" "$(basename "$f"): a shared library is missing"
done
{
    echo "# written by run.sh"
    for e in "${ENVS[@]}"; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"; done
    printf 'exec'
    if is_elf "$PROG"; then printf ' /lab/%q' "$(basename "$PROG")"; else printf ' sh /lab/%q' "$(basename "$PROG")"; fi
    for a in "$@"; do printf ' %q' "$a"; done
    printf '\n'
} >"$OV/lab/run.sh"
lab_pack_cpio "$OV" "$W/overlay.cpio.gz"
# The kernel unpacks concatenated archives in turn; the overlay adds to the base.
cat "$BASE" "$W/overlay.cpio.gz" >"$W/initrd.gz"

# ---------- ivshmem servers, host hook, QEMU
DEVARGS=()
BUSARG=
if [ "$BRIDGE" = 1 ]; then
    # A conventional bridge has no ACS: the IOMMU cannot tell the devices
    # behind it apart, so the kernel puts them in one group.
    DEVARGS+=(-device pci-bridge,id=br1,chassis_nr=1)
fi
for i in $(seq 0 $((NDEV - 1))); do
    [ "$BRIDGE" = 1 ] && BUSARG=",bus=br1,addr=$((i + 1))"
    "$PYTHON" "$HERE/ivshmem_server.py" "$W/ivshmem$i.sock" "$VECTORS" --control "$W/ivshmem$i.ctl" 2>"$W/ivshmem$i.log" &
    PIDS+=($!)
    for _ in $(seq 100); do [ -S "$W/ivshmem$i.sock" ] && break; sleep 0.05; done
    [ -S "$W/ivshmem$i.sock" ] || { cat "$W/ivshmem$i.log" >&2; lab_die "ivshmem server $i did not start"; }
    DEVARGS+=(-chardev "socket,path=$W/ivshmem$i.sock,id=ivsh$i" -device "ivshmem-doorbell,chardev=ivsh$i,vectors=$VECTORS$BUSARG")
done
APPEND="console=ttyS0 intel_iommu=on panic=-1 rdinit=/init cryptomgr.notests"
[ "$VERBOSE" = 1 ] || APPEND="$APPEND quiet"
# TCG: nested KVM does not boot on the dev VMs. intremap: MSI-X goes through
# the vIOMMU's interrupt remapping, as on a real VT-d host.
# shellcheck disable=SC2054 # commas inside QEMU option values
QEMU=(qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m "${IRQD_VFIO_LAB_MEM:-512M}" -smp "${IRQD_VFIO_LAB_SMP:-2}"
    -device intel-iommu,intremap=on "${DEVARGS[@]}"
    -nodefaults -vga none -display none -no-reboot
    -chardev stdio,id=ser0,signal=off -serial chardev:ser0
    -kernel "$KERNEL" -initrd "$W/initrd.gz" -append "$APPEND")
[ "$VERBOSE" = 1 ] && echo "vfio-lab: ${QEMU[*]}" >&2
: >"$W/console.log"
if [ -n "$HOOK" ]; then
    VFIO_LAB_CTL=$W/ivshmem0.ctl VFIO_LAB_CONSOLE=$W/console.log bash -c "$HOOK" >&2 &
    PIDS+=($!)
fi
# The host hook waits for its marker in the whole log: a second boot
# starts the log again, and the hook keeps waiting.
lab_qemu_boot "$TIMEOUT" "$W" IRQD_VFIO_LAB_EXIT '^vfio-lab: guest up' "${QEMU[@]}"
lab_guest_exit_code "$TIMEOUT" "$W" IRQD_VFIO_LAB_EXIT
exit "$RC"
