#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check: provision, lint, build the driver per lane and the kselftests,
# run them in a QEMU guest per lane, print per-lane and total counts.
#
#   LANES="stock full stock-7.3"  lanes to run (make check LANES=stock):
#                       stock and full boot 6.12, stock-7.3 Debian's 7.3
#   QEMU_LANES="stock full"  lanes of the real-client run (check-qemu.sh);
#                       default: LANES
#   SKIP_LINT=1         skip the lint step
#   SKIP_PEER=1         skip the peer run (mtty) after the full lane
#   SKIP_QEMU=1         skip the real-client run (make check-qemu)
#   PEER_TIMEOUT=360    seconds for the peer guest (after an mtty oops it
#                       never powers off; its score is out by then)
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
	rm -rf "$payload"
	mkdir -p "$payload/tests"
	cp "$(build_module "$kdir" "$obj")" "$payload/"
	cp -r "$build"/tests/. "$payload/tests/"
	cp "$here/guest-tests.sh" "$payload/run.sh"
	cp "$here/conformance.sh" "$here/tap.sh" "$payload/"

	log "lane $lane: booting"
	set +e
	VM_APPEND="${VM_APPEND:-}${MDV_RUN:+ MDV_RUN=$MDV_RUN}" \
		"$here/run-lane.sh" "$lane" "$payload" | tee "$build/$lane/result.log"
	lrc=${PIPESTATUS[0]}
	set -e
	line=$(grep -E "^lane $lane: [0-9]+ passed" "$build/$lane/result.log" | tail -1)
	if [ -z "$line" ]; then
		line="lane $lane: 0 passed, 1 failed, 0 skipped"
		lrc=1
	fi
	summary+=("$line")
	read -r p f s < <("$here/tap.sh" numbers "$line")
	if [ "$p" = 0 ]; then
		echo "lane $lane: no test passed (every test skipped?)"
		f=$((f + 1)) lrc=1
		line="lane $lane: $p passed, $f failed, $s skipped"
		summary[-1]=$line
	fi
	pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
	[ "$lrc" = 0 ] || rc=1
done

# Peer: the conformance suite against the upstream mtty sample, in a boot
# of its own of the full-lane kernel. Informative: its failures (and the
# kernel reports the sample causes) are listed, never counted.
peer_lines=()
if [[ " $LANES " == *" full "* ]] && [ -z "${SKIP_PEER:-}" ] &&
	{ [ -z "${MDV_RUN:-}" ] || [ "$MDV_RUN" = conformance ]; }; then
	log "peer: mtty conformance run"
	set +e
	LANE_LABEL=peer-mtty VM_TIMEOUT=${PEER_TIMEOUT:-360} \
		VM_APPEND="${VM_APPEND:-} MDV_RUN=peer" \
		"$here/run-lane.sh" full "$build/full/payload" >"$build/peer.log" 2>&1
	set -e
	grep -aE '^(conformance mtty|# conformance mtty failed)' "$build/peer.log" |
		sed 's/^/  /' || true
	mapfile -t peer_lines < <(grep -aE '^conformance mtty: ' "$build/peer.log")
	if grep -aq 'kernel report in guest log' "$build/peer.log"; then
		echo "  peer: the mtty sample caused kernel reports (see $build/peer.log):"
		# a report may be none of these (a panic at boot): not an error here
		grep -aE '\] (BUG|Oops|WARNING|Kernel panic)' "$build/peer.log" |
			head -3 | sed 's/^/    /' || true
	fi
fi

# The real client: QEMU 10 migrates a VM with a mockdev device assigned,
# inside each lane's kernel (tools/testing/qemu/check-qemu.sh)
QEMU_LANES=${QEMU_LANES:-$LANES}
if [ -z "${SKIP_QEMU:-}" ] && [ -z "${MDV_RUN:-}" ] && [ -n "${QEMU_LANES// /}" ]; then
	log "check-qemu: QEMU 10 as the client"
	set +e
	QEMU_LANES="$QEMU_LANES" bash "$top/tools/testing/qemu/check-qemu.sh" 2>&1 |
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

echo
# figures the reliability and conformance tests print, as they printed them
for lane in $LANES; do
	[ -f "$build/$lane/result.log" ] || continue
	"$here/tap.sh" figures "$build/$lane/result.log" |
		if [ "$lane" = full ]; then cat; else sed "s/^/[$lane] /"; fi || true
done
grep -aE '^qemu-migration' "$build/qemu.log" 2>/dev/null | awk '!seen[$0]++' || true
[ ${#peer_lines[@]} -gt 0 ] && printf '%s (informative)\n' "${peer_lines[@]}"
printf '%s\n' "${summary[@]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$rc" = 0 ] && [ "$fail" = 0 ]
