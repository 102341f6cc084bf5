// SPDX-License-Identifier: GPL-2.0
/*
 * DMA logging (device dirty page tracking): VFIO_DEVICE_FEATURE_DMA_LOGGING_
 * START / STOP / REPORT through struct vfio_log_ops.
 *
 * The device tracks at most params.log_max_ranges ranges spanning at most
 * params.log_max_span_gb GiB, at the page sizes set in params.log_page_sizes.
 * Tracked pages live in an xarray keyed by IOVA page number, so a REPORT
 * costs what the dirty pages in its window cost, whatever the span. The
 * device model feeds it through mdv_dirty_record() whenever it writes guest
 * memory; a device with a hardware tracker would read that instead.
 *
 * A report window need not be aligned to the tracking granule (vfio.h lets
 * REPORT use a page size other than START's): a granule is reported
 * clipped to the window, and cleared only when it lies wholly inside it, so
 * the part outside is still reported to the neighbouring window.
 *
 * A function reset keeps tracking, but the device lost track of what it
 * wrote: every tracked range is then owed once, as all dirty.
 *
 * The vfio core can only hand a report to a driver through iova_bitmap,
 * which exists with CONFIG_IOMMUFD_DRIVER alone. Kernels without it (Debian's
 * stock 6.12) get no vfio_log_ops at all, so VMMs see no DMA logging rather
 * than one whose every report fails.
 */
#include <linux/interval_tree.h>
#include <linux/iova_bitmap.h>
#include <linux/log2.h>
#include <linux/slab.h>
#include <linux/vfio.h>

#include "mockdev.h"
#include "trace.h"

/**
 * mdv_dirty_init - initialise the DMA logging state
 * @mdv: device
 */
void mdv_dirty_init(struct mdv_device *mdv)
{
	struct mdv_dirty *d = &mdv->dirty;

	mutex_init(&d->lock);
	xa_init(&d->pages);
	d->ranges = RB_ROOT_CACHED;
	d->owed = RB_ROOT_CACHED;
}

/**
 * mdv_dirty_uninit - stop DMA logging and free its state
 * @mdv: device
 */
void mdv_dirty_uninit(struct mdv_device *mdv)
{
	mdv_dirty_stop(mdv);
	mutex_destroy(&mdv->dirty.lock);
}

static void mdv_ranges_free(struct rb_root_cached *root)
{
	struct interval_tree_node *n;

	while ((n = interval_tree_iter_first(root, 0, ULONG_MAX))) {
		interval_tree_remove(n, root);
		kfree(n);
	}
}

static int mdv_range_add(struct rb_root_cached *root, unsigned long start,
			 unsigned long last)
{
	struct interval_tree_node *n;

	n = kzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	if (!n)
		return -ENOMEM;
	n->start = start;
	n->last = last;
	interval_tree_insert(n, root);
	return 0;
}

static void mdv_dirty_free_locked(struct mdv_dirty *d)
{
	mdv_ranges_free(&d->ranges);
	mdv_ranges_free(&d->owed);
	xa_destroy(&d->pages);
	d->active = false;
	d->nranges = 0;
	d->ndirty = 0;
}

/**
 * mdv_dirty_stop - end DMA logging; idempotent
 * @mdv: device
 *
 * Also used on reset and close: tracking never survives either.
 */
void mdv_dirty_stop(struct mdv_device *mdv)
{
	mutex_lock(&mdv->dirty.lock);
	mdv_dirty_free_locked(&mdv->dirty);
	mutex_unlock(&mdv->dirty.lock);
}

/**
 * mdv_dirty_reset - the function was reset while tracking
 * @mdv: device
 *
 * Tracking goes on (the user started it and will stop it), but what the
 * device wrote before the reset is no longer known: every tracked range is
 * reported all dirty once.
 */
void mdv_dirty_reset(struct mdv_device *mdv)
{
	struct mdv_dirty *d = &mdv->dirty;
	struct interval_tree_node *n;

	mutex_lock(&d->lock);
	if (!d->active)
		goto out;
	xa_destroy(&d->pages);
	d->ndirty = 0;
	mdv_ranges_free(&d->owed);
	for (n = interval_tree_iter_first(&d->ranges, 0, ULONG_MAX); n;
	     n = interval_tree_iter_next(n, 0, ULONG_MAX)) {
		if (mdv_range_add(&d->owed, n->start, n->last)) {
			d->overflow = true;	/* every report all dirty */
			break;
		}
	}
out:
	mutex_unlock(&d->lock);
}

/**
 * mdv_dirty_record - the device wrote [iova, iova + len)
 * @mdv: device
 * @iova: first byte written
 * @len: bytes written
 *
 * Pages outside the tracked ranges are not the device's to report.
 */
void mdv_dirty_record(struct mdv_device *mdv, u64 iova, u64 len)
{
	struct mdv_dirty *d = &mdv->dirty;
	unsigned long pg, last;

	if (!len)
		return;
	mutex_lock(&d->lock);
	if (!d->active)
		goto out;
	last = (iova + len - 1) >> d->page_shift;
	for (pg = iova >> d->page_shift; pg <= last; pg++) {
		unsigned long a = pg << d->page_shift;

		if (!interval_tree_iter_first(&d->ranges, a,
					      a + d->page_size - 1))
			continue;
		if (xa_load(&d->pages, pg))
			continue;
		if (xa_err(xa_store(&d->pages, pg, xa_mk_value(1), GFP_KERNEL))) {
			/*
			 * Cannot track: until tracking restarts, report every
			 * window all dirty rather than lose a page.
			 */
			d->overflow = true;
			continue;
		}
		d->ndirty++;
	}
out:
	mutex_unlock(&d->lock);
}

/**
 * mdv_dirty_pick - a page-aligned IOVA inside the tracked ranges
 * @mdv: device
 * @rnd: random number choosing it, uniformly over the tracked span
 * @iova: result
 *
 * The device model writes only where the user said it mapped memory.
 *
 * Return: 0, or -ENOENT when nothing is tracked.
 */
int mdv_dirty_pick(struct mdv_device *mdv, u64 rnd, u64 *iova)
{
	struct mdv_dirty *d = &mdv->dirty;
	struct interval_tree_node *n;
	u64 off, pages;
	int ret = -ENOENT;

	mutex_lock(&d->lock);
	if (!d->active || !d->span)
		goto out;
	off = (rnd % d->span) & PAGE_MASK;
	for (n = interval_tree_iter_first(&d->ranges, 0, ULONG_MAX); n;
	     n = interval_tree_iter_next(n, 0, ULONG_MAX)) {
		pages = (n->last - n->start + 1) & PAGE_MASK;
		if (off < pages) {
			*iova = n->start + off;
			ret = 0;
			break;
		}
		off -= n->last - n->start + 1;
	}
out:
	mutex_unlock(&d->lock);
	return ret;
}

#if IS_ENABLED(CONFIG_IOMMUFD_DRIVER)

/* Is [start, last] covered by tracked ranges? They never overlap. */
static bool mdv_dirty_covered(struct mdv_dirty *d, unsigned long start,
			      unsigned long last)
{
	struct interval_tree_node *n;
	unsigned long pos = start;

	for (n = interval_tree_iter_first(&d->ranges, start, last); n;
	     n = interval_tree_iter_next(n, start, last)) {
		if (n->start > pos)
			return false;
		if (n->last >= last)
			return true;
		pos = n->last + 1;
	}
	return false;
}

/*
 * The largest supported page size not above the request (a coarser one
 * than asked would make the VMM resend more than it wants), else the
 * smallest supported one. Sizes below 4 KiB are not tracker granules.
 */
static u64 mdv_dirty_page_size(struct mdv_device *mdv, u64 want)
{
	u32 mask = READ_ONCE(mdv->params.log_page_sizes) & ~(SZ_4K - 1);
	u64 below = mask & (rounddown_pow_of_two(max_t(u64, want, SZ_4K)) * 2 - 1);

	return below ? BIT_ULL(__fls(below)) : BIT_ULL(__ffs(mask));
}

static int mdv_log_start(struct vfio_device *vdev, struct rb_root_cached *ranges,
			 u32 nnodes, u64 *page_size)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);
	struct mdv_dirty *d = &mdv->dirty;
	struct interval_tree_node *n;
	u32 max = READ_ONCE(mdv->params.log_max_ranges);
	u64 span = 0, max_span;
	int ret = 0;

	/* the core aligns ranges to it with IS_ALIGNED(): a power of two */
	if (!is_power_of_2(*page_size))
		return -EINVAL;
	if (mdv_fault_log_start(&mdv->faults))
		return -EIO;

	mutex_lock(&d->lock);
	if (d->active) {
		ret = -EINVAL;	/* as mlx5 and pds: stop first */
		goto out;
	}
	/* Too many ranges for the device: merge the closest ones. */
	if (nnodes > max) {
		vfio_combine_iova_ranges(ranges, nnodes, max);
		nnodes = max;
	}
	for (n = interval_tree_iter_first(ranges, 0, ULONG_MAX); n;
	     n = interval_tree_iter_next(n, 0, ULONG_MAX)) {
		/*
		 * The core turns a zero-length range into last = start - 1:
		 * inverted, or [0, ULONG_MAX], a length no u64 can give.
		 */
		if (n->last < n->start || (!n->start && n->last == ULONG_MAX)) {
			ret = -EINVAL;
			goto out;
		}
		span += n->last - n->start + 1;
	}
	max_span = (u64)READ_ONCE(mdv->params.log_max_span_gb) << 30;
	if (span > max_span) {
		dev_dbg(mdv_dev(mdv), "tracked span %llu > limit %llu\n",
			span, max_span);
		ret = -E2BIG;
		goto out;
	}

	for (n = interval_tree_iter_first(ranges, 0, ULONG_MAX); n;
	     n = interval_tree_iter_next(n, 0, ULONG_MAX)) {
		if (mdv_range_add(&d->ranges, n->start, n->last)) {
			mdv_dirty_free_locked(d);
			ret = -ENOMEM;
			goto out;
		}
	}
	*page_size = mdv_dirty_page_size(mdv, *page_size);
	d->page_size = *page_size;
	d->page_shift = __ffs64(*page_size);
	d->nranges = nnodes;
	d->span = span;
	d->overflow = false;
	d->active = true;
out:
	mutex_unlock(&d->lock);
	return ret;
}

static int mdv_log_stop(struct vfio_device *vdev)
{
	mdv_dirty_stop(mdv_from_vdev(vdev));
	return 0;
}

#define MDV_REPORT_BATCH	16

/*
 * Take up to @max pieces of what is owed inside [start, last] out of the
 * owed tree, clipped to it: the owed range shrinks or splits. A split that
 * cannot allocate leaves the whole range owed (reported again by a later
 * report) and sets *@stuck: taking again now would find it again.
 */
static unsigned int mdv_owed_take(struct mdv_dirty *d, unsigned long start,
				  unsigned long last, unsigned long (*out)[2],
				  unsigned int max, bool *stuck)
{
	struct interval_tree_node *n;
	unsigned int k = 0;

	*stuck = false;
	while (k < max && (n = interval_tree_iter_first(&d->owed, start, last))) {
		unsigned long a = max(n->start, start), b = min(n->last, last);

		out[k][0] = a;
		out[k][1] = b;
		k++;
		interval_tree_remove(n, &d->owed);
		if (n->start < a && n->last > b) {
			if (mdv_range_add(&d->owed, b + 1, n->last)) {
				interval_tree_insert(n, &d->owed);
				*stuck = true;
				break;
			}
			n->last = a - 1;
		} else if (n->start < a) {
			n->last = a - 1;
		} else if (n->last > b) {
			n->start = b + 1;
		} else {
			kfree(n);
			continue;
		}
		interval_tree_insert(n, &d->owed);
	}
	return k;
}

/*
 * Report [iova, last]: dirty granules clipped to the window, cleared when
 * wholly inside it. iova_bitmap_set() may pin the user's bitmap pages, so
 * it runs without d->lock, a batch at a time; a granule is cleared before
 * its bits are set, and a write after the clear is tracked again.
 */
static void mdv_report_set(struct iova_bitmap *dirty, unsigned long (*set)[2],
			   unsigned int k)
{
	unsigned int i;

	for (i = 0; i < k; i++)
		iova_bitmap_set(dirty, set[i][0], set[i][1] - set[i][0] + 1);
}

/*
 * Report [iova, iova + length): dirty granules clipped to the window,
 * cleared when wholly inside it. iova_bitmap_set() may pin the user's
 * bitmap pages, so it runs without d->lock, a batch at a time; a granule is
 * cleared before its bits are set, and a write after the clear is tracked
 * again. A STOP meanwhile ends the report.
 */
static int mdv_log_report(struct vfio_device *vdev, unsigned long iova,
			  unsigned long length, struct iova_bitmap *dirty)
{
	struct mdv_device *mdv = mdv_from_vdev(vdev);
	struct mdv_dirty *d = &mdv->dirty;
	unsigned long set[MDV_REPORT_BATCH][2];
	unsigned long pg, last, pos;
	unsigned int k, shift;
	u64 reported = 0;
	bool stuck;
	void *entry;
	int ret = 0;

	if (!length)
		return -EINVAL;
	last = iova + length - 1;
	mutex_lock(&d->lock);
	if (!d->active) {
		ret = -EINVAL;
		goto unlock;
	}
	if (mdv_fault_log_report(&mdv->faults)) {
		ret = -EIO;	/* nothing was cleared: a retry reports it all */
		goto unlock;
	}
	/* The core does not check the window against what was started. */
	if (!mdv_dirty_covered(d, iova, last)) {
		ret = -EINVAL;
		goto unlock;
	}
	if (d->overflow) {
		/* lost track of something: everything is dirty */
		mutex_unlock(&d->lock);
		iova_bitmap_set(dirty, iova, length);
		goto done;
	}
	shift = d->page_shift;
	/* owed after a reset: all dirty, once */
	do {
		k = mdv_owed_take(d, iova, last, set, MDV_REPORT_BATCH, &stuck);
		if (!k)
			break;
		mutex_unlock(&d->lock);
		mdv_report_set(dirty, set, k);
		mutex_lock(&d->lock);
		if (!d->active || d->page_shift != shift)
			goto unlock;
	} while (!stuck);
	if (stuck) {
		/* could not tell what is owed here: all of it, this time */
		mutex_unlock(&d->lock);
		iova_bitmap_set(dirty, iova, length);
		mutex_lock(&d->lock);
		if (!d->active || d->page_shift != shift)
			goto unlock;
	}
	pos = iova >> shift;
	for (;;) {
		k = 0;
		xa_for_each_range(&d->pages, pg, entry, pos, last >> shift) {
			unsigned long a = pg << shift;
			unsigned long b = a + (1UL << shift) - 1;

			set[k][0] = max(a, iova);
			set[k][1] = min(b, last);
			if (a >= iova && b <= last) {
				xa_erase(&d->pages, pg);
				d->ndirty--;
			}
			pos = pg + 1;
			if (++k == MDV_REPORT_BATCH)
				break;
		}
		mutex_unlock(&d->lock);
		mdv_report_set(dirty, set, k);
		reported += k;
		if (k < MDV_REPORT_BATCH)
			goto done;
		mutex_lock(&d->lock);
		if (!d->active || d->page_shift != shift)
			goto unlock;
	}
unlock:
	mutex_unlock(&d->lock);
done:
	atomic64_inc(&mdv->stats.reports);
	trace_mdv_dma_report(mdv_name(mdv), iova, length, reported, ret);
	return ret;
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
