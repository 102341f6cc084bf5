# SPDX-License-Identifier: GPL-2.0
# mockdev-vfio-pci. kbuild (make -C $KDIR M=$PWD) reads Kbuild, not this file.
#
#   make demo     the reference migration engine reproducing the seeds'
#                 measurements (precopy initial data; parallel transitions)
#   make check    provision, lint, build, run the kselftests in QEMU guests
#                 (LANES="stock full" by default; LANES=stock for one lane)
#   make bench    at 64 MiB, 1 GiB and 4 GiB of state: save/resume
#                 throughput vs a tmpfs file, the arcs that could grow with
#                 the state, memory; arc latencies, DMA logging report cost
#                 (both lanes; the stock lane's numbers are the ones without
#                 debug overhead; MDV_BENCH_MB="..." in VM_APPEND for sizes)
#   make check-qemu   the real client: QEMU 10.0 and 11.1 (Debian trixie
#                 and trixie-backports roots made with debootstrap)
#                 live-migrate VMs with mockdev devices assigned, inside
#                 the full, stock and stock-7.3 guests (every scenario)
#   make conformance   the device-agnostic migration conformance suite:
#                 DEVS="BDF|uuid BDF|uuid" runs it on this host against your
#                 devices; without DEVS it boots the full lane and runs it
#                 against mockdev-vfio-pci and the upstream mtty sample
#   make mutants  mutation testing: every mutant of tools/testing/mutants/
#                 mutants.txt (a one-line bug in a copy of the driver) must
#                 fail the tests named for it, in one full-lane boot
#                 (MUTANTS="name ..." for some; ends "mutants: N applied,
#                 N killed, N survived")
#   make lint     checkpatch --strict, W=1 and sparse
#   make deps     install the Debian packages the project needs
#   make module   build the driver against Debian's stock 6.12 headers
#                 (or KDIR=/path/to/kernel/build)
#   make kernel   build (or reuse) the full-lane debug kernel
#   make dkms-install   install with DKMS for the running kernel (root)
#   make clean
VM := tools/testing/vm
include $(VM)/versions.mk
export DEB_KVER DEB_KABI DEB73_KVER DEB73_KABI

.PHONY: demo conformance check check-qemu bench mutants lint deps module kernel clean dkms-install

demo:
	MDV_RUN=demo LANES="$(or $(LANES),stock)" SKIP_LINT=1 VM_MEM=$(or $(VM_MEM),4G) \
		bash $(VM)/check.sh

check:
	bash $(VM)/check.sh

check-qemu:
	bash tools/testing/qemu/check-qemu.sh

bench:
	MDV_RUN=bench LANES="$(or $(LANES),stock full)" SKIP_LINT=1 VM_MEM=$(or $(VM_MEM),12G) \
		bash $(VM)/check.sh

conformance:
ifneq ($(DEVS),)
	bash $(VM)/host-conformance.sh $(DEVS)
else
	MDV_RUN=conformance LANES="$(or $(LANES),full)" SKIP_LINT=1 bash $(VM)/check.sh
endif

mutants: deps
	bash tools/testing/mutants/run-mutants.sh

lint: deps
	bash $(VM)/lint.sh

deps:
	bash $(VM)/deps.sh

module: deps
	$(MAKE) -C $(or $(KDIR),$(shell bash $(VM)/fetch-kernel.sh)/root/usr/src/linux-headers-$(DEB_KABI)-amd64) M=$(CURDIR) modules

DKMS_VER := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' tools/dkms/dkms.conf)
DKMS_SRC := /usr/src/mockdev-vfio-pci-$(DKMS_VER)
dkms-install:
	rm -rf $(DKMS_SRC) && mkdir -p $(DKMS_SRC)
	cp -r Kbuild drivers include tools/dkms/dkms.conf $(DKMS_SRC)/
	dkms install mockdev-vfio-pci/$(DKMS_VER)

kernel: deps
	bash $(VM)/build-full-kernel.sh

clean:
	rm -rf build
	find drivers -name '*.o' -o -name '*.ko' -o -name '*.mod*' -o -name '.*.cmd' -o -name modules.order | xargs rm -f
	rm -f Module.symvers modules.order .module-common.o
