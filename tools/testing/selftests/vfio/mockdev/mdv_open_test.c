// SPDX-License-Identifier: GPL-2.0
/*
 * The driver binds and the device opens through VFIO, with each IOMMU
 * backend the kernel offers, and advertises migration.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "mdv_lib.h"

FIXTURE(open) {
	struct mdv_dev dev;
	char bdf[MDV_NAME_LEN];
};

FIXTURE_VARIANT(open) {
	enum mdv_iommu_mode mode;
};

FIXTURE_VARIANT_ADD(open, container) { .mode = MDV_MODE_CONTAINER };
FIXTURE_VARIANT_ADD(open, iommufd) { .mode = MDV_MODE_IOMMUFD };

FIXTURE_SETUP(open)
{
	char bdfs[MDV_MAX_DEVS][MDV_NAME_LEN];
	int ret;

	if (mdv_list(bdfs, MDV_MAX_DEVS) < 1)
		SKIP(return, "no PCI function bound to mockdev-vfio-pci");
	snprintf(self->bdf, sizeof(self->bdf), "%s", bdfs[0]);
	ret = mdv_open(&self->dev, self->bdf, variant->mode);
	if (ret == -ENODEV)
		SKIP(return, "kernel has no %s path (no /dev/iommu or vfio cdev)",
		     mdv_mode_name(variant->mode));
	ASSERT_EQ(0, ret) TH_LOG("open %s via %s: %s", self->bdf,
				 mdv_mode_name(variant->mode), strerror(-ret));
}

FIXTURE_TEARDOWN(open)
{
	mdv_close(&self->dev);
}

TEST_F(open, device_info)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(0, ioctl(self->dev.fd, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_TRUE(info.flags & VFIO_DEVICE_FLAGS_PCI);
	EXPECT_EQ(VFIO_PCI_NUM_REGIONS, info.num_regions);
}

TEST_F(open, config_space_reads_through_vfio)
{
	struct vfio_region_info reg = {
		.argsz = sizeof(reg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	char path[128], want[16];
	uint16_t vendor = 0;
	FILE *f;

	ASSERT_EQ(0, ioctl(self->dev.fd, VFIO_DEVICE_GET_REGION_INFO, &reg));
	ASSERT_EQ(2, pread(self->dev.fd, &vendor, 2, reg.offset));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
		 self->bdf);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	ASSERT_NE(NULL, fgets(want, sizeof(want), f));
	fclose(f);
	EXPECT_EQ(strtoul(want, NULL, 16), vendor);
}

TEST_F(open, advertises_migration)
{
	uint64_t flags = 0;
	uint32_t state = ~0U;

	ASSERT_EQ(0, mdv_mig_flags(&self->dev, &flags));
	EXPECT_TRUE(flags & VFIO_MIGRATION_STOP_COPY);
	ASSERT_EQ(0, mdv_get_state(&self->dev, &state));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state);
}

TEST_HARNESS_MAIN
