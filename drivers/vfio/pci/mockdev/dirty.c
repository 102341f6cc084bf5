// SPDX-License-Identifier: GPL-2.0
/*
 * DMA logging (device dirty page tracking), the uAPI half:
 * VFIO_DEVICE_FEATURE_DMA_LOGGING_START / STOP / REPORT through struct
 * vfio_log_ops. The tracker itself is the device's (backend.h's log_* ops),
 * as mlx5 keeps its tracker in cmd.c and main.c fills vfio_log_ops.
 *
 * START: the core has checked the ranges for alignment, overflow and
 * overlap; this file rejects what it cannot (zero length, a page size that
 * is not a power of two), merges the closest ranges when the device holds
 * fewer, checks the total span, and picks the granule among the device's.
 *
 * REPORT: the device hands out dirty extents a batch at a time under its
 * own lock; iova_bitmap_set() may pin the user's bitmap pages, so it runs
 * here, with no device lock held. A write after the device cleared a
 * granule is tracked again; a STOP meanwhile ends the report.
 *
 * The vfio core can only hand a report to a driver through iova_bitmap,
 * which exists with CONFIG_IOMMUFD_DRIVER alone. Kernels without it (Debian's
 * stock 6.12) get no vfio_log_ops at all, so VMMs see no DMA logging rather
 * than one whose every report fails.
 */
#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/log2.h>
#include <linux/module.h>
#include <linux/vfio.h>

#include "mockdev.h"
#include "dirty.h"
#include "trace.h"

/* read when a device is bound: the vfio core takes log_ops at registration */
static bool mdv_dma_logging = true;
module_param_named(dma_logging, mdv_dma_logging, bool, 0444);
MODULE_PARM_DESC(dma_logging, "Offer DMA logging (device dirty tracking) where the kernel can deliver reports (Y)");

static bool mdv_has_logging(struct mdv_device *mdv)
{
	return mdv->ops->log_caps && mdv->core.vdev.log_ops;
}

/**
 * mdv_dirty_stop - end DMA logging; idempotent
 * @mdv: device
 *
 * Also used on open and close: tracking never survives either.
 */
void mdv_dirty_stop(struct mdv_device *mdv)
{
	if (mdv_has_logging(mdv))
		mdv->ops->log_stop(mdv);
}

/**
 * mdv_dirty_reset - the function was reset while tracking
 * @mdv: device
 *
 * Tracking goes on (the user started it and will stop it), but what the
 * device wrote before the reset is no longer known: the device reports
 * every tracked range all dirty once.
 */
void mdv_dirty_reset(struct mdv_device *mdv)
{
	if (mdv_has_logging(mdv))
		mdv->ops->log_reset(mdv);
}

#if IS_ENABLED(CONFIG_IOMMUFD_DRIVER)

/*
 * The largest supported page size not above the request (a coarser one
 * than asked would make the VMM resend more than it wants), else the
 * smallest supported one. Sizes below 4 KiB are not tracker granules.
 */
static u64 mdv_dirty_page_size(u64 sizes, u64 want)
{
	u64 mask = sizes & ~(u64)(SZ_4K - 1);
	u64 below = mask & (rounddown_pow_of_two(max_t(u64, want, SZ_4K)) * 2 - 1);

	return below ? BIT_ULL(__fls(below)) : BIT_ULL(__ffs(mask));
}

static int mdv_log_start(struct vfio_device *vdev, struct rb_root_cached *ranges,
			 u32 nnodes, u64 *page_size)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);
	struct interval_tree_node *n;
	struct mdv_log_caps caps = {};
	u64 span = 0, pgsz;
	int ret;

	/* the core aligns ranges to it with IS_ALIGNED(): a power of two */
	if (!is_power_of_2(*page_size))
		return -EINVAL;
	if (mdv_fault_log_start(&mdv->faults))
		return -EIO;

	mdv->ops->log_caps(mdv, &caps);
	if (!caps.max_ranges || !(caps.page_sizes & ~(u64)(SZ_4K - 1)))
		return -EINVAL;
	/* Too many ranges for the device: merge the closest ones. */
	if (nnodes > caps.max_ranges) {
		vfio_combine_iova_ranges(ranges, nnodes, caps.max_ranges);
		nnodes = caps.max_ranges;
	}
	for (n = interval_tree_iter_first(ranges, 0, ULONG_MAX); n;
	     n = interval_tree_iter_next(n, 0, ULONG_MAX)) {
		/*
		 * The core turns a zero-length range into last = start - 1:
		 * inverted, or [0, ULONG_MAX], a length no u64 can give.
		 */
		if (n->last < n->start || (!n->start && n->last == ULONG_MAX))
			return -EINVAL;
		span += n->last - n->start + 1;
	}
	if (span > caps.max_span) {
		dev_dbg(mdv_dev(mdv), "tracked span %llu > limit %llu\n",
			span, caps.max_span);
		return -E2BIG;
	}
	pgsz = mdv_dirty_page_size(caps.page_sizes, *page_size);
	ret = mdv->ops->log_start(mdv, ranges, nnodes, span, pgsz);
	if (!ret)
		*page_size = pgsz;
	return ret;
}

static int mdv_log_stop(struct vfio_device *vdev)
{
	mdv_dirty_stop(mdv_from_vdev(vdev));
	return 0;
}

#define MDV_REPORT_BATCH	16

/*
 * Report [iova, iova + length): the device fills a batch of dirty extents,
 * clipped to the window, under its own lock; their bits are set here
 * without it.
 */
static int mdv_log_report(struct vfio_device *vdev, unsigned long iova,
			  unsigned long length, struct iova_bitmap *dirty)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);
	struct mdv_log_extent set[MDV_REPORT_BATCH];
	struct mdv_log_window w = {};
	unsigned int i;
	int k;

	if (!length)
		return -EINVAL;
	w.iova = iova;
	w.last = iova + length - 1;
	while ((k = mdv->ops->log_report(mdv, &w, set, MDV_REPORT_BATCH)) > 0) {
		for (i = 0; i < k; i++)
			iova_bitmap_set(dirty, set[i].first,
					set[i].last - set[i].first + 1);
	}
	atomic64_inc(&mdv->stats.reports);
	trace_mdv_dma_report(mdv_name(mdv), iova, length, w.reported, k);
	return k;
}

static const struct vfio_log_ops mdv_log_ops = {
	.log_start = mdv_log_start,
	.log_stop = mdv_log_stop,
	.log_read_and_clear = mdv_log_report,
};

/**
 * mdv_dirty_register - offer DMA logging where the kernel can deliver it
 * @mdv: device
 */
void mdv_dirty_register(struct mdv_device *mdv)
{
	/* a device without dirty tracking, as many are: VMMs must cope */
	if (!mdv->ops->log_caps)
		return;
	if (!mdv_dma_logging) {
		dev_info(mdv_dev(mdv), "DMA logging not offered (dma_logging=0)\n");
		return;
	}
	mdv->core.vdev.log_ops = &mdv_log_ops;
}

MODULE_IMPORT_NS(IOMMUFD);

#else

/**
 * mdv_dirty_register - offer DMA logging where the kernel can deliver it
 * @mdv: device
 */
void mdv_dirty_register(struct mdv_device *mdv)
{
	dev_info_once(mdv_dev(mdv),
		      "no DMA logging: kernel built without CONFIG_IOMMUFD_DRIVER, the vfio core could not deliver reports\n");
}

#endif
