// SPDX-License-Identifier: GPL-2.0
/*
 * The driver binds and the device opens through VFIO, with each IOMMU
 * backend the kernel offers, and advertises migration. It binds to QEMU's
 * edu only: the model cannot stop any other function's DMA.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "vfio_mig.h"
#include "mdvt.h"

FIXTURE(open) {
	struct vmig_dev dev;
	char bdf[VMIG_NAME_LEN];
};

FIXTURE_VARIANT(open) {
	enum vmig_iommu_mode mode;
};

FIXTURE_VARIANT_ADD(open, container) { .mode = VMIG_MODE_CONTAINER };
FIXTURE_VARIANT_ADD(open, iommufd) { .mode = VMIG_MODE_IOMMUFD };

FIXTURE_SETUP(open)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	int ret;

	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 1)
		SKIP(return, "no PCI function bound to mockdev-vfio-pci");
	snprintf(self->bdf, sizeof(self->bdf), "%s", bdfs[0]);
	ret = vmig_open(&self->dev, self->bdf, variant->mode);
	if (ret == -ENODEV)
		SKIP(return, "kernel has no %s path (no /dev/iommu or vfio cdev)",
		     vmig_mode_name(variant->mode));
	ASSERT_EQ(0, ret) TH_LOG("open %s via %s: %s", self->bdf,
				 vmig_mode_name(variant->mode), strerror(-ret));
}

FIXTURE_TEARDOWN(open)
{
	vmig_close(&self->dev);
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

	ASSERT_EQ(0, vmig_mig_flags(&self->dev, &flags));
	EXPECT_TRUE(flags & VFIO_MIGRATION_STOP_COPY);
	ASSERT_EQ(0, vmig_get_state(&self->dev, &state));
	EXPECT_EQ(VFIO_DEVICE_STATE_RUNNING, state);
}

static unsigned long sysfs_ul(const char *bdf, const char *file)
{
	char path[PATH_MAX], v[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, file);
	f = fopen(path, "r");
	if (!f)
		return ~0UL;
	if (!fgets(v, sizeof(v), f))
		v[0] = 0;
	fclose(f);
	return strtoul(v, NULL, 0);
}

/*
 * A function that is not edu, not a bridge or display, and has no driver:
 * q35 always has some (its SMBus controller, the default NIC).
 */
static int other_function(char *bdf, size_t len)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *dir = opendir("/sys/bus/pci/devices");
	int found = 0;

	while (dir && !found && (e = readdir(dir))) {
		unsigned long class;

		if (e->d_name[0] == '.' || sysfs_ul(e->d_name, "vendor") == 0x1234)
			continue;
		class = sysfs_ul(e->d_name, "class") >> 16;
		if (class == 0x06 || class == 0x03)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver",
			 e->d_name);
		if (!access(path, F_OK))
			continue;
		snprintf(bdf, len, "%.63s", e->d_name);
		found = 1;
	}
	if (dir)
		closedir(dir);
	return found;
}

TEST(binds_to_edu_only)
{
	char bdf[64], path[PATH_MAX], link[PATH_MAX] = "";
	ssize_t n;

	ASSERT_TRUE(other_function(bdf, sizeof(bdf)))
		TH_LOG("no idle non-edu PCI function to try");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override",
		 bdf);
	ASSERT_EQ(0, vmig_sysfs_write(path, "mockdev-vfio-pci"));
	vmig_sysfs_write("/sys/bus/pci/drivers_probe", bdf);
	vmig_sysfs_write(path, "\n");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = 0;
		/* leave the function as it was */
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver/unbind",
			 bdf);
		vmig_sysfs_write(path, bdf);
	}
	EXPECT_EQ(-1, n) TH_LOG("%s (%04lx:%04lx) bound to %s", bdf,
				sysfs_ul(bdf, "vendor"), sysfs_ul(bdf, "device"),
				link);
}

TEST_HARNESS_MAIN
