#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check-qemu: the real client. QEMU 10 (Debian trixie, in a root
# filesystem made by mkroot.sh) runs inside an outer test guest and
# live-migrates a small VM that has a mockdev-vfio-pci device assigned:
# guest-qemu.sh (the outer guest's run.sh) prepares the driver and the
# root, qemu_migration.py (in the root's python3) drives QEMU over QMP.
#
#   QEMU_LANES="full stock"  which outer kernels to boot:
#     full   the full-lane kernel (IOMMUFD: DMA logging reports work);
#            QEMU must migrate with device dirty tracking, pre-copy,
#            MIG_DATA_SIZE and switchover-ack; digests and memory match
#     stock  Debian's kernel (no report support): QEMU's choice with
#            enable-migration=auto is recorded, =on must migrate correctly
#   MDV_QEMU_IOMMUFD=1      inner QEMUs use iommufd instead of the container
# plus what ../vm/run-lane.sh reads (ACCEL, VM_TIMEOUT, ...).
# The full lane ends with the line
#   qemu-migration: completed, downtime N ms, total N ms, device digest match, guest memory match
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
vm="$top/tools/testing/vm"
. "$vm/lib.sh"
lanes=${QEMU_LANES:-full stock}
build="$top/build/qemu"

bash "$vm/deps.sh"
root=$("$here/mkroot.sh")

mkdir -p "$build"
# the inner guest and the dump comparer: built on the host, run in the guest
gcc -m32 -c -o "$build/inner.o" "$here/inner.S"
ld -m elf_i386 -N -Ttext=0x100000 -e _start --no-warn-rwx-segments \
	-o "$build/inner.elf" "$build/inner.o"
gcc -O2 -Wall -Wextra -Werror -static -o "$build/mdv_memcmp" "$here/mdv_memcmp.c"
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
	cp "$build/inner.elf" "$build/mdv_memcmp" "$payload/"
	cp "$here/guest-qemu.sh" "$payload/run.sh"
	cp "$here/qemu_migration.py" "$payload/"

	log "check-qemu $lane: booting the outer guest"
	set +e
	# caching-mode: the outer guest's VFIO maps what the inner QEMU pins
	VM_IOMMU_OPTS=caching-mode=on VM_EDU=2 VM_BRIDGE_EDU=0 VM_RESET_EDU=0 VM_MEM=${VM_MEM:-3G} \
		VM_TIMEOUT=${VM_TIMEOUT:-900} LANE_LABEL=qemu-$lane \
		VM_QEMU_OPTS="-virtfs local,path=$root,mount_tag=trixie,security_model=none,readonly=on" \
		VM_APPEND="${VM_APPEND:-} MDV_QEMU=$lane${MDV_QEMU_IOMMUFD:+ MDV_QEMU_IOMMUFD=1}" \
		"$vm/run-lane.sh" "$lane" "$payload" | tee "$build/$lane/result.log"
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	set -e
	mapfile -t -O ${#lines[@]} lines < <(grep -aE '^(qemu-migration|lane qemu-)' "$build/$lane/result.log")
done
echo
printf '%s\n' "${lines[@]}"
exit $rc
