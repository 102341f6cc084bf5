# SPDX-License-Identifier: GPL-2.0
# mockdev-vfio-pci's control library (mdvt.h), on top of the generic one:
# include libvfio_mig.mk first. Gives LIBMDVT_O, LIBMDVT_H and -I for
# mdvt.h and include/mockdev/ (the stream format, a test interface).
LIBMDVT_SRCDIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
LIBMDVT_OUTPUT := $(OUTPUT)/libmdvt
LIBMDVT_TOP := $(abspath $(LIBMDVT_SRCDIR)/../../../../../..)

LIBMDVT_C := mdvt.c
LIBMDVT_O := $(patsubst %.c,$(LIBMDVT_OUTPUT)/%.o,$(LIBMDVT_C))
LIBMDVT_H := $(wildcard $(LIBMDVT_SRCDIR)/include/*.h) \
	$(LIBMDVT_TOP)/include/mockdev/mdv_stream.h
$(shell mkdir -p $(LIBMDVT_OUTPUT))

CFLAGS += -I$(LIBMDVT_SRCDIR)/include -I$(LIBMDVT_TOP)/include

$(LIBMDVT_O): $(LIBMDVT_OUTPUT)/%.o: $(LIBMDVT_SRCDIR)/%.c $(LIBMDVT_H) $(LIBVFIO_MIG_H)
	$(CC) $(CFLAGS) $(CPPFLAGS) $(TARGET_ARCH) -c $< -o $@

EXTRA_CLEAN += $(LIBMDVT_OUTPUT)
