# SPDX-License-Identifier: GPL-2.0
# The one place that pins the guest kernel. Override on the command line,
# e.g. `make check DEB_KVER=6.12.115-2~deb12u1 DEB_KABI=6.12.115+deb12`.
DEB_KVER ?= 6.12.117-1~deb12u1
DEB_KABI ?= 6.12.117+deb12
