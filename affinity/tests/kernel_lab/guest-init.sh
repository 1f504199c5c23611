#!/bin/busybox sh
# PID 1 of the kernel lab guest (baked into the cached base initramfs as /init
# by run.sh). Loads the NVMe driver (klab.nvme=1) and waits for its queues,
# then the virtio-blk driver (klab.virtio=1) and waits for its disk, and
# prints the kernel's view of CPUs, NUMA nodes and every nvme and virtio
# interrupt's affinity as "KLAB ..." lines on the serial console, then
# powers off. The controller comes up first, so its vectors are activated
# before the disk's (the x86 vector matrix counts managed vectors across
# devices).
#
# nvme module parameters are taken from the kernel command line
# (nvme.write_queues=K, nvme.poll_queues=K), as modprobe would: insmod does
# not read /proc/cmdline itself. A module the kernel has built in (6.12's
# virtio PCI transport, crc chain) is simply not in /lib/modules.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

k() { echo "KLAB $*"; }
k begin
k kernel "$(uname -r)"
k cmdline "$(cat /proc/cmdline)"

NVME_ARGS=
NVME_CORE_ARGS=
WANT_NVME=0
WANT_VIRTIO=0
for w in $(cat /proc/cmdline); do
    case $w in
    nvme.*) NVME_ARGS="$NVME_ARGS ${w#nvme.}" ;;
    nvme_core.*) NVME_CORE_ARGS="$NVME_CORE_ARGS ${w#nvme_core.}" ;;
    klab.nvme=1) WANT_NVME=1 ;;
    klab.virtio=1) WANT_VIRTIO=1 ;;
    esac
done
# ld MODULE [ARGS]: insmod it when this kernel has it as a module (a device
# that then does not show up is the error).
ld() {
    m=$1
    shift
    [ -e "/lib/modules/$m.ko" ] || return 0
    insmod "/lib/modules/$m.ko" "$@" || k warn "insmod $m failed"
}
# wait_for PATH: up to 60 s.
wait_for() {
    i=0
    while [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    [ -e "$1" ] || k error "$1 did not appear within 60 s"
}
if [ $WANT_NVME = 1 ]; then
    # Dependency order (modinfo depends): t10-pi needs crc-t10dif (which asks
    # the crypto API for "crct10dif": load the generic one first) and
    # crc64-rocksoft; 6.12's nvme-core needs nvme-auth.
    for m in crct10dif_common crct10dif_generic crc-t10dif crc64 crc64_rocksoft_generic crc64-rocksoft t10-pi \
        nvme-auth; do
        ld $m
    done
    # shellcheck disable=SC2086 # word lists of module parameters
    ld nvme-core $NVME_CORE_ARGS
    # shellcheck disable=SC2086
    ld nvme $NVME_ARGS
    # The controller is reset asynchronously; the I/O queue interrupts exist
    # once the namespace block device shows up (queues are set up before the scan).
    wait_for /sys/block/nvme0n1
    sleep 0.2
fi
if [ $WANT_VIRTIO = 1 ]; then
    for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do ld $m; done
    wait_for /sys/block/vda
    sleep 0.2
fi

# r VAR FILE: first line of FILE into VAR ("" if unreadable). read is a
# builtin: no fork, which is slow under TCG. But sysfs cpumask *list* files
# (node cpulist, thread_siblings_list) are binary attributes that give nothing
# to busybox read's 1-byte reads: rc (cat) for those.
r() { eval "$1="; read -r "$1" <"$2" 2>/dev/null; true; }
rc() { eval "$1=\$(cat \"\$2\" 2>/dev/null)"; }
for f in possible present online offline; do r v /sys/devices/system/cpu/$f; k "cpu_$f" "$v"; done
for f in possible online has_cpu has_memory; do r v /sys/devices/system/node/$f; k "node_$f" "$v"; done
for d in /sys/devices/system/node/node[0-9]*; do
    [ -d "$d" ] || continue
    rc c $d/cpulist; r v $d/distance
    k node "${d##*node}" cpulist "$c" distance "$v"
done
for d in /sys/devices/system/cpu/cpu[0-9]*; do
    n=-
    for l in $d/node[0-9]*; do [ -e "$l" ] && n=${l##*node}; done
    t=$d/topology
    r p $t/physical_package_id; r c $t/core_id; rc s $t/thread_siblings_list; r o $d/online
    k cpu "${d##*cpu}" node "$n" pkg "$p" core "$c" siblings "$s" online "${o:-1}"
done
for p in /sys/module/nvme/parameters/*; do r v $p; k nvme_param "${p##*/}" "$v"; done
dmesg | grep -E 'nvme|SRAT|smpboot: Allowing|NUMA' | sed 's/^/KLAB dmesg /'

# /proc/interrupts: " 24:  0 0 ...  PCI-MSI 65536-edge  nvme0q0" -> irq number, name
# (virtio: virtio0-config, virtio0-req.0, ...).
while read -r irq rest; do
    name=${rest##* }
    case $name in nvme[0-9]*q[0-9]* | virtio[0-9]*-*) ;; *) continue ;; esac
    irq=${irq%:}
    r smp /proc/irq/$irq/smp_affinity_list; r eff /proc/irq/$irq/effective_affinity_list; r nd /proc/irq/$irq/node
    k irq "$irq" name "$name" smp "$smp" eff "$eff" node "$nd"
done </proc/interrupts
for h in /sys/block/nvme0n1/mq/* /sys/block/vda/mq/*; do
    [ -d "$h" ] || continue
    r v $h/cpu_list
    d=${h%%/mq/*}
    k hctx "${d##*/}" "${h##*/}" cpus "$v"
done
k end
sync
poweroff -f
