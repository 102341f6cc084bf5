# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared by the VM runner scripts: which kernel, where the cache lives and
# how to log.
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The guest kernel is pinned in versions.mk, which the Makefile includes;
# the environment (make exports both) overrides it.
vm_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${DEB_KVER:=$(sed -n 's/^DEB_KVER *?= *//p' "$vm_lib_dir/versions.mk")}"
: "${DEB_KABI:=$(sed -n 's/^DEB_KABI *?= *//p' "$vm_lib_dir/versions.mk")}"
if [ -z "$DEB_KVER" ] || [ -z "$DEB_KABI" ]; then
	die "no DEB_KVER/DEB_KABI in $vm_lib_dir/versions.mk"
fi
: "${MOCKDEV_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/mockdev-vfio-pci}"
# shellcheck disable=SC2034 # for fetch-kernel.sh
DEB_CACHE="$MOCKDEV_CACHE/deb-$DEB_KVER"
mkdir -p "$MOCKDEV_CACHE"

# The 6.12 uAPI headers for userspace (bookworm's linux-libc-dev is 6.1),
# installed once from linux-source $1; prints the install directory.
uapi_headers() {
	local hdr="$MOCKDEV_CACHE/uapi-$DEB_KVER"
	if [ ! -e "$hdr/.done" ]; then
		log "installing 6.12 uAPI headers into $hdr"
		make -s -C "$1" O="$hdr/build" INSTALL_HDR_PATH="$hdr" headers_install >&2
		touch "$hdr/.done"
	fi
	echo "$hdr"
}

# Build the driver against the kernel tree $1 in the directory $2, which
# gets a copy of the sources (an out-of-tree build writes next to them);
# prints the path of the module.
build_module() {
	local top
	top=$(cd "$vm_lib_dir/../../.." && pwd)
	rm -rf "$2"
	mkdir -p "$2"
	cp -r "$top/Kbuild" "$top/drivers" "$top/include" "$2/"
	make -s -C "$1" M="$2" modules >&2
	echo "$2/drivers/vfio/pci/mockdev/mockdev-vfio-pci.ko"
}

# The kernel tree a module for lane $1 builds against: Debian's headers
# (stock) or our built kernel (full, built if not cached); prints its path.
lane_kdir() {
	case "$1" in
	stock) echo "$("$vm_lib_dir/fetch-kernel.sh")/root/usr/src/linux-headers-$DEB_KABI-amd64" ;;
	full) "$vm_lib_dir/build-full-kernel.sh" ;;
	*) die "unknown lane $1" ;;
	esac
}
