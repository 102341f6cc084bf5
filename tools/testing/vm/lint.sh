#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make lint: checkpatch --strict on all our C and headers, then a W=1 build
# with sparse (C=2) against the stock 6.12 headers, and a DKMS build of
# tools/dkms/dkms.conf against them. Any finding fails.
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
kfiles=() ufiles=() tfiles=()
for f in "${files[@]}"; do
	case "$f" in
	tools/*) ufiles+=("$f") ;;
	*/trace.h) tfiles+=("$f") ;;
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
cp -r "$top/Kbuild" "$top/drivers" "$top/include" "$tmp/"
if ! make -s -C "$kdir" M="$tmp" W=1 C=2 CHECK="sparse -Wno-decl" modules >"$tmp/build.log" 2>&1 ||
	grep -E 'warning:|error:' "$tmp/build.log"; then
	[ -s "$tmp/build.log" ] && cat "$tmp/build.log"
	echo "lint: W=1/sparse build not clean" >&2
	fail=1
fi
out=$(cd "$top" && perl "$src/scripts/kernel-doc" -none -Wall \
	drivers/vfio/pci/mockdev/*.[ch] 2>&1)
if [ -n "$out" ]; then
	printf '%s\n' "$out"
	echo "lint: kernel-doc warnings" >&2
	fail=1
fi
bash "$top/tools/dkms/dkms-test.sh" || fail=1
[ "$fail" = 0 ] && echo "lint: checkpatch --strict, W=1 and sparse clean (${#files[@]} files)"
exit "$fail"
