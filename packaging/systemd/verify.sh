#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# Checks a unit of irqd's (irqd.service, irqd-tune@.service) with
# systemd-analyze verify, pointed at a built irqd binary: the irqd that
# every Exec*= line names (/usr/local/bin/irqd in the source unit, where
# `cmake --install` puts it; /usr/bin/irqd in the installed one of the
# package) is replaced by IRQD_BINARY. A template (NAME@.service) is
# verified as its instance NAME@verify.service, %i and all.
# Documentation=man:irqd(8) is looked up (systemd-analyze runs man(1)) in
# IRQD_8, the built page (irqd.8 or irqd.8.gz); without it, man pages are
# not checked (--man=no).
# Usage: verify.sh UNIT IRQD_BINARY [IRQD_8]
# Exit 77 when systemd-analyze is not installed.
set -eu
unit=$1
irqd=$2
page=${3-}
# The tools' state lives in the service's runtime directory: without
# Preserve, every stop or restart deletes it.
if ! grep -qx 'RuntimeDirectoryPreserve=yes' "$unit"; then
    echo "$unit: RuntimeDirectoryPreserve=yes is missing: a restart would delete /run/irqd/bound and /run/irqd/tune" >&2
    exit 1
fi
command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not installed" >&2; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
name=${unit##*/}
case $name in
*@.service) name=${name%@.service}@verify.service ;;
esac
sed -E "s#^(Exec[A-Za-z]*=)/[^ ]*/irqd( |$)#\1$irqd\2#" "$unit" >"$dir/$name"
man=--man=no
if [ -n "$page" ]; then
    [ -f "$page" ] || { echo "$page: no such man page" >&2; exit 1; }
    mkdir -p "$dir/man/man8"
    case $page in
    *.gz) ln -s "$(cd "$(dirname "$page")" && pwd)/${page##*/}" "$dir/man/man8/irqd.8.gz" ;;
    *) ln -s "$(cd "$(dirname "$page")" && pwd)/${page##*/}" "$dir/man/man8/irqd.8" ;;
    esac
    MANPATH=$dir/man
    export MANPATH
    man=--man=yes
fi
out=$(systemd-analyze verify "$man" "$dir/$name" 2>&1) || true
if [ -n "$out" ]; then
    echo "$out" >&2
    exit 1
fi
echo "$name: systemd-analyze verify clean$([ "$man" = --man=no ] && echo " (man pages not checked)")"
