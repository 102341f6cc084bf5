#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest as /payload/run.sh: loads the driver, binds every
# QEMU edu function (1234:11e8) to it through driver_override, and runs the
# kselftests with the kernel's run_kselftest.sh from tests/ (a kselftest
# install: make -C tools/testing/selftests install), then the conformance
# suite against two of our devices. TAP goes to stdout; the host counts it
# (tap.sh).
#
#   MDV_TESTS="mdv_dirty_test ..."   only these tests of vfio/mockdev, and no
#                                    conformance run
#   MDV_RUN=conformance|peer|bench|demo   see check.sh
set -u
cd "$(dirname "$0")" || exit 1
# shellcheck source=guest-lib.sh
. /lib/mockdev/guest-lib.sh
echo "# guest kernel $(uname -r), lane ${LANE:-?}"

# Module parameters get the devlink validators' limits: a value devlink
# would refuse fails the load instead of reaching a device.
param_rc=0
for bad in log_page_sizes=0 log_page_sizes=2048 log_max_ranges=0 \
	log_max_span_gb=0 state_size_mb=0 state_size_mb=65537; do
	if insmod ./mockdev-vfio-pci.ko "$bad" 2>/dev/null; then
		echo "not ok 1 insmod mockdev-vfio-pci.ko $bad loaded"
		rmmod mockdev_vfio_pci
		param_rc=1
	fi
done
echo "# insmod refused the invalid module parameters: $([ $param_rc = 0 ] && echo yes || echo NO)"

if ! insmod ./mockdev-vfio-pci.ko; then
	echo "not ok 1 insmod mockdev-vfio-pci.ko"
	exit 1
fi
mapfile -t edus < <(guest_edu_functions)
bind_rc=0
guest_edu_bind mockdev-vfio-pci "${edus[@]}" 2>/tmp/bind.err || bind_rc=1
echo "# bound: $(guest_bound mockdev-vfio-pci | tr '\n' ' ')"
# Tests pick functions by topology (root bus, behind a bridge, with a reset;
# mdvt.h), so a function left unbound silently shrinks what they cover.
if [ $bind_rc != 0 ]; then
	echo "not ok 1 bind every edu function to mockdev-vfio-pci: $(tr '\n' ' ' </tmp/bind.err)"
fi
# the topology, for whoever reads the log
for bdf in "${edus[@]}"; do
	d=/sys/bus/pci/devices/$bdf
	echo "# edu $bdf: group $(basename "$(readlink "$d/iommu_group")"), parent $(basename "$(dirname "$(readlink -f "$d")")"), reset_method '$(cat "$d/reset_method" 2>/dev/null)'"
done

# The upstream mtty sample as a peer for the conformance suite (full lane)
mtty_up() {
	local t u i
	[ -n "${MTTY_KO:-}" ] && [ -e "$MTTY_KO" ] && insmod "$MTTY_KO" || return 1
	t=$(ls -d /sys/class/mdev_bus/mtty/mdev_supported_types/*-2 2>/dev/null | head -1)
	[ -n "$t" ] || return 1
	mtty_uuids=()
	for i in 1 2; do
		u=$(cat /proc/sys/kernel/random/uuid)
		echo "$u" > "$t/create" && mtty_uuids+=("$u")
	done
	[ ${#mtty_uuids[@]} = 2 ]
}
mtty_down() {
	local u
	# after an oops in the sample these can block forever: not waited for
	for u in "${mtty_uuids[@]}"; do
		(echo 1 > "/sys/bus/mdev/devices/$u/remove") &
	done
	sleep 2
	(rmmod mtty) &
	sleep 2
}
conformance() {
	local d pair
	pair=$(guest_bound mockdev-vfio-pci | head -2)
	# a pair of the same kind: same knobs
	for d in $pair; do
		guest_param_set "$d" state_size_mb=4 dirty_rate=0 dma_rate=0 p2p=true precopy=true
	done
	# mockdev-vfio-pci must pass everything: its TAP counts
	./conformance.sh --runner tests/run_kselftest.sh \
		vfio/migration:vfio_mig_conformance_test $pair || rc=1
}
# The peer runs in a guest boot of its own (MDV_RUN=peer): the upstream
# sample can oops, and that must neither fail nor disturb our lane.
peer() {
	if mtty_up; then
		CONF_TIMEOUT=150 ./conformance.sh --peer tests/vfio/migration/vfio_mig_conformance_test \
			"${mtty_uuids[@]}"
		mtty_down
	else
		echo "# conformance mtty: not run (no mtty sample module on this kernel)"
	fi
}

if [ "${MDV_RUN:-}" = conformance ] || [ "${MDV_RUN:-}" = peer ]; then
	echo "TAP version 13"
	rc=0
	if [ "$MDV_RUN" = conformance ]; then
		conformance
	else
		peer
		# the peer's TAP is not counted: one line says the run happened
		echo "1..1"
		echo "ok 1 peer run finished"
	fi
	rmmod mockdev_vfio_pci
	exit $rc
fi

if [ "${MDV_RUN:-}" = bench ] || [ "${MDV_RUN:-}" = demo ]; then
	if [ "$MDV_RUN" = bench ]; then
		# the tmpfs the bench compares save and resume with
		mkdir -p /tmp/bench
		mount -t tmpfs -o size=90% tmpfs /tmp/bench
		# shellcheck disable=SC2086 # sizes, word-split
		MDV_BENCH_TMPFS=/tmp/bench ./tests/vfio/mockdev/mdv_bench ${MDV_BENCH_MB:-}
	else
		echo "TAP version 13"
		echo "1..1"
		./tests/vfio/mockdev/demo.sh
	fi
	rc=$?
	rmmod mockdev_vfio_pci
	exit $rc
fi

rc=$((bind_rc | param_rc))
# The suites, through the kernel's runner: each binary's TAP nested under
# its "ok N selftests: vfio/mockdev: BINARY" line, with the collection's
# settings timeout. Its exit status says nothing: the TAP does.
sel=(-c vfio/mockdev)
if [ -n "${MDV_TESTS:-}" ]; then
	sel=()
	for t in $MDV_TESTS; do
		sel+=(-t "vfio/mockdev:$t")
	done
fi
./tests/run_kselftest.sh "${sel[@]}" || rc=1

# The conformance suite needs two devices set alike (conformance.sh, which
# runs it through run_kselftest.sh as well and prints its own figure)
if [ -z "${MDV_TESTS:-}" ]; then
	conformance
fi

# The driver must unload cleanly with devices bound and idle.
if rmmod mockdev_vfio_pci; then
	echo "# rmmod mockdev_vfio_pci: ok"
else
	echo "not ok 1 rmmod mockdev_vfio_pci"
	rc=1
fi
exit $rc
