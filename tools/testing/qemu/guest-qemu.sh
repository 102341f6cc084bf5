#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs in the outer guest as /payload/run.sh (see ../vm/guest-init.sh): QEMU
# 10, from the trixie root shared over 9p as "trixie", live-migrates a small
# inner VM with one mockdev device assigned, from a source to a destination
# QEMU over loopback TCP, and checks the result. TAP on stdout.
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
#                    memory is printed, not judged: see no_dma_logging).
#   MDV_QEMU=stock   Debian's kernel, no DMA logging reports, VFIO container:
#                    auto must be refused with the blocker; on must migrate
#                    with device digest and guest memory matching.
#   MDV_QEMU_IOMMUFD=1  the first case's QEMUs use iommufd too.
set -u
cd "$(dirname "$0")"
mode=${MDV_QEMU:-full}
dbg=/sys/kernel/debug/mockdev-vfio-pci
q=/trixie
inner_mb=256
pattern_start=0x400000	# inner.S: PATTERN_START, PATTERN_END
pattern_end=0x2400000
# pages the device writes during pre-copy (inside the pattern)
dma_iovas=(0x500000 0x823000 0xa00800 0xfff000 0x1200000 0x1801000 0x2000000 0x23ff000)
n=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
nok() { n=$((n + 1)); echo "not ok $n $*"; rc=1; }
check() { if eval "$1"; then ok "$2"; else nok "$2"; fi; }
rc=0
echo "TAP version 13"
echo "# outer guest $(uname -r), mode $mode"

# ---------------------------------------------------------------- setup
# load_driver [insmod parameters]: bind both edu functions, set the knobs
load_driver() {
	local d
	insmod ./mockdev-vfio-pci.ko state_size_mb=64 dirty_rate=0 dma_rate=0 "$@" ||
		{ nok "insmod mockdev-vfio-pci.ko $*"; return 1; }
	devs=()
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] || continue
		echo mockdev-vfio-pci >"$d/driver_override"
		echo "${d##*/}" >/sys/bus/pci/drivers_probe
		devs+=("${d##*/}")
	done
	[ ${#devs[@]} -ge 2 ] || { nok "need two edu functions"; return 1; }
	src_dev=${devs[0]} dst_dev=${devs[1]}
	# The source changes its state and writes guest memory while it
	# runs, slowly enough for QEMU to sync RAM at every pre-copy
	# iteration once the first pass is done; the destination stays still once running (its digest is
	# compared after) and takes seed 000's 1480 ms to take the initial
	# data in. 64 MiB of state keep pre-copy going well after QEMU's
	# first pass over RAM (see migrate()). Knobs can only change while
	# no VMM holds the device.
	param "$src_dev" dirty_rate 50
	param "$src_dev" dma_rate 300
	# An asynchronous source: its stream is produced at 32 MiB/s, so
	# QEMU's blocking reads of the saving FD wait for data (2 s for the
	# 64 MiB image) instead of always finding it ready.
	param "$src_dev" save_rate_mb 32
	param "$dst_dev" alloc_latency_ms 1480
}
param() { devlink dev param set "pci/$1" name "$2" value "$3" cmode runtime; }
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

# QMP: one session per QEMU, kept open (socat over two FIFOs), so that a
# command costs a round trip, not a connection; events are skipped
qmp_open() {
	local name=$1 fi fo line
	rm -f "/tmp/$name.qin" "/tmp/$name.qout"
	mkfifo "/tmp/$name.qin" "/tmp/$name.qout"
	chroot $q socat - "UNIX-CONNECT:/tmp/$name.qmp" \
		<"/tmp/$name.qin" >"/tmp/$name.qout" 2>/dev/null &
	exec {fi}>"/tmp/$name.qin" {fo}<"/tmp/$name.qout"
	eval "qmp_in_$name=$fi qmp_out_$name=$fo"
	read -r -t 60 line <&"$fo" || return 1	# greeting
	qmp "$name" '{"execute":"qmp_capabilities"}' >/dev/null
}
# qmp NAME COMMAND: the answer (or error) line in $reply, also printed
qmp() {
	qmp_q "$@" && echo "$reply"
}
# qmp_q NAME COMMAND: the same into $reply only, without a subshell (fork
# and exec are slow in a debug kernel under TCG: the poll loop uses this)
qmp_q() {
	local name=$1 cmd=$2 fi fo line
	reply=
	eval "fi=\${qmp_in_$name:-} fo=\${qmp_out_$name:-}"
	[ -n "$fi" ] || return 1
	echo "$cmd" >&"$fi" || return 1
	while read -r -t 300 line <&"$fo"; do
		case "$line" in *'"return"'* | *'"error"'*) reply=$line; return 0 ;; esac
	done
	return 1
}
qmp_close() {
	local name=$1 fi fo
	eval "fi=\${qmp_in_$name:-} fo=\${qmp_out_$name:-}"
	[ -n "$fi" ] && exec {fi}>&- {fo}<&-
	eval "qmp_in_$name= qmp_out_$name="
}
el() { echo $(($(date +%s) - t0))s; }
# jget VAR KEY [TEXT]: the first "KEY": number or string of TEXT ($reply)
jget() {
	local re="\"$2\": (\"([^\"]*)\"|([0-9]+))"
	if [[ ${3-$reply} =~ $re ]]; then
		printf -v "$1" '%s' "${BASH_REMATCH[2]}${BASH_REMATCH[3]}"
	else
		printf -v "$1" '%s' ""
	fi
}

trace_src=(vfio_save_setup vfio_save_iterate vfio_state_pending_estimate
	vfio_state_pending_exact vfio_save_complete_precopy
	vfio_device_dirty_tracking_start vfio_get_dirty_bitmap
	vfio_migration_set_state source_return_path_thread_switchover_acked
	migration_bitmap_sync_end)
trace_dst=(vfio_load_state vfio_migration_set_state
	loadvm_state_switchover_ack_needed loadvm_approve_switchover)

# start_qemu NAME BDF ENABLE_MIGRATION [extra QEMU arguments]
start_qemu() {
	local name=$1 bdf=$2 em=$3 t args=()
	shift 3
	if [ "$name" = src ]; then
		for t in "${trace_src[@]}"; do args+=(-trace "$t"); done
	else
		for t in "${trace_dst[@]}"; do args+=(-trace "$t"); done
	fi
	if [ -n "${MDV_QEMU_IOMMUFD:-}" ]; then
		args+=(-object iommufd,id=iommufd0
			-device "vfio-pci,host=$bdf,iommufd=iommufd0,enable-migration=$em")
	else
		args+=(-device "vfio-pci,host=$bdf,enable-migration=$em")
	fi
	rm -f "/tmp/$name".{qmp,serial,trace,err}
	chroot $q qemu-system-x86_64 -name "$name" -M q35 -accel tcg -m ${inner_mb}M \
		-nodefaults -display none -kernel /mnt/inner.elf \
		-serial "file:/tmp/$name.serial" \
		-qmp "unix:/tmp/$name.qmp,server=on,wait=off" \
		-D "/tmp/$name.trace" "${args[@]}" "$@" 2>"/tmp/$name.err" &
	eval "${name}_pid=$!"
}
wait_for() { # seconds condition
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		eval "$2" && return 0
		sleep 0.2
	done
	return 1
}
stop_qemus() {
	local p pid i
	for p in src dst; do
		qmp "$p" '{"execute":"quit"}' >/dev/null
		qmp_close "$p"
	done
	for p in src dst; do
		eval "pid=\${${p}_pid:-}"
		[ -n "$pid" ] || continue
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		eval "${p}_pid="
	done
}

# migrate LABEL ENABLE_MIGRATION [DOWNTIME_LIMIT_MS]: one live migration.
# The device writes dma_iovas once QEMU's pass over RAM is past them, or,
# with early_writes=1, as soon as the migration is active (held at 1 byte/s
# until then: without dirty tracking QEMU resends all RAM at every sync and
# completes at the first one, there is no pre-copy to write in). Sets
# mig_status,
# mig_error, downtime, total, written_iovas (pre-copy device writes)
migrate() {
	local label=$1 em=$2 limit=${3:-} caps st out sync tot rem i iova wrote bw
	mig_status= mig_error= downtime= total= written_iovas=()
	rm -f /tmp/dma_write.err
	t0=$(date +%s)
	start_qemu dst "$dst_dev" "$em" -incoming defer
	start_qemu src "$src_dev" "$em"
	wait_for 300 '[ -S /tmp/src.qmp ] && [ -S /tmp/dst.qmp ]'
	qmp_open src && qmp_open dst ||
		{ mig_error="no QMP: $(tail -3 /tmp/src.err /tmp/dst.err 2>&1 | tr '\n' ' ')"; stop_qemus; return 1; }
	echo "# $label: QMP up after $(el)"
	if ! wait_for 300 'grep -q "MDV-INNER: ready" /tmp/src.serial 2>/dev/null'; then
		mig_error="inner guest did not come up: $(tail -3 /tmp/src.err /tmp/src.serial 2>&1 | tr '\n' ' ')"
		stop_qemus
		return 1
	fi
	echo "# $label: $(el): $(grep 'MDV-INNER: ready' /tmp/src.serial)"
	caps='{"execute":"migrate-set-capabilities","arguments":{"capabilities":[
		{"capability":"return-path","state":true},
		{"capability":"switchover-ack","state":true}]}}'
	caps=$(echo "$caps" | tr -d '\n\t')
	for p in src dst; do
		out=$(qmp "$p" "$caps")
		grep -q '"return"' <<<"$out" || { mig_error="$p capabilities: $out"; stop_qemus; return 1; }
	done
	qmp dst '{"execute":"migrate-incoming","arguments":{"uri":"tcp:127.0.0.1:4444"}}' >/dev/null
	wrote=0
	# QEMU's default, stated: the poll loop throttles and restores it
	bw='{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":134217728}}'
	if [ -n "${early_writes:-}" ]; then
		qmp src '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":1}}' >/dev/null
	else
		qmp src "$bw" >/dev/null
	fi
	[ -n "$limit" ] && qmp src "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"downtime-limit\":$limit}}" >/dev/null
	qmp_q src '{"execute":"migrate","arguments":{"uri":"tcp:127.0.0.1:4444"}}'
	out=$reply
	if ! grep -q '"return"' <<<"$out"; then
		mig_status=refused
		jget mig_error desc
		stop_qemus
		return 1
	fi
	echo "# $label: migrate issued after $(el)"
	for ((i = 0; i < 3000; i++)); do
		qmp_q src '{"execute":"query-migrate"}'
		jget st status
		case "$st" in completed | failed | cancelled) break ;; esac
		jget sync dirty-sync-count
		jget tot total
		jget rem remaining
		[ -n "${MDV_QEMU_DEBUG:-}" ] && echo "# poll $(el) status=$st sync=$sync remaining=$rem/$tot"
		if [ $wrote = 0 ] && [ "$st" = active ] && { [ -n "${early_writes:-}" ] ||
			{ [ -n "$rem" ] && [ "${tot:-0}" -gt 0 ] &&
			  [ "$rem" -lt $((tot - pattern_end - (1 << 20))) ]; }; }; then
			# QEMU's pass over RAM goes up from address 0 and is
			# past the pattern (or done): what the device
			# writes there now, before it is stopped, reaches the
			# destination only through dirty tracking. Throttled
			# to 1 byte/s, the migration can neither go on nor
			# complete while the device writes.
			qmp_q src '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":1}}'
			for iova in "${dma_iovas[@]}"; do
				{ echo "$iova 64" >"$dbg/$src_dev/mock/dma_write"; } 2>>/tmp/dma_write.err &&
					written_iovas+=("$iova")
			done
			echo "# $label: $(el): pre-copy, dirty-sync-count $sync, $((${rem:-0} >> 20)) MiB of RAM left in this pass: device wrote ${#written_iovas[@]} of ${#dma_iovas[@]} pages"
			[ -s /tmp/dma_write.err ] && sed 's/^/#   /' /tmp/dma_write.err | sort -u
			qmp_q src "$bw"
			wrote=1
		fi
		sleep 0.2
	done
	mig_status=$st
	echo "# $label: $st after $(el)"
	jget mig_error error-desc
	jget downtime downtime
	jget total total-time
	[ "$st" = completed ]
}

# compare: device digests and inner-guest memory after a completed migration
compare() {
	local label=$1 sd dd out
	sd=$(cat "$dbg/$src_dev/digest") dd=$(cat "$dbg/$dst_dev/digest")
	echo "# $label: device digest source $sd destination $dd"
	dig_ok=0
	[ "$sd" = "$dd" ] && dig_ok=1
	for p in src dst; do
		qmp "$p" "{\"execute\":\"pmemsave\",\"arguments\":{\"val\":0,\"size\":$((inner_mb << 20)),\"filename\":\"/tmp/$p.mem\"}}" >/dev/null
	done
	same=0
	out=$(./mdv_memcmp /tmp/src.mem /tmp/dst.mem $pattern_start $pattern_end "${written_iovas[@]}") && same=1
	echo "# $label: $out"
	mem_written=$(sed -nE 's/.*written=([0-9]+).*/\1/p' <<<"$out")
	mem_listed=$(sed -nE 's/.*listed=([0-9]+)\/.*/\1/p' <<<"$out")
	# equal dumps prove nothing unless the device did write, also
	# after the first pass over RAM
	mem_ok=0
	[ $same = 1 ] && [ "${mem_written:-0}" -gt 0 ] && [ ${#written_iovas[@]} -gt 0 ] &&
		[ "$mem_listed" = ${#written_iovas[@]} ] && mem_ok=1
	rm -f /tmp/src.mem /tmp/dst.mem
}

# no_dma_logging LABEL match|informative: QEMU cannot use DMA logging and
# the IOMMU under it has no dirty tracking either. enable-migration=auto
# must be refused with QEMU's dirty-tracking blocker. enable-migration=on
# migrates anyway: through the VFIO container (type1), which reports every
# mapped page dirty, guest memory must still match ("match"); through
# iommufd nothing marks RAM dirty, so device writes after the first pass
# may be lost: that result is printed, not judged ("informative").
no_dma_logging() {
	local label=$1 on_expect=$2 auto_st auto_err warn
	migrate "$label-auto" auto
	auto_st=$mig_status auto_err=$mig_error
	echo "# $label: enable-migration=auto: ${auto_st:-none}${auto_err:+: $auto_err}"
	stop_qemus
	check '[ "$auto_st" = refused ] && grep -q "dirty tracking" <<<"$auto_err"' \
		"$label: enable-migration=auto is refused with QEMU's dirty-tracking blocker"
	early_writes=1 migrate "$label-on" on 30000
	warn=$(grep -h 'dirty tracking' /tmp/src.err 2>/dev/null | head -1)
	[ -n "$warn" ] && echo "# $label: enable-migration=on: QEMU: ${warn##*warning: }"
	dig_ok=0 mem_ok=0
	[ "$mig_status" = completed ] && compare "$label-on"
	if [ "$on_expect" = match ]; then
		check '[ "$mig_status" = completed ] && [ $dig_ok = 1 ] && [ $mem_ok = 1 ]' \
			"$label: enable-migration=on migrates, digest and memory match (${mig_status:-none}${mig_error:+: $mig_error})"
	else
		check '[ "$mig_status" = completed ] && [ $dig_ok = 1 ]' \
			"$label: enable-migration=on migrates, device digest matches (${mig_status:-none}${mig_error:+: $mig_error})"
		echo "# $label: informative: guest memory $([ $mem_ok = 1 ] && echo matches || echo 'does NOT match: QEMU tracked no dirty RAM')"
	fi
	echo "qemu-migration-$label: auto ${auto_st:-none}; on ${mig_status:-none}, downtime ${downtime:-?} ms, total ${total:-?} ms, device digest $([ $dig_ok = 1 ] && echo match || echo MISMATCH), guest memory $([ $mem_ok = 1 ] && echo match || echo MISMATCH)"
	stop_qemus
}

tracecount() { grep -c "$1" "$2" 2>/dev/null || true; }

if [ "$mode" = full ]; then
	migrate full auto
	check '[ "$mig_status" = completed ]' \
		"QEMU live migration completed (status ${mig_status:-none}${mig_error:+: $mig_error})"
	if [ "$mig_status" = completed ]; then
		echo "# downtime $downtime ms, total $total ms"
		compare full
		check '[ $dig_ok = 1 ]' "destination device digest equals the source's final digest"
		check '[ $mem_ok = 1 ]' \
			"inner-guest memory identical, device-written pages included ($mem_written written, $mem_listed/${#written_iovas[@]} pre-copy writes)"
		t_dirty=$(tracecount vfio_device_dirty_tracking_start /tmp/src.trace)
		t_bitmap=$(tracecount vfio_get_dirty_bitmap /tmp/src.trace)
		t_iter=$(tracecount vfio_save_iterate /tmp/src.trace)
		t_exact=$(tracecount vfio_state_pending_exact /tmp/src.trace)
		t_ack=$(tracecount source_return_path_thread_switchover_acked /tmp/src.trace)
		t_approve=$(tracecount loadvm_approve_switchover /tmp/dst.trace)
		t_dmax=$(grep -oE 'precopy dirty size [0-9]+' /tmp/src.trace |
			awk '$4 > m { m = $4 } END { print m + 0 }')
		echo "# trace source: dirty_tracking_start=$t_dirty get_dirty_bitmap=$t_bitmap save_iterate=$t_iter pending_exact=$t_exact switchover_acked=$t_ack max_precopy_dirty=$t_dmax"
		echo "# trace destination: approve_switchover=$t_approve"
		grep -m1 vfio_device_dirty_tracking_start /tmp/src.trace | sed 's/^/# /'
		grep -m2 vfio_save_iterate /tmp/src.trace | sed 's/^/# /'
		check '[ "$t_dirty" -gt 0 ] && [ "$t_bitmap" -gt 0 ]' "QEMU used device dirty tracking (DMA logging)"
		check '[ "$t_iter" -gt 0 ] && [ "$t_dmax" -gt 0 ] && [ "$t_exact" -gt 0 ]' \
			"QEMU used PRE_COPY (dirty bytes reported) and MIG_DATA_SIZE"
		check '[ "$t_ack" -gt 0 ] && [ "$t_approve" -gt 0 ]' "QEMU used switchover-ack over the return path"
		if [ $dig_ok = 1 ] && [ $mem_ok = 1 ]; then
			echo "qemu-migration: completed, downtime $downtime ms, total $total ms, device digest match, guest memory match"
		else
			why="device digest $([ $dig_ok = 1 ] && echo match || echo MISMATCH)"
			if [ $same = 0 ]; then
				why+=", guest memory MISMATCH"
			elif [ $mem_ok = 0 ]; then
				why+=", guest memory equal but proves nothing (device wrote ${mem_written:-0} pages, ${mem_listed:-0}/${#written_iovas[@]} after the first RAM pass)"
			fi
			echo "qemu-migration: FAILED, downtime $downtime ms, total $total ms, $why"
		fi
	else
		echo "qemu-migration: FAILED: ${mig_status:-not started}: ${mig_error:-see below}"
		tail -5 /tmp/src.err /tmp/dst.err 2>/dev/null | sed 's/^/# /'
	fi
	stop_qemus
	# the same kernel, but a device without DMA logging behind iommufd,
	# whose IOMMU (the outer guest's) cannot track dirty pages either
	rmmod mockdev_vfio_pci || nok "rmmod mockdev_vfio_pci"
	if load_driver dma_logging=0; then
		MDV_QEMU_IOMMUFD=1 no_dma_logging no-tracking informative
	fi
else
	no_dma_logging stock match
fi

for m in mnt run tmp; do umount "$q/$m"; done
for m in dev sys proc; do umount -l "$q/$m"; done
umount $q
rmmod mockdev_vfio_pci || nok "rmmod mockdev_vfio_pci"
echo "1..$n"
exit $rc
