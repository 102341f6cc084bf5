#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot one test lane in QEMU, run PAYLOAD_DIR/run.sh in the guest, judge it.
#
#   run-lane.sh stock|stock-7.3|full PAYLOAD_DIR
#
# stock:     Debian's 6.12 kernel (fetch-kernel.sh) + the modules the tests
#            need.
# stock-7.3: Debian's 7.3 kernel (trixie-backports, fetch-kernel.sh 7.3),
#            likewise.
# full:      our debug 6.12 kernel (build-full-kernel.sh: KASAN, kmemleak,
#            lockdep).
#
# PAYLOAD_DIR is shared read-write with the guest over 9p and mounted at
# /payload; the guest runs `bash ./run.sh` there (see guest-init.sh for the
# environment it gets) and expects TAP on its output. Written there:
#   run.log            run.sh's stdout+stderr (TAP, counted by tap.sh)
#   console-LANE.log   the whole serial console (kernel log + run.sh output)
#   dmesg-LANE.log     the guest's dmesg at the end
#
# Environment:
#   ACCEL=tcg          QEMU accelerator (kvm works where /dev/kvm does)
#   VM_CPUS=2 VM_MEM=4G
#   VM_EDU=8           number of QEMU "edu" PCI devices (1234:11e8) on q35's
#                      root bus: no reset method, a dev_set and group each
#   VM_BRIDGE_EDU=2    edu functions together behind one conventional bridge
#                      (pcie-root-port rp1 -> pcie-pci-bridge br1, bus 02):
#                      one IOMMU group (DMA alias) and one dev_set (bus reset
#                      scope), so hot reset and two devices of one group get
#                      tested; 0 leaves the bridge out
#   VM_RESET_EDU=1     edu functions each alone behind a conventional bridge of
#                      its own (rp2.. -> pcie-pci-bridge, buses 04, 06 ...):
#                      alone on its bus a function has a bus reset, so
#                      reset_works and VFIO_DEVICE_RESET goes through
#                      pci_try_reset_function() and vfio-pci's memory_lock
#                      (edu has neither FLR nor PM reset; a function that
#                      shares its bus has no function-level reset)
#   VM_EDU_OPTS=       extra edu properties, e.g. dma_mask=0xffffffff
#   VM_IOMMU_OPTS=     extra intel-iommu properties, e.g. caching-mode=on
#   VM_TIMEOUT=1800    seconds before the VM is killed (counts as failure)
#   VM_OOPS_GRACE=     seconds a guest may run on after an Oops or a BUG
#                      before it is killed (unset: until it ends); for runs
#                      whose tasks hang once a foreign module oopsed
#   VM_BOOT_TIMEOUT=240  seconds for the guest to reach our init; a boot that
#                      does not (stalled or panicked before any of our code
#                      ran) is booted once more, its console kept as
#                      console-LANE.boot1.log
#   VM_APPEND=         extra kernel command line
#   VM_QEMU_OPTS=      extra QEMU arguments (word-split)
#   VM_EXTRA_BINS= VM_EXTRA_MODULES=   see mkinitramfs.sh
#   LANE_LABEL=        name of the run in messages (default: LANE)
#
# The run fails (exit 1) on a failed test, on run.sh exiting non-zero, on no
# test at all, on a guest that did not finish (timeout, panic) and on any
# kernel report in the console (WARNING, BUG, KASAN, lockdep, kmemleak...).
# The last line is always `lane LANE: P passed, F failed, S skipped`, where
# each of those non-test failures adds one to F.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

usage() { echo "usage: $0 stock|stock-7.3|full PAYLOAD_DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
lane=$1
case "$lane" in stock | stock-7.3 | full) ;; *) usage ;; esac
kernel_series "$(lane_series "$lane")"
# LANE_LABEL names the run in messages (a peer run boots a lane's kernel)
label=${LANE_LABEL:-$lane}
[ -d "$2" ] || die "payload dir $2 does not exist"
payload=$(cd "$2" && pwd)
[ -f "$payload/run.sh" ] || log "warning: $payload/run.sh missing"

case "$lane" in
stock | stock-7.3)
	kdir=$("$here/fetch-kernel.sh" "$DEB_SERIES")
	kernel="$kdir/root/boot/vmlinuz-$DEB_KABI-amd64"
	;;
full)
	kdir=$("$here/build-full-kernel.sh")
	kernel="$kdir/arch/x86/boot/bzImage"
	;;
esac
[ -f "$kernel" ] || die "kernel $kernel missing"
# run_kselftest.sh's runner calls /usr/bin/timeout --foreground, which
# busybox's timeout does not take: the host's (coreutils) goes in instead
initrd=$(VM_EXTRA_BINS="timeout ${VM_EXTRA_BINS:-}" "$here/mkinitramfs.sh" "$lane" "$kdir")

accel=${ACCEL:-tcg}
# Debian's 7.3 flips static keys while the other vCPU runs the code they
# patch (sched_clock "Marking stable" at boot), and under QEMU 7.2's
# multi-threaded TCG a vCPU once executed the stale int3 ("Oops: int3" in
# sched_clock_idle_wakeup_event, 1 boot in about 10): one TCG thread for
# all vCPUs serialises them
if [ "$accel" = tcg ] && [ "$lane" = stock-7.3 ]; then
	accel=tcg,thread=single
fi
if [ "$accel" = kvm ] && [ ! -w /dev/kvm ]; then
	die "ACCEL=kvm but /dev/kvm is not usable"
fi
# no_timer_check: under TCG on a loaded host, the IO-APIC timer check (a
# busy-wait that expects a few ticks) can see none and, with interrupt
# remapping on, panics the boot before anything of ours runs
append="console=ttyS0 intel_iommu=on no_timer_check panic=-1 printk.time=1 LANE=$lane"
[ "$lane" = full ] && append+=" kmemleak=on"
append+=" ${VM_APPEND:-}"

# the IOMMU has to come before the PCI devices it translates for
# shellcheck disable=SC2054 # commas are QEMU's
qemu=(qemu-system-x86_64
	-M q35,kernel-irqchip=split -accel "$accel" -cpu max
	-smp "${VM_CPUS:-2}" -m "${VM_MEM:-4G}"
	-device "intel-iommu,intremap=on${VM_IOMMU_OPTS:+,$VM_IOMMU_OPTS}")
for ((i = 0; i < ${VM_EDU:-8}; i++)); do
	qemu+=(-device "edu${VM_EDU_OPTS:+,$VM_EDU_OPTS}")
done
# after the root-bus edu functions, so their addresses do not move
# (QEMU docs/pcie.txt: a PCI device on q35 goes behind pcie-pci-bridge)
chassis=1 bridge_edu=${VM_BRIDGE_EDU:-2}
if [ "$bridge_edu" -gt 0 ]; then
	qemu+=(-device "pcie-root-port,id=rp$chassis,bus=pcie.0,chassis=$chassis"
		-device "pcie-pci-bridge,id=br$chassis,bus=rp$chassis")
	for ((i = 1; i <= bridge_edu; i++)); do
		qemu+=(-device "edu,bus=br$chassis,addr=$i${VM_EDU_OPTS:+,$VM_EDU_OPTS}")
	done
	chassis=$((chassis + 1))
fi
for ((i = 0; i < ${VM_RESET_EDU:-1}; i++)); do
	qemu+=(-device "pcie-root-port,id=rp$chassis,bus=pcie.0,chassis=$chassis"
		-device "pcie-pci-bridge,id=br$chassis,bus=rp$chassis"
		-device "edu,bus=br$chassis,addr=1${VM_EDU_OPTS:+,$VM_EDU_OPTS}")
	chassis=$((chassis + 1))
done
qemu+=(-virtfs "local,path=$payload,mount_tag=payload,security_model=none"
	-nographic -no-reboot
	-kernel "$kernel" -initrd "$initrd" -append "$append")
if [ -n "${VM_QEMU_OPTS:-}" ]; then
	# shellcheck disable=SC2206 # word splitting wanted
	qemu+=(${VM_QEMU_OPTS})
fi

console="$payload/console-$lane.log"
rm -f "$payload/run.log" "$payload/dmesg-$lane.log" "$payload/console-$lane.boot1.log"

# boot: one run of the VM, its console in $console and on our stdout; sets
# qrc. A boot that has not reached our init ("MOCKDEV-GUEST:") after
# VM_BOOT_TIMEOUT seconds is killed: nothing of ours ran yet.
boot() {
	local pid tailpid t0=$SECONDS reached= oops=
	: >"$console"
	# stdin from /dev/null: works without a terminal and never leaves one raw
	timeout -k 10 "${VM_TIMEOUT:-1800}" "${qemu[@]}" </dev/null >"$console" 2>&1 &
	pid=$!
	tail -n +1 -f --pid=$pid "$console" &
	tailpid=$!
	while kill -0 $pid 2>/dev/null; do
		if [ -z "$reached" ]; then
			if grep -aq 'MOCKDEV-GUEST:' "$console"; then
				reached=1
			elif [ $((SECONDS - t0)) -gt "${VM_BOOT_TIMEOUT:-240}" ]; then
				log "lane $label: no init after ${VM_BOOT_TIMEOUT:-240}s, killing the VM"
				kill $pid 2>/dev/null
			fi
		fi
		if [ -n "${VM_OOPS_GRACE:-}" ]; then
			if [ -z "$oops" ] && grep -aqE '\] (Oops|BUG):' "$console"; then
				oops=$SECONDS
			elif [ -n "$oops" ] && [ $((SECONDS - oops)) -gt "$VM_OOPS_GRACE" ]; then
				log "lane $label: an Oops or BUG ${VM_OOPS_GRACE}s ago, killing the VM"
				kill $pid 2>/dev/null
				oops=done
			fi
		fi
		sleep 1
	done
	qrc=0
	wait $pid || qrc=$?
	wait $tailpid || true
}

log "lane $label: booting $kernel (accel $accel, timeout ${VM_TIMEOUT:-1800}s)"
start=$(date +%s)
boot
# A boot that never reached our init (a TCG boot stalled or panicked on a
# loaded host) ran none of our code, which guest-init.sh loads: boot once
# more, and say so. Its console is kept for reading, not judged.
if ! grep -aq 'MOCKDEV-GUEST:' "$console"; then
	mv "$console" "$payload/console-$lane.boot1.log"
	log "lane $label: boot 1 did not reach init (qemu exit $qrc, console-$lane.boot1.log); booting again"
	boot
fi
log "lane $label: VM ran $(($(date +%s) - start))s, qemu exit $qrc"

# ---------------------------------------------------------------- verdict
clean=$(mktemp)
trap 'rm -f "$clean"' EXIT
tr -d '\r' <"$console" >"$clean"
extra=0

# Kernel reports: only lines carrying a printk timestamp count, so that test
# output that merely mentions "WARNING:" does not; kmemleak's report is read
# by guest-init.sh from debugfs, so it has none.
kpat='WARNING:|BUG:|kernel BUG at|Oops|general protection fault|KASAN|UBSAN'
kpat+='|possible circular locking|possible recursive locking|inconsistent lock state'
kpat+='|suspicious RCU usage|INFO: task .* blocked|Kernel panic|refcount_t:'
kpat+='|list_add corruption|list_del corruption|sleeping function called from invalid context'
kpat+='|kmemleak: [0-9]+ new suspected memory leaks|invoked oom-killer'
reports=$(grep -aE "\[ *[0-9]+\.[0-9]+\].*($kpat)|unreferenced object 0x" "$clean" || true)
if [ -n "$reports" ]; then
	echo "lane $label: kernel report in guest log ($console):"
	printf '%s\n' "$reports" | head -50 | sed 's/^/  | /'
	extra=$((extra + 1))
fi

done_line=$(grep -aoE 'MOCKDEV-GUEST-DONE rc=[0-9]+' "$clean" | tail -n1 || true)
if [ -z "$done_line" ]; then
	if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
		echo "lane $label: guest timed out after ${VM_TIMEOUT:-1800}s"
	else
		echo "lane $label: guest did not finish (qemu exit $qrc)"
	fi
	extra=$((extra + 1))
	rrc=
else
	rrc=${done_line##*=}
fi

read -r p f s _ < <("$here/tap.sh" counts "$payload/run.log" 2>/dev/null ||
	echo 0 0 0 0)

# A skip is only as good as its reason: each lane lists the reasons it
# may skip for (skips-LANE.txt, one extended regex a line), and a skip for
# any other reason, say a feature this lane's kernel has, counts as a
# failure. A peer run (LANE_LABEL) judges a foreign device: not checked.
allowed="$here/skips-$lane.txt"
if [ -z "${LANE_LABEL:-}" ] && [ -f "$payload/run.log" ]; then
	unexpected=$("$here/tap.sh" skips "$payload/run.log" |
		grep -avEf <(grep -vE '^(#|$)' "$allowed" 2>/dev/null || echo '^$') || true)
	if [ -n "$unexpected" ]; then
		n_unexp=$(printf '%s\n' "$unexpected" | wc -l)
		echo "lane $label: $n_unexp skips for a reason not in $(basename "$allowed"):"
		printf '%s\n' "$unexpected" | head -20 | sed 's/^/  | /'
		extra=$((extra + n_unexp))
	fi
fi

if [ -n "$rrc" ] && [ "$rrc" != 0 ] && [ "$f" -eq 0 ]; then
	echo "lane $label: run.sh exited with $rrc"
	extra=$((extra + 1))
elif [ -n "$rrc" ] && [ "$rrc" != 0 ]; then
	echo "lane $label: run.sh exited with $rrc"
fi
if [ -n "$rrc" ] && [ $((p + f + s)) -eq 0 ]; then
	echo "lane $label: no test ran"
	extra=$((extra + 1))
fi
f=$((f + extra))
echo "lane $label: $p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
