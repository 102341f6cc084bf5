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
#include "vfio_mig.h"
#include "mdvt.h"

#define S(x) VFIO_DEVICE_STATE_##x
#define PG 4096UL
#define IOVA 0x100000UL		/* below edu's 28-bit DMA mask */
#define NPAGES 64UL
#define LEN (NPAGES * PG)
#define SZ_2M (2UL << 20)
#define SZ_1G (512 * SZ_2M)
/* the granules the device offers (4K|2M|1G, the driver's default) */
#define SIZES (PG | SZ_2M | SZ_1G)
#define CANARY 0x5a5a5a5a5a5a5a5aULL
#define NO_LOGGING \
	"no DMA logging offered: kernel lacks CONFIG_IOMMUFD_DRIVER, no report could be delivered"

FIXTURE(dirty) {
	struct vmig_dev dev;
	char bdf[VMIG_NAME_LEN];
	uint8_t *buf;
	uint64_t bitmap[64];
};

FIXTURE_SETUP(dirty)
{
	char bdfs[VMIG_MAX_DEVS][VMIG_NAME_LEN];
	struct vmig_range r = { IOVA, LEN };
	uint64_t ps = PG;
	int ret;

	self->dev.fd = -1;
	self->buf = MAP_FAILED;
	if (mdvt_list(bdfs, VMIG_MAX_DEVS) < 1)
		SKIP(return, "no PCI function bound to mockdev-vfio-pci");
	snprintf(self->bdf, sizeof(self->bdf), "%s", bdfs[0]);
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "state_size_mb", 1));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "dirty_rate", 0));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "dma_rate", 0));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "log_max_ranges", 4));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "log_max_span_gb", 4096));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "log_page_sizes", SIZES));
	ASSERT_EQ(0, vmig_open(&self->dev, self->bdf, VMIG_MODE_CONTAINER));
	ret = vmig_log_start(&self->dev, &r, 1, &ps);
	if (ret == -ENOTTY) {
		/* the full lane's kernel has IOMMUFD_DRIVER: a real failure */
		ASSERT_STRNE("full", getenv("LANE") ?: "")
			TH_LOG("DMA logging -ENOTTY in the full lane");
		SKIP(return, "%s", NO_LOGGING);
	}
	ASSERT_EQ(0, ret);
	ASSERT_EQ(0, vmig_log_stop(&self->dev));

	self->buf = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	memset(self->buf, 0xa5, LEN);
	ASSERT_EQ(0, vmig_map(&self->dev, self->buf, LEN, IOVA));
	ASSERT_EQ(0, vmig_bus_master(&self->dev));
}

FIXTURE_TEARDOWN(dirty)
{
	if (self->dev.fd >= 0)
		vmig_close(&self->dev);
	if (self->buf != MAP_FAILED)
		munmap(self->buf, LEN);
}

static int start1(FIXTURE_DATA(dirty) *self, uint64_t iova, uint64_t len,
		  uint64_t *ps)
{
	struct vmig_range r = { iova, len };

	return vmig_log_start(&self->dev, &r, 1, ps);
}

static int dma(FIXTURE_DATA(dirty) *self, uint64_t iova, uint64_t len)
{
	char v[64];

	snprintf(v, sizeof(v), "%lx %lu", (unsigned long)iova,
		 (unsigned long)len);
	return mdvt_dbg_write(self->bdf, "mock/dma_write", v);
}

static uint64_t counter(const char *bdf, const char *file)
{
	char v[64];

	if (mdvt_dbg_read(bdf, file, v, sizeof(v)))
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
	struct vmig_range r[300], one = { IOVA, LEN };
	uint64_t ps;
	int i;

	ps = PG;
	EXPECT_EQ(-EINVAL, vmig_log_start(&self->dev, r, 0, &ps));
	for (i = 0; i < 300; i++) {
		r[i].iova = IOVA + i * 2 * PG;
		r[i].length = PG;
	}
	EXPECT_EQ(-E2BIG, vmig_log_start(&self->dev, r, 300, &ps));
	EXPECT_EQ(-EINVAL, start1(self, IOVA + 1, LEN, &ps));
	EXPECT_EQ(-EINVAL, start1(self, IOVA, LEN - 100, &ps));
	r[0] = (struct vmig_range){ IOVA, 2 * PG };
	r[1] = (struct vmig_range){ IOVA + PG, 2 * PG };
	EXPECT_EQ(-EINVAL, vmig_log_start(&self->dev, r, 2, &ps));
	EXPECT_EQ(-EOVERFLOW, start1(self, -2 * PG, 4 * PG, &ps));
	ps = 3 * PG;
	EXPECT_EQ(-EINVAL, start1(self, 0, 12 * PG, &ps));
	ps = 0;
	EXPECT_EQ(-EINVAL, start1(self, 0, 2 * PG, &ps));
	/* the span limit */
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "log_max_span_gb", 1));
	ps = PG;
	EXPECT_EQ(-E2BIG, start1(self, 0, 2UL << 30, &ps));
	EXPECT_EQ(0, start1(self, 0, 1UL << 30, &ps));
	/* a second START while tracking */
	EXPECT_EQ(-EINVAL, vmig_log_start(&self->dev, &one, 1, &ps));
	EXPECT_EQ(0, vmig_log_stop(&self->dev));
}

TEST_F(dirty, report_validation)
{
	uint64_t ps = PG;

	/* not tracking */
	EXPECT_EQ(-EINVAL, vmig_log_report(&self->dev, IOVA, LEN, PG,
					   self->bitmap));
	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	EXPECT_EQ(-EINVAL, vmig_log_report(&self->dev, IOVA + LEN, PG, PG,
					   self->bitmap));
	EXPECT_EQ(-EINVAL, vmig_log_report(&self->dev, IOVA - PG, 2 * PG, PG,
					   self->bitmap));
	EXPECT_EQ(-EINVAL, vmig_log_report(&self->dev, IOVA, LEN, 3 * PG,
					   self->bitmap));
	EXPECT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
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
	ret = vmig_log_report(&self->dev, IOVA, LEN, PG, (uint64_t *)8);
	EXPECT_TRUE(ret == 0 || ret == -EFAULT);
	TH_LOG("nothing dirty, unmapped bitmap: %s", strerror(-ret));
	ASSERT_EQ(0, dma(self, IOVA + PG, 8));
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(STOP), NULL));
	ret = vmig_log_report(&self->dev, IOVA, LEN, PG, (uint64_t *)8);
	EXPECT_TRUE(ret == 0 || ret == -EFAULT);
	TH_LOG("one dirty page, unmapped bitmap: %s (bit %s)", strerror(-ret),
	       ret ? "kept" : "dropped by the core");
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	EXPECT_EQ(ret ? 1 : 0, popcount(self->bitmap, NPAGES));
}

TEST_F(dirty, combine_at_range_limit)
{
	struct vmig_range r[6];
	uint64_t ps = PG;
	int i;

	/* six ranges for a device that tracks four: the closest merge */
	for (i = 0; i < 6; i++) {
		r[i].iova = IOVA + i * 4 * PG;
		r[i].length = PG;
	}
	ASSERT_EQ(0, vmig_log_start(&self->dev, r, 6, &ps));
	/* equal gaps: the first three ranges became one, gaps included */
	EXPECT_EQ(0, vmig_log_report(&self->dev, IOVA, 9 * PG, PG,
				     self->bitmap));
	EXPECT_EQ(-EINVAL, vmig_log_report(&self->dev, IOVA + 9 * PG, PG, PG,
					   self->bitmap));
	EXPECT_EQ(0, vmig_log_report(&self->dev, IOVA + 20 * PG, PG, PG,
				     self->bitmap));
	ASSERT_EQ(0, vmig_log_stop(&self->dev));
	/* at the limit nothing merges: the gaps stay untracked */
	ASSERT_EQ(0, vmig_log_start(&self->dev, r, 4, &ps));
	EXPECT_EQ(-EINVAL, vmig_log_report(&self->dev, IOVA, 5 * PG, PG,
					   self->bitmap));
	EXPECT_EQ(0, vmig_log_report(&self->dev, IOVA + 4 * PG, PG, PG,
				     self->bitmap));
}

/*
 * A hint is what the user can consume: the device may track more finely
 * (REPORT then just sets more bits) but never more coarsely than asked, so
 * a hint between supported sizes rounds down to the next finer one; above
 * the largest size the largest is used. Ranges are aligned to the hint, as
 * the core requires.
 */
TEST_F(dirty, page_size_rounding)
{
	static const struct { uint64_t hint, len, want; } c[] = {
		{ PG, 4UL << 20, PG },
		{ 8192, 4UL << 20, PG },
		{ 1UL << 20, 4UL << 20, PG },
		{ SZ_2M, 4UL << 20, SZ_2M },
		{ 4UL << 20, 8UL << 20, SZ_2M },
		{ SZ_1G, 2 * SZ_1G, SZ_1G },
		{ 2 * SZ_1G, 2 * SZ_1G, SZ_1G },
	};
	unsigned int i;
	uint64_t ps;

	for (i = 0; i < ARRAY_SIZE(c); i++) {
		ps = c[i].hint;
		ASSERT_EQ(0, start1(self, 0, c[i].len, &ps))
			TH_LOG("hint %#lx", (unsigned long)c[i].hint);
		EXPECT_EQ(c[i].want, ps)
			TH_LOG("hint %#lx: page size %#lx, want %#lx",
			       (unsigned long)c[i].hint, (unsigned long)ps,
			       (unsigned long)c[i].want);
		ASSERT_EQ(0, vmig_log_stop(&self->dev));
	}
}

/*
 * The core accepts any power-of-two hint the ranges are aligned to; one
 * below the smallest granule asks for something finer than the device has,
 * and the finest it has is the answer, not -EINVAL.
 */
TEST_F(dirty, page_size_hint_below_4k_clamped)
{
	static const uint64_t hints[] = { 512, 1024, 2048 };
	unsigned int i;
	uint64_t ps;
	int ret;

	for (i = 0; i < ARRAY_SIZE(hints); i++) {
		ps = hints[i];
		ret = start1(self, IOVA, LEN, &ps);
		EXPECT_EQ(0, ret) TH_LOG("hint %lu: %s", (unsigned long)hints[i],
					 strerror(-ret));
		if (ret)
			continue;
		EXPECT_EQ(PG, ps) TH_LOG("hint %lu", (unsigned long)hints[i]);
		ASSERT_EQ(0, vmig_log_stop(&self->dev));
	}
}

/*
 * A zero-length range passes the core's checks (0 is aligned, nothing
 * overflows) and reaches the driver as the node [iova, iova - 1]: the whole
 * IOVA space when iova is 0, an inverted node otherwise. Neither is a range.
 */
TEST_F(dirty, zero_length_range_rejected)
{
	struct vmig_range two[2] = { { IOVA, LEN }, { IOVA + 2 * LEN, 0 } };
	uint64_t ps;
	int ret;

	ps = PG;
	ret = start1(self, IOVA, 0, &ps);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("[IOVA, +0)");
	if (!ret)
		ASSERT_EQ(0, vmig_log_stop(&self->dev));
	ps = PG;
	ret = start1(self, 0, 0, &ps);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("[0, +0)");
	if (!ret)
		ASSERT_EQ(0, vmig_log_stop(&self->dev));
	ps = PG;
	ret = vmig_log_start(&self->dev, two, 2, &ps);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("a real range and an empty one");
	if (!ret)
		ASSERT_EQ(0, vmig_log_stop(&self->dev));
	/* and nothing was left tracking */
	ps = PG;
	EXPECT_EQ(0, start1(self, IOVA, LEN, &ps));
}

TEST_F(dirty, start_stop_cycles)
{
	uint64_t ps;
	int i;

	for (i = 0; i < 5; i++) {
		ps = PG;
		ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
		ASSERT_EQ(0, vmig_log_stop(&self->dev));
		ASSERT_EQ(0, vmig_log_stop(&self->dev)) TH_LOG("idempotent");
	}
}

TEST_F_TIMEOUT(dirty, sub_range_reports_clear, 120)
{
	uint64_t ps = PG;

	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	ASSERT_EQ(0, dma(self, IOVA + 3 * PG + 10, 100));
	ASSERT_EQ(0, dma(self, IOVA + 40 * PG, 64));
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(STOP), NULL));

	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, 32 * PG, PG,
				     self->bitmap));
	EXPECT_EQ(1, popcount(self->bitmap, 32));
	EXPECT_EQ(1, bit(self->bitmap, 3));
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA + 32 * PG, 32 * PG, PG,
				     self->bitmap));
	EXPECT_EQ(1, popcount(self->bitmap, 32));
	EXPECT_EQ(1, bit(self->bitmap, 8));
	/* report-and-clear */
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	EXPECT_EQ(0, popcount(self->bitmap, NPAGES));
}

/*
 * A write the device has issued is in the next report while the device
 * runs, before anyone waited for the transfer to complete: a VMM reports
 * while the guest runs and must not miss memory that already changed.
 */
TEST_F_TIMEOUT(dirty, report_while_running_sees_issued_write, 60)
{
	uint64_t ps = PG;

	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	ASSERT_EQ(0, dma(self, IOVA + 7 * PG + 100, 8));
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	EXPECT_EQ(1, bit(self->bitmap, 7));
	EXPECT_EQ(1, popcount(self->bitmap, NPAGES));
}

/*
 * Tracking follows the device through every migration state, and a
 * function reset does not end it: the user never asked for a STOP. The
 * device cannot know what it wrote across the reset, so the next REPORT
 * has every tracked page dirty, once.
 */
TEST_F(dirty, tracking_across_states_and_reset)
{
	uint64_t ps = PG;
	int fd;

	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(PRE_COPY), &fd));
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(STOP_COPY), NULL));
	EXPECT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	/* a stopped device writes nothing */
	EXPECT_EQ(-EBUSY, dma(self, IOVA, 8));
	close(fd);
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(RUNNING), NULL));
	EXPECT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	ASSERT_EQ(0, dma(self, IOVA + 5 * PG, 8));
	ASSERT_EQ(0, vmig_reset(&self->dev));

	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG,
				     self->bitmap)) TH_LOG("reset keeps tracking");
	EXPECT_EQ(NPAGES, popcount(self->bitmap, NPAGES))
		TH_LOG("after a reset every tracked page is dirty once");
	/* reported and cleared: nothing was written since */
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	EXPECT_EQ(0, popcount(self->bitmap, NPAGES));
	EXPECT_EQ(0, vmig_log_stop(&self->dev));
	ps = PG;
	EXPECT_EQ(0, start1(self, IOVA, LEN, &ps));
}

/* A 2 MiB tracked range at a 2 MiB aligned IOVA (below edu's DMA mask) */
#define GRAN 0x200000UL
#define GRAN_BITS (SZ_2M / PG)	/* its pages, in a 4 KiB report */

static void *map_granule(struct __test_metadata *_metadata,
			 FIXTURE_DATA(dirty) *self)
{
	uint64_t ps = SZ_2M;
	void *g;

	g = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED)
		return NULL;
	memset(g, 0xa5, SZ_2M);
	if (vmig_map(&self->dev, g, SZ_2M, GRAN)) {
		munmap(g, SZ_2M);
		return NULL;
	}
	if (start1(self, GRAN, SZ_2M, &ps) || ps != SZ_2M) {
		TH_LOG("START with a 2 MiB hint: page size %#lx", (unsigned long)ps);
		vmig_unmap(&self->dev, SZ_2M, GRAN);
		munmap(g, SZ_2M);
		return NULL;
	}
	return g;
}

static void unmap_granule(FIXTURE_DATA(dirty) *self, void *g)
{
	vmig_log_stop(&self->dev);
	vmig_unmap(&self->dev, SZ_2M, GRAN);
	munmap(g, SZ_2M);
}

/* Device writes at each IOVA of @iova, then stop: they are all in */
static int dma_stopped(FIXTURE_DATA(dirty) *self, const uint64_t *iova,
		       unsigned int n)
{
	unsigned int i;
	int ret;

	ret = vmig_set_state(&self->dev, S(RUNNING), NULL);
	for (i = 0; !ret && i < n; i++)
		ret = dma(self, iova[i], 8);
	if (!ret)
		ret = vmig_set_state(&self->dev, S(STOP), NULL);
	return ret;
}

/*
 * vfio.h lets a REPORT use a page size other than START's. With 2 MiB
 * granules a 4 KiB report of one page of a dirty granule must say "dirty"
 * for that page: the granule's start lies before the window (the write to
 * the granule's last page) and its end after it (the write to the first
 * page), and neither may be lost or set bits past the user's bitmap.
 */
TEST_F_TIMEOUT(dirty, coarse_granule_single_page_reports, 120)
{
	const uint64_t first = GRAN + 16, last = GRAN + SZ_2M - PG + 100;
	const uint64_t both[2] = { first, last };
	uint64_t bm[2];
	void *g;

	g = map_granule(_metadata, self);
	ASSERT_NE(NULL, g);

	ASSERT_EQ(0, dma_stopped(self, both, 2));
	bm[0] = 0;
	bm[1] = CANARY;
	ASSERT_EQ(0, vmig_log_report(&self->dev, GRAN + SZ_2M - PG, PG, PG, bm));
	EXPECT_EQ(1, bm[0]) TH_LOG("last 4 KiB page of the granule: %#lx",
				   (unsigned long)bm[0]);
	EXPECT_EQ(CANARY, bm[1]) TH_LOG("past the bitmap: %#lx",
					(unsigned long)bm[1]);

	/* written again, whatever the report above did to the granule */
	ASSERT_EQ(0, dma_stopped(self, &first, 1));
	bm[0] = 0;
	bm[1] = CANARY;
	ASSERT_EQ(0, vmig_log_report(&self->dev, GRAN, PG, PG, bm));
	EXPECT_EQ(1, bm[0]) TH_LOG("first 4 KiB page of the granule: %#lx",
				   (unsigned long)bm[0]);
	EXPECT_EQ(CANARY, bm[1]) TH_LOG("past the bitmap: %#lx",
					(unsigned long)bm[1]);
	unmap_granule(self, g);
}

/*
 * A granule fully inside a report window is reported (every page of it at
 * a finer page size) and cleared; one only partly inside stays dirty, so
 * the windows that hold the rest of it still see it.
 */
TEST_F_TIMEOUT(dirty, coarse_granule_cleared_only_when_whole, 120)
{
	const uint64_t both[2] = { GRAN + 8, GRAN + SZ_2M - PG + 8 };
	const uint64_t mid = GRAN + SZ_2M / 2 + 64;
	uint64_t bm[GRAN_BITS / 64 + 1];
	void *g;

	g = map_granule(_metadata, self);
	ASSERT_NE(NULL, g);

	ASSERT_EQ(0, dma_stopped(self, both, 2));
	memset(bm, 0, sizeof(bm));
	bm[GRAN_BITS / 64] = CANARY;
	ASSERT_EQ(0, vmig_log_report(&self->dev, GRAN, SZ_2M, PG, bm));
	EXPECT_EQ(GRAN_BITS, popcount(bm, GRAN_BITS));
	EXPECT_EQ(CANARY, bm[GRAN_BITS / 64]);
	memset(bm, 0, sizeof(bm));
	ASSERT_EQ(0, vmig_log_report(&self->dev, GRAN, SZ_2M, PG, bm));
	EXPECT_EQ(0, popcount(bm, GRAN_BITS)) TH_LOG("reported whole: cleared");

	/* one write in the middle; a report of the first page only */
	ASSERT_EQ(0, dma_stopped(self, &mid, 1));
	memset(bm, 0, sizeof(bm));
	bm[1] = CANARY;
	ASSERT_EQ(0, vmig_log_report(&self->dev, GRAN, PG, PG, bm));
	EXPECT_EQ(1, bm[0]) TH_LOG("the granule is dirty: %#lx",
				   (unsigned long)bm[0]);
	EXPECT_EQ(CANARY, bm[1]);
	/* the rest of the granule, in a window of its own, still sees it */
	memset(bm, 0, sizeof(bm));
	ASSERT_EQ(0, vmig_log_report(&self->dev, GRAN + PG, SZ_2M - PG, PG, bm));
	EXPECT_EQ(GRAN_BITS - 1, popcount(bm, GRAN_BITS - 1))
		TH_LOG("a partly reported granule stays dirty");
	EXPECT_EQ(0, bit(bm, GRAN_BITS - 1)) TH_LOG("a bit past the window");
	/* partial windows never clear it; a whole one does */
	memset(bm, 0, sizeof(bm));
	bm[GRAN_BITS / 64] = CANARY;
	ASSERT_EQ(0, vmig_log_report(&self->dev, GRAN, SZ_2M, PG, bm));
	EXPECT_EQ(GRAN_BITS, popcount(bm, GRAN_BITS));
	EXPECT_EQ(CANARY, bm[GRAN_BITS / 64]);
	memset(bm, 0, sizeof(bm));
	ASSERT_EQ(0, vmig_log_report(&self->dev, GRAN, SZ_2M, PG, bm));
	EXPECT_EQ(0, popcount(bm, GRAN_BITS));
	unmap_granule(self, g);
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

	ASSERT_EQ(0, mdvt_dbg_read(self->bdf, "mock/dma_mode", mode,
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
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "dma_rate", 5));
	usleep(800000);
	/* seed 004: a write issued right before the stop is in the report */
	ASSERT_EQ(0, dma(self, IOVA + 60 * PG + 8, 8));
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(STOP), NULL));
	writes = counter(self->bdf, "mock/dma_writes") - w0;

	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
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

/*
 * After a function reset every tracked page is owed once, window by
 * window: a window reports its own pages (no bit outside it), the next
 * window its own, and a page once reported is not reported again.
 */
TEST_F(dirty, reset_owes_each_window_once)
{
	uint64_t ps = PG, bm[2];

	ASSERT_EQ(0, start1(self, IOVA, LEN, &ps));
	ASSERT_EQ(0, vmig_reset(&self->dev));
	bm[0] = 0;
	bm[1] = CANARY;
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, 16 * PG, PG, bm));
	EXPECT_EQ(0xffffULL, bm[0]) TH_LOG("first 16 pages: %#llx",
					   (unsigned long long)bm[0]);
	EXPECT_EQ(CANARY, bm[1]);
	bm[0] = 0;
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA + 8 * PG, 16 * PG, PG, bm));
	EXPECT_EQ(0xff00ULL, bm[0]) TH_LOG("pages 8..23, 8..15 reported: %#llx",
					   (unsigned long long)bm[0]);
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	EXPECT_EQ(NPAGES - 24, popcount(self->bitmap, NPAGES));
	EXPECT_EQ(0, popcount(self->bitmap, 24));
	memset(self->bitmap, 0, sizeof(self->bitmap));
	ASSERT_EQ(0, vmig_log_report(&self->dev, IOVA, LEN, PG, self->bitmap));
	EXPECT_EQ(0, popcount(self->bitmap, NPAGES));
}

/*
 * Exactness at a 2 MiB granule: 4 MiB (two granules) tracked, writes that
 * straddle pages and the granule boundary, background DMA while the user
 * reports in windows that cut through granules, round after round, and a
 * final report after the stop. Every 4 KiB page whose content changed must
 * have been reported by some window; every granule reported must hold a
 * changed page (a write is logged only when it is made, and it lands).
 */
#define EX_IOVA 0x400000UL
#define EX_LEN (2 * SZ_2M)
#define EX_PAGES (EX_LEN / PG)

/* edu writes from its own buffer, never the 0xa5 the test painted */
static int page_changed(const uint8_t *p)
{
	unsigned long b;

	for (b = 0; b < PG; b++)
		if (p[b] != 0xa5)
			return 1;
	return 0;
}

static int report_windows(FIXTURE_DATA(dirty) *self, uint64_t *seen)
{
	/* cut at 1.5, 2.5 and 3 MiB: no window is granule-aligned at both ends */
	static const uint64_t cut[] = { 0, 0x180000, 0x280000, 0x300000, EX_LEN };
	uint64_t bm[EX_PAGES / 64 + 1];
	unsigned long i, w, first;
	int ret;

	for (w = 0; w + 1 < ARRAY_SIZE(cut); w++) {
		memset(bm, 0, sizeof(bm));
		bm[(cut[w + 1] - cut[w]) / PG / 64 + 1] = CANARY;
		ret = vmig_log_report(&self->dev, EX_IOVA + cut[w],
				      cut[w + 1] - cut[w], PG, bm);
		if (ret)
			return ret;
		if (bm[(cut[w + 1] - cut[w]) / PG / 64 + 1] != CANARY)
			return -EOVERFLOW;
		first = cut[w] / PG;
		for (i = 0; i < (cut[w + 1] - cut[w]) / PG; i++)
			if (bit(bm, i))
				seen[(first + i) / 64] |= 1ULL << ((first + i) % 64);
	}
	return 0;
}

TEST_F_TIMEOUT(dirty, exactness_2m_granule_windows_background_dma, 300)
{
	static const struct { uint64_t off, len; } w[] = {
		{ 3 * PG + 4000, 200 },		/* straddles two pages */
		{ SZ_2M - 100, 200 },		/* straddles the two granules */
		{ 17 * PG + 10, 4095 },		/* ends in the next page */
		{ EX_LEN - 4095, 4095 },	/* the last bytes tracked */
	};
	uint64_t seen[EX_PAGES / 64] = { 0 }, ps = SZ_2M, w0, writes;
	int changed = 0, missed = 0, extra = 0, round, g;
	unsigned long i;
	uint8_t *buf;
	char mode[32];

	ASSERT_EQ(0, mdvt_dbg_read(self->bdf, "mock/dma_mode", mode,
				   sizeof(mode)));
	if (strncmp(mode, "edu", 3))
		SKIP(return, "device writes are simulated here (%s)", mode);
	buf = mmap(NULL, EX_LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	memset(buf, 0xa5, EX_LEN);
	ASSERT_EQ(0, vmig_map(&self->dev, buf, EX_LEN, EX_IOVA));
	w0 = counter(self->bdf, "mock/dma_writes");
	ASSERT_EQ(0, start1(self, EX_IOVA, EX_LEN, &ps));
	ASSERT_EQ(SZ_2M, ps);

	for (i = 0; i < ARRAY_SIZE(w); i++)
		ASSERT_EQ(0, dma(self, EX_IOVA + w[i].off, w[i].len));
	ASSERT_EQ(0, mdvt_param_u32(self->bdf, "dma_rate", 8));
	for (round = 0; round < 6; round++) {
		usleep(300000);
		ASSERT_EQ(0, report_windows(self, seen)) TH_LOG("round %d", round);
	}
	ASSERT_EQ(0, vmig_set_state(&self->dev, S(STOP), NULL));
	ASSERT_EQ(0, report_windows(self, seen));
	writes = counter(self->bdf, "mock/dma_writes") - w0;

	for (i = 0; i < EX_PAGES; i++) {
		int ch = page_changed(buf + i * PG);

		changed += ch;
		missed += ch && !bit(seen, i);
	}
	/* a reported granule holds a changed page */
	for (g = 0; g < 2; g++) {
		int any_seen = 0, any_changed = 0;

		for (i = g * GRAN_BITS; i < (g + 1) * GRAN_BITS; i++) {
			any_seen |= bit(seen, i);
			any_changed |= page_changed(buf + i * PG);
		}
		extra += any_seen && !any_changed;
	}
	printf("# dma exactness 2M: writes=%lu changed_pages=%d missed=%d extra_granules=%d\n",
	       (unsigned long)writes, changed, missed, extra);
	EXPECT_LE(ARRAY_SIZE(w) + 1, writes);
	EXPECT_LE(ARRAY_SIZE(w) * 2, changed);
	EXPECT_EQ(0, missed);
	EXPECT_EQ(0, extra);
	vmig_log_stop(&self->dev);
	vmig_unmap(&self->dev, EX_LEN, EX_IOVA);
	munmap(buf, EX_LEN);
}

TEST_HARNESS_MAIN
