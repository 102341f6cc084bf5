#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Download Debian's kernel packages of one series and unpack them into the
# cache (never into the host's /boot); prints the cache directory.
# Idempotent: a finished unpack leaves a stamp.
#
#   fetch-kernel.sh [6.12]  bookworm's 6.12 (DEB_KVER): image with modules,
#                           headers, kbuild and linux-source-6.12 (src/: the
#                           full-lane kernel, uAPI headers, checkpatch)
#   fetch-kernel.sh 7.3     trixie-backports' 7.3 (DEB73_KVER): image,
#                           modules (.ko.xz), headers and kbuild, fetched
#                           with a private apt configuration
#                           ($MOCKDEV_CACHE/apt-trixie-backports) so the
#                           host's sources stay as they are
#
# Either way the tree looks the same to the other scripts:
# root/boot/vmlinuz-KABI-amd64, root/lib/modules/KABI-amd64/ with a
# modules.order, root/usr/src/linux-headers-KABI-{amd64,common}.
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
kernel_series "${1:-6.12}"

stamp="$DEB_CACHE/.unpacked"
[ -e "$stamp" ] && { echo "$DEB_CACHE"; exit 0; }

tmp="$DEB_CACHE.tmp"
rm -rf "$tmp" && mkdir -p "$tmp/debs" "$tmp/root"
apt=(apt-get)
case "$DEB_SERIES" in
6.12)
	pkgs=(
		"linux-image-$DEB_KABI-amd64-unsigned=$DEB_KVER"
		"linux-headers-$DEB_KABI-amd64=$DEB_KVER"
		"linux-headers-$DEB_KABI-common=$DEB_KVER"
		"linux-kbuild-$DEB_KABI=$DEB_KVER"
		"linux-source-6.12=$DEB_KVER"
	)
	;;
7.3)
	# 7.x splits the image (linux-binary-*) from its modules
	pkgs=(
		"linux-binary-unsigned-$DEB_KABI-amd64=$DEB_KVER"
		"linux-modules-$DEB_KABI-amd64=$DEB_KVER"
		"linux-headers-$DEB_KABI-amd64=$DEB_KVER"
		"linux-headers-$DEB_KABI-common=$DEB_KVER"
		"linux-kbuild-$DEB_KABI=$DEB_KVER"
	)
	aptdir="$MOCKDEV_CACHE/apt-trixie-backports"
	mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
		"${DEBIAN_MIRROR:-http://deb.debian.org/debian} trixie-backports main" >"$aptdir/sources.list"
	apt=(apt-get -o "Dir::Etc::SourceList=$aptdir/sources.list"
		-o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$aptdir/lists"
		-o "Dir::Cache=$aptdir/cache" -o APT::Architecture=amd64
		-o APT::Sandbox::User=root)
	[ -n "$(ls "$aptdir/lists"/*Packages* 2>/dev/null)" ] || "${apt[@]}" -qq update >&2
	;;
esac
log "downloading ${pkgs[*]}"
if ! (cd "$tmp/debs" && "${apt[@]}" download "${pkgs[@]}") >&2; then
	log "apt-get download failed: refreshing the package lists once"
	"${apt[@]}" update -qq >&2 || true
	(cd "$tmp/debs" && "${apt[@]}" download "${pkgs[@]}") >&2 ||
		die "cannot download $DEB_SERIES kernel $DEB_KVER (gone from the mirror? see tools/testing/vm/versions.mk)"
fi
for d in "$tmp"/debs/*.deb; do
	dpkg -x "$d" "$tmp/root"
done

krel="$DEB_KABI-amd64"
hdr="$tmp/root/usr/src/linux-headers-$krel"
case "$DEB_SERIES" in
6.12)
	# The headers package points at /usr/src/...-common and
	# /usr/lib/linux-kbuild with absolute paths; make them relative to
	# the unpacked tree.
	sed -i "s|/usr/src/linux-headers-$DEB_KABI-common|\$(dir \$(lastword \$(MAKEFILE_LIST)))../linux-headers-$DEB_KABI-common|" "$hdr/Makefile"
	mkdir -p "$tmp/src"
	tar -C "$tmp/src" -xf "$tmp"/root/usr/src/linux-source-6.12.tar.xz
	rm -f "$tmp"/root/usr/src/linux-source-6.12.tar.xz
	;;
7.3)
	# Built with gcc 14, which the host (bookworm) lacks: its headers
	# are used inside the build root (mkbuildroot.sh), at their own
	# absolute paths, as packaged. Merged /usr: lay it out like 6.12.
	ln -s usr/lib "$tmp/root/lib"
	mkdir -p "$tmp/root/boot"
	ln -s "../usr/lib/modules/$krel/vmlinuz.unsigned" "$tmp/root/boot/vmlinuz-$krel"
	# no modules.order and no modules.builtin* in the packages; depmod
	# wants them (empty: mkinitramfs.sh fails if a module it needs is
	# not in kernel/)
	m="$tmp/root/usr/lib/modules/$krel"
	(cd "$m" && find kernel -name '*.ko*' | LC_ALL=C sort) >"$m/modules.order"
	: >"$m/modules.builtin"
	: >"$m/modules.builtin.modinfo"
	;;
esac
rm -rf "$tmp/debs"
touch "$tmp/.unpacked"
rm -rf "$DEB_CACHE" && mv "$tmp" "$DEB_CACHE"
echo "$DEB_CACHE"
