#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A short run of the reference engine (make check): live migration of
# dirtying devices over loopback, stop-and-copy, the abort path, guest RAM
# kept in sync through DMA logging while the devices write to it, and a
# reconfiguration during pre-copy, with PRECOPY_INFOv2 and as a v1 VMM.
set -u
cd "$(dirname "$0")" || exit 1
# shellcheck source=../testing/vm/guest-lib.sh
. /lib/mockdev/guest-lib.sh
mapfile -t devs < <(guest_bound mockdev-vfio-pci)
dbg=/sys/kernel/debug/mockdev-vfio-pci
echo "TAP version 13"
echo "1..6"
if [ ${#devs[@]} -lt 4 ]; then
	for i in 1 2 3 4 5 6; do echo "ok $i engine # SKIP need 4 functions bound"; done
	exit 0
fi
for d in "${devs[@]:0:4}"; do
	guest_param_set "$d" state_size_mb=16 quiesce_latency_ms=0 alloc_latency_ms=0 \
		dirty_rate=0 dma_rate=0
done
guest_param_set "${devs[0]}" dirty_rate=3000
guest_param_set "${devs[1]}" dirty_rate=3000

port=7800
mig() {
	local s=$1 d=$2
	shift 2
	port=$((port + 1))
	./mdv_migrate dst --listen $port --devs "$d" "$@" &
	local dpid=$!
	./mdv_migrate src --connect 127.0.0.1:$port --devs "$s" "$@"
	local rc=$?
	wait $dpid
	local drc=$?
	[ $rc = 0 ] && [ $drc = 0 ]
}

if out=$(mig "${devs[0]},${devs[1]}" "${devs[2]},${devs[3]}" --initial-data --parallel) &&
   grep -q 'digests=ok' <<<"$out"; then
	echo "# $out"
	echo "ok 1 engine: live migration, 2 dirtying devices, initial data, parallel"
else
	echo "# $out"
	echo "not ok 1 engine: live migration, 2 dirtying devices, initial data, parallel"
fi

# the engine compares whole-state digests after the downtime: a destination
# that keeps dirtying once it runs would differ, so the sources go idle now
guest_param_set "${devs[0]}" dirty_rate=0
guest_param_set "${devs[1]}" dirty_rate=0
if out=$(mig "${devs[2]}" "${devs[0]}") && grep -q 'digests=ok' <<<"$out"; then
	echo "# $out"
	echo "ok 2 engine: stop-and-copy, serial"
else
	echo "# $out"
	echo "not ok 2 engine: stop-and-copy, serial"
fi

# the destination fails a write: it resets, the source returns to RUNNING
echo 3 > "$dbg/${devs[1]}/fail_write"
if mig "${devs[0]}" "${devs[1]}" --initial-data 2>/dev/null; then
	echo "not ok 3 engine: abort path (migration succeeded despite a failing destination)"
else
	st_src=$(cat "$dbg/${devs[0]}/state") st_dst=$(cat "$dbg/${devs[1]}/state")
	if [ "$st_src" = RUNNING ] && [ "$st_dst" = RUNNING ]; then
		echo "ok 3 engine: abort path (source and destination back in RUNNING)"
	else
		echo "not ok 3 engine: abort path (source $st_src, destination $st_dst)"
	fi
fi
echo 0 > "$dbg/${devs[1]}/fail_write"

# Guest RAM: the sources write to it by DMA (edu DMAs zeros over the
# engine's pattern) while the engine keeps the destination's copy in sync
# through DMA logging reports; the destination's RAM must hash like the
# source's after the last sync, and pages must really have changed.
# Without DMA logging the engine syncs nothing and says why: a skip, if the
# kernel really has none (the driver said so at probe, or there is no
# iommufd at all), else a failure.
no_logging_kernel() {
	dmesg | grep -q 'no DMA logging: kernel built without CONFIG_IOMMUFD_DRIVER' ||
		{ [ ! -e /dev/iommu ] && [ ! -e /sys/module/iommufd ]; }
}
num() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }
name="engine: guest RAM dirty sync through DMA logging"
guest_param_set "${devs[0]}" dma_rate=200
guest_param_set "${devs[1]}" dma_rate=200
out=$(mig "${devs[0]},${devs[1]}" "${devs[2]},${devs[3]}" --initial-data --parallel \
	--ram 16 --min-precopy-ms 4000)
rc=$?
guest_param_set "${devs[0]}" dma_rate=0
guest_param_set "${devs[1]}" dma_rate=0
sed 's/^/# /' <<<"$out"
result=$(grep '^result:' <<<"$out")
if [ $rc = 0 ] && grep -q ' ram=ok ' <<<"$result"; then
	changed=$(num changed_pages "$result") dirty=$(num dirty_pages "$result")
	if [ "${changed:-0}" -gt 0 ] && [ "${dirty:-0}" -gt 0 ]; then
		echo "ok 4 $name"
	else
		echo "not ok 4 $name (the devices changed no page: changed_pages=$changed dirty_pages=$dirty)"
	fi
elif [ $rc = 0 ] && grep -q ' ram=skipped (no DMA logging on this kernel' <<<"$result" &&
	no_logging_kernel; then
	echo "ok 4 $name # SKIP no DMA logging report on this kernel"
else
	echo "not ok 4 $name"
fi

# A source reconfigured during pre-copy restarts its initial data. With
# PRECOPY_INFOv2 (Linux 7.x) the engine sees REINIT and holds the
# switchover until the destination has loaded and acked the new initial
# data; on 6.12 (no opt-in) the new initial data comes as dirty bytes.
# Either way the migration must complete with equal digests, and the
# initial data must have crossed more than once (the reconfiguration came
# in pre-copy, not before or after it). The source produces its stream at
# 8 MiB/s, so pre-copy lasts about 2 s; the reconfiguration comes once the
# engine has read 1 MiB of it (the device's saved_bytes), so the restart
# resends at least that.
saved() { sed -n 's/^saved_bytes //p' "$dbg/$1/stats"; }
reconf_after_1mib() {
	while [ "$(saved "$1")" -lt $(($2 + 1048576)) ]; do
		[ -e /tmp/mdv_mig_done ] && return
		sleep 0.05
	done
	echo 1 >"$dbg/$1/mock/reconfigure"
}
# reconfigured_mig OPTIONS...: migrate devs[0] to devs[1] with the
# source at 8 MiB/s and reconfigured once 1 MiB was read; sets rc,
# result, v2, reinits and pb (precopy_bytes)
reconfigured_mig() {
	local out
	guest_param_set "${devs[0]}" save_rate_mb=8
	rm -f /tmp/mdv_mig_done
	reconf_after_1mib "${devs[0]}" "$(saved "${devs[0]}")" &
	out=$(mig "${devs[0]}" "${devs[1]}" "$@")
	rc=$?
	touch /tmp/mdv_mig_done
	wait
	guest_param_set "${devs[0]}" save_rate_mb=0
	sed 's/^/# /' <<<"$out"
	result=$(grep '^result:' <<<"$out")
	v2=$(num precopy_v2 "$result") reinits=$(num reinits "$result")
	pb=$(num precopy_bytes "$result")
}
# what one 16 MiB session's stream would be, plus the 1 MiB resent
twice=$((17 << 20))
name="engine: a reconfiguration during pre-copy (REINIT), initial data"
reconfigured_mig --initial-data
if [ $rc != 0 ] || ! grep -q 'digests=ok' <<<"$result"; then
	echo "not ok 5 $name (migration failed or digests differ)"
elif [ "${pb:-0}" -lt $twice ]; then
	echo "not ok 5 $name (precopy_bytes=$pb < $twice: the reconfiguration missed pre-copy)"
elif [ "$(uname -r | cut -d. -f1)" -ge 7 ] && { [ "$v2" != 1 ] || [ "${reinits:-0}" -lt 1 ]; }; then
	echo "not ok 5 $name (7.x: precopy_v2=$v2 reinits=$reinits, want 1 and >= 1)"
elif [ "$(uname -r | cut -d. -f1)" -lt 7 ] && [ "${reinits:-0}" != 0 ]; then
	echo "not ok 5 $name (no PRECOPY_INFOv2 here, yet reinits=$reinits)"
else
	echo "ok 5 $name (precopy_v2=$v2 reinits=$reinits)"
fi

# The same as a v1 VMM (--no-precopy-v2): no opt-in, so no REINIT on any
# kernel (precopy_v2=0 reinits=0); the new initial data comes as dirty
# bytes, and the migration must still complete with equal digests.
name="engine: a reconfiguration during pre-copy, --no-precopy-v2 (a v1 VMM)"
reconfigured_mig --initial-data --no-precopy-v2
if [ $rc != 0 ] || ! grep -q 'digests=ok' <<<"$result"; then
	echo "not ok 6 $name (migration failed or digests differ)"
elif [ "${pb:-0}" -lt $twice ]; then
	echo "not ok 6 $name (precopy_bytes=$pb < $twice: the reconfiguration missed pre-copy)"
elif [ "$v2" != 0 ] || [ "$reinits" != 0 ]; then
	echo "not ok 6 $name (precopy_v2=$v2 reinits=$reinits, want 0 and 0)"
else
	echo "ok 6 $name (precopy_v2=$v2 reinits=$reinits)"
fi
