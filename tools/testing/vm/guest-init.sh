#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# /init of the test VM (run by busybox sh; put into the initramfs by
# mkinitramfs.sh). Sets up the guest, runs the payload's run.sh from the 9p
# share "payload" and powers off. The host (run-lane.sh) reads the console.
#
# What run.sh gets:
#   cwd /payload (the host's PAYLOAD_DIR, read-write), stdin /dev/null,
#   stdout+stderr to the console and to /payload/run.log;
#   LANE=stock|full (from the kernel command line), KREL=$(uname -r),
#   MTTY_KO=/lib/modules-extra/mtty.ko on the full lane (the mtty sample,
#   copied in but not loaded; whatever it depends on is loaded), empty on
#   the stock lane (Debian does not ship it).
#   The lane's modules (vfio*, mdev, 9p, veth, sch_* ...) are already loaded;
#   /lib/modules/$KREL has a modules.dep, so busybox modprobe works too.
#   /lib/mockdev/guest-lib.sh: helpers for bash scripts (bind the edu
#   functions to a driver, set devlink params); `. /lib/mockdev/guest-lib.sh`.
# Last lines on the console: the kmemleak report (full lane) and
#   MOCKDEV-GUEST-DONE rc=<exit code of run.sh>
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb
: "${LANE:=unknown}"
export LANE

mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
[ -d /sys/fs/cgroup ] && mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
hostname mockdev-vm
ip link set lo up

KREL=$(uname -r)
export KREL
echo "MOCKDEV-GUEST: kernel $KREL, lane $LANE, $(nproc) cpus"

# modules, in dependency order (computed by mkinitramfs.sh)
order=/lib/modules/$KREL/mockdev-load-order
if [ -f "$order" ]; then
	while read -r m; do
		name=${m##*/}
		name=${name%.ko}
		grep -q "^$(echo "$name" | tr - _) " /proc/modules && continue
		insmod "/lib/modules/$KREL/$m" || echo "MOCKDEV-GUEST: insmod $m failed"
	done <"$order"
fi
MTTY_KO=
[ -f /lib/modules-extra/mtty.ko ] && MTTY_KO=/lib/modules-extra/mtty.ko
export MTTY_KO

kml=/sys/kernel/debug/kmemleak
if [ "$LANE" = full ] && [ -e $kml ] && [ "${MOCKDEV_KMEMLEAK_CLEAR:-1}" = 1 ]; then
	# Forget what boot itself leaked (or seems to): only leaks that appear
	# while run.sh runs are reported at the end. Costs ~30 s under TCG;
	# VM_APPEND=MOCKDEV_KMEMLEAK_CLEAR=0 skips it.
	echo "MOCKDEV-GUEST: kmemleak baseline scan"
	echo scan >$kml
	echo clear >$kml
fi

rc=125
mkdir -p /payload
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 payload /payload; then
	echo "MOCKDEV-GUEST: cannot mount the 9p share 'payload'"
elif [ ! -f /payload/run.sh ]; then
	echo "MOCKDEV-GUEST: /payload/run.sh missing"
	rc=127
else
	# shellcheck disable=SC3040 # busybox ash has pipefail
	set -o pipefail
	(cd /payload && exec bash ./run.sh </dev/null 2>&1) | tee /payload/run.log
	rc=$?
	# shellcheck disable=SC3040
	set +o pipefail
fi

if [ "$LANE" = full ] && [ -e $kml ]; then
	# kmemleak reports an object only once its checksum was stable over two
	# scans and it is older than 5 s.
	echo "MOCKDEV-GUEST: kmemleak scan"
	echo scan >$kml
	sleep 5
	echo scan >$kml
	cat $kml
fi
grep -q " /payload " /proc/mounts && dmesg >"/payload/dmesg-$LANE.log" 2>/dev/null
sync
echo "MOCKDEV-GUEST-DONE rc=$rc"
poweroff -f
echo o >/proc/sysrq-trigger
sleep 10
