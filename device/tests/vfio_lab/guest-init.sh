#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: GPL-2.0-only
#
# PID 1 of the VFIO lab guest (baked into the cached base initramfs as /init
# by run.sh). Loads the VFIO modules, binds every ivshmem device
# (1af4:1110) to vfio-pci, runs /lab/run.sh (written per run by run.sh) and
# prints its exit code as "@@IRQD_VFIO_LAB_EXIT=RC@@" before powering off.
# A lab failure (a module that does not load, a device that does not bind)
# is reported as "vfio-lab: error: ..." with exit code 125.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp

finish() {
    echo "@@IRQD_VFIO_LAB_EXIT=$1@@"
    sync
    poweroff -f
}
fail() {
    echo "vfio-lab: error: $*"
    finish 125
}

read -r up _ </proc/uptime
echo "vfio-lab: guest up at ${up}s, kernel $(uname -r)"

# No modules.dep in the kernel package (depmod runs at install): insmod in
# the dependency order run.sh wrote.
while read -r m; do
    insmod "/lib/modules/$m.ko" || fail "insmod $m failed"
done </lib/modules/order

# driver_override makes vfio-pci (and only it) take the device on the
# drivers_probe that follows; the lab's unbind/rebind cases rely on it
# staying set.
VFIO_LAB_BDF=
VFIO_LAB_BDFS=
for d in /sys/bus/pci/devices/*; do
    read -r vendor <"$d/vendor"
    read -r device <"$d/device"
    [ "$vendor:$device" = 0x1af4:0x1110 ] || continue
    bdf=${d##*/}
    echo vfio-pci >"$d/driver_override"
    echo "$bdf" >/sys/bus/pci/drivers_probe
    drv=$(readlink "$d/driver")
    [ "${drv##*/}" = vfio-pci ] || fail "$bdf did not bind to vfio-pci (driver: ${drv:-none})"
    grp=$(readlink "$d/iommu_group")
    grp=${grp##*/}
    [ -c "/dev/vfio/$grp" ] || fail "$bdf: /dev/vfio/$grp missing (IOMMU group ${grp:-none})"
    echo "vfio-lab: $bdf bound to vfio-pci, IOMMU group $grp"
    [ -n "$VFIO_LAB_BDF" ] || VFIO_LAB_BDF=$bdf
    VFIO_LAB_BDFS="${VFIO_LAB_BDFS:+$VFIO_LAB_BDFS }$bdf"
done
[ -n "$VFIO_LAB_BDF" ] || fail "no ivshmem device (1af4:1110) found"
export VFIO_LAB_BDF VFIO_LAB_BDFS

read -r up _ </proc/uptime
echo "vfio-lab: running the program at ${up}s"
cd /lab || fail "no /lab"
sh /lab/run.sh
rc=$?
read -r up _ </proc/uptime
echo "vfio-lab: program exited $rc at ${up}s"
finish "$rc"
