# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shell helpers for the scripts that run in a test guest (a payload's run.sh
# and what it calls). mkinitramfs.sh installs this file in every lane's
# initramfs as /lib/mockdev/guest-lib.sh; in bash:
#
#	. /lib/mockdev/guest-lib.sh
#
#   guest_edu_functions              the QEMU edu functions (1234:11e8), one
#                                    PCI address a line, in address order
#   guest_edu_bind DRIVER BDF...     bind those functions to DRIVER
#   guest_edu_bind '' BDF...         unbind them, clear their driver_override
#   guest_bound DRIVER               the functions DRIVER has, one a line
#   guest_param_set BDF NAME=VALUE...   set devlink params of pci/BDF
#
# Names start with guest_: these are test helpers, not the driver's mdv_*.

# guest_edu_functions: every edu function of the guest, bound or not
guest_edu_functions() {
	local d
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor")" = 0x1234 ] && [ "$(cat "$d/device")" = 0x11e8 ] &&
			echo "${d##*/}"
	done
	return 0
}

# guest_edu_bind DRIVER BDF...: unbind each function from any other driver,
# set its driver_override to DRIVER and probe it, so that DRIVER and no
# other gets it (also across a reload of DRIVER: insmod binds the functions
# whose override names it). Returns non-zero, naming them on stderr, if a
# function is not bound to DRIVER afterwards. With DRIVER '' the functions
# end up unbound, and a later insmod leaves them alone.
guest_edu_bind() {
	local drv=$1 bdf d cur rc=0
	shift
	for bdf in "$@"; do
		d=/sys/bus/pci/devices/$bdf
		cur=$(readlink "$d/driver" 2>/dev/null)
		cur=${cur##*/}
		[ -n "$cur" ] && [ "$cur" != "$drv" ] && echo "$bdf" >"$d/driver/unbind"
		echo "$drv" >"$d/driver_override"
		[ -n "$drv" ] && [ "$cur" != "$drv" ] && echo "$bdf" >/sys/bus/pci/drivers_probe
	done
	[ -n "$drv" ] || return 0
	for bdf in "$@"; do
		cur=$(readlink "/sys/bus/pci/devices/$bdf/driver" 2>/dev/null)
		if [ "${cur##*/}" != "$drv" ]; then
			echo "guest_edu_bind: $bdf is not bound to $drv (driver: ${cur##*/})" >&2
			rc=1
		fi
	done
	return $rc
}

# guest_bound DRIVER: the PCI functions bound to DRIVER, in address order
guest_bound() {
	local f
	for f in "/sys/bus/pci/drivers/$1"/*:*; do
		[ -e "$f" ] && echo "${f##*/}"
	done
	return 0
}

# guest_param_set BDF NAME=VALUE...: set devlink params of pci/BDF in order,
# cmode runtime (mockdev-vfio-pci's knobs change only while no VMM holds the
# device); stops at the first one devlink refuses (its message on stderr).
guest_param_set() {
	local bdf=$1 kv
	shift
	for kv in "$@"; do
		devlink dev param set "pci/$bdf" name "${kv%%=*}" value "${kv#*=}" cmode runtime ||
			{ echo "guest_param_set: pci/$bdf $kv refused" >&2; return 1; }
	done
}
