# shellcheck shell=dash
# SPDX-License-Identifier: GPL-2.0-only
#
# The tune lab's checks, run in the guest by guest-init.sh with irqd at
# /lab/irqd: a dry run writes nothing; --apply writes the NVMe admin queue
# and the virtio-net vectors and reads them back; the kernel refuses the
# managed NVMe I/O queues with EIO (Linux 6.1: their files are 0644) and
# irqd reports that instead of failing (6.12: the files are read-only and
# irqd never writes them); --restore puts every mask back.
# With the multi-queue virtio-net (4 queue pairs): --xps plans each queue
# pair on one CPU and steers its transmit queue there, --restore puts masks
# and xps_cpus back, a profile is saved, wanted by udev, applied again
# after the function is unbound and bound, and absent is no error.
# One "TUNELAB PASS|FAIL name" line per check; exit 1 when any failed.
I=/lab/irqd
failed=0
pass() { echo "TUNELAB PASS $1"; }
fail() {
    echo "TUNELAB FAIL $1"
    failed=1
}
check() { # name, then a test command
    name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
# Every interrupt's smp_affinity_list as "irq=mask" lines.
masks() { for d in /proc/irq/[0-9]*; do echo "${d##*/}=$(cat "$d/smp_affinity_list")"; done; }
irq_of() { awk -v n="$1" '$NF == n {sub(":", "", $1); print $1}' /proc/interrupts; }
mask_of() { cat "/proc/irq/$1/smp_affinity_list"; }
run() { # runs irqd, shows its output, keeps it in out.txt and its exit code in rc
    echo "\$ irqd $*"
    "$I" "$@" >/tmp/out.txt 2>/tmp/err.txt
    rc=$?
    cat /tmp/out.txt /tmp/err.txt
}

cat /proc/interrupts
Q0=$(irq_of nvme0q0)
Q1=$(irq_of nvme0q1)
Q4=$(irq_of nvme0q4)
# The NICs by their queues, not their names: the single-queue one (SQ) has
# tx-0 only, the multi-queue one (MQ) tx-3 too.
SQ=
MQ=
for n in /sys/class/net/eth*; do
    [ -e "$n" ] || continue
    if [ -e "$n/queues/tx-3" ]; then MQ=${n##*/}; else SQ=${n##*/}; fi
done
vdev_of() { basename "$(readlink -f "/sys/class/net/$1/device")"; } # virtioN
SQV=$(vdev_of "$SQ")
IN=$(irq_of "$SQV-input.0")
OUTQ=$(irq_of "$SQV-output.0")
echo "tune-lab: nvme0q0=$Q0 nvme0q1=$Q1 nvme0q4=$Q4 $SQ=$SQV input.0=$IN output.0=$OUTQ multi-queue NIC: ${MQ:-none}"

run irqs --device nvme0
check "irqs nvme0: exit 0, 5 vectors" [ "$rc" = 0 ] && [ "$(grep -c '  nvme0q[0-4] ' /tmp/out.txt)" = 5 ]
# 6.1 shows a managed queue's smp_affinity_list 0644 and refuses the write
# with EIO; kernels since 2024 (6.12 here) create it read-only.
case $(uname -r) in
6.1.*) RO=0 ;;
*) RO=1 ;;
esac
if [ "$RO" = 0 ]; then
    check "6.1 shows a managed queue's smp_affinity_list as 644" [ "$(stat -c %a "/proc/irq/$Q1/smp_affinity_list")" = 644 ]
else
    check "$(uname -r | cut -d. -f1-2) shows a managed queue's smp_affinity_list as 444" \
        [ "$(stat -c %a "/proc/irq/$Q1/smp_affinity_list")" = 444 ]
fi
run irqs --device "$SQ"
check "irqs $SQ: exit 0, through virtio to its PCI function" [ "$rc" = 0 ] && grep -q "^$SQ -> virtio[0-9]* -> 0000:" /tmp/out.txt

# The live check the read-only files give on newer kernels, done by hand:
# the kernel planner for 5 vectors, 1 pre, on this machine, against the
# I/O queues' masks (node 1 first: lib/sort.c with two equal nodes).
run plan --topology live --vectors 5 --pre-vectors 1
predicted=$(awk '$1 ~ /^[1-4]$/ && $2 == "yes" {printf "%s ", $NF}' /tmp/out.txt)
actual="$(mask_of "$Q1") $(mask_of $((Q1 + 1))) $(mask_of $((Q1 + 2))) $(mask_of "$Q4") "
echo "tune-lab: kernel planner predicts '$predicted', the kernel has '$actual'"
check "the kernel planner predicts every managed NVMe mask" [ "$predicted" = "$actual" ]

before=$(masks)
run tune --device nvme0 --planner per-core
check "dry run: exit 0" [ "$rc" = 0 ]
check "dry run: nothing written" [ "$(masks)" = "$before" ]

q0_was=$(mask_of "$Q0")
q1_was=$(mask_of "$Q1")
run tune --device nvme0 --planner single --cpus 3 --apply --save /tmp/nvme.json
check "apply nvme0: exit 0 (refusals are the kernel's answer, not failures)" [ "$rc" = 0 ]
check "apply nvme0: the admin queue written and read back" grep -q "nvme0q0  $q0_was  ->  3  written, reads back 3" /tmp/out.txt
check "apply nvme0: admin queue mask is 3" [ "$(mask_of "$Q0")" = 3 ]
# Every planned change to an I/O queue (one may have the planned CPU already).
if [ "$RO" = 0 ]; then
    tried=$(grep -cE '^[0-9]+ +[0-9]+ +nvme0q[1-4] .* -> ' /tmp/out.txt)
    refused=$(grep -cE '^[0-9]+ +nvme0q[1-4] .*refused by the kernel \(EIO\): managed, left as it was$' /tmp/out.txt)
    echo "tune-lab: $tried managed queues to change, $refused refused"
    check "apply nvme0: every managed queue's write refused with EIO, none written" [ "$tried" -ge 3 ] &&
        [ "$refused" = "$tried" ] && ! grep -qE '^[0-9]+ +nvme0q[1-4] .*written' /tmp/out.txt
else
    # Read-only: planned as "managed: never written", no write tried.
    check "apply nvme0: every managed queue left unwritten (read-only)" \
        [ "$(grep -cE '^[0-9]+ +[0-9]+ +nvme0q[1-4] .*managed: never written$' /tmp/out.txt)" = 4 ] &&
        ! grep -qE '^[0-9]+ +nvme0q[1-4] .*(written|refused)' /tmp/out.txt
fi
check "apply nvme0: managed masks unchanged" [ "$(mask_of "$Q1")" = "$q1_was" ]
check "apply nvme0: restore file saved" grep -q '"irqd_tune_restore": 1' /tmp/nvme.json
run tune --restore /tmp/nvme.json
check "restore nvme0: exit 0" [ "$rc" = 0 ]
check "restore nvme0: every mask back" [ "$(masks)" = "$before" ]

in_was=$(mask_of "$IN")
run tune --device "$SQ" --planner per-core --cpus 2-3 --apply --save /tmp/eth0.json
check "apply $SQ: exit 0" [ "$rc" = 0 ]
# One queue pair: its rx and tx interrupts go together, on the first CPU.
check "apply $SQ: input.0 and output.0 both on CPU 2 (one queue)" [ "$(mask_of "$IN")" = 2 ] && [ "$(mask_of "$OUTQ")" = 2 ]
# Reported, not checked: x86 may move a vector only when it next fires.
echo "TUNELAB INFO effective after apply: input.0 $(cat "/proc/irq/$IN/effective_affinity_list"), output.0 $(cat "/proc/irq/$OUTQ/effective_affinity_list")"
run tune --restore /tmp/eth0.json
check "restore $SQ: exit 0" [ "$rc" = 0 ]
check "restore $SQ: every mask back" [ "$(masks)" = "$before" ] && [ "$(mask_of "$IN")" = "$in_was" ]

run tune --restore /tmp/eth0.json
check "restore again: nothing to change, exit 0" [ "$rc" = 0 ] && [ "$(grep -c 'unchanged$' /tmp/out.txt)" = 3 ]

[ -n "$MQ" ] || exit $failed
# ---------- the multi-queue virtio-net: 4 queue pairs
MQV=$(vdev_of "$MQ")
MQBDF=$(basename "$(readlink -f "/sys/class/net/$MQ/device/..")")
X=/sys/class/net/$MQ/queues
# Every queue's interrupt masks and xps_cpus as "name=value" lines.
mq_state() {
    for q in 0 1 2 3; do
        echo "in$q=$(mask_of "$(irq_of "$MQV-input.$q")") out$q=$(mask_of "$(irq_of "$MQV-output.$q")") xps$q=$(cat "$X/tx-$q/xps_cpus")"
    done
}
# Each queue's pair on one CPU of 0-3 alone, a CPU of its own, and its
# transmit queue steered there (xps_cpus compared as a number: the kernel
# pads it to nr_cpu_ids). Which queue gets which CPU is the planner's:
# per-core deals the cores round-robin across the two nodes (0, 2, 1, 3).
# shellcheck disable=SC2317 # called through check
queues_per_core() {
    seen=
    for q in 0 1 2 3; do
        cpu=$(mask_of "$(irq_of "$MQV-input.$q")")
        case $cpu in [0-3]) ;; *) return 1 ;; esac
        [ "$(mask_of "$(irq_of "$MQV-output.$q")")" = "$cpu" ] || return 1
        [ $((0x$(cat "$X/tx-$q/xps_cpus"))) = $((1 << cpu)) ] || return 1
        case " $seen " in *" $cpu "*) return 1 ;; esac
        seen="$seen $cpu"
    done
}
# What irqbalance or a script may leave: every queue on CPUs 0-3, XPS off.
# virtio_net already puts queue N on CPU N on 4 CPUs; without this the
# plan would have nothing to write.
scramble() {
    for q in 0 1 2 3; do
        echo 0-3 >"/proc/irq/$(irq_of "$MQV-input.$q")/smp_affinity_list"
        echo 0-3 >"/proc/irq/$(irq_of "$MQV-output.$q")/smp_affinity_list"
        echo f >"$X/tx-$q/xps_cpus"
    done
}
# Waits up to 10 s for the multi-queue NIC and its 4th pair's interrupt.
wait_mq() {
    i=0
    while [ ! -e "/sys/class/net/$MQ/queues/tx-3" ] || ! grep -q "$MQV-output\.3\$" /proc/interrupts; do
        i=$((i + 1))
        [ "$i" -le 100 ] || return 1
        sleep 0.1
    done
}
grep -E "$MQV-" /proc/interrupts
echo "TUNELAB INFO $MQ ($MQV at $MQBDF) as virtio_net left it: $(mq_state | tr '\n' ' ')"
check "$MQ: 4 queue pairs (input.0..3, output.0..3, tx-0..3/xps_cpus)" \
    [ "$(grep -cE "$MQV-(input|output)\.[0-3]\$" /proc/interrupts)" = 8 ] && [ -r "$X/tx-3/xps_cpus" ]

scramble
before=$(masks)
mq_before=$(mq_state)
run tune --device "$MQ" --planner per-core --cpus 0-3 --xps --apply --save /tmp/mq.json
check "apply $MQ --xps: exit 0" [ "$rc" = 0 ]
check "apply $MQ --xps: a queues table" grep -q '^queue' /tmp/out.txt
check "apply $MQ --xps: each queue's input and output on one CPU of its own, tx-N's xps_cpus that CPU" queues_per_core
echo "TUNELAB INFO $MQ after apply: $(mq_state | tr '\n' ' ')"
run tune --restore /tmp/mq.json
check "restore $MQ: exit 0" [ "$rc" = 0 ]
check "restore $MQ: every mask and xps_cpus back" [ "$(masks)" = "$before" ] && [ "$(mq_state)" = "$mq_before" ]

mkdir -p /etc/irqd
run tune --device "$MQ" --planner per-core --cpus 0-3 --xps --save-profile lab
check "save-profile lab: exit 0, /etc/irqd/tune.d/lab.json" [ "$rc" = 0 ] && [ -s /etc/irqd/tune.d/lab.json ]
check "save-profile lab: a dry run" [ "$(mq_state)" = "$mq_before" ]
run tune --udev-wants "$MQ"
check "udev-wants $MQ: IRQD_TUNE_WANTS=irqd-tune@lab.service" [ "$rc" = 0 ] &&
    [ "$(cat /tmp/out.txt)" = "IRQD_TUNE_WANTS=irqd-tune@lab.service" ]
run tune --udev-wants "$SQ"
check "udev-wants $SQ (no profile): nothing, exit 0" [ "$rc" = 0 ] && [ ! -s /tmp/out.txt ]

D=/sys/bus/pci/drivers/virtio-pci
echo "$MQBDF" >"$D/unbind"
check "unbind $MQBDF: $MQ gone" [ ! -e "/sys/class/net/$MQ" ]
run tune --profile lab --apply --if-present
check "profile lab, $MQ unbound: exit 0, not present" [ "$rc" = 0 ] && grep -q 'not present' /tmp/out.txt
echo "$MQBDF" >"$D/bind"
# The interface may come back under another name; its virtio index too.
MQ=
i=0
while [ -z "$MQ" ] && [ "$i" -le 100 ]; do
    for n in /sys/class/net/eth*; do [ -e "$n/queues/tx-3" ] && MQ=${n##*/}; done
    i=$((i + 1))
    sleep 0.1
done
[ -n "$MQ" ] && MQV=$(vdev_of "$MQ") && X=/sys/class/net/$MQ/queues
check "bind $MQBDF: the multi-queue NIC back with its interrupts" [ -n "$MQ" ] && wait_mq
grep -E "$MQV-" /proc/interrupts
scramble
run tune --profile lab --apply --if-present
check "profile lab after bind: exit 0" [ "$rc" = 0 ]
check "profile lab after bind: each queue on one CPU of its own, xps written" queues_per_core
run tune --profile missing --apply --if-present
check "profile missing: refused (no such profile)" [ "$rc" != 0 ]
exit $failed
