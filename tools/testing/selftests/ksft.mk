# SPDX-License-Identifier: GPL-2.0
# Where the kselftest framework comes from (our tree carries none); read by
# lib.mk and Makefile here.
#
#   KSFT_SRC       the kernel's tools/testing/selftests (KSFT_DIR is an alias;
#                  default: the linux-source of the pinned Debian kernel,
#                  unpacked by tools/testing/vm/fetch-kernel.sh)
#   KHDR_INCLUDES  the 6.12 uAPI headers (default: the headers_install that
#                  tools/testing/vm/lib.sh's uapi_headers caches)
#   MDV_TOP        set here: the top of our tree (include/mockdev/)
MDV_TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/../../..)
include $(MDV_TOP)/tools/testing/vm/versions.mk
MOCKDEV_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mockdev-vfio-pci
KSFT_SRC ?= $(or $(KSFT_DIR),$(MOCKDEV_CACHE)/deb-$(DEB_KVER)/src/linux-source-6.12/tools/testing/selftests)
KHDR_INCLUDES ?= -isystem $(MOCKDEV_CACHE)/uapi-$(DEB_KVER)/include
export KSFT_SRC KHDR_INCLUDES

ifeq ($(wildcard $(KSFT_SRC)/lib.mk),)
$(error no kernel selftests at KSFT_SRC=$(KSFT_SRC): run tools/testing/vm/fetch-kernel.sh or set KSFT_SRC)
endif
