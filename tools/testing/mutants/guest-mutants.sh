#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the full-lane guest as /payload/run.sh (run-mutants.sh puts
# it there): first the real driver (ko/baseline.ko) through every test the
# mutants name, then each mutant of ./plan ("name<TAB>timeout<TAB>tests")
# that has no result yet: insmod, bind every edu function, its tests, rmmod.
#
# Progress lives in the payload directory, so a boot that ends early (a
# mutant that wedged or crashed the kernel) is continued by the next one:
#   state/current   the plan entry under way (its mtime: when it began)
#   state/NAME      "killed: why" or "survived" (NAME=baseline: ok/failed)
#   logs/NAME.log   test output and the kernel log of that entry
# The guest powers itself off when the kernel is no longer fit for the
# next mutant (module stuck, lockdep off after a report, an Oops), and
# reboots itself (reboot -f; QEMU runs with -no-reboot, so that ends the
# boot too) when an entry overruns its budget.
set -u
cd "$(dirname "$0")" || exit 1
# shellcheck source=../vm/guest-lib.sh
. /lib/mockdev/guest-lib.sh
mkdir -p state logs
OVERHEAD=120
DRV=mockdev-vfio-pci
MOD=mockdev_vfio_pci

# as run-lane.sh: kernel reports, on lines with a printk timestamp
kpat='WARNING:|BUG:|kernel BUG at|Oops|general protection fault|KASAN|UBSAN'
kpat+='|possible circular locking|possible recursive locking|inconsistent lock state'
kpat+='|suspicious RCU usage|INFO: task .* blocked|Kernel panic|refcount_t:'
kpat+='|list_add corruption|list_del corruption|sleeping function called from invalid context'
kpat+='|invoked oom-killer'
# a plain WARN leaves the kernel fit to go on; anything else (lockdep turns
# itself off after one report, KASAN's memory is suspect) ends the boot
plain_warn='WARNING: CPU: [0-9]+ PID: [0-9]+ at '

say() { echo "# $*"; }

# write a result file so that a crash right after it cannot leave half
record() {
	echo "$2" >"state/$1.tmp"
	mv "state/$1.tmp" "state/$1"
	sync
	say "mutant $1: $2"
}

# (the full-lane kernel has no magic SysRq: busybox's -f does it directly)
poweroff_now() {
	sync
	poweroff -f
	sleep 60
	exit 1
}

# The edu functions a test command needs: the first two on the root bus
# (the tests take the first one or two in BDF order), and those behind the
# bridges for mdv_topology_test. Binding all 11 costs about 20 s per load
# under TCG with the debug kernel, most of each mutant's time.
wanted_functions() {
	local bdf parent roots=0
	for bdf in $(guest_edu_functions); do
		parent=$(basename "$(dirname "$(readlink -f "/sys/bus/pci/devices/$bdf")")")
		if [[ "$parent" == pci* ]]; then
			[ "$roots" -lt 2 ] || continue
			roots=$((roots + 1))
		elif [[ " $1 " != *" mdv_topology_test "* ]]; then
			continue
		fi
		echo "$bdf"
	done
}

# Load module $1 and bind the edu functions the test commands $2 need (the
# others stay unbound: their driver_override is cleared before insmod, so
# that it probes none of them); 0 if all of them are bound, 1 if insmod
# fails, 2 if one is not bound.
load() {
	local want
	want=$(wanted_functions "$2" | tr '\n' ' ')
	# shellcheck disable=SC2046 # one address a line
	guest_edu_bind '' $(guest_edu_functions)
	insmod "$1" state_size_mb=1 || return 1
	# shellcheck disable=SC2086
	guest_edu_bind "$DRV" $want || return 2
	echo "bound: $want"
}

# rmmod within 60 s; 0 if the module is gone, 1 if rmmod failed, 2 if it hangs
unload() {
	local pid i
	[ -d "/sys/module/$MOD" ] || return 0
	rmmod "$MOD" &
	pid=$!
	for ((i = 0; i < 60; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 1
	done
	kill -0 "$pid" 2>/dev/null && return 2
	wait "$pid" || return 1
	[ ! -d "/sys/module/$MOD" ]
}

# Run the ;-separated test commands $2 with timeout $1 each, their output
# to stdout; the last line is "FAIL why" at the first failure (later
# commands are not run) or "PASS".
run_tests() {
	local t=$1 c rc out=logs/.cmd.out
	local -a cmds words
	IFS=';' read -ra cmds <<<"$2"
	for c in "${cmds[@]}"; do
		read -ra words <<<"$c"
		[ ${#words[@]} -gt 0 ] || continue
		echo "## ${words[*]}"
		timeout "$t" "./tests/${words[0]}" "${words[@]:1}" </dev/null >"$out" 2>&1
		rc=$?
		cat "$out"
		if [ "$rc" = 124 ] || [ "$rc" = 143 ] || [ "$rc" = 137 ]; then
			echo "FAIL ${words[*]}: timed out after ${t}s"
			return 1
		fi
		if [ "$rc" != 0 ] || grep -qE '^not ok ' "$out"; then
			echo "FAIL ${words[*]}: $(grep -m1 -E '^not ok ' "$out" || echo "exit $rc")"
			return 1
		fi
		# a test that skips under a mutant did not run: it checked nothing
		if grep -qiE '^ok .*# *skip' "$out"; then
			echo "FAIL ${words[*]}: $(grep -m1 -iE '^ok .*# *skip' "$out")"
			return 1
		fi
		if ! grep -qE '^ok ' "$out"; then
			echo "FAIL ${words[*]}: no test ran"
			return 1
		fi
	done
	echo PASS
}

# the kernel reports of the entry so far (dmesg was cleared at its start)
reports() {
	dmesg | grep -aE "\[ *[0-9]+\.[0-9]+\].*($kpat)"
}

# Start a watchdog for entry $1 with budget $2 s: past it the entry counts
# as killed (hung) and the guest reboots; prints its pid.
watchdog() {
	(
		sleep "$2"
		echo "killed: hung, no end after $2 s" >"state/$1"
		sync
		reboot -f
	) >/dev/null 2>&1 &
	echo $!
}

begin_entry() {
	echo "$1" >state/current
	sync
	dmesg -c >/dev/null
	echo 1 >/sys/kernel/debug/clear_warn_once 2>/dev/null
}

# ---------------------------------------------------------------- baseline
if [ ! -f state/baseline ]; then
	declare -A seen=()
	budget=$OVERHEAD
	cmds=()
	while IFS=$'\t' read -r _ t tests <&3; do
		IFS=';' read -ra cs <<<"$tests"
		for c in "${cs[@]}"; do
			read -ra w <<<"$c"
			key="${w[*]}"
			[ -n "${seen[$key]:-}" ] && continue
			seen[$key]=1
			cmds+=("$t	$key")
			budget=$((budget + t + 30))
		done
	done 3<plan
	say "baseline: the real driver through ${#cmds[@]} test commands"
	begin_entry baseline
	wd=$(watchdog baseline "$budget")
	log=logs/baseline.log
	: >"$log"
	failed=()
	# a fresh module for each command, as each mutant gets; every command
	# runs, so that one run names every test the real driver fails
	for c in "${cmds[@]}"; do
		dmesg -c >/dev/null
		why=
		if ! load ko/baseline.ko "${c#*	}" >>"$log" 2>&1; then
			why="insmod or binding the edu functions"
		else
			run_tests "${c%%	*}" "${c#*	}" >>"$log" 2>&1
			fail=$(tail -1 "$log")
			[ "$fail" = PASS ] || why=${fail#FAIL }
		fi
		unload >>"$log" 2>&1 || why+="${why:+; }rmmod failed"
		r=$(reports)
		printf '%s\n' "$r" >>"$log"
		[ -z "$r" ] || why+="${why:+; }kernel report: $(head -1 <<<"$r")"
		if [ -n "$why" ]; then
			failed+=("${c#*	}: $why")
			say "baseline: FAILED ${c#*	}: $why"
		fi
		[ -d "/sys/module/$MOD" ] && break
	done
	kill "$wd" 2>/dev/null
	if [ ${#failed[@]} = 0 ]; then
		record baseline ok
	else
		record baseline "failed: $(printf '%s | ' "${failed[@]}")"
	fi
	rm -f state/current
	[ ${#failed[@]} = 0 ] || poweroff_now
fi

# ---------------------------------------------------------------- mutants
while IFS=$'\t' read -r name t tests <&3; do
	[ -f "state/$name" ] && continue
	n=$(awk -F';' '{ print NF }' <<<"$tests")
	budget=$((n * t + OVERHEAD))
	begin_entry "$name"
	wd=$(watchdog "$name" "$budget")
	log=logs/$name.log
	fit=1
	res=survived
	load "ko/$name.ko" "$tests" >"$log" 2>&1
	case $? in
	0) ;;
	1) res="killed: insmod failed" ;;
	*) res="killed: an edu function did not bind" ;;
	esac
	if [ "$res" = survived ]; then
		run_tests "$t" "$tests" >>"$log" 2>&1
		fail=$(tail -1 "$log")
		[ "$fail" = PASS ] || res="killed: ${fail#FAIL }"
	fi
	unload >>"$log" 2>&1
	case $? in
	0) ;;
	1) [ "$res" != survived ] || res="killed: rmmod failed"; fit=0 ;;
	*) [ "$res" != survived ] || res="killed: rmmod hung"; fit=0 ;;
	esac
	r=$(reports)
	printf '%s\n' "$r" >>"$log"
	if [ -n "$r" ]; then
		[ "$res" != survived ] ||
			res="killed: kernel report: $(head -1 <<<"$r" | sed 's/^\[[^]]*\] *//')"
		grep -vqE "$plain_warn" <<<"$r" && fit=0
	fi
	kill "$wd" 2>/dev/null
	record "$name" "$res"
	rm -f state/current
	sync
	if [ "$fit" != 1 ]; then
		say "the kernel is not fit for the next mutant: powering off for a fresh boot"
		poweroff_now
	fi
done 3<plan
say "all mutants done"
poweroff_now
