#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Checks an irqd.service with systemd-analyze verify, pointed at a built
# irqd binary: the irqd that every Exec*= line names (/usr/local/bin/irqd in
# the source unit, where `cmake --install` puts it; /usr/bin/irqd in the
# installed one of the package) is replaced by IRQD_BINARY. Usage: verify.sh
# UNIT IRQD_BINARY. Exit 77 when systemd-analyze is not installed.
set -eu
unit=$1
irqd=$2
# The tools' state lives in the service's runtime directory: without
# Preserve, every stop or restart deletes it.
if ! grep -qx 'RuntimeDirectoryPreserve=yes' "$unit"; then
    echo "$unit: RuntimeDirectoryPreserve=yes is missing: a restart would delete /run/irqd/bound and /run/irqd/tune" >&2
    exit 1
fi
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not installed" >&2; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed -E "s#^(Exec[A-Za-z]*=)/[^ ]*/irqd( |$)#\1$irqd\2#" "$unit" >"$dir/irqd.service"
out=$(systemd-analyze verify "$dir/irqd.service" 2>&1) || true
if [ -n "$out" ]; then
    echo "$out" >&2
    exit 1
fi
echo "irqd.service: systemd-analyze verify clean"
