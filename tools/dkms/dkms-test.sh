#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the module with DKMS against Debian's stock 6.12 headers, in a
# private DKMS tree (nothing is installed on the host). Run by make lint.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
. "$top/tools/testing/vm/lib.sh"
cache=$("$top/tools/testing/vm/fetch-kernel.sh")
kdir="$cache/root/usr/src/linux-headers-$DEB_KABI-amd64"
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$here/dkms.conf")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src="$tmp/src/mockdev-vfio-pci-$ver"
mkdir -p "$src" "$tmp/dkms" "$tmp/install"
cp -r "$top/Kbuild" "$top/drivers" "$top/include" "$src/"
cp "$here/dkms.conf" "$src/"
dkms add --sourcetree "$tmp/src" --dkmstree "$tmp/dkms" "mockdev-vfio-pci/$ver" >/dev/null
if ! dkms build --sourcetree "$tmp/src" --dkmstree "$tmp/dkms" \
	--installtree "$tmp/install" -k "$DEB_KABI-amd64" \
	--kernelsourcedir "$kdir" "mockdev-vfio-pci/$ver" >"$tmp/log" 2>&1; then
	cat "$tmp/log" "$tmp"/dkms/mockdev-vfio-pci/"$ver"/build/make.log 2>/dev/null
	echo "dkms: build FAILED" >&2
	exit 1
fi
ko=$(find "$tmp/dkms" -name 'mockdev-vfio-pci.ko*' | head -1)
[ -n "$ko" ] || { echo "dkms: no module built" >&2; exit 1; }
echo "dkms: mockdev-vfio-pci/$ver builds against $DEB_KABI-amd64 ($(basename "$ko"))"
