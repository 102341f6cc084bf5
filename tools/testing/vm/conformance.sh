#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the device-agnostic migration conformance suite against two devices
# (PCI addresses or mdev uuids) and print
#   conformance <driver>: N passed, N failed, N skipped, N not reached
# followed by the failed tests' names.
#
#   conformance.sh [--peer] BINARY DEV [DEV]
#   conformance.sh --runner RUN_KSELFTEST COLLECTION:TEST DEV [DEV]
#
# --peer: the run is informative (e.g. the upstream mtty sample): its TAP is
# shown with a "# <driver>: " prefix so a lane does not count it. The binary
# runs directly, so that a hard kill reaches every task it left.
# --runner: the suite runs through the kernel's run_kselftest.sh, with its
# collection's settings timeout; its TAP comes nested under the runner's.
set -u
peer= runner=
[ "${1:-}" = --peer ] && { peer=1; shift; }
[ "${1:-}" = --runner ] && { runner=$2; shift 2; }
bin=$1
shift
[ $# -ge 1 ] || { echo "usage: $0 [--peer] BINARY DEV [DEV] | --runner RUN_KSELFTEST COLLECTION:TEST DEV [DEV]" >&2; exit 2; }
dev=$1
drv=$(basename "$(readlink "/sys/bus/pci/devices/$dev/driver" 2>/dev/null ||
	readlink "/sys/bus/mdev/devices/$dev/driver" 2>/dev/null || echo unknown)")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# A driver that oopses leaves tasks stuck in the kernel: bound the run and
# count what it reported. Tests it never reached say nothing about the
# driver either way: they are reported as "not reached", apart from the
# failures; for our own driver (no --peer) they still fail the lane.
# Output goes to a file, not a pipe: a stuck test child would hold a pipe
# open forever.
# With the runner, its own timeout (the collection's settings) comes first
# and reports; the hard kill only ends a run stuck in the kernel.
if [ -n "$runner" ]; then
	# appended: the runner reopens its stdout for the suite's TAP (fd 4,
	# O_APPEND); a stdout with its own offset would write over that TAP
	VFIO_MIG_DEVS="$*" timeout -s KILL "${CONF_TIMEOUT:-960}" "$runner" -t "$bin" >>"$out" 2>&1
else
	VFIO_MIG_DEVS="$*" timeout -s KILL "${CONF_TIMEOUT:-900}" "$bin" >"$out" 2>&1
fi
if [ -n "$peer" ]; then sed "s/^/# $drv: /" "$out"; else cat "$out"; fi
read -r p f s nr < <("$(dirname "$0")/tap.sh" counts "$out")
if [ "$nr" -gt 0 ]; then
	echo "# conformance $drv: $nr tests never ran (the run was stopped)"
fi
echo "conformance $drv: $p passed, $f failed, $s skipped, $nr not reached"
"$(dirname "$0")/tap.sh" failed "$out" |
	sed -E "s/^not ok [0-9]+ /# conformance $drv failed: /"
[ "$f" = 0 ] && [ "$nr" = 0 ]
