# SPDX-License-Identifier: GPL-2.0
# The generic VFIO migration test library, for whoever links it: a suite
# under tools/testing/selftests (after `include ../../lib.mk`) or a tool
# such as tools/mdv-migrate. As upstream's vfio/lib/libvfio.mk: needs
# OUTPUT, CC, CFLAGS (with KHDR_INCLUDES); gives LIBVFIO_MIG_O (objects to
# link), LIBVFIO_MIG_H (headers, for dependencies) and -I for vfio_mig.h.
LIBVFIO_MIG_SRCDIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
LIBVFIO_MIG_OUTPUT := $(OUTPUT)/libvfio_mig

LIBVFIO_MIG_C := vfio_mig.c
LIBVFIO_MIG_O := $(patsubst %.c,$(LIBVFIO_MIG_OUTPUT)/%.o,$(LIBVFIO_MIG_C))
LIBVFIO_MIG_H := $(wildcard $(LIBVFIO_MIG_SRCDIR)/include/*.h)
$(shell mkdir -p $(LIBVFIO_MIG_OUTPUT))

CFLAGS += -I$(LIBVFIO_MIG_SRCDIR)/include

$(LIBVFIO_MIG_O): $(LIBVFIO_MIG_OUTPUT)/%.o: $(LIBVFIO_MIG_SRCDIR)/%.c $(LIBVFIO_MIG_H)
	$(CC) $(CFLAGS) $(CPPFLAGS) $(TARGET_ARCH) -c $< -o $@

EXTRA_CLEAN += $(LIBVFIO_MIG_OUTPUT)
