#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the module with DKMS against Debian's stock headers of each kernel
# series, in a private DKMS tree (nothing is installed on the host). Run by
# make lint.
#
#   dkms-test.sh [SERIES...]   default: 6.12 7.3
#
# 6.12 builds with the host's dkms and gcc 12; 7.3 (gcc 14) with the dkms
# of the trixie build root (tools/testing/vm/mkbuildroot.sh), chrooted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
vm="$top/tools/testing/vm"
. "$vm/lib.sh"
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$here/dkms.conf")
rc=0

# dkms_build SERIES ROOT KDIR: ROOT is / or a build root; KDIR is inside it
dkms_build() {
	local series=$1 r=$2 kdir=$3 tmp src ko run=()
	tmp=$(mktemp -d "$r/tmp/mdv-dkms.XXXXXX")
	[ "$r" = / ] || run=(in_buildroot "$r")
	src="$tmp/src/mockdev-vfio-pci-$ver"
	mkdir -p "$src" "$tmp/dkms" "$tmp/install"
	cp -r "$top/Kbuild" "$top/drivers" "$top/include" "$here/dkms.conf" "$src/"
	# paths as seen from inside ROOT
	local t=${tmp#"${r%/}"}
	if ! { "${run[@]}" dkms add --sourcetree "$t/src" --dkmstree "$t/dkms" \
		"mockdev-vfio-pci/$ver" >/dev/null &&
		"${run[@]}" dkms build --sourcetree "$t/src" --dkmstree "$t/dkms" \
			--installtree "$t/install" -k "$DEB_KABI-amd64" \
			--kernelsourcedir "${kdir#"${r%/}"}" "mockdev-vfio-pci/$ver" >"$tmp/log" 2>&1; }; then
		cat "$tmp/log" "$tmp"/dkms/mockdev-vfio-pci/"$ver"/build/make.log 2>/dev/null
		echo "dkms: build against $DEB_KABI-amd64 FAILED" >&2
		rm -rf "$tmp"
		return 1
	fi
	ko=$(find "$tmp/dkms" -name 'mockdev-vfio-pci.ko*' | head -1)
	rm -rf "$tmp"
	[ -n "$ko" ] || { echo "dkms: no module built against $DEB_KABI-amd64" >&2; return 1; }
	echo "dkms: mockdev-vfio-pci/$ver builds against $DEB_KABI-amd64 ($(basename "$ko"))"
}

for series in ${*:-6.12 7.3}; do
	case "$series" in
	6.12)
		kernel_series 6.12
		cache=$("$vm/fetch-kernel.sh" 6.12)
		dkms_build 6.12 / "$cache/root/usr/src/linux-headers-$DEB_KABI-amd64" || rc=1
		;;
	*)
		kdir=$("$vm/mkbuildroot.sh" "$series")
		kernel_series "$series"
		dkms_build "$series" "${kdir%%/usr/src/*}" "$kdir" || rc=1
		;;
	esac
done
exit "$rc"
