#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check: provision, lint, build the driver per lane and the kselftests,
# run them in a QEMU guest per lane, print per-lane and total counts.
#
#   LANES="stock full stock-7.3"  lanes to run (make check LANES=stock):
#                       stock and full boot 6.12, stock-7.3 Debian's 7.3
#   QEMU_LANES="stock full"  lanes of the real-client run (check-qemu.sh);
#                       default: LANES
#   MDV_QEMU_SCENARIOS="one multi multifd mismatch reinit"  its QEMU 11.1
#                       cases (check-qemu.sh alone also runs stopcopy)
#   SKIP_LINT=1         skip the lint step
#   SKIP_PEER=1         skip the peer run (mtty) after the full lane
#   CHECK_SERIAL=1      one guest at a time (by default the full lane runs
#                       in the background while the other guests run)
#   SKIP_QEMU=1         skip the real-client run (make check-qemu)
#   PEER_TIMEOUT=360    seconds for the peer guest; after an mtty oops it
#                       never powers off, so it is stopped 60 s after the
#                       first Oops or BUG (its score is out by then)
#   MDV_RUN=bench       run the benchmark instead of the tests (make bench)
#   MDV_RUN=demo        run the demo instead of the tests (make demo)
#   MDV_RUN=conformance run only the conformance suite (make conformance)
# plus everything run-lane.sh reads (ACCEL, VM_MEM, VM_TIMEOUT, ...).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
. "$here/lib.sh"
LANES=${LANES:-stock full stock-7.3}
build="$top/build"

bash "$here/deps.sh"
cache=$("$here/fetch-kernel.sh")
src="$cache/src/linux-source-6.12"

hdr=$(uapi_headers "$src")

[ -n "${SKIP_LINT:-}" ] || bash "$here/lint.sh"

# the kselftests and the engine, as a kselftest install (run_kselftest.sh,
# kselftest-list.txt, vfio/migration/, vfio/mockdev/) in $build/tests
rm -rf "$build/tests" "$build/ksft" "$build/qemu.log"
make -s -C "$top/tools/testing/selftests" O="$build/ksft" \
	KSFT_INSTALL_PATH="$build/tests" KHDR_INCLUDES="-isystem $hdr/include" \
	KSFT_SRC="$src/tools/testing/selftests" install >/dev/null

pass=0 fail=0 skip=0 rc=0 summary=()
for lane in $LANES; do
	kdir=$(lane_kdir "$lane")
	# out-of-tree builds write next to the sources: one copy per lane
	obj="$build/$lane/obj" payload="$build/$lane/payload"
	rm -rf "$payload" "$build/$lane/rc"
	mkdir -p "$payload/tests"
	cp "$(build_module "$kdir" "$obj")" "$payload/"
	cp -r "$build"/tests/. "$payload/tests/"
	cp "$here/guest-tests.sh" "$payload/run.sh"
	cp "$here/conformance.sh" "$here/tap.sh" "$payload/"
done
# the peer boots the full lane's kernel and payload, in a directory of
# its own: the guest writes its logs there
peer=
if [[ " $LANES " == *" full "* ]] && [ -z "${SKIP_PEER:-}" ] &&
	{ [ -z "${MDV_RUN:-}" ] || [ "$MDV_RUN" = conformance ]; }; then
	peer=1
	rm -rf "$build/peer"
	mkdir -p "$build/peer"
	cp -r "$build/full/payload" "$build/peer/"
fi

# run_lane LANE [bg]: boot it; its output in LANE/result.log (and on ours
# unless bg), run-lane.sh's exit status in LANE/rc
run_lane() {
	local st
	log "lane $1: booting${2:+ (in the background)}"
	set +e
	if [ -n "${2:-}" ]; then
		VM_APPEND="${VM_APPEND:-}${MDV_RUN:+ MDV_RUN=$MDV_RUN}" \
			"$here/run-lane.sh" "$1" "$build/$1/payload" >"$build/$1/result.log" 2>&1
		st=$?
	else
		VM_APPEND="${VM_APPEND:-}${MDV_RUN:+ MDV_RUN=$MDV_RUN}" \
			"$here/run-lane.sh" "$1" "$build/$1/payload" | tee "$build/$1/result.log"
		st=${PIPESTATUS[0]}
	fi
	set -e
	echo "$st" >"$build/$1/rc"
}

# Peer: the conformance suite against the upstream mtty sample, in a boot
# of its own of the full-lane kernel. Informative: its failures (and the
# kernel reports the sample causes) are listed, never counted.
run_peer() {
	log "peer: mtty conformance run"
	LANE_LABEL=peer-mtty VM_TIMEOUT=${PEER_TIMEOUT:-360} VM_OOPS_GRACE=60 \
		VM_APPEND="${VM_APPEND:-} MDV_RUN=peer" \
		"$here/run-lane.sh" full "$build/peer/payload" >"$build/peer.log" 2>&1 || true
}

# The full lane (KASAN, lockdep, kmemleak) takes most of make check's time,
# mostly on one of its guest's CPUs: with other guests to boot (the other
# lanes, the peer, the real client) it runs in the background meanwhile,
# so the two host CPUs both work. CHECK_SERIAL=1: one guest at a time;
# so do make bench and make demo, whose figures want a quiet host.
bg=
if [ -z "${CHECK_SERIAL:-}" ] && [[ " $LANES " == *" full "* ]] &&
	{ [ -z "${MDV_RUN:-}" ] || [ "$MDV_RUN" = conformance ]; } &&
	{ [ "$LANES" != full ] || [ -n "$peer" ] ||
		{ [ -z "${SKIP_QEMU:-}" ] && [ -z "${MDV_RUN:-}" ]; }; }; then
	# the peer after it, on the same side: the foreground has more
	# guests to run (the other lanes, the real client)
	{
		run_lane full bg
		[ -z "$peer" ] || run_peer
	} &
	bg=$!
fi
for lane in $LANES; do
	[ -n "$bg" ] && [ "$lane" = full ] && continue
	run_lane "$lane"
done
[ -z "$peer" ] || [ -n "$bg" ] || run_peer

# The real client: QEMU 10.0 and 11.1 migrate VMs with mockdev devices
# assigned, inside each lane's kernel (tools/testing/qemu/check-qemu.sh;
# MDV_QEMU_SCENARIOS picks 11.1's scenarios)
QEMU_LANES=${QEMU_LANES:-$LANES}
if [ -z "${SKIP_QEMU:-}" ] && [ -z "${MDV_RUN:-}" ] && [ -n "${QEMU_LANES// /}" ]; then
	log "check-qemu: QEMU 10.0 and 11.1 as the client"
	set +e
	# stopcopy (two 256 MiB migrations inside the downtime) is
	# make check-qemu's only: the budget
	QEMU_LANES="$QEMU_LANES" \
		MDV_QEMU_SCENARIOS=${MDV_QEMU_SCENARIOS:-one multi multifd mismatch reinit} \
		bash "$top/tools/testing/qemu/check-qemu.sh" 2>&1 |
		tee "$build/qemu.log"
	qrc=${PIPESTATUS[0]}
	set -e
	mapfile -t qlines < <(grep -aE '^lane qemu-[a-z0-9.-]+: [0-9]+ passed' "$build/qemu.log" | sort -u)
	[ ${#qlines[@]} -gt 0 ] || { qlines=("lane qemu: 0 passed, 1 failed, 0 skipped"); qrc=1; }
	for line in "${qlines[@]}"; do
		summary+=("$line")
		read -r p f s < <("$here/tap.sh" numbers "$line")
		pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	done
	[ "$qrc" = 0 ] || rc=1
fi

if [ -n "$bg" ]; then
	log "lane full: waiting for the background guest${peer:+ and the peer}"
	wait "$bg" || true
	cat "$build/full/result.log"
fi
peer_lines=()
if [ -n "$peer" ]; then
	grep -aE '^(conformance mtty|# conformance mtty failed)' "$build/peer.log" |
		sed 's/^/  /' || true
	# the console's line ends carry a CR
	mapfile -t peer_lines < <(grep -aE '^conformance mtty: ' "$build/peer.log" | tr -d '\r')
	if grep -aq 'kernel report in guest log' "$build/peer.log"; then
		echo "  peer: the mtty sample caused kernel reports (see $build/peer.log):"
		# a report may be none of these (a panic at boot): not an error here
		grep -aE '\] (BUG|Oops|WARNING|Kernel panic)' "$build/peer.log" |
			head -3 | sed 's/^/    /' || true
	fi
fi
# each lane's verdict, in LANES order, then the real client's
lane_summary=()
for lane in $LANES; do
	lrc=$(cat "$build/$lane/rc" 2>/dev/null || echo 1)
	line=$(grep -aE "^lane $lane: [0-9]+ passed" "$build/$lane/result.log" 2>/dev/null | tail -1)
	if [ -z "$line" ]; then
		line="lane $lane: 0 passed, 1 failed, 0 skipped"
		lrc=1
	fi
	read -r p f s < <("$here/tap.sh" numbers "$line")
	if [ "$p" = 0 ]; then
		echo "lane $lane: no test passed (every test skipped?)"
		f=$((f + 1)) lrc=1
		line="lane $lane: $p passed, $f failed, $s skipped"
	fi
	lane_summary+=("$line")
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	[ "$lrc" = 0 ] || rc=1
done
summary=("${lane_summary[@]}" "${summary[@]}")

echo
# figures the reliability and conformance tests print, as they printed them
for lane in $LANES; do
	[ -f "$build/$lane/result.log" ] || continue
	"$here/tap.sh" figures "$build/$lane/result.log" |
		if [ "$lane" = full ]; then cat; else sed "s/^/[$lane] /"; fi || true
done
grep -aE '^qemu-migration' "$build/qemu.log" 2>/dev/null | awk '!seen[$0]++' || true
# Why a run failed, here at the end, which is all a CI page may show: its
# failed tests and the runner's own verdicts (timeout, kernel report ...)
for f in "$build"/*/result.log "$build"/qemu/*/result.log; do
	[ -f "$f" ] || continue
	grep -aE '^lane [^:]+: [0-9]+ passed, 0 failed' "$f" >/dev/null && continue
	echo "failed: ${f#"$build"/}:"
	grep -aE '^ *not ok |^lane [^:]+: |^  \| ' "$f" | grep -avE '^lane [^:]+: [0-9]+ passed' |
		head -15 | sed 's/^/  /' || true
done
[ ${#peer_lines[@]} -gt 0 ] && printf '%s (informative)\n' "${peer_lines[@]}"
printf '%s\n' "${summary[@]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$rc" = 0 ] && [ "$fail" = 0 ]
