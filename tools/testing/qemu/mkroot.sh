#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) a Debian trixie root filesystem that carries QEMU into
# the outer test guest, and print its path. The host stays on bookworm
# (QEMU 7.2); only this directory tree is trixie. It is shared with the
# guest read-only over 9p and entered with chroot there, where its python3
# runs qemu_migration.py, the QMP client.
#
#   mkroot.sh [10.0]   QEMU 10.0 from trixie       -> $MOCKDEV_CACHE/trixie-<key>
#   mkroot.sh 11.1     QEMU 11.1 from trixie-backports
#                                                  -> $MOCKDEV_CACHE/qemu11.1-<key>
#
# Environment: DEBIAN_MIRROR, MOCKDEV_CACHE (see debian_root() in
# ../vm/lib.sh, which makes it). About 40 s and 300 MB each (11.1: 90 s).
# The QEMU version is checked after the install and kept in the root's
# .qemu-version: a backports upload of the next series fails here, it
# does not silently change the client.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../vm/lib.sh"

flavour=${1:-10.0}
pkgs=qemu-system-x86,busybox,python3

# qemu_check ROOT: the root's QEMU is the flavour's series
qemu_check() {
	local v
	# shellcheck disable=SC2016 # dpkg-query's format, not ours
	v=$(chroot "$1" dpkg-query -W -f='${Version}' qemu-system-x86) || return 1
	case "$v" in
	1:"$flavour".*) ;;
	*) log "$1: qemu-system-x86 $v is not QEMU $flavour"; return 1 ;;
	esac
	[ -x "$1/usr/bin/python3" ] || { log "no python3 in $1"; return 1; }
	echo "$v" >"$1/.qemu-version"
}

# backports: debootstrap takes a package from the first suite that has it
# (trixie's 10.0), so QEMU comes from apt in the root; trixie-backports is
# NotAutomatic, hence -t
backports_install() {
	local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
	cat >"$1/etc/apt/sources.list.d/backports.sources" <<-EOS
		Types: deb
		URIs: $mirror
		Suites: trixie-backports
		Components: main
		Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOS
	{
		chroot "$1" apt-get update &&
			DEBIAN_FRONTEND=noninteractive chroot "$1" apt-get install -y \
				--no-install-recommends -t trixie-backports qemu-system-x86 &&
			chroot "$1" apt-get clean
	} >"$1.apt.log" 2>&1 || { tail -20 "$1.apt.log" >&2; rm -f "$1.apt.log"; return 1; }
	rm -f "$1.apt.log"
	qemu_check "$1"
}

case "$flavour" in
10.0) root=$(debian_root trixie trixie "$pkgs" qemu_check) ;;
11.1) root=$(debian_root qemu11.1 trixie "$pkgs" backports_install "trixie-backports qemu-system-x86") ;;
*) die "unknown QEMU flavour $flavour (10.0 or 11.1)" ;;
esac
echo "$root"
