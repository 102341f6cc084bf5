# SPDX-License-Identifier: GPL-2.0
# The one place that pins the guest kernel: the Makefile includes it and
# the scripts read it through lib.sh (a `NAME ?= value` line each). Override
# on the command line, e.g.
# `make check DEB_KVER=6.12.115-2~deb12u1 DEB_KABI=6.12.115+deb12`, or in the
# environment of a script.
DEB_KVER ?= 6.12.117-1~deb12u1
DEB_KABI ?= 6.12.117+deb12
