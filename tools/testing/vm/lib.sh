# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared by the VM runner scripts: which kernel, where the cache lives and
# how to log.
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The guest kernels are pinned in versions.mk, which the Makefile includes;
# the environment (make exports them) overrides it. DEB_KVER/DEB_KABI are
# the 6.12 pin until kernel_series points them at another series.
vm_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vm_pin() { sed -n "s/^$1 *?= *//p" "$vm_lib_dir/versions.mk"; }
: "${DEB_KVER:=$(vm_pin DEB_KVER)}" "${DEB_KABI:=$(vm_pin DEB_KABI)}"
: "${DEB73_KVER:=$(vm_pin DEB73_KVER)}" "${DEB73_KABI:=$(vm_pin DEB73_KABI)}"
if [ -z "$DEB_KVER" ] || [ -z "$DEB_KABI" ] || [ -z "$DEB73_KVER" ] || [ -z "$DEB73_KABI" ]; then
	die "no DEB_KVER/DEB_KABI/DEB73_KVER/DEB73_KABI in $vm_lib_dir/versions.mk"
fi
vm_k612=("$DEB_KVER" "$DEB_KABI")
: "${MOCKDEV_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/mockdev-vfio-pci}"

# kernel_series 6.12|7.3: point DEB_KVER, DEB_KABI and DEB_CACHE at the
# Debian packages of that series (DEB_SERIES says which).
kernel_series() {
	case "$1" in
	6.12) DEB_KVER=${vm_k612[0]} DEB_KABI=${vm_k612[1]} ;;
	7.3) DEB_KVER=$DEB73_KVER DEB_KABI=$DEB73_KABI ;;
	*) die "unknown kernel series $1 (6.12 or 7.3)" ;;
	esac
	# shellcheck disable=SC2034 # for the scripts that source this
	DEB_SERIES=$1 DEB_CACHE="$MOCKDEV_CACHE/deb-$DEB_KVER"
}
kernel_series 6.12

# The kernel series lane $1 boots.
lane_series() {
	case "$1" in
	stock | full) echo 6.12 ;;
	stock-7.3) echo 7.3 ;;
	*) die "unknown lane $1" ;;
	esac
}
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

# in_buildroot ROOT CMD...: run CMD chrooted into the build root ROOT, with
# a /proc of its own (objtool reads it) in a private mount namespace
in_buildroot() {
	# shellcheck disable=SC2016 # the inner sh expands them
	unshare --mount --fork sh -c 'mount -t proc proc "$1/proc" && exec chroot "$@"' \
		sh "$@"
}

# kmake KDIR MDIR ARGS...: make -C KDIR M=MDIR ARGS. A KDIR inside a
# build root (mkbuildroot.sh: a kernel built with a newer gcc than the
# host's) builds there, in a chroot with /proc: MDIR is copied in and back.
kmake() {
	local kdir=$1 mdir=$2 r w rc=0
	shift 2
	r=${kdir%%/usr/src/*}
	if [ "$r" = "$kdir" ] || [ ! -e "$r/.mdv-buildroot" ]; then
		make -C "$kdir" M="$mdir" "$@"
		return
	fi
	w=$(mktemp -d "$r/tmp/mdv-build.XXXXXX")
	cp -a "$mdir/." "$w/"
	in_buildroot "$r" make -C "${kdir#"$r"}" M="${w#"$r"}" "$@" || rc=$?
	cp -a "$w/." "$mdir/"
	rm -rf "$w"
	return "$rc"
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
	kmake "$1" "$2" -s modules >&2
	echo "$2/drivers/vfio/pci/mockdev/mockdev-vfio-pci.ko"
}

# The kernel tree a module for lane $1 builds against: Debian's headers
# (stock; stock-7.3 in the gcc-14 build root), or our built kernel (full,
# built if not cached); prints its path.
lane_kdir() {
	case "$1" in
	stock) echo "$("$vm_lib_dir/fetch-kernel.sh" 6.12)/root/usr/src/linux-headers-${vm_k612[1]}-amd64" ;;
	stock-7.3) "$vm_lib_dir/mkbuildroot.sh" 7.3 ;;
	full) "$vm_lib_dir/build-full-kernel.sh" ;;
	*) die "unknown lane $1" ;;
	esac
}

# debian_root PREFIX SUITE PKGS [HOOK [KEYX]]: print the path of a Debian
# root made by debootstrap (minbase, PKGS) in $MOCKDEV_CACHE/PREFIX-<key>,
# keyed by SUITE, PKGS and KEYX (what HOOK adds). A missing one is built in
# a temporary directory, HOOK (a function, given that directory) finishes
# it, and it is renamed when complete, so an interrupted run never leaves a
# half root behind; then the roots of older keys with the same PREFIX go.
# DEBIAN_MIRROR (default http://deb.debian.org/debian) is the mirror.
debian_root() {
	local prefix=$1 suite=$2 pkgs=$3 hook=${4:-} keyx=${5:-} key root tmp old
	local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
	key=$(echo "$suite $pkgs${keyx:+ $keyx}" | sha256sum | cut -c1-12)
	root="$MOCKDEV_CACHE/$prefix-$key"
	if [ -e "$root/.done" ]; then
		echo "$root"
		return 0
	fi
	command -v debootstrap >/dev/null || die "debootstrap missing (make deps)"
	[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
	mkdir -p "$MOCKDEV_CACHE"
	tmp=$(mktemp -d "$MOCKDEV_CACHE/$prefix-tmp.XXXXXX")
	log "debootstrap $suite ($pkgs${keyx:+; $keyx}) from $mirror into $root"
	if ! debootstrap --variant=minbase --include="$pkgs" "$suite" "$tmp" "$mirror" \
		>"$tmp.log" 2>&1; then
		tail -20 "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		die "debootstrap failed"
	fi
	rm -f "$tmp.log"
	if [ -n "$hook" ] && ! "$hook" "$tmp"; then
		rm -rf "$tmp"
		die "$prefix root: $hook failed"
	fi
	# no package caches; the guest binds its own /dev
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages
	touch "$tmp/.done"
	rm -rf "$root"
	mv "$tmp" "$root"
	for old in "$MOCKDEV_CACHE/$prefix"-*; do
		[ "$old" = "$root" ] || rm -rf "$old"
	done
	log "$prefix root ready: $root ($(du -sh "$root" | cut -f1))"
	echo "$root"
}
