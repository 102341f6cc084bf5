// SPDX-License-Identifier: GPL-2.0
/*
 * The mock's DMA logging tracker, behind backend.h's log_* ops.
 *
 * The device tracks at most params.log_max_ranges ranges spanning at most
 * params.log_max_span_gb GiB, at the page sizes set in params.log_page_sizes.
 * Tracked pages live in an xarray keyed by IOVA page number, so a REPORT
 * costs what the dirty pages in its window cost, whatever the span. The DMA
 * engine (mock_dma.c) feeds it through mock_track_write() whenever the
 * device writes guest memory; a device with a hardware tracker would read
 * that instead.
 *
 * A report window need not be aligned to the tracking granule (vfio.h lets
 * REPORT use a page size other than START's): a granule is reported
 * clipped to the window, and cleared only when it lies wholly inside it, so
 * the part outside is still reported to the neighbouring window.
 *
 * A function reset keeps tracking, but the device lost track of what it
 * wrote: every tracked range is then owed once, as all dirty.
 */
#include <linux/interval_tree.h>
#include <linux/slab.h>

#include "mock.h"

/* where a report's walk is (mdv_log_window.priv[0]) */
enum mock_report_phase {
	REPORT_FIRST,	/* not started: check the window */
	REPORT_OWED,	/* what a reset left owed */
	REPORT_STUCK,	/* could not tell what is owed: the whole window */
	REPORT_PAGES,	/* the dirty pages (priv[2]: next page number) */
	REPORT_DONE,
};

/**
 * mock_track_init - initialise the tracker
 * @t: tracker
 */
void mock_track_init(struct mock_tracker *t)
{
	mutex_init(&t->lock);
	xa_init(&t->pages);
	t->ranges = RB_ROOT_CACHED;
	t->owed = RB_ROOT_CACHED;
}

static void mock_ranges_free(struct rb_root_cached *root)
{
	struct interval_tree_node *n;

	while ((n = interval_tree_iter_first(root, 0, ULONG_MAX))) {
		interval_tree_remove(n, root);
		kfree(n);
	}
}

static int mock_range_add(struct rb_root_cached *root, unsigned long start,
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

static void mock_track_free_locked(struct mock_tracker *t)
{
	mock_ranges_free(&t->ranges);
	mock_ranges_free(&t->owed);
	xa_destroy(&t->pages);
	t->active = false;
	t->nranges = 0;
	t->ndirty = 0;
}

static void mock_track_stop(struct mock_tracker *t)
{
	mutex_lock(&t->lock); /* writes and reports wait */
	mock_track_free_locked(t);
	mutex_unlock(&t->lock);
}

/**
 * mock_track_uninit - stop tracking and free the tracker's state
 * @t: tracker
 */
void mock_track_uninit(struct mock_tracker *t)
{
	mock_track_stop(t);
	mutex_destroy(&t->lock);
}

/**
 * mock_track_write - the device wrote [iova, iova + len)
 * @t: tracker
 * @iova: first byte written
 * @len: bytes written
 *
 * Pages outside the tracked ranges are not the device's to report.
 */
void mock_track_write(struct mock_tracker *t, u64 iova, u64 len)
{
	unsigned long pg, last;

	if (!len)
		return;
	mutex_lock(&t->lock);
	if (!t->active)
		goto out;
	last = (iova + len - 1) >> t->page_shift;
	for (pg = iova >> t->page_shift; pg <= last; pg++) {
		unsigned long a = pg << t->page_shift;

		if (!interval_tree_iter_first(&t->ranges, a,
					      a + t->page_size - 1))
			continue;
		if (xa_load(&t->pages, pg))
			continue;
		if (xa_err(xa_store(&t->pages, pg, xa_mk_value(1), GFP_KERNEL))) {
			/*
			 * Cannot track: until tracking restarts, report every
			 * window all dirty rather than lose a page.
			 */
			t->overflow = true;
			continue;
		}
		t->ndirty++;
	}
out:
	mutex_unlock(&t->lock);
}

/**
 * mock_track_pick - a page-aligned IOVA inside the tracked ranges
 * @t: tracker
 * @rnd: random number choosing it, uniformly over the tracked span
 * @iova: result
 *
 * The device writes only where the user said it mapped memory.
 *
 * Return: 0, or -ENOENT when nothing is tracked.
 */
int mock_track_pick(struct mock_tracker *t, u64 rnd, u64 *iova)
{
	struct interval_tree_node *n;
	u64 off, pages;
	int ret = -ENOENT;

	mutex_lock(&t->lock);
	if (!t->active || !t->span)
		goto out;
	off = (rnd % t->span) & PAGE_MASK;
	for (n = interval_tree_iter_first(&t->ranges, 0, ULONG_MAX); n;
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
	mutex_unlock(&t->lock);
	return ret;
}

/* ----- backend ops ----- */

void mock_log_caps(struct mdv_device *mdv, struct mdv_log_caps *caps)
{
	struct mock_params *p = &to_mock(mdv)->params;

	caps->max_ranges = READ_ONCE(p->log_max_ranges);
	caps->max_span = (u64)READ_ONCE(p->log_max_span_gb) << 30;
	caps->page_sizes = READ_ONCE(p->log_page_sizes);
}

int mock_log_start(struct mdv_device *mdv, struct rb_root_cached *ranges,
		   u32 nranges, u64 span, u64 page_size)
{
	struct mock_tracker *t = &to_mock(mdv)->trk;
	struct interval_tree_node *n;
	int ret = 0;

	mutex_lock(&t->lock);
	if (t->active) {
		ret = -EINVAL;	/* as mlx5 and pds: stop first */
		goto out;
	}
	for (n = interval_tree_iter_first(ranges, 0, ULONG_MAX); n;
	     n = interval_tree_iter_next(n, 0, ULONG_MAX)) {
		if (mock_range_add(&t->ranges, n->start, n->last)) {
			mock_ranges_free(&t->ranges);
			ret = -ENOMEM;
			goto out;
		}
	}
	t->page_size = page_size;
	t->page_shift = __ffs64(page_size);
	t->nranges = nranges;
	t->span = span;
	t->overflow = false;
	t->gen++;
	t->active = true;
out:
	mutex_unlock(&t->lock);
	return ret;
}

void mock_log_stop(struct mdv_device *mdv)
{
	mock_track_stop(&to_mock(mdv)->trk);
}

void mock_log_reset(struct mdv_device *mdv)
{
	struct mock_tracker *t = &to_mock(mdv)->trk;
	struct interval_tree_node *n;

	mutex_lock(&t->lock);
	if (!t->active)
		goto out;
	xa_destroy(&t->pages);
	t->ndirty = 0;
	mock_ranges_free(&t->owed);
	for (n = interval_tree_iter_first(&t->ranges, 0, ULONG_MAX); n;
	     n = interval_tree_iter_next(n, 0, ULONG_MAX)) {
		if (mock_range_add(&t->owed, n->start, n->last)) {
			t->overflow = true;	/* every report all dirty */
			break;
		}
	}
out:
	mutex_unlock(&t->lock);
}

/* Is [start, last] covered by tracked ranges? They never overlap. */
static bool mock_track_covered(struct mock_tracker *t, unsigned long start,
			       unsigned long last)
{
	struct interval_tree_node *n;
	unsigned long pos = start;

	for (n = interval_tree_iter_first(&t->ranges, start, last); n;
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
 * Take up to @max pieces of what is owed inside [start, last] out of the
 * owed tree, clipped to it: the owed range shrinks or splits. A split that
 * cannot allocate leaves the whole range owed (reported again by a later
 * report) and sets *@stuck: taking again now would find it again.
 */
static unsigned int mock_owed_take(struct mock_tracker *t, unsigned long start,
				   unsigned long last, struct mdv_log_extent *out,
				   unsigned int max, bool *stuck)
{
	struct interval_tree_node *n;
	unsigned int k = 0;

	*stuck = false;
	while (k < max && (n = interval_tree_iter_first(&t->owed, start, last))) {
		unsigned long a = max(n->start, start), b = min(n->last, last);

		out[k].first = a;
		out[k].last = b;
		k++;
		interval_tree_remove(n, &t->owed);
		if (n->start < a && n->last > b) {
			if (mock_range_add(&t->owed, b + 1, n->last)) {
				interval_tree_insert(n, &t->owed);
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
		interval_tree_insert(n, &t->owed);
	}
	return k;
}

/* A batch of dirty granules from page number *@pos on, cleared if inside */
static unsigned int mock_pages_take(struct mock_tracker *t,
				    struct mdv_log_window *w,
				    struct mdv_log_extent *set, unsigned int max)
{
	unsigned int shift = t->page_shift, k = 0;
	unsigned long pg;
	void *entry;

	xa_for_each_range(&t->pages, pg, entry, w->priv[2], w->last >> shift) {
		unsigned long a = pg << shift;
		unsigned long b = a + (1UL << shift) - 1;

		set[k].first = max(a, w->iova);
		set[k].last = min(b, w->last);
		if (a >= w->iova && b <= w->last) {
			xa_erase(&t->pages, pg);
			t->ndirty--;
		}
		w->priv[2] = pg + 1;
		if (++k == max)
			break;
	}
	w->reported += k;
	return k;
}

/*
 * One batch of the report of @w: first what a reset left owed, then the
 * dirty pages. A STOP (or STOP and START) between batches ends it.
 */
int mock_log_report(struct mdv_device *mdv, struct mdv_log_window *w,
		    struct mdv_log_extent *set, unsigned int max)
{
	struct mock_dev *m = to_mock(mdv);
	struct mock_tracker *t = &m->trk;
	unsigned int k = 0;
	bool stuck;
	int ret = 0;

	mutex_lock(&t->lock);
	if (w->priv[0] == REPORT_FIRST) {
		if (!t->active) {
			ret = -EINVAL;
			goto out;
		}
		if (mdv_fault_log_report(&mdv->faults)) {
			ret = -EIO;	/* nothing was cleared: a retry reports it all */
			goto out;
		}
		/* The core does not check the window against what was started. */
		if (!mock_track_covered(t, w->iova, w->last)) {
			ret = -EINVAL;
			goto out;
		}
		w->priv[1] = t->gen;
		w->priv[2] = w->iova >> t->page_shift;
		if (t->overflow) {
			/* lost track of something: everything is dirty */
			set[0].first = w->iova;
			set[0].last = w->last;
			w->priv[0] = REPORT_DONE;
			ret = 1;
			goto out;
		}
		w->priv[0] = REPORT_OWED;
	} else if (!t->active || t->gen != w->priv[1]) {
		goto out;	/* stopped meanwhile: the report ends */
	}

	switch (w->priv[0]) {
	case REPORT_OWED:
		/* owed after a reset: all dirty, once */
		k = mock_owed_take(t, w->iova, w->last, set, max, &stuck);
		if (k) {
			if (stuck)
				w->priv[0] = REPORT_STUCK;
			break;
		}
		w->priv[0] = REPORT_PAGES;
		fallthrough;
	case REPORT_PAGES:
		k = mock_pages_take(t, w, set, max);
		if (k < max)
			w->priv[0] = REPORT_DONE;
		break;
	case REPORT_STUCK:
		/* could not tell what is owed here: all of it, this time */
		set[0].first = w->iova;
		set[0].last = w->last;
		w->priv[0] = REPORT_PAGES;
		k = 1;
		break;
	}
	ret = k;
out:
	mutex_unlock(&t->lock);
	return ret;
}
