# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# Shared parts of the QEMU TCG labs (affinity/tests/kernel_lab,
# device/tests/vfio_lab, kirq/tests/tune_lab): each lab's run.sh sources
# this file after `set -euo pipefail` and keeps its own flags, env variables,
# QEMU command line and verdict. Every guest is Debian's kernel (the package
# linux-image-amd64 depends on) with a busybox initramfs, cached per lab.
#
# The caller sets LAB, the prefix of every message ("tune-lab"), before it
# calls anything here. Functions, in the order a run.sh calls them:
#   lab_die MSG...           "$LAB: MSG" on stderr, exit 125 (a lab failure).
#   lab_need_qemu PKGS       exit 77 when qemu-system-x86_64 is not installed,
#                            naming the apt packages PKGS to install.
#   lab_need_tools PKGS TOOL...
#                            lab_die on the first TOOL not in PATH.
#   lab_find_busybox         sets BUSYBOX to a static busybox, else lab_die.
#   lab_resolve_kpkg VAR CACHE
#                            sets KPKG to the kernel package: $VAR (the lab's
#                            env variable, by name), else CACHE/kpkg, else
#                            what linux-image-amd64 depends on; and KDIR to
#                            CACHE/KPKG.
#   lab_fetch_kernel MODS [CONFIG_LINE]
#                            apt-get download + dpkg -x KPKG into KDIR:
#                            config, vmlinuz, modules/M.ko for each M of the
#                            word list MODS (in order, also listed in
#                            modules/order); lab_die when the package's
#                            config lacks CONFIG_LINE (e.g. CONFIG_X=y).
#                            Records KPKG in CACHE/kpkg. The caller decides
#                            when the cache is stale and holds its lock.
#   lab_extract_vmlinux      extracts KDIR/vmlinux from KDIR/vmlinuz (xz or zstd) once
#                            (the PVH entry: no xz decompression under TCG);
#                            returns 1 only on the run that gives up on it
#                            (KDIR/vmlinux.none), for the caller to say so.
#                            Sets KERNEL to vmlinux, else vmlinuz.
#   lab_base_initramfs NAME MODGLOB DIR...
#                            sets INITRD to KDIR/NAME-SUM.cpio.gz, built once
#                            per SUM of HERE/guest-init.sh, BUSYBOX and
#                            KDIR/modules/MODGLOB: /init = guest-init.sh,
#                            /bin/busybox, /lib/modules/MODGLOB and the empty
#                            directories DIR... (bin and lib/modules among
#                            them). Older NAME-*.cpio.gz are removed.
#   lab_pack_cpio DIR OUT    DIR as a gzipped newc archive OUT.
#   lab_copy_libs ELF OV MSG copies the shared libraries ELF needs into the
#                            overlay root OV at their host paths; lab_die
#                            "MSG: <the missing one>" when ldd misses one.
#   lab_qemu TIMEOUT W MARKER QEMU...
#                            runs QEMU... under timeout, the console (\r
#                            stripped) into W/console.log and, unless MARKER
#                            is empty, also on stdout less the
#                            "@@MARKER=RC@@" line; stderr into W/qemu.err.
#                            Sets QRC (its exit code) and QEMU_MS. Returns 0.
#   lab_qemu_boot TIMEOUT W MARKER STARTED QEMU...
#                            lab_qemu, then lab_qemu_report, booting again
#                            (three boots in all) a guest whose kernel oopsed
#                            before the console showed a line matching the
#                            extended regex STARTED (the lab's own first line)
#                            or the MARKER line. An oops after it counts.
#   lab_qemu_report W        says "qemu exited rc=QRC after QEMU_MS ms" and
#                            the W/qemu.err lines, on stderr.
#   lab_guest_exit_code TIMEOUT W MARKER
#                            exit 124 when qemu timed out (QRC 124/137);
#                            sets RC from the guest's last "@@MARKER=RC@@",
#                            exit 125 with the last console lines if none.

lab_die() {
    echo "$LAB: $*" >&2
    exit 125
}

lab_need_qemu() {
    if ! command -v qemu-system-x86_64 >/dev/null; then
        echo "$LAB: qemu-system-x86_64 not found (apt-get install -y --no-install-recommends $1)" >&2
        exit 77
    fi
}

lab_need_tools() {
    local pkgs=$1 t
    shift
    for t in "$@"; do
        command -v "$t" >/dev/null || lab_die "missing tool $t (apt-get install -y --no-install-recommends $pkgs)"
    done
}

lab_find_busybox() {
    local b
    BUSYBOX=
    for b in /bin/busybox /usr/bin/busybox; do
        if [ -x "$b" ] && ! LC_ALL=C ldd "$b" >/dev/null 2>&1; then BUSYBOX=$b; break; fi
    done
    [ -n "$BUSYBOX" ] || lab_die "no static busybox (apt-get install -y busybox-static)"
}

lab_resolve_kpkg() {
    local var=$1 cache=$2
    KPKG=${!var:-}
    if [ -z "$KPKG" ]; then
        if [ -s "$cache/kpkg" ]; then KPKG=$(cat "$cache/kpkg")
        else KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'); fi
    fi
    [ -n "$KPKG" ] || lab_die "cannot tell which kernel package to use (apt-get update, or set $var)"
    KDIR=$cache/$KPKG
}

# LAB_BUILD is global so that the EXIT trap still names it when lab_die
# leaves from inside.
lab_fetch_kernel() {
    local mods=$1 config_line=${2:-} cache kver m src
    cache=$(dirname "$KDIR")
    echo "$LAB: fetching $KPKG into $KDIR" >&2
    LAB_BUILD=$(mktemp -d "$cache/build.XXXXXX")
    trap 'rm -rf "$LAB_BUILD"' EXIT
    (cd "$LAB_BUILD" && apt-get download "$KPKG" >"$LAB_BUILD/apt.log" 2>&1) ||
        { cat "$LAB_BUILD/apt.log" >&2; lab_die "apt-get download $KPKG failed (no mirror? run apt-get update)"; }
    dpkg -x "$LAB_BUILD"/*.deb "$LAB_BUILD/x"
    kver=$(ls "$LAB_BUILD/x/lib/modules")
    if [ -n "$config_line" ]; then
        grep -q "^$config_line\$" "$LAB_BUILD/x/boot/config-$kver" || lab_die "$KPKG has no $config_line"
    fi
    mkdir -p "$LAB_BUILD/modules"
    for m in $mods; do
        src=$( (find "$LAB_BUILD/x/lib/modules/$kver/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" || true) | head -1)
        [ -n "$src" ] || lab_die "module $m not in $KPKG (built in? then drop it from MODS)"
        case $src in
        *.xz) xz -dc "$src" >"$LAB_BUILD/modules/$m.ko" ;;
        *.zst) zstd -dcq "$src" >"$LAB_BUILD/modules/$m.ko" ;;
        *) cp "$src" "$LAB_BUILD/modules/$m.ko" ;;
        esac
        echo "$m" >>"$LAB_BUILD/modules/order"
    done
    mkdir -p "$KDIR"
    cp "$LAB_BUILD/x/boot/config-$kver" "$KDIR/config"
    cp "$LAB_BUILD/x/boot/vmlinuz-$kver" "$KDIR/vmlinuz.tmp"
    # A new vmlinuz: the vmlinux extracted from the old one is stale.
    rm -rf "$KDIR/modules" "$KDIR/vmlinux" "$KDIR/vmlinux.none"
    mv "$LAB_BUILD/modules" "$KDIR/modules"
    mv "$KDIR/vmlinuz.tmp" "$KDIR/vmlinuz"
    echo "$KPKG" >"$cache/kpkg"
    rm -rf "$LAB_BUILD"
    trap - EXIT
}

lab_extract_vmlinux() {
    local off gave_up=0
    if [ ! -s "$KDIR/vmlinux" ] && [ ! -e "$KDIR/vmlinux.none" ]; then
        if grep -q '^CONFIG_KERNEL_ZSTD=y' "$KDIR/config"; then
            # Debian's 6.12 is zstd-compressed (zstd stops at the data after
            # the stream, hence || true).
            off=$( (grep -abo $'\x28\xb5\x2f\xfd' "$KDIR/vmlinuz" || true) | head -1 | cut -d: -f1)
            if [ -n "$off" ] && command -v zstd >/dev/null && grep -q '^CONFIG_PVH=y' "$KDIR/config"; then
                (tail -c +$((off + 1)) "$KDIR/vmlinuz" | zstd -dcq >"$KDIR/vmlinux.tmp" 2>/dev/null) || true
            fi
        else
            off=$( (grep -abo $'\xfd7zXZ\x00' "$KDIR/vmlinuz" || true) | head -1 | cut -d: -f1)
            if [ -n "$off" ] && command -v xz >/dev/null && grep -q '^CONFIG_PVH=y' "$KDIR/config"; then
                (tail -c +$((off + 1)) "$KDIR/vmlinuz" | xz -dcq --single-stream >"$KDIR/vmlinux.tmp" 2>/dev/null) || true
            fi
        fi
        if [ "$(head -c 4 "$KDIR/vmlinux.tmp" 2>/dev/null || true)" = $'\x7fELF' ]; then
            mv "$KDIR/vmlinux.tmp" "$KDIR/vmlinux"
        else
            rm -f "$KDIR/vmlinux.tmp"
            : >"$KDIR/vmlinux.none"
            gave_up=1
        fi
    fi
    KERNEL=$KDIR/vmlinux
    [ -s "$KERNEL" ] || KERNEL=$KDIR/vmlinuz
    return "$gave_up"
}

lab_pack_cpio() {
    (cd "$1" && find . | cpio -o -H newc --quiet | gzip -1) >"$2"
}

lab_base_initramfs() {
    local name=$1 glob=$2 cache sum root d
    shift 2
    cache=$(dirname "$KDIR")
    # shellcheck disable=SC2086 # glob is a file pattern
    sum=$(cat "$HERE/guest-init.sh" "$BUSYBOX" "$KDIR"/modules/$glob | md5sum | cut -c1-12)
    INITRD=$KDIR/$name-$sum.cpio.gz
    [ -s "$INITRD" ] && return 0
    rm -f "$KDIR/$name"-*.cpio.gz
    root=$(mktemp -d "$cache/root.XXXXXX")
    for d in "$@"; do mkdir -p "$root/$d"; done
    cp "$BUSYBOX" "$root/bin/busybox"
    # shellcheck disable=SC2086 # glob is a file pattern
    cp "$KDIR"/modules/$glob "$root/lib/modules/"
    cp "$HERE/guest-init.sh" "$root/init"
    chmod 755 "$root/init"
    lab_pack_cpio "$root" "$INITRD.tmp"
    mv "$INITRD.tmp" "$INITRD"
    rm -rf "$root"
}

lab_copy_libs() {
    local elf=$1 ov=$2 msg=$3 libs l
    # "libx.so => /lib/.../libx.so (0x..)" and "/lib64/ld-linux-x86-64.so.2 (0x..)";
    # a static program has none.
    libs=$(LC_ALL=C ldd "$elf" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}') || true
    if LC_ALL=C ldd "$elf" 2>&1 | grep -q 'not found'; then lab_die "$msg: $(ldd "$elf" | grep 'not found' | head -1)"; fi
    for l in $libs; do
        [ -e "$ov$l" ] && continue
        mkdir -p "$ov$(dirname "$l")"
        cp -L "$l" "$ov$l"
    done
}

lab_qemu() {
    local timeout=$1 w=$2 marker=$3 t0 t1
    shift 3
    t0=$(date +%s%N)
    set +e
    # Serial lines end in \r; sed -u, not tr, or the log fills only at exit.
    if [ -n "$marker" ]; then
        timeout --foreground -k 5 "$timeout" "$@" </dev/null 2>"$w/qemu.err" | sed -u 's/\r$//' | tee "$w/console.log" |
            grep --line-buffered -v "^@@$marker="
    else
        timeout --foreground -k 5 "$timeout" "$@" </dev/null 2>"$w/qemu.err" | sed -u 's/\r$//' >"$w/console.log"
    fi
    QRC=${PIPESTATUS[0]}
    set -e
    t1=$(date +%s%N)
    QEMU_MS=$(((t1 - t0) / 1000000))
}

# QEMU's multi-threaded TCG now and then oopses a guest kernel while it
# patches its own text at boot (int3 in sched_clock_cpu: Debian 6.12, on CI's
# machine; never seen on this VM): nothing of the lab has run yet, so the boot, not
# the check, is what failed.
lab_qemu_boot() {
    local timeout=$1 w=$2 marker=$3 started=$4 attempt
    shift 4
    for attempt in 1 2 3; do
        lab_qemu "$timeout" "$w" "$marker" "$@"
        lab_qemu_report "$w"
        [ "$attempt" -lt 3 ] || break
        case $QRC in 124 | 137) break ;; esac
        grep -q 'Oops' "$w/console.log" || break
        ! grep -Eq "$started" "$w/console.log" || break
        [ -z "$marker" ] || ! grep -q "^@@$marker=" "$w/console.log" || break
        echo "$LAB: the guest kernel oopsed at boot, before the lab ran (boot $attempt of 3):" \
            "$(grep -m 1 'Oops' "$w/console.log"); booting again" >&2
    done
}

lab_qemu_report() {
    echo "$LAB: qemu exited rc=$QRC after $QEMU_MS ms" >&2
    if [ -s "$1/qemu.err" ]; then sed "s/^/$LAB: qemu: /" "$1/qemu.err" >&2; fi
}

lab_guest_exit_code() {
    local timeout=$1 w=$2 marker=$3
    if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
        echo "$LAB: TIMEOUT after ${timeout}s" >&2
        exit 124
    fi
    RC=$(sed -n "s/^@@$marker=\\([0-9]*\\)@@\$/\\1/p" "$w/console.log" | tail -1)
    if [ -z "$RC" ]; then
        echo "$LAB: the guest ended without an exit code (qemu rc=$QRC); last console lines:" >&2
        tail -n 20 "$w/console.log" >&2
        exit 125
    fi
}
