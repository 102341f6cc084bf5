#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs in the outer guest as /payload/run.sh (see ../vm/guest-init.sh): QEMU
# 10, from the trixie root shared over 9p as "trixie", live-migrates a small
# inner VM with one mockdev device assigned, from a source to a destination
# QEMU over loopback TCP, and checks the result. TAP on stdout. This script
# is the plumbing (driver, functions, knobs, mounts); qemu_migration.py,
# run with the root's python3, starts and drives the QEMUs over QMP and
# judges each migration.
#
# Kernel command line (VM_APPEND) selects the case:
#   MDV_QEMU=full    (default) the kernel delivers DMA logging reports:
#                    enable-migration=auto must migrate with device dirty
#                    tracking, pre-copy, MIG_DATA_SIZE and switchover-ack;
#                    device digest and guest memory match. Then the driver is
#                    reloaded with dma_logging=0 and the inner QEMUs use
#                    iommufd (the outer guest's IOMMU has no dirty tracking):
#                    auto must be refused with QEMU's dirty-tracking blocker;
#                    enable-migration=on still migrates the device (guest
#                    memory is printed, not judged: see no_tracking() in
#                    qemu_migration.py).
#   MDV_QEMU=stock   Debian's kernel, no DMA logging reports, VFIO container:
#                    auto must be refused with the blocker; on must migrate
#                    with device digest and guest memory matching.
#   MDV_QEMU_IOMMUFD=1  the first case's QEMUs use iommufd too.
set -u
cd "$(dirname "$0")" || exit 1
# shellcheck source=../vm/guest-lib.sh
. /lib/mockdev/guest-lib.sh
mode=${MDV_QEMU:-full}
q=/trixie
n=0
nok() { n=$((n + 1)); echo "not ok $n $*"; rc=1; }
rc=0
echo "TAP version 13"
echo "# outer guest $(uname -r), mode $mode"

# ---------------------------------------------------------------- setup
# load_driver [insmod parameters]: bind both edu functions, set the knobs
load_driver() {
	local devs
	insmod ./mockdev-vfio-pci.ko state_size_mb=64 dirty_rate=0 dma_rate=0 "$@" ||
		{ nok "insmod mockdev-vfio-pci.ko $*"; return 1; }
	mapfile -t devs < <(guest_edu_functions)
	guest_edu_bind mockdev-vfio-pci "${devs[@]}"
	mapfile -t devs < <(guest_bound mockdev-vfio-pci)
	[ ${#devs[@]} -ge 2 ] || { nok "need two edu functions"; return 1; }
	src_dev=${devs[0]} dst_dev=${devs[1]}
	# The source changes its state and writes guest memory while it
	# runs, slowly enough for QEMU to sync RAM at every pre-copy
	# iteration once the first pass is done; the destination stays still
	# once running (its digest is compared after) and takes 1480 ms (the
	# allocation latency of the demo's seed 000) to take the initial data
	# in. 64 MiB of
	# state keep pre-copy going well after QEMU's first pass over RAM
	# (see qemu_migration.py). Knobs can only change while no VMM holds
	# the device.
	# An asynchronous source: its stream is produced at 32 MiB/s, so
	# QEMU's blocking reads of the saving FD wait for data (2 s for the
	# 64 MiB image) instead of always finding it ready.
	guest_param_set "$src_dev" dirty_rate=50 dma_rate=300 save_rate_mb=32
	guest_param_set "$dst_dev" alloc_latency_ms=1480
}
load_driver || exit 1

mkdir -p $q
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro trixie $q ||
	{ echo "not ok 1 mount the trixie root (9p tag trixie)"; exit 1; }
for m in proc sys dev; do mount -o rbind "/$m" "$q/$m"; done
mount -o bind /tmp "$q/tmp"
mount -t tmpfs tmpfs "$q/run"
mount -o bind /payload "$q/mnt"
qroot() { chroot $q "$@"; }
qemu_ver=$(qroot qemu-system-x86_64 --version | head -1)
echo "# $qemu_ver"

# run_case ARGS...: qemu_migration.py in the trixie root, its TAP numbered
# on from ours
run_case() {
	local out=/tmp/qemu_migration.out
	chroot $q python3 /mnt/qemu_migration.py --tap-start $n --src "$src_dev" --dst "$dst_dev" \
		${MDV_QEMU_DEBUG:+--debug} "$@" 2>&1 | tee $out
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	n=$((n + $(grep -cE '^(not )?ok [0-9]+' $out)))
}

if [ "$mode" = full ]; then
	run_case ${MDV_QEMU_IOMMUFD:+--iommufd} tracking
	# the same kernel, but a device without DMA logging behind iommufd,
	# whose IOMMU (the outer guest's) cannot track dirty pages either
	rmmod mockdev_vfio_pci || nok "rmmod mockdev_vfio_pci"
	if load_driver dma_logging=0; then
		run_case --iommufd no-tracking no-tracking informative
	fi
else
	run_case no-tracking stock match
fi

for m in mnt run tmp; do umount "$q/$m"; done
for m in dev sys proc; do umount -l "$q/$m"; done
umount $q
rmmod mockdev_vfio_pci || nok "rmmod mockdev_vfio_pci"
echo "1..$n"
exit $rc
