#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Builds the Debian packages of this build tree with CPack into a temporary
# folder and checks them without installing anything:
#   irqd:     the files (binary, plugins, unit, conffile, man pages,
#             completion, copyright), Depends computed by dpkg-shlibdeps
#             (versioned libc6, hwloc, liburing, ...), /etc/irqd/irqd.toml
#             listed in conffiles, the maintainer scripts; the unit names
#             /usr/bin/irqd and /etc/irqd/irqd.toml and passes
#             packaging/systemd/verify.sh; the shipped config passes
#             `irqd config check`;
#   irqd-dev: driver.h and irqd-driver.pc (prefix /usr), Depends on irqd of
#             the same version, and a plugin compiles with the flags
#             `pkg-config --cflags irqd-driver` gives.
# Usage: package_test.sh BUILD_DIR CPACK IRQD VERSION SOURCE_DIR WITH_MAN(0|1)
# Exit 77 (skip) without dpkg-deb or dpkg-shlibdeps (package dpkg-dev).
set -euo pipefail
build=$1
cpack=$2
irqd=$3
version=$4
src=$5
with_man=$6

for tool in dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null || { echo "$tool not installed (apt-get install dpkg-dev)" >&2; exit 77; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

if ! "$cpack" --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1; then
    cat "$tmp/cpack.log" >&2
    echo "FAIL: cpack -G DEB" >&2
    exit 1
fi
deb=$tmp/out/irqd_${version}_amd64.deb
dev=$tmp/out/irqd-dev_${version}_all.deb
for f in "$deb" "$dev"; do
    [ -f "$f" ] || { ls "$tmp/out" >&2; echo "FAIL: cpack made no ${f##*/}" >&2; exit 1; }
done

# --- irqd ---------------------------------------------------------------
field() { dpkg-deb -f "$1" "$2"; }
[ "$(field "$deb" Package)" = irqd ] || fail "Package is '$(field "$deb" Package)'"
[ "$(field "$deb" Version)" = "$version" ] || fail "Version is '$(field "$deb" Version)', expected $version"
[ "$(field "$deb" Architecture)" = amd64 ] || fail "Architecture is '$(field "$deb" Architecture)'"
depends=$(field "$deb" Depends)
echo "irqd Depends: $depends"
# Computed, not typed: dpkg-shlibdeps writes the versioned minimum of
# every library irqd links.
for lib in 'libc6 (>= ' 'libhwloc15 (>= ' 'liburing2 (>= ' 'libstdc++6 (>= ' 'libsystemd0'; do
    [[ $depends == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done

dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/files"
want=(/usr/bin/irqd /usr/lib/irqd/count.so /usr/lib/irqd/leaky.so /usr/lib/systemd/system/irqd.service
    /etc/irqd/irqd.toml /usr/share/bash-completion/completions/irqd /usr/share/doc/irqd/copyright
    /usr/share/doc/irqd/README.md)
[ "$with_man" = 1 ] && want+=(/usr/share/man/man8/irqd.8.gz /usr/share/man/man5/irqd.toml.5.gz)
for f in "${want[@]}"; do
    grep -qxF "$f" "$tmp/files" || fail "irqd lacks $f"
done
if grep -q '^/usr/include\|pkgconfig' "$tmp/files"; then fail "irqd holds the dev files: $(grep '^/usr/include\|pkgconfig' "$tmp/files")"; fi
if grep -q '^/usr/local' "$tmp/files"; then fail "irqd installs under /usr/local: $(grep '^/usr/local' "$tmp/files")"; fi

mkdir "$tmp/ctl"
dpkg-deb -e "$deb" "$tmp/ctl"
[ "$(cat "$tmp/ctl/conffiles" 2>/dev/null)" = /etc/irqd/irqd.toml ] ||
    fail "conffiles is '$(cat "$tmp/ctl/conffiles" 2>/dev/null)', expected /etc/irqd/irqd.toml"
for s in postinst prerm postrm; do
    [ -x "$tmp/ctl/$s" ] || fail "no executable $s"
done

dpkg-deb -x "$deb" "$tmp/root"
unit=$tmp/root/usr/lib/systemd/system/irqd.service
grep -qx 'ExecStart=/usr/bin/irqd run --config /etc/irqd/irqd.toml' "$unit" ||
    fail "the unit's ExecStart: $(grep ExecStart= "$unit")"
grep -qx 'ExecStartPre=/usr/bin/irqd config check /etc/irqd/irqd.toml' "$unit" ||
    fail "the unit's ExecStartPre: $(grep ExecStartPre= "$unit")"
if grep -q /usr/local "$unit"; then fail "the unit names /usr/local: $(grep /usr/local "$unit")"; fi
set +e
"$src/packaging/systemd/verify.sh" "$unit" "$irqd"
rc=$?
set -e
[ "$rc" = 0 ] || [ "$rc" = 77 ] || fail "packaging/systemd/verify.sh on the packaged unit"
cmp -s "$tmp/root/etc/irqd/irqd.toml" "$src/packaging/irqd.toml" || fail "/etc/irqd/irqd.toml is not packaging/irqd.toml"
"$irqd" config check "$tmp/root/etc/irqd/irqd.toml" || fail "irqd config check /etc/irqd/irqd.toml"
[ -x "$tmp/root/usr/bin/irqd" ] || fail "/usr/bin/irqd is not executable"
"$tmp/root/usr/bin/irqd" --help >/dev/null || fail "the packaged irqd --help"
if [ "$with_man" = 1 ]; then
    gzip -dc "$tmp/root/usr/share/man/man8/irqd.8.gz" | grep -q '^\.TH "irqd" "8"' || fail "irqd.8.gz is not irqd(8)"
fi

# --- irqd-dev -----------------------------------------------------------
[ "$(field "$dev" Package)" = irqd-dev ] || fail "Package is '$(field "$dev" Package)'"
[[ $(field "$dev" Depends) == *"irqd (= $version)"* ]] ||
    fail "irqd-dev Depends is '$(field "$dev" Depends)', expected irqd (= $version)"
dpkg-deb -c "$dev" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/dev-files"
for f in /usr/include/irqd/driver.h /usr/share/pkgconfig/irqd-driver.pc; do
    grep -qxF "$f" "$tmp/dev-files" || fail "irqd-dev lacks $f"
done
dpkg-deb -x "$dev" "$tmp/devroot"
pc=$tmp/devroot/usr/share/pkgconfig/irqd-driver.pc
grep -qx 'prefix=/usr' "$pc" || fail "irqd-driver.pc: $(grep '^prefix=' "$pc")"
if command -v pkg-config >/dev/null && command -v cc >/dev/null; then
    cflags=$(PKG_CONFIG_LIBDIR=$tmp/devroot/usr/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$tmp/devroot \
        PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 pkg-config --cflags irqd-driver) || fail "pkg-config --cflags irqd-driver"
    cflags=${cflags% }
    [ "$cflags" = "-I$tmp/devroot/usr/include" ] || fail "pkg-config --cflags irqd-driver gave '$cflags'"
    # shellcheck disable=SC2086 # flags
    cc -std=c11 -fsyntax-only $cflags "$src/plugins/count.c" || fail "count.c does not compile against irqd-dev"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failures" >&2
    exit 1
fi
echo "packages: ${deb##*/} ($(stat -c %s "$deb") bytes), ${dev##*/}: contents, Depends, conffiles, unit, config, pkg-config ok"
