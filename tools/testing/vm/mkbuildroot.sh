#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the Debian trixie root that builds modules for kernels
# made with a newer compiler than the host's: Debian's 7.x was built with
# gcc 14, and bookworm's gcc 12 rejects its flags
# (-fmin-function-alignment=16). Same approach and cache as
# ../qemu/mkroot.sh; kmake() in lib.sh runs make in it with chroot.
#
#   mkbuildroot.sh          -> the root's path
#   mkbuildroot.sh 7.3      -> also installs that series' headers and kbuild
#                              (fetch-kernel.sh 7.3) at their packaged paths
#                              in the root; prints the headers' path, a KDIR
#                              for kmake()/build_module()
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian),
# MOCKDEV_CACHE (see lib.sh). The tree is keyed by the package list, built
# in a temporary directory and renamed when complete. About a minute and
# 600 MB. Contents: gcc-14, make, pahole (BTF of modules), sparse and dkms
# (make lint), kmod, xz.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

suite=trixie
pkgs=gcc-14,make,libc6-dev,libelf-dev,bc,xz-utils,kmod,dwarves,sparse,dkms
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
key=$(echo "$suite $pkgs" | sha256sum | cut -c1-12)
root="$MOCKDEV_CACHE/build-$suite-$key"
if [ ! -e "$root/.done" ]; then
	command -v debootstrap >/dev/null || die "debootstrap missing (make deps)"
	[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
	tmp=$(mktemp -d "$MOCKDEV_CACHE/build-$suite-tmp.XXXXXX")
	trap 'rm -rf "$tmp" "$tmp.log"' EXIT
	log "debootstrap $suite ($pkgs) from $mirror into $root"
	debootstrap --variant=minbase --include="$pkgs" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1 ||
		{ tail -20 "$tmp.log" >&2; die "debootstrap failed"; }
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
	# kbuild calls gcc; trixie's gcc-14 package installs gcc-14 only
	ln -sf gcc-14 "$tmp/usr/bin/gcc"
	chroot "$tmp" gcc --version >/dev/null || die "no working gcc in $tmp"
	# kmake() builds in a root that has this
	touch "$tmp/.mdv-buildroot" "$tmp/.done"
	rm -rf "$root"
	mv "$tmp" "$root"
	trap - EXIT
	for old in "$MOCKDEV_CACHE/build-$suite"-*; do
		[ "$old" = "$root" ] || rm -rf "$old"
	done
	log "$suite build root ready: $root ($(du -sh "$root" | cut -f1))"
fi
[ $# -eq 0 ] && { echo "$root"; exit 0; }

# A series' headers, copied in once (the root's /usr/src and /usr/lib are
# its own: the packages' absolute paths hold there)
cache=$("$here/fetch-kernel.sh" "$1")
kernel_series "$1"
kdir="$root/usr/src/linux-headers-$DEB_KABI-amd64"
stamp="$root/usr/src/.mdv-$DEB_KVER"
if [ ! -e "$stamp" ]; then
	rm -rf "$root/usr/src/linux-headers-$DEB_KABI"-* "$root/usr/lib/linux-kbuild-$DEB_KABI"
	cp -a "$cache/root/usr/src/linux-headers-$DEB_KABI"-* "$root/usr/src/"
	cp -a "$cache/root/usr/lib/linux-kbuild-$DEB_KABI" "$root/usr/lib/"
	touch "$stamp"
fi
echo "$kdir"
