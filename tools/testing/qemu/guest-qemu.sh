#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs in the outer guest as /payload/run.sh (see ../vm/guest-init.sh): QEMU
# live-migrates a small inner VM with mockdev devices assigned, from a
# source to a destination QEMU over loopback TCP, and checks the result.
# Two QEMUs: 10.0 (Debian trixie, the root shared over 9p as "trixie") and
# 11.1 (trixie-backports, tag "qemu11.1"). TAP on stdout. This script is the
# plumbing (driver, functions, knobs, mounts); qemu_migration.py, run with
# the root's python3, starts and drives the QEMUs over QMP and judges each
# migration. The first half of the bound functions are sources, the second
# half destinations (source i migrates to destination i).
#
# Kernel command line (VM_APPEND) selects the case:
#   MDV_QEMU=full    (default) the kernel delivers DMA logging reports.
#                    QEMU 10.0: enable-migration=auto must migrate with
#                    device dirty tracking, pre-copy, MIG_DATA_SIZE and
#                    switchover-ack; device digest and guest memory match.
#                    Then, with the driver reloaded with dma_logging=0 and
#                    the inner QEMUs on iommufd (the outer guest's IOMMU
#                    has no dirty tracking): auto must be refused with
#                    QEMU's dirty-tracking blocker; enable-migration=on
#                    still migrates the device (guest memory is printed,
#                    not judged: see no_tracking() in qemu_migration.py).
#                    QEMU 11.1 (MDV_QEMU_SCENARIOS, default all of them):
#                      one    one device, as 10.0's first case
#                      multi  1, 2 and 4 devices in one VM (P2P arcs), each
#                             source with a quiesce latency
#                      multifd  256 MiB of state and an allocation latency:
#                             main channel vs multifd device state
#                      stopcopy  the same with devices without PRE_COPY
#                      mismatch  a destination with another state size:
#                             fails cleanly, the source runs on and then
#                             migrates to a matching destination
#   MDV_QEMU=stock   Debian's 6.12 kernel, no DMA logging reports, VFIO
#                    container: 10.0's auto must be refused with the
#                    blocker; on must migrate with device digest and guest
#                    memory matching.
#   MDV_QEMU=stock-7.3  the same on Debian's 7.3; then QEMU 11.1 (scenario
#                    reinit): it opts in to PRECOPY_INFOv2, the device is
#                    reconfigured after its initial data was sent, QEMU must
#                    see REINIT, ack the new initial data again and migrate.
#   MDV_QEMU_IOMMUFD=1  10.0's first case uses iommufd too.
set -u
cd "$(dirname "$0")" || exit 1
# shellcheck source=../vm/guest-lib.sh
. /lib/mockdev/guest-lib.sh
mode=${MDV_QEMU:-full}
scenarios=" ${MDV_QEMU_SCENARIOS:-one multi multifd stopcopy mismatch reinit} "
n=0
nok() { n=$((n + 1)); echo "not ok $n $*"; rc=1; }
rc=0
echo "TAP version 13"
echo "# outer guest $(uname -r), mode $mode"

# ---------------------------------------------------------------- setup
# load_driver [insmod parameters]: bind every edu function, split them into
# sources and destinations
load_driver() {
	local devs half
	insmod ./mockdev-vfio-pci.ko state_size_mb=64 dirty_rate=0 dma_rate=0 "$@" ||
		{ nok "insmod mockdev-vfio-pci.ko $*"; return 1; }
	mapfile -t devs < <(guest_edu_functions)
	guest_edu_bind mockdev-vfio-pci "${devs[@]}"
	mapfile -t devs < <(guest_bound mockdev-vfio-pci)
	[ ${#devs[@]} -ge 2 ] || { nok "need two edu functions"; return 1; }
	half=$((${#devs[@]} / 2))
	srcs=("${devs[@]:0:half}") dsts=("${devs[@]:half:half}")
}

# knobs SIDE N NAME=VALUE...: set the knobs of the first N sources (SIDE
# src) or destinations (dst); every knob a scenario depends on is set, so
# none is left over from the one before. Knobs can only change while no
# VMM holds the device.
knobs() {
	local side=$1 count=$2 bdf i
	shift 2
	for ((i = 0; i < count; i++)); do
		if [ "$side" = src ]; then bdf=${srcs[i]}; else bdf=${dsts[i]}; fi
		guest_param_set "$bdf" state_size_mb=64 dirty_rate=0 dma_rate=0 save_rate_mb=0 \
			alloc_latency_ms=0 quiesce_latency_ms=0 resume_latency_ms=0 precopy=true \
			"$@" || { nok "knobs $side $bdf $*"; return 1; }
	done
}

# The source changes its state and writes guest memory while it runs,
# slowly enough for QEMU to sync RAM at every pre-copy iteration once the
# first pass is done; the destination stays still once running (its digest
# is compared after) and takes 1480 ms (the allocation latency of the
# demo's seed 000) to take the initial data in. 64 MiB of state keep
# pre-copy going well after QEMU's first pass over RAM (see
# qemu_migration.py). An asynchronous source: its stream is produced at
# 32 MiB/s, so QEMU's blocking reads of the saving FD wait for data (2 s
# for the 64 MiB image) instead of always finding it ready.
knobs_one() {
	knobs src 1 dirty_rate=50 dma_rate=300 save_rate_mb=32 &&
		knobs dst 1 alloc_latency_ms=1480
}

# mount_root TAG DIR: a QEMU root shared over 9p, with the guest's /proc,
# /sys, /dev, /tmp and the payload (at /mnt) inside
mount_root() {
	mkdir -p "$2"
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro "$1" "$2" ||
		{ nok "mount the QEMU root (9p tag $1)"; return 1; }
	for m in proc sys dev; do mount -o rbind "/$m" "$2/$m"; done
	mount -o bind /tmp "$2/tmp"
	mount -t tmpfs tmpfs "$2/run"
	mount -o bind /payload "$2/mnt"
	echo "# $1: $(chroot "$2" qemu-system-x86_64 --version | head -1)"
}
umount_root() {
	for m in mnt run tmp; do umount "$1/$m"; done
	for m in dev sys proc; do umount -l "$1/$m"; done
	umount "$1"
}

# run_case ROOT COUNT ARGS...: qemu_migration.py in that root with the
# first COUNT sources and destinations, its TAP numbered on from ours
run_case() {
	local out=/tmp/qemu_migration.out root=$1 count=$2 src dst
	shift 2
	src=$(IFS=,; echo "${srcs[*]:0:count}")
	dst=$(IFS=,; echo "${dsts[*]:0:count}")
	chroot "$root" python3 /mnt/qemu_migration.py --tap-start $n --src "$src" --dst "$dst" \
		${MDV_QEMU_DEBUG:+--debug} "$@" 2>&1 | tee $out
	[ "${PIPESTATUS[0]}" = 0 ] || rc=1
	n=$((n + $(grep -cE '^(not )?ok [0-9]+' $out)))
}
want() { [[ "$scenarios" == *" $1 "* ]]; }

# engine COUNT OPTIONS...: mdv_migrate over loopback from the first COUNT
# sources to as many destinations; a TAP line, and the downtime in
# engine_downtime
engine() {
	local count=$1 src dst out=/tmp/engine.out port=4455
	shift
	src=$(IFS=,; echo "${srcs[*]:0:count}")
	dst=$(IFS=,; echo "${dsts[*]:0:count}")
	engine_downtime=
	./mdv_migrate dst --listen $port --devs "$dst" "$@" >/tmp/engine-dst.out 2>&1 &
	local dpid=$!
	sleep 0.5
	./mdv_migrate src --connect 127.0.0.1:$port --devs "$src" "$@" >$out 2>&1
	local st=$?
	wait $dpid
	local dst_st=$?
	sed 's/^/# engine: /' $out | grep -a 'result' || true
	engine_downtime=$(sed -n 's/^result: .*downtime_ms=\([0-9]*\).*/\1/p' $out)
	n=$((n + 1))
	if [ $st = 0 ] && [ $dst_st = 0 ] && grep -aq 'digests=ok' $out; then
		echo "ok $n engine devices=$count $*: migrated, digests=ok"
	else
		echo "not ok $n engine devices=$count $*: exit $st/$dst_st"
		tail -5 $out /tmp/engine-dst.out | sed 's/^/# /'
		rc=1
	fi
}

load_driver || exit 1
q10=/trixie q11=/qemu11.1
mount_root trixie $q10 || exit 1
mount_root qemu11.1 $q11 || exit 1

if [ "$mode" = full ]; then
	knobs_one && run_case $q10 1 ${MDV_QEMU_IOMMUFD:+--iommufd} tracking

	# QEMU 11.1
	if want one && knobs_one; then
		run_case $q11 1 tracking
	fi
	if want multi && [ ${#srcs[@]} -ge 4 ]; then
		# 16 MiB each; a 250 ms quiesce latency on every source (the
		# demo's seed 002): QEMU's arcs are serial, the engine's not.
		# The destinations' 2 s allocation holds the switchover back
		# while the devices write (QEMU would find the zero pages of
		# the inner guest's RAM quick enough to switch over at once).
		multi_knobs() {
			knobs src "$1" dirty_rate=50 dma_rate=300 save_rate_mb=32 \
				quiesce_latency_ms=250 state_size_mb=16 &&
				knobs dst "$1" state_size_mb=16 alloc_latency_ms=2000
		}
		qd=() ed=()
		for d in 1 2 4; do
			multi_knobs $d && run_case $q11 $d tracking
			qd+=("$(sed -n "s/^qemu-migration .* devices=$d .*quiesce=.*completed, downtime \([0-9]*\) ms.*/\1/p" \
				/tmp/qemu_migration.out)")
		done
		# the reference engine on the same devices and knobs, its
		# arcs in parallel (one thread per device)
		for d in 1 4; do
			multi_knobs $d && engine $d --initial-data --parallel
			ed+=("${engine_downtime:-?}")
		done
		echo "qemu-migration qemu-11.1 multi quiesce=250ms: QEMU downtime N=1 ${qd[0]:-?} ms," \
			"N=2 ${qd[1]:-?} ms, N=4 ${qd[2]:-?} ms (serial arcs: 3 x 250 ms more for N=4);" \
			"engine --parallel N=1 ${ed[0]} ms, N=4 ${ed[1]} ms"
	elif want multi; then
		nok "scenario multi needs 8 edu functions, the guest has $((${#srcs[@]} * 2))"
	fi
	# the seed's device: 256 MiB, 1480 ms to allocate on the destination;
	# with pre-copy (multifd) the image is initial data (main channel),
	# without it (stopcopy) the whole image is stop-copy data
	for pc in true false; do
		if { [ $pc = true ] && want multifd; } || { [ $pc = false ] && want stopcopy; }; then
			for mf in '' --multifd; do
				knobs src 1 state_size_mb=256 dirty_rate=50 dma_rate=300 \
					precopy=$pc &&
					knobs dst 1 state_size_mb=256 alloc_latency_ms=1480 \
						precopy=$pc &&
					run_case $q11 1 tracking $mf
			done
		fi
	done
	if want mismatch; then
		# source 64 MiB, the first destination 32 MiB, the second one
		# matches the source
		knobs src 1 dirty_rate=50 && knobs dst 2 && knobs dst 1 state_size_mb=32 &&
			run_case $q11 1 mismatch "${dsts[1]}"
	fi

	# back to 10.0: the same kernel, but a device without DMA logging
	# behind iommufd, whose IOMMU (the outer guest's) cannot track dirty
	# pages either
	rmmod mockdev_vfio_pci || nok "rmmod mockdev_vfio_pci"
	if load_driver dma_logging=0 && knobs_one; then
		run_case $q10 1 --iommufd no-tracking no-tracking informative
	fi
else
	knobs_one && run_case $q10 1 no-tracking stock match
	if [ "$mode" = stock-7.3 ] && want reinit; then
		# no DMA logging here: enable-migration=on; the destination
		# takes 5 s to allocate, the window in which the source is
		# reconfigured (after its initial data was sent, before the ack)
		knobs src 1 dirty_rate=50 save_rate_mb=32 && knobs dst 1 alloc_latency_ms=5000 &&
			run_case $q11 1 reinit
	fi
fi

umount_root $q11
umount_root $q10
rmmod mockdev_vfio_pci || nok "rmmod mockdev_vfio_pci"
echo "1..$n"
exit $rc
