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
# Environment: DEBIAN_MIRROR, MOCKDEV_CACHE (see debian_root() in lib.sh,
# which makes it). About a minute and 600 MB. Contents: gcc-14, make,
# pahole (BTF of modules), sparse and dkms (make lint), kmod, xz.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

pkgs=gcc-14,make,libc6-dev,libelf-dev,bc,xz-utils,kmod,dwarves,sparse,dkms
buildroot_finish() {
	# kbuild calls gcc; trixie's gcc-14 package installs gcc-14 only
	ln -sf gcc-14 "$1/usr/bin/gcc"
	chroot "$1" gcc --version >/dev/null || { log "no working gcc in $1"; return 1; }
	# kmake() builds in a root that has this
	touch "$1/.mdv-buildroot"
}
root=$(debian_root build-trixie trixie "$pkgs" buildroot_finish)
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
