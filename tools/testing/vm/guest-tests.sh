#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest as /payload/run.sh: loads the driver, binds every
# QEMU edu function (1234:11e8) to it through driver_override, and runs each
# kselftest binary. TAP goes to stdout; the host counts it.
set -u
cd "$(dirname "$0")"
echo "# guest kernel $(uname -r), lane ${LANE:-?}"

if ! insmod ./mockdev-vfio-pci.ko; then
	echo "not ok 1 insmod mockdev-vfio-pci.ko"
	exit 1
fi
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] || continue
	bdf=${d##*/}
	[ -e "$d/driver" ] && echo "$bdf" > "$d/driver/unbind"
	echo mockdev-vfio-pci > "$d/driver_override"
	echo "$bdf" > /sys/bus/pci/drivers_probe
done
echo "# bound: $(ls /sys/bus/pci/drivers/mockdev-vfio-pci | grep : | tr '\n' ' ')"

if [ "${MDV_RUN:-}" = bench ] || [ "${MDV_RUN:-}" = demo ]; then
	if [ "$MDV_RUN" = bench ]; then
		./tests/mdv_bench "${MDV_BENCH_MB:-1024}"
	else
		echo "TAP version 13"
		echo "1..1"
		./tests/demo.sh
	fi
	rc=$?
	rmmod mockdev_vfio_pci
	exit $rc
fi

timeout=$(sed -n 's/^timeout=//p' tests/settings 2>/dev/null)
rc=0
for t in tests/*_test; do
	[ -n "${MDV_TESTS:-}" ] && ! [[ " $MDV_TESTS " == *" ${t##*/} "* ]] && continue
	echo "# selftests: vfio/mockdev: ${t##*/}"
	timeout "${timeout:-1800}" "./$t" || rc=1
done

# The driver must unload cleanly with devices bound and idle.
if rmmod mockdev_vfio_pci; then
	echo "# rmmod mockdev_vfio_pci: ok"
else
	echo "not ok 1 rmmod mockdev_vfio_pci"
	rc=1
fi
exit $rc
