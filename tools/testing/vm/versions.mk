# SPDX-License-Identifier: GPL-2.0
# The one place that pins the guest kernels: the Makefile includes it and
# the scripts read it through lib.sh (a `NAME ?= value` line each). Override
# on the command line, e.g.
# `make check DEB_KVER=6.12.115-2~deb12u1 DEB_KABI=6.12.115+deb12`, or in the
# environment of a script.
#
# 6.12 (bookworm): the stock and full lanes, lint, DKMS, the uAPI headers
DEB_KVER ?= 6.12.117-1~deb12u1
DEB_KABI ?= 6.12.117+deb12
# 7.3 (trixie-backports): the stock-7.3 lane, lint, DKMS
DEB73_KVER ?= 7.3.4-1~bpo13+1
DEB73_KABI ?= 7.3.4+deb13
