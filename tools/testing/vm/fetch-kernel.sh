#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Download Debian's 6.12 kernel packages and unpack them into the cache
# (never into the host's /boot). Idempotent: a finished unpack leaves a stamp.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

stamp="$DEB_CACHE/.unpacked"
[ -e "$stamp" ] && { echo "$DEB_CACHE"; exit 0; }

tmp="$DEB_CACHE.tmp"
rm -rf "$tmp" && mkdir -p "$tmp/debs" "$tmp/root"
pkgs=(
	"linux-image-$DEB_KABI-amd64-unsigned=$DEB_KVER"
	"linux-headers-$DEB_KABI-amd64=$DEB_KVER"
	"linux-headers-$DEB_KABI-common=$DEB_KVER"
	"linux-kbuild-$DEB_KABI=$DEB_KVER"
	"linux-source-6.12=$DEB_KVER"
)
log "downloading ${pkgs[*]}"
if ! (cd "$tmp/debs" && apt-get download "${pkgs[@]}") >&2; then
	log "apt-get download failed: refreshing the package lists once"
	apt-get update -qq >&2 || true
	(cd "$tmp/debs" && apt-get download "${pkgs[@]}") >&2 ||
		die "cannot download DEB_KVER=$DEB_KVER (gone from the mirror? set DEB_KVER/DEB_KABI, see tools/testing/vm/versions.mk)"
fi
for d in "$tmp"/debs/*.deb; do
	dpkg -x "$d" "$tmp/root"
done

# The headers package points at /usr/src/...-common and /usr/lib/linux-kbuild
# with absolute paths; make them relative to the unpacked tree.
hdr="$tmp/root/usr/src/linux-headers-$DEB_KABI-amd64"
sed -i "s|/usr/src/linux-headers-$DEB_KABI-common|\$(dir \$(lastword \$(MAKEFILE_LIST)))../linux-headers-$DEB_KABI-common|" "$hdr/Makefile"
mkdir -p "$tmp/src"
tar -C "$tmp/src" -xf "$tmp"/root/usr/src/linux-source-6.12.tar.xz
rm -rf "$tmp/debs" "$tmp"/root/usr/src/linux-source-6.12.tar.xz
touch "$tmp/.unpacked"
rm -rf "$DEB_CACHE" && mv "$tmp" "$DEB_CACHE"
echo "$DEB_CACHE"
