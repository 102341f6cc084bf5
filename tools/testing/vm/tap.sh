#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The one TAP reader of the lanes (host: run-lane.sh, check.sh; guest:
# conformance.sh, with busybox awk). It reads kselftest TAP as
# run_kselftest.sh nests it: a suite's own TAP prefixed with "# " under the
# runner's "ok N selftests: DIR: BINARY" line; plain TAP (no nesting) reads
# the same way.
#
#   tap.sh counts  [FILE]  "P F S N": passed, failed, skipped test cases and
#                          N planned but never reported (a killed run)
#   tap.sh line LABEL [FILE]  "LABEL: P passed, F failed, S skipped"
#   tap.sh skips   [FILE]  the skipped cases' result lines, un-nested
#                          ("ok 3 name # SKIP reason")
#   tap.sh failed  [FILE]  the failed cases' result lines, un-nested
#   tap.sh figures [FILE]  the figure lines the tests print (fuzz:, faults:,
#                          stream-fuzz:, conformance X:, # dma exactness:),
#                          un-nested
#   tap.sh numbers LINE    "P F S" of a "LABEL: P passed, F failed, S skipped"
#
# What counts: every result line that has no nested results under it (a
# test case, or a binary that printed no TAP of its own). A result line with
# nested results counts only when it failed while none of its cases did
# (the binary crashed, timed out or exited non-zero): one failure.
# "# SKIP" after the name makes a skip, whether "ok" or "not ok".
set -u
mode=${1:-}
shift || true

if [ "$mode" = numbers ]; then
	echo "$1" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/'
	exit 0
fi
label=
if [ "$mode" = line ]; then
	label=$1
	shift
fi
case "$mode" in
counts | line | skips | failed | figures) ;;
*)
	sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
	;;
esac

tr -d '\r' <"${1:-/dev/stdin}" | awk -v mode="$mode" -v label="$label" '
function flush(d) {
	if (plan[d] > seen[d])
		nr += plan[d] - seen[d]
	plan[d] = 0
	seen[d] = 0
}
{
	line = $0
	depth = 0
	while (substr(line, 1, 2) == "# ") {
		line = substr(line, 3)
		depth++
	}
	if (mode == "figures") {
		fig = "^(fuzz|faults|stream-fuzz|conformance [^:]+|# dma exactness[^:]*): "
		if ($0 ~ fig)
			print $0
		else if (substr($0, 1, 2) == "# " && substr($0, 3) ~ fig)
			print substr($0, 3)
		next
	}
	if (line ~ /^1\.\.[0-9]+/) {
		flush(depth)
		plan[depth] = substr(line, 4) + 0
		next
	}
	if (line !~ /^(not )?ok [0-9]+/)
		next
	seen[depth]++
	skip = line ~ /#[ \t]*[Ss][Kk][Ii][Pp]/
	bad = !skip && line ~ /^not ok/
	if (kids[depth + 1]) {
		# a parent: its cases were counted
		if (bad && !kidbad[depth + 1]) {
			f++
			if (mode == "failed")
				print line
		}
		flush(depth + 1)
	} else if (skip) {
		s++
		if (mode == "skips")
			print line
	} else if (bad) {
		f++
		if (mode == "failed")
			print line
	} else {
		p++
	}
	kids[depth + 1] = 0
	kidbad[depth + 1] = 0
	kids[depth]++
	if (bad)
		kidbad[depth]++
}
END {
	for (d in plan)
		flush(d)
	if (mode == "counts")
		printf "%d %d %d %d\n", p, f, s, nr
	else if (mode == "line")
		printf "%s: %d passed, %d failed, %d skipped\n", label, p, f, s
}'
