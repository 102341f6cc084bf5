// SPDX-License-Identifier: GPL-2.0
/*
 * DMA logging (device dirty page tracking): argument validation, range
 * combining at the device's limit, page size rounding, report windows,
 * start/stop cycles, tracking across migration states and reset, and the
 * exactness of reports against memory the device really wrote through the
 * IOMMU (QEMU edu DMA).
 *
 * Kernels without CONFIG_IOMMUFD_DRIVER (Debian's stock 6.12) cannot deliver
 * a report to any driver, so the driver offers no DMA logging there: every
 * test skips with that reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "mdv_lib.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define PG 4096UL
#define IOVA 0x100000UL		/* below edu's 28-bit DMA mask */
#define NPAGES 64UL
#define LEN (NPAGES * PG)
#define NO_LOGGING \
	"no DMA logging offered: kernel lacks CONFIG_IOMMUFD_DRIVER, no report could be delivered"

FIXTURE(dirty) {
	struct mdv_dev dev;
	char bdf[MDV_NAME_LEN];
	uint8_t *buf;
	uint64_t bitmap[64];
};

FIXTURE_SETUP(dirty)
{
	char bdfs[MDV_MAX_DEVS][MDV_NAME_LEN];
	struct mdv_range r = { IOVA, LEN };
	uint64_t ps = PG;
	int ret;

	self->dev.fd = -1;
	self->buf = MAP_FAILED;
	if (mdv_list(bdfs, MDV_MAX_DEVS) < 1)
		SKIP(return, "no PCI function bound to mockdev-vfio-pci");
	snprintf(self->bdf, sizeof(self->bdf), "%s", bdfs[0]);
	ASSERT_EQ(0, mdv_param_u32(self->bdf, "state_size_mb", 1));
	ASSERT_EQ(0, mdv_param_u32(self->bdf, "dirty_rate", 0));
	ASSERT_EQ(0, mdv_param_u32(self->bdf, "dma_rate", 0));
	ASSERT_EQ(0, mdv_param_u32(self->bdf, "log_max_ranges", 4));
	ASSERT_EQ(0, mdv_param_u32(self->bdf, "log_max_span_gb", 4096));
	ASSERT_EQ(0, mdv_open(&self->dev, self->bdf, MDV_MODE_CONTAINER));
	ret = mdv_log_start(&self->dev, &r, 1, &ps);
	if (ret == -ENOTTY)
		SKIP(return, "%s", NO_LOGGING);
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, mdv_log_stop(&self->dev));

	self->buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, 0xa5, LEN);
	ASSERT_EQ(0, mdv_map(&self->dev, self->buf, LEN, IOVA));
	ASSERT_EQ(0, mdv_bus_master(&self->dev));
}

FIXTURE_TEARDOWN(dirty)
{
	if (self->dev.fd >= 0)
		mdv_close(&self->dev);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, LEN);
}

static int start1(FIXTURE_DATA(dirty) *self, uint64_t iova, uint64_t len,
		  uint64_t *ps)
{
	struct mdv_range r = { iova, len };

	return mdv_log_start(&self->dev, &r, 1, ps);
}

static int dma(FIXTURE_DATA(dirty) *self, uint64_t iova, uint64_t len)
{
	char v[64];

	snprintf(v, sizeof(v), "%lx %lu", (unsigned long)iova,
		 (unsigned long)len);
	return mdv_dbg_write(self->bdf, "mock/dma_write", v);
}

static uint64_t counter(const char *bdf, const char *file)
{
	char v[64];

	if (mdv_dbg_read(bdf, file, v, sizeof(v)))
		return 0;
	return strtoull(v, NULL, 0);
}

static int bit(const uint64_t *bm, unsigned long i)
{
	return (bm[i / 64] >> (i % 64)) & 1;
}

static int popcount(const uint64_t *bm, unsigned long n)
{
	unsigned long i;
	int c = 0;

	for (i = 0; i < n; i++)
		c += bit(bm, i);
	return c;
}

TEST_F(dirty, start_validation)
{
	struct mdv_range r[300], one = { IOVA, LEN };
	uint64_t ps;
	int i;

	ps = PG;
	EXPECT_EQ(-EINVAL, mdv_log_start(&self->dev, r, 0, &ps));
	for (i = 0; i < 300; i++) {
		r[i].iova = IOVA + i * 2 * PG;
		r[i].length = PG;
	}
	EXPECT_EQ(-E2BIG, mdv_log_start(&self->dev, r, 300, &ps));
	EXPECT_EQ(-EINVAL, start1(self, IOVA + 1, LEN, &ps));
	EXPECT_EQ(-EINVAL, start1(self, IOVA, LEN - 100, &ps));
	r[0] = (struct mdv_range){ IOVA, 2 * PG };
	r[1] = (struct mdv_range){ IOVA + PG, 2 * PG };
	EXPECT_EQ(-EINVAL, mdv_log_start(&self->dev, r, 2, &ps));
	EXPECT_EQ(-EOVERFLOW, start1(self, -2 * PG, 4 * PG, &ps));
	ps = 3 * PG;
	EXPECT_EQ(-EINVAL, start1(self, 0, 12 * PG, &ps));
	ps = 2048;
	EXPECT_EQ(-EINVAL, start1(self, 0, 2 * PG, &ps));
	ps = 0;
	EXPECT_EQ(-EINVAL, start1(self, 0, 2 * PG, &ps));
	/* the span limit */
	ASSERT_EQ(0, mdv_param_u32(self->bdf, "log_max_span_gb", 1));
	ps = PG;
	EXPECT_EQ(-E2BIG, start1(self, 0, 2UL << 30, &ps));
	EXPECT_EQ(0, start1(self, 0, 1UL << 30, &ps));
	/* a second START while tracking */
	EXPECT_EQ(-EINVAL, mdv_log_start(&self->dev, &one, 1, &ps));
	EXPECT_EQ(0, mdv_log_stop(&self->dev));
}

TEST_F(dirty, report_validation)
{
	uint64_t ps = PG;

	/* not tracking */
	EXPECT_EQ(-EINVAL, mdv_log_report(&self->dev, IOVA, LEN, PG,
					  self->bitmap));
	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	EXPECT_EQ(-EINVAL, mdv_log_report(&self->dev, IOVA + LEN, PG, PG,
					  self->bitmap));
	EXPECT_EQ(-EINVAL, mdv_log_report(&self->dev, IOVA - PG, 2 * PG, PG,
					  self->bitmap));
	EXPECT_EQ(-EINVAL, mdv_log_report(&self->dev, IOVA, LEN, 3 * PG,
					  self->bitmap));
	EXPECT_EQ(0, mdv_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
}

/*
 * 6.12's iova_bitmap pins the user bitmap lazily, when the first bit is
 * set, and drops the bits it cannot pin: an unmapped bitmap is not always
 * -EFAULT, and no driver can tell (it never sees the pointer). Assert what
 * the kernel does, so a change in the core shows up here.
 */
TEST_F_TIMEOUT(dirty, unmapped_bitmap, 60)
{
	uint64_t ps = PG;
	int ret;

	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	ret = mdv_log_report(&self->dev, IOVA, LEN, PG, (uint64_t *)8);
	EXPECT_TRUE(ret == 0 || ret == -EFAULT);
	TH_LOG("nothing dirty, unmapped bitmap: %s", strerror(-ret));
	ASSERT_EQ(0, dma(self, IOVA + PG, 8));
	ASSERT_EQ(0, mdv_set_state(&self->dev, S(STOP), NULL));
	ret = mdv_log_report(&self->dev, IOVA, LEN, PG, (uint64_t *)8);
	EXPECT_TRUE(ret == 0 || ret == -EFAULT);
	TH_LOG("one dirty page, unmapped bitmap: %s (bit %s)", strerror(-ret),
	       ret ? "kept" : "dropped by the core");
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, mdv_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	EXPECT_EQ(ret ? 1 : 0, popcount(self->bitmap, NPAGES));
}

TEST_F(dirty, combine_at_range_limit)
{
	struct mdv_range r[6];
	uint64_t ps = PG;
	int i;

	/* six ranges for a device that tracks four: the closest merge */
	for (i = 0; i < 6; i++) {
		r[i].iova = IOVA + i * 4 * PG;
		r[i].length = PG;
	}
	ASSERT_EQ(0, mdv_log_start(&self->dev, r, 6, &ps));
	/* equal gaps: the first three ranges became one, gaps included */
	EXPECT_EQ(0, mdv_log_report(&self->dev, IOVA, 9 * PG, PG,
				    self->bitmap));
	EXPECT_EQ(-EINVAL, mdv_log_report(&self->dev, IOVA + 9 * PG, PG, PG,
					  self->bitmap));
	EXPECT_EQ(0, mdv_log_report(&self->dev, IOVA + 20 * PG, PG, PG,
				    self->bitmap));
	ASSERT_EQ(0, mdv_log_stop(&self->dev));
	/* at the limit nothing merges: the gaps stay untracked */
	ASSERT_EQ(0, mdv_log_start(&self->dev, r, 4, &ps));
	EXPECT_EQ(-EINVAL, mdv_log_report(&self->dev, IOVA, 5 * PG, PG,
					  self->bitmap));
	EXPECT_EQ(0, mdv_log_report(&self->dev, IOVA + 4 * PG, PG, PG,
				    self->bitmap));
}

TEST_F(dirty, page_size_rounding)
{
	uint64_t ps = 8192;

	ASSERT_EQ(0, start1(self, 0, 4UL << 20, &ps));
	EXPECT_EQ(2UL << 20, ps) TH_LOG("8 KiB rounds up to 2 MiB");
	ASSERT_EQ(0, mdv_log_stop(&self->dev));
	ps = 1UL << 31;
	ASSERT_EQ(0, start1(self, 0, 1UL << 31, &ps));
	EXPECT_EQ(1UL << 30, ps) TH_LOG("above the largest: the largest");
}

TEST_F(dirty, start_stop_cycles)
{
	uint64_t ps;
	int i;

	for (i = 0; i < 5; i++) {
		ps = PG;
		ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
		ASSERT_EQ(0, mdv_log_stop(&self->dev));
		ASSERT_EQ(0, mdv_log_stop(&self->dev)) TH_LOG("idempotent");
	}
}

TEST_F_TIMEOUT(dirty, sub_range_reports_clear, 120)
{
	uint64_t ps = PG;

	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	ASSERT_EQ(0, dma(self, IOVA + 3 * PG + 10, 100));
	ASSERT_EQ(0, dma(self, IOVA + 40 * PG, 64));
	ASSERT_EQ(0, mdv_set_state(&self->dev, S(STOP), NULL));

	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, mdv_log_report(&self->dev, IOVA, 32 * PG, PG,
				    self->bitmap));
	EXPECT_EQ(1, popcount(self->bitmap, 32));
	EXPECT_EQ(1, bit(self->bitmap, 3));
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, mdv_log_report(&self->dev, IOVA + 32 * PG, 32 * PG, PG,
				    self->bitmap));
	EXPECT_EQ(1, popcount(self->bitmap, 32));
	EXPECT_EQ(1, bit(self->bitmap, 8));
	/* report-and-clear */
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, mdv_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	EXPECT_EQ(0, popcount(self->bitmap, NPAGES));
}

TEST_F(dirty, tracking_across_states_and_reset)
{
	uint64_t ps = PG;
	int fd;

	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	ASSERT_EQ(0, mdv_set_state(&self->dev, S(PRE_COPY), &fd));
	ASSERT_EQ(0, mdv_set_state(&self->dev, S(STOP_COPY), NULL));
	EXPECT_EQ(0, mdv_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	/* a stopped device writes nothing */
	EXPECT_EQ(-EBUSY, dma(self, IOVA, 8));
	close(fd);
	ASSERT_EQ(0, mdv_set_state(&self->dev, S(RUNNING), NULL));
	EXPECT_EQ(0, mdv_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	ASSERT_EQ(0, mdv_reset(&self->dev));
	EXPECT_EQ(-EINVAL, mdv_log_report(&self->dev, IOVA, LEN, PG,
					  self->bitmap)) TH_LOG("reset ends tracking");
	ps = PG;
	EXPECT_EQ(0, start1(self, IOVA, LEN, &ps));
}

TEST_F_TIMEOUT(dirty, exactness_against_device_writes, 300)
{
	static const struct { unsigned long page, off, len; } w[] = {
		{ 0, 0, 1 }, { 1, 4095, 1 }, { 2, 100, 4095 - 100 },
		{ 5, 0, 4095 }, { 9, 17, 33 }, { 12, 2048, 2047 },
		{ 13, 1, 1 }, { 20, 300, 7 }, { 21, 0, 64 }, { 30, 4000, 95 },
		{ 31, 5, 5 }, { 33, 0, 1000 }, { 40, 64, 64 }, { 47, 1, 2 },
		{ 50, 3000, 1000 }, { 63, 4094, 1 },
	};
	uint64_t ps = PG, w0, writes;
	uint8_t pattern[PG];
	unsigned long i;
	int changed = 0, missed = 0, extra = 0;
	char mode[32];

	ASSERT_EQ(0, mdv_dbg_read(self->bdf, "mock/dma_mode", mode,
				  sizeof(mode)));
	if (strncmp(mode, "edu", 3))
		SKIP(return, "device writes are simulated here (%s)", mode);
	memset(pattern, 0xa5, sizeof(pattern));
	w0 = counter(self->bdf, "mock/dma_writes");
	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	/* on demand ... */
	for (i = 0; i < ARRAY_SIZE(w); i++)
		ASSERT_EQ(0, dma(self, IOVA + w[i].page * PG + w[i].off,
				 w[i].len));
	/* ... and in the background while running */
	ASSERT_EQ(0, mdv_param_u32(self->bdf, "dma_rate", 5));
	usleep(800000);
	/* seed 004: a write issued right before the stop is in the report */
	ASSERT_EQ(0, dma(self, IOVA + 60 * PG + 8, 8));
	ASSERT_EQ(0, mdv_set_state(&self->dev, S(STOP), NULL));
	writes = counter(self->bdf, "mock/dma_writes") - w0;

	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, mdv_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	for (i = 0; i < NPAGES; i++) {
		int ch = memcmp(self->buf + i * PG, pattern, PG) != 0;

		changed += ch;
		missed += ch && !bit(self->bitmap, i);
		extra += !ch && bit(self->bitmap, i);
	}
	printf("# dma exactness: writes=%lu changed_pages=%d missed=%d extra=%d\n",
	       (unsigned long)writes, changed, missed, extra);
	EXPECT_LE(17, writes);
	EXPECT_LE(17, changed);
	EXPECT_EQ(1, bit(self->bitmap, 60));
	EXPECT_EQ(0, missed);
	EXPECT_EQ(0, extra);
}

TEST_HARNESS_MAIN
