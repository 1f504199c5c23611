#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Builds the Debian packages of this build tree with CPack into a temporary
# folder and checks them without installing anything:
#   irqd:     the files (binary, plugins, units, udev rule, irqbalance
#             policy script (0755), modules-load.d file, conffile, man
#             pages, completion, copyright), no unit enabled, Depends
#             computed by dpkg-shlibdeps (versioned libc6, hwloc,
#             liburing, ...), /etc/irqd/irqd.toml
#             listed in conffiles, the maintainer scripts (udev's rules
#             reloaded); the units name /usr/bin/irqd (irqd.service also
#             /etc/irqd/irqd.toml, irqd-tune@.service
#             /etc/irqd/tune.d/%i.json) and pass packaging/systemd/verify.sh,
#             the udev rule runs /usr/bin/irqd; the shipped config passes
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
    /usr/lib/modules-load.d/irqd.conf /usr/lib/systemd/system/irqd-tune@.service
    /usr/lib/udev/rules.d/80-irqd-tune.rules /usr/lib/irqd/irqbalance-policy
    /etc/irqd/irqd.toml /usr/share/bash-completion/completions/irqd /usr/share/doc/irqd/copyright
    /usr/share/doc/irqd/README.md)
[ "$with_man" = 1 ] && want+=(/usr/share/man/man8/irqd.8.gz /usr/share/man/man5/irqd.toml.5.gz)
for f in "${want[@]}"; do
    grep -qxF "$f" "$tmp/files" || fail "irqd lacks $f"
done
if grep -q '^/usr/include\|pkgconfig' "$tmp/files"; then fail "irqd holds the dev files: $(grep '^/usr/include\|pkgconfig' "$tmp/files")"; fi
if grep -q '^/usr/local' "$tmp/files"; then fail "irqd installs under /usr/local: $(grep '^/usr/local' "$tmp/files")"; fi
# No unit is enabled by the package: no .wants links, no instance.
if grep -q '^/etc/systemd\|\.wants/\|irqd-tune@[^.]' "$tmp/files"; then
    fail "irqd enables units: $(grep '^/etc/systemd\|\.wants/\|irqd-tune@[^.]' "$tmp/files")"
fi
# irqbalance runs the policy script: executable by all.
policy_mode=$(dpkg-deb -c "$deb" | awk '$6 == "./usr/lib/irqd/irqbalance-policy" {print $1}')
[ "$policy_mode" = -rwxr-xr-x ] || fail "/usr/lib/irqd/irqbalance-policy is '$policy_mode', expected -rwxr-xr-x"

mkdir "$tmp/ctl"
dpkg-deb -e "$deb" "$tmp/ctl"
[ "$(cat "$tmp/ctl/conffiles" 2>/dev/null)" = /etc/irqd/irqd.toml ] ||
    fail "conffiles is '$(cat "$tmp/ctl/conffiles" 2>/dev/null)', expected /etc/irqd/irqd.toml"
for s in postinst prerm postrm; do
    [ -x "$tmp/ctl/$s" ] || fail "no executable $s"
done
# udev reads the new rule (postinst) and forgets it (postrm) where it runs;
# nothing enables a unit.
for s in postinst postrm; do
    grep -q 'udevadm control --reload-rules' "$tmp/ctl/$s" || fail "$s does not reload udev's rules"
done
if grep -v '^ *#' "$tmp/ctl/postinst" | grep -q 'systemctl.* enable\|deb-systemd-helper'; then fail "postinst enables a unit"; fi

dpkg-deb -x "$deb" "$tmp/root"
unit=$tmp/root/usr/lib/systemd/system/irqd.service
grep -qx 'ExecStart=/usr/bin/irqd run --config /etc/irqd/irqd.toml' "$unit" ||
    fail "the unit's ExecStart: $(grep ExecStart= "$unit")"
grep -qx 'ExecStartPre=/usr/bin/irqd config check /etc/irqd/irqd.toml' "$unit" ||
    fail "the unit's ExecStartPre: $(grep ExecStartPre= "$unit")"
if grep -q /usr/local "$unit"; then fail "the unit names /usr/local: $(grep /usr/local "$unit")"; fi
# The unit's DeviceAllow=char-vfio needs vfio loaded before it starts.
grep -qx 'vfio-pci' "$tmp/root/usr/lib/modules-load.d/irqd.conf" 2>/dev/null ||
    fail "modules-load.d/irqd.conf does not load vfio-pci"
set +e
"$src/packaging/systemd/verify.sh" "$unit" "$irqd"
rc=$?
set -e
[ "$rc" = 0 ] || [ "$rc" = 77 ] || fail "packaging/systemd/verify.sh on the packaged unit"
# irqd-tune@.service: the installed irqd, the profile where irqd keeps it,
# and systemd-analyze verify (with the packaged man page for man:irqd(8)).
tune_unit=$tmp/root/usr/lib/systemd/system/irqd-tune@.service
grep -qx 'ExecStart=/usr/bin/irqd tune --profile %i --apply --if-present' "$tune_unit" ||
    fail "irqd-tune@.service ExecStart: $(grep ExecStart= "$tune_unit")"
grep -qx 'ConditionPathExists=/etc/irqd/tune.d/%i.json' "$tune_unit" ||
    fail "irqd-tune@.service condition: $(grep Condition "$tune_unit")"
if grep -q /usr/local "$tune_unit"; then fail "irqd-tune@.service names /usr/local: $(grep /usr/local "$tune_unit")"; fi
man8=""
[ "$with_man" = 1 ] && man8=$tmp/root/usr/share/man/man8/irqd.8.gz
set +e
"$src/packaging/systemd/verify.sh" "$tune_unit" "$irqd" ${man8:+"$man8"}
rc=$?
set -e
[ "$rc" = 0 ] || [ "$rc" = 77 ] || fail "packaging/systemd/verify.sh on the packaged irqd-tune@.service"
# The udev rule runs /usr/bin/irqd (structure only: IRQD_UDEVADM empty).
IRQD_UDEVADM='' "$src/packaging/tests/udev_rule_test.sh" "$tmp/root/usr/lib/udev/rules.d/80-irqd-tune.rules" \
    /usr/bin/irqd >/dev/null || fail "packaging/tests/udev_rule_test.sh on the packaged rule"
cmp -s "$tmp/root/usr/lib/irqd/irqbalance-policy" "$src/packaging/irqbalance/irqbalance-policy" ||
    fail "/usr/lib/irqd/irqbalance-policy is not packaging/irqbalance/irqbalance-policy"
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
echo "packages: ${deb##*/} ($(stat -c %s "$deb") bytes), ${dev##*/}: contents, Depends, conffiles, units, udev rule, policy script, config, pkg-config ok"
