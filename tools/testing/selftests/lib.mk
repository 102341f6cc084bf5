# SPDX-License-Identifier: GPL-2.0
# Our tree carries no kselftest framework: this file stands where a suite's
# `include ../../lib.mk` looks for the kernel's tools/testing/selftests/lib.mk.
# It finds a kernel selftests tree, sets what the kernel's lib.mk would take
# from the kernel tree around it, includes it, and points lib.mk's selfdir
# (kselftest_harness.h, kselftest/runner.sh) at that tree.
#
# Variables: ksft.mk.
include $(dir $(lastword $(MAKEFILE_LIST)))ksft.mk
include $(KSFT_SRC)/lib.mk
# lib.mk found itself twice in MAKEFILE_LIST (this file and its own)
selfdir := $(abspath $(KSFT_SRC))
top_srcdir := $(abspath $(KSFT_SRC)/../../..)
CFLAGS += -I$(selfdir)
