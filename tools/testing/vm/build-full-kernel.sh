#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the "full" lane kernel from Debian's linux-source-6.12 with our config
# fragment on top of tinyconfig. The result is cached outside the clone, keyed
# by source version and fragment, so CI and later runs reuse it.
# Prints the build directory (usable as KDIR for out-of-tree modules).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

src=$("$here/fetch-kernel.sh")/src/linux-source-6.12
key=$(sha256sum <"$here/full.config" | cut -c1-12)
out="$MOCKDEV_CACHE/full-$DEB_KVER-$key"
[ -e "$out/.built" ] && { echo "$out"; exit 0; }

log "building full-lane kernel in $out (about 11 min on 2 cores)"
mkdir -p "$out"
make -s -C "$src" O="$out" tinyconfig >&2
# merge_config.sh runs olddefconfig for us (-O: output dir)
(cd "$src" && scripts/kconfig/merge_config.sh -m -O "$out" "$out/.config" "$here/full.config") >"$out/merge.log" 2>&1
make -s -C "$src" O="$out" olddefconfig >&2
# A fragment line that did not stick (dependency missing) means the lane
# would silently test less than it says: fail.
bad=0
while IFS= read -r l; do
	k=${l%%=*}; v=${l#*=}
	case "$v" in n) grep -q "^$k=" "$out/.config" && { log "error: $k should be unset"; bad=1; } ;;
	*) grep -qx "$l" "$out/.config" || { log "error: $l did not stick"; bad=1; } ;; esac
done < <(grep -E '^CONFIG_[A-Z0-9_]+=' "$here/full.config")
[ "$bad" = 0 ] || die "full.config does not apply to linux-source-6.12 (see $out/.config)"
make -C "$src" O="$out" -j"$(nproc)" bzImage modules >"$out/build.log" 2>&1 ||
	{ tail -40 "$out/build.log" >&2; die "kernel build failed, see $out/build.log"; }
touch "$out/.built"
echo "$out"
