#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make mutants: mutation testing of the driver. Every mutant in mutants.txt
# is one small bug applied to a copy of the driver; the tests named for it
# must notice. All mutants are built on the host first, against the
# full-lane kernel (KASAN, lockdep), then one full-lane guest boot loads
# them one after the other (guest-mutants.sh): insmod, bind the edu
# functions, run the mutant's tests, rmmod. The real driver goes first
# through the same tests: if it fails them, the run is invalid.
#
# A mutant is killed when one of its tests fails, skips or times out, when
# insmod, binding or rmmod fails, when the kernel reports anything while it
# is loaded (WARNING, KASAN, lockdep, BUG ...), or when it takes the guest
# down. A mutant that leaves the kernel unusable (module stuck, lockdep off
# after its report, Oops) ends that boot; the next boot continues with the
# rest, from the progress the guest recorded in the payload directory.
#
# Output ends with
#     mutants: N applied, N killed, N survived
# followed by ": name name ..." for the survivors; exit status is non-zero
# if any survived, the baseline failed, or a mutant could not be run.
#
#   MUTANTS="a b"         run only these mutants (default: every one)
#   MUTANTS_LIST=FILE     the list (default: mutants.txt next to this script)
#   MUTANTS_BUILD_ONLY=1  check the list and build the mutants; boot nothing
#   MUTANT_BOOTS=8        at most this many guest boots
# plus what run-lane.sh reads (ACCEL, VM_MEM, VM_APPEND ...).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
vm="$top/tools/testing/vm"
# shellcheck source=../vm/lib.sh
. "$vm/lib.sh"
# a `&` in a replacement is text, not "the match" (bash 5.2)
shopt -u patsub_replacement 2>/dev/null || true

list=${MUTANTS_LIST:-$here/mutants.txt}
out="$top/build/mutants"
payload="$out/payload"
drv=drivers/vfio/pci/mockdev
st="$top/tools/testing/selftests/vfio/mockdev"
# what one mutant may take beyond its tests: insmod, binding 11 functions,
# rmmod, reading dmesg (TCG, debug kernel)
MUTANT_OVERHEAD=120

# ------------------------------------------------------------------ the list
names=() files=() finds=() repls=() tests=() bugs=() touts=()

# field value: what follows "key:", leading blanks stripped
field() {
	local v=${1#*:}
	printf '%s' "${v#"${v%%[![:space:]]*}"}"
}

add_mutant() {
	local i=$((${#names[@]} - 1)) n
	[ "$i" -ge 0 ] || return 0
	n=${names[$i]}
	[[ "$n" =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "$list: bad mutant name '$n'"
	[ -n "${files[$i]}" ] || die "$list: $n: no file:"
	[ -f "$top/$drv/${files[$i]}" ] || die "$list: $n: no file $drv/${files[$i]}"
	[ -n "${finds[$i]}" ] || die "$list: $n: no find:"
	[ "${finds[$i]}" != "${repls[$i]}" ] || die "$list: $n: repl: is find:"
	[ -n "${tests[$i]}" ] || die "$list: $n: no tests:"
	[ -n "${bugs[$i]}" ] || die "$list: $n: no bug:"
	[[ "${touts[$i]}" =~ ^[0-9]+$ ]] || die "$list: $n: bad timeout '${touts[$i]}'"
}

parse_list() {
	local line lineno=0 seen=" "
	[ -f "$list" ] || die "no mutant list $list"
	while IFS= read -r line || [ -n "$line" ]; do
		lineno=$((lineno + 1))
		case "$line" in
		'#'* | '') continue ;;
		mutant:*)
			add_mutant
			names+=("$(field "$line")")
			[[ "$seen" != *" ${names[-1]} "* ]] ||
				die "$list:$lineno: mutant ${names[-1]} twice"
			seen+="${names[-1]} "
			files+=("") finds+=("") repls+=("") tests+=("") bugs+=("")
			touts+=(120)
			;;
		*)
			[ ${#names[@]} -gt 0 ] || die "$list:$lineno: field before the first mutant:"
			case "$line" in
			file:*) files[-1]=$(field "$line") ;;
			find:*) finds[-1]=$(field "$line") ;;
			repl:*) repls[-1]=$(field "$line") ;;
			tests:*) tests[-1]=$(field "$line") ;;
			bug:*) bugs[-1]=$(field "$line") ;;
			timeout:*) touts[-1]=$(field "$line") ;;
			*) die "$list:$lineno: unknown line: $line" ;;
			esac
			;;
		esac
	done <"$list"
	add_mutant
	[ ${#names[@]} -gt 0 ] || die "$list: no mutants"
}

# Apply mutant $1 to the driver copy under $2: the anchor must be there
# exactly once, or the list no longer matches the driver.
apply_mutant() {
	local i=$1 f="$2/$drv/${files[$1]}" content rest count
	content=$(<"$f")
	rest=${content//"${finds[$i]}"/}
	count=$(((${#content} - ${#rest}) / ${#finds[$i]}))
	[ "$count" = 1 ] ||
		die "mutant ${names[$i]}: '${finds[$i]}' found $count times in $drv/${files[$i]} (want exactly 1)"
	printf '%s\n' "${content/"${finds[$i]}"/"${repls[$i]}"}" >"$f"
}

# Build mutant $1 (or the real driver for -1) in $out/<name>/, a copy of
# the sources of its own; reused when neither sources nor mutant changed.
build_one() {
	local i=$1 name d key
	if [ "$i" -lt 0 ]; then name=baseline; else name=${names[$i]}; fi
	d="$out/$name"
	key=$({
		cat "$top/Kbuild"
		find "$top/$drv" "$top/include" -type f -name '*.[ch]' | sort | xargs cat
		echo "$kdir"
		[ "$i" -lt 0 ] || printf '%s\n' "${files[$i]}" "${finds[$i]}" "${repls[$i]}"
	} | sha256sum | cut -c1-16)
	if [ -f "$d/.key" ] && [ "$(<"$d/.key")" = "$key" ] &&
		[ -f "$d/$drv/mockdev-vfio-pci.ko" ]; then
		return 0
	fi
	rm -rf "$d"
	mkdir -p "$d"
	cp -r "$top/Kbuild" "$top/drivers" "$top/include" "$d/"
	find "$d" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' -o -name '*.mod*' \) -delete
	[ "$i" -lt 0 ] || apply_mutant "$i" "$d"
	if ! nice -n 10 make -s -C "$kdir" M="$d" modules >"$d/build.log" 2>&1; then
		cat "$d/build.log" >&2
		die "mutant $name does not build (see $d/build.log)"
	fi
	echo "$key" >"$d/.key"
}

parse_list
if [ -n "${MUTANTS:-}" ]; then
	sel=()
	for n in $MUTANTS; do
		found=
		for i in "${!names[@]}"; do
			[ "${names[$i]}" = "$n" ] && { sel+=("$i"); found=1; }
		done
		[ -n "$found" ] || die "MUTANTS: no mutant $n in $list"
	done
else
	sel=("${!names[@]}")
fi

kdir=$(lane_kdir full)
mkdir -p "$out"
log "mutants: checking anchors and building ${#sel[@]} mutants + the real driver against $kdir"
# every anchor first: a stale list fails before anything is built
for i in "${sel[@]}"; do
	rm -rf "$out/.anchor"
	mkdir -p "$out/.anchor/$drv"
	cp "$top/$drv/${files[$i]}" "$out/.anchor/$drv/"
	apply_mutant "$i" "$out/.anchor"
	cmp -s "$top/$drv/${files[$i]}" "$out/.anchor/$drv/${files[$i]}" &&
		die "mutant ${names[$i]} changes nothing"
done
rm -rf "$out/.anchor"
# two builds at a time: make -s per module is mostly serial
pids=()
for i in -1 "${sel[@]}"; do
	build_one "$i" &
	pids+=($!)
	if [ ${#pids[@]} -ge 2 ]; then
		wait "${pids[0]}" || die "a mutant build failed"
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || die "a mutant build failed"
done
log "mutants: all built"
[ -z "${MUTANTS_BUILD_ONLY:-}" ] || exit 0

# ------------------------------------------------------------------ payload
cache=$("$vm/fetch-kernel.sh")
src="$cache/src/linux-source-6.12"
hdr=$(uapi_headers "$src")
rm -rf "$payload"
mkdir -p "$payload/ko" "$payload/tests" "$payload/state" "$payload/logs"
cp "$out/baseline/$drv/mockdev-vfio-pci.ko" "$payload/ko/baseline.ko"
bins=()
: >"$payload/plan"
for i in "${sel[@]}"; do
	cp "$out/${names[$i]}/$drv/mockdev-vfio-pci.ko" "$payload/ko/${names[$i]}.ko"
	printf '%s\t%s\t%s\n' "${names[$i]}" "${touts[$i]}" "${tests[$i]}" >>"$payload/plan"
	IFS=';' read -ra cmds <<<"${tests[$i]}"
	for c in "${cmds[@]}"; do
		read -r b _ <<<"$c"
		[ -f "$st/$b.c" ] || die "mutant ${names[$i]}: no test binary $b"
		[[ " ${bins[*]} " == *" $b "* ]] || bins+=("$b")
	done
done
make -s -C "$st" OUTPUT="$payload/tests" KHDR_INCLUDES="-isystem $hdr/include" \
	KSFT_DIR="$src/tools/testing/selftests" "${bins[@]/#/$payload/tests/}"
cp "$here/guest-mutants.sh" "$payload/run.sh"

# ------------------------------------------------------------------ boots
# Kill the processes under $1, deepest first (by pid, never by name).
kill_tree() {
	local c
	for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
		kill_tree "$c"
	done
	kill "$1" 2>/dev/null || true
}

# the guest's budget for one plan entry: its tests' timeouts plus overhead
budget_of() {
	local name=$1 t cmds n
	[ "$name" = baseline ] && { awk -F'\t' '{ n = split($3, c, ";"); s += n * ($2 + 30) }
		END { print s + 300 }' "$payload/plan"; return; }
	IFS=$'\t' read -r _ t cmds < <(awk -F'\t' -v n="$name" '$1 == n' "$payload/plan")
	n=$(awk -F';' '{ print NF }' <<<"$cmds")
	echo $((n * t + MUTANT_OVERHEAD))
}

pending() {
	local i
	for i in "${sel[@]}"; do
		[ -f "$payload/state/${names[$i]}" ] || echo "${names[$i]}"
	done
}

boots=0 max_boots=${MUTANT_BOOTS:-8}
while [ -n "$(pending)" ]; do
	if [ "$boots" -ge "$max_boots" ]; then
		log "mutants: $max_boots boots used, $(pending | wc -l) mutants not run"
		break
	fi
	boots=$((boots + 1))
	before=$(find "$payload/state" -type f | wc -l)
	total=60
	for n in baseline $(pending); do
		[ "$n" = baseline ] && [ -f "$payload/state/baseline" ] && continue
		total=$((total + $(budget_of "$n")))
	done
	blog="$out/boot-$boots.log"
	log "mutants: boot $boots, $(pending | wc -l) mutants to go (log: $blog)"
	rm -f "$payload/state/current" "$payload/run.log"
	# run-lane's own verdict is not ours: mutants are meant to fail
	VM_TIMEOUT=$total LANE_LABEL=mutants \
		VM_APPEND="${VM_APPEND:-} MOCKDEV_KMEMLEAK_CLEAR=0" \
		"$vm/run-lane.sh" full "$payload" >"$blog" 2>&1 &
	lane=$!
	# The guest reboots itself when a mutant overruns its budget; this is
	# for a kernel too wedged to do even that.
	shown=0
	while kill -0 "$lane" 2>/dev/null; do
		sleep 5
		# progress as the guest records it
		if [ -f "$payload/run.log" ]; then
			mapfile -t done_lines < <(grep -aE '^# (mutant|baseline)' "$payload/run.log" || true)
			for ((k = shown; k < ${#done_lines[@]}; k++)); do
				log "${done_lines[$k]#\# }"
			done
			shown=${#done_lines[@]}
		fi
		cur="$payload/state/current"
		[ -f "$cur" ] || continue
		name=$(<"$cur") || continue
		age=$(($(date +%s) - $(stat -c %Y "$cur")))
		if [ "$age" -gt $(($(budget_of "$name") + 120)) ]; then
			log "mutants: guest stuck in $name for ${age}s: stopping it"
			kill_tree "$lane"
			break
		fi
	done
	wait "$lane" || true
	grep -aE '^# (mutant|baseline)' "$payload/run.log" 2>/dev/null | tail -n +$((shown + 1)) |
		sed 's/^# //' >&2 || true
	if [ -f "$payload/state/current" ]; then
		name=$(<"$payload/state/current")
		if [ ! -f "$payload/state/$name" ]; then
			echo "killed: the guest died or hung (see $blog)" >"$payload/state/$name"
			log "mutants: $name took the guest down"
		fi
		rm -f "$payload/state/current"
	fi
	if [ ! -f "$payload/state/baseline" ]; then
		tail -30 "$blog" >&2
		die "the real driver did not get through its tests (guest log $blog): run invalid"
	fi
	if [ "$(<"$payload/state/baseline")" != ok ]; then
		echo "baseline: $(<"$payload/state/baseline")"
		echo "the real driver fails the mutants' tests (see $payload/logs/baseline.log): run invalid"
		exit 1
	fi
	after=$(find "$payload/state" -type f | wc -l)
	if [ "$after" = "$before" ]; then
		tail -30 "$blog" >&2
		die "boot $boots made no progress (see $blog)"
	fi
done

# ------------------------------------------------------------------ verdict
applied=0 killed=0 survived=0 notrun=0 survivors=()
echo
for i in "${sel[@]}"; do
	n=${names[$i]}
	r=$(cat "$payload/state/$n" 2>/dev/null || echo "not run")
	case "$r" in
	killed*)
		applied=$((applied + 1)) killed=$((killed + 1))
		printf 'killed    %-36s %s\n' "$n" "${r#killed: }"
		;;
	survived*)
		applied=$((applied + 1)) survived=$((survived + 1))
		survivors+=("$n")
		printf 'SURVIVED  %-36s %s\n' "$n" "${bugs[$i]}"
		;;
	*)
		notrun=$((notrun + 1))
		printf 'NOT RUN   %s\n' "$n"
		;;
	esac
done
[ "$notrun" = 0 ] || echo "mutants: $notrun not run"
line="mutants: $applied applied, $killed killed, $survived survived"
if [ "$survived" -gt 0 ]; then
	echo "$line: ${survivors[*]}"
else
	echo "$line"
fi
[ "$survived" = 0 ] && [ "$notrun" = 0 ]
