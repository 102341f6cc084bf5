#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the Debian trixie root filesystem that carries QEMU 10
# into the outer test guest, and print its path. The host stays on
# bookworm (QEMU 7.2); only this directory tree is trixie. It is shared
# with the guest read-only over 9p and entered with chroot there, where
# its python3 runs qemu_migration.py, the QMP client.
#
#   mkroot.sh          -> $MOCKDEV_CACHE/trixie-<key>
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian),
# MOCKDEV_CACHE (see ../vm/lib.sh). The tree is keyed by the package list,
# built in a temporary directory and renamed when complete, so an
# interrupted run never leaves a half root behind. ~40 s and ~310 MB.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../vm/lib.sh"

suite=trixie
pkgs=qemu-system-x86,busybox,python3
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
key=$(echo "$suite $pkgs" | sha256sum | cut -c1-12)
root="$MOCKDEV_CACHE/$suite-$key"
if [ -x "$root/usr/bin/qemu-system-x86_64" ] && [ -x "$root/usr/bin/python3" ] &&
	[ -e "$root/.done" ]; then
	echo "$root"
	exit 0
fi
command -v debootstrap >/dev/null || die "debootstrap missing (make deps)"
[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
tmp=$(mktemp -d "$MOCKDEV_CACHE/$suite-tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log "debootstrap $suite ($pkgs) from $mirror into $root"
debootstrap --variant=minbase --include="$pkgs" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 ||
	{ tail -20 "$tmp.log" >&2; rm -f "$tmp.log"; die "debootstrap failed"; }
rm -f "$tmp.log"
# no package caches and no devices: the guest binds its own /dev
rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
[ -x "$tmp/usr/bin/python3" ] || die "debootstrap left no python3 in $tmp"
"$tmp/usr/bin/qemu-system-x86_64" --version >/dev/null 2>&1 ||
	log "note: trixie's QEMU cannot run on this host (fine: it runs in the guest)"
touch "$tmp/.done"
rm -rf "$root"
mv "$tmp" "$root"
trap - EXIT
# drop roots of older package lists
for old in "$MOCKDEV_CACHE/$suite"-*; do
	[ "$old" = "$root" ] || rm -rf "$old"
done
log "$suite root ready: $root ($(du -sh "$root" | cut -f1))"
echo "$root"
