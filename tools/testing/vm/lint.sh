#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make lint: checkpatch --strict on all our C and headers, then a W=1 build
# with sparse (C=2) against the stock 6.12 headers and a W=1 build against
# the stock 7.3 headers (in the gcc-14 build root, mkbuildroot.sh; trixie's
# sparse 0.6.4 cannot parse 7.x headers, so no sparse there), and a DKMS
# build of tools/dkms/dkms.conf against both. Any finding fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
. "$here/lib.sh"

cache=$("$here/fetch-kernel.sh")
src="$cache/src/linux-source-6.12"
kdir="$cache/root/usr/src/linux-headers-$DEB_KABI-amd64"
fail=0

mapfile -t files < <(cd "$top" && git ls-files '*.c' '*.h' 2>/dev/null ||
	find drivers include tools -name '*.[ch]')
cp=(perl "$src/scripts/checkpatch.pl" --strict --no-tree --terse --show-types)
kfiles=() ufiles=() tfiles=() cfiles=()
for f in "${files[@]}"; do
	case "$f" in
	tools/*) ufiles+=("$f") ;;
	*/trace.h) tfiles+=("$f") ;;
	*/compat.h) cfiles+=("$f") ;;
	*) kfiles+=("$f") ;;
	esac
done
# Userspace kselftests: kselftest_harness.h macros trip checks meant for
# kernel code (FIXTURE_DATA(x) *self reads as a multiplication, TEST_F
# generators are not expressions, its EXPECT_* need braces in if/else).
out=$(cd "$top" && {
	"${cp[@]}" --ignore FILE_PATH_CHANGES -f "${kfiles[@]}"
	# TRACE_EVENT's layout is the kernel-wide idiom for trace headers
	"${cp[@]}" --ignore FILE_PATH_CHANGES,PARENTHESIS_ALIGNMENT,OPEN_ENDED_LINE \
		-f "${tfiles[@]}"
	# an out-of-tree module's one place for kernel version checks
	"${cp[@]}" --ignore FILE_PATH_CHANGES,LINUX_VERSION_CODE,CONSTANT_COMPARISON \
		-f "${cfiles[@]}"
	"${cp[@]}" --ignore FILE_PATH_CHANGES,SPACING,COMPLEX_MACRO,MACRO_ARG_REUSE,BRACES \
		-f "${ufiles[@]}"
} 2>&1 | grep -E ':[0-9]+: (ERROR|WARNING|CHECK)' || true)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	echo "lint: checkpatch findings" >&2
	fail=1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# wbuild NAME KDIR ARGS...: a W=1 build that must print nothing
wbuild() {
	local name=$1 k=$2 d
	d=$(mktemp -d "$tmp/build.XXXXXX")
	shift 2
	mkdir -p "$d/src"
	cp -r "$top/Kbuild" "$top/drivers" "$top/include" "$d/src/"
	if ! kmake "$k" "$d/src" -s W=1 "$@" modules >"$d/build.log" 2>&1 ||
		grep -E 'warning:|error:' "$d/build.log"; then
		[ -s "$d/build.log" ] && cat "$d/build.log"
		echo "lint: $name build not clean" >&2
		fail=1
	fi
}
wbuild "6.12 W=1/sparse" "$kdir" C=2 CHECK="sparse -Wno-decl"
wbuild "7.3 W=1" "$("$here/mkbuildroot.sh" 7.3)"
out=$(cd "$top" && perl "$src/scripts/kernel-doc" -none -Wall \
	drivers/vfio/pci/mockdev/*.[ch] 2>&1)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	echo "lint: kernel-doc warnings" >&2
	fail=1
fi
bash "$top/tools/dkms/dkms-test.sh" || fail=1
[ "$fail" = 0 ] && echo "lint: checkpatch --strict, W=1 (6.12, 7.3) and sparse (6.12) clean (${#files[@]} files)"
exit "$fail"
