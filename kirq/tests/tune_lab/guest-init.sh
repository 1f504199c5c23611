#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: GPL-2.0-only
#
# PID 1 of the tune lab guest (baked into the cached base initramfs by
# run.sh): loads the nvme and virtio-net modules, waits until nvme0 has its
# 5 vectors and eth0 is there (and, with irqd_tune_lab.mq=1 on the command
# line, the multi-queue NIC: a second interface and its 4th queue pair's
# vectors), runs /lab/lab.sh and prints its exit code as
# "@@IRQD_TUNE_LAB_EXIT=RC@@" before powering off. A lab failure is
# "tune-lab: error: ..." with exit code 125.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp

finish() {
    echo "@@IRQD_TUNE_LAB_EXIT=$1@@"
    sync
    poweroff -f
}
fail() {
    echo "tune-lab: error: $*"
    finish 125
}

echo "tune-lab: guest up, kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs"
while read -r m; do
    insmod "/lib/modules/$m.ko" || fail "insmod $m failed"
done </lib/modules/order

# nvme probes asynchronously: its I/O queues' vectors come after the reset.
nics=1
grep -q 'irqd_tune_lab.mq=1' /proc/cmdline && nics=2
i=0
while [ "$(grep -c 'nvme0q[0-9]' /proc/interrupts)" -lt 5 ] || [ ! -e /sys/class/net/eth0 ] ||
    [ "$(find /sys/class/net/ -maxdepth 1 -name "eth[0-9]*" | wc -l)" -lt "$nics" ] ||
    { [ "$nics" = 2 ] && ! grep -q 'virtio[0-9]*-output\.3$' /proc/interrupts; }; do
    i=$((i + 1))
    [ "$i" -le 300 ] || fail "nvme0's 5 vectors or $nics NICs did not appear in 30 s: $(ls /sys/class/net) $(grep -E 'nvme|virtio' /proc/interrupts)"
    sleep 0.1
done
cd /lab || fail "no /lab"
sh /lab/lab.sh
finish $?
