#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Host hook for run.sh -H: once the guest prints @@VFIO_LAB_HOST_FIRE_READY@@
# (vfio_lab_test's HostFiresEveryVectorThroughTheServer), fire each of the
# device's VECTORS MSI-X vectors once from the host, through the ivshmem
# server's control FIFO ($VFIO_LAB_CTL; the guest's device is peer 0).
# Usage: host_fire.sh VECTORS
set -euo pipefail
n=${1:?usage: host_fire.sh VECTORS}
for _ in $(seq 6000); do
    grep -q '^@@VFIO_LAB_HOST_FIRE_READY@@' "$VFIO_LAB_CONSOLE" && break
    sleep 0.05
done
grep -q '^@@VFIO_LAB_HOST_FIRE_READY@@' "$VFIO_LAB_CONSOLE" || { echo "host_fire: guest never got ready" >&2; exit 1; }
for v in $(seq 0 $((n - 1))); do echo "0 $v"; done >"$VFIO_LAB_CTL"
echo "host_fire: fired vectors 0-$((n - 1)) once each from the host" >&2
