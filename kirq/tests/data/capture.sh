#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Captures what `irqd irqs` and `irqd tune` read from this machine into DIR
# as a fake tree (DIR/proc, DIR/sys) that IRQD_PROC_ROOT / IRQD_SYSFS_ROOT
# can point at: /proc/interrupts, /proc/irq/N/{smp_affinity_list,
# effective_affinity_list,node}, the boot id, every PCI function's class,
# numa_node, local_cpulist, irq, msi_irqs/ and driver link, and the class
# devices (net, block, nvme) and virtio devices with the links that lead
# from them to their PCI function. Nothing else: a few KB.
#
# What git cannot keep is written down instead:
#   DIR/read-only  the smp_affinity_list files the kernel made read-only
#                  (managed interrupts); the tests chmod them 0444 again.
#   .keep          in directories that would otherwise be empty.
# Driver links dangle (bus/pci/drivers is not captured): only their names
# are read.
#
# Usage: capture.sh DIR   (CAPTURE_PROC / CAPTURE_SYS: other roots)
set -euo pipefail
out=${1:?usage: capture.sh DIR}
P=${CAPTURE_PROC:-/proc}
S=${CAPTURE_SYS:-/sys}
S=$(cd "$S" && pwd -P)
mkdir -p "$out/proc/irq" "$out/proc/sys/kernel/random" "$out/sys/bus/pci/devices"
out=$(cd "$out" && pwd -P)
O=$out/sys

cp "$P/interrupts" "$out/proc/interrupts"
cp "$P/sys/kernel/random/boot_id" "$out/proc/sys/kernel/random/boot_id"
: >"$out/read-only"
for d in "$P"/irq/[0-9]*; do
    n=${d##*/}
    mkdir -p "$out/proc/irq/$n"
    for f in smp_affinity_list effective_affinity_list node; do
        if [ -r "$d/$f" ]; then cat "$d/$f" >"$out/proc/irq/$n/$f"; fi
    done
    if [ -e "$d/smp_affinity_list" ] && [ $((0$(stat -c %a "$d/smp_affinity_list") & 0200)) -eq 0 ]; then
        echo "proc/irq/$n/smp_affinity_list" >>"$out/read-only"
    fi
done

# A symlink in the capture, relative as in /sys: link and target are paths
# under /sys.
relink() {
    local link=$1 target=$2
    mkdir -p "$(dirname "$O/${link#"$S"/}")"
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$target")" "$O/${link#"$S"/}"
}

for dev in "$S"/bus/pci/devices/*; do
    real=$(readlink -f "$dev")
    dir=$O/${real#"$S"/}
    mkdir -p "$dir"
    relink "$dev" "$real"
    for f in class numa_node local_cpulist irq; do
        if [ -r "$real/$f" ]; then cat "$real/$f" >"$dir/$f"; fi
    done
    if [ -d "$real/msi_irqs" ]; then
        mkdir -p "$dir/msi_irqs"
        for m in "$real"/msi_irqs/*; do
            if [ -f "$m" ]; then cat "$m" >"$dir/msi_irqs/${m##*/}"; fi
        done
    fi
    if [ -L "$real/driver" ]; then relink "$real/driver" "$(readlink -f "$real/driver")"; fi
done

for cls in net block nvme; do
    for c in "$S/class/$cls"/*; do
        [ -e "$c" ] || continue
        # Block devices without a device of their own (loop, zram) lead nowhere.
        if [ "$cls" != net ] && [ ! -e "$c/device" ]; then continue; fi
        real=$(readlink -f "$c")
        mkdir -p "$O/${real#"$S"/}"
        relink "$c" "$real"
        if [ -e "$c/device" ]; then
            target=$(readlink -f "$c/device")
            mkdir -p "$O/${target#"$S"/}"
            relink "$real/device" "$target"
        fi
    done
done

for v in "$S"/bus/virtio/devices/*; do
    [ -e "$v" ] || continue
    real=$(readlink -f "$v")
    mkdir -p "$O/${real#"$S"/}"
    relink "$v" "$real"
done

find "$out" -type d -empty -exec touch {}/.keep \;
