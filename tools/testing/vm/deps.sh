#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install every Debian package the project needs on a fresh bookworm host.
# Idempotent and quick when everything is already there.
set -euo pipefail
pkgs=(
	build-essential gcc make bc flex bison libelf-dev libssl-dev pahole
	xz-utils cpio kmod rsync sparse perl python3
	qemu-system-x86 busybox-static
	iproute2 bash dkms debootstrap
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
[ "$(id -u)" -eq 0 ] || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
