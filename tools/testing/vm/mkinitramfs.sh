#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the initramfs for one VM lane and print its path.
#
#   mkinitramfs.sh stock|stock-7.3 [DEB_CACHE]
#                                      Debian's kernel: the modules the tests
#                                      need and their dependencies (modprobe
#                                      --show-depends) are decompressed into
#                                      the image and loaded by /init in that
#                                      order (.ko, .ko.xz, .ko.zst, .ko.gz).
#   mkinitramfs.sh full  [BUILD_DIR]   our own kernel (everything needed is
#                                      built in); every module of the build is
#                                      copied in, /init loads those of the list
#                                      below (mdev) and mtty's dependencies;
#                                      the mtty sample itself is only copied,
#                                      also to /lib/modules-extra/mtty.ko
#                                      (/init exports MTTY_KO with that path).
#
# Without the second argument the kernel tree comes from fetch-kernel.sh /
# build-full-kernel.sh (the latter builds the kernel if it is not cached).
#
# Contents: busybox-static with all its applets linked, the host's bash, ip,
# tc and devlink (plus $VM_EXTRA_BINS, space separated, e.g. for a payload
# that needs more host tools) with their shared libraries and the dynamic
# loader, /init = guest-init.sh and /lib/mockdev/guest-lib.sh (helpers for
# the payload's scripts). The image is an uncompressed newc cpio
# (every kernel takes it, and the guest does not spend TCG time inflating
# it), cached in $MOCKDEV_CACHE keyed by everything that goes into it.
# $VM_EXTRA_MODULES (stock lane, space separated module names) adds modules.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

lane=${1:-}
case "$lane" in
stock | stock-7.3)
	kernel_series "$(lane_series "$lane")"
	kdir=${2:-$("$here/fetch-kernel.sh" "$DEB_SERIES")}
	;;
full) kdir=${2:-$("$here/build-full-kernel.sh")} ;;
*) die "usage: $0 stock|stock-7.3|full [KERNEL_TREE]" ;;
esac
kdir=$(cd "$kdir" && pwd)

# Modules /init loads (with their dependencies) where they are modules: on
# the stock lane the first group is required, the rest is loaded if this
# kernel has it; on the full lane most are built in.
want_required="vfio vfio_iommu_type1 vfio_pci_core vfio_pci mdev 9p 9pnet_virtio"
want_optional="iommufd veth sch_tbf sch_netem sch_htb cls_u32 netdevsim ${VM_EXTRA_MODULES:-}"

bins="/bin/bash ip tc devlink ${VM_EXTRA_BINS:-}"
hostbins=()
for b in $bins; do
	p=$(command -v "$b") || die "$b not found on the host (apt-get install iproute2 bash)"
	hostbins+=("$(readlink -f "$p")")
done
busybox=$(command -v busybox) || die "busybox not found (apt-get install busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'dynamically linked' &&
	die "$busybox is dynamically linked; install busybox-static"

case "$lane" in
stock | stock-7.3)
	krel="$DEB_KABI-amd64"
	mdir="$kdir/root/lib/modules/$krel"
	[ -d "$mdir/kernel" ] || die "no modules in $mdir"
	kstamp="$kdir/.unpacked"
	;;
full)
	krel=$(cat "$kdir/include/config/kernel.release") || die "$kdir is not a built kernel tree"
	mdir="$kdir"
	kstamp="$kdir/.built"
	;;
esac
[ -e "$kstamp" ] || die "$kstamp missing: kernel tree not finished"

# --- cache key: every input's name, size and mtime, plus our own scripts ---
key=$({
	echo "$lane $krel $kdir $want_required $want_optional"
	stat -c '%n %s %Y' "$kstamp" "$busybox" "${hostbins[@]}"
	cat "$here/guest-init.sh" "$here/guest-lib.sh" "$here/mkinitramfs.sh" | sha256sum
	# they choose the modules
	stat -L -c '%n %s %Y' "$(command -v modprobe)" "$(command -v depmod)"
	for b in "${hostbins[@]}"; do ldd "$b" 2>/dev/null | sed "s/ (0x.*//" || true; done
	if [ "$lane" = full ] && [ -f "$kdir/modules.order" ]; then
		sed 's/\.o$/.ko/' "$kdir/modules.order" | (cd "$kdir" && xargs -r stat -c '%n %s %Y')
	fi
} | sha256sum | cut -c1-16)
out="$MOCKDEV_CACHE/initramfs-$lane-$key.cpio"
[ -s "$out" ] && { echo "$out"; exit 0; }

log "building $lane initramfs for $krel"
work=$(mktemp -d "$MOCKDEV_CACHE/initramfs-$lane.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,dev,proc,sys,tmp,run,etc,payload,root,mnt,var}
# merged /usr like the host, so ldd's paths work unchanged
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
ln -s ../run "$root/var/run"

# busybox: link every applet except "busybox" itself (it is in --list-full
# too, and a symlink there would replace the binary by a link to itself)
cp "$busybox" "$root/usr/bin/busybox"
"$busybox" --list-full | while IFS= read -r a; do
	[ "${a##*/}" = busybox ] && continue
	case "$a" in bin/* | sbin/*) a="usr/$a" ;; esac
	mkdir -p "$root/${a%/*}"
	ln -sf /usr/bin/busybox "$root/$a"
done

# host binaries (they replace busybox's ip/tc applets) and their libraries
libs=()
for b in "${hostbins[@]}"; do
	case "$b" in /usr/*) dst="$root$b" ;; *) dst="$root/usr$b" ;; esac
	mkdir -p "${dst%/*}"
	cp --remove-destination "$b" "$dst"
	# and wherever busybox put an applet of the same name (ip is in sbin/)
	for d in usr/bin usr/sbin; do
		[ -L "$root/$d/${b##*/}" ] && ln -sf "${dst#"$root"}" "$root/$d/${b##*/}"
	done
	while IFS= read -r l; do libs+=("$l"); done < <(ldd "$b" | awk '
		$2 == "=>" && $3 ~ /^\// { print $3 }
		$1 ~ /^\// { print $1 }')
done
for l in $(printf '%s\n' "${libs[@]}" | sort -u); do
	r=$(readlink -f "$l")
	# keep the name ldd asked for (a symlink on the host) and its target
	case "$r" in /usr/*) d="$root$r" ;; *) d="$root/usr$r" ;; esac
	mkdir -p "${d%/*}"
	[ -e "$d" ] || cp "$r" "$d"
	case "$l" in /usr/*) d="$root$l" ;; *) d="$root/usr$l" ;; esac
	mkdir -p "${d%/*}"
	[ -e "$d" ] || ln -s "${r#/usr}" "$d"
done
# tc's netem distribution tables and iproute2's name tables (small)
for d in /usr/lib/x86_64-linux-gnu/tc /usr/share/iproute2 /etc/iproute2; do
	[ -d "$d" ] || continue
	mkdir -p "$root$d"
	find "$d" -maxdepth 1 -type f ! -name '*.so' -exec cp -t "$root$d" {} +
done
printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
: >"$root/etc/fstab"
cp "$here/guest-init.sh" "$root/init"
chmod 755 "$root/init"
mkdir -p "$root/usr/lib/mockdev"
cp "$here/guest-lib.sh" "$root/usr/lib/mockdev/guest-lib.sh"

# --- kernel modules ---
# What /init loads, in which order, is what `modprobe --show-depends` says
# (dependencies and soft dependencies first) for each wanted module, run
# against a module tree with a modules.dep and without the host's
# modprobe.d. stock: Debian ships no modules.dep, and the cached tree stays
# as unpacked: depmod works on a view of it in $work/tree. full: every
# module of the build is copied in first, so the image's own tree is it.
mroot="$root/lib/modules/$krel"
mkdir -p "$mroot" "$work/modprobe.d"
case "$lane" in
stock | stock-7.3)
	tree="$work/tree"
	mkdir -p "$tree/lib/modules/$krel"
	ln -s "$mdir/kernel" "$tree/lib/modules/$krel/kernel"
	cp "$mdir/modules.order" "$tree/lib/modules/$krel/"
	;;
full)
	tree="$root"
	if [ -f "$kdir/modules.order" ]; then
		while IFS= read -r f; do
			f=${f%.o}.ko
			[ -f "$kdir/$f" ] || die "$kdir/$f missing (modules not built?)"
			mkdir -p "$mroot/kernel/${f%/*}"
			cp "$kdir/$f" "$mroot/kernel/$f"
		done <"$kdir/modules.order"
	fi
	(cd "$mroot" && find kernel -name '*.ko' | LC_ALL=C sort) >"$mroot/modules.order"
	;;
esac
for f in modules.builtin modules.builtin.modinfo; do
	if [ -f "$mdir/$f" ]; then cp "$mdir/$f" "$tree/lib/modules/$krel/"; fi
done
depmod -b "$tree" "$krel"

# needs MODULE: the module files (relative to the module directory) that
# loading MODULE takes, in load order, MODULE's last; nothing if it is
# built in; fails if this kernel has no MODULE
needs() {
	local out
	out=$(modprobe -d "$tree" -S "$krel" -C "$work/modprobe.d" --ignore-install \
		--show-depends "$1" 2>/dev/null) || return 1
	sed -n "s|^insmod $tree/lib/modules/$krel/\([^ ]*\).*|\1|p" <<<"$out"
}
declare -A seen=()
order=()
# load "FILE<newline>FILE...": append to the load order what is not in it
load() {
	local f
	while IFS= read -r f; do
		{ [ -z "$f" ] || [ -n "${seen[$f]:-}" ]; } && continue
		seen[$f]=1
		order+=("$f")
	done <<<"$1"
}
for m in $want_required; do
	files=$(needs "$m") || die "module $m missing from $krel"
	load "$files"
done
for m in $want_optional; do
	files=$(needs "$m") || { log "note: $m not available in $krel"; continue; }
	load "$files"
done

case "$lane" in
stock | stock-7.3)
	for f in "${order[@]}"; do
		mkdir -p "$mroot/${f%/*}"
		case "$f" in
		*.ko.xz) xz -dc "$mdir/$f" >"$mroot/${f%.xz}" ;;
		*.ko.zst) zstd -qdc "$mdir/$f" >"$mroot/${f%.zst}" ;;
		*.ko.gz) gzip -dc "$mdir/$f" >"$mroot/${f%.gz}" ;;
		*) cp "$mdir/$f" "$mroot/$f" ;;
		esac
	done
	order=("${order[@]%.xz}")
	order=("${order[@]%.zst}")
	order=("${order[@]%.gz}")
	for f in modules.builtin modules.builtin.modinfo; do
		if [ -f "$mdir/$f" ]; then cp "$mdir/$f" "$mroot/"; fi
	done
	# modules.dep for the guest's (busybox) modprobe
	(cd "$mroot" && find kernel -name '*.ko' | LC_ALL=C sort) >"$mroot/modules.order"
	depmod -b "$root" "$krel"
	;;
full)
	if [ -f "$kdir/samples/vfio-mdev/mtty.ko" ]; then
		mkdir -p "$root/lib/modules-extra"
		cp "$kdir/samples/vfio-mdev/mtty.ko" "$root/lib/modules-extra/mtty.ko"
		# whatever mtty needs (mdev, if it ended up modular) is loaded
		# by /init, mtty itself is not
		files=$(needs mtty) || die "modprobe does not know mtty in $krel"
		load "$(head -n -1 <<<"$files")"
	else
		log "warning: $kdir/samples/vfio-mdev/mtty.ko not built"
	fi
	;;
esac
printf '%s\n' "${order[@]}" | sed '/^$/d' >"$mroot/mockdev-load-order"
log "$lane initramfs: $(wc -l <"$mroot/mockdev-load-order") modules to load"

(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) >"$work/initramfs.cpio"
mv "$work/initramfs.cpio" "$out"
# drop this lane's older images (not stock-7.3's when the lane is stock)
for old in "$MOCKDEV_CACHE"/initramfs-"$lane"-????????????????.cpio; do
	[ "$old" = "$out" ] || rm -f "$old"
done
log "$lane initramfs: $out ($(du -h "$out" | cut -f1))"
echo "$out"
