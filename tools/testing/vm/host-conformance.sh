#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make conformance DEVS="..." on a test host: build the suite with the 6.12
# uAPI headers and run it against the named devices (bound to their vfio
# variant driver, or mdevs), through container and iommufd where available.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
. "$here/lib.sh"
cache=$("$here/fetch-kernel.sh")
src="$cache/src/linux-source-6.12"
hdr=$(uapi_headers "$src")
out="$top/build/conformance"
mkdir -p "$out"
make -s -C "$top/tools/testing/selftests" TARGETS=vfio/migration O="$out" \
	KHDR_INCLUDES="-isystem $hdr/include" KSFT_SRC="$src/tools/testing/selftests"
exec "$here/conformance.sh" "$out/vfio/migration/vfio_mig_conformance_test" "$@"
