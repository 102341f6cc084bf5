#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check-qemu: the real client. QEMU 10.0 and 11.1 (Debian trixie and
# trixie-backports, in root filesystems made by mkroot.sh) run inside an
# outer test guest and live-migrate a small VM that has mockdev-vfio-pci
# devices assigned: guest-qemu.sh (the outer guest's run.sh) prepares the
# driver and the roots, qemu_migration.py (in a root's python3) drives QEMU
# over QMP. guest-qemu.sh's header lists the scenarios.
#
#   QEMU_LANES="full stock stock-7.3"  which outer kernels to boot:
#     full   the full-lane kernel (IOMMUFD: DMA logging reports work), 8
#            functions: QEMU 10.0 and 11.1 must migrate with device dirty
#            tracking, pre-copy, MIG_DATA_SIZE and switchover-ack; 11.1
#            also with 2 and 4 devices, multifd device state, and a
#            mismatched destination
#     stock  Debian's kernel (no report support): QEMU's choice with
#            enable-migration=auto is recorded, =on must migrate correctly
#     stock-7.3  the same on Linux 7.3, then QEMU 11.1 with PRECOPY_INFOv2
#            and a REINIT during pre-copy
#   MDV_QEMU_SCENARIOS="one multi multifd mismatch reinit"  the QEMU 11.1
#                           scenarios to run (default: all)
#   MDV_QEMU_IOMMUFD=1      10.0's first case uses iommufd instead of the
#                           container
# plus what ../vm/run-lane.sh reads (ACCEL, VM_TIMEOUT, ...). Each migration
# ends with one line, e.g.
#   qemu-migration qemu-11.1 devices=4: completed, downtime N ms, total N ms,
#   device digests match, guest memory match, p2p used
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
vm="$top/tools/testing/vm"
. "$vm/lib.sh"
lanes=${QEMU_LANES:-full stock stock-7.3}
build="$top/build/qemu"

bash "$vm/deps.sh"
root10=$("$here/mkroot.sh" 10.0)
root11=$("$here/mkroot.sh" 11.1)

mkdir -p "$build"
# the inner guest and the dump comparer: built on the host, run in the guest
gcc -m32 -c -o "$build/inner.o" "$here/inner.S"
ld -m elf_i386 -N -Ttext=0x100000 -e _start --no-warn-rwx-segments \
	-o "$build/inner.elf" "$build/inner.o"
gcc -O2 -Wall -Wextra -Werror -static -o "$build/mdv_memcmp" "$here/mdv_memcmp.c"
# the reference engine, for the arcs QEMU takes one device at a time
cache=$("$vm/fetch-kernel.sh")
uapi_headers "$cache/src/linux-source-6.12" >/dev/null
make -s -C "$top/tools/mdv-migrate" OUTPUT="$build"
# the QMP client runs in the guest: a syntax error should not cost a boot
python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' \
	"$here/qemu_migration.py"

rc=0 lines=()
for lane in $lanes; do
	kdir=$(lane_kdir "$lane")
	payload="$build/$lane/payload"
	rm -rf "$payload"
	mkdir -p "$payload"
	cp "$(build_module "$kdir" "$build/$lane/obj")" "$payload/"
	cp "$build/inner.elf" "$build/mdv_memcmp" "$build/mdv_migrate" "$payload/"
	cp "$here/guest-qemu.sh" "$payload/run.sh"
	cp "$here/qemu_migration.py" "$payload/"

	log "check-qemu $lane: booting the outer guest"
	set +e
	# the full lane's scenarios take 4 sources and 4 destinations, and
	# up to 2 x 256 MiB of device state beside two inner guests
	edu=2 mem=3G timeout=900
	[ "$lane" = full ] && edu=8 mem=4G timeout=1800
	# caching-mode: the outer guest's VFIO maps what the inner QEMU pins
	VM_IOMMU_OPTS=caching-mode=on VM_EDU=$edu VM_BRIDGE_EDU=0 VM_RESET_EDU=0 \
		VM_MEM=${VM_MEM:-$mem} VM_TIMEOUT=${VM_TIMEOUT:-$timeout} LANE_LABEL=qemu-$lane \
		VM_QEMU_OPTS="-virtfs local,path=$root10,mount_tag=trixie,security_model=none,readonly=on -virtfs local,path=$root11,mount_tag=qemu11.1,security_model=none,readonly=on" \
		VM_APPEND="${VM_APPEND:-} MDV_QEMU=$lane${MDV_QEMU_IOMMUFD:+ MDV_QEMU_IOMMUFD=1}${MDV_QEMU_SCENARIOS:+ MDV_QEMU_SCENARIOS=\"$MDV_QEMU_SCENARIOS\"}" \
		"$vm/run-lane.sh" "$lane" "$payload" | tee "$build/$lane/result.log"
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	set -e
	mapfile -t -O ${#lines[@]} lines < <(grep -aE '^(qemu-migration|lane qemu-)' "$build/$lane/result.log")
done
echo
printf '%s\n' "${lines[@]}"
exit $rc
