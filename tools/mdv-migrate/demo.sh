#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo, inside the guest: reproduce what the seeds compared, with
# mdv_migrate between two network namespaces joined by a veth pair whose
# bandwidth tc shapes, on 4 source and 4 destination mock devices, and
# predict each downtime before judging it.
#
#   seed 000  one device modelled on the seed's mlx5 (300 MiB of state,
#             1480 ms destination allocation), three arms, same engine,
#             same knobs: stop-copy only; PRE_COPY, switchover on the
#             engine's convergence test (no switchover-ack); PRE_COPY with
#             switchover-ack. Headline: arm 2 / arm 3 (seed: 1900 / 420 ms).
#   seed 002  N = 1, 2, 4 dirtying devices with a quiesce latency each,
#             serial vs parallel arcs, RUNS runs each: median and min.
#
# Every downtime is predicted from what is known before it starts: the
# knobs below, the devices' MIG_DATA_SIZE and precopy info at the
# switchover (the engine reads them before its first stop arc), the tc
# rate, and arc costs and read/write rates from a separate micro-benchmark
# in this guest (mdv_bench arcs), never from the migration judged.
#
# Knobs (environment), defaults model the seed's device, see
# Documentation/mockdev-vfio-pci.rst, "make demo":
#   MDV_DEMO_RATE=200mbit        tc tbf rate of the link, both directions
#   MDV_DEMO_STATE_MB=300        seed 000: device state
#   MDV_DEMO_ALLOC_MS=1480       seed 000: destination allocation (once the
#                                initial image is loaded)
#   MDV_DEMO_QUIESCE_MS=100      seed 000: source quiesce latency
#   MDV_DEMO_RESUME_MS=300       seed 000: destination resume latency
#   MDV_DEMO_DIRTY=300           seed 000: pages/s the source rewrites
#   MDV_DEMO_N_STATE_MB=8        seed 002: state of each device
#   MDV_DEMO_N_QUIESCE_MS=250    seed 002: quiesce latency of each source
#   MDV_DEMO_N_DIRTY=60          seed 002: pages/s each source rewrites
#   MDV_DEMO_RUNS=3              seed 002: runs of each shape
#   MDV_DEMO_HZ=250              the guest kernel's CONFIG_HZ, for the
#                                prediction: a latency knob is an msleep()
# Output: the three tables and one "demo:" line; "ok 1"/"not ok 1" says
# whether the targets were met; a failed migration fails at once.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=../testing/vm/guest-lib.sh
. /lib/mockdev/guest-lib.sh
RATE=${MDV_DEMO_RATE:-200mbit}
STATE_MB=${MDV_DEMO_STATE_MB:-300}
ALLOC_MS=${MDV_DEMO_ALLOC_MS:-1480}
QUIESCE_MS=${MDV_DEMO_QUIESCE_MS:-100}
RESUME_MS=${MDV_DEMO_RESUME_MS:-300}
DIRTY=${MDV_DEMO_DIRTY:-300}
N_STATE_MB=${MDV_DEMO_N_STATE_MB:-8}
N_QUIESCE_MS=${MDV_DEMO_N_QUIESCE_MS:-250}
N_DIRTY=${MDV_DEMO_N_DIRTY:-60}
RUNS=${MDV_DEMO_RUNS:-3}
NCPU=$(grep -c '^processor' /proc/cpuinfo)
# the guest kernel's CONFIG_HZ (Debian's): the latency knobs are msleep()s
HZ=${MDV_DEMO_HZ:-250}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mapfile -t devs < <(guest_bound mockdev-vfio-pci)
if [ ${#devs[@]} -lt 8 ]; then
	echo "not ok 1 demo: need 8 functions bound, have ${#devs[@]}"
	exit 1
fi
src=("${devs[@]:0:4}") dst=("${devs[@]:4:4}")

all() { for d in "${devs[@]}"; do guest_param_set "$d" "$@"; done; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# ----- the costs, measured apart: mdv_bench arcs at each state size -----
# (first, while no migration runs; it sets its two devices' knobs to 0)
bench() {
	local line
	line=$(./mdv_bench arcs "$1" "$2" | grep '^arcs:') || {
		echo "not ok 1 demo: mdv_bench arcs $1 failed"
		exit 1
	}
	echo "$line"
}
# seed 002's devices are small and their arcs cheap: once is enough
b2=$(bench "$N_STATE_MB" 5)
echo "# $b2"

ip netns add mdvsrc
ip netns add mdvdst
ip link add mdv0 type veth peer name mdv1
ip link set mdv0 netns mdvsrc
ip link set mdv1 netns mdvdst
ip -n mdvsrc addr add 10.77.0.1/24 dev mdv0
ip -n mdvdst addr add 10.77.0.2/24 dev mdv1
for ns in mdvsrc mdvdst; do ip -n $ns link set lo up; done
ip -n mdvsrc link set mdv0 up
ip -n mdvdst link set mdv1 up
# shape both directions: the data flows src -> dst, acks back
tc -n mdvsrc qdisc add dev mdv0 root tbf rate "$RATE" burst 256kb latency 100ms
tc -n mdvdst qdisc add dev mdv1 root tbf rate "$RATE" burst 256kb latency 100ms
echo "# link: veth between netns mdvsrc and mdvdst, tc tbf $RATE, guest CPUs $NCPU"

# ip netns exec mounts the namespace's own sysfs over /sys, which hides
# debugfs, where the engine's mockdev verification hook reads each device's
# digest: mount it again there (ip netns exec runs in a mount namespace of
# its own, so the guest's mounts stay as they are).
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" sh -c \
		'mount -t debugfs debugfs /sys/kernel/debug && exec "$@"' sh "$@"
}

port=7700
# run N [flags...]: one migration of the first N source devices; prints its
# result line. Either side failing fails the demo, with the engine's words.
run() {
	local n=$1 s d dpid rc=0 drc=0
	shift
	s=$(IFS=,; echo "${src[*]:0:$n}")
	d=$(IFS=,; echo "${dst[*]:0:$n}")
	port=$((port + 1))
	in_ns mdvdst ./mdv_migrate dst --listen $port --devs "$d" "$@" \
		>"$tmp/dst.out" 2>"$tmp/dst.err" &
	dpid=$!
	in_ns mdvsrc ./mdv_migrate src --connect 10.77.0.2:$port --devs "$s" "$@" \
		>"$tmp/src.out" 2>"$tmp/src.err" || rc=$?
	wait $dpid || drc=$?
	if [ $rc != 0 ] || [ $drc != 0 ] || ! grep -q '^result: devices' "$tmp/src.out"; then
		echo "not ok 1 demo: migration of $n device(s) ${*:-stop-copy} failed (source exit $rc, destination exit $drc)"
		sed 's/^/# source: /' "$tmp/src.out" "$tmp/src.err"
		sed 's/^/# destination: /' "$tmp/dst.out" "$tmp/dst.err"
		exit 1
	fi
	grep '^result: devices' "$tmp/src.out"
}

# predict RESULT BENCH N PAR QUIESCE RESUME ALLOC DIRTY STATE_MB
# The downtime as the model says it, in ms, then its parts. Uses from the
# result line only what was read before the first stop arc (mode,
# sw_data_bytes: the devices' MIG_DATA_SIZE at the switchover; init_ago_ms
# and init_unsent: how long before it the initial data was written to the
# link, and how much of what was written the destination had not yet
# acknowledged then).
#   (each latency knob counts as the msleep() it is: whole jiffies, +1)
#   source arcs   per device: quiesce knob + the benchmark's stop arc
#                 (RUNNING -> STOP_COPY, or PRE_COPY -> STOP_COPY);
#                 parallel: one quiesce, the arc work shared by the CPUs
#   data          MIG_DATA_SIZE at the switchover, plus (PRE_COPY) the
#                 pages the device rewrites until its freeze ends its
#                 dirtying (distinct pages of DIRTY records), at the tc
#                 rate as TCP goodput (1448 payload bytes in 1514 on the
#                 wire), plus the first chunk's read and the last chunk's
#                 write (the pipeline's ends), at the benchmark's rates
#   allocation    the alloc knob, paid once the destination has loaded
#                 the whole initial image. stop-copy: after the data, in
#                 the downtime. PRE_COPY: it starts when the initial data
#                 reaches the destination (unsent bytes at the tc rate
#                 after it was written, init_ago_ms before the switchover)
#                 and runs while the source stops; the destination loads
#                 the residual data only after it. With the switchover-ack
#                 the allocation is over before the switchover.
#   destination   per device: the benchmark's RESUMING -> RUNNING + the
#                 resume knob; parallel as above
# stop-copy: src_arcs + data + alloc + dst; PRE_COPY: max(src_arcs + data,
# end of allocation) + dst
predict() {
	awk -v res=" $1" -v bench=" $2" -v n="$3" -v par="$4" -v q="$5" -v r="$6" \
		-v a="$7" -v d="$8" -v mb="$9" -v rate="$RATE" -v ncpu="$NCPU" -v hz="$HZ" '
	function f(s, k,   m) {
		if (!match(s, " " k "=[^ ]*"))
			return 0
		return substr(s, RSTART + length(k) + 2, RLENGTH - length(k) - 2)
	}
	# a latency knob is an msleep(): whole jiffies, one more than asked
	function lat(ms,   j) {
		if (ms <= 0)
			return 0
		j = int((ms * hz + 999) / 1000) + 1
		return j / hz
	}
	function bps(s,   v) {
		v = s + 0
		if (s ~ /gbit$/) return v * 1e9
		if (s ~ /mbit$/) return v * 1e6
		if (s ~ /kbit$/) return v * 1e3
		return v
	}
	BEGIN {
		mode = f(res, "mode")
		bytes = f(res, "sw_data_bytes")
		goodput = bps(rate) / 8 * 1448 / 1514
		npages = mb * 256
		share = int((n + ncpu - 1) / ncpu)
		arc = (mode == "stop-copy" ? f(bench, "running_to_stop_copy_ms") : \
		       f(bench, "precopy_to_stop_copy_ms")) / 1e3
		darc = f(bench, "resuming_to_running_ms") / 1e3
		ql = lat(q)
		src_s = par ? ql + arc * share : n * (ql + arc)
		dst_s = par ? lat(r) + darc * share : n * (lat(r) + darc)
		extra = 0
		for (i = 0; mode != "stop-copy" && d > 0 && i < n; i++) {
			# device i stops dirtying when its freeze begins
			t = par ? ql : i * (ql + arc) + ql
			# distinct pages among d*t random rewrites (no exp():
			# busybox awk may lack math)
			stay = 1
			for (j = 0; j < int(d * t + 0.5); j++)
				stay *= 1 - 1 / npages
			k = npages * (1 - stay)
			extra += k * (8 + 4096) + int((k + 63) / 64) * 24
		}
		chunk = 1048576
		first = (bytes + extra < chunk ? bytes + extra : chunk)
		data_s = (bytes + extra) / goodput + first * n / (f(bench, "read_mibs") * 1048576) + \
			 first * n / (f(bench, "write_mibs") * 1048576)
		if (mode == "stop-copy") {
			alloc_s = lat(a)
		} else {
			# when the allocation ends, from the switchover
			arrive = f(res, "init_unsent") / goodput - f(res, "init_ago_ms") / 1e3
			end = mode == "precopy+ack" ? 0 : arrive + lat(a)
			alloc_s = end > src_s + data_s ? end - (src_s + data_s) : 0
		}
		total = src_s + data_s + alloc_s + dst_s
		printf "%.0f src_arcs=%.0f data=%.0f alloc=%.0f dst=%.0f bytes=%.0f\n", \
		       total * 1e3, src_s * 1e3, data_s * 1e3, alloc_s * 1e3, \
		       dst_s * 1e3, bytes + extra
	}'
}
err() { awk -v p="$1" -v m="$2" 'BEGIN { printf "%.1f", (p - m) / m * 100 }'; }
abs() { awk -v x="$1" 'BEGIN { printf "%.1f", x < 0 ? -x : x }'; }

# ----- seed 000: three arms -----
# The arcs of a 300 MiB state are mostly its digests, CPU work that a busy
# host slows: the benchmark runs again right before each arm (it sets its
# devices' knobs, so the arm's are set after it).
seed000_knobs() {
	all state_size_mb="$N_STATE_MB" quiesce_latency_ms=0 resume_latency_ms=0 \
		alloc_latency_ms=0 dirty_rate=0 dma_rate=0 save_rate_mb=0
	for d in "${src[0]}" "${dst[0]}"; do
		guest_param_set "$d" state_size_mb="$STATE_MB"
	done
	guest_param_set "${src[0]}" quiesce_latency_ms="$QUIESCE_MS" dirty_rate="$DIRTY"
	guest_param_set "${dst[0]}" resume_latency_ms="$RESUME_MS" alloc_latency_ms="$ALLOC_MS"
}

declare -A meas pred parts line
for arm in stop-copy precopy precopy+ack; do
	case $arm in
	stop-copy) flags=() ;;
	precopy) flags=(--precopy) ;;
	precopy+ack) flags=(--initial-data) ;;
	esac
	b0=$(bench "$STATE_MB" 3)
	echo "# $b0"
	seed000_knobs
	line[$arm]=$(run 1 "${flags[@]}")
	echo "# ${line[$arm]}"
	p=$(predict "${line[$arm]}" "$b0" 1 0 "$QUIESCE_MS" "$RESUME_MS" "$ALLOC_MS" \
		"$DIRTY" "$STATE_MB")
	pred[$arm]=${p%% *} parts[$arm]=${p#* }
	meas[$arm]=$(field downtime_ms "${line[$arm]}")
done

echo
echo "# Seed 000: $STATE_MB MiB device state, $ALLOC_MS ms destination allocation,"
echo "#   quiesce $QUIESCE_MS ms, resume $RESUME_MS ms, dirty $DIRTY pages/s, link $RATE"
printf '# %-12s %11s %14s %14s %11s %10s %12s\n' arm downtime_ms precopy_bytes \
	residual_bytes precopy_ms converged bw_MiB/s
for arm in stop-copy precopy precopy+ack; do
	l=${line[$arm]}
	printf '# %-12s %11s %14s %14s %11s %10s %12s\n' "$arm" "${meas[$arm]}" \
		"$(field precopy_bytes "$l")" "$(field residual_bytes "$l")" \
		"$(field precopy_ms "$l")" "$(field converged "$l")" "$(field bw_mibs "$l")"
done
echo "# (seed: precopy 1900 ms, precopy+ack 420 ms, 4.5x. The destination pays"
echo "#  alloc_latency_ms once the initial image is loaded: without the ack the"
echo "#  source switches over before that, and the allocation is in the downtime)"
echo
echo "# Prediction (before the downtime: knobs, MIG_DATA_SIZE at the switchover,"
echo "#   tc rate, mdv_bench arcs; the parts in ms)"
printf '# %-12s %12s %11s %8s  %s\n' arm predicted_ms measured_ms error parts
worst=0
for arm in stop-copy precopy precopy+ack; do
	e=$(err "${pred[$arm]}" "${meas[$arm]}")
	printf '# %-12s %12s %11s %7s%%  %s\n' "$arm" "${pred[$arm]}" "${meas[$arm]}" "$e" \
		"${parts[$arm]}"
	worst=$(awk -v w="$worst" -v e="$(abs "$e")" 'BEGIN { print (e > w ? e : w) }')
done

# ----- seed 002: serial vs parallel arcs, residual data in each -----
all state_size_mb="$N_STATE_MB" quiesce_latency_ms=0 resume_latency_ms=0 \
	alloc_latency_ms=0 dirty_rate=0
for d in "${src[@]}"; do
	guest_param_set "$d" quiesce_latency_ms="$N_QUIESCE_MS" dirty_rate="$N_DIRTY"
done
declare -A med min npred
for n in 1 2 4; do
	for mode in serial parallel; do
		flag=(--precopy)
		par=0
		[ $mode = parallel ] && flag+=(--parallel) && par=1
		vals=() preds=()
		for ((k = 0; k < RUNS; k++)); do
			l=$(run $n "${flag[@]}")
			echo "# $l"
			vals+=("$(field downtime_ms "$l")")
			p=$(predict "$l" "$b2" $n $par "$N_QUIESCE_MS" 0 0 "$N_DIRTY" "$N_STATE_MB")
			preds+=("${p%% *}")
		done
		sorted=$(printf '%s\n' "${vals[@]}" | sort -n)
		med[$n.$mode]=$(sed -n "$(((RUNS + 1) / 2))p" <<<"$sorted")
		min[$n.$mode]=$(head -1 <<<"$sorted")
		npred[$n.$mode]=$(printf '%s\n' "${preds[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")
	done
done
echo
echo "# Seed 002: N devices, $N_STATE_MB MiB each, quiesce $N_QUIESCE_MS ms, dirty $N_DIRTY pages/s"
echo "#   each; downtime in ms over $RUNS runs (predicted: the runs' median)"
printf '# %-3s %11s %11s %11s %13s %13s %13s\n' N serial_med serial_min serial_pred \
	parallel_med parallel_min parallel_pred
for n in 1 2 4; do
	printf '# %-3s %11s %11s %11s %13s %13s %13s\n' $n "${med[$n.serial]}" \
		"${min[$n.serial]}" "${npred[$n.serial]}" "${med[$n.parallel]}" \
		"${min[$n.parallel]}" "${npred[$n.parallel]}"
done

a=${meas[stop-copy]} b=${meas[precopy]} c=${meas[precopy+ack]}
s=$(awk -v b="$b" -v c="$c" 'BEGIN { printf "%.2f", b / c }')
x=$(awk -v x="${med[4.serial]}" -v y="${med[1.serial]}" 'BEGIN { printf "%.2f", x / y }')
p=$(awk -v x="${med[4.parallel]}" -v y="${med[1.parallel]}" 'BEGIN { printf "%.2f", x / y }')
# seed 002's prediction, median against median, every N and shape
worst2=0
for n in 1 2 4; do
	for mode in serial parallel; do
		e=$(abs "$(err "${npred[$n.$mode]}" "${med[$n.$mode]}")")
		worst2=$(awk -v w="$worst2" -v e="$e" 'BEGIN { print (e > w ? e : w) }')
	done
done
e=$(awk -v w="$worst" 'BEGIN { printf "%.1f", w }')
e2=$(awk -v w="$worst2" 'BEGIN { printf "%.1f", w }')
echo
echo "demo: seed000 stop-copy $a ms, precopy $b ms, precopy+ack $c ms (B/C ${s}x, seed 4.5x); prediction error worst ${e}% (seed002 ${e2}%); seed002 serial N=4/N=1 ${x}x, parallel N=4/N=1 ${p}x"
missed=$(awk -v s="$s" -v e="$worst" -v e2="$worst2" -v x="$x" -v p="$p" 'BEGIN {
	if (s < 4.0) printf " S=%s<4.0", s
	if (e > 15) printf " E=%.1f%%>15%%", e
	if (e2 > 15) printf " E(seed002)=%.1f%%>15%%", e2
	if (x < 3.2) printf " X=%s<3.2", x
	if (p > 1.3) printf " P=%s>1.3", p
}')
if [ -z "$missed" ]; then
	echo "ok 1 demo targets (S >= 4.0, E <= 15% in each seed, X >= 3.2, P <= 1.3)"
else
	echo "not ok 1 demo targets (S >= 4.0, E <= 15% in each seed, X >= 3.2, P <= 1.3): missed$missed"
	exit 1
fi
